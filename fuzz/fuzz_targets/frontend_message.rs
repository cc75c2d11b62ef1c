//! Fuzzes message parsing: a header, a payload and an fd count go through
//! `Header::validate`, `FrontendMsg::parse` (and so every `validate_*`
//! function), and `validate_reply`, under fuzzer-chosen limits. Whatever is
//! accepted is then checked against what the parser promises its callers.
//!
//! Input layout: `[queues: u8][max_regions: u8][fds: u8][protocol features:
//! 8 bytes][size mode: u8][header: 12 bytes][payload...]`. The size mode
//! says whether `header.size` is forced to the payload length (what the
//! back-end's receive loop guarantees) or left as the fuzzer wrote it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vu_protocol::msg::{MemoryRegion, VringAddr};
use vu_protocol::virtio::blk::{Config, DiscardWriteZeroes, ReqHeader};
use vu_protocol::virtio::split::{Descriptor, UsedElem};
use vu_protocol::{
    validate_reply, FrontendMsg, FrontendReq, Header, Limits, Pod, ProtocolFeatures, VringFd,
    HEADER_SIZE, MAX_CONFIG_SIZE, MAX_PAYLOAD_SIZE, MAX_QUEUE_SIZE,
};

fuzz_target!(|data: &[u8]| {
    const FIXED: usize = 3 + 8 + 1 + HEADER_SIZE;
    if data.len() < FIXED {
        return;
    }
    let limits = Limits {
        num_queues: u32::from(data[0]),
        max_mem_regions: usize::from(data[1] % 16),
        protocol_features: ProtocolFeatures(u64::from_le_bytes(data[3..11].try_into().unwrap())),
    };
    let fds = usize::from(data[2] % 12);
    let size_mode = data[11];
    let Some(mut header) = Header::read_from(&data[12..FIXED]) else {
        return;
    };
    let payload = &data[FIXED..];
    if size_mode & 1 == 0 {
        header.size = payload.len() as u32;
    }

    let valid_header = header.validate().is_ok();
    let parsed = FrontendMsg::parse(&header, payload, fds, &limits);
    if let Ok(msg) = &parsed {
        assert!(valid_header, "parse accepted a header validate refuses");
        assert!(header.size <= MAX_PAYLOAD_SIZE);
        assert!(!header.is_reply());
        check_accepted(msg, payload, fds, &limits);
    }

    // The front-end's reply check, against every request code.
    if let Some(expected) = FrontendReq::from_code(u32::from(size_mode >> 1) % 41) {
        if validate_reply(&header, expected, payload.len()).is_ok() {
            assert!(header.is_reply() && valid_header);
            assert_eq!(header.request, expected.code());
        }
    }

    // The guest-visible decoders never panic and round-trip.
    for chunk in payload.chunks_exact(16) {
        let b: [u8; 16] = chunk.try_into().unwrap();
        assert_eq!(Descriptor::from_le_bytes(b).to_le_bytes(), b);
        assert_eq!(ReqHeader::from_le_bytes(&b).to_le_bytes(), b);
        assert_eq!(DiscardWriteZeroes::from_le_bytes(&b).to_le_bytes(), b);
        let u: [u8; 8] = chunk[..8].try_into().unwrap();
        assert_eq!(UsedElem::from_le_bytes(u).to_le_bytes(), u);
    }
    if let Some(b) = payload.get(..Config::SIZE) {
        let c = Config::from_le_bytes(b.try_into().unwrap());
        assert_eq!(Config::from_le_bytes(&c.to_le_bytes()), c);
    }
});

/// What a caller of `FrontendMsg::parse` relies on for an accepted message.
fn check_accepted(msg: &FrontendMsg, payload: &[u8], fds: usize, limits: &Limits) {
    let queue_ok = |index: u32| assert!(index < limits.num_queues, "queue {index} accepted");
    match msg {
        FrontendMsg::SetMemTable(regions) => {
            assert!(!regions.is_empty() && regions.len() <= limits.max_mem_regions);
            assert_eq!(regions.len(), fds, "one fd per region");
            for (i, r) in regions.iter().enumerate() {
                check_region(r);
                for o in &regions[..i] {
                    let disjoint =
                        |a: u64, b: u64| a + r.memory_size <= b || b + o.memory_size <= a;
                    assert!(
                        disjoint(r.guest_phys_addr, o.guest_phys_addr),
                        "guest overlap"
                    );
                    assert!(disjoint(r.user_addr, o.user_addr), "user overlap");
                }
            }
        }
        FrontendMsg::AddMemReg(r) => {
            assert!(limits
                .protocol_features
                .contains(ProtocolFeatures::CONFIGURE_MEM_SLOTS));
            assert_eq!(fds, 1);
            check_region(r);
        }
        FrontendMsg::SetVringNum(s) => {
            queue_ok(s.index);
            assert!(s.num.is_power_of_two() && s.num <= u32::from(MAX_QUEUE_SIZE));
        }
        FrontendMsg::SetVringAddr(a) => {
            queue_ok(a.index);
            assert_eq!(a.flags & !VringAddr::F_LOG, 0);
            assert_eq!(a.desc_user_addr % 16, 0);
            assert_eq!(a.avail_user_addr % 2, 0);
            assert_eq!(a.used_user_addr % 4, 0);
        }
        FrontendMsg::SetVringBase(s) => {
            queue_ok(s.index);
            assert!(s.num <= u32::from(u16::MAX));
        }
        FrontendMsg::GetVringBase(s) => queue_ok(s.index),
        FrontendMsg::SetVringEnable(s) => {
            queue_ok(s.index);
            assert!(s.num <= 1);
        }
        FrontendMsg::SetVringKick(v)
        | FrontendMsg::SetVringCall(v)
        | FrontendMsg::SetVringErr(v) => {
            queue_ok(v.index);
            // An fd is attached exactly when the NOFD bit is clear.
            assert_eq!(fds, usize::from(v.has_fd));
            let word = u64::from_ne_bytes(payload[..8].try_into().unwrap());
            assert_eq!(word & VringFd::NOFD == 0, v.has_fd);
        }
        FrontendMsg::GetConfig(h) | FrontendMsg::SetConfig(h, _) => {
            assert!(limits.protocol_features.contains(ProtocolFeatures::CONFIG));
            assert!(u64::from(h.offset) + u64::from(h.size) <= u64::from(MAX_CONFIG_SIZE));
            if let FrontendMsg::SetConfig(h, data) = msg {
                assert_eq!(data.len(), h.size as usize);
            }
        }
        FrontendMsg::GetQueueNum => {
            assert!(limits.protocol_features.contains(ProtocolFeatures::MQ));
        }
        FrontendMsg::SetLogBase(_) => assert_eq!(fds, 1),
        FrontendMsg::SetLogFd | FrontendMsg::SetBackendReqFd => assert_eq!(fds, 1),
        FrontendMsg::GetFeatures
        | FrontendMsg::SetOwner
        | FrontendMsg::ResetOwner
        | FrontendMsg::GetProtocolFeatures
        | FrontendMsg::ResetDevice
        | FrontendMsg::GetMaxMemSlots
        | FrontendMsg::GetStatus => {
            assert_eq!(fds, 0);
            assert!(payload.is_empty() || payload.len() == 8);
        }
        _ => {}
    }
}

fn check_region(r: &MemoryRegion) {
    assert!(r.memory_size > 0);
    assert!(r.guest_phys_addr.checked_add(r.memory_size).is_some());
    assert!(r.user_addr.checked_add(r.memory_size).is_some());
    assert!(r.mmap_offset.checked_add(r.memory_size).is_some());
}
