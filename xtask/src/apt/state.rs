//! A private apt state per suite × architecture under the shared cache: its
//! lists, archives and locks, and the `apt-get`/`apt-cache` runs on it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::sources::{derived_sources, redact_hosts, render_sources, uri_host};
use crate::cmd::{Cmd, Finished};
use crate::paths::FileLock;

/// How long `apt-get update` may take when the caller has no deadline of its
/// own: a cold state fetches tens of MB of lists, twice if a mirror is mid-sync.
pub const UPDATE_TIMEOUT: Duration = Duration::from_secs(900);

/// Where the states live: shared by every lane and by platform data.
pub fn cache_root() -> PathBuf {
    crate::paths::cache_dir().join("apt")
}

/// A private apt state for one suite × architecture.
pub struct AptState {
    pub dir: PathBuf,
    pub suite: String,
    pub arch: String,
    /// The archive hosts of its sources, kept out of every message.
    hosts: Vec<String>,
}

/// Held while a state's lists or downloaded packages change: one writer per
/// state at a time, across processes (apt itself would fail on its lock).
pub struct AptLock {
    _lock: FileLock,
}

/// The name of a package file as the archive describes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PackageRecord {
    pub package: String,
    pub version: String,
    pub architecture: String,
    pub filename: String,
    pub sha256: String,
    pub size: u64,
    #[serde(default)]
    pub depends: Option<String>,
}

impl PackageRecord {
    /// The name `apt-get download` gives the file (the epoch's `:` escaped).
    pub fn deb_name(&self) -> String {
        format!(
            "{}_{}_{}.deb",
            self.package,
            self.version.replace(':', "%3a"),
            self.architecture
        )
    }

    /// `libc6 2.36-9+deb12u13`: what a manifest records of it.
    pub fn identity(&self) -> String {
        format!("{} {}", self.package, self.version)
    }
}

/// `Package:` stanzas as `apt-cache show` prints them.
pub fn parse_records(text: &str) -> Vec<PackageRecord> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let get = |k: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
        };
        let (Some(package), Some(version), Some(architecture), Some(filename), Some(sha256)) = (
            get("Package:"),
            get("Version:"),
            get("Architecture:"),
            get("Filename:"),
            get("SHA256:"),
        ) else {
            continue;
        };
        out.push(PackageRecord {
            package,
            version,
            architecture,
            filename,
            sha256,
            size: get("Size:").and_then(|s| s.parse().ok()).unwrap_or(0),
            depends: get("Depends:"),
        });
    }
    out
}

impl AptState {
    /// The directory of the state for `suite` × `arch` under `root`, made or not.
    pub fn dir_for(root: &Path, suite: &str, arch: &str) -> PathBuf {
        root.join(format!("{suite}-{arch}"))
    }

    /// Creates (or reopens) the state under `root`, its sources derived from the host's.
    pub fn open(root: &Path, suite: &str, arch: &str) -> Result<AptState> {
        Self::open_with_sources(root, suite, arch, derived_sources(suite)?)
    }

    /// [`AptState::open`] with the sources given (a suite that is not
    /// derived pocket by pocket, such as backports).
    pub fn open_with_sources(
        root: &Path,
        suite: &str,
        arch: &str,
        sources: Vec<super::sources::Source>,
    ) -> Result<AptState> {
        let dir = Self::dir_for(root, suite, arch);
        for sub in [
            "lists/partial",
            "cache/archives/partial",
            "sources.list.d",
            "debs",
        ] {
            std::fs::create_dir_all(dir.join(sub))
                .with_context(|| format!("cannot create {}", dir.join(sub).display()))?;
        }
        let status = dir.join("status");
        if !status.exists() {
            std::fs::write(&status, "")
                .with_context(|| format!("cannot write {}", status.display()))?;
        }
        let text = render_sources(&sources, arch);
        let parts = dir.join("sources.list.d");
        let file = parts.join("matrix.sources");
        if std::fs::read_to_string(&file).ok().as_deref() != Some(text.as_str()) {
            crate::paths::write_atomic(&file, text.as_bytes())?;
        }
        // apt reads every file there: nothing but ours may stay.
        for entry in
            std::fs::read_dir(&parts).with_context(|| format!("cannot read {}", parts.display()))?
        {
            let path = entry?.path();
            if path != file {
                std::fs::remove_file(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?;
            }
        }
        let mut hosts: Vec<String> = sources
            .iter()
            .flat_map(|s| &s.uris)
            .filter_map(|u| uri_host(u))
            .map(str::to_string)
            .collect();
        hosts.sort();
        hosts.dedup();
        Ok(AptState {
            dir,
            suite: suite.to_string(),
            arch: arch.to_string(),
            hosts,
        })
    }

    /// Waits for (then holds) the right to update or download.
    pub fn lock(&self) -> Result<AptLock> {
        Ok(AptLock {
            _lock: FileLock::acquire(&self.dir.with_extension("lock"))?,
        })
    }

    /// The options that point apt at this state and at nothing of the host's but its keys.
    fn options(&self) -> Vec<String> {
        let d = self.dir.display();
        vec![
            format!("-oAPT::Architecture={}", self.arch),
            format!("-oAPT::Architectures={}", self.arch),
            format!("-oDir::State::Lists={d}/lists"),
            // The host's dpkg status lists its own packages; this state must not care.
            format!("-oDir::State::status={d}/status"),
            format!("-oDir::Cache={d}/cache"),
            "-oDir::Etc::SourceList=/dev/null".into(),
            format!("-oDir::Etc::SourceParts={d}/sources.list.d"),
            // Downloads land in our own directory; apt's sandbox user could not write there.
            "-oAPT::Sandbox::User=root".into(),
            "-oAcquire::Languages=none".into(),
            // Mirrors mid-sync answer with files of the wrong size now and then.
            "-oAcquire::Retries=3".into(),
        ]
    }

    fn lists_named(&self, part: &str) -> bool {
        std::fs::read_dir(self.dir.join("lists"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .any(|e| e.file_name().to_string_lossy().contains(part))
            })
            .unwrap_or(false)
    }

    /// Whether `apt-get update` has fetched any package list for this state.
    pub fn has_lists(&self) -> bool {
        self.lists_named("_Packages")
    }

    /// Whether the suite's own `main` list is here (its pockets may be missing).
    fn has_main_list(&self) -> bool {
        self.lists_named(&format!(
            "_dists_{}_main_binary-{}_Packages",
            self.suite, self.arch
        ))
    }

    /// A digest of the lists (names, sizes, times): what the archive looked like when last updated.
    pub fn lists_stamp(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut entries: Vec<String> = std::fs::read_dir(self.dir.join("lists"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let m = e.metadata().ok()?;
                        let t = m
                            .modified()
                            .ok()?
                            .duration_since(std::time::UNIX_EPOCH)
                            .ok()?
                            .as_secs();
                        Some(format!(
                            "{} {} {t}",
                            e.file_name().to_string_lossy(),
                            m.len()
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        entries.sort();
        crate::digest::hex(&Sha256::digest(entries.join("\n").as_bytes()))
    }

    /// What apt said went wrong (its `E:` lines, else the end of its
    /// stderr), one line, without the archive's host.
    fn errors(&self, out: &Finished) -> String {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let mut lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("E:")).collect();
        if lines.is_empty() {
            lines = out.record.stderr_tail.lines().collect();
        }
        lines
            .iter()
            .map(|l| redact_hosts(l.trim(), &self.hosts))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The error of a failed `command` on this state, naming both.
    fn failure(&self, out: &Finished, command: &str) -> anyhow::Error {
        anyhow::anyhow!(
            "`{command}` for Debian {} {} failed ({}): {}",
            self.suite,
            self.arch,
            out.record.describe(),
            self.errors(out)
        )
    }

    /// `out` if the command succeeded, else [`Self::failure`].
    fn check(&self, out: Finished, command: &str) -> Result<Finished> {
        if out.record.success() {
            Ok(out)
        } else {
            Err(self.failure(&out, command))
        }
    }

    /// `apt-get update`, tried twice (a mirror may be mid-sync). When it
    /// fails but the suite's own `main` list is here, the lists at hand are
    /// used and `Ok(Some(why))` says what is missing.
    pub fn update(&self, _lock: &AptLock, timeout: Duration) -> Result<Option<String>> {
        let deadline = Instant::now() + timeout;
        let mut attempts = 0;
        let out = loop {
            attempts += 1;
            let out = Cmd::new("apt-get")
                .args(self.options())
                .args(["-q", "update"])
                .timeout(deadline.saturating_duration_since(Instant::now()))
                .run()?;
            if out.record.success() {
                return Ok(None);
            }
            if attempts == 2
                || out.record.timed_out
                || out.record.cancelled
                || Instant::now() >= deadline
            {
                break out;
            }
        };
        let failed = self.failure(&out, "apt-get update");
        if out.record.timed_out || out.record.cancelled || !self.has_main_list() {
            return Err(failed);
        }
        Ok(Some(failed.to_string()))
    }

    /// `apt-cache <args>` on this state's lists: its standard output.
    pub fn query<S: AsRef<str>>(&self, args: &[S]) -> Result<String> {
        let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        let out = Cmd::new("apt-cache")
            .args(self.options())
            .args(&args)
            .run()?;
        Ok(self
            .check(out, &format!("apt-cache {}", args.join(" ")))?
            .stdout_str())
    }

    /// The candidate version of each package (`apt-cache show`).
    pub fn show(&self, packages: &[String]) -> Result<Vec<PackageRecord>> {
        let mut args = vec!["show".to_string(), "--no-all-versions".to_string()];
        args.extend(packages.iter().cloned());
        let records = parse_records(&self.query(&args)?);
        if let Some(p) = packages
            .iter()
            .find(|p| !records.iter().any(|r| &r.package == *p))
        {
            bail!(
                "package `{p}` is not in the Debian {} {} lists",
                self.suite,
                self.arch
            );
        }
        Ok(records)
    }

    /// Downloads (or finds already downloaded) each package into the state's
    /// `debs/` and checks its SHA-256 against the lists.
    pub fn download(
        &self,
        _lock: &AptLock,
        records: &[PackageRecord],
        timeout: Duration,
    ) -> Result<Vec<PathBuf>> {
        let debs = self.dir.join("debs");
        let mut wanted = Vec::new();
        let mut paths = Vec::new();
        for r in records {
            let path = debs.join(r.deb_name());
            if !(path.is_file()
                && crate::digest::sha256_file(&path).ok().as_deref() == Some(r.sha256.as_str()))
            {
                wanted.push(format!("{}={}", r.package, r.version));
            }
            paths.push(path);
        }
        if !wanted.is_empty() {
            let out = Cmd::new("apt-get")
                .args(self.options())
                .args(["-q", "download"])
                .args(&wanted)
                .cwd(&debs)
                .timeout(timeout)
                .run()?;
            self.check(out, &format!("apt-get download {}", wanted.join(" ")))?;
        }
        for (r, path) in records.iter().zip(&paths) {
            let sum = crate::digest::sha256_file(path)
                .with_context(|| format!("apt-get download left no {}", path.display()))?;
            if sum != r.sha256 {
                let _ = std::fs::remove_file(path);
                bail!(
                    "{} has SHA-256 {sum}, the archive says {}; removed it",
                    path.display(),
                    r.sha256
                );
            }
        }
        Ok(paths)
    }
}

/// `dpkg-deb -x <deb> <dir>`: unpacks the files, runs no maintainer script.
pub fn extract(deb: &Path, into: &Path) -> Result<()> {
    Cmd::new("dpkg-deb")
        .arg("-x")
        .arg(deb)
        .arg(into)
        .run()?
        .ok()
        .with_context(|| format!("cannot unpack {}", deb.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_apt_cache_records() {
        let text = "Package: busybox-static\nVersion: 1:1.35.0-4+deb12u1+b1\nArchitecture: arm64\nFilename: pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_arm64.deb\nSize: 800000\nSHA256: abc\n\nPackage: linux-image-arm64\nVersion: 6.1.192-2\nArchitecture: arm64\nDepends: linux-image-6.1.0-56-arm64 (= 6.1.192-2)\nFilename: pool/x.deb\nSHA256: def\n";
        let records = parse_records(text);
        assert_eq!(records.len(), 2);
        assert_eq!(
            records[0].deb_name(),
            "busybox-static_1%3a1.35.0-4+deb12u1+b1_arm64.deb"
        );
        assert_eq!(
            records[0].identity(),
            "busybox-static 1:1.35.0-4+deb12u1+b1"
        );
        assert_eq!(records[0].size, 800000);
        assert_eq!(
            records[1].depends.as_deref(),
            Some("linux-image-6.1.0-56-arm64 (= 6.1.192-2)")
        );
    }
}
