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
}

impl Report {
    pub fn new(
        target: &'static str,
        pattern: Pattern,
        block_size: u64,
        depth: usize,
        parallelism: usize,
        window: Duration,
        ops: u64,
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
        }
    }
}
