//! Malformed and out-of-order input: each case must close that connection,
//! for the reason the case names (the back-end's one `closing connection:`
//! log line on stderr, whose wording is the error's `Display` chain), and
//! leave the back-end serving the next connection.

use crate::*;
use std::os::fd::AsFd;
use std::time::Duration;
use vu_frontend::{Connection, Frontend};
use vu_protocol::msg::{VringAddr, VringState};
use vu_protocol::virtio::split::{
    Descriptor, VRING_DESC_F_INDIRECT, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE,
};
use vu_protocol::{FrontendReq, Header, Pod};

const CLOSE_WAIT: Duration = Duration::from_secs(20);

fn raw(request: u32, flags: u32, size: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = Header {
        request,
        flags,
        size,
    }
    .as_bytes()
    .to_vec();
    v.extend_from_slice(payload);
    v
}

/// Runs `provoke` on a fresh connection, then checks that the back-end
/// closed it, logged exactly one error whose reason contains `reason`, and
/// still serves a new connection.
fn expect_closed(what: &str, reason: &str, provoke: impl FnOnce(&BackendProcess) -> Connection) {
    let image = Image::new(&vec![0u8; 1 << 20]);
    let mut backend = start(&image.path, &[]);
    let conn = provoke(&backend);
    assert!(
        conn.wait_closed(CLOSE_WAIT),
        "{what}: connection was not closed"
    );
    drop(conn);
    // Served after the failed connection was logged: the line is there.
    assert_still_serving(&backend);
    assert!(backend.is_running(), "{what}: back-end exited");
    let log = backend.stderr();
    let closed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("closing connection: "))
        .collect();
    assert_eq!(
        closed.len(),
        1,
        "{what}: expected one connection closed with an error:\n{log}"
    );
    assert!(
        closed[0].contains(reason),
        "{what}: expected the reason `{reason}`, got:\n{}",
        closed[0]
    );
}

fn connect_raw(backend: &BackendProcess) -> Connection {
    Connection::connect(backend.socket()).unwrap()
}

#[test]
fn set_features_with_4_bytes_closes_for_its_payload_size() {
    expect_closed(
        "SET_FEATURES with 4 bytes",
        "invalid message: SetFeatures: payload is 4 bytes, expected 8",
        |b| {
            let c = connect_raw(b);
            c.send_raw(&raw(FrontendReq::SetFeatures.code(), 1, 4, &[0; 4]), &[])
                .unwrap();
            c
        },
    );
}

#[test]
fn version_2_closes_as_unsupported() {
    expect_closed(
        "version 2",
        "invalid message: unsupported protocol version 2 (expected 1)",
        |b| {
            let c = connect_raw(b);
            c.send_raw(&raw(FrontendReq::GetFeatures.code(), 2, 0, &[]), &[])
                .unwrap();
            c
        },
    );
}

#[test]
fn a_1_mib_payload_closes_before_it_is_read() {
    expect_closed(
        "1 MiB payload announced",
        "invalid message: payload of 1048576 bytes exceeds the",
        |b| {
            let c = connect_raw(b);
            c.send_raw(
                &raw(FrontendReq::SetFeatures.code(), 1, 1 << 20, &[0; 64]),
                &[],
            )
            .unwrap();
            c
        },
    );
}

#[test]
fn request_999_closes_as_unknown() {
    expect_closed(
        "request 999",
        "invalid message: unknown request code 999",
        |b| {
            let c = connect_raw(b);
            c.send_raw(&raw(999, 1, 0, &[]), &[]).unwrap();
            c
        },
    );
}

#[test]
fn a_payload_cut_short_closes_as_truncated() {
    expect_closed(
        "payload cut short",
        "connection closed in the middle of a message",
        |b| {
            let c = connect_raw(b);
            c.send_raw(&raw(FrontendReq::SetFeatures.code(), 1, 8, &[0; 3]), &[])
                .unwrap();
            // Half-close: the back-end sees the end of the stream mid-message.
            c.shutdown_write().unwrap();
            c
        },
    );
}

#[test]
fn a_header_cut_short_closes_as_truncated() {
    expect_closed(
        "header cut short",
        "connection closed in the middle of a message",
        |b| {
            let c = connect_raw(b);
            c.send_raw(&raw(FrontendReq::GetFeatures.code(), 1, 0, &[])[..6], &[])
                .unwrap();
            c.shutdown_write().unwrap();
            c
        },
    );
}

#[test]
fn twelve_fds_close_as_more_than_any_message_carries() {
    expect_closed(
        "SET_OWNER with 12 fds",
        "front-end sent more file descriptors than any message carries",
        |b| {
            let c = connect_raw(b);
            let n = vu_sys::Notifier::new().unwrap();
            let fds: Vec<_> = (0..12).map(|_| n.read_fd()).collect();
            c.send_raw(&raw(FrontendReq::SetOwner.code(), 1, 0, &[]), &fds)
                .unwrap();
            c
        },
    );
}

#[test]
fn set_vring_call_with_two_fds_closes_for_its_fd_count() {
    expect_closed(
        "SET_VRING_CALL with 2 fds",
        "invalid message: SetVringCall: carries 2 file descriptors, expected 1",
        |b| {
            let c = connect_raw(b);
            let n = vu_sys::Notifier::new().unwrap();
            c.send(
                FrontendReq::SetVringCall,
                &0u64.to_ne_bytes(),
                &[n.write_fd(), n.write_fd()],
                false,
            )
            .unwrap();
            c
        },
    );
}

#[test]
fn set_vring_addr_before_the_memory_table_closes() {
    expect_closed(
        "SET_VRING_ADDR first",
        "SetVringAddr before SET_MEM_TABLE",
        |b| {
            let c = connect_raw(b);
            c.send(FrontendReq::SetOwner, &[], &[], false).unwrap();
            c.send(
                FrontendReq::SetVringNum,
                VringState { index: 0, num: 64 }.as_bytes(),
                &[],
                false,
            )
            .unwrap();
            let a = VringAddr {
                index: 0,
                flags: 0,
                desc_user_addr: 0x10000,
                used_user_addr: 0x20000,
                avail_user_addr: 0x30000,
                log_guest_addr: 0,
            };
            c.send(FrontendReq::SetVringAddr, a.as_bytes(), &[], false)
                .unwrap();
            c
        },
    );
}

#[test]
fn set_vring_kick_before_the_memory_table_closes() {
    expect_closed(
        "SET_VRING_KICK first",
        "SetVringKick before SET_MEM_TABLE",
        |b| {
            let c = connect_raw(b);
            let n = vu_sys::Notifier::new().unwrap();
            c.send(
                FrontendReq::SetVringKick,
                &0u64.to_ne_bytes(),
                &[n.read_fd()],
                false,
            )
            .unwrap();
            c
        },
    );
}

#[test]
fn queue_5_of_1_closes_for_its_index() {
    expect_closed(
        "SET_VRING_NUM for queue 5 of 1",
        "invalid message: SetVringNum: queue index 5 out of range (device has 1 queues)",
        |b| {
            let c = connect_raw(b);
            c.send(
                FrontendReq::SetVringNum,
                VringState { index: 5, num: 64 }.as_bytes(),
                &[],
                false,
            )
            .unwrap();
            c
        },
    );
}

#[test]
fn a_socket_as_region_fd_closes_as_unmappable() {
    expect_closed(
        "SET_MEM_TABLE with a socket as region fd",
        "cannot map memory region 0",
        |b| {
            let c = connect_raw(b);
            let (s1, _s2) = std::os::unix::net::UnixStream::pair().unwrap();
            let r = vu_protocol::msg::MemoryRegion {
                guest_phys_addr: 0,
                memory_size: 1 << 20,
                user_addr: 0x1000_0000,
                mmap_offset: 0,
            };
            c.send(
                FrontendReq::SetMemTable,
                &vu_protocol::msg::encode_mem_table(&[r]),
                &[s1.as_fd()],
                false,
            )
            .unwrap();
            c
        },
    );
}

/// Sets a queue up properly, lets `write` put broken descriptors in
/// place, and publishes chain `head`.
fn broken_chain(b: &BackendProcess, head: u16, write: impl FnOnce(&Frontend)) -> Connection {
    let mut fe = Frontend::connect(b.socket(), &options(1).frontend).unwrap();
    write(&fe);
    fe.publish(0, head).unwrap();
    fe.into_connection()
}

fn desc(addr: u64, len: u32, flags: u16, next: u16) -> Descriptor {
    Descriptor {
        addr,
        len,
        flags,
        next,
    }
}

#[test]
fn a_buffer_past_the_end_of_memory_closes_the_queue() {
    expect_closed(
        "buffer past the end of memory",
        "is outside guest memory",
        |b| {
            broken_chain(b, 0, |fe| {
                let end = fe.ram().end();
                fe.write_descriptor(0, 0, desc(end + 0x1000, 16, VRING_DESC_F_NEXT, 1))
                    .unwrap();
                fe.write_descriptor(0, 1, desc(0x10_0000, 1, VRING_DESC_F_WRITE, 0))
                    .unwrap();
            })
        },
    );
}

#[test]
fn a_buffer_crossing_the_end_of_memory_closes_the_queue() {
    expect_closed(
        "buffer crossing the end of memory",
        "is outside guest memory",
        |b| {
            broken_chain(b, 0, |fe| {
                let end = fe.ram().end();
                fe.write_descriptor(0, 0, desc(end - 8, 16, VRING_DESC_F_WRITE, 0))
                    .unwrap();
            })
        },
    );
}

#[test]
fn a_descriptor_loop_closes_the_queue() {
    expect_closed(
        "0 -> 1 -> 0",
        "queue 0 is broken: descriptor chain longer than its table (a loop)",
        |b| {
            broken_chain(b, 0, |fe| {
                fe.write_descriptor(0, 0, desc(0x10_0000, 16, VRING_DESC_F_NEXT, 1))
                    .unwrap();
                fe.write_descriptor(0, 1, desc(0x10_0000, 16, VRING_DESC_F_NEXT, 0))
                    .unwrap();
            })
        },
    );
}

#[test]
fn next_index_4000_closes_the_queue() {
    expect_closed(
        "next = 4000",
        "queue 0 is broken: next descriptor index 4000 out of range",
        |b| {
            broken_chain(b, 0, |fe| {
                fe.write_descriptor(0, 0, desc(0x10_0000, 16, VRING_DESC_F_NEXT, 4000))
                    .unwrap();
            })
        },
    );
}

#[test]
fn head_index_500_of_128_closes_the_queue() {
    expect_closed(
        "head = 500 of 128",
        "queue 0 is broken: head descriptor index 500 out of range",
        |b| broken_chain(b, 500, |_| {}),
    );
}

#[test]
fn an_indirect_table_of_10_bytes_closes_the_queue() {
    expect_closed(
        "indirect table of 10 bytes",
        "queue 0 is broken: indirect table of 10 bytes (must be a non-zero multiple of 16)",
        |b| {
            broken_chain(b, 0, |fe| {
                fe.write_descriptor(0, 0, desc(0x10_0000, 10, VRING_DESC_F_INDIRECT, 0))
                    .unwrap();
            })
        },
    );
}

#[test]
fn an_indirect_table_inside_another_closes_the_queue() {
    expect_closed(
        "indirect inside indirect",
        "queue 0 is broken: nested indirect descriptor table",
        |b| {
            broken_chain(b, 0, |fe| {
                let table = fe.layout(0).unwrap().used + 0x2000;
                let inner = desc(table, 16, VRING_DESC_F_INDIRECT, 0);
                fe.ram().write(table, &inner.to_le_bytes()).unwrap();
                fe.write_descriptor(0, 0, desc(table, 16, VRING_DESC_F_INDIRECT, 0))
                    .unwrap();
            })
        },
    );
}

#[test]
fn a_readable_buffer_after_a_writable_one_closes_the_queue() {
    expect_closed(
        "W then R",
        "queue 0 is broken: device-readable descriptor after a device-writable one",
        |b| {
            broken_chain(b, 0, |fe| {
                fe.write_descriptor(
                    0,
                    0,
                    desc(0x10_0000, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1),
                )
                .unwrap();
                fe.write_descriptor(0, 1, desc(0x10_0000, 16, 0, 0))
                    .unwrap();
            })
        },
    );
}

/// Issue 12, class 1: an indirect table is bounded by the queue size (128
/// here), not by the memory region it sits in.
#[test]
fn an_indirect_table_longer_than_the_queue_closes_the_queue() {
    expect_closed(
        "indirect table of 129 entries",
        "queue 0 is broken: indirect table of 129 descriptors, more than the queue size 128",
        |b| {
            broken_chain(b, 0, |fe| {
                let table = fe.layout(0).unwrap().used + 0x2000;
                for i in 0..129u16 {
                    let d = desc(0x10_0000, 16, VRING_DESC_F_NEXT, (i + 1) % 2);
                    fe.ram()
                        .write(table + 16 * u64::from(i), &d.to_le_bytes())
                        .unwrap();
                }
                fe.write_descriptor(0, 0, desc(table, 129 * 16, VRING_DESC_F_INDIRECT, 0))
                    .unwrap();
            })
        },
    );
}

/// Issue 12, class 1: zero-length buffers are refused.
#[test]
fn a_zero_length_buffer_closes_the_queue() {
    expect_closed(
        "header, then a writable buffer of 0 bytes",
        "queue 0 is broken: zero-length buffer at 0x100000",
        |b| {
            broken_chain(b, 0, |fe| {
                fe.write_descriptor(0, 0, desc(0x10_0010, 16, VRING_DESC_F_NEXT, 1))
                    .unwrap();
                fe.write_descriptor(0, 1, desc(0x10_0000, 0, VRING_DESC_F_WRITE, 0))
                    .unwrap();
            })
        },
    );
}

#[test]
fn a_valid_indirect_chain_is_served_without_closing() {
    // The positive counterpart of the indirect cases: a well-formed indirect
    // table carrying a whole GET_ID request works.
    let image = Image::new(&vec![0u8; 1 << 20]);
    let backend = start(&image.path, &["--serial", "indirect-ok"]);
    let mut fe = Frontend::connect(backend.socket(), &options(1).frontend).unwrap();
    let ram = fe.ram_mut();
    let table = ram.alloc(48, 16, false).unwrap();
    let header = ram.alloc(16, 16, false).unwrap();
    let id = ram.alloc(21, 8, false).unwrap();
    let hdr = vu_protocol::virtio::blk::ReqHeader {
        kind: vu_protocol::virtio::blk::req::GET_ID,
        ioprio: 0,
        sector: 0,
    };
    fe.ram().write(header, &hdr.to_le_bytes()).unwrap();
    let entries = [
        desc(header, 16, VRING_DESC_F_NEXT, 1),
        desc(id, 20, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2),
        desc(id + 20, 1, VRING_DESC_F_WRITE, 0),
    ];
    for (i, d) in entries.iter().enumerate() {
        fe.ram()
            .write(table + 16 * i as u64, &d.to_le_bytes())
            .unwrap();
    }
    fe.write_descriptor(0, 0, desc(table, 48, VRING_DESC_F_INDIRECT, 0))
        .unwrap();
    fe.publish(0, 0).unwrap();
    let used = fe.wait_used_untracked(0).unwrap();
    assert!(
        !backend.stderr().contains("closing"),
        "{}",
        backend.stderr()
    );
    assert_eq!(used.id, 0);
    assert_eq!(used.len, 21);
    let mut out = [0u8; 21];
    fe.ram().read(id, &mut out).unwrap();
    assert_eq!(&out[..11], b"indirect-ok");
    assert_eq!(out[20], 0, "status OK");
}

#[test]
fn random_messages_never_stop_the_back_end_nor_panic_it() {
    let (mut rng, _seed) = vu_frontend::testutil::Rng::from_env();
    let image = Image::new(&vec![0u8; 1 << 20]);
    let mut backend = start(&image.path, &[]);
    for _ in 0..200 {
        let c = connect_raw(&backend);
        for _ in 0..1 + rng.below(4) {
            // Mostly known requests with version 1, sizes near the real ones.
            let request = if rng.below(8) == 0 {
                rng.next_u64() as u32
            } else {
                1 + rng.below(40) as u32
            };
            let flags = if rng.below(8) == 0 {
                rng.next_u64() as u32
            } else {
                1 | (rng.below(2) as u32) << 3
            };
            let len = rng.below(64) as usize;
            let size = if rng.below(8) == 0 {
                rng.next_u64() as u32
            } else {
                len as u32
            };
            let mut payload = vec![0u8; len];
            rng.fill(&mut payload);
            let n = vu_sys::Notifier::new().unwrap();
            let fds: Vec<_> = (0..rng.below(3)).map(|_| n.read_fd()).collect();
            if c.send_raw(&raw(request, flags, size, &payload), &fds)
                .is_err()
            {
                break;
            }
        }
        let _ = c.shutdown_write();
        assert!(c.wait_closed(CLOSE_WAIT), "connection left open");
    }
    assert!(backend.is_running(), "back-end died:\n{}", backend.stderr());
    let log = backend.stderr();
    assert!(!log.contains("panicked"), "{log}");
    // Every connection (plus the readiness probe) was accepted and ended.
    assert!(log.matches("front-end connected").count() > 200, "{log}");
    assert_still_serving(&backend);
}
