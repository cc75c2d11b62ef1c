//! The serial-console engine: a guest's first serial port, on a Unix
//! socket, read into a transcript by a background thread. A script waits for
//! a text, sends a line, with a timeout per step; the whole transcript
//! (with the time each piece arrived) stays available for the report.
//!
//! BSD guests are provisioned and logged into through it; Linux guests use
//! the same code to wait for their runner, and a Linux guest's shell drives
//! it in the tests.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::model::vm_image::{ConsoleScript, ConsoleStep};

#[derive(Default)]
struct State {
    bytes: Vec<u8>,
    /// (when, transcript length after the chunk that arrived then)
    arrivals: Vec<(Instant, usize)>,
    closed: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

/// A connected console.
pub struct Console {
    stream: UnixStream,
    shared: Arc<Shared>,
    /// Where the next `expect` starts looking.
    cursor: usize,
    reader: Option<std::thread::JoinHandle<()>>,
}

/// Why a wait ended without its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitError {
    Timeout {
        expected: String,
        waited: Duration,
    },
    /// The guest's console closed: QEMU exited (or was stopped).
    Closed {
        expected: String,
    },
}

impl std::fmt::Display for WaitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WaitError::Timeout { expected, waited } => {
                write!(
                    f,
                    "`{expected}` did not appear on the console within {}s",
                    waited.as_secs()
                )
            }
            WaitError::Closed { expected } => {
                write!(f, "the console closed before `{expected}` appeared")
            }
        }
    }
}

impl std::error::Error for WaitError {}

impl Console {
    /// Connects to QEMU's console socket, retrying while `alive()` says QEMU
    /// still runs and the socket is not there yet.
    pub fn connect(socket: &Path, alive: &dyn Fn() -> bool, timeout: Duration) -> Result<Console> {
        let started = Instant::now();
        let stream = loop {
            match UnixStream::connect(socket) {
                Ok(s) => break s,
                Err(err) => {
                    if !alive() {
                        anyhow::bail!(
                            "QEMU exited before its console socket accepted a connection"
                        );
                    }
                    if started.elapsed() > timeout {
                        return Err(err).with_context(|| {
                            format!("cannot connect to the console socket {}", socket.display())
                        });
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        };
        Ok(Console::from_stream(stream))
    }

    /// Wraps a connected stream (a test's socket pair, say).
    pub fn from_stream(stream: UnixStream) -> Console {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let reader = {
            let shared = shared.clone();
            let mut input = stream.try_clone().expect("a Unix stream can be cloned");
            std::thread::spawn(move || {
                let mut buf = [0u8; 16384];
                loop {
                    let n = match input.read(&mut buf) {
                        Ok(0) | Err(_) => 0,
                        Ok(n) => n,
                    };
                    let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
                    if n == 0 {
                        state.closed = true;
                        shared.changed.notify_all();
                        return;
                    }
                    state.bytes.extend_from_slice(&buf[..n]);
                    let len = state.bytes.len();
                    state.arrivals.push((Instant::now(), len));
                    shared.changed.notify_all();
                }
            })
        };
        Console {
            stream,
            shared,
            cursor: 0,
            reader: Some(reader),
        }
    }

    /// Waits until `text` appears after what earlier waits matched; the next wait starts after it.
    pub fn expect(&mut self, text: &str, timeout: Duration) -> Result<(), WaitError> {
        let started = Instant::now();
        let needle = text.as_bytes();
        let mut state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(i) = find(&state.bytes[self.cursor.min(state.bytes.len())..], needle) {
                self.cursor += i + needle.len();
                return Ok(());
            }
            if state.closed {
                return Err(WaitError::Closed {
                    expected: text.to_string(),
                });
            }
            let waited = started.elapsed();
            if waited >= timeout {
                return Err(WaitError::Timeout {
                    expected: text.to_string(),
                    waited,
                });
            }
            let slice = (timeout - waited).min(Duration::from_millis(200));
            state = self
                .shared
                .changed
                .wait_timeout(state, slice)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Types a line, ending it with a carriage return (the Enter key on a serial terminal).
    pub fn send_line(&mut self, line: &str) -> Result<()> {
        let mut bytes = line.as_bytes().to_vec();
        bytes.push(b'\r');
        self.stream
            .write_all(&bytes)
            .context("cannot write to the guest's console")?;
        Ok(())
    }

    /// Waits for the console to close (QEMU exits).
    pub fn wait_closed(&mut self, timeout: Duration) -> Result<(), WaitError> {
        let started = Instant::now();
        let mut state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        while !state.closed {
            let waited = started.elapsed();
            if waited >= timeout {
                return Err(WaitError::Timeout {
                    expected: "the guest to power off".into(),
                    waited,
                });
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, (timeout - waited).min(Duration::from_millis(200)))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        Ok(())
    }

    pub fn is_closed(&self) -> bool {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .closed
    }

    /// Everything the console printed so far.
    pub fn transcript(&self) -> String {
        String::from_utf8_lossy(
            &self
                .shared
                .state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .bytes,
        )
        .into_owned()
    }

    /// When the byte at `offset` arrived.
    pub fn arrival_of(&self, offset: usize) -> Option<Instant> {
        let state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        state
            .arrivals
            .iter()
            .find(|(_, end)| *end > offset)
            .map(|(t, _)| *t)
    }

    /// When `text` first appeared, and where.
    pub fn first(&self, text: &str) -> Option<(usize, Instant)> {
        let offset = {
            let state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
            find(&state.bytes, text.as_bytes())?
        };
        Some((offset, self.arrival_of(offset)?))
    }

    /// Runs a script's steps in order. `vars` replaces `{name}` in sent lines;
    /// `deadline` caps every step's own timeout.
    pub fn run_script(
        &mut self,
        script: &ConsoleScript,
        vars: &[(&str, &str)],
        deadline: Instant,
        progress: &dyn Fn(&str),
    ) -> Result<(), StepError> {
        for (index, step) in script.steps.iter().enumerate() {
            let timeout = step
                .timeout
                .min(deadline.saturating_duration_since(Instant::now()));
            let fail = |error: WaitError| StepError {
                index,
                step: step.clone(),
                error,
            };
            if let Some(text) = &step.expect {
                progress(&format!("console: waiting for `{text}`"));
                self.expect(text, timeout).map_err(fail)?;
            }
            if let Some(line) = &step.send {
                let mut line = line.clone();
                for (k, v) in vars {
                    line = line.replace(&format!("{{{k}}}"), v);
                }
                self.send_line(&line).map_err(|_| {
                    fail(WaitError::Closed {
                        expected: format!("to send `{line}`"),
                    })
                })?;
            }
            if step.wait_exit {
                progress("console: waiting for the guest to power off");
                self.wait_closed(timeout).map_err(fail)?;
            }
        }
        Ok(())
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

/// A script step that did not complete.
#[derive(Debug, Clone)]
pub struct StepError {
    pub index: usize,
    pub step: ConsoleStep,
    pub error: WaitError,
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "console script step {}: {}", self.index + 1, self.error)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(expect: Option<&str>, send: Option<&str>, timeout_ms: u64) -> ConsoleStep {
        ConsoleStep {
            expect: expect.map(String::from),
            send: send.map(String::from),
            wait_exit: false,
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    /// A fake guest on the other end of a socket pair: prompts, reads a line, answers.
    #[test]
    fn waits_sends_times_out_and_keeps_the_transcript() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let guest = std::thread::spawn(move || {
            let mut s = theirs;
            s.write_all(b"boot noise\r\nlogin: ").unwrap();
            let mut line = Vec::new();
            let mut byte = [0u8];
            while s.read(&mut byte).unwrap() == 1 && byte[0] != b'\r' {
                line.push(byte[0]);
            }
            s.write_all(format!("\r\nwelcome {}\r\n# ", String::from_utf8_lossy(&line)).as_bytes())
                .unwrap();
            // Then silence until the host hangs up.
            let _ = s.read(&mut byte);
        });
        let mut console = Console::from_stream(ours);
        let script = ConsoleScript {
            steps: vec![
                step(Some("login:"), Some("{user}"), 5000),
                step(Some("welcome root"), None, 5000),
                step(Some("never"), None, 300),
            ],
        };
        let err = console
            .run_script(
                &script,
                &[("user", "root")],
                Instant::now() + Duration::from_secs(30),
                &|_| {},
            )
            .unwrap_err();
        assert_eq!(err.index, 2);
        assert!(matches!(err.error, WaitError::Timeout { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "console script step 3: `never` did not appear on the console within 0s"
        );
        assert!(
            console
                .transcript()
                .contains("login: \r\nwelcome root\r\n# "),
            "{:?}",
            console.transcript()
        );
        assert!(console.first("welcome").is_some());
        drop(console);
        guest.join().unwrap();
    }

    #[test]
    fn a_closed_console_ends_the_wait_at_once() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let mut console = Console::from_stream(ours);
        drop(theirs);
        let started = Instant::now();
        assert_eq!(
            console.expect("x", Duration::from_secs(30)),
            Err(WaitError::Closed {
                expected: "x".into()
            })
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
