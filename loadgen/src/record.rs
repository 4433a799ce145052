//! What a run measured: per-worker HdrHistograms and counters, merged at the end.
//!
//! Latencies are recorded in microseconds, from 1 us to 1 hour at 3 significant digits,
//! like wrk2. Two latency histograms are kept and never mixed: *corrected* (from the
//! time a request was due on the open-loop schedule) and *raw* (from the time it was
//! actually sent). In closed loop they are the same thing. Nothing is corrected twice:
//! no `record_correct` here.

use crate::answer::{Looks, Sample};
use crate::phases::Phases;
use crate::schedule::Schedule;
use crate::tally::MAX_US;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

pub use crate::tally::{new_histogram, non_2xx_3xx, record_us, us};

/// The class of an error, as reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// `connect()` was refused (nothing listening, or the backlog overflowed with
    /// `tcp_abort_on_overflow`).
    ConnectRefused,
    /// The connect did not complete within `--connect-timeout` (SYNs dropped).
    ConnectTimeout,
    /// Another connect error (unreachable, EADDRNOTAVAIL: out of ephemeral ports, ...).
    Connect,
    /// No descriptor for a new socket (EMFILE / ENFILE).
    Descriptors,
    /// The connection was reset.
    Reset,
    /// The server closed the connection with a request outstanding.
    Closed,
    /// No complete response within `--timeout`.
    Timeout,
    /// The response did not match the framing (malformed, or an echo mismatch).
    Framing,
    /// Bytes that cannot answer any request: read before the request they would
    /// answer was written (a server that answers twice, or ahead), or with nothing
    /// outstanding. Counting them as replies would make a misbehaving server look fast.
    Unsolicited,
    /// The server answered with an error reply (RESP `-ERR ...`): the request got an
    /// answer (it counts as completed) but did not succeed. The detail is the reply's
    /// first word (`ERR`, `WRONGTYPE`, `NOAUTH`).
    RespError,
    /// The TLS handshake failed (the detail names why: a certificate that does not
    /// verify, an alert from the server, nothing in common), or a record did not
    /// decrypt.
    Tls,
    /// Another socket error.
    Io,
}

impl ErrorClass {
    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::ConnectRefused => "connect_refused",
            ErrorClass::ConnectTimeout => "connect_timeout",
            ErrorClass::Connect => "connect",
            ErrorClass::Descriptors => "descriptors",
            ErrorClass::Reset => "reset",
            ErrorClass::Closed => "closed",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Framing => "framing",
            ErrorClass::Unsolicited => "unsolicited",
            ErrorClass::RespError => "resp_error",
            ErrorClass::Tls => "tls",
            ErrorClass::Io => "io",
        }
    }
}

/// One row of the error table: class, errno (if any) or framing detail, count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCount {
    /// The class.
    pub class: ErrorClass,
    /// The errno name (`"ECONNREFUSED"`) or the framing error's kind.
    pub detail: String,
    /// How many.
    pub count: u64,
}

/// Counters and histograms of one worker (or of the whole run, once merged).
#[derive(Clone, Debug)]
pub struct Recorder {
    /// Latency from the scheduled send time (open loop) or send time (closed loop), us.
    pub corrected: Histogram<u64>,
    /// Latency from the actual send time, us.
    pub raw: Histogram<u64>,
    /// Time from `connect()` to established, us, for connections established after
    /// the warm-up (`connect_us` in the JSON; [`Phases::connect`] also holds the
    /// connect phase's).
    pub connect: Histogram<u64>,
    /// Every phase timed apart: connect, TLS handshake, time to first byte, transfer.
    pub phases: Phases,
    /// Corrected latencies since the worker's last per-second snapshot (the interval
    /// log and progress line); not merged.
    pub interval: Histogram<u64>,
    /// Raw latencies since the last per-second snapshot (live `--slo` checks of
    /// `raw.` thresholds); not merged.
    pub interval_raw: Histogram<u64>,
    /// Open loop: how late a send was relative to its due time while the connection was
    /// free to send (the load generator's own lag), us.
    pub send_lag: Histogram<u64>,
    /// Requests written (whole run, warm-up included).
    pub sent: u64,
    /// Complete, valid responses (whole run).
    pub completed: u64,
    /// Responses completed after the warm-up (these are in the histograms).
    pub measured: u64,
    /// Requests that ended in an error (a connection error with the request in flight,
    /// a timeout, a framing error).
    pub failed: u64,
    /// Of `failed`, the requests a `-n` run counts (sent after the warm-up).
    pub failed_counted: u64,
    /// `--stages`: responses measured in each stage (by when they completed).
    pub stage_done: Vec<u64>,
    /// Requests still in flight when the run ended.
    pub in_flight_end: u64,
    /// Bytes written / read (whole run).
    pub bytes_sent: u64,
    /// Bytes read (whole run).
    pub bytes_received: u64,
    /// Bytes read after the warm-up.
    pub bytes_received_measured: u64,
    /// The raw latencies of every reply summed, us (the whole run): with `completed`,
    /// the mean latency that `--max-connections` sizes the connections by, and that
    /// bounds the unsent requests a run's end excuses ([`Censored::at_end`]).
    pub raw_sum_us: u64,
    /// Connections established / attempted.
    pub connects_ok: u64,
    /// Connection attempts.
    pub connects_tried: u64,
    /// HTTP status codes seen (after warm-up): (code, count).
    pub statuses: Vec<(u16, u64)>,
    /// Errors by class and detail (whole run).
    pub errors: Vec<ErrorCount>,
    /// Requests of the measured period that never got a reply to time: they are in
    /// `corrected` (and `interval`) at their censored value.
    pub censored: Censored,
    /// `--targets`: each entry's numbers, by stats slot ([`crate::mix::Mix::bucket`]);
    /// empty without a mix.
    pub entries: Vec<crate::mix::EntryStats>,
    /// What the server sent where a reply was due and that was none (bytes that failed
    /// framing or answered no request, or nothing before a close): one sample, the
    /// one that tells most ([`Sample::better`]); see [`Recorder::answered_instead`].
    pub answered: Option<Sample>,
}

/// Requests whose latency is known only to be at least some value: timed out (at the
/// time they waited), unfinished at the end (end - due) and unsent (fell due, never
/// sent because the connection was busy or reconnecting: end - due). Leaving them out
/// would let a server that stops answering look healthy; they enter the corrected
/// histogram at that value, which is a lower bound of the truth.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Censored {
    /// No complete reply within `--timeout`.
    pub timed_out: u64,
    /// Still in flight when the run ended.
    pub unfinished: u64,
    /// Fell due and were never sent.
    pub unsent: u64,
    /// Of `unsent`, those that fell due within the run's last mean latency (from send to
    /// reply, of the worker's requests answered) before its end: sent on time they
    /// would still have been unanswered when it ended. They are the run's boundary,
    /// not errors: kept here and in `corrected`, left out of the `errors` threshold.
    pub at_end: u64,
    /// The largest censored value, in microseconds.
    pub oldest_us: u64,
}

impl Censored {
    /// All censored requests.
    pub fn total(&self) -> u64 {
        self.timed_out + self.unfinished + self.unsent
    }

    fn merge(&mut self, o: &Censored) {
        self.timed_out += o.timed_out;
        self.unfinished += o.unfinished;
        self.unsent += o.unsent;
        self.at_end += o.at_end;
        self.oldest_us = self.oldest_us.max(o.oldest_us);
    }
}

/// Why a request is censored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Censor {
    /// It timed out.
    TimedOut,
    /// It was in flight at the end.
    Unfinished,
    /// It fell due and was never sent.
    Unsent,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            corrected: new_histogram(),
            raw: new_histogram(),
            connect: new_histogram(),
            phases: Phases::default(),
            interval: new_histogram(),
            interval_raw: new_histogram(),
            send_lag: new_histogram(),
            sent: 0,
            completed: 0,
            measured: 0,
            failed: 0,
            failed_counted: 0,
            stage_done: Vec::new(),
            in_flight_end: 0,
            bytes_sent: 0,
            bytes_received: 0,
            bytes_received_measured: 0,
            connects_ok: 0,
            connects_tried: 0,
            statuses: Vec::new(),
            errors: Vec::new(),
            censored: Censored::default(),
            entries: Vec::new(),
            answered: None,
            raw_sum_us: 0,
        }
    }
}

impl Recorder {
    /// Record `n` requests censored at `age_us` (see [`Censored`]).
    pub(crate) fn censor(&mut self, why: Censor, age_us: u64, n: u64) {
        if n == 0 {
            return;
        }
        let v = age_us.clamp(1, MAX_US);
        let _ = self.corrected.record_n(v, n);
        let _ = self.interval.record_n(v, n);
        let c = &mut self.censored;
        match why {
            Censor::TimedOut => c.timed_out += n,
            Censor::Unfinished => c.unfinished += n,
            Censor::Unsent => c.unsent += n,
        }
        c.oldest_us = c.oldest_us.max(v);
    }

    /// Take the requests of `schedule` that fell due from `from` up to `end` and were
    /// never sent off it, censored at their age (see [`Censored`]).
    /// Those within the mean latency (from send to reply) before `end` are also counted
    /// in [`Censored::at_end`]: sent on time, they would still have been unanswered.
    pub(crate) fn censor_unsent(&mut self, schedule: &mut Schedule, from: Instant, end: Instant) {
        if end < from {
            // Ended before measuring (interrupted while connecting: `from` is then far
            // away, and skipping to it one request at a time would never end).
            return;
        }
        schedule.skip_to(from);
        let mean = Duration::from_micros(self.raw_sum_us / self.completed.max(1));
        let before = end.checked_sub(mean).unwrap_or(end);
        let window = schedule
            .unsent_by(end)
            .saturating_sub(schedule.unsent_by(before));
        self.censored.at_end += window;
        schedule.drain_unsent(from, end, |age, n| self.censor(Censor::Unsent, us(age), n));
    }

    /// Count one error.
    pub fn error(&mut self, class: ErrorClass, detail: &str) {
        match self
            .errors
            .iter_mut()
            .find(|e| e.class == class && e.detail == detail)
        {
            Some(e) => e.count += 1,
            None => self.errors.push(ErrorCount {
                class,
                detail: detail.to_string(),
                count: 1,
            }),
        }
    }

    /// Count one HTTP status.
    pub fn status(&mut self, code: u16) {
        match self.statuses.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => *n += 1,
            None => self.statuses.push((code, 1)),
        }
    }

    /// Measured HTTP responses whose status is not 2xx or 3xx (wrk's "Non-2xx or 3xx
    /// responses"): answered, but not a success.
    pub fn non_2xx_3xx(&self) -> u64 {
        non_2xx_3xx(&self.statuses)
    }

    /// Total errors of all classes.
    pub fn error_total(&self) -> u64 {
        self.errors.iter().map(|e| e.count).sum()
    }

    /// Errors of one class.
    pub fn errors_of(&self, class: ErrorClass) -> u64 {
        self.errors
            .iter()
            .filter(|e| e.class == class)
            .map(|e| e.count)
            .sum()
    }

    /// Add another worker's numbers.
    pub fn merge(&mut self, o: &Recorder) {
        // Same bounds everywhere, so `add` cannot fail.
        let _ = self.corrected.add(&o.corrected);
        let _ = self.raw.add(&o.raw);
        let _ = self.connect.add(&o.connect);
        self.phases.merge(&o.phases);
        let _ = self.send_lag.add(&o.send_lag);
        self.sent += o.sent;
        self.completed += o.completed;
        self.measured += o.measured;
        self.failed += o.failed;
        self.failed_counted += o.failed_counted;
        if self.stage_done.len() < o.stage_done.len() {
            self.stage_done.resize(o.stage_done.len(), 0);
        }
        for (a, b) in self.stage_done.iter_mut().zip(&o.stage_done) {
            *a += b;
        }
        self.in_flight_end += o.in_flight_end;
        self.bytes_sent += o.bytes_sent;
        self.bytes_received += o.bytes_received;
        self.bytes_received_measured += o.bytes_received_measured;
        self.raw_sum_us = self.raw_sum_us.saturating_add(o.raw_sum_us);
        self.connects_ok += o.connects_ok;
        self.connects_tried += o.connects_tried;
        self.censored.merge(&o.censored);
        for &(c, n) in &o.statuses {
            match self.statuses.iter_mut().find(|(x, _)| *x == c) {
                Some((_, m)) => *m += n,
                None => self.statuses.push((c, n)),
            }
        }
        for e in &o.errors {
            match self
                .errors
                .iter_mut()
                .find(|x| x.class == e.class && x.detail == e.detail)
            {
                Some(x) => x.count += e.count,
                None => self.errors.push(e.clone()),
            }
        }
        if self.entries.len() < o.entries.len() {
            self.entries.resize_with(o.entries.len(), Default::default);
        }
        for (a, b) in self.entries.iter_mut().zip(&o.entries) {
            a.merge(b);
        }
        self.answered = Sample::better(self.answered, o.answered);
        self.statuses.sort_unstable();
        self.errors
            .sort_by(|a, b| (a.class, &a.detail).cmp(&(b.class, &b.detail)));
    }

    /// What the server answered instead of a reply, for the reports: the sample kept;
    /// a close before any byte only while no reply at all completed (a server closing
    /// one idle connection as a request went out says nothing about its protocol).
    pub fn answered_instead(&self) -> Option<Sample> {
        self.answered
            .filter(|a| a.looks() != Looks::Nothing || self.completed == 0)
    }

    /// Nothing was measured, yet the corrected latencies hold requests: only censored
    /// ones (timed out, unfinished, unsent), at the time they had waited. Their
    /// percentiles are lower bounds of requests that never got an answer, not a
    /// measurement: the reports must not show them as one.
    pub fn censored_only(&self) -> bool {
        self.measured == 0 && !self.corrected.is_empty()
    }

    /// The books balance: every request sent is a response, an error or still in flight.
    pub fn books_balance(&self) -> bool {
        self.sent == self.completed + self.failed + self.in_flight_end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_a_run_ended_before_measuring_owes_nothing_at_once() {
        use crate::schedule::Rate;
        // Interrupted while connecting: the measurement would have begun a century on
        // (the provisional start); at 1,000/s that is 3e12 requests to skip.
        let t0 = Instant::now();
        let far = t0 + Duration::from_secs(100 * 365 * 86_400);
        let mut s = Schedule::new(t0, Rate::per_second(1000.0));
        let mut rec = Recorder::default();
        let started = Instant::now();
        rec.censor_unsent(&mut s, far, t0 + Duration::from_millis(5));
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!((rec.censored.unsent, rec.censored.at_end), (0, 0));
    }

    #[test]
    fn test_unsent_within_the_mean_latency_are_at_the_end() {
        use crate::schedule::Rate;
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // Answered 2 ms after being sent, on average.
        let mut rec = Recorder {
            completed: 4,
            raw_sum_us: 8_000,
            ..Recorder::default()
        };
        // 1,000/s: due at 0, 1, 2 ... ms; request 0 sent, the rest never.
        let mut s = Schedule::new(t0, Rate::per_second(1000.0));
        s.take();
        rec.censor_unsent(&mut s, t0, t0 + ms(10));
        // Due at 1..=10 ms, unsent: 10. Those due after 8 ms are the run's end; the
        // one due at 8 ms could just have been answered by the end.
        assert_eq!(rec.censored.unsent, 10);
        assert_eq!(rec.censored.at_end, 2, "due at 9 and 10 ms");
        // Nothing answered: no answer time, nothing excused.
        let mut rec = Recorder::default();
        let mut s = Schedule::new(t0, Rate::per_second(1000.0));
        rec.censor_unsent(&mut s, t0, t0 + ms(10));
        assert_eq!((rec.censored.unsent, rec.censored.at_end), (11, 0));
    }

    #[test]
    fn test_merge_adds_everything() {
        let mut a = Recorder::default();
        let mut b = Recorder::default();
        record_us(&mut a.corrected, 100);
        record_us(&mut b.corrected, 300);
        a.sent = 3;
        a.completed = 2;
        a.failed = 1;
        b.sent = 2;
        b.completed = 1;
        b.in_flight_end = 1;
        a.error(ErrorClass::Reset, "ECONNRESET");
        b.error(ErrorClass::Reset, "ECONNRESET");
        b.status(200);
        a.merge(&b);
        assert_eq!(a.corrected.len(), 2);
        assert_eq!(a.errors_of(ErrorClass::Reset), 2);
        assert_eq!(a.statuses, vec![(200, 1)]);
        assert!(a.books_balance());
        a.sent += 1;
        assert!(!a.books_balance());
    }
}
