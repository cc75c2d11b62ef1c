//! `cargo xtask test`: the project's test suite, as CI runs it (`.ci/run`).

use anyhow::Result;

use crate::cmd::Cmd;
use crate::exit;

/// Run the whole test suite: every crate's tests, slow ones included.
///
/// Slow tests (real QEMU guests, cross builds, the report in headless
/// Chromium) run because this sets `XTASK_SLOW_TESTS=1`; with it, a missing
/// prerequisite is a test failure, so `cargo xtask setup` runs first unless
/// `--no-setup` is given. `--fast` leaves the slow tests out (they print a
/// SKIPPED line each).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Skip the slow tests.
    #[arg(long)]
    pub fast: bool,
    /// Do not run `cargo xtask setup` first.
    #[arg(long)]
    pub no_setup: bool,
    /// Extra arguments for `cargo test` (after `--`), e.g. a test name filter.
    #[arg(last = true)]
    pub cargo_args: Vec<String>,
}

pub fn run(args: Args) -> Result<u8> {
    if !args.fast && !args.no_setup {
        let code = crate::needs::install::run(&crate::model::DataDirs::resolve(None, None), false)?;
        if code != exit::OK {
            eprintln!("warning: setup is incomplete; slow tests whose prerequisites are missing will fail");
        }
    }
    let root = crate::repo_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Cmd::new(cargo)
        .args(["test", "--workspace", "--locked"])
        .args(&args.cargo_args)
        .cwd(&root);
    if !args.fast {
        cmd = cmd.env("XTASK_SLOW_TESTS", "1");
    }
    eprintln!("$ {}", crate::cmd::shell_quote_argv(&cmd.argv()));
    let record = cmd.run_inherited()?;
    Ok(if record.success() {
        exit::OK
    } else {
        exit::FAILURES
    })
}
