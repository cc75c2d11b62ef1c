//! What the VM lane needs on a Debian host, derived from `vm-images/`: the
//! packages `cargo xtask setup` installs and the prerequisites `cargo xtask
//! doctor` checks.
//!
//! The guests' own packages (kernel, busybox, libc) come from the archive per
//! architecture into the cache (`crate::apt`), without installing anything
//! on the host; the host needs only the emulators, their firmware and the
//! tools that unpack and download.

use std::collections::BTreeSet;

use crate::model::Model;
use crate::requirements::Prereq;
use crate::requirements::{AptPackage, Requirement, SetupStep};

/// The Debian package that ships a QEMU system emulator.
pub fn qemu_package(emulator: &str) -> &'static str {
    match emulator {
        "qemu-system-x86_64" | "qemu-system-i386" => "qemu-system-x86",
        "qemu-system-aarch64" | "qemu-system-arm" => "qemu-system-arm",
        "qemu-system-ppc64" | "qemu-system-ppc" => "qemu-system-ppc",
        "qemu-system-mips64el"
        | "qemu-system-mips"
        | "qemu-system-mipsel"
        | "qemu-system-mips64" => "qemu-system-mips",
        _ => "qemu-system-misc",
    }
}

/// Host tools the lane runs, with the program checked and its package:
/// `dpkg-deb` unpacks guest packages, `xz` and `zstd` kernels and modules,
/// `curl` downloads the BSD images.
const TOOLS: [(&str, &str); 5] = [
    ("apt-get", "apt"),
    ("dpkg-deb", "dpkg"),
    ("xz", "xz-utils"),
    ("zstd", "zstd"),
    ("curl", "curl"),
];

/// The images' emulators, each once.
fn emulators(model: &Model) -> Vec<&str> {
    let mut seen = BTreeSet::new();
    model
        .vm_images
        .values()
        .map(|i| i.qemu.as_str())
        .filter(|e| seen.insert(*e))
        .collect()
}

/// The images' firmware files and their packages, each once.
fn firmware(model: &Model) -> Vec<(&str, &str)> {
    let mut seen = BTreeSet::new();
    model
        .vm_images
        .values()
        .filter_map(|i| i.firmware.as_ref())
        .map(|f| (f.path.as_str(), f.package.as_str()))
        .filter(|f| seen.insert(*f))
        .collect()
}

/// Debian packages the VM lane uses, for `cargo xtask setup`.
pub fn setup_steps(model: &Model) -> Vec<SetupStep> {
    if model.vm_images.is_empty() {
        return Vec::new();
    }
    // The machine image's qemu-utils backport `Breaks:` the suite's
    // qemu-system; both are held to the version of the host's own suite.
    let mut packages = vec![
        AptPackage::at_suite_version("qemu-utils"),
        AptPackage::at_suite_version("qemu-system-common"),
    ];
    let mut names: Vec<&str> = emulators(model).into_iter().map(qemu_package).collect();
    names.extend(firmware(model).into_iter().map(|(_, package)| package));
    names.extend(
        TOOLS
            .iter()
            .map(|(_, package)| *package)
            .filter(|p| *p != "apt"),
    );
    let mut seen = BTreeSet::new();
    packages.extend(
        names
            .into_iter()
            .filter(|n| seen.insert(*n))
            .map(AptPackage::any),
    );
    vec![
        SetupStep::new("vm", Requirement::Apt(packages)),
        // Not the lane's: tests cross-check the guest runner script with the
        // host's busybox and the initramfs writer with GNU cpio.
        SetupStep::new("vm-tests", Requirement::apt(&["busybox-static", "cpio"])),
        // The real-QEMU tests of vhost-user-input and -rng (`backport.rs`).
        SetupStep::new(
            "vm-tests",
            Requirement::Xtask {
                what: "qemu-system-x86_64 from backports",
                marker: super::backport::marker(),
                args: &["vm-images", "qemu-backport"],
            },
        ),
    ]
}

/// The VM lane's prerequisites for `cargo xtask doctor`.
pub fn prerequisites(model: &Model) -> Vec<Prereq> {
    let mut list = Vec::new();
    for emulator in emulators(model) {
        let package = qemu_package(emulator);
        list.push(
            Prereq::program(
                "vm",
                emulator,
                &["--version"],
                &format!("apt-get install --no-install-recommends {package}"),
            )
            .covering(&[package]),
        );
    }
    if list.is_empty() {
        return list;
    }
    for (program, package) in TOOLS {
        list.push(
            Prereq::program(
                "vm",
                program,
                &["--version"],
                &format!("apt-get install {package}"),
            )
            .covering(&[package]),
        );
    }
    for (path, package) in firmware(model) {
        let name = std::path::Path::new(path)
            .file_name()
            .map_or(path.into(), |n| n.to_string_lossy());
        list.push(
            Prereq {
                lane: "vm",
                name: format!("{name} (firmware)"),
                found: if std::path::Path::new(path).is_file() {
                    Ok(path.into())
                } else {
                    Err(format!("{path} is missing"))
                },
                install: format!("apt-get install {package}"),
                covers: Vec::new(),
            }
            .covering(&[package]),
        );
    }
    list
}
