//! Closed-loop stages (`--stages ... --closed`, k6's ramping VUs): every
//! [`STAGE_STEP`] a worker brings its live connections to its share of the target,
//! opening slots below it and, above it, dropping waiting slots first, then retiring
//! connections (each closes after its reply in flight, and is not reopened).

use super::conn::{clients, Conn};
use super::connect::Slots;
use super::setup::share;
use super::times::TIMER_STAGE;
use crate::client::{Client, Phase};
use crate::schedule::Profile;
use readyloop::Reactor;
use std::time::{Duration, Instant};

/// How often the connection target is followed.
const STAGE_STEP: Duration = Duration::from_millis(20);

/// What following the target does now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Follow {
    /// Open this many more slots.
    Open(usize),
    /// Close this many: waiting slots first, then live connections.
    Close(usize),
    /// On target.
    Hold,
}

/// From `live` connections (and waiting slots) to `want`.
fn follow(live: usize, want: usize) -> Follow {
    match live.cmp(&want) {
        std::cmp::Ordering::Less => Follow::Open(want - live),
        std::cmp::Ordering::Greater => Follow::Close(live - want),
        std::cmp::Ordering::Equal => Follow::Hold,
    }
}

/// Worker `index`'s share (of `threads`) of the target `t` s into the stages `p`, of
/// `own` (a segment's part of a count; the identity without one).
pub(super) fn target(
    p: &Profile,
    t: f64,
    (threads, index): (usize, usize),
    own: impl Fn(usize) -> usize,
) -> usize {
    let total = p.rate_at(t.min(p.duration() - 1e-9)).round() as usize;
    share(own(total), threads, index)
}

/// A connection that counts toward the target: not finished, not retiring.
fn live(c: &Client) -> bool {
    c.phase() != Phase::Finished && !c.retiring()
}

/// Bring the connections to `want` now (the worker's share of the stages' target,
/// [`target`]), while the run is on (`until`, see [`Slots::open_pending`]), and look
/// again in [`STAGE_STEP`].
pub(super) fn follow_stages(
    r: &mut Reactor<Conn>,
    slots: &mut Slots,
    want: usize,
    until: Option<Instant>,
) {
    if until.is_none() {
        return;
    }
    let open = clients(r).0.filter(|(_, c)| live(c)).count();
    match follow(open + slots.pending.len(), want) {
        Follow::Open(n) => {
            for _ in 0..n {
                slots.push_new(None);
            }
            slots.open_unless_retrying(r, until);
        }
        Follow::Close(mut surplus) => {
            while surplus > 0 && slots.pending.pop_back().is_some() {
                surplus -= 1;
            }
            let (clients, _) = clients(r);
            for (_, c) in clients.filter(|(_, c)| live(c)).take(surplus) {
                c.retire();
            }
        }
        Follow::Hold => {}
    }
    r.set_timer(r.now() + STAGE_STEP, TIMER_STAGE);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_following_opens_below_closes_above_and_holds_on_target() {
        assert_eq!(follow(3, 5), Follow::Open(2));
        assert_eq!(follow(5, 2), Follow::Close(3));
        assert_eq!(follow(4, 4), Follow::Hold);
    }

    #[test]
    fn test_segments_workers_together_follow_the_whole_target() {
        use crate::segment::Segment;
        let p = Profile::new(&[(Duration::from_secs(10), 97.0)]);
        for t in [0.0, 1.3, 5.0, 9.99] {
            let whole = p.rate_at(t).round() as usize;
            for n in [1, 2, 3, 7] {
                let sum: usize = (0..n)
                    .map(|index| {
                        let seg = Segment { index, count: n };
                        (0..2)
                            .map(|w| target(&p, t, (2, w), |c| seg.share(c)))
                            .sum::<usize>()
                    })
                    .sum();
                assert_eq!(sum, whole, "{n} segments of 2 workers at {t}s");
            }
        }
    }

    #[test]
    fn test_each_worker_follows_its_share_of_the_ramp() {
        // 0 -> 100 connections over 10 s, then 100 -> 0 over 10 s; 3 workers.
        let p = Profile::new(&[
            (Duration::from_secs(10), 100.0),
            (Duration::from_secs(10), 0.0),
        ]);
        let at = |t: f64| {
            (0..3)
                .map(|i| target(&p, t, (3, i), |n| n))
                .collect::<Vec<_>>()
        };
        assert_eq!(at(0.0), [0, 0, 0]);
        assert_eq!(at(5.0), [17, 17, 16], "50 at the middle of the ramp");
        assert_eq!(at(10.0), [34, 33, 33]);
        assert_eq!(at(20.0), [0, 0, 0], "the last instant is the last target");
        assert_eq!(at(99.0), [0, 0, 0], "after the end: the last target");
    }
}
