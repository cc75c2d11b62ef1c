//! `cargo xtask setup`: installs on Debian, idempotently, what the lanes need.
//!
//! Each toolchain provider and lane lists its requirements as
//! `SetupStep`s (`crate::requirements`); `crate::needs` gathers them, and
//! `crate::needs::install` plans against the host's facts and runs the actions.

use std::path::PathBuf;

use anyhow::Result;

use crate::model::DataDirs;

/// Install what the lanes need on this Debian host: Debian's Rust with its std
/// sources (build-std), cross linkers (Debian's cross gcc, Zig with
/// cargo-zigbuild), qemu-user emulators, the VM lane's QEMU, firmware and
/// tools, and what the project's own tests use (busybox, cpio, Chromium).
///
/// Every requirement is checked first and skipped, with a line saying so,
/// when present. Without root, the apt commands are printed instead of run.
/// Exit status 0 when everything is in place, 3 when commands remain for root.
#[derive(Debug, Default, clap::Args)]
pub struct Args {
    /// Print what would be done, and do nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Directory holding `platforms/`, `matrix/` and `vm-images/` [default: this repository].
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<u8> {
    crate::needs::install::run(&DataDirs::resolve(args.data.as_deref(), None), args.dry_run)
}
