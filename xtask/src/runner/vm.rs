//! Resolution for the VM lane: whether this host can boot a platform's
//! guest image now (QEMU, firmware, the tools that build or fetch the image,
//! a pinned checksum) and what exactly it would boot ([`VmSpec`], hashed into
//! the cell's fingerprint).
//!
//! A downloaded image not yet in the cache costs one `curl --head` (15 s
//! timeout) here, so that a cell that could never get its image is reported
//! unavailable before anything runs, `--plan` included.

use serde::Serialize;
use sha2::Digest;

use super::RunnerSpec;
use crate::model::{Model, Platform, VmImage};
use crate::toolchain::Missing;
use crate::vm::{bsd, debian, session, setup};

/// What a VM cell runs on: part of its fingerprint.
#[derive(Debug, Clone, Serialize)]
pub struct VmSpec {
    pub image_id: String,
    pub image: VmImage,
    /// The image's content: a Debian image's key (known once its package
    /// lists are in the cache), a downloaded image's pinned SHA-256.
    pub content: Option<String>,
    /// `--version` of the emulator.
    pub qemu_version: String,
    /// SHA-256 of the guest runner script: a new runner reruns the cells.
    pub runner: String,
}

pub(super) fn resolve(platform: &Platform, model: &Model) -> Result<RunnerSpec, Missing> {
    let Some(id) = &platform.vm_image else {
        return Err(Missing::new(
            format!("{} names no VM image", platform.id),
            None,
        ));
    };
    let image = model
        .vm_images
        .get(id)
        .ok_or_else(|| Missing::new(format!("no image `{id}` in vm-images/"), None))?;
    Ok(RunnerSpec::Vm(Box::new(resolve_image(id, image)?)))
}

/// Whether this host can boot `image` now, and what it would boot.
pub fn resolve_image(id: &str, image: &VmImage) -> Result<VmSpec, Missing> {
    if crate::host::which(&image.qemu).is_none() {
        return Err(Missing::new(
            format!("{} is not installed", image.qemu),
            Some(format!(
                "apt-get install --no-install-recommends {}",
                setup::qemu_package(&image.qemu)
            )),
        ));
    }
    if let Some(fw) = &image.firmware {
        if !std::path::Path::new(&fw.path).is_file() {
            return Err(Missing::new(
                format!("the firmware {} is missing", fw.path),
                Some(format!("apt-get install {}", fw.package)),
            ));
        }
    }
    let content = if image.debian.is_some() {
        for (tool, package) in [
            ("apt-get", "apt"),
            ("apt-cache", "apt"),
            ("dpkg-deb", "dpkg"),
            ("xz", "xz-utils"),
        ] {
            if crate::host::which(tool).is_none() {
                return Err(Missing::new(
                    format!(
                        "{tool} is not installed (Linux guests are built from Debian packages)"
                    ),
                    Some(format!("apt-get install {package}")),
                ));
            }
        }
        debian::resolve_offline(id, image).map(|r| r.key)
    } else {
        if image.session_script().is_none() {
            return Err(Missing::new(
                format!(
                    "image `{id}` has no console script that starts the runner (`session` in {})",
                    image.source
                ),
                None,
            ));
        }
        let sha = bsd::pinned(id, image).map_err(|err| {
            Missing::new(
                format!("{err:#}"),
                Some(format!("cargo xtask vm-images pin {id}")),
            )
        })?;
        if bsd::find_ready(id, image).is_none() && !bsd::is_downloaded(id, image) {
            if crate::host::which("curl").is_none() {
                return Err(Missing::new(
                    "curl is not installed (guest images are downloaded with it)",
                    Some("apt-get install curl".into()),
                ));
            }
            let url = &image.download.as_ref().expect("a downloaded image").url;
            if let Err(why) = crate::vm::download::reachable(url) {
                return Err(Missing::new(
                    format!("image `{id}` is not in the cache and cannot be downloaded: {why}"),
                    Some(format!("run `cargo xtask vm-images fetch {id}` where {url} is reachable, then copy {} here", crate::paths::cache_dir().join("vm").display())),
                ));
            }
        }
        Some(sha)
    };
    Ok(VmSpec {
        image_id: id.to_string(),
        image: image.clone(),
        content,
        qemu_version: session::qemu_version(&image.qemu).unwrap_or_default(),
        runner: crate::digest::hex(&sha2::Sha256::digest(crate::vm::guest::RUNNER.as_bytes())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Model {
        Model::load(&crate::model::DataDirs::under(&crate::repo_root())).unwrap()
    }

    #[test]
    fn images_that_cannot_boot_here_say_why_and_how_to_fix_it() {
        let model = model();
        let mut lines = Vec::new();
        let mut unpinned = model.vm_images["freebsd-15.1-amd64"].clone();
        unpinned.download.as_mut().unwrap().sha256 = None;
        let mut offline = model.vm_images["freebsd-14.4-amd64"].clone();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        offline.download.as_mut().unwrap().url = format!("http://127.0.0.1:{port}/FreeBSD.raw.xz");
        offline.download.as_mut().unwrap().sha256 = Some("ab".repeat(32));
        let mut no_firmware = model.vm_images["freebsd-14.4-arm64"].clone();
        no_firmware.firmware.as_mut().unwrap().path = "/nonexistent/QEMU_EFI.fd".into();
        let mut no_qemu = model.vm_images["debian12-amd64"].clone();
        no_qemu.qemu = "qemu-system-nonexistent".into();
        // The emulator is checked first: the others name one that is here
        // (this test's own executable), so that what they show does not
        // depend on which QEMU the host has.
        let here = std::env::current_exe().unwrap().display().to_string();
        for image in [&mut unpinned, &mut offline, &mut no_firmware] {
            image.qemu = here.clone();
        }
        for (id, image) in [
            ("unpinned", unpinned),
            ("offline", offline),
            ("no-firmware", no_firmware),
            ("no-qemu", no_qemu),
        ] {
            let m = resolve_image(id, &image).unwrap_err();
            let reason = m
                .reason
                .replace(&port.to_string(), "PORT")
                .replace(&crate::paths::cache_dir().display().to_string(), "CACHE");
            let enable = m
                .enable
                .map(|e| e.to_string())
                .unwrap_or_default()
                .replace(&port.to_string(), "PORT")
                .replace(&crate::paths::cache_dir().display().to_string(), "CACHE");
            // curl says how long it tried: "after 0 ms", or 1 on a slow host.
            let reason = match (reason.find(" after "), reason.find(" ms: ")) {
                (Some(a), Some(b)) if a < b => {
                    format!("{} after N{}", &reason[..a], &reason[b..])
                }
                _ => reason,
            };
            lines.push(format!("{id}: {reason}\n  enable: {enable}"));
        }
        expect_test::expect![[r#"
            unpinned: image `unpinned` has no pinned checksum (vm-images/freebsd.toml: `image."unpinned".download.sha256`)
              enable: cargo xtask vm-images pin unpinned
            offline: image `offline` is not in the cache and cannot be downloaded: cannot reach 127.0.0.1:PORT: curl: (7) Failed to connect to 127.0.0.1 port PORT after N ms: Couldn't connect to server
              enable: run `cargo xtask vm-images fetch offline` where http://127.0.0.1:PORT/FreeBSD.raw.xz is reachable, then copy CACHE/vm here
            no-firmware: the firmware /nonexistent/QEMU_EFI.fd is missing
              enable: apt-get install qemu-efi-aarch64
            no-qemu: qemu-system-nonexistent is not installed
              enable: apt-get install --no-install-recommends qemu-system-misc"#]]
        .assert_eq(&lines.join("\n"));
    }
}
