//! `cargo xtask fuzz --replay` on this repository's fuzz targets (slow: a
//! release build of `fuzz/`, whose libFuzzer is C++): every target builds
//! with the stable toolchain and replays every committed regression input
//! clean, so a change that undoes a fix fails `cargo xtask test`, not only
//! the next campaign.

use crate::support::{text, xtask};

#[test]
#[ignore = "slow: builds the fuzz targets; run with `cargo xtask test`"]
fn every_target_builds_and_replays_its_regression_inputs_clean() {
    xtask::testing::require(
        xtask::host::which("c++").is_some(),
        "a C++ compiler (libfuzzer-sys builds libFuzzer)",
        "apt install g++",
    );
    let root = xtask::repo_root();
    let out = std::process::Command::new(xtask())
        .args(["fuzz", "--replay"])
        .output()
        .unwrap();
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let targets: Vec<String> = std::fs::read_dir(root.join("fuzz/fuzz_targets"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".rs").map(String::from)
        })
        .collect();
    assert!(targets.len() >= 6, "{targets:?}");
    let mut committed = 0;
    for t in &targets {
        let dir = root.join("fuzz/regressions").join(t);
        let n = match dir.is_dir() {
            true => std::fs::read_dir(&dir).unwrap().count(),
            false => 0,
        };
        committed += n;
        let line = stderr
            .lines()
            .find(|l| l.starts_with(&format!("fuzz: replay: {t}: ")))
            .unwrap_or_else(|| panic!("no replay line for {t}:\n{shown}"));
        let expected = match n {
            1 => "1 regression input,".to_string(),
            n => format!("{n} regression inputs,"),
        };
        assert!(line.contains(&expected), "{t}: expected {expected}\n{line}");
        assert!(line.contains(", clean in "), "{line}");
    }
    assert!(committed > 0, "fuzz/regressions/ holds no input");
}
