//! The pictures of a [`Comparison`]: latency by percentile of every saved run, one line
//! each ([`Comparison::svg`]), and the self-contained HTML page of the tables and that
//! plot ([`Comparison::html`]).

use super::html::{escape, page, scale_switch};
use super::svg::{percentile_plot, percentile_series, CaptionLine, PlotLine};
use super::{Comparison, LatencyAxis, Metric, SavedRun};
use crate::fmt::fmt_us;
use std::fmt::Write as _;
use std::io;

/// Side A's lines are blues (solid), side B's oranges and browns (dashed), so the sides
/// read apart at a glance, also to the colour-blind: blue against orange is the pair
/// that protanopes and deuteranopes tell apart best (the palette of Okabe and Ito), and
/// the dashes tell the sides apart without colour. (The old palette, tableau's, had A's
/// green next to B's red and A's grey next to B's brown.) The test holds every A colour
/// at least 40 CIELAB units from every B colour, in normal vision and both. (Red, green,
/// blue.)
const A_COLOURS: [(u8, u8, u8); 5] = [
    (0x00, 0x72, 0xb2),
    (0x56, 0xb4, 0xe9),
    (0x1b, 0x2a, 0x6b),
    (0x00, 0x9e, 0x9e),
    (0x6a, 0x6a, 0xd0),
];
const B_COLOURS: [(u8, u8, u8); 5] = [
    (0xd5, 0x5e, 0x00),
    (0xe6, 0x9f, 0x00),
    (0xa6, 0x36, 0x03),
    (0xf4, 0xa2, 0x59),
    (0x7f, 0x27, 0x04),
];

/// Points `(1/(1-q), ms)` of a saved run: every percentile of its histogram when the
/// file held one, else the five summary percentiles of a JSON report.
fn points(r: &SavedRun) -> Vec<(f64, f64)> {
    if let Some(h) = &r.histogram {
        return percentile_series(h);
    }
    let l = &r.latency;
    [
        (0.5, l.p50),
        (0.9, l.p90),
        (0.99, l.p99),
        (0.999, l.p99_9),
        (0.9999, l.p99_99),
    ]
    .iter()
    .filter_map(|&(q, v)| v.map(|us| (1.0 / (1.0 - q), us / 1000.0)))
    .collect()
}

impl Comparison {
    /// Latency by percentile (corrected) of every run, one line each, as an SVG
    /// document: side A in solid blues, side B in dashed oranges; the legend names each
    /// run and its max. Axes as in [`super::svg_string`].
    pub fn svg(&self, axis: LatencyAxis) -> io::Result<String> {
        let mut lines = Vec::new();
        let mut summary_only = Vec::new();
        for (i, (side, r)) in self.runs().into_iter().enumerate() {
            let b = side == Some("B");
            let colour = if b {
                B_COLOURS[(i - self.a.len()) % B_COLOURS.len()]
            } else {
                A_COLOURS[i % A_COLOURS.len()]
            };
            if r.histogram.is_none() {
                summary_only.push(r.label.as_str());
            }
            let max = r.latency.max.map_or_else(|| "n/a".to_string(), fmt_us);
            lines.push(PlotLine {
                label: match side {
                    Some(s) => format!("{s}: {} (max {max})", r.label),
                    None => format!("{} (max {max})", r.label),
                },
                points: points(r),
                color: colour,
                dashed: b,
            });
        }
        let title = if self.has_vs() {
            format!(
                "A ({} run{}) vs B ({}): corrected latency by percentile",
                self.a.len(),
                if self.a.len() == 1 { "" } else { "s" },
                self.b.len()
            )
        } else {
            "corrected latency by percentile".to_string()
        };
        let mut caption = Vec::new();
        if self.has_vs() {
            caption.push(CaptionLine {
                text:
                    "side A in solid lines of blues, side B in dashed lines of oranges and browns"
                        .to_string(),
                warning: false,
            });
        }
        if !summary_only.is_empty() {
            caption.push(CaptionLine {
                text: format!(
                    "drawn from the five summary percentiles only (no histograms in the file): {}",
                    summary_only.join(", ")
                ),
                warning: false,
            });
        }
        percentile_plot(&title, &caption, &lines, axis)
    }

    /// The comparison as one self-contained HTML page (as the run report: inline CSS and
    /// SVG, no script, nothing fetched): the table of runs, with `--vs` the comparison
    /// table, and the plot with a linear/log switch.
    ///
    /// ```
    /// let page = loadgen::report::Comparison::default().html().unwrap();
    /// assert!(page.contains("<section id=\"runs\">"));
    /// ```
    pub fn html(&self) -> io::Result<String> {
        let mut b = String::new();
        let title = if self.has_vs() {
            format!("loadgen report: {} vs {} runs", self.a.len(), self.b.len())
        } else {
            format!(
                "loadgen report: {}",
                super::plural(self.a.len() as u64, "run", "runs")
            )
        };
        let _ = writeln!(b, "<h1>{}</h1>", escape(&title));
        b.push_str("<section id=\"runs\">\n<h2>Runs</h2>\n<table>\n<tr><th>run</th>");
        if self.has_vs() {
            b.push_str("<th>side</th>");
        }
        b.push_str("<th>kind</th>");
        for m in Metric::ALL {
            let _ = write!(b, "<th class=\"n\">{}</th>", m.name());
        }
        b.push_str("</tr>\n");
        for (side, r) in self.runs() {
            let _ = write!(b, "<tr><td>{}</td>", escape(&r.label));
            if let Some(s) = side {
                let _ = write!(b, "<td>{s}</td>");
            }
            let _ = write!(b, "<td>{}</td>", r.kind.name());
            for m in Metric::ALL {
                let v = m.of(r).map_or_else(|| "n/a".to_string(), |v| m.fmt(v));
                let _ = write!(b, "<td class=\"n\">{}</td>", escape(&v));
            }
            b.push_str("</tr>\n");
        }
        b.push_str("</table>\n</section>\n");
        if self.has_vs() {
            b.push_str(
                "<section id=\"comparison\">\n<h2>B vs A</h2>\n\
                 <p class=\"muted\">Medians of each side. With two or more runs on each side a \
                 difference is flagged only when the two sides' ranges (min to max) do not \
                 overlap.</p>\n<table>\n<tr><th>metric</th><th class=\"n\">A median</th>\
                 <th class=\"n\">B median</th><th class=\"n\">B/A</th><th>verdict</th></tr>\n",
            );
            for m in self.metrics() {
                let class = match m.b_better() {
                    Some(true) => " class=\"pass\"",
                    Some(false) => " class=\"fail\"",
                    None => "",
                };
                let med = |s: Option<super::Spread>| {
                    s.map_or_else(|| "n/a".to_string(), |s| m.metric.fmt(s.median))
                };
                let _ = writeln!(
                    b,
                    "<tr><th>{}</th><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                     <td class=\"n\">{}</td><td{class}>{}</td></tr>",
                    m.metric.name(),
                    escape(&med(m.a)),
                    escape(&med(m.b)),
                    m.ratio
                        .map_or_else(|| "n/a".to_string(), |r| format!("{r:.2}x")),
                    escape(&m.verdict_text())
                );
            }
            b.push_str("</table>\n</section>\n");
        }
        b.push_str("<section id=\"latency\">\n<h2>Latency by percentile</h2>\n");
        b.push_str(&scale_switch(
            "latency-axis",
            &self.svg(LatencyAxis::Linear)?,
            &self.svg(LatencyAxis::Log)?,
        ));
        b.push_str("</section>\n");
        Ok(page(&title, &b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::compare::tests::run;
    use crate::report::fixtures::uniform;
    use crate::report::html::tests::assert_self_contained;

    fn two_sides() -> Comparison {
        let mut with_hist = run("a2<b>.json", 1100.0, 600.0, Some(0));
        with_hist.histogram = Some(uniform(10_000));
        Comparison {
            a: vec![run("a1.json", 1000.0, 500.0, Some(0)), with_hist],
            b: vec![
                run("b1.json", 1500.0, 900.0, Some(2)),
                run("b2.hlog", 1600.0, 1000.0, None),
            ],
        }
    }

    #[test]
    fn test_svg_has_a_line_per_run_named_by_side() {
        let c = two_sides();
        let s = c.svg(LatencyAxis::Linear).expect("svg");
        // Four runs, four lines plus four legend samples.
        assert!(s.matches("<polyline").count() >= 4, "{s}");
        assert!(s.contains("A: a1.json (max 2.00ms)"));
        assert!(s.contains("A: a2&lt;b&gt;.json"), "the label is escaped");
        assert!(s.contains("B: b2.hlog (max 4.00ms)"));
        assert!(s.contains("A (2 runs) vs B (2): corrected latency by percentile"));
        assert!(s.contains(
            "summary percentiles only (no histograms in the file): a1.json, b1.json, b2.hlog"
        ));
        let log = c.svg(LatencyAxis::Log).expect("svg");
        assert!(log.contains("latency (ms, log scale)"));
    }

    /// CIELAB (D65) of an sRGB colour given in linear light.
    fn lab(lin: [f64; 3]) -> [f64; 3] {
        let [r, g, b] = lin.map(|c| c.clamp(0.0, 1.0));
        let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
        let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
        let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
        let f = |t: f64| {
            if t > 0.008856 {
                t.cbrt()
            } else {
                7.787 * t + 16.0 / 116.0
            }
        };
        [
            116.0 * f(y) - 16.0,
            500.0 * (f(x) - f(y)),
            200.0 * (f(y) - f(z)),
        ]
    }

    /// `c` as seen with normal vision, and as protanopes and deuteranopes see it
    /// (Viénot, Brettel and Mollon 1999, in linear sRGB), in CIELAB.
    fn seen(c: (u8, u8, u8)) -> [[f64; 3]; 3] {
        let lin = |v: u8| {
            let v = f64::from(v) / 255.0;
            if v <= 0.04045 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        let l = [lin(c.0), lin(c.1), lin(c.2)];
        let sim = |m: [[f64; 3]; 3]| m.map(|row| row[0] * l[0] + row[1] * l[1] + row[2] * l[2]);
        let protan = [
            [0.11238, 0.88762, 0.0],
            [0.11238, 0.88762, 0.0],
            [0.00401, -0.00401, 1.0],
        ];
        let deutan = [
            [0.29275, 0.70725, 0.0],
            [0.29275, 0.70725, 0.0],
            [-0.02234, 0.02234, 1.0],
        ];
        [lab(l), lab(sim(protan)), lab(sim(deutan))]
    }

    /// Issue 15, item 6h: every colour of side A is far from every colour of side B
    /// (CIE76 difference of 40 or more: the old palette had A's green and B's red 8
    /// apart for a deuteranope, A's grey and B's brown 27 apart for anyone), for normal
    /// vision and the two common colour blindnesses; and B's lines are dashed, so the
    /// sides differ without colour at all.
    #[test]
    fn test_sides_differ_in_colour_for_every_vision_and_b_is_dashed() {
        for a in A_COLOURS {
            for b in B_COLOURS {
                let (sa, sb) = (seen(a), seen(b));
                for (vision, (la, lb)) in ["normal", "protanopia", "deuteranopia"]
                    .iter()
                    .zip(sa.iter().zip(sb.iter()))
                {
                    let d = la
                        .iter()
                        .zip(lb.iter())
                        .map(|(x, y)| (x - y) * (x - y))
                        .sum::<f64>()
                        .sqrt();
                    assert!(d >= 40.0, "A {a:?} and B {b:?}: {d:.1} apart in {vision}");
                }
            }
        }
        let s = two_sides().svg(LatencyAxis::Linear).expect("svg");
        let stroke = |c: (u8, u8, u8)| {
            let needle = format!("stroke=\"#{:02X}{:02X}{:02X}\"", c.0, c.1, c.2);
            s.matches(&needle).count()
        };
        // A: a line and its legend sample each; B: dashes, in the plot and the legend.
        assert_eq!(stroke(A_COLOURS[0]), 2, "A is solid");
        assert!(
            stroke(B_COLOURS[0]) > 10,
            "B is dashed: {}",
            stroke(B_COLOURS[0])
        );
        assert!(s.contains("side B in dashed lines"), "the caption says so");
    }

    #[test]
    fn test_points_from_a_histogram_or_the_summary() {
        let c = two_sides();
        // Five summary percentiles at x = 2, 10, 100, 1000, 10000.
        let p = points(&c.a[0]);
        assert_eq!(
            p.iter().map(|&(x, _)| x.round()).collect::<Vec<_>>(),
            [2.0, 10.0, 100.0, 1000.0, 10000.0]
        );
        assert_eq!(p[2].1, 0.5);
        // A histogram: its whole percentile iteration.
        assert!(points(&c.a[1]).len() > 20);
    }

    #[test]
    fn test_html_has_the_tables_and_the_plots() {
        let page = two_sides().html().expect("html");
        assert_self_contained(&page);
        for id in ["runs", "comparison", "latency"] {
            assert!(
                page.contains(&format!("<section id=\"{id}\">")),
                "no section {id}"
            );
        }
        assert_eq!(page.matches("<svg").count(), 2, "linear and log");
        assert!(page.contains("<td>a2&lt;b&gt;.json</td><td>A</td>"));
        assert!(page.contains("<tr><th>p99</th><td class=\"n\">550us</td><td class=\"n\">950us</td><td class=\"n\">1.73x</td><td class=\"fail\">B higher (worse): the ranges do not overlap</td></tr>"), "{page}");
        assert!(page.contains("<td class=\"pass\">B higher (better)"));
        let alone = Comparison {
            a: two_sides().a,
            b: vec![],
        }
        .html()
        .expect("html");
        assert!(!alone.contains("<section id=\"comparison\">"));
        assert!(alone.contains("<h1>loadgen report: 2 runs</h1>"));
    }
}
