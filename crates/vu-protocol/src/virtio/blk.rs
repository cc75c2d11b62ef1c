//! virtio-blk request and configuration formats (virtio 1.x, 5.2).

/// Sector size the protocol counts in, whatever the block size.
pub const SECTOR_SIZE: u64 = 512;
/// Length of a device ID returned by `GET_ID`.
pub const ID_BYTES: usize = 20;

/// Feature bits.
pub mod features {
    pub const SIZE_MAX: u64 = 1 << 1;
    pub const SEG_MAX: u64 = 1 << 2;
    pub const GEOMETRY: u64 = 1 << 4;
    pub const RO: u64 = 1 << 5;
    pub const BLK_SIZE: u64 = 1 << 6;
    pub const FLUSH: u64 = 1 << 9;
    pub const TOPOLOGY: u64 = 1 << 10;
    pub const CONFIG_WCE: u64 = 1 << 11;
    pub const MQ: u64 = 1 << 12;
    pub const DISCARD: u64 = 1 << 13;
    pub const WRITE_ZEROES: u64 = 1 << 14;
}

/// Request types.
pub mod req {
    pub const IN: u32 = 0;
    pub const OUT: u32 = 1;
    pub const FLUSH: u32 = 4;
    pub const GET_ID: u32 = 8;
    pub const DISCARD: u32 = 11;
    pub const WRITE_ZEROES: u32 = 13;
}

/// Status byte values.
pub mod status {
    pub const OK: u8 = 0;
    pub const IOERR: u8 = 1;
    pub const UNSUPP: u8 = 2;
}

/// The 16-byte header at the start of every request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReqHeader {
    pub kind: u32,
    pub ioprio: u32,
    pub sector: u64,
}

impl ReqHeader {
    pub const SIZE: usize = 16;

    pub fn from_le_bytes(b: &[u8; 16]) -> Self {
        Self {
            kind: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            ioprio: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            sector: u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]),
        }
    }

    pub fn to_le_bytes(self) -> [u8; 16] {
        let mut b = [0; 16];
        b[..4].copy_from_slice(&self.kind.to_le_bytes());
        b[4..8].copy_from_slice(&self.ioprio.to_le_bytes());
        b[8..].copy_from_slice(&self.sector.to_le_bytes());
        b
    }
}

/// One segment of a discard or write-zeroes request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiscardWriteZeroes {
    pub sector: u64,
    pub num_sectors: u32,
    pub flags: u32,
}

impl DiscardWriteZeroes {
    pub const SIZE: usize = 16;
    /// Write-zeroes may deallocate.
    pub const FLAG_UNMAP: u32 = 1;

    pub fn from_le_bytes(b: &[u8; 16]) -> Self {
        Self {
            sector: u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
            num_sectors: u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
            flags: u32::from_le_bytes([b[12], b[13], b[14], b[15]]),
        }
    }

    pub fn to_le_bytes(self) -> [u8; 16] {
        let mut b = [0; 16];
        b[..8].copy_from_slice(&self.sector.to_le_bytes());
        b[8..12].copy_from_slice(&self.num_sectors.to_le_bytes());
        b[12..].copy_from_slice(&self.flags.to_le_bytes());
        b
    }
}

/// The device configuration space (the fields up to the write-zeroes ones).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Config {
    /// In 512-byte sectors.
    pub capacity: u64,
    pub size_max: u32,
    pub seg_max: u32,
    pub blk_size: u32,
    pub num_queues: u16,
    pub max_discard_sectors: u32,
    pub max_discard_seg: u32,
    pub discard_sector_alignment: u32,
    pub max_write_zeroes_sectors: u32,
    pub max_write_zeroes_seg: u32,
    pub write_zeroes_may_unmap: u8,
}

impl Config {
    /// Bytes of the encoded configuration space.
    pub const SIZE: usize = 60;

    /// Encodes at the offsets the specification gives; geometry, topology
    /// and writeback stay zero.
    pub fn to_le_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0; Self::SIZE];
        b[0..8].copy_from_slice(&self.capacity.to_le_bytes());
        b[8..12].copy_from_slice(&self.size_max.to_le_bytes());
        b[12..16].copy_from_slice(&self.seg_max.to_le_bytes());
        b[20..24].copy_from_slice(&self.blk_size.to_le_bytes());
        b[34..36].copy_from_slice(&self.num_queues.to_le_bytes());
        b[36..40].copy_from_slice(&self.max_discard_sectors.to_le_bytes());
        b[40..44].copy_from_slice(&self.max_discard_seg.to_le_bytes());
        b[44..48].copy_from_slice(&self.discard_sector_alignment.to_le_bytes());
        b[48..52].copy_from_slice(&self.max_write_zeroes_sectors.to_le_bytes());
        b[52..56].copy_from_slice(&self.max_write_zeroes_seg.to_le_bytes());
        b[56] = self.write_zeroes_may_unmap;
        b
    }

    /// Decodes a configuration space read with `GET_CONFIG`.
    pub fn from_le_bytes(b: &[u8; Self::SIZE]) -> Self {
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let mut cap = [0; 8];
        cap.copy_from_slice(&b[0..8]);
        Self {
            capacity: u64::from_le_bytes(cap),
            size_max: u32_at(8),
            seg_max: u32_at(12),
            blk_size: u32_at(20),
            num_queues: u16::from_le_bytes([b[34], b[35]]),
            max_discard_sectors: u32_at(36),
            max_discard_seg: u32_at(40),
            discard_sector_alignment: u32_at(44),
            max_write_zeroes_sectors: u32_at(48),
            max_write_zeroes_seg: u32_at(52),
            write_zeroes_may_unmap: b[56],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trips_at_spec_offsets() {
        let c = Config {
            capacity: 8,
            blk_size: 4096,
            num_queues: 3,
            max_write_zeroes_seg: 1,
            write_zeroes_may_unmap: 1,
            ..Config::default()
        };
        let b = c.to_le_bytes();
        assert_eq!(b[0], 8);
        assert_eq!(&b[20..24], &4096u32.to_le_bytes());
        assert_eq!(b[34], 3);
        assert_eq!(Config::from_le_bytes(&b), c);
        let h = ReqHeader {
            kind: req::OUT,
            ioprio: 0,
            sector: 9,
        };
        assert_eq!(ReqHeader::from_le_bytes(&h.to_le_bytes()), h);
        let d = DiscardWriteZeroes {
            sector: 1,
            num_sectors: 2,
            flags: 1,
        };
        assert_eq!(DiscardWriteZeroes::from_le_bytes(&d.to_le_bytes()), d);
    }
}
