//! The ramp: open connections at a fixed rate until something stops it, hold them,
//! and classify what stopped it ([`Stop`]).
//!
//! Each connection is a `Held` protocol on one [`Reactor`]; their counters live in the
//! reactor's context (`State`), so a connection needs no pointer back to them. The
//! host (`ProbeHost`) paces the connects and turns every failed connect or early close
//! into a [`Stop`]. [`Probe`] drives it: ramp, hold, verify, then a [`ProbeResult`].

use super::sources::{counts_for, SourceCount};
use crate::record::{new_histogram, record_us, us};
use hdrhistogram::Histogram;
use readyloop::protocol::{Cx, Protocol, Step, Verdict};
use readyloop::stats::errno_name;
use readyloop::{CloseReason, Config, ConnId, ConnLimits, ConnectOptions, Host, Reactor};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// What to probe and how.
#[derive(Clone, Debug)]
pub struct ProbeSpec {
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
    /// At the end, check every held connection still answers (echo one byte).
    pub verify: bool,
    /// How long to wait for the verify echoes.
    pub verify_timeout: Duration,
    /// Source addresses, round robin (empty: the kernel's choice).
    pub sources: Vec<IpAddr>,
    /// Upper bound on the ramp, whatever happens.
    pub max_time: Duration,
    /// This many connections closed by the server during the ramp stop it.
    pub server_closes_to_stop: u64,
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
        }
    }
}

/// What one probe process measured.
///
/// A `--procs` child sends it to its parent as the JSON of its `RESULT` line, hence
/// the serde derives; the field names (`ramp_s`, `connect_hist`) are that line's.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProbeResult {
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
    /// With `--verify`: held connections that echoed.
    pub verified_alive: Option<u64>,
    /// With `--verify`: held connections that did not answer in time (queued, never
    /// accepted, or dead).
    pub verified_dead: Option<u64>,
    /// Why the ramp stopped.
    pub stop: Stop,
    /// Ramp duration.
    #[serde(rename = "ramp_s", with = "super::procs::secs_f64")]
    pub ramp: Duration,
    /// Connect times, us.
    #[serde(rename = "connect_hist", with = "super::procs::hist_base64")]
    pub connect: Histogram<u64>,
    /// Connections established per 100 ms of the ramp.
    pub timeline: Vec<u64>,
    /// Per source address.
    pub sources: Vec<SourceCount>,
    /// Errors seen (errno name, count), including the one that stopped it.
    pub errors: Vec<(String, u64)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Connecting,
    Open,
    Verifying,
    Alive,
    Dead,
}

/// One held connection: connecting, then open, then (with `--verify`) waiting for the
/// echo of one byte.
struct Held {
    src: usize,
    started: Instant,
    phase: Phase,
    verify_deadline: Option<Instant>,
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
    dead: u64,
    connect: Histogram<u64>,
    timeline: Vec<u64>,
    ramp_start: Instant,
    per_source: Vec<SourceCount>,
}

const VERIFY_BYTE: u8 = b'v';

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
        let bucket = (cx.now.saturating_duration_since(st.ramp_start).as_millis() / 100) as usize;
        if st.timeline.len() <= bucket {
            st.timeline.resize(bucket + 1, 0);
        }
        st.timeline[bucket] += 1;
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
        if self.phase == Phase::Verifying && input.contains(&VERIFY_BYTE) {
            self.phase = Phase::Alive;
            cx.ctx.alive += 1;
        }
        // Anything else the server says (a greeting, a 503) is read and dropped.
        Step::cont(input.len())
    }

    fn on_eof(&mut self, _out: &mut Vec<u8>, _cx: &mut Cx<State>) -> Verdict {
        Verdict::Close
    }

    fn poll_at(&self, _st: &State) -> Option<Instant> {
        (self.phase == Phase::Verifying)
            .then_some(self.verify_deadline)
            .flatten()
    }

    fn on_timer(&mut self, _out: &mut Vec<u8>, cx: &mut Cx<State>) -> Verdict {
        if self.phase == Phase::Verifying {
            self.phase = Phase::Dead;
            cx.ctx.dead += 1;
        }
        Verdict::Continue
    }
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
}

const TIMER_RAMP: u64 = 1;
/// How often the ramp opens its due connections.
const TICK: Duration = Duration::from_millis(1);

impl ProbeHost {
    fn count_error(&mut self, errno: Option<i32>) {
        let name = errno.map_or_else(|| "timeout".to_string(), errno_name);
        match self.errors.iter_mut().find(|(n, _)| *n == name) {
            Some((_, c)) => *c += 1,
            None => self.errors.push((name, 1)),
        }
    }

    fn stop_with(&mut self, r: &mut Reactor<Held>, s: Stop) {
        if self.stop.is_none() {
            self.stop = Some(s);
        }
        r.context_mut().ramping = false;
    }

    /// Open the connections due by now (rate x elapsed), one tick at a time.
    fn ramp(&mut self, r: &mut Reactor<Held>) {
        if self.stop.is_some() {
            return;
        }
        let now = r.now();
        let elapsed = now.saturating_duration_since(self.ramp_start);
        if elapsed > self.spec.max_time {
            self.stop_with(r, Stop::TimeLimit);
            return;
        }
        let due = (elapsed.as_secs_f64() * self.spec.connect_rate) as u64 + 1;
        // Bounded work per tick: when connect() itself gets slow (the odd-port search),
        // a catch-up loop would starve the reactor, and connects that completed would
        // sit unnoticed past their timeout. Falling behind the rate is reported instead.
        let mut budget = 256;
        while self.attempted < due && budget > 0 {
            budget -= 1;
            if self
                .spec
                .max
                .is_some_and(|m| r.context().established + self.in_flight >= m)
            {
                if self.in_flight == 0 {
                    self.stop_with(r, Stop::Max);
                }
                break;
            }
            let src = if self.spec.sources.is_empty() {
                0
            } else {
                if self.live_sources.is_empty() {
                    self.stop_with(r, Stop::Ports);
                    return;
                }
                let i = self.live_sources[self.rr % self.live_sources.len()];
                self.rr += 1;
                self.opts.source = Some(self.spec.sources[i]);
                i
            };
            let held = Held {
                src,
                started: now,
                phase: Phase::Connecting,
                verify_deadline: None,
            };
            self.attempted += 1;
            match r.connect(self.spec.target, &self.opts, held) {
                Ok(_) => self.in_flight += 1,
                Err((e, _)) => {
                    let errno = e.raw_os_error();
                    self.count_error(errno);
                    match errno {
                        Some(libc::EADDRNOTAVAIL) => {
                            if let Some(s) = r.context_mut().per_source.get_mut(src) {
                                s.exhausted = true;
                            }
                            self.live_sources.retain(|&i| i != src);
                            if self.spec.sources.is_empty() || self.live_sources.is_empty() {
                                self.stop_with(r, Stop::Ports);
                                return;
                            }
                        }
                        Some(libc::EMFILE | libc::ENFILE) => {
                            self.stop_with(
                                r,
                                Stop::Descriptors {
                                    errno: errno_name(errno.unwrap_or(0)),
                                },
                            );
                            return;
                        }
                        Some(libc::ENOBUFS | libc::ENOMEM) => {
                            self.stop_with(
                                r,
                                Stop::Memory {
                                    errno: errno_name(errno.unwrap_or(0)),
                                },
                            );
                            return;
                        }
                        Some(libc::ECONNREFUSED) => {
                            self.stop_with(r, Stop::Refused);
                            return;
                        }
                        other => {
                            self.stop_with(
                                r,
                                Stop::Other {
                                    errno: other.map_or("unknown".into(), errno_name),
                                },
                            );
                            return;
                        }
                    }
                }
            }
        }
        r.set_timer(now + TICK, TIMER_RAMP);
    }
}

impl Host<Held> for ProbeHost {
    fn closed(
        &mut self,
        r: &mut Reactor<Held>,
        _id: ConnId,
        h: Held,
        reason: CloseReason,
        errno: Option<i32>,
    ) {
        match h.phase {
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
            _ => {
                let st = r.context_mut();
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

    fn timer(&mut self, r: &mut Reactor<Held>, key: u64) {
        if key == TIMER_RAMP {
            self.ramp(r);
        }
    }

    fn after_turn(&mut self, r: &mut Reactor<Held>) {
        // A connect that completed moved from in flight to established.
        let done = r.context().established + self.errors.iter().map(|(_, c)| *c).sum::<u64>();
        self.in_flight = self.attempted.saturating_sub(done);
    }
}

/// A probe in progress: ramp, then (optionally) wait, then hold and verify.
pub struct Probe {
    r: Reactor<Held>,
    host: ProbeHost,
}

impl Probe {
    /// Create the reactor (it uses a few descriptors: count them before predicting).
    pub fn new(spec: ProbeSpec) -> std::io::Result<Probe> {
        let limits = ConnLimits {
            idle_timeout: None,
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
            dead: 0,
            connect: new_histogram(),
            timeline: Vec::new(),
            ramp_start: now,
            per_source,
        };
        let mut r: Reactor<Held> = Reactor::with_context(
            Config {
                limits,
                ..Config::default()
            },
            st,
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
            },
        })
    }

    /// Open connections until something stops it, then let the connects still in
    /// flight finish (up to the connect timeout). Returns connections open now.
    pub fn ramp(&mut self) -> std::io::Result<u64> {
        let now = Instant::now();
        self.host.ramp_start = now;
        self.r.context_mut().ramp_start = now;
        self.host.ramp(&mut self.r);
        while self.host.stop.is_none() {
            self.r
                .turn(&mut self.host, Some(Duration::from_millis(50)))?;
        }
        // Settle: connects in flight either complete or time out.
        let settle_until =
            Instant::now() + self.host.spec.connect_timeout + Duration::from_millis(200);
        while self.host.in_flight > 0 && Instant::now() < settle_until {
            self.r
                .turn(&mut self.host, Some(Duration::from_millis(50)))?;
        }
        self.r.context_mut().ramping = false;
        Ok(self.r.context().open)
    }

    /// Connections open now.
    pub fn open(&self) -> u64 {
        self.r.context().open
    }

    /// Hold for `hold`, counting connections the server closes, then verify if asked.
    pub fn hold_and_verify(mut self) -> std::io::Result<ProbeResult> {
        let ramp = Instant::now().saturating_duration_since(self.host.ramp_start);
        let until = Instant::now() + self.host.spec.hold;
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
        let held_end = self.r.context().open;
        let (mut alive, mut dead) = (None, None);
        if self.host.spec.verify {
            let deadline = Instant::now() + self.host.spec.verify_timeout;
            let ids: Vec<ConnId> = self.r.protocols_mut().0.map(|(id, _)| id).collect();
            for id in ids {
                if let Some(h) = self.r.protocol_mut(id) {
                    if h.phase == Phase::Open {
                        h.phase = Phase::Verifying;
                        h.verify_deadline = Some(deadline);
                    }
                }
                // The byte goes out through the reactor so its buffers and limits apply.
                self.r.send(id, &[VERIFY_BYTE]);
            }
            loop {
                let (a, d) = {
                    let st = self.r.context();
                    (st.alive, st.dead)
                };
                if a + d >= held_end || Instant::now() > deadline + Duration::from_millis(200) {
                    break;
                }
                self.r
                    .turn(&mut self.host, Some(Duration::from_millis(50)))?;
            }
            let st = self.r.context();
            alive = Some(st.alive);
            dead = Some(held_end.saturating_sub(st.alive));
        }
        let st = self.r.context();
        Ok(ProbeResult {
            established: st.established,
            attempted: self.host.attempted,
            closed_by_server_ramp: st.closed_by_server_ramp,
            closed_by_server_hold: st.closed_by_server_hold,
            held_end,
            peak_held: st.peak,
            verified_alive: alive,
            verified_dead: dead,
            stop: self.host.stop.clone().unwrap_or(Stop::TimeLimit),
            ramp,
            connect: st.connect.clone(),
            timeline: st.timeline.clone(),
            sources: st.per_source.clone(),
            errors: self.host.errors.clone(),
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
}
