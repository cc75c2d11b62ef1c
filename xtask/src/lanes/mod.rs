//! Lanes: who builds a cell and where its tests run.
//!
//! Every stage goes the same way whatever the lane: cargo (through the cell's
//! resolved toolchain) checks or builds; for `test`, the test executables are
//! handed to a runner — natively on the host, under qemu-user, or inside a
//! guest — and what they print is read by [`crate::libtest`]. Lanes differ
//! only in their toolchain and their runner.

pub mod cargo;
mod host;
pub mod packaged;
pub mod qemu_user;
pub mod vm;
mod watchdog;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::cmd::CommandRecord;
use crate::libtest::{self, Ending};
use crate::model::{ExpectedFailure, Platform, Stage};
use crate::plan::{ExecSpec, PlannedCell};
use crate::results::{Artifact, CellResult, PackageResult, Status, TestOutcome, TestResult};
use crate::runner::RunnerSpec;
use crate::workspace::Workspace;
use cargo::{CargoStage, ExeKind, Executable};

/// What a cell's test executables are: built by the cell's toolchain, listed here for the runner.
#[derive(Debug, Clone)]
pub struct Payload {
    pub tests: Vec<Executable>,
    pub bins: Vec<Executable>,
}

impl Payload {
    /// The directory holding the binaries that tests run as siblings (`MATRIX_BIN_DIR`).
    pub fn bin_dir(&self) -> Option<PathBuf> {
        self.bins
            .first()
            .and_then(|b| b.path.parent())
            .map(|p| p.to_path_buf())
    }
}

/// One test executable's run, as a runner saw it.
#[derive(Debug, Clone)]
pub struct ExeRun {
    pub package: String,
    pub name: String,
    pub stdout: String,
    pub ending: Ending,
    pub record: Option<CommandRecord>,
    /// Failing tests rerun with `--retries`: name → (reruns, passes).
    pub retried: BTreeMap<String, (u32, u32)>,
}

/// What a runner hands back.
#[derive(Debug, Default)]
pub struct RunnerOutcome {
    pub runs: Vec<ExeRun>,
    /// Provenance facts (emulator version, kernel, accelerator, boot time…).
    pub details: BTreeMap<String, String>,
    pub console_tail: Option<String>,
    /// A failure of the runner itself (guest panic, emulator exit…), distinct from failing tests.
    pub fault: Option<(Status, String)>,
    /// `fault` is the infrastructure's (retries exhausted), not the tests'.
    pub infrastructure: bool,
    /// Commands the runner ran besides the test executables (the emulator).
    pub commands: Vec<CommandRecord>,
}

/// Progress and deadline of the running cell.
pub struct CellCtx<'a> {
    pub workspace: &'a Workspace,
    pub deadline: Instant,
    pub progress: &'a (dyn Fn(&str) + Sync),
    /// What guests' memory is drawn from.
    pub memory: &'a crate::budget::Budget,
    /// Called once cargo is done with the cell's build directory, so that the
    /// scheduler can start another cell that builds there.
    pub build_done: &'a (dyn Fn() + Sync),
    /// How long one test may run.
    pub test_limit: Duration,
    /// How many times a failing test is rerun (`--retries`).
    pub retries: u32,
    /// How many times a guest that failed (not its tests) is booted again.
    pub infra_retries: u32,
}

impl CellCtx<'_> {
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// Runs a ready cell to its result. Never panics on a failing build or test:
/// every outcome becomes a status in the returned cell.
pub fn run_cell(
    cell: &PlannedCell,
    spec: &ExecSpec,
    ctx: &CellCtx<'_>,
    mut result: CellResult,
) -> CellResult {
    let started = Instant::now();
    match run_stages(cell, spec, ctx, &mut result) {
        Ok(()) => {}
        Err(err) => {
            // The lane could not do its work (unpack, image, runner): this
            // host's failure, never a result to reuse.
            result.status = if crate::cmd::cancelled() {
                Status::Skipped
            } else {
                result.infrastructure_fault = true;
                Status::Fail
            };
            result.reason = Some(format!("{err:#}"));
        }
    }
    apply_expectations(cell, &mut result, started.elapsed() < cell.timeout);
    result.duration_secs = started.elapsed().as_secs_f64();
    result
}

fn run_stages(
    cell: &PlannedCell,
    spec: &ExecSpec,
    ctx: &CellCtx<'_>,
    result: &mut CellResult,
) -> anyhow::Result<()> {
    let cargo_stage = if cell.stage == Stage::Check {
        CargoStage::Check
    } else {
        CargoStage::Build
    };
    let mut progress = |msg: &str| (ctx.progress)(msg);
    if let Some(packaged) = &spec.toolchain.packaged {
        match packaged::ensure(packaged, ctx.remaining(), ctx.progress) {
            Ok(used) => {
                result
                    .provenance
                    .details
                    .insert("packaged-unpacked".into(), used);
            }
            Err(err) => {
                (ctx.build_done)();
                return Err(err.context(format!("cannot unpack {}", packaged.label())));
            }
        }
    }
    let run = cargo::run(
        cargo_stage,
        ctx.workspace,
        &spec.toolchain,
        &cell.packages,
        ctx.remaining(),
        &mut progress,
    );
    (ctx.build_done)();
    let run = run?;
    result.commands.push(run.record.clone());
    result.packages = cell
        .packages
        .iter()
        .map(|p| {
            let (status, reason) = run.package_status(p);
            PackageResult {
                name: p.clone(),
                status,
                reason,
            }
        })
        .chain(cell.excluded.iter().cloned())
        .collect();
    if !run.success() {
        result.status = if run.record.timed_out {
            Status::Timeout
        } else {
            Status::Fail
        };
        result.reason = Some(match &run.first_error {
            Some(d) => d.short(),
            None => format!("cargo failed ({})", run.record.describe()),
        });
        result.first_error = run.first_error;
        result.output_tail = run.error_tail;
        return Ok(());
    }
    let target_dir = cargo::target_dir(ctx.workspace, &spec.toolchain);
    result.artifacts = run
        .executables
        .iter()
        .map(|e| Artifact {
            package: e.package.clone(),
            kind: e.kind.as_str().to_string(),
            name: e.name.clone(),
            path: e
                .path
                .strip_prefix(&target_dir)
                .unwrap_or(&e.path)
                .display()
                .to_string(),
            identity: None,
        })
        .collect();
    let wrong = identify_artifacts(
        &run.executables,
        &mut result.artifacts,
        &cell.platform,
        &mut result.provenance.details,
    );
    if !wrong.is_empty() {
        result.status = Status::Fail;
        result.reason = Some(format!(
            "{} of {} executables are not {}: {}",
            wrong.len(),
            run.executables.len(),
            crate::elf::Expected::for_target(&cell.platform.target)
                .map(|e| e.to_string())
                .unwrap_or_else(|_| cell.platform.target.clone()),
            wrong[0]
        ));
        result.output_tail = Some(wrong.join("\n"));
        return Ok(());
    }
    if cell.stage != Stage::Test {
        result.status = Status::Pass;
        return Ok(());
    }
    let payload = Payload {
        tests: run
            .executables
            .iter()
            .filter(|e| e.kind == ExeKind::Test)
            .cloned()
            .collect(),
        bins: run
            .executables
            .iter()
            .filter(|e| e.kind == ExeKind::Bin)
            .cloned()
            .collect(),
    };
    (ctx.progress)(&format!("running {} test executables", payload.tests.len()));
    let outcome = match &spec.runner {
        RunnerSpec::Native => host::run_tests(&payload, ctx)?,
        RunnerSpec::Vm(spec) => vm::run_tests(spec, &payload, ctx)?,
        RunnerSpec::QemuUser(qemu) => qemu_user::run_tests(qemu, &payload, ctx)?,
        RunnerSpec::None => anyhow::bail!("the test stage has no runner"),
    };
    result.provenance.details.extend(outcome.details);
    if let (true, Some(p)) = (cell.lane.is_packaged(), &spec.toolchain.packaged) {
        let how = packaged::how_tests_ran(p, &spec.runner);
        result
            .provenance
            .details
            .insert("packaged-tests".into(), how);
    }
    result.console_tail = outcome.console_tail;
    result.commands.extend(outcome.commands);
    for run in &outcome.runs {
        if let Some(rec) = &run.record {
            result.commands.push(rec.clone());
        }
        let mut tests = libtest::parse(&run.package, &run.name, &run.stdout, run.ending);
        apply_reruns(&mut tests, run);
        result.tests.extend(tests);
    }
    let limit = ctx.test_limit.as_secs_f64();
    for t in result.tests.iter_mut() {
        t.limit_secs.get_or_insert(limit);
    }
    let timed_out = outcome.runs.iter().any(|r| r.ending == Ending::TimedOut);
    let failed: Vec<&TestResult> = result
        .tests
        .iter()
        .filter(|t| matches!(t.outcome, TestOutcome::Fail | TestOutcome::Timeout))
        .collect();
    for p in result
        .packages
        .iter_mut()
        .filter(|p| p.status == Status::Pass)
    {
        if failed.iter().any(|t| t.package == p.name) {
            p.status = Status::Fail;
        }
    }
    if let Some((status, reason)) = outcome.fault {
        result.status = status;
        result.reason = Some(reason);
        result.infrastructure_fault = outcome.infrastructure;
    } else if timed_out {
        result.status = Status::Timeout;
        result.reason = Some(
            hung_reason(&result.tests)
                .unwrap_or_else(|| "a test executable ran past the cell's timeout".into()),
        );
        result.output_tail = failed
            .iter()
            .find(|t| t.outcome == TestOutcome::Timeout)
            .and_then(|t| t.output.clone());
    } else if let Some(reason) = hung_reason(&result.tests) {
        result.status = Status::Timeout;
        result.reason = Some(reason);
        result.output_tail = failed
            .iter()
            .find(|t| t.outcome == TestOutcome::Timeout)
            .and_then(|t| t.output.clone());
    } else if !failed.is_empty() {
        result.status = Status::Fail;
        result.reason = Some(format!(
            "{} failed: {}",
            if failed.len() == 1 {
                "1 test".to_string()
            } else {
                format!("{} tests", failed.len())
            },
            failed
                .iter()
                .take(3)
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        result.output_tail = failed.iter().find_map(|t| t.output.clone());
    } else {
        result.status = Status::Pass;
        let flaky: Vec<String> = result
            .tests
            .iter()
            .filter(|t| t.outcome == TestOutcome::Flaky)
            .map(|t| {
                format!(
                    "{} ({})",
                    t.name,
                    t.passes_of_attempts().unwrap_or_default()
                )
            })
            .collect();
        if !flaky.is_empty() {
            result.reason = Some(format!(
                "{} flaky: {}",
                if flaky.len() == 1 {
                    "1 test".to_string()
                } else {
                    format!("{} tests", flaky.len())
                },
                flaky.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    Ok(())
}

/// `1 test hung: seed::completes` (and the failures beside), when a test
/// was killed at its limit or stopped at the cell's timeout.
fn hung_reason(tests: &[TestResult]) -> Option<String> {
    let names = |outcome: TestOutcome| -> Vec<&str> {
        tests
            .iter()
            .filter(|t| t.outcome == outcome)
            .map(|t| t.name.as_str())
            .collect()
    };
    let hung = names(TestOutcome::Timeout);
    if hung.is_empty() {
        return None;
    }
    let count = |n: usize| {
        if n == 1 {
            "1 test".to_string()
        } else {
            format!("{n} tests")
        }
    };
    let list = |v: &[&str]| v.iter().take(3).copied().collect::<Vec<_>>().join(", ");
    let mut reason = format!("{} hung: {}", count(hung.len()), list(&hung));
    let failed = names(TestOutcome::Fail);
    if !failed.is_empty() {
        reason.push_str(&format!(
            "; {} failed: {}",
            count(failed.len()),
            list(&failed)
        ));
    }
    Some(reason)
}

/// Reads each executable's ELF identity into its artifact and compares it
/// with what the platform's target needs; returns one line per executable
/// that does not fit (or cannot be read). The OS release an executable was
/// linked for (its ABI note) goes into the provenance.
fn identify_artifacts(
    executables: &[Executable],
    artifacts: &mut [Artifact],
    platform: &Platform,
    details: &mut BTreeMap<String, String>,
) -> Vec<String> {
    let expected = match crate::elf::Expected::for_target(&platform.target) {
        Ok(e) => e,
        Err(err) => {
            details.insert("artifact-check".into(), format!("not checked: {err:#}"));
            return Vec::new();
        }
    };
    let mut wrong = Vec::new();
    let mut notes = std::collections::BTreeSet::new();
    for (exe, artifact) in executables.iter().zip(artifacts.iter_mut()) {
        match crate::elf::Identity::read(&exe.path) {
            Ok(identity) => {
                let mismatches = expected.mismatches(&identity, Some(&platform.release));
                if !mismatches.is_empty() {
                    wrong.push(format!(
                        "{} ({}): {}",
                        exe.name,
                        exe.kind.as_str(),
                        mismatches.join("; ")
                    ));
                }
                if let Some(note) = &identity.abi_note {
                    notes.insert(note.describe());
                }
                artifact.identity = Some(identity.to_map());
            }
            Err(err) => wrong.push(format!("{} ({}): {err:#}", exe.name, exe.kind.as_str())),
        }
    }
    if !executables.is_empty() {
        details.insert(
            "artifact-check".into(),
            format!("{} executables read: {expected}", executables.len()),
        );
    }
    if !notes.is_empty() {
        details.insert(
            "abi-note".into(),
            notes.into_iter().collect::<Vec<_>>().join(", "),
        );
    }
    wrong
}

/// Tells a runner's own failure (an emulator that cannot start, lacks its
/// interpreter, crashes with its own error or is killed from outside) from
/// a test's: `Some(why)` for a run that failed as infrastructure.
pub(crate) type InfraCheck<'a> = &'a dyn Fn(&watchdog::Watched) -> Option<String>;

/// Runs each test executable in turn, as `command(exe)` plus libtest's JSON
/// arguments, with `MATRIX_BIN_DIR` pointing at `bin_dir` when there are
/// binaries. Each test runs under the cell's per-test limit (a hung test is
/// killed and the executable's other tests run on, `watchdog.rs`), and a
/// failing test is rerun `ctx.retries` times. `recapture`: libtest captures
/// the output (tests in parallel), so a hung test is run again alone to get
/// its output (`watchdog::run_with_limit`). With `infra`, an executable
/// whose run failed as infrastructure is run again, `ctx.infra_retries`
/// times at most, and each such fault is kept in the provenance
/// (`attempts`, `attempt-<n>`) as the VM lane keeps its boots'.
pub(crate) fn run_each(
    payload: &Payload,
    ctx: &CellCtx<'_>,
    bin_dir: Option<&std::path::Path>,
    command: impl Fn(&Executable) -> crate::cmd::Cmd,
    infra: Option<InfraCheck<'_>>,
    recapture: bool,
) -> anyhow::Result<RunnerOutcome> {
    let mut outcome = RunnerOutcome::default();
    let mut faults: Vec<String> = Vec::new();
    let mut most_attempts = 1;
    for (i, exe) in payload.tests.iter().enumerate() {
        (ctx.progress)(&format!(
            "testing {}::{} ({}/{})",
            exe.package,
            exe.name,
            i + 1,
            payload.tests.len()
        ));
        let base = || {
            let mut cmd = command(exe)
                .args(libtest::JSON_ARGS)
                .env("RUSTC_BOOTSTRAP", "1")
                .env("CARGO_MANIFEST_DIR", &exe.manifest_dir)
                .cwd(&exe.manifest_dir);
            if let Some(dir) = bin_dir {
                cmd = cmd.env("MATRIX_BIN_DIR", dir);
            }
            cmd
        };
        let mut attempt = 1;
        let watched = loop {
            let watched = watchdog::run_with_limit(&base, ctx.test_limit, ctx.deadline, recapture);
            let Some(check) = infra else { break watched? };
            // An interrupt kills the emulator too: that is no fault of it.
            let fault = match &watched {
                _ if crate::cmd::cancelled() => None,
                Ok(w) => check(w),
                Err(err) => Some(format!("{err:#}")),
            };
            let Some(fault) = fault else { break watched? };
            let fault = format!("{}::{}: {fault}", exe.package, exe.name);
            if attempt > ctx.infra_retries || crate::cmd::cancelled() {
                let after = format!(
                    "infrastructure fault after {attempt} attempt{}",
                    if attempt == 1 { "" } else { "s" }
                );
                match watched {
                    Ok(w) => {
                        outcome.fault = Some((Status::Fail, format!("{after}: {fault}")));
                        outcome.infrastructure = true;
                        break w;
                    }
                    Err(err) => return Err(err.context(after)),
                }
            }
            (ctx.progress)(&format!("infrastructure fault, retrying ({fault})"));
            faults.push(fault);
            if let Ok(w) = watched {
                outcome.commands.extend(w.records);
            }
            attempt += 1;
        };
        most_attempts = most_attempts.max(attempt);
        let mut run = ExeRun {
            package: exe.package.clone(),
            name: exe.name.clone(),
            stdout: watched.stdout,
            ending: watched.ending,
            record: None,
            retried: BTreeMap::new(),
        };
        outcome.commands.extend(
            watched
                .records
                .iter()
                .take(watched.records.len() - 1)
                .cloned(),
        );
        run.record = watched.records.last().cloned();
        if ctx.retries > 0 && run.ending != Ending::TimedOut {
            let failing: Vec<String> =
                libtest::parse(&run.package, &run.name, &run.stdout, run.ending)
                    .into_iter()
                    .filter(|t| t.outcome == TestOutcome::Fail && !t.name.starts_with('<'))
                    .map(|t| t.name)
                    .collect();
            for name in failing {
                (ctx.progress)(&format!("rerunning {name} (--retries {})", ctx.retries));
                let counts = watchdog::rerun_failure(
                    &base,
                    &name,
                    ctx.retries,
                    ctx.test_limit,
                    ctx.deadline,
                    &mut outcome.commands,
                );
                run.retried.insert(name, counts);
            }
        }
        let ending = run.ending;
        outcome.runs.push(run);
        if ending == Ending::TimedOut || crate::cmd::cancelled() {
            break;
        }
    }
    if !faults.is_empty() || outcome.fault.is_some() {
        outcome
            .details
            .insert("attempts".into(), most_attempts.to_string());
        for (i, f) in faults.iter().enumerate() {
            outcome.details.insert(
                format!("attempt-{}", i + 1),
                format!("infrastructure fault: {f}"),
            );
        }
    }
    Ok(outcome)
}

/// Marks failing tests that passed on a rerun as flaky, and records how
/// many times each rerun test ran.
fn apply_reruns(tests: &mut [TestResult], run: &ExeRun) {
    for t in tests.iter_mut().filter(|t| t.outcome == TestOutcome::Fail) {
        if let Some(&(reruns, passes)) = run.retried.get(&t.name) {
            t.attempts = Some(1 + reruns);
            t.passes = Some(passes);
            if passes > 0 {
                t.outcome = TestOutcome::Flaky;
            }
        }
    }
}

/// Turns covered failures into expected failures, per test and per cell.
/// A cell that timed out is covered by its tests only if it ended within
/// its own timeout (`in_time`): a test hung past its limit and was killed,
/// and the cell went on; a cell stopped at its timeout is never covered so.
fn apply_expectations(cell: &PlannedCell, result: &mut CellResult, in_time: bool) {
    if cell.expected.is_empty() || !matches!(result.status, Status::Fail | Status::Timeout) {
        return;
    }
    let per_test: Vec<_> = cell.expected.iter().filter(|x| x.tests.is_some()).collect();
    // The entries that cover a failing test, in matrix.toml's order.
    let mut covering: Vec<&ExpectedFailure> = Vec::new();
    // A test known to fail may also be known to hang (its reason says so).
    for t in result
        .tests
        .iter_mut()
        .filter(|t| matches!(t.outcome, TestOutcome::Fail | TestOutcome::Timeout))
    {
        if let Some(x) = per_test.iter().find(|x| x.covers_test(&t.package, &t.name)) {
            t.outcome = TestOutcome::ExpectedFail;
            if !covering.iter().any(|c| std::ptr::eq(*c, *x)) {
                covering.push(x);
            }
        }
    }
    covering.sort_by_key(|x| cell.expected.iter().position(|e| std::ptr::eq(e, *x)));
    let whole_cell = cell
        .expected
        .iter()
        .find(|x| x.tests.is_none() && x.packages.is_none());
    // Every failing test is known to fail, and nothing else went wrong.
    let all_covered = !covering.is_empty()
        && (result.status == Status::Fail || (result.status == Status::Timeout && in_time))
        && !result
            .tests
            .iter()
            .any(|t| matches!(t.outcome, TestOutcome::Fail | TestOutcome::Timeout));
    let matched: Vec<&ExpectedFailure> = match whole_cell {
        Some(x) => vec![x],
        None if all_covered => covering,
        None => Vec::new(),
    };
    if !matched.is_empty() {
        let known = matched
            .iter()
            .map(|x| x.reason.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        result.status = Status::ExpectedFail;
        result.reason = Some(match &result.reason {
            Some(r) => format!("{known} (failure: {r})"),
            None => known,
        });
        let links: Vec<&str> = matched.iter().filter_map(|x| x.link.as_deref()).collect();
        result.link = (!links.is_empty()).then(|| links.join(" "));
    }
}
