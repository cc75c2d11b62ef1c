//! The host lane's runner: test executables run directly on this machine.

use super::{CellCtx, Payload, RunnerOutcome};
use crate::cmd::Cmd;

pub(super) fn run_tests(payload: &Payload, ctx: &CellCtx<'_>) -> anyhow::Result<RunnerOutcome> {
    super::run_each(
        payload,
        ctx,
        payload.bin_dir().as_deref(),
        |exe| Cmd::new(&exe.path),
        None,
        true,
    )
}
