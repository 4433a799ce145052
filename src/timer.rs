//! A sans-IO timer heap: time is passed in, nothing here reads the clock.
//!
//! Each connection has at most one live deadline, kept in its own slot; the heap only
//! holds *reminders*. Moving a deadline later (the common case: activity on a
//! keep-alive connection) costs nothing here: when the old reminder fires, the owner
//! sees its deadline is still in the future and schedules a new reminder. Only moving a
//! deadline earlier pushes a new entry. This keeps one heap entry per connection in
//! steady state instead of one per request.
//!
//! Reminders of owners that are gone (a closed connection) or that moved their deadline
//! earlier stay in the heap until they come due. So the heap also counts its *live*
//! reminders (one per owner with a deadline), and [`Timers::compact`] drops the stale
//! ones once they outnumber the live ones: the reactor calls it at the end of each
//! turn when [`Timers::needs_compaction`] says so, which keeps the heap within
//! `2 x live + COMPACT_SLACK` entries between turns, at O(1) amortized cost per stale
//! entry.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Time in nanoseconds since the reactor's start ([`crate::Reactor`] converts).
pub type Nanos = u64;

/// A reminder in the heap: at `at`, look at `key`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    at: Nanos,
    key: u64,
}

/// A min-heap of `(deadline, key)` reminders (see `test_heap_pops_in_deadline_order`).
#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<Entry>>,
    /// Reminders some owner still waits for (see the module docs).
    live: usize,
}

/// Stale reminders tolerated beyond the live ones before compacting.
pub const COMPACT_SLACK: usize = 64;

impl Timers {
    /// Remind `key` at time `at`: a live reminder of a new owner.
    pub fn schedule(&mut self, at: Nanos, key: u64) {
        self.live += 1;
        self.push(at, key);
    }

    /// Push a reminder without counting a new live one: an owner moving its reminder
    /// earlier, so the one it had turns stale and the live count stays.
    pub fn replace(&mut self, at: Nanos, key: u64) {
        self.push(at, key);
    }

    fn push(&mut self, at: Nanos, key: u64) {
        self.heap.push(Reverse(Entry { at, key }));
    }

    /// A live reminder was handled or abandoned by its owner (it fired, or the owner is
    /// gone).
    pub fn forget(&mut self) {
        self.live = self.live.saturating_sub(1);
    }

    /// Reminders some owner still waits for.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Whether stale reminders outnumber the live ones by more than the slack.
    pub fn needs_compaction(&self) -> bool {
        self.heap.len() > 2 * self.live + COMPACT_SLACK
    }

    /// Keep only the reminders for which `keep(at, key)` is true (the owner still
    /// waits for exactly that reminder). O(n).
    pub fn compact(&mut self, mut keep: impl FnMut(Nanos, u64) -> bool) {
        self.heap.retain(|e| keep(e.0.at, e.0.key));
    }

    /// The earliest reminder, if any.
    pub fn next_deadline(&self) -> Option<Nanos> {
        self.heap.peek().map(|e| e.0.at)
    }

    /// Remove and return the earliest reminder due at or before `now`.
    pub fn pop_expired(&mut self, now: Nanos) -> Option<(Nanos, u64)> {
        match self.heap.peek() {
            Some(e) if e.0.at <= now => self.heap.pop().map(|e| (e.0.at, e.0.key)),
            _ => None,
        }
    }

    /// Number of reminders held (live and stale).
    pub fn len(&self) -> usize {
        self.heap.len()
    }
}

/// The deadline bookkeeping one connection keeps beside its reminders in [`Timers`].
///
/// `deadline` is when the owner really wants attention; `scheduled` is the earliest
/// reminder it has in the heap. Both are `u64::MAX` for "none" so the slot stays 16 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    deadline: Nanos,
    scheduled: Nanos,
}

/// "No time": a deadline that never comes.
pub const NEVER: Nanos = u64::MAX;

impl Default for Deadline {
    fn default() -> Self {
        Deadline {
            deadline: NEVER,
            scheduled: NEVER,
        }
    }
}

impl Deadline {
    /// The deadline currently wanted (`NEVER` if none).
    pub fn get(&self) -> Nanos {
        self.deadline
    }

    /// Set the wanted deadline; pushes a reminder only if it is earlier than the one
    /// already in the heap.
    pub fn set(&mut self, at: Nanos, key: u64, timers: &mut Timers) {
        self.deadline = at;
        if at < self.scheduled {
            if self.scheduled == NEVER {
                timers.schedule(at, key);
            } else {
                timers.push(at, key); // the reminder it replaces turns stale
            }
            self.scheduled = at;
        }
    }

    /// The reminder this owner waits for, if any: the one entry of the heap that is
    /// live for it (compaction keeps `(scheduled(), key)` and drops the rest).
    pub fn scheduled(&self) -> Nanos {
        self.scheduled
    }

    /// The owner is gone (a connection closed): its reminder, if any, is stale now.
    pub fn cancel(&mut self, timers: &mut Timers) {
        if self.scheduled != NEVER {
            timers.forget();
        }
        *self = Deadline::default();
    }

    /// A reminder for this owner fired at `at` (time now is `now`). Returns true if the
    /// deadline has really come; otherwise re-schedules a reminder for the real deadline
    /// (if any) and returns false. Stale reminders (superseded by an earlier one) are
    /// ignored.
    pub fn fire(&mut self, at: Nanos, now: Nanos, key: u64, timers: &mut Timers) -> bool {
        if at != self.scheduled {
            return false; // stale: an earlier reminder already handled this owner
        }
        self.scheduled = NEVER;
        timers.forget();
        if self.deadline <= now {
            self.deadline = NEVER;
            return true;
        }
        if self.deadline != NEVER {
            self.scheduled = self.deadline;
            timers.schedule(self.deadline, key);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn drain(t: &mut Timers, d: &mut Deadline, now: Nanos) -> u32 {
        let mut fired = 0;
        while let Some((at, key)) = t.pop_expired(now) {
            if d.fire(at, now, key, t) {
                fired += 1;
            }
        }
        fired
    }

    #[test]
    fn test_heap_pops_in_deadline_order() {
        let mut t = Timers::default();
        t.schedule(30, 7);
        t.schedule(10, 8);
        assert_eq!(t.next_deadline(), Some(10));
        assert_eq!(t.pop_expired(9), None);
        assert_eq!(t.pop_expired(10), Some((10, 8)));
        assert_eq!(t.pop_expired(100), Some((30, 7)));
        assert_eq!(t.pop_expired(100), None);
    }

    #[test]
    fn test_deadline_later_costs_no_entry() {
        let mut t = Timers::default();
        let mut d = Deadline::default();
        d.set(100, 1, &mut t);
        for i in 0..1000 {
            d.set(200 + i, 1, &mut t);
        }
        assert_eq!(t.len(), 1, "moving a deadline later must not push");
        assert_eq!(
            drain(&mut t, &mut d, 150),
            0,
            "reminder at 100 re-schedules"
        );
        assert_eq!(t.next_deadline(), Some(1199));
        assert_eq!(drain(&mut t, &mut d, 1199), 1);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn test_deadline_earlier_fires_once() {
        let mut t = Timers::default();
        let mut d = Deadline::default();
        d.set(100, 1, &mut t);
        d.set(50, 1, &mut t);
        assert_eq!(t.len(), 2);
        assert_eq!(drain(&mut t, &mut d, 60), 1);
        // the stale reminder at 100 must not fire again
        assert_eq!(drain(&mut t, &mut d, 1000), 0);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn test_live_count_follows_owners() {
        let mut t = Timers::default();
        let mut ds = vec![Deadline::default(); 10];
        for (k, d) in ds.iter_mut().enumerate() {
            d.set(100, k as u64, &mut t);
            d.set(50, k as u64, &mut t); // earlier: one more entry, still one live
        }
        assert_eq!((t.len(), t.live()), (20, 10));
        for d in ds.iter_mut().take(6) {
            d.cancel(&mut t); // six owners gone
        }
        assert_eq!(t.live(), 4);
        assert!(t.len() <= 2 * t.live() + COMPACT_SLACK);
        t.compact(|at, key| ds[key as usize].scheduled() == at);
        assert_eq!(t.len(), 4, "only the live reminders are left");
        assert_eq!(drain_all(&mut t, &mut ds, 60), 4);
        assert_eq!((t.len(), t.live()), (0, 0));
    }

    #[test]
    fn test_stale_growth_triggers_compaction() {
        let mut t = Timers::default();
        let mut d = Deadline::default();
        for i in 0..1000u64 {
            // A connection per round: schedule, then gone.
            d.set(1000 + i, i, &mut t);
            d.cancel(&mut t);
        }
        assert_eq!(t.live(), 0);
        assert!(t.needs_compaction());
        t.compact(|_, _| false);
        assert_eq!(t.len(), 0);
    }

    #[track_caller]
    fn drain_all(t: &mut Timers, ds: &mut [Deadline], now: Nanos) -> u32 {
        let mut fired = 0;
        while let Some((at, key)) = t.pop_expired(now) {
            if ds[key as usize].fire(at, now, key, t) {
                fired += 1;
            }
        }
        fired
    }

    #[test]
    fn test_deadline_cleared_never_fires() {
        let mut t = Timers::default();
        let mut d = Deadline::default();
        d.set(100, 1, &mut t);
        d.set(NEVER, 1, &mut t);
        assert_eq!(drain(&mut t, &mut d, 1000), 0);
        assert_eq!(t.len(), 0);
    }
}
