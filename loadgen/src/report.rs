//! Reports over a finished [`RunResult`]: the human summary, the JSON document, the
//! HdrHistogram percentile-distribution text (`.hgrm`), the HdrHistogram interval log,
//! an SVG latency-by-percentile plot and the live progress line.
//!
//! Everything here is a pure function of a `RunResult` (or a histogram) and a writer, so
//! every report is tested without sockets, on results built by hand (the model is oha's
//! `printer.rs`). Histograms hold microseconds (see `record.rs`); each report says which
//! unit it prints.

use crate::record::ErrorCount;
use crate::result::{Mode, RunResult};
use hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;
use plotters::prelude::*;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

/// Version of the JSON schema written by [`json()`]; bumped only when a field is removed
/// or changes meaning (new fields may appear without a bump).
pub const JSON_SCHEMA: u64 = 1;

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

// ------------------------------------------------------------------------------------
// Formatting helpers
// ------------------------------------------------------------------------------------

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
fn group(n: u64) -> String {
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
fn fmt_secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// The live progress line printed while a run is going, e.g.
/// `[ 3.0s/10.0s]   142,311 req/s  p99 1.21ms  errors 0`.
///
/// `rps` is the recent throughput, `p99_us` the recent corrected p99 in microseconds
/// (`None` before any response), `errors` the running error total. The fields have fixed
/// widths up to 9,999,999 req/s so the line can be redrawn in place with `\r`.
pub fn progress_line(
    elapsed: Duration,
    total: Duration,
    rps: f64,
    p99_us: Option<u64>,
    errors: u64,
) -> String {
    let p99 = match p99_us {
        Some(v) => fmt_us(v as f64),
        None => "-".to_string(),
    };
    format!(
        "[{:>4.1}s/{:.1}s]  {:>9} req/s  p99 {:>7}  errors {}",
        elapsed.as_secs_f64(),
        total.as_secs_f64(),
        fmt_rate(rps),
        p99,
        group(errors)
    )
}

// ------------------------------------------------------------------------------------
// Text summary
// ------------------------------------------------------------------------------------

/// The human summary of a run, wrk-like but more honest: both latency measures in open
/// loop, the books (every request accounted for), whether the generator kept its own
/// schedule and what it cost in CPU. Ends with a newline.
pub fn text(r: &RunResult) -> String {
    let mut s = String::new();
    // Writing into a String cannot fail; the Result only exists because of fmt::Write.
    let _ = write_text(r, &mut s);
    s
}

fn write_text(r: &RunResult, s: &mut String) -> std::fmt::Result {
    let rec = &r.rec;
    let embedded = if r.embedded {
        " (embedded readyloop server)"
    } else {
        ""
    };
    writeln!(s, "target:      {}{embedded}", r.target)?;
    writeln!(s, "proto:       {}", r.proto)?;
    match r.mode {
        Mode::Closed => writeln!(s, "mode:        closed loop")?,
        Mode::Open { rate } => writeln!(s, "mode:        open loop at {} req/s", fmt_rate(rate))?,
    }
    match r.per_conn {
        Some(n) => writeln!(
            s,
            "connections: {} (reopened every {} requests)",
            r.connections,
            group(n)
        )?,
        None => writeln!(s, "connections: {}", r.connections)?,
    }
    writeln!(s, "threads:     {}", r.threads)?;
    writeln!(
        s,
        "duration:    {} measured after {} warm-up (discarded)",
        fmt_secs(r.duration),
        fmt_secs(r.warmup)
    )?;
    let secs = r.duration.as_secs_f64();
    let mb_s = if secs > 0.0 {
        rec.bytes_received_measured as f64 / secs / 1e6
    } else {
        0.0
    };
    writeln!(
        s,
        "throughput:  {} req/s, {mb_s:.2} MB/s received",
        fmt_rate(r.throughput())
    )?;
    writeln!(s)?;

    write_latency_table(r, s)?;

    if !rec.connect.is_empty() {
        let c = &rec.connect;
        writeln!(
            s,
            "connect:     p50 {}  p99 {}  max {}  ({} connects, {} attempted)",
            fmt_us(c.value_at_quantile(0.5) as f64),
            fmt_us(c.value_at_quantile(0.99) as f64),
            fmt_us(c.max() as f64),
            group(c.len()),
            group(rec.connects_tried)
        )?;
    }

    if !rec.statuses.is_empty() {
        let mut st = rec.statuses.clone();
        st.sort_unstable();
        let parts: Vec<String> = st
            .iter()
            .map(|(code, n)| format!("{code}: {}", group(*n)))
            .collect();
        writeln!(s, "statuses:    {}", parts.join("  "))?;
    }

    let errors = sorted_errors(&rec.errors);
    if errors.is_empty() {
        writeln!(s, "errors:      none")?;
    } else {
        writeln!(s, "errors:      {} total", group(rec.error_total()))?;
        let cw = errors
            .iter()
            .map(|e| e.class.name().len())
            .max()
            .unwrap_or(0)
            .max(5);
        let dw = errors
            .iter()
            .map(|e| e.detail.len())
            .max()
            .unwrap_or(0)
            .max(6);
        writeln!(s, "  {:<cw$}  {:<dw$}  {:>12}", "class", "detail", "count")?;
        for e in &errors {
            writeln!(
                s,
                "  {:<cw$}  {:<dw$}  {:>12}",
                e.class.name(),
                e.detail,
                group(e.count)
            )?;
        }
    }
    writeln!(s)?;

    writeln!(
        s,
        "requests: sent {} = completed {} + failed {} + in flight {}",
        rec.sent, rec.completed, rec.failed, rec.in_flight_end
    )?;
    if !rec.books_balance() {
        // Loud on purpose: unbalanced books mean loadgen lost or double-counted a request,
        // so every other number in this report is suspect.
        let rhs = rec.completed as u128 + rec.failed as u128 + rec.in_flight_end as u128;
        writeln!(
            s,
            "WARNING: THE BOOKS DO NOT BALANCE: sent {} != {} accounted for; \
             loadgen lost or double-counted requests (a loadgen bug): do not trust this run",
            rec.sent, rhs
        )?;
    }
    writeln!(
        s,
        "measured: {} responses after warm-up",
        group(rec.measured)
    )?;

    if let Mode::Open { .. } = r.mode {
        let lag = if rec.send_lag.is_empty() {
            "no send lag recorded".to_string()
        } else {
            format!(
                "p99 send lag {}",
                fmt_us(rec.send_lag.value_at_quantile(0.99) as f64)
            )
        };
        match r.behind_schedule() {
            Some(true) => writeln!(
                s,
                "WARNING: loadgen fell behind its schedule ({lag}): corrected latencies include \
                 its own delay; use more threads or a lower rate"
            )?,
            _ => writeln!(s, "schedule:    kept ({lag})")?,
        }
    }

    match r.cpu_us_per_request() {
        Some(us) => writeln!(
            s,
            "loadgen CPU: {us:.2} us/request (user {:.2} s, sys {:.2} s)",
            r.cpu.user_s, r.cpu.sys_s
        )?,
        None => writeln!(
            s,
            "loadgen CPU: n/a us/request, no responses (user {:.2} s, sys {:.2} s)",
            r.cpu.user_s, r.cpu.sys_s
        )?,
    }

    if let Some(st) = &r.server_stats {
        // The server's JSON is its own schema; read the few fields we summarise and
        // print `?` for any that a different server version might not have.
        let field = |k: &str| {
            st.get(k)
                .and_then(Value::as_u64)
                .map(group)
                .unwrap_or_else(|| "?".to_string())
        };
        writeln!(
            s,
            "server:      active {} (peak {}), accepted {}, rejected {}, requests {}",
            field("active"),
            field("peak_active"),
            field("accepted"),
            field("rejected"),
            field("requests")
        )?;
    }
    Ok(())
}

/// The percentile table: two columns in open loop, one in closed loop (where corrected
/// and raw are the same measurement, so a second column would only suggest otherwise).
fn write_latency_table(r: &RunResult, s: &mut String) -> std::fmt::Result {
    let rec = &r.rec;
    if rec.corrected.is_empty() && rec.raw.is_empty() {
        writeln!(s, "latency:     no responses measured")?;
        writeln!(s)?;
        return Ok(());
    }
    let open = matches!(r.mode, Mode::Open { .. });
    let cell = |h: &Histogram<u64>, q: Option<f64>| -> String {
        if h.is_empty() {
            return "-".to_string();
        }
        match q {
            Some(q) => fmt_us(h.value_at_quantile(q) as f64),
            None => fmt_us(h.max() as f64),
        }
    };
    let rows: Vec<(&str, Option<f64>)> = PERCENTILES
        .iter()
        .map(|&(l, q)| (l, Some(q)))
        .chain(std::iter::once(("max", None)))
        .collect();
    if open {
        writeln!(
            s,
            "latency     {:>26}  {:>16}",
            "corrected (from schedule)", "raw (from send)"
        )?;
        for (label, q) in rows {
            writeln!(
                s,
                "  {label:<8}  {:>26}  {:>16}",
                cell(&rec.corrected, q),
                cell(&rec.raw, q)
            )?;
        }
        writeln!(
            s,
            "  {:<8}  {:>26}  {:>16}",
            "count",
            group(rec.corrected.len()),
            group(rec.raw.len())
        )?;
    } else {
        writeln!(s, "latency     {:>10}", "latency")?;
        for (label, q) in rows {
            writeln!(s, "  {label:<8}  {:>10}", cell(&rec.corrected, q))?;
        }
        writeln!(s, "  {:<8}  {:>10}", "count", group(rec.corrected.len()))?;
    }
    writeln!(s)
}

/// Errors in a stable order (class, then detail), whatever order the workers merged in.
fn sorted_errors(errors: &[ErrorCount]) -> Vec<ErrorCount> {
    let mut v = errors.to_vec();
    v.sort_by(|a, b| (a.class, &a.detail).cmp(&(b.class, &b.detail)));
    v
}

// ------------------------------------------------------------------------------------
// JSON
// ------------------------------------------------------------------------------------

/// Summary of one microsecond histogram: percentiles, max, mean, stdev, count.
/// Every field but `count` is `null` when the histogram is empty: an empty histogram
/// reports 0 for everything, which would read as "zero latency".
fn hist_json(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return json!({
            "p50": null, "p90": null, "p99": null, "p99_9": null, "p99_99": null,
            "max": null, "mean": null, "stdev": null, "count": 0,
        });
    }
    json!({
        "p50": h.value_at_quantile(0.5),
        "p90": h.value_at_quantile(0.9),
        "p99": h.value_at_quantile(0.99),
        "p99_9": h.value_at_quantile(0.999),
        "p99_99": h.value_at_quantile(0.9999),
        "max": h.max(),
        "mean": h.mean(),
        "stdev": h.stdev(),
        "count": h.len(),
    })
}

/// The machine-readable report. The schema is documented field by field in
/// `docs/loadgen-json.md`; it is stable (see [`JSON_SCHEMA`]).
pub fn json(r: &RunResult) -> Value {
    let rec = &r.rec;
    let mode = match r.mode {
        Mode::Closed => json!({ "kind": "closed" }),
        Mode::Open { rate } => json!({ "kind": "open", "rate": rate }),
    };
    let mut statuses = serde_json::Map::new();
    let mut st = rec.statuses.clone();
    st.sort_unstable();
    for (code, n) in st {
        statuses.insert(code.to_string(), n.into());
    }
    let errors: Vec<Value> = sorted_errors(&rec.errors)
        .iter()
        .map(|e| json!({ "class": e.class.name(), "detail": e.detail, "count": e.count }))
        .collect();
    let send_lag = match r.mode {
        Mode::Open { .. } => hist_json(&rec.send_lag),
        Mode::Closed => Value::Null,
    };
    json!({
        "schema": JSON_SCHEMA,
        "version": env!("CARGO_PKG_VERSION"),
        "target": r.target,
        "embedded": r.embedded,
        "proto": r.proto,
        "mode": mode,
        "connections": r.connections,
        "threads": r.threads,
        "per_conn": r.per_conn,
        "warmup_s": r.warmup.as_secs_f64(),
        "duration_s": r.duration.as_secs_f64(),
        "requests": {
            "sent": rec.sent,
            "completed": rec.completed,
            "measured": rec.measured,
            "failed": rec.failed,
            "in_flight_end": rec.in_flight_end,
            "books_balance": rec.books_balance(),
        },
        "throughput_rps": r.throughput(),
        "bytes": {
            "sent": rec.bytes_sent,
            "received": rec.bytes_received,
            "received_measured": rec.bytes_received_measured,
        },
        "latency_us": {
            "corrected": hist_json(&rec.corrected),
            "raw": hist_json(&rec.raw),
        },
        "connects": { "ok": rec.connects_ok, "tried": rec.connects_tried },
        "connect_us": hist_json(&rec.connect),
        "send_lag_us": send_lag,
        "behind_schedule": r.behind_schedule(),
        "statuses": statuses,
        "errors": errors,
        "cpu": {
            "user_s": r.cpu.user_s,
            "sys_s": r.cpu.sys_s,
            "us_per_request": r.cpu_us_per_request(),
        },
        "server": r.server_stats.clone(),
    })
}

/// Writes [`json()`] pretty-printed, with a trailing newline so the file is a proper text
/// file (and `cat` leaves the prompt on its own line).
pub fn write_json<W: Write>(r: &RunResult, w: &mut W) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, &json(r))?;
    w.write_all(b"\n")
}

// ------------------------------------------------------------------------------------
// .hgrm percentile distribution
// ------------------------------------------------------------------------------------

/// Writes `h` in HdrHistogram's percentile-distribution text format, as Java's
/// `outputPercentileDistribution(out, 5, unit_ratio)` and wrk2 print it, so the standard
/// HdrHistogram plotter (`plotFiles.html`) loads it.
///
/// Values are divided by `unit_ratio` (histograms hold microseconds; 1000.0 writes
/// milliseconds) and printed with as many decimals as the histogram has significant
/// digits, like Java. As in Java, the last row (percentile 1.0) has no `1/(1-Percentile)`
/// column, since it would be infinite. An empty histogram writes the header and footer
/// only.
pub fn write_hgrm<W: Write>(h: &Histogram<u64>, w: &mut W, unit_ratio: f64) -> io::Result<()> {
    let prec = usize::from(h.sigfig());
    writeln!(
        w,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    // The Rust iterator reports the count since the previous row; Java prints the running
    // total, so accumulate it.
    let mut total: u64 = 0;
    for v in h.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
        total += v.count_since_last_iteration();
        let value = v.value_iterated_to() as f64 / unit_ratio;
        let q = v.quantile_iterated_to();
        if q < 1.0 {
            writeln!(
                w,
                "{value:12.prec$} {q:2.12} {total:10} {:14.2}",
                1.0 / (1.0 - q)
            )?;
        } else {
            writeln!(w, "{value:12.prec$} {q:2.12} {total:10}")?;
        }
    }
    let (mean, stdev, max) = if h.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (
            h.mean() / unit_ratio,
            h.stdev() / unit_ratio,
            h.max() as f64 / unit_ratio,
        )
    };
    writeln!(
        w,
        "#[Mean    = {mean:12.prec$}, StdDeviation   = {stdev:12.prec$}]"
    )?;
    writeln!(
        w,
        "#[Max     = {max:12.prec$}, Total count    = {:12}]",
        h.len()
    )?;
    // hdrhistogram does not expose the sub-bucket count, but its counts array holds
    // (buckets + 1) * sub_bucket_count / 2 entries, so it can be derived exactly.
    let buckets = usize::from(h.buckets());
    let sub_buckets = 2 * h.distinct_values() / (buckets + 1);
    writeln!(
        w,
        "#[Buckets = {buckets:12}, SubBuckets     = {sub_buckets:12}]"
    )
}

/// Parses the rows of a percentile-distribution text (as written by [`write_hgrm`], Java
/// or wrk2) into `(value, percentile, total count)`, skipping the header, blank lines
/// and `#` footer lines. Errors name the offending line.
pub fn parse_hgrm(text: &str) -> Result<Vec<(f64, f64, u64)>, String> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with("Value") {
            continue;
        }
        let f: Vec<&str> = t.split_whitespace().collect();
        if f.len() != 3 && f.len() != 4 {
            return Err(format!(
                "line {}: expected 3 or 4 columns, got {}: {line:?}",
                i + 1,
                f.len()
            ));
        }
        let bad = |what: &str| format!("line {}: bad {what}: {line:?}", i + 1);
        let value: f64 = f[0].parse().map_err(|_| bad("value"))?;
        let pct: f64 = f[1].parse().map_err(|_| bad("percentile"))?;
        let count: u64 = f[2].parse().map_err(|_| bad("total count"))?;
        if !(0.0..=1.0).contains(&pct) {
            return Err(bad("percentile (outside 0..1)"));
        }
        if f.len() == 4 {
            // Only checked for well-formedness; it is derived from the percentile.
            let inv = f[3].to_ascii_lowercase();
            if inv != "inf" && inv != "infinity" && inv.parse::<f64>().is_err() {
                return Err(bad("1/(1-Percentile)"));
            }
        }
        rows.push((value, pct, count));
    }
    Ok(rows)
}

// ------------------------------------------------------------------------------------
// Interval log
// ------------------------------------------------------------------------------------

/// Writes the per-interval corrected histograms as a standard HdrHistogram interval log
/// (format 1.3, V2 deflate-compressed histograms, as Java's `HistogramLogWriter` writes
/// and `HistogramLogAnalyzer` / `HistogramLogProcessor` read).
///
/// `start_unix_s` is the wall-clock time (seconds since the epoch) when measurement
/// began, i.e. the end of the warm-up; it is written as both `StartTime` and `BaseTime`,
/// so each interval's timestamp is its `start` offset from that moment. Histogram values
/// stay in microseconds; the human-only `Interval_Max` column is in milliseconds.
pub fn write_interval_log<W: Write>(r: &RunResult, w: &mut W, start_unix_s: f64) -> io::Result<()> {
    let start = Duration::try_from_secs_f64(start_unix_s)
        .map(|d| UNIX_EPOCH + d)
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("start time {start_unix_s}: {e}"),
            )
        })?;
    let mut serializer = V2DeflateSerializer::new();
    {
        let mut header = IntervalLogWriterBuilder::new();
        header
            .add_comment(&format!(
                "[Logged with loadgen {}]",
                env!("CARGO_PKG_VERSION")
            ))
            .add_comment("[Histogram log format version 1.3]")
            .add_comment(&format!(
                "[corrected latency of {} ({}), values in microseconds, Interval_Max in milliseconds]",
                r.target.replace(['\n', '\r'], " "),
                r.proto
            ))
            .with_start_time(start)
            .with_base_time(start);
        // Dropped at once: it only writes the header lines.
        header.begin_log_with(w, &mut serializer)?;
    }
    // The legend line is not a comment, so the builder cannot write it; Java writes it
    // after the time headers, and both Java's reader and hdrhistogram's iterator skip it.
    writeln!(
        w,
        "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
    )?;
    let mut log = IntervalLogWriterBuilder::new()
        .with_max_value_divisor(1000.0)
        .begin_log_with(w, &mut serializer)?;
    for iv in &r.intervals {
        log.write_histogram(&iv.corrected, iv.start, iv.length, None)
            .map_err(|e| io::Error::other(e.to_string()))?;
    }
    Ok(())
}

// ------------------------------------------------------------------------------------
// SVG plot
// ------------------------------------------------------------------------------------

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

// ------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{new_histogram, ErrorClass, Recorder};
    use crate::result::{CpuTime, Interval};
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use hdrhistogram::serialization::Deserializer;

    /// A microsecond histogram with `count` samples at each `value`.
    fn hist(values: &[(u64, u64)]) -> Histogram<u64> {
        let mut h = new_histogram();
        for &(v, n) in values {
            h.record_n(v, n).expect("test values are in range");
        }
        h
    }

    /// 1..=n us, once each: every percentile is known in closed form.
    fn uniform(n: u64) -> Histogram<u64> {
        let mut h = new_histogram();
        for v in 1..=n {
            h.record(v).expect("in range");
        }
        h
    }

    fn result(mode: Mode) -> RunResult {
        let mut rec = Recorder::default();
        rec.corrected = hist(&[(1000, 900), (2000, 90), (10_000, 9), (50_000, 1)]);
        rec.raw = match mode {
            Mode::Closed => rec.corrected.clone(),
            Mode::Open { .. } => hist(&[(800, 900), (1500, 99), (4000, 1)]),
        };
        rec.connect = hist(&[(100, 3), (300, 1)]);
        if let Mode::Open { .. } = mode {
            rec.send_lag = hist(&[(5, 990), (50, 10)]);
        }
        rec.sent = 1010;
        rec.completed = 1003;
        rec.measured = 1000;
        rec.failed = 2;
        rec.in_flight_end = 5;
        rec.bytes_sent = 50_000;
        rec.bytes_received = 2_006_000;
        rec.bytes_received_measured = 2_000_000;
        rec.connects_ok = 4;
        rec.connects_tried = 5;
        rec.statuses = vec![(200, 998), (503, 2)];
        rec.error(ErrorClass::Timeout, "timeout");
        rec.error(ErrorClass::ConnectRefused, "ECONNREFUSED");
        rec.error(ErrorClass::Timeout, "timeout");
        RunResult {
            target: "http://127.0.0.1:7878/".to_string(),
            embedded: true,
            proto: "http".to_string(),
            mode,
            connections: 4,
            threads: 2,
            per_conn: None,
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(2),
            rec,
            intervals: vec![
                Interval {
                    start: Duration::ZERO,
                    length: Duration::from_secs(1),
                    corrected: hist(&[(1000, 500), (2000, 40)]),
                },
                Interval {
                    start: Duration::from_millis(1000),
                    length: Duration::from_millis(1000),
                    corrected: hist(&[(1000, 400), (2000, 50), (50_000, 1)]),
                },
            ],
            cpu: CpuTime {
                user_s: 0.03,
                sys_s: 0.01,
            },
            server_stats: Some(json!({
                "active": 4, "peak_active": 5, "accepted": 5, "rejected": 0, "requests": 1003
            })),
        }
    }

    fn open() -> RunResult {
        result(Mode::Open { rate: 500.0 })
    }

    fn closed() -> RunResult {
        let mut r = result(Mode::Closed);
        r.embedded = false;
        r.server_stats = None;
        r
    }

    fn temp_path(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("loadgen-report-{}-{name}", std::process::id()))
    }

    // --- fmt_us / progress_line -------------------------------------------------------

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
    fn test_progress_line_shape() {
        let l = progress_line(
            Duration::from_secs(3),
            Duration::from_secs(10),
            142_311.4,
            Some(1210),
            0,
        );
        assert_eq!(l, "[ 3.0s/10.0s]    142,311 req/s  p99  1.21ms  errors 0");
        let l = progress_line(
            Duration::from_millis(12_340),
            Duration::from_secs(60),
            2.5,
            None,
            12_345,
        );
        assert_eq!(
            l,
            "[12.3s/60.0s]       2.50 req/s  p99       -  errors 12,345"
        );
    }

    #[test]
    fn test_progress_line_keeps_its_width_while_numbers_change() {
        let a = progress_line(
            Duration::from_secs(1),
            Duration::from_secs(10),
            99_000.0,
            Some(900),
            0,
        );
        let b = progress_line(
            Duration::from_secs(9),
            Duration::from_secs(10),
            1_250_000.0,
            Some(45_000),
            0,
        );
        assert_eq!(a.len(), b.len());
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

    // --- text --------------------------------------------------------------------------

    #[test]
    fn test_text_open_loop_has_both_columns_and_the_books() {
        let t = text(&open());
        assert!(t.contains("target:      http://127.0.0.1:7878/ (embedded readyloop server)\n"));
        assert!(t.contains("proto:       http\n"));
        assert!(t.contains("mode:        open loop at 500 req/s\n"));
        assert!(t.contains("connections: 4\n"));
        assert!(t.contains("threads:     2\n"));
        assert!(t.contains("duration:    2.0s measured after 1.0s warm-up"));
        // 1000 measured in 2 s; 2 MB received after warm-up in 2 s.
        assert!(t.contains("throughput:  500 req/s, 1.00 MB/s received\n"));
        assert!(t.contains("corrected (from schedule)"));
        assert!(t.contains("raw (from send)"));
        // p50 corrected is 1000 us -> 1.00ms, raw 800 us; max corrected 50 ms, raw 4 ms.
        let p50 = t
            .lines()
            .find(|l| l.trim_start().starts_with("p50"))
            .expect("p50 row");
        assert!(p50.contains("1.00ms") && p50.contains("800us"), "{p50}");
        let max = t
            .lines()
            .find(|l| l.trim_start().starts_with("max"))
            .expect("max row");
        assert!(max.contains("50.0ms") && max.contains("4.00ms"), "{max}");
        assert!(t.contains("requests: sent 1010 = completed 1003 + failed 2 + in flight 5\n"));
        assert!(!t.contains("BOOKS DO NOT BALANCE"));
        assert!(
            t.contains("connect:     p50 100us  p99 300us  max 300us  (4 connects, 5 attempted)")
        );
        assert!(t.contains("statuses:    200: 998  503: 2\n"));
        assert!(t.contains("schedule:    kept (p99 send lag 5.00us)"));
        // (0.03 + 0.01) s over 1000 responses = 40 us each.
        assert!(t.contains("loadgen CPU: 40.00 us/request (user 0.03 s, sys 0.01 s)\n"));
        assert!(
            t.contains("server:      active 4 (peak 5), accepted 5, rejected 0, requests 1,003")
        );
    }

    #[test]
    fn test_text_error_table_is_sorted_with_counts() {
        let t = text(&open());
        assert!(t.contains("errors:      3 total\n"));
        let rows: Vec<&str> = t
            .lines()
            .filter(|l| l.contains("ECONNREFUSED") || l.contains("  timeout"))
            .collect();
        assert_eq!(rows.len(), 2, "{t}");
        // ConnectRefused sorts before Timeout (declaration order of ErrorClass).
        assert!(rows[0].contains("connect_refused") && rows[0].trim_end().ends_with(" 1"));
        assert!(rows[1].starts_with("  timeout") && rows[1].trim_end().ends_with(" 2"));
    }

    #[test]
    fn test_text_closed_loop_has_one_latency_column() {
        let t = text(&closed());
        assert!(t.contains("mode:        closed loop\n"));
        assert!(!t.contains("raw (from send)"));
        assert!(!t.contains("corrected"));
        assert!(!t.contains("embedded"));
        assert!(!t.contains("schedule"));
        assert!(!t.contains("server:"));
        let header = t
            .lines()
            .find(|l| l.starts_with("latency"))
            .expect("header");
        assert_eq!(
            header.split_whitespace().collect::<Vec<_>>(),
            ["latency", "latency"]
        );
        let p99 = t
            .lines()
            .find(|l| l.trim_start().starts_with("p99 "))
            .expect("p99 row");
        // 990 of 1000 samples are <= 2000 us: p99 is 2 ms.
        assert!(p99.trim_end().ends_with("2.00ms"), "{p99}");
    }

    #[test]
    fn test_text_warns_when_books_do_not_balance() {
        let mut r = closed();
        r.rec.sent += 1;
        let t = text(&r);
        assert!(t.contains("requests: sent 1011 = completed 1003 + failed 2 + in flight 5\n"));
        assert!(t.contains("WARNING: THE BOOKS DO NOT BALANCE: sent 1011 != 1010"));
    }

    #[test]
    fn test_text_warns_when_behind_schedule() {
        let mut r = open();
        // 4 connections at 500 req/s: 8 ms between requests of a connection; a p99 lag of
        // 5 ms is over both 1 ms and 10% of that.
        r.rec.send_lag = hist(&[(5000, 100)]);
        assert_eq!(r.behind_schedule(), Some(true));
        let t = text(&r);
        assert!(t.contains(
            "WARNING: loadgen fell behind its schedule (p99 send lag 5.00ms): corrected \
             latencies include its own delay; use more threads or a lower rate"
        ));
        assert!(!t.contains("schedule:    kept"));
    }

    #[test]
    fn test_text_without_responses_or_errors() {
        let mut r = closed();
        r.rec = Recorder::default();
        let t = text(&r);
        assert!(t.contains("latency:     no responses measured"));
        assert!(t.contains("errors:      none"));
        assert!(t.contains("loadgen CPU: n/a"));
        assert!(!t.contains("connect:"));
        assert!(!t.contains("statuses:"));
        assert!(t.contains("requests: sent 0 = completed 0 + failed 0 + in flight 0\n"));
    }

    // --- json --------------------------------------------------------------------------

    #[test]
    fn test_json_open_loop_fields() {
        let r = open();
        let j = json(&r);
        assert_eq!(j["schema"], 1);
        assert_eq!(j["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(j["target"], "http://127.0.0.1:7878/");
        assert_eq!(j["embedded"], true);
        assert_eq!(j["mode"], json!({"kind": "open", "rate": 500.0}));
        assert_eq!(j["connections"], 4);
        assert_eq!(j["per_conn"], Value::Null);
        assert_eq!(j["duration_s"], 2.0);
        assert_eq!(j["requests"]["sent"], 1010);
        assert_eq!(j["requests"]["measured"], 1000);
        assert_eq!(j["requests"]["books_balance"], true);
        assert_eq!(j["throughput_rps"], 500.0);
        assert_eq!(j["bytes"]["received_measured"], 2_000_000);
        let c = &j["latency_us"]["corrected"];
        assert_eq!(c["p50"], r.rec.corrected.value_at_quantile(0.5));
        assert_eq!(c["p99"], r.rec.corrected.value_at_quantile(0.99));
        assert_eq!(c["p99_99"], r.rec.corrected.value_at_quantile(0.9999));
        assert_eq!(c["max"], r.rec.corrected.max());
        assert_eq!(c["count"], 1000);
        assert_eq!(j["latency_us"]["raw"]["max"], r.rec.raw.max());
        assert_eq!(j["connect_us"]["count"], 4);
        assert_eq!(j["connects"], json!({"ok": 4, "tried": 5}));
        assert_eq!(j["send_lag_us"]["count"], 1000);
        assert_eq!(j["behind_schedule"], false);
        assert_eq!(j["statuses"], json!({"200": 998, "503": 2}));
        assert_eq!(
            j["errors"],
            json!([
                {"class": "connect_refused", "detail": "ECONNREFUSED", "count": 1},
                {"class": "timeout", "detail": "timeout", "count": 2},
            ])
        );
        let per_req = j["cpu"]["us_per_request"].as_f64().expect("number");
        assert!((per_req - 40.0).abs() < 1e-9);
        assert_eq!(j["server"]["requests"], 1003);
    }

    #[test]
    fn test_json_closed_loop_and_empty_histograms_are_null() {
        let mut r = closed();
        r.rec.connect = new_histogram();
        let j = json(&r);
        assert_eq!(j["mode"], json!({"kind": "closed"}));
        assert_eq!(j["send_lag_us"], Value::Null);
        assert_eq!(j["behind_schedule"], Value::Null);
        assert_eq!(j["server"], Value::Null);
        assert_eq!(j["connect_us"]["count"], 0);
        assert_eq!(j["connect_us"]["p50"], Value::Null);
        assert_eq!(j["connect_us"]["max"], Value::Null);
    }

    #[test]
    fn test_write_json_is_pretty_parseable_and_ends_with_newline() {
        let r = open();
        let mut buf = Vec::new();
        write_json(&r, &mut buf).expect("write to Vec");
        let s = String::from_utf8(buf).expect("utf-8");
        assert!(s.ends_with("}\n"));
        assert!(s.contains("\n  \"target\": "));
        let back: Value = serde_json::from_str(&s).expect("valid JSON");
        // Compare through the same parser: serde_json's default float parsing may differ
        // from the printed value in the last bit, on both sides alike.
        let same: Value = serde_json::from_str(&json(&r).to_string()).expect("valid JSON");
        assert_eq!(back, same);
    }

    /// Every field the JSON carries is described in the schema doc, so the two cannot
    /// drift apart silently.
    #[test]
    fn test_json_fields_are_documented() {
        let doc = include_str!("../../docs/loadgen-json.md");
        fn walk(prefix: &str, v: &Value, out: &mut Vec<String>) {
            if let Value::Object(m) = v {
                for (k, x) in m {
                    // Status codes are data, not schema.
                    if prefix == "statuses" || prefix == "server" {
                        continue;
                    }
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    out.push(p.clone());
                    walk(&p, x, out);
                }
            }
        }
        let mut paths = Vec::new();
        walk("", &json(&open()), &mut paths);
        for e in json(&open())["errors"].as_array().expect("array") {
            walk("errors[]", e, &mut paths);
        }
        assert!(paths.len() > 40);
        for p in paths {
            // Histogram summaries are documented once, as a shared object.
            let leaf = p.rsplit('.').next().unwrap_or(&p);
            let documented = doc.contains(&format!("`{p}`"))
                || (p.contains("_us.") && doc.contains(&format!("`{leaf}`")));
            assert!(documented, "field {p} is not in docs/loadgen-json.md");
        }
    }

    // --- hgrm --------------------------------------------------------------------------

    #[test]
    fn test_hgrm_exact_format_of_a_single_value() {
        let h = hist(&[(1000, 1)]);
        let mut buf = Vec::new();
        write_hgrm(&h, &mut buf, 1000.0).expect("write to Vec");
        let expected = format!(
            "       Value     Percentile TotalCount 1/(1-Percentile)\n\
             \n       1.000 0.000000000000          1           1.00\n\
             \x20      1.000 1.000000000000          1\n\
             #[Mean    =        1.000, StdDeviation   =        0.000]\n\
             #[Max     =        1.000, Total count    =            1]\n\
             #[Buckets = {:>12}, SubBuckets     =         2048]\n",
            h.buckets()
        );
        assert_eq!(String::from_utf8(buf).expect("utf-8"), expected);
    }

    #[test]
    fn test_hgrm_round_trip_matches_the_histogram() {
        let h = uniform(100_000);
        let ratio = 1000.0;
        let mut buf = Vec::new();
        write_hgrm(&h, &mut buf, ratio).expect("write to Vec");
        let text = String::from_utf8(buf).expect("utf-8");
        let rows = parse_hgrm(&text).expect("parses");
        assert!(rows.len() > 50);
        // Percentiles never go down; the last row is 1.0 with the whole count.
        assert!(rows
            .windows(2)
            .all(|w| w[0].1 <= w[1].1 && w[0].2 <= w[1].2));
        let last = rows.last().expect("rows");
        assert_eq!(last.1, 1.0);
        assert_eq!(last.2, h.len());
        for q in [0.5, 0.9, 0.99, 1.0] {
            // The row at (or first past) q; rows sit on HdrHistogram's ticks.
            let row = rows.iter().find(|r| r.1 >= q - 1e-9).expect("row");
            assert!(row.1 - q < 0.002, "row {row:?} too far from {q}");
            let want = h.value_at_quantile(row.1);
            let tol = h.equivalent_range(want) as f64 / ratio;
            assert!(
                (row.0 - want as f64 / ratio).abs() <= tol,
                "q {q}: hgrm {} vs histogram {}",
                row.0,
                want as f64 / ratio
            );
        }
        // Exact rows: p50 and max are printed at exactly 0.5 and 1.0.
        let p50 = rows.iter().find(|r| r.1 == 0.5).expect("p50 row");
        assert!((p50.0 - h.value_at_quantile(0.5) as f64 / ratio).abs() < 1e-9);
        assert!((last.0 - h.max() as f64 / ratio).abs() < 1e-9);
        // Footer: the total count and max.
        assert!(text.contains(&format!("Total count    = {:>12}]", h.len())));
        assert!(text.contains(&format!("#[Max     = {:>12.3},", h.max() as f64 / ratio)));
    }

    #[test]
    fn test_hgrm_rows_have_java_columns() {
        let h = uniform(1000);
        let mut buf = Vec::new();
        write_hgrm(&h, &mut buf, 1.0).expect("write to Vec");
        let text = String::from_utf8(buf).expect("utf-8");
        let data: Vec<&str> = text
            .lines()
            .skip(2)
            .filter(|l| !l.starts_with('#'))
            .collect();
        let (last, rest) = data.split_last().expect("rows");
        for l in rest {
            // %12.3f %2.12f %10d %14.2f: 12 + 1 + 14 + 1 + 10 + 1 + 14 characters.
            assert_eq!(l.len(), 53, "{l:?}");
            assert_eq!(l.split_whitespace().count(), 4);
        }
        assert_eq!(last.len(), 38, "{last:?}");
        assert!(last.contains(" 1.000000000000 "));
    }

    #[test]
    fn test_hgrm_empty_histogram_and_parse_errors() {
        let mut buf = Vec::new();
        write_hgrm(&new_histogram(), &mut buf, 1000.0).expect("write to Vec");
        let text = String::from_utf8(buf).expect("utf-8");
        assert_eq!(parse_hgrm(&text), Ok(vec![]));
        assert!(text.contains("Total count    =            0]"));
        assert!(parse_hgrm("1.0 0.5").is_err());
        assert!(parse_hgrm("x 0.5 3 2.0").is_err());
        assert!(parse_hgrm("1.0 1.5 3").is_err());
        assert_eq!(
            parse_hgrm("  1.5 0.5 10 2.00\n 3.0 1.0 20\n"),
            Ok(vec![(1.5, 0.5, 10), (3.0, 1.0, 20)])
        );
    }

    // --- interval log ------------------------------------------------------------------

    /// Standard base64 (with padding), enough to decode interval-log histograms: the
    /// hdrhistogram crate does not re-export its base64 dependency.
    fn b64decode(s: &str) -> Vec<u8> {
        let val = |c: u8| -> u32 {
            match c {
                b'A'..=b'Z' => u32::from(c - b'A'),
                b'a'..=b'z' => u32::from(c - b'a') + 26,
                b'0'..=b'9' => u32::from(c - b'0') + 52,
                b'+' => 62,
                b'/' => 63,
                _ => panic!("not base64: {c}"),
            }
        };
        let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
        let mut out = Vec::new();
        for chunk in bytes.chunks(4) {
            let mut acc = 0u32;
            for (i, &c) in chunk.iter().enumerate() {
                acc |= val(c) << (18 - 6 * i);
            }
            let n = chunk.len() * 6 / 8;
            for i in 0..n {
                out.push((acc >> (16 - 8 * i)) as u8);
            }
        }
        out
    }

    #[test]
    fn test_interval_log_round_trip() {
        let r = open();
        let start = 1_700_000_000.25;
        let mut buf = Vec::new();
        write_interval_log(&r, &mut buf, start).expect("write to Vec");
        let text = String::from_utf8(buf.clone()).expect("utf-8");
        assert!(text.starts_with("#[Logged with loadgen "));
        assert!(text.contains("#[StartTime: 1700000000.250 (seconds since epoch)]\n"));
        assert!(text.contains("#[BaseTime: 1700000000.250 (seconds since epoch)]\n"));
        assert!(text.contains("\"StartTimestamp\",\"Interval_Length\""));

        let mut start_times = Vec::new();
        let mut base_times = Vec::new();
        let mut intervals = Vec::new();
        for e in IntervalLogIterator::new(&buf) {
            match e.expect("log parses") {
                LogEntry::StartTime(t) => start_times.push(t),
                LogEntry::BaseTime(t) => base_times.push(t),
                LogEntry::Interval(iv) => intervals.push((
                    iv.start_timestamp(),
                    iv.duration(),
                    iv.max(),
                    b64decode(iv.encoded_histogram()),
                )),
            }
        }
        assert_eq!(start_times, vec![Duration::from_millis(1_700_000_000_250)]);
        assert_eq!(base_times, start_times);
        assert_eq!(intervals.len(), r.intervals.len());
        let mut de = Deserializer::new();
        for ((ts, len, max, bytes), want) in intervals.iter().zip(&r.intervals) {
            assert_eq!(*ts, want.start);
            assert_eq!(*len, want.length);
            // Max is printed in ms with three decimals.
            assert!((max - want.corrected.max() as f64 / 1000.0).abs() < 0.0005);
            let h: Histogram<u64> = de.deserialize(&mut &bytes[..]).expect("histogram decodes");
            assert_eq!(h.len(), want.corrected.len());
            assert_eq!(h.max(), want.corrected.max());
            assert_eq!(
                h.value_at_quantile(0.5),
                want.corrected.value_at_quantile(0.5)
            );
        }
    }

    #[test]
    fn test_interval_log_rejects_a_bad_start_time() {
        let mut buf = Vec::new();
        let e = write_interval_log(&open(), &mut buf, f64::NAN).expect_err("NaN start");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(write_interval_log(&open(), &mut buf, -1.0).is_err());
    }

    // --- svg ---------------------------------------------------------------------------

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
