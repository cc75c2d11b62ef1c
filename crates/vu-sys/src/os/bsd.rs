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

/// The signals a touch past the end of a mapped file raises: FreeBSD and
/// NetBSD send `SIGBUS`; OpenBSD's fault path may report it as `SIGSEGV`.
/// Only faults inside guarded peer memory are handled; others go to the
/// previous handler.
pub(crate) const FAULT_SIGNALS: &[libc::c_int] = &[libc::SIGBUS, libc::SIGSEGV];

/// FreeBSD seals shared memory objects like Linux seals memfds: an object
/// from `memfd_create(MFD_ALLOW_SEALING)` (or `shm_open2` with
/// `SHM_ALLOW_SEALING`) can be sealed against shrinking; others refuse
/// (`EPERM`, `EINVAL`).
#[cfg(target_os = "freebsd")]
pub(crate) fn seal_against_shrinking(fd: std::os::fd::BorrowedFd<'_>) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: fcntl on a borrowed, open fd with integer arguments.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    if seals >= 0 && seals & libc::F_SEAL_SHRINK != 0 {
        return true;
    }
    // SAFETY: as above.
    unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, libc::F_SEAL_SHRINK) == 0 }
}

/// NetBSD and OpenBSD have no file seals: peer memory is always guarded.
#[cfg(any(target_os = "netbsd", target_os = "openbsd"))]
pub(crate) fn seal_against_shrinking(_fd: std::os::fd::BorrowedFd<'_>) -> bool {
    false
}

/// No huge-page file system is recognised on the BSDs: a fault in peer
/// memory replaces one page. (FreeBSD's large-page shared memory,
/// `SHM_LARGEPAGE`, is not handled specially; NetBSD and OpenBSD have none.)
pub(crate) fn huge_page_size(_fd: std::os::fd::BorrowedFd<'_>) -> Option<usize> {
    None
}

/// A shared memory object that allows sealing.
#[cfg(all(test, target_os = "freebsd"))]
pub(crate) fn sealable_shm_fd() -> io::Result<OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: the name is a NUL-terminated literal; flags are integers.
    let fd = crate::cvt(unsafe {
        libc::memfd_create(
            c"vu-sys-sealable".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    })?;
    // SAFETY: the fd is new and owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Creates an anonymous shared memory fd.
#[cfg(target_os = "freebsd")]
pub(crate) fn shm_fd() -> io::Result<OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: the name is a NUL-terminated literal; flags are integers.
    let fd =
        crate::cvt(unsafe { libc::memfd_create(c"vu-sys-guest-ram".as_ptr(), libc::MFD_CLOEXEC) })?;
    // SAFETY: the fd is new and owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Creates an anonymous shared memory fd.
#[cfg(any(target_os = "netbsd", target_os = "openbsd"))]
pub(crate) fn shm_fd() -> io::Result<OwnedFd> {
    posix_shm_fd()
}

/// Creates an unnamed shared memory object for OSes without memfd: a POSIX
/// shared memory object with a unique name that is unlinked at once, or,
/// where `shm_open` does not work (NetBSD without a tmpfs on `/var/shm`),
/// an unlinked file in the temp directory.
#[cfg(any(target_os = "netbsd", target_os = "openbsd"))]
pub(crate) fn posix_shm_fd() -> io::Result<OwnedFd> {
    shm_open_unlinked().or_else(|_shm_error| unlinked_temp_file())
}

#[cfg(any(target_os = "netbsd", target_os = "openbsd"))]
fn unlinked_temp_file() -> io::Result<OwnedFd> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "vu-sys-shm-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file.into())
}

#[cfg(any(target_os = "netbsd", target_os = "openbsd"))]
fn shm_open_unlinked() -> io::Result<OwnedFd> {
    use std::ffi::CString;
    use std::os::fd::FromRawFd;
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let mut attempts = 0;
    loop {
        let name = format!(
            "/vu-sys-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let c = CString::new(name).map_err(io::Error::other)?;
        // SAFETY: `c` is a NUL-terminated string; flags and mode are integers.
        let fd = unsafe {
            libc::shm_open(
                c.as_ptr(),
                libc::O_RDWR | libc::O_CREAT | libc::O_EXCL,
                0o600,
            )
        };
        if fd == -1 {
            let e = io::Error::last_os_error();
            attempts += 1;
            if e.kind() == io::ErrorKind::AlreadyExists && attempts < 16 {
                continue;
            }
            return Err(e);
        }
        // SAFETY: shm_open returned a new fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: `c` is a NUL-terminated string.
        unsafe { libc::shm_unlink(c.as_ptr()) };
        crate::set_cloexec(std::os::fd::AsFd::as_fd(&fd))?;
        return Ok(fd);
    }
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
            crate::cvt(unsafe {
                libc::fspacectl(
                    file.as_raw_fd(),
                    libc::SPACECTL_DEALLOC,
                    &range,
                    0,
                    &mut range,
                )
            })?;
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
