//! KVM or TCG. `/dev/kvm` existing proves nothing (on the project's
//! machines it exists and guests hang in early boot), so KVM is used only
//! after a probe boots a real guest under it to its init. The answer is
//! cached per emulator version, host kernel and guest image; the reason for
//! the choice goes into every cell's provenance.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::debian::BuiltImage;
use super::qemu::{Accel, Boot, DirectKernel};
use super::session::{self, Ending, Until};
use crate::model::VmImage;

/// How long a probe guest may take to reach its init under KVM (TCG needs ~6 s).
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);
const PROBE_MARK: &str = "@@VHU-PROBE-OK@@";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    pub accel: Accel,
    pub reason: String,
}

#[derive(Serialize, Deserialize)]
struct Cached {
    key: String,
    kvm: bool,
    reason: String,
}

/// Emulators that can use KVM on a host of this architecture.
fn kvm_emulators(host_arch: &str) -> &'static [&'static str] {
    match host_arch {
        "x86_64" => &["qemu-system-x86_64", "qemu-system-i386"],
        "aarch64" => &["qemu-system-aarch64"],
        "powerpc64" => &["qemu-system-ppc64"],
        "s390x" => &["qemu-system-s390x"],
        _ => &[],
    }
}

fn cache_path() -> PathBuf {
    crate::paths::cache_dir().join("vm").join("kvm-probe.json")
}

/// Picks the accelerator for a Linux guest built from `built`, probing KVM once if it might work.
pub fn choose(image: &VmImage, built: &BuiltImage, progress: &dyn Fn(&str)) -> Choice {
    static PROBING: Mutex<()> = Mutex::new(());
    let tcg = |reason: String| Choice {
        accel: Accel::Tcg,
        reason,
    };
    if let Ok(forced) = std::env::var("XTASK_VM_ACCEL") {
        return match forced.as_str() {
            "tcg" => tcg("TCG: forced by XTASK_VM_ACCEL=tcg".into()),
            "kvm" => Choice {
                accel: Accel::Kvm,
                reason: "KVM: forced by XTASK_VM_ACCEL=kvm".into(),
            },
            other => tcg(format!(
                "TCG: XTASK_VM_ACCEL={other} is neither kvm nor tcg"
            )),
        };
    }
    if !kvm_emulators(std::env::consts::ARCH).contains(&image.qemu.as_str()) {
        return tcg(format!(
            "TCG: {} guests cannot use KVM on this {} host",
            image.qemu,
            std::env::consts::ARCH
        ));
    }
    let kvm = std::path::Path::new("/dev/kvm");
    if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(kvm)
        .is_err()
    {
        return tcg("TCG: /dev/kvm is absent or not usable by this user".into());
    }
    let key = format!(
        "v2|{}|{}|{}",
        session::qemu_version(&image.qemu).unwrap_or_default(),
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim(),
        built.meta.key
    );
    let _one_at_a_time = PROBING.lock().unwrap_or_else(|e| e.into_inner());
    let mut cache: Vec<Cached> = std::fs::read_to_string(cache_path())
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    if let Some(hit) = cache.iter().find(|c| c.key == key) {
        let accel = if hit.kvm { Accel::Kvm } else { Accel::Tcg };
        return Choice {
            accel,
            reason: format!("{} (cached KVM probe)", hit.reason),
        };
    }
    progress("probing KVM: booting a guest under it");
    let (kvm_works, reason) = probe(image, built);
    if crate::cmd::cancelled() {
        return tcg("TCG: the KVM probe was interrupted".into());
    }
    cache.retain(|c| !c.key.ends_with(&built.meta.key) || c.key == key);
    cache.push(Cached {
        key,
        kvm: kvm_works,
        reason: reason.clone(),
    });
    if let Ok(text) = serde_json::to_string_pretty(&cache) {
        let _ = crate::paths::write_atomic(&cache_path(), text.as_bytes());
    }
    Choice {
        accel: if kvm_works { Accel::Kvm } else { Accel::Tcg },
        reason,
    }
}

fn probe(image: &VmImage, built: &BuiltImage) -> (bool, String) {
    let boot = Boot {
        kernel: Some(DirectKernel {
            kernel: built.kernel.clone(),
            initrd: built.initrd.clone(),
            append: super::qemu::linux_append(image, &["vhu.probe"]),
        }),
        ..Boot::default()
    };
    let started = Instant::now();
    let req = session::Request {
        image,
        accel: Accel::Kvm,
        boot,
        script: None,
        vars: Vec::new(),
        until: Until::Marker(PROBE_MARK.into()),
        deadline: Instant::now() + PROBE_TIMEOUT,
        progress: &|_| {},
    };
    match session::run(req, &[], &|_| Vec::new()) {
        Ok(out) if out.ending == Ending::Reached => (
            true,
            format!(
                "KVM: a probe guest reached its init under KVM in {:.1}s",
                started.elapsed().as_secs_f64()
            ),
        ),
        Ok(out) => {
            let what = match out.ending {
                Ending::Deadline => {
                    format!("did not reach its init within {}s", PROBE_TIMEOUT.as_secs())
                }
                Ending::QemuExited => {
                    let last = out
                        .qemu
                        .stderr_tail
                        .lines()
                        .last()
                        .map(|l| format!(": {l}"))
                        .unwrap_or_default();
                    format!("made QEMU exit ({}){last}", out.qemu.describe())
                }
                other => format!("{other:?}"),
            };
            (
                false,
                format!("TCG: /dev/kvm is present but a probe guest under KVM {what}"),
            )
        }
        Err(err) => (false, format!("TCG: the KVM probe could not run: {err:#}")),
    }
}

/// For a downloaded guest (no Linux image to probe with): KVM only when a
/// probe already proved it for this emulator version on this host kernel.
pub fn choose_for_download(image: &VmImage) -> Choice {
    if !kvm_emulators(std::env::consts::ARCH).contains(&image.qemu.as_str()) {
        return Choice {
            accel: Accel::Tcg,
            reason: format!(
                "TCG: {} guests cannot use KVM on this {} host",
                image.qemu,
                std::env::consts::ARCH
            ),
        };
    }
    let prefix = format!(
        "v2|{}|{}|",
        session::qemu_version(&image.qemu).unwrap_or_default(),
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    );
    let cache: Vec<Cached> = std::fs::read_to_string(cache_path())
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    match cache.iter().find(|c| c.key.starts_with(&prefix)) {
        Some(hit) if hit.kvm => Choice {
            accel: Accel::Kvm,
            reason: format!("{} (cached KVM probe of a Linux guest)", hit.reason),
        },
        Some(hit) => Choice {
            accel: Accel::Tcg,
            reason: format!("{} (cached KVM probe of a Linux guest)", hit.reason),
        },
        None => Choice {
            accel: Accel::Tcg,
            reason: "TCG: no KVM probe has run on this host yet (a Linux VM cell runs one)".into(),
        },
    }
}
