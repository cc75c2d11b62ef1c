//! Shared memory: creating it (front-end) and mapping received fds
//! (back-end), with bounds-checked copies in and out.
//!
//! The other process may write the memory at any time, so no Rust reference
//! into it is ever handed out, and every access is volatile (`volatile`
//! below): data is copied in aligned units of up to 8 bytes, each byte
//! exactly once, and ring indexes are read and written as single aligned
//! accesses. So a value that was read, checked and kept is the value used:
//! the compiler may not read guest memory again behind the check.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;

use crate::guard::FaultGuard;

fn page_size() -> usize {
    // SAFETY: sysconf with a valid name has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// A size or offset that does not fit the type the OS call takes.
#[derive(Debug)]
struct OutOfRange {
    what: &'static str,
    source: std::num::TryFromIntError,
}

impl std::fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} out of range", self.what)
    }
}

impl std::error::Error for OutOfRange {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn out_of_range(what: &'static str) -> impl FnOnce(std::num::TryFromIntError) -> io::Error {
    move |source| io::Error::new(io::ErrorKind::InvalidInput, OutOfRange { what, source })
}

fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    // SAFETY: an all-zero stat is a valid out-buffer; fstat only writes it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on a borrowed, open fd with a valid out pointer.
    crate::cvt(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok(st)
}

/// Fails unless `fd` is a regular file: memfds and POSIX shared memory
/// objects are, on every supported OS. Devices that can be mapped, such as
/// `/dev/zero` (private zeroes, not shared memory) or a DAX device, are
/// refused, and so are pipes and sockets.
fn check_regular(fd: BorrowedFd<'_>) -> io::Result<()> {
    if fstat(fd)?.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(invalid(
            "region fd is not a regular file or shared memory object",
        ));
    }
    Ok(())
}

/// Fails unless a regular file `fd` has at least `offset + len` bytes.
fn check_file_covers(fd: BorrowedFd<'_>, offset: u64, len: u64) -> io::Result<()> {
    let st = fstat(fd)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Ok(());
    }
    let size = u64::try_from(st.st_size).unwrap_or(0);
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(invalid("region extends past the end of its file")),
    }
}

/// Copies between guest memory and local memory with volatile accesses, as
/// rust-vmm's vm-memory does at the same boundary: every byte of guest
/// memory is read or written exactly once, in naturally aligned units of up
/// to 8 bytes, so the compiler can neither re-read a value the caller has
/// already checked (the peer may have changed it in between) nor merge,
/// widen or elide the accesses. The local side is plain memory.
mod volatile {
    /// Bytes from `p` to the next 8-byte boundary.
    fn to_boundary(p: usize) -> usize {
        (8 - p % 8) % 8
    }

    /// Copies `len` bytes of guest memory at `src` to `dst`.
    ///
    /// # Safety
    ///
    /// `src..src + len` lies inside a live mapping and `dst..dst + len` is
    /// valid for writes; the ranges do not overlap.
    pub(super) unsafe fn read(src: *const u8, dst: *mut u8, len: usize) {
        let head = to_boundary(src as usize).min(len);
        let words = (len - head) / 8;
        let mut i = 0;
        while i < head {
            // SAFETY: `i < len`: inside both ranges (the caller's promise).
            unsafe { dst.add(i).write(src.add(i).read_volatile()) };
            i += 1;
        }
        for _ in 0..words {
            // SAFETY: `i + 8 <= len`, and `src + i` is 8-byte aligned after
            // the head; the local side may be unaligned.
            unsafe {
                let v = src.add(i).cast::<u64>().read_volatile();
                dst.add(i).cast::<u64>().write_unaligned(v);
            }
            i += 8;
        }
        while i < len {
            // SAFETY: `i < len`.
            unsafe { dst.add(i).write(src.add(i).read_volatile()) };
            i += 1;
        }
    }

    /// Copies `len` bytes from `src` to guest memory at `dst`.
    ///
    /// # Safety
    ///
    /// `dst..dst + len` lies inside a live mapping and `src..src + len` is
    /// valid for reads; the ranges do not overlap.
    pub(super) unsafe fn write(src: *const u8, dst: *mut u8, len: usize) {
        let head = to_boundary(dst as usize).min(len);
        let words = (len - head) / 8;
        let mut i = 0;
        while i < head {
            // SAFETY: `i < len`: inside both ranges (the caller's promise).
            unsafe { dst.add(i).write_volatile(src.add(i).read()) };
            i += 1;
        }
        for _ in 0..words {
            // SAFETY: `i + 8 <= len`, and `dst + i` is 8-byte aligned after
            // the head; the local side may be unaligned.
            unsafe {
                let v = src.add(i).cast::<u64>().read_unaligned();
                dst.add(i).cast::<u64>().write_volatile(v);
            }
            i += 8;
        }
        while i < len {
            // SAFETY: `i < len`.
            unsafe { dst.add(i).write_volatile(src.add(i).read()) };
            i += 1;
        }
    }

    /// Sets `len` bytes of guest memory at `dst` to `byte`.
    ///
    /// # Safety
    ///
    /// `dst..dst + len` lies inside a live mapping.
    pub(super) unsafe fn fill(dst: *mut u8, len: usize, byte: u8) {
        let head = to_boundary(dst as usize).min(len);
        let words = (len - head) / 8;
        let word = u64::from_ne_bytes([byte; 8]);
        let mut i = 0;
        while i < head {
            // SAFETY: `i < len`: inside the range (the caller's promise).
            unsafe { dst.add(i).write_volatile(byte) };
            i += 1;
        }
        for _ in 0..words {
            // SAFETY: `i + 8 <= len`, `dst + i` 8-byte aligned.
            unsafe { dst.add(i).cast::<u64>().write_volatile(word) };
            i += 8;
        }
        while i < len {
            // SAFETY: `i < len`.
            unsafe { dst.add(i).write_volatile(byte) };
            i += 1;
        }
    }
}

/// A `MAP_SHARED`, read-write mapping of (part of) an fd, unmapped on drop.
#[derive(Debug)]
pub struct MmapRegion {
    /// Start of the whole mapping (page-aligned).
    base: NonNull<u8>,
    map_len: usize,
    /// Offset of byte 0 of the region inside the mapping.
    start: usize,
    len: usize,
    /// Listed for the fault handler: peer memory that could not be sealed
    /// against shrinking (see `guard.rs`).
    guard: Option<FaultGuard>,
}

// SAFETY: the region is plain shared memory with no thread affinity; all
// access goes through raw copies that take `&self` and are bounds-checked.
unsafe impl Send for MmapRegion {}
// SAFETY: as above; concurrent copies are as sound as concurrent access
// from the peer process, which the design already assumes.
unsafe impl Sync for MmapRegion {}

impl MmapRegion {
    /// Maps `len` bytes of `fd` starting at `offset`, which need not be
    /// page-aligned (the mapping starts at the page below it).
    ///
    /// This maps a peer's memory, which the peer may shrink at any time:
    ///
    /// * `fd` must be a regular file (memfds and POSIX shared memory
    ///   objects are), else it is refused;
    /// * where the OS can, the file is sealed against shrinking first
    ///   (`F_SEAL_SHRINK` on Linux and FreeBSD: shared memory created with
    ///   sealing allowed, or sealed by its creator as QEMU does);
    /// * then it must hold the whole range: touching a mapped page past the
    ///   end of a file raises `SIGBUS`, so a peer that names more memory
    ///   than it sent is refused here;
    /// * a file that could not be sealed is guarded: should the peer shrink
    ///   it later, a touch past its end reads zeroes instead of killing the
    ///   process, and [`MmapRegion::faulted`] turns true (see `guard.rs`).
    pub fn map(fd: BorrowedFd<'_>, offset: u64, len: u64) -> io::Result<Self> {
        check_regular(fd)?;
        // Seal before checking the size, which could shrink in between.
        let sealed = crate::os::seal_against_shrinking(fd);
        check_file_covers(fd, offset, len)?;
        let mut region = Self::map_unguarded(fd, offset, len)?;
        if !sealed {
            let granule = crate::os::huge_page_size(fd).unwrap_or_else(page_size);
            region.guard = Some(FaultGuard::new(
                region.base.as_ptr() as usize,
                region.map_len,
                granule,
            )?);
        }
        Ok(region)
    }

    /// Whether a page of this mapping was found past the end of its file
    /// (the peer shrank it): what was read from the region since may be
    /// zeroes, and writes to it reach no one.
    pub fn faulted(&self) -> bool {
        self.guard.as_ref().is_some_and(FaultGuard::faulted)
    }

    /// Maps without checks, seals or guard (memory this process created).
    fn map_unguarded(fd: BorrowedFd<'_>, offset: u64, len: u64) -> io::Result<Self> {
        let page = page_size() as u64;
        let aligned = offset - offset % page;
        let start = offset - aligned;
        let map_len = start
            .checked_add(len)
            .ok_or_else(|| invalid("region length overflows"))?;
        let map_len = usize::try_from(map_len).map_err(out_of_range("region length"))?;
        if len == 0 {
            return Err(invalid("empty region"));
        }
        let off = libc::off_t::try_from(aligned).map_err(out_of_range("mmap offset"))?;
        // SAFETY: a fresh mapping chosen by the kernel (no fixed address), so
        // no existing memory is affected; failure is checked below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                off,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(p.cast::<u8>()).ok_or_else(|| invalid("mmap returned null"))?;
        Ok(Self {
            base,
            map_len,
            start: start as usize,
            len: len as usize,
            guard: None,
        })
    }

    /// Length of the region in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The address of the region in this process (the "user address" a
    /// front-end reports for it).
    pub fn addr(&self) -> u64 {
        self.base.as_ptr() as u64 + self.start as u64
    }

    /// Pointer to `len` bytes at `offset`, if they lie inside the region.
    pub(crate) fn ptr(&self, offset: u64, len: usize) -> Option<*mut u8> {
        let offset = usize::try_from(offset).ok()?;
        let end = offset.checked_add(len)?;
        if end > self.len {
            return None;
        }
        // SAFETY: start + offset + len <= map_len, inside the mapping.
        Some(unsafe { self.base.as_ptr().add(self.start + offset) })
    }

    /// Whether `len` bytes at `offset` lie inside the region.
    pub fn contains(&self, offset: u64, len: u64) -> bool {
        usize::try_from(len)
            .ok()
            .and_then(|len| self.ptr(offset, len))
            .is_some()
    }

    /// Copies `buf.len()` bytes at `offset` into `buf` (volatile loads).
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Option<()> {
        let p = self.ptr(offset, buf.len())?;
        // SAFETY: `p..p+len` is inside the live mapping; `buf` is a distinct
        // Rust buffer, so the ranges cannot overlap.
        unsafe { volatile::read(p, buf.as_mut_ptr(), buf.len()) };
        Some(())
    }

    /// Copies `data` to `offset` (volatile stores).
    pub fn write(&self, offset: u64, data: &[u8]) -> Option<()> {
        let p = self.ptr(offset, data.len())?;
        // SAFETY: as in `read`, with the direction reversed.
        unsafe { volatile::write(data.as_ptr(), p, data.len()) };
        Some(())
    }

    /// Fills `len` bytes at `offset` with `byte` (volatile stores).
    pub fn fill(&self, offset: u64, len: usize, byte: u8) -> Option<()> {
        let p = self.ptr(offset, len)?;
        // SAFETY: `p..p+len` is inside the live mapping.
        unsafe { volatile::fill(p, len, byte) };
        Some(())
    }

    /// Reads a little-endian `u16` with one aligned volatile load (ring
    /// indexes the peer updates concurrently). `None` if out of bounds or
    /// misaligned.
    pub fn read_u16_le(&self, offset: u64) -> Option<u16> {
        let p = self.ptr(offset, 2)?;
        if (p as usize) % 2 != 0 {
            return None;
        }
        // SAFETY: in bounds and 2-byte aligned.
        Some(u16::from_le(unsafe { p.cast::<u16>().read_volatile() }))
    }

    /// Writes a little-endian `u16` with one aligned volatile store.
    pub fn write_u16_le(&self, offset: u64, v: u16) -> Option<()> {
        let p = self.ptr(offset, 2)?;
        if (p as usize) % 2 != 0 {
            return None;
        }
        // SAFETY: in bounds and 2-byte aligned.
        unsafe { p.cast::<u16>().write_volatile(v.to_le()) };
        Some(())
    }
}

impl Drop for MmapRegion {
    fn drop(&mut self) {
        // Unlisted first: the range may be reused once unmapped.
        drop(self.guard.take());
        // SAFETY: `base`/`map_len` are exactly what mmap returned, and no
        // pointer into the mapping outlives `self` (none is handed out).
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.map_len) };
    }
}

/// Anonymous shared memory created here, to be sent to a peer: the fd and
/// this process's mapping of it.
#[derive(Debug)]
pub struct SharedMemory {
    fd: OwnedFd,
    map: MmapRegion,
}

impl SharedMemory {
    /// Creates `size` bytes of zeroed shared memory (memfd on Linux and
    /// FreeBSD, an unlinked POSIX shared memory object elsewhere).
    pub fn new(size: u64) -> io::Result<Self> {
        let fd = crate::os::shm_fd()?;
        let len = libc::off_t::try_from(size).map_err(out_of_range("shared memory size"))?;
        // SAFETY: ftruncate on an fd we own, with an integer length.
        crate::cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), len) })?;
        let map = MmapRegion::map_unguarded(fd.as_fd(), 0, size)?;
        Ok(Self { fd, map })
    }

    /// The fd to send to the peer.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// This process's mapping.
    pub fn region(&self) -> &MmapRegion {
        &self.map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_mappings_see_each_other() {
        let shm = SharedMemory::new(3 * 4096).unwrap();
        let other = MmapRegion::map(shm.fd(), 4096 + 16, 100).unwrap();
        assert_eq!(other.len(), 100);
        shm.region().write(4096 + 16 + 10, b"abc").unwrap();
        let mut buf = [0; 3];
        other.read(10, &mut buf).unwrap();
        assert_eq!(&buf, b"abc");
        other.write_u16_le(20, 0xbeef).unwrap();
        assert_eq!(shm.region().read_u16_le(4096 + 16 + 20), Some(0xbeef));
        assert!(other.read(98, &mut buf).is_none());
        assert!(other.read(u64::MAX, &mut buf).is_none());
        assert!(other.read_u16_le(21).is_none());
        assert!(other.contains(0, 100) && !other.contains(1, 100));
    }

    /// Found by the `descriptor_chain` fuzz target: a region longer than its
    /// file was mapped, and the first access past the end raised SIGBUS.
    #[test]
    fn region_past_the_end_of_its_file_is_refused() {
        let shm = SharedMemory::new(2 * 4096).unwrap();
        assert!(MmapRegion::map(shm.fd(), 0, 2 * 4096).is_ok());
        assert!(MmapRegion::map(shm.fd(), 4096, 4096).is_ok());
        let err = MmapRegion::map(shm.fd(), 4096, 4097).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(MmapRegion::map(shm.fd(), 3 * 4096, 1).is_err());
        assert!(MmapRegion::map(shm.fd(), u64::MAX, 2).is_err());
    }

    #[test]
    fn copies_are_exact_at_every_alignment_and_length() {
        let shm = SharedMemory::new(4096).unwrap();
        let r = shm.region();
        let pattern: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
        for offset in 0..16u64 {
            for len in 0..40usize {
                r.fill(0, 128, 0xee).unwrap();
                r.write(offset, &pattern[..len]).unwrap();
                let mut all = [0u8; 128];
                r.read(0, &mut all).unwrap();
                let (o, end) = (offset as usize, offset as usize + len);
                assert!(
                    all[..o].iter().all(|&b| b == 0xee),
                    "before, {offset}+{len}"
                );
                assert_eq!(&all[o..end], &pattern[..len], "{offset}+{len}");
                assert!(
                    all[end..].iter().all(|&b| b == 0xee),
                    "after, {offset}+{len}"
                );
                // Reading into an unaligned local buffer.
                let mut back = [0u8; 41];
                r.read(offset, &mut back[1..=len]).unwrap();
                assert_eq!(&back[1..=len], &pattern[..len]);
            }
        }
    }

    /// Issue 12, class 8: guest memory is copied with volatile accesses, as
    /// rust-vmm's vm-memory does, so the compiler cannot re-read a value
    /// that was already validated. No run-time test can see a re-read the
    /// compiler might do, so this checks the code: nothing in this file's
    /// non-test code touches a mapping with a plain copy, fill or slice.
    #[test]
    fn mapped_memory_is_touched_only_by_volatile_accesses() {
        let source = include_str!("shm.rs");
        let code = source.split("#[cfg(test)]").next().unwrap();
        for plain in [
            "copy_nonoverlapping",
            "ptr::copy(",
            "write_bytes",
            "from_raw_parts",
        ] {
            assert!(
                !code.contains(plain),
                "shm.rs uses `{plain}` on guest memory"
            );
        }
        assert!(
            !include_str!("region_io.rs").contains("from_raw_parts"),
            "region_io.rs makes a slice of guest memory"
        );
    }

    #[test]
    fn fds_that_are_not_files_are_refused() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let zero = std::fs::File::options()
            .read(true)
            .write(true)
            .open("/dev/zero")
            .unwrap();
        for fd in [a.as_fd(), zero.as_fd()] {
            let err = MmapRegion::map(fd, 0, 4096).unwrap_err();
            assert!(err.to_string().contains("not a regular file"), "{err}");
        }
    }

    /// The peer truncates its (unsealable) file under the mapping: reads
    /// see zeroes, writes are dropped, the process lives, and the region
    /// says it faulted.
    #[test]
    fn a_file_shrunk_under_the_mapping_is_survived() {
        let dir = std::env::temp_dir().join(format!("vu-sys-shrink-{}", std::process::id()));
        let file = std::fs::File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&dir)
            .unwrap();
        std::fs::remove_file(&dir).unwrap();
        file.set_len(3 * 4096).unwrap();
        let r = MmapRegion::map(file.as_fd(), 4096, 2 * 4096).unwrap();
        r.write(100, b"guest").unwrap();
        assert!(!r.faulted());
        file.set_len(0).unwrap();
        let mut buf = [0xffu8; 5];
        r.read(100, &mut buf).unwrap();
        assert_eq!(buf, [0; 5]);
        assert!(r.faulted());
        r.write(4096 + 7, b"lost").unwrap();
        assert_eq!(r.read_u16_le(4096 + 8), Some(u16::from_le_bytes(*b"os")));
    }

    /// Huge pages (hugetlbfs) cannot be split: a fault replaces the whole
    /// huge page. Needs free huge pages, which this machine may not have.
    #[cfg(target_os = "linux")]
    #[test]
    #[ignore = "needs 2 free huge pages (sysctl vm.nr_hugepages=2)"]
    fn a_huge_page_file_shrunk_under_the_mapping_is_survived() {
        let file = std::fs::File::from(crate::os::huge_page_shm_fd().unwrap());
        let huge = crate::os::huge_page_size(file.as_fd()).expect("hugetlbfs");
        let size = 2 * huge as u64;
        file.set_len(size).expect("free huge pages");
        let r = MmapRegion::map(file.as_fd(), 0, size).unwrap();
        r.write(size - 100, b"guest").unwrap();
        file.set_len(0).unwrap();
        let mut buf = [0xffu8; 5];
        r.read(size - 100, &mut buf).unwrap();
        assert_eq!(buf, [0; 5]);
        assert!(r.faulted());
    }

    /// Shared memory created with sealing allowed is sealed against
    /// shrinking when a peer maps it.
    #[cfg(any(target_os = "linux", target_os = "freebsd"))]
    #[test]
    fn sealable_shared_memory_is_sealed_against_shrinking() {
        let fd = crate::os::sealable_shm_fd().unwrap();
        let file = std::fs::File::from(fd);
        file.set_len(2 * 4096).unwrap();
        let r = MmapRegion::map(file.as_fd(), 0, 2 * 4096).unwrap();
        assert!(r.guard.is_none(), "sealed, so not guarded");
        let err = file.set_len(0).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
        file.set_len(4 * 4096).unwrap();
    }
}
