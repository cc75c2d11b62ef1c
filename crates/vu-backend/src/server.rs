//! Where connections come from (a socket path, or an inherited socket fd),
//! and the accept loop that serves them one after another.

use crate::poll::Polling;
use crate::session::{End, Session};
use crate::Device;
use std::io;
use std::ops::ControlFlow;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use vu_sys::{Poller, TerminationSignal};

/// Where front-ends connect, with the termination signals already caught.
///
/// The handlers are installed before the socket exists: a supervisor that
/// sends SIGTERM as soon as the socket appears must get a clean exit, never
/// the default action that kills the process outright.
#[derive(Debug)]
pub struct Listener {
    socket: Socket,
    term: TerminationSignal,
    polling: Polling,
}

#[derive(Debug)]
enum Socket {
    /// Accept connections, one at a time, until terminated.
    Listen(UnixListener),
    /// Serve this one connection, then return.
    Connected(UnixStream),
}

/// Why serving stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    #[error("cannot listen on {path}")]
    Bind {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("fd {fd} is not a usable socket")]
    Fd {
        fd: i32,
        #[source]
        source: io::Error,
    },
    #[error("cannot install signal handlers")]
    Signals(#[source] io::Error),
    #[error("event loop failed")]
    Poll(#[source] io::Error),
    #[error("cannot accept a connection")]
    Accept(#[source] io::Error),
    #[error("the connection failed")]
    Connection(#[source] crate::Error),
}

impl Listener {
    /// Binds `path`, replacing a stale socket file left by an earlier run
    /// (any other kind of file is left alone and the bind fails).
    pub fn bind(path: &std::path::Path) -> Result<Self, ServeError> {
        use std::os::unix::fs::FileTypeExt;
        let term = TerminationSignal::install().map_err(ServeError::Signals)?;
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
            let _ = std::fs::remove_file(path);
        }
        let listener = UnixListener::bind(path).map_err(|source| ServeError::Bind {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            socket: Socket::Listen(listener),
            term,
            polling: Polling::default(),
        })
    }

    /// Adopts a socket fd: listening if it has no peer, connected otherwise.
    pub fn from_fd(fd: OwnedFd) -> Result<Self, ServeError> {
        let term = TerminationSignal::install().map_err(ServeError::Signals)?;
        let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
        let connected = vu_sys::is_connected_socket(fd.as_fd())
            .map_err(|source| ServeError::Fd { fd: raw, source })?;
        let socket = if connected {
            Socket::Connected(UnixStream::from(fd))
        } else {
            Socket::Listen(UnixListener::from(fd))
        };
        Ok(Self {
            socket,
            term,
            polling: Polling::default(),
        })
    }

    /// Sets how long queues are polled after a drain before the back-end
    /// sleeps on their kick fds ([`Polling::default`] unless set).
    pub fn with_polling(mut self, polling: Polling) -> Self {
        self.polling = polling;
        self
    }
}

/// Serves front-ends with `device` until SIGTERM/SIGINT (then `Ok`), or, for
/// a connected `--fd`, until that connection ends. A connection that fails
/// is logged and closed, the device is reset, and the next one is accepted.
pub fn serve<D: Device>(device: &mut D, listener: Listener) -> Result<(), ServeError> {
    let Listener {
        socket,
        term,
        polling,
    } = listener;
    match socket {
        Socket::Connected(stream) => serve_fd(device, stream, &term, polling),
        Socket::Listen(listener) => accept_each(&listener, &term, |stream| {
            log::info!("front-end connected");
            match log_end(serve_one(device, stream, &term, polling)) {
                End::Terminated => {
                    log::info!("terminating on signal");
                    ControlFlow::Break(())
                }
                End::Disconnected => ControlFlow::Continue(()),
            }
        }),
    }
}

/// Serves one connection with `device`, which is reset afterwards (also
/// when the connection failed).
fn serve_one<D: Device>(
    device: &mut D,
    stream: UnixStream,
    term: &TerminationSignal,
    polling: Polling,
) -> Result<End, crate::Error> {
    // Non-blocking: the session waits for the socket and the termination
    // signal together, so a front-end that stops reading or writing in the
    // middle of a message cannot keep SIGTERM from ending the process.
    let end = stream
        .set_nonblocking(true)
        .and_then(|()| Session::new(device, stream, term, polling))
        .map_err(crate::Error::Io)
        .and_then(Session::run);
    device.reset();
    end
}

/// The inherited connected `--fd`: its one connection, whose failure is
/// the caller's.
fn serve_fd<D: Device>(
    device: &mut D,
    stream: UnixStream,
    term: &TerminationSignal,
    polling: Polling,
) -> Result<(), ServeError> {
    serve_one(device, stream, term, polling)
        .map(|_| ())
        .map_err(ServeError::Connection)
}

/// Logs how a connection ended, unless a signal ended it (the caller says
/// so once for the process); a failed one counts as disconnected.
fn log_end(end: Result<End, crate::Error>) -> End {
    match end {
        Ok(End::Terminated) => End::Terminated,
        Ok(End::Disconnected) => {
            log::info!("front-end disconnected");
            End::Disconnected
        }
        Err(e) => {
            log::error!("closing connection: {}", error_chain(&e));
            End::Disconnected
        }
    }
}

/// Serves any number of front-ends at once (at most `max` connections; one
/// beyond that is closed at once, with a warning), each on a thread of its
/// own with a device of its own from `make` (if `make` fails, that
/// connection is closed, with the error logged), until SIGTERM/SIGINT (then
/// `Ok`, once every connection has ended), or, for a connected `--fd`,
/// until that one connection ends. For devices whose connections share
/// something (the ports of a switch); each session is the same as
/// [`serve`]'s, so a connection that fails is logged and closed, and the
/// others go on.
pub fn serve_each<D, F>(make: F, listener: Listener, max: usize) -> Result<(), ServeError>
where
    D: Device + Send,
    F: FnMut() -> io::Result<D>,
{
    let Listener {
        socket,
        term,
        polling,
    } = listener;
    let mut make = make;
    match socket {
        Socket::Connected(stream) => {
            let mut device = make().map_err(|e| ServeError::Connection(crate::Error::Io(e)))?;
            serve_fd(&mut device, stream, &term, polling)
        }
        Socket::Listen(listener) => {
            let live = std::sync::atomic::AtomicUsize::new(0);
            std::thread::scope(|scope| {
                accept_each(&listener, &term, |stream| {
                    use std::sync::atomic::Ordering;
                    if live.load(Ordering::Acquire) >= max {
                        log::warn!("refusing a front-end: {max} connections are served already");
                        return ControlFlow::Continue(());
                    }
                    let mut device = match make() {
                        Ok(d) => d,
                        Err(e) => {
                            log::error!("refusing a front-end: cannot set up its device: {e}");
                            return ControlFlow::Continue(());
                        }
                    };
                    live.fetch_add(1, Ordering::AcqRel);
                    let (live, term) = (&live, &term);
                    let spawned = std::thread::Builder::new()
                        .name("vu-connection".into())
                        .spawn_scoped(scope, move || {
                            log::info!("front-end connected");
                            // A signal ends the accept loop too, which
                            // says so once.
                            log_end(serve_one(&mut device, stream, term, polling));
                            drop(device);
                            live.fetch_sub(1, Ordering::AcqRel);
                        });
                    if let Err(e) = spawned {
                        live.fetch_sub(1, Ordering::AcqRel);
                        log::error!("cannot start a connection thread: {e}");
                    }
                    ControlFlow::Continue(())
                })
            })
        }
    }
}

/// Accepts connections until a termination signal, or until `serve` (given
/// each connection) breaks.
fn accept_each(
    listener: &UnixListener,
    term: &TerminationSignal,
    mut serve: impl FnMut(UnixStream) -> ControlFlow<()>,
) -> Result<(), ServeError> {
    const KEY_LISTEN: usize = 0;
    const KEY_TERM: usize = 1;
    listener.set_nonblocking(true).map_err(ServeError::Accept)?;
    let mut poller = Poller::new().map_err(ServeError::Poll)?;
    poller
        .add(listener.as_fd(), KEY_LISTEN)
        .map_err(ServeError::Poll)?;
    poller.add(term.fd(), KEY_TERM).map_err(ServeError::Poll)?;
    let mut ready = Vec::new();
    loop {
        ready.clear();
        poller.wait(&mut ready, None).map_err(ServeError::Poll)?;
        if term.requested() || ready.contains(&KEY_TERM) {
            log::info!("terminating on signal");
            return Ok(());
        }
        if !ready.contains(&KEY_LISTEN) {
            continue;
        }
        match listener.accept() {
            Ok((stream, _)) => {
                if serve(stream).is_break() {
                    return Ok(());
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(ServeError::Accept(e)),
        }
    }
}

/// An error and its causes on one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
