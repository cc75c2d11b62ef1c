//! OpenBSD: the `rust` package of one release and architecture, from the
//! listing of the release's package directory.
//!
//! The directory's `index.txt` is an `ls -l` listing, one file per line,
//! the name last; lines in the `SHA256` file's form (`SHA256 (name) = …`)
//! are read too. The compiler is `rust-<version>.tgz`; `rust-src-…`,
//! `rust-clippy-…` and the like are other packages.

use anyhow::{bail, Context, Result};

use super::http::Client;
use super::source::{self, Document, Listed, ReleaseArch, Source};
use crate::model::rust_status::PackagedRust;
use crate::model::RustVersion;

pub const DEFAULT_MIRROR: &str = "https://cdn.openbsd.org/pub/OpenBSD";

/// OpenBSD's architecture name for one of `platforms/`.
pub fn arch_dir(arch: &str) -> Option<&'static str> {
    match arch {
        "x86_64" => Some("amd64"),
        "aarch64" => Some("aarch64"),
        "i686" => Some("i386"),
        "powerpc64" => Some("powerpc64"),
        "riscv64" => Some("riscv64"),
        _ => None,
    }
}

pub fn index_url(mirror: &str, release: &str, arch: &str) -> Result<String> {
    let dir = arch_dir(arch)
        .with_context(|| format!("no OpenBSD architecture name known for `{arch}`"))?;
    Ok(format!(
        "{}/{release}/packages/{dir}/index.txt",
        mirror.trim_end_matches('/')
    ))
}

/// The package directory of an OpenBSD release.
pub struct OpenBsd;

impl Source for OpenBsd {
    type Query = ReleaseArch;
    type Found = Vec<Listed>;
    const DEFAULT_BASE: &'static str = DEFAULT_MIRROR;
    const WHAT: &'static str = "a package listing";

    fn documents(base: &str, q: &ReleaseArch) -> Result<Vec<Document>> {
        Ok(vec![Document {
            url: index_url(base, &q.release, &q.arch)?,
            channel: q.release.clone(),
        }])
    }

    fn read(body: &[u8]) -> Result<Vec<Listed>> {
        let text = std::str::from_utf8(body).context("not UTF-8 text")?;
        Ok(find_rust(text)?
            .into_iter()
            .map(|(version, rust)| Listed {
                name: "rust".into(),
                version,
                rust,
                alternative: false,
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
    source::packaged::<OpenBsd>(client, mirror, release, arch, now)
}

/// The file name a listing line names.
fn file_of(line: &str) -> Option<&str> {
    if let Some(rest) = line.strip_prefix("SHA256 (") {
        return rest.split(") = ").next();
    }
    line.split_whitespace().last()
}

/// Versions of `rust-<version>.tgz` in a listing. A listing with no `.tgz`
/// at all is not a package directory (an error page, say).
pub fn find_rust(listing: &str) -> Result<Vec<(String, RustVersion)>> {
    let mut packages = 0;
    let mut found = Vec::new();
    for line in listing.lines() {
        let Some(file) = file_of(line.trim()) else {
            continue;
        };
        let Some(stem) = file.strip_suffix(".tgz") else {
            continue;
        };
        packages += 1;
        let Some(version) = stem.strip_prefix("rust-") else {
            continue;
        };
        if !version.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        let rust = RustVersion::from_package_version(version)
            .with_context(|| format!("`{file}`: no Rust release in it"))?;
        found.push((version.to_string(), rust));
    }
    if packages == 0 {
        bail!("no .tgz packages listed");
    }
    Ok(found)
}
