//! The results file: one versioned JSON document per workspace under
//! `target/matrix/results.json`, written atomically after every cell.
//!
//! Every lane produces [`CellResult`]s in this one shape; the report, the CI
//! merge and the diff read nothing else.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::cmd::CommandRecord;
use crate::model::{Lane, Stage};

/// Bumped on any change that an older reader would misread.
pub const SCHEMA: &str = "vhu-matrix-results/1";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ResultsFile {
    pub schema: String,
    pub workspace: WorkspaceInfo,
    /// Sorted by id.
    pub cells: Vec<CellResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceInfo {
    pub name: String,
    pub root: String,
    /// The highest `rust-version` among the members the matrix builds, when
    /// any declares one: what each platform's packaged Rust is judged against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rust_version: Option<String>,
}

/// How a cell ended. Every cell ends in exactly one of these.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Pass,
    Fail,
    /// Failed, and `matrix.toml` says it is known to (reason and link in the cell).
    ExpectedFail,
    Timeout,
    /// Deliberately not run (every package excluded, say), with the reason.
    Skipped,
    /// Cannot run on this host, with the reason and how to enable it.
    Unavailable,
    /// Planned but never started (an earlier failure without `--keep-going`,
    /// or an interrupt), with the reason.
    NotRun,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::ExpectedFail => "expected-fail",
            Status::Timeout => "timeout",
            Status::Skipped => "skipped",
            Status::Unavailable => "unavailable",
            Status::NotRun => "not-run",
        }
    }

    /// Failures that make `cargo xtask matrix` exit non-zero.
    pub fn is_unexpected_failure(self) -> bool {
        matches!(self, Status::Fail | Status::Timeout)
    }

    /// Results worth reusing when the fingerprint matches.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Pass | Status::Fail | Status::ExpectedFail)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CellResult {
    /// `<platform>/<stage>@<lane>`.
    pub id: String,
    pub platform: String,
    pub os: String,
    pub release: String,
    pub arch: String,
    pub target: String,
    pub stage: Stage,
    pub lane: Lane,
    pub status: Status,
    /// Why it was skipped, unavailable or expected to fail; a one-line summary of a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For `unavailable`: the command or step that would make it runnable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable: Option<String>,
    /// For `expected-fail`: the tracking link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tier>,
    /// Hash of every input (sources, lockfile, toolchain, lane settings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    #[serde(default)]
    pub duration_secs: f64,
    /// The cell failed for a reason of this host's, not of the code under
    /// test (a guest image that could not be built, a compiler that could
    /// not be unpacked, a guest that kept failing to boot). Such a result is
    /// kept and shown, but never reused as the cell's answer: the next run
    /// runs the cell again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub infrastructure_fault: bool,
    pub provenance: Provenance,
    /// Other runs of the same cell that `cargo xtask report merge` set aside
    /// (older, or as new from another runner), newest first: a merge keeps
    /// the newest result but drops no runner's word.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_provenances: Vec<OtherRun>,
    /// Per package: built/tested, or excluded with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<PackageResult>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<TestResult>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<Artifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<Diagnostic>,
    /// The end of the relevant output of a failure (compiler, test or console).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tail: Option<String>,
    /// The end of a guest's serial console, when a VM cell failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_tail: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<CommandRecord>,
}

impl CellResult {
    pub fn test_counts(&self) -> TestCounts {
        let mut counts = TestCounts::default();
        for t in &self.tests {
            match t.outcome {
                TestOutcome::Pass => counts.passed += 1,
                TestOutcome::Fail => counts.failed += 1,
                TestOutcome::ExpectedFail => counts.expected_fail += 1,
                TestOutcome::Ignored => counts.ignored += 1,
                TestOutcome::Timeout => counts.failed += 1,
                TestOutcome::Flaky => counts.flaky += 1,
            }
            if t.is_slow() {
                counts.slow += 1;
            }
        }
        counts
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TestCounts {
    pub passed: usize,
    pub failed: usize,
    pub expected_fail: usize,
    pub ignored: usize,
    /// Failed, then passed on a rerun (`--retries`).
    pub flaky: usize,
    /// Passed past half their limit.
    pub slow: usize,
}

/// Upstream Rust's support level for a target, as the compiler in use states it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// 1, 2 or 3; `None` when the compiler does not say.
    pub tier: Option<u8>,
    pub host_tools: Option<bool>,
    pub std: Option<bool>,
    pub description: Option<String>,
    /// The compiler that was asked (`rustc 1.96.0`).
    pub source: String,
}

/// Where a result comes from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// The machine that ran the cell.
    pub host: String,
    /// RFC 3339 time the cell finished.
    pub date: String,
    pub lane: String,
    /// The toolchain provider (`host`, `build-std`, …) and its `rustc -V`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toolchain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rustc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cargo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linker: Option<String>,
    /// Lane-specific facts: emulator and kernel versions, accelerator, boot time…
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
    /// Set when the result was reused from an earlier run with the same fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<String>,
}

/// Another runner's (or an earlier) result for a cell, as a merge kept it:
/// what it saw, and where and when.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OtherRun {
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    pub provenance: Provenance,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PackageResult {
    pub name: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum TestOutcome {
    Pass,
    Fail,
    ExpectedFail,
    Ignored,
    Timeout,
    /// Failed at least once and passed at least once (`--retries`).
    Flaky,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TestResult {
    pub package: String,
    /// The test executable's target (`lib`, or the integration test's name).
    pub binary: String,
    pub name: String,
    pub outcome: TestOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<f64>,
    /// A failing test's captured output (tail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// The per-test limit it ran under, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_secs: Option<f64>,
    /// How many times it ran, when a failure was rerun (`--retries`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// Of those runs, how many passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passes: Option<u32>,
}

impl TestResult {
    pub fn outcome_label(&self) -> &'static str {
        match self.outcome {
            TestOutcome::Pass => "passed",
            TestOutcome::Fail => "failed",
            TestOutcome::ExpectedFail => "failed (expected)",
            TestOutcome::Ignored => "ignored",
            TestOutcome::Timeout => "timed out",
            TestOutcome::Flaky => "flaky",
        }
    }

    /// A passing test that took more than half its limit.
    pub fn is_slow(&self) -> bool {
        matches!(self.outcome, TestOutcome::Pass | TestOutcome::Flaky)
            && matches!((self.duration_secs, self.limit_secs), (Some(d), Some(l)) if d > l / 2.0)
    }

    /// `passed 1 of 3`, of a test that ran more than once.
    pub fn passes_of_attempts(&self) -> Option<String> {
        match (self.attempts, self.passes) {
            (Some(a), Some(p)) if a > 1 => Some(format!("passed {p} of {a}")),
            _ => None,
        }
    }

    /// `flaky (passed 1 of 3)`, `slow (40.1s of 60s)`:
    /// the outcome with what qualifies it.
    pub fn describe(&self) -> String {
        match self.outcome {
            TestOutcome::Flaky => format!(
                "flaky (passed {} of {})",
                self.passes.unwrap_or(0),
                self.attempts.unwrap_or(0)
            ),
            _ if self.is_slow() => format!(
                "{}, slow ({:.1}s of its {:.0}s limit)",
                self.outcome_label(),
                self.duration_secs.unwrap_or(0.0),
                self.limit_secs.unwrap_or(0.0)
            ),
            _ => match (self.attempts, self.passes) {
                (Some(a), Some(p)) if a > 1 => {
                    format!("{} (passed {p} of {a})", self.outcome_label())
                }
                _ => self.outcome_label().to_string(),
            },
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    pub package: String,
    /// `test`, `bin`.
    pub kind: String,
    pub name: String,
    /// Relative to the workspace target directory.
    pub path: String,
    /// What the file says it is (ELF class, machine, OS ABI, interpreter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<BTreeMap<String, String>>,
}

/// The first compiler error: where and what.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Diagnostic {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    pub message: String,
    /// The compiler's full rendering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendered: Option<String>,
}

impl Diagnostic {
    /// `src/lib.rs:12: mismatched types`.
    pub fn short(&self) -> String {
        match (&self.file, self.line) {
            (Some(f), Some(l)) => format!("{f}:{l}: {}", self.message),
            (Some(f), None) => format!("{f}: {}", self.message),
            _ => self.message.clone(),
        }
    }
}

impl ResultsFile {
    pub fn new(workspace: WorkspaceInfo) -> ResultsFile {
        ResultsFile {
            schema: SCHEMA.to_string(),
            workspace,
            cells: Vec::new(),
        }
    }

    pub fn load(path: &Path) -> Result<ResultsFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("{} is not a results file", path.display()))
    }

    pub fn parse(text: &str) -> Result<ResultsFile> {
        #[derive(Deserialize)]
        struct Head {
            schema: String,
        }
        let head: Head = serde_json::from_str(text).context("no `schema` field")?;
        if head.schema != SCHEMA {
            anyhow::bail!("schema is `{}`, this tool reads `{SCHEMA}`", head.schema);
        }
        let de = &mut serde_json::Deserializer::from_str(text);
        let file: ResultsFile = serde_path_to_error::deserialize(de)
            .map_err(|e| anyhow::anyhow!("at `{}`: {}", e.path(), e.inner()))?;
        Ok(file)
    }

    /// Reads `path` if it exists and has this schema; an unreadable older file is set aside, not lost.
    pub fn load_or_new(path: &Path, workspace: WorkspaceInfo) -> ResultsFile {
        if !path.exists() {
            return ResultsFile::new(workspace);
        }
        match ResultsFile::load(path) {
            Ok(file) => file,
            Err(err) => {
                let aside = path.with_extension("json.unreadable");
                eprintln!(
                    "warning: {err:#}; keeping it as {} and starting afresh",
                    aside.display()
                );
                let _ = std::fs::rename(path, &aside);
                ResultsFile::new(workspace)
            }
        }
    }

    /// Inserts or replaces a cell, keeping the list sorted by id.
    pub fn upsert(&mut self, cell: CellResult) {
        match self.cells.binary_search_by(|c| c.id.cmp(&cell.id)) {
            Ok(i) => self.cells[i] = cell,
            Err(i) => self.cells.insert(i, cell),
        }
    }

    pub fn get(&self, id: &str) -> Option<&CellResult> {
        self.cells
            .binary_search_by(|c| c.id.as_str().cmp(id))
            .ok()
            .map(|i| &self.cells[i])
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        crate::paths::write_atomic(path, text.as_bytes())
    }
}
