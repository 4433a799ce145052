//! How loadgen counts, below everything that records: latencies in microsecond
//! HdrHistograms of fixed bounds (1 us to 1 hour, 3 significant digits, like wrk2), and
//! HTTP statuses that are not a success. `record.rs` (a worker's recorder) and
//! `mix/stats.rs` (an entry's) both count with these, and neither imports the other.

use hdrhistogram::Histogram;
use std::time::Duration;

/// Highest latency recorded: one hour, in microseconds.
pub const MAX_US: u64 = 3_600_000_000;

/// A preallocated histogram of microseconds, 1 us .. 1 h, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts; failure would be a bug here.
    Histogram::new_with_bounds(1, MAX_US, 3).expect("constant histogram bounds are valid")
}

/// Record `us` into `h`, clamping to the histogram's range rather than losing it.
pub fn record_us(h: &mut Histogram<u64>, us: u64) {
    let v = us.clamp(1, MAX_US);
    // In range by construction.
    let _ = h.record(v);
}

/// Microseconds in `d`, saturating.
pub fn us(d: Duration) -> u64 {
    d.as_micros().min(u64::MAX as u128) as u64
}

/// Of `statuses` ((code, count) pairs), the responses not 2xx or 3xx.
pub fn non_2xx_3xx(statuses: &[(u16, u64)]) -> u64 {
    statuses
        .iter()
        .filter(|(code, _)| !(200..400).contains(code))
        .map(|(_, n)| n)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_record_clamps_out_of_range() {
        let mut h = new_histogram();
        record_us(&mut h, 0);
        record_us(&mut h, u64::MAX);
        assert_eq!(h.len(), 2);
        assert_eq!(h.min(), 1);
        assert!(h.max() >= MAX_US);
    }
}
