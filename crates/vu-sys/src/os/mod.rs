//! Selects the OS-specific file.

#[cfg(any(target_os = "freebsd", target_os = "netbsd", target_os = "openbsd"))]
mod bsd;
#[cfg(any(target_os = "freebsd", target_os = "netbsd", target_os = "openbsd"))]
pub(crate) use bsd::*;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) use linux::*;

#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "netbsd"))]
mod eventfd;
#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "netbsd"))]
pub(crate) use eventfd::notifier_pair;

/// Creates an unnamed shared memory object from `shm_open` with a unique
/// name that is unlinked at once; for OSes without memfd.
#[cfg(any(target_os = "netbsd", target_os = "openbsd"))]
pub(crate) fn posix_shm_fd() -> std::io::Result<std::os::fd::OwnedFd> {
    use std::ffi::CString;
    use std::os::fd::FromRawFd;
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let mut attempts = 0;
    loop {
        let name = format!("/vu-sys-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let c = CString::new(name).map_err(std::io::Error::other)?;
        // SAFETY: `c` is a NUL-terminated string; flags and mode are integers.
        let fd = unsafe { libc::shm_open(c.as_ptr(), libc::O_RDWR | libc::O_CREAT | libc::O_EXCL, 0o600) };
        if fd == -1 {
            let e = std::io::Error::last_os_error();
            attempts += 1;
            if e.kind() == std::io::ErrorKind::AlreadyExists && attempts < 16 {
                continue;
            }
            return Err(e);
        }
        // SAFETY: shm_open returned a new fd that nothing else owns.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        // SAFETY: `c` is a NUL-terminated string.
        unsafe { libc::shm_unlink(c.as_ptr()) };
        crate::set_cloexec(std::os::fd::AsFd::as_fd(&fd))?;
        return Ok(fd);
    }
}
