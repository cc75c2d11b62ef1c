//! The QEMU command line of a guest, from its `vm-images/` data and what
//! this boot attaches. Nothing here is specific to one architecture: the
//! machine, CPU, memory, firmware and extra arguments all come from the data.

use std::path::{Path, PathBuf};

use crate::model::vm_image::DiskFormat;
use crate::model::VmImage;

/// The accelerator a guest runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// A Linux kernel booted directly.
#[derive(Debug, Clone)]
pub struct DirectKernel {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub append: String,
}

/// A virtio disk.
#[derive(Debug, Clone)]
pub struct Disk {
    pub path: PathBuf,
    pub format: DiskFormat,
    pub read_only: bool,
    /// Writes go to a temporary overlay that QEMU discards.
    pub snapshot: bool,
}

/// What one boot attaches, besides the machine itself.
#[derive(Debug, Clone, Default)]
pub struct Boot {
    pub kernel: Option<DirectKernel>,
    /// In order: the first is the boot disk of a downloaded image.
    pub disks: Vec<Disk>,
    /// Install media (x86 only: the machine's own CD-ROM drive).
    pub cdrom: Option<PathBuf>,
}

/// The arguments after the emulator's name. The console is the first serial
/// port, on a Unix socket QEMU listens on and waits for before the guest starts.
pub fn arguments(image: &VmImage, accel: Accel, console_socket: &Path, boot: &Boot) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    let mut push = |args: &[&str]| a.extend(args.iter().map(|s| s.to_string()));
    push(&["-M", &image.machine, "-accel", accel.as_str()]);
    if let Some(cpu) = &image.cpu {
        push(&["-cpu", cpu]);
    }
    let memory = image.memory_mib.to_string();
    push(&["-m", &memory, "-smp", "1"]);
    // No default devices (VGA, NIC, monitor); the guest's console is its first serial port.
    push(&[
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
    ]);
    let chardev = format!(
        "socket,id=console,path={},server=on,wait=on",
        console_socket.display()
    );
    push(&["-chardev", &chardev, "-serial", "chardev:console"]);
    if let Some(fw) = &image.firmware {
        push(&["-bios", &fw.path]);
    }
    if let Some(k) = &boot.kernel {
        let (kernel, initrd) = (
            k.kernel.display().to_string(),
            k.initrd.display().to_string(),
        );
        push(&["-kernel", &kernel, "-initrd", &initrd, "-append", &k.append]);
    }
    for (i, disk) in boot.disks.iter().enumerate() {
        let mut drive = format!(
            "file={},format={},if=none,id=disk{i}",
            escape(&disk.path),
            disk.format.as_str()
        );
        if disk.read_only {
            drive.push_str(",readonly=on");
        }
        if disk.snapshot {
            drive.push_str(",snapshot=on");
        }
        let mut device = format!("{},drive=disk{i}", image.virtio.blk_device());
        if i == 0 && boot.kernel.is_none() {
            device.push_str(",bootindex=1");
        }
        push(&["-drive", &drive, "-device", &device]);
    }
    if let Some(cd) = &boot.cdrom {
        let cd = cd.display().to_string();
        push(&["-cdrom", &cd]);
        push(&["-boot", "order=cd,once=d"]);
    }
    a.extend(image.extra_args.iter().cloned());
    a
}

/// Commas in QEMU option values are doubled.
fn escape(path: &Path) -> String {
    path.display().to_string().replace(',', ",,")
}

/// The kernel command line of a Linux guest.
pub fn linux_append(image: &VmImage, extra: &[&str]) -> String {
    let mut words = vec![
        format!("console={}", image.console),
        "panic=-1".into(),
        "quiet".into(),
    ];
    words.push(format!("vhu.payload={}", image.payload_device));
    if let Some(d) = &image.debian {
        words.extend(d.kernel_args.iter().cloned());
    }
    words.extend(extra.iter().map(|s| s.to_string()));
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_comes_from_the_data() {
        let dirs = crate::model::DataDirs::under(&crate::repo_root());
        let model = crate::model::Model::load(&dirs).unwrap();
        let image = &model.vm_images["debian12-ppc64el"];
        let boot = Boot {
            kernel: Some(DirectKernel {
                kernel: "/c/kernel".into(),
                initrd: "/c/initramfs.cpio".into(),
                append: linux_append(image, &[]),
            }),
            disks: vec![Disk {
                path: "/t/payload,1.tar".into(),
                format: DiskFormat::Raw,
                read_only: true,
                snapshot: false,
            }],
            cdrom: None,
        };
        let args = arguments(image, Accel::Tcg, Path::new("/t/console.sock"), &boot);
        expect_test::expect![[r#"
            -M pseries,x-vof=on,cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,cap-ccf-assist=off -accel tcg -m 1024 -smp 1
            -nodefaults -no-user-config -display none -no-reboot
            -chardev socket,id=console,path=/t/console.sock,server=on,wait=on -serial chardev:console
            -kernel /c/kernel -initrd /c/initramfs.cpio -append console=hvc0 panic=-1 quiet vhu.payload=/dev/vda
            -drive file=/t/payload,,1.tar,format=raw,if=none,id=disk0,readonly=on -device virtio-blk-pci,drive=disk0
            -vga none"#]]
        .assert_eq(
            &args
                .join(" ")
                .replace(" -nodefaults", "\n-nodefaults")
                .replace(" -chardev", "\n-chardev")
                .replace(" -kernel", "\n-kernel")
                .replace(" -drive", "\n-drive")
                .replace(" -vga", "\n-vga"),
        );
    }
}
