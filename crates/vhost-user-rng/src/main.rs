//! `vhost-user-rng`: a virtio-rng device fed from the OS entropy source.
//!
//! The entropy comes from `/dev/urandom`, which every supported OS has
//! (Linux, FreeBSD, NetBSD, OpenBSD) and which never blocks once the system
//! is seeded; it is opened once at start-up, so a missing device fails early.
//! Each request is filled up to [`MAX_REQUEST`] bytes; the used length tells
//! the driver how much it got.
#![forbid(unsafe_code)]

use clap::Parser;
use std::fs::File;
use std::io::Read;
use std::process::ExitCode;
use vu_backend::{serve, Device, Request};
use vu_cli::{program_main, ListenerArgs};

/// Largest amount of entropy given per request.
const MAX_REQUEST: usize = 64 << 10;

/// vhost-user virtio-rng back-end.
///
/// Serves entropy from /dev/urandom to vhost-user front-ends (such as QEMU's
/// vhost-user-rng-pci) on a Unix socket, one connection at a time, until
/// SIGTERM or SIGINT. Log level: VU_LOG=error|warn|info|debug.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    listener: ListenerArgs,
}

struct RngDevice {
    source: File,
    buf: Vec<u8>,
}

impl Device for RngDevice {
    fn num_queues(&self) -> u16 {
        1
    }

    fn features(&self) -> u64 {
        0
    }

    fn process(&mut self, _queue: u16, request: &mut Request<'_>) {
        let n = request.writer.remaining().min(MAX_REQUEST);
        self.buf.resize(n, 0);
        match self.source.read_exact(&mut self.buf) {
            Ok(()) => {
                request.writer.write(&self.buf);
            }
            // Nothing written: the driver sees a zero-length completion.
            Err(e) => log::error!("reading entropy: {e}"),
        }
    }
}

const CAPABILITIES: &str = r#"{
  "type": "rng"
}"#;

fn main() -> ExitCode {
    let args = Args::parse();
    program_main("vhost-user-rng", CAPABILITIES, &args.listener, || {
        run(&args)
    })
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let source =
        File::open("/dev/urandom").map_err(|e| format!("cannot open /dev/urandom: {e}"))?;
    let mut device = RngDevice {
        source,
        buf: Vec::new(),
    };
    let listener = args.listener.listener()?;
    serve(&mut device, listener)?;
    Ok(())
}
