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
    /// The packaged lane built the workspace with the OS's own compiler.
    Built {
        /// `packaged rustc-web 1.96.0+dfsg1-1~deb12u2`.
        compiler: String,
        /// The cell that says so (`linux-debian12-s390x/build@packaged`).
        cell: String,
        /// What the packaged test cells said of those executables, when one ran.
        tests: Option<Tested>,
    },
    /// The packaged lane's compiler failed on the workspace.
    Failed {
        compiler: String,
        cell: String,
        /// The first compiler error (or why the cell failed).
        error: String,
    },
}

/// The packaged lane's test cells (`test@packaged`, `test@packaged-vm`)
/// on the executables its build linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tested {
    /// Every one that ran passed (known failures aside): their ids.
    Passed(Vec<String>),
    /// The first that failed, and why.
    Failed { cell: String, reason: String },
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
            Verdict::Built {
                compiler,
                cell,
                tests: None,
            } => format!("can build: {compiler} built it ({cell})"),
            Verdict::Built {
                compiler,
                cell,
                tests: Some(Tested::Passed(cells)),
            } => format!(
                "can build and pass its tests: {compiler} built it ({cell}) and its tests passed ({})",
                cells.join(", ")
            ),
            Verdict::Built {
                compiler,
                cell,
                tests: Some(Tested::Failed { cell: test, reason }),
            } => format!(
                "can build, but its tests fail: {compiler} built it ({cell}); {test} failed: {reason}"
            ),
            Verdict::Failed {
                compiler,
                cell,
                error,
            } => format!("cannot build: {compiler} failed ({cell}): {error}"),
        }
    }

    pub fn word(&self) -> &'static str {
        match self {
            Verdict::CanBuild { .. } => "can-build",
            Verdict::TooOld { .. } => "too-old",
            Verdict::Unknown(_) => "unknown",
            Verdict::Built { .. } => "can-build",
            Verdict::Failed { .. } => "cannot-build",
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
    /// Set when the verdict compares versions because no packaged cell ran: why.
    pub by_versions_only: Option<String>,
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
        by_versions_only: None,
    }
}

/// The verdict measured by the platform's packaged cells (build, else
/// check) when one ran to pass or fail, with what its test cells said of
/// a passing build; otherwise the version comparison, saying that it is one
/// and why the planned packaged cells did not answer.
pub fn measured<'a>(
    mut rust: PlatformRust,
    cells: impl IntoIterator<Item = &'a crate::results::CellResult>,
) -> PlatformRust {
    use crate::model::Stage;
    use crate::results::Status;
    let packaged: Vec<&crate::results::CellResult> =
        cells.into_iter().filter(|c| c.lane.is_packaged()).collect();
    let ran = |stage: Stage| {
        packaged.iter().copied().find(|c| {
            c.stage == stage
                && matches!(
                    c.status,
                    Status::Pass | Status::Fail | Status::ExpectedFail | Status::Timeout
                )
        })
    };
    // A failed check is the answer even when its build never ran.
    let decisive = match (ran(Stage::Check), ran(Stage::Build)) {
        (Some(c), _) if c.status != Status::Pass => Some(c),
        (_, Some(b)) => Some(b),
        (c, None) => c,
    };
    match decisive {
        Some(cell) => {
            let compiler = cell
                .provenance
                .details
                .get("packaged")
                .cloned()
                .or_else(|| cell.provenance.rustc.clone())
                .unwrap_or_else(|| "the packaged compiler".into());
            rust.verdict = if cell.status == Status::Pass {
                Verdict::Built {
                    compiler,
                    cell: cell.id.clone(),
                    tests: tested(&packaged),
                }
            } else {
                Verdict::Failed {
                    compiler,
                    cell: cell.id.clone(),
                    error: cell
                        .first_error
                        .as_ref()
                        .map(|d| d.short())
                        .or_else(|| cell.reason.clone())
                        .unwrap_or_else(|| format!("{:?}", cell.status).to_lowercase()),
                }
            };
        }
        // Results without a packaged lane (older files, `packaged-lane` off)
        // keep the comparison as it always read.
        None if packaged.is_empty() => {}
        None => {
            let why = packaged
                .iter()
                .find_map(|c| c.reason.clone())
                .unwrap_or_else(|| "the matrix has no packaged cell for it".into());
            rust.by_versions_only = Some(format!(
                "by version comparison only: no packaged cell ran ({why})"
            ));
        }
    }
    rust
}

/// What the packaged test cells that ran (to pass or fail) say, if any ran.
fn tested(packaged: &[&crate::results::CellResult]) -> Option<Tested> {
    use crate::model::Stage;
    use crate::results::Status;
    let ran: Vec<&crate::results::CellResult> = packaged
        .iter()
        .copied()
        .filter(|c| c.stage == Stage::Test)
        .filter(|c| {
            matches!(
                c.status,
                Status::Pass | Status::Fail | Status::ExpectedFail | Status::Timeout
            )
        })
        .collect();
    if ran.is_empty() {
        return None;
    }
    Some(
        match ran
            .iter()
            .find(|c| matches!(c.status, Status::Fail | Status::Timeout))
        {
            Some(c) => Tested::Failed {
                cell: c.id.clone(),
                reason: c
                    .reason
                    .clone()
                    .unwrap_or_else(|| format!("{:?}", c.status).to_lowercase()),
            },
            None => Tested::Passed(ran.iter().map(|c| c.id.clone()).collect()),
        },
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::CellResult;

    fn cell(stage: &str, lane: &str, status: &str, extra: &str) -> CellResult {
        serde_json::from_str(&format!(
            r#"{{"id": "linux-debian12-s390x/{stage}@{lane}", "platform": "linux-debian12-s390x",
                "os": "linux", "release": "debian12", "arch": "s390x", "target": "s390x-unknown-linux-gnu",
                "stage": "{stage}", "lane": "{lane}", "status": "{status}",
                "provenance": {{"host": "h", "date": "d", "lane": "{lane}",
                  "details": {{"packaged": "packaged rustc-web 1.85.0+dfsg3-1~deb12u3"}}}}{extra}}}"#
        ))
        .unwrap()
    }

    fn compared() -> PlatformRust {
        PlatformRust {
            tier: None,
            tier_release: None,
            packaged: None,
            stale_since: None,
            incomplete: None,
            verdict: Verdict::CanBuild {
                packaged: "1.85".parse().unwrap(),
                msrv: "1.85".parse().unwrap(),
            },
            by_versions_only: None,
        }
    }

    #[test]
    fn the_packaged_cells_decide_and_the_comparison_says_when_it_stands_in() {
        let failed = cell(
            "check",
            "packaged",
            "fail",
            r#", "first_error": {"message": "use of unstable library feature `extract_if`"}"#,
        );
        let passed_cross = cell("check", "cross", "pass", "");
        let rust = measured(compared(), [&passed_cross, &failed]);
        assert_eq!(
            rust.verdict.label(),
            "cannot build: packaged rustc-web 1.85.0+dfsg3-1~deb12u3 failed (linux-debian12-s390x/check@packaged): use of unstable library feature `extract_if`"
        );
        assert_eq!(rust.verdict.word(), "cannot-build");
        let check = cell("check", "packaged", "pass", "");
        let build = cell("build", "packaged", "pass", "");
        let rust = measured(compared(), [&check, &build]);
        assert_eq!(
            rust.verdict.label(),
            "can build: packaged rustc-web 1.85.0+dfsg3-1~deb12u3 built it (linux-debian12-s390x/build@packaged)"
        );
        // Its test cells say whether those executables pass their tests.
        let tested = cell("test", "packaged", "pass", "");
        let in_guest = cell("test", "packaged-vm", "expected-fail", "");
        let not_run = cell("test", "vm", "fail", "");
        let rust = measured(compared(), [&check, &build, &tested, &in_guest, &not_run]);
        assert_eq!(
            rust.verdict.label(),
            "can build and pass its tests: packaged rustc-web 1.85.0+dfsg3-1~deb12u3 built it (linux-debian12-s390x/build@packaged) and its tests passed (linux-debian12-s390x/test@packaged, linux-debian12-s390x/test@packaged-vm)"
        );
        assert_eq!(rust.verdict.word(), "can-build");
        let failed = cell(
            "test",
            "packaged-vm",
            "fail",
            r#", "reason": "1 test failed: queue::wraps""#,
        );
        let rust = measured(compared(), [&check, &build, &tested, &failed]);
        assert_eq!(
            rust.verdict.label(),
            "can build, but its tests fail: packaged rustc-web 1.85.0+dfsg3-1~deb12u3 built it (linux-debian12-s390x/build@packaged); linux-debian12-s390x/test@packaged-vm failed: 1 test failed: queue::wraps"
        );
        let unavailable = cell(
            "check",
            "packaged",
            "unavailable",
            r#", "reason": "the archive has no libstd-rust-web-dev:s390x""#,
        );
        let rust = measured(compared(), [&unavailable]);
        assert_eq!(rust.verdict.word(), "can-build");
        assert_eq!(
            rust.by_versions_only.as_deref(),
            Some("by version comparison only: no packaged cell ran (the archive has no libstd-rust-web-dev:s390x)")
        );
    }
}
