//! Thresholds (`--slo 'p99<5ms,errors<0.1%,rps>10000'`): parsed once, evaluated on the
//! figures of a run, each with its measured value and a pass or fail, as k6's
//! thresholds. A run with a failed threshold exits 99.
//!
//! Sans-IO: [`Slo::parse`] turns the text into [`Threshold`]s and [`Slo::check`] judges
//! a [`Figures`], which the caller fills from the final result
//! ([`Figures::of`](crate::result::RunResult)) or, with `--abort-on-fail`, from the
//! cumulative per-second data while the run goes on.
//!
//! What each metric means:
//!
//! | metric | value | measured as |
//! |---|---|---|
//! | `p50` `p90` `p99` `p99.9` `p99.99` `max` `mean` (any `pNN.N`) | a duration (`us`, `ms`, `s`) | the **corrected** latency (from the due time); `raw.p99` etc. for the latency from the send |
//! | `errors` | a percentage (`0.1%`) or a fraction (`0.001`) | (failed + unsent + error replies) / requests due after the warm-up; failed includes the timed out; the requests unsent at the run's end (due within its last mean latency, which no server could have answered inside the run) are left out of both |
//! | `non2xx` | a percentage or a fraction | HTTP responses with a status outside 2xx/3xx / responses measured (HTTP only) |
//! | `rps` | a rate (`10000`, `10k`) | responses measured per second |

use hdrhistogram::Histogram;
use readyloop::units::{parse_duration, parse_rate};
use std::fmt;

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Op {
    fn holds(self, measured: f64, limit: f64) -> bool {
        match self {
            Op::Lt => measured < limit,
            Op::Le => measured <= limit,
            Op::Gt => measured > limit,
            Op::Ge => measured >= limit,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// What a threshold measures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Metric {
    /// A latency quantile (0..=1), corrected or raw; 1.0 is the maximum.
    Quantile {
        /// The quantile.
        q: f64,
        /// From the send (`raw.`), not from the due time.
        raw: bool,
    },
    /// The mean latency, corrected or raw.
    Mean {
        /// From the send (`raw.`).
        raw: bool,
    },
    /// The share of requests that failed (a fraction).
    Errors,
    /// The share of HTTP responses outside 2xx/3xx (a fraction).
    Non2xx,
    /// Responses per second.
    Rps,
}

/// One threshold: `metric op limit`, as written.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    /// As the user wrote it (trimmed), for the report.
    pub expr: String,
    /// What it measures.
    pub metric: Metric,
    /// How it compares.
    pub op: Op,
    /// The limit: microseconds for latencies, a fraction for shares, per second for
    /// `rps`.
    pub limit: f64,
}

/// The figures a threshold is judged on.
#[derive(Clone, Debug)]
pub struct Figures<'a> {
    /// Corrected latencies, us.
    pub corrected: &'a Histogram<u64>,
    /// Raw latencies, us.
    pub raw: &'a Histogram<u64>,
    /// Responses measured.
    pub measured: u64,
    /// Requests that failed (timed out included).
    pub failed: u64,
    /// Requests due and never sent.
    pub unsent: u64,
    /// Of `unsent`, those the run's end excuses ([`Censored::at_end`](crate::record::Censored::at_end)):
    /// neither errors nor due.
    pub unsent_at_end: u64,
    /// Requests still in flight (at the end).
    pub unfinished: u64,
    /// Replies that were error replies (RESP `-ERR`): answered, not successful.
    pub error_replies: u64,
    /// HTTP responses outside 2xx/3xx.
    pub non2xx: u64,
    /// The time measured, seconds.
    pub seconds: f64,
}

impl Figures<'_> {
    /// (failed + unsent + error replies) / requests due, the unsent at the run's end
    /// left out of both; 0 when nothing was due.
    pub(crate) fn error_share(&self) -> f64 {
        let unsent = self.unsent.saturating_sub(self.unsent_at_end);
        let due = self.measured + self.failed + unsent + self.unfinished;
        if due == 0 {
            return 0.0;
        }
        (self.failed + unsent + self.error_replies) as f64 / due as f64
    }

    fn value(&self, m: Metric) -> Option<f64> {
        let hist = |raw: bool| if raw { self.raw } else { self.corrected };
        match m {
            Metric::Quantile { q, raw } => {
                let h = hist(raw);
                (!h.is_empty()).then(|| h.value_at_quantile(q) as f64)
            }
            Metric::Mean { raw } => {
                let h = hist(raw);
                (!h.is_empty()).then(|| h.mean())
            }
            Metric::Errors => Some(self.error_share()),
            Metric::Non2xx => {
                (self.measured > 0).then(|| self.non2xx as f64 / self.measured as f64)
            }
            Metric::Rps => Some(if self.seconds > 0.0 {
                self.measured as f64 / self.seconds
            } else {
                0.0
            }),
        }
    }
}

/// A threshold judged: its measured value (`None`: nothing to measure, which fails)
/// and whether it held.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// The threshold.
    pub threshold: Threshold,
    /// The value measured, in the threshold's unit (us, fraction, per second).
    pub measured: Option<f64>,
    /// Whether it held.
    pub pass: bool,
}

impl Verdict {
    /// The measured value for people: `3.21ms`, `0.05%`, `10,412/s`, `n/a`.
    pub(crate) fn measured_text(&self) -> String {
        match self.measured {
            None => "n/a".to_string(),
            Some(v) => fmt_value(self.threshold.metric, v),
        }
    }
}

fn fmt_value(m: Metric, v: f64) -> String {
    match m {
        Metric::Quantile { .. } | Metric::Mean { .. } => crate::fmt::fmt_us(v),
        Metric::Errors | Metric::Non2xx => {
            let pct = v * 100.0;
            if pct != 0.0 && pct < 0.01 {
                format!("{pct:.4}%")
            } else {
                format!("{pct:.2}%")
            }
        }
        Metric::Rps => format!("{}/s", crate::fmt::whole(v)),
    }
}

/// Every threshold of `--slo`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Slo {
    /// In the order given.
    pub thresholds: Vec<Threshold>,
}

impl Slo {
    /// Parse a comma-separated list of `metric op value`.
    ///
    /// ```
    /// use loadgen::slo::Slo;
    /// let slo = Slo::parse("p99<5ms, p99.9 <= 20ms, errors<0.1%, raw.p50<1ms, rps>10k").unwrap();
    /// assert_eq!(slo.thresholds.len(), 5);
    /// assert_eq!(slo.thresholds[0].limit, 5000.0); // microseconds
    /// assert_eq!(slo.thresholds[2].limit, 0.001); // a fraction
    /// assert!(Slo::parse("p99<5").is_err()); // a latency needs its unit
    /// ```
    pub fn parse(text: &str) -> Result<Slo, String> {
        let mut thresholds = Vec::new();
        for part in text.split(',') {
            let part = part.trim();
            if part.is_empty() {
                return Err(format!("--slo '{text}': an empty threshold (two commas?)"));
            }
            thresholds.push(parse_one(part)?);
        }
        Ok(Slo { thresholds })
    }

    /// Whether any threshold measures HTTP statuses.
    pub(crate) fn needs_http(&self) -> bool {
        self.thresholds.iter().any(|t| t.metric == Metric::Non2xx)
    }

    /// Judge every threshold on `f`.
    pub fn check(&self, f: &Figures<'_>) -> Vec<Verdict> {
        self.thresholds
            .iter()
            .map(|t| {
                let measured = f.value(t.metric);
                let pass = measured.is_some_and(|v| t.op.holds(v, t.limit));
                Verdict {
                    threshold: t.clone(),
                    measured,
                    pass,
                }
            })
            .collect()
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expr)
    }
}

fn parse_one(part: &str) -> Result<Threshold, String> {
    let bad = |why: &str| format!("--slo '{part}': {why}");
    let at = part
        .find(['<', '>'])
        .ok_or_else(|| bad("expected METRIC<VALUE or METRIC>VALUE, e.g. p99<5ms"))?;
    let (name, rest) = part.split_at(at);
    let (op, value) = if let Some(v) = rest.strip_prefix("<=") {
        (Op::Le, v)
    } else if let Some(v) = rest.strip_prefix(">=") {
        (Op::Ge, v)
    } else if let Some(v) = rest.strip_prefix('<') {
        (Op::Lt, v)
    } else if let Some(v) = rest.strip_prefix('>') {
        (Op::Gt, v)
    } else {
        return Err(bad("expected < <= > or >="));
    };
    let (name, value) = (name.trim(), value.trim());
    let metric = parse_metric(name).ok_or_else(|| {
        bad(&format!(
            "unknown metric '{name}' (use p50, p99, p99.9, max, mean, raw.p99, errors, non2xx or rps)"
        ))
    })?;
    let limit = match metric {
        Metric::Quantile { .. } | Metric::Mean { .. } => {
            if value.chars().all(|c| c.is_ascii_digit() || c == '.') {
                return Err(bad("a latency needs a unit: us, ms or s (e.g. 5ms)"));
            }
            let d = parse_duration(value).map_err(|e| bad(&e))?;
            d.as_secs_f64() * 1e6
        }
        Metric::Errors | Metric::Non2xx => parse_share(value).ok_or_else(|| {
            bad("a share is a percentage (0.1%) or a fraction from 0 to 1 (0.001)")
        })?,
        Metric::Rps => parse_rate(value).map_err(|e| bad(&e))?,
    };
    Ok(Threshold {
        expr: format!("{name}{}{value}", op.as_str()),
        metric,
        op,
        limit,
    })
}

fn parse_metric(name: &str) -> Option<Metric> {
    let (raw, base) = match name.strip_prefix("raw.") {
        Some(b) => (true, b),
        None => (false, name),
    };
    match base {
        "max" => return Some(Metric::Quantile { q: 1.0, raw }),
        "mean" | "avg" => return Some(Metric::Mean { raw }),
        _ => {}
    }
    if let Some(p) = base.strip_prefix('p') {
        let pct: f64 = p.parse().ok()?;
        if p.chars().all(|c| c.is_ascii_digit() || c == '.') && pct > 0.0 && pct <= 100.0 {
            return Some(Metric::Quantile {
                q: pct / 100.0,
                raw,
            });
        }
        return None;
    }
    if raw {
        return None; // raw. only goes with a latency
    }
    match base {
        "errors" | "error_rate" => Some(Metric::Errors),
        "non2xx" => Some(Metric::Non2xx),
        "rps" => Some(Metric::Rps),
        _ => None,
    }
}

fn parse_share(v: &str) -> Option<f64> {
    let (num, scale) = match v.strip_suffix('%') {
        Some(n) => (n.trim(), 100.0),
        None => (v, 1.0),
    };
    if !num.chars().all(|c| c.is_ascii_digit() || c == '.') || num.is_empty() {
        return None;
    }
    let x: f64 = num.parse().ok()?;
    let share = x / scale;
    (0.0..=1.0).contains(&share).then_some(share)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{new_histogram, record_us};

    fn hist(values: &[(u64, u64)]) -> Histogram<u64> {
        let mut h = new_histogram();
        for &(v, n) in values {
            for _ in 0..n {
                record_us(&mut h, v);
            }
        }
        h
    }

    #[test]
    fn test_parse_every_metric_and_operator() {
        let s = Slo::parse("p99<5ms,p99.9<=20ms,max<1s,mean<2ms,raw.p50>=10us,errors<0.1%,non2xx<1%,rps>10k,errors<=0.5")
            .unwrap();
        let t = &s.thresholds;
        assert_eq!(
            t[0].metric,
            Metric::Quantile {
                q: 0.99,
                raw: false
            }
        );
        assert_eq!((t[0].op, t[0].limit), (Op::Lt, 5000.0));
        assert_eq!(t[1].op, Op::Le);
        assert!((t[1].limit - 20_000.0).abs() < 1e-6);
        assert!(
            matches!(t[1].metric, Metric::Quantile { q, raw: false } if (q - 0.999).abs() < 1e-12)
        );
        assert_eq!(t[2].metric, Metric::Quantile { q: 1.0, raw: false });
        assert_eq!(t[3].metric, Metric::Mean { raw: false });
        assert_eq!(t[4].metric, Metric::Quantile { q: 0.5, raw: true });
        assert_eq!((t[4].op, t[4].limit), (Op::Ge, 10.0));
        assert_eq!((t[5].metric, t[5].limit), (Metric::Errors, 0.001));
        assert_eq!((t[6].metric, t[6].limit), (Metric::Non2xx, 0.01));
        assert_eq!(
            (t[7].metric, t[7].op, t[7].limit),
            (Metric::Rps, Op::Gt, 10_000.0)
        );
        assert_eq!(t[8].limit, 0.5);
        assert!(s.needs_http());
        assert_eq!(t[0].expr, "p99<5ms");
    }

    #[test]
    fn test_parse_refuses_with_the_reason() {
        for (bad, why) in [
            ("p99", "expected METRIC<VALUE"),
            ("p99<5", "needs a unit"),
            ("p101<5ms", "unknown metric"),
            ("latency<5ms", "unknown metric"),
            ("raw.errors<1%", "unknown metric"),
            ("errors<150%", "a share is"),
            ("errors<2", "a share is"),
            ("rps>fast", "invalid number"),
            ("p99<5ms,,rps>1", "empty threshold"),
            ("p99=5ms", "expected METRIC<VALUE"),
            ("p99<5parsecs", "invalid duration"),
        ] {
            let e = Slo::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn test_check_measures_and_judges_each() {
        // 990 at 1 ms, 10 at 50 ms: p99 is 1 ms, p99.9 50 ms.
        let corrected = hist(&[(1000, 990), (50_000, 10)]);
        let raw = hist(&[(800, 1000)]);
        let f = Figures {
            corrected: &corrected,
            raw: &raw,
            measured: 1000,
            failed: 5,
            unsent: 5,
            unsent_at_end: 0,
            unfinished: 0,
            error_replies: 0,
            non2xx: 20,
            seconds: 2.0,
        };
        let slo =
            Slo::parse("p99<2ms,p99.9<20ms,raw.max<1ms,errors<1%,non2xx<1%,rps>=500").unwrap();
        let v = slo.check(&f);
        let pass: Vec<bool> = v.iter().map(|v| v.pass).collect();
        assert_eq!(pass, [true, false, true, true, false, true]);
        assert_eq!(v[1].measured_text(), "50.0ms");
        // 10 of 1,010 due: 0.99%.
        assert_eq!(v[3].measured_text(), "0.99%");
        assert_eq!(v[4].measured_text(), "2.00%");
        assert_eq!(v[5].measured_text(), "500/s");
        // Nothing measured: a latency threshold cannot hold.
        let empty = new_histogram();
        let none = Figures {
            corrected: &empty,
            raw: &empty,
            measured: 0,
            ..f
        };
        let v = Slo::parse("p99<1s").unwrap().check(&none);
        assert!(!v[0].pass);
        assert_eq!(v[0].measured_text(), "n/a");
    }

    #[test]
    fn test_errors_leave_out_the_unsent_at_the_run_s_end() {
        // The issue's run: 200 measured, one request due at the last instant unsent.
        let h = hist(&[(100, 200)]);
        let f = Figures {
            corrected: &h,
            raw: &h,
            measured: 200,
            failed: 0,
            unsent: 1,
            unsent_at_end: 1,
            unfinished: 0,
            error_replies: 0,
            non2xx: 0,
            seconds: 2.0,
        };
        assert_eq!(f.error_share(), 0.0);
        let v = Slo::parse("errors<0.1%").unwrap().check(&f);
        assert!(v[0].pass, "{v:?}");
        // Nothing more is forgiven: an older unsent request is an error, of 201 due.
        let g = Figures { unsent: 2, ..f };
        assert!((g.error_share() - 1.0 / 201.0).abs() < 1e-12);
        assert!(!Slo::parse("errors<0.1%").unwrap().check(&g)[0].pass);
    }
}
