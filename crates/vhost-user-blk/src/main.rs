//! `vhost-user-blk`: serves a file or block device as a virtio-blk device.
#![forbid(unsafe_code)]

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use vhost_user_blk::{BlkDevice, BlkSettings};
use vu_backend::serve;
use vu_cli::{program_main, ListenerArgs};

/// vhost-user virtio-blk back-end.
///
/// Serves --blk-file to vhost-user front-ends (such as QEMU's
/// vhost-user-blk-pci) on a Unix socket, one connection at a time, until
/// SIGTERM or SIGINT. Log level: VU_LOG=error|warn|info|debug.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    listener: ListenerArgs,

    /// File or block device to serve
    #[arg(
        long,
        value_name = "PATH",
        required_unless_present = "print_capabilities"
    )]
    blk_file: Option<PathBuf>,

    /// Refuse writes and advertise a read-only device
    #[arg(long)]
    read_only: bool,

    /// Number of request queues
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    num_queues: u16,

    /// Device ID returned to the guest (at most 20 bytes are used; default:
    /// the file name)
    #[arg(long)]
    serial: Option<String>,
}

const CAPABILITIES: &str = r#"{
  "type": "block",
  "features": [
    "read-only",
    "blk-file"
  ]
}"#;

fn main() -> ExitCode {
    let args = Args::parse();
    program_main("vhost-user-blk", CAPABILITIES, &args.listener, || {
        run(&args)
    })
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let Some(path) = &args.blk_file else {
        return Err("--blk-file is required".into());
    };
    let serial = args.serial.clone().unwrap_or_else(|| {
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let mut device = BlkDevice::open(
        path,
        BlkSettings {
            read_only: args.read_only,
            num_queues: args.num_queues,
            serial,
        },
    )?;
    log::info!(
        "serving {} ({} sectors, {} queues{})",
        path.display(),
        device.capacity(),
        args.num_queues,
        if args.read_only { ", read-only" } else { "" }
    );
    let listener = args.listener.listener()?;
    serve(&mut device, listener)?;
    Ok(())
}
