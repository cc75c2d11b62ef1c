//! The CDB parser: the bytes of a command descriptor block in, a typed
//! [`Command`] or the sense data that refuses it out. Pure (no I/O, no
//! allocation), so the fuzz target drives it directly as well as through
//! the device.
//!
//! Fields this device does not implement are refused rather than ignored:
//! protection information (`RDPROTECT`/`WRPROTECT`), REQUEST SENSE's
//! descriptor format is supported, MODE SENSE's saved values are not.

use crate::sense::Sense;

/// Operation codes this device implements.
pub mod op {
    pub const TEST_UNIT_READY: u8 = 0x00;
    pub const REQUEST_SENSE: u8 = 0x03;
    pub const INQUIRY: u8 = 0x12;
    pub const MODE_SENSE_6: u8 = 0x1a;
    pub const READ_CAPACITY_10: u8 = 0x25;
    pub const READ_10: u8 = 0x28;
    pub const WRITE_10: u8 = 0x2a;
    pub const SYNCHRONIZE_CACHE_10: u8 = 0x35;
    pub const MODE_SENSE_10: u8 = 0x5a;
    pub const READ_16: u8 = 0x88;
    pub const WRITE_16: u8 = 0x8a;
    pub const SYNCHRONIZE_CACHE_16: u8 = 0x91;
    pub const SERVICE_ACTION_IN_16: u8 = 0x9e;
    pub const REPORT_LUNS: u8 = 0xa0;

    /// SERVICE ACTION IN(16)'s READ CAPACITY(16).
    pub const SAI_READ_CAPACITY_16: u8 = 0x10;
}

/// MODE SENSE's page control field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageControl {
    Current,
    Changeable,
    Default,
}

/// A parsed command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    TestUnitReady,
    RequestSense {
        descriptor: bool,
        alloc: u32,
    },
    /// Standard data (`page: None`) or a vital product data page.
    Inquiry {
        page: Option<u8>,
        alloc: u32,
    },
    ModeSense {
        ten: bool,
        /// No block descriptor.
        dbd: bool,
        /// A long (16-byte) block descriptor may be returned (MODE SENSE(10)).
        llbaa: bool,
        pc: PageControl,
        page: u8,
        subpage: u8,
        alloc: u32,
    },
    ReadCapacity10,
    ReadCapacity16 {
        alloc: u32,
    },
    Read {
        lba: u64,
        blocks: u32,
    },
    Write {
        lba: u64,
        blocks: u32,
        /// Force unit access: on the medium before completion.
        fua: bool,
    },
    SynchronizeCache {
        lba: u64,
        /// 0: to the end of the medium.
        blocks: u32,
    },
    ReportLuns {
        select: u8,
        alloc: u32,
    },
}

fn be16(b: &[u8]) -> u32 {
    u32::from(u16::from_be_bytes([b[0], b[1]]))
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be64(b: &[u8]) -> u64 {
    let mut x = [0; 8];
    x.copy_from_slice(&b[..8]);
    u64::from_be_bytes(x)
}

/// Parses `cdb` (the whole CDB area of the request: at least 16 bytes are
/// needed for the longest command here; shorter areas refuse the commands
/// that do not fit).
pub fn parse(cdb: &[u8]) -> Result<Command, Sense> {
    let Some(&opcode) = cdb.first() else {
        return Err(Sense::INVALID_OPCODE);
    };
    let len = match opcode >> 5 {
        0 => 6,
        1 | 2 => 10,
        4 => 16,
        5 => 12,
        _ => return Err(Sense::INVALID_OPCODE),
    };
    let Some(c) = cdb.get(..len) else {
        return Err(Sense::INVALID_OPCODE);
    };
    let cmd = match opcode {
        op::TEST_UNIT_READY => Command::TestUnitReady,
        op::REQUEST_SENSE => Command::RequestSense {
            descriptor: c[1] & 1 != 0,
            alloc: u32::from(c[4]),
        },
        op::INQUIRY => {
            let evpd = c[1] & 1 != 0;
            // CMDDT (obsolete) or a page code without EVPD.
            if c[1] & 0x02 != 0 || (!evpd && c[2] != 0) {
                return Err(Sense::INVALID_FIELD_IN_CDB);
            }
            Command::Inquiry {
                page: evpd.then_some(c[2]),
                alloc: be16(&c[3..]),
            }
        }
        op::MODE_SENSE_6 | op::MODE_SENSE_10 => {
            let ten = opcode == op::MODE_SENSE_10;
            let pc = match c[2] >> 6 {
                0 => PageControl::Current,
                1 => PageControl::Changeable,
                2 => PageControl::Default,
                _ => return Err(Sense::SAVING_PARAMETERS_NOT_SUPPORTED),
            };
            Command::ModeSense {
                ten,
                dbd: c[1] & 0x08 != 0,
                llbaa: ten && c[1] & 0x10 != 0,
                pc,
                page: c[2] & 0x3f,
                subpage: c[3],
                alloc: if ten { be16(&c[7..]) } else { u32::from(c[4]) },
            }
        }
        op::READ_CAPACITY_10 => Command::ReadCapacity10,
        op::SERVICE_ACTION_IN_16 => {
            if c[1] & 0x1f != op::SAI_READ_CAPACITY_16 {
                return Err(Sense::INVALID_FIELD_IN_CDB);
            }
            Command::ReadCapacity16 {
                alloc: be32(&c[10..]),
            }
        }
        op::READ_10 | op::READ_16 | op::WRITE_10 | op::WRITE_16 => {
            // No protection information on this device.
            if c[1] & 0xe0 != 0 {
                return Err(Sense::INVALID_FIELD_IN_CDB);
            }
            let (lba, blocks) = if len == 10 {
                (u64::from(be32(&c[2..])), be16(&c[7..]))
            } else {
                (be64(&c[2..]), be32(&c[10..]))
            };
            if opcode == op::READ_10 || opcode == op::READ_16 {
                Command::Read { lba, blocks }
            } else {
                Command::Write {
                    lba,
                    blocks,
                    fua: c[1] & 0x08 != 0,
                }
            }
        }
        op::SYNCHRONIZE_CACHE_10 => Command::SynchronizeCache {
            lba: u64::from(be32(&c[2..])),
            blocks: be16(&c[7..]),
        },
        op::SYNCHRONIZE_CACHE_16 => Command::SynchronizeCache {
            lba: be64(&c[2..]),
            blocks: be32(&c[10..]),
        },
        op::REPORT_LUNS => Command::ReportLuns {
            select: c[2],
            alloc: be32(&c[6..]),
        },
        _ => return Err(Sense::INVALID_OPCODE),
    };
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cdb(bytes: &[u8]) -> [u8; 32] {
        let mut c = [0; 32];
        c[..bytes.len()].copy_from_slice(bytes);
        c
    }

    #[test]
    fn reads_and_writes_decode_their_big_endian_fields() {
        assert_eq!(
            parse(&cdb(&[0x28, 0, 0, 0, 1, 2, 0, 0, 8])),
            Ok(Command::Read {
                lba: 0x102,
                blocks: 8
            })
        );
        assert_eq!(
            parse(&cdb(&[0x8a, 0x08, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0])),
            Ok(Command::Write {
                lba: 1 << 32,
                blocks: 1 << 16,
                fua: true
            })
        );
        assert_eq!(
            parse(&cdb(&[0x28, 0x20])),
            Err(Sense::INVALID_FIELD_IN_CDB),
            "RDPROTECT without protection information"
        );
    }

    #[test]
    fn unknown_and_vendor_opcodes_are_invalid_and_short_areas_refused() {
        for opcode in [0x01, 0x04, 0x15, 0x42, 0x7f, 0xc0, 0xff, 0x9e] {
            let want = if opcode == 0x9e {
                Sense::INVALID_FIELD_IN_CDB
            } else {
                Sense::INVALID_OPCODE
            };
            assert_eq!(parse(&cdb(&[opcode])), Err(want), "{opcode:#x}");
        }
        assert_eq!(parse(&[]), Err(Sense::INVALID_OPCODE));
        assert_eq!(parse(&[0x88; 10]), Err(Sense::INVALID_OPCODE));
    }

    #[test]
    fn inquiry_page_without_evpd_and_saved_mode_pages_are_refused() {
        assert_eq!(
            parse(&cdb(&[0x12, 0, 0x80, 0, 36])),
            Err(Sense::INVALID_FIELD_IN_CDB)
        );
        assert_eq!(
            parse(&cdb(&[0x12, 1, 0x80, 1, 0])),
            Ok(Command::Inquiry {
                page: Some(0x80),
                alloc: 256
            })
        );
        assert_eq!(
            parse(&cdb(&[0x1a, 0, 0xff, 0, 0xff])),
            Err(Sense::SAVING_PARAMETERS_NOT_SUPPORTED)
        );
    }
}
