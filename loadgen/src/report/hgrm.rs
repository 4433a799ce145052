//! HdrHistogram's percentile-distribution text (`.hgrm`): [`write_hgrm`] prints it as
//! Java's `outputPercentileDistribution` and wrk2 do, [`parse_hgrm`] reads it back.
//!
//! The writer and its parser live together because each is the other's test: the rows
//! written must parse to the histogram's own percentiles.

use super::TICKS_PER_HALF_DISTANCE;
use hdrhistogram::Histogram;
use std::io::{self, Write};

/// Writes `h` in HdrHistogram's percentile-distribution text format, as Java's
/// `outputPercentileDistribution(out, 5, unit_ratio)` and wrk2 print it, so the standard
/// HdrHistogram plotter (`plotFiles.html`) loads it.
///
/// Values are divided by `unit_ratio` (histograms hold microseconds; 1000.0 writes
/// milliseconds) and printed with as many decimals as the histogram has significant
/// digits, like Java. As in Java, the last row (percentile 1.0) has no `1/(1-Percentile)`
/// column, since it would be infinite. An empty histogram writes the header and footer
/// only.
pub fn write_hgrm<W: Write>(h: &Histogram<u64>, w: &mut W, unit_ratio: f64) -> io::Result<()> {
    let prec = usize::from(h.sigfig());
    writeln!(
        w,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    // The Rust iterator reports the count since the previous row; Java prints the running
    // total, so accumulate it.
    let mut total: u64 = 0;
    for v in h.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
        total += v.count_since_last_iteration();
        let value = v.value_iterated_to() as f64 / unit_ratio;
        let q = v.quantile_iterated_to();
        if q < 1.0 {
            writeln!(
                w,
                "{value:12.prec$} {q:2.12} {total:10} {:14.2}",
                1.0 / (1.0 - q)
            )?;
        } else {
            writeln!(w, "{value:12.prec$} {q:2.12} {total:10}")?;
        }
    }
    let (mean, stdev, max) = if h.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (
            h.mean() / unit_ratio,
            h.stdev() / unit_ratio,
            h.max() as f64 / unit_ratio,
        )
    };
    writeln!(
        w,
        "#[Mean    = {mean:12.prec$}, StdDeviation   = {stdev:12.prec$}]"
    )?;
    writeln!(
        w,
        "#[Max     = {max:12.prec$}, Total count    = {:12}]",
        h.len()
    )?;
    // hdrhistogram does not expose the sub-bucket count, but its counts array holds
    // (buckets + 1) * sub_bucket_count / 2 entries, so it can be derived exactly.
    let buckets = usize::from(h.buckets());
    let sub_buckets = 2 * h.distinct_values() / (buckets + 1);
    writeln!(
        w,
        "#[Buckets = {buckets:12}, SubBuckets     = {sub_buckets:12}]"
    )
}

/// Parses the rows of a percentile-distribution text (as written by [`write_hgrm`], Java
/// or wrk2) into `(value, percentile, total count)`, skipping the header, blank lines
/// and `#` footer lines. Errors name the offending line.
pub fn parse_hgrm(text: &str) -> Result<Vec<(f64, f64, u64)>, String> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with("Value") {
            continue;
        }
        let f: Vec<&str> = t.split_whitespace().collect();
        if f.len() != 3 && f.len() != 4 {
            return Err(format!(
                "line {}: expected 3 or 4 columns, got {}: {line:?}",
                i + 1,
                f.len()
            ));
        }
        let bad = |what: &str| format!("line {}: bad {what}: {line:?}", i + 1);
        let value: f64 = f[0].parse().map_err(|_| bad("value"))?;
        let pct: f64 = f[1].parse().map_err(|_| bad("percentile"))?;
        let count: u64 = f[2].parse().map_err(|_| bad("total count"))?;
        if !(0.0..=1.0).contains(&pct) {
            return Err(bad("percentile (outside 0..1)"));
        }
        if f.len() == 4 {
            // Only checked for well-formedness; it is derived from the percentile.
            let inv = f[3].to_ascii_lowercase();
            if inv != "inf" && inv != "infinity" && inv.parse::<f64>().is_err() {
                return Err(bad("1/(1-Percentile)"));
            }
        }
        rows.push((value, pct, count));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::new_histogram;
    use crate::report::fixtures::{hist, uniform};

    #[test]
    fn test_hgrm_exact_format_of_a_single_value() {
        let h = hist(&[(1000, 1)]);
        let mut buf = Vec::new();
        write_hgrm(&h, &mut buf, 1000.0).expect("write to Vec");
        let expected = format!(
            "       Value     Percentile TotalCount 1/(1-Percentile)\n\
             \n       1.000 0.000000000000          1           1.00\n\
             \x20      1.000 1.000000000000          1\n\
             #[Mean    =        1.000, StdDeviation   =        0.000]\n\
             #[Max     =        1.000, Total count    =            1]\n\
             #[Buckets = {:>12}, SubBuckets     =         2048]\n",
            h.buckets()
        );
        assert_eq!(String::from_utf8(buf).expect("utf-8"), expected);
    }

    #[test]
    fn test_hgrm_round_trip_matches_the_histogram() {
        let h = uniform(100_000);
        let ratio = 1000.0;
        let mut buf = Vec::new();
        write_hgrm(&h, &mut buf, ratio).expect("write to Vec");
        let text = String::from_utf8(buf).expect("utf-8");
        let rows = parse_hgrm(&text).expect("parses");
        assert!(rows.len() > 50);
        // Percentiles never go down; the last row is 1.0 with the whole count.
        assert!(rows
            .windows(2)
            .all(|w| w[0].1 <= w[1].1 && w[0].2 <= w[1].2));
        let last = rows.last().expect("rows");
        assert_eq!(last.1, 1.0);
        assert_eq!(last.2, h.len());
        for q in [0.5, 0.9, 0.99, 1.0] {
            // The row at (or first past) q; rows sit on HdrHistogram's ticks.
            let row = rows.iter().find(|r| r.1 >= q - 1e-9).expect("row");
            assert!(row.1 - q < 0.002, "row {row:?} too far from {q}");
            let want = h.value_at_quantile(row.1);
            let tol = h.equivalent_range(want) as f64 / ratio;
            assert!(
                (row.0 - want as f64 / ratio).abs() <= tol,
                "q {q}: hgrm {} vs histogram {}",
                row.0,
                want as f64 / ratio
            );
        }
        // Exact rows: p50 and max are printed at exactly 0.5 and 1.0.
        let p50 = rows.iter().find(|r| r.1 == 0.5).expect("p50 row");
        assert!((p50.0 - h.value_at_quantile(0.5) as f64 / ratio).abs() < 1e-9);
        assert!((last.0 - h.max() as f64 / ratio).abs() < 1e-9);
        // Footer: the total count and max.
        assert!(text.contains(&format!("Total count    = {:>12}]", h.len())));
        assert!(text.contains(&format!("#[Max     = {:>12.3},", h.max() as f64 / ratio)));
    }

    #[test]
    fn test_hgrm_rows_have_java_columns() {
        let h = uniform(1000);
        let mut buf = Vec::new();
        write_hgrm(&h, &mut buf, 1.0).expect("write to Vec");
        let text = String::from_utf8(buf).expect("utf-8");
        let data: Vec<&str> = text
            .lines()
            .skip(2)
            .filter(|l| !l.starts_with('#'))
            .collect();
        let (last, rest) = data.split_last().expect("rows");
        for l in rest {
            // %12.3f %2.12f %10d %14.2f: 12 + 1 + 14 + 1 + 10 + 1 + 14 characters.
            assert_eq!(l.len(), 53, "{l:?}");
            assert_eq!(l.split_whitespace().count(), 4);
        }
        assert_eq!(last.len(), 38, "{last:?}");
        assert!(last.contains(" 1.000000000000 "));
    }

    #[test]
    fn test_hgrm_empty_histogram_and_parse_errors() {
        let mut buf = Vec::new();
        write_hgrm(&new_histogram(), &mut buf, 1000.0).expect("write to Vec");
        let text = String::from_utf8(buf).expect("utf-8");
        assert_eq!(parse_hgrm(&text), Ok(vec![]));
        assert!(text.contains("Total count    =            0]"));
        assert!(parse_hgrm("1.0 0.5").is_err());
        assert!(parse_hgrm("x 0.5 3 2.0").is_err());
        assert!(parse_hgrm("1.0 1.5 3").is_err());
        assert_eq!(
            parse_hgrm("  1.5 0.5 10 2.00\n 3.0 1.0 20\n"),
            Ok(vec![(1.5, 0.5, 10), (3.0, 1.0, 20)])
        );
    }
}
