//! FreeBSD: the `rust` package in the pkg repositories of an ABI
//! (`FreeBSD:<major>:<arch>`), branches `latest` (the ports tree's head) and
//! `quarterly` (what a default install uses).
//!
//! A repository's catalogue is `packagesite.pkg`: a tar archive (zstd by
//! default; gzip and plain tar too) holding `packagesite.yaml`, one compact
//! JSON manifest per line (pkg-repository(5)).

use std::io::Read;

use anyhow::{bail, Context, Result};

use super::http::Client;
use super::source::{self, Document, Listed, ReleaseArch, Source};
use crate::model::rust_status::PackagedRust;
use crate::model::RustVersion;

pub const DEFAULT_MIRROR: &str = "https://pkg.freebsd.org";
pub const BRANCHES: [&str; 2] = ["quarterly", "latest"];

/// pkg's architecture name for one of `platforms/`.
pub fn abi_arch(arch: &str) -> Option<&'static str> {
    match arch {
        "x86_64" => Some("amd64"),
        "aarch64" => Some("aarch64"),
        "i686" => Some("i386"),
        "armv7" => Some("armv7"),
        "powerpc64le" => Some("powerpc64le"),
        "riscv64" => Some("riscv64"),
        _ => None,
    }
}

/// `FreeBSD:14:amd64` for release `14.3` on `x86_64`.
pub fn abi(release: &str, arch: &str) -> Result<String> {
    let major = release
        .split('.')
        .next()
        .filter(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()));
    let major = major.with_context(|| format!("release `{release}` has no major number"))?;
    let arch = abi_arch(arch).with_context(|| format!("no pkg ABI name known for `{arch}`"))?;
    Ok(format!("FreeBSD:{major}:{arch}"))
}

pub fn catalogue_url(mirror: &str, abi: &str, branch: &str) -> String {
    format!(
        "{}/{abi}/{branch}/packagesite.pkg",
        mirror.trim_end_matches('/')
    )
}

/// FreeBSD's pkg repositories: one catalogue per branch of the ABI.
pub struct FreeBsd;

impl Source for FreeBsd {
    type Query = ReleaseArch;
    type Found = Vec<Listed>;
    const DEFAULT_BASE: &'static str = DEFAULT_MIRROR;
    const WHAT: &'static str = "a pkg catalogue";

    fn documents(base: &str, q: &ReleaseArch) -> Result<Vec<Document>> {
        let abi = abi(&q.release, &q.arch)?;
        Ok(BRANCHES
            .iter()
            .map(|branch| Document {
                url: catalogue_url(base, &abi, branch),
                channel: branch.to_string(),
            })
            .collect())
    }

    fn read(body: &[u8]) -> Result<Vec<Listed>> {
        let manifests = packagesite_yaml(body)?;
        let Some((name, version)) = find_rust(&manifests).context("packagesite.yaml")? else {
            return Ok(Vec::new());
        };
        let rust = RustVersion::from_package_version(&version)
            .with_context(|| format!("`{name}` has version `{version}`, not a Rust release"))?;
        Ok(vec![Listed {
            name,
            version,
            rust,
            alternative: false,
        }])
    }
}

/// The `rust` packages of one ABI, one per branch. A branch that cannot be
/// read fails the whole: a half answer would look like "not packaged".
pub fn fetch(
    client: &Client,
    mirror: &str,
    release: &str,
    arch: &str,
    now: &str,
) -> Result<Vec<PackagedRust>> {
    source::packaged::<FreeBsd>(client, mirror, release, arch, now)
}

/// Unpacks `packagesite.yaml` from the catalogue archive, whatever its compression.
pub fn packagesite_yaml(bytes: &[u8]) -> Result<String> {
    let tar = decompress(bytes)?;
    let mut archive = tar::Archive::new(tar.as_slice());
    for entry in archive.entries().context("not a tar archive")? {
        let mut entry = entry.context("corrupt tar entry")?;
        let path = entry
            .path()
            .context("tar entry without a path")?
            .into_owned();
        if path.file_name().is_some_and(|n| n == "packagesite.yaml") {
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .context("packagesite.yaml is not UTF-8 text")?;
            return Ok(text);
        }
    }
    bail!("no packagesite.yaml in the archive")
}

/// The archive's bytes, decompressed according to its magic number.
fn decompress(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let mut dec = ruzstd::streaming_decoder::StreamingDecoder::new(bytes)
            .map_err(|e| anyhow::anyhow!("zstd: {e}"))?;
        dec.read_to_end(&mut out).context("zstd")?;
    } else if bytes.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .context("gzip")?;
    } else if bytes.len() > 262 && &bytes[257..262] == b"ustar" {
        out = bytes.to_vec();
    } else if bytes.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        bail!("xz-compressed (txz); this tool reads tzst, tgz and tar catalogues");
    } else {
        bail!("neither zstd, gzip nor tar");
    }
    Ok(out)
}

/// The `lang/rust` package (name `rust`) among the manifests, as (name, version).
/// Every line must be a JSON object: a line that is not is a broken catalogue.
pub fn find_rust(manifests: &str) -> Result<Option<(String, String)>> {
    let mut found = None;
    let mut count = 0;
    for (i, line) in manifests.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("line {}: not a JSON manifest", i + 1))?;
        let field = |k: &str| value.get(k).and_then(|v| v.as_str());
        let (Some(name), Some(version)) = (field("name"), field("version")) else {
            bail!("line {}: manifest without `name` and `version`", i + 1);
        };
        count += 1;
        if name == "rust" && field("origin").is_none_or(|o| o == "lang/rust") {
            found = Some((name.to_string(), version.to_string()));
        }
    }
    if count == 0 {
        bail!("no package manifests");
    }
    Ok(found)
}
