//! Guests from downloaded images (the BSDs): download and verify (the pinned
//! SHA-256 or SHA-512, and signify where the recipe names a key), unpack,
//! provision once over the serial console, and keep the ready disk in the
//! cache, keyed by the image's checksum and its provisioning script. Test
//! boots run on a throw-away overlay of that disk (`snapshot=on`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::qemu::{Accel, Boot, Disk};
use super::session::{self, Ending, Until};
use super::{download, signify};
use crate::cmd::Cmd;
use crate::digest::hex;
use crate::model::vm_image::{Compression, DigestAlgo, DiskFormat, DownloadSource, Pin};
use crate::model::VmImage;

/// A disk a test boot can start from.
#[derive(Debug, Clone)]
pub struct ReadyDisk {
    pub path: PathBuf,
    pub format: DiskFormat,
    /// How the download was verified (`sha256 pin; signify: …`).
    pub verification: String,
}

#[derive(Serialize, Deserialize)]
struct ReadyMeta {
    id: String,
    /// The pinned digest (SHA-256 or SHA-512), hexadecimal.
    sha256: String,
    format: DiskFormat,
    #[serde(default)]
    verification: String,
}

fn downloads_dir() -> PathBuf {
    crate::paths::cache_dir().join("vm").join("downloads")
}

fn source(id: &str, image: &VmImage) -> Result<DownloadSource> {
    image
        .download
        .clone()
        .with_context(|| format!("image `{id}` is not downloaded"))
}

/// The pinned checksum, or why the image cannot be used.
pub fn pin(id: &str, image: &VmImage) -> Result<Pin> {
    let src = source(id, image)?;
    src.pin().with_context(|| {
        format!(
            "image `{id}` has no pinned checksum ({}: `image.\"{id}\".download.sha256`)",
            image.source
        )
    })
}

/// The pinned checksum's hexadecimal digits, or why the image cannot be used.
pub fn pinned(id: &str, image: &VmImage) -> Result<String> {
    pin(id, image).map(|p| p.hex)
}

/// Where the ready disk of this image and recipe lives.
fn ready_dir(id: &str, image: &VmImage, sha256: &str) -> PathBuf {
    let recipe =
        serde_json::json!({ "provision": image.provision, "script": image.provision_script() });
    let recipe = hex(&Sha256::digest(recipe.to_string().as_bytes()));
    crate::paths::cache_dir()
        .join("vm")
        .join("ready")
        .join(id)
        .join(format!("{}-{}", &sha256[..16], &recipe[..16]))
}

/// The ready disk, if provisioning already ran.
pub fn find_ready(id: &str, image: &VmImage) -> Option<ReadyDisk> {
    let sha = pinned(id, image).ok()?;
    let dir = ready_dir(id, image, &sha);
    let meta: ReadyMeta =
        serde_json::from_str(&std::fs::read_to_string(dir.join("ready.json")).ok()?).ok()?;
    (meta.sha256 == sha).then(|| ReadyDisk {
        path: dir.join(format!("disk.{}", meta.format.as_str())),
        format: meta.format,
        verification: meta.verification,
    })
}

/// Whether the downloaded file is already in the cache.
pub fn is_downloaded(id: &str, image: &VmImage) -> bool {
    let (Ok(src), Ok(sha)) = (source(id, image), pinned(id, image)) else {
        return false;
    };
    download::cached_path(&downloads_dir(), &src.url, &sha).is_file()
}

/// Downloads, unpacks and provisions as needed; returns the disk test boots start from.
pub fn prepare(id: &str, image: &VmImage, progress: &dyn Fn(&str)) -> Result<ReadyDisk> {
    if let Some(ready) = find_ready(id, image) {
        return Ok(ready);
    }
    let src = source(id, image)?;
    let pin = pin(id, image)?;
    let sha = pin.hex.clone();
    let (file, _) = download::fetch_pinned(&src.url, Some(&pin), &downloads_dir(), progress)?;
    let verification = verify_signature(&src, &pin, &file, progress)?;
    let dir = ready_dir(id, image, &sha);
    let parent = dir.parent().expect("under the cache");
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let _lock = crate::paths::FileLock::acquire(&dir.with_extension("lock"))?;
    if let Some(ready) = find_ready(id, image) {
        return Ok(ready);
    }
    let work = tempfile::Builder::new()
        .prefix(".prepare-")
        .tempdir_in(parent)?;
    progress(&format!("unpacking {}", file.display()));
    let unpacked = unpack(&file, src.compression, work.path())?;
    let (disk, format) = match (&image.provision, src.format) {
        (Some(p), _) if p.disk_gib.is_some() => {
            let target = work.path().join("disk.raw");
            let f = std::fs::File::create(&target)?;
            f.set_len(u64::from(p.disk_gib.unwrap_or(8)) << 30)
                .context("cannot create the disk to install onto")?;
            let media = if src.format == DiskFormat::Iso {
                Boot {
                    disks: vec![rw(&target)],
                    cdrom: Some(unpacked.clone()),
                    ..Boot::default()
                }
            } else {
                Boot {
                    disks: vec![
                        rw(&target),
                        Disk {
                            path: unpacked.clone(),
                            format: src.format,
                            read_only: true,
                            snapshot: false,
                        },
                    ],
                    ..Boot::default()
                }
            };
            provision(id, image, media, progress)?;
            (target, DiskFormat::Raw)
        }
        (Some(_), DiskFormat::Iso) => {
            bail!("image `{id}`: install media need `provision.disk-gib`")
        }
        (Some(_), format) => {
            provision(
                id,
                image,
                Boot {
                    disks: vec![Disk {
                        path: unpacked.clone(),
                        format,
                        read_only: false,
                        snapshot: false,
                    }],
                    ..Boot::default()
                },
                progress,
            )?;
            (unpacked, format)
        }
        (None, DiskFormat::Iso) => bail!("image `{id}`: install media need a provisioning script"),
        (None, format) => (unpacked, format),
    };
    let final_disk = work.path().join(format!("disk.{}", format.as_str()));
    if disk != final_disk {
        std::fs::rename(&disk, &final_disk)?;
    }
    std::fs::write(
        work.path().join("ready.json"),
        serde_json::to_string_pretty(&ReadyMeta {
            id: id.into(),
            sha256: sha,
            format,
            verification,
        })?,
    )?;
    for leftover in std::fs::read_dir(work.path())?.flatten() {
        let name = leftover.file_name().to_string_lossy().into_owned();
        if name != "ready.json" && name != format!("disk.{}", format.as_str()) {
            let _ = std::fs::remove_file(leftover.path());
        }
    }
    let work = work.keep();
    std::fs::rename(&work, &dir)
        .with_context(|| format!("cannot move the ready disk to {}", dir.display()))?;
    find_ready(id, image).context("the ready disk just prepared cannot be read back")
}

/// The signify check of a verified download, where the recipe names a key:
/// `Ok` with what was concluded (the pin alone when the signature cannot be
/// fetched), `Err` when the signature is reachable and does not vouch for
/// the file.
pub fn verify_signature(
    src: &DownloadSource,
    pin: &Pin,
    file: &Path,
    progress: &dyn Fn(&str),
) -> Result<String> {
    let pinned = format!("{} pin", pin.algo.as_str());
    let (Some(check), Some(sig_url)) = (&src.signify, src.signature_url()) else {
        return Ok(pinned);
    };
    let key = signify::PublicKey::parse(&check.public_key)
        .with_context(|| format!("the signify key {}", check.key_name))?;
    progress(&format!(
        "verifying with signify ({}): {sig_url}",
        check.key_name
    ));
    let client = crate::platform_data::http::Client::new(Duration::from_secs(30));
    let sig = match client.get(&sig_url) {
        Ok(sig) => sig,
        Err(err) => {
            let why = format!("{err:#}");
            progress(&format!(
                "signify: {sig_url} cannot be fetched; the pinned checksum alone was checked"
            ));
            return Ok(format!("{pinned}; signify not checked: {why}"));
        }
    };
    let sha256 = match pin.algo {
        DigestAlgo::Sha256 => pin.hex.clone(),
        DigestAlgo::Sha512 => download::digest_file(file, DigestAlgo::Sha256)?,
    };
    let name = src.url.rsplit('/').next().unwrap_or(&src.url);
    signify::check(&key, &sig, name, &sha256)
        .with_context(|| format!("signify rejects {name}: {sig_url} with {}", check.key_name))?;
    Ok(format!(
        "{pinned}; signify: {sig_url} verified with {}",
        check.key_name
    ))
}

fn rw(path: &Path) -> Disk {
    Disk {
        path: path.to_path_buf(),
        format: DiskFormat::Raw,
        read_only: false,
        snapshot: false,
    }
}

/// Decompresses into `work` (a hard link keeps the verified download intact).
fn unpack(file: &Path, compression: Compression, work: &Path) -> Result<PathBuf> {
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("image");
    let copy = work.join(name);
    if std::fs::hard_link(file, &copy).is_err() {
        std::fs::copy(file, &copy).with_context(|| format!("cannot copy {}", file.display()))?;
    }
    let (tool, suffix) = match compression {
        Compression::None => return Ok(copy),
        Compression::Xz => ("xz", ".xz"),
        Compression::Gzip => ("gzip", ".gz"),
    };
    Cmd::new(tool)
        .args(["-d", "-f"])
        .arg(&copy)
        .timeout(Duration::from_secs(3600))
        .run()?
        .ok()
        .with_context(|| format!("cannot unpack {name}"))?;
    let out = work.join(name.strip_suffix(suffix).unwrap_or(name));
    if !out.is_file() {
        bail!("{tool} left no {}", out.display());
    }
    Ok(out)
}

fn provision(id: &str, image: &VmImage, boot: Boot, progress: &dyn Fn(&str)) -> Result<()> {
    let script = image
        .provision_script()
        .with_context(|| format!("image `{id}` has no provisioning script"))?;
    let budget: Duration =
        script.steps.iter().map(|s| s.timeout).sum::<Duration>() + Duration::from_secs(120);
    progress(&format!(
        "provisioning {id} over its serial console (up to {} min)",
        budget.as_secs() / 60
    ));
    let req = session::Request {
        image,
        accel: Accel::Tcg,
        boot,
        script: Some(script),
        vars: vec![("payload-device", image.payload_device.as_str())],
        until: Until::Exit,
        deadline: Instant::now() + budget,
        progress,
    };
    let out = session::run(req, &[], &|_| Vec::new())?;
    if out.ending == Ending::Reached && out.qemu.exit_code == Some(0) {
        return Ok(());
    }
    let log = crate::paths::cache_dir()
        .join("vm")
        .join("logs")
        .join(format!("provision-{id}.log"));
    if let Some(parent) = log.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let _ = std::fs::write(&log, &out.transcript);
    bail!(
        "provisioning {id} failed ({:?}, QEMU {}); console transcript: {}\n{}",
        out.ending,
        out.qemu.describe(),
        log.display(),
        crate::cmd::tail(&out.transcript, 15, 2000)
    )
}
