//! Event notifiers: eventfd where the OS has one, a pipe pair where not.
//!
//! All three types signal by writing an 8-byte value and consume with one
//! read (of 8 bytes from an eventfd, of what is queued from a pipe or
//! socket), which works on both kinds of fd; so a received fd can be used
//! whatever kind the peer created.
//!
//! A received fd is the peer's to choose, so nothing done with one may
//! block: [`NotifySender::from_peer`] and [`NotifyReceiver::from_fd`] make
//! it non-blocking (a full counter or pipe then means a signal is already
//! pending, which is success), refuse kinds that are never notifiers (a
//! regular file would grow by 8 bytes per signal and is always readable, a
//! device such as `/dev/zero` always readable), and
//! [`NotifyReceiver::consume`] tells end of file and errors apart from a
//! signal, so a dead kick fd can be dropped instead of waking its waiter
//! forever.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

fn signal(fd: BorrowedFd<'_>) -> io::Result<()> {
    let v = 1u64.to_ne_bytes();
    // SAFETY: writes 8 bytes from a live buffer to an open fd.
    let n = unsafe { libc::write(fd.as_raw_fd(), v.as_ptr().cast(), v.len()) };
    if n < 0 {
        let e = io::Error::last_os_error();
        // A full pipe or a saturated counter already means "signalled".
        if e.kind() == io::ErrorKind::WouldBlock {
            return Ok(());
        }
        return Err(e);
    }
    Ok(())
}

/// Reads once; returns whether anything was pending. A blocking fd must be
/// known to be readable first (the poller said so).
fn consume(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let mut buf = [0u8; 8];
    // SAFETY: reads at most 8 bytes into a live 8-byte buffer.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        let e = io::Error::last_os_error();
        if matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
        ) {
            return Ok(false);
        }
        return Err(e);
    }
    Ok(n > 0)
}

/// What reading a received fd once found.
#[derive(Debug)]
pub enum Consumed {
    /// At least one signal was pending; it is consumed.
    Signalled,
    /// Nothing was pending (a spurious wake-up).
    Nothing,
    /// The fd can never signal again: end of file (the writer of a pipe or
    /// socket closed) or an error. A level-triggered poller keeps reporting
    /// such an fd, so the caller must stop watching it.
    Closed(io::Error),
}

/// Reads once from a non-blocking fd.
fn read_signal(fd: BorrowedFd<'_>) -> Consumed {
    // An eventfd gives its 8-byte counter whatever the size; a pipe or
    // socket gives what is queued, up to the buffer: a page's worth per
    // wake-up, not 8 bytes (a pipe holding a child's output would wake
    // the loop once per 8 bytes of it).
    let mut buf = [0u8; 4096];
    // SAFETY: reads at most `buf.len()` bytes into a live buffer of that size.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    match n {
        0 => Consumed::Closed(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "end of file (the writing end was closed)",
        )),
        n if n > 0 => Consumed::Signalled,
        _ => {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Consumed::Nothing,
                _ => Consumed::Closed(e),
            }
        }
    }
}

/// Refuses fds of a kind that is never an eventfd, a pipe or a socket:
/// regular files, directories, devices, symbolic links. (An eventfd shows
/// as a FIFO on FreeBSD and NetBSD and has no file type on Linux.)
fn check_notifier_kind(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: an all-zero stat is a valid out-buffer; fstat only writes it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on a borrowed, open fd with a valid out pointer.
    crate::cvt(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    let what = match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => "a regular file",
        libc::S_IFDIR => "a directory",
        libc::S_IFCHR => "a character device",
        libc::S_IFBLK => "a block device",
        libc::S_IFLNK => "a symbolic link",
        _ => return Ok(()),
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what} cannot be a notifier (an eventfd, pipe or socket is needed)"),
    ))
}

/// Makes a received fd non-blocking, and checks that it is.
fn make_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    crate::set_nonblocking(fd)?;
    // SAFETY: fcntl on a borrowed, open fd with integer arguments.
    let flags = crate::cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    if flags & libc::O_NONBLOCK == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the notifier cannot be made non-blocking",
        ));
    }
    Ok(())
}

/// Waits until `fd` is readable or `timeout` passes; true if readable.
fn wait_readable(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut p, 1, ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(e);
    }
    Ok(n > 0)
}

/// A notifier created here: the read end and the write end (the same
/// eventfd, or the two ends of a pipe). Its ends are non-blocking.
#[derive(Debug)]
pub struct Notifier {
    rx: OwnedFd,
    tx: OwnedFd,
}

impl Notifier {
    pub fn new() -> io::Result<Self> {
        let (rx, tx) = crate::os::notifier_pair()?;
        Ok(Self { rx, tx })
    }

    /// The end to wait on (send this to a peer that waits).
    pub fn read_fd(&self) -> BorrowedFd<'_> {
        self.rx.as_fd()
    }

    /// The end to signal (send this to a peer that signals).
    pub fn write_fd(&self) -> BorrowedFd<'_> {
        self.tx.as_fd()
    }

    pub fn notify(&self) -> io::Result<()> {
        signal(self.tx.as_fd())
    }

    /// Consumes every pending signal; returns whether there was any.
    pub fn drain(&self) -> io::Result<bool> {
        let mut any = false;
        while consume(self.rx.as_fd())? {
            any = true;
        }
        Ok(any)
    }

    /// Waits for a signal (and consumes it) or the timeout; true if signalled.
    pub fn wait_timeout(&self, timeout: Duration) -> io::Result<bool> {
        if self.drain()? {
            return Ok(true);
        }
        if wait_readable(self.rx.as_fd(), timeout)? {
            return self.drain();
        }
        Ok(false)
    }
}

/// A received fd this side waits on (a kick fd in a back-end).
#[derive(Debug)]
pub struct NotifyReceiver(OwnedFd);

impl NotifyReceiver {
    /// Wraps a received fd and makes it non-blocking, so a spurious wake-up
    /// never blocks the event loop; refuses fds that are not notifiers
    /// (see the module documentation).
    pub fn from_fd(fd: OwnedFd) -> io::Result<Self> {
        check_notifier_kind(fd.as_fd())?;
        make_nonblocking(fd.as_fd())?;
        Ok(Self(fd))
    }

    /// Consumes pending signals with a single read; call it when the
    /// poller reports the fd readable (a pipe with more than a page
    /// queued stays readable and is reported again).
    pub fn consume(&self) -> Consumed {
        read_signal(self.0.as_fd())
    }
}

impl AsFd for NotifyReceiver {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// A received fd this side signals (a call or error fd in a back-end).
#[derive(Debug)]
pub struct NotifySender(OwnedFd);

impl NotifySender {
    /// Wraps an fd this process created non-blocking (see [`Notifier`]).
    pub fn from_fd(fd: OwnedFd) -> Self {
        Self(fd)
    }

    /// Wraps an fd received from a peer: refuses fds that are not
    /// notifiers and makes it non-blocking, so that signalling never waits
    /// for the peer. (`O_NONBLOCK` belongs to the open file, which the peer
    /// shares; a vhost-user front-end reads its call fds non-blocking.)
    pub fn from_peer(fd: OwnedFd) -> io::Result<Self> {
        check_notifier_kind(fd.as_fd())?;
        make_nonblocking(fd.as_fd())?;
        Ok(Self(fd))
    }

    pub fn notify(&self) -> io::Result<()> {
        signal(self.0.as_fd())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_then_wait_and_drain() {
        let n = Notifier::new().unwrap();
        assert!(!n.drain().unwrap());
        assert!(!n.wait_timeout(Duration::from_millis(0)).unwrap());
        n.notify().unwrap();
        n.notify().unwrap();
        assert!(n.wait_timeout(Duration::from_secs(5)).unwrap());
        assert!(!n.drain().unwrap());
    }

    #[test]
    fn received_ends_interoperate() {
        let n = Notifier::new().unwrap();
        let tx = NotifySender::from_fd(n.write_fd().try_clone_to_owned().unwrap());
        let rx = NotifyReceiver::from_fd(n.read_fd().try_clone_to_owned().unwrap()).unwrap();
        tx.notify().unwrap();
        assert!(matches!(rx.consume(), Consumed::Signalled));
        assert!(matches!(rx.consume(), Consumed::Nothing));
    }

    #[test]
    fn a_full_received_notifier_counts_as_signalled() {
        use std::io::Write;
        // A blocking socket with a full buffer: a blocking write would wait
        // for the peer forever.
        let (full, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
        full.set_nonblocking(true).unwrap();
        while (&full).write(&[0u8; 512]).is_ok() {}
        full.set_nonblocking(false).unwrap();
        let tx = NotifySender::from_peer(full.into()).unwrap();
        tx.notify().unwrap();
    }

    #[test]
    fn a_page_of_queued_bytes_is_one_wake_up() {
        use std::io::Write;
        // A child's output left in a pipe: 4000 bytes, then end of file.
        let (kick, mut writer) = std::os::unix::net::UnixStream::pair().unwrap();
        writer.write_all(&[b'x'; 4000]).unwrap();
        drop(writer);
        let rx = NotifyReceiver::from_fd(kick.into()).unwrap();
        assert!(matches!(rx.consume(), Consumed::Signalled));
        assert!(matches!(rx.consume(), Consumed::Closed(_)));
    }

    #[test]
    fn end_of_file_and_files_are_told_apart_from_signals() {
        let (kick, writer) = std::os::unix::net::UnixStream::pair().unwrap();
        drop(writer);
        let rx = NotifyReceiver::from_fd(kick.into()).unwrap();
        match rx.consume() {
            Consumed::Closed(e) => assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof),
            other => panic!("{other:?}"),
        }
        let dir = std::env::temp_dir();
        let file = std::fs::File::open(&dir).unwrap();
        assert!(NotifyReceiver::from_fd(file.into()).is_err());
        let zero = std::fs::File::open("/dev/zero").unwrap();
        let err = NotifySender::from_peer(zero.into()).unwrap_err();
        assert!(err.to_string().contains("character device"), "{err}");
    }
}
