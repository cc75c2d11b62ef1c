//! Real QEMU on our `vhost-user-blk`: a `vhost-user-blk-pci` device on our
//! back-end's socket. The guest reads the whole disk and
//! checks its SHA-256, then writes a pattern that the test finds in the image
//! file afterwards; the back-end survives QEMU going away and exits cleanly on
//! SIGTERM.

use std::io::{Read, Seek, SeekFrom};
use std::process::{Command, Stdio};
use std::time::Duration;

use sha2::{Digest, Sha256};
use xtask::model::vm_image::ConsoleScript;

use super::{attach, backend_binary, guest, run_console, step, Backend};

const DISK_BYTES: usize = 8 << 20;
const PATTERN: &str = "VHU-WRITTEN-BY-THE-GUEST-0123456789";
const PATTERN_SECTOR: u64 = 4097;

#[test]
#[ignore = "slow: needs qemu-system-x86_64 and a Debian guest built from the archive; run with `cargo xtask test`"]
fn qemu_boots_a_guest_on_our_vhost_user_blk_backend() {
    let (mut image, built) = guest(&[]);

    // A disk of seeded pseudo-random bytes, and its digest.
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk.img");
    let mut bytes = vec![0u8; DISK_BYTES];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
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

    let socket = dir.path().join("blk.sock");
    let backend = Backend::start(
        Command::new(backend_binary("vhost-user-blk"))
            .arg("--socket-path")
            .arg(&socket)
            .arg("--blk-file")
            .arg(&disk)
            .stderr(Stdio::piped()),
        &socket,
    );

    attach(&mut image, &socket, "vhost-user-blk-pci,num-queues=1");
    let write = format!(
        "printf '{PATTERN}' | dd of=/dev/vda bs=512 seek={PATTERN_SECTOR} conv=fsync 2>/dev/null && sync && echo wrote-$((40 + 2))"
    );
    let script = ConsoleScript {
        steps: vec![
            step("@@VHU-BOOTED", None, 120),
            step(
                "# ",
                Some("while [ ! -b /dev/vda ]; do sleep 0.1; done; sha256sum /dev/vda"),
                60,
            ),
            step(&digest, None, 120),
            step("# ", Some(&write), 30),
            step("wrote-42", None, 60),
            step("# ", Some("reboot -f"), 10),
        ],
    };
    let out = run_console(&image, &built, &script, Duration::from_secs(300));
    assert!(
        out.transcript.contains(&digest),
        "the guest read the disk: {}",
        out.transcript
    );

    // The guest's write reached the file through our back-end.
    let mut found = vec![0u8; PATTERN.len()];
    let mut f = std::fs::File::open(&disk).unwrap();
    f.seek(SeekFrom::Start(PATTERN_SECTOR * 512)).unwrap();
    f.read_exact(&mut found).unwrap();
    assert_eq!(String::from_utf8_lossy(&found), PATTERN);

    // QEMU is gone; the back-end is still serving, and SIGTERM ends it cleanly.
    backend.terminate_cleanly();
}
