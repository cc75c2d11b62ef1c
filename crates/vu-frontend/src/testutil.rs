//! Helpers for tests that run a back-end binary as a child process.
//!
//! Tests may run away from the build tree (in a VM, under qemu-user); the
//! orchestrator then sets `MATRIX_BIN_DIR` to where the binaries are.

use std::ffi::OsStr;
use std::io;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Where the back-end binary `name` is: `$MATRIX_BIN_DIR/name` when that
/// variable is set, else `built` (pass `env!("CARGO_BIN_EXE_<name>")`).
pub fn backend_binary(name: &str, built: &str) -> PathBuf {
    match std::env::var_os("MATRIX_BIN_DIR") {
        Some(dir) => Path::new(&dir).join(name),
        None => PathBuf::from(built),
    }
}

/// A fresh directory under the system temp dir, removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> io::Result<Self> {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        // Short names: Unix socket paths are limited to about 100 bytes.
        let p = std::env::temp_dir().join(format!(
            "vu{}-{}-{nanos:x}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&p)?;
        Ok(Self(p))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A back-end child process listening on a socket in its own temp dir. Its
/// stderr goes to a file there, readable with [`BackendProcess::stderr`].
/// Dropping it kills the process.
#[derive(Debug)]
pub struct BackendProcess {
    child: Child,
    socket: PathBuf,
    dir: TempDir,
}

/// How a back-end gets its socket.
enum SocketArg<'a> {
    Path,
    Fd(std::os::fd::BorrowedFd<'a>),
}

impl BackendProcess {
    /// Starts `binary --socket-path <dir>/sock <args>` and waits (bounded)
    /// until the socket accepts connections.
    pub fn spawn<S: AsRef<OsStr>>(binary: &Path, args: &[S]) -> io::Result<Self> {
        let dir = TempDir::new()?;
        let socket = dir.path().join("sock");
        let mut me = Self::start(binary, args, dir, socket, SocketArg::Path)?;
        me.wait_ready()?;
        Ok(me)
    }

    /// Starts `binary --fd N <args>` with `fd` inherited as N: a listening
    /// socket bound at `socket` (the test connects there), or a connected
    /// socket (then `socket` is not used and the back-end serves that one
    /// connection).
    pub fn spawn_with_fd<S: AsRef<OsStr>>(
        binary: &Path,
        fd: std::os::fd::BorrowedFd<'_>,
        socket: PathBuf,
        args: &[S],
    ) -> io::Result<Self> {
        let dir = TempDir::new()?;
        Self::start(binary, args, dir, socket, SocketArg::Fd(fd))
    }

    fn start<S: AsRef<OsStr>>(
        binary: &Path,
        args: &[S],
        dir: TempDir,
        socket: PathBuf,
        how: SocketArg<'_>,
    ) -> io::Result<Self> {
        use std::os::fd::AsRawFd;
        let stderr = std::fs::File::create(dir.path().join("stderr"))?;
        let mut cmd = Command::new(binary);
        // A duplicate without close-on-exec, dropped once the child has it.
        let inherited = match how {
            SocketArg::Path => {
                cmd.arg("--socket-path").arg(&socket);
                None
            }
            SocketArg::Fd(fd) => {
                let dup = fd.try_clone_to_owned()?;
                vu_sys::set_inheritable(std::os::fd::AsFd::as_fd(&dup))?;
                cmd.arg("--fd").arg(dup.as_raw_fd().to_string());
                Some(dup)
            }
        };
        let child = cmd
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| {
                io::Error::new(e.kind(), format!("cannot start {}: {e}", binary.display()))
            })?;
        drop(inherited);
        Ok(Self { child, socket, dir })
    }

    fn wait_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "back-end exited early ({status}): {}",
                    self.stderr()
                )));
            }
            // A probe connection: the back-end sees it come and go.
            if UnixStream::connect(&self.socket).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "back-end socket never appeared",
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time (user + system) the process has used so far.
    pub fn cpu_time(&self) -> io::Result<Duration> {
        cpu_time(self.child.id())
    }

    /// Sends SIGTERM and waits up to `limit` for the process to exit;
    /// returns how long that took, or an error naming what it was doing.
    pub fn terminate_within(&mut self, limit: Duration) -> io::Result<(ExitStatus, Duration)> {
        let start = Instant::now();
        vu_sys::terminate(self.child.id())?;
        loop {
            if let Some(s) = self.child.try_wait()? {
                return Ok((s, start.elapsed()));
            }
            if start.elapsed() > limit {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "back-end still running {limit:?} after SIGTERM; stderr:\n{}",
                        self.stderr()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// What the back-end logged so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    /// What the back-end logged, once it holds `needle` (the event) or
    /// `timeout` has passed: a back-end serving connections on threads of
    /// their own logs a connection's end after its socket has closed.
    pub fn stderr_once_it_holds(&self, needle: &str, timeout: Duration) -> String {
        let until = Instant::now() + timeout;
        loop {
            let log = self.stderr();
            if log.contains(needle) || Instant::now() >= until {
                return log;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(self) -> io::Result<ExitStatus> {
        vu_sys::terminate(self.child.id())?;
        self.wait()
    }

    /// Like [`BackendProcess::terminate`], with what the back-end wrote on
    /// stderr, for assertion messages.
    pub fn terminate_with_stderr(mut self) -> io::Result<(ExitStatus, String)> {
        vu_sys::terminate(self.child.id())?;
        let path = self.dir.path().join("stderr");
        let status = self.wait_inner()?;
        Ok((status, std::fs::read_to_string(path).unwrap_or_default()))
    }

    /// Waits (bounded) for the process to exit by itself.
    pub fn wait(mut self) -> io::Result<ExitStatus> {
        self.wait_inner()
    }

    fn wait_inner(&mut self) -> io::Result<ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.child.try_wait()? {
                return Ok(s);
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "back-end did not exit",
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for BackendProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A small seeded PRNG (SplitMix64) for reproducible random tests.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Seeded from `VU_TEST_SEED` if set, else from the clock. Keep the
    /// returned [`SeedReport`] alive for the test: it prints the seed if the
    /// test panics.
    pub fn from_env() -> (Self, SeedReport) {
        let seed = std::env::var("VU_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        (Self(seed), SeedReport(seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Prints the seed when dropped during a panic.
#[derive(Debug)]
pub struct SeedReport(pub u64);

impl Drop for SeedReport {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "test failed with seed {0}; rerun with VU_TEST_SEED={0}",
                self.0
            );
        }
    }
}

/// CPU time (user + system) process `pid` has used: `/proc/<pid>/stat` on
/// Linux (clock ticks of 10 ms), `ps -o time=` elsewhere (the BSDs print
/// `[mm:]ss.cc`).
pub fn cpu_time(pid: u32) -> io::Result<Duration> {
    let bad = |what: &str| io::Error::other(format!("cannot read the CPU time of {pid}: {what}"));
    if cfg!(target_os = "linux") {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // Fields after the command name (which may hold spaces) in `)`.
        let rest = stat
            .rsplit_once(')')
            .map(|(_, r)| r)
            .ok_or_else(|| bad(&stat))?;
        let f: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15; `rest` starts at field 3.
        let ticks = |i: usize| f.get(i - 3).and_then(|v| v.parse::<u64>().ok());
        let (u, s) = ticks(14).zip(ticks(15)).ok_or_else(|| bad(&stat))?;
        // USER_HZ is 100 on every Linux architecture.
        return Ok(Duration::from_millis((u + s) * 10));
    }
    let out = Command::new("ps")
        .args(["-o", "time=", "-p", &pid.to_string()])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    // `[[dd-]hh:]mm:ss[.cc]`
    let (days, clock) = text.split_once('-').unwrap_or(("0", &text));
    let mut secs = days.parse::<f64>().map_err(|_| bad(&text))? * 86400.0;
    let mut clock_secs = 0f64;
    for part in clock.split(':') {
        clock_secs = clock_secs * 60.0 + part.parse::<f64>().map_err(|_| bad(&text))?;
    }
    secs += clock_secs;
    Ok(Duration::from_secs_f64(secs))
}

/// Compares what `--print-capabilities` printed with the descriptor file
/// that ships with the program (QEMU's vhost-user.json schema): both are
/// JSON objects of the same `type`; the descriptor names this program as
/// its absolute `binary` and has only the schema's keys; the capabilities
/// have only `type` and `features`, with the features the schema defines
/// for that type. Panics, naming what differs, when they do not match.
pub fn assert_capabilities_match_descriptor(
    program: &str,
    printed: &str,
    descriptor: &str,
    schema_features: &[&str],
) {
    use serde_json::Value;
    let caps: Value = serde_json::from_str(printed).expect("--print-capabilities prints JSON");
    let desc: Value = serde_json::from_str(descriptor).expect("the descriptor file is JSON");
    let (caps, desc) = (caps.as_object().unwrap(), desc.as_object().unwrap());
    assert_eq!(
        caps.get("type"),
        desc.get("type"),
        "type: {printed}\n{descriptor}"
    );
    assert!(desc.get("type").and_then(Value::as_str).is_some());
    for key in desc.keys() {
        assert!(
            ["description", "type", "binary", "tags"].contains(&key.as_str()),
            "descriptor key `{key}` is not in the schema"
        );
    }
    let binary = desc["binary"].as_str().expect("binary is a string");
    assert!(
        binary.starts_with('/') && binary.rsplit('/').next() == Some(program),
        "binary `{binary}` must be an absolute path to {program}"
    );
    assert!(desc["description"].as_str().is_some_and(|d| !d.is_empty()));
    for key in caps.keys() {
        assert!(
            ["type", "features"].contains(&key.as_str()),
            "capabilities key `{key}` is not in the schema"
        );
    }
    let features: Vec<&str> = caps
        .get("features")
        .map(|f| f.as_array().expect("features is a list").iter())
        .into_iter()
        .flatten()
        .map(|f| f.as_str().expect("a feature is a string"))
        .collect();
    assert_eq!(features, schema_features, "{printed}");
}

/// A connected socket end in blocking mode whose send buffer is full: a
/// write to it would block until the peer (kept alive here) reads.
pub fn full_blocking_socket() -> (UnixStream, UnixStream) {
    let (full, peer) = UnixStream::pair().unwrap();
    full.set_nonblocking(true).unwrap();
    let chunk = [0u8; 4096];
    for size in [chunk.len(), 1] {
        loop {
            match io::Write::write(&mut &full, &chunk[..size]) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("filling the socket: {e}"),
            }
        }
    }
    // O_NONBLOCK belongs to the open file, which the back-end will share.
    full.set_nonblocking(false).unwrap();
    (full, peer)
}
