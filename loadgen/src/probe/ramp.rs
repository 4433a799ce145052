//! The ramp: open connections at a fixed rate until something stops it, hold them,
//! and classify what stopped it ([`Stop`]).
//!
//! Each connection is a `Held` protocol on one [`Reactor`], over TLS for a TLS target
//! (`Tls<Held>`, plain otherwise: [`Tls::plain`] passes the bytes through); their
//! counters live in the reactor's context (`State`, inside the TLS layer's), so a
//! connection needs no pointer back to them. The host (`ProbeHost`) paces the connects
//! and turns every failed connect, failed handshake or early close into a [`Stop`].
//! [`Probe`] drives it: ramp, hold, verify, then a [`ProbeResult`].
//!
//! Over TLS a connection is established when its handshake is done. A handshake the
//! server cuts (a close or a reset before it finishes) counts as a close by the server,
//! as an accepted connection closed at once does over plain TCP (a server at its cap
//! closes both alike); one that fails otherwise (the server does not speak TLS, the
//! certificate is refused) stops the ramp naming why ([`Stop::Handshake`]); one that
//! does not finish within the connect timeout stops it too ([`Stop::HandshakeTimeout`]:
//! the server's accept queue holds the connection, or it is too busy to answer).
//!
//! `--verify` sends a request on every held connection (one byte to echo, or `GET /`
//! to an HTTP server: [`VerifyProto`]) and sorts them by what comes back: an answer
//! before the deadline (alive), a close or reset (dead), or nothing by the deadline
//! (too slow to answer: queued and never accepted, or a busy server; an answer that
//! comes after the deadline still counts here, as answered late). The
//! deadline grows with the number of connections and with how long sending took, so
//! a large probe is not judged by a small probe's clock.

use super::own_memory::OwnMemory;
use super::sources::{check_bindable, counts_for, SourceCount};
use super::tls::{Handshakes, ProbeTls};
use super::verify::VerifyProto;
use crate::record::{new_histogram, record_us, us};
use hdrhistogram::Histogram;
use readyloop::protocol::{Cx, Protocol, Step, Verdict};
use readyloop::stats::errno_name;
use readyloop::tls::{describe, rustls, Failure, OverTls, Tls, TlsContext};
use readyloop::{CloseReason, Config, ConnId, ConnLimits, ConnectOptions, Host, Reactor};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// What to probe and how.
#[derive(Clone, Debug)]
pub(crate) struct ProbeSpec {
    /// Where to connect.
    pub target: SocketAddr,
    /// New connections per second.
    pub connect_rate: f64,
    /// Give up on one connect after this long.
    pub connect_timeout: Duration,
    /// Stop after this many (none: until something stops it).
    pub max: Option<u64>,
    /// Keep the connections open this long after the ramp.
    pub hold: Duration,
    /// At the end, check every held connection still answers.
    pub verify: bool,
    /// What the check sends and expects back.
    pub verify_proto: VerifyProto,
    /// The least time the verify echoes are waited for, from when the last byte went
    /// out; more with many connections (see [`verify_window`]).
    pub verify_timeout: Duration,
    /// Source addresses, round robin (empty: the kernel's choice).
    pub sources: Vec<IpAddr>,
    /// Upper bound on the ramp, whatever happens.
    pub max_time: Duration,
    /// This many connections closed by the server during the ramp stop it.
    pub server_closes_to_stop: u64,
    /// TLS to the target, or none.
    pub tls: Option<ProbeTls>,
}

/// Why the ramp stopped.
///
/// Serialized as `{"kind": "...", "errno": "..."}` (the errno only where the variant has
/// one): in the report's `stop` and in the `RESULT` line of a `--procs` child.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Stop {
    /// `--max` reached.
    Max,
    /// No descriptor for a new socket: EMFILE (this process) or ENFILE (system).
    Descriptors {
        /// EMFILE or ENFILE.
        errno: String,
    },
    /// EADDRNOTAVAIL from every source address: no ephemeral port left toward the
    /// destination.
    Ports,
    /// A `--source` address is on none of this machine's interfaces: binding it fails
    /// with EADDRNOTAVAIL before any connect (not a port running out).
    SourceNotLocal {
        /// The address.
        source: String,
    },
    /// ECONNREFUSED: nothing listening, or a full backlog with `tcp_abort_on_overflow`.
    Refused,
    /// A connect did not complete: SYNs dropped (backlog full, server stalled).
    ConnectTimeout,
    /// The server closed connections right after they were established: its
    /// connection cap (`--max-conns`, `maxclients`) or its descriptor limit.
    ServerClosed,
    /// ENOBUFS / ENOMEM: socket memory.
    Memory {
        /// ENOBUFS or ENOMEM.
        errno: String,
    },
    /// Another error.
    Other {
        /// Its errno name.
        errno: String,
    },
    /// `max_time` passed.
    TimeLimit,
    /// A TLS handshake failed for another reason than the server closing it: the
    /// server does not speak TLS, the certificate was refused, nothing in common.
    Handshake {
        /// The reason, as the handshake counts name it (`malformed`, `bad_certificate`...).
        failure: String,
        /// One line: rustls's error, a certificate's as a person says it.
        detail: String,
    },
    /// A TLS handshake did not finish within the connect timeout: the connection waits
    /// in the server's accept queue, never accepted, or the server is too busy.
    HandshakeTimeout,
}

impl Stop {
    /// One line: what stopped it.
    pub fn describe(&self) -> String {
        match self {
            Stop::Max => "reached --max".into(),
            Stop::Descriptors { errno } if errno == "ENFILE" => {
                "ENFILE: the system's file table is full (fs.file-max)".into()
            }
            Stop::Descriptors { errno } => format!("{errno}: this process's descriptor limit (RLIMIT_NOFILE)"),
            Stop::Ports => "EADDRNOTAVAIL: no ephemeral port left for (source address, destination)".into(),
            Stop::SourceNotLocal { source } => {
                format!("EADDRNOTAVAIL at bind(): --source {source} is not an address of this machine")
            }
            Stop::Refused => "ECONNREFUSED: nothing listening, or the listen backlog overflowed".into(),
            Stop::ConnectTimeout => {
                "connect timeout (no errno): SYNs dropped, the server's listen backlog is full or the server is stalled"
                    .into()
            }
            Stop::ServerClosed => {
                "the server closed new connections right after accepting them: its connection cap or its fd limit"
                    .into()
            }
            Stop::Memory { errno } => format!("{errno}: out of socket memory (net.ipv4.tcp_mem) or RAM"),
            Stop::Other { errno } => format!("{errno}: unexpected error"),
            Stop::TimeLimit => "the probe's time limit (--max-time) passed".into(),
            Stop::Handshake { failure, detail } => {
                format!("TLS handshake failed ({failure}): {detail}")
            }
            Stop::HandshakeTimeout => {
                "TLS handshake timeout (--connect-timeout): the server took the TCP connection into its accept queue but never answered the handshake: it is not accepting (its fd limit) or too busy"
                    .into()
            }
        }
    }

    /// A limit stopped it (not `--max`, not `--max-time`).
    pub(crate) fn is_limit(&self) -> bool {
        !matches!(self, Stop::Max | Stop::TimeLimit)
    }
}

/// What one probe process measured.
///
/// A `--procs` child sends it to its parent as the JSON of its `RESULT` line, hence
/// the serde derives; the field names (`ramp_s`, `connect_hist`) are that line's.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ProbeResult {
    /// Connections established during the ramp.
    pub established: u64,
    /// Connect attempts (sockets created).
    pub attempted: u64,
    /// Established connections the server closed during the ramp.
    pub closed_by_server_ramp: u64,
    /// Held connections the server closed during the hold.
    pub closed_by_server_hold: u64,
    /// Connections open when the hold ended.
    pub held_end: u64,
    /// Most connections open at once.
    pub peak_held: u64,
    /// With `--verify`: held connections that echoed before the deadline.
    pub verified_alive: Option<u64>,
    /// With `--verify`: held connections that had not answered by the deadline (queued
    /// and never accepted, or a slow server), including those answered late.
    #[serde(default)]
    pub verified_too_slow: Option<u64>,
    /// With `--verify`: of the too slow, those whose echo came after the deadline.
    #[serde(default)]
    pub verified_late: Option<u64>,
    /// With `--verify`: held connections closed or reset before they answered.
    pub verified_dead: Option<u64>,
    /// With `--verify`: the deadline, seconds after the last byte went out
    /// ([`verify_window`]).
    #[serde(default)]
    pub verify_window_s: Option<f64>,
    /// Why the ramp stopped.
    pub stop: Stop,
    /// Ramp duration.
    #[serde(rename = "ramp_s", with = "super::serde_fmt::secs_f64")]
    pub ramp: Duration,
    /// Connect times, us.
    #[serde(rename = "connect_hist", with = "super::serde_fmt::hist_base64")]
    pub connect: Histogram<u64>,
    /// Connections established per 100 ms of the ramp, until it stopped: its last
    /// bucket is the one the stop fell in (cut short), and connects that complete after
    /// the stop are not in it.
    pub timeline: Vec<u64>,
    /// Per source address.
    pub sources: Vec<SourceCount>,
    /// Errors seen (errno name, count), including the one that stopped it. A failed
    /// TLS handshake is `tls_` and its reason (`tls_eof`, `tls_malformed`...).
    pub errors: Vec<(String, u64)>,
    /// Over TLS, the handshakes; `None` for a plain target.
    #[serde(default)]
    pub handshakes: Option<Handshakes>,
    /// This process's anonymous RSS before the ramp, bytes (summed over processes).
    #[serde(default)]
    pub rss_anon_before: Option<u64>,
    /// Its anonymous RSS when the ramp had settled, every connection held, bytes
    /// (summed over processes).
    #[serde(default)]
    pub rss_anon_held: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Connecting,
    Open,
    /// Over TLS: the verify request goes out on the next timer (the host cannot
    /// encrypt it: the connection's protocol writes it, through the layer).
    VerifyDue,
    /// The verify request is out, no answer yet.
    Verifying,
    /// Answered before the deadline.
    Alive,
    /// Answered after it.
    Late,
}

/// One held connection: connecting (over TLS: until the handshake is done), then open,
/// then (with `--verify`) waiting for the answer to its verify request.
struct Held {
    src: usize,
    started: Instant,
    phase: Phase,
    /// Over TLS, a failed handshake: its reason's name and a line saying why.
    failed: Option<(&'static str, String)>,
}

/// What the reactor runs on each connection: [`Held`] over TLS, or over the bare
/// connection ([`Tls::plain`]).
type Conn = Tls<Held>;

/// The probe's own state, inside the TLS layer's context.
fn st(r: &Reactor<Conn>) -> &State {
    &r.context().inner
}

/// The probe's own state, to change.
fn st_mut(r: &mut Reactor<Conn>) -> &mut State {
    &mut r.context_mut().inner
}

/// Shared by the host and the held connections of one probe: the reactor's context.
struct State {
    ramping: bool,
    established: u64,
    open: u64,
    peak: u64,
    closed_by_server_ramp: u64,
    closed_by_server_hold: u64,
    alive: u64,
    late: u64,
    dead: u64,
    /// Answers after this are late; `None` until every verify request is out.
    verify_deadline: Option<Instant>,
    /// What counts as an answer.
    verify_proto: VerifyProto,
    /// What a TLS connection writes when its verify falls due.
    verify_request: Vec<u8>,
    /// TLS connections that wrote it.
    verify_sent: u64,
    connect: Histogram<u64>,
    timeline: Vec<u64>,
    ramp_start: Instant,
    per_source: Vec<SourceCount>,
}

/// The 100 ms bucket of the timeline `since` the ramp started falls in.
fn bucket_of(since: Duration) -> usize {
    usize::try_from(since.as_millis() / 100).unwrap_or(usize::MAX)
}

/// Verify echoes are waited for as if they came back no faster than this (per
/// second): a busy server on a small machine still answers a few thousand one-byte
/// echoes a second, and a fixed deadline judged 20,000 connections by the clock of 20.
pub(crate) const MIN_ANSWER_RATE: f64 = 2000.0;

/// The verify window never grows past this, whatever the count.
const MAX_VERIFY_WINDOW: Duration = Duration::from_secs(600);

/// After the deadline, echoes are still read this long to count the late ones.
const VERIFY_GRACE: Duration = Duration::from_millis(500);

/// How long after the last verify byte went out the echoes count as answers: `base`,
/// plus the time `n` echoes take at [`MIN_ANSWER_RATE`] or twice the time sending the
/// bytes took (`send_time`: the rate this machine manages right now, each echo costing
/// the server and this process about what a send did), whichever is longer.
pub(crate) fn verify_window(n: u64, send_time: Duration, base: Duration) -> Duration {
    let by_count =
        Duration::try_from_secs_f64(n as f64 / MIN_ANSWER_RATE).unwrap_or(MAX_VERIFY_WINDOW);
    base.saturating_add(by_count.max(send_time.saturating_mul(2)))
        .min(MAX_VERIFY_WINDOW)
}

impl Protocol for Held {
    type Context = State;

    fn on_connected(&mut self, _out: &mut Vec<u8>, cx: &mut Cx<State>) -> Verdict {
        self.phase = Phase::Open;
        let st = &mut *cx.ctx;
        st.established += 1;
        st.open += 1;
        st.peak = st.peak.max(st.open);
        record_us(
            &mut st.connect,
            us(cx.now.saturating_duration_since(self.started)),
        );
        // The timeline is the ramp's rate: connects still settling after the stop
        // would trail it with a drop of the ramp's own making.
        if st.ramping {
            let bucket = bucket_of(cx.now.saturating_duration_since(st.ramp_start));
            if st.timeline.len() <= bucket {
                st.timeline.resize(bucket.saturating_add(1), 0);
            }
            if let Some(b) = st.timeline.get_mut(bucket) {
                *b += 1;
            }
        }
        if let Some(s) = st.per_source.get_mut(self.src) {
            s.established += 1;
        }
        Verdict::Continue
    }

    fn on_input(
        &mut self,
        input: &[u8],
        _out: &mut Vec<u8>,
        _budget: usize,
        cx: &mut Cx<State>,
    ) -> Step {
        if self.phase == Phase::Verifying && cx.ctx.verify_proto.is_answer(input) {
            let st = &mut *cx.ctx;
            if st.verify_deadline.is_some_and(|d| cx.now > d) {
                self.phase = Phase::Late;
                st.late += 1;
            } else {
                self.phase = Phase::Alive;
                st.alive += 1;
            }
        }
        // Anything else the server says (a greeting, a 503) is read and dropped.
        Step::cont(input.len())
    }

    fn on_eof(&mut self, _out: &mut Vec<u8>, _cx: &mut Cx<State>) -> Verdict {
        Verdict::Close
    }

    fn poll_at(&self, ctx: &State) -> Option<Instant> {
        // Any time already past: at once.
        (self.phase == Phase::VerifyDue).then_some(ctx.ramp_start)
    }

    fn on_timer(&mut self, out: &mut Vec<u8>, cx: &mut Cx<State>) -> Verdict {
        if self.phase == Phase::VerifyDue {
            out.extend_from_slice(&cx.ctx.verify_request);
            cx.ctx.verify_sent += 1;
            self.phase = Phase::Verifying;
        }
        Verdict::Continue
    }
}

impl OverTls for Held {
    // Done: `on_connected` follows at once, and counts it established.

    fn on_handshake_failed(&mut self, err: &rustls::Error, _cx: &mut Cx<State>) {
        self.failed = Some((Failure::of(err).name(), describe(err)));
    }
}

/// Connects due `elapsed` into a ramp at `rate` per second: the first at once.
/// Saturates: `as` already clamps a product too large for u64 (the CLI bounds the rate,
/// a library caller may not), and the `+ 1` must not overflow past it.
fn due_by(elapsed: Duration, rate: f64) -> u64 {
    ((elapsed.as_secs_f64() * rate) as u64).saturating_add(1)
}

struct ProbeHost {
    spec: ProbeSpec,
    opts: ConnectOptions,
    /// Indexes of sources not yet exhausted.
    live_sources: Vec<usize>,
    rr: usize,
    attempted: u64,
    in_flight: u64,
    stop: Option<Stop>,
    errors: Vec<(String, u64)>,
    ramp_start: Instant,
    /// Over TLS, every connection started, in order, with the time by which its
    /// handshake must be done (its start, plus the connect timeout and
    /// [`HANDSHAKE_MARGIN`]): popped once past.
    handshake_due: std::collections::VecDeque<(Instant, ConnId)>,
}

const TIMER_RAMP: u64 = 1;
/// A handshake is due this long after the connect timeout (see `open_one`).
const HANDSHAKE_MARGIN: Duration = Duration::from_millis(100);
/// How often the ramp opens its due connections.
const TICK: Duration = Duration::from_millis(1);

impl ProbeHost {
    fn count_error(&mut self, errno: Option<i32>) {
        self.count_name(errno.map_or_else(|| "timeout".to_string(), errno_name));
    }

    /// Count one error by its name in the report.
    fn count_name(&mut self, name: String) {
        match self.errors.iter_mut().find(|(n, _)| *n == name) {
            Some((_, c)) => *c += 1,
            None => self.errors.push((name, 1)),
        }
    }

    fn stop_with(&mut self, r: &mut Reactor<Conn>, s: Stop) {
        let now = r.now();
        let st = st_mut(r);
        if self.stop.is_none() {
            self.stop = Some(s);
            // The timeline ends with the bucket the stop fell in, even when no connect
            // completed in it: that bucket is the partial one the readings leave out.
            let bucket = bucket_of(now.saturating_duration_since(st.ramp_start));
            if st.timeline.len() <= bucket {
                st.timeline.resize(bucket.saturating_add(1), 0);
            }
        }
        st.ramping = false;
    }

    /// Open the connections due by now (rate x elapsed), one tick at a time.
    fn ramp(&mut self, r: &mut Reactor<Conn>) {
        if self.stop.is_some() {
            return;
        }
        let now = r.now();
        let elapsed = now.saturating_duration_since(self.ramp_start);
        if elapsed > self.spec.max_time {
            self.stop_with(r, Stop::TimeLimit);
            return;
        }
        let due = due_by(elapsed, self.spec.connect_rate);
        // Bounded work per tick: when connect() itself gets slow (the odd-port search),
        // a catch-up loop would starve the reactor, and connects that completed would
        // sit unnoticed past their timeout. Falling behind the rate is reported instead.
        let mut budget = 256;
        while self.attempted < due && budget > 0 {
            budget -= 1;
            if self
                .spec
                .max
                .is_some_and(|m| st(r).established + self.in_flight >= m)
            {
                // `--max` is reached once the connects in flight have settled; until
                // then the next tick looks again.
                if self.in_flight == 0 {
                    self.stop_with(r, Stop::Max);
                }
                break;
            }
            if let Err(stop) = self.open_one(r, now) {
                self.stop_with(r, stop);
                return;
            }
        }
        r.set_timer(now + TICK, TIMER_RAMP);
    }

    /// Start one connect, from the next source in turn. `Err`: the stop it ran into,
    /// from connect() itself (a connect that fails later ends in [`Host::closed`]).
    fn open_one(&mut self, r: &mut Reactor<Conn>, now: Instant) -> Result<(), Stop> {
        let src = self.next_source()?;
        let held = Held {
            src,
            started: now,
            phase: Phase::Connecting,
            failed: None,
        };
        let conn = match &self.spec.tls {
            None => Tls::plain(held),
            Some(t) => Tls::client(
                t.target.config.clone(),
                t.target.server_name.clone(),
                held,
                now,
            )
            // rustls refuses only a configuration it cannot use at all.
            .map_err(|e| Stop::Handshake {
                failure: Failure::of(&e).name().into(),
                detail: describe(&e),
            })?,
        };
        self.attempted += 1;
        let tls = conn.is_tls();
        let id = match r.connect(self.spec.target, &self.opts, conn) {
            Ok(id) => id,
            Err((e, _)) => return self.connect_failed(r, src, e.raw_os_error()),
        };
        self.in_flight += 1;
        if tls {
            // A little after the connect timeout: one still connecting by then is the
            // reactor's to time out, as a connect timeout.
            let due = self.spec.connect_timeout.saturating_add(HANDSHAKE_MARGIN);
            self.handshake_due.push_back((later(now, due), id));
        }
        Ok(())
    }

    /// Close the TLS connections whose handshake is not done by its due time (one still
    /// connecting is the reactor's connect timeout's, at the same time). Their close
    /// (`CloseReason::Host`) is a handshake timeout.
    fn time_out_handshakes(&mut self, r: &mut Reactor<Conn>) {
        let now = r.now();
        while let Some(&(due, id)) = self.handshake_due.front() {
            if due > now {
                break;
            }
            self.handshake_due.pop_front();
            if r.protocol_mut(id)
                .is_some_and(|c| c.inner().phase == Phase::Connecting)
            {
                r.close(id);
            }
        }
    }

    /// connect() failed at once with `errno`, from source `src`.
    fn connect_failed(
        &mut self,
        r: &mut Reactor<Conn>,
        src: usize,
        errno: Option<i32>,
    ) -> Result<(), Stop> {
        self.count_error(errno);
        match errno {
            Some(libc::EADDRNOTAVAIL) => self.address_not_available(r, src),
            other => Err(connect_stop(other)),
        }
    }

    /// The index of the source the next connect binds (set in `opts`), round robin
    /// over those not exhausted; 0 without `--source`. `Err(Stop::Ports)` when every
    /// source has run out.
    fn next_source(&mut self) -> Result<usize, Stop> {
        if self.spec.sources.is_empty() {
            return Ok(0);
        }
        if self.live_sources.is_empty() {
            return Err(Stop::Ports);
        }
        let i = self.live_sources[self.rr % self.live_sources.len()];
        self.rr += 1;
        self.opts.source = Some(self.spec.sources[i]);
        Ok(i)
    }

    /// connect() failed with EADDRNOTAVAIL from source `src`: a source that is not this
    /// machine's stops the ramp, else that source is out of ports and the others go on.
    /// `Err` when the ramp stops.
    fn address_not_available(&mut self, r: &mut Reactor<Conn>, src: usize) -> Result<(), Stop> {
        // connect() reports the bind's EADDRNOTAVAIL (the address is not this
        // machine's) and its own (no port left) alike: bind the address alone to tell
        // them apart. With IP_BIND_ADDRESS_NO_PORT that bind takes no port.
        if let Some(a) = self.opts.source {
            if check_bindable(a).is_err_and(|e| e.raw_os_error() == Some(libc::EADDRNOTAVAIL)) {
                return Err(Stop::SourceNotLocal {
                    source: a.to_string(),
                });
            }
        }
        if let Some(s) = st_mut(r).per_source.get_mut(src) {
            s.exhausted = true;
        }
        self.live_sources.retain(|&i| i != src);
        if self.spec.sources.is_empty() || self.live_sources.is_empty() {
            return Err(Stop::Ports);
        }
        Ok(())
    }
}

/// The stop a connect() that failed at once makes, for any errno but EADDRNOTAVAIL
/// (which may leave other sources to try: [`ProbeHost::address_not_available`]).
fn connect_stop(errno: Option<i32>) -> Stop {
    match errno {
        Some(e @ (libc::EMFILE | libc::ENFILE)) => Stop::Descriptors {
            errno: errno_name(e),
        },
        Some(e @ (libc::ENOBUFS | libc::ENOMEM)) => Stop::Memory {
            errno: errno_name(e),
        },
        Some(libc::ECONNREFUSED) => Stop::Refused,
        other => Stop::Other {
            errno: other.map_or("unknown".into(), errno_name),
        },
    }
}

impl ProbeHost {
    /// A TLS connection closed before its handshake was done, its TCP connect made
    /// (`reason` is neither a connect failure nor a connect timeout): the server cut
    /// it, it failed, or it timed out. Counted as an error `tls_` and its reason.
    fn handshake_ended(&mut self, r: &mut Reactor<Conn>, h: &Held, reason: CloseReason) {
        self.in_flight = self.in_flight.saturating_sub(1);
        match (&h.failed, reason) {
            // The layer's own end of a handshake cut by the peer's FIN is a close
            // (`Verdict::Close`); every failure it names closes after its alert.
            (Some(_), CloseReason::Protocol) | (None, CloseReason::Peer | CloseReason::Reset) => {
                self.count_name(format!("tls_{}", Failure::Eof.name()));
                let st = st_mut(r);
                if st.ramping {
                    st.closed_by_server_ramp += 1;
                    if st.closed_by_server_ramp >= self.spec.server_closes_to_stop {
                        self.stop_with(r, Stop::ServerClosed);
                    }
                } else {
                    st.closed_by_server_hold += 1;
                }
            }
            (Some((failure, detail)), _) => {
                self.count_name(format!("tls_{failure}"));
                self.stop_with(
                    r,
                    Stop::Handshake {
                        failure: (*failure).into(),
                        detail: detail.clone(),
                    },
                );
            }
            (None, CloseReason::Host) => {
                self.count_name(format!("tls_{}", Failure::Timeout.name()));
                self.stop_with(r, Stop::HandshakeTimeout);
            }
            (None, other) => {
                let name = format!("{other:?}").to_lowercase();
                self.count_name(format!("tls_{name}"));
                self.stop_with(
                    r,
                    Stop::Handshake {
                        failure: Failure::Other.name().into(),
                        detail: format!("the connection closed during the handshake ({name})"),
                    },
                );
            }
        }
    }
}

impl Host<Conn> for ProbeHost {
    fn closed(
        &mut self,
        r: &mut Reactor<Conn>,
        _id: ConnId,
        c: Conn,
        reason: CloseReason,
        errno: Option<i32>,
    ) {
        // Every handshake ends counted, also one cut by something the layer did not see.
        c.count_close(reason, &mut r.context_mut().stats);
        let tls = c.is_tls();
        let h = c.into_inner();
        match h.phase {
            Phase::Connecting
                if tls
                    && !matches!(
                        reason,
                        CloseReason::ConnectFailed | CloseReason::ConnectTimeout
                    ) =>
            {
                self.handshake_ended(r, &h, reason);
            }
            Phase::Connecting => {
                self.in_flight = self.in_flight.saturating_sub(1);
                self.count_error(errno);
                let stop = match (reason, errno) {
                    (CloseReason::ConnectTimeout, _) => Stop::ConnectTimeout,
                    (_, Some(libc::ECONNREFUSED)) => Stop::Refused,
                    (_, Some(libc::ENOBUFS | libc::ENOMEM)) => Stop::Memory {
                        errno: errno_name(errno.unwrap_or(0)),
                    },
                    (_, e) => Stop::Other {
                        errno: e.map_or("unknown".into(), errno_name),
                    },
                };
                self.stop_with(r, stop);
            }
            Phase::Verifying => {
                // Closed or reset with its verify byte unanswered: dead, whoever closed.
                let st = st_mut(r);
                st.open = st.open.saturating_sub(1);
                st.dead += 1;
            }
            Phase::Alive | Phase::Late => {
                let st = st_mut(r);
                st.open = st.open.saturating_sub(1);
            }
            Phase::Open | Phase::VerifyDue => {
                let st = st_mut(r);
                st.open = st.open.saturating_sub(1);
                if matches!(
                    reason,
                    CloseReason::Peer
                        | CloseReason::Reset
                        | CloseReason::Protocol
                        | CloseReason::Error
                ) {
                    if st.ramping {
                        st.closed_by_server_ramp += 1;
                        if st.closed_by_server_ramp >= self.spec.server_closes_to_stop {
                            self.stop_with(r, Stop::ServerClosed);
                        }
                    } else {
                        st.closed_by_server_hold += 1;
                    }
                }
            }
        }
    }

    fn timer(&mut self, r: &mut Reactor<Conn>, key: u64) {
        if key == TIMER_RAMP {
            self.ramp(r);
        }
    }

    fn after_turn(&mut self, r: &mut Reactor<Conn>) {
        self.time_out_handshakes(r);
        // A connect that completed moved from in flight to established (over TLS: its
        // handshake done); every one that failed counted an error.
        let done = st(r).established + self.errors.iter().map(|(_, c)| *c).sum::<u64>();
        self.in_flight = self.attempted.saturating_sub(done);
    }
}

/// `t + d`, or a day after `t` when that overflows (a `--hold` of centuries).
fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .or_else(|| t.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(t)
}

/// What `--verify` found.
struct VerifyCounts {
    alive: u64,
    too_slow: u64,
    late: u64,
    dead: u64,
    window: Duration,
}

/// A probe in progress: ramp, then (optionally) wait, then hold and verify.
pub(crate) struct Probe {
    r: Reactor<Conn>,
    host: ProbeHost,
    /// This process's memory, read before the ramp and once it has settled.
    memory: OwnMemory,
    rss_anon_before: Option<u64>,
    rss_anon_held: Option<u64>,
}

impl Probe {
    /// Create the reactor (it uses a few descriptors: count them before predicting).
    pub fn new(spec: ProbeSpec) -> std::io::Result<Probe> {
        let limits = ConnLimits {
            idle_timeout: None,
            // Not the header clock for an unfinished handshake: the reactor leaves a
            // connection whose handshake completed with the header deadline as its idle
            // one, and closes it then (src/conn.rs, read_loop clears HEADER without
            // restarting the clock). The host times handshakes out instead
            // (`ProbeHost::time_out_handshakes`).
            header_timeout: None,
            connect_timeout: Some(spec.connect_timeout),
            linger_timeout: Duration::from_millis(100),
            min_rate: 0,
            ..ConnLimits::default()
        };
        let now = Instant::now();
        let per_source = counts_for(&spec.sources);
        let st = State {
            ramping: true,
            established: 0,
            open: 0,
            peak: 0,
            closed_by_server_ramp: 0,
            closed_by_server_hold: 0,
            alive: 0,
            late: 0,
            dead: 0,
            verify_deadline: None,
            verify_proto: spec.verify_proto,
            verify_request: spec.verify_proto.request(spec.target),
            verify_sent: 0,
            connect: new_histogram(),
            timeline: Vec::new(),
            ramp_start: now,
            per_source,
        };
        let mut r: Reactor<Conn> = Reactor::with_context(
            Config {
                limits,
                ..Config::default()
            },
            TlsContext::new(st),
        )?;
        r.reserve(1 << 16);
        let opts = ConnectOptions {
            bind_no_port: true,
            linger_zero: true,
            ..ConnectOptions::default()
        };
        let live_sources = (0..spec.sources.len()).collect();
        Ok(Probe {
            r,
            host: ProbeHost {
                spec,
                opts,
                live_sources,
                rr: 0,
                attempted: 0,
                in_flight: 0,
                stop: None,
                errors: Vec::new(),
                ramp_start: now,
                handshake_due: std::collections::VecDeque::new(),
            },
            memory: OwnMemory::open(),
            rss_anon_before: None,
            rss_anon_held: None,
        })
    }

    /// Open connections until something stops it, then let the connects still in
    /// flight finish (up to the connect timeout). Returns connections open now.
    pub fn ramp(&mut self) -> std::io::Result<u64> {
        self.rss_anon_before = self.memory.anon_bytes();
        let now = Instant::now();
        self.host.ramp_start = now;
        st_mut(&mut self.r).ramp_start = now;
        self.host.ramp(&mut self.r);
        while self.host.stop.is_none() {
            self.r
                .turn(&mut self.host, Some(Duration::from_millis(50)))?;
        }
        // Settle: connects in flight either complete or time out.
        let settle_until = later(
            Instant::now(),
            self.host
                .spec
                .connect_timeout
                .saturating_add(Duration::from_millis(200)),
        );
        while self.host.in_flight > 0 && Instant::now() < settle_until {
            self.r
                .turn(&mut self.host, Some(Duration::from_millis(50)))?;
        }
        st_mut(&mut self.r).ramping = false;
        // Every connection is held: through the file opened before the ramp, so that a
        // probe at its own descriptor limit still reads it.
        self.rss_anon_held = self.memory.anon_bytes();
        Ok(st(&self.r).open)
    }

    /// Connections open now.
    pub fn open(&self) -> u64 {
        st(&self.r).open
    }

    /// Send the verify request on every open connection, then read the answers until
    /// each is answered or dead, or the deadline and the grace after it have passed.
    fn verify(&mut self) -> std::io::Result<VerifyCounts> {
        let started = Instant::now();
        let sent = if self.host.spec.tls.is_some() {
            self.send_verify_through_tls()?
        } else {
            self.send_verify()
        };
        // No echo has been read yet (the reactor has not turned): the deadline can
        // start from the last byte sent, and be as long as this many answers need.
        let window = verify_window(sent, started.elapsed(), self.host.spec.verify_timeout);
        let deadline = later(Instant::now(), window);
        st_mut(&mut self.r).verify_deadline = Some(deadline);
        let give_up = later(deadline, VERIFY_GRACE);
        loop {
            let st = st(&self.r);
            if st.alive + st.late + st.dead >= sent || Instant::now() >= give_up {
                break;
            }
            self.r
                .turn(&mut self.host, Some(Duration::from_millis(50)))?;
        }
        let st = st(&self.r);
        Ok(VerifyCounts {
            alive: st.alive,
            too_slow: sent.saturating_sub(st.alive).saturating_sub(st.dead),
            late: st.late,
            dead: st.dead,
            window,
        })
    }

    /// Send the verify request on every open connection from the host, returning how
    /// many went out.
    fn send_verify(&mut self) -> u64 {
        let request = self.host.spec.verify_proto.request(self.host.spec.target);
        let ids: Vec<ConnId> = self.r.protocols_mut().0.map(|(id, _)| id).collect();
        let mut sent = 0u64;
        for id in ids {
            match self.r.protocol_mut(id).map(Tls::inner_mut) {
                Some(h) if h.phase == Phase::Open => h.phase = Phase::Verifying,
                _ => continue,
            }
            // The request goes out through the reactor so its buffers and limits apply;
            // a write error closes the connection, which then counts as dead. A
            // connection no longer open (closing) is not sent to: it is not held.
            if self.r.send(id, &request) {
                sent += 1;
            } else if let Some(h) = self.r.protocol_mut(id) {
                h.inner_mut().phase = Phase::Open;
            }
        }
        sent
    }

    /// Over TLS the request must be encrypted, which only the connection's layer can
    /// do: every open connection is made due ([`Phase::VerifyDue`]) and writes it on
    /// its next timer. Turns until none is due, or the verify timeout has passed;
    /// returns how many went out. Answers read meanwhile come before any deadline.
    fn send_verify_through_tls(&mut self) -> std::io::Result<u64> {
        for (_, c) in self.r.protocols_mut().0 {
            let h = c.inner_mut();
            if h.phase == Phase::Open {
                h.phase = Phase::VerifyDue;
            }
        }
        self.r.rearm_timers();
        let give_up = later(Instant::now(), self.host.spec.verify_timeout);
        loop {
            let waiting = self
                .r
                .protocols_mut()
                .0
                .filter(|(_, c)| c.inner().phase == Phase::VerifyDue)
                .count() as u64;
            if waiting == 0 || Instant::now() >= give_up {
                // Those still due did not get their request out: not counted as sent,
                // as a connection closing is not.
                return Ok(st(&self.r).verify_sent);
            }
            self.r
                .turn(&mut self.host, Some(Duration::from_millis(10)))?;
        }
    }

    /// Hold for `hold`, counting connections the server closes, then verify if asked.
    pub(crate) fn hold_and_verify(mut self) -> std::io::Result<ProbeResult> {
        let ramp = Instant::now().saturating_duration_since(self.host.ramp_start);
        let until = later(Instant::now(), self.host.spec.hold);
        loop {
            let now = Instant::now();
            if now >= until {
                break;
            }
            self.r.turn(
                &mut self.host,
                Some((until - now).min(Duration::from_millis(100))),
            )?;
        }
        let held_end = st(&self.r).open;
        let verify = if self.host.spec.verify {
            Some(self.verify()?)
        } else {
            None
        };
        let st = st(&self.r);
        Ok(ProbeResult {
            established: st.established,
            attempted: self.host.attempted,
            closed_by_server_ramp: st.closed_by_server_ramp,
            closed_by_server_hold: st.closed_by_server_hold,
            held_end,
            peak_held: st.peak,
            verified_alive: verify.as_ref().map(|v| v.alive),
            verified_too_slow: verify.as_ref().map(|v| v.too_slow),
            verified_late: verify.as_ref().map(|v| v.late),
            verified_dead: verify.as_ref().map(|v| v.dead),
            verify_window_s: verify.as_ref().map(|v| v.window.as_secs_f64()),
            stop: self.host.stop.clone().unwrap_or(Stop::TimeLimit),
            ramp,
            connect: st.connect.clone(),
            timeline: st.timeline.clone(),
            sources: st.per_source.clone(),
            errors: self.host.errors.clone(),
            handshakes: self
                .host
                .spec
                .tls
                .as_ref()
                .map(|_| Handshakes::of(&self.r.context().stats)),
            rss_anon_before: self.rss_anon_before,
            rss_anon_held: self.rss_anon_held,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_stop_descriptions_name_the_errno() {
        assert!(Stop::Descriptors {
            errno: "EMFILE".into()
        }
        .describe()
        .contains("RLIMIT_NOFILE"));
        assert!(Stop::Descriptors {
            errno: "ENFILE".into()
        }
        .describe()
        .contains("fs.file-max"));
        assert!(Stop::Ports.describe().contains("EADDRNOTAVAIL"));
        assert!(Stop::ConnectTimeout.describe().contains("backlog"));
    }

    #[test]
    fn test_due_saturates_at_absurd_rates() {
        assert_eq!(due_by(Duration::ZERO, 5000.0), 1);
        assert_eq!(due_by(Duration::from_millis(100), 5000.0), 501);
        assert_eq!(due_by(Duration::from_secs(1), 1e20), u64::MAX);
        assert_eq!(due_by(Duration::from_secs(3600), f64::MAX), u64::MAX);
    }

    /// A probe toward `target` that opens `n` connections at 1000/s and verifies them,
    /// waiting `verify_timeout` (before it grows with the count).
    fn verify_spec(target: SocketAddr, n: u64, verify_timeout: Duration) -> ProbeSpec {
        ProbeSpec {
            target,
            connect_rate: 1000.0,
            connect_timeout: Duration::from_secs(2),
            max: Some(n),
            hold: Duration::ZERO,
            verify: true,
            verify_proto: VerifyProto::Echo,
            verify_timeout,
            sources: vec![],
            max_time: Duration::from_secs(10),
            server_closes_to_stop: 10,
            tls: None,
        }
    }

    /// The counts of a result, for assertion messages (its histogram is too long).
    fn counts(r: &ProbeResult) -> String {
        format!(
            "held_end {} alive {:?} dead {:?} stop {:?}",
            r.held_end, r.verified_alive, r.verified_dead, r.stop
        )
    }

    fn run_probe(spec: ProbeSpec) -> ProbeResult {
        let mut p = Probe::new(spec).expect("reactor");
        p.ramp().expect("ramp");
        p.hold_and_verify().expect("hold")
    }

    /// A listener on loopback whose accepted connections take turns: the first echoes
    /// the verify byte at once, the second closes on reading it, the third never
    /// answers, the fourth answers `late`. Every wait is bounded; the threads end when
    /// the probe closes its side.
    fn four_kinds_server(n: usize, late: Duration) -> SocketAddr {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        l.set_nonblocking(true).expect("nonblocking");
        std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(10);
            let mut i = 0;
            while i < n && Instant::now() < until {
                let Ok((mut c, _)) = l.accept() else {
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                };
                let kind = i % 4;
                i += 1;
                std::thread::spawn(move || {
                    let _ = c.set_nonblocking(false);
                    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut b = [0u8; 1];
                    if c.read(&mut b).ok() != Some(1) {
                        return;
                    }
                    match kind {
                        0 => drop(c.write_all(&b)),
                        1 => return,
                        2 => {}
                        _ => {
                            std::thread::sleep(late);
                            let _ = c.write_all(&b);
                        }
                    }
                    // Keep it open until the probe lets go (or the timeout).
                    let _ = c.read(&mut b);
                });
            }
        });
        addr
    }

    #[test]
    fn test_verify_tells_dead_from_too_slow() {
        let target = four_kinds_server(8, Duration::from_millis(500));
        let r = run_probe(verify_spec(target, 8, Duration::from_millis(300)));
        assert_eq!(r.held_end, 8, "{}", counts(&r));
        assert_eq!(r.verified_alive, Some(2), "{}", counts(&r));
        assert_eq!(
            r.verified_dead,
            Some(2),
            "only the closed ones are dead: {}",
            counts(&r)
        );
        assert_eq!(
            r.verified_too_slow,
            Some(4),
            "silent and late: {}",
            counts(&r)
        );
        assert_eq!(r.verified_late, Some(2), "{}", counts(&r));
        let w = r.verify_window_s.unwrap_or(0.0);
        assert!((0.3..0.45).contains(&w), "window {w} s for 8 connections");
    }

    #[test]
    fn test_verify_window_grows_with_the_count_and_the_send_time() {
        let base = Duration::from_secs(3);
        assert_eq!(verify_window(0, Duration::ZERO, base), base);
        assert_eq!(
            verify_window(20_000, Duration::from_millis(40), base),
            Duration::from_secs(13),
            "20,000 echoes at 2,000/s"
        );
        assert_eq!(
            verify_window(100, Duration::from_secs(2), base),
            Duration::from_secs(7),
            "twice a slow send"
        );
        assert_eq!(
            verify_window(u64::MAX, Duration::MAX, Duration::MAX),
            MAX_VERIFY_WINDOW
        );
    }

    #[test]
    fn test_source_not_on_this_machine_is_named_not_ports() {
        let bogus: IpAddr = "192.0.2.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        if check_bindable(bogus).is_ok() {
            eprintln!("skipping: 192.0.2.1 can be bound here (ip_nonlocal_bind, or assigned)");
            return;
        }
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let target = l.local_addr().expect("addr");
        let mut spec = verify_spec(target, 6, Duration::from_millis(100));
        spec.verify = false;
        spec.sources = vec![IpAddr::from([127, 0, 0, 1]), bogus];
        let r = run_probe(spec);
        assert_eq!(
            r.stop,
            Stop::SourceNotLocal {
                source: "192.0.2.1".into()
            },
            "{}",
            counts(&r)
        );
        assert!(
            !r.sources.iter().any(|s| s.exhausted),
            "no source ran out of ports"
        );
        assert!(r.stop.describe().contains("not an address of this machine"));
    }

    #[test]
    fn test_verify_deadline_grows_with_the_count() {
        use readyloop::server::{ProtoKind, Server, ServerConfig};
        let server = Server::bind(ServerConfig {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
            proto: ProtoKind::Echo,
            reactor: Config {
                limits: ConnLimits {
                    idle_timeout: None,
                    header_timeout: None,
                    ..ConnLimits::default()
                },
                ..Config::default()
            },
            ..ServerConfig::default()
        })
        .expect("echo server");
        let target = server.local_addrs()[0];
        let handle = server.handle();
        let t = std::thread::spawn(move || server.run());
        // A base deadline shorter than sending 300 bytes takes: the answers still count.
        let r = run_probe(verify_spec(target, 300, Duration::from_millis(1)));
        handle.stop();
        let _ = t.join();
        assert_eq!(r.held_end, 300, "{}", counts(&r));
        assert_eq!(r.verified_alive, Some(300), "{}", counts(&r));
        assert_eq!(r.verified_dead, Some(0), "{}", counts(&r));
    }
}

#[cfg(test)]
mod tls_tests {
    use super::*;
    use crate::tls_target::{TlsTarget, TlsWish};
    use std::sync::Arc;

    /// `n` connections over TLS (any certificate) toward `target`, at 1000/s.
    fn tls_spec(target: SocketAddr, n: u64, connect_timeout: Duration) -> ProbeSpec {
        let wish = TlsWish {
            insecure: true,
            resume: true,
            ..TlsWish::default()
        };
        let t = TlsTarget::new(&wish, "localhost").expect("client config");
        ProbeSpec {
            target,
            connect_rate: 1000.0,
            connect_timeout,
            max: Some(n),
            hold: Duration::ZERO,
            verify: false,
            verify_proto: VerifyProto::Echo,
            verify_timeout: Duration::from_secs(1),
            sources: vec![],
            max_time: Duration::from_secs(10),
            server_closes_to_stop: 10,
            tls: Some(ProbeTls {
                target: Arc::new(t),
                scheme: "tls",
                child_flags: vec![],
            }),
        }
    }

    fn run_probe(spec: ProbeSpec) -> ProbeResult {
        let mut p = Probe::new(spec).expect("reactor");
        p.ramp().expect("ramp");
        p.hold_and_verify().expect("hold")
    }

    /// A listener whose accepted connections get `answer` (once they say something;
    /// empty: nothing, ever) and are then kept until the probe lets go, or 5 s.
    fn server(answer: &'static [u8]) -> SocketAddr {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        std::thread::spawn(move || {
            for c in l.incoming().take(4) {
                let Ok(mut c) = c else { return };
                std::thread::spawn(move || {
                    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut b = [0u8; 512];
                    if !answer.is_empty() && c.read(&mut b).unwrap_or(0) > 0 {
                        let _ = c.write_all(answer);
                    }
                    // Until the probe closes (or the timeout).
                    while c.read(&mut b).is_ok_and(|n| n > 0) {}
                });
            }
        });
        addr
    }

    #[test]
    fn test_a_server_without_tls_stops_it_with_the_handshake_named() {
        let target = server(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        let r = run_probe(tls_spec(target, 1, Duration::from_secs(3)));
        let Stop::Handshake { failure, detail } = &r.stop else {
            panic!("{:?}", r.stop);
        };
        assert_eq!(failure, "malformed", "{detail}");
        assert_eq!(r.established, 0);
        let h = r.handshakes.expect("counted");
        assert_eq!((h.full, h.failed), (0, 1), "{h:?}");
        assert!(r
            .errors
            .iter()
            .any(|(e, n)| e == "tls_malformed" && *n == 1));
    }

    #[test]
    fn test_a_handshake_never_answered_is_a_handshake_timeout() {
        // Accepted, never answered.
        let target = server(b"");
        let r = run_probe(tls_spec(target, 1, Duration::from_millis(300)));
        assert_eq!(
            r.stop,
            Stop::HandshakeTimeout,
            "{:?} {:?}",
            r.errors,
            r.handshakes
        );
        assert_eq!(r.established, 0);
        assert!(
            r.errors.iter().any(|(e, _)| e == "tls_timeout"),
            "{:?}",
            r.errors
        );
        assert!(r.stop.describe().contains("handshake"));
    }
}
