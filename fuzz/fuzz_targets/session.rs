//! Stateful fuzzing of a live session: a sequence of front-end messages,
//! with real fds attached, against `vu_backend::serve`, the very loop a
//! back-end program runs, serving a connected socket. The memory and fds
//! the inputs send are made once per process and reset between inputs, so
//! an input costs its session, not the set-up of a front-end's world.
//!
//! Each input is a set-up prefix of a fuzzer-chosen length (the handshake a
//! well-behaved front-end performs: features, protocol features with
//! `REPLY_ACK`, a memory table of a 1 MiB region and a sparse 1 GiB one,
//! two queues with call and kick fds), then mutations: well-formed messages
//! with fuzzer-chosen fields (ring sizes, addresses, bases, memory tables,
//! fds that are dead, full, devices or files), raw messages, and writes of
//! descriptors and available-ring entries into guest memory. Queues are
//! served on the event loop or, by a flag, on worker threads.
//!
//! Everything is sent before the session runs (the guest memory is final
//! by then), the front-end's end is half-closed, and `serve` must return.
//! It runs on the fuzzing thread: a back-end on a thread of its own would
//! cost two thread hand-offs per input and free a session's memory after
//! the input ended, which sets off libFuzzer's leak check. Oracles,
//! besides "no crash, no hang": the work done is bounded by the messages
//! sent times the queue sizes; every reply answers a request that was sent,
//! in order; and a `SET_VRING_ADDR` asking for logging (never offered) is
//! never acked as success.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use vu_backend::{serve, Device, Listener, QueueHandler, Request};
use vu_protocol::msg::{encode_mem_table, ConfigHeader, MemoryRegion, VringAddr, VringState};
use vu_protocol::virtio::features as vf;
use vu_protocol::virtio::split::{self, Descriptor};
use vu_protocol::{
    FrontendReq, Header, Pod, ProtocolFeatures, HEADER_SIZE, VHOST_USER_F_PROTOCOL_FEATURES,
};
use vu_sys::{Notifier, SharedMemory};

const QUEUES: u16 = 2;
const QUEUE_SIZE: u16 = 256;
const RAM0_GPA: u64 = 0x10_0000;
const RAM0: u64 = 1 << 20;
const RAM0_USER: u64 = 0x7000_0000_0000;
const RAM1_GPA: u64 = 0x1_0000_0000;
/// Sparse: never written by the harness, only by the device.
const RAM1: u64 = 1 << 30;
const RAM1_USER: u64 = 0x7100_0000_0000;
/// Bytes a request may read or write at most (the device's own cap). A
/// page: this target is about message sequences, and copying 64 KiB each
/// way per request took a sixth of its time; reading and writing across
/// descriptors at any length is `descriptor_chain`'s to fuzz.
const MAX_IO: usize = 4 << 10;
/// Mutations per input (their replies must fit the socket buffer, since
/// nothing reads them until the session ends).
const MAX_OPS: usize = 48;

/// Requests served, by every device instance (workers included).
static SERVED: AtomicU64 = AtomicU64::new(0);

fn io(req: &mut Request<'_>) {
    let mut buf = [0u8; 4096];
    let mut left = MAX_IO;
    while left > 0 {
        let n = req.reader.read(&mut buf[..left.min(4096)]);
        if n == 0 {
            break;
        }
        left -= n;
    }
    let n = req.writer.remaining().min(MAX_IO);
    let mut done = 0;
    while done < n {
        let w = req.writer.write(&buf[..(n - done).min(4096)]);
        if w == 0 {
            break;
        }
        done += w;
    }
    SERVED.fetch_add(1, Ordering::Relaxed);
}

struct Handler;

impl QueueHandler for Handler {
    fn process(&mut self, request: &mut Request<'_>) {
        io(request);
    }
}

/// A device that reads what it is given and fills what it may write.
struct Echo {
    threaded: bool,
    config: [u8; 16],
}

impl Device for Echo {
    fn num_queues(&self) -> u16 {
        QUEUES
    }
    fn max_queue_size(&self) -> u16 {
        1024
    }
    fn features(&self) -> u64 {
        0
    }
    fn protocol_features(&self) -> ProtocolFeatures {
        ProtocolFeatures::CONFIG
    }
    fn read_config(&self, offset: u32, buf: &mut [u8]) -> bool {
        let Some(src) = (offset as usize)
            .checked_add(buf.len())
            .and_then(|end| self.config.get(offset as usize..end))
        else {
            return false;
        };
        buf.copy_from_slice(src);
        true
    }
    fn write_config(&mut self, offset: u32, data: &[u8]) -> bool {
        match (offset as usize)
            .checked_add(data.len())
            .and_then(|end| self.config.get_mut(offset as usize..end))
        {
            Some(dst) => {
                dst.copy_from_slice(data);
                true
            }
            None => false,
        }
    }
    fn process(&mut self, _queue: u16, request: &mut Request<'_>) {
        io(request);
    }
    fn queue_handler(&mut self, _queue: u16) -> Option<Box<dyn QueueHandler>> {
        self.threaded
            .then(|| Box::new(Handler) as Box<dyn QueueHandler>)
    }
}

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
    fn u8(&mut self) -> u8 {
        self.bytes(1).first().copied().unwrap_or(0)
    }
    fn u16(&mut self) -> u16 {
        let b = self.bytes(2);
        u16::from_le_bytes([
            b.first().copied().unwrap_or(0),
            b.get(1).copied().unwrap_or(0),
        ])
    }
    fn u32(&mut self) -> u32 {
        u32::from(self.u16()) | u32::from(self.u16()) << 16
    }
    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | u64::from(self.u32()) << 32
    }
}

/// Where queue `q`'s parts are (guest addresses in region 0).
fn rings(q: u32) -> (u64, u64, u64) {
    let base = RAM0_GPA + u64::from(q) * 0x8000;
    (base, base + 0x1000, base + 0x2000)
}

fn user(gpa: u64) -> u64 {
    gpa - RAM0_GPA + RAM0_USER
}

/// The memory and fds the inputs send, made once and reset between inputs.
struct World {
    ram0: SharedMemory,
    ram1: SharedMemory,
    /// The memory files again, to punch them.
    files: [std::fs::File; 2],
    /// Signalled before each input.
    kick: Notifier,
    call: Notifier,
    /// A socket whose peer is closed: at end of file for reading.
    dead: UnixStream,
    /// A blocking socket whose send buffer is full (its peer kept here).
    full: UnixStream,
    _full_peer: UnixStream,
    /// A device and a regular file.
    zero: std::fs::File,
    file: std::fs::File,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        // Nothing may kill the harness by writing to a closed pipe or
        // socket (the back-end programs ignore SIGPIPE through std).
        // SAFETY: setting a signal's disposition to "ignore".
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        World::new()
    })
}

impl World {
    fn new() -> Self {
        let (dead, _) = UnixStream::pair().expect("socket pair");
        let (full, peer) = UnixStream::pair().expect("socket pair");
        full.set_nonblocking(true).expect("non-blocking");
        while (&full).write(&[0u8; 4096]).is_ok() {}
        while (&full).write(&[0u8; 1]).is_ok() {}
        let file = vu_fuzz::scratch_file("session", 0);
        let ram0 = SharedMemory::new(RAM0).expect("shared memory");
        let ram1 = SharedMemory::new(RAM1).expect("shared memory");
        let files =
            [&ram0, &ram1].map(|m| std::fs::File::from(m.fd().try_clone_to_owned().expect("dup")));
        let w = Self {
            ram0,
            ram1,
            files,
            kick: Notifier::new().expect("notifier"),
            call: Notifier::new().expect("notifier"),
            dead,
            full,
            _full_peer: peer,
            zero: std::fs::File::open("/dev/zero").expect("/dev/zero"),
            file,
        };
        w.reset();
        w
    }

    /// The state every input starts from: all-zero, unallocated memory, a
    /// kick pending, no call, the sockets blocking again (the back-end may
    /// have made them non-blocking: the flag is on the file description
    /// both ends share), the regular file empty.
    fn reset(&self) {
        for f in &self.files {
            vu_sys::file::discard(f, 0, f.metadata().expect("stat").len())
                .expect("punch the memory file");
        }
        self.kick.drain().expect("drain the kick");
        self.kick.notify().expect("kick");
        self.call.drain().expect("drain the call");
        self.dead.set_nonblocking(false).expect("blocking");
        self.full.set_nonblocking(false).expect("blocking");
        self.file.set_len(0).expect("empty the file");
    }

    fn fd(&self, which: u8) -> BorrowedFd<'_> {
        match which % 8 {
            0 => self.ram0.fd(),
            1 => self.ram1.fd(),
            2 => self.kick.read_fd(),
            3 => self.call.write_fd(),
            4 => self.dead.as_fd(),
            5 => self.full.as_fd(),
            6 => self.zero.as_fd(),
            _ => self.file.as_fd(),
        }
    }

    fn write(&self, gpa: u64, data: &[u8]) {
        if let Some(off) = gpa.checked_sub(RAM0_GPA) {
            if off
                .checked_add(data.len() as u64)
                .is_some_and(|e| e <= RAM0)
            {
                self.ram0.region().write(off, data);
            }
        }
    }

    fn table(&self) -> Vec<MemoryRegion> {
        vec![
            MemoryRegion {
                guest_phys_addr: RAM0_GPA,
                memory_size: RAM0,
                user_addr: RAM0_USER,
                mmap_offset: 0,
            },
            MemoryRegion {
                guest_phys_addr: RAM1_GPA,
                memory_size: RAM1,
                user_addr: RAM1_USER,
                mmap_offset: 0,
            },
        ]
    }
}

/// What was sent, for the reply oracle.
struct Sent {
    request: u32,
    /// A SET_VRING_ADDR that asked for logging.
    log: bool,
}

/// Builds an input's messages (and writes its guest memory) before the
/// connection opens, then sends them.
struct Driver<'w> {
    world: &'w World,
    /// Each message's bytes and fds.
    out: Vec<(Vec<u8>, Vec<BorrowedFd<'w>>)>,
    sent: Vec<Sent>,
}

impl<'w> Driver<'w> {
    fn send(&mut self, req: u32, flags: u32, body: &[u8], fds: &[BorrowedFd<'w>]) {
        let h = Header {
            request: req,
            flags,
            size: body.len() as u32,
        };
        let mut out = h.as_bytes().to_vec();
        out.extend_from_slice(body);
        let log = req == FrontendReq::SetVringAddr.code()
            && body.len() == VringAddr::SIZE
            && VringAddr::read_from(body).is_some_and(|a| a.flags & VringAddr::F_LOG != 0);
        self.sent.push(Sent { request: req, log });
        self.out.push((out, fds.to_vec()));
    }

    /// Sends the messages, until one is refused (nothing reads until the
    /// session runs: a full buffer ends the input).
    fn deliver(&self, sock: &UnixStream) {
        for (bytes, fds) in &self.out {
            if vu_sys::send_with_fds(sock.as_fd(), bytes, fds).is_err() {
                break;
            }
        }
    }

    fn msg(&mut self, req: FrontendReq, body: &[u8], fds: &[BorrowedFd<'w>], need_reply: bool) {
        let flags = 1 | if need_reply { Header::NEED_REPLY } else { 0 };
        self.send(req.code(), flags, body, fds)
    }

    /// The well-behaved handshake, cut after `steps` messages.
    fn setup(&mut self, steps: usize) {
        let w = self.world;
        let pf =
            (ProtocolFeatures::MQ | ProtocolFeatures::REPLY_ACK | ProtocolFeatures::CONFIG).bits();
        let features = vf::VERSION_1 | vf::RING_INDIRECT_DESC | VHOST_USER_F_PROTOCOL_FEATURES;
        let table = encode_mem_table(&w.table());
        let mut script: Vec<(FrontendReq, Vec<u8>, Vec<BorrowedFd<'w>>)> = vec![
            (FrontendReq::SetOwner, vec![], vec![]),
            (FrontendReq::GetFeatures, vec![], vec![]),
            (FrontendReq::GetProtocolFeatures, vec![], vec![]),
            (
                FrontendReq::SetProtocolFeatures,
                pf.to_ne_bytes().to_vec(),
                vec![],
            ),
            (
                FrontendReq::SetFeatures,
                features.to_ne_bytes().to_vec(),
                vec![],
            ),
            (
                FrontendReq::SetMemTable,
                table,
                vec![w.ram0.fd(), w.ram1.fd()],
            ),
        ];
        for index in 0..u32::from(QUEUES) {
            let (desc, avail, used) = rings(index);
            let state = |num| VringState { index, num }.as_bytes().to_vec();
            let addr = VringAddr {
                index,
                flags: 0,
                desc_user_addr: user(desc),
                used_user_addr: user(used),
                avail_user_addr: user(avail),
                log_guest_addr: 0,
            };
            script.push((FrontendReq::SetVringNum, state(QUEUE_SIZE.into()), vec![]));
            script.push((FrontendReq::SetVringBase, state(0), vec![]));
            script.push((FrontendReq::SetVringAddr, addr.as_bytes().to_vec(), vec![]));
            script.push((
                FrontendReq::SetVringCall,
                u64::from(index).to_ne_bytes().to_vec(),
                vec![w.call.write_fd()],
            ));
            script.push((
                FrontendReq::SetVringKick,
                u64::from(index).to_ne_bytes().to_vec(),
                vec![w.kick.read_fd()],
            ));
            script.push((FrontendReq::SetVringEnable, state(1), vec![]));
        }
        for (req, body, fds) in script.into_iter().take(steps) {
            // Replies are acked once REPLY_ACK is on (step 4 and later).
            self.msg(req, &body, &fds, true);
        }
    }

    /// One mutation.
    fn op(&mut self, input: &mut Input<'_>) {
        let w = self.world;
        let kind = input.u8();
        let need_reply = kind & 0x80 != 0;
        let index = u32::from(input.u8() % 4);
        match kind % 14 {
            0 => {
                let req = u32::from(input.u8() % 48);
                let flags = if input.u8() % 8 == 0 {
                    input.u32()
                } else {
                    1 | u32::from(need_reply) << 3
                };
                let len = usize::from(input.u8() % 64);
                let body = input.bytes(len).to_vec();
                let nfds = usize::from(input.u8() % 3);
                let fds: Vec<_> = (0..nfds).map(|_| w.fd(input.u8())).collect();
                self.send(req, flags, &body, &fds)
            }
            1 => {
                let num = if input.u8() % 4 == 0 {
                    input.u32()
                } else {
                    1u32 << (input.u8() % 11)
                };
                self.msg(
                    FrontendReq::SetVringNum,
                    VringState { index, num }.as_bytes(),
                    &[],
                    need_reply,
                )
            }
            2 => {
                let (desc, avail, used) = rings(index);
                let jiggle = |input: &mut Input<'_>, gpa: u64| match input.u8() % 4 {
                    0 => input.u64(),
                    1 => user(gpa).wrapping_add(u64::from(input.u16())),
                    _ => user(gpa),
                };
                let a = VringAddr {
                    index,
                    flags: u32::from(input.u8() % 4 == 0),
                    desc_user_addr: jiggle(input, desc),
                    used_user_addr: jiggle(input, used),
                    avail_user_addr: jiggle(input, avail),
                    log_guest_addr: 0,
                };
                self.msg(FrontendReq::SetVringAddr, a.as_bytes(), &[], need_reply)
            }
            3 => {
                let num = u32::from(input.u16());
                self.msg(
                    FrontendReq::SetVringBase,
                    VringState { index, num }.as_bytes(),
                    &[],
                    need_reply,
                )
            }
            4 | 5 | 6 => {
                let req = [
                    FrontendReq::SetVringKick,
                    FrontendReq::SetVringCall,
                    FrontendReq::SetVringErr,
                ][usize::from(kind % 14 - 4)];
                let nofd = input.u8() % 8 == 0;
                let v = u64::from(index) | if nofd { 0x100 } else { 0 };
                let fd = w.fd(input.u8());
                let fds: &[BorrowedFd<'w>] = if nofd { &[] } else { std::slice::from_ref(&fd) };
                self.msg(req, &v.to_ne_bytes(), fds, need_reply)
            }
            7 => {
                let num = u32::from(input.u8() % 3);
                self.msg(
                    FrontendReq::SetVringEnable,
                    VringState { index, num }.as_bytes(),
                    &[],
                    need_reply,
                )
            }
            8 => {
                let mut table = w.table();
                for r in &mut table {
                    match input.u8() % 8 {
                        0 => r.memory_size = input.u64(),
                        1 => r.mmap_offset = u64::from(input.u32()),
                        2 => r.guest_phys_addr = input.u64(),
                        3 => r.user_addr = input.u64(),
                        _ => {}
                    }
                }
                let n = 1 + usize::from(input.u8() % 2);
                let fds: Vec<_> = (0..n)
                    .map(|i| {
                        if input.u8() % 4 == 0 {
                            w.fd(input.u8())
                        } else {
                            w.fd(i as u8)
                        }
                    })
                    .collect();
                self.msg(
                    FrontendReq::SetMemTable,
                    &encode_mem_table(&table[..n]),
                    &fds,
                    need_reply,
                )
            }
            9 => self.msg(
                FrontendReq::GetVringBase,
                VringState { index, num: 0 }.as_bytes(),
                &[],
                false,
            ),
            10 => {
                let req = if input.u8() % 2 == 0 {
                    FrontendReq::SetFeatures
                } else {
                    FrontendReq::SetProtocolFeatures
                };
                let v = input.u64();
                self.msg(req, &v.to_ne_bytes(), &[], need_reply)
            }
            11 => {
                let h = ConfigHeader {
                    offset: u32::from(input.u8() % 24),
                    size: u32::from(input.u8() % 24),
                    flags: 0,
                };
                let mut body = h.as_bytes().to_vec();
                body.resize(ConfigHeader::SIZE + h.size as usize, input.u8());
                let req = if input.u8() % 2 == 0 {
                    FrontendReq::GetConfig
                } else {
                    FrontendReq::SetConfig
                };
                self.msg(req, &body, &[], need_reply)
            }
            12 => {
                // A descriptor of queue `index % 2`, pointing into region 0,
                // into the sparse region, or anywhere.
                let (desc, _, _) = rings(index % 2);
                let slot = u64::from(input.u16() % QUEUE_SIZE);
                let addr = match input.u8() % 4 {
                    0 => input.u64(),
                    1 => RAM1_GPA + u64::from(input.u32()) * 4096,
                    _ => RAM0_GPA + 0x4_0000 + u64::from(input.u16()) * 16,
                };
                let d = Descriptor {
                    addr,
                    len: if input.u8() % 4 == 0 {
                        input.u32()
                    } else {
                        u32::from(input.u16())
                    },
                    flags: u16::from(input.u8() & 7),
                    next: input.u16() % (QUEUE_SIZE + 4),
                };
                w.write(desc + split::DESC_SIZE * slot, &d.to_le_bytes());
            }
            _ => {
                // Publish heads on queue `index % 2`'s available ring.
                let (_, avail, _) = rings(index % 2);
                let count = 1 + input.u8() % 8;
                let mut idx = [0u8; 2];
                w.ram0
                    .region()
                    .read(avail - RAM0_GPA + split::RING_IDX_OFFSET, &mut idx);
                let mut idx = u16::from_le_bytes(idx);
                for _ in 0..count {
                    let head = input.u16() % (QUEUE_SIZE + 2);
                    let at = avail + split::RING_ENTRIES_OFFSET + 2 * u64::from(idx % QUEUE_SIZE);
                    w.write(at, &head.to_le_bytes());
                    idx = idx.wrapping_add(1);
                }
                if input.u8() % 16 == 0 {
                    idx = input.u16();
                }
                w.write(avail + split::RING_IDX_OFFSET, &idx.to_le_bytes());
            }
        }
    }
}

/// Reads every reply the session sent and checks them against the requests.
fn check_replies(mut sock: UnixStream, sent: &[Sent]) {
    let mut all = Vec::new();
    sock.set_nonblocking(false).expect("blocking");
    // A session that closed with requests left unread resets the
    // connection: what arrived before that is kept in `all`.
    match sock.read_to_end(&mut all) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("reading replies: {e}"),
    }
    let mut at = 0;
    let mut next = 0;
    while all.len() - at >= HEADER_SIZE {
        let h = Header::read_from(&all[at..at + HEADER_SIZE]).expect("header");
        at += HEADER_SIZE;
        assert!(h.is_reply(), "reply without the reply flag: {h:?}");
        let size = h.size as usize;
        assert!(all.len() - at >= size, "reply cut short: {h:?}");
        let body = &all[at..at + size];
        at += size;
        // Replies answer requests in order, each at most once.
        let Some(i) = sent[next..].iter().position(|s| s.request == h.request) else {
            panic!(
                "reply to request {} that was not sent (or out of order)",
                h.request
            );
        };
        let s = &sent[next + i];
        next += i + 1;
        if s.log
            && h.request == FrontendReq::SetVringAddr.code()
            && sent
                .iter()
                .filter(|s| s.request == h.request)
                .all(|s| s.log)
        {
            let v = u64::from_ne_bytes(body.try_into().expect("u64 reply-ack"));
            assert_ne!(v, 0, "SET_VRING_ADDR with logging acked as success");
        }
    }
    assert_eq!(at, all.len(), "trailing bytes after the last reply");
}

fuzz_target!(|data: &[u8]| {
    let world = world();
    let mut input = Input(data);
    let flags = input.u8();
    let steps = usize::from(input.u8() % 24);
    let mut driver = Driver {
        world,
        out: Vec::new(),
        sent: Vec::new(),
    };
    driver.setup(steps);
    let mut ops = 0;
    while !input.0.is_empty() && ops < MAX_OPS {
        driver.op(&mut input);
        ops += 1;
    }
    let (ours, theirs) = UnixStream::pair().expect("socket pair");
    ours.set_nonblocking(true).expect("non-blocking");
    driver.deliver(&ours);
    let _ = ours.shutdown(std::net::Shutdown::Write);
    let mut device = Echo {
        threaded: flags & 1 != 0,
        config: [0x5a; 16],
    };
    let before = SERVED.load(Ordering::Relaxed);
    let listener = Listener::from_fd(OwnedFd::from(theirs)).expect("listener");
    let _ = serve(&mut device, listener);
    let served = SERVED.load(Ordering::Relaxed) - before;
    // Each message or kick serves at most one ring's worth per queue, and a
    // queue left pending goes on only while it has requests (at most the
    // ring, 1024, per round, and a round per message plus the final one).
    let bound = (driver.sent.len() as u64 + 2) * u64::from(QUEUES) * 1024 * 2;
    assert!(
        served <= bound,
        "{served} requests served for {} messages",
        driver.sent.len()
    );
    check_replies(ours, &driver.sent);
    world.reset();
});
