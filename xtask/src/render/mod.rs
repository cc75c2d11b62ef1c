//! Rendering results: the terminal table at the end of a run, and the
//! published report (`reports/`: Markdown, one self-contained HTML page, JSON).
//!
//! Everything here is a pure function of the model and the results, so the
//! output is reproducible and golden-tested.

pub mod history;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod report;
pub mod table;

use std::collections::BTreeMap;

use crate::model::lifecycle::Support;
use crate::model::{Lane, Model, Platform, Stage};
use crate::platform_data::status::{platform_rust, PlatformRust, Tested, Verdict};
use crate::results::{CellResult, ResultsFile, Status, Tier};

/// Columns of the grid, in a fixed order; architectures no platform uses are left out.
const ARCH_ORDER: [&str; 8] = [
    "x86_64",
    "i686",
    "aarch64",
    "armv7",
    "powerpc64le",
    "s390x",
    "mips64el",
    "riscv64",
];

/// The report's view: platforms laid out as OS/release rows × architecture columns.
pub struct Grid<'a> {
    pub arches: Vec<String>,
    pub rows: Vec<Row<'a>>,
    pub generated_from: &'a ResultsFile,
    /// The day end of life is judged against: that of the newest result, so
    /// that a report re-rendered later says what held when the matrix ran.
    pub judged_on: Option<time::Date>,
    /// Which release's platform-support.md the headline tiers come from, and
    /// why no newer one, for the report's header.
    pub tiers_note: Option<String>,
}

pub struct Row<'a> {
    pub os_display: String,
    pub release: String,
    pub release_display: String,
    /// Where the release stands on `Grid::judged_on`; `None` when nothing ran.
    pub support: Option<Support>,
    /// Indexed like `Grid::arches`; `None` where the release has no such platform.
    pub cells: Vec<Option<PlatformView<'a>>>,
}

impl Row<'_> {
    /// `END OF LIFE since 2026-06-30` or `ends 2026-12-31 (in 30 days)`: what
    /// the grid marks next to the release; nothing for a supported one.
    pub fn lifecycle_mark(&self) -> Option<String> {
        match &self.support {
            Some(s @ (Support::Ended { .. } | Support::EndsSoon { .. })) => Some(s.label()),
            _ => None,
        }
    }
}

/// Everything known about one platform.
pub struct PlatformView<'a> {
    pub platform: &'a Platform,
    pub tier: Option<&'a Tier>,
    /// Cells by stage, then lane.
    pub cells: BTreeMap<(Stage, Lane), &'a CellResult>,
    /// Upstream tier (platform-support.md), packaged Rust and its verdict.
    pub rust: PlatformRust,
}

impl PlatformView<'_> {
    /// The worst status among the platform's cells, for colouring; `None` when nothing ran.
    pub fn overall(&self) -> Option<Status> {
        let statuses: Vec<Status> = self.cells.values().map(|c| c.status).collect();
        [
            Status::Fail,
            Status::Timeout,
            Status::ExpectedFail,
            Status::Pass,
            Status::Unavailable,
            Status::Skipped,
        ]
        .into_iter()
        .find(|s| statuses.contains(s))
    }
}

impl<'a> Grid<'a> {
    pub fn new(model: &'a Model, results: &'a ResultsFile) -> Grid<'a> {
        let mut arches: Vec<String> = Vec::new();
        for arch in ARCH_ORDER {
            if model.platforms.iter().any(|p| p.arch == arch) {
                arches.push(arch.to_string());
            }
        }
        for p in &model.platforms {
            if !arches.contains(&p.arch) {
                arches.push(p.arch.clone());
            }
        }
        let judged_on = results
            .cells
            .iter()
            .map(|c| c.provenance.date.as_str())
            .max()
            .and_then(|d| crate::model::msrv_policy::parse_date(d.get(..10)?));
        let mut rows: Vec<Row<'a>> = Vec::new();
        for p in &model.platforms {
            let row = match rows
                .iter_mut()
                .position(|r| r.os_display == p.os_display && r.release == p.release)
            {
                Some(i) => &mut rows[i],
                None => {
                    rows.push(Row {
                        os_display: p.os_display.clone(),
                        release: p.release.clone(),
                        release_display: p.release_display.clone(),
                        support: judged_on
                            .map(|d| model.lifecycle.facts(&p.os, &p.release, d).support),
                        cells: arches.iter().map(|_| None).collect(),
                    });
                    rows.last_mut().unwrap()
                }
            };
            let col = arches.iter().position(|a| a == &p.arch).unwrap();
            let cells: BTreeMap<(Stage, Lane), &CellResult> = results
                .cells
                .iter()
                .filter(|c| c.platform == p.id)
                .map(|c| ((c.stage, c.lane), c))
                .collect();
            let tier = cells.values().find_map(|c| c.tier.as_ref());
            let rust = crate::platform_data::status::measured(
                platform_rust(model, p, results.workspace.rust_version.as_deref()),
                cells.values().copied(),
            );
            row.cells[col] = Some(PlatformView {
                platform: p,
                tier,
                cells,
                rust,
            });
        }
        let tiers_note = model.rust_status.tiers.as_ref().map(|t| match &t.newer {
            Some(why) => format!(
                "Upstream tiers are those of platform-support.md of Rust {}, the newest release whose file could be read ({why}).",
                t.release
            ),
            None => format!("Upstream tiers are those of platform-support.md of Rust {}.", t.release),
        });
        Grid {
            arches,
            rows,
            generated_from: results,
            judged_on,
            tiers_note,
        }
    }

    /// The report's lifecycle warnings: releases past their end of life, and
    /// those ending within 90 days of the newest result.
    pub fn lifecycle_warnings(&self) -> Vec<String> {
        self.rows
            .iter()
            .filter_map(|r| {
                r.lifecycle_mark()
                    .map(|m| format!("{}: {m}", r.release_display))
            })
            .collect()
    }

    /// Counts of this report's cells by status.
    pub fn counts(&self) -> BTreeMap<Status, usize> {
        let mut counts = BTreeMap::new();
        for row in &self.rows {
            for view in row.cells.iter().flatten() {
                for cell in view.cells.values() {
                    *counts.entry(cell.status).or_insert(0) += 1;
                }
            }
        }
        counts
    }

    /// The newest provenance date among the cells.
    pub fn newest(&self) -> Option<&str> {
        self.generated_from
            .cells
            .iter()
            .map(|c| c.provenance.date.as_str())
            .max()
    }
}

pub fn tier_label(tier: Option<&Tier>) -> String {
    match tier.and_then(|t| t.tier) {
        Some(n) => {
            let host = if tier.and_then(|t| t.host_tools) == Some(true) && n < 3 {
                " + host tools"
            } else {
                ""
            };
            format!("tier {n}{host}")
        }
        None => "tier ?".to_string(),
    }
}

/// The grid's tier. The headline is upstream's as the newest
/// platform-support.md read here states it (`tier 2 + host tools (Rust
/// 1.98)`); where the compiler that built the cell says otherwise, its tier
/// follows (`; rustc 1.96: tier 3`). Without the document, the compiler's alone.
pub fn tier_line(view: &PlatformView<'_>) -> String {
    let doc = view.rust.tier.as_ref().filter(|t| t.tier != 0);
    match (doc, view.tier) {
        (Some(d), cell) => {
            let headline = format!(
                "{} (Rust {})",
                doc_tier_label(d),
                view.rust
                    .tier_release
                    .map(|r| r.short())
                    .unwrap_or_default()
            );
            match cell {
                Some(c) if !same_tier(d, c) => format!(
                    "{headline}; {}: {}",
                    short_compiler(&c.source),
                    tier_label(Some(c))
                ),
                _ => headline,
            }
        }
        (None, tier) => tier_label(tier),
    }
}

/// `tier 2 + host tools` from a platform-support.md row, worded like [`tier_label`].
fn doc_tier_label(row: &crate::model::rust_status::TierRow) -> String {
    let host = if row.host_tools && row.tier < 3 {
        " + host tools"
    } else {
        ""
    };
    format!("tier {}{host}", row.tier)
}

fn same_tier(doc: &crate::model::rust_status::TierRow, cell: &Tier) -> bool {
    cell.tier == Some(doc.tier) && (doc.tier >= 3 || cell.host_tools == Some(doc.host_tools))
}

/// `rustc 1.96` from `rustc 1.96.0`.
fn short_compiler(source: &str) -> String {
    match source.rsplit_once(' ') {
        Some((name, version)) => match version.parse::<crate::model::RustVersion>() {
            Ok(v) => format!("{name} {}", v.short()),
            Err(_) => source.to_string(),
        },
        None => source.to_string(),
    }
}

/// The details' sentence on tiers: upstream's (newest document read) and the
/// cell's compiler's, each with where it comes from.
pub fn tier_details(view: &PlatformView<'_>) -> String {
    let doc = view.rust.tier_label().map(|t| {
        format!(
            "{t} (platform-support.md of Rust {})",
            view.rust
                .tier_release
                .map(|r| r.to_string())
                .unwrap_or_default()
        )
    });
    let cell = view.tier.map(|t| {
        format!(
            "{}{}{} (as stated by {})",
            tier_label(Some(t)),
            t.std
                .map(|s| if s { ", std" } else { ", no std" })
                .unwrap_or(""),
            t.description
                .as_deref()
                .map(|d| format!(", “{d}”"))
                .unwrap_or_default(),
            t.source
        )
    });
    match (doc, cell) {
        (Some(d), Some(c)) => format!("{d}; the compiler that built the cell: {c}"),
        (Some(d), None) => d,
        (None, Some(c)) => c,
        (None, None) => "tier not known yet (no cell has run)".into(),
    }
}

/// `Rust pkg 1.96 (rustc-web): can build`: the grid cell's line on packaged Rust.
pub fn packaged_line(rust: &PlatformRust) -> String {
    let verdict = match &rust.verdict {
        Verdict::CanBuild { .. } => "can build",
        Verdict::TooOld { .. } => "too old",
        Verdict::Unknown(_) => "unknown",
        Verdict::Built { tests: None, .. } => "built it",
        Verdict::Built {
            tests: Some(Tested::Passed(_)),
            ..
        } => "built and tested it",
        Verdict::Built {
            tests: Some(Tested::Failed { .. }),
            ..
        } => "built it, tests failed",
        Verdict::Failed { .. } => "failed",
    };
    let verdict = match (&rust.verdict, &rust.by_versions_only) {
        (Verdict::CanBuild { .. } | Verdict::TooOld { .. }, Some(_)) => {
            format!("{verdict} (by versions)")
        }
        _ => verdict.to_string(),
    };
    match &rust.packaged {
        Some(p) => format!("OS Rust {} ({}): {verdict}", p.rust.short(), p.name),
        None => format!("OS Rust: {verdict}"),
    }
}

/// The details' sentence on packaged Rust: package, version, channel, source, date and verdict.
pub fn packaged_details(rust: &PlatformRust) -> String {
    let packaged = match &rust.packaged {
        Some(p) => format!(
            "{} {} ({}; read from {} on {}{})",
            p.name,
            p.version,
            p.channel,
            p.source,
            &p.fetched[..p.fetched.len().min(10)],
            rust.stale_since
                .as_ref()
                .map(|s| format!("; stale since {}", &s[..s.len().min(10)]))
                .unwrap_or_default()
        ),
        None => "none known".to_string(),
    };
    let incomplete = rust
        .incomplete
        .as_ref()
        .map(|why| format!(" ({why})"))
        .unwrap_or_default();
    let versions_only = rust
        .by_versions_only
        .as_ref()
        .map(|why| format!(" ({why})"))
        .unwrap_or_default();
    format!(
        "Packaged Rust: {packaged}; verdict: {}{versions_only}.{incomplete}",
        rust.verdict.label()
    )
}

/// One-word summary of a test cell: `12/12 passed`, `3 failed`.
pub fn test_summary(cell: &CellResult) -> Option<String> {
    if cell.tests.is_empty() {
        return None;
    }
    let c = cell.test_counts();
    let total = c.passed + c.failed + c.expected_fail + c.flaky;
    let mut summary = if c.failed > 0 {
        format!("{} of {total} failed", c.failed)
    } else {
        format!("{}/{total} passed", c.passed)
    };
    if c.flaky > 0 {
        summary.push_str(&format!(", {} flaky", c.flaky));
    }
    Some(summary)
}

/// The tests a maintainer should look at even in a passing cell: hung
/// (killed at their limit), flaky (passed only on a rerun) and slow (past
/// half their limit), one line each: `(symbol, kind, name, what)`.
pub fn notable_tests(cell: &CellResult) -> Vec<(&'static str, &'static str, String, String)> {
    use crate::results::TestOutcome;
    let mut out = Vec::new();
    for t in &cell.tests {
        let first_line = |o: &Option<String>| {
            o.as_deref()
                .and_then(|o| o.lines().find(|l| !l.trim().is_empty()))
                .unwrap_or("")
                .trim()
                .to_string()
        };
        if t.outcome == TestOutcome::Timeout {
            // Why it was stopped, and the last line it printed when there is one.
            let lines: Vec<&str> = t
                .output
                .as_deref()
                .unwrap_or("")
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            let what = match lines.as_slice() {
                [first, .., last] if first.ends_with(':') => format!("{first} {last}"),
                _ => first_line(&t.output),
            };
            out.push(("⏱️", "hung", t.name.clone(), what));
        } else if t.outcome == TestOutcome::Flaky {
            out.push((
                "🔁",
                "flaky",
                t.name.clone(),
                t.passes_of_attempts().unwrap_or_default(),
            ));
        } else if t.is_slow() {
            out.push((
                "🐢",
                "slow",
                t.name.clone(),
                format!(
                    "{:.1}s of its {:.0}s limit",
                    t.duration_secs.unwrap_or(0.0),
                    t.limit_secs.unwrap_or(0.0)
                ),
            ));
        }
    }
    out
}

/// Flaky tests among a platform's cells: `(count, "name on test@lane", …)`.
pub fn flaky_tests(view: &PlatformView<'_>) -> Vec<String> {
    view.cells
        .values()
        .flat_map(|c| {
            c.tests
                .iter()
                .filter(|t| t.outcome == crate::results::TestOutcome::Flaky)
                .map(move |t| {
                    format!(
                        "{} on {}@{}, {}",
                        t.name,
                        c.stage,
                        c.lane,
                        t.passes_of_attempts().unwrap_or_default()
                    )
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_table_matches_its_golden_file() {
        let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("test-data/report-small/results.json");
        let results = ResultsFile::load(&data).unwrap();
        expect_test::expect_file!["../../test-data/report-small/table.txt"]
            .assert_eq(&table::text(&results.cells));
    }
}
