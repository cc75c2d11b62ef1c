//! The tap uplink: the switch's frames go to a tap interface of the host,
//! whose kernel sees them as arriving on that interface, and what the
//! kernel sends out of it comes back into the switch. Linux's
//! `/dev/net/tun`, the BSDs' tap devices (`vu_sys::tap`).

use super::{Link, Received, Uplink, UplinkError};
use crate::switch::Switch;
use std::io;
use std::os::fd::BorrowedFd;
use std::sync::Arc;
use vu_sys::tap::Tap;

/// An open tap interface.
#[derive(Debug)]
pub struct TapLink {
    tap: Tap,
}

impl TapLink {
    /// Creates (or attaches to) the interface `name`; `"tap"` lets the OS
    /// pick a free one.
    pub fn open(name: &str) -> Result<Self, UplinkError> {
        let tap = Tap::open(name).map_err(|source| UplinkError::Tap {
            name: name.to_string(),
            source,
        })?;
        Ok(Self { tap })
    }

    /// The interface's name, as the OS knows it.
    pub fn name(&self) -> &str {
        self.tap.name()
    }

    /// Logs the link and starts it on `switch`.
    pub fn start(self, switch: Arc<Switch>) -> Result<Uplink, UplinkError> {
        log::info!("tap uplink: interface {}", self.name());
        Uplink::start(switch, self)
    }
}

impl Link for TapLink {
    fn label(&self) -> &'static str {
        "tap uplink"
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.tap.fd()
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        self.tap.recv(buf).map(Received::Frame)
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        self.tap.send(frame).map(drop)
    }
}
