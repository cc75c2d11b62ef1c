//! The split virtqueue layout: descriptor table, available and used rings.

/// Descriptor continues in `next`.
pub const VRING_DESC_F_NEXT: u16 = 1;
/// Buffer is device-writable (otherwise device-readable).
pub const VRING_DESC_F_WRITE: u16 = 2;
/// Buffer holds a table of indirect descriptors.
pub const VRING_DESC_F_INDIRECT: u16 = 4;
/// Driver asks not to be interrupted (available ring flags).
pub const VRING_AVAIL_F_NO_INTERRUPT: u16 = 1;
/// Device asks not to be notified (used ring flags).
pub const VRING_USED_F_NO_NOTIFY: u16 = 1;

/// Size of one descriptor in the table.
pub const DESC_SIZE: u64 = 16;
/// Size of one used ring element.
pub const USED_ELEM_SIZE: u64 = 8;

/// Required alignment of the descriptor table.
pub const DESC_ALIGN: u64 = 16;
/// Required alignment of the available ring.
pub const AVAIL_ALIGN: u64 = 2;
/// Required alignment of the used ring.
pub const USED_ALIGN: u64 = 4;

/// Bytes of a descriptor table for `size` entries.
pub fn desc_table_size(size: u16) -> u64 {
    DESC_SIZE * u64::from(size)
}

/// Bytes of an available ring: flags, idx, `ring[size]`, used_event.
pub fn avail_ring_size(size: u16) -> u64 {
    6 + 2 * u64::from(size)
}

/// Bytes of a used ring: flags, idx, `ring[size]`, avail_event.
pub fn used_ring_size(size: u16) -> u64 {
    6 + USED_ELEM_SIZE * u64::from(size)
}

/// Offset of `used_event` in the available ring (with `RING_EVENT_IDX`:
/// the driver wants a used-buffer notification once the used index passes
/// it).
pub fn used_event_offset(size: u16) -> u64 {
    4 + 2 * u64::from(size)
}

/// Offset of `avail_event` in the used ring (with `RING_EVENT_IDX`: the
/// device wants an available-buffer notification once the available index
/// passes it).
pub fn avail_event_offset(size: u16) -> u64 {
    4 + USED_ELEM_SIZE * u64::from(size)
}

/// The event-index rule (virtio 1.x, 2.7.7.2 and 2.7.10.2): whether moving
/// an index from `old` to `new` passed `event`, the value the other side
/// published, so that it is to be notified. All arithmetic wraps at 2^16,
/// so `event` counts as passed when it lies in `old..new`.
pub fn event_passed(event: u16, new: u16, old: u16) -> bool {
    new.wrapping_sub(event).wrapping_sub(1) < new.wrapping_sub(old)
}

/// Offset of the `idx` field in both rings.
pub const RING_IDX_OFFSET: u64 = 2;
/// Offset of the first entry in both rings.
pub const RING_ENTRIES_OFFSET: u64 = 4;

/// One descriptor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Descriptor {
    pub addr: u64,
    pub len: u32,
    pub flags: u16,
    pub next: u16,
}

impl Descriptor {
    /// Decodes a descriptor from its 16 little-endian bytes.
    pub fn from_le_bytes(b: [u8; 16]) -> Self {
        let [a0, a1, a2, a3, a4, a5, a6, a7, l0, l1, l2, l3, f0, f1, n0, n1] = b;
        Self {
            addr: u64::from_le_bytes([a0, a1, a2, a3, a4, a5, a6, a7]),
            len: u32::from_le_bytes([l0, l1, l2, l3]),
            flags: u16::from_le_bytes([f0, f1]),
            next: u16::from_le_bytes([n0, n1]),
        }
    }

    /// Encodes the descriptor as 16 little-endian bytes.
    pub fn to_le_bytes(self) -> [u8; 16] {
        let mut b = [0; 16];
        b[..8].copy_from_slice(&self.addr.to_le_bytes());
        b[8..12].copy_from_slice(&self.len.to_le_bytes());
        b[12..14].copy_from_slice(&self.flags.to_le_bytes());
        b[14..].copy_from_slice(&self.next.to_le_bytes());
        b
    }

    pub fn has_next(&self) -> bool {
        self.flags & VRING_DESC_F_NEXT != 0
    }

    pub fn is_write_only(&self) -> bool {
        self.flags & VRING_DESC_F_WRITE != 0
    }

    pub fn is_indirect(&self) -> bool {
        self.flags & VRING_DESC_F_INDIRECT != 0
    }
}

/// One used ring element: the head of a completed chain and bytes written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsedElem {
    pub id: u32,
    pub len: u32,
}

impl UsedElem {
    pub fn from_le_bytes(b: [u8; 8]) -> Self {
        let [i0, i1, i2, i3, l0, l1, l2, l3] = b;
        Self {
            id: u32::from_le_bytes([i0, i1, i2, i3]),
            len: u32::from_le_bytes([l0, l1, l2, l3]),
        }
    }

    pub fn to_le_bytes(self) -> [u8; 8] {
        let mut b = [0; 8];
        b[..4].copy_from_slice(&self.id.to_le_bytes());
        b[4..].copy_from_slice(&self.len.to_le_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_round_trips_little_endian() {
        let d = Descriptor {
            addr: 0x0102_0304_0506_0708,
            len: 0x0a0b_0c0d,
            flags: 3,
            next: 0x0102,
        };
        let b = d.to_le_bytes();
        assert_eq!(b[0], 0x08);
        assert_eq!(b[14], 0x02);
        assert_eq!(Descriptor::from_le_bytes(b), d);
        let u = UsedElem { id: 7, len: 512 };
        assert_eq!(UsedElem::from_le_bytes(u.to_le_bytes()), u);
        assert_eq!(used_ring_size(256), 6 + 8 * 256);
    }

    #[test]
    fn an_event_index_is_passed_once_it_lies_behind_the_new_index() {
        // The other side asked to hear when the index passes 5.
        assert!(event_passed(5, 6, 5), "5 -> 6 passes 5");
        assert!(event_passed(5, 9, 3), "a batch over it");
        assert!(!event_passed(5, 5, 3), "not yet");
        assert!(!event_passed(5, 9, 6), "already passed before");
        assert!(!event_passed(5, 7, 7), "nothing moved");
        // Across the wrap.
        assert!(event_passed(0xffff, 2, 0xfffe));
        assert!(event_passed(0, 1, 0xffff));
        assert!(!event_passed(0xfffe, 3, 0xffff));
        // One behind the current index: never, whatever is added.
        assert!(!event_passed(9, 10 + 200, 10));
        assert_eq!(used_event_offset(256), 4 + 2 * 256);
        assert_eq!(avail_event_offset(256), 4 + 8 * 256);
        assert_eq!(avail_ring_size(16), used_event_offset(16) + 2);
        assert_eq!(used_ring_size(16), avail_event_offset(16) + 2);
    }
}
