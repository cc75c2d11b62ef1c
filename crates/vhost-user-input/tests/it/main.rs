//! Out-of-process tests: each spawns the `vhost-user-input` binary and
//! drives it through `vu-frontend`'s virtio-input driver.
#![forbid(unsafe_code)]

mod malformed;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use vu_frontend::input::InputDevice;
use vu_frontend::testutil::{backend_binary, BackendProcess, TempDir};
use vu_frontend::Options;
use vu_protocol::virtio::input::{ev, select, AbsInfo, DevIds, Event};

fn binary() -> PathBuf {
    backend_binary("vhost-user-input", env!("CARGO_BIN_EXE_vhost-user-input"))
}

fn start(args: &[&str]) -> BackendProcess {
    BackendProcess::spawn(&binary(), args).expect("start vhost-user-input")
}

fn connect(b: &BackendProcess) -> InputDevice {
    InputDevice::connect(b.socket(), &Options::default(), 8).expect("connect and set up")
}

fn script(dir: &TempDir, text: &str) -> String {
    let path = dir.path().join("events.txt");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn key(code: u16, value: u32) -> Event {
    Event {
        kind: ev::KEY,
        code,
        value,
    }
}

const SYN: Event = Event {
    kind: ev::SYN,
    code: 0,
    value: 0,
};

#[test]
fn the_config_space_shows_a_keyboards_identity_and_capabilities() {
    let dir = TempDir::new().unwrap();
    let s = script(&dir, "");
    let b = start(&[
        "--script",
        &s,
        "--name",
        "test keyboard",
        "--serial",
        "kbd-7",
    ]);
    let dev = connect(&b);
    assert_eq!(
        dev.config_item(select::ID_NAME, 0).unwrap(),
        b"test keyboard"
    );
    assert_eq!(dev.config_item(select::ID_SERIAL, 0).unwrap(), b"kbd-7");
    let ids = dev.config_item(select::ID_DEVIDS, 0).unwrap();
    let ids = DevIds::from_le_bytes(ids.try_into().unwrap());
    assert_eq!((ids.bustype, ids.product), (0x06, 1));
    let keys = dev.config_item(select::EV_BITS, ev::KEY as u8).unwrap();
    assert_eq!(keys.len(), 32, "keys 1..=248");
    assert_eq!(keys[0], 0xfe, "no key 0, keys 1-7");
    assert_eq!(
        dev.config_item(select::EV_BITS, ev::LED as u8).unwrap(),
        [0b111]
    );
    assert!(!dev
        .config_item(select::EV_BITS, ev::REP as u8)
        .unwrap()
        .is_empty());
    assert!(dev
        .config_item(select::EV_BITS, ev::REL as u8)
        .unwrap()
        .is_empty());
    assert!(dev.config_item(select::ABS_INFO, 0).unwrap().is_empty());
    assert!(dev.config_item(0x7f, 0).unwrap().is_empty(), "no such item");
}

#[test]
fn a_tablet_has_absolute_axes_with_their_ranges() {
    let dir = TempDir::new().unwrap();
    let s = script(&dir, "");
    let b = start(&["--script", &s, "--kind", "tablet"]);
    let dev = connect(&b);
    assert_eq!(
        dev.config_item(select::ID_NAME, 0).unwrap(),
        b"vhost-user-input scripted tablet"
    );
    assert_eq!(
        dev.config_item(select::EV_BITS, ev::ABS as u8).unwrap(),
        [0b11]
    );
    for axis in [0, 1] {
        let info = dev.config_item(select::ABS_INFO, axis).unwrap();
        let info = AbsInfo::from_le_bytes(info.try_into().unwrap());
        assert_eq!((info.min, info.max), (0, 32767));
    }
}

#[test]
fn a_script_file_is_replayed_to_every_connection_then_sigterm_ends_it() {
    let dir = TempDir::new().unwrap();
    let s = script(
        &dir,
        "# two keys\ntap KEY_A\nEV_KEY KEY_B 1\nEV_SYN SYN_REPORT 0\n",
    );
    let b = start(&["--script", &s]);
    for _ in 0..2 {
        let mut dev = connect(&b);
        let got: Vec<Event> = (0..6).map(|_| dev.next_event().unwrap()).collect();
        assert_eq!(got, [key(30, 1), SYN, key(30, 0), SYN, key(48, 1), SYN]);
        assert!(!dev.event_pending().unwrap());
    }
    let (st, log) = b.terminate_with_stderr().unwrap();
    assert!(st.success(), "{st}: {log}");
}

#[test]
fn events_outside_the_capabilities_are_dropped_with_a_warning() {
    let dir = TempDir::new().unwrap();
    // A keyboard has no relative axes.
    let s = script(&dir, "EV_REL REL_X 5\ntap KEY_C\n");
    let b = start(&["--script", &s]);
    let mut dev = connect(&b);
    assert_eq!(dev.next_event().unwrap(), key(46, 1));
    assert!(
        b.stderr().contains("not in the device's capabilities"),
        "{}",
        b.stderr()
    );
}

fn fifo(dir: &TempDir) -> PathBuf {
    let path = dir.path().join("events.fifo");
    vu_sys::make_fifo(&path).unwrap();
    path
}

fn write_fifo(path: &Path, text: &str) {
    // Each writer opens and closes: the back-end keeps reading.
    let mut w = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    w.write_all(text.as_bytes()).unwrap();
}

#[test]
fn a_fifo_delivers_events_as_writers_come_and_go_and_an_idle_device_sleeps() {
    let dir = TempDir::new().unwrap();
    let f = fifo(&dir);
    let b = start(&["--script", f.to_str().unwrap()]);
    let mut dev = connect(&b);
    // No event yet: the buffers wait, and the back-end does not spin.
    let before = b.cpu_time().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let used = b.cpu_time().unwrap() - before;
    assert!(
        used < Duration::from_millis(100),
        "{used:?} of CPU while idle"
    );
    assert!(
        !dev.event_pending().unwrap(),
        "no empty event was completed"
    );
    write_fifo(&f, "EV_KEY KEY_ENTER 1\nEV_SYN 0 0\nEV_KEY KEY_EN");
    assert_eq!(dev.next_event().unwrap(), key(28, 1));
    assert_eq!(dev.next_event().unwrap(), SYN);
    // The rest of a line split across writers, then more than the ring holds.
    let mut more = String::from("TER 0\n");
    for _ in 0..20 {
        more.push_str("tap KEY_Z\n");
    }
    write_fifo(&f, &more);
    assert_eq!(dev.next_event().unwrap(), key(28, 0));
    for _ in 0..20 {
        let got: Vec<Event> = (0..4).map(|_| dev.next_event().unwrap()).collect();
        assert_eq!(got, [key(44, 1), SYN, key(44, 0), SYN]);
    }
    // A bad line is skipped, and said.
    write_fifo(&f, "nonsense\ntap KEY_X\n");
    assert_eq!(dev.next_event().unwrap(), key(45, 1));
    assert!(b.stderr().contains("line 24"), "{}", b.stderr());
}

#[test]
fn status_events_are_taken_and_logged() {
    let dir = TempDir::new().unwrap();
    let s = script(&dir, "");
    let b = start(&["--script", &s]);
    let mut dev = connect(&b);
    dev.send_status(Event {
        kind: ev::LED,
        code: 1,
        value: 1,
    })
    .unwrap();
    // Still serving.
    assert!(dev.config_item(select::ID_NAME, 0).is_ok());
    assert!(
        b.stderr().contains("status event: type 17 code 1 value 1"),
        "{}",
        b.stderr()
    );
}

#[test]
fn print_capabilities_matches_the_descriptor_file() {
    let out = std::process::Command::new(binary())
        .arg("--print-capabilities")
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    let descriptor = include_str!("../../50-vhost-user-input.json");
    let features: &[&str] = if cfg!(any(target_os = "linux", target_os = "freebsd")) {
        &["evdev-path", "no-grab"]
    } else {
        &[]
    };
    vu_frontend::testutil::assert_capabilities_match_descriptor(
        "vhost-user-input",
        &printed,
        descriptor,
        features,
    );
}

#[test]
fn bad_options_and_sources_are_refused_at_start_naming_them() {
    let dir = TempDir::new().unwrap();
    let bad = script(&dir, "tap KEY_A\nEV_KEY KEY_A\n");
    let missing = dir.path().join("missing").display().to_string();
    let sock = dir.path().join("s.sock").display().to_string();
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["--script", &bad],
            format!("script {bad}: line 2: expected"),
        ),
        (vec!["--script", &missing], format!("cannot open {missing}")),
        (vec![], "--script".into()),
        (
            vec!["--script", &bad, "--kind", "joystick"],
            "joystick".into(),
        ),
        (
            vec!["--evdev-path", "/dev/null"],
            if cfg!(any(target_os = "linux", target_os = "freebsd")) {
                "cannot use /dev/null as an evdev device".into()
            } else {
                "--evdev-path needs evdev".into()
            },
        ),
    ];
    for (args, says) in cases {
        let out = std::process::Command::new(binary())
            .arg("--socket-path")
            .arg(&sock)
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(err.contains(&says), "{args:?}: {err}");
    }
}
