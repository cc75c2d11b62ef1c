//! Runner resolution: for each test cell, where its executables will run
//! (this host, qemu-user with a sysroot, a guest under QEMU) and everything
//! that choice fixes, decided before anything runs. The lanes (`crate::lanes`)
//! only run what this resolved; the plan only asks this module.

pub mod qemu_user;
pub mod vm;

use serde::Serialize;

use crate::host::Host;
use crate::model::{Lane, Model, Platform, Stage};
use crate::toolchain::Missing;

/// Where a cell's test executables run, resolved before anything runs.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum RunnerSpec {
    /// `check` and `build` run nothing.
    None,
    /// Directly on this host.
    Native,
    /// Inside a guest booted under QEMU.
    Vm(Box<vm::VmSpec>),
    /// Under qemu-user with a Debian sysroot.
    QemuUser(qemu_user::QemuUserSpec),
}

/// Does `lane` make sense as a test lane for `platform` on this host at all?
/// (Whether it can run *now* is [`resolve_runner`]'s question.)
pub fn applies(lane: Lane, platform: &Platform, host: &Host) -> bool {
    match lane {
        Lane::Host => platform.target == host.triple,
        Lane::QemuUser => platform.qemu_user.is_some() && platform.target != host.triple,
        Lane::Vm => platform.vm_image.is_some(),
        Lane::Cross
        | Lane::CrossRs
        | Lane::Packaged
        | Lane::PackagedVm
        | Lane::MsrvFloor
        | Lane::MsrvDeclared => false,
    }
}

pub fn resolve_runner(
    stage: Stage,
    lane: Lane,
    platform: &Platform,
    model: &Model,
    host: &Host,
) -> Result<RunnerSpec, Missing> {
    if stage != Stage::Test {
        return Ok(RunnerSpec::None);
    }
    match lane {
        Lane::Host => resolve_host(platform, host),
        Lane::Vm => vm::resolve(platform, model),
        Lane::QemuUser => qemu_user::resolve(platform, model),
        other => Err(Missing::new(
            format!("the `{other}` test lane is not available in this build of xtask"),
            None,
        )),
    }
}

fn resolve_host(platform: &Platform, host: &Host) -> Result<RunnerSpec, Missing> {
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
