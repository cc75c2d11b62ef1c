//! The orchestrator behind `cargo xtask`: it builds and tests a cargo
//! workspace across operating systems and architectures and publishes what it
//! saw. `main.rs` parses the command line and calls one module per subcommand;
//! everything else is library code those modules share. ARCHITECTURE.md has
//! the map.

pub mod apt;
pub mod bench;
pub mod budget;
pub mod ci;
pub mod cmd;
pub mod digest;
pub mod dist;
pub mod doctor;
pub mod elf;
pub mod exec;
pub mod fingerprint;
pub mod fuzz;
pub mod history;
pub mod host;
pub mod lanes;
pub mod libtest;
pub mod matrix;
pub mod model;
pub mod msrv;
pub mod needs;
pub mod paths;
pub mod plan;
pub mod platform_data;
pub mod platforms;
pub mod progress;
pub mod render;
pub mod report;
pub mod requirements;
pub mod results;
pub mod runner;
pub mod setup;
pub mod test;
#[doc(hidden)]
pub mod testing;
pub mod toolchain;
pub mod vm;
pub mod vm_images;
pub mod workspace;

use std::path::{Path, PathBuf};

/// Input the user can fix (a data file, a flag): exit code 2.
#[derive(Debug)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Exit codes that mean something to scripts and CI.
pub mod exit {
    /// Everything ran as expected (unavailable cells included: they are reported, not failed).
    pub const OK: u8 = 0;
    /// Unexpected failures: a failing or timed-out cell, a regression, stale generated files.
    pub const FAILURES: u8 = 1;
    /// Bad input: a data file or a flag is wrong; nothing ran.
    pub const BAD_INPUT: u8 = 2;
    /// The environment is missing something, or an internal error.
    pub const ENVIRONMENT: u8 = 3;
    /// Interrupted by the user; results obtained so far were kept.
    pub const INTERRUPTED: u8 = 130;
}

/// The repository this xtask belongs to (its data and its published report).
pub fn repo_root() -> PathBuf {
    // A checkout other than the one xtask was built from (a CI job running a
    // prebuilt xtask, the gitlab-ci-local test's fixture repository).
    if let Some(dir) = std::env::var_os("XTASK_REPO_ROOT").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the repository root")
        .to_path_buf()
}
