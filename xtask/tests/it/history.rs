//! The report's history: three merges with `--history`, the third with an
//! injected regression. The file only grows, the report says since when each
//! cell is in its state, and the regression names the last commit where its
//! cell passed (in the report and in `report diff`).

use crate::report_support::{data_small_dir, results_small, stderr, stdout, xtask};
use xtask::history;
use xtask::results::Status;

const REGRESSED: &str = "linux-debian12-aarch64/test@qemu-user";

#[test]
fn three_runs_with_one_regression() {
    let dir = tempfile::tempdir().unwrap();
    let (data, out) = (data_small_dir(), dir.path().join("report"));
    let good = dir.path().join("good.json");
    results_small().save(&good).unwrap();
    let mut bad_results = results_small();
    let cell = bad_results
        .cells
        .iter_mut()
        .find(|c| c.id == REGRESSED)
        .unwrap();
    assert_eq!(cell.status, Status::Pass);
    cell.status = Status::Fail;
    cell.reason = Some("injected failure".into());
    let bad = dir.path().join("bad.json");
    bad_results.save(&bad).unwrap();
    let hist = out.join("history.jsonl");

    let mut before = String::new();
    for (commit, input) in [("c0ffee1", &good), ("c0ffee2", &good), ("c0ffee3", &bad)] {
        let run = xtask(
            &[
                "report",
                "merge",
                "--data",
                data.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--history",
                hist.to_str().unwrap(),
                "--commit",
                commit,
                input.to_str().unwrap(),
            ],
            &[],
        );
        assert_eq!(run.record.exit_code, Some(0), "{}", stderr(&run));
        let now = std::fs::read_to_string(&hist).unwrap();
        assert!(
            now.starts_with(&before),
            "append-only: the earlier runs are kept as they were"
        );
        assert_eq!(now.lines().count(), before.lines().count() + 1);
        before = now;
    }
    let runs = history::load(&hist).unwrap();
    assert_eq!(runs.len(), 3);
    assert!(runs.iter().all(|r| r.schema == history::SCHEMA));

    let since = history::since(&runs);
    let s = &since[REGRESSED];
    assert_eq!(
        (s.status, s.runs, s.since_commit.as_deref()),
        (Status::Fail, 1, Some("c0ffee3"))
    );
    assert_eq!(s.last_pass.as_ref().unwrap().1.as_deref(), Some("c0ffee2"));
    let steady = &since["linux-debian12-x86_64/build@host"];
    assert_eq!(
        (steady.status, steady.runs, steady.since_commit.as_deref()),
        (Status::Pass, 3, Some("c0ffee1"))
    );

    let md = std::fs::read_to_string(out.join("status.md")).unwrap();
    assert!(md.contains("## History"), "{md}");
    assert!(md.contains(&format!("- `{REGRESSED}` fail since ")), "{md}");
    let line = md
        .lines()
        .find(|l| l.starts_with(&format!("- `{REGRESSED}`")))
        .unwrap();
    assert!(
        line.contains("(c0ffee3), 1 run; last passed ") && line.ends_with("(c0ffee2)"),
        "{line}"
    );
    let html = std::fs::read_to_string(out.join("status.html")).unwrap();
    assert!(html.contains("<section id=\"history\">") && html.ends_with("</body></html>\n"));

    // The rendered report stays consistent with its history (`report --check`).
    let check = xtask(
        &[
            "report",
            "--check",
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(check.record.exit_code, Some(0), "{}", stderr(&check));

    // `report diff` names where the regression last passed.
    let diff = xtask(
        &[
            "report",
            "diff",
            good.to_str().unwrap(),
            out.join("status.json").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(diff.record.exit_code, Some(1), "{}", stderr(&diff));
    let text = stdout(&diff);
    let line = text
        .lines()
        .find(|l| l.contains(REGRESSED))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("last passed at c0ffee2 ("), "{line}");
}

#[test]
fn a_line_of_another_schema_is_refused_with_its_line_number() {
    let err = history::parse("{\"schema\":\"vhu-matrix-history/1\",\"date\":\"d\",\"cells\":{}}\n{\"schema\":\"vhu-matrix-history/9\"}\n")
        .unwrap_err();
    assert_eq!(
        format!("{err:#}"),
        "line 2: schema is `vhu-matrix-history/9`, this tool reads `vhu-matrix-history/1`"
    );
}
