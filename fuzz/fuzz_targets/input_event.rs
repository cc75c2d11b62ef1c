//! Fuzzes vhost-user-input's own formats: the script lines a FIFO delivers
//! (split into fuzzer-chosen chunks), the status-queue event check, the
//! configuration space under arbitrary selections, reads and writes, and
//! the device's event queueing.
//!
//! Oracles besides "no crash": a line gives at most four events (`tap`),
//! every event's type is a valid one, an unfinished line never holds more
//! than `MAX_LINE` bytes; an accepted status request is exactly one event
//! of a valid type; a configuration access succeeds exactly when it lies
//! inside the space, and the size it shows never exceeds the payload; the
//! events waiting for the driver never exceed `MAX_PENDING`, and each is in
//! the device's capabilities.
//!
//! Input layout: `[mode: u8]`, then per mode: 0, `[chunk: u8]` and script
//! bytes; 1, `[readable: u8][writable: u8]` and 8 event bytes; 2, `[kind:
//! u8]` then accesses of `[op: u8][offset: u8][len: u8][bytes...]`; 3,
//! `[kind: u8][repeat: u16]` then 8-byte events.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vhost_user_input::config::{Kind, Profile};
use vhost_user_input::device::{check_status, InputDevice, MAX_PENDING};
use vhost_user_input::script::{LineBuffer, MAX_LINE};
use vhost_user_input::source::Source;
use vu_backend::Device;
use vu_protocol::virtio::input::{ev, Event, CONFIG_SIZE, PAYLOAD_MAX, SIZE_OFFSET};

fn kind(b: u8) -> Kind {
    [Kind::Keyboard, Kind::Mouse, Kind::Tablet][usize::from(b % 3)]
}

fn device(k: u8, events: Vec<Event>) -> InputDevice {
    let profile = Profile::scripted(kind(k), "fuzz".into(), "serial".into());
    InputDevice::new(profile, Source::Replay(events))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            let Some((&chunk, bytes)) = rest.split_first() else {
                return;
            };
            let mut lines = LineBuffer::default();
            let mut out = Vec::new();
            let mut errors = 0;
            for piece in bytes.chunks(usize::from(chunk).max(1)) {
                errors += lines.push(piece, &mut out).len();
                assert!(lines.pending_len() <= MAX_LINE);
            }
            let newlines = bytes.iter().filter(|&&b| b == b'\n').count();
            assert!(
                out.len() <= 4 * newlines,
                "{} events from {newlines} lines",
                out.len()
            );
            assert!(errors <= newlines + bytes.len() / MAX_LINE + 1);
            assert!(out.iter().all(|e| e.kind <= ev::MAX));
        }
        1 => {
            if rest.len() < 2 + Event::SIZE {
                return;
            }
            let bytes: [u8; Event::SIZE] = rest[2..2 + Event::SIZE].try_into().unwrap();
            let (readable, writable) = (usize::from(rest[0]), usize::from(rest[1]));
            if let Ok(e) = check_status(readable, writable, &bytes) {
                assert_eq!((readable, writable), (Event::SIZE, 0));
                assert!(e.kind <= ev::MAX);
                assert_eq!(e.to_le_bytes(), bytes);
            }
        }
        2 => {
            let Some((&k, mut ops)) = rest.split_first() else {
                return;
            };
            let mut dev = device(k, Vec::new());
            while ops.len() >= 3 {
                let (op, offset, len) = (ops[0], u32::from(ops[1]), usize::from(ops[2]));
                ops = &ops[3..];
                let inside = offset as usize + len <= CONFIG_SIZE;
                if op % 2 == 0 {
                    let n = len.min(ops.len());
                    let ok = dev.write_config(offset, &ops[..n]);
                    assert_eq!(ok, offset as usize + n <= CONFIG_SIZE);
                    ops = &ops[n..];
                } else {
                    let mut buf = vec![0u8; len];
                    assert_eq!(dev.read_config(offset, &mut buf), inside);
                }
                let mut whole = [0u8; CONFIG_SIZE];
                assert!(dev.read_config(0, &mut whole));
                let size = usize::from(whole[SIZE_OFFSET]);
                assert!(size <= PAYLOAD_MAX);
                assert!(
                    whole[8 + size..].iter().all(|&b| b == 0),
                    "bytes past the size"
                );
            }
        }
        _ => {
            if rest.len() < 3 {
                return;
            }
            let repeat = usize::from(u16::from_le_bytes([rest[1], rest[2]]) % 64) + 1;
            let events: Vec<Event> = rest[3..]
                .chunks_exact(Event::SIZE)
                .map(|c| Event::from_le_bytes(c.try_into().unwrap()))
                .collect();
            let all: Vec<Event> = std::iter::repeat_n(events, repeat).flatten().collect();
            let mut dev = device(rest[0], all);
            dev.reset();
            assert!(dev.pending() <= MAX_PENDING);
            assert!(dev
                .pending_events()
                .all(|e| dev.profile().supports(e.kind, e.code)));
            assert!(dev.fills(0), "event buffers wait for events");
            assert!(!dev.fills(1), "the status queue never waits");
        }
    }
});
