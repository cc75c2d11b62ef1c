//! `cargo xtask ci`: the CI configuration (GitLab, GitHub Actions, Cirrus)
//! generated from `matrix/` and `platforms/`, so that the data stays the one
//! source of truth for what runs where.
//!
//! Generation is a pure function of the model: one build job per platform
//! and one test job per platform and test lane (`ci/jobs.rs`), each running
//! `cargo xtask matrix` with the tool's own filters and uploading its results
//! and JUnit XML, a test job starting when its platform's build ends; then
//! one `report` job that merges them (`cargo xtask report merge`), renders
//! the report, appends the run to the history and compares it with the
//! committed `reports/status.json`. `ci plan` estimates the pipeline's wall
//! time on N runners from a results file's cell durations (`ci/plan.rs`).

mod cirrus;
mod github;
mod gitlab;
mod jobs;
pub mod plan;
pub mod yaml;

pub use jobs::{ci_host, jobs, Cache, Job, JobKind};

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::exit;
use crate::model::{self, Model};
use crate::paths::write_atomic;
use crate::results::ResultsFile;

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
/// closed in June 2026). Each has one build job per platform and one test job
/// per platform and test lane, a test job starting when its platform's build
/// ends, and a final job that merges the jobs' results into one report.
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
    /// Print the jobs, what each waits for, and the pipeline's wall time on N runners.
    Plan(PlanArgs),
}

/// The generated jobs with their durations, summed from the cells of a
/// results file, and the pipeline's wall time on N runners (list
/// scheduling, the job with the longest chain behind it first).
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Runner counts to estimate for (repeat or separate with commas).
    #[arg(long, value_delimiter = ',', value_name = "N", default_values_t = [1usize, 4, 16])]
    pub runners: Vec<usize>,
    /// Results file whose cell durations are used [default: <target>/matrix/results.json
    /// when it exists, else reports/status.json].
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
    /// Directory holding `platforms/`, `matrix/` and `vm-images/` [default: this repository].
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
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
        Action::Plan(p) => return plan_run(p),
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

fn plan_run(args: PlanArgs) -> Result<u8> {
    if args.runners.contains(&0) {
        anyhow::bail!(crate::BadInput(
            "--runners: a pipeline needs at least one runner".into()
        ));
    }
    let model = model::load(&model::DataDirs::resolve(args.data.as_deref(), None))?;
    let path = match args.results {
        Some(p) => p,
        None => {
            let local = crate::repo_root().join("target/matrix/results.json");
            if local.exists() {
                local
            } else {
                crate::repo_root().join("reports/status.json")
            }
        }
    };
    let results = ResultsFile::load(&path)?;
    print!(
        "{}",
        plan::render(
            &jobs(&model),
            &results,
            &path.display().to_string(),
            &args.runners
        )
    );
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

/// The three files, generated from the model.
pub fn generate(model: &Model) -> Vec<GeneratedFile> {
    let jobs = jobs(model);
    vec![
        GeneratedFile {
            path: FILES[0],
            text: gitlab::render(&jobs),
        },
        GeneratedFile {
            path: FILES[1],
            text: github::render(&jobs),
        },
        GeneratedFile {
            path: FILES[2],
            text: cirrus::render(&jobs),
        },
    ]
}
