//! The progress line of a run on a terminal: once a second, rate, p99 and errors.
//!
//! Every worker reports each measured second (a [`Tick`]); the line is printed when
//! all of one second's reports are in, from their merged histogram, so it shows the
//! whole load rather than one worker's share. Not on a pipe or file: there it would
//! only be noise before the report.

use crate::engine::Tick;
use crate::report;
use hdrhistogram::Histogram;
use std::io::IsTerminal;
use std::time::Duration;

/// The progress line's state over one run.
pub(super) struct Progress {
    /// Whether stderr is a terminal (else nothing is printed).
    tty: bool,
    /// Reports per second: one per worker thread.
    threads: usize,
    /// The planned measuring time.
    total: Duration,
    /// Errors so far (the workers' counts are cumulative: the largest seen).
    errors: u64,
    /// The second being merged.
    last_index: usize,
    /// That second's corrected latencies, merged.
    acc: Histogram<u64>,
    /// That second's completed requests.
    acc_done: u64,
    /// How many workers reported that second so far.
    seen: usize,
    /// `--stages`: the rate over time and the warm-up before the measurement, to show
    /// the current target.
    stages: Option<(std::sync::Arc<crate::schedule::Profile>, Duration)>,
    /// The stages' targets are connections.
    closed: bool,
}

impl Progress {
    /// Progress for `threads` workers measuring `total`; `show`: print it (on a
    /// terminal only).
    pub(super) fn new(threads: usize, total: Duration, show: bool) -> Progress {
        Progress {
            tty: show && std::io::stderr().is_terminal(),
            threads,
            total,
            errors: 0,
            last_index: usize::MAX,
            acc: crate::record::new_histogram(),
            acc_done: 0,
            seen: 0,
            stages: None,
            closed: false,
        }
    }

    /// With `--stages`, the line shows the current target rate.
    pub(super) fn with_stages(
        mut self,
        stages: Option<std::sync::Arc<crate::schedule::Profile>>,
        warmup: Duration,
        closed: bool,
    ) -> Progress {
        self.stages = stages.map(|p| (p, warmup));
        self.closed = closed;
        self
    }

    /// One worker's report of one second.
    pub(super) fn tick(&mut self, t: &Tick) {
        self.errors = self.errors.max(t.errors);
        if !self.tty {
            return;
        }
        // Merge the workers' reports of one second, print when all are in.
        if t.index != self.last_index {
            self.last_index = t.index;
            self.acc.reset();
            self.acc_done = 0;
            self.seen = 0;
        }
        let _ = self.acc.add(&t.corrected);
        self.acc_done += t.completed;
        self.seen += 1;
        if self.seen == self.threads {
            let elapsed = Duration::from_secs(t.index as u64 + 1).min(self.total);
            let p99 = (!self.acc.is_empty()).then(|| self.acc.value_at_quantile(0.99));
            let target = self.stages.as_ref().map_or(String::new(), |(p, w)| {
                let t = (*w + elapsed).as_secs_f64();
                target_text(p.rate_at(t.min(p.duration() - 1e-9)), self.closed)
            });
            eprint!(
                "\r{}{target}\x1b[K",
                report::progress_line(elapsed, self.total, self.acc_done as f64, p99, self.errors)
            );
        }
    }

    /// The run is over: clear the line, so the report starts on a clean one.
    pub(super) fn finish(&self) {
        if self.tty {
            eprint!("\r\x1b[K");
        }
    }
}

/// The stages' current target as the progress line shows it: `  target 10,000/s`, or
/// `  target 1 connection` in closed loop.
fn target_text(v: f64, closed: bool) -> String {
    let n = v.max(0.0).round() as u64;
    if closed {
        format!(
            "  target {}",
            crate::fmt::plural(n, "connection", "connections")
        )
    } else {
        format!("  target {}/s", crate::fmt::group(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 15, item 6: the target was printed raw (`target 10000/s`).
    #[test]
    fn test_target_is_grouped_and_counted_in_words() {
        assert_eq!(target_text(10_000.4, false), "  target 10,000/s");
        assert_eq!(target_text(1.0, true), "  target 1 connection");
        assert_eq!(target_text(1_500.0, true), "  target 1,500 connections");
    }
}
