//! Queue workers: a queue whose device handed out a [`QueueHandler`] is
//! served on a thread of its own, which owns that queue's ring state and
//! handler while it runs.
//!
//! The session stops a queue's worker (and gets the ring state and the
//! handler back) before it handles any message that could touch a queue or
//! guest memory, and starts it again afterwards if the queue is still ready;
//! so a worker never sees state change under it, and the message handling
//! in `session.rs` stays single-threaded. A worker that meets a broken ring
//! stops and signals the session, which closes the connection.
//!
//! A stopped worker's thread is parked, not ended: it waits for the next
//! start, and ends with the session. A front-end's set-up sends a dozen
//! queue messages per queue, and a thread per message would cost a spawn
//! and a join each.

use crate::memory::GuestMemory;
use crate::poll::{Polling, Window};
use crate::queue::{drain_ring, poll_rings, ChainBuf, Vring};
use crate::{QueueError, QueueHandler};
use std::io;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use vu_sys::{Consumed, Notifier, NotifyReceiver, NotifySender, Poller};

/// Why a worker stopped on its own.
#[derive(Debug)]
pub(crate) enum WorkerError {
    Queue(QueueError),
    Io(io::Error),
    /// The handler panicked; the queue's state is lost with the thread.
    Panicked,
    /// The front-end shrank the file of guest memory region `.0`.
    MemoryShrank(usize),
}

/// What a stopped worker hands back.
pub(crate) struct Stopped {
    pub(crate) vring: Option<Vring>,
    pub(crate) handler: Option<Box<dyn QueueHandler>>,
    pub(crate) result: Result<(), WorkerError>,
}

type Returned = (Vring, Box<dyn QueueHandler>, Result<(), WorkerError>);

/// What one start hands the thread.
struct Job {
    vring: Vring,
    mem: Arc<GuestMemory>,
    handler: Box<dyn QueueHandler>,
    polling: Polling,
}

/// A queue's worker thread, running a job or parked between jobs.
pub(crate) struct Worker {
    /// Dropped to end the parked thread.
    jobs: Option<Sender<Job>>,
    returned: Receiver<Returned>,
    thread: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    wake: Notifier,
    running: bool,
}

const KEY_KICK: usize = 0;
const KEY_WAKE: usize = 1;
/// How long an idle worker sleeps before it looks at the stop flag anyway.
const IDLE_CHECK: Duration = Duration::from_secs(1);

impl Worker {
    /// Spawns queue `queue`'s thread, parked until [`Worker::start`];
    /// `exited` is signalled whenever a job stops on an error.
    pub(crate) fn spawn(queue: u16, exited: NotifySender) -> io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let wake = Notifier::new()?;
        let wake_rx = NotifyReceiver::from_fd(wake.read_fd().try_clone_to_owned()?)?;
        let (jobs, jobs_rx) = channel::<Job>();
        let (returned_tx, returned) = channel();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("vu-queue-{queue}"))
            .spawn(move || {
                // Ends when the session drops its sender, or when the
                // session is gone and nothing receives.
                while let Ok(job) = jobs_rx.recv() {
                    let Job {
                        mut vring,
                        mem,
                        mut handler,
                        polling,
                    } = job;
                    let mut window = Window::new(polling);
                    let result = serve(
                        queue,
                        &mut vring,
                        &mem,
                        handler.as_mut(),
                        (&flag, &wake_rx),
                        &mut window,
                    );
                    // The memory is the session's again once the job is
                    // handed back: a new table unmaps the old one.
                    drop(mem);
                    if result.is_err() {
                        // Best effort: the session also finds out when it
                        // next stops this worker.
                        let _ = exited.notify();
                    }
                    if returned_tx.send((vring, handler, result)).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Self {
            jobs: Some(jobs),
            returned,
            thread: Some(thread),
            stop,
            wake,
            running: false,
        })
    }

    /// Whether a job runs (from [`Worker::start`] until [`Worker::stop`]).
    pub(crate) fn running(&self) -> bool {
        self.running
    }

    /// Starts serving `vring` (which must be ready) with `handler`. On an
    /// error the job is lost with the thread, which has ended.
    pub(crate) fn start(
        &mut self,
        vring: Vring,
        mem: Arc<GuestMemory>,
        handler: Box<dyn QueueHandler>,
        polling: Polling,
    ) -> io::Result<()> {
        debug_assert!(!self.running, "a worker runs one job at a time");
        self.stop.store(false, Ordering::Release);
        let job = Job {
            vring,
            mem,
            handler,
            polling,
        };
        let sent = self.jobs.as_ref().is_some_and(|j| j.send(job).is_ok());
        if !sent {
            return Err(io::Error::other("the queue's worker thread has ended"));
        }
        self.running = true;
        Ok(())
    }

    /// Stops the running job and takes back what it owned; the thread
    /// parks.
    pub(crate) fn stop(&mut self) -> Stopped {
        debug_assert!(self.running, "stop follows start");
        self.running = false;
        self.stop.store(true, Ordering::Release);
        // Should the wake-up fail, the worker still sees the flag within
        // `IDLE_CHECK`.
        let _ = self.wake.notify();
        let stopped = match self.returned.recv() {
            Ok((vring, handler, result)) => Stopped {
                vring: Some(vring),
                handler: Some(handler),
                result,
            },
            // The thread ended without handing the job back: it panicked.
            Err(_) => Stopped {
                vring: None,
                handler: None,
                result: Err(WorkerError::Panicked),
            },
        };
        // The wake-up may be left unread: the next job must not see it.
        let _ = self.wake.drain();
        stopped
    }
}

impl Drop for Worker {
    /// Stops a running job, then ends and joins the thread.
    fn drop(&mut self) {
        if self.running {
            drop(self.stop());
        }
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Logs that queue `q`'s kick fd was dropped (once per fd).
pub(crate) fn log_dead_kick(q: u16, why: &io::Error) {
    log::warn!(
        "queue {q}: kick fd dropped: {why}; the queue is not served until SET_VRING_KICK sends a new one"
    );
}

/// How the worker's loop ended without error.
enum Ended {
    /// The session asked it to stop.
    Stopped,
    /// The kick fd can never signal again; it was dropped, and with it the
    /// queue stops being ready.
    KickDead,
}

/// The worker's loop: drain on a kick (one ring's worth at a time, polling
/// without sleeping while requests are left; after a drain, polling the
/// ring for the adaptive `window` before sleeping), until told to stop or
/// the kick fd dies (end of file, hang-up, error).
fn serve(
    queue: u16,
    vring: &mut Vring,
    mem: &GuestMemory,
    handler: &mut dyn QueueHandler,
    (stop, wake): (&AtomicBool, &NotifyReceiver),
    window: &mut Window,
) -> Result<(), WorkerError> {
    // The kick is used here, not by `drain_ring`: hold it apart meanwhile.
    let Some(kick) = vring.kick.take() else {
        return Ok(());
    };
    let result = (|| {
        let mut poller = Poller::new().map_err(WorkerError::Io)?;
        poller
            .add(kick.as_fd(), KEY_KICK)
            .map_err(WorkerError::Io)?;
        poller
            .add(wake.as_fd(), KEY_WAKE)
            .map_err(WorkerError::Io)?;
        let result = event_loop(
            queue,
            vring,
            mem,
            handler,
            (stop, &kick),
            &mut poller,
            window,
        );
        let _ = poller.remove(kick.as_fd());
        let _ = poller.remove(wake.as_fd());
        result
    })();
    match result {
        Ok(Ended::KickDead) => Ok(()),
        Ok(Ended::Stopped) => {
            vring.kick = Some(kick);
            Ok(())
        }
        Err(e) => {
            vring.kick = Some(kick);
            Err(e)
        }
    }
}

fn event_loop(
    queue: u16,
    vring: &mut Vring,
    mem: &GuestMemory,
    handler: &mut dyn QueueHandler,
    (stop, kick): (&AtomicBool, &NotifyReceiver),
    poller: &mut Poller,
    window: &mut Window,
) -> Result<Ended, WorkerError> {
    let mut chain = ChainBuf::default();
    let mut ready = Vec::new();
    // Requests may be waiting already.
    let mut pending = true;
    loop {
        if stop.load(Ordering::Acquire) {
            return Ok(Ended::Stopped);
        }
        if pending {
            let budget = u32::from(vring.size);
            let drained = drain_ring(mem, vring, &mut chain, budget, |req| handler.process(req))
                .map_err(WorkerError::Queue)?;
            if let Some(region) = mem.shrunk_region() {
                return Err(WorkerError::MemoryShrank(region));
            }
            pending = drained.more;
            if !pending {
                window.idle();
            }
        }
        if !pending {
            // Poll before sleeping; a request found here is served without
            // a kick. (`stop` ends the poll too: seen at the loop's top.)
            pending = poll_rings(
                mem,
                std::slice::from_ref(vring),
                |_| true,
                window,
                || stop.load(Ordering::Relaxed),
            )
            .map_err(|(_, e)| WorkerError::Queue(e))?;
        }
        ready.clear();
        let timeout = if pending { Duration::ZERO } else { IDLE_CHECK };
        poller
            .wait(&mut ready, Some(timeout))
            .map_err(WorkerError::Io)?;
        if ready.contains(&KEY_KICK) {
            match kick.consume() {
                Consumed::Signalled => {
                    pending = true;
                    window.kicked();
                }
                Consumed::Nothing => {}
                Consumed::Closed(e) => {
                    log_dead_kick(queue, &e);
                    return Ok(Ended::KickDead);
                }
            }
        }
        // A wake-up only means "look at the stop flag", done above.
    }
}
