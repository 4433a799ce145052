//! `--max-connections`: an open-loop worker adds slots when its rate times the mean
//! latency (Little's law) needs more than it has, and deals the requests not yet due
//! again over all its slots, the new ones included.
//!
//! The decisions are pure functions ([`needed`], [`grow_to`], [`split`]), tested
//! without sockets; [`Growth::grow`] gathers what they need from the clients and
//! carries the answer out.

use super::conn::{clients, shared, Conn};
use super::connect::Slots;
use super::setup::share;
use super::times::TIMER_GROW;
use crate::client::Phase;
use crate::load::Load;
use crate::schedule::Schedule;
use readyloop::Reactor;
use std::time::{Duration, Instant};

/// How often a worker looks: often enough to follow a ramp, seldom enough that each
/// look sees replies.
pub(super) const GROW_STEP: Duration = Duration::from_millis(100);
/// Connections open beyond rate x mean latency: Little's law gives the mean in flight,
/// and the requests arrive unevenly around it.
const GROW_HEADROOM: f64 = 1.25;
/// The most backlog requests handed over one by one when connections are added.
const MAX_HANDED: u64 = 1 << 20;

/// A worker's slots as they grow.
pub(super) struct Growth {
    /// Open-loop slots dealt so far.
    slots: usize,
    /// This worker's share of `--max-connections` (its initial slots without it).
    max_slots: usize,
    /// (replies, their raw latencies summed) at the last look, for the mean since.
    seen: (u64, u64),
    /// The most connections seen open at once (sampled at each look and at the end).
    pub(super) peak_open: usize,
}

impl Growth {
    pub(super) fn new(slots: usize, max_slots: usize) -> Growth {
        Growth {
            slots,
            max_slots,
            seen: (0, 0),
            peak_open: 0,
        }
    }

    /// Whether it may still add slots.
    pub(super) fn can_grow(&self) -> bool {
        self.slots < self.max_slots
    }
}

/// What a look at the slots finds: the oldest request in flight, a timeline to copy
/// for new slots, and how many slots hold one.
#[derive(Default)]
struct Census {
    oldest: Option<Instant>,
    template: Option<Schedule>,
    held: usize,
}

/// The requests in flight a worker needs for `rate` at `latency_s` each, `depth` to a
/// connection, with [`GROW_HEADROOM`].
fn needed(rate: f64, latency_s: f64, depth: f64) -> usize {
    (rate * latency_s * GROW_HEADROOM / depth).ceil() as usize
}

/// The slots to grow to from `slots` when `need` are needed (`None`: enough): at
/// least an eighth more each time (so a long ramp deals again a few dozen times, not
/// once per connection), at most twice as many, never over `max`.
fn grow_to(need: usize, slots: usize, max: usize) -> Option<usize> {
    (need > slots).then(|| {
        need.max(slots + (slots / 8).max(1))
            .min(slots * 2 + 1)
            .min(max)
    })
}

/// `owed` (request numbers) dealt in turn to `want` parts, in order.
fn split(mut owed: Vec<u64>, want: usize) -> Vec<Vec<u64>> {
    owed.sort_unstable();
    let mut parts: Vec<Vec<u64>> = vec![Vec::new(); want];
    for (i, m) in owed.into_iter().enumerate() {
        parts[i % want].push(m);
    }
    parts
}

/// Call `f` on every slot's timeline: the connected clients' first, then the waiting
/// slots', always in this order (the order the requests are dealt in).
fn each_schedule(r: &mut Reactor<Conn>, slots: &mut Slots, mut f: impl FnMut(&mut Schedule)) {
    let (clients, _) = clients(r);
    for (_, c) in clients {
        if let Some(s) = c.schedule_mut() {
            f(s);
        }
    }
    for s in slots.schedules_mut() {
        f(s);
    }
}

impl Growth {
    /// `--max-connections`: add slots when this worker's `rate` now times the mean
    /// latency since the last look (the oldest request's age, if none came back) needs
    /// more than it has, at most doubling at each look; while the run is on (`until`,
    /// see [`Slots::open_pending`]). A new slot's first requests wait for its connect,
    /// and that wait is in their corrected latency.
    pub(super) fn grow(
        &mut self,
        r: &mut Reactor<Conn>,
        slots: &mut Slots,
        rate: f64,
        until: Option<Instant>,
    ) {
        if until.is_none() || !self.can_grow() || shared(r).plan.budget_spent() {
            // Nothing to add (or -n sent its N: a new connection would send nothing).
            return;
        }
        r.set_timer(r.now() + GROW_STEP, TIMER_GROW);
        self.sample_open(r);
        let now = r.now();
        let latency_s = self.latency_since_last_look(r);
        let census = census(r, slots);
        let Some(template) = census.template else {
            return;
        };
        if census.held != self.slots {
            // A slot is between its close and its reopening: look again next time.
            return;
        }
        let latency_s = latency_s.unwrap_or_else(|| {
            census
                .oldest
                .map_or(0.0, |o| now.saturating_duration_since(o).as_secs_f64())
        });
        let depth = shared(r).plan.depth as f64;
        let need = needed(rate, latency_s, depth);
        let Some(want) = grow_to(need, self.slots, self.max_slots) else {
            return;
        };
        if deal_again(r, slots, &template, (self.slots, want), now) {
            self.slots = want;
            slots.open_unless_retrying(r, until);
            // The dealt timelines changed: the clients' wake-ups with them.
            r.rearm_timers();
        }
    }

    /// The mean raw latency of the replies since the last look (`None`: none came).
    fn latency_since_last_look(&mut self, r: &Reactor<Conn>) -> Option<f64> {
        let rec = &shared(r).rec;
        let (n, sum) = (rec.completed, rec.raw_sum_us);
        let (dn, ds) = (n - self.seen.0, sum.saturating_sub(self.seen.1));
        self.seen = (n, sum);
        (dn > 0).then(|| ds as f64 / dn as f64 / 1e6)
    }

    /// Note how many connections are open now (the most is reported).
    pub(super) fn sample_open(&mut self, r: &mut Reactor<Conn>) {
        let (clients, _) = clients(r);
        let open = clients
            .filter(|(_, c)| !matches!(c.phase(), Phase::Connecting | Phase::Finished))
            .count();
        self.peak_open = self.peak_open.max(open);
    }
}

fn census(r: &mut Reactor<Conn>, slots: &mut Slots) -> Census {
    let mut c = Census::default();
    let (clients, _) = clients(r);
    for (_, cl) in clients {
        if let Some(at) = cl.oldest_sent_at() {
            c.oldest = Some(c.oldest.map_or(at, |o: Instant| o.min(at)));
        }
    }
    each_schedule(r, slots, |s| {
        c.held += 1;
        c.template.get_or_insert_with(|| s.clone());
    });
    c
}

/// Grow from `have` to `want` slots (`(have, want)`): every slot gives up what it had
/// not taken, the requests not yet due dealt again over all the slots, and its backlog
/// (fallen due while it was busy) shared out among them all, so the new connections
/// take it on too; the new slots wait to connect. A backlog too big to hand over one
/// by one stays where it is. `false`: no request is left to deal (nothing done).
fn deal_again(
    r: &mut Reactor<Conn>,
    slots: &mut Slots,
    template: &Schedule,
    (have, want): (usize, usize),
    now: Instant,
) -> bool {
    let Some(cut) = template.cut_at(now) else {
        return false;
    };
    // No lower than any request already taken: the clock's count of what is due
    // and its due times agree only to the nanosecond.
    let (mut floor, mut backlog) = (0, 0);
    each_schedule(r, slots, |s| {
        floor = floor.max(s.taken_floor());
        backlog += s.unsent_by(now);
    });
    let cut = cut.max(floor);
    let keep = backlog > MAX_HANDED;
    let mut owed: Vec<u64> = Vec::new();
    each_schedule(r, slots, |s| owed.extend(s.give_up_from(cut, keep)));
    let mut parts = split(owed, want).into_iter();
    let (mut k, total) = (0u64, want as u64);
    each_schedule(r, slots, |s| {
        s.deal_again(parts.next().unwrap_or_default(), cut, k, total);
        k += 1;
    });
    for j in have..want {
        let schedule = template.joining().map(|mut s| {
            s.deal_again(parts.next().unwrap_or_default(), cut, j as u64, total);
            s
        });
        slots.push_new(schedule);
    }
    true
}

/// Worker `index`'s part of `load`'s open-loop rate `t` s after the start: its initial
/// slots' share of the run's.
pub(super) fn rate_at(load: &Load, index: usize, t: f64) -> f64 {
    let whole = match (load.rate_stages(), load.rate) {
        (Some(p), _) => p.rate_at(t.min(p.duration() - 1e-9)),
        (None, Some(r)) => r,
        (None, None) => 0.0,
    };
    let mine = share(load.own_connections(), load.threads(), index) as f64;
    whole * mine / load.connections.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_need_follows_little_s_law_with_headroom() {
        // 1,000/s at 10 ms: 10 in flight, 12.5 with headroom, 13 connections.
        assert_eq!(needed(1000.0, 0.010, 1.0), 13);
        // Pipelined 4 deep: a quarter of the connections.
        assert_eq!(needed(1000.0, 0.010, 4.0), 4);
        assert_eq!(needed(0.0, 0.010, 1.0), 0);
    }

    #[test]
    fn test_growth_is_at_least_an_eighth_at_most_double_never_over_the_most() {
        assert_eq!(grow_to(10, 10, 100), None, "enough");
        assert_eq!(
            grow_to(11, 10, 100),
            Some(11),
            "an eighth of 10 is at least 1"
        );
        assert_eq!(
            grow_to(17, 16, 100),
            Some(18),
            "at least an eighth more: 16 + 2"
        );
        assert_eq!(grow_to(1000, 10, 100), Some(21), "at most twice, plus one");
        assert_eq!(grow_to(1000, 60, 100), Some(100), "never over the most");
        assert_eq!(
            grow_to(5, 0, 100),
            Some(1),
            "from nothing: at most twice, plus one"
        );
    }

    #[test]
    fn test_owed_requests_are_dealt_in_turn_in_order() {
        let parts = split(vec![7, 1, 5, 3, 9], 3);
        assert_eq!(parts, [vec![1, 7], vec![3, 9], vec![5]]);
        assert_eq!(split(Vec::new(), 2), [Vec::<u64>::new(), Vec::new()]);
    }
}
