//! One boot of a guest: QEMU started through `cmd::Cmd` (its own process
//! group, killed on timeout or Ctrl-C), its console connected, a console
//! script run, then a wait for what ends the boot: the runner's last marker,
//! or QEMU exiting. Whatever happens, QEMU is gone when this returns.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::console::{Console, StepError, WaitError};
use super::qemu::{self, Accel, Boot};
use crate::cmd::{Cmd, CommandRecord};
use crate::model::vm_image::ConsoleScript;
use crate::model::VmImage;

/// What ends a boot.
#[derive(Debug, Clone)]
pub enum Until {
    /// This text on the console (the runner's `@@VHU-DONE`); QEMU is then stopped.
    Marker(String),
    /// QEMU exits by itself (a provisioning run that powers off).
    Exit,
}

pub struct Request<'a> {
    pub image: &'a VmImage,
    pub accel: Accel,
    pub boot: Boot,
    /// Steps to run on the console first (BSD logins); none for Linux guests.
    pub script: Option<&'a ConsoleScript>,
    pub vars: Vec<(&'a str, &'a str)>,
    pub until: Until,
    pub deadline: Instant,
    pub progress: &'a dyn Fn(&str),
}

/// How a boot ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The `Until` condition was met.
    Reached,
    /// QEMU exited before it; see `qemu` for its status.
    QemuExited,
    /// A console script step failed.
    Step(String),
    /// The deadline passed; QEMU was killed.
    Deadline,
    /// The user interrupted the run; QEMU was killed.
    Cancelled,
}

#[derive(Debug)]
pub struct Outcome {
    pub ending: Ending,
    pub transcript: String,
    pub qemu: CommandRecord,
    /// When QEMU was started.
    pub started: Instant,
    /// Seconds from QEMU's start to the first arrival of each of these texts.
    pub marks: Vec<(String, f64)>,
    /// Seconds from QEMU's start to the arrival of each byte offset asked for in `offsets`.
    pub offsets: Vec<(usize, f64)>,
}

impl Outcome {
    pub fn mark(&self, text: &str) -> Option<f64> {
        self.marks.iter().find(|(t, _)| t == text).map(|(_, s)| *s)
    }
}

/// The progress message sent once QEMU runs and its console is connected
/// (followed by the emulator's name): an event tests wait for.
pub const GUEST_RUNNING: &str = "guest running";

/// Boots, runs, stops. `watch` lists texts whose first arrival time is wanted;
/// `offsets_of` is called on the final transcript for byte offsets to time.
pub fn run(
    req: Request<'_>,
    watch: &[&str],
    offsets_of: &dyn Fn(&str) -> Vec<usize>,
) -> Result<Outcome> {
    let dir = tempfile::Builder::new()
        .prefix("vhu-vm-")
        .tempdir()
        .context("cannot create a directory for the console socket")?;
    let socket = dir.path().join("console.sock");
    let args = qemu::arguments(req.image, req.accel, &socket, &req.boot);
    let stop = Arc::new(AtomicBool::new(false));
    // A little past the deadline: the console watcher stops QEMU at the
    // deadline itself; this only bounds a QEMU that ignores everything.
    let hard_limit =
        req.deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(10);
    let cmd = Cmd::new(&req.image.qemu)
        .args(&args)
        .timeout(hard_limit)
        .stop_when(stop.clone());
    let started = Instant::now();
    let finished = Arc::new(AtomicBool::new(false));
    let qemu_thread = {
        let finished = finished.clone();
        std::thread::spawn(move || {
            let r = cmd.run();
            finished.store(true, Ordering::SeqCst);
            r
        })
    };
    let stop_qemu = |stop: &AtomicBool| stop.store(true, Ordering::SeqCst);
    let collect = |ending: Ending, console: Option<Console>| -> Result<Outcome> {
        stop_qemu(&stop);
        let record = match qemu_thread.join() {
            Ok(r) => r?.record,
            Err(_) => anyhow::bail!("the thread running QEMU panicked"),
        };
        let ending = if crate::cmd::cancelled() {
            Ending::Cancelled
        } else {
            ending
        };
        let (transcript, marks, offsets) = match &console {
            Some(c) => {
                let transcript = c.transcript();
                let secs = |t: Instant| t.saturating_duration_since(started).as_secs_f64();
                let marks = watch
                    .iter()
                    .filter_map(|w| c.first(w).map(|(_, t)| (w.to_string(), secs(t))))
                    .collect();
                let offsets = offsets_of(&transcript)
                    .into_iter()
                    .filter_map(|o| c.arrival_of(o).map(|t| (o, secs(t))))
                    .collect();
                (transcript, marks, offsets)
            }
            None => (String::new(), Vec::new(), Vec::new()),
        };
        drop(console);
        Ok(Outcome {
            ending,
            transcript,
            qemu: record,
            started,
            marks,
            offsets,
        })
    };

    let alive = || !finished.load(Ordering::SeqCst);
    let mut console = match Console::connect(&socket, &alive, Duration::from_secs(60)) {
        Ok(c) => c,
        Err(_) if !alive() => return collect(Ending::QemuExited, None),
        Err(err) => {
            let _ = collect(Ending::QemuExited, None);
            return Err(err);
        }
    };
    (req.progress)(&format!("{} ({})", GUEST_RUNNING, req.image.qemu));
    if let Some(script) = req.script {
        if let Err(StepError { index, step, error }) =
            console.run_script(script, &req.vars, req.deadline, req.progress)
        {
            let ending = match error {
                WaitError::Closed { .. } => Ending::QemuExited,
                WaitError::Timeout { .. } if Instant::now() >= req.deadline => Ending::Deadline,
                WaitError::Timeout { .. } => Ending::Step(format!(
                    "console script step {} ({}) failed: {error}",
                    index + 1,
                    step.expect
                        .as_deref()
                        .map(|e| format!("waiting for `{e}`"))
                        .unwrap_or_else(|| "waiting for power-off".into())
                )),
            };
            return collect(ending, Some(console));
        }
    }
    let remaining = req.deadline.saturating_duration_since(Instant::now());
    let waited = match &req.until {
        Until::Marker(text) => console.expect(text, remaining).and_then(|()| {
            // The marker's line end: the whole marker has arrived.
            console.expect("\n", Duration::from_secs(5)).or(Ok(()))
        }),
        Until::Exit => console.wait_closed(remaining),
    };
    let ending = match waited {
        Ok(()) => Ending::Reached,
        Err(WaitError::Closed { .. }) => Ending::QemuExited,
        Err(WaitError::Timeout { .. }) => Ending::Deadline,
    };
    if ending == Ending::QemuExited || matches!(req.until, Until::Exit) {
        // Let QEMU's own exit status arrive rather than killing it.
        let grace = Instant::now() + Duration::from_secs(10);
        while alive() && Instant::now() < grace {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    collect(ending, Some(console))
}

/// `qemu-system-x86_64 --version`'s first line, cached per binary for the process.
pub fn qemu_version(binary: &str) -> Option<String> {
    use std::collections::BTreeMap;
    use std::sync::Mutex;
    static CACHE: Mutex<BTreeMap<String, Option<String>>> = Mutex::new(BTreeMap::new());
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache
        .entry(binary.to_string())
        .or_insert_with(|| crate::host::version_line(crate::host::which(binary)?, &["--version"]))
        .clone()
}
