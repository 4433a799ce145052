//! `--abort-on-fail`: the thresholds judged every second on cumulative data, so a run
//! that already broke its SLO stops instead of going on for its whole duration.
//!
//! Each worker reports each measured second (a [`Tick`]) with that second's histograms
//! and its cumulative counts. Once every worker has reported a second, and that second
//! ends at or after `--abort-delay` (time for the system under test to warm up, as
//! k6's `delayAbortEval`), the thresholds are judged on everything measured so far. The
//! first failure stops the run; the final judgement (on the whole run, with the
//! requests censored at the end) is made afterwards as for any run.
//!
//! Live data cannot see requests that fell due unsent (counted only at the end) or
//! still in flight: `errors` here counts failed requests and error replies only.

use crate::engine::{Tick, TickAction, Totals};
use crate::record::new_histogram;
use crate::result::Aborted;
use crate::slo::{Figures, Slo, Verdict};
use hdrhistogram::Histogram;
use std::time::Duration;

/// Cumulative figures over the workers, and the judge.
pub(super) struct LiveSlo {
    slo: Slo,
    delay: Duration,
    threads: usize,
    corrected: Histogram<u64>,
    raw: Histogram<u64>,
    /// Each worker's latest cumulative counts.
    totals: Vec<Totals>,
    /// Reports seen per second index.
    seen: Vec<usize>,
    aborted: Option<Aborted>,
}

impl LiveSlo {
    /// Judge `slo` from `delay` on, over `threads` workers.
    pub(super) fn new(slo: Slo, delay: Duration, threads: usize) -> LiveSlo {
        LiveSlo {
            slo,
            delay,
            threads,
            corrected: new_histogram(),
            raw: new_histogram(),
            totals: vec![Totals::default(); threads],
            seen: Vec::new(),
            aborted: None,
        }
    }

    /// One worker's report; `Stop` once a threshold fails after the delay.
    pub(super) fn tick(&mut self, t: &Tick) -> TickAction {
        if self.aborted.is_some() {
            return TickAction::Continue; // already stopping
        }
        let _ = self.corrected.add(&t.corrected);
        let _ = self.raw.add(&t.raw);
        if let Some(slot) = self.totals.get_mut(t.worker) {
            *slot = t.totals;
        }
        if self.seen.len() <= t.index {
            self.seen.resize(t.index + 1, 0);
        }
        self.seen[t.index] += 1;
        let second_done = self.seen[t.index] == self.threads;
        let elapsed = Duration::from_secs(t.index as u64 + 1);
        if !second_done || elapsed < self.delay {
            return TickAction::Continue;
        }
        let sum = self.totals.iter().fold(Totals::default(), |a, b| Totals {
            measured: a.measured + b.measured,
            failed: a.failed + b.failed,
            error_replies: a.error_replies + b.error_replies,
            non2xx: a.non2xx + b.non2xx,
        });
        let figures = Figures {
            corrected: &self.corrected,
            raw: &self.raw,
            measured: sum.measured,
            failed: sum.failed,
            unsent: 0,
            unsent_at_end: 0,
            unfinished: 0,
            error_replies: sum.error_replies,
            non2xx: sum.non2xx,
            seconds: elapsed.as_secs_f64(),
        };
        let failed: Vec<Verdict> = self
            .slo
            .check(&figures)
            .into_iter()
            .filter(|v| !v.pass)
            .collect();
        if failed.is_empty() {
            return TickAction::Continue;
        }
        self.aborted = Some(Aborted {
            after: elapsed,
            failed,
        });
        TickAction::Stop
    }

    /// Why the run stopped early, if it did.
    pub(super) fn aborted(self) -> Option<Aborted> {
        self.aborted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::record_us;

    fn tick(worker: usize, index: usize, latency_us: u64, n: u64, totals: Totals) -> Tick {
        let mut corrected = new_histogram();
        for _ in 0..n {
            record_us(&mut corrected, latency_us);
        }
        Tick {
            worker,
            index,
            raw: corrected.clone(),
            corrected,
            completed: n,
            errors: 0,
            totals,
            measure_start_unix_s: None,
        }
    }

    fn totals(measured: u64, failed: u64) -> Totals {
        Totals {
            measured,
            failed,
            ..Totals::default()
        }
    }

    #[test]
    fn test_judged_once_a_second_is_complete_and_after_the_delay() {
        let slo = Slo::parse("p99<5ms,errors<1%").unwrap();
        let mut live = LiveSlo::new(slo, Duration::from_secs(2), 2);
        // Second 0: slow, but before the delay: never judged.
        assert_eq!(
            live.tick(&tick(0, 0, 50_000, 100, totals(100, 0))),
            TickAction::Continue
        );
        assert_eq!(
            live.tick(&tick(1, 0, 50_000, 100, totals(100, 0))),
            TickAction::Continue
        );
        // Second 1 ends at the delay: judged once both workers are in.
        assert_eq!(
            live.tick(&tick(0, 1, 1000, 100, totals(200, 0))),
            TickAction::Continue
        );
        assert_eq!(
            live.tick(&tick(1, 1, 1000, 100, totals(200, 0))),
            TickAction::Stop
        );
        let a = live.aborted().expect("aborted");
        assert_eq!(a.after, Duration::from_secs(2));
        assert_eq!(a.failed.len(), 1, "p99 failed, errors held");
        assert_eq!(a.failed[0].threshold.expr, "p99<5ms");
    }

    #[test]
    fn test_a_run_that_holds_is_never_stopped() {
        let slo = Slo::parse("p99<5ms,errors<1%").unwrap();
        let mut live = LiveSlo::new(slo, Duration::ZERO, 1);
        for i in 0..5 {
            let t = tick(0, i, 1000, 1000, totals(1000 * (i as u64 + 1), 1));
            assert_eq!(live.tick(&t), TickAction::Continue);
        }
        assert!(live.aborted().is_none());
    }
}
