//! VM guests for the `vm` test lane: images, QEMU, the serial console, the
//! payload going in and the results coming out.
//!
//! - Linux guests are built here from Debian packages (`debian`, `apt`,
//!   `kmod`, `cpio`) and boot directly into `guest/init.sh`, which runs the
//!   payload.
//! - BSD guests are downloaded (`download`, `bsd`), provisioned once and
//!   driven over their serial console by scripts from `vm-images/` (`console`).
//! - Every guest gets the same payload disk (`payload`, `tar`) and runs the
//!   same runner (`guest/runner.sh`), whose framed output `frame` reads back.
//! - `session` runs one boot; `accel` decides KVM or TCG; `qemu` builds the
//!   command line from the data.

pub mod accel;
pub mod apt;
pub mod bsd;
pub mod console;
pub mod cpio;
pub mod debian;
pub mod download;
pub mod frame;
pub mod guest;
pub mod kmod;
pub mod payload;
pub mod qemu;
pub mod session;
pub mod setup;
pub mod tar;

use std::path::Path;

use anyhow::{Context, Result};

/// An exclusive `flock` on a file, held until dropped: one builder per image
/// or apt state at a time, across processes.
pub struct FileLock {
    _file: std::fs::File,
}

impl FileLock {
    pub fn acquire(path: &Path) -> Result<FileLock> {
        use std::os::unix::io::AsRawFd;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        // SAFETY: flock on a descriptor this function owns; it blocks until the
        // lock is free and is released when the file is closed.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("cannot lock {}", path.display()));
        }
        Ok(FileLock { _file: file })
    }
}
