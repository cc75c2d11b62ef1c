//! One front-end connection: receiving messages, the dispatch `match`, and
//! serving the queues when their kick fds fire.

use crate::memory::GuestMemory;
use crate::poll::{Polling, Window};
use crate::queue::{
    drain_ring, fill_ring, poll_rings, want_fill_kicks, ChainBuf, UserAddrs, Vring,
};
use crate::worker::{Worker, WorkerError};
use crate::{Device, Error, QueueHandler};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use vu_protocol::msg::{ConfigHeader, VringAddr, VringState, U64};
use vu_protocol::virtio::features as vf;
use vu_protocol::{
    FrontendMsg, FrontendReq, Header, Limits, Pod, ProtocolFeatures, HEADER_SIZE,
    VHOST_USER_F_PROTOCOL_FEATURES,
};
use vu_sys::{
    Consumed, Direction, Notifier, NotifyReceiver, NotifySender, Poller, TerminationSignal, Waited,
};

const KEY_SOCKET: usize = 0;
const KEY_TERM: usize = 1;
/// A queue worker stopped on an error.
const KEY_WORKER: usize = 2;
const KEY_QUEUE0: usize = 3;
/// The device's wake fd (`Device::wake_fd`); above every queue's key.
const KEY_DEVICE: usize = usize::MAX - 1;

/// Protocol features the framework implements itself.
const BASE_PROTOCOL_FEATURES: ProtocolFeatures =
    ProtocolFeatures::MQ.union(ProtocolFeatures::REPLY_ACK);
/// Virtio features the framework implements itself.
const BASE_FEATURES: u64 = vf::VERSION_1 | vf::RING_INDIRECT_DESC | VHOST_USER_F_PROTOCOL_FEATURES;

/// The reply-ack value of a refused request (any non-zero value says so).
const NACK: u64 = 1;

/// Whether `e` is a refusal of a well-formed request that left the session
/// as it was, so that with `REPLY_ACK` it is answered with a non-zero
/// reply-ack and the connection goes on (the vhost-user specification:
/// "zero on success or non-zero on failure").
///
/// Everything else closes the connection even when the front-end asked for
/// a reply: a message that cannot be parsed (its framing, size or fds are
/// wrong, so nothing after it can be trusted), a broken ring or guest
/// memory, a ring address outside a new memory table (rings were already
/// re-translated), socket errors and worker failures. Without `REPLY_ACK`
/// and `NEED_REPLY` a refusal closes the connection too: silence would
/// read as success.
fn is_refusal(e: &Error) -> bool {
    matches!(
        e,
        Error::NoMemoryTable(_)
            | Error::NoQueueSize { .. }
            | Error::Map { .. }
            | Error::QueueTooLarge { .. }
            | Error::NoKickFd(_)
            | Error::Notifier(..)
            | Error::FeaturesNotOffered(_)
            | Error::ProtocolFeaturesNotOffered(_)
            | Error::NeedsProtocolFeatures(_)
            | Error::ConfigWriteRefused { .. }
            | Error::Unsupported(_)
            | Error::LoggingNotNegotiated(_)
    )
}

/// How a connection ended without error.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// The front-end closed the connection.
    Disconnected,
    /// SIGTERM or SIGINT arrived.
    Terminated,
}

/// A received, not yet parsed message.
struct Raw {
    header: Header,
    payload: Vec<u8>,
    fds: Vec<OwnedFd>,
}

pub(crate) struct Session<'d, D: Device> {
    device: &'d mut D,
    stream: UnixStream,
    poller: Poller,
    term: &'d TerminationSignal,
    mem: Option<Arc<GuestMemory>>,
    /// Ring state of each queue; a queue whose worker runs has a default
    /// placeholder here until the worker is stopped.
    vrings: Vec<Vring>,
    limits: Limits,
    acked_features: u64,
    /// A SET_PROTOCOL_FEATURES was received (the front-end uses the
    /// protocol features this back-end offered).
    protocol_features_set: bool,
    chain: ChainBuf,
    /// Queues whose last drain ran out of budget with requests left.
    pending: Vec<bool>,
    /// Whether each queue is served by a worker thread (the device handed
    /// out a handler), and the handler while no worker holds it.
    threaded: Vec<bool>,
    /// Whether each queue is filled by the device (`Device::fills`).
    fills: Vec<bool>,
    handlers: Vec<Option<Box<dyn QueueHandler>>>,
    /// Each threaded queue's worker, once started: running, or parked
    /// while the session holds the queue.
    workers: Vec<Option<Worker>>,
    /// Signalled by a worker that stopped on an error.
    exited: Notifier,
    /// How long workers and this loop poll their rings before sleeping.
    polling: Polling,
    /// This loop's polling window, over the queues it serves itself.
    window: Window,
    /// The device's wake fd is registered with the poller.
    watching_wake: bool,
}

impl<'d, D: Device> Session<'d, D> {
    pub(crate) fn new(
        device: &'d mut D,
        stream: UnixStream,
        term: &'d TerminationSignal,
        polling: Polling,
    ) -> io::Result<Self> {
        let poller = Poller::new()?;
        poller.add(stream.as_fd(), KEY_SOCKET)?;
        poller.add(term.fd(), KEY_TERM)?;
        let n = device.num_queues();
        let fills: Vec<bool> = (0..n).map(|q| device.fills(q)).collect();
        let handlers: Vec<Option<Box<dyn QueueHandler>>> = (0..n)
            .map(|q| {
                if fills[usize::from(q)] {
                    None
                } else {
                    device.queue_handler(q)
                }
            })
            .collect();
        let exited = Notifier::new()?;
        poller.add(exited.read_fd(), KEY_WORKER)?;
        let watching_wake = match device.wake_fd() {
            Some(fd) => {
                poller.add(fd, KEY_DEVICE)?;
                true
            }
            None => false,
        };
        Ok(Self {
            device,
            stream,
            poller,
            term,
            mem: None,
            vrings: (0..n).map(|_| Vring::default()).collect(),
            limits: Limits::new(u32::from(n)),
            acked_features: 0,
            protocol_features_set: false,
            chain: ChainBuf::default(),
            pending: vec![false; usize::from(n)],
            threaded: handlers.iter().map(Option::is_some).collect(),
            fills,
            handlers,
            workers: (0..n).map(|_| None).collect(),
            exited,
            polling,
            window: Window::new(polling),
            watching_wake,
        })
    }

    /// Serves the connection until it closes, fails, or a signal arrives.
    pub(crate) fn run(mut self) -> Result<End, Error> {
        let result = self.event_loop();
        // Workers end before the memory and the fds they use go away; an
        // error one of them hit is reported unless something else was.
        let stopped = self.stop_workers();
        // Their parked threads end here.
        self.workers.clear();
        // Deregister kick fds before they are closed with the session.
        for (v, &threaded) in self.vrings.iter().zip(&self.threaded) {
            if let (Some(k), false) = (&v.kick, threaded) {
                let _ = self.poller.remove(k.as_fd());
            }
        }
        let _ = self.poller.remove(self.exited.read_fd());
        self.stop_watching_wake();
        // A signal that ended a stalled send is a termination, not a failure.
        let result = match result {
            Err(Error::Terminated) => Ok(End::Terminated),
            r => r,
        };
        match (result, stopped) {
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) => Err(e),
            (Ok(end), Ok(())) => Ok(end),
        }
    }

    /// Stops every running worker and takes its queue state back; the
    /// first error a worker stopped with is returned (after all stopped).
    fn stop_workers(&mut self) -> Result<(), Error> {
        let mut first = Ok(());
        for q in 0..self.workers.len() {
            let Some(w) = self.workers[q].as_mut().filter(|w| w.running()) else {
                continue;
            };
            let stopped = w.stop();
            match stopped.vring {
                Some(v) => self.vrings[q] = v,
                // Its thread ended (a panic): a new one serves next time.
                None => self.workers[q] = None,
            }
            self.handlers[q] = stopped.handler;
            if let (Err(e), Ok(())) = (stopped.result, &first) {
                let queue = q as u16;
                first = Err(match e {
                    WorkerError::Queue(source) => Error::Queue { queue, source },
                    WorkerError::Io(source) => Error::Worker { queue, source },
                    WorkerError::Panicked => Error::WorkerPanicked(queue),
                    WorkerError::MemoryShrank(region) => Error::MemoryShrank(region),
                });
            }
        }
        first
    }

    /// Starts a worker for every threaded queue that is ready and has none.
    fn start_workers(&mut self) -> Result<(), Error> {
        let Some(mem) = &self.mem else { return Ok(()) };
        for q in 0..self.workers.len() {
            if !self.threaded[q]
                || self.workers[q].as_ref().is_some_and(Worker::running)
                || !self.vrings[q].ready()
            {
                continue;
            }
            // A handler lost to a panic leaves its queue unserved; the
            // panic already closed the connection that lost it.
            let Some(handler) = self.handlers[q].take() else {
                continue;
            };
            let queue = q as u16;
            let io = |source| Error::Worker { queue, source };
            let worker = match &mut self.workers[q] {
                Some(w) => w,
                slot => {
                    let exited = self.exited.write_fd().try_clone_to_owned().map_err(io)?;
                    slot.insert(Worker::spawn(queue, NotifySender::from_fd(exited)).map_err(io)?)
                }
            };
            let vring = std::mem::take(&mut self.vrings[q]);
            worker
                .start(vring, mem.clone(), handler, self.polling)
                .map_err(io)?;
        }
        Ok(())
    }

    /// After a worker signalled that it stopped on an error: joins them all
    /// (the signal comes just before the thread ends, so joining is the way
    /// to be sure) and returns the error, which closes the connection.
    fn check_workers(&mut self) -> Result<(), Error> {
        self.exited.drain().map_err(Error::Io)?;
        self.stop_workers()?;
        self.start_workers()
    }

    fn event_loop(&mut self) -> Result<End, Error> {
        let mut ready = Vec::new();
        loop {
            ready.clear();
            // With a queue left pending, only look for other work; else
            // poll the queues this loop serves before sleeping.
            let busy = self.pending.contains(&true) || self.poll_queues()?;
            let timeout = busy.then_some(std::time::Duration::ZERO);
            self.poller.wait(&mut ready, timeout).map_err(Error::Io)?;
            if self.term.requested() {
                return Ok(End::Terminated);
            }
            for &key in &ready {
                match key {
                    KEY_SOCKET => {
                        if let Some(end) = self.handle_message()? {
                            return Ok(end);
                        }
                    }
                    KEY_TERM => return Ok(End::Terminated),
                    KEY_WORKER => self.check_workers()?,
                    KEY_DEVICE => {
                        if !self.device.woken() {
                            self.stop_watching_wake();
                        }
                        for q in 0..self.fills.len() {
                            if self.fills[q] {
                                self.process_queue(q as u16)?;
                            }
                        }
                    }
                    k => {
                        let q = (k - KEY_QUEUE0) as u16;
                        let consumed = match self
                            .vrings
                            .get(usize::from(q))
                            .and_then(|v| v.kick.as_ref())
                        {
                            Some(kick) => kick.consume(),
                            None => Consumed::Nothing,
                        };
                        match consumed {
                            Consumed::Signalled => {
                                self.window.kicked();
                                self.process_queue(q)?
                            }
                            Consumed::Nothing => {}
                            Consumed::Closed(e) => self.drop_dead_kick(q, &e)?,
                        }
                    }
                }
            }
            // Continue the queues that ran out of budget, after the socket
            // and the other queues had their turn.
            if busy {
                for q in 0..self.pending.len() {
                    if self.pending[q] {
                        self.process_queue(q as u16)?;
                    }
                }
            }
            // Whatever touched guest memory in this round (rings, requests,
            // ring addresses) read zeroes where the front-end shrank a file.
            if let Some(region) = self.mem.as_ref().and_then(|m| m.shrunk_region()) {
                return Err(Error::MemoryShrank(region));
            }
        }
    }

    /// Deregisters the device's wake fd (its source ended, or the session
    /// does), before the device may close it.
    fn stop_watching_wake(&mut self) {
        if std::mem::take(&mut self.watching_wake) {
            if let Some(fd) = self.device.wake_fd() {
                let _ = self.poller.remove(fd);
            }
        }
    }

    /// Stops watching queue `q`'s kick fd, which can never signal again
    /// (end of file, hang-up or error): a level-triggered poller would
    /// report it readable forever. The queue is not served until a new
    /// `SET_VRING_KICK`.
    fn drop_dead_kick(&mut self, q: u16, why: &io::Error) -> Result<(), Error> {
        if let Some(kick) = self.vrings[usize::from(q)].kick.take() {
            self.poller.remove(kick.as_fd()).map_err(Error::Io)?;
        }
        self.pending[usize::from(q)] = false;
        crate::worker::log_dead_kick(q, why);
        Ok(())
    }

    /// Reads exactly `buf.len()` bytes, collecting any fds; `Ok(false)` on
    /// a clean end of stream before the first byte.
    fn recv_exact(&mut self, buf: &mut [u8], fds: &mut Vec<OwnedFd>) -> Result<Option<End>, Error> {
        let mut got = 0;
        while got < buf.len() {
            let r = match vu_sys::recv_with_fds(self.stream.as_fd(), &mut buf[got..]) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    if self.term.requested() {
                        return Ok(Some(End::Terminated));
                    }
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    match vu_sys::wait_io(self.stream.as_fd(), Direction::Read, self.term.fd())
                        .map_err(Error::Io)?
                    {
                        Waited::Ready => continue,
                        Waited::Cancelled => return Ok(Some(End::Terminated)),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset && got == 0 => {
                    return Ok(Some(End::Disconnected))
                }
                Err(e) => return Err(Error::Io(e)),
            };
            if r.fds_truncated {
                return Err(Error::TooManyFds);
            }
            fds.extend(r.fds);
            if fds.len() > vu_sys::MAX_RECV_FDS {
                return Err(Error::TooManyFds);
            }
            if r.len == 0 {
                return if got == 0 {
                    Ok(Some(End::Disconnected))
                } else {
                    Err(Error::TruncatedMessage)
                };
            }
            got += r.len;
        }
        Ok(None)
    }

    fn receive(&mut self) -> Result<Result<Raw, End>, Error> {
        let mut fds = Vec::new();
        let mut hbuf = [0u8; HEADER_SIZE];
        if let Some(end) = self.recv_exact(&mut hbuf, &mut fds)? {
            return Ok(Err(end));
        }
        let header = Header::read_from(&hbuf).unwrap_or_default();
        // Refuse bad versions and oversize payloads before reading them.
        header.validate()?;
        let mut payload = vec![0u8; header.size as usize];
        if let Some(end) = self.recv_exact(&mut payload, &mut fds)? {
            return match end {
                End::Disconnected => Err(Error::TruncatedMessage),
                End::Terminated => Ok(Err(end)),
            };
        }
        Ok(Ok(Raw {
            header,
            payload,
            fds,
        }))
    }

    fn send(&mut self, header: Header, body: &[u8]) -> Result<(), Error> {
        let mut out = Vec::with_capacity(HEADER_SIZE + body.len());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(body);
        // The socket is non-blocking: a front-end that does not read its
        // replies stalls this send, and only until a termination signal.
        let mut sent = 0;
        while sent < out.len() {
            match vu_sys::send_with_fds(self.stream.as_fd(), &out[sent..], &[]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    match vu_sys::wait_io(self.stream.as_fd(), Direction::Write, self.term.fd())
                        .map_err(Error::Io)?
                    {
                        Waited::Ready => {}
                        Waited::Cancelled => return Err(Error::Terminated),
                    }
                }
                Err(e) => return Err(Error::Io(e)),
            }
        }
        Ok(())
    }

    fn reply_u64(&mut self, req: &Header, value: u64) -> Result<(), Error> {
        self.send(req.reply(8), U64 { value }.as_bytes())
    }

    fn offered_features(&self) -> u64 {
        self.device.features() | BASE_FEATURES
    }

    fn offered_protocol_features(&self) -> ProtocolFeatures {
        self.device.protocol_features() | BASE_PROTOCOL_FEATURES
    }

    fn protocol_features_negotiated(&self) -> bool {
        self.acked_features & VHOST_USER_F_PROTOCOL_FEATURES != 0
    }

    fn vring(&mut self, index: u32) -> &mut Vring {
        // Indexes were checked against the queue count by the parser.
        &mut self.vrings[index as usize]
    }

    /// Receives one message and acts on it; `Some` when the connection ends.
    fn handle_message(&mut self) -> Result<Option<End>, Error> {
        let raw = match self.receive()? {
            Ok(raw) => raw,
            Err(end) => return Ok(Some(end)),
        };
        let hdr = raw.header;
        let msg = FrontendMsg::parse(&hdr, &raw.payload, raw.fds.len(), &self.limits)?;
        log::debug!("{msg:?}");
        // Anything but a pure query may touch a queue or guest memory: the
        // workers hand their state back first, and restart at the end.
        let query = matches!(
            msg,
            FrontendMsg::GetFeatures
                | FrontendMsg::GetProtocolFeatures
                | FrontendMsg::GetQueueNum
                | FrontendMsg::GetConfig(_)
        );
        if !query {
            self.stop_workers()?;
        }
        let request = hdr.request;
        let result = self.dispatch(&hdr, msg, raw.fds);
        self.start_workers()?;
        let reply_ack = hdr.need_reply()
            && self
                .limits
                .protocol_features
                .contains(ProtocolFeatures::REPLY_ACK);
        match result {
            // Requests with a reply of their own never get an ack.
            Ok(ack) => {
                if ack && reply_ack {
                    self.reply_u64(&hdr, 0)?;
                }
            }
            // A refusal that changed nothing, and the front-end asked how
            // the request went: say it failed, and go on.
            Err(e) if reply_ack && is_refusal(&e) => {
                let name = FrontendReq::from_code(request)
                    .map_or_else(|| request.to_string(), |r| format!("{r:?}"));
                log::warn!(
                    "refusing {name} (non-zero reply-ack): {}",
                    crate::server::error_chain(&e)
                );
                self.reply_u64(&hdr, NACK)?;
            }
            // Anything else, or no way to tell the front-end: close.
            Err(e) => return Err(e),
        }
        Ok(None)
    }

    /// Acts on one parsed message; `Ok(true)` when a reply-ack is owed
    /// (the request has no reply of its own). An error that
    /// [`is_refusal`] accepts has changed nothing.
    fn dispatch(
        &mut self,
        hdr: &Header,
        msg: FrontendMsg,
        fds: Vec<OwnedFd>,
    ) -> Result<bool, Error> {
        let hdr = *hdr;
        let mut fds = fds.into_iter();
        let mut ack = true;
        match msg {
            FrontendMsg::GetFeatures => {
                ack = false;
                let f = self.offered_features();
                self.reply_u64(&hdr, f)?;
            }
            FrontendMsg::SetFeatures(f) => {
                let extra = f & !self.offered_features();
                if extra != 0 {
                    return Err(Error::FeaturesNotOffered(extra));
                }
                self.acked_features = f;
                self.device.set_features(f);
                // Without protocol features, rings start enabled.
                let enabled = !self.protocol_features_negotiated();
                let event_idx = f & vf::RING_EVENT_IDX != 0;
                for v in &mut self.vrings {
                    v.enabled |= enabled;
                    v.event_idx = event_idx;
                }
            }
            FrontendMsg::SetOwner => {}
            FrontendMsg::ResetOwner => {
                for v in &mut self.vrings {
                    v.enabled = false;
                }
            }
            FrontendMsg::GetProtocolFeatures => {
                ack = false;
                let f = self.offered_protocol_features();
                self.reply_u64(&hdr, f.bits())?;
            }
            FrontendMsg::SetProtocolFeatures(f) => {
                let extra = f & !self.offered_protocol_features().bits();
                if extra != 0 {
                    return Err(Error::ProtocolFeaturesNotOffered(extra));
                }
                self.limits.protocol_features = ProtocolFeatures(f);
                self.protocol_features_set = true;
            }
            FrontendMsg::GetQueueNum => {
                ack = false;
                let n = self.device.num_queues();
                self.reply_u64(&hdr, n.into())?;
            }
            FrontendMsg::SetMemTable(regions) => {
                let mem = GuestMemory::map(&regions, fds.by_ref().collect())?;
                for (i, v) in self.vrings.iter_mut().enumerate() {
                    if !v.translate(&mem) {
                        return Err(Error::RingAddress(i as u32));
                    }
                }
                // The old mappings are unmapped here (no worker holds them).
                self.mem = Some(Arc::new(mem));
            }
            FrontendMsg::SetVringNum(s) => {
                let max = self.device.max_queue_size();
                if s.num > u32::from(max) {
                    return Err(Error::QueueTooLarge {
                        queue: s.index,
                        size: s.num,
                        max,
                    });
                }
                let v = &mut self.vrings[s.index as usize];
                v.size = s.num as u16;
                // Ring addresses were checked against the old size.
                if let Some(mem) = &self.mem {
                    if !v.translate(mem) {
                        return Err(Error::RingAddress(s.index));
                    }
                }
            }
            FrontendMsg::SetVringAddr(a) => {
                let Some(mem) = &self.mem else {
                    return Err(Error::NoMemoryTable(FrontendReq::SetVringAddr));
                };
                if a.flags & VringAddr::F_LOG != 0 {
                    return Err(Error::LoggingNotNegotiated(a.index));
                }
                let v = &mut self.vrings[a.index as usize];
                if v.size == 0 {
                    return Err(Error::NoQueueSize {
                        req: FrontendReq::SetVringAddr,
                        queue: a.index,
                    });
                }
                v.user = Some(UserAddrs {
                    desc: a.desc_user_addr,
                    avail: a.avail_user_addr,
                    used: a.used_user_addr,
                });
                if !v.translate(mem) {
                    return Err(Error::RingAddress(a.index));
                }
                v.signalled_used = None;
                // Resume where the used ring says the driver was.
                if let Some(r) = v.addrs {
                    v.used_idx = mem
                        .read_u16(r.used + 2)
                        .ok_or(Error::RingAddress(a.index))?;
                }
            }
            FrontendMsg::SetVringBase(s) => {
                let v = self.vring(s.index);
                v.last_avail = s.num as u16;
                v.used_idx = s.num as u16;
                v.signalled_used = None;
            }
            FrontendMsg::GetVringBase(s) => {
                ack = false;
                // Stops the ring: no kick is served until a new one is set.
                let q = s.index as usize;
                if let Some(kick) = self.vrings[q].kick.take() {
                    if !self.threaded[q] {
                        self.poller.remove(kick.as_fd()).map_err(Error::Io)?;
                    }
                }
                let v = self.vring(s.index);
                v.call = None;
                let body = VringState {
                    index: s.index,
                    num: v.last_avail.into(),
                };
                self.send(hdr.reply(VringState::SIZE as u32), body.as_bytes())?;
            }
            FrontendMsg::SetVringKick(k) => {
                if self.mem.is_none() {
                    return Err(Error::NoMemoryTable(FrontendReq::SetVringKick));
                }
                let fd = match (k.has_fd, fds.next()) {
                    (true, Some(fd)) => fd,
                    _ => return Err(Error::NoKickFd(k.index)),
                };
                let kick = NotifyReceiver::from_fd(fd).map_err(|e| Error::Notifier(k.index, e))?;
                // A threaded queue's kick is waited on by its worker.
                let threaded = self.threaded[k.index as usize];
                if let Some(old) = self.vrings[k.index as usize].kick.take() {
                    if !threaded {
                        self.poller.remove(old.as_fd()).map_err(Error::Io)?;
                    }
                }
                if !threaded {
                    self.poller
                        .add(kick.as_fd(), KEY_QUEUE0 + k.index as usize)
                        .map_err(Error::Io)?;
                }
                self.vring(k.index).kick = Some(kick);
                // Buffers may already be waiting.
                self.process_queue(k.index as u16)?;
            }
            FrontendMsg::SetVringCall(c) => {
                let call = if c.has_fd {
                    fds.next().map(NotifySender::from_peer).transpose()
                } else {
                    Ok(None)
                };
                let v = self.vring(c.index);
                v.call = call.map_err(|e| Error::Notifier(c.index, e))?;
                // A new call fd has missed nothing: the next completion is
                // signalled whatever the driver's `used_event` says.
                v.signalled_used = None;
            }
            FrontendMsg::SetVringErr(c) => {
                let err = if c.has_fd {
                    fds.next().map(NotifySender::from_peer).transpose()
                } else {
                    Ok(None)
                };
                self.vring(c.index).err = err.map_err(|e| Error::Notifier(c.index, e))?;
            }
            FrontendMsg::SetVringEnable(s) => {
                // QEMU's vhost-user-net enables rings as soon as the
                // protocol features are set, before SET_FEATURES (it goes
                // by the bit this back-end offered): a SET_PROTOCOL_FEATURES
                // already received counts as the bit negotiated.
                if !self.protocol_features_negotiated() && !self.protocol_features_set {
                    return Err(Error::NeedsProtocolFeatures(FrontendReq::SetVringEnable));
                }
                self.vring(s.index).enabled = s.num == 1;
                if s.num == 1 {
                    self.process_queue(s.index as u16)?;
                }
            }
            FrontendMsg::GetConfig(h) => {
                ack = false;
                let mut buf = vec![0u8; h.size as usize];
                let ok = self.device.read_config(h.offset, &mut buf);
                let mut body = Vec::with_capacity(ConfigHeader::SIZE + buf.len());
                // A zero-length payload tells the front-end the read failed.
                if ok {
                    body.extend_from_slice(h.as_bytes());
                    body.extend_from_slice(&buf);
                }
                self.send(hdr.reply(body.len() as u32), &body)?;
            }
            FrontendMsg::SetConfig(h, data) => {
                if !self.device.write_config(h.offset, &data) {
                    return Err(Error::ConfigWriteRefused {
                        offset: h.offset,
                        len: h.size,
                    });
                }
            }
            other => {
                log::debug!("refusing {other:?}");
                return Err(FrontendReq::from_code(hdr.request).map_or(
                    Error::Protocol(vu_protocol::ProtocolError::UnknownRequest(hdr.request)),
                    Error::Unsupported,
                ));
            }
        }
        Ok(ack)
    }

    /// Serves the requests available on queue `q`, at most one ring's worth
    /// (then the queue is left pending and the event loop comes back to it
    /// after looking at the socket and the other queues), signalling the
    /// call fd as `drain_ring` decides.
    fn process_queue(&mut self, q: u16) -> Result<(), Error> {
        if self.threaded.get(usize::from(q)) != Some(&false) {
            // Served by its worker (started after the current message).
            return Ok(());
        }
        let Some(pending) = self.pending.get_mut(usize::from(q)) else {
            return Ok(());
        };
        *pending = false;
        let Some(mem) = &self.mem else { return Ok(()) };
        let Some(v) = self.vrings.get_mut(usize::from(q)) else {
            return Ok(());
        };
        if !v.ready() {
            return Ok(());
        }
        let device = &mut *self.device;
        if self.fills[usize::from(q)] {
            let queue_error = |source| Error::Queue { queue: q, source };
            fill_ring(mem, v, &mut self.chain, |filler| device.fill(q, filler))
                .map_err(queue_error)?;
            // Buffers added while kicks were being asked for: fill again
            // after the socket and the other queues had their turn.
            *pending = want_fill_kicks(mem, v).map_err(queue_error)?;
            return device.fault().map_or(Ok(()), |e| Err(Error::Device(e)));
        }
        let budget = u32::from(v.size);
        let drained = drain_ring(mem, v, &mut self.chain, budget, |request| {
            device.process(q, request)
        })
        .map_err(|source| Error::Queue { queue: q, source })?;
        *pending = drained.more;
        if !drained.more {
            self.window.idle();
        }
        device.fault().map_or(Ok(()), |e| Err(Error::Device(e)))
    }

    /// Polls the ready queues this loop serves (not the workers') for the
    /// current window; those with requests are marked pending. The socket
    /// and the signal wait meanwhile: at most one window.
    fn poll_queues(&mut self) -> Result<bool, Error> {
        let Some(mem) = &self.mem else {
            return Ok(false);
        };
        let (threaded, fills, vrings) = (&self.threaded, &self.fills, &self.vrings);
        let served = |q: usize| !threaded[q] && !fills[q] && vrings[q].ready();
        let found = poll_rings(mem, vrings, served, &mut self.window, || false).map_err(
            |(q, source)| Error::Queue {
                queue: q as u16,
                source,
            },
        )?;
        if found {
            for q in 0..self.pending.len() {
                self.pending[q] = served(q);
            }
        }
        Ok(found)
    }
}
