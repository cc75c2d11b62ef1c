//! A hostile front-end against the framework (issue 12, classes 3–7): fds
//! that block or never stop being readable, guest memory that shrinks under
//! the back-end, requests it cannot honour, replies nobody reads. Each test
//! drives the real binary; `vhost-user-blk` serves its queue on a worker
//! thread (the rng back-end's tests cover the event-loop path).

use crate::*;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;
use vu_frontend::{Connection, Frontend};
use vu_protocol::msg::{VringAddr, U64};
use vu_protocol::{FrontendReq, Header, Pod};

/// How long an idle back-end is watched for CPU use.
const IDLE: Duration = Duration::from_secs(2);
/// Most CPU an idle back-end may use in [`IDLE`] (a busy loop uses all of it).
const IDLE_CPU: Duration = Duration::from_millis(300);
/// Bound on waiting for a closed connection (an event; generous).
const CLOSE_WAIT: Duration = Duration::from_secs(20);

/// Class 3: a call fd that would block (a blocking socket with a full
/// buffer; a blocking eventfd at its maximum or a full pipe are the same)
/// must not wedge the worker, and so SIGTERM still ends the process.
#[test]
fn call_fd_that_would_block_leaves_sigterm_working() {
    let image = Image::new(&vec![0u8; 1 << 20]);
    let mut backend = start(&image.path, &[]);
    let mut dev = connect(&backend, 1);
    let (full, _peer) = vu_frontend::testutil::full_blocking_socket();
    dev.frontend()
        .connection()
        .request(
            FrontendReq::SetVringCall,
            &0u64.to_ne_bytes(),
            &[full.as_fd()],
        )
        .unwrap();
    // The request completes (the front-end sees the used ring without a
    // call); the back-end then signals the full socket.
    let data = vec![0xa5; 4096];
    assert_eq!(
        dev.write(0, 0, &data).unwrap(),
        vu_frontend::blk::status::OK
    );
    let (st, back) = dev.read(0, 0, 4096).unwrap();
    assert_eq!((st, back), (vu_frontend::blk::status::OK, data));
    let (status, took) = backend
        .terminate_within(Duration::from_secs(5))
        .expect("SIGTERM must end a back-end whose call fd is full");
    assert!(status.success(), "{status}: {}", backend.stderr());
    eprintln!("exited {took:?} after SIGTERM");
}

/// Class 3: a call fd that cannot be made non-blocking or is a regular
/// file (each notification would grow it by 8 bytes) is refused.
#[test]
fn regular_file_as_call_fd_is_refused() {
    let image = Image::new(&vec![0u8; 1 << 20]);
    let backend = start(&image.path, &[]);
    let dev = connect(&backend, 1);
    let file = std::fs::File::create(image.dir.path().join("call")).unwrap();
    let c = dev.frontend().connection();
    c.send(
        FrontendReq::SetVringCall,
        &0u64.to_ne_bytes(),
        &[file.as_fd()],
        true,
    )
    .unwrap();
    let reply = c.recv_reply(FrontendReq::SetVringCall, U64::SIZE).unwrap();
    assert_ne!(U64::read_from(&reply).unwrap().value, 0, "acked as success");
    assert!(
        backend.stderr().contains("regular file"),
        "{}",
        backend.stderr()
    );
}

/// Watches an idle back-end for [`IDLE`] and fails if it burns CPU.
fn assert_idle(backend: &BackendProcess, what: &str) {
    let before = backend.cpu_time().unwrap();
    std::thread::sleep(IDLE);
    let used = backend.cpu_time().unwrap() - before;
    eprintln!("{what}: {used:?} of CPU in {IDLE:?} idle");
    assert!(
        used < IDLE_CPU,
        "{what}: the back-end used {used:?} of CPU in {IDLE:?} while idle:\n{}",
        backend.stderr()
    );
}

/// Class 4: a kick fd whose writer closed (end of file, hang-up) breaks
/// that queue once, with a log line; it does not wake the back-end forever.
#[test]
fn kick_socket_at_end_of_file_does_not_spin() {
    let image = Image::new(&vec![0u8; 1 << 20]);
    let backend = start(&image.path, &[]);
    let fe = Frontend::connect(backend.socket(), &options(1).frontend).unwrap();
    let (kick, writer) = UnixStream::pair().unwrap();
    drop(writer);
    fe.connection()
        .request(
            FrontendReq::SetVringKick,
            &0u64.to_ne_bytes(),
            &[kick.as_fd()],
        )
        .unwrap();
    drop(kick);
    assert_idle(&backend, "kick socket at EOF");
    let log = backend.stderr();
    assert_eq!(log.matches("kick fd").count(), 1, "one log line:\n{log}");
    // The connection itself still answers.
    fe.connection().get_u64(FrontendReq::GetFeatures).unwrap();
}

/// Class 4 with a real pipe: a child's stdout after the child exited
/// (some bytes, then end of file).
#[test]
fn kick_pipe_whose_writer_exited_does_not_spin() {
    let image = Image::new(&vec![0u8; 1 << 20]);
    let backend = start(&image.path, &[]);
    let fe = Frontend::connect(backend.socket(), &options(1).frontend).unwrap();
    let mut child = std::process::Command::new(binary())
        .arg("--help")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pipe = child.stdout.take().unwrap();
    assert!(child.wait().unwrap().success());
    fe.connection()
        .request(
            FrontendReq::SetVringKick,
            &0u64.to_ne_bytes(),
            &[pipe.as_fd()],
        )
        .unwrap();
    drop(pipe);
    assert_idle(&backend, "kick pipe at EOF");
    let log = backend.stderr();
    assert_eq!(log.matches("kick fd").count(), 1, "one log line:\n{log}");
}

/// Class 5: the front-end shrinks its memory file after SET_MEM_TABLE (the
/// memfds here are created without sealing allowed, so the back-end cannot
/// seal them) and kicks: the back-end closes that connection, says why,
/// and serves the next one; it is not killed by SIGBUS.
#[test]
fn shrinking_guest_memory_closes_the_connection_not_the_process() {
    let image = Image::new(&vec![0u8; 1 << 20]);
    let mut backend = start(&image.path, &[]);
    let dev = connect(&backend, 1);
    let fe = dev.frontend();
    for fd in fe.ram().table().1 {
        std::fs::File::from(fd.try_clone_to_owned().unwrap())
            .set_len(0)
            .unwrap();
    }
    // From here this process must not touch its own mapping either. A new
    // kick fd makes the back-end look at the ring at once.
    let kick = vu_sys::Notifier::new().unwrap();
    kick.notify().unwrap();
    fe.connection()
        .send(
            FrontendReq::SetVringKick,
            &0u64.to_ne_bytes(),
            &[kick.read_fd()],
            false,
        )
        .unwrap();
    assert!(
        fe.connection().wait_closed(CLOSE_WAIT),
        "connection left open"
    );
    drop(dev);
    // A new connection, served: the back-end is alive, and what it logged
    // about the old one is written by now.
    assert_still_serving(&backend);
    assert!(backend.is_running(), "back-end died:\n{}", backend.stderr());
    let log = backend.stderr();
    assert!(log.contains("shrank"), "reason not logged:\n{log}");
}

/// Class 5: a region fd that is neither a regular file nor a shared-memory
/// object (here a character device that can be mapped) is refused.
#[test]
fn region_fd_that_is_a_device_is_refused() {
    let image = Image::new(&vec![0u8; 1 << 20]);
    let mut backend = start(&image.path, &[]);
    let c = Connection::connect(backend.socket()).unwrap();
    let zero = std::fs::File::options()
        .read(true)
        .write(true)
        .open("/dev/zero")
        .unwrap();
    let r = vu_protocol::msg::MemoryRegion {
        guest_phys_addr: 0,
        memory_size: 1 << 20,
        user_addr: 0x1000_0000,
        mmap_offset: 0,
    };
    c.send(
        FrontendReq::SetMemTable,
        &vu_protocol::msg::encode_mem_table(&[r]),
        &[zero.as_fd()],
        false,
    )
    .unwrap();
    assert!(c.wait_closed(CLOSE_WAIT), "device accepted as guest memory");
    assert_still_serving(&backend);
    let log = backend.stderr();
    assert!(log.contains("not a regular file"), "{log}");
    assert!(backend.is_running());
}

/// The `u64` of a reply-ack.
fn ack(c: &Connection, req: FrontendReq) -> u64 {
    let p = c.recv_reply(req, U64::SIZE).unwrap();
    U64::read_from(&p).unwrap().value
}

/// Class 6: with REPLY_ACK, a well-formed request the back-end does not
/// honour (ring logging, never offered) gets a non-zero reply, changes
/// nothing, and the connection goes on.
#[test]
fn vring_addr_with_log_flag_is_nacked_and_the_connection_goes_on() {
    let image = Image::new(&vec![0u8; 1 << 20]);
    let backend = start(&image.path, &[]);
    let mut dev = connect(&backend, 1);
    let fe = dev.frontend();
    let l = fe.layout(0).unwrap();
    let ua = |gpa| fe.ram().user_addr(gpa).unwrap();
    let a = VringAddr {
        index: 0,
        flags: VringAddr::F_LOG,
        desc_user_addr: ua(l.desc),
        used_user_addr: ua(l.used),
        avail_user_addr: ua(l.avail),
        log_guest_addr: 0,
    };
    let c = fe.connection();
    c.send(FrontendReq::SetVringAddr, a.as_bytes(), &[], true)
        .unwrap();
    assert_ne!(
        ack(c, FrontendReq::SetVringAddr),
        0,
        "logging acked as done"
    );
    // The same addresses without the flag are honoured and acked 0.
    let plain = VringAddr { flags: 0, ..a };
    c.send(FrontendReq::SetVringAddr, plain.as_bytes(), &[], true)
        .unwrap();
    assert_eq!(ack(c, FrontendReq::SetVringAddr), 0);
    let data = vec![0x3c; 512];
    assert_eq!(
        dev.write(0, 1, &data).unwrap(),
        vu_frontend::blk::status::OK
    );
    let log = backend.stderr();
    assert!(log.contains("logging"), "refusal not logged:\n{log}");
    assert!(!log.contains("closing connection"), "{log}");
}

/// Class 6: requests the back-end refuses without REPLY_ACK (nothing to
/// carry a failure) close the connection, and so does a message it cannot
/// even parse, NEED_REPLY or not: no reply is sent for it.
#[test]
fn refusal_without_reply_ack_and_unparsable_need_reply_close_the_connection() {
    let image = Image::new(&vec![0u8; 1 << 20]);
    let backend = start(&image.path, &[]);
    // Refusal, REPLY_ACK never negotiated.
    let c = Connection::connect(backend.socket()).unwrap();
    c.send(
        FrontendReq::SetFeatures,
        &(1u64 << 26).to_ne_bytes(),
        &[],
        true,
    )
    .unwrap();
    assert!(c.wait_closed(CLOSE_WAIT), "refused SET_FEATURES left open");
    // Unparsable with NEED_REPLY, REPLY_ACK negotiated.
    let fe = Frontend::connect(backend.socket(), &options(1).frontend).unwrap();
    let mut bad = Header::request(FrontendReq::SetVringNum.code(), 4, true)
        .as_bytes()
        .to_vec();
    bad.extend_from_slice(&[0; 4]);
    fe.connection().send_raw(&bad, &[]).unwrap();
    assert!(
        fe.connection().wait_closed(CLOSE_WAIT),
        "malformed NEED_REPLY message left open"
    );
    assert_still_serving(&backend);
    let log = backend.stderr();
    assert_eq!(log.matches("closing connection").count(), 2, "{log}");
}

/// Class 7: a front-end that sends requests and never reads the replies
/// fills both socket buffers; the back-end is then stuck sending, and
/// SIGTERM must still end it within a second.
#[test]
fn front_end_that_never_reads_replies_leaves_sigterm_working() {
    let image = Image::new(&vec![0u8; 1 << 20]);
    let mut backend = start(&image.path, &[]);
    let mut s = UnixStream::connect(backend.socket()).unwrap();
    // A write that makes no progress for this long means the back-end has
    // stopped reading (it is blocked on its replies).
    s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let one = Header::request(FrontendReq::GetFeatures.code(), 0, false);
    let batch: Vec<u8> = (0..64).flat_map(|_| one.as_bytes().to_vec()).collect();
    let mut sent = 0;
    let stalled = loop {
        if sent >= 100_000 {
            break false;
        }
        match s.write_all(&batch) {
            Ok(()) => sent += 64,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break true
            }
            Err(e) => panic!("after {sent} requests: {e}"),
        }
    };
    assert!(
        stalled,
        "100,000 requests went through without replies being read"
    );
    eprintln!("back-end stopped reading after about {sent} requests");
    let (status, took) = backend
        .terminate_within(Duration::from_secs(5))
        .expect("SIGTERM must end a back-end stuck on unread replies");
    eprintln!("exited {took:?} after SIGTERM");
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
}
