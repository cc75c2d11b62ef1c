//! `cargo xtask fuzz --replay`: each target built with the toolchain that
//! runs this command (no nightly, no cargo-fuzz, no sanitizer) and run once
//! over its inputs, without fuzzing. The committed regression inputs are
//! past findings and inputs that reach an oracle; replaying them, with the
//! corpus where one is kept, checks in a minute what a campaign takes hours
//! to: that the targets still build and that no fix has come undone.
//! `cargo xtask test` runs it through a slow test.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::cmd::Cmd;
use crate::exit;

/// Inputs per libFuzzer process: a corpus of thousands is run by several,
/// each command line far below the kernel's limit.
const CHUNK: usize = 500;

/// libFuzzer's limit on one input. The targets' own oracles bound an
/// input's CPU far lower; this catches an input that blocks.
const TIMEOUT_SECS: u64 = 60;

/// One target's inputs, each list sorted by name.
#[derive(Debug, PartialEq)]
pub struct Inputs {
    /// `fuzz/regressions/<target>/`, committed.
    pub regressions: Vec<PathBuf>,
    /// `fuzz/corpus/<target>/`, this machine's own (empty where none is kept).
    pub corpus: Vec<PathBuf>,
}

impl Inputs {
    /// The files of `fuzz_dir`'s regression and corpus directories for
    /// `target`; a directory that does not exist holds none.
    pub fn find(fuzz_dir: &Path, target: &str) -> Result<Inputs> {
        let files = |dir: PathBuf| -> Result<Vec<PathBuf>> {
            if !dir.is_dir() {
                return Ok(Vec::new());
            }
            let mut out = Vec::new();
            for entry in
                std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?
            {
                let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
                if entry.file_type()?.is_file() {
                    out.push(entry.path());
                }
            }
            out.sort();
            Ok(out)
        };
        Ok(Inputs {
            regressions: files(fuzz_dir.join("regressions").join(target))?,
            corpus: files(fuzz_dir.join("corpus").join(target))?,
        })
    }
}

/// What replaying one target showed (`replay.json` holds one per target).
#[derive(Debug, Serialize)]
pub struct Replayed {
    pub target: String,
    /// Inputs run from `fuzz/regressions/<target>/` and from the corpus;
    /// the empty input is run first, on top of these.
    pub regressions: usize,
    pub corpus: usize,
    pub secs: f64,
    pub failures: Vec<Failure>,
}

/// An input the target failed on.
#[derive(Debug, Serialize, PartialEq)]
pub struct Failure {
    /// The input's path, relative to the repository where it is inside it.
    pub input: String,
    /// The panic message, or libFuzzer's error, or how the process ended.
    pub reason: String,
    /// The target's output from that input on (its last lines).
    pub log: String,
}

/// Builds `targets` and replays each one's inputs; the figures go to
/// `fuzz/replay.json` in the workspace's target directory. Exit status 1
/// when any input fails.
pub fn run(root: &Path, targets: &[String]) -> Result<u8> {
    let fuzz_dir = root.join("fuzz");
    let build_dir = fuzz_dir.join("target").join("replay");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("fuzz: replay: building the targets (release, debug assertions, no sanitizer)");
    let mut build = Cmd::new(&cargo)
        .args(["build", "--release", "--locked", "--manifest-path"])
        .arg(fuzz_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&build_dir)
        .env("CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS", "true")
        .env("CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS", "true")
        .cwd(root);
    for t in targets {
        build = build.args(["--bin", t]);
    }
    let built = build.run_inherited()?;
    if !built.success() {
        bail!("`{}` failed ({})", built.command_line(), built.describe());
    }

    let ws = crate::workspace::Workspace::load(root)?;
    let scratch = ws.target_dir.join("fuzz").join("replay");
    std::fs::create_dir_all(&scratch)
        .with_context(|| format!("cannot create {}", scratch.display()))?;
    let empty = scratch.join("empty-input");
    std::fs::write(&empty, b"").with_context(|| format!("cannot write {}", empty.display()))?;
    let summary = ws.target_dir.join("fuzz").join("replay.json");

    let mut replayed = Vec::new();
    for target in targets {
        let inputs = Inputs::find(&fuzz_dir, target)?;
        // libFuzzer refuses an artifact prefix whose directory is missing.
        let artifacts = scratch.join("artifacts").join(target);
        std::fs::create_dir_all(&artifacts)
            .with_context(|| format!("cannot create {}", artifacts.display()))?;
        let binary = build_dir.join("release").join(target);
        let all: Vec<PathBuf> = std::iter::once(empty.clone())
            .chain(inputs.regressions.iter().cloned())
            .chain(inputs.corpus.iter().cloned())
            .collect();
        let started = Instant::now();
        let failures = replay(root, target, &binary, &artifacts, &all)?;
        if crate::cmd::cancelled() {
            // A target cut short is neither shown nor recorded as clean.
            return Ok(exit::INTERRUPTED);
        }
        let r = Replayed {
            target: target.clone(),
            regressions: inputs.regressions.len(),
            corpus: inputs.corpus.len(),
            secs: started.elapsed().as_secs_f64(),
            failures,
        };
        eprintln!("{}", describe(&r, &shown(root, &binary)));
        replayed.push(r);
        // Written after each target: an interrupted replay keeps the
        // targets it finished.
        crate::paths::write_atomic(
            &summary,
            (serde_json::to_string_pretty(&replayed)? + "\n").as_bytes(),
        )?;
    }
    eprintln!("fuzz: replay: summary in {}", summary.display());
    Ok(match replayed.iter().all(|r| r.failures.is_empty()) {
        true => exit::OK,
        false => exit::FAILURES,
    })
}

/// Runs `binary` once over each of `inputs`, [`CHUNK`] to a process; after
/// an input that fails, goes on with the next one. Stops early on Ctrl-C
/// (the caller checks [`crate::cmd::cancelled`]).
fn replay(
    root: &Path,
    target: &str,
    binary: &Path,
    artifacts: &Path,
    inputs: &[PathBuf],
) -> Result<Vec<Failure>> {
    let bar = super::bar(
        format!("fuzz: replay: {target}"),
        inputs.len() as u64,
        "inputs",
    );
    let mut failures = Vec::new();
    let mut next = 0;
    while next < inputs.len() && !crate::cmd::cancelled() {
        let chunk = &inputs[next..(next + CHUNK).min(inputs.len())];
        let out = Cmd::new(binary)
            .arg(format!("-timeout={TIMEOUT_SECS}"))
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .args(chunk)
            .cwd(root)
            .stderr_to_stdout()
            .run_streaming(&mut |line| {
                if line.starts_with("Executed ") {
                    bar.inc(1);
                }
            })?;
        if out.record.cancelled {
            break;
        }
        let log = String::from_utf8_lossy(&out.stdout);
        let run = Run::parse(&log);
        match (out.record.success(), &run.unfinished) {
            (true, None) if run.executed == chunk.len() => next += chunk.len(),
            (false, Some(input)) => {
                let at = chunk
                    .iter()
                    .position(|p| p.as_os_str() == input.as_str())
                    .with_context(|| {
                        format!(
                            "`{}` names an input it was not given: {input}",
                            binary.display()
                        )
                    })?;
                failures.push(Failure {
                    input: shown(root, &chunk[at]),
                    reason: run.reason.unwrap_or_else(|| out.record.describe()),
                    log: run.log,
                });
                bar.inc(1);
                next += at + 1;
            }
            _ => bail!(
                "`{}` ({}) ran {} of its {} inputs:\n{}",
                out.record.command_line(),
                out.record.describe(),
                run.executed,
                chunk.len(),
                crate::cmd::tail(&log, 30, 8192)
            ),
        }
    }
    bar.finish_and_clear();
    Ok(failures)
}

/// What a libFuzzer process's output says of the inputs it was given.
#[derive(Debug, Default, PartialEq)]
struct Run {
    /// Inputs run to their end (`Executed <path> in N ms`).
    executed: usize,
    /// The input that was running when the output ended (`Running: <path>`
    /// with no `Executed` after it).
    unfinished: Option<String>,
    /// Why that input failed: the panic, or else libFuzzer's error.
    reason: Option<String>,
    /// The output from that input on, its last lines.
    log: String,
}

impl Run {
    fn parse(log: &str) -> Run {
        let mut run = Run::default();
        let mut from = 0;
        let mut offset = 0;
        for line in log.split_inclusive('\n') {
            let text = line.trim_end();
            if let Some(path) = text.strip_prefix("Running: ") {
                run.unfinished = Some(path.to_string());
                from = offset;
            } else if text.starts_with("Executed ") {
                run.executed += 1;
                run.unfinished = None;
            }
            offset += line.len();
        }
        if run.unfinished.is_none() {
            return run;
        }
        let after = &log[from..];
        let mut lines = after.lines();
        let panic = lines.by_ref().find_map(|l| {
            l.split_once(" panicked at ")
                .map(|(_, at)| format!("panicked at {}", at.trim_end_matches(':')))
        });
        run.reason = match panic {
            // The message is the line after the location.
            Some(at) => Some(
                match lines.next().map(str::trim).filter(|m| !m.is_empty()) {
                    Some(message) => format!("{at}: {message}"),
                    None => at,
                },
            ),
            None => after.lines().find_map(|l| {
                l.split_once("ERROR: libFuzzer: ")
                    .map(|(_, e)| format!("libFuzzer: {}", e.trim()))
            }),
        };
        run.log = crate::cmd::tail(after, 40, 6000);
        run
    }
}

/// `path` relative to `root` where it is inside it.
fn shown(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// A target's outcome for the terminal: one line when clean; each failing
/// input with its reason and the command that reproduces it otherwise.
fn describe(r: &Replayed, binary: &str) -> String {
    let count = |n: usize, one: &str| match n {
        1 => format!("1 {one} input"),
        n => format!("{n} {one} inputs"),
    };
    let what = format!(
        "{}, {} and the empty input",
        count(r.regressions, "regression"),
        count(r.corpus, "corpus")
    );
    if r.failures.is_empty() {
        return format!(
            "fuzz: replay: {}: {what}, clean in {:.1} s",
            r.target, r.secs
        );
    }
    let mut out = format!(
        "fuzz: replay: {}: {what}; {} FAILED in {:.1} s:",
        r.target,
        r.failures.len(),
        r.secs
    );
    for f in r.failures.iter().take(SHOWN) {
        out.push_str(&format!(
            "\n  {}: {}\n    reproduce: {binary} {}",
            f.input,
            f.reason,
            crate::cmd::shell_quote(&f.input)
        ));
    }
    if r.failures.len() > SHOWN {
        out.push_str(&format!(
            "\n  and {} more, each with its output, in replay.json",
            r.failures.len() - SHOWN
        ));
    }
    out
}

/// Failing inputs listed on the terminal per target; replay.json has all.
const SHOWN: usize = 10;

#[cfg(test)]
mod tests {
    use super::*;

    /// A real log: the session target's regression input replayed with
    /// the log-flag nack taken out of `vu-backend`.
    const FAILED: &str = "\
WARNING: Failed to find function \"__sanitizer_acquire_crash_state\".
INFO: Seed: 774445870
./target/replay/release/session: Running 3 inputs 1 time(s) each.
Running: /w/target/fuzz/replay/empty-input
Executed /w/target/fuzz/replay/empty-input in 0 ms
Running: /w/fuzz/regressions/session/vring-addr-with-log-needs-a-nack

thread '<unnamed>' (16343) panicked at fuzz_targets/session.rs:626:13:
assertion `left != right` failed: SET_VRING_ADDR with logging acked as success
  left: 0
 right: 0
stack backtrace:
   0: __rustc::rust_begin_unwind
==16343== ERROR: libFuzzer: deadly signal
SUMMARY: libFuzzer: deadly signal
";

    #[test]
    fn a_failed_input_is_named_with_its_panic() {
        let run = Run::parse(FAILED);
        assert_eq!(run.executed, 1);
        assert_eq!(
            run.unfinished.as_deref(),
            Some("/w/fuzz/regressions/session/vring-addr-with-log-needs-a-nack")
        );
        assert_eq!(
            run.reason.as_deref(),
            Some(
                "panicked at fuzz_targets/session.rs:626:13: assertion `left != right` failed: \
                 SET_VRING_ADDR with logging acked as success"
            )
        );
        assert!(run.log.starts_with("Running: /w/fuzz/regressions/session/"));
        assert!(run.log.ends_with("SUMMARY: libFuzzer: deadly signal"));
    }

    #[test]
    fn without_a_panic_libfuzzers_error_is_the_reason() {
        let log = "\
Running: /w/fuzz/corpus/session/0a1b
ALARM: working on the last Unit for 61 seconds
==7== ERROR: libFuzzer: timeout after 61 seconds
";
        let run = Run::parse(log);
        assert_eq!(run.executed, 0);
        assert_eq!(
            run.unfinished.as_deref(),
            Some("/w/fuzz/corpus/session/0a1b")
        );
        assert_eq!(
            run.reason.as_deref(),
            Some("libFuzzer: timeout after 61 seconds")
        );
        // Killed with no word (SIGKILL): no reason; the caller gives the signal.
        let run = Run::parse("Running: /w/x\n");
        assert_eq!(
            (run.unfinished.as_deref(), run.reason),
            (Some("/w/x"), None)
        );
    }

    #[test]
    fn a_clean_run_counts_every_input() {
        let log = "\
Running: /w/a
Executed /w/a in 0 ms
Running: /w/b
Executed /w/b in 3 ms
***
*** NOTE: fuzzing was not performed, you have only
";
        assert_eq!(
            Run::parse(log),
            Run {
                executed: 2,
                ..Run::default()
            }
        );
    }

    #[test]
    fn inputs_are_the_files_of_both_directories_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let fuzz = dir.path();
        std::fs::create_dir_all(fuzz.join("regressions/t/sub")).unwrap();
        std::fs::create_dir_all(fuzz.join("corpus/t")).unwrap();
        for f in ["regressions/t/b", "regressions/t/a", "corpus/t/ff"] {
            std::fs::write(fuzz.join(f), b"x").unwrap();
        }
        assert_eq!(
            Inputs::find(fuzz, "t").unwrap(),
            Inputs {
                regressions: vec![fuzz.join("regressions/t/a"), fuzz.join("regressions/t/b")],
                corpus: vec![fuzz.join("corpus/t/ff")],
            }
        );
        assert_eq!(
            Inputs::find(fuzz, "other").unwrap(),
            Inputs {
                regressions: vec![],
                corpus: vec![]
            }
        );
    }

    #[test]
    fn a_failure_is_shown_with_the_command_that_reproduces_it() {
        let r = Replayed {
            target: "session".into(),
            regressions: 1,
            corpus: 0,
            secs: 0.3,
            failures: vec![Failure {
                input: "fuzz/regressions/session/x y".into(),
                reason: "panicked at a.rs:1:1: no".into(),
                log: String::new(),
            }],
        };
        assert_eq!(
            describe(&r, "fuzz/target/replay/release/session"),
            "fuzz: replay: session: 1 regression input, 0 corpus inputs and the empty input; \
             1 FAILED in 0.3 s:\n  fuzz/regressions/session/x y: panicked at a.rs:1:1: no\n    \
             reproduce: fuzz/target/replay/release/session 'fuzz/regressions/session/x y'"
        );
        let many = Replayed {
            failures: (0..12)
                .map(|i| Failure {
                    input: format!("c/{i}"),
                    reason: "r".into(),
                    log: String::new(),
                })
                .collect(),
            ..Replayed {
                target: "t".into(),
                regressions: 0,
                corpus: 12,
                secs: 1.0,
                failures: vec![],
            }
        };
        let shown = describe(&many, "b");
        assert!(
            shown.contains("  c/9: r\n    reproduce: b c/9\n  and 2 more"),
            "{shown}"
        );
        assert!(!shown.contains("c/10"), "{shown}");
        let clean = Replayed {
            failures: vec![],
            corpus: 6554,
            ..r
        };
        assert_eq!(
            describe(&clean, ""),
            "fuzz: replay: session: 1 regression input, 6554 corpus inputs and the empty input, \
             clean in 0.3 s"
        );
    }
}
