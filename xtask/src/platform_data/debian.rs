//! Debian: the Rust compiler packages (`rustc`, and the alternatives
//! `rustc-web` and `rustc-1.NN`) of a release and architecture, asked of the
//! archive through apt itself.
//!
//! Each release × architecture gets a private apt state under the cache
//! (lists, caches, a sources file) so the host's own dpkg and apt are never
//! touched. The sources are the host's: same URIs, components and keys, the
//! suites renamed from the host's codename to the wanted one (`bookworm-security`
//! → `trixie-security`). No archive's host name is written anywhere here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::version::RustVersion;
use crate::cmd::Cmd;
use crate::model::rust_status::PackagedRust;

/// `debian12` → `bookworm`.
pub fn codename(release: &str) -> Option<&'static str> {
    match release {
        "debian11" => Some("bullseye"),
        "debian12" => Some("bookworm"),
        "debian13" => Some("trixie"),
        "debian14" => Some("forky"),
        _ => None,
    }
}

/// One apt source, as the host configures it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSource {
    pub uris: Vec<String>,
    pub suites: Vec<String>,
    pub components: Vec<String>,
    pub signed_by: Option<String>,
}

/// `deb` entries of a deb822 `.sources` file.
pub fn parse_deb822(text: &str) -> Vec<AptSource> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in stanza.lines() {
            if line.starts_with('#') {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                // A continuation line (a multi-line Signed-By key).
                if let Some(last) = fields.last_mut() {
                    last.1.push('\n');
                    last.1.push_str(line);
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
        if !words("types").iter().any(|t| t == "deb") || get("enabled").is_some_and(|e| e == "no") {
            continue;
        }
        out.push(AptSource {
            uris: words("uris"),
            suites: words("suites"),
            components: words("components"),
            signed_by: get("signed-by"),
        });
    }
    out
}

/// `deb` lines of a one-line-style `sources.list`.
pub fn parse_one_line(text: &str) -> Vec<AptSource> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(rest) = line.strip_prefix("deb ") else {
            continue;
        };
        let mut rest = rest.trim();
        let mut signed_by = None;
        if let Some(opts) = rest.strip_prefix('[') {
            let Some((opts, after)) = opts.split_once(']') else {
                continue;
            };
            signed_by = opts
                .split_whitespace()
                .find_map(|o| o.strip_prefix("signed-by="))
                .map(str::to_string);
            rest = after.trim();
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
        });
    }
    out
}

/// The host's apt sources, from `<etc>/sources.list` and `<etc>/sources.list.d/`.
pub fn host_sources(etc: &Path) -> Result<Vec<AptSource>> {
    let mut out = Vec::new();
    if let Ok(text) = std::fs::read_to_string(etc.join("sources.list")) {
        out.extend(parse_one_line(&text));
    }
    if let Ok(entries) = std::fs::read_dir(etc.join("sources.list.d")) {
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            let text = || {
                std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))
            };
            match path.extension().and_then(|e| e.to_str()) {
                Some("sources") => out.extend(parse_deb822(&text()?)),
                Some("list") => out.extend(parse_one_line(&text()?)),
                _ => {}
            }
        }
    }
    if out.is_empty() {
        bail!("no apt sources in {}", etc.display());
    }
    Ok(out)
}

/// The host's codename (`VERSION_CODENAME` of os-release).
pub fn host_codename(os_release: &str) -> Option<String> {
    os_release
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim_matches('"').to_string())
}

/// A deb822 sources file for `codename`, made from the host's sources: every
/// suite named after the host's codename (`bookworm`, `bookworm-updates`,
/// `bookworm-security`) renamed to the wanted one; other suites are dropped.
pub fn retarget(sources: &[AptSource], host: &str, codename: &str) -> Result<String> {
    let mut out = String::new();
    for s in sources {
        let suites: Vec<String> = s
            .suites
            .iter()
            .filter_map(|suite| {
                let rest = suite.strip_prefix(host)?;
                (rest.is_empty() || rest.starts_with('-')).then(|| format!("{codename}{rest}"))
            })
            .collect();
        if suites.is_empty() || s.uris.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!(
            "Types: deb\nURIs: {}\nSuites: {}\nComponents: {}\n",
            s.uris.join(" "),
            suites.join(" "),
            s.components.join(" ")
        ));
        if let Some(key) = &s.signed_by {
            out.push_str(&format!("Signed-By: {key}\n"));
        }
    }
    if out.is_empty() {
        bail!("none of the host's apt sources is for its codename `{host}`");
    }
    Ok(out)
}

/// A private apt state for one codename × architecture.
pub struct AptState {
    pub dir: PathBuf,
    pub arch: String,
}

impl AptState {
    /// Creates the state's directories and sources under `dir`.
    pub fn prepare(dir: PathBuf, arch: &str, sources_text: &str) -> Result<AptState> {
        for sub in ["lists/partial", "cache/archives/partial", "sources.list.d"] {
            std::fs::create_dir_all(dir.join(sub))
                .with_context(|| format!("cannot create {}", dir.join(sub).display()))?;
        }
        crate::results::write_atomic(
            &dir.join("sources.list.d").join("matrix.sources"),
            sources_text.as_bytes(),
        )?;
        if !dir.join("status").exists() {
            std::fs::write(dir.join("status"), b"")
                .with_context(|| format!("cannot create {}", dir.join("status").display()))?;
        }
        Ok(AptState {
            dir,
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
            "-oAcquire::Languages=none".into(),
            // Mirrors mid-sync answer with files of the wrong size now and then.
            "-oAcquire::Retries=3".into(),
        ]
    }

    /// `apt-get update`. apt keeps the lists it could download when others
    /// fail (a mirror mid-sync): then `Ok(Some(errors))`, apt's errors
    /// without the archive's host, and the answer is incomplete.
    pub fn update(&self) -> Result<Option<String>> {
        let out = Cmd::new("apt-get")
            .args(self.options())
            .args(["-q", "update"])
            .timeout(Duration::from_secs(900))
            .run()?;
        if out.record.success() {
            return Ok(None);
        }
        let errors: Vec<String> = String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| l.starts_with("E:"))
            .map(redact_hosts)
            .collect();
        let text = format!(
            "`apt-get update` for {} failed ({}): {}",
            self.arch,
            out.record.describe(),
            errors.join(" ")
        );
        let has_lists = std::fs::read_dir(self.dir.join("lists"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .any(|e| e.file_name().to_string_lossy().contains("_Packages"))
            })
            .unwrap_or(false);
        if out.record.timed_out || out.record.cancelled || !has_lists {
            bail!(text);
        }
        Ok(Some(text))
    }

    /// `rustc` and its alternatives that this state's lists know.
    pub fn compiler_packages(&self) -> Result<Vec<String>> {
        let out = Cmd::new("apt-cache")
            .args(self.options())
            .args(["pkgnames", "rustc"])
            .run()?
            .ok()?
            .stdout_str();
        let mut names: Vec<String> = out
            .lines()
            .map(str::trim)
            .filter(|n| is_compiler(n))
            .map(str::to_string)
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    pub fn madison(&self, packages: &[String]) -> Result<String> {
        Ok(Cmd::new("apt-cache")
            .args(self.options())
            .arg("madison")
            .args(packages)
            .run()?
            .ok()?
            .stdout_str())
    }
}

/// `rustc`, `rustc-web`, `rustc-1.NN`; not `rustc-dbgsym`, `rustc-mozilla`…
pub fn is_compiler(name: &str) -> bool {
    name == "rustc"
        || name == "rustc-web"
        || name
            .strip_prefix("rustc-")
            .and_then(|v| v.parse::<RustVersion>().ok())
            .is_some()
}

/// Parses `apt-cache madison`: ` rustc | 1.63.0+dfsg1-2 | <uri> bookworm/main amd64 Packages`.
pub fn parse_madison(text: &str, arch: &str, now: &str) -> Result<Vec<PackagedRust>> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split('|').map(str::trim).collect();
        let [name, version, origin] = fields[..] else {
            bail!("`apt-cache madison` line `{line}` has not three fields");
        };
        let words: Vec<&str> = origin.split_whitespace().collect();
        // Source packages (`Sources`) and other architectures are not this platform's compiler.
        if words.last() != Some(&"Packages")
            || words.len() != 4
            || (words[2] != arch && words[2] != "all")
        {
            continue;
        }
        let (uri, dist) = (words[0], words[1]);
        let (suite, component) = dist.split_once('/').unwrap_or((dist, "main"));
        let rust = RustVersion::from_package_version(version)
            .with_context(|| format!("`{name}` {version}: no Rust release in it"))?;
        out.push(PackagedRust {
            name: name.to_string(),
            version: version.to_string(),
            rust,
            alternative: name != "rustc",
            channel: suite.to_string(),
            source: format!(
                "apt:{}/dists/{suite}/{component}/binary-{}/Packages",
                uri_path(uri),
                words[2]
            ),
            fetched: now.to_string(),
        });
    }
    out.sort_by(|a, b| (a.alternative, &a.name, a.rust).cmp(&(b.alternative, &b.name, b.rust)));
    Ok(out)
}

/// apt's message with every `scheme://host` shortened to `apt:` and `[IP: …]` dropped,
/// so that what is recorded names no archive host.
pub fn redact_hosts(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find("://") {
        let start = rest[..i]
            .rfind(|c: char| !c.is_ascii_alphanumeric() && c != '+')
            .map(|s| s + 1)
            .unwrap_or(0);
        out.push_str(&rest[..start]);
        out.push_str("apt:");
        let after = &rest[i + 3..];
        let host_end = after.find(['/', ' ']).unwrap_or(after.len());
        rest = after[host_end..]
            .strip_prefix('/')
            .unwrap_or(&after[host_end..]);
    }
    out.push_str(rest);
    match out.find(" [IP:") {
        Some(i) => {
            let end = out[i..].find(']').map(|e| i + e + 1).unwrap_or(out.len());
            format!("{}{}", &out[..i], &out[end..])
        }
        None => out,
    }
}

/// The path of an archive URI without scheme and host: what the record keeps.
fn uri_path(uri: &str) -> &str {
    let rest = uri.split_once("://").map(|(_, r)| r).unwrap_or(uri);
    rest.split_once('/')
        .map(|(_, p)| p.trim_end_matches('/'))
        .unwrap_or("")
}

/// The compiler packages of one release × Debian architecture, live, and
/// what made the answer incomplete, if anything.
pub fn fetch(
    cache: &Path,
    release: &str,
    debian_arch: &str,
    now: &str,
    progress: &dyn Fn(&str),
) -> Result<(Vec<PackagedRust>, Option<String>)> {
    let codename = codename(release)
        .with_context(|| format!("no Debian codename known for release `{release}`"))?;
    let os_release =
        std::fs::read_to_string("/etc/os-release").context("cannot read /etc/os-release")?;
    let host = host_codename(&os_release)
        .context("/etc/os-release has no VERSION_CODENAME: is this host Debian?")?;
    let sources = host_sources(Path::new("/etc/apt"))?;
    let text = retarget(&sources, &host, codename)?;
    let state = AptState::prepare(
        cache.join("apt").join(format!("{codename}-{debian_arch}")),
        debian_arch,
        &text,
    )?;
    progress(&format!(
        "debian: apt-get update for {codename} {debian_arch}"
    ));
    let incomplete = state.update()?;
    let names = state.compiler_packages()?;
    if names.is_empty() {
        return Ok((Vec::new(), incomplete));
    }
    Ok((
        parse_madison(&state.madison(&names)?, debian_arch, now)?,
        incomplete,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retargets_the_hosts_sources() {
        let sources = parse_deb822(
            "Types: deb\nURIs: http://archive.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/k.gpg\n\n\
             Types: deb\nURIs: http://archive.example/debian-security\nSuites: bookworm-security\nComponents: main\nSigned-By: /usr/share/keyrings/k.gpg\n\n\
             Types: deb-src\nURIs: http://archive.example/debian\nSuites: bookworm\nComponents: main\n",
        );
        assert_eq!(sources.len(), 2);
        let text = retarget(&sources, "bookworm", "trixie").unwrap();
        expect_test::expect![[r#"
            Types: deb
            URIs: http://archive.example/debian
            Suites: trixie trixie-updates
            Components: main
            Signed-By: /usr/share/keyrings/k.gpg

            Types: deb
            URIs: http://archive.example/debian-security
            Suites: trixie-security
            Components: main
            Signed-By: /usr/share/keyrings/k.gpg
        "#]]
        .assert_eq(&text);
        let one = parse_one_line(
            "deb [arch=amd64 signed-by=/k.gpg] http://a.example/debian bookworm main contrib # x\n",
        );
        assert_eq!(one[0].signed_by.as_deref(), Some("/k.gpg"));
        assert_eq!(one[0].components, ["main", "contrib"]);
    }

    #[test]
    fn reads_madison_output() {
        // Captured from `apt-cache madison rustc rustc-web` on a bookworm host (archive host renamed).
        let text = "     rustc | 1.63.0+dfsg1-2 | http://archive.example/debian bookworm/main arm64 Packages
 rustc-web | 1.96.0+dfsg1-1~deb12u2 | http://archive.example/debian-security bookworm-security/main arm64 Packages
 rustc-web | 1.85.0+dfsg3-1~deb12u3 | http://archive.example/debian bookworm/main arm64 Packages
     rustc | 1.63.0+dfsg1-2 | http://archive.example/debian bookworm/main Sources
";
        let got: Vec<String> = parse_madison(text, "arm64", "2026-11-22T00:00:00Z")
            .unwrap()
            .iter()
            .map(|p| {
                format!(
                    "{} {} {} {} {}",
                    p.name, p.rust, p.alternative, p.channel, p.source
                )
            })
            .collect();
        expect_test::expect![[r#"
            [
                "rustc 1.63.0 false bookworm apt:debian/dists/bookworm/main/binary-arm64/Packages",
                "rustc-web 1.85.0 true bookworm apt:debian/dists/bookworm/main/binary-arm64/Packages",
                "rustc-web 1.96.0 true bookworm-security apt:debian-security/dists/bookworm-security/main/binary-arm64/Packages",
            ]
        "#]]
        .assert_debug_eq(&got);
        assert!(parse_madison("rustc | 1.63\n", "arm64", "x").is_err());
        assert_eq!(
            redact_hosts("E: Failed to fetch http://archive.example/debian-security/dists/x/Packages.xz  Bad size [IP: 192.0.2.1 80]"),
            "E: Failed to fetch apt:debian-security/dists/x/Packages.xz  Bad size"
        );
        assert!(
            is_compiler("rustc-1.80") && is_compiler("rustc-web") && !is_compiler("rustc-dbgsym")
        );
    }
}
