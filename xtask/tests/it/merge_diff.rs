//! `cargo xtask report merge` and `report diff`, data-driven: each case in
//! `test-data/merge/` and `test-data/diff/` lists results files in a compact
//! line format; the test writes them as real results files, runs the built
//! binary on them, and compares what it prints (or merges) with the case's
//! `expected` section (`UPDATE_EXPECT=1` rewrites those).
//!
//! A cell line is `<cell-id> <status> <date> [tests=name:outcome,…] [host=H] [# reason]`.

use std::path::Path;

use crate::report_support::{
    case_files, check_expected, data_small, data_small_dir, sections, stderr, stdout, xtask,
};
use xtask::report::merge::merge;
use xtask::results::{CellResult, ResultsFile, WorkspaceInfo};

/// Builds a results file from a case section; `host` defaults to the section's file stem.
fn results_from(section: &str, body: &str) -> ResultsFile {
    let model = data_small();
    let default_host = section.trim_end_matches(".json");
    let mut file = ResultsFile::new(WorkspaceInfo {
        name: "ws-basic".into(),
        root: format!("/ci/{default_host}/ws-basic"),
        rust_version: None,
    });
    for line in body.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (line, reason) = match line.split_once(" # ") {
            Some((l, r)) => (l, Some(r.to_string())),
            None => (line, None),
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        let (id, status, date) = (words[0], words[1], words[2]);
        let (platform, rest) = id.split_once('/').unwrap();
        let (stage, lane) = rest.split_once('@').unwrap();
        let p = model
            .platform(platform)
            .unwrap_or_else(|| panic!("{platform} is not in data-small"));
        let mut host = default_host.to_string();
        let mut tests = Vec::new();
        for w in &words[3..] {
            if let Some(h) = w.strip_prefix("host=") {
                host = h.to_string();
            } else if let Some(list) = w.strip_prefix("tests=") {
                for t in list.split(',') {
                    let (name, outcome) = t.rsplit_once(':').unwrap();
                    tests.push(serde_json::json!({"package": "demo", "binary": "demo", "name": name, "outcome": outcome}));
                }
            } else {
                panic!("unknown word `{w}` in `{line}`");
            }
        }
        let cell = serde_json::json!({
            "id": id, "platform": platform, "os": p.os, "release": p.release, "arch": p.arch, "target": p.target,
            "stage": stage, "lane": lane, "status": status, "reason": reason, "duration_secs": 1.0,
            "provenance": {"host": host, "date": date, "lane": lane},
            "tests": tests,
        });
        let cell: CellResult =
            serde_json::from_value(cell).unwrap_or_else(|e| panic!("bad cell line `{line}`: {e}"));
        file.upsert(cell);
    }
    file
}

/// One line per cell of a merged file, then one per other run kept beside it.
fn summary(merged: &ResultsFile) -> String {
    let mut out = String::new();
    for c in &merged.cells {
        out.push_str(&format!(
            "{}: {} by {} at {}\n",
            c.id, c.status, c.provenance.host, c.provenance.date
        ));
        for o in &c.other_provenances {
            out.push_str(&format!(
                "  also {} by {} at {}\n",
                o.status, o.provenance.host, o.provenance.date
            ));
        }
    }
    out
}

fn write(dir: &Path, name: &str, file: &ResultsFile) -> String {
    let path = dir.join(name);
    file.save(&path).unwrap();
    path.display().to_string()
}

#[test]
fn merge_fixtures_give_their_expected_merged_results() {
    let cases = case_files("merge");
    assert!(cases.len() >= 4, "merge cases are missing");
    let mut failures = Vec::new();
    for case in &cases {
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(case).unwrap();
        let inputs: Vec<(String, String)> = sections(&text)
            .into_iter()
            .filter(|(n, _)| n.ends_with(".json"))
            .collect();
        let out = dir.path().join("report");
        let data = data_small_dir();
        let mut args: Vec<String> = [
            "report",
            "merge",
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec();
        for (name, body) in &inputs {
            args.push(write(dir.path(), name, &results_from(name, body)));
        }
        let run = xtask(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
        assert_eq!(
            run.record.exit_code,
            Some(0),
            "{}: {}",
            case.display(),
            stderr(&run)
        );
        let merged = ResultsFile::load(&out.join("status.json")).unwrap();
        // Nothing is dropped: every run of every cell is either kept or listed.
        let seen: usize = inputs
            .iter()
            .map(|(n, b)| results_from(n, b).cells.len())
            .sum();
        let kept: usize = merged
            .cells
            .iter()
            .map(|c| 1 + c.other_provenances.len())
            .sum();
        assert_eq!(seen, kept, "{}: {seen} runs in, {kept} out", case.display());
        for name in ["status.md", "status.html"] {
            assert!(out.join(name).exists(), "merge renders {name}");
        }
        if let Err(e) = check_expected(case, &summary(&merged)) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn merging_a_merged_file_again_adds_no_duplicates() {
    let a = results_from(
        "runner-a.json",
        "linux-debian12-x86_64/test@host pass 2026-11-20T10:00:00Z",
    );
    let b = results_from(
        "runner-b.json",
        "linux-debian12-x86_64/test@host fail 2026-11-21T10:00:00Z",
    );
    let c = results_from(
        "runner-c.json",
        "linux-debian12-x86_64/test@host pass 2026-11-22T10:00:00Z",
    );
    let ab = merge(&[a.clone(), b.clone()]).unwrap();
    let again = merge(&[ab.clone(), c.clone(), ab.clone(), a.clone()]).unwrap();
    assert_eq!(again, merge(&[a, b, c]).unwrap());
    expect_test::expect![[r#"
        linux-debian12-x86_64/test@host: pass by runner-c at 2026-11-22T10:00:00Z
          also fail by runner-b at 2026-11-21T10:00:00Z
          also pass by runner-a at 2026-11-20T10:00:00Z
    "#]]
    .assert_eq(&summary(&again));
}

#[test]
fn merge_refuses_results_of_different_workspaces() {
    let a = results_from(
        "runner-a.json",
        "linux-debian12-x86_64/test@host pass 2026-11-20T10:00:00Z",
    );
    let mut b = a.clone();
    b.workspace.name = "other".into();
    let err = merge(&[a, b]).unwrap_err();
    assert!(
        err.to_string()
            .contains("different workspaces (ws-basic, other)"),
        "{err}"
    );
}

#[test]
fn diff_fixtures_report_regressions_and_exit_codes_as_expected() {
    let cases = case_files("diff");
    assert!(cases.len() >= 5, "diff cases are missing");
    let mut failures = Vec::new();
    for case in &cases {
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(case).unwrap();
        let body = |name: &str| {
            sections(&text)
                .into_iter()
                .find(|(n, _)| n == name)
                .map(|(_, b)| b)
                .unwrap_or_default()
        };
        let old = write(
            dir.path(),
            "old.json",
            &results_from("runner-old", &body("old")),
        );
        let new = write(
            dir.path(),
            "new.json",
            &results_from("runner-new", &body("new")),
        );
        let run = xtask(&["report", "diff", &old, &new], &[]);
        let got = format!("{}exit {}\n", stdout(&run), run.record.exit_code.unwrap());
        if let Err(e) = check_expected(case, &got) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn diff_against_a_missing_old_report() {
    let dir = tempfile::tempdir().unwrap();
    let new = write(
        dir.path(),
        "new.json",
        &results_from(
            "runner",
            "linux-debian12-x86_64/test@host fail 2026-11-20T10:00:00Z",
        ),
    );
    let missing = dir.path().join("none.json").display().to_string();
    let refused = xtask(&["report", "diff", &missing, &new], &[]);
    assert_ne!(refused.record.exit_code, Some(0));
    assert!(
        stderr(&refused).contains("none.json"),
        "{}",
        stderr(&refused)
    );
    let allowed = xtask(
        &["report", "diff", "--allow-missing-old", &missing, &new],
        &[],
    );
    assert_eq!(
        allowed.record.exit_code,
        Some(0),
        "a first run has nothing to regress from"
    );
    assert!(
        stdout(&allowed).contains("1 newly covered"),
        "{}",
        stdout(&allowed)
    );
}
