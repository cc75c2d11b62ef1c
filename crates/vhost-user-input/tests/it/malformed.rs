//! Malformed requests in the device's own formats close that connection,
//! with the reason logged, and the back-end serves the next one.

use super::*;
use vu_frontend::Buf;
use vu_protocol::virtio::input::{EVENT_QUEUE, STATUS_QUEUE};

/// Submits `buf` (filled with `bytes` if readable) on `queue` of a fresh
/// connection with no event buffers posted, and checks the connection is
/// closed for `reason` while the next connection gets its events.
fn closes(queue: u16, len: u32, writable: bool, bytes: &[u8], reason: &str) {
    let dir = TempDir::new().unwrap();
    let s = script(&dir, "tap KEY_A\n");
    let mut b = start(&["--script", &s]);
    let mut dev = InputDevice::connect(b.socket(), &Options::default(), 0).unwrap();
    let fe = dev.frontend_mut();
    let gpa = fe.ram_mut().alloc(64, 8, true).unwrap();
    fe.ram().write(gpa, bytes).unwrap();
    fe.submit(queue, &[Buf { gpa, len, writable }]).unwrap();
    assert!(
        fe.connection().wait_closed(Duration::from_secs(20)),
        "{reason}: the connection stayed open"
    );
    drop(dev);
    let mut next = connect(&b);
    assert_eq!(next.next_event().unwrap(), key(30, 1));
    assert!(b.is_running());
    let log = b.stderr();
    assert!(
        log.contains(&format!("malformed request: {reason}")),
        "{reason}:\n{log}"
    );
}

#[test]
fn a_short_status_event_closes_the_connection() {
    closes(
        STATUS_QUEUE,
        4,
        false,
        &[0x11, 0, 0, 0],
        "status request of 4 readable bytes",
    );
}

#[test]
fn a_status_event_of_an_unknown_type_closes_the_connection() {
    closes(
        STATUS_QUEUE,
        8,
        false,
        &[0x40, 0, 0, 0, 1, 0, 0, 0],
        "status event of type 64",
    );
}

#[test]
fn a_status_request_with_room_to_write_closes_the_connection() {
    closes(
        STATUS_QUEUE,
        8,
        true,
        &[],
        "status request of 0 readable bytes",
    );
}

#[test]
fn an_event_buffer_shorter_than_an_event_closes_the_connection() {
    closes(
        EVENT_QUEUE,
        4,
        true,
        &[],
        "event buffer of 4 bytes, shorter than an event",
    );
}

#[test]
fn a_device_readable_event_buffer_closes_the_connection() {
    closes(
        EVENT_QUEUE,
        8,
        false,
        &[0; 8],
        "event buffer with device-readable bytes",
    );
}
