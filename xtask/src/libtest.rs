//! Reads what a Rust test executable printed with
//! `-Z unstable-options --format json --report-time` into per-test results.
//!
//! Every lane (host, qemu-user, VM guest) runs test executables the same way
//! and hands their output here, so a test's name, outcome and duration mean
//! the same thing wherever it ran.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::cmd::tail;
use crate::results::{TestOutcome, TestResult};

/// The arguments that make libtest print one JSON event per line. libtest
/// accepts them from any toolchain when `RUSTC_BOOTSTRAP=1` is in its environment.
pub const JSON_ARGS: [&str; 4] = ["-Z", "unstable-options", "--format=json", "--report-time"];

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    event: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    exec_time: Option<f64>,
    #[serde(default)]
    stdout: Option<String>,
    /// For [`HUNG_EVENT`]: the limit the test ran past.
    #[serde(default)]
    limit_secs: Option<f64>,
    /// For [`RERUN_EVENT`]: how many reruns there were, and how many passed.
    #[serde(default)]
    runs: Option<u32>,
    #[serde(default)]
    passes: Option<u32>,
}

/// Makes libtest let a test's output through instead of capturing it, so
/// that a test killed at its limit has not taken what it printed with it.
/// Runners that run one test at a time pass it and send stderr into the
/// same stream; [`parse`] gives each test the lines printed while it ran.
pub const NOCAPTURE_ARG: &str = "--nocapture";

/// The event the guest runner adds after rerunning a failing test
/// (`--retries`): `{ "type": "test", "event": "vhu-rerun", "name": …,
/// "runs": …, "passes": … }`.
pub const RERUN_EVENT: &str = "vhu-rerun";

/// How a libtest JSON line begins; with `--nocapture`, a test's own
/// unterminated output can come before it on the same line.
const EVENT_START: &str = "{ \"type\": \"";

/// Splits a line into the plain text before a libtest event and the event.
fn split_event(line: &str) -> (&str, Option<Event>) {
    let trimmed = line.trim();
    if trimmed.starts_with('{') {
        if let Ok(event) = serde_json::from_str::<Event>(trimmed) {
            return ("", Some(event));
        }
    }
    let Some(at) = line.find(EVENT_START) else {
        return (line, None);
    };
    match serde_json::from_str::<Event>(line[at..].trim()) {
        Ok(event) => (&line[..at], Some(event)),
        Err(_) => (line, None),
    }
}

/// What a run printed besides libtest's events.
pub fn plain_text(stdout: &str) -> String {
    stdout
        .lines()
        .map(|l| split_event(l).0)
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The reruns the guest runner recorded ([`RERUN_EVENT`]): name → (reruns, passes).
pub fn reruns(stdout: &str) -> BTreeMap<String, (u32, u32)> {
    stdout
        .lines()
        .filter_map(|l| split_event(l).1)
        .filter(|e| e.kind == "test" && e.event == RERUN_EVENT)
        .filter_map(|e| Some((e.name?, (e.runs.unwrap_or(0), e.passes.unwrap_or(0)))))
        .collect()
}

/// The event a runner adds to an executable's output when it killed a test
/// at its per-test limit (libtest has no such event): `{ "type": "test",
/// "event": "vhu-hung", "name": …, "limit_secs": …, "stdout": … }`. The guest
/// runner writes the same line.
pub const HUNG_EVENT: &str = "vhu-hung";

/// The line a runner appends for a test it killed at `limit_secs`, with the
/// tail of what the executable printed outside libtest's capture.
pub fn hung_line(name: &str, limit_secs: f64, output: &str) -> String {
    serde_json::json!({
        "type": "test",
        "event": HUNG_EVENT,
        "name": name,
        "limit_secs": limit_secs,
        "stdout": output,
    })
    .to_string()
}

/// The names a libtest JSON line says started, and finished (any outcome).
pub fn event_of(line: &str) -> Option<(bool, String)> {
    let event = split_event(line).1?;
    if event.kind != "test" {
        return None;
    }
    let name = event.name?;
    match event.event.as_str() {
        "started" => Some((true, name)),
        "ok" | "failed" | "ignored" | HUNG_EVENT => Some((false, name)),
        _ => None,
    }
}

/// How the test executable ended, as far as the runner knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Exited with this status.
    Exited(i32),
    /// Killed by a signal (a crash).
    Signalled(i32),
    /// The runner stopped it at the deadline.
    TimedOut,
    /// The runner lost it without a status (a guest that died, say).
    Lost,
}

/// Turns one executable's output into test results. Tests that started and
/// never finished are failures (or timeouts) carrying the reason, and an
/// executable that failed without any failing test is reported as a failure
/// named after the executable, so a crash is never read as a pass.
///
/// Plain lines printed while exactly one test runs are that test's (all of
/// them, with `--nocapture` and one test at a time): a failing or killed
/// test without libtest's captured output gets their tail.
pub fn parse(package: &str, binary: &str, stdout: &str, ending: Ending) -> Vec<TestResult> {
    let mut results: Vec<TestResult> = Vec::new();
    // Running tests, each with the plain lines printed while it ran alone.
    let mut running: BTreeMap<String, String> = BTreeMap::new();
    let mut saw_suite = false;
    let mut plain = String::new();
    for line in stdout.lines() {
        let (before, event) = split_event(line);
        if !before.trim().is_empty() || event.is_none() {
            plain.push_str(before);
            plain.push('\n');
            if running.len() == 1 {
                if let Some(own) = running.values_mut().next() {
                    own.push_str(before);
                    own.push('\n');
                }
            }
        }
        let Some(event) = event else { continue };
        match (event.kind.as_str(), event.event.as_str()) {
            ("suite", _) => saw_suite = true,
            ("test", "started") => {
                if let Some(name) = event.name {
                    running.insert(name, String::new());
                }
            }
            ("test", RERUN_EVENT) => {}
            ("test", ev) => {
                let Some(name) = event.name else { continue };
                let own = running
                    .remove(&name)
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| tail(&s, 40, 6000));
                if ev == HUNG_EVENT {
                    let limit = event.limit_secs.unwrap_or(0.0);
                    let said = own.or(event.stdout.filter(|s| !s.trim().is_empty()));
                    // A rerun may pass it again on the same name: one entry.
                    results.retain(|r| r.name != name);
                    results.push(TestResult {
                        package: package.to_string(),
                        binary: binary.to_string(),
                        name,
                        outcome: TestOutcome::Timeout,
                        duration_secs: Some(limit),
                        output: Some(match said {
                            Some(s) => format!(
                                "killed after {limit:.0}s, its per-test limit; its last output:\n{}",
                                tail(&s, 40, 6000)
                            ),
                            None => format!("killed after {limit:.0}s, its per-test limit (it printed nothing that was kept)"),
                        }),
                        limit_secs: Some(limit),
                        attempts: None,
                        passes: None,
                    });
                    continue;
                }
                let outcome = match ev {
                    "ok" => TestOutcome::Pass,
                    "failed" => TestOutcome::Fail,
                    "ignored" => TestOutcome::Ignored,
                    "timeout" => continue, // libtest's "running too long" warning; the result follows.
                    _ => continue,
                };
                results.push(TestResult {
                    package: package.to_string(),
                    binary: binary.to_string(),
                    name,
                    outcome,
                    duration_secs: event.exec_time,
                    output: event
                        .stdout
                        .filter(|s| !s.is_empty())
                        .map(|s| tail(&s, 60, 8000))
                        .or(own.filter(|_| outcome == TestOutcome::Fail)),
                    limit_secs: None,
                    attempts: None,
                    passes: None,
                });
            }
            _ => {}
        }
    }
    let why = match ending {
        Ending::Exited(0) => None,
        Ending::Exited(code) => Some(format!("the test executable exited with status {code}")),
        Ending::Signalled(sig) => Some(format!("the test executable was killed by signal {sig}")),
        Ending::TimedOut => {
            Some("the test executable was stopped at the cell's timeout".to_string())
        }
        Ending::Lost => Some("the test executable's run was lost (no exit status)".to_string()),
    };
    let unfinished = if ending == Ending::TimedOut {
        TestOutcome::Timeout
    } else {
        TestOutcome::Fail
    };
    for (name, own) in running {
        results.push(TestResult {
            package: package.to_string(),
            binary: binary.to_string(),
            name,
            outcome: unfinished,
            duration_secs: None,
            output: Some(format!(
                "{} while this test was running{}",
                why.clone().unwrap_or_else(|| "the executable ended".into()),
                if own.trim().is_empty() {
                    String::new()
                } else {
                    format!("; its last output:\n{}", tail(&own, 40, 6000))
                }
            )),
            limit_secs: None,
            attempts: None,
            passes: None,
        });
    }
    let any_failed = results
        .iter()
        .any(|r| matches!(r.outcome, TestOutcome::Fail | TestOutcome::Timeout));
    if let Some(why) = why {
        if !any_failed {
            // A harness-less test, a crash outside any test, or output we could not read.
            let output = if plain.trim().is_empty() {
                why.clone()
            } else {
                format!("{why}\n{}", tail(&plain, 40, 6000))
            };
            results.push(TestResult {
                package: package.to_string(),
                binary: binary.to_string(),
                name: format!("<{binary}>"),
                outcome: unfinished,
                duration_secs: None,
                output: Some(output),
                limit_secs: None,
                attempts: None,
                passes: None,
            });
        }
    } else if !saw_suite && results.is_empty() {
        // Exit 0 without libtest events: a `harness = false` test that passed.
        results.push(TestResult {
            package: package.to_string(),
            binary: binary.to_string(),
            name: format!("<{binary}>"),
            outcome: TestOutcome::Pass,
            duration_secs: None,
            output: None,
            limit_secs: None,
            attempts: None,
            passes: None,
        });
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASS_FAIL: &str = r#"{ "type": "suite", "event": "started", "test_count": 3 }
{ "type": "test", "event": "started", "name": "a::passes" }
{ "type": "test", "event": "started", "name": "a::fails" }
{ "type": "test", "name": "a::passes", "event": "ok", "exec_time": 0.001 }
{ "type": "test", "name": "a::fails", "event": "failed", "exec_time": 0.002, "stdout": "thread 'a::fails' panicked at src/lib.rs:9:5:\nboom\n" }
{ "type": "test", "event": "ignored", "name": "a::slow" }
{ "type": "suite", "event": "failed", "passed": 1, "failed": 1, "ignored": 1, "measured": 0, "filtered_out": 0, "exec_time": 0.003 }
"#;

    fn brief(results: &[TestResult]) -> String {
        results
            .iter()
            .map(|r| {
                format!(
                    "{} {:?} {:?} {}",
                    r.name,
                    r.outcome,
                    r.duration_secs,
                    r.output
                        .as_deref()
                        .unwrap_or("-")
                        .lines()
                        .last()
                        .unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn reads_outcomes_durations_and_output() {
        let got = parse("p", "lib", PASS_FAIL, Ending::Exited(101));
        expect_test::expect![[r#"
            a::passes Pass Some(0.001) -
            a::fails Fail Some(0.002) boom
            a::slow Ignored None -"#]]
        .assert_eq(&brief(&got));
    }

    #[test]
    fn a_crash_mid_test_fails_the_running_test() {
        let out = "{ \"type\": \"test\", \"event\": \"started\", \"name\": \"t::boom\" }\n";
        let got = parse("p", "it", out, Ending::Signalled(11));
        expect_test::expect![[r#"t::boom Fail None the test executable was killed by signal 11 while this test was running"#]]
            .assert_eq(&brief(&got));
    }

    #[test]
    fn a_nonzero_exit_with_all_tests_passing_is_still_a_failure() {
        let out = "{ \"type\": \"test\", \"name\": \"t::ok\", \"event\": \"ok\" }\n";
        let got = parse("p", "it", out, Ending::Exited(1));
        expect_test::expect![[r#"
            t::ok Pass None -
            <it> Fail None the test executable exited with status 1"#]]
        .assert_eq(&brief(&got));
    }

    #[test]
    fn timeout_marks_unfinished_tests() {
        let out = "{ \"type\": \"test\", \"event\": \"started\", \"name\": \"t::hangs\" }\n";
        let got = parse("p", "it", out, Ending::TimedOut);
        assert_eq!(got[0].outcome, TestOutcome::Timeout);
    }

    #[test]
    fn a_test_killed_at_its_limit_is_a_timeout_under_its_own_name() {
        let out = format!(
            "{}\n{{ \"type\": \"test\", \"event\": \"started\", \"name\": \"seed::completes\" }}\n{}\n{}\n",
            "{ \"type\": \"test\", \"name\": \"seed::doubles\", \"event\": \"ok\", \"exec_time\": 0.001 }",
            hung_line("seed::completes", 3.0, "waiting forever"),
            "{ \"type\": \"test\", \"name\": \"seed::zeroes\", \"event\": \"ok\" }"
        );
        let got = parse("seed", "seed", &out, Ending::Exited(0));
        expect_test::expect![[r#"
            seed::doubles Pass Some(0.001) -
            seed::completes Timeout Some(3.0) waiting forever
            seed::zeroes Pass None -"#]]
        .assert_eq(&brief(&got));
        assert!(got[1]
            .output
            .as_deref()
            .unwrap()
            .starts_with("killed after 3s, its per-test limit"));
        assert_eq!(
            event_of(&hung_line("x", 1.0, "")),
            Some((false, "x".to_string()))
        );
    }

    #[test]
    fn slow_and_flaky_tests_say_so() {
        let mut t = parse(
            "p",
            "lib",
            "{ \"type\": \"test\", \"name\": \"t\", \"event\": \"ok\", \"exec_time\": 40.0 }\n",
            Ending::Exited(0),
        )
        .remove(0);
        assert!(!t.is_slow(), "no limit, never slow");
        t.limit_secs = Some(60.0);
        assert_eq!(t.describe(), "passed, slow (40.0s of its 60s limit)");
        t.limit_secs = Some(100.0);
        assert_eq!(t.describe(), "passed");
        t.outcome = TestOutcome::Flaky;
        (t.attempts, t.passes) = (Some(3), Some(1));
        assert_eq!(t.describe(), "flaky (passed 1 of 3)");
    }

    /// With `--nocapture` and one test at a time, the lines between a test's
    /// start and end are its own, even when its last line had no newline
    /// and libtest's event follows on the same line.
    #[test]
    fn uncaptured_output_belongs_to_the_test_that_printed_it() {
        let out = r#"{ "type": "suite", "event": "started", "test_count": 3 }
{ "type": "test", "event": "started", "name": "t::chatty" }
chatty: fine
{ "type": "test", "name": "t::chatty", "event": "ok" }
{ "type": "test", "event": "started", "name": "t::fails" }
thread 't::fails' panicked at src/lib.rs:9:5:
fails: no newline{ "type": "test", "name": "t::fails", "event": "failed" }
{ "type": "test", "event": "started", "name": "t::hangs" }
hangs: waiting
{ "type": "test", "event": "vhu-hung", "name": "t::hangs", "limit_secs": 5 }
{ "type": "test", "event": "vhu-rerun", "name": "t::fails", "runs": 2, "passes": 0 }
"#;
        let got = parse("p", "lib", out, Ending::Exited(0));
        expect_test::expect![[r#"
            t::chatty Pass None -
            t::fails Fail None fails: no newline
            t::hangs Timeout Some(5.0) hangs: waiting"#]]
        .assert_eq(&brief(&got));
        assert_eq!(
            got[1].output.as_deref(),
            Some("thread 't::fails' panicked at src/lib.rs:9:5:\nfails: no newline")
        );
        assert_eq!(
            reruns(out).into_iter().collect::<Vec<_>>(),
            [("t::fails".to_string(), (2, 0))]
        );
        assert_eq!(
            event_of("said{ \"type\": \"test\", \"event\": \"started\", \"name\": \"x\" }"),
            Some((true, "x".to_string()))
        );
    }

    #[test]
    fn harness_less_executables_count_as_one_test() {
        assert_eq!(
            parse("p", "fuzzish", "hello\n", Ending::Exited(0))[0].outcome,
            TestOutcome::Pass
        );
        let failed = parse("p", "fuzzish", "hello\n", Ending::Exited(2));
        assert_eq!(failed[0].outcome, TestOutcome::Fail);
        assert!(failed[0].output.as_deref().unwrap().ends_with("hello"));
    }
}
