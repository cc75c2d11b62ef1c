//! The matrix as a daily tool (issue 14), on the host lane: a hung test is
//! killed at its limit and named while the others report, a failing test is
//! rerun only when asked (and then flaky), every planned cell is in every
//! output, and each package of a cell has its own status.

use crate::support::{cell, fixture_workspace, results, run, text};

const HOST: &str = "linux-debian12-x86_64";

/// A matrix file for the fixtures: a 3 s per-test limit on every lane.
fn matrix_file(ws: &std::path::Path) -> String {
    matrix_file_with(ws, &["host"], "")
}

/// A matrix file with these test lanes, a 3 s base limit and `more` after it.
fn matrix_file_with(ws: &std::path::Path, lanes: &[&str], more: &str) -> String {
    let path = ws.join("matrix.toml");
    std::fs::write(
        &path,
        format!(
            r#"
platforms = ["linux-*"]
stages = ["check", "build", "test"]
test-lanes = {lanes:?}
timeouts = {{ check = "10m", build = "10m", test = "5m" }}

[test-limits]
base = "3s"
{more}
"#
        ),
    )
    .unwrap();
    path.display().to_string()
}

fn matrix(ws: &std::path::Path, extra: &[&str]) -> (std::process::Output, serde_json::Value) {
    matrix_with(ws, &matrix_file(ws), extra)
}

/// The host lane's cells of `HOST` with the matrix file `matrix`, printed as JSON.
fn matrix_with(
    ws: &std::path::Path,
    matrix: &str,
    extra: &[&str],
) -> (std::process::Output, serde_json::Value) {
    let mut args = vec![
        "matrix",
        "--workspace",
        ws.to_str().unwrap(),
        "--matrix",
        matrix,
        "--platform",
        HOST,
        "--lane",
        "host",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = run(&args, None);
    let printed = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON on stdout ({e}):\n{}", text(&out)));
    (out, printed)
}

/// The cell's provenance records one infrastructure fault, `fault…`, and a
/// second attempt.
fn assert_retried_once(c: &serde_json::Value, fault: &str) {
    let details = &c["provenance"]["details"];
    assert_eq!(details["attempts"], "2", "{details:#}");
    let first = details["attempt-1"].as_str().unwrap();
    assert!(
        first.starts_with(&format!("infrastructure fault: {fault}")),
        "{first}"
    );
}

fn printed_cell<'a>(printed: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    printed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no cell {id} in the printed JSON"))
}

fn test_named<'a>(cell: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    cell["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no test {name} in {cell:#}"))
}

#[test]
fn a_hung_test_is_killed_at_its_limit_and_named_while_the_others_report() {
    let ws = fixture_workspace("ws-hang");
    std::fs::write(ws.path().join("seed/hang-here"), "").unwrap();
    let (out, printed) = matrix(ws.path(), &["--no-report"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let test = printed_cell(&printed, &format!("{HOST}/test@host"));
    assert_eq!(test["status"], "timeout", "{test:#}");
    assert_eq!(test["reason"], "1 test hung: seed::completes");
    let hung = test_named(test, "seed::completes");
    assert_eq!(hung["outcome"], "timeout");
    assert_eq!(hung["limit_secs"], 3.0);
    assert!(
        hung["output"]
            .as_str()
            .unwrap()
            .starts_with("killed after 3s, its per-test limit"),
        "{hung:#}"
    );
    // What it printed before it hung (libtest captured it: it was run again alone).
    assert!(
        hung["output"]
            .as_str()
            .unwrap()
            .contains("completes: waiting for an event that never comes"),
        "{hung:#}"
    );
    // The executable's other tests, before and after the hung one, report.
    for name in ["seed::doubles", "seed::flaky", "seed::zeroes"] {
        assert_eq!(test_named(test, name)["outcome"], "pass", "{name}");
    }
    // The results file says the same.
    let r = results(ws.path());
    assert_eq!(
        cell(&r, &format!("{HOST}/test@host"))["reason"],
        "1 test hung: seed::completes"
    );
    // Known to hang there (an emulator's limit, say): the same run is an
    // expected failure, and the run succeeds.
    let known = matrix_file_with(
        ws.path(),
        &["host"],
        "[[expected-failure]]\nplatforms = [\"linux-*\"]\ntests = [\"seed::completes\"]\nreason = \"hangs here\"\n",
    );
    let (out, printed) = matrix_with(ws.path(), &known, &["--no-report", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let test = printed_cell(&printed, &format!("{HOST}/test@host"));
    assert_eq!(test["status"], "expected-fail", "{test:#}");
    assert_eq!(
        test_named(test, "seed::completes")["outcome"],
        "expected-fail"
    );
}

#[test]
fn a_failing_test_is_rerun_only_when_asked_and_then_is_flaky() {
    let ws = fixture_workspace("ws-hang");
    // Fails once (the test removes the marker), then passes.
    std::fs::write(ws.path().join("seed/flaky-once"), "").unwrap();
    let (out, printed) = matrix(ws.path(), &["--no-report"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let test = printed_cell(&printed, &format!("{HOST}/test@host"));
    let flaky = test_named(test, "seed::flaky");
    assert_eq!(flaky["outcome"], "fail", "never rerun silently: {flaky:#}");
    assert!(flaky.get("attempts").is_none());

    std::fs::write(ws.path().join("seed/flaky-once"), "").unwrap();
    let junit = ws.path().join("junit.xml");
    let (out, printed) = matrix(
        ws.path(),
        &[
            "--no-report",
            "--force",
            "--retries",
            "2",
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let test = printed_cell(&printed, &format!("{HOST}/test@host"));
    assert_eq!(test["status"], "pass");
    let flaky = test_named(test, "seed::flaky");
    assert_eq!(flaky["outcome"], "flaky", "{flaky:#}");
    assert_eq!(
        (flaky["attempts"].as_u64(), flaky["passes"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(test["reason"], "1 test flaky: seed::flaky (passed 1 of 2)");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("flaky (passed 1 of 2)"), "{xml}");
}

#[test]
fn a_run_stopped_by_a_failure_lists_every_planned_cell_everywhere() {
    let ws = fixture_workspace("ws-partial");
    let junit = ws.path().join("junit.xml");
    let own = ws.path().join("own-results.json");
    let report = ws.path().join("report");
    let (out, printed) = matrix(
        ws.path(),
        &[
            "--junit",
            junit.to_str().unwrap(),
            "--results-out",
            own.to_str().unwrap(),
            "--report-dir",
            report.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let ids: Vec<&str> = printed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            format!("{HOST}/check@host"),
            format!("{HOST}/build@host"),
            format!("{HOST}/test@host")
        ]
    );
    for stage in ["build", "test"] {
        let id = format!("{HOST}/{stage}@host");
        let c = printed_cell(&printed, &id);
        assert_eq!(c["status"], "not-run", "{c:#}");
        assert!(c["reason"].as_str().unwrap().contains(&format!(
            "stopped after the first unexpected failure ({HOST}/check@host)"
        )));
        for file in [ws.path().join("target/matrix/results.json"), own.clone()] {
            let saved: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
            assert_eq!(cell(&saved, &id)["status"], "not-run", "{}", file.display());
        }
        let xml = std::fs::read_to_string(&junit).unwrap();
        assert!(xml.contains(&format!("{stage}@host")), "{xml}");
    }
    assert!(std::fs::read_to_string(&junit)
        .unwrap()
        .contains("not run: the run stopped"));
    let md = std::fs::read_to_string(report.join("status.md")).unwrap();
    assert!(md.contains("⏹️"), "{md}");
    // An older results file (no not-run status anywhere) still loads.
    xtask::results::ResultsFile::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("test-data/report-small/results.json"),
    )
    .unwrap();
}

#[test]
fn each_package_has_its_own_status_and_the_others_go_on() {
    let ws = fixture_workspace("ws-partial");
    let (out, printed) = matrix(ws.path(), &["--no-report", "--keep-going"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let packages = |stage: &str| -> Vec<(String, String, String)> {
        printed_cell(&printed, &format!("{HOST}/{stage}@host"))["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_string(),
                    p["status"].as_str().unwrap().to_string(),
                    p["reason"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    let check = printed_cell(&printed, &format!("{HOST}/check@host"));
    assert_eq!(check["status"], "fail");
    let p = packages("check");
    assert!(
        p.contains(&("good".into(), "pass".into(), "".into())),
        "{p:?}"
    );
    assert!(
        p.contains(&(
            "broken".into(),
            "fail".into(),
            "broken/src/lib.rs:4: mismatched types".into()
        )),
        "{p:?}"
    );
    assert!(
        p.contains(&(
            "needs-broken".into(),
            "fail".into(),
            "not compiled: it needs broken, which failed".into()
        )),
        "{p:?}"
    );
    // Its library compiled, but its integration test needs `broken`: the
    // package was not compiled whole, and says why.
    assert!(
        p.contains(&(
            "tests-need-broken".into(),
            "fail".into(),
            "not compiled: it needs broken, which failed".into()
        )),
        "{p:?}"
    );
    for stage in ["build", "test"] {
        let c = printed_cell(&printed, &format!("{HOST}/{stage}@host"));
        assert_eq!(c["status"], "pass", "{c:#}");
        let p = packages(stage);
        assert!(
            p.contains(&("good".into(), "pass".into(), "".into())),
            "{p:?}"
        );
        let not_run = format!("not run: it failed in {HOST}/check@host");
        assert!(
            p.contains(&("broken".into(), "skipped".into(), not_run.clone())),
            "{p:?}"
        );
        assert!(
            p.contains(&("needs-broken".into(), "skipped".into(), not_run)),
            "{p:?}"
        );
    }
    assert_eq!(
        test_named(
            printed_cell(&printed, &format!("{HOST}/test@host")),
            "is_one"
        )["outcome"],
        "pass"
    );
}

/// A guest that panics at boot once (`XTASK_INJECT_BOOT_FAULTS=1` names an
/// init the initramfs lacks) is booted again and the cell says so in its
/// provenance; the fixture's failing test is reported, never rerun.
#[test]
#[ignore = "slow: needs qemu-system-x86_64 and a Debian guest built from the archive; run with `cargo xtask test`"]
fn an_injected_boot_failure_is_retried_and_recorded_and_a_test_failure_is_not() {
    let ws = fixture_workspace("ws-basic");
    let out = std::process::Command::new(crate::support::xtask())
        .args(["matrix", "--workspace"])
        .arg(ws.path())
        .args([
            "--platform",
            HOST,
            "--stage",
            "test",
            "--lane",
            "vm",
            "--no-report",
        ])
        .env("XTASK_INJECT_BOOT_FAULTS", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let r = results(ws.path());
    let c = cell(&r, &format!("{HOST}/test@vm"));
    assert_eq!(c["status"], "fail", "{c:#}");
    assert_eq!(c["reason"], "1 test failed: tests::fails_on_purpose");
    assert_retried_once(c, "guest kernel panic");
    let failing = test_named(c, "tests::fails_on_purpose");
    assert_eq!(failing["outcome"], "fail");
    assert!(failing.get("attempts").is_none(), "{failing:#}");
    assert_eq!(test_named(c, "tests::adds")["outcome"], "pass");
    assert!(c.get("infrastructure_fault").is_none(), "{c:#}");

    // With no retry left, the boot failure is the cell's result, marked as
    // this host's fault; the next run runs the cell again instead of
    // reusing that result, although no input changed.
    let vm_run = |extra: &[&str], faults: &str| {
        std::process::Command::new(crate::support::xtask())
            .args(["matrix", "--workspace"])
            .arg(ws.path())
            .args(["--platform", HOST, "--stage", "test", "--lane", "vm"])
            .args(["--no-report"])
            .args(extra)
            .env("XTASK_INJECT_BOOT_FAULTS", faults)
            .output()
            .unwrap()
    };
    let out = vm_run(&["--force", "--infra-retries", "0"], "1");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let r = results(ws.path());
    let c = cell(&r, &format!("{HOST}/test@vm"));
    assert_eq!(c["infrastructure_fault"], true, "{c:#}");
    assert!(
        c["reason"]
            .as_str()
            .unwrap()
            .starts_with("infrastructure fault after 1 attempt: guest kernel panic"),
        "{c:#}"
    );
    let out = vm_run(&[], "0");
    assert!(
        text(&out).contains(" 0 unchanged and reused"),
        "{}",
        text(&out)
    );
    let r = results(ws.path());
    let c = cell(&r, &format!("{HOST}/test@vm"));
    assert_eq!(
        c["reason"], "1 test failed: tests::fails_on_purpose",
        "{c:#}"
    );
    assert!(c.get("infrastructure_fault").is_none(), "{c:#}");
}

/// Runs the test stage of `ws` on one lane with that per-test limit, `args`
/// and `env`; the run must fail (the fixture hangs there); returns the JSON.
fn matrix_with_limit(
    ws: &std::path::Path,
    (lane, limit): (&str, &str),
    args: &[&str],
    env: &[(&str, &str)],
) -> serde_json::Value {
    let more = format!(
        "[[test-limits.override]]\nplatforms = [\"linux-*\"]\nlanes = [\"{lane}\"]\nlimit = \"{limit}\"\n"
    );
    let matrix = matrix_file_with(ws, &[lane], &more);
    let out = std::process::Command::new(crate::support::xtask())
        .args(["matrix", "--workspace"])
        .arg(ws)
        .args(["--matrix", &matrix, "--stage", "test", "--lane", lane])
        .args(["--format", "json"])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON on stdout ({e}):\n{}", text(&out)))
}

/// The fixture's hung test was killed at `limit` s with what it printed.
fn assert_kept_its_output(hung: &serde_json::Value, limit: u32) {
    assert_eq!(hung["outcome"], "timeout", "{hung:#}");
    let said = hung["output"].as_str().unwrap();
    assert!(
        said.starts_with(&format!(
            "killed after {limit}s, its per-test limit; its last output:"
        )) && said.contains("completes: waiting for an event that never comes"),
        "{said}"
    );
}

/// `--retries` in a guest: the fixture, built so that `seed::completes`
/// hangs and `seed::flaky` fails its first run, runs in one x86_64 boot. The
/// hung test is killed at its limit with what it printed before it hung, and
/// the failing test is rerun in the same boot and reported flaky.
#[test]
#[ignore = "slow: needs qemu-system-x86_64 and a Debian guest built from the archive; run with `cargo xtask test`"]
fn in_a_guest_a_failing_test_is_rerun_and_a_hung_test_keeps_its_output() {
    let ws = fixture_workspace("ws-hang");
    let report = ws.path().join("report");
    let printed = matrix_with_limit(
        ws.path(),
        ("vm", "15s"),
        &[
            "--platform",
            HOST,
            "--retries",
            "2",
            "--report-dir",
            report.to_str().unwrap(),
        ],
        &[("SEED_HANG", "1"), ("SEED_FLAKY", "1")],
    );
    let c = printed_cell(&printed, &format!("{HOST}/test@vm"));
    assert_eq!(c["status"], "timeout", "{c:#}");
    assert_eq!(c["reason"], "1 test hung: seed::completes");
    assert_kept_its_output(test_named(c, "seed::completes"), 15);
    assert!(c["output_tail"]
        .as_str()
        .unwrap()
        .contains("completes: waiting for an event that never comes"));
    let flaky = test_named(c, "seed::flaky");
    assert_eq!(flaky["outcome"], "flaky", "{flaky:#}");
    assert_eq!(
        (flaky["attempts"].as_u64(), flaky["passes"].as_u64()),
        (Some(2), Some(1))
    );
    assert!(flaky["output"]
        .as_str()
        .unwrap()
        .contains("flaky: failed its first run here"));
    for name in ["seed::doubles", "seed::zeroes"] {
        assert_eq!(test_named(c, name)["outcome"], "pass", "{name}");
    }
    let md = std::fs::read_to_string(report.join("status.md")).unwrap();
    for line in [
        "🔁 flaky: `seed::flaky` — passed 1 of 2",
        "⏱️ hung: `seed::completes` — killed after 15s, its per-test limit; its last output: completes: waiting for an event that never comes",
    ] {
        assert!(md.contains(line), "no `{line}` in\n{md}");
    }
}

/// Under qemu-user (aarch64, where the fixture's `seed::completes` hangs):
/// the hung test keeps what it printed; an emulator that fails as
/// infrastructure (`XTASK_INJECT_EMULATOR_FAULTS`: no dynamic loader) is run
/// again and recorded; a failing test is not rerun without `--retries`.
#[test]
#[ignore = "slow: needs qemu-aarch64-static, aarch64-linux-gnu-gcc and the packaged aarch64 std; run with `cargo xtask test`"]
fn on_qemu_user_a_hung_test_keeps_its_output_and_emulator_faults_are_retried() {
    for (program, package) in [
        ("qemu-aarch64-static", "qemu-user-static"),
        ("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu"),
    ] {
        xtask::testing::require(
            xtask::host::which(program).is_some(),
            program,
            &format!("apt-get install {package}"),
        );
    }
    let ws = fixture_workspace("ws-hang");
    std::fs::write(ws.path().join("seed/flaky-once"), "").unwrap();
    let platform = "linux-debian12-aarch64";
    let printed = matrix_with_limit(
        ws.path(),
        ("qemu-user", "5s"),
        &["--platform", platform, "--no-report"],
        &[("XTASK_INJECT_EMULATOR_FAULTS", "1")],
    );
    let c = printed_cell(&printed, &format!("{platform}/test@qemu-user"));
    assert_eq!(
        c["reason"], "1 test hung: seed::completes; 1 test failed: seed::flaky",
        "{c:#}"
    );
    assert_kept_its_output(test_named(c, "seed::completes"), 5);
    let flaky = test_named(c, "seed::flaky");
    assert_eq!(flaky["outcome"], "fail", "never rerun silently: {flaky:#}");
    assert!(flaky.get("attempts").is_none(), "{flaky:#}");
    assert!(flaky["output"]
        .as_str()
        .unwrap()
        .contains("flaky: failed this once"));
    assert_retried_once(
        c,
        "seed::seed: the emulator failed: qemu-aarch64-static: Could not open",
    );
}
