//! The ceiling: the same reads done with `pread` straight from the file,
//! with no transport, no ring and no second process.
//!
//! "Ceiling" means exactly this: `threads` threads (default: as many as
//! the back-end has queues, so both sides get the same number of threads
//! doing file I/O), each issuing one synchronous `pread` of `block_size`
//! bytes at a time into its own buffer, at the offsets the vhost-user
//! workload uses (the same pattern, seed and file), checking each read the
//! same way. The buffer is page-aligned, as the driver's guest buffers are. Reads from a warm page cache are CPU-bound copies, so a
//! synchronous thread keeps "queue depth" requests busy as well as any
//! asynchronous interface could on the same number of threads.

use crate::report::{cpu_now, Report};
use crate::workload::{check, Offsets, Pattern};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Params {
    pub pattern: Pattern,
    pub block_size: u64,
    pub threads: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub seed: u64,
}

pub fn run(path: &Path, p: &Params) -> Result<Report, String> {
    let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let size = file
        .metadata()
        .map_err(|e| format!("cannot size {}: {e}", path.display()))?
        .len();
    if size < p.block_size {
        return Err(format!("{} is smaller than one request", path.display()));
    }
    let measuring = AtomicBool::new(false);
    let stop = AtomicBool::new(false);
    let counted = AtomicU64::new(0);
    let all = AtomicU64::new(0);
    let failure = std::sync::Mutex::new(None::<String>);
    let window = std::thread::scope(|s| {
        for t in 0..p.threads {
            let (file, measuring, stop, counted, all, failure) =
                (&file, &measuring, &stop, &counted, &all, &failure);
            let slot_count = (size / p.block_size).max(1);
            let start = slot_count / p.threads as u64 * t as u64;
            let mut offsets = Offsets::new(p.pattern, p.block_size, size, p.seed + t as u64, start);
            let block = p.block_size as usize;
            s.spawn(move || {
                // Page-aligned, like the guest buffers the driver gives the
                // back-ends (an unaligned destination makes copies slower).
                let mut storage = vec![0u8; block + 4096];
                let skew = storage.as_ptr().align_offset(4096);
                let buf = &mut storage[skew..skew + block];
                let mut ops = 0u64;
                let mut total = 0u64;
                let mut was_measuring = false;
                while !stop.load(Ordering::Relaxed) {
                    let m = measuring.load(Ordering::Relaxed);
                    if m && !was_measuring {
                        was_measuring = true;
                        ops = 0;
                    }
                    let off = offsets.next_offset();
                    let ok = file.read_exact_at(buf, off).is_ok()
                        && check(off, buf[..8].try_into().unwrap_or_default());
                    if !ok {
                        *failure.lock().unwrap_or_else(|e| e.into_inner()) =
                            Some(format!("read at {off} failed or returned wrong data"));
                        stop.store(true, Ordering::Relaxed);
                        break;
                    }
                    ops += 1;
                    total += 1;
                }
                counted.fetch_add(ops, Ordering::Relaxed);
                all.fetch_add(total, Ordering::Relaxed);
            });
        }
        std::thread::sleep(p.warmup);
        measuring.store(true, Ordering::Relaxed);
        let (started, cpu) = (Instant::now(), cpu_now());
        std::thread::sleep(p.duration);
        stop.store(true, Ordering::Relaxed);
        (started.elapsed(), cpu_now() - cpu)
    });
    let (window, cpu) = window;
    if let Some(f) = failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(f);
    }
    Ok(Report::new(
        "pread",
        p.pattern,
        p.block_size,
        1,
        p.threads,
        window,
        counted.load(Ordering::Relaxed),
        cpu,
        all.load(Ordering::Relaxed),
    ))
}
