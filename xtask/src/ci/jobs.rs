//! The job model: which lane groups the data has cells for, each with the
//! `cargo xtask matrix` filters that select it, and the comment lines every
//! emitter writes above its jobs.

use crate::model::{glob_match, Lane, Model, Platform, Stage};

use super::{CI_HOST_TARGET, REPORT_DIR, RESULTS_DIR};

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

pub(super) fn header(extra: &[&str]) -> Vec<String> {
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
pub(super) fn job_comment(job: &Job) -> Vec<String> {
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

pub(super) const REPORT_MERGE: &str =
    "cargo xtask report merge --out target/ci-report ci-results/*/results.json";
pub(super) const REPORT_DIFF: &str =
    "cargo xtask report diff --allow-missing-old reports/status.json target/ci-report/status.json";
