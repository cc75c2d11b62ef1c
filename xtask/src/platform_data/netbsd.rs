//! NetBSD: the Rust packages pkgsrc builds for one release and architecture,
//! from the binary-package directory's `pkg_summary.gz`.
//!
//! `pkg_summary` is a sequence of blocks separated by empty lines, one
//! `KEY=VALUE` per line (pkg_summary(5)); `PKGNAME` is `<name>-<version>`.
//! `lang/rust` is the compiler built from source; `lang/rust-bin`, upstream's
//! binaries repackaged, is an alternative.

use std::io::Read;

use anyhow::{bail, Context, Result};

use super::http::Client;
use super::source::{self, Document, Listed, ReleaseArch, Source};
use crate::model::rust_status::PackagedRust;
use crate::model::RustVersion;

pub const DEFAULT_MIRROR: &str = "https://cdn.netbsd.org/pub/pkgsrc/packages/NetBSD";

/// pkgsrc's architecture directory for one of `platforms/`.
pub fn arch_dir(arch: &str) -> Option<&'static str> {
    match arch {
        "x86_64" => Some("x86_64"),
        "aarch64" => Some("aarch64"),
        "i686" => Some("i386"),
        "armv7" => Some("earmv7hf"),
        _ => None,
    }
}

pub fn summary_url(mirror: &str, release: &str, arch: &str) -> Result<String> {
    let dir = arch_dir(arch)
        .with_context(|| format!("no pkgsrc architecture name known for `{arch}`"))?;
    Ok(format!(
        "{}/{dir}/{release}/All/pkg_summary.gz",
        mirror.trim_end_matches('/')
    ))
}

/// pkgsrc's binary packages for a NetBSD release.
pub struct NetBsd;

impl Source for NetBsd {
    type Query = ReleaseArch;
    type Found = Vec<Listed>;
    const DEFAULT_BASE: &'static str = DEFAULT_MIRROR;
    const WHAT: &'static str = "a gzip-compressed pkg_summary";

    fn documents(base: &str, q: &ReleaseArch) -> Result<Vec<Document>> {
        Ok(vec![Document {
            url: summary_url(base, &q.release, &q.arch)?,
            channel: q.release.clone(),
        }])
    }

    fn read(body: &[u8]) -> Result<Vec<Listed>> {
        let mut text = String::new();
        flate2::read::GzDecoder::new(body).read_to_string(&mut text)?;
        Ok(find_rust(&text)?
            .into_iter()
            .map(|(name, version, rust)| Listed {
                alternative: name != "rust",
                name,
                version,
                rust,
            })
            .collect())
    }
}

pub fn fetch(
    client: &Client,
    mirror: &str,
    release: &str,
    arch: &str,
    now: &str,
) -> Result<Vec<PackagedRust>> {
    source::packaged::<NetBsd>(client, mirror, release, arch, now)
}

/// `(name, version, rust)` of `rust` and `rust-bin` in a pkg_summary.
pub fn find_rust(summary: &str) -> Result<Vec<(String, String, RustVersion)>> {
    let mut blocks = 0;
    let mut found = Vec::new();
    for block in summary.split("\n\n") {
        if block.trim().is_empty() {
            continue;
        }
        let mut pkgname = None;
        for line in block.lines() {
            let Some((key, value)) = line.split_once('=') else {
                bail!("line `{line}` is not KEY=VALUE");
            };
            if key == "PKGNAME" {
                pkgname = Some(value);
            }
        }
        let pkgname = pkgname.with_context(|| {
            format!(
                "a block has no PKGNAME: `{}`",
                block.lines().next().unwrap_or("")
            )
        })?;
        blocks += 1;
        // The version is what follows the last `-`.
        let Some((name, version)) = pkgname.rsplit_once('-') else {
            continue;
        };
        if name == "rust" || name == "rust-bin" {
            let rust = RustVersion::from_package_version(version)
                .with_context(|| format!("`{pkgname}`: no Rust release in it"))?;
            found.push((name.to_string(), version.to_string(), rust));
        }
    }
    if blocks == 0 {
        bail!("no package blocks");
    }
    Ok(found)
}
