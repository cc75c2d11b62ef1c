//! The virtio-input device on the framework: config space, event queue fed
//! from a [`Source`], status queue checked and logged.

use crate::config::{ConfigSpace, Profile};
use crate::source::Source;
use std::collections::VecDeque;
use std::os::fd::BorrowedFd;
use vu_backend::{Device, Filler, Request};
use vu_protocol::virtio::input::{ev, Event, EVENT_QUEUE, STATUS_QUEUE};
use vu_protocol::ProtocolFeatures;

/// Most events kept for a driver that is not taking them (no buffers
/// posted): beyond it, new events are dropped, as a real keyboard's are
/// when nobody reads them.
pub const MAX_PENDING: usize = 4096;

/// Why a status-queue request is malformed, or `None` when it is one valid
/// event; exposed for the fuzz target.
pub fn check_status(
    readable: usize,
    writable: usize,
    bytes: &[u8; Event::SIZE],
) -> Result<Event, String> {
    if readable != Event::SIZE {
        return Err(format!(
            "status request of {readable} readable bytes, not one {}-byte event",
            Event::SIZE
        ));
    }
    if writable != 0 {
        return Err(format!("status request with {writable} writable bytes"));
    }
    let e = Event::from_le_bytes(*bytes);
    if e.kind > ev::MAX {
        return Err(format!(
            "status event of type {}, above {}",
            e.kind,
            ev::MAX
        ));
    }
    Ok(e)
}

/// The device: what it is, the driver's config selection, the events not
/// yet delivered, and where events come from.
pub struct InputDevice {
    profile: Profile,
    config: ConfigSpace,
    pending: VecDeque<Event>,
    source: Source,
    /// Status events received, by the last connection (tests, logging).
    pub status_seen: u64,
}

impl InputDevice {
    pub fn new(profile: Profile, source: Source) -> Self {
        let mut d = Self {
            profile,
            config: ConfigSpace::default(),
            pending: VecDeque::new(),
            source,
            status_seen: 0,
        };
        d.reset();
        d
    }

    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    fn queue_events(&mut self, events: impl IntoIterator<Item = Event>) {
        for e in events {
            if self.pending.len() >= MAX_PENDING {
                log::warn!("{MAX_PENDING} events not taken by the driver: dropping new ones");
                return;
            }
            if !self.profile.supports(e.kind, e.code) {
                log::warn!(
                    "dropping event type {} code {}: not in the device's capabilities",
                    e.kind,
                    e.code
                );
                continue;
            }
            self.pending.push_back(e);
        }
    }

    /// Events waiting for a driver buffer.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The events waiting, oldest first.
    pub fn pending_events(&self) -> impl Iterator<Item = &Event> {
        self.pending.iter()
    }

    fn status(&mut self, request: &mut Request<'_>) {
        let mut bytes = [0u8; Event::SIZE];
        let readable = request.reader.remaining();
        let writable = request.writer.remaining();
        if readable == Event::SIZE {
            request.reader.read_exact(&mut bytes);
        }
        match check_status(readable, writable, &bytes) {
            Ok(e) => {
                self.status_seen += 1;
                log::info!(
                    "status event: type {} code {} value {}",
                    e.kind,
                    e.code,
                    e.value as i32
                );
            }
            Err(why) => request.reject(why),
        }
    }
}

impl Device for InputDevice {
    fn num_queues(&self) -> u16 {
        2
    }

    fn features(&self) -> u64 {
        0
    }

    fn protocol_features(&self) -> ProtocolFeatures {
        ProtocolFeatures::CONFIG
    }

    fn read_config(&self, offset: u32, buf: &mut [u8]) -> bool {
        self.config.read(&self.profile, offset, buf)
    }

    fn write_config(&mut self, offset: u32, data: &[u8]) -> bool {
        self.config.write(offset, data)
    }

    fn process(&mut self, queue: u16, request: &mut Request<'_>) {
        match queue {
            STATUS_QUEUE => self.status(request),
            // The event queue is filled (`fill`), never processed.
            _ => request.reject(format!("no queue {queue}")),
        }
    }

    fn wake_fd(&self) -> Option<BorrowedFd<'_>> {
        self.source.fd()
    }

    fn woken(&mut self) -> bool {
        let mut events = Vec::new();
        let open = self.source.read(&mut events);
        self.queue_events(events);
        open
    }

    fn fills(&self, queue: u16) -> bool {
        queue == EVENT_QUEUE
    }

    /// One event per posted buffer, while both last; a buffer waits in the
    /// ring while no event does.
    fn fill(&mut self, queue: u16, filler: &mut Filler<'_>) {
        if queue != EVENT_QUEUE {
            return;
        }
        while let Some(e) = self.pending.front() {
            let (Some(readable), Some(room)) = (filler.readable(0), filler.room(0)) else {
                return;
            };
            if readable != 0 {
                return filler.reject("event buffer with device-readable bytes");
            }
            if room < Event::SIZE {
                return filler.reject(format!(
                    "event buffer of {room} bytes, shorter than an event"
                ));
            }
            let bytes = e.to_le_bytes();
            if filler
                .fill_next(|w| {
                    w.write(&bytes);
                })
                .is_none()
            {
                return;
            }
            self.pending.pop_front();
        }
    }

    fn reset(&mut self) {
        self.config.reset();
        self.pending.clear();
        self.status_seen = 0;
        let replay = self.source.replay().to_vec();
        self.queue_events(replay);
    }
}
