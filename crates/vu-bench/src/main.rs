//! `vu-bench`: the benchmark driver behind `cargo xtask bench blk`.
//!
//! Four subcommands, each printing one JSON object (see `report.rs`):
//! `prepare-file` writes (or checks and reads) the test file, `vhost-user` drives a vhost-user-blk
//! back-end listening on a socket (ours or any other), `idle` measures a
//! connected back-end's CPU while its queues are idle, and `pread` measures
//! the ceiling: the same reads straight from the file; `net` drives two
//! vhost-user-net ports, one sending to the other (`cargo xtask bench net`). Built in release mode
//! by the xtask; it is portable (vu-frontend and vu-sys only).
#![deny(clippy::undocumented_unsafe_blocks)]

mod net;
mod pread;
mod report;
mod scsi;
mod vhost;
mod workload;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use workload::Pattern;

/// Block-device benchmark driver (vhost-user-blk front-end and pread ceiling).
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What every workload takes.
#[derive(Debug, clap::Args)]
struct Workload {
    /// Offsets: random or sequential
    #[arg(long, value_enum)]
    pattern: Pattern,
    /// Bytes per request (a multiple of 4096)
    #[arg(long, default_value_t = 4096)]
    block_size: u64,
    /// Seconds measured, after the warm-up
    #[arg(long, default_value_t = 5.0)]
    secs: f64,
    /// Seconds run before measuring
    #[arg(long, default_value_t = 1.0)]
    warmup_secs: f64,
    /// Seed of the random offsets (the same seed gives every target the
    /// same offsets)
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Make sure the test file exists (self-describing 4 KiB blocks of the
    /// given size; rewritten otherwise) and is in the page cache (an
    /// existing file is read once)
    PrepareFile {
        #[arg(long)]
        path: PathBuf,
        /// Size in MiB
        #[arg(long, default_value_t = 1024)]
        size_mib: u64,
    },
    /// Drive a vhost-user-blk back-end listening on --socket
    VhostUser {
        #[arg(long)]
        socket: PathBuf,
        /// Requests in flight per queue
        #[arg(long, default_value_t = 1)]
        depth: usize,
        /// Queues to drive (one driver thread per queue)
        #[arg(long, default_value_t = 1)]
        queues: u16,
        /// Microseconds the driver spins on the used ring before sleeping on
        /// a call (0: it sleeps at once)
        #[arg(long, default_value_t = 0)]
        driver_poll_us: u64,
        #[command(flatten)]
        workload: Workload,
    },
    /// Drive a vhost-user-scsi back-end listening on --socket: READ
    /// CDBs to LUN 0 on the first request queue
    VhostUserScsi {
        #[arg(long)]
        socket: PathBuf,
        /// Requests in flight
        #[arg(long, default_value_t = 1)]
        depth: usize,
        #[command(flatten)]
        workload: Workload,
    },
    /// The idle CPU of a connected vhost-user-blk back-end: serve some
    /// requests one at a time, then leave the queues idle and measure the
    /// back-end process's CPU time
    Idle {
        #[arg(long)]
        socket: PathBuf,
        /// Process id of the back-end
        #[arg(long)]
        server_pid: u32,
        /// Queues to set up
        #[arg(long, default_value_t = 1)]
        queues: u16,
        /// Requests served before the idle period
        #[arg(long, default_value_t = 2000)]
        warm_requests: u64,
        /// Seconds of idleness measured
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
    },
    /// Drive two vhost-user-net ports: the first transmits frames to the
    /// second as fast as its ring allows (the same socket for a switch)
    Net {
        /// The transmitting port's socket
        #[arg(long)]
        tx_socket: PathBuf,
        /// The receiving port's socket [default: --tx-socket]
        #[arg(long)]
        rx_socket: Option<PathBuf>,
        /// Bytes per frame (Ethernet header included, 60..=2036)
        #[arg(long, default_value_t = 64)]
        frame_len: usize,
        /// Entries per queue
        #[arg(long, default_value_t = 256)]
        queue_size: u16,
        /// Seconds measured, after the warm-up
        #[arg(long, default_value_t = 5.0)]
        secs: f64,
        /// Seconds run before measuring
        #[arg(long, default_value_t = 1.0)]
        warmup_secs: f64,
    },
    /// The ceiling: pread loops on the file itself
    Pread {
        #[arg(long)]
        file: PathBuf,
        /// Threads, each with one read at a time
        #[arg(long, default_value_t = 1)]
        threads: usize,
        #[command(flatten)]
        workload: Workload,
    },
}

fn secs(s: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(s).map_err(|e| format!("bad duration {s}: {e}"))
}

fn check_block(w: &Workload) -> Result<(), String> {
    if w.block_size == 0 || w.block_size % workload::BLOCK != 0 {
        return Err(format!(
            "--block-size {} is not a multiple of {}",
            w.block_size,
            workload::BLOCK
        ));
    }
    Ok(())
}

fn run(cli: Cli) -> Result<String, String> {
    let json = |r: &report::Report| serde_json::to_string(r).map_err(|e| e.to_string());
    match cli.command {
        Command::PrepareFile { path, size_mib } => {
            let made = workload::prepare_file(&path, size_mib << 20)
                .map_err(|e| format!("cannot prepare {}: {e}", path.display()))?;
            let v = serde_json::json!({
                "file": path.display().to_string(),
                "bytes": size_mib << 20,
                "written": made,
            });
            Ok(v.to_string())
        }
        Command::VhostUser {
            socket,
            depth,
            queues,
            driver_poll_us,
            workload: w,
        } => {
            check_block(&w)?;
            if depth == 0 || queues == 0 {
                return Err("--depth and --queues must be at least 1".into());
            }
            let p = vhost::Params {
                pattern: w.pattern,
                block_size: w.block_size,
                depth,
                queues,
                warmup: secs(w.warmup_secs)?,
                duration: secs(w.secs)?,
                seed: w.seed,
                poll: Duration::from_micros(driver_poll_us),
            };
            json(&vhost::run(&socket, &p)?)
        }
        Command::VhostUserScsi {
            socket,
            depth,
            workload: w,
        } => {
            check_block(&w)?;
            if depth == 0 {
                return Err("--depth must be at least 1".into());
            }
            let p = vhost::Params {
                pattern: w.pattern,
                block_size: w.block_size,
                depth,
                queues: 1,
                warmup: secs(w.warmup_secs)?,
                duration: secs(w.secs)?,
                seed: w.seed,
                // The scsi workload's driver always sleeps on a call.
                poll: Duration::ZERO,
            };
            json(&scsi::run(&socket, &p)?)
        }
        Command::Idle {
            socket,
            server_pid,
            queues,
            warm_requests,
            secs: s,
        } => {
            if queues == 0 {
                return Err("--queues must be at least 1".into());
            }
            let r = vhost::idle(&socket, queues, warm_requests, secs(s)?, server_pid)?;
            serde_json::to_string(&r).map_err(|e| e.to_string())
        }
        Command::Net {
            tx_socket,
            rx_socket,
            frame_len,
            queue_size,
            secs: s,
            warmup_secs,
        } => {
            let rx_socket = rx_socket.unwrap_or_else(|| tx_socket.clone());
            let p = net::Params {
                frame_len,
                queue_size,
                warmup: secs(warmup_secs)?,
                duration: secs(s)?,
            };
            serde_json::to_string(&net::run(&tx_socket, &rx_socket, &p)?).map_err(|e| e.to_string())
        }
        Command::Pread {
            file,
            threads,
            workload: w,
        } => {
            check_block(&w)?;
            if threads == 0 {
                return Err("--threads must be at least 1".into());
            }
            let p = pread::Params {
                pattern: w.pattern,
                block_size: w.block_size,
                threads,
                warmup: secs(w.warmup_secs)?,
                duration: secs(w.secs)?,
                seed: w.seed,
            };
            json(&pread::run(&file, &p)?)
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vu-bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}
