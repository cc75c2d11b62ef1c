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
use vu_backend::{error_chain, Listener, ServeError};

pub use logger::init_logging;

/// The socket options every back-end program takes; flatten it into the
/// program's own `clap::Parser`.
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
}

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
    /// Opens what the flags name: binds `--socket-path`, or takes ownership
    /// of the inherited `--fd` (refused if it is not an open socket, or was
    /// already taken).
    pub fn listener(&self) -> Result<Listener, ListenError> {
        match (&self.socket_path, self.fd) {
            (Some(path), _) => Listener::bind(path).map_err(ListenError::Listener),
            (None, Some(fd)) => {
                let owned = vu_sys::take_inherited_socket(fd)
                    .map_err(|source| ListenError::Inherit { fd, source })?;
                Listener::from_fd(owned).map_err(ListenError::Listener)
            }
            (None, None) => Err(ListenError::NoSocket),
        }
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
    fn an_fd_that_is_not_a_socket_is_refused_with_its_number() {
        let file = std::fs::File::open("/dev/null").unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
        let args = ListenerArgs {
            socket_path: None,
            fd: Some(fd),
            print_capabilities: false,
        };
        let err = args.listener().unwrap_err();
        assert!(
            matches!(err, ListenError::Inherit { fd: f, .. } if f == fd),
            "{err}"
        );
        assert_eq!(err.to_string(), format!("--fd {fd} is not a usable socket"));
    }
}
