//! File I/O straight into and out of mapped regions (`preadv`/`pwritev`),
//! so a block back-end moves data between its file and guest memory with
//! one copy, done by the kernel, and no bounce buffer.
//!
//! Every slice is bounds-checked against its region before any pointer is
//! made; the kernel copies to or from the peer's shared memory, which the
//! peer may be touching at the same time. That is as sound as the copies in
//! `shm.rs`: no Rust reference into the memory is ever created.

use crate::MmapRegion;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// `len` bytes at `offset` inside `region`.
#[derive(Debug, Clone, Copy)]
pub struct RegionSlice<'a> {
    pub region: &'a MmapRegion,
    pub offset: u64,
    pub len: usize,
}

/// Iovecs passed per system call (well under every OS's `IOV_MAX`; small,
/// as the array is initialised on every call).
const BATCH: usize = 16;

#[derive(Clone, Copy)]
enum Dir {
    Read,
    Write,
}

/// Reads into `slices` (in order) from `fd` at `file_offset` until all are
/// filled, and returns the bytes read (their total length); an end of file
/// first is `UnexpectedEof`. A slice outside its
/// region fails with `InvalidInput` before any I/O touches it.
pub fn read_file_into<'a>(
    fd: BorrowedFd<'_>,
    file_offset: u64,
    slices: impl IntoIterator<Item = RegionSlice<'a>>,
) -> io::Result<usize> {
    transfer(fd, file_offset, slices, Dir::Read)
}

/// Writes `slices` (in order) to `fd` at `file_offset`, all of them, and
/// returns the bytes written.
pub fn write_file_from<'a>(
    fd: BorrowedFd<'_>,
    file_offset: u64,
    slices: impl IntoIterator<Item = RegionSlice<'a>>,
) -> io::Result<usize> {
    transfer(fd, file_offset, slices, Dir::Write)
}

fn transfer<'a>(
    fd: BorrowedFd<'_>,
    mut file_offset: u64,
    slices: impl IntoIterator<Item = RegionSlice<'a>>,
    dir: Dir,
) -> io::Result<usize> {
    let mut slices = slices.into_iter();
    let mut total = 0;
    let empty = libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    };
    loop {
        // Up to BATCH checked, non-empty slices.
        let mut iov = [empty; BATCH];
        let mut n = 0;
        for s in slices.by_ref() {
            let p = s.region.ptr(s.offset, s.len).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "slice outside its region")
            })?;
            if s.len > 0 {
                iov[n] = libc::iovec {
                    iov_base: p.cast(),
                    iov_len: s.len,
                };
                n += 1;
                if n == BATCH {
                    break;
                }
            }
        }
        if n == 0 {
            return Ok(total);
        }
        let mut first = 0;
        while first < n {
            let off = libc::off_t::try_from(file_offset)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let (p, cnt) = (iov[first..].as_ptr(), (n - first) as libc::c_int);
            let one = iov[first];
            // SAFETY: `iov[first..n]` describe live, bounds-checked ranges of
            // mapped regions that outlive the call; `cnt <= BATCH`. A single
            // range goes through pread/pwrite, which skip importing an iovec.
            let r = unsafe {
                match (dir, cnt) {
                    (Dir::Read, 1) => libc::pread(fd.as_raw_fd(), one.iov_base, one.iov_len, off),
                    (Dir::Write, 1) => libc::pwrite(fd.as_raw_fd(), one.iov_base, one.iov_len, off),
                    (Dir::Read, _) => libc::preadv(fd.as_raw_fd(), p, cnt, off),
                    (Dir::Write, _) => libc::pwritev(fd.as_raw_fd(), p, cnt, off),
                }
            };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let mut moved = r as usize;
            if moved == 0 {
                return Err(io::Error::from(match dir {
                    Dir::Read => io::ErrorKind::UnexpectedEof,
                    Dir::Write => io::ErrorKind::WriteZero,
                }));
            }
            file_offset += moved as u64;
            total += moved;
            // Skip what was transferred; a short transfer resumes inside
            // an iovec.
            while moved > 0 {
                let v = &mut iov[first];
                if moved >= v.iov_len {
                    moved -= v.iov_len;
                    first += 1;
                } else {
                    // SAFETY: `moved < iov_len`: still inside the range.
                    v.iov_base = unsafe { v.iov_base.cast::<u8>().add(moved) }.cast();
                    v.iov_len -= moved;
                    moved = 0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SharedMemory;
    use std::io::Write;
    use std::os::fd::AsFd;

    #[test]
    fn reads_and_writes_across_slices_and_regions() {
        let a = SharedMemory::new(4096).unwrap();
        let b = SharedMemory::new(4096).unwrap();
        let mut file = tempfile();
        let data: Vec<u8> = (0..=255u8).cycle().take(300).collect();
        file.write_all(&data).unwrap();
        let slices = [
            RegionSlice {
                region: a.region(),
                offset: 4000,
                len: 96,
            },
            RegionSlice {
                region: b.region(),
                offset: 0,
                len: 0,
            },
            RegionSlice {
                region: b.region(),
                offset: 10,
                len: 100,
            },
        ];
        assert_eq!(read_file_into(file.as_fd(), 50, slices).unwrap(), 196);
        let mut got = vec![0u8; 96];
        a.region().read(4000, &mut got).unwrap();
        assert_eq!(got, data[50..146]);
        let mut got = vec![0u8; 100];
        b.region().read(10, &mut got).unwrap();
        assert_eq!(got, data[146..246]);

        // Outside a region: refused before any I/O.
        let bad = [RegionSlice {
            region: a.region(),
            offset: 4000,
            len: 97,
        }];
        let err = read_file_into(file.as_fd(), 0, bad).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);

        write_file_from(file.as_fd(), 1000, slices).unwrap();
        let mut back = vec![0u8; 196];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut back, 1000).unwrap();
        assert_eq!(back, data[50..246]);

        // Past the end of the file: a short read, then end of file.
        let err = read_file_into(file.as_fd(), 1100, slices).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn many_slices_take_several_calls() {
        let shm = SharedMemory::new(8192).unwrap();
        let mut file = tempfile();
        let data: Vec<u8> = (0..200u32).map(|i| (i * 7) as u8).collect();
        file.write_all(&data).unwrap();
        // 200 one-byte slices, in reverse order in memory: > BATCH iovecs.
        let slices: Vec<RegionSlice<'_>> = (0..200u64)
            .map(|i| RegionSlice {
                region: shm.region(),
                offset: 1000 - i,
                len: 1,
            })
            .collect();
        read_file_into(file.as_fd(), 0, slices).unwrap();
        for (i, want) in data.iter().enumerate() {
            let mut b = [0u8];
            shm.region().read(1000 - i as u64, &mut b).unwrap();
            assert_eq!(b[0], *want, "byte {i}");
        }
    }

    /// An unlinked temporary file.
    fn tempfile() -> std::fs::File {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "vu-sys-region-io-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        f
    }
}
