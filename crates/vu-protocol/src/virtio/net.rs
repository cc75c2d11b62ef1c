//! virtio-net packet header and feature bits (virtio 1.x, 5.1).

/// Feature bits.
pub mod features {
    pub const CSUM: u64 = 1 << 0;
    pub const GUEST_CSUM: u64 = 1 << 1;
    pub const MTU: u64 = 1 << 3;
    pub const MAC: u64 = 1 << 5;
    pub const GUEST_TSO4: u64 = 1 << 7;
    pub const HOST_TSO4: u64 = 1 << 11;
    pub const MRG_RXBUF: u64 = 1 << 15;
    pub const STATUS: u64 = 1 << 16;
    pub const CTRL_VQ: u64 = 1 << 17;
    pub const MQ: u64 = 1 << 22;
}

/// `flags` bits of the header.
pub mod flags {
    pub const NEEDS_CSUM: u8 = 1;
    pub const DATA_VALID: u8 = 2;
    pub const RSC_INFO: u8 = 4;
}

/// `gso_type` values.
pub mod gso {
    pub const NONE: u8 = 0;
    pub const TCPV4: u8 = 1;
    pub const UDP: u8 = 3;
    pub const TCPV6: u8 = 4;
    pub const ECN: u8 = 0x80;
}

/// The header in front of every packet, both ways. With `VERSION_1` or
/// `MRG_RXBUF` it is 12 bytes (`num_buffers` included); a legacy driver
/// without `MRG_RXBUF` uses the first 10.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetHeader {
    pub flags: u8,
    pub gso_type: u8,
    pub hdr_len: u16,
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
    /// Receive buffers this packet spans (mergeable receive buffers); the
    /// driver sets it to 0 on transmit.
    pub num_buffers: u16,
}

impl NetHeader {
    /// The header's size with `num_buffers`.
    pub const SIZE: usize = 12;
    /// The legacy header's size, without `num_buffers`.
    pub const LEGACY_SIZE: usize = 10;

    /// Decodes the first 10 or 12 bytes of `b` (`num_buffers` is 0 when
    /// `b` holds only 10); `None` if `b` is shorter than 10.
    pub fn from_le_bytes(b: &[u8]) -> Option<Self> {
        if b.len() < Self::LEGACY_SIZE {
            return None;
        }
        let u = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        Some(Self {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u(2),
            gso_size: u(4),
            csum_start: u(6),
            csum_offset: u(8),
            num_buffers: if b.len() >= Self::SIZE { u(10) } else { 0 },
        })
    }

    pub fn to_le_bytes(self) -> [u8; 12] {
        let mut b = [0; 12];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
        b[10..12].copy_from_slice(&self.num_buffers.to_le_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_round_trips_little_endian_and_legacy_has_no_buffer_count() {
        let h = NetHeader {
            flags: flags::NEEDS_CSUM,
            gso_type: gso::TCPV4,
            hdr_len: 0x0102,
            gso_size: 0x0304,
            csum_start: 0x0506,
            csum_offset: 0x0708,
            num_buffers: 0x090a,
        };
        let b = h.to_le_bytes();
        assert_eq!(&b[..4], &[1, 1, 2, 1]);
        assert_eq!(NetHeader::from_le_bytes(&b), Some(h));
        let legacy = NetHeader::from_le_bytes(&b[..10]).unwrap();
        assert_eq!(legacy.num_buffers, 0);
        assert_eq!(NetHeader::from_le_bytes(&b[..9]), None);
    }
}
