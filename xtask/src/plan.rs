//! Resolution: the model × the host × the user's filters → the cells to run.
//!
//! Nothing runs here but cheap probes (toolchain versions, emulator presence);
//! every cell leaves with exactly one state: ready (with everything needed to
//! run it), unavailable (with the reason and how to enable it) or skipped.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use serde::Serialize;

use crate::host::Host;
use crate::model::{glob_match, ExpectedFailure, Lane, Model, Platform, Stage};
use crate::requirements::EnableHint;
use crate::results::{PackageResult, Status, Tier};
use crate::runner::{self, RunnerSpec};
use crate::toolchain::{self, Missing, TierCache, Toolchain};
use crate::workspace::Workspace;

/// What the user narrowed the run to; empty lists mean "everything".
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub platforms: Vec<String>,
    pub os: Vec<String>,
    pub arch: Vec<String>,
    pub target: Vec<String>,
    pub stage: Vec<Stage>,
    pub lane: Vec<Lane>,
    pub package: Vec<String>,
}

impl Filters {
    fn keeps_platform(&self, p: &Platform) -> bool {
        (self.platforms.is_empty() || self.platforms.iter().any(|g| glob_match(g, &p.id)))
            && (self.os.is_empty() || self.os.iter().any(|o| o == &p.os))
            && (self.arch.is_empty() || self.arch.iter().any(|a| a == &p.arch))
            && (self.target.is_empty() || self.target.iter().any(|t| t == &p.target))
    }
}

#[derive(Debug, Clone)]
pub struct PlannedCell {
    pub id: String,
    pub platform: Platform,
    pub stage: Stage,
    pub lane: Lane,
    /// Packages this cell builds or tests.
    pub packages: Vec<String>,
    /// Packages left out of this cell, with the reason.
    pub excluded: Vec<PackageResult>,
    pub expected: Vec<ExpectedFailure>,
    pub timeout: Duration,
    pub state: CellState,
    /// Upstream's support tier for the target, as the cell's compiler (or,
    /// without one, the host's) states it; filled by [`resolve_tiers`].
    pub tier: Option<Tier>,
    /// How long one test may run (`matrix.toml`'s `[test-limits]`).
    pub test_limit: Duration,
}

#[derive(Debug, Clone)]
pub enum CellState {
    Ready(Box<ExecSpec>),
    Unavailable {
        reason: String,
        enable: Option<EnableHint>,
    },
    Skipped {
        reason: String,
    },
}

/// Everything a lane needs to run a ready cell; it is also what the cell's fingerprint hashes.
#[derive(Debug, Clone, Serialize)]
pub struct ExecSpec {
    pub toolchain: Toolchain,
    pub runner: RunnerSpec,
}

pub fn cell_id(platform: &str, stage: Stage, lane: Lane) -> String {
    format!("{platform}/{stage}@{lane}")
}

pub struct Plan {
    pub cells: Vec<PlannedCell>,
    /// Non-fatal notes found while resolving (a matrix entry naming a package this workspace lacks…).
    pub warnings: Vec<String>,
}

pub fn resolve(
    model: &Model,
    host: &Host,
    workspace: &Workspace,
    filters: &Filters,
    strict_packages: bool,
) -> Result<Plan> {
    let matrix = &model.matrix;
    let mut warnings = Vec::new();
    // Package references in matrix.toml must name workspace members: for this
    // repository a stale name is an error; for a foreign workspace run with
    // this repository's matrix file it is only noted.
    let mut unknown = Vec::new();
    let mut note = |key: String, name: &str| {
        if workspace.package(name).is_none() {
            unknown.push(format!(
                "{}: key `{key}`: no package `{name}` in workspace {}",
                matrix.source,
                workspace.root.display()
            ));
        }
    };
    for (i, name) in matrix.exclude_packages.iter().enumerate() {
        note(format!("exclude-packages[{i}]"), name);
    }
    for (i, ex) in matrix.exclude.iter().enumerate() {
        for (j, name) in ex.packages.iter().enumerate() {
            note(format!("exclude[{i}].packages[{j}]"), name);
        }
    }
    for (i, xf) in matrix.expected_failure.iter().enumerate() {
        for (j, name) in xf.packages.iter().flatten().enumerate() {
            note(format!("expected-failure[{i}].packages[{j}]"), name);
        }
    }
    if !unknown.is_empty() {
        if strict_packages {
            anyhow::bail!(crate::BadInput(unknown.join("\n")));
        }
        warnings.extend(unknown);
    }
    for name in &filters.package {
        if workspace.package(name).is_none() {
            anyhow::bail!(crate::BadInput(format!(
                "--package {name}: no such package in {} (members: {})",
                workspace.root.display(),
                workspace
                    .packages
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }

    let selected: Vec<String> = workspace
        .packages
        .iter()
        .filter(|p| !matrix.exclude_packages.contains(&p.name))
        .filter(|p| filters.package.is_empty() || filters.package.contains(&p.name))
        .map(|p| p.name.clone())
        .collect();

    let tools = toolchain::HostProbe::new(workspace.matrix_dir().join("cache"));
    let mut toolchains: BTreeMap<String, Result<Toolchain, Missing>> = BTreeMap::new();
    // `--lane cross-rs` alone asks for that provider even where an earlier one would win.
    let only_cross_rs = filters.lane.contains(&Lane::CrossRs)
        && !filters
            .lane
            .iter()
            .any(|l| matches!(l, Lane::Cross | Lane::Host));
    let mut cells = Vec::new();
    for platform in &model.platforms {
        if !matrix.platforms.iter().any(|g| glob_match(g, &platform.id))
            || !filters.keeps_platform(platform)
        {
            continue;
        }
        let toolchain = toolchains
            .entry(platform.target.clone())
            .or_insert_with(|| match only_cross_rs {
                true => toolchain::resolve_cross_rs(platform, host, &tools),
                false => toolchain::resolve_in(model, platform, host, &tools),
            })
            .clone();
        // The packaged lane's compiler belongs to the platform (its OS
        // release and architecture), not to the target triple.
        let packaged = (matrix.packaged_lane && !only_cross_rs)
            .then(|| toolchain::resolve_packaged(model, platform, host, &tools));
        for &stage in &Stage::ALL {
            if !matrix.stages.contains(&stage)
                || !(filters.stage.is_empty() || filters.stage.contains(&stage))
            {
                continue;
            }
            // Each lane with the runner lane its tests run in (itself, but
            // for the packaged lane's test cells).
            let lanes: Vec<(Lane, Lane)> = match stage {
                Stage::Check | Stage::Build => {
                    std::iter::once(build_lane(&toolchain, only_cross_rs))
                        .chain(packaged.as_ref().map(|_| Lane::Packaged))
                        .map(|l| (l, l))
                        .collect()
                }
                Stage::Test => {
                    let runners: Vec<Lane> = matrix
                        .test_lanes
                        .iter()
                        .copied()
                        .filter(|l| runner::applies(*l, platform, host))
                        .collect();
                    let packaged_tests = runners.iter().filter_map(|&r| {
                        packaged
                            .as_ref()
                            .and(r.packaged_counterpart())
                            .map(|l| (l, r))
                    });
                    runners
                        .iter()
                        .map(|&l| (l, l))
                        .chain(packaged_tests)
                        .collect()
                }
            };
            for (lane, runner_lane) in lanes {
                if !(filters.lane.is_empty() || filters.lane.contains(&lane)) {
                    continue;
                }
                let toolchain = match (lane.is_packaged(), &packaged) {
                    (true, Some(p)) => p,
                    _ => &toolchain,
                };
                cells.push(plan_cell(
                    model,
                    platform,
                    stage,
                    (lane, runner_lane),
                    &selected,
                    toolchain,
                    host,
                ));
            }
        }
    }
    Ok(Plan { cells, warnings })
}

fn build_lane(toolchain: &Result<Toolchain, Missing>, only_cross_rs: bool) -> Lane {
    match toolchain {
        _ if only_cross_rs => Lane::CrossRs,
        Ok(t) if t.kind == crate::model::ToolchainKind::Host => Lane::Host,
        Ok(t) if t.kind == crate::model::ToolchainKind::CrossRs => Lane::CrossRs,
        Ok(_) => Lane::Cross,
        // Unresolved: the cell is unavailable; name it after the lane it would need.
        Err(_) => Lane::Cross,
    }
}

/// `lanes` is the cell's lane and the lane whose runner runs its tests
/// (they differ for the packaged lane's test cells, which borrow the
/// runner, the expected failures and the per-test limit of `host`,
/// `qemu-user` or `vm`: a failure qemu-user causes is qemu-user's whoever
/// compiled the executable).
fn plan_cell(
    model: &Model,
    platform: &Platform,
    stage: Stage,
    (lane, runner_lane): (Lane, Lane),
    selected: &[String],
    toolchain: &Result<Toolchain, Missing>,
    host: &Host,
) -> PlannedCell {
    let matrix = &model.matrix;
    let mut packages = Vec::new();
    let mut excluded = Vec::new();
    for name in selected {
        let rule = matrix.exclude.iter().find(|ex| {
            ex.packages.contains(name)
                && ex.platforms.iter().any(|g| glob_match(g, &platform.id))
                && ex.stages.as_ref().is_none_or(|s| s.contains(&stage))
        });
        match rule {
            Some(ex) => excluded.push(PackageResult {
                name: name.clone(),
                status: Status::Skipped,
                reason: Some(ex.reason.clone()),
            }),
            None => packages.push(name.clone()),
        }
    }
    let expected = matrix
        .expected_failure
        .iter()
        .filter(|xf| {
            xf.applies(&platform.id, stage, lane) || xf.applies(&platform.id, stage, runner_lane)
        })
        .cloned()
        .collect();
    let state = if packages.is_empty() {
        CellState::Skipped {
            reason: "every package is excluded on this platform".into(),
        }
    } else {
        match toolchain {
            Err(missing) => CellState::Unavailable {
                reason: missing.reason.clone(),
                enable: missing.enable.clone(),
            },
            Ok(toolchain) => {
                match runner::resolve_runner(stage, runner_lane, platform, model, host) {
                    Ok(runner) => CellState::Ready(Box::new(ExecSpec {
                        toolchain: toolchain.clone(),
                        runner,
                    })),
                    Err(missing) => CellState::Unavailable {
                        reason: missing.reason,
                        enable: missing.enable,
                    },
                }
            }
        }
    };
    PlannedCell {
        id: cell_id(&platform.id, stage, lane),
        platform: platform.clone(),
        stage,
        lane,
        packages,
        excluded,
        expected,
        timeout: matrix.timeouts.for_stage(stage),
        state,
        tier: None,
        test_limit: matrix.test_limits.for_cell(&platform.id, runner_lane),
    }
}

/// Asks each cell's compiler (the host's for cells without a toolchain) for
/// the target's tier, through the on-disk cache in `cache_path`. Left out of
/// [`resolve`] so that `--plan` spawns no compiler for it.
pub fn resolve_tiers(plan: &mut Plan, cache_path: PathBuf) {
    let mut tiers = TierCache::open(cache_path);
    let host_rustc = host_rustc();
    for cell in &mut plan.cells {
        cell.tier = match &cell.state {
            CellState::Ready(spec) => spec.toolchain.tier(&mut tiers),
            _ => host_rustc
                .as_ref()
                .and_then(|(rustc, version)| tiers.get(rustc, version, &cell.platform.target)),
        };
    }
    let _ = tiers.save();
}

/// The host compiler, which states the tier of cells that have no toolchain of their own.
fn host_rustc() -> Option<(PathBuf, String)> {
    let rustc = crate::host::which("rustc")?;
    let version = crate::cmd::Cmd::new(&rustc)
        .arg("-V")
        .run()
        .ok()?
        .ok()
        .ok()?
        .stdout_str()
        .trim()
        .to_string();
    Some((rustc, version))
}
