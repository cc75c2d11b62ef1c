//! `vhost-user-net`: a learning switch between vhost-user front-ends.
#![forbid(unsafe_code)]

use clap::Parser;
use std::net::SocketAddr;
use std::process::ExitCode;
use vhost_user_net::port::NetPort;
use vhost_user_net::switch::Switch;
use vhost_user_net::uplink::udp::UdpLink;
use vu_backend::serve_each;
use vu_cli::{program_main, ListenerArgs};

/// vhost-user virtio-net back-end: a switch.
///
/// Every front-end that connects to the socket (such as QEMU's
/// `-netdev vhost-user` with `virtio-net-pci`) gets a port of one learning
/// switch; frames go to the port their destination was seen on, or to all
/// (broadcast, multicast, unknown). With --udp-local and --udp-remote the
/// switch has an uplink: each frame is one UDP datagram, as QEMU's
/// `-netdev dgram` sends them. On Linux and the BSDs, --tap makes a tap
/// interface of the host the uplink. Runs until SIGTERM or SIGINT.
/// Log level: VU_LOG=error|warn|info|debug.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    listener: ListenerArgs,

    /// UDP uplink: the local address to bind (ADDR:PORT; port 0 picks one)
    #[arg(long, value_name = "ADDR:PORT", requires = "udp_remote")]
    udp_local: Option<SocketAddr>,

    /// UDP uplink: where frames are sent, and the only source accepted
    #[arg(long, value_name = "ADDR:PORT", requires = "udp_local")]
    udp_remote: Option<SocketAddr>,

    /// Tap uplink: the switch's frames go to (and come from) the host's
    /// tap interface NAME, created if it does not exist; `tap` lets the OS
    /// pick one (the log names it). Giving it an address and bringing it up
    /// is left to the administrator (Linux, FreeBSD, NetBSD, OpenBSD)
    #[arg(long, value_name = "NAME", conflicts_with = "udp_local")]
    #[cfg_attr(
        not(any(
            target_os = "linux",
            target_os = "freebsd",
            target_os = "netbsd",
            target_os = "openbsd"
        )),
        arg(hide = true)
    )]
    tap: Option<String>,

    /// Most front-ends connected at once (each is a port); one more is
    /// refused
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=1024))]
    max_ports: u16,
}

const CAPABILITIES: &str = r#"{
  "type": "net"
}"#;

fn main() -> ExitCode {
    let args = Args::parse();
    program_main("vhost-user-net", CAPABILITIES, &args.listener, || {
        run(&args)
    })
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let switch = Switch::new();
    let uplink = match (args.udp_local, args.udp_remote) {
        (Some(local), Some(remote)) => Some(UdpLink::bind(local, remote)?.start(switch.clone())?),
        _ => tap_uplink(args, &switch)?,
    };
    let listener = args.listener.listener()?;
    let result = serve_each(
        || NetPort::attach(switch.clone()),
        listener,
        usize::from(args.max_ports),
    );
    if let Some(u) = uplink {
        u.stop();
    }
    result?;
    Ok(())
}

#[cfg(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd"
))]
fn tap_uplink(
    args: &Args,
    switch: &std::sync::Arc<Switch>,
) -> Result<Option<vhost_user_net::uplink::Uplink>, Box<dyn std::error::Error>> {
    let Some(name) = &args.tap else {
        return Ok(None);
    };
    let link = vhost_user_net::uplink::tap::TapLink::open(name)?;
    Ok(Some(link.start(switch.clone())?))
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd"
)))]
fn tap_uplink(
    args: &Args,
    _: &std::sync::Arc<Switch>,
) -> Result<Option<vhost_user_net::uplink::Uplink>, Box<dyn std::error::Error>> {
    if args.tap.is_some() {
        return Err("--tap needs tap interfaces, which this OS does not have (Linux, FreeBSD, NetBSD and OpenBSD do)".into());
    }
    Ok(None)
}
