//! DPDK's testpmd as `cargo xtask bench net` runs it (the unpacked one, the
//! same command line and start-up, fresh for each run) forwards what our
//! front-end driver sends between its two `net_vhost` ports, both ways, and
//! every frame arrives intact.

use std::path::Path;
use std::time::Duration;

use xtask::cmd::Cmd;
use xtask::testing::require;

use crate::qemu_vhost_user::backend_binary;

/// `vu-bench net` from `tx` to `rx`: what it printed.
fn drive(driver: &Path, tx: &Path, rx: &Path, frame_len: usize) -> serde_json::Value {
    let out = Cmd::new(driver)
        .arg("net")
        .arg("--tx-socket")
        .arg(tx)
        .arg("--rx-socket")
        .arg(rx)
        .args(["--frame-len", &frame_len.to_string()])
        .args(["--secs", "1", "--warmup-secs", "0.2"])
        .timeout(Duration::from_secs(60))
        .run()
        .unwrap();
    assert!(
        out.record.success(),
        "vu-bench net failed ({}):\n{}",
        out.record.describe(),
        out.record.stderr_tail
    );
    serde_json::from_str(out.stdout_str().trim()).unwrap()
}

#[test]
#[ignore = "slow: needs DPDK's dpdk-testpmd unpacked by `cargo xtask setup`; run with `cargo xtask test`"]
fn testpmd_forwards_every_frame_between_its_two_vhost_ports_both_ways() {
    let testpmd = xtask::needs::dpdk::find();
    require(
        testpmd.is_some(),
        "DPDK's dpdk-testpmd unpacked into the cache",
        "cargo xtask bench unpack-dpdk",
    );
    let testpmd = testpmd.expect("required above");
    assert_eq!(testpmd.refusal(), None);
    let driver = backend_binary("vu-bench");
    let dir = tempfile::tempdir().unwrap();
    let ports = [dir.path().join("dpdk0.sock"), dir.path().join("dpdk1.sock")];
    // A fresh testpmd per run, as the bench does (a reconnection races with
    // the previous connection's teardown in testpmd).
    for (tx, rx, frame_len) in [(&ports[0], &ports[1], 64), (&ports[1], &ports[0], 1514)] {
        let mut server = testpmd.start([&ports[0], &ports[1]]).unwrap();
        let report = drive(&driver, tx, rx, frame_len);
        let field = |k: &str| {
            report[k]
                .as_u64()
                .unwrap_or_else(|| panic!("{k} in {report}"))
        };
        assert_eq!(field("frame_len"), frame_len as u64);
        assert!(
            field("frames") > 0,
            "no frame reached {} through testpmd: {report}",
            rx.display()
        );
        assert_eq!(field("verified"), field("frames"), "{report}");
        assert!(field("sent") >= field("frames"), "{report}");
        if let Some(r) = server.try_finished().unwrap() {
            panic!("testpmd exited ({}):\n{}", r.describe(), r.stderr_tail);
        }
        server.stop(Duration::from_secs(10)).unwrap();
    }
}
