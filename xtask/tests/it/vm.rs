//! The VM lane with real guests (slow: set XTASK_SLOW_TESTS=1). Each fault
//! the lane must tell apart is caused for real here: a test that hangs, a
//! guest kernel panic, QEMU exiting early, a guest that dies mid-run, the
//! user pressing Ctrl-C. The serial-console engine that drives BSD guests
//! is exercised on a Linux guest's shell, with the same payload disk.

use std::path::Path;
use std::time::{Duration, Instant};

use xtask::budget::Budget;
use xtask::lanes::vm;
use xtask::lanes::RunnerOutcome;
use xtask::libtest;
use xtask::model::vm_image::{ConsoleScript, ConsoleStep, DiskFormat};
use xtask::model::{DataDirs, Model};
use xtask::results::Status;
use xtask::runner::vm::VmSpec;
use xtask::testing::require;
use xtask::vm::payload::{self, Test};
use xtask::vm::qemu::{Boot, DirectKernel, Disk};
use xtask::vm::session::{self, Ending, Until};

fn model() -> Model {
    Model::load(&DataDirs::under(&xtask::repo_root())).unwrap()
}

fn spec(id: &str) -> VmSpec {
    let model = model();
    let image = &model.vm_images[id];
    require(
        xtask::host::which(&image.qemu).is_some(),
        &image.qemu,
        "cargo xtask setup",
    );
    xtask::runner::vm::resolve_image(id, image)
        .unwrap_or_else(|m| panic!("cannot boot {id}: {} ({:?})", m.reason, m.enable))
}

/// A "test executable" that is a shell script: it runs on every guest architecture.
fn script(dir: &Path, name: &str, body: &str) -> Test {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    Test {
        package: "faults".into(),
        name: name.into(),
        path,
    }
}

/// A script printing what a libtest harness prints for one passing test.
fn passing(dir: &Path, name: &str) -> Test {
    script(
        dir,
        name,
        &format!(
            "echo '{{ \"type\": \"suite\", \"event\": \"started\", \"test_count\": 1 }}'\n\
             echo '{{ \"type\": \"test\", \"event\": \"started\", \"name\": \"{name}::works\" }}'\n\
             echo '{{ \"type\": \"test\", \"name\": \"{name}::works\", \"event\": \"ok\", \"exec_time\": 0.001 }}'"
        ),
    )
}

fn run(spec: &VmSpec, tests: &[Test], timeout: Duration) -> RunnerOutcome {
    let memory = Budget::new(1 << 20);
    vm::run_payload(spec, tests, &[], Instant::now() + timeout, &memory, &|m| {
        eprintln!("  {m}")
    })
    .unwrap()
}

/// Processes whose command line mentions `text` (the unique console socket of a boot).
fn processes_mentioning(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(text) {
                found.push(format!("{}: {cmdline}", e.file_name().to_string_lossy()));
            }
        }
    }
    found
}

/// The console socket path of the boot that `outcome` records.
fn socket_of(outcome: &RunnerOutcome) -> String {
    let qemu = outcome
        .commands
        .last()
        .expect("the QEMU command is recorded");
    qemu.argv
        .iter()
        .find_map(|a| {
            a.split(',')
                .find_map(|p| p.strip_prefix("path="))
                .map(str::to_string)
        })
        .expect("a console socket")
}

fn assert_no_qemu_left(outcome: &RunnerOutcome) {
    let socket = socket_of(outcome);
    let left = processes_mentioning(&socket);
    assert!(left.is_empty(), "QEMU processes left behind: {left:?}");
}

fn outcomes(outcome: &RunnerOutcome) -> Vec<String> {
    outcome
        .runs
        .iter()
        .flat_map(|r| libtest::parse(&r.package, &r.name, &r.stdout, r.ending))
        .map(|t| format!("{} {:?}", t.name, t.outcome))
        .collect()
}

#[test]
#[ignore = "slow: needs qemu-system-x86_64 and a Debian guest built from the archive; run with `cargo xtask test`"]
fn a_hanging_test_hits_the_cell_timeout_and_leaves_no_qemu() {
    let spec = spec("debian12-amd64");
    let dir = tempfile::tempdir().unwrap();
    let tests = [
        passing(dir.path(), "before"),
        script(dir.path(), "hangs", "sleep 100000"),
    ];
    let started = Instant::now();
    let out = run(&spec, &tests, Duration::from_secs(40));
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    let (status, reason) = out.fault.clone().expect("a fault");
    assert_eq!(status, Status::Timeout, "{reason}");
    assert!(
        reason.starts_with("cell timeout: the guest was stopped after"),
        "{reason}"
    );
    assert!(
        reason.contains("while faults::hangs was running"),
        "{reason}"
    );
    // What finished before the hang is kept; the hanging executable is a timeout.
    assert_eq!(outcomes(&out), ["before::works Pass", "<hangs> Timeout"]);
    assert!(
        out.console_tail
            .as_deref()
            .unwrap_or("")
            .contains("@@VHU-RUN 2 faults hangs@@"),
        "{:?}",
        out.console_tail
    );
    assert_no_qemu_left(&out);
}

#[test]
#[ignore = "slow: needs qemu-system-x86_64 and a Debian guest built from the archive; run with `cargo xtask test`"]
fn a_guest_kernel_panic_is_reported_as_such() {
    let spec = spec("debian12-amd64");
    let dir = tempfile::tempdir().unwrap();
    let tests = [
        passing(dir.path(), "before"),
        script(
            dir.path(),
            "panics",
            "echo c > /proc/sysrq-trigger; sleep 60",
        ),
    ];
    let out = run(&spec, &tests, Duration::from_secs(120));
    let (status, reason) = out.fault.clone().expect("a fault");
    assert_eq!(status, Status::Fail);
    assert!(
        reason.starts_with("guest kernel panic while faults::panics was running"),
        "{reason}"
    );
    assert!(reason.contains("Kernel panic - not syncing"), "{reason}");
    assert_eq!(outcomes(&out), ["before::works Pass", "<panics> Fail"]);
    assert!(out
        .console_tail
        .as_deref()
        .unwrap_or("")
        .contains("Kernel panic"));
    assert_no_qemu_left(&out);
}

/// A guest image that cannot be built here (the archive lacks a package:
/// here a kernel flavour Debian does not have, as when a mirror serves no
/// file for an architecture) makes the cell unavailable with the reason,
/// not a failure of the code under test, and boots nothing.
#[test]
#[ignore = "slow: needs the Debian archive's bookworm amd64 package lists; run with `cargo xtask test`"]
fn a_guest_image_the_archive_cannot_provide_makes_the_cell_unavailable() {
    let mut spec = spec("debian12-amd64");
    spec.image_id = "debian12-amd64-unbuildable".into();
    spec.image.debian.as_mut().unwrap().kernel_flavour = "vhu-no-such-flavour".into();
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        &spec,
        &[passing(dir.path(), "never")],
        Duration::from_secs(120),
    );
    let (status, reason) = out.fault.clone().expect("a fault");
    assert_eq!(status, Status::Unavailable, "{reason}");
    assert!(
        reason.starts_with("cannot build the guest image debian12-amd64-unbuildable: ")
            && reason.contains("linux-image-vhu-no-such-flavour")
            && reason.ends_with(
                "(`cargo xtask vm-images build --refresh debian12-amd64-unbuildable` tries again)"
            ),
        "{reason}"
    );
    assert!(out.runs.is_empty() && out.console_tail.is_none());
}

#[test]
#[ignore = "slow: needs qemu-system-x86_64 and a Debian guest built from the archive; run with `cargo xtask test`"]
fn qemu_exiting_early_is_reported_as_such() {
    let mut spec = spec("debian12-amd64");
    spec.image.machine = "no-such-machine".into();
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = run(
        &spec,
        &[passing(dir.path(), "never")],
        Duration::from_secs(60),
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    let (status, reason) = out.fault.clone().expect("a fault");
    assert_eq!(status, Status::Fail);
    assert!(
        reason.starts_with("qemu exited early (exit status 1): "),
        "{reason}"
    );
    assert!(reason.contains("unsupported machine type"), "{reason}");
    assert!(out.runs.is_empty());
    assert_no_qemu_left(&out);
}

#[test]
#[ignore = "slow: needs qemu-system-x86_64 and a Debian guest built from the archive; run with `cargo xtask test`"]
fn a_guest_that_dies_mid_run_leaves_truncated_results() {
    let spec = spec("debian12-amd64");
    let dir = tempfile::tempdir().unwrap();
    let tests = [
        passing(dir.path(), "before"),
        script(dir.path(), "resets", "reboot -f"),
        passing(dir.path(), "after"),
    ];
    let out = run(&spec, &tests, Duration::from_secs(120));
    let (status, reason) = out.fault.clone().expect("a fault");
    assert_eq!(status, Status::Fail);
    assert!(reason.starts_with("results truncated: the console ended before the runner finished (2 of 3 test executables started while faults::resets was running"), "{reason}");
    assert_eq!(outcomes(&out), ["before::works Pass", "<resets> Fail"]);
    assert_no_qemu_left(&out);
}

/// The BSD path on a Linux guest: log in on the console (a busybox shell
/// there), type the command that unpacks the payload disk and starts the
/// runner, read the framed results; then a step that never matches fails
/// with its transcript kept.
#[test]
#[ignore = "slow: needs qemu-system-x86_64 and a Debian guest built from the archive; run with `cargo xtask test`"]
fn the_console_engine_drives_a_shell_like_a_bsd_login() {
    let spec = spec("debian12-amd64");
    let image = &spec.image;
    let built =
        xtask::vm::debian::build(&spec.image_id, image, false, &|m| eprintln!("  {m}")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tests = [passing(dir.path(), "typed")];
    let tar = payload::write(
        &payload::Spec {
            tests: tests.to_vec(),
            bins: vec![],
            args: vec!["--x".into()],
            env: vec![],
            test_limit_secs: 0,
            retries: 0,
        },
        dir.path(),
    )
    .unwrap();
    let boot = || Boot {
        kernel: Some(DirectKernel {
            kernel: built.kernel.clone(),
            initrd: built.initrd.clone(),
            append: xtask::vm::qemu::linux_append(image, &["vhu.shell"]),
        }),
        disks: vec![Disk {
            path: tar.clone(),
            format: DiskFormat::Raw,
            read_only: true,
            snapshot: false,
        }],
        cdrom: None,
    };
    let step = |expect: &str, send: Option<&str>, secs: u64| ConsoleStep {
        expect: Some(expect.into()),
        send: send.map(String::from),
        wait_exit: false,
        timeout: Duration::from_secs(secs),
    };
    let login = ConsoleScript {
        steps: vec![
            step("@@VHU-BOOTED", None, 60),
            step("# ", Some("echo vhu-$((6 * 7))"), 30),
            step("vhu-42", None, 10),
            step("# ", Some("mkdir -p /tmp/vhu && cd /tmp/vhu && tar -xf {payload-device} && sh ./runner.sh"), 10),
        ],
    };
    let request = |script| session::Request {
        image,
        accel: xtask::vm::qemu::Accel::Tcg,
        boot: boot(),
        script: Some(script),
        vars: vec![("payload-device", image.payload_device.as_str())],
        until: Until::Marker("@@VHU-DONE".into()),
        deadline: Instant::now() + Duration::from_secs(120),
        progress: &|m| eprintln!("  {m}"),
    };
    let out = session::run(request(&login), &[], &|_| Vec::new()).unwrap();
    assert_eq!(out.ending, Ending::Reached, "{}", out.transcript);
    let got = vm::interpret(&tests, &out, image);
    assert!(got.fault.is_none(), "{:?}", got.fault);
    assert_eq!(outcomes(&got), ["typed::works Pass"]);

    let stuck = ConsoleScript {
        steps: vec![
            step("# ", Some("echo ready"), 60),
            step("this never appears", None, 3),
        ],
    };
    let out = session::run(request(&stuck), &[], &|_| Vec::new()).unwrap();
    match &out.ending {
        Ending::Step(why) => assert_eq!(
            why,
            "console script step 2 (waiting for `this never appears`) failed: `this never appears` did not appear on the console within 3s"
        ),
        other => panic!("{other:?}\n{}", out.transcript),
    }
    assert!(
        out.transcript.contains("echo ready\r\nready"),
        "the transcript is kept: {:?}",
        out.transcript
    );
    let got = vm::interpret(&tests, &out, image);
    assert!(got
        .fault
        .unwrap()
        .1
        .starts_with("guest session failed: console script step 2"));
}

#[test]
#[ignore = "slow: needs qemu-system-aarch64 and a Debian arm64 guest built from the archive; run with `cargo xtask test`"]
fn an_aarch64_guest_runs_the_payload() {
    let spec = spec("debian12-arm64");
    let dir = tempfile::tempdir().unwrap();
    let tests = [
        passing(dir.path(), "arm"),
        script(dir.path(), "machine", "uname -m; exit 3"),
    ];
    let out = run(&spec, &tests, Duration::from_secs(180));
    assert!(
        out.fault.is_none(),
        "{:?}\n{:?}",
        out.fault,
        out.console_tail
    );
    assert_eq!(outcomes(&out), ["arm::works Pass", "<machine> Fail"]);
    assert!(
        out.runs[1].stdout.starts_with("aarch64"),
        "{:?}",
        out.runs[1].stdout
    );
    assert_eq!(out.details["accelerator"], "tcg");
    assert!(
        out.details["guest"].contains("aarch64"),
        "{:?}",
        out.details
    );
    let boot: f64 = out.details["guest-boot-secs"].parse().unwrap();
    eprintln!("aarch64 boot to first test: {boot}s");
}

fn fixture_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &xtask::repo_root().join("xtask/tests/fixtures/ws-basic"),
        dir.path(),
    );
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn xtask_matrix(workspace: &Path, extra: &[&str]) -> std::process::Command {
    // The binary under test, run the way a user runs it.
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.args(["matrix", "--workspace"])
        .arg(workspace)
        .args(["--platform", "linux-debian12-x86_64", "--no-report"])
        .args(extra);
    cmd
}

fn results(workspace: &Path) -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(workspace.join("target/matrix/results.json")).unwrap(),
    )
    .unwrap()
}

#[test]
#[ignore = "slow: needs qemu-system-x86_64 and a Debian guest built from the archive; run with `cargo xtask test`"]
fn the_matrix_runs_the_fixture_in_an_x86_64_guest() {
    let ws = fixture_copy();
    let out = xtask_matrix(ws.path(), &["--stage", "test", "--lane", "vm"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The fixture has a test that fails on purpose.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let results = results(ws.path());
    let cell = &results["cells"][0];
    assert_eq!(cell["id"], "linux-debian12-x86_64/test@vm");
    let tests: Vec<String> = cell["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{} {} {}",
                t["binary"].as_str().unwrap(),
                t["name"].as_str().unwrap(),
                t["outcome"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        tests,
        [
            "demo tests::adds pass",
            "demo tests::fails_on_purpose fail",
            "sibling runs_the_sibling_binary pass"
        ],
        "{stderr}"
    );
    let details = &cell["provenance"]["details"];
    for key in [
        "kernel",
        "qemu",
        "accelerator",
        "accelerator-reason",
        "guest-boot-secs",
        "vm-image",
        "vm-image-key",
    ] {
        assert!(
            details.get(key).is_some(),
            "provenance lacks {key}: {details}"
        );
    }
}

/// Ctrl-C while a guest runs: the run stops, no QEMU survives, and the
/// results obtained before it are kept.
///
/// The test waits for events the matrix prints, not for time or process
/// names: the host cell's finished line, then the VM cell's "guest running"
/// message (`XTASK_PROGRESS_MESSAGES=1`), sent once QEMU runs and its console
/// is connected. Only then is SIGINT sent.
#[test]
#[ignore = "slow: needs qemu-system-x86_64 and a Debian guest built from the archive; run with `cargo xtask test`"]
fn ctrl_c_mid_run_keeps_earlier_results_and_leaves_no_qemu() {
    let ws = fixture_copy();
    let mut child = xtask_matrix(
        ws.path(),
        &[
            "--stage",
            "test",
            "--lane",
            "host,vm",
            "--jobs",
            "1",
            "--keep-going",
        ],
    )
    .env("XTASK_PROGRESS_MESSAGES", "1")
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let pid = child.id();
    // Every stderr line, as it arrives.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    // A bound on a hung run (a cold cache builds the guest image), not a synchronisation.
    let limit = Instant::now() + Duration::from_secs(900);
    let mut wait_for = |what: &str, is: &dyn Fn(&str) -> bool| loop {
        let left = limit.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let hit = is(&line);
                seen.push(line);
                if hit {
                    return;
                }
            }
            Err(_) => panic!("no {what} in:\n{}", seen.join("\n")),
        }
    };
    let host_cell = "linux-debian12-x86_64/test@host";
    wait_for("finished host cell", &|l| {
        l.contains(host_cell) && !l.contains("] start ")
    });
    wait_for("running guest", &|l| {
        l.contains("linux-debian12-x86_64/test@vm: guest running")
    });
    // The guest's QEMU is running now: its pid, to check that it goes.
    let qemu = children_named(pid, "qemu-system").expect("a running guest's QEMU");
    // SAFETY: a plain signal to the child this test spawned.
    unsafe {
        libc::kill(pid as i32, libc::SIGINT);
    }
    let status = child.wait().unwrap();
    reader.join().unwrap();
    seen.extend(rx.try_iter());
    let stderr = seen.join("\n");
    assert_eq!(status.code(), Some(130), "{stderr}");
    // Waiting for the kernel to reap it: QEMU is stopped before the run
    // exits, so the bound only turns a survivor into a failure.
    let gone = Instant::now();
    while Path::new(&format!("/proc/{qemu}")).exists() && !is_zombie(qemu) {
        assert!(
            gone.elapsed() < Duration::from_secs(10),
            "QEMU (pid {qemu}) outlived the interrupted run"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let results = results(ws.path());
    let ids: Vec<&str> = results["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    // Every planned cell is in the results file (issue 14): the host cell's
    // result is kept, and the interrupted one, which obtained nothing, is
    // recorded as not run, with the reason.
    assert_eq!(
        ids,
        [host_cell, "linux-debian12-x86_64/test@vm"],
        "the host cell's result is kept, the interrupted one is recorded as not run: {stderr}"
    );
    let interrupted = &results["cells"][1];
    assert_eq!(interrupted["status"], "not-run", "{interrupted:#}");
    assert!(
        interrupted["reason"]
            .as_str()
            .unwrap()
            .contains("interrupted"),
        "{interrupted:#}"
    );
    assert!(stderr.contains("interrupted"), "{stderr}");
}

/// The pid of a child of `parent` whose command name starts with `prefix`.
fn children_named(parent: u32, prefix: &str) -> Option<u32> {
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid …: comm may hold spaces, so split after the last ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head.split_once('(').map(|(_, c)| c).unwrap_or("");
        let ppid: u32 = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        if ppid == parent && comm.starts_with(prefix) {
            return Some(pid);
        }
    }
    None
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}
