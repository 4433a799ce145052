//! The SVG plot of latency by percentile ([`write_svg`], [`svg_string`]), drawn with
//! plotters the way HdrHistogram's plotter draws `.hgrm` files, and the drawing it shares
//! with the comparison of saved runs (several lines, one per run).
//!
//! It plots the same percentile iteration as the `.hgrm` output (see
//! `TICKS_PER_HALF_DISTANCE` in `mod.rs`), so the picture and the text agree.

use super::{interrupted_by, measured_span, rate_missed, TICKS_PER_HALF_DISTANCE};
use crate::fmt::{fmt_rate, fmt_unix_utc, fmt_us, plural};
use crate::result::{Mode, RunResult};
use hdrhistogram::Histogram;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use std::io;
use std::path::Path;

/// How the latency axis (y) of a percentile plot is scaled. The percentile axis (x) is
/// always HdrHistogram's log scale of `1/(1-p)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LatencyAxis {
    /// Linear milliseconds, as HdrHistogram's plotter and wrk2's users expect: a tail 10x
    /// the median looks 10x higher.
    #[default]
    Linear,
    /// Log milliseconds: a fast median stays readable beside a tail orders of
    /// magnitude above it (`--plot-log`).
    Log,
}

/// `1/(1-q)` → axis label: 1 → `0%`, 10 → `90%`, 100 → `99%`, 1000 → `99.9%`, ...
fn percentile_label(x: f64) -> String {
    if x <= 1.0 {
        return "0%".to_string();
    }
    let pct = 100.0 - 100.0 / x;
    let decimals = (x.log10().round() as i64 - 2).max(0) as usize;
    format!("{pct:.decimals$}%")
}

/// Plot points `(1/(1-q), value in ms)` of `h`, from the same iteration as `.hgrm`, without
/// the q = 1.0 row whose x would be infinite (HdrHistogram's plotter drops it too; the
/// max goes in the legend instead).
pub(super) fn percentile_series(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    h.iter_quantiles(TICKS_PER_HALF_DISTANCE)
        .filter(|v| v.quantile_iterated_to() < 1.0)
        .map(|v| {
            (
                1.0 / (1.0 - v.quantile_iterated_to()),
                v.value_iterated_to() as f64 / 1000.0,
            )
        })
        .collect()
}

/// One line of a percentile plot: legend label, points `(1/(1-q), ms)`, colour (red,
/// green, blue: the callers need no plotters type), and whether it is dashed (a
/// comparison's side B, told apart from A without colour too).
pub(super) struct PlotLine {
    pub(super) label: String,
    pub(super) points: Vec<(f64, f64)>,
    pub(super) color: (u8, u8, u8),
    pub(super) dashed: bool,
}

/// A dashed line's dash and gap, pixels.
const DASH: (u32, u32) = (8, 5);

/// One line of text under a plot; warnings are drawn in red.
pub(super) struct CaptionLine {
    pub(super) text: String,
    pub(super) warning: bool,
}

/// A plotters error as an I/O error, for every plot (the search's too).
pub(crate) fn plot_err<E: std::fmt::Display>(e: E) -> io::Error {
    io::Error::other(format!("svg plot: {e}"))
}

/// Width of every plot, pixels; the height of the chart itself is [`CHART_H`], and each
/// caption line adds [`CAPTION_LINE_H`] below it.
const PLOT_W: u32 = 800;
const CHART_H: u32 = 500;
const CAPTION_LINE_H: u32 = 18;
/// Characters of caption per line before it wraps (14 px sans-serif, about 6.5 px a
/// character, in the 770 px beside the margin).
const CAPTION_CHARS: usize = 115;

/// Splits `text` into lines of at most `width` characters at spaces (a longer word
/// stays whole on its own line).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

/// A latency-axis tick label in milliseconds with at most three significant digits and
/// no trailing zeros: `0.01`, `0.5`, `2`, `100`.
pub(super) fn ms_label(v: f64) -> String {
    if v <= 0.0 || !v.is_finite() {
        return "0".to_string();
    }
    let decimals = (2 - v.log10().floor() as i64).clamp(0, 6) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The log latency axis: whole decades around the data, with 2 and 5 between them
/// when there are few decades (so a narrow range still has labels).
fn log_axis(lines: &[&PlotLine]) -> (f64, f64, Vec<f64>) {
    let ys = lines.iter().flat_map(|l| l.points.iter().map(|&(_, y)| y));
    let (lo, hi) = ys
        .filter(|y| *y > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), y| {
            (lo.min(y), hi.max(y))
        });
    if !lo.is_finite() {
        return (0.001, 1.0, vec![0.001, 0.01, 0.1, 1.0]);
    }
    let d_lo = lo.log10().floor() as i32;
    let d_hi = ((hi * 1.05).log10().ceil() as i32).max(d_lo + 1);
    let few = d_hi - d_lo <= 3;
    let mut ticks = Vec::new();
    for d in d_lo..=d_hi {
        let base = 10f64.powi(d);
        ticks.push(base);
        if few && d < d_hi {
            ticks.push(2.0 * base);
            ticks.push(5.0 * base);
        }
    }
    (10f64.powi(d_lo), 10f64.powi(d_hi), ticks)
}

/// Draws latency-by-percentile `lines` under `title`, with `caption` lines below the
/// chart, as an SVG document in a String. No lines (or only empty ones) draw an empty
/// chart saying "no data".
pub(super) fn percentile_plot(
    title: &str,
    caption: &[CaptionLine],
    lines: &[PlotLine],
    axis: LatencyAxis,
) -> io::Result<String> {
    let lines: Vec<&PlotLine> = lines.iter().filter(|l| !l.points.is_empty()).collect();
    let mut wrapped: Vec<(String, bool)> = Vec::new();
    for c in caption {
        for l in wrap(&c.text, CAPTION_CHARS) {
            wrapped.push((l, c.warning));
        }
    }
    let height =
        CHART_H + CAPTION_LINE_H * wrapped.len() as u32 + 8 * u32::from(!wrapped.is_empty());
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (PLOT_W, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let (top, bottom) = root.split_vertically(CHART_H);
        draw_chart(&top, title, &lines, axis)?;
        for (i, (text, warning)) in wrapped.iter().enumerate() {
            let color = if *warning {
                RGBColor(0xb0, 0x00, 0x00)
            } else {
                RGBColor(0x33, 0x33, 0x33)
            };
            bottom
                .draw(&Text::new(
                    text.as_str(),
                    (15, (i as u32 * CAPTION_LINE_H) as i32),
                    ("sans-serif", 14).into_font().color(&color),
                ))
                .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// The chart's frame: title, margins, label areas.
fn frame<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &'b str,
) -> ChartBuilder<'a, 'b, DB> {
    let mut b = ChartBuilder::on(area);
    b.caption(title, ("sans-serif", 18))
        .margin(15)
        // Room for the last x label, which is centred on the right edge.
        .margin_right(35)
        .x_label_area_size(40)
        .y_label_area_size(60);
    b
}

fn draw_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    lines: &[&PlotLine],
    axis: LatencyAxis,
) -> io::Result<()>
where
    DB::ErrorType: 'static,
{
    // x reaches the next power of ten above the deepest plotted percentile (at least
    // 99%, at most 99.99999%), so the tail is never cut off and never lost in blank space.
    let max_x = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|&(x, _)| x))
        .fold(1.0f64, f64::max);
    let decades = (max_x.log10().ceil() as i32).clamp(2, 7);
    let x_end = 10f64.powi(decades);
    let x_ticks: Vec<f64> = (0..=decades).map(|k| 10f64.powi(k)).collect();
    let x_range = (1f64..x_end).log_scale().with_key_points(x_ticks);

    // Linear by default, as in HdrHistogram's plotter: the log x axis already spreads the
    // tail out, and a linear y keeps a 10x tail looking 10x worse; a log y would flatten
    // exactly the gap between corrected and raw that this plot exists to show. The log y
    // is for runs whose median would otherwise be a line on the floor.
    match axis {
        LatencyAxis::Linear => {
            let max_y = lines
                .iter()
                .flat_map(|l| l.points.iter().map(|&(_, y)| y))
                .fold(0.0f64, f64::max);
            let y_end = if max_y > 0.0 { max_y * 1.1 } else { 1.0 };
            let mut chart = frame(area, title)
                .build_cartesian_2d(x_range, 0f64..y_end)
                .map_err(plot_err)?;
            chart
                .configure_mesh()
                .x_desc("percentile")
                .y_desc("latency (ms)")
                .x_label_formatter(&|x| percentile_label(*x))
                .draw()
                .map_err(plot_err)?;
            draw_lines(&mut chart, lines)?;
        }
        LatencyAxis::Log => {
            let (lo, hi, ticks) = log_axis(lines);
            let mut chart = frame(area, title)
                .build_cartesian_2d(x_range, (lo..hi).log_scale().with_key_points(ticks))
                .map_err(plot_err)?;
            chart
                .configure_mesh()
                .x_desc("percentile")
                .y_desc("latency (ms, log scale)")
                .x_label_formatter(&|x| percentile_label(*x))
                .y_label_formatter(&|y| ms_label(*y))
                .draw()
                .map_err(plot_err)?;
            draw_lines(&mut chart, lines)?;
        }
    }
    if lines.is_empty() {
        let (w, h) = area.dim_in_pixel();
        area.draw(&Text::new(
            "no data",
            (w as i32 / 2 - 30, h as i32 / 2),
            ("sans-serif", 24).into_font(),
        ))
        .map_err(plot_err)?;
    }
    Ok(())
}

/// The lines and their legend, on either latency axis.
fn draw_lines<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    lines: &[&PlotLine],
) -> io::Result<()>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    if lines.is_empty() {
        return Ok(());
    }
    for l in lines {
        let (r, g, b) = l.color;
        let style = RGBColor(r, g, b).stroke_width(2);
        let points = l.points.iter().copied();
        let drawn = if l.dashed {
            let (dash, gap) = DASH;
            chart.draw_series(DashedLineSeries::new(points, dash, gap, style))
        } else {
            chart.draw_series(LineSeries::new(points, style))
        };
        // The legend's sample: 20 pixels of the line, dashed as it is.
        let anno = drawn.map_err(plot_err)?.label(l.label.as_str());
        if l.dashed {
            let (dash, gap) = DASH;
            anno.legend(move |(x, y)| {
                DashedPathElement::new(vec![(x, y), (x + 20, y)], dash, gap, style)
            });
        } else {
            anno.legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(plot_err)
}

/// The caption under a run's plot: how long, how many, when, and a missed rate.
fn run_caption(r: &RunResult) -> Vec<CaptionLine> {
    let when = r
        .started_unix_s
        .map(|t| format!(", started {}", fmt_unix_utc(t)))
        .unwrap_or_default();
    let mut caption = vec![CaptionLine {
        text: format!(
            "{}, {} recorded (corrected){when}",
            measured_span(r),
            plural(r.rec.corrected.len(), "latency", "latencies"),
        ),
        warning: false,
    }];
    if let Some(w) = rate_missed(r) {
        caption.push(CaptionLine {
            text: format!("WARNING: {w}"),
            warning: true,
        });
    }
    if let Some(i) = r.interrupted {
        caption.push(CaptionLine {
            text: format!("INTERRUPTED {}", interrupted_by(r, i)),
            warning: true,
        });
    }
    caption
}

/// Latency by percentile of `r` as an 800-pixel-wide SVG document, the way HdrHistogram's
/// plotter draws it: x is `1/(1-p)` on a log scale (labelled `0%`, `90%`, `99%`, ...), y
/// is latency in milliseconds, linear or log (`axis`). Open loop draws corrected and
/// raw, closed loop one line. Under the chart: the measured time, the count, the start
/// date (UTC) and, when the rate was missed, a warning. A run without responses gets an
/// empty chart saying "no data".
///
/// ```
/// # use loadgen::report::{svg_string, LatencyAxis};
/// # fn check(r: &loadgen::result::RunResult) -> std::io::Result<()> {
/// let svg = svg_string(r, LatencyAxis::Log)?;
/// assert!(svg.starts_with("<svg"));
/// # Ok(()) }
/// ```
pub fn svg_string(r: &RunResult, axis: LatencyAxis) -> io::Result<String> {
    let open = matches!(r.mode(), Mode::Open { .. });
    let label = |name: &str, h: &Histogram<u64>| format!("{name} (max {})", fmt_us(h.max() as f64));
    let lines = if open {
        vec![
            PlotLine {
                label: label("corrected (from schedule)", &r.rec.corrected),
                points: percentile_series(&r.rec.corrected),
                color: (0xd6, 0x27, 0x28),
                dashed: false,
            },
            PlotLine {
                label: label("raw (from send)", &r.rec.raw),
                points: percentile_series(&r.rec.raw),
                color: (0x1f, 0x77, 0xb4),
                dashed: false,
            },
        ]
    } else {
        vec![PlotLine {
            label: label("latency", &r.rec.corrected),
            points: percentile_series(&r.rec.corrected),
            color: (0x1f, 0x77, 0xb4),
            dashed: false,
        }]
    };
    let connections = plural(r.load.connections as u64, "connection", "connections");
    let pacing = match (r.mode(), r.stage_peak_rps()) {
        (Mode::Closed, _) => format!("closed loop, {connections}"),
        (Mode::Open { rate }, None) => format!("{} req/s, {connections}", fmt_rate(rate)),
        (Mode::Open { rate }, Some(peak)) => format!(
            "stages: mean {} req/s, peak {} req/s, {connections}",
            fmt_rate(rate),
            fmt_rate(peak)
        ),
    };
    let title = format!("{} - {pacing}", r.target);
    percentile_plot(&title, &run_caption(r), &lines, axis)
}

/// Writes [`svg_string`] to `path`.
pub fn write_svg(r: &RunResult, path: &Path, axis: LatencyAxis) -> io::Result<()> {
    std::fs::write(path, svg_string(r, axis)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Recorder;
    use crate::report::fixtures::{closed, hist, open, temp_path};

    #[test]
    fn test_percentile_labels() {
        let labels: Vec<String> = (0..6).map(|k| percentile_label(10f64.powi(k))).collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]);
    }

    #[test]
    fn test_ms_labels_have_no_float_noise() {
        let labels: Vec<String> = [10f64.powi(-2), 0.05, 0.2, 1.0, 2.0, 10.0, 1000.0]
            .iter()
            .map(|&v| ms_label(v))
            .collect();
        assert_eq!(labels, ["0.01", "0.05", "0.2", "1", "2", "10", "1000"]);
    }

    #[test]
    fn test_wrap_keeps_words_whole() {
        assert_eq!(wrap("aa bb cc dd", 5), ["aa bb", "cc dd"]);
        assert_eq!(wrap("abcdefgh x", 4), ["abcdefgh", "x"]);
        assert!(wrap("", 4).is_empty());
    }

    #[test]
    fn test_svg_open_loop_has_both_lines_and_legend() {
        let path = temp_path("open.svg");
        write_svg(&open(), &path, LatencyAxis::Linear).expect("svg written");
        let s = std::fs::read_to_string(&path).expect("read back");
        let _ = std::fs::remove_file(&path);
        assert!(s.contains("<svg"));
        assert!(s.contains("corrected (from schedule) (max 50.0ms)"));
        assert!(s.contains("raw (from send) (max 4.00ms)"));
        assert!(s.contains("99.9%"));
        assert!(s.contains("http://127.0.0.1:7878/ - 500 req/s, 4 connections"));
        assert!(
            s.contains("latency (ms)<") || s.contains("latency (ms)\n"),
            "{s}"
        );
        assert!(!s.contains("log scale"));
        // Two data lines plus two legend samples.
        assert!(s.matches("<polyline").count() >= 2, "{s}");
    }

    #[test]
    fn test_svg_caption_has_duration_count_and_date() {
        let s = svg_string(&open(), LatencyAxis::Linear).expect("svg");
        // The fixture started at 1,700,000,000 s: 2023-11-14 22:13:20 UTC.
        assert!(
            s.contains("2.0s measured after 1.0s warm-up, 1,000 latencies recorded (corrected), started 2023-11-14 22:13:20 UTC"),
            "{s}"
        );
        assert!(!s.contains("WARNING"), "the fixture kept its rate");
    }

    #[test]
    fn test_svg_caption_warns_when_the_rate_was_missed() {
        let mut r = open();
        r.rec.send_lag = hist(&[(5000, 100)]);
        let s = svg_string(&r, LatencyAxis::Linear).expect("svg");
        assert!(s.contains("WARNING: rate missed: 500 req/s asked"), "{s}");
        // In red, and the chart grew to hold the caption lines.
        assert!(s.contains("fill=\"#B00000\""), "{s}");
        let plain = svg_string(&open(), LatencyAxis::Linear).expect("svg");
        let height = |s: &str| -> u32 {
            let i = s.find("height=\"").expect("height") + 8;
            s[i..]
                .split('"')
                .next()
                .expect("value")
                .parse()
                .expect("number")
        };
        assert!(
            height(&s) > height(&plain),
            "{} vs {}",
            height(&s),
            height(&plain)
        );
    }

    #[test]
    fn test_svg_log_axis_labels_decades() {
        let s = svg_string(&open(), LatencyAxis::Log).expect("svg");
        assert!(s.contains("latency (ms, log scale)"), "{s}");
        // Raw starts at 0.8 ms and corrected reaches 10 ms before its max: the axis
        // spans 0.1 .. 100 ms, with 2 and 5 between the decades.
        for tick in ["0.1", "0.2", "0.5", "1", "2", "10", "100"] {
            assert!(
                s.contains(&format!(">\n{tick}\n<")),
                "no tick {tick} in {s}"
            );
        }
        assert!(!s.contains(">\n0.01\n<"), "no decade below the data");
        assert!(s.matches("<polyline").count() >= 2, "{s}");
    }

    #[test]
    fn test_svg_closed_loop_has_one_line() {
        let path = temp_path("closed.svg");
        write_svg(&closed(), &path, LatencyAxis::Linear).expect("svg written");
        let s = std::fs::read_to_string(&path).expect("read back");
        let _ = std::fs::remove_file(&path);
        assert!(s.contains("latency (max 50.0ms)"));
        assert!(!s.contains("raw (from send)"));
        assert!(s.contains("closed loop, 4 connections"));
    }

    #[test]
    fn test_svg_without_data_says_so() {
        let mut r = open();
        r.rec = Recorder::default();
        for axis in [LatencyAxis::Linear, LatencyAxis::Log] {
            let s = svg_string(&r, axis).expect("svg");
            assert!(s.contains("<svg"));
            assert!(s.contains("no data"), "{axis:?}");
        }
    }

    #[test]
    fn test_svg_reports_unwritable_path_as_io_error() {
        let path = temp_path("no-such-dir").join("x.svg");
        assert!(write_svg(&open(), &path, LatencyAxis::Linear).is_err());
    }
}
