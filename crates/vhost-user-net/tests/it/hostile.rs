//! Malformed transmissions close that port's connection; the switch and
//! its other ports go on.

use super::*;
use vu_protocol::virtio::net::{flags, gso, NetHeader};

/// Sends `bad` from a fresh port, checks that its connection closes with
/// `message` in the log, and that two other ports still talk.
fn closes_only_that_port(send: impl FnOnce(&mut NetDevice, &mut NetDevice), message: &str) {
    let mut backend = start(&[]);
    let mut a = connect(&backend);
    let mut b = connect(&backend);
    let mut bad = connect(&backend);
    send(&mut bad, &mut a);
    let conn = bad.frontend_mut().connection();
    assert!(conn.wait_closed(Duration::from_secs(20)), "still open");
    let f = frame(mac(2), mac(1), b"still switching");
    a.send(&f).unwrap();
    // Frames that `send` made `a` flood come first.
    let mut got = b.recv().unwrap();
    for _ in 0..4 {
        if got == f {
            break;
        }
        got = b.recv().unwrap();
    }
    assert_eq!(got, f);
    assert!(backend.is_running());
    let log = backend.stderr_once_it_holds(message, Duration::from_secs(20));
    assert!(log.contains(message), "{log}");
}

#[test]
fn a_header_asking_for_segmentation_closes_the_connection() {
    closes_only_that_port(
        |d, _| {
            let h = NetHeader {
                gso_type: gso::TCPV4,
                gso_size: 1448,
                ..NetHeader::default()
            };
            // The back-end completes the request before it closes.
            let _ = d.send_with_header(h, &frame(mac(2), mac(3), &[0; 64]));
        },
        "header asks for an offload that was not negotiated (flags 0x0, gso_type 0x1)",
    );
}

#[test]
fn a_header_asking_for_a_checksum_closes_the_connection() {
    closes_only_that_port(
        |d, _| {
            let h = NetHeader {
                flags: flags::NEEDS_CSUM,
                csum_start: 34,
                csum_offset: 16,
                ..NetHeader::default()
            };
            let _ = d.send_with_header(h, &frame(mac(2), mac(3), &[0; 64]));
        },
        "gso_type 0x0)",
    );
}

#[test]
fn runt_and_oversized_frames_close_the_connection() {
    closes_only_that_port(
        |d, _| {
            let _ = d.send(&[0xff; 13]);
        },
        "frame of 13 bytes is shorter than an Ethernet header",
    );
    closes_only_that_port(
        |d, _| {
            let _ = d.send(&vec![0xff; NetDevice::MAX_FRAME + 1]);
        },
        "frame of 65554 bytes is longer than 65553",
    );
}

#[test]
fn a_transmit_chain_shorter_than_the_header_closes_the_connection() {
    closes_only_that_port(
        |d, _| {
            let fe = d.frontend_mut();
            let gpa = fe.ram_mut().alloc(64, 8, true).unwrap();
            let _ = fe.submit(
                vu_frontend::net::TX,
                &[vu_frontend::Buf {
                    gpa,
                    len: 8,
                    writable: false,
                }],
            );
        },
        "transmit chain of 8 readable bytes is shorter than the 12-byte header",
    );
}

#[test]
fn a_receive_chain_that_loops_closes_the_connection() {
    closes_only_that_port(
        |d, a| {
            let fe = d.frontend_mut();
            // The first receive buffer posted (descriptor 0, the first
            // free one) now points at itself.
            let gpa = fe.ram_mut().alloc(4096, 8, true).unwrap();
            fe.write_descriptor(
                vu_frontend::net::RX,
                0,
                vu_protocol::virtio::split::Descriptor {
                    addr: gpa,
                    len: 2048,
                    flags: vu_protocol::virtio::split::VRING_DESC_F_WRITE
                        | vu_protocol::virtio::split::VRING_DESC_F_NEXT,
                    next: 0,
                },
            )
            .unwrap();
            // The chain is walked when a frame arrives for this port.
            let _ = fe;
            a.send(&frame(BROADCAST, mac(1), b"for everyone")).unwrap();
        },
        "descriptor chain longer than its table (a loop)",
    );
}

#[test]
fn mergeable_receive_buffers_smaller_than_a_header_close_the_connection() {
    let backend = start(&[]);
    let mut a = connect(&backend);
    let tiny = NetDevice::connect(
        backend.socket(),
        &NetOptions {
            rx_buffer_len: 8,
            ..options()
        },
    )
    .unwrap();
    a.send(&frame(BROADCAST, mac(1), b"for everyone")).unwrap();
    assert!(tiny
        .frontend()
        .connection()
        .wait_closed(Duration::from_secs(20)));
    let mut b = connect(&backend);
    let f = frame(BROADCAST, mac(1), b"still switching");
    a.send(&f).unwrap();
    assert_eq!(b.recv().unwrap(), f);
    let message = "mergeable receive buffer of 8 bytes cannot hold the 12-byte header";
    let log = backend.stderr_once_it_holds(message, Duration::from_secs(20));
    assert!(log.contains(message), "{log}");
}
