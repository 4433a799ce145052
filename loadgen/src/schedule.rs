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

/// A rate that changes over time (`--stages 30s:1000,60s:1000,30s:0`): linear segments,
/// each from the previous target to its own over its duration, as k6's stages; the first
/// starts from 0. Request `n` of the whole run is due when the integral of the rate
/// reaches `n`, so a ramp's requests come closer together as it climbs.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    /// (start s, duration s, rate at start, rate at end, requests due before it).
    segments: Vec<(f64, f64, f64, f64, f64)>,
}

impl Profile {
    /// The stages as (duration, target rate) pairs.
    ///
    /// ```
    /// use loadgen::schedule::Profile;
    /// use std::time::Duration;
    /// let p = Profile::new(&[(Duration::from_secs(10), 100.0), (Duration::from_secs(10), 100.0)]);
    /// assert_eq!(p.rate_at(5.0), 50.0); // half-way up the ramp
    /// assert_eq!(p.integral(10.0), 500.0); // the ramp's requests
    /// assert_eq!(p.time_of(1500.0), Some(20.0));
    /// assert_eq!(p.time_of(1501.0), None); // past the end
    /// ```
    pub fn new(stages: &[(Duration, f64)]) -> Profile {
        let mut segments = Vec::with_capacity(stages.len());
        let (mut t, mut from, mut before) = (0.0, 0.0, 0.0);
        for &(d, to) in stages {
            let d = d.as_secs_f64();
            segments.push((t, d, from, to, before));
            before += d * (from + to) / 2.0;
            t += d;
            from = to;
        }
        Profile { segments }
    }

    /// The whole duration, seconds.
    pub fn duration(&self) -> f64 {
        self.segments.last().map_or(0.0, |&(t, d, ..)| t + d)
    }

    /// Requests due over the whole profile.
    pub fn total(&self) -> f64 {
        self.integral(self.duration())
    }

    /// The target rate `t` seconds in (0 past the end).
    pub fn rate_at(&self, t: f64) -> f64 {
        for &(s, d, a, b, _) in &self.segments {
            if t >= s && t < s + d {
                return a + (b - a) * (t - s) / d.max(1e-12);
            }
        }
        0.0
    }

    /// Requests due in the first `t` seconds.
    pub fn integral(&self, t: f64) -> f64 {
        let mut acc = 0.0;
        for &(s, d, a, b, before) in &self.segments {
            if t < s {
                break;
            }
            let x = (t - s).min(d);
            let rate_x = a + (b - a) * x / d.max(1e-12);
            acc = before + x * (a + rate_x) / 2.0;
        }
        acc
    }

    /// When (seconds in) the integral reaches `n`; `None` if it never does.
    pub fn time_of(&self, n: f64) -> Option<f64> {
        for &(s, d, a, b, before) in &self.segments {
            let inside = d * (a + b) / 2.0;
            if n > before + inside + 1e-9 {
                continue;
            }
            // Solve before + a x + (b - a) x^2 / (2 d) = n for x in [0, d].
            let m = n - before;
            let k = (b - a) / d.max(1e-12);
            let x = if k.abs() < 1e-12 {
                if a <= 0.0 {
                    continue; // a flat zero: nothing falls due here
                }
                m / a
            } else {
                let disc = (a * a + 2.0 * k * m).max(0.0);
                (-a + disc.sqrt()) / k
            };
            return Some(s + x.clamp(0.0, d));
        }
        None
    }

    /// The stage `t` seconds in falls in (index), `None` past the end.
    pub(crate) fn stage_at(&self, t: f64) -> Option<usize> {
        self.segments
            .iter()
            .position(|&(s, d, ..)| t >= s && t < s + d)
    }

    /// Each stage: (start s, duration s, rate at start, rate at end).
    pub fn stages(&self) -> impl Iterator<Item = (f64, f64, f64, f64)> + '_ {
        self.segments.iter().map(|&(s, d, a, b, _)| (s, d, a, b))
    }

    /// The same stages with every target times `f` (a segment's part of the run's).
    ///
    /// ```
    /// use loadgen::schedule::Profile;
    /// use std::time::Duration;
    /// let p = Profile::new(&[(Duration::from_secs(10), 100.0)]).scaled(0.25);
    /// assert_eq!(p.rate_at(10.0 - 1e-9).round(), 25.0);
    /// ```
    pub fn scaled(&self, f: f64) -> Profile {
        let stages: Vec<(Duration, f64)> = self
            .stages()
            .map(|(_, d, _, to)| (Duration::from_secs_f64(d), to * f))
            .collect();
        Profile::new(&stages)
    }
}

/// The run-wide clock of a dealt timeline: when the run's request `i` (0-based) is due.
#[derive(Clone, Debug)]
pub enum Clock {
    /// A constant rate: request `i` due `i` / rate after the origin.
    Rate(f64),
    /// A changing rate: request `i` due when the profile's integral reaches `i + 1`.
    Profile(std::sync::Arc<Profile>),
}

impl Clock {
    /// Seconds from the origin to the run's request `i` (`None`: never, past the
    /// profile's end).
    fn time_of(&self, i: u64) -> Option<f64> {
        match self {
            Clock::Rate(r) => Some(i as f64 / r.max(1e-9)),
            Clock::Profile(p) => p.time_of((i + 1) as f64),
        }
    }

    /// How many of the run's requests are due `t` seconds after the origin.
    fn due_count(&self, t: f64) -> u64 {
        if t < 0.0 {
            return 0;
        }
        match self {
            // Request 0 is due at the origin.
            Clock::Rate(r) => (t * r).floor() as u64 + 1,
            Clock::Profile(p) => p.integral(t).floor() as u64,
        }
    }

    /// The rate at `t` seconds from the origin (requests/s, the whole run's).
    pub fn rate_at(&self, t: f64) -> f64 {
        match self {
            Clock::Rate(r) => *r,
            Clock::Profile(p) => p.rate_at(t),
        }
    }
}

/// One worker's part of the run's requests: of each `total` in turn, the `width`
/// from `first` (its initial slots' share, as [`Schedule::profiled`] deals them). Its
/// requests are numbered `m` = 0, 1, 2... in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    /// Its first slot's index among the run's.
    pub first: u64,
    /// Its slots at the start.
    pub width: u64,
    /// The run's slots at the start.
    pub total: u64,
}

impl Share {
    /// The run's index of the worker's request `m`.
    fn global(&self, m: u64) -> u64 {
        (m / self.width) * self.total + self.first + m % self.width
    }

    /// How many of the worker's requests are among the run's first `d`.
    fn count_below(&self, d: u64) -> u64 {
        let (q, rem) = (d / self.total, d % self.total);
        q * self.width + rem.saturating_sub(self.first).min(self.width)
    }
}

/// A stretch of a slot's timeline: from the worker's request `from`, every `stride`th
/// starting `slot` after it, up to request `upto` (exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Deal {
    from: u64,
    slot: u64,
    stride: u64,
    upto: u64,
}

impl Deal {
    /// How many of its requests are below the worker's request `m`.
    fn count_below(&self, m: u64) -> u64 {
        let end = m.min(self.upto);
        let first = self.from + self.slot;
        if end <= first {
            0
        } else {
            (end - first - 1) / self.stride + 1
        }
    }
}

/// A stretch of a slot's timeline, its requests in order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Stretch {
    /// Dealt in turn.
    Deal(Deal),
    /// Handed over one by one (requests another slot owed when the worker added
    /// slots), sorted.
    List(Vec<u64>),
}

impl Stretch {
    /// How many of its requests are below the worker's request `m`.
    fn count_below(&self, m: u64) -> u64 {
        match self {
            Stretch::Deal(d) => d.count_below(m),
            Stretch::List(v) => v.partition_point(|&x| x < m) as u64,
        }
    }

    /// Its requests in all.
    fn len(&self) -> u64 {
        self.count_below(u64::MAX)
    }

    /// Its request `k` (the worker's number).
    fn nth(&self, k: u64) -> u64 {
        match self {
            Stretch::Deal(d) => d.from + d.slot + k * d.stride,
            Stretch::List(v) => v[k as usize],
        }
    }

    /// Drop its first `k` requests (taken: forgotten).
    fn skip_front(&mut self, k: u64) {
        match self {
            Stretch::Deal(d) => d.slot += k * d.stride,
            Stretch::List(v) => {
                v.drain(..(k as usize).min(v.len()));
            }
        }
    }

    /// Keep only its first `k` requests.
    fn truncate(&mut self, k: u64) {
        match self {
            Stretch::Deal(d) => d.upto = d.upto.min(d.from + d.slot + k * d.stride),
            Stretch::List(v) => v.truncate(k as usize),
        }
    }
}

/// How a timeline's due times are laid out.
#[derive(Clone, Debug)]
enum Line {
    /// A slot of a worker whose slots can grow (`--max-connections`): the worker deals
    /// its requests to its slots in turn, and when it adds slots it deals the requests
    /// not yet due again, over the new number (each stretch one [`Deal`]).
    Dealt {
        origin: Instant,
        clock: Clock,
        share: Share,
        deals: Vec<Stretch>,
        /// Every request taken is below this one (the worker's number).
        above: u64,
    },
    /// Request `k` due at `phase + k x interval`.
    Constant { phase: Instant, interval: Duration },
    /// Request `k` of slot `slot` (of `stride` slots) is request `k x stride + slot + 1`
    /// of the run (1-based): due when the profile's integral from `origin` reaches it.
    Profile {
        origin: Instant,
        profile: std::sync::Arc<Profile>,
        slot: u64,
        stride: u64,
    },
}

/// One slot's timeline: where it starts, how fast it runs, how much of it was taken.
#[derive(Clone, Debug)]
pub struct Schedule {
    line: Line,
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
            line: Line::Constant {
                phase,
                interval: rate.interval(),
            },
            taken: 0,
        }
    }

    /// The timeline of slot `slot` of `stride` under a changing rate: the run's
    /// requests go to the slots in turn, request `n` due when `profile`'s integral from
    /// `origin` reaches `n`.
    pub fn profiled(
        origin: Instant,
        profile: std::sync::Arc<Profile>,
        slot: u64,
        stride: u64,
    ) -> Schedule {
        Schedule {
            line: Line::Profile {
                origin,
                profile,
                slot,
                stride: stride.max(1),
            },
            taken: 0,
        }
    }

    /// Slot `slot` of a worker whose slots can grow: the worker's requests (`share` of
    /// the run's, due on `clock` from `origin`) go to its slots in turn, `slots` of
    /// them.
    ///
    /// ```
    /// use loadgen::schedule::{Clock, Schedule, Share};
    /// use std::time::{Duration, Instant};
    /// let t0 = Instant::now();
    /// // The run: 100/s over 2 slots; this worker has both, this is slot 1.
    /// let share = Share { first: 0, width: 2, total: 2 };
    /// let mut s = Schedule::dealt(t0, Clock::Rate(100.0), share, 1, 2);
    /// assert_eq!(s.take(), t0 + Duration::from_millis(10));
    /// assert_eq!(s.take(), t0 + Duration::from_millis(30));
    /// ```
    pub fn dealt(origin: Instant, clock: Clock, share: Share, slot: u64, slots: u64) -> Schedule {
        Schedule {
            line: Line::Dealt {
                origin,
                clock,
                share: Share {
                    width: share.width.max(1),
                    total: share.total.max(1),
                    ..share
                },
                deals: vec![Stretch::Deal(Deal {
                    from: 0,
                    slot,
                    stride: slots.max(1),
                    upto: u64::MAX,
                })],
                above: 0,
            },
            taken: 0,
        }
    }

    /// The worker's requests not yet due at `t` (the first of them, numbered as in
    /// [`Share`]): where a new deal over more slots may begin. `None` for a timeline
    /// that cannot be dealt again.
    pub(crate) fn cut_at(&self, t: Instant) -> Option<u64> {
        match &self.line {
            Line::Dealt {
                origin,
                clock,
                share,
                ..
            } => {
                let d = clock.due_count(t.saturating_duration_since(*origin).as_secs_f64());
                Some(share.count_below(d))
            }
            _ => None,
        }
    }

    /// The worker is adding slots and deals again from its request `cut` (the first
    /// not yet due): this slot gives up every request from `cut` on, and unless
    /// `keep_backlog`, those it has not taken before `cut` too (its backlog, fallen due
    /// while it was busy), which it returns for the worker to share out. What it took
    /// stays its own. A timeline that cannot be dealt again gives up nothing.
    pub(crate) fn give_up_from(&mut self, cut: u64, keep_backlog: bool) -> Vec<u64> {
        self.fold();
        let taken = self.taken;
        let Line::Dealt { deals, .. } = &mut self.line else {
            return Vec::new();
        };
        // The stretch holding the first untaken request, and where in it.
        let (mut i, mut k) = (0, taken);
        while i < deals.len() && k >= deals[i].len() {
            k -= deals[i].len();
            i += 1;
        }
        let mut owed = Vec::new();
        for (j, d) in deals.iter_mut().enumerate().skip(i) {
            let from = if j == i { k } else { 0 };
            let before = d.count_below(cut);
            if keep_backlog {
                d.truncate(before);
            } else {
                owed.extend((from..before.max(from)).map(|x| d.nth(x)));
                d.truncate(from);
            }
        }
        // Stretches emptied by the cut go.
        if !keep_backlog {
            deals.truncate((i + 1).min(deals.len()));
        }
        owed
    }

    /// Forget the requests already taken, so that `due` and `unsent_by` walk only what
    /// is left: the cost of a send stays flat however often the worker deals again.
    fn fold(&mut self) {
        if self.taken == u64::MAX {
            return; // abandoned: nothing falls due any more
        }
        let above_now = self.taken_floor();
        let Line::Dealt { deals, above, .. } = &mut self.line else {
            return;
        };
        *above = above_now;
        let mut k = self.taken;
        let mut whole = 0;
        for d in deals.iter() {
            let n = d.len();
            if k < n {
                break;
            }
            k -= n;
            whole += 1;
        }
        let mut removed = k;
        for d in deals.drain(..whole) {
            removed += d.len();
        }
        if let Some(first) = deals.first_mut() {
            first.skip_front(k);
        }
        self.taken -= removed;
    }

    /// The worker's number of this slot's request `k` (`None` past its timeline).
    fn m_of(&self, k: u64) -> Option<u64> {
        let Line::Dealt { deals, .. } = &self.line else {
            return None;
        };
        let mut k = k;
        for d in deals {
            let n = d.len();
            if k < n {
                return Some(d.nth(k));
            }
            k -= n;
        }
        None
    }

    /// Every request this slot took is below this one (the worker's number): where a
    /// new deal may begin at the earliest. The clock's count of what is due and the
    /// due times it gives agree only to the nanosecond; the worker cuts no lower than
    /// this, so a request taken at its due instant is never dealt again.
    pub(crate) fn taken_floor(&self) -> u64 {
        let Line::Dealt { above, .. } = &self.line else {
            return 0;
        };
        match self.taken.checked_sub(1).and_then(|k| self.m_of(k)) {
            Some(m) => (*above).max(m + 1),
            None => *above,
        }
    }

    /// From the worker's request `cut` on, this slot is slot `slot` of `slots`, and
    /// before that it owes `owed` (sorted; due already: a share of the backlog). Call
    /// [`give_up_from`](Schedule::give_up_from) first. A timeline that cannot be dealt
    /// again is left as it is.
    pub(crate) fn deal_again(&mut self, owed: Vec<u64>, cut: u64, slot: u64, slots: u64) {
        if let Line::Dealt { deals, .. } = &mut self.line {
            if !owed.is_empty() {
                deals.push(Stretch::List(owed));
            }
            deals.push(Stretch::Deal(Deal {
                from: cut,
                slot,
                stride: slots.max(1),
                upto: u64::MAX,
            }));
        }
    }

    /// A new slot, on the same line as this one with nothing dealt yet: then
    /// [`deal_again`](Schedule::deal_again) gives it its requests.
    pub(crate) fn joining(&self) -> Option<Schedule> {
        match &self.line {
            Line::Dealt {
                origin,
                clock,
                share,
                ..
            } => Some(Schedule {
                line: Line::Dealt {
                    origin: *origin,
                    clock: clock.clone(),
                    share: *share,
                    deals: Vec::new(),
                    above: 0,
                },
                taken: 0,
            }),
            _ => None,
        }
    }

    /// Move the whole timeline later by `d` (its start became known: loadgen opens its
    /// connections first, then starts every slot's timeline at once).
    pub(crate) fn shift(&mut self, d: Duration) {
        match &mut self.line {
            Line::Dealt { origin, .. } => *origin += d,
            Line::Constant { phase, .. } => *phase += d,
            Line::Profile { origin, .. } => *origin += d,
        }
    }

    /// Where the timeline starts.
    fn start(&self) -> Instant {
        match &self.line {
            Line::Dealt { origin, .. } => *origin,
            Line::Constant { phase, .. } => *phase,
            Line::Profile { origin, .. } => *origin,
        }
    }

    /// The due time of request `k` of this slot (far in the future past the profile).
    fn due(&self, k: u64) -> Instant {
        let never = || self.start() + Duration::from_secs(100 * 365 * 86_400);
        match &self.line {
            Line::Dealt {
                origin,
                clock,
                share,
                ..
            } => match self.m_of(k).and_then(|m| clock.time_of(share.global(m))) {
                Some(t) => *origin + Duration::from_secs_f64(t),
                None => never(),
            },
            Line::Constant { phase, interval } => {
                // In nanoseconds from `k`, not by adding intervals up: no drift.
                let ns = (interval.as_nanos()).saturating_mul(u128::from(k));
                *phase + Duration::from_nanos(ns.min(u128::from(u64::MAX)) as u64)
            }
            Line::Profile {
                origin,
                profile,
                slot,
                stride,
            } => {
                // 1-based: the run's first request falls due once one request's worth
                // of rate has passed (a ramp from 0 does not fire at its first instant).
                let n = k.saturating_mul(*stride).saturating_add(*slot + 1) as f64;
                match profile.time_of(n) {
                    Some(t) => *origin + Duration::from_secs_f64(t),
                    None => *origin + Duration::from_secs(100 * 365 * 86_400),
                }
            }
        }
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
    pub(crate) fn skip_to(&mut self, t: Instant) -> u64 {
        let mut n = 0;
        while self.next_due() < t {
            self.taken += 1;
            n += 1;
        }
        n
    }

    /// End the timeline: nothing more falls due (a `-n` run sent its N requests, so
    /// those its timeline still held are owed to nobody).
    pub(crate) fn abandon(&mut self) {
        self.taken = u64::MAX;
    }

    /// Take every request due from `from` up to `t` off the timeline unsent, calling
    /// `f(age, n)` for them: `n` requests whose age at `t` is at least `age`. Requests
    /// due before `from` (the warm-up) are skipped without a call. At most about 1,000
    /// calls however many are due: a long stall at a high rate is summarised in steps
    /// (each step's requests counted at its youngest age, a lower bound).
    pub(crate) fn drain_unsent(
        &mut self,
        from: Instant,
        t: Instant,
        mut f: impl FnMut(Duration, u64),
    ) {
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
        if t < self.start() {
            return 0;
        }
        let due_by = match &self.line {
            Line::Dealt {
                origin,
                clock,
                share,
                deals,
                ..
            } => {
                // Forgotten requests (see `fold`) left `taken` and the stretches alike.
                let d = clock.due_count(t.duration_since(*origin).as_secs_f64());
                let m = share.count_below(d);
                deals.iter().map(|x| x.count_below(m)).sum::<u64>()
            }
            Line::Constant { phase, interval } => {
                let since = t.duration_since(*phase).as_nanos();
                // Request 0 is due at `phase`.
                (since / interval.as_nanos().max(1) + 1).min(u128::from(u64::MAX)) as u64
            }
            Line::Profile {
                origin,
                profile,
                slot,
                stride,
            } => {
                let n = profile.integral(t.duration_since(*origin).as_secs_f64());
                let slot = *slot as f64 + 1.0; // 1-based, as in `due`
                if n < slot {
                    0
                } else {
                    ((n - slot) / *stride as f64).floor() as u64 + 1
                }
            }
        };
        due_by.saturating_sub(self.taken)
    }
}

/// One request (or `--request` pipeline) in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sent {
    /// When it was due (corrected latency starts here; closed loop: when it was sent).
    pub due: Instant,
    /// When it was written (raw latency and `--timeout` start here).
    pub at: Instant,
    /// Replies still owed (a `--request` holding several requests owes several).
    pub replies: u32,
    /// Whether it is one of the requests a `-n` run counts (sent after the warm-up).
    pub counted: bool,
    /// `--targets`: the stats slot of its entry (see [`crate::mix::Mix::bucket`]).
    pub entry: Option<u16>,
}

/// A slot's requests in flight, oldest first: at most `depth` (`--pipeline`), answered
/// in order, so the reply that arrives next answers the oldest.
#[derive(Clone, Debug)]
pub(crate) struct InFlight {
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
    pub(crate) fn with_depth(depth: usize) -> InFlight {
        InFlight {
            sent: VecDeque::new(),
            depth: depth.clamp(1, MAX_DEPTH),
        }
    }

    /// Whether another request may be sent (fewer than `depth` in flight).
    pub(crate) fn has_room(&self) -> bool {
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
    pub(crate) fn oldest(&self) -> Option<&Sent> {
        self.sent.front()
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = &Sent> + '_ {
        self.sent.iter()
    }

    /// Replies still outstanding, over all entries.
    pub(crate) fn outstanding(&self) -> u64 {
        self.sent.iter().map(|s| u64::from(s.replies)).sum()
    }

    /// Replies outstanding for the entries a `-n` run counts.
    pub(crate) fn outstanding_counted(&self) -> u64 {
        self.sent
            .iter()
            .filter(|s| s.counted)
            .map(|s| u64::from(s.replies))
            .sum()
    }

    /// Entries in flight.
    #[cfg(test)]
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
            entry: None,
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

    #[test]
    fn test_profile_integral_and_inverse_agree() {
        let p = Profile::new(&[
            (Duration::from_secs(30), 1000.0),
            (Duration::from_secs(60), 1000.0),
            (Duration::from_secs(30), 0.0),
        ]);
        assert_eq!(p.duration(), 120.0);
        assert_eq!(p.total(), 15_000.0 + 60_000.0 + 15_000.0);
        assert_eq!(p.rate_at(15.0), 500.0);
        assert_eq!(p.rate_at(60.0), 1000.0);
        assert_eq!(p.rate_at(105.0), 500.0);
        assert_eq!(p.stage_at(29.9), Some(0));
        assert_eq!(p.stage_at(30.0), Some(1));
        assert_eq!(p.stage_at(120.0), None);
        for n in [1.0, 10.0, 14_999.0, 15_000.0, 40_000.0, 80_000.0, 89_999.0] {
            let t = p.time_of(n).unwrap();
            assert!((p.integral(t) - n).abs() < 1e-6, "n {n}: t {t}");
        }
        assert_eq!(p.time_of(90_001.0), None);
    }

    #[test]
    fn test_profiled_slots_share_the_run_in_turn() {
        let t0 = Instant::now();
        // A ramp 0 -> 100/s over 10 s: 500 requests, shared by 4 slots.
        let p = std::sync::Arc::new(Profile::new(&[(Duration::from_secs(10), 100.0)]));
        let mut all = Vec::new();
        for slot in 0..4 {
            let mut s = Schedule::profiled(t0, p.clone(), slot, 4);
            while s.next_due() < t0 + Duration::from_secs(11) {
                all.push(s.take());
            }
            assert_eq!(s.unsent_by(t0 + Duration::from_secs(20)), 0, "slot {slot}");
        }
        assert_eq!(all.len(), 500);
        // Closer together as the ramp climbs: the first 250 take about 7.07 s.
        all.sort();
        let mid = all[249].duration_since(t0).as_secs_f64();
        assert!((mid - 50f64.sqrt()).abs() < 0.01, "{mid}");
        // unsent_by counts what fell due, per slot.
        let s = Schedule::profiled(t0, p, 0, 4);
        assert_eq!(s.unsent_by(t0 + Duration::from_secs(10)), 125);
    }

    #[test]
    fn test_dealt_slots_match_the_fixed_lines_before_any_growth() {
        let t0 = Instant::now();
        let p = std::sync::Arc::new(Profile::new(&[(Duration::from_secs(10), 100.0)]));
        // A worker with slots 3..5 of the run's 8.
        let share = Share {
            first: 3,
            width: 2,
            total: 8,
        };
        for j in 0..2u64 {
            let mut a = Schedule::profiled(t0, p.clone(), 3 + j, 8);
            let mut b = Schedule::dealt(t0, Clock::Profile(p.clone()), share, j, 2);
            for _ in 0..60 {
                let (x, y) = (a.take(), b.take());
                let diff = x.max(y).duration_since(x.min(y));
                assert!(diff < Duration::from_micros(1), "{x:?} {y:?}");
            }
            let t = t0 + Duration::from_secs(7);
            assert_eq!(a.unsent_by(t), b.unsent_by(t));
            // A constant rate: slot j's phase is (first + j) / rate, its interval
            // total / rate, as the fixed line's.
            let mut a = Schedule::new(
                t0 + Duration::from_secs_f64((3 + j) as f64 / 400.0),
                Rate::per_second(50.0),
            );
            let mut b = Schedule::dealt(t0, Clock::Rate(400.0), share, j, 2);
            for _ in 0..60 {
                let (x, y) = (a.take(), b.take());
                let diff = x.max(y).duration_since(x.min(y));
                assert!(diff < Duration::from_micros(1), "{x:?} {y:?}");
            }
        }
    }

    /// Growing from 2 slots to 5 at 1 s, one slot busy (its backlog handed over),
    /// loses no request and sends none twice: the requests the 5 slots hold from then
    /// on, with those taken before, are exactly the worker's.
    #[test]
    fn test_dealing_again_keeps_every_request_once() {
        let t0 = Instant::now();
        let share = Share {
            first: 0,
            width: 2,
            total: 2,
        };
        for keep in [false, true] {
            let mut slots: Vec<Schedule> = (0..2)
                .map(|j| Schedule::dealt(t0, Clock::Rate(100.0), share, j, 2))
                .collect();
            let cut_t = t0 + Duration::from_millis(1005);
            // Slot 1 kept up; slot 0 took only its first 10 (busy after).
            let mut taken = Vec::new();
            while slots[1].next_due() <= cut_t {
                taken.push(slots[1].take());
            }
            for _ in 0..10 {
                taken.push(slots[0].take());
            }
            assert_eq!(slots[0].unsent_by(cut_t), 41);
            let cut = slots[0].cut_at(cut_t).unwrap();
            assert_eq!(cut, 101, "requests 0..=100 are due at 1.005 s");
            let mut owed: Vec<u64> = Vec::new();
            for s in &mut slots {
                owed.extend(s.give_up_from(cut, keep));
            }
            assert_eq!(owed.len(), if keep { 0 } else { 41 });
            owed.sort_unstable();
            let mut parts = vec![Vec::new(); 5];
            for (i, m) in owed.into_iter().enumerate() {
                parts[i % 5].push(m);
            }
            let template = slots[0].clone();
            for (j, s) in slots.iter_mut().enumerate() {
                s.deal_again(std::mem::take(&mut parts[j]), cut, j as u64, 5);
            }
            for (j, part) in parts.into_iter().enumerate().skip(2) {
                let mut n = template.joining().unwrap();
                n.deal_again(part, cut, j as u64, 5);
                slots.push(n);
            }
            // Everything due by 3 s, from every slot.
            let end = t0 + Duration::from_secs(3);
            for s in &mut slots {
                while s.next_due() <= end {
                    taken.push(s.take());
                }
                assert_eq!(s.unsent_by(end), 0);
            }
            taken.sort();
            let want: Vec<Instant> = (0..=300)
                .map(|i| t0 + Duration::from_secs_f64(i as f64 / 100.0))
                .collect();
            assert_eq!(taken.len(), want.len(), "keep {keep}");
            for (a, b) in taken.iter().zip(&want) {
                assert!(a.max(b).duration_since(*a.min(b)) < Duration::from_micros(1));
            }
        }
    }

    /// Dealing again many times keeps a slot's timeline short: what it took is
    /// forgotten, so a send costs the same after 500 deals as after one; and a cut is
    /// never below a request taken at its due instant.
    #[test]
    fn test_dealing_again_often_stays_cheap_and_never_cuts_below_what_was_taken() {
        let t0 = Instant::now();
        let share = Share {
            first: 0,
            width: 1,
            total: 1,
        };
        let mut s = Schedule::dealt(t0, Clock::Rate(1000.0), share, 0, 1);
        let mut sent = 0u64;
        for round in 1..=500u64 {
            // Take everything due by `round` ms: exactly at the due instant of the
            // last one.
            let t = t0 + Duration::from_millis(round);
            while s.next_due() <= t {
                s.take();
                sent += 1;
            }
            let cut = s.cut_at(t).unwrap().max(s.taken_floor());
            assert!(cut >= sent, "round {round}: cut {cut} below {sent} taken");
            let owed = s.give_up_from(cut, false);
            s.deal_again(owed, cut, 0, 1);
            let Line::Dealt { deals, .. } = &s.line else {
                unreachable!()
            };
            assert!(deals.len() <= 3, "round {round}: {} stretches", deals.len());
        }
        assert_eq!(sent, 501, "requests 0..=500 ms");
        assert_eq!(s.unsent_by(t0 + Duration::from_millis(500)), 0);
        assert_eq!(s.unsent_by(t0 + Duration::from_millis(510)), 10);
    }
}
