//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`).
//!
//! [`Queue`] is a virtqueue set up the way the session sets one up from
//! `SET_VRING_NUM`, `SET_VRING_ADDR` and `SET_VRING_BASE` (ring addresses
//! translated from front-end user addresses and bounds-checked against guest
//! memory), and [`Queue::drain`] is the very function the session calls on a
//! kick. Nothing here is a shortcut around a check: it only makes the
//! crate-private state reachable without a socket.

use crate::memory::GuestMemory;
use crate::queue::{drain_ring, fill_ring, ChainBuf, UserAddrs, Vring};
use crate::{Filler, QueueError, Request};

/// One queue, as the session holds it.
#[derive(Debug)]
pub struct Queue {
    vring: Vring,
    chain: ChainBuf,
}

impl Queue {
    /// A ready queue of `size` entries whose parts are at the given front-end
    /// user addresses, resuming at `base`; `None` when the ring does not fit
    /// in `mem` (the session closes the connection then).
    pub fn new(
        mem: &GuestMemory,
        size: u16,
        desc: u64,
        avail: u64,
        used: u64,
        base: u16,
    ) -> Option<Self> {
        let mut vring = Vring {
            size,
            user: Some(UserAddrs { desc, avail, used }),
            last_avail: base,
            used_idx: base,
            enabled: true,
            ..Vring::default()
        };
        (size > 0 && vring.translate(mem)).then_some(Self {
            vring,
            chain: ChainBuf::default(),
        })
    }

    /// Serves available requests with `handle`, as on a kick: at most
    /// `budget`; returns how many, and whether requests may be left.
    pub fn drain(
        &mut self,
        mem: &GuestMemory,
        budget: u32,
        handle: impl FnMut(&mut Request<'_>),
    ) -> Result<(u32, bool), QueueError> {
        drain_ring(mem, &mut self.vring, &mut self.chain, budget, handle).map(|d| (d.done, d.more))
    }

    /// Lets `fill` fill the queue as a device-filled queue is filled when
    /// the device is woken (`fill_ring`, the session's own); returns the
    /// chains published.
    pub fn fill(
        &mut self,
        mem: &GuestMemory,
        fill: impl FnOnce(&mut Filler<'_>),
    ) -> Result<u32, QueueError> {
        fill_ring(mem, &mut self.vring, &mut self.chain, fill)
    }

    /// The next available-ring index to serve.
    pub fn last_avail(&self) -> u16 {
        self.vring.last_avail
    }

    /// The used-ring index published so far.
    pub fn used_idx(&self) -> u16 {
        self.vring.used_idx
    }
}
