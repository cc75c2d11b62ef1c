//! JUnit XML: golden output from the report-small results, parsed back as
//! XML with its counts checked; and `cargo xtask matrix --junit
//! --results-out` on a real host-lane run of the ws-basic fixture.

use crate::report_support::{data_small_dir, manifest_dir, results_small, stderr, xtask};
use xtask::render::junit;

#[test]
fn junit_matches_its_golden_file() {
    let results = results_small();
    expect_test::expect_file!["../../test-data/report-small/junit.xml"]
        .assert_eq(&junit::render("ws-basic matrix", &results.cells));
}

#[test]
fn parses_as_xml_with_one_suite_per_cell_and_consistent_counts() {
    let results = results_small();
    let xml = junit::render("ws-basic matrix", &results.cells);
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), results.cells.len());
    let count =
        |n: roxmltree::Node<'_, '_>, a: &str| n.attribute(a).unwrap().parse::<usize>().unwrap();
    let mut totals = (0, 0, 0);
    for (suite, cell) in suites.iter().zip(&results.cells) {
        assert_eq!(suite.attribute("name"), Some(cell.id.as_str()));
        let cases: Vec<_> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        let failures = cases
            .iter()
            .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
            .count();
        let skipped = cases
            .iter()
            .filter(|c| c.children().any(|n| n.has_tag_name("skipped")))
            .count();
        assert_eq!(
            (
                count(*suite, "tests"),
                count(*suite, "failures"),
                count(*suite, "skipped")
            ),
            (cases.len(), failures, skipped),
            "{}",
            cell.id
        );
        assert_eq!(
            failures > 0,
            cell.status.is_unexpected_failure(),
            "{}: a suite fails exactly when its cell does",
            cell.id
        );
        totals = (
            totals.0 + cases.len(),
            totals.1 + failures,
            totals.2 + skipped,
        );
    }
    assert_eq!(
        (
            count(root, "tests"),
            count(root, "failures"),
            count(root, "skipped")
        ),
        totals
    );

    // A failing test: classname package::binary, its output intact after unescaping.
    let failing = doc
        .descendants()
        .find(|n| {
            n.has_tag_name("testcase") && n.attribute("name") == Some("tests::fails_on_purpose")
        })
        .unwrap();
    assert_eq!(failing.attribute("classname"), Some("demo::demo"));
    let failure = failing
        .children()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    let text = failure.text().unwrap();
    assert!(text.contains("<this> fails & on purpose"), "{text}");
    // The terminal's ESC cannot be in XML 1.0; it is written out, not dropped.
    assert!(text.contains("\\u{1b}[1mnote"), "{text}");
    // An unavailable cell is skipped with the reason and how to enable it.
    let riscv = suites
        .iter()
        .find(|s| s.attribute("name") == Some("linux-debian13-riscv64/check@cross"))
        .unwrap();
    let skipped = riscv
        .descendants()
        .find(|n| n.has_tag_name("skipped"))
        .unwrap();
    assert!(skipped
        .attribute("message")
        .unwrap()
        .starts_with("unavailable: "));
    assert!(skipped
        .attribute("message")
        .unwrap()
        .contains("to enable: apt-get install rustc-web"));
}

#[test]
fn escaping_keeps_every_character_meaningful() {
    assert_eq!(
        junit::attr("a\"b<c>&d\ne\tf"),
        "a&quot;b&lt;c&gt;&amp;d&#10;e&#9;f"
    );
    assert_eq!(junit::text("x\u{1b}y\u{0}z<"), "x\\u{1b}y\\u{0}z&lt;");
}

#[test]
fn matrix_writes_junit_and_this_runs_results() {
    let ws = tempfile::tempdir().unwrap();
    copy_tree(&manifest_dir().join("tests/fixtures/ws-basic"), ws.path());
    let junit_path = ws.path().join("out/junit.xml");
    let results_path = ws.path().join("out/results.json");
    let data = data_small_dir();
    let args = [
        "matrix",
        "--workspace",
        ws.path().to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--platform",
        "linux-debian12-x86_64",
        "--lane",
        "host",
        "--keep-going",
        "--no-report",
        "--junit",
        junit_path.to_str().unwrap(),
        "--results-out",
        results_path.to_str().unwrap(),
    ];
    let out = xtask(&args, &[]);
    assert_eq!(
        out.record.exit_code,
        Some(1),
        "the fixture has a failing test:\n{}",
        stderr(&out)
    );
    let own = xtask::results::ResultsFile::load(&results_path).unwrap();
    let ids: Vec<&str> = own.cells.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "linux-debian12-x86_64/build@host",
            "linux-debian12-x86_64/check@host",
            "linux-debian12-x86_64/test@host"
        ]
    );
    let xml = std::fs::read_to_string(&junit_path).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let failed: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase") && n.children().any(|c| c.has_tag_name("failure")))
        .map(|n| n.attribute("name").unwrap())
        .collect();
    assert_eq!(failed, ["tests::fails_on_purpose"]);
    let passed = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase") && n.children().all(|c| !c.is_element()))
        .count();
    assert_eq!(passed, 4, "check, build and two passing tests:\n{xml}");
}

fn copy_tree(src: &std::path::Path, dst: &std::path::Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != "target" {
                copy_tree(&entry.path(), &to);
            }
        } else {
            std::fs::copy(entry.path(), to).unwrap();
        }
    }
}
