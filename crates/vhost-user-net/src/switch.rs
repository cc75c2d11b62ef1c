//! The switch: ports, and forwarding by learned source addresses.
//!
//! A frame goes to the port its destination was last seen on; a broadcast
//! or multicast destination, or one not learned (or forgotten), goes to
//! every other port. The table is bounded ([`MAX_ADDRESSES`]: the oldest
//! entry makes room) and entries expire after [`ADDRESS_AGE`], so a guest
//! that sends from ever-new source addresses costs a fixed amount of memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// An Ethernet address.
pub type Mac = [u8; 6];
/// A port's number on its switch.
pub type PortId = u32;

/// Shortest frame forwarded: an Ethernet header.
pub const MIN_FRAME: usize = 14;
/// Longest frame forwarded: a 64 KiB payload behind an Ethernet header and
/// one VLAN tag (no offloads are offered, so nothing longer is legitimate).
pub const MAX_FRAME: usize = 65_535 + 18;
/// Most learned addresses.
pub const MAX_ADDRESSES: usize = 4096;
/// How long a learned address is trusted without being seen again.
pub const ADDRESS_AGE: Duration = Duration::from_secs(300);

/// Where the switch delivers frames: a front-end's receive queue, an
/// uplink. `deliver` must not block (a full port drops the frame).
pub trait Port: Send + Sync {
    fn deliver(&self, frame: &[u8]);
}

struct Entry {
    port: PortId,
    seen: Instant,
}

#[derive(Default)]
struct Inner {
    ports: Vec<(PortId, Arc<dyn Port>)>,
    next: PortId,
    table: HashMap<Mac, Entry>,
}

/// A learning switch shared by its ports.
#[derive(Default)]
pub struct Switch {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Switch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("Switch")
            .field("ports", &inner.ports.len())
            .field("addresses", &inner.table.len())
            .finish()
    }
}

/// Whether `mac` is a group (broadcast or multicast) address.
pub fn is_group(mac: &Mac) -> bool {
    mac[0] & 1 != 0
}

impl Switch {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere leaves the table consistent (every update is
        // one insert or remove), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a port; frames start reaching it at once.
    pub fn attach(&self, port: Arc<dyn Port>) -> PortId {
        let mut inner = self.lock();
        let id = inner.next;
        inner.next = inner.next.wrapping_add(1);
        inner.ports.push((id, port));
        id
    }

    /// Removes a port and forgets the addresses learned on it.
    pub fn detach(&self, id: PortId) {
        let mut inner = self.lock();
        inner.ports.retain(|(p, _)| *p != id);
        inner.table.retain(|_, e| e.port != id);
    }

    /// Ports attached.
    pub fn ports(&self) -> usize {
        self.lock().ports.len()
    }

    /// Learns `frame`'s source on port `from` and delivers the frame where
    /// its destination is. `targets` is scratch space, reused by the caller
    /// so that forwarding allocates nothing once warm. `frame` must be at
    /// least [`MIN_FRAME`] bytes (shorter ones are ignored).
    pub fn forward(&self, from: PortId, frame: &[u8], targets: &mut Vec<Arc<dyn Port>>) {
        if frame.len() < MIN_FRAME {
            return;
        }
        let mut dst = [0u8; 6];
        let mut src = [0u8; 6];
        dst.copy_from_slice(&frame[0..6]);
        src.copy_from_slice(&frame[6..12]);
        let now = Instant::now();
        targets.clear();
        {
            let mut inner = self.lock();
            if !is_group(&src) {
                learn(&mut inner.table, src, from, now);
            }
            let known = (!is_group(&dst))
                .then(|| inner.table.get(&dst))
                .flatten()
                .filter(|e| now.duration_since(e.seen) < ADDRESS_AGE)
                .map(|e| e.port);
            match known {
                // Never back out of the port it came in on.
                Some(p) if p == from => {}
                Some(p) => targets.extend(
                    inner
                        .ports
                        .iter()
                        .filter(|(id, _)| *id == p)
                        .map(|(_, port)| port.clone()),
                ),
                None => targets.extend(
                    inner
                        .ports
                        .iter()
                        .filter(|(id, _)| *id != from)
                        .map(|(_, port)| port.clone()),
                ),
            }
        }
        // Delivered outside the lock: other ports forward meanwhile.
        for port in targets.drain(..) {
            port.deliver(frame);
        }
    }
}

fn learn(table: &mut HashMap<Mac, Entry>, mac: Mac, port: PortId, now: Instant) {
    if let Some(e) = table.get_mut(&mac) {
        e.port = port;
        e.seen = now;
        return;
    }
    if table.len() >= MAX_ADDRESSES {
        // Expired entries first; else the oldest one.
        table.retain(|_, e| now.duration_since(e.seen) < ADDRESS_AGE);
        if table.len() >= MAX_ADDRESSES {
            if let Some(oldest) = table.iter().min_by_key(|(_, e)| e.seen).map(|(m, _)| *m) {
                table.remove(&oldest);
            }
        }
    }
    table.insert(mac, Entry { port, seen: now });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Sink(Mutex<Vec<Vec<u8>>>);
    impl Port for Sink {
        fn deliver(&self, frame: &[u8]) {
            self.0.lock().unwrap().push(frame.to_vec());
        }
    }
    impl Sink {
        fn take(&self) -> Vec<Vec<u8>> {
            std::mem::take(&mut self.0.lock().unwrap())
        }
    }

    fn frame(dst: u8, src: u8) -> Vec<u8> {
        let mut f = vec![0u8; 60];
        f[..6].copy_from_slice(&[2, 0, 0, 0, 0, dst]);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, src]);
        f
    }

    #[test]
    fn unknown_destinations_flood_and_learned_ones_go_to_one_port() {
        let sw = Switch::new();
        let sinks: Vec<Arc<Sink>> = (0..3).map(|_| Arc::new(Sink::default())).collect();
        let ids: Vec<PortId> = sinks.iter().map(|s| sw.attach(s.clone())).collect();
        let mut t = Vec::new();
        // 1 → 2, unknown: flooded to ports 1 and 2 (not back to 0).
        sw.forward(ids[0], &frame(2, 1), &mut t);
        assert_eq!(sinks[0].take().len(), 0);
        assert_eq!(sinks[1].take().len(), 1);
        assert_eq!(sinks[2].take().len(), 1);
        // 2 → 1: address 1 was learned on port 0; only it receives.
        sw.forward(ids[1], &frame(1, 2), &mut t);
        assert_eq!(sinks[0].take(), vec![frame(1, 2)]);
        assert!(sinks[2].take().is_empty());
        // Broadcast goes everywhere else.
        let mut b = frame(0, 3);
        b[..6].copy_from_slice(&[0xff; 6]);
        sw.forward(ids[2], &b, &mut t);
        assert_eq!(sinks[0].take().len() + sinks[1].take().len(), 2);
        // A detached port's addresses are forgotten: 2 → 1 floods again.
        sw.detach(ids[0]);
        sw.forward(ids[1], &frame(1, 2), &mut t);
        assert_eq!(sinks[2].take().len(), 1);
        assert_eq!(sw.ports(), 2);
    }

    #[test]
    fn the_table_stays_bounded_and_hairpins_are_dropped() {
        let sw = Switch::new();
        let a = Arc::new(Sink::default());
        let b = Arc::new(Sink::default());
        let (ia, _ib) = (sw.attach(a.clone()), sw.attach(b.clone()));
        let mut t = Vec::new();
        for i in 0..(MAX_ADDRESSES + 100) as u32 {
            let mut f = frame(9, 0);
            f[6..12].copy_from_slice(&[2, 1, 0, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
            sw.forward(ia, &f, &mut t);
        }
        assert!(sw.lock().table.len() <= MAX_ADDRESSES);
        b.take();
        // A frame for an address learned on its own port goes nowhere.
        let mut f = frame(0, 7);
        f[..6].copy_from_slice(&[2, 1, 0, 0, 0x10, 0x63]);
        sw.forward(ia, &f, &mut t);
        assert!(b.take().is_empty() && a.take().is_empty());
    }
}
