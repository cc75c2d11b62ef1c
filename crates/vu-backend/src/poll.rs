//! Adaptive polling: after a queue is drained, watch its available index
//! for a while before sleeping on the kick fd, so that a driver that
//! submits again soon is served without a wake-up (on a virtual machine
//! whose idle vCPUs halt, every cross-thread wake-up is a VM exit).
//!
//! The window adapts to the gaps between requests the way QEMU's iothread
//! `poll-max-ns`/`poll-grow`/`poll-shrink` does: a request that arrived
//! within the maximum but after the window (it needed a kick) doubles the
//! window; a gap longer than the maximum halves it (below [`MIN_WINDOW`] it
//! becomes zero); a request found while polling leaves it as it is. The
//! maximum caps both the window and the CPU spent per idle period; once the
//! window is over, the back-end sleeps as it would without polling, so an
//! idle back-end uses no CPU.

use std::time::{Duration, Instant};

/// How long the back-end may poll for new requests after a drain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Polling {
    max: Duration,
}

impl Polling {
    /// The default maximum window, 50 µs: on the machines measured (microVMs
    /// whose idle vCPUs halt at once), a driver at queue depth 1 submits its
    /// next request some tens of microseconds after it was signalled, so a
    /// window of this size catches it; an idle period costs at most this
    /// much CPU, and a device idle for longer than the maximum shrinks its
    /// window to zero.
    pub const DEFAULT_MAX: Duration = Duration::from_micros(50);

    /// No polling: sleep on the kick fd as soon as a queue is drained.
    pub const fn off() -> Self {
        Self {
            max: Duration::ZERO,
        }
    }

    /// Polling with windows of at most `max` (zero means off).
    pub const fn up_to(max: Duration) -> Self {
        Self { max }
    }

    /// The maximum window.
    pub fn max(&self) -> Duration {
        self.max
    }
}

impl Default for Polling {
    fn default() -> Self {
        Self::up_to(Self::DEFAULT_MAX)
    }
}

/// The smallest non-zero window: the first step of growing from zero, and
/// the point below which shrinking turns polling off.
pub(crate) const MIN_WINDOW: Duration = Duration::from_micros(4);

/// One poller's window (one per queue worker, one for the event loop).
#[derive(Debug)]
pub(crate) struct Window {
    max: Duration,
    current: Duration,
    /// When the last drain ended (the start of the current idle gap).
    idle_since: Option<Instant>,
}

/// How a poll ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Polled {
    /// `check` found work.
    Found,
    /// The window ended with nothing found: sleep.
    Expired,
}

impl Window {
    pub(crate) fn new(polling: Polling) -> Self {
        Self {
            max: polling.max,
            current: Duration::ZERO,
            idle_since: None,
        }
    }

    /// The window the next poll will use.
    pub(crate) fn current(&self) -> Duration {
        self.current
    }

    /// A drain just ended: the idle gap starts now.
    pub(crate) fn idle(&mut self) {
        if self.max > Duration::ZERO {
            self.idle_since = Some(Instant::now());
        }
    }

    /// Calls `check` until it returns `true` or the current window (counted
    /// from [`Window::idle`]) is over. With a zero window it does not call
    /// `check` at all.
    pub(crate) fn poll<E>(
        &mut self,
        mut check: impl FnMut() -> Result<bool, E>,
    ) -> Result<Polled, E> {
        let (Some(since), false) = (self.idle_since, self.current.is_zero()) else {
            return Ok(Polled::Expired);
        };
        let deadline = since + self.current;
        loop {
            if check()? {
                // Found within the window: it is the right size.
                self.idle_since = None;
                return Ok(Polled::Found);
            }
            if Instant::now() >= deadline {
                return Ok(Polled::Expired);
            }
            // Between looks, let any other runnable thread on this CPU run
            // (the driver itself, where threads outnumber CPUs): a poll
            // must not delay the request it waits for.
            std::thread::yield_now();
        }
    }

    /// A kick came after the window expired (or with polling at zero):
    /// adapt the window to the gap since the drain ended.
    pub(crate) fn kicked(&mut self) {
        let Some(since) = self.idle_since.take() else {
            return;
        };
        self.adapt(since.elapsed());
    }

    fn adapt(&mut self, gap: Duration) {
        if gap <= self.max {
            // A longer window would have caught it.
            self.current = (self.current * 2).max(MIN_WINDOW).min(self.max);
        } else {
            self.current /= 2;
            if self.current < MIN_WINDOW {
                self.current = Duration::ZERO;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: Duration = Duration::from_micros(50);

    #[test]
    fn grows_on_short_gaps_up_to_the_maximum_and_shrinks_to_zero_on_long_ones() {
        let mut w = Window::new(Polling::up_to(MAX));
        assert_eq!(w.current(), Duration::ZERO);
        w.adapt(Duration::from_micros(10));
        assert_eq!(w.current(), MIN_WINDOW);
        w.adapt(Duration::from_micros(10));
        assert_eq!(w.current(), Duration::from_micros(8));
        for _ in 0..10 {
            w.adapt(Duration::from_micros(30));
        }
        assert_eq!(w.current(), MAX, "capped at the maximum");
        w.adapt(Duration::from_millis(5));
        assert_eq!(w.current(), MAX / 2);
        for _ in 0..10 {
            w.adapt(Duration::from_secs(1));
        }
        assert_eq!(w.current(), Duration::ZERO, "an idle device stops polling");
    }

    #[test]
    fn off_never_polls_nor_grows() {
        let mut w = Window::new(Polling::off());
        w.idle();
        w.kicked();
        assert_eq!(w.current(), Duration::ZERO);
        let mut calls = 0;
        let r: Result<Polled, ()> = w.poll(|| {
            calls += 1;
            Ok(true)
        });
        assert_eq!(r, Ok(Polled::Expired));
        assert_eq!(calls, 0);
    }

    #[test]
    fn a_poll_finds_work_or_ends_with_its_window() {
        let mut w = Window::new(Polling::up_to(Duration::from_millis(20)));
        w.adapt(Duration::from_millis(1));
        w.adapt(Duration::from_millis(1));
        let window = w.current();
        assert!(window > Duration::ZERO);
        w.idle();
        // Looked at once before the window is checked, so found whatever
        // the scheduler does meanwhile.
        let r: Result<Polled, ()> = w.poll(|| Ok(true));
        assert_eq!(r, Ok(Polled::Found));
        assert_eq!(w.current(), window, "a hit keeps the window");
        w.idle();
        let start = Instant::now();
        let r: Result<Polled, ()> = w.poll(|| Ok(false));
        assert_eq!(r, Ok(Polled::Expired));
        assert!(start.elapsed() >= window);
        let r: Result<Polled, &str> = w.poll(|| Err("broken ring"));
        assert_eq!(r, Err("broken ring"), "errors end the poll");
    }
}
