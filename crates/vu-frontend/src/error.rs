//! Front-end errors.

use std::io;
use vu_protocol::ProtocolError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot connect to {path}")]
    Connect {
        path: std::path::PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("socket I/O failed while {0}")]
    Io(&'static str, #[source] io::Error),
    #[error("the back-end closed the connection")]
    Closed,
    #[error("invalid reply from the back-end")]
    Protocol(#[from] ProtocolError),
    #[error("the back-end refused {0:?} (reply-ack {1})")]
    Nack(vu_protocol::FrontendReq, u64),
    #[error("the back-end does not offer {0}")]
    MissingFeature(&'static str),
    #[error("{requested} queues requested, the back-end has {available}")]
    TooManyQueues { requested: u16, available: u64 },
    #[error("cannot create shared memory")]
    SharedMemory(#[source] io::Error),
    #[error("cannot create a notifier")]
    Notifier(#[source] io::Error),
    #[error("guest memory exhausted (asked for {0} bytes)")]
    OutOfGuestMemory(u64),
    #[error("queue {0} has no free descriptors or slots")]
    QueueFull(u16),
    #[error("no such queue {0}")]
    NoSuchQueue(u16),
    #[error("timed out waiting for queue {0}")]
    Timeout(u16),
    #[error("queue {queue}: the back-end completed unknown descriptor {id}")]
    BadUsedId { queue: u16, id: u32 },
    #[error("request is larger than a slot ({len} > {max} bytes)")]
    RequestTooLarge { len: usize, max: usize },
    #[error("GET_CONFIG failed (empty reply)")]
    ConfigUnavailable,
}
