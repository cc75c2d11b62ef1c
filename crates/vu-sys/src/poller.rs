//! Readiness polling over fds (epoll on Linux, kqueue on the BSDs, through
//! the `polling` crate), level-triggered, keyed by `usize`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

/// Waits for any of a set of fds to become readable.
#[derive(Debug)]
pub struct Poller {
    inner: polling::Poller,
    events: polling::Events,
}

impl Poller {
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            inner: polling::Poller::new()?,
            events: polling::Events::new(),
        })
    }

    /// Watches `fd` for readability (and hang-up), reported as `key`.
    /// Call [`Poller::remove`] before closing `fd`.
    pub fn add(&self, fd: BorrowedFd<'_>, key: usize) -> io::Result<()> {
        // SAFETY: `polling` asks that the fd be removed before it is closed.
        // Every caller in this workspace does so; were one to forget, epoll
        // and kqueue drop a closed fd's registration themselves, so the
        // worst outcome is a lost event, never a memory error.
        unsafe {
            self.inner.add_with_mode(
                fd.as_raw_fd(),
                polling::Event::readable(key),
                polling::PollMode::Level,
            )
        }
    }

    /// Stops watching `fd`.
    pub fn remove(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        self.inner.delete(fd)
    }

    /// Waits up to `timeout` (forever if `None`) and appends the keys of the
    /// ready fds to `ready`. An interrupting signal returns with none.
    pub fn wait(&mut self, ready: &mut Vec<usize>, timeout: Option<Duration>) -> io::Result<()> {
        self.events.clear();
        match self.inner.wait(&mut self.events, timeout) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        ready.extend(self.events.iter().map(|e| e.key));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn reports_readable_fds_until_consumed() {
        let mut p = Poller::new().unwrap();
        let a = crate::Notifier::new().unwrap();
        let b = crate::Notifier::new().unwrap();
        p.add(a.read_fd(), 1).unwrap();
        p.add(b.read_fd(), 2).unwrap();
        let mut ready = Vec::new();
        p.wait(&mut ready, Some(Duration::ZERO)).unwrap();
        assert!(ready.is_empty());
        b.notify().unwrap();
        p.wait(&mut ready, Some(Duration::from_secs(5))).unwrap();
        assert_eq!(ready, [2]);
        ready.clear();
        p.wait(&mut ready, Some(Duration::ZERO)).unwrap();
        assert_eq!(ready, [2], "level-triggered: still readable");
        b.drain().unwrap();
        ready.clear();
        p.remove(b.read_fd().as_fd()).unwrap();
        p.wait(&mut ready, Some(Duration::ZERO)).unwrap();
        assert!(ready.is_empty());
    }
}
