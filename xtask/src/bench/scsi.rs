//! `cargo xtask bench scsi`: our vhost-user-scsi back-end against our
//! vhost-user-blk back-end and the pread ceiling, on the same file, with
//! the same workloads as `bench blk` (`vu-bench vhost-user-scsi`, `vhost-user`
//! and `pread`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::{
    build_release, loadavg, measure, prepare_file, render_load, start_server, stat,
    write_stat_rows, Machine, ReadArgs, Sample, Stat, Workload,
};
use crate::cmd::{Cmd, Spawned};
use crate::exit;

/// What the output says about peers.
const PEER_NOTE: &str = "Debian packages no other vhost-user-scsi back-end (QEMU's own \
example is built into none of its packages), so the comparison is our vhost-user-blk serving \
the same file, driven the same way: what differs is the SCSI layer (CDBs, response and sense)";

/// Benchmark vhost-user-scsi: ours, against our vhost-user-blk and a pread ceiling.
///
/// Builds `vu-bench`, `vhost-user-scsi` and `vhost-user-blk` in release
/// mode, prepares the same self-describing test file as `bench blk`, and
/// serves it read-only from both back-ends (`--lun FILE,ro`; `--blk-file
/// FILE --read-only`), one request queue each, both at the same
/// `--poll-max-us`. The same front-end driver then runs each workload on
/// both: 4 KiB random reads at each `--qd` and 1 MiB sequential reads at
/// `--seq-qd`, the SCSI ones as READ(10) CDBs to LUN 0 (READ(16) where the
/// block address does not fit), every read's data checked; then the
/// ceiling, a `pread` loop on the file at the same offsets.
///
/// Debian packages no other vhost-user-scsi back-end, so our blk back-end
/// on the same file is the comparison. CPU per request is the back-end
/// process's (all threads, from /proc, over the whole run) and the
/// driver's. The machine (halt-poll setting, load averages, whether it was
/// idle before and after) is recorded; figures from a busy machine are not
/// publishable. Targets run interleaved within each of `--runs` rounds;
/// the table shows medians with the min–max spread. Everything, raw runs
/// included, goes to `target/bench/scsi.json` (or `--out`).
#[derive(Debug, clap::Args)]
pub struct ScsiArgs {
    #[command(flatten)]
    pub reads: ReadArgs,
    /// Both back-ends' `--poll-max-us` (0 = polling off).
    #[arg(long, default_value_t = 50)]
    pub poll_max_us: u64,
    /// Output file [default: <target>/bench/scsi.json].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// One workload's medians and ratios.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScsiRow {
    pub workload: Workload,
    pub scsi: Stat,
    pub blk: Stat,
    pub ceiling: Stat,
    /// scsi / blk, of the median IOPS.
    pub scsi_over_blk: f64,
    /// scsi / ceiling, of the median IOPS.
    pub scsi_over_ceiling: f64,
    /// Every run, in order.
    pub runs: Vec<Sample>,
}

/// The JSON summary written to `target/bench/scsi.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScsiSummary {
    pub started: String,
    pub host: String,
    pub file: String,
    pub file_bytes: u64,
    pub runs: usize,
    pub secs: f64,
    pub warmup_secs: f64,
    pub poll_max_us: u64,
    pub peer: String,
    pub ceiling: String,
    pub scsi_command: Vec<String>,
    pub blk_command: Vec<String>,
    /// `/proc/loadavg` before and after.
    pub load_before: String,
    pub load_after: String,
    pub machine: Machine,
    pub rows: Vec<ScsiRow>,
    /// Whether these figures may be published: an idle machine.
    pub publishable: bool,
}

pub fn scsi(a: ScsiArgs) -> Result<u8> {
    let r = &a.reads;
    if r.runs == 0 || r.depths.is_empty() || r.depths.contains(&0) || r.seq_qd == 0 {
        return Err(crate::BadInput("--runs, --qd and --seq-qd must be at least 1".into()).into());
    }
    crate::cmd::install_interrupt_handler()?;
    let root = crate::repo_root();
    let ws = crate::workspace::Workspace::load(&root)?;
    let dir = ws.target_dir.join("bench");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let bin = build_release(
        &root,
        &ws,
        &["vu-bench", "vhost-user-scsi", "vhost-user-blk"],
    )?;
    let driver = bin.join("vu-bench");
    let file = r.file.clone().unwrap_or_else(|| dir.join("blk.img"));
    prepare_file(&driver, &file, r.size_mib)?;
    let (mut machine, load_before) = Machine::before();
    let started = crate::host::now_rfc3339();

    let sock_dir = tempfile::Builder::new()
        .prefix("vu-bench")
        .tempdir()
        .context("cannot create a socket directory")?;
    let poll = a.poll_max_us.to_string();
    let scsi_sock = sock_dir.path().join("scsi.sock");
    let blk_sock = sock_dir.path().join("blk.sock");
    let mut lun = file.clone().into_os_string();
    lun.push(",ro");
    let scsi_cmd = Cmd::new(bin.join("vhost-user-scsi"))
        .arg("--socket-path")
        .arg(&scsi_sock)
        .arg("--lun")
        .arg(&lun)
        .args(["--num-queues", "1", "--poll-max-us", &poll])
        .env("VU_LOG", "warn");
    let blk_cmd = Cmd::new(bin.join("vhost-user-blk"))
        .arg("--socket-path")
        .arg(&blk_sock)
        .arg("--blk-file")
        .arg(&file)
        .args(["--read-only", "--num-queues", "1", "--poll-max-us", &poll])
        .env("VU_LOG", "warn");
    let mut servers = [
        ("scsi", start_server(&scsi_cmd, &scsi_sock)?),
        ("blk", start_server(&blk_cmd, &blk_sock)?),
    ];

    let workloads = Workload::reads(&r.depths, r.seq_qd);
    let targets = ["scsi", "blk", "ceiling"];
    let total = r.runs * workloads.len() * targets.len();
    let mut done = 0;
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); workloads.len()];
    let clock = Instant::now();
    for round in 1..=r.runs {
        for (w, workload) in workloads.iter().enumerate() {
            for target in targets {
                done += 1;
                eprintln!(
                    "bench: [{done}/{total}] round {round}: {} on {target}",
                    workload.name
                );
                check_servers(&mut servers)?;
                let depth = workload.depth.to_string();
                let cmd = match target {
                    "scsi" => Cmd::new(&driver)
                        .arg("vhost-user-scsi")
                        .arg("--socket")
                        .arg(&scsi_sock)
                        .args(["--depth", &depth]),
                    "blk" => Cmd::new(&driver)
                        .arg("vhost-user")
                        .arg("--socket")
                        .arg(&blk_sock)
                        .args(["--queues", "1", "--depth", &depth]),
                    _ => Cmd::new(&driver)
                        .arg("pread")
                        .arg("--file")
                        .arg(&file)
                        .args(["--threads", "1"]),
                };
                let pid = servers
                    .iter()
                    .find(|(name, _)| *name == target)
                    .and_then(|(_, s)| s.pid());
                let mut sample = measure(cmd, workload, target, r.secs, r.warmup_secs, pid)?;
                sample.poll_max_us = pid.map(|_| a.poll_max_us);
                samples[w].push(sample);
            }
        }
    }
    eprintln!(
        "bench: {total} measurements in {:.0} s",
        clock.elapsed().as_secs_f64()
    );
    check_servers(&mut servers)?;
    let load_after = loadavg();
    let [(_, scsi_server), (_, blk_server)] = servers;
    let scsi_record = scsi_server.stop(Duration::from_secs(5))?;
    let blk_record = blk_server.stop(Duration::from_secs(5))?;
    machine.after();
    let summary = ScsiSummary {
        started,
        host: crate::host::Host::probe()
            .map(|h| h.description)
            .unwrap_or_default(),
        file: file.display().to_string(),
        file_bytes: r.size_mib << 20,
        runs: r.runs,
        secs: r.secs,
        warmup_secs: r.warmup_secs,
        poll_max_us: a.poll_max_us,
        peer: PEER_NOTE.into(),
        ceiling: "1 thread, a synchronous pread loop of the workload's block size at the same \
                  offsets, checking the data like the driver does"
            .into(),
        scsi_command: scsi_record.argv,
        blk_command: blk_record.argv,
        load_before,
        load_after,
        publishable: machine.idle,
        machine,
        rows: workloads
            .into_iter()
            .zip(samples)
            .map(|(w, r)| row(w, r))
            .collect(),
    };
    print!("{}", render(&summary));
    let out = a.out.clone().unwrap_or_else(|| dir.join("scsi.json"));
    let json = serde_json::to_string_pretty(&summary)? + "\n";
    crate::paths::write_atomic(&out, json.as_bytes())
        .with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("bench: summary in {}", out.display());
    Ok(exit::OK)
}

/// Fails if a back-end exited.
fn check_servers(servers: &mut [(&str, Spawned)]) -> Result<()> {
    for (name, server) in servers.iter_mut() {
        if let Some(r) = server.try_finished()? {
            bail!(
                "our vhost-user-{name} exited during the benchmark ({}):\n{}",
                r.describe(),
                r.stderr_tail
            );
        }
    }
    Ok(())
}

/// Medians and ratios of one workload's runs.
pub fn row(workload: Workload, runs: Vec<Sample>) -> ScsiRow {
    let (scsi, blk, ceiling) = (
        stat(&runs, "scsi", None),
        stat(&runs, "blk", None),
        stat(&runs, "ceiling", None),
    );
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    ScsiRow {
        scsi_over_blk: ratio(scsi.median_iops, blk.median_iops),
        scsi_over_ceiling: ratio(scsi.median_iops, ceiling.median_iops),
        workload,
        scsi,
        blk,
        ceiling,
        runs,
    }
}

/// The table printed at the end.
pub fn render(s: &ScsiSummary) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nvhost-user-scsi, 1 request queue, {} MiB file, page cache warm, --poll-max-us {}; medians of {} runs of {} s (min-max IOPS; CPU us per request)",
        s.file_bytes >> 20,
        s.poll_max_us,
        s.runs,
        s.secs
    );
    let _ = writeln!(
        out,
        "{:<12} {:>26} {:>26} {:>26} {:>9} {:>9}",
        "workload",
        "scsi IOPS  MiB/s",
        "blk IOPS  MiB/s",
        "ceiling IOPS  MiB/s",
        "scsi/blk",
        "scsi/ceil"
    );
    for r in &s.rows {
        write_stat_rows(
            &mut out,
            &r.workload.name,
            [&r.scsi, &r.blk, &r.ceiling],
            [r.scsi_over_blk, r.scsi_over_ceiling],
            9,
        );
    }
    let _ = writeln!(out, "peer: {}", s.peer);
    let _ = writeln!(out, "ceiling: {}", s.ceiling);
    out.push_str(&s.machine.render());
    out.push_str(&render_load(&s.load_before, &s.load_after));
    let _ = writeln!(
        out,
        "{}",
        if s.publishable {
            "publishable: yes (idle machine)"
        } else {
            "publishable: NO (the machine was not idle; rerun on an idle machine)"
        }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(target: &str, iops: f64) -> Sample {
        Sample {
            target: target.into(),
            secs: 1.0,
            ops: iops as u64,
            iops,
            mib_s: iops / 256.0,
            verified: iops as u64,
            cpu_secs: iops / 2e6,
            total_ops: iops as u64 * 2,
            server_cpu_secs: (target != "ceiling").then_some(iops / 1e6),
            poll_max_us: (target != "ceiling").then_some(50),
        }
    }

    #[test]
    fn rows_compare_scsi_with_blk_and_the_ceiling_and_a_busy_machine_is_not_publishable() {
        let w = Workload {
            name: "4k-rand-qd1".into(),
            pattern: "rand".into(),
            block_size: 4096,
            depth: 1,
        };
        let runs = vec![
            sample("scsi", 90.0),
            sample("blk", 100.0),
            sample("ceiling", 300.0),
            sample("scsi", 60.0),
            sample("blk", 120.0),
            sample("ceiling", 200.0),
            sample("scsi", 80.0),
            sample("blk", 80.0),
            sample("ceiling", 400.0),
        ];
        let r = row(w, runs);
        assert_eq!(
            (r.scsi.median_iops, r.blk.median_iops, r.ceiling.median_iops),
            (80.0, 100.0, 300.0)
        );
        assert!((r.scsi_over_blk - 0.8).abs() < 1e-9);
        assert_eq!(r.scsi.median_serve_cpu_us, Some(0.5));
        let summary = ScsiSummary {
            started: String::new(),
            host: String::new(),
            file: String::new(),
            file_bytes: 1 << 30,
            runs: 3,
            secs: 1.0,
            warmup_secs: 0.0,
            poll_max_us: 50,
            peer: PEER_NOTE.into(),
            ceiling: String::new(),
            scsi_command: vec![],
            blk_command: vec![],
            load_before: "15.2 14.0 12.1 9/900 1".into(),
            load_after: "16.0 14.2 12.3 9/900 1".into(),
            machine: Machine {
                cpus: 2,
                halt_poll: "guest halt-polling not configured".into(),
                cpuidle_driver: "none".into(),
                busy_before_percent: Some(95.0),
                busy_after_percent: Some(97.0),
                idle: false,
            },
            rows: vec![r],
            publishable: false,
        };
        let text = render(&summary);
        assert!(
            text.contains("4k-rand-qd1") && text.contains("0.80"),
            "{text}"
        );
        assert!(
            text.contains("Debian packages no other vhost-user-scsi back-end"),
            "{text}"
        );
        assert!(text.contains("load average before: 15.2"), "{text}");
        assert!(text.contains("publishable: NO"), "{text}");
        assert!(text.contains("BUSY (95.0%"), "{text}");
    }
}
