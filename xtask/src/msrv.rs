//! `cargo xtask msrv`: the Rust floor that `platforms/rust/msrv-policy.toml`
//! implies from each platform's packaged Rust, against the workspace's `rust-version`.

use std::path::PathBuf;

use anyhow::Result;

use crate::model;
use crate::platform_data::msrv;
use crate::{exit, BadInput};

/// Compute the MSRV floor the policy implies and compare the workspace's `rust-version` with it.
///
/// The policy (`platforms/rust/msrv-policy.toml`) says which OS releases
/// count, which channels and whether alternative compiler packages count,
/// and which platforms are exceptions; the packaged versions come from
/// `platforms/rust/status.toml` (`cargo xtask platforms refresh`).
///
/// Exit status: 0 when the workspace's `rust-version` is within the floor
/// (or none is declared), 1 when a platform that counts packages an older Rust.
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
    Ok(if outcome.too_old.is_empty() {
        exit::OK
    } else {
        exit::FAILURES
    })
}
