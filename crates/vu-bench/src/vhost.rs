//! The vhost-user workload: a front-end (this process) keeps `depth`
//! requests in flight on each queue of a virtio-blk back-end and counts
//! completions, with one thread per queue (as a guest has a vCPU per
//! queue); the threads share the connection behind a lock held only
//! around ring operations.
//!
//! It drives the rings the way a guest driver (Linux's virtio-blk) does, and
//! the same way for every back-end:
//! * a batch of requests is published with one kick, skipped while the
//!   back-end has set `VRING_USED_F_NO_NOTIFY`;
//! * completions are reaped from the used ring and each is replaced at once,
//!   with `VRING_AVAIL_F_NO_INTERRUPT` set while this side is busy reaping;
//! * with nothing to reap, it clears that flag, looks once more, and sleeps
//!   on the queue's call notifier. By default there is no busy polling,
//!   which would take a CPU that a back-end may need; `poll` > 0 first
//!   spins on the used index for that long (a guest driver's polling mode,
//!   as Linux's virtio-blk poll queues with io_uring's IOPOLL), and its CPU
//!   shows in the driver's CPU per request.
//!
//! The data stays in guest memory; only its first eight bytes are read, to
//! check them. No `EVENT_IDX`: the driver does not negotiate it.

use crate::report::{cpu_now, Report};
use crate::workload::{check, Offsets, Pattern};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use vu_frontend::blk::{status, BlkDevice, BlkOptions, BlkRequest, SECTOR_SIZE};
use vu_frontend::Options;
use vu_sys::Poller;

#[derive(Debug, Clone)]
pub struct Params {
    pub pattern: Pattern,
    pub block_size: u64,
    pub depth: usize,
    pub queues: u16,
    pub warmup: Duration,
    pub duration: Duration,
    pub seed: u64,
    /// How long the driver spins on the used index before it sleeps on a
    /// call (zero: it sleeps at once).
    pub poll: Duration,
}

/// How long without any completion before the back-end is declared stuck.
const STALL: Duration = Duration::from_secs(10);

pub fn run(socket: &Path, p: &Params) -> Result<Report, String> {
    let descriptors = p.depth * 3;
    let queue_size = descriptors.next_power_of_two().clamp(128, 1024) as u16;
    let data = p.block_size.max(4096);
    let need = u64::from(p.queues) * p.depth as u64 * (data + 4096) + (4 << 20);
    let region_size = need.div_ceil(2 << 20) * (2 << 20);
    let opts = BlkOptions {
        frontend: Options {
            num_queues: p.queues,
            queue_size,
            regions: 1,
            region_size,
            timeout: STALL,
            ..Options::default()
        },
        max_request_bytes: p.block_size as usize,
        segment_size: None,
        depth: p.depth,
    };
    let mut dev = BlkDevice::connect(socket, &opts)
        .map_err(|e| format!("cannot set up {}: {}", socket.display(), chain(&e)))?;
    let capacity = dev
        .config()
        .map(|c| c.capacity * SECTOR_SIZE)
        .ok_or("the back-end has no configuration space (capacity unknown)")?;
    for q in 0..p.queues {
        if dev.free_slots(q) < p.depth {
            return Err(format!(
                "queue {q}: only {} requests fit, {} asked",
                dev.free_slots(q),
                p.depth
            ));
        }
    }
    let slots = (capacity / p.block_size).max(1);
    let e = |e: vu_frontend::Error| chain(&e);
    let len = p.block_size as usize;
    // Per queue: its offsets, the offset of each request in flight (by
    // tag), and a poller on its call fd.
    let mut queues = Vec::new();
    for q in 0..p.queues {
        let start = slots / u64::from(p.queues) * u64::from(q);
        let mut stream = Offsets::new(
            p.pattern,
            p.block_size,
            capacity,
            p.seed + u64::from(q),
            start,
        );
        let mut offsets = HashMap::new();
        for _ in 0..p.depth {
            let off = stream.next_offset();
            let tag = dev
                .enqueue(
                    q,
                    &BlkRequest::Read {
                        sector: off / SECTOR_SIZE,
                        len,
                    },
                )
                .map_err(e)?;
            offsets.insert(tag, off);
        }
        let poller = Poller::new().map_err(|e| format!("cannot create a poller: {e}"))?;
        let fd = dev.frontend().call_fd(q).map_err(|e| chain(&e))?;
        poller
            .add(fd, usize::from(q))
            .map_err(|e| format!("cannot poll the call fd: {e}"))?;
        queues.push(Queue {
            q,
            stream,
            offsets,
            poller,
        });
    }
    for q in 0..p.queues {
        dev.kick(q).map_err(e)?;
        // Calls are wanted only while a queue's thread sleeps (see `sleep`).
        dev.frontend_mut().set_interrupts(q, false).map_err(e)?;
    }

    let started = Instant::now();
    let measure_from = started + p.warmup;
    let end = measure_from + p.duration;
    let dev = Mutex::new(dev);
    let (runs, cpu) = std::thread::scope(|scope| {
        let threads: Vec<_> = queues
            .into_iter()
            .map(|queue| {
                let dev = &dev;
                std::thread::Builder::new()
                    .name(format!("drive-q{}", queue.q))
                    .spawn_scoped(scope, move || drive(dev, queue, p, measure_from, end))
            })
            .collect();
        // The driver's CPU (all its threads) over the measured window.
        sleep_until(measure_from);
        let cpu_from = cpu_now();
        sleep_until(end);
        let cpu = cpu_now() - cpu_from;
        let runs: Vec<Result<Run, String>> = threads
            .into_iter()
            .map(|t| match t {
                Ok(t) => t
                    .join()
                    .unwrap_or_else(|_| Err("a driver thread panicked".into())),
                Err(e) => Err(format!("cannot start a driver thread: {e}")),
            })
            .collect();
        (runs, cpu)
    });
    let runs = runs.into_iter().collect::<Result<Vec<Run>, String>>()?;
    let ops = runs.iter().map(|r| r.ops).sum();
    let total = runs.iter().map(|r| r.total).sum();
    // Each queue's window runs from its first completion after the warm-up
    // to its first after the end; the longest of them is used (the
    // conservative choice: they differ by about one request's time).
    let window = runs.iter().map(|r| r.window).max().unwrap_or_default();
    Ok(Report::new(
        "vhost-user",
        p.pattern,
        p.block_size,
        p.depth,
        usize::from(p.queues),
        window,
        ops,
        cpu,
        total,
    ))
}

/// What one queue's thread needs.
struct Queue {
    q: u16,
    stream: Offsets,
    /// Offset of each request in flight, by tag.
    offsets: HashMap<u64, u64>,
    poller: Poller,
}

/// What one queue's thread measured.
struct Run {
    ops: u64,
    window: Duration,
    total: u64,
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

fn lock(dev: &Mutex<BlkDevice>) -> MutexGuard<'_, BlkDevice> {
    // A thread that panicked while holding the device fails the run anyway.
    dev.lock().unwrap_or_else(|p| p.into_inner())
}

/// One queue's driver thread: keeps `depth` requests in flight on queue
/// `q`, reaping and replacing them, until the measured window is over;
/// then waits for those in flight. The device is locked only around ring
/// operations, never while sleeping.
fn drive(
    dev: &Mutex<BlkDevice>,
    mut queue: Queue,
    p: &Params,
    measure_from: Instant,
    end: Instant,
) -> Result<Run, String> {
    let e = |e: vu_frontend::Error| chain(&e);
    let len = p.block_size as usize;
    let q = queue.q;
    let mut measuring = false;
    let mut ops = 0u64;
    let mut window_start = measure_from;
    let mut total = 0u64;
    let mut last_progress = Instant::now();
    loop {
        let mut reaped = 0;
        {
            let mut dev = lock(dev);
            while let Some(done) = dev.try_complete(q).map_err(e)? {
                reaped += 1;
                total += 1;
                let off = queue
                    .offsets
                    .remove(&done.tag)
                    .ok_or("completion of an unknown request")?;
                if done.status != status::OK {
                    return Err(format!("read at {off}: status {}", done.status));
                }
                let mut first = [0u8; 8];
                dev.frontend()
                    .ram()
                    .read(done.data, &mut first)
                    .ok_or("data outside guest memory")?;
                if !check(off, first) {
                    return Err(format!("read at {off} returned the wrong data"));
                }
                if measuring {
                    ops += 1;
                }
                let off = queue.stream.next_offset();
                let tag = dev
                    .enqueue(
                        q,
                        &BlkRequest::Read {
                            sector: off / SECTOR_SIZE,
                            len,
                        },
                    )
                    .map_err(e)?;
                queue.offsets.insert(tag, off);
            }
            if reaped > 0 {
                dev.kick(q).map_err(e)?;
            }
        }
        let now = Instant::now();
        if reaped > 0 {
            last_progress = now;
            if !measuring && now >= measure_from {
                measuring = true;
                ops = 0;
                window_start = now;
            }
            if measuring && now >= end {
                let window = now - window_start;
                // Let the requests in flight finish before disconnecting.
                total += drain(dev, &mut queue.poller, q, p.depth)?;
                return Ok(Run { ops, window, total });
            }
            continue;
        }
        if now - last_progress > STALL {
            return Err(format!(
                "queue {q}: no completion for {STALL:?}: the back-end is stuck"
            ));
        }
        if poll_for_used(dev, q, p.poll) {
            continue;
        }
        // Nothing to reap: ask for calls, look once more (a completion
        // published before that is seen now, one after it is signalled),
        // then sleep until a call.
        sleep(dev, &mut queue.poller, q, Duration::from_secs(1))?;
    }
}

/// Spins on queue `q`'s used index for at most `window`, with calls still
/// suppressed; true as soon as a completion is there to reap.
fn poll_for_used(dev: &Mutex<BlkDevice>, q: u16, window: Duration) -> bool {
    if window.is_zero() {
        return false;
    }
    let until = Instant::now() + window;
    loop {
        if lock(dev).frontend().used_pending(q).unwrap_or(false) {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::hint::spin_loop();
    }
}

/// Enables calls on queue `q` and, if still nothing is there to reap,
/// waits for one (at most `timeout`, without holding the device); then
/// disables calls again, as a driver does while it reaps.
fn sleep(
    dev: &Mutex<BlkDevice>,
    poller: &mut Poller,
    q: u16,
    timeout: Duration,
) -> Result<(), String> {
    let e = |e: vu_frontend::Error| chain(&e);
    let has_used = {
        let mut dev = lock(dev);
        dev.frontend_mut().set_interrupts(q, true).map_err(e)?;
        dev.frontend().used_pending(q).unwrap_or(false)
    };
    if !has_used {
        let mut ready = Vec::new();
        poller
            .wait(&mut ready, Some(timeout))
            .map_err(|e| format!("poll failed: {e}"))?;
        lock(dev).frontend().clear_call(q).map_err(e)?;
    }
    lock(dev)
        .frontend_mut()
        .set_interrupts(q, false)
        .map_err(e)?;
    Ok(())
}

/// Waits for `in_flight` outstanding requests on queue `q` without
/// submitting more; returns how many completed.
fn drain(
    dev: &Mutex<BlkDevice>,
    poller: &mut Poller,
    q: u16,
    mut in_flight: usize,
) -> Result<u64, String> {
    let outstanding = in_flight as u64;
    let deadline = Instant::now() + STALL;
    while in_flight > 0 {
        let mut reaped = false;
        {
            let mut dev = lock(dev);
            while dev.try_complete(q).map_err(|e| chain(&e))?.is_some() {
                in_flight -= 1;
                reaped = true;
            }
        }
        if reaped {
            continue;
        }
        if Instant::now() > deadline {
            return Err(format!("queue {q}: {in_flight} requests never completed"));
        }
        sleep(dev, poller, q, Duration::from_millis(100))?;
    }
    Ok(outstanding)
}

/// An error and its causes on one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// What `vu-bench idle` prints.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IdleReport {
    /// Requests served (queue depth 1, every queue in turn) before the
    /// idle period, so that an adaptive poller has grown its window.
    pub warm_requests: u64,
    pub secs: f64,
    /// The back-end's CPU time over the idle period (all its threads).
    pub server_cpu_secs: f64,
    /// That as a share of one CPU, in percent.
    pub server_cpu_percent: f64,
}

/// Connects with `queues` ready queues, serves `warm` requests one at a
/// time, then leaves the connection idle for `secs` and measures the CPU
/// time of process `server_pid` over that period.
pub fn idle(
    socket: &Path,
    queues: u16,
    warm: u64,
    secs: Duration,
    server_pid: u32,
) -> Result<IdleReport, String> {
    let opts = BlkOptions {
        frontend: Options {
            num_queues: queues,
            timeout: STALL,
            ..Options::default()
        },
        max_request_bytes: 4096,
        segment_size: None,
        depth: 1,
    };
    let mut dev = BlkDevice::connect(socket, &opts)
        .map_err(|e| format!("cannot set up {}: {}", socket.display(), chain(&e)))?;
    for i in 0..warm {
        let q = (i % u64::from(queues)) as u16;
        let (st, _) = dev.read(q, i % 64 * 8, 4096).map_err(|e| chain(&e))?;
        if st != status::OK {
            return Err(format!("warm-up read: status {st}"));
        }
    }
    let cpu = || {
        vu_frontend::testutil::cpu_time(server_pid)
            .map_err(|e| format!("cannot read the CPU time of process {server_pid}: {e}"))
    };
    let before = cpu()?;
    std::thread::sleep(secs);
    let used = cpu()? - before;
    drop(dev);
    Ok(IdleReport {
        warm_requests: warm,
        secs: secs.as_secs_f64(),
        server_cpu_secs: used.as_secs_f64(),
        server_cpu_percent: used.as_secs_f64() / secs.as_secs_f64() * 100.0,
    })
}
