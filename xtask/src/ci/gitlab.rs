//! GitLab CI: `.gitlab-ci.yml`.

use super::jobs::{header, job_comment, Job, REPORT_DIFF, REPORT_MERGE};
use super::yaml::{self, seq, strs, MapBuilder, Node};
use super::{IMAGE, REPORT_DIR, RESULTS_DIR};

pub(super) fn render(jobs: &[Job]) -> String {
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
