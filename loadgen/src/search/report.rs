//! What `loadgen search` prints and writes: a row per step as it finishes, the answer,
//! the JSON document (schema in `docs/loadgen-json.md`, "search") and an SVG plot of
//! the steps (offered rate against corrected p99, with the SLO's limit, the answer, a
//! legend, and pass, fail and generator-behind steps marked apart).
//! Pure functions of [`SearchReport`], tested without sockets.

use super::StepVerdict;
use crate::fmt::{fmt_us, group};
use crate::slo::Metric;
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
    /// Why it ended: whether its answer is settled, and if not, what to change.
    pub ended: Ended,
}

/// Why a search ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Ended {
    /// It ran its course: an answer confirmed by a second step, or no rate met the SLO
    /// down to the precision.
    Finished,
    /// The generator fell behind its own schedule at `rate`, `times` steps in a row:
    /// it cannot tell what the server does there, so the search stopped.
    GeneratorBehind {
        /// The offered rate, requests/s.
        rate: f64,
        /// Steps in a row.
        times: usize,
        /// The generator's threads (`-t`).
        threads: usize,
    },
    /// `--max-steps` ran out before an answer was confirmed.
    OutOfSteps {
        /// `--max-steps`.
        max_steps: usize,
    },
    /// A signal stopped it.
    Interrupted,
}

impl Ended {
    /// A short word for JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Ended::Finished => "finished",
            Ended::GeneratorBehind { .. } => "generator_behind",
            Ended::OutOfSteps { .. } => "out_of_steps",
            Ended::Interrupted => "interrupted",
        }
    }

    /// Why the search stopped short, in words (empty when it finished).
    fn why(&self) -> String {
        match self {
            Ended::Finished => String::new(),
            Ended::GeneratorBehind { rate, times, .. } => format!(
                "the generator fell behind its own schedule at {} req/s, {times} times in a row, \
                 and cannot tell what the server does there",
                group_f(*rate)
            ),
            Ended::OutOfSteps { max_steps } => {
                format!("the search ran out of steps (--max-steps {max_steps})")
            }
            Ended::Interrupted => "the search was interrupted".into(),
        }
    }

    /// What to change so that the search settles, for a person (`None`: nothing to
    /// change, or run it again).
    fn advice(&self) -> Option<String> {
        match self {
            Ended::Finished | Ended::Interrupted => None,
            Ended::GeneratorBehind { rate, threads, .. } => Some(format!(
                "to settle it: give the generator more threads (-t, it had {threads}) or cores of \
                 its own (not shared with the server), or keep the search below {rate:.0} req/s (--max-rate)"
            )),
            Ended::OutOfSteps { max_steps } => Some(format!(
                "to settle it: allow more steps (--max-steps, it had {max_steps}; a shorter --step keeps \
                 the time down), a coarser --precision, or a --start nearer the answer"
            )),
        }
    }
}

impl SearchReport {
    /// Whether the answer is settled: confirmed by a second step, or no rate met the SLO
    /// down to the precision. Otherwise the search stopped short (exit 3).
    pub fn settled(&self) -> bool {
        self.ended == Ended::Finished && (self.answer.is_none() || self.confirmed == Some(true))
    }
}

/// A rate, rounded and grouped: `24,000` (0 for what is not a finite rate).
fn group_f(v: f64) -> String {
    group(if v.is_finite() {
        v.max(0.0).round() as u64
    } else {
        0
    })
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
        "{:>4}  {:<7}  {:>12}  {:>12}  {:>6}  {:>9}  {:>8}  {}",
        r.n,
        r.stage,
        group_f(r.offered),
        group_f(r.achieved),
        group(r.connections as u64),
        r.p99_us.map_or("-".into(), |v| fmt_us(v as f64)),
        group(r.unsent),
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
    let why = match &s.ended {
        Ended::Finished => "the confirming step did not run".to_string(),
        e => e.why(),
    };
    match s.answer {
        Some(a) if s.settled() => {
            let _ = writeln!(
                out,
                "answer:  {} req/s meets '{}' (confirmed by a second run; within {:.0}% of the lowest rate that failed)",
                group_f(a),
                s.slo,
                s.precision * 100.0
            );
        }
        None if s.settled() => {
            let _ = writeln!(
                out,
                "answer:  none: no rate tried met '{}' (the lowest was {} req/s)",
                s.slo,
                group_f(
                    s.steps
                        .iter()
                        .map(|r| r.offered)
                        .fold(f64::INFINITY, f64::min)
                )
            );
        }
        Some(a) => {
            let _ = writeln!(
                out,
                "answer:  {} req/s met '{}' (NOT confirmed: {why})",
                group_f(a),
                s.slo
            );
        }
        None => {
            let _ = writeln!(
                out,
                "answer:  none yet: no step passed before the search stopped ({why})"
            );
        }
    }
    if let Some(advice) = s.ended.advice().filter(|_| !s.settled()) {
        let _ = writeln!(out, "{advice}");
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
        "ended": s.ended.kind(),
        "settled": s.settled(),
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

/// The colours of the plot: what passed, what failed, what the generator could not
/// judge, and the SLO's limit.
const PASS: &str = "#2a7";
const FAIL: &str = "#c33";
const BEHIND: &str = "#e80";
const LIMIT: &str = "#a0a";

/// The plot's frame: its size, margins, axes and their ticks.
struct Frame {
    w: f64,
    h: f64,
    /// Left, right (the legend's room), top and bottom margins.
    l: f64,
    r: f64,
    t: f64,
    b: f64,
    /// The rate axis: 0 to `xmax` in steps of `xstep` (1, 2 or 5 x 10^n).
    xmax: f64,
    xstep: f64,
    /// The latency axis (log): decades `ylo` to `yhi`.
    ylo: f64,
    yhi: f64,
}

impl Frame {
    /// A frame that holds `xs` (rates) and `ys` (latencies, us, > 0).
    fn new(xs: impl Iterator<Item = f64>, ys: &[f64]) -> Frame {
        let xdata = xs.fold(1.0, f64::max) * 1.05;
        let xstep = round_step(xdata / 5.0);
        let (ymin, ymax) = ys
            .iter()
            .fold((f64::INFINITY, 1.0f64), |(a, b), &v| (a.min(v), b.max(v)));
        let ylo = if ymin.is_finite() {
            ymin.log10().floor()
        } else {
            0.0
        };
        Frame {
            w: 880.0,
            h: 420.0,
            l: 80.0,
            r: 220.0,
            t: 40.0,
            b: 60.0,
            xmax: (xdata / xstep).ceil() * xstep,
            xstep,
            ylo,
            yhi: ymax.log10().ceil().max(ylo + 1.0),
        }
    }

    fn x(&self, v: f64) -> f64 {
        self.l + (self.w - self.l - self.r) * v / self.xmax
    }

    fn y(&self, v: f64) -> f64 {
        self.t + (self.h - self.t - self.b) * (1.0 - (v.log10() - self.ylo) / (self.yhi - self.ylo))
    }

    /// The latency ticks: each decade, and 2 and 5 times it when the axis spans few
    /// decades (else the labels would crowd).
    fn yticks(&self) -> Vec<f64> {
        let mults: &[f64] = if self.yhi - self.ylo <= 3.0 {
            &[1.0, 2.0, 5.0]
        } else {
            &[1.0]
        };
        let mut out = Vec::new();
        let mut d = self.ylo;
        while d <= self.yhi {
            for m in mults {
                let v = m * 10f64.powf(d);
                if v.log10() <= self.yhi + 1e-9 {
                    out.push(v);
                }
            }
            d += 1.0;
        }
        out
    }
}

/// The round step (1, 2 or 5 x 10^n) at least `raw`.
fn round_step(raw: f64) -> f64 {
    let raw = if raw.is_finite() && raw > 0.0 {
        raw
    } else {
        1.0
    };
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|&v| v >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * p)
}

/// `v` rounded to 3 decimals, without trailing zeros: `2`, `1.5`, `0.25`.
fn short(v: f64) -> String {
    format!("{}", (v * 1000.0).round() / 1000.0)
}

/// A rate tick: `500`, `1.5k`, `2M`.
fn rate_label(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", short(v / 1e6))
    } else if v >= 1e3 {
        format!("{}k", short(v / 1e3))
    } else {
        short(v)
    }
}

/// A latency tick: `500us`, `2ms`, `1s`.
fn latency_label(us: f64) -> String {
    if us >= 1e6 {
        format!("{}s", short(us / 1e6))
    } else if us >= 1e3 {
        format!("{}ms", short(us / 1e3))
    } else {
        format!("{}us", short(us))
    }
}

/// The SLO's thresholds as the plot shows them.
#[derive(Default)]
struct Limits {
    /// Corrected p99 limits (expr, us): horizontal lines, the y axis being the
    /// corrected p99.
    p99: Vec<(String, f64)>,
    /// `rps` limits (expr, per second): vertical lines (a passing step achieved its
    /// offered rate).
    rps: Vec<(String, f64)>,
    /// The others (errors, other quantiles, raw latencies), listed as not drawn.
    not_drawn: Vec<String>,
}

/// Sort the SLO's thresholds by where the plot shows them.
fn slo_limits(slo: &str) -> Limits {
    let mut out = Limits::default();
    let Ok(parsed) = crate::slo::Slo::parse(slo) else {
        return out;
    };
    for t in parsed.thresholds {
        match t.metric {
            Metric::Quantile { q, raw: false } if (q - 0.99).abs() < 1e-12 => {
                out.p99.push((t.expr, t.limit))
            }
            Metric::Rps => out.rps.push((t.expr, t.limit)),
            _ => out.not_drawn.push(t.expr),
        }
    }
    out
}

/// The axes, the grid and the round ticks with their labels.
fn draw_axes(o: &mut String, f: &Frame) {
    let (l, t, right, bottom) = (f.l, f.t, f.w - f.r, f.h - f.b);
    let _ = write!(
        o,
        r#"<line x1="{l}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="black"/><line x1="{l}" y1="{t}" x2="{l}" y2="{bottom}" stroke="black"/>"#
    );
    for v in f.yticks() {
        let yy = f.y(v);
        let _ = write!(
            o,
            r##"<line x1="{l}" y1="{yy}" x2="{right}" y2="{yy}" stroke="#ddd"/><text class="ytick" data-v="{v}" x="{}" y="{}" text-anchor="end">{}</text>"##,
            l - 6.0,
            yy + 4.0,
            latency_label(v)
        );
    }
    let n = (f.xmax / f.xstep).round() as u64;
    for i in 0..=n {
        let v = f.xstep * i as f64;
        let _ = write!(
            o,
            r#"<text class="xtick" data-v="{v}" x="{}" y="{}" text-anchor="middle">{}</text>"#,
            f.x(v),
            bottom + 18.0,
            rate_label(v)
        );
    }
    let _ = write!(
        o,
        r#"<text x="{}" y="{}" text-anchor="middle">offered rate (requests/s)</text><text x="18" y="{mid}" transform="rotate(-90 18 {mid})" text-anchor="middle">corrected p99 (log)</text>"#,
        (l + right) / 2.0,
        f.h - 18.0,
        mid = (t + bottom) / 2.0
    );
}

/// The SLO's limits as dashed lines, each labelled with its threshold.
fn draw_limits(o: &mut String, f: &Frame, lim: &Limits) {
    // The p99 label at the left: the low rates there pass, below the line.
    let (l, right, bottom) = (f.l, f.w - f.r, f.h - f.b);
    for (expr, limit) in &lim.p99 {
        let yy = f.y(limit.max(1.0));
        let _ = write!(
            o,
            r#"<line class="slo" x1="{l}" y1="{yy}" x2="{right}" y2="{yy}" stroke="{LIMIT}" stroke-dasharray="6 4"/><text x="{}" y="{}" fill="{LIMIT}">SLO {}</text>"#,
            l + 4.0,
            yy - 4.0,
            esc(expr)
        );
    }
    for (expr, limit) in &lim.rps {
        let xx = f.x(*limit);
        let _ = write!(
            o,
            r#"<line class="slo" x1="{xx}" y1="{}" x2="{xx}" y2="{bottom}" stroke="{LIMIT}" stroke-dasharray="6 4"/><text x="{}" y="{}" fill="{LIMIT}">SLO {}</text>"#,
            f.t,
            xx + 4.0,
            bottom - 6.0,
            esc(expr)
        );
    }
}

/// The marker of one verdict at (`cx`, `cy`): a dot for a pass, a cross for a failure
/// (SLO or rate missed), a hollow diamond for a step the generator could not judge.
fn marker(o: &mut String, verdict: &StepVerdict, cx: f64, cy: f64) {
    let (a, b, c, d) = (cx - 4.0, cy - 4.0, cx + 4.0, cy + 4.0);
    match verdict {
        StepVerdict::Pass => {
            let _ = write!(
                o,
                r#"<circle class="pass" cx="{cx}" cy="{cy}" r="4" fill="{PASS}"/>"#
            );
        }
        StepVerdict::GeneratorBehind => {
            let _ = write!(
                o,
                r#"<path class="behind" d="M{cx} {} L{} {cy} L{cx} {} L{} {cy} Z" fill="none" stroke="{BEHIND}" stroke-width="2"/>"#,
                cy - 5.0,
                cx + 5.0,
                cy + 5.0,
                cx - 5.0
            );
        }
        StepVerdict::Slo(_) | StepVerdict::RateMissed => {
            let _ = write!(
                o,
                r#"<path class="fail" d="M{a} {b} L{c} {d} M{a} {d} L{c} {b}" stroke="{FAIL}" stroke-width="2"/>"#
            );
        }
    }
}

/// The legend, right of the plot: each marker and line, and the thresholds not drawn.
fn draw_legend(o: &mut String, f: &Frame, not_drawn: &[String]) {
    let x0 = f.w - f.r + 16.0;
    let mut y = f.t + 8.0;
    o.push_str(r#"<g class="legend">"#);
    let entries: [(Option<StepVerdict>, &str, &str); 5] = [
        (Some(StepVerdict::Pass), "", "pass"),
        (Some(StepVerdict::RateMissed), "", "fail (SLO, rate missed)"),
        (
            Some(StepVerdict::GeneratorBehind),
            "",
            "generator behind (not judged)",
        ),
        (None, PASS, "answer"),
        (None, LIMIT, "SLO limit"),
    ];
    for (verdict, line, label) in entries {
        match verdict {
            Some(v) => marker(o, &v, x0 + 8.0, y),
            None => {
                let _ = write!(
                    o,
                    r#"<line x1="{x0}" y1="{y}" x2="{}" y2="{y}" stroke="{line}" stroke-dasharray="4 3"/>"#,
                    x0 + 16.0
                );
            }
        }
        let _ = write!(
            o,
            r#"<text x="{}" y="{}" font-size="11">{label}</text>"#,
            x0 + 22.0,
            y + 4.0
        );
        y += 18.0;
    }
    if !not_drawn.is_empty() {
        y += 6.0;
        let _ = write!(
            o,
            r#"<text x="{x0}" y="{y}" font-size="11">not drawn (judged in each step):</text>"#
        );
        for expr in not_drawn {
            y += 15.0;
            let _ = write!(
                o,
                r#"<text x="{}" y="{y}" font-size="11">{}</text>"#,
                x0 + 8.0,
                esc(expr)
            );
        }
    }
    o.push_str("</g>");
}

/// An SVG plot: offered rate (x, round ticks) against corrected p99 (y, log, round
/// ticks); a green dot per passing step, a red cross per failing one, a hollow orange
/// diamond per step where the generator fell behind (it judged nothing); the SLO's
/// p99 (and rps) limit and the answer as dashed lines; a legend at the right.
pub fn svg(s: &SearchReport) -> String {
    let lim = slo_limits(&s.slo);
    let pts: Vec<(f64, f64, &StepVerdict)> = s
        .steps
        .iter()
        .filter_map(|st| {
            st.p99_us
                .map(|p| (st.offered, p.max(1) as f64, &st.verdict))
        })
        .collect();
    let ys: Vec<f64> = pts
        .iter()
        .map(|p| p.1)
        .chain(lim.p99.iter().map(|(_, v)| v.max(1.0)))
        .collect();
    let f = Frame::new(
        s.steps
            .iter()
            .map(|st| st.offered)
            .chain(lim.rps.iter().map(|(_, v)| *v)),
        &ys,
    );
    let (w, h) = (f.w, f.h);
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
    draw_axes(&mut o, &f);
    draw_limits(&mut o, &f, &lim);
    if let Some(a) = s.answer {
        let xa = f.x(a);
        let _ = write!(
            o,
            r#"<line x1="{xa}" y1="{}" x2="{xa}" y2="{}" stroke="{PASS}" stroke-dasharray="4 3"/><text x="{}" y="{}" fill="{PASS}">answer {a:.0}/s</text>"#,
            f.t,
            h - f.b,
            xa + 4.0,
            f.t + 12.0
        );
    }
    o.push_str(r#"<g class="steps">"#);
    for &(rate, p, verdict) in &pts {
        marker(&mut o, verdict, f.x(rate), f.y(p));
    }
    o.push_str("</g>");
    draw_legend(&mut o, &f, &lim.not_drawn);
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
            ended: Ended::Finished,
        }
    }

    #[test]
    fn test_rows_summary_and_json() {
        let r = report();
        assert!(header().starts_with("step  stage"));
        let last = row(&r.steps[2]);
        assert!(
            last.contains("2,000") && last.ends_with("FAIL p99<20ms"),
            "{last}"
        );
        assert!(summary(&r).starts_with("answer:  1,000 req/s meets 'p99<20ms' (confirmed"));
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
    fn test_an_unsettled_search_says_why_and_what_to_change() {
        let mut r = report();
        assert!(r.settled());
        r.confirmed = None;
        r.ended = Ended::GeneratorBehind {
            rate: 2000.0,
            times: 3,
            threads: 2,
        };
        assert!(!r.settled());
        let t = summary(&r);
        assert!(
            t.contains("NOT confirmed: the generator fell behind"),
            "{t}"
        );
        assert!(
            t.contains("-t, it had 2") && t.contains("--max-rate"),
            "{t}"
        );
        assert_eq!(json(&r)["ended"], "generator_behind");
        assert_eq!(json(&r)["settled"], false);
        r.ended = Ended::OutOfSteps { max_steps: 8 };
        let t = summary(&r);
        assert!(t.contains("--max-steps, it had 8"), "{t}");
        // Stopped short with nothing passed yet: no answer, not "no rate met".
        r.answer = None;
        let t = summary(&r);
        assert!(
            t.contains("none yet") && !t.contains("no rate tried met"),
            "{t}"
        );
        // Ran its course with nothing passed: settled, the SLO's failure (exit 99).
        r.ended = Ended::Finished;
        assert!(r.settled() && summary(&r).contains("no rate tried met"));
    }

    #[test]
    fn test_svg_marks_each_step_and_escapes_text() {
        let s = svg(&report());
        assert!(s.starts_with("<svg") && s.ends_with("</svg>\n"));
        let steps = steps_of(&s);
        assert_eq!(steps.matches("class=\"pass\"").count(), 2, "two passes");
        assert_eq!(steps.matches("class=\"fail\"").count(), 1, "one failure");
        assert!(s.contains("answer 1000/s"));
        assert!(s.contains("&lt;x&gt;") && !s.contains("<x>"));
    }

    /// The step markers of a plot (its legend left out).
    fn steps_of(svg: &str) -> &str {
        let after = svg.split("<g class=\"steps\">").nth(1).unwrap_or("");
        after.split("</g>").next().unwrap_or("")
    }

    /// The `data-v` values of the `<text class="CLASS" ...>` tick labels of `svg`.
    fn ticks(svg: &str, class: &str) -> Vec<f64> {
        svg.split(&format!("<text class=\"{class}\" data-v=\""))
            .skip(1)
            .filter_map(|t| t.split('"').next()?.parse().ok())
            .collect()
    }

    /// `v` is 1, 2 or 5 x 10^n.
    fn one_two_five(v: f64) -> bool {
        let m = v / 10f64.powf(v.log10().floor());
        [1.0, 2.0, 5.0, 10.0].iter().any(|r| (m - r).abs() < 1e-9)
    }

    /// Issue 15, item 4: the plot draws the SLO's p99 limit, has a legend and round
    /// ticks, and draws a step where the generator fell behind apart from the SLO's
    /// failures (it says nothing about the server).
    #[test]
    fn test_svg_has_the_slo_line_a_legend_round_ticks_and_behind_steps_apart() {
        let mut r = report();
        let mut behind = r.steps[2].clone();
        behind.n = 4;
        behind.offered = 1700.0;
        behind.p99_us = Some(400_000);
        behind.verdict = StepVerdict::GeneratorBehind;
        r.steps.push(behind);
        let s = svg(&r);
        assert!(s.contains("SLO p99&lt;20ms"), "{s}");
        let legend = s.split("<g class=\"legend\"").nth(1).unwrap_or("");
        for entry in ["pass", "fail", "generator behind", "answer"] {
            assert!(legend.contains(entry), "legend without '{entry}': {s}");
        }
        let steps = steps_of(&s);
        assert_eq!(steps.matches("class=\"fail\"").count(), 1, "{s}");
        assert_eq!(steps.matches("class=\"behind\"").count(), 1, "{s}");
        let x = ticks(&s, "xtick");
        assert!(x.len() >= 3, "x ticks {x:?}");
        let step = x[1] - x[0];
        assert!(one_two_five(step), "x step {step}: {x:?}");
        for w in x.windows(2) {
            assert!((w[1] - w[0] - step).abs() < 1e-9, "{x:?}");
        }
        assert!(x.iter().all(|v| (v / step).fract().abs() < 1e-9), "{x:?}");
        let y = ticks(&s, "ytick");
        assert!(y.len() >= 3, "y ticks {y:?}");
        assert!(y.iter().all(|&v| one_two_five(v)), "y ticks {y:?}");
    }
}
