//! Classes 3 and 4 of issue 12 on the event-loop path (this back-end has no
//! queue workers): a call fd that would block must not stall the loop, and a
//! kick fd at end of file must not wake it forever.

use super::*;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;
use vu_protocol::FrontendReq;

fn options() -> Options {
    Options {
        // A request the loop cannot serve shows up as a timeout.
        timeout: Duration::from_secs(5),
        ..Options::default()
    }
}

#[test]
fn call_fd_that_would_block_does_not_stall_the_event_loop() {
    let mut backend = start();
    let mut dev = RngDevice::connect(backend.socket(), &options()).unwrap();
    // A blocking socket whose buffer is full (the peer never reads).
    let (full, _peer) = vu_frontend::testutil::full_blocking_socket();
    dev.frontend()
        .connection()
        .request(
            FrontendReq::SetVringCall,
            &0u64.to_ne_bytes(),
            &[full.as_fd()],
        )
        .unwrap();
    for _ in 0..3 {
        check_entropy(&mut dev, 64);
    }
    dev.frontend()
        .connection()
        .get_u64(FrontendReq::GetFeatures)
        .unwrap();
    let (st, took) = backend.terminate_within(Duration::from_secs(5)).unwrap();
    assert!(st.success(), "{st}");
    eprintln!("exited {took:?} after SIGTERM");
}

#[test]
fn kick_fd_at_end_of_file_does_not_spin() {
    let backend = start();
    let dev = connect(&backend);
    let (kick, writer) = UnixStream::pair().unwrap();
    drop(writer);
    dev.frontend()
        .connection()
        .request(
            FrontendReq::SetVringKick,
            &0u64.to_ne_bytes(),
            &[kick.as_fd()],
        )
        .unwrap();
    drop(kick);
    let before = backend.cpu_time().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let used = backend.cpu_time().unwrap() - before;
    eprintln!("{used:?} of CPU in 2 s idle");
    assert!(
        used < Duration::from_millis(300),
        "{used:?}:\n{}",
        backend.stderr()
    );
    let log = backend.stderr();
    assert_eq!(log.matches("kick fd").count(), 1, "{log}");
    dev.frontend()
        .connection()
        .get_u64(FrontendReq::GetFeatures)
        .unwrap();
}

/// Class 5 on the event-loop path: the front-end shrinks its (unsealable)
/// memory file, then kicks; the connection is closed with the reason, and
/// the back-end lives on.
#[test]
fn shrinking_guest_memory_closes_the_connection_not_the_process() {
    let mut backend = start();
    let dev = connect(&backend);
    let fe = dev.frontend();
    for fd in fe.ram().table().1 {
        std::fs::File::from(fd.try_clone_to_owned().unwrap())
            .set_len(0)
            .unwrap();
    }
    // This process must not touch its own mapping from here either.
    // A socket works as a kick fd: 8 bytes written are one signal.
    let (kick, mut signal) = UnixStream::pair().unwrap();
    signal.write_all(&1u64.to_ne_bytes()).unwrap();
    fe.connection()
        .send(
            FrontendReq::SetVringKick,
            &0u64.to_ne_bytes(),
            &[kick.as_fd()],
            false,
        )
        .unwrap();
    assert!(fe.connection().wait_closed(Duration::from_secs(20)));
    drop(dev);
    let mut next = connect(&backend);
    check_entropy(&mut next, 64);
    assert!(backend.is_running());
    let log = backend.stderr();
    assert!(log.contains("shrank its file"), "{log}");
}
