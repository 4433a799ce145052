//! The bound on how many messages a peer may send.
//!
//! Every message but HEARTBEAT is bounded by the state machines: each phase accepts a
//! fixed set, most of them once (HELLO, AUTH, READY, STARTED, RESULT, FAIL), PONGs only
//! in answer to a PING. HEARTBEATs are the one message that repeats for as long as a
//! run lasts, so they are bounded in rate: at most [`BURST`] plus [`PER_SECOND`] per
//! second since the connection opened. Both sides send one a second.

use std::time::{Duration, Instant};

/// The shortest interval between two heartbeats a side sends, whatever its
/// settings say: 5 a second, half the rate allowed.
pub const MIN_INTERVAL: Duration = Duration::from_millis(200);

/// Heartbeats allowed at once.
pub const BURST: u64 = 16;
/// Heartbeats allowed per second, on average.
pub const PER_SECOND: u64 = 10;

/// Counts a peer's heartbeats against their allowance.
#[derive(Debug, Clone)]
pub struct Budget {
    since: Instant,
    spent: u64,
}

impl Budget {
    /// An allowance counted from `now`.
    pub fn new(now: Instant) -> Budget {
        Budget {
            since: now,
            spent: 0,
        }
    }

    /// Spend one heartbeat at `now`; false if over the allowance.
    pub fn spend(&mut self, now: Instant) -> bool {
        let secs = now.saturating_duration_since(self.since).as_secs();
        let allowed = BURST.saturating_add(secs.saturating_mul(PER_SECOND));
        self.spent = self.spent.saturating_add(1);
        self.spent <= allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_a_burst_then_a_rate() {
        let t = Instant::now();
        let mut b = Budget::new(t);
        assert!((0..BURST).all(|_| b.spend(t)));
        assert!(!b.spend(t));
        let mut b = Budget::new(t);
        let later = t + Duration::from_secs(2);
        assert!((0..BURST + 2 * PER_SECOND).all(|_| b.spend(later)));
        assert!(!b.spend(later));
    }
}
