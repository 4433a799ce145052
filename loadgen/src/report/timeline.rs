//! The run over time, from the per-second intervals: throughput and p99 per second, as
//! SVG documents in Strings for the HTML report.
//!
//! Each interval is one point at its middle, so a run cut short (a last interval under a
//! second) still lands where it happened; the points are marked, because a two-second run
//! has only two.

use super::svg::plot_err;
use crate::fmt::group;
use crate::result::RunResult;
use plotters::prelude::*;
use std::io;

/// Size of each over-time chart, pixels.
const W: u32 = 800;
const H: u32 = 280;

/// One over-time chart: `points` (seconds, value) under `title`, y described by
/// `y_desc`, its ticks labelled by `y_label`. No points draws the axes and "no data".
fn time_chart(
    title: &str,
    y_desc: &str,
    points: &[(f64, f64)],
    color: RGBColor,
    y_label: &dyn Fn(&f64) -> String,
) -> io::Result<String> {
    let x_end = points
        .iter()
        .map(|&(x, _)| x)
        .fold(0.0f64, f64::max)
        .ceil()
        .max(1.0);
    let max_y = points.iter().map(|&(_, y)| y).fold(0.0f64, f64::max);
    let y_end = if max_y > 0.0 { max_y * 1.15 } else { 1.0 };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .margin_right(30)
            .x_label_area_size(36)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..x_end, 0f64..y_end)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("seconds since the start of measurement")
            .y_desc(y_desc)
            .y_label_formatter(y_label)
            .draw()
            .map_err(plot_err)?;
        if points.is_empty() {
            root.draw(&Text::new(
                "no data",
                (W as i32 / 2 - 30, H as i32 / 2),
                ("sans-serif", 22).into_font(),
            ))
            .map_err(plot_err)?;
        } else {
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(plot_err)?;
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// The middle of each interval, seconds from the start of measurement.
fn middle(iv: &crate::result::Interval) -> f64 {
    (iv.start + iv.length / 2).as_secs_f64()
}

/// Latencies per second of each interval: responses completed in it plus the requests
/// censored in it (the count of its corrected histogram).
pub(super) fn throughput_points(r: &RunResult) -> Vec<(f64, f64)> {
    r.intervals
        .iter()
        .filter(|iv| !iv.length.is_zero())
        .map(|iv| {
            (
                middle(iv),
                iv.corrected.len() as f64 / iv.length.as_secs_f64(),
            )
        })
        .collect()
}

/// The corrected p99 of each interval with any latency, in milliseconds.
pub(super) fn p99_points(r: &RunResult) -> Vec<(f64, f64)> {
    r.intervals
        .iter()
        .filter(|iv| !iv.corrected.is_empty())
        .map(|iv| {
            (
                middle(iv),
                iv.corrected.histogram().value_at_quantile(0.99) as f64 / 1000.0,
            )
        })
        .collect()
}

/// Throughput per second over the run, as an SVG document.
pub(super) fn throughput_svg(r: &RunResult) -> io::Result<String> {
    time_chart(
        "throughput per second",
        "requests/s",
        &throughput_points(r),
        RGBColor(0x1f, 0x77, 0xb4),
        // Whole requests, grouped: `20,000`, not `20000.0`.
        &|v: &f64| group(v.round().max(0.0) as u64),
    )
}

/// The corrected p99 latency per second over the run, as an SVG document.
pub(super) fn p99_svg(r: &RunResult) -> io::Result<String> {
    time_chart(
        "p99 latency per second (corrected)",
        "p99 (ms)",
        &p99_points(r),
        RGBColor(0xd6, 0x27, 0x28),
        // Sums of float steps: `0.6000000000000001` is labelled `0.6`.
        &|v: &f64| super::svg::ms_label(*v),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::open;

    #[test]
    fn test_p99_chart_ticks_are_short() {
        let label = super::super::svg::ms_label;
        assert_eq!(label(0.6000000000000001), "0.6");
        assert_eq!(label(1.0), "1");
        assert_eq!(label(0.0), "0");
        assert_eq!(label(2.5), "2.5");
        // p99s of 0.23 and 1.2 ms: an axis in steps of 0.2, whose fourth tick was
        // drawn as "0.6000000000000001".
        let mut r = open();
        let hist = crate::report::fixtures::hist;
        r.intervals[0].corrected = crate::intervals::Compact::new(&hist(&[(230, 10)]));
        r.intervals[1].corrected = crate::intervals::Compact::new(&hist(&[(1200, 10)]));
        let svg = p99_svg(&r).expect("svg");
        assert!(!svg.contains("00000000"), "a long float in a tick label");
    }

    #[test]
    fn test_points_are_per_interval_at_its_middle() {
        let r = open();
        // 540 and 451 latencies in the two one-second intervals.
        assert_eq!(throughput_points(&r), vec![(0.5, 540.0), (1.5, 451.0)]);
        // p99 of both seconds: 2 ms.
        assert_eq!(p99_points(&r), vec![(0.5, 2.0), (1.5, 2.0)]);
    }

    #[test]
    fn test_charts_mark_every_point_and_say_no_data_without_intervals() {
        let r = open();
        let s = throughput_svg(&r).expect("svg");
        assert!(s.starts_with("<svg"));
        assert!(s.contains("throughput per second"));
        assert_eq!(s.matches("<circle").count(), 2, "{s}");
        let p = p99_svg(&r).expect("svg");
        assert!(p.contains("p99 (ms)"));
        let mut empty = open();
        empty.intervals.clear();
        let s = throughput_svg(&empty).expect("svg");
        assert!(s.contains("no data"));
        assert_eq!(s.matches("<circle").count(), 0);
    }
}
