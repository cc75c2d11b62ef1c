//! Why a message was refused.

use crate::FrontendReq;

/// A message that breaks the protocol; the peer should close the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    #[error("unknown request code {0}")]
    UnknownRequest(u32),
    #[error("unsupported protocol version {0} (expected 1)")]
    BadVersion(u32),
    #[error("unexpected header flags {0:#x}")]
    BadFlags(u32),
    #[error("payload of {size} bytes exceeds the {max}-byte limit")]
    Oversize { size: u32, max: u32 },
    #[error("{req:?}: payload is {got} bytes, expected {expected}")]
    BadSize {
        req: FrontendReq,
        got: usize,
        expected: usize,
    },
    #[error("{req:?}: carries {got} file descriptors, expected {expected}")]
    BadFdCount {
        req: FrontendReq,
        got: usize,
        expected: usize,
    },
    #[error("{req:?}: queue index {index} out of range (device has {max} queues)")]
    BadQueueIndex {
        req: FrontendReq,
        index: u32,
        max: u32,
    },
    #[error("{req:?}: invalid value {value:#x} for {field}")]
    BadValue {
        req: FrontendReq,
        field: &'static str,
        value: u64,
    },
    #[error("SET_MEM_TABLE: {count} regions (must be 1 to {max})")]
    BadRegionCount { count: u32, max: usize },
    #[error("memory region {index}: {reason}")]
    BadRegion { index: usize, reason: &'static str },
    #[error("{req:?} needs protocol feature {feature} which was not negotiated")]
    NotNegotiated {
        req: FrontendReq,
        feature: &'static str,
    },
    #[error("reply to {got:?} received while waiting for {expected:?}")]
    UnexpectedReply { got: u32, expected: FrontendReq },
    #[error("reply without the reply flag set")]
    NotAReply,
}
