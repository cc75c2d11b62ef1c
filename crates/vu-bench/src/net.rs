//! Two vhost-user-net ports: one transmits, the other receives, each on a
//! thread of its own, both driven as a guest's virtio-net driver would:
//! chains published in batches with one kick (skipped while the back-end
//! says it is draining), completions reaped without waiting for calls.
//! The ports may be on one socket (a switch: ours) or two (DPDK's
//! `net_vhost` ports forwarding to each other).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use vu_frontend::{Buf, Frontend, Options};

const RX: u16 = 0;
const TX: u16 = 1;
const HDR: usize = 12;
const RX_BUF: u32 = 2048;
/// The MRG_RXBUF feature bit.
const MRG_RXBUF: u64 = 1 << 15;

/// What one run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NetReport {
    pub frame_len: usize,
    /// Length of the measured window.
    pub secs: f64,
    /// Frames and bytes (frame bytes, no header) received in the window.
    pub frames: u64,
    pub bytes: u64,
    pub pps: f64,
    pub gbit_s: f64,
    /// Frames transmitted over the whole run.
    pub sent: u64,
    /// Received frames whose contents were checked (all of them).
    pub verified: u64,
    /// CPU time of this process (both driver threads) in the window.
    pub cpu_secs: f64,
}

pub struct Params {
    pub frame_len: usize,
    pub queue_size: u16,
    pub warmup: Duration,
    pub duration: Duration,
}

fn connect(socket: &Path, queue_size: u16) -> Result<Frontend, String> {
    let opts = Options {
        num_queues: 2,
        queue_size,
        device_features: MRG_RXBUF,
        region_size: 32 << 20,
        ..Options::default()
    };
    Frontend::connect(socket, &opts)
        .map_err(|e| format!("cannot connect to {}: {e}", socket.display()))
}

fn frame(len: usize, dst: [u8; 6], src: [u8; 6]) -> Vec<u8> {
    let mut f = vec![0u8; HDR + len];
    f[HDR..HDR + 6].copy_from_slice(&dst);
    f[HDR + 6..HDR + 12].copy_from_slice(&src);
    f[HDR + 12..HDR + 14].copy_from_slice(&[0x88, 0xb5]);
    for (i, b) in f[HDR + 14..].iter_mut().enumerate() {
        *b = i as u8;
    }
    f
}

const MAC_TX: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MAC_RX: [u8; 6] = [2, 0, 0, 0, 0, 2];

/// Runs the pair: `tx_socket` transmits to `rx_socket` (the same path for a
/// switch).
pub fn run(tx_socket: &Path, rx_socket: &Path, p: &Params) -> Result<NetReport, String> {
    if p.frame_len < 60 || p.frame_len + HDR > RX_BUF as usize {
        return Err(format!(
            "--frame-len {} is not in 60..={}",
            p.frame_len,
            RX_BUF as usize - HDR
        ));
    }
    let mut rx = connect(rx_socket, p.queue_size)?;
    let mut tx = connect(tx_socket, p.queue_size)?;
    let e = |e: vu_frontend::Error| e.to_string();
    // Receive buffers: one descriptor each, all posted.
    let mut rx_bufs = vec![0u64; usize::from(p.queue_size)];
    for _ in 0..p.queue_size {
        let gpa = rx.ram_mut().alloc(u64::from(RX_BUF), 8, true).map_err(e)?;
        let head = rx
            .place(
                RX,
                &[Buf {
                    gpa,
                    len: RX_BUF,
                    writable: true,
                }],
            )
            .map_err(e)?;
        rx_bufs[usize::from(head)] = gpa;
        rx.push_avail(RX, head).map_err(e)?;
    }
    rx.kick(RX).map_err(e)?;
    rx.set_interrupts(RX, false).map_err(e)?;
    // The receiver announces itself, so that a switch learns where it is.
    let hello = frame(60, [0xff; 6], MAC_RX);
    let hello_at = rx.ram_mut().alloc(hello.len() as u64, 8, true).map_err(e)?;
    rx.ram().write(hello_at, &hello).ok_or("guest memory")?;
    rx.submit(
        TX,
        &[Buf {
            gpa: hello_at,
            len: hello.len() as u32,
            writable: false,
        }],
    )
    .map_err(e)?;
    rx.wait_used(TX).map_err(e)?;
    // One transmit slot per descriptor, each holding the frame.
    let data = frame(p.frame_len, MAC_RX, MAC_TX);
    let mut slots = vec![0u64; usize::from(p.queue_size)];
    for s in &mut slots {
        *s = tx.ram_mut().alloc(data.len() as u64, 8, true).map_err(e)?;
        tx.ram().write(*s, &data).ok_or("guest memory")?;
    }
    tx.set_interrupts(TX, false).map_err(e)?;

    let stop = AtomicBool::new(false);
    let sent = AtomicU64::new(0);
    let start = Instant::now();
    let (measure_from, measure_to) = (start + p.warmup, start + p.warmup + p.duration);
    let expected = data[HDR..].to_vec();
    let result = std::thread::scope(|s| {
        let sender = s.spawn(|| -> Result<(), String> {
            let mut in_flight = 0usize;
            let mut next = 0usize;
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                while tx.poll_used(TX).map_err(e)?.is_some() {
                    in_flight -= 1;
                }
                let mut pushed = 0;
                while in_flight < usize::from(p.queue_size) {
                    let gpa = slots[next % slots.len()];
                    next += 1;
                    let head = tx
                        .place(
                            TX,
                            &[Buf {
                                gpa,
                                len: data.len() as u32,
                                writable: false,
                            }],
                        )
                        .map_err(e)?;
                    tx.push_avail(TX, head).map_err(e)?;
                    in_flight += 1;
                    pushed += 1;
                }
                if pushed > 0 {
                    tx.kick(TX).map_err(e)?;
                    n += pushed as u64;
                } else {
                    std::thread::yield_now();
                }
            }
            sent.store(n, Ordering::Relaxed);
            Ok(())
        });
        let receiver = s.spawn(|| -> Result<(u64, u64, u64, f64), String> {
            let (mut frames, mut bytes, mut verified) = (0u64, 0u64, 0u64);
            let mut cpu_from = 0.0;
            let mut measuring = false;
            let mut buf = vec![0u8; RX_BUF as usize];
            loop {
                let now = Instant::now();
                if !measuring && now >= measure_from {
                    measuring = true;
                    cpu_from = crate::report::cpu_now();
                }
                if now >= measure_to {
                    let cpu = crate::report::cpu_now() - cpu_from;
                    stop.store(true, Ordering::Relaxed);
                    return Ok((frames, bytes, verified, cpu));
                }
                let mut reposted = 0;
                while let Some(u) = rx.poll_used(RX).map_err(e)? {
                    let gpa = rx_bufs[u.id as usize];
                    let len = u.len as usize;
                    if measuring {
                        let b = &mut buf[..len.min(RX_BUF as usize)];
                        rx.ram().read(gpa, b).ok_or("guest memory")?;
                        if b.len() < HDR || b[HDR..] != expected[..] {
                            return Err(format!(
                                "received a frame of {len} bytes that was not sent"
                            ));
                        }
                        frames += 1;
                        verified += 1;
                        bytes += (len - HDR) as u64;
                    }
                    let head = rx
                        .place(
                            RX,
                            &[Buf {
                                gpa,
                                len: RX_BUF,
                                writable: true,
                            }],
                        )
                        .map_err(e)?;
                    rx_bufs[usize::from(head)] = gpa;
                    rx.push_avail(RX, head).map_err(e)?;
                    reposted += 1;
                }
                if reposted > 0 {
                    rx.kick(RX).map_err(e)?;
                } else {
                    std::thread::yield_now();
                }
            }
        });
        let r = receiver
            .join()
            .map_err(|_| "receiver panicked".to_string())?;
        stop.store(true, Ordering::Relaxed);
        sender.join().map_err(|_| "sender panicked".to_string())??;
        r
    })?;
    let (frames, bytes, verified, cpu_secs) = result;
    let secs = p.duration.as_secs_f64();
    Ok(NetReport {
        frame_len: p.frame_len,
        secs,
        frames,
        bytes,
        pps: frames as f64 / secs,
        gbit_s: bytes as f64 * 8.0 / secs / 1e9,
        sent: sent.load(Ordering::Relaxed),
        verified,
        cpu_secs,
    })
}
