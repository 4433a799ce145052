//! Readings of the ramp's timeline (connections established per 100 ms, as
//! [`super::ProbeResult::timeline`] holds it): the connect rate over time, and a knee
//! in it. Both the JSON and the text report show them.
//!
//! The timeline's last bucket is the one the ramp stopped in: cut short, it would show
//! a drop in the rate that did not happen, so neither reading uses it.

/// Connect rate over the ramp, per `step` buckets of 100 ms: (seconds from start,
/// connections/s). The last bucket, cut short by the stop, is left out: a ramp shorter
/// than 100 ms has no rate to show.
pub(crate) fn rate_timeline(timeline: &[u64], step: usize) -> Vec<(f64, f64)> {
    let step = step.max(1);
    let full = &timeline[..timeline.len().saturating_sub(1)];
    full.chunks(step)
        .enumerate()
        .map(|(i, c)| {
            (
                (i * step) as f64 / 10.0,
                c.iter().sum::<u64>() as f64 * 10.0 / c.len() as f64,
            )
        })
        .collect()
}

/// A knee in the connect rate: the rate over the first and the last fifths of the ramp,
/// when the last is under a third of the first (as when `connect()` without `bind`
/// runs out of the even ephemeral ports and searches the odd ones).
pub(crate) fn knee(timeline: &[u64]) -> Option<(f64, f64)> {
    if timeline.len() < 10 {
        return None;
    }
    let n = timeline.len() / 5;
    // Skip the last bucket: it is cut short by the stop.
    let body = &timeline[..timeline.len() - 1];
    let first: u64 = body[..n].iter().sum();
    let last: u64 = body[body.len() - n..].iter().sum();
    let (f, l) = (
        first as f64 * 10.0 / n as f64,
        last as f64 * 10.0 / n as f64,
    );
    (l * 3.0 < f).then_some((f, l))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_knee_found_only_on_a_real_drop() {
        let mut flat = vec![100u64; 30];
        flat.push(3);
        assert_eq!(knee(&flat), None);
        let mut drop_ = vec![3000u64; 15];
        drop_.extend(vec![150u64; 15]);
        drop_.push(2);
        let (f, l) = knee(&drop_).expect("a 20x drop is a knee");
        assert_eq!((f, l), (30000.0, 1500.0));
    }

    #[test]
    fn test_rate_timeline_per_second() {
        // 2.5 s of full buckets, and the one the stop cut short.
        let mut t = vec![10u64; 25];
        t.push(1);
        let r = rate_timeline(&t, 10);
        assert_eq!(r, vec![(0.0, 100.0), (1.0, 100.0), (2.0, 100.0)]);
    }

    #[test]
    fn test_rate_timeline_leaves_out_the_bucket_the_stop_cut_short() {
        // 600 ms at 1000/s, then the stop 1 ms into the seventh bucket.
        let mut t = vec![100u64; 6];
        t.push(1);
        assert_eq!(
            rate_timeline(&t, 5),
            vec![(0.0, 1000.0), (0.5, 1000.0)],
            "no fake drop at the end"
        );
        // A ramp shorter than one bucket has no full bucket to give a rate.
        assert_eq!(rate_timeline(&[37], 5), vec![]);
        assert_eq!(rate_timeline(&[], 5), vec![]);
    }
}
