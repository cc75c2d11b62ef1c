//! Reconnection, termination and the program conventions.

use crate::*;
use std::path::PathBuf;
use vu_frontend::blk::{status, BlkDevice};

#[test]
fn reconnect_keeps_serving_and_data_persists() {
    let image = Image::new(&vec![0u8; 1 << 20]);
    let backend = start(&image.path, &["--num-queues", "2"]);
    for round in 0u8..4 {
        let mut dev = connect(&backend, 2);
        if round > 0 {
            let (st, data) = dev.read(1, u64::from(round - 1) * 8, 4096).unwrap();
            assert_eq!(st, status::OK);
            assert_eq!(
                data,
                vec![round - 1 + 1; 4096],
                "data from connection {}",
                round - 1
            );
        }
        assert_eq!(
            dev.write(
                u16::from(round % 2),
                u64::from(round) * 8,
                &[round + 1; 4096]
            )
            .unwrap(),
            status::OK
        );
        // Dropping the device closes the socket; the back-end resets.
    }
}

#[test]
fn sigterm_exits_cleanly_when_idle_and_when_connected() {
    let image = Image::new(&vec![0u8; 1 << 20]);
    let backend = start(&image.path, &[]);
    let (st, stderr) = backend.terminate_with_stderr().unwrap();
    assert!(st.success(), "idle: {st}\n{stderr}");

    let backend = start(&image.path, &[]);
    let dev = connect(&backend, 1);
    let (st, stderr) = backend.terminate_with_stderr().unwrap();
    assert!(st.success(), "connected: {st}\n{stderr}");
    drop(dev);
}

#[test]
fn print_capabilities_matches_the_descriptor_file() {
    let out = std::process::Command::new(binary())
        .arg("--print-capabilities")
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    // The descriptor file ships with the crate; embedded, so the test also
    // runs where the source tree is not (guests).
    let descriptor = include_str!("../../50-vhost-user-blk.json");
    vu_frontend::testutil::assert_capabilities_match_descriptor(
        "vhost-user-blk",
        &printed,
        descriptor,
        &["read-only", "blk-file"],
    );
}

#[test]
fn missing_file_fails_early_with_a_clear_error() {
    let dir = TempDir::new().unwrap();
    let out = std::process::Command::new(binary())
        .arg("--socket-path")
        .arg(dir.path().join("s"))
        .arg("--blk-file")
        .arg(dir.path().join("missing.img"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot open") && err.contains("missing.img"),
        "{err}"
    );
    assert!(
        !dir.path().join("s").exists(),
        "no socket is created when start-up fails"
    );
}

#[test]
fn inherited_listening_socket_accepts_connection_after_connection() {
    let image = Image::new(&vec![0u8; 1 << 20]);
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("listen");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let args = ["--blk-file".as_ref(), image.path.as_os_str()];
    let backend = BackendProcess::spawn_with_fd(
        &binary(),
        std::os::fd::AsFd::as_fd(&listener),
        path.clone(),
        &args,
    )
    .unwrap();
    drop(listener);
    for round in 0u8..2 {
        let mut dev = BlkDevice::connect(&path, &options(1)).unwrap();
        assert_eq!(dev.write(0, 0, &[round; 512]).unwrap(), status::OK);
        assert_eq!(dev.read(0, 0, 512).unwrap(), (status::OK, vec![round; 512]));
    }
    let (st, stderr) = backend.terminate_with_stderr().unwrap();
    assert!(st.success(), "{st}\n{stderr}");
}

#[test]
fn inherited_connected_socket_is_served_once_then_the_program_exits() {
    let image = Image::new(&vec![0u8; 1 << 20]);
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    let args = ["--blk-file".as_ref(), image.path.as_os_str()];
    let backend = BackendProcess::spawn_with_fd(
        &binary(),
        std::os::fd::AsFd::as_fd(&theirs),
        PathBuf::new(),
        &args,
    )
    .unwrap();
    drop(theirs);
    let fe = vu_frontend::Frontend::handshake(
        vu_frontend::Connection::from_stream(ours),
        &options(1).frontend,
    )
    .unwrap();
    let mut dev = BlkDevice::new(fe, &options(1)).unwrap();
    assert_eq!(dev.write(0, 1, &[9; 512]).unwrap(), status::OK);
    assert_eq!(dev.read(0, 1, 512).unwrap(), (status::OK, vec![9; 512]));
    drop(dev);
    let st = backend.wait().unwrap();
    assert!(st.success(), "{st}");
}

/// Each queue is served by a worker thread that hands its ring state back
/// before any message that may change it: requests keep completing across
/// such messages, and `GET_VRING_BASE` reports exactly what was served.
#[test]
fn ring_state_survives_messages_while_queues_are_served() {
    use vu_protocol::msg::VringState;
    use vu_protocol::{FrontendReq, Pod};
    let contents: Vec<u8> = (0..1u32 << 20).map(|i| (i / 512) as u8).collect();
    let image = Image::new(&contents);
    let backend = start(&image.path, &["--num-queues", "2"]);
    let mut dev = connect(&backend, 2);
    let mut served = [0u32; 2];
    for round in 0..20u64 {
        for q in 0..2u16 {
            let sector = (round * 7 + u64::from(q) * 3) % 2040;
            let (st, data) = dev.read(q, sector, 4096).unwrap();
            assert_eq!(st, status::OK);
            let want: Vec<u8> = (0..4096u64).map(|i| (sector + i / 512) as u8).collect();
            assert_eq!(data, want, "round {round}, queue {q}");
            served[usize::from(q)] += 1;
        }
        // A message that touches a queue: both workers stop and restart.
        dev.frontend()
            .connection()
            .request(
                FrontendReq::SetVringEnable,
                VringState {
                    index: (round % 2) as u32,
                    num: 1,
                }
                .as_bytes(),
                &[],
            )
            .unwrap();
    }
    let conn = dev.frontend().connection();
    for q in 0..2u32 {
        let body = VringState { index: q, num: 0 };
        conn.send(FrontendReq::GetVringBase, body.as_bytes(), &[], false)
            .unwrap();
        let reply = conn
            .recv_reply(FrontendReq::GetVringBase, VringState::SIZE)
            .unwrap();
        let state = VringState::read_from(&reply).unwrap();
        assert_eq!((state.index, state.num), (q, served[q as usize]));
    }
    drop(dev);
    assert_still_serving(&backend);
}
