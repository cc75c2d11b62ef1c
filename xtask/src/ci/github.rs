//! GitHub Actions: `.github/workflows/matrix.yml`.

use super::jobs::{header, job_comment, Job, REPORT_DIFF, REPORT_MERGE};
use super::yaml::{self, strs, MapBuilder, Node};
use super::{IMAGE, REPORT_DIR, RESULTS_DIR};

pub(super) fn render(jobs: &[Job]) -> String {
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
