//! virtio-scsi over a [`Frontend`]: one command at a time on the first
//! request queue, and raw requests on any queue for tests that frame
//! their own.

use crate::{Buf, Error, Frontend, Options};
use std::path::Path;
use vu_protocol::virtio::scsi::{
    CmdHeader, CmdResponse, Config, LunAddress, CDB_SIZE, FIRST_REQUEST_QUEUE, SENSE_SIZE,
};
use vu_protocol::ProtocolFeatures;

pub use vu_protocol::virtio::scsi::{ctrl, response};

/// A finished command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdResult {
    /// The transport's verdict (`response::OK`, `BAD_TARGET`, `OVERRUN`...).
    pub response: u8,
    /// The SCSI status (0 GOOD, 2 CHECK CONDITION).
    pub status: u8,
    pub residual: u32,
    /// The sense bytes the device reported (`sense_len` of them).
    pub sense: Vec<u8>,
    /// Data-in, cut to what the device says it sent (length minus residual).
    pub data: Vec<u8>,
    /// The used length the device reported.
    pub used_len: u32,
}

impl CmdResult {
    /// Sense key, additional sense code and qualifier of fixed-format sense.
    pub fn sense_key(&self) -> Option<(u8, u8, u8)> {
        (self.sense.len() >= 14 && self.sense[0] & 0x7f == 0x70)
            .then(|| (self.sense[2] & 0x0f, self.sense[12], self.sense[13]))
    }
}

/// A virtio-scsi device reached over vhost-user.
#[derive(Debug)]
pub struct ScsiDevice {
    fe: Frontend,
    config: Option<Config>,
    /// Guest memory for one request: the readable and writable halves.
    out_buf: u64,
    in_buf: u64,
    max: usize,
}

impl ScsiDevice {
    /// Largest data transfer of one request (either way).
    pub const MAX_DATA: usize = 1 << 20;

    /// Connects to `path`; `opts.num_queues` counts every queue (control,
    /// event and the request queues), so at least 3.
    pub fn connect(path: &Path, opts: &Options) -> Result<Self, Error> {
        let mut fe = Frontend::connect(path, opts)?;
        let config = if fe.protocol_features().contains(ProtocolFeatures::CONFIG) {
            let raw = fe.get_config(0, Config::SIZE as u32)?;
            let mut b = [0u8; Config::SIZE];
            b.copy_from_slice(raw.get(..Config::SIZE).ok_or(Error::ConfigUnavailable)?);
            Some(Config::from_le_bytes(&b))
        } else {
            None
        };
        let size = (CmdHeader::SIZE + Self::MAX_DATA) as u64;
        let out_buf = fe.ram_mut().alloc(size, 4096, false)?;
        let size = (CmdResponse::SIZE_WITH_SENSE + Self::MAX_DATA) as u64;
        let in_buf = fe.ram_mut().alloc(size, 4096, false)?;
        Ok(Self {
            fe,
            config,
            out_buf,
            in_buf,
            max: Self::MAX_DATA,
        })
    }

    /// The configuration space read at connect time.
    pub fn config(&self) -> Option<&Config> {
        self.config.as_ref()
    }

    pub fn frontend(&self) -> &Frontend {
        &self.fe
    }

    pub fn frontend_mut(&mut self) -> &mut Frontend {
        &mut self.fe
    }

    /// Sends `cdb` (padded to 32 bytes) to `lun` of target 0 with
    /// `data_out` and room for `data_in` bytes, and waits for the answer.
    pub fn command(
        &mut self,
        lun: u16,
        cdb: &[u8],
        data_out: &[u8],
        data_in: usize,
    ) -> Result<CmdResult, Error> {
        self.command_to(
            LunAddress { target: 0, lun }.encode(),
            cdb,
            data_out,
            data_in,
        )
    }

    /// Like [`ScsiDevice::command`], with the raw 8-byte LUN field.
    pub fn command_to(
        &mut self,
        lun: [u8; 8],
        cdb: &[u8],
        data_out: &[u8],
        data_in: usize,
    ) -> Result<CmdResult, Error> {
        if cdb.len() > CDB_SIZE {
            return Err(Error::RequestTooLarge {
                len: cdb.len(),
                max: CDB_SIZE,
            });
        }
        for len in [data_out.len(), data_in] {
            if len > self.max {
                return Err(Error::RequestTooLarge { len, max: self.max });
            }
        }
        let mut c = [0u8; CDB_SIZE];
        c[..cdb.len()].copy_from_slice(cdb);
        let header = CmdHeader {
            lun,
            id: 1,
            task_attr: 0,
            prio: 0,
            crn: 0,
            cdb: c,
        };
        let mut out = header.to_le_bytes().to_vec();
        out.extend_from_slice(data_out);
        let raw = self.raw(
            FIRST_REQUEST_QUEUE,
            &out,
            CmdResponse::SIZE_WITH_SENSE + data_in,
        )?;
        let (used_len, reply) = raw;
        let mut fixed = [0u8; CmdResponse::SIZE];
        fixed.copy_from_slice(&reply[..CmdResponse::SIZE]);
        let r = CmdResponse::from_le_bytes(&fixed);
        let sense_len = (r.sense_len as usize).min(SENSE_SIZE);
        let sense = reply[CmdResponse::SIZE..CmdResponse::SIZE + sense_len].to_vec();
        let sent = data_in.saturating_sub(r.residual as usize);
        let data =
            reply[CmdResponse::SIZE_WITH_SENSE..CmdResponse::SIZE_WITH_SENSE + sent].to_vec();
        Ok(CmdResult {
            response: r.response,
            status: r.status,
            residual: r.residual,
            sense,
            data,
            used_len,
        })
    }

    /// Places `out` (device-readable) and `in_len` bytes of device-writable
    /// room (zeroed first) as one request on queue `q` and waits for it;
    /// returns the used length and the writable bytes. Either part may be
    /// empty.
    pub fn raw(&mut self, q: u16, out: &[u8], in_len: usize) -> Result<(u32, Vec<u8>), Error> {
        let limit = CmdResponse::SIZE_WITH_SENSE + self.max;
        for len in [out.len(), in_len] {
            if len > limit {
                return Err(Error::RequestTooLarge { len, max: limit });
            }
        }
        let ram = self.fe.ram();
        ram.write(self.out_buf, out)
            .ok_or(Error::OutOfGuestMemory(out.len() as u64))?;
        ram.write(self.in_buf, &vec![0u8; in_len])
            .ok_or(Error::OutOfGuestMemory(in_len as u64))?;
        let mut bufs = Vec::new();
        if !out.is_empty() {
            bufs.push(Buf {
                gpa: self.out_buf,
                len: out.len() as u32,
                writable: false,
            });
        }
        if in_len > 0 {
            bufs.push(Buf {
                gpa: self.in_buf,
                len: in_len as u32,
                writable: true,
            });
        }
        self.fe.submit(q, &bufs)?;
        let used = self.fe.wait_used(q)?;
        let mut reply = vec![0u8; in_len];
        self.fe
            .ram()
            .read(self.in_buf, &mut reply)
            .ok_or(Error::OutOfGuestMemory(in_len as u64))?;
        Ok((used.len, reply))
    }
}
