//! Unix-socket messages with file descriptors attached (`SCM_RIGHTS`).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Most descriptors accepted with one message; more sets `fds_truncated`.
pub const MAX_RECV_FDS: usize = 8;
/// Most descriptors [`send_with_fds`] attaches (more than a receiver takes,
/// so tests can send too many).
pub const MAX_SEND_FDS: usize = 32;

/// What one `recvmsg` returned.
#[derive(Debug)]
pub struct RecvResult {
    /// Bytes read into the buffer; 0 means the peer closed the connection.
    pub len: usize,
    /// Descriptors received with them, in order, close-on-exec.
    pub fds: Vec<OwnedFd>,
    /// The peer sent more descriptors than [`MAX_RECV_FDS`] (or the
    /// control data was cut short); the extra ones were closed by the kernel.
    pub fds_truncated: bool,
}

/// A control buffer aligned for `cmsghdr`, large enough for `MAX_RECV_FDS`.
#[repr(C, align(8))]
struct CmsgBuf([u8; 256]);

fn cmsg_space(fds: usize) -> usize {
    // SAFETY: CMSG_SPACE only computes a size from its argument.
    unsafe { libc::CMSG_SPACE((fds * size_of::<RawFd>()) as libc::c_uint) as usize }
}

/// Sends `data` with `fds` attached in one `sendmsg`. Returns the bytes sent.
pub fn send_with_fds(
    sock: BorrowedFd<'_>,
    data: &[u8],
    fds: &[BorrowedFd<'_>],
) -> io::Result<usize> {
    if fds.len() > MAX_SEND_FDS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "too many file descriptors for one message",
        ));
    }
    let mut cbuf = CmsgBuf([0; 256]);
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: an all-zero msghdr is a valid "no name, no control" header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        let space = cmsg_space(fds.len());
        debug_assert!(space <= cbuf.0.len());
        msg.msg_control = cbuf.0.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        // SAFETY: msg_control points at `space` writable, aligned bytes, so
        // CMSG_FIRSTHDR returns a header inside it and CMSG_DATA has room
        // for `fds.len()` descriptors (that is what CMSG_SPACE reserved).
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN((fds.len() * size_of::<RawFd>()) as libc::c_uint) as _;
            let data = libc::CMSG_DATA(c).cast::<RawFd>();
            for (i, fd) in fds.iter().enumerate() {
                data.add(i).write_unaligned(fd.as_raw_fd());
            }
        }
    }
    let flags = libc::MSG_NOSIGNAL;
    loop {
        // SAFETY: `msg` points at live buffers (`iov`, `cbuf`) for the call.
        let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, flags) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Receives into `buf` with up to [`MAX_RECV_FDS`] descriptors. An
/// interrupted call returns `ErrorKind::Interrupted` so that the caller can
/// check for a termination signal before retrying.
pub fn recv_with_fds(sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<RecvResult> {
    let mut cbuf = CmsgBuf([0; 256]);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: an all-zero msghdr is a valid "no name, no control" header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    msg.msg_controllen = cmsg_space(MAX_RECV_FDS) as _;
    // SAFETY: `msg` points at live, writable buffers of the stated sizes.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut fds = Vec::new();
    // SAFETY: the kernel filled `msg_controllen` bytes of `cbuf` with
    // well-formed control messages; CMSG_FIRSTHDR/NXTHDR walk only within
    // it, and each SCM_RIGHTS payload holds whole descriptors that are now
    // ours to own (each is taken exactly once).
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let header = libc::CMSG_LEN(0) as usize;
                let count = ((*c).cmsg_len as usize).saturating_sub(header) / size_of::<RawFd>();
                let data = libc::CMSG_DATA(c).cast::<RawFd>();
                for i in 0..count {
                    fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    for fd in &fds {
        crate::set_cloexec(std::os::fd::AsFd::as_fd(fd))?;
    }
    let fds_truncated = msg.msg_flags & libc::MSG_CTRUNC != 0 || fds.len() > MAX_RECV_FDS;
    Ok(RecvResult {
        len: n as usize,
        fds,
        fds_truncated,
    })
}

/// Which way [`wait_io`] waits for a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Read,
    Write,
}

/// What [`wait_io`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    /// The socket can make progress (or has an error or hang-up to report,
    /// which the next call returns).
    Ready,
    /// `cancel` became readable first (a termination signal's fd).
    Cancelled,
}

/// Waits, with no time limit, until the non-blocking socket `sock` can be
/// read or written, or `cancel` becomes readable. A peer that stops reading
/// or writing thus stalls nothing that `cancel` can end: the back-end
/// passes its termination signal's fd.
pub fn wait_io(sock: BorrowedFd<'_>, dir: Direction, cancel: BorrowedFd<'_>) -> io::Result<Waited> {
    let events = match dir {
        Direction::Read => libc::POLLIN,
        Direction::Write => libc::POLLOUT,
    };
    let mut fds = [
        libc::pollfd {
            fd: sock.as_raw_fd(),
            events,
            revents: 0,
        },
        libc::pollfd {
            fd: cancel.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    loop {
        // SAFETY: two valid pollfds in a live array of that length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                // A signal: if it was a termination, `cancel` says so now.
                continue;
            }
            return Err(e);
        }
        if fds[1].revents != 0 {
            return Ok(Waited::Cancelled);
        }
        if fds[0].revents != 0 {
            return Ok(Waited::Ready);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn fds_travel_with_the_message() {
        let (a, b) = UnixStream::pair().unwrap();
        let (r, w) = crate::os::notifier_pair().unwrap();
        send_with_fds(a.as_fd(), b"hello", &[r.as_fd(), w.as_fd()]).unwrap();
        let mut buf = [0; 16];
        let got = recv_with_fds(b.as_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..got.len], b"hello");
        assert_eq!(got.fds.len(), 2);
        assert!(!got.fds_truncated);
        drop(a);
        let eof = recv_with_fds(b.as_fd(), &mut buf).unwrap();
        assert_eq!(eof.len, 0);
    }

    #[test]
    fn a_stalled_send_gives_way_to_cancel() {
        use std::io::Write;
        let (a, _b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        while (&a).write(&[0u8; 4096]).is_ok() {}
        let cancel = crate::Notifier::new().unwrap();
        cancel.notify().unwrap();
        let w = wait_io(a.as_fd(), Direction::Write, cancel.read_fd()).unwrap();
        assert_eq!(w, Waited::Cancelled);
        cancel.drain().unwrap();
        let (c, d) = UnixStream::pair().unwrap();
        (&d).write_all(b"x").unwrap();
        let w = wait_io(c.as_fd(), Direction::Read, cancel.read_fd()).unwrap();
        assert_eq!(w, Waited::Ready);
    }

    #[test]
    fn too_many_fds_are_reported_not_kept() {
        let (a, b) = UnixStream::pair().unwrap();
        let n = crate::Notifier::new().unwrap();
        let many: Vec<_> = (0..MAX_SEND_FDS + 1).map(|_| n.read_fd()).collect();
        assert!(send_with_fds(a.as_fd(), b"x", &many).is_err());
        let mut buf = [0; 4];
        send_with_fds(a.as_fd(), b"x", &many[..MAX_RECV_FDS]).unwrap();
        let got = recv_with_fds(b.as_fd(), &mut buf).unwrap();
        assert_eq!(got.fds.len(), MAX_RECV_FDS);
        assert!(!got.fds_truncated);
        send_with_fds(a.as_fd(), b"x", &many[..MAX_RECV_FDS + 2]).unwrap();
        let got = recv_with_fds(b.as_fd(), &mut buf).unwrap();
        assert_eq!(got.len, 1);
        assert!(got.fds_truncated);
    }
}
