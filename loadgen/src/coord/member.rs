//! Segments 1..N−1: reach the coordinator (retrying name resolution and connection
//! until the wait ends), prove the token, say READY, learn the start, hear STOP, send
//! the result. After the handshake one thread reads the connection (answering PINGs,
//! sending heartbeats, noticing a coordinator that vanished); the calls below talk to
//! it through a channel.

use super::auth::random;
use super::budget::MIN_INTERVAL;
use super::clock::{after, instant_at, unix_ns, Estimate, SystemClock};
use super::error::Error;
use super::link::{Got, Inbound, Outbox, Peer};
use super::member_side::{Event, MemberSide, MemberTerms, StartPlan};
use super::settings::{MemberClock, RunId, Settings, StartInfo, Timeouts};
use super::wire::RefuseCode;
use ring::rand::SystemRandom;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// How often the reading thread looks at its deadlines.
const TICK: Duration = Duration::from_millis(100);
/// The first pause between two tries to reach the coordinator; it doubles up to
/// [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// The longest pause between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// One connection attempt's bound.
const CONNECT: Duration = Duration::from_secs(2);

type MemberPeer = Arc<Mutex<Peer<MemberSide>>>;

/// What the reading thread tells the calls.
#[derive(Debug)]
enum Note {
    Start(StartPlan),
    Aborted(String),
    Done,
    Gone(String),
}

/// A member segment's connection to its coordinator.
///
/// ```no_run
/// # use loadgen::coord::{Member, Settings};
/// # fn main() -> Result<(), loadgen::coord::Error> {
/// let mut m = Member::join("loadgen-0.loadgen:7070", 1, &Settings::new(3, [0; 32], None))?;
/// // ... open the connections ...
/// let start = m.ready()?; // blocks until START (or ABORT: an error)
/// let stop = m.stop_flag(); // raised by STOP, or if the coordinator vanished
/// // ... measure from start.at until the end or `stop` ...
/// m.send_result(b"{}".to_vec())?;
/// # Ok(()) }
/// ```
pub struct Member {
    peer: MemberPeer,
    notes: Receiver<Note>,
    stop: Arc<AtomicBool>,
    gone: Arc<Mutex<Option<String>>>,
    shutdown: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
    run: RunId,
    authenticated: bool,
    index: u32,
    timeouts: Timeouts,
}

/// Why one try to join failed.
enum Try {
    /// Try again (not reachable yet, busy, closed during the handshake).
    Again(String),
    /// Give up: refused, or not the coordinator.
    Fatal(Error),
    /// Refused for now (the index is held, maybe by this segment's previous life
    /// whose connection the coordinator has not yet found dead): try again, and give
    /// this error if the wait ends.
    Held(Error),
}

impl Member {
    /// Join the coordinator at `addr` (`HOST:PORT`) as segment `index`, trying for
    /// `settings.wait`: name resolution and connection are retried (a pod's name
    /// appears late), with a backoff of 50 ms doubling to 1 s. A refusal is final,
    /// except `busy` and an index already connected, which are tried again (a
    /// restarted pod's old connection is closed once silent).
    pub fn join(addr: &str, index: u32, settings: &Settings) -> Result<Member, Error> {
        let deadline = after(Instant::now(), settings.wait);
        let rng = SystemRandom::new();
        let mut backoff = FIRST_BACKOFF;
        let mut last = String::from("no try");
        let mut held = None;
        while Instant::now() < deadline {
            let attempt =
                connect(addr, deadline).and_then(|s| handshake(s, index, settings, &rng, deadline));
            match attempt {
                Ok(m) => return Ok(m),
                Err(Try::Fatal(e)) => return Err(e),
                Err(Try::Again(why)) => last = why,
                Err(Try::Held(e)) => held = Some(e),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            std::thread::sleep(backoff.min(left));
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        Err(held.unwrap_or_else(|| Error::Unreachable {
            addr: addr.to_owned(),
            wait: settings.wait,
            last,
        }))
    }

    /// The run's identity (plan hash and the coordinator's nonce).
    pub fn run_id(&self) -> RunId {
        self.run
    }

    /// Whether both sides proved the token (false: no token, warn the user).
    pub fn authenticated(&self) -> bool {
        self.authenticated
    }

    /// Raised when the coordinator sends STOP, or vanishes: end the run, then send the
    /// result (which fails if the coordinator is gone: [`Member::coordinator_gone`]).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Why the coordinator is gone, if it is.
    pub fn coordinator_gone(&self) -> Option<String> {
        self.gone.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The connections are open: send READY and block until START, returning this
    /// process's start instant; or ABORT, or the coordinator's end: an error.
    pub fn ready(&mut self) -> Result<StartInfo, Error> {
        if let Err(e) = self.drive(MemberSide::ready, "ready() called twice, or after the end") {
            // The run may have been called off while this segment opened its connections.
            return Err(match self.notes.try_recv() {
                Ok(Note::Aborted(r)) => Error::Aborted(r),
                Ok(Note::Gone(why)) => Error::CoordinatorGone(why),
                _ => e,
            });
        }
        match self.notes.recv_timeout(self.timeouts.start) {
            Ok(Note::Start(plan)) => Ok(self.start_info(plan)),
            Ok(Note::Aborted(r)) => Err(Error::Aborted(r)),
            Ok(Note::Gone(why)) => Err(Error::CoordinatorGone(why)),
            Ok(Note::Done) => Err(Error::Protocol(
                "the coordinator sent DONE before START".into(),
            )),
            Err(RecvTimeoutError::Timeout) => Err(Error::CoordinatorGone(format!(
                "no START within {}s of READY",
                self.timeouts.start.as_secs_f64()
            ))),
            Err(RecvTimeoutError::Disconnected) => Err(self.gone_error()),
        }
    }

    /// Tell the coordinator when this segment actually started measuring (its own
    /// clock), so that it can report the realised start skew. Once, after START.
    pub fn report_started(&self, at: SystemTime) -> Result<(), Error> {
        let ns = unix_ns(at);
        self.drive(|m| m.started(ns), "report_started() before START or twice")
    }

    /// Send the segment's result and wait for the coordinator's receipt.
    pub fn send_result(&mut self, bytes: Vec<u8>) -> Result<(), Error> {
        self.drive(|m| m.result(bytes), "send_result() before START or twice")?;
        match self.notes.recv_timeout(self.timeouts.done) {
            Ok(Note::Done) => Ok(()),
            Ok(Note::Gone(why)) => Err(Error::CoordinatorGone(why)),
            Ok(_) => Err(Error::Protocol(
                "the coordinator did not acknowledge the result".into(),
            )),
            Err(RecvTimeoutError::Timeout) => Err(Error::CoordinatorGone(format!(
                "no receipt of the result within {}s",
                self.timeouts.done.as_secs_f64()
            ))),
            Err(RecvTimeoutError::Disconnected) => Err(self.gone_error()),
        }
    }

    /// This segment cannot go on: FAIL with `reason` (before the start the coordinator
    /// calls the run off; after, it names this segment lost), then close.
    pub fn fail(self, reason: &str) {
        let _ = self.drive(
            |m| {
                m.fail(reason);
                true
            },
            "",
        );
    }

    fn lock(&self) -> MutexGuard<'_, Peer<MemberSide>> {
        self.peer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Run `f` on the machine (false: out of order) and send what it queued.
    fn drive(
        &self,
        f: impl FnOnce(&mut MemberSide) -> bool,
        order: &'static str,
    ) -> Result<(), Error> {
        if self.coordinator_gone().is_some() {
            return Err(self.gone_error());
        }
        let mut p = self.lock();
        if !f(&mut p.machine) {
            return Err(Error::Order(order));
        }
        p.flush().map_err(|e| Error::CoordinatorGone(e.to_string()))
    }

    fn gone_error(&self) -> Error {
        Error::CoordinatorGone(
            self.coordinator_gone()
                .unwrap_or_else(|| "connection closed".into()),
        )
    }

    fn start_info(&self, plan: StartPlan) -> StartInfo {
        let clock = SystemClock;
        let local = plan.at_unix_ns.saturating_add(plan.offset_ns);
        let estimate = Estimate {
            offset_ns: plan.offset_ns,
            delay_ns: plan.delay_ns,
        };
        StartInfo {
            at: instant_at(&clock, local),
            unix_ns: local,
            coordinator_unix_ns: plan.at_unix_ns,
            run: self.run,
            authenticated: self.authenticated,
            clocks: vec![MemberClock {
                index: self.index,
                estimate,
                skew_bound_ns: estimate.bound_ns(),
            }],
        }
    }
}

impl Drop for Member {
    /// Close the connection and end the reading thread (within a tick).
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::Relaxed);
        self.lock().close();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

/// Resolve `addr` and connect to one of its addresses, within `deadline`.
fn connect(addr: &str, deadline: Instant) -> Result<TcpStream, Try> {
    let addrs = resolve(addr, deadline)?;
    let mut last = format!("{addr} resolved to no address");
    for a in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&a, left.min(CONNECT)) {
            Ok(s) => return Ok(s),
            Err(e) => last = format!("connecting to {a}: {e}"),
        }
    }
    Err(Try::Again(last))
}

/// Resolve `addr` in a helper thread, so that a slow resolver cannot hold the caller
/// past `deadline` (the thread ends when the resolver answers).
fn resolve(addr: &str, deadline: Instant) -> Result<Vec<SocketAddr>, Try> {
    let (tx, rx) = mpsc::channel();
    let name = addr.to_owned();
    std::thread::Builder::new()
        .name("coord-resolve".into())
        .spawn(move || {
            let _ = tx.send(name.to_socket_addrs().map(Vec::from_iter));
        })
        .map_err(|e| Try::Again(format!("resolving {addr}: {e}")))?;
    match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Try::Again(format!("resolving {addr}: {e}"))),
        Err(_) => Err(Try::Again(format!("resolving {addr}: no answer in time"))),
    }
}

/// HELLO to WELCOME over `stream`; then the reading thread is started.
fn handshake(
    stream: TcpStream,
    index: u32,
    s: &Settings,
    rng: &SystemRandom,
    deadline: Instant,
) -> Result<Member, Try> {
    let io = |e: std::io::Error| Try::Again(format!("during the handshake: {e}"));
    let _ = stream.set_nodelay(true);
    let mut inbound = Inbound::new(stream.try_clone().map_err(io)?);
    let challenge = random::<32>(rng).map_err(|_| Try::Fatal(Error::Random))?;
    let terms = MemberTerms {
        index,
        segments: s.segments,
        plan_hash: s.plan_hash,
        version: s.version.clone(),
        token: s.token.clone(),
    };
    let mut peer = Peer::new(
        MemberSide::new(terms, challenge, &SystemClock),
        stream,
        s.timeouts.write,
    )
    .map_err(io)?;
    peer.flush().map_err(io)?;
    let end = deadline.min(after(Instant::now(), s.timeouts.handshake));
    let (nonce, authenticated, rest) =
        await_welcome(&mut inbound, &mut peer, end, s.timeouts.frame)?;
    let shared = Arc::new(Mutex::new(peer));
    let (tx, notes) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let gone = Arc::new(Mutex::new(None));
    let shutdown = Arc::new(AtomicBool::new(false));
    let reader = Reader {
        peer: shared.clone(),
        tx,
        stop: stop.clone(),
        gone: gone.clone(),
        shutdown: shutdown.clone(),
        timeouts: s.timeouts,
    };
    reader
        .pass(rest)
        .map_err(|why| Try::Fatal(Error::Protocol(format!("the coordinator {why}"))))?;
    let reader = std::thread::Builder::new()
        .name("coord-member".into())
        .spawn(move || reader.run(inbound))
        .map_err(|e| {
            Try::Fatal(Error::Io {
                what: "starting the coordination thread",
                source: e,
            })
        })?;
    Ok(Member {
        peer: shared,
        notes,
        stop,
        gone,
        shutdown,
        reader: Some(reader),
        run: RunId {
            plan_hash: s.plan_hash,
            nonce,
        },
        authenticated,
        index,
        timeouts: s.timeouts,
    })
}

/// The first event of the handshake: WELCOME (the nonce, and whether
/// authenticated), or a refusal.
fn welcomed(e: Event) -> Result<([u8; 16], bool), Try> {
    match e {
        Event::Welcomed {
            nonce,
            authenticated,
        } => Ok((nonce, authenticated)),
        Event::Refused(RefuseCode::Busy, r) => {
            Err(Try::Again(format!("the coordinator is busy: {r}")))
        }
        Event::Refused(RefuseCode::Taken, reason) => Err(Try::Held(Error::Refused {
            code: RefuseCode::Taken,
            reason,
        })),
        Event::Refused(code, reason) => Err(Try::Fatal(Error::Refused { code, reason })),
        other => Err(Try::Fatal(Error::Protocol(format!(
            "the coordinator sent {other:?} during the handshake"
        )))),
    }
}

/// Read until WELCOME (the nonce, whether authenticated, and the events that came
/// in the same bytes after it), a refusal, or `end`.
fn await_welcome(
    inbound: &mut Inbound,
    peer: &mut Peer<MemberSide>,
    end: Instant,
    frame: Duration,
) -> Result<([u8; 16], bool, Vec<Event>), Try> {
    while Instant::now() < end {
        let wait = end.saturating_duration_since(Instant::now()).min(TICK);
        let bytes = match inbound.read(wait) {
            Ok(Got::Bytes(b)) => b,
            Ok(Got::Idle) => continue,
            Ok(Got::Eof) => {
                return Err(Try::Again(
                    "the coordinator closed the connection during the handshake".into(),
                ))
            }
            Err(e) => return Err(Try::Again(format!("during the handshake: {e}"))),
        };
        let events = peer.machine.feed(bytes, &SystemClock);
        let _ = peer.flush();
        let mut events = events
            .map_err(|f| Try::Fatal(Error::Protocol(f.to_string())))?
            .into_iter();
        if let Some(first) = events.next() {
            let (nonce, authenticated) = welcomed(first)?;
            return Ok((nonce, authenticated, events.collect()));
        }
        if inbound.too_slow(peer.machine.partial(), frame) {
            break;
        }
    }
    Err(Try::Again(
        "the coordinator did not answer the handshake in time".into(),
    ))
}

/// The thread that reads the connection after the handshake.
struct Reader {
    peer: MemberPeer,
    tx: Sender<Note>,
    stop: Arc<AtomicBool>,
    gone: Arc<Mutex<Option<String>>>,
    shutdown: Arc<AtomicBool>,
    timeouts: Timeouts,
}

impl Reader {
    fn run(self, mut inbound: Inbound) {
        if let Err(why) = self.pump(&mut inbound) {
            *self.gone.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.clone());
            self.stop.store(true, Ordering::SeqCst);
            let _ = self.tx.send(Note::Gone(why));
        }
        inbound.close();
    }

    fn lock(&self) -> MutexGuard<'_, Peer<MemberSide>> {
        self.peer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Until the end (`Ok`) or the coordinator's loss (`Err(why)`).
    fn pump(&self, inbound: &mut Inbound) -> Result<(), String> {
        let t = self.timeouts;
        let mut beat = Instant::now();
        while !self.shutdown.load(Ordering::Relaxed) {
            if inbound.silent_for() > t.silence {
                return Err(format!("silent for {}s", t.silence.as_secs_f64()));
            }
            if beat.elapsed() >= t.heartbeat.max(MIN_INTERVAL) {
                beat = Instant::now();
                let mut p = self.lock();
                p.machine.heartbeat();
                p.flush().map_err(|e| e.to_string())?;
            }
            let bytes = match inbound.read(TICK).map_err(|e| e.to_string())? {
                Got::Idle => {
                    self.check_slow(inbound, t.frame)?;
                    continue;
                }
                Got::Eof if self.lock().machine.is_over() => return Ok(()),
                Got::Eof => return Err("it closed the connection".into()),
                Got::Bytes(b) => b,
            };
            let over = self.on_bytes(bytes)?;
            self.check_slow(inbound, t.frame)?;
            if over {
                return Ok(());
            }
        }
        Ok(())
    }

    fn check_slow(&self, inbound: &mut Inbound, frame: Duration) -> Result<(), String> {
        let partial = self.lock().machine.partial();
        match inbound.too_slow(partial, frame) {
            true => Err("a frame past its deadline".into()),
            false => Ok(()),
        }
    }

    /// Feed the bytes and pass the events on; true once the connection is over.
    fn on_bytes(&self, bytes: &[u8]) -> Result<bool, String> {
        let (events, over) = {
            let mut p = self.lock();
            let events = p.machine.feed(bytes, &SystemClock);
            p.flush().map_err(|e| e.to_string())?;
            (events.map_err(|f| f.to_string())?, p.machine.is_over())
        };
        self.pass(events)?;
        Ok(over)
    }

    /// Tell the calls what happened; STOP raises the flag.
    fn pass(&self, events: Vec<Event>) -> Result<(), String> {
        for e in events {
            let note = match e {
                Event::Start(plan) => Note::Start(plan),
                Event::Aborted(r) => Note::Aborted(r),
                Event::Done => Note::Done,
                Event::Stop => {
                    self.stop.store(true, Ordering::SeqCst);
                    continue;
                }
                other => return Err(format!("it sent {other:?} after the handshake")),
            };
            let _ = self.tx.send(note);
        }
        Ok(())
    }
}
