//! `cargo xtask test`: the project's checks, as CI runs them (`.ci/run`):
//! formatting, clippy, then every crate's tests.

use anyhow::Result;

use crate::cmd::Cmd;
use crate::exit;

/// Run the project's checks: `cargo fmt --check`, clippy with warnings
/// denied, then every crate's tests, slow ones included.
///
/// Slow tests (real QEMU guests, cross builds, the report in headless
/// Chromium) are `#[ignore]`d in plain `cargo test`, which counts them as
/// ignored. This runs them (`--include-ignored`, with `XTASK_SLOW_TESTS=1`)
/// after `cargo xtask setup` has installed what they need, unless
/// `--no-setup` is given; a missing prerequisite is then a test failure.
/// `--fast` leaves the slow tests out (libtest lists them as ignored).
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
    let mut failed = Vec::new();
    let mut step = |name: &'static str, cmd: Cmd| -> Result<()> {
        eprintln!("$ {}", crate::cmd::shell_quote_argv(&cmd.argv()));
        if !cmd.run_inherited()?.success() {
            failed.push(name);
        }
        Ok(())
    };
    step(
        "cargo fmt --check",
        Cmd::new(&cargo)
            .args(["fmt", "--all", "--check"])
            .cwd(&root),
    )?;
    step(
        "cargo clippy",
        Cmd::new(&cargo)
            .args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--locked",
                "--",
                "-D",
                "warnings",
            ])
            .cwd(&root),
    )?;
    let mut cmd = Cmd::new(&cargo)
        .args(["test", "--workspace", "--locked"])
        .args(test_args(&args.cargo_args, !args.fast))
        .cwd(&root);
    if !args.fast {
        cmd = cmd.env("XTASK_SLOW_TESTS", "1");
    }
    step("cargo test", cmd)?;
    if failed.is_empty() {
        Ok(exit::OK)
    } else {
        eprintln!("failed: {}", failed.join(", "));
        Ok(exit::FAILURES)
    }
}

/// `cargo test`'s arguments: the user's, with `--include-ignored` passed to
/// the test harness (after `--`) when the slow tests are to run.
fn test_args(user: &[String], slow: bool) -> Vec<String> {
    let mut out = user.to_vec();
    if slow {
        if !out.iter().any(|a| a == "--") {
            out.push("--".into());
        }
        out.push("--include-ignored".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::test_args;

    #[test]
    fn include_ignored_goes_to_the_harness_after_any_user_arguments() {
        let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        assert_eq!(test_args(&[], false), s(&[]));
        assert_eq!(test_args(&[], true), s(&["--", "--include-ignored"]));
        assert_eq!(
            test_args(&s(&["-p", "xtask"]), true),
            s(&["-p", "xtask", "--", "--include-ignored"])
        );
        assert_eq!(
            test_args(&s(&["-p", "xtask", "--", "vm::"]), true),
            s(&["-p", "xtask", "--", "vm::", "--include-ignored"])
        );
    }
}
