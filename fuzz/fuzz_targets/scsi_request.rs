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
use std::alloc::{GlobalAlloc, Layout, System};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use vhost_user_scsi::lun::LunSpec;
use vhost_user_scsi::ScsiDevice;
use vu_backend::fuzzing::Queue;
use vu_backend::{Device, GuestMemory};
use vu_protocol::msg::MemoryRegion;
use vu_protocol::virtio::scsi::{response, CmdResponse};
use vu_protocol::virtio::split::{Descriptor, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
use vu_sys::SharedMemory;

/// The (sparse) memory file behind the one region.
const SHM: u64 = 1 << 30;
const USER: u64 = 0x7f00_0000_0000;
const QSIZE: u16 = 16;
const DESC: u64 = 0;
const AVAIL: u64 = 0x1000;
const USED: u64 = 0x2000;
const READABLE_AT: u64 = 0x10000;
const WRITABLE_AT: u64 = 0x100000;
/// Blocks of each logical unit.
const DISK: u64 = 64 << 10;

const HEAP_LIMIT: usize = 1 << 20;
const CPU_LIMIT: Duration = Duration::from_millis(200);

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to `System` unchanged; the counters are only
// statistics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on to `System`.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// CPU time of this thread (the drain runs on it).
fn thread_cpu() -> Duration {
    // SAFETY: an all-zero rusage is a valid out-buffer.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes only into `r`.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut r) };
    assert_eq!(rc, 0, "getrusage");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(r.ru_utime) + tv(r.ru_stime)
}

fn shm() -> &'static (SharedMemory, std::fs::File) {
    static SHM_FILE: OnceLock<(SharedMemory, std::fs::File)> = OnceLock::new();
    SHM_FILE.get_or_init(|| {
        let s = SharedMemory::new(SHM).expect("shared memory");
        let f = std::fs::File::from(s.fd().try_clone_to_owned().expect("dup"));
        (s, f)
    })
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

fn put_desc(m: &SharedMemory, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
    let d = Descriptor {
        addr,
        len,
        flags,
        next,
    };
    m.region()
        .write(DESC + 16 * u64::from(i), &d.to_le_bytes())
        .expect("inside the file");
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
    let (m, file) = shm();

    // The chain: readable pieces, then writable ones.
    let mut i = 0u16;
    let piece = readable.len().div_ceil(n_read).max(1);
    let mut at = READABLE_AT;
    for chunk in readable.chunks(piece) {
        m.region().write(at, chunk).expect("inside the file");
        put_desc(m, i, at, chunk.len() as u32, VRING_DESC_F_NEXT, i + 1);
        at += chunk.len() as u64;
        i += 1;
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
            put_desc(
                m,
                i,
                at,
                len as u32,
                VRING_DESC_F_NEXT | VRING_DESC_F_WRITE,
                i + 1,
            );
            at += len;
            room += len;
            i += 1;
        }
    }
    if i == 0 {
        return;
    }
    // The last descriptor ends the chain.
    let mut last = [0u8; 16];
    m.region()
        .read(DESC + 16 * u64::from(i - 1), &mut last)
        .expect("inside");
    last[12] &= !(VRING_DESC_F_NEXT as u8);
    m.region()
        .write(DESC + 16 * u64::from(i - 1), &last)
        .expect("inside");
    // One available entry: head 0.
    m.region()
        .write(AVAIL, &[0, 0, 1, 0, 0, 0])
        .expect("inside");

    let table = [MemoryRegion {
        guest_phys_addr: 0,
        memory_size: SHM,
        user_addr: USER,
        mmap_offset: 0,
    }];
    let fds: Vec<OwnedFd> = vec![m.fd().try_clone_to_owned().expect("dup")];
    let mem = GuestMemory::map(&table, fds).expect("map the region");
    let mut queue =
        Queue::new(&mem, QSIZE, USER + DESC, USER + AVAIL, USER + USED, 0).expect("the ring fits");

    let mut dev = device().lock().unwrap();
    let heap_before = LIVE.load(Ordering::Relaxed);
    PEAK.store(heap_before, Ordering::Relaxed);
    let cpu_before = thread_cpu();
    let mut used = None;
    let result = queue.drain(&mem, 1, |req| {
        let (out_len, in_len) = (req.reader.remaining(), req.writer.remaining());
        dev.process(u16::from(queue_index), req);
        used = Some((req.writer.written(), out_len, in_len));
    });
    let cpu = thread_cpu() - cpu_before;
    let heap = PEAK.load(Ordering::Relaxed).saturating_sub(heap_before);
    assert!(
        heap <= HEAP_LIMIT,
        "memory amplification: {heap} bytes for one request"
    );
    assert!(
        cpu <= CPU_LIMIT,
        "work amplification: {cpu:?} for one request of {room} bytes of room"
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

    // Every input starts from an empty, unallocated memory file.
    drop(queue);
    drop(mem);
    vu_sys::file::discard(file, 0, SHM).expect("punch the memory file");
});
