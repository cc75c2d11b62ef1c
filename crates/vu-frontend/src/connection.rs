//! The front-end's end of the vhost-user socket.

use crate::Error;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;
use vu_protocol::msg::U64;
use vu_protocol::{validate_reply, FrontendReq, Header, Pod, HEADER_SIZE};

/// A connected vhost-user socket.
#[derive(Debug)]
pub struct Connection {
    stream: UnixStream,
    /// Set `NEED_REPLY` on requests without their own reply and wait for the
    /// acknowledgement (once `REPLY_ACK` is negotiated).
    pub(crate) reply_ack: bool,
}

impl Connection {
    /// Connects to a back-end listening on `path`.
    pub fn connect(path: &Path) -> Result<Self, Error> {
        let stream = UnixStream::connect(path).map_err(|source| Error::Connect {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            stream,
            reply_ack: false,
        })
    }

    /// Wraps an already connected socket.
    pub fn from_stream(stream: UnixStream) -> Self {
        Self {
            stream,
            reply_ack: false,
        }
    }

    /// Sends raw bytes with `fds` attached, exactly as given (for tests of
    /// malformed messages).
    pub fn send_raw(&self, bytes: &[u8], fds: &[BorrowedFd<'_>]) -> Result<(), Error> {
        let n = vu_sys::send_with_fds(self.stream.as_fd(), bytes, fds)
            .map_err(|e| Error::Io("sending", e))?;
        if n != bytes.len() {
            // Messages are far smaller than a socket buffer; a short send
            // means the peer is gone.
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Sends one request.
    pub fn send(
        &self,
        req: FrontendReq,
        body: &[u8],
        fds: &[BorrowedFd<'_>],
        need_reply: bool,
    ) -> Result<(), Error> {
        let h = Header::request(req.code(), body.len() as u32, need_reply);
        let mut out = Vec::with_capacity(HEADER_SIZE + body.len());
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(body);
        self.send_raw(&out, fds)
    }

    fn recv_exact(&self, buf: &mut [u8]) -> Result<(), Error> {
        let mut got = 0;
        while got < buf.len() {
            let r = match vu_sys::recv_with_fds(self.stream.as_fd(), &mut buf[got..]) {
                Ok(r) => r,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    return Err(Error::Closed)
                }
                Err(e) => return Err(Error::Io("receiving", e)),
            };
            if r.len == 0 {
                return Err(Error::Closed);
            }
            got += r.len;
        }
        Ok(())
    }

    /// Receives the reply to `req`, checking header and size.
    pub fn recv_reply(&self, req: FrontendReq, size: usize) -> Result<Vec<u8>, Error> {
        let mut h = [0u8; HEADER_SIZE];
        self.recv_exact(&mut h)?;
        let header = Header::read_from(&h).unwrap_or_default();
        let mut payload = vec![0u8; header.size.min(vu_protocol::MAX_PAYLOAD_SIZE) as usize];
        self.recv_exact(&mut payload)?;
        validate_reply(&header, req, size)?;
        Ok(payload)
    }

    /// Sends a request that has no reply of its own; waits for the
    /// reply-ack when negotiated.
    pub fn request(
        &self,
        req: FrontendReq,
        body: &[u8],
        fds: &[BorrowedFd<'_>],
    ) -> Result<(), Error> {
        self.send(req, body, fds, self.reply_ack)?;
        if self.reply_ack {
            let v = self.recv_u64(req)?;
            if v != 0 {
                return Err(Error::Nack(req, v));
            }
        }
        Ok(())
    }

    fn recv_u64(&self, req: FrontendReq) -> Result<u64, Error> {
        let p = self.recv_reply(req, U64::SIZE)?;
        Ok(U64::read_from(&p).unwrap_or_default().value)
    }

    /// Sends a request with an empty body and returns its `u64` reply.
    pub fn get_u64(&self, req: FrontendReq) -> Result<u64, Error> {
        self.send(req, &[], &[], false)?;
        self.recv_u64(req)
    }

    /// Sends a request with a `u64` body.
    pub fn set_u64(&self, req: FrontendReq, value: u64) -> Result<(), Error> {
        self.request(req, U64 { value }.as_bytes(), &[])
    }

    /// Shuts down the sending direction: the back-end sees the end of the
    /// stream (tests of truncated messages).
    pub fn shutdown_write(&self) -> Result<(), Error> {
        self.stream
            .shutdown(std::net::Shutdown::Write)
            .map_err(|e| Error::Io("shutting down", e))
    }

    /// Waits until the back-end closes the connection; `true` if it did
    /// within `timeout`. Anything it still sends is discarded.
    pub fn wait_closed(&self, timeout: Duration) -> bool {
        let _ = self.stream.set_read_timeout(Some(timeout));
        let mut buf = [0u8; 256];
        loop {
            match vu_sys::recv_with_fds(self.stream.as_fd(), &mut buf) {
                Ok(r) if r.len == 0 => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}
