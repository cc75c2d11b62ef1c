//! vhost-user feature bits: the protocol-features gate and protocol features.

/// Feature bit (in `GET_FEATURES`) that says the back-end speaks
/// `GET/SET_PROTOCOL_FEATURES`.
pub const VHOST_USER_F_PROTOCOL_FEATURES: u64 = 1 << 30;
/// Feature bit for dirty-page logging during migration.
pub const VHOST_F_LOG_ALL: u64 = 1 << 26;

/// A set of vhost-user protocol feature bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ProtocolFeatures(pub u64);

impl ProtocolFeatures {
    pub const MQ: Self = Self(1 << 0);
    pub const LOG_SHMFD: Self = Self(1 << 1);
    pub const RARP: Self = Self(1 << 2);
    pub const REPLY_ACK: Self = Self(1 << 3);
    pub const NET_MTU: Self = Self(1 << 4);
    pub const BACKEND_REQ: Self = Self(1 << 5);
    pub const CROSS_ENDIAN: Self = Self(1 << 6);
    pub const CRYPTO_SESSION: Self = Self(1 << 7);
    pub const PAGEFAULT: Self = Self(1 << 8);
    pub const CONFIG: Self = Self(1 << 9);
    pub const BACKEND_SEND_FD: Self = Self(1 << 10);
    pub const HOST_NOTIFIER: Self = Self(1 << 11);
    pub const INFLIGHT_SHMFD: Self = Self(1 << 12);
    pub const RESET_DEVICE: Self = Self(1 << 13);
    pub const INBAND_NOTIFICATIONS: Self = Self(1 << 14);
    pub const CONFIGURE_MEM_SLOTS: Self = Self(1 << 15);
    pub const STATUS: Self = Self(1 << 16);
    pub const XEN_MMAP: Self = Self(1 << 17);
    pub const SHARED_OBJECT: Self = Self(1 << 18);
    pub const DEVICE_STATE: Self = Self(1 << 19);

    /// The empty set.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// Whether every bit of `other` is in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The bits in both.
    pub const fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// The bits in either.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The raw bits.
    pub const fn bits(self) -> u64 {
        self.0
    }
}

impl std::ops::BitOr for ProtocolFeatures {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        self.union(rhs)
    }
}
