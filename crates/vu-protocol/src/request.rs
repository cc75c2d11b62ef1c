//! Request codes of both directions.

macro_rules! requests {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $n:literal,)* }) => {
        $(#[$m])*
        #[repr(u32)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name { $($(#[$vm])* $v = $n,)* }

        impl $name {
            /// The request with wire code `code`, if it is a known one.
            pub fn from_code(code: u32) -> Option<Self> {
                match code { $($n => Some(Self::$v),)* _ => None }
            }

            /// The wire code.
            pub fn code(self) -> u32 {
                self as u32
            }
        }
    };
}

requests! {
    /// Requests sent by the front-end (the VMM) to the back-end.
    FrontendReq {
        GetFeatures = 1,
        SetFeatures = 2,
        SetOwner = 3,
        ResetOwner = 4,
        SetMemTable = 5,
        SetLogBase = 6,
        SetLogFd = 7,
        SetVringNum = 8,
        SetVringAddr = 9,
        SetVringBase = 10,
        GetVringBase = 11,
        SetVringKick = 12,
        SetVringCall = 13,
        SetVringErr = 14,
        GetProtocolFeatures = 15,
        SetProtocolFeatures = 16,
        GetQueueNum = 17,
        SetVringEnable = 18,
        SendRarp = 19,
        NetSetMtu = 20,
        SetBackendReqFd = 21,
        IotlbMsg = 22,
        SetVringEndian = 23,
        GetConfig = 24,
        SetConfig = 25,
        CreateCryptoSession = 26,
        CloseCryptoSession = 27,
        PostcopyAdvise = 28,
        PostcopyListen = 29,
        PostcopyEnd = 30,
        GetInflightFd = 31,
        SetInflightFd = 32,
        GpuSetSocket = 33,
        ResetDevice = 34,
        VringKick = 35,
        GetMaxMemSlots = 36,
        AddMemReg = 37,
        RemMemReg = 38,
        SetStatus = 39,
        GetStatus = 40,
    }
}

requests! {
    /// Requests sent by the back-end to the front-end on the back-end channel.
    BackendReq {
        IotlbMsg = 1,
        ConfigChangeMsg = 2,
        VringHostNotifierMsg = 3,
        VringCall = 4,
        VringErr = 5,
        SharedObjectAdd = 6,
        SharedObjectRemove = 7,
        SharedObjectLookup = 8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_codes_round_trip_and_unknown_codes_are_none() {
        for code in 1..=40 {
            assert_eq!(
                FrontendReq::from_code(code).map(FrontendReq::code),
                Some(code)
            );
        }
        assert_eq!(FrontendReq::from_code(0), None);
        assert_eq!(FrontendReq::from_code(41), None);
        assert_eq!(BackendReq::from_code(2), Some(BackendReq::ConfigChangeMsg));
        assert_eq!(BackendReq::from_code(9), None);
    }
}
