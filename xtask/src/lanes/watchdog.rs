//! Per-test limits and reruns for the runners that start test executables
//! from this host (natively and under qemu-user).
//!
//! libtest announces each test as it starts (`"event": "started"`), so a
//! watchdog reading the JSON stream knows how long every running test has
//! run. A test past its limit stops the executable; the runner records it
//! with [`libtest::hung_line`] and starts the executable again with
//! `--exact --skip` for every test that already finished or hung, so the
//! other tests still report. The guest runner (`vm/guest/runner.sh`) does
//! the same in POSIX sh.
//!
//! A killed test's output: runners that run one test at a time let it
//! through (`--nocapture`, stderr into stdout) and `libtest::parse` gives
//! each test its lines. The host runs tests in parallel with libtest's
//! capture, which dies with the killed executable, so there the hung test
//! is run once more alone, uncaptured, until it goes quiet.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cmd::{tail, Cmd, CommandRecord};
use crate::libtest::{self, Ending};

/// One executable's runs under the limit, joined into one output.
pub struct Watched {
    /// Every attempt's stdout, with a [`libtest::HUNG_EVENT`] line per killed test.
    pub stdout: String,
    /// How the last attempt ended.
    pub ending: Ending,
    pub records: Vec<CommandRecord>,
}

/// Runs `command()` (which already carries every argument but the skips)
/// until it ends without a hung test, or the cell's deadline passes. With
/// `recapture` (libtest captured the tests' output, so a killed test took
/// its own with it), each hung test is run once more alone to get it back
/// ([`output_alone`]).
pub fn run_with_limit(
    command: &dyn Fn() -> Cmd,
    limit: Duration,
    deadline: Instant,
    recapture: bool,
) -> anyhow::Result<Watched> {
    let mut skip: BTreeSet<String> = BTreeSet::new();
    let mut watched = Watched {
        stdout: String::new(),
        ending: Ending::Lost,
        records: Vec::new(),
    };
    loop {
        let running: Mutex<BTreeMap<String, Instant>> = Mutex::new(BTreeMap::new());
        let finished: Mutex<Vec<String>> = Mutex::new(Vec::new());
        let hung: Mutex<Vec<String>> = Mutex::new(Vec::new());
        let stop = Arc::new(AtomicBool::new(false));
        let done = AtomicBool::new(false);
        let mut cmd = command().timeout(deadline.saturating_duration_since(Instant::now()));
        if !skip.is_empty() {
            cmd = cmd.arg("--exact");
            for name in &skip {
                cmd = cmd.arg("--skip").arg(name);
            }
        }
        let cmd = cmd.stop_when(stop.clone());
        let run = std::thread::scope(|scope| {
            scope.spawn(|| {
                while !done.load(Ordering::SeqCst) {
                    let now = Instant::now();
                    let over: Vec<String> = running
                        .lock()
                        .unwrap()
                        .iter()
                        .filter(|(_, since)| now.duration_since(**since) >= limit)
                        .map(|(name, _)| name.clone())
                        .collect();
                    if !over.is_empty() {
                        *hung.lock().unwrap() = over;
                        stop.store(true, Ordering::SeqCst);
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            });
            let run = cmd.run_streaming(&mut |line| {
                if let Some((started, name)) = libtest::event_of(line) {
                    if started {
                        running.lock().unwrap().insert(name, Instant::now());
                    } else {
                        running.lock().unwrap().remove(&name);
                        finished.lock().unwrap().push(name);
                    }
                }
            });
            done.store(true, Ordering::SeqCst);
            run
        })?;
        let out = run.stdout_str();
        watched.stdout.push_str(&out);
        if !watched.stdout.ends_with('\n') && !watched.stdout.is_empty() {
            watched.stdout.push('\n');
        }
        let hung = hung.into_inner().unwrap();
        watched.ending = ending_of(&run.record);
        watched.records.push(run.record.clone());
        if hung.is_empty() || !stop.load(Ordering::SeqCst) {
            return Ok(watched);
        }
        // What the executable printed outside libtest's JSON: its stderr,
        // and any plain lines on stdout.
        let plain: String = out
            .lines()
            .filter(|l| !l.trim_start().starts_with('{'))
            .chain(String::from_utf8_lossy(&run.stderr).lines())
            .collect::<Vec<_>>()
            .join("\n");
        let said = tail(&plain, 40, 6000);
        for name in &hung {
            let said = match recapture {
                true => output_alone(command, name, limit, deadline, &mut watched.records)
                    .unwrap_or_else(|| said.clone()),
                false => said.clone(),
            };
            watched
                .stdout
                .push_str(&libtest::hung_line(name, limit.as_secs_f64(), &said));
            watched.stdout.push('\n');
        }
        skip.extend(finished.into_inner().unwrap());
        skip.extend(hung);
        if crate::cmd::cancelled() || Instant::now() >= deadline {
            watched.ending = Ending::TimedOut;
            return Ok(watched);
        }
    }
}

/// Runs one hung test alone with its output let through (`--nocapture`,
/// stderr into stdout) until it has printed nothing for a tenth of its
/// limit (1 to 10 s), and returns what it printed, saying how it was got:
/// how a runner whose libtest captured a killed test's output gets it back.
/// `None` when it printed nothing.
fn output_alone(
    command: &dyn Fn() -> Cmd,
    name: &str,
    limit: Duration,
    deadline: Instant,
    records: &mut Vec<CommandRecord>,
) -> Option<String> {
    let quiet = (limit / 10).clamp(Duration::from_secs(1), Duration::from_secs(10));
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() || crate::cmd::cancelled() {
        return None;
    }
    let last = Mutex::new(Instant::now());
    let stop = Arc::new(AtomicBool::new(false));
    let done = AtomicBool::new(false);
    let cmd = command()
        .arg("--exact")
        .arg(name)
        .arg(libtest::NOCAPTURE_ARG)
        .stderr_to_stdout()
        .timeout(left.min(limit))
        .stop_when(stop.clone());
    let run = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                if last.lock().unwrap().elapsed() >= quiet {
                    stop.store(true, Ordering::SeqCst);
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let run = cmd.run_streaming(&mut |_| *last.lock().unwrap() = Instant::now());
        done.store(true, Ordering::SeqCst);
        run
    })
    .ok()?;
    records.push(run.record.clone());
    let text = libtest::plain_text(&run.stdout_str());
    (!text.trim().is_empty()).then(|| {
        format!(
            "(run again alone without capture, stopped after {}s without output)\n{}",
            quiet.as_secs(),
            tail(&text, 40, 6000)
        )
    })
}

/// Reruns one failing test alone, `retries` times at most, and returns how
/// many runs there were and how many passed. Stops at the first pass: one
/// pass after a failure is enough to call it flaky.
pub fn rerun_failure(
    command: &dyn Fn() -> Cmd,
    name: &str,
    retries: u32,
    limit: Duration,
    deadline: Instant,
    records: &mut Vec<CommandRecord>,
) -> (u32, u32) {
    let (mut runs, mut passes) = (0, 0);
    for _ in 0..retries {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || crate::cmd::cancelled() {
            break;
        }
        let Ok(run) = command()
            .arg("--exact")
            .arg(name)
            .timeout(left.min(limit))
            .run()
        else {
            break;
        };
        runs += 1;
        let passed = run.stdout_str().lines().any(|l| {
            l.contains("\"event\": \"ok\"") && libtest::event_of(l).is_some_and(|(_, n)| n == name)
        });
        records.push(run.record);
        if passed {
            passes += 1;
            break;
        }
    }
    (runs, passes)
}

/// How a command the runner started ended.
pub fn ending_of(record: &CommandRecord) -> Ending {
    if record.timed_out {
        Ending::TimedOut
    } else if let Some(code) = record.exit_code {
        Ending::Exited(code)
    } else if let Some(sig) = record.signal {
        Ending::Signalled(sig)
    } else {
        Ending::Lost
    }
}
