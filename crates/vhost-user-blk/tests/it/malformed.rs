//! Malformed and out-of-order input: each case must close that connection,
//! be logged, and leave the back-end serving the next connection.

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
/// closed it, logged why, and still serves a new connection.
fn expect_closed(what: &str, provoke: impl FnOnce(&BackendProcess) -> Connection) {
    let image = Image::new(&vec![0u8; 1 << 20]);
    let mut backend = start(&image.path, &[]);
    let conn = provoke(&backend);
    assert!(
        conn.wait_closed(CLOSE_WAIT),
        "{what}: connection was not closed"
    );
    drop(conn);
    assert_still_serving(&backend);
    assert!(backend.is_running(), "{what}: back-end exited");
    let log = backend.stderr();
    assert!(
        log.contains("closing connection"),
        "{what}: no error logged:\n{log}"
    );
}

fn connect_raw(backend: &BackendProcess) -> Connection {
    Connection::connect(backend.socket()).unwrap()
}

#[test]
fn wrong_payload_size() {
    expect_closed("SET_FEATURES with 4 bytes", |b| {
        let c = connect_raw(b);
        c.send_raw(&raw(FrontendReq::SetFeatures.code(), 1, 4, &[0; 4]), &[])
            .unwrap();
        c
    });
}

#[test]
fn wrong_version() {
    expect_closed("version 2", |b| {
        let c = connect_raw(b);
        c.send_raw(&raw(FrontendReq::GetFeatures.code(), 2, 0, &[]), &[])
            .unwrap();
        c
    });
}

#[test]
fn oversize_payload() {
    expect_closed("1 MiB payload announced", |b| {
        let c = connect_raw(b);
        c.send_raw(
            &raw(FrontendReq::SetFeatures.code(), 1, 1 << 20, &[0; 64]),
            &[],
        )
        .unwrap();
        c
    });
}

#[test]
fn unknown_request() {
    expect_closed("request 999", |b| {
        let c = connect_raw(b);
        c.send_raw(&raw(999, 1, 0, &[]), &[]).unwrap();
        c
    });
}

#[test]
fn truncated_message() {
    expect_closed("payload cut short", |b| {
        let c = connect_raw(b);
        c.send_raw(&raw(FrontendReq::SetFeatures.code(), 1, 8, &[0; 3]), &[])
            .unwrap();
        // Half-close: the back-end sees the end of the stream mid-message.
        c.shutdown_write().unwrap();
        c
    });
}

#[test]
fn truncated_header() {
    expect_closed("header cut short", |b| {
        let c = connect_raw(b);
        c.send_raw(&raw(FrontendReq::GetFeatures.code(), 1, 0, &[])[..6], &[])
            .unwrap();
        c.shutdown_write().unwrap();
        c
    });
}

#[test]
fn more_fds_than_any_message_carries() {
    expect_closed("SET_OWNER with 12 fds", |b| {
        let c = connect_raw(b);
        let n = vu_sys::Notifier::new().unwrap();
        let fds: Vec<_> = (0..12).map(|_| n.read_fd()).collect();
        c.send_raw(&raw(FrontendReq::SetOwner.code(), 1, 0, &[]), &fds)
            .unwrap();
        c
    });
}

#[test]
fn fd_count_does_not_match_the_message() {
    expect_closed("SET_VRING_CALL with 2 fds", |b| {
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
    });
}

#[test]
fn vring_addr_before_mem_table() {
    expect_closed("SET_VRING_ADDR first", |b| {
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
    });
}

#[test]
fn vring_kick_before_mem_table() {
    expect_closed("SET_VRING_KICK first", |b| {
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
    });
}

#[test]
fn queue_index_out_of_range() {
    expect_closed("SET_VRING_NUM for queue 5 of 1", |b| {
        let c = connect_raw(b);
        c.send(
            FrontendReq::SetVringNum,
            VringState { index: 5, num: 64 }.as_bytes(),
            &[],
            false,
        )
        .unwrap();
        c
    });
}

#[test]
fn mem_table_fd_that_cannot_be_mapped() {
    expect_closed("SET_MEM_TABLE with a socket as region fd", |b| {
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
    });
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
fn descriptor_outside_guest_memory() {
    expect_closed("buffer past the end of memory", |b| {
        broken_chain(b, 0, |fe| {
            let end = fe.ram().end();
            fe.write_descriptor(0, 0, desc(end + 0x1000, 16, VRING_DESC_F_NEXT, 1))
                .unwrap();
            fe.write_descriptor(0, 1, desc(0x10_0000, 1, VRING_DESC_F_WRITE, 0))
                .unwrap();
        })
    });
}

#[test]
fn descriptor_straddling_the_end_of_memory() {
    expect_closed("buffer crossing the end of memory", |b| {
        broken_chain(b, 0, |fe| {
            let end = fe.ram().end();
            fe.write_descriptor(0, 0, desc(end - 8, 16, VRING_DESC_F_WRITE, 0))
                .unwrap();
        })
    });
}

#[test]
fn descriptor_loop() {
    expect_closed("0 -> 1 -> 0", |b| {
        broken_chain(b, 0, |fe| {
            fe.write_descriptor(0, 0, desc(0x10_0000, 16, VRING_DESC_F_NEXT, 1))
                .unwrap();
            fe.write_descriptor(0, 1, desc(0x10_0000, 16, VRING_DESC_F_NEXT, 0))
                .unwrap();
        })
    });
}

#[test]
fn next_index_out_of_range() {
    expect_closed("next = 4000", |b| {
        broken_chain(b, 0, |fe| {
            fe.write_descriptor(0, 0, desc(0x10_0000, 16, VRING_DESC_F_NEXT, 4000))
                .unwrap();
        })
    });
}

#[test]
fn head_index_out_of_range() {
    expect_closed("head = 500 of 128", |b| broken_chain(b, 500, |_| {}));
}

#[test]
fn indirect_table_with_bad_length() {
    expect_closed("indirect table of 10 bytes", |b| {
        broken_chain(b, 0, |fe| {
            fe.write_descriptor(0, 0, desc(0x10_0000, 10, VRING_DESC_F_INDIRECT, 0))
                .unwrap();
        })
    });
}

#[test]
fn nested_indirect_table() {
    expect_closed("indirect inside indirect", |b| {
        broken_chain(b, 0, |fe| {
            let table = fe.layout(0).unwrap().used + 0x2000;
            let inner = desc(table, 16, VRING_DESC_F_INDIRECT, 0);
            fe.ram().write(table, &inner.to_le_bytes()).unwrap();
            fe.write_descriptor(0, 0, desc(table, 16, VRING_DESC_F_INDIRECT, 0))
                .unwrap();
        })
    });
}

#[test]
fn readable_after_writable() {
    expect_closed("W then R", |b| {
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
    });
}

#[test]
fn valid_indirect_chain_is_served() {
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
fn random_messages_never_stop_the_back_end() {
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
