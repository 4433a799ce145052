//! The per-second intervals as CSV ([`write_csv`]): one row per interval of the
//! corrected histogram, for a spreadsheet or a plotting script.
//!
//! The columns are documented in `docs/loadgen-reports.md`; [`CSV_HEADER`] is the first
//! line of every file, so a reader can check it has the columns it expects.

use crate::fmt::fmt_target;
use crate::result::RunResult;
use std::io::{self, Write};

/// The header row: the columns, in order (with `--stages`, a target column follows:
/// [`CSV_TARGET_RPS`] or [`CSV_TARGET_CONNECTIONS`]).
pub const CSV_HEADER: &str = "start_s,length_s,count,rps,p50_us,p90_us,p99_us,p999_us,max_us";

/// The last column with `--stages` (open loop): the mean target rate over the interval.
pub const CSV_TARGET_RPS: &str = "target_rps";

/// The last column with `--stages --closed`: the mean target connections over it.
pub const CSV_TARGET_CONNECTIONS: &str = "target_connections";

/// Writes one CSV row per interval of `r` (one per second unless the run was cut short)
/// under [`CSV_HEADER`]: its start (seconds from the start of measurement) and length,
/// the corrected latencies recorded in it (responses completed then, and requests
/// censored then), that count per second, and its p50, p90, p99, p99.9 and max in
/// microseconds. An interval with no latency has empty percentile cells: 0 would read
/// as "no latency". With `--stages`, a last column holds the mean target over the
/// interval (as the interval log's target comments). Lines end in `\n`; no field needs
/// quoting (all are numbers).
///
/// ```
/// # fn check(r: &loadgen::result::RunResult) -> std::io::Result<()> {
/// let mut out = Vec::new();
/// loadgen::report::write_csv(r, &mut out)?;
/// assert!(out.starts_with(loadgen::report::CSV_HEADER.as_bytes()));
/// # Ok(()) }
/// ```
pub fn write_csv<W: Write>(r: &RunResult, w: &mut W) -> io::Result<()> {
    let targets = r.stage_targets();
    let split = split_columns(r);
    let target_column = match &targets {
        Some(t) if t.closed => format!(",{CSV_TARGET_CONNECTIONS}"),
        Some(_) => format!(",{CSV_TARGET_RPS}"),
        None => String::new(),
    };
    let split_header = if split.is_some() { CSV_SPLIT } else { "" };
    writeln!(w, "{CSV_HEADER}{target_column}{split_header}")?;
    let whole = split.as_ref().map(|(s, run)| format!(",{s},{run}"));
    let column = targets.is_some();
    write_rows(
        w,
        &r.intervals,
        (targets.as_ref(), column),
        whole.as_deref(),
    )?;
    // A merge: each segment's own seconds after the run's (no target: the run's is
    // the segments' sum).
    if let (Some(m), Some((_, run))) = (&r.merged, &split) {
        for (seg, ivs) in &m.intervals {
            let cells = format!(",{},{run}", seg.index);
            write_rows(w, ivs, (None, column), Some(&cells))?;
        }
    }
    Ok(())
}

/// The last columns of a split run: the segment (`I/N`; a merge's rows `all` for
/// the run, then the segment's index for each segment's own) and the run's id.
pub const CSV_SPLIT: &str = ",segment,run";

/// `(segment, run)` cells of a split run's rows.
fn split_columns(r: &RunResult) -> Option<(String, String)> {
    if let Some(p) = &r.part {
        return Some((p.segment.to_string(), p.run.to_string()));
    }
    r.merged.as_ref().map(|m| ("all".into(), m.run.to_string()))
}

/// A row per interval: with a target column (`column`), the targets' mean over it
/// (empty without `targets`), then `tail` (a split run's cells).
fn write_rows<W: Write>(
    w: &mut W,
    intervals: &[crate::result::Interval],
    (targets, column): (Option<&crate::result::StageTargets>, bool),
    tail: Option<&str>,
) -> io::Result<()> {
    for iv in intervals {
        let h = &iv.corrected.histogram();
        let secs = iv.length.as_secs_f64();
        let rps = if secs > 0.0 {
            h.len() as f64 / secs
        } else {
            0.0
        };
        write!(
            w,
            "{:.3},{:.3},{},{rps:.1}",
            iv.start.as_secs_f64(),
            secs,
            h.len()
        )?;
        if h.is_empty() {
            write!(w, ",,,,,")?;
        } else {
            write!(
                w,
                ",{},{},{},{},{}",
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.9),
                h.value_at_quantile(0.99),
                h.value_at_quantile(0.999),
                h.max()
            )?;
        }
        match targets {
            Some(t) => write!(w, ",{}", fmt_target(t.mean(iv.start, iv.length)))?,
            None if column => write!(w, ",")?,
            None => {}
        }
        writeln!(w, "{}", tail.unwrap_or(""))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::new_histogram;
    use crate::report::fixtures::open;
    use crate::result::Interval;
    use std::time::Duration;

    fn csv(r: &RunResult) -> String {
        let mut out = Vec::new();
        write_csv(r, &mut out).expect("write to Vec");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn test_csv_shape_and_values_from_the_fixture() {
        let r = open();
        let text = csv(&r);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(lines.len(), 1 + r.intervals.len());
        let columns = CSV_HEADER.split(',').count();
        assert!(
            lines.iter().all(|l| l.split(',').count() == columns),
            "{text}"
        );
        // Second 0: 500 at 1 ms and 40 at 2 ms (92.6% at 1 ms): p50, p90 at 1000; p99,
        // p99.9 and max at 2000.
        assert_eq!(lines[1], "0.000,1.000,540,540.0,1000,1000,2000,2000,2000");
        // Second 1: 400 at 1 ms, 50 at 2 ms (88.7% at 1 ms), one 50 ms outlier, which
        // reads back as 50015, the top of its bucket at 3 significant digits: p99.9 and max.
        assert_eq!(lines[2], "1.000,1.000,451,451.0,1000,2000,2000,50015,50015");
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn test_csv_empty_interval_has_empty_percentiles_and_short_one_its_rate() {
        let mut r = open();
        r.intervals = vec![
            Interval {
                start: Duration::ZERO,
                length: Duration::from_secs(1),
                corrected: new_histogram().into(),
            },
            Interval {
                start: Duration::from_secs(1),
                length: Duration::from_millis(250),
                corrected: crate::report::fixtures::hist(&[(300, 100)]).into(),
            },
        ];
        let text = csv(&r);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "0.000,1.000,0,0.0,,,,,");
        // 100 in a quarter of a second: 400 per second.
        assert_eq!(lines[2], "1.000,0.250,100,400.0,300,300,300,300,300");
        r.intervals.clear();
        assert_eq!(csv(&r), format!("{CSV_HEADER}\n"));
    }

    #[test]
    fn test_csv_stages_add_the_mean_target_column() {
        let mut r = open();
        let p = crate::schedule::Profile::new(&[
            (Duration::from_secs(2), 1000.0),
            (Duration::from_secs(1), 1000.0),
        ]);
        r.load.stages = Some(std::sync::Arc::new(p));
        r.load.warmup = Duration::from_millis(500);
        r.intervals.push(Interval {
            start: Duration::from_secs(2),
            length: Duration::from_millis(500),
            corrected: new_histogram().into(),
        });
        let text = csv(&r);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], format!("{CSV_HEADER},target_rps"));
        let columns = lines[0].split(',').count();
        assert!(
            lines.iter().all(|l| l.split(',').count() == columns),
            "{text}"
        );
        // 0.5..1.5 s into the run, up the ramp: 250 to 750 req/s; 1.5..2.5 s: 750 to 1000
        // for half a second, then 1000; 2.5..3 s: 1000.
        let targets: Vec<&str> = lines[1..]
            .iter()
            .map(|l| l.rsplit(',').next().unwrap_or(""))
            .collect();
        assert_eq!(targets, ["500", "937.5", "1000"]);
        assert!(lines[3].starts_with("2.000,0.500,0,0.0,,,,,,"), "{text}");
        r.load.stages_closed = true;
        assert!(csv(&r).starts_with(&format!("{CSV_HEADER},target_connections\n")));
    }
}
