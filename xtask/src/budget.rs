//! The memory budget that guests draw from. A running cell holds one of the
//! `--jobs` worker slots (its CPU); a cell that boots a guest also holds the
//! guest's memory (and QEMU's overhead) for as long as the guest runs, so
//! that builds and guests overlap without the guests outgrowing the host.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

pub struct Budget {
    total_mib: u64,
    used: Mutex<u64>,
    freed: Condvar,
}

/// Memory held until dropped.
pub struct Grant<'a> {
    budget: &'a Budget,
    mib: u64,
}

impl Budget {
    pub fn new(total_mib: u64) -> Budget {
        Budget {
            total_mib: total_mib.max(1),
            used: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    pub fn total_mib(&self) -> u64 {
        self.total_mib
    }

    /// Blocks until `mib` fits beside what others hold. A request larger than
    /// the whole budget waits for everything else and then runs alone.
    pub fn acquire(&self, mib: u64, on_wait: &dyn Fn(&str)) -> Grant<'_> {
        let mib = mib.min(self.total_mib);
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let mut told = false;
        while *used + mib > self.total_mib && !crate::cmd::cancelled() {
            if !told {
                on_wait(&format!(
                    "waiting for {mib} MiB of the {} MiB guest memory budget",
                    self.total_mib
                ));
                told = true;
            }
            used = self
                .freed
                .wait_timeout(used, Duration::from_millis(200))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *used += mib;
        Grant { budget: self, mib }
    }
}

impl Drop for Grant<'_> {
    fn drop(&mut self) {
        let mut used = self.budget.used.lock().unwrap_or_else(|e| e.into_inner());
        *used = used.saturating_sub(self.mib);
        self.budget.freed.notify_all();
    }
}

/// Three quarters of the memory the host has available now, in MiB.
pub fn default_memory_mib() -> u64 {
    let avail_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("MemAvailable:")
                    .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            })
        })
        .unwrap_or(4 << 20);
    (avail_kib / 1024) * 3 / 4
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn grants_never_exceed_the_budget() {
        let budget = Budget::new(1000);
        let peak = AtomicU64::new(0);
        let now = AtomicU64::new(0);
        // Holders meet in pairs: two grants are held at once by construction,
        // not by a sleep long enough for the other thread to arrive.
        let pair = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            for _ in 0..6 {
                s.spawn(|| {
                    let _g = budget.acquire(400, &|_| {});
                    let n = now.fetch_add(400, Ordering::SeqCst) + 400;
                    peak.fetch_max(n, Ordering::SeqCst);
                    pair.wait();
                    now.fetch_sub(400, Ordering::SeqCst);
                });
            }
        });
        assert_eq!(peak.load(Ordering::SeqCst), 800);
        // Larger than everything: capped, runs alone.
        let g = budget.acquire(5000, &|_| {});
        assert_eq!(g.mib, 1000);
    }
}
