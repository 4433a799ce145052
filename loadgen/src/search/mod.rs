//! `loadgen search`: the highest rate that meets an SLO, found by open-loop steps.
//!
//! Sans-IO: [`Search`] says which rate to try next ([`Search::next_rate`]) and is told
//! how each step went ([`Search::record`]); the caller runs the steps. The rate grows
//! by doubling from `--start` until a step fails (the exponential probe), then the
//! interval between the highest pass and the lowest failure is bisected until it is
//! within the precision (2% by default) of the failure; a confirming step then runs at
//! the answer. If the confirmation fails, the search goes on below it (a pass that was
//! luck), within a bounded number of steps.
//!
//! A step passes only when the SLO held and the rate achieved was at least 99% of the
//! rate offered (nighthawk's send-rate check: the generator sent the load it was asked
//! for, and the server answered it). A step that failed while the generator fell behind
//! its own schedule (its sends late: its CPU, or a stalled thread) says nothing about
//! the server and is run again; a step that passed with some lag passed all the same,
//! since that lag is inside its corrected latencies and could only have made them
//! worse. (Judging passes by the lag too made short low-rate steps fail on a virtual
//! machine's few-millisecond stalls: five late sends of 500 are a p99.)

pub(crate) mod outcome;

/// Why a step failed, or that it passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepVerdict {
    /// Everything held.
    Pass,
    /// The SLO failed: these thresholds (as written).
    Slo(Vec<String>),
    /// The server did not keep up: achieved under 99% of the offered rate.
    RateMissed,
    /// The generator fell behind its own schedule (its CPU, or too few connections):
    /// the step says nothing about the server.
    GeneratorBehind,
}

impl StepVerdict {
    /// Whether the step passed.
    pub fn passed(&self) -> bool {
        *self == StepVerdict::Pass
    }

    /// For people: `pass`, `FAIL p99<20ms`, `FAIL achieved < 99% of offered`, ...
    pub fn describe(&self) -> String {
        match self {
            StepVerdict::Pass => "pass".into(),
            StepVerdict::Slo(t) => format!("FAIL {}", t.join(", ")),
            StepVerdict::RateMissed => "FAIL achieved < 99% of offered".into(),
            StepVerdict::GeneratorBehind => "FAIL generator behind schedule".into(),
        }
    }

    /// A short word for JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            StepVerdict::Pass => "pass",
            StepVerdict::Slo(_) => "slo",
            StepVerdict::RateMissed => "rate_missed",
            StepVerdict::GeneratorBehind => "generator_behind",
        }
    }
}

/// Judge a step: the SLO's failed thresholds, the rates, the generator's schedule.
///
/// ```
/// use loadgen::search::{judge, StepVerdict};
/// assert_eq!(judge(&[], 1000.0, 995.0, false), StepVerdict::Pass);
/// assert_eq!(judge(&[], 1000.0, 980.0, false), StepVerdict::RateMissed);
/// // The generator's lag makes a failure the generator's, not a pass a failure.
/// let slo = vec!["p99<20ms".to_string()];
/// assert_eq!(judge(&slo, 1000.0, 999.0, true), StepVerdict::GeneratorBehind);
/// assert_eq!(judge(&[], 1000.0, 999.0, true), StepVerdict::Pass);
/// ```
pub fn judge(
    failed_thresholds: &[String],
    offered: f64,
    achieved: f64,
    generator_behind: bool,
) -> StepVerdict {
    let failed = !failed_thresholds.is_empty() || achieved < 0.99 * offered;
    if failed && generator_behind {
        StepVerdict::GeneratorBehind
    } else if !failed_thresholds.is_empty() {
        StepVerdict::Slo(failed_thresholds.to_vec())
    } else if achieved < 0.99 * offered {
        StepVerdict::RateMissed
    } else {
        StepVerdict::Pass
    }
}

/// Where the search is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Doubling from the start rate until a step fails.
    Probe,
    /// Halving the interval between the highest pass and the lowest failure.
    Bisect,
    /// The confirming run at the answer.
    Confirm,
    /// Done: [`Search::answer`] holds the result.
    Done,
}

/// The search's state.
#[derive(Clone, Debug)]
pub struct Search {
    start: f64,
    max: f64,
    precision: f64,
    stage: Stage,
    /// Highest rate that passed.
    lo: Option<f64>,
    /// Lowest rate that failed.
    hi: Option<f64>,
    next: f64,
    steps: usize,
    max_steps: usize,
    confirmed: Option<bool>,
    /// It stopped at `max_steps`, not because it had its answer.
    out_of_steps: bool,
}

impl Search {
    /// A search from `start` per second, never above `max`, to within `precision` (a
    /// fraction: 0.02), in at most `max_steps` steps.
    ///
    /// ```
    /// use loadgen::search::Search;
    /// // A server that holds up to 1,000/s: pass below, fail above.
    /// let mut s = Search::new(100.0, 1e6, 0.02, 40);
    /// while let Some(r) = s.next_rate() {
    ///     s.record(r, r <= 1000.0);
    /// }
    /// let a = s.answer().unwrap();
    /// assert!(a <= 1000.0 && a >= 980.0, "{a}");
    /// assert_eq!(s.confirmed(), Some(true));
    /// ```
    pub fn new(start: f64, max: f64, precision: f64, max_steps: usize) -> Search {
        let start = start.clamp(1e-3, max.max(1e-3));
        Search {
            start,
            max: max.max(start),
            precision: precision.clamp(1e-4, 0.5),
            stage: Stage::Probe,
            lo: None,
            hi: None,
            next: start,
            steps: 0,
            max_steps: max_steps.max(1),
            confirmed: None,
            out_of_steps: false,
        }
    }

    /// Where it is.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// The rate of the next step, `None` when the search is over.
    pub fn next_rate(&self) -> Option<f64> {
        (self.stage != Stage::Done).then_some(self.next)
    }

    /// The highest rate that passed (and, if the search got that far, was confirmed).
    pub fn answer(&self) -> Option<f64> {
        self.lo
    }

    /// Whether the confirming run held (`None`: not run).
    pub fn confirmed(&self) -> Option<bool> {
        self.confirmed
    }

    /// Steps run so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// A step at `rate` passed or failed: choose the next.
    pub fn record(&mut self, rate: f64, passed: bool) {
        self.steps += 1;
        match self.stage {
            Stage::Done => return,
            Stage::Confirm => {
                self.confirmed = Some(passed);
                if passed {
                    self.stage = Stage::Done;
                    return;
                }
                // A pass that did not repeat: the answer is below it.
                self.hi = Some(rate);
                self.lo = None;
                self.stage = Stage::Bisect;
            }
            Stage::Probe | Stage::Bisect => {
                if passed {
                    self.lo = Some(self.lo.map_or(rate, |l| l.max(rate)));
                } else {
                    self.hi = Some(self.hi.map_or(rate, |h| h.min(rate)));
                }
            }
        }
        if self.stage == Stage::Probe {
            match self.hi {
                None if rate >= self.max => {
                    // Never failed up to the maximum: that is the answer, confirmed.
                    self.stage = Stage::Confirm;
                    self.next = self.max;
                    return self.out_of_steps();
                }
                None => {
                    self.next = (rate * 2.0).min(self.max);
                    return self.out_of_steps();
                }
                Some(_) => self.stage = Stage::Bisect,
            }
        }
        // Bisect between the highest pass (or nothing: 0) and the lowest failure.
        let hi = self.hi.unwrap_or(self.max);
        let lo = self.lo.unwrap_or(0.0);
        if (hi - lo) <= self.precision * hi {
            if self.lo.is_some() {
                self.stage = Stage::Confirm;
                self.next = lo;
            } else {
                self.stage = Stage::Done; // nothing passed, down to the precision
            }
        } else {
            self.next = (lo + hi) / 2.0;
        }
        self.out_of_steps();
    }

    fn out_of_steps(&mut self) {
        if self.steps >= self.max_steps && self.stage != Stage::Done {
            self.stage = Stage::Done;
            self.out_of_steps = true;
        }
    }

    /// Whether it stopped because its steps ran out (its answer, if any, then is not
    /// confirmed), not because it had its answer.
    pub(crate) fn ran_out_of_steps(&self) -> bool {
        self.out_of_steps
    }

    /// The start rate.
    pub fn start(&self) -> f64 {
        self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(capacity: f64, start: f64) -> Search {
        let mut s = Search::new(start, 1e6, 0.02, 60);
        while let Some(r) = s.next_rate() {
            s.record(r, r <= capacity);
        }
        s
    }

    #[test]
    fn test_finds_the_capacity_within_the_precision() {
        for (cap, start) in [
            (1000.0, 100.0),
            (1000.0, 5000.0),
            (73_500.0, 10.0),
            (3.0, 1.0),
        ] {
            let s = run(cap, start);
            let a = s.answer().unwrap_or(0.0);
            assert!(a <= cap && a >= cap * 0.97, "cap {cap} from {start}: {a}");
            assert_eq!(s.confirmed(), Some(true));
            assert!(s.steps() < 30, "{} steps", s.steps());
        }
    }

    #[test]
    fn test_probe_doubles_then_bisects() {
        let mut s = Search::new(100.0, 1e6, 0.02, 60);
        let mut rates = Vec::new();
        while let Some(r) = s.next_rate() {
            rates.push(r);
            s.record(r, r <= 1000.0);
            if rates.len() == 6 {
                break;
            }
        }
        assert_eq!(rates, [100.0, 200.0, 400.0, 800.0, 1600.0, 1200.0]);
        assert_eq!(s.stage(), Stage::Bisect);
    }

    #[test]
    fn test_a_confirmation_that_fails_searches_below() {
        // Passes at 1000 once (luck), never again: the answer ends below 1000.
        let mut s = Search::new(1000.0, 1e6, 0.02, 60);
        let mut lucky = true;
        while let Some(r) = s.next_rate() {
            let pass = if r == 1000.0 && lucky {
                lucky = false;
                true
            } else {
                r < 900.0
            };
            s.record(r, pass);
        }
        let a = s.answer().unwrap();
        assert!((870.0..900.0).contains(&a), "{a}");
        assert_eq!(s.confirmed(), Some(true));
    }

    #[test]
    fn test_nothing_passes_and_the_maximum_holds() {
        let s = run(0.0, 100.0);
        assert_eq!(s.answer(), None);
        let mut s = Search::new(100.0, 500.0, 0.02, 60);
        while let Some(r) = s.next_rate() {
            s.record(r, true);
        }
        assert_eq!(s.answer(), Some(500.0));
        assert_eq!(s.confirmed(), Some(true));
        // A bounded number of steps, whatever the outcomes.
        let mut s = Search::new(1.0, 1e9, 0.0001, 12);
        let mut n = 0;
        while let Some(r) = s.next_rate() {
            s.record(r, r < 123_456.0);
            n += 1;
        }
        assert_eq!(n, 12);
        assert!(s.ran_out_of_steps());
        assert!(!run(1000.0, 100.0).ran_out_of_steps());
    }

    #[test]
    fn test_judge_puts_the_generator_first() {
        let slo = vec!["p99<20ms".to_string()];
        assert_eq!(
            judge(&slo, 1000.0, 1000.0, true),
            StepVerdict::GeneratorBehind
        );
        assert_eq!(
            judge(&slo, 1000.0, 1000.0, false),
            StepVerdict::Slo(slo.clone())
        );
        assert_eq!(judge(&[], 1000.0, 990.0, false), StepVerdict::Pass);
        assert_eq!(judge(&[], 1000.0, 989.0, false), StepVerdict::RateMissed);
        assert_eq!(StepVerdict::Slo(slo).describe(), "FAIL p99<20ms");
    }
}
