//! The 12-byte header in front of every vhost-user message.

use crate::pod::pod;
use crate::ProtocolError;

/// Protocol version carried in the low two bits of `flags`.
pub const VERSION: u32 = 0x1;
/// Size of [`Header`] on the wire.
pub const HEADER_SIZE: usize = 12;

const VERSION_MASK: u32 = 0x3;

pod! {
    /// Message header: request code, flags (version, reply, need-reply) and
    /// payload size.
    pub struct Header {
        pub request: u32,
        pub flags: u32,
        pub size: u32,
    } = 12;
}

impl Header {
    /// Set on every reply.
    pub const REPLY: u32 = 1 << 2;
    /// Asks for a `REPLY_ACK` style reply.
    pub const NEED_REPLY: u32 = 1 << 3;

    /// A request header with the current version.
    pub fn request(request: u32, size: u32, need_reply: bool) -> Self {
        let flags = VERSION | if need_reply { Self::NEED_REPLY } else { 0 };
        Self {
            request,
            flags,
            size,
        }
    }

    /// The header of the reply to `self`, carrying `size` payload bytes.
    pub fn reply(&self, size: u32) -> Self {
        Self {
            request: self.request,
            flags: VERSION | Self::REPLY,
            size,
        }
    }

    /// Whether the sender asked for an acknowledgement.
    pub fn need_reply(&self) -> bool {
        self.flags & Self::NEED_REPLY != 0
    }

    /// Whether this is a reply.
    pub fn is_reply(&self) -> bool {
        self.flags & Self::REPLY != 0
    }

    /// Checks what every message must satisfy: the version, no unknown flag
    /// bits, and a payload no larger than [`crate::MAX_PAYLOAD_SIZE`].
    /// Called before reading the payload, so an oversize message is refused
    /// without reading it.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        let version = self.flags & VERSION_MASK;
        if version != VERSION {
            return Err(ProtocolError::BadVersion(version));
        }
        if self.flags & !(VERSION_MASK | Self::REPLY | Self::NEED_REPLY) != 0 {
            return Err(ProtocolError::BadFlags(self.flags));
        }
        if self.size > crate::MAX_PAYLOAD_SIZE {
            return Err(ProtocolError::Oversize {
                size: self.size,
                max: crate::MAX_PAYLOAD_SIZE,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Pod;

    #[test]
    fn header_is_twelve_bytes_native_endian() {
        let h = Header::request(5, 40, true);
        assert_eq!(h.as_bytes().len(), HEADER_SIZE);
        assert_eq!(Header::read_from(h.as_bytes()), Some(h));
        assert_eq!(&h.as_bytes()[..4], &5u32.to_ne_bytes());
        assert_eq!(h.flags, 0x9);
    }

    #[test]
    fn validate_rejects_version_flags_and_size() {
        assert_eq!(
            Header {
                request: 1,
                flags: 2,
                size: 0
            }
            .validate(),
            Err(ProtocolError::BadVersion(2))
        );
        assert_eq!(
            Header {
                request: 1,
                flags: 0x11,
                size: 0
            }
            .validate(),
            Err(ProtocolError::BadFlags(0x11))
        );
        assert!(matches!(
            Header {
                request: 1,
                flags: 1,
                size: 4097
            }
            .validate(),
            Err(ProtocolError::Oversize { .. })
        ));
        assert_eq!(Header::request(1, 4096, false).validate(), Ok(()));
        let r = Header::request(1, 0, true).reply(8);
        assert!(r.is_reply() && !r.need_reply());
    }
}
