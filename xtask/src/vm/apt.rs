//! Debian packages for any architecture and suite, without touching the
//! host's dpkg: a private apt state per suite × architecture in the cache
//! (its own lists, archives, empty status file and sources), driven by the
//! host's `apt-get` and `apt-cache`.
//!
//! The archive is never named here: the private sources are the host's own
//! Debian entries (those of its release, signed by Debian's archive keyring),
//! with the host's release name replaced by the suite wanted.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::cmd::Cmd;

/// One `deb` source: an archive URI with its suites and components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub uris: Vec<String>,
    pub suites: Vec<String>,
    pub components: Vec<String>,
    /// A keyring path, or an inline key block (deb822 only).
    pub signed_by: Option<String>,
}

/// The host's `deb` sources, from `sources.list` and `sources.list.d/` (both formats).
pub fn host_sources() -> Result<Vec<Source>> {
    let out = Cmd::new("apt-config")
        .args([
            "shell",
            "LIST",
            "Dir::Etc::sourcelist/f",
            "PARTS",
            "Dir::Etc::sourceparts/d",
        ])
        .run()?
        .ok()
        .context("cannot ask apt-config where the sources are")?;
    let mut list = PathBuf::from("/etc/apt/sources.list");
    let mut parts = PathBuf::from("/etc/apt/sources.list.d");
    for line in out.stdout_str().lines() {
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim_matches('\'');
            match k {
                "LIST" => list = PathBuf::from(v),
                "PARTS" => parts = PathBuf::from(v),
                _ => {}
            }
        }
    }
    let mut sources = Vec::new();
    if let Ok(text) = std::fs::read_to_string(&list) {
        sources.extend(parse_one_line(&text));
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&parts)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    for file in files {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(_) => continue,
        };
        match file.extension().and_then(|e| e.to_str()) {
            Some("list") => sources.extend(parse_one_line(&text)),
            Some("sources") => sources.extend(parse_deb822(&text)),
            _ => {}
        }
    }
    Ok(sources)
}

/// `deb [options] uri suite component…` lines.
pub fn parse_one_line(text: &str) -> Vec<Source> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(rest) = line
            .strip_prefix("deb ")
            .or_else(|| line.strip_prefix("deb\t"))
        else {
            continue;
        };
        let mut rest = rest.trim();
        let mut signed_by = None;
        if let Some(opts) = rest.strip_prefix('[') {
            let Some((opts, after)) = opts.split_once(']') else {
                continue;
            };
            for opt in opts.split_whitespace() {
                if let Some(v) = opt.strip_prefix("signed-by=") {
                    signed_by = Some(v.to_string());
                }
            }
            rest = after.trim();
        }
        let words: Vec<&str> = rest.split_whitespace().collect();
        if words.len() < 2 {
            continue;
        }
        out.push(Source {
            uris: vec![words[0].to_string()],
            suites: vec![words[1].to_string()],
            components: words[2..].iter().map(|s| s.to_string()).collect(),
            signed_by,
        });
    }
    out
}

/// deb822 stanzas (`Types:`, `URIs:`, `Suites:`, `Components:`, `Signed-By:`, `Enabled:`).
pub fn parse_deb822(text: &str) -> Vec<Source> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in stanza.lines() {
            if line.starts_with('#') {
                continue;
            }
            if line.starts_with(' ') || line.starts_with('\t') {
                if let Some((_, v)) = fields.last_mut() {
                    v.push('\n');
                    v.push_str(line);
                }
            } else if let Some((k, v)) = line.split_once(':') {
                fields.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let get = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone());
        let words = |k: &str| {
            get(k)
                .map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
                .unwrap_or_default()
        };
        if !words("types").iter().any(|t| t == "deb")
            || get("enabled").is_some_and(|e| e.eq_ignore_ascii_case("no"))
        {
            continue;
        }
        let (uris, suites) = (words("uris"), words("suites"));
        if uris.is_empty() || suites.is_empty() {
            continue;
        }
        out.push(Source {
            uris,
            suites,
            components: words("components"),
            signed_by: get("signed-by"),
        });
    }
    out
}

/// The host's Debian archive entries for `suite`: those of the host's release
/// `host_codename` (and its `-updates` and `-security` pockets), renamed.
pub fn sources_for_suite(host: &[Source], host_codename: &str, suite: &str) -> Vec<Source> {
    let mut out = Vec::new();
    for source in host {
        // Third-party repositories may reuse the release name; Debian's own
        // entries are signed by its archive keyring (or by the default keys).
        if source
            .signed_by
            .as_deref()
            .is_some_and(|k| !k.contains("debian-archive-keyring"))
        {
            continue;
        }
        let suites: Vec<String> = source
            .suites
            .iter()
            .filter_map(|s| {
                let pocket = s.strip_prefix(host_codename)?;
                matches!(pocket, "" | "-updates" | "-security").then(|| format!("{suite}{pocket}"))
            })
            .collect();
        if suites.is_empty() || !source.components.iter().any(|c| c == "main") {
            continue;
        }
        out.push(Source {
            suites,
            components: vec!["main".into()],
            ..source.clone()
        });
    }
    out
}

/// The host's release name (`bookworm`), from /etc/os-release.
pub fn host_codename() -> Result<String> {
    let text = std::fs::read_to_string("/etc/os-release").context("cannot read /etc/os-release")?;
    text.lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
        .context("/etc/os-release has no VERSION_CODENAME: is this a Debian host?")
}

/// A package as the archive describes it.
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

/// A private apt state for one suite × architecture.
pub struct AptState {
    pub dir: PathBuf,
    pub suite: String,
    pub arch: String,
}

impl AptState {
    /// Creates (or reopens) the state under `root`, with sources derived from the host's.
    pub fn open(root: &Path, suite: &str, arch: &str) -> Result<AptState> {
        let dir = root.join(format!("{suite}-{arch}"));
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
        let codename = host_codename()?;
        let sources = sources_for_suite(&host_sources()?, &codename, suite);
        if sources.is_empty() {
            bail!(
                "the host's apt sources have no Debian entry for its release `{codename}` (main) to derive `{suite}` from; \
                 add the Debian archive to /etc/apt/sources.list"
            );
        }
        let mut text = String::from(
            "# Written by `cargo xtask`: the host's Debian sources, for this suite.\n",
        );
        for s in &sources {
            text.push_str(&format!(
                "\nTypes: deb\nURIs: {}\nSuites: {}\nComponents: {}\nArchitectures: {arch}\n",
                s.uris.join(" "),
                s.suites.join(" "),
                s.components.join(" ")
            ));
            if let Some(k) = &s.signed_by {
                text.push_str(&format!("Signed-By: {k}\n"));
            }
        }
        let file = dir.join("sources.list.d").join("vhu.sources");
        if std::fs::read_to_string(&file).ok().as_deref() != Some(text.as_str()) {
            std::fs::write(&file, &text)
                .with_context(|| format!("cannot write {}", file.display()))?;
        }
        Ok(AptState {
            dir,
            suite: suite.to_string(),
            arch: arch.to_string(),
        })
    }

    fn options(&self) -> Vec<String> {
        let d = self.dir.display();
        vec![
            format!("-oAPT::Architecture={}", self.arch),
            format!("-oAPT::Architectures={}", self.arch),
            format!("-oDir::State::Lists={d}/lists"),
            format!("-oDir::State::status={d}/status"),
            format!("-oDir::Cache={d}/cache"),
            "-oDir::Etc::SourceList=/dev/null".into(),
            format!("-oDir::Etc::SourceParts={d}/sources.list.d"),
            // Downloads land in our own directory; apt's sandbox user could not write there.
            "-oAPT::Sandbox::User=root".into(),
            "-oAcquire::Languages=none".into(),
        ]
    }

    /// Whether `apt-get update` has run for this state.
    pub fn has_lists(&self) -> bool {
        std::fs::read_dir(self.dir.join("lists"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .any(|e| e.file_name().to_string_lossy().contains("_Packages"))
            })
            .unwrap_or(false)
    }

    /// Whether the suite's own `main` list is here (its pockets may be missing).
    fn has_main_list(&self) -> bool {
        let wanted = format!("_dists_{}_main_binary-{}_Packages", self.suite, self.arch);
        std::fs::read_dir(self.dir.join("lists"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .any(|e| e.file_name().to_string_lossy().contains(&wanted))
            })
            .unwrap_or(false)
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
        crate::workspace::hex(&Sha256::digest(entries.join("\n").as_bytes()))
    }

    /// `apt-get update`, tried twice (a mirror may be mid-sync). When only
    /// some lists fail but the suite's own `main` list is here, the update
    /// counts as done and the returned warning says what is missing.
    pub fn update(&self) -> Result<Option<String>> {
        let mut last = None;
        for _ in 0..2 {
            let out = Cmd::new("apt-get")
                .args(self.options())
                .args(["-q", "update"])
                .timeout(std::time::Duration::from_secs(600))
                .run()?;
            if out.record.success() {
                return Ok(None);
            }
            last = Some(out);
        }
        let out = last.expect("two attempts");
        let errors: Vec<&str> = out
            .record
            .stderr_tail
            .lines()
            .filter(|l| l.starts_with("E: Failed to fetch"))
            .collect();
        if self.has_main_list() && !errors.is_empty() {
            return Ok(Some(format!(
                "some {} {} package lists could not be updated; using what is here: {}",
                self.suite,
                self.arch,
                errors.join(" ")
            )));
        }
        out.ok().with_context(|| {
            format!(
                "cannot update the package lists for {} {}",
                self.suite, self.arch
            )
        })?;
        Ok(None)
    }

    /// The candidate version of each package (`apt-cache show`).
    pub fn show(&self, packages: &[String]) -> Result<Vec<PackageRecord>> {
        let out = Cmd::new("apt-cache")
            .args(self.options())
            .args(["show", "--no-all-versions"])
            .args(packages)
            .run()?
            .ok()
            .with_context(|| {
                format!(
                    "cannot look up {} in the {} {} lists",
                    packages.join(", "),
                    self.suite,
                    self.arch
                )
            })?;
        let records = parse_records(&out.stdout_str());
        for p in packages {
            if !records.iter().any(|r| &r.package == p) {
                bail!(
                    "package `{p}` is not in the {} {} lists",
                    self.suite,
                    self.arch
                );
            }
        }
        Ok(records)
    }

    /// Downloads (or finds already downloaded) each package and checks its SHA-256.
    pub fn download(&self, records: &[PackageRecord]) -> Result<Vec<PathBuf>> {
        let debs = self.dir.join("debs");
        let mut wanted = Vec::new();
        let mut paths = Vec::new();
        for r in records {
            let path = debs.join(r.deb_name());
            if !(path.is_file() && sha256_file(&path).ok().as_deref() == Some(r.sha256.as_str())) {
                wanted.push(format!("{}={}", r.package, r.version));
            }
            paths.push(path);
        }
        if !wanted.is_empty() {
            Cmd::new("apt-get")
                .args(self.options())
                .args(["-q", "download"])
                .args(&wanted)
                .cwd(&debs)
                .timeout(std::time::Duration::from_secs(1800))
                .run()?
                .ok()
                .with_context(|| format!("cannot download {}", wanted.join(", ")))?;
        }
        for (r, path) in records.iter().zip(&paths) {
            let sum = sha256_file(path)
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

pub fn sha256_file(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(crate::workspace::hex(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEB822: &str = "\
Types: deb
# a comment
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates bookworm-backports
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb deb-src
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: https://vendor.example/apt
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/vendor.gpg

Types: deb
URIs: http://mirror.example/old
Suites: bookworm
Components: main
Enabled: no
";

    #[test]
    fn derives_a_suite_from_the_hosts_debian_entries() {
        let mut host = parse_deb822(DEB822);
        host.extend(parse_one_line("deb [arch=amd64 signed-by=/etc/vendor.gpg] https://vendor.example/x bookworm main\ndeb http://mirror.example/debian bookworm main # trailing\n"));
        let got = sources_for_suite(&host, "bookworm", "trixie");
        let shown: Vec<String> = got
            .iter()
            .map(|s| {
                format!(
                    "{} {} {}",
                    s.uris.join(","),
                    s.suites.join(","),
                    s.components.join(",")
                )
            })
            .collect();
        expect_test::expect![[r#"
            http://mirror.example/debian trixie,trixie-updates main
            http://mirror.example/debian-security trixie-security main
            http://mirror.example/debian trixie main"#]]
        .assert_eq(&shown.join("\n"));
    }

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
            records[1].depends.as_deref(),
            Some("linux-image-6.1.0-56-arm64 (= 6.1.192-2)")
        );
    }
}
