//! A virtio-scsi device for `vu-backend`: one target (0) whose logical
//! units are files.
//!
//! # Design
//!
//! * **Queues.** Control (0), event (1) and `--num-queues` request queues
//!   (2 and up). Each request queue may be served on a thread of its own by
//!   a clone of the device (its own handles on the same files, a copy of
//!   the settings; nothing mutable shared), as in `vhost-user-blk`.
//! * **Framing.** A command is the fixed header ([`CmdHeader`]: LUN, tag,
//!   32 CDB bytes) then data-out; the response is the fixed part and 96
//!   sense bytes ([`CmdResponse`]) then data-in. The response's place is
//!   split off the front of the writable buffers (`Writer::split_front`)
//!   and filled last, when the status and residual are known. A chain too
//!   short for the response completes with nothing written; one too short
//!   for the command header is answered `VIRTIO_SCSI_S_FAILURE`. A command
//!   whose CDB needs more data than the buffers hold is answered
//!   `VIRTIO_SCSI_S_OVERRUN`, with nothing transferred.
//! * **Cost.** A request touches the header, the sense bytes it produces
//!   and the data the command moves; buffers the guest declares beyond that
//!   (a 1 GiB data-in for TEST UNIT READY) are never visited: the used
//!   length counts the response area and the data written.
//! * **Addressing.** `lun[0]` must be 1 and the target 0, else
//!   `VIRTIO_SCSI_S_BAD_TARGET`. On target 0 a LUN that does not exist
//!   answers as SPC says a target does: INQUIRY with peripheral qualifier
//!   011b, REPORT LUNS and REQUEST SENSE normally, anything else CHECK
//!   CONDITION, ILLEGAL REQUEST, LOGICAL UNIT NOT SUPPORTED.
//! * **Commands** (`cdb.rs`): INQUIRY (standard data and VPD pages 00h,
//!   80h, 83h, B0h, B1h, B2h), TEST UNIT READY, REQUEST SENSE, READ
//!   CAPACITY(10/16), READ/WRITE(10/16) with `preadv`/`pwritev` straight
//!   between the file and guest memory, SYNCHRONIZE CACHE(10/16)
//!   (`fdatasync`), MODE SENSE(6/10), REPORT LUNS. Anything else is CHECK
//!   CONDITION with ILLEGAL REQUEST sense; writes to a read-only unit are
//!   DATA PROTECT, WRITE PROTECTED. Sense is always returned with the
//!   status (autosense), so REQUEST SENSE reports no pending sense.
//! * **Control queue.** No command is ever outstanding when a task
//!   management function arrives (commands complete in order, in the
//!   call that takes them), so aborts, resets and task queries complete
//!   with `FUNCTION_COMPLETE` (nothing to do, no task found); CLEAR ACA
//!   and unknown functions are rejected (no ACA). Asynchronous
//!   notification queries and subscriptions get no events.
//! * **Event queue.** A device-filled queue (`Device::fills`): event
//!   buffers wait in the ring until the device has an event to put in
//!   them (virtio 1.x, 5.6.6.3), never answered "no event" at once. The
//!   device has no events to report (no `HOTPLUG`; `CHANGE` is offered
//!   only because QEMU acknowledges it regardless), so posted buffers stay
//!   posted, and go back to the driver when it resets or stops the queue
//!   (`GET_VRING_BASE` counts only what was used). Linux posts none
//!   without `HOTPLUG`; SeaBIOS never does.
#![forbid(unsafe_code)]

pub mod cdb;
pub mod lun;
pub mod sense;

use cdb::{Command, PageControl};
use lun::{Lun, LunSpec, OpenError, BLOCK_SIZE};
use sense::{status, Sense};
use std::os::fd::AsFd;
use vu_backend::{Device, Filler, QueueHandler, Reader, Request, Writer};
use vu_protocol::virtio::scsi::{
    ctrl, response, AnRequest, CmdHeader, CmdResponse, Config, Event, LunAddress, TmfRequest,
    CDB_SIZE, CONTROL_QUEUE, EVENT_QUEUE, SENSE_SIZE,
};
use vu_protocol::ProtocolFeatures;

/// Largest queue size accepted (`seg_max` is derived from it).
pub const MAX_QUEUE_SIZE: u16 = 1024;
/// Most logical units one device serves.
pub const MAX_LUNS: usize = 256;

/// The virtio-scsi device.
#[derive(Debug)]
pub struct ScsiDevice {
    luns: Vec<Lun>,
    request_queues: u16,
    /// Emulated commands' data, built here before it is copied out.
    scratch: Vec<u8>,
}

/// What a command ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Outcome {
    response: u8,
    status: u8,
    sense: Option<Sense>,
    residual: u32,
}

impl Outcome {
    fn good(residual: usize) -> Self {
        Self {
            response: response::OK,
            status: status::GOOD,
            sense: None,
            residual: u32::try_from(residual).unwrap_or(u32::MAX),
        }
    }

    fn check(sense: Sense, residual: usize) -> Self {
        Self {
            status: status::CHECK_CONDITION,
            sense: Some(sense),
            ..Self::good(residual)
        }
    }

    fn transport(response: u8, residual: usize) -> Self {
        Self {
            response,
            ..Self::good(residual)
        }
    }
}

impl ScsiDevice {
    /// Opens every unit (LUN numbers in the order given).
    pub fn open(specs: &[LunSpec], request_queues: u16) -> Result<Self, OpenError> {
        let luns = specs
            .iter()
            .enumerate()
            .map(|(i, s)| Lun::open(i as u16, s))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            luns,
            request_queues,
            scratch: Vec::new(),
        })
    }

    /// The logical units, by LUN.
    pub fn luns(&self) -> &[Lun] {
        &self.luns
    }

    /// The same device on new handles to the same files.
    pub fn try_clone(&self) -> std::io::Result<Self> {
        Ok(Self {
            luns: self
                .luns
                .iter()
                .map(Lun::try_clone)
                .collect::<Result<_, _>>()?,
            request_queues: self.request_queues,
            scratch: Vec::new(),
        })
    }

    /// The configuration space.
    pub fn config(&self) -> Config {
        Config {
            num_queues: u32::from(self.request_queues),
            seg_max: u32::from(MAX_QUEUE_SIZE) - 2,
            max_sectors: 0xffff,
            cmd_per_lun: 128,
            event_info_size: Event::SIZE as u32,
            sense_size: SENSE_SIZE as u32,
            cdb_size: CDB_SIZE as u32,
            max_channel: 0,
            max_target: 0,
            max_lun: self.luns.len().saturating_sub(1) as u32,
        }
    }

    /// Serves one request from queue `queue` (the control queue or a
    /// request queue; the event queue is filled, never served).
    pub fn serve(&mut self, queue: u16, request: &mut Request<'_>) {
        match queue {
            CONTROL_QUEUE => self.serve_control(request),
            _ => self.serve_command(request),
        }
    }

    fn serve_control(&mut self, request: &mut Request<'_>) {
        let mut kind = [0u8; 4];
        if !request.reader.read_exact(&mut kind) {
            return;
        }
        match u32::from_le_bytes(kind) {
            ctrl::TMF => {
                let mut raw = [0u8; TmfRequest::SIZE];
                raw[..4].copy_from_slice(&kind);
                let answer = if request.reader.read_exact(&mut raw[4..]) {
                    self.tmf(&TmfRequest::from_le_bytes(&raw))
                } else {
                    response::FAILURE
                };
                request.writer.write(&[answer]);
            }
            ctrl::AN_QUERY | ctrl::AN_SUBSCRIBE => {
                let mut raw = [0u8; AnRequest::SIZE];
                raw[..4].copy_from_slice(&kind);
                let answer = if request.reader.read_exact(&mut raw[4..]) {
                    let r = AnRequest::from_le_bytes(&raw);
                    match self.address(&r.lun) {
                        Address::BadTarget => response::BAD_TARGET,
                        _ => response::OK,
                    }
                } else {
                    response::FAILURE
                };
                // event_actual: none of the requested events is supported.
                let mut out = [0u8; AnRequest::RESPONSE_SIZE];
                out[4] = answer;
                if request.writer.remaining() >= out.len() {
                    request.writer.write(&out);
                }
            }
            // An unknown request type: no layout to answer in.
            other => log::debug!("control queue: unknown request type {other}"),
        }
    }

    fn tmf(&self, r: &TmfRequest) -> u8 {
        match self.address(&r.lun) {
            Address::BadTarget => return response::BAD_TARGET,
            Address::Missing if r.subtype != ctrl::TMF_I_T_NEXUS_RESET => {
                return response::INCORRECT_LUN
            }
            _ => {}
        }
        match r.subtype {
            ctrl::TMF_ABORT_TASK
            | ctrl::TMF_ABORT_TASK_SET
            | ctrl::TMF_CLEAR_TASK_SET
            | ctrl::TMF_I_T_NEXUS_RESET
            | ctrl::TMF_LOGICAL_UNIT_RESET
            | ctrl::TMF_QUERY_TASK
            | ctrl::TMF_QUERY_TASK_SET => response::FUNCTION_COMPLETE,
            _ => response::FUNCTION_REJECTED,
        }
    }

    fn address(&self, field: &[u8; 8]) -> Address {
        match LunAddress::decode(field) {
            Err(true) => Address::BadTarget,
            Ok(a) if a.target != 0 => Address::BadTarget,
            Ok(a) if usize::from(a.lun) < self.luns.len() => Address::Lun(usize::from(a.lun)),
            _ => Address::Missing,
        }
    }

    fn serve_command(&mut self, request: &mut Request<'_>) {
        // Nowhere to put a response: complete with nothing written.
        let Some(mut head) = request.writer.split_front(CmdResponse::SIZE_WITH_SENSE) else {
            return;
        };
        let mut raw = [0u8; CmdHeader::SIZE];
        let outcome = if request.reader.read_exact(&mut raw) {
            let h = CmdHeader::from_le_bytes(&raw);
            self.execute(&h, &mut request.reader, &mut request.writer)
        } else {
            Outcome::transport(response::FAILURE, 0)
        };
        let sense = outcome.sense.map(Sense::fixed);
        let sense = sense.as_ref().map_or(&[][..], |s| &s[..]);
        let r = CmdResponse {
            sense_len: sense.len() as u32,
            residual: outcome.residual,
            status_qualifier: 0,
            status: outcome.status,
            response: outcome.response,
        };
        head.write(&r.to_le_bytes());
        head.write(sense);
    }

    /// Runs one command; data-in goes to `w` (positioned after the
    /// response area), data-out comes from `r`.
    fn execute(&mut self, h: &CmdHeader, r: &mut Reader<'_>, w: &mut Writer<'_>) -> Outcome {
        let (data_out, data_in) = (r.remaining(), w.remaining());
        // The residual of a command that moves nothing.
        let untouched = data_out.max(data_in);
        let lun = match self.address(&h.lun) {
            Address::BadTarget => return Outcome::transport(response::BAD_TARGET, untouched),
            Address::Lun(i) => Some(i),
            Address::Missing => None,
        };
        let cmd = match cdb::parse(&h.cdb) {
            Ok(c) => c,
            Err(_) if lun.is_none() => return Outcome::check(Sense::LUN_NOT_SUPPORTED, untouched),
            Err(s) => return Outcome::check(s, untouched),
        };
        let Some(i) = lun else {
            return self.execute_missing(cmd, w, untouched);
        };
        let result = match cmd {
            Command::TestUnitReady => Ok(Outcome::good(untouched)),
            Command::RequestSense { descriptor, alloc } => {
                self.scratch.clear();
                if descriptor {
                    self.scratch
                        .extend_from_slice(&Sense::NO_SENSE.descriptor());
                } else {
                    self.scratch.extend_from_slice(&Sense::NO_SENSE.fixed());
                }
                Ok(self.data_in(w, alloc))
            }
            Command::Inquiry { page: None, alloc } => {
                lun::standard_inquiry(true, &mut self.scratch);
                Ok(self.data_in(w, alloc))
            }
            Command::Inquiry {
                page: Some(p),
                alloc,
            } => {
                lun::vpd_page(&self.luns[i], p, &mut self.scratch).map(|()| self.data_in(w, alloc))
            }
            Command::ModeSense {
                ten,
                dbd,
                llbaa,
                pc,
                page,
                subpage,
                alloc,
            } => lun::mode_sense(
                &self.luns[i],
                ten,
                dbd,
                llbaa,
                pc == PageControl::Changeable,
                page,
                subpage,
                &mut self.scratch,
            )
            .map(|()| self.data_in(w, alloc)),
            Command::ReadCapacity10 => {
                self.scratch.clear();
                self.scratch
                    .extend_from_slice(&lun::read_capacity_10(&self.luns[i]));
                Ok(self.data_in(w, u32::MAX))
            }
            Command::ReadCapacity16 { alloc } => {
                self.scratch.clear();
                self.scratch
                    .extend_from_slice(&lun::read_capacity_16(&self.luns[i]));
                Ok(self.data_in(w, alloc))
            }
            Command::ReportLuns { select, alloc } => self.report_luns(select, alloc, w),
            Command::Read { lba, blocks } => read(&self.luns[i], lba, blocks, w),
            Command::Write { lba, blocks, fua } => write(&self.luns[i], lba, blocks, fua, r),
            Command::SynchronizeCache { lba, blocks } => {
                let unit = &self.luns[i];
                let blocks = if blocks == 0 {
                    unit.blocks().saturating_sub(lba)
                } else {
                    u64::from(blocks)
                };
                unit.range(lba, blocks).and_then(|_| {
                    if unit.read_only() {
                        return Ok(Outcome::good(untouched));
                    }
                    unit.file.sync_data().map_err(|e| {
                        log::warn!("LUN {i}: synchronize cache: {e}");
                        Sense::WRITE_ERROR
                    })?;
                    Ok(Outcome::good(untouched))
                })
            }
        };
        result.unwrap_or_else(|s| Outcome::check(s, untouched))
    }

    /// A command for a LUN that does not exist on target 0.
    fn execute_missing(&mut self, cmd: Command, w: &mut Writer<'_>, untouched: usize) -> Outcome {
        match cmd {
            Command::Inquiry { page: None, alloc } => {
                lun::standard_inquiry(false, &mut self.scratch);
                self.data_in(w, alloc)
            }
            Command::ReportLuns { select, alloc } => self
                .report_luns(select, alloc, w)
                .unwrap_or_else(|s| Outcome::check(s, untouched)),
            Command::RequestSense { descriptor, alloc } => {
                self.scratch.clear();
                let s = Sense::LUN_NOT_SUPPORTED;
                if descriptor {
                    self.scratch.extend_from_slice(&s.descriptor());
                } else {
                    self.scratch.extend_from_slice(&s.fixed());
                }
                self.data_in(w, alloc)
            }
            _ => Outcome::check(Sense::LUN_NOT_SUPPORTED, untouched),
        }
    }

    fn report_luns(
        &mut self,
        select: u8,
        alloc: u32,
        w: &mut Writer<'_>,
    ) -> Result<Outcome, Sense> {
        let luns = match select {
            0x00 | 0x02 => self.luns.len() as u16,
            // Well-known logical units only: this target has none.
            0x01 => 0,
            _ => return Err(Sense::INVALID_FIELD_IN_CDB),
        };
        lun::report_luns(luns, &mut self.scratch);
        Ok(self.data_in(w, alloc))
    }

    /// Returns the scratch data, cut to the allocation length; more than
    /// the data-in buffers hold is an overrun, nothing sent.
    fn data_in(&self, w: &mut Writer<'_>, alloc: u32) -> Outcome {
        let n = self
            .scratch
            .len()
            .min(usize::try_from(alloc).unwrap_or(usize::MAX));
        let room = w.remaining();
        if n > room {
            return Outcome::transport(response::OVERRUN, room);
        }
        w.write(&self.scratch[..n]);
        Outcome::good(room - n)
    }
}

/// Where a command's LUN field points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Address {
    BadTarget,
    Missing,
    Lun(usize),
}

/// The byte count of `blocks` blocks, if it fits the buffers (`room`).
fn transfer_len(blocks: u32, room: usize) -> Option<usize> {
    let bytes = u64::from(blocks) * BLOCK_SIZE;
    usize::try_from(bytes).ok().filter(|&b| b <= room)
}

fn read(unit: &Lun, lba: u64, blocks: u32, w: &mut Writer<'_>) -> Result<Outcome, Sense> {
    let off = unit.range(lba, u64::from(blocks))?;
    let room = w.remaining();
    let Some(len) = transfer_len(blocks, room) else {
        return Ok(Outcome::transport(response::OVERRUN, room));
    };
    w.write_from_file_at(unit.file.as_fd(), off, len)
        .map_err(|e| {
            log::warn!("read at {off}+{len}: {e}");
            Sense::UNRECOVERED_READ_ERROR
        })?;
    Ok(Outcome::good(room - len))
}

fn write(
    unit: &Lun,
    lba: u64,
    blocks: u32,
    fua: bool,
    r: &mut Reader<'_>,
) -> Result<Outcome, Sense> {
    if unit.read_only() {
        return Err(Sense::WRITE_PROTECTED);
    }
    let off = unit.range(lba, u64::from(blocks))?;
    let room = r.remaining();
    let Some(len) = transfer_len(blocks, room) else {
        return Ok(Outcome::transport(response::OVERRUN, room));
    };
    let io_error = |e: std::io::Error| {
        log::warn!("write at {off}+{len}: {e}");
        Sense::WRITE_ERROR
    };
    r.write_to_file_at(unit.file.as_fd(), off, len)
        .map_err(io_error)?;
    if fua {
        unit.file.sync_data().map_err(io_error)?;
    }
    Ok(Outcome::good(room - len))
}

impl Device for ScsiDevice {
    fn num_queues(&self) -> u16 {
        2 + self.request_queues
    }

    fn max_queue_size(&self) -> u16 {
        MAX_QUEUE_SIZE
    }

    /// `CHANGE` only: QEMU's vhost-user-scsi-pci acknowledges it on the
    /// device's behalf (its `param_change` property, on by default) and
    /// the framework refuses acknowledged bits it did not offer. The
    /// device never has a parameter change to report. No `HOTPLUG`, so
    /// Linux posts no event buffers (see the event queue above).
    fn features(&self) -> u64 {
        vu_protocol::virtio::scsi::features::CHANGE
    }

    fn protocol_features(&self) -> ProtocolFeatures {
        ProtocolFeatures::CONFIG
    }

    fn read_config(&self, offset: u32, buf: &mut [u8]) -> bool {
        let c = self.config().to_le_bytes();
        let start = offset as usize;
        for (i, b) in buf.iter_mut().enumerate() {
            *b = c.get(start + i).copied().unwrap_or(0);
        }
        true
    }

    /// A driver may write `sense_size` and `cdb_size`; only the values the
    /// device already has are accepted (the sizes are fixed).
    fn write_config(&mut self, offset: u32, data: &[u8]) -> bool {
        let c = self.config().to_le_bytes();
        let start = offset as usize;
        let Some(end) = start.checked_add(data.len()) else {
            return false;
        };
        (20..=28).contains(&start) && end <= 28 && c.get(start..end) == Some(data)
    }

    fn process(&mut self, queue: u16, request: &mut Request<'_>) {
        self.serve(queue, request);
    }

    fn fills(&self, queue: u16) -> bool {
        queue == EVENT_QUEUE
    }

    /// No event ever happens: the event buffers stay posted.
    fn fill(&mut self, _queue: u16, _filler: &mut Filler<'_>) {}

    fn queue_handler(&mut self, queue: u16) -> Option<Box<dyn QueueHandler>> {
        if queue < 2 {
            return None;
        }
        match self.try_clone() {
            Ok(d) => Some(Box::new(RequestQueue(d))),
            Err(e) => {
                // The event loop serves the queue instead.
                log::warn!("queue {queue}: cannot clone the file handles ({e}); no worker thread");
                None
            }
        }
    }
}

/// A request queue served on a thread of its own.
#[derive(Debug)]
struct RequestQueue(ScsiDevice);

impl QueueHandler for RequestQueue {
    fn process(&mut self, request: &mut Request<'_>) {
        self.0.serve_command(request);
    }
}
