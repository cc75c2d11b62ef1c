//! What the VM lane needs installed, listed here so that `cargo xtask setup`
//! provides it before the lane itself exists in this tree; the VM lane's
//! module takes this list over when it lands.

use crate::setup::{AptPackage, Requirement, SetupStep};

pub fn setup_steps() -> Vec<SetupStep> {
    // The machine image's qemu-utils backport `Breaks:` the suite's
    // qemu-system; both are held to the version of the host's own suite.
    let mut packages = vec![
        AptPackage::at_suite_version("qemu-utils"),
        AptPackage::at_suite_version("qemu-system-common"),
    ];
    packages.extend(
        [
            "qemu-system-x86",
            "qemu-system-arm",
            "qemu-system-ppc",
            "qemu-system-misc",
            "qemu-system-mips",
            "busybox-static",
            "cpio",
        ]
        .into_iter()
        .map(AptPackage::any),
    );
    vec![SetupStep::new("vm", Requirement::Apt(packages))]
}
