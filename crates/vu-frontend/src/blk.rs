//! Typed virtio-blk requests over a [`Frontend`], with a slot per
//! in-flight request so many can be outstanding on each queue.

use crate::{Buf, Error, Frontend, Options};
use std::path::Path;
use vu_protocol::virtio::blk::{req, Config, DiscardWriteZeroes, ReqHeader, ID_BYTES};
use vu_protocol::ProtocolFeatures;

pub use vu_protocol::virtio::blk::{features, status, SECTOR_SIZE};

/// How to set up a block device connection.
#[derive(Debug, Clone)]
pub struct BlkOptions {
    pub frontend: Options,
    /// Largest data transfer of one request.
    pub max_request_bytes: usize,
    /// Split data into descriptors of at most this many bytes (exercises
    /// multi-descriptor chains); `None` uses one descriptor.
    pub segment_size: Option<u32>,
    /// Requests that may be in flight per queue (bounded by the queue size).
    pub depth: usize,
}

impl Default for BlkOptions {
    fn default() -> Self {
        Self {
            frontend: Options::default(),
            max_request_bytes: 128 << 10,
            segment_size: None,
            depth: 32,
        }
    }
}

/// A virtio-blk request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlkRequest<'a> {
    Read {
        sector: u64,
        len: usize,
    },
    Write {
        sector: u64,
        data: &'a [u8],
    },
    Flush,
    GetId,
    Discard {
        sector: u64,
        num_sectors: u32,
    },
    WriteZeroes {
        sector: u64,
        num_sectors: u32,
        unmap: bool,
    },
}

/// A finished request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// What [`BlkDevice::submit`] returned.
    pub tag: u64,
    /// The status byte (`status::OK`, `IOERR`, `UNSUPP`).
    pub status: u8,
    /// Bytes the device reported writing (data and status).
    pub used_len: u32,
    /// Data read (for `Read` and `GetId`), empty otherwise.
    pub data: Vec<u8>,
}

/// A finished request whose data was left in guest memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Done {
    /// What [`BlkDevice::enqueue`] or [`BlkDevice::submit`] returned.
    pub tag: u64,
    pub status: u8,
    /// Bytes the device reported writing (data and status).
    pub used_len: u32,
    /// Guest address of the request's data buffer; valid until the next
    /// request is submitted on the queue.
    pub data: u64,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    header: u64,
    data: u64,
    status: u64,
}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    slot: usize,
    tag: u64,
    /// Bytes of device-writable data to copy back.
    read_len: usize,
}

#[derive(Debug, Default)]
struct QueueSlots {
    slots: Vec<Slot>,
    free: Vec<usize>,
    by_head: Vec<Option<InFlight>>,
}

/// A virtio-blk device reached over vhost-user.
#[derive(Debug)]
pub struct BlkDevice {
    fe: Frontend,
    config: Option<Config>,
    queues: Vec<QueueSlots>,
    max_request_bytes: usize,
    segment_size: Option<u32>,
    next_tag: u64,
}

impl BlkDevice {
    /// Connects to `path`, sets up the queues and reads the config space.
    pub fn connect(path: &Path, opts: &BlkOptions) -> Result<Self, Error> {
        let fe = Frontend::connect(path, &opts.frontend)?;
        Self::new(fe, opts)
    }

    /// Wraps a front-end that is set up already.
    pub fn new(mut fe: Frontend, opts: &BlkOptions) -> Result<Self, Error> {
        let config = if fe.protocol_features().contains(ProtocolFeatures::CONFIG) {
            let raw = fe.get_config(0, Config::SIZE as u32)?;
            let mut b = [0u8; Config::SIZE];
            b.copy_from_slice(&raw[..Config::SIZE]);
            Some(Config::from_le_bytes(&b))
        } else {
            None
        };
        let mut queues = Vec::new();
        let max = opts.max_request_bytes.max(ID_BYTES).max(16);
        let segs = opts.segment_size.map_or(1, |s| max.div_ceil(s as usize));
        for q in 0..fe.num_queues() {
            let depth = opts.depth.min(fe.free_descriptors(q)? / (2 + segs)).max(1);
            let mut qs = QueueSlots {
                by_head: vec![None; usize::from(fe.layout(q)?.size)],
                ..QueueSlots::default()
            };
            for i in 0..depth {
                let ram = fe.ram_mut();
                qs.slots.push(Slot {
                    header: ram.alloc(16, 16, false)?,
                    // Page-aligned, as a guest's page-cache I/O is.
                    data: ram.alloc(max as u64, 4096, false)?,
                    status: ram.alloc(1, 1, false)?,
                });
                qs.free.push(depth - 1 - i);
            }
            queues.push(qs);
        }
        Ok(Self {
            fe,
            config,
            queues,
            max_request_bytes: max,
            segment_size: opts.segment_size,
            next_tag: 0,
        })
    }

    /// The configuration space read at connect time (`None` without the
    /// `CONFIG` protocol feature).
    pub fn config(&self) -> Option<&Config> {
        self.config.as_ref()
    }

    /// Negotiated feature bits.
    pub fn features(&self) -> u64 {
        self.fe.features()
    }

    pub fn frontend(&self) -> &Frontend {
        &self.fe
    }

    pub fn frontend_mut(&mut self) -> &mut Frontend {
        &mut self.fe
    }

    pub fn into_frontend(self) -> Frontend {
        self.fe
    }

    /// Requests that can still be submitted on queue `q` without waiting.
    pub fn free_slots(&self, q: u16) -> usize {
        self.queues.get(usize::from(q)).map_or(0, |s| s.free.len())
    }

    fn data_bufs(&self, gpa: u64, len: usize, writable: bool, out: &mut Vec<Buf>) {
        let seg = self.segment_size.map_or(len.max(1), |s| s as usize);
        let mut off = 0;
        while off < len {
            let n = seg.min(len - off);
            out.push(Buf {
                gpa: gpa + off as u64,
                len: n as u32,
                writable,
            });
            off += n;
        }
    }

    /// Submits a request on queue `q`; returns its tag. Fails with
    /// `QueueFull` when every slot of the queue is in flight.
    pub fn submit(&mut self, q: u16, request: &BlkRequest<'_>) -> Result<u64, Error> {
        self.submit_inner(q, request, true)
    }

    /// Like [`BlkDevice::submit`] without the kick: submit a batch this way,
    /// then [`BlkDevice::kick`] once, as a guest driver does.
    pub fn enqueue(&mut self, q: u16, request: &BlkRequest<'_>) -> Result<u64, Error> {
        self.submit_inner(q, request, false)
    }

    /// Notifies the back-end of enqueued requests (see [`Frontend::kick`]).
    pub fn kick(&mut self, q: u16) -> Result<bool, Error> {
        self.fe.kick(q)
    }

    fn submit_inner(&mut self, q: u16, request: &BlkRequest<'_>, kick: bool) -> Result<u64, Error> {
        let qs = self
            .queues
            .get_mut(usize::from(q))
            .ok_or(Error::NoSuchQueue(q))?;
        let slot_index = *qs.free.last().ok_or(Error::QueueFull(q))?;
        let slot = qs.slots[slot_index];
        let (kind, sector) = match *request {
            BlkRequest::Read { sector, .. } => (req::IN, sector),
            BlkRequest::Write { sector, .. } => (req::OUT, sector),
            BlkRequest::Flush => (req::FLUSH, 0),
            BlkRequest::GetId => (req::GET_ID, 0),
            BlkRequest::Discard { .. } => (req::DISCARD, 0),
            BlkRequest::WriteZeroes { .. } => (req::WRITE_ZEROES, 0),
        };
        let ram = self.fe.ram();
        let oom = Error::OutOfGuestMemory(0);
        ram.write(
            slot.header,
            &ReqHeader {
                kind,
                ioprio: 0,
                sector,
            }
            .to_le_bytes(),
        )
        .ok_or(oom)?;
        ram.write(slot.status, &[0xff])
            .ok_or(Error::OutOfGuestMemory(0))?;
        let mut bufs = vec![Buf {
            gpa: slot.header,
            len: ReqHeader::SIZE as u32,
            writable: false,
        }];
        let mut read_len = 0;
        match *request {
            BlkRequest::Read { len, .. } => {
                self.check_len(len)?;
                self.data_bufs(slot.data, len, true, &mut bufs);
                read_len = len;
            }
            BlkRequest::Write { data, .. } => {
                self.check_len(data.len())?;
                self.fe
                    .ram()
                    .write(slot.data, data)
                    .ok_or(Error::OutOfGuestMemory(0))?;
                self.data_bufs(slot.data, data.len(), false, &mut bufs);
            }
            BlkRequest::Flush => {}
            BlkRequest::GetId => {
                bufs.push(Buf {
                    gpa: slot.data,
                    len: ID_BYTES as u32,
                    writable: true,
                });
                read_len = ID_BYTES;
            }
            BlkRequest::Discard {
                sector,
                num_sectors,
            }
            | BlkRequest::WriteZeroes {
                sector,
                num_sectors,
                unmap: false,
            } => {
                let seg = DiscardWriteZeroes {
                    sector,
                    num_sectors,
                    flags: 0,
                };
                self.fe
                    .ram()
                    .write(slot.data, &seg.to_le_bytes())
                    .ok_or(Error::OutOfGuestMemory(0))?;
                bufs.push(Buf {
                    gpa: slot.data,
                    len: DiscardWriteZeroes::SIZE as u32,
                    writable: false,
                });
            }
            BlkRequest::WriteZeroes {
                sector,
                num_sectors,
                unmap: true,
            } => {
                let seg = DiscardWriteZeroes {
                    sector,
                    num_sectors,
                    flags: DiscardWriteZeroes::FLAG_UNMAP,
                };
                self.fe
                    .ram()
                    .write(slot.data, &seg.to_le_bytes())
                    .ok_or(Error::OutOfGuestMemory(0))?;
                bufs.push(Buf {
                    gpa: slot.data,
                    len: DiscardWriteZeroes::SIZE as u32,
                    writable: false,
                });
            }
        }
        bufs.push(Buf {
            gpa: slot.status,
            len: 1,
            writable: true,
        });
        let head = self.fe.place(q, &bufs)?;
        if kick {
            self.fe.publish(q, head)?;
        } else {
            self.fe.push_avail(q, head)?;
        }
        let tag = self.next_tag;
        self.next_tag += 1;
        let qs = &mut self.queues[usize::from(q)];
        qs.free.pop();
        qs.by_head[usize::from(head)] = Some(InFlight {
            slot: slot_index,
            tag,
            read_len,
        });
        Ok(tag)
    }

    fn check_len(&self, len: usize) -> Result<(), Error> {
        if len > self.max_request_bytes {
            return Err(Error::RequestTooLarge {
                len,
                max: self.max_request_bytes,
            });
        }
        Ok(())
    }

    /// Retires the request whose chain head the device returned: frees its
    /// slot and reads the status byte the device wrote.
    fn finish(&mut self, q: u16, head: u32) -> Result<(InFlight, Slot, u8), Error> {
        let qs = self
            .queues
            .get_mut(usize::from(q))
            .ok_or(Error::NoSuchQueue(q))?;
        let f = qs
            .by_head
            .get_mut(head as usize)
            .and_then(Option::take)
            .ok_or(Error::BadUsedId { queue: q, id: head })?;
        qs.free.push(f.slot);
        let slot = qs.slots[f.slot];
        let mut st = [0u8];
        self.fe
            .ram()
            .read(slot.status, &mut st)
            .ok_or(Error::OutOfGuestMemory(0))?;
        Ok((f, slot, st[0]))
    }

    /// Takes the next completion of queue `q` if there is one, without
    /// waiting and without copying the data out (a benchmark reads what it
    /// checks through [`Frontend::ram`] at [`Done::data`]).
    pub fn try_complete(&mut self, q: u16) -> Result<Option<Done>, Error> {
        let Some(used) = self.fe.poll_used(q)? else {
            return Ok(None);
        };
        let (f, slot, status) = self.finish(q, used.id)?;
        Ok(Some(Done {
            tag: f.tag,
            status,
            used_len: used.len,
            data: slot.data,
        }))
    }

    /// Waits for the next completion on queue `q`.
    pub fn wait(&mut self, q: u16) -> Result<Completion, Error> {
        let used = self.fe.wait_used(q)?;
        let (f, slot, status) = self.finish(q, used.id)?;
        let mut data = vec![0u8; f.read_len];
        self.fe
            .ram()
            .read(slot.data, &mut data)
            .ok_or(Error::OutOfGuestMemory(0))?;
        Ok(Completion {
            tag: f.tag,
            status,
            used_len: used.len,
            data,
        })
    }

    /// Submits one request and waits for it (nothing else in flight on `q`).
    pub fn run(&mut self, q: u16, request: &BlkRequest<'_>) -> Result<Completion, Error> {
        let tag = self.submit(q, request)?;
        let c = self.wait(q)?;
        debug_assert_eq!(c.tag, tag);
        Ok(c)
    }

    /// Reads `len` bytes at `sector`: status and data.
    pub fn read(&mut self, q: u16, sector: u64, len: usize) -> Result<(u8, Vec<u8>), Error> {
        let c = self.run(q, &BlkRequest::Read { sector, len })?;
        Ok((c.status, c.data))
    }

    /// Writes `data` at `sector`; returns the status.
    pub fn write(&mut self, q: u16, sector: u64, data: &[u8]) -> Result<u8, Error> {
        Ok(self.run(q, &BlkRequest::Write { sector, data })?.status)
    }

    pub fn flush(&mut self, q: u16) -> Result<u8, Error> {
        Ok(self.run(q, &BlkRequest::Flush)?.status)
    }

    /// The device ID string (NUL padding removed).
    pub fn get_id(&mut self, q: u16) -> Result<(u8, Vec<u8>), Error> {
        let c = self.run(q, &BlkRequest::GetId)?;
        let end = c.data.iter().position(|&b| b == 0).unwrap_or(c.data.len());
        Ok((c.status, c.data[..end].to_vec()))
    }

    pub fn discard(&mut self, q: u16, sector: u64, num_sectors: u32) -> Result<u8, Error> {
        Ok(self
            .run(
                q,
                &BlkRequest::Discard {
                    sector,
                    num_sectors,
                },
            )?
            .status)
    }

    pub fn write_zeroes(
        &mut self,
        q: u16,
        sector: u64,
        num_sectors: u32,
        unmap: bool,
    ) -> Result<u8, Error> {
        Ok(self
            .run(
                q,
                &BlkRequest::WriteZeroes {
                    sector,
                    num_sectors,
                    unmap,
                },
            )?
            .status)
    }
}
