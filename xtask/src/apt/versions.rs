//! Debian version strings: the upstream part, and `apt-cache madison`'s
//! answer read per suite.

use anyhow::{bail, Result};

/// The upstream part of a Debian version: `1:7.2+dfsg-7+deb12u18` → `7.2+dfsg`.
pub fn upstream_version(version: &str) -> &str {
    let no_epoch = version.split_once(':').map_or(version, |(_, v)| v);
    no_epoch.rsplit_once('-').map_or(no_epoch, |(u, _)| u)
}

/// One binary package line of `apt-cache madison`:
/// ` rustc | 1.63.0+dfsg1-2 | <uri> bookworm/main amd64 Packages`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MadisonEntry {
    pub package: String,
    pub version: String,
    pub uri: String,
    /// `bookworm-security`.
    pub suite: String,
    pub component: String,
    pub arch: String,
}

/// The binary packages `apt-cache madison` lists (source packages are left out).
pub fn parse_madison(text: &str) -> Result<Vec<MadisonEntry>> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split('|').map(str::trim).collect();
        let [package, version, origin] = fields[..] else {
            bail!("`apt-cache madison` line `{line}` has not three fields");
        };
        let [uri, dist, arch, "Packages"] = origin.split_whitespace().collect::<Vec<_>>()[..]
        else {
            continue;
        };
        let (suite, component) = dist.split_once('/').unwrap_or((dist, "main"));
        out.push(MadisonEntry {
            package: package.to_string(),
            version: version.to_string(),
            uri: uri.to_string(),
            suite: suite.to_string(),
            component: component.to_string(),
            arch: arch.to_string(),
        });
    }
    Ok(out)
}

/// From `apt-cache madison <pkg>`: the version the host's own suite has
/// (`bookworm/main`, not `bookworm-security` nor a backport).
pub fn madison_suite_version(madison: &str, package: &str, suite: &str) -> Option<String> {
    parse_madison(madison)
        .ok()?
        .into_iter()
        .find(|e| e.package == package && e.suite == suite)
        .map(|e| e.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_madison_and_debian_versions() {
        let madison = "\
qemu-utils | 1:10.0.2+ds-1~bpo12+1 | http://archive.example/debian bookworm-backports/main amd64 Packages
qemu-utils | 1:7.2+dfsg-7+deb12u18+b3 | http://archive.example/debian bookworm/main amd64 Packages
qemu-utils | 1:7.2+dfsg-7+deb12u15 | http://archive.example/debian-security bookworm-security/main amd64 Packages
      qemu | 1:7.2+dfsg-7+deb12u18 | http://archive.example/debian bookworm/main Sources
";
        let entries = parse_madison(madison).unwrap();
        assert_eq!(
            entries.len(),
            3,
            "the source package is not a binary's version"
        );
        assert_eq!(
            (
                entries[2].suite.as_str(),
                entries[2].component.as_str(),
                entries[2].arch.as_str()
            ),
            ("bookworm-security", "main", "amd64")
        );
        assert_eq!(
            madison_suite_version(madison, "qemu-utils", "bookworm").as_deref(),
            Some("1:7.2+dfsg-7+deb12u18+b3")
        );
        assert_eq!(madison_suite_version(madison, "qemu-utils", "trixie"), None);
        assert!(parse_madison("rustc | 1.63\n").is_err());
        assert_eq!(upstream_version("1:7.2+dfsg-7+deb12u18+b3"), "7.2+dfsg");
        assert_eq!(upstream_version("1:10.0.2+ds-1~bpo12+1"), "10.0.2+ds");
        assert_eq!(upstream_version("2.36"), "2.36");
    }
}
