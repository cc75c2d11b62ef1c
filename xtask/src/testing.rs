//! Gates for slow tests (VM boots, cross builds, real QEMU), shared by unit
//! and integration tests.
//!
//! Slow tests run when `XTASK_SLOW_TESTS=1` (which `.ci/run` sets after
//! `cargo xtask setup`). Without it they print that they were skipped and
//! why. With it, a missing prerequisite is a failure, not a skip: CI promised
//! to install it, so its absence is a bug to see.

/// Should the slow test `name` run? Prints a loud skip line when not.
pub fn slow_tests_enabled(name: &str) -> bool {
    if std::env::var("XTASK_SLOW_TESTS").is_ok_and(|v| v == "1") {
        true
    } else {
        eprintln!("SKIPPED {name}: slow test; set XTASK_SLOW_TESTS=1 to run it");
        false
    }
}

/// Asserts a prerequisite of a slow test that is running. Panics with the
/// install hint: with `XTASK_SLOW_TESTS=1` set, the setup should have provided it.
pub fn require(present: bool, what: &str, install: &str) {
    assert!(present, "prerequisite missing: {what} (install: {install}; `cargo xtask setup` should have)");
}
