//! GitLab CI: `.gitlab-ci.yml`.
//!
//! Generated jobs rather than `parallel: matrix:`, so that each test job can
//! name the one build job it `needs:` and starts the moment that build ends.
//! The `report` job uses no `needs:` (GitLab caps a job's `needs:` list, and a
//! large matrix passes the cap): as the only job of the last stage it runs
//! after every other job and downloads all their artifacts.

use super::jobs::{groups, header, job_comment, Cache, Job, JobKind, REPORT_DIFF, REPORT_MERGE};
use super::yaml::{self, seq, strs, MapBuilder, Node};
use super::{IMAGE, REPORT_DIR};

pub(super) fn render(jobs: &[Job]) -> String {
    let mut stages: Vec<&str> = Vec::new();
    for j in jobs {
        let s = stage(j);
        if !stages.contains(&s) {
            stages.push(s);
        }
    }
    stages.push("report");
    let mut root = MapBuilder::new()
        .entry("stages", strs(stages))
        .blank()
        .entry("default", MapBuilder::new().str("image", IMAGE).build())
        .blank()
        .comment("The tool's download cache (guest images, sysroots, packaged std) lives inside the project directory so that GitLab can cache it.")
        .entry("variables", MapBuilder::new().str("XTASK_CACHE_DIR", "$CI_PROJECT_DIR/.cache/vhu-matrix").build());
    for job in jobs {
        let mut j = MapBuilder::new().str("stage", stage(job));
        // An empty `needs:` starts a build job at once, not after a stage.
        j = j.entry(
            "needs",
            seq(job.needs.iter().map(|n| {
                MapBuilder::new()
                    .str("job", n.clone())
                    .entry("artifacts", Node::Bool(false))
                    .build()
            })),
        );
        j = j
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
                    .entry("paths", strs([job.results_dir()]))
                    .entry(
                        "reports",
                        MapBuilder::new().str("junit", job.junit_path()).build(),
                    )
                    .build(),
            )
            .entry("cache", seq(job.caches.iter().map(cache)));
        root = root.blank();
        for line in job_comment(job) {
            root = root.comment(line);
        }
        root = root.entry(job.id.clone(), j.build());
    }
    let report = MapBuilder::new()
        .str("stage", "report")
        .comment(
            "Runs whatever happened to the other jobs: partial results are still worth a report.",
        )
        .str("when", "always")
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
        .comment(
            "Merges every job's results into one report and compares it with the committed one.",
        )
        .entry("report", report);
    let groups = groups(jobs);
    yaml::document(
        &header(&[&format!(
            "Job groups, in stage order: {}.",
            groups.join(", ")
        )]),
        &root.build(),
    )
}

/// Build jobs run in the `build` stage, every test job in `test`.
fn stage(job: &Job) -> &'static str {
    match job.kind {
        JobKind::Build => "build",
        JobKind::Test(_) => "test",
    }
}

fn cache(c: &Cache) -> Node {
    let key = if c.files.is_empty() {
        Node::Str(c.key.clone())
    } else {
        MapBuilder::new()
            .entry("files", strs(c.files.iter().cloned()))
            .str("prefix", c.key.clone())
            .build()
    };
    MapBuilder::new()
        .entry("key", key)
        .entry("paths", strs([c.path.clone()]))
        .str("policy", if c.pushes { "pull-push" } else { "pull" })
        .build()
}

/// `2h`, `90m`: GitLab's duration syntax.
fn gitlab_duration(minutes: u32) -> String {
    if minutes % 60 == 0 {
        format!("{}h", minutes / 60)
    } else {
        format!("{minutes}m")
    }
}
