//! The handle other threads hold, the control block it shares with the reactor, and
//! the snapshots it asks for.

use super::{Host, Reactor};
use crate::protocol::Protocol;
use crate::stats::Stats;
use mio::Waker;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

const CMD_SHUTDOWN: u8 = 1;
const CMD_STOP: u8 = 2;
const CMD_SNAPSHOT: u8 = 4;
const CMD_POST: u8 = 8;

pub(super) struct Control {
    pub(super) cmd: AtomicU8,
    pub(super) waker: Waker,
    /// Snapshot requests from other threads. Only touched when `CMD_SNAPSHOT` is set,
    /// so the reactor's turn never takes this lock unless someone asked.
    pub(super) snapshots: Mutex<SnapshotQueue>,
    /// Values posted with [`Handle::post`] and not yet delivered, each once.
    pub(super) posts: Mutex<Vec<u64>>,
}

#[derive(Default)]
pub(super) struct SnapshotQueue {
    /// Set once the reactor will answer no more: a request made after it fails at once
    /// instead of waiting out its timeout.
    pub(super) closed: bool,
    pub(super) waiting: Vec<SyncSender<Snapshot>>,
}

impl Control {
    fn queue(&self) -> MutexGuard<'_, SnapshotQueue> {
        // A panic while the lock was held leaves a plain Vec and a bool: still usable.
        self.snapshots.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn posts(&self) -> MutexGuard<'_, Vec<u64>> {
        self.posts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The reactor's state at one moment, taken on the reactor's own thread between events
/// (see [`Handle::snapshot`], [`Reactor::snapshot`]).
#[derive(Clone, Debug)]
#[cfg_attr(feature = "server", derive(serde::Serialize))]
pub struct Snapshot {
    /// The counters (serialized with `Stats::to_json`, with the `server` feature).
    #[cfg_attr(feature = "server", serde(serialize_with = "stats_as_json"))]
    pub stats: Stats,
    /// Connections open now.
    pub active: usize,
    /// Pooled buffers lent to connections (each holds unsent output or unused input).
    pub buffers_in_use: usize,
    /// Free buffers waiting in the pool.
    pub buffers_pooled: usize,
    /// Bytes of capacity held by the free buffers.
    pub buffers_pooled_bytes: usize,
    /// Reminders in the timer heap, live and stale. Kept within `2 x timers_live + 64`
    /// at the end of every turn.
    pub timers: usize,
    /// Reminders some connection, listener or host timer still waits for.
    pub timers_live: usize,
    /// Connections the slab holds without growing (its reserved capacity).
    pub slab_capacity: usize,
    /// A graceful shutdown is under way (listeners closed, connections draining).
    pub shutting_down: bool,
}

#[cfg(feature = "server")]
fn stats_as_json<S: serde::Serializer>(stats: &Stats, s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&stats.to_json(), s)
}

/// A handle to a reactor usable from any thread: ask it to shut down gracefully, to
/// stop at once, or for a [`Snapshot`].
#[derive(Clone)]
pub struct Handle {
    ctl: Arc<Control>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl Handle {
    /// Stop accepting, let in-flight output flush (up to `shutdown_timeout`), then make
    /// [`Reactor::run`] return.
    pub fn shutdown(&self) {
        self.ctl.cmd.fetch_or(CMD_SHUTDOWN, Ordering::SeqCst);
        let _ = self.ctl.waker.wake();
    }

    /// Make [`Reactor::run`] return after the current turn, closing nothing.
    pub fn stop(&self) {
        self.ctl.cmd.fetch_or(CMD_STOP, Ordering::SeqCst);
        let _ = self.ctl.waker.wake();
    }

    /// Wake the loop with work for the host: [`Host::posted`] is called with `value` on
    /// the reactor's thread, in its next turn. The data itself travels in the host's own
    /// channel (a queue, a `Mutex`); `value` says which. Wake-ups coalesce: posting the
    /// same value again before it is delivered delivers it once, and many posts cost the
    /// reactor one wake-up.
    ///
    /// ```
    /// use readyloop::{protocol::Echo, Config, Host, Reactor};
    /// struct Jobs(Vec<u64>);
    /// impl Host<Echo> for Jobs {
    ///     fn posted(&mut self, _r: &mut Reactor<Echo>, value: u64) {
    ///         self.0.push(value);
    ///     }
    /// }
    /// let mut r: Reactor<Echo> = Reactor::new(Config::default())?;
    /// let h = r.handle();
    /// std::thread::spawn(move || { h.post(7); h.post(7); h.post(8); }).join().unwrap();
    /// let mut jobs = Jobs(Vec::new());
    /// r.turn(&mut jobs, Some(std::time::Duration::from_secs(1)))?;
    /// assert_eq!(jobs.0, [7, 8]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn post(&self, value: u64) {
        {
            let mut posts = self.ctl.posts();
            if posts.contains(&value) {
                return; // already on its way; the waker has been rung for it
            }
            posts.push(value);
        }
        self.ctl.cmd.fetch_or(CMD_POST, Ordering::SeqCst);
        let _ = self.ctl.waker.wake();
    }

    /// Ask the reactor for a [`Snapshot`] and wait up to `timeout` for it. The reactor
    /// answers at the end of its current turn (or at once if it is waiting in `poll`).
    ///
    /// `None` if it did not answer in time (busy, or not turning), or if it will never
    /// answer again ([`Handle::is_closed`]): then without waiting. Never call this from
    /// the reactor's own thread: nobody would answer until the timeout.
    pub fn snapshot(&self, timeout: Duration) -> Option<Snapshot> {
        // Room for one answer, so the reactor's try_send never blocks, even when the
        // asker has given up.
        let (tx, rx) = mpsc::sync_channel(1);
        {
            let mut q = self.ctl.queue();
            if q.closed {
                return None;
            }
            q.waiting.push(tx);
        }
        self.ctl.cmd.fetch_or(CMD_SNAPSHOT, Ordering::SeqCst);
        let _ = self.ctl.waker.wake();
        // A closed queue drops our sender: that is `Disconnected`, returned at once.
        rx.recv_timeout(timeout).ok()
    }

    /// Whether the reactor will answer no more snapshots: it was dropped, or its owner
    /// stopped answering (the server does so when `run` returns).
    /// Helper threads watch this to know when to exit.
    pub fn is_closed(&self) -> bool {
        self.ctl.queue().closed
    }
}

impl<P: Protocol> Reactor<P> {
    /// A handle for other threads.
    pub fn handle(&self) -> Handle {
        Handle {
            ctl: self.ctl.clone(),
        }
    }

    /// The reactor's state now (what [`Handle::snapshot`] answers).
    pub fn snapshot(&self) -> Snapshot {
        let (buffers_in_use, buffers_pooled, buffers_pooled_bytes) = self.buffer_stats();
        Snapshot {
            stats: self.stats(),
            active: self.active(),
            buffers_in_use,
            buffers_pooled,
            buffers_pooled_bytes,
            timers: self.sh.timers.len(),
            timers_live: self.sh.timers.live(),
            slab_capacity: self.conns.capacity(),
            shutting_down: self.shutdown_at.is_some(),
        }
    }

    /// Answer no more snapshot requests: those waiting and any later one get `None` at
    /// once, and [`Handle::is_closed`] turns true. Dropping the reactor does this too;
    /// call it earlier when the reactor is done but kept (e.g. to read its stats) and
    /// helper threads should stop now.
    pub(crate) fn close_snapshots(&self) {
        let mut q = self.ctl.queue();
        q.closed = true;
        q.waiting.clear(); // dropping the senders wakes their askers with `Disconnected`
    }

    pub(super) fn commands(&mut self) {
        let cmd = self.ctl.cmd.swap(0, Ordering::SeqCst);
        if cmd & CMD_SHUTDOWN != 0 {
            self.shutdown();
        }
        if cmd & CMD_STOP != 0 {
            self.stopped = true;
        }
        if cmd & CMD_POST != 0 {
            self.posts_pending = true;
        }
        if cmd & CMD_SNAPSHOT != 0 {
            let waiting = std::mem::take(&mut self.ctl.queue().waiting);
            if !waiting.is_empty() {
                let snap = self.snapshot();
                for tx in waiting {
                    // An asker that timed out has dropped its receiver: nothing to do.
                    let _ = tx.try_send(snap.clone());
                }
            }
        }
    }

    /// Hand the values posted since the last delivery to [`Host::posted`].
    pub(super) fn deliver_posts<H: Host<P>>(&mut self, host: &mut H) {
        if !self.posts_pending {
            return;
        }
        self.posts_pending = false;
        let mut posts = std::mem::take(&mut self.posts_buf);
        std::mem::swap(&mut posts, &mut *self.ctl.posts());
        for &v in &posts {
            host.posted(self, v);
        }
        posts.clear();
        self.posts_buf = posts;
    }
}
