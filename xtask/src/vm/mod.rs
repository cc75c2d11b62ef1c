//! VM guests for the `vm` test lane: images, QEMU, the serial console, the
//! payload going in and the results coming out.
//!
//! - Linux guests are built here from Debian packages (`debian`, with
//!   `crate::apt`; `kmod`, `cpio`) and boot directly into `guest/init.sh`,
//!   which runs the payload.
//! - BSD guests are downloaded (`download`, `bsd`), provisioned once and
//!   driven over their serial console by scripts from `vm-images/` (`console`).
//! - Every guest gets the same payload disk (`payload`, `tar`) and runs the
//!   same runner (`guest/runner.sh`), whose framed output `frame` reads back.
//! - `session` runs one boot; `accel` decides KVM or TCG; `qemu` builds the
//!   command line from the data.

pub mod accel;
pub mod backport;
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
pub mod signify;
pub mod tar;
