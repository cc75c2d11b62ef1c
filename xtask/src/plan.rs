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
use crate::toolchain::msrv::MsrvCheck;
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
    /// Another cell of the plan whose run would be this one's: the same
    /// compiler (identity and build directory), packages, expectations and
    /// runner ([`share_results`]). The executor takes its result instead of
    /// running this cell, when it ran.
    pub same_as: Option<SameAs>,
    /// Facts the plan adds to the cell's provenance (why an MSRV cell uses its compiler).
    pub notes: BTreeMap<String, String>,
}

/// The cell of the plan that does this one's work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SameAs {
    /// Its index in [`Plan::cells`].
    pub index: usize,
    pub id: String,
    /// What makes the two one run (for the provenance).
    pub why: String,
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
    let wants_msrv = matrix.stages.contains(&Stage::Check)
        && (filters.stage.is_empty() || filters.stage.contains(&Stage::Check))
        && (filters.lane.is_empty() || filters.lane.iter().any(|l| l.is_msrv()));
    let msrv_checks = match matrix.msrv_lane && wants_msrv {
        true => msrv_checks(model, host, workspace, &tools, &mut warnings),
        false => Vec::new(),
    };
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
        let msrv_here: Vec<&MsrvCheck> = msrv_checks
            .iter()
            .filter(|c| c.platform == platform.id)
            .collect();
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
                        .chain(
                            msrv_here
                                .iter()
                                .filter(|_| stage == Stage::Check)
                                .map(|c| c.lane),
                        )
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
                let msrv = msrv_here.iter().find(|c| c.lane == lane);
                let toolchain = match (lane.is_packaged(), &packaged, msrv) {
                    (_, _, Some(check)) => &check.toolchain,
                    (true, Some(p), _) => p,
                    _ => &toolchain,
                };
                let mut cell = plan_cell(
                    model,
                    platform,
                    stage,
                    (lane, runner_lane),
                    &selected,
                    toolchain,
                    host,
                );
                if let Some(check) = msrv {
                    cell.notes.insert("msrv".into(), check.why.clone());
                }
                cells.push(cell);
            }
        }
    }
    share_results(&mut cells);
    Ok(Plan { cells, warnings })
}

/// `cargo xtask msrv --verify`'s compilers, when `msrv-lane` is on: the
/// same resolution (`toolchain::msrv::checks`), judged as of today.
fn msrv_checks(
    model: &Model,
    host: &Host,
    workspace: &Workspace,
    tools: &toolchain::HostProbe,
    warnings: &mut Vec<String>,
) -> Vec<MsrvCheck> {
    let Some(policy) = &model.msrv_policy else {
        warnings.push(format!(
            "{}: key `msrv-lane`: no MSRV policy to check against (platforms/rust/msrv-policy.toml); no msrv cells",
            model.matrix.source
        ));
        return Vec::new();
    };
    let declared =
        crate::platform_data::status::workspace_msrv(workspace, &model.matrix.exclude_packages)
            .ok();
    let outcome = crate::platform_data::msrv::compute(
        &model.platforms,
        policy,
        &model.rust_status,
        declared,
        time::OffsetDateTime::now_utc().date(),
        &model.lifecycle,
    );
    toolchain::msrv::checks(model, &outcome, host, tools)
}

/// Which lanes may take another's result for a cell of `stage`, and from
/// which: a packaged test cell from the test cell of another lane that runs
/// the same executables on the same runner (on aarch64, say, the packaged
/// compiler is the cross lane's: one toolchain, one build directory); an
/// MSRV cell from any other cell that checks with the same compiler and std
/// (the floor's is its platform's `check@packaged`), `msrv-declared` from
/// `msrv-floor` too. Packaged check and build cells never follow: their
/// cargo, a no-op in a shared directory, lists their own executables.
fn may_follow(stage: Stage, follower: Lane, leader: Lane) -> bool {
    match follower {
        Lane::MsrvDeclared => leader != Lane::MsrvDeclared,
        Lane::MsrvFloor => !leader.is_msrv(),
        Lane::Packaged | Lane::PackagedVm => stage == Stage::Test && !leader.is_packaged(),
        _ => false,
    }
}

/// What makes two cells one run: the platform and stage, the compiler
/// (`rustc -vV`), its build directory and target, the packages and those
/// left out, the expectations, the runner and the per-test limit. `None`
/// for a cell that will not run.
fn share_key(cell: &PlannedCell) -> Option<String> {
    let CellState::Ready(spec) = &cell.state else {
        return None;
    };
    let key = serde_json::json!({
        "platform": cell.platform.id,
        "stage": cell.stage,
        "identity": spec.toolchain.identity,
        "build-dir": spec.toolchain.target_dir_name,
        "target": spec.toolchain.target,
        "packages": cell.packages,
        "excluded": cell.excluded,
        "expected": cell.expected,
        "runner": spec.runner,
        "test-limit": cell.test_limit.as_secs_f64(),
    });
    Some(key.to_string())
}

/// Sets [`PlannedCell::same_as`]: each cell that [`may_follow`] another
/// with the same [`share_key`] takes the first such cell that follows no one.
pub fn share_results(cells: &mut [PlannedCell]) {
    let keys: Vec<Option<String>> = cells.iter().map(share_key).collect();
    let lanes: Vec<(Stage, Lane)> = cells.iter().map(|c| (c.stage, c.lane)).collect();
    for (i, leader) in leaders(&lanes, &keys).into_iter().enumerate() {
        cells[i].same_as = leader.map(|j| SameAs {
            index: j,
            id: cells[j].id.clone(),
            why: if cells[i].stage == Stage::Test {
                format!(
                    "same executables as {} (one compiler, one build directory), on the same runner: its result, not a second run",
                    cells[j].id
                )
            } else {
                format!(
                    "{} checked the same packages with the same compiler and std: its result, not a second build",
                    cells[j].id
                )
            },
        });
    }
}

/// For each cell, the index of the cell whose result it takes: the first
/// with an equal key that it [`may_follow`] and that itself follows no one.
fn leaders(lanes: &[(Stage, Lane)], keys: &[Option<String>]) -> Vec<Option<usize>> {
    let mut out: Vec<Option<usize>> = vec![None; lanes.len()];
    // Leaders first: a cell that may follow no lane of the plan decides before its followers.
    let mut order: Vec<usize> = (0..lanes.len()).collect();
    order.sort_by_key(|&i| match lanes[i].1 {
        l if l.is_msrv() => (2, l == Lane::MsrvDeclared, i),
        l if l.is_packaged() => (1, false, i),
        _ => (0, false, i),
    });
    for &i in &order {
        let Some(key) = &keys[i] else { continue };
        let (stage, lane) = lanes[i];
        out[i] = order
            .iter()
            .copied()
            .filter(|&j| j != i && out[j].is_none() && keys[j].as_ref() == Some(key))
            .find(|&j| lanes[j].0 == stage && may_follow(stage, lane, lanes[j].1));
    }
    out
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
        timeout: matrix.timeouts.for_cell(&platform.id, stage, runner_lane),
        state,
        tier: None,
        test_limit: matrix.test_limits.for_cell(&platform.id, runner_lane),
        same_as: None,
        notes: BTreeMap::new(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(cells: &[(Stage, Lane, Option<&str>)]) -> Vec<Option<usize>> {
        let lanes: Vec<(Stage, Lane)> = cells.iter().map(|(s, l, _)| (*s, *l)).collect();
        let keys: Vec<Option<String>> = cells.iter().map(|(_, _, k)| k.map(String::from)).collect();
        leaders(&lanes, &keys)
    }

    #[test]
    fn a_packaged_test_cell_takes_the_result_of_the_same_executables_on_the_same_runner() {
        use Lane::*;
        use Stage::*;
        // aarch64: the packaged compiler is the cross lane's (one key).
        let found = plan(&[
            (Check, Cross, Some("1.96")),
            (Check, Packaged, Some("1.96")),
            (Build, Cross, Some("1.96 build")),
            (Build, Packaged, Some("1.96 build")),
            (Test, Packaged, Some("1.96 qemu-user")),
            (Test, QemuUser, Some("1.96 qemu-user")),
            (Test, PackagedVm, Some("1.96 vm")),
            (Test, Vm, Some("1.96 vm")),
        ]);
        assert_eq!(
            found,
            [None, None, None, None, Some(5), None, Some(7), None],
            "check and build run in both lanes (their cargo is a no-op in the shared directory)"
        );
    }

    #[test]
    fn different_compilers_or_cells_that_will_not_run_share_nothing() {
        use Lane::*;
        use Stage::*;
        // s390x: packaged 1.85 against the cross lane's 1.96.
        let found = plan(&[
            (Test, QemuUser, Some("1.96 qemu-user")),
            (Test, Packaged, Some("1.85 qemu-user")),
            (Test, Vm, None),
            (Test, PackagedVm, None),
        ]);
        assert_eq!(found, [None, None, None, None]);
    }

    #[test]
    fn msrv_cells_take_the_result_of_a_check_with_the_same_compiler() {
        use Lane::*;
        use Stage::*;
        let found = plan(&[
            (Check, Cross, Some("mips 1.96")),
            (Check, Packaged, Some("mips 1.70")),
            (Check, MsrvFloor, Some("mips 1.70")),
            (Check, MsrvDeclared, Some("amd64 1.85")),
        ]);
        assert_eq!(found, [None, None, Some(1), None]);
        // Floor and declared on one compiler: one check, as `msrv --verify` builds once.
        let found = plan(&[
            (Check, MsrvDeclared, Some("amd64 1.85")),
            (Check, MsrvFloor, Some("amd64 1.85")),
        ]);
        assert_eq!(found, [Some(1), None]);
        // A packaged check never follows an MSRV cell.
        let found = plan(&[
            (Check, MsrvFloor, Some("mips 1.70")),
            (Check, Packaged, Some("mips 1.70")),
        ]);
        assert_eq!(found, [Some(1), None]);
    }

    #[test]
    fn only_the_named_pairs_may_share() {
        use Lane::*;
        use Stage::*;
        assert!(may_follow(Test, Packaged, QemuUser));
        assert!(may_follow(Test, PackagedVm, Vm));
        assert!(!may_follow(Build, Packaged, Cross));
        assert!(!may_follow(Test, QemuUser, Packaged));
        assert!(may_follow(Check, MsrvFloor, Packaged));
        assert!(!may_follow(Check, MsrvFloor, MsrvDeclared));
        assert!(may_follow(Check, MsrvDeclared, MsrvFloor));
        assert!(!may_follow(Check, Cross, Packaged));
    }
}
