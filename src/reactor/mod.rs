//! The reactor: one `mio::Poll`, listeners, a slab of connections, timers. What one
//! turn does is told once, on [`Reactor`].

use crate::buffer::BufPool;
use crate::conn::{Conn, ConnLimits, Profile, Shared, State};
use crate::conn_id::ConnId;
use crate::listener::{self, AcceptPause, ListenOptions};
use crate::protocol::Protocol;
use crate::reject::{Rejects, Reserve};
use crate::stats::{CloseReason, Stats};
use crate::timer::{Nanos, Timers};
use mio::event::Source;
use mio::net::TcpListener;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use nix::sys::timerfd::{ClockId, TimerFd, TimerFlags};
use slab::Slab;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::AtomicU8;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod accept;
mod conns;
mod handle;
mod host;
mod host_loop;
mod timers;
mod turn;
mod udp;

use accept::Listener;
pub use conns::ConnectOptions;
use handle::{Control, SnapshotQueue};
pub use handle::{Handle, Snapshot};
pub use host::{Host, LimitsId, ListenerId, ServeWith, SourceId, TimerId};

/// Tokens at or above this value are not connections.
const SPECIAL: usize = 1 << 48;
const WAKER: Token = Token(SPECIAL);
const TIMERFD: Token = Token(SPECIAL + (1 << 31));
const LISTENER_BASE: usize = SPECIAL + 1;
/// Lingering rejected connections (below `TIMERFD`).
const REJECT_BASE: usize = SPECIAL + (1 << 30);
const SOURCE_BASE: usize = SPECIAL + (1 << 32);
/// UDP sockets (above the host's sources).
const UDP_BASE: usize = SPECIAL + (1 << 40);

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

/// Settings of a reactor.
#[derive(Clone, Debug)]
pub struct Config {
    /// Per-connection limits and timeouts.
    pub limits: ConnLimits,
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
            limits: ConnLimits::default(),
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
    sh: Shared<P::Context>,
    cfg: Config,
    ctl: Arc<Control>,
    /// Closed connections to remove at the end of the batch.
    closing: Vec<(usize, CloseReason, Option<i32>)>,
    next_gen: u32,
    /// Inside `Host::accept`: the id promised to the connection being accepted and the
    /// limit profile the host gave it.
    accepting: Option<(ConnId, u8)>,
    /// The last poll filled the event buffer (more events may be ready).
    events_full: bool,
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
    /// The host's timers ([`Reactor::set_timer`]), by slot.
    host_timers: Slab<HostTimer>,
    /// `Handle::post` rang: deliver the posted values this turn.
    posts_pending: bool,
    /// The posted values being delivered (kept to reuse its allocation).
    posts_buf: Vec<u64>,
    /// UDP sockets ([`Reactor::bind_udp`]); none unless the host binds one.
    udp: Slab<crate::udp::socket::UdpSock<P::Context>>,
    /// Their shared receive area and outbox, made with the first.
    udp_io: Option<udp::UdpIo>,
    /// UDP sockets whose budget ran out: served again next turn.
    udp_requeue: Vec<usize>,
}

/// A host timer: when, the host's key, and the generation its [`TimerId`] carries.
struct HostTimer {
    at: Nanos,
    key: u64,
    gen: u32,
}

impl<P: Protocol> Reactor<P>
where
    P::Context: Default,
{
    /// A reactor with no listeners and no connections, its shared context
    /// ([`Protocol::Context`]) the default one.
    pub fn new(cfg: Config) -> io::Result<Reactor<P>> {
        Reactor::with_context(cfg, P::Context::default())
    }
}

impl<P: Protocol> Reactor<P> {
    /// A reactor with no listeners and no connections, lending `ctx` to every protocol
    /// call ([`crate::protocol::Cx::ctx`]); the host reaches it with
    /// [`Reactor::context_mut`].
    ///
    /// ```
    /// use readyloop::protocol::{Cx, Protocol, Step};
    /// use readyloop::{Config, Reactor};
    ///
    /// /// Counts the bytes every connection receives, in one shared total.
    /// struct Count;
    /// impl Protocol for Count {
    ///     type Context = u64;
    ///     fn on_input(&mut self, input: &[u8], _: &mut Vec<u8>, _: usize, cx: &mut Cx<u64>) -> Step {
    ///         *cx.ctx += input.len() as u64;
    ///         Step::cont(input.len())
    ///     }
    /// }
    /// let mut r: Reactor<Count> = Reactor::with_context(Config::default(), 0).unwrap();
    /// assert_eq!(*r.context_mut(), 0);
    /// ```
    pub fn with_context(cfg: Config, ctx: P::Context) -> io::Result<Reactor<P>> {
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
        Ok(Reactor {
            events: Events::with_capacity(cfg.event_capacity.max(16)),
            poll,
            conns: Slab::new(),
            listeners: Vec::new(),
            sources: Slab::new(),
            sh: Shared {
                ctx,
                profiles: vec![Profile::of(&cfg.limits)],
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
            host_timers: Slab::new(),
            posts_pending: false,
            posts_buf: Vec::new(),
            udp: Slab::new(),
            udp_io: None,
            udp_requeue: Vec::new(),
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
                posts: Mutex::new(Vec::new()),
            }),
            closing: Vec::new(),
            next_gen: 0,
            accepting: None,
            events_full: false,
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

    /// The counters so far (a copy; hosts read them from [`Reactor::snapshot`]).
    pub(crate) fn stats(&self) -> Stats {
        let mut s = self.sh.stats.clone();
        s.active = self.conns.len() as u64 - self.closing.len() as u64;
        s
    }

    /// Buffers lent to connections and waiting in the pool: `(in_use, pooled, pooled_bytes)`.
    pub(crate) fn buffer_stats(&self) -> (usize, usize, usize) {
        (
            self.sh.pool.in_use(),
            self.sh.pool.pooled(),
            self.sh.pool.pooled_bytes(),
        )
    }

    /// The state every connection's protocol shares ([`Protocol::Context`]).
    pub fn context(&self) -> &P::Context {
        &self.sh.ctx
    }

    /// The shared state, to change: a host reads what its protocols gathered, or
    /// leaves them something (from [`Host`] callbacks or between turns).
    pub fn context_mut(&mut self) -> &mut P::Context {
        &mut self.sh.ctx
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

    /// Change the interest of a host source registered with [`Reactor::register`].
    pub fn reregister<S: Source + ?Sized>(
        &mut self,
        src: &mut S,
        id: SourceId,
        interest: Interest,
    ) -> io::Result<()> {
        if !self.sources.contains(id.0) {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such source"));
        }
        self.poll
            .registry()
            .reregister(src, Token(SOURCE_BASE + id.0), interest)
    }

    /// Deregister a host source.
    pub fn deregister<S: Source + ?Sized>(&mut self, src: &mut S, id: SourceId) -> io::Result<()> {
        if self.sources.try_remove(id.0).is_none() {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such source"));
        }
        self.poll.registry().deregister(src)
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
                if c.state() == State::Closed {
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

    pub(super) fn cut_all(&mut self) {
        let keys: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.state() != State::Closed)
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
}

impl<P: Protocol> std::fmt::Debug for Reactor<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor")
            .field("active", &self.active())
            .field("listeners", &self.listeners.iter().flatten().count())
            .field("sources", &self.sources.len())
            .field("timers", &self.sh.timers.len())
            .field("shutting_down", &self.shutdown_at.is_some())
            .field("stopped", &self.stopped)
            .finish_non_exhaustive()
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

#[cfg(test)]
mod tests {
    use super::{Config, Reactor, ServeWith};
    use crate::listener::ListenOptions;
    use crate::protocol::{Cx, Protocol, Step, Verdict};
    use crate::reject;
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Duration;

    /// Counts how often the reactor asks it to produce; never produces anything.
    struct Counting(Rc<Cell<u32>>);

    impl Protocol for Counting {
        type Context = ();
        fn on_input(&mut self, input: &[u8], _: &mut Vec<u8>, _: usize, _: &mut Cx<()>) -> Step {
            Step::cont(input.len())
        }
        fn wants_drained(&self) -> bool {
            true
        }
        fn on_drained(&mut self, _: &mut Vec<u8>, _: usize, _: &mut Cx<()>) -> Verdict {
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
        let (id, _) = r.protocols_mut().0.next().expect("the connection");
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
