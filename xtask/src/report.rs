//! `cargo xtask report`: render `reports/` (Markdown, HTML, JSON) from results.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::model::{self, Model};
use crate::render::{self, Grid};
use crate::results::{write_atomic, ResultsFile};
use crate::{exit, matrix};

/// Render the support-status report from matrix results.
///
/// Reads `<target>/matrix/results.json` (or `--results`) and writes
/// `status.json`, `status.md` and `status.html` to `reports/` (or `--out`).
/// With `--check`, renders from the committed `reports/status.json` and fails
/// when `status.md` or `status.html` differ: nothing under `reports/` is edited by hand.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Results file to render [default: <this repository>/target/matrix/results.json].
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
    /// Output directory [default: <this repository>/reports].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Directory holding `platforms/`, `matrix/` and `vm-images/` [default: this repository].
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Verify that the Markdown and HTML in the output directory match its status.json.
    #[arg(long)]
    pub check: bool,
}

pub fn run(args: Args) -> Result<u8> {
    let dirs = matrix::data_dirs(args.data.as_ref(), None);
    let model = model::load(&dirs)?;
    let out = args.out.clone().unwrap_or_else(|| crate::repo_root().join("reports"));
    if args.check {
        let results = ResultsFile::load(&out.join("status.json"))?;
        let stale = check(&model, &results, &out)?;
        if stale.is_empty() {
            eprintln!("{} is up to date", out.display());
            return Ok(exit::OK);
        }
        eprintln!("stale: {}; run `cargo xtask report` and commit", stale.join(", "));
        return Ok(exit::FAILURES);
    }
    let path = args.results.clone().unwrap_or_else(|| crate::repo_root().join("target").join("matrix").join("results.json"));
    let results = ResultsFile::load(&path).with_context(|| "run `cargo xtask matrix` first, or pass --results".to_string())?;
    let written = write(&model, &results, &out)?;
    eprintln!("report: {}", written.display());
    Ok(exit::OK)
}

/// The three files of a report, by name.
pub fn render_all(model: &Model, results: &ResultsFile) -> Result<Vec<(&'static str, String)>> {
    let grid = Grid::new(model, results);
    let mut json = serde_json::to_string_pretty(results)?;
    json.push('\n');
    Ok(vec![("status.json", json), ("status.md", render::markdown::render(&grid)), ("status.html", render::html::render(&grid))])
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
