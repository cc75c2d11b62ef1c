//! Event notifiers: eventfd where the OS has one, a pipe pair where not.
//!
//! All three types signal by writing an 8-byte value and consume by reading
//! up to 8 bytes, which works on both kinds of fd; so a received fd can be
//! used whatever kind the peer created.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

fn signal(fd: BorrowedFd<'_>) -> io::Result<()> {
    let v = 1u64.to_ne_bytes();
    // SAFETY: writes 8 bytes from a live buffer to an open fd.
    let n = unsafe { libc::write(fd.as_raw_fd(), v.as_ptr().cast(), v.len()) };
    if n < 0 {
        let e = io::Error::last_os_error();
        // A full pipe or a saturated counter already means "signalled".
        if e.kind() == io::ErrorKind::WouldBlock {
            return Ok(());
        }
        return Err(e);
    }
    Ok(())
}

/// Reads once; returns whether anything was pending. A blocking fd must be
/// known to be readable first (the poller said so).
fn consume(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let mut buf = [0u8; 8];
    // SAFETY: reads at most 8 bytes into a live 8-byte buffer.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        let e = io::Error::last_os_error();
        if matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
        ) {
            return Ok(false);
        }
        return Err(e);
    }
    Ok(n > 0)
}

/// Waits until `fd` is readable or `timeout` passes; true if readable.
fn wait_readable(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut p, 1, ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(e);
    }
    Ok(n > 0)
}

/// A notifier created here: the read end and the write end (the same
/// eventfd, or the two ends of a pipe). Its ends are non-blocking.
#[derive(Debug)]
pub struct Notifier {
    rx: OwnedFd,
    tx: OwnedFd,
}

impl Notifier {
    pub fn new() -> io::Result<Self> {
        let (rx, tx) = crate::os::notifier_pair()?;
        Ok(Self { rx, tx })
    }

    /// The end to wait on (send this to a peer that waits).
    pub fn read_fd(&self) -> BorrowedFd<'_> {
        self.rx.as_fd()
    }

    /// The end to signal (send this to a peer that signals).
    pub fn write_fd(&self) -> BorrowedFd<'_> {
        self.tx.as_fd()
    }

    pub fn notify(&self) -> io::Result<()> {
        signal(self.tx.as_fd())
    }

    /// Consumes every pending signal; returns whether there was any.
    pub fn drain(&self) -> io::Result<bool> {
        let mut any = false;
        while consume(self.rx.as_fd())? {
            any = true;
        }
        Ok(any)
    }

    /// Waits for a signal (and consumes it) or the timeout; true if signalled.
    pub fn wait_timeout(&self, timeout: Duration) -> io::Result<bool> {
        if self.drain()? {
            return Ok(true);
        }
        if wait_readable(self.rx.as_fd(), timeout)? {
            return self.drain();
        }
        Ok(false)
    }
}

/// A received fd this side waits on (a kick fd in a back-end).
#[derive(Debug)]
pub struct NotifyReceiver(OwnedFd);

impl NotifyReceiver {
    /// Wraps a received fd and makes it non-blocking, so a spurious wake-up
    /// never blocks the event loop.
    pub fn from_fd(fd: OwnedFd) -> io::Result<Self> {
        crate::set_nonblocking(fd.as_fd())?;
        Ok(Self(fd))
    }

    /// Consumes pending signals with a single read; call it when the
    /// poller reports the fd readable (a pipe with more than 8 bytes queued
    /// stays readable and is reported again).
    pub fn consume(&self) -> io::Result<bool> {
        consume(self.0.as_fd())
    }
}

impl AsFd for NotifyReceiver {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// A received fd this side signals (a call or error fd in a back-end).
#[derive(Debug)]
pub struct NotifySender(OwnedFd);

impl NotifySender {
    pub fn from_fd(fd: OwnedFd) -> Self {
        Self(fd)
    }

    pub fn notify(&self) -> io::Result<()> {
        signal(self.0.as_fd())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_then_wait_and_drain() {
        let n = Notifier::new().unwrap();
        assert!(!n.drain().unwrap());
        assert!(!n.wait_timeout(Duration::from_millis(0)).unwrap());
        n.notify().unwrap();
        n.notify().unwrap();
        assert!(n.wait_timeout(Duration::from_secs(5)).unwrap());
        assert!(!n.drain().unwrap());
    }

    #[test]
    fn received_ends_interoperate() {
        let n = Notifier::new().unwrap();
        let tx = NotifySender::from_fd(n.write_fd().try_clone_to_owned().unwrap());
        let rx = NotifyReceiver::from_fd(n.read_fd().try_clone_to_owned().unwrap()).unwrap();
        tx.notify().unwrap();
        assert!(rx.consume().unwrap());
    }
}
