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

use super::{CellCtx, Payload, RunnerOutcome};
use crate::cmd::Cmd;
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
    let mut outcome = super::run_each(payload, ctx, wrappers.as_deref(), |exe| {
        Cmd::new(&spec.emulator)
            .arg("-L")
            .arg(&spec.sysroot)
            .arg(&exe.path)
            .arg(format!("--test-threads={}", spec.test_threads))
    })?;
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
