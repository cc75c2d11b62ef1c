//! `cargo xtask ci plan`: the generated jobs, what each waits for, and how
//! long the pipeline takes on N runners, estimated from the cell durations of
//! a results file.
//!
//! A job's duration is the sum of its cells' (a job runs its cells one after
//! another on a runner); the pipeline's wall time on N runners is simulated
//! by list scheduling: whenever a runner is free it takes the ready job with
//! the longest chain of work still behind it (critical path first).

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::results::{ResultsFile, Status};

use super::jobs::Job;

/// A job with its estimated duration.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimated {
    pub id: String,
    pub needs: Vec<String>,
    pub secs: f64,
    /// Cells of the results file that the job ran (unavailable and skipped ones do not count).
    pub cells: usize,
}

/// The jobs with their durations from `results`, and the cells no job runs.
pub fn estimate(jobs: &[Job], results: &ResultsFile) -> (Vec<Estimated>, Vec<String>) {
    let mut unmatched = Vec::new();
    let mut out: Vec<Estimated> = jobs
        .iter()
        .map(|j| Estimated {
            id: j.id.clone(),
            needs: j.needs.clone(),
            secs: 0.0,
            cells: 0,
        })
        .collect();
    for cell in &results.cells {
        // Unavailable and skipped cells took no time worth counting: they did not run.
        let ran = matches!(
            cell.status,
            Status::Pass | Status::Fail | Status::ExpectedFail | Status::Timeout
        );
        match jobs
            .iter()
            .position(|j| j.runs(&cell.platform, cell.stage, cell.lane))
        {
            Some(_) if !ran => {}
            Some(i) => {
                out[i].secs += cell.duration_secs.max(0.0);
                out[i].cells += 1;
            }
            None => unmatched.push(cell.id.clone()),
        }
    }
    (out, unmatched)
}

/// The longest chain of work from each job to the end (its own time included).
fn tails(jobs: &[Estimated]) -> BTreeMap<String, f64> {
    let mut tail: BTreeMap<String, f64> = BTreeMap::new();
    // Needs point backwards in the list (a build comes before its tests), so
    // walking from the end sees every dependant first.
    for j in jobs.iter().rev() {
        let after = jobs
            .iter()
            .filter(|d| d.needs.contains(&j.id))
            .map(|d| tail.get(&d.id).copied().unwrap_or(d.secs))
            .fold(0.0, f64::max);
        tail.insert(j.id.clone(), j.secs + after);
    }
    tail
}

/// The critical path: the chain of jobs that bounds the wall time whatever the number of runners.
pub fn critical_path(jobs: &[Estimated]) -> (Vec<String>, f64) {
    let tail = tails(jobs);
    let start = jobs
        .iter()
        .filter(|j| j.needs.is_empty())
        .max_by(|a, b| tail[&a.id].total_cmp(&tail[&b.id]));
    let Some(mut job) = start else {
        return (vec![], 0.0);
    };
    let total = tail[&job.id];
    let mut path = vec![job.id.clone()];
    while let Some(next) = jobs
        .iter()
        .filter(|d| d.needs.contains(&job.id))
        .max_by(|a, b| tail[&a.id].total_cmp(&tail[&b.id]))
    {
        path.push(next.id.clone());
        job = next;
    }
    (path, total)
}

/// The pipeline's wall time on `runners` runners (list scheduling, critical path first).
pub fn wall_time(jobs: &[Estimated], runners: usize) -> f64 {
    let runners = runners.max(1);
    let tail = tails(jobs);
    let mut done: BTreeMap<&str, f64> = BTreeMap::new();
    let mut free_at = vec![0.0_f64; runners];
    let mut left: Vec<&Estimated> = jobs.iter().collect();
    while !left.is_empty() {
        // The earliest free runner takes the most urgent job that can start
        // (all its needs finished) soonest.
        let (r, &now) = free_at
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1))
            .expect("at least one runner");
        let ready_at = |j: &Estimated| -> Option<f64> {
            j.needs.iter().try_fold(0.0_f64, |acc, n| {
                // A need that is not a job of this list (filtered out) does not hold anything up.
                match done.get(n.as_str()) {
                    Some(t) => Some(acc.max(*t)),
                    None if jobs.iter().any(|o| &o.id == n) => None,
                    None => Some(acc),
                }
            })
        };
        let candidates: Vec<(usize, f64)> = left
            .iter()
            .enumerate()
            .filter_map(|(i, j)| ready_at(j).map(|t| (i, t.max(now))))
            .collect();
        let start = candidates
            .iter()
            .map(|(_, t)| *t)
            .fold(f64::INFINITY, f64::min);
        let (i, start) = candidates
            .into_iter()
            .filter(|(_, t)| *t <= start)
            .max_by(|a, b| tail[&left[a.0].id].total_cmp(&tail[&left[b.0].id]))
            .expect("the needs form no cycle");
        let job = left.remove(i);
        let end = start + job.secs;
        free_at[r] = end;
        done.insert(job.id.as_str(), end);
    }
    done.values().copied().fold(0.0, f64::max)
}

/// `1h 02m`, `3m 05s`, `12s`.
pub fn duration(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// The plan as text: every job, its needs and duration, then the estimate per runner count.
pub fn render(jobs: &[Job], results: &ResultsFile, source: &str, runners: &[usize]) -> String {
    let (est, unmatched) = estimate(jobs, results);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} jobs, durations from {source} ({} cells)",
        est.len() + 1,
        results.cells.len()
    );
    let width = est.iter().map(|j| j.id.len()).max().unwrap_or(0).max(6);
    for j in &est {
        let time = if j.cells == 0 {
            "no data".to_string()
        } else {
            duration(j.secs)
        };
        let needs = if j.needs.is_empty() {
            String::new()
        } else {
            format!("  after {}", j.needs.join(", "))
        };
        let _ = writeln!(
            out,
            "  {:width$}  {:>8}  {} cell{}{needs}",
            j.id,
            time,
            j.cells,
            if j.cells == 1 { "" } else { "s" }
        );
    }
    let _ = writeln!(
        out,
        "  {:width$}  {:>8}  after every job (merge, report, diff)",
        "report", "-"
    );
    let without: Vec<&str> = est
        .iter()
        .filter(|j| j.cells == 0)
        .map(|j| j.id.as_str())
        .collect();
    if !without.is_empty() {
        let _ = writeln!(
            out,
            "{} jobs have no cell in the results and count as 0s: run them once (`cargo xtask matrix`) for a better estimate",
            without.len()
        );
    }
    if !unmatched.is_empty() {
        let _ = writeln!(
            out,
            "{} cells of the results belong to no job (platforms or lanes no longer in the data), e.g. {}",
            unmatched.len(),
            unmatched[0]
        );
    }
    let total: f64 = est.iter().map(|j| j.secs).sum();
    let (path, longest) = critical_path(&est);
    let _ = writeln!(out, "work in all jobs: {}", duration(total));
    let _ = writeln!(
        out,
        "longest chain: {} ({})",
        duration(longest),
        path.join(" -> ")
    );
    let _ = writeln!(out, "runners  wall time  vs one runner");
    let one = wall_time(&est, 1);
    for &n in runners {
        let w = wall_time(&est, n);
        let speedup = if w > 0.0 { one / w } else { 1.0 };
        let _ = writeln!(out, "{n:>7}  {:>9}  {speedup:.1}x", duration(w));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, needs: &[&str], secs: f64) -> Estimated {
        Estimated {
            id: id.into(),
            needs: needs.iter().map(|s| s.to_string()).collect(),
            secs,
            cells: 1,
        }
    }

    #[test]
    fn wall_time_is_bounded_by_the_work_and_by_the_longest_chain() {
        let jobs = vec![
            job("build:a", &[], 10.0),
            job("vm:a", &["build:a"], 50.0),
            job("build:b", &[], 20.0),
            job("qemu-user:b", &["build:b"], 5.0),
            job("build:c", &[], 30.0),
        ];
        assert_eq!(wall_time(&jobs, 1), 115.0);
        // Critical path first: a's chain (60 s) starts at once.
        assert_eq!(wall_time(&jobs, 2), 60.0);
        assert_eq!(wall_time(&jobs, 16), 60.0);
        assert_eq!(
            critical_path(&jobs),
            (vec!["build:a".to_string(), "vm:a".to_string()], 60.0)
        );
    }

    #[test]
    fn a_job_waits_for_its_build_even_with_free_runners() {
        let jobs = vec![job("build:a", &[], 10.0), job("vm:a", &["build:a"], 1.0)];
        assert_eq!(wall_time(&jobs, 4), 11.0);
    }
}
