//! `vhost-user-input`: the program. See the library for the device.
#![forbid(unsafe_code)]

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use vhost_user_input::config::{Kind, Profile};
use vhost_user_input::device::InputDevice;
use vhost_user_input::source::Source;
use vu_backend::serve;
use vu_cli::{program_main, ListenerArgs};

/// vhost-user virtio-input back-end.
///
/// Serves an input device to vhost-user front-ends (such as QEMU's
/// vhost-user-input-pci) on a Unix socket, one connection at a time, until
/// SIGTERM or SIGINT. Events come from a script (--script: a file, replayed
/// to every connection, or a FIFO, read as lines arrive), or, on Linux and
/// FreeBSD, from an evdev device (--evdev-path). Script lines are
/// `TYPE CODE VALUE` (names such as EV_KEY KEY_A, or numbers) or `tap KEY`;
/// `#` starts a comment. Log level: VU_LOG=error|warn|info|debug.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    listener: ListenerArgs,

    /// Events from a script file or FIFO
    #[arg(long, value_name = "PATH", required_unless_present_any = ["print_capabilities", "evdev_path"])]
    script: Option<PathBuf>,

    /// What the scripted device presents itself as
    #[arg(
        long,
        value_enum,
        default_value = "keyboard",
        conflicts_with = "evdev_path"
    )]
    kind: Kind,

    /// The device name the guest sees (default: from --kind, or the evdev
    /// device's own)
    #[arg(long)]
    name: Option<String>,

    /// The serial (unique id) the guest sees
    #[arg(long, default_value = "vhost-user-input-0")]
    serial: String,

    /// Events from this evdev device, whose identity and capabilities the
    /// guest sees (Linux and FreeBSD)
    #[arg(long, value_name = "PATH", conflicts_with = "script")]
    evdev_path: Option<PathBuf>,

    /// Do not grab the evdev device (the host keeps seeing its events too)
    #[arg(long, requires = "evdev_path")]
    no_grab: bool,
}

#[cfg(any(target_os = "linux", target_os = "freebsd"))]
const CAPABILITIES: &str = r#"{
  "type": "input",
  "features": [
    "evdev-path",
    "no-grab"
  ]
}"#;
#[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
const CAPABILITIES: &str = r#"{
  "type": "input"
}"#;

fn main() -> ExitCode {
    let args = Args::parse();
    program_main("vhost-user-input", CAPABILITIES, &args.listener, || {
        run(&args)
    })
}

fn default_name(kind: Kind) -> String {
    let what = match kind {
        Kind::Keyboard => "keyboard",
        Kind::Mouse => "mouse",
        Kind::Tablet => "tablet",
    };
    format!("vhost-user-input scripted {what}")
}

fn open(args: &Args) -> Result<(Profile, Source), Box<dyn std::error::Error>> {
    #[cfg(any(target_os = "linux", target_os = "freebsd"))]
    if let Some(path) = &args.evdev_path {
        let dev = vhost_user_input::evdev::Evdev::open(path, !args.no_grab)
            .map_err(|e| format!("cannot use {} as an evdev device: {e}", path.display()))?;
        let mut profile = dev
            .profile(&args.serial)
            .map_err(|e| format!("cannot query {}: {e}", path.display()))?;
        if let Some(name) = &args.name {
            profile.name = name.clone();
        }
        return Ok((profile, Source::Evdev(dev)));
    }
    #[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
    if args.evdev_path.is_some() || args.no_grab {
        return Err(
            "--evdev-path needs evdev, which this OS does not have (Linux and FreeBSD do)".into(),
        );
    }
    let Some(path) = &args.script else {
        return Err("--script is required".into());
    };
    let source = Source::script(path)?;
    let name = args.name.clone().unwrap_or_else(|| default_name(args.kind));
    Ok((
        Profile::scripted(args.kind, name, args.serial.clone()),
        source,
    ))
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let (profile, source) = open(args)?;
    let mut device = InputDevice::new(profile, source);
    let listener = args.listener.listener()?;
    serve(&mut device, listener)?;
    Ok(())
}
