//! virtio-input over a [`Frontend`]: the configuration space read one
//! selected item at a time, event buffers kept posted on the event queue,
//! and status events (LEDs) sent on the status queue.

use crate::{Buf, Error, Frontend, Options};
use std::path::Path;
use vu_protocol::virtio::input::{
    Event, CONFIG_SIZE, EVENT_QUEUE, PAYLOAD_OFFSET, SIZE_OFFSET, STATUS_QUEUE,
};

/// A virtio-input device reached over vhost-user.
#[derive(Debug)]
pub struct InputDevice {
    fe: Frontend,
    /// Guest address of event buffer `i` (8 bytes each), by head index.
    event_bufs: Vec<(u16, u64)>,
    status_buf: u64,
}

impl InputDevice {
    /// Connects with two queues and posts `buffers` event buffers.
    pub fn connect(path: &Path, opts: &Options, buffers: u16) -> Result<Self, Error> {
        let opts = Options {
            num_queues: 2,
            ..opts.clone()
        };
        let mut fe = Frontend::connect(path, &opts)?;
        let status_buf = fe.ram_mut().alloc(Event::SIZE as u64, 8, true)?;
        let mut dev = Self {
            fe,
            event_bufs: Vec::new(),
            status_buf,
        };
        for _ in 0..buffers {
            let gpa = dev.fe.ram_mut().alloc(Event::SIZE as u64, 8, true)?;
            dev.post(gpa)?;
        }
        Ok(dev)
    }

    fn post(&mut self, gpa: u64) -> Result<(), Error> {
        self.fe
            .ram()
            .write(gpa, &[0u8; Event::SIZE])
            .ok_or(Error::OutOfGuestMemory(0))?;
        let head = self.fe.submit(
            EVENT_QUEUE,
            &[Buf {
                gpa,
                len: Event::SIZE as u32,
                writable: true,
            }],
        )?;
        self.event_bufs.push((head, gpa));
        Ok(())
    }

    /// The payload of configuration item `select`/`subsel` (empty when the
    /// device has no such item).
    pub fn config_item(&self, select: u8, subsel: u8) -> Result<Vec<u8>, Error> {
        self.fe.set_config(0, &[select, subsel])?;
        let raw = self.fe.get_config(0, CONFIG_SIZE as u32)?;
        let size = usize::from(raw[SIZE_OFFSET]).min(CONFIG_SIZE - PAYLOAD_OFFSET);
        Ok(raw[PAYLOAD_OFFSET..PAYLOAD_OFFSET + size].to_vec())
    }

    /// Waits for the next event (up to the timeout) and posts its buffer
    /// again.
    pub fn next_event(&mut self) -> Result<Event, Error> {
        let used = self.fe.wait_used(EVENT_QUEUE)?;
        let at = self
            .event_bufs
            .iter()
            .position(|&(head, _)| u32::from(head) == used.id)
            .ok_or(Error::BadUsedId {
                queue: EVENT_QUEUE,
                id: used.id,
            })?;
        let (_, gpa) = self.event_bufs.swap_remove(at);
        let mut b = [0u8; Event::SIZE];
        self.fe
            .ram()
            .read(gpa, &mut b)
            .ok_or(Error::OutOfGuestMemory(0))?;
        self.post(gpa)?;
        Ok(Event::from_le_bytes(b))
    }

    /// Whether an event is waiting to be read.
    pub fn event_pending(&self) -> Result<bool, Error> {
        self.fe.used_pending(EVENT_QUEUE)
    }

    /// Sends one status event and waits for the device to take it.
    pub fn send_status(&mut self, event: Event) -> Result<(), Error> {
        self.fe
            .ram()
            .write(self.status_buf, &event.to_le_bytes())
            .ok_or(Error::OutOfGuestMemory(0))?;
        self.fe.submit(
            STATUS_QUEUE,
            &[Buf {
                gpa: self.status_buf,
                len: Event::SIZE as u32,
                writable: false,
            }],
        )?;
        self.fe.wait_used(STATUS_QUEUE)?;
        Ok(())
    }

    pub fn frontend(&self) -> &Frontend {
        &self.fe
    }

    pub fn frontend_mut(&mut self) -> &mut Frontend {
        &mut self.fe
    }
}
