//! The VMM (front-end) side of vhost-user, as a library.
//!
//! # Design
//!
//! * [`Connection`] is the socket: typed requests with fds attached, reply
//!   checking with `vu_protocol::validate_reply`, and raw sends so tests can
//!   put malformed messages on the wire.
//! * [`GuestRam`] is the "guest" memory: one or more shared-memory regions
//!   (`vu_sys::SharedMemory`) laid out back to back in guest-physical address
//!   space, with a bump allocator. Its regions are what `SET_MEM_TABLE` sends.
//! * [`Frontend`] performs the handshake (owner, features, protocol
//!   features, queue count, memory table, then per queue size, base,
//!   addresses, call, kick and enable) and drives split rings: [`Frontend::submit`]
//!   places a descriptor chain and kicks, [`Frontend::wait_used`] waits on
//!   the call notifier for completions. Requests may complete in any order;
//!   the head index identifies them. A driver that batches uses
//!   [`Frontend::push_avail`] for each chain and [`Frontend::kick`] once
//!   (skipped while the back-end sets `VRING_USED_F_NO_NOTIFY`), and
//!   [`Frontend::set_interrupts`] to ask for calls only before it sleeps.
//!   With `Options::event_idx` (and a back-end that offers it),
//!   `VIRTIO_RING_F_EVENT_IDX` is negotiated and the same calls go through
//!   the rings' `avail_event` and `used_event` instead of their flags.
//! * [`blk::BlkDevice`], [`input::InputDevice`], [`net::NetDevice`],
//!   [`rng::RngDevice`] and [`scsi::ScsiDevice`] are typed helpers on top
//!   (`NetDevice`: one port of a switch, with mergeable receive buffers
//!   joined as their header says).
//!   `BlkDevice` keeps one pre-allocated slot (header, data, status buffers)
//!   per in-flight request, so a benchmark can keep N requests in flight on
//!   each queue with [`blk::BlkDevice::submit`] and [`blk::BlkDevice::wait`]
//!   and never allocates guest memory on the hot path;
//!   [`blk::BlkDevice::enqueue`], [`blk::BlkDevice::kick`] and
//!   [`blk::BlkDevice::try_complete`] batch submissions and reap completions
//!   without copying the data out (the benchmark driver, `vu-bench`).
//!
//! Everything here is portable and self-contained so the same tests run in
//! BSD and Linux guests: no `/proc`, no shell, no files from the source tree.
#![forbid(unsafe_code)]

mod connection;
mod error;
mod frontend;
mod memory;

pub mod blk;
pub mod input;
pub mod net;
pub mod rng;
pub mod scsi;
#[cfg(feature = "testutil")]
pub mod testutil;

pub use connection::Connection;
pub use error::Error;
pub use frontend::{Buf, Frontend, Options, QueueLayout};
pub use memory::GuestRam;
