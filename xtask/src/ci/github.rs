//! GitHub Actions: `.github/workflows/matrix.yml`.
//!
//! One workflow job per job group (`build`, then each test lane), each a
//! `strategy.matrix` over its platforms with `fail-fast: false`. GitHub's
//! `needs:` names whole jobs, not matrix entries, so a test job starts when
//! every build has ended; the test entries then restore their platform's
//! build from the cache the build entry saved.

use super::jobs::{groups, header, Job, JobKind, REPORT_DIFF, REPORT_MERGE};
use super::yaml::{self, strs, MapBuilder, Node};
use super::{IMAGE, REPORT_DIR, RESULTS_DIR};

/// The actions the workflow uses, at releases that run on the node24 runtime
/// (GitHub removed node20 from its runners on 2026-09-23).
pub const CHECKOUT: &str = "actions/checkout@v5";
pub const CACHE: &str = "actions/cache@v5";
pub const CACHE_RESTORE: &str = "actions/cache/restore@v5";
pub const UPLOAD_ARTIFACT: &str = "actions/upload-artifact@v6";
pub const DOWNLOAD_ARTIFACT: &str = "actions/download-artifact@v7";

const PLATFORM: &str = "${{ matrix.platform }}";

pub(super) fn render(jobs: &[Job]) -> String {
    let checkout = MapBuilder::new().str("uses", CHECKOUT).build();
    let groups = groups(jobs);
    let mut jobs_map = MapBuilder::new();
    for group in &groups {
        let members: Vec<&Job> = jobs.iter().filter(|j| &j.group == group).collect();
        let first = members[0];
        let templated = |text: &str| text.replace(&first.platform, PLATFORM);
        let build_cache_key = "build-${{ matrix.target }}-${{ matrix.toolchains }}";
        let mut steps = vec![checkout.clone()];
        let build_cache = first.caches.iter().find(|c| c.path.starts_with("target/"));
        if let Some(c) = build_cache {
            let (name, uses) = if c.pushes {
                ("Keep the platform's build (target and toolchain)", CACHE)
            } else {
                (
                    "Restore the platform's build (target and toolchain)",
                    CACHE_RESTORE,
                )
            };
            steps.push(
                MapBuilder::new()
                    .str("name", name)
                    .str("uses", uses)
                    .entry(
                        "with",
                        MapBuilder::new()
                            .str("path", c.path.clone())
                            .str(
                                "key",
                                format!("{build_cache_key}-${{{{ hashFiles('Cargo.lock') }}}}"),
                            )
                            .str("restore-keys", format!("{build_cache_key}-"))
                            .build(),
                    )
                    .build(),
            );
        }
        steps.push(
            MapBuilder::new()
                .str("name", "Keep the tool's downloads (guest images, sysroots, packaged std)")
                .str("uses", CACHE)
                .entry(
                    "with",
                    MapBuilder::new()
                        .str("path", "~/.cache/vhu-matrix")
                        .str("key", format!("downloads-{group}-{PLATFORM}-${{{{ hashFiles('platforms/**', 'vm-images/**') }}}}"))
                        .str("restore-keys", format!("downloads-{group}-{PLATFORM}-"))
                        .build(),
                )
                .build(),
        );
        steps.push(
            MapBuilder::new()
                .str("name", "Install prerequisites")
                .str("run", "cargo xtask setup")
                .build(),
        );
        steps.push(
            MapBuilder::new()
                .comment("Exit 1 means failing cells: the job is marked, the report still runs.")
                .str("name", "Run the matrix")
                .str("run", templated(&first.matrix_command()))
                .build(),
        );
        steps.push(
            MapBuilder::new()
                .str("name", "Upload results and JUnit XML")
                .str("if", "${{ always() }}")
                .str("uses", UPLOAD_ARTIFACT)
                .entry(
                    "with",
                    MapBuilder::new()
                        .str("name", format!("results-{group}-{PLATFORM}"))
                        .str("path", templated(&first.results_dir()))
                        .str("if-no-files-found", "warn")
                        .build(),
                )
                .build(),
        );
        let include = Node::Seq(
            members
                .iter()
                .map(|j| {
                    let toolchains = j
                        .caches
                        .iter()
                        .find(|c| c.path.starts_with("target/"))
                        .and_then(|c| c.key.strip_prefix(&format!("build-{}-", j.target)))
                        .unwrap_or_default()
                        .to_string();
                    MapBuilder::new()
                        .str("platform", j.platform.clone())
                        .str("target", j.target.clone())
                        .str("toolchains", toolchains)
                        .build()
                })
                .collect(),
        );
        let needs: Vec<String> = {
            let mut n: Vec<String> = Vec::new();
            for j in &members {
                for id in &j.needs {
                    let g = jobs.iter().find(|o| &o.id == id).map(|o| o.group.clone());
                    if let Some(g) = g.filter(|g| !n.contains(g)) {
                        n.push(g);
                    }
                }
            }
            n
        };
        let title = match first.kind {
            JobKind::Build => "Check and build",
            JobKind::Test(_) => "Test",
        };
        let mut j = MapBuilder::new().str("name", format!("{title} ({group}) {PLATFORM}"));
        if !needs.is_empty() {
            j = j.entry("needs", strs(needs));
        }
        let j = j
            .entry(
                "strategy",
                MapBuilder::new()
                    .comment("One platform's failure never cancels another's run.")
                    .entry("fail-fast", Node::Bool(false))
                    .entry(
                        "matrix",
                        MapBuilder::new().entry("include", include).build(),
                    )
                    .build(),
            )
            .str("runs-on", "ubuntu-24.04")
            .str("container", IMAGE)
            .entry(
                "timeout-minutes",
                Node::Int(
                    members
                        .iter()
                        .map(|j| j.timeout_minutes)
                        .max()
                        .unwrap_or(60)
                        .into(),
                ),
            )
            .entry("steps", Node::Seq(steps))
            .build();
        jobs_map = jobs_map.blank();
        for line in group_comment(group, &members) {
            jobs_map = jobs_map.comment(line);
        }
        jobs_map = jobs_map.entry(group.clone(), j);
    }
    let report_steps = vec![
        checkout,
        MapBuilder::new()
            .str("name", "Download every job's results")
            .str("uses", DOWNLOAD_ARTIFACT)
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
            .str("uses", UPLOAD_ARTIFACT)
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
        .entry("needs", strs(groups.iter().cloned()))
        .comment(
            "Runs whatever happened to the other jobs: partial results are still worth a report.",
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
        .comment(
            "Merges every job's results into one report and compares it with the committed one.",
        )
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

/// What a group's matrix job runs, and for which platforms.
fn group_comment(group: &str, members: &[&Job]) -> Vec<String> {
    let mut lines = vec![match members[0].kind {
        JobKind::Build => "Each platform's check and build stages, every build lane.".to_string(),
        JobKind::Test(_) => {
            format!("Each platform's tests in the `{group}` lane, after the builds.")
        }
    }];
    let mut line = String::from("Platforms:");
    for j in members {
        if line.len() + j.platform.len() + 1 > 96 {
            lines.push(std::mem::take(&mut line));
            line.push_str("   ");
        }
        line.push(' ');
        line.push_str(&j.platform);
    }
    lines.push(line);
    let mut notes: Vec<String> = Vec::new();
    for j in members {
        for n in &j.notes {
            if !notes.contains(n) {
                notes.push(n.clone());
            }
        }
    }
    lines.extend(notes);
    lines
}
