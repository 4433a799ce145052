//! Saved runs side by side ([`Comparison`]): a table of runs, and with a second side
//! (`loadgen report A... --vs B...`) each metric's medians, their ratio and whether the
//! difference is more than noise.
//!
//! The rule for "more than noise" is deliberately crude and honest: with at least two
//! runs on each side, a difference is flagged only when the two sides' ranges (min to
//! max) do not overlap; when they overlap it is "within noise". With one run on a side
//! there is no spread to judge by, and the report says so instead of guessing. No
//! significance test: a handful of benchmark runs rarely meets its assumptions, and a
//! range that does not overlap is what a reader can check by eye in the run table.

use super::{SavedKind, SavedRun};
use crate::fmt::{fmt_rate, fmt_us, group};
use serde_json::{json, Value};
use std::fmt::Write as _;

/// Version of the JSON document of `loadgen report --json`.
pub(crate) const COMPARE_SCHEMA: u64 = 1;

/// What is compared, one row each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Responses per second.
    Throughput,
    /// Corrected latency, 50th percentile.
    P50,
    /// 90th percentile.
    P90,
    /// 99th percentile.
    P99,
    /// 99.9th percentile.
    P99_9,
    /// The largest latency.
    Max,
    /// Errors of the whole run.
    Errors,
    /// The connect phase (per connection), 99th percentile.
    ConnectP99,
    /// The TLS handshake (per connection), 99th percentile.
    TlsP99,
    /// Time to first byte (per reply), 50th percentile.
    TtfbP50,
    /// Time to first byte, 99th percentile.
    TtfbP99,
    /// Transfer, first byte to last (per reply), 99th percentile.
    TransferP99,
}

impl Metric {
    /// Every metric, in table order.
    pub(crate) const ALL: [Metric; 7] = [
        Metric::Throughput,
        Metric::P50,
        Metric::P90,
        Metric::P99,
        Metric::P99_9,
        Metric::Max,
        Metric::Errors,
    ];

    /// The phases (JSON reports that have them), compared after [`Metric::ALL`] when a
    /// run on either side has the phase.
    pub(crate) const PHASES: [Metric; 5] = [
        Metric::ConnectP99,
        Metric::TlsP99,
        Metric::TtfbP50,
        Metric::TtfbP99,
        Metric::TransferP99,
    ];

    /// The column or row name: `throughput`, `p50`, ..., `errors`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Throughput => "throughput",
            Metric::P50 => "p50",
            Metric::P90 => "p90",
            Metric::P99 => "p99",
            Metric::P99_9 => "p99.9",
            Metric::Max => "max",
            Metric::Errors => "errors",
            Metric::ConnectP99 => "connect p99",
            Metric::TlsP99 => "tls p99",
            Metric::TtfbP50 => "ttfb p50",
            Metric::TtfbP99 => "ttfb p99",
            Metric::TransferP99 => "transfer p99",
        }
    }

    /// The JSON key, with its unit: `throughput_rps`, `p50_us`, ..., `errors`.
    pub fn key(self) -> &'static str {
        match self {
            Metric::Throughput => "throughput_rps",
            Metric::P50 => "p50_us",
            Metric::P90 => "p90_us",
            Metric::P99 => "p99_us",
            Metric::P99_9 => "p99_9_us",
            Metric::Max => "max_us",
            Metric::Errors => "errors",
            Metric::ConnectP99 => "connect_p99_us",
            Metric::TlsP99 => "tls_handshake_p99_us",
            Metric::TtfbP50 => "ttfb_p50_us",
            Metric::TtfbP99 => "ttfb_p99_us",
            Metric::TransferP99 => "transfer_p99_us",
        }
    }

    /// Whether more is better (throughput) or worse (latency, errors).
    pub(crate) fn higher_is_better(self) -> bool {
        self == Metric::Throughput
    }

    /// This metric of `r`; `None` when the file does not say.
    pub fn of(self, r: &SavedRun) -> Option<f64> {
        let l = &r.latency;
        match self {
            Metric::Throughput => r.throughput_rps,
            Metric::P50 => l.p50,
            Metric::P90 => l.p90,
            Metric::P99 => l.p99,
            Metric::P99_9 => l.p99_9,
            Metric::Max => l.max,
            Metric::Errors => r.errors.map(|e| e as f64),
            Metric::ConnectP99 => r.phases.connect_p99,
            Metric::TlsP99 => r.phases.tls_p99,
            Metric::TtfbP50 => r.phases.ttfb_p50,
            Metric::TtfbP99 => r.phases.ttfb_p99,
            Metric::TransferP99 => r.phases.transfer_p99,
        }
    }

    /// `v` for people: `114,914/s`, `1.21ms`, `3`.
    pub fn fmt(self, v: f64) -> String {
        match self {
            Metric::Throughput => format!("{}/s", fmt_rate(v)),
            Metric::Errors => group(v.max(0.0).round() as u64),
            _ => fmt_us(v),
        }
    }

    fn fmt_opt(self, v: Option<f64>) -> String {
        v.map_or_else(|| "n/a".to_string(), |v| self.fmt(v))
    }
}

/// One side's values of one metric: how many runs said, their median and range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Spread {
    /// Runs with a value (an interval log has no errors).
    pub runs: usize,
    /// The median (the mean of the middle two of an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`; `None` for none.
    pub fn of(values: &[f64]) -> Option<Spread> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Spread {
            runs: n,
            median,
            min: v[0],
            max: v[n - 1],
        })
    }
}

/// What one metric's comparison concludes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every B run is above every A run (the ranges do not overlap).
    BHigher,
    /// Every B run is below every A run.
    BLower,
    /// The ranges overlap: no difference this many runs can show.
    WithinNoise,
    /// A side has a single run: there is no spread to judge the difference by.
    SpreadUnknown,
    /// A side has no value for this metric (errors, from interval logs).
    NoData,
}

impl Verdict {
    /// The JSON name: `b_higher`, `b_lower`, `within_noise`, `spread_unknown`, `no_data`.
    pub fn key(self) -> &'static str {
        match self {
            Verdict::BHigher => "b_higher",
            Verdict::BLower => "b_lower",
            Verdict::WithinNoise => "within_noise",
            Verdict::SpreadUnknown => "spread_unknown",
            Verdict::NoData => "no_data",
        }
    }
}

/// One metric, side A against side B.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct MetricRow {
    /// The metric.
    pub metric: Metric,
    /// Side A's values.
    pub a: Option<Spread>,
    /// Side B's values.
    pub b: Option<Spread>,
    /// B's median / A's median (1 when both are 0; `None` when only A's is 0).
    pub ratio: Option<f64>,
    /// The conclusion.
    pub verdict: Verdict,
}

impl MetricRow {
    /// Whether B is better than A on this metric: `None` unless the difference is
    /// flagged.
    pub(crate) fn b_better(&self) -> Option<bool> {
        let up = match self.verdict {
            Verdict::BHigher => true,
            Verdict::BLower => false,
            _ => return None,
        };
        Some(up == self.metric.higher_is_better())
    }

    /// The verdict for people.
    pub(crate) fn verdict_text(&self) -> String {
        let better = |b: bool| if b { "better" } else { "worse" };
        match (self.verdict, self.b_better()) {
            (Verdict::BHigher, Some(b)) => {
                format!("B higher ({}): the ranges do not overlap", better(b))
            }
            (Verdict::BLower, Some(b)) => {
                format!("B lower ({}): the ranges do not overlap", better(b))
            }
            (Verdict::WithinNoise, _) => "within noise: the ranges overlap".to_string(),
            (Verdict::SpreadUnknown, _) => "spread unknown: one run on a side".to_string(),
            _ => "no data".to_string(),
        }
    }
}

/// Compares one metric of side `a` with side `b` (see the module doc for the rule).
pub(crate) fn compare_metric(metric: Metric, a: &[SavedRun], b: &[SavedRun]) -> MetricRow {
    let values = |runs: &[SavedRun]| runs.iter().filter_map(|r| metric.of(r)).collect::<Vec<_>>();
    let (sa, sb) = (Spread::of(&values(a)), Spread::of(&values(b)));
    let (ratio, verdict) = match (sa, sb) {
        (Some(x), Some(y)) => {
            let ratio = if x.median != 0.0 {
                Some(y.median / x.median)
            } else if y.median == 0.0 {
                Some(1.0)
            } else {
                None
            };
            let verdict = if x.runs < 2 || y.runs < 2 {
                Verdict::SpreadUnknown
            } else if y.min > x.max {
                Verdict::BHigher
            } else if y.max < x.min {
                Verdict::BLower
            } else {
                Verdict::WithinNoise
            };
            (ratio, verdict)
        }
        _ => (None, Verdict::NoData),
    };
    MetricRow {
        metric,
        a: sa,
        b: sb,
        ratio,
        verdict,
    }
}

/// The runs of a `loadgen report`: side A, and side B when `--vs` was given (empty
/// otherwise).
#[derive(Clone, Debug, Default)]
pub struct Comparison {
    /// The positional files.
    pub a: Vec<SavedRun>,
    /// `--vs` files; empty: no comparison, only the table of runs.
    pub b: Vec<SavedRun>,
}

impl Comparison {
    /// Whether there is a side B to compare with.
    pub(crate) fn has_vs(&self) -> bool {
        !self.b.is_empty()
    }

    /// Every run with its side (`"A"`/`"B"`; `None` without `--vs`), A first.
    pub fn runs(&self) -> Vec<(Option<&'static str>, &SavedRun)> {
        let side = |s| self.has_vs().then_some(s);
        self.a
            .iter()
            .map(|r| (side("A"), r))
            .chain(self.b.iter().map(|r| (Some("B"), r)))
            .collect()
    }

    /// One row per metric, A against B; empty without `--vs`.
    pub(crate) fn metrics(&self) -> Vec<MetricRow> {
        if !self.has_vs() {
            return Vec::new();
        }
        let has = |m: Metric| self.a.iter().chain(&self.b).any(|r| m.of(r).is_some());
        Metric::ALL
            .iter()
            .chain(Metric::PHASES.iter().filter(|m| has(**m)))
            .map(|&m| compare_metric(m, &self.a, &self.b))
            .collect()
    }

    /// The human report: the table of runs, and with `--vs` the comparison. Ends with a
    /// newline.
    ///
    /// ```
    /// let c = loadgen::report::Comparison::default();
    /// assert!(c.text().starts_with("run"));
    /// ```
    pub fn text(&self) -> String {
        let mut s = String::new();
        // The table of runs: a header, then one line per run.
        let mut rows: Vec<Vec<String>> = Vec::new();
        let mut head = vec!["run".to_string()];
        if self.has_vs() {
            head.push("side".into());
        }
        head.push("kind".into());
        head.extend(Metric::ALL.iter().map(|m| m.name().to_string()));
        rows.push(head);
        for (side, r) in self.runs() {
            let mut row = vec![r.label.clone()];
            if let Some(side) = side {
                row.push(side.to_string());
            }
            row.push(r.kind.name().to_string());
            row.extend(Metric::ALL.iter().map(|m| m.fmt_opt(m.of(r))));
            rows.push(row);
        }
        let left: &[usize] = if self.has_vs() { &[0, 1, 2] } else { &[0, 1] };
        write_table(&mut s, &rows, left);
        if self
            .runs()
            .iter()
            .any(|(_, r)| r.kind == SavedKind::IntervalLog)
        {
            s.push_str(
                "(hlog: an interval log has no books: its throughput is latencies per second of \
                 the logged span, its errors unknown)\n",
            );
        }
        if !self.has_vs() {
            return s;
        }
        let _ = writeln!(
            s,
            "\nB vs A: {} run{} against {} run{}",
            self.b.len(),
            if self.b.len() == 1 { "" } else { "s" },
            self.a.len(),
            if self.a.len() == 1 { "" } else { "s" },
        );
        let mut rows = vec![vec![
            "metric".to_string(),
            "A median".into(),
            "B median".into(),
            "B/A".into(),
            "verdict".into(),
        ]];
        for m in self.metrics() {
            rows.push(vec![
                m.metric.name().to_string(),
                m.metric.fmt_opt(m.a.map(|x| x.median)),
                m.metric.fmt_opt(m.b.map(|x| x.median)),
                m.ratio
                    .map_or_else(|| "n/a".to_string(), |r| format!("{r:.2}x")),
                m.verdict_text(),
            ]);
        }
        // The verdict is free text: left-aligned, last.
        write_table(&mut s, &rows, &[0, 4]);
        if self
            .metrics()
            .iter()
            .any(|m| m.verdict == Verdict::SpreadUnknown)
        {
            s.push_str(
                "(spread unknown: with one run on a side there is no range to tell a difference \
                 from noise by; run each side at least twice)\n",
            );
        }
        s
    }

    /// The machine-readable report (documented in `docs/loadgen-reports.md`).
    pub fn json(&self) -> Value {
        let num = |v: Option<f64>| v.map_or(Value::Null, |x| json!(x));
        let runs: Vec<Value> = self
            .runs()
            .iter()
            .map(|(side, r)| {
                let mut o = serde_json::Map::new();
                o.insert("file".into(), r.label.clone().into());
                o.insert("side".into(), side.map_or(Value::Null, Value::from));
                o.insert("kind".into(), r.kind.name().into());
                for m in Metric::ALL {
                    o.insert(m.key().into(), num(m.of(r)));
                }
                Value::Object(o)
            })
            .collect();
        let spread = |s: Option<Spread>| {
            s.map_or(
                Value::Null,
                |s| json!({ "runs": s.runs, "median": s.median, "min": s.min, "max": s.max }),
            )
        };
        let comparison = self.has_vs().then(|| {
            self.metrics()
                .iter()
                .map(|m| {
                    json!({
                        "metric": m.metric.key(),
                        "higher_is_better": m.metric.higher_is_better(),
                        "a": spread(m.a),
                        "b": spread(m.b),
                        "ratio": num(m.ratio),
                        "verdict": m.verdict.key(),
                        "b_better": m.b_better(),
                    })
                })
                .collect::<Vec<_>>()
        });
        json!({
            "schema": COMPARE_SCHEMA,
            "version": env!("CARGO_PKG_VERSION"),
            "runs": runs,
            "comparison": comparison,
        })
    }
}

/// `rows` as columns two spaces apart: the columns in `left` left-aligned (text), the
/// rest right-aligned (numbers); no line ends in spaces.
fn write_table(s: &mut String, rows: &[Vec<String>], left: &[usize]) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|v| v.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let mut line = String::new();
        for (c, v) in r.iter().enumerate() {
            if c > 0 {
                line.push_str("  ");
            }
            let w = width[c];
            if left.contains(&c) {
                let _ = write!(line, "{v:<w$}");
            } else {
                let _ = write!(line, "{v:>w$}");
            }
        }
        s.push_str(line.trim_end());
        s.push('\n');
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::report::SavedLatency;

    /// A saved run with throughput `rps`, p99 `p99_us` and `errors`.
    pub(in crate::report) fn run(
        label: &str,
        rps: f64,
        p99_us: f64,
        errors: Option<u64>,
    ) -> SavedRun {
        SavedRun {
            label: label.to_string(),
            kind: if errors.is_some() {
                SavedKind::Json
            } else {
                SavedKind::IntervalLog
            },
            throughput_rps: Some(rps),
            phases: Default::default(),
            latency: SavedLatency {
                p50: Some(p99_us / 4.0),
                p90: Some(p99_us / 2.0),
                p99: Some(p99_us),
                p99_9: Some(p99_us * 2.0),
                p99_99: Some(p99_us * 3.0),
                max: Some(p99_us * 4.0),
            },
            errors,
            histogram: None,
        }
    }

    #[test]
    fn test_spread_median_and_range() {
        let s = Spread::of(&[3.0, 1.0, 2.0]).expect("values");
        assert_eq!((s.runs, s.median, s.min, s.max), (3, 2.0, 1.0, 3.0));
        assert_eq!(Spread::of(&[4.0, 1.0]).expect("values").median, 2.5);
        assert_eq!(Spread::of(&[]), None);
    }

    #[test]
    fn test_overlapping_ranges_are_within_noise() {
        let a = [
            run("a1", 1000.0, 500.0, Some(0)),
            run("a2", 1100.0, 700.0, Some(0)),
        ];
        let b = [
            run("b1", 1050.0, 650.0, Some(0)),
            run("b2", 1200.0, 900.0, Some(0)),
        ];
        let m = compare_metric(Metric::P99, &a, &b);
        assert_eq!(m.verdict, Verdict::WithinNoise);
        assert_eq!(m.b_better(), None);
        assert_eq!(m.a.expect("a").median, 600.0);
        assert_eq!(m.b.expect("b").median, 775.0);
        assert!((m.ratio.expect("ratio") - 775.0 / 600.0).abs() < 1e-12);
        assert_eq!(
            compare_metric(Metric::Throughput, &a, &b).verdict,
            Verdict::WithinNoise
        );
    }

    #[test]
    fn test_disjoint_ranges_are_flagged_with_their_direction() {
        let a = [
            run("a1", 1000.0, 500.0, Some(0)),
            run("a2", 1100.0, 600.0, Some(1)),
        ];
        let b = [
            run("b1", 1500.0, 900.0, Some(5)),
            run("b2", 1600.0, 1000.0, Some(7)),
        ];
        // Latency up: worse.
        let m = compare_metric(Metric::P99, &a, &b);
        assert_eq!(m.verdict, Verdict::BHigher);
        assert_eq!(m.b_better(), Some(false));
        assert_eq!(
            m.verdict_text(),
            "B higher (worse): the ranges do not overlap"
        );
        // Throughput up: better.
        let t = compare_metric(Metric::Throughput, &a, &b);
        assert_eq!((t.verdict, t.b_better()), (Verdict::BHigher, Some(true)));
        // The other way round.
        let m = compare_metric(Metric::P99, &b, &a);
        assert_eq!((m.verdict, m.b_better()), (Verdict::BLower, Some(true)));
        // Touching ranges overlap.
        let c = [
            run("c1", 1100.0, 600.0, Some(0)),
            run("c2", 1200.0, 700.0, Some(0)),
        ];
        assert_eq!(
            compare_metric(Metric::P99, &a, &c).verdict,
            Verdict::WithinNoise
        );
    }

    #[test]
    fn test_single_runs_have_unknown_spread() {
        let a = [run("a", 1000.0, 500.0, Some(0))];
        let b = [run("b", 2000.0, 5000.0, Some(0))];
        let m = compare_metric(Metric::P99, &a, &b);
        assert_eq!(m.verdict, Verdict::SpreadUnknown);
        assert_eq!(m.ratio, Some(10.0));
        assert_eq!(m.verdict_text(), "spread unknown: one run on a side");
        let c = Comparison {
            a: a.to_vec(),
            b: b.to_vec(),
        };
        assert!(c.text().contains("(spread unknown: with one run on a side"));
        // One side with two runs is not enough either.
        let a2 = [
            run("a1", 1000.0, 500.0, Some(0)),
            run("a2", 1000.0, 510.0, Some(0)),
        ];
        assert_eq!(
            compare_metric(Metric::P99, &a2, &b).verdict,
            Verdict::SpreadUnknown
        );
    }

    #[test]
    fn test_missing_values_and_zero_medians() {
        let a = [
            run("a1", 1000.0, 500.0, None),
            run("a2", 1000.0, 500.0, None),
        ];
        let b = [
            run("b1", 1000.0, 500.0, Some(0)),
            run("b2", 1000.0, 500.0, Some(0)),
        ];
        let m = compare_metric(Metric::Errors, &a, &b);
        assert_eq!((m.verdict, m.ratio), (Verdict::NoData, None));
        assert_eq!(m.verdict_text(), "no data");
        // 0 errors on both sides: equal; 0 against some: no ratio.
        let z = compare_metric(Metric::Errors, &b, &b);
        assert_eq!(z.ratio, Some(1.0));
        let some = [
            run("c1", 1000.0, 500.0, Some(3)),
            run("c2", 1000.0, 500.0, Some(4)),
        ];
        let m = compare_metric(Metric::Errors, &b, &some);
        assert_eq!((m.ratio, m.verdict), (None, Verdict::BHigher));
    }

    #[test]
    fn test_text_without_vs_is_one_row_per_run() {
        let c = Comparison {
            a: vec![
                run("one.json", 114_914.0, 773.0, Some(0)),
                run("two.hlog", 98_000.4, 1210.0, None),
            ],
            b: vec![],
        };
        let t = c.text();
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            [
                "run",
                "kind",
                "throughput",
                "p50",
                "p90",
                "p99",
                "p99.9",
                "max",
                "errors"
            ]
        );
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            [
                "one.json",
                "json",
                "114,914/s",
                "193us",
                "386us",
                "773us",
                "1.55ms",
                "3.09ms",
                "0"
            ]
        );
        assert!(
            lines[2].starts_with("two.hlog  hlog") && lines[2].ends_with("n/a"),
            "{t}"
        );
        assert!(t.contains("(hlog: an interval log has no books"));
        assert!(!t.contains("B vs A"));
        assert_eq!(c.json()["comparison"], Value::Null);
    }

    #[test]
    fn test_text_and_json_with_vs() {
        let c = Comparison {
            a: vec![
                run("a1", 1000.0, 500.0, Some(0)),
                run("a2", 1100.0, 600.0, Some(0)),
            ],
            b: vec![
                run("b1", 1050.0, 900.0, Some(0)),
                run("b2", 1090.0, 1000.0, Some(0)),
            ],
        };
        let t = c.text();
        assert!(t.contains("B vs A: 2 runs against 2 runs"), "{t}");
        let row = |name: &str| {
            t.lines()
                .rev()
                .find(|l| l.split_whitespace().next() == Some(name))
                .unwrap_or_else(|| panic!("no row {name} in {t}"))
                .to_string()
        };
        assert!(
            row("p99")
                .ends_with("550us     950us  1.73x  B higher (worse): the ranges do not overlap"),
            "{t}"
        );
        // Medians 1050 and 1070.
        assert!(
            row("throughput").ends_with("1.02x  within noise: the ranges overlap"),
            "{t}"
        );
        // The verdict column is left-aligned under its header.
        let head = t.lines().find(|l| l.starts_with("metric")).expect("header");
        let at = head.find("verdict").expect("verdict column");
        assert_eq!(row("p99").find("B higher"), Some(at), "{t}");
        assert!(!t.contains("(spread unknown"));
        let j = c.json();
        assert_eq!(j["schema"], COMPARE_SCHEMA);
        assert_eq!(j["runs"].as_array().expect("runs").len(), 4);
        assert_eq!(j["runs"][2]["side"], "B");
        assert_eq!(j["runs"][0]["p99_us"], 500.0);
        let p99 = &j["comparison"][3];
        assert_eq!(p99["metric"], "p99_us");
        assert_eq!(p99["verdict"], "b_higher");
        assert_eq!(p99["b_better"], false);
        assert_eq!(
            p99["a"],
            json!({"runs": 2, "median": 550.0, "min": 500.0, "max": 600.0})
        );
        assert_eq!(j["comparison"][0]["verdict"], "within_noise");
        assert_eq!(j["comparison"][0]["b_better"], Value::Null);
    }

    #[test]
    fn test_phases_are_compared_only_when_a_run_has_them() {
        let a = vec![run("a", 100.0, 1000.0, Some(0))];
        let mut b = vec![run("b", 100.0, 1000.0, Some(0))];
        let c = Comparison {
            a: a.clone(),
            b: b.clone(),
        };
        assert!(!c.metrics().iter().any(|r| r.metric == Metric::TtfbP99));
        b[0].phases.ttfb_p99 = Some(900.0);
        let c = Comparison { a, b };
        let rows = c.metrics();
        assert!(rows.iter().any(|r| r.metric == Metric::TtfbP99));
        assert!(!rows.iter().any(|r| r.metric == Metric::TlsP99));
        assert!(c.text().contains("ttfb p99"), "{}", c.text());
    }
}
