//! Rendering results: the terminal table at the end of a run, and the
//! published report (`reports/`: Markdown, one self-contained HTML page, JSON).
//!
//! Everything here is a pure function of the model and the results, so the
//! output is reproducible and golden-tested.

pub mod html;
pub mod junit;
pub mod markdown;
pub mod report;
pub mod table;

use std::collections::BTreeMap;

use crate::model::{Lane, Model, Platform, Stage};
use crate::platform_data::status::{platform_rust, PlatformRust, Verdict};
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
}

pub struct Row<'a> {
    pub os_display: String,
    pub release: String,
    pub release_display: String,
    /// Indexed like `Grid::arches`; `None` where the release has no such platform.
    pub cells: Vec<Option<PlatformView<'a>>>,
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
            let rust = platform_rust(model, p, results.workspace.rust_version.as_deref());
            row.cells[col] = Some(PlatformView {
                platform: p,
                tier,
                cells,
                rust,
            });
        }
        Grid {
            arches,
            rows,
            generated_from: results,
        }
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

/// The grid's tier: as a cell's compiler stated it, else platform-support.md's (from `platforms refresh`).
pub fn tier_line(view: &PlatformView<'_>) -> String {
    match (view.tier, view.rust.tier_label()) {
        (None, Some(doc)) => doc,
        (tier, _) => tier_label(tier),
    }
}

/// `Rust pkg 1.96 (rustc-web): can build`: the grid cell's line on packaged Rust.
pub fn packaged_line(rust: &PlatformRust) -> String {
    let verdict = match &rust.verdict {
        Verdict::CanBuild { .. } => "can build",
        Verdict::TooOld { .. } => "too old",
        Verdict::Unknown(_) => "unknown",
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
    format!(
        "Packaged Rust: {packaged}; verdict: {}.{incomplete}",
        rust.verdict.label()
    )
}

/// One-word summary of a test cell: `12/12 passed`, `3 failed`.
pub fn test_summary(cell: &CellResult) -> Option<String> {
    if cell.tests.is_empty() {
        return None;
    }
    let c = cell.test_counts();
    let total = c.passed + c.failed + c.expected_fail;
    Some(if c.failed > 0 {
        format!("{} of {total} failed", c.failed)
    } else {
        format!("{}/{total} passed", c.passed)
    })
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
