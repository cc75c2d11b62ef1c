//! The job model: one build job per platform and one test job per platform
//! and test lane, each with the `cargo xtask matrix` filters that select its
//! cells, the job it waits for, and the caches it keeps; and the comment
//! lines every emitter writes above its jobs.
//!
//! Everything comes from the data: a platform added under `platforms/`, or a
//! lane the planner adds to a stage, shows up here without an edit. Build
//! jobs select by stage (`--stage check,build`), so every build lane the
//! planner has for a platform (cross, host, packaged…) runs in its build job;
//! test jobs are the matrix's `test-lanes` that [`runner::applies`] to the
//! platform on the CI machine, each also running the packaged lane's test
//! cell that borrows its runner (`Lane::packaged_counterpart`).

use crate::host::Host;
use crate::model::{glob_match, Lane, Model, Platform, Stage};
use crate::runner;

use super::{CI_HOST_TARGET, REPORT_DIR, RESULTS_DIR};

/// What a job runs: a platform's check and build stages, or its tests in one lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    Build,
    Test(Lane),
}

/// A cache a job restores, and saves when it `pushes`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cache {
    /// The key's fixed part; emitters add a hash of `files` where they can.
    pub key: String,
    /// Files whose contents are part of the key.
    pub files: Vec<String>,
    /// Relative to the project directory.
    pub path: String,
    /// Saves it at the end of the job (else only restores it).
    pub pushes: bool,
}

/// One CI job: one platform's cells of one stage group and lane.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Job name in all three files: `<group>:<platform>` (`build:linux-debian12-aarch64`).
    pub id: String,
    pub title: String,
    /// Filters passed to `cargo xtask matrix`.
    pub filters: Vec<String>,
    /// The platforms the job has cells for, from the data.
    pub platforms: Vec<String>,
    pub timeout_minutes: u32,
    /// Keeps the tool's download cache (guest images, sysroots) between runs.
    pub cache: bool,
    /// Notes for the reader of the generated file.
    pub notes: Vec<String>,
    pub kind: JobKind,
    /// `build`, or the test lane (`host`, `qemu-user`, `vm`…).
    pub group: String,
    /// The one platform the job runs.
    pub platform: String,
    /// The platform's Rust target.
    pub target: String,
    /// Ids of the jobs this one starts after (a test job after its platform's build).
    pub needs: Vec<String>,
    pub caches: Vec<Cache>,
}

impl Job {
    /// `<group>-<platform>`: the job's name where `:` is not allowed (paths, artifact names).
    pub fn slug(&self) -> String {
        format!("{}-{}", self.group, self.platform)
    }

    pub fn results_path(&self) -> String {
        format!("{RESULTS_DIR}/{}/results.json", self.slug())
    }

    pub fn junit_path(&self) -> String {
        format!("{RESULTS_DIR}/{}/junit.xml", self.slug())
    }

    pub fn results_dir(&self) -> String {
        format!("{RESULTS_DIR}/{}/", self.slug())
    }

    /// The job's matrix command line. Failing cells make it exit 1, which
    /// each CI treats as "finished with failures", never as a reason to skip the report.
    pub fn matrix_command(&self) -> String {
        format!(
            "cargo xtask matrix {} --keep-going --no-report --results-out {} --junit {}",
            self.filters.join(" "),
            self.results_path(),
            self.junit_path()
        )
    }

    /// Does this job run the cell `platform`/`stage`@`lane`?
    pub fn runs(&self, platform: &str, stage: Stage, lane: Lane) -> bool {
        platform == self.platform
            && match self.kind {
                JobKind::Build => matches!(stage, Stage::Check | Stage::Build),
                JobKind::Test(l) => {
                    stage == Stage::Test && (lane == l || l.packaged_counterpart() == Some(lane))
                }
            }
    }
}

/// The machine the generated jobs run on, as the planner sees a host.
pub fn ci_host() -> Host {
    Host {
        triple: CI_HOST_TARGET.to_string(),
        description: "CI runner (Debian 12, x86_64)".to_string(),
        cpus: 2,
    }
}

/// Where the matrix keeps its builds, one directory per toolchain.
pub const BUILD_DIR: &str = "target/matrix/build/";

/// Where the jobs keep the tool's downloads (`XTASK_CACHE_DIR`).
pub const DOWNLOADS_DIR: &str = ".cache/vhu-matrix/";

/// Every job: each platform's build job, then its test jobs, platforms in the data's order.
pub fn jobs(model: &Model) -> Vec<Job> {
    let m = &model.matrix;
    let host = ci_host();
    let selected: Vec<&Platform> = model
        .platforms
        .iter()
        .filter(|p| m.platforms.iter().any(|g| glob_match(g, &p.id)))
        .collect();
    let build_stages: Vec<&str> = [Stage::Check, Stage::Build]
        .into_iter()
        .filter(|s| m.stages.contains(s))
        .map(Stage::as_str)
        .collect();
    let mut jobs = Vec::new();
    let mut build_ids: Vec<(&Platform, Option<String>)> = Vec::new();
    for p in selected {
        let mut build_id = None;
        if !build_stages.is_empty() {
            let id = format!("build:{}", p.id);
            jobs.push(Job {
                id: id.clone(),
                title: format!(
                    "{} {}: {} ({})",
                    p.release_display,
                    p.arch,
                    build_stages.join(" and "),
                    p.target
                ),
                filters: vec![
                    "--platform".into(),
                    p.id.clone(),
                    "--stage".into(),
                    build_stages.join(","),
                ],
                platforms: vec![p.id.clone()],
                timeout_minutes: 120,
                cache: true,
                notes: vec![],
                kind: JobKind::Build,
                group: "build".into(),
                platform: p.id.clone(),
                target: p.target.clone(),
                needs: vec![],
                caches: vec![build_cache(p, true), downloads(p, "build")],
            });
            build_id = Some(id);
        }
        build_ids.push((p, build_id));
    }
    // Test jobs after every build, grouped by lane in the matrix's order.
    for &lane in &m.test_lanes {
        for (p, build_id) in &build_ids {
            let p = *p;
            if !m.stages.contains(&Stage::Test) || !runner::applies(lane, p, &host) {
                continue;
            }
            let mut notes = Vec::new();
            if lane == Lane::Vm && p.os != "linux" {
                notes.push(format!(
                    "The VM lane downloads the {} guest image named in vm-images/ from the OS project's mirrors:",
                    p.os_display
                ));
                notes.push("this job's runner needs network access to them.".into());
            }
            let (what, minutes) = match lane {
                Lane::Host => ("tests on the CI machine itself", 90),
                Lane::QemuUser => ("tests under qemu-user", 90),
                Lane::Vm => ("tests in a QEMU guest (TCG)", 120),
                _ => ("tests", 120),
            };
            // The packaged lane's test cell that uses this lane's runner rides along.
            let lanes: Vec<&str> = std::iter::once(lane)
                .chain(lane.packaged_counterpart().filter(|_| m.packaged_lane))
                .map(Lane::as_str)
                .collect();
            jobs.push(Job {
                id: format!("{}:{}", lane.as_str(), p.id),
                title: format!("{} {}: {what}", p.release_display, p.arch),
                filters: vec![
                    "--platform".into(),
                    p.id.clone(),
                    "--stage".into(),
                    "test".into(),
                    "--lane".into(),
                    lanes.join(","),
                ],
                platforms: vec![p.id.clone()],
                timeout_minutes: minutes,
                cache: true,
                notes,
                kind: JobKind::Test(lane),
                group: lane.as_str().into(),
                platform: p.id.clone(),
                target: p.target.clone(),
                needs: build_id.iter().cloned().collect(),
                caches: vec![build_cache(p, false), downloads(p, lane.as_str())],
            });
        }
    }
    jobs
}

/// The cache of a platform's builds: per target and toolchain, so platforms
/// that share both (two releases of one OS) share it.
fn build_cache(p: &Platform, pushes: bool) -> Cache {
    let toolchains: Vec<&str> = p.toolchains.iter().map(|t| t.as_str()).collect();
    Cache {
        key: format!("build-{}-{}", p.target, toolchains.join("+")),
        files: vec!["Cargo.lock".to_string()],
        path: BUILD_DIR.to_string(),
        pushes,
    }
}

/// The tool's downloads for one platform's job (sysroots, guest images,
/// packaged std): per job, so that concurrent jobs never overwrite each other's.
fn downloads(p: &Platform, group: &str) -> Cache {
    Cache {
        key: format!("downloads-{group}-{}", p.id),
        files: vec![],
        path: DOWNLOADS_DIR.to_string(),
        pushes: true,
    }
}

/// The job groups in the order they first appear: `build`, then the test lanes.
pub fn groups(jobs: &[Job]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for j in jobs {
        if !out.contains(&j.group) {
            out.push(j.group.clone());
        }
    }
    out
}

pub(super) fn header(extra: &[&str]) -> Vec<String> {
    let mut lines = vec![
        "Generated by `cargo xtask ci generate` from matrix/, platforms/ and vm-images/: do not edit.".to_string(),
        "`cargo xtask ci check` (and a test) fails when this file is stale.".to_string(),
        String::new(),
        "One job per platform builds it (`cargo xtask matrix --platform P --stage check,build`), and one".to_string(),
        "job per platform and test lane runs its tests once that build is done, restoring the build's".to_string(),
        "target directory from a cache keyed by target and toolchain. Each job keeps".to_string(),
        format!("{RESULTS_DIR}/<job>/results.json and junit.xml; a failing cell makes the matrix exit 1, which"),
        "marks the job but never stops the `report` job. That job merges every results file".to_string(),
        format!("(`cargo xtask report merge`) into {REPORT_DIR}/ (status.json, .md, .html, and history.jsonl),"),
        "then fails if `cargo xtask report diff` finds a regression against the committed reports/status.json.".to_string(),
        "A test job also runs the packaged lane's test cell that uses its runner (`packaged` beside `host` or".to_string(),
        "`qemu-user`, `packaged-vm` beside `vm`), on the executables the build job's packaged compiler linked.".to_string(),
        "`cargo xtask ci plan --runners N` lists these jobs and estimates the pipeline's wall time.".to_string(),
    ];
    if !extra.is_empty() {
        lines.push(String::new());
        lines.extend(extra.iter().map(|l| l.to_string()));
    }
    lines
}

/// Comment lines describing a job.
pub(super) fn job_comment(job: &Job) -> Vec<String> {
    let mut lines = vec![job.title.clone()];
    lines.extend(job.notes.iter().cloned());
    lines
}

/// Merges every job's results into the report, appending this run to the
/// history kept beside the committed report.
pub(super) const REPORT_MERGE: &str =
    "cargo xtask report merge --out target/ci-report --history reports/history.jsonl ci-results/*/results.json";
pub(super) const REPORT_DIFF: &str =
    "cargo xtask report diff --allow-missing-old reports/status.json target/ci-report/status.json";
