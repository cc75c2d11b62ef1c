//! `reports/status.html`: one self-contained page (inline style and a few
//! lines of inline script, nothing to fetch) for a porter who opens it cold:
//! what the page is, a grid of OS/release × architecture coloured by status,
//! and a detail view per platform and cell.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::markdown::anchor;
use super::{packaged_details, packaged_line, test_summary, tier_line, Grid, PlatformView};
use crate::model::Stage;
use crate::platform_data::status::PlatformRust;
use crate::results::{CellResult, Status, TestOutcome, Tier};

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Terminal colour codes and other controls mean nothing in a page.
            c if c.is_control() && c != '\n' && c != '\t' => {}
            _ => out.push(c),
        }
    }
    out
}

fn class(status: Option<Status>) -> &'static str {
    match status {
        Some(Status::Pass) => "pass",
        Some(Status::Fail) => "fail",
        Some(Status::ExpectedFail) => "xfail",
        Some(Status::Timeout) => "timeout",
        Some(Status::Skipped) => "skipped",
        Some(Status::Unavailable) => "unavailable",
        Some(Status::NotRun) => "skipped",
        None => "none",
    }
}

/// A symbol beside every status word, so that nothing depends on colour alone.
fn symbol(status: Status) -> &'static str {
    match status {
        Status::Pass => "✓",
        Status::Fail => "✗",
        Status::ExpectedFail => "!",
        Status::Timeout => "◷",
        Status::Skipped => "–",
        Status::Unavailable => "⊘",
        Status::NotRun => "○",
    }
}

fn label(status: Status) -> &'static str {
    match status {
        Status::Pass => "pass",
        Status::Fail => "fail",
        Status::ExpectedFail => "expected failure",
        Status::Timeout => "timeout",
        Status::Skipped => "skipped",
        Status::Unavailable => "unavailable",
        Status::NotRun => "not run",
    }
}

const STYLE: &str = r#"
:root { --pass: #dcf5e0; --pass-ink: #176f2c; --fail: #fbd9d9; --fail-ink: #b3261e; --xfail: #fff1c2; --xfail-ink: #7a5200;
  --timeout: #f3dcf7; --timeout-ink: #7b1f8f; --na: #eceff2; --na-ink: #4f5962; --line: #c8ccd0; }
body { font: 15px/1.45 system-ui, sans-serif; margin: 1.5rem auto; max-width: 80rem; padding: 0 1rem; color: #1b1f24; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { margin-top: 2.5rem; } h3 { margin: 0; font-size: 1.15rem; }
code { font-size: .9em; } a { color: #0b57d0; }
.lead { color: #3d4650; max-width: 60rem; }
.chips span { display: inline-block; margin: .15rem .4rem .15rem 0; padding: .05rem .5rem; border-radius: .8rem; border: 1px solid var(--line); }
table.grid { border-collapse: collapse; width: 100%; margin-top: 1rem; table-layout: fixed; }
table.grid th, table.grid td { border: 1px solid var(--line); padding: .35rem; vertical-align: top; text-align: left; }
table.grid thead th { background: #f6f8fa; } table.grid tbody th { width: 11rem; background: #f6f8fa; }
table.grid td a { color: inherit; text-decoration: none; display: block; min-height: 3rem; }
table.grid td a:hover, table.grid td a:focus { outline: 2px solid #0b57d0; outline-offset: -2px; }
td.pass, .c-pass { background: var(--pass); } td.fail, .c-fail { background: var(--fail); } td.xfail, .c-xfail { background: var(--xfail); }
td.timeout, .c-timeout { background: var(--timeout); } td.unavailable, td.skipped, .c-unavailable, .c-skipped { background: var(--na); }
td.none { background: #fafafa; color: #8a9199; } td.empty { background: repeating-linear-gradient(45deg, #fff, #fff 6px, #f4f5f7 6px, #f4f5f7 12px); }
.badge { display: inline-block; font-size: .75rem; padding: 0 .4rem; border-radius: .6rem; background: #24292f; color: #fff; max-width: 100%; box-sizing: border-box; }
.eol { font-size: .75rem; font-weight: normal; color: #9a6700; } .eol.life-eol { color: #cf222e; }
.badge.t2 { background: #44505c; } .badge.t3, .badge.t- { background: #8a9199; }
.pkg { display: inline-block; font-size: .75rem; padding: 0 .4rem; border-radius: .6rem; border: 1px solid #8a9199; max-width: 100%; box-sizing: border-box; }
.pkg.ok { border-color: var(--pass-ink); color: var(--pass-ink); } .pkg.bad { border-color: var(--fail-ink); color: var(--fail-ink); }
.st { display: block; font-size: .82rem; }
.s-pass { color: var(--pass-ink); } .s-fail { color: var(--fail-ink); font-weight: 600; } .s-expected-fail { color: var(--xfail-ink); }
.s-timeout { color: var(--timeout-ink); font-weight: 600; } .s-unavailable, .s-skipped, .s-not-run { color: var(--na-ink); }
section.platform { border: 1px solid var(--line); border-radius: .4rem; padding: .8rem 1rem; margin: 1.2rem 0; }
section.platform:target { outline: 3px solid #0b57d0; }
section.platform > header { display: flex; flex-wrap: wrap; gap: .5rem; align-items: baseline; }
pre { background: #f4f5f7; padding: .6rem; overflow-x: auto; font-size: .8rem; max-height: 24rem; white-space: pre-wrap; }
details.cell { margin: .5rem 0; border-left: 4px solid var(--line); padding-left: .6rem; }
details.cell[data-status=pass] { border-color: var(--pass-ink); } details.cell[data-status=fail] { border-color: var(--fail-ink); }
details.cell[data-status=timeout] { border-color: var(--timeout-ink); } details.cell[data-status=expected-fail] { border-color: var(--xfail-ink); }
summary { cursor: pointer; } .why { color: #5c6670; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .1rem .8rem; margin: .4rem 0; }
dt { color: #5c6670; } dd { margin: 0; overflow-wrap: anywhere; }
table.tests, table.runs { border-collapse: collapse; font-size: .85rem; margin: .4rem 0; }
table.tests td, table.tests th, table.runs td, table.runs th { border-bottom: 1px solid #e3e6e8; padding: .1rem .6rem .1rem 0; text-align: left; }
.filter { margin: 1rem 0 0; }
body:has(#problems:checked) details.cell[data-status=pass] { display: none; }
"#;

/// Opens every non-passing cell of the platform a link points to, so that a
/// click on a grid cell lands on what needs reading. The page works without it.
const SCRIPT: &str = r#"
(function () {
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var section = id && document.getElementById(id);
    if (!section) return;
    section.querySelectorAll('details.cell').forEach(function (d) {
      if (d.getAttribute('data-status') !== 'pass') d.open = true;
    });
  }
  window.addEventListener('hashchange', openTarget);
  openTarget();
  document.documentElement.setAttribute('data-script', 'ran');
})();
"#;

pub fn render(grid: &Grid<'_>) -> String {
    let mut out = String::new();
    let results = grid.generated_from;
    let name = escape(&results.workspace.name);
    let _ = writeln!(out, "<!DOCTYPE html>\n<!-- Generated by `cargo xtask report` from the matrix results; do not edit. -->");
    let _ = writeln!(
        out,
        "<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Support status: {name}</title>"
    );
    let _ = writeln!(out, "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>{STYLE}</style></head><body>");
    let _ = writeln!(out, "<h1>Support status: <code>{name}</code></h1>");
    let _ = writeln!(
        out,
        "<p class=\"lead\">Where this workspace builds and passes its tests, by operating system, release and architecture. \
         Each cell of the grid is one platform: <b>check</b> type-checks every target, <b>build</b> links the test and binary \
         executables, <b>test</b> runs them on the CI machine itself (<i>host</i>), under user-mode emulation (<i>qemu-user</i>) \
         or inside a guest of that OS (<i>vm</i>). The badge is upstream Rust's support tier for the target, as the compiler \
         states it. Select a cell for the details: what ran, with which toolchain, on which machine, and the first error.</p>"
    );
    let counts = grid.counts();
    let total: usize = counts.values().sum();
    let hosts: BTreeSet<&str> = results
        .cells
        .iter()
        .flat_map(|c| {
            std::iter::once(c.provenance.host.as_str()).chain(
                c.other_provenances
                    .iter()
                    .map(|o| o.provenance.host.as_str()),
            )
        })
        .collect();
    let _ = write!(out, "<p class=\"chips\"><span>{total} cells</span>");
    for (status, n) in &counts {
        let _ = write!(
            out,
            "<span class=\"c-{}\">{} {n} {}</span>",
            class(Some(*status)),
            symbol(*status),
            label(*status)
        );
    }
    let _ = writeln!(
        out,
        "<span>from {} machine{}</span><span>newest result {}</span></p>",
        hosts.len(),
        if hosts.len() == 1 { "" } else { "s" },
        escape(grid.newest().unwrap_or("none"))
    );
    if let Some(note) = &grid.tiers_note {
        let _ = writeln!(out, "<p class=\"tiers\">{}</p>", escape(note));
    }
    let warnings = grid.lifecycle_warnings();
    if !warnings.is_empty() {
        let _ = write!(
            out,
            "<p class=\"lifecycle\">Lifecycle, as of the newest result ({}):</p><ul class=\"lifecycle\">",
            grid.judged_on.map(|d| d.to_string()).unwrap_or_default()
        );
        for w in &warnings {
            let _ = write!(out, "<li>{}</li>", escape(w));
        }
        let _ = writeln!(out, "</ul>");
    }
    let _ = writeln!(
        out,
        "<p class=\"chips\">Legend: <span class=\"c-pass\">✓ pass</span><span class=\"c-fail\">✗ fail</span>\
         <span class=\"c-xfail\">! expected failure (known, tracked)</span><span class=\"c-timeout\">◷ timeout</span>\
         <span class=\"c-skipped\">– skipped (with the reason)</span><span class=\"c-unavailable\">⊘ unavailable: \
         the machine that ran the matrix could not run it (the details say how to enable it)</span>. \
         A cell's colour is its worst status.</p>"
    );
    let _ = write!(
        out,
        "<table class=\"grid\"><thead><tr><th>OS / release</th>"
    );
    for arch in &grid.arches {
        let _ = write!(out, "<th>{}</th>", escape(arch));
    }
    let _ = writeln!(out, "</tr></thead><tbody>");
    for row in &grid.rows {
        match row.lifecycle_mark() {
            Some(mark) => {
                let _ = write!(
                    out,
                    "<tr><th>{}<br><span class=\"eol life-{}\">{}</span></th>",
                    escape(&row.release_display),
                    row.support.as_ref().map(|s| s.word()).unwrap_or_default(),
                    escape(&mark)
                );
            }
            None => {
                let _ = write!(out, "<tr><th>{}</th>", escape(&row.release_display));
            }
        }
        for cell in &row.cells {
            match cell {
                None => out.push_str("<td class=\"empty\" title=\"not in the matrix\"></td>"),
                Some(view) => grid_cell(&mut out, view),
            }
        }
        let _ = writeln!(out, "</tr>");
    }
    let _ = writeln!(out, "</tbody></table>");
    let _ = writeln!(
        out,
        "<h2>Details</h2>\n<p class=\"filter\"><label><input type=\"checkbox\" id=\"problems\"> show only cells that did not pass</label></p>"
    );
    for row in &grid.rows {
        for view in row.cells.iter().flatten() {
            details(&mut out, view);
        }
    }
    let _ = writeln!(out, "<script>{SCRIPT}</script>\n</body></html>");
    out
}

fn tier_class(tier: Option<&Tier>) -> String {
    match tier.and_then(|t| t.tier) {
        Some(n) => format!("t{n}"),
        None => "t-".into(),
    }
}

/// The OS's packaged Rust and its verdict for this workspace, as a badge.
fn packaged_badge(rust: &PlatformRust) -> String {
    let class = match rust.verdict.word() {
        "can-build" => "ok",
        "too-old" | "cannot-build" => "bad",
        _ => "",
    };
    format!(
        "<span class=\"pkg {class} rust-{}\" title=\"{}\">{}</span>",
        rust.verdict.word(),
        escape(&packaged_details(rust)),
        escape(&packaged_line(rust))
    )
}

fn grid_cell(out: &mut String, view: &PlatformView<'_>) {
    let overall = view.overall();
    let _ = write!(
        out,
        "<td class=\"{}\" data-platform=\"{}\" data-status=\"{}\"><a href=\"#{}\"><span class=\"badge {}\">{}</span> ",
        class(overall),
        escape(&view.platform.id),
        overall.map(Status::as_str).unwrap_or("not-run"),
        anchor(&view.platform.id),
        tier_class(view.tier),
        escape(&tier_line(view))
    );
    out.push_str(&packaged_badge(&view.rust));
    if view.cells.is_empty() {
        out.push_str("<span class=\"st\">not run yet</span>");
    }
    for ((stage, lane), cell) in &view.cells {
        let what = if *stage == Stage::Test || lane.is_msrv() {
            format!("{stage} {lane}")
        } else {
            stage.to_string()
        };
        let count = test_summary(cell)
            .map(|s| format!(" ({s})"))
            .unwrap_or_default();
        let _ = write!(
            out,
            "<span class=\"st s-{}\">{} {}: {}{}</span>",
            cell.status,
            symbol(cell.status),
            escape(&what),
            label(cell.status),
            escape(&count)
        );
    }
    out.push_str("</a></td>");
}

fn details(out: &mut String, view: &PlatformView<'_>) {
    let p = view.platform;
    let _ = writeln!(
        out,
        "<section class=\"platform\" id=\"{}\" data-platform=\"{}\"><header><h3>{} · {}</h3><code>{}</code><span class=\"badge {}\">{}</span>{}</header>",
        anchor(&p.id),
        escape(&p.id),
        escape(&p.release_display),
        escape(&p.arch),
        escape(&p.target),
        tier_class(view.tier),
        escape(&tier_line(view)),
        packaged_badge(&view.rust)
    );
    out.push_str("<dl>");
    let tier = if view.tier.is_none() && view.rust.tier_label().is_none() {
        "not known yet (no cell has run)".to_string()
    } else {
        super::tier_details(view)
    };
    let _ = write!(out, "<dt>upstream Rust</dt><dd>{}</dd>", escape(&tier));
    let _ = write!(
        out,
        "<dt>packaged Rust</dt><dd class=\"rust-{}\">{}</dd>",
        view.rust.verdict.word(),
        escape(packaged_details(&view.rust).trim_start_matches("Packaged Rust: "))
    );
    if let Some(image) = &p.vm_image {
        let _ = write!(
            out,
            "<dt>guest image</dt><dd><code>{}</code> (vm-images/)</dd>",
            escape(image)
        );
    }
    let _ = write!(
        out,
        "<dt>reproduce</dt><dd><code>cargo xtask matrix --platform {}</code></dd>",
        escape(&p.id)
    );
    out.push_str("</dl>\n");
    if view.cells.is_empty() {
        let _ = writeln!(out, "<p>No results yet.</p>");
    }
    let flaky = super::flaky_tests(view);
    if !flaky.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"flaky\">🔁 Flaky tests on this platform: {} ({})</p>",
            flaky.len(),
            escape(&flaky.join("; "))
        );
    }
    for cell in view.cells.values() {
        cell_details(out, cell);
    }
    out.push_str("</section>\n");
}

fn cell_details(out: &mut String, cell: &CellResult) {
    let open = if cell.status.is_unexpected_failure() {
        " open"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "<details class=\"cell\" data-cell=\"{}\" data-status=\"{}\"{open}><summary><span class=\"s-{}\">{} {}</span> \
         <b>{}</b> on the <b>{}</b> lane — {:.1}s{}{}</summary><dl>",
        escape(&cell.id),
        cell.status,
        cell.status,
        symbol(cell.status),
        label(cell.status),
        cell.stage,
        cell.lane,
        cell.duration_secs,
        test_summary(cell).map(|s| format!(", {}", escape(&s))).unwrap_or_default(),
        summary_reason(cell)
    );
    let mut row = |k: &str, v: &str| {
        let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", escape(k), escape(v));
    };
    row("cell", &cell.id);
    if let Some(r) = &cell.reason {
        row(
            if cell.status == Status::ExpectedFail {
                "known failure"
            } else {
                "reason"
            },
            r,
        );
    }
    if let Some(l) = &cell.link {
        row("tracked at", l);
    }
    if let Some(e) = &cell.enable {
        row("to enable", e);
    }
    if let Some(first) = first_error(cell) {
        row("first error", &first);
    }
    if !cell.tests.is_empty() {
        let c = cell.test_counts();
        let mut counts = format!(
            "{} passed, {} failed, {} expected failures, {} ignored",
            c.passed, c.failed, c.expected_fail, c.ignored
        );
        if c.flaky > 0 {
            counts.push_str(&format!(", {} flaky", c.flaky));
        }
        if c.slow > 0 {
            counts.push_str(&format!(", {} slow", c.slow));
        }
        row("tests", &counts);
    }
    for (symbol, kind, name, what) in super::notable_tests(cell) {
        row(&format!("{symbol} {kind}"), &format!("{name} — {what}"));
    }
    for p in cell.packages.iter().filter(|p| p.status == Status::Skipped) {
        row(
            "excluded",
            &format!("{}: {}", p.name, p.reason.as_deref().unwrap_or("")),
        );
    }
    let prov = &cell.provenance;
    if let Some(t) = &prov.toolchain {
        row(
            "toolchain",
            &format!("{t} — {}", prov.rustc.as_deref().unwrap_or("")),
        );
    }
    if let Some(c) = &prov.cargo {
        row("cargo", c);
    }
    if let Some(l) = &prov.linker {
        row("linker", l);
    }
    for (k, v) in &prov.details {
        row(k, v);
    }
    row("machine", &prov.host);
    row("finished", &prov.date);
    if let Some(r) = &prov.reused_from {
        row("reused", &format!("unchanged inputs; first obtained {r}"));
    }
    out.push_str("</dl>\n");
    tests_table(out, cell);
    if let Some(rendered) = cell
        .first_error
        .as_ref()
        .and_then(|d| d.rendered.as_deref())
    {
        let _ = writeln!(out, "<p>Compiler error</p><pre>{}</pre>", escape(rendered));
    } else if let Some(t) = &cell.output_tail {
        let _ = writeln!(out, "<p>Output (end)</p><pre>{}</pre>", escape(t));
    }
    if let Some(t) = &cell.console_tail {
        let _ = writeln!(out, "<p>Guest console (end)</p><pre>{}</pre>", escape(t));
    }
    other_runs(out, cell);
    out.push_str("</details>\n");
}

/// For a cell that did not pass, the first line of why, so that the closed
/// summary already says it.
fn summary_reason(cell: &CellResult) -> String {
    if cell.status == Status::Pass {
        return String::new();
    }
    let Some(line) = cell
        .reason
        .as_deref()
        .and_then(|r| r.lines().next())
        .filter(|l| !l.is_empty())
    else {
        return String::new();
    };
    let mut short: String = line.chars().take(140).collect();
    if short.len() < line.len() {
        short.push('…');
    }
    format!(" <span class=\"why\">— {}</span>", escape(&short))
}

/// The first thing that went wrong: the compiler's first error, else the first failing test.
fn first_error(cell: &CellResult) -> Option<String> {
    if let Some(d) = &cell.first_error {
        return Some(d.short());
    }
    let t = cell
        .tests
        .iter()
        .find(|t| matches!(t.outcome, TestOutcome::Fail | TestOutcome::Timeout))?;
    let line = t.output.as_deref().and_then(|o| {
        o.lines()
            .find(|l| !l.trim().is_empty() && !l.starts_with("thread "))
    });
    Some(match line {
        Some(l) => format!("{} {}: {}", t.name, t.outcome_label(), l.trim()),
        None => format!("{} {}", t.name, t.outcome_label()),
    })
}

/// Every test with its outcome; the output of failing and expected-failing ones below.
fn tests_table(out: &mut String, cell: &CellResult) {
    if cell.tests.is_empty() {
        return;
    }
    out.push_str("<table class=\"tests\"><thead><tr><th>test</th><th>executable</th><th>outcome</th><th>time</th></tr></thead><tbody>");
    for t in &cell.tests {
        let st = match t.outcome {
            TestOutcome::Pass => "pass",
            TestOutcome::Fail => "fail",
            TestOutcome::ExpectedFail => "expected-fail",
            TestOutcome::Ignored => "skipped",
            TestOutcome::Timeout => "timeout",
            TestOutcome::Flaky => "expected-fail",
        };
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td>{}::{}</td><td class=\"s-{st}\">{}</td><td>{}</td></tr>",
            escape(&t.name),
            escape(&t.package),
            escape(&t.binary),
            escape(&t.describe()),
            t.duration_secs.map(|d| format!("{d:.3}s")).unwrap_or_default()
        );
    }
    out.push_str("</tbody></table>\n");
    for t in cell.tests.iter().filter(|t| t.output.is_some()).take(10) {
        let _ = writeln!(
            out,
            "<p>{} <code>{}</code></p><pre>{}</pre>",
            t.outcome_label(),
            escape(&t.name),
            escape(t.output.as_deref().unwrap_or(""))
        );
    }
}

/// Results of other runs that a merge kept beside the one shown.
fn other_runs(out: &mut String, cell: &CellResult) {
    if cell.other_provenances.is_empty() {
        return;
    }
    let disagree = cell
        .other_provenances
        .iter()
        .any(|o| o.status != cell.status);
    let _ = write!(
        out,
        "<p>Also seen by {} other run{}{}:</p><table class=\"runs\"><thead><tr><th>status</th><th>machine</th><th>finished</th><th>toolchain</th><th>reason</th></tr></thead><tbody>",
        cell.other_provenances.len(),
        if cell.other_provenances.len() == 1 { "" } else { "s" },
        if disagree { " — <b>the runs disagree</b>; the newest is shown above" } else { "" }
    );
    for o in &cell.other_provenances {
        let _ = write!(
            out,
            "<tr><td class=\"s-{}\">{} {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            o.status,
            symbol(o.status),
            label(o.status),
            escape(&o.provenance.host),
            escape(&o.provenance.date),
            escape(
                &[
                    o.provenance.toolchain.as_deref(),
                    o.provenance.rustc.as_deref()
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" — ")
            ),
            escape(o.reason.as_deref().unwrap_or(""))
        );
    }
    out.push_str("</tbody></table>\n");
}
