//! virtio-net over a [`Frontend`]: queue 0 receives, queue 1 transmits.
//!
//! Every receive buffer is one device-writable descriptor of
//! [`NetOptions::rx_buffer_len`] bytes, all posted at set-up and each posted
//! again once its frame has been read. With mergeable receive buffers a
//! frame may span several; [`NetDevice::recv`] joins them as the header's
//! `num_buffers` says.

use crate::{Buf, Error, Frontend, Options};
use std::path::Path;
use vu_protocol::virtio::net::{features as nf, NetHeader};

/// The receive queue.
pub const RX: u16 = 0;
/// The transmit queue.
pub const TX: u16 = 1;

/// How to set a virtio-net connection up.
#[derive(Debug, Clone)]
pub struct NetOptions {
    /// Negotiate `VIRTIO_NET_F_MRG_RXBUF` if offered.
    pub mergeable: bool,
    /// Receive buffers posted (at most the queue size).
    pub rx_buffers: u16,
    /// Bytes in each receive buffer, header included.
    pub rx_buffer_len: u32,
    /// Queue size, guest memory and timeouts (its `num_queues` and
    /// `device_features` are set here).
    pub base: Options,
}

impl Default for NetOptions {
    fn default() -> Self {
        Self {
            mergeable: true,
            rx_buffers: 64,
            rx_buffer_len: 2048,
            base: Options::default(),
        }
    }
}

/// A virtio-net device (one port of a switch) reached over vhost-user.
#[derive(Debug)]
pub struct NetDevice {
    fe: Frontend,
    /// Guest address of each receive buffer, by the head of its chain.
    rx_by_head: Vec<Option<u64>>,
    rx_len: u32,
    tx_buf: u64,
    tx_len: usize,
    mergeable: bool,
}

impl NetDevice {
    /// Longest frame a virtio-net device without offloads need accept (a
    /// 64 KiB payload, an Ethernet header, one VLAN tag).
    pub const MAX_FRAME: usize = 65_535 + 18;
    /// Longest frame [`NetDevice::send`] takes: more than [`Self::MAX_FRAME`],
    /// so tests can send oversized ones.
    pub const MAX_SEND: usize = 128 << 10;

    pub fn connect(path: &Path, opts: &NetOptions) -> Result<Self, Error> {
        let mut base = opts.base.clone();
        base.num_queues = 2;
        base.device_features = if opts.mergeable { nf::MRG_RXBUF } else { 0 };
        let mut fe = Frontend::connect(path, &base)?;
        let mergeable = fe.features() & nf::MRG_RXBUF != 0;
        if opts.mergeable && !mergeable {
            return Err(Error::MissingFeature("VIRTIO_NET_F_MRG_RXBUF"));
        }
        let tx_len = NetHeader::SIZE + Self::MAX_SEND;
        let tx_buf = fe.ram_mut().alloc(tx_len as u64, 8, false)?;
        let mut rx_by_head = vec![None; usize::from(base.queue_size)];
        for _ in 0..opts.rx_buffers {
            let gpa = fe.ram_mut().alloc(u64::from(opts.rx_buffer_len), 8, true)?;
            let head = fe.place(RX, &[rx_buf(gpa, opts.rx_buffer_len)])?;
            fe.push_avail(RX, head)?;
            rx_by_head[usize::from(head)] = Some(gpa);
        }
        fe.kick(RX)?;
        Ok(Self {
            fe,
            rx_by_head,
            rx_len: opts.rx_buffer_len,
            tx_buf,
            tx_len,
            mergeable,
        })
    }

    /// Whether mergeable receive buffers were negotiated.
    pub fn mergeable(&self) -> bool {
        self.mergeable
    }

    /// Transmits `frame` behind a zero header (one readable descriptor) and
    /// waits for the back-end to take it.
    pub fn send(&mut self, frame: &[u8]) -> Result<(), Error> {
        self.send_with_header(NetHeader::default(), frame)
    }

    /// Transmits `frame` behind `header` (tests of malformed headers).
    pub fn send_with_header(&mut self, header: NetHeader, frame: &[u8]) -> Result<(), Error> {
        let len = NetHeader::SIZE + frame.len();
        if len > self.tx_len {
            return Err(Error::RequestTooLarge {
                len,
                max: self.tx_len,
            });
        }
        let ram = self.fe.ram();
        ram.write(self.tx_buf, &header.to_le_bytes())
            .and_then(|()| ram.write(self.tx_buf + NetHeader::SIZE as u64, frame))
            .ok_or(Error::OutOfGuestMemory(len as u64))?;
        self.fe.submit(
            TX,
            &[Buf {
                gpa: self.tx_buf,
                len: len as u32,
                writable: false,
            }],
        )?;
        self.fe.wait_used(TX)?;
        Ok(())
    }

    /// Waits for the next received frame (up to the timeout) and returns it
    /// with the header it came with; its buffers are posted again.
    pub fn recv_with_header(&mut self) -> Result<(NetHeader, Vec<u8>), Error> {
        let (first, mut frame) = self.take_rx()?;
        let header = NetHeader::from_le_bytes(&first).ok_or(Error::BadUsedId {
            queue: RX,
            id: u32::MAX,
        })?;
        let buffers = if self.mergeable {
            header.num_buffers
        } else {
            1
        };
        for _ in 1..buffers {
            let (_, more) = self.take_rx_raw()?;
            frame.extend_from_slice(&more);
        }
        Ok((header, frame))
    }

    /// Waits for the next received frame.
    pub fn recv(&mut self) -> Result<Vec<u8>, Error> {
        self.recv_with_header().map(|(_, f)| f)
    }

    /// The first buffer of a frame: its header, and the frame bytes after it.
    fn take_rx(&mut self) -> Result<(Vec<u8>, Vec<u8>), Error> {
        let (_, mut bytes) = self.take_rx_raw()?;
        if bytes.len() < NetHeader::SIZE {
            return Err(Error::BadUsedId {
                queue: RX,
                id: u32::MAX,
            });
        }
        let frame = bytes.split_off(NetHeader::SIZE);
        Ok((bytes, frame))
    }

    /// One used receive buffer's bytes, and the buffer posted again.
    fn take_rx_raw(&mut self) -> Result<(u16, Vec<u8>), Error> {
        let used = self.fe.wait_used(RX)?;
        let head = used.id as u16;
        let gpa = self
            .rx_by_head
            .get_mut(usize::from(head))
            .and_then(Option::take)
            .ok_or(Error::BadUsedId {
                queue: RX,
                id: used.id,
            })?;
        let n = (used.len as usize).min(self.rx_len as usize);
        let mut bytes = vec![0u8; n];
        self.fe
            .ram()
            .read(gpa, &mut bytes)
            .ok_or(Error::OutOfGuestMemory(n as u64))?;
        let head2 = self.fe.place(RX, &[rx_buf(gpa, self.rx_len)])?;
        self.rx_by_head[usize::from(head2)] = Some(gpa);
        self.fe.publish(RX, head2)?;
        Ok((head, bytes))
    }

    pub fn frontend(&self) -> &Frontend {
        &self.fe
    }

    pub fn frontend_mut(&mut self) -> &mut Frontend {
        &mut self.fe
    }
}

fn rx_buf(gpa: u64, len: u32) -> Buf {
    Buf {
        gpa,
        len,
        writable: true,
    }
}
