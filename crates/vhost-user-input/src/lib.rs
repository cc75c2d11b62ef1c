//! `vhost-user-input`: a virtio-input device (virtio 1.x, 5.8) served over
//! vhost-user, fed by a scripted event source on every OS, or by an evdev
//! device where the OS has evdev (Linux, FreeBSD).
//!
//! The device has two queues. The driver keeps device-writable 8-byte
//! buffers posted on the event queue; each event read from the source is
//! written into the next one, and a buffer waits in the ring while no event
//! does (the framework's device-filled queues, `Device::fills`: the source's
//! fd is the device's wake fd, so an idle device neither spins nor completes
//! empty events). The status queue carries events the other way
//! (LEDs, sounds, autorepeat settings): each must be exactly one 8-byte
//! event of a valid type; anything else is malformed and closes the
//! connection. The configuration space shows one item at a time (name,
//! serial, device IDs, property bits, per-type event bits, per-axis ranges)
//! as the driver selects it.
#![forbid(unsafe_code)]

pub mod config;
pub mod device;
#[cfg(any(target_os = "linux", target_os = "freebsd"))]
pub mod evdev;
pub mod script;
pub mod source;
