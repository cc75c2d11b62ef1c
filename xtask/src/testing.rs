//! Support for tests, shared by unit and integration tests.
//!
//! Slow tests (VM boots, cross builds, real QEMU, Chromium, the Debian
//! archive) are `#[ignore = "slow: needs …; run with `cargo xtask test`"]`,
//! so that libtest counts them as ignored, never as passed. `cargo xtask
//! test` provides their prerequisites (`cargo xtask setup`) and runs them
//! with `--include-ignored` and `XTASK_SLOW_TESTS=1`. A slow test that runs
//! checks its prerequisites with [`require`]: a missing one is a failure.

/// Asserts a prerequisite of a slow test that is running. Panics with the
/// install hint: whoever ran the ignored test asked for it, and `cargo
/// xtask test` runs `cargo xtask setup` first.
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
