//! An evdev device as the event source (Linux, FreeBSD): the device's own
//! identity and capabilities become the virtio-input profile, it is grabbed
//! unless asked not to be, and its events are passed on as they come.

use crate::config::Profile;
use std::collections::BTreeMap;
use std::io;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use vu_protocol::virtio::input::{ev, AbsInfo, DevIds, Event};

/// An open evdev device.
#[derive(Debug)]
pub struct Evdev {
    path: PathBuf,
    dev: vu_sys::evdev::Evdev,
}

impl Evdev {
    /// Opens `path`, grabbing it when `grab` is set.
    pub fn open(path: &Path, grab: bool) -> io::Result<Self> {
        let dev = vu_sys::evdev::Evdev::open(path)?;
        // Fails on anything that is not an evdev device.
        dev.name()?;
        if grab {
            dev.grab(true)?;
        }
        Ok(Self {
            path: path.to_owned(),
            dev,
        })
    }

    /// The profile the device describes (its serial, when it has none, is
    /// `fallback_serial`).
    pub fn profile(&self, fallback_serial: &str) -> io::Result<Profile> {
        let [bustype, vendor, product, version] = self.dev.ids()?;
        let types = self.dev.bits(0)?;
        let mut ev_bits = BTreeMap::new();
        let mut abs = BTreeMap::new();
        for kind in 1..=ev::MAX {
            if !crate::config::has_bit(&types, kind) {
                continue;
            }
            let bits = self.dev.bits(kind)?;
            let last = bits.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            // EV_REP has no codes of its own in some drivers: keep the type.
            let bits = if last == 0 {
                vec![0]
            } else {
                bits[..last].to_vec()
            };
            if kind == ev::ABS {
                for axis in 0..(bits.len() * 8) as u16 {
                    if crate::config::has_bit(&bits, axis) {
                        let [_, min, max, fuzz, flat, res] = self.dev.abs(axis)?;
                        abs.insert(
                            axis,
                            AbsInfo {
                                min: min as u32,
                                max: max as u32,
                                fuzz: fuzz as u32,
                                flat: flat as u32,
                                res: res as u32,
                            },
                        );
                    }
                }
            }
            ev_bits.insert(kind, bits);
        }
        let serial = self.dev.serial()?;
        Ok(Profile {
            name: self.dev.name()?,
            serial: if serial.is_empty() {
                fallback_serial.to_owned()
            } else {
                serial
            },
            ids: DevIds {
                bustype,
                vendor,
                product,
                version,
            },
            props: self.dev.props()?,
            ev_bits,
            abs,
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.dev.fd()
    }

    /// Reads the events available now; `false` when the device is gone.
    pub fn read(&mut self, out: &mut Vec<Event>) -> bool {
        let mut raw = Vec::new();
        let open = match self.dev.read(&mut raw) {
            Ok(open) => open,
            Err(e) => {
                log::error!("reading {}: {e}", self.path.display());
                false
            }
        };
        out.extend(raw.into_iter().map(|e| Event {
            kind: e.kind,
            code: e.code,
            value: e.value as u32,
        }));
        if !open {
            log::warn!(
                "{}: the device is gone; no more events",
                self.path.display()
            );
        }
        open
    }
}
