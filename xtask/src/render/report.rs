//! The report as files: `status.json`, `status.md` and `status.html`,
//! rendered from one results file, written atomically or compared with what
//! a directory holds (`cargo xtask report --check`).

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::Grid;
use crate::model::Model;
use crate::paths::write_atomic;
use crate::results::ResultsFile;

/// The three files of a report, by name.
pub fn render_all(model: &Model, results: &ResultsFile) -> Result<Vec<(&'static str, String)>> {
    let grid = Grid::new(model, results);
    let mut json = serde_json::to_string_pretty(results)?;
    json.push('\n');
    Ok(vec![
        ("status.json", json),
        ("status.md", super::markdown::render(&grid)),
        ("status.html", super::html::render(&grid)),
    ])
}

/// Writes the report into `dir` (atomically, file by file); returns the Markdown's path.
pub fn write(model: &Model, results: &ResultsFile, dir: &Path) -> Result<PathBuf> {
    for (name, text) in render_all(model, results)? {
        write_atomic(&dir.join(name), text.as_bytes())?;
    }
    Ok(dir.join("status.md"))
}

/// Names of the files in `dir` that differ from what `results` renders to.
pub fn check(model: &Model, results: &ResultsFile, dir: &Path) -> Result<Vec<String>> {
    let mut stale = Vec::new();
    for (name, text) in render_all(model, results)? {
        if name == "status.json" {
            continue;
        }
        if std::fs::read_to_string(dir.join(name)).ok().as_deref() != Some(text.as_str()) {
            stale.push(name.to_string());
        }
    }
    Ok(stale)
}
