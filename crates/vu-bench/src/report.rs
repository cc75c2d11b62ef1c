//! The JSON line each run prints.

use crate::workload::Pattern;
use std::time::Duration;

/// One measured run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// `vhost-user` or `pread`.
    pub target: &'static str,
    pub pattern: Pattern,
    pub block_size: u64,
    /// Requests in flight per queue (vhost-user) or per thread (pread: 1).
    pub depth: usize,
    /// Queues (vhost-user) or threads (pread).
    pub parallelism: usize,
    /// Length of the measured window (after the warm-up).
    pub secs: f64,
    /// Requests completed in the window.
    pub ops: u64,
    pub bytes: u64,
    pub iops: f64,
    pub mib_s: f64,
    /// Requests whose data was checked against the file (all of them).
    pub verified: u64,
    /// CPU time (user + system) this process used in the window: the
    /// reading threads for `pread`, the driver for `vhost-user`.
    pub cpu_secs: f64,
    /// Requests completed over the whole run, warm-up and final drain
    /// included: what a server's CPU time for the run is divided by.
    pub total_ops: u64,
}

/// CPU time (user + system) this process has used so far.
pub fn cpu_now() -> f64 {
    // SAFETY: an all-zero rusage is a valid out-buffer for getrusage.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the rusage it is given.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut r) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(r.ru_utime) + tv(r.ru_stime)
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        target: &'static str,
        pattern: Pattern,
        block_size: u64,
        depth: usize,
        parallelism: usize,
        window: Duration,
        ops: u64,
        cpu_secs: f64,
        total_ops: u64,
    ) -> Self {
        let secs = window.as_secs_f64();
        let bytes = ops * block_size;
        Self {
            target,
            pattern,
            block_size,
            depth,
            parallelism,
            secs,
            ops,
            bytes,
            iops: ops as f64 / secs,
            mib_s: bytes as f64 / secs / f64::from(1 << 20),
            verified: ops,
            cpu_secs,
            total_ops,
        }
    }
}
