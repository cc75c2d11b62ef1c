//! `cargo xtask bench blk`: our vhost-user-blk back-end against
//! qemu-storage-daemon's vhost-user-blk export and a pread ceiling, on the
//! same file, with the same front-end driver (`crates/vu-bench`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

mod net;
mod scsi;

use crate::cmd::{Cmd, Spawned};
use crate::exit;
use crate::host::which;

/// Benchmark a back-end against its peers.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub what: What,
}

#[derive(Debug, clap::Subcommand)]
pub enum What {
    Blk(BlkArgs),
    Net(net::NetArgs),
    Scsi(scsi::ScsiArgs),
    /// Unpack DPDK's dpdk-testpmd (the host release's packages, only what
    /// it loads) into the cache, for `bench net`; the host's dpkg state is
    /// left alone. `cargo xtask setup` runs this.
    UnpackDpdk,
}

/// Benchmark vhost-user-blk: ours, qemu-storage-daemon's export, and a pread ceiling.
///
/// Builds `vu-bench` and `vhost-user-blk` in release mode, writes a test file
/// (self-describing 4 KiB blocks, so every read is checked), starts our
/// back-end (`--read-only`) and `qemu-storage-daemon` (`driver=file`,
/// `cache.direct=off`, `read-only=on`; export `writable=off`) on it with the
/// same number of queues, and has the same front-end driver run each
/// workload against both, then the ceiling: `pread` loops on the file in as
/// many threads as there are queues, with the same offsets. Workloads: 4 KiB
/// random reads at each `--qd` (per queue), and 1 MiB sequential reads at
/// `--seq-qd`.
///
/// The driver (`vu-bench vhost-user`, one thread per queue) treats both
/// back-ends as a guest's virtio-blk driver would: one kick per batch,
/// calls suppressed while it reaps, no `EVENT_IDX`, and no busy polling
/// unless `--driver-poll-us` asks for it (then it spins on the used ring
/// that long before sleeping, for both back-ends alike). CPU per
/// request is the back-end process's (all threads, from /proc, over the
/// whole run) and the driver's (in the window); for the ceiling, its
/// threads'. Our back-end runs once per `--poll-max-us` value (each its
/// own process, measured in the same rounds); the ratios use the last one.
/// After the rounds, each back-end's idle CPU is measured over
/// `--idle-secs` with a connection whose queues are ready but idle.
///
/// The machine is described in the results: its vCPU halt-poll setting,
/// load averages, and whether it was idle before and after the run (less
/// than 10 % of its CPUs busy over 2 s, from /proc/stat, with nothing of
/// the bench running). Results from a busy machine,
/// or from `--busy` mode (a spinning thread per CPU at the lowest
/// scheduling priority, which keeps vCPUs from halting and so hides the
/// cost of wake-ups), are marked not publishable.
///
/// The page cache is warm: the file is written (or read once) just before,
/// and nothing drops the cache, so this compares the back-ends' CPU paths,
/// not a disk. Targets run interleaved within each of `--runs` rounds; the
/// table shows medians with the min–max spread, and the ratios ours/qsd and
/// ours/ceiling of the medians. Everything, raw runs included, goes to
/// `target/bench/blk.json`.
#[derive(Debug, clap::Args)]
pub struct BlkArgs {
    #[command(flatten)]
    pub reads: ReadArgs,
    /// Queues, for both back-ends (the ceiling gets as many threads).
    #[arg(long, default_value_t = 1)]
    pub queues: u16,
    /// Output file [default: <target>/bench/blk.json].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Our back-end's `--poll-max-us`, one back-end per value (comma
    /// separated; 0 = polling off). The ratios use the last value.
    #[arg(long, value_delimiter = ',', default_values_t = [0u64, 50])]
    pub poll_max_us: Vec<u64>,
    /// Seconds over which each back-end's idle CPU is measured (0: skip).
    #[arg(long, default_value_t = 10.0)]
    pub idle_secs: f64,
    /// Keep every CPU awake with a spinning thread at the lowest priority
    /// (SCHED_IDLE) while measuring, to show what a busy machine hides;
    /// such results are never publishable.
    #[arg(long)]
    pub busy: bool,
    /// Microseconds the driver spins on the used ring before it sleeps on a
    /// call, for both back-ends (a guest driver's polling mode, as Linux's
    /// virtio-blk poll queues; 0: it sleeps at once, as an interrupt-driven
    /// guest does). Its CPU is counted in the driver's CPU per request.
    #[arg(long, default_value_t = 0)]
    pub driver_poll_us: u64,
}

/// The test file and the read workloads, shared by `bench blk` and `bench
/// scsi`.
#[derive(Debug, clap::Args)]
pub struct ReadArgs {
    /// Size of the test file in MiB.
    #[arg(long, default_value_t = 1024)]
    pub size_mib: u64,
    /// Test file [default: <target>/bench/blk.img, shared
    /// by `bench blk` and `bench scsi`];
    /// rewritten unless it is already a test file of the right size.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Rounds; each runs every workload on every target once.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Seconds measured per workload and target.
    #[arg(long, default_value_t = 3.0)]
    pub secs: f64,
    /// Seconds of warm-up before each measurement.
    #[arg(long, default_value_t = 1.0)]
    pub warmup_secs: f64,
    /// Queue depths of the 4 KiB random-read workload.
    #[arg(long = "qd", default_values_t = [1usize, 32])]
    pub depths: Vec<usize>,
    /// Queue depth of the 1 MiB sequential-read workload.
    #[arg(long, default_value_t = 1)]
    pub seq_qd: usize,
}

pub fn run(args: Args) -> Result<u8> {
    let result = match args.what {
        What::Blk(a) => blk(a),
        What::Net(a) => net::net(a),
        What::Scsi(a) => scsi::scsi(a),
        What::UnpackDpdk => {
            let testpmd = crate::needs::dpdk::install(&|m: &str| eprintln!("  {m}"))?;
            println!("{} ({})", testpmd.binary.display(), testpmd.version);
            Ok(exit::OK)
        }
    };
    if crate::cmd::cancelled() {
        // The servers and the driver were killed with their process groups.
        eprintln!("bench: interrupted; nothing written");
        return Ok(exit::INTERRUPTED);
    }
    result
}

/// One workload: what every target is asked to do.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Workload {
    pub name: String,
    /// `rand` or `seq`.
    pub pattern: String,
    pub block_size: u64,
    pub depth: usize,
}

/// What `vu-bench` prints for one run, and the server's CPU time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Sample {
    #[serde(default)]
    pub target: String,
    pub secs: f64,
    pub ops: u64,
    pub iops: f64,
    pub mib_s: f64,
    pub verified: u64,
    /// vu-bench's own CPU in the window (the driver, or the pread threads).
    pub cpu_secs: f64,
    /// Requests over the whole vu-bench run, warm-up included.
    pub total_ops: u64,
    /// The back-end's CPU time over the whole vu-bench run (all threads;
    /// from /proc), for ours and qsd.
    #[serde(default)]
    pub server_cpu_secs: Option<f64>,
    /// Our back-end's `--poll-max-us` (ours only).
    #[serde(default)]
    pub poll_max_us: Option<u64>,
}

impl Sample {
    /// CPU microseconds the serving side spent per request: the back-end
    /// process for ours and qsd, the pread threads for the ceiling.
    pub fn serve_cpu_us(&self) -> Option<f64> {
        match self.server_cpu_secs {
            Some(s) => (self.total_ops > 0).then(|| s * 1e6 / self.total_ops as f64),
            None => (self.target == "ceiling" && self.ops > 0)
                .then(|| self.cpu_secs * 1e6 / self.ops as f64),
        }
    }

    /// CPU microseconds the driver spent per request (vhost-user targets).
    pub fn driver_cpu_us(&self) -> Option<f64> {
        (self.target != "ceiling" && self.ops > 0).then(|| self.cpu_secs * 1e6 / self.ops as f64)
    }
}

/// Medians and spread of one workload on one target.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Stat {
    pub median_iops: f64,
    pub median_mib_s: f64,
    pub min_iops: f64,
    pub max_iops: f64,
    /// Median CPU µs per request on the serving side (see `Sample::serve_cpu_us`).
    pub median_serve_cpu_us: Option<f64>,
    /// Median CPU µs per request in the driver (vhost-user targets).
    pub median_driver_cpu_us: Option<f64>,
}

impl Stat {
    /// Median IOPS and MiB/s, as a table cell.
    fn cell(&self) -> String {
        format!("{:>9.0} {:>8.1}", self.median_iops, self.median_mib_s)
    }

    /// The min–max IOPS.
    fn spread(&self) -> String {
        format!("{:.0}-{:.0}", self.min_iops, self.max_iops)
    }

    /// CPU µs per request, serving side (and driver).
    fn cpu(&self) -> String {
        match (self.median_serve_cpu_us, self.median_driver_cpu_us) {
            (Some(s), Some(d)) => format!("{s:.2} (+{d:.2} driver)"),
            (Some(s), None) => format!("{s:.2}"),
            _ => "-".to_string(),
        }
    }
}

/// A workload's three table lines: each target's IOPS and MiB/s with the
/// two ratios (`ratio_width` wide), the min–max spreads, and CPU per request.
fn write_stat_rows(
    out: &mut String,
    name: &str,
    [a, b, c]: [&Stat; 3],
    [r1, r2]: [f64; 2],
    ratio_width: usize,
) {
    use std::fmt::Write;
    let w = ratio_width;
    let _ = writeln!(
        out,
        "{name:<12} {:>26} {:>26} {:>26} {r1:>w$.2} {r2:>w$.2}",
        a.cell(),
        b.cell(),
        c.cell()
    );
    let _ = writeln!(
        out,
        "{:<12} {:>26} {:>26} {:>26}",
        "",
        a.spread(),
        b.spread(),
        c.spread()
    );
    let _ = writeln!(
        out,
        "{:<12} {:>26} {:>26} {:>26}",
        "  CPU us/req",
        a.cpu(),
        b.cpu(),
        c.cpu()
    );
}

/// Our back-end at one `--poll-max-us`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PollStat {
    pub poll_max_us: u64,
    pub stat: Stat,
    pub over_qsd: f64,
    pub over_ceiling: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Row {
    pub workload: Workload,
    /// Ours at the last `--poll-max-us` value.
    pub ours: Stat,
    /// Ours at every `--poll-max-us` value, in order.
    #[serde(default)]
    pub ours_by_poll: Vec<PollStat>,
    pub qsd: Stat,
    pub ceiling: Stat,
    /// ours / qsd, of the median IOPS.
    pub ours_over_qsd: f64,
    /// ours / ceiling, of the median IOPS.
    pub ours_over_ceiling: f64,
    /// Every run, in order: (target, sample).
    pub runs: Vec<Sample>,
}

/// The JSON summary written to `target/bench/blk.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub started: String,
    pub host: String,
    pub file: String,
    pub file_bytes: u64,
    pub page_cache: String,
    pub ceiling: String,
    pub queues: u16,
    pub runs: usize,
    pub secs: f64,
    pub warmup_secs: f64,
    pub qsd_version: String,
    pub ours_command: Vec<String>,
    pub qsd_command: Vec<String>,
    /// `/proc/loadavg` before and after.
    pub load_before: String,
    pub load_after: String,
    pub rows: Vec<Row>,
    #[serde(default)]
    pub poll_max_us: Vec<u64>,
    /// Whether `--busy` kept the CPUs awake.
    #[serde(default)]
    pub busy_mode: bool,
    #[serde(default)]
    pub machine: Option<Machine>,
    /// The driver's `--driver-poll-us` (0: it sleeps on calls at once).
    #[serde(default)]
    pub driver_poll_us: u64,
    /// Idle CPU of each back-end (a connection with ready, idle queues).
    #[serde(default)]
    pub idle_cpu: Vec<IdleCpu>,
    /// Whether these figures may be published: an idle machine, not `--busy`.
    #[serde(default)]
    pub publishable: bool,
}

/// What the machine was like during the run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Machine {
    pub cpus: usize,
    /// The guest halt-poll setting, and where it was read.
    pub halt_poll: String,
    /// The cpuidle driver (`/sys/devices/system/cpu/cpuidle/current_driver`).
    pub cpuidle_driver: String,
    /// Share of all CPUs busy over 2 s just before the run (/proc/stat), %.
    pub busy_before_percent: Option<f64>,
    /// The same just after it, with every process of the bench stopped:
    /// catches other work that started during the run.
    #[serde(default)]
    pub busy_after_percent: Option<f64>,
    /// Less than [`IDLE_BELOW_PERCENT`] of the CPUs busy before the run
    /// and after it.
    pub idle: bool,
}

/// A back-end's CPU while connected and idle.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IdleCpu {
    pub target: String,
    pub poll_max_us: Option<u64>,
    pub secs: f64,
    pub server_cpu_secs: f64,
    /// Share of one CPU, %.
    pub server_cpu_percent: f64,
}

/// A machine with less than this share of its CPUs busy is idle.
pub const IDLE_BELOW_PERCENT: f64 = 10.0;

fn blk(a: BlkArgs) -> Result<u8> {
    let r = &a.reads;
    if r.runs == 0 || a.queues == 0 || r.depths.is_empty() || r.depths.contains(&0) || r.seq_qd == 0
    {
        return Err(crate::BadInput(
            "--runs, --queues, --qd and --seq-qd must be at least 1".into(),
        )
        .into());
    }
    if a.poll_max_us.is_empty() || !a.idle_secs.is_finite() || a.idle_secs < 0.0 {
        return Err(crate::BadInput(
            "--poll-max-us needs a value and --idle-secs must not be negative".into(),
        )
        .into());
    }
    crate::cmd::install_interrupt_handler()?;
    let qsd = which("qemu-storage-daemon").context(
        "qemu-storage-daemon not found on PATH (it comes with Debian's qemu-utils: `apt-get install qemu-utils`)",
    )?;
    let root = crate::repo_root();
    let ws = crate::workspace::Workspace::load(&root)?;
    let dir = ws.target_dir.join("bench");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;

    let bin = build_release(&root, &ws, &["vu-bench", "vhost-user-blk"])?;
    let driver = bin.join("vu-bench");
    let ours_bin = bin.join("vhost-user-blk");

    let file = r.file.clone().unwrap_or_else(|| dir.join("blk.img"));
    let bytes = r.size_mib << 20;
    prepare_file(&driver, &file, r.size_mib)?;

    let qsd_version = Cmd::new(&qsd)
        .arg("--version")
        .run()
        .ok()
        .and_then(|o| o.stdout_str().lines().next().map(str::to_string))
        .unwrap_or_default();
    // Before anything of ours runs (the build has finished).
    let (machine, load_before) = Machine::before();
    let started = crate::host::now_rfc3339();

    let sock_dir = tempfile::Builder::new()
        .prefix("vu-bench")
        .tempdir()
        .context("cannot create a socket directory")?;
    let qsd_sock = sock_dir.path().join("qsd.sock");
    let queues = a.queues.to_string();
    // Ours, once per polling setting: (setting, socket, command).
    let ours_cmds: Vec<(u64, PathBuf, Cmd)> = a
        .poll_max_us
        .iter()
        .map(|&poll| {
            let sock = sock_dir.path().join(format!("ours-poll{poll}.sock"));
            let cmd = Cmd::new(&ours_bin)
                .arg("--socket-path")
                .arg(&sock)
                .arg("--blk-file")
                .arg(&file)
                .args([
                    "--read-only",
                    "--num-queues",
                    &queues,
                    "--poll-max-us",
                    &poll.to_string(),
                ])
                .env("VU_LOG", "warn");
            (poll, sock, cmd)
        })
        .collect();
    let qsd_cmd = Cmd::new(&qsd)
        .arg("--blockdev")
        .arg(format!("driver=file,node-name=file0,filename={},cache.direct=off,read-only=on", qemu_escape(&file)))
        .arg("--export")
        .arg(format!(
            "type=vhost-user-blk,id=exp0,node-name=file0,addr.type=unix,addr.path={},writable=off,num-queues={queues}",
            qemu_escape(&qsd_sock)
        ));
    let mut ours = Vec::new();
    for (poll, sock, cmd) in &ours_cmds {
        ours.push((*poll, sock.clone(), start_server(cmd, sock)?));
    }
    let mut peer = start_server(&qsd_cmd, &qsd_sock)?;
    let spinners = a.busy.then(|| Spinners::start(machine.cpus));
    // Every target of a round: (name, our polling setting).
    let targets: Vec<(&str, Option<u64>)> = a
        .poll_max_us
        .iter()
        .map(|&p| ("ours", Some(p)))
        .chain([("qsd", None), ("ceiling", None)])
        .collect();

    let workloads = Workload::reads(&r.depths, r.seq_qd);

    let total = r.runs * workloads.len() * targets.len();
    let mut done = 0;
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); workloads.len()];
    let clock = Instant::now();
    for round in 1..=r.runs {
        for (w, workload) in workloads.iter().enumerate() {
            for &(target, poll) in &targets {
                done += 1;
                let label = match poll {
                    Some(p) => format!("ours (--poll-max-us {p})"),
                    None => target.to_string(),
                };
                eprintln!(
                    "bench: [{done}/{total}] round {round}: {} on {label}",
                    workload.name
                );
                check_servers(&mut ours, &mut peer)?;
                let ours_now = ours.iter().find(|(p, _, _)| Some(*p) == poll);
                let mut cmd = Cmd::new(&driver);
                cmd = match (target, ours_now) {
                    ("ours", Some((_, sock, _))) => cmd.arg("vhost-user").arg("--socket").arg(sock),
                    ("qsd", _) => cmd.arg("vhost-user").arg("--socket").arg(&qsd_sock),
                    _ => cmd.arg("pread").arg("--file").arg(&file),
                };
                cmd = match target {
                    "ceiling" => cmd.args(["--threads", &queues]),
                    _ => cmd
                        .args(["--queues", &queues, "--depth", &workload.depth.to_string()])
                        .args(["--driver-poll-us", &a.driver_poll_us.to_string()]),
                };
                let server_pid = match (target, ours_now) {
                    ("ours", Some((_, _, server))) => server.pid(),
                    ("qsd", _) => peer.pid(),
                    _ => None,
                };
                let mut sample = measure(cmd, workload, target, r.secs, r.warmup_secs, server_pid)?;
                sample.poll_max_us = poll;
                samples[w].push(sample);
            }
        }
    }
    eprintln!(
        "bench: {} measurements in {:.0} s",
        total,
        clock.elapsed().as_secs_f64()
    );
    let mut idle_cpu = Vec::new();
    if a.idle_secs > 0.0 {
        let servers = ours
            .iter()
            .map(|(p, sock, server)| ("ours", Some(*p), sock.as_path(), server.pid()))
            .chain([("qsd", None, qsd_sock.as_path(), peer.pid())]);
        for (target, poll, sock, pid) in servers {
            let Some(pid) = pid else { continue };
            eprintln!(
                "bench: idle CPU of {target}{} over {} s",
                poll.map(|p| format!(" (--poll-max-us {p})"))
                    .unwrap_or_default(),
                a.idle_secs
            );
            let out = Cmd::new(&driver)
                .arg("idle")
                .arg("--socket")
                .arg(sock)
                .args([
                    "--server-pid",
                    &pid.to_string(),
                    "--queues",
                    &queues,
                    "--secs",
                    &a.idle_secs.to_string(),
                ])
                .timeout(Duration::from_secs_f64(a.idle_secs + 60.0))
                .run()?
                .ok()
                .with_context(|| format!("idle measurement of {target} failed"))?;
            let r: serde_json::Value = serde_json::from_slice(&out.stdout).with_context(|| {
                format!("cannot parse vu-bench idle output: {}", out.stdout_str())
            })?;
            let num = |k: &str| {
                r.get(k)
                    .and_then(serde_json::Value::as_f64)
                    .with_context(|| format!("vu-bench idle output lacks {k}: {r}"))
            };
            idle_cpu.push(IdleCpu {
                target: target.to_string(),
                poll_max_us: poll,
                secs: num("secs")?,
                server_cpu_secs: num("server_cpu_secs")?,
                server_cpu_percent: num("server_cpu_percent")?,
            });
        }
        check_servers(&mut ours, &mut peer)?;
    }
    drop(spinners);
    let load_after = loadavg();
    let mut ours_records = Vec::new();
    for (_, _, server) in ours {
        ours_records.push(server.stop(Duration::from_secs(5))?);
    }
    let qsd_record = peer.stop(Duration::from_secs(5))?;
    let mut machine = machine;
    machine.after();

    let rows: Vec<Row> = workloads
        .into_iter()
        .zip(samples)
        .map(|(w, runs)| row(w, runs, &a.poll_max_us))
        .collect();
    let summary = Summary {
        started,
        host: crate::host::Host::probe().map(|h| h.description).unwrap_or_default(),
        file: file.display().to_string(),
        file_bytes: bytes,
        page_cache: "warm: the file was written or read in full just before; caches are not dropped".into(),
        ceiling: format!(
            "{} thread(s) (one per queue), each a synchronous pread loop of the workload's block size into its own \
             buffer at the same offsets, checking the data like the driver does; no transport, no second process",
            a.queues
        ),
        queues: a.queues,
        runs: r.runs,
        secs: r.secs,
        warmup_secs: r.warmup_secs,
        qsd_version,
        // The last setting's, as the ratios.
        ours_command: ours_records.pop().map(|r| r.argv).unwrap_or_default(),
        qsd_command: qsd_record.argv,
        load_before,
        load_after,
        rows,
        poll_max_us: a.poll_max_us.clone(),
        busy_mode: a.busy,
        driver_poll_us: a.driver_poll_us,
        publishable: machine.idle && !a.busy,
        machine: Some(machine),
        idle_cpu,
    };
    print!("{}", render(&summary));
    let out = a.out.clone().unwrap_or_else(|| dir.join("blk.json"));
    let json = serde_json::to_string_pretty(&summary)? + "\n";
    crate::paths::write_atomic(&out, json.as_bytes())
        .with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("bench: summary in {}", out.display());
    Ok(exit::OK)
}

/// Builds `packages` in release mode; returns where the binaries are.
fn build_release(
    root: &Path,
    ws: &crate::workspace::Workspace,
    packages: &[&str],
) -> Result<PathBuf> {
    eprintln!("bench: building {} (release)", packages.join(", "));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Cmd::new(&cargo).args(["build", "--release"]);
    for p in packages {
        cmd = cmd.args(["-p", p]);
    }
    let build = cmd.cwd(root).run_inherited()?;
    if !build.success() {
        bail!("`{}` failed ({})", build.command_line(), build.describe());
    }
    Ok(ws.target_dir.join("release"))
}

/// Makes `file` the driver's self-describing test file of `size_mib` MiB,
/// in the page cache.
fn prepare_file(driver: &Path, file: &Path, size_mib: u64) -> Result<()> {
    eprintln!("bench: preparing {} ({size_mib} MiB)", file.display());
    Cmd::new(driver)
        .args(["prepare-file", "--path"])
        .arg(file)
        .args(["--size-mib", &size_mib.to_string()])
        .run()?
        .ok()
        .context("cannot prepare the test file")?;
    Ok(())
}

impl Workload {
    /// 4 KiB random reads at each of `depths`, then 1 MiB sequential reads
    /// at `seq_depth`.
    pub fn reads(depths: &[usize], seq_depth: usize) -> Vec<Self> {
        let mut out: Vec<Self> = depths
            .iter()
            .map(|&d| Self {
                name: format!("4k-rand-qd{d}"),
                pattern: "rand".into(),
                block_size: 4096,
                depth: d,
            })
            .collect();
        out.push(Self {
            name: format!("1m-seq-qd{seq_depth}"),
            pattern: "seq".into(),
            block_size: 1 << 20,
            depth: seq_depth,
        });
        out
    }
}

/// Runs one driver command (`cmd`: the subcommand and its target options)
/// on `workload` and reads its sample; `server_pid`'s CPU time over the
/// run becomes the sample's server CPU.
fn measure(
    cmd: Cmd,
    workload: &Workload,
    target: &str,
    secs: f64,
    warmup_secs: f64,
    server_pid: Option<u32>,
) -> Result<Sample> {
    let cpu_before = server_pid.and_then(process_cpu_secs);
    let out = cmd
        .args(["--pattern", &workload.pattern])
        .args(["--block-size", &workload.block_size.to_string()])
        .args(["--secs", &secs.to_string()])
        .args(["--warmup-secs", &warmup_secs.to_string()])
        .timeout(Duration::from_secs_f64(secs + warmup_secs + 60.0))
        .run()?
        .ok()
        .with_context(|| format!("{} on {target} failed", workload.name))?;
    let mut sample: Sample = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("cannot parse vu-bench output: {}", out.stdout_str()))?;
    sample.target = target.to_string();
    sample.server_cpu_secs = match (cpu_before, server_pid.and_then(process_cpu_secs)) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    Ok(sample)
}

impl Machine {
    /// The machine now, before a run (a 2 s look at /proc/stat), and the
    /// load average; says so on stderr.
    fn before() -> (Self, String) {
        let busy_before = cpu_busy_percent(Duration::from_secs(2));
        let load = loadavg();
        let m = Self {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            halt_poll: halt_poll(),
            cpuidle_driver: std::fs::read_to_string(
                "/sys/devices/system/cpu/cpuidle/current_driver",
            )
            .map_or_else(|_| "unknown".into(), |s| s.trim().to_string()),
            busy_before_percent: busy_before,
            busy_after_percent: None,
            idle: busy_before.is_some_and(|b| b < IDLE_BELOW_PERCENT),
        };
        eprintln!(
            "bench: machine: {} CPUs, {}, load {load}, {}",
            m.cpus,
            m.halt_poll,
            describe_busy(&m)
        );
        (m, load)
    }

    /// Takes the look after the run, with every process of the bench
    /// stopped: idle only if it was idle both times.
    fn after(&mut self) {
        self.busy_after_percent = cpu_busy_percent(Duration::from_secs(2));
        self.idle &= self
            .busy_after_percent
            .is_some_and(|b| b < IDLE_BELOW_PERCENT);
    }

    /// The two `machine:` lines of a report.
    fn render(&self) -> String {
        format!(
            "machine: {} CPUs; {}; cpuidle driver {}\nmachine: {}\n",
            self.cpus,
            self.halt_poll,
            self.cpuidle_driver,
            describe_busy(self)
        )
    }
}

/// The report's load-average line.
fn render_load(before: &str, after: &str) -> String {
    format!("load average before: {before}; after: {after}\n")
}

/// Fails if a back-end exited.
fn check_servers(ours: &mut [(u64, PathBuf, Spawned)], peer: &mut Spawned) -> Result<()> {
    for (poll, _, server) in ours.iter_mut() {
        if let Some(r) = server.try_finished()? {
            bail!(
                "our back-end (--poll-max-us {poll}) exited during the benchmark ({}):\n{}",
                r.describe(),
                r.stderr_tail
            );
        }
    }
    if let Some(r) = peer.try_finished()? {
        bail!(
            "qemu-storage-daemon exited during the benchmark ({}):\n{}",
            r.describe(),
            r.stderr_tail
        );
    }
    Ok(())
}

/// `--busy`: one spinning thread per CPU at SCHED_IDLE, which runs only
/// when the CPU would otherwise be idle: the vCPUs never halt, and the
/// back-ends and the driver still get the CPUs whenever they want them.
struct Spinners {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Spinners {
    fn start(cpus: usize) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let threads = (0..cpus)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    // SAFETY: sched_setscheduler on the calling thread (0)
                    // with a valid, zero-priority sched_param.
                    let param = libc::sched_param { sched_priority: 0 };
                    if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } != 0 {
                        eprintln!(
                            "bench: --busy: cannot lower a spinner to SCHED_IDLE: {}",
                            std::io::Error::last_os_error()
                        );
                    }
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        eprintln!("bench: --busy: {cpus} spinning thread(s) at SCHED_IDLE");
        Self { stop, threads }
    }
}

impl Drop for Spinners {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The guest halt-poll setting: the haltpoll module's parameter, else the
/// kernel command line's `haltpoll.guest_halt_poll_ns`.
fn halt_poll() -> String {
    let param = "/sys/module/haltpoll/parameters/guest_halt_poll_ns";
    if let Ok(v) = std::fs::read_to_string(param) {
        return format!("guest_halt_poll_ns={} ({param})", v.trim());
    }
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    halt_poll_from_cmdline(&cmdline)
}

fn halt_poll_from_cmdline(cmdline: &str) -> String {
    match cmdline.split_whitespace().find_map(|w| w.strip_prefix("haltpoll.guest_halt_poll_ns=")) {
        Some(v) => format!("guest_halt_poll_ns={v} (kernel command line)"),
        None => "guest halt-polling not configured (no haltpoll module parameter, not on the kernel command line)".into(),
    }
}

/// Share of all CPUs busy over `interval`, %, from two readings of the
/// `cpu` line of /proc/stat (iowait counts as idle).
fn cpu_busy_percent(interval: Duration) -> Option<f64> {
    let read = || {
        std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| cpu_times(&s))
    };
    let (b0, t0) = read()?;
    std::thread::sleep(interval);
    let (b1, t1) = read()?;
    (t1 > t0).then(|| (b1 - b0) as f64 * 100.0 / (t1 - t0) as f64)
}

/// (busy, total) jiffies of the aggregate `cpu` line of /proc/stat.
fn cpu_times(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice,
    // already counted in user and nice]
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

fn describe_busy(m: &Machine) -> String {
    let share = |b: Option<f64>| b.map_or("unknown".to_string(), |b| format!("{b:.1}%"));
    let verdict = match (m.busy_before_percent, m.busy_after_percent) {
        (None, _) => return "idleness unknown (no /proc/stat)".into(),
        (Some(_), None) if m.idle => "idle before the run",
        _ if m.idle => "idle before and after the run",
        _ => "BUSY",
    };
    let after = match m.busy_after_percent {
        Some(_) => format!(", {} after", share(m.busy_after_percent)),
        None => String::new(),
    };
    format!(
        "{verdict} ({} of the CPUs busy over 2 s before{after}; idle means below {IDLE_BELOW_PERCENT}%)",
        share(m.busy_before_percent)
    )
}

/// Starts a server and waits until its socket accepts connections.
fn start_server(cmd: &Cmd, socket: &Path) -> Result<Spawned> {
    let mut server = cmd.spawn()?;
    server.wait_until(
        &format!("listen on {}", socket.display()),
        Duration::from_secs(20),
        || std::os::unix::net::UnixStream::connect(socket).is_ok(),
    )?;
    Ok(server)
}

/// QEMU option values escape a comma by doubling it.
fn qemu_escape(path: &Path) -> String {
    path.display().to_string().replace(',', ",,")
}

/// User + system CPU seconds of process `pid` (all its threads), from
/// `/proc/<pid>/stat`; `None` where there is no procfs.
fn process_cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may contain spaces: state is
    // field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf with a valid name has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| ticks / hz as f64)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn stat(runs: &[Sample], target: &str, poll: Option<u64>) -> Stat {
    let mine = || {
        runs.iter()
            .filter(|s| s.target == target && (poll.is_none() || s.poll_max_us == poll))
    };
    let of = |f: fn(&Sample) -> f64| mine().map(f).collect::<Vec<f64>>();
    let opt = |f: fn(&Sample) -> Option<f64>| {
        let v: Vec<f64> = mine().filter_map(f).collect();
        (!v.is_empty()).then(|| median(v))
    };
    let iops = of(|s| s.iops);
    Stat {
        median_iops: median(iops.clone()),
        median_mib_s: median(of(|s| s.mib_s)),
        min_iops: iops.iter().copied().fold(f64::INFINITY, f64::min),
        max_iops: iops.iter().copied().fold(0.0, f64::max),
        median_serve_cpu_us: opt(Sample::serve_cpu_us),
        median_driver_cpu_us: opt(Sample::driver_cpu_us),
    }
}

/// Medians and ratios of one workload's runs; `polls` are our back-end's
/// settings, in order (the last one is `Row::ours`).
pub fn row(workload: Workload, runs: Vec<Sample>, polls: &[u64]) -> Row {
    let (qsd, ceiling) = (stat(&runs, "qsd", None), stat(&runs, "ceiling", None));
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let ours_by_poll: Vec<PollStat> = polls
        .iter()
        .map(|&p| {
            let stat = stat(&runs, "ours", Some(p));
            PollStat {
                poll_max_us: p,
                over_qsd: ratio(stat.median_iops, qsd.median_iops),
                over_ceiling: ratio(stat.median_iops, ceiling.median_iops),
                stat,
            }
        })
        .collect();
    let ours = match polls.last() {
        Some(&p) => stat(&runs, "ours", Some(p)),
        None => stat(&runs, "ours", None),
    };
    Row {
        ours_by_poll,
        ours_over_qsd: ratio(ours.median_iops, qsd.median_iops),
        ours_over_ceiling: ratio(ours.median_iops, ceiling.median_iops),
        workload,
        ours,
        qsd,
        ceiling,
        runs,
    }
}

/// The table printed at the end.
pub fn render(s: &Summary) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nvhost-user-blk, {} queue(s), {} MiB file, page cache warm; medians of {} runs of {} s (min-max IOPS; CPU us per request)",
        s.queues,
        s.file_bytes >> 20,
        s.runs,
        s.secs
    );
    let _ = writeln!(
        out,
        "{:<12} {:>26} {:>26} {:>26} {:>8} {:>8}",
        "workload",
        "ours IOPS  MiB/s",
        "qsd IOPS  MiB/s",
        "ceiling IOPS  MiB/s",
        "ours/qsd",
        "ours/ceil"
    );
    for r in &s.rows {
        write_stat_rows(
            &mut out,
            &r.workload.name,
            [&r.ours, &r.qsd, &r.ceiling],
            [r.ours_over_qsd, r.ours_over_ceiling],
            8,
        );
        if r.ours_by_poll.len() > 1 {
            for p in &r.ours_by_poll {
                let _ = writeln!(
                    out,
                    "{:<12} ours --poll-max-us {:<5} {} IOPS ({}), CPU us/req {}, ours/qsd {:.2}, ours/ceil {:.2}",
                    "",
                    p.poll_max_us,
                    p.stat.cell().trim_start(),
                    p.stat.spread(),
                    p.stat.cpu(),
                    p.over_qsd,
                    p.over_ceiling
                );
            }
        }
    }
    let _ = writeln!(out, "ceiling: {}", s.ceiling);
    if !s.idle_cpu.is_empty() {
        let idle: Vec<String> = s
            .idle_cpu
            .iter()
            .map(|i| match i.poll_max_us {
                Some(p) => format!("ours --poll-max-us {p}: {:.2}%", i.server_cpu_percent),
                None => format!("{}: {:.2}%", i.target, i.server_cpu_percent),
            })
            .collect();
        let secs = s.idle_cpu[0].secs;
        let _ = writeln!(
            out,
            "idle CPU (connected, queues idle, {secs} s, share of one CPU): {}",
            idle.join("; ")
        );
    }
    if let Some(m) = &s.machine {
        out.push_str(&m.render());
    }
    out.push_str(&render_load(&s.load_before, &s.load_after));
    if s.busy_mode {
        let _ = writeln!(
            out,
            "--busy: every CPU was kept awake by a spinning SCHED_IDLE thread"
        );
    }
    let _ = writeln!(
        out,
        "{}",
        match s.driver_poll_us {
            0 => "driver: sleeps on a call as soon as nothing is left to reap (an interrupt-driven guest)".to_string(),
            us => format!(
                "driver: spins up to {us} us on the used ring before sleeping on a call, for both back-ends \
                 (a polling guest driver); its CPU is in the driver's CPU per request"
            ),
        }
    );
    let _ = writeln!(
        out,
        "{}",
        match (s.publishable, s.busy_mode) {
            (true, _) => "publishable: yes (idle machine, not --busy)",
            (false, true) => "publishable: NO (--busy mode: the CPUs never halt, which hides the cost of wake-ups)",
            (false, false) => "publishable: NO (the machine was not idle; rerun on an idle machine)",
        }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(target: &str, iops: f64) -> Sample {
        let server_cpu_secs = (target != "ceiling").then_some(iops / 1e6);
        Sample {
            target: target.into(),
            secs: 1.0,
            ops: iops as u64,
            iops,
            mib_s: iops / 256.0,
            verified: iops as u64,
            cpu_secs: iops / 2e6,
            total_ops: iops as u64 * 2,
            server_cpu_secs,
            poll_max_us: (target == "ours").then_some(50),
        }
    }

    #[test]
    fn rows_take_medians_and_ratios() {
        let w = Workload {
            name: "4k-rand-qd32".into(),
            pattern: "rand".into(),
            block_size: 4096,
            depth: 32,
        };
        let runs = vec![
            sample("ours", 300.0),
            sample("qsd", 100.0),
            sample("ceiling", 1000.0),
            sample("ours", 100.0),
            sample("qsd", 200.0),
            sample("ceiling", 400.0),
            sample("ours", 200.0),
            sample("qsd", 150.0),
            sample("ceiling", 500.0),
        ];
        let r = row(w, runs, &[50]);
        assert_eq!(
            (r.ours.median_iops, r.qsd.median_iops, r.ceiling.median_iops),
            (200.0, 150.0, 500.0)
        );
        assert_eq!((r.ours.min_iops, r.ours.max_iops), (100.0, 300.0));
        assert!((r.ours_over_qsd - 200.0 / 150.0).abs() < 1e-9);
        assert!((r.ours_over_ceiling - 0.4).abs() < 1e-9);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        // Server: iops/1e6 s over 2*iops requests = 0.5 us; driver and
        // ceiling: iops/2e6 s over iops requests = 0.5 us.
        assert_eq!(r.ours.median_serve_cpu_us, Some(0.5));
        assert_eq!(r.ours.median_driver_cpu_us, Some(0.5));
        assert_eq!(
            (
                r.ceiling.median_serve_cpu_us,
                r.ceiling.median_driver_cpu_us
            ),
            (Some(0.5), None)
        );
    }

    #[test]
    fn reads_a_processs_cpu_time() {
        let busy = Instant::now();
        while busy.elapsed() < Duration::from_millis(50) {
            std::hint::black_box(0u64);
        }
        let cpu = process_cpu_secs(std::process::id()).expect("procfs");
        assert!(cpu > 0.0 && cpu < 1e6, "{cpu}");
        assert_eq!(process_cpu_secs(u32::MAX), None);
    }

    #[test]
    fn ours_is_split_by_polling_setting_and_the_last_one_gives_the_ratios() {
        let w = Workload {
            name: "4k-rand-qd1".into(),
            pattern: "rand".into(),
            block_size: 4096,
            depth: 1,
        };
        let ours = |poll, iops| Sample {
            poll_max_us: Some(poll),
            ..sample("ours", iops)
        };
        let runs = vec![
            ours(0, 100.0),
            ours(50, 400.0),
            sample("qsd", 200.0),
            sample("ceiling", 1000.0),
        ];
        let r = row(w, runs, &[0, 50]);
        let by: Vec<(u64, f64)> = r
            .ours_by_poll
            .iter()
            .map(|p| (p.poll_max_us, p.stat.median_iops))
            .collect();
        assert_eq!(by, [(0, 100.0), (50, 400.0)]);
        assert_eq!(r.ours.median_iops, 400.0);
        assert!((r.ours_over_qsd - 2.0).abs() < 1e-9);
        assert!((r.ours_by_poll[0].over_ceiling - 0.1).abs() < 1e-9);
    }

    #[test]
    fn halt_poll_is_read_from_the_kernel_command_line() {
        assert_eq!(
            halt_poll_from_cmdline("console=ttyS0 haltpoll.guest_halt_poll_ns=0 quiet"),
            "guest_halt_poll_ns=0 (kernel command line)"
        );
        assert!(halt_poll_from_cmdline("console=ttyS0").contains("not configured"));
    }

    #[test]
    fn busy_share_counts_everything_but_idle_and_iowait() {
        let stat = "cpu  10 0 10 70 10 0 0 0 5 0\ncpu0 5 0 5 35 5 0 0 0 0 0\n";
        assert_eq!(cpu_times(stat), Some((20, 100)));
        assert_eq!(cpu_times("intr 1 2\n"), None);
        assert!(
            cpu_busy_percent(Duration::from_millis(50)).is_some_and(|b| (0.0..=100.0).contains(&b))
        );
    }

    #[test]
    fn a_busy_machine_or_busy_mode_is_never_publishable() {
        let w = Workload {
            name: "4k-rand-qd1".into(),
            pattern: "rand".into(),
            block_size: 4096,
            depth: 1,
        };
        let machine = |idle| Machine {
            cpus: 2,
            halt_poll: "guest_halt_poll_ns=0 (kernel command line)".into(),
            cpuidle_driver: "none".into(),
            busy_before_percent: Some(1.0),
            busy_after_percent: Some(if idle { 1.0 } else { 60.0 }),
            idle,
        };
        let summary = |idle: bool, busy: bool| Summary {
            started: String::new(),
            host: String::new(),
            file: String::new(),
            file_bytes: 1 << 30,
            page_cache: String::new(),
            ceiling: String::new(),
            queues: 1,
            runs: 1,
            secs: 1.0,
            warmup_secs: 0.0,
            qsd_version: String::new(),
            ours_command: vec![],
            qsd_command: vec![],
            load_before: "0.00".into(),
            load_after: "0.10".into(),
            rows: vec![row(
                w.clone(),
                vec![
                    sample("ours", 1.0),
                    sample("qsd", 1.0),
                    sample("ceiling", 1.0),
                ],
                &[50],
            )],
            poll_max_us: vec![50],
            busy_mode: busy,
            driver_poll_us: 0,
            machine: Some(machine(idle)),
            idle_cpu: vec![IdleCpu {
                target: "ours".into(),
                poll_max_us: Some(50),
                secs: 10.0,
                server_cpu_secs: 0.01,
                server_cpu_percent: 0.1,
            }],
            publishable: idle && !busy,
        };
        let text = render(&summary(true, false));
        assert!(text.contains("publishable: yes"), "{text}");
        assert!(text.contains("guest_halt_poll_ns=0"), "{text}");
        assert!(text.contains("ours --poll-max-us 50: 0.10%"), "{text}");
        assert!(text.contains("idle before and after the run"), "{text}");
        assert!(text.contains("driver: sleeps on a call"), "{text}");
        let polling = render(&Summary {
            driver_poll_us: 20,
            ..summary(true, false)
        });
        assert!(polling.contains("driver: spins up to 20 us"), "{polling}");
        let busy = render(&summary(false, false));
        assert!(
            busy.contains("publishable: NO (the machine was not idle"),
            "{busy}"
        );
        assert!(
            busy.contains("BUSY (1.0% of the CPUs busy over 2 s before, 60.0% after"),
            "{busy}"
        );
        assert!(render(&summary(true, true)).contains("publishable: NO (--busy mode"));
    }

    #[test]
    fn qemu_option_values_double_commas() {
        assert_eq!(qemu_escape(Path::new("/a,b/c")), "/a,,b/c");
    }
}
