//! Execution: runs the planned cells on a pool of workers, in dependency
//! order (check → build → test per platform), reusing unchanged results, and
//! saves the results file after every cell so that nothing obtained is lost.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use anyhow::Result;

use crate::budget::Budget;
use crate::host::{now_rfc3339, Host};
use crate::lanes::{self, CellCtx};
use crate::model::Stage;
use crate::plan::{CellState, Plan, PlannedCell};
use crate::progress::Reporter;
use crate::results::{CellResult, Provenance, ResultsFile, Status};
use crate::workspace::Workspace;

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Cells running at once: each holds one slot (a CPU) while it runs.
    pub jobs: usize,
    /// Memory guests may hold at once, in MiB (each holds its own for as long as it runs).
    pub vm_memory_mib: u64,
    pub force: bool,
    pub keep_going: bool,
    /// How many times a failing test is rerun (a pass on a rerun is flaky).
    pub retries: u32,
    /// How many times a cell whose guest failed (no boot, QEMU died,
    /// results cut short) is run again.
    pub infra_retries: u32,
}

#[derive(Debug, Default)]
pub struct RunSummary {
    /// This run's cells, in plan order.
    pub cells: Vec<CellResult>,
    pub ran: usize,
    pub reused: usize,
    /// Cells that took the result of another cell of this run doing the very same run.
    pub adopted: usize,
    /// Cells never started: an earlier failure without --keep-going, or an interrupt.
    pub not_run: Vec<String>,
    pub interrupted: bool,
    /// Seconds from the first cell's start to the last one's end.
    pub wall_secs: f64,
    /// The sum of the durations of the cells that ran: `wall_secs` over this is the overlap gained.
    pub cell_secs: f64,
}

impl RunSummary {
    pub fn unexpected_failures(&self) -> usize {
        self.cells
            .iter()
            .filter(|c| c.status.is_unexpected_failure())
            .count()
    }
}

pub struct Executor<'a> {
    pub workspace: &'a Workspace,
    pub host: &'a Host,
    pub results_path: PathBuf,
    pub reporter: &'a dyn Reporter,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Job {
    Waiting,
    Running,
    Done(Status),
    NotRun,
}

impl Executor<'_> {
    pub fn run(
        &self,
        plan: &Plan,
        results: &mut ResultsFile,
        options: &RunOptions,
    ) -> Result<RunSummary> {
        let mut digests: BTreeMap<Vec<String>, String> = BTreeMap::new();
        let mut summary = RunSummary::default();
        let mut slots: Vec<Option<CellResult>> = vec![None; plan.cells.len()];
        let mut pending: Vec<(usize, String)> = Vec::new();
        self.reporter.start(plan.cells.len());

        // Resolve what needs no running: unavailable, skipped and unchanged cells.
        for (i, cell) in plan.cells.iter().enumerate() {
            let mut base = self.base_result(cell);
            base.tier = cell.tier.clone();
            match &cell.state {
                CellState::Unavailable { reason, enable } => {
                    base.status = Status::Unavailable;
                    base.reason = Some(reason.clone());
                    base.enable = enable.as_ref().map(ToString::to_string);
                    slots[i] = Some(base);
                }
                CellState::Skipped { reason } => {
                    base.status = Status::Skipped;
                    base.reason = Some(reason.clone());
                    base.packages = cell.excluded.clone();
                    slots[i] = Some(base);
                }
                CellState::Ready(spec) => {
                    let digest = match digests.get(&cell.packages) {
                        Some(d) => d.clone(),
                        None => {
                            let d = self.workspace.source_digest(&cell.packages)?;
                            digests.insert(cell.packages.clone(), d.clone());
                            d
                        }
                    };
                    let fingerprint = crate::fingerprint::cell(cell, spec, &digest);
                    let cached = results.get(&cell.id).filter(|old| {
                        !options.force
                            && old.status.is_final()
                            && !old.infrastructure_fault
                            && old.fingerprint.as_deref() == Some(fingerprint.as_str())
                    });
                    if let Some(old) = cached {
                        let mut reused = old.clone();
                        if reused.provenance.reused_from.is_none() {
                            reused.provenance.reused_from = Some(old.provenance.date.clone());
                        }
                        summary.reused += 1;
                        self.reporter.cell_finished(&reused, true);
                        slots[i] = Some(reused);
                    } else {
                        base.fingerprint = Some(fingerprint.clone());
                        slots[i] = Some(base);
                        pending.push((i, fingerprint));
                    }
                }
            }
        }
        for (i, slot) in slots.iter().enumerate() {
            let cell = slot.as_ref().expect("every cell has a slot");
            if !matches!(plan.cells[i].state, CellState::Ready(_)) {
                self.reporter.cell_finished(cell, false);
                results.upsert(cell.clone());
            }
        }
        results.save(&self.results_path)?;

        // Run the rest on a worker pool, in dependency order.
        let deps = dependencies(&plan.cells);
        let state = Mutex::new(Shared {
            jobs: plan
                .cells
                .iter()
                .enumerate()
                .map(|(i, _)| {
                    if pending.iter().any(|(p, _)| *p == i) {
                        Job::Waiting
                    } else {
                        Job::Done(slots[i].as_ref().unwrap().status)
                    }
                })
                .collect(),
            building: BTreeSet::new(),
            slots,
            results: std::mem::replace(results, ResultsFile::new(Default::default())),
            stop: false,
            ran: 0,
            adopted: 0,
            cell_secs: 0.0,
            stopped_by: None,
        });
        let wake = Condvar::new();
        let workers = options.jobs.max(1).min(pending.len().max(1));
        let save_error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
        let memory = Budget::new(options.vm_memory_mib);
        let started = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    self.worker(
                        plan,
                        &deps,
                        &state,
                        &wake,
                        Limits {
                            options,
                            memory: &memory,
                        },
                        &save_error,
                    )
                });
            }
        });
        summary.wall_secs = started.elapsed().as_secs_f64();
        let shared = state.into_inner().unwrap();
        *results = shared.results;
        summary.ran = shared.ran;
        summary.adopted = shared.adopted;
        summary.cell_secs = shared.cell_secs;
        summary.interrupted = crate::cmd::cancelled();
        let why = not_run_reason(summary.interrupted, shared.stopped_by.as_deref());
        for (i, job) in shared.jobs.iter().enumerate() {
            match job {
                Job::NotRun | Job::Waiting | Job::Running => {
                    summary.not_run.push(plan.cells[i].id.clone());
                    // Every planned cell is in every output: this one as not-run.
                    let mut cell = shared.slots[i].clone().expect("every cell has a slot");
                    cell.status = Status::NotRun;
                    cell.reason = Some(why.clone());
                    cell.provenance.date = now_rfc3339();
                    // A result an earlier run obtained is worth more than "not run".
                    if results.get(&cell.id).is_none() {
                        results.upsert(cell.clone());
                    }
                    summary.cells.push(cell);
                }
                Job::Done(_) => summary
                    .cells
                    .push(shared.slots[i].clone().expect("done cells have results")),
            }
        }
        if !summary.not_run.is_empty() {
            results.save(&self.results_path)?;
        }
        if let Some(err) = save_error.into_inner().unwrap() {
            return Err(err);
        }
        self.reporter.finish();
        Ok(summary)
    }

    fn worker(
        &self,
        plan: &Plan,
        deps: &[Vec<usize>],
        state: &Mutex<Shared>,
        wake: &Condvar,
        limits: Limits<'_>,
        save_error: &Mutex<Option<anyhow::Error>>,
    ) {
        let Limits { options, memory } = limits;
        loop {
            // Pick the first waiting cell whose dependencies are done.
            let (i, base, partial) = {
                let mut shared = state.lock().unwrap();
                loop {
                    if shared.stop || crate::cmd::cancelled() {
                        for job in shared.jobs.iter_mut().filter(|j| **j == Job::Waiting) {
                            *job = Job::NotRun;
                        }
                        wake.notify_all();
                        return;
                    }
                    let mut pick = None;
                    let mut any_waiting = false;
                    for (i, job) in shared.jobs.iter().enumerate() {
                        if *job != Job::Waiting {
                            continue;
                        }
                        any_waiting = true;
                        // Cargo locks a build directory: a cell whose directory is
                        // in use would only wait, so pick other work meanwhile.
                        if build_dir_key(&plan.cells[i])
                            .is_some_and(|k| shared.building.contains(&k))
                        {
                            continue;
                        }
                        // A cell that may take another's result waits for it.
                        if plan.cells[i].same_as.as_ref().is_some_and(|s| {
                            matches!(shared.jobs[s.index], Job::Waiting | Job::Running)
                        }) {
                            continue;
                        }
                        let dep_states: Vec<Job> =
                            deps[i].iter().map(|&d| shared.jobs[d]).collect();
                        if dep_states
                            .iter()
                            .all(|d| matches!(d, Job::Done(_) | Job::NotRun))
                        {
                            pick = Some((i, dep_states));
                            break;
                        }
                    }
                    match pick {
                        Some((i, dep_states)) => {
                            // A dependency that did not pass makes this cell
                            // pointless, unless it failed for some packages
                            // only: then the others go on.
                            let failed_dep = deps[i]
                                .iter()
                                .zip(&dep_states)
                                .find(|(_, s)| !matches!(s, Job::Done(Status::Pass)));
                            let narrowed =
                                go_on_with(&plan.cells[i], &deps[i], &shared.slots, plan);
                            let runnable = narrowed.is_some();
                            let partial = narrowed.filter(|n| n.packages != plan.cells[i].packages);
                            if let Some((&d, _)) = failed_dep.filter(|_| !runnable) {
                                let mut r = shared.slots[i].clone().unwrap();
                                r.status = Status::Skipped;
                                r.reason =
                                    Some(format!("not run: {} did not pass", plan.cells[d].id));
                                r.provenance.date = now_rfc3339();
                                shared.jobs[i] = Job::Done(Status::Skipped);
                                shared.slots[i] = Some(r.clone());
                                shared.results.upsert(r.clone());
                                self.reporter.cell_finished(&r, false);
                                if let Err(err) = shared.results.save(&self.results_path) {
                                    *save_error.lock().unwrap() = Some(err);
                                }
                                wake.notify_all();
                                continue;
                            }
                            let adopted = plan.cells[i].same_as.as_ref().and_then(|same| {
                                let theirs = shared.slots[same.index].as_ref()?;
                                let base = shared.slots[i].as_ref()?;
                                partial.is_none().then_some(())?;
                                let cell = &plan.cells[i];
                                adopt(theirs, base, &cell.packages, same, packaged_tests(cell))
                            });
                            if let Some(mut r) = adopted {
                                name_the_crate(self.workspace, &mut r);
                                r.provenance.date = now_rfc3339();
                                shared.adopted += 1;
                                shared.jobs[i] = Job::Done(r.status);
                                shared.slots[i] = Some(r.clone());
                                shared.results.upsert(r.clone());
                                self.reporter.cell_finished(&r, false);
                                if r.status.is_unexpected_failure() && !options.keep_going {
                                    shared.stop = true;
                                    shared.stopped_by.get_or_insert_with(|| r.id.clone());
                                }
                                if let Err(err) = shared.results.save(&self.results_path) {
                                    *save_error.lock().unwrap() = Some(err);
                                }
                                wake.notify_all();
                                continue;
                            }
                            shared.jobs[i] = Job::Running;
                            if let Some(key) = build_dir_key(&plan.cells[i]) {
                                shared.building.insert(key);
                            }
                            break (i, shared.slots[i].clone().unwrap(), partial);
                        }
                        None if !any_waiting => return,
                        None => shared = wake.wait(shared).unwrap(),
                    }
                }
            };

            let restricted;
            let cell = match partial {
                Some(cell) => {
                    restricted = cell;
                    &restricted
                }
                None => &plan.cells[i],
            };
            let CellState::Ready(spec) = &cell.state else {
                unreachable!("only ready cells wait")
            };
            self.reporter.cell_started(&cell.id);
            let progress = |msg: &str| self.reporter.cell_message(&cell.id, msg);
            let key = build_dir_key(cell);
            // Called when cargo is done and again when the cell ends: only
            // the first releases the directory, as by the second another
            // cell of the same toolchain may hold it.
            let released = std::sync::atomic::AtomicBool::new(false);
            let build_done = || {
                if let Some(key) = &key {
                    if !released.swap(true, std::sync::atomic::Ordering::SeqCst) {
                        state.lock().unwrap().building.remove(key);
                        wake.notify_all();
                    }
                }
            };
            let ctx = CellCtx {
                workspace: self.workspace,
                deadline: Instant::now() + cell.timeout,
                progress: &progress,
                memory,
                build_done: &build_done,
                test_limit: cell.test_limit,
                retries: options.retries,
                infra_retries: options.infra_retries,
            };
            let mut result = lanes::run_cell(cell, spec, &ctx, base);
            build_done();
            name_the_crate(self.workspace, &mut result);
            result.provenance.date = now_rfc3339();

            let mut shared = state.lock().unwrap();
            if crate::cmd::cancelled() {
                // An interrupted cell has no result: keep whatever an earlier run had.
                shared.jobs[i] = Job::NotRun;
                wake.notify_all();
                continue;
            }
            shared.ran += 1;
            shared.cell_secs += result.duration_secs;
            self.reporter.cell_finished(&result, false);
            if result.status.is_unexpected_failure() && !options.keep_going {
                shared.stop = true;
                shared.stopped_by.get_or_insert_with(|| result.id.clone());
            }
            shared.jobs[i] = Job::Done(result.status);
            shared.results.upsert(result.clone());
            shared.slots[i] = Some(result);
            if let Err(err) = shared.results.save(&self.results_path) {
                *save_error.lock().unwrap() = Some(err);
                shared.stop = true;
            }
            wake.notify_all();
        }
    }

    fn base_result(&self, cell: &PlannedCell) -> CellResult {
        let (toolchain, rustc, cargo, linker, details) = match &cell.state {
            CellState::Ready(spec) => (
                Some(spec.toolchain.kind.as_str().to_string()),
                Some(spec.toolchain.rustc_version.clone()),
                Some(spec.toolchain.cargo_version.clone()),
                Some(spec.toolchain.linker.as_str().to_string()),
                spec.toolchain.details.clone(),
            ),
            _ => (None, None, None, None, Default::default()),
        };
        let mut details: BTreeMap<String, String> = details;
        details.extend(cell.notes.clone());
        CellResult {
            id: cell.id.clone(),
            platform: cell.platform.id.clone(),
            os: cell.platform.os.clone(),
            release: cell.platform.release.clone(),
            arch: cell.platform.arch.clone(),
            target: cell.platform.target.clone(),
            stage: cell.stage,
            lane: cell.lane,
            status: Status::Skipped,
            reason: None,
            enable: None,
            link: None,
            tier: None,
            fingerprint: None,
            duration_secs: 0.0,
            infrastructure_fault: false,
            provenance: Provenance {
                host: self.host.description.clone(),
                date: now_rfc3339(),
                lane: cell.lane.as_str().to_string(),
                toolchain,
                rustc,
                cargo,
                linker,
                details,
                reused_from: None,
            },
            other_provenances: Vec::new(),
            packages: Vec::new(),
            tests: Vec::new(),
            artifacts: Vec::new(),
            first_error: None,
            output_tail: None,
            console_tail: None,
            commands: Vec::new(),
        }
    }
}

/// The cell narrowed to the packages that passed every dependency (cargo
/// runs with `--keep-going`, so each package has its own status, and a
/// dependency that failed for some packages lets the others go on); the
/// others are listed as skipped with the reason. `None` when nothing is left
/// to run, or a dependency ended in anything but pass or fail.
fn go_on_with(
    cell: &PlannedCell,
    deps: &[usize],
    slots: &[Option<CellResult>],
    plan: &Plan,
) -> Option<PlannedCell> {
    let mut keep: Vec<String> = cell.packages.clone();
    let mut dropped: Vec<crate::results::PackageResult> = Vec::new();
    for &d in deps {
        let dep = slots[d].as_ref()?;
        if !matches!(dep.status, Status::Pass | Status::Fail) {
            return None;
        }
        keep.retain(|p| {
            let own = dep.packages.iter().find(|r| &r.name == p);
            let passed = own.is_some_and(|r| r.status == Status::Pass);
            if !passed {
                // Skipped there already: keep the first cell's reason.
                let reason = own
                    .filter(|r| r.status == Status::Skipped)
                    .and_then(|r| r.reason.clone())
                    .unwrap_or_else(|| format!("not run: it failed in {}", plan.cells[d].id));
                dropped.push(crate::results::PackageResult {
                    name: p.clone(),
                    status: Status::Skipped,
                    reason: Some(reason),
                });
            }
            passed
        });
    }
    if keep.is_empty() {
        return None;
    }
    let mut narrowed = cell.clone();
    narrowed.packages = keep;
    narrowed.excluded.extend(dropped);
    Some(narrowed)
}

/// The result of `same.id` as this cell's, when that cell ran the very run
/// this one would (the plan's [`crate::plan::SameAs`]) over the same
/// packages: its status, tests and errors, with this cell's own identity and
/// provenance plus `same-as` saying whose result it is. `None` when the
/// other cell did not run to a result (skipped, unavailable, not run) or
/// ran fewer packages: then this cell runs itself.
fn adopt(
    theirs: &CellResult,
    base: &CellResult,
    packages: &[String],
    same: &crate::plan::SameAs,
    packaged_tests: Option<String>,
) -> Option<CellResult> {
    if !matches!(
        theirs.status,
        Status::Pass | Status::Fail | Status::ExpectedFail | Status::Timeout
    ) {
        return None;
    }
    let ran: Vec<&str> = theirs
        .packages
        .iter()
        .filter(|p| p.status != Status::Skipped)
        .map(|p| p.name.as_str())
        .collect();
    if ran != packages.iter().map(String::as_str).collect::<Vec<_>>() {
        return None;
    }
    let mut r = base.clone();
    r.status = theirs.status;
    r.reason = theirs.reason.clone();
    r.link = theirs.link.clone();
    r.packages = theirs.packages.clone();
    r.tests = theirs.tests.clone();
    r.artifacts = theirs.artifacts.clone();
    r.first_error = theirs.first_error.clone();
    r.output_tail = theirs.output_tail.clone();
    r.console_tail = theirs.console_tail.clone();
    r.duration_secs = 0.0;
    for (k, v) in &theirs.provenance.details {
        r.provenance
            .details
            .entry(k.clone())
            .or_insert_with(|| v.clone());
    }
    if let Some(how) = packaged_tests {
        r.provenance
            .details
            .insert("packaged-tests".into(), format!("{how}, in {}", same.id));
    }
    r.provenance.details.insert(
        "same-as".into(),
        format!("{} (it ran at {})", same.why, theirs.provenance.date),
    );
    Some(r)
}

/// A packaged test cell's "who built them, where they ran".
fn packaged_tests(cell: &PlannedCell) -> Option<String> {
    let CellState::Ready(spec) = &cell.state else {
        return None;
    };
    let packaged = spec.toolchain.packaged.as_ref()?;
    (cell.lane.is_packaged() && cell.stage == Stage::Test)
        .then(|| lanes::packaged::how_tests_ran(packaged, &spec.runner))
}

/// An MSRV cell's failure names the crate with the first error, as
/// `cargo xtask msrv --verify` does.
fn name_the_crate(workspace: &Workspace, result: &mut CellResult) {
    if !result.lane.is_msrv() || result.status != Status::Fail {
        return;
    }
    if let Some(error) = &result.first_error {
        result.reason = Some(workspace.describe_error(error));
    }
}

/// Why a planned cell never started.
fn not_run_reason(interrupted: bool, stopped_by: Option<&str>) -> String {
    match (interrupted, stopped_by) {
        (true, _) => "the run was interrupted before this cell started".to_string(),
        (false, Some(id)) => format!(
            "the run stopped after the first unexpected failure ({id}); --keep-going runs every cell"
        ),
        (false, None) => "the run stopped before this cell started".to_string(),
    }
}

/// What bounds the workers: the run's options and the guests' memory.
#[derive(Clone, Copy)]
struct Limits<'a> {
    options: &'a RunOptions,
    memory: &'a Budget,
}

struct Shared {
    jobs: Vec<Job>,
    /// Build directories cargo is working in right now.
    building: BTreeSet<String>,
    slots: Vec<Option<CellResult>>,
    results: ResultsFile,
    stop: bool,
    ran: usize,
    adopted: usize,
    cell_secs: f64,
    /// The cell whose unexpected failure stopped the run (without --keep-going).
    stopped_by: Option<String>,
}

/// The cargo build directory a ready cell uses: one per toolchain and target
/// (`Toolchain::target_dir_name` names the toolchain, never the lane, so
/// cells of two lanes with one toolchain share it and wait for each other).
fn build_dir_key(cell: &PlannedCell) -> Option<String> {
    match &cell.state {
        CellState::Ready(spec) => Some(format!(
            "{}/{}",
            spec.toolchain.target_dir_name, spec.toolchain.target
        )),
        _ => None,
    }
}

/// check → build → test within a platform, for the stages present in the plan.
/// The packaged lane is a chain of its own: its cells wait for each other
/// only, and no test waits for a packaged build (an old packaged compiler
/// failing says nothing about the executables the other lanes built).
fn dependencies(cells: &[PlannedCell]) -> Vec<Vec<usize>> {
    let index: BTreeMap<(&str, Stage, bool), Vec<usize>> = cells
        .iter()
        .enumerate()
        // Nothing waits for the MSRV cells: an old compiler failing
        // says nothing about what the other lanes build.
        .filter(|(_, c)| !c.lane.is_msrv())
        .fold(BTreeMap::new(), |mut m, (i, c)| {
            m.entry((c.platform.id.as_str(), c.stage, c.lane.is_packaged()))
                .or_insert_with(Vec::new)
                .push(i);
            m
        });
    cells
        .iter()
        .map(|c| {
            let before = match c.stage {
                Stage::Check => return Vec::new(),
                Stage::Build => Stage::Check,
                Stage::Test => Stage::Build,
            };
            let mut deps: BTreeSet<usize> = BTreeSet::new();
            let packaged = c.lane.is_packaged();
            if let Some(d) = index.get(&(c.platform.id.as_str(), before, packaged)) {
                deps.extend(d);
            } else if c.stage == Stage::Test {
                if let Some(d) = index.get(&(c.platform.id.as_str(), Stage::Check, packaged)) {
                    deps.extend(d);
                }
            }
            deps.into_iter().collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::SameAs;

    fn result(id: &str, status: &str, packages: &[(&str, &str)]) -> CellResult {
        let (platform, rest) = id.split_once('/').unwrap();
        let (stage, lane) = rest.split_once('@').unwrap();
        serde_json::from_value(serde_json::json!({
            "id": id, "platform": platform, "os": "linux", "release": "debian12",
            "arch": "aarch64", "target": "aarch64-unknown-linux-gnu",
            "stage": stage, "lane": lane, "status": status,
            "reason": format!("{status} in {id}"),
            "provenance": {"host": "h", "date": "2026-12-02T00:00:00Z", "lane": lane,
                           "details": {"emulator": "qemu-aarch64-static 7.2"}},
            "packages": packages.iter().map(|(n, s)| serde_json::json!({"name": n, "status": s})).collect::<Vec<_>>(),
            "tests": [{"package": "a", "binary": "lib", "name": "t::one", "outcome": "pass"}],
        }))
        .unwrap()
    }

    fn same() -> SameAs {
        SameAs {
            index: 0,
            id: "p/test@qemu-user".into(),
            why: "same executables as p/test@qemu-user".into(),
        }
    }

    #[test]
    fn a_cell_takes_a_result_its_leader_saw_and_says_whose_it_is() {
        let theirs = result(
            "p/test@qemu-user",
            "fail",
            &[("a", "fail"), ("x", "skipped")],
        );
        let base = result("p/test@packaged", "skipped", &[]);
        let packages = vec!["a".to_string()];
        let r = adopt(
            &theirs,
            &base,
            &packages,
            &same(),
            Some("built by X".into()),
        )
        .unwrap();
        assert_eq!(r.id, "p/test@packaged");
        assert_eq!(r.lane, crate::model::Lane::Packaged);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(r.reason.as_deref(), Some("fail in p/test@qemu-user"));
        assert_eq!(r.tests, theirs.tests);
        assert_eq!(r.duration_secs, 0.0);
        assert!(r.commands.is_empty(), "it ran nothing");
        let details = &r.provenance.details;
        assert_eq!(details["emulator"], "qemu-aarch64-static 7.2");
        assert_eq!(details["packaged-tests"], "built by X, in p/test@qemu-user");
        assert_eq!(
            details["same-as"],
            "same executables as p/test@qemu-user (it ran at 2026-12-02T00:00:00Z)"
        );
    }

    #[test]
    fn a_cell_runs_itself_when_its_leader_saw_nothing_or_less() {
        let base = result("p/test@packaged", "skipped", &[]);
        let packages = vec!["a".to_string(), "b".to_string()];
        for status in ["skipped", "unavailable", "not-run"] {
            let theirs = result("p/test@qemu-user", status, &[("a", "pass"), ("b", "pass")]);
            assert!(
                adopt(&theirs, &base, &packages, &same(), None).is_none(),
                "{status}"
            );
        }
        // It went on without b (b failed to build there): not the same run.
        let narrowed = result(
            "p/test@qemu-user",
            "pass",
            &[("a", "pass"), ("b", "skipped")],
        );
        assert!(adopt(&narrowed, &base, &packages, &same(), None).is_none());
        for status in ["pass", "fail", "expected-fail", "timeout"] {
            let theirs = result("p/test@qemu-user", status, &[("a", "pass"), ("b", "fail")]);
            let r = adopt(&theirs, &base, &packages, &same(), None).unwrap();
            assert_eq!(r.status.as_str(), status);
        }
    }
}
