//! The scripts that run inside guests, kept beside the code that speaks to them.

/// The guest runner (POSIX sh, every guest OS): runs the payload's test
/// executables and frames their output on the console. `vm::frame` reads it.
pub const RUNNER: &str = include_str!("guest/runner.sh");

/// PID 1 of the Linux guests (busybox sh).
pub const LINUX_INIT: &str = include_str!("guest/init.sh");
