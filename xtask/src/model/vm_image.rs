//! `vm-images/<os>.toml`: how each guest is obtained, booted and driven.
//!
//! The settings here are data, not code: QEMU binary, machine, CPU, memory,
//! console, firmware and the source of the image (built from Debian packages,
//! or downloaded and verified against a pinned checksum), and for guests
//! driven over their serial console, the scripts that provision them and run
//! the payload (`[script.<name>]`: wait for a text, send a line, per step).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::diag::{parse_file, LoadError, LoadErrors};
use super::platform::shown;
use super::{toml_files, DataDirs};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct VmImageFile {
    image: BTreeMap<String, VmImage>,
    #[serde(default)]
    script: BTreeMap<String, ConsoleScript>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct VmImage {
    /// The QEMU system emulator (`qemu-system-aarch64`).
    pub qemu: String,
    /// `-M` value, options included.
    pub machine: String,
    #[serde(default)]
    pub cpu: Option<String>,
    pub memory_mib: u32,
    /// Kernel console device for Linux guests (`ttyS0`), `serial` for images with their own boot loader.
    pub console: String,
    /// How virtio devices attach: PCI, s390 channel I/O, or MMIO.
    pub virtio: VirtioTransport,
    #[serde(default)]
    pub extra_args: Vec<String>,
    /// Firmware the machine needs and QEMU does not load by itself (`-bios`).
    #[serde(default)]
    pub firmware: Option<Firmware>,
    /// Assembled from Debian packages (Linux guests).
    #[serde(default)]
    pub debian: Option<DebianSource>,
    /// Downloaded from the OS project's mirror (BSD guests).
    #[serde(default)]
    pub download: Option<DownloadSource>,
    /// The guest's name for the payload disk, the second virtio disk of a
    /// downloaded image or the only one of a Linux guest (`/dev/vda`).
    #[serde(default = "default_payload_device")]
    pub payload_device: String,
    /// Console script (a key of `[script]`) that logs in and starts the
    /// runner on each test boot; Linux guests start it from their `/init`.
    #[serde(default)]
    pub session: Option<String>,
    /// First-boot provisioning, run once per downloaded image; its result is cached.
    #[serde(default)]
    pub provision: Option<Provision>,
    /// Console text that means the guest kernel panicked.
    #[serde(default)]
    pub panic_pattern: Option<String>,
    /// The scripts `session` and `provision.script` name, filled in at load.
    #[serde(skip_deserializing)]
    pub scripts: BTreeMap<String, ConsoleScript>,
    /// The file it came from, for messages.
    #[serde(skip_deserializing)]
    pub source: String,
    /// How the guest installs its OS's own Rust package, for the packaged
    /// lane inside the guest (the BSDs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packaged_rust: Option<GuestRust>,
}

/// The OS's own Rust, installed inside the guest from its package repository.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GuestRust {
    /// The command, run as root in the guest (`pkg install -y rust`).
    pub install: Vec<String>,
    /// Where that package comes from (`FreeBSD ports, quarterly packages`).
    pub source: String,
}

fn default_payload_device() -> String {
    "/dev/vda".into()
}

impl VmImage {
    /// What a panic looks like on this guest's console.
    pub fn panic_pattern(&self) -> &str {
        match &self.panic_pattern {
            Some(p) => p,
            None if self.debian.is_some() => "Kernel panic - not syncing",
            None => "panic: ",
        }
    }

    /// The kernel modules a Linux guest loads: the virtio transport's (the
    /// s390 channel-I/O one is built into the kernel), the block driver, then
    /// the recipe's own.
    pub fn guest_modules(&self) -> Vec<String> {
        let transport = match self.virtio {
            VirtioTransport::Pci => Some("virtio_pci"),
            VirtioTransport::Mmio => Some("virtio_mmio"),
            VirtioTransport::Ccw => None,
        };
        let mut modules: Vec<String> = transport
            .into_iter()
            .chain(["virtio_blk"])
            .map(String::from)
            .collect();
        for m in self.debian.iter().flat_map(|d| &d.modules) {
            if !modules.contains(m) {
                modules.push(m.clone());
            }
        }
        modules
    }

    pub fn session_script(&self) -> Option<&ConsoleScript> {
        self.session.as_ref().and_then(|s| self.scripts.get(s))
    }

    pub fn provision_script(&self) -> Option<&ConsoleScript> {
        self.provision
            .as_ref()
            .and_then(|p| self.scripts.get(&p.script))
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum VirtioTransport {
    Pci,
    Ccw,
    Mmio,
}

impl VirtioTransport {
    /// The QEMU device name of a virtio block device on this transport.
    pub fn blk_device(self) -> &'static str {
        match self {
            VirtioTransport::Pci => "virtio-blk-pci",
            VirtioTransport::Ccw => "virtio-blk-ccw",
            VirtioTransport::Mmio => "virtio-blk-device",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Firmware {
    /// Passed as `-bios <path>`.
    pub path: String,
    /// The Debian package that installs it, for the message when it is missing.
    pub package: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DebianSource {
    /// Debian suite (`bookworm`).
    pub suite: String,
    /// Debian architecture name (`arm64`).
    pub arch: String,
    /// `linux-image-<flavour>` is the kernel's meta-package.
    pub kernel_flavour: String,
    /// Kernel modules to load beyond those the payload disk needs (the
    /// virtio transport's and `virtio_blk`, always loaded). Dependencies are
    /// read from the modules themselves; a module built into the kernel is skipped.
    #[serde(default)]
    pub modules: Vec<String>,
    /// What QEMU boots: the packaged `vmlinuz`, or the ELF `vmlinux`
    /// unpacked from it (x86 guests boot it through PVH, seconds faster under TCG).
    #[serde(default)]
    pub kernel_image: KernelImage,
    /// Added to the kernel command line after the console and panic settings.
    #[serde(default)]
    pub kernel_args: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum KernelImage {
    #[default]
    Vmlinuz,
    Vmlinux,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DownloadSource {
    pub url: String,
    /// Pinned SHA-256 of the file at `url`; without a pin (this or `sha512`)
    /// the image is never used.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Pinned SHA-512 instead, where the OS project publishes that one only.
    #[serde(default)]
    pub sha512: Option<String>,
    /// Also verify the download with signify against the release's key, where
    /// the `SHA256.sig` beside it can be fetched (OpenBSD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signify: Option<SignifyCheck>,
    /// How the file at `url` is compressed.
    #[serde(default)]
    pub compression: Compression,
    /// The disk format once decompressed.
    #[serde(default)]
    pub format: DiskFormat,
}

impl DownloadSource {
    /// The pinned checksum, if any.
    pub fn pin(&self) -> Option<Pin> {
        match (&self.sha256, &self.sha512) {
            (Some(hex), _) => Some(Pin {
                algo: DigestAlgo::Sha256,
                hex: hex.to_ascii_lowercase(),
            }),
            (None, Some(hex)) => Some(Pin {
                algo: DigestAlgo::Sha512,
                hex: hex.to_ascii_lowercase(),
            }),
            (None, None) => None,
        }
    }

    /// Where the signed checksum list is: `signify.sig-url`, else `SHA256.sig`
    /// in the download's directory.
    pub fn signature_url(&self) -> Option<String> {
        let s = self.signify.as_ref()?;
        Some(s.sig_url.clone().unwrap_or_else(|| {
            let dir = self
                .url
                .rsplit_once('/')
                .map(|(d, _)| d)
                .unwrap_or(&self.url);
            format!("{dir}/SHA256.sig")
        }))
    }
}

/// A digest a download is pinned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DigestAlgo {
    Sha256,
    Sha512,
}

impl DigestAlgo {
    pub fn as_str(self) -> &'static str {
        match self {
            DigestAlgo::Sha256 => "sha256",
            DigestAlgo::Sha512 => "sha512",
        }
    }

    /// Hexadecimal digits of a digest.
    pub fn hex_len(self) -> usize {
        match self {
            DigestAlgo::Sha256 => 64,
            DigestAlgo::Sha512 => 128,
        }
    }
}

/// A pinned checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub algo: DigestAlgo,
    /// Lowercase hexadecimal.
    pub hex: String,
}

impl std::fmt::Display for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.algo.as_str(), self.hex)
    }
}

/// signify's public key for a release, as its release page prints it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SignifyCheck {
    /// The key's base64 line (`RWS…`).
    pub public_key: String,
    /// The key file's name (`openbsd-78-base.pub`), which the signature's comment names.
    pub key_name: String,
    /// The signed `SHA256` list [default: `SHA256.sig` beside the download].
    #[serde(default)]
    pub sig_url: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Compression {
    #[default]
    None,
    Xz,
    Gzip,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum DiskFormat {
    #[default]
    Raw,
    Qcow2,
    /// Install media: attached as a CD-ROM beside a new empty disk that provisioning installs onto.
    Iso,
}

impl DiskFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            DiskFormat::Raw => "raw",
            DiskFormat::Qcow2 => "qcow2",
            DiskFormat::Iso => "iso",
        }
    }
}

/// First-boot provisioning of a downloaded image.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Provision {
    /// Console script (a key of `[script]`).
    pub script: String,
    /// Size of the disk to install onto, for install media (`format = "iso"`).
    #[serde(default)]
    pub disk_gib: Option<u32>,
}

/// A serial-console conversation: each step waits for a text, then sends a line.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConsoleScript {
    pub steps: Vec<ConsoleStep>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConsoleStep {
    /// Wait until the console shows this text (after what earlier steps matched).
    #[serde(default)]
    pub expect: Option<String>,
    /// Then type this line (a carriage return is added). `{payload-device}`
    /// stands for the image's `payload-device`.
    #[serde(default)]
    pub send: Option<String>,
    /// Then wait for the guest to power off (QEMU exits).
    #[serde(default)]
    pub wait_exit: bool,
    /// How long this step may wait.
    #[serde(
        default = "default_step_timeout",
        deserialize_with = "duration",
        serialize_with = "secs"
    )]
    pub timeout: Duration,
}

fn default_step_timeout() -> Duration {
    Duration::from_secs(60)
}

fn duration<'de, D: Deserializer<'de>>(de: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(de)?;
    super::matrix::parse_duration(&text).map_err(serde::de::Error::custom)
}

fn secs<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

pub(super) fn load_dir(dirs: &DataDirs, errors: &mut LoadErrors) -> BTreeMap<String, VmImage> {
    let mut images: BTreeMap<String, VmImage> = BTreeMap::new();
    let mut scripts: BTreeMap<String, (ConsoleScript, String)> = BTreeMap::new();
    for path in toml_files(dirs, &dirs.vm_images, &shown(dirs, &dirs.vm_images), errors) {
        let file = shown(dirs, &path);
        let parsed: VmImageFile = match parse_file(dirs, &path, &file) {
            Ok(parsed) => parsed,
            Err(err) => {
                errors.push(err);
                continue;
            }
        };
        for (name, script) in parsed.script {
            for (i, step) in script.steps.iter().enumerate() {
                if step.expect.is_none() && step.send.is_none() && !step.wait_exit {
                    errors.push(LoadError::key(
                        &file,
                        format!("script.{name}.steps[{i}]"),
                        "needs `expect`, `send` or `wait-exit`",
                    ));
                }
            }
            if let Some((_, other)) = scripts.get(&name) {
                errors.push(LoadError::key(
                    &file,
                    format!("script.{name}"),
                    format!("is already defined in {other}"),
                ));
                continue;
            }
            scripts.insert(name, (script, file.clone()));
        }
        for (id, mut image) in parsed.image {
            let key = |k: &str| format!("image.{id}.{k}");
            match (&image.debian, &image.download) {
                (Some(_), Some(_)) => errors.push(LoadError::key(
                    &file,
                    key("download"),
                    "an image has either `debian` or `download`, not both",
                )),
                (None, None) => errors.push(LoadError::key(
                    &file,
                    format!("image.{id}"),
                    "needs a source: `debian` or `download`",
                )),
                _ => {}
            }
            if let Some(download) = &image.download {
                for (k, sum, len) in [
                    ("sha256", &download.sha256, 64),
                    ("sha512", &download.sha512, 128),
                ] {
                    if let Some(sum) = sum {
                        if sum.len() != len || !sum.bytes().all(|b| b.is_ascii_hexdigit()) {
                            errors.push(LoadError::key(
                                &file,
                                key(&format!("download.{k}")),
                                format!("must be {len} hexadecimal digits"),
                            ));
                        }
                    }
                }
                if download.sha256.is_some() && download.sha512.is_some() {
                    errors.push(LoadError::key(
                        &file,
                        key("download.sha512"),
                        "pin one checksum, `sha256` or `sha512`, not both",
                    ));
                }
                if let Some(s) = &download.signify {
                    // signify's key line: base64 of "Ed", an 8-byte key number and a 32-byte Ed25519 key.
                    use base64::Engine;
                    let decoded =
                        base64::engine::general_purpose::STANDARD.decode(s.public_key.trim());
                    if !decoded.is_ok_and(|k| k.len() == 42 && k.starts_with(b"Ed")) {
                        errors.push(LoadError::key(
                            &file,
                            key("download.signify.public-key"),
                            "is not a signify Ed25519 public key (base64 of 42 bytes starting with `Ed`)",
                        ));
                    }
                }
                if download.format == DiskFormat::Iso
                    && image
                        .provision
                        .as_ref()
                        .is_none_or(|p| p.disk_gib.is_none())
                {
                    errors.push(LoadError::key(
                        &file,
                        key("provision.disk-gib"),
                        "install media need a provisioning script and the size of the disk it installs onto",
                    ));
                }
            }
            if let Some(debian) = &image.debian {
                if debian
                    .modules
                    .iter()
                    .any(|m| m.is_empty() || m.contains('/'))
                {
                    errors.push(LoadError::key(
                        &file,
                        key("debian.modules"),
                        "module names have no `/` (`virtio_blk`)",
                    ));
                }
            }
            if image.memory_mib < 64 {
                errors.push(LoadError::key(
                    &file,
                    key("memory-mib"),
                    "must be at least 64",
                ));
            }
            if let Some(other) = images.get(&id) {
                errors.push(LoadError::key(
                    &file,
                    format!("image.{id}"),
                    format!("is already defined in {}", other.source),
                ));
                continue;
            }
            image.source = file.clone();
            images.insert(id, image);
        }
    }
    // Scripts may live in any file of the directory: resolve references once all are read.
    for (id, image) in images.iter_mut() {
        let wanted: Vec<(String, String)> = image
            .session
            .iter()
            .map(|s| ("session".to_string(), s.clone()))
            .chain(
                image
                    .provision
                    .iter()
                    .map(|p| ("provision.script".to_string(), p.script.clone())),
            )
            .collect();
        for (key, name) in wanted {
            match scripts.get(&name) {
                Some((script, _)) => {
                    image.scripts.insert(name, script.clone());
                }
                None => errors.push(LoadError::key(
                    &image.source,
                    format!("image.{id}.{key}"),
                    format!("no script `{name}` in vm-images/ (`[script.{name}]`)"),
                )),
            }
        }
    }
    images
}

#[cfg(test)]
mod tests {
    use crate::model::{DataDirs, Model};

    /// Tidy: a platform's image boots that platform's architecture.
    #[test]
    fn every_platform_with_a_vm_image_names_one_that_boots_its_architecture() {
        let model =
            Model::load(&DataDirs::under(&crate::repo_root())).unwrap_or_else(|e| panic!("{e}"));
        for p in model.platforms.iter().filter(|p| p.vm_image.is_some()) {
            let id = p.vm_image.as_ref().unwrap();
            let image = &model.vm_images[id];
            let emulated = image.qemu.trim_start_matches("qemu-system-");
            let expected = match p.arch.as_str() {
                "i686" => "i386",
                "armv7" => "arm",
                "powerpc64le" => "ppc64",
                other => other,
            };
            assert_eq!(
                emulated, expected,
                "{} runs on {} but its image {id} boots {}",
                p.id, p.arch, image.qemu
            );
            if let Some(d) = &image.debian {
                assert_eq!(
                    Some(&d.arch),
                    p.debian_arch.as_ref(),
                    "{}: the image's Debian architecture",
                    p.id
                );
            }
        }
    }
}
