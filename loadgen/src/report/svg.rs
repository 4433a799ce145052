//! The SVG plot of latency by percentile ([`write_svg`]), drawn with plotters the way
//! HdrHistogram's plotter draws `.hgrm` files.
//!
//! It plots the same percentile iteration as the `.hgrm` output (see
//! `TICKS_PER_HALF_DISTANCE` in `mod.rs`), so the picture and the text agree.

use super::{fmt_rate, fmt_us, TICKS_PER_HALF_DISTANCE};
use crate::result::{Mode, RunResult};
use hdrhistogram::Histogram;
use plotters::prelude::*;
use std::io;
use std::path::Path;

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
fn percentile_series(h: &Histogram<u64>) -> Vec<(f64, f64)> {
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

/// One line of the plot: legend label, points `(1/(1-q), ms)`, colour.
type PlotLine = (String, Vec<(f64, f64)>, RGBColor);

fn plot_err<E: std::fmt::Display>(e: E) -> io::Error {
    io::Error::other(format!("svg plot: {e}"))
}

/// Draws latency by percentile as an 800x500 SVG at `path`, the way HdrHistogram's
/// plotter does: x is `1/(1-p)` on a log scale (labelled `0%`, `90%`, `99%`, ...), y is
/// latency in milliseconds. Open loop draws corrected and raw, closed loop one line. A run
/// without responses gets an empty chart saying "no data".
pub fn write_svg(r: &RunResult, path: &Path) -> io::Result<()> {
    let open = matches!(r.mode, Mode::Open { .. });
    let mut series: Vec<PlotLine> = Vec::new();
    let label = |name: &str, h: &Histogram<u64>| format!("{name} (max {})", fmt_us(h.max() as f64));
    if open {
        series.push((
            label("corrected (from schedule)", &r.rec.corrected),
            percentile_series(&r.rec.corrected),
            RGBColor(0xd6, 0x27, 0x28),
        ));
        series.push((
            label("raw (from send)", &r.rec.raw),
            percentile_series(&r.rec.raw),
            RGBColor(0x1f, 0x77, 0xb4),
        ));
    } else {
        series.push((
            label("latency", &r.rec.corrected),
            percentile_series(&r.rec.corrected),
            RGBColor(0x1f, 0x77, 0xb4),
        ));
    }
    series.retain(|(_, pts, _)| !pts.is_empty());

    // x reaches the next power of ten above the deepest plotted percentile (at least
    // 99%, at most 99.99999%), so the tail is never cut off and never lost in blank space.
    let max_x = series
        .iter()
        .flat_map(|(_, p, _)| p.iter().map(|&(x, _)| x))
        .fold(1.0f64, f64::max);
    let decades = (max_x.log10().ceil() as i32).clamp(2, 7);
    let x_end = 10f64.powi(decades);
    let ticks: Vec<f64> = (0..=decades).map(|k| 10f64.powi(k)).collect();
    let max_y = series
        .iter()
        .flat_map(|(_, p, _)| p.iter().map(|&(_, y)| y))
        .fold(0.0f64, f64::max);
    let y_end = if max_y > 0.0 { max_y * 1.1 } else { 1.0 };

    let pacing = match r.mode {
        Mode::Closed => format!("closed loop, {} connections", r.connections),
        Mode::Open { rate } => format!("{} req/s, {} connections", fmt_rate(rate), r.connections),
    };
    let title = format!("{} - {pacing}", r.target);

    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    // y is linear, as in HdrHistogram's plotter: the log x axis already spreads the tail
    // out, and a linear y keeps a 10x tail looking 10x worse. A log y would flatten
    // exactly the gap between corrected and raw that this plot exists to show.
    let mut chart = ChartBuilder::on(&root)
        .caption(&title, ("sans-serif", 18))
        .margin(15)
        // Room for the last x label, which is centred on the right edge.
        .margin_right(35)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(
            (1f64..x_end).log_scale().with_key_points(ticks),
            0f64..y_end,
        )
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .x_label_formatter(&|x| percentile_label(*x))
        .draw()
        .map_err(plot_err)?;

    if series.is_empty() {
        let (w, h) = root.dim_in_pixel();
        root.draw(&Text::new(
            "no data",
            (w as i32 / 2 - 30, h as i32 / 2),
            ("sans-serif", 24).into_font(),
        ))
        .map_err(plot_err)?;
    } else {
        for (name, pts, color) in series {
            chart
                .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                .map_err(plot_err)?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(plot_err)?;
    }
    root.present().map_err(plot_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Recorder;
    use crate::report::fixtures::{closed, open, temp_path};

    #[test]
    fn test_percentile_labels() {
        let labels: Vec<String> = (0..6).map(|k| percentile_label(10f64.powi(k))).collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]);
    }

    #[test]
    fn test_svg_open_loop_has_both_lines_and_legend() {
        let path = temp_path("open.svg");
        write_svg(&open(), &path).expect("svg written");
        let s = std::fs::read_to_string(&path).expect("read back");
        let _ = std::fs::remove_file(&path);
        assert!(s.contains("<svg"));
        assert!(s.contains("corrected (from schedule) (max 50.0ms)"));
        assert!(s.contains("raw (from send) (max 4.00ms)"));
        assert!(s.contains("99.9%"));
        assert!(s.contains("http://127.0.0.1:7878/ - 500 req/s, 4 connections"));
        // Two data lines plus two legend samples.
        assert!(s.matches("<polyline").count() >= 2, "{s}");
    }

    #[test]
    fn test_svg_closed_loop_has_one_line() {
        let path = temp_path("closed.svg");
        write_svg(&closed(), &path).expect("svg written");
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
        let path = temp_path("empty.svg");
        write_svg(&r, &path).expect("svg written");
        let s = std::fs::read_to_string(&path).expect("read back");
        let _ = std::fs::remove_file(&path);
        assert!(s.contains("<svg"));
        assert!(s.contains("no data"));
    }

    #[test]
    fn test_svg_reports_unwritable_path_as_io_error() {
        let path = temp_path("no-such-dir").join("x.svg");
        assert!(write_svg(&open(), &path).is_err());
    }
}
