//! Notifier pair on an eventfd (Linux, FreeBSD 13+, NetBSD 10+).

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// Returns (read end, write end); both are the same eventfd.
pub(crate) fn notifier_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    // SAFETY: eventfd takes integer arguments and returns a new fd or -1.
    let fd = crate::cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
    // SAFETY: the fd is new and owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let tx = fd.try_clone()?;
    Ok((fd, tx))
}
