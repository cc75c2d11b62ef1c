//! The table printed at the end of `cargo xtask matrix`, in three formats.

use std::fmt::Write;

use crate::results::{CellResult, Status};

/// Plain text for a terminal: one row per cell.
pub fn text(cells: &[CellResult]) -> String {
    let headers = ["CELL", "STATUS", "TIER", "TIME", "DETAIL"];
    let rows: Vec<[String; 5]> = cells
        .iter()
        .map(|c| {
            [
                c.id.clone(),
                c.status.to_string(),
                c.tier
                    .as_ref()
                    .and_then(|t| t.tier)
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "?".into()),
                format!("{:.1}s", c.duration_secs),
                detail(c),
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()).take(4) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cols: [&str; 5]| {
        for (i, col) in cols.iter().enumerate() {
            if i == 4 {
                let _ = write!(out, "{col}");
            } else {
                let _ = write!(out, "{col:<w$}  ", w = widths[i]);
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
    };
    line(&mut out, headers);
    for row in &rows {
        line(&mut out, [&row[0], &row[1], &row[2], &row[3], &row[4]]);
    }
    out
}

/// What a reader needs to act on a cell, in one line.
pub fn detail(c: &CellResult) -> String {
    let mut parts = Vec::new();
    if let Some(summary) = super::test_summary(c) {
        parts.push(summary);
    }
    match c.status {
        Status::Pass => {
            if c.provenance.reused_from.is_some() {
                parts.push("unchanged since last run".into());
            }
        }
        Status::Unavailable => {
            if let Some(r) = &c.reason {
                parts.push(r.clone());
            }
            if let Some(e) = &c.enable {
                parts.push(format!("enable: {e}"));
            }
        }
        // An MSRV cell's reason names the crate, as `msrv --verify` does.
        Status::Fail if c.lane.is_msrv() && c.reason.is_some() => {
            parts.push(c.reason.clone().unwrap_or_default());
        }
        _ => {
            if let Some(d) = &c.first_error {
                parts.push(d.short());
            } else if let Some(r) = &c.reason {
                parts.push(r.lines().next().unwrap_or("").to_string());
            }
            if let Some(link) = &c.link {
                parts.push(link.clone());
            }
        }
    }
    parts.join("; ")
}

pub fn json(cells: &[CellResult]) -> String {
    let mut text = serde_json::to_string_pretty(cells).unwrap_or_default();
    text.push('\n');
    text
}

pub fn markdown(cells: &[CellResult]) -> String {
    let mut out = String::from("| cell | status | tier | time | detail |\n|---|---|---|---|---|\n");
    for c in cells {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {:.1}s | {} |",
            c.id,
            c.status,
            c.tier
                .as_ref()
                .and_then(|t| t.tier)
                .map(|t| t.to_string())
                .unwrap_or_else(|| "?".into()),
            c.duration_secs,
            super::markdown::escape(&detail(c))
        );
    }
    out
}
