//! The tap uplink with a real kernel on the other side (Linux): the
//! back-end creates the tap interface, the test moves it into a network
//! namespace of its own, gives it an address there and brings it up, and a
//! port of the switch resolves that address (ARP) and pings it (ICMP echo)
//! through the tap.

use super::*;
use std::process::Command;

const KERNEL_IP: [u8; 4] = [10, 213, 0, 1];
const PORT_IP: [u8; 4] = [10, 213, 0, 2];
const ETH_ARP: [u8; 2] = [0x08, 0x06];
const ETH_IPV4: [u8; 2] = [0x08, 0x00];

/// Runs `ip ARGS`, panicking with its stderr on failure.
fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ip {args:?}: {e}"));
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace, deleted when dropped (with what was moved into it).
struct Netns(String);

impl Netns {
    fn new(name: String) -> Self {
        ip(&["netns", "add", &name]);
        Self(name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|u| u.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// The Internet checksum (RFC 1071) of `data`.
fn checksum(data: &[u8]) -> [u8; 2] {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    (!(sum as u16)).to_be_bytes()
}

fn arp(op: u8, dst: [u8; 6], sha: [u8; 6], spa: [u8; 4], tha: [u8; 6], tpa: [u8; 4]) -> Vec<u8> {
    let mut f = Vec::with_capacity(60);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sha);
    f.extend_from_slice(&ETH_ARP);
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, op]);
    f.extend_from_slice(&sha);
    f.extend_from_slice(&spa);
    f.extend_from_slice(&tha);
    f.extend_from_slice(&tpa);
    f.resize(60, 0);
    f
}

fn echo_request(dst: [u8; 6], src: [u8; 6], id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0];
    icmp.extend_from_slice(&id.to_be_bytes());
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(payload);
    let c = checksum(&icmp);
    icmp[2..4].copy_from_slice(&c);
    let total = (20 + icmp.len()) as u16;
    let mut ip4 = vec![0x45, 0];
    ip4.extend_from_slice(&total.to_be_bytes());
    ip4.extend_from_slice(&[0x12, 0x34, 0x40, 0, 64, 1, 0, 0]);
    ip4.extend_from_slice(&PORT_IP);
    ip4.extend_from_slice(&KERNEL_IP);
    let c = checksum(&ip4);
    ip4[10..12].copy_from_slice(&c);
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ETH_IPV4);
    f.extend_from_slice(&ip4);
    f.extend_from_slice(&icmp);
    f
}

/// Receives until `pick` accepts a frame, answering the kernel's ARP
/// requests for the port's address on the way; other frames (IPv6 router
/// solicitations, multicast reports) are skipped, at most 50 of them.
fn recv_until<T>(d: &mut NetDevice, me: [u8; 6], mut pick: impl FnMut(&[u8]) -> Option<T>) -> T {
    let mut skipped = Vec::new();
    for _ in 0..50 {
        let f = d.recv().expect("a frame from the tap");
        if let Some(t) = pick(&f) {
            return t;
        }
        if f.len() >= 42 && f[12..14] == ETH_ARP && f[21] == 1 && f[38..42] == PORT_IP {
            let mut asker = [0u8; 6];
            asker.copy_from_slice(&f[22..28]);
            d.send(&arp(2, asker, me, PORT_IP, asker, KERNEL_IP))
                .unwrap();
        }
        skipped.push(format!("{:02x?}", &f[..f.len().min(34)]));
    }
    panic!(
        "no expected frame among 50; skipped:\n{}",
        skipped.join("\n")
    );
}

#[test]
#[ignore = "needs root, /dev/net/tun and iproute2's ip (makes a network namespace); run with `cargo xtask test`"]
fn a_port_resolves_and_pings_the_kernel_through_a_tap_uplink() {
    assert!(
        is_root(),
        "prerequisite missing: root (to create a tap interface and a network namespace)"
    );
    assert!(
        std::path::Path::new("/dev/net/tun").exists(),
        "prerequisite missing: /dev/net/tun (modprobe tun)"
    );
    let pid = std::process::id();
    let name = format!("vhutap{}", pid % 100_000);
    let ns = Netns::new(format!("vhu-tap-{pid}"));
    let backend = start(&["--tap", &name]);
    let log = backend.stderr_once_it_holds("tap uplink: interface", Duration::from_secs(20));
    assert!(
        log.contains(&format!("tap uplink: interface {name}")),
        "{log}"
    );
    // The tap keeps working across the move: the back-end's fd stays
    // attached to the interface.
    ip(&["link", "set", &name, "netns", &ns.0]);
    ip(&["-n", &ns.0, "addr", "add", "10.213.0.1/24", "dev", &name]);
    ip(&["-n", &ns.0, "link", "set", &name, "up"]);

    let me = mac(0x42);
    let mut port = connect(&backend);
    port.send(&arp(1, BROADCAST, me, PORT_IP, [0; 6], KERNEL_IP))
        .unwrap();
    let kernel_mac = recv_until(&mut port, me, |f| {
        let reply = f.len() >= 42
            && f[..6] == me
            && f[12..14] == ETH_ARP
            && f[20..22] == [0, 2]
            && f[28..32] == KERNEL_IP;
        reply.then(|| {
            let mut m = [0u8; 6];
            m.copy_from_slice(&f[22..28]);
            m
        })
    });
    assert!(
        kernel_mac != me && kernel_mac[0] & 1 == 0,
        "{kernel_mac:02x?}"
    );

    for seq in 1..=3u16 {
        let payload = pattern(56 + usize::from(seq) * 100, seq as u8);
        port.send(&echo_request(kernel_mac, me, 0x7675, seq, &payload))
            .unwrap();
        let reply = recv_until(&mut port, me, |f| {
            let ok = f.len() >= 42
                && f[..6] == me
                && f[12..14] == ETH_IPV4
                && f[23] == 1
                && f[26..30] == KERNEL_IP
                && f[34] == 0
                && f[38..40] == 0x7675u16.to_be_bytes()
                && f[40..42] == seq.to_be_bytes();
            ok.then(|| f.to_vec())
        });
        assert_eq!(&reply[42..], &payload[..], "echo payload {seq}");
        assert_eq!(checksum(&reply[14..34]), [0, 0], "IPv4 header checksum");
        assert_eq!(checksum(&reply[34..]), [0, 0], "ICMP checksum");
    }
    let (st, log) = backend.terminate_with_stderr().unwrap();
    assert!(st.success(), "{st}\n{log}");
    assert!(
        log.contains("tap uplink stopped: 0 malformed frame(s) received"),
        "{log}"
    );
}
