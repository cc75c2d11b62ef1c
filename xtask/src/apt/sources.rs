//! apt's sources: the host's own entries (one-line and deb822 formats), a
//! suite derived from them, and the archive's host kept out of what is shown.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::cmd::Cmd;

/// One `deb` entry of an apt sources file, in either format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub uris: Vec<String>,
    pub suites: Vec<String>,
    pub components: Vec<String>,
    /// A keyring path, or an inline key block (deb822 only).
    pub signed_by: Option<String>,
    /// The file it was read from.
    pub file: String,
}

/// The host's `deb` sources: apt's main sources file and its parts directory
/// (wherever apt's configuration puts them), both formats.
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
        match line
            .split_once('=')
            .map(|(k, v)| (k, PathBuf::from(v.trim_matches('\''))))
        {
            Some(("LIST", v)) => list = v,
            Some(("PARTS", v)) => parts = v,
            _ => {}
        }
    }
    sources_in(&list, &parts)
}

/// The `deb` sources of a one-line `list` file and the `*.list` and
/// `*.sources` files of `parts` (others, such as `*.disabled`, are not apt's).
pub fn sources_in(list: &Path, parts: &Path) -> Result<Vec<Source>> {
    let read = |path: &Path| match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut out = Vec::new();
    if let Some(text) = read(list)? {
        out.extend(parse_one_line(&text, &list.display().to_string()));
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(parts)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    for file in files {
        let name = file.display().to_string();
        match file.extension().and_then(|e| e.to_str()) {
            Some("list") => out.extend(
                read(&file)?
                    .map(|t| parse_one_line(&t, &name))
                    .unwrap_or_default(),
            ),
            Some("sources") => out.extend(
                read(&file)?
                    .map(|t| parse_deb822(&t, &name))
                    .unwrap_or_default(),
            ),
            _ => {}
        }
    }
    Ok(out)
}

/// `deb [signed-by=/usr/share/keyrings/x.gpg arch=amd64] <uri> <suite> <component>…` lines.
pub fn parse_one_line(text: &str, file: &str) -> Vec<Source> {
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
        out.push(Source {
            uris: vec![words[0].to_string()],
            suites: vec![words[1].to_string()],
            components: words[2..].iter().map(|s| s.to_string()).collect(),
            signed_by,
            file: file.to_string(),
        });
    }
    out
}

/// deb822 stanzas (`Types:`, `URIs:`, `Suites:`, `Components:`, `Signed-By:`,
/// `Enabled:`), separated by blank or whitespace-only lines.
pub fn parse_deb822(text: &str, file: &str) -> Vec<Source> {
    let mut out = Vec::new();
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            out.extend(stanza_source(&fields, file));
            fields.clear();
        } else if line.starts_with('#') {
            continue;
        } else if line.starts_with([' ', '\t']) {
            // A continuation line (an inline `Signed-By` key block).
            if let Some((_, v)) = fields.last_mut() {
                v.push('\n');
                v.push_str(line);
            }
        } else if let Some((k, v)) = line.split_once(':') {
            fields.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    out
}

fn stanza_source(fields: &[(String, String)], file: &str) -> Option<Source> {
    let get = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone());
    let words = |k: &str| {
        get(k)
            .map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    if !words("types").iter().any(|t| t == "deb")
        || get("enabled").is_some_and(|e| e.eq_ignore_ascii_case("no"))
    {
        return None;
    }
    let (uris, suites) = (words("uris"), words("suites"));
    if uris.is_empty() || suites.is_empty() {
        return None;
    }
    Some(Source {
        uris,
        suites,
        components: words("components"),
        signed_by: get("signed-by"),
        file: file.to_string(),
    })
}

/// `VERSION_CODENAME` of an os-release file (`bookworm`).
pub fn parse_codename(os_release: &str) -> Option<String> {
    os_release
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

/// The host's release name (`bookworm`), from /etc/os-release.
pub fn host_codename() -> Result<String> {
    let text = std::fs::read_to_string("/etc/os-release").context("cannot read /etc/os-release")?;
    parse_codename(&text).context("/etc/os-release has no VERSION_CODENAME: is this a Debian host?")
}

/// The host's Debian archive entries for `suite`: those of the host's release
/// `host_codename` and its `-updates` and `-security` pockets (not its
/// backports), renamed, with their `main` component only.
pub fn sources_for_suite(host: &[Source], host_codename: &str, suite: &str) -> Result<Vec<Source>> {
    let mut out: Vec<Source> = Vec::new();
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
        // The same entry in two files would make apt warn about every list twice.
        if !out
            .iter()
            .any(|s| s.uris == source.uris && s.suites == suites)
        {
            out.push(Source {
                suites,
                components: vec!["main".into()],
                ..source.clone()
            });
        }
    }
    if out.is_empty() {
        bail!(
            "the host's apt sources have no Debian entry for its release `{host_codename}` (main) to derive `{suite}` from; \
             add the Debian archive to the host's apt sources"
        );
    }
    Ok(out)
}

/// The host's Debian archive entries for its release `host_codename`
/// itself (not its `-updates` or `-security` pockets), renamed to the
/// release's backports suite (`bookworm-backports`), `main` only.
pub fn backports_for_suite(host: &[Source], host_codename: &str) -> Result<Vec<Source>> {
    let suite = format!("{host_codename}-backports");
    let mut out: Vec<Source> = Vec::new();
    for source in host {
        if source
            .signed_by
            .as_deref()
            .is_some_and(|k| !k.contains("debian-archive-keyring"))
        {
            continue;
        }
        if !source.suites.iter().any(|s| s == host_codename)
            || !source.components.iter().any(|c| c == "main")
            || out.iter().any(|s| s.uris == source.uris)
        {
            continue;
        }
        out.push(Source {
            suites: vec![suite.clone()],
            components: vec!["main".into()],
            ..source.clone()
        });
    }
    if out.is_empty() {
        bail!(
            "the host's apt sources have no Debian entry for its release `{host_codename}` (main) to derive `{suite}` from; \
             add the Debian archive to the host's apt sources"
        );
    }
    Ok(out)
}

/// [`sources_for_suite`] for this host.
pub fn derived_sources(suite: &str) -> Result<Vec<Source>> {
    sources_for_suite(&host_sources()?, &host_codename()?, suite)
}

/// A deb822 sources file for one architecture.
pub fn render_sources(sources: &[Source], arch: &str) -> String {
    let mut files: Vec<&str> = sources.iter().map(|s| s.file.as_str()).collect();
    files.dedup();
    let mut text = format!(
        "# Written by `cargo xtask` from the host's Debian sources ({}).\n",
        files.join(", ")
    );
    for s in sources {
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
    text
}

/// The host part of an archive URI (`http://host:80/debian` → `host`).
pub(super) fn uri_host(uri: &str) -> Option<&str> {
    let rest = uri.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host.split(':').next()?;
    (!host.is_empty()).then_some(host)
}

/// apt's message with every `scheme://host/` shortened to `apt:`, `[IP: …]`
/// dropped and any other mention of `hosts` replaced, so that what is
/// printed or recorded names no archive host.
pub fn redact_hosts(line: &str, hosts: &[String]) -> String {
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
    while let Some(i) = out.find(" [IP:") {
        let end = out[i..].find(']').map(|e| i + e + 1).unwrap_or(out.len());
        out.replace_range(i..end, "");
    }
    for host in hosts.iter().filter(|h| !h.is_empty()) {
        out = out.replace(host.as_str(), "<archive>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bookworm host's `debian.sources` (archive host renamed), with what
    /// else hosts carry: backports, a vendor reusing the release name, a
    /// disabled entry, an inline key, whitespace-only separators.
    const DEB822: &str = "\
Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://archive.example/debian
Suites: bookworm bookworm-updates bookworm-backports
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb deb-src
URIs: http://archive.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
  \t
Types: deb-src
URIs: http://archive.example/debian
Suites: bookworm
Components: main

Types: deb
URIs: https://vendor.example/apt
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/vendor.gpg

Types: deb
URIs: https://inline.example/apt
Suites: bookworm
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mDMEZ0000000
 -----END PGP PUBLIC KEY BLOCK-----

Types: deb
URIs: http://archive.example/old
Suites: bookworm
Components: main
Enabled: no
";

    const ONE_LINE: &str = "\
# deb http://commented.example/debian bookworm main
deb [arch=amd64 signed-by=/etc/vendor.gpg] https://vendor.example/x bookworm main
deb-src http://archive.example/debian bookworm main
deb\thttp://archive.example/debian bookworm main contrib # trailing
deb [ signed-by=/usr/share/keyrings/debian-archive-keyring.gpg ] http://archive.example/debian-security bookworm-security main
deb http://archive.example/debian
";

    fn shown(sources: &[Source]) -> String {
        sources
            .iter()
            .map(|s| {
                format!(
                    "{} {} {} [{}] ({})",
                    s.uris.join(","),
                    s.suites.join(","),
                    s.components.join(","),
                    s.signed_by.as_deref().unwrap_or("-").replace('\n', "⏎"),
                    s.file
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn sources_parse_in_both_one_line_and_deb822_formats() {
        expect_test::expect![[r#"
            http://archive.example/debian bookworm,bookworm-updates,bookworm-backports main,contrib [/usr/share/keyrings/debian-archive-keyring.gpg] (debian.sources)
            http://archive.example/debian-security bookworm-security main [/usr/share/keyrings/debian-archive-keyring.gpg] (debian.sources)
            https://vendor.example/apt bookworm main [/usr/share/keyrings/vendor.gpg] (debian.sources)
            https://inline.example/apt bookworm main [⏎ -----BEGIN PGP PUBLIC KEY BLOCK-----⏎ .⏎ mDMEZ0000000⏎ -----END PGP PUBLIC KEY BLOCK-----] (debian.sources)"#]]
        .assert_eq(&shown(&parse_deb822(DEB822, "debian.sources")));
        expect_test::expect![[r#"
            https://vendor.example/x bookworm main [/etc/vendor.gpg] (sources.list)
            http://archive.example/debian bookworm main,contrib [-] (sources.list)
            http://archive.example/debian-security bookworm-security main [/usr/share/keyrings/debian-archive-keyring.gpg] (sources.list)"#]]
        .assert_eq(&shown(&parse_one_line(ONE_LINE, "sources.list")));
    }

    #[test]
    fn reads_the_files_apt_reads() {
        let dir = tempfile::tempdir().unwrap();
        let parts = dir.path().join("sources.list.d");
        std::fs::create_dir_all(&parts).unwrap();
        std::fs::write(dir.path().join("sources.list"), ONE_LINE).unwrap();
        std::fs::write(parts.join("debian.sources"), DEB822).unwrap();
        std::fs::write(
            parts.join("extra.list"),
            "deb http://extra.example/debian bookworm main\n",
        )
        .unwrap();
        std::fs::write(
            parts.join("gone.list.disabled-by-farm"),
            "deb http://off.example/debian bookworm main\n",
        )
        .unwrap();
        let found = sources_in(&dir.path().join("sources.list"), &parts).unwrap();
        let uris: Vec<&str> = found.iter().map(|s| s.uris[0].as_str()).collect();
        assert_eq!(
            uris,
            [
                "https://vendor.example/x",
                "http://archive.example/debian",
                "http://archive.example/debian-security",
                "http://archive.example/debian",
                "http://archive.example/debian-security",
                "https://vendor.example/apt",
                "https://inline.example/apt",
                "http://extra.example/debian",
            ]
        );
        // No sources.list at all (the default on newer Debian) is no error.
        assert_eq!(
            sources_in(&dir.path().join("none"), &dir.path().join("nothing")).unwrap(),
            []
        );
    }

    #[test]
    fn backports_come_from_the_release_entries_only() {
        let mut host = parse_deb822(DEB822, "/etc/apt/sources.list.d/debian.sources");
        host.extend(parse_one_line(ONE_LINE, "/etc/apt/sources.list"));
        let bp = backports_for_suite(&host, "bookworm").unwrap();
        expect_test::expect!["http://archive.example/debian bookworm-backports main [/usr/share/keyrings/debian-archive-keyring.gpg] (/etc/apt/sources.list.d/debian.sources)"]
        .assert_eq(&shown(&bp));
        assert!(backports_for_suite(&host, "trixie").is_err());
    }

    #[test]
    fn derives_a_suite_from_the_hosts_debian_entries() {
        let mut host = parse_deb822(DEB822, "/etc/apt/sources.list.d/debian.sources");
        host.extend(parse_one_line(ONE_LINE, "/etc/apt/sources.list"));
        let trixie = sources_for_suite(&host, "bookworm", "trixie").unwrap();
        expect_test::expect![[r#"
            http://archive.example/debian trixie,trixie-updates main [/usr/share/keyrings/debian-archive-keyring.gpg] (/etc/apt/sources.list.d/debian.sources)
            http://archive.example/debian-security trixie-security main [/usr/share/keyrings/debian-archive-keyring.gpg] (/etc/apt/sources.list.d/debian.sources)
            http://archive.example/debian trixie main [-] (/etc/apt/sources.list)"#]]
        .assert_eq(&shown(&trixie));
        expect_test::expect![[r#"
            # Written by `cargo xtask` from the host's Debian sources (/etc/apt/sources.list.d/debian.sources, /etc/apt/sources.list).

            Types: deb
            URIs: http://archive.example/debian
            Suites: trixie trixie-updates
            Components: main
            Architectures: riscv64
            Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

            Types: deb
            URIs: http://archive.example/debian-security
            Suites: trixie-security
            Components: main
            Architectures: riscv64
            Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

            Types: deb
            URIs: http://archive.example/debian
            Suites: trixie
            Components: main
            Architectures: riscv64
        "#]]
        .assert_eq(&render_sources(&trixie, "riscv64"));
        // The host's own suite comes out as it went in (security listed twice: once).
        let bookworm = sources_for_suite(&host, "bookworm", "bookworm").unwrap();
        assert_eq!(
            bookworm
                .iter()
                .filter(|s| s.suites == ["bookworm-security"])
                .count(),
            1
        );
        assert_eq!(
            sources_for_suite(&host, "trixie", "sid").unwrap_err().to_string(),
            "the host's apt sources have no Debian entry for its release `trixie` (main) to derive `sid` from; \
             add the Debian archive to the host's apt sources"
        );
    }

    #[test]
    fn reads_the_release_name() {
        let os_release = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n";
        assert_eq!(parse_codename(os_release).as_deref(), Some("bookworm"));
        assert_eq!(parse_codename("ID=debian\nVERSION_CODENAME=\"\"\n"), None);
    }

    #[test]
    fn apt_messages_lose_the_archive_host() {
        let hosts = vec!["archive.example".to_string()];
        assert_eq!(
            redact_hosts(
                "E: Failed to fetch http://archive.example/debian-security/dists/x/Packages.xz  Bad size [IP: 192.0.2.1 80]",
                &hosts
            ),
            "E: Failed to fetch apt:debian-security/dists/x/Packages.xz  Bad size"
        );
        assert_eq!(
            redact_hosts("W: Failed to fetch http://archive.example:8080/debian/dists/trixie/InRelease  Temporary failure resolving 'archive.example'", &hosts),
            "W: Failed to fetch apt:debian/dists/trixie/InRelease  Temporary failure resolving '<archive>'"
        );
        assert_eq!(
            uri_host("http://user@archive.example:8080/debian"),
            Some("archive.example")
        );
        assert_eq!(uri_host("/srv/debian"), None);
    }
}
