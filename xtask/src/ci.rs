//! `cargo xtask ci`: the CI configuration (GitLab, GitHub Actions, Cirrus)
//! generated from `matrix/` and `platforms/`, so that the data stays the one
//! source of truth for what runs where.
//!
//! Generation is a pure function of the model: one job per lane group that
//! the data has cells for (host; cross builds; Linux qemu-user tests; Linux
//! VM tests; BSD VM tests), each running `cargo xtask matrix` with the tool's
//! own filters and uploading its results and JUnit XML, then one `report`
//! job that merges them (`cargo xtask report merge`), renders the report and
//! compares it with the committed `reports/status.json`.

pub mod yaml;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::exit;
use crate::model::{self, glob_match, Lane, Model, Platform, Stage};
use crate::paths::write_atomic;
use yaml::{seq, strs, MapBuilder, Node};

/// The CI files, relative to the repository root, in the order they are written.
pub const FILES: [&str; 3] = [
    ".gitlab-ci.yml",
    ".github/workflows/matrix.yml",
    ".cirrus.yml",
];

/// The target of the machines the generated jobs run on (x86_64 Debian 12 containers).
pub const CI_HOST_TARGET: &str = "x86_64-unknown-linux-gnu";

/// The container image of every job: Debian 12 with rustup's stable Rust,
/// the system this project is built and tested on.
pub const IMAGE: &str = "rust:1-bookworm";

/// Where each job leaves its results (`<dir>/<job>/results.json`, `junit.xml`).
pub const RESULTS_DIR: &str = "ci-results";

/// Where the `report` job writes the merged report.
pub const REPORT_DIR: &str = "target/ci-report";

/// Generate the CI configuration from the matrix data, or check it is current.
///
/// Writes `.gitlab-ci.yml`, `.github/workflows/matrix.yml` and `.cirrus.yml`
/// (Cirrus's format, for self-hosted or compatible runners: hosted Cirrus CI
/// closed in June 2026). Each has one job per lane group with cells in the
/// matrix, and a final job that merges the jobs' results into one report.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Write the CI files.
    Generate(GenArgs),
    /// Fail (exit 1) when a CI file differs from what `generate` would write.
    Check(GenArgs),
}

#[derive(Debug, clap::Args)]
pub struct GenArgs {
    /// Directory holding `platforms/`, `matrix/` and `vm-images/` [default: this repository].
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Where the files go (or are checked) [default: this repository's root].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<u8> {
    let (gen, check) = match args.action {
        Action::Generate(g) => (g, false),
        Action::Check(g) => (g, true),
    };
    let model = model::load(&model::DataDirs::resolve(gen.data.as_deref(), None))?;
    let root = gen.out.clone().unwrap_or_else(crate::repo_root);
    if check {
        let stale = stale(&model, &root);
        if stale.is_empty() {
            eprintln!("the CI files in {} are up to date", root.display());
            return Ok(exit::OK);
        }
        eprintln!(
            "stale: {}; run `cargo xtask ci generate` and commit",
            stale.join(", ")
        );
        return Ok(exit::FAILURES);
    }
    for file in generate(&model) {
        write_atomic(&root.join(file.path), file.text.as_bytes())
            .with_context(|| format!("cannot write {}", file.path))?;
        eprintln!("wrote {}", root.join(file.path).display());
    }
    Ok(exit::OK)
}

/// The files under `root` that are missing or differ from what the model generates.
pub fn stale(model: &Model, root: &Path) -> Vec<String> {
    generate(model)
        .into_iter()
        .filter(|f| {
            std::fs::read_to_string(root.join(f.path)).ok().as_deref() != Some(f.text.as_str())
        })
        .map(|f| f.path.to_string())
        .collect()
}

pub struct GeneratedFile {
    pub path: &'static str,
    pub text: String,
}

/// One CI job: a lane group and the `cargo xtask matrix` filters that select it.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Job name in all three files (`host`, `cross-build`, `qemu-user`, `vm-linux`, `vm-bsd`).
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
}

impl Job {
    pub fn results_path(&self) -> String {
        format!("{RESULTS_DIR}/{}/results.json", self.id)
    }

    pub fn junit_path(&self) -> String {
        format!("{RESULTS_DIR}/{}/junit.xml", self.id)
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
}

/// The lane groups the data has cells for, in a fixed order.
pub fn jobs(model: &Model) -> Vec<Job> {
    let m = &model.matrix;
    let selected: Vec<&Platform> = model
        .platforms
        .iter()
        .filter(|p| m.platforms.iter().any(|g| glob_match(g, &p.id)))
        .collect();
    let ids = |keep: &dyn Fn(&Platform) -> bool| -> Vec<String> {
        selected
            .iter()
            .filter(|p| keep(p))
            .map(|p| p.id.clone())
            .collect()
    };
    let has_stage = |s: Stage| m.stages.contains(&s);
    let tests_on = |l: Lane| has_stage(Stage::Test) && m.test_lanes.contains(&l);
    let mut jobs = Vec::new();

    let host = ids(&|p| p.target == CI_HOST_TARGET);
    if !host.is_empty() {
        jobs.push(Job {
            id: "host".into(),
            title: "Host: check, build and test on the CI machine's own target".into(),
            filters: vec!["--lane".into(), "host".into()],
            platforms: host,
            timeout_minutes: 120,
            cache: false,
            notes: vec![],
        });
    }
    let build_stages: Vec<&str> = [Stage::Check, Stage::Build]
        .into_iter()
        .filter(|s| has_stage(*s))
        .map(Stage::as_str)
        .collect();
    let cross = ids(&|p| p.target != CI_HOST_TARGET);
    if !build_stages.is_empty() && !cross.is_empty() {
        jobs.push(Job {
            id: "cross-build".into(),
            title: "Cross builds: check and link every other target from this host".into(),
            filters: vec![
                "--lane".into(),
                "cross".into(),
                "--stage".into(),
                build_stages.join(","),
            ],
            platforms: cross,
            timeout_minutes: 180,
            cache: true,
            notes: vec![],
        });
    }
    let qemu_user = ids(&|p| p.qemu_user.is_some() && p.target != CI_HOST_TARGET);
    if tests_on(Lane::QemuUser) && !qemu_user.is_empty() {
        jobs.push(Job {
            id: "qemu-user".into(),
            title: "Linux qemu-user tests: other architectures' test executables under user-mode emulation".into(),
            filters: vec!["--lane".into(), "qemu-user".into()],
            platforms: qemu_user,
            timeout_minutes: 180,
            cache: true,
            notes: vec![],
        });
    }
    let vm_linux = ids(&|p| p.os == "linux" && p.vm_image.is_some());
    if tests_on(Lane::Vm) && !vm_linux.is_empty() {
        jobs.push(Job {
            id: "vm-linux".into(),
            title: "Linux VM tests: test executables inside Debian guests (QEMU, TCG)".into(),
            filters: vec!["--os".into(), "linux".into(), "--lane".into(), "vm".into()],
            platforms: vm_linux,
            timeout_minutes: 240,
            cache: true,
            notes: vec![],
        });
    }
    let vm_bsd = ids(&|p| p.os != "linux" && p.vm_image.is_some());
    if tests_on(Lane::Vm) && !vm_bsd.is_empty() {
        let mut oses: Vec<String> = Vec::new();
        for p in selected
            .iter()
            .filter(|p| p.os != "linux" && p.vm_image.is_some())
        {
            if !oses.contains(&p.os) {
                oses.push(p.os.clone());
            }
        }
        jobs.push(Job {
            id: "vm-bsd".into(),
            title: "BSD VM tests: test executables inside FreeBSD, OpenBSD and NetBSD guests".into(),
            filters: vec!["--os".into(), oses.join(","), "--lane".into(), "vm".into()],
            platforms: vm_bsd,
            timeout_minutes: 240,
            cache: true,
            notes: vec![
                "The VM lane downloads the guest images named in vm-images/ from the OS projects' mirrors:".into(),
                "this job's runner needs network access to them.".into(),
            ],
        });
    }
    jobs
}

/// The three files, generated from the model.
pub fn generate(model: &Model) -> Vec<GeneratedFile> {
    let jobs = jobs(model);
    vec![
        GeneratedFile {
            path: FILES[0],
            text: gitlab(&jobs),
        },
        GeneratedFile {
            path: FILES[1],
            text: github(&jobs),
        },
        GeneratedFile {
            path: FILES[2],
            text: cirrus(&jobs),
        },
    ]
}

fn header(extra: &[&str]) -> Vec<String> {
    let mut lines = vec![
        "Generated by `cargo xtask ci generate` from matrix/, platforms/ and vm-images/: do not edit.".to_string(),
        "`cargo xtask ci check` (and a test) fails when this file is stale.".to_string(),
        String::new(),
        "One job per lane group runs `cargo xtask matrix` with the tool's own filters and keeps".to_string(),
        format!("{RESULTS_DIR}/<job>/results.json and junit.xml; a failing cell makes the matrix exit 1, which"),
        "marks the job but never stops the `report` job. That job merges every results file".to_string(),
        format!("(`cargo xtask report merge`) into {REPORT_DIR}/ (status.json, status.md, status.html), then"),
        "fails if `cargo xtask report diff` finds a regression against the committed reports/status.json.".to_string(),
    ];
    if !extra.is_empty() {
        lines.push(String::new());
        lines.extend(extra.iter().map(|l| l.to_string()));
    }
    lines
}

/// Comment lines describing a job, its platforms wrapped to a readable width.
fn job_comment(job: &Job) -> Vec<String> {
    let mut lines = vec![job.title.clone()];
    let mut line = String::from("Platforms:");
    for p in &job.platforms {
        if line.len() + p.len() + 1 > 96 {
            lines.push(std::mem::take(&mut line));
            line.push_str("   ");
        }
        line.push(' ');
        line.push_str(p);
    }
    lines.push(line);
    lines.extend(job.notes.iter().cloned());
    lines
}

const REPORT_MERGE: &str =
    "cargo xtask report merge --out target/ci-report ci-results/*/results.json";
const REPORT_DIFF: &str =
    "cargo xtask report diff --allow-missing-old reports/status.json target/ci-report/status.json";

fn gitlab(jobs: &[Job]) -> String {
    let mut root = MapBuilder::new()
        .entry("stages", strs(["matrix", "report"]))
        .blank()
        .entry("default", MapBuilder::new().str("image", IMAGE).build())
        .blank()
        .comment("The tool's download cache (guest images, sysroots) lives inside the project directory so that GitLab can cache it.")
        .entry("variables", MapBuilder::new().str("XTASK_CACHE_DIR", "$CI_PROJECT_DIR/.cache/vhu-matrix").build());
    for job in jobs {
        let mut j = MapBuilder::new()
            .str("stage", "matrix")
            .str("timeout", gitlab_duration(job.timeout_minutes))
            .entry(
                "script",
                strs(["cargo xtask setup".to_string(), job.matrix_command()]),
            )
            .comment("Exit 1 means failing cells (shown in the test report), not a broken job.")
            .entry(
                "allow_failure",
                MapBuilder::new()
                    .entry("exit_codes", seq([Node::Int(1)]))
                    .build(),
            )
            .entry(
                "artifacts",
                MapBuilder::new()
                    .str("when", "always")
                    .str("expire_in", "30 days")
                    .entry("paths", strs([format!("{RESULTS_DIR}/{}/", job.id)]))
                    .entry(
                        "reports",
                        MapBuilder::new().str("junit", job.junit_path()).build(),
                    )
                    .build(),
            );
        if job.cache {
            j = j.entry(
                "cache",
                MapBuilder::new()
                    .str("key", format!("vhu-matrix-{}", job.id))
                    .entry("paths", strs([".cache/vhu-matrix/"]))
                    .build(),
            );
        }
        root = root.blank();
        for line in job_comment(job) {
            root = root.comment(line);
        }
        root = root.entry(job.id.clone(), j.build());
    }
    let needs = seq(jobs.iter().map(|j| {
        MapBuilder::new()
            .str("job", j.id.clone())
            .entry("artifacts", Node::Bool(true))
            .build()
    }));
    let report = MapBuilder::new()
        .str("stage", "report")
        .comment(
            "Runs whatever happened to the matrix jobs: partial results are still worth a report.",
        )
        .str("when", "always")
        .entry("needs", needs)
        .entry("script", strs([REPORT_MERGE, REPORT_DIFF]))
        .entry(
            "artifacts",
            MapBuilder::new()
                .str("name", "reports")
                .str("when", "always")
                .str("expire_in", "90 days")
                .entry("paths", strs([format!("{REPORT_DIR}/")]))
                .build(),
        )
        .build();
    let root = root
        .blank()
        .comment("Merges the jobs' results into one report and compares it with the committed one.")
        .entry("report", report);
    yaml::document(&header(&[]), &root.build())
}

/// `2h`, `90m`: GitLab's duration syntax.
fn gitlab_duration(minutes: u32) -> String {
    if minutes % 60 == 0 {
        format!("{}h", minutes / 60)
    } else {
        format!("{minutes}m")
    }
}

fn github(jobs: &[Job]) -> String {
    let checkout = MapBuilder::new().str("uses", "actions/checkout@v4").build();
    let mut jobs_map = MapBuilder::new();
    for job in jobs {
        let mut steps = vec![checkout.clone()];
        if job.cache {
            steps.push(
                MapBuilder::new()
                    .str("name", "Keep the tool's download cache")
                    .str("uses", "actions/cache@v4")
                    .entry(
                        "with",
                        MapBuilder::new()
                            .str("path", "~/.cache/vhu-matrix")
                            .str("key", format!("vhu-matrix-{}-${{{{ hashFiles('platforms/**', 'vm-images/**') }}}}", job.id))
                            .str("restore-keys", format!("vhu-matrix-{}-", job.id))
                            .build(),
                    )
                    .build(),
            );
        }
        steps.push(
            MapBuilder::new()
                .str("name", "Install prerequisites")
                .str("run", "cargo xtask setup")
                .build(),
        );
        steps.push(
            MapBuilder::new()
                .str("name", "Run the matrix")
                .str("run", job.matrix_command())
                .build(),
        );
        steps.push(
            MapBuilder::new()
                .str("name", "Upload results and JUnit XML")
                .str("if", "${{ always() }}")
                .str("uses", "actions/upload-artifact@v4")
                .entry(
                    "with",
                    MapBuilder::new()
                        .str("name", format!("results-{}", job.id))
                        .str("path", format!("{RESULTS_DIR}/{}/", job.id))
                        .str("if-no-files-found", "warn")
                        .build(),
                )
                .build(),
        );
        let j = MapBuilder::new()
            .str("name", job.title.clone())
            .str("runs-on", "ubuntu-24.04")
            .str("container", IMAGE)
            .entry("timeout-minutes", Node::Int(job.timeout_minutes.into()))
            .entry("steps", Node::Seq(steps))
            .build();
        jobs_map = jobs_map.blank();
        for line in job_comment(job) {
            jobs_map = jobs_map.comment(line);
        }
        jobs_map = jobs_map.entry(job.id.clone(), j);
    }
    let report_steps = vec![
        checkout,
        MapBuilder::new()
            .str("name", "Download every job's results")
            .str("uses", "actions/download-artifact@v4")
            .entry("with", MapBuilder::new().str("pattern", "results-*").str("path", RESULTS_DIR).build())
            .build(),
        MapBuilder::new().str("name", "Merge the results and render the report").str("run", REPORT_MERGE).build(),
        MapBuilder::new()
            .str("name", "Show the report in the run summary")
            .str("run", "cat target/ci-report/status.md >> \"$GITHUB_STEP_SUMMARY\"")
            .build(),
        MapBuilder::new()
            .str("name", "Upload the report")
            .str("if", "${{ always() }}")
            .str("uses", "actions/upload-artifact@v4")
            .entry("with", MapBuilder::new().str("name", "reports").str("path", format!("{REPORT_DIR}/")).build())
            .build(),
        MapBuilder::new()
            .comment("On the main branch only: the pinned issue shows the newest report.")
            .str("name", "Publish the report issue")
            .str("if", "${{ github.event_name == 'push' && github.ref == 'refs/heads/main' }}")
            .entry("env", MapBuilder::new().str("GITHUB_TOKEN", "${{ secrets.GITHUB_TOKEN }}").build())
            .str("run", "cargo xtask report publish --repo \"$GITHUB_REPOSITORY\" --results target/ci-report/status.json")
            .build(),
        MapBuilder::new().str("name", "Compare with the committed report (fails on a regression)").str("run", REPORT_DIFF).build(),
    ];
    let report = MapBuilder::new()
        .str("name", "Merge the results into one report")
        .entry("needs", strs(jobs.iter().map(|j| j.id.clone())))
        .comment(
            "Runs whatever happened to the matrix jobs: partial results are still worth a report.",
        )
        .str("if", "${{ !cancelled() }}")
        .str("runs-on", "ubuntu-24.04")
        .str("container", IMAGE)
        .entry(
            "permissions",
            MapBuilder::new()
                .str("contents", "read")
                .str("issues", "write")
                .build(),
        )
        .entry("steps", Node::Seq(report_steps))
        .build();
    let jobs_map = jobs_map
        .blank()
        .comment("Merges the jobs' results into one report and compares it with the committed one.")
        .entry("report", report);
    let root = MapBuilder::new()
        .str("name", "matrix")
        .blank()
        .entry(
            "on",
            MapBuilder::new()
                .entry(
                    "push",
                    MapBuilder::new().entry("branches", strs(["main"])).build(),
                )
                .entry("pull_request", MapBuilder::new().build())
                .entry("workflow_dispatch", MapBuilder::new().build())
                .build(),
        )
        .blank()
        .entry(
            "permissions",
            MapBuilder::new().str("contents", "read").build(),
        )
        .blank()
        .entry("jobs", jobs_map.build())
        .build();
    yaml::document(&header(&[]), &root)
}

fn cirrus(jobs: &[Job]) -> String {
    let build_id_cache = |job: &Job| {
        MapBuilder::new()
            .str("folder", format!("{RESULTS_DIR}/{}", job.id))
            .str("fingerprint_script", "echo \"$CIRRUS_BUILD_ID\"")
            .build()
    };
    let mut root = MapBuilder::new()
        .entry(
            "container",
            MapBuilder::new()
                .str("image", IMAGE)
                .entry("cpu", Node::Int(2))
                .str("memory", "8G")
                .build(),
        )
        .blank()
        .entry(
            "env",
            MapBuilder::new()
                .str("XTASK_CACHE_DIR", "$CIRRUS_WORKING_DIR/.cache/vhu-matrix")
                .build(),
        );
    for job in jobs {
        let mut t = MapBuilder::new()
            .str("name", job.id.clone())
            .str("timeout_in", format!("{}m", job.timeout_minutes));
        if job.cache {
            t = t.entry(
                "download_cache",
                MapBuilder::new()
                    .str("folder", ".cache/vhu-matrix")
                    .str(
                        "fingerprint_script",
                        "cat platforms/*.toml vm-images/*.toml",
                    )
                    .build(),
            );
        }
        t = t
            .comment("Cirrus has no artifact passing between tasks: results travel to `report` in a cache keyed by the build.")
            .entry(format!("results_{}_cache", job.id.replace('-', "_")), build_id_cache(job))
            .str("setup_script", "cargo xtask setup")
            .comment("Exit 1 (failing cells) must not fail the task: Cirrus would then skip `report`.")
            .str("matrix_script", format!("{} || [ $? -eq 1 ]", job.matrix_command()))
            .entry("upload_caches", strs([format!("results_{}", job.id.replace('-', "_"))]))
            .entry(
                "always",
                MapBuilder::new()
                    .entry("results_artifacts", MapBuilder::new().str("path", job.results_path()).build())
                    .entry(
                        "junit_artifacts",
                        MapBuilder::new().str("path", job.junit_path()).str("type", "text/xml").str("format", "junit").build(),
                    )
                    .build(),
            );
        root = root.blank();
        for line in job_comment(job) {
            root = root.comment(line);
        }
        root = root.entry(format!("{}_task", job.id.replace('-', "_")), t.build());
    }
    let mut report = MapBuilder::new()
        .str("name", "report")
        .entry("depends_on", strs(jobs.iter().map(|j| j.id.clone())));
    for job in jobs {
        report = report.entry(
            format!("results_{}_cache", job.id.replace('-', "_")),
            build_id_cache(job),
        );
    }
    let report = report
        .str("merge_script", REPORT_MERGE)
        .str("diff_script", REPORT_DIFF)
        .entry(
            "always",
            MapBuilder::new()
                .entry(
                    "reports_artifacts",
                    MapBuilder::new().str("path", "target/ci-report/*").build(),
                )
                .build(),
        )
        .build();
    let root = root
        .blank()
        .comment(
            "Merges the tasks' results into one report and compares it with the committed one.",
        )
        .entry("report_task", report);
    yaml::document(
        &header(&[
            "Hosted Cirrus CI closed in June 2026. This file keeps Cirrus's format for self-hosted runs",
            "(cirrus-cli's `cirrus run`, persistent workers) and services that read .cirrus.yml.",
        ]),
        &root.build(),
    )
}
