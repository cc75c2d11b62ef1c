//! Fuzzes the net back-end's frame path end to end: transmit requests of
//! fuzzer-chosen headers, frames and descriptor splits go through the real
//! port device (`vhost_user_net::port::NetPort`) on the session's own
//! `drain_ring`, across the real switch, and into another port's receive
//! queue through the session's own `fill_ring`, with or without mergeable
//! receive buffers, in receive buffers of fuzzer-chosen size and number.
//!
//! Oracles, besides "no crash":
//! * what the switch forwarded is exactly the valid transmissions before
//!   the first malformed one (computed here independently: header flags and
//!   GSO type zero, frame 14..=65553 bytes, chain no shorter than the
//!   header), less those addressed to a source the sender used (learned on
//!   its own port), and the port reports a fault exactly when there was one;
//! * the receiving guest decodes, from its used ring and the `num_buffers`
//!   of each header, exactly those frames that can fit its buffers, in
//!   order, each used length within its buffer; mergeable buffers smaller
//!   than a header (which no driver may post) fault the receiving port
//!   with nothing published;
//! * bounded cost: the heap added by the whole round is at most
//!   [`HEAP_LIMIT`] and its CPU time at most [`CPU_LIMIT`].
//!
//! Input: `[features: u8][queue size log2: u8][rx buffer len: u16][rx
//! buffers: u8]`, then per transmit request `[segments: u8][length: u16]...`
//! followed by that many bytes (header and frame, as the driver lays them).

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use vhost_user_net::port::{NetPort, RX, TX};
use vhost_user_net::switch::{Port, Switch, MAX_FRAME, MIN_FRAME};
use vu_backend::fuzzing::{Arena, Buffer, Ring};
use vu_backend::Device;
use vu_fuzz::Cost;
use vu_protocol::virtio::features as vf;
use vu_protocol::virtio::net::{features as nf, NetHeader};

/// Guest memory; guest addresses equal user addresses.
const MEM: u64 = 16 << 20;
const TX_RING: u64 = 0;
const RX_RING: u64 = 0x8000;
const TX_DATA: u64 = 0x1_0000;
const TX_DATA_END: u64 = 0x10_0000;
const RX_DATA: u64 = 0x10_0000;

const HEAP_LIMIT: usize = 4 << 20;
const CPU_LIMIT: Duration = Duration::from_millis(500);

#[global_allocator]
static ALLOC: vu_fuzz::CountingAlloc = vu_fuzz::CountingAlloc;

/// Guest memory, mapped once for the whole run.
fn arena() -> &'static Arena {
    static ARENA: OnceLock<Arena> = OnceLock::new();
    ARENA.get_or_init(|| Arena::new(MEM, 0, 0).expect("guest memory"))
}

/// Records what the switch forwards (the harness's own port).
#[derive(Default)]
struct Recorder(Mutex<Vec<Vec<u8>>>);
impl Port for Recorder {
    fn deliver(&self, frame: &[u8]) {
        self.0.lock().unwrap().push(frame.to_vec());
    }
}

struct Input<'a>(&'a [u8]);
impl Input<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.u8()?, self.u8()?]))
    }
}

/// One transmit request as laid out in guest memory.
struct TxReq {
    segments: Vec<u32>,
    bytes: Vec<u8>,
}

fuzz_target!(|data: &[u8]| {
    let arena = arena();
    round(arena, data);
    // Every input starts from all-zero, unallocated guest memory.
    arena.reset();
});

fn round(arena: &Arena, data: &[u8]) {
    let mut input = Input(data);
    let (Some(feat), Some(log2), Some(rx_len), Some(rx_count)) =
        (input.u8(), input.u8(), input.u16(), input.u8())
    else {
        return;
    };
    let size = 1u16 << (log2 % 9);
    let rx_len = 1 + u32::from(rx_len) % 8192;
    let rx_count = u16::from(rx_count) % (size + 1);
    let mut features = vf::VERSION_1 * u64::from(feat & 2 != 0);
    if feat & 1 != 0 {
        features |= nf::MRG_RXBUF;
    }
    let mergeable = features & nf::MRG_RXBUF != 0;
    let hdr_len = if mergeable || features & vf::VERSION_1 != 0 {
        12
    } else {
        10
    };

    // Transmit requests, each a chain over contiguous bytes.
    let mut reqs = Vec::new();
    let mut at = TX_DATA;
    while reqs.len() < usize::from(size) {
        let Some(n) = input.u8() else { break };
        let segs = 1 + usize::from(n % 4);
        let mut segments = Vec::new();
        for _ in 0..segs {
            let Some(len) = input.u16() else { break };
            // Mostly small, sometimes past the longest frame.
            let len = if n & 0x80 != 0 {
                u32::from(len) * 2
            } else {
                u32::from(len) % 2048
            };
            segments.push(len);
        }
        let total: u64 = segments.iter().map(|&l| u64::from(l)).sum();
        if segments.len() < segs || at + total > TX_DATA_END {
            break;
        }
        let mut bytes = vec![0u8; total as usize];
        let take = bytes.len().min(input.0.len());
        bytes[..take].copy_from_slice(&input.0[..take]);
        input.0 = &input.0[take..];
        at += total;
        reqs.push(TxReq { segments, bytes });
    }

    // Guest memory (all zero before each input): rings and buffers.
    let mem = arena.mem();
    let (tx, rx) = (Ring::at(TX_RING, size), Ring::at(RX_RING, size));
    let mut desc = 0u16;
    let mut at = TX_DATA;
    let mut heads = Vec::new();
    for r in &reqs {
        heads.push(desc);
        let mut bufs = Vec::new();
        for &len in &r.segments {
            bufs.push(Buffer {
                addr: at,
                len,
                write: false,
            });
            at += u64::from(len);
        }
        arena.write(bufs[0].addr, &r.bytes);
        desc = tx.put_chain(mem, desc, &bufs);
    }
    tx.publish(mem, 0, &heads);
    // Chains longer than the ring wrap over earlier descriptors: a later
    // chain may overwrite an earlier one's, as a buggy driver's would. Only
    // requests whose descriptors stayed intact are predicted below.
    let used_descs: usize = reqs.iter().map(|r| r.segments.len()).sum();
    let intact = used_descs <= usize::from(size);
    let mut heads = Vec::new();
    for i in 0..rx_count {
        let buf = Buffer {
            addr: RX_DATA + u64::from(i) * u64::from(rx_len),
            len: rx_len,
            write: true,
        };
        rx.put_chain(mem, i, &[buf]);
        heads.push(i);
    }
    rx.publish(mem, 0, &heads);
    let mut txq = arena.queue(&tx, 0).expect("tx ring fits");
    let mut rxq = arena.queue(&rx, 0).expect("rx ring fits");

    let cost = Cost::start();
    let switch = Switch::new();
    let recorder = Arc::new(Recorder::default());
    switch.attach(recorder.clone());
    let mut a = NetPort::attach(switch.clone()).unwrap();
    let mut b = NetPort::attach(switch.clone()).unwrap();
    a.set_features(features);
    b.set_features(features);
    let drained = txq.drain(mem, u32::from(size), |req| a.process(TX, req));
    let fault = a.fault();
    let filled = rxq.fill(mem, |f| b.fill(RX, f));
    // A receiving port faults only on mergeable buffers too small for the
    // header (and then nothing of the frame was taken).
    let b_fault = b.fault();
    let tiny = mergeable && (rx_len as usize) < hdr_len;
    assert!(
        b_fault.is_none() || tiny,
        "receiving port fault: {b_fault:?}"
    );

    cost.check(HEAP_LIMIT, CPU_LIMIT, "one round");

    let forwarded = std::mem::take(&mut *recorder.0.lock().unwrap());
    for f in &forwarded {
        assert!((MIN_FRAME..=MAX_FRAME).contains(&f.len()));
    }
    if intact {
        // What the device should have forwarded, and whether it faults.
        let mut expect = Vec::new();
        let mut faulted = false;
        let mut learned_on_a = std::collections::HashSet::new();
        for r in &reqs {
            if r.segments.contains(&0) {
                // The ring walk refuses it: the drain ends with an error.
                assert!(drained.is_err());
                break;
            }
            let h = NetHeader::from_le_bytes(&r.bytes[..r.bytes.len().min(hdr_len)]);
            let ok = r.bytes.len() >= hdr_len
                && h.is_some_and(|h| h.flags == 0 && h.gso_type == 0)
                && (MIN_FRAME..=MAX_FRAME).contains(&(r.bytes.len() - hdr_len));
            if !ok {
                faulted = true;
                break;
            }
            // The switch: A's source addresses are learned on A, so a
            // frame for one of them goes nowhere (not back out of A);
            // everything else floods to the recorder and B.
            let frame = &r.bytes[hdr_len..];
            let (dst, src) = (&frame[..6], &frame[6..12]);
            if src[0] & 1 == 0 {
                learned_on_a.insert(src.to_vec());
            }
            if dst[0] & 1 != 0 || !learned_on_a.contains(dst) {
                expect.push(frame.to_vec());
            }
        }
        assert_eq!(fault.is_some(), faulted, "fault {fault:?}");
        assert_eq!(forwarded, expect, "forwarded frames");
    }

    // The receiving guest reads its used ring.
    let published = filled.expect("harness-built receive chains are valid");
    if tiny {
        assert_eq!(
            published, 0,
            "no frame placed in buffers smaller than a header"
        );
        return;
    }
    let mut decoded = Vec::new();
    let mut k = 0u32;
    let elem = |k: u32| {
        let e = rx.used_elem(mem, k as u16);
        let (id, len) = (e.id, e.len);
        assert!(
            id < u32::from(rx_count) && len <= rx_len,
            "used element {id} {len}"
        );
        let mut bytes = vec![0u8; len as usize];
        mem.read(RX_DATA + u64::from(id) * u64::from(rx_len), &mut bytes)
            .unwrap();
        bytes
    };
    assert_eq!(u32::from(rx.used_idx(mem)), published);
    while k < published {
        let first = elem(k);
        k += 1;
        assert!(first.len() >= hdr_len);
        let h = NetHeader::from_le_bytes(&first[..hdr_len]).unwrap();
        let n = if mergeable {
            u32::from(h.num_buffers)
        } else {
            1
        };
        if hdr_len == 12 {
            assert_eq!(h.num_buffers as u32, n.max(1));
        }
        assert!(n >= 1 && k - 1 + n <= published, "num_buffers {n}");
        let mut frame = first[hdr_len..].to_vec();
        for _ in 1..n {
            frame.extend_from_slice(&elem(k));
            k += 1;
        }
        decoded.push(frame);
    }
    let fits = |f: &Vec<u8>| {
        let need = (hdr_len + f.len()) as u64;
        if mergeable {
            need <= u64::from(size) * u64::from(rx_len)
        } else {
            need <= u64::from(rx_len)
        }
    };
    let deliverable: Vec<Vec<u8>> = forwarded.into_iter().filter(fits).collect();
    assert!(decoded.len() <= deliverable.len());
    assert_eq!(decoded[..], deliverable[..decoded.len()], "received frames");
}
