//! Uplinks: ports that lead out of the switch.
//!
//! An uplink is a [`Link`] (something that sends and receives whole frames
//! without blocking) and one thread that receives from it into the switch.
//! Nothing queues on the way: a frame the link cannot take at once is
//! dropped, as a congested wire would, and a received frame goes straight
//! to the switch (whose ports' inboxes are bounded). Frames that are not
//! Ethernet frames this switch forwards (shorter than [`MIN_FRAME`], longer
//! than [`MAX_FRAME`]) are dropped and counted, never fatal.
//!
//! * [`udp`]: QEMU's `-netdev dgram`; each frame is one UDP datagram.
//! * [`tap`]: a tap interface, where the OS has one (Linux, the BSDs).

#[cfg(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd"
))]
pub mod tap;
pub mod udp;

use crate::switch::{PortId, Switch, MAX_FRAME, MIN_FRAME};
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use vu_sys::{Direction, Notifier, Waited};

/// Why an uplink could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum UplinkError {
    #[error("cannot bind UDP uplink to {addr}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("cannot open tap interface {name:?}")]
    Tap {
        name: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot set up the {0} uplink")]
    Setup(&'static str, #[source] io::Error),
}

/// What one received unit was.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// A frame of this many bytes, at the start of the buffer.
    Frame(usize),
    /// Nothing the link carries (a datagram from a stranger): ignored,
    /// not counted.
    Foreign,
}

/// Frames in and out of a non-blocking medium.
pub trait Link: Send + Sync + 'static {
    /// What the log calls it ("udp uplink", "tap uplink").
    fn label(&self) -> &'static str;
    /// The fd that is readable when a frame waits.
    fn fd(&self) -> BorrowedFd<'_>;
    /// Receives one unit into `buf`; `WouldBlock` when none waits.
    fn recv(&self, buf: &mut [u8]) -> io::Result<Received>;
    /// Sends one frame without blocking.
    fn send(&self, frame: &[u8]) -> io::Result<()>;
}

/// Frames an uplink dropped.
#[derive(Debug, Default)]
pub struct Counters {
    /// Received, but not a frame the switch forwards (runt or oversized).
    pub malformed_in: AtomicU64,
    /// From the switch, but the link could not take it.
    pub dropped_out: AtomicU64,
}

/// The switch's side of an uplink.
struct LinkPort<L> {
    link: Arc<L>,
    counters: Arc<Counters>,
}

impl<L: Link> crate::switch::Port for LinkPort<L> {
    fn deliver(&self, frame: &[u8]) {
        if let Err(e) = self.link.send(frame) {
            self.counters.dropped_out.fetch_add(1, Ordering::Relaxed);
            log::debug!("{}: frame dropped: {e}", self.link.label());
        }
    }
}

/// A running uplink; [`Uplink::stop`] (or dropping it) ends it.
#[derive(Debug)]
pub struct Uplink {
    label: &'static str,
    stop: Notifier,
    thread: Option<JoinHandle<()>>,
    switch: Arc<Switch>,
    id: PortId,
    counters: Arc<Counters>,
}

impl Uplink {
    /// Attaches `link` to `switch` and starts receiving from it.
    pub fn start<L: Link>(switch: Arc<Switch>, link: L) -> Result<Self, UplinkError> {
        let label = link.label();
        let link = Arc::new(link);
        let counters = Arc::new(Counters::default());
        let stop = Notifier::new().map_err(|e| UplinkError::Setup(label, e))?;
        let cancel = stop
            .read_fd()
            .try_clone_to_owned()
            .map_err(|e| UplinkError::Setup(label, e))?;
        let id = switch.attach(Arc::new(LinkPort {
            link: link.clone(),
            counters: counters.clone(),
        }));
        let (sw, c) = (switch.clone(), counters.clone());
        let thread = std::thread::Builder::new()
            .name(label.replace(' ', "-"))
            .spawn(move || receive(&sw, id, &*link, &c, &cancel));
        let thread = match thread {
            Ok(t) => t,
            Err(e) => {
                switch.detach(id);
                return Err(UplinkError::Setup(label, e));
            }
        };
        Ok(Self {
            label,
            stop,
            thread: Some(thread),
            switch,
            id,
            counters,
        })
    }

    /// What it has dropped so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Stops receiving and detaches from the switch.
    pub fn stop(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        let Some(t) = self.thread.take() else {
            return;
        };
        let _ = self.stop.notify();
        let _ = t.join();
        self.switch.detach(self.id);
        let c = &self.counters;
        log::info!(
            "{} stopped: {} malformed frame(s) received, {} frame(s) dropped on the way out",
            self.label,
            c.malformed_in.load(Ordering::Relaxed),
            c.dropped_out.load(Ordering::Relaxed)
        );
    }
}

impl Drop for Uplink {
    fn drop(&mut self) {
        self.shut();
    }
}

fn receive<L: Link>(switch: &Switch, id: PortId, link: &L, counters: &Counters, cancel: &OwnedFd) {
    use std::os::fd::AsFd;
    // One byte more than the longest frame, so that a longer one shows
    // (links cut what does not fit).
    let mut buf = vec![0u8; MAX_FRAME + 1];
    let mut targets = Vec::new();
    loop {
        match link.recv(&mut buf) {
            Ok(Received::Frame(n)) if (MIN_FRAME..=MAX_FRAME).contains(&n) => {
                switch.forward(id, &buf[..n], &mut targets);
            }
            Ok(Received::Frame(n)) => {
                counters.malformed_in.fetch_add(1, Ordering::Relaxed);
                log::debug!("{}: dropped a {n}-byte unit (not a frame)", link.label());
            }
            Ok(Received::Foreign) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                match vu_sys::wait_io(link.fd(), Direction::Read, cancel.as_fd()) {
                    Ok(Waited::Ready) => {}
                    Ok(Waited::Cancelled) => return,
                    Err(e) => {
                        log::error!("{} stopped: {e}", link.label());
                        return;
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Transient errors (a UDP remote not listening yet comes back
            // as a refused receive); the link stays up.
            Err(e) => log::debug!("{}: {e}", link.label()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixDatagram;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    /// A link over one end of a datagram socket pair; the test holds the
    /// other end as the far side.
    struct Pair(UnixDatagram);
    impl Link for Pair {
        fn label(&self) -> &'static str {
            "test uplink"
        }
        fn fd(&self) -> BorrowedFd<'_> {
            self.0.as_fd()
        }
        fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
            self.0.recv(buf).map(Received::Frame)
        }
        fn send(&self, frame: &[u8]) -> io::Result<()> {
            self.0.send(frame).map(drop)
        }
    }

    #[derive(Default)]
    struct Sink(Mutex<Vec<Vec<u8>>>);
    impl crate::switch::Port for Sink {
        fn deliver(&self, frame: &[u8]) {
            self.0.lock().unwrap().push(frame.to_vec());
        }
    }

    #[test]
    fn malformed_frames_from_a_link_are_dropped_and_counted_and_a_full_link_drops_outgoing_ones() {
        let (near, far) = UnixDatagram::pair().unwrap();
        near.set_nonblocking(true).unwrap();
        far.set_nonblocking(true).unwrap();
        let switch = Switch::new();
        let sink = Arc::new(Sink::default());
        let guest = switch.attach(sink.clone());
        let uplink = Uplink::start(switch.clone(), Pair(near)).unwrap();
        let good = [0xffu8; 60];
        far.send(&[0xff; MIN_FRAME - 1]).unwrap();
        far.send(&vec![0xff; MAX_FRAME + 1]).unwrap();
        far.send(&good).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while sink.0.lock().unwrap().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(*sink.0.lock().unwrap(), vec![good.to_vec()]);
        assert_eq!(uplink.counters().malformed_in.load(Ordering::Relaxed), 2);
        // Nobody reads the far end: once its queue is full, frames from the
        // switch are dropped, not queued, and the sender never blocks.
        let mut t = Vec::new();
        let mut frame = vec![0u8; 1500];
        frame[..6].copy_from_slice(&[0xff; 6]);
        for _ in 0..10_000 {
            switch.forward(guest, &frame, &mut t);
        }
        assert!(uplink.counters().dropped_out.load(Ordering::Relaxed) > 0);
        uplink.stop();
        assert_eq!(switch.ports(), 1);
    }
}
