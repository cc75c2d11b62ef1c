//! Turning a received message into a typed, validated [`FrontendMsg`].
//!
//! [`FrontendMsg::parse`] is the single dispatch `match`; each arm calls the
//! one `validate_*` function for that message.

use crate::msg::{
    ConfigHeader, Inflight, Log, MemoryRegion, MemoryTableHeader, SingleMemoryRegion, VringAddr,
    VringState, U64,
};
use crate::{
    FrontendReq, Header, Pod, ProtocolError, ProtocolFeatures, MAX_CONFIG_SIZE, MAX_MEM_REGIONS,
    MAX_QUEUE_SIZE,
};

/// What the receiving back-end allows; the parse depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Queues the device has; a larger queue index is refused.
    pub num_queues: u32,
    /// Protocol features negotiated so far.
    pub protocol_features: ProtocolFeatures,
    /// Memory regions a table may hold.
    pub max_mem_regions: usize,
}

impl Limits {
    /// Limits for a device with `num_queues` queues before any negotiation.
    pub fn new(num_queues: u32) -> Self {
        Self {
            num_queues,
            protocol_features: ProtocolFeatures::empty(),
            max_mem_regions: MAX_MEM_REGIONS,
        }
    }
}

/// The queue index and fd presence of `SET_VRING_KICK/CALL/ERR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VringFd {
    pub index: u32,
    /// False when the front-end set the "no fd" bit (polling instead).
    pub has_fd: bool,
}

impl VringFd {
    /// Bits of the payload that hold the queue index.
    pub const INDEX_MASK: u64 = 0xff;
    /// Payload bit meaning "no file descriptor attached".
    pub const NOFD: u64 = 1 << 8;
}

/// A validated front-end request. Variants carrying file descriptors say
/// how many; the caller owns the received descriptors in the same order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrontendMsg {
    GetFeatures,
    SetFeatures(u64),
    SetOwner,
    ResetOwner,
    /// One fd per region, same order.
    SetMemTable(Vec<MemoryRegion>),
    /// One fd.
    SetLogBase(Log),
    /// One fd.
    SetLogFd,
    SetVringNum(VringState),
    SetVringAddr(VringAddr),
    SetVringBase(VringState),
    GetVringBase(VringState),
    SetVringKick(VringFd),
    SetVringCall(VringFd),
    SetVringErr(VringFd),
    GetProtocolFeatures,
    SetProtocolFeatures(u64),
    GetQueueNum,
    SetVringEnable(VringState),
    /// One fd.
    SetBackendReqFd,
    GetConfig(ConfigHeader),
    SetConfig(ConfigHeader, Vec<u8>),
    GetInflightFd(Inflight),
    /// One fd.
    SetInflightFd(Inflight),
    ResetDevice,
    GetMaxMemSlots,
    /// One fd.
    AddMemReg(MemoryRegion),
    RemMemReg(MemoryRegion),
    SetStatus(u64),
    GetStatus,
    /// A request this crate knows but does not model; a back-end that did
    /// not offer the feature it belongs to should refuse it.
    Unsupported(FrontendReq),
}

impl FrontendMsg {
    /// Validates a request (`header` already passed [`Header::validate`],
    /// `payload` is exactly `header.size` bytes, `fds` descriptors arrived
    /// with it) and returns it typed.
    pub fn parse(
        header: &Header,
        payload: &[u8],
        fds: usize,
        limits: &Limits,
    ) -> Result<Self, ProtocolError> {
        header.validate()?;
        if header.is_reply() {
            return Err(ProtocolError::BadFlags(header.flags));
        }
        let req = FrontendReq::from_code(header.request)
            .ok_or(ProtocolError::UnknownRequest(header.request))?;
        let m = Msg {
            req,
            payload,
            fds,
            limits,
        };
        use FrontendReq as R;
        Ok(match req {
            R::GetFeatures => m.validate_empty(Self::GetFeatures)?,
            R::SetFeatures => Self::SetFeatures(m.validate_u64()?),
            R::SetOwner => m.validate_empty(Self::SetOwner)?,
            R::ResetOwner => m.validate_empty(Self::ResetOwner)?,
            R::SetMemTable => Self::SetMemTable(m.validate_mem_table()?),
            R::SetLogBase => Self::SetLogBase(m.validate_log_base()?),
            R::SetLogFd => m.validate_fd_only(Self::SetLogFd)?,
            R::SetVringNum => Self::SetVringNum(m.validate_vring_num()?),
            R::SetVringAddr => Self::SetVringAddr(m.validate_vring_addr()?),
            R::SetVringBase => Self::SetVringBase(m.validate_vring_base()?),
            R::GetVringBase => Self::GetVringBase(m.validate_vring_index_only()?),
            R::SetVringKick => Self::SetVringKick(m.validate_vring_fd()?),
            R::SetVringCall => Self::SetVringCall(m.validate_vring_fd()?),
            R::SetVringErr => Self::SetVringErr(m.validate_vring_fd()?),
            R::GetProtocolFeatures => m.validate_empty(Self::GetProtocolFeatures)?,
            R::SetProtocolFeatures => Self::SetProtocolFeatures(m.validate_u64()?),
            R::GetQueueNum => {
                m.validate_empty_with(ProtocolFeatures::MQ, "MQ", Self::GetQueueNum)?
            }
            R::SetVringEnable => Self::SetVringEnable(m.validate_vring_enable()?),
            R::SetBackendReqFd => m.validate_fd_only(Self::SetBackendReqFd)?,
            R::GetConfig => Self::GetConfig(m.validate_config()?.0),
            R::SetConfig => {
                let (h, data) = m.validate_config()?;
                Self::SetConfig(h, data.to_vec())
            }
            R::GetInflightFd => Self::GetInflightFd(m.validate_inflight(0)?),
            R::SetInflightFd => Self::SetInflightFd(m.validate_inflight(1)?),
            R::ResetDevice => m.validate_empty(Self::ResetDevice)?,
            R::GetMaxMemSlots => m.validate_empty(Self::GetMaxMemSlots)?,
            R::AddMemReg => Self::AddMemReg(m.validate_single_region(1)?),
            R::RemMemReg => Self::RemMemReg(m.validate_rem_region()?),
            R::SetStatus => Self::SetStatus(m.validate_u64()?),
            R::GetStatus => m.validate_empty(Self::GetStatus)?,
            R::SendRarp
            | R::NetSetMtu
            | R::IotlbMsg
            | R::SetVringEndian
            | R::CreateCryptoSession
            | R::CloseCryptoSession
            | R::PostcopyAdvise
            | R::PostcopyListen
            | R::PostcopyEnd
            | R::GpuSetSocket
            | R::VringKick => Self::Unsupported(req),
        })
    }
}

/// Checks a reply received by the front-end: a valid header with the reply
/// flag, for `expected`, and a payload of exactly `expected_size` bytes.
pub fn validate_reply(
    header: &Header,
    expected: FrontendReq,
    expected_size: usize,
) -> Result<(), ProtocolError> {
    header.validate()?;
    if !header.is_reply() {
        return Err(ProtocolError::NotAReply);
    }
    if header.request != expected.code() {
        return Err(ProtocolError::UnexpectedReply {
            got: header.request,
            expected,
        });
    }
    if header.size as usize != expected_size {
        return Err(ProtocolError::BadSize {
            req: expected,
            got: header.size as usize,
            expected: expected_size,
        });
    }
    Ok(())
}

struct Msg<'a> {
    req: FrontendReq,
    payload: &'a [u8],
    fds: usize,
    limits: &'a Limits,
}

impl Msg<'_> {
    fn size(&self, expected: usize) -> Result<(), ProtocolError> {
        if self.payload.len() == expected {
            Ok(())
        } else {
            Err(ProtocolError::BadSize {
                req: self.req,
                got: self.payload.len(),
                expected,
            })
        }
    }

    fn fds(&self, expected: usize) -> Result<(), ProtocolError> {
        if self.fds == expected {
            Ok(())
        } else {
            Err(ProtocolError::BadFdCount {
                req: self.req,
                got: self.fds,
                expected,
            })
        }
    }

    fn body<T: Pod>(&self) -> Result<T, ProtocolError> {
        self.size(T::SIZE)?;
        T::read_from(self.payload).ok_or(ProtocolError::BadSize {
            req: self.req,
            got: self.payload.len(),
            expected: T::SIZE,
        })
    }

    fn needs(&self, feature: ProtocolFeatures, name: &'static str) -> Result<(), ProtocolError> {
        if self.limits.protocol_features.contains(feature) {
            Ok(())
        } else {
            Err(ProtocolError::NotNegotiated {
                req: self.req,
                feature: name,
            })
        }
    }

    fn queue(&self, index: u32) -> Result<(), ProtocolError> {
        if index < self.limits.num_queues {
            Ok(())
        } else {
            Err(ProtocolError::BadQueueIndex {
                req: self.req,
                index,
                max: self.limits.num_queues,
            })
        }
    }

    fn bad(&self, field: &'static str, value: u64) -> ProtocolError {
        ProtocolError::BadValue {
            req: self.req,
            field,
            value,
        }
    }

    /// No payload, no fds. Some front-ends send an 8-byte zero payload with
    /// requests that have none; that is accepted too.
    fn validate_empty(&self, msg: FrontendMsg) -> Result<FrontendMsg, ProtocolError> {
        if self.payload.len() != 8 {
            self.size(0)?;
        }
        self.fds(0)?;
        Ok(msg)
    }

    fn validate_empty_with(
        &self,
        f: ProtocolFeatures,
        name: &'static str,
        msg: FrontendMsg,
    ) -> Result<FrontendMsg, ProtocolError> {
        self.needs(f, name)?;
        self.validate_empty(msg)
    }

    fn validate_fd_only(&self, msg: FrontendMsg) -> Result<FrontendMsg, ProtocolError> {
        if self.payload.len() != 8 {
            self.size(0)?;
        }
        self.fds(1)?;
        Ok(msg)
    }

    fn validate_u64(&self) -> Result<u64, ProtocolError> {
        self.fds(0)?;
        Ok(self.body::<U64>()?.value)
    }

    fn validate_mem_table(&self) -> Result<Vec<MemoryRegion>, ProtocolError> {
        let h: MemoryTableHeader = match MemoryTableHeader::read_from(self.payload) {
            Some(h) => h,
            None => {
                return Err(ProtocolError::BadSize {
                    req: self.req,
                    got: self.payload.len(),
                    expected: MemoryTableHeader::SIZE,
                })
            }
        };
        let n = h.num_regions as usize;
        if n == 0 || n > self.limits.max_mem_regions {
            return Err(ProtocolError::BadRegionCount {
                count: h.num_regions,
                max: self.limits.max_mem_regions,
            });
        }
        self.size(MemoryTableHeader::SIZE + n * MemoryRegion::SIZE)?;
        self.fds(n)?;
        let regions: Vec<MemoryRegion> = self.payload[MemoryTableHeader::SIZE..]
            .chunks_exact(MemoryRegion::SIZE)
            .filter_map(MemoryRegion::read_from)
            .collect();
        for (index, r) in regions.iter().enumerate() {
            check_region(index, r)?;
            for o in regions.iter().take(index) {
                // Ends are exclusive and cannot overflow (checked above).
                if r.guest_phys_addr < o.guest_phys_addr + o.memory_size
                    && o.guest_phys_addr < r.guest_phys_addr + r.memory_size
                {
                    return Err(ProtocolError::BadRegion {
                        index,
                        reason: "guest addresses overlap another region",
                    });
                }
                if r.user_addr < o.user_addr + o.memory_size
                    && o.user_addr < r.user_addr + r.memory_size
                {
                    return Err(ProtocolError::BadRegion {
                        index,
                        reason: "user addresses overlap another region",
                    });
                }
            }
        }
        Ok(regions)
    }

    fn validate_log_base(&self) -> Result<Log, ProtocolError> {
        self.needs(ProtocolFeatures::LOG_SHMFD, "LOG_SHMFD")?;
        self.fds(1)?;
        self.body::<Log>()
    }

    fn validate_vring_num(&self) -> Result<VringState, ProtocolError> {
        self.fds(0)?;
        let s: VringState = self.body()?;
        self.queue(s.index)?;
        if s.num == 0 || s.num > u32::from(MAX_QUEUE_SIZE) || !s.num.is_power_of_two() {
            return Err(self.bad("queue size", s.num.into()));
        }
        Ok(s)
    }

    fn validate_vring_addr(&self) -> Result<VringAddr, ProtocolError> {
        self.fds(0)?;
        let a: VringAddr = self.body()?;
        self.queue(a.index)?;
        if a.flags & !VringAddr::F_LOG != 0 {
            return Err(self.bad("vring flags", a.flags.into()));
        }
        // Alignment the split ring layout requires (virtio 1.x 2.7).
        if a.desc_user_addr % 16 != 0 {
            return Err(self.bad("descriptor table alignment", a.desc_user_addr));
        }
        if a.avail_user_addr % 2 != 0 {
            return Err(self.bad("available ring alignment", a.avail_user_addr));
        }
        if a.used_user_addr % 4 != 0 {
            return Err(self.bad("used ring alignment", a.used_user_addr));
        }
        Ok(a)
    }

    fn validate_vring_base(&self) -> Result<VringState, ProtocolError> {
        self.fds(0)?;
        let s: VringState = self.body()?;
        self.queue(s.index)?;
        if s.num > u32::from(u16::MAX) {
            return Err(self.bad("ring base", s.num.into()));
        }
        Ok(s)
    }

    fn validate_vring_index_only(&self) -> Result<VringState, ProtocolError> {
        self.fds(0)?;
        let s: VringState = self.body()?;
        self.queue(s.index)?;
        Ok(s)
    }

    fn validate_vring_enable(&self) -> Result<VringState, ProtocolError> {
        self.fds(0)?;
        let s: VringState = self.body()?;
        self.queue(s.index)?;
        if s.num > 1 {
            return Err(self.bad("enable", s.num.into()));
        }
        Ok(s)
    }

    fn validate_vring_fd(&self) -> Result<VringFd, ProtocolError> {
        let v = self.body::<U64>()?.value;
        if v & !(VringFd::INDEX_MASK | VringFd::NOFD) != 0 {
            return Err(self.bad("vring fd word", v));
        }
        let index = (v & VringFd::INDEX_MASK) as u32;
        self.queue(index)?;
        let has_fd = v & VringFd::NOFD == 0;
        self.fds(usize::from(has_fd))?;
        Ok(VringFd { index, has_fd })
    }

    fn validate_config(&self) -> Result<(ConfigHeader, &[u8]), ProtocolError> {
        self.needs(ProtocolFeatures::CONFIG, "CONFIG")?;
        self.fds(0)?;
        let h = ConfigHeader::read_from(self.payload).ok_or(ProtocolError::BadSize {
            req: self.req,
            got: self.payload.len(),
            expected: ConfigHeader::SIZE,
        })?;
        if h.size > MAX_CONFIG_SIZE {
            return Err(self.bad("config size", h.size.into()));
        }
        if u64::from(h.offset) + u64::from(h.size) > u64::from(MAX_CONFIG_SIZE) {
            return Err(self.bad("config offset", h.offset.into()));
        }
        if h.flags > ConfigHeader::FLAG_LIVE_MIGRATION {
            return Err(self.bad("config flags", h.flags.into()));
        }
        self.size(ConfigHeader::SIZE + h.size as usize)?;
        Ok((h, &self.payload[ConfigHeader::SIZE..]))
    }

    fn validate_inflight(&self, fds: usize) -> Result<Inflight, ProtocolError> {
        self.needs(ProtocolFeatures::INFLIGHT_SHMFD, "INFLIGHT_SHMFD")?;
        self.fds(fds)?;
        let i: Inflight = self.body()?;
        if u32::from(i.num_queues) > self.limits.num_queues {
            return Err(self.bad("inflight queue count", i.num_queues.into()));
        }
        Ok(i)
    }

    fn validate_single_region(&self, fds: usize) -> Result<MemoryRegion, ProtocolError> {
        self.needs(ProtocolFeatures::CONFIGURE_MEM_SLOTS, "CONFIGURE_MEM_SLOTS")?;
        self.fds(fds)?;
        let r = self.body::<SingleMemoryRegion>()?.region;
        check_region(0, &r)?;
        Ok(r)
    }

    fn validate_rem_region(&self) -> Result<MemoryRegion, ProtocolError> {
        // The specification tolerates one stray fd here for old front-ends.
        if self.fds > 1 {
            return Err(ProtocolError::BadFdCount {
                req: self.req,
                got: self.fds,
                expected: 0,
            });
        }
        self.needs(ProtocolFeatures::CONFIGURE_MEM_SLOTS, "CONFIGURE_MEM_SLOTS")?;
        Ok(self.body::<SingleMemoryRegion>()?.region)
    }
}

fn check_region(index: usize, r: &MemoryRegion) -> Result<(), ProtocolError> {
    let bad = |reason| Err(ProtocolError::BadRegion { index, reason });
    if r.memory_size == 0 {
        return bad("size is zero");
    }
    if r.guest_phys_addr.checked_add(r.memory_size).is_none() {
        return bad("guest address range overflows");
    }
    if r.user_addr.checked_add(r.memory_size).is_none() {
        return bad("user address range overflows");
    }
    if r.mmap_offset.checked_add(r.memory_size).is_none() {
        return bad("mmap offset range overflows");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::encode_mem_table;

    fn limits() -> Limits {
        Limits {
            num_queues: 2,
            protocol_features: ProtocolFeatures::CONFIG,
            max_mem_regions: MAX_MEM_REGIONS,
        }
    }

    fn parse(req: FrontendReq, payload: &[u8], fds: usize) -> Result<FrontendMsg, ProtocolError> {
        let h = Header::request(req.code(), payload.len() as u32, false);
        FrontendMsg::parse(&h, payload, fds, &limits())
    }

    fn region(gpa: u64, size: u64) -> MemoryRegion {
        MemoryRegion {
            guest_phys_addr: gpa,
            memory_size: size,
            user_addr: gpa.wrapping_add(0x7000_0000),
            mmap_offset: 0,
        }
    }

    #[test]
    fn mem_table_refuses_wrong_counts_sizes_and_overlaps() {
        let two = encode_mem_table(&[region(0, 0x1000), region(0x1000, 0x1000)]);
        assert!(
            matches!(parse(FrontendReq::SetMemTable, &two, 2), Ok(FrontendMsg::SetMemTable(r)) if r.len() == 2)
        );
        assert!(matches!(
            parse(FrontendReq::SetMemTable, &two, 1),
            Err(ProtocolError::BadFdCount { .. })
        ));
        assert!(matches!(
            parse(FrontendReq::SetMemTable, &two[..40], 2),
            Err(ProtocolError::BadSize { .. })
        ));
        let overlap = encode_mem_table(&[region(0, 0x2000), region(0x1000, 0x1000)]);
        assert!(matches!(
            parse(FrontendReq::SetMemTable, &overlap, 2),
            Err(ProtocolError::BadRegion { index: 1, .. })
        ));
        let nine = encode_mem_table(
            &(0..9)
                .map(|i| region(i * 0x1000, 0x1000))
                .collect::<Vec<_>>(),
        );
        assert!(matches!(
            parse(FrontendReq::SetMemTable, &nine, 9),
            Err(ProtocolError::BadRegionCount { count: 9, .. })
        ));
        let wrap = encode_mem_table(&[region(u64::MAX - 10, 0x1000)]);
        assert!(matches!(
            parse(FrontendReq::SetMemTable, &wrap, 1),
            Err(ProtocolError::BadRegion { .. })
        ));
        let zero = encode_mem_table(&[region(0, 0)]);
        assert!(matches!(
            parse(FrontendReq::SetMemTable, &zero, 1),
            Err(ProtocolError::BadRegion { .. })
        ));
    }

    #[test]
    fn vring_messages_refuse_bad_queue_indexes_and_values() {
        let s = |index: u32, num: u32| VringState { index, num };
        assert!(parse(FrontendReq::SetVringNum, s(1, 256).as_bytes(), 0).is_ok());
        assert!(matches!(
            parse(FrontendReq::SetVringNum, s(2, 256).as_bytes(), 0),
            Err(ProtocolError::BadQueueIndex { index: 2, .. })
        ));
        assert!(matches!(
            parse(FrontendReq::SetVringNum, s(0, 100).as_bytes(), 0),
            Err(ProtocolError::BadValue { .. })
        ));
        assert!(matches!(
            parse(FrontendReq::SetVringNum, s(0, 65536).as_bytes(), 0),
            Err(ProtocolError::BadValue { .. })
        ));
        assert!(matches!(
            parse(FrontendReq::SetVringEnable, s(0, 2).as_bytes(), 0),
            Err(ProtocolError::BadValue { .. })
        ));
        assert!(matches!(
            parse(FrontendReq::SetVringBase, s(0, 1).as_bytes(), 1),
            Err(ProtocolError::BadFdCount { .. })
        ));
        let addr = VringAddr {
            index: 0,
            flags: 0,
            desc_user_addr: 0x1000,
            used_user_addr: 0x2004,
            avail_user_addr: 0x3002,
            log_guest_addr: 0,
        };
        assert!(parse(FrontendReq::SetVringAddr, addr.as_bytes(), 0).is_ok());
        let bad = VringAddr {
            desc_user_addr: 0x1008,
            ..addr
        };
        assert!(matches!(
            parse(FrontendReq::SetVringAddr, bad.as_bytes(), 0),
            Err(ProtocolError::BadValue { .. })
        ));
        let bad = VringAddr { flags: 2, ..addr };
        assert!(matches!(
            parse(FrontendReq::SetVringAddr, bad.as_bytes(), 0),
            Err(ProtocolError::BadValue { .. })
        ));
    }

    #[test]
    fn vring_fd_word_matches_fd_count() {
        let w = |v: u64| U64 { value: v };
        assert_eq!(
            parse(FrontendReq::SetVringKick, w(1).as_bytes(), 1),
            Ok(FrontendMsg::SetVringKick(VringFd {
                index: 1,
                has_fd: true
            }))
        );
        assert_eq!(
            parse(FrontendReq::SetVringCall, w(0x100).as_bytes(), 0),
            Ok(FrontendMsg::SetVringCall(VringFd {
                index: 0,
                has_fd: false
            }))
        );
        assert!(matches!(
            parse(FrontendReq::SetVringKick, w(0x100).as_bytes(), 1),
            Err(ProtocolError::BadFdCount { .. })
        ));
        assert!(matches!(
            parse(FrontendReq::SetVringKick, w(0).as_bytes(), 2),
            Err(ProtocolError::BadFdCount { .. })
        ));
        assert!(matches!(
            parse(FrontendReq::SetVringKick, w(0x200).as_bytes(), 0),
            Err(ProtocolError::BadValue { .. })
        ));
        assert!(matches!(
            parse(FrontendReq::SetVringErr, w(5).as_bytes(), 1),
            Err(ProtocolError::BadQueueIndex { .. })
        ));
    }

    #[test]
    fn config_messages_refuse_out_of_bounds_ranges_and_unnegotiated_use() {
        let mut p = ConfigHeader {
            offset: 0,
            size: 8,
            flags: 0,
        }
        .as_bytes()
        .to_vec();
        p.extend_from_slice(&[0; 8]);
        assert!(matches!(
            parse(FrontendReq::GetConfig, &p, 0),
            Ok(FrontendMsg::GetConfig(_))
        ));
        assert!(
            matches!(parse(FrontendReq::SetConfig, &p, 0), Ok(FrontendMsg::SetConfig(_, d)) if d.len() == 8)
        );
        assert!(matches!(
            parse(FrontendReq::GetConfig, &p[..15], 0),
            Err(ProtocolError::BadSize { .. })
        ));
        let mut big = ConfigHeader {
            offset: 250,
            size: 8,
            flags: 0,
        }
        .as_bytes()
        .to_vec();
        big.extend_from_slice(&[0; 8]);
        assert!(matches!(
            parse(FrontendReq::GetConfig, &big, 0),
            Err(ProtocolError::BadValue { .. })
        ));
        let h = Header::request(FrontendReq::GetConfig.code(), p.len() as u32, false);
        let no_config = Limits::new(1);
        assert!(matches!(
            FrontendMsg::parse(&h, &p, 0, &no_config),
            Err(ProtocolError::NotNegotiated { .. })
        ));
    }

    #[test]
    fn requests_are_refused_for_unknown_codes_reply_flags_fd_counts_and_missing_negotiation() {
        let h = Header {
            request: 99,
            flags: 1,
            size: 0,
        };
        assert_eq!(
            FrontendMsg::parse(&h, &[], 0, &limits()),
            Err(ProtocolError::UnknownRequest(99))
        );
        let h = Header {
            request: 1,
            flags: 1 | Header::REPLY,
            size: 0,
        };
        assert!(matches!(
            FrontendMsg::parse(&h, &[], 0, &limits()),
            Err(ProtocolError::BadFlags(_))
        ));
        assert!(matches!(
            parse(FrontendReq::GetFeatures, &[], 1),
            Err(ProtocolError::BadFdCount { .. })
        ));
        assert!(matches!(
            parse(FrontendReq::GetQueueNum, &[], 0),
            Err(ProtocolError::NotNegotiated { .. })
        ));
        assert_eq!(
            parse(FrontendReq::SetFeatures, &7u64.to_ne_bytes(), 0),
            Ok(FrontendMsg::SetFeatures(7))
        );
        assert_eq!(
            parse(FrontendReq::IotlbMsg, &[0; 32], 0),
            Ok(FrontendMsg::Unsupported(FrontendReq::IotlbMsg))
        );
    }

    #[test]
    fn replies_must_carry_the_reply_flag_the_request_and_its_size() {
        let req = Header::request(FrontendReq::GetFeatures.code(), 0, false);
        assert_eq!(
            validate_reply(&req.reply(8), FrontendReq::GetFeatures, 8),
            Ok(())
        );
        assert_eq!(
            validate_reply(&req, FrontendReq::GetFeatures, 0),
            Err(ProtocolError::NotAReply)
        );
        assert!(validate_reply(&req.reply(8), FrontendReq::GetQueueNum, 8).is_err());
        assert!(validate_reply(&req.reply(4), FrontendReq::GetFeatures, 8).is_err());
    }
}
