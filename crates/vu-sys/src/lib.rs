//! The small portable OS layer under the vhost-user stack.
//!
//! # Why a crate of its own
//!
//! Both sides need the same primitives: the back-end framework receives
//! fds and maps guest memory, the front-end library creates shared memory and
//! notifiers and sends fds. A separate crate keeps every `unsafe` system call
//! and every `#[cfg(target_os)]` in one place, so `vu-backend` and
//! `vu-frontend` are plain safe Rust over this API, and the public types
//! here name no epoll, kqueue or eventfd.
//!
//! # What differs per OS
//!
//! OS-specific code lives in `os/linux.rs` and `os/bsd.rs`, chosen by
//! `#[cfg]`; the rest of the crate is POSIX.
//!
//! | | Linux | FreeBSD | NetBSD | OpenBSD |
//! |---|---|---|---|---|
//! | [`Notifier`] | eventfd | eventfd | eventfd | pipe pair |
//! | [`SharedMemory`] | memfd | memfd | `shm_open` + unlink | `shm_open` + unlink |
//! | [`file::discard`] | punch hole | `fspacectl` | not supported | not supported |
//! | [`file::write_zeroes`] | zero range | `fspacectl` | not supported | not supported |
//! | [`Poller`] | epoll | kqueue | kqueue | kqueue |
//!
//! A notifier is signalled by writing an 8-byte value and consumed by reading
//! up to 8 bytes at a time, which works on both an eventfd and a pipe, so a
//! peer may hand us either kind (the vhost-user specification allows both).

mod os;
mod poller;
mod shm;
mod signal;
mod socket;

pub mod file;
pub mod notifier;

pub use notifier::{Notifier, NotifyReceiver, NotifySender};
pub use poller::Poller;
pub use shm::{MmapRegion, SharedMemory};
pub use signal::TerminationSignal;
pub use socket::{recv_with_fds, send_with_fds, RecvResult, MAX_RECV_FDS, MAX_SEND_FDS};

use std::io;

/// Turns a `-1` return into the current `errno`.
fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Sets `FD_CLOEXEC` (fds that arrive by `SCM_RIGHTS` come without it where
/// `MSG_CMSG_CLOEXEC` is missing, as on OpenBSD).
fn set_cloexec(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: fcntl on a borrowed, open fd with integer arguments.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) })?;
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, flags | libc::FD_CLOEXEC) })?;
    Ok(())
}

/// Sets `O_NONBLOCK`.
fn set_nonblocking(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: fcntl on a borrowed, open fd with integer arguments.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    Ok(())
}
