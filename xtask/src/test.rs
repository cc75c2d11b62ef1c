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
    // Held until the tests end, then given back.
    let _huge_pages = if args.fast {
        None
    } else {
        HugePages::reserve(2)
    };
    let mut cmd = Cmd::new(&cargo)
        .args(["test", "--workspace", "--locked", "--no-fail-fast"])
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

/// Huge pages reserved for the run: `vu-sys`'s test of a hugetlbfs region
/// shrunk under its mapping (ignored in plain `cargo test`) needs two free
/// ones, which a machine rarely has. Where fewer are free, this raises
/// `vm.nr_hugepages` by what is missing (as root) and puts the old value back
/// when dropped; where it cannot, it says so, and that test fails.
struct HugePages {
    restore: Option<(std::path::PathBuf, u64)>,
}

impl HugePages {
    const SYSCTL: &'static str = "/proc/sys/vm/nr_hugepages";

    fn reserve(needed: u64) -> Option<Self> {
        if !cfg!(target_os = "linux") {
            return None;
        }
        let free = huge_pages_free()?;
        if free >= needed {
            return None;
        }
        let path = std::path::PathBuf::from(Self::SYSCTL);
        let total: u64 = std::fs::read_to_string(&path).ok()?.trim().parse().ok()?;
        let want = total + (needed - free);
        match std::fs::write(&path, want.to_string()) {
            Ok(()) if huge_pages_free().unwrap_or(0) >= needed => {
                eprintln!(
                    "test: reserved {} huge page(s) for the slow tests ({} {total} -> {want}, restored afterwards)",
                    needed - free,
                    path.display()
                );
            }
            Ok(()) => eprintln!(
                "warning: {} set to {want}, but fewer than {needed} huge pages are free; the huge-page test will fail",
                path.display()
            ),
            Err(e) => {
                eprintln!(
                    "warning: cannot write {} ({e}); the huge-page test needs {needed} free huge pages and will fail",
                    path.display()
                );
                return None;
            }
        }
        Some(Self {
            restore: Some((path, total)),
        })
    }
}

impl Drop for HugePages {
    fn drop(&mut self) {
        if let Some((path, total)) = self.restore.take() {
            if let Err(e) = std::fs::write(&path, total.to_string()) {
                eprintln!("warning: cannot restore {} to {total}: {e}", path.display());
            }
        }
    }
}

/// `HugePages_Free` from `/proc/meminfo`.
fn huge_pages_free() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_huge_pages_free(&meminfo)
}

fn parse_huge_pages_free(meminfo: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("HugePages_Free:"))
        .and_then(|v| v.trim().parse().ok())
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
    use super::{parse_huge_pages_free, test_args};

    #[test]
    fn huge_pages_free_is_read_from_meminfo() {
        let meminfo =
            "HugePages_Total:       2\nHugePages_Free:        1\nHugepagesize:       2048 kB\n";
        assert_eq!(parse_huge_pages_free(meminfo), Some(1));
        assert_eq!(parse_huge_pages_free("MemTotal: 1 kB\n"), None);
    }

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
