//! Where events come from: a script file (replayed to every connection), a
//! FIFO of script lines (read as they arrive; opened read-write so that its
//! writers may come and go without an end of file), or an evdev device
//! where the OS has evdev (`evdev.rs`, Linux and FreeBSD).

use crate::script::{self, LineBuffer, ScriptError};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use vu_protocol::virtio::input::Event;

/// Why a source cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    #[error("cannot open {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("script {path}")]
    Script {
        path: PathBuf,
        #[source]
        source: ScriptError,
    },
}

/// An event source.
#[derive(Debug)]
pub enum Source {
    /// A script file's events, replayed to each connection.
    Replay(Vec<Event>),
    /// A FIFO of script lines.
    Fifo {
        path: PathBuf,
        file: File,
        lines: LineBuffer,
    },
    #[cfg(any(target_os = "linux", target_os = "freebsd"))]
    Evdev(crate::evdev::Evdev),
}

impl Source {
    /// Opens a script: a FIFO is read as lines arrive, anything else is
    /// read and parsed whole now (an error names the line).
    pub fn script(path: &Path) -> Result<Self, SourceError> {
        let open = |source| SourceError::Open {
            path: path.to_owned(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(open)?;
        if meta.file_type().is_fifo() {
            let file = vu_sys::open_nonblocking(path, true).map_err(open)?;
            return Ok(Source::Fifo {
                path: path.to_owned(),
                file,
                lines: LineBuffer::default(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(open)?;
        let events = script::parse(&text).map_err(|source| SourceError::Script {
            path: path.to_owned(),
            source,
        })?;
        Ok(Source::Replay(events))
    }

    /// The fd the event loop waits on (none for a replayed script).
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        match self {
            Source::Replay(_) => None,
            Source::Fifo { file, .. } => Some(file.as_fd()),
            #[cfg(any(target_os = "linux", target_os = "freebsd"))]
            Source::Evdev(d) => Some(d.fd()),
        }
    }

    /// The events every connection starts with.
    pub fn replay(&self) -> &[Event] {
        match self {
            Source::Replay(events) => events,
            _ => &[],
        }
    }

    /// Reads what the source has into `out`; `false` when it can give no
    /// more (the reason is logged).
    pub fn read(&mut self, out: &mut Vec<Event>) -> bool {
        match self {
            Source::Replay(_) => false,
            Source::Fifo { path, file, lines } => {
                let mut buf = [0u8; 4096];
                loop {
                    match file.read(&mut buf) {
                        Ok(0) => {
                            log::warn!("{}: end of file", path.display());
                            return false;
                        }
                        Ok(n) => {
                            for e in lines.push(&buf[..n], out) {
                                log::error!("script {}: {e} (line skipped)", path.display());
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            log::error!("reading {}: {e}", path.display());
                            return false;
                        }
                    }
                }
            }
            #[cfg(any(target_os = "linux", target_os = "freebsd"))]
            Source::Evdev(d) => d.read(out),
        }
    }
}
