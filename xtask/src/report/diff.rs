//! `cargo xtask report diff`: what changed between two reports, in the terms
//! a porter acts on: regressions, fixes, cells newly covered or no longer
//! covered, and other status changes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::path::PathBuf;

use anyhow::Result;

use super::merge::ran;
use crate::exit;
use crate::results::{CellResult, ResultsFile, Status, TestOutcome};

/// Compare two results files (an older report and a newer one).
///
/// A regression is a cell that ran and passed (or failed as expected) in OLD
/// and fails or times out in NEW, or a test that passed in OLD and fails in
/// NEW. A fix is the reverse. A cell is covered when it ran (whatever its
/// outcome); unavailable, skipped and absent cells are not covered.
///
/// Exit status: 0 when nothing regressed, 1 on any regression, 2 on bad input.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The older results (`reports/status.json` as committed, say).
    #[arg(value_name = "OLD")]
    pub old: PathBuf,
    /// The newer results.
    #[arg(value_name = "NEW")]
    pub new: PathBuf,
    /// Treat a missing OLD as an empty report (the first run of a new CI).
    #[arg(long)]
    pub allow_missing_old: bool,
}

pub fn run(args: Args) -> Result<u8> {
    let old = if args.allow_missing_old && !args.old.exists() {
        eprintln!(
            "note: {} does not exist; comparing with an empty report",
            args.old.display()
        );
        None
    } else {
        Some(ResultsFile::load(&args.old)?)
    };
    let new = ResultsFile::load(&args.new)?;
    let empty = ResultsFile::new(new.workspace.clone());
    let mut diff = diff(old.as_ref().unwrap_or(&empty), &new);
    // A history beside NEW (`report merge --history`) names where each regression last passed.
    if let Some(dir) = args.new.parent() {
        name_last_pass(&mut diff, &crate::history::beside(dir)?);
    }
    print!("{}", diff.render());
    Ok(if diff.regressions.is_empty() {
        exit::OK
    } else {
        exit::FAILURES
    })
}

/// One line of a diff: a cell (or one test of it) and its two states.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub id: String,
    /// `package::binary test-name` for a test-level change.
    pub test: Option<String>,
    pub old: Option<Status>,
    pub new: Option<Status>,
    /// What explains the new state: failing tests, first error, reason.
    pub note: Option<String>,
}

#[derive(Debug, Default, PartialEq)]
pub struct Diff {
    pub regressions: Vec<Change>,
    pub fixes: Vec<Change>,
    pub newly_covered: Vec<Change>,
    pub no_longer_covered: Vec<Change>,
    /// Status changes that are neither of the above (fail → timeout, unavailable → skipped…).
    pub other_changes: Vec<Change>,
    pub unchanged: usize,
}

/// Adds to each regression the newest run of `history` where its cell passed.
pub fn name_last_pass(diff: &mut Diff, history: &[crate::history::Run]) {
    for change in &mut diff.regressions {
        let last = history
            .iter()
            .rev()
            .find(|r| r.cells.get(&change.id) == Some(&Status::Pass));
        let text = match last {
            Some(r) => format!(
                "last passed at {} ({})",
                crate::history::short_commit(r.commit.as_deref()),
                r.date
            ),
            None if history.is_empty() => continue,
            None => format!("never passed in the {} runs of the history", history.len()),
        };
        change.note = Some(match change.note.take() {
            Some(n) => format!("{n}; {text}"),
            None => text,
        });
    }
}

fn is_bad(status: Status) -> bool {
    status.is_unexpected_failure()
}

/// Compares cell by cell, in id order. Pure.
pub fn diff(old: &ResultsFile, new: &ResultsFile) -> Diff {
    let old_cells: BTreeMap<&str, &CellResult> =
        old.cells.iter().map(|c| (c.id.as_str(), c)).collect();
    let new_cells: BTreeMap<&str, &CellResult> =
        new.cells.iter().map(|c| (c.id.as_str(), c)).collect();
    let ids: BTreeSet<&str> = old_cells.keys().chain(new_cells.keys()).copied().collect();
    let mut d = Diff::default();
    for id in ids {
        let (o, n) = (old_cells.get(id).copied(), new_cells.get(id).copied());
        let (os, ns) = (o.map(|c| c.status), n.map(|c| c.status));
        let change = |note: Option<String>| Change {
            id: id.to_string(),
            test: None,
            old: os,
            new: ns,
            note,
        };
        let (old_ran, new_ran) = (os.is_some_and(ran), ns.is_some_and(ran));
        match (old_ran, new_ran) {
            (false, true) => d.newly_covered.push(change(n.and_then(explain))),
            (true, false) => d.no_longer_covered.push(change(
                n.and_then(explain)
                    .or_else(|| Some("no result in the newer report".into())),
            )),
            (false, false) if os == ns => d.unchanged += 1,
            (false, false) => d.other_changes.push(change(n.and_then(explain))),
            (true, true) => {
                let (o, n, os, ns) = (o.unwrap(), n.unwrap(), os.unwrap(), ns.unwrap());
                if !is_bad(os) && is_bad(ns) {
                    d.regressions.push(change(explain(n)));
                } else if is_bad(os) && !is_bad(ns) {
                    d.fixes.push(change(None));
                } else if os == Status::ExpectedFail && ns == Status::Pass {
                    d.fixes.push(change(Some(
                        "was a known failure; `matrix.toml` may drop its expected-failure entry"
                            .into(),
                    )));
                } else if os != ns {
                    d.other_changes.push(change(explain(n)));
                } else {
                    // Same cell status: the tests may still have moved.
                    let before = (d.regressions.len(), d.fixes.len());
                    test_changes(id, o, n, &mut d);
                    if (d.regressions.len(), d.fixes.len()) == before {
                        d.unchanged += 1;
                    }
                }
            }
        }
    }
    d
}

/// Test-level regressions and fixes inside a cell whose status did not change.
fn test_changes(id: &str, old: &CellResult, new: &CellResult, d: &mut Diff) {
    let key = |t: &crate::results::TestResult| format!("{}::{} {}", t.package, t.binary, t.name);
    let old_tests: BTreeMap<String, TestOutcome> =
        old.tests.iter().map(|t| (key(t), t.outcome)).collect();
    for t in &new.tests {
        let Some(&before) = old_tests.get(&key(t)) else {
            continue;
        };
        let bad = |o: TestOutcome| matches!(o, TestOutcome::Fail | TestOutcome::Timeout);
        let good = |o: TestOutcome| matches!(o, TestOutcome::Pass);
        let change = Change {
            id: id.to_string(),
            test: Some(key(t)),
            old: Some(old.status),
            new: Some(new.status),
            note: Some(format!("{} → {}", outcome(before), outcome(t.outcome))),
        };
        if good(before) && bad(t.outcome) {
            d.regressions.push(change);
        } else if bad(before) && good(t.outcome) {
            d.fixes.push(change);
        }
    }
}

fn outcome(o: TestOutcome) -> &'static str {
    match o {
        TestOutcome::Pass => "passed",
        TestOutcome::Fail => "failed",
        TestOutcome::ExpectedFail => "failed (expected)",
        TestOutcome::Ignored => "ignored",
        TestOutcome::Timeout => "timed out",
        TestOutcome::Flaky => "flaky",
    }
}

/// One line on why a cell is in its state.
fn explain(cell: &CellResult) -> Option<String> {
    let failing: Vec<&str> = cell
        .tests
        .iter()
        .filter(|t| matches!(t.outcome, TestOutcome::Fail | TestOutcome::Timeout))
        .map(|t| t.name.as_str())
        .collect();
    if !failing.is_empty() {
        let more = if failing.len() > 5 {
            format!(" and {} more", failing.len() - 5)
        } else {
            String::new()
        };
        return Some(format!(
            "failing: {}{more}",
            failing
                .iter()
                .take(5)
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(e) = &cell.first_error {
        return Some(e.short());
    }
    let reason = cell.reason.as_deref()?.lines().next()?.to_string();
    Some(match &cell.enable {
        Some(e) if cell.status == Status::Unavailable => format!("{reason} (enable: {e})"),
        _ => reason,
    })
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.regressions.is_empty()
            && self.fixes.is_empty()
            && self.newly_covered.is_empty()
            && self.no_longer_covered.is_empty()
            && self.other_changes.is_empty()
    }

    /// Markdown: a summary line, then one section per non-empty category.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let _ = writeln!(
            out,
            "{}, {}, {} newly covered, {} no longer covered, {}, {} unchanged",
            plural(self.regressions.len(), "regression", "regressions"),
            plural(self.fixes.len(), "fix", "fixes"),
            self.newly_covered.len(),
            self.no_longer_covered.len(),
            plural(self.other_changes.len(), "other change", "other changes"),
            self.unchanged
        );
        for (title, changes) in [
            ("Regressions", &self.regressions),
            ("Fixes", &self.fixes),
            ("Newly covered", &self.newly_covered),
            ("No longer covered", &self.no_longer_covered),
            ("Other status changes", &self.other_changes),
        ] {
            if changes.is_empty() {
                continue;
            }
            let _ = writeln!(out, "\n## {title}\n");
            for c in changes {
                let state = |s: Option<Status>| s.map(|s| s.as_str()).unwrap_or("absent");
                let what = match &c.test {
                    Some(t) => format!("`{}` test `{t}`", c.id),
                    None => format!("`{}`: {} → {}", c.id, state(c.old), state(c.new)),
                };
                match &c.note {
                    Some(note) => {
                        let _ = writeln!(out, "- {what} — {}", note.replace('\n', " "));
                    }
                    None => {
                        let _ = writeln!(out, "- {what}");
                    }
                }
            }
        }
        out
    }
}
