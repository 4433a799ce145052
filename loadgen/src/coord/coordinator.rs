//! Segment 0's side: listen, admit the members, start them together, stop them,
//! collect their results. One acceptor thread, and one thread per connection (a
//! bounded number in their handshake at once, at most N − 1 admitted).

use super::auth::random;
use super::budget::MIN_INTERVAL;
use super::clock::{after, instant_at, Clock, SystemClock};
use super::coordinator_side::{CoordinatorSide, Event, Terms};
use super::counters::{Counters, Reason};
use super::error::Error;
use super::hub::{Collected, CoordPeer, Hub};
use super::link::{Got, Inbound, Outbox, Peer};
use super::settings::{MemberClock, RunId, Settings, StartInfo, Timeouts, MIN_LEAD};
use super::wire::{encode, Msg, RefuseCode};
use super::PINGS;
use ring::rand::SystemRandom;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often a connection thread looks at its deadlines and the shutdown flag.
const TICK: Duration = Duration::from_millis(100);
/// How often the acceptor looks for a connection.
const ACCEPT_POLL: Duration = Duration::from_millis(10);
/// A connection thread's stack: it holds a 64 KiB read buffer on the heap and little else.
const STACK: usize = 256 * 1024;

/// What every connection thread shares.
struct Shared {
    hub: Arc<Hub>,
    terms: Arc<Terms>,
    timeouts: Timeouts,
    rng: SystemRandom,
    next_id: AtomicU64,
}

/// Segment 0: the coordinator of a distributed run.
///
/// ```no_run
/// # use loadgen::coord::{Coordinator, Settings};
/// # use std::time::Duration;
/// # fn main() -> Result<(), loadgen::coord::Error> {
/// let c = Coordinator::bind("0.0.0.0:7070", Settings::new(3, [0; 32], None))?;
/// c.gather()?; // every member admitted, READY and its clock estimated
/// let start = c.start(Duration::from_millis(200))?;
/// // ... measure from start.at ...
/// for r in c.collect(Duration::from_secs(60)) { /* r.outcome */ }
/// # Ok(()) }
/// ```
pub struct Coordinator {
    shared: Arc<Shared>,
    local: SocketAddr,
    acceptor: Option<JoinHandle<()>>,
    bound_at: Instant,
    wait: Duration,
}

impl Coordinator {
    /// Listen on `addr` and admit members from now on; the nonce is drawn here.
    pub fn bind(
        addr: impl ToSocketAddrs + std::fmt::Debug,
        settings: Settings,
    ) -> Result<Coordinator, Error> {
        let shown = format!("{addr:?}").trim_matches('"').to_owned();
        let bind_err = |source| Error::Bind {
            addr: shown.clone(),
            source,
        };
        let listener = TcpListener::bind(addr).map_err(bind_err)?;
        listener.set_nonblocking(true).map_err(bind_err)?;
        let local = listener.local_addr().map_err(bind_err)?;
        let rng = SystemRandom::new();
        let nonce = random::<16>(&rng).map_err(|_| Error::Random)?;
        let hub = Arc::new(Hub::new(settings.segments, settings.max_handshakes));
        let shared = Arc::new(Shared {
            hub,
            terms: Arc::new(Terms {
                segments: settings.segments,
                plan_hash: settings.plan_hash,
                version: settings.version.clone(),
                token: settings.token.clone(),
                nonce,
                pings: PINGS,
                max_result: settings.max_result,
            }),
            timeouts: settings.timeouts,
            rng,
            next_id: AtomicU64::new(1),
        });
        let me = shared.clone();
        let acceptor = std::thread::Builder::new()
            .name("coord-accept".into())
            .spawn(move || accept_loop(&listener, &me))
            .map_err(|source| Error::Io {
                what: "coordinator: starting the acceptor thread",
                source,
            })?;
        Ok(Coordinator {
            shared,
            local,
            acceptor: Some(acceptor),
            bound_at: Instant::now(),
            wait: settings.wait,
        })
    }

    /// The address listened on (its port, if 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The run's identity: plan hash and this coordinator's nonce.
    pub fn run_id(&self) -> RunId {
        RunId {
            plan_hash: self.shared.terms.plan_hash,
            nonce: self.shared.terms.nonce,
        }
    }

    /// Whether members prove a token (false: no token, warn the user).
    pub fn authenticated(&self) -> bool {
        self.shared.terms.token.is_some()
    }

    /// Connections refused or closed so far, by reason.
    pub fn counters(&self) -> Counters {
        self.shared.hub.tally.snapshot()
    }

    /// Block until every member is admitted, READY and its clock estimated: `Ok`. At
    /// the end of the wait (from `bind`), or if a member fails, the run is called off
    /// (ABORT to the connected members) and the error names the missing segments.
    pub fn gather(&self) -> Result<(), Error> {
        let deadline = after(self.bound_at, self.wait);
        let r = self.shared.hub.wait_gathered(deadline, self.wait);
        if let Err(e) = &r {
            self.abort(&e.to_string());
        }
        r
    }

    /// Send START: the start instant is now plus `lead`, at least [`MIN_LEAD`] and
    /// four times the slowest member's round trip, so START is there before it is due.
    /// A member missing now fails the start (the others are told to abort).
    pub fn start(&self, lead: Duration) -> Result<StartInfo, Error> {
        let hub = &self.shared.hub;
        let estimates = hub
            .estimates()
            .inspect_err(|e| self.abort(&e.to_string()))?;
        let slowest = estimates
            .iter()
            .map(|(_, e)| e.delay_ns.max(0))
            .max()
            .unwrap_or(0);
        let rtts = Duration::from_nanos(u64::try_from(slowest).unwrap_or(0).saturating_mul(4));
        let lead = lead.max(MIN_LEAD).max(rtts.min(Duration::from_secs(10)));
        let clock = SystemClock;
        let at_unix_ns = clock
            .unix_ns()
            .saturating_add(i64::try_from(lead.as_nanos()).unwrap_or(i64::MAX));
        let peers = hub.begin(at_unix_ns).inspect_err(|e| {
            if !matches!(e, Error::Order(_)) {
                self.abort(&e.to_string());
            }
        })?;
        for p in peers {
            let mut p = lock(&p);
            if p.machine.start(at_unix_ns) {
                // A failed write is the member's connection ending: `collect` names it.
                let _ = p.flush();
            }
        }
        Ok(StartInfo {
            at: instant_at(&clock, at_unix_ns),
            unix_ns: at_unix_ns,
            coordinator_unix_ns: at_unix_ns,
            run: self.run_id(),
            authenticated: self.authenticated(),
            clocks: estimates
                .into_iter()
                .map(|(index, estimate)| MemberClock {
                    index,
                    estimate,
                    skew_bound_ns: estimate.bound_ns(),
                })
                .collect(),
        })
    }

    /// Call the run off before the start: ABORT with `reason` to every connected
    /// member, and refuse members from now on. No effect once started.
    pub fn abort(&self, reason: &str) {
        for p in self.shared.hub.abort(reason) {
            let mut p = lock(&p);
            p.machine.abort(reason);
            let _ = p.flush();
        }
    }

    /// End the run early (SIGINT or SIGTERM on the coordinator): STOP to every member,
    /// which ends its run and still sends its result. Before the start, this aborts.
    pub fn stop_all(&self) {
        if !self.shared.hub.is_started() {
            self.abort("the coordinator was stopped before the start");
            return;
        }
        for p in self.shared.hub.connections() {
            let mut p = lock(&p);
            p.machine.stop();
            let _ = p.flush();
        }
    }

    /// Wait up to `wait` for every member's result; each member's outcome in index
    /// order: its bytes, or why it has none (lost mid-run, failed, or past the wait).
    /// Call it once: the results are moved out.
    pub fn collect(&self, wait: Duration) -> Vec<Collected> {
        self.shared.hub.collect(after(Instant::now(), wait))
    }
}

impl Drop for Coordinator {
    /// Members still waiting for a start are told it will not come; every thread ends
    /// within a tick, every connection is closed.
    fn drop(&mut self) {
        self.abort("the coordinator ended before the start");
        self.shared.hub.shutdown.store(true, Ordering::Relaxed);
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
    }
}

fn lock(p: &CoordPeer) -> std::sync::MutexGuard<'_, Peer<CoordinatorSide>> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

/// Accept until shutdown: a thread per connection while few enough are in their
/// handshake, else REFUSE (busy) at once.
fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    while !shared.hub.is_shutdown() {
        match listener.accept() {
            Ok((stream, _)) => admit_connection(stream, shared),
            // Nothing to accept, or a transient failure (out of descriptors): wait.
            Err(_) => std::thread::sleep(ACCEPT_POLL),
        }
    }
}

fn admit_connection(stream: TcpStream, shared: &Arc<Shared>) {
    let hub = &shared.hub;
    if stream.set_nonblocking(false).is_err() {
        return;
    }
    let _ = stream.set_nodelay(true);
    if !hub.enter_handshake() {
        refuse_busy(stream, shared);
        return;
    }
    let me = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("coord-conn".into())
        .stack_size(STACK)
        .spawn(move || serve(stream, &me));
    if spawned.is_err() {
        hub.leave_handshake();
        hub.tally.count(Reason::Busy);
    }
}

fn refuse_busy(mut stream: TcpStream, shared: &Shared) {
    shared.hub.tally.count(Reason::Busy);
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let _ = stream.write_all(&encode(&Msg::Refuse {
        code: RefuseCode::Busy,
        reason: "too many connections in their handshake; try again".into(),
    }));
}

/// How a connection ended.
enum End {
    /// Refused (REFUSE sent; counted then).
    Refused,
    /// Broke the protocol.
    Fault(String),
    /// Past a deadline.
    Slow(&'static str),
    /// Closed by the peer, or an I/O error.
    Closed(String),
    /// The coordinator shut down, or the run was called off.
    Shutdown,
}

/// One connection, from accept to close.
fn serve(stream: TcpStream, shared: &Shared) {
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let Some((mut inbound, peer)) = open(stream, shared) else {
        shared.hub.leave_handshake();
        return;
    };
    let mut conn = Conn {
        shared,
        id,
        peer,
        admitted: None,
    };
    let end = conn.pump(&mut inbound);
    if conn.admitted.is_none() {
        shared.hub.leave_handshake();
    }
    inbound.close();
    conn.finish(end);
}

/// The connection's read half and its state machine over the write half.
fn open(stream: TcpStream, shared: &Shared) -> Option<(Inbound, CoordPeer)> {
    let reader = stream.try_clone().ok()?;
    let challenge = random::<32>(&shared.rng).ok()?;
    let machine = CoordinatorSide::new(shared.terms.clone(), challenge, &SystemClock);
    let peer = Peer::new(machine, stream, shared.timeouts.write).ok()?;
    Some((Inbound::new(reader), Arc::new(Mutex::new(peer))))
}

/// A connection thread's state.
struct Conn<'a> {
    shared: &'a Shared,
    id: u64,
    peer: CoordPeer,
    /// The member's index once admitted.
    admitted: Option<u32>,
}

impl Conn<'_> {
    /// Read and answer until the connection ends; every wait is a tick at most, every
    /// phase bounded by a deadline.
    fn pump(&mut self, inbound: &mut Inbound) -> End {
        let t = self.shared.timeouts;
        let opened = Instant::now();
        let mut beat = Instant::now();
        loop {
            if self.shared.hub.is_shutdown() {
                return End::Shutdown;
            }
            if let Some(end) = self.check_deadlines(inbound, opened, &t) {
                return end;
            }
            if self.admitted.is_some() && beat.elapsed() >= t.heartbeat.max(MIN_INTERVAL) {
                beat = Instant::now();
                if let Some(end) = self.drive(|m| m.heartbeat()) {
                    return end;
                }
            }
            let events = match inbound.read(TICK) {
                Err(e) => return End::Closed(e.to_string()),
                Ok(Got::Eof) => return End::Closed("connection closed".into()),
                Ok(Got::Idle) => Vec::new(),
                Ok(Got::Bytes(b)) => match self.feed(b) {
                    Ok(ev) => ev,
                    Err(end) => return end,
                },
            };
            if let Some(end) = self.on_events(events) {
                return end;
            }
            if inbound.too_slow(lock(&self.peer).machine.partial(), t.frame) {
                return End::Slow("a frame past its deadline");
            }
        }
    }

    fn check_deadlines(&mut self, inbound: &Inbound, opened: Instant, t: &Timeouts) -> Option<End> {
        if self.admitted.is_none() && opened.elapsed() > t.handshake {
            return Some(End::Slow("the handshake past its deadline"));
        }
        if self.admitted.is_some() && inbound.silent_for() > t.silence {
            return Some(End::Slow("silent past the deadline"));
        }
        // A member still in its handshake goes on, to be refused at its admission.
        if let (Some(_), Some(reason)) = (self.admitted, self.shared.hub.aborted()) {
            self.drive(|m| m.abort(&reason));
            return Some(End::Shutdown);
        }
        None
    }

    /// Run `f` on the machine and send what it queued.
    fn drive(&self, f: impl FnOnce(&mut CoordinatorSide)) -> Option<End> {
        let mut p = lock(&self.peer);
        f(&mut p.machine);
        p.flush().err().map(|e| End::Closed(e.to_string()))
    }

    fn feed(&self, bytes: &[u8]) -> Result<Vec<Event>, End> {
        let mut p = lock(&self.peer);
        let events = p.machine.feed(bytes, &SystemClock);
        // Count a refusal before the peer can read it, so that its count is there
        // when the peer acts on it.
        for e in events.iter().flatten() {
            if let Event::Refused(code) = e {
                self.shared.hub.tally.count(Reason::from(*code));
            }
        }
        // Send what was queued, the REFUSE of a refusal too, before acting on a fault.
        let flushed = p.flush();
        let events = events.map_err(|f| End::Fault(f.to_string()))?;
        flushed.map_err(|e| End::Closed(e.to_string()))?;
        Ok(events)
    }

    fn on_events(&mut self, events: Vec<Event>) -> Option<End> {
        let hub = &self.shared.hub;
        for e in events {
            let index = self.admitted.unwrap_or(0);
            match e {
                Event::Refused(_) => return Some(End::Refused),
                Event::Authenticated { index } => {
                    if let Some(end) = self.claim(index) {
                        return Some(end);
                    }
                }
                Event::Synced(est) => hub.synced(index, self.id, est),
                Event::Started(ns) => hub.started(index, self.id, ns),
                Event::Result(bytes) => hub.result(index, self.id, bytes),
                Event::Failed(reason) => hub.failed(index, self.id, reason),
            }
        }
        None
    }

    /// Take the index in the hub: WELCOME, or REFUSE (taken, late).
    fn claim(&mut self, index: u32) -> Option<End> {
        let hub = &self.shared.hub;
        match hub.claim(index, self.id, self.peer.clone()) {
            Ok(()) => {
                self.admitted = Some(index);
                hub.leave_handshake();
                self.drive(CoordinatorSide::admit)
            }
            Err((code, reason)) => {
                hub.tally.count(Reason::from(code));
                let _ = self.drive(|m| m.refuse(code, &reason));
                Some(End::Refused)
            }
        }
    }

    /// Count a connection that never was a member; tell the hub of one that was.
    fn finish(self, end: End) {
        let hub = &self.shared.hub;
        lock(&self.peer).close();
        if let Some(index) = self.admitted {
            let why = match end {
                End::Refused | End::Shutdown => return,
                End::Fault(m) => format!("broke the protocol: {m}"),
                End::Slow(m) => m.to_owned(),
                End::Closed(m) => m,
            };
            hub.left(index, self.id, why);
            return;
        }
        let reason = match end {
            // Counted when refused.
            End::Refused | End::Shutdown => return,
            End::Fault(_) => Reason::Garbage,
            End::Slow(_) => Reason::Slow,
            End::Closed(_) => Reason::Abandoned,
        };
        hub.tally.count(reason);
    }
}
