//! QEMU from the host release's backports suite, unpacked into a private
//! directory of the cache (never installed: the host keeps its own QEMU).
//!
//! The real-QEMU tests of `vhost-user-input` and `vhost-user-rng` need it:
//! bookworm's QEMU 7.2 refuses `vhost-user-input-pci` without KVM, and its
//! `vhost-user-rng-pci` passes the guest's features through to the back-end
//! unmasked (it acknowledges `EVENT_IDX`, which no back-end offered), so a
//! back-end that checks what it is told closes the connection. QEMU 10.0.2
//! (bookworm-backports) does neither. The suite's sources are the host's own
//! release entries renamed (`apt::backports_for_suite`); the packages are
//! checked against the lists' SHA-256, held to [`QEMU_UPSTREAM`], and
//! unpacked with `dpkg-deb -x` together with their firmware (SeaBIOS), which
//! QEMU is pointed at with `-L`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::apt::{self, AptState};
use crate::cmd::Cmd;
use crate::paths::FileLock;

/// The QEMU release the tests were verified with (the upstream part of
/// Debian's version).
pub const QEMU_UPSTREAM: &str = "10.0.2";
/// What is unpacked: the emulator, its shared data, firmware.
pub const PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "qemu-system-common",
    "qemu-system-data",
    "seabios",
];

/// An unpacked QEMU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackportQemu {
    /// `qemu-system-x86_64`.
    pub binary: PathBuf,
    /// QEMU's arguments that find the unpacked firmware and ROMs first.
    pub data_args: Vec<String>,
}

/// Where it is unpacked.
pub fn dir() -> PathBuf {
    crate::paths::cache_dir()
        .join("qemu-backport")
        .join(QEMU_UPSTREAM)
}

/// Written last, once everything is unpacked and QEMU ran.
pub fn marker() -> PathBuf {
    dir().join("complete")
}

fn in_root(root: &Path) -> BackportQemu {
    let share = root.join("usr/share");
    BackportQemu {
        binary: root.join("usr/bin/qemu-system-x86_64"),
        data_args: vec![
            "-L".into(),
            share.join("qemu").display().to_string(),
            "-L".into(),
            share.join("seabios").display().to_string(),
        ],
    }
}

/// The unpacked QEMU, if a complete one is there.
pub fn find() -> Option<BackportQemu> {
    marker().is_file().then(|| in_root(&dir().join("root")))
}

/// Unpacks it unless it is there already (idempotent; one process at a time).
pub fn install(progress: &dyn Fn(&str)) -> Result<BackportQemu> {
    let dir = dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let _lock = FileLock::acquire(&dir.with_extension("lock"))?;
    if let Some(found) = find() {
        return Ok(found);
    }
    let codename = apt::host_codename()?;
    let suite = format!("{codename}-backports");
    let sources = apt::backports_for_suite(&apt::host_sources()?, &codename)?;
    let arch = "amd64";
    if std::env::consts::ARCH != "x86_64" {
        bail!(
            "the QEMU backport is unpacked for amd64 hosts only; this host is {}",
            std::env::consts::ARCH
        );
    }
    let state = AptState::open_with_sources(&apt::cache_root(), &suite, arch, sources)?;
    let lock = state.lock()?;
    progress(&format!("updating the Debian {suite} lists"));
    if let Some(why) = state.update(&lock, apt::UPDATE_TIMEOUT)? {
        progress(&format!("using the lists at hand: {why}"));
    }
    let names: Vec<String> = PACKAGES.iter().map(|p| p.to_string()).collect();
    let records = state.show(&names)?;
    for r in records.iter().filter(|r| r.package.starts_with("qemu-")) {
        if !is_verified(&r.version) {
            bail!(
                "{suite} has {} {}, not QEMU {QEMU_UPSTREAM} which the tests were verified with; \
                 update xtask::vm::backport::QEMU_UPSTREAM after checking the new one",
                r.package,
                r.version
            );
        }
    }
    progress(&format!(
        "downloading {}",
        records
            .iter()
            .map(|r| r.identity())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let debs = state.download(&lock, &records, Duration::from_secs(600))?;
    let staging = dir.join("root.partial");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;
    for deb in &debs {
        apt::extract(deb, &staging)?;
    }
    let qemu = in_root(&staging);
    check_runs(&qemu.binary)?;
    let root = dir.join("root");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::rename(&staging, &root)
        .with_context(|| format!("cannot move {} to {}", staging.display(), root.display()))?;
    let records_text: String = records
        .iter()
        .map(|r| format!("{}\n", r.identity()))
        .collect();
    crate::paths::write_atomic(&marker(), records_text.as_bytes())?;
    Ok(in_root(&root))
}

/// Whether Debian version `version` packages QEMU [`QEMU_UPSTREAM`]
/// (repacked `+ds` sources included).
pub fn is_verified(version: &str) -> bool {
    let up = apt::upstream_version(version);
    up == QEMU_UPSTREAM
        || up
            .strip_prefix(QEMU_UPSTREAM)
            .is_some_and(|rest| rest.starts_with('+'))
}

/// Runs `qemu --version`; a shared library the host lacks is named.
fn check_runs(binary: &Path) -> Result<()> {
    let out = Cmd::new(binary).arg("--version").run()?;
    if out.record.success() && out.stdout_str().contains(QEMU_UPSTREAM) {
        return Ok(());
    }
    let ldd = Cmd::new("ldd")
        .arg(binary)
        .run()
        .map(|o| o.stdout_str())
        .unwrap_or_default();
    let missing: Vec<&str> = ldd
        .lines()
        .filter(|l| l.contains("not found"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    bail!(
        "{} does not run ({}){}",
        binary.display(),
        out.record.describe(),
        if missing.is_empty() {
            String::new()
        } else {
            format!(
                "; the host lacks {} (install the host's qemu-system-x86, which needs the same libraries)",
                missing.join(", ")
            )
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_versions_of_the_verified_release_are_accepted() {
        assert!(is_verified("1:10.0.2+ds-2+deb13u1~bpo12+1"));
        assert!(is_verified("10.0.2-1"));
        assert!(!is_verified("1:10.0.20+ds-1"));
        assert!(!is_verified("1:10.1.0+ds-1~bpo12+1"));
    }
}
