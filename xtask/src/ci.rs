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

mod cirrus;
mod github;
mod gitlab;
mod jobs;
pub mod yaml;

pub use jobs::{jobs, Job};

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::exit;
use crate::model::{self, Model};
use crate::paths::write_atomic;

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
