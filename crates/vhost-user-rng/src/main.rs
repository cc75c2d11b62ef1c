//! `vhost-user-rng`: a virtio-rng device fed from the OS entropy source.
//!
//! The entropy comes from `/dev/urandom`, which every supported OS has
//! (Linux, FreeBSD, NetBSD, OpenBSD) and which never blocks once the system
//! is seeded; it is opened once at start-up, so a missing device fails early.
//! Each request is filled up to [`MAX_REQUEST`] bytes; the used length tells
//! the driver how much it got.
//!
//! `--rng-source` names another source (a hardware RNG device, say). A
//! regular file is served from its start again whenever it ends: known
//! bytes, for tests and replays, never entropy.
#![forbid(unsafe_code)]

use clap::Parser;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
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

    /// Where the bytes come from. A regular file is served again from its
    /// start when it ends (known bytes for tests, not entropy)
    #[arg(long, value_name = "PATH", default_value = "/dev/urandom")]
    rng_source: PathBuf,
}

struct RngDevice {
    source: File,
    /// The source is a regular file, read again from its start at its end.
    rewind: bool,
    buf: Vec<u8>,
}

impl RngDevice {
    /// Fills `self.buf` from the source, rewinding a regular file at its end.
    fn fill(&mut self) -> std::io::Result<()> {
        let mut at = 0;
        // A file emptied since start-up would rewind forever: once is enough.
        let mut rewound = false;
        while at < self.buf.len() {
            match self.source.read(&mut self.buf[at..]) {
                Ok(0) if self.rewind && !rewound => {
                    self.source.seek(SeekFrom::Start(0))?;
                    rewound = true;
                }
                Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    at += n;
                    rewound = false;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl Device for RngDevice {
    fn num_queues(&self) -> u16 {
        1
    }

    /// `RING_EVENT_IDX` only (the framework implements it): QEMU 7.2's
    /// vhost-user-rng-pci acknowledges it whether offered or not.
    fn features(&self) -> u64 {
        vu_protocol::virtio::features::RING_EVENT_IDX
    }

    fn process(&mut self, _queue: u16, request: &mut Request<'_>) {
        let n = request.writer.remaining().min(MAX_REQUEST);
        self.buf.resize(n, 0);
        match self.fill() {
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
    let path = &args.rng_source;
    let source = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let meta = source
        .metadata()
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let rewind = meta.is_file();
    if rewind && meta.len() == 0 {
        return Err(format!("{} is an empty file", path.display()).into());
    }
    let mut device = RngDevice {
        source,
        rewind,
        buf: Vec::new(),
    };
    let listener = args.listener.listener()?;
    serve(&mut device, listener)?;
    Ok(())
}
