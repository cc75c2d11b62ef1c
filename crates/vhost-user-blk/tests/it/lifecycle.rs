//! Reconnection, termination and the program conventions.

use crate::*;
use vu_frontend::blk::status;

#[test]
fn reconnect_keeps_serving_and_data_persists() {
    let image = Image::new(&vec![0u8; 1 << 20]);
    let backend = start(&image.path, &["--num-queues", "2"]);
    for round in 0u8..4 {
        let mut dev = connect(&backend, 2);
        if round > 0 {
            let (st, data) = dev.read(1, u64::from(round - 1) * 8, 4096).unwrap();
            assert_eq!(st, status::OK);
            assert_eq!(data, vec![round - 1 + 1; 4096], "data from connection {}", round - 1);
        }
        assert_eq!(dev.write(u16::from(round % 2), u64::from(round) * 8, &[round + 1; 4096]).unwrap(), status::OK);
        // Dropping the device closes the socket; the back-end resets.
    }
}

#[test]
fn sigterm_exits_cleanly_when_idle_and_when_connected() {
    let image = Image::new(&vec![0u8; 1 << 20]);
    let backend = start(&image.path, &[]);
    let st = backend.terminate().unwrap();
    assert!(st.success(), "idle: {st}");

    let backend = start(&image.path, &[]);
    let dev = connect(&backend, 1);
    let st = backend.terminate().unwrap();
    assert!(st.success(), "connected: {st}");
    drop(dev);
}

#[test]
fn print_capabilities_matches_the_descriptor_file() {
    let out = std::process::Command::new(binary()).arg("--print-capabilities").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(r#""type": "block""#), "{text}");
    assert!(text.contains(r#""read-only""#) && text.contains(r#""blk-file""#), "{text}");
    // The descriptor file ships with the crate; embedded, not read at run time.
    let descriptor = include_str!("../../50-vhost-user-blk.json");
    assert!(descriptor.contains(r#""type": "block""#));
    assert!(descriptor.contains(r#""binary": "/"#), "binary must be an absolute path");
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
    assert!(err.contains("cannot open") && err.contains("missing.img"), "{err}");
    assert!(!dir.path().join("s").exists(), "no socket is created when start-up fails");
}
