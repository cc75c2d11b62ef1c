//! A vhost-user back-end framework for devices that own their state.
//!
//! # Design
//!
//! * **Threading.** One thread, one event loop. [`serve`] accepts a
//!   connection, then waits (through `vu_sys::Poller`: epoll or kqueue) on
//!   the socket, every queue's kick notifier and the termination signal. A
//!   request on a queue calls [`Device::process`] with `&mut self`, so a
//!   device keeps its state in plain fields: no locks, no framework threads.
//!   A device may opt in to a thread per queue: [`Device::queue_handler`]
//!   hands out a [`QueueHandler`] that owns what the queue needs (shared
//!   read-only settings, its own file handle); that queue's kick is then
//!   served by a worker thread that owns the ring state and the handler
//!   while it runs. Before any message that could change a queue or guest
//!   memory, the event loop stops the workers and takes their state back;
//!   afterwards it restarts those still ready, so message handling stays
//!   single-threaded and no state changes under a worker (`worker.rs`).
//!   A stopped worker's thread parks until its next start and ends with
//!   the connection.
//!   Queues of a multi-queue device are served in turn by that loop, at
//!   most one ring's worth of requests per turn (a queue with more left is
//!   kept pending and served again after the socket and the other queues
//!   had their turn), so no queue, and no control message, waits behind a
//!   busy one. A device that wants parallelism can hand work to its own
//!   threads, but nothing here forces it to.
//! * **Work of its own.** A device that has something for the driver
//!   without being asked (frames for a receive queue, input events) gives
//!   the loop a wake fd ([`Device::wake_fd`]) and names the queues it fills
//!   itself ([`Device::fills`]). Their chains are not requests: they wait
//!   in the ring, for as long as it takes, until [`Device::fill`] has
//!   something to put in them, which the loop asks after the wake fd fired
//!   ([`Device::woken`]) and whenever the driver kicks such a queue. A
//!   device with nothing to report (virtio-scsi's event queue) keeps them
//!   posted; they go back to the driver when it resets the queue.
//! * **Messages.** Every message is parsed and validated by
//!   `vu_protocol::FrontendMsg::parse` first, then handled by one `match` in
//!   `session.rs`. Any error (malformed message, message out of order,
//!   broken descriptor chain, an unmappable region) is logged and closes
//!   that connection; the device is reset and the next connection is
//!   accepted. Nothing the front-end sends can make the process panic or exit.
//! * **Memory.** [`GuestMemory`] holds the regions from `SET_MEM_TABLE`,
//!   each an mmap of its fd. Ring addresses (front-end user addresses) are
//!   translated to guest addresses once, at `SET_VRING_ADDR` and again on a
//!   new memory table; every descriptor buffer is translated and
//!   bounds-checked before the device sees it, and a buffer that crosses
//!   from one region into an adjacent one is split. Devices only ever see
//!   [`Reader`] and [`Writer`], which copy in and out of checked ranges, or
//!   move data between a file and those ranges with one `preadv`/`pwritev`
//!   (`Writer::write_from_file_at`, `Reader::write_to_file_at`). A region
//!   whose fd is a file shorter than the region is refused at mapping time
//!   (it would raise `SIGBUS` on first touch).
//! * **Virtqueues.** Split rings only. A chain, direct or indirect, is
//!   bounded by the queue size: at most that many buffers, an indirect table
//!   of at most that many entries (refused before it is walked), no
//!   zero-length buffer, and at most two pieces of guest memory per queue
//!   entry; a loop ends as an error. Lengths are summed with overflow
//!   checks, readable buffers must precede writable ones, and an indirect
//!   table must be non-empty, a multiple of 16 bytes, inside guest memory and
//!   not nested. A chain's pieces live in one buffer per queue, sized once
//!   from the queue size, so a request's memory and walking work are
//!   O(queue size), whatever lengths it declares. [`Reader`] and [`Writer`]
//!   keep their position and the bytes left, so no length is re-summed;
//!   [`Writer::write_at_end`] puts a status byte at the end of a large
//!   writable area without touching the rest. Requests complete in order,
//!   one used element each, published as soon as it is done.
//! * **Notifications.** While a ring is drained, the driver is asked not
//!   to kick (`VRING_USED_F_NO_NOTIFY`); before the loop sleeps, kicks are
//!   asked for again and the ring checked once more behind a full fence.
//!   Calls are coalesced: one when the unsignalled completions match the
//!   requests still queued (about half the queue depth; at once for a
//!   lone request), none while the driver shows `VRING_AVAIL_F_NO_INTERRUPT`,
//!   and one when the drain ends. See `queue::drain_ring`. A device may
//!   offer `VIRTIO_RING_F_EVENT_IDX` in [`Device::features`]; once the
//!   driver acknowledges it, the same steps go through the rings' event
//!   indexes (virtio 1.x, 2.7.7 and 2.7.10): kicks are asked for by setting
//!   `avail_event` to the next request's index, and declined by setting it
//!   one behind; a call is sent when the used index passed the driver's
//!   `used_event` since the last decision (always the first on a ring, a
//!   moved ring, or a new call fd). A queue the device fills keeps its
//!   `avail_event` at the available index after every fill, so that each
//!   buffer added kicks, as without the feature.
//! * **Polling.** After a drain, a worker (and the event loop, over the
//!   queues it serves) keeps reading the available index for an adaptive
//!   window, kicks suppressed and yielding the CPU between looks, before it
//!   sleeps on the kick fd; before sleeping, kicks are re-enabled and the
//!   rings read once more behind a full fence. The window grows when a request needed a kick within the
//!   maximum and shrinks when the gap was longer, capped by [`Polling`]
//!   (`Listener::with_polling`; zero is off). See `poll.rs`.
//! * **Not offered:** packed rings, IOMMU, logging/migration,
//!   inflight tracking, postcopy, in-band notifications, the back-end request
//!   channel. The front-end is never offered these, so it does not send them;
//!   if it does, the connection is closed.
#![forbid(unsafe_code)]

mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod guarantees;
mod memory;
mod poll;
mod queue;
mod server;
mod session;
mod worker;

pub use error::{Error, QueueError};
pub use memory::GuestMemory;
pub use poll::Polling;
pub use queue::{Filler, Reader, Request, Writer};
pub use server::{error_chain, serve, serve_each, Listener, ServeError};

use std::os::fd::BorrowedFd;
use vu_protocol::ProtocolFeatures;

/// The part of a device that serves one queue on a thread of its own (see
/// [`Device::queue_handler`]). It owns its state; the thread owns it while
/// the queue runs, and it returns to the framework whenever the front-end
/// reconfigures anything.
pub trait QueueHandler: Send {
    /// Handles one request taken from this handler's queue, as
    /// [`Device::process`] does.
    fn process(&mut self, request: &mut Request<'_>);
}

/// A virtio device served over vhost-user.
pub trait Device {
    /// Number of queues; the front-end may use fewer.
    fn num_queues(&self) -> u16;

    /// Largest queue size accepted.
    fn max_queue_size(&self) -> u16 {
        1024
    }

    /// Device feature bits. `VIRTIO_F_VERSION_1`, `RING_INDIRECT_DESC` and
    /// `VHOST_USER_F_PROTOCOL_FEATURES` are added by the framework.
    fn features(&self) -> u64;

    /// Protocol features besides `MQ` and `REPLY_ACK`, which are always
    /// offered; a device with a configuration space returns `CONFIG`.
    fn protocol_features(&self) -> ProtocolFeatures {
        ProtocolFeatures::empty()
    }

    /// Called when the front-end acknowledges features (all bits, including
    /// the framework's).
    fn set_features(&mut self, _features: u64) {}

    /// Reads the configuration space at `offset` into `buf`; `false` if the
    /// range is not readable.
    fn read_config(&self, _offset: u32, _buf: &mut [u8]) -> bool {
        false
    }

    /// Writes the configuration space; `false` refuses the write.
    fn write_config(&mut self, _offset: u32, _data: &[u8]) -> bool {
        false
    }

    /// Handles one request taken from queue `queue`. The bytes written
    /// through `request.writer` become the used length.
    fn process(&mut self, queue: u16, request: &mut Request<'_>);

    /// Opt-in parallelism: a handler owning everything queue `queue` needs
    /// (a cloned file, a copy of the settings), so that the framework can
    /// serve that queue on a thread of its own. Asked once per connection,
    /// before any message. `None`, the default, keeps the queue on the
    /// event loop, which calls [`Device::process`].
    fn queue_handler(&mut self, _queue: u16) -> Option<Box<dyn QueueHandler>> {
        None
    }

    /// Returns to the state of a fresh connection (the front-end left).
    fn reset(&mut self) {}

    /// A device with work of its own (frames arriving for a receive queue,
    /// events from an input source) returns an fd that becomes readable
    /// when it has some; the session waits on it beside the socket and the
    /// kicks, asked once per connection (so it must stay the same fd while
    /// the connection lasts). When it is readable, [`Device::woken`] is
    /// called, then [`Device::fill`] for every queue that [`Device::fills`].
    fn wake_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }

    /// The wake fd was readable: the device takes what it signals (drains
    /// its notifier, reads its source) so that it is unreadable again, and
    /// says whether it can ever become readable again. `false` (the source
    /// ended, or failed and the device logged why) stops watching it for
    /// the rest of the connection. The fill calls follow either way.
    fn woken(&mut self) -> bool {
        true
    }

    /// Whether queue `queue` is filled by the device when it has something
    /// for it (a receive queue, an event queue), through [`Device::fill`],
    /// instead of its requests being handed to [`Device::process`] as they
    /// arrive: its buffers wait in the ring, for as long as it takes, until
    /// the device has something to put in them. Such a queue is never
    /// polled and never served by a worker thread; it is filled when the
    /// device is woken and when the driver kicks it (it added buffers).
    /// Asked once per connection.
    fn fills(&self, _queue: u16) -> bool {
        false
    }

    /// Puts what the device has for queue `queue` into its available
    /// chains (see [`Filler`]); a chain the device finds malformed is
    /// refused with [`Filler::reject`].
    fn fill(&mut self, _queue: u16, _filler: &mut Filler<'_>) {}

    /// Asked after every batch of requests and every fill on the event
    /// loop: a device that found the driver's data malformed (a header no
    /// driver may send) returns why, and the connection is closed as for a
    /// broken ring. The device is reset before the next connection.
    fn fault(&mut self) -> Option<Box<dyn std::error::Error + Send + Sync>> {
        None
    }
}
