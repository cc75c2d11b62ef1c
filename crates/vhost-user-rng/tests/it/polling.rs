//! Adaptive polling (`--poll-max-us`) on the event-loop path (this
//! back-end has no queue workers): correct with polling on and off, and
//! an idle back-end sleeps once its window is over.

use super::*;
use std::time::Duration;

fn start_polling(poll_max_us: &str) -> BackendProcess {
    BackendProcess::spawn(&binary(), &["--poll-max-us", poll_max_us]).expect("start vhost-user-rng")
}

#[test]
fn serves_with_polling_off_and_with_the_longest_window() {
    for poll in ["0", "10000"] {
        let backend = start_polling(poll);
        let mut dev = connect(&backend);
        for len in [1, 64, 4096] {
            for _ in 0..50 {
                check_entropy(&mut dev, len);
            }
        }
        drop(dev);
        assert!(
            backend.terminate().unwrap().success(),
            "--poll-max-us {poll}"
        );
    }
}

#[test]
fn an_idle_back_end_with_the_longest_window_does_not_burn_cpu() {
    const IDLE: Duration = Duration::from_secs(2);
    let backend = start_polling("10000");
    let mut dev = connect(&backend);
    // Back-to-back requests grow the window.
    for _ in 0..500 {
        check_entropy(&mut dev, 64);
    }
    let before = backend.cpu_time().unwrap();
    std::thread::sleep(IDLE);
    let used = backend.cpu_time().unwrap() - before;
    eprintln!("{used:?} of CPU in {IDLE:?} idle");
    assert!(
        used < IDLE / 10,
        "the back-end used {used:?} of CPU in {IDLE:?} while idle:\n{}",
        backend.stderr()
    );
    check_entropy(&mut dev, 64);
}
