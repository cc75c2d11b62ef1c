//! A front-end's port: the virtio-net device one connection sees.
//!
//! Queue 0 receives, queue 1 transmits (one queue pair: `MQ` is not
//! offered). A transmitted frame is checked and handed to the switch; a
//! frame the switch delivers waits in the port's inbox (bounded:
//! [`INBOX_FRAMES`], [`INBOX_BYTES`]; a full inbox drops) until the receive
//! queue has room, and the port's notifier wakes the connection's session
//! to put it there.

use crate::switch::{PortId, Switch, MAX_FRAME, MIN_FRAME};
use std::collections::VecDeque;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use vu_backend::{Device, Filler, Request, Writer};
use vu_protocol::virtio::features as vf;
use vu_protocol::virtio::net::{features as nf, gso, NetHeader};
use vu_sys::Notifier;

/// The receive queue.
pub const RX: u16 = 0;
/// The transmit queue.
pub const TX: u16 = 1;
/// Frames a port holds for a guest that has no receive buffers.
pub const INBOX_FRAMES: usize = 256;
/// Bytes a port holds for a guest that has no receive buffers.
pub const INBOX_BYTES: usize = 4 << 20;

/// Why a transmitted frame closes the connection: nothing a driver that
/// negotiated our features may send.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("transmit chain of {len} readable bytes is shorter than the {hdr}-byte header")]
    ShortHeader { len: usize, hdr: usize },
    #[error("header asks for an offload that was not negotiated (flags {flags:#x}, gso_type {gso_type:#x})")]
    Offload { flags: u8, gso_type: u8 },
    #[error("frame of {0} bytes is shorter than an Ethernet header")]
    Runt(usize),
    #[error("frame of {len} bytes is longer than {max}")]
    Oversized { len: usize, max: usize },
    #[error("mergeable receive buffer of {len} bytes cannot hold the {hdr}-byte header")]
    TinyRxBuffer { len: usize, hdr: usize },
}

/// Checks a transmit header; the frame's length is checked separately.
pub fn check_tx_header(h: &NetHeader) -> Result<(), FrameError> {
    if h.flags != 0 || h.gso_type != gso::NONE {
        return Err(FrameError::Offload {
            flags: h.flags,
            gso_type: h.gso_type,
        });
    }
    Ok(())
}

/// Checks a frame's length.
pub fn check_frame_len(len: usize) -> Result<(), FrameError> {
    if len < MIN_FRAME {
        return Err(FrameError::Runt(len));
    }
    if len > MAX_FRAME {
        return Err(FrameError::Oversized {
            len,
            max: MAX_FRAME,
        });
    }
    Ok(())
}

/// Frames waiting for a guest's receive buffers.
#[derive(Debug, Default)]
struct Inbox {
    frames: VecDeque<Vec<u8>>,
    bytes: usize,
}

/// The switch's side of a front-end's port.
#[derive(Debug)]
pub struct GuestPort {
    inbox: Mutex<Inbox>,
    wake: Notifier,
    dropped: AtomicU64,
}

impl GuestPort {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn pop(&self) -> Option<Vec<u8>> {
        let mut inbox = self.lock();
        let f = inbox.frames.pop_front()?;
        inbox.bytes -= f.len();
        Some(f)
    }

    /// Puts back a frame that did not fit yet, first in line again.
    fn unpop(&self, f: Vec<u8>) {
        let mut inbox = self.lock();
        inbox.bytes += f.len();
        inbox.frames.push_front(f);
    }

    fn clear(&self) {
        let mut inbox = self.lock();
        inbox.frames.clear();
        inbox.bytes = 0;
    }

    /// Frames dropped because the inbox was full or a frame could never fit.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl crate::switch::Port for GuestPort {
    fn deliver(&self, frame: &[u8]) {
        {
            let mut inbox = self.lock();
            if inbox.frames.len() >= INBOX_FRAMES || inbox.bytes + frame.len() > INBOX_BYTES {
                drop(inbox);
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            inbox.bytes += frame.len();
            inbox.frames.push_back(frame.to_vec());
            // Only the first frame wakes the session: it fills until the
            // inbox is empty (or the ring full, and then the driver's kick
            // for new buffers brings it back), so a wake-up per frame
            // would only cost a system call each.
            if inbox.frames.len() > 1 {
                return;
            }
        }
        // A failed wake-up leaves the frame for the next kick or wake-up.
        let _ = self.wake.notify();
    }
}

/// The virtio-net device of one connection, attached to the switch for as
/// long as it lives.
pub struct NetPort {
    switch: Arc<Switch>,
    port: Arc<GuestPort>,
    id: PortId,
    /// Header bytes in front of every frame (10 for a legacy driver
    /// without mergeable buffers, else 12).
    hdr_len: usize,
    mergeable: bool,
    frame: Vec<u8>,
    targets: Vec<Arc<dyn crate::switch::Port>>,
    fault: Option<FrameError>,
}

impl std::fmt::Debug for NetPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetPort")
            .field("id", &self.id)
            .field("hdr_len", &self.hdr_len)
            .field("mergeable", &self.mergeable)
            .finish()
    }
}

impl NetPort {
    /// A new port on `switch`.
    pub fn attach(switch: Arc<Switch>) -> std::io::Result<Self> {
        let port = Arc::new(GuestPort {
            inbox: Mutex::new(Inbox::default()),
            wake: Notifier::new()?,
            dropped: AtomicU64::new(0),
        });
        let id = switch.attach(port.clone());
        Ok(Self {
            switch,
            port,
            id,
            hdr_len: NetHeader::SIZE,
            mergeable: false,
            frame: Vec::new(),
            targets: Vec::new(),
            fault: None,
        })
    }

    pub fn id(&self) -> PortId {
        self.id
    }

    /// The switch's side of this port.
    pub fn guest_port(&self) -> &Arc<GuestPort> {
        &self.port
    }

    /// Reads one transmitted frame from `reader`-side bytes and forwards it.
    fn transmit(&mut self, request: &mut Request<'_>) -> Result<(), FrameError> {
        let total = request.reader.remaining();
        let mut raw = [0u8; NetHeader::SIZE];
        let raw = &mut raw[..self.hdr_len];
        if !request.reader.read_exact(raw) {
            return Err(FrameError::ShortHeader {
                len: total,
                hdr: self.hdr_len,
            });
        }
        // 10 or 12 bytes were read: the header always decodes.
        let header = NetHeader::from_le_bytes(raw).unwrap_or_default();
        check_tx_header(&header)?;
        let len = request.reader.remaining();
        check_frame_len(len)?;
        self.frame.resize(len, 0);
        request.reader.read(&mut self.frame);
        self.switch.forward(self.id, &self.frame, &mut self.targets);
        Ok(())
    }
}

impl Drop for NetPort {
    fn drop(&mut self) {
        self.switch.detach(self.id);
    }
}

/// Writes `parts` (the header, then the frame) from `*at` on into `w`, as
/// much as fits; advances `*at`.
fn write_parts(w: &mut Writer<'_>, parts: [&[u8]; 2], at: &mut usize) {
    let mut skip = *at;
    for p in parts {
        if skip >= p.len() {
            skip -= p.len();
            continue;
        }
        let n = w.write(&p[skip..]);
        *at += n;
        skip = 0;
        if w.remaining() == 0 {
            return;
        }
    }
}

/// How one frame went into the receive queue.
enum Placed {
    Done,
    /// Not enough buffers now; try again when the driver adds some.
    Wait,
    /// It can never fit (larger than the whole ring, or than a buffer
    /// without mergeable buffers): dropped.
    Never,
    /// The driver broke a rule (the connection closes).
    Fault(FrameError),
}

impl NetPort {
    fn place(&self, filler: &mut Filler<'_>, frame: &[u8]) -> Placed {
        let need = self.hdr_len + frame.len();
        let mut header = NetHeader {
            num_buffers: 1,
            ..NetHeader::default()
        }
        .to_le_bytes();
        let count = if self.mergeable {
            let (mut room, mut n) = (0usize, 0u16);
            while room < need {
                match filler.room(n) {
                    // Every mergeable buffer must hold a header (virtio
                    // 1.x, 5.1.6.3.1).
                    Some(r) if r < self.hdr_len => {
                        return Placed::Fault(FrameError::TinyRxBuffer {
                            len: r,
                            hdr: self.hdr_len,
                        })
                    }
                    Some(r) => room += r,
                    None if n >= filler.queue_size() => return Placed::Never,
                    None => return Placed::Wait,
                }
                n += 1;
            }
            n
        } else {
            match filler.room(0) {
                Some(r) if r >= need => 1,
                Some(_) => return Placed::Never,
                None => return Placed::Wait,
            }
        };
        header[10..12].copy_from_slice(&count.to_le_bytes());
        let parts = [&header[..self.hdr_len], frame];
        let mut at = 0;
        for _ in 0..count {
            if filler
                .fill_next(|w| write_parts(w, parts, &mut at))
                .is_none()
            {
                // Broken chain: the session closes the connection.
                return Placed::Done;
            }
        }
        filler.publish();
        Placed::Done
    }
}

impl Device for NetPort {
    fn num_queues(&self) -> u16 {
        2
    }

    fn max_queue_size(&self) -> u16 {
        1024
    }

    fn features(&self) -> u64 {
        nf::MRG_RXBUF
    }

    fn set_features(&mut self, features: u64) {
        self.mergeable = features & nf::MRG_RXBUF != 0;
        self.hdr_len = if self.mergeable || features & vf::VERSION_1 != 0 {
            NetHeader::SIZE
        } else {
            NetHeader::LEGACY_SIZE
        };
    }

    fn process(&mut self, queue: u16, request: &mut Request<'_>) {
        if queue != TX || self.fault.is_some() {
            return;
        }
        if let Err(e) = self.transmit(request) {
            self.fault = Some(e);
        }
    }

    fn wake_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.port.wake.read_fd())
    }

    fn woken(&mut self) -> bool {
        let _ = self.port.wake.drain();
        true
    }

    fn fills(&self, queue: u16) -> bool {
        queue == RX
    }

    fn fill(&mut self, queue: u16, filler: &mut Filler<'_>) {
        if queue != RX {
            return;
        }
        while let Some(frame) = self.port.pop() {
            match self.place(filler, &frame) {
                Placed::Done => {}
                Placed::Wait => {
                    self.port.unpop(frame);
                    return;
                }
                Placed::Fault(e) => {
                    self.fault = Some(e);
                    return;
                }
                Placed::Never => {
                    self.port.dropped.fetch_add(1, Ordering::Relaxed);
                    log::debug!(
                        "port {}: dropped a {}-byte frame larger than the receive buffers",
                        self.id,
                        frame.len()
                    );
                }
            }
        }
    }

    fn fault(&mut self) -> Option<Box<dyn std::error::Error + Send + Sync>> {
        self.fault.take().map(|e| Box::new(e) as _)
    }

    fn reset(&mut self) {
        self.port.clear();
        self.fault = None;
        self.mergeable = false;
        self.hdr_len = NetHeader::SIZE;
    }
}
