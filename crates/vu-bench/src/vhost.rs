//! The vhost-user workload: a front-end (this process) keeps `depth`
//! requests in flight on each queue of a virtio-blk back-end and counts
//! completions.
//!
//! It drives the rings the way a guest driver (Linux's virtio-blk) does, and
//! the same way for every back-end:
//! * a batch of requests is published with one kick, skipped while the
//!   back-end has set `VRING_USED_F_NO_NOTIFY`;
//! * completions are reaped from the used ring and each is replaced at once,
//!   with `VRING_AVAIL_F_NO_INTERRUPT` set while this side is busy reaping;
//! * with nothing to reap, it clears that flag, looks once more, and sleeps
//!   on the call notifiers (no busy polling, which would take a CPU that a
//!   back-end may need).
//!
//! The data stays in guest memory; only its first eight bytes are read, to
//! check them. No `EVENT_IDX`: the driver does not negotiate it.

use crate::report::{cpu_now, Report};
use crate::workload::{check, Offsets, Pattern};
use std::path::Path;
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
    let mut poller = Poller::new().map_err(|e| format!("cannot create a poller: {e}"))?;
    for q in 0..p.queues {
        let fd = dev.frontend().call_fd(q).map_err(|e| chain(&e))?;
        poller
            .add(fd, usize::from(q))
            .map_err(|e| format!("cannot poll the call fd: {e}"))?;
    }
    let slots = (capacity / p.block_size).max(1);
    let mut streams: Vec<Offsets> = (0..p.queues)
        .map(|q| {
            let start = slots / u64::from(p.queues) * u64::from(q);
            Offsets::new(
                p.pattern,
                p.block_size,
                capacity,
                p.seed + u64::from(q),
                start,
            )
        })
        .collect();
    // Offset of each in-flight request, by tag.
    let mut offsets = std::collections::HashMap::new();
    let e = |e: vu_frontend::Error| chain(&e);
    let len = p.block_size as usize;
    for q in 0..p.queues {
        for _ in 0..p.depth {
            let off = streams[usize::from(q)].next_offset();
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
        dev.kick(q).map_err(e)?;
    }

    // Calls are wanted only while this side sleeps (see `sleep`).
    for q in 0..p.queues {
        dev.frontend_mut().set_interrupts(q, false).map_err(e)?;
    }
    let started = Instant::now();
    let measure_from = started + p.warmup;
    let end = measure_from + p.duration;
    let mut measuring = false;
    let mut ops = 0u64;
    let mut window_start = measure_from;
    let mut window_cpu = 0.0;
    let mut total = 0u64;
    let mut last_progress = Instant::now();
    let mut in_flight = usize::from(p.queues) * p.depth;
    loop {
        let mut reaped = 0;
        for q in 0..p.queues {
            let mut resubmitted = false;
            while let Some(done) = dev.try_complete(q).map_err(e)? {
                reaped += 1;
                total += 1;
                in_flight -= 1;
                let off = offsets
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
                let off = streams[usize::from(q)].next_offset();
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
                in_flight += 1;
                resubmitted = true;
            }
            if resubmitted {
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
                window_cpu = cpu_now();
            }
            if measuring && now >= end {
                let window = now - window_start;
                let cpu = cpu_now() - window_cpu;
                // Let the requests in flight finish before disconnecting.
                total += drain(&mut dev, &mut poller, p.queues, in_flight)?;
                let report = Report::new(
                    "vhost-user",
                    p.pattern,
                    p.block_size,
                    p.depth,
                    usize::from(p.queues),
                    window,
                    ops,
                    cpu,
                    total,
                );
                return Ok(report);
            }
            continue;
        }
        if now - last_progress > STALL {
            return Err(format!(
                "no completion for {STALL:?}: the back-end is stuck"
            ));
        }
        // Nothing to reap: ask for calls, look once more (a completion
        // published before that is seen now, one after it is signalled),
        // then sleep until a call.
        if !sleep(&mut dev, &mut poller, p.queues, Duration::from_secs(1))? {
            continue;
        }
    }
}

/// Enables calls on every queue and, if still nothing is there to reap,
/// waits for one (at most `timeout`); then disables calls again, as a
/// driver does while it reaps. Returns whether it waited.
fn sleep(
    dev: &mut BlkDevice,
    poller: &mut Poller,
    queues: u16,
    timeout: Duration,
) -> Result<bool, String> {
    let e = |e: vu_frontend::Error| chain(&e);
    for q in 0..queues {
        dev.frontend_mut().set_interrupts(q, true).map_err(e)?;
    }
    let waited = if (0..queues).any(|q| has_used(dev, q)) {
        false
    } else {
        let mut ready = Vec::new();
        poller
            .wait(&mut ready, Some(timeout))
            .map_err(|e| format!("poll failed: {e}"))?;
        for q in 0..queues {
            dev.frontend().clear_call(q).map_err(e)?;
        }
        true
    };
    for q in 0..queues {
        dev.frontend_mut().set_interrupts(q, false).map_err(e)?;
    }
    Ok(waited)
}

/// Whether queue `q` has a completion to reap.
fn has_used(dev: &BlkDevice, q: u16) -> bool {
    dev.frontend().used_pending(q).unwrap_or(false)
}

/// Waits for `in_flight` outstanding requests without submitting more;
/// returns how many completed.
fn drain(
    dev: &mut BlkDevice,
    poller: &mut Poller,
    queues: u16,
    mut in_flight: usize,
) -> Result<u64, String> {
    let outstanding = in_flight as u64;
    let deadline = Instant::now() + STALL;
    while in_flight > 0 {
        let mut reaped = false;
        for q in 0..queues {
            while dev.try_complete(q).map_err(|e| chain(&e))?.is_some() {
                in_flight -= 1;
                reaped = true;
            }
        }
        if reaped {
            continue;
        }
        if Instant::now() > deadline {
            return Err(format!("{in_flight} requests never completed"));
        }
        sleep(dev, poller, queues, Duration::from_millis(100))?;
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
