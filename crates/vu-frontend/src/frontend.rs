//! Handshake and split-ring driving.

use crate::{Connection, Error, GuestRam};
use std::path::Path;
use std::sync::atomic::{fence, Ordering};
use std::time::{Duration, Instant};
use vu_protocol::msg::{encode_mem_table, ConfigHeader, VringAddr, VringState};
use vu_protocol::virtio::features as vf;
use vu_protocol::virtio::split::{
    self, Descriptor, UsedElem, RING_ENTRIES_OFFSET, RING_IDX_OFFSET,
};
use vu_protocol::{FrontendReq, Pod, ProtocolFeatures, VHOST_USER_F_PROTOCOL_FEATURES};
use vu_sys::Notifier;

/// How to set the connection up.
#[derive(Debug, Clone)]
pub struct Options {
    /// Queues to set up (checked against `GET_QUEUE_NUM`).
    pub num_queues: u16,
    /// Entries per queue (a power of two).
    pub queue_size: u16,
    /// Shared memory regions and the size of each.
    pub regions: usize,
    pub region_size: u64,
    /// Device feature bits to accept when offered (bits 0..24); the
    /// transport bits the front-end implements are added.
    pub device_features: u64,
    /// Accept `VIRTIO_RING_F_EVENT_IDX` when offered: notifications then go
    /// by `used_event`/`avail_event` in both directions.
    pub event_idx: bool,
    /// How long [`Frontend::wait_used`] waits before failing.
    pub timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            num_queues: 1,
            queue_size: 128,
            regions: 1,
            region_size: 16 << 20,
            device_features: 0xff_ffff,
            event_idx: false,
            timeout: Duration::from_secs(30),
        }
    }
}

/// A buffer in guest memory, device-readable or device-writable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buf {
    pub gpa: u64,
    pub len: u32,
    pub writable: bool,
}

/// Where a queue's parts are in guest memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLayout {
    pub size: u16,
    pub desc: u64,
    pub avail: u64,
    pub used: u64,
}

#[derive(Debug)]
struct Queue {
    layout: QueueLayout,
    kick: Notifier,
    call: Notifier,
    free: Vec<u16>,
    /// Descriptors of each in-flight chain, by head.
    chains: Vec<Vec<u16>>,
    avail_idx: u16,
    last_used: u16,
    /// With `EVENT_IDX`: the available index when the back-end was last
    /// kicked (or a kick was found unneeded).
    kicked_at: u16,
}

/// A connected, set-up front-end.
#[derive(Debug)]
pub struct Frontend {
    conn: Connection,
    ram: GuestRam,
    queues: Vec<Queue>,
    features: u64,
    protocol_features: ProtocolFeatures,
    timeout: Duration,
}

impl Frontend {
    /// Connects to `path` and sets everything up.
    pub fn connect(path: &Path, opts: &Options) -> Result<Self, Error> {
        Self::handshake(Connection::connect(path)?, opts)
    }

    /// Performs the whole set-up on an open connection.
    pub fn handshake(mut conn: Connection, opts: &Options) -> Result<Self, Error> {
        conn.send(FrontendReq::SetOwner, &[], &[], false)?;
        let offered = conn.get_u64(FrontendReq::GetFeatures)?;
        let event_idx = if opts.event_idx {
            vf::RING_EVENT_IDX
        } else {
            0
        };
        let wanted = (opts.device_features & 0xff_ffff)
            | event_idx
            | vf::VERSION_1
            | vf::RING_INDIRECT_DESC
            | VHOST_USER_F_PROTOCOL_FEATURES;
        let features = offered & wanted;
        if features & vf::VERSION_1 == 0 {
            return Err(Error::MissingFeature("VIRTIO_F_VERSION_1"));
        }
        let mut protocol_features = ProtocolFeatures::empty();
        if features & VHOST_USER_F_PROTOCOL_FEATURES != 0 {
            let p = ProtocolFeatures(conn.get_u64(FrontendReq::GetProtocolFeatures)?);
            protocol_features = p.intersection(
                ProtocolFeatures::MQ | ProtocolFeatures::REPLY_ACK | ProtocolFeatures::CONFIG,
            );
            conn.set_u64(FrontendReq::SetProtocolFeatures, protocol_features.bits())?;
            conn.reply_ack = protocol_features.contains(ProtocolFeatures::REPLY_ACK);
        }
        if protocol_features.contains(ProtocolFeatures::MQ) {
            let n = conn.get_u64(FrontendReq::GetQueueNum)?;
            if u64::from(opts.num_queues) > n {
                return Err(Error::TooManyQueues {
                    requested: opts.num_queues,
                    available: n,
                });
            }
        }
        conn.set_u64(FrontendReq::SetFeatures, features)?;

        let mut ram = GuestRam::new(opts.regions, opts.region_size)?;
        let (regions, fds) = ram.table();
        conn.request(FrontendReq::SetMemTable, &encode_mem_table(&regions), &fds)?;

        let mut queues = Vec::with_capacity(usize::from(opts.num_queues));
        for index in 0..u32::from(opts.num_queues) {
            let n = opts.queue_size;
            let layout = QueueLayout {
                size: n,
                desc: ram.alloc(split::desc_table_size(n), split::DESC_ALIGN, true)?,
                avail: ram.alloc(split::avail_ring_size(n), split::AVAIL_ALIGN, true)?,
                used: ram.alloc(split::used_ring_size(n), split::USED_ALIGN, true)?,
            };
            let q = Queue {
                layout,
                kick: Notifier::new().map_err(Error::Notifier)?,
                call: Notifier::new().map_err(Error::Notifier)?,
                free: (0..n).rev().collect(),
                chains: vec![Vec::new(); usize::from(n)],
                avail_idx: 0,
                last_used: 0,
                kicked_at: 0,
            };
            let uaddr = |gpa| ram.user_addr(gpa).ok_or(Error::OutOfGuestMemory(0));
            conn.request(
                FrontendReq::SetVringNum,
                VringState {
                    index,
                    num: n.into(),
                }
                .as_bytes(),
                &[],
            )?;
            conn.request(
                FrontendReq::SetVringBase,
                VringState { index, num: 0 }.as_bytes(),
                &[],
            )?;
            let addr = VringAddr {
                index,
                flags: 0,
                desc_user_addr: uaddr(layout.desc)?,
                used_user_addr: uaddr(layout.used)?,
                avail_user_addr: uaddr(layout.avail)?,
                log_guest_addr: 0,
            };
            conn.request(FrontendReq::SetVringAddr, addr.as_bytes(), &[])?;
            conn.request(
                FrontendReq::SetVringCall,
                &u64::from(index).to_ne_bytes(),
                &[q.call.write_fd()],
            )?;
            conn.request(
                FrontendReq::SetVringKick,
                &u64::from(index).to_ne_bytes(),
                &[q.kick.read_fd()],
            )?;
            if features & VHOST_USER_F_PROTOCOL_FEATURES != 0 {
                conn.request(
                    FrontendReq::SetVringEnable,
                    VringState { index, num: 1 }.as_bytes(),
                    &[],
                )?;
            }
            queues.push(q);
        }
        Ok(Self {
            conn,
            ram,
            queues,
            features,
            protocol_features,
            timeout: opts.timeout,
        })
    }

    /// The negotiated virtio feature bits.
    pub fn features(&self) -> u64 {
        self.features
    }

    /// The negotiated protocol features.
    pub fn protocol_features(&self) -> ProtocolFeatures {
        self.protocol_features
    }

    /// The connection (to send further or malformed messages).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Guest memory, to place request buffers.
    pub fn ram(&self) -> &GuestRam {
        &self.ram
    }

    pub fn ram_mut(&mut self) -> &mut GuestRam {
        &mut self.ram
    }

    pub fn num_queues(&self) -> u16 {
        self.queues.len() as u16
    }

    /// Where queue `q` lives, for tests that write descriptors by hand.
    pub fn layout(&self, q: u16) -> Result<QueueLayout, Error> {
        Ok(self.queue(q)?.layout)
    }

    /// Free descriptors on queue `q`.
    pub fn free_descriptors(&self, q: u16) -> Result<usize, Error> {
        Ok(self.queue(q)?.free.len())
    }

    fn queue(&self, q: u16) -> Result<&Queue, Error> {
        self.queues.get(usize::from(q)).ok_or(Error::NoSuchQueue(q))
    }

    /// Reads `size` bytes of the device configuration space at `offset`.
    pub fn get_config(&self, offset: u32, size: u32) -> Result<Vec<u8>, Error> {
        let h = ConfigHeader {
            offset,
            size,
            flags: 0,
        };
        let mut body = h.as_bytes().to_vec();
        body.resize(ConfigHeader::SIZE + size as usize, 0);
        self.conn.send(FrontendReq::GetConfig, &body, &[], false)?;
        match self.conn.recv_reply(FrontendReq::GetConfig, body.len()) {
            Ok(p) => Ok(p[ConfigHeader::SIZE..].to_vec()),
            Err(Error::Protocol(vu_protocol::ProtocolError::BadSize { got: 0, .. })) => {
                Err(Error::ConfigUnavailable)
            }
            Err(e) => Err(e),
        }
    }

    /// Writes `data` into the device configuration space at `offset`.
    pub fn set_config(&self, offset: u32, data: &[u8]) -> Result<(), Error> {
        let h = ConfigHeader {
            offset,
            size: data.len() as u32,
            flags: 0,
        };
        let mut body = h.as_bytes().to_vec();
        body.extend_from_slice(data);
        self.conn.request(FrontendReq::SetConfig, &body, &[])
    }

    /// Places a chain of `bufs` on queue `q`, publishes it and kicks.
    /// Returns the head index, which [`Frontend::wait_used`] reports back.
    pub fn submit(&mut self, q: u16, bufs: &[Buf]) -> Result<u16, Error> {
        let head = self.place(q, bufs)?;
        self.publish(q, head)?;
        Ok(head)
    }

    /// Places a chain without publishing it (see [`Frontend::publish`]).
    pub fn place(&mut self, q: u16, bufs: &[Buf]) -> Result<u16, Error> {
        let queue = self
            .queues
            .get_mut(usize::from(q))
            .ok_or(Error::NoSuchQueue(q))?;
        if bufs.is_empty() || queue.free.len() < bufs.len() {
            return Err(Error::QueueFull(q));
        }
        let ids: Vec<u16> = (0..bufs.len()).filter_map(|_| queue.free.pop()).collect();
        for (i, b) in bufs.iter().enumerate() {
            let last = i + 1 == bufs.len();
            let d = Descriptor {
                addr: b.gpa,
                len: b.len,
                flags: if b.writable {
                    split::VRING_DESC_F_WRITE
                } else {
                    0
                } | if last { 0 } else { split::VRING_DESC_F_NEXT },
                next: if last { 0 } else { ids[i + 1] },
            };
            let at = queue.layout.desc + split::DESC_SIZE * u64::from(ids[i]);
            self.ram
                .write(at, &d.to_le_bytes())
                .ok_or(Error::OutOfGuestMemory(0))?;
        }
        let head = ids[0];
        queue.chains[usize::from(head)] = ids;
        Ok(head)
    }

    /// Writes descriptor `index` of queue `q` as given (tests of malformed
    /// chains; the descriptor is not tracked).
    pub fn write_descriptor(&self, q: u16, index: u16, d: Descriptor) -> Result<(), Error> {
        let l = self.queue(q)?.layout;
        self.ram
            .write(
                l.desc + split::DESC_SIZE * u64::from(index),
                &d.to_le_bytes(),
            )
            .ok_or(Error::OutOfGuestMemory(0))
    }

    /// Adds `head` to the available ring and kicks (always, whatever the
    /// back-end asked: an extra kick is harmless).
    pub fn publish(&mut self, q: u16, head: u16) -> Result<(), Error> {
        self.push_avail(q, head)?;
        fence(Ordering::SeqCst);
        let queue = self
            .queues
            .get_mut(usize::from(q))
            .ok_or(Error::NoSuchQueue(q))?;
        queue.kicked_at = queue.avail_idx;
        queue.kick.notify().map_err(Error::Notifier)
    }

    fn event_idx(&self) -> bool {
        self.features & vf::RING_EVENT_IDX != 0
    }

    /// Adds `head` to the available ring without kicking: a driver that
    /// submits a batch publishes every chain, then calls [`Frontend::kick`]
    /// once.
    pub fn push_avail(&mut self, q: u16, head: u16) -> Result<(), Error> {
        let queue = self
            .queues
            .get_mut(usize::from(q))
            .ok_or(Error::NoSuchQueue(q))?;
        let l = queue.layout;
        let slot = u64::from(queue.avail_idx % l.size);
        self.ram
            .write(
                l.avail + RING_ENTRIES_OFFSET + 2 * slot,
                &head.to_le_bytes(),
            )
            .ok_or(Error::OutOfGuestMemory(0))?;
        // The entry must be visible before the index that publishes it.
        fence(Ordering::Release);
        queue.avail_idx = queue.avail_idx.wrapping_add(1);
        self.ram
            .write_u16(l.avail + RING_IDX_OFFSET, queue.avail_idx)
            .ok_or(Error::OutOfGuestMemory(0))
    }

    /// Notifies the back-end of what [`Frontend::push_avail`] published,
    /// unless it said it needs no kick (it is busy draining the ring and
    /// will see the new entries without one): `VRING_USED_F_NO_NOTIFY`, or
    /// with `EVENT_IDX` an `avail_event` that the entries published since
    /// the last kick did not pass. Returns whether it kicked.
    pub fn kick(&mut self, q: u16) -> Result<bool, Error> {
        let event_idx = self.event_idx();
        let queue = self
            .queues
            .get_mut(usize::from(q))
            .ok_or(Error::NoSuchQueue(q))?;
        let l = queue.layout;
        // The index store must be visible before the flag (or event) is
        // read; the back-end asks for kicks, fences, then re-reads the
        // index, so one of the two sides always sees the other.
        fence(Ordering::SeqCst);
        let wanted = if event_idx {
            let event = self
                .ram
                .read_u16(l.used + split::avail_event_offset(l.size))
                .ok_or(Error::OutOfGuestMemory(0))?;
            let old = std::mem::replace(&mut queue.kicked_at, queue.avail_idx);
            split::event_passed(event, queue.avail_idx, old)
        } else {
            let flags = self
                .ram
                .read_u16(l.used)
                .ok_or(Error::OutOfGuestMemory(0))?;
            flags & split::VRING_USED_F_NO_NOTIFY == 0
        };
        if !wanted {
            return Ok(false);
        }
        queue.kick.notify().map_err(Error::Notifier)?;
        Ok(true)
    }

    /// Asks the back-end to signal completions on queue `q` (`true`), or
    /// not to (`false`, while this side is reaping anyway):
    /// `VRING_AVAIL_F_NO_INTERRUPT`, or with `EVENT_IDX` a `used_event` at
    /// the next completion (signal it) or one behind (signal none). After
    /// enabling, check [`Frontend::used_pending`] before sleeping: the
    /// store is fenced, so a completion published before it is seen there,
    /// and one after it is signalled.
    pub fn set_interrupts(&mut self, q: u16, enabled: bool) -> Result<(), Error> {
        let queue = self.queue(q)?;
        let l = queue.layout;
        let (at, value) = if self.event_idx() {
            let next = queue.last_used;
            let event = if enabled { next } else { next.wrapping_sub(1) };
            (l.avail + split::used_event_offset(l.size), event)
        } else if enabled {
            (l.avail, 0)
        } else {
            (l.avail, split::VRING_AVAIL_F_NO_INTERRUPT)
        };
        self.ram
            .write_u16(at, value)
            .ok_or(Error::OutOfGuestMemory(0))?;
        fence(Ordering::SeqCst);
        Ok(())
    }

    /// The fd the back-end signals when it completes requests on queue `q`
    /// (to wait on several queues with one poller).
    pub fn call_fd(&self, q: u16) -> Result<std::os::fd::BorrowedFd<'_>, Error> {
        Ok(self.queue(q)?.call.read_fd())
    }

    /// Consumes pending call notifications of queue `q`; whether any were.
    pub fn clear_call(&self, q: u16) -> Result<bool, Error> {
        self.queue(q)?.call.drain().map_err(Error::Notifier)
    }

    /// Takes one completion from queue `q` if there is one, freeing its
    /// descriptors.
    pub fn poll_used(&mut self, q: u16) -> Result<Option<UsedElem>, Error> {
        self.poll_used_inner(q, true)
    }

    fn poll_used_inner(&mut self, q: u16, tracked: bool) -> Result<Option<UsedElem>, Error> {
        let queue = self
            .queues
            .get_mut(usize::from(q))
            .ok_or(Error::NoSuchQueue(q))?;
        let l = queue.layout;
        let used_idx = self
            .ram
            .read_u16(l.used + RING_IDX_OFFSET)
            .ok_or(Error::OutOfGuestMemory(0))?;
        if used_idx == queue.last_used {
            return Ok(None);
        }
        fence(Ordering::Acquire);
        let slot = u64::from(queue.last_used % l.size);
        let mut raw = [0u8; 8];
        self.ram
            .read(
                l.used + RING_ENTRIES_OFFSET + split::USED_ELEM_SIZE * slot,
                &mut raw,
            )
            .ok_or(Error::OutOfGuestMemory(0))?;
        let elem = UsedElem::from_le_bytes(raw);
        queue.last_used = queue.last_used.wrapping_add(1);
        if !tracked {
            return Ok(Some(elem));
        }
        let chain = queue
            .chains
            .get_mut(elem.id as usize)
            .map(std::mem::take)
            .filter(|c| !c.is_empty())
            .ok_or(Error::BadUsedId {
                queue: q,
                id: elem.id,
            })?;
        queue.free.extend(chain);
        Ok(Some(elem))
    }

    /// Whether queue `q` has a completion that [`Frontend::poll_used`]
    /// would return.
    pub fn used_pending(&self, q: u16) -> Result<bool, Error> {
        let queue = self.queue(q)?;
        let used_idx = self
            .ram
            .read_u16(queue.layout.used + RING_IDX_OFFSET)
            .ok_or(Error::OutOfGuestMemory(0))?;
        Ok(used_idx != queue.last_used)
    }

    /// Waits for the next completion on queue `q` (up to the timeout).
    pub fn wait_used(&mut self, q: u16) -> Result<UsedElem, Error> {
        self.wait_used_inner(q, true)
    }

    /// Like [`Frontend::wait_used`] for chains written by hand with
    /// [`Frontend::write_descriptor`]: no descriptor bookkeeping.
    pub fn wait_used_untracked(&mut self, q: u16) -> Result<UsedElem, Error> {
        self.wait_used_inner(q, false)
    }

    fn wait_used_inner(&mut self, q: u16, tracked: bool) -> Result<UsedElem, Error> {
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some(e) = self.poll_used_inner(q, tracked)? {
                return Ok(e);
            }
            if self.event_idx() {
                // `used_event` asks for the next completion only: ask for
                // it, then look once more before sleeping.
                self.set_interrupts(q, true)?;
                if let Some(e) = self.poll_used_inner(q, tracked)? {
                    return Ok(e);
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout(q));
            }
            // The notifier wakes us; the short cap only bounds the cost of
            // a lost wake-up, it does not pace anything.
            self.queue(q)?
                .call
                .wait_timeout(left.min(Duration::from_secs(1)))
                .map_err(Error::Notifier)?;
        }
    }

    /// Closes the connection (the back-end then accepts the next one).
    pub fn disconnect(self) {}

    /// Gives up the queues and guest memory, keeping only the connection.
    pub fn into_connection(self) -> Connection {
        self.conn
    }
}
