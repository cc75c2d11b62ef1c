//! The qemu-user lane: a Linux target's test executables run on this host
//! under `qemu-<arch>-static`, with a sysroot made from that architecture's
//! Debian packages (its dynamic loader and C library).
//!
//! No binfmt_misc handler is assumed (the project's machines have none), so
//! a test that runs a sibling binary cannot exec a foreign executable
//! directly: `MATRIX_BIN_DIR` points at small shell scripts, one per
//! workspace binary, that run the real binary under the same emulator.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub(crate) mod sysroot;

use super::{watchdog, CellCtx, Payload, RunnerOutcome};
use crate::cmd::Cmd;
use crate::libtest::Ending;
use crate::model::Model;
use crate::requirements::{Requirement, SetupStep};
use crate::runner::qemu_user::QemuUserSpec;
pub use sysroot::{ensure_sysroot, make_self_contained};

/// Writes one wrapper script per binary into `dir`: `exec <emulator> -L <sysroot> <binary> "$@"`.
pub fn write_wrappers(dir: &Path, spec: &QemuUserSpec, bins: &[(String, PathBuf)]) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, real) in bins {
        // Each path is quoted whole, so no path can inject shell syntax.
        let script = format!(
            "#!/bin/sh\n# {name} for {arch}, under qemu-user: this host runs no foreign executable directly.\nexec {emu} -L {root} {real} \"$@\"\n",
            arch = spec.debian_arch,
            emu = sh_quote(&spec.emulator.display().to_string()),
            root = sh_quote(&spec.sysroot.display().to_string()),
            real = sh_quote(&real.display().to_string()),
        );
        let path = dir.join(name);
        std::fs::write(&path, script)
            .with_context(|| format!("cannot write {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// Single-quotes a word for a POSIX shell.
fn sh_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

pub(super) fn run_tests(
    spec: &QemuUserSpec,
    payload: &Payload,
    ctx: &CellCtx<'_>,
) -> Result<RunnerOutcome> {
    let sysroot = match ensure_sysroot(spec, ctx.remaining(), ctx.progress) {
        Ok(s) => s,
        // The archive out of reach is this host's state, not a result of the code under test.
        Err(err) if !crate::cmd::cancelled() => {
            return Ok(RunnerOutcome {
                fault: Some((
                    crate::results::Status::Unavailable,
                    format!(
                        "cannot make the Debian {} {} sysroot: {err:#}",
                        spec.suite, spec.debian_arch
                    ),
                )),
                ..RunnerOutcome::default()
            });
        }
        Err(err) => return Err(err),
    };
    let wrappers = match payload.bin_dir() {
        Some(dir) => {
            let wrappers = dir.join("qemu-user-bin");
            let bins: Vec<(String, PathBuf)> = payload
                .bins
                .iter()
                .map(|b| (b.name.clone(), b.path.clone()))
                .collect();
            write_wrappers(&wrappers, spec, &bins)?;
            Some(wrappers)
        }
        None => None,
    };
    let mut outcome = run_under(
        spec,
        payload,
        ctx,
        wrappers.as_deref(),
        injected_emulator_faults(),
    )?;
    let mut details = BTreeMap::new();
    details.insert("emulator".into(), spec.emulator_version.clone());
    details.insert("test-threads".into(), spec.test_threads.to_string());
    details.insert(
        "sysroot".into(),
        format!("Debian {} {}: {sysroot}", spec.suite, spec.debian_arch),
    );
    if wrappers.is_some() {
        details.insert(
            "sibling-binaries".into(),
            "through wrapper scripts running qemu-user (no binfmt_misc)".into(),
        );
    }
    outcome.details.extend(details);
    Ok(outcome)
}

/// Runs the executables under the emulator, one test at a time, the first
/// `injected` executable runs with an empty sysroot (`XTASK_INJECT_EMULATOR_FAULTS`).
fn run_under(
    spec: &QemuUserSpec,
    payload: &Payload,
    ctx: &CellCtx<'_>,
    wrappers: Option<&Path>,
    injected: u32,
) -> Result<RunnerOutcome> {
    // With one test at a time, uncaptured output in one stream is each
    // test's own (`libtest::parse`): a test killed at its limit keeps it.
    let nocapture = spec.test_threads == 1;
    let injected = std::cell::Cell::new(injected);
    let empty_root = tempfile::Builder::new()
        .prefix("vhu-no-sysroot-")
        .tempdir()?;
    let emulator = emulator_name(&spec.emulator);
    let check = |w: &watchdog::Watched| infrastructure_fault(w, &emulator);
    super::run_each(
        payload,
        ctx,
        wrappers,
        |exe| {
            // An injected fault: an empty sysroot, so the emulator finds no
            // dynamic loader and says so (a real infrastructure failure).
            let root = if injected.get() > 0 {
                injected.set(injected.get() - 1);
                empty_root.path()
            } else {
                spec.sysroot.as_path()
            };
            let cmd = Cmd::new(&spec.emulator)
                .arg("-L")
                .arg(root)
                .arg(&exe.path)
                .arg(format!("--test-threads={}", spec.test_threads));
            if nocapture {
                cmd.arg(crate::libtest::NOCAPTURE_ARG).stderr_to_stdout()
            } else {
                cmd
            }
        },
        Some(&check),
        !nocapture,
    )
}

/// `XTASK_INJECT_EMULATOR_FAULTS=N`: the first N runs of a test executable
/// in each qemu-user cell get an empty sysroot, so the emulator fails to
/// load it (a real infrastructure failure), for the tests of the
/// infrastructure retry. Unset (or 0) in every ordinary run.
fn injected_emulator_faults() -> u32 {
    std::env::var("XTASK_INJECT_EMULATOR_FAULTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The name the emulator puts before its own messages (its file name).
fn emulator_name(emulator: &Path) -> String {
    emulator
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| emulator.display().to_string())
}

/// Did this run fail because of the emulator rather than the tests? A run
/// that failed and holds the emulator's own error (`qemu-aarch64-static:
/// Could not open '/lib/ld-linux-aarch64.so.1'`, `qemu: fatal: …`), or
/// that was killed outright by someone else (SIGKILL: the OOM killer). A
/// test's crash (`qemu: uncaught target signal 11`), a failing test or a
/// timeout is not.
pub(crate) fn infrastructure_fault(w: &watchdog::Watched, emulator: &str) -> Option<String> {
    match w.ending {
        Ending::Exited(0) | Ending::TimedOut => return None,
        Ending::Signalled(9) => {
            return Some("the emulator was killed by signal 9 (the OOM killer?)".into())
        }
        _ => {}
    }
    let own = format!("{emulator}: ");
    let stderr = w
        .records
        .last()
        .map(|r| r.stderr_tail.as_str())
        .unwrap_or("");
    w.stdout
        .lines()
        .chain(stderr.lines())
        .map(str::trim)
        .find(|l| {
            (l.starts_with(&own) || l.starts_with("qemu: "))
                && !l.contains("uncaught target signal")
        })
        .map(|l| format!("the emulator failed: {l}"))
}

/// What this lane needs installed.
pub fn setup_steps() -> Vec<SetupStep> {
    vec![SetupStep::new(
        "qemu-user",
        Requirement::apt(&["qemu-user-static"]),
    )]
}

/// `cargo xtask doctor`'s view of this lane.
pub fn prerequisites(model: &Model) -> Vec<crate::requirements::Prereq> {
    use crate::requirements::Prereq;
    let install = "apt-get install --no-install-recommends qemu-user-static";
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for p in &model.platforms {
        if let Some(emulator) = &p.qemu_user {
            if seen.insert(emulator.clone()) {
                out.push(
                    Prereq::program("qemu-user", emulator, &["--version"], install)
                        .covering(&["qemu-user-static"]),
                );
            }
        }
    }
    out.push(
        Prereq::program(
            "qemu-user",
            "apt-get",
            &["--version"],
            "(part of every Debian system)",
        )
        .covering(&["apt"]),
    );
    out.push(
        Prereq::program(
            "qemu-user",
            "dpkg-deb",
            &["--version"],
            "(part of every Debian system)",
        )
        .covering(&["dpkg"]),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in emulator: without a `ready` file in its `-L` root it fails
    /// the way qemu-user does without a dynamic loader; with one, it prints
    /// what a test executable with a passing and a failing test prints.
    const FAKE_EMULATOR: &str = r#"#!/bin/sh
if [ ! -e "$2/ready" ]; then
    echo "emu: Could not open '/lib/ld-linux-aarch64.so.1': No such file or directory" >&2
    exit 255
fi
echo '{ "type": "test", "event": "started", "name": "t::ok" }'
echo '{ "type": "test", "name": "t::ok", "event": "ok" }'
echo '{ "type": "test", "event": "started", "name": "t::fails" }'
echo 'fails: on purpose' >&2
echo '{ "type": "test", "name": "t::fails", "event": "failed" }'
exit 101
"#;

    fn fake_spec(dir: &Path) -> QemuUserSpec {
        use std::os::unix::fs::PermissionsExt;
        let emu = dir.join("emu");
        std::fs::write(&emu, FAKE_EMULATOR).unwrap();
        std::fs::set_permissions(&emu, std::fs::Permissions::from_mode(0o755)).unwrap();
        let sysroot = dir.join("root");
        std::fs::create_dir_all(&sysroot).unwrap();
        std::fs::write(sysroot.join("ready"), "").unwrap();
        QemuUserSpec {
            emulator: emu,
            emulator_version: String::new(),
            debian_arch: "arm64".into(),
            suite: "bookworm".into(),
            packages: vec![],
            sysroot,
            test_threads: 1,
        }
    }

    /// An emulator that fails as infrastructure is run again and the cell's
    /// provenance says so; a failing test is neither an infrastructure
    /// fault nor rerun without `--retries`.
    #[test]
    fn emulator_faults_are_retried_and_test_failures_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let spec = fake_spec(dir.path());
        let ws = crate::workspace::Workspace {
            root: dir.path().to_path_buf(),
            name: "ws".into(),
            target_dir: dir.path().join("target"),
            packages: vec![],
        };
        let payload = Payload {
            tests: vec![super::super::cargo::Executable {
                package: "p".into(),
                name: "t".into(),
                kind: super::super::cargo::ExeKind::Test,
                path: dir.path().join("t-aarch64"),
                manifest_dir: dir.path().to_path_buf(),
            }],
            bins: vec![],
        };
        let memory = crate::budget::Budget::new(1024);
        let ctx = CellCtx {
            workspace: &ws,
            deadline: std::time::Instant::now() + std::time::Duration::from_secs(60),
            progress: &|_| {},
            memory: &memory,
            build_done: &|| {},
            test_limit: std::time::Duration::from_secs(30),
            retries: 0,
            infra_retries: 1,
        };
        let failing_test_only = |o: &RunnerOutcome| {
            assert_eq!(o.runs.len(), 1);
            let tests = crate::libtest::parse("p", "t", &o.runs[0].stdout, o.runs[0].ending);
            let got: Vec<_> = tests
                .iter()
                .map(|t| (t.name.as_str(), t.outcome, t.output.as_deref()))
                .collect();
            use crate::results::TestOutcome::{Fail, Pass};
            assert_eq!(
                got,
                [
                    ("t::ok", Pass, None),
                    ("t::fails", Fail, Some("fails: on purpose"))
                ]
            );
            assert!(o.runs[0].retried.is_empty(), "never rerun silently");
        };

        // A failing test alone: one run, no attempts noted.
        let got = run_under(&spec, &payload, &ctx, None, 0).unwrap();
        assert!(got.fault.is_none());
        assert!(!got.details.contains_key("attempts"), "{:?}", got.details);
        failing_test_only(&got);

        // The emulator fails once, then runs: retried and recorded.
        let got = run_under(&spec, &payload, &ctx, None, 1).unwrap();
        assert!(got.fault.is_none(), "{:?}", got.fault);
        assert_eq!(got.details["attempts"], "2");
        assert_eq!(
            got.details["attempt-1"],
            "infrastructure fault: p::t: the emulator failed: emu: Could not open '/lib/ld-linux-aarch64.so.1': No such file or directory"
        );
        assert_eq!(
            got.commands.len(),
            1,
            "the failed attempt's command is kept"
        );
        failing_test_only(&got);

        // It never runs: retried once, then the cell's fault.
        let got = run_under(&spec, &payload, &ctx, None, 2).unwrap();
        let (status, reason) = got.fault.unwrap();
        assert_eq!(status, crate::results::Status::Fail);
        assert!(
            reason.starts_with("infrastructure fault after 2 attempts: p::t: the emulator failed: emu: Could not open"),
            "{reason}"
        );
    }

    #[test]
    fn wrappers_pass_every_argument_through() {
        let dir = tempfile::tempdir().unwrap();
        // A stand-in emulator that prints the arguments it was given, one per line.
        let emu = dir.path().join("emu it's");
        std::fs::write(&emu, "#!/bin/sh\nfor a in \"$@\"; do echo \"[$a]\"; done\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&emu, std::fs::Permissions::from_mode(0o755)).unwrap();
        let spec = QemuUserSpec {
            emulator: emu,
            emulator_version: String::new(),
            debian_arch: "arm64".into(),
            suite: "bookworm".into(),
            packages: vec![],
            sysroot: dir.path().join("sys root"),
            test_threads: 1,
        };
        let bin_dir = dir.path().join("bin");
        write_wrappers(
            &bin_dir,
            &spec,
            &[("demo".into(), dir.path().join("real $(demo)"))],
        )
        .unwrap();
        let out = Cmd::new(bin_dir.join("demo"))
            .args(["a b", "'c'", "$HOME"])
            .run()
            .unwrap()
            .ok()
            .unwrap();
        let root = dir.path().display();
        assert_eq!(
            out.stdout_str(),
            format!("[-L]\n[{root}/sys root]\n[{root}/real $(demo)]\n[a b]\n['c']\n[$HOME]\n")
        );
    }
}
