//! One share of a run split over several processes: `--segment I/N`.
//!
//! A run split in N segments is still one run: its connections are numbered over the
//! whole run, and segment I holds the I-th share of them (slots `first..first + share`,
//! the remainder spread over the first segments, as the workers of one process share
//! theirs). The open-loop timeline is the single process's: request `n` of the run is
//! due at the same instant and goes to slot `n mod connections` whichever process holds
//! that slot, so the union of the N segments is the schedule of one process, request
//! for request. What is counted rather than dealt (`-n`, `--max-connections`, the
//! connection targets of closed-loop stages) is split the same way: the shares add up
//! to the whole.

use std::fmt;

/// Which share of the run this process runs: index `index` (0-based) of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Segment {
    /// This segment's index, `0 <= index < count`.
    pub index: usize,
    /// How many segments the run has (at least 1).
    pub count: usize,
}

/// Split `total` into `parts` nearly equal shares, the remainder to the first ones;
/// share `i`.
///
/// ```
/// use loadgen::segment::split;
/// assert_eq!((0..3).map(|i| split(10, 3, i)).collect::<Vec<_>>(), [4, 3, 3]);
/// ```
pub fn split(total: u64, parts: u64, i: u64) -> u64 {
    let parts = parts.max(1);
    total / parts + u64::from(i < total % parts)
}

/// The sum of shares `0..i` of [`split`]: where share `i` begins.
fn split_start(total: u64, parts: u64, i: u64) -> u64 {
    let parts = parts.max(1);
    i * (total / parts) + i.min(total % parts)
}

impl Segment {
    /// The most segments a run may have: more would leave a segment under a
    /// connection on every realistic run, and the coordinator waits for each.
    pub const MAX: usize = 10_000;

    /// Parse `I/N` (`0/3`, `2/3`).
    ///
    /// ```
    /// use loadgen::segment::Segment;
    /// assert_eq!(Segment::parse("2/3"), Ok(Segment { index: 2, count: 3 }));
    /// assert!(Segment::parse("3/3").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Segment, String> {
        let bad = || format!("--segment: expected I/N with 0 <= I < N (e.g. 0/3), got '{s}'");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        if count > Segment::MAX {
            return Err(format!(
                "--segment: at most {} segments, got {count}",
                Segment::MAX
            ));
        }
        Ok(Segment { index, count })
    }

    /// This segment's share of `total` (connections, `-n`, a connection target).
    pub fn share(&self, total: usize) -> usize {
        self.share_u64(total as u64) as usize
    }

    /// [`Segment::share`] of a `u64`.
    pub fn share_u64(&self, total: u64) -> u64 {
        split(total, self.count as u64, self.index as u64)
    }

    /// The run-wide index of this segment's first slot among `total`.
    pub fn first(&self, total: usize) -> usize {
        split_start(total as u64, self.count as u64, self.index as u64) as usize
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_shares_add_up_to_the_whole_and_tile_it() {
        for (total, n) in [(10, 3), (2, 4), (50, 1), (0, 2), (19_999, 7), (7, 7)] {
            let segs: Vec<Segment> = (0..n).map(|index| Segment { index, count: n }).collect();
            let sum: usize = segs.iter().map(|s| s.share(total)).sum();
            assert_eq!(sum, total);
            // Each begins where the one before ends.
            let mut next = 0;
            for s in &segs {
                assert_eq!(s.first(total), next, "{s} of {total}");
                next += s.share(total);
            }
        }
    }

    #[test]
    fn test_parse_refuses_what_is_not_a_share() {
        for bad in [
            "", "1", "3/3", "-1/3", "0/0", "a/3", "1/b", "1/2/3", "0/10001",
        ] {
            assert!(Segment::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Segment::parse(" 0 / 1 "),
            Ok(Segment { index: 0, count: 1 })
        );
        assert_eq!(Segment { index: 4, count: 9 }.to_string(), "4/9");
    }
}
