//! Out-of-process tests: each spawns the `vhost-user-rng` binary and reads
//! entropy through `vu-frontend`.
#![forbid(unsafe_code)]

mod hostile;
mod polling;

use std::path::PathBuf;
use vu_frontend::rng::RngDevice;
use vu_frontend::testutil::{backend_binary, BackendProcess};
use vu_frontend::Options;

fn binary() -> PathBuf {
    backend_binary("vhost-user-rng", env!("CARGO_BIN_EXE_vhost-user-rng"))
}

fn start() -> BackendProcess {
    BackendProcess::spawn::<&str>(&binary(), &[]).expect("start vhost-user-rng")
}

fn connect(b: &BackendProcess) -> RngDevice {
    RngDevice::connect(b.socket(), &Options::default()).expect("connect and set up")
}

/// Entropy of the requested length that is not constant; two reads differ.
fn check_entropy(dev: &mut RngDevice, len: usize) -> Vec<u8> {
    let a = dev.read(len).unwrap();
    assert_eq!(a.len(), len);
    if len >= 16 {
        assert!(a.iter().any(|&b| b != a[0]), "constant bytes: {a:?}");
    }
    a
}

#[test]
fn returns_requested_lengths_of_varying_data() {
    let backend = start();
    let mut dev = connect(&backend);
    for len in [1, 16, 64, 4096, RngDevice::MAX_REQUEST] {
        check_entropy(&mut dev, len);
    }
    let a = check_entropy(&mut dev, 64);
    let b = check_entropy(&mut dev, 64);
    assert_ne!(a, b, "two reads returned the same 64 bytes");
    // Not degenerate: all 256 byte values are likely in 64 KiB; require many.
    let big = check_entropy(&mut dev, RngDevice::MAX_REQUEST);
    let mut seen = [false; 256];
    for &x in &big {
        seen[usize::from(x)] = true;
    }
    assert!(seen.iter().filter(|&&s| s).count() > 200);
}

#[test]
fn serves_three_connections_in_turn_then_exits_cleanly_on_sigterm() {
    let backend = start();
    for _ in 0..3 {
        let mut dev = connect(&backend);
        check_entropy(&mut dev, 128);
    }
    let st = backend.terminate().unwrap();
    assert!(st.success(), "{st}");
}

#[test]
fn print_capabilities_matches_the_descriptor_file() {
    let out = std::process::Command::new(binary())
        .arg("--print-capabilities")
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    let descriptor = include_str!("../../50-vhost-user-rng.json");
    vu_frontend::testutil::assert_capabilities_match_descriptor(
        "vhost-user-rng",
        &printed,
        descriptor,
        &[],
    );
}

#[test]
fn get_config_without_the_config_feature_closes_only_that_connection() {
    let mut backend = start();
    let conn = vu_frontend::Connection::connect(backend.socket()).unwrap();
    // GET_CONFIG without the CONFIG protocol feature (the rng has none).
    conn.send(vu_protocol::FrontendReq::GetConfig, &[0u8; 16], &[], false)
        .unwrap();
    assert!(conn.wait_closed(std::time::Duration::from_secs(20)));
    let mut dev = connect(&backend);
    check_entropy(&mut dev, 32);
    assert!(backend.is_running());
    let log = backend.stderr();
    assert!(
        log.contains(
            "closing connection: invalid message: GetConfig needs protocol feature CONFIG which was not negotiated"
        ),
        "{log}"
    );
}

#[test]
fn a_regular_file_source_is_served_from_its_start_again_at_its_end() {
    let dir = std::env::temp_dir().join(format!("vu-rng-source-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("known");
    std::fs::write(&file, b"0123456789").unwrap();
    let backend = BackendProcess::spawn(&binary(), &["--rng-source", file.to_str().unwrap()])
        .expect("start vhost-user-rng");
    let mut dev = connect(&backend);
    assert_eq!(dev.read(4).unwrap(), b"0123");
    assert_eq!(dev.read(25).unwrap(), b"4567890123456789012345678");
    drop(dev);
    assert!(backend.terminate().unwrap().success());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_empty_or_missing_source_is_refused_at_start_with_its_path() {
    let dir = std::env::temp_dir().join(format!("vu-rng-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let empty = dir.join("empty");
    std::fs::write(&empty, b"").unwrap();
    for (path, says) in [
        (empty.clone(), "is an empty file"),
        (dir.join("missing"), "cannot open"),
    ] {
        let out = std::process::Command::new(binary())
            .arg("--socket-path")
            .arg(dir.join("s.sock"))
            .arg("--rng-source")
            .arg(&path)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(says) && err.contains(path.to_str().unwrap()),
            "{err}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `VIRTIO_RING_F_EVENT_IDX` is offered and, once negotiated, honoured on
/// the event loop's queue: a call only when the used index passes the
/// driver's `used_event`, and kicks asked for through `avail_event`.
#[test]
fn event_indexes_are_negotiated_and_honoured() {
    use vu_frontend::Buf;
    use vu_protocol::virtio::features::RING_EVENT_IDX;
    use vu_protocol::FrontendReq;
    // No polling: between requests the back-end sleeps, kicks wanted.
    let b = BackendProcess::spawn(&binary(), &["--poll-max-us", "0"]).expect("start");
    let opts = Options {
        event_idx: true,
        ..Options::default()
    };
    let mut dev = RngDevice::connect(b.socket(), &opts).expect("connect and set up");
    assert_ne!(dev.frontend().features() & RING_EVENT_IDX, 0, "negotiated");
    // Past the ring size (128) twice: indexes wrap around the ring.
    for _ in 0..300 {
        check_entropy(&mut dev, 64);
    }
    let fe = dev.frontend_mut();
    let gpa = fe.ram_mut().alloc(64, 8, true).unwrap();
    // One request with calls declined (`used_event` one behind), then one
    // with calls wanted: only the second is signalled.
    for wanted in [false, true] {
        // The back-end asks for the next kick at the end of the drain that
        // served the last request, which may still run once that request is
        // used (a slow, emulated guest shows it); a reply on the socket
        // comes after that drain, so it is asleep when this returns.
        fe.connection().get_u64(FrontendReq::GetFeatures).unwrap();
        fe.clear_call(0).unwrap();
        fe.set_interrupts(0, wanted).unwrap();
        let head = fe
            .place(
                0,
                &[Buf {
                    gpa,
                    len: 64,
                    writable: true,
                }],
            )
            .unwrap();
        fe.push_avail(0, head).unwrap();
        assert!(fe.kick(0).unwrap(), "a sleeping back-end asks for a kick");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !fe.used_pending(0).unwrap() {
            assert!(std::time::Instant::now() < deadline, "request not served");
            std::thread::yield_now();
        }
        // A reply on the socket comes after the drain that decided about
        // the call (one event loop), so the call is there by now if sent.
        fe.connection().get_u64(FrontendReq::GetFeatures).unwrap();
        assert_eq!(
            fe.clear_call(0).unwrap(),
            wanted,
            "called as used_event asked"
        );
        assert_eq!(fe.poll_used(0).unwrap().map(|u| u.len), Some(64));
    }
}
