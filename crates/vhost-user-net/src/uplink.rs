//! Uplinks: ports that lead out of the switch.
//!
//! [`UdpUplink`] is the counterpart of QEMU's `-netdev dgram`: each frame is
//! one UDP datagram (no header of any kind), sent to the remote address;
//! datagrams are accepted from that address only. Sends never block: a
//! full socket buffer drops the frame, as a congested link would.

use crate::switch::{PortId, Switch, MAX_FRAME, MIN_FRAME};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::thread::JoinHandle;
use vu_sys::{Direction, Notifier, Waited};

/// Why an uplink could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum UplinkError {
    #[error("cannot bind UDP uplink to {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("cannot set up the UDP uplink")]
    Setup(#[source] io::Error),
}

/// The switch's side of a UDP uplink.
#[derive(Debug)]
struct UdpPort {
    socket: UdpSocket,
    remote: SocketAddr,
}

impl crate::switch::Port for UdpPort {
    fn deliver(&self, frame: &[u8]) {
        if let Err(e) = self.socket.send_to(frame, self.remote) {
            log::debug!("udp uplink: frame dropped: {e}");
        }
    }
}

/// A running UDP uplink; [`UdpUplink::stop`] ends it.
#[derive(Debug)]
pub struct UdpUplink {
    local: SocketAddr,
    stop: Notifier,
    thread: Option<JoinHandle<()>>,
    switch: Arc<Switch>,
    id: PortId,
}

impl UdpUplink {
    /// Binds `local`, attaches to `switch` and starts receiving from `remote`.
    pub fn start(
        switch: Arc<Switch>,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<Self, UplinkError> {
        let socket = UdpSocket::bind(local).map_err(|source| UplinkError::Bind {
            addr: local,
            source,
        })?;
        socket.set_nonblocking(true).map_err(UplinkError::Setup)?;
        let bound = socket.local_addr().map_err(UplinkError::Setup)?;
        let rx = socket.try_clone().map_err(UplinkError::Setup)?;
        let id = switch.attach(Arc::new(UdpPort { socket, remote }));
        let stop = Notifier::new().map_err(UplinkError::Setup)?;
        let cancel = stop
            .read_fd()
            .try_clone_to_owned()
            .map_err(UplinkError::Setup)?;
        let sw = switch.clone();
        let thread = std::thread::Builder::new()
            .name("udp-uplink".into())
            .spawn(move || receive(&sw, id, &rx, remote, &cancel))
            .map_err(UplinkError::Setup)?;
        log::info!("udp uplink: {bound} <-> {remote}");
        Ok(Self {
            local: bound,
            stop,
            thread: Some(thread),
            switch,
            id,
        })
    }

    /// The bound local address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Stops receiving and detaches from the switch.
    pub fn stop(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        let _ = self.stop.notify();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.switch.detach(self.id);
    }
}

impl Drop for UdpUplink {
    fn drop(&mut self) {
        self.shut();
    }
}

fn receive(
    switch: &Switch,
    id: PortId,
    socket: &UdpSocket,
    remote: SocketAddr,
    cancel: &std::os::fd::OwnedFd,
) {
    // One datagram can be up to 64 KiB; longer frames are not forwarded.
    let mut buf = vec![0u8; 65_536 + 64];
    let mut targets = Vec::new();
    loop {
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                if from != remote {
                    log::debug!("udp uplink: ignoring a datagram from {from}");
                } else if (MIN_FRAME..=MAX_FRAME).contains(&n) {
                    switch.forward(id, &buf[..n], &mut targets);
                } else {
                    log::debug!("udp uplink: ignoring a {n}-byte datagram (not a frame)");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                match vu_sys::wait_io(socket.as_fd(), Direction::Read, cancel.as_fd()) {
                    Ok(Waited::Ready) => {}
                    Ok(Waited::Cancelled) => return,
                    Err(e) => {
                        log::error!("udp uplink stopped: {e}");
                        return;
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // ICMP errors from a remote that is not listening (yet) come
            // back as refused receives; the link stays up.
            Err(e) => log::debug!("udp uplink: {e}"),
        }
    }
}
