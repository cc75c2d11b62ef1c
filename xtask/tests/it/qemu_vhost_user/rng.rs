//! Real QEMU on our `vhost-user-rng`: a `vhost-user-rng-pci` device on our
//! back-end's socket, fed from a file of known bytes (`--rng-source`, served
//! in a loop). The guest's hw_random core picks the virtio-rng device and
//! `/dev/hwrng` gives back the file's bytes, which nothing but our back-end
//! could have produced; the back-end survives QEMU going away and exits
//! cleanly on SIGTERM.
//!
//! Bookworm's QEMU 7.2: its `vhost-user-rng-pci` hands the back-end the
//! guest's features unmasked, `VIRTIO_RING_F_EVENT_IDX` included, which our
//! back-end offers and honours; the test checks that it was negotiated.

use std::process::{Command, Stdio};
use std::time::Duration;

use xtask::model::vm_image::ConsoleScript;

use super::{attach, backend_binary, guest, run_console, step, Backend};

/// The source's repeating text: printable, so the guest can print what it
/// read; 200 bytes read hold at least nine whole copies whatever the
/// offset the kernel's own reads (its entropy fill) left the file at.
const KNOWN: &str = "VHU-RNG-KNOWN-BYTES.";

/// `VIRTIO_RING_F_EVENT_IDX` (virtio 1.x, 6: bit 29).
const RING_EVENT_IDX: u64 = 1 << 29;

#[test]
#[ignore = "slow: needs QEMU and a Debian guest built from the archive; run with `cargo xtask test`"]
fn qemu_guest_reads_dev_hwrng_through_our_vhost_user_rng_backend() {
    let (mut image, built) = guest(&["virtio-rng"]);

    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("known-bytes");
    std::fs::write(&source, KNOWN.repeat(4096)).unwrap();
    let socket = dir.path().join("rng.sock");
    let backend = Backend::start(
        Command::new(backend_binary("vhost-user-rng"))
            .arg("--socket-path")
            .arg(&socket)
            .arg("--rng-source")
            .arg(&source)
            // Logs each vhost-user message, SET_FEATURES's value included.
            .env("VU_LOG", "debug")
            .stderr(Stdio::piped()),
        &socket,
    );

    attach(&mut image, &socket, "vhost-user-rng-pci");
    let script = ConsoleScript {
        steps: vec![
            step("@@VHU-BOOTED", None, 120),
            step(
                "# ",
                Some(
                    "while [ ! -c /dev/hwrng ]; do sleep 0.1; done; \
                     echo current-$(cat /sys/class/misc/hw_random/rng_current)-end",
                ),
                60,
            ),
            step("current-virtio_rng", None, 60),
            step(
                "# ",
                Some("head -c 200 /dev/hwrng; echo; echo read-$((40 + 2))"),
                30,
            ),
            step("read-42", None, 120),
            step("# ", Some("reboot -f"), 10),
        ],
    };
    let out = run_console(&image, &built, &script, Duration::from_secs(300));
    // What the guest printed, after the command that read it was echoed.
    let printed = out
        .transcript
        .rsplit("head -c 200 /dev/hwrng")
        .next()
        .unwrap_or_default();
    assert!(
        printed.matches(KNOWN).count() >= 9,
        "the guest read our source's bytes from /dev/hwrng:\n{}",
        out.transcript
    );

    // QEMU is gone; the back-end is still serving, and SIGTERM ends it cleanly.
    let log = backend.terminate_cleanly();
    let acked: Vec<u64> = log
        .split("SetFeatures(")
        .skip(1)
        .filter_map(|rest| rest.split(')').next()?.parse().ok())
        .collect();
    assert!(
        !acked.is_empty() && acked.iter().all(|f| f & RING_EVENT_IDX != 0),
        "QEMU 7.2 acknowledged EVENT_IDX on every connection ({acked:?}):\n{log}"
    );
}
