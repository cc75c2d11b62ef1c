//! What the fuzz targets share that needs `unsafe` (which `vu_backend`
//! forbids), the heap and CPU-time oracles, and files of their own. The
//! harness parts that need the back-end's internals (guest memory kept
//! across inputs, ring set-up) are in `vu_backend::fuzzing`.
//!
//! A target that checks cost installs the counting allocator:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: vu_fuzz::CountingAlloc = vu_fuzz::CountingAlloc;
//! ```
//!
//! and wraps the work it bounds in [`Cost::start`] / [`Cost::check`].

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting live heap bytes and their peak.
pub struct CountingAlloc;

// SAFETY: forwards every call to `System` unchanged; the counters are only
// statistics.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on to `System`.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

/// CPU time of the calling thread (user and system).
pub fn thread_cpu() -> Duration {
    // SAFETY: an all-zero rusage is a valid out-buffer.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes only into `r`.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut r) };
    assert_eq!(rc, 0, "getrusage");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(r.ru_utime) + tv(r.ru_stime)
}

/// A measurement of the heap added (peak over the start) and the CPU time
/// taken by this thread since [`Cost::start`].
#[derive(Debug)]
pub struct Cost {
    heap_before: usize,
    cpu_before: Duration,
}

impl Cost {
    /// Starts measuring (the heap peak restarts from what is live now).
    pub fn start() -> Self {
        let heap_before = LIVE.load(Ordering::Relaxed);
        PEAK.store(heap_before, Ordering::Relaxed);
        Self {
            heap_before,
            cpu_before: thread_cpu(),
        }
    }

    /// The peak heap added and the CPU time taken so far.
    pub fn spent(&self) -> (usize, Duration) {
        let heap = PEAK
            .load(Ordering::Relaxed)
            .saturating_sub(self.heap_before);
        (heap, thread_cpu() - self.cpu_before)
    }

    /// Fails the input (an amplification is a finding, not a slow run)
    /// when the heap added exceeds `heap_limit` or the CPU time `cpu_limit`;
    /// `what` names the work measured ("the drain of a 16-entry ring").
    pub fn check(&self, heap_limit: usize, cpu_limit: Duration, what: impl std::fmt::Display) {
        let (heap, cpu) = self.spent();
        assert!(
            heap <= heap_limit,
            "memory amplification: {what} allocated {heap} bytes (limit {heap_limit})"
        );
        assert!(
            cpu <= cpu_limit,
            "work amplification: {what} took {cpu:?} of CPU (limit {cpu_limit:?})"
        );
    }
}

/// A temporary file of `len` (zero) bytes, open for reading and writing,
/// already unlinked; `name` and the process id make its name unique.
pub fn scratch_file(name: &str, len: u64) -> std::fs::File {
    let path = std::env::temp_dir().join(format!("vu-fuzz-{name}-{}", std::process::id()));
    let f = std::fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
    let _ = std::fs::remove_file(&path);
    f.set_len(len).expect("size the scratch file");
    f
}
