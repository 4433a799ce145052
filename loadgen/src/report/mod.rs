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
//! The text, JSON and HTML reports are lists of sections, one function each, of the same
//! names in the three files: `header`, `latency`, `connects`, `statuses`, `mix`,
//! `stages`, `errors`, `books`, `schedule`, `cpu`, `server`, `warnings`, `thresholds`.
//! The text prints them in order; the JSON document is their objects merged; the HTML
//! page gathers the rows of `header`, `books`, `schedule`, `connects` and `cpu` into its
//! summary table and adds `timeline`, `command` and `machine`. A new part of a run (TLS
//! handshakes, UDP loss) is one new section in each format.
//!
//! This file holds what several formats share: the sentences the text, HTML and plot
//! word alike (the pacing, the span measured, an interrupt, a missed rate, censored
//! requests, the books, the throughput, loadgen's CPU), the latency table's rows and
//! cells, the percentile constants (the rows of the latency table, the tick density
//! of `.hgrm` and the plot) and the order of the error table (text and JSON). The number
//! formatting is not here but in [`crate::fmt`], below the reports, since the run's
//! result and its thresholds word their sentences with it too. The format modules are
//! private and their functions re-exported here, so callers name every report
//! `loadgen::report::NAME` whatever file it lives in.

use crate::fmt::{fmt_rate, fmt_secs, fmt_us, plural};
use crate::record::ErrorCount;

/// [`crate::fmt::group`] under the path it had before `fmt.rs`, which the integration
/// tests (`tests/reports.rs`) name.
pub use crate::fmt::group;

mod codec;
mod segments;
pub(crate) use segments::identity_line;
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
pub use compare::{Comparison, Verdict};
pub(crate) use compare::{Metric, Spread};
pub use csv::{write_csv, CSV_HEADER, CSV_TARGET_CONNECTIONS, CSV_TARGET_RPS};
pub use hgrm::parse_hgrm;
pub use hgrm::write_hgrm;
pub use html::{html, write_html, HtmlContext, ThresholdRow};
pub use interval_log::write_interval_log;
pub(crate) use interval_log::{interval_log_header, interval_log_lines, write_intervals};
pub use interval_log::{read_interval_log, LoggedInterval};
pub(crate) use json::hist_json;
pub use json::json;
pub use json::{write_json, JSON_SCHEMA};
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

/// The rows of the latency table (text and HTML): the [`PERCENTILES`] by label, then
/// `max` (no quantile).
fn latency_rows() -> impl Iterator<Item = (&'static str, Option<f64>)> {
    PERCENTILES
        .iter()
        .map(|&(l, q)| (l, Some(q)))
        .chain(std::iter::once(("max", None)))
}

/// The columns of the phases block (text and HTML): a compact p50, p90, p99 and max
/// per phase (`None`: the max).
const PHASE_COLUMNS: [(&str, Option<f64>); 4] = [
    ("p50", Some(0.5)),
    ("p90", Some(0.9)),
    ("p99", Some(0.99)),
    ("max", None),
];

/// One cell of the latency table: the quantile `q` of `h`, its max for `None`, `-` for
/// an empty histogram.
fn latency_cell(h: &hdrhistogram::Histogram<u64>, q: Option<f64>) -> String {
    match (h.is_empty(), q) {
        (true, _) => "-".to_string(),
        (false, Some(q)) => fmt_us(h.value_at_quantile(q) as f64),
        (false, None) => fmt_us(h.max() as f64),
    }
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

/// The connections as the reports give them: `4`, with `--per-conn` `4 (reopened every
/// 100 requests)`.
fn connections_line(r: &crate::result::RunResult) -> String {
    match r.load.per_conn {
        Some(n) => format!("{} ({})", group(r.load.connections as u64), reopened(n)),
        None => group(r.load.connections as u64),
    }
}

/// The measurement's throughput: `500 req/s, 1.00 MB/s received`.
fn throughput_line(r: &crate::result::RunResult) -> String {
    let secs = r.duration.as_secs_f64();
    let mb_s = if secs > 0.0 {
        r.rec.bytes_received_measured as f64 / secs / 1e6
    } else {
        0.0
    };
    format!(
        "{} req/s, {mb_s:.2} MB/s received",
        fmt_rate(r.throughput())
    )
}

/// The books, every request accounted for: `sent 1,010 = completed 1,003 + failed 2 + in
/// flight 5`.
fn books_line(rec: &crate::record::Recorder) -> String {
    format!(
        "sent {} = completed {} + failed {} + in flight {}",
        group(rec.sent),
        group(rec.completed),
        group(rec.failed),
        group(rec.in_flight_end)
    )
}

/// The censored requests and the oldest of them, as the text and HTML reports say it.
fn censored_line(c: &crate::record::Censored) -> String {
    format!(
        "{}, oldest {}: in the corrected latencies at the time they had waited",
        censored_counts(c),
        fmt_us(c.oldest_us as f64)
    )
}

/// loadgen's own CPU: `40.00 us/request (user 0.03 s, sys 0.01 s)`, `n/a` without a
/// response to divide by.
fn cpu_line(r: &crate::result::RunResult) -> String {
    match r.cpu_us_per_request() {
        Some(us) => format!(
            "{us:.2} us/request (user {:.2} s, sys {:.2} s)",
            r.cpu.user_s, r.cpu.sys_s
        ),
        None => format!(
            "n/a us/request, no responses (user {:.2} s, sys {:.2} s)",
            r.cpu.user_s, r.cpu.sys_s
        ),
    }
}

/// How the run was paced, as the reports say it: `closed loop`, `open loop at 500
/// req/s`, or with `--stages` (a changing rate) the mean and the peak of the
/// measurement: `open loop, stages: mean 7,500 req/s, peak 10,000 req/s`.
fn pacing(r: &crate::result::RunResult) -> String {
    match (r.mode(), r.stage_peak_rps()) {
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
            fmt_secs(r.load.warmup)
        ),
        Some(BeforeMeasuring::Connecting) => {
            "nothing measured: interrupted while the connections were being opened, before \
             the warm-up"
                .to_string()
        }
        Some(BeforeMeasuring::Warmup(ran)) => format!(
            "nothing measured: the warm-up was interrupted after {} of its {}",
            fmt_secs(ran),
            fmt_secs(r.load.warmup)
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

/// Errors in a stable order (class, then detail), whatever order the workers merged in.
fn sorted_errors(errors: &[ErrorCount]) -> Vec<ErrorCount> {
    let mut v = errors.to_vec();
    v.sort_by(|a, b| (a.class, &a.detail).cmp(&(b.class, &b.detail)));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

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
        r.load.rate = Some(60_000.0);
        let w = rate_missed(&r).expect("missed");
        assert!(
            w.starts_with("rate missed: 60,000 req/s asked, 500 req/s achieved (1%)"),
            "{w}"
        );
        assert!(w.contains(". Cause: too few connections"), "{w}");
    }
}
