//! Per platform, for the matrix table and the report: the upstream tier, the
//! packaged Rust that counts, and whether it can build the workspace.

use super::msrv::{best_package, missing_data};
use crate::model::rust_status::{PackagedRust, TierRow};
use crate::model::RustVersion;
use crate::model::{Model, Platform};

/// Can the OS's own Rust build the workspace?
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    CanBuild {
        packaged: RustVersion,
        msrv: RustVersion,
    },
    TooOld {
        packaged: RustVersion,
        msrv: RustVersion,
    },
    /// No data, or nothing to compare with: why.
    Unknown(String),
}

impl Verdict {
    /// `can build (1.96 ≥ 1.85)`, `too old (1.63 < 1.85)`, `unknown: …`.
    pub fn label(&self) -> String {
        match self {
            Verdict::CanBuild { packaged, msrv } => {
                format!("can build ({} ≥ {})", packaged.short(), msrv.short())
            }
            Verdict::TooOld { packaged, msrv } => {
                format!("too old ({} < {})", packaged.short(), msrv.short())
            }
            Verdict::Unknown(why) => format!("unknown: {why}"),
        }
    }

    pub fn word(&self) -> &'static str {
        match self {
            Verdict::CanBuild { .. } => "can-build",
            Verdict::TooOld { .. } => "too-old",
            Verdict::Unknown(_) => "unknown",
        }
    }
}

/// What the report shows of a platform's Rust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformRust {
    /// platform-support.md's row at `tier_release`, if refreshed.
    pub tier: Option<TierRow>,
    pub tier_release: Option<RustVersion>,
    pub packaged: Option<PackagedRust>,
    pub stale_since: Option<String>,
    /// Why the last answer may be incomplete (some package lists failed).
    pub incomplete: Option<String>,
    pub verdict: Verdict,
}

impl PlatformRust {
    /// `rustc-web 1.96.0 (2026-11-22)`, or why unknown.
    pub fn packaged_label(&self) -> String {
        match &self.packaged {
            Some(p) => {
                let stale = self
                    .stale_since
                    .as_ref()
                    .map(|s| format!(", stale since {}", &s[..s.len().min(10)]))
                    .unwrap_or_default();
                format!(
                    "{} {} ({}{stale})",
                    p.name,
                    p.rust,
                    &p.fetched[..p.fetched.len().min(10)]
                )
            }
            None => "none known".into(),
        }
    }

    pub fn tier_label(&self) -> Option<String> {
        let t = self.tier.as_ref()?;
        if t.tier == 0 {
            return Some(format!(
                "not listed in {}",
                self.tier_release.map(|r| r.short()).unwrap_or_default()
            ));
        }
        Some(format!(
            "tier {}{}, {}",
            t.tier,
            if t.host_tools { " + host tools" } else { "" },
            t.std.as_str()
        ))
    }
}

/// The facts and the verdict for one platform; `msrv` is the workspace's `rust-version`.
pub fn platform_rust(model: &Model, platform: &Platform, msrv: Option<&str>) -> PlatformRust {
    let status = &model.rust_status;
    let tier = status
        .tiers
        .as_ref()
        .and_then(|t| t.target.get(&platform.target).cloned());
    let tier_release = status.tiers.as_ref().map(|t| t.release);
    let rule = model
        .msrv_policy
        .as_ref()
        .and_then(|p| p.os.get(&platform.os));
    let entry = status.platform.get(&platform.id);
    let stale_since = entry.and_then(|e| e.stale_since.clone());
    let incomplete = entry
        .filter(|e| e.checked.is_some() && e.stale_since.is_none())
        .and_then(|e| e.error.clone());
    let best = match missing_data(status, &platform.id) {
        Some(why) => Err(why),
        None => best_package(&entry.expect("checked").package, rule).cloned(),
    };
    let msrv = msrv.map(|m| m.parse::<RustVersion>());
    let verdict = match (&best, msrv) {
        (Err(why), _) => Verdict::Unknown(why.clone()),
        (Ok(_), None) => Verdict::Unknown("the workspace declares no rust-version".into()),
        (Ok(_), Some(Err(e))) => Verdict::Unknown(format!("the workspace's rust-version: {e}")),
        (Ok(p), Some(Ok(m))) if p.rust >= m => Verdict::CanBuild {
            packaged: p.rust,
            msrv: m,
        },
        (Ok(p), Some(Ok(m))) => Verdict::TooOld {
            packaged: p.rust,
            msrv: m,
        },
    };
    PlatformRust {
        tier,
        tier_release,
        packaged: best.ok(),
        stale_since,
        incomplete,
        verdict,
    }
}

/// [`workspace_msrv`] of the workspace at `path` (default: this repository),
/// or why there is none.
pub fn workspace_msrv_at(
    model: &Model,
    path: Option<&std::path::Path>,
) -> Result<RustVersion, String> {
    let path = path.map_or_else(crate::repo_root, std::path::Path::to_path_buf);
    let ws = crate::workspace::Workspace::load(&path)
        .map_err(|e| format!("cannot read the workspace at {}: {e:#}", path.display()))?;
    workspace_msrv(&ws, &model.matrix.exclude_packages)
}

/// The `rust-version` the workspace must honour: the highest among the members
/// the matrix builds, or why there is none.
pub fn workspace_msrv(
    workspace: &crate::workspace::Workspace,
    excluded: &[String],
) -> Result<RustVersion, String> {
    let members: Vec<_> = workspace
        .packages
        .iter()
        .filter(|p| !excluded.contains(&p.name))
        .collect();
    let mut best: Option<RustVersion> = None;
    for p in &members {
        if let Some(v) = &p.rust_version {
            let v: RustVersion = v
                .parse()
                .map_err(|e| format!("package `{}`: {e}", p.name))?;
            best = best.max(Some(v));
        }
    }
    best.ok_or_else(|| {
        if members.is_empty() {
            "the workspace has no member the matrix builds".to_string()
        } else {
            format!(
                "no member declares rust-version ({})",
                members
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    })
}
