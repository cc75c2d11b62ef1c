//! Malformed requests: each is answered (or completed with nothing, when
//! there is no room for an answer), never a crash, and costs what the
//! device does, not what the guest declares. Descriptor tricks are the
//! framework's: they close the connection, and the next one is served.

use super::*;
use vu_frontend::Buf;
use vu_protocol::virtio::scsi::{
    ctrl, response, AnRequest, CmdHeader, CmdResponse, TmfRequest, CONTROL_QUEUE, EVENT_QUEUE,
    FIRST_REQUEST_QUEUE,
};

#[test]
fn a_header_too_short_is_answered_failure_and_no_room_gets_nothing() {
    let disks = Disks::create();
    let backend = disks.start(&[]);
    let mut dev = connect(&backend);
    let (used, reply) = dev
        .raw(FIRST_REQUEST_QUEUE, &[1, 0, 0x40, 0, 0, 0, 0, 0, 9], 200)
        .unwrap();
    let r = CmdResponse::from_le_bytes(reply[..12].try_into().unwrap());
    assert_eq!(r.response, response::FAILURE);
    assert_eq!(used as usize, CmdResponse::SIZE_WITH_SENSE);
    // A response area of 50 bytes (less than the 108 the format needs).
    let h = CmdHeader {
        lun: [1, 0, 0x40, 0, 0, 0, 0, 0],
        id: 0,
        task_attr: 0,
        prio: 0,
        crn: 0,
        cdb: [0; 32],
    };
    let (used, _) = dev.raw(FIRST_REQUEST_QUEUE, &h.to_le_bytes(), 50).unwrap();
    assert_eq!(used, 0);
    // No writable buffer at all, and nothing at all.
    let (used, _) = dev.raw(FIRST_REQUEST_QUEUE, &h.to_le_bytes(), 0).unwrap();
    assert_eq!(used, 0);
    drop(dev);
    assert_still_serving(&backend);
}

#[test]
fn huge_declared_buffers_are_not_visited() {
    let disks = Disks::create();
    let backend = disks.start(&[]);
    let mut dev = connect(&backend);
    // TEST UNIT READY with 400 MiB of data-in room the device never needs:
    // 100 descriptors over the same 4 MiB of guest memory (every buffer
    // must lie inside guest memory, not every byte must be distinct).
    let h = CmdHeader {
        lun: [1, 0, 0x40, 0, 0, 0, 0, 0],
        id: 0,
        task_attr: 0,
        prio: 0,
        crn: 0,
        cdb: [0; 32],
    };
    let fe = dev.frontend_mut();
    let hdr = fe
        .ram_mut()
        .alloc(CmdHeader::SIZE as u64, 8, false)
        .unwrap();
    fe.ram().write(hdr, &h.to_le_bytes()).unwrap();
    let resp = fe.ram_mut().alloc(4 << 20, 4096, false).unwrap();
    let mut bufs = vec![Buf {
        gpa: hdr,
        len: CmdHeader::SIZE as u32,
        writable: false,
    }];
    for _ in 0..100 {
        bufs.push(Buf {
            gpa: resp,
            len: 4 << 20,
            writable: true,
        });
    }
    fe.submit(FIRST_REQUEST_QUEUE, &bufs).unwrap();
    let used = fe.wait_used(FIRST_REQUEST_QUEUE).unwrap();
    assert_eq!(used.len as usize, CmdResponse::SIZE_WITH_SENSE);
    let mut fixed = [0u8; 12];
    fe.ram().read(resp, &mut fixed).unwrap();
    let r = CmdResponse::from_le_bytes(&fixed);
    assert_eq!((r.response, r.status), (0, 0));
    assert_eq!(
        r.residual as usize,
        100 * (4 << 20) - CmdResponse::SIZE_WITH_SENSE,
        "the whole data-in area is residual"
    );
    drop(dev);
    assert_still_serving(&backend);
}

#[test]
fn bad_targets_and_luns_are_answered_per_the_specification() {
    let disks = Disks::create();
    let backend = disks.start(&[]);
    let mut dev = connect(&backend);
    let r = dev
        .command_to([1, 3, 0x40, 0, 0, 0, 0, 0], &[0], &[], 0)
        .unwrap();
    assert_eq!(r.response, response::BAD_TARGET);
    let r = dev
        .command(9, &[0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0], &[], 512)
        .unwrap();
    assert_eq!((r.response, r.status), (0, 2));
    assert_eq!(r.sense_key(), Some((0x5, 0x25, 0x00)), "LUN NOT SUPPORTED");
}

#[test]
fn control_requests_are_answered() {
    let disks = Disks::create();
    let backend = disks.start(&[]);
    let mut dev = connect(&backend);
    let tmf = |subtype, lun| TmfRequest {
        kind: ctrl::TMF,
        subtype,
        lun,
        id: 5,
    };
    let lun0 = [1, 0, 0x40, 0, 0, 0, 0, 0];
    let lun7 = [1, 0, 0x40, 7, 0, 0, 0, 0];
    let target9 = [1, 9, 0x40, 0, 0, 0, 0, 0];
    for (req, want) in [
        (tmf(ctrl::TMF_ABORT_TASK, lun0), response::FUNCTION_COMPLETE),
        (
            tmf(ctrl::TMF_LOGICAL_UNIT_RESET, lun0),
            response::FUNCTION_COMPLETE,
        ),
        (
            tmf(ctrl::TMF_I_T_NEXUS_RESET, lun7),
            response::FUNCTION_COMPLETE,
        ),
        (tmf(ctrl::TMF_QUERY_TASK, lun0), response::FUNCTION_COMPLETE),
        (tmf(ctrl::TMF_CLEAR_ACA, lun0), response::FUNCTION_REJECTED),
        (tmf(99, lun0), response::FUNCTION_REJECTED),
        (tmf(ctrl::TMF_ABORT_TASK, lun7), response::INCORRECT_LUN),
        (tmf(ctrl::TMF_ABORT_TASK, target9), response::BAD_TARGET),
    ] {
        let (used, reply) = dev.raw(CONTROL_QUEUE, &req.to_le_bytes(), 1).unwrap();
        assert_eq!((used, reply[0]), (1, want), "{req:?}");
    }
    // Too short a TMF: FAILURE.
    let (_, reply) = dev
        .raw(CONTROL_QUEUE, &tmf(0, lun0).to_le_bytes()[..10], 1)
        .unwrap();
    assert_eq!(reply[0], response::FAILURE);
    let an = AnRequest {
        kind: ctrl::AN_QUERY,
        lun: lun0,
        event_requested: 0xffff_ffff,
    };
    let (used, reply) = dev.raw(CONTROL_QUEUE, &an.to_le_bytes(), 5).unwrap();
    assert_eq!((used, &reply[..]), (5, &[0, 0, 0, 0, response::OK][..]));
    // An unknown type: nothing written.
    let (used, _) = dev.raw(CONTROL_QUEUE, &[7, 0, 0, 0], 16).unwrap();
    assert_eq!(used, 0);
    drop(dev);
    assert_still_serving(&backend);
}

/// Event buffers wait for an event (the device has none to report), while
/// the other queues are served: never completed with "no event".
#[test]
fn event_buffers_stay_posted_while_commands_are_served() {
    let disks = Disks::create();
    let backend = disks.start(&[]);
    let mut dev = connect(&backend);
    let fe = dev.frontend_mut();
    for _ in 0..4 {
        let gpa = fe.ram_mut().alloc(16, 8, true).unwrap();
        fe.submit(
            EVENT_QUEUE,
            &[Buf {
                gpa,
                len: 16,
                writable: true,
            }],
        )
        .unwrap();
    }
    let abort = TmfRequest {
        kind: ctrl::TMF,
        subtype: ctrl::TMF_ABORT_TASK,
        lun: [1, 0, 0x40, 0, 0, 0, 0, 0],
        id: 5,
    };
    for _ in 0..3 {
        let (used, reply) = dev.raw(CONTROL_QUEUE, &abort.to_le_bytes(), 1).unwrap();
        assert_eq!((used, reply[0]), (1, response::FUNCTION_COMPLETE));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !dev.frontend().used_pending(EVENT_QUEUE).unwrap(),
        "an event buffer was completed with no event to report"
    );
    drop(dev);
    assert_still_serving(&backend);
}

#[test]
fn a_descriptor_chain_with_writable_before_readable_closes_only_that_connection() {
    let disks = Disks::create();
    let mut backend = disks.start(&[]);
    let mut dev = connect(&backend);
    let fe = dev.frontend_mut();
    let a = fe.ram_mut().alloc(4096, 8, false).unwrap();
    fe.submit(
        FIRST_REQUEST_QUEUE,
        &[
            Buf {
                gpa: a,
                len: 200,
                writable: true,
            },
            Buf {
                gpa: a + 2048,
                len: 51,
                writable: false,
            },
        ],
    )
    .unwrap();
    assert!(fe.connection().wait_closed(Duration::from_secs(20)));
    drop(dev);
    assert_still_serving(&backend);
    assert!(backend.is_running());
}

#[test]
fn random_cdbs_never_crash_and_always_get_a_response() {
    let disks = Disks::create();
    let backend = disks.start(&[]);
    let mut dev = connect(&backend);
    let (mut rng, _seed) = vu_frontend::testutil::Rng::from_env();
    for _ in 0..500 {
        let mut cdb = [0u8; 32];
        rng.fill(&mut cdb);
        // Keep transfers small: a plausible opcode half the time.
        if rng.below(2) == 0 {
            cdb[0] = [
                0x00, 0x03, 0x12, 0x1a, 0x25, 0x28, 0x2a, 0x35, 0x5a, 0x88, 0x8a, 0x91, 0x9e, 0xa0,
            ][rng.below(14) as usize];
        }
        let lun = rng.below(3) as u16;
        let data_out = vec![0u8; rng.below(2048) as usize];
        let r = dev
            .command(lun, &cdb, &data_out, rng.below(4096) as usize)
            .unwrap();
        assert!(
            [response::OK, response::OVERRUN].contains(&r.response),
            "{cdb:02x?}: {r:?}"
        );
        assert!(
            r.status == 0 || (r.status == 2 && r.sense.len() == 18),
            "{r:?}"
        );
    }
    drop(dev);
    assert_still_serving(&backend);
}
