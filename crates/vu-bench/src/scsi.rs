//! The vhost-user-scsi workload: reads of the same file as the blk
//! workload, sent as SCSI READ(10) CDBs (READ(16) where the block address
//! or length does not fit) to LUN 0 on the first request queue, `depth` of
//! them in flight. It drives the ring as `vhost.rs` does for blk: one kick
//! per batch, calls suppressed while reaping, a sleep on the call notifier
//! when nothing is done (no busy polling), every read's data checked.
//!
//! One request queue, one thread: the comparison is the per-request cost of
//! the SCSI path (CDB decoding, sense and response framing) against blk's.

use crate::report::{cpu_now, Report};
use crate::vhost::{chain, Params};
use crate::workload::{check, Offsets};
use std::path::Path;
use std::time::{Duration, Instant};
use vu_frontend::scsi::{response, ScsiDevice};
use vu_frontend::{Buf, Frontend, Options};
use vu_protocol::virtio::scsi::{
    CmdHeader, CmdResponse, LunAddress, CDB_SIZE, FIRST_REQUEST_QUEUE,
};
use vu_sys::Poller;

const Q: u16 = FIRST_REQUEST_QUEUE;

/// How long without any completion before the back-end is declared stuck.
const STALL: Duration = Duration::from_secs(10);

/// Guest memory of one request slot.
#[derive(Debug, Clone, Copy)]
struct Slot {
    header: u64,
    response: u64,
    data: u64,
}

/// The READ CDB for `len` blocks at `lba`.
pub fn read_cdb(lba: u64, len: u32) -> Vec<u8> {
    match (u32::try_from(lba), u16::try_from(len)) {
        (Ok(lba), Ok(len)) => {
            let mut c = vec![0x28, 0];
            c.extend_from_slice(&lba.to_be_bytes());
            c.push(0);
            c.extend_from_slice(&len.to_be_bytes());
            c.push(0);
            c
        }
        _ => {
            let mut c = vec![0x88, 0];
            c.extend_from_slice(&lba.to_be_bytes());
            c.extend_from_slice(&len.to_be_bytes());
            c.extend_from_slice(&[0, 0]);
            c
        }
    }
}

/// LUN 0's (block count, block length), from READ CAPACITY(16).
fn capacity(dev: &mut ScsiDevice) -> Result<(u64, u64), String> {
    let mut cdb = vec![0x9e, 0x10];
    cdb.extend_from_slice(&[0; 8]);
    cdb.extend_from_slice(&32u32.to_be_bytes());
    cdb.extend_from_slice(&[0, 0]);
    let r = dev.command(0, &cdb, &[], 32).map_err(|e| chain(&e))?;
    if r.response != response::OK || r.status != 0 || r.data.len() < 12 {
        return Err(format!(
            "READ CAPACITY(16) failed: response {}, status {}, sense {:02x?}",
            r.response, r.status, r.sense
        ));
    }
    let last = u64::from_be_bytes(r.data[..8].try_into().expect("8 bytes"));
    let block = u64::from(u32::from_be_bytes(
        r.data[8..12].try_into().expect("4 bytes"),
    ));
    Ok((last + 1, block))
}

pub fn run(socket: &Path, p: &Params) -> Result<Report, String> {
    let data_len = p.block_size.max(4096);
    // ScsiDevice's own request buffers (2 MiB and a bit), the slots, room.
    let need = (3 << 20) + p.depth as u64 * (data_len + 8192) + (4 << 20);
    let region_size = need.div_ceil(2 << 20) * (2 << 20);
    let queue_size = (p.depth * 3).next_power_of_two().clamp(128, 1024) as u16;
    let opts = Options {
        num_queues: 3,
        queue_size,
        regions: 1,
        region_size,
        timeout: STALL,
        ..Options::default()
    };
    let mut dev = ScsiDevice::connect(socket, &opts)
        .map_err(|e| format!("cannot set up {}: {}", socket.display(), chain(&e)))?;
    let (blocks, block_len) = capacity(&mut dev)?;
    if block_len == 0 || p.block_size % block_len != 0 {
        return Err(format!(
            "--block-size {} is not a multiple of the LUN's {block_len}-byte blocks",
            p.block_size
        ));
    }
    let file_size = blocks * block_len;
    let fe = dev.frontend_mut();
    let mut slots = Vec::with_capacity(p.depth);
    for _ in 0..p.depth {
        let ram = fe.ram_mut();
        let e = |e: vu_frontend::Error| chain(&e);
        slots.push(Slot {
            header: ram.alloc(CmdHeader::SIZE as u64, 8, false).map_err(e)?,
            response: ram
                .alloc(CmdResponse::SIZE_WITH_SENSE as u64, 8, false)
                .map_err(e)?,
            data: ram.alloc(data_len, 4096, false).map_err(e)?,
        });
    }
    let mut d = Driver {
        fe,
        p,
        block_len,
        by_head: vec![None; usize::from(queue_size)],
        stream: Offsets::new(p.pattern, p.block_size, file_size, p.seed, 0),
    };
    for slot in slots {
        d.submit(slot)?;
    }
    d.fe.kick(Q).map_err(|e| chain(&e))?;
    d.fe.set_interrupts(Q, false).map_err(|e| chain(&e))?;
    let mut poller = Poller::new().map_err(|e| format!("cannot create a poller: {e}"))?;
    poller
        .add(d.fe.call_fd(Q).map_err(|e| chain(&e))?, 0)
        .map_err(|e| format!("cannot poll the call fd: {e}"))?;
    d.drive(&mut poller)
}

struct Driver<'a> {
    fe: &'a mut Frontend,
    p: &'a Params,
    block_len: u64,
    /// The slot and offset of each request in flight, by its chain's head.
    by_head: Vec<Option<(Slot, u64)>>,
    stream: Offsets,
}

impl Driver<'_> {
    /// Places the next read in `slot` and publishes it (no kick).
    fn submit(&mut self, slot: Slot) -> Result<(), String> {
        let e = |e: vu_frontend::Error| chain(&e);
        let off = self.stream.next_offset();
        let blocks = (self.p.block_size / self.block_len) as u32;
        let cdb = read_cdb(off / self.block_len, blocks);
        let mut c = [0u8; CDB_SIZE];
        c[..cdb.len()].copy_from_slice(&cdb);
        let header = CmdHeader {
            lun: LunAddress { target: 0, lun: 0 }.encode(),
            id: off,
            task_attr: 0,
            prio: 0,
            crn: 0,
            cdb: c,
        };
        self.fe
            .ram()
            .write(slot.header, &header.to_le_bytes())
            .ok_or("request header outside guest memory")?;
        let head = self
            .fe
            .place(
                Q,
                &[
                    Buf {
                        gpa: slot.header,
                        len: CmdHeader::SIZE as u32,
                        writable: false,
                    },
                    Buf {
                        gpa: slot.response,
                        len: CmdResponse::SIZE_WITH_SENSE as u32,
                        writable: true,
                    },
                    Buf {
                        gpa: slot.data,
                        len: self.p.block_size as u32,
                        writable: true,
                    },
                ],
            )
            .map_err(e)?;
        self.fe.push_avail(Q, head).map_err(e)?;
        let entry = self
            .by_head
            .get_mut(usize::from(head))
            .ok_or("chain head beyond the queue")?;
        *entry = Some((slot, off));
        Ok(())
    }

    /// Takes one completion, checks it; its slot, if there was one.
    fn complete(&mut self) -> Result<Option<Slot>, String> {
        let Some(used) = self.fe.poll_used(Q).map_err(|e| chain(&e))? else {
            return Ok(None);
        };
        let (slot, off) = self
            .by_head
            .get_mut(used.id as usize)
            .and_then(Option::take)
            .ok_or("completion of an unknown request")?;
        let mut raw = [0u8; CmdResponse::SIZE];
        let mut first = [0u8; 8];
        let ram = self.fe.ram();
        ram.read(slot.response, &mut raw)
            .and_then(|()| ram.read(slot.data, &mut first))
            .ok_or("response outside guest memory")?;
        let r = CmdResponse::from_le_bytes(&raw);
        if r.response != response::OK || r.status != 0 || r.residual != 0 {
            return Err(format!(
                "read at {off}: response {}, status {}, residual {}",
                r.response, r.status, r.residual
            ));
        }
        if !check(off, first) {
            return Err(format!("read at {off} returned the wrong data"));
        }
        Ok(Some(slot))
    }

    /// Keeps every slot busy until the window is over, then drains.
    fn drive(&mut self, poller: &mut Poller) -> Result<Report, String> {
        let e = |e: vu_frontend::Error| chain(&e);
        let started = Instant::now();
        let measure_from = started + self.p.warmup;
        let end = measure_from + self.p.duration;
        let (mut measuring, mut ops, mut total) = (false, 0u64, 0u64);
        let (mut window_start, mut cpu_from) = (measure_from, 0.0);
        let mut last_progress = started;
        loop {
            let mut reaped = 0;
            while let Some(slot) = self.complete()? {
                reaped += 1;
                total += 1;
                if measuring {
                    ops += 1;
                }
                self.submit(slot)?;
            }
            let now = Instant::now();
            if reaped > 0 {
                self.fe.kick(Q).map_err(e)?;
                last_progress = now;
                if !measuring && now >= measure_from {
                    measuring = true;
                    ops = 0;
                    window_start = now;
                    cpu_from = cpu_now();
                }
                if measuring && now >= end {
                    let cpu = cpu_now() - cpu_from;
                    let window = now - window_start;
                    total += self.drain(poller)?;
                    return Ok(Report::new(
                        "vhost-user",
                        self.p.pattern,
                        self.p.block_size,
                        self.p.depth,
                        1,
                        window,
                        ops,
                        cpu,
                        total,
                    ));
                }
                continue;
            }
            if now - last_progress > STALL {
                return Err(format!(
                    "no completion for {STALL:?}: the back-end is stuck"
                ));
            }
            self.sleep(poller, Duration::from_secs(1))?;
        }
    }

    /// Enables calls and, if still nothing is there to reap, waits for one;
    /// then disables calls again, as a driver does while it reaps.
    fn sleep(&mut self, poller: &mut Poller, timeout: Duration) -> Result<(), String> {
        let e = |e: vu_frontend::Error| chain(&e);
        self.fe.set_interrupts(Q, true).map_err(e)?;
        if !self.fe.used_pending(Q).unwrap_or(false) {
            let mut ready = Vec::new();
            poller
                .wait(&mut ready, Some(timeout))
                .map_err(|e| format!("poll failed: {e}"))?;
            self.fe.clear_call(Q).map_err(e)?;
        }
        self.fe.set_interrupts(Q, false).map_err(e)
    }

    /// Waits for the requests in flight without submitting more.
    fn drain(&mut self, poller: &mut Poller) -> Result<u64, String> {
        let mut left = self.by_head.iter().filter(|s| s.is_some()).count();
        let outstanding = left as u64;
        let deadline = Instant::now() + STALL;
        while left > 0 {
            if self.complete()?.is_some() {
                left -= 1;
                continue;
            }
            if Instant::now() > deadline {
                return Err(format!("{left} requests never completed"));
            }
            self.sleep(poller, Duration::from_millis(100))?;
        }
        Ok(outstanding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_10_where_it_fits_else_read_16() {
        assert_eq!(read_cdb(0x0102_0304, 8), [0x28, 0, 1, 2, 3, 4, 0, 0, 8, 0]);
        let c = read_cdb(1 << 32, 2048);
        assert_eq!((c[0], c.len()), (0x88, 16));
        assert_eq!(&c[2..10], &(1u64 << 32).to_be_bytes());
        assert_eq!(&c[10..14], &2048u32.to_be_bytes());
        assert_eq!(read_cdb(5, 1 << 16)[0], 0x88);
    }
}
