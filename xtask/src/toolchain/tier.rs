//! Target tiers as a compiler states them (`--print target-spec-json`'s
//! `metadata`), cached on disk per compiler version and target.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::cmd::Cmd;
use crate::results::Tier;

/// Target tiers as each compiler states them, cached on disk per compiler version.
#[derive(Debug, Default)]
pub struct TierCache {
    path: Option<PathBuf>,
    entries: BTreeMap<String, Option<Tier>>,
    dirty: bool,
}

impl TierCache {
    pub fn open(path: PathBuf) -> TierCache {
        let entries = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        TierCache {
            path: Some(path),
            entries,
            dirty: false,
        }
    }

    pub fn get(
        &mut self,
        rustc: &std::path::Path,
        rustc_version: &str,
        target: &str,
    ) -> Option<Tier> {
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
            crate::paths::write_atomic(
                path,
                serde_json::to_string_pretty(&self.entries)?.as_bytes(),
            )?;
        }
        Ok(())
    }
}

/// `rustc -Z unstable-options --print target-spec-json`: its `metadata` has tier, host tools and std.
pub fn query_tier(rustc: &std::path::Path, rustc_version: &str, target: &str) -> Result<Tier> {
    let out = Cmd::new(rustc)
        .args([
            "-Z",
            "unstable-options",
            "--print",
            "target-spec-json",
            "--target",
            target,
        ])
        .env("RUSTC_BOOTSTRAP", "1")
        .run()?
        .ok()?;
    let spec: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("target-spec-json is not JSON")?;
    let meta = spec
        .get("metadata")
        .context("target spec has no metadata")?;
    Ok(Tier {
        tier: meta.get("tier").and_then(|v| v.as_u64()).map(|t| t as u8),
        host_tools: meta.get("host_tools").and_then(|v| v.as_bool()),
        std: meta.get("std").and_then(|v| v.as_bool()),
        description: meta
            .get("description")
            .and_then(|v| v.as_str())
            .map(str::to_string),
        source: rustc_version
            .split(" (")
            .next()
            .unwrap_or(rustc_version)
            .to_string(),
    })
}
