//! A virtio-blk device for `vu-backend`, backed by a file or block device.
//!
//! # Design
//!
//! [`BlkDevice`] owns the file and implements `vu_backend::Device`. Each
//! queue is served on a thread of its own by a clone of the device (see
//! `Device::queue_handler`): its own handle on the same file and a copy of
//! the settings, nothing mutable shared, so no locks. Positioned I/O
//! (`pread`/`pwrite` family) keeps the handles independent.
//! Data moves between the file and guest memory with one vectored call
//! (`preadv`/`pwritev` over the chain's bounds-checked buffers, through
//! `Writer::write_from_file_at` and `Reader::write_to_file_at`): no host
//! buffer, whatever the guest asks. Every request is checked against the
//! capacity before any I/O; a request that does not fit, or that the chain
//! is too short for, completes with `IOERR`.
//!
//! * Writes to a `--read-only` device complete with `IOERR`, and `RO` is
//!   advertised so a guest does not try.
//! * Flush is `fdatasync` (`File::sync_data`).
//! * Discard and write-zeroes are advertised only where `vu_sys::file` can
//!   do them (Linux: punch hole / zero range; FreeBSD: `fspacectl`), and
//!   never on a read-only device. NetBSD and OpenBSD get neither feature,
//!   and a request for them completes with `UNSUPP`.
//! * `GET_ID` returns the `--serial` string (20 bytes, NUL padded).
#![forbid(unsafe_code)]

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::fd::AsFd;
use std::path::Path;
use vu_backend::{Device, QueueHandler, Request, Writer};
use vu_protocol::virtio::blk::{
    features as bf, req, status, Config, DiscardWriteZeroes, ReqHeader, ID_BYTES, SECTOR_SIZE,
};
use vu_protocol::ProtocolFeatures;

/// Largest queue size accepted (`seg_max` is derived from it).
pub const MAX_QUEUE_SIZE: u16 = 1024;
/// Discard/write-zeroes segments per request.
const MAX_DISCARD_SEGMENTS: u32 = 1;

/// Why the device could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open {path}")]
    Open {
        path: std::path::PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot determine the size of {path}")]
    Size {
        path: std::path::PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Device settings from the command line.
#[derive(Debug, Clone)]
pub struct BlkSettings {
    pub read_only: bool,
    pub num_queues: u16,
    /// Returned by `GET_ID`; at most 20 bytes are used.
    pub serial: String,
}

/// The virtio-blk device.
#[derive(Debug)]
pub struct BlkDevice {
    file: File,
    capacity: u64,
    settings: BlkSettings,
}

impl BlkDevice {
    /// Opens `path` (read-write unless read-only) and sizes it.
    pub fn open(path: &Path, settings: BlkSettings) -> Result<Self, OpenError> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(!settings.read_only)
            .open(path)
            .map_err(|source| OpenError::Open {
                path: path.to_owned(),
                source,
            })?;
        // Seeking to the end sizes both regular files and block devices.
        let bytes = (&file)
            .seek(SeekFrom::End(0))
            .map_err(|source| OpenError::Size {
                path: path.to_owned(),
                source,
            })?;
        Ok(Self {
            file,
            capacity: bytes / SECTOR_SIZE,
            settings,
        })
    }

    /// Capacity in 512-byte sectors.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// The same device on a new handle to the same file.
    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(Self {
            file: self.file.try_clone()?,
            capacity: self.capacity,
            settings: self.settings.clone(),
        })
    }

    fn discard_supported(&self) -> bool {
        vu_sys::file::DISCARD_SUPPORTED && !self.settings.read_only
    }

    fn write_zeroes_supported(&self) -> bool {
        vu_sys::file::WRITE_ZEROES_SUPPORTED && !self.settings.read_only
    }

    /// The configuration space.
    pub fn config(&self) -> Config {
        let max_sectors = u32::MAX / SECTOR_SIZE as u32;
        let discard = self.discard_supported();
        let zeroes = self.write_zeroes_supported();
        Config {
            capacity: self.capacity,
            size_max: 0,
            seg_max: u32::from(MAX_QUEUE_SIZE) - 2,
            blk_size: SECTOR_SIZE as u32,
            num_queues: self.settings.num_queues,
            max_discard_sectors: if discard { max_sectors } else { 0 },
            max_discard_seg: if discard { MAX_DISCARD_SEGMENTS } else { 0 },
            discard_sector_alignment: if discard { 1 } else { 0 },
            max_write_zeroes_sectors: if zeroes { max_sectors } else { 0 },
            max_write_zeroes_seg: if zeroes { MAX_DISCARD_SEGMENTS } else { 0 },
            write_zeroes_may_unmap: u8::from(zeroes),
        }
    }

    /// Byte range of `sectors`/`bytes` at `sector`, if inside the device.
    fn range(&self, sector: u64, bytes: u64) -> Option<u64> {
        let off = sector.checked_mul(SECTOR_SIZE)?;
        let end = off.checked_add(bytes)?;
        (end <= self.capacity * SECTOR_SIZE).then_some(off)
    }

    fn do_read(&mut self, sector: u64, w: &mut Writer<'_>, len: usize) -> u8 {
        let Some(off) = self.range(sector, len as u64) else {
            return status::IOERR;
        };
        match w.write_from_file_at(self.file.as_fd(), off, len) {
            Ok(()) => status::OK,
            Err(e) => {
                log::warn!("read at {off}+{len}: {e}");
                status::IOERR
            }
        }
    }

    fn do_write(&mut self, sector: u64, request: &mut Request<'_>) -> u8 {
        if self.settings.read_only {
            return status::IOERR;
        }
        let len = request.reader.remaining();
        let Some(off) = self.range(sector, len as u64) else {
            return status::IOERR;
        };
        match request.reader.write_to_file_at(self.file.as_fd(), off, len) {
            Ok(()) => status::OK,
            Err(e) => {
                log::warn!("write at {off}+{len}: {e}");
                status::IOERR
            }
        }
    }

    fn do_discard_or_zeroes(&mut self, kind: u32, request: &mut Request<'_>) -> u8 {
        let supported = if kind == req::DISCARD {
            self.discard_supported()
        } else {
            self.write_zeroes_supported()
        };
        if !supported {
            return status::UNSUPP;
        }
        let count = request.reader.remaining() / DiscardWriteZeroes::SIZE;
        if count == 0
            || count > MAX_DISCARD_SEGMENTS as usize
            || request.reader.remaining() % DiscardWriteZeroes::SIZE != 0
        {
            return status::IOERR;
        }
        for _ in 0..count {
            let mut raw = [0u8; DiscardWriteZeroes::SIZE];
            if !request.reader.read_exact(&mut raw) {
                return status::IOERR;
            }
            let seg = DiscardWriteZeroes::from_le_bytes(&raw);
            let allowed = if kind == req::DISCARD {
                0
            } else {
                DiscardWriteZeroes::FLAG_UNMAP
            };
            if seg.flags & !allowed != 0 {
                return status::UNSUPP;
            }
            let bytes = u64::from(seg.num_sectors) * SECTOR_SIZE;
            let Some(off) = self.range(seg.sector, bytes) else {
                return status::IOERR;
            };
            let r = if kind == req::DISCARD {
                vu_sys::file::discard(&self.file, off, bytes)
            } else {
                vu_sys::file::write_zeroes(&self.file, off, bytes)
            };
            if let Err(e) = r {
                log::warn!("discard/write-zeroes at {off}+{bytes}: {e}");
                return status::IOERR;
            }
        }
        status::OK
    }
}

/// Writes the status as the last writable byte, where virtio-blk puts it,
/// leaving whatever the request did not produce untouched: a FLUSH or a
/// GET_ID with a large writable area costs no more than one with a small
/// one. The used length covers the whole writable area, as QEMU reports it.
fn finish(w: &mut Writer<'_>, st: u8) {
    w.write_at_end(&[st]);
}

impl Device for BlkDevice {
    fn num_queues(&self) -> u16 {
        self.settings.num_queues
    }

    fn max_queue_size(&self) -> u16 {
        MAX_QUEUE_SIZE
    }

    /// Besides blk's own bits, `RING_EVENT_IDX`: the framework implements it.
    fn features(&self) -> u64 {
        let mut f = bf::SEG_MAX
            | bf::BLK_SIZE
            | bf::FLUSH
            | bf::MQ
            | vu_protocol::virtio::features::RING_EVENT_IDX;
        if self.settings.read_only {
            f |= bf::RO;
        }
        if self.discard_supported() {
            f |= bf::DISCARD;
        }
        if self.write_zeroes_supported() {
            f |= bf::WRITE_ZEROES;
        }
        f
    }

    fn protocol_features(&self) -> ProtocolFeatures {
        ProtocolFeatures::CONFIG
    }

    fn read_config(&self, offset: u32, buf: &mut [u8]) -> bool {
        let c = self.config().to_le_bytes();
        let start = offset as usize;
        // Reads past the fields we define return zeroes, as for any device
        // with a shorter configuration layout.
        for (i, b) in buf.iter_mut().enumerate() {
            *b = c.get(start + i).copied().unwrap_or(0);
        }
        true
    }

    fn process(&mut self, _queue: u16, request: &mut Request<'_>) {
        self.serve(request);
    }

    fn queue_handler(&mut self, queue: u16) -> Option<Box<dyn QueueHandler>> {
        match self.try_clone() {
            Ok(d) => Some(Box::new(d)),
            Err(e) => {
                // The event loop serves the queue instead.
                log::warn!("queue {queue}: cannot clone the file handle ({e}); no worker thread");
                None
            }
        }
    }
}

impl QueueHandler for BlkDevice {
    fn process(&mut self, request: &mut Request<'_>) {
        self.serve(request);
    }
}

impl BlkDevice {
    /// Handles one request (from the event loop or a queue worker).
    fn serve(&mut self, request: &mut Request<'_>) {
        let mut raw = [0u8; ReqHeader::SIZE];
        if request.writer.remaining() == 0 {
            // Nowhere to put a status: complete with nothing written.
            return;
        }
        if !request.reader.read_exact(&mut raw) {
            finish(&mut request.writer, status::IOERR);
            return;
        }
        let h = ReqHeader::from_le_bytes(&raw);
        let data_in = request.writer.remaining() - 1;
        let st = match h.kind {
            req::IN => self.do_read(h.sector, &mut request.writer, data_in),
            req::OUT => self.do_write(h.sector, request),
            req::FLUSH => match self.file.sync_data() {
                Ok(()) => status::OK,
                Err(e) => {
                    log::warn!("flush: {e}");
                    status::IOERR
                }
            },
            req::GET_ID => {
                let mut id = [0u8; ID_BYTES];
                let s = self.settings.serial.as_bytes();
                let n = s.len().min(ID_BYTES);
                id[..n].copy_from_slice(&s[..n]);
                let n = data_in.min(ID_BYTES);
                request.writer.write(&id[..n]);
                status::OK
            }
            req::DISCARD | req::WRITE_ZEROES => self.do_discard_or_zeroes(h.kind, request),
            _ => status::UNSUPP,
        };
        finish(&mut request.writer, st);
    }
}
