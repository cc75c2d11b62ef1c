//! `vm-images/<os>.toml`: how each guest is obtained and booted.
//!
//! The settings here are data, not code: QEMU binary, machine, CPU, memory,
//! console and the source of the image (built from Debian packages, or
//! downloaded and verified against a pinned checksum).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::diag::{parse_file, LoadError, LoadErrors};
use super::platform::shown;
use super::{toml_files, DataDirs};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct VmImageFile {
    image: BTreeMap<String, VmImage>,
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
    /// Assembled from Debian packages (Linux guests).
    #[serde(default)]
    pub debian: Option<DebianSource>,
    /// Downloaded from the OS project's mirror (BSD guests).
    #[serde(default)]
    pub download: Option<DownloadSource>,
    /// The file it came from, for messages.
    #[serde(skip_deserializing)]
    pub source: String,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum VirtioTransport {
    Pci,
    Ccw,
    Mmio,
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
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DownloadSource {
    pub url: String,
    /// Pinned SHA-256 of the file at `url`; without it the image is never used.
    #[serde(default)]
    pub sha256: Option<String>,
}

pub(super) fn load_dir(dirs: &DataDirs, errors: &mut LoadErrors) -> BTreeMap<String, VmImage> {
    let mut images: BTreeMap<String, VmImage> = BTreeMap::new();
    for path in toml_files(&dirs.vm_images, &shown(dirs, &dirs.vm_images), errors) {
        let file = shown(dirs, &path);
        let parsed: VmImageFile = match parse_file(&path, &file) {
            Ok(parsed) => parsed,
            Err(err) => {
                errors.push(err);
                continue;
            }
        };
        for (id, mut image) in parsed.image {
            let key = |k: &str| format!("image.{id}.{k}");
            match (&image.debian, &image.download) {
                (Some(_), Some(_)) => {
                    errors.push(LoadError::key(&file, key("download"), "an image has either `debian` or `download`, not both"))
                }
                (None, None) => errors.push(LoadError::key(&file, format!("image.{id}"), "needs a source: `debian` or `download`")),
                _ => {}
            }
            if let Some(download) = &image.download {
                if let Some(sum) = &download.sha256 {
                    if sum.len() != 64 || !sum.bytes().all(|b| b.is_ascii_hexdigit()) {
                        errors.push(LoadError::key(&file, key("download.sha256"), "must be 64 hexadecimal digits"));
                    }
                }
            }
            if image.memory_mib < 64 {
                errors.push(LoadError::key(&file, key("memory-mib"), "must be at least 64"));
            }
            if let Some(other) = images.get(&id) {
                errors.push(LoadError::key(&file, format!("image.{id}"), format!("is already defined in {}", other.source)));
                continue;
            }
            image.source = file.clone();
            images.insert(id, image);
        }
    }
    images
}
