//! Guest-visible virtio formats shared by the front-end and the back-end.
//!
//! Everything here is little-endian in guest memory; the types encode and
//! decode explicitly so a big-endian host reads the same values.

pub mod blk;
pub mod input;
pub mod net;
pub mod scsi;
pub mod split;

/// Device feature bits common to all virtio devices (virtio 1.x, 6).
pub mod features {
    pub const NOTIFY_ON_EMPTY: u64 = 1 << 24;
    pub const ANY_LAYOUT: u64 = 1 << 27;
    pub const RING_INDIRECT_DESC: u64 = 1 << 28;
    pub const RING_EVENT_IDX: u64 = 1 << 29;
    pub const VERSION_1: u64 = 1 << 32;
    pub const ACCESS_PLATFORM: u64 = 1 << 33;
    pub const RING_PACKED: u64 = 1 << 34;
    pub const IN_ORDER: u64 = 1 << 35;
    pub const ORDER_PLATFORM: u64 = 1 << 36;
    pub const SR_IOV: u64 = 1 << 37;
    pub const NOTIFICATION_DATA: u64 = 1 << 38;
}

/// Virtio device IDs of the devices this workspace implements.
pub mod device_id {
    pub const NETWORK: u32 = 1;
    pub const BLOCK: u32 = 2;
    pub const ENTROPY: u32 = 4;
    pub const SCSI: u32 = 8;
    pub const INPUT: u32 = 18;
}
