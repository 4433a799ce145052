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

/// The merged report's table of segments (nothing for another report).
pub(crate) fn text_table(r: &RunResult, s: &mut String) -> std::fmt::Result {
    let Some(m) = &r.merged else { return Ok(()) };
    writeln!(
        s,
        "segments     {:>10} {:>12} {:>9} {:>9} {:>9} {:>7}  clock vs segment 0",
        "measured", "achieved", "p50", "p99", "p99.9", "errors"
    )?;
    let us = |v: Option<u64>| v.map_or("-".into(), |v| fmt_us(v as f64));
    for row in &m.segments {
        let seg = row.segment.to_string();
        if let Some(why) = &row.lost {
            writeln!(s, "  {seg:<10} LOST: {why}")?;
            continue;
        }
        writeln!(
            s,
            "  {seg:<10} {:>10} {:>12} {:>9} {:>9} {:>9} {:>7}  {}",
            group(row.measured),
            format!("{}/s", fmt_rate(row.achieved_rps)),
            us(row.p50_us),
            us(row.p99_us),
            us(row.p99_9_us),
            group(row.errors),
            skew_text(row.skew)
        )?;
    }
    writeln!(s)
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
