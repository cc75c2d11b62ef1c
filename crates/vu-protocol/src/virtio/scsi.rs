//! virtio-scsi request, response and configuration formats (virtio 1.x,
//! 5.6): the queues are control (0), event (1) and requests (2 and up).
//!
//! The command header and the response have a fixed size in this
//! workspace: `cdb_size` and `sense_size` are the specification's defaults
//! (32 and 96), which is also all that QEMU's vhost-user-scsi front-end
//! (which keeps the configuration space itself) lets a back-end assume.

/// The control queue's index.
pub const CONTROL_QUEUE: u16 = 0;
/// The event queue's index.
pub const EVENT_QUEUE: u16 = 1;
/// The first request queue's index.
pub const FIRST_REQUEST_QUEUE: u16 = 2;

/// CDB bytes in every command header (`cdb_size`).
pub const CDB_SIZE: usize = 32;
/// Sense bytes in every response (`sense_size`).
pub const SENSE_SIZE: usize = 96;

/// Feature bits.
pub mod features {
    pub const INOUT: u64 = 1 << 0;
    pub const HOTPLUG: u64 = 1 << 1;
    pub const CHANGE: u64 = 1 << 2;
    pub const T10_PI: u64 = 1 << 3;
}

/// Values of a response's `response` byte (commands and task management).
pub mod response {
    pub const OK: u8 = 0;
    pub const OVERRUN: u8 = 1;
    pub const ABORTED: u8 = 2;
    pub const BAD_TARGET: u8 = 3;
    pub const RESET: u8 = 4;
    pub const BUSY: u8 = 5;
    pub const TRANSPORT_FAILURE: u8 = 6;
    pub const TARGET_FAILURE: u8 = 7;
    pub const NEXUS_FAILURE: u8 = 8;
    pub const FAILURE: u8 = 9;
    /// Task management: the function completed (the same value as `OK`).
    pub const FUNCTION_COMPLETE: u8 = 0;
    pub const FUNCTION_SUCCEEDED: u8 = 10;
    pub const FUNCTION_REJECTED: u8 = 11;
    pub const INCORRECT_LUN: u8 = 12;
}

/// Control queue request types and task management subtypes.
pub mod ctrl {
    pub const TMF: u32 = 0;
    pub const AN_QUERY: u32 = 1;
    pub const AN_SUBSCRIBE: u32 = 2;

    pub const TMF_ABORT_TASK: u32 = 0;
    pub const TMF_ABORT_TASK_SET: u32 = 1;
    pub const TMF_CLEAR_ACA: u32 = 2;
    pub const TMF_CLEAR_TASK_SET: u32 = 3;
    pub const TMF_I_T_NEXUS_RESET: u32 = 4;
    pub const TMF_LOGICAL_UNIT_RESET: u32 = 5;
    pub const TMF_QUERY_TASK: u32 = 6;
    pub const TMF_QUERY_TASK_SET: u32 = 7;
}

/// Event types (the event queue).
pub mod event {
    pub const NO_EVENT: u32 = 0;
    pub const TRANSPORT_RESET: u32 = 1;
    pub const ASYNC_NOTIFY: u32 = 2;
    pub const PARAM_CHANGE: u32 = 3;
    /// Or-ed into the type: events were lost.
    pub const EVENTS_MISSED: u32 = 0x8000_0000;
}

/// The 8-byte LUN field: `[1, target, single-level LUN (2 bytes), 0, 0, 0, 0]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LunAddress {
    pub target: u8,
    pub lun: u16,
}

impl LunAddress {
    /// Decodes the field. `Err(true)` when it names no target this format
    /// can express (first byte not 1), `Err(false)` when the target is
    /// well-formed but the LUN part is not a single-level LUN (peripheral
    /// or flat addressing followed by zeroes).
    pub fn decode(b: &[u8; 8]) -> Result<Self, bool> {
        if b[0] != 1 {
            return Err(true);
        }
        let target = b[1];
        if b[4..].iter().any(|&x| x != 0) {
            return Err(false);
        }
        let lun = match b[2] >> 6 {
            // Peripheral device addressing, bus 0.
            0 if b[2] == 0 => u16::from(b[3]),
            // Flat space addressing.
            1 => (u16::from(b[2] & 0x3f) << 8) | u16::from(b[3]),
            _ => return Err(false),
        };
        Ok(Self { target, lun })
    }

    /// Encodes with flat space addressing, as Linux and SeaBIOS do.
    pub fn encode(self) -> [u8; 8] {
        [
            1,
            self.target,
            0x40 | ((self.lun >> 8) as u8 & 0x3f),
            self.lun as u8,
            0,
            0,
            0,
            0,
        ]
    }
}

/// The device-readable header of a command (`virtio_scsi_req_cmd`, without
/// protection information), followed by the data-out bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CmdHeader {
    pub lun: [u8; 8],
    pub id: u64,
    pub task_attr: u8,
    pub prio: u8,
    pub crn: u8,
    pub cdb: [u8; CDB_SIZE],
}

impl CmdHeader {
    pub const SIZE: usize = 19 + CDB_SIZE;

    pub fn from_le_bytes(b: &[u8; Self::SIZE]) -> Self {
        let mut lun = [0; 8];
        lun.copy_from_slice(&b[..8]);
        let mut id = [0; 8];
        id.copy_from_slice(&b[8..16]);
        let mut cdb = [0; CDB_SIZE];
        cdb.copy_from_slice(&b[19..]);
        Self {
            lun,
            id: u64::from_le_bytes(id),
            task_attr: b[16],
            prio: b[17],
            crn: b[18],
            cdb,
        }
    }

    pub fn to_le_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0; Self::SIZE];
        b[..8].copy_from_slice(&self.lun);
        b[8..16].copy_from_slice(&self.id.to_le_bytes());
        b[16] = self.task_attr;
        b[17] = self.prio;
        b[18] = self.crn;
        b[19..].copy_from_slice(&self.cdb);
        b
    }
}

/// The fixed part of a command's device-writable response
/// (`virtio_scsi_resp_cmd` up to the sense bytes), followed by
/// [`SENSE_SIZE`] sense bytes and the data-in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CmdResponse {
    pub sense_len: u32,
    pub residual: u32,
    pub status_qualifier: u16,
    /// The SCSI status (GOOD 0, CHECK CONDITION 2, ...).
    pub status: u8,
    /// The transport's verdict ([`response`]).
    pub response: u8,
}

impl CmdResponse {
    /// The fixed fields.
    pub const SIZE: usize = 12;
    /// The fixed fields and the sense area: where data-in starts.
    pub const SIZE_WITH_SENSE: usize = Self::SIZE + SENSE_SIZE;

    pub fn to_le_bytes(self) -> [u8; Self::SIZE] {
        let mut b = [0; Self::SIZE];
        b[..4].copy_from_slice(&self.sense_len.to_le_bytes());
        b[4..8].copy_from_slice(&self.residual.to_le_bytes());
        b[8..10].copy_from_slice(&self.status_qualifier.to_le_bytes());
        b[10] = self.status;
        b[11] = self.response;
        b
    }

    pub fn from_le_bytes(b: &[u8; Self::SIZE]) -> Self {
        Self {
            sense_len: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            residual: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            status_qualifier: u16::from_le_bytes([b[8], b[9]]),
            status: b[10],
            response: b[11],
        }
    }
}

/// A task management request (`virtio_scsi_ctrl_tmf_req`); the response
/// is one `response` byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TmfRequest {
    pub kind: u32,
    pub subtype: u32,
    pub lun: [u8; 8],
    pub id: u64,
}

impl TmfRequest {
    pub const SIZE: usize = 24;

    pub fn from_le_bytes(b: &[u8; Self::SIZE]) -> Self {
        let mut lun = [0; 8];
        lun.copy_from_slice(&b[8..16]);
        let mut id = [0; 8];
        id.copy_from_slice(&b[16..]);
        Self {
            kind: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            subtype: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            lun,
            id: u64::from_le_bytes(id),
        }
    }

    pub fn to_le_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0; Self::SIZE];
        b[..4].copy_from_slice(&self.kind.to_le_bytes());
        b[4..8].copy_from_slice(&self.subtype.to_le_bytes());
        b[8..16].copy_from_slice(&self.lun);
        b[16..].copy_from_slice(&self.id.to_le_bytes());
        b
    }
}

/// An asynchronous notification query or subscription
/// (`virtio_scsi_ctrl_an_req`); the response is `event_actual` (le32) and
/// one `response` byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnRequest {
    pub kind: u32,
    pub lun: [u8; 8],
    pub event_requested: u32,
}

impl AnRequest {
    pub const SIZE: usize = 16;
    pub const RESPONSE_SIZE: usize = 5;

    pub fn from_le_bytes(b: &[u8; Self::SIZE]) -> Self {
        let mut lun = [0; 8];
        lun.copy_from_slice(&b[4..12]);
        Self {
            kind: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            lun,
            event_requested: u32::from_le_bytes([b[12], b[13], b[14], b[15]]),
        }
    }

    pub fn to_le_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0; Self::SIZE];
        b[..4].copy_from_slice(&self.kind.to_le_bytes());
        b[4..12].copy_from_slice(&self.lun);
        b[12..].copy_from_slice(&self.event_requested.to_le_bytes());
        b
    }
}

/// An event (`virtio_scsi_event`), as the device writes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Event {
    pub kind: u32,
    pub lun: [u8; 8],
    pub reason: u32,
}

impl Event {
    pub const SIZE: usize = 16;

    pub fn to_le_bytes(self) -> [u8; Self::SIZE] {
        let mut b = [0; Self::SIZE];
        b[..4].copy_from_slice(&self.kind.to_le_bytes());
        b[4..12].copy_from_slice(&self.lun);
        b[12..].copy_from_slice(&self.reason.to_le_bytes());
        b
    }
}

/// The device configuration space.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Config {
    /// Request queues.
    pub num_queues: u32,
    pub seg_max: u32,
    pub max_sectors: u32,
    pub cmd_per_lun: u32,
    pub event_info_size: u32,
    pub sense_size: u32,
    pub cdb_size: u32,
    pub max_channel: u16,
    pub max_target: u16,
    pub max_lun: u32,
}

impl Config {
    pub const SIZE: usize = 36;

    pub fn to_le_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0; Self::SIZE];
        for (i, v) in [
            self.num_queues,
            self.seg_max,
            self.max_sectors,
            self.cmd_per_lun,
            self.event_info_size,
            self.sense_size,
            self.cdb_size,
        ]
        .into_iter()
        .enumerate()
        {
            b[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
        }
        b[28..30].copy_from_slice(&self.max_channel.to_le_bytes());
        b[30..32].copy_from_slice(&self.max_target.to_le_bytes());
        b[32..].copy_from_slice(&self.max_lun.to_le_bytes());
        b
    }

    pub fn from_le_bytes(b: &[u8; Self::SIZE]) -> Self {
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        Self {
            num_queues: u32_at(0),
            seg_max: u32_at(4),
            max_sectors: u32_at(8),
            cmd_per_lun: u32_at(12),
            event_info_size: u32_at(16),
            sense_size: u32_at(20),
            cdb_size: u32_at(24),
            max_channel: u16::from_le_bytes([b[28], b[29]]),
            max_target: u16::from_le_bytes([b[30], b[31]]),
            max_lun: u32_at(32),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_round_trip_at_spec_offsets() {
        let c = Config {
            num_queues: 2,
            sense_size: 96,
            cdb_size: 32,
            max_target: 1,
            max_lun: 3,
            ..Config::default()
        };
        let b = c.to_le_bytes();
        assert_eq!(b[0], 2);
        assert_eq!(b[20], 96);
        assert_eq!(b[24], 32);
        assert_eq!(b[30], 1);
        assert_eq!(b[32], 3);
        assert_eq!(Config::from_le_bytes(&b), c);
        let mut h = CmdHeader {
            lun: LunAddress { target: 0, lun: 5 }.encode(),
            id: 7,
            task_attr: 0,
            prio: 0,
            crn: 0,
            cdb: [0; CDB_SIZE],
        };
        h.cdb[0] = 0x12;
        let hb = h.to_le_bytes();
        assert_eq!(hb[19], 0x12);
        assert_eq!(CmdHeader::from_le_bytes(&hb), h);
        let r = CmdResponse {
            sense_len: 18,
            residual: 4,
            status: 2,
            ..CmdResponse::default()
        };
        assert_eq!(CmdResponse::from_le_bytes(&r.to_le_bytes()), r);
    }

    #[test]
    fn lun_fields_decode_as_linux_and_seabios_write_them() {
        let a = LunAddress {
            target: 0,
            lun: 300,
        };
        assert_eq!(a.encode(), [1, 0, 0x41, 44, 0, 0, 0, 0]);
        assert_eq!(LunAddress::decode(&a.encode()), Ok(a));
        // Peripheral addressing for LUN 0..255.
        assert_eq!(
            LunAddress::decode(&[1, 2, 0, 7, 0, 0, 0, 0]),
            Ok(LunAddress { target: 2, lun: 7 })
        );
        assert_eq!(LunAddress::decode(&[0, 0, 0x40, 0, 0, 0, 0, 0]), Err(true));
        assert_eq!(LunAddress::decode(&[1, 0, 0x40, 0, 0, 0, 0, 1]), Err(false));
        assert_eq!(LunAddress::decode(&[1, 0, 0x80, 0, 0, 0, 0, 0]), Err(false));
        assert_eq!(LunAddress::decode(&[1, 0, 0x01, 0, 0, 0, 0, 0]), Err(false));
    }
}
