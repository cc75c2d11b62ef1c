//! Toolchain providers: where the compiler, standard library and linker for a
//! cell's target come from, chosen per cell by resolution and recorded in its
//! provenance.
//!
//! A platform lists providers in order of preference (`toolchains`,
//! `linkers` in `platforms/`); [`resolve`] takes the first this host has. When
//! none is there, the cell is unavailable, and the reasons of every provider
//! tried, with the step that would enable the first, go into the cell.

mod host;

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cmd::Cmd;
use crate::host::Host;
use crate::model::{LinkerKind, Platform, ToolchainKind};
use crate::results::Tier;

/// A resolved toolchain: everything needed to run cargo for one target.
#[derive(Debug, Clone, Serialize)]
pub struct Toolchain {
    pub kind: ToolchainKind,
    pub linker: LinkerKind,
    pub target: String,
    /// The cargo program and any leading arguments before the subcommand's own
    /// (`cargo`, or `cargo-zigbuild` whose subcommands are `zigbuild`…).
    pub cargo: Vec<String>,
    /// The subcommand that builds: `build` or, with cargo-zigbuild, `zigbuild`.
    pub build_subcommand: String,
    pub rustc: PathBuf,
    /// Environment for cargo (RUSTC, RUSTC_BOOTSTRAP, linker variables…).
    pub env: Vec<(String, String)>,
    /// Arguments added to every cargo invocation (`-Zbuild-std=…`).
    pub cargo_args: Vec<String>,
    /// `rustc 1.95.0 (59807616e 2026-04-14)`.
    pub rustc_version: String,
    /// `cargo 1.95.0 (…)`.
    pub cargo_version: String,
    /// `rustc -vV`, part of every fingerprint.
    pub identity: String,
    /// Directory name under `target/matrix/build/` for this toolchain's artifacts.
    pub target_dir_name: String,
}

impl Toolchain {
    /// `host (rustc 1.95.0 …)`.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.kind.as_str(), self.rustc_version)
    }

    /// Asks this toolchain's compiler for its view of the target's support tier.
    pub fn tier(&self, cache: &mut TierCache) -> Option<Tier> {
        cache.get(&self.rustc, &self.rustc_version, &self.target)
    }
}

/// Why a provider cannot serve a target here, and what would change that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub reason: String,
    /// A command or step; `None` when nothing on this host can (the target is not the host's, say).
    pub enable: Option<String>,
}

impl Missing {
    pub fn new(reason: impl Into<String>, enable: Option<String>) -> Missing {
        Missing { reason: reason.into(), enable }
    }
}

/// Resolves the first provider this host has for `platform`, or says why none.
/// `cache` is a directory for answers that only change with the toolchain (versions).
pub fn resolve(platform: &Platform, host: &Host, cache: &std::path::Path) -> Result<Toolchain, Missing> {
    let mut missing = Vec::new();
    for &kind in &platform.toolchains {
        let attempt = match kind {
            ToolchainKind::Host => host::resolve(platform, host, cache),
            ToolchainKind::RustupTarget | ToolchainKind::BuildStd | ToolchainKind::CrossRs => Err(Missing::new(
                format!("the `{}` provider is not available in this build of xtask", kind.as_str()),
                None,
            )),
        };
        match attempt {
            Ok(toolchain) => return Ok(toolchain),
            Err(why) => missing.push((kind, why)),
        }
    }
    let reason = missing
        .iter()
        .map(|(kind, why)| format!("{}: {}", kind.as_str(), why.reason))
        .collect::<Vec<_>>()
        .join("; ");
    let enable = missing.iter().find_map(|(_, why)| why.enable.clone());
    Err(Missing { reason: format!("no toolchain for {}: {reason}", platform.target), enable })
}

/// `rustc -vV`, `rustc -V` and `cargo -V` of a toolchain, for provenance and
/// fingerprints. The cargo answer is cached by the compiler's identity and
/// cargo's path, so an unchanged rerun spawns no cargo at all.
pub(crate) fn versions(
    rustc: &std::path::Path,
    cargo: &[String],
    env: &[(String, String)],
    cache: &std::path::Path,
) -> Result<(String, String, String)> {
    let vv = Cmd::new(rustc).arg("-vV").envs(env).run()?.ok()?.stdout_str();
    let release = vv.lines().find_map(|l| l.strip_prefix("release: ")).unwrap_or("?");
    let commit = vv.lines().find_map(|l| l.strip_prefix("commit-hash: ")).map(|c| &c[..c.len().min(9)]);
    let date = vv.lines().find_map(|l| l.strip_prefix("commit-date: "));
    let rustc_version = match (commit, date) {
        (Some(c), Some(d)) if c != "unknown" => format!("rustc {release} ({c} {d})"),
        _ => format!("rustc {release}"),
    };
    let key = format!("{}|{}|{}", cargo.join(" "), env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","), vv);
    let cache_path = cache.join("cargo-versions.json");
    let mut cache: std::collections::BTreeMap<String, String> = std::fs::read_to_string(&cache_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let cargo_version = match cache.get(&key) {
        Some(v) => v.clone(),
        None => {
            let v = Cmd::new(&cargo[0]).args(&cargo[1..]).arg("-V").envs(env).run()?.ok()?.stdout_str().trim().to_string();
            cache.insert(key, v.clone());
            let _ = crate::results::write_atomic(&cache_path, serde_json::to_string_pretty(&cache)?.as_bytes());
            v
        }
    };
    Ok((vv, rustc_version, cargo_version))
}

/// Target tiers as each compiler states them, cached on disk per compiler version.
#[derive(Debug, Default)]
pub struct TierCache {
    path: Option<PathBuf>,
    entries: std::collections::BTreeMap<String, Option<Tier>>,
    dirty: bool,
}

impl TierCache {
    pub fn open(path: PathBuf) -> TierCache {
        let entries = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        TierCache { path: Some(path), entries, dirty: false }
    }

    pub fn get(&mut self, rustc: &std::path::Path, rustc_version: &str, target: &str) -> Option<Tier> {
        let key = format!("{rustc_version}|{target}");
        if let Some(hit) = self.entries.get(&key) {
            return hit.clone();
        }
        let tier = query_tier(rustc, rustc_version, target).ok();
        self.entries.insert(key, tier.clone());
        self.dirty = true;
        tier
    }

    pub fn save(&self) -> Result<()> {
        if let (true, Some(path)) = (self.dirty, &self.path) {
            crate::results::write_atomic(path, serde_json::to_string_pretty(&self.entries)?.as_bytes())?;
        }
        Ok(())
    }
}

/// `rustc -Z unstable-options --print target-spec-json`: its `metadata` has tier, host tools and std.
pub fn query_tier(rustc: &std::path::Path, rustc_version: &str, target: &str) -> Result<Tier> {
    let out = Cmd::new(rustc)
        .args(["-Z", "unstable-options", "--print", "target-spec-json", "--target", target])
        .env("RUSTC_BOOTSTRAP", "1")
        .run()?
        .ok()?;
    let spec: serde_json::Value = serde_json::from_slice(&out.stdout).context("target-spec-json is not JSON")?;
    let meta = spec.get("metadata").context("target spec has no metadata")?;
    Ok(Tier {
        tier: meta.get("tier").and_then(|v| v.as_u64()).map(|t| t as u8),
        host_tools: meta.get("host_tools").and_then(|v| v.as_bool()),
        std: meta.get("std").and_then(|v| v.as_bool()),
        description: meta.get("description").and_then(|v| v.as_str()).map(str::to_string),
        source: rustc_version.split(" (").next().unwrap_or(rustc_version).to_string(),
    })
}
