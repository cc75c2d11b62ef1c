//! FreeBSD, NetBSD and OpenBSD: what differs between them is kept here.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;

/// OpenBSD has no eventfd: a non-blocking pipe pair (read end, write end).
#[cfg(target_os = "openbsd")]
pub(crate) fn notifier_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into the two-element array.
    crate::cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) })?;
    // SAFETY: both fds are new and owned by nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Creates an anonymous shared memory fd.
#[cfg(target_os = "freebsd")]
pub(crate) fn shm_fd() -> io::Result<OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: the name is a NUL-terminated literal; flags are integers.
    let fd = crate::cvt(unsafe { libc::memfd_create(c"vu-sys-guest-ram".as_ptr(), libc::MFD_CLOEXEC) })?;
    // SAFETY: the fd is new and owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Creates an anonymous shared memory fd.
#[cfg(any(target_os = "netbsd", target_os = "openbsd"))]
pub(crate) fn shm_fd() -> io::Result<OwnedFd> {
    super::posix_shm_fd()
}

#[cfg(target_os = "freebsd")]
mod space {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;

    pub(crate) const DISCARD_SUPPORTED: bool = true;
    pub(crate) const WRITE_ZEROES_SUPPORTED: bool = true;

    /// Deallocates a range (FreeBSD 14+); it reads back as zeroes after.
    pub(crate) fn discard(file: &File, offset: u64, len: u64) -> io::Result<()> {
        let inval = |e| io::Error::new(io::ErrorKind::InvalidInput, e);
        let mut range = libc::spacectl_range {
            r_offset: libc::off_t::try_from(offset).map_err(inval)?,
            r_len: libc::off_t::try_from(len).map_err(inval)?,
        };
        // A short deallocation leaves the rest in `range`; repeat until done.
        while range.r_len > 0 {
            // SAFETY: `range` is a valid in/out argument for this call.
            crate::cvt(unsafe { libc::fspacectl(file.as_raw_fd(), libc::SPACECTL_DEALLOC, &range, 0, &mut range) })?;
        }
        Ok(())
    }

    pub(crate) fn write_zeroes(file: &File, offset: u64, len: u64) -> io::Result<()> {
        discard(file, offset, len)
    }
}

#[cfg(not(target_os = "freebsd"))]
mod space {
    use std::fs::File;
    use std::io;

    pub(crate) const DISCARD_SUPPORTED: bool = false;
    pub(crate) const WRITE_ZEROES_SUPPORTED: bool = false;

    pub(crate) fn discard(_file: &File, _offset: u64, _len: u64) -> io::Result<()> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }

    pub(crate) fn write_zeroes(_file: &File, _offset: u64, _len: u64) -> io::Result<()> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}

pub(crate) use space::{DISCARD_SUPPORTED, WRITE_ZEROES_SUPPORTED};

pub(crate) fn discard(file: &File, offset: u64, len: u64) -> io::Result<()> {
    space::discard(file, offset, len)
}

pub(crate) fn write_zeroes(file: &File, offset: u64, len: u64) -> io::Result<()> {
    space::write_zeroes(file, offset, len)
}
