//! `vhost-user-scsi`: serves files as the logical units of a virtio-scsi
//! device.
#![forbid(unsafe_code)]

use clap::Parser;
use std::process::ExitCode;
use vhost_user_scsi::lun::LunSpec;
use vhost_user_scsi::{ScsiDevice, MAX_LUNS};
use vu_backend::serve;
use vu_cli::{program_main, ListenerArgs};

/// vhost-user virtio-scsi back-end.
///
/// Serves one SCSI target whose logical units are files (LUN 0, 1, ... in
/// the order of the --lun options) to vhost-user front-ends (such as QEMU's
/// vhost-user-scsi-pci) on a Unix socket, one connection at a time, until
/// SIGTERM or SIGINT. Log level: VU_LOG=error|warn|info|debug.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    listener: ListenerArgs,

    /// A logical unit: PATH[,ro][,serial=ID]. `ro` write-protects it;
    /// `serial` sets its unit serial number (default: the file name).
    /// Repeat for LUN 1, 2, ...
    #[arg(
        long,
        value_name = "PATH[,ro][,serial=ID]",
        required_unless_present = "print_capabilities"
    )]
    lun: Vec<LunSpec>,

    /// Number of request queues
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    num_queues: u16,
}

const CAPABILITIES: &str = r#"{
  "type": "scsi"
}"#;

fn main() -> ExitCode {
    let args = Args::parse();
    program_main("vhost-user-scsi", CAPABILITIES, &args.listener, || {
        run(&args)
    })
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    if args.lun.len() > MAX_LUNS {
        return Err(format!("--lun given {} times; at most {MAX_LUNS}", args.lun.len()).into());
    }
    let mut device = ScsiDevice::open(&args.lun, args.num_queues)?;
    for (i, (unit, spec)) in device.luns().iter().zip(&args.lun).enumerate() {
        log::info!(
            "LUN {i}: {} ({} blocks{})",
            spec.path.display(),
            unit.blocks(),
            if unit.read_only() { ", read-only" } else { "" }
        );
    }
    let listener = args.listener.listener()?;
    serve(&mut device, listener)?;
    Ok(())
}
