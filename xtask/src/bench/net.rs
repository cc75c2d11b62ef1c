//! `cargo xtask bench net`: frames between two ports of our vhost-user-net
//! switch, and between the two `net_vhost` ports of DPDK's `dpdk-testpmd`
//! (forwarding port to port), with the same front-end driver
//! (`vu-bench net`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::{cpu_busy_percent, loadavg, median, process_cpu_secs, start_server};
use crate::cmd::{Cmd, Spawned};
use crate::needs::dpdk::{self, Testpmd};

/// Benchmark vhost-user-net: ours (a learning switch) and DPDK's vhost PMD.
///
/// Builds `vu-bench` and `vhost-user-net` in release mode and starts our
/// back-end, then DPDK's `dpdk-testpmd` with two `net_vhost` ports (one
/// socket each) forwarding to each other (`--forward-mode=io`, one main and
/// one forwarding core, `--no-huge`: no hugepages are needed, as the vhost
/// PMD copies frames out of the front-end's shared memory, which it maps
/// itself). The testpmd is the one `cargo xtask setup` unpacks from the
/// host release's packages into the cache (`cargo xtask bench
/// unpack-dpdk`), else one on PATH, else `--testpmd`'s. The same
/// driver then connects two ports to each back-end, one transmitting frames
/// of each `--frame-len` to the other as fast as its ring allows (256
/// entries, one kick per batch, completions reaped without calls), and
/// counts what the receiving port gets (every frame checked). The driver
/// busy-polls both rings, so it holds two CPUs while it runs: on a 2-CPU
/// machine both back-ends compete with it for CPU, and the figures compare
/// the back-ends under the same conditions, not their best case. testpmd's
/// forwarding core polls without pause (a poll-mode driver) and is pinned
/// to a CPU, so with fewer than four CPUs it and the driver's two threads
/// take CPU time from each other, and its figures say more about that
/// sharing than about the PMD's path (on 2 busy CPUs, the driver had
/// 0.2–1.3 s of CPU in a 2 s DPDK window, against 0.5–0.7 s with ours).
///
/// Targets run interleaved within each of `--runs` rounds; the table shows
/// medians with the min–max spread, frames per second, Gbit/s of frame
/// bytes, and the back-end's CPU time per received frame (all its threads,
/// from /proc). The load average and the machine's busy share are recorded:
/// figures from a busy machine are not publishable. Everything goes to
/// `target/bench/net.json` (or `--out`).
#[derive(Debug, clap::Args)]
pub struct NetArgs {
    /// Frame lengths in bytes (Ethernet header included, 60..=2036)
    #[arg(long = "frame-len", value_delimiter = ',', default_values_t = [64, 1514])]
    pub frame_lens: Vec<usize>,
    /// Rounds; each runs every frame length on every target once
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Seconds measured per frame length and target
    #[arg(long, default_value_t = 3.0)]
    pub secs: f64,
    /// Seconds of warm-up before each measurement
    #[arg(long, default_value_t = 1.0)]
    pub warmup_secs: f64,
    /// Leave DPDK out even if it is installed
    #[arg(long)]
    pub no_dpdk: bool,
    /// The dpdk-testpmd to run [default: the one `cargo xtask setup`
    /// unpacked into the cache, else dpdk-testpmd on PATH]. Debian ships it
    /// in `dpdk-dev`; its libraries come from the `librte-*` packages
    /// (LD_LIBRARY_PATH is passed on)
    #[arg(long, value_name = "PATH")]
    pub testpmd: Option<PathBuf>,
    /// More DPDK driver files testpmd loads (`-d`): the vhost PMD and the
    /// ring mempool, for a `--testpmd` whose default driver directory lacks
    /// them (the unpacked one is given its own)
    #[arg(long = "dpdk-driver", value_name = "FILE")]
    pub dpdk_drivers: Vec<PathBuf>,
    /// Where the results go [default: <target>/bench/net.json]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// One run of the driver, as `vu-bench net` prints it, with the target and
/// the server's CPU.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NetSample {
    /// `ours` or `dpdk` (set by the xtask; the driver does not know).
    #[serde(default)]
    pub target: String,
    pub frame_len: usize,
    pub secs: f64,
    pub frames: u64,
    pub bytes: u64,
    pub pps: f64,
    pub gbit_s: f64,
    pub sent: u64,
    pub verified: u64,
    /// The driver's CPU time in the window.
    pub cpu_secs: f64,
    /// The back-end's CPU time over the whole run (warm-up included).
    #[serde(default)]
    pub server_cpu_secs: Option<f64>,
}

/// Medians of one target at one frame length.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NetRow {
    pub target: String,
    pub frame_len: usize,
    pub pps: f64,
    pub pps_min: f64,
    pub pps_max: f64,
    pub gbit_s: f64,
    /// Back-end CPU microseconds per frame received (over the whole run).
    pub server_cpu_us_per_frame: Option<f64>,
    /// Frames sent that the receiver never got (dropped by the back-end).
    pub loss_percent: f64,
}

/// Everything a run produced.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NetSummary {
    pub started: String,
    pub load_before: String,
    pub load_after: String,
    pub busy_before_percent: Option<f64>,
    /// Nothing else was running (less than 10 % of the CPUs busy before).
    pub idle: bool,
    pub dpdk: Option<String>,
    pub rows: Vec<NetRow>,
    pub runs: Vec<NetSample>,
}

pub(super) fn net(a: NetArgs) -> Result<u8> {
    if a.runs == 0
        || a.frame_lens.is_empty()
        || !a.secs.is_finite()
        || a.secs <= 0.0
        || !a.warmup_secs.is_finite()
        || a.warmup_secs < 0.0
    {
        return Err(
            crate::BadInput("--runs, --frame-len and --secs need positive values".into()).into(),
        );
    }
    if let Some(bad) = a.frame_lens.iter().find(|&&l| !(60..=2036).contains(&l)) {
        return Err(crate::BadInput(format!("--frame-len {bad} is not in 60..=2036")).into());
    }
    crate::cmd::install_interrupt_handler()?;
    let root = crate::repo_root();
    let ws = crate::workspace::Workspace::load(&root)?;
    let dir = ws.target_dir.join("bench").join("net");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let testpmd = if a.no_dpdk { None } else { peer(&a) };
    if let Some(why) = testpmd.as_ref().and_then(Testpmd::refusal) {
        bail!("{why}");
    }

    eprintln!("bench: building vu-bench and vhost-user-net (release)");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let build = Cmd::new(&cargo)
        .args([
            "build",
            "--release",
            "-p",
            "vu-bench",
            "-p",
            "vhost-user-net",
        ])
        .cwd(&root)
        .run_inherited()?;
    if !build.success() {
        bail!("`{}` failed ({})", build.command_line(), build.describe());
    }
    let bin = ws.target_dir.join("release");
    let driver = bin.join("vu-bench");

    let busy_before = cpu_busy_percent(Duration::from_secs(2));
    let load_before = loadavg();
    let started = crate::host::now_rfc3339();

    let ours_sock = dir.join("ours.sock");
    let _ = std::fs::remove_file(&ours_sock);
    let ours = start_server(
        &Cmd::new(bin.join("vhost-user-net"))
            .arg("--socket-path")
            .arg(&ours_sock)
            .arg("--poll-max-us")
            .arg("0"),
        &ours_sock,
    )?;
    let mut targets = vec![Target {
        name: "ours",
        tx: ours_sock.clone(),
        rx: ours_sock,
        server: Some(ours),
        testpmd: None,
    }];
    let mut dpdk_version = None;
    if let Some(testpmd) = testpmd {
        dpdk_version = Some(testpmd.version.clone());
        targets.push(Target {
            name: "dpdk",
            tx: dir.join("dpdk0.sock"),
            rx: dir.join("dpdk1.sock"),
            server: None,
            testpmd: Some(testpmd),
        });
    }

    let mut runs = Vec::new();
    for round in 0..a.runs {
        for &len in &a.frame_lens {
            for t in &mut targets {
                let name = t.name;
                eprintln!(
                    "bench: round {}/{}: {name}, {len}-byte frames",
                    round + 1,
                    a.runs
                );
                let (tx, rx) = (t.tx.clone(), t.rx.clone());
                let server = t.ready()?;
                let cpu_before = server.pid().and_then(process_cpu_secs);
                let out = drive(&driver, &tx, &rx, len, &a)?;
                let cpu_after = server.pid().and_then(process_cpu_secs);
                let mut s: NetSample = serde_json::from_str(out.trim())
                    .with_context(|| format!("vu-bench printed: {out}"))?;
                s.target = name.to_string();
                s.server_cpu_secs = cpu_before.zip(cpu_after).map(|(b, a)| a - b);
                if let Some(r) = server.try_finished()? {
                    bail!(
                        "{name} exited during the benchmark ({}):\n{}",
                        r.describe(),
                        r.stderr_tail
                    );
                }
                runs.push(s);
            }
        }
    }
    for t in targets {
        if let Some(server) = t.server {
            server.stop(Duration::from_secs(5))?;
        }
    }
    let load_after = loadavg();
    let mut rows = Vec::new();
    for &len in &a.frame_lens {
        for target in ["ours", "dpdk"] {
            let mine: Vec<&NetSample> = runs
                .iter()
                .filter(|s| s.target == target && s.frame_len == len)
                .collect();
            if mine.is_empty() {
                continue;
            }
            let pps: Vec<f64> = mine.iter().map(|s| s.pps).collect();
            let cpu: Vec<f64> = mine
                .iter()
                .filter_map(|s| {
                    let frames = s.frames as f64 * (1.0 + a.warmup_secs / s.secs);
                    s.server_cpu_secs.map(|c| c / frames * 1e6)
                })
                .collect();
            let sent: u64 = mine.iter().map(|s| s.sent).sum();
            let got: f64 = mine
                .iter()
                .map(|s| s.frames as f64 * (1.0 + a.warmup_secs / s.secs))
                .sum();
            rows.push(NetRow {
                target: target.into(),
                frame_len: len,
                pps: median(pps.clone()),
                pps_min: pps.iter().copied().fold(f64::INFINITY, f64::min),
                pps_max: pps.iter().copied().fold(0.0, f64::max),
                gbit_s: median(mine.iter().map(|s| s.gbit_s).collect()),
                server_cpu_us_per_frame: (!cpu.is_empty()).then(|| median(cpu)),
                loss_percent: if sent == 0 {
                    0.0
                } else {
                    (1.0 - got / sent as f64).max(0.0) * 100.0
                },
            });
        }
    }
    let summary = NetSummary {
        started,
        load_before,
        load_after,
        idle: busy_before.is_some_and(|b| b < 10.0),
        busy_before_percent: busy_before,
        dpdk: dpdk_version,
        rows,
        runs,
    };
    print!("{}", render(&summary));
    let out = a
        .out
        .unwrap_or_else(|| ws.target_dir.join("bench").join("net.json"));
    crate::paths::write_atomic(&out, serde_json::to_string_pretty(&summary)?.as_bytes())?;
    eprintln!("bench: results in {}", out.display());
    Ok(crate::exit::OK)
}

/// A back-end the driver measures: its two ports' sockets (one for a switch).
struct Target {
    name: &'static str,
    tx: PathBuf,
    rx: PathBuf,
    server: Option<Spawned>,
    /// Started afresh for each measurement (see [`Target::ready`]).
    testpmd: Option<Testpmd>,
}

impl Target {
    /// The running server, for testpmd a new one. testpmd 22.11's log
    /// shows a port's old connection torn down after the next connection
    /// to that port arrived, and a driver that connected right after the
    /// previous one left once received none of the 101,813 frames it sent
    /// (both ports connected, nothing forwarded to its receiving port). A
    /// fresh testpmd per measurement never sees a reconnection
    /// ([`Testpmd::start`] waits for its socket files, not with a probing
    /// connection, for the same reason).
    fn ready(&mut self) -> Result<&mut Spawned> {
        if let Some(testpmd) = &self.testpmd {
            if let Some(old) = self.server.take() {
                old.stop(Duration::from_secs(5))?;
            }
            self.server = Some(testpmd.start([&self.tx, &self.rx])?);
        }
        self.server.as_mut().context("no server was started")
    }
}

/// The DPDK to compare with: `--testpmd`, else the unpacked one, else one
/// on PATH; none says how to get it.
fn peer(a: &NetArgs) -> Option<Testpmd> {
    let found = match &a.testpmd {
        Some(binary) => Some(Testpmd {
            binary: binary.clone(),
            library_dirs: Vec::new(),
            drivers: Vec::new(),
            version: format!("dpdk-testpmd at {}", binary.display()),
        }),
        None => dpdk::find().or_else(dpdk::on_path),
    };
    if found.is_none() {
        eprintln!(
            "bench: DPDK's dpdk-testpmd is not unpacked (`cargo xtask setup`, or `cargo xtask bench unpack-dpdk`); measuring ours only"
        );
    }
    found.map(|mut t| {
        t.drivers.extend(a.dpdk_drivers.iter().cloned());
        t
    })
}

fn drive(driver: &Path, tx: &Path, rx: &Path, len: usize, a: &NetArgs) -> Result<String> {
    let out = Cmd::new(driver)
        .arg("net")
        .arg("--tx-socket")
        .arg(tx)
        .arg("--rx-socket")
        .arg(rx)
        .args(["--frame-len", &len.to_string()])
        .args(["--secs", &a.secs.to_string()])
        .args(["--warmup-secs", &a.warmup_secs.to_string()])
        .run()?;
    if !out.record.success() {
        bail!(
            "`{}` failed ({}):\n{}",
            out.record.command_line(),
            out.record.describe(),
            out.record.stderr_tail
        );
    }
    Ok(out.stdout_str().to_string())
}

/// The table: one line per frame length and target.
pub fn render(s: &NetSummary) -> String {
    let mut t = String::new();
    t.push_str(
        "frame  target        frames/s (min–max)            Gbit/s  server µs/frame  loss\n",
    );
    for r in &s.rows {
        t.push_str(&format!(
            "{:>5}  {:<6}  {:>10.0} ({:.0}–{:.0})  {:>8.3}  {:>15}  {:>4.1}%\n",
            r.frame_len,
            r.target,
            r.pps,
            r.pps_min,
            r.pps_max,
            r.gbit_s,
            r.server_cpu_us_per_frame
                .map_or("-".to_string(), |c| format!("{c:.2}")),
            r.loss_percent
        ));
    }
    t.push_str(&format!(
        "load average before: {}; after: {}; {}\n",
        s.load_before,
        s.load_after,
        if s.idle {
            "idle machine".to_string()
        } else {
            format!(
                "BUSY machine ({} of the CPUs busy before the run): not publishable",
                s.busy_before_percent
                    .map_or("unknown".into(), |b| format!("{b:.0} %"))
            )
        }
    ));
    t
}
