//! Real QEMU on our `vhost-user-input`: a `vhost-user-input-pci` device on
//! our back-end's socket, fed by a FIFO of script lines. The guest's
//! virtio_input driver reads the configuration space (its name, serial and
//! capabilities show in `/proc/bus/input/devices`); the guest then opens the
//! device's `/dev/input/eventN`, starts reading it and turns NumLock on by
//! writing an `EV_LED` event, which the driver sends on the status queue.
//! When the back-end logs that status event, the test writes a key tap into
//! the FIFO, and the guest's reader prints the press and the release.
//!
//! QEMU 10.0.2 from backports: bookworm's 7.2 refuses `vhost-user-input-pci`
//! without KVM, and KVM does not boot guests on these machines.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use xtask::model::vm_image::ConsoleScript;

use super::{attach, backend_binary, guest, run_console, step, use_backport_qemu, Backend};

const NAME: &str = "vhu test keyboard";
const SERIAL: &str = "vhu-kbd-42";

/// `struct input_event` bytes as the guest's reader prints them (24 per
/// line, in hex), after the 16 bytes of time: type, code, value.
const LED_ON: &str = "1100000001000000";
const KEY_A_DOWN: &str = "01001e0001000000";
const KEY_A_UP: &str = "01001e0000000000";

#[test]
#[ignore = "slow: needs QEMU from backports and a Debian guest built from the archive; run with `cargo xtask test`"]
fn qemu_guest_sees_our_vhost_user_input_device_and_reads_its_key_events() {
    let (mut image, built) = guest(&["virtio_input", "evdev"]);
    use_backport_qemu(&mut image);

    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("events.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo {}", fifo.display());
    let socket = dir.path().join("input.sock");
    let mut backend = Backend::start(
        Command::new(backend_binary("vhost-user-input"))
            .arg("--socket-path")
            .arg(&socket)
            .arg("--script")
            .arg(&fifo)
            .args(["--name", NAME, "--serial", SERIAL])
            .env("VU_LOG", "info")
            .stderr(Stdio::piped()),
        &socket,
    );
    // Waits for the guest's LED event to reach the back-end, then types.
    let log = BufReader::new(backend.0.stderr.take().unwrap());
    let typist = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut typed = false;
        for line in log.lines() {
            let line = line.unwrap();
            if !typed && line.contains("status event: type 17 code 0 value 1") {
                let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
                w.write_all(b"tap KEY_A\n").unwrap();
                typed = true;
            }
            seen.push(line);
        }
        (typed, seen.join("\n"))
    });

    attach(&mut image, &socket, "vhost-user-input-pci");
    let find = format!(
        "while ! grep -q '{NAME}' /proc/bus/input/devices; do sleep 0.1; done; \
         E=$(grep -A6 '{NAME}' /proc/bus/input/devices | sed -n 's/.*\\(event[0-9]*\\).*/\\1/p'); \
         cat /proc/bus/input/devices; echo found-$E-end"
    );
    // Open the device first (so no event can come before the reader), read
    // it in the background, then write NumLock on: 16 bytes of time, type
    // EV_LED (17), code LED_NUML (0), value 1.
    let read_and_led = format!(
        "exec 3</dev/input/$E; hexdump -v -e '24/1 \"%02x\" \"\\n\"' <&3 & \
         printf '{}\\021\\000\\000\\000\\001\\000\\000\\000' > /dev/input/$E; echo led-$((40 + 2))",
        "\\000".repeat(16)
    );
    let script = ConsoleScript {
        steps: vec![
            step("@@VHU-BOOTED", None, 120),
            step("# ", Some(&find), 60),
            step("found-event", None, 60),
            step("# ", Some(&read_and_led), 30),
            // The reader prints the echo of NumLock, then the tap the test
            // typed once the back-end saw the LED on the status queue.
            step(LED_ON, None, 30),
            step(KEY_A_DOWN, None, 60),
            // The shell waits at its prompt meanwhile, wherever the reader's
            // lines fell.
            step(KEY_A_UP, Some("reboot -f"), 30),
        ],
    };
    let out = run_console(&image, &built, &script, Duration::from_secs(300));
    let t = &out.transcript;
    for want in [
        format!("N: Name=\"{NAME}\""),
        format!("U: Uniq={SERIAL}"),
        "I: Bus=0006".to_string(),
        // SYN, KEY, LED and REP; the three LEDs.
        "B: EV=120003".to_string(),
        "B: LED=7".to_string(),
    ] {
        assert!(t.contains(&want), "the guest shows {want}:\n{t}");
    }

    // QEMU is gone; the back-end is still serving, and SIGTERM ends it cleanly.
    backend.terminate_cleanly();
    let (typed, log) = typist.join().unwrap();
    assert!(
        typed,
        "the back-end never logged the guest's LED event:\n{log}"
    );
}
