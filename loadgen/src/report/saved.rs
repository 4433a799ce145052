//! Runs read back from the files earlier runs wrote ([`SavedRun`], [`read_saved`]):
//! JSON reports (`--json`, schema 2) and HdrHistogram interval logs (`--log`), for
//! `loadgen report` to tabulate, compare and plot.
//!
//! A JSON report has everything: throughput, percentiles, errors, and (from this
//! version on) the whole histogram. An interval log has only latencies: their
//! percentiles and how many per interval, so its throughput is latencies per second of
//! the logged span and its errors are unknown, which the report shows as `n/a`
//! rather than as 0.

use super::{decode_histogram, read_interval_log, JSON_SCHEMA};
use hdrhistogram::Histogram;
use serde_json::Value;
use std::time::Duration;

/// What kind of file a saved run was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SavedKind {
    /// A JSON report written by `--json`.
    Json,
    /// An HdrHistogram interval log written by `--log` (or any HdrHistogram writer).
    IntervalLog,
}

impl SavedKind {
    /// A short name: `json`, `hlog`.
    pub fn name(self) -> &'static str {
        match self {
            SavedKind::Json => "json",
            SavedKind::IntervalLog => "hlog",
        }
    }
}

/// Percentiles of a saved run's corrected latency, microseconds; `None` when unknown
/// (no latency recorded).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SavedLatency {
    /// 50th percentile.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// 99.9th percentile.
    pub p99_9: Option<f64>,
    /// 99.99th percentile.
    pub p99_99: Option<f64>,
    /// The largest value.
    pub max: Option<f64>,
}

impl SavedLatency {
    fn of(h: &Histogram<u64>) -> SavedLatency {
        if h.is_empty() {
            return SavedLatency::default();
        }
        let q = |q: f64| Some(h.value_at_quantile(q) as f64);
        SavedLatency {
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p99_9: q(0.999),
            p99_99: q(0.9999),
            max: Some(h.max() as f64),
        }
    }
}

/// The phases' percentiles a JSON report holds (`phases`; none in older reports or in
/// an interval log).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SavedPhases {
    /// The connect phase's 99th percentile.
    pub connect_p99: Option<f64>,
    /// The TLS handshake's 99th percentile (`null` over plain TCP).
    pub tls_p99: Option<f64>,
    /// Time to first byte, 50th percentile.
    pub ttfb_p50: Option<f64>,
    /// Time to first byte, 99th percentile.
    pub ttfb_p99: Option<f64>,
    /// Transfer, 99th percentile.
    pub transfer_p99: Option<f64>,
}

/// One run read back from a file.
#[derive(Clone, Debug)]
pub struct SavedRun {
    /// How the reports name it: the file's name.
    pub label: String,
    /// What it was read from.
    pub kind: SavedKind,
    /// Responses per second (JSON: `throughput_rps`; interval log: latencies per second
    /// of the logged span, censored requests included).
    pub throughput_rps: Option<f64>,
    /// The corrected latency's percentiles.
    pub latency: SavedLatency,
    /// Errors of the whole run; `None` from an interval log, which does not know them.
    pub errors: Option<u64>,
    /// The whole corrected histogram, when the file holds it (interval logs, and JSON
    /// reports with `histograms`): the plot draws every percentile from it, else the
    /// summary percentiles.
    pub histogram: Option<Histogram<u64>>,
    /// The phases' percentiles, when the report has them.
    pub phases: SavedPhases,
}

/// Reads a saved run from the bytes of a file named `label`: a JSON report when it
/// starts with `{`, else an interval log. The error says what is wrong in one phrase
/// (the caller adds the file name): empty, not JSON, not a loadgen report, another
/// schema, a missing field, not an interval log, an interval log without intervals.
///
/// ```
/// use loadgen::report::read_saved;
/// let e = read_saved("x.json", b"{\"schema\": 1}").unwrap_err();
/// assert!(e.contains("schema 1"), "{e}");
/// assert_eq!(read_saved("x", b"  \n").unwrap_err(), "empty file");
/// ```
pub fn read_saved(label: &str, bytes: &[u8]) -> Result<SavedRun, String> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        None => Err("empty file".to_string()),
        Some(b'{') | Some(b'[') => read_json(label, bytes),
        Some(_) => read_log(label, bytes),
    }
}

fn read_json(label: &str, bytes: &[u8]) -> Result<SavedRun, String> {
    let j: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let schema = j
        .get("schema")
        .ok_or("JSON but not a loadgen report (no \"schema\" field)")?;
    if schema.as_u64() != Some(JSON_SCHEMA) {
        return Err(format!(
            "a loadgen JSON report of schema {schema}, but this loadgen reads schema {JSON_SCHEMA}"
        ));
    }
    let field = |path: &[&str]| -> Result<&Value, String> {
        path.iter()
            .try_fold(&j, |v, k| v.get(k))
            .ok_or_else(|| format!("no field {}", path.join(".")))
    };
    let number = |path: &[&str]| -> Result<Option<f64>, String> {
        let v = field(path)?;
        match v {
            Value::Null => Ok(None),
            v => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| format!("field {} is not a number", path.join("."))),
        }
    };
    let pct = |k: &str| number(&["latency_us", "corrected", k]);
    let latency = SavedLatency {
        p50: pct("p50")?,
        p90: pct("p90")?,
        p99: pct("p99")?,
        p99_9: pct("p99_9")?,
        p99_99: pct("p99_99")?,
        max: pct("max")?,
    };
    let errors = field(&["errors"])?
        .as_array()
        .ok_or("field errors is not an array")?
        .iter()
        .map(|e| e.get("count").and_then(Value::as_u64))
        .sum::<Option<u64>>()
        .ok_or("an errors[] entry has no count")?;
    // Older files of schema 2 have no histograms: the summary percentiles serve.
    let histogram = match j.get("histograms").and_then(|h| h.get("corrected")) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            Some(decode_histogram(s).map_err(|e| format!("histograms.corrected: {e}"))?)
        }
        Some(_) => return Err("field histograms.corrected is not a string".to_string()),
    };
    // Absent from reports before the phases: no row then, not an error.
    let phase = |name: &str, q: &str| {
        j.get("phases")
            .and_then(|p| p.get(name))
            .and_then(|s| s.get(q))
            .and_then(Value::as_f64)
    };
    let phases = SavedPhases {
        connect_p99: phase("connect_us", "p99"),
        tls_p99: phase("tls_handshake_us", "p99"),
        ttfb_p50: phase("ttfb_us", "p50"),
        ttfb_p99: phase("ttfb_us", "p99"),
        transfer_p99: phase("transfer_us", "p99"),
    };
    Ok(SavedRun {
        label: label.to_string(),
        kind: SavedKind::Json,
        throughput_rps: number(&["throughput_rps"])?,
        latency,
        errors: Some(errors),
        histogram,
        phases,
    })
}

fn read_log(label: &str, bytes: &[u8]) -> Result<SavedRun, String> {
    let intervals = read_interval_log(bytes).map_err(|e| {
        format!("neither a loadgen JSON report nor an HdrHistogram interval log: {e}")
    })?;
    let first = intervals
        .first()
        .ok_or("an interval log without intervals (empty)")?;
    // Summed into a histogram that grows as needed: another writer's log may hold
    // values beyond loadgen's one hour.
    let mut total = first.histogram.clone();
    total.auto(true);
    for iv in &intervals[1..] {
        total
            .add(&iv.histogram)
            .map_err(|e| format!("the intervals' histograms do not add up: {e:?}"))?;
    }
    let start = intervals
        .iter()
        .map(|iv| iv.start)
        .min()
        .unwrap_or_default();
    let end = intervals
        .iter()
        .map(|iv| iv.start + iv.length)
        .max()
        .unwrap_or_default();
    let span = end.saturating_sub(start);
    Ok(SavedRun {
        label: label.to_string(),
        kind: SavedKind::IntervalLog,
        throughput_rps: (span > Duration::ZERO).then(|| total.len() as f64 / span.as_secs_f64()),
        latency: SavedLatency::of(&total),
        errors: None,
        histogram: Some(total),
        phases: SavedPhases::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::open;
    use crate::report::{json, write_interval_log};

    #[test]
    fn test_json_report_reads_back() {
        let r = open();
        let text = json(&r).to_string();
        let s = read_saved("run.json", text.as_bytes()).expect("reads");
        assert_eq!(s.label, "run.json");
        assert_eq!(s.kind, SavedKind::Json);
        assert_eq!(s.throughput_rps, Some(500.0));
        assert_eq!(s.latency, SavedLatency::of(&r.rec.corrected));
        // 1 refused + 2 timeouts.
        assert_eq!(s.errors, Some(3));
        assert_eq!(s.histogram.as_ref(), Some(&r.rec.corrected));
    }

    #[test]
    fn test_json_phases_read_back_for_the_comparison() {
        let r = open();
        let j = json(&r);
        let s = read_saved("run.json", j.to_string().as_bytes()).expect("reads");
        let want = |phase: &str, q: &str| j["phases"][phase][q].as_f64();
        assert!(want("ttfb_us", "p99").is_some(), "the fixture has replies");
        assert_eq!(s.phases.ttfb_p99, want("ttfb_us", "p99"));
        assert_eq!(s.phases.ttfb_p50, want("ttfb_us", "p50"));
        assert_eq!(s.phases.connect_p99, want("connect_us", "p99"));
        assert_eq!(s.phases.transfer_p99, want("transfer_us", "p99"));
        assert_eq!(s.phases.tls_p99, None, "plain: no handshake timed");
        // A report from before the phases reads too, without them.
        let mut j = json(&r);
        j.as_object_mut().unwrap().remove("phases");
        let s = read_saved("old.json", j.to_string().as_bytes()).expect("reads");
        assert_eq!(s.phases, SavedPhases::default());
    }

    #[test]
    fn test_json_without_histograms_still_reads() {
        let mut j = json(&open());
        j.as_object_mut().expect("object").remove("histograms");
        let s = read_saved("old.json", j.to_string().as_bytes()).expect("reads");
        assert!(s.histogram.is_none());
        assert_eq!(s.latency.p99, Some(2000.0));
    }

    #[test]
    fn test_interval_log_reads_back_with_its_span() {
        let r = open();
        let mut buf = Vec::new();
        write_interval_log(&r, &mut buf, 1_700_000_000.0).expect("write to Vec");
        let s = read_saved("run.hlog", &buf).expect("reads");
        assert_eq!(s.kind, SavedKind::IntervalLog);
        assert_eq!(s.errors, None);
        // 540 + 451 latencies over the two logged seconds.
        assert_eq!(s.throughput_rps, Some(495.5));
        let h = s.histogram.expect("summed histogram");
        assert_eq!(h.len(), 991);
        assert_eq!(s.latency.max, Some(h.max() as f64));
        assert_eq!(s.latency.p50, Some(1000.0));
    }

    #[test]
    fn test_bad_files_say_what_is_wrong() {
        let bad = |bytes: &[u8]| read_saved("f", bytes).expect_err("refused");
        assert_eq!(bad(b""), "empty file");
        assert!(bad(b"{ not json").starts_with("not JSON: "));
        assert!(bad(b"{\"a\": 1}").contains("no \"schema\" field"));
        assert_eq!(
            bad(b"{\"schema\": 1}"),
            "a loadgen JSON report of schema 1, but this loadgen reads schema 2"
        );
        assert_eq!(bad(b"{\"schema\": 2}"), "no field latency_us.corrected.p50");
        let mut j = json(&open());
        j["throughput_rps"] = "fast".into();
        assert_eq!(
            bad(j.to_string().as_bytes()),
            "field throughput_rps is not a number"
        );
        let mut j = json(&open());
        j["histograms"]["corrected"] = "HISTjunk".into();
        assert!(bad(j.to_string().as_bytes()).starts_with("histograms.corrected: "));
        assert!(bad(b"hello\n")
            .starts_with("neither a loadgen JSON report nor an HdrHistogram interval log: line 1"));
        assert_eq!(
            bad(b"#[StartTime: 1.000 (seconds since epoch)]\n"),
            "an interval log without intervals (empty)"
        );
    }
}
