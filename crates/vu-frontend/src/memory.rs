//! The front-end's "guest RAM": shared-memory regions placed back to back in
//! guest-physical address space, with a bump allocator.

use crate::Error;
use vu_protocol::msg::MemoryRegion;
use vu_sys::SharedMemory;

/// Guest-physical address of the first region (not 0, so a back-end that
/// confuses guest and user addresses, or offsets, fails loudly).
pub const GUEST_BASE: u64 = 0x10_0000;

/// Shared guest memory.
#[derive(Debug)]
pub struct GuestRam {
    regions: Vec<(u64, SharedMemory)>,
    region_size: u64,
    next: u64,
}

impl GuestRam {
    /// Creates `count` regions of `region_size` bytes each (page multiple).
    pub fn new(count: usize, region_size: u64) -> Result<Self, Error> {
        let mut regions = Vec::with_capacity(count);
        for i in 0..count as u64 {
            let shm = SharedMemory::new(region_size).map_err(Error::SharedMemory)?;
            regions.push((GUEST_BASE + i * region_size, shm));
        }
        Ok(Self {
            regions,
            region_size,
            next: GUEST_BASE,
        })
    }

    /// The memory table to send, with the fds in the same order.
    pub fn table(&self) -> (Vec<MemoryRegion>, Vec<std::os::fd::BorrowedFd<'_>>) {
        let regions = self
            .regions
            .iter()
            .map(|(gpa, shm)| MemoryRegion {
                guest_phys_addr: *gpa,
                memory_size: self.region_size,
                user_addr: shm.region().addr(),
                mmap_offset: 0,
            })
            .collect();
        (regions, self.regions.iter().map(|(_, s)| s.fd()).collect())
    }

    /// One past the last guest address.
    pub fn end(&self) -> u64 {
        GUEST_BASE + self.region_size * self.regions.len() as u64
    }

    /// Allocates `len` bytes aligned to `align` (a power of two). Allocations
    /// may straddle two regions; rings are kept inside one (`within_region`).
    pub fn alloc(&mut self, len: u64, align: u64, within_region: bool) -> Result<u64, Error> {
        let mut at = self
            .next
            .checked_add(align - 1)
            .ok_or(Error::OutOfGuestMemory(len))?
            & !(align - 1);
        if within_region {
            let region_end = at - (at - GUEST_BASE) % self.region_size + self.region_size;
            if at + len > region_end {
                at = region_end;
            }
        }
        let end = at.checked_add(len).ok_or(Error::OutOfGuestMemory(len))?;
        if end > self.end() {
            return Err(Error::OutOfGuestMemory(len));
        }
        self.next = end;
        Ok(at)
    }

    /// The front-end (this process's) address of guest address `gpa`.
    pub fn user_addr(&self, gpa: u64) -> Option<u64> {
        let (base, shm) = self.region(gpa)?;
        Some(shm.region().addr() + (gpa - base))
    }

    fn region(&self, gpa: u64) -> Option<(u64, &SharedMemory)> {
        self.regions
            .iter()
            .find(|(b, _)| gpa >= *b && gpa - b < self.region_size)
            .map(|(b, s)| (*b, s))
    }

    /// Copies `data` to `gpa`, across regions if needed.
    pub fn write(&self, mut gpa: u64, mut data: &[u8]) -> Option<()> {
        while !data.is_empty() {
            let (base, shm) = self.region(gpa)?;
            let off = gpa - base;
            let n = (self.region_size - off).min(data.len() as u64) as usize;
            shm.region().write(off, &data[..n])?;
            data = &data[n..];
            gpa += n as u64;
        }
        Some(())
    }

    /// Copies from `gpa` into `buf`, across regions if needed.
    pub fn read(&self, mut gpa: u64, buf: &mut [u8]) -> Option<()> {
        let mut done = 0;
        while done < buf.len() {
            let (base, shm) = self.region(gpa)?;
            let off = gpa - base;
            let n = (self.region_size - off).min((buf.len() - done) as u64) as usize;
            shm.region().read(off, &mut buf[done..done + n])?;
            done += n;
            gpa += n as u64;
        }
        Some(())
    }

    pub(crate) fn read_u16(&self, gpa: u64) -> Option<u16> {
        let (base, shm) = self.region(gpa)?;
        shm.region().read_u16_le(gpa - base)
    }

    pub(crate) fn write_u16(&self, gpa: u64, v: u16) -> Option<()> {
        let (base, shm) = self.region(gpa)?;
        shm.region().write_u16_le(gpa - base, v)
    }
}
