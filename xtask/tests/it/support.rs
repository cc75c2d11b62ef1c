//! Running the xtask binary on fixture workspaces copied to temporary directories.

use std::path::{Path, PathBuf};
use std::process::Output;

pub fn xtask() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_xtask"))
}

/// Copies `xtask/tests/fixtures/<name>` into a new temporary directory.
pub fn fixture_workspace(name: &str) -> tempfile::TempDir {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&src, dir.path());
    dir
}

fn copy_tree(src: &Path, dst: &Path) {
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() == "target" {
                continue;
            }
            std::fs::create_dir_all(&to).unwrap();
            copy_tree(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), to).unwrap();
        }
    }
}

/// Runs xtask with `args`, with an optional command log; returns its output.
pub fn run(args: &[&str], command_log: Option<&Path>) -> Output {
    let mut cmd = std::process::Command::new(xtask());
    cmd.args(args).env_remove("XTASK_COMMAND_LOG");
    if let Some(log) = command_log {
        cmd.env("XTASK_COMMAND_LOG", log);
    }
    cmd.output().unwrap()
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The argv of every command a run spawned (see `XTASK_COMMAND_LOG`).
pub fn logged_commands(log: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

pub fn results(workspace: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(workspace.join("target/matrix/results.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

pub fn cell<'a>(results: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    results["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no cell {id} in {results:#}"))
}
