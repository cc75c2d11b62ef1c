//! Resolution for the qemu-user lane: which emulator, which Debian suite
//! and architecture the sysroot comes from, and whether this host can fetch
//! it. Pure but for [`probe`]'s cheap look-ups; nothing is downloaded here.

use std::path::PathBuf;

use serde::Serialize;

use super::RunnerSpec;
use crate::apt;
use crate::host::which;
use crate::model::{Model, Platform};
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
        return Err(Missing::until_setup(
            format!("{emulator_name} is not on PATH"),
            "apt-get install --no-install-recommends qemu-user-static",
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
        assert_eq!(none.enable.map(|e| e.to_string()).as_deref(), Some("`cargo xtask setup` (or: apt-get install --no-install-recommends qemu-user-static)"));
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
}
