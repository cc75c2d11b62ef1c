//! Data integrity against an in-memory model.

use crate::*;
use vu_frontend::blk::{features, status, BlkRequest};
use vu_frontend::testutil::Rng;

const DISK: usize = 4 << 20;

#[test]
fn random_reads_and_writes_match_the_model_across_queues() {
    random_reads_and_writes_match_the_model("50");
}

#[test]
fn random_reads_and_writes_match_the_model_without_polling() {
    random_reads_and_writes_match_the_model("0");
}

fn random_reads_and_writes_match_the_model(poll_max_us: &str) {
    let (mut rng, _seed) = Rng::from_env();
    let mut model = vec![0u8; DISK];
    rng.fill(&mut model);
    let image = Image::new(&model);
    let backend = start(
        &image.path,
        &["--num-queues", "4", "--poll-max-us", poll_max_us],
    );
    let mut dev = connect(&backend, 4);
    let slots: Vec<usize> = (0..4).map(|q| dev.free_slots(q)).collect();
    assert!(slots.iter().all(|&s| s >= 4), "slots per queue: {slots:?}");

    for _round in 0..40 {
        // A batch of non-overlapping writes spread over the queues, all in
        // flight together, then reads of random ranges checked against the
        // model.
        let mut batch: Vec<(u16, usize, Vec<u8>)> = Vec::new();
        let mut taken: Vec<(usize, usize)> = Vec::new();
        for _ in 0..12 {
            let sectors = 1 + rng.below(128) as usize;
            let sector = rng.below((DISK / SECTOR - sectors) as u64) as usize;
            let (start, end) = (sector * SECTOR, (sector + sectors) * SECTOR);
            if taken.iter().any(|&(s, e)| start < e && s < end) {
                continue;
            }
            taken.push((start, end));
            let mut data = vec![0u8; end - start];
            rng.fill(&mut data);
            batch.push((rng.below(4) as u16, sector, data));
        }
        for (q, sector, data) in &batch {
            if dev.free_slots(*q) == 0 {
                assert_eq!(dev.wait(*q).unwrap().status, status::OK);
            }
            dev.submit(
                *q,
                &BlkRequest::Write {
                    sector: *sector as u64,
                    data,
                },
            )
            .unwrap();
            model[sector * SECTOR..sector * SECTOR + data.len()].copy_from_slice(data);
        }
        for q in 0..4u16 {
            while dev.free_slots(q) < slots[usize::from(q)] {
                assert_eq!(dev.wait(q).unwrap().status, status::OK);
            }
        }
        let mut reads = Vec::new();
        let mut checked = 0;
        let mut check = |dev: &mut BlkDevice, q: u16, reads: &[(u64, usize, usize)]| {
            let c = dev.wait(q).unwrap();
            let &(_, sector, sectors) = reads.iter().find(|r| r.0 == c.tag).expect("known tag");
            assert_eq!(c.status, status::OK);
            assert_eq!(c.used_len as usize, sectors * SECTOR + 1);
            assert!(
                c.data == model[sector * SECTOR..(sector + sectors) * SECTOR],
                "read of {sectors} sectors at {sector} differs from the model"
            );
            checked += 1;
        };
        for _ in 0..12 {
            let q = rng.below(4) as u16;
            if dev.free_slots(q) == 0 {
                check(&mut dev, q, &reads);
            }
            let sectors = 1 + rng.below(128) as usize;
            let sector = rng.below((DISK / SECTOR - sectors) as u64) as usize;
            let tag = dev
                .submit(
                    q,
                    &BlkRequest::Read {
                        sector: sector as u64,
                        len: sectors * SECTOR,
                    },
                )
                .unwrap();
            reads.push((tag, sector, sectors));
        }
        for q in 0..4u16 {
            while dev.free_slots(q) < slots[usize::from(q)] {
                check(&mut dev, q, &reads);
            }
        }
        assert_eq!(checked, reads.len());
    }
    drop(dev);
    assert!(
        image.contents() == model,
        "image file differs from the model"
    );
}

#[test]
fn out_of_range_io_fails_without_touching_the_file() {
    let image = Image::new(&vec![7u8; 64 * SECTOR]);
    let backend = start(&image.path, &[]);
    let mut dev = connect(&backend, 1);
    assert_eq!(dev.write(0, 63, &[1u8; 2 * SECTOR]).unwrap(), status::IOERR);
    assert_eq!(
        dev.write(0, u64::MAX / 256, &[1u8; SECTOR]).unwrap(),
        status::IOERR
    );
    assert_eq!(dev.read(0, 64, SECTOR).unwrap().0, status::IOERR);
    assert_eq!(
        dev.read(0, 63, SECTOR).unwrap(),
        (status::OK, vec![7u8; SECTOR])
    );
    drop(dev);
    assert_eq!(image.contents(), vec![7u8; 64 * SECTOR]);
}

#[test]
fn read_only_rejects_writes_and_leaves_the_file_unchanged() {
    let original: Vec<u8> = (0..256 * SECTOR).map(|i| (i % 251) as u8).collect();
    let image = Image::new(&original);
    let backend = start(&image.path, &["--read-only"]);
    let mut dev = connect(&backend, 1);
    assert_ne!(dev.features() & features::RO, 0);
    assert_eq!(
        dev.features() & (features::DISCARD | features::WRITE_ZEROES),
        0
    );
    assert_eq!(
        dev.write(0, 0, &[0xffu8; 4 * SECTOR]).unwrap(),
        status::IOERR
    );
    assert_eq!(dev.write_zeroes(0, 0, 8, false).unwrap(), status::UNSUPP);
    assert_eq!(dev.discard(0, 0, 8).unwrap(), status::UNSUPP);
    let (st, data) = dev.read(0, 0, 4 * SECTOR).unwrap();
    assert_eq!(st, status::OK);
    assert_eq!(data, original[..4 * SECTOR]);
    drop(dev);
    assert_eq!(image.contents(), original);
}

#[test]
fn flush_succeeds_and_data_reaches_the_file() {
    let image = Image::new(&vec![0u8; 64 * SECTOR]);
    let backend = start(&image.path, &[]);
    let mut dev = connect(&backend, 1);
    assert_eq!(dev.write(0, 3, &[0xabu8; SECTOR]).unwrap(), status::OK);
    assert_eq!(dev.flush(0).unwrap(), status::OK);
    let on_disk = image.contents();
    assert_eq!(on_disk[3 * SECTOR..4 * SECTOR], [0xabu8; SECTOR]);
    assert_eq!(on_disk[..3 * SECTOR], vec![0u8; 3 * SECTOR]);
}

#[test]
fn discard_and_write_zeroes_zero_the_range_where_advertised() {
    let image = Image::new(&vec![0x11u8; 256 * SECTOR]);
    let backend = start(&image.path, &[]);
    let mut dev = connect(&backend, 1);
    let f = dev.features();
    if f & features::WRITE_ZEROES != 0 {
        assert_eq!(dev.write_zeroes(0, 8, 16, false).unwrap(), status::OK);
        assert_eq!(dev.write_zeroes(0, 40, 8, true).unwrap(), status::OK);
        assert_eq!(
            dev.read(0, 8, 16 * SECTOR).unwrap(),
            (status::OK, vec![0u8; 16 * SECTOR])
        );
        assert_eq!(
            dev.read(0, 40, 8 * SECTOR).unwrap(),
            (status::OK, vec![0u8; 8 * SECTOR])
        );
        assert_eq!(
            dev.read(0, 24, SECTOR).unwrap(),
            (status::OK, vec![0x11u8; SECTOR])
        );
        assert_eq!(
            dev.write_zeroes(0, 250, 16, false).unwrap(),
            status::IOERR,
            "past the end"
        );
    } else {
        assert_eq!(dev.write_zeroes(0, 8, 16, false).unwrap(), status::UNSUPP);
    }
    if f & features::DISCARD != 0 {
        // Discarded blocks read back as zeroes on every OS that offers it here.
        assert_eq!(dev.discard(0, 128, 64).unwrap(), status::OK);
        assert_eq!(
            dev.read(0, 128, 64 * SECTOR).unwrap(),
            (status::OK, vec![0u8; 64 * SECTOR])
        );
    } else {
        assert_eq!(dev.discard(0, 128, 64).unwrap(), status::UNSUPP);
    }
    drop(dev);
    assert_eq!(image.contents().len(), 256 * SECTOR, "size unchanged");
}

#[test]
fn a_request_spanning_two_memory_regions_is_split_correctly() {
    let image = Image::new(&vec![0u8; 1 << 20]);
    let backend = start(&image.path, &[]);
    let mut opts = options(1);
    opts.segment_size = None;
    opts.max_request_bytes = 512 << 10;
    let mut fe_opts = opts.frontend.clone();
    fe_opts.region_size = 1 << 20;
    fe_opts.regions = 3;
    opts.frontend = fe_opts;
    opts.depth = 4;
    // 4 slots of 512 KiB over 1 MiB regions: some slots straddle a boundary.
    let mut dev = BlkDevice::connect(backend.socket(), &opts).unwrap();
    let (mut rng, _seed) = Rng::from_env();
    for i in 0..4u64 {
        let mut data = vec![0u8; 512 << 10];
        rng.fill(&mut data);
        let tags: Vec<u64> = (0..4)
            .map(|_| {
                dev.submit(
                    0,
                    &BlkRequest::Write {
                        sector: i,
                        data: &data,
                    },
                )
                .unwrap()
            })
            .collect();
        for _ in &tags {
            assert_eq!(dev.wait(0).unwrap().status, status::OK);
        }
        for _ in 0..4 {
            dev.submit(
                0,
                &BlkRequest::Read {
                    sector: i,
                    len: data.len(),
                },
            )
            .unwrap();
        }
        for _ in 0..4 {
            let c = dev.wait(0).unwrap();
            assert_eq!(c.status, status::OK);
            assert!(c.data == data);
        }
    }
}

/// Drives the rings as a guest driver (and `vu-bench`) does: batches
/// published with one kick, skipped while the back-end sets
/// `VRING_USED_F_NO_NOTIFY`, and calls asked for only before sleeping
/// (`VRING_AVAIL_F_NO_INTERRUPT` otherwise). A lost kick or call would stall
/// a queue, which the poll timeout turns into a failure; every read is
/// checked against the image.
#[test]
fn batched_kicks_and_suppressed_calls_lose_no_request() {
    batched_kicks_and_suppressed_calls_lose_no_request_polling("50", false);
}

/// The same with `VIRTIO_RING_F_EVENT_IDX` negotiated: kicks and calls go
/// by `avail_event` and `used_event` (the queues on worker threads).
#[test]
fn batched_kicks_and_suppressed_calls_lose_no_request_with_event_idx() {
    batched_kicks_and_suppressed_calls_lose_no_request_polling("50", true);
}

/// The same with event indexes and polling off.
#[test]
fn batched_kicks_and_suppressed_calls_lose_no_request_with_event_idx_without_polling() {
    batched_kicks_and_suppressed_calls_lose_no_request_polling("0", true);
}

/// The same with polling off: every request is found through a kick.
#[test]
fn batched_kicks_and_suppressed_calls_lose_no_request_without_polling() {
    batched_kicks_and_suppressed_calls_lose_no_request_polling("0", false);
}

/// The same with a long window (10 ms), which grows to catch most
/// requests while polling with kicks suppressed.
#[test]
fn batched_kicks_and_suppressed_calls_lose_no_request_polling_long() {
    batched_kicks_and_suppressed_calls_lose_no_request_polling("10000", false);
}

fn batched_kicks_and_suppressed_calls_lose_no_request_polling(poll_max_us: &str, event_idx: bool) {
    use std::collections::HashMap;
    use std::time::Duration;
    let (mut rng, _seed) = Rng::from_env();
    let mut model = vec![0u8; DISK];
    rng.fill(&mut model);
    let image = Image::new(&model);
    let backend = start(
        &image.path,
        &[
            "--num-queues",
            "2",
            "--read-only",
            "--poll-max-us",
            poll_max_us,
        ],
    );
    let mut opts = options(2);
    opts.frontend.event_idx = event_idx;
    let mut dev = BlkDevice::connect(backend.socket(), &opts).expect("connect and set up");
    assert_eq!(
        dev.frontend().features() & vu_protocol::virtio::features::RING_EVENT_IDX != 0,
        event_idx,
        "EVENT_IDX negotiated as asked"
    );
    let mut poller = vu_sys::Poller::new().unwrap();
    for q in 0..2u16 {
        poller
            .add(dev.frontend().call_fd(q).unwrap(), usize::from(q))
            .unwrap();
        dev.frontend_mut().set_interrupts(q, false).unwrap();
    }
    let mut in_flight: HashMap<u64, (usize, usize)> = HashMap::new();
    let submit = |dev: &mut BlkDevice,
                  rng: &mut Rng,
                  q: u16,
                  in_flight: &mut HashMap<u64, (usize, usize)>| {
        let sectors = 1 + rng.below(64) as usize;
        let sector = rng.below((DISK / SECTOR - sectors) as u64) as usize;
        let len = sectors * SECTOR;
        let tag = dev
            .enqueue(
                q,
                &BlkRequest::Read {
                    sector: sector as u64,
                    len,
                },
            )
            .unwrap();
        in_flight.insert(tag, (sector * SECTOR, len));
    };
    // First, one request per queue with calls asked for before the kick:
    // the back-end must call, whatever the relative speed of the two sides
    // (under emulation the batched phase below may never need to sleep).
    for q in 0..2u16 {
        dev.frontend_mut().set_interrupts(q, true).unwrap();
        submit(&mut dev, &mut rng, q, &mut in_flight);
        dev.kick(q).unwrap();
        let mut ready = Vec::new();
        while !dev.frontend().used_pending(q).unwrap() || ready.is_empty() {
            poller
                .wait(&mut ready, Some(Duration::from_secs(10)))
                .unwrap();
            assert!(!ready.is_empty(), "no call within 10 s for queue {q}");
        }
        dev.frontend().clear_call(q).unwrap();
        let done = dev
            .try_complete(q)
            .unwrap()
            .expect("the called-for request is done");
        assert_eq!(done.status, status::OK);
        let (at, len) = in_flight.remove(&done.tag).expect("known request");
        let mut got = vec![0u8; len];
        dev.frontend().ram().read(done.data, &mut got).unwrap();
        assert!(
            got == model[at..at + len],
            "read at {at}+{len} returned wrong data"
        );
        dev.frontend_mut().set_interrupts(q, false).unwrap();
    }
    let (mut completed, total) = (0, 4000);
    let mut submitted = 0;
    for q in 0..2u16 {
        while dev.free_slots(q) > 0 {
            submit(&mut dev, &mut rng, q, &mut in_flight);
            submitted += 1;
        }
        dev.kick(q).unwrap();
    }
    while completed < total {
        let mut reaped = 0;
        for q in 0..2u16 {
            let mut refilled = false;
            while let Some(done) = dev.try_complete(q).unwrap() {
                reaped += 1;
                completed += 1;
                assert_eq!(done.status, status::OK);
                let (at, len) = in_flight.remove(&done.tag).expect("known request");
                let mut got = vec![0u8; len];
                dev.frontend().ram().read(done.data, &mut got).unwrap();
                assert!(
                    got == model[at..at + len],
                    "read at {at}+{len} returned wrong data"
                );
                if submitted < total {
                    submit(&mut dev, &mut rng, q, &mut in_flight);
                    submitted += 1;
                    refilled = true;
                }
            }
            if refilled {
                dev.kick(q).unwrap();
            }
        }
        if reaped > 0 || completed == total {
            continue;
        }
        for q in 0..2u16 {
            dev.frontend_mut().set_interrupts(q, true).unwrap();
        }
        if !(0..2u16).any(|q| dev.frontend().used_pending(q).unwrap()) {
            let mut ready = Vec::new();
            poller
                .wait(&mut ready, Some(Duration::from_secs(10)))
                .unwrap();
            assert!(
                !ready.is_empty(),
                "no call within 10 s: a lost notification ({completed} of {total} done)"
            );
            for q in 0..2u16 {
                dev.frontend().clear_call(q).unwrap();
            }
        }
        for q in 0..2u16 {
            dev.frontend_mut().set_interrupts(q, false).unwrap();
        }
    }
    assert!(in_flight.is_empty());
}

/// Sends one request of `kind` whose writable part is `n` descriptors of
/// `area_len` bytes, all over one buffer filled with 0xaa, then a separate
/// status byte; returns the used length, the buffer afterwards and the
/// status.
fn request_with_a_large_writable_area(
    backend: &BackendProcess,
    kind: u32,
    n: u16,
    area_len: u32,
) -> (u32, Vec<u8>, u8) {
    use vu_protocol::virtio::blk::ReqHeader;
    use vu_protocol::virtio::split::{
        Descriptor, VRING_DESC_F_NEXT as NEXT, VRING_DESC_F_WRITE as W,
    };
    let mut fe = vu_frontend::Frontend::connect(backend.socket(), &options(1).frontend).unwrap();
    let ram = fe.ram_mut();
    let header = ram.alloc(16, 16, false).unwrap();
    let area = ram.alloc(u64::from(area_len), 4096, true).unwrap();
    let status_at = ram.alloc(1, 1, false).unwrap();
    let hdr = ReqHeader {
        kind,
        ioprio: 0,
        sector: 0,
    };
    fe.ram().write(header, &hdr.to_le_bytes()).unwrap();
    fe.ram()
        .write(area, &vec![0xaa; area_len as usize])
        .unwrap();
    fe.ram().write(status_at, &[0xee]).unwrap();
    let d = |addr, len, flags, next| Descriptor {
        addr,
        len,
        flags,
        next,
    };
    fe.write_descriptor(0, 0, d(header, 16, NEXT, 1)).unwrap();
    for i in 1..=n {
        fe.write_descriptor(0, i, d(area, area_len, W | NEXT, i + 1))
            .unwrap();
    }
    fe.write_descriptor(0, n + 1, d(status_at, 1, W, 0))
        .unwrap();
    fe.publish(0, 0).unwrap();
    let used = fe.wait_used_untracked(0).unwrap();
    let mut after = vec![0u8; area_len as usize];
    fe.ram().read(area, &mut after).unwrap();
    let mut st = [0u8];
    fe.ram().read(status_at, &mut st).unwrap();
    (used.len, after, st[0])
}

/// Issue 12, class 2: a request's cost follows what the device produces,
/// never the writable area the guest declares. A FLUSH over 64 writable
/// descriptors of 1 MiB writes its status byte and nothing else; a GET_ID
/// writes the 20 ID bytes and the status. The rest stays as the guest left
/// it (it used to be zero-filled, 512 bytes at a time).
#[test]
fn flush_and_get_id_write_only_what_they_produce_and_the_status() {
    use vu_protocol::virtio::blk::req;
    let image = Image::new(&vec![0u8; 64 * SECTOR]);
    let backend = start(&image.path, &["--serial", "big-area"]);
    let (n, area_len) = (64u16, 1u32 << 20);
    let declared = u32::from(n) * area_len + 1;

    let (used, after, st) = request_with_a_large_writable_area(&backend, req::FLUSH, n, area_len);
    assert_eq!(st, status::OK);
    assert_eq!(used, declared, "the used length covers the whole area");
    let touched = after.iter().filter(|&&b| b != 0xaa).count();
    assert_eq!(touched, 0, "FLUSH wrote {touched} bytes of the data area");

    let (used, after, st) = request_with_a_large_writable_area(&backend, req::GET_ID, n, area_len);
    assert_eq!(st, status::OK);
    assert_eq!(used, declared);
    assert_eq!(&after[..20], b"big-area\0\0\0\0\0\0\0\0\0\0\0\0");
    let touched = after[20..].iter().filter(|&&b| b != 0xaa).count();
    assert_eq!(touched, 0, "GET_ID wrote {touched} bytes past the ID");
}
