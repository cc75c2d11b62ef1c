//! The report's history section: per cell, since when it is in its state
//! and, when it fails, the last commit where it passed (from `history.jsonl`).

use std::collections::BTreeMap;
use std::fmt::Write;

use super::html::escape;
use crate::history::{self, short_commit, Run, Since};
use crate::results::Status;

fn at(date: &str, commit: Option<&str>) -> String {
    format!("{date} ({})", short_commit(commit))
}

/// One row per cell: id, state, since, last pass.
fn rows(history: &[Run]) -> Vec<(String, Status, String, String)> {
    let since: BTreeMap<String, Since> = history::since(history);
    since
        .into_iter()
        .map(|(id, s)| {
            let runs = if s.runs == 1 {
                "1 run".to_string()
            } else {
                format!("{} runs", s.runs)
            };
            let last = match (&s.last_pass, s.status) {
                (_, Status::Pass) => String::new(),
                (Some((date, commit)), _) => at(date, commit.as_deref()),
                (None, status) if is_failure(status) => "never in this history".to_string(),
                (None, _) => String::new(),
            };
            (
                id,
                s.status,
                format!("{}, {runs}", at(&s.since_date, s.since_commit.as_deref())),
                last,
            )
        })
        .collect()
}

fn is_failure(s: Status) -> bool {
    matches!(s, Status::Fail | Status::Timeout)
}

/// The Markdown section, or nothing without a history.
pub fn markdown(history: &[Run]) -> String {
    if history.is_empty() {
        return String::new();
    }
    let rows = rows(history);
    let mut out = String::new();
    let _ = writeln!(out, "\n## History\n");
    let _ = writeln!(
        out,
        "{} runs in `{}` (append-only, beside this report), the newest {}.\n",
        history.len(),
        history::FILE_NAME,
        at(
            &history[history.len() - 1].date,
            history[history.len() - 1].commit.as_deref()
        )
    );
    let failing: Vec<_> = rows.iter().filter(|r| is_failure(r.1)).collect();
    if !failing.is_empty() {
        let _ = writeln!(
            out,
            "Failing now, with the last commit where each passed:\n"
        );
        for (id, status, since, last) in &failing {
            let _ = writeln!(out, "- `{id}` {status} since {since}; last passed {last}");
        }
        out.push('\n');
    }
    let _ = writeln!(out, "| cell | state | since | last passed |");
    let _ = writeln!(out, "|---|---|---|---|");
    for (id, status, since, last) in &rows {
        let _ = writeln!(out, "| `{id}` | {status} | {since} | {last} |");
    }
    out
}

/// The HTML section, or nothing without a history.
pub fn html(history: &[Run]) -> String {
    if history.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    let _ = write!(
        out,
        "<section id=\"history\"><h2>History</h2><p>{} runs in <code>{}</code> (append-only, beside this report).</p>\
         <table class=\"history\"><thead><tr><th>cell</th><th>state</th><th>since</th><th>last passed</th></tr></thead><tbody>",
        history.len(),
        history::FILE_NAME
    );
    for (id, status, since, last) in rows(history) {
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td class=\"s-{status}\">{status}</td><td>{}</td><td>{}</td></tr>",
            escape(&id),
            escape(&since),
            escape(&last)
        );
    }
    out.push_str("</tbody></table></section>\n");
    out
}

/// `html` with the section placed before the page's closing `</body>`.
pub fn insert_html(page: &str, history: &[Run]) -> String {
    let section = html(history);
    if section.is_empty() {
        return page.to_string();
    }
    match page.rfind("</body>") {
        Some(i) => format!("{}{section}{}", &page[..i], &page[i..]),
        None => format!("{page}{section}"),
    }
}
