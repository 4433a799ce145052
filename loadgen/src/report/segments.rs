//! A run split over segments, in the reports: which run and share a segment's report
//! is, and a merged report's row per segment (figures, start skew, lost).

use crate::fmt::{fmt_rate, fmt_us, group};
use crate::result::RunResult;
use crate::split::{SegmentRow, Skew};
use serde_json::{json, Value};
use std::fmt::Write as _;

/// The `run:` line: `segment 1/3 of run 3fa2c1d0e4b5a697-5f1e` or `merged from 3
/// segments of run ...`; `None` for a run in one process.
pub(crate) fn identity_line(r: &RunResult) -> Option<String> {
    if let Some(p) = &r.part {
        return Some(p.describe());
    }
    let m = r.merged.as_ref()?;
    let lost = m.segments.iter().filter(|s| s.lost.is_some()).count();
    let missing = match lost {
        0 => String::new(),
        n => format!(", {n} of them MISSING"),
    };
    Some(format!(
        "merged from {} segments of run {}{missing}",
        m.segments.len(),
        m.run
    ))
}

/// A skew as people read it: `+12.3ms +-0.4ms`.
fn skew_text(s: Option<Skew>) -> String {
    match s {
        Some(s) => format!(
            "{}{} +-{}",
            if s.offset_s < 0.0 { "-" } else { "+" },
            fmt_us(s.offset_s.abs() * 1e6),
            fmt_us(s.bound_s * 1e6)
        ),
        None => "-".into(),
    }
}

/// A row's cells as people read them: the segment, measured, achieved, p50, p99,
/// p99.9, errors, the clock; a lost segment's: the segment and why.
fn cells(row: &SegmentRow) -> Vec<String> {
    let seg = row.segment.to_string();
    if let Some(why) = &row.lost {
        return vec![seg, format!("LOST: {why}")];
    }
    let us = |v: Option<u64>| v.map_or("-".into(), |v| fmt_us(v as f64));
    vec![
        seg,
        group(row.measured),
        format!("{}/s", fmt_rate(row.achieved_rps)),
        us(row.p50_us),
        us(row.p99_us),
        us(row.p99_9_us),
        group(row.errors),
        skew_text(row.skew),
    ]
}

/// The merged report's table of segments (nothing for another report).
pub(crate) fn text_table(r: &RunResult, s: &mut String) -> std::fmt::Result {
    let Some(m) = &r.merged else { return Ok(()) };
    writeln!(
        s,
        "segments     {:>10} {:>12} {:>9} {:>9} {:>9} {:>7}  clock vs segment 0",
        "measured", "achieved", "p50", "p99", "p99.9", "errors"
    )?;
    for row in &m.segments {
        match cells(row).as_slice() {
            [seg, lost] => writeln!(s, "  {seg:<10} {lost}")?,
            [seg, n, rate, p50, p99, p999, errors, clock] => writeln!(
                s,
                "  {seg:<10} {n:>10} {rate:>12} {p50:>9} {p99:>9} {p999:>9} {errors:>7}  {clock}"
            )?,
            _ => {}
        }
    }
    Ok(())
}

/// The merged report's rows of cells, for the HTML table (`None` for another report).
pub(crate) fn html_rows(r: &RunResult) -> Option<Vec<Vec<String>>> {
    let m = r.merged.as_ref()?;
    Some(m.segments.iter().map(cells).collect())
}

/// The JSON fields of a split run: `run` (its identity), and `segment` (a
/// segment's) or `segments` (a merge's rows); none for a run in one process.
pub(crate) fn json_fields(r: &RunResult) -> Value {
    if let Some(p) = &r.part {
        return json!({
            "run": run_json(&p.run),
            "segment": { "index": p.segment.index, "count": p.segment.count,
                         "skew": p.skew.map(skew_json) },
        });
    }
    let Some(m) = &r.merged else {
        return json!({});
    };
    json!({
        "run": run_json(&m.run),
        "segments": m.segments.iter().map(row_json).collect::<Vec<_>>(),
    })
}

fn run_json(id: &crate::run_id::RunId) -> Value {
    json!({ "id": id.to_string(), "plan": id.plan, "nonce": id.nonce })
}

fn skew_json(s: Skew) -> Value {
    json!({ "offset_s": s.offset_s, "bound_s": s.bound_s })
}

fn row_json(row: &SegmentRow) -> Value {
    json!({
        "index": row.segment.index,
        "measured": row.measured,
        "achieved_rps": row.achieved_rps,
        "p50_us": row.p50_us,
        "p99_us": row.p99_us,
        "p99_9_us": row.p99_9_us,
        "errors": row.errors,
        "started_unix_s": row.started_unix_s,
        "skew": row.skew.map(skew_json),
        "lost": row.lost,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::{open, split};

    #[test]
    fn test_every_report_names_the_run_and_the_share() {
        let (part, merged) = split();
        assert_eq!(identity_line(&open()), None);
        let id = "segment 1/2 of run 0707070707070707-5eed";
        assert_eq!(identity_line(&part).as_deref(), Some(id));
        assert!(crate::report::text(&part).contains(&format!("run:         {id}\n")));
        let mut csv = Vec::new();
        crate::report::write_csv(&part, &mut csv).unwrap();
        let csv = String::from_utf8(csv).unwrap();
        assert!(csv
            .lines()
            .all(|l| l.ends_with(",segment,run") || l.ends_with(",1/2,0707070707070707-5eed")));
        let mut log = Vec::new();
        crate::report::write_interval_log(&part, &mut log, 1.0).unwrap();
        assert!(String::from_utf8_lossy(&log).contains(&format!("#[Run: {id}]\n")));
        let line = identity_line(&merged).unwrap();
        assert_eq!(
            line,
            "merged from 2 segments of run 0707070707070707-5eed, 1 of them MISSING"
        );
    }

    #[test]
    fn test_a_merge_has_a_row_per_segment_in_text_and_html() {
        let (_, merged) = split();
        let text = crate::report::text(&merged);
        assert!(
            text.contains("  0/2                10       5.00/s"),
            "{text}"
        );
        assert!(text.contains("+12.0ms +-300us"), "{text}");
        assert!(
            text.contains("  1/2        LOST: its connection dropped\n"),
            "{text}"
        );
        let ctx = crate::report::HtmlContext {
            command_line: String::new(),
            machine: crate::report::Machine::read(),
            thresholds: Vec::new(),
        };
        let page = crate::report::html(&merged, &ctx).unwrap();
        assert!(page.contains("<h2>Segments</h2>"));
        assert!(page.contains("<td colspan=\"7\" class=\"warn\">LOST: its connection dropped</td>"));
    }
}
