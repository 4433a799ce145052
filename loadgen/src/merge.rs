//! Segments' results merged into the run's: histograms added bucket for bucket (never
//! percentiles averaged), the books, errors, statuses and mix entries summed, the
//! seconds added second by second from the common start, and a row per segment.
//!
//! Only results of one run merge: the same plan and nonce ([`crate::run_id::RunId`]),
//! the same number of segments, no segment twice. A segment missing from the inputs is
//! named in its row (`lost`) and the merge still reports what the others measured: the
//! caller fails the run ([`Merge::missing`]).

use crate::record::Recorder;
use crate::result::{CpuTime, Interval, RunResult};
use crate::split::{Merged, Part, SegmentRow};
use std::time::Duration;

/// What a merge made, and what it found missing.
#[derive(Debug)]
pub struct Merge {
    /// The merged result (no thresholds judged yet: the caller's `--slo`).
    pub result: RunResult,
    /// Indices of the segments that are not in it.
    pub missing: Vec<usize>,
    /// Things a reader should know (segments that started far apart).
    pub warnings: Vec<String>,
}

/// Merge `results`, each a segment's of one run; `lost` names the segments known lost
/// and why (the coordinator's: a segment that never sent its result), whose rows say
/// so. The error says why they cannot be one run's.
pub fn merge(mut results: Vec<RunResult>, lost: &[(usize, String)]) -> Result<Merge, String> {
    // By index: the sums of floating-point figures (CPU time) then come out the same
    // whatever order the results arrived in.
    results.sort_by_key(|r| r.part.as_ref().map(|p| p.segment.index));
    let parts = check(&results)?;
    let first = parts[0].clone();
    let n = first.segment.count;
    let mut rows: Vec<SegmentRow> = results.iter().map(row).collect();
    let mut missing = Vec::new();
    for index in 0..n {
        if rows.iter().any(|r| r.segment.index == index) {
            continue;
        }
        missing.push(index);
        let why = lost
            .iter()
            .find(|(i, _)| *i == index)
            .map_or_else(|| "no result for it".to_string(), |(_, w)| w.clone());
        rows.push(lost_row(crate::segment::Segment { index, count: n }, why));
    }
    rows.sort_by_key(|r| r.segment.index);
    let warnings = start_warnings(&results);
    let present: Vec<_> = parts.iter().map(|p| p.segment).collect();
    let mut intervals: Vec<_> = present
        .iter()
        .zip(&results)
        .map(|(s, r)| (*s, r.intervals.clone()))
        .collect();
    intervals.sort_by_key(|(s, _)| s.index);
    let mut result = add_up(results, &first);
    // With segments missing, the merge holds what the others were to send.
    if !missing.is_empty() {
        result.load = first.whole.part_of(&present);
    }
    result.merged = Some(Merged {
        run: first.run,
        segments: rows,
        intervals,
    });
    Ok(Merge {
        result,
        missing,
        warnings,
    })
}

/// Every result is a segment of the same run, each segment once.
fn check(results: &[RunResult]) -> Result<Vec<Part>, String> {
    let parts: Vec<Part> = results
        .iter()
        .map(|r| r.part.clone())
        .collect::<Option<_>>()
        .ok_or("a result that is not a segment's (run with --segment I/N)")?;
    let Some(first) = parts.first() else {
        return Err("no results to merge".into());
    };
    for p in &parts {
        if p.run.plan != first.run.plan {
            return Err(format!(
                "segment {} is of another plan than segment {} (their flags differ): \
                 {} against {}",
                p.segment, first.segment, p.run, first.run
            ));
        }
        if p.run.nonce != first.run.nonce {
            return Err(format!(
                "segment {} is of another run of the same plan (run {} against {})",
                p.segment, p.run, first.run
            ));
        }
        if p.segment.count != first.segment.count {
            return Err(format!(
                "segment {} against {}: another number of segments",
                p.segment, first.segment
            ));
        }
    }
    let mut seen: Vec<usize> = parts.iter().map(|p| p.segment.index).collect();
    seen.sort_unstable();
    if let Some(w) = seen.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!(
            "segment {}/{} given twice",
            w[0], first.segment.count
        ));
    }
    Ok(parts)
}

/// The run's result: the segments' added up, over the whole run's load.
fn add_up(results: Vec<RunResult>, part: &Part) -> RunResult {
    let mut rec = Recorder::default();
    let mut cpu = CpuTime::default();
    let mut seconds: Vec<(Duration, Duration, hdrhistogram::Histogram<u64>)> = Vec::new();
    let mut tls: Option<crate::tls_peer::TlsRun> = None;
    let mut connects: Vec<(std::net::SocketAddr, u64)> = Vec::new();
    for r in &results {
        rec.merge(&r.rec);
        cpu.user_s += r.cpu.user_s;
        cpu.sys_s += r.cpu.sys_s;
        add_seconds(&mut seconds, &r.intervals);
        add_tls(&mut tls, r.tls.as_ref());
        for &(addr, n) in &r.spread.connects {
            match connects.iter_mut().find(|(a, _)| *a == addr) {
                Some((_, m)) => *m += n,
                None => connects.push((addr, n)),
            }
        }
    }
    let first = &results[0];
    let max = |f: fn(&RunResult) -> Option<Duration>| results.iter().filter_map(f).max();
    RunResult {
        target: first.target.clone(),
        load: part.whole.clone(),
        connections_peak: results.iter().map(|r| r.connections_peak).sum(),
        duration: max(|r| Some(r.duration)).unwrap_or_default(),
        interrupted: results.iter().find_map(|r| r.interrupted),
        rec,
        intervals: seconds
            .into_iter()
            .map(|(start, length, h)| Interval {
                start,
                length,
                corrected: crate::intervals::Compact::new(&h),
            })
            .collect(),
        cpu,
        server_stats: None,
        ports: first.ports,
        started_unix_s: results
            .iter()
            .filter_map(|r| r.started_unix_s)
            .reduce(f64::min),
        connect_phase: max(|r| r.connect_phase),
        thresholds: Vec::new(),
        aborted: results.iter().find_map(|r| r.aborted.clone()),
        mix: first.mix.clone(),
        spread: crate::addrs::Spread {
            connects,
            via: first.spread.via.clone(),
        },
        tls,
        part: None,
        merged: None,
    }
}

/// Add a segment's seconds to the run's, second `k` to second `k`: every segment
/// counts its seconds from the run's one start instant. A second keeps the longest
/// length any segment measured of it.
fn add_seconds(
    seconds: &mut Vec<(Duration, Duration, hdrhistogram::Histogram<u64>)>,
    intervals: &[Interval],
) {
    for (k, iv) in intervals.iter().enumerate() {
        if seconds.len() <= k {
            seconds.push((iv.start, iv.length, crate::record::new_histogram()));
        }
        let s = &mut seconds[k];
        s.1 = s.1.max(iv.length);
        // The same layout everywhere: adding cannot fail.
        let _ = s.2.add(iv.corrected.histogram());
    }
}

/// The run's TLS: the first segment's peer, every segment's handshakes.
fn add_tls(sum: &mut Option<crate::tls_peer::TlsRun>, t: Option<&crate::tls_peer::TlsRun>) {
    let Some(t) = t else { return };
    match sum {
        None => *sum = Some(t.clone()),
        Some(s) => {
            s.full += t.full;
            s.resumed += t.resumed;
            for (why, n) in &t.failed {
                *s.failed.entry(why).or_insert(0) += n;
            }
        }
    }
}

/// A segment's own figures.
fn row(r: &RunResult) -> SegmentRow {
    let h = &r.rec.corrected;
    let q = |p: f64| (!h.is_empty()).then(|| h.value_at_quantile(p));
    SegmentRow {
        segment: r
            .part
            .as_ref()
            .map_or(crate::segment::Segment { index: 0, count: 1 }, |p| {
                p.segment
            }),
        measured: r.rec.measured,
        achieved_rps: r.throughput(),
        p50_us: q(0.5),
        p99_us: q(0.99),
        p99_9_us: q(0.999),
        errors: r.rec.error_total(),
        started_unix_s: r.started_unix_s,
        skew: r.part.as_ref().and_then(|p| p.skew),
        lost: None,
    }
}

/// The row of a segment that is not in the merge.
fn lost_row(segment: crate::segment::Segment, why: String) -> SegmentRow {
    SegmentRow {
        segment,
        measured: 0,
        achieved_rps: 0.0,
        p50_us: None,
        p99_us: None,
        p99_9_us: None,
        errors: 0,
        started_unix_s: None,
        skew: None,
        lost: Some(why),
    }
}

/// Starts this far apart on the segments' own clocks deserve a word: with a
/// coordinator they are within milliseconds.
const START_SPREAD_WARN_S: f64 = 0.1;

/// A warning when the segments began measuring far apart (by their own clocks).
fn start_warnings(results: &[RunResult]) -> Vec<String> {
    let starts: Vec<f64> = results.iter().filter_map(|r| r.started_unix_s).collect();
    let (lo, hi) = starts
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &s| (lo.min(s), hi.max(s)));
    if starts.len() < 2 || hi - lo <= START_SPREAD_WARN_S {
        return Vec::new();
    }
    vec![format!(
        "the segments began measuring {:.3}s apart by their own clocks: their seconds \
         are added as if they began together (start them with --coordinator or \
         --start-at; docs/distributed.md, clock skew)",
        hi - lo
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::{hist, open};
    use crate::run_id::RunId;
    use crate::segment::Segment;

    /// Segment `index` of 3 of run `nonce`: the fixture's numbers, its latencies moved
    /// by the index so that each segment's histograms differ.
    fn segment(index: usize, nonce: &str) -> RunResult {
        let mut r = open();
        let whole = r.load.clone();
        let seg = Segment { index, count: 3 };
        r.load = whole.part_of(&[seg]);
        let v = 1000 * (index as u64 + 1);
        r.rec.corrected = hist(&[(v, 10 + index as u64), (v * 7, 1)]);
        r.rec.measured = 11 + index as u64;
        r.rec.statuses = vec![(200, 10), (500 + index as u16, 1)];
        r.intervals[1].corrected = hist(&[(v, 3)]).into();
        r.part = Some(Part {
            segment: seg,
            run: RunId::new([1; 32], Some(nonce.into())),
            whole,
            skew: None,
        });
        r
    }

    #[test]
    fn test_histograms_add_bucket_for_bucket_and_counts_sum() {
        let segs: Vec<RunResult> = (0..3).map(|i| segment(i, "n")).collect();
        let mut want = crate::record::new_histogram();
        let mut second = crate::record::new_histogram();
        for s in &segs {
            want.add(&s.rec.corrected).unwrap();
            second.add(s.intervals[1].corrected.histogram()).unwrap();
        }
        let whole = segs[0].part.as_ref().unwrap().whole.clone();
        let p50 = segs[2].rec.corrected.value_at_quantile(0.5);
        let m = merge(segs, &[]).unwrap();
        assert!(m.missing.is_empty() && m.warnings.is_empty());
        let r = &m.result;
        assert_eq!(
            r.rec.corrected, want,
            "every bucket the sum of the segments'"
        );
        assert_eq!(r.intervals[1].corrected.histogram(), second);
        assert_eq!(r.rec.measured, 11 + 12 + 13);
        assert_eq!(r.rec.statuses.iter().map(|s| s.1).sum::<u64>(), 33);
        assert_eq!(r.rec.statuses.len(), 4, "200 and three 5xx");
        assert_eq!(r.load.rate, whole.rate, "the whole run's rate");
        assert_eq!(r.load.connections, whole.connections);
        let rows = &r.merged.as_ref().unwrap().segments;
        assert_eq!(
            rows.iter().map(|r| r.measured).collect::<Vec<_>>(),
            [11, 12, 13]
        );
        assert_eq!(
            rows[2].p50_us,
            Some(p50),
            "each row its segment's own figures"
        );
    }

    #[test]
    fn test_a_missing_segment_is_named_and_the_rest_is_merged() {
        let segs = vec![segment(0, "n"), segment(2, "n")];
        let whole = segs[0].part.as_ref().unwrap().whole.clone();
        let m = merge(segs, &[(1, "its connection dropped at 3.2s".into())]).unwrap();
        assert_eq!(m.missing, [1]);
        let rows = &m.result.merged.as_ref().unwrap().segments;
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[1].lost.as_deref(),
            Some("its connection dropped at 3.2s")
        );
        // What the two present were to send: their shares of the connections and rate.
        let two = [
            Segment { index: 0, count: 3 },
            Segment { index: 2, count: 3 },
        ];
        assert_eq!(m.result.load.connections, whole.part_of(&two).connections);
        assert!(m.result.load.rate < whole.rate);
    }

    #[test]
    fn test_results_of_other_runs_and_twice_the_same_segment_are_refused() {
        let e = merge(vec![segment(0, "n"), segment(1, "yesterday")], &[]).unwrap_err();
        assert!(e.contains("another run of the same plan"), "{e}");
        let mut other_plan = segment(1, "n");
        other_plan.part.as_mut().unwrap().run.plan = "ff".repeat(32);
        let e = merge(vec![segment(0, "n"), other_plan], &[]).unwrap_err();
        assert!(e.contains("another plan"), "{e}");
        let e = merge(vec![segment(1, "n"), segment(1, "n")], &[]).unwrap_err();
        assert_eq!(e, "segment 1/3 given twice");
        let e = merge(vec![open()], &[]).unwrap_err();
        assert!(e.contains("not a segment's"), "{e}");
        let mut four = segment(1, "n");
        four.part.as_mut().unwrap().segment = Segment { index: 1, count: 4 };
        let e = merge(vec![segment(0, "n"), four], &[]).unwrap_err();
        assert!(e.contains("another number of segments"), "{e}");
    }

    #[test]
    fn test_the_merge_is_the_same_whatever_order_the_results_come_in() {
        let mut segs: Vec<RunResult> = (0..3).map(|i| segment(i, "n")).collect();
        for (i, s) in segs.iter_mut().enumerate() {
            s.cpu.user_s = [0.1, 0.2, 0.3][i];
            s.cpu.sys_s = [0.085242, 0.000001, 0.3][i];
        }
        let a = merge(segs.clone(), &[]).unwrap().result;
        segs.reverse();
        let b = merge(segs, &[]).unwrap().result;
        assert_eq!(crate::report::json(&a), crate::report::json(&b));
    }

    #[test]
    fn test_far_apart_starts_are_warned_of() {
        let mut late = segment(1, "n");
        late.started_unix_s = late.started_unix_s.map(|s| s + 2.5);
        let m = merge(vec![segment(0, "n"), late, segment(2, "n")], &[]).unwrap();
        assert_eq!(m.warnings.len(), 1);
        assert!(m.warnings[0].contains("2.500s apart"), "{}", m.warnings[0]);
    }
}
