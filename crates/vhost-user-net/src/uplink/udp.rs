//! The UDP uplink, counterpart of QEMU's `-netdev dgram`: each frame is one
//! UDP datagram (no header of any kind), sent to the remote address;
//! datagrams are accepted from that address only. Sends never block: a
//! full socket buffer drops the frame.

use super::{Link, Received, Uplink, UplinkError};
use crate::switch::Switch;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;

/// A UDP socket bound to a local address, talking to one remote.
#[derive(Debug)]
pub struct UdpLink {
    socket: UdpSocket,
    remote: SocketAddr,
}

impl UdpLink {
    /// Binds `local` (port 0 picks one) for frames to and from `remote`.
    pub fn bind(local: SocketAddr, remote: SocketAddr) -> Result<Self, UplinkError> {
        let socket = UdpSocket::bind(local).map_err(|source| UplinkError::Bind {
            addr: local,
            source,
        })?;
        socket
            .set_nonblocking(true)
            .map_err(|e| UplinkError::Setup("udp", e))?;
        Ok(Self { socket, remote })
    }

    /// The bound local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Logs the link and starts it on `switch`.
    pub fn start(self, switch: Arc<Switch>) -> Result<Uplink, UplinkError> {
        let local = self
            .local_addr()
            .map_err(|e| UplinkError::Setup("udp", e))?;
        log::info!("udp uplink: {local} <-> {}", self.remote);
        Uplink::start(switch, self)
    }
}

impl Link for UdpLink {
    fn label(&self) -> &'static str {
        "udp uplink"
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        let (n, from) = self.socket.recv_from(buf)?;
        if from == self.remote {
            Ok(Received::Frame(n))
        } else {
            log::debug!("udp uplink: ignoring a datagram from {from}");
            Ok(Received::Foreign)
        }
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        self.socket.send_to(frame, self.remote).map(drop)
    }
}
