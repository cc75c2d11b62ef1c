//! Surviving a peer that shrinks a mapped file.
//!
//! Touching a page of a `MAP_SHARED` mapping that lies past the end of its
//! file raises `SIGBUS` (on some BSDs `SIGSEGV`), and the peer that sent the
//! fd may truncate the file at any time. Where the file can be sealed
//! against shrinking (`shm::MmapRegion::map` tries that first), it cannot
//! happen; for the other mappings of peer memory, this module catches the
//! fault:
//!
//! * every guarded mapping is listed in a fixed table of slots (start,
//!   length, a "faulted" flag) that the signal handler reads with atomic
//!   loads only;
//! * on a fault inside a listed mapping, the handler maps private,
//!   zero-filled anonymous memory over the faulting page (`mmap` with
//!   `MAP_FIXED`, a plain system call) and marks the mapping faulted; the
//!   access is then retried by the CPU and succeeds on that page. A
//!   mapping of huge pages (Linux hugetlbfs, which cannot be split into
//!   small pages) has the whole huge page replaced;
//! * on any other fault, it puts back the handler that was installed
//!   before (Rust's stack-overflow handler, a sanitizer's, or the default
//!   action) and returns, so the fault repeats and is handled as if this
//!   module did not exist.
//!
//! The owner of a faulted mapping must stop using what it read there (it
//! reads zeroes, and its writes reach no one): the back-end checks
//! [`FaultGuard::faulted`] after each batch of requests and closes the
//! connection. Data moved by the kernel (`preadv`/`pwritev` into a
//! truncated range) fails with `EFAULT` instead, with no signal.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// How many mappings can be guarded at once (a back-end holds at most the
/// regions of two memory tables while it replaces one).
const SLOTS: usize = 128;

struct Slot {
    taken: AtomicBool,
    start: AtomicUsize,
    /// 0 while the slot lists no mapping.
    len: AtomicUsize,
    /// What one fault replaces: a page, or a huge page.
    granule: AtomicUsize,
    faulted: AtomicBool,
}

impl Slot {
    const fn new() -> Self {
        Self {
            taken: AtomicBool::new(false),
            start: AtomicUsize::new(0),
            len: AtomicUsize::new(0),
            granule: AtomicUsize::new(0),
            faulted: AtomicBool::new(false),
        }
    }
}

static TABLE: [Slot; SLOTS] = [const { Slot::new() }; SLOTS];

/// The dispositions that were in place before ours, per signal.
struct Previous(Vec<(libc::c_int, libc::sigaction)>);

// SAFETY: written once before the handler can run, then only read; a
// `sigaction` is plain data (handler addresses, flags, a signal mask).
unsafe impl Sync for Previous {}
// SAFETY: as above.
unsafe impl Send for Previous {}

static PREVIOUS: OnceLock<Previous> = OnceLock::new();
/// The result of installing the handler (an errno on failure).
static INSTALLED: OnceLock<Result<(), i32>> = OnceLock::new();

extern "C" fn on_fault(sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: an SA_SIGINFO handler gets a valid siginfo from the kernel.
    let addr = unsafe { (*info).si_addr() } as usize;
    for slot in &TABLE {
        let len = slot.len.load(Ordering::Acquire);
        if len == 0 {
            continue;
        }
        let start = slot.start.load(Ordering::Acquire);
        if addr < start || addr - start >= len {
            continue;
        }
        let granule = slot.granule.load(Ordering::Relaxed);
        let base = addr & !(granule - 1);
        // SAFETY: replaces the page (or huge page) holding `addr` of a live
        // mapping that this module guards with private anonymous memory; a
        // mapping starts and ends on its granule (the kernel rounds huge
        // page mappings), so nothing outside it is touched. No Rust
        // reference points into guarded mappings (they are accessed through
        // raw copies only).
        let p = unsafe {
            libc::mmap(
                base as *mut libc::c_void,
                granule,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANON,
                -1,
                0,
            )
        };
        if p != libc::MAP_FAILED {
            slot.faulted.store(true, Ordering::Release);
            return;
        }
        break;
    }
    // Not ours (or the page could not be replaced): hand the fault back.
    let previous = PREVIOUS
        .get()
        .and_then(|p| p.0.iter().find(|(s, _)| *s == sig));
    // SAFETY: sigaction and signal are async-signal-safe; `act` is a
    // disposition the kernel gave us earlier.
    unsafe {
        match previous {
            Some((_, act)) => {
                libc::sigaction(sig, act, std::ptr::null_mut());
            }
            None => {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
    }
}

fn install() -> io::Result<()> {
    let r = INSTALLED.get_or_init(|| {
        let mut previous = Vec::new();
        for &sig in crate::os::FAULT_SIGNALS {
            // SAFETY: an all-zero sigaction is a valid out-buffer.
            let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: queries the current disposition only.
            if unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) } != 0 {
                return Err(io::Error::last_os_error().raw_os_error().unwrap_or(0));
            }
            previous.push((sig, old));
        }
        let _ = PREVIOUS.set(Previous(previous));
        for &sig in crate::os::FAULT_SIGNALS {
            // SAFETY: a zeroed sigaction with an empty mask is valid; the
            // handler does async-signal-safe work only (atomics, mmap,
            // sigaction).
            let r = unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_fault
                    as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void)
                    as libc::sighandler_t;
                sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut sa.sa_mask);
                libc::sigaction(sig, &sa, std::ptr::null_mut())
            };
            if r != 0 {
                return Err(io::Error::last_os_error().raw_os_error().unwrap_or(0));
            }
        }
        Ok(())
    });
    r.map_err(io::Error::from_raw_os_error)
}

/// A mapping listed for the fault handler; unlisted on drop (drop it
/// before unmapping).
#[derive(Debug)]
pub(crate) struct FaultGuard {
    slot: usize,
}

impl FaultGuard {
    /// Lists `len` bytes at `start` (a whole mapping), whose pages are
    /// `granule` bytes (a power of two; `start` is aligned to it).
    pub(crate) fn new(start: usize, len: usize, granule: usize) -> io::Result<Self> {
        if !granule.is_power_of_two() || start % granule != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "mapping not aligned to its page size",
            ));
        }
        install()?;
        for (i, slot) in TABLE.iter().enumerate() {
            if slot
                .taken
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                slot.faulted.store(false, Ordering::Relaxed);
                slot.start.store(start, Ordering::Relaxed);
                slot.granule.store(granule, Ordering::Relaxed);
                slot.len.store(len, Ordering::Release);
                return Ok(Self { slot: i });
            }
        }
        Err(io::Error::other(format!(
            "more than {SLOTS} mappings of peer memory at once"
        )))
    }

    /// Whether a page of the mapping was found past the end of its file
    /// (and replaced by zeroes).
    pub(crate) fn faulted(&self) -> bool {
        TABLE[self.slot].faulted.load(Ordering::Acquire)
    }
}

impl Drop for FaultGuard {
    fn drop(&mut self) {
        let slot = &TABLE[self.slot];
        slot.len.store(0, Ordering::Release);
        slot.taken.store(false, Ordering::Release);
    }
}
