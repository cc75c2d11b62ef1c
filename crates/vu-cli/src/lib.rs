//! The command line every vhost-user back-end program shares, following
//! QEMU's conventions for back-end programs (docs/interop/vhost-user.rst,
//! "Backend program conventions"): `--socket-path PATH` or `--fd N` says
//! where front-ends connect, `--print-capabilities` prints the program's
//! capabilities as JSON and exits.
//!
//! The framework (`vu-backend`) knows nothing of command lines: it takes a
//! [`vu_backend::Listener`] made from a path or an fd. This crate turns the
//! flags into one, installs the stderr logger, and gives every program the
//! same `main` shape ([`program_main`]): errors printed with their causes on
//! one line and a failing exit status.
#![forbid(unsafe_code)]

mod logger;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use vu_backend::{error_chain, Listener, Polling, ServeError};

pub use logger::init_logging;

/// The options every back-end program takes (where front-ends connect, how
/// queues are polled); flatten it into the program's own `clap::Parser`.
#[derive(Debug, Clone, clap::Args)]
pub struct ListenerArgs {
    /// Path of the vhost-user Unix socket to listen on
    #[arg(long, value_name = "PATH", conflicts_with = "fd", required_unless_present_any = ["print_capabilities", "fd"])]
    pub socket_path: Option<PathBuf>,

    /// Inherited vhost-user socket: a listening socket (connections are
    /// accepted one after another) or a connected one (served once)
    #[arg(long, value_name = "FDNUM")]
    pub fd: Option<i32>,

    /// Print the back-end capabilities as JSON and exit
    #[arg(long)]
    pub print_capabilities: bool,

    /// Poll each queue for new requests for up to this many microseconds
    /// after it is drained, before sleeping on its kick; the window adapts
    /// to the gaps between requests, and an idle back-end sleeps. Trades
    /// CPU for latency (a wake-up costs a VM exit where idle vCPUs halt).
    /// 0 turns polling off
    #[arg(
        long,
        value_name = "MICROSECONDS",
        default_value_t = POLL_MAX_US_DEFAULT,
        value_parser = clap::value_parser!(u64).range(0..=POLL_MAX_US_LIMIT),
    )]
    pub poll_max_us: u64,
}

/// `--poll-max-us` unless given: [`vu_backend::Polling::DEFAULT_MAX`].
pub const POLL_MAX_US_DEFAULT: u64 = Polling::DEFAULT_MAX.as_micros() as u64;
/// Largest `--poll-max-us` accepted (10 ms): a control message on the
/// socket may wait for one window, so longer ones are refused.
pub const POLL_MAX_US_LIMIT: u64 = 10_000;

/// Why the socket named on the command line cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListenError {
    #[error("neither --socket-path nor --fd was given")]
    NoSocket,
    #[error("--fd {fd} is not a usable socket")]
    Inherit {
        fd: i32,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Listener(ServeError),
}

impl ListenerArgs {
    /// The polling `--poll-max-us` asks for.
    pub fn polling(&self) -> Polling {
        Polling::up_to(Duration::from_micros(self.poll_max_us))
    }

    /// Opens what the flags name: binds `--socket-path`, or takes ownership
    /// of the inherited `--fd` (refused if it is not an open socket, or was
    /// already taken); queues are polled as `--poll-max-us` says.
    pub fn listener(&self) -> Result<Listener, ListenError> {
        let listener = match (&self.socket_path, self.fd) {
            (Some(path), _) => Listener::bind(path).map_err(ListenError::Listener),
            (None, Some(fd)) => {
                let owned = vu_sys::take_inherited_socket(fd)
                    .map_err(|source| ListenError::Inherit { fd, source })?;
                Listener::from_fd(owned).map_err(ListenError::Listener)
            }
            (None, None) => Err(ListenError::NoSocket),
        }?;
        Ok(listener.with_polling(self.polling()))
    }
}

/// The `main` every back-end program shares: `--print-capabilities` prints
/// `capabilities` and exits; otherwise logging starts and `run` serves, and
/// an error is printed with its causes and a failing exit status.
pub fn program_main(
    program: &'static str,
    capabilities: &str,
    listener: &ListenerArgs,
    run: impl FnOnce() -> Result<(), Box<dyn std::error::Error>>,
) -> ExitCode {
    if listener.print_capabilities {
        println!("{capabilities}");
        return ExitCode::SUCCESS;
    }
    init_logging(program);
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{program}: error: {}", error_chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Args {
        #[command(flatten)]
        listener: ListenerArgs,
    }

    #[test]
    fn a_socket_is_required_unless_printing_capabilities() {
        assert!(Args::try_parse_from(["p"]).is_err());
        assert!(Args::try_parse_from(["p", "--print-capabilities"]).is_ok());
        let a = Args::try_parse_from(["p", "--fd", "3"]).unwrap();
        assert_eq!(a.listener.fd, Some(3));
        assert!(
            Args::try_parse_from(["p", "--fd", "3", "--socket-path", "s"]).is_err(),
            "--fd and --socket-path conflict"
        );
    }

    #[test]
    fn poll_max_us_defaults_to_the_frameworks_maximum_and_zero_is_off() {
        let a = Args::try_parse_from(["p", "--fd", "3"]).unwrap();
        assert_eq!(a.listener.polling(), Polling::default());
        assert_eq!(a.listener.poll_max_us, 50);
        let a = Args::try_parse_from(["p", "--fd", "3", "--poll-max-us", "0"]).unwrap();
        assert_eq!(a.listener.polling(), Polling::off());
        let a = Args::try_parse_from(["p", "--fd", "3", "--poll-max-us", "200"]).unwrap();
        assert_eq!(a.listener.polling().max(), Duration::from_micros(200));
        let too_long = Args::try_parse_from(["p", "--fd", "3", "--poll-max-us", "10001"]);
        assert!(too_long.is_err(), "a window longer than 10 ms is refused");
    }

    #[test]
    fn an_fd_that_is_not_a_socket_is_refused_with_its_number() {
        let file = std::fs::File::open("/dev/null").unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
        let args = ListenerArgs {
            socket_path: None,
            fd: Some(fd),
            print_capabilities: false,
            poll_max_us: 0,
        };
        let err = args.listener().unwrap_err();
        assert!(
            matches!(err, ListenError::Inherit { fd: f, .. } if f == fd),
            "{err}"
        );
        assert_eq!(err.to_string(), format!("--fd {fd} is not a usable socket"));
    }
}
