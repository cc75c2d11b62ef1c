//! `cargo xtask msrv --verify`'s check as cells of the matrix (`msrv-floor`,
//! `msrv-declared`), and cells that take the result of another cell that
//! ran the very same run (an MSRV cell and its platform's packaged check, a
//! packaged test cell and the qemu-user cell running the same executables).

use crate::packaged::{data_without_mips64el, require_tools};
use crate::support::{cell, fixture_workspace, results, text, xtask};

/// Runs the matrix on `ws` with this repository's data, mips64el's 1.70
/// exempted (so the floor is Debian 12 s390x's packaged 1.85).
fn matrix(ws: &std::path::Path, data: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(xtask())
        .args(["matrix", "--workspace", ws.to_str().unwrap()])
        .args(["--data", data.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap()
}

/// [`matrix`] on a fresh copy of `fixture` (slow tests: checks their tools first).
fn run_on(fixture: &str, args: &[&str]) -> (std::process::Output, tempfile::TempDir) {
    require_tools();
    let ws = fixture_workspace(fixture);
    let data = tempfile::tempdir().unwrap();
    data_without_mips64el(data.path());
    let out = matrix(ws.path(), data.path(), args);
    (out, ws)
}

fn plan_line<'a>(stdout: &'a str, id: &str) -> Option<&'a str> {
    stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(id))
}

#[test]
fn msrv_cells_are_planned_where_their_compilers_belong_and_filters_narrow_them() {
    let ws = fixture_workspace("ws-new-std-api");
    let data = tempfile::tempdir().unwrap();
    data_without_mips64el(data.path());
    let plan = |args: &[&str]| {
        let out = matrix(ws.path(), data.path(), &[&["--plan"], args].concat());
        (String::from_utf8_lossy(&out.stdout).into_owned(), out)
    };
    let (stdout, out) = plan(&["--os", "linux"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let floor = plan_line(&stdout, "linux-debian12-s390x/check@msrv-floor")
        .unwrap_or_else(|| panic!("no floor cell:\n{stdout}"));
    let declared = plan_line(&stdout, "linux-debian12-x86_64/check@msrv-declared")
        .unwrap_or_else(|| panic!("no declared cell:\n{stdout}"));
    for (line, compiler) in [
        (floor, "rustc 1.85.0 (Debian rustc-web 1.85.0"),
        (declared, "rustc 1.85.0 (Debian rustc-web 1.85.0"),
    ] {
        // Where setup has not run, the cell says why it cannot run instead.
        if line.contains(" ready: ") {
            assert!(line.contains(compiler), "{line}");
        } else {
            assert!(line.contains(" unavailable: "), "{line}");
        }
    }
    if floor.contains(" ready: ") {
        assert!(
            floor.contains(", takes the result of linux-debian12-s390x/check@packaged when it runs, runner none"),
            "{floor}"
        );
    }
    assert_eq!(stdout.matches("@msrv-").count(), 2, "{stdout}");
    // Packaged test cells share a run only where the compilers are one.
    if let Some(line) = plan_line(&stdout, "linux-debian12-aarch64/test@packaged")
        .filter(|l| l.contains(" ready: "))
    {
        assert!(
            line.contains(", takes the result of linux-debian12-aarch64/test@qemu-user when it runs, runner qemu-user"),
            "{line}"
        );
    }
    let s390x = plan_line(&stdout, "linux-debian12-s390x/test@packaged").unwrap();
    assert!(!s390x.contains("takes the result"), "{s390x}");

    // --lane msrv is both; --lane msrv-floor one; the other filters as for any cell.
    let (stdout, _) = plan(&["--lane", "msrv"]);
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    let (stdout, _) = plan(&["--lane", "msrv-floor"]);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.starts_with("linux-debian12-s390x/check@msrv-floor "),
        "{stdout}"
    );
    let (stdout, _) = plan(&["--lane", "msrv", "--platform", "linux-debian12-x86_64"]);
    assert!(
        stdout.starts_with("linux-debian12-x86_64/check@msrv-declared "),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let (_, out) = plan(&["--lane", "msrv", "--stage", "build"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    // Taken alone, the floor's cell runs its own check.
    let (stdout, _) = plan(&["--lane", "msrv-floor"]);
    assert!(!stdout.contains("takes the result"), "{stdout}");

    // The switch is checked like the other keys.
    let toml = data.path().join("matrix/matrix.toml");
    let text_now = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(
        &toml,
        text_now.replace(
            "stages = [\"check\", \"build\", \"test\"]",
            "stages = [\"build\", \"test\"]",
        ),
    )
    .unwrap();
    let (_, out) = plan(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("msrv-lane"), "{}", text(&out));
}

#[test]
#[ignore = "slow: needs the Debian archive and cross gccs; run with `cargo xtask test`"]
fn the_matrix_fails_a_rust_version_that_is_a_lie_in_its_msrv_cells_naming_the_crate() {
    let (out, ws) = run_on(
        "ws-new-std-api",
        &[
            "--platform",
            "linux-debian12-s390x,linux-debian12-x86_64",
            "--lane",
            "msrv,packaged",
            "--stage",
            "check",
            "--keep-going",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let results = results(ws.path());
    for id in [
        "linux-debian12-s390x/check@msrv-floor",
        "linux-debian12-x86_64/check@msrv-declared",
    ] {
        let c = cell(&results, id);
        assert_eq!(c["status"], "fail", "{c:#}");
        let reason = c["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("crate `newapi` (newapi/src/lib.rs): newapi/src/lib.rs:"),
            "{c:#}"
        );
        assert!(reason.contains("extract_if"), "{c:#}");
        assert!(stdout.contains(reason), "{stdout}");
        assert_eq!(
            c["provenance"]["rustc"].as_str().unwrap()[..12],
            *"rustc 1.85.0"
        );
    }
    // The floor's compiler is s390x's packaged one: its packaged check proved it.
    let floor = cell(&results, "linux-debian12-s390x/check@msrv-floor");
    let details = &floor["provenance"]["details"];
    assert!(
        details["same-as"]
            .as_str()
            .unwrap()
            .starts_with("linux-debian12-s390x/check@packaged checked the same packages with the same compiler and std"),
        "{floor:#}"
    );
    assert_eq!(
        details["msrv"],
        "the oldest packaged Rust the policy counts (1.85 on linux-debian12-s390x)"
    );
    assert!(floor.get("commands").is_none(), "it ran nothing: {floor:#}");
    let declared = cell(&results, "linux-debian12-x86_64/check@msrv-declared");
    assert!(
        declared["provenance"]["details"].get("same-as").is_none(),
        "{declared:#}"
    );
    // amd64's packaged 1.96 builds it: only the rust-version is a lie.
    let packaged = cell(&results, "linux-debian12-x86_64/check@packaged");
    assert_eq!(packaged["status"], "pass", "{packaged:#}");
    let report = std::fs::read_to_string(ws.path().join("target/matrix/report/status.md")).unwrap();
    assert!(report.contains("check: ❌ · ❌ msrv-floor"), "{report}");
}

#[test]
#[ignore = "slow: needs the Debian archive and cross gccs; run with `cargo xtask test`"]
fn the_matrix_passes_a_true_rust_version_in_its_msrv_cells() {
    let (out, ws) = run_on("ws-msrv-right", &["--lane", "msrv"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let results = results(ws.path());
    for (id, why) in [
        (
            "linux-debian12-s390x/check@msrv-floor",
            "the oldest packaged Rust the policy counts (1.85 on linux-debian12-s390x)",
        ),
        (
            "linux-debian12-x86_64/check@msrv-declared",
            "exactly the declared rust-version 1.85",
        ),
    ] {
        let c = cell(&results, id);
        assert_eq!(c["status"], "pass", "{c:#}");
        assert_eq!(c["provenance"]["details"]["msrv"], why, "{c:#}");
        assert!(c["provenance"]["details"].get("same-as").is_none(), "{c:#}");
    }
}

#[test]
#[ignore = "slow: needs the Debian archive, a cross gcc and qemu-user; run with `cargo xtask test`"]
fn a_packaged_test_cell_takes_the_qemu_user_result_of_the_same_executables() {
    let (out, ws) = run_on(
        "ws-new-std-api",
        &[
            "--platform",
            "linux-debian12-aarch64",
            "--lane",
            "cross,qemu-user,packaged",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains(
            "5 ran, 0 unchanged and reused, 1 took the result of a cell that did the same run"
        ),
        "{}",
        text(&out)
    );
    let results = results(ws.path());
    let qemu = cell(&results, "linux-debian12-aarch64/test@qemu-user");
    let packaged = cell(&results, "linux-debian12-aarch64/test@packaged");
    assert_eq!(qemu["status"], "pass", "{qemu:#}");
    assert_eq!(packaged["status"], "pass", "{packaged:#}");
    assert_eq!(packaged["tests"], qemu["tests"]);
    assert!(
        packaged.get("commands").is_none(),
        "it ran nothing: {packaged:#}"
    );
    let details = &packaged["provenance"]["details"];
    assert_eq!(
        details["same-as"],
        format!(
            "same executables as linux-debian12-aarch64/test@qemu-user (one compiler, one build directory), on the same runner: its result, not a second run (it ran at {})",
            qemu["provenance"]["date"].as_str().unwrap()
        ),
        "{packaged:#}"
    );
    assert!(
        details["packaged-tests"]
            .as_str()
            .unwrap()
            .ends_with("in linux-debian12-aarch64/test@qemu-user"),
        "{packaged:#}"
    );
    // Its own build ran (a no-op in the shared directory) and passed.
    let build = cell(&results, "linux-debian12-aarch64/build@packaged");
    assert_eq!(build["status"], "pass", "{build:#}");
}
