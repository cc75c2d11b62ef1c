//! Real QEMU on our `vhost-user-net`: two guests, each a `virtio-net-pci`
//! device (`-netdev vhost-user`) on the same back-end socket, so each is a
//! port of one switch. They take static addresses, ping each other, then
//! one sends 4 MiB of random bytes to the other with busybox `nc`, and both
//! print the SHA-256 of what they sent and received. QEMU 7.2 under TCG
//! crashes when a vhost-user-net device starts with MSI-X, so the devices
//! use legacy interrupts (`vectors=0`; FACTS.md).

use std::process::{Command, Stdio};
use std::time::Duration;

use xtask::model::vm_image::{ConsoleScript, VmImage};
use xtask::vm::debian::BuiltImage;

use super::{backend_binary, guest, run_console, shared_memory, step, Backend};

/// Guest `n`'s address, and the QEMU arguments of its port.
fn port_args(image: &VmImage, socket: &std::path::Path, n: u8) -> Vec<String> {
    let chardev = format!("socket,id=vu0,path={}", socket.display());
    let device = format!("virtio-net-pci,netdev=net0,mac=52:54:00:12:34:{n:02x},vectors=0");
    let mut args = shared_memory(image);
    args.extend(
        [
            "-nic",
            "none",
            "-chardev",
            &chardev,
            "-netdev",
            "vhost-user,id=net0,chardev=vu0",
            "-device",
            &device,
        ]
        .map(String::from),
    );
    args
}

/// Brings eth0 up as 10.0.0.`n`/24 (the virtio device is probed
/// asynchronously: wait for it first).
fn configure(n: u8) -> String {
    format!(
        "i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; \
         ip link set eth0 up && ip addr add 10.0.0.{n}/24 dev eth0 && echo configured-$((40+{n}))"
    )
}

/// The SHA-256 that a guest's `sha256sum` printed for `file`.
fn digest_of(transcript: &str, file: &str) -> String {
    transcript
        .lines()
        .rev()
        .find_map(|l| {
            let l = l.trim_end_matches('\r');
            let (hex, name) = l.split_once("  ")?;
            (name == file && hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| hex.to_string())
        })
        .unwrap_or_else(|| panic!("no digest of {file} in:\n{transcript}"))
}

#[test]
#[ignore = "slow: needs qemu-system-x86_64 and a Debian guest built from the archive; run with `cargo xtask test`"]
fn two_qemu_guests_ping_and_move_data_through_our_vhost_user_net_switch() {
    let (image, built) = guest(&["failover", "net_failover", "virtio_net"]);
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("net.sock");
    let backend = Backend::start(
        Command::new(backend_binary("vhost-user-net"))
            .arg("--socket-path")
            .arg(&socket)
            .env("VU_LOG", "info")
            .stderr(Stdio::piped()),
        &socket,
    );

    // Guest 1 receives; guest 2 pings it, then sends. The listener's stdin
    // is the console, which stays open, so it ends when the sender's data
    // ends (busybox nc stops when either side reaches end of file).
    let receiver = ConsoleScript {
        steps: vec![
            step("@@VHU-BOOTED", None, 240),
            step("# ", Some(&configure(1)), 60),
            step("configured-41", None, 60),
            step(
                "# ",
                Some("nc -l -p 5000 > /tmp/received && sha256sum /tmp/received && echo received-$((40+2))"),
                10,
            ),
            step("received-42", None, 600),
            step("# ", Some("reboot -f"), 10),
        ],
    };
    let sender = ConsoleScript {
        steps: vec![
            step("@@VHU-BOOTED", None, 240),
            step("# ", Some(&configure(2)), 60),
            step("configured-42", None, 60),
            // The receiver may still be booting: wait for its answer first.
            step(
                "# ",
                Some("i=0; until ping -c 1 -W 2 10.0.0.1 >/dev/null || [ $i -ge 120 ]; do i=$((i+1)); done; ping -c 3 10.0.0.1"),
                10,
            ),
            step("3 packets received", None, 400),
            step(
                "# ",
                Some("dd if=/dev/urandom of=/tmp/sent bs=64k count=64 2>/dev/null; sha256sum /tmp/sent"),
                10,
            ),
            step("/tmp/sent", None, 120),
            // Until the receiver listens (a refused connect fails at once).
            step(
                "# ",
                Some("i=0; until nc 10.0.0.1 5000 < /tmp/sent || [ $i -ge 120 ]; do sleep 1; i=$((i+1)); done; echo sent-$((40+2))"),
                10,
            ),
            step("sent-42", None, 600),
            step("# ", Some("reboot -f"), 10),
        ],
    };

    let run = |n: u8, script: ConsoleScript, image: &VmImage, built: &BuiltImage| {
        let mut image = image.clone();
        image.extra_args.extend(port_args(&image, &socket, n));
        run_console(&image, built, &script, Duration::from_secs(1200))
    };
    let (got, sent) = std::thread::scope(|s| {
        let r = s.spawn(|| run(1, receiver, &image, &built));
        let t = s.spawn(|| run(2, sender, &image, &built));
        (r.join().unwrap(), t.join().unwrap())
    });
    assert!(
        sent.transcript.contains("3 packets received"),
        "ping: {}",
        sent.transcript
    );
    let sent_digest = digest_of(&sent.transcript, "/tmp/sent");
    let got_digest = digest_of(&got.transcript, "/tmp/received");
    assert_eq!(
        got_digest, sent_digest,
        "the 4 MiB arrived intact\nsender:\n{}\nreceiver:\n{}",
        sent.transcript, got.transcript
    );

    // Both QEMUs are gone; the back-end is still serving, and SIGTERM ends
    // it cleanly. It saw two ports come and go.
    let log = backend.terminate_cleanly();
    assert!(log.matches("front-end connected").count() >= 2, "{log}");
}
