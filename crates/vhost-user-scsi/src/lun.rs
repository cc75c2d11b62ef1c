//! Logical units: a file served as a direct-access block device of
//! 512-byte blocks, how one is named on the command line ([`LunSpec`]),
//! and the data the emulated commands return about it (standard INQUIRY,
//! the vital product data pages, mode pages, capacity).

use crate::sense::Sense;
use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Logical block size.
pub const BLOCK_SIZE: u64 = 512;
/// Longest `serial=` accepted (the unit serial number page holds up to 251).
pub const MAX_SERIAL: usize = 64;

const VENDOR: &[u8; 8] = b"VU      ";
const PRODUCT: &[u8; 16] = b"vhost-user-scsi ";
const REVISION: &[u8; 4] = b"0.1 ";

/// The VPD pages this device has, in the order page 00h lists them.
pub const VPD_PAGES: [u8; 6] = [0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2];

/// One `--lun` value: `PATH[,ro][,serial=ID]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LunSpec {
    pub path: PathBuf,
    pub read_only: bool,
    /// The unit serial number (VPD page 80h); default: the file name.
    pub serial: Option<String>,
}

impl std::str::FromStr for LunSpec {
    type Err = String;

    /// Parses `PATH[,ro][,serial=ID]`: the path is everything before the
    /// first comma; `ro` (or `readonly`) makes the unit write-protected.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.split(',');
        let path = parts.next().unwrap_or_default();
        if path.is_empty() {
            return Err("expected PATH[,ro][,serial=ID], the path is empty".into());
        }
        let mut spec = LunSpec {
            path: PathBuf::from(path),
            read_only: false,
            serial: None,
        };
        for opt in parts {
            match opt.split_once('=') {
                None if opt == "ro" || opt == "readonly" => spec.read_only = true,
                Some(("serial", v)) => {
                    check_serial(v)?;
                    spec.serial = Some(v.to_owned());
                }
                _ => {
                    return Err(format!(
                        "unknown option `{opt}` (expected `ro` or `serial=ID`)"
                    ))
                }
            }
        }
        Ok(spec)
    }
}

fn check_serial(v: &str) -> Result<(), String> {
    if v.is_empty() || v.len() > MAX_SERIAL || !v.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "serial `{v}` must be 1 to {MAX_SERIAL} printable ASCII characters without spaces"
        ));
    }
    Ok(())
}

/// Why a logical unit could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("LUN {lun}: cannot open {path}")]
    Open {
        lun: u16,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("LUN {lun}: cannot determine the size of {path}")]
    Size {
        lun: u16,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("LUN {lun}: {path} holds no whole {BLOCK_SIZE}-byte block ({bytes} bytes)")]
    Empty { lun: u16, path: PathBuf, bytes: u64 },
}

/// A logical unit.
#[derive(Debug)]
pub struct Lun {
    pub(crate) file: File,
    blocks: u64,
    read_only: bool,
    serial: String,
}

impl Lun {
    /// Opens logical unit `lun` as `spec` says (read-write unless `ro`);
    /// the file's size, rounded down to whole blocks, is the capacity.
    pub fn open(lun: u16, spec: &LunSpec) -> Result<Self, OpenError> {
        let path = &spec.path;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(!spec.read_only)
            .open(path)
            .map_err(|source| OpenError::Open {
                lun,
                path: path.clone(),
                source,
            })?;
        // Seeking to the end sizes both regular files and block devices.
        let bytes = (&file)
            .seek(SeekFrom::End(0))
            .map_err(|source| OpenError::Size {
                lun,
                path: path.clone(),
                source,
            })?;
        if bytes < BLOCK_SIZE {
            return Err(OpenError::Empty {
                lun,
                path: path.clone(),
                bytes,
            });
        }
        Ok(Self {
            file,
            blocks: bytes / BLOCK_SIZE,
            read_only: spec.read_only,
            serial: spec.serial.clone().unwrap_or_else(|| default_serial(path)),
        })
    }

    /// The same unit on a new handle to the same file.
    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(Self {
            file: self.file.try_clone()?,
            blocks: self.blocks,
            read_only: self.read_only,
            serial: self.serial.clone(),
        })
    }

    /// Capacity in blocks.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    pub fn read_only(&self) -> bool {
        self.read_only
    }

    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// The byte offset of `blocks` blocks at `lba`, if they lie on the unit.
    pub(crate) fn range(&self, lba: u64, blocks: u64) -> Result<u64, Sense> {
        match lba.checked_add(blocks) {
            Some(end) if end <= self.blocks => Ok(lba * BLOCK_SIZE),
            _ => Err(Sense::LBA_OUT_OF_RANGE),
        }
    }
}

/// The file name, made printable and cut to [`MAX_SERIAL`] bytes.
fn default_serial(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let s: String = name
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .take(MAX_SERIAL)
        .collect();
    if s.is_empty() {
        "0".into()
    } else {
        s
    }
}

/// Standard INQUIRY data: a direct-access device (SPC-3) for a unit that
/// exists, "not capable of supporting a device on this LUN" (peripheral
/// qualifier 011b, type 1Fh) for one that does not.
pub fn standard_inquiry(present: bool, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&[
        if present { 0x00 } else { 0x7f },
        0,
        0x05, // SPC-3
        0x12, // HISUP, response data format 2
        31,   // additional length: 36 bytes in all
        0,
        0,
        0x02, // CMDQUE: commands may be queued
    ]);
    out.extend_from_slice(VENDOR);
    out.extend_from_slice(PRODUCT);
    out.extend_from_slice(REVISION);
}

/// A vital product data page, or `Err` for a page this device lacks.
pub fn vpd_page(lun: &Lun, page: u8, out: &mut Vec<u8>) -> Result<(), Sense> {
    out.clear();
    out.extend_from_slice(&[0x00, page, 0, 0]);
    match page {
        0x00 => out.extend_from_slice(&VPD_PAGES),
        0x80 => out.extend_from_slice(lun.serial.as_bytes()),
        0x83 => {
            // One designator: T10 vendor ID based (type 1), ASCII, for the
            // logical unit: the vendor followed by the unit serial number.
            let id_len = VENDOR.len() + lun.serial.len();
            out.extend_from_slice(&[0x02, 0x01, 0, id_len as u8]);
            out.extend_from_slice(VENDOR);
            out.extend_from_slice(lun.serial.as_bytes());
        }
        // Block limits: nothing limited beyond what the transport has
        // (every field 0, "not reported"), no UNMAP or WRITE SAME.
        0xb0 => out.resize(64, 0),
        // Block device characteristics: rotation rate and form factor
        // not reported (a file can be anything).
        0xb1 => out.resize(64, 0),
        // Logical block provisioning: no unmapping commands, fully
        // provisioned as far as the guest can tell.
        0xb2 => out.resize(8, 0),
        _ => return Err(Sense::INVALID_FIELD_IN_CDB),
    }
    let len = (out.len() - 4) as u16;
    out[2..4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// READ CAPACITY(10) data: the last LBA (saturated, telling the guest to
/// ask READ CAPACITY(16)) and the block size.
pub fn read_capacity_10(lun: &Lun) -> [u8; 8] {
    let last = u32::try_from(lun.blocks - 1).unwrap_or(u32::MAX);
    let mut b = [0; 8];
    b[..4].copy_from_slice(&last.to_be_bytes());
    b[4..].copy_from_slice(&(BLOCK_SIZE as u32).to_be_bytes());
    b
}

/// READ CAPACITY(16) data: last LBA, block size; no protection, one
/// logical block per physical block, no thin provisioning.
pub fn read_capacity_16(lun: &Lun) -> [u8; 32] {
    let mut b = [0; 32];
    b[..8].copy_from_slice(&(lun.blocks - 1).to_be_bytes());
    b[8..12].copy_from_slice(&(BLOCK_SIZE as u32).to_be_bytes());
    b
}

/// Mode pages this device has: read-write error recovery is not among
/// them; caching (08h: write cache enabled, since writes land in the host's
/// page cache until SYNCHRONIZE CACHE) and control (0Ah).
fn mode_page(lun: &Lun, page: u8, changeable: bool, out: &mut Vec<u8>) {
    match page {
        0x08 => {
            let start = out.len();
            out.extend_from_slice(&[0x08, 0x12]);
            out.resize(start + 20, 0);
            if !changeable && !lun.read_only {
                out[start + 2] = 0x04; // WCE
            }
        }
        0x0a => {
            let start = out.len();
            out.extend_from_slice(&[0x0a, 0x0a]);
            out.resize(start + 12, 0);
        }
        _ => {}
    }
}

/// MODE SENSE(6) or (10) data for `page`/`subpage` (3Fh: all pages).
#[allow(clippy::too_many_arguments)]
pub fn mode_sense(
    lun: &Lun,
    ten: bool,
    dbd: bool,
    llbaa: bool,
    changeable: bool,
    page: u8,
    subpage: u8,
    out: &mut Vec<u8>,
) -> Result<(), Sense> {
    let pages: &[u8] = match (page, subpage) {
        (0x08, 0) => &[0x08],
        (0x0a, 0) => &[0x0a],
        (0x3f, 0 | 0xff) => &[0x08, 0x0a],
        _ => return Err(Sense::INVALID_FIELD_IN_CDB),
    };
    out.clear();
    let wp = if lun.read_only { 0x80 } else { 0 };
    let long = ten && llbaa && !dbd;
    let bd_len: usize = match (dbd, long) {
        (true, _) => 0,
        (false, true) => 16,
        (false, false) => 8,
    };
    if ten {
        out.extend_from_slice(&[0, 0, 0, wp, u8::from(long), 0, 0, bd_len as u8]);
    } else {
        out.extend_from_slice(&[0, 0, wp, bd_len as u8]);
    }
    if bd_len == 8 {
        let n = u32::try_from(lun.blocks).unwrap_or(u32::MAX).min(0xff_ffff);
        let mut d = [0u8; 8];
        d[..4].copy_from_slice(&n.to_be_bytes());
        d[4..].copy_from_slice(&(BLOCK_SIZE as u32).to_be_bytes());
        d[0] = 0; // density code
        out.extend_from_slice(&d);
    } else if bd_len == 16 {
        out.extend_from_slice(&lun.blocks.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(BLOCK_SIZE as u32).to_be_bytes());
    }
    for &p in pages {
        mode_page(lun, p, changeable, out);
    }
    // Mode data length: the bytes after the length field.
    if ten {
        let n = (out.len() - 2) as u16;
        out[..2].copy_from_slice(&n.to_be_bytes());
    } else {
        out[0] = (out.len() - 1) as u8;
    }
    Ok(())
}

/// REPORT LUNS data for `luns` units (single-level LUNs: peripheral
/// addressing below 256, flat space above).
pub fn report_luns(luns: u16, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&(u32::from(luns) * 8).to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    for l in 0..luns {
        let first = if l < 256 { 0 } else { 0x40 | (l >> 8) as u8 };
        out.extend_from_slice(&[first, l as u8, 0, 0, 0, 0, 0, 0]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lun_specs_parse_and_bad_ones_say_what_is_wrong() {
        let s: LunSpec = "disk.img,ro,serial=abc".parse().unwrap();
        assert_eq!(s.path, PathBuf::from("disk.img"));
        assert!(s.read_only);
        assert_eq!(s.serial.as_deref(), Some("abc"));
        let s: LunSpec = "/a/b".parse().unwrap();
        assert!(!s.read_only && s.serial.is_none());
        let e = "d,rw".parse::<LunSpec>().unwrap_err();
        assert!(e.contains("unknown option `rw`"), "{e}");
        let e = "d,serial=a b".parse::<LunSpec>().unwrap_err();
        assert!(e.contains("serial `a b`"), "{e}");
        assert!(",ro".parse::<LunSpec>().is_err());
        assert_eq!(default_serial(Path::new("/x/my disk.img")), "my_disk.img");
    }

    #[test]
    fn report_luns_uses_peripheral_then_flat_addressing() {
        let mut out = Vec::new();
        report_luns(257, &mut out);
        assert_eq!(&out[..4], &(257u32 * 8).to_be_bytes());
        assert_eq!(&out[8 + 8 * 5..8 + 8 * 5 + 2], &[0, 5]);
        assert_eq!(&out[8 + 8 * 256..8 + 8 * 256 + 2], &[0x41, 0]);
    }
}
