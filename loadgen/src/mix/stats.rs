//! One entry's numbers in a mix (or the "other" entries' together).

use crate::tally::{new_histogram, non_2xx_3xx, record_us};
use hdrhistogram::Histogram;

/// What the requests of one entry did, in the measured period (after the warm-up;
/// with `-n`, the N counted). Latencies are kept at 2 significant digits (1%), not the
/// run's 3: 65 entries of a mix then cost about 3 MiB per worker instead of 24.
#[derive(Clone, Debug)]
pub struct EntryStats {
    /// Writes of this entry (the whole run, warm-up included): its share of the mix.
    pub sent: u64,
    /// Replies measured.
    pub measured: u64,
    /// Requests that failed (a connection error, a timeout, a framing error).
    pub failed: u64,
    /// Corrected latency of the measured replies and of the censored requests (timed
    /// out, unfinished), us, as in the run's histogram.
    pub corrected: Histogram<u64>,
    /// Raw latency of the measured replies, us.
    pub raw: Histogram<u64>,
    /// HTTP statuses of the measured replies: (code, count), sorted.
    pub statuses: Vec<(u16, u64)>,
}

/// A histogram for one entry: 1 us to 1 h at 2 significant digits.
pub(crate) fn entry_histogram() -> Histogram<u64> {
    // Valid bounds: this cannot fail.
    Histogram::new_with_bounds(1, 3_600_000_000, 2).unwrap_or_else(|_| new_histogram())
}

impl Default for EntryStats {
    fn default() -> EntryStats {
        EntryStats {
            sent: 0,
            measured: 0,
            failed: 0,
            corrected: entry_histogram(),
            raw: entry_histogram(),
            statuses: Vec::new(),
        }
    }
}

impl EntryStats {
    /// A measured reply: its latencies (us) and status.
    pub fn reply(&mut self, corrected_us: u64, raw_us: u64, status: Option<u16>) {
        self.measured += 1;
        record_us(&mut self.corrected, corrected_us);
        record_us(&mut self.raw, raw_us);
        if let Some(code) = status {
            match self.statuses.iter_mut().find(|(c, _)| *c == code) {
                Some((_, n)) => *n += 1,
                None => {
                    self.statuses.push((code, 1));
                    self.statuses.sort_unstable();
                }
            }
        }
    }

    /// `n` requests censored at `age_us` (timed out or unfinished: a lower bound).
    pub(crate) fn censor(&mut self, age_us: u64, n: u64) {
        let v = age_us.clamp(self.corrected.low(), self.corrected.high());
        let _ = self.corrected.record_n(v, n);
    }

    /// HTTP responses outside 2xx and 3xx.
    pub fn non_2xx_3xx(&self) -> u64 {
        non_2xx_3xx(&self.statuses)
    }

    /// Add another worker's numbers for the same entry.
    pub fn merge(&mut self, o: &EntryStats) {
        self.sent += o.sent;
        self.measured += o.measured;
        self.failed += o.failed;
        // Same bounds everywhere, so `add` cannot fail.
        let _ = self.corrected.add(&o.corrected);
        let _ = self.raw.add(&o.raw);
        for &(c, n) in &o.statuses {
            match self.statuses.iter_mut().find(|(x, _)| *x == c) {
                Some((_, m)) => *m += n,
                None => self.statuses.push((c, n)),
            }
        }
        self.statuses.sort_unstable();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_entry_stats_record_and_merge() {
        let mut a = EntryStats::default();
        a.reply(1000, 900, Some(200));
        a.reply(3000, 2500, Some(404));
        a.censor(2_000_000, 2);
        let mut b = EntryStats::default();
        b.reply(2000, 1500, Some(200));
        b.failed = 2;
        a.merge(&b);
        assert_eq!((a.measured, a.failed), (3, 2));
        assert_eq!(a.corrected.len(), 5, "3 replies and 2 censored");
        assert_eq!(a.raw.len(), 3, "raw: replies only");
        assert_eq!(a.statuses, [(200, 2), (404, 1)]);
        assert_eq!(a.non_2xx_3xx(), 1);
        // 2 significant digits: within 1%.
        let p100 = a.corrected.value_at_quantile(1.0);
        assert!((1_980_000..=2_020_000).contains(&p100), "{p100}");
    }

    #[test]
    fn test_entry_histograms_are_small() {
        let s = EntryStats::default();
        // Both histograms together under 64 KiB (the run's own is ~184 KiB each).
        let bytes = (s.corrected.distinct_values() + s.raw.distinct_values()) * 8;
        assert!(bytes < 64 * 1024, "{bytes} bytes");
    }
}
