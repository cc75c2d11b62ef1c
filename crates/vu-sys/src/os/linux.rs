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

/// The signals a touch past the end of a mapped file raises.
pub(crate) const FAULT_SIGNALS: &[libc::c_int] = &[libc::SIGBUS];

/// Seals `fd` against shrinking (`F_SEAL_SHRINK`), or finds it sealed
/// already; false where it cannot be: a memfd created without
/// `MFD_ALLOW_SEALING`, or any file that is not a memfd (`EPERM`, `EINVAL`).
pub(crate) fn seal_against_shrinking(fd: std::os::fd::BorrowedFd<'_>) -> bool {
    // SAFETY: fcntl on a borrowed, open fd with integer arguments.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    if seals >= 0 && seals & libc::F_SEAL_SHRINK != 0 {
        return true;
    }
    // SAFETY: as above.
    unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, libc::F_SEAL_SHRINK) == 0 }
}

/// The huge page size of a file on hugetlbfs (its pages cannot be split,
/// so a fault must replace a whole one); `None` for any other file.
pub(crate) fn huge_page_size(fd: std::os::fd::BorrowedFd<'_>) -> Option<usize> {
    // SAFETY: an all-zero statfs is a valid out-buffer; fstatfs only writes it.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: fstatfs on a borrowed, open fd with a valid out pointer.
    if unsafe { libc::fstatfs(fd.as_raw_fd(), &mut fs) } != 0 {
        return None;
    }
    // The field's and the constant's types differ between architectures.
    #[allow(clippy::unnecessary_cast)]
    if fs.f_type as u32 != libc::HUGETLBFS_MAGIC as u32 {
        return None;
    }
    // SAFETY: an all-zero stat is a valid out-buffer; fstat only writes it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return None;
    }
    // hugetlbfs reports its page size as the block size.
    usize::try_from(st.st_blksize)
        .ok()
        .filter(|n| n.is_power_of_two())
}

/// A memfd of huge pages (hugetlbfs), without sealing.
#[cfg(test)]
pub(crate) fn huge_page_shm_fd() -> io::Result<OwnedFd> {
    // SAFETY: the name is a NUL-terminated literal; flags are integers.
    let fd = crate::cvt(unsafe {
        libc::memfd_create(
            c"vu-sys-huge".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_HUGETLB,
        )
    })?;
    // SAFETY: the fd is new and owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A memfd that allows sealing (as QEMU's memory backend creates them).
#[cfg(test)]
pub(crate) fn sealable_shm_fd() -> io::Result<OwnedFd> {
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
