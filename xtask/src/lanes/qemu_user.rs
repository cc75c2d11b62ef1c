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
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;

use super::{CellCtx, Payload, RunnerOutcome, RunnerSpec};
use crate::apt::{self, AptState};
use crate::cmd::Cmd;
use crate::host::which;
use crate::model::{Model, Platform};
use crate::setup::{enable_hint, Requirement, SetupStep};
use crate::toolchain::Missing;

/// The packages a sysroot is made of: the dynamic loader and C library, and
/// the unwinder Rust's std links against.
pub const SYSROOT_PACKAGES: [&str; 2] = ["libc6", "libgcc-s1"];

/// Everything the runner needs, fixed at resolution (and hashed into the fingerprint).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct QemuUserSpec {
    pub emulator: PathBuf,
    /// `qemu-aarch64 version 7.2.x (Debian …)`.
    pub emulator_version: String,
    pub debian_arch: String,
    pub suite: String,
    pub packages: Vec<String>,
    /// Where the sysroot is (or will be) unpacked.
    pub sysroot: PathBuf,
    /// libtest's `--test-threads`: 1, because a test that forks while other
    /// threads of the emulated program run can deadlock the child inside
    /// qemu-user (seen on ppc64le: a spawned back-end hung in its fork).
    pub test_threads: u32,
}

/// What resolution needs to know about the host, gathered by [`probe`] or written by a test.
#[derive(Debug, Clone, Default)]
pub struct QemuFacts {
    /// The emulator's path and `--version` first line, if on PATH.
    pub emulator: Option<(PathBuf, String)>,
    pub host_suite: Option<String>,
    /// A sysroot is already unpacked for this suite and architecture.
    pub sysroot_ready: bool,
    /// Why packages cannot be fetched (no apt-get, no usable source), if so.
    pub cannot_fetch: Option<String>,
}

pub(super) fn resolve(platform: &Platform, model: &Model) -> Result<RunnerSpec, Missing> {
    let (Some(emulator), Some(arch)) = (
        platform.qemu_user.as_deref(),
        platform.debian_arch.as_deref(),
    ) else {
        return Err(Missing::new(
            format!(
                "{} names no qemu-user emulator for {}",
                platform.source, platform.arch
            ),
            None,
        ));
    };
    let host_suite = apt::host_codename().ok();
    let suite = suite_for(platform, model, host_suite.as_deref());
    let facts = probe(emulator, suite.as_deref(), arch);
    resolve_with(platform, suite, &facts).map(RunnerSpec::QemuUser)
}

/// The Debian suite a platform's sysroot comes from: its guest image's suite
/// (riscv64 is in trixie, not bookworm), else the host's own.
pub fn suite_for(platform: &Platform, model: &Model, host_suite: Option<&str>) -> Option<String> {
    platform
        .vm_image
        .as_ref()
        .and_then(|id| model.vm_images.get(id))
        .and_then(|image| image.debian.as_ref())
        .map(|d| d.suite.clone())
        .or_else(|| host_suite.map(str::to_string))
}

pub fn sysroot_dir(suite: &str, arch: &str) -> PathBuf {
    crate::paths::cache_dir()
        .join("qemu-user")
        .join(format!("{suite}-{arch}"))
}

fn probe(emulator: &str, suite: Option<&str>, arch: &str) -> QemuFacts {
    let emulator = which(emulator).map(|path| {
        let version = crate::host::version_line(&path, &["--version"]).unwrap_or_default();
        (path, version)
    });
    let sysroot_ready = suite.is_some_and(|s| sysroot_dir(s, arch).join("manifest.txt").is_file());
    let cannot_fetch = if sysroot_ready {
        None
    } else if which("apt-get").is_none() || which("dpkg").is_none() {
        Some("apt-get and dpkg are needed to fetch the sysroot's Debian packages".to_string())
    } else if let Some(suite) = suite {
        apt::derived_sources(suite).err().map(|e| format!("{e:#}"))
    } else {
        Some("this host is not Debian (no VERSION_CODENAME in /etc/os-release)".into())
    };
    QemuFacts {
        emulator,
        host_suite: apt::host_codename().ok(),
        sysroot_ready,
        cannot_fetch,
    }
}

/// Resolution as a pure function of the facts.
pub fn resolve_with(
    platform: &Platform,
    suite: Option<String>,
    facts: &QemuFacts,
) -> Result<QemuUserSpec, Missing> {
    let emulator_name = platform.qemu_user.clone().unwrap_or_default();
    let arch = platform.debian_arch.clone().unwrap_or_default();
    let Some((emulator, emulator_version)) = facts.emulator.clone() else {
        return Err(Missing::new(
            format!("{emulator_name} is not on PATH"),
            Some(enable_hint(
                "apt-get install --no-install-recommends qemu-user-static",
            )),
        ));
    };
    let Some(suite) = suite else {
        return Err(Missing::new("no Debian suite for the sysroot: the host is not Debian and the platform has no Debian guest", None));
    };
    if let Some(why) = &facts.cannot_fetch {
        return Err(Missing::new(
            format!("cannot make a {suite} {arch} sysroot: {why}"),
            None,
        ));
    }
    Ok(QemuUserSpec {
        emulator,
        emulator_version,
        debian_arch: arch.clone(),
        suite: suite.clone(),
        packages: SYSROOT_PACKAGES.iter().map(|s| s.to_string()).collect(),
        sysroot: sysroot_dir(&suite, &arch).join("root"),
        test_threads: 1,
    })
}

/// Makes the sysroot if it is not there yet: the packages downloaded through
/// the suite × architecture's private apt state, unpacked, a manifest of what
/// went in. Built in a temporary directory and renamed, so a half-made
/// sysroot is never used.
pub fn ensure_sysroot(
    spec: &QemuUserSpec,
    timeout: Duration,
    progress: &dyn Fn(&str),
) -> Result<String> {
    let base = spec
        .sysroot
        .parent()
        .context("sysroot has no parent")?
        .to_path_buf();
    let manifest = base.join("manifest.txt");
    if let Ok(text) = std::fs::read_to_string(&manifest) {
        return Ok(text.trim().lines().collect::<Vec<_>>().join(", "));
    }
    let deadline = std::time::Instant::now() + timeout;
    let apt = AptState::open(&apt::cache_root(), &spec.suite, &spec.debian_arch)?;
    let lock = apt.lock()?;
    progress(&format!(
        "fetching Debian {} {} package lists",
        spec.suite, spec.debian_arch
    ));
    if let Some(warning) = apt.update(&lock, timeout)? {
        progress(&format!("warning: {warning}"));
    }
    progress(&format!(
        "downloading {} ({})",
        spec.packages.join(", "),
        spec.debian_arch
    ));
    let records = apt.show(&spec.packages)?;
    let remaining = deadline.saturating_duration_since(std::time::Instant::now());
    let debs = apt.download(&lock, &records, remaining)?;
    drop(lock);
    std::fs::create_dir_all(&base).with_context(|| format!("cannot create {}", base.display()))?;
    let work =
        tempfile::tempdir_in(&base).context("cannot make a temporary directory for the sysroot")?;
    let root = work.path().join("root");
    let mut lines = Vec::new();
    for (record, deb) in records.iter().zip(&debs) {
        apt::extract(deb, &root)?;
        lines.push(record.identity());
    }
    make_self_contained(&root)?;
    match std::fs::rename(&root, &spec.sysroot) {
        Ok(()) => {}
        // Another run made it meanwhile: theirs is as good as ours.
        Err(_) if spec.sysroot.is_dir() => {}
        Err(err) => {
            return Err(err)
                .with_context(|| format!("cannot move the sysroot to {}", spec.sysroot.display()))
        }
    }
    crate::results::write_atomic(&manifest, format!("{}\n", lines.join("\n")).as_bytes())?;
    Ok(lines.join(", "))
}

/// Makes an unpacked tree usable as `qemu -L` prefix. The emulator maps the
/// guest's paths into the prefix, but the kernel follows symlinks itself:
/// an absolute link (`/lib64/ld64.so.2 -> /lib/powerpc64le-linux-gnu/ld64.so.2`)
/// would lead out to the host, so it is made relative; and merged-/usr
/// suites (trixie) ship `/usr/lib` only, so `/lib` and friends become links
/// into `usr/` as on an installed system.
pub fn make_self_contained(root: &Path) -> Result<()> {
    for dir in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
        let (top, usr) = (root.join(dir), root.join("usr").join(dir));
        if usr.is_dir() && std::fs::symlink_metadata(&top).is_err() {
            std::os::unix::fs::symlink(Path::new("usr").join(dir), &top)
                .with_context(|| format!("cannot link {}", top.display()))?;
        }
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?
        {
            let path = entry?.path();
            let meta = std::fs::symlink_metadata(&path)?;
            if meta.is_dir() {
                stack.push(path);
            } else if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path)?;
                if let Ok(inside) = target.strip_prefix("/") {
                    let depth = path
                        .strip_prefix(root)
                        .map(|p| p.components().count() - 1)
                        .unwrap_or(0);
                    let relative: PathBuf = std::iter::repeat_n(Path::new(".."), depth)
                        .collect::<PathBuf>()
                        .join(inside);
                    std::fs::remove_file(&path)?;
                    std::os::unix::fs::symlink(&relative, &path)
                        .with_context(|| format!("cannot relink {}", path.display()))?;
                }
            }
        }
    }
    Ok(())
}

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
pub fn prerequisites(model: &Model) -> Vec<crate::doctor::Prereq> {
    use crate::doctor::Prereq;
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

    fn platform() -> Platform {
        let model =
            crate::model::load(&crate::model::DataDirs::under(&crate::repo_root())).unwrap();
        model.platform("linux-debian12-aarch64").unwrap().clone()
    }

    #[test]
    fn resolution_follows_the_facts() {
        let p = platform();
        let emulator = Some((
            PathBuf::from("/usr/bin/qemu-aarch64-static"),
            "qemu-aarch64 version 7.2.19".to_string(),
        ));
        let ok = resolve_with(
            &p,
            Some("bookworm".into()),
            &QemuFacts {
                emulator: emulator.clone(),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            (ok.debian_arch.as_str(), ok.suite.as_str()),
            ("arm64", "bookworm")
        );
        assert!(
            ok.sysroot.ends_with("qemu-user/bookworm-arm64/root"),
            "{}",
            ok.sysroot.display()
        );
        let none = resolve_with(&p, Some("bookworm".into()), &QemuFacts::default()).unwrap_err();
        assert_eq!(none.reason, "qemu-aarch64-static is not on PATH");
        assert_eq!(none.enable.as_deref(), Some("`cargo xtask setup` (or: apt-get install --no-install-recommends qemu-user-static)"));
        let no_source = QemuFacts {
            emulator,
            cannot_fetch: Some("no source".into()),
            ..Default::default()
        };
        assert_eq!(
            resolve_with(&p, Some("trixie".into()), &no_source)
                .unwrap_err()
                .reason,
            "cannot make a trixie arm64 sysroot: no source"
        );
    }

    #[test]
    fn riscv64_sysroot_comes_from_its_guest_suite() {
        let model =
            crate::model::load(&crate::model::DataDirs::under(&crate::repo_root())).unwrap();
        let suite = |id: &str| suite_for(model.platform(id).unwrap(), &model, Some("bookworm"));
        assert_eq!(suite("linux-debian13-riscv64").as_deref(), Some("trixie"));
        assert_eq!(suite("linux-debian12-s390x").as_deref(), Some("bookworm"));
    }

    #[test]
    fn sysroot_links_stay_inside_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("lib/powerpc64le-linux-gnu")).unwrap();
        std::fs::write(root.join("lib/powerpc64le-linux-gnu/ld64.so.2"), "loader").unwrap();
        std::fs::create_dir_all(root.join("lib64")).unwrap();
        std::os::unix::fs::symlink(
            "/lib/powerpc64le-linux-gnu/ld64.so.2",
            root.join("lib64/ld64.so.2"),
        )
        .unwrap();
        std::fs::create_dir_all(root.join("usr/lib/riscv64-linux-gnu")).unwrap();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        make_self_contained(root).unwrap();
        assert_eq!(
            std::fs::read_link(root.join("lib64/ld64.so.2")).unwrap(),
            Path::new("../lib/powerpc64le-linux-gnu/ld64.so.2")
        );
        assert_eq!(
            std::fs::read_to_string(root.join("lib64/ld64.so.2")).unwrap(),
            "loader"
        );
        // `lib` exists as a directory already; `bin` comes from merged /usr.
        assert!(std::fs::symlink_metadata(root.join("lib"))
            .unwrap()
            .is_dir());
        assert_eq!(
            std::fs::read_link(root.join("bin")).unwrap(),
            Path::new("usr/bin")
        );
        // Idempotent.
        make_self_contained(root).unwrap();
        assert_eq!(
            std::fs::read_link(root.join("bin")).unwrap(),
            Path::new("usr/bin")
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
