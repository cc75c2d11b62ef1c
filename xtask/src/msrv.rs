//! `cargo xtask msrv`: the Rust floor that `platforms/rust/msrv-policy.toml`
//! implies from each platform's packaged Rust, against the workspace's `rust-version`.

use std::path::PathBuf;

use anyhow::Result;

use crate::host::Host;
use crate::model::{self, Lane};
use crate::platform_data::msrv;
use crate::toolchain::{self, HostProbe};
use crate::workspace::Workspace;
use crate::{exit, BadInput};

/// Compute the MSRV floor the policy implies and compare the workspace's `rust-version` with it.
///
/// The policy (`platforms/rust/msrv-policy.toml`) says which OS releases
/// count, which channels and whether alternative compiler packages count,
/// and which platforms are exceptions; the packaged versions come from
/// `platforms/rust/status.toml` (`cargo xtask platforms refresh`).
///
/// With `--verify`, the workspace is also checked (`cargo check
/// --all-targets`) with two real compilers unpacked from the archive: the
/// oldest packaged compiler the policy counts (on the platform that holds
/// the floor, under qemu-user where the archive has no build of it for this
/// host), and one of exactly the declared `rust-version` where the archive
/// has one for this host. A failure names the crate and the first error.
/// The matrix runs the same check as its `msrv-floor` and `msrv-declared`
/// cells (`msrv-lane` in matrix/matrix.toml).
///
/// Exit status: 0 when the workspace's `rust-version` is within the floor
/// (or none is declared) and every verifying build passed, 1 when a platform
/// that counts packages an older Rust or a verifying build failed.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The cargo workspace [default: this repository].
    #[arg(long, value_name = "PATH")]
    pub workspace: Option<PathBuf>,
    /// Directory holding `platforms/`, `matrix/` and `vm-images/` [default: this repository].
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Judge as of this day (YYYY-MM-DD) [default: today].
    #[arg(long, value_name = "DATE")]
    pub today: Option<String>,
    /// Also build the workspace with the floor's packaged compiler and with
    /// one of exactly its `rust-version`.
    #[arg(long)]
    pub verify: bool,
}

pub fn run(args: Args) -> Result<u8> {
    let dirs = model::DataDirs::resolve(args.data.as_deref(), None);
    let model = model::load(&dirs)?;
    let Some(policy) = &model.msrv_policy else {
        return Err(BadInput(format!(
            "no MSRV policy: write {}",
            dirs.msrv_policy().display()
        ))
        .into());
    };
    let today = match &args.today {
        Some(d) => model::msrv_policy::parse_date(d)
            .ok_or_else(|| BadInput(format!("--today {d}: not a YYYY-MM-DD date")))?,
        None => time::OffsetDateTime::now_utc().date(),
    };
    let workspace =
        crate::platform_data::status::workspace_msrv_at(&model, args.workspace.as_deref());
    if let Err(why) = &workspace {
        eprintln!("note: {why}");
    }
    let outcome = msrv::compute(
        &model.platforms,
        policy,
        &model.rust_status,
        workspace.ok(),
        today,
        &model.lifecycle,
    );
    print!("{}", outcome.render());
    let verified = if args.verify {
        verify(&model, &outcome, args.workspace.as_deref())?
    } else {
        true
    };
    Ok(if outcome.too_old.is_empty() && verified {
        exit::OK
    } else {
        exit::FAILURES
    })
}

fn verify(
    model: &model::Model,
    outcome: &msrv::Outcome,
    workspace: Option<&std::path::Path>,
) -> Result<bool> {
    let root = workspace.map_or_else(crate::repo_root, std::path::Path::to_path_buf);
    let ws = Workspace::load(&root)?;
    let host = Host::probe()?;
    let tools = HostProbe::new(ws.matrix_dir().join("cache"));
    let packages: Vec<String> = ws
        .packages
        .iter()
        .filter(|p| !model.matrix.exclude_packages.contains(&p.name))
        .map(|p| p.name.clone())
        .collect();
    // The same resolution as the matrix's `msrv-floor` and `msrv-declared` cells.
    let checks = toolchain::msrv::checks(model, outcome, &host, &tools);
    if outcome.floor.is_none() {
        println!("\nverify: the policy implies no floor; nothing to build it with");
    }
    match outcome.workspace {
        None => println!("\nverify: the workspace declares no rust-version"),
        Some(v) if !checks.iter().any(|c| c.lane == Lane::MsrvDeclared) => println!(
            "\nverify exactly the declared rust-version {}: unavailable: platforms/ has no platform of this host's target {}",
            v.short(),
            host.triple
        ),
        Some(_) => {}
    }
    // The floor's compiler may be the declared version's too: build once.
    let mut seen = Vec::new();
    let mut all_ok = true;
    for check in checks {
        let why = &check.why;
        println!();
        let toolchain = match check.toolchain {
            Ok(t) => t,
            Err(missing) => {
                println!("verify {why}: unavailable: {}", missing.reason);
                continue;
            }
        };
        let spec = toolchain.packaged.clone().expect("packaged toolchain");
        let key = (spec.label(), spec.target.clone());
        if seen.contains(&key) {
            println!("verify {why}: {} (built above)", spec.label());
            continue;
        }
        seen.push(key);
        println!(
            "verify {why}: {} for {}, {}",
            spec.label(),
            spec.target,
            spec.how()
        );
        let progress = |msg: &str| eprintln!("  {msg}");
        crate::lanes::packaged::ensure(&spec, VERIFY_TIMEOUT, &progress)?;
        let run = crate::lanes::cargo::run(
            crate::lanes::cargo::CargoStage::Check,
            &ws,
            &toolchain,
            &packages,
            VERIFY_TIMEOUT,
            &mut |msg: &str| eprintln!("  {msg}"),
        )?;
        if run.success() {
            println!("  ok: cargo check --all-targets passed");
            continue;
        }
        all_ok = false;
        let failure = match &run.first_error {
            Some(d) => ws.describe_error(d),
            None => format!("the workspace: {}", run.record.describe()),
        };
        println!("  FAILED: {failure}");
    }
    Ok(all_ok)
}

/// How long one verifying build may take (an emulated compiler is slow).
const VERIFY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3600);
