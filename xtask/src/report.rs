//! `cargo xtask report`: render the support-status report (`reports/`), and
//! merge, compare and publish results from many runners.
//!
//! Rendering is the default action, so `cargo xtask report` and
//! `cargo xtask report --check` keep working; `merge`, `diff`, `publish` and
//! `junit` are sub-actions, each in its own file under `report/`.

pub mod diff;
pub mod merge;
pub mod publish;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::model::{self, Model};
use crate::render::{self, Grid};
use crate::results::{write_atomic, ResultsFile};
use crate::{exit, matrix};

/// Render, merge, compare and publish the support-status report.
///
/// Without an action, renders `reports/` (Markdown, HTML, JSON) from the
/// matrix results: `cargo xtask report` is `cargo xtask report render`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    pub action: Option<Action>,
    #[command(flatten)]
    pub render: RenderArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    Render(RenderArgs),
    Merge(merge::Args),
    Diff(diff::Args),
    Publish(publish::Args),
    Junit(JunitArgs),
}

/// Render the support-status report from matrix results.
///
/// Reads `<target>/matrix/results.json` (or `--results`) and writes
/// `status.json`, `status.md` and `status.html` to `reports/` (or `--out`).
/// With `--check`, renders from the committed `reports/status.json` and fails
/// when `status.md` or `status.html` differ: nothing under `reports/` is edited by hand.
#[derive(Debug, Default, clap::Args)]
pub struct RenderArgs {
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

/// Write a results file's cells as JUnit XML (one testsuite per cell).
///
/// `cargo xtask matrix --junit FILE` does the same for the cells of one run.
#[derive(Debug, clap::Args)]
pub struct JunitArgs {
    /// Results file [default: <this repository>/target/matrix/results.json].
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
    /// Where the XML goes; `-` for standard output.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// What `cargo xtask setup` must install for the report's own checks: the
/// HTML page is loaded in headless Chromium by a slow test (Debian packages).
pub fn setup_apt_packages() -> &'static [&'static str] {
    &["chromium"]
}

pub fn run(args: Args) -> Result<u8> {
    match args.action {
        None => render_run(args.render),
        Some(Action::Render(a)) => render_run(a),
        Some(Action::Merge(a)) => merge::run(a),
        Some(Action::Diff(a)) => diff::run(a),
        Some(Action::Publish(a)) => publish::run(a),
        Some(Action::Junit(a)) => junit_run(a),
    }
}

fn default_results() -> PathBuf {
    crate::repo_root()
        .join("target")
        .join("matrix")
        .join("results.json")
}

fn render_run(args: RenderArgs) -> Result<u8> {
    let dirs = matrix::data_dirs(args.data.as_ref(), None);
    let model = model::load(&dirs)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| crate::repo_root().join("reports"));
    if args.check {
        let results = ResultsFile::load(&out.join("status.json"))?;
        let stale = check(&model, &results, &out)?;
        if stale.is_empty() {
            eprintln!("{} is up to date", out.display());
            return Ok(exit::OK);
        }
        eprintln!(
            "stale: {}; run `cargo xtask report` and commit",
            stale.join(", ")
        );
        return Ok(exit::FAILURES);
    }
    let path = args.results.clone().unwrap_or_else(default_results);
    let results = ResultsFile::load(&path)
        .with_context(|| "run `cargo xtask matrix` first, or pass --results".to_string())?;
    let written = write(&model, &results, &out)?;
    eprintln!("report: {}", written.display());
    Ok(exit::OK)
}

fn junit_run(args: JunitArgs) -> Result<u8> {
    let path = args.results.clone().unwrap_or_else(default_results);
    let results = ResultsFile::load(&path)?;
    let xml = render::junit::render(
        &format!("{} matrix", results.workspace.name),
        &results.cells,
    );
    if args.out.as_os_str() == "-" {
        print!("{xml}");
    } else {
        write_atomic(&args.out, xml.as_bytes())?;
        eprintln!("junit: {}", args.out.display());
    }
    Ok(exit::OK)
}

/// The three files of a report, by name.
pub fn render_all(model: &Model, results: &ResultsFile) -> Result<Vec<(&'static str, String)>> {
    let grid = Grid::new(model, results);
    let mut json = serde_json::to_string_pretty(results)?;
    json.push('\n');
    Ok(vec![
        ("status.json", json),
        ("status.md", render::markdown::render(&grid)),
        ("status.html", render::html::render(&grid)),
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
