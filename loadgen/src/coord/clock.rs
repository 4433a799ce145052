//! Clocks, and the estimate of a member's clock offset from timestamped round trips,
//! as NTP does it.
//!
//! One round trip gives four Unix times: t0 the coordinator sends a PING, t1 the member
//! receives it, t2 the member sends its PONG, t3 the coordinator receives that. With
//! θ the member's clock minus the coordinator's and the two one-way transit times
//! d1 (there) and d2 (back): t1 = t0 + d1 + θ and t3 = t2 + d2 − θ, so
//!
//! - offset `((t1 − t0) + (t2 − t3)) / 2` = θ + (d1 − d2)/2, and
//! - delay `(t3 − t0) − (t2 − t1)` = d1 + d2.
//!
//! Whatever the asymmetry of the path, |d1 − d2| ≤ d1 + d2, so the true θ lies within
//! the offset ± delay/2: that half delay is the bound the estimate reports. Of several
//! round trips the one of least delay is kept (NTP's clock filter): queueing only ever
//! adds delay, so the fastest sample is the least disturbed and has the tightest bound.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A source of time: monotonic for deadlines, Unix time for the timestamps exchanged.
/// [`SystemClock`] in use; tests give a fake one, offset or stepped.
pub trait Clock: Send + Sync {
    /// The monotonic now.
    fn mono(&self) -> Instant;
    /// The wall clock's Unix time, in ns.
    fn unix_ns(&self) -> i64;
}

/// The process's own clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn mono(&self) -> Instant {
        Instant::now()
    }

    fn unix_ns(&self) -> i64 {
        unix_ns(SystemTime::now())
    }
}

/// `t` as Unix time in ns (negative before 1970, saturating past year 2262).
pub fn unix_ns(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

/// The monotonic instant at which `clock`'s wall clock reads `unix_ns`: now plus the
/// time left until then, or minus the time since (an instant in the past, if the
/// start arrived late or `unix_ns` is gone).
pub fn instant_at(clock: &dyn Clock, unix_ns: i64) -> Instant {
    let (mono, wall) = (clock.mono(), clock.unix_ns());
    let ahead = i128::from(unix_ns) - i128::from(wall);
    let d = Duration::from_nanos(ahead.unsigned_abs().min(u128::from(u64::MAX)) as u64);
    if ahead >= 0 {
        mono.checked_add(d).unwrap_or(mono)
    } else {
        mono.checked_sub(d).unwrap_or(mono)
    }
}

/// `from` plus `d`, or a century from `from` if `d` is too long for an `Instant` (a
/// deadline given as "forever").
pub(crate) fn after(from: Instant, d: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 86_400);
    from.checked_add(d.min(CENTURY)).unwrap_or(from)
}

/// One round trip's four timestamps, Unix ns: t0 and t3 on the coordinator's clock,
/// t1 and t2 on the member's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// The coordinator sent the PING.
    pub t0: i64,
    /// The member received it.
    pub t1: i64,
    /// The member sent the PONG.
    pub t2: i64,
    /// The coordinator received the PONG.
    pub t3: i64,
}

impl Sample {
    /// `((t1 − t0) + (t2 − t3)) / 2`: the member's clock minus the coordinator's.
    pub fn offset_ns(&self) -> i64 {
        let (t0, t1, t2, t3) = self.wide();
        saturate(((t1 - t0) + (t2 - t3)) / 2)
    }

    /// `(t3 − t0) − (t2 − t1)`: the time on the wire, both ways.
    pub fn delay_ns(&self) -> i64 {
        let (t0, t1, t2, t3) = self.wide();
        saturate((t3 - t0) - (t2 - t1))
    }

    fn wide(&self) -> (i128, i128, i128, i128) {
        (
            self.t0.into(),
            self.t1.into(),
            self.t2.into(),
            self.t3.into(),
        )
    }
}

fn saturate(v: i128) -> i64 {
    v.clamp(i64::MIN.into(), i64::MAX.into()) as i64
}

/// A member's clock offset, estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    /// The member's clock minus the coordinator's, ns.
    pub offset_ns: i64,
    /// The round-trip delay of the sample it comes from, ns.
    pub delay_ns: i64,
}

impl Estimate {
    /// The bound of the offset's error, ns: the true offset is within
    /// `offset_ns ± bound_ns()`. It bounds the member's start skew as well.
    pub fn bound_ns(&self) -> i64 {
        self.delay_ns / 2
    }
}

/// Keeps the round trip of least delay (NTP's clock filter).
#[derive(Debug, Default, Clone)]
pub struct Filter {
    best: Option<Sample>,
    seen: u32,
}

impl Filter {
    /// Take a round trip. A negative delay (a clock stepped during the round trip)
    /// is no measure of anything: it is dropped.
    pub fn add(&mut self, s: Sample) {
        self.seen = self.seen.saturating_add(1);
        if s.delay_ns() < 0 {
            return;
        }
        if self.best.is_none_or(|b| s.delay_ns() < b.delay_ns()) {
            self.best = Some(s);
        }
    }

    /// Round trips taken, kept or not.
    pub fn seen(&self) -> u32 {
        self.seen
    }

    /// The estimate from the best round trip, if any was usable.
    pub fn estimate(&self) -> Option<Estimate> {
        self.best.map(|s| Estimate {
            offset_ns: s.offset_ns(),
            delay_ns: s.delay_ns(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFSET: i64 = 1_500_000_000;

    /// A round trip at `t0` with transit `there` and `back` and `hold` in the member,
    /// whose clock is ahead by OFFSET.
    fn trip(t0: i64, there: i64, hold: i64, back: i64) -> Sample {
        let t1 = t0 + there + OFFSET;
        let t2 = t1 + hold;
        Sample {
            t0,
            t1,
            t2,
            t3: t2 - OFFSET + back,
        }
    }

    #[test]
    fn test_a_symmetric_path_gives_the_offset_exactly() {
        let s = trip(1_000, 500, 40, 500);
        assert_eq!(s.offset_ns(), OFFSET);
        assert_eq!(s.delay_ns(), 1_000);
    }

    #[test]
    fn test_an_asymmetric_path_stays_within_half_the_delay() {
        for (there, back) in [(900, 100), (100, 900), (1, 5_000_000), (3_000_000, 0)] {
            let s = trip(7_000, there, 12_345, back);
            let e = Estimate {
                offset_ns: s.offset_ns(),
                delay_ns: s.delay_ns(),
            };
            assert_eq!(e.delay_ns, there + back);
            assert!((e.offset_ns - OFFSET).abs() <= e.bound_ns(), "{e:?}");
        }
    }

    #[test]
    fn test_the_filter_keeps_the_least_delay_and_drops_negative_ones() {
        let mut f = Filter::default();
        f.add(trip(0, 5_000, 10, 9_000));
        f.add(trip(100_000, 300, 10, 400));
        f.add(trip(200_000, 2_000, 10, 2_000));
        f.add(Sample {
            t0: 10,
            t1: 0,
            t2: 100,
            t3: 20,
        });
        let e = f.estimate().unwrap();
        assert_eq!(e.delay_ns, 700);
        assert_eq!(f.seen(), 4);
        assert!(Filter::default().estimate().is_none());
    }

    #[test]
    fn test_extreme_timestamps_saturate_instead_of_overflowing() {
        let s = Sample {
            t0: i64::MIN,
            t1: i64::MAX,
            t2: i64::MIN,
            t3: i64::MAX,
        };
        let _ = (s.offset_ns(), s.delay_ns());
    }

    #[test]
    fn test_instant_at_is_ahead_or_behind_as_the_wall_clock() {
        let c = SystemClock;
        let now = Instant::now();
        let ahead = instant_at(&c, c.unix_ns() + 1_000_000_000);
        assert!(ahead > now + Duration::from_millis(900));
        let behind = instant_at(&c, c.unix_ns() - 1_000_000_000);
        assert!(behind < now);
        assert!(unix_ns(UNIX_EPOCH - Duration::from_secs(1)) == -1_000_000_000);
    }
}
