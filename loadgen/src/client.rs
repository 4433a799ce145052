//! One client connection as a sans-IO state machine, driven by the readyloop reactor:
//! connecting -> (waiting for its due time) -> sending -> awaiting the reply -> ...
//!
//! Open loop (wrk2's rule): request `k` of a connection is due at
//! `start + k / rate_per_connection`. The due time is computed, never re-read from the
//! clock, and latency is recorded twice: from the due time (corrected) and from the
//! actual send (raw). If the reply to request `k` comes after request `k+1` was due,
//! `k+1` is sent at once and its corrected latency carries the wait: that is exactly the
//! coordinated omission a closed-loop tool hides.

use crate::framing::{FrameError, Framer, Framing, Response};
use crate::record::{record_us, us, Censor, ErrorClass, Recorder};
use crate::schedule::{InFlight, Schedule};
use readyloop::protocol::{Cx, Protocol, Step, Verdict};
use std::time::{Duration, Instant};

/// What every client of one worker shares: the reactor's context
/// ([`Protocol::Context`]), lent to each client call, so no slot carries a pointer to
/// it.
#[derive(Debug)]
pub struct Shared {
    /// What to send and when (read-only during the run).
    pub plan: Plan,
    /// What happened (the worker's numbers).
    pub rec: Recorder,
}

/// How every client of one worker behaves.
#[derive(Debug)]
pub struct Plan {
    /// The request bytes, written as one slice each time: one request, or several
    /// sent as a pipeline (see `pipeline`).
    pub request: Vec<u8>,
    /// The requests `request` holds, as their HEAD flags (a HEAD reply has no body):
    /// one reply is expected for each. The books count each request.
    pub pipeline: Vec<bool>,
    /// How replies end.
    pub framing: Framing,
    /// Open loop: interval between requests of one connection. `None`: closed loop.
    pub interval: Option<Duration>,
    /// Close the connection after this many replies (`--per-conn`).
    pub per_conn: Option<u64>,
    /// No complete reply this long after sending: a timeout error, the connection closes.
    pub timeout: Option<Duration>,
    /// When sending begins: `None` while the connections are still being opened (a
    /// connected client waits; the worker sets it once all are open).
    pub start: Option<Instant>,
    /// Record only replies completed at or after this instant (warm-up before it).
    pub record_from: Instant,
    /// Send nothing at or after this instant.
    pub end: Instant,
}

/// Where a client is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `connect()` issued.
    Connecting,
    /// Connected, nothing outstanding: waiting for the next due time (open loop).
    Idle,
    /// A request is out; waiting for its reply.
    Awaiting,
    /// Done (its per-connection budget used, the run over, or an error).
    Finished,
}

/// One client connection.
pub struct Client {
    framer: Framer,
    phase: Phase,
    /// When `connect()` was issued.
    connect_start: Instant,
    /// Open loop: the slot's timeline (carried over from the connection before, if
    /// this one replaces it). `None`: closed loop.
    schedule: Option<Schedule>,
    /// When the requests in flight were due (corrected latency starts there).
    in_flight: InFlight,
    /// When the outstanding request was sent (raw latency starts here).
    sent: Instant,
    /// When the connection last became free to send (connected, or a reply arrived).
    free_since: Instant,
    /// Replies received on this connection.
    replies: u64,
    /// The error that ended this client, if any (recorded when it closes).
    pub error: Option<(ErrorClass, String)>,
}

impl Client {
    /// A client started now, sending on `schedule` (open loop) or as soon as a reply
    /// arrives (`None`: closed loop).
    pub fn new(plan: &Plan, now: Instant, schedule: Option<Schedule>) -> Client {
        let framer = Framer::new(&plan.framing);
        Client {
            framer,
            phase: Phase::Connecting,
            connect_start: now,
            schedule,
            in_flight: InFlight::default(),
            sent: now,
            free_since: now,
            replies: 0,
            error: None,
        }
    }

    /// Where the client is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether a request is outstanding (sent, no reply yet).
    pub fn in_flight(&self) -> bool {
        self.phase == Phase::Awaiting
    }

    /// The slot's timeline (open loop), to shift once the start is known.
    pub fn schedule_mut(&mut self) -> Option<&mut Schedule> {
        self.schedule.as_mut()
    }

    /// The slot's timeline (open loop), handed on to the connection that replaces
    /// this one.
    pub fn into_schedule(self) -> Option<Schedule> {
        self.schedule
    }

    /// Write the request now; `due` is when it was scheduled.
    fn send(&mut self, sh: &mut Shared, out: &mut Vec<u8>, now: Instant, due: Instant) {
        let plan = &sh.plan;
        out.extend_from_slice(&plan.request);
        // The plan holds at most MAX_PIPELINE requests, so all are expected.
        let n = plan
            .pipeline
            .iter()
            .filter(|&&h| self.framer.expect(h))
            .count();
        let pushed = self.in_flight.push(due, n as u32);
        debug_assert!(pushed, "a request sent with the in-flight FIFO full");
        self.sent = now;
        self.phase = Phase::Awaiting;
        let rec = &mut sh.rec;
        rec.sent += n as u64;
        rec.bytes_sent += plan.request.len() as u64;
        if plan.interval.is_some() && now >= plan.record_from {
            // The generator's own lag: how late it sent while it was free to send. A
            // send held back by a slow reply is the server's doing, not ours.
            let from = due.max(self.free_since);
            record_us(&mut rec.send_lag, us(now.saturating_duration_since(from)));
        }
    }

    /// After a reply or on connect: send the next request if it is time.
    fn next(&mut self, sh: &mut Shared, out: &mut Vec<u8>, now: Instant) -> Verdict {
        if sh.plan.start.is_none_or(|s| now < s) {
            // The connect phase: connected, but the run has not started.
            self.phase = Phase::Idle;
            return Verdict::Continue;
        }
        if sh.plan.per_conn.is_some_and(|n| self.replies >= n) || now >= sh.plan.end {
            self.phase = Phase::Finished;
            return Verdict::Close;
        }
        match self.schedule.as_mut() {
            None => self.send(sh, out, now, now),
            Some(s) => {
                if s.next_due() <= now {
                    let due = s.take();
                    self.send(sh, out, now, due);
                } else {
                    self.phase = Phase::Idle;
                }
            }
        }
        Verdict::Continue
    }

    /// Count a complete reply due at `due` (corrected latency) to the request sent at
    /// `self.sent` (raw latency).
    fn record_reply(&self, sh: &mut Shared, now: Instant, due: Instant, resp: Response) {
        let rec = &mut sh.rec;
        rec.completed += 1;
        rec.bytes_received += resp.bytes;
        if let Some(w) = resp.error {
            // Answered, but with a failure: counted where failures are seen.
            rec.error(ErrorClass::RespError, &w.as_string());
        }
        if now >= sh.plan.record_from {
            rec.measured += 1;
            rec.bytes_received_measured += resp.bytes;
            let corrected = us(now.saturating_duration_since(due));
            record_us(&mut rec.corrected, corrected);
            record_us(&mut rec.interval, corrected);
            record_us(&mut rec.raw, us(now.saturating_duration_since(self.sent)));
            if let Some(code) = resp.status {
                rec.status(code);
            }
        }
    }

    fn fail(&mut self, rec: &mut Recorder, class: ErrorClass, detail: &str) -> Verdict {
        // Every request still waiting for its reply failed with the connection.
        rec.failed += self.in_flight.outstanding();
        self.phase = Phase::Finished;
        self.in_flight.clear();
        rec.error(class, detail);
        Verdict::Close
    }

    fn framing_error(&mut self, rec: &mut Recorder, e: FrameError) -> Verdict {
        self.fail(rec, ErrorClass::Framing, e.kind())
    }

    /// The reactor closed this connection with the client in its current phase:
    /// account for the requests outstanding. A close with an error class (reset,
    /// timeout, the server closing) failed them; a close without one (the reactor
    /// shutting down, the host closing it) did not: they count as in flight at the
    /// end, so the books balance either way. Returns whether one was in flight.
    pub fn on_closed(&mut self, rec: &mut Recorder, class: Option<(ErrorClass, String)>) -> bool {
        let in_flight = self.phase == Phase::Awaiting;
        match class {
            Some((class, detail)) => {
                rec.error(class, &detail);
                rec.failed += self.in_flight.outstanding();
            }
            None => rec.in_flight_end += self.in_flight.outstanding(),
        }
        self.phase = Phase::Finished;
        self.in_flight.clear();
        in_flight
    }

    /// The run ended at `end` with this client still open: an outstanding request is
    /// in flight (not an error) and censored at its age; requests that fell due and
    /// were never sent are censored too (see [`Censored`](crate::record::Censored)).
    pub fn on_run_end(&mut self, sh: &mut Shared, end: Instant) {
        let rec = &mut sh.rec;
        rec.in_flight_end += self.in_flight.outstanding();
        if end >= sh.plan.record_from {
            for (due, n) in self.in_flight.entries() {
                rec.censor(
                    Censor::Unfinished,
                    us(end.saturating_duration_since(due)),
                    u64::from(n),
                );
            }
        }
        if let Some(s) = self.schedule.as_mut() {
            rec.censor_unsent(s, sh.plan.record_from, end);
        }
        self.phase = Phase::Finished;
        self.in_flight.clear();
    }
}

impl Protocol for Client {
    type Context = Shared;

    fn on_connected(&mut self, out: &mut Vec<u8>, cx: &mut Cx<Shared>) -> Verdict {
        let sh = &mut *cx.ctx;
        self.free_since = cx.now;
        sh.rec.connects_ok += 1;
        if cx.now >= sh.plan.record_from {
            record_us(
                &mut sh.rec.connect,
                us(cx.now.saturating_duration_since(self.connect_start)),
            );
        }
        self.next(sh, out, cx.now)
    }

    fn on_input(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        _budget: usize,
        cx: &mut Cx<Shared>,
    ) -> Step {
        let sh = &mut *cx.ctx;
        let mut used = 0;
        // Every byte of `input` was read before this call, so before any request this
        // call sends: once one is sent here, what is left cannot be its answer.
        let mut sent_here = false;
        while used < input.len() {
            if self.phase != Phase::Awaiting || sent_here {
                let detail = if sent_here {
                    "bytes before the request was sent"
                } else {
                    "bytes with no request outstanding"
                };
                let v = self.fail(&mut sh.rec, ErrorClass::Unsolicited, detail);
                return Step {
                    consumed: input.len(),
                    verdict: v,
                };
            }
            let feed = match self.framer.feed(&input[used..], &sh.plan.request) {
                Ok(f) => f,
                Err(e) => {
                    let v = self.framing_error(&mut sh.rec, e);
                    return Step {
                        consumed: input.len(),
                        verdict: v,
                    };
                }
            };
            used += feed.consumed;
            let Some(resp) = feed.done else {
                break; // needs more bytes; the reactor keeps what was not consumed
            };
            let now = cx.now;
            self.replies += 1;
            // The reply answers the oldest request in flight.
            let due = self.in_flight.answer().unwrap_or(self.sent);
            self.record_reply(sh, now, due, resp);
            if !self.in_flight.is_empty() {
                if resp.close {
                    // The server closes with replies of the pipeline still owed.
                    let v = self.fail(&mut sh.rec, ErrorClass::Closed, "closed mid-pipeline");
                    return Step {
                        consumed: input.len(),
                        verdict: v,
                    };
                }
                continue; // the next reply of the same pipeline
            }
            self.phase = Phase::Idle;
            self.free_since = now;
            if resp.close {
                // The server said it closes: finish cleanly, the host reconnects.
                self.phase = Phase::Finished;
                return Step {
                    consumed: input.len(),
                    verdict: Verdict::Close,
                };
            }
            let v = self.next(sh, out, now);
            if v != Verdict::Continue {
                return Step {
                    consumed: input.len(),
                    verdict: v,
                };
            }
            sent_here = self.phase == Phase::Awaiting;
            if feed.consumed == 0 {
                break;
            }
        }
        Step::cont(used)
    }

    fn on_eof(&mut self, _out: &mut Vec<u8>, cx: &mut Cx<Shared>) -> Verdict {
        let sh = &mut *cx.ctx;
        match self.framer.on_eof() {
            Ok(Some(resp)) if self.phase == Phase::Awaiting => {
                // A reply that ends at close (HTTP without a length).
                self.replies += 1;
                let due = self.in_flight.answer().unwrap_or(self.sent);
                self.record_reply(sh, cx.now, due, resp);
                if !self.in_flight.is_empty() {
                    return self.fail(&mut sh.rec, ErrorClass::Closed, "closed mid-pipeline");
                }
                self.phase = Phase::Finished;
                Verdict::Close
            }
            Err(e) => self.framing_error(&mut sh.rec, e),
            _ if self.phase == Phase::Awaiting => self.fail(&mut sh.rec, ErrorClass::Closed, "eof"),
            _ => {
                self.phase = Phase::Finished;
                Verdict::Close
            }
        }
    }

    fn poll_at(&self, sh: &Shared) -> Option<Instant> {
        match (self.phase, &self.schedule) {
            // Before the start is known, nothing to wake for (the worker re-arms).
            (Phase::Idle, _) if sh.plan.start.is_none() => None,
            (Phase::Idle, Some(s)) => Some(s.next_due().min(sh.plan.end)),
            // Closed loop, connected before the start: send at the start.
            (Phase::Idle, None) => sh.plan.start,
            (Phase::Awaiting, _) => sh.plan.timeout.map(|t| self.sent + t),
            _ => None,
        }
    }

    fn on_timer(&mut self, out: &mut Vec<u8>, cx: &mut Cx<Shared>) -> Verdict {
        let sh = &mut *cx.ctx;
        match self.phase {
            Phase::Idle => self.next(sh, out, cx.now),
            Phase::Awaiting if sh.plan.timeout.is_some_and(|t| cx.now >= self.sent + t) => {
                if cx.now >= sh.plan.record_from {
                    // What it waited is a lower bound of its latency.
                    for (due, n) in self.in_flight.entries() {
                        let age = us(cx.now.saturating_duration_since(due));
                        sh.rec.censor(Censor::TimedOut, age, u64::from(n));
                    }
                }
                self.fail(&mut sh.rec, ErrorClass::Timeout, "response timeout")
            }
            _ => Verdict::Continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::Rate;

    const REQ: &[u8] = b"ping\n";

    #[track_caller]
    fn client(t0: Instant, interval: Option<Duration>, per_conn: Option<u64>) -> (Client, Shared) {
        let plan = Plan {
            request: REQ.to_vec(),
            pipeline: vec![false],
            framing: Framing::Line,
            interval,
            per_conn,
            timeout: Some(Duration::from_secs(1)),
            start: Some(t0),
            record_from: t0,
            end: t0 + Duration::from_secs(100),
        };
        let schedule = interval.map(|iv| Schedule::new(t0, Rate::every(iv)));
        let c = Client::new(&plan, t0, schedule);
        (
            c,
            Shared {
                plan,
                rec: Recorder::default(),
            },
        )
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn test_closed_loop_connected_sends_then_reply_sends_next() {
        let t0 = Instant::now();
        let (mut c, mut sh) = client(t0, None, None);
        let mut out = Vec::new();
        assert_eq!(
            c.on_connected(&mut out, &mut Cx::new(t0 + ms(1), &mut sh)),
            Verdict::Continue
        );
        assert_eq!(out, REQ);
        assert!(c.in_flight());
        out.clear();
        let step = c.on_input(
            b"pong\n",
            &mut out,
            usize::MAX,
            &mut Cx::new(t0 + ms(3), &mut sh),
        );
        assert_eq!(step, Step::cont(5));
        assert_eq!(out, REQ, "the next request goes out with the reply");
        let r = &sh.rec;
        assert_eq!((r.sent, r.completed, r.measured), (2, 1, 1));
        assert_eq!(
            r.raw.max(),
            r.corrected.max(),
            "closed loop: corrected == raw"
        );
        assert!(
            r.raw.equivalent(r.raw.max(), 2000),
            "2 ms from send to reply"
        );
        assert_eq!(r.connect.len(), 1);
    }

    #[test]
    fn test_open_loop_waits_for_due_time_and_corrects_late_replies() {
        let t0 = Instant::now();
        let (mut c, mut sh) = client(t0, Some(ms(10)), None);
        let mut out = Vec::new();
        // Connected at t0: request 0 is due at t0, sent at once.
        c.on_connected(&mut out, &mut Cx::new(t0, &mut sh));
        assert_eq!(out, REQ);
        out.clear();
        // Reply at t0+2ms: request 1 is due at t0+10ms, so nothing is sent yet.
        c.on_input(
            b"ok\n",
            &mut out,
            usize::MAX,
            &mut Cx::new(t0 + ms(2), &mut sh),
        );
        assert!(out.is_empty());
        assert_eq!(c.phase(), Phase::Idle);
        assert_eq!(c.poll_at(&sh), Some(t0 + ms(10)));
        // The timer fires on time: request 1 goes out.
        c.on_timer(&mut out, &mut Cx::new(t0 + ms(10), &mut sh));
        assert_eq!(out, REQ);
        out.clear();
        // Its reply takes 25 ms: requests 2 (t0+20) and 3 (t0+30) fell due meanwhile.
        c.on_input(
            b"ok\n",
            &mut out,
            usize::MAX,
            &mut Cx::new(t0 + ms(35), &mut sh),
        );
        assert_eq!(out, REQ, "request 2 is sent at once, late");
        out.clear();
        c.on_input(
            b"ok\n",
            &mut out,
            usize::MAX,
            &mut Cx::new(t0 + ms(36), &mut sh),
        );
        assert_eq!(out, REQ, "request 3 too");
        let r = &sh.rec;
        // Corrected: request 0 2 ms, request 1 25 ms, request 2 (due t0+20, done t0+36)
        // 16 ms. Raw: 2 ms, 25 ms, and 1 ms for request 2 (sent t0+35): raw hides the wait.
        assert_eq!(r.corrected.len(), 3);
        assert_eq!(
            r.corrected.count_between(15_900, 16_100),
            1,
            "request 2 corrected 16 ms"
        );
        assert_eq!(
            r.corrected.count_between(24_900, 25_100),
            1,
            "request 1 corrected 25 ms"
        );
        assert_eq!(r.raw.count_between(900, 1_100), 1, "request 2 raw 1 ms");
        assert_eq!(
            r.raw.count_between(15_000, 17_000),
            0,
            "raw never sees the 16 ms"
        );
        // The generator itself was never late while free: lags are 0 (request 0, 1) and 0
        // for sends held back by a slow reply.
        assert!(r.send_lag.max() <= 1, "send lag {}", r.send_lag.max());
    }

    #[test]
    fn test_per_conn_closes_after_n_replies() {
        let t0 = Instant::now();
        let (mut c, mut sh) = client(t0, None, Some(2));
        let mut out = Vec::new();
        c.on_connected(&mut out, &mut Cx::new(t0, &mut sh));
        assert_eq!(
            c.on_input(b"a\n", &mut out, usize::MAX, &mut Cx::new(t0, &mut sh))
                .verdict,
            Verdict::Continue
        );
        let step = c.on_input(b"b\n", &mut out, usize::MAX, &mut Cx::new(t0, &mut sh));
        assert_eq!(step.verdict, Verdict::Close);
        assert_eq!(c.phase(), Phase::Finished);
        assert_eq!(sh.rec.completed, 2);
        assert!(sh.rec.books_balance());
    }

    #[test]
    fn test_timeout_fails_the_outstanding_request() {
        let t0 = Instant::now();
        let (mut c, mut sh) = client(t0, None, None);
        let mut out = Vec::new();
        c.on_connected(&mut out, &mut Cx::new(t0, &mut sh));
        assert_eq!(c.poll_at(&sh), Some(t0 + Duration::from_secs(1)));
        assert_eq!(
            c.on_timer(&mut out, &mut Cx::new(t0 + ms(1500), &mut sh)),
            Verdict::Close
        );
        let r = &sh.rec;
        assert_eq!(r.errors_of(ErrorClass::Timeout), 1);
        assert_eq!((r.sent, r.failed), (1, 1));
        assert!(r.books_balance());
    }

    #[test]
    fn test_eof_with_request_outstanding_is_an_error() {
        let t0 = Instant::now();
        let (mut c, mut sh) = client(t0, None, None);
        let mut out = Vec::new();
        c.on_connected(&mut out, &mut Cx::new(t0, &mut sh));
        assert_eq!(
            c.on_eof(&mut out, &mut Cx::new(t0, &mut sh)),
            Verdict::Close
        );
        assert_eq!(sh.rec.errors_of(ErrorClass::Closed), 1);
        assert!(sh.rec.books_balance());
    }

    #[test]
    fn test_unexpected_bytes_are_a_framing_error() {
        let t0 = Instant::now();
        let (mut c, mut sh) = client(t0, None, Some(1));
        let mut out = Vec::new();
        c.on_connected(&mut out, &mut Cx::new(t0, &mut sh));
        // One reply plus stray bytes: the reply counts, the stray bytes do not.
        let step = c.on_input(
            b"ok\nextra",
            &mut out,
            usize::MAX,
            &mut Cx::new(t0, &mut sh),
        );
        assert_eq!(step.verdict, Verdict::Close);
        assert_eq!(sh.rec.completed, 1);
    }

    #[test]
    fn test_close_counts_outstanding_requests_by_its_reason() {
        let t0 = Instant::now();
        // A reset with a request out: failed, with its error.
        let (mut c, mut sh) = client(t0, None, None);
        c.on_connected(&mut Vec::new(), &mut Cx::new(t0, &mut sh));
        assert!(c.on_closed(&mut sh.rec, Some((ErrorClass::Reset, "ECONNRESET".into()))));
        assert_eq!((sh.rec.failed, sh.rec.in_flight_end), (1, 0));
        assert!(sh.rec.books_balance());
        // Closed without an error (shutdown): not a failure, still in the books.
        let (mut c, mut sh) = client(t0, None, None);
        c.on_connected(&mut Vec::new(), &mut Cx::new(t0, &mut sh));
        assert!(c.on_closed(&mut sh.rec, None));
        assert_eq!((sh.rec.failed, sh.rec.in_flight_end), (0, 1));
        assert_eq!(sh.rec.error_total(), 0);
        assert!(sh.rec.books_balance());
    }

    #[test]
    fn test_reply_split_at_every_byte() {
        let t0 = Instant::now();
        let reply = b"a longer line of reply\n";
        for cut in 1..reply.len() {
            let (mut c, mut sh) = client(t0, None, None);
            let mut out = Vec::new();
            c.on_connected(&mut out, &mut Cx::new(t0, &mut sh));
            let s1 = c.on_input(
                &reply[..cut],
                &mut out,
                usize::MAX,
                &mut Cx::new(t0, &mut sh),
            );
            // The reactor keeps what was not consumed and offers it again with the rest.
            let mut rest = reply[s1.consumed..cut].to_vec();
            rest.extend_from_slice(&reply[cut..]);
            let s2 = c.on_input(&rest, &mut out, usize::MAX, &mut Cx::new(t0, &mut sh));
            assert_eq!(s2.consumed, rest.len(), "cut {cut}");
            assert_eq!(sh.rec.completed, 1, "cut {cut}");
        }
    }
}
