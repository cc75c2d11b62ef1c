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
    render_with_history(model, results, &[])
}

/// The three files of a report, the Markdown and HTML with a section on the
/// cells' history when `history` has runs.
pub fn render_with_history(
    model: &Model,
    results: &ResultsFile,
    history: &[crate::history::Run],
) -> Result<Vec<(&'static str, String)>> {
    let grid = Grid::new(model, results);
    let mut json = serde_json::to_string_pretty(results)?;
    json.push('\n');
    let mut md = super::markdown::render(&grid);
    md.push_str(&super::history::markdown(history));
    let html = super::history::insert_html(&super::html::render(&grid), history);
    Ok(vec![
        ("status.json", json),
        ("status.md", md),
        ("status.html", html),
    ])
}

/// Writes the report into `dir` (atomically, file by file), with the history
/// kept beside it when there is one; returns the Markdown's path.
pub fn write(model: &Model, results: &ResultsFile, dir: &Path) -> Result<PathBuf> {
    let history = crate::history::beside(dir)?;
    for (name, text) in render_with_history(model, results, &history)? {
        write_atomic(&dir.join(name), text.as_bytes())?;
    }
    Ok(dir.join("status.md"))
}

/// Names of the files in `dir` that differ from what `results` renders to.
pub fn check(model: &Model, results: &ResultsFile, dir: &Path) -> Result<Vec<String>> {
    let mut stale = Vec::new();
    let history = crate::history::beside(dir)?;
    for (name, text) in render_with_history(model, results, &history)? {
        if name == "status.json" {
            continue;
        }
        if std::fs::read_to_string(dir.join(name)).ok().as_deref() != Some(text.as_str()) {
            stale.push(name.to_string());
        }
    }
    Ok(stale)
}
