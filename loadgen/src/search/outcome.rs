//! What `loadgen search` prints and writes: a row per step as it finishes, the answer,
//! the JSON document (schema in `docs/loadgen-json.md`, "search") and an SVG plot of
//! the steps (offered rate against corrected p99, with the SLO's limit, the answer, a
//! legend, and pass, fail and generator-behind steps marked apart).
//! Pure functions of [`SearchReport`], tested without sockets.

use super::StepVerdict;
use crate::fmt::{fmt_us, group};
use crate::report::plot_err;
use crate::slo::Metric;
use plotters::coord::combinators::WithKeyPoints;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::io;
use std::ops::Range;

/// Version of the search JSON document.
pub(crate) const SEARCH_SCHEMA: u64 = 1;

/// One step as run.
#[derive(Clone, Debug)]
pub(crate) struct StepRow {
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
pub(crate) struct SearchReport {
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
pub(crate) enum Ended {
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
    pub(crate) fn settled(&self) -> bool {
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

/// The colours of the plot: what passed, what failed, what the generator could not
/// judge, and the SLO's limit.
const PASS: RGBColor = RGBColor(0x22, 0xaa, 0x77);
const FAIL: RGBColor = RGBColor(0xcc, 0x33, 0x33);
const BEHIND: RGBColor = RGBColor(0xee, 0x88, 0x00);
const LIMIT: RGBColor = RGBColor(0xaa, 0x00, 0xaa);

/// The plot's size, pixels; the legend takes the right `LEGEND_W` of it.
const W: u32 = 880;
const H: u32 = 440;
const LEGEND_W: u32 = 230;
/// A dashed line's dash and gap, pixels.
const DASH: (u32, u32) = (6, 4);
/// The size of every text but the title.
const FONT: (&str, u32) = ("sans-serif", 14);

/// The plot's axes and their round ticks.
struct Axes {
    /// The rate axis: 0 to `xmax` in steps of `xstep` (1, 2 or 5 x 10^n).
    xmax: f64,
    xstep: f64,
    /// The latency axis (log, us): decades 10^`ylo` to 10^`yhi`.
    ylo: f64,
    yhi: f64,
}

impl Axes {
    /// Axes that hold `xs` (rates) and `ys` (latencies, us, > 0).
    fn new(xs: impl Iterator<Item = f64>, ys: &[f64]) -> Axes {
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
        Axes {
            xmax: (xdata / xstep).ceil() * xstep,
            xstep,
            ylo,
            yhi: ymax.log10().ceil().max(ylo + 1.0),
        }
    }

    /// The rate ticks: 0 to `xmax` in steps of `xstep`.
    fn xticks(&self) -> Vec<f64> {
        let n = (self.xmax / self.xstep).round() as u64;
        (0..=n).map(|i| self.xstep * i as f64).collect()
    }

    /// The latency axis's ends, us.
    fn ybounds(&self) -> (f64, f64) {
        (10f64.powf(self.ylo), 10f64.powf(self.yhi))
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

/// What a drawing step returns: plotters' errors, boxed.
type Drawn = Result<(), Box<dyn std::error::Error>>;

/// The rate axis: linear, its ticks the round ones of [`Axes::xticks`]. (Plotters'
/// linear axis picks its own ticks, and given fixed ones it has no label formatter.)
struct RateAxis {
    linear: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ranged for RateAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.linear.map(value, limit)
    }

    /// The ticks, for the labels and the grid; no lighter lines between them.
    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.linear.range()
    }
}

/// The plot's chart: rates (linear) against latencies (log), both with round ticks.
type Chart<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<RateAxis, WithKeyPoints<LogCoord<f64>>>>;

/// How a step is marked: a green dot for a pass, a red cross for a failure (SLO or
/// rate missed), a hollow orange diamond for a step the generator could not judge.
#[derive(Clone, Copy, PartialEq)]
enum Mark {
    Pass,
    Fail,
    Behind,
}

impl Mark {
    fn of(verdict: &StepVerdict) -> Mark {
        match verdict {
            StepVerdict::Pass => Mark::Pass,
            StepVerdict::GeneratorBehind => Mark::Behind,
            StepVerdict::Slo(_) | StepVerdict::RateMissed => Mark::Fail,
        }
    }

    /// Its colour, filled for the dot, 2 pixels wide for the cross and the diamond.
    fn style(self) -> ShapeStyle {
        match self {
            Mark::Pass => PASS.filled(),
            Mark::Fail => FAIL.stroke_width(2),
            Mark::Behind => BEHIND.stroke_width(2),
        }
    }
}

/// The dot's radius and the cross's half width, pixels.
const MARK_R: i32 = 4;
/// The diamond around a step, pixels from its centre.
const DIAMOND: [(i32, i32); 5] = [(0, -5), (5, 0), (0, 5), (-5, 0), (0, -5)];

/// A marker per step (`pts`: rate, corrected p99 in us, mark).
fn draw_steps(chart: &mut Chart<'_, '_>, pts: &[(f64, f64, Mark)]) -> Drawn {
    let at = |m: Mark| {
        pts.iter()
            .filter(move |p| p.2 == m)
            .map(|&(x, y, _)| (x, y))
    };
    let (pass, fail, behind) = (Mark::Pass, Mark::Fail, Mark::Behind);
    chart.draw_series(at(pass).map(|c| Circle::new(c, MARK_R, pass.style())))?;
    chart.draw_series(at(fail).map(|c| Cross::new(c, MARK_R, fail.style())))?;
    chart.draw_series(
        at(behind).map(|c| EmptyElement::at(c) + PathElement::new(DIAMOND, behind.style())),
    )?;
    Ok(())
}

/// One marker in the legend, centred at `at` (pixels).
fn draw_mark(area: &DrawingArea<SVGBackend<'_>, Shift>, mark: Mark, at: (i32, i32)) -> Drawn {
    match mark {
        Mark::Pass => area.draw(&Circle::new(at, MARK_R, mark.style()))?,
        Mark::Fail => area.draw(&Cross::new(at, MARK_R, mark.style()))?,
        Mark::Behind => {
            area.draw(&(EmptyElement::at(at) + PathElement::new(DIAMOND, mark.style())))?
        }
    }
    Ok(())
}

/// A dashed line through `points` in `colour`.
fn dashed(chart: &mut Chart<'_, '_>, points: [(f64, f64); 2], colour: RGBColor) -> Drawn {
    let (dash, gap) = DASH;
    chart.draw_series(DashedLineSeries::new(points, dash, gap, colour.into()))?;
    Ok(())
}

/// `text` in `colour`, its top left `offset` pixels from `at`.
fn label(
    chart: &mut Chart<'_, '_>,
    at: (f64, f64),
    offset: (i32, i32),
    text: String,
    colour: RGBColor,
) -> Drawn {
    let font = FONT.into_font().color(&colour);
    chart.draw_series(std::iter::once(
        EmptyElement::at(at) + Text::new(text, offset, font),
    ))?;
    Ok(())
}

/// The SLO's limits and the answer as dashed lines, each labelled: a p99 limit at the
/// left (the low rates there pass, below it), an rps limit at the bottom, the answer
/// at the top.
fn draw_lines(chart: &mut Chart<'_, '_>, axes: &Axes, lim: &Limits, answer: Option<f64>) -> Drawn {
    let (lo, hi) = axes.ybounds();
    for (expr, limit) in &lim.p99 {
        let y = limit.max(1.0);
        dashed(chart, [(0.0, y), (axes.xmax, y)], LIMIT)?;
        label(chart, (0.0, y), (4, -18), format!("SLO {expr}"), LIMIT)?;
    }
    for (expr, limit) in &lim.rps {
        dashed(chart, [(*limit, lo), (*limit, hi)], LIMIT)?;
        label(chart, (*limit, lo), (4, -20), format!("SLO {expr}"), LIMIT)?;
    }
    if let Some(a) = answer {
        dashed(chart, [(a, lo), (a, hi)], PASS)?;
        label(chart, (a, hi), (4, 4), format!("answer {a:.0}/s"), PASS)?;
    }
    Ok(())
}

/// The chart: axes with round ticks, the SLO's limits, the answer and a marker per
/// step (`pts`: rate, corrected p99 in us, verdict).
fn draw_chart(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    axes: &Axes,
    lim: &Limits,
    answer: Option<f64>,
    pts: &[(f64, f64, Mark)],
) -> Drawn {
    let (lo, hi) = axes.ybounds();
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .margin_right(20)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(
            RateAxis {
                linear: (0.0..axes.xmax).into(),
                ticks: axes.xticks(),
            },
            (lo..hi).log_scale().with_key_points(axes.yticks()),
        )?;
    chart
        .configure_mesh()
        .x_desc("offered rate (requests/s)")
        .y_desc("corrected p99 (log)")
        .x_label_formatter(&|v| rate_label(*v))
        .y_label_formatter(&|v| latency_label(*v))
        .label_style(FONT)
        .axis_desc_style(FONT)
        .draw()?;
    draw_lines(&mut chart, axes, lim, answer)?;
    draw_steps(&mut chart, pts)?;
    Ok(())
}

/// The legend, right of the chart: each marker and line, and the SLO's thresholds the
/// plot cannot show (judged in each step all the same).
fn draw_legend(area: &DrawingArea<SVGBackend<'_>, Shift>, not_drawn: &[String]) -> Drawn {
    let text = |s: &str, at: (i32, i32)| {
        let style = TextStyle::from(FONT.into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(s.to_string(), at, style))
    };
    let (x0, mut y) = (12, 24);
    let marks = [
        (Mark::Pass, "pass"),
        (Mark::Fail, "fail (SLO, rate missed)"),
        (Mark::Behind, "generator behind (not judged)"),
    ];
    for (mark, name) in marks {
        draw_mark(area, mark, (x0 + 8, y))?;
        text(name, (x0 + 24, y))?;
        y += 20;
    }
    for (colour, name) in [(PASS, "answer"), (LIMIT, "SLO limit")] {
        let (line, (dash, gap)) = (vec![(x0, y), (x0 + 18, y)], DASH);
        let style = ShapeStyle::from(colour);
        area.draw(&DashedPathElement::new(line, dash, gap, style))?;
        text(name, (x0 + 24, y))?;
        y += 20;
    }
    if !not_drawn.is_empty() {
        text("not drawn (judged in each step):", (x0, y + 8))?;
        for expr in not_drawn {
            y += 18;
            text(expr, (x0 + 8, y + 8))?;
        }
    }
    Ok(())
}

/// The whole plot into `out`: the title, the chart, the legend at the right.
fn draw(s: &SearchReport, out: &mut String) -> Drawn {
    let lim = slo_limits(&s.slo);
    let pts: Vec<(f64, f64, Mark)> = s
        .steps
        .iter()
        .filter_map(|st| {
            st.p99_us
                .map(|p| (st.offered, p.max(1) as f64, Mark::of(&st.verdict)))
        })
        .collect();
    let ys: Vec<f64> = pts
        .iter()
        .map(|p| p.1)
        .chain(lim.p99.iter().map(|(_, v)| v.max(1.0)))
        .collect();
    let rates = s.steps.iter().map(|st| st.offered);
    let axes = Axes::new(rates.chain(lim.rps.iter().map(|(_, v)| *v)), &ys);
    let root = SVGBackend::with_string(out, (W, H)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!("loadgen search: {} ({})", s.target, s.slo);
    let body = root.titled(&title, ("sans-serif", 18))?;
    let (chart, legend) = body.split_horizontally(W - LEGEND_W);
    draw_chart(&chart, &axes, &lim, s.answer, &pts)?;
    draw_legend(&legend, &lim.not_drawn)?;
    root.present()?;
    Ok(())
}

/// An SVG plot, drawn with plotters as the run's plots are: offered rate (x, round
/// ticks) against corrected p99 (y, log, round ticks); a green dot per passing step, a
/// red cross per failing one, a hollow orange diamond per step where the generator
/// fell behind (it judged nothing); the SLO's p99 (and rps) limit and the answer as
/// dashed lines; a legend at the right, which also lists the thresholds the plot
/// cannot show. The error is plotters' (it does not fail, drawing into a String).
pub fn svg(s: &SearchReport) -> io::Result<String> {
    let mut out = String::new();
    draw(s, &mut out).map_err(plot_err)?;
    Ok(out)
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
        let s = svg(&report()).expect("svg");
        assert!(s.starts_with("<svg") && s.ends_with("</svg>\n"));
        assert_eq!(marks(&s, Mark::Pass, true), 2, "two passes");
        assert_eq!(marks(&s, Mark::Fail, true), 1, "one failure");
        assert!(s.contains("answer 1000/s"));
        assert!(s.contains("&lt;x&gt;") && !s.contains("<x>"));
    }

    /// Where the legend starts, pixels from the left.
    const LEGEND_X: f64 = (W - LEGEND_W) as f64;

    /// The value of attribute `name` in the attributes `tag` of an element.
    fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
        let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        tag[at..].split('"').next()
    }

    /// The attributes of every `<NAME ...>` element of `svg`, each led by a space.
    fn elements(svg: &str, name: &str) -> Vec<String> {
        svg.split(&format!("<{name} "))
            .skip(1)
            .filter_map(|t| Some(format!(" {}", t.split_once('>')?.0)))
            .collect()
    }

    /// The texts of `svg`: (x, y, text-anchor, the text as written, escaped).
    fn texts(svg: &str) -> Vec<(f64, f64, String, String)> {
        svg.split("<text ")
            .skip(1)
            .filter_map(|t| {
                let (attrs, rest) = t.split_once(">\n")?;
                let attrs = format!(" {attrs}");
                let num = |n| attr(&attrs, n)?.parse::<f64>().ok();
                Some((
                    num("x")?,
                    num("y")?,
                    attr(&attrs, "text-anchor")?.to_string(),
                    rest.split_once("\n</text>")?.0.to_string(),
                ))
            })
            .collect()
    }

    /// `c` as plotters writes a colour: `#AA00AA`.
    fn hex(c: RGBColor) -> String {
        format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
    }

    /// The points of a polyline's attributes.
    fn points(tag: &str) -> Vec<(f64, f64)> {
        attr(tag, "points")
            .unwrap_or("")
            .split_whitespace()
            .filter_map(|p| {
                let (x, y) = p.split_once(',')?;
                Some((x.parse().ok()?, y.parse().ok()?))
            })
            .collect()
    }

    /// How many markers of `mark` are drawn in the plot (`in_plot`) or in the legend:
    /// filled dots, crosses (two lines each) or closed paths, each in its own colour.
    fn marks(svg: &str, mark: Mark, in_plot: bool) -> usize {
        let side = |x: f64| (x < LEGEND_X) == in_plot;
        let x = |tag: &str, n| attr(tag, n).and_then(|v| v.parse::<f64>().ok());
        match mark {
            Mark::Pass => elements(svg, "circle")
                .iter()
                .filter(|c| attr(c, "fill") == Some(&hex(PASS)))
                .filter(|c| x(c, "cx").is_some_and(side))
                .count(),
            Mark::Fail => {
                let lines = elements(svg, "line");
                let of_fail = lines
                    .iter()
                    .filter(|l| attr(l, "stroke") == Some(&hex(FAIL)));
                of_fail.filter(|l| x(l, "x1").is_some_and(side)).count() / 2
            }
            Mark::Behind => elements(svg, "polyline")
                .iter()
                .filter(|l| attr(l, "stroke") == Some(&hex(BEHIND)))
                .map(|l| points(l))
                .filter(|p| p.len() == 5 && p[0] == p[4] && side(p[0].0))
                .count(),
        }
    }

    /// A tick label's value: `1.5k` -> 1500 (a rate), `20ms` -> 20000 (us).
    fn tick_value(label: &str, units: &[(&str, f64)]) -> Option<f64> {
        units.iter().find_map(|(unit, scale)| {
            let v: f64 = label.strip_suffix(unit)?.parse().ok()?;
            Some(v * scale)
        })
    }

    /// The rate ticks (centred under the x axis) and the latency ticks (right-aligned
    /// left of the y axis) of the plot, by their labels.
    fn ticks(svg: &str) -> (Vec<f64>, Vec<f64>) {
        let rate = [("M", 1e6), ("k", 1e3), ("", 1.0)];
        let latency = [("us", 1.0), ("ms", 1e3), ("s", 1e6)];
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for (px, _, anchor, label) in texts(svg) {
            if px >= LEGEND_X {
                continue;
            }
            match anchor.as_str() {
                "middle" => x.extend(tick_value(&label, &rate)),
                "end" => y.extend(tick_value(&label, &latency)),
                _ => {}
            }
        }
        (x, y)
    }

    /// The y (pixels) of the latency tick labelled `label`.
    fn tick_y(svg: &str, label: &str) -> Option<f64> {
        let t = texts(svg);
        t.into_iter()
            .find(|(_, _, a, l)| a == "end" && l == label)
            .map(|t| t.1)
    }

    /// The horizontal dashed lines of the SLO's colour in the plot: (y, leftmost x,
    /// rightmost x) of their dashes.
    fn slo_line(svg: &str) -> Option<(f64, f64, f64)> {
        let dashes: Vec<Vec<(f64, f64)>> = elements(svg, "polyline")
            .iter()
            .filter(|l| attr(l, "stroke") == Some(&hex(LIMIT)))
            .map(|l| points(l))
            .filter(|p| p.len() >= 2 && p.iter().all(|q| q.1 == p[0].1 && q.0 < LEGEND_X))
            .collect();
        let y = dashes.first()?[0].1;
        let xs = dashes.iter().flatten().filter(|q| q.1 == y).map(|q| q.0);
        let (lo, hi) = xs.fold((f64::INFINITY, 0.0f64), |(a, b), x| (a.min(x), b.max(x)));
        Some((y, lo, hi))
    }

    /// `v` is 1, 2 or 5 x 10^n.
    fn one_two_five(v: f64) -> bool {
        let m = v / 10f64.powf(v.log10().floor());
        [1.0, 2.0, 5.0, 10.0].iter().any(|r| (m - r).abs() < 1e-9)
    }

    /// Issue 15, item 4: the plot draws the SLO's p99 limit, has a legend and round
    /// ticks, and draws a step where the generator fell behind apart from the SLO's
    /// failures (it says nothing about the server). Issue 16, item 6: drawn with
    /// plotters, the same content read from its markup.
    #[test]
    fn test_svg_has_the_slo_line_a_legend_round_ticks_and_behind_steps_apart() {
        let mut r = report();
        let mut behind = r.steps[2].clone();
        behind.n = 4;
        behind.offered = 1700.0;
        behind.p99_us = Some(400_000);
        behind.verdict = StepVerdict::GeneratorBehind;
        r.steps.push(behind);
        r.slo = "p99<20ms,errors<1%".into();
        let s = svg(&r).expect("svg");
        // The SLO's line across the plot, at 20ms on the latency axis, its label just
        // above its left end.
        let (y, left, right) = slo_line(&s).unwrap_or_else(|| panic!("no SLO line: {s}"));
        let at_20ms = tick_y(&s, "20ms").unwrap_or_else(|| panic!("no 20ms tick: {s}"));
        assert!(
            (y - at_20ms).abs() <= 2.0,
            "SLO line at {y}, 20ms at {at_20ms}"
        );
        assert!(right - left > 400.0, "the SLO line spans {left}..{right}");
        let texts = texts(&s);
        let label = texts.iter().find(|t| t.3 == "SLO p99&lt;20ms");
        let (lx, ly, _, _) = label.unwrap_or_else(|| panic!("no SLO label: {s}"));
        assert!(
            *lx < left + 10.0 && *ly < y && *ly > y - 25.0,
            "label at {lx},{ly}"
        );
        // The legend, at the right: every marker and line, and the threshold the plot
        // cannot show.
        let legend: Vec<&str> = texts
            .iter()
            .filter(|t| t.0 >= LEGEND_X)
            .map(|t| t.3.as_str())
            .collect();
        for entry in ["pass", "fail", "generator behind", "answer", "SLO limit"] {
            let found = legend.iter().any(|l| l.starts_with(entry));
            assert!(found, "legend without '{entry}': {legend:?}");
        }
        assert!(legend.contains(&"errors&lt;1%"), "{legend:?}");
        for mark in [Mark::Pass, Mark::Fail, Mark::Behind] {
            assert_eq!(marks(&s, mark, false), 1, "one sample each in the legend");
        }
        // The steps: the failure a cross, the step behind a diamond of its own.
        assert_eq!(marks(&s, Mark::Pass, true), 2, "{s}");
        assert_eq!(marks(&s, Mark::Fail, true), 1, "{s}");
        assert_eq!(marks(&s, Mark::Behind, true), 1, "{s}");
        let (x, y) = ticks(&s);
        assert!(x.len() >= 3, "x ticks {x:?}");
        let step = x[1] - x[0];
        assert!(one_two_five(step), "x step {step}: {x:?}");
        for w in x.windows(2) {
            assert!((w[1] - w[0] - step).abs() < 1e-9, "{x:?}");
        }
        assert!(x.iter().all(|v| (v / step).fract().abs() < 1e-9), "{x:?}");
        assert!(y.len() >= 3, "y ticks {y:?}");
        assert!(y.iter().all(|&v| one_two_five(v)), "y ticks {y:?}");
    }
}
