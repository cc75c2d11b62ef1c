//! Out-of-process tests: each spawns the `vhost-user-net` binary and drives
//! its ports through `vu-frontend`'s net driver.
#![forbid(unsafe_code)]

mod hostile;
#[cfg(target_os = "linux")]
mod tap;
mod uplink;

use std::path::PathBuf;
use std::time::Duration;
use vu_frontend::net::{NetDevice, NetOptions};
use vu_frontend::testutil::{backend_binary, BackendProcess};
use vu_frontend::Options;

fn binary() -> PathBuf {
    backend_binary("vhost-user-net", env!("CARGO_BIN_EXE_vhost-user-net"))
}

fn start(args: &[&str]) -> BackendProcess {
    BackendProcess::spawn(&binary(), args).expect("start vhost-user-net")
}

fn options() -> NetOptions {
    NetOptions {
        base: Options {
            // A frame that never comes shows up as a timeout.
            timeout: Duration::from_secs(20),
            ..Options::default()
        },
        ..NetOptions::default()
    }
}

fn connect(b: &BackendProcess) -> NetDevice {
    NetDevice::connect(b.socket(), &options())
        .unwrap_or_else(|e| panic!("connect and set up a port: {e}\n{}", b.stderr()))
}

const BROADCAST: [u8; 6] = [0xff; 6];

/// A locally administered unicast address ending in `n`.
fn mac(n: u8) -> [u8; 6] {
    [0x02, 0, 0, 0, 0, n]
}

/// An Ethernet frame (type 0x88b5, local experimental) with `payload`.
fn frame(dst: [u8; 6], src: [u8; 6], payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x88, 0xb5]);
    f.extend_from_slice(payload);
    f
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn two_ports_exchange_frames_both_ways() {
    let backend = start(&[]);
    let mut a = connect(&backend);
    let mut b = connect(&backend);
    assert!(a.mergeable() && b.mergeable());
    let to_b = frame(mac(2), mac(1), &pattern(100, 1));
    a.send(&to_b).unwrap();
    assert_eq!(b.recv().unwrap(), to_b);
    let to_a = frame(mac(1), mac(2), &pattern(1500, 2));
    b.send(&to_a).unwrap();
    let (header, got) = a.recv_with_header().unwrap();
    assert_eq!(got, to_a);
    assert_eq!(
        (header.flags, header.gso_type, header.num_buffers),
        (0, 0, 1)
    );
    for i in 0..200u32 {
        let f = frame(mac(2), mac(1), &i.to_le_bytes());
        a.send(&f).unwrap();
        assert_eq!(b.recv().unwrap(), f);
    }
}

#[test]
fn learned_addresses_go_to_one_port_and_unknown_ones_flood() {
    let backend = start(&[]);
    let mut a = connect(&backend);
    let mut b = connect(&backend);
    let mut c = connect(&backend);
    // Unknown destination: flooded to b and c.
    let first = frame(mac(2), mac(1), b"who is 2");
    a.send(&first).unwrap();
    assert_eq!(b.recv().unwrap(), first);
    // b answers a, whose address was learned on a's port: c does not see it.
    let answer = frame(mac(1), mac(2), b"2 is here");
    b.send(&answer).unwrap();
    assert_eq!(a.recv().unwrap(), answer);
    // Then a broadcast from b; c's next frames are the flood and the
    // broadcast, never the unicast answer in between.
    let bcast = frame(BROADCAST, mac(2), b"hello all");
    b.send(&bcast).unwrap();
    assert_eq!(c.recv().unwrap(), first);
    assert_eq!(c.recv().unwrap(), bcast);
    assert_eq!(a.recv().unwrap(), bcast);
    // Now a → 2 is learned too: only b gets it; c sees the next broadcast.
    let direct = frame(mac(2), mac(1), b"direct");
    a.send(&direct).unwrap();
    assert_eq!(b.recv().unwrap(), direct);
    let bcast2 = frame(BROADCAST, mac(1), b"again");
    a.send(&bcast2).unwrap();
    assert_eq!(c.recv().unwrap(), bcast2);
}

#[test]
fn a_frame_spans_mergeable_buffers_and_a_port_without_them_drops_what_cannot_fit() {
    let backend = start(&[]);
    let mut a = connect(&backend);
    let mut small = NetDevice::connect(
        backend.socket(),
        &NetOptions {
            rx_buffer_len: 256,
            ..options()
        },
    )
    .unwrap();
    let mut plain = NetDevice::connect(
        backend.socket(),
        &NetOptions {
            mergeable: false,
            rx_buffer_len: 1536,
            ..options()
        },
    )
    .unwrap();
    assert!(!plain.mergeable());
    let big = frame(BROADCAST, mac(1), &pattern(9000, 7));
    a.send(&big).unwrap();
    let (header, got) = small.recv_with_header().unwrap();
    assert_eq!(got, big);
    // 12 + 9014 bytes in 256-byte buffers.
    assert_eq!(header.num_buffers, (12 + 9014usize).div_ceil(256) as u16);
    // The plain port could not take it; its next frame is the next one.
    let next = frame(BROADCAST, mac(1), b"small");
    a.send(&next).unwrap();
    assert_eq!(plain.recv().unwrap(), next);
    assert_eq!(small.recv().unwrap(), next);
}

#[test]
fn frames_wait_for_receive_buffers_and_a_full_inbox_drops_instead_of_growing() {
    let backend = start(&[]);
    let mut a = connect(&backend);
    // Four receive buffers: the rest of a burst waits in the port's inbox.
    let mut b = NetDevice::connect(
        backend.socket(),
        &NetOptions {
            rx_buffers: 4,
            ..options()
        },
    )
    .unwrap();
    let sent: Vec<Vec<u8>> = (0..40u32)
        .map(|i| frame(mac(2), mac(1), &i.to_le_bytes()))
        .collect();
    for f in &sent {
        a.send(f).unwrap();
    }
    for f in &sent {
        assert_eq!(&b.recv().unwrap(), f);
    }
}

#[test]
fn serves_ports_after_others_leave_then_exits_cleanly_on_sigterm() {
    let backend = start(&[]);
    for round in 0..3u8 {
        let mut a = connect(&backend);
        let mut b = connect(&backend);
        let f = frame(BROADCAST, mac(10 + round), b"round");
        a.send(&f).unwrap();
        assert_eq!(b.recv().unwrap(), f);
    }
    // Two ports still connected when the signal comes.
    let _a = connect(&backend);
    let _b = connect(&backend);
    let st = backend.terminate().unwrap();
    assert!(st.success(), "{st}");
}

#[test]
fn print_capabilities_matches_the_descriptor_file() {
    let out = std::process::Command::new(binary())
        .arg("--print-capabilities")
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    let descriptor = include_str!("../../50-vhost-user-net.json");
    vu_frontend::testutil::assert_capabilities_match_descriptor(
        "vhost-user-net",
        &printed,
        descriptor,
        &[],
    );
}

#[test]
fn option_errors_name_the_option() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(binary())
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} was accepted");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = run(&[
        "--socket-path",
        "/nonexistent/x",
        "--udp-local",
        "127.0.0.1:0",
    ]);
    assert!(e.contains("--udp-remote"), "{e}");
    let e = run(&[
        "--socket-path",
        "s",
        "--udp-local",
        "nowhere",
        "--udp-remote",
        "127.0.0.1:9",
    ]);
    assert!(e.contains("--udp-local"), "{e}");
    let e = run(&["--socket-path", "s", "--max-ports", "0"]);
    assert!(e.contains("--max-ports"), "{e}");
    let e = run(&[
        "--socket-path",
        "s",
        "--tap",
        "tap0",
        "--udp-local",
        "127.0.0.1:0",
        "--udp-remote",
        "127.0.0.1:9",
    ]);
    assert!(e.contains("--tap") && e.contains("--udp-local"), "{e}");
    let e = run(&["--socket-path", "/nonexistent/x", "--tap", "no/such name"]);
    assert!(
        e.contains("\"no/such name\" is not an interface name"),
        "{e}"
    );
    let e = run(&["--udp-local", "127.0.0.1:0", "--udp-remote", "127.0.0.1:9"]);
    assert!(e.contains("--socket-path"), "{e}");
}
