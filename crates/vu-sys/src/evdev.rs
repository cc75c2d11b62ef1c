//! evdev input devices (Linux, and FreeBSD's evdev, which keeps Linux's
//! structures and ioctl numbers but encodes the direction bits as BSD
//! ioctls do): identity and capability queries, grabbing, and reading
//! `struct input_event`s without blocking.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::Path;

/// Direction bits of an ioctl number: (the kernel writes, the kernel reads,
/// a value argument).
#[cfg(all(
    target_os = "linux",
    not(any(
        target_arch = "powerpc",
        target_arch = "powerpc64",
        target_arch = "mips",
        target_arch = "mips64",
        target_arch = "sparc64"
    ))
))]
const DIR: (u32, u32, u32) = (2 << 30, 1 << 30, 1 << 30);
#[cfg(all(
    target_os = "linux",
    any(
        target_arch = "powerpc",
        target_arch = "powerpc64",
        target_arch = "mips",
        target_arch = "mips64",
        target_arch = "sparc64"
    )
))]
const DIR: (u32, u32, u32) = (2 << 29, 4 << 29, 4 << 29);
#[cfg(target_os = "freebsd")]
const DIR: (u32, u32, u32) = (0x4000_0000, 0x8000_0000, 0x2000_0000);

const fn ioc(dir: u32, nr: u32, size: u32) -> u32 {
    dir | (size << 16) | ((b'E' as u32) << 8) | nr
}

/// Largest buffer asked for by the string and bitmap queries.
pub const QUERY_MAX: usize = 128;

/// Bytes of one `struct input_event`: a `timeval`-sized time, then type,
/// code and value.
#[cfg(target_os = "linux")]
const TIME_SIZE: usize = 2 * size_of::<libc::c_long>();
#[cfg(target_os = "freebsd")]
const TIME_SIZE: usize = size_of::<libc::timeval>();
pub const EVENT_SIZE: usize = TIME_SIZE + 8;

/// One event as evdev reports it (native byte order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawEvent {
    pub kind: u16,
    pub code: u16,
    pub value: i32,
}

/// An open evdev device.
#[derive(Debug)]
pub struct Evdev {
    file: File,
    partial: Vec<u8>,
}

impl Evdev {
    /// Opens `path` for non-blocking reads.
    pub fn open(path: &Path) -> io::Result<Self> {
        Ok(Self {
            file: crate::open_nonblocking(path, false)?,
            partial: Vec::new(),
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }

    /// An ioctl that fills `buf`; returns the length the kernel reported.
    fn query(&self, nr: u32, buf: &mut [u8]) -> io::Result<usize> {
        let req = ioc(DIR.0, nr, buf.len() as u32);
        // SAFETY: the request encodes `buf.len()` as the size the kernel may
        // write, and `buf` is a live, writable buffer of that size.
        let n = unsafe { libc::ioctl(self.file.as_raw_fd(), req as _, buf.as_mut_ptr()) };
        crate::cvt(n).map(|n| n as usize)
    }

    fn string(&self, nr: u32) -> io::Result<String> {
        let mut buf = [0u8; QUERY_MAX];
        let n = self.query(nr, &mut buf)?.min(QUERY_MAX);
        let s = &buf[..n];
        let end = s.iter().position(|&b| b == 0).unwrap_or(n);
        Ok(String::from_utf8_lossy(&s[..end]).into_owned())
    }

    /// `EVIOCGNAME`.
    pub fn name(&self) -> io::Result<String> {
        self.string(0x06)
    }

    /// `EVIOCGUNIQ` (empty where the device has none).
    pub fn serial(&self) -> io::Result<String> {
        self.string(0x08).or_else(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => Ok(String::new()),
            _ => Err(e),
        })
    }

    /// `EVIOCGID`: bus type, vendor, product, version.
    pub fn ids(&self) -> io::Result<[u16; 4]> {
        let mut buf = [0u8; 8];
        self.query(0x02, &mut buf)?;
        let at = |i: usize| u16::from_ne_bytes([buf[2 * i], buf[2 * i + 1]]);
        Ok([at(0), at(1), at(2), at(3)])
    }

    /// `EVIOCGPROP`: the property bitmap.
    pub fn props(&self) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; QUERY_MAX];
        let n = self.query(0x09, &mut buf)?.min(QUERY_MAX);
        buf.truncate(n);
        Ok(buf)
    }

    /// `EVIOCGBIT`: the codes of type `kind` (0: the types themselves).
    pub fn bits(&self, kind: u16) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; QUERY_MAX];
        let n = self.query(0x20 + u32::from(kind), &mut buf)?.min(QUERY_MAX);
        buf.truncate(n);
        Ok(buf)
    }

    /// `EVIOCGABS`: value, minimum, maximum, fuzz, flat, resolution.
    pub fn abs(&self, axis: u16) -> io::Result<[i32; 6]> {
        let mut buf = [0u8; 24];
        self.query(0x40 + u32::from(axis), &mut buf)?;
        let at = |i: usize| i32::from_ne_bytes(buf[4 * i..4 * i + 4].try_into().unwrap_or([0; 4]));
        Ok([at(0), at(1), at(2), at(3), at(4), at(5)])
    }

    /// `EVIOCGRAB`: takes (or gives back) the device for this process
    /// alone, so the host does not also act on its events.
    pub fn grab(&self, on: bool) -> io::Result<()> {
        let req = ioc(DIR.2, 0x90, size_of::<libc::c_int>() as u32);
        // SAFETY: EVIOCGRAB takes an integer by value.
        let r = unsafe { libc::ioctl(self.file.as_raw_fd(), req as _, libc::c_int::from(on)) };
        crate::cvt(r).map(drop)
    }

    /// Reads the events available now into `out`; `Ok(false)` at end of
    /// file (the device went away).
    pub fn read(&mut self, out: &mut Vec<RawEvent>) -> io::Result<bool> {
        let mut buf = [0u8; 64 * EVENT_SIZE];
        loop {
            match self.file.read(&mut buf) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.partial.extend_from_slice(&buf[..n]);
                    let whole = self.partial.len() / EVENT_SIZE * EVENT_SIZE;
                    for e in self.partial[..whole].chunks_exact(EVENT_SIZE) {
                        let t = TIME_SIZE;
                        out.push(RawEvent {
                            kind: u16::from_ne_bytes([e[t], e[t + 1]]),
                            code: u16::from_ne_bytes([e[t + 2], e[t + 3]]),
                            value: i32::from_ne_bytes([e[t + 4], e[t + 5], e[t + 6], e[t + 7]]),
                        });
                    }
                    self.partial.drain(..whole);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    fn ioctl_numbers_match_linux_headers() {
        // From <linux/input.h> on x86_64, as the C preprocessor computes them.
        assert_eq!(ioc(DIR.0, 0x06, 128), 0x8080_4506, "EVIOCGNAME(128)");
        assert_eq!(ioc(DIR.0, 0x02, 8), 0x8008_4502, "EVIOCGID");
        assert_eq!(ioc(DIR.0, 0x40, 24), 0x8018_4540, "EVIOCGABS(0)");
        assert_eq!(ioc(DIR.2, 0x90, 4), 0x4004_4590, "EVIOCGRAB");
        assert_eq!(EVENT_SIZE, 24);
    }

    #[test]
    fn a_path_that_is_not_an_evdev_device_is_refused() {
        let d = Evdev::open(Path::new("/dev/null")).unwrap();
        assert!(d.name().is_err(), "EVIOCGNAME on /dev/null");
    }
}
