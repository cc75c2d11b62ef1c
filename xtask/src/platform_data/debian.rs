//! Debian: the Rust compiler packages (`rustc`, and the alternatives
//! `rustc-web` and `rustc-1.NN`) of a release and architecture, asked of the
//! archive through apt itself.
//!
//! Each release × architecture is asked through its private apt state
//! (`crate::apt`), so the host's own dpkg and apt are never touched and no
//! archive's host name is written anywhere here: the sources are the host's,
//! the suites renamed (`bookworm-security` → `trixie-security`), and apt's
//! errors are kept without the host.

use std::path::Path;

use anyhow::{Context, Result};

use crate::apt::{self, AptState};
use crate::model::rust_status::PackagedRust;
use crate::model::RustVersion;

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
    // Other architectures are not this platform's compiler.
    for e in apt::parse_madison(text)?
        .into_iter()
        .filter(|e| e.arch == arch || e.arch == "all")
    {
        let rust = RustVersion::from_package_version(&e.version)
            .with_context(|| format!("`{}` {}: no Rust release in it", e.package, e.version))?;
        out.push(PackagedRust {
            alternative: e.package != "rustc",
            source: format!(
                "apt:{}/dists/{}/{}/binary-{}/Packages",
                uri_path(&e.uri),
                e.suite,
                e.component,
                e.arch
            ),
            name: e.package,
            version: e.version,
            rust,
            channel: e.suite,
            fetched: now.to_string(),
        });
    }
    out.sort_by(|a, b| (a.alternative, &a.name, a.rust).cmp(&(b.alternative, &b.name, b.rust)));
    Ok(out)
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
    let state = AptState::open(&cache.join("apt"), codename, debian_arch)?;
    let lock = state.lock()?;
    progress(&format!(
        "debian: apt-get update for {codename} {debian_arch}"
    ));
    let incomplete = state.update(&lock, apt::UPDATE_TIMEOUT)?;
    let names = compiler_packages(&state.query(&["pkgnames", "rustc"])?);
    if names.is_empty() {
        return Ok((Vec::new(), incomplete));
    }
    let mut madison = vec!["madison".to_string()];
    madison.extend(names);
    Ok((
        parse_madison(&state.query(&madison)?, debian_arch, now)?,
        incomplete,
    ))
}

/// `rustc` and its alternatives among `apt-cache pkgnames rustc`'s answer.
fn compiler_packages(pkgnames: &str) -> Vec<String> {
    let mut names: Vec<String> = pkgnames
        .lines()
        .map(str::trim)
        .filter(|n| is_compiler(n))
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_madison_output() {
        // Captured from `apt-cache madison rustc rustc-web` on a bookworm host (archive host renamed).
        let text = "     rustc | 1.63.0+dfsg1-2 | http://archive.example/debian bookworm/main arm64 Packages
 rustc-web | 1.96.0+dfsg1-1~deb12u2 | http://archive.example/debian-security bookworm-security/main arm64 Packages
 rustc-web | 1.85.0+dfsg3-1~deb12u3 | http://archive.example/debian bookworm/main arm64 Packages
     rustc | 1.63.0+dfsg1-2 | http://archive.example/debian bookworm/main Sources
     rustc | 1.63.0+dfsg1-2 | http://archive.example/debian bookworm/main amd64 Packages
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
        assert!(
            is_compiler("rustc-1.80") && is_compiler("rustc-web") && !is_compiler("rustc-dbgsym")
        );
        assert_eq!(
            compiler_packages("rustc-web\nrustc\nrustc-dbgsym\nrustc-mozilla\nrustc\n"),
            ["rustc", "rustc-web"]
        );
    }
}
