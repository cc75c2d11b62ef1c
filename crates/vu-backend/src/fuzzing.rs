//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`).
//!
//! [`Queue`] is a virtqueue set up the way the session sets one up from
//! `SET_VRING_NUM`, `SET_VRING_ADDR` and `SET_VRING_BASE` (ring addresses
//! translated from front-end user addresses and bounds-checked against guest
//! memory), and [`Queue::drain`] is the very function the session calls on a
//! kick. Nothing here is a shortcut around a check: it only makes the
//! crate-private state reachable without a socket.

use crate::memory::GuestMemory;
use crate::queue::{drain_ring, fill_ring, ChainBuf, UserAddrs, Vring};
use crate::{Filler, QueueError, Request};
use vu_protocol::virtio::split;

/// One queue, as the session holds it.
#[derive(Debug)]
pub struct Queue {
    vring: Vring,
    chain: ChainBuf,
}

impl Queue {
    /// A ready queue of `size` entries whose parts are at the given front-end
    /// user addresses, resuming at `base`; `None` when the ring does not fit
    /// in `mem` (the session closes the connection then).
    pub fn new(
        mem: &GuestMemory,
        size: u16,
        desc: u64,
        avail: u64,
        used: u64,
        base: u16,
    ) -> Option<Self> {
        let mut vring = Vring {
            size,
            user: Some(UserAddrs { desc, avail, used }),
            last_avail: base,
            used_idx: base,
            enabled: true,
            ..Vring::default()
        };
        (size > 0 && vring.translate(mem)).then_some(Self {
            vring,
            chain: ChainBuf::default(),
        })
    }

    /// Serves available requests with `handle`, as on a kick: at most
    /// `budget`; returns how many, and whether requests may be left.
    pub fn drain(
        &mut self,
        mem: &GuestMemory,
        budget: u32,
        handle: impl FnMut(&mut Request<'_>),
    ) -> Result<(u32, bool), QueueError> {
        drain_ring(mem, &mut self.vring, &mut self.chain, budget, handle).map(|d| (d.done, d.more))
    }

    /// Lets `fill` fill the queue as a device-filled queue is filled when
    /// the device is woken (`fill_ring`, the session's own); returns the
    /// chains published.
    pub fn fill(
        &mut self,
        mem: &GuestMemory,
        fill: impl FnOnce(&mut Filler<'_>),
    ) -> Result<u32, QueueError> {
        fill_ring(mem, &mut self.vring, &mut self.chain, fill)
    }

    /// The next available-ring index to serve.
    pub fn last_avail(&self) -> u16 {
        self.vring.last_avail
    }

    /// The used-ring index published so far.
    pub fn used_idx(&self) -> u16 {
        self.vring.used_idx
    }
}

/// Guest memory for the fuzz targets: one sparse memory file of realistic
/// size, created and mapped once per process as a one-region
/// [`GuestMemory`] (the session's own mapping), and reset between inputs
/// by punching out every page (the file's allocated pages go back to
/// zeroes, so each input starts from the same all-zero memory, and the
/// reset costs what the input touched, not the region size).
#[derive(Debug)]
pub struct Arena {
    /// The memory file (its creator's own mapping of it is gone).
    file: std::fs::File,
    mem: GuestMemory,
    size: u64,
    gpa: u64,
    user: u64,
}

impl Arena {
    /// `size` bytes of guest memory at guest address `gpa`, which the
    /// front-end knows at user address `user`.
    pub fn new(size: u64, gpa: u64, user: u64) -> std::io::Result<Self> {
        let shm = vu_sys::SharedMemory::new(size)?;
        let file = std::fs::File::from(shm.fd().try_clone_to_owned()?);
        let region = vu_protocol::msg::MemoryRegion {
            guest_phys_addr: gpa,
            memory_size: size,
            user_addr: user,
            mmap_offset: 0,
        };
        let mem = GuestMemory::map(&[region], vec![shm.fd().try_clone_to_owned()?])
            .map_err(std::io::Error::other)?;
        Ok(Self {
            file,
            mem,
            size,
            gpa,
            user,
        })
    }

    /// The guest memory, as the session maps it.
    pub fn mem(&self) -> &GuestMemory {
        &self.mem
    }

    /// Puts the harness's own data (frames, commands) at guest address
    /// `gpa`, through the file (`pwrite`): the harness's bulk writes are
    /// not under test, and the mapping's volatile, coverage-instrumented
    /// copy cost net_frame more than the device's own work.
    pub fn write(&self, gpa: u64, data: &[u8]) {
        use std::os::unix::fs::FileExt;
        let at = gpa
            .checked_sub(self.gpa)
            .filter(|&o| o + data.len() as u64 <= self.size);
        let at = at.expect("inside guest memory");
        self.file
            .write_all_at(data, at)
            .expect("write guest memory");
    }

    /// The front-end user address of guest address `gpa`.
    pub fn user(&self, gpa: u64) -> u64 {
        gpa - self.gpa + self.user
    }

    /// A ready queue on `ring`, resuming at `base` (as the session sets it
    /// up from the front-end's messages).
    pub fn queue(&self, ring: &Ring, base: u16) -> Option<Queue> {
        Queue::new(
            &self.mem,
            ring.size,
            self.user(ring.desc),
            self.user(ring.avail),
            self.user(ring.used),
            base,
        )
    }

    /// All-zero memory again, every page unallocated.
    pub fn reset(&self) {
        vu_sys::file::discard(&self.file, 0, self.size).expect("punch the memory file");
    }
}

/// Where a split virtqueue's three parts are, in guest addresses, and the
/// driver's side of it: what a guest writes to post buffers and reads back
/// once they are used. Harness-built rings go through here, so every target
/// lays them out the way a driver does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ring {
    pub size: u16,
    pub desc: u64,
    pub avail: u64,
    pub used: u64,
}

/// One buffer of a chain the harness posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buffer {
    pub addr: u64,
    pub len: u32,
    /// Device-writable (`VRING_DESC_F_WRITE`).
    pub write: bool,
}

impl Ring {
    /// The legacy layout a driver uses: the descriptor table at `base`, the
    /// available ring right after it, the used ring after that (aligned).
    pub fn at(base: u64, size: u16) -> Self {
        let avail = base + split::desc_table_size(size);
        let used = (avail + split::avail_ring_size(size)).next_multiple_of(split::USED_ALIGN);
        Self {
            size,
            desc: base,
            avail,
            used,
        }
    }

    /// Writes descriptor `i`.
    pub fn set_desc(&self, mem: &GuestMemory, i: u16, d: split::Descriptor) {
        let at = self.desc + split::DESC_SIZE * u64::from(i % self.size);
        mem.write(at, &d.to_le_bytes())
            .expect("the ring is in memory");
    }

    /// Writes `bufs` as one chain from descriptor `first`, each linked to
    /// the next index (wrapping at the ring size), the last one ending the
    /// chain; returns the index after it.
    pub fn put_chain(&self, mem: &GuestMemory, first: u16, bufs: &[Buffer]) -> u16 {
        let mut i = first % self.size;
        for (k, b) in bufs.iter().enumerate() {
            let next = (i + 1) % self.size;
            let last = k + 1 == bufs.len();
            let flags = if last { 0 } else { split::VRING_DESC_F_NEXT }
                | if b.write {
                    split::VRING_DESC_F_WRITE
                } else {
                    0
                };
            self.set_desc(
                mem,
                i,
                split::Descriptor {
                    addr: b.addr,
                    len: b.len,
                    flags,
                    next,
                },
            );
            i = next;
        }
        i
    }

    /// Posts `heads` in the available ring from index `from`, and makes the
    /// available index `from + heads.len()`.
    pub fn publish(&self, mem: &GuestMemory, from: u16, heads: &[u16]) {
        let mut idx = from;
        for &head in heads {
            let at = self.avail + split::RING_ENTRIES_OFFSET + 2 * u64::from(idx % self.size);
            mem.write(at, &head.to_le_bytes())
                .expect("the ring is in memory");
            idx = idx.wrapping_add(1);
        }
        mem.write(self.avail + split::RING_IDX_OFFSET, &idx.to_le_bytes())
            .expect("the ring is in memory");
    }

    /// The used ring's index, as the driver reads it.
    pub fn used_idx(&self, mem: &GuestMemory) -> u16 {
        let mut b = [0u8; 2];
        mem.read(self.used + split::RING_IDX_OFFSET, &mut b)
            .expect("the ring is in memory");
        u16::from_le_bytes(b)
    }

    /// The `k`-th used element (counting from index 0).
    pub fn used_elem(&self, mem: &GuestMemory, k: u16) -> split::UsedElem {
        let mut b = [0u8; 8];
        let at = self.used
            + split::RING_ENTRIES_OFFSET
            + split::USED_ELEM_SIZE * u64::from(k % self.size);
        mem.read(at, &mut b).expect("the ring is in memory");
        split::UsedElem::from_le_bytes(b)
    }
}
