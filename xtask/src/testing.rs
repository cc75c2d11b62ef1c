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
    assert!(
        present,
        "prerequisite missing: {what} (install: {install}; `cargo xtask setup` should have)"
    );
}

/// Splits a fixture written as `//- path` sections (rust-analyzer style) into
/// (path, contents) pairs.
pub fn fixture_sections(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split_inclusive('\n') {
        if let Some(name) = line.strip_prefix("//- ") {
            out.push((name.trim().to_string(), String::new()));
        } else if let Some(last) = out.last_mut() {
            last.1.push_str(line);
        }
    }
    out
}

/// Writes `test-data/model/base.txt` overlaid with `overlay`'s sections into
/// `dir`, returning the `expected` section if any.
pub fn write_model_fixture(dir: &std::path::Path, overlay: &str) -> String {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("test-data/model");
    let base = std::fs::read_to_string(data.join("base.txt")).expect("test-data/model/base.txt");
    let mut expected = String::new();
    for (name, body) in fixture_sections(&base)
        .into_iter()
        .chain(fixture_sections(overlay))
    {
        if name == "expected" {
            expected = body;
            continue;
        }
        let path = dir.join(&name);
        std::fs::create_dir_all(path.parent().expect("fixture paths have a directory"))
            .expect("create fixture dir");
        std::fs::write(path, body).expect("write fixture file");
    }
    expected
}
