//! `cargo xtask report`: render the support-status report (`reports/`), and
//! merge, compare and publish results from many runners.
//!
//! Rendering is the default action, so `cargo xtask report` and
//! `cargo xtask report --check` keep working; `merge`, `diff`, `publish` and
//! `junit` are sub-actions, each in its own file under `report/`.

pub mod diff;
pub mod merge;
pub mod publish;

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::exit;
use crate::model::{self};
use crate::paths::write_atomic;
use crate::render::{self};
use crate::results::ResultsFile;

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
    let dirs = model::DataDirs::resolve(args.data.as_deref(), None);
    let model = model::load(&dirs)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| crate::repo_root().join("reports"));
    if args.check {
        let results = ResultsFile::load(&out.join("status.json"))?;
        let stale = render::report::check(&model, &results, &out)?;
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
    let written = render::report::write(&model, &results, &out)?;
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
