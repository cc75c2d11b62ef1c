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
//! | [`tap::Tap`] | `/dev/net/tun` | `/dev/tap` (cloning) | `/dev/tap` (cloning) | `/dev/tapN` |
//! | [`MmapRegion::map`] of peer memory | sealed against shrinking if allowed, else fault-guarded | same | fault-guarded | fault-guarded |
//!
//! On NetBSD and OpenBSD, if `shm_open` fails (NetBSD needs a tmpfs on
//! `/var/shm`), shared memory falls back to an unlinked file in the temp
//! directory. The oldest releases this can run on are those that have the
//! calls above: FreeBSD 14 (`fspacectl`), NetBSD 10 (`eventfd`).
//!
//! A notifier is signalled by writing an 8-byte value and consumed by reading
//! up to 8 bytes at a time, which works on both an eventfd and a pipe, so a
//! peer may hand us either kind (the vhost-user specification allows both).
//!
//! Nothing a peer sends may block or kill its receiver: received notifiers
//! are made non-blocking or refused ([`notifier`]), a dead kick fd is
//! reported as such ([`Consumed::Closed`]), [`wait_io`] waits for a socket
//! and a termination fd together, and peer memory that cannot be sealed
//! against shrinking is guarded against the fault a shrunk file raises
//! (`guard.rs`; [`MmapRegion::faulted`]).

//! [`read_file_into`] and [`write_file_from`] move data between a file and
//! bounds-checked slices of mapped regions with `preadv`/`pwritev` (one copy,
//! by the kernel), for block back-ends.
#![deny(clippy::undocumented_unsafe_blocks)]

mod guard;
mod os;
mod poller;
mod region_io;
mod shm;
mod signal;
mod socket;

#[cfg(any(target_os = "linux", target_os = "freebsd"))]
pub mod evdev;
pub mod file;
pub mod notifier;
#[cfg(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd"
))]
pub mod tap;

pub use notifier::{Consumed, Notifier, NotifyReceiver, NotifySender};
pub use poller::Poller;
pub use region_io::{read_file_into, write_file_from, RegionSlice};
pub use shm::{MmapRegion, SharedMemory};
pub use signal::TerminationSignal;
pub use socket::{
    recv_with_fds, send_with_fds, wait_io, Direction, RecvResult, Waited, MAX_RECV_FDS,
    MAX_SEND_FDS,
};

use std::io;

/// Takes ownership of a socket fd the process inherited from its parent
/// (a back-end's `--fd N`). Refuses an fd that is not open, not a socket, or
/// was already taken, so two owners can never close the same fd.
pub fn take_inherited_socket(fd: std::os::fd::RawFd) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    static TAKEN: std::sync::Mutex<Vec<std::os::fd::RawFd>> = std::sync::Mutex::new(Vec::new());
    let mut taken = TAKEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if fd < 0 || taken.contains(&fd) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "file descriptor already taken or negative",
        ));
    }
    // SAFETY: an all-zero stat is a valid out-buffer; fstat only writes it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on an integer fd with a valid out pointer.
    cvt(unsafe { libc::fstat(fd, &mut st) })?;
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "file descriptor is not a socket",
        ));
    }
    taken.push(fd);
    // SAFETY: the fd is open (fstat succeeded), it was inherited rather than
    // opened by this program, and the check above makes this the only owner.
    let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    set_cloexec(std::os::fd::AsFd::as_fd(&owned))?;
    Ok(owned)
}

/// Whether a socket has a peer (connected) rather than none (listening).
pub fn is_connected_socket(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: an all-zero sockaddr_storage is a valid out-buffer.
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: getpeername writes at most `len` bytes into `addr`.
    let r = unsafe {
        libc::getpeername(
            fd.as_raw_fd(),
            (&mut addr as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    };
    if r == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ENOTCONN) {
        Ok(false)
    } else {
        Err(e)
    }
}

/// Clears `FD_CLOEXEC` so a child process inherits `fd` (a back-end
/// started with `--fd N`).
pub fn set_inheritable(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: fcntl on a borrowed, open fd with integer arguments.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) })?;
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, flags & !libc::FD_CLOEXEC) })?;
    Ok(())
}

/// Sends SIGTERM to process `pid` (tests use it to check a clean exit).
pub fn terminate(pid: u32) -> io::Result<()> {
    let pid =
        libc::pid_t::try_from(pid).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: kill takes integer arguments.
    cvt(unsafe { libc::kill(pid, libc::SIGTERM) })?;
    Ok(())
}

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

/// Opens `path` for reading with `O_NONBLOCK` (and for writing too when
/// `also_write`: a FIFO opened so never sees end of file when its writers
/// come and go, on Linux and the BSDs alike).
pub fn open_nonblocking(path: &std::path::Path, also_write: bool) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(also_write)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

/// Creates a FIFO at `path` (mode 0600).
pub fn make_fifo(path: &std::path::Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    cvt(unsafe { libc::mkfifo(c.as_ptr(), 0o600) })?;
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
