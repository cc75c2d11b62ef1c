//! SIGTERM/SIGINT turned into a readable fd (the self-pipe trick), so an
//! event loop can wait for termination like for any other event.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

static WRITE_FD: AtomicI32 = AtomicI32::new(-1);
static REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    REQUESTED.store(true, Ordering::SeqCst);
    let fd = WRITE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        let b = [1u8];
        // SAFETY: write(2) is async-signal-safe; the buffer is live. A full
        // pipe (EAGAIN) is fine: it is readable already.
        unsafe { libc::write(fd, b.as_ptr().cast(), 1) };
    }
}

/// Installed SIGTERM and SIGINT handlers; the fd becomes readable once one
/// of them arrives. Install once per process, before other threads start.
#[derive(Debug)]
pub struct TerminationSignal {
    rx: OwnedFd,
    _tx: OwnedFd,
}

impl TerminationSignal {
    /// Installs the handlers. They are installed without `SA_RESTART`, so a
    /// blocking call that the signal interrupts fails with `Interrupted`.
    pub fn install() -> io::Result<Self> {
        let mut fds = [0; 2];
        // SAFETY: pipe writes two fds into the two-element array.
        crate::cvt(unsafe { libc::pipe(fds.as_mut_ptr()) })?;
        // SAFETY: both fds are new and owned by nothing else.
        let (rx, tx) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        for fd in [rx.as_fd(), tx.as_fd()] {
            crate::set_cloexec(fd)?;
            crate::set_nonblocking(fd)?;
        }
        WRITE_FD.store(tx.as_raw_fd(), Ordering::SeqCst);
        for sig in [libc::SIGTERM, libc::SIGINT] {
            // SAFETY: a zeroed sigaction with an empty mask and no flags is
            // valid; the handler only does async-signal-safe work.
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
                libc::sigemptyset(&mut sa.sa_mask);
                crate::cvt(libc::sigaction(sig, &sa, std::ptr::null_mut()))?;
            }
        }
        Ok(Self { rx, _tx: tx })
    }

    /// The fd to poll.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.rx.as_fd()
    }

    /// Whether a termination signal has arrived.
    pub fn requested(&self) -> bool {
        REQUESTED.load(Ordering::SeqCst)
    }
}
