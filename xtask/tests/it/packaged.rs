//! The packaged lane and `msrv --verify` end to end (slow: they unpack
//! Debian's packaged compilers from the archive and build with them; the
//! mips64el compiler runs under qemu-user).

use std::path::Path;

use crate::support::{cell, fixture_workspace, results, text, xtask};
use xtask::testing::require;

fn on_path(program: &str) -> bool {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .any(|d| d.join(program).is_file())
}

pub(crate) fn require_tools() {
    for (program, package) in [
        ("qemu-mips64el-static", "qemu-user-static"),
        ("mips64el-linux-gnuabi64-gcc", "gcc-mips64el-linux-gnuabi64"),
        ("s390x-linux-gnu-gcc", "gcc-s390x-linux-gnu"),
        ("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu"),
    ] {
        require(
            on_path(program),
            program,
            &format!("apt-get install {package}"),
        );
    }
}

/// The first error of a cell, as the results file keeps it.
fn first_error(c: &serde_json::Value) -> String {
    format!("{} {}", c["first_error"]["message"], c["reason"])
}

#[test]
#[ignore = "slow: needs the Debian archive, cross gccs and qemu-user; run with `cargo xtask test`"]
fn packaged_compilers_older_than_the_api_reject_the_fixture_and_newer_ones_build_it() {
    require_tools();
    let ws = fixture_workspace("ws-new-std-api");
    let out = std::process::Command::new(xtask())
        .args([
            "matrix",
            "--workspace",
            ws.path().to_str().unwrap(),
            "--platform",
            "linux-debian12-s390x,linux-debian12-mips64el,linux-debian12-aarch64,linux-debian12-x86_64",
            "--stage",
            "check",
            "--keep-going",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let results = results(ws.path());
    // Debian 12's s390x packages rustc-web 1.85: it rejects
    // `Vec::extract_if` (unstable there). mips64el's 1.70 fails too: its
    // cargo refuses the declared `rust-version` (1.85) before rustc sees
    // the call, which is what a packager there meets.
    let s390x = cell(&results, "linux-debian12-s390x/check@packaged");
    assert_eq!(s390x["status"], "fail", "{s390x:#}");
    assert!(first_error(s390x).contains("extract_if"), "{s390x:#}");
    // This repository's matrix.toml knows mips64el's 1.70 is too old: the
    // failure shows as expected, with its own first error kept.
    let mips = cell(&results, "linux-debian12-mips64el/check@packaged");
    assert_eq!(mips["status"], "expected-fail", "{mips:#}");
    let why = first_error(mips);
    assert!(
        why.contains("extract_if") || why.contains("requires rustc 1.85 or newer"),
        "{mips:#}"
    );
    let mips = cell(&results, "linux-debian12-mips64el/check@packaged");
    assert!(
        mips["provenance"]["details"]["packaged-how"]
            .as_str()
            .unwrap()
            .contains("under qemu-mips64el-static"),
        "{mips:#}"
    );
    // 1.96 (arm64's and amd64's packaged compiler) and every upstream toolchain build it.
    for id in [
        "linux-debian12-aarch64/check@packaged",
        "linux-debian12-x86_64/check@packaged",
        "linux-debian12-x86_64/check@host",
        "linux-debian12-aarch64/check@cross",
        "linux-debian12-s390x/check@cross",
        "linux-debian12-mips64el/check@cross",
    ] {
        let c = cell(&results, id);
        assert_eq!(c["status"], "pass", "{id}: {c:#}");
    }
}

/// This repository's data, with mips64el's 1.70 exempted from the policy,
/// so that the floor is 1.85 and a true `rust-version` 1.85 can pass.
pub(crate) fn data_without_mips64el(dir: &Path) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    for sub in ["platforms", "matrix", "vm-images"] {
        copy_tree(&repo.join(sub), &dir.join(sub));
    }
    let policy = dir.join("platforms/rust/msrv-policy.toml");
    let mut text = std::fs::read_to_string(&policy).unwrap();
    text.push_str(
        "\n[[exception]]\nplatforms = [\"linux-debian12-mips64el\"]\nreason = \"test: only 1.85 and newer count\"\n",
    );
    std::fs::write(&policy, text).unwrap();
}

fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), to).unwrap();
        }
    }
}

fn verify(fixture: &str) -> (std::process::Output, tempfile::TempDir) {
    require_tools();
    let ws = fixture_workspace(fixture);
    let data = tempfile::tempdir().unwrap();
    data_without_mips64el(data.path());
    let out = std::process::Command::new(xtask())
        .args([
            "msrv",
            "--verify",
            "--workspace",
            ws.path().to_str().unwrap(),
            "--data",
            data.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    (out, ws)
}

#[test]
#[ignore = "slow: needs the Debian archive and cross gccs; run with `cargo xtask test`"]
fn msrv_verify_fails_a_rust_version_that_is_a_lie_naming_the_crate() {
    let (out, _ws) = verify("ws-new-std-api");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stdout.contains("verify exactly the declared rust-version 1.85: packaged rustc-web 1.85.0"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAILED: crate `newapi` (newapi/src/lib.rs)"),
        "{stdout}"
    );
    assert!(stdout.contains("extract_if"), "{stdout}");
}

#[test]
#[ignore = "slow: needs the Debian archive and cross gccs; run with `cargo xtask test`"]
fn msrv_verify_passes_a_true_rust_version() {
    let (out, _ws) = verify("ws-msrv-right");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout.contains("verify the oldest packaged Rust the policy counts (1.85"),
        "{stdout}"
    );
    assert_eq!(
        stdout
            .matches("ok: cargo check --all-targets passed")
            .count(),
        2,
        "{stdout}"
    );
}

#[test]
#[ignore = "slow: needs the Debian archive, a cross gcc, qemu-user and a guest image; run with `cargo xtask test`"]
fn packaged_test_cells_run_what_the_packaged_compiler_linked_natively_under_qemu_user_and_in_a_guest(
) {
    require_tools();
    let ws = fixture_workspace("ws-new-std-api");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(xtask())
            .args(["matrix", "--workspace", ws.path().to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    };
    // The packaged chain alone: check, build, then the tests, natively for
    // x86_64 and under qemu-user for aarch64.
    run(&[
        "--platform",
        "linux-debian12-aarch64,linux-debian12-x86_64",
        "--lane",
        "packaged",
    ]);
    // The same executables in the x86_64 guest.
    run(&[
        "--platform",
        "linux-debian12-x86_64",
        "--lane",
        "packaged-vm",
        "--stage",
        "test",
    ]);
    let results = results(ws.path());
    for (id, ran) in [
        (
            "linux-debian12-aarch64/test@packaged",
            "they ran under qemu-aarch64-static (user mode, Debian bookworm arm64 sysroot)",
        ),
        (
            "linux-debian12-x86_64/test@packaged",
            "they ran natively on this host",
        ),
        (
            "linux-debian12-x86_64/test@packaged-vm",
            "they ran in the debian12-amd64 guest",
        ),
    ] {
        let c = cell(&results, id);
        assert_eq!(c["status"], "pass", "{id}: {c:#}");
        assert_eq!(c["lane"], id.rsplit('@').next().unwrap(), "{c:#}");
        let passed: Vec<&str> = c["tests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["outcome"] == "pass")
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(passed, ["tests::splits_evens_from_odds"], "{id}: {c:#}");
        assert_eq!(
            c["provenance"]["details"]["packaged-tests"],
            format!("packaged rustc-web 1.96.0+dfsg1-1~deb12u2 built them; {ran}"),
            "{c:#}"
        );
    }
    // The report's verdict comes from them.
    let report = std::fs::read_to_string(ws.path().join("target/matrix/report/status.md")).unwrap();
    assert!(
        report.contains(
            "can build and pass its tests: packaged rustc-web 1.96.0+dfsg1-1~deb12u2 built it (linux-debian12-x86_64/build@packaged) and its tests passed (linux-debian12-x86_64/test@packaged, linux-debian12-x86_64/test@packaged-vm)"
        ),
        "{report}"
    );
}

#[test]
fn the_packaged_chain_plans_test_cells_on_the_runners_of_the_other_test_lanes() {
    let ws = fixture_workspace("ws-new-std-api");
    let out = std::process::Command::new(xtask())
        .args([
            "matrix",
            "--workspace",
            ws.path().to_str().unwrap(),
            "--platform",
            "linux-debian12-aarch64,linux-debian12-x86_64",
            "--plan",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for (id, runner) in [
        ("linux-debian12-aarch64/test@packaged", "runner qemu-user"),
        ("linux-debian12-aarch64/test@packaged-vm", "runner vm"),
        ("linux-debian12-x86_64/test@packaged", "runner native"),
        ("linux-debian12-x86_64/test@packaged-vm", "runner vm"),
    ] {
        let line = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .unwrap_or_else(|| panic!("no {id} in the plan:\n{stdout}"));
        // Where setup has not run, the cell says why it cannot run instead.
        if line.contains(" ready: ") {
            assert!(line.contains(" ready: packaged (rustc "), "{line}");
            assert!(line.ends_with(runner), "{line}");
        } else {
            assert!(line.contains(" unavailable: "), "{line}");
        }
    }
}
