//! The reactor: one `mio::Poll`, listeners, a slab of connections, timers.
//!
//! One turn:
//! 1. `poll` with the earliest timer as timeout (zero if work is left from the last
//!    turn); `Interrupted` is retried.
//! 2. Each event: a listener accepts up to its budget; a connection writes, produces,
//!    reads; a host source goes to the [`Host`]; the waker delivers [`Handle`] commands.
//! 3. Connections and listeners whose budget ran out are served again.
//! 4. Expired timers: connection timeouts and protocol timers, accept retries after
//!    EMFILE, the shutdown deadline, host timers.
//! 5. Closed connections leave the slab only now, so a slot freed during a batch is
//!    never reused while a later event of the same batch may still name it. A paused
//!    listener is retried at once if any connection closed.

use crate::buffer::BufPool;
use crate::conn::{flag, Conn, Limits, Shared, State};
use crate::listener::{self, AcceptPause, ListenOptions};
use crate::protocol::Protocol;
use crate::reject::{self, Lingerer, Rejects, Reserve};
use crate::stats::{CloseReason, Stats};
use crate::timer::{Nanos, Timers};
use mio::event::{Event, Source};
use mio::net::{TcpListener, TcpStream};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use slab::Slab;
use socket2::{Domain, Socket, Type};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Tokens at or above this value are not connections.
const SPECIAL: usize = 1 << 48;
const WAKER: Token = Token(SPECIAL);
const TIMERFD: Token = Token(SPECIAL + (1 << 31));
const LISTENER_BASE: usize = SPECIAL + 1;
/// Lingering rejected connections (below `TIMERFD`).
const REJECT_BASE: usize = SPECIAL + (1 << 30);
const SOURCE_BASE: usize = SPECIAL + (1 << 32);

/// The output buffer shared by all connections is given back when its capacity passes
/// this many read buffers (a protocol's output per call is bounded, but a host `send`
/// or one large response can still grow it).
const SHRINK_OUT_FACTOR: usize = 4;

/// Timer keys carry their kind in the top byte.
const TK_CONN: u64 = 0;
const TK_LISTENER: u64 = 1 << 56;
const TK_SHUTDOWN: u64 = 2 << 56;
const TK_HOST: u64 = 3 << 56;
const TK_REJECT: u64 = 4 << 56;
const TK_KIND: u64 = 0xff << 56;

/// Identifies a connection: its slab slot and the slot's generation, so a stale id
/// never names a newer connection in the same slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnId {
    /// Slab slot (also the connection's mio token).
    pub key: usize,
    /// Generation of the slot.
    pub gen: u32,
}

/// Identifies a listener of one reactor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListenerId(pub usize);

/// Identifies a source the host registered with [`Reactor::register`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SourceId(pub usize);

/// Settings of a reactor.
#[derive(Clone, Debug)]
pub struct Config {
    /// Per-connection limits and timeouts.
    pub limits: Limits,
    /// Over this many open connections, newly accepted ones are closed at once
    /// (after `reject_message`, if any) and counted as rejected.
    pub max_conns: Option<usize>,
    /// Bytes written (best effort) to a connection rejected over `max_conns`.
    pub reject_message: &'static [u8],
    /// Size of the one read buffer.
    pub read_buffer: usize,
    /// Connections accepted per listener per turn before other work gets a turn.
    pub accept_budget: usize,
    /// Events taken from the kernel per `poll`.
    pub event_capacity: usize,
    /// How long a graceful shutdown waits for in-flight output before closing all.
    pub shutdown_timeout: Duration,
    /// At the descriptor limit, once accepting has been paused this long with no
    /// descriptor freed, shed load: accept queued connections through a spare
    /// descriptor, answer them (`reject_message`) and close them at once, so clients
    /// beyond the limit learn now instead of waiting for SYN drops and a connect
    /// timeout (libev's advice). `None`: never shed, keep them queued.
    pub shed_after: Option<Duration>,
    /// Wake for timers with microsecond precision (a timerfd) instead of epoll's
    /// millisecond timeout, which fires up to 1 ms late. Costs one `timerfd_settime`
    /// per turn whose earliest deadline changed; loadgen's open-loop schedule needs it,
    /// a server's timeouts do not.
    pub precise_timers: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: Limits::default(),
            max_conns: None,
            reject_message: b"",
            read_buffer: 64 * 1024,
            accept_budget: 256,
            event_capacity: 1024,
            shutdown_timeout: Duration::from_secs(5),
            shed_after: Some(Duration::from_millis(100)),
            precise_timers: false,
        }
    }
}

/// Options of an outbound connection.
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    /// Bind to this source address first (port chosen by the kernel).
    pub source: Option<IpAddr>,
    /// With `source`: set `IP_BIND_ADDRESS_NO_PORT`, so the port is picked at connect
    /// time per 4-tuple instead of reserved at bind time for every destination.
    pub bind_no_port: bool,
    /// Set `TCP_NODELAY`.
    pub nodelay: bool,
    /// `SO_RCVBUF`.
    pub rcvbuf: Option<usize>,
    /// `SO_SNDBUF`.
    pub sndbuf: Option<usize>,
    /// Close with RST instead of FIN (`SO_LINGER` 0): leaves no TIME_WAIT behind.
    pub linger_zero: bool,
}

/// What the embedding program does with the reactor's events. Every method has a
/// default, so a host implements only what it needs.
pub trait Host<P: Protocol> {
    /// A listener accepted a connection from `peer`: the protocol to drive it, or
    /// `None` to close it at once (counted as rejected).
    fn accept(&mut self, _listener: ListenerId, _peer: SocketAddr) -> Option<P> {
        None
    }

    /// A connection closed; its protocol is handed back (loadgen reads its results).
    /// `errno` is the socket error behind `reason`, when there was one.
    fn closed(
        &mut self,
        _reactor: &mut Reactor<P>,
        _id: ConnId,
        _proto: P,
        _reason: CloseReason,
        _errno: Option<i32>,
    ) {
    }

    /// A source registered with [`Reactor::register`] is ready.
    fn source_ready(&mut self, _reactor: &mut Reactor<P>, _id: SourceId, _event: &Event) {}

    /// A timer set with [`Reactor::set_timer`] is due.
    fn timer(&mut self, _reactor: &mut Reactor<P>, _key: u64) {}

    /// The end of every turn (Redis's "before sleep").
    fn after_turn(&mut self, _reactor: &mut Reactor<P>) {}
}

/// A host for a plain server: every accepted connection gets `make()`.
///
/// ```
/// use readyloop::{protocol::Echo, Reactor, Config, ServeWith};
/// let mut r: Reactor<Echo> = Reactor::new(Config::default()).unwrap();
/// let mut host = ServeWith(Echo::default);
/// r.turn(&mut host, Some(std::time::Duration::ZERO)).unwrap();
/// ```
pub struct ServeWith<F>(pub F);

impl<P: Protocol, F: FnMut() -> P> Host<P> for ServeWith<F> {
    fn accept(&mut self, _listener: ListenerId, _peer: SocketAddr) -> Option<P> {
        Some((self.0)())
    }
}

const CMD_SHUTDOWN: u8 = 1;
const CMD_STOP: u8 = 2;
const CMD_SNAPSHOT: u8 = 4;

struct Control {
    cmd: AtomicU8,
    waker: Waker,
    /// Snapshot requests from other threads. Only touched when `CMD_SNAPSHOT` is set,
    /// so the reactor's turn never takes this lock unless someone asked.
    snapshots: Mutex<SnapshotQueue>,
}

#[derive(Default)]
struct SnapshotQueue {
    /// Set once the reactor will answer no more: a request made after it fails at once
    /// instead of waiting out its timeout.
    closed: bool,
    waiting: Vec<SyncSender<Snapshot>>,
}

impl Control {
    fn queue(&self) -> MutexGuard<'_, SnapshotQueue> {
        // A panic while the lock was held leaves a plain Vec and a bool: still usable.
        self.snapshots.lock().unwrap_or_else(|e| e.into_inner())
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
    /// called [`Reactor::close_snapshots`] (the server does when `run` returns).
    /// Helper threads watch this to know when to exit.
    pub fn is_closed(&self) -> bool {
        self.ctl.queue().closed
    }
}

struct Listener {
    sock: TcpListener,
    opts: ListenOptions,
    pause: AcceptPause,
    /// The accept budget ran out with connections still queued.
    more: bool,
    /// When the pending accept-retry timer fires, if one is pending: at most one per
    /// listener, or every failed accept would add a timer that re-arms itself.
    retry_at: Option<Nanos>,
    /// When the current pause at the descriptor limit began.
    paused_at: Option<Nanos>,
    /// Accepting was put off because another thread held the descriptor gate: the
    /// retry timer accepts even though the listener is not paused.
    deferred: bool,
}

/// The reactor: one `mio::Poll`, listeners, a slab of connections, timers.
///
/// One turn:
/// 1. `poll` with the earliest timer as timeout (zero if work is left from the last
///    turn); `Interrupted` is retried.
/// 2. Each event: a listener accepts up to its budget; a connection writes, produces,
///    reads; a host source goes to the [`Host`]; the waker delivers [`Handle`] commands.
/// 3. Connections and listeners whose budget ran out are served again.
/// 4. Expired timers: connection timeouts and protocol timers, accept retries after
///    EMFILE, the shutdown deadline, host timers.
/// 5. Closed connections leave the slab only now, so a slot freed during a batch is
///    never reused while a later event of the same batch may still name it. A paused
///    listener is retried at once if any connection closed.
pub struct Reactor<P: Protocol> {
    poll: Poll,
    events: Events,
    conns: Slab<Conn<P>>,
    listeners: Vec<Option<Listener>>,
    sources: Slab<()>,
    sh: Shared,
    cfg: Config,
    ctl: Arc<Control>,
    /// Closed connections to remove at the end of the batch.
    closing: Vec<(usize, CloseReason, Option<i32>)>,
    next_gen: u32,
    closed_any: bool,
    shutdown_at: Option<Nanos>,
    stopped: bool,
    /// With `precise_timers`: the timerfd and the deadline it is armed for.
    timerfd: Option<(TimerFd, Option<Nanos>)>,
    /// The reminders due in this turn's timer pass (kept to reuse its allocation).
    due: Vec<(Nanos, u64)>,
    /// Rejected connections lingering so their answer is not lost to a reset.
    rejects: Rejects,
    /// The spare descriptor for shedding load at the descriptor limit.
    reserve: Reserve,
}

impl<P: Protocol> Reactor<P> {
    /// A reactor with no listeners and no connections.
    pub fn new(cfg: Config) -> io::Result<Reactor<P>> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let now = Instant::now();
        let timerfd = if cfg.precise_timers {
            let tfd = TimerFd::new(
                ClockId::CLOCK_MONOTONIC,
                TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
            )
            .map_err(io::Error::from)?;
            poll.registry().register(
                &mut SourceFd(&tfd.as_fd().as_raw_fd()),
                TIMERFD,
                Interest::READABLE,
            )?;
            Some((tfd, None))
        } else {
            None
        };
        let mut limits = cfg.limits.clone();
        limits.output_high_water = limits.output_high_water.min(limits.max_output);
        Ok(Reactor {
            events: Events::with_capacity(cfg.event_capacity.max(16)),
            poll,
            conns: Slab::new(),
            listeners: Vec::new(),
            sources: Slab::new(),
            sh: Shared {
                rate: crate::conn::RateClock::of(&limits),
                limits,
                scratch: vec![0; cfg.read_buffer.max(512)],
                out: Vec::with_capacity(cfg.read_buffer.max(512)),
                pool: BufPool::default(),
                timers: Timers::default(),
                stats: Stats::default(),
                now,
                start: now,
                now_ns: 0,
                requeue: Vec::new(),
                draining: false,
                last_errno: None,
                budget: crate::conn::EVENT_BUDGET,
            },
            due: Vec::new(),
            rejects: Rejects::default(),
            reserve: {
                let mut r = Reserve::default();
                if cfg.shed_after.is_some() {
                    r.refill();
                }
                r
            },
            cfg,
            ctl: Arc::new(Control {
                cmd: AtomicU8::new(0),
                waker,
                snapshots: Mutex::new(SnapshotQueue::default()),
            }),
            closing: Vec::new(),
            next_gen: 0,
            closed_any: false,
            shutdown_at: None,
            stopped: false,
            timerfd,
        })
    }

    /// Reserve room for `n` connections up front (virtual memory only until used), so
    /// the slab never copies itself while connections pour in.
    pub fn reserve(&mut self, n: usize) {
        self.conns.reserve(n);
    }

    /// A handle for other threads.
    pub fn handle(&self) -> Handle {
        Handle {
            ctl: self.ctl.clone(),
        }
    }

    /// The counters so far (a copy).
    pub fn stats(&self) -> Stats {
        let mut s = self.sh.stats.clone();
        s.active = self.conns.len() as u64 - self.closing.len() as u64;
        s
    }

    /// Buffers lent to connections and waiting in the pool: `(in_use, pooled, pooled_bytes)`.
    pub fn buffer_stats(&self) -> (usize, usize, usize) {
        (
            self.sh.pool.in_use(),
            self.sh.pool.pooled(),
            self.sh.pool.pooled_bytes(),
        )
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
    pub fn close_snapshots(&self) {
        let mut q = self.ctl.queue();
        q.closed = true;
        q.waiting.clear(); // dropping the senders wakes their askers with `Disconnected`
    }

    /// The time of the current turn.
    pub fn now(&self) -> Instant {
        self.sh.now
    }

    /// Connections open now.
    pub fn active(&self) -> usize {
        self.conns.len() - self.closing.len()
    }

    /// Listen on `addr`. Returns the listener's id; its bound address (port 0 resolved)
    /// comes from [`Reactor::local_addr`].
    pub fn listen(&mut self, addr: SocketAddr, opts: &ListenOptions) -> io::Result<ListenerId> {
        let sock = listener::bind(addr, opts)?;
        self.add_listener(sock, opts)
    }

    /// Add a listener built elsewhere (e.g. inherited), already nonblocking.
    pub fn add_listener(
        &mut self,
        mut sock: TcpListener,
        opts: &ListenOptions,
    ) -> io::Result<ListenerId> {
        let idx = self.listeners.len();
        self.poll
            .registry()
            .register(&mut sock, Token(LISTENER_BASE + idx), Interest::READABLE)?;
        self.listeners.push(Some(Listener {
            sock,
            opts: opts.clone(),
            pause: AcceptPause::default(),
            more: true,
            retry_at: None,
            paused_at: None,
            deferred: false,
        }));
        Ok(ListenerId(idx))
    }

    /// The address a listener is bound to.
    pub fn local_addr(&self, id: ListenerId) -> io::Result<SocketAddr> {
        match self.listeners.get(id.0) {
            Some(Some(l)) => l.sock.local_addr(),
            _ => Err(io::Error::new(io::ErrorKind::NotFound, "no such listener")),
        }
    }

    /// Whether a listener is paused after running out of descriptors.
    pub fn is_accept_paused(&self, id: ListenerId) -> bool {
        matches!(self.listeners.get(id.0), Some(Some(l)) if l.pause.is_paused())
    }

    /// Open an outbound connection to `addr` driven by `proto`. The connect is
    /// nonblocking: [`Protocol::on_connected`] runs when it completes, and a failure or
    /// timeout closes it with [`CloseReason::ConnectFailed`] /
    /// [`CloseReason::ConnectTimeout`] (see [`Host::closed`]). An error here (no
    /// descriptors, no ports: EMFILE, EADDRNOTAVAIL) hands the protocol back.
    pub fn connect(
        &mut self,
        addr: SocketAddr,
        opts: &ConnectOptions,
        proto: P,
    ) -> Result<ConnId, (io::Error, P)> {
        let sock = match open_outbound(addr, opts) {
            Ok(s) => s,
            Err(e) => {
                if let Some(errno) = e.raw_os_error() {
                    self.sh.stats.count_errno(errno);
                }
                return Err((e, proto));
            }
        };
        self.sh.stats.connects_started += 1;
        let id = self.insert(sock, State::Connecting, proto)?;
        let timeout = self.sh.limits.connect_timeout;
        if let Some(c) = self.conns.get_mut(id.key) {
            c.timeout_at = timeout.map_or(crate::timer::NEVER, |d| {
                self.sh
                    .now_ns
                    .saturating_add(d.as_nanos().min(u64::MAX as u128 / 2) as u64)
            });
            c.refresh_deadline(&mut self.sh, id.key);
        }
        Ok(id)
    }

    /// Close a connection now (counted as [`CloseReason::Host`]). Returns false if the
    /// id is stale.
    pub fn close(&mut self, id: ConnId) -> bool {
        match self.conns.get(id.key) {
            Some(c) if c.gen == id.gen && c.state != State::Closed => {
                self.close_conn(id.key, CloseReason::Host);
                true
            }
            _ => false,
        }
    }

    /// Every live connection's protocol (e.g. to account for requests in flight when a
    /// run ends).
    pub fn protocols_mut(&mut self) -> impl Iterator<Item = (ConnId, &mut P)> + '_ {
        self.conns
            .iter_mut()
            .filter(|(_, c)| c.state != State::Closed)
            .map(|(key, c)| (ConnId { key, gen: c.gen }, &mut c.proto))
    }

    /// Write `data` on a live connection from the host (behind any queued output, under
    /// the same output limits). Returns false if the id is stale or the connection is
    /// not open; a write error closes the connection as usual.
    pub fn send(&mut self, id: ConnId, data: &[u8]) -> bool {
        let Some(c) = self.conns.get_mut(id.key) else {
            return false;
        };
        if c.gen != id.gen || c.state != State::Open {
            return false;
        }
        self.sh.last_errno = None;
        if let Err(reason) = c.send(&mut self.sh, id.key, data) {
            self.close_conn(id.key, reason);
        }
        true
    }

    /// The protocol of a live connection.
    pub fn protocol_mut(&mut self, id: ConnId) -> Option<&mut P> {
        match self.conns.get_mut(id.key) {
            Some(c) if c.gen == id.gen && c.state != State::Closed => Some(&mut c.proto),
            _ => None,
        }
    }

    /// Register a source of the host's own (a pipe, a signal fd, a UDP socket); its
    /// events go to [`Host::source_ready`].
    pub fn register<S: Source + ?Sized>(
        &mut self,
        src: &mut S,
        interest: Interest,
    ) -> io::Result<SourceId> {
        let id = self.sources.insert(());
        if let Err(e) = self
            .poll
            .registry()
            .register(src, Token(SOURCE_BASE + id), interest)
        {
            self.sources.remove(id);
            return Err(e);
        }
        Ok(SourceId(id))
    }

    /// Deregister a host source.
    pub fn deregister<S: Source + ?Sized>(&mut self, src: &mut S, id: SourceId) -> io::Result<()> {
        if self.sources.try_remove(id.0).is_none() {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such source"));
        }
        self.poll.registry().deregister(src)
    }

    /// Call [`Host::timer`] with `key` at `at` (keys are the host's; 56 bits).
    pub fn set_timer(&mut self, at: Instant, key: u64) {
        let ns = self.sh.ns_of(at);
        self.sh.timers.schedule(ns, TK_HOST | (key & !TK_KIND));
    }

    /// Start a graceful shutdown: close the listeners, close idle connections, let busy
    /// ones finish their output until `shutdown_timeout`; then [`Reactor::run`] returns.
    pub fn shutdown(&mut self) {
        if self.shutdown_at.is_some() {
            return;
        }
        for l in self.listeners.iter_mut() {
            if let Some(mut l) = l.take() {
                let _ = self.poll.registry().deregister(&mut l.sock);
            }
        }
        self.sh.draining = true;
        let at = self.sh.now_ns.saturating_add(
            self.cfg
                .shutdown_timeout
                .as_nanos()
                .min(u64::MAX as u128 / 2) as u64,
        );
        self.shutdown_at = Some(at);
        self.sh.timers.schedule(at, TK_SHUTDOWN);
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            if let Some(c) = self.conns.get_mut(key) {
                if c.state == State::Closed {
                    continue;
                }
                if let Err(reason) = c.begin_shutdown() {
                    self.close_conn(key, reason);
                }
            }
        }
    }

    /// Close every connection now (those with output pending are counted in
    /// `Stats::shutdown_cut`) and make [`Reactor::run`] return after this turn: the
    /// end of a shutdown that cannot wait any longer.
    pub fn shutdown_now(&mut self) {
        self.shutdown();
        self.cut_all();
        self.stopped = true;
    }

    /// Whether a graceful shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown_at.is_some()
    }

    fn cut_all(&mut self) {
        let keys: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.state != State::Closed)
            .map(|(k, _)| k)
            .collect();
        for k in keys {
            if self.conns.get(k).is_some_and(|c| c.has_pending_output()) {
                self.sh.stats.shutdown_cut += 1;
            }
            self.close_conn(k, CloseReason::Shutdown);
        }
    }

    /// Make [`Reactor::run`] return after this turn.
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// Whether the loop is done (stopped, or shut down with nothing left).
    pub fn is_done(&self) -> bool {
        self.stopped || (self.shutdown_at.is_some() && self.active() == 0)
    }

    /// Turn until stopped, or until a shutdown has closed every connection.
    pub fn run<H: Host<P>>(&mut self, host: &mut H) -> io::Result<()> {
        while !self.is_done() {
            self.turn(host, None)?;
        }
        Ok(())
    }

    /// One turn: wait for events at most `timeout` (and no longer than the next timer),
    /// handle them, run due timers, free closed connections.
    pub fn turn<H: Host<P>>(&mut self, host: &mut H, timeout: Option<Duration>) -> io::Result<()> {
        self.update_now();
        let busy = !self.sh.requeue.is_empty()
            || self
                .listeners
                .iter()
                .flatten()
                .any(|l| l.more && !l.pause.is_paused());
        let mut wait = if busy { Some(Duration::ZERO) } else { timeout };
        if let (Some(next), Some((tfd, armed))) =
            (self.sh.timers.next_deadline(), self.timerfd.as_mut())
        {
            if next > self.sh.now_ns && wait != Some(Duration::ZERO) {
                if *armed != Some(next) {
                    let d = Duration::from_nanos(next - self.sh.now_ns);
                    tfd.set(
                        Expiration::OneShot(TimeSpec::from_duration(d)),
                        TimerSetTimeFlags::empty(),
                    )
                    .map_err(io::Error::from)?;
                    *armed = Some(next);
                }
                // The timerfd wakes us on time; epoll's own timeout is left to the
                // caller's limit.
            } else if next <= self.sh.now_ns {
                wait = Some(Duration::ZERO);
            }
        } else if let Some(next) = self.sh.timers.next_deadline() {
            let until = Duration::from_nanos(next.saturating_sub(self.sh.now_ns));
            // Round up to the next millisecond: epoll's timeout is in ms, and waking a
            // hair early would just spin one more turn.
            let until = until.max(Duration::from_micros(if until.is_zero() { 0 } else { 1 }));
            wait = Some(wait.map_or(until, |w| w.min(until)));
        }
        loop {
            match self.poll.poll(&mut self.events, wait) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        self.sh.stats.polls += 1;
        self.update_now();
        let began = self.sh.now;

        // The connections whose budget ran out last turn get their next slice after this
        // turn's events; clearing their flag lets an event of this turn re-queue them.
        let again = std::mem::take(&mut self.sh.requeue);
        for &(key, gen) in &again {
            if let Some(c) = self.conns.get_mut(key) {
                if c.gen == gen {
                    c.flags &= !flag::REQUEUED;
                }
            }
        }

        // Take the events out so handlers can have &mut self; put them back after.
        let events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        for ev in events.iter() {
            let token = ev.token();
            let err = ev.is_error();
            let hup = ev.is_read_closed() || err;
            if token.0 < SPECIAL {
                self.conn_ready(
                    token.0,
                    ev.is_readable() || err,
                    ev.is_writable() || err,
                    hup,
                );
            } else if token == WAKER {
                self.commands();
            } else if token == TIMERFD {
                // Fired: one-shot, and re-arming resets it; no read needed.
                if let Some((_, armed)) = self.timerfd.as_mut() {
                    *armed = None;
                }
            } else if (REJECT_BASE..TIMERFD.0).contains(&token.0) {
                self.reject_ready(token.0 - REJECT_BASE);
            } else if token.0 >= SOURCE_BASE {
                let id = SourceId(token.0 - SOURCE_BASE);
                if self.sources.contains(id.0) {
                    host.source_ready(self, id, ev);
                }
            } else {
                self.accept(token.0 - LISTENER_BASE, host);
            }
        }
        self.events = events;

        // Work left over from the last turn's budgets: one slice each per turn. A
        // connection an event of this turn already drove and re-queued waits for the
        // next turn (its flag is set again); one that finished is driven for nothing.
        for &(key, gen) in &again {
            if self
                .conns
                .get(key)
                .is_some_and(|c| c.gen == gen && c.flags & flag::REQUEUED == 0)
            {
                self.conn_ready(key, false, false, false);
            }
        }
        // Keep the larger allocation for the next turn's list.
        if self.sh.requeue.capacity() < again.capacity() {
            let mut again = again;
            again.clear();
            again.append(&mut self.sh.requeue);
            self.sh.requeue = again;
        }
        for idx in 0..self.listeners.len() {
            if matches!(&self.listeners[idx], Some(l) if l.more && !l.pause.is_paused()) {
                self.accept(idx, host);
            }
        }

        self.run_timers(host);
        self.free_closed(host);
        if self.closed_any {
            // A descriptor was freed: a paused listener may accept again right now.
            self.closed_any = false;
            for idx in 0..self.listeners.len() {
                if matches!(&self.listeners[idx], Some(l) if l.pause.is_paused()) {
                    self.accept(idx, host);
                }
            }
            self.free_closed(host);
        }
        self.commands();
        host.after_turn(self);
        self.free_closed(host);
        self.tidy();
        let took = began.elapsed();
        self.sh
            .stats
            .turns
            .record(took.as_nanos().min(u64::MAX as u128) as u64);
        Ok(())
    }

    /// End-of-turn housekeeping that keeps memory bounded: drop stale timer reminders
    /// once they outnumber the live ones, and give back the output buffer's capacity
    /// after a burst grew it.
    fn tidy(&mut self) {
        if self.sh.timers.needs_compaction() {
            let conns = &self.conns;
            let listeners = &self.listeners;
            let shutdown_at = self.shutdown_at;
            let rejects = &self.rejects;
            self.sh.timers.compact(|at, key| match key & TK_KIND {
                TK_CONN => conns
                    .get(key as usize)
                    .is_some_and(|c| c.state != State::Closed && c.deadline.scheduled() == at),
                TK_LISTENER => matches!(
                    listeners.get((key & !TK_KIND) as usize),
                    Some(Some(l)) if l.retry_at == Some(at)
                ),
                TK_SHUTDOWN => shutdown_at == Some(at),
                TK_REJECT => rejects
                    .slots
                    .get((key & !TK_KIND) as usize)
                    .is_some_and(|l| l.until == at),
                _ => true, // host timers are live until they fire
            });
        }
        if self.cfg.shed_after.is_some() && !self.reserve.is_held() {
            // Opening a descriptor, like accepting one, waits its turn at the gate.
            if let Some(_gate) = reject::gate_shared() {
                self.reserve.refill();
            }
        }
        let keep = self.cfg.read_buffer.max(512);
        if self.sh.out.capacity() > SHRINK_OUT_FACTOR * keep {
            self.sh.out = Vec::with_capacity(keep);
        }
    }

    fn update_now(&mut self) {
        self.sh.now = Instant::now();
        self.sh.now_ns = self.sh.ns_of(self.sh.now);
    }

    fn commands(&mut self) {
        let cmd = self.ctl.cmd.swap(0, Ordering::SeqCst);
        if cmd & CMD_SHUTDOWN != 0 {
            self.shutdown();
        }
        if cmd & CMD_STOP != 0 {
            self.stopped = true;
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

    fn conn_ready(&mut self, key: usize, readable: bool, writable: bool, hup: bool) {
        self.sh.last_errno = None;
        // A fresh clock per connection event (one vDSO call, ~20 ns): a batch of events
        // takes a while to handle, and a load generator timing replies with the time
        // the batch started would be wrong by up to the whole batch.
        self.update_now();
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        if c.state == State::Closed {
            return; // closed earlier in this batch: the event is stale
        }
        if let Err(reason) = c.on_ready(&mut self.sh, key, readable, writable, hup) {
            self.close_conn(key, reason);
        }
    }

    /// Insert a socket as a new connection and register it, edge-triggered, for both
    /// directions once: no re-registration is ever needed afterwards.
    fn insert(
        &mut self,
        mut sock: TcpStream,
        state: State,
        proto: P,
    ) -> Result<ConnId, (io::Error, P)> {
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        if key >= SPECIAL {
            return Err((
                io::Error::new(io::ErrorKind::OutOfMemory, "too many connections"),
                proto,
            ));
        }
        if let Err(e) = self.poll.registry().register(
            &mut sock,
            Token(key),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            return Err((e, proto));
        }
        self.next_gen = self.next_gen.wrapping_add(1);
        let gen = self.next_gen;
        entry.insert(Conn::new(sock, gen, state, proto));
        self.sh.stats.active = self.conns.len() as u64;
        let active = (self.conns.len() - self.closing.len()) as u64;
        self.sh.stats.peak_active = self.sh.stats.peak_active.max(active);
        Ok(ConnId { key, gen })
    }

    fn accept<H: Host<P>>(&mut self, idx: usize, host: &mut H) {
        let budget = self.cfg.accept_budget.max(1);
        // Accept only while no other thread is using spare descriptors (see
        // reject::FD_GATE); otherwise come back in a millisecond.
        let Some(_gate) = reject::gate_shared() else {
            if let Some(Some(l)) = self.listeners.get_mut(idx) {
                l.deferred = true;
            }
            let at = self.sh.now_ns.saturating_add(1_000_000);
            self.arm_retry(idx, at);
            return;
        };
        if let Some(Some(l)) = self.listeners.get_mut(idx) {
            l.deferred = false;
        }
        for _ in 0..budget {
            let Some(Some(l)) = self.listeners.get_mut(idx) else {
                return;
            };
            let (sock, peer) = match l.sock.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    l.more = false;
                    l.pause.resume();
                    l.paused_at = None;
                    return;
                }
                Err(e) if listener::is_resource_limit(&e) => {
                    // Out of descriptors or memory: the queued connections will raise no
                    // new edge, so retry from a timer (and whenever a connection closes).
                    if !l.pause.is_paused() {
                        self.sh.stats.accept_pauses += 1;
                    }
                    let mut wait = l.pause.hit_limit();
                    l.more = true;
                    let now = self.sh.now_ns;
                    let since = *l.paused_at.get_or_insert(now);
                    if let Some(errno) = e.raw_os_error() {
                        self.sh.stats.count_errno(errno);
                    }
                    let fds = matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE));
                    if let (Some(d), true) = (self.cfg.shed_after, fds) {
                        // While shedding, retry at the shed delay, not the growing
                        // backoff: clients beyond the limit keep arriving.
                        wait = wait.min(d);
                        if now.saturating_sub(since) >= dur_ns(d) {
                            self.shed(idx);
                        }
                    }
                    let at = now.saturating_add(dur_ns(wait));
                    self.arm_retry(idx, at);
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // ECONNABORTED, EPERM (firewall), EPROTO: that connection is gone,
                    // the next may be fine.
                    if let Some(errno) = e.raw_os_error() {
                        self.sh.stats.count_errno(errno);
                    }
                    continue;
                }
            };
            l.pause.resume();
            l.paused_at = None;
            let nodelay = l.opts.nodelay;
            self.sh.stats.accepted += 1;
            if self.cfg.max_conns.is_some_and(|m| self.active() >= m) {
                self.reject(sock);
                continue;
            }
            let Some(proto) = host.accept(ListenerId(idx), peer) else {
                self.reject(sock);
                continue;
            };
            if nodelay {
                let _ = sock.set_nodelay(true);
            }
            match self.insert(sock, State::Open, proto) {
                Ok(id) => {
                    if let Some(c) = self.conns.get_mut(id.key) {
                        c.timeout_at = self
                            .sh
                            .limits
                            .idle_timeout
                            .map_or(crate::timer::NEVER, |d| {
                                self.sh.now_ns + d.as_nanos().min(u64::MAX as u128 / 2) as u64
                            });
                        c.refresh_deadline(&mut self.sh, id.key);
                    }
                }
                Err((e, _)) => {
                    if let Some(errno) = e.raw_os_error() {
                        self.sh.stats.count_errno(errno);
                    }
                    self.sh.stats.count_close(CloseReason::Error);
                }
            }
        }
        // Budget spent with connections possibly still queued: continue next turn.
        if let Some(Some(l)) = self.listeners.get_mut(idx) {
            l.more = true;
        }
    }

    /// Make sure listener `idx` retries accepting by `at` (one pending retry each).
    fn arm_retry(&mut self, idx: usize, at: Nanos) {
        let Some(Some(l)) = self.listeners.get_mut(idx) else {
            return;
        };
        let tkey = TK_LISTENER | idx as u64;
        match l.retry_at {
            None => self.sh.timers.schedule(at, tkey),
            Some(t) if at < t => self.sh.timers.replace(at, tkey),
            Some(_) => return,
        }
        l.retry_at = Some(at);
    }

    /// Turn a connection away (over `max_conns`, or refused by the host): answer it,
    /// then let it linger so the answer is read before the close (see [`reject`]).
    fn reject(&mut self, mut sock: TcpStream) {
        self.sh.stats.rejected += 1;
        self.sh.stats.count_close(CloseReason::Rejected);
        reject::answer(&mut sock, self.cfg.reject_message);
        if !self.rejects.has_room() || sock.shutdown(std::net::Shutdown::Write).is_err() {
            self.sh.stats.rejected_unlingered += 1;
            return; // dropping closes it
        }
        let entry = self.rejects.slots.vacant_entry();
        let idx = entry.key();
        if self
            .poll
            .registry()
            .register(&mut sock, Token(REJECT_BASE + idx), Interest::READABLE)
            .is_err()
        {
            self.sh.stats.rejected_unlingered += 1;
            return;
        }
        let until = self.sh.now_ns.saturating_add(dur_ns(reject::LINGER));
        entry.insert(Lingerer { sock, until });
        self.sh.timers.schedule(until, TK_REJECT | idx as u64);
    }

    /// A lingering rejected connection is readable: drop its input; close at its EOF.
    fn reject_ready(&mut self, idx: usize) {
        let Some(l) = self.rejects.slots.get_mut(idx) else {
            return;
        };
        if reject::drain(&mut l.sock, &mut self.sh.scratch) {
            let mut l = self.rejects.slots.remove(idx);
            let _ = self.poll.registry().deregister(&mut l.sock);
        }
    }

    /// At the descriptor limit: accept up to the accept budget through the spare
    /// descriptor, answer each and close it at once (see [`reject`]).
    fn shed(&mut self, idx: usize) {
        for _ in 0..self.cfg.accept_budget.max(1) {
            let Some(Some(l)) = self.listeners.get_mut(idx) else {
                return;
            };
            if !self.reserve.release() {
                break;
            }
            match l.sock.accept() {
                Ok((mut sock, _)) => {
                    // What the client sent is read first, so the close is a FIN, not
                    // a reset that could destroy the answer.
                    reject::drain(&mut sock, &mut self.sh.scratch);
                    reject::answer(&mut sock, self.cfg.reject_message);
                    let _ = sock.shutdown(std::net::Shutdown::Write);
                    drop(sock);
                    self.sh.stats.accepted += 1;
                    self.sh.stats.shed += 1;
                    self.sh.stats.count_close(CloseReason::Shed);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    l.more = false;
                    self.reserve.refill();
                    break;
                }
                Err(e) => {
                    if let Some(errno) = e.raw_os_error() {
                        self.sh.stats.count_errno(errno);
                    }
                }
            }
            self.reserve.refill();
            if !self.reserve.is_held() {
                break; // someone else took the descriptor: try again next time
            }
        }
    }

    fn close_conn(&mut self, key: usize, reason: CloseReason) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        if c.state == State::Closed {
            return;
        }
        c.set_state(State::Closed);
        if reason == CloseReason::SlowPeer {
            // Reset rather than FIN: a peer too slow to read would otherwise keep what
            // sits in the kernel's send buffer (megabytes) queued for it long after the
            // close (nginx's reset_timedout_connection).
            let _ = socket2::SockRef::from(&c.sock).set_linger(Some(Duration::ZERO));
        }
        c.release(&mut self.sh.pool, &mut self.sh.timers);
        let _ = self.poll.registry().deregister(&mut c.sock);
        self.sh.stats.count_close(reason);
        let errno = self.sh.last_errno.take();
        self.closing.push((key, reason, errno));
        self.closed_any = true;
    }

    fn free_closed<H: Host<P>>(&mut self, host: &mut H) {
        while !self.closing.is_empty() {
            let batch = std::mem::take(&mut self.closing);
            for (key, reason, errno) in batch {
                if let Some(c) = self.conns.try_remove(key) {
                    let id = ConnId { key, gen: c.gen };
                    drop(c.sock); // the descriptor is free from here on
                    host.closed(self, id, c.proto, reason, errno);
                }
            }
        }
        self.sh.stats.active = self.active() as u64;
    }

    /// Run the reminders due now. Only those due when the pass begins: a callback whose
    /// deadline is due again at once (a protocol whose `poll_at` stays in the past) is
    /// reminded on the next turn, which then polls with a zero timeout, instead of
    /// keeping this turn from ever returning.
    fn run_timers<H: Host<P>>(&mut self, host: &mut H) {
        let mut due = std::mem::take(&mut self.due);
        let now = self.sh.now_ns;
        while let Some(e) = self.sh.timers.pop_expired(now) {
            due.push(e);
        }
        for &(at, key) in &due {
            match key & TK_KIND {
                TK_CONN => {
                    let k = key as usize;
                    let Some(c) = self.conns.get_mut(k) else {
                        continue;
                    };
                    if c.state == State::Closed {
                        continue;
                    }
                    self.sh.last_errno = None;
                    if let Err(reason) = c.on_timer(&mut self.sh, k, at) {
                        self.close_conn(k, reason);
                    }
                }
                TK_LISTENER => {
                    let idx = (key & !TK_KIND) as usize;
                    let Some(Some(l)) = self.listeners.get_mut(idx) else {
                        continue;
                    };
                    if l.retry_at != Some(at) {
                        continue; // superseded by an earlier retry
                    }
                    l.retry_at = None;
                    self.sh.timers.forget();
                    if l.pause.is_paused() || l.deferred {
                        self.accept(idx, host);
                    }
                }
                TK_SHUTDOWN => {
                    if self.shutdown_at != Some(at) {
                        continue;
                    }
                    self.sh.timers.forget();
                    self.cut_all();
                }
                TK_REJECT => {
                    let idx = (key & !TK_KIND) as usize;
                    if self.rejects.slots.get(idx).is_some_and(|l| l.until == at) {
                        self.sh.timers.forget();
                        let mut l = self.rejects.slots.remove(idx);
                        let _ = self.poll.registry().deregister(&mut l.sock);
                    }
                }
                _ => {
                    self.sh.timers.forget();
                    host.timer(self, key & !TK_KIND)
                }
            }
        }
        due.clear();
        self.due = due;
    }
}

impl<P: Protocol> Drop for Reactor<P> {
    fn drop(&mut self) {
        // Handles outlive the reactor: tell their snapshot requests nobody will answer.
        self.close_snapshots();
    }
}

fn dur_ns(d: Duration) -> Nanos {
    d.as_nanos().min(u64::MAX as u128 / 2) as Nanos
}

fn open_outbound(addr: SocketAddr, opts: &ConnectOptions) -> io::Result<TcpStream> {
    let sock = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        None,
    )?;
    if let Some(src) = opts.source {
        if opts.bind_no_port && src.is_ipv4() {
            nix::sys::socket::setsockopt(
                &sock,
                nix::sys::socket::sockopt::IpBindAddressNoPort,
                &true,
            )?;
        }
        sock.bind(&SocketAddr::new(src, 0).into())?;
    }
    if opts.nodelay {
        sock.set_tcp_nodelay(true)?;
    }
    if let Some(n) = opts.rcvbuf {
        sock.set_recv_buffer_size(n)?;
    }
    if let Some(n) = opts.sndbuf {
        sock.set_send_buffer_size(n)?;
    }
    if opts.linger_zero {
        sock.set_linger(Some(Duration::ZERO))?;
    }
    match sock.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(sock.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Cx, Step, Verdict};
    use std::cell::Cell;
    use std::rc::Rc;

    /// Counts how often the reactor asks it to produce; never produces anything.
    struct Counting(Rc<Cell<u32>>);

    impl Protocol for Counting {
        fn on_input(&mut self, input: &[u8], _: &mut Vec<u8>, _: usize, _: &mut Cx) -> Step {
            Step::cont(input.len())
        }
        fn wants_drained(&self) -> bool {
            true
        }
        fn on_drained(&mut self, _: &mut Vec<u8>, _: usize, _: &mut Cx) -> Verdict {
            self.0.set(self.0.get() + 1);
            Verdict::Continue
        }
    }

    #[test]
    fn test_accept_put_off_by_the_gate_is_retried() {
        let calls = Rc::new(Cell::new(0));
        let mut r: Reactor<Counting> = Reactor::new(Config::default()).unwrap();
        let l = r
            .listen("127.0.0.1:0".parse().unwrap(), &ListenOptions::default())
            .unwrap();
        let addr = r.local_addr(l).unwrap();
        let c2 = calls.clone();
        let mut host = ServeWith(move || Counting(c2.clone()));
        r.turn(&mut host, Some(Duration::ZERO)).unwrap();
        let _client;
        {
            // Another thread (the admin) uses spare descriptors: no accepting now.
            let _gate = reject::gate_exclusive();
            _client = std::net::TcpStream::connect(addr).unwrap();
            for _ in 0..3 {
                r.turn(&mut host, Some(Duration::from_millis(5))).unwrap();
            }
            assert_eq!(r.active(), 0, "accepted while the gate was held");
        }
        // No new connection arrives, so no new edge: the retry timer must accept it.
        for _ in 0..20 {
            r.turn(&mut host, Some(Duration::from_millis(50))).unwrap();
            if r.active() == 1 {
                break;
            }
        }
        assert_eq!(
            r.active(),
            1,
            "the connection queued meanwhile was accepted"
        );
    }

    #[test]
    fn test_requeue_of_a_reused_slot_is_not_driven() {
        let calls = Rc::new(Cell::new(0));
        let mut r: Reactor<Counting> = Reactor::new(Config::default()).unwrap();
        let l = r
            .listen("127.0.0.1:0".parse().unwrap(), &ListenOptions::default())
            .unwrap();
        let _client = std::net::TcpStream::connect(r.local_addr(l).unwrap()).unwrap();
        let c2 = calls.clone();
        let mut host = ServeWith(move || Counting(c2.clone()));
        for _ in 0..100 {
            r.turn(&mut host, Some(Duration::from_millis(10))).unwrap();
            if r.active() == 1 && calls.get() > 0 {
                break;
            }
        }
        let (id, _) = r.protocols_mut().next().expect("the connection");
        // Settle: no event pending, nothing requeued.
        r.turn(&mut host, Some(Duration::from_millis(10))).unwrap();
        let before = calls.get();
        // A stale entry (the slot's previous generation) is skipped...
        r.sh.requeue.push((id.key, id.gen.wrapping_sub(1)));
        r.turn(&mut host, Some(Duration::ZERO)).unwrap();
        assert_eq!(calls.get(), before, "a stale requeue entry drove the slot");
        // ...and a live one is driven (so the check above can fail).
        r.sh.requeue.push((id.key, id.gen));
        r.turn(&mut host, Some(Duration::ZERO)).unwrap();
        assert_eq!(calls.get(), before + 1);
    }
}
