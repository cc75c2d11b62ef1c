//! Shared fixtures of the CI and report tests: a small data directory
//! (`tests/fixtures/data-small`), a results file for it
//! (`test-data/report-small/results.json`), and running the built binary.

use std::path::{Path, PathBuf};
use std::time::Duration;

use xtask::cmd::{Cmd, Finished};
use xtask::model::{DataDirs, Model};
use xtask::results::ResultsFile;

pub fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn data_small_dir() -> PathBuf {
    manifest_dir().join("tests/fixtures/data-small")
}

pub fn data_small() -> Model {
    Model::load(&DataDirs::under(&data_small_dir())).expect("the data-small fixture loads")
}

pub fn results_small_path() -> PathBuf {
    manifest_dir().join("test-data/report-small/results.json")
}

pub fn results_small() -> ResultsFile {
    ResultsFile::load(&results_small_path()).expect("the report-small results load")
}

/// Runs the built `xtask` with `args` and extra environment, GITHUB_TOKEN and
/// the command log removed unless given.
pub fn xtask(args: &[&str], env: &[(&str, &str)]) -> Finished {
    let mut cmd = Cmd::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env_remove("GITHUB_TOKEN")
        .env_remove("XTASK_COMMAND_LOG");
    for (k, v) in env {
        cmd = cmd.env(*k, v);
    }
    cmd.timeout(Duration::from_secs(300))
        .run()
        .expect("xtask runs")
}

pub fn stdout(f: &Finished) -> String {
    String::from_utf8_lossy(&f.stdout).into_owned()
}

pub fn stderr(f: &Finished) -> String {
    String::from_utf8_lossy(&f.stderr).into_owned()
}

/// Splits `//- name` sections (rust-analyzer's fixture style) into (name, body) pairs.
pub use xtask::testing::fixture_sections as sections;

/// The `*.txt` case files of `test-data/<dir>`, sorted.
pub fn case_files(dir: &str) -> Vec<PathBuf> {
    let dir = manifest_dir().join("test-data").join(dir);
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    cases.sort();
    cases
}

/// Checks (or, with UPDATE_EXPECT=1, rewrites) the `expected` section of a case file.
pub fn check_expected(case: &Path, got: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(case).unwrap();
    let marker = "//- expected\n";
    let (head, expected) = match text.find(marker) {
        Some(i) => (&text[..i + marker.len()], &text[i + marker.len()..]),
        None => (text.as_str(), ""),
    };
    if expected == got {
        return Ok(());
    }
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        let head = if head.ends_with(marker) {
            head.to_string()
        } else {
            format!("{head}{marker}")
        };
        std::fs::write(case, format!("{head}{got}")).unwrap();
        return Ok(());
    }
    Err(format!(
        "{}: expected\n{expected}\ngot\n{got}(UPDATE_EXPECT=1 rewrites it)",
        case.display()
    ))
}
