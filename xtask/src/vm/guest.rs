//! The scripts that run inside guests, kept beside the code that speaks to them.

/// The guest runner (POSIX sh, every guest OS): runs the payload's test
/// executables and frames their output on the console. `vm::frame` reads it.
pub const RUNNER: &str = include_str!("guest/runner.sh");

/// PID 1 of the Linux guests (busybox sh).
pub const LINUX_INIT: &str = include_str!("guest/init.sh");

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use crate::libtest::{self, Ending};
    use crate::results::TestOutcome;

    /// A hung test is killed at the payload's limit and named; the
    /// executable runs again without it and its other tests report.
    #[test]
    #[ignore = "slow: needs busybox on PATH; run with `cargo xtask test`"]
    fn the_runner_kills_a_hung_test_and_runs_the_others() {
        let busybox = crate::host::which("busybox");
        crate::testing::require(
            busybox.is_some(),
            "busybox",
            "apt-get install busybox-static",
        );
        let busybox = busybox.expect("required above");
        let dir = tempfile::tempdir().unwrap();
        let tools = dir.path().join("tools");
        std::fs::create_dir(&tools).unwrap();
        for applet in [
            "sh",
            "cat",
            "cut",
            "date",
            "dirname",
            "echo",
            "grep",
            "mkdir",
            "rm",
            "sed",
            "sha256sum",
            "sleep",
            "tail",
            "tr",
            "uname",
            "uuencode",
            "wc",
        ] {
            std::os::unix::fs::symlink(&busybox, tools.join(applet)).unwrap();
        }
        let payload = dir.path().join("payload");
        std::fs::create_dir_all(payload.join("t")).unwrap();
        std::fs::create_dir_all(payload.join("bin")).unwrap();
        std::fs::write(payload.join("runner.sh"), super::RUNNER).unwrap();
        std::fs::write(payload.join("manifest"), "seed lib t/1\n").unwrap();
        std::fs::write(payload.join("args"), "--test-threads=1\n").unwrap();
        std::fs::write(payload.join("limit"), "1\n").unwrap();
        std::fs::write(payload.join("env"), "").unwrap();
        // libtest's JSON lines, as the real executables print them; `hang` never ends.
        let fake = r#"#!/bin/sh
args=" $* "
for t in a hang b; do
    case "$args" in *" --skip $t "*) continue ;; esac
    echo "{ \"type\": \"test\", \"event\": \"started\", \"name\": \"$t\" }"
    if [ "$t" = hang ]; then exec sleep 20; fi
    echo "{ \"type\": \"test\", \"name\": \"$t\", \"event\": \"ok\" }"
done
"#;
        std::fs::write(payload.join("t/1"), fake).unwrap();
        std::fs::set_permissions(payload.join("t/1"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let started = std::time::Instant::now();
        let out = crate::cmd::Cmd::new(tools.join("sh"))
            .arg(payload.join("runner.sh"))
            .env("PATH", &tools)
            .timeout(std::time::Duration::from_secs(15))
            .run()
            .unwrap()
            .ok()
            .unwrap();
        assert!(
            started.elapsed().as_secs() < 10,
            "the limit did not stop it"
        );
        let scan = crate::vm::frame::scan(&out.stdout_str());
        let text = |name: &str| String::from_utf8(scan.frames[name].clone().unwrap()).unwrap();
        assert_eq!(text("1.status"), "0\n");
        let tests = libtest::parse("seed", "lib", &text("1.out"), Ending::Exited(0));
        let got: Vec<(String, TestOutcome)> =
            tests.iter().map(|t| (t.name.clone(), t.outcome)).collect();
        assert_eq!(
            got,
            [
                ("a".to_string(), TestOutcome::Pass),
                ("hang".to_string(), TestOutcome::Timeout),
                ("b".to_string(), TestOutcome::Pass),
            ]
        );
    }
}
