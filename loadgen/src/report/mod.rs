//! Reports over a finished [`RunResult`](crate::result::RunResult): the human summary,
//! the JSON document, the HdrHistogram percentile-distribution text (`.hgrm`), the
//! HdrHistogram interval log, an SVG latency-by-percentile plot and the live progress
//! line.
//!
//! Everything here is a pure function of a `RunResult` (or a histogram) and a writer, so
//! every report is tested without sockets, on results built by hand (the model is oha's
//! `printer.rs`). Histograms hold microseconds (see `record.rs`); each report says which
//! unit it prints.
//!
//! One file per output format, each with its tests beside it:
//!
//! | file | holds |
//! |---|---|
//! | `text.rs` | [`text()`]: the human summary and its latency table |
//! | `json.rs` | [`json()`], [`write_json`], [`JSON_SCHEMA`]: the JSON document |
//! | `hgrm.rs` | [`write_hgrm`], [`parse_hgrm`]: the `.hgrm` percentile distribution |
//! | `interval_log.rs` | [`write_interval_log`], [`read_interval_log`]: the HdrHistogram interval log |
//! | `svg.rs` | [`write_svg`], [`svg_string`]: the latency-by-percentile plot |
//! | `csv.rs` | [`write_csv`]: the per-second intervals as CSV |
//! | `compare.rs` | [`Comparison`]: saved runs side by side, A against B, as text and JSON |
//! | `compare_page.rs` | [`Comparison::svg`], [`Comparison::html`]: the comparison's plot and page |
//! | `codec.rs` | [`encode_histogram`], [`decode_histogram`]: HdrHistogram's compressed-histogram text |
//! | `html.rs` | [`html()`], [`write_html`], [`HtmlContext`]: the self-contained HTML report |
//! | `machine.rs` | [`Machine`]: the facts about this machine the HTML report shows |
//! | `timeline.rs` | throughput and p99 per second, the HTML report's over-time plots |
//! | `progress.rs` | [`progress_line`]: the live progress line |
//! | `saved.rs` | [`read_saved`], [`SavedRun`]: runs read back from JSON reports and interval logs |
//!
//! This file holds what several formats share: the number formatting ([`fmt_us`] and the
//! private helpers for counts, rates and durations), the percentile constants (the rows of
//! the latency table, the tick density of `.hgrm` and the plot) and the order of the error
//! table (text and JSON). The format modules are private and their functions re-exported
//! here, so callers name every report `loadgen::report::NAME` whatever file it lives in.

use crate::record::ErrorCount;
use std::time::Duration;

mod codec;
mod compare;
mod compare_page;
mod csv;
mod hgrm;
mod html;
mod interval_log;
mod json;
mod machine;
mod progress;
mod saved;
mod svg;
mod text;
mod timeline;

#[cfg(test)]
pub(crate) mod fixtures;

pub use codec::{decode_histogram, encode_histogram};
pub use compare::{compare_metric, Comparison, Metric, MetricRow, Spread, Verdict, COMPARE_SCHEMA};
pub use csv::{write_csv, CSV_HEADER, CSV_TARGET_CONNECTIONS, CSV_TARGET_RPS};
pub use hgrm::{parse_hgrm, write_hgrm};
pub use html::{html, write_html, HtmlContext, ThresholdRow};
pub(crate) use interval_log::{interval_log_header, interval_log_lines, write_intervals};
pub use interval_log::{read_interval_log, write_interval_log, LoggedInterval};
pub use json::{json, write_json, JSON_SCHEMA};
pub use machine::Machine;
pub use progress::progress_line;
pub use saved::{read_saved, SavedKind, SavedLatency, SavedRun};
pub(crate) use svg::plot_err;
pub use svg::{svg_string, write_svg, LatencyAxis};
pub use text::text;

/// Ticks per half distance to 100% used for `.hgrm`, plots and HdrHistogram's Java
/// `outputPercentileDistribution` default: 5.
const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// Percentiles of the latency table and of the JSON summaries: (label, quantile).
const PERCENTILES: [(&str, f64); 5] = [
    ("p50", 0.5),
    ("p90", 0.9),
    ("p99", 0.99),
    ("p99.9", 0.999),
    ("p99.99", 0.9999),
];

/// Formats a duration given in microseconds with an adaptive unit (`us`, `ms` or `s`)
/// and three significant digits: `7.00us`, `45.0us`, `812us`, `1.21ms`, `12.3ms`,
/// `2.50s`, `3600s`. Three digits are what a latency report can honestly claim: the
/// histograms keep three significant digits.
///
/// Non-finite input prints as `n/a`; negative input keeps its sign.
pub fn fmt_us(us: f64) -> String {
    if !us.is_finite() {
        return "n/a".to_string();
    }
    if us == 0.0 {
        return "0us".to_string();
    }
    let sign = if us < 0.0 { "-" } else { "" };
    let a = us.abs();
    // Choose the unit on the value *as it will be rounded*, so 999.7 us prints as
    // `1.00ms` and never as `1000us`.
    let (v, unit) = if a < 999.5 {
        (a, "us")
    } else if a < 999_500.0 {
        (a / 1e3, "ms")
    } else {
        (a / 1e6, "s")
    };
    let decimals = if v < 9.995 {
        2
    } else if v < 99.95 {
        1
    } else {
        0
    };
    format!("{sign}{v:.decimals$}{unit}")
}

/// `1234567` -> `1,234,567`: thousands are what people read in request counts.
///
/// ```
/// assert_eq!(loadgen::report::group(1234567), "1,234,567");
/// assert_eq!(loadgen::report::group(999), "999");
/// ```
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `n` and its noun, agreeing, `n` grouped: `1 request`, `0 requests`, `1,024 requests`.
///
/// ```
/// assert_eq!(loadgen::report::plural(1, "reply", "replies"), "1 reply");
/// assert_eq!(loadgen::report::plural(1024, "reply", "replies"), "1,024 replies");
/// ```
pub fn plural(n: u64, one: &str, many: &str) -> String {
    let noun = if n == 1 { one } else { many };
    format!("{} {noun}", group(n))
}

/// `--per-conn N` as the reports say it: `reopened every 100 requests`, and for 1,
/// `reopened after every request`.
fn reopened(per_conn: u64) -> String {
    if per_conn == 1 {
        "reopened after every request".to_string()
    } else {
        format!("reopened every {} requests", group(per_conn))
    }
}

/// A rate in requests per second: grouped whole numbers when large (the fraction is noise
/// there), two decimals when small (a rate of 2.5 req/s must not print as 3).
fn fmt_rate(rps: f64) -> String {
    if !rps.is_finite() || rps < 0.0 {
        "n/a".to_string()
    } else if rps >= 100.0 {
        group(rps.round() as u64)
    } else {
        format!("{rps:.2}")
    }
}

/// Seconds with one decimal, the resolution that matters for durations of a run.
///
/// ```
/// assert_eq!(loadgen::report::fmt_secs(std::time::Duration::from_millis(2500)), "2.5s");
/// ```
pub fn fmt_secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// A `--stages` target as the interval log's comments and the CSV's target column print
/// it: to a tenth, without a trailing `.0` (a mean over a ramp is rarely whole).
///
/// ```
/// assert_eq!(loadgen::report::fmt_target(1000.0), "1000");
/// assert_eq!(loadgen::report::fmt_target(1937.5), "1937.5");
/// assert_eq!(loadgen::report::fmt_target(2.04), "2");
/// ```
pub fn fmt_target(v: f64) -> String {
    let s = format!("{v:.1}");
    match s.strip_suffix(".0") {
        Some(whole) => whole.to_string(),
        None => s,
    }
}

/// A wall-clock time in seconds since the epoch as `2023-11-14 22:13:20 UTC`: UTC, so
/// that a report reads the same wherever it is opened, and no time-zone database is
/// needed. Times before the epoch or not finite print as `n/a`.
fn fmt_unix_utc(unix_s: f64) -> String {
    if !unix_s.is_finite() || unix_s < 0.0 {
        return "n/a".to_string();
    }
    let secs = unix_s.floor() as u64;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Days to a civil date (Howard Hinnant's `civil_from_days`), for days >= 0.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// How the run was paced, as the reports say it: `closed loop`, `open loop at 500
/// req/s`, or with `--stages` (a changing rate) the mean and the peak of the
/// measurement: `open loop, stages: mean 7,500 req/s, peak 10,000 req/s`.
fn pacing(r: &crate::result::RunResult) -> String {
    match (r.mode, r.stage_peak_rps()) {
        (crate::result::Mode::Closed, _) => "closed loop".to_string(),
        (crate::result::Mode::Open { rate }, None) => {
            format!("open loop at {} req/s", fmt_rate(rate))
        }
        (crate::result::Mode::Open { rate }, Some(peak)) => format!(
            "open loop, stages: mean {} req/s, peak {} req/s",
            fmt_rate(rate),
            fmt_rate(peak)
        ),
    }
}

/// What was measured, after what warm-up: `2.0s measured after 1.0s warm-up`; for a run
/// a signal stopped before its measurement, that nothing was and where it stopped:
/// `nothing measured: the warm-up was interrupted after 1.5s of its 30.0s`.
fn measured_span(r: &crate::result::RunResult) -> String {
    use crate::result::BeforeMeasuring;
    match r.stopped_before_measuring() {
        None => format!(
            "{} measured after {} warm-up",
            fmt_secs(r.duration),
            fmt_secs(r.warmup)
        ),
        Some(BeforeMeasuring::Connecting) => {
            "nothing measured: interrupted while the connections were being opened, before \
             the warm-up"
                .to_string()
        }
        Some(BeforeMeasuring::Warmup(ran)) => format!(
            "nothing measured: the warm-up was interrupted after {} of its {}",
            fmt_secs(ran),
            fmt_secs(r.warmup)
        ),
    }
}

/// The interrupt as the reports word it after `INTERRUPTED`: `by SIGINT after 2.0s of
/// the 5.0s asked for: the figures cover what was measured`, or when it came before the
/// measurement, `by SIGINT in the warm-up: nothing was measured`.
fn interrupted_by(r: &crate::result::RunResult, i: crate::result::Interrupted) -> String {
    use crate::result::BeforeMeasuring;
    let by = readyloop::stats::signal_name(i.signal);
    match r.stopped_before_measuring() {
        None => format!(
            "by {by} after {} of the {} asked for: the figures cover what was measured",
            fmt_secs(r.duration),
            fmt_secs(i.planned)
        ),
        Some(BeforeMeasuring::Warmup(_)) => format!("by {by} in the warm-up: nothing was measured"),
        Some(BeforeMeasuring::Connecting) => {
            format!("by {by} while the connections were being opened: nothing was measured")
        }
    }
}

/// Open loop: the one-sentence warning of a run that missed its rate (as the text
/// report words it), with its cause; `None` when the rate was kept or in closed loop.
fn rate_missed(r: &crate::result::RunResult) -> Option<String> {
    let sc = r.schedule().filter(|sc| !sc.kept)?;
    let mut w = format!(
        "rate missed: {} req/s asked, {} req/s achieved ({:.0}%), {} fell due unsent",
        fmt_rate(sc.target_rps),
        fmt_rate(sc.achieved_rps),
        100.0 * sc.achieved_rps / sc.target_rps.max(1e-9),
        plural(sc.unsent, "request", "requests")
    );
    if r.behind_schedule() == Some(true) {
        w.push_str(", the generator fell behind its schedule");
    }
    if let Some(c) = &sc.cause {
        w.push_str(". Cause: ");
        w.push_str(c);
    }
    Some(w)
}

/// With nothing measured, the corrected latencies hold only censored requests (see
/// [`crate::record::Recorder::censored_only`]): the sentence the text and HTML reports
/// print instead of a percentile table, which would read as a measurement beside
/// 0 req/s; `None` when anything was measured.
fn censored_only(rec: &crate::record::Recorder) -> Option<String> {
    if !rec.censored_only() {
        return None;
    }
    Some(format!(
        "no reply was measured: the latencies hold only {} censored requests, at the time \
         they had waited (oldest {}): lower bounds of requests never answered, not a \
         measurement, so no percentiles are shown",
        group(rec.censored.total()),
        fmt_us(rec.censored.oldest_us as f64)
    ))
}

/// Errors in a stable order (class, then detail), whatever order the workers merged in.
/// The censored requests by kind, for the text and HTML reports: `7 (timed out 1,
/// unfinished 2, unsent 4, 1 of them at the run's end, not errors)`.
fn censored_counts(c: &crate::record::Censored) -> String {
    let at_end = if c.at_end > 0 {
        format!(", {} of them at the run's end, not errors", group(c.at_end))
    } else {
        String::new()
    };
    format!(
        "{} (timed out {}, unfinished {}, unsent {}{at_end})",
        group(c.total()),
        group(c.timed_out),
        group(c.unfinished),
        group(c.unsent),
    )
}

fn sorted_errors(errors: &[ErrorCount]) -> Vec<ErrorCount> {
    let mut v = errors.to_vec();
    v.sort_by(|a, b| (a.class, &a.detail).cmp(&(b.class, &b.detail)));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_fmt_us_adapts_units_at_three_significant_digits() {
        assert_eq!(fmt_us(0.0), "0us");
        assert_eq!(fmt_us(7.0), "7.00us");
        assert_eq!(fmt_us(45.0), "45.0us");
        assert_eq!(fmt_us(812.0), "812us");
        assert_eq!(fmt_us(1210.0), "1.21ms");
        assert_eq!(fmt_us(12_345.0), "12.3ms");
        assert_eq!(fmt_us(123_456.0), "123ms");
        assert_eq!(fmt_us(2_500_000.0), "2.50s");
        assert_eq!(fmt_us(3_600_000_000.0), "3600s");
        assert_eq!(fmt_us(-1500.0), "-1.50ms");
        assert_eq!(fmt_us(f64::NAN), "n/a");
    }

    #[test]
    fn test_fmt_us_never_prints_a_thousand_of_a_unit() {
        // Rounding must move to the next unit rather than print 1000us or 1000ms.
        assert_eq!(fmt_us(999.7), "1.00ms");
        assert_eq!(fmt_us(999_600.0), "1.00s");
        assert_eq!(fmt_us(999.4), "999us");
        assert_eq!(fmt_us(9.996), "10.0us");
    }

    #[test]
    fn test_group_and_rate() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(fmt_rate(99.5), "99.50");
        assert_eq!(fmt_rate(10_000.4), "10,000");
    }

    #[test]
    fn test_fmt_unix_utc() {
        assert_eq!(fmt_unix_utc(0.0), "1970-01-01 00:00:00 UTC");
        assert_eq!(fmt_unix_utc(1_700_000_000.9), "2023-11-14 22:13:20 UTC");
        // A leap day, and the last second of a year.
        assert_eq!(fmt_unix_utc(951_782_400.0), "2000-02-29 00:00:00 UTC");
        assert_eq!(fmt_unix_utc(1_735_689_599.0), "2024-12-31 23:59:59 UTC");
        assert_eq!(fmt_unix_utc(-1.0), "n/a");
        assert_eq!(fmt_unix_utc(f64::NAN), "n/a");
    }

    /// Issue 15, item 3: with nothing measured, the latencies hold only censored
    /// requests (at the time they had waited): a table of them read as a measurement
    /// beside 0 req/s. Every format says so; the JSON keeps the histogram.
    #[test]
    fn test_censored_only_latencies_say_so_in_every_format() {
        use crate::record::{Censor, Recorder};
        let mut r = fixtures::closed();
        assert!(!r.rec.censored_only());
        r.rec = Recorder::default();
        r.rec.censor(Censor::Unfinished, 1720, 9);
        assert!(r.rec.censored_only());
        let t = text(&r);
        assert!(
            t.contains(
                "latency:     no reply was measured: the latencies hold only 9 censored requests"
            ),
            "{t}"
        );
        assert!(
            !t.lines().any(|l| l.trim_start().starts_with("p50 ")),
            "no table: {t}"
        );
        let j = json(&r);
        assert_eq!(j["latency_us"]["censored_only"], true);
        assert_eq!(j["latency_us"]["corrected"]["count"], 9, "kept in the JSON");
        let page = html(&r, &HtmlContext::default()).expect("the page");
        assert!(page.contains("no reply was measured"), "{page}");
        assert!(!page.contains("<tr><th>p50</th>"), "no table");
        // A measured reply beside them: a table as ever, no such line.
        r.rec.measured = 1;
        crate::record::record_us(&mut r.rec.corrected, 500);
        assert!(!r.rec.censored_only());
        assert!(!text(&r).contains("no reply was measured"));
        assert_eq!(json(&r)["latency_us"]["censored_only"], false);
    }

    /// Issue 15, item 3: what the server answered instead of a reply is one line in
    /// the text, the HTML (escaped) and the JSON.
    #[test]
    fn test_what_the_server_answered_is_one_line_in_every_format() {
        use crate::answer::Sample;
        let mut r = fixtures::closed();
        assert!(!text(&r).contains("answered:"));
        assert_eq!(json(&r)["answered"], serde_json::Value::Null);
        r.rec.answered = Some(Sample::of(b"<html>\r\n\x16", 0, &[]));
        let t = text(&r);
        let line = t
            .lines()
            .find(|l| l.starts_with("answered:"))
            .expect("a line");
        assert_eq!(
            line,
            r#"answered:    "<html>\r\n\x16" (its first bytes, where --proto http expects a reply): looks like no protocol loadgen knows"#
        );
        let j = json(&r);
        assert_eq!(j["answered"]["looks_like"], "unknown");
        assert_eq!(j["answered"]["sample"], r"<html>\r\n\x16");
        assert_eq!(
            j["answered"]["line"],
            line["answered:".len()..].trim_start()
        );
        let page = html(&r, &HtmlContext::default()).expect("the page");
        assert!(
            page.contains(r#"<p class="warn">answered: &quot;&lt;html&gt;\r\n\x16&quot;"#),
            "{page}"
        );
        // A close before any byte, beside replies that completed: no diagnosis.
        r.rec.answered = Some(Sample::of(b"", 0, &[]));
        assert!(!text(&r).contains("answered:"));
        r.rec.completed = 0;
        assert!(text(&r).contains("answered:    nothing: the server closed the connection"));
    }

    #[test]
    fn test_rate_missed_only_when_missed() {
        let r = fixtures::open();
        assert_eq!(rate_missed(&r), None);
        assert_eq!(rate_missed(&fixtures::closed()), None);
        let mut r = fixtures::open();
        r.mode = crate::result::Mode::Open { rate: 60_000.0 };
        let w = rate_missed(&r).expect("missed");
        assert!(
            w.starts_with("rate missed: 60,000 req/s asked, 500 req/s achieved (1%)"),
            "{w}"
        );
        assert!(w.contains(". Cause: too few connections"), "{w}");
    }
}
