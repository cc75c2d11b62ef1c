//! Adaptive polling (`--poll-max-us`) on the queue-worker path: an idle
//! back-end sleeps once its window is over.

use crate::*;
use std::time::Duration;
use vu_frontend::blk::status;

/// How long an idle back-end is watched, and the CPU it may use meanwhile
/// (10 %: one window of polling plus the idle check once a second is far
/// less; a back-end that kept polling would use all of it).
const IDLE: Duration = Duration::from_secs(2);
const IDLE_CPU: Duration = Duration::from_millis(200);

/// Serves a run of queue-depth-1 requests (so the window grows towards
/// `poll_max_us`), then watches the idle back-end's CPU.
fn idle_after_a_run(poll_max_us: &str) {
    let image = Image::new(&vec![0u8; 1 << 20]);
    let backend = start(&image.path, &["--poll-max-us", poll_max_us]);
    let mut dev = connect(&backend, 1);
    for i in 0..500u64 {
        let (st, data) = dev.read(0, i % 64, 4096).unwrap();
        assert_eq!(st, status::OK);
        assert_eq!(data.len(), 4096);
    }
    let before = backend.cpu_time().unwrap();
    std::thread::sleep(IDLE);
    let used = backend.cpu_time().unwrap() - before;
    eprintln!("--poll-max-us {poll_max_us}: {used:?} of CPU in {IDLE:?} idle");
    assert!(
        used < IDLE_CPU,
        "--poll-max-us {poll_max_us}: the back-end used {used:?} of CPU in {IDLE:?} while idle:\n{}",
        backend.stderr()
    );
    // Still serving after the idle period (the kick wakes it).
    let (st, _) = dev.read(0, 0, 512).unwrap();
    assert_eq!(st, status::OK);
}

#[test]
fn an_idle_back_end_with_the_longest_window_does_not_burn_cpu() {
    idle_after_a_run("10000");
}

#[test]
fn an_idle_back_end_with_the_default_window_does_not_burn_cpu() {
    idle_after_a_run(&vu_cli::POLL_MAX_US_DEFAULT.to_string());
}

#[test]
fn a_poll_max_us_out_of_range_is_refused_with_the_flag_named() {
    let out = std::process::Command::new(binary())
        .args(["--socket-path", "/nonexistent/s", "--blk-file", "/dev/null"])
        .args(["--poll-max-us", "10001"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--poll-max-us"), "{err}");
    let help = std::process::Command::new(binary())
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--poll-max-us <MICROSECONDS>") && help.contains("[default: 50]"),
        "{help}"
    );
}
