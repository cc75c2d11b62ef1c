//! `cargo xtask matrix`: resolve the plan, run every cell this host can run,
//! print the table, save the results and render the report.

use std::path::PathBuf;

use anyhow::Result;
use clap::ValueEnum;

use crate::exec::{Executor, RunOptions};
use crate::host::Host;
use crate::model::{self, DataDirs, Lane, Stage};
use crate::plan::{self, CellState, Filters};
use crate::results::{ResultsFile, WorkspaceInfo};
use crate::workspace::Workspace;
use crate::{exit, render};

/// Build and test the workspace on every platform in the matrix that this host can reach.
///
/// Cells run in dependency order (check, then build, then test, per platform)
/// on `--jobs` workers. A cell whose inputs are unchanged since its last
/// result is not run again (`--force` reruns), unless that result was an
/// infrastructure fault (an image or compiler that could not be made, a
/// guest that kept failing to boot). Cells this host cannot run are
/// listed as unavailable with the reason and the command that would enable
/// them. Results go to `<target>/matrix/results.json` after every cell; the
/// report is rendered at the end.
///
/// Exit status: 0 when nothing failed unexpectedly, 1 on a failing or
/// timed-out cell, 2 on bad input, 3 when the environment is missing
/// something, 130 when interrupted.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The cargo workspace to test (its directory or root Cargo.toml).
    #[arg(long, visible_alias = "manifest-path", value_name = "PATH")]
    pub workspace: Option<PathBuf>,
    /// Directory holding `platforms/`, `matrix/` and `vm-images/` [default: this repository].
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// The matrix file [default: <data>/matrix/matrix.toml].
    #[arg(long, value_name = "FILE")]
    pub matrix: Option<PathBuf>,
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Cells run at once [default: the number of CPUs]. Each running cell
    /// holds one slot: a build's cargo, or a guest's single virtual CPU.
    #[arg(long, short, value_name = "N")]
    pub jobs: Option<usize>,
    /// Memory guests may hold at once, in MiB [default: 3/4 of the available memory].
    /// Each guest holds its image's memory plus QEMU's overhead while it runs.
    #[arg(long, value_name = "MIB")]
    pub vm_memory: Option<u64>,
    /// Output format of the final table (progress goes to stderr).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Rerun cells even when their inputs are unchanged.
    #[arg(long)]
    pub force: bool,
    /// Keep starting cells after an unexpected failure.
    #[arg(long)]
    pub keep_going: bool,
    /// Rerun each failing test up to N times, alone, until it passes; one
    /// that then passes is reported as flaky ("flaky (passed 1 of 2)"), not
    /// as a pass, and one that never does as failed with its runs counted.
    /// Every test lane: in a guest, the reruns happen in the same boot.
    /// Without it, a failing test is never rerun.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub retries: u32,
    /// Run again up to N times what failed as infrastructure rather than as
    /// a test: a cell whose guest failed (no boot, QEMU died, results cut
    /// short), a test executable whose qemu-user emulator failed (no dynamic
    /// loader, its own error, killed from outside); the attempts are in the
    /// cell's provenance. A failing or crashing test is never retried here.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub infra_retries: u32,
    /// Print the resolved plan (each cell's toolchain, runner or reason) and stop.
    #[arg(long)]
    pub plan: bool,
    /// Do not render the report at the end.
    #[arg(long)]
    pub no_report: bool,
    /// Where the report goes [default: reports/ for this repository, <target>/matrix/report otherwise].
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Run `cargo xtask setup` first (installs what the lanes need; Debian, as root).
    #[arg(long)]
    pub setup: bool,
    /// Also write this run's cells as JUnit XML (one testsuite per cell), for CI test reports.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Also write this run's cells, and only them, as a results file: what a
    /// CI job uploads for `cargo xtask report merge`.
    #[arg(long, value_name = "FILE")]
    pub results_out: Option<PathBuf>,
}

/// Narrow the run; each flag repeats or takes a comma-separated list.
#[derive(Debug, Default, clap::Args)]
pub struct FilterArgs {
    /// Platform ids (`freebsd-14.3-x86_64`); `*` matches any run of characters.
    #[arg(long, value_delimiter = ',', value_name = "ID")]
    pub platform: Vec<String>,
    /// Operating systems (`linux`, `freebsd`, `openbsd`, `netbsd`).
    #[arg(long, value_delimiter = ',', value_name = "OS")]
    pub os: Vec<String>,
    /// Architectures (`x86_64`, `aarch64`, …).
    #[arg(long, value_delimiter = ',', value_name = "ARCH")]
    pub arch: Vec<String>,
    /// Rust target triples.
    #[arg(long, value_delimiter = ',', value_name = "TRIPLE")]
    pub target: Vec<String>,
    /// Stages.
    #[arg(long, value_delimiter = ',', value_enum)]
    pub stage: Vec<StageArg>,
    /// Lanes (`host`, `cross`, `cross-rs`, `qemu-user`, `vm`, `packaged`, `packaged-vm`,
    /// `msrv-floor`, `msrv-declared`; `msrv` is both: `cargo xtask msrv --verify`'s check).
    #[arg(long, value_delimiter = ',', value_enum)]
    pub lane: Vec<LaneArg>,
    /// Workspace packages.
    #[arg(long, short, value_delimiter = ',', value_name = "NAME")]
    pub package: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StageArg {
    Check,
    Build,
    Test,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LaneArg {
    Host,
    Cross,
    CrossRs,
    QemuUser,
    Vm,
    Packaged,
    PackagedVm,
    /// Both MSRV lanes.
    Msrv,
    MsrvFloor,
    MsrvDeclared,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Markdown,
}

impl FilterArgs {
    pub fn to_filters(&self) -> Filters {
        Filters {
            platforms: self.platform.clone(),
            os: self.os.clone(),
            arch: self.arch.clone(),
            target: self.target.clone(),
            stage: self
                .stage
                .iter()
                .map(|s| match s {
                    StageArg::Check => Stage::Check,
                    StageArg::Build => Stage::Build,
                    StageArg::Test => Stage::Test,
                })
                .collect(),
            lane: self
                .lane
                .iter()
                .flat_map(|l| match l {
                    LaneArg::Host => vec![Lane::Host],
                    LaneArg::Cross => vec![Lane::Cross],
                    LaneArg::CrossRs => vec![Lane::CrossRs],
                    LaneArg::QemuUser => vec![Lane::QemuUser],
                    LaneArg::Vm => vec![Lane::Vm],
                    LaneArg::Packaged => vec![Lane::Packaged],
                    LaneArg::PackagedVm => vec![Lane::PackagedVm],
                    LaneArg::Msrv => vec![Lane::MsrvFloor, Lane::MsrvDeclared],
                    LaneArg::MsrvFloor => vec![Lane::MsrvFloor],
                    LaneArg::MsrvDeclared => vec![Lane::MsrvDeclared],
                })
                .collect(),
            package: self.package.clone(),
        }
    }
}

pub fn run(args: Args) -> Result<u8> {
    if args.setup {
        let code =
            crate::needs::install::run(&DataDirs::resolve(args.data.as_deref(), None), false)?;
        if code != exit::OK {
            eprintln!("warning: setup is incomplete; cells that need what it would install stay unavailable");
        }
    }
    let dirs = DataDirs::resolve(args.data.as_deref(), args.matrix.as_deref());
    let model = model::load(&dirs)?;
    let repo = crate::repo_root();
    let workspace_path = args.workspace.clone().unwrap_or_else(|| repo.clone());
    let workspace = Workspace::load(&workspace_path)?;
    let own_workspace = workspace.root == repo.canonicalize().unwrap_or(repo.clone());
    let host = Host::probe()?;
    let filters = args.filters.to_filters();
    let mut plan = plan::resolve(&model, &host, &workspace, &filters, own_workspace)?;
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
    if plan.cells.is_empty() {
        return Err(crate::BadInput(
            "the filters select no cell; `cargo xtask matrix --plan` lists them all".into(),
        )
        .into());
    }
    let hint = setup_hint(&plan);
    if args.plan {
        print!("{}", describe_plan(&plan));
        if let Some(hint) = hint {
            eprintln!("{hint}");
        }
        return Ok(exit::OK);
    }
    if let Some(hint) = hint {
        eprintln!("{hint}");
    }

    plan::resolve_tiers(
        &mut plan,
        workspace.matrix_dir().join("cache").join("tiers.json"),
    );
    crate::cmd::install_interrupt_handler()?;
    let results_path = workspace.matrix_dir().join("results.json");
    let rust_version =
        crate::platform_data::status::workspace_msrv(&workspace, &model.matrix.exclude_packages)
            .ok()
            .map(|v| v.short());
    let info = WorkspaceInfo {
        name: workspace.name.clone(),
        root: workspace.root.display().to_string(),
        rust_version,
    };
    let mut results = ResultsFile::load_or_new(&results_path, info.clone());
    // The report describes the workspace as it is now (its name, and the
    // rust-version the verdicts compare with).
    results.workspace = info;
    let reporter = crate::progress::reporter();
    let executor = Executor {
        workspace: &workspace,
        host: &host,
        results_path: results_path.clone(),
        reporter: &*reporter,
    };
    let options = RunOptions {
        jobs: args.jobs.unwrap_or(host.cpus),
        vm_memory_mib: args
            .vm_memory
            .unwrap_or_else(crate::budget::default_memory_mib),
        force: args.force,
        keep_going: args.keep_going,
        retries: args.retries,
        infra_retries: args.infra_retries,
    };
    let summary = executor.run(&plan, &mut results, &options)?;

    match args.format {
        Format::Table => print!("{}", render::table::text(&summary.cells)),
        Format::Json => print!("{}", render::table::json(&summary.cells)),
        Format::Markdown => print!("{}", render::table::markdown(&summary.cells)),
    }
    if let Some(path) = &args.junit {
        let xml = render::junit::render(&format!("{} matrix", workspace.name), &summary.cells);
        crate::paths::write_atomic(path, xml.as_bytes())?;
        eprintln!("junit: {}", path.display());
    }
    if let Some(path) = &args.results_out {
        let mut own = ResultsFile::new(results.workspace.clone());
        for cell in &summary.cells {
            own.upsert(cell.clone());
        }
        own.save(path)?;
        eprintln!("this run's results: {}", path.display());
    }
    let failures = summary.unexpected_failures();
    let adopted = match summary.adopted {
        0 => String::new(),
        n => format!(", {n} took the result of a cell that did the same run"),
    };
    eprintln!(
        "\n{} cells: {} ran, {} unchanged and reused{adopted}, {} unexpected failure{}; results in {}",
        summary.cells.len(),
        summary.ran,
        summary.reused,
        failures,
        if failures == 1 { "" } else { "s" },
        results_path.display()
    );
    if summary.ran > 1 {
        eprintln!(
            "wall time {:.1}s for {:.1}s of cell time ({:.2}×)",
            summary.wall_secs,
            summary.cell_secs,
            if summary.cell_secs > 0.0 {
                summary.wall_secs / summary.cell_secs
            } else {
                1.0
            }
        );
    }
    if !summary.not_run.is_empty() {
        eprintln!(
            "{} cells not run{}: {}",
            summary.not_run.len(),
            if summary.interrupted {
                " (interrupted)"
            } else {
                " after the first failure (use --keep-going)"
            },
            summary.not_run.join(", ")
        );
    }
    if !args.no_report {
        let out_dir = args.report_dir.clone().unwrap_or_else(|| {
            if own_workspace {
                repo.join("reports")
            } else {
                workspace.matrix_dir().join("report")
            }
        });
        let written = render::report::write(&model, &results, &out_dir)?;
        eprintln!("report: {}", written.display());
    }
    Ok(if summary.interrupted {
        exit::INTERRUPTED
    } else if failures > 0 {
        exit::FAILURES
    } else {
        exit::OK
    })
}

/// One line when cells are unavailable for want of what `cargo xtask setup` installs.
pub fn setup_hint(plan: &plan::Plan) -> Option<String> {
    let n = plan
        .cells
        .iter()
        .filter(
            |c| matches!(&c.state, CellState::Unavailable { enable: Some(e), .. } if e.is_setup()),
        )
        .count();
    (n > 0).then(|| {
        format!(
            "note: {n} cell{} unavailable until `cargo xtask setup` installs what {} (run it as root, or pass --setup)",
            if n == 1 { " is" } else { "s are" },
            if n == 1 { "it needs" } else { "they need" }
        )
    })
}

/// One line per cell: what would run, with what, or why not.
pub fn describe_plan(plan: &plan::Plan) -> String {
    let mut out = String::new();
    for cell in &plan.cells {
        let what = match &cell.state {
            CellState::Ready(spec) => format!(
                "ready: {}, linker {}, {}runner {}",
                spec.toolchain.describe(),
                spec.toolchain.linker.as_str(),
                match &cell.same_as {
                    Some(same) => format!("takes the result of {} when it runs, ", same.id),
                    None => String::new(),
                },
                serde_json::to_value(&spec.runner)
                    .ok()
                    .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_string))
                    .unwrap_or_default()
            ),
            CellState::Unavailable { reason, enable } => match enable {
                Some(e) => format!("unavailable: {reason} (enable: {e})"),
                None => format!("unavailable: {reason}"),
            },
            CellState::Skipped { reason } => format!("skipped: {reason}"),
        };
        out.push_str(&format!("{:<44} {what}\n", cell.id));
    }
    out
}
