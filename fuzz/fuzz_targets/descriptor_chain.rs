//! Fuzzes the back-end's virtqueue code at realistic scale: a fuzzer-built
//! memory table over two sparse 4 GiB memory files, ring placement anywhere
//! in them, guest memory contents (descriptor table, indirect tables,
//! available ring), drained through `vu_backend::fuzzing::Queue`, which is
//! the session's own ring translation and `drain_ring`.
//!
//! The memory table goes through `FrontendMsg::parse` first, as in the
//! session, so only tables the back-end would accept get mapped. Requests go
//! to one of two handlers: the real virtio-blk device (`vhost_user_blk`,
//! on a 64 KiB disk), or a checker that reads and writes through `Reader`
//! and `Writer` (copies and `preadv`/`pwritev`) and checks their counts.
//!
//! Besides "no crash", two oracles per input, so that amplification (work
//! or memory that grows with what the guest declares rather than with what
//! the device does) is a finding, not a slow run:
//! * memory: the heap the drain allocates beyond what it held before is at
//!   most [`HEAP_LIMIT`] (a chain is bounded by the queue size);
//! * work: the drain's CPU time is at most [`CPU_LIMIT`] (the handlers do
//!   work bounded by the disk and a fixed scratch buffer, whatever lengths
//!   the descriptors declare).
//!
//! Input layout (little-endian): `[regions: u8]`, per region `[gpa: u32]
//! [size: u32][user: u32][mmap offset: u32]` (two regions, sizes and
//! addresses in 4 KiB units), `[queue size log2: u8][desc, avail, used: u32
//! offsets from region 0's user address][base: u16][far: u32 offset]
//! [write amount: u16]`, then guest memory contents: the first half at the
//! descriptor table, the second at `far`, both in region 0's file.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::sync::OnceLock;
use std::time::Duration;
use vhost_user_blk::{BlkDevice, BlkSettings};
use vu_backend::fuzzing::Queue;
use vu_backend::{Device, GuestMemory};
use vu_fuzz::Cost;
use vu_protocol::msg::{encode_mem_table, MemoryRegion};
use vu_protocol::{FrontendMsg, FrontendReq, Header, Limits};
use vu_sys::SharedMemory;

/// Size of each (sparse) memory file behind a region.
const SHM: u64 = 4 << 30;
const REGIONS: usize = 2;
const PAGE: u64 = 4096;
const FIXED: usize = 1 + REGIONS * 16 + 1 + 12 + 2 + 4 + 2;

/// Size of the disk of both handlers.
const DISK: u64 = 64 << 10;

/// Heap a drain may add (a queue-size chain buffer is ~50 KiB at 1024).
const HEAP_LIMIT: usize = 1 << 20;
/// CPU time a drain may take (a full ring of 1024 requests, each moving at
/// most the 64 KiB disk, takes a few milliseconds).
const CPU_LIMIT: Duration = Duration::from_millis(500);

#[global_allocator]
static ALLOC: vu_fuzz::CountingAlloc = vu_fuzz::CountingAlloc;

/// The memory files, created once; each input's writes are punched out
/// again, so every input starts from all-zero, unallocated files. The
/// harness writes them with `pwrite`, never through its own mappings of
/// them: a punch unmaps the range from every mapping, walking each one's
/// page tables, so a mapping the harness touched all over the 4 GiB would
/// make every reset cost the whole file rather than what the input wrote.
struct Memory {
    shms: [SharedMemory; REGIONS],
    files: [File; REGIONS],
}

fn memory() -> &'static Memory {
    static MEMORY: OnceLock<Memory> = OnceLock::new();
    MEMORY.get_or_init(|| {
        let shms = [
            SharedMemory::new(SHM).expect("shared memory"),
            SharedMemory::new(SHM).expect("shared memory"),
        ];
        let files = [0, 1].map(|i| File::from(shms[i].fd().try_clone_to_owned().expect("dup")));
        Memory { shms, files }
    })
}

/// The block device, on its own disk (opened by path, as the program does;
/// the path is unlinked at once).
fn blk() -> &'static std::sync::Mutex<BlkDevice> {
    static BLK: OnceLock<std::sync::Mutex<BlkDevice>> = OnceLock::new();
    BLK.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("vu-fuzz-blk-{}", std::process::id()));
        std::fs::write(&path, vec![0u8; DISK as usize]).expect("write the blk disk");
        let dev = BlkDevice::open(
            &path,
            BlkSettings {
                read_only: false,
                num_queues: 1,
                serial: "fuzz".into(),
            },
        )
        .expect("open the blk disk");
        let _ = std::fs::remove_file(&path);
        std::sync::Mutex::new(dev)
    })
}

/// The file the checker handler reads and writes.
fn disk() -> &'static File {
    static DISK_FILE: OnceLock<File> = OnceLock::new();
    DISK_FILE.get_or_init(|| vu_fuzz::scratch_file("disk", DISK))
}

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let (head, rest) = self.0.split_at(N);
        self.0 = rest;
        head.try_into().unwrap()
    }
    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < FIXED {
        return;
    }
    let m = memory();
    let mut input = Input(data);
    let count = 1 + usize::from(input.u8()) % REGIONS;
    let mut regions = Vec::new();
    for _ in 0..REGIONS {
        let r = MemoryRegion {
            guest_phys_addr: u64::from(input.u32()) * PAGE,
            // Up to twice the file: a table may name more than the fd holds.
            memory_size: (u64::from(input.u32()) * PAGE) % (2 * SHM + 1),
            user_addr: u64::from(input.u32()) * PAGE,
            mmap_offset: u64::from(input.u32()) % SHM,
        };
        regions.push(r);
    }
    regions.truncate(count);
    let size = 1u16 << (input.u8() % 11);
    let (desc, avail, used) = (
        u64::from(input.u32()),
        u64::from(input.u32()),
        u64::from(input.u32()),
    );
    let base = input.u16();
    let far = u64::from(input.u32()) * 16;
    let write_amount = usize::from(input.u16());
    // As in the session: one ring's worth per drain.
    let budget = u32::from(size);
    let contents = input.0;

    // The memory table as the session receives it: validated, then mapped.
    let payload = encode_mem_table(&regions);
    let header = Header::request(FrontendReq::SetMemTable.code(), payload.len() as u32, false);
    let Ok(FrontendMsg::SetMemTable(table)) =
        FrontendMsg::parse(&header, &payload, regions.len(), &Limits::new(1))
    else {
        return;
    };
    let fds: Vec<OwnedFd> = m.shms[..table.len()]
        .iter()
        .map(|s| s.fd().try_clone_to_owned().expect("dup"))
        .collect();
    let Ok(mem) = GuestMemory::map(&table, fds) else {
        return;
    };

    // Guest memory contents, in region 0's file: half at the descriptor
    // table, half at `far` (indirect tables, buffers).
    let desc = desc & !15;
    let file_at = |off: u64| table[0].mmap_offset.checked_add(off).filter(|&o| o < SHM);
    let (first, second) = contents.split_at(contents.len() / 2);
    for (off, part) in [(desc, first), (far, second)] {
        if let Some(at) = file_at(off) {
            let n = part.len().min((SHM - at) as usize);
            m.files[0]
                .write_all_at(&part[..n], at)
                .expect("inside the file");
        }
    }

    let uva = table[0].user_addr;
    let queue = Queue::new(
        &mem,
        size,
        uva + desc,
        uva + (avail & !1),
        uva + (used & !3),
        base,
    );
    if let Some(mut queue) = queue {
        drain_with_oracles(&mem, &mut queue, budget, base, write_amount);
    }

    // Every input starts from empty, unallocated memory files.
    drop(mem);
    for f in &m.files {
        vu_sys::file::discard(f, 0, SHM).expect("punch the memory file");
    }
});

fn drain_with_oracles(
    mem: &GuestMemory,
    queue: &mut Queue,
    budget: u32,
    base: u16,
    write_amount: usize,
) {
    let mut scratch = vec![0u8; 4096];
    let mut completions = 0u32;
    let disk = std::os::fd::AsFd::as_fd(disk());
    let mut blk = blk().lock().unwrap();
    let cost = Cost::start();
    let result = queue.drain(mem, budget, |req| {
        completions += 1;
        if write_amount & 1 == 0 {
            // The real device, as the event loop calls it.
            blk.process(0, req);
            return;
        }
        let readable = req.reader.remaining();
        let room = req.writer.remaining();
        if write_amount & 2 == 0 {
            // Straight between guest memory and a file. Too much room is
            // refused up front, with nothing done.
            let e = req
                .writer
                .write_from_file_at(disk, 0, room + 1)
                .unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
            assert_eq!((req.writer.written(), req.writer.remaining()), (0, room));
            let len = readable.min(DISK as usize);
            let at = (write_amount as u64 >> 2) % (DISK - len as u64 + 1);
            match req.reader.write_to_file_at(disk, at, len) {
                Ok(()) => assert_eq!(req.reader.remaining(), readable - len),
                Err(e) => panic!("pwritev of {len} bytes at {at}: {e}"),
            }
            let want = room.min(write_amount).min(DISK as usize);
            match req.writer.write_from_file_at(disk, at, want) {
                Ok(()) => assert_eq!(req.writer.written(), want),
                // Past the end of the file: nothing counts as written.
                Err(e) => {
                    assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");
                    assert!(at + want as u64 > DISK);
                    assert_eq!(req.writer.written(), 0);
                }
            }
            assert_eq!(req.writer.remaining(), room - req.writer.written());
            return;
        }
        // Copies: at most 64 KiB read, the scratch buffer written, then the
        // status-style write at the very end.
        let mut got = 0;
        while got < 64 << 10 {
            let n = req.reader.read(&mut scratch);
            if n == 0 {
                break;
            }
            got += n;
        }
        assert_eq!(
            req.reader.remaining(),
            readable - got,
            "reader counts what it delivered"
        );
        let want = write_amount.min(scratch.len());
        let wrote = req.writer.write(&scratch[..want]);
        assert_eq!(wrote, want.min(room), "writer stops exactly at the end");
        assert_eq!(req.writer.written(), wrote);
        assert_eq!(req.writer.remaining(), room - wrote);
        if room > wrote {
            assert!(req.writer.write_at_end(&[0x5a]));
            assert_eq!((req.writer.written(), req.writer.remaining()), (room, 0));
        }
        assert!(!req.writer.write_at_end(&[0x5a]), "no room left");
    });
    cost.check(
        HEAP_LIMIT,
        CPU_LIMIT,
        format_args!("the drain of a {budget}-entry ring"),
    );
    if let Ok((done, more)) = result {
        assert_eq!(done, completions);
        assert!(
            !more || done == budget,
            "only a spent budget leaves requests"
        );
        let served = queue.last_avail().wrapping_sub(base);
        assert_eq!(u32::from(served), done);
        assert_eq!(queue.used_idx().wrapping_sub(base), served);
    }
    assert!(completions <= budget, "the budget bounds a drain");
}
