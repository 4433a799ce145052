//! What `loadgen search` prints and writes: a row per step as it finishes, the answer,
//! the JSON document (schema in `docs/loadgen-json.md`, "search") and an SVG plot of
//! the steps (offered rate against the latency the SLO judges, pass and fail marked).
//! Pure functions of [`SearchReport`], tested without sockets.

use super::StepVerdict;
use crate::report::fmt_us;
use serde_json::{json, Value};
use std::fmt::Write as _;

/// Version of the search JSON document.
pub const SEARCH_SCHEMA: u64 = 1;

/// One step as run.
#[derive(Clone, Debug)]
pub struct StepRow {
    /// 1-based.
    pub n: usize,
    /// Probe, bisect or confirm.
    pub stage: &'static str,
    /// Requests per second offered.
    pub offered: f64,
    /// Responses per second measured.
    pub achieved: f64,
    /// Connections the step opened.
    pub connections: usize,
    /// The SLO's thresholds as measured: (expr, measured text, measured value, pass).
    pub thresholds: Vec<(String, String, Option<f64>, bool)>,
    /// Corrected p99, us (`None`: nothing measured).
    pub p99_us: Option<u64>,
    /// Requests that fell due unsent.
    pub unsent: u64,
    /// The generator's p99 send lag, us.
    pub send_lag_p99_us: Option<u64>,
    /// The verdict.
    pub verdict: StepVerdict,
}

/// The whole search.
#[derive(Clone, Debug)]
pub struct SearchReport {
    /// What was targeted.
    pub target: String,
    /// The SLO as written.
    pub slo: String,
    /// Precision asked for (a fraction).
    pub precision: f64,
    /// The steps, in order.
    pub steps: Vec<StepRow>,
    /// The highest rate that passed (and was confirmed, if `confirmed`).
    pub answer: Option<f64>,
    /// Whether the confirming step held (`None`: not run).
    pub confirmed: Option<bool>,
    /// A signal stopped the search (its number).
    pub interrupted: Option<i32>,
}

/// The header of the step table.
pub fn header() -> String {
    format!(
        "{:>4}  {:<7}  {:>12}  {:>12}  {:>6}  {:>9}  {:>8}  verdict",
        "step", "stage", "offered/s", "achieved/s", "conns", "p99", "unsent"
    )
}

/// One row of the step table.
pub fn row(r: &StepRow) -> String {
    format!(
        "{:>4}  {:<7}  {:>12.0}  {:>12.0}  {:>6}  {:>9}  {:>8}  {}",
        r.n,
        r.stage,
        r.offered,
        r.achieved,
        r.connections,
        r.p99_us.map_or("-".into(), |v| fmt_us(v as f64)),
        r.unsent,
        r.verdict.describe()
    )
}

/// The closing lines: the answer and how sure it is.
pub fn summary(s: &SearchReport) -> String {
    let mut out = String::new();
    if let Some(sig) = s.interrupted {
        let _ = writeln!(
            out,
            "INTERRUPTED by {} after {} steps: the answer covers the steps run",
            readyloop::stats::signal_name(sig),
            s.steps.len()
        );
    }
    match (s.answer, s.confirmed) {
        (Some(a), Some(true)) => {
            let _ = writeln!(
                out,
                "answer:  {a:.0} req/s meets '{}' (confirmed by a second run; within {:.0}% of the lowest rate that failed)",
                s.slo,
                s.precision * 100.0
            );
        }
        (Some(a), _) => {
            let _ = writeln!(
                out,
                "answer:  {a:.0} req/s met '{}' (NOT confirmed: the search ran out of steps or was stopped)",
                s.slo
            );
        }
        (None, _) => {
            let _ = writeln!(
                out,
                "answer:  none: no rate tried met '{}' (the lowest was {:.0} req/s)",
                s.slo,
                s.steps
                    .iter()
                    .map(|r| r.offered)
                    .fold(f64::INFINITY, f64::min)
            );
        }
    }
    out
}

/// The JSON document.
pub fn json(s: &SearchReport) -> Value {
    json!({
        "schema": SEARCH_SCHEMA,
        "kind": "search",
        "version": env!("CARGO_PKG_VERSION"),
        "target": s.target,
        "slo": s.slo,
        "precision": s.precision,
        "answer_rps": s.answer,
        "confirmed": s.confirmed,
        "interrupted": s.interrupted,
        "steps": s.steps.iter().map(|r| json!({
            "n": r.n,
            "stage": r.stage,
            "offered_rps": r.offered,
            "achieved_rps": r.achieved,
            "connections": r.connections,
            "p99_us": r.p99_us,
            "unsent": r.unsent,
            "send_lag_p99_us": r.send_lag_p99_us,
            "verdict": r.verdict.kind(),
            "pass": r.verdict.passed(),
            "thresholds": r.thresholds.iter().map(|(e, t, v, p)| json!({
                "expr": e, "measured": v, "measured_text": t, "pass": p,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An SVG plot: offered rate (x) against corrected p99 (y, log scale), a green dot per
/// passing step and a red cross per failing one, the answer as a vertical line.
pub fn svg(s: &SearchReport) -> String {
    let (w, h) = (760.0, 420.0);
    let (l, r, t, b) = (80.0, 20.0, 40.0, 60.0);
    let pts: Vec<(f64, f64, bool)> = s
        .steps
        .iter()
        .filter_map(|st| {
            st.p99_us
                .map(|p| (st.offered, p.max(1) as f64, st.verdict.passed()))
        })
        .collect();
    let xmax = s.steps.iter().map(|st| st.offered).fold(1.0, f64::max) * 1.05;
    let (ymin, ymax) = pts.iter().fold((f64::INFINITY, 1.0f64), |(a, b), p| {
        (a.min(p.1), b.max(p.1))
    });
    let ylo = if ymin.is_finite() {
        ymin.log10().floor()
    } else {
        0.0
    };
    let yhi = (ymax.log10().ceil()).max(ylo + 1.0);
    let x = |v: f64| l + (w - l - r) * v / xmax;
    let y = |v: f64| t + (h - t - b) * (1.0 - (v.log10() - ylo) / (yhi - ylo));
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(o, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = write!(
        o,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">loadgen search: {} ({})</text>"#,
        w / 2.0,
        esc(&s.target),
        esc(&s.slo)
    );
    // Axes and grid: decades of latency, five rate ticks.
    let _ = write!(
        o,
        r#"<line x1="{l}" y1="{}" x2="{}" y2="{}" stroke="black"/><line x1="{l}" y1="{t}" x2="{l}" y2="{}" stroke="black"/>"#,
        h - b,
        w - r,
        h - b,
        h - b
    );
    let mut d = ylo;
    while d <= yhi {
        let v = 10f64.powf(d);
        let _ = write!(
            o,
            r##"<line x1="{l}" y1="{yy}" x2="{}" y2="{yy}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
            w - r,
            l - 6.0,
            y(v) + 4.0,
            fmt_us(v),
            yy = y(v)
        );
        d += 1.0;
    }
    for i in 0..=5 {
        let v = xmax * i as f64 / 5.0;
        let _ = write!(
            o,
            r#"<text x="{}" y="{}" text-anchor="middle">{:.0}</text>"#,
            x(v),
            h - b + 18.0,
            v
        );
    }
    let _ = write!(
        o,
        r#"<text x="{}" y="{}" text-anchor="middle">offered rate (requests/s)</text><text x="18" y="{}" transform="rotate(-90 18 {})" text-anchor="middle">corrected p99 (log)</text>"#,
        (l + w - r) / 2.0,
        h - 18.0,
        (t + h - b) / 2.0,
        (t + h - b) / 2.0
    );
    if let Some(a) = s.answer {
        let _ = write!(
            o,
            r##"<line x1="{xa}" y1="{t}" x2="{xa}" y2="{}" stroke="#2a7" stroke-dasharray="4 3"/><text x="{}" y="{}" fill="#2a7">answer {a:.0}/s</text>"##,
            h - b,
            x(a) + 4.0,
            t + 12.0,
            xa = x(a)
        );
    }
    for &(rate, p99, pass) in &pts {
        let (cx, cy) = (x(rate), y(p99));
        if pass {
            let _ = write!(o, r##"<circle cx="{cx}" cy="{cy}" r="4" fill="#2a7"/>"##);
        } else {
            let _ = write!(
                o,
                r##"<path d="M{} {} L{} {} M{} {} L{} {}" stroke="#c33" stroke-width="2"/>"##,
                cx - 4.0,
                cy - 4.0,
                cx + 4.0,
                cy + 4.0,
                cx - 4.0,
                cy + 4.0,
                cx + 4.0,
                cy - 4.0
            );
        }
    }
    o.push_str("</svg>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> SearchReport {
        let step = |n, offered: f64, p99, verdict| StepRow {
            n,
            stage: "probe",
            offered,
            achieved: offered,
            connections: 20,
            thresholds: vec![(
                "p99<20ms".into(),
                fmt_us(p99 as f64),
                Some(p99 as f64),
                p99 < 20_000,
            )],
            p99_us: Some(p99),
            unsent: 0,
            send_lag_p99_us: Some(20),
            verdict,
        };
        SearchReport {
            target: "127.0.0.1:9 <x>".into(),
            slo: "p99<20ms".into(),
            precision: 0.02,
            steps: vec![
                step(1, 500.0, 1_100, StepVerdict::Pass),
                step(2, 1000.0, 1_300, StepVerdict::Pass),
                step(
                    3,
                    2000.0,
                    900_000,
                    StepVerdict::Slo(vec!["p99<20ms".into()]),
                ),
            ],
            answer: Some(1000.0),
            confirmed: Some(true),
            interrupted: None,
        }
    }

    #[test]
    fn test_rows_summary_and_json() {
        let r = report();
        assert!(header().starts_with("step  stage"));
        let last = row(&r.steps[2]);
        assert!(
            last.contains("2000") && last.ends_with("FAIL p99<20ms"),
            "{last}"
        );
        assert!(summary(&r).starts_with("answer:  1000 req/s meets 'p99<20ms' (confirmed"));
        let j = json(&r);
        assert_eq!(j["answer_rps"], 1000.0);
        assert_eq!(j["steps"].as_array().unwrap().len(), 3);
        assert_eq!(j["steps"][2]["verdict"], "slo");
        assert_eq!(j["steps"][2]["pass"], false);
        assert_eq!(j["steps"][0]["thresholds"][0]["pass"], true);
        let mut none = r.clone();
        none.answer = None;
        assert!(summary(&none).contains("none: no rate tried met"));
    }

    #[test]
    fn test_svg_marks_each_step_and_escapes_text() {
        let s = svg(&report());
        assert!(s.starts_with("<svg") && s.ends_with("</svg>\n"));
        assert_eq!(s.matches("<circle").count(), 2, "two passes");
        assert_eq!(s.matches("stroke=\"#c33\"").count(), 1, "one failure");
        assert!(s.contains("answer 1000/s"));
        assert!(s.contains("&lt;x&gt;") && !s.contains("<x>"));
    }
}
