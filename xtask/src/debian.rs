//! Debian packages of any architecture and suite, fetched without touching
//! the host's dpkg: a private apt state (lists, cache, sources) per suite and
//! architecture under the shared cache, `apt-get download`, `dpkg -x`.
//!
//! The archive is never named here: sources come from the host's own apt
//! configuration (the entry for the host's suite, with its keyring), with
//! only the suite changed when another one is asked for.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::cmd::{Cmd, CommandRecord};

/// One `deb` entry of an apt sources file, in either format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSource {
    pub uris: Vec<String>,
    pub suites: Vec<String>,
    pub components: Vec<String>,
    pub signed_by: Option<String>,
    /// The file it came from.
    pub file: String,
}

/// The host's `deb` sources: `/etc/apt/sources.list`, `sources.list.d/*.list` and `*.sources`.
pub fn host_sources() -> Vec<AptSource> {
    let etc = Path::new("/etc/apt");
    let mut files = vec![etc.join("sources.list")];
    if let Ok(entries) = std::fs::read_dir(etc.join("sources.list.d")) {
        let mut more: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        more.sort();
        files.extend(more);
    }
    let mut out = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let name = file.display().to_string();
        match file.extension().and_then(|e| e.to_str()) {
            Some("sources") => out.extend(parse_deb822(&text, &name)),
            Some("list") => out.extend(parse_one_line(&text, &name)),
            _ if file.file_name().is_some_and(|n| n == "sources.list") => {
                out.extend(parse_one_line(&text, &name))
            }
            _ => {}
        }
    }
    out
}

/// `deb [signed-by=/usr/share/keyrings/x.gpg arch=amd64] <uri> <suite> <component>…`.
pub fn parse_one_line(text: &str, file: &str) -> Vec<AptSource> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(rest) = line
            .strip_prefix("deb ")
            .or_else(|| line.strip_prefix("deb\t"))
        else {
            continue;
        };
        let mut rest = rest.trim_start();
        let mut signed_by = None;
        if let Some(opts) = rest.strip_prefix('[') {
            let Some(end) = opts.find(']') else { continue };
            for opt in opts[..end].split_whitespace() {
                if let Some(v) = opt.strip_prefix("signed-by=") {
                    signed_by = Some(v.to_string());
                }
            }
            rest = opts[end + 1..].trim_start();
        }
        let words: Vec<&str> = rest.split_whitespace().collect();
        if words.len() < 2 {
            continue;
        }
        out.push(AptSource {
            uris: vec![words[0].to_string()],
            suites: vec![words[1].to_string()],
            components: words[2..].iter().map(|s| s.to_string()).collect(),
            signed_by,
            file: file.to_string(),
        });
    }
    out
}

/// deb822 stanzas (`Types: deb`, `URIs:`, `Suites:`, `Components:`, `Signed-By:`).
pub fn parse_deb822(text: &str, file: &str) -> Vec<AptSource> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in stanza.lines() {
            if line.trim_start().starts_with('#') || line.trim().is_empty() {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                // A continuation line (an inline keyring); keep it out of the values we use.
                continue;
            }
            if let Some((k, v)) = line.split_once(':') {
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
        let uris = words("uris");
        let suites = words("suites");
        if uris.is_empty() || suites.is_empty() {
            continue;
        }
        // An inline key has no path; apt then falls back to its trusted keys, as do we.
        let signed_by = get("signed-by").filter(|v| v.starts_with('/'));
        out.push(AptSource {
            uris,
            suites,
            components: words("components"),
            signed_by,
            file: file.to_string(),
        });
    }
    out
}

/// The host's Debian suite (`bookworm`), from `/etc/os-release`.
pub fn host_codename() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

/// A one-line sources file for `suite`'s main component, made from the host's
/// own source for `host_suite` (same archive, same keyring).
pub fn sources_for_suite(
    sources: &[AptSource],
    host_suite: &str,
    suite: &str,
) -> Result<String, String> {
    let source = sources
        .iter()
        .find(|s| s.suites.iter().any(|x| x == host_suite) && s.components.iter().any(|c| c == "main"))
        .ok_or_else(|| format!("the host's apt sources have no `{host_suite} main` entry to derive a `{suite}` source from"))?;
    let opts = source
        .signed_by
        .as_ref()
        .map(|k| format!("[signed-by={k}] "))
        .unwrap_or_default();
    Ok(format!(
        "# Derived by xtask from {} ({host_suite} → {suite}).\ndeb {opts}{} {suite} main\n",
        source.file, source.uris[0]
    ))
}

/// An apt state of its own for one suite and architecture.
pub struct PrivateApt {
    pub dir: PathBuf,
    pub suite: String,
    pub arch: String,
}

impl PrivateApt {
    /// Creates (or reuses) the state under `dir`, with a sources file derived from the host's.
    pub fn open(dir: &Path, suite: &str, arch: &str) -> Result<PrivateApt> {
        for sub in ["lists/partial", "cache/archives/partial"] {
            std::fs::create_dir_all(dir.join(sub))
                .with_context(|| format!("cannot create {}", dir.join(sub).display()))?;
        }
        let host_suite = host_codename().context(
            "cannot tell the host's Debian suite (no VERSION_CODENAME in /etc/os-release)",
        )?;
        let sources =
            sources_for_suite(&host_sources(), &host_suite, suite).map_err(anyhow::Error::msg)?;
        crate::results::write_atomic(&dir.join("sources.list"), sources.as_bytes())?;
        Ok(PrivateApt {
            dir: dir.to_path_buf(),
            suite: suite.to_string(),
            arch: arch.to_string(),
        })
    }

    /// The options that point apt at this state and nothing of the host's but its keys.
    pub fn options(&self) -> Vec<String> {
        let d = self.dir.display();
        vec![
            format!("-oAPT::Architecture={}", self.arch),
            format!("-oAPT::Architectures={}", self.arch),
            format!("-oDir::State::Lists={d}/lists"),
            format!("-oDir::Cache={d}/cache"),
            format!("-oDir::Etc::SourceList={d}/sources.list"),
            "-oDir::Etc::SourceParts=/dev/null".to_string(),
            // The host's dpkg status lists amd64 packages; this state must not care.
            "-oDir::State::status=/dev/null".to_string(),
        ]
    }

    pub fn lists_present(&self) -> bool {
        std::fs::read_dir(self.dir.join("lists")).is_ok_and(|entries| {
            entries
                .filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().contains("_Packages"))
        })
    }

    pub fn update(&self, timeout: Duration) -> Result<CommandRecord> {
        let out = Cmd::new("apt-get")
            .args(self.options())
            .arg("update")
            .timeout(timeout)
            .run()?;
        let record = out.record.clone();
        out.ok().with_context(|| {
            format!(
                "cannot fetch Debian {} {} package lists",
                self.suite, self.arch
            )
        })?;
        Ok(record)
    }

    /// Downloads `packages` (this architecture's) into `into`; returns the .deb files.
    pub fn download(
        &self,
        packages: &[String],
        into: &Path,
        timeout: Duration,
    ) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(into)?;
        Cmd::new("apt-get")
            .args(self.options())
            .arg("download")
            .args(packages)
            .cwd(into)
            .timeout(timeout)
            .run()?
            .ok()
            .with_context(|| {
                format!(
                    "cannot download {} for Debian {} {}",
                    packages.join(", "),
                    self.suite,
                    self.arch
                )
            })?;
        let mut debs: Vec<PathBuf> = std::fs::read_dir(into)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "deb"))
            .collect();
        debs.sort();
        Ok(debs)
    }
}

/// `dpkg-deb -f <deb> Package Version` → `libc6 2.36-9+deb12u13`.
pub fn deb_identity(deb: &Path) -> Result<String> {
    let out = Cmd::new("dpkg-deb")
        .arg("-f")
        .arg(deb)
        .args(["Package", "Version"])
        .run()?
        .ok()?;
    let text = out.stdout_str();
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
            .unwrap_or_default()
    };
    Ok(format!("{} {}", field("Package:"), field("Version:")))
}

/// `dpkg -x <deb> <dir>`: unpacks the files, runs no maintainer script.
pub fn extract(deb: &Path, into: &Path) -> Result<()> {
    Cmd::new("dpkg")
        .arg("-x")
        .arg(deb)
        .arg(into)
        .run()?
        .ok()
        .with_context(|| format!("cannot unpack {}", deb.display()))?;
    Ok(())
}

/// The upstream part of a Debian version: `1:7.2+dfsg-7+deb12u18` → `7.2+dfsg`.
pub fn upstream_version(version: &str) -> &str {
    let no_epoch = version.split_once(':').map_or(version, |(_, v)| v);
    no_epoch.rsplit_once('-').map_or(no_epoch, |(u, _)| u)
}

/// From `apt-cache madison <pkg>`: the version the host's own suite has
/// (`bookworm/main`, not `bookworm-security` nor a backport).
pub fn madison_suite_version(madison: &str, package: &str, suite: &str) -> Option<String> {
    madison.lines().find_map(|line| {
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        if cols.len() < 3 || cols[0] != package {
            return None;
        }
        let dist = cols[2].split_whitespace().nth(1)?;
        (dist.split('/').next() == Some(suite)).then(|| cols[1].to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEB822: &str = "\
Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://archive.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://archive.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://archive.example/debian
Suites: bookworm
Components: main
";

    #[test]
    fn derives_another_suite_from_the_hosts_source() {
        let sources = parse_deb822(DEB822, "/etc/apt/sources.list.d/debian.sources");
        assert_eq!(sources.len(), 2);
        expect_test::expect![[r#"
            # Derived by xtask from /etc/apt/sources.list.d/debian.sources (bookworm → trixie).
            deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://archive.example/debian trixie main
        "#]]
        .assert_eq(&sources_for_suite(&sources, "bookworm", "trixie").unwrap());
        let one_line = parse_one_line(
            "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://archive.example/debian bookworm main contrib\ndeb-src http://x bookworm main\ndeb http://archive.example/debian-security bookworm-security main\n",
            "/etc/apt/sources.list",
        );
        assert_eq!(
            sources_for_suite(&one_line, "bookworm", "bookworm")
                .unwrap()
                .lines()
                .nth(1)
                .unwrap(),
            "deb [signed-by=/k.gpg] http://archive.example/debian bookworm main"
        );
        assert_eq!(
            sources_for_suite(&one_line, "trixie", "sid").unwrap_err(),
            "the host's apt sources have no `trixie main` entry to derive a `sid` source from"
        );
    }

    #[test]
    fn picks_the_host_suite_version_from_madison() {
        let madison = "\
qemu-utils | 1:10.0.2+ds-1~bpo12+1 | http://archive.example/debian bookworm-backports/main amd64 Packages
qemu-utils | 1:7.2+dfsg-7+deb12u18+b3 | http://archive.example/debian bookworm/main amd64 Packages
qemu-utils | 1:7.2+dfsg-7+deb12u15 | http://archive.example/debian-security bookworm-security/main amd64 Packages
";
        assert_eq!(
            madison_suite_version(madison, "qemu-utils", "bookworm").as_deref(),
            Some("1:7.2+dfsg-7+deb12u18+b3")
        );
        assert_eq!(madison_suite_version(madison, "qemu-utils", "trixie"), None);
        assert_eq!(upstream_version("1:7.2+dfsg-7+deb12u18+b3"), "7.2+dfsg");
        assert_eq!(upstream_version("1:10.0.2+ds-1~bpo12+1"), "10.0.2+ds");
        assert_eq!(upstream_version("2.36"), "2.36");
    }
}
