//! Message bodies, each a `#[repr(C)]` struct in native byte order.

use crate::pod::{pod, Pod};

pod! {
    /// A single `u64` payload (features, queue count, acknowledgement, vring fd
    /// index word).
    pub struct U64 {
        pub value: u64,
    } = 8;
}

pod! {
    /// Vring state: a queue index and a number (size, base, enable flag).
    pub struct VringState {
        pub index: u32,
        pub num: u32,
    } = 8;
}

pod! {
    /// Vring addresses; ring addresses are front-end user addresses unless an
    /// IOMMU is negotiated.
    pub struct VringAddr {
        pub index: u32,
        pub flags: u32,
        pub desc_user_addr: u64,
        pub used_user_addr: u64,
        pub avail_user_addr: u64,
        pub log_guest_addr: u64,
    } = 40;
}

impl VringAddr {
    /// `flags` bit asking for used-ring writes to be logged.
    pub const F_LOG: u32 = 1;
}

pod! {
    /// One memory region of a memory table.
    pub struct MemoryRegion {
        pub guest_phys_addr: u64,
        pub memory_size: u64,
        pub user_addr: u64,
        /// Where the region starts in the file descriptor sent with it.
        pub mmap_offset: u64,
    } = 32;
}

pod! {
    /// The fixed part of `SET_MEM_TABLE`; `num_regions` [`MemoryRegion`]s follow.
    pub struct MemoryTableHeader {
        pub num_regions: u32,
        pub padding: u32,
    } = 8;
}

pod! {
    /// `ADD_MEM_REG`/`REM_MEM_REG` body.
    pub struct SingleMemoryRegion {
        pub padding: u64,
        pub region: MemoryRegion,
    } = 40;
}

pod! {
    /// `SET_LOG_BASE` body with `LOG_SHMFD`.
    pub struct Log {
        pub mmap_size: u64,
        pub mmap_offset: u64,
    } = 16;
}

pod! {
    /// IOTLB message (`struct vhost_iotlb_msg`, padded to 8 bytes).
    pub struct Iotlb {
        pub iova: u64,
        pub size: u64,
        pub user_addr: u64,
        pub perm: u8,
        pub kind: u8,
        pub padding: [u8; 6],
    } = 32;
}

pod! {
    /// The fixed part of `GET_CONFIG`/`SET_CONFIG`; `size` bytes of config
    /// space follow.
    pub struct ConfigHeader {
        pub offset: u32,
        pub size: u32,
        pub flags: u32,
    } = 12;
}

impl ConfigHeader {
    /// A write from the guest to a writable field.
    pub const FLAG_WRITABLE: u32 = 0;
    /// A write during live migration.
    pub const FLAG_LIVE_MIGRATION: u32 = 1;
}

pod! {
    /// Vring area (host notifier) body.
    pub struct VringArea {
        pub index_and_flags: u64,
        pub size: u64,
        pub offset: u64,
    } = 24;
}

pod! {
    /// `GET_INFLIGHT_FD`/`SET_INFLIGHT_FD` body.
    pub struct Inflight {
        pub mmap_size: u64,
        pub mmap_offset: u64,
        pub num_queues: u16,
        pub queue_size: u16,
        pub padding: u32,
    } = 24;
}

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
