//! Split virtqueues: ring state, bounded descriptor-chain walking, and the
//! [`Reader`]/[`Writer`] a device uses to reach a request's buffers.

use crate::memory::{GuestMemory, Piece, Translate};
use crate::poll::{Polled, Window};
use crate::QueueError;
use std::io;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{fence, Ordering};
use vu_protocol::virtio::split::{
    self, Descriptor, UsedElem, DESC_SIZE, RING_ENTRIES_OFFSET, RING_IDX_OFFSET,
};
use vu_sys::{NotifyReceiver, NotifySender};

/// Guest addresses of a ring's three parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RingAddrs {
    pub(crate) desc: u64,
    pub(crate) avail: u64,
    pub(crate) used: u64,
}

/// Front-end user addresses of a ring, kept to re-translate on a new table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UserAddrs {
    pub(crate) desc: u64,
    pub(crate) avail: u64,
    pub(crate) used: u64,
}

/// One queue's state on the back-end side.
#[derive(Debug, Default)]
pub(crate) struct Vring {
    pub(crate) size: u16,
    pub(crate) user: Option<UserAddrs>,
    pub(crate) addrs: Option<RingAddrs>,
    pub(crate) last_avail: u16,
    pub(crate) used_idx: u16,
    pub(crate) kick: Option<NotifyReceiver>,
    pub(crate) call: Option<NotifySender>,
    pub(crate) err: Option<NotifySender>,
    pub(crate) enabled: bool,
    /// `VIRTIO_RING_F_EVENT_IDX` was negotiated: notifications go by the
    /// rings' `used_event`/`avail_event` instead of their flags.
    pub(crate) event_idx: bool,
    /// With `event_idx`: the used index when the driver's `used_event` was
    /// last compared with it; `None` (a new or moved ring) signals the next
    /// completion whatever `used_event` says.
    pub(crate) signalled_used: Option<u16>,
}

impl Vring {
    /// Translates and checks the ring addresses against `mem`.
    pub(crate) fn translate(&mut self, mem: &GuestMemory) -> bool {
        let Some(u) = self.user else { return true };
        let n = self.size;
        let t = |uva, len| mem.user_to_guest(uva, len);
        match (
            t(u.desc, split::desc_table_size(n)),
            t(u.avail, split::avail_ring_size(n)),
            t(u.used, split::used_ring_size(n)),
        ) {
            (Some(desc), Some(avail), Some(used)) => {
                self.addrs = Some(RingAddrs { desc, avail, used });
                true
            }
            _ => {
                self.addrs = None;
                false
            }
        }
    }

    /// Whether requests can be taken from the ring.
    pub(crate) fn ready(&self) -> bool {
        self.enabled && self.kick.is_some() && self.addrs.is_some() && self.size > 0
    }
}

/// Most pieces a chain may be split into, per queue entry: enough for every
/// descriptor of a chain as long as the queue to cross one region boundary.
const PIECES_PER_ENTRY: usize = 2;

/// Where one chain's translated buffers are kept: readable pieces first,
/// then writable ones. Reused for every request of a queue, and sized once
/// for the longest chain the queue allows ([`PIECES_PER_ENTRY`] × queue
/// size, plus one descriptor's worth of regions), so what a request costs in
/// memory is bounded by the queue size, never by what the guest declares.
#[derive(Debug, Default)]
pub(crate) struct ChainBuf {
    pieces: Vec<Piece>,
    /// `pieces[..split]` are readable, `pieces[split..]` writable.
    split: usize,
    readable_len: u64,
    writable_len: u64,
}

impl ChainBuf {
    /// Empties the buffer and makes room for the longest chain of a queue of
    /// `size` entries (only the first time, or when the size grows).
    fn reset(&mut self, size: u16) -> usize {
        let max = PIECES_PER_ENTRY * usize::from(size);
        let room = max + vu_protocol::MAX_MEM_REGIONS;
        self.pieces.clear();
        if self.pieces.capacity() < room {
            self.pieces.reserve_exact(room);
        }
        self.split = 0;
        self.readable_len = 0;
        self.writable_len = 0;
        max
    }

    fn split(&self) -> (&[Piece], &[Piece]) {
        self.pieces.split_at(self.split)
    }
}

/// Walks the chain starting at `head`, checking every bound, and fills
/// `buf` with the translated readable and writable pieces.
///
/// A chain is bounded by the queue size in every way the guest could
/// stretch it: at most `size` buffers, direct or indirect (an indirect
/// table may hold at most `size` entries), no zero-length buffer, and at
/// most [`PIECES_PER_ENTRY`] × `size` pieces after translation. So the walk
/// does at most O(`size`) work and `buf` never grows past its first size.
fn walk_chain(
    mem: &GuestMemory,
    ring: RingAddrs,
    size: u16,
    head: u16,
    buf: &mut ChainBuf,
) -> Result<(), QueueError> {
    let max_pieces = buf.reset(size);
    let mut table = ring.desc;
    let mut table_len = u32::from(size);
    let mut index = head;
    let mut in_indirect = false;
    // Descriptors visited in the current table (a loop ends there), and
    // buffers in the whole chain.
    let mut seen = 0u32;
    let mut buffers = 0u32;
    let mut total: u32 = 0;
    let mut writing = false;
    loop {
        seen += 1;
        if seen > table_len {
            return Err(QueueError::ChainLoop);
        }
        let at = table + DESC_SIZE * u64::from(index);
        let mut raw = [0u8; 16];
        mem.read(at, &mut raw)
            .ok_or(QueueError::BufferOutsideMemory {
                addr: at,
                len: DESC_SIZE,
            })?;
        let d = Descriptor::from_le_bytes(raw);
        if d.is_indirect() {
            if in_indirect {
                return Err(QueueError::NestedIndirect);
            }
            if d.has_next() {
                return Err(QueueError::IndirectWithNext);
            }
            if d.len == 0 || d.len % DESC_SIZE as u32 != 0 {
                return Err(QueueError::BadIndirectLength(d.len));
            }
            let entries = d.len / DESC_SIZE as u32;
            if entries > u32::from(size) {
                return Err(QueueError::IndirectTooLong { entries, size });
            }
            if !mem.contains(d.addr, u64::from(d.len)) {
                return Err(QueueError::BufferOutsideMemory {
                    addr: d.addr,
                    len: u64::from(d.len),
                });
            }
            in_indirect = true;
            table = d.addr;
            table_len = entries;
            index = 0;
            seen = 0;
            continue;
        }
        buffers += 1;
        if buffers > u32::from(size) {
            return Err(QueueError::ChainTooLong { size });
        }
        if d.len == 0 {
            return Err(QueueError::ZeroLengthBuffer { addr: d.addr });
        }
        total = total.checked_add(d.len).ok_or(QueueError::LengthOverflow)?;
        if d.is_write_only() {
            writing = true;
            buf.writable_len += u64::from(d.len);
        } else if writing {
            return Err(QueueError::ReadableAfterWritable);
        } else {
            buf.readable_len += u64::from(d.len);
        }
        match mem.translate(d.addr, u64::from(d.len), &mut buf.pieces, max_pieces) {
            Ok(()) => {}
            Err(Translate::Outside) => {
                return Err(QueueError::BufferOutsideMemory {
                    addr: d.addr,
                    len: u64::from(d.len),
                })
            }
            Err(Translate::TooManyPieces) => {
                return Err(QueueError::TooManyPieces { max: max_pieces })
            }
        }
        if !writing {
            buf.split = buf.pieces.len();
        }
        if !d.has_next() {
            return Ok(());
        }
        if u32::from(d.next) >= table_len {
            return Err(QueueError::NextOutOfRange(d.next));
        }
        index = d.next;
    }
}

/// What one [`drain_ring`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Drained {
    /// Requests completed.
    pub(crate) done: u32,
    /// The budget ran out with requests possibly left: call again soon
    /// (kick notifications stay suppressed until then).
    pub(crate) more: bool,
}

/// Takes available requests from `vring`, at most `budget` of them, hands
/// each to `handle`, and publishes each used element as soon as it is done.
///
/// Notifications (virtio 1.x 2.7.7, 2.7.10), described with the rings'
/// flags; with `EVENT_IDX` the same steps go through `avail_event` and
/// `used_event` instead ([`want_kicks`], [`call_wanted`]):
/// * Kicks: `VRING_USED_F_NO_NOTIFY` is set while draining, so a driver
///   adding requests meanwhile need not kick; before returning, the flag is
///   cleared and the available index read once more (after a full fence, the
///   mirror of the driver's publish-fence-check), so no request is missed.
/// * Calls are coalesced: the driver is signalled once the completions it
///   has not been told about are as many as the requests left to serve (at
///   most [`CALL_BATCH`]), so it refills the ring while this side works on
///   the rest; not again until it shows it woke up (new requests, or
///   `VRING_AVAIL_F_NO_INTERRUPT` seen); and when the drain ends with any
///   unsignalled. So a lone request is signalled at once, and a deep queue
///   about once per half queue depth.
///   A driver that set `VRING_AVAIL_F_NO_INTERRUPT` is not signalled: it is
///   reaping anyway. The flag is read behind a full fence after the used
///   index stores, so a driver that clears it and then finds the used ring
///   empty is always signalled at the end of the drain. With `EVENT_IDX`,
///   each signal decision covers every completion since the previous one,
///   so a driver's `used_event` inside a coalesced batch is never missed.
pub(crate) fn drain_ring(
    mem: &GuestMemory,
    vring: &mut Vring,
    buf: &mut ChainBuf,
    budget: u32,
    mut handle: impl FnMut(&mut Request<'_>),
) -> Result<Drained, QueueError> {
    let (Some(ring), size) = (vring.addrs, vring.size) else {
        return Ok(Drained {
            done: 0,
            more: false,
        });
    };
    let mut calls = Calls {
        unsignalled: 0,
        waking: false,
    };
    want_kicks(mem, ring, vring, false)?;
    let mut done = 0;
    loop {
        let mut avail_idx = avail_index(mem, ring)?;
        if avail_idx == vring.last_avail {
            // Re-enable kicks, then look once more: a request published
            // before the driver could see the flag cleared is caught here.
            want_kicks(mem, ring, vring, true)?;
            fence(Ordering::SeqCst);
            avail_idx = avail_index(mem, ring)?;
            if avail_idx == vring.last_avail {
                calls.flush(mem, ring, vring)?;
                return Ok(Drained { done, more: false });
            }
            want_kicks(mem, ring, vring, false)?;
        }
        let pending = avail_idx.wrapping_sub(vring.last_avail);
        if pending > size {
            return Err(QueueError::AvailIndexJump(pending));
        }
        // New requests: whoever added them is awake.
        calls.waking = false;
        while vring.last_avail != avail_idx {
            if done == budget {
                calls.flush(mem, ring, vring)?;
                return Ok(Drained { done, more: true });
            }
            let slot = u64::from(vring.last_avail % size);
            let head = mem
                .read_u16(ring.avail + RING_ENTRIES_OFFSET + 2 * slot)
                .ok_or(QueueError::RingOutsideMemory)?;
            if head >= size {
                return Err(QueueError::HeadOutOfRange(head));
            }
            walk_chain(mem, ring, size, head, buf)?;
            let (readable, writable) = buf.split();
            let mut req = Request {
                reader: Reader {
                    cur: Cursor::new(mem, readable, buf.readable_len),
                },
                writer: Writer {
                    cur: Cursor::new(mem, writable, buf.writable_len),
                },
                rejected: None,
            };
            handle(&mut req);
            if let Some(why) = req.rejected {
                return Err(QueueError::Rejected(why));
            }
            let elem = UsedElem {
                id: u32::from(head),
                len: req.writer.written() as u32,
            };
            let uslot = u64::from(vring.used_idx % size);
            mem.write(
                ring.used + RING_ENTRIES_OFFSET + split::USED_ELEM_SIZE * uslot,
                &elem.to_le_bytes(),
            )
            .ok_or(QueueError::RingOutsideMemory)?;
            // The element must be visible before the index that publishes it.
            fence(Ordering::Release);
            vring.used_idx = vring.used_idx.wrapping_add(1);
            mem.write_u16(ring.used + RING_IDX_OFFSET, vring.used_idx)
                .ok_or(QueueError::RingOutsideMemory)?;
            vring.last_avail = vring.last_avail.wrapping_add(1);
            done += 1;
            calls.completed(mem, ring, vring, avail_idx.wrapping_sub(vring.last_avail))?;
        }
    }
}

/// A queue the device fills on its own (a receive queue), seen from
/// [`crate::Device::fill`]: the device takes available chains only when it
/// has something to put in them, may look at the room of the next few
/// before it takes any (so one item can span several chains, as virtio-net's
/// mergeable receive buffers do), and publishes the chains it took in one
/// step, so the driver never sees part of an item.
///
/// Every chain is walked with the same bounds as a request's
/// ([`walk_chain`]); a broken one ends the fill, and the session closes the
/// connection, as it does when the device refuses a chain in its own terms
/// ([`Filler::reject`]). Only a chain's writable part is filled; its
/// readable part is left alone (a device whose driver must post none
/// checks [`Filler::readable`]). Kicks stay enabled on such a queue (the driver kicks when
/// it adds buffers); the call is signalled once after the fill, unless the
/// driver set `VRING_AVAIL_F_NO_INTERRUPT`.
pub struct Filler<'a> {
    mem: &'a GuestMemory,
    vring: &'a mut Vring,
    ring: RingAddrs,
    buf: &'a mut ChainBuf,
    /// The available index when the fill began (or was last looked at).
    avail_idx: u16,
    /// Chains taken and given a used element, not yet published.
    taken: u16,
    /// Chains published by this fill.
    published: u32,
    /// Which available chain (its position in the available ring, and its
    /// head) the chain buffer holds, so that looking at a chain and then
    /// taking it walks it once.
    walked: Option<(u16, u16)>,
    error: Option<QueueError>,
}

impl<'a> Filler<'a> {
    /// The queue's size: the most chains that can ever be available.
    pub fn queue_size(&self) -> u16 {
        self.vring.size
    }

    /// Chains the driver has made available and this fill has not taken
    /// (the available index is read again each time).
    pub fn available(&mut self) -> u16 {
        if self.error.is_some() {
            return 0;
        }
        match avail_index(self.mem, self.ring) {
            Ok(idx) => {
                let pending = idx.wrapping_sub(self.vring.last_avail);
                if pending > self.vring.size {
                    self.error = Some(QueueError::AvailIndexJump(pending));
                    return 0;
                }
                self.avail_idx = idx;
                pending
            }
            Err(e) => {
                self.error = Some(e);
                0
            }
        }
    }

    /// Walks the available chain `n` places after the next one into the
    /// chain buffer; its head, or `None` (the error kept) if there is no
    /// such chain or it is broken.
    fn walk(&mut self, n: u16) -> Option<u16> {
        if self.error.is_some() {
            return None;
        }
        let left = self.avail_idx.wrapping_sub(self.vring.last_avail);
        if n >= left && n >= self.available() {
            return None;
        }
        let position = self.vring.last_avail.wrapping_add(n);
        if let Some((at, head)) = self.walked {
            if at == position {
                return Some(head);
            }
        }
        let size = self.vring.size;
        let slot = u64::from(position % size);
        let result = self
            .mem
            .read_u16(self.ring.avail + RING_ENTRIES_OFFSET + 2 * slot)
            .ok_or(QueueError::RingOutsideMemory)
            .and_then(|head| {
                if head >= size {
                    return Err(QueueError::HeadOutOfRange(head));
                }
                walk_chain(self.mem, self.ring, size, head, self.buf).map(|()| head)
            });
        match result {
            Ok(head) => {
                self.walked = Some((position, head));
                Some(head)
            }
            Err(e) => {
                self.walked = None;
                self.error = Some(e);
                None
            }
        }
    }

    /// The writable room of the available chain `n` places after the next
    /// one, without taking it; `None` if there is no such chain (or it is
    /// broken, which ends the fill). Costs a walk of that chain.
    pub fn room(&mut self, n: u16) -> Option<usize> {
        self.walk(n)?;
        Some(self.buf.writable_len as usize)
    }

    /// The readable (device-read) bytes of the available chain `n` places
    /// after the next one, as [`Filler::room`] sees it.
    pub fn readable(&mut self, n: u16) -> Option<usize> {
        self.walk(n)?;
        Some(self.buf.readable_len as usize)
    }

    /// Refuses the next available chain as malformed in the device's own
    /// terms, saying why: the fill ends with nothing more taken (what was
    /// taken is not published), and the connection is closed as for a
    /// broken ring.
    pub fn reject(&mut self, why: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(QueueError::Rejected(why.into()));
        }
    }

    /// Takes the next available chain and lets `write` fill it; its used
    /// element (with the bytes written) is recorded, and becomes visible to
    /// the driver at the next [`Filler::publish`] (or the end of the fill).
    /// `None` if no chain is available (or it is broken).
    pub fn fill_next(&mut self, write: impl FnOnce(&mut Writer<'_>)) -> Option<usize> {
        let head = self.walk(0)?;
        let (_, writable) = self.buf.split();
        let mut writer = Writer {
            cur: Cursor::new(self.mem, writable, self.buf.writable_len),
        };
        write(&mut writer);
        let written = writer.written();
        let elem = UsedElem {
            id: u32::from(head),
            len: written as u32,
        };
        let size = self.vring.size;
        let uslot = u64::from(self.vring.used_idx.wrapping_add(self.taken) % size);
        if self
            .mem
            .write(
                self.ring.used + RING_ENTRIES_OFFSET + split::USED_ELEM_SIZE * uslot,
                &elem.to_le_bytes(),
            )
            .is_none()
        {
            self.error = Some(QueueError::RingOutsideMemory);
            return None;
        }
        self.vring.last_avail = self.vring.last_avail.wrapping_add(1);
        self.taken += 1;
        self.walked = None;
        Some(written)
    }

    /// Makes every chain taken so far visible to the driver at once (one
    /// used-index store after their elements).
    pub fn publish(&mut self) {
        if self.taken == 0 || self.error.is_some() {
            return;
        }
        fence(Ordering::Release);
        let idx = self.vring.used_idx.wrapping_add(self.taken);
        if self
            .mem
            .write_u16(self.ring.used + RING_IDX_OFFSET, idx)
            .is_none()
        {
            self.error = Some(QueueError::RingOutsideMemory);
            return;
        }
        self.vring.used_idx = idx;
        self.published += u32::from(self.taken);
        self.taken = 0;
    }
}

/// Lets `fill` fill `vring` (see [`Filler`]); publishes what it took,
/// signals the driver if anything was published, and returns how many
/// chains were.
pub(crate) fn fill_ring(
    mem: &GuestMemory,
    vring: &mut Vring,
    buf: &mut ChainBuf,
    fill: impl FnOnce(&mut Filler<'_>),
) -> Result<u32, QueueError> {
    let Some(ring) = vring.addrs else {
        return Ok(0);
    };
    let avail_idx = vring.last_avail;
    let mut filler = Filler {
        mem,
        vring,
        ring,
        buf,
        avail_idx,
        taken: 0,
        published: 0,
        walked: None,
        error: None,
    };
    fill(&mut filler);
    filler.publish();
    if let Some(e) = filler.error {
        return Err(e);
    }
    let published = filler.published;
    let vring = filler.vring;
    if published > 0 && call_wanted(mem, ring, vring)? {
        signal(vring)?;
    }
    Ok(published)
}

/// After a fill: kicks stay wanted on a queue the device fills (the driver
/// kicks whenever it adds buffers). Without `EVENT_IDX` the used ring's
/// flags never change, so nothing is to do. With it, `avail_event` is set
/// to the available index now, so that the next buffer added kicks, and the
/// index read again behind a full fence: `true` if buffers were added
/// meanwhile (they may have kicked before `avail_event` moved): fill again.
pub(crate) fn want_fill_kicks(mem: &GuestMemory, vring: &Vring) -> Result<bool, QueueError> {
    let (Some(ring), true) = (vring.addrs, vring.event_idx) else {
        return Ok(false);
    };
    let idx = avail_index(mem, ring)?;
    write_avail_event(mem, ring, vring.size, idx)?;
    fence(Ordering::SeqCst);
    Ok(avail_index(mem, ring)? != idx)
}

/// Polls the rings `vrings[i]` for which `served(i)` holds, within
/// `window`, until one has requests or `stop()` says to stop; returns
/// whether one has requests (as `Err((i, _))` the ring that failed).
///
/// Kicks are suppressed (`VRING_USED_F_NO_NOTIFY`) while polling, so a
/// driver that submits meanwhile need not kick. Whatever ends the poll, the
/// flag is cleared on every polled ring and each is looked at once more
/// behind a full fence, as `drain_ring` does before it returns: a request
/// published before the driver saw the flag cleared is found here, and one
/// published after it is kicked. So the caller may sleep on the kick fds
/// when this returns `false`.
pub(crate) fn poll_rings(
    mem: &GuestMemory,
    vrings: &[Vring],
    served: impl Fn(usize) -> bool,
    window: &mut Window,
    stop: impl Fn() -> bool,
) -> Result<bool, (usize, QueueError)> {
    if window.current().is_zero() {
        // Nothing to do: the drain looked once more before it returned.
        return Ok(false);
    }
    let served = &served;
    let polled = move || {
        vrings
            .iter()
            .enumerate()
            .filter(move |&(i, v)| served(i) && v.addrs.is_some())
    };
    let has_avail = |i: usize, v: &Vring| -> Result<bool, (usize, QueueError)> {
        let ring = v.addrs.ok_or((i, QueueError::RingOutsideMemory))?;
        Ok(avail_index(mem, ring).map_err(|e| (i, e))? != v.last_avail)
    };
    let set_kicks = |on: bool| -> Result<(), (usize, QueueError)> {
        for (i, v) in polled() {
            if let Some(ring) = v.addrs {
                want_kicks(mem, ring, v, on).map_err(|e| (i, e))?;
            }
        }
        Ok(())
    };
    set_kicks(false)?;
    let result = window.poll(|| {
        if stop() {
            return Ok(true);
        }
        for (i, v) in polled() {
            if has_avail(i, v)? {
                return Ok(true);
            }
        }
        Ok(false)
    });
    set_kicks(true)?;
    fence(Ordering::SeqCst);
    let mut found = result? == Polled::Found;
    for (i, v) in polled() {
        found |= has_avail(i, v)?;
    }
    Ok(found)
}

/// Reads the available index; entries are read only after it (acquire).
fn avail_index(mem: &GuestMemory, ring: RingAddrs) -> Result<u16, QueueError> {
    let idx = mem
        .read_u16(ring.avail + RING_IDX_OFFSET)
        .ok_or(QueueError::RingOutsideMemory)?;
    fence(Ordering::Acquire);
    Ok(idx)
}

fn set_used_flags(mem: &GuestMemory, ring: RingAddrs, flags: u16) -> Result<(), QueueError> {
    mem.write_u16(ring.used, flags)
        .ok_or(QueueError::RingOutsideMemory)
}

fn write_avail_event(
    mem: &GuestMemory,
    ring: RingAddrs,
    size: u16,
    value: u16,
) -> Result<(), QueueError> {
    mem.write_u16(ring.used + split::avail_event_offset(size), value)
        .ok_or(QueueError::RingOutsideMemory)
}

/// Asks the driver to kick `vring` when it adds requests (`on`), or not to
/// (while this side looks at the ring anyway). Without `EVENT_IDX`, the
/// used ring's `VRING_USED_F_NO_NOTIFY` flag says so; with it, the driver
/// ignores that flag and kicks when its index passes `avail_event`
/// (virtio 1.x, 2.7.10): set to `last_avail`, the next request kicks; set
/// one behind it, no request does until the index has gone all the way
/// round (at worst one spurious kick, never a missing one).
fn want_kicks(
    mem: &GuestMemory,
    ring: RingAddrs,
    vring: &Vring,
    on: bool,
) -> Result<(), QueueError> {
    if vring.event_idx {
        let event = if on {
            vring.last_avail
        } else {
            vring.last_avail.wrapping_sub(1)
        };
        write_avail_event(mem, ring, vring.size, event)
    } else {
        let flags = if on { 0 } else { split::VRING_USED_F_NO_NOTIFY };
        set_used_flags(mem, ring, flags)
    }
}

/// Whether the driver wants to be signalled for the used elements
/// published since this was last asked, read behind a full fence after the
/// used-index stores. Without `EVENT_IDX`: unless it set
/// `VRING_AVAIL_F_NO_INTERRUPT`. With it (virtio 1.x, 2.7.7): when the
/// used index passed the driver's `used_event` since the last time it was
/// compared, and always the first time on a ring.
fn call_wanted(mem: &GuestMemory, ring: RingAddrs, vring: &mut Vring) -> Result<bool, QueueError> {
    fence(Ordering::SeqCst);
    if vring.event_idx {
        let event = mem
            .read_u16(ring.avail + split::used_event_offset(vring.size))
            .ok_or(QueueError::RingOutsideMemory)?;
        let new = vring.used_idx;
        let old = vring.signalled_used.replace(new);
        return Ok(old.is_none_or(|old| split::event_passed(event, new, old)));
    }
    let flags = mem
        .read_u16(ring.avail)
        .ok_or(QueueError::RingOutsideMemory)?;
    Ok(flags & split::VRING_AVAIL_F_NO_INTERRUPT == 0)
}

/// Most completions a busy drain leaves unsignalled: bounds the latency a
/// deep queue adds, while each signal (an eventfd write that wakes a task
/// on another CPU) stays amortised over many requests.
pub(crate) const CALL_BATCH: u32 = 64;

/// The call-notification state of one drain (see [`drain_ring`]).
struct Calls {
    /// Completions published since the last signal (or since the driver was
    /// last seen reaping).
    unsignalled: u32,
    /// A signal was sent and the driver has not shown since that it woke.
    waking: bool,
}

impl Calls {
    /// After a completion, with `left` requests known to be waiting.
    fn completed(
        &mut self,
        mem: &GuestMemory,
        ring: RingAddrs,
        vring: &mut Vring,
        left: u16,
    ) -> Result<(), QueueError> {
        self.unsignalled += 1;
        if !self.waking && self.unsignalled >= u32::from(left).clamp(1, CALL_BATCH) {
            self.flush(mem, ring, vring)?;
        }
        Ok(())
    }

    /// Signals the unsignalled completions unless the driver does not want
    /// them (it is reaping, or its `used_event` is further on).
    fn flush(
        &mut self,
        mem: &GuestMemory,
        ring: RingAddrs,
        vring: &mut Vring,
    ) -> Result<(), QueueError> {
        if self.unsignalled > 0 {
            if call_wanted(mem, ring, vring)? {
                signal(vring)?;
                self.waking = true;
            } else {
                self.waking = false;
            }
        }
        self.unsignalled = 0;
        Ok(())
    }
}

fn signal(vring: &Vring) -> Result<(), QueueError> {
    match &vring.call {
        Some(call) => call.notify().map_err(QueueError::Call),
        None => Ok(()),
    }
}

/// A request's buffers: what the driver gave to read and room to write.
#[derive(Debug)]
pub struct Request<'a> {
    pub reader: Reader<'a>,
    pub writer: Writer<'a>,
    rejected: Option<String>,
}

impl Request<'_> {
    /// Refuses the request as malformed, saying why: it is not completed,
    /// and the connection is closed as for a broken descriptor chain (the
    /// device's own formats get the same treatment as the ring's).
    pub fn reject(&mut self, why: impl Into<String>) {
        self.rejected = Some(why.into());
    }
}

/// A position in one side (readable or writable) of a chain: what
/// [`Reader`] and [`Writer`] advance, and the one place that steps from
/// piece to piece. Knows how many bytes lie before and after it, so no
/// length is ever re-summed.
#[derive(Debug, Clone, Copy)]
struct Cursor<'a> {
    mem: &'a GuestMemory,
    pieces: &'a [Piece],
    /// The current piece, and the offset inside it.
    piece: usize,
    at: u64,
    /// Bytes from here to the end of the last piece.
    left: u64,
    /// Bytes before here.
    done: u64,
}

impl<'a> Cursor<'a> {
    /// At the start of `pieces`, which hold `len` bytes in all.
    fn new(mem: &'a GuestMemory, pieces: &'a [Piece], len: u64) -> Self {
        Self {
            mem,
            pieces,
            piece: 0,
            at: 0,
            left: len,
            done: 0,
        }
    }

    /// Takes the next contiguous span of at most `max` bytes, moving past
    /// it: the piece, the offset in that piece, the length.
    fn step(&mut self, max: u64) -> Option<(&'a Piece, u64, u64)> {
        let p = self.pieces.get(self.piece)?;
        let at = self.at;
        let take = (p.len - at).min(max);
        if take == 0 {
            return None;
        }
        self.at += take;
        self.left -= take;
        self.done += take;
        if self.at == p.len {
            self.piece += 1;
            self.at = 0;
        }
        Some((p, at, take))
    }

    /// Moves `n` bytes on (fewer at the end); the work is the pieces
    /// crossed, not the bytes.
    fn skip(&mut self, n: u64) {
        let mut left = n;
        while let Some((_, _, take)) = self.step(left) {
            left -= take;
        }
    }

    /// Moves over up to `len` bytes, handing each contiguous span to `copy`
    /// (its piece, the offset in it, and the matching range of the caller's
    /// buffer); stops early, not moving past it, at a span `copy` refuses.
    /// Returns the bytes moved over.
    fn copy(
        &mut self,
        len: usize,
        mut copy: impl FnMut(&Piece, u64, std::ops::Range<usize>) -> Option<()>,
    ) -> usize {
        // A cursor split off the front of a longer one ends before its
        // pieces do (`Writer::split_front`).
        let len = len.min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let mut n = 0;
        let mut next = *self;
        while let Some((p, at, take)) = next.step((len - n) as u64) {
            let take = take as usize;
            if copy(p, at, n..n + take).is_none() {
                break;
            }
            n += take;
            *self = next;
        }
        n
    }

    /// Moves over the next `len` bytes with one vectored file operation
    /// `io` on their region slices, which must report all `len` bytes
    /// moved; `InvalidInput` if fewer bytes are left, and on any error the
    /// cursor stays where it was.
    fn file_io(
        &mut self,
        len: usize,
        io: impl FnOnce(&mut dyn Iterator<Item = vu_sys::RegionSlice<'a>>) -> io::Result<usize>,
    ) -> io::Result<()> {
        if len as u64 > self.left {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "chain too short",
            ));
        }
        let (mut cur, mut left) = (*self, len as u64);
        let mut slices = std::iter::from_fn(|| {
            let (p, at, take) = cur.step(left)?;
            left -= take;
            // Pieces were translated and checked when the chain was walked,
            // so a slice always exists; a missing one ends the iteration,
            // and the short count is an error below.
            cur.mem.piece_slice(p, at, take)
        });
        if io(&mut slices)? != len {
            return Err(lost_piece());
        }
        self.skip(len as u64);
        Ok(())
    }
}

/// A piece that was checked when the chain was walked no longer maps to
/// memory: cannot happen while the chain's memory table is alive.
fn lost_piece() -> io::Error {
    io::Error::other("buffer no longer inside guest memory")
}

/// Sequential reads over the device-readable buffers of a chain.
#[derive(Debug)]
pub struct Reader<'a> {
    cur: Cursor<'a>,
}

impl Reader<'_> {
    /// Bytes left to read.
    pub fn remaining(&self) -> usize {
        self.cur.left as usize
    }

    /// Copies up to `buf.len()` bytes; returns how many.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let mem = self.cur.mem;
        self.cur
            .copy(buf.len(), |p, at, r| mem.piece_read(p, at, &mut buf[r]))
    }

    /// Fills `buf` completely, or returns `false` (and consumes what was
    /// there) if the chain is too short.
    pub fn read_exact(&mut self, buf: &mut [u8]) -> bool {
        self.read(buf) == buf.len()
    }

    /// Writes the next `len` readable bytes to `file` at `offset`, straight
    /// from guest memory (`pwritev`, no bounce buffer), and consumes them.
    /// Fails with `InvalidInput` if fewer than `len` bytes are left; on an
    /// I/O error nothing is consumed.
    pub fn write_to_file_at(
        &mut self,
        file: BorrowedFd<'_>,
        offset: u64,
        len: usize,
    ) -> io::Result<()> {
        self.cur
            .file_io(len, |slices| vu_sys::write_file_from(file, offset, slices))
    }
}

/// Sequential writes over the device-writable buffers of a chain.
#[derive(Debug)]
pub struct Writer<'a> {
    cur: Cursor<'a>,
}

impl Writer<'_> {
    /// Room left.
    pub fn remaining(&self) -> usize {
        self.cur.left as usize
    }

    /// Bytes written (or skipped by [`Writer::write_at_end`]) so far: the
    /// used length reported to the driver.
    pub fn written(&self) -> usize {
        self.cur.done as usize
    }

    /// Copies up to `data.len()` bytes; returns how many.
    pub fn write(&mut self, data: &[u8]) -> usize {
        let mem = self.cur.mem;
        self.cur
            .copy(data.len(), |p, at, r| mem.piece_write(p, at, &data[r]))
    }

    /// Writes all of `data`, or returns `false` if there is not enough room.
    pub fn write_all(&mut self, data: &[u8]) -> bool {
        self.write(data) == data.len()
    }

    /// Writes `data` as the very last bytes of the writable buffers, and
    /// leaves the bytes between here and there untouched: for devices whose
    /// status sits at the end of a request (virtio-blk). The used length
    /// then covers the whole writable area, as QEMU's devices report it, and
    /// the cost is the pieces skipped, never the bytes. `false`, with
    /// nothing done, if fewer than `data.len()` bytes of room are left.
    pub fn write_at_end(&mut self, data: &[u8]) -> bool {
        let Some(gap) = self.cur.left.checked_sub(data.len() as u64) else {
            return false;
        };
        let mut next = self.cur;
        next.skip(gap);
        let mem = next.mem;
        if next.copy(data.len(), |p, at, r| mem.piece_write(p, at, &data[r])) != data.len() {
            return false;
        }
        self.cur = next;
        true
    }

    /// Fills the next `len` writable bytes from `file` at `offset`, straight
    /// into guest memory (`preadv`, no bounce buffer). Fails with
    /// `InvalidInput` if there is less room; on an I/O error (an end of file
    /// included) nothing counts as written, though some bytes may have
    /// landed.
    pub fn write_from_file_at(
        &mut self,
        file: BorrowedFd<'_>,
        offset: u64,
        len: usize,
    ) -> io::Result<()> {
        self.cur
            .file_io(len, |slices| vu_sys::read_file_into(file, offset, slices))
    }
}

impl<'a> Writer<'a> {
    /// Splits the next `len` bytes of room off as a writer of their own,
    /// and moves this one past them (they count as written): for a device
    /// whose response header comes before data that decides the header
    /// (virtio-scsi's status and residual precede the data-in bytes).
    /// Nothing is written, and the cost is the pieces skipped, never the
    /// bytes. `None`, with nothing done, if there is less room.
    pub fn split_front(&mut self, len: usize) -> Option<Writer<'a>> {
        if len as u64 > self.cur.left {
            return None;
        }
        let mut front = self.cur;
        front.left = len as u64;
        self.cur.skip(len as u64);
        Some(Writer { cur: front })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vu_protocol::msg::MemoryRegion;
    use vu_protocol::virtio::split::{
        VRING_DESC_F_INDIRECT as IND, VRING_DESC_F_NEXT as NEXT, VRING_DESC_F_WRITE as W,
    };
    use vu_sys::SharedMemory;

    const BASE: u64 = 0x1_0000;
    const RSIZE: u64 = 0x4000;
    const RING: RingAddrs = RingAddrs {
        desc: BASE,
        avail: BASE + 0x400,
        used: BASE + 0x800,
    };
    const SIZE: u16 = 16;

    /// Two adjacent 16 KiB regions at BASE; the same memory seen from both
    /// sides (the shm handles write, `GuestMemory` walks).
    fn memory() -> (Vec<SharedMemory>, GuestMemory) {
        memory_of(&[RSIZE, RSIZE])
    }

    /// Adjacent regions of the given sizes from BASE.
    fn memory_of(sizes: &[u64]) -> (Vec<SharedMemory>, GuestMemory) {
        let shms: Vec<SharedMemory> = sizes
            .iter()
            .map(|&s| SharedMemory::new(s).unwrap())
            .collect();
        let mut gpa = BASE;
        let regions: Vec<MemoryRegion> = sizes
            .iter()
            .map(|&size| {
                let r = MemoryRegion {
                    guest_phys_addr: gpa,
                    memory_size: size,
                    user_addr: 0x7000_0000 + (gpa - BASE),
                    mmap_offset: 0,
                };
                gpa += size;
                r
            })
            .collect();
        let fds = shms
            .iter()
            .map(|s| s.fd().try_clone_to_owned().unwrap())
            .collect();
        let mem = GuestMemory::map(&regions, fds).unwrap();
        (shms, mem)
    }

    /// Heap bytes a chain buffer holds.
    fn held(buf: &ChainBuf) -> usize {
        buf.pieces.capacity() * size_of::<Piece>()
    }

    fn put(mem: &GuestMemory, index: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let d = Descriptor {
            addr,
            len,
            flags,
            next,
        };
        mem.write(RING.desc + 16 * u64::from(index), &d.to_le_bytes())
            .unwrap();
    }

    fn walk(mem: &GuestMemory, head: u16) -> Result<ChainBuf, QueueError> {
        let mut buf = ChainBuf::default();
        walk_chain(mem, RING, SIZE, head, &mut buf).map(|()| buf)
    }

    #[test]
    fn chain_is_split_at_a_region_boundary_and_read_back() {
        let (_shm, mem) = memory();
        let boundary = BASE + RSIZE;
        // `write` is single-region: place the bytes in two pieces.
        mem.write(boundary - 4, b"abcd").unwrap();
        mem.write(boundary, b"efgh").unwrap();
        put(&mem, 0, boundary - 4, 8, NEXT, 1);
        put(&mem, 1, BASE + 0x2000, 4, W, 0);
        let buf = walk(&mem, 0).unwrap();
        let (readable, writable) = buf.split();
        assert_eq!(readable.len(), 2, "split into two pieces");
        let mut req = Request {
            reader: Reader {
                cur: Cursor::new(&mem, readable, buf.readable_len),
            },
            writer: Writer {
                cur: Cursor::new(&mem, writable, buf.writable_len),
            },
            rejected: None,
        };
        assert_eq!(req.reader.remaining(), 8);
        let mut got = [0u8; 8];
        assert!(req.reader.read_exact(&mut got));
        assert_eq!(&got, b"abcdefgh");
        assert!(!req.writer.write_all(b"12345"), "only 4 bytes of room");
        assert_eq!(req.writer.written(), 4);
    }

    #[test]
    fn a_front_split_off_a_writer_is_filled_after_what_follows_it() {
        let (_shm, mem) = memory();
        // Two writable buffers; the front (6 bytes) spans both.
        put(&mem, 0, BASE + 0x2000, 4, W | NEXT, 1);
        put(&mem, 1, BASE + 0x3000, 8, W, 0);
        let buf = walk(&mem, 0).unwrap();
        let (_, writable) = buf.split();
        let mut w = Writer {
            cur: Cursor::new(&mem, writable, buf.writable_len),
        };
        assert!(w.split_front(13).is_none(), "only 12 bytes of room");
        let mut front = w.split_front(6).unwrap();
        assert_eq!((w.written(), w.remaining()), (6, 6));
        assert!(w.write_all(b"data"));
        assert_eq!(front.remaining(), 6);
        assert_eq!(front.write(b"headerXX"), 6, "the front ends at its length");
        assert_eq!(w.written(), 10);
        let mut got = [0u8; 4];
        mem.read(BASE + 0x2000, &mut got).unwrap();
        assert_eq!(&got, b"head");
        let mut got = [0u8; 8];
        mem.read(BASE + 0x3000, &mut got).unwrap();
        assert_eq!(&got[..6], b"erdata");
    }

    #[test]
    fn hostile_chains_are_refused() {
        let (_shm, mem) = memory();
        let end = BASE + 2 * RSIZE;
        put(&mem, 0, BASE, 4, NEXT, 1);
        put(&mem, 1, BASE, 4, NEXT, 0);
        assert!(matches!(walk(&mem, 0), Err(QueueError::ChainLoop)));
        put(&mem, 0, BASE, 4, NEXT, 0);
        assert!(
            matches!(walk(&mem, 0), Err(QueueError::ChainLoop)),
            "self loop"
        );
        put(&mem, 0, end - 2, 4, 0, 0);
        assert!(matches!(
            walk(&mem, 0),
            Err(QueueError::BufferOutsideMemory { .. })
        ));
        put(&mem, 0, u64::MAX - 1, 4, 0, 0);
        assert!(matches!(
            walk(&mem, 0),
            Err(QueueError::BufferOutsideMemory { .. })
        ));
        put(&mem, 0, BASE, 4, NEXT, SIZE);
        assert!(matches!(walk(&mem, 0), Err(QueueError::NextOutOfRange(16))));
        put(&mem, 0, BASE, 4, W | NEXT, 1);
        put(&mem, 1, BASE, 4, 0, 0);
        assert!(matches!(
            walk(&mem, 0),
            Err(QueueError::ReadableAfterWritable)
        ));
        put(&mem, 0, BASE + 0x3000, 24, IND, 0);
        assert!(matches!(
            walk(&mem, 0),
            Err(QueueError::BadIndirectLength(24))
        ));
        put(&mem, 0, BASE + 0x3000, 16, IND | NEXT, 1);
        assert!(matches!(walk(&mem, 0), Err(QueueError::IndirectWithNext)));
        put(&mem, 0, end - 16, 32, IND, 0);
        assert!(matches!(
            walk(&mem, 0),
            Err(QueueError::BufferOutsideMemory { .. })
        ));
        // An indirect table whose entries loop.
        let t = BASE + 0x3000;
        mem.write(
            t,
            &Descriptor {
                addr: BASE,
                len: 1,
                flags: NEXT,
                next: 1,
            }
            .to_le_bytes(),
        )
        .unwrap();
        mem.write(
            t + 16,
            &Descriptor {
                addr: BASE,
                len: 1,
                flags: NEXT,
                next: 0,
            }
            .to_le_bytes(),
        )
        .unwrap();
        put(&mem, 0, t, 32, IND, 0);
        assert!(matches!(walk(&mem, 0), Err(QueueError::ChainLoop)));
        mem.write(
            t,
            &Descriptor {
                addr: t,
                len: 16,
                flags: IND,
                next: 0,
            }
            .to_le_bytes(),
        )
        .unwrap();
        assert!(matches!(walk(&mem, 0), Err(QueueError::NestedIndirect)));
    }

    fn desc_bytes(addr: u64, len: u32, flags: u16, next: u16) -> [u8; 16] {
        Descriptor {
            addr,
            len,
            flags,
            next,
        }
        .to_le_bytes()
    }

    /// Class 1 of issue 12: an indirect table may be as long as the region
    /// it sits in. Here 2^22 entries (64 MiB, sparse) whose first two loop:
    /// the walk must refuse the table before visiting it, and hold no more
    /// memory than a queue-size chain needs.
    #[test]
    fn an_indirect_table_longer_than_the_queue_is_refused_before_it_is_walked() {
        const BIG: u64 = 64 << 20;
        let (_shm, mem) = memory_of(&[RSIZE, BIG]);
        let table = BASE + RSIZE;
        mem.write(table, &desc_bytes(BASE, 1, NEXT, 1)).unwrap();
        mem.write(table + 16, &desc_bytes(BASE, 1, NEXT, 0))
            .unwrap();
        put(&mem, 0, table, BIG as u32, IND, 0);
        let mut buf = ChainBuf::default();
        let err = walk_chain(&mem, RING, SIZE, 0, &mut buf).unwrap_err();
        assert_eq!(
            err.to_string(),
            "indirect table of 4194304 descriptors, more than the queue size 16"
        );
        assert!(held(&buf) <= 4096, "{} bytes held", held(&buf));
        // As long as the queue is fine (and then the loop is found).
        put(&mem, 0, table, 16 * u32::from(SIZE), IND, 0);
        let err = walk_chain(&mem, RING, SIZE, 0, &mut buf).unwrap_err();
        assert_eq!(
            err.to_string(),
            "descriptor chain longer than its table (a loop)"
        );
    }

    /// Direct descriptors, then an indirect table as long as the queue: each
    /// part within bounds, the chain as a whole not.
    #[test]
    fn a_chain_of_more_buffers_than_the_queue_size_is_refused() {
        let (_shm, mem) = memory();
        let table = BASE + 0x3000;
        for i in 0..SIZE {
            let next = if i + 1 < SIZE { NEXT } else { 0 };
            mem.write(table + 16 * u64::from(i), &desc_bytes(BASE, 8, next, i + 1))
                .unwrap();
        }
        put(&mem, 0, BASE, 8, NEXT, 1);
        put(&mem, 1, table, 16 * u32::from(SIZE), IND, 0);
        let err = walk(&mem, 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "descriptor chain of more buffers than the queue size 16"
        );
        put(&mem, 0, table, 16 * u32::from(SIZE), IND, 0);
        assert!(walk(&mem, 0).is_ok(), "the table alone is a full chain");
    }

    #[test]
    fn a_zero_length_buffer_is_refused() {
        let (_shm, mem) = memory();
        put(&mem, 0, BASE, 8, NEXT, 1);
        put(&mem, 1, BASE + 0x100, 0, W, 0);
        let err = walk(&mem, 0).unwrap_err();
        assert_eq!(err.to_string(), "zero-length buffer at 0x10100");
    }

    /// Every descriptor spanning three regions: three pieces each, more
    /// than a queue-size chain may be split into.
    #[test]
    fn a_chain_split_into_too_many_pieces_is_refused() {
        let (_shm, mem) = memory_of(&[RSIZE, 4096, RSIZE]);
        let start = BASE + RSIZE - 8;
        for i in 0..SIZE {
            let next = if i + 1 < SIZE { NEXT } else { 0 };
            put(&mem, i, start, 4096 + 16, next, i + 1);
        }
        let err = walk(&mem, 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "descriptor chain split into more than 32 pieces of guest memory"
        );
        // Half as many descriptors fit.
        put(&mem, SIZE / 2 - 1, start, 4096 + 16, 0, 0);
        let buf = walk(&mem, 0).unwrap();
        assert_eq!(buf.split().0.len(), 3 * usize::from(SIZE / 2));
    }

    /// Per-request memory: sized once for the queue, then reused.
    #[test]
    fn chain_memory_is_allocated_once_per_queue_size() {
        let (_shm, mem) = memory();
        let mut buf = ChainBuf::default();
        put(&mem, 0, BASE, 8, 0, 0);
        walk_chain(&mem, RING, SIZE, 0, &mut buf).unwrap();
        let first = buf.pieces.capacity();
        let ptr = buf.pieces.as_ptr();
        assert_eq!(first, 2 * usize::from(SIZE) + vu_protocol::MAX_MEM_REGIONS);
        for i in 0..SIZE {
            let next = if i + 1 < SIZE { NEXT } else { 0 };
            put(&mem, i, BASE + RSIZE - 4, 8, next | W, i + 1);
        }
        walk_chain(&mem, RING, SIZE, 0, &mut buf).unwrap();
        assert_eq!(buf.split().1.len(), 2 * usize::from(SIZE));
        assert_eq!((buf.pieces.capacity(), buf.pieces.as_ptr()), (first, ptr));
    }

    #[test]
    fn drain_serves_in_order_and_refuses_index_jumps() {
        let (_shm, mem) = memory();
        let (mut v, mut buf) = ready_ring();
        for i in 0..3u16 {
            put(&mem, i, BASE + 0x2000 + 64 * u64::from(i), 8, W, 0);
            mem.write(RING.avail + 4 + 2 * u64::from(i), &i.to_le_bytes())
                .unwrap();
        }
        mem.write_u16(RING.avail + 2, 3).unwrap();
        let mut seen = Vec::new();
        let d = drain_ring(&mem, &mut v, &mut buf, 64, |r| {
            seen.push(r.writer.remaining());
            r.writer.write(&[1, 2, 3]);
        })
        .unwrap();
        assert_eq!((d.done, d.more, seen.len()), (3, false, 3));
        assert_eq!(mem.read_u16(RING.used + 2), Some(3));
        let mut e = [0u8; 8];
        mem.read(RING.used + 4 + 8 * 2, &mut e).unwrap();
        assert_eq!(UsedElem::from_le_bytes(e), UsedElem { id: 2, len: 3 });
        mem.write_u16(RING.avail + 2, 3 + SIZE + 1).unwrap();
        assert!(matches!(
            drain_ring(&mem, &mut v, &mut buf, 64, |_| {}),
            Err(QueueError::AvailIndexJump(17))
        ));
        mem.write_u16(RING.avail + 2, 4).unwrap();
        mem.write(RING.avail + 4 + 2 * 3, &SIZE.to_le_bytes())
            .unwrap();
        assert!(matches!(
            drain_ring(&mem, &mut v, &mut buf, 64, |_| {}),
            Err(QueueError::HeadOutOfRange(16))
        ));
    }

    /// A polling window grown by kicks that came within its maximum.
    fn grown_window() -> Window {
        use crate::poll::Polling;
        let mut w = Window::new(Polling::up_to(std::time::Duration::from_millis(1)));
        for _ in 0..3 {
            w.idle();
            w.kicked();
        }
        w
    }

    /// Polls `rings` over the window with nothing arriving; whether a
    /// request was found, and what `look` saw while it polled.
    fn poll_looking(
        mem: &GuestMemory,
        rings: &[Vring],
        w: &mut Window,
        look: impl Fn() -> Option<u16>,
    ) -> (bool, Option<u16>) {
        let seen = std::cell::Cell::new(None);
        w.idle();
        let found = poll_rings(
            mem,
            rings,
            |_| true,
            w,
            || {
                seen.set(look());
                false
            },
        );
        (found.unwrap(), seen.get())
    }

    /// A ready ring at [`RING`], and its chain buffer.
    fn ready_ring() -> (Vring, ChainBuf) {
        let v = Vring {
            size: SIZE,
            addrs: Some(RING),
            enabled: true,
            ..Vring::default()
        };
        (v, ChainBuf::default())
    }

    /// Publishes `n` one-descriptor requests (heads 0..n) after what is
    /// already on the available ring.
    fn offer(mem: &GuestMemory, from: u16, n: u16) {
        for i in from..from + n {
            let head = i % SIZE;
            put(mem, head, BASE + 0x2000 + 64 * u64::from(head), 8, W, 0);
            mem.write(
                RING.avail + 4 + 2 * u64::from(i % SIZE),
                &head.to_le_bytes(),
            )
            .unwrap();
        }
        mem.write_u16(RING.avail + 2, from + n).unwrap();
    }

    #[test]
    fn budget_leaves_the_rest_pending_with_kicks_suppressed() {
        let (_shm, mem) = memory();
        let (mut v, mut buf) = ready_ring();
        offer(&mem, 0, 10);
        let d = drain_ring(&mem, &mut v, &mut buf, 4, |_| {}).unwrap();
        assert_eq!((d.done, d.more), (4, true));
        assert_eq!(
            mem.read_u16(RING.used),
            Some(split::VRING_USED_F_NO_NOTIFY),
            "no kick needed while requests are pending"
        );
        let d = drain_ring(&mem, &mut v, &mut buf, 100, |_| {}).unwrap();
        assert_eq!((d.done, d.more), (6, false));
        assert_eq!(mem.read_u16(RING.used), Some(0), "kicks wanted again");
        assert_eq!(mem.read_u16(RING.used + 2), Some(10));
    }

    /// A handler that keeps adding requests (as a driver refilling the ring
    /// while the device works) cannot keep one drain going for ever.
    #[test]
    fn polling_suppresses_kicks_only_while_it_looks_and_finds_new_requests() {
        use crate::poll::{Polling, Window};
        let (_shm, mem) = memory();
        let v = Vring {
            size: SIZE,
            addrs: Some(RING),
            enabled: true,
            ..Vring::default()
        };
        let rings = std::slice::from_ref(&v);
        // Off (a zero window): the ring is not touched.
        let mut off = Window::new(Polling::off());
        off.idle();
        mem.write_u16(RING.used, 0x7).unwrap();
        assert!(!poll_rings(&mem, rings, |_| true, &mut off, || false).unwrap());
        assert_eq!(mem.read_u16(RING.used), Some(0x7));
        mem.write_u16(RING.used, 0).unwrap();

        // A window grows on kicks that came within the maximum.
        let mut w = grown_window();
        assert!(w.current() > std::time::Duration::ZERO);

        // Nothing arrives: kicks are suppressed while looking, wanted again
        // when it gives up.
        let (found, flags_seen) = poll_looking(&mem, rings, &mut w, || mem.read_u16(RING.used));
        assert!(!found);
        assert_eq!(flags_seen, Some(split::VRING_USED_F_NO_NOTIFY));
        assert_eq!(
            mem.read_u16(RING.used),
            Some(0),
            "kicks wanted before sleeping"
        );

        // A request published while it looks is found without a kick.
        w.idle();
        let found = poll_rings(
            &mem,
            rings,
            |_| true,
            &mut w,
            || {
                offer(&mem, 0, 1);
                false
            },
        );
        assert!(found.unwrap());
        assert_eq!(mem.read_u16(RING.used), Some(0));

        // Rings not served by this poller are not looked at.
        w.idle();
        assert!(!poll_rings(&mem, rings, |_| false, &mut w, || false).unwrap());
    }

    /// A device fills what it looked at, and a chain it refuses ends the
    /// fill with nothing more published.
    #[test]
    fn a_fill_takes_the_chains_it_looked_at_and_a_refused_one_ends_it() {
        let (_shm, mem) = memory();
        let (mut v, mut buf) = ready_ring();
        offer(&mem, 0, 3);
        let published = fill_ring(&mem, &mut v, &mut buf, |f| {
            assert_eq!(f.available(), 3);
            assert_eq!(
                (f.readable(0), f.room(0), f.room(1)),
                (Some(0), Some(8), Some(8))
            );
            assert_eq!(f.fill_next(|w| _ = w.write(&[7; 4])), Some(4));
            assert_eq!(f.room(2), None, "two are left");
        })
        .unwrap();
        assert_eq!((published, v.last_avail), (1, 1));
        assert_eq!(mem.read_u16(RING.used + 2), Some(1));
        let refused = fill_ring(&mem, &mut v, &mut buf, |f| {
            f.fill_next(|w| _ = w.write(&[1]));
            f.reject("not an event buffer");
            assert_eq!(f.room(0), None, "a refused fill takes nothing more");
        });
        assert!(matches!(refused, Err(QueueError::Rejected(why)) if why == "not an event buffer"));
        assert_eq!(mem.read_u16(RING.used + 2), Some(1), "nothing published");
    }

    /// With `EVENT_IDX`: kicks are asked for through `avail_event` (one
    /// behind while draining or polling, at the next request before
    /// sleeping), calls go by the driver's `used_event`, the flags are left
    /// alone, and a filled queue wants a kick for every buffer added.
    #[test]
    fn event_indexes_replace_the_flags_in_both_directions() {
        let (_shm, mem) = memory();
        let call = vu_sys::Notifier::new().unwrap();
        let (mut v, mut buf) = ready_ring();
        v.event_idx = true;
        v.call = Some(NotifySender::from_fd(
            call.write_fd().try_clone_to_owned().unwrap(),
        ));
        let avail_event = |mem: &GuestMemory| {
            mem.read_u16(RING.used + split::avail_event_offset(SIZE))
                .unwrap()
        };
        let set_used_event = |mem: &GuestMemory, e: u16| {
            mem.write_u16(RING.avail + split::used_event_offset(SIZE), e)
                .unwrap()
        };
        let signalled = |call: &vu_sys::Notifier| call.drain().unwrap();
        // The first completion on a ring is signalled whatever used_event is.
        set_used_event(&mem, 100);
        offer(&mem, 0, 3);
        let mut seen = Vec::new();
        drain_ring(&mem, &mut v, &mut buf, 64, |_| seen.push(avail_event(&mem))).unwrap();
        assert_eq!(seen, [0xffff; 3], "no kicks wanted while draining");
        assert_eq!(avail_event(&mem), 3, "the next request kicks");
        assert_eq!(mem.read_u16(RING.used), Some(0), "flags untouched");
        assert!(signalled(&call));
        // used_event further on: no call; once passed, a call.
        set_used_event(&mem, 10);
        offer(&mem, 3, 3);
        drain_ring(&mem, &mut v, &mut buf, 64, |_| {}).unwrap();
        assert!(!signalled(&call), "used index 6 has not passed 10");
        set_used_event(&mem, 6);
        offer(&mem, 6, 2);
        drain_ring(&mem, &mut v, &mut buf, 64, |_| {}).unwrap();
        assert!(signalled(&call), "used index 6 -> 8 passed 6");
        // A driver that asks for no calls (used_event one behind).
        set_used_event(&mem, 7);
        offer(&mem, 8, SIZE);
        drain_ring(&mem, &mut v, &mut buf, 64, |_| {}).unwrap();
        assert!(!signalled(&call));

        // Polling declines kicks while it looks and wants them after.
        let mut w = grown_window();
        let rings = std::slice::from_ref(&v);
        let (found, during) = poll_looking(&mem, rings, &mut w, || Some(avail_event(&mem)));
        assert!(!found);
        let last = 8 + SIZE;
        assert_eq!(during, Some(last - 1));
        assert_eq!(avail_event(&mem), last);

        // A filled queue: every buffer added kicks.
        offer(&mem, last, 2);
        assert!(!want_fill_kicks(&mem, &v).unwrap());
        assert_eq!(avail_event(&mem), last + 2);
        v.event_idx = false;
        mem.write_u16(RING.used + split::avail_event_offset(SIZE), 0)
            .unwrap();
        assert!(!want_fill_kicks(&mem, &v).unwrap());
        assert_eq!(avail_event(&mem), 0, "without EVENT_IDX nothing to do");
    }

    #[test]
    fn a_ring_refilled_during_the_drain_is_bounded_by_the_budget() {
        let (_shm, mem) = memory();
        let (mut v, mut buf) = ready_ring();
        offer(&mem, 0, 1);
        let mut next = 1u16;
        let d = drain_ring(&mem, &mut v, &mut buf, 50, |_| {
            offer(&mem, next, 1);
            next += 1;
        })
        .unwrap();
        assert_eq!((d.done, d.more), (50, true));
    }

    #[test]
    fn calls_are_coalesced_and_follow_the_drivers_no_interrupt_flag() {
        let (_shm, mem) = memory();
        let call = vu_sys::Notifier::new().unwrap();
        let mut v = Vring {
            size: SIZE,
            addrs: Some(RING),
            enabled: true,
            call: Some(NotifySender::from_fd(
                call.write_fd().try_clone_to_owned().unwrap(),
            )),
            ..Vring::default()
        };
        let mut buf = ChainBuf::default();
        let signalled = |call: &vu_sys::Notifier| call.drain().unwrap();
        // One request (queue depth 1): signalled when the drain ends.
        offer(&mem, 0, 1);
        drain_ring(&mem, &mut v, &mut buf, 64, |_| {}).unwrap();
        assert!(signalled(&call));

        // A full ring and a driver that does not react: one signal half-way
        // (it can refill while the rest is served), one at the end.
        offer(&mem, 1, SIZE);
        let mut seen = Vec::new();
        drain_ring(&mem, &mut v, &mut buf, 64, |_| seen.push(signalled(&call))).unwrap();
        let at: Vec<usize> = (0..seen.len()).filter(|&i| seen[i]).collect();
        assert_eq!(
            at,
            [SIZE as usize / 2],
            "signalled half-way, seen by the next request"
        );
        assert!(signalled(&call), "the second half, at the end");

        // A driver with NO_INTERRUPT set throughout: never signalled.
        mem.write_u16(RING.avail, split::VRING_AVAIL_F_NO_INTERRUPT)
            .unwrap();
        offer(&mem, 1 + SIZE, SIZE);
        drain_ring(&mem, &mut v, &mut buf, 64, |_| {}).unwrap();
        assert!(!signalled(&call));

        // A driver that clears the flag (going to sleep) while the last
        // request is served is signalled at the end.
        offer(&mem, 1 + 2 * SIZE, 3);
        let mut k = 0;
        drain_ring(&mem, &mut v, &mut buf, 64, |_| {
            k += 1;
            if k == 3 {
                mem.write_u16(RING.avail, 0).unwrap();
            }
        })
        .unwrap();
        assert!(signalled(&call));
    }
}
