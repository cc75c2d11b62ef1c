//! Repology's `rust` project, a cross-check of the per-OS fetchers: the
//! newest version each repository (`debian_12`, `freebsd`, `openbsd`,
//! `pkgsrc_current`…) has.
//!
//! Repology's rules: an identifying User-Agent ([`super::http::USER_AGENT`])
//! and at most one request per second ([`super::http::Pacer`]).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Deserialize;

use super::http::{Client, Pacer};
use super::source::{self, Document, Source};
use crate::model::RustVersion;

pub const DEFAULT_API: &str = "https://repology.org/api/v1";

/// The repositories worth comparing with `platforms/`.
pub fn relevant(repo: &str) -> bool {
    repo.starts_with("debian_")
        || repo == "freebsd"
        || repo.starts_with("openbsd")
        || repo.starts_with("pkgsrc")
}

#[derive(Debug, Deserialize)]
struct Package {
    repo: String,
    version: String,
    #[serde(default)]
    srcname: Option<String>,
    #[serde(default)]
    binname: Option<String>,
}

pub fn project_url(api: &str, project: &str) -> String {
    format!("{}/project/{project}", api.trim_end_matches('/'))
}

/// Repology's answer for one project.
pub struct Repology;

impl Source for Repology {
    /// The project's name (`rust`).
    type Query = str;
    /// Repository → newest version there.
    type Found = BTreeMap<String, String>;
    const DEFAULT_BASE: &'static str = DEFAULT_API;
    const WHAT: &'static str = "a Repology project answer";
    const INTERVAL: Duration = Duration::from_secs(1);

    fn documents(base: &str, project: &str) -> Result<Vec<Document>> {
        Ok(vec![Document {
            url: project_url(base, project),
            channel: project.to_string(),
        }])
    }

    fn read(body: &[u8]) -> Result<BTreeMap<String, String>> {
        newest_per_repo(body)
    }
}

/// Repository → newest Rust release of the compiler there. `pacer` keeps
/// the requests of one run apart ([`Repology::INTERVAL`]).
pub fn fetch(client: &Client, pacer: &mut Pacer, api: &str) -> Result<BTreeMap<String, String>> {
    let mut found = source::fetch::<Repology>(client, pacer, api, "rust")?;
    Ok(found.pop().map(|(_, repos)| repos).unwrap_or_default())
}

pub fn newest_per_repo(json: &[u8]) -> Result<BTreeMap<String, String>> {
    let packages: Vec<Package> =
        serde_json::from_slice(json).context("expected a JSON array of packages")?;
    let mut newest: BTreeMap<String, (RustVersion, String)> = BTreeMap::new();
    for p in packages {
        if !relevant(&p.repo) {
            continue;
        }
        // Documentation, sources and tools of the project are other packages.
        let name = p.binname.as_deref().or(p.srcname.as_deref()).unwrap_or("");
        let compiler = name.is_empty()
            || [
                "rustc",
                "rustc-web",
                "rust",
                "lang/rust",
                "rust-bin",
                "lang/rust-bin",
            ]
            .contains(&name);
        let Some(v) = RustVersion::from_package_version(&p.version) else {
            continue;
        };
        if !compiler {
            continue;
        }
        let entry = newest.entry(p.repo).or_insert((v, p.version.clone()));
        if v > entry.0 {
            *entry = (v, p.version);
        }
    }
    Ok(newest
        .into_iter()
        .map(|(repo, (_, text))| (repo, text))
        .collect())
}
