//! `cargo xtask fuzz`: runs the cargo-fuzz targets in `fuzz/` and reports
//! executions, time, coverage and crashes.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::cmd::Cmd;
use crate::exit;
use crate::host::which;

mod replay;

/// The cargo-fuzz release this project uses; installed when missing.
pub const CARGO_FUZZ_VERSION: &str = "0.13.1";

/// Run the fuzz targets (libFuzzer, nightly toolchain).
///
/// Builds `fuzz/` with `cargo +nightly fuzz build -O -a` (optimised, with
/// debug assertions and overflow checks, AddressSanitizer), then runs each
/// target (or only TARGET) for `--runs` executions, split over `--jobs`
/// libFuzzer processes that share one corpus (each picks up the others'
/// new inputs as it goes), keeping the corpus in
/// `fuzz/corpus/<target>` between runs. Progress is a bar on a terminal and
/// a line a minute elsewhere (CI logs, pipes). The committed inputs in
/// `fuzz/regressions/<target>` (past findings, inputs that reach an
/// oracle) are run first, every time. Installs cargo-fuzz with `cargo
/// install` when it is not on PATH, and says so. Exit status 1 when a target
/// crashes (the input is saved under `fuzz/artifacts/<target>/`); the
/// figures go to `fuzz/summary.json` in the workspace's target directory.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this target (a file name in fuzz/fuzz_targets/, without `.rs`).
    pub target: Option<String>,
    /// Executions per target.
    #[arg(long, default_value_t = 1_000_000)]
    pub runs: u64,
    /// Stop a target after this many seconds even if --runs is not reached.
    #[arg(long, value_name = "SECS")]
    pub max_total_time: Option<u64>,
    /// libFuzzer processes per target, sharing its corpus and `--runs`
    /// between them (one per CPU makes a campaign that many times shorter).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub jobs: u64,
    /// Pin each process to a CPU of its own, the Nth process to the Nth
    /// CPU this command may run on (Linux). A target whose inputs hand work
    /// between threads (`session`) then does so on one CPU, without the
    /// cross-CPU wake-ups and TLB flushes: about a fifth less CPU time per
    /// input there. Refused when --jobs exceeds those CPUs.
    #[arg(long)]
    pub pin: bool,
    /// Replay instead of fuzzing: build the targets with this toolchain
    /// (no nightly, no cargo-fuzz, no sanitizer; release with debug
    /// assertions and overflow checks) and run each once over the empty
    /// input, its `fuzz/regressions/<target>/` and its corpus, if one is
    /// kept here. Each failing input is named with its panic and the
    /// command that reproduces it; exit status 1 if any fails. About a
    /// minute; `cargo xtask test` runs it.
    #[arg(long, conflicts_with_all = ["runs", "max_total_time", "jobs", "pin"])]
    pub replay: bool,
}

/// What one target's run showed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Outcome {
    pub target: String,
    pub executions: u64,
    pub secs: f64,
    pub execs_per_sec: u64,
    /// libFuzzer's coverage counters at the end: edges (`cov`), features
    /// (`ft`), corpus entries and bytes.
    pub cov: u64,
    pub ft: u64,
    pub corpus_units: u64,
    pub corpus_bytes: String,
    pub peak_rss_mb: u64,
    /// The saved input of a crash, if the target crashed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crash: Option<String>,
}

pub fn run(args: Args) -> Result<u8> {
    let kept = match args.replay {
        true => "the targets replayed so far are in target/fuzz/replay.json",
        false => "the corpus so far is kept in fuzz/corpus/",
    };
    let result = fuzz(args);
    if crate::cmd::cancelled() {
        eprintln!("fuzz: interrupted ({kept})");
        return Ok(exit::INTERRUPTED);
    }
    result
}

fn fuzz(args: Args) -> Result<u8> {
    crate::cmd::install_interrupt_handler()?;
    let root = crate::repo_root();
    let fuzz_dir = root.join("fuzz");
    let targets = targets(&fuzz_dir)?;
    let chosen: Vec<String> = match &args.target {
        Some(t) if targets.contains(t) => vec![t.clone()],
        Some(t) => {
            return Err(crate::BadInput(format!(
                "no fuzz target `{t}`; targets: {}",
                targets.join(", ")
            ))
            .into())
        }
        None => targets,
    };
    if args.replay {
        return replay::run(&root, &chosen);
    }
    // Checked before anything is built.
    let cpus = match args.pin {
        true => Some(pinned_cpus(args.jobs, &cpu::allowed()?)?),
        false => None,
    };

    let nightly = Cmd::new("cargo").args(["+nightly", "--version"]).run()?;
    if !nightly.record.success() {
        bail!(
            "the nightly toolchain is needed (`rustup toolchain install nightly`):\n{}",
            nightly.record.stderr_tail
        );
    }
    if which("cargo-fuzz").is_none() {
        eprintln!(
            "fuzz: cargo-fuzz is not installed; installing cargo-fuzz {CARGO_FUZZ_VERSION} \
             (`cargo install cargo-fuzz --version {CARGO_FUZZ_VERSION} --locked`)"
        );
        let r = Cmd::new("cargo")
            .args([
                "install",
                "cargo-fuzz",
                "--version",
                CARGO_FUZZ_VERSION,
                "--locked",
            ])
            .run_inherited()?;
        if !r.success() {
            bail!("`{}` failed ({})", r.command_line(), r.describe());
        }
    }

    eprintln!("fuzz: building the targets");
    let build = Cmd::new("cargo")
        .args(["+nightly", "fuzz", "build", "-O", "-a"])
        .cwd(&root)
        .run_inherited()?;
    if !build.success() {
        bail!("`{}` failed ({})", build.command_line(), build.describe());
    }

    let mut outcomes = Vec::new();
    for target in &chosen {
        eprintln!(
            "fuzz: {target}: {} executions{}{}",
            args.runs,
            match (args.jobs, args.pin) {
                (1, false) => String::new(),
                (1, true) => " in 1 process, pinned".to_string(),
                (n, false) => format!(" in {n} processes"),
                (n, true) => format!(" in {n} processes, each pinned to a CPU"),
            },
            match args.max_total_time {
                Some(s) => format!(", at most {s} s"),
                None => String::new(),
            }
        );
        let corpus = fuzz_dir.join("corpus").join(target);
        std::fs::create_dir_all(&corpus)
            .with_context(|| format!("cannot create {}", corpus.display()))?;
        // The first directory is the one libFuzzer adds new inputs to.
        let mut cmd = Cmd::new("cargo")
            .args(["+nightly", "fuzz", "run", "-O", "-a", target])
            .arg(&corpus);
        let regressions = fuzz_dir.join("regressions").join(target);
        if regressions.is_dir() {
            cmd = cmd.arg(&regressions);
        }
        let cmd = cmd.arg("--").arg("-print_final_stats=1");
        let cmd = match args.max_total_time {
            Some(s) => cmd.arg(format!("-max_total_time={s}")),
            None => cmd,
        };
        let shares = share(args.runs, args.jobs);
        let bar = progress_bar(target, args.runs);
        // Off a terminal (CI logs, pipes) the bar is not drawn: a plain line
        // a minute stands in for it.
        let plain = (!std::io::stderr().is_terminal()).then(|| std::sync::Mutex::new(None));
        let done: Vec<std::sync::atomic::AtomicU64> =
            shares.iter().map(|_| Default::default()).collect();
        let outs: Vec<Result<crate::cmd::Finished>> = std::thread::scope(|scope| {
            let handles: Vec<_> = shares
                .iter()
                .enumerate()
                .map(|(job, runs)| {
                    // libFuzzer reports on stderr: read it as it comes.
                    let cmd = cmd
                        .clone()
                        .arg(format!("-runs={runs}"))
                        .cwd(&root)
                        .stderr_to_stdout();
                    let (bar, done, plain) = (&bar, &done, &plain);
                    let cpu = cpus.as_ref().map(|c| c[job]);
                    scope.spawn(move || {
                        // The process inherits this thread's CPU.
                        if let Some(cpu) = cpu {
                            cpu::pin_this_thread(cpu)?;
                        }
                        cmd.run_streaming(&mut |line| {
                            let Some(status) = Status::parse(line) else {
                                return;
                            };
                            done[job].store(status.runs, std::sync::atomic::Ordering::Relaxed);
                            let total: u64 = done
                                .iter()
                                .map(|d| d.load(std::sync::atomic::Ordering::Relaxed))
                                .sum();
                            bar.set_position(total);
                            let secs = bar.elapsed().as_secs_f64().max(1e-3);
                            bar.set_message(format!(
                                "{:.0}/s, cov {} ft {}",
                                total as f64 / secs,
                                status.cov,
                                status.ft
                            ));
                            if let Some(last) = plain {
                                let now = std::time::Instant::now();
                                let mut last = last.lock().expect("not poisoned");
                                if due(*last, now, PLAIN_EVERY) {
                                    *last = Some(now);
                                    eprintln!(
                                        "{}",
                                        plain_line(target, args.runs, total, secs, &status)
                                    );
                                }
                            }
                        })
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a fuzz job's thread does not panic"))
                .collect()
        });
        bar.finish_and_clear();
        let mut parts = Vec::new();
        for out in outs {
            let out = out?;
            let log = String::from_utf8_lossy(&out.stdout);
            let mut part = parse(target, &log);
            if !out.record.success() && part.crash.is_none() {
                bail!(
                    "`{}` failed ({}):\n{}",
                    out.record.command_line(),
                    out.record.describe(),
                    crate::cmd::tail(&log, 30, 8192)
                );
            }
            if part.crash.is_some() && out.record.success() {
                // libFuzzer saved an input but exited 0: not a crash after all.
                part.crash = None;
            }
            parts.push(part);
        }
        let outcome = combine(target, &parts);
        eprintln!("{}", describe(&outcome));
        outcomes.push(outcome);
    }

    let ws = crate::workspace::Workspace::load(&root)?;
    let summary = ws.target_dir.join("fuzz").join("summary.json");
    std::fs::create_dir_all(summary.parent().expect("has a parent"))
        .context("cannot create target/fuzz")?;
    crate::paths::write_atomic(
        &summary,
        (serde_json::to_string_pretty(&outcomes)? + "\n").as_bytes(),
    )?;
    eprintln!("fuzz: summary in {}", summary.display());
    let crashed: Vec<&Outcome> = outcomes.iter().filter(|o| o.crash.is_some()).collect();
    if crashed.is_empty() {
        Ok(exit::OK)
    } else {
        for o in crashed {
            eprintln!(
                "fuzz: {} crashed; reproduce with `cargo +nightly fuzz run -O -a {} {}`",
                o.target,
                o.target,
                o.crash.as_deref().unwrap_or_default()
            );
        }
        Ok(exit::FAILURES)
    }
}

/// The CPU each of `jobs` processes is pinned to: the first `jobs` of the
/// CPUs this command may run on.
fn pinned_cpus(jobs: u64, allowed: &[usize]) -> Result<Vec<usize>> {
    match allowed.get(..jobs as usize) {
        Some(cpus) => Ok(cpus.to_vec()),
        None => Err(crate::BadInput(format!(
            "--pin puts each process on a CPU of its own, but --jobs {jobs} is more than \
             the {} CPUs this command may run on ({}); lower --jobs or drop --pin",
            allowed.len(),
            allowed
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into()),
    }
}

/// CPU affinity, for `--pin`.
mod cpu {
    use anyhow::Result;

    /// The CPUs this thread may run on, in order.
    #[cfg(target_os = "linux")]
    pub fn allowed() -> Result<Vec<usize>> {
        // SAFETY: a zeroed cpu_set_t is an empty set, and the size passed
        // is the set's own.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::sched_getaffinity(0, size_of_val(&set), &mut set) };
        if r != 0 {
            return Err(anyhow::Error::from(std::io::Error::last_os_error())
                .context("sched_getaffinity failed: cannot tell which CPUs to pin to"));
        }
        Ok((0..libc::CPU_SETSIZE as usize)
            // SAFETY: `cpu` is below CPU_SETSIZE, the set's capacity.
            .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
            .collect())
    }

    /// Restricts the calling thread (and the processes it spawns from now
    /// on) to `cpu`.
    #[cfg(target_os = "linux")]
    pub fn pin_this_thread(cpu: usize) -> Result<()> {
        // SAFETY: as in `allowed`; CPU_SET is given a CPU below the set's
        // capacity (`allowed` only lists those).
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        anyhow::ensure!(
            cpu < libc::CPU_SETSIZE as usize,
            "CPU {cpu} is beyond what sched_setaffinity can name"
        );
        unsafe { libc::CPU_SET(cpu, &mut set) };
        let r = unsafe { libc::sched_setaffinity(0, size_of_val(&set), &set) };
        if r != 0 {
            return Err(anyhow::Error::from(std::io::Error::last_os_error())
                .context(format!("sched_setaffinity to CPU {cpu} failed")));
        }
        Ok(())
    }

    #[cfg(not(target_os = "linux"))]
    pub fn allowed() -> Result<Vec<usize>> {
        anyhow::bail!("--pin needs Linux's sched_setaffinity; run without --pin")
    }

    #[cfg(not(target_os = "linux"))]
    pub fn pin_this_thread(_cpu: usize) -> Result<()> {
        anyhow::bail!("--pin needs Linux's sched_setaffinity; run without --pin")
    }
}

/// A bar of the target's executions so far, over all its processes (drawn
/// only on a terminal).
fn progress_bar(target: &str, runs: u64) -> indicatif::ProgressBar {
    bar(format!("fuzz: {target}"), runs, "runs, ETA {eta}, {msg}")
}

/// A bar on stderr, drawn only on a terminal: `prefix`, the time so far,
/// then `done/len` and `tail` (an indicatif template).
fn bar(prefix: String, len: u64, tail: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len),
        indicatif::ProgressDrawTarget::stderr(),
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{prefix}} {{elapsed_precise}} [{{bar:30}}] {{human_pos}}/{{human_len}} {tail}"
        ))
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(prefix);
    bar
}

/// How often a plain progress line is printed off a terminal.
const PLAIN_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Whether a plain progress line is due: the first status line, then one
/// per `every`.
fn due(
    last: Option<std::time::Instant>,
    now: std::time::Instant,
    every: std::time::Duration,
) -> bool {
    last.is_none_or(|last| now.duration_since(last) >= every)
}

/// The progress of a target's run as one line, for logs.
fn plain_line(target: &str, runs: u64, done: u64, secs: f64, status: &Status) -> String {
    format!(
        "fuzz: {target}: {done} of {runs} executions ({}) in {secs:.0} s, {:.0}/s, cov {} ft {}",
        match runs {
            0 => "100 %".to_string(),
            _ => format!("{} %", done.saturating_mul(100) / runs),
        },
        done as f64 / secs.max(1e-3),
        status.cov,
        status.ft
    )
}

/// A libFuzzer status line: `#1000000\tDONE   cov: 326 ft: 870 corp: …`.
#[derive(Debug, PartialEq)]
struct Status {
    runs: u64,
    cov: u64,
    ft: u64,
}

impl Status {
    fn parse(line: &str) -> Option<Status> {
        let rest = line.strip_prefix('#')?;
        let (runs, rest) = rest.split_once(|c: char| c.is_whitespace())?;
        let field = |key: &str| -> Option<u64> {
            rest.split(key)
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        };
        Some(Status {
            runs: runs.parse().ok()?,
            cov: field(" cov: ").or_else(|| field("cov: "))?,
            ft: field(" ft: ").unwrap_or(0),
        })
    }
}

/// `runs` split over `jobs` processes, the remainder to the first ones.
fn share(runs: u64, jobs: u64) -> Vec<u64> {
    let jobs = jobs.clamp(1, runs.max(1));
    (0..jobs)
        .map(|i| runs / jobs + u64::from(i < runs % jobs))
        .collect()
}

/// One target's figures from its processes' own: executions add up over
/// the longest process's time; coverage, corpus and memory are the largest
/// any process saw (they share one corpus); the first crash is kept.
fn combine(target: &str, parts: &[Outcome]) -> Outcome {
    let executions: u64 = parts.iter().map(|p| p.executions).sum();
    let secs = parts.iter().map(|p| p.secs).fold(0.0, f64::max);
    let largest = parts
        .iter()
        .max_by_key(|p| (p.ft, p.corpus_units))
        .cloned()
        .unwrap_or_default();
    Outcome {
        target: target.to_string(),
        executions,
        secs,
        execs_per_sec: match parts {
            [one] => one.execs_per_sec,
            _ if secs > 0.0 => (executions as f64 / secs) as u64,
            _ => 0,
        },
        cov: parts.iter().map(|p| p.cov).max().unwrap_or(0),
        ft: largest.ft,
        corpus_units: largest.corpus_units,
        corpus_bytes: largest.corpus_bytes,
        peak_rss_mb: parts.iter().map(|p| p.peak_rss_mb).max().unwrap_or(0),
        crash: parts.iter().find_map(|p| p.crash.clone()),
    }
}

/// The targets: `fuzz/fuzz_targets/*.rs`, sorted.
pub fn targets(fuzz_dir: &Path) -> Result<Vec<String>> {
    let dir = fuzz_dir.join("fuzz_targets");
    let mut out: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| PathBuf::from(e.file_name())))
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    out.sort();
    Ok(out)
}

/// One line for the terminal.
pub fn describe(o: &Outcome) -> String {
    format!(
        "fuzz: {}: {} executions in {:.0} s ({}/s), cov {} ft {} corpus {} ({}), peak RSS {} MB{}",
        o.target,
        o.executions,
        o.secs,
        o.execs_per_sec,
        o.cov,
        o.ft,
        o.corpus_units,
        o.corpus_bytes,
        o.peak_rss_mb,
        match &o.crash {
            Some(path) => format!(", CRASH saved to {path}"),
            None => ", no crash".into(),
        }
    )
}

/// Reads libFuzzer's log (stderr, with `-print_final_stats=1`).
pub fn parse(target: &str, log: &str) -> Outcome {
    let mut o = Outcome {
        target: target.to_string(),
        ..Outcome::default()
    };
    let field = |line: &str, key: &str| -> Option<String> {
        let rest = line.split(key).nth(1)?;
        rest.split_whitespace().next().map(str::to_string)
    };
    for line in log.lines() {
        if let Some(v) = line.strip_prefix("stat::number_of_executed_units:") {
            o.executions = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("stat::average_exec_per_sec:") {
            o.execs_per_sec = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("stat::peak_rss_mb:") {
            o.peak_rss_mb = v.trim().parse().unwrap_or(0);
        } else if let Some(rest) = line.strip_prefix("Done ") {
            // "Done 1000000 runs in 35 second(s)"
            if let Some(s) = rest
                .split(" in ")
                .nth(1)
                .and_then(|t| t.split_whitespace().next())
            {
                o.secs = s.parse().unwrap_or(0.0);
            }
        } else if let Some(path) = line.split("Test unit written to ").nth(1) {
            o.crash = Some(path.trim().to_string());
        }
        if line.contains(" cov: ") && line.starts_with('#') {
            o.cov = field(line, " cov: ")
                .and_then(|v| v.parse().ok())
                .unwrap_or(o.cov);
            o.ft = field(line, " ft: ")
                .and_then(|v| v.parse().ok())
                .unwrap_or(o.ft);
            if let Some(c) = field(line, " corp: ") {
                let (units, bytes) = c.split_once('/').unwrap_or((&c, ""));
                o.corpus_units = units.parse().unwrap_or(o.corpus_units);
                o.corpus_bytes = bytes.to_string();
            }
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_libfuzzer_log() {
        let log = "\
INFO: Seed: 1
#2\tINITED cov: 40 ft: 41 corp: 1/1b exec/s: 0 rss: 30Mb
#500000\tREDUCE cov: 325 ft: 865 corp: 122/9920b lim: 3643 exec/s: 31149 rss: 464Mb L: 143/236 MS: 2 ChangeBit-EraseBytes-
#1000000\tDONE   cov: 326 ft: 870 corp: 123/9921b lim: 4096 exec/s: 31250 rss: 464Mb
Done 1000000 runs in 32 second(s)
stat::number_of_executed_units: 1000000
stat::average_exec_per_sec:     31250
stat::new_units_added:          1
stat::slowest_unit_time_sec:    0
stat::peak_rss_mb:              464
";
        let o = parse("descriptor_chain", log);
        assert_eq!(
            o,
            Outcome {
                target: "descriptor_chain".into(),
                executions: 1_000_000,
                secs: 32.0,
                execs_per_sec: 31250,
                cov: 326,
                ft: 870,
                corpus_units: 123,
                corpus_bytes: "9921b".into(),
                peak_rss_mb: 464,
                crash: None,
            }
        );
        let crash = "==1==ERROR: AddressSanitizer: BUS\nartifact_prefix='a/'; Test unit written to a/crash-abc\n";
        assert_eq!(parse("t", crash).crash.as_deref(), Some("a/crash-abc"));
    }

    #[test]
    fn status_lines_give_the_progress() {
        assert_eq!(
            Status::parse("#500000\tREDUCE cov: 325 ft: 865 corp: 122/9920b lim: 3643 exec/s: 31149 rss: 464Mb"),
            Some(Status { runs: 500_000, cov: 325, ft: 865 })
        );
        assert_eq!(
            Status::parse("#2\tINITED cov: 40 ft: 41 corp: 1/1b exec/s: 0 rss: 30Mb"),
            Some(Status {
                runs: 2,
                cov: 40,
                ft: 41
            })
        );
        assert_eq!(Status::parse("INFO: Seed: 1"), None);
        assert_eq!(Status::parse("#3 something else"), None);
    }

    #[test]
    fn pin_takes_the_first_allowed_cpus_and_refuses_more_jobs_than_cpus() {
        assert_eq!(pinned_cpus(2, &[0, 3, 5]).unwrap(), vec![0, 3]);
        assert_eq!(pinned_cpus(1, &[7]).unwrap(), vec![7]);
        let e = pinned_cpus(4, &[0, 1]).unwrap_err().to_string();
        assert_eq!(
            e,
            "--pin puts each process on a CPU of its own, but --jobs 4 is more than the 2 CPUs \
             this command may run on (0, 1); lower --jobs or drop --pin"
        );
    }

    /// A real affinity change, on a thread of its own: the thread and a
    /// process it spawns run only on the CPU it was pinned to.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_pinned_thread_and_what_it_spawns_run_only_on_its_cpu() {
        let allowed = cpu::allowed().unwrap();
        assert!(!allowed.is_empty(), "this thread may run somewhere");
        let cpu = *allowed.last().unwrap();
        let (now, child) = std::thread::spawn(move || {
            cpu::pin_this_thread(cpu).unwrap();
            let now = cpu::allowed().unwrap();
            let child = std::process::Command::new("grep")
                .args(["^Cpus_allowed_list:", "/proc/self/status"])
                .output()
                .unwrap();
            (now, String::from_utf8(child.stdout).unwrap())
        })
        .join()
        .unwrap();
        assert_eq!(now, vec![cpu]);
        assert_eq!(
            child.split_whitespace().nth(1),
            Some(cpu.to_string().as_str())
        );
        // The test's own thread keeps its CPUs.
        assert_eq!(cpu::allowed().unwrap(), allowed);
    }

    #[test]
    fn off_a_terminal_a_plain_line_a_minute_stands_in_for_the_bar() {
        let t0 = std::time::Instant::now();
        let minute = std::time::Duration::from_secs(60);
        assert!(due(None, t0, minute), "the first status line is printed");
        assert!(!due(Some(t0), t0 + minute / 2, minute));
        assert!(due(Some(t0), t0 + minute, minute));
        let status = Status {
            runs: 1_500_000,
            cov: 2926,
            ft: 11511,
        };
        assert_eq!(
            plain_line("session", 10_000_000, 1_510_000, 1000.0, &status),
            "fuzz: session: 1510000 of 10000000 executions (15 %) in 1000 s, 1510/s, cov 2926 ft 11511"
        );
    }

    #[test]
    fn runs_are_shared_among_processes_and_their_figures_combined() {
        assert_eq!(share(10_000_000, 2), [5_000_000, 5_000_000]);
        assert_eq!(share(7, 3), [3, 2, 2]);
        assert_eq!(share(1, 4), [1], "never a process with nothing to do");
        assert_eq!(share(5, 1), [5]);
        let part = |executions, secs: f64, ft, crash: Option<&str>| Outcome {
            target: "t".into(),
            executions,
            secs,
            execs_per_sec: (executions as f64 / secs) as u64,
            cov: ft / 2,
            ft,
            corpus_units: ft / 10,
            corpus_bytes: format!("{ft}b"),
            peak_rss_mb: ft / 4,
            crash: crash.map(String::from),
        };
        let both = combine(
            "t",
            &[
                part(5_000, 10.0, 400, None),
                part(4_000, 8.0, 420, Some("a/crash-1")),
            ],
        );
        assert_eq!(
            both,
            Outcome {
                target: "t".into(),
                executions: 9_000,
                secs: 10.0,
                execs_per_sec: 900,
                cov: 210,
                ft: 420,
                corpus_units: 42,
                corpus_bytes: "420b".into(),
                peak_rss_mb: 105,
                crash: Some("a/crash-1".into()),
            }
        );
        let one = part(5_000, 10.0, 400, None);
        assert_eq!(combine("t", std::slice::from_ref(&one)), one);
    }

    #[test]
    fn regression_inputs_belong_to_targets() {
        let fuzz = crate::repo_root().join("fuzz");
        let targets = targets(&fuzz).unwrap();
        let mut dirs = 0;
        for e in std::fs::read_dir(fuzz.join("regressions")).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                let name = e.file_name().into_string().unwrap();
                assert!(
                    targets.contains(&name),
                    "fuzz/regressions/{name} names no target in fuzz/fuzz_targets/"
                );
                dirs += 1;
            }
        }
        assert!(dirs > 0, "fuzz/regressions/ holds no target's inputs");
    }

    #[test]
    fn lists_the_repositorys_targets() {
        let t = targets(&crate::repo_root().join("fuzz")).unwrap();
        assert_eq!(
            t,
            [
                "descriptor_chain",
                "frontend_message",
                "input_event",
                "net_frame",
                "scsi_request",
                "session"
            ]
        );
    }
}
