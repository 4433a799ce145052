//! How long the reactor's turns take: a small log-bucketed histogram.
//!
//! A turn that runs long holds up every connection of the reactor, so its length is the
//! figure that shows whether one peer can stall the others. The histogram is fixed-size
//! (no allocation, a copy per snapshot) and coarse on purpose: four buckets per power of
//! two give percentiles within 19%, enough to tell 50 µs from 5 ms; the maximum is kept
//! exactly.

/// Sub-buckets per power of two.
const SUB: u32 = 4;
/// Powers of two covered, from 1 ns: 2^40 ns is about 18 minutes.
const OCTAVES: u32 = 40;
const BUCKETS: usize = (SUB * OCTAVES) as usize;

/// Turn lengths recorded by one reactor.
///
/// ```
/// use readyloop::stats::TurnTimes;
/// let mut t = TurnTimes::default();
/// for us in 1..=100u64 {
///     t.record(us * 1000);
/// }
/// assert_eq!(t.count(), 100);
/// assert_eq!(t.max_ns(), 100_000);
/// let p50 = t.percentile_ns(50.0);
/// assert!((50_000..=60_000).contains(&p50), "{p50}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TurnTimes {
    buckets: [u64; BUCKETS],
    count: u64,
    max_ns: u64,
    total_ns: u64,
}

impl Default for TurnTimes {
    fn default() -> Self {
        TurnTimes {
            buckets: [0; BUCKETS],
            count: 0,
            max_ns: 0,
            total_ns: 0,
        }
    }
}

/// The bucket of `ns`: octave `floor(log2 ns)`, then which quarter of it.
fn bucket(ns: u64) -> usize {
    if ns < 2 {
        return 0;
    }
    let octave = 63 - ns.leading_zeros(); // ns >= 2^octave
    let sub = if octave >= 2 {
        ((ns >> (octave - 2)) & 3) as u32
    } else {
        ((ns << (2 - octave)) & 3) as u32
    };
    ((octave * SUB + sub) as usize).min(BUCKETS - 1)
}

/// The upper end of bucket `i` (what a percentile in it is reported as).
fn upper(i: usize) -> u64 {
    let octave = i as u32 / SUB;
    let sub = u64::from(i as u32 % SUB);
    let base = 1u64 << octave;
    // Bucket `sub` of the octave covers [base * (4 + sub) / 4, base * (5 + sub) / 4).
    (base * (5 + sub)).div_ceil(4)
}

impl TurnTimes {
    /// Record one turn of `ns` nanoseconds.
    pub fn record(&mut self, ns: u64) {
        self.buckets[bucket(ns)] += 1;
        self.count += 1;
        self.max_ns = self.max_ns.max(ns);
        self.total_ns = self.total_ns.saturating_add(ns);
    }

    /// Turns recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The longest turn, exactly.
    pub fn max_ns(&self) -> u64 {
        self.max_ns
    }

    /// Time spent in turns, all told (not counting the waits in `poll`).
    pub fn total_ns(&self) -> u64 {
        self.total_ns
    }

    /// The `p`th percentile (0-100), as the upper end of its bucket and never above
    /// the maximum; 0 when nothing was recorded.
    pub fn percentile_ns(&self, p: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((p / 100.0) * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return upper(i).min(self.max_ns);
            }
        }
        self.max_ns
    }

    /// Add another reactor's turns.
    pub fn merge(&mut self, o: &TurnTimes) {
        for (a, b) in self.buckets.iter_mut().zip(o.buckets.iter()) {
            *a += b;
        }
        self.count += o.count;
        self.max_ns = self.max_ns.max(o.max_ns);
        self.total_ns = self.total_ns.saturating_add(o.total_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_bucket_bounds_hold_their_values() {
        for ns in [
            2u64,
            3,
            4,
            5,
            7,
            8,
            100,
            1_000,
            999_999,
            1 << 30,
            (1 << 30) + 1,
        ] {
            let i = bucket(ns);
            assert!(ns < upper(i), "{ns} in bucket {i} (upper {})", upper(i));
            if i > 0 {
                assert!(ns >= upper(i - 1), "{ns} belongs above bucket {}", i - 1);
            }
        }
    }

    #[test]
    fn test_percentile_within_a_quarter_octave() {
        let mut t = TurnTimes::default();
        for _ in 0..990 {
            t.record(10_000);
        }
        for _ in 0..10 {
            t.record(3_000_000);
        }
        let p99 = t.percentile_ns(99.0);
        assert!((10_000..=12_500).contains(&p99), "p99 {p99}");
        assert_eq!(t.percentile_ns(100.0), 3_000_000);
        assert_eq!(t.max_ns(), 3_000_000);
    }

    #[test]
    fn test_empty_and_merge() {
        let mut a = TurnTimes::default();
        assert_eq!(a.percentile_ns(99.0), 0);
        let mut b = TurnTimes::default();
        b.record(5);
        a.merge(&b);
        assert_eq!((a.count(), a.max_ns(), a.total_ns()), (1, 5, 5));
    }
}
