//! The VM lane's runner: a cell's test executables run inside a real guest
//! of the platform's OS and architecture, booted under QEMU from the image
//! `vm-images/` names for it. Results come back framed on the console and
//! are read like every other lane's; a guest's failures (kernel panic, QEMU
//! exiting early, truncated or corrupt results, the cell's timeout) are
//! told apart, each with the end of the console in the result.

use anyhow::Result;

use super::{CellCtx, ExeRun, Payload, RunnerOutcome};
use crate::cmd::tail;
use crate::libtest::{self, Ending};
use crate::model::VmImage;
use crate::results::Status;
use crate::runner::vm::VmSpec;
use crate::vm::frame::{self, FrameError};
use crate::vm::qemu::{self, Boot, DirectKernel, Disk};
use crate::vm::session::{self, Until};
use crate::vm::{accel, bsd, debian, payload};

/// Console markers whose first arrival is timed.
const BOOTED: &str = "@@VHU-BOOTED";
const START: &str = "@@VHU-START";
const FIRST_RUN: &str = "@@VHU-RUN";
const DONE: &str = "@@VHU-DONE";

pub(super) fn run_tests(
    spec: &VmSpec,
    payload: &Payload,
    ctx: &CellCtx<'_>,
) -> Result<RunnerOutcome> {
    let tests: Vec<payload::Test> = payload
        .tests
        .iter()
        .map(|e| payload::Test {
            package: e.package.clone(),
            name: e.name.clone(),
            path: e.path.clone(),
        })
        .collect();
    let bins: Vec<std::path::PathBuf> = payload.bins.iter().map(|b| b.path.clone()).collect();
    let progress = |m: &str| (ctx.progress)(m);
    let limit = Some(ctx.test_limit);
    let injected = injected_boot_faults();
    retrying(ctx.infra_retries, &progress, |attempt| {
        let extra: &[&str] = if attempt <= injected {
            &[INJECTED_BOOT_FAULT]
        } else {
            &[]
        };
        let extra = Extra {
            limit,
            retries: ctx.retries,
            kernel_args: extra,
        };
        run_payload_limited(
            spec,
            &tests,
            &bins,
            ctx.deadline,
            ctx.memory,
            &progress,
            extra,
        )
    })
}

/// `XTASK_INJECT_BOOT_FAULTS=N`: the first N boots of each Linux guest cell
/// get a kernel argument naming an init that does not exist, so the kernel
/// panics before the runner starts: a real boot failure, for the tests of
/// the infrastructure retry. Unset (or 0) in every ordinary run.
fn injected_boot_faults() -> u32 {
    std::env::var("XTASK_INJECT_BOOT_FAULTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The kernel argument of an injected boot fault: no such init in the initramfs.
const INJECTED_BOOT_FAULT: &str = "rdinit=/vhu-injected-boot-fault";

/// Boots the guest, runs `tests` in it (with `bins` as their siblings) and
/// reads the results; `deadline` is when the guest is stopped.
pub fn run_payload(
    spec: &VmSpec,
    tests: &[payload::Test],
    bins: &[std::path::PathBuf],
    deadline: std::time::Instant,
    memory: &crate::budget::Budget,
    progress: &dyn Fn(&str),
) -> Result<RunnerOutcome> {
    run_payload_limited(
        spec,
        tests,
        bins,
        deadline,
        memory,
        progress,
        Extra::default(),
    )
}

/// Is this fault the guest's, not the tests'? A guest that never got to run
/// the payload (no boot, QEMU gone, the runner never started), or whose
/// results came back cut short or damaged. A kernel panic while a test runs
/// can be the test's doing, and a cell timeout is the cell's: neither is.
pub fn is_infrastructure_fault(outcome: &RunnerOutcome) -> bool {
    let Some((status, reason)) = &outcome.fault else {
        return false;
    };
    if *status != Status::Fail {
        return false;
    }
    let before_tests = outcome.runs.is_empty();
    reason.starts_with("qemu exited early")
        || reason.starts_with("the guest stopped before the runner started")
        || reason.starts_with("results truncated")
        || reason.starts_with("results corrupt")
        || reason.starts_with("guest session failed")
        || (reason.starts_with("guest kernel panic") && before_tests)
}

/// Runs `attempt` once, and again (up to `retries` more times) while it
/// ends in an infrastructure fault; every attempt's fault is kept in the
/// provenance (`attempts`, `attempt-<n>`), so a retried cell says so.
pub fn retrying(
    retries: u32,
    progress: &dyn Fn(&str),
    mut attempt: impl FnMut(u32) -> Result<RunnerOutcome>,
) -> Result<RunnerOutcome> {
    let mut faults: Vec<String> = Vec::new();
    let mut commands = Vec::new();
    let mut n = 1;
    loop {
        let mut outcome = attempt(n)?;
        let infra = is_infrastructure_fault(&outcome);
        if infra && n <= retries && !crate::cmd::cancelled() {
            let (_, reason) = outcome.fault.clone().expect("an infrastructure fault");
            progress(&format!("infrastructure fault, retrying ({reason})"));
            faults.push(reason);
            commands.append(&mut outcome.commands);
            n += 1;
            continue;
        }
        if n > 1 || infra {
            outcome.details.insert("attempts".into(), n.to_string());
            for (i, f) in faults.iter().enumerate() {
                outcome.details.insert(
                    format!("attempt-{}", i + 1),
                    format!("infrastructure fault: {f}"),
                );
            }
            if infra {
                outcome.infrastructure = true;
                let (status, reason) = outcome.fault.take().expect("an infrastructure fault");
                outcome.fault = Some((
                    status,
                    format!(
                        "infrastructure fault after {n} attempt{}: {reason}",
                        if n == 1 { "" } else { "s" }
                    ),
                ));
            }
        }
        commands.append(&mut outcome.commands);
        outcome.commands = commands;
        return Ok(outcome);
    }
}

/// What a cell's boot adds to a plain [`run_payload`].
#[derive(Clone, Copy, Default)]
pub struct Extra<'a> {
    /// The per-test limit the guest runner enforces.
    pub limit: Option<std::time::Duration>,
    /// How many times the guest runner reruns a failing test (`--retries`).
    pub retries: u32,
    /// More kernel arguments (Linux guests).
    pub kernel_args: &'a [&'a str],
}

/// [`run_payload`] with a per-test limit (the guest runner kills a test
/// past it, names it, and runs the executable's other tests) and extra
/// kernel arguments for Linux guests.
pub fn run_payload_limited(
    spec: &VmSpec,
    tests: &[payload::Test],
    bins: &[std::path::PathBuf],
    deadline: std::time::Instant,
    memory: &crate::budget::Budget,
    progress: &dyn Fn(&str),
    extra: Extra<'_>,
) -> Result<RunnerOutcome> {
    let Extra {
        limit,
        retries,
        kernel_args,
    } = extra;
    let image = &spec.image;
    let id = &spec.image_id;
    let dir = tempfile::Builder::new().prefix("vhu-payload-").tempdir()?;
    let mut args: Vec<String> = libtest::JSON_ARGS.iter().map(|s| s.to_string()).collect();
    if limit.is_some() {
        // One test at a time, so that the runner knows which one hung, and
        // uncaptured, so that what a killed test printed is not lost with it.
        args.push("--test-threads=1".into());
        args.push(libtest::NOCAPTURE_ARG.into());
    }
    let spec_payload = payload::Spec {
        tests: tests.to_vec(),
        bins: bins.to_vec(),
        args,
        env: vec![("RUSTC_BOOTSTRAP".into(), "1".into())],
        test_limit_secs: limit.map(|l| l.as_secs().max(1)).unwrap_or(0),
        retries,
    };
    let tar = payload::write(&spec_payload, dir.path())?;
    let payload_disk = Disk {
        path: tar,
        format: crate::model::vm_image::DiskFormat::Raw,
        read_only: true,
        snapshot: false,
    };

    let mut details = std::collections::BTreeMap::new();
    details.insert("vm-image".to_string(), id.clone());
    details.insert("qemu".to_string(), spec.qemu_version.clone());
    let (boot, choice, script) = if image.debian.is_some() {
        progress(&format!("preparing guest image {id}"));
        let built = match debian::build(id, image, false, progress) {
            Ok(built) => built,
            // Packages the archive does not serve here, a full disk: this
            // host's state, not a result of the code under test.
            Err(err) if !crate::cmd::cancelled() => {
                return Ok(RunnerOutcome {
                    fault: Some((
                        Status::Unavailable,
                        format!(
                            "cannot build the guest image {id}: {err:#} (`cargo xtask vm-images build --refresh {id}` tries again)"
                        ),
                    )),
                    details,
                    ..RunnerOutcome::default()
                });
            }
            Err(err) => return Err(err),
        };
        details.insert("vm-image-key".into(), built.meta.key[..16].to_string());
        details.insert("kernel".into(), built.meta.kernel_release.clone());
        let choice = accel::choose(image, &built, progress);
        let boot = Boot {
            kernel: Some(DirectKernel {
                kernel: built.kernel.clone(),
                initrd: built.initrd.clone(),
                append: qemu::linux_append(image, kernel_args),
            }),
            disks: vec![payload_disk],
            cdrom: None,
        };
        (boot, choice, None)
    } else {
        progress(&format!("preparing guest image {id}"));
        let ready = bsd::prepare(id, image, progress)?;
        details.insert(
            "vm-image-sha256".into(),
            spec.content.clone().unwrap_or_default(),
        );
        let boot_disk = Disk {
            path: ready.path.clone(),
            format: ready.format,
            read_only: false,
            snapshot: true,
        };
        let boot = Boot {
            kernel: None,
            disks: vec![boot_disk, payload_disk],
            cdrom: None,
        };
        (
            boot,
            accel::choose_for_download(image),
            image.session_script(),
        )
    };
    details.insert("accelerator".into(), choice.accel.as_str().to_string());
    details.insert("accelerator-reason".into(), choice.reason.clone());

    let _memory = memory.acquire(u64::from(image.memory_mib) + GUEST_OVERHEAD_MIB, progress);
    progress(&format!(
        "booting {id} ({}) with {} test executables",
        choice.accel.as_str(),
        tests.len()
    ));
    let req = session::Request {
        image,
        accel: choice.accel,
        boot,
        script,
        vars: vec![("payload-device", image.payload_device.as_str())],
        until: Until::Marker(DONE.into()),
        deadline,
        progress,
    };
    let out = session::run(req, &[BOOTED, START, FIRST_RUN, DONE], &|t| {
        frame::scan(t).runs.iter().map(|r| r.offset).collect()
    })?;
    if out.ending == session::Ending::Cancelled {
        anyhow::bail!("interrupted");
    }
    let mut outcome = interpret(tests, &out, image);
    outcome.details.extend(details);
    outcome.commands.push(out.qemu.clone());
    Ok(outcome)
}

/// What QEMU and TCG's translation cache take beside the guest's own memory.
pub const GUEST_OVERHEAD_MIB: u64 = 256;

/// Turns a finished boot into per-executable runs, provenance and, when the
/// guest itself failed, the fault.
pub fn interpret(
    tests: &[payload::Test],
    out: &session::Outcome,
    image: &VmImage,
) -> RunnerOutcome {
    let scan = frame::scan(&out.transcript);
    let mut outcome = RunnerOutcome::default();
    let text = |name: &str| match scan.frame(name) {
        Some(Ok(bytes)) => Some(String::from_utf8_lossy(bytes).into_owned()),
        _ => None,
    };
    for (i, test) in tests.iter().enumerate() {
        let n = i + 1;
        let started = scan.runs.iter().any(|r| r.index == n);
        let status = text(&format!("{n}.status")).and_then(|s| s.trim().parse::<i32>().ok());
        let ending = match status {
            Some(code) if code > 128 && code < 128 + 65 => Ending::Signalled(code - 128),
            Some(code) => Ending::Exited(code),
            None if !started => continue,
            None if out.ending == session::Ending::Deadline => Ending::TimedOut,
            None => Ending::Lost,
        };
        let mut stdout = text(&format!("{n}.out")).unwrap_or_default();
        if ending != Ending::Exited(0) {
            if let Some(err) = text(&format!("{n}.err")).filter(|e| !e.trim().is_empty()) {
                // Plain lines: what a crashing executable said on stderr.
                stdout.push('\n');
                stdout.push_str(&err);
            }
        }
        outcome.runs.push(ExeRun {
            package: test.package.clone(),
            name: test.name.clone(),
            retried: libtest::reruns(&stdout),
            stdout,
            ending,
            record: None,
        });
    }
    if let Some(kernel) = &scan.booted {
        outcome.details.insert("kernel".into(), kernel.clone());
    }
    if let Some(Ok(info)) = scan.frame("info") {
        outcome.details.insert(
            "guest".into(),
            String::from_utf8_lossy(info).trim().to_string(),
        );
    }
    let first_test = out
        .mark(FIRST_RUN)
        .or(out.mark(START).filter(|_| scan.start == Some(0)));
    if let Some(secs) = first_test {
        outcome
            .details
            .insert("guest-boot-secs".into(), format!("{secs:.1}"));
    }
    if let Some(secs) = out.mark(BOOTED) {
        outcome
            .details
            .insert("kernel-boot-secs".into(), format!("{secs:.1}"));
    }
    outcome.fault = fault(tests, out, &scan, image);
    if outcome.fault.is_some() {
        outcome.console_tail = Some(readable_tail(&out.transcript, image.panic_pattern()));
    }
    outcome
}

fn fault(
    tests: &[payload::Test],
    out: &session::Outcome,
    scan: &frame::Scan,
    image: &VmImage,
) -> Option<(Status, String)> {
    let ran = scan.runs.len();
    let running = || {
        scan.runs
            .last()
            .filter(|r| scan.frame(&format!("{}.status", r.index)).is_none())
            .map(|r| {
                let since = out
                    .offsets
                    .iter()
                    .find(|(o, _)| *o == r.offset)
                    .map(|(_, s)| *s);
                format!(
                    " while {}::{} was running{}",
                    r.package,
                    r.name,
                    since
                        .map(|s| format!(" (started {s:.0}s after boot began)"))
                        .unwrap_or_default()
                )
            })
    };
    if let Some(line) = out
        .transcript
        .lines()
        .find(|l| l.contains(image.panic_pattern()))
    {
        return Some((
            Status::Fail,
            format!(
                "guest kernel panic{}: {}",
                running().unwrap_or_default(),
                line.trim()
            ),
        ));
    }
    match &out.ending {
        session::Ending::Deadline => {
            return Some((
                Status::Timeout,
                format!(
                    "cell timeout: the guest was stopped after {:.0}s{}",
                    out.qemu.duration_secs,
                    running().unwrap_or_else(|| format!(
                        " ({ran} of {} test executables started)",
                        tests.len()
                    ))
                ),
            ))
        }
        session::Ending::Step(why) => {
            return Some((Status::Fail, format!("guest session failed: {why}")))
        }
        _ => {}
    }
    let qemu_failed = out.qemu.exit_code.is_some_and(|c| c != 0)
        || (out.qemu.exit_code.is_none() && out.ending != session::Ending::Reached);
    if scan.start.is_none() && scan.booted.is_none() && qemu_failed {
        let stderr = tail(&out.qemu.stderr_tail, 3, 600);
        return Some((
            Status::Fail,
            format!(
                "qemu exited early ({}){}",
                out.qemu.describe(),
                if stderr.is_empty() {
                    String::new()
                } else {
                    format!(": {stderr}")
                }
            ),
        ));
    }
    if let Some(err) = scan.notes.iter().find(|n| n.starts_with("ERROR")) {
        return Some((
            Status::Fail,
            format!("guest error: {}", err.trim_start_matches("ERROR ").trim()),
        ));
    }
    let damaged = scan.damaged();
    let truncated: Vec<String> = damaged
        .iter()
        .filter(|(_, e)| matches!(e, FrameError::Truncated { .. }))
        .map(|(n, e)| format!("frame {n} {e}"))
        .collect();
    let corrupt: Vec<String> = damaged
        .iter()
        .filter(|(_, e)| matches!(e, FrameError::Corrupt(_)))
        .map(|(n, e)| format!("frame {n} {e}"))
        .collect();
    if !corrupt.is_empty() {
        return Some((
            Status::Fail,
            format!("results corrupt: {}", corrupt.join("; ")),
        ));
    }
    if !truncated.is_empty() {
        return Some((
            Status::Fail,
            format!("results truncated: {}", truncated.join("; ")),
        ));
    }
    if scan.start.is_none() {
        return Some((
            Status::Fail,
            format!(
                "the guest stopped before the runner started (QEMU {})",
                out.qemu.describe()
            ),
        ));
    }
    match scan.done {
        None => Some((
            Status::Fail,
            format!(
                "results truncated: the console ended before the runner finished ({ran} of {} test executables started{}; QEMU {})",
                tests.len(),
                running().unwrap_or_default(),
                out.qemu.describe()
            ),
        )),
        Some(done) if done != tests.len() => Some((
            Status::Fail,
            format!("results truncated: the runner ran {done} test executables, the payload has {}", tests.len()),
        )),
        Some(_) => None,
    }
}

/// Lines of console a report keeps, and their bytes at most.
const TAIL_LINES: usize = 40;
const TAIL_BYTES: usize = 6000;
/// How far back the tail reaches for a kernel panic's own line, whose
/// trace (its speculative `?` frames vary from run to run) can outgrow
/// [`TAIL_LINES`], and the bytes it may then take.
const PANIC_TAIL_LINES: usize = 100;
const PANIC_TAIL_BYTES: usize = 12000;

/// The end of the console, with the frames' base64 bodies folded away: the
/// last [`TAIL_LINES`] lines, reaching further back to the last line with
/// `panic` (the image's kernel panic pattern) when that line is within
/// [`PANIC_TAIL_LINES`] of the end, so that the panic is not cut off by
/// its own trace.
pub fn readable_tail(transcript: &str, panic: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut folded = 0usize;
    for raw in transcript.lines() {
        let line = raw.trim_end_matches('\r');
        let is_b64 = line.len() >= 16
            && line
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '=');
        if is_b64 {
            folded += 1;
            continue;
        }
        if folded > 0 {
            lines.push(format!("[{folded} lines of base64]"));
            folded = 0;
        }
        lines.push(line.to_string());
    }
    if folded > 0 {
        lines.push(format!("[{folded} lines of base64]"));
    }
    let keep = match lines.iter().rposition(|l| l.contains(panic)) {
        Some(at) if lines.len() - at > TAIL_LINES && lines.len() - at <= PANIC_TAIL_LINES => {
            (lines.len() - at, PANIC_TAIL_BYTES)
        }
        _ => (TAIL_LINES, TAIL_BYTES),
    };
    tail(&lines.join("\n"), keep.0, keep.1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::CommandRecord;
    use crate::model::Model;
    use crate::vm::frame::encode;
    use crate::vm::session::{Ending as Boot, Outcome};

    fn model() -> Model {
        Model::load(&crate::model::DataDirs::under(&crate::repo_root())).unwrap()
    }

    fn tests() -> Vec<payload::Test> {
        ["a", "b"]
            .iter()
            .map(|n| payload::Test {
                package: "p".into(),
                name: n.to_string(),
                path: "/x".into(),
            })
            .collect()
    }

    fn ran(n: usize, status: &str) -> String {
        format!(
            "@@VHU-RUN {n} p {}@@\r\n{}{}{}",
            if n == 1 { "a" } else { "b" },
            encode(
                &format!("{n}.out"),
                b"{ \"type\": \"test\", \"name\": \"t\", \"event\": \"ok\" }\n"
            ),
            encode(&format!("{n}.err"), b""),
            encode(&format!("{n}.status"), status.as_bytes())
        )
    }

    fn outcome(ending: Boot, transcript: String, exit_code: Option<i32>, stderr: &str) -> Outcome {
        let qemu = CommandRecord {
            argv: vec!["qemu-system-x86_64".into()],
            exit_code,
            signal: if exit_code.is_none() { Some(9) } else { None },
            duration_secs: 30.0,
            stderr_tail: stderr.into(),
            ..CommandRecord::default()
        };
        Outcome {
            ending,
            transcript,
            qemu,
            started: std::time::Instant::now(),
            marks: Vec::new(),
            offsets: Vec::new(),
        }
    }

    /// Each fault the lane tells apart, from a console transcript and QEMU's end.
    #[test]
    fn tells_guest_faults_apart() {
        let head = "@@VHU-BOOTED 6.1.0@@\r\n@@VHU-START 2@@\r\n".to_string();
        let cases = vec![
            ("clean", outcome(Boot::Reached, format!("{head}{}{}@@VHU-DONE 2@@\r\n", ran(1, "0\n"), ran(2, "101\n")), None, "")),
            (
                "panic",
                outcome(
                    Boot::QemuExited,
                    format!("{head}{}@@VHU-RUN 2 p b@@\r\n[ 3.1] Kernel panic - not syncing: sysrq triggered crash\r\n", ran(1, "0\n")),
                    Some(0),
                    "",
                ),
            ),
            ("hang", outcome(Boot::Deadline, format!("{head}{}@@VHU-RUN 2 p b@@\r\n", ran(1, "0\n")), None, "")),
            ("qemu exits early", outcome(Boot::QemuExited, String::new(), Some(1), "qemu-system-x86_64: unsupported machine type")),
            (
                "corrupt",
                outcome(Boot::Reached, format!("{head}{}{}@@VHU-DONE 2@@\r\n", ran(1, "0\n"), ran(2, "0\n").replace("====", "=x==")), None, ""),
            ),
            ("cut", outcome(Boot::QemuExited, format!("{head}{}", ran(1, "0\n")), Some(0), "")),
            ("cut mid-frame", outcome(Boot::QemuExited, format!("{head}{}", &ran(1, "0\n")[..150]), Some(0), "")),
            ("payload disk unreadable", outcome(Boot::QemuExited, "@@VHU-BOOTED 6.1.0@@\r\n@@VHU-ERROR cannot unpack the payload disk /dev/vda@@\r\n".into(), Some(0), "")),
            ("crash by signal", outcome(Boot::Reached, format!("{head}{}{}@@VHU-DONE 2@@\r\n", ran(1, "0\n"), ran(2, "139\n")), None, "")),
        ];
        let image = &model().vm_images["debian12-amd64"];
        let mut out = String::new();
        for (name, o) in cases {
            let got = interpret(&tests(), &o, image);
            let runs: Vec<String> = got
                .runs
                .iter()
                .map(|r| format!("{}={:?}", r.name, r.ending))
                .collect();
            let fault = got
                .fault
                .map(|(s, r)| format!("{s}: {r}"))
                .unwrap_or_else(|| "no fault".into());
            out.push_str(&format!("{name}: {fault}\n  runs {}\n", runs.join(" ")));
        }
        expect_test::expect_file!["vm_faults.txt"].assert_eq(&out);
    }

    /// A guest that fails to boot once is booted again, and the cell says
    /// so; a failing test is never a reason to boot again.
    #[test]
    fn infrastructure_faults_are_retried_and_test_failures_are_not() {
        let image = &model().vm_images["debian12-amd64"];
        let head = "@@VHU-BOOTED 6.1.0@@\r\n@@VHU-START 2@@\r\n".to_string();
        let clean = format!("{head}{}{}@@VHU-DONE 2@@\r\n", ran(1, "0\n"), ran(2, "0\n"));
        let failing = format!(
            "{head}{}{}@@VHU-DONE 2@@\r\n",
            ran(1, "0\n"),
            ran(2, "101\n")
        );
        let boot_panic = "@@VHU-BOOTED 6.1.0@@\r\n[ 1.2] Kernel panic - not syncing: injected\r\n";
        let quiet = |_: &str| {};

        // Panics once, then boots.
        let mut boots = 0;
        let got = retrying(1, &quiet, |_| {
            boots += 1;
            let o = if boots == 1 {
                outcome(Boot::QemuExited, boot_panic.to_string(), Some(0), "")
            } else {
                outcome(Boot::Reached, clean.clone(), None, "")
            };
            Ok(interpret(&tests(), &o, image))
        })
        .unwrap();
        assert_eq!(boots, 2);
        assert!(got.fault.is_none(), "{:?}", got.fault);
        assert_eq!(got.details["attempts"], "2");
        assert!(got.details["attempt-1"].starts_with("infrastructure fault: guest kernel panic"));
        assert_eq!(got.commands.len(), 0, "interpret adds no commands");

        // Never boots: retried once, then reported as an infrastructure fault.
        let mut boots = 0;
        let got = retrying(1, &quiet, |_| {
            boots += 1;
            Ok(interpret(
                &tests(),
                &outcome(
                    Boot::QemuExited,
                    String::new(),
                    Some(1),
                    "qemu: bad machine",
                ),
                image,
            ))
        })
        .unwrap();
        assert_eq!(boots, 2);
        let (_, reason) = got.fault.unwrap();
        assert!(
            reason.starts_with("infrastructure fault after 2 attempts: qemu exited early"),
            "{reason}"
        );

        // A failing test: one boot, no retry, no attempts noted.
        let mut boots = 0;
        let got = retrying(1, &quiet, |_| {
            boots += 1;
            Ok(interpret(
                &tests(),
                &outcome(Boot::Reached, failing.clone(), None, ""),
                image,
            ))
        })
        .unwrap();
        assert_eq!(boots, 1);
        assert!(got.fault.is_none());
        assert!(!got.details.contains_key("attempts"));
        assert_eq!(got.runs[1].ending, Ending::Exited(101));
    }

    #[test]
    fn the_console_tail_keeps_a_panic_whose_trace_is_long() {
        let panic = "Kernel panic - not syncing";
        let console = |trace: usize| {
            let mut c =
                String::from("boot\nVGhpcyBpcyBiYXNlNjQgZnJhbWU=\nsysrq: Trigger a crash\n");
            c.push_str("Kernel panic - not syncing: sysrq triggered crash\n");
            for i in 0..trace {
                c.push_str(&format!(" ? frame_{i}+0x10/0x20\n"));
            }
            c.push_str("Kernel Offset: disabled\n");
            c
        };
        // A short trace: the last 40 lines hold it all, base64 folded.
        let short = readable_tail(&console(10), panic);
        assert!(
            short.starts_with("boot\n[1 lines of base64]\nsysrq"),
            "{short}"
        );
        // A trace of 50 lines: the tail starts at the panic, not 40 lines up.
        let long = readable_tail(&console(50), panic);
        assert!(
            long.starts_with("Kernel panic - not syncing: sysrq"),
            "{long}"
        );
        assert_eq!(long.lines().count(), 52);
        assert!(long.ends_with("Kernel Offset: disabled"));
        // A panic further up than 100 lines: the plain 40-line tail.
        let far = readable_tail(&console(150), panic);
        assert_eq!(far.lines().count(), 40);
        assert!(!far.contains("Kernel panic"));
        // No panic: the last 40 lines.
        let none = readable_tail(&console(50).replace("Kernel panic", "Oops"), panic);
        assert_eq!(none.lines().count(), 40);
    }
}
