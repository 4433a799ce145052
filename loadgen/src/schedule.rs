//! Each connection slot's open-loop timeline, wrk2-style.
//!
//! A slot's requests fall due on a timeline fixed before the run: request `k` of the
//! slot is due at `phase + k / r`, where `r` is the slot's share of the rate and
//! `phase` staggers the slots so their sends interleave evenly. Due times are computed
//! from `k`, never from when the last request went out, so a slow reply cannot push
//! the timeline back: that is what lets the corrected latency (measured from the due
//! time) see coordinated omission. The timeline belongs to the slot, not to one
//! connection: it is carried across reconnects, so a reconnect's cost shows in the
//! corrected latency of the requests that fell due meanwhile.
//!
//! The slot also remembers the due times of its requests in flight (a FIFO of at most
//! `--pipeline` entries, [`MAX_DEPTH`] at most), and can say how many
//! requests fell due by a given time but were never taken off the timeline (the
//! connection was busy, or reconnecting): the requests a closed-loop tool never
//! mentions.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Requests one slot may have in flight (`--pipeline`), each with its due time. The
/// framer's FIFO of expectations holds as many replies (`framing::MAX_PIPELINE`).
pub const MAX_DEPTH: usize = 64;

/// How fast a slot's requests fall due: a rate as a function of time. Constant for
/// now; stages and segments are for later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rate {
    /// One request every `interval` throughout.
    Constant {
        /// Time between two due times of the slot (never zero).
        interval: Duration,
    },
}

impl Rate {
    /// `per_s` requests per second (the slot's share of the total).
    pub fn per_second(per_s: f64) -> Rate {
        Rate::every(Duration::from_secs_f64(1.0 / per_s.max(1e-9)))
    }

    /// One request every `interval` (at least 1 ns).
    pub fn every(interval: Duration) -> Rate {
        Rate::Constant {
            interval: interval.max(Duration::from_nanos(1)),
        }
    }

    fn interval(&self) -> Duration {
        match *self {
            Rate::Constant { interval } => interval,
        }
    }
}

/// One slot's timeline: where it starts, how fast it runs, how much of it was taken.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// When request 0 is due (the run's start plus the slot's phase offset).
    phase: Instant,
    interval: Duration,
    /// Requests taken off the timeline so far (sent, or skipped on purpose).
    taken: u64,
}

impl Schedule {
    /// A timeline whose first request is due at `phase`, at `rate`.
    ///
    /// ```
    /// use loadgen::schedule::{Rate, Schedule};
    /// use std::time::{Duration, Instant};
    ///
    /// let t0 = Instant::now();
    /// let mut s = Schedule::new(t0, Rate::per_second(100.0));
    /// assert_eq!(s.take(), t0);
    /// assert_eq!(s.next_due(), t0 + Duration::from_millis(10));
    /// // 35 ms in: requests due at 10, 20 and 30 ms were never taken.
    /// assert_eq!(s.unsent_by(t0 + Duration::from_millis(35)), 3);
    /// ```
    pub fn new(phase: Instant, rate: Rate) -> Schedule {
        Schedule {
            phase,
            interval: rate.interval(),
            taken: 0,
        }
    }

    /// Move the whole timeline later by `d` (its start became known: loadgen opens its
    /// connections first, then starts every slot's timeline at once).
    pub fn shift(&mut self, d: Duration) {
        self.phase += d;
    }

    /// The due time of request `k` of this slot.
    fn due(&self, k: u64) -> Instant {
        // In nanoseconds from `k`, not by adding intervals up: no drift over a long run.
        let ns = (self.interval.as_nanos()).saturating_mul(u128::from(k));
        self.phase + Duration::from_nanos(ns.min(u128::from(u64::MAX)) as u64)
    }

    /// When the next request not yet taken is due.
    pub fn next_due(&self) -> Instant {
        self.due(self.taken)
    }

    /// Take the next request off the timeline: its due time.
    pub fn take(&mut self) -> Instant {
        let d = self.next_due();
        self.taken += 1;
        d
    }

    /// Skip the requests due before `t` without sending them (they are counted by
    /// nobody: the caller decides that they never belonged to the run, e.g. before the
    /// measurement began). Returns how many were skipped.
    pub fn skip_to(&mut self, t: Instant) -> u64 {
        let mut n = 0;
        while self.next_due() < t {
            self.taken += 1;
            n += 1;
        }
        n
    }

    /// End the timeline: nothing more falls due (a `-n` run sent its N requests, so
    /// those its timeline still held are owed to nobody).
    pub fn abandon(&mut self) {
        self.taken = u64::MAX;
    }

    /// Take every request due from `from` up to `t` off the timeline unsent, calling
    /// `f(age, n)` for them: `n` requests whose age at `t` is at least `age`. Requests
    /// due before `from` (the warm-up) are skipped without a call. At most about 1,000
    /// calls however many are due: a long stall at a high rate is summarised in steps
    /// (each step's requests counted at its youngest age, a lower bound).
    pub fn drain_unsent(&mut self, from: Instant, t: Instant, mut f: impl FnMut(Duration, u64)) {
        self.skip_to(from);
        let n = self.unsent_by(t);
        if n == 0 {
            return;
        }
        let step = n.div_ceil(1000).max(1);
        let mut left = n;
        while left > 0 {
            let k = step.min(left);
            // The youngest of these k is the last one.
            let youngest = self.due(self.taken + k - 1);
            f(t.saturating_duration_since(youngest), k);
            self.taken += k;
            left -= k;
        }
    }

    /// Requests that fell due at or before `t` and were never taken: the slot was busy
    /// (a reply outstanding) or had no connection.
    pub fn unsent_by(&self, t: Instant) -> u64 {
        if t < self.phase {
            return 0;
        }
        let since = t.duration_since(self.phase).as_nanos();
        let due_by = since / self.interval.as_nanos().max(1) + 1; // request 0 at `phase`
        (due_by.min(u128::from(u64::MAX)) as u64).saturating_sub(self.taken)
    }
}

/// One request (or `--request` pipeline) in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sent {
    /// When it was due (corrected latency starts here; closed loop: when it was sent).
    pub due: Instant,
    /// When it was written (raw latency and `--timeout` start here).
    pub at: Instant,
    /// Replies still owed (a `--request` holding several requests owes several).
    pub replies: u32,
    /// Whether it is one of the requests a `-n` run counts (sent after the warm-up).
    pub counted: bool,
}

/// A slot's requests in flight, oldest first: at most `depth` (`--pipeline`), answered
/// in order, so the reply that arrives next answers the oldest.
#[derive(Clone, Debug)]
pub struct InFlight {
    sent: VecDeque<Sent>,
    depth: usize,
}

impl Default for InFlight {
    fn default() -> Self {
        InFlight::with_depth(1)
    }
}

impl InFlight {
    /// A FIFO of at most `depth` entries (at least 1, at most [`MAX_DEPTH`]).
    pub fn with_depth(depth: usize) -> InFlight {
        InFlight {
            sent: VecDeque::new(),
            depth: depth.clamp(1, MAX_DEPTH),
        }
    }

    /// Whether another request may be sent (fewer than `depth` in flight).
    pub fn has_room(&self) -> bool {
        self.sent.len() < self.depth
    }

    /// Note a request (or pipeline) written; false if the FIFO is full or it owes no
    /// reply.
    pub fn push(&mut self, s: Sent) -> bool {
        if !self.has_room() || s.replies == 0 {
            return false;
        }
        self.sent.push_back(s);
        true
    }

    /// A reply arrived: the oldest entry (as it was before this reply); the entry
    /// leaves once all its replies are in.
    pub fn answer(&mut self) -> Option<Sent> {
        let first = self.sent.front_mut()?;
        let s = *first;
        first.replies -= 1;
        if first.replies == 0 {
            self.sent.pop_front();
        }
        Some(s)
    }

    /// The oldest entry.
    pub fn oldest(&self) -> Option<&Sent> {
        self.sent.front()
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = &Sent> + '_ {
        self.sent.iter()
    }

    /// Replies still outstanding, over all entries.
    pub fn outstanding(&self) -> u64 {
        self.sent.iter().map(|s| u64::from(s.replies)).sum()
    }

    /// Replies outstanding for the entries a `-n` run counts.
    pub fn outstanding_counted(&self) -> u64 {
        self.sent
            .iter()
            .filter(|s| s.counted)
            .map(|s| u64::from(s.replies))
            .sum()
    }

    /// Entries in flight.
    pub fn len(&self) -> usize {
        self.sent.len()
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.sent.is_empty()
    }

    /// Forget them all (the connection closed: their fate is counted elsewhere).
    pub fn clear(&mut self) {
        self.sent.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn test_due_times_come_from_k_not_from_sends() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0 + ms(3), Rate::per_second(1000.0));
        assert_eq!(s.take(), t0 + ms(3));
        assert_eq!(s.take(), t0 + ms(4));
        // However late the caller takes the next one, its due time stays on the line.
        assert_eq!(s.take(), t0 + ms(5));
        // A million requests on: exactly a million intervals, no accumulated drift.
        let mut far = Schedule::new(t0, Rate::every(Duration::from_nanos(333_333_333)));
        for _ in 0..1_000_000 {
            far.take();
        }
        let want = t0 + Duration::from_nanos(333_333_333 * 1_000_000);
        assert_eq!(far.next_due(), want);
    }

    #[test]
    fn test_unsent_counts_due_and_not_taken() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0, Rate::per_second(100.0));
        assert_eq!(s.unsent_by(t0 - ms(1)), 0, "nothing due before the phase");
        assert_eq!(s.unsent_by(t0), 1, "request 0 is due at the phase");
        s.take();
        assert_eq!(s.unsent_by(t0 + ms(9)), 0);
        assert_eq!(s.unsent_by(t0 + ms(10)), 1);
        assert_eq!(s.unsent_by(t0 + ms(1000)), 100);
        assert_eq!(s.skip_to(t0 + ms(25)), 2, "due at 10 and 20 ms skipped");
        assert_eq!(s.next_due(), t0 + ms(30));
        assert_eq!(s.unsent_by(t0 + ms(25)), 0);
    }

    #[test]
    fn test_drain_unsent_counts_every_due_request_with_its_age() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0, Rate::per_second(1000.0));
        s.take();
        let mut seen = Vec::new();
        // Due at 1..=10 ms, drained at 10 ms; those before 3 ms were warm-up.
        s.drain_unsent(t0 + ms(3), t0 + ms(10), |age, n| seen.push((age, n)));
        let total: u64 = seen.iter().map(|&(_, n)| n).sum();
        assert_eq!(total, 8, "due at 3..=10 ms");
        assert_eq!(seen.first(), Some(&(ms(7), 1)), "the oldest: due at 3 ms");
        assert_eq!(s.unsent_by(t0 + ms(10)), 0);
        // A long stall is summarised in at most ~1000 steps, every request counted.
        let mut s = Schedule::new(t0, Rate::per_second(1_000_000.0));
        let (mut calls, mut total) = (0, 0);
        s.drain_unsent(t0, t0 + Duration::from_secs(3), |_, n| {
            calls += 1;
            total += n;
        });
        assert_eq!(total, 3_000_001);
        assert!(calls <= 1001, "{calls} calls");
    }

    #[test]
    fn test_in_flight_is_a_bounded_fifo_of_pipelines() {
        let t0 = Instant::now();
        let sent = |ms_: u64, replies: u32| Sent {
            due: t0 + ms(ms_),
            at: t0 + ms(ms_),
            replies,
            counted: true,
        };
        let mut f = InFlight::default();
        assert!(f.is_empty());
        assert!(
            !f.push(sent(0, 0)),
            "a request with no reply is not in flight"
        );
        assert!(f.push(sent(0, 3)));
        assert!(!f.push(sent(1, 1)), "depth 1: one at a time");
        assert_eq!(f.outstanding(), 3);
        // Each of the three replies answers the same entry.
        assert_eq!(f.answer().map(|s| s.due), Some(t0));
        assert_eq!(f.answer().map(|s| s.due), Some(t0));
        assert_eq!(f.outstanding(), 1);
        assert_eq!(f.answer().map(|s| s.due), Some(t0));
        assert!(f.is_empty());
        assert_eq!(
            f.answer(),
            None,
            "a reply with nothing outstanding answers nothing"
        );
        assert!(f.push(sent(2, 1)));
        f.clear();
        assert_eq!(f.outstanding(), 0);

        // Depth 4: four in flight, answered oldest first; room again after a reply.
        let mut f = InFlight::with_depth(4);
        for k in 0..4 {
            assert!(f.push(sent(k, 1)), "entry {k}");
        }
        assert!(!f.has_room());
        assert!(!f.push(sent(9, 1)));
        assert_eq!(f.answer().map(|s| s.due), Some(t0));
        assert!(f.has_room());
        assert_eq!(f.oldest().map(|s| s.due), Some(t0 + ms(1)));
        assert_eq!(f.len(), 3);
        assert_eq!(InFlight::with_depth(1000).depth, MAX_DEPTH);
        assert_eq!(InFlight::with_depth(0).depth, 1);
    }
}
