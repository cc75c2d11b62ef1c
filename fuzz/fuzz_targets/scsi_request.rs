//! Fuzzes virtio-scsi requests end to end: the CDB parser alone, then a
//! whole request (LUN field, CDB, data-out, data-in room) through the real
//! `vhost_user_scsi::ScsiDevice` on a real queue (`vu_backend::fuzzing`),
//! on any of its three queue kinds, over a sparse 1 GiB memory file.
//!
//! Oracles besides "no crash": the response is well formed (a known
//! `response` value, 18 sense bytes with CHECK CONDITION and none
//! otherwise, a residual no larger than the buffers, a used length no
//! larger than the room), and what a request costs follows what the
//! device does, not the lengths the guest declares: the heap a drain adds
//! is at most [`HEAP_LIMIT`] and its CPU time at most [`CPU_LIMIT`],
//! whatever data-in room (up to 1 GiB) the chain offers.
//!
//! Input layout: `[queue: u8][readable pieces: u8][writable pieces: u8]
//! [writable bytes: u32]`, then the readable bytes (the command: LUN,
//! tag, attributes, 32 CDB bytes, data-out), split evenly over the
//! readable pieces.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use vhost_user_scsi::lun::LunSpec;
use vhost_user_scsi::ScsiDevice;
use vu_backend::fuzzing::{Arena, Buffer, Ring};
use vu_backend::Device;
use vu_fuzz::Cost;
use vu_protocol::virtio::scsi::{response, CmdResponse};

/// The (sparse) memory file behind the one region, at guest address 0.
const SHM: u64 = 1 << 30;
const USER: u64 = 0x7f00_0000_0000;
const RING: Ring = Ring {
    size: 16,
    desc: 0,
    avail: 0x1000,
    used: 0x2000,
};
const READABLE_AT: u64 = 0x10000;
const WRITABLE_AT: u64 = 0x100000;
/// Blocks of each logical unit.
const DISK: u64 = 64 << 10;

const HEAP_LIMIT: usize = 1 << 20;
const CPU_LIMIT: Duration = Duration::from_millis(200);

#[global_allocator]
static ALLOC: vu_fuzz::CountingAlloc = vu_fuzz::CountingAlloc;

/// Guest memory, mapped once for the whole run.
fn arena() -> &'static Arena {
    static ARENA: OnceLock<Arena> = OnceLock::new();
    ARENA.get_or_init(|| Arena::new(SHM, 0, USER).expect("guest memory"))
}

/// The device: LUN 0 read-write, LUN 1 read-only, each a 64 KiB file
/// (opened by path, as the program does; the paths are unlinked at once).
fn device() -> &'static Mutex<ScsiDevice> {
    static DEV: OnceLock<Mutex<ScsiDevice>> = OnceLock::new();
    DEV.get_or_init(|| {
        let dir = std::env::temp_dir();
        let pid = std::process::id();
        let paths = [0, 1].map(|i| dir.join(format!("vu-fuzz-scsi-{pid}-{i}")));
        for p in &paths {
            std::fs::write(p, vec![0u8; DISK as usize]).expect("write a LUN file");
        }
        let specs = [
            LunSpec {
                path: paths[0].clone(),
                read_only: false,
                serial: None,
            },
            LunSpec {
                path: paths[1].clone(),
                read_only: true,
                serial: None,
            },
        ];
        let dev = ScsiDevice::open(&specs, 1).expect("open the LUNs");
        for p in &paths {
            let _ = std::fs::remove_file(p);
        }
        Mutex::new(dev)
    })
}

fuzz_target!(|data: &[u8]| {
    // The parser alone, on whatever bytes come.
    let _ = vhost_user_scsi::cdb::parse(data);
    if data.len() < 7 {
        return;
    }
    let queue_index = data[0] % 3;
    let n_read = 1 + usize::from(data[1] % 4);
    let n_write = usize::from(data[2] % 9);
    let write_len =
        u64::from(u32::from_le_bytes([data[3], data[4], data[5], data[6]])).min(SHM - WRITABLE_AT);
    let readable = &data[7..];
    let arena = arena();
    let mem = arena.mem();

    // The chain: readable pieces, then writable ones, laid out back to back.
    let mut bufs = Vec::new();
    let piece = readable.len().div_ceil(n_read).max(1);
    let mut at = READABLE_AT;
    for chunk in readable.chunks(piece) {
        arena.write(at, chunk);
        bufs.push(Buffer {
            addr: at,
            len: chunk.len() as u32,
            write: false,
        });
        at += chunk.len() as u64;
    }
    let mut room = 0u64;
    if n_write > 0 && write_len > 0 {
        let each = (write_len / n_write as u64).max(1);
        let mut at = WRITABLE_AT;
        for _ in 0..n_write {
            let len = each.min(u64::from(u32::MAX)).min(SHM - at);
            if len == 0 {
                break;
            }
            bufs.push(Buffer {
                addr: at,
                len: len as u32,
                write: true,
            });
            at += len;
            room += len;
        }
    }
    if bufs.is_empty() {
        return;
    }
    RING.put_chain(mem, 0, &bufs);
    RING.publish(mem, 0, &[0]);
    let mut queue = arena.queue(&RING, 0).expect("the ring fits");

    let mut dev = device().lock().unwrap();
    let cost = Cost::start();
    let mut used = None;
    let result = queue.drain(mem, 1, |req| {
        let (out_len, in_len) = (req.reader.remaining(), req.writer.remaining());
        dev.process(u16::from(queue_index), req);
        used = Some((req.writer.written(), out_len, in_len));
    });
    cost.check(
        HEAP_LIMIT,
        CPU_LIMIT,
        format_args!("one request of {room} bytes of room"),
    );

    if let (Ok((1, _)), Some((written, out_len, in_len))) = (result, used) {
        assert!(written <= in_len, "used {written} > room {in_len}");
        if queue_index == 2 && written >= CmdResponse::SIZE_WITH_SENSE {
            let mut fixed = [0u8; CmdResponse::SIZE];
            mem.read(WRITABLE_AT, &mut fixed).expect("inside");
            // Pieces are laid out back to back, so the response is contiguous.
            let r = CmdResponse::from_le_bytes(&fixed);
            assert!(
                [
                    response::OK,
                    response::OVERRUN,
                    response::BAD_TARGET,
                    response::FAILURE
                ]
                .contains(&r.response),
                "{r:?}"
            );
            assert_eq!(r.sense_len == 18, r.status == 2, "{r:?}");
            assert!(r.sense_len == 0 || r.sense_len == 18, "{r:?}");
            assert!(r.residual as usize <= out_len.max(in_len), "{r:?}");
        }
    }

    // Every input starts from all-zero, unallocated guest memory.
    arena.reset();
});
