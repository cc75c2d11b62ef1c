//! Guest memory from `SET_MEM_TABLE`: mapping, translation, bounds checks.

use std::os::fd::{AsFd, OwnedFd};
use vu_protocol::msg::MemoryRegion;
use vu_sys::{MmapRegion, RegionSlice};

#[derive(Debug)]
struct Region {
    gpa: u64,
    size: u64,
    user_addr: u64,
    map: MmapRegion,
}

/// A contiguous piece of one region, the unit a buffer is split into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Piece {
    pub(crate) region: usize,
    pub(crate) offset: u64,
    pub(crate) len: u64,
}

/// Why [`GuestMemory::translate`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Translate {
    /// Some byte is outside every region.
    Outside,
    /// The buffer needs more pieces than allowed.
    TooManyPieces,
}

/// The front-end's memory regions, mapped into this process.
#[derive(Debug, Default)]
pub struct GuestMemory {
    regions: Vec<Region>,
}

impl GuestMemory {
    /// Maps every region from its fd (same order). Overlaps and overflow
    /// were refused when the message was validated.
    pub fn map(regions: &[MemoryRegion], fds: Vec<OwnedFd>) -> Result<Self, crate::Error> {
        let mut out = Vec::with_capacity(regions.len());
        for (index, (r, fd)) in regions.iter().zip(fds).enumerate() {
            let map = MmapRegion::map(fd.as_fd(), r.mmap_offset, r.memory_size)
                .map_err(|source| crate::Error::Map { index, source })?;
            out.push(Region {
                gpa: r.guest_phys_addr,
                size: r.memory_size,
                user_addr: r.user_addr,
                map,
            });
        }
        Ok(Self { regions: out })
    }

    /// The first region whose file the front-end shrank under its mapping
    /// (see `vu_sys::MmapRegion::faulted`): what was read there since is
    /// not the guest's, so the connection must be closed.
    pub(crate) fn shrunk_region(&self) -> Option<usize> {
        self.regions.iter().position(|r| r.map.faulted())
    }

    fn find_gpa(&self, gpa: u64) -> Option<usize> {
        self.regions
            .iter()
            .position(|r| gpa >= r.gpa && gpa - r.gpa < r.size)
    }

    /// Translates a front-end user address range to a guest address; the
    /// whole range must lie in one region (rings are never split).
    pub fn user_to_guest(&self, uva: u64, len: u64) -> Option<u64> {
        let r = self
            .regions
            .iter()
            .find(|r| uva >= r.user_addr && uva - r.user_addr < r.size)?;
        let off = uva - r.user_addr;
        if len > r.size - off {
            return None;
        }
        Some(r.gpa + off)
    }

    /// Whether `len` bytes at guest address `gpa` lie inside one region.
    pub fn contains(&self, gpa: u64, len: u64) -> bool {
        self.find_gpa(gpa).is_some_and(|i| {
            let r = &self.regions[i];
            len <= r.size - (gpa - r.gpa)
        })
    }

    /// Splits `len` bytes at `gpa` into pieces of consecutive regions,
    /// appending them to `out`, which may hold at most `max` pieces.
    pub(crate) fn translate(
        &self,
        mut gpa: u64,
        mut len: u64,
        out: &mut Vec<Piece>,
        max: usize,
    ) -> Result<(), Translate> {
        while len > 0 {
            let i = self.find_gpa(gpa).ok_or(Translate::Outside)?;
            if out.len() >= max {
                return Err(Translate::TooManyPieces);
            }
            let r = &self.regions[i];
            let offset = gpa - r.gpa;
            let n = len.min(r.size - offset);
            out.push(Piece {
                region: i,
                offset,
                len: n,
            });
            len -= n;
            gpa = match gpa.checked_add(n) {
                Some(g) => g,
                None if len == 0 => return Ok(()),
                None => return Err(Translate::Outside),
            };
        }
        Ok(())
    }

    fn region_at(&self, gpa: u64, len: u64) -> Option<(&MmapRegion, u64)> {
        let i = self.find_gpa(gpa)?;
        let r = &self.regions[i];
        let off = gpa - r.gpa;
        (len <= r.size - off).then_some((&r.map, off))
    }

    /// Copies guest memory at `gpa` into `buf` (one region only).
    pub fn read(&self, gpa: u64, buf: &mut [u8]) -> Option<()> {
        let (m, off) = self.region_at(gpa, buf.len() as u64)?;
        m.read(off, buf)
    }

    /// Copies `data` into guest memory at `gpa` (one region only).
    pub fn write(&self, gpa: u64, data: &[u8]) -> Option<()> {
        let (m, off) = self.region_at(gpa, data.len() as u64)?;
        m.write(off, data)
    }

    pub(crate) fn read_u16(&self, gpa: u64) -> Option<u16> {
        let (m, off) = self.region_at(gpa, 2)?;
        m.read_u16_le(off)
    }

    pub(crate) fn write_u16(&self, gpa: u64, v: u16) -> Option<()> {
        let (m, off) = self.region_at(gpa, 2)?;
        m.write_u16_le(off, v)
    }

    pub(crate) fn piece_read(&self, p: &Piece, at: u64, buf: &mut [u8]) -> Option<()> {
        self.regions.get(p.region)?.map.read(p.offset + at, buf)
    }

    /// `len` bytes of piece `p` from `at`, for vectored file I/O.
    pub(crate) fn piece_slice(&self, p: &Piece, at: u64, len: u64) -> Option<RegionSlice<'_>> {
        if at.checked_add(len)? > p.len {
            return None;
        }
        Some(RegionSlice {
            region: &self.regions.get(p.region)?.map,
            offset: p.offset + at,
            len: usize::try_from(len).ok()?,
        })
    }

    pub(crate) fn piece_write(&self, p: &Piece, at: u64, data: &[u8]) -> Option<()> {
        self.regions.get(p.region)?.map.write(p.offset + at, data)
    }
}
