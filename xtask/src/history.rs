//! The report's history: `history.jsonl` beside a report's `status.json`,
//! one JSON line per merged run (its commit, its date, each cell's status),
//! only ever appended to. From it the report says since when each cell has
//! been in its state and, for a failing cell, the last commit where it passed.
//!
//! Every line carries its schema, like the results file: a reader refuses a
//! line it cannot read rather than misreading it, and new optional fields
//! keep older lines readable.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::results::{ResultsFile, Status};

/// Bumped on any change that an older reader would misread.
pub const SCHEMA: &str = "vhu-matrix-history/1";

/// The history file's name, beside `status.json`.
pub const FILE_NAME: &str = "history.jsonl";

/// One merged run: what each cell's status was at one commit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Run {
    pub schema: String,
    /// The commit the run tested, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// RFC 3339 time the run was merged.
    pub date: String,
    /// Status per cell id.
    pub cells: BTreeMap<String, Status>,
}

impl Run {
    pub fn from_results(results: &ResultsFile, commit: Option<String>, date: String) -> Run {
        Run {
            schema: SCHEMA.to_string(),
            commit,
            date,
            cells: results
                .cells
                .iter()
                .map(|c| (c.id.clone(), c.status))
                .collect(),
        }
    }

    /// The line appended to the file (newline included).
    pub fn line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("a run serialises");
        line.push('\n');
        line
    }
}

/// Reads a history file; a missing file is an empty history.
pub fn load(path: &Path) -> Result<Vec<Run>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    parse(&text).with_context(|| format!("{} is not a history file", path.display()))
}

pub fn parse(text: &str) -> Result<Vec<Run>> {
    let mut runs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        #[derive(Deserialize)]
        struct Head {
            schema: String,
        }
        let head: Head = serde_json::from_str(line)
            .with_context(|| format!("line {}: no `schema` field", i + 1))?;
        if head.schema != SCHEMA {
            anyhow::bail!(
                "line {}: schema is `{}`, this tool reads `{SCHEMA}`",
                i + 1,
                head.schema
            );
        }
        let run: Run = serde_json::from_str(line).with_context(|| format!("line {}", i + 1))?;
        runs.push(run);
    }
    Ok(runs)
}

/// Where a cell stands in the history: its state in the newest run, since
/// which run it has been in it, and the newest run where it passed.
#[derive(Debug, Clone, PartialEq)]
pub struct Since {
    pub status: Status,
    /// The first run of the newest streak of `status`.
    pub since_date: String,
    pub since_commit: Option<String>,
    /// How many runs in a row (the newest included) saw `status`.
    pub runs: usize,
    /// The newest earlier run where the cell passed, when it does not pass now.
    pub last_pass: Option<(String, Option<String>)>,
}

/// Each cell of the newest run, with since when it is in its state.
pub fn since(history: &[Run]) -> BTreeMap<String, Since> {
    let mut out = BTreeMap::new();
    let Some(newest) = history.last() else {
        return out;
    };
    for (id, &status) in &newest.cells {
        let mut first = newest;
        let mut runs = 0;
        for run in history.iter().rev() {
            match run.cells.get(id) {
                Some(s) if *s == status => {
                    first = run;
                    runs += 1;
                }
                // A run that did not list the cell does not break the streak.
                None => continue,
                Some(_) => break,
            }
        }
        let last_pass = (status != Status::Pass)
            .then(|| {
                history
                    .iter()
                    .rev()
                    .find(|r| r.cells.get(id) == Some(&Status::Pass))
                    .map(|r| (r.date.clone(), r.commit.clone()))
            })
            .flatten();
        out.insert(
            id.clone(),
            Since {
                status,
                since_date: first.date.clone(),
                since_commit: first.commit.clone(),
                runs,
                last_pass,
            },
        );
    }
    out
}

/// The history beside a report's `status.json` in `dir`.
pub fn beside(dir: &Path) -> Result<Vec<Run>> {
    load(&dir.join(FILE_NAME))
}

/// `abc1234` (the first 12 characters of a commit id), or `unknown commit`.
pub fn short_commit(commit: Option<&str>) -> String {
    match commit {
        Some(c) if !c.is_empty() => c.chars().take(12).collect(),
        _ => "unknown commit".to_string(),
    }
}
