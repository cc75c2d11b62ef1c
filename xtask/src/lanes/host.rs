//! The host lane's runner: test executables run directly on this machine.

use super::{CellCtx, Payload, RunnerOutcome, RunnerSpec};
use crate::cmd::Cmd;
use crate::host::Host;
use crate::model::Platform;
use crate::toolchain::Missing;

pub(super) fn resolve(platform: &Platform, host: &Host) -> Result<RunnerSpec, Missing> {
    if platform.target == host.triple {
        Ok(RunnerSpec::Native)
    } else {
        Err(Missing::new(
            format!(
                "{} executables do not run on this {} host",
                platform.target, host.triple
            ),
            None,
        ))
    }
}

pub(super) fn run_tests(payload: &Payload, ctx: &CellCtx<'_>) -> anyhow::Result<RunnerOutcome> {
    super::run_each(payload, ctx, payload.bin_dir().as_deref(), |exe| {
        Cmd::new(&exe.path)
    })
}
