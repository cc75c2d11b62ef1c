//! The cross lanes end to end: `cargo xtask setup --dry-run`, the hint a
//! machine without setup gets, and (slow) a BSD build with build-std and zig
//! whose executables are identified, and the fixture's tests under qemu-user.

use std::path::{Path, PathBuf};

use crate::support::{cell, fixture_workspace, logged_commands, results, run, text, xtask};
use xtask::testing::require;

#[test]
fn setup_dry_run_installs_nothing() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let out = run(&["setup", "--dry-run"], Some(log.path()));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next(),
        Some("cargo xtask setup --dry-run: nothing is changed")
    );
    for line in lines {
        assert!(
            ["ok    [", "note  ", "run   [", "root  ["]
                .iter()
                .any(|p| line.starts_with(p)),
            "unexpected line: {line}"
        );
    }
    // Each requirement is named, whether present or to be installed.
    for name in [
        "rust-web-src",
        "qemu-user-static",
        "ziglang",
        "cargo-zigbuild",
        "qemu-system-common",
    ] {
        assert!(stdout.contains(name), "{name} is missing from:\n{stdout}");
    }
    for argv in logged_commands(log.path()) {
        let line = argv.join(" ");
        assert!(
            !line.contains(" install") && !line.contains(" update"),
            "a dry run ran `{line}`"
        );
    }
}

/// A PATH with rustc and cargo but nothing `cargo xtask setup` would install.
fn bare_path(dir: &Path) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["rustc", "cargo"] {
        let real = which(tool).unwrap_or_else(|| panic!("{tool} is not on PATH"));
        std::os::unix::fs::symlink(real, bin.join(tool)).unwrap();
    }
    format!("{}:/bin", bin.display())
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

#[test]
fn a_machine_without_setup_is_told_to_run_it() {
    let ws = fixture_workspace("ws-basic");
    let out = std::process::Command::new(xtask())
        .args([
            "matrix",
            "--workspace",
            ws.path().to_str().unwrap(),
            "--os",
            "openbsd",
            "--stage",
            "build",
            "--plan",
        ])
        .env("PATH", bare_path(ws.path()))
        .env("XTASK_CACHE_DIR", ws.path().join("cache"))
        .env_remove("CARGO_ZIGBUILD_PYTHON_PATH")
        .env_remove("CARGO_ZIGBUILD_ZIG_PATH")
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    // Without /usr/bin on PATH there is neither cargo-zigbuild nor zig; Debian's
    // compiler is found by its path whether or not PATH has it.
    for id in [
        "openbsd-7.8-x86_64/build@cross",
        "openbsd-7.8-aarch64/build@cross",
    ] {
        let line = all
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("no {id} in:\n{all}"));
        assert!(line.contains("unavailable: no toolchain for"), "{line}");
        assert!(line.contains("(enable: `cargo xtask setup`"), "{line}");
    }
    assert!(
        all.contains("note: 4 cells are unavailable until `cargo xtask setup` installs what they need (run it as root, or pass --setup)"),
        "{all}"
    );
}

/// Prerequisites of the slow tests, failing loudly when setup did not provide them.
fn require_cross(gcc: Option<&str>, emulator: Option<&str>) {
    let has = |p: &str| which(p).is_some() || Path::new(p).is_file();
    require(
        has("/usr/bin/rustc") && Path::new("/usr/lib/rustlib/src/rust/src/version").is_file(),
        "Debian's rustc-web with rust-web-src",
        "apt-get install rustc-web cargo-web rust-web-src",
    );
    require(
        has("cargo-zigbuild"),
        "cargo-zigbuild",
        "cargo install cargo-zigbuild --locked",
    );
    if let Some(gcc) = gcc {
        require(has(gcc), gcc, "apt-get install the Debian cross gcc");
    }
    if let Some(emulator) = emulator {
        require(has(emulator), emulator, "apt-get install qemu-user-static");
    }
}

#[test]
#[ignore = "slow: needs rustc-web, rust-web-src and cargo-zigbuild; run with `cargo xtask test`"]
fn bsd_build_links_every_executable_and_identifies_it() {
    require_cross(None, None);
    let ws = fixture_workspace("ws-basic");
    let platform = "freebsd-14.4-x86_64";
    let args = [
        "matrix",
        "--workspace",
        ws.path().to_str().unwrap(),
        "--platform",
        platform,
        "--stage",
        "build",
        "--no-report",
    ];
    let out = run(&args, None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = results(ws.path());
    let build = cell(&r, &format!("{platform}/build@cross"));
    assert_eq!(build["status"], "pass", "{build:#}");
    let prov = &build["provenance"];
    assert_eq!(prov["toolchain"], "build-std");
    assert_eq!(prov["linker"], "zig");
    assert!(
        prov["details"]["abi-note"]
            .as_str()
            .unwrap()
            .starts_with("FreeBSD 14."),
        "{prov:#}"
    );
    let artifacts = build["artifacts"].as_array().unwrap();
    // The lib's and the binary's unit tests, the integration test, the binary.
    assert_eq!(artifacts.len(), 4, "{artifacts:#?}");
    for a in artifacts {
        let id = &a["identity"];
        assert_eq!(
            (
                id["os"].as_str(),
                id["machine"].as_str(),
                id["class"].as_str()
            ),
            (Some("freebsd"), Some("x86-64"), Some("ELF64")),
            "{a:#}"
        );
        assert_eq!(id["interpreter"], "/libexec/ld-elf.so.1");
    }

    // An unchanged rerun reuses the result and spawns no build.
    let log = ws.path().join("commands.log");
    let out = run(&args, Some(&log));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("1 unchanged and reused"),
        "{}",
        text(&out)
    );
    assert!(
        !logged_commands(&log)
            .iter()
            .any(|argv| argv.iter().any(|a| a == "zigbuild")),
        "an unchanged rerun built again"
    );
}

#[test]
#[ignore = "slow: needs rustc-web, cargo-zigbuild, aarch64-linux-gnu-gcc and qemu-aarch64-static; run with `cargo xtask test`"]
fn aarch64_tests_run_under_qemu_user() {
    require_cross(Some("aarch64-linux-gnu-gcc"), Some("qemu-aarch64-static"));
    let ws = fixture_workspace("ws-basic");
    let platform = "linux-debian12-aarch64";
    let out = run(
        &[
            "matrix",
            "--workspace",
            ws.path().to_str().unwrap(),
            "--platform",
            platform,
            "--stage",
            "test",
            "--lane",
            "qemu-user",
            "--no-report",
        ],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "the fixture's failing test must fail the cell:\n{}",
        text(&out)
    );
    let r = results(ws.path());
    let test = cell(&r, &format!("{platform}/test@qemu-user"));
    assert_eq!(test["lane"], "qemu-user");
    let outcome = |name: &str| {
        test["tests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no test {name} in {test:#}"))["outcome"]
            .clone()
    };
    assert_eq!(outcome("tests::adds"), "pass");
    assert_eq!(outcome("tests::fails_on_purpose"), "fail");
    // The aarch64 `demo` binary, run through MATRIX_BIN_DIR's wrapper under the emulator.
    assert_eq!(outcome("runs_the_sibling_binary"), "pass");
    let details = &test["provenance"]["details"];
    assert!(
        details["emulator"]
            .as_str()
            .unwrap()
            .starts_with("qemu-aarch64 version"),
        "{details:#}"
    );
    assert!(
        details["sysroot"].as_str().unwrap().contains("libc6"),
        "{details:#}"
    );
    assert_eq!(test["provenance"]["linker"], "gcc");
}

#[test]
fn the_cross_rs_lane_says_what_it_needs() {
    let ws = fixture_workspace("ws-basic");
    let out = run(
        &[
            "matrix",
            "--workspace",
            ws.path().to_str().unwrap(),
            "--lane",
            "cross-rs",
            "--arch",
            "aarch64",
            "--stage",
            "build",
            "--plan",
        ],
        None,
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    let line = |id: &str| {
        all.lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("no {id} in:\n{all}"))
            .to_string()
    };
    assert!(line("openbsd-7.8-aarch64/build@cross-rs")
        .ends_with("unavailable: platforms/openbsd.toml does not list cross-rs for aarch64"));
    // Without a container engine that answers (these machines have none) the
    // cell says so and how to get one; with one, cross-rs is the toolchain.
    let linux = line("linux-debian12-aarch64/build@cross-rs");
    assert!(
        linux.contains("ready: cross-rs")
            || (linux.contains("unavailable: cross-rs: ") && linux.contains("(enable: ")),
        "{linux}"
    );
}
