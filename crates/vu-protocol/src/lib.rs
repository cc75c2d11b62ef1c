//! The vhost-user wire format, with no I/O and no OS code.
//!
//! # Design
//!
//! * [`Header`] is the 12-byte message header; [`FrontendReq`] and
//!   [`BackendReq`] are the request codes of the two directions as typed enums.
//! * Every message body is a `#[repr(C)]` struct in [`msg`] that implements
//!   [`Pod`], the only place that needs `unsafe`: reading a body from bytes
//!   and viewing it as bytes, without copying field by field. Bodies are in
//!   the machine's native byte order, as the protocol says.
//! * [`FrontendMsg::parse`] turns a received header, payload and fd count into
//!   a typed message. It is one `match` on the request code that calls exactly
//!   one `validate_*` function per message (sizes, region and fd counts,
//!   queue indexes, flag and version bits), so the checks are easy to audit.
//!   Anything it returns is safe to act on; anything else is a
//!   [`ProtocolError`] and the connection should be closed.
//! * [`virtio`] holds the guest-visible formats that both sides of a
//!   vhost-user connection need: feature bits, the split virtqueue layout and
//!   the virtio-blk and virtio-rng request formats. Those are little-endian
//!   and are encoded and decoded explicitly, byte by byte.
//!
//! The front-end and the back-end share this crate, so what one sends is
//! checked by the same code the other one uses to accept it.
#![deny(clippy::undocumented_unsafe_blocks)]

mod error;
mod features;
mod header;
mod parse;
mod pod;
mod request;

pub mod msg;
pub mod virtio;

pub use error::ProtocolError;
pub use features::{ProtocolFeatures, VHOST_F_LOG_ALL, VHOST_USER_F_PROTOCOL_FEATURES};
pub use header::{Header, HEADER_SIZE, VERSION};
pub use parse::{validate_reply, FrontendMsg, Limits, VringFd};
pub use pod::Pod;
pub use request::{BackendReq, FrontendReq};

/// The largest payload either side accepts: every fixed body and an 8-region
/// memory table fit well inside it; more is a malformed message.
pub const MAX_PAYLOAD_SIZE: u32 = 4096;

/// Memory regions (and so file descriptors) one `SET_MEM_TABLE` may carry
/// when `CONFIGURE_MEM_SLOTS` is not negotiated.
pub const MAX_MEM_REGIONS: usize = 8;

/// File descriptors one message may carry.
pub const MAX_FDS: usize = 8;

/// Largest device configuration space a `GET_CONFIG`/`SET_CONFIG` may address.
pub const MAX_CONFIG_SIZE: u32 = 256;

/// The largest split virtqueue the virtio specification allows.
pub const MAX_QUEUE_SIZE: u16 = 32768;
