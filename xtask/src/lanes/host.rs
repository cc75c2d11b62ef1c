//! The host lane's runner: test executables run directly on this machine.

use super::{CellCtx, ExeRun, Payload, RunnerOutcome, RunnerSpec};
use crate::cmd::Cmd;
use crate::host::Host;
use crate::libtest::{self, Ending};
use crate::model::Platform;
use crate::toolchain::Missing;

pub(super) fn resolve(platform: &Platform, host: &Host) -> Result<RunnerSpec, Missing> {
    if platform.target == host.triple {
        Ok(RunnerSpec::Native)
    } else {
        Err(Missing::new(format!("{} executables do not run on this {} host", platform.target, host.triple), None))
    }
}

pub(super) fn run_tests(payload: &Payload, ctx: &CellCtx<'_>) -> anyhow::Result<RunnerOutcome> {
    let mut outcome = RunnerOutcome::default();
    let bin_dir = payload.bin_dir();
    for (i, exe) in payload.tests.iter().enumerate() {
        (ctx.progress)(&format!("testing {}::{} ({}/{})", exe.package, exe.name, i + 1, payload.tests.len()));
        let mut cmd = Cmd::new(&exe.path)
            .args(libtest::JSON_ARGS)
            .env("RUSTC_BOOTSTRAP", "1")
            .env("CARGO_MANIFEST_DIR", &exe.manifest_dir)
            .cwd(&exe.manifest_dir)
            .timeout(ctx.remaining());
        if let Some(dir) = &bin_dir {
            cmd = cmd.env("MATRIX_BIN_DIR", dir);
        }
        let finished = cmd.run()?;
        let ending = if finished.record.timed_out {
            Ending::TimedOut
        } else if let Some(code) = finished.record.exit_code {
            Ending::Exited(code)
        } else if let Some(sig) = finished.record.signal {
            Ending::Signalled(sig)
        } else {
            Ending::Lost
        };
        outcome.runs.push(ExeRun {
            package: exe.package.clone(),
            name: exe.name.clone(),
            stdout: finished.stdout_str(),
            ending,
            record: Some(finished.record),
        });
        if ending == Ending::TimedOut || crate::cmd::cancelled() {
            break;
        }
    }
    Ok(outcome)
}
