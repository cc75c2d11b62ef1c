//! Real QEMU on our `vhost-user-scsi`: a `vhost-user-scsi-pci` device on
//! our back-end's socket. SeaBIOS drives the device first (it scans the
//! target and reads the disk's capacity before the kernel starts), then
//! the guest's `sd` driver finds the disk; the guest reads it whole and
//! checks its SHA-256, then writes a pattern at a random offset that the
//! test finds in the file afterwards; the back-end survives QEMU going
//! away and exits cleanly on SIGTERM.

use std::io::{Read, Seek, SeekFrom};
use std::process::{Command, Stdio};
use std::time::Duration;

use sha2::{Digest, Sha256};
use xtask::model::vm_image::ConsoleScript;

use super::{attach, backend_binary, guest, run_console, step, Backend};

const DISK_BYTES: usize = 8 << 20;
const PATTERN: &str = "VHU-SCSI-WRITTEN-BY-THE-GUEST-0123456789";

#[test]
#[ignore = "slow: needs qemu-system-x86_64 and a Debian guest built from the archive; run with `cargo xtask test`"]
fn qemu_boots_a_guest_whose_sd_driver_uses_our_vhost_user_scsi_backend() {
    // virtio_scsi needs scsi_mod; sd_mod is the disk driver (their own
    // dependencies are read from the modules).
    let (mut image, built) = guest(&["virtio_scsi", "sd_mod"]);

    // A disk of seeded pseudo-random bytes, and its digest.
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk.img");
    let mut bytes = vec![0u8; DISK_BYTES];
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for chunk in bytes.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    std::fs::write(&disk, &bytes).unwrap();
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    // A random byte offset (not block-aligned), chosen per run and printed.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as usize;
    let offset = 4096 + nanos % (DISK_BYTES - 8192);
    eprintln!("pattern at byte {offset}");

    let socket = dir.path().join("scsi.sock");
    let backend = Backend::start(
        Command::new(backend_binary("vhost-user-scsi"))
            .arg("--socket-path")
            .arg(&socket)
            .arg("--lun")
            .arg(format!("{},serial=vhu-scsi-test", disk.display()))
            .stderr(Stdio::piped()),
        &socket,
    );

    attach(&mut image, &socket, "vhost-user-scsi-pci,num_queues=1");
    let write = format!(
        "printf '{PATTERN}' | dd of=/dev/sda bs=1 seek={offset} conv=notrunc,fsync 2>/dev/null && sync && echo wrote-$((40 + 2))"
    );
    let script = ConsoleScript {
        steps: vec![
            step("@@VHU-BOOTED", None, 180),
            step(
                "# ",
                Some("while [ ! -b /dev/sda ]; do sleep 0.1; done; cat /sys/block/sda/device/vendor /sys/block/sda/device/model; sha256sum /dev/sda"),
                60,
            ),
            step("vhost-user-scsi", None, 60),
            step(&digest, None, 120),
            step("# ", Some(&write), 30),
            step("wrote-42", None, 120),
            step("# ", Some("reboot -f"), 10),
        ],
    };
    let out = run_console(&image, &built, &script, Duration::from_secs(420));
    assert!(
        out.transcript.contains(&digest),
        "the guest read the disk: {}",
        out.transcript
    );

    // The guest's write reached the file through our back-end.
    let mut found = vec![0u8; PATTERN.len()];
    let mut f = std::fs::File::open(&disk).unwrap();
    f.seek(SeekFrom::Start(offset as u64)).unwrap();
    f.read_exact(&mut found).unwrap();
    assert_eq!(String::from_utf8_lossy(&found), PATTERN);

    // QEMU is gone; the back-end is still serving, and SIGTERM ends it cleanly.
    backend.terminate_cleanly();
}
