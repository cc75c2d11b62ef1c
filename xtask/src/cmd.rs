//! Every subprocess goes through here.
//!
//! Arguments stay separate (no shell strings), each child runs in its own
//! process group so that a timeout or Ctrl-C kills it with everything it
//! spawned, and each run is recorded as data: argv, exit status, duration and
//! the tail of stderr, the way nextest records a test.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// How a command ended, kept in results and logs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CommandRecord {
    pub argv: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Only the variables this tool set, never the inherited environment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<(String, String)>,
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    pub duration_secs: f64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancelled: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stderr_tail: String,
}

impl CommandRecord {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out && !self.cancelled
    }

    /// `exit status 101`, `killed by signal 9`, `timed out after 30s`.
    pub fn describe(&self) -> String {
        if self.cancelled {
            "interrupted".to_string()
        } else if self.timed_out {
            format!("timed out after {:.0}s", self.duration_secs)
        } else if let Some(code) = self.exit_code {
            format!("exit status {code}")
        } else if let Some(sig) = self.signal {
            format!("killed by signal {sig}")
        } else {
            "ended without a status".to_string()
        }
    }

    pub fn command_line(&self) -> String {
        shell_quote_argv(&self.argv)
    }
}

/// Quotes an argument for display only; nothing here is ever run through a shell.
pub fn shell_quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// A command line for display (`cargo test --workspace`).
pub fn shell_quote_argv(argv: &[String]) -> String {
    argv.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The result of a finished command.
#[derive(Debug)]
pub struct Finished {
    pub record: CommandRecord,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Finished {
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Fails with the command line and stderr tail unless the command succeeded.
    pub fn ok(self) -> Result<Finished> {
        if self.record.success() {
            Ok(self)
        } else {
            anyhow::bail!(
                "`{}` failed ({}){}",
                self.record.command_line(),
                self.record.describe(),
                if self.record.stderr_tail.is_empty() {
                    String::new()
                } else {
                    format!(":\n{}", self.record.stderr_tail)
                }
            )
        }
    }
}

/// A command to run; build it, then [`Cmd::run`] or [`Cmd::run_streaming`].
#[derive(Debug, Clone)]
pub struct Cmd {
    program: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    env_remove: Vec<String>,
    cwd: Option<PathBuf>,
    timeout: Option<Duration>,
    stdin: Option<Vec<u8>>,
    stop: Option<Arc<AtomicBool>>,
    stderr_to_stdout: bool,
}

impl Cmd {
    pub fn new(program: impl AsRef<std::ffi::OsStr>) -> Cmd {
        Cmd {
            program: program.as_ref().to_string_lossy().into_owned(),
            args: Vec::new(),
            env: Vec::new(),
            env_remove: Vec::new(),
            cwd: None,
            timeout: None,
            stdin: None,
            stop: None,
            stderr_to_stdout: false,
        }
    }

    /// Sends stderr into stdout, so that the two keep their order (the
    /// record's stderr tail is then empty).
    pub fn stderr_to_stdout(mut self) -> Cmd {
        self.stderr_to_stdout = true;
        self
    }

    pub fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Cmd {
        self.args.push(arg.as_ref().to_string_lossy().into_owned());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(mut self, args: I) -> Cmd {
        self.args.extend(
            args.into_iter()
                .map(|a| a.as_ref().to_string_lossy().into_owned()),
        );
        self
    }

    pub fn env(mut self, key: impl Into<String>, value: impl AsRef<std::ffi::OsStr>) -> Cmd {
        self.env
            .push((key.into(), value.as_ref().to_string_lossy().into_owned()));
        self
    }

    pub fn envs(mut self, vars: &[(String, String)]) -> Cmd {
        self.env.extend(vars.iter().cloned());
        self
    }

    pub fn env_remove(mut self, key: impl Into<String>) -> Cmd {
        self.env_remove.push(key.into());
        self
    }

    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Cmd {
        self.cwd = Some(dir.as_ref().to_path_buf());
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Cmd {
        self.timeout = Some(timeout);
        self
    }

    pub fn stdin_bytes(mut self, bytes: impl Into<Vec<u8>>) -> Cmd {
        self.stdin = Some(bytes.into());
        self
    }

    /// Kills the command's process group as soon as `flag` is set: how a
    /// supervisor on another thread (a guest's console watcher, say) ends a
    /// run early. The record then shows the signal, not a timeout.
    pub fn stop_when(mut self, flag: Arc<AtomicBool>) -> Cmd {
        self.stop = Some(flag);
        self
    }

    pub fn program(&self) -> &str {
        &self.program
    }

    pub fn argv(&self) -> Vec<String> {
        std::iter::once(self.program.clone())
            .chain(self.args.iter().cloned())
            .collect()
    }

    /// The program, arguments, environment and directory; no stdio or process-group choices.
    fn base_expression(&self) -> duct::Expression {
        let mut expr = duct::cmd(&self.program, &self.args);
        for (k, v) in &self.env {
            expr = expr.env(k, v);
        }
        for k in &self.env_remove {
            expr = expr.env_remove(k);
        }
        if let Some(dir) = &self.cwd {
            expr = expr.dir(dir);
        }
        expr
    }

    fn expression(&self) -> duct::Expression {
        let mut expr = self.base_expression();
        expr = match &self.stdin {
            Some(bytes) => expr.stdin_bytes(bytes.clone()),
            None => expr.stdin_null(),
        };
        expr = if self.stderr_to_stdout {
            expr.stderr_to_stdout()
        } else {
            expr.stderr_capture()
        };
        expr.unchecked().before_spawn(|command| {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
            #[cfg(target_os = "linux")]
            // SAFETY: prctl is async-signal-safe; it only asks the kernel to
            // kill the child if this thread goes away, so that no emulator or
            // build outlives an xtask that was killed outright.
            unsafe {
                command.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            Ok(())
        })
    }

    /// With `XTASK_COMMAND_LOG=<file>` set, every command line is appended to
    /// that file as a JSON array: a way to see (and test) what a run spawned.
    fn log(&self) {
        if let Some(path) = std::env::var_os("XTASK_COMMAND_LOG") {
            use std::io::Write;
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let _ = writeln!(
                    f,
                    "{}",
                    serde_json::to_string(&self.argv()).unwrap_or_default()
                );
            }
        }
    }

    fn record(&self, started: Instant) -> CommandRecord {
        CommandRecord {
            argv: self.argv(),
            cwd: self.cwd.as_ref().map(|d| d.display().to_string()),
            env: self.env.clone(),
            duration_secs: started.elapsed().as_secs_f64(),
            ..CommandRecord::default()
        }
    }

    fn spawn_error(&self, err: std::io::Error) -> anyhow::Error {
        if err.kind() == std::io::ErrorKind::NotFound {
            anyhow::anyhow!("cannot run `{}`: not found on PATH", self.program)
        } else {
            anyhow::Error::new(err).context(format!("cannot run `{}`", self.program))
        }
    }

    /// Runs to completion (or timeout, or cancellation), capturing stdout and stderr.
    /// A non-zero exit is not an error here: look at `record`.
    pub fn run(&self) -> Result<Finished> {
        check_cancelled()?;
        self.log();
        let started = Instant::now();
        let handle = self
            .expression()
            .stdout_capture()
            .start()
            .map_err(|e| self.spawn_error(e))?;
        let guard = Running::register(&handle.pids());
        let deadline = self.timeout.map(|t| started + t);
        let mut timed_out = false;
        let output = loop {
            if let Some(out) = handle
                .try_wait()
                .with_context(|| format!("waiting for `{}`", self.program))?
            {
                break out;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) && !timed_out {
                timed_out = true;
                guard.kill();
            }
            if CANCELLED.load(Ordering::SeqCst)
                || self.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst))
            {
                guard.kill();
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        drop(guard);
        let mut record = self.record(started);
        fill_status(&mut record, &output.status, timed_out, &output.stderr);
        Ok(Finished {
            record,
            stdout: output.stdout.clone(),
            stderr: output.stderr.clone(),
        })
    }

    /// Runs with this process's stdout and stderr (a long command whose output
    /// the user watches live, such as the test suite); still recorded, killable
    /// on Ctrl-C and timeout.
    pub fn run_inherited(&self) -> Result<CommandRecord> {
        check_cancelled()?;
        self.log();
        let started = Instant::now();
        let expr = self.base_expression().unchecked();
        // The child stays in our process group, so a Ctrl-C at the terminal reaches it directly.
        let handle = expr.start().map_err(|e| self.spawn_error(e))?;
        let deadline = self.timeout.map(|t| started + t);
        let mut timed_out = false;
        let output = loop {
            if let Some(out) = handle
                .try_wait()
                .with_context(|| format!("waiting for `{}`", self.program))?
            {
                break out;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) && !timed_out {
                timed_out = true;
                let _ = handle.kill();
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut record = self.record(started);
        fill_status(&mut record, &output.status, timed_out, &[]);
        Ok(record)
    }

    /// Like [`Cmd::run`], handing each stdout line to `on_line` as it arrives.
    pub fn run_streaming(&self, on_line: &mut dyn FnMut(&str)) -> Result<Finished> {
        check_cancelled()?;
        self.log();
        let started = Instant::now();
        let reader = self
            .expression()
            .reader()
            .map_err(|e| self.spawn_error(e))?;
        let guard = Arc::new(Running::register(&reader.pids()));
        let done = Arc::new(AtomicBool::new(false));
        let timed_out = Arc::new(AtomicBool::new(false));
        let watchdog = {
            let (guard, done, timed_out) = (guard.clone(), done.clone(), timed_out.clone());
            let deadline = self.timeout.map(|t| started + t);
            let stop = self.stop.clone();
            std::thread::spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        timed_out.store(true, Ordering::SeqCst);
                        guard.kill();
                        return;
                    }
                    if CANCELLED.load(Ordering::SeqCst)
                        || stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst))
                    {
                        guard.kill();
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        let mut stdout = Vec::new();
        let mut lines = BufReader::new(&reader);
        let mut line = Vec::new();
        loop {
            line.clear();
            match lines.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {
                    stdout.extend_from_slice(&line);
                    on_line(String::from_utf8_lossy(&line).trim_end_matches(['\n', '\r']));
                }
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        let output = loop {
            if let Some(out) = reader
                .try_wait()
                .with_context(|| format!("waiting for `{}`", self.program))?
            {
                break out;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        done.store(true, Ordering::SeqCst);
        let _ = watchdog.join();
        let mut record = self.record(started);
        fill_status(
            &mut record,
            &output.status,
            timed_out.load(Ordering::SeqCst),
            &output.stderr,
        );
        Ok(Finished {
            record,
            stdout,
            stderr: output.stderr.clone(),
        })
    }
}

/// A child left running in the background (a server a benchmark talks to):
/// its own process group, killed on Ctrl-C with every other child, and on
/// drop if it was not stopped first.
pub struct Spawned {
    handle: duct::Handle,
    guard: Running,
    record: CommandRecord,
    started: Instant,
    /// Reaped already: its group id may belong to someone else by now.
    reaped: bool,
}

impl Cmd {
    /// Starts the command and returns at once; stdout is discarded and
    /// stderr kept for [`Spawned::stop`]'s record.
    pub fn spawn(&self) -> Result<Spawned> {
        check_cancelled()?;
        self.log();
        let started = Instant::now();
        let handle = self
            .expression()
            .stdout_null()
            .start()
            .map_err(|e| self.spawn_error(e))?;
        let guard = Running::register(&handle.pids());
        Ok(Spawned {
            handle,
            guard,
            record: self.record(started),
            started,
            reaped: false,
        })
    }
}

impl Spawned {
    /// The child's process id (its process group's id too).
    pub fn pid(&self) -> Option<u32> {
        self.handle.pids().first().copied()
    }

    /// Whether the child has exited already (then its record says how).
    pub fn try_finished(&mut self) -> Result<Option<CommandRecord>> {
        match self
            .handle
            .try_wait()
            .with_context(|| format!("waiting for `{}`", self.record.argv[0]))?
        {
            Some(out) => {
                self.reaped = true;
                let mut record = self.record.clone();
                record.duration_secs = self.started.elapsed().as_secs_f64();
                fill_status(&mut record, &out.status, false, &out.stderr);
                Ok(Some(record))
            }
            None => Ok(None),
        }
    }

    /// Waits until `ready` holds (looked at every 20 ms): a server started
    /// in the background that must listen first. Fails, naming the command,
    /// if the child exits before (with its stderr tail) or `timeout` passes;
    /// `what` says what it should do (`listen on x.sock`).
    pub fn wait_until(
        &mut self,
        what: &str,
        timeout: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        while !ready() {
            if let Some(r) = self.try_finished()? {
                anyhow::bail!(
                    "`{}` exited before it would {what} ({}):\n{}",
                    r.command_line(),
                    r.describe(),
                    r.stderr_tail
                );
            }
            if Instant::now() > deadline {
                anyhow::bail!(
                    "`{}` did not {what} within {} s",
                    self.record.command_line(),
                    timeout.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Sends SIGTERM to the child's process group and waits up to `grace`
    /// for it to exit, then kills it. Returns how it ended.
    pub fn stop(mut self, grace: Duration) -> Result<CommandRecord> {
        for &pgid in self.guard.pgids.iter().filter(|_| !self.reaped) {
            // SAFETY: plain syscall on the group `process_group(0)` made.
            unsafe {
                libc::kill(-pgid, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + grace;
        let mut timed_out = false;
        let out = loop {
            if let Some(out) = self
                .handle
                .try_wait()
                .with_context(|| format!("waiting for `{}`", self.record.argv[0]))?
            {
                break out.clone();
            }
            if Instant::now() >= deadline && !timed_out {
                timed_out = true;
                self.guard.kill();
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        self.reaped = true;
        let mut record = std::mem::take(&mut self.record);
        record.duration_secs = self.started.elapsed().as_secs_f64();
        fill_status(&mut record, &out.status, timed_out, &out.stderr);
        Ok(record)
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        // Stopped children are gone already; this catches early returns.
        if !self.reaped {
            self.guard.kill();
            let _ = self.handle.wait();
        }
    }
}

impl std::fmt::Debug for Spawned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spawned")
            .field("argv", &self.record.argv)
            .field("pgids", &self.guard.pgids)
            .finish()
    }
}

fn fill_status(
    record: &mut CommandRecord,
    status: &std::process::ExitStatus,
    timed_out: bool,
    stderr: &[u8],
) {
    use std::os::unix::process::ExitStatusExt;
    record.exit_code = status.code();
    record.signal = status.signal();
    record.timed_out = timed_out;
    record.cancelled = CANCELLED.load(Ordering::SeqCst) && !status.success();
    record.stderr_tail = tail(&String::from_utf8_lossy(stderr), 40, 6000);
}

/// The last `lines` lines of `text`, at most `max_bytes` long.
pub fn tail(text: &str, lines: usize, max_bytes: usize) -> String {
    let text = text.trim_end();
    let mut start = text.len();
    for _ in 0..lines {
        match text[..start].rfind('\n') {
            Some(i) => start = i,
            None => {
                start = 0;
                break;
            }
        }
    }
    let mut out = text[start..].trim_start_matches('\n');
    if out.len() > max_bytes {
        let mut cut = out.len() - max_bytes;
        while !out.is_char_boundary(cut) {
            cut += 1;
        }
        out = &out[cut..];
    }
    out.to_string()
}

// --- cancellation -----------------------------------------------------------

static CANCELLED: AtomicBool = AtomicBool::new(false);
static RUNNING: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// A registered child process group; killed on timeout or cancellation.
struct Running {
    pgids: Vec<i32>,
}

impl Running {
    fn register(pids: &[u32]) -> Running {
        let pgids: Vec<i32> = pids.iter().map(|&p| p as i32).collect();
        RUNNING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(pgids.iter().copied());
        Running { pgids }
    }

    fn kill(&self) {
        for &pgid in &self.pgids {
            kill_group(pgid);
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        for pgid in &self.pgids {
            running.remove(pgid);
        }
    }
}

fn kill_group(pgid: i32) {
    // SAFETY: plain syscall; a negative pid addresses the process group that
    // `process_group(0)` created for this child alone.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// Has the user interrupted the run?
pub fn cancelled() -> bool {
    CANCELLED.load(Ordering::SeqCst)
}

fn check_cancelled() -> Result<()> {
    if cancelled() {
        anyhow::bail!("interrupted");
    }
    Ok(())
}

/// Marks the run as interrupted and kills every child process group still running.
pub fn cancel_all() {
    CANCELLED.store(true, Ordering::SeqCst);
    let running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    for &pgid in running.iter() {
        kill_group(pgid);
    }
}

/// On SIGINT/SIGTERM/SIGHUP: cancel everything once; a second signal exits at once.
pub fn install_interrupt_handler() -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .context("cannot install signal handler")?;
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if cancelled() {
                cancel_all();
                std::process::exit(128 + signal);
            }
            eprintln!("\ninterrupted: stopping running cells; results obtained so far are kept");
            cancel_all();
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_exit_status_and_stderr_tail() {
        let out = Cmd::new("sh")
            .args(["-c", "echo out; echo err >&2; exit 3"])
            .run()
            .unwrap();
        assert_eq!(out.record.exit_code, Some(3));
        assert_eq!(out.record.stderr_tail, "err");
        assert_eq!(out.stdout_str(), "out\n");
        assert!(!out.record.success());
    }

    #[test]
    fn timeout_kills_the_whole_process_group() {
        // The grandchild `sleep` holds stdout open; only a group kill ends it.
        let started = Instant::now();
        let out = Cmd::new("sh")
            .args(["-c", "sleep 30 & sleep 30"])
            .timeout(Duration::from_millis(300))
            .run()
            .unwrap();
        assert!(out.record.timed_out);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
        let out = Cmd::new("sh")
            .args(["-c", "echo a; sleep 30 & sleep 30"])
            .timeout(Duration::from_millis(300))
            .run_streaming(&mut |_| {})
            .unwrap();
        assert!(out.record.timed_out);
        assert!(started.elapsed() < Duration::from_secs(20));
    }

    #[test]
    fn stop_flag_kills_the_process_group() {
        let flag = Arc::new(AtomicBool::new(false));
        let setter = {
            let flag = flag.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                flag.store(true, Ordering::SeqCst);
            })
        };
        let started = Instant::now();
        let out = Cmd::new("sh")
            .args(["-c", "sleep 30 & sleep 30"])
            .stop_when(flag)
            .run()
            .unwrap();
        setter.join().unwrap();
        assert!(!out.record.timed_out);
        assert_eq!(out.record.signal, Some(libc::SIGKILL));
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn streaming_sees_each_line() {
        let mut seen = Vec::new();
        let out = Cmd::new("sh")
            .args(["-c", "echo one; echo two"])
            .run_streaming(&mut |l| seen.push(l.to_string()))
            .unwrap();
        assert_eq!(seen, ["one", "two"]);
        assert!(out.record.success());
    }

    #[test]
    fn missing_program_names_it() {
        let err = Cmd::new("no-such-program-xyz").run().unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot run `no-such-program-xyz`: not found on PATH"
        );
    }

    #[test]
    fn spawned_children_stop_on_sigterm_or_are_killed() {
        let started = Instant::now();
        // Each child creates a file once it is ready to be stopped (its
        // stderr written, its trap set): the test waits for that event.
        let dir = tempfile::tempdir().unwrap();
        let ready = |name: &str| {
            let path = dir.path().join(name);
            while !path.exists() {
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "{name} never ready"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        let child = Cmd::new("sh")
            .args(["-c", "echo started >&2; : > \"$1\"; exec sleep 30", "sh"])
            .arg(dir.path().join("first"))
            .spawn()
            .unwrap();
        ready("first");
        let record = child.stop(Duration::from_secs(5)).unwrap();
        assert_eq!(record.signal, Some(libc::SIGTERM));
        assert!(!record.timed_out);
        assert_eq!(record.stderr_tail, "started");
        // A child that ignores SIGTERM is killed after the grace period.
        let child = Cmd::new("sh")
            .args([
                "-c",
                "trap '' TERM; : > \"$1\"; while :; do sleep 0.05; done",
                "sh",
            ])
            .arg(dir.path().join("second"))
            .spawn()
            .unwrap();
        ready("second");
        let record = child.stop(Duration::from_millis(300)).unwrap();
        assert!(
            record.timed_out && record.signal == Some(libc::SIGKILL),
            "{record:?}"
        );
        let mut done = Cmd::new("true").spawn().unwrap();
        let record = loop {
            if let Some(r) = done.try_finished().unwrap() {
                break r;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(record.success());
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn tail_keeps_the_end() {
        assert_eq!(tail("a\nb\nc\n", 2, 100), "b\nc");
        assert_eq!(tail("abcdef", 5, 3), "def");
    }
}
