//! Fuzzes the back-end's virtqueue code: a fuzzer-built memory table, ring
//! placement and guest memory contents (descriptor table, indirect tables,
//! available ring), drained through `vu_backend::fuzzing::Queue`, which is
//! the session's own ring translation and `drain_ring`.
//!
//! The memory table goes through `FrontendMsg::parse` first, as in the
//! session, so only tables the back-end would accept get mapped. The handler
//! reads every readable byte and writes a fuzzer-chosen amount, either by
//! copying or as the block device does, straight between guest memory and a
//! file (`preadv`/`pwritev`), so the `Reader`/`Writer` bounds are exercised
//! on whatever chain was accepted.
//!
//! Input layout (little-endian): `[regions: u8]`, per region `[gpa: u32]
//! [size: u32][user: u32][mmap offset: u16]` (two regions), `[queue size
//! log2: u8][desc, avail, used: u16 offsets from region 0's user address]
//! [base: u16][write amount: u16]`, then the contents of guest memory.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::os::fd::OwnedFd;
use std::sync::OnceLock;
use vu_backend::fuzzing::Queue;
use vu_backend::GuestMemory;
use vu_protocol::msg::{encode_mem_table, MemoryRegion};
use vu_protocol::{FrontendMsg, FrontendReq, Header, Limits};
use vu_sys::SharedMemory;

/// Size of each shared-memory file behind a region.
const SHM: u64 = 64 << 10;
const REGIONS: usize = 2;
const FIXED: usize = 1 + REGIONS * 14 + 1 + 6 + 2 + 2;

/// Size of the file the direct-I/O paths read and write.
const DISK: u64 = 256 << 10;

/// The "disk" for `Reader::write_to_file_at` / `Writer::write_from_file_at`.
fn disk() -> &'static SharedMemory {
    static DISK_FILE: OnceLock<SharedMemory> = OnceLock::new();
    DISK_FILE.get_or_init(|| SharedMemory::new(DISK).expect("shared memory"))
}

/// Created once: making memfds per input would only measure the kernel.
fn shms() -> &'static [SharedMemory; REGIONS] {
    static SHMS: OnceLock<[SharedMemory; REGIONS]> = OnceLock::new();
    SHMS.get_or_init(|| {
        [
            SharedMemory::new(SHM).expect("shared memory"),
            SharedMemory::new(SHM).expect("shared memory"),
        ]
    })
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
    let shms = shms();
    let mut input = Input(data);
    let count = 1 + usize::from(input.u8()) % REGIONS;
    let mut regions = Vec::new();
    for _ in 0..REGIONS {
        let r = MemoryRegion {
            guest_phys_addr: u64::from(input.u32()),
            // Up to twice the file: a table may name more than the fd holds.
            memory_size: u64::from(input.u32()) % (2 * SHM + 1),
            user_addr: u64::from(input.u32()) << 8,
            mmap_offset: u64::from(input.u16()),
        };
        regions.push(r);
    }
    regions.truncate(count);
    let size = 1u16 << (input.u8() % 11);
    let (desc, avail, used) = (input.u16(), input.u16(), input.u16());
    let base = input.u16();
    let write_amount = usize::from(input.u16());
    // As in the session: one ring's worth per drain.
    let budget = u32::from(size);
    let contents = input.0;

    // Guest memory contents: the rest of the input, then zeroes.
    for (i, shm) in shms.iter().enumerate() {
        let start = (i * SHM as usize).min(contents.len());
        let end = ((i + 1) * SHM as usize).min(contents.len());
        let part = &contents[start..end];
        shm.region().write(0, part).unwrap();
        shm.region()
            .fill(part.len() as u64, SHM as usize - part.len(), 0)
            .unwrap();
    }

    // The memory table as the session receives it: validated, then mapped.
    let payload = encode_mem_table(&regions);
    let header = Header::request(FrontendReq::SetMemTable.code(), payload.len() as u32, false);
    let Ok(FrontendMsg::SetMemTable(table)) =
        FrontendMsg::parse(&header, &payload, regions.len(), &Limits::new(1))
    else {
        return;
    };
    let fds: Vec<OwnedFd> = shms[..table.len()]
        .iter()
        .map(|s| s.fd().try_clone_to_owned().expect("dup"))
        .collect();
    let Ok(mem) = GuestMemory::map(&table, fds) else {
        return;
    };

    let uva = table[0].user_addr;
    let Some(mut queue) = Queue::new(
        &mem,
        size,
        uva + (u64::from(desc) & !15),
        uva + (u64::from(avail) & !1),
        uva + (u64::from(used) & !3),
        base,
    ) else {
        return;
    };

    let mut scratch = vec![0u8; 4096];
    let mut completions = 0u32;
    let disk = disk().fd();
    let result = queue.drain(&mem, budget, |req| {
        completions += 1;
        let readable = req.reader.remaining();
        let room = req.writer.remaining();
        if write_amount & 1 == 1 && readable as u64 <= DISK && room as u64 <= DISK {
            // The block device's path: straight between guest memory and a
            // file. Too much room is refused up front, with nothing done.
            let e = req
                .writer
                .write_from_file_at(disk, 0, room + 1)
                .unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
            assert_eq!((req.writer.written(), req.writer.remaining()), (0, room));
            // Writes stay inside the file, so it never grows and every
            // input sees the same file.
            let at = (write_amount as u64 >> 1) % (DISK - readable as u64 + 1);
            match req.reader.write_to_file_at(disk, at, readable) {
                Ok(()) => assert_eq!(req.reader.remaining(), 0),
                Err(e) => panic!("pwritev of {readable} bytes at {at}: {e}"),
            }
            let want = room.min(write_amount);
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
        let mut got = 0;
        loop {
            let n = req.reader.read(&mut scratch);
            if n == 0 {
                break;
            }
            got += n;
        }
        assert_eq!(got, readable, "reader delivered what it announced");
        assert_eq!(req.reader.remaining(), 0);
        let want = write_amount.min(scratch.len());
        let wrote = req.writer.write(&scratch[..want]);
        assert_eq!(wrote, want.min(room), "writer stops exactly at the end");
        assert_eq!(req.writer.written(), wrote);
        assert_eq!(req.writer.remaining(), room - wrote);
    });
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
});
