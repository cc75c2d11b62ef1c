//! What the VM lane needs on a Debian host: the packages `cargo xtask setup`
//! installs and the prerequisites `cargo xtask doctor` checks.

use crate::doctor::Prereq;

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

/// Debian packages the VM lane uses, for `cargo xtask setup`. The guests'
/// own packages (kernel, busybox, libc) come from the archive per
/// architecture, into the cache, without installing anything on the host.
///
/// qemu-system 7.2 may need `qemu-utils`/`qemu-system-common` downgraded to
/// the release's version first (see FACTS.md); setup handles the versions.
pub fn setup_steps() -> Vec<&'static str> {
    vec![
        "qemu-system-x86",
        "qemu-system-arm",
        "qemu-system-ppc",
        "qemu-system-misc",
        "qemu-system-mips",
        // UEFI firmware for the aarch64 BSD guests.
        "qemu-efi-aarch64",
        // Unpacking guest packages, modules and images; downloading BSD images.
        "dpkg",
        "xz-utils",
        "zstd",
        "curl",
    ]
}

/// The VM lane's prerequisites for `cargo xtask doctor`.
pub fn prerequisites() -> Vec<Prereq> {
    let mut list = Vec::new();
    for emulator in [
        "qemu-system-x86_64",
        "qemu-system-i386",
        "qemu-system-aarch64",
        "qemu-system-arm",
        "qemu-system-ppc64",
        "qemu-system-s390x",
        "qemu-system-mips64el",
        "qemu-system-riscv64",
    ] {
        list.push(Prereq::program(
            "vm",
            emulator,
            &["--version"],
            &format!(
                "apt-get install --no-install-recommends {}",
                qemu_package(emulator)
            ),
        ));
    }
    list.push(Prereq::program(
        "vm",
        "apt-get",
        &["--version"],
        "Debian's apt (the guests' packages come from the archive)",
    ));
    list.push(Prereq::program(
        "vm",
        "dpkg-deb",
        &["--version"],
        "apt-get install dpkg",
    ));
    list.push(Prereq::program(
        "vm",
        "xz",
        &["--version"],
        "apt-get install xz-utils",
    ));
    list.push(Prereq::program(
        "vm",
        "curl",
        &["--version"],
        "apt-get install curl",
    ));
    let efi = "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd";
    list.push(Prereq {
        lane: "vm",
        name: "QEMU_EFI.fd (aarch64 BSD guests)".into(),
        found: if std::path::Path::new(efi).is_file() {
            Ok(efi.into())
        } else {
            Err(format!("{efi} is missing"))
        },
        install: "apt-get install qemu-efi-aarch64".into(),
    });
    list
}
