//! virtio-rng over a [`Frontend`]: one device-writable buffer per request.

use crate::{Buf, Error, Frontend, Options};
use std::path::Path;

/// A virtio-rng (entropy) device reached over vhost-user.
#[derive(Debug)]
pub struct RngDevice {
    fe: Frontend,
    buf: u64,
    max: usize,
}

impl RngDevice {
    /// Largest single request.
    pub const MAX_REQUEST: usize = 64 << 10;

    pub fn connect(path: &Path, opts: &Options) -> Result<Self, Error> {
        let mut fe = Frontend::connect(path, opts)?;
        let buf = fe.ram_mut().alloc(Self::MAX_REQUEST as u64, 8, false)?;
        Ok(Self {
            fe,
            buf,
            max: Self::MAX_REQUEST,
        })
    }

    /// Asks for `len` bytes on queue 0 and returns what the device wrote.
    pub fn read(&mut self, len: usize) -> Result<Vec<u8>, Error> {
        if len > self.max {
            return Err(Error::RequestTooLarge { len, max: self.max });
        }
        self.fe
            .ram()
            .write(self.buf, &vec![0u8; len])
            .ok_or(Error::OutOfGuestMemory(0))?;
        self.fe.submit(
            0,
            &[Buf {
                gpa: self.buf,
                len: len as u32,
                writable: true,
            }],
        )?;
        let used = self.fe.wait_used(0)?;
        let n = (used.len as usize).min(len);
        let mut out = vec![0u8; n];
        self.fe
            .ram()
            .read(self.buf, &mut out)
            .ok_or(Error::OutOfGuestMemory(0))?;
        Ok(out)
    }

    pub fn frontend(&self) -> &Frontend {
        &self.fe
    }

    pub fn frontend_mut(&mut self) -> &mut Frontend {
        &mut self.fe
    }
}
