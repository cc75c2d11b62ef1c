//! Why a connection was closed.

use std::io;
use vu_protocol::{FrontendReq, ProtocolError};

/// A broken virtqueue: the front-end published something no well-behaved
/// driver would, or the queue's call notifier failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    #[error("ring is not inside guest memory")]
    RingOutsideMemory,
    #[error("available index moved by {0}, more than the queue size")]
    AvailIndexJump(u16),
    #[error("head descriptor index {0} out of range")]
    HeadOutOfRange(u16),
    #[error("next descriptor index {0} out of range")]
    NextOutOfRange(u16),
    #[error("descriptor chain longer than its table (a loop)")]
    ChainLoop,
    #[error("buffer at {addr:#x}+{len:#x} is outside guest memory")]
    BufferOutsideMemory { addr: u64, len: u64 },
    #[error("chain length overflows")]
    LengthOverflow,
    #[error("device-readable descriptor after a device-writable one")]
    ReadableAfterWritable,
    #[error("nested indirect descriptor table")]
    NestedIndirect,
    #[error("indirect descriptor with the NEXT flag")]
    IndirectWithNext,
    #[error("indirect table of {0} bytes (must be a non-zero multiple of 16)")]
    BadIndirectLength(u32),
    #[error("indirect table of {entries} descriptors, more than the queue size {size}")]
    IndirectTooLong { entries: u32, size: u16 },
    #[error("descriptor chain of more buffers than the queue size {size}")]
    ChainTooLong { size: u16 },
    #[error("zero-length buffer at {addr:#x}")]
    ZeroLengthBuffer { addr: u64 },
    #[error("descriptor chain split into more than {max} pieces of guest memory")]
    TooManyPieces { max: usize },
    #[error("cannot signal the call notifier")]
    Call(#[source] io::Error),
    /// The device found the request malformed ([`crate::Request::reject`]).
    #[error("malformed request: {0}")]
    Rejected(String),
}

/// Why a connection ended with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("socket I/O failed")]
    Io(#[source] io::Error),
    #[error("invalid message")]
    Protocol(#[from] ProtocolError),
    #[error("front-end sent more file descriptors than any message carries")]
    TooManyFds,
    #[error("connection closed in the middle of a message")]
    TruncatedMessage,
    #[error("{0:?} before SET_MEM_TABLE")]
    NoMemoryTable(FrontendReq),
    #[error("{req:?} for queue {queue} before SET_VRING_NUM")]
    NoQueueSize { req: FrontendReq, queue: u32 },
    #[error("cannot map memory region {index}")]
    Map {
        index: usize,
        #[source]
        source: io::Error,
    },
    #[error("queue {queue}: size {size} exceeds the device's maximum {max}")]
    QueueTooLarge { queue: u32, size: u32, max: u16 },
    #[error("queue {0}: ring addresses are not inside guest memory")]
    RingAddress(u32),
    #[error("queue {queue} is broken")]
    Queue {
        queue: u16,
        #[source]
        source: QueueError,
    },
    #[error("queue {0}: polling mode (no kick fd) is not supported")]
    NoKickFd(u32),
    #[error("queue {0}: cannot use notifier")]
    Notifier(u32, #[source] io::Error),
    #[error("feature bits {0:#x} acknowledged but not offered")]
    FeaturesNotOffered(u64),
    #[error("protocol feature bits {0:#x} acknowledged but not offered")]
    ProtocolFeaturesNotOffered(u64),
    #[error("{0:?} needs VHOST_USER_F_PROTOCOL_FEATURES to be negotiated")]
    NeedsProtocolFeatures(FrontendReq),
    #[error("the device refused the configuration write at {offset}+{len}")]
    ConfigWriteRefused { offset: u32, len: u32 },
    #[error("unsupported request {0:?}")]
    Unsupported(FrontendReq),
    #[error("queue {queue}: worker thread failed")]
    Worker {
        queue: u16,
        #[source]
        source: io::Error,
    },
    #[error("queue {0}: the device's handler panicked")]
    WorkerPanicked(u16),
    #[error("queue {0}: used-ring logging asked for, but logging was never offered")]
    LoggingNotNegotiated(u32),
    #[error("guest memory region {0}: the front-end shrank its file under the mapping")]
    MemoryShrank(usize),
    /// The device found the driver's data malformed ([`crate::Device::fault`]).
    #[error("the device refused the driver's data")]
    Device(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A termination signal arrived while the back-end waited for the
    /// front-end to read a reply (the session ends as terminated).
    #[error("terminated by a signal while the front-end was not reading")]
    Terminated,
}
