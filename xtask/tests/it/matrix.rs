//! `cargo xtask matrix` end to end on the host lane, on a fixture workspace
//! with one passing test, one failing test and a test that runs a sibling binary.

use crate::support::{cell, fixture_workspace, logged_commands, results, run, text};

const HOST: &str = "linux-debian12-x86_64";

fn host_args(ws: &std::path::Path) -> Vec<String> {
    [
        "matrix",
        "--workspace",
        ws.to_str().unwrap(),
        "--platform",
        HOST,
        "--lane",
        "host",
        "--keep-going",
        "--no-report",
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn host_lane_reports_the_failing_test_and_reuses_unchanged_results() {
    let ws = fixture_workspace("ws-basic");
    let args = host_args(ws.path());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    let out = run(&args, None);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failing test must fail the run:\n{}",
        text(&out)
    );
    let r = results(ws.path());
    assert_eq!(r["schema"], "vhu-matrix-results/1");
    assert_eq!(cell(&r, &format!("{HOST}/check@host"))["status"], "pass");
    assert_eq!(cell(&r, &format!("{HOST}/build@host"))["status"], "pass");
    let test = cell(&r, &format!("{HOST}/test@host"));
    assert_eq!(test["status"], "fail");
    let outcome = |name: &str| {
        test["tests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no test {name}"))["outcome"]
            .clone()
    };
    assert_eq!(outcome("tests::fails_on_purpose"), "fail");
    assert_eq!(outcome("tests::adds"), "pass");
    // This one runs the `demo` binary found through MATRIX_BIN_DIR.
    assert_eq!(outcome("runs_the_sibling_binary"), "pass");
    let failing = test["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "tests::fails_on_purpose")
        .unwrap();
    assert!(failing["output"]
        .as_str()
        .unwrap()
        .contains("this test fails on purpose"));
    assert!(test["reason"]
        .as_str()
        .unwrap()
        .contains("tests::fails_on_purpose"));
    assert!(cell(&r, &format!("{HOST}/build@host"))["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["kind"] == "bin" && a["name"] == "demo"));
    let prov = &test["provenance"];
    assert_eq!(prov["lane"], "host");
    assert!(prov["rustc"].as_str().unwrap().starts_with("rustc "));
    assert_eq!(test["tier"]["tier"], 1);

    // Nothing changed: every cell is reused and no cargo runs at all.
    let log = ws.path().join("commands.log");
    let out = run(&args, Some(&log));
    assert_eq!(
        out.status.code(),
        Some(1),
        "the failure still stands:\n{}",
        text(&out)
    );
    assert!(
        text(&out).contains("3 unchanged and reused"),
        "{}",
        text(&out)
    );
    let spawned = logged_commands(&log);
    assert!(
        !spawned
            .iter()
            .any(|argv| argv[0].ends_with("cargo")
                || argv.iter().any(|a| a == "build" || a == "check")),
        "an unchanged rerun spawned cargo: {spawned:?}"
    );

    // A source change reruns the cells.
    let lib = ws.path().join("demo/src/lib.rs");
    let fixed = std::fs::read_to_string(&lib)
        .unwrap()
        .replace("super::add(2, 2), 5", "super::add(2, 3), 5");
    std::fs::write(&lib, fixed).unwrap();
    let out = run(&args, None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        cell(&results(ws.path()), &format!("{HOST}/test@host"))["status"],
        "pass"
    );

    // --force reruns even when nothing changed.
    let log = ws.path().join("commands-force.log");
    let mut forced = args.clone();
    forced.push("--force");
    let out = run(&forced, Some(&log));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(logged_commands(&log)
        .iter()
        .any(|argv| argv.iter().any(|a| a == "check")));
}

#[test]
fn expected_failures_are_shown_as_such() {
    let ws = fixture_workspace("ws-basic");
    let matrix = ws.path().join("matrix.toml");
    std::fs::write(
        &matrix,
        r#"
platforms = ["linux-*"]
stages = ["test"]
test-lanes = ["host"]
timeouts = { check = "10m", build = "10m", test = "10m" }

[[expected-failure]]
platforms = ["linux-debian12-x86_64"]
tests = ["tests::fails_on_purpose"]
reason = "the fixture's deliberate failure"
link = "https://example.org/issue/1"
"#,
    )
    .unwrap();
    let mut args = host_args(ws.path());
    args.extend([
        "--matrix".to_string(),
        matrix.display().to_string(),
        "--format".into(),
        "json".into(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&args, None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "an expected failure is not a failure:\n{}",
        text(&out)
    );
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let test = printed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["stage"] == "test")
        .unwrap();
    assert_eq!(test["status"], "expected-fail");
    assert_eq!(test["link"], "https://example.org/issue/1");
    assert!(test["reason"]
        .as_str()
        .unwrap()
        .starts_with("the fixture's deliberate failure"));
    let t = test["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "tests::fails_on_purpose")
        .unwrap();
    assert_eq!(t["outcome"], "expected-fail");
}

#[test]
fn bad_input_exits_2_and_names_the_culprit() {
    let ws = fixture_workspace("ws-basic");
    let out = run(
        &[
            "matrix",
            "--workspace",
            ws.path().to_str().unwrap(),
            "--package",
            "nope",
            "--plan",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("--package nope: no such package"),
        "{}",
        text(&out)
    );

    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(data.path().join("platforms")).unwrap();
    std::fs::create_dir_all(data.path().join("vm-images")).unwrap();
    std::fs::create_dir_all(data.path().join("matrix")).unwrap();
    std::fs::write(
        data.path().join("platforms/linux.toml"),
        "os = \"linux\"\ncolour = 1\n",
    )
    .unwrap();
    std::fs::write(data.path().join("matrix/matrix.toml"), "").unwrap();
    let out = run(
        &[
            "matrix",
            "--workspace",
            ws.path().to_str().unwrap(),
            "--data",
            data.path().to_str().unwrap(),
            "--plan",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    expect_test::expect![[r#"
        error: the matrix data has 2 problems:
        platforms/linux.toml:2: key `colour`: unknown field `colour`, expected one of `os`, `display`, `packages`, `arch`, `release`
        matrix/matrix.toml:1: missing field `platforms`
    "#]]
    .assert_eq(&String::from_utf8_lossy(&out.stderr));
}

#[test]
fn cells_this_host_cannot_run_are_unavailable_with_a_reason() {
    let ws = fixture_workspace("ws-basic");
    let data = tempfile::tempdir().unwrap();
    // A platform whose only toolchain provider needs a container engine.
    xtask::testing::write_model_fixture(
        data.path(),
        r#"//- platforms/netbsd.toml
os = "netbsd"
display = "NetBSD"
packages = { manager = "pkgin", install = ["pkgin", "-y", "install"] }

[arch.x86_64]
target = "x86_64-unknown-netbsd"
toolchains = ["cross-rs"]
linkers = ["zig"]

[[release]]
name = "10.1"
display = "NetBSD 10.1"
arches.x86_64 = {}
"#,
    );
    let out = run(
        &[
            "matrix",
            "--workspace",
            ws.path().to_str().unwrap(),
            "--data",
            data.path().to_str().unwrap(),
            "--platform",
            "netbsd-*",
            "--format",
            "json",
            "--no-report",
        ],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "unavailable is reported, not failed:\n{}",
        text(&out)
    );
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cells = printed.as_array().unwrap();
    assert_eq!(cells.len(), 2, "check and build: {printed:#}");
    for c in cells {
        assert_eq!(c["status"], "unavailable");
        assert!(c["reason"].as_str().unwrap().contains("cross-rs"), "{c:#}");
        assert_eq!(
            c["tier"]["tier"], 2,
            "the host compiler still states the tier"
        );
    }
}

#[test]
fn unreadable_data_is_named_by_absolute_path_and_how_it_was_found() {
    let ws = fixture_workspace("ws-basic");
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(data.path().join("platforms")).unwrap();
    std::fs::create_dir_all(data.path().join("vm-images")).unwrap();
    let out = run(
        &[
            "matrix",
            "--workspace",
            ws.path().to_str().unwrap(),
            "--data",
            data.path().to_str().unwrap(),
            "--plan",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let root = data.path().display().to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).replace(&root, "DATA");
    expect_test::expect![[r#"
        error: the matrix data has 1 problem:
        matrix/matrix.toml: cannot read DATA/matrix/matrix.toml (data directory DATA, given by --data): No such file or directory (os error 2)
    "#]]
    .assert_eq(&stderr);
    // A matrix file given by --matrix says so.
    let out = run(
        &[
            "matrix",
            "--workspace",
            ws.path().to_str().unwrap(),
            "--data",
            data.path().to_str().unwrap(),
            "--matrix",
            "no-such-matrix.toml",
            "--plan",
        ],
        None,
    );
    let cwd = std::env::current_dir().unwrap().display().to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).replace(&cwd, "CWD");
    assert!(
        stderr.contains("cannot read CWD/no-such-matrix.toml (given by --matrix)"),
        "{stderr}"
    );
}
