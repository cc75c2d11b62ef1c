//! Tap interfaces: a kernel network interface whose other end is a file
//! descriptor that reads and writes whole Ethernet frames, one per call,
//! with no header in front (Linux `/dev/net/tun` with `IFF_TAP | IFF_NO_PI`;
//! the BSDs' tap devices).
//!
//! | | how an interface is made | `"tap"` (no unit) |
//! |---|---|---|
//! | Linux | `TUNSETIFF` on `/dev/net/tun` (the name may hold `%d`) | the kernel picks `tapN` |
//! | FreeBSD, NetBSD | opening `/dev/<name>` | the cloning device `/dev/tap`, named by `TAPGIFNAME` |
//! | OpenBSD | opening `/dev/<name>` | the first `/dev/tapN` not in use |
//!
//! The interface is the process's for as long as the [`Tap`] lives (unless
//! it was made persistent elsewhere). Giving it an address and bringing it
//! up is the administrator's business, not the back-end's.

#[cfg(any(target_os = "freebsd", target_os = "netbsd", target_os = "openbsd"))]
mod bsd;
#[cfg(target_os = "linux")]
mod linux;

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};

/// Longest interface name, without its NUL (`IFNAMSIZ` is 16 on all four).
pub const MAX_NAME: usize = 15;

/// An open tap interface, non-blocking.
#[derive(Debug)]
pub struct Tap {
    file: File,
    name: String,
}

impl Tap {
    /// Creates (or attaches to) the tap interface `name`; `"tap"` asks for
    /// a new one whose name the OS picks (see [`Tap::name`]).
    pub fn open(name: &str) -> io::Result<Self> {
        check_name(name)?;
        #[cfg(target_os = "linux")]
        let (file, name) = linux::open(name)?;
        #[cfg(any(target_os = "freebsd", target_os = "netbsd", target_os = "openbsd"))]
        let (file, name) = bsd::open(name)?;
        Ok(Self { file, name })
    }

    /// The interface's name, as the OS knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }

    /// Reads one frame into `buf` (a frame longer than `buf` is cut short
    /// by the kernel); `WouldBlock` when none is waiting.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.file).read(buf)
    }

    /// Writes one frame; `WouldBlock` when the interface's queue is full.
    pub fn send(&self, frame: &[u8]) -> io::Result<usize> {
        (&self.file).write(frame)
    }
}

/// An interface name the kernel can take: 1 to [`MAX_NAME`] bytes of
/// letters, digits, `.`, `-`, `_` (and `%`, Linux's unit placeholder).
fn check_name(name: &str) -> io::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-%".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name:?} is not an interface name (1 to {MAX_NAME} letters, digits, '.', '-', '_')"),
        ))
    }
}

/// The name in a kernel-filled `ifr_name`: the bytes before the first NUL.
#[cfg_attr(target_os = "openbsd", allow(dead_code))]
fn name_from(raw: &[u8]) -> String {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_before_the_kernel_sees_them() {
        for bad in ["", "../tap0", "tap 0", "a-name-far-too-long", "tap\0"] {
            let e = check_name(bad).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
        }
        for good in ["tap", "tap0", "vhu-tap_1", "tap%d"] {
            check_name(good).unwrap();
        }
        assert_eq!(name_from(b"tap3\0\0\0"), "tap3");
    }
}
