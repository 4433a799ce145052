//! One client connection as a sans-IO state machine, driven by the readyloop reactor:
//! connecting -> (waiting for its due time) -> sending -> awaiting the replies -> ...
//!
//! Open loop (wrk2's rule): request `k` of a connection is due at
//! `start + k / rate_per_connection`. The due time is computed, never re-read from the
//! clock, and latency is recorded twice: from the due time (corrected) and from the
//! actual send (raw). If the reply to request `k` comes after request `k+1` was due,
//! `k+1` is sent at once and its corrected latency carries the wait: that is exactly the
//! coordinated omission a closed-loop tool hides.
//!
//! With `--pipeline D` a connection keeps up to D requests in flight, answered in order:
//! closed loop sends D at once and one more per reply; open loop sends each request at
//! its due time while fewer than D are out. With `-n N` the requests sent after the
//! warm-up are taken from one budget shared by every connection of every worker; once it
//! is spent a client sends nothing more and its timeline ends (the requests it would
//! have sent are not owed: N were sent).

use crate::answer::Sample;
use crate::framing::{FrameError, Framer, Framing, Response};
use crate::phases::Phase as Timed;
use crate::record::{record_us, us, Censor, ErrorClass, Recorder};
use crate::schedule::{InFlight, Schedule, Sent};
use readyloop::protocol::{Cx, Protocol, Step, Verdict};
use readyloop::tls::{Handshake, OverTls};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What every client of one worker shares: the reactor's context
/// ([`Protocol::Context`]), lent to each client call, so no slot carries a pointer to
/// it.
#[derive(Debug)]
pub(crate) struct Shared {
    /// What to send and when (read-only during the run).
    pub plan: Plan,
    /// What happened (the worker's numbers).
    pub rec: Recorder,
    /// `--targets`: chooses each write's entry (`None` without a mix).
    pub picker: Option<crate::mix::Picker>,
}

/// How every client of one worker behaves.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The request bytes, written as one slice each time: one request, or several
    /// sent as a pipeline (see `pipeline`).
    pub request: Vec<u8>,
    /// The requests `request` holds, as their HEAD flags (a HEAD reply has no body):
    /// one reply is expected for each. The books count each request.
    pub pipeline: Vec<bool>,
    /// How replies end.
    pub framing: Framing,
    /// `--targets`: the requests to choose from at each write (then `request` is
    /// unused).
    pub mix: Option<Arc<crate::mix::Mix>>,
    /// Open loop: interval between requests of one connection. `None`: closed loop.
    pub interval: Option<Duration>,
    /// Writes of `request` one connection may have in flight (`--pipeline`, >= 1).
    pub depth: usize,
    /// `-n`: requests still to send after the warm-up, shared by all workers.
    pub budget: Option<Arc<AtomicU64>>,
    /// `--stages`: the rate over time (replies are counted per stage).
    pub profile: Option<Arc<crate::schedule::Profile>>,
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

impl Plan {
    /// Take `n` requests from the `-n` budget for a send at `now`: `Some(counted)`
    /// if it may go (counted: it is one of the N), `None` once the budget is spent.
    /// Sends of the warm-up take nothing and are not counted.
    fn take_budget(&self, now: Instant, n: u64) -> Option<bool> {
        let Some(b) = &self.budget else {
            return Some(false);
        };
        if now < self.record_from {
            return Some(false);
        }
        b.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
            left.checked_sub(n)
        })
        .ok()
        .map(|_| true)
    }

    /// Whether `now` is in the warm-up (after the start, before measuring): what a
    /// connection does then is discarded, as the replies are. The connect phase before
    /// the start is not the warm-up: its connects are timed.
    fn in_warmup(&self, now: Instant) -> bool {
        self.start.is_some_and(|s| now >= s) && now < self.record_from
    }

    /// Whether a `-n` budget was given and is spent.
    pub(crate) fn budget_spent(&self) -> bool {
        self.budget
            .as_ref()
            .is_some_and(|b| b.load(Ordering::Relaxed) == 0)
    }
}

/// Where a client is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// `connect()` issued.
    Connecting,
    /// Connected, nothing outstanding: waiting for the next due time (open loop).
    Idle,
    /// Requests are out; waiting for their replies (with `--pipeline`, the next may
    /// still go out when it falls due).
    Awaiting,
    /// Done (its per-connection budget used, the run over, or an error).
    Finished,
}

/// One client connection.
pub(crate) struct Client {
    framer: Framer,
    phase: Phase,
    /// When `connect()` was issued.
    connect_start: Instant,
    /// When the connection was established: the TLS handshake's start.
    connected_at: Option<Instant>,
    /// When the first byte of the reply being read (the oldest in flight's) was
    /// offered: its time to first byte ends there and its transfer starts. Kept until
    /// the reply completes, so bytes the reactor offers again do not move it.
    first_byte: Option<Instant>,
    /// Open loop: the slot's timeline (carried over from the connection before, if
    /// this one replaces it). `None`: closed loop.
    schedule: Option<Schedule>,
    /// The requests in flight: when each was due and sent.
    in_flight: InFlight,
    /// When the connection last had room to send (connected, or a reply arrived).
    free_since: Instant,
    /// Replies received on this connection.
    replies: u64,
    /// Bytes of the connection's input consumed so far: where a sample of what the
    /// server sent instead of a reply starts ([`crate::answer::Sample`]).
    read: u64,
    /// Writes of the request on this connection (`--per-conn` counts them).
    writes: u64,
    /// The `-n` budget is spent: this client sends nothing more.
    drained: bool,
    /// Closed-loop stages lowered the target: close after the replies in flight.
    retiring: bool,
    /// The class of the error that ended this client, if any (see
    /// [`Client::protocol_failure`]).
    ended_by: Option<ErrorClass>,
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
            connected_at: None,
            first_byte: None,
            schedule,
            in_flight: InFlight::with_depth(plan.depth),
            free_since: now,
            replies: 0,
            read: 0,
            writes: 0,
            drained: false,
            retiring: false,
            ended_by: None,
        }
    }

    /// Close once the replies in flight are in (closed-loop stages lowered the
    /// target); the worker does not reopen its slot.
    pub(crate) fn retire(&mut self) {
        self.retiring = true;
    }

    /// Whether this connection ended in a way that says the server does not speak
    /// the chosen protocol: bytes that are no reply (a framing error, bytes answering
    /// no request, a TLS handshake that failed), or a close or reset before its first
    /// reply. The worker backs off
    /// reconnecting after these, as after failed connects: a server of another
    /// protocol accepts every connection and fails each at once.
    pub(crate) fn protocol_failure(&self) -> bool {
        match self.ended_by {
            Some(ErrorClass::Framing | ErrorClass::Unsolicited | ErrorClass::Tls) => true,
            Some(ErrorClass::Closed | ErrorClass::Reset) => self.replies == 0,
            _ => false,
        }
    }

    /// Whether it was retired.
    pub(crate) fn retiring(&self) -> bool {
        self.retiring
    }

    /// Where the client is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether a request is outstanding (sent, no reply yet).
    #[cfg(test)]
    pub fn in_flight(&self) -> bool {
        !self.in_flight.is_empty()
    }

    /// When the oldest request in flight was written.
    pub(crate) fn oldest_sent_at(&self) -> Option<Instant> {
        self.in_flight.oldest().map(|s| s.at)
    }

    /// The slot's timeline (open loop), to shift once the start is known.
    pub(crate) fn schedule_mut(&mut self) -> Option<&mut Schedule> {
        self.schedule.as_mut()
    }

    /// The slot's timeline (open loop), handed on to the connection that replaces
    /// this one.
    pub(crate) fn into_schedule(self) -> Option<Schedule> {
        self.schedule
    }

    /// Write the request now; `due` is when it was scheduled; `counted`: one of `-n`'s.
    fn send(
        &mut self,
        sh: &mut Shared,
        out: &mut Vec<u8>,
        now: Instant,
        due: Instant,
        counted: bool,
    ) {
        let plan = &sh.plan;
        let (n, len, entry) = match (&plan.mix, sh.picker.as_mut()) {
            (Some(mix), Some(picker)) => {
                // One request of the mix: one reply, with its own HEAD flag.
                let i = picker.pick();
                let e = &mix.entries[i];
                out.extend_from_slice(&e.bytes);
                let b = crate::mix::Mix::bucket(i);
                if let Some(st) = sh.rec.entries.get_mut(b) {
                    st.sent += 1;
                }
                (
                    usize::from(self.framer.expect(e.head)),
                    e.bytes.len(),
                    Some(b as u16),
                )
            }
            _ => {
                out.extend_from_slice(&plan.request);
                // The plan holds at most MAX_PIPELINE requests over all writes in
                // flight, so all are expected.
                let n = plan
                    .pipeline
                    .iter()
                    .filter(|&&h| self.framer.expect(h))
                    .count();
                (n, plan.request.len(), None)
            }
        };
        let pushed = self.in_flight.push(Sent {
            due,
            at: now,
            replies: n as u32,
            counted,
            entry,
        });
        debug_assert!(pushed, "a request sent with the in-flight FIFO full");
        self.writes += 1;
        self.phase = Phase::Awaiting;
        let rec = &mut sh.rec;
        rec.sent += n as u64;
        rec.bytes_sent += len as u64;
        if plan.interval.is_some() && now >= plan.record_from {
            // The generator's own lag: how late it sent while it was free to send. A
            // send held back by a slow reply is the server's doing, not ours.
            let from = due.max(self.free_since);
            record_us(&mut rec.send_lag, us(now.saturating_duration_since(from)));
        }
    }

    /// The `-n` budget is spent: send nothing more, owe nothing more.
    fn drain(&mut self) {
        self.drained = true;
        if let Some(s) = self.schedule.as_mut() {
            s.abandon();
        }
        if self.in_flight.is_empty() {
            self.phase = Phase::Finished;
        }
    }

    /// After a reply or on connect or a timer: send what may go now (up to the depth).
    fn next(&mut self, sh: &mut Shared, out: &mut Vec<u8>, now: Instant) -> Verdict {
        if sh.plan.start.is_none_or(|s| now < s) {
            // The connect phase: connected, but the run has not started.
            self.phase = Phase::Idle;
            return Verdict::Continue;
        }
        let per_conn_done = sh.plan.per_conn.is_some_and(|n| self.writes >= n) || self.retiring;
        if now >= sh.plan.end || per_conn_done {
            if !self.in_flight.is_empty() {
                // Replies still owed: they arrive, or the run's end counts them.
                return Verdict::Continue;
            }
            self.phase = Phase::Finished;
            return Verdict::Close;
        }
        let per_write = sh.plan.pipeline.len() as u64;
        while !self.drained
            && self.in_flight.has_room()
            && sh.plan.per_conn.is_none_or(|n| self.writes < n)
        {
            let due = match self.schedule.as_ref() {
                None => now,
                Some(s) if s.next_due() <= now => s.next_due(),
                Some(_) => break,
            };
            let Some(counted) = sh.plan.take_budget(now, per_write) else {
                self.drain();
                break;
            };
            if let Some(s) = self.schedule.as_mut() {
                s.take();
            }
            self.send(sh, out, now, due, counted);
        }
        if self.in_flight.is_empty() {
            // Drained: its last reply is in, nothing more to do (the connection stays
            // open; the worker ends the run once every worker's requests are in).
            self.phase = if self.drained {
                Phase::Finished
            } else {
                Phase::Idle
            };
        }
        Verdict::Continue
    }

    /// Count a complete reply to `sent`, whose first byte was read at `first`.
    fn record_reply(
        &self,
        sh: &mut Shared,
        (now, first): (Instant, Instant),
        sent: Sent,
        resp: Response,
    ) {
        let rec = &mut sh.rec;
        rec.completed += 1;
        rec.bytes_received += resp.bytes;
        rec.raw_sum_us = rec
            .raw_sum_us
            .saturating_add(us(now.saturating_duration_since(sent.at)));
        if let Some(w) = resp.error {
            // Answered, but with a failure: counted where failures are seen.
            rec.error(ErrorClass::RespError, &w.as_string());
        }
        // With -n the measurement is the N requests counted; else every reply that
        // completes after the warm-up.
        let measured = if sh.plan.budget.is_some() {
            sent.counted
        } else {
            now >= sh.plan.record_from
        };
        if measured {
            rec.measured += 1;
            rec.bytes_received_measured += resp.bytes;
            let corrected = us(now.saturating_duration_since(sent.due));
            record_us(&mut rec.corrected, corrected);
            record_us(&mut rec.interval, corrected);
            let raw = us(now.saturating_duration_since(sent.at));
            record_us(&mut rec.raw, raw);
            record_us(&mut rec.interval_raw, raw);
            // Split at the first byte: ttfb + transfer = raw. (The first byte comes
            // after the send, which `answerable` makes sure of; max/min rather than
            // clamp, which would panic were it ever not so.)
            let first = first.max(sent.at).min(now);
            rec.phases
                .record(Timed::Ttfb, us(first.saturating_duration_since(sent.at)));
            rec.phases
                .record(Timed::Transfer, us(now.saturating_duration_since(first)));
            if let Some(code) = resp.status {
                rec.status(code);
            }
            if let Some(st) = sent.entry.and_then(|b| rec.entries.get_mut(usize::from(b))) {
                st.reply(corrected, raw, resp.status);
            }
            if let (Some(p), Some(t0)) = (&sh.plan.profile, sh.plan.start) {
                if let Some(i) = p.stage_at(now.saturating_duration_since(t0).as_secs_f64()) {
                    if rec.stage_done.len() <= i {
                        rec.stage_done.resize(i + 1, 0);
                    }
                    rec.stage_done[i] += 1;
                }
            }
        }
    }

    /// Every request still waiting for its reply failed with the connection.
    fn fail_outstanding(&mut self, sh: &mut Shared, now: Instant) {
        let rec = &mut sh.rec;
        // Each entry of a mix counts the failures seen in the measurement (with -n:
        // of the counted ones), as its replies and its timeouts are counted.
        for s in self.in_flight.entries() {
            let measured = if sh.plan.budget.is_some() {
                s.counted
            } else {
                now >= sh.plan.record_from
            };
            if let Some(st) = s.entry.and_then(|b| rec.entries.get_mut(usize::from(b))) {
                st.failed += u64::from(s.replies) * u64::from(measured);
            }
        }
        rec.failed += self.in_flight.outstanding();
        rec.failed_counted += self.in_flight.outstanding_counted();
        self.phase = Phase::Finished;
        self.in_flight.clear();
    }

    fn fail(&mut self, sh: &mut Shared, now: Instant, class: ErrorClass, detail: &str) -> Verdict {
        self.ended_by = Some(class);
        self.fail_outstanding(sh, now);
        sh.rec.error(class, detail);
        Verdict::Close
    }

    fn framing_error(&mut self, sh: &mut Shared, now: Instant, e: FrameError) -> Verdict {
        self.fail(sh, now, ErrorClass::Framing, e.kind())
    }

    /// The server ended the connection with a request out: if it never sent a byte
    /// on it, that nothing is what it answered.
    fn keep_silence(&self, sh: &mut Shared) {
        if !self.in_flight.is_empty() && self.read == 0 && self.replies == 0 {
            self.keep_answer(sh, &[], 0);
        }
    }

    /// Keep what the server sent where a reply was due and that was none: `bytes`
    /// from `offset` in the connection's input (none: it closed before a byte). The
    /// worker keeps one sample, replaced only by one that tells more, so this costs a
    /// comparison once it holds a connection's first bytes.
    fn keep_answer(&self, sh: &mut Shared, bytes: &[u8], offset: u64) {
        if !Sample::improves(sh.rec.answered.as_ref(), bytes.len(), offset) {
            return;
        }
        // An echo is one of our requests sent back: the plan's, or any of a mix's.
        let requests: Vec<&[u8]> = match &sh.plan.mix {
            Some(mix) => mix.entries.iter().map(|e| e.bytes.as_slice()).collect(),
            None => vec![sh.plan.request.as_slice()],
        };
        sh.rec.answered = Some(Sample::of(bytes, offset, &requests));
    }

    /// The reactor closed this connection with the client in its current phase:
    /// account for the requests outstanding. A close with an error class (reset,
    /// timeout, the server closing) failed them; a close without one (the reactor
    /// shutting down, the host closing it) did not: they count as in flight at the
    /// end, so the books balance either way. Returns whether one was in flight.
    pub(crate) fn on_closed(
        &mut self,
        sh: &mut Shared,
        now: Instant,
        class: Option<(ErrorClass, String)>,
    ) -> bool {
        let in_flight = !self.in_flight.is_empty();
        match class {
            Some((class, detail)) => {
                if matches!(class, ErrorClass::Closed | ErrorClass::Reset) {
                    self.keep_silence(sh);
                }
                self.ended_by = Some(class);
                sh.rec.error(class, &detail);
                self.fail_outstanding(sh, now);
            }
            None => sh.rec.in_flight_end += self.in_flight.outstanding(),
        }
        self.phase = Phase::Finished;
        self.in_flight.clear();
        in_flight
    }

    /// The run ended at `end` with this client still open: outstanding requests are
    /// in flight (not an error) and censored at their age; requests that fell due and
    /// were never sent are censored too (see [`Censored`](crate::record::Censored)).
    pub(crate) fn on_run_end(&mut self, sh: &mut Shared, end: Instant) {
        let rec = &mut sh.rec;
        rec.in_flight_end += self.in_flight.outstanding();
        if end >= sh.plan.record_from {
            for s in self.in_flight.entries() {
                let age = us(end.saturating_duration_since(s.due));
                rec.censor(Censor::Unfinished, age, u64::from(s.replies));
                if let Some(st) = s.entry.and_then(|b| rec.entries.get_mut(usize::from(b))) {
                    st.censor(age, u64::from(s.replies));
                }
            }
        }
        if sh.plan.budget_spent() {
            // -n sent its N: what the timeline still held is owed to nobody.
            self.drain();
        }
        if let Some(s) = self.schedule.as_mut() {
            // Due by the run's end, not by when the loop got to it (a late wake-up).
            rec.censor_unsent(s, sh.plan.record_from, end.min(sh.plan.end));
        }
        self.phase = Phase::Finished;
        self.in_flight.clear();
    }

    /// **Called when the TLS handshake completes** (through `OverTls::on_handshake`),
    /// at `now`, `took` after the TCP connect: the connect phase ends at `now - took`
    /// and `took` goes into the `tls_handshake` phase ([`crate::phases`]), unless in the
    /// warm-up. Nothing else records that phase, so with plain connections it stays
    /// empty and the reports leave it out. The layer calls `on_connected` after this,
    /// which then times nothing again.
    pub(crate) fn on_handshake_done(&mut self, sh: &mut Shared, now: Instant, took: Duration) {
        // The layer tells the protocol once its handshake is done; the connection was
        // up `took` before.
        self.mark_connected(sh, now.checked_sub(took).unwrap_or(now));
        if !sh.plan.in_warmup(now) {
            sh.rec.phases.record(Timed::TlsHandshake, us(took));
        }
    }

    /// The connection is up (TCP connected): count it and time its connect phase, once.
    fn mark_connected(&mut self, sh: &mut Shared, at: Instant) {
        if self.connected_at.is_some() {
            return;
        }
        self.connected_at = Some(at);
        sh.rec.connects_ok += 1;
        let took = us(at.saturating_duration_since(self.connect_start));
        if at >= sh.plan.record_from {
            record_us(&mut sh.rec.connect, took);
        }
        if !sh.plan.in_warmup(at) {
            sh.rec.phases.record(Timed::Connect, took);
        }
    }

    /// When the oldest request in flight times out.
    fn deadline(&self, sh: &Shared) -> Option<Instant> {
        let t = sh.plan.timeout?;
        self.in_flight.oldest().map(|s| s.at + t)
    }

    /// When the next request may go out, if it waits for its due time.
    fn next_send(&self, sh: &Shared) -> Option<Instant> {
        if self.drained || !self.in_flight.has_room() || sh.plan.start.is_none() {
            return None;
        }
        if sh.plan.per_conn.is_some_and(|n| self.writes >= n) {
            return None;
        }
        match &self.schedule {
            Some(s) => Some(s.next_due().min(sh.plan.end)),
            // Closed loop, connected before the start: send at the start.
            None if self.phase == Phase::Idle => sh.plan.start,
            None => None,
        }
    }
}

impl OverTls for Client {
    fn on_handshake(&mut self, done: &Handshake<'_>, cx: &mut Cx<Shared>) {
        self.on_handshake_done(cx.ctx, cx.now, done.took);
    }

    /// A handshake that failed is an error of its own class, named by its cause; the
    /// worker backs off reconnecting, as after a server of another protocol.
    fn on_handshake_failed(&mut self, err: &readyloop::tls::rustls::Error, cx: &mut Cx<Shared>) {
        let _ = self.fail(
            cx.ctx,
            cx.now,
            ErrorClass::Tls,
            &readyloop::tls::describe(err),
        );
    }
}

impl Protocol for Client {
    type Context = Shared;

    fn on_connected(&mut self, out: &mut Vec<u8>, cx: &mut Cx<Shared>) -> Verdict {
        let sh = &mut *cx.ctx;
        self.free_since = cx.now;
        self.mark_connected(sh, cx.now);
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
        // Every byte of `input` was read before this call, so it can only answer the
        // requests written before this call: once their replies are in, what is left
        // cannot answer a request this call sends.
        let mut answerable = self.in_flight.outstanding();
        let mut sent_here = false;
        while used < input.len() {
            if answerable == 0 {
                let detail = if sent_here {
                    "bytes before the request was sent"
                } else {
                    "bytes with no request outstanding"
                };
                self.keep_answer(sh, &input[used..], self.read + used as u64);
                let v = self.fail(sh, cx.now, ErrorClass::Unsolicited, detail);
                return Step {
                    consumed: input.len(),
                    verdict: v,
                };
            }
            // These bytes are the oldest reply's: its first byte, unless an earlier
            // call already offered some of it.
            self.first_byte.get_or_insert(cx.now);
            let feed = match self.framer.feed(&input[used..], &sh.plan.request) {
                Ok(f) => f,
                Err(e) => {
                    // The framer consumed nothing of these bytes (a head is kept whole
                    // until parsed): they start where the failing reply's unread part
                    // does.
                    self.keep_answer(sh, &input[used..], self.read + used as u64);
                    let v = self.framing_error(sh, cx.now, e);
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
            answerable -= 1;
            // The reply answers the oldest request in flight.
            let Some(sent) = self.in_flight.answer() else {
                break; // unreachable: answerable counted it
            };
            let first = self.first_byte.take().unwrap_or(now);
            self.record_reply(sh, (now, first), sent, resp);
            if resp.close {
                if !self.in_flight.is_empty() {
                    // The server closes with replies still owed.
                    let v = self.fail(sh, cx.now, ErrorClass::Closed, "closed mid-pipeline");
                    return Step {
                        consumed: input.len(),
                        verdict: v,
                    };
                }
                // The server said it closes: finish cleanly, the host reconnects.
                self.phase = Phase::Finished;
                return Step {
                    consumed: input.len(),
                    verdict: Verdict::Close,
                };
            }
            if self.in_flight.has_room() {
                self.free_since = now;
            }
            // Not while a `--request` pipeline still owes replies: it is one write.
            if sent.replies > 1 {
                continue;
            }
            let before = self.writes;
            let v = self.next(sh, out, now);
            if v != Verdict::Continue {
                return Step {
                    consumed: input.len(),
                    verdict: v,
                };
            }
            sent_here |= self.writes > before;
            if feed.consumed == 0 {
                break;
            }
        }
        self.read += used as u64;
        Step::cont(used)
    }

    fn on_eof(&mut self, _out: &mut Vec<u8>, cx: &mut Cx<Shared>) -> Verdict {
        let sh = &mut *cx.ctx;
        match self.framer.on_eof() {
            Ok(Some(resp)) if !self.in_flight.is_empty() => {
                // A reply that ends at close (HTTP without a length).
                self.replies += 1;
                let first = self.first_byte.take().unwrap_or(cx.now);
                if let Some(sent) = self.in_flight.answer() {
                    self.record_reply(sh, (cx.now, first), sent, resp);
                }
                if !self.in_flight.is_empty() {
                    return self.fail(sh, cx.now, ErrorClass::Closed, "closed mid-pipeline");
                }
                self.phase = Phase::Finished;
                Verdict::Close
            }
            Err(e) => self.framing_error(sh, cx.now, e),
            _ if !self.in_flight.is_empty() => {
                self.keep_silence(sh);
                self.fail(sh, cx.now, ErrorClass::Closed, "eof")
            }
            _ => {
                self.phase = Phase::Finished;
                Verdict::Close
            }
        }
    }

    fn poll_at(&self, sh: &Shared) -> Option<Instant> {
        match self.phase {
            Phase::Idle | Phase::Awaiting => match (self.next_send(sh), self.deadline(sh)) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            _ => None,
        }
    }

    fn on_timer(&mut self, out: &mut Vec<u8>, cx: &mut Cx<Shared>) -> Verdict {
        let sh = &mut *cx.ctx;
        match self.phase {
            Phase::Idle | Phase::Awaiting => {
                if self.deadline(sh).is_some_and(|d| cx.now >= d) {
                    if cx.now >= sh.plan.record_from {
                        // What each waited is a lower bound of its latency.
                        for s in self.in_flight.entries() {
                            let age = us(cx.now.saturating_duration_since(s.due));
                            let n = u64::from(s.replies);
                            sh.rec.censor(Censor::TimedOut, age, n);
                            let st = s.entry.and_then(|b| sh.rec.entries.get_mut(usize::from(b)));
                            if let Some(st) = st {
                                st.censor(age, n);
                            }
                        }
                    }
                    return self.fail(sh, cx.now, ErrorClass::Timeout, "response timeout");
                }
                self.next(sh, out, cx.now)
            }
            _ => Verdict::Continue,
        }
    }
}

#[cfg(test)]
mod phase_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::Rate;

    const REQ: &[u8] = b"ping\n";

    #[track_caller]
    pub(super) fn client(
        t0: Instant,
        interval: Option<Duration>,
        per_conn: Option<u64>,
    ) -> (Client, Shared) {
        let plan = Plan {
            request: REQ.to_vec(),
            pipeline: vec![false],
            framing: Framing::Line,
            mix: None,
            interval,
            depth: 1,
            budget: None,
            profile: None,
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
                picker: None,
            },
        )
    }

    pub(super) fn ms(n: u64) -> Duration {
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
    fn test_run_end_owes_only_what_fell_due_before_the_end() {
        let t0 = Instant::now();
        let (mut c, mut sh) = client(t0, Some(ms(10)), None);
        sh.plan.end = t0 + ms(50);
        let mut out = Vec::new();
        c.on_connected(&mut out, &mut Cx::new(t0, &mut sh));
        c.on_input(
            b"ok\n",
            &mut out,
            usize::MAX,
            &mut Cx::new(t0 + ms(1), &mut sh),
        );
        // The loop got to the end 25 ms late: due at 10..=50 ms are owed, not the
        // ones due at 60 and 70 ms, after the run.
        c.on_run_end(&mut sh, t0 + ms(75));
        assert_eq!(sh.rec.censored.unsent, 5);
        // Answered 1 ms after being sent: only the one due at the end is its boundary.
        assert_eq!(sh.rec.censored.at_end, 1);
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
    fn test_a_failed_handshake_is_a_tls_error_named_by_its_cause() {
        use readyloop::tls::rustls::{CertificateError, Error as TlsError};
        let t0 = Instant::now();
        let (mut c, mut sh) = client(t0, None, None);
        let err = TlsError::InvalidCertificate(CertificateError::Expired);
        c.on_handshake_failed(&err, &mut Cx::new(t0, &mut sh));
        assert_eq!(sh.rec.errors_of(ErrorClass::Tls), 1);
        let e = sh.rec.errors.iter().find(|e| e.class == ErrorClass::Tls);
        assert_eq!(
            e.map(|e| e.detail.as_str()),
            Some("certificate verify failed: expired")
        );
        assert!(c.protocol_failure(), "reconnects back off");
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

    /// Issue 15, item 3: what a server sent instead of a reply is kept (one sample per
    /// worker, classified), and so is a close before any byte.
    #[test]
    fn test_what_the_server_answered_instead_is_kept() {
        let t0 = Instant::now();
        // HTTP against a Redis: its error reply, from the connection's first byte.
        let (_, mut sh) = client(t0, None, None);
        sh.plan.framing = Framing::Http;
        let mut c = Client::new(&sh.plan, t0, None);
        c.on_connected(&mut Vec::new(), &mut Cx::new(t0, &mut sh));
        let reply = b"-ERR unknown command\r\n";
        let step = c.on_input(
            reply,
            &mut Vec::new(),
            usize::MAX,
            &mut Cx::new(t0, &mut sh),
        );
        assert_eq!(step.verdict, Verdict::Close);
        let a = sh.rec.answered_instead().expect("a sample");
        assert_eq!((a.bytes(), a.offset()), (&reply[..], 0));
        assert_eq!(a.looks(), crate::answer::Looks::Resp);
        // Bytes after a reply, before the next request went out: from where they start.
        let (mut c, mut sh) = client(t0, None, None);
        c.on_connected(&mut Vec::new(), &mut Cx::new(t0, &mut sh));
        let input = b"a\nSSH-2.0-OpenSSH_9.6\r\n";
        c.on_input(
            input,
            &mut Vec::new(),
            usize::MAX,
            &mut Cx::new(t0, &mut sh),
        );
        assert_eq!(sh.rec.errors_of(ErrorClass::Unsolicited), 1);
        let a = sh.rec.answered_instead().expect("a sample");
        assert_eq!((a.bytes(), a.offset()), (&input[2..], 2));
        assert_eq!(a.looks(), crate::answer::Looks::Ssh);
        // Closed before a byte: nothing, and said only while no reply ever came.
        let (mut c, mut sh) = client(t0, None, None);
        c.on_connected(&mut Vec::new(), &mut Cx::new(t0, &mut sh));
        c.on_eof(&mut Vec::new(), &mut Cx::new(t0, &mut sh));
        let a = sh.rec.answered_instead().expect("a sample");
        assert_eq!(a.looks(), crate::answer::Looks::Nothing);
        sh.rec.completed = 1;
        assert!(sh.rec.answered_instead().is_none());
    }

    /// Issue 15, item 3: the failures after which the worker backs off reconnecting:
    /// bytes that are no reply, or a close or reset before the first reply; not a
    /// timeout, nor a close after replies.
    #[test]
    fn test_protocol_failures_are_told_apart() {
        let t0 = Instant::now();
        let connected = || {
            let (mut c, mut sh) = client(t0, None, None);
            c.on_connected(&mut Vec::new(), &mut Cx::new(t0, &mut sh));
            (c, sh)
        };
        let (mut c, mut sh) = connected();
        assert!(!c.protocol_failure());
        c.on_input(
            b"ok\nstray",
            &mut Vec::new(),
            usize::MAX,
            &mut Cx::new(t0, &mut sh),
        );
        assert!(c.protocol_failure(), "unsolicited bytes");
        let (mut c, mut sh) = connected();
        c.on_eof(&mut Vec::new(), &mut Cx::new(t0, &mut sh));
        assert!(c.protocol_failure(), "closed before a reply");
        let (mut c, mut sh) = connected();
        c.on_closed(&mut sh, t0, Some((ErrorClass::Reset, "ECONNRESET".into())));
        assert!(c.protocol_failure(), "reset before a reply");
        let (mut c, mut sh) = connected();
        c.on_input(
            b"ok\n",
            &mut Vec::new(),
            usize::MAX,
            &mut Cx::new(t0, &mut sh),
        );
        c.on_eof(&mut Vec::new(), &mut Cx::new(t0, &mut sh));
        assert!(!c.protocol_failure(), "closed after a reply");
        let (mut c, mut sh) = connected();
        c.on_timer(&mut Vec::new(), &mut Cx::new(t0 + ms(1500), &mut sh));
        assert_eq!(sh.rec.errors_of(ErrorClass::Timeout), 1);
        assert!(!c.protocol_failure(), "a timeout");
        let (_, mut sh) = client(t0, None, None);
        let mut c = Client::new(&sh.plan, t0, None);
        c.on_closed(
            &mut sh,
            t0,
            Some((ErrorClass::ConnectRefused, "ECONNREFUSED".into())),
        );
        assert!(
            !c.protocol_failure(),
            "a failed connect backs off on its own"
        );
    }

    #[test]
    fn test_close_counts_outstanding_requests_by_its_reason() {
        let t0 = Instant::now();
        // A reset with a request out: failed, with its error.
        let (mut c, mut sh) = client(t0, None, None);
        c.on_connected(&mut Vec::new(), &mut Cx::new(t0, &mut sh));
        assert!(c.on_closed(
            &mut sh,
            Instant::now(),
            Some((ErrorClass::Reset, "ECONNRESET".into()))
        ));
        assert_eq!((sh.rec.failed, sh.rec.in_flight_end), (1, 0));
        assert!(sh.rec.books_balance());
        // Closed without an error (shutdown): not a failure, still in the books.
        let (mut c, mut sh) = client(t0, None, None);
        c.on_connected(&mut Vec::new(), &mut Cx::new(t0, &mut sh));
        assert!(c.on_closed(&mut sh, Instant::now(), None));
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

    #[test]
    fn test_pipeline_keeps_depth_in_flight_answered_in_order() {
        let t0 = Instant::now();
        let (_, mut sh) = client(t0, None, None);
        sh.plan.depth = 4;
        let mut c = Client::new(&sh.plan, t0, None);
        let mut out = Vec::new();
        c.on_connected(&mut out, &mut Cx::new(t0, &mut sh));
        assert_eq!(out, REQ.repeat(4), "closed loop: four at once");
        out.clear();
        // Two replies in one read: two more go out, never more than four in flight.
        let step = c.on_input(
            b"a\nb\n",
            &mut out,
            usize::MAX,
            &mut Cx::new(t0 + ms(2), &mut sh),
        );
        assert_eq!(step, Step::cont(4));
        assert_eq!(out, REQ.repeat(2));
        assert_eq!(c.in_flight.len(), 4);
        let r = &sh.rec;
        assert_eq!((r.sent, r.completed), (6, 2));
        // Five replies when four are owed: the fifth answers nothing sent before it
        // was read.
        out.clear();
        let step = c.on_input(
            b"c\nd\ne\nf\ng\n",
            &mut out,
            usize::MAX,
            &mut Cx::new(t0 + ms(3), &mut sh),
        );
        assert_eq!(step.verdict, Verdict::Close);
        assert_eq!(sh.rec.completed, 6);
        assert_eq!(sh.rec.errors_of(ErrorClass::Unsolicited), 1);
        assert!(sh.rec.books_balance());
    }

    #[test]
    fn test_open_loop_pipeline_sends_at_due_times_while_replies_wait() {
        let t0 = Instant::now();
        let (_, mut sh) = client(t0, Some(ms(10)), None);
        sh.plan.depth = 2;
        let mut c = Client::new(&sh.plan, t0, Some(Schedule::new(t0, Rate::every(ms(10)))));
        let mut out = Vec::new();
        c.on_connected(&mut out, &mut Cx::new(t0, &mut sh));
        assert_eq!(out, REQ, "request 0 at t0");
        // No reply yet, but there is room: the connection wakes for request 1's due time.
        assert_eq!(c.poll_at(&sh), Some(t0 + ms(10)));
        out.clear();
        c.on_timer(&mut out, &mut Cx::new(t0 + ms(10), &mut sh));
        assert_eq!(out, REQ, "request 1 on time, with request 0 still out");
        // Full: only the timeout wakes it now.
        assert_eq!(c.poll_at(&sh), Some(t0 + Duration::from_secs(1)));
        out.clear();
        // Both replies at 25 ms: request 2 (due 20 ms) goes out late.
        c.on_input(
            b"a\nb\n",
            &mut out,
            usize::MAX,
            &mut Cx::new(t0 + ms(25), &mut sh),
        );
        assert_eq!(out, REQ);
        let r = &sh.rec;
        assert_eq!(
            r.corrected.count_between(24_900, 25_100),
            1,
            "request 0: 25 ms"
        );
        assert_eq!(
            r.corrected.count_between(14_900, 15_100),
            1,
            "request 1: 15 ms"
        );
        assert_eq!(
            r.raw.count_between(14_900, 15_100),
            1,
            "raw from its own send"
        );
    }

    #[test]
    fn test_budget_sends_exactly_n_and_then_nothing() {
        let t0 = Instant::now();
        let budget = Arc::new(AtomicU64::new(3));
        let (_, mut sh) = client(t0, None, None);
        sh.plan.depth = 2;
        sh.plan.budget = Some(budget.clone());
        let mut a = Client::new(&sh.plan, t0, None);
        let mut b = Client::new(&sh.plan, t0, None);
        let (mut oa, mut ob) = (Vec::new(), Vec::new());
        a.on_connected(&mut oa, &mut Cx::new(t0, &mut sh));
        b.on_connected(&mut ob, &mut Cx::new(t0, &mut sh));
        // Two connections share three: two for the first, one for the second.
        assert_eq!((oa.len(), ob.len()), (2 * REQ.len(), REQ.len()));
        assert!(sh.plan.budget_spent());
        oa.clear();
        a.on_input(
            b"1\n2\n",
            &mut oa,
            usize::MAX,
            &mut Cx::new(t0 + ms(1), &mut sh),
        );
        assert!(oa.is_empty(), "nothing after the budget");
        assert_eq!(a.phase(), Phase::Finished);
        assert_eq!(a.poll_at(&sh), None, "no timer either");
        b.on_input(
            b"3\n",
            &mut ob,
            usize::MAX,
            &mut Cx::new(t0 + ms(1), &mut sh),
        );
        let r = &sh.rec;
        assert_eq!((r.sent, r.completed, r.measured), (3, 3, 3));
        assert_eq!(budget.load(Ordering::Relaxed), 0);
    }
}
