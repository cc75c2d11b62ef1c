//! `cargo xtask report merge`: one report from the results of many runners.
//!
//! Each cell keeps one result, the newest that actually ran it; every other
//! runner's result for that cell is kept beside it in `other_provenances`
//! (status, reason, where and when), so that nothing any runner saw is lost
//! and disagreements stay visible.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::results::{CellResult, OtherRun, ResultsFile, Status};
use crate::{exit, model};

/// Merge results files from several runners into one report.
///
/// For each cell, the newest result that ran it (pass, fail, expected-fail,
/// timeout) is kept; a runner that found the cell unavailable or skipped did
/// not see it, so such a result wins only when no runner ran the cell. Two
/// results equally new are ordered worst first (a failure is never hidden by
/// a pass of the same second), then by the order of the files on the command
/// line, later first. Every other result is listed under the cell's
/// `other_provenances`, newest first. No cell is dropped.
///
/// Writes the merged `status.json` and its `status.md` and `status.html` to
/// `--out`. With `--history`, also appends this run (its commit, the time and
/// each cell's status) to that history and writes it to `--out` as
/// `history.jsonl`; the report then says, per cell, since when it is in its
/// state and the last commit where a failing cell passed.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Results files (`cargo xtask matrix --results-out`, or any `results.json` / `status.json`).
    #[arg(required = true, value_name = "RESULTS.json")]
    pub files: Vec<PathBuf>,
    /// Output directory [default: <this repository>/reports].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Directory holding `platforms/`, `matrix/` and `vm-images/` [default: this repository].
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// The history to continue (`reports/history.jsonl`; a missing file starts one):
    /// this run is appended and the whole written to `<out>/history.jsonl`.
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
    /// The commit this run tested, for the history [default: `$CI_COMMIT_SHA`,
    /// `$GITHUB_SHA`, `$CIRRUS_CHANGE_IN_REPO`, else `git rev-parse HEAD`].
    #[arg(long, value_name = "SHA", requires = "history")]
    pub commit: Option<String>,
}

pub fn run(args: Args) -> Result<u8> {
    let dirs = model::DataDirs::resolve(args.data.as_deref(), None);
    let model = model::load(&dirs)?;
    let mut inputs = Vec::new();
    for path in &args.files {
        inputs.push(ResultsFile::load(path)?);
    }
    let merged = merge(&inputs)?;
    let seen_twice = merged
        .cells
        .iter()
        .filter(|c| !c.other_provenances.is_empty())
        .count();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| crate::repo_root().join("reports"));
    if let Some(from) = &args.history {
        let commit = args.commit.clone().or_else(current_commit);
        let date = crate::host::now_rfc3339();
        let to = out.join(crate::history::FILE_NAME);
        let runs = append_history(
            from,
            &to,
            &crate::history::Run::from_results(&merged, commit, date),
        )?;
        eprintln!("history: {} ({runs} runs)", to.display());
    }
    let written = crate::render::report::write(&model, &merged, &out)?;
    eprintln!(
        "merged {} files: {} cells, {} of them seen by more than one run; report: {}",
        inputs.len(),
        merged.cells.len(),
        seen_twice,
        written.display()
    );
    Ok(exit::OK)
}

/// Appends `run` to the history in `from` and writes it to `to` (they may be
/// the same file). What `from` held is kept byte for byte: only a line is
/// added. Returns the number of runs.
pub fn append_history(from: &Path, to: &Path, run: &crate::history::Run) -> Result<usize> {
    let mut text = match std::fs::read_to_string(from) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", from.display())),
    };
    let runs = crate::history::parse(&text)
        .with_context(|| format!("{} is not a history file", from.display()))?
        .len();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&run.line());
    crate::paths::write_atomic(to, text.as_bytes())?;
    Ok(runs + 1)
}

/// The commit being tested: the CI's variable, else the checkout's HEAD.
fn current_commit() -> Option<String> {
    for var in ["CI_COMMIT_SHA", "GITHUB_SHA", "CIRRUS_CHANGE_IN_REPO"] {
        if let Some(v) = std::env::var(var).ok().filter(|v| !v.trim().is_empty()) {
            return Some(v.trim().to_string());
        }
    }
    crate::cmd::Cmd::new("git")
        .args(["rev-parse", "HEAD"])
        .run()
        .ok()
        .and_then(|o| o.ok().ok())
        .map(|o| o.stdout_str().trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Merges `inputs` (in command-line order). Pure: the same inputs give the same output.
pub fn merge(inputs: &[ResultsFile]) -> Result<ResultsFile> {
    let first = inputs
        .first()
        .ok_or_else(|| crate::BadInput("nothing to merge".into()))?;
    let names: Vec<&str> = inputs.iter().map(|f| f.workspace.name.as_str()).collect();
    if names.iter().any(|n| *n != first.workspace.name) {
        anyhow::bail!(crate::BadInput(format!(
            "the results are for different workspaces ({}); merge the results of one workspace at a time",
            names.join(", ")
        )));
    }
    let mut by_id: BTreeMap<&str, Vec<(usize, &CellResult)>> = BTreeMap::new();
    for (i, file) in inputs.iter().enumerate() {
        for cell in &file.cells {
            by_id.entry(cell.id.as_str()).or_default().push((i, cell));
        }
    }
    let mut merged = ResultsFile::new(first.workspace.clone());
    for (_, mut candidates) in by_id {
        candidates.sort_by(preference);
        let (_, winner) = candidates[0];
        let mut kept = winner.clone();
        let mut others: Vec<OtherRun> = winner.other_provenances.clone();
        for (_, cell) in &candidates[1..] {
            others.push(OtherRun {
                status: cell.status,
                reason: cell.reason.clone(),
                fingerprint: cell.fingerprint.clone(),
                provenance: cell.provenance.clone(),
            });
            others.extend(cell.other_provenances.iter().cloned());
        }
        // The same run can arrive twice (a file given twice, or a merged
        // file merged again); keep it once, and not beside itself.
        others.retain(|o| !(o.status == kept.status && o.provenance == kept.provenance));
        others.sort_by(|a, b| {
            date(&b.provenance.date)
                .cmp(&date(&a.provenance.date))
                .then_with(|| a.provenance.host.cmp(&b.provenance.host))
                .then_with(|| a.status.cmp(&b.status))
                .then_with(|| a.provenance.date.cmp(&b.provenance.date))
                .then_with(|| {
                    serde_json::to_string(a)
                        .unwrap_or_default()
                        .cmp(&serde_json::to_string(b).unwrap_or_default())
                })
        });
        others.dedup();
        kept.other_provenances = others;
        merged.upsert(kept);
    }
    Ok(merged)
}

/// Did this result come from actually running the cell?
pub fn ran(status: Status) -> bool {
    matches!(
        status,
        Status::Pass | Status::Fail | Status::ExpectedFail | Status::Timeout
    )
}

/// Orders candidates best first: ran before not ran, then newest, then worst,
/// then later on the command line.
fn preference(a: &(usize, &CellResult), b: &(usize, &CellResult)) -> Ordering {
    let (ia, ca) = a;
    let (ib, cb) = b;
    ran(cb.status)
        .cmp(&ran(ca.status))
        .then_with(|| date(&cb.provenance.date).cmp(&date(&ca.provenance.date)))
        .then_with(|| severity(cb.status).cmp(&severity(ca.status)))
        .then_with(|| ib.cmp(ia))
}

/// Higher is worse.
fn severity(status: Status) -> u8 {
    match status {
        Status::Skipped | Status::NotRun => 0,
        Status::Unavailable => 1,
        Status::Pass => 2,
        Status::ExpectedFail => 3,
        Status::Timeout => 4,
        Status::Fail => 5,
    }
}

/// A provenance date as a point in time; a date that does not parse sorts oldest.
fn date(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}
