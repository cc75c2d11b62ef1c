//! Message bodies, each a `#[repr(C)]` struct in native byte order.

use crate::pod::Pod;

/// A single `u64` payload (features, queue count, acknowledgement, vring fd
/// index word).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct U64 {
    pub value: u64,
}

/// Vring state: a queue index and a number (size, base, enable flag).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VringState {
    pub index: u32,
    pub num: u32,
}

/// Vring addresses; ring addresses are front-end user addresses unless an
/// IOMMU is negotiated.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VringAddr {
    pub index: u32,
    pub flags: u32,
    pub desc_user_addr: u64,
    pub used_user_addr: u64,
    pub avail_user_addr: u64,
    pub log_guest_addr: u64,
}

impl VringAddr {
    /// `flags` bit asking for used-ring writes to be logged.
    pub const F_LOG: u32 = 1;
}

/// One memory region of a memory table.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryRegion {
    pub guest_phys_addr: u64,
    pub memory_size: u64,
    pub user_addr: u64,
    /// Where the region starts in the file descriptor sent with it.
    pub mmap_offset: u64,
}

/// The fixed part of `SET_MEM_TABLE`; `num_regions` [`MemoryRegion`]s follow.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryTableHeader {
    pub num_regions: u32,
    pub padding: u32,
}

/// `ADD_MEM_REG`/`REM_MEM_REG` body.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SingleMemoryRegion {
    pub padding: u64,
    pub region: MemoryRegion,
}

/// `SET_LOG_BASE` body with `LOG_SHMFD`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Log {
    pub mmap_size: u64,
    pub mmap_offset: u64,
}

/// IOTLB message (`struct vhost_iotlb_msg`, padded to 8 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Iotlb {
    pub iova: u64,
    pub size: u64,
    pub user_addr: u64,
    pub perm: u8,
    pub kind: u8,
    pub padding: [u8; 6],
}

/// The fixed part of `GET_CONFIG`/`SET_CONFIG`; `size` bytes of config
/// space follow.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConfigHeader {
    pub offset: u32,
    pub size: u32,
    pub flags: u32,
}

impl ConfigHeader {
    /// A write from the guest to a writable field.
    pub const FLAG_WRITABLE: u32 = 0;
    /// A write during live migration.
    pub const FLAG_LIVE_MIGRATION: u32 = 1;
}

/// Vring area (host notifier) body.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VringArea {
    pub index_and_flags: u64,
    pub size: u64,
    pub offset: u64,
}

/// `GET_INFLIGHT_FD`/`SET_INFLIGHT_FD` body.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Inflight {
    pub mmap_size: u64,
    pub mmap_offset: u64,
    pub num_queues: u16,
    pub queue_size: u16,
    pub padding: u32,
}

// SAFETY (all impls below): each type is `repr(C)` and made only of
// integers laid out so that no padding is inserted (checked by the size
// assertions in the tests), so every byte pattern is a valid value.
unsafe impl Pod for U64 {}
// SAFETY: see above.
unsafe impl Pod for VringState {}
// SAFETY: see above.
unsafe impl Pod for VringAddr {}
// SAFETY: see above.
unsafe impl Pod for MemoryRegion {}
// SAFETY: see above.
unsafe impl Pod for MemoryTableHeader {}
// SAFETY: see above.
unsafe impl Pod for SingleMemoryRegion {}
// SAFETY: see above.
unsafe impl Pod for Log {}
// SAFETY: see above.
unsafe impl Pod for Iotlb {}
// SAFETY: see above.
unsafe impl Pod for ConfigHeader {}
// SAFETY: see above.
unsafe impl Pod for VringArea {}
// SAFETY: see above.
unsafe impl Pod for Inflight {}

/// A full `SET_MEM_TABLE` body, encoded for sending.
pub fn encode_mem_table(regions: &[MemoryRegion]) -> Vec<u8> {
    let header = MemoryTableHeader {
        num_regions: regions.len() as u32,
        padding: 0,
    };
    let mut out = header.as_bytes().to_vec();
    for r in regions {
        out.extend_from_slice(r.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::size_of;

    #[test]
    fn sizes_match_the_wire_format() {
        assert_eq!(size_of::<U64>(), 8);
        assert_eq!(size_of::<VringState>(), 8);
        assert_eq!(size_of::<VringAddr>(), 40);
        assert_eq!(size_of::<MemoryRegion>(), 32);
        assert_eq!(size_of::<MemoryTableHeader>(), 8);
        assert_eq!(size_of::<SingleMemoryRegion>(), 40);
        assert_eq!(size_of::<Log>(), 16);
        assert_eq!(size_of::<Iotlb>(), 32);
        assert_eq!(size_of::<ConfigHeader>(), 12);
        assert_eq!(size_of::<VringArea>(), 24);
        assert_eq!(size_of::<Inflight>(), 24);
    }

    #[test]
    fn mem_table_encodes_header_then_regions() {
        let r = MemoryRegion {
            guest_phys_addr: 1,
            memory_size: 2,
            user_addr: 3,
            mmap_offset: 4,
        };
        let bytes = encode_mem_table(&[r, r]);
        assert_eq!(bytes.len(), 8 + 64);
        assert_eq!(
            MemoryTableHeader::read_from(&bytes).map(|h| h.num_regions),
            Some(2)
        );
        assert_eq!(MemoryRegion::read_from(&bytes[40..]), Some(r));
    }
}
