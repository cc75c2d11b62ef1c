//! Block-file operations whose availability depends on the OS.

use std::fs::File;
use std::io;

/// Whether [`discard`] can work on this OS.
pub const DISCARD_SUPPORTED: bool = crate::os::DISCARD_SUPPORTED;
/// Whether [`write_zeroes`] can work on this OS.
pub const WRITE_ZEROES_SUPPORTED: bool = crate::os::WRITE_ZEROES_SUPPORTED;

/// Deallocates `len` bytes at `offset` without changing the file size; the
/// range reads back as zeroes. Fails with `Unsupported` where the OS has no
/// such call.
pub fn discard(file: &File, offset: u64, len: u64) -> io::Result<()> {
    crate::os::discard(file, offset, len)
}

/// Makes `len` bytes at `offset` read back as zeroes, without writing them
/// one by one. Fails with `Unsupported` where the OS has no such call.
pub fn write_zeroes(file: &File, offset: u64, len: u64) -> io::Result<()> {
    crate::os::write_zeroes(file, offset, len)
}
