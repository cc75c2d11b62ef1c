//! Linux: memfd shared memory, fallocate-based discard and write-zeroes.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Creates an anonymous shared memory fd.
pub(crate) fn shm_fd() -> io::Result<OwnedFd> {
    // SAFETY: the name is a NUL-terminated literal; flags are integers.
    let fd =
        crate::cvt(unsafe { libc::memfd_create(c"vu-sys-guest-ram".as_ptr(), libc::MFD_CLOEXEC) })?;
    // SAFETY: the fd is new and owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub(crate) const DISCARD_SUPPORTED: bool = true;
pub(crate) const WRITE_ZEROES_SUPPORTED: bool = true;

fn fallocate(file: &File, mode: libc::c_int, offset: u64, len: u64) -> io::Result<()> {
    let off = libc::off_t::try_from(offset)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let len =
        libc::off_t::try_from(len).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: fallocate on an open fd with integer arguments.
    crate::cvt(unsafe { libc::fallocate(file.as_raw_fd(), mode, off, len) })?;
    Ok(())
}

pub(crate) fn discard(file: &File, offset: u64, len: u64) -> io::Result<()> {
    fallocate(
        file,
        libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
        offset,
        len,
    )
}

pub(crate) fn write_zeroes(file: &File, offset: u64, len: u64) -> io::Result<()> {
    // Zero range keeps blocks allocated; file systems without it (tmpfs before
    // 6.x, some others) still punch holes, which also read back as zeroes.
    match fallocate(
        file,
        libc::FALLOC_FL_ZERO_RANGE | libc::FALLOC_FL_KEEP_SIZE,
        offset,
        len,
    ) {
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => discard(file, offset, len),
        r => r,
    }
}
