//! When things happen for a worker: its instants, and the keys of its timers.

use std::time::Instant;

/// Reopen the waiting slots after a backoff.
pub(super) const TIMER_CONNECT: u64 = 1;
/// The next paced connect (`--connect-rate`): a key of its own, so pacing and the
/// retry backoff never clear each other's flag.
pub(super) const TIMER_PACE: u64 = 5;
/// A second of the measurement is over.
pub(super) const TIMER_TICK: u64 = 2;
/// The run's end.
pub(super) const TIMER_END: u64 = 3;
/// The warm-up's end.
pub(super) const TIMER_MEASURE: u64 = 4;
/// Closed-loop stages: bring the connections to the current target.
pub(super) const TIMER_STAGE: u64 = 6;
/// `--max-connections`: look whether more connections are needed.
pub(super) const TIMER_GROW: u64 = 7;

/// A worker's instants.
pub(super) struct Times {
    /// The instant every worker's start offset is measured from.
    pub(super) base: Instant,
    /// When this worker began connecting; its timelines were anchored there until the
    /// run started (they move to the start).
    pub(super) created: Instant,
    /// The run's start (START), once every worker connected.
    pub(super) started: Option<Instant>,
    /// The warm-up's end and the run's end (far away until the start).
    pub(super) measure_start: Instant,
    pub(super) end: Instant,
    /// When the run ended for this worker (the end timer, or an interrupt).
    pub(super) ended_at: Option<Instant>,
}

impl Times {
    /// The run ended for this worker.
    pub(super) fn ended(&self) -> bool {
        self.ended_at.is_some()
    }

    /// Until when slots may (re)connect: the run's end, `None` once it ended.
    pub(super) fn open_until(&self) -> Option<Instant> {
        (!self.ended()).then_some(self.end)
    }
}
