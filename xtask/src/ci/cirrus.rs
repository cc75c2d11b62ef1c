//! Cirrus CI: `.cirrus.yml`.

use super::jobs::{header, job_comment, Job, REPORT_DIFF, REPORT_MERGE};
use super::yaml::{self, strs, MapBuilder, Node};
use super::IMAGE;

/// A Cirrus instruction name for `job` (`build_linux_debian12_aarch64`).
fn ident(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

pub(super) fn render(jobs: &[Job]) -> String {
    let results_cache = |job: &Job| {
        MapBuilder::new()
            .str(
                "folder",
                job.results_dir().trim_end_matches('/').to_string(),
            )
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
        if !job.needs.is_empty() {
            t = t.entry("depends_on", strs(job.needs.iter().cloned()));
        }
        for c in &job.caches {
            let name = if c.path.starts_with("target/") {
                "build_cache"
            } else {
                "download_cache"
            };
            let mut fingerprint = format!("echo {}", c.key);
            for f in &c.files {
                fingerprint.push_str(&format!("; cat {f}"));
            }
            let mut m = MapBuilder::new()
                .str("folder", c.path.trim_end_matches('/').to_string())
                .str("fingerprint_script", fingerprint);
            if !c.pushes {
                m = m.entry("reupload_on_changes", Node::Bool(false));
            }
            t = t.entry(name, m.build());
        }
        let cache_name = format!("results_{}", ident(&job.slug()));
        t = t
            .comment("Cirrus has no artifact passing between tasks: results travel to `report` in a cache keyed by the build.")
            .entry(format!("{cache_name}_cache"), results_cache(job))
            .str("setup_script", "cargo xtask setup")
            .comment("Exit 1 (failing cells) must not fail the task: Cirrus would then skip `report`.")
            .str("matrix_script", format!("{} || [ $? -eq 1 ]", job.matrix_command()))
            .entry("upload_caches", strs([cache_name]))
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
        root = root.entry(format!("{}_task", ident(&job.slug())), t.build());
    }
    let mut report = MapBuilder::new()
        .str("name", "report")
        .entry("depends_on", strs(jobs.iter().map(|j| j.id.clone())));
    for job in jobs {
        report = report.entry(
            format!("results_{}_cache", ident(&job.slug())),
            results_cache(job),
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
