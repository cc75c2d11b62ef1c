//! The scripts that run inside guests, kept beside the code that speaks to them.

/// The guest runner (POSIX sh, every guest OS): runs the payload's test
/// executables and frames their output on the console. `vm::frame` reads it.
pub const RUNNER: &str = include_str!("guest/runner.sh");

/// PID 1 of the Linux guests (busybox sh).
pub const LINUX_INIT: &str = include_str!("guest/init.sh");

/// A sandbox in which the host's busybox runs the guest runner as a guest
/// would: `tools/` holds the busybox applets the runner uses (plus
/// `extra`), `payload/` holds `runner.sh`, an empty `bin/` and `t/` for the
/// test executables. Requires busybox (a slow test's prerequisite).
#[cfg(test)]
pub(crate) fn runner_sandbox(
    extra: &[&str],
) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
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
    let applets = [
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
    ];
    for applet in applets.iter().chain(extra) {
        std::os::unix::fs::symlink(&busybox, tools.join(applet)).unwrap();
    }
    let payload = dir.path().join("payload");
    std::fs::create_dir_all(payload.join("t")).unwrap();
    std::fs::create_dir_all(payload.join("bin")).unwrap();
    std::fs::write(payload.join("runner.sh"), RUNNER).unwrap();
    (dir, tools, payload)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use crate::libtest::{self, Ending};
    use crate::results::TestOutcome;

    /// A hung test is killed at the payload's limit and named, with what it
    /// printed before it hung; the executable runs again without it and its
    /// other tests report; a failing test is rerun (`retries`) in the same
    /// run and is flaky when it then passes.
    #[test]
    #[ignore = "slow: needs busybox on PATH; run with `cargo xtask test`"]
    fn the_runner_kills_a_hung_test_and_runs_the_others() {
        let (_dir, tools, payload) = super::runner_sandbox(&["awk", "mv", "printf"]);
        std::fs::write(payload.join("manifest"), "seed lib t/1\n").unwrap();
        std::fs::write(payload.join("args"), "--test-threads=1 --nocapture\n").unwrap();
        std::fs::write(payload.join("limit"), "1\n").unwrap();
        std::fs::write(payload.join("retries"), "2\n").unwrap();
        std::fs::write(payload.join("env"), "").unwrap();
        // libtest's JSON lines, as the real executables print them with
        // --nocapture; `hang` prints, then never ends (printing on, every
        // tick: its output is not an event); `flaky` fails once and prints
        // without a newline; `b` is chatty.
        let fake = r#"#!/bin/sh
args=" $* "
# `--exact NAME` without skips: a rerun of that test alone.
only=
case "$args" in *" --skip "*) ;; *" --exact "*) only=yes ;; esac
for t in a hang flaky b; do
    case "$args" in *" --skip $t "*) continue ;; esac
    if [ -n "$only" ]; then case "$args" in *" $t "*) ;; *) continue ;; esac; fi
    echo "{ \"type\": \"test\", \"event\": \"started\", \"name\": \"$t\" }"
    case $t in
    hang)
        echo "hang: waiting for an event that never comes" >&2
        while :; do echo "hang: still waiting"; sleep 0.2; done ;;
    flaky)
        if [ ! -e flaky-ran ]; then
            : > flaky-ran
            printf "flaky: failed this once"
            echo "{ \"type\": \"test\", \"name\": \"$t\", \"event\": \"failed\" }"
            continue
        fi ;;
    b)
        i=0
        while [ $i -lt 100 ]; do echo "b: line $i"; i=$((i + 1)); done ;;
    esac
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
        let out = text("1.out");
        assert!(
            !out.contains("b: line"),
            "a passing test's output is dropped:\n{out}"
        );
        let tests = libtest::parse("seed", "lib", &out, Ending::Exited(0));
        let got: Vec<(String, TestOutcome)> =
            tests.iter().map(|t| (t.name.clone(), t.outcome)).collect();
        assert_eq!(
            got,
            [
                ("a".to_string(), TestOutcome::Pass),
                ("hang".to_string(), TestOutcome::Timeout),
                ("flaky".to_string(), TestOutcome::Fail),
                ("b".to_string(), TestOutcome::Pass),
            ]
        );
        let hung = tests[1].output.as_deref().unwrap();
        assert!(
            hung.contains("hang: waiting for an event that never comes"),
            "{hung}"
        );
        assert!(hung.lines().count() <= 41, "cut to its last lines: {hung}");
        assert_eq!(tests[2].output.as_deref(), Some("flaky: failed this once"));
        assert_eq!(
            libtest::reruns(&out).into_iter().collect::<Vec<_>>(),
            [("flaky".to_string(), (1, 1))]
        );
    }
}
