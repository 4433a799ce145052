//! The human summary of a run ([`text`]): what was run, the latency table, connects,
//! statuses, the mix, the stages, errors, the books, the schedule, loadgen's CPU, the
//! server's counters, the warnings and the thresholds.
//!
//! Kept apart from the machine formats because its layout is for people: units adapt
//! (see [`crate::fmt::fmt_us`]), counts are grouped, and warnings are sentences.
//!
//! The report is its [`SECTIONS`], one function each, printed in order; the JSON
//! (`json.rs`) and HTML (`html.rs`) reports have sections of the same names, so a new
//! part of a run (TLS handshakes, UDP loss) is one new function in each format.

use super::{
    interrupted_by, latency_cell, latency_rows, measured_span, sorted_errors, PHASE_COLUMNS,
};
use crate::fmt::{fmt_rate, fmt_secs, fmt_us, group, plural, whole};
use crate::result::{Mode, RunResult};
use serde_json::Value;
use std::fmt::{self, Write as _};

/// One section of the text report: its lines appended to `s`, none when it does not
/// apply to the run. The `Result` is `fmt::Write`'s: writing into a `String` cannot
/// fail.
type Section = fn(&RunResult, &mut String) -> fmt::Result;

/// The sections of the text report, in the order they print.
const SECTIONS: &[Section] = &[
    header,
    latency,
    phases,
    connects,
    tls,
    statuses,
    mix,
    stages,
    errors,
    books,
    schedule,
    cpu,
    server,
    super::segments::text_table,
    warnings,
    thresholds,
];

/// The human summary of a run, wrk-like but more honest: both latency measures in open
/// loop, the books (every request accounted for), whether the generator kept its own
/// schedule and what it cost in CPU. Ends with a newline.
pub fn text(r: &RunResult) -> String {
    let mut s = String::new();
    for section in SECTIONS {
        // Writing into a String cannot fail; the Result only exists because of fmt::Write.
        let _ = section(r, &mut s);
    }
    s
}

/// What was run (target, protocol, pacing, connections, threads), what was measured,
/// an interrupt, and the throughput; a blank line after.
fn header(r: &RunResult, s: &mut String) -> fmt::Result {
    let embedded = if r.embedded() {
        " (embedded readyloop server)"
    } else {
        ""
    };
    writeln!(s, "target:      {}{embedded}", r.target)?;
    if let Some(run) = super::segments::identity_line(r) {
        writeln!(s, "run:         {run}")?;
    }
    for line in r.spread.lines() {
        writeln!(s, "{line}")?;
    }
    writeln!(s, "proto:       {}", r.proto())?;
    writeln!(s, "mode:        {}", super::pacing(r))?;
    writeln!(s, "connections: {}", super::connections_line(r))?;
    grown(r, s)?;
    if r.load.pipeline > 1 {
        writeln!(
            s,
            "pipeline:    {} requests in flight per connection",
            group(r.load.pipeline as u64)
        )?;
    }
    writeln!(s, "threads:     {}", group(r.load.threads() as u64))?;
    span(r, s)?;
    if let Some(i) = r.interrupted {
        writeln!(s, "INTERRUPTED: {}", interrupted_by(r, i))?;
    }
    writeln!(s, "throughput:  {}", super::throughput_line(r))?;
    writeln!(s)
}

/// With `--max-connections`, the line under `connections:`: how far they grew.
fn grown(r: &RunResult, s: &mut String) -> fmt::Result {
    let Some(m) = r.load.max_connections else {
        return Ok(());
    };
    // Only a run that added connections grew; one that did not stayed where it began.
    let (went, how) = if r.connections_peak > r.load.connections {
        let added = (r.connections_peak - r.load.connections) as u64;
        let them = if added == 1 { "it" } else { "them" };
        (
            "grew to",
            format!("added {}: rate x mean latency needed {them}", group(added)),
        )
    } else {
        (
            "stayed at",
            "none added: rate x mean latency never needed more".to_string(),
        )
    };
    writeln!(
        s,
        "             {went} {} of at most {} (--max-connections; {how})",
        group(r.connections_peak as u64),
        group(m as u64)
    )
}

/// The `requests:` line of a run with `-n`, or the `duration:` line: what was measured
/// after what warm-up, or that nothing was.
fn span(r: &RunResult, s: &mut String) -> fmt::Result {
    let before_measuring = r.stopped_before_measuring().is_some();
    match r.load.requests {
        Some(n) if before_measuring => writeln!(
            s,
            "requests:    {} asked (-n); {}",
            group(n),
            measured_span(r)
        ),
        Some(n) => {
            let done = r.rec.measured + r.rec.failed_counted;
            let short = if done < n {
                format!(": {} of them done, the time limit came first", group(done))
            } else {
                String::new()
            };
            writeln!(
                s,
                "requests:    {} asked (-n), taking {} after {} warm-up{short}",
                group(n),
                fmt_secs(r.duration),
                fmt_secs(r.load.warmup)
            )
        }
        None if before_measuring => writeln!(s, "duration:    {}", measured_span(r)),
        None => writeln!(s, "duration:    {} (discarded)", measured_span(r)),
    }
}

/// The percentile table: two columns in open loop, one in closed loop (where corrected
/// and raw are the same measurement, so a second column would only suggest otherwise);
/// a blank line after.
fn latency(r: &RunResult, s: &mut String) -> fmt::Result {
    let rec = &r.rec;
    if rec.corrected.is_empty() && rec.raw.is_empty() {
        writeln!(s, "latency:     no responses measured")?;
        return writeln!(s);
    }
    if let Some(line) = super::censored_only(rec) {
        writeln!(s, "latency:     {line}")?;
        return writeln!(s);
    }
    let rows = latency_rows();
    if let Mode::Open { .. } = r.mode() {
        writeln!(
            s,
            "latency     {:>26}  {:>16}",
            "corrected (from schedule)", "raw (from send)"
        )?;
        for (label, q) in rows {
            writeln!(
                s,
                "  {label:<8}  {:>26}  {:>16}",
                latency_cell(&rec.corrected, q),
                latency_cell(&rec.raw, q)
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
        writeln!(s, "latency     {:>10}", "from send")?;
        for (label, q) in rows {
            writeln!(s, "  {label:<8}  {:>10}", latency_cell(&rec.corrected, q))?;
        }
        writeln!(s, "  {:<8}  {:>10}", "count", group(rec.corrected.len()))?;
    }
    writeln!(s)
}

/// Every phase timed apart ([`crate::phases`]): p50, p90, p99, max and count of each,
/// the TLS handshake only when one was timed; nothing when no phase holds a value.
fn phases(r: &RunResult, s: &mut String) -> fmt::Result {
    let p = &r.rec.phases;
    if p.shown().all(|(_, h)| h.is_empty()) {
        return Ok(());
    }
    write!(s, "phases    ")?;
    for (label, _) in PHASE_COLUMNS {
        write!(s, "  {label:>8}")?;
    }
    writeln!(s, "  {:>9}", "count")?;
    for (phase, h) in p.shown() {
        write!(s, "  {:<8}", phase.label())?;
        for (_, q) in PHASE_COLUMNS {
            write!(s, "  {:>8}", latency_cell(h, q))?;
        }
        writeln!(s, "  {:>9}", group(h.len()))?;
    }
    writeln!(s)
}

/// Connect times after the warm-up, and how long opening the connections took.
fn connects(r: &RunResult, s: &mut String) -> fmt::Result {
    let rec = &r.rec;
    if !rec.connect.is_empty() {
        let c = &rec.connect;
        writeln!(
            s,
            "connect:     p50 {}  p99 {}  max {}  (of {} after the warm-up; {} connected of {} \
             attempted in the whole run)",
            fmt_us(c.value_at_quantile(0.5) as f64),
            fmt_us(c.value_at_quantile(0.99) as f64),
            fmt_us(c.max() as f64),
            group(c.len()),
            group(rec.connects_ok),
            group(rec.connects_tried)
        )?;
    }
    if let Some(d) = r.connect_phase {
        writeln!(
            s,
            "connecting:  {} to open the connections, before the warm-up (not measured)",
            fmt_secs(d)
        )?;
    }
    Ok(())
}

/// Over TLS: what was negotiated, the certificate (UNVERIFIED with --insecure), and the
/// handshakes full, resumed and failed.
fn tls(r: &RunResult, s: &mut String) -> fmt::Result {
    let Some(t) = &r.tls else {
        return Ok(());
    };
    if !t.peer.version.is_empty() {
        writeln!(s, "tls:         {}", t.peer.line())?;
    }
    writeln!(s, "handshakes:  {}", t.handshakes_line())
}

/// HTTP statuses by code, and how many were neither 2xx nor 3xx.
fn statuses(r: &RunResult, s: &mut String) -> fmt::Result {
    let rec = &r.rec;
    if rec.statuses.is_empty() {
        return Ok(());
    }
    let mut st = rec.statuses.clone();
    st.sort_unstable();
    let parts: Vec<String> = st
        .iter()
        .map(|(code, n)| format!("{code}: {}", group(*n)))
        .collect();
    writeln!(s, "statuses:    {}", parts.join("  "))?;
    let bad = rec.non_2xx_3xx();
    if bad > 0 {
        writeln!(
            s,
            "non-2xx/3xx: {} of {} measured",
            group(bad),
            plural(rec.measured, "response", "responses")
        )?;
    }
    Ok(())
}

/// `--targets`: a row per entry: its share of the writes against its weight's, what
/// its requests did in the measurement and their latency.
fn mix(r: &RunResult, s: &mut String) -> fmt::Result {
    let (Some(d), rows) = (&r.mix, r.entry_rows()) else {
        return Ok(());
    };
    writeln!(
        s,
        "entries:     {} from {}, {}{}; the measurement's counts and {} per entry",
        group(d.entries as u64),
        d.file,
        d.order.name(),
        match d.order {
            crate::mix::Order::Random => format!(" (seed {})", d.seed),
            crate::mix::Order::RoundRobin => String::new(),
        },
        match r.mode() {
            Mode::Open { .. } => "corrected latency",
            Mode::Closed => "latency from send",
        }
    )?;
    let lw = rows
        .iter()
        .map(|e| e.label.len())
        .max()
        .unwrap_or(5)
        .clamp(5, 40);
    writeln!(
        s,
        "  {:>3}  {:<lw$}  {:>6}  {:>13}  {:>10}  {:>7}  {:>7}  {:>8}  {:>8}  {:>8}",
        "#",
        "entry",
        "weight",
        "share (asked)",
        "measured",
        "failed",
        "non-2xx",
        "p50",
        "p99",
        "max"
    )?;
    for (i, e) in rows.iter().enumerate() {
        mix_row(i + 1, e, lw, s)?;
    }
    let unsent = r.rec.censored.unsent;
    if unsent > 0 {
        writeln!(
            s,
            "             and {} fell due unsent, before an entry was chosen for {}: in the \
             run's figures only",
            plural(unsent, "request", "requests"),
            if unsent == 1 { "it" } else { "them" }
        )?;
    }
    Ok(())
}

/// Entry `n` of the mix, its label cut to `lw` characters.
fn mix_row(n: usize, e: &crate::mix::EntryRow, lw: usize, s: &mut String) -> fmt::Result {
    let mut label = e.label.clone();
    if label.chars().count() > lw {
        // Cut to the width, marked.
        label = label.chars().take(lw - 1).collect();
        label.push('~');
    }
    let lat = |v: u64| {
        if e.corrected_us == [0; 5] {
            "-".to_string()
        } else {
            fmt_us(v as f64)
        }
    };
    writeln!(
        s,
        "  {:>3}  {:<lw$}  {:>6}  {:>5.1}% ({:>4.1}%)  {:>10}  {:>7}  {:>7}  {:>8}  {:>8}  {:>8}",
        n,
        label,
        group(e.weight),
        100.0 * e.share_sent,
        100.0 * e.share_asked,
        group(e.measured),
        group(e.failed),
        group(e.non_2xx_3xx),
        lat(e.corrected_us[0]),
        lat(e.corrected_us[2]),
        lat(e.corrected_us[4]),
    )
}

/// `--stages`: each stage's target (the mean of its ramp) against what was achieved.
fn stages(r: &RunResult, s: &mut String) -> fmt::Result {
    let stages = r.stage_rows();
    if stages.is_empty() {
        return Ok(());
    }
    let what = if r.load.stages_closed {
        "connections (closed loop)"
    } else {
        "rate (open loop)"
    };
    writeln!(
        s,
        "stages:      {what}: target (mean of the ramp) against achieved, per stage"
    )?;
    for (i, st) in stages.iter().enumerate() {
        let how = if st.measured_s <= 0.0 {
            "in the warm-up, not measured".to_string()
        } else if r.load.stages_closed {
            format!(
                "{:>6} connections (mean)  achieved {:>8}/s",
                whole(st.target_rps()),
                whole(st.achieved_rps())
            )
        } else {
            format!(
                "target {:>8}/s  achieved {:>8}/s ({:.0}%)",
                whole(st.target_rps()),
                whole(st.achieved_rps()),
                100.0 * st.achieved_rps() / st.target_rps().max(1e-9)
            )
        };
        writeln!(
            s,
            "  {}  {:>6} {:>7} -> {:<7}  {how}",
            i + 1,
            fmt_secs(std::time::Duration::from_secs_f64(st.duration_s)),
            whole(st.from_rps),
            whole(st.to_rps)
        )?;
    }
    Ok(())
}

/// The error table (class, detail, count), and what the server answered where a reply
/// was due; a blank line after.
fn errors(r: &RunResult, s: &mut String) -> fmt::Result {
    let rec = &r.rec;
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
    if let Some(a) = rec.answered_instead() {
        writeln!(s, "answered:    {}", a.line(&r.proto()))?;
    }
    writeln!(s)
}

/// The books: every request sent is completed, failed or in flight; the censored ones;
/// a loud warning when they do not balance; the responses measured.
fn books(r: &RunResult, s: &mut String) -> fmt::Result {
    let rec = &r.rec;
    writeln!(s, "requests: {}", super::books_line(rec))?;
    if rec.censored.total() > 0 {
        writeln!(s, "censored: {}", super::censored_line(&rec.censored))?;
    }
    if !rec.books_balance() {
        // Loud on purpose: unbalanced books mean loadgen lost or double-counted a request,
        // so every other number in this report is suspect.
        let rhs = rec.completed as u128 + rec.failed as u128 + rec.in_flight_end as u128;
        // The sum is u128 so that it cannot overflow; past u64 it prints ungrouped.
        let rhs = u64::try_from(rhs).map_or_else(|_| rhs.to_string(), group);
        writeln!(
            s,
            "WARNING: THE BOOKS DO NOT BALANCE: sent {} != {rhs} accounted for; \
             loadgen lost or double-counted requests (a loadgen bug): do not trust this run",
            group(rec.sent)
        )?;
    }
    writeln!(
        s,
        "measured: {} after warm-up",
        plural(rec.measured, "response", "responses")
    )
}

/// Open loop: whether the schedule was kept, with the send lag; when it was not, the
/// rate missed and its cause.
fn schedule(r: &RunResult, s: &mut String) -> fmt::Result {
    let Mode::Open { .. } = r.mode() else {
        return Ok(());
    };
    let send_lag = &r.rec.send_lag;
    let lag = if send_lag.is_empty() {
        "no send lag recorded".to_string()
    } else {
        format!(
            "p99 send lag {}",
            fmt_us(send_lag.value_at_quantile(0.99) as f64)
        )
    };
    match r.schedule() {
        // Nothing measured: no rate to judge (every figure would say it was missed).
        _ if r.stopped_before_measuring().is_some() => {
            writeln!(s, "schedule:    not judged: nothing was measured")
        }
        Some(sc) if !sc.kept => {
            writeln!(
                s,
                "WARNING: rate missed: {} req/s asked, {} req/s achieved ({:.0}%), {} \
                 fell due unsent ({lag})",
                fmt_rate(sc.target_rps),
                fmt_rate(sc.achieved_rps),
                100.0 * sc.achieved_rps / sc.target_rps.max(1e-9),
                plural(sc.unsent, "request", "requests")
            )?;
            if let Some(c) = &sc.cause {
                writeln!(s, "         cause: {c}")?;
            }
            Ok(())
        }
        _ => writeln!(s, "schedule:    kept ({lag})"),
    }
}

/// loadgen's own CPU per request.
fn cpu(r: &RunResult, s: &mut String) -> fmt::Result {
    writeln!(s, "loadgen CPU: {}", super::cpu_line(r))
}

/// The server's own counters, when it published them (`--server-stats`, or the
/// embedded server).
fn server(r: &RunResult, s: &mut String) -> fmt::Result {
    let Some(st) = &r.server_stats else {
        return Ok(());
    };
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
    )
}

/// What puts the figures in doubt, one `WARNING:` line each ([`RunResult::warnings`]).
fn warnings(r: &RunResult, s: &mut String) -> fmt::Result {
    for w in r.warnings() {
        writeln!(s, "WARNING: {w}")?;
    }
    Ok(())
}

/// The `--slo` thresholds, one line each with the value measured, as k6 prints them;
/// an abort first.
fn thresholds(r: &RunResult, s: &mut String) -> fmt::Result {
    if r.thresholds.is_empty() {
        return Ok(());
    }
    writeln!(s)?;
    if let Some(a) = &r.aborted {
        let which: Vec<&str> = a.failed.iter().map(|v| v.threshold.expr.as_str()).collect();
        writeln!(
            s,
            "ABORTED:     after {} measured: {} failed on the data so far (--abort-on-fail)",
            fmt_secs(a.after),
            which.join(", ")
        )?;
    }
    let failed = r.thresholds.iter().filter(|v| !v.pass).count();
    writeln!(
        s,
        "thresholds:  {}",
        if failed == 0 {
            "all passed".to_string()
        } else {
            format!("{failed} of {} FAILED", r.thresholds.len())
        }
    )?;
    let w = r
        .thresholds
        .iter()
        .map(|v| v.threshold.expr.len())
        .max()
        .unwrap_or(0);
    for v in &r.thresholds {
        writeln!(
            s,
            "  {} {:<w$}  measured {:>10}",
            if v.pass { "pass" } else { "FAIL" },
            v.threshold.expr,
            v.measured_text()
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Recorder;
    use crate::report::fixtures::{closed, hist, open};

    /// Digit runs of four or more in `t` that are not grouped (`1,234`): every count
    /// and rate of the report is. Not counts: digits after `:` (a port) or `.` (a
    /// fraction), a number with a fraction (`1234.56 MB/s`), a sysctl's setting in ms
    /// (`1000 ms`), and a flag's value as the report suggests it (`-c 1500`,
    /// `--max-connections 1500`): those must stay typeable.
    fn ungrouped(t: &str) -> Vec<String> {
        let mut found = Vec::new();
        for line in t.lines() {
            let b = line.as_bytes();
            let mut i = 0;
            while i < b.len() {
                if !b[i].is_ascii_digit() {
                    i += 1;
                    continue;
                }
                let start = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                let before = &line[..start];
                let not_a_count = before.ends_with([':', '.'])
                    || line[i..].starts_with('.')
                    || line[i..].starts_with(" ms")
                    || before.ends_with("-c ")
                    || before.ends_with("--max-connections ");
                if i - start >= 4 && !not_a_count {
                    found.push(format!("{} in {line:?}", &line[start..i]));
                }
            }
        }
        found
    }

    /// A long run at 20,000 req/s over 15,000 connections: every count has 4 digits
    /// or more, and every warning the report can give is given.
    fn big() -> RunResult {
        let mut r = open();
        r.load.rate = Some(20_000.0);
        r.load.connections = 15_000;
        r.load.max_connections = Some(20_000);
        r.connections_peak = 18_000;
        r.load.threads = 1_200;
        r.load.pipeline = 1_024;
        r.load.per_conn = Some(10_000);
        r.duration = std::time::Duration::from_secs(100);
        r.ports.ports = Some(28_232);
        r.ports.tw_reuse = Some(1);
        let rec = &mut r.rec;
        rec.corrected = hist(&[(1000, 1_440_000)]);
        rec.raw = hist(&[(800, 1_440_000)]);
        rec.connect = hist(&[(100, 12_000)]);
        rec.sent = 1_443_956;
        rec.completed = 1_443_900;
        rec.measured = 1_440_000;
        rec.failed = 6;
        rec.in_flight_end = 50;
        rec.connects_ok = 12_000;
        rec.connects_tried = 12_345;
        rec.statuses = vec![(200, 1_439_990), (503, 1_010)];
        rec.censored.unsent = 2_000;
        rec.censored.at_end = 1_000;
        rec.censored.timed_out = 1_500;
        for _ in 0..5_000 {
            rec.error(crate::record::ErrorClass::Connect, "EADDRNOTAVAIL");
        }
        r.server_stats = Some(serde_json::json!({
            "active": 12_000, "peak_active": 15_000, "accepted": 15_000,
            "rejected": 1_000, "requests": 2_000_000
        }));
        r.load.stages = Some(std::sync::Arc::new(crate::schedule::Profile::new(&[
            (std::time::Duration::from_secs(50), 20_000.0),
            (std::time::Duration::from_secs(51), 20_000.0),
        ])));
        r.rec.stage_done = vec![500_000, 940_000];
        r.thresholds = crate::slo::Slo::parse("rps>20k")
            .expect("a threshold")
            .check(&r.figures());
        r
    }

    #[test]
    fn test_text_groups_every_count() {
        let r = big();
        let t = text(&r);
        assert!(
            t.contains(
                "requests: sent 1,443,956 = completed 1,443,900 + failed 6 + in flight 50\n"
            ),
            "{t}"
        );
        assert!(t.contains("connections: 15,000 "), "{t}");
        assert_eq!(ungrouped(&t), Vec::<String>::new(), "{t}");
        // Unbalanced books; too few connections, with and without --max-connections.
        let mut r = big();
        r.rec.sent += 1;
        let t = text(&r);
        assert!(
            t.contains("sent 1,443,957 != 1,443,956 accounted for"),
            "{t}"
        );
        r.connections_peak = 15_000;
        r.load.max_connections = None;
        r.rec.raw = hist(&[(1_000_000, 1_440_000)]);
        let t = text(&r);
        assert!(t.contains("use about -c 300"), "{t}");
        assert_eq!(ungrouped(&t), Vec::<String>::new(), "{t}");
        r.load.max_connections = Some(15_000);
        let t = text(&r);
        assert!(t.contains("use about --max-connections 300"), "{t}");
        assert_eq!(ungrouped(&t), Vec::<String>::new(), "{t}");
        // -n, and closed-loop stages.
        r.load.requests = Some(2_000_000);
        r.load.stages_closed = true;
        r.load.rate = None;
        assert_eq!(ungrouped(&text(&r)), Vec::<String>::new());
    }

    /// A run where every counted thing is one: each is named in the singular.
    #[test]
    fn test_text_uses_the_singular_for_one() {
        let mut r = open();
        r.load.per_conn = Some(1);
        // 1,000 req/s at a mean raw latency of 1 ms over one connection: Little's law
        // wants 1 request in flight, and one connection is too few for it.
        r.load.rate = Some(1_000.0);
        r.load.connections = 1;
        r.connections_peak = 1;
        r.rec.raw = hist(&[(1000, 1)]);
        r.rec.corrected = hist(&[(1000, 1)]);
        r.rec.measured = 1;
        r.rec.completed = 1;
        r.rec.statuses = vec![(503, 1)];
        r.rec.censored.unsent = 1;
        r.rec.errors.clear();
        r.rec
            .error(crate::record::ErrorClass::Connect, "EADDRNOTAVAIL");
        r.ports.ports = Some(1);
        r.server_stats.as_mut().expect("the fixture's")["requests"] = 0.into();
        r.mix = Some(
            crate::mix::Mix {
                entries: vec![crate::mix::Entry {
                    label: "GET /a".into(),
                    weight: 1,
                    bytes: Vec::new(),
                    head: false,
                }],
                order: crate::mix::Order::RoundRobin,
                seed: 1,
            }
            .describe("mix.txt"),
        );
        r.rec.entries = vec![Default::default()];
        let t = text(&r);
        for want in [
            "connections: 1 (reopened after every request)\n",
            "non-2xx/3xx: 1 of 1 response measured\n",
            "measured: 1 response after warm-up\n",
            "1 request fell due unsent (",
            "and 1 request fell due unsent, before an entry was chosen for it:",
            "needs 1 request in flight",
            "loadgen counted 1 reply but the server answered 0 requests",
            "out of ephemeral ports: 1 connect failed with EADDRNOTAVAIL",
            "about 1 port x 1 source address",
            "1 connection from one source address passes half the 1 ephemeral port,",
        ] {
            assert!(t.contains(want), "no {want:?} in\n{t}");
        }
        for plural in [
            "1 requests",
            "1 responses",
            "1 replies",
            "1 connects",
            "1 ports",
        ] {
            assert!(!t.contains(plural), "{plural:?} in\n{t}");
        }
        // The HTML report and the plot say the same.
        let missed = crate::report::rate_missed(&r).expect("missed");
        assert!(missed.contains(", 1 request fell due unsent"), "{missed}");
        let page = crate::report::html(&r, &Default::default()).expect("html");
        for want in [
            "1 (reopened after every request)",
            "1 response after the warm-up",
            "1 of 1 response measured",
            "1 entry from mix.txt",
        ] {
            assert!(page.contains(want), "no {want:?} in the page");
        }
        let svg = crate::report::svg_string(&r, crate::report::LatencyAxis::Linear).expect("svg");
        assert!(svg.contains("1 latency recorded"), "{svg}");
        assert!(svg.contains("req/s, 1 connection\n</text>"), "{svg}");
    }

    #[test]
    fn test_text_says_an_interrupted_warm_up_measured_nothing() {
        use crate::result::Interrupted;
        use std::time::Duration;
        let mut r = open();
        r.rec = Recorder::default();
        r.duration = Duration::ZERO;
        r.interrupted = Some(Interrupted {
            signal: 2,
            planned: Duration::from_secs(2),
            warmup_ran: Duration::from_millis(400),
        });
        let t = text(&r);
        assert!(
            t.contains("duration:    nothing measured: the warm-up was interrupted after 0.4s of its 1.0s\n"),
            "{t}"
        );
        assert!(t.contains("INTERRUPTED: by SIGINT in the warm-up: nothing was measured\n"));
        assert!(
            t.contains("schedule:    not judged: nothing was measured\n"),
            "{t}"
        );
        assert!(
            !t.contains("measured after") && !t.contains("rate missed"),
            "{t}"
        );
        r.load.requests = Some(500);
        assert!(text(&r).contains(
            "requests:    500 asked (-n); nothing measured: the warm-up was interrupted after 0.4s"
        ));
        // Stopped before the warm-up began.
        r.load.requests = None;
        r.connect_phase = None;
        r.interrupted = r.interrupted.map(|i| Interrupted {
            warmup_ran: Duration::ZERO,
            ..i
        });
        let t = text(&r);
        assert!(t.contains("duration:    nothing measured: interrupted while the connections were being opened, before the warm-up\n"), "{t}");
        // After the warm-up, in the measurement: what was measured, as before.
        r.connect_phase = Some(Duration::from_millis(3));
        r.duration = Duration::from_millis(500);
        r.interrupted = r.interrupted.map(|i| Interrupted {
            warmup_ran: Duration::from_secs(1),
            ..i
        });
        let t = text(&r);
        assert!(t.contains("duration:    0.5s measured after 1.0s warm-up (discarded)\n"));
        assert!(t.contains("INTERRUPTED: by SIGINT after 0.5s of the 2.0s asked for: the figures cover what was measured\n"), "{t}");
    }

    /// `--stages 10s:10k,10s:0`: the rate changes, so the mode line gives the mean of
    /// the measurement and its peak, never one rate as if it were held.
    #[test]
    fn test_text_stages_mode_says_mean_and_peak() {
        use std::time::Duration;
        let mut r = open();
        r.load.stages = Some(std::sync::Arc::new(crate::schedule::Profile::new(&[
            (Duration::from_secs(10), 10_000.0),
            (Duration::from_secs(10), 0.0),
        ])));
        r.load.warmup = Duration::ZERO;
        r.duration = Duration::from_secs(20);
        r.load.rate = Some(5_000.0);
        let t = text(&r);
        assert!(
            t.contains("mode:        open loop, stages: mean 5,000 req/s, peak 10,000 req/s\n"),
            "{t}"
        );
        // A warm-up of 15 s: the measurement ramps down from 5,000 to 0 req/s.
        r.load.warmup = Duration::from_secs(15);
        r.duration = Duration::from_secs(5);
        r.load.rate = Some(2_500.0);
        let t = text(&r);
        assert!(
            t.contains("mode:        open loop, stages: mean 2,500 req/s, peak 5,000 req/s\n"),
            "{t}"
        );
        let page = crate::report::html(&r, &Default::default()).expect("html");
        assert!(page.contains("open loop, stages: mean 2,500 req/s, peak 5,000 req/s"));
        let svg = crate::report::svg_string(&r, crate::report::LatencyAxis::Linear).expect("svg");
        assert!(svg.contains(" - stages: mean 2,500 req/s, peak 5,000 req/s, 4 connections"));
    }

    #[test]
    fn test_text_says_how_many_connections_were_added() {
        let mut r = open();
        assert!(!text(&r).contains("grew to"));
        r.load.max_connections = Some(400);
        let t = text(&r);
        assert!(
            t.contains(
                "             stayed at 4 of at most 400 (--max-connections; none added: rate x \
                 mean latency never needed more)\n"
            ),
            "{t}"
        );
        assert!(!t.contains("grew"), "none added: nothing grew\n{t}");
        r.connections_peak = 5;
        assert!(text(&r).contains("grew to 5 of at most 400 (--max-connections; added 1: "));
        r.connections_peak = 130;
        assert!(text(&r).contains("grew to 130 of at most 400 (--max-connections; added 126"));
    }

    #[test]
    fn test_text_has_a_row_per_entry_of_a_mix() {
        let mut r = open();
        assert!(!text(&r).contains("entries:"));
        let e = |label: &str, weight| crate::mix::Entry {
            label: label.into(),
            weight,
            bytes: Vec::new(),
            head: false,
        };
        let mix = crate::mix::Mix {
            entries: vec![e("GET /a", 3), e("POST /b", 1)],
            order: crate::mix::Order::RoundRobin,
            seed: 1,
        };
        r.mix = Some(mix.describe("mix.txt"));
        r.rec.entries = vec![Default::default(), Default::default()];
        r.rec.entries[0].sent = 300;
        r.rec.entries[0].reply(2000, 1000, Some(200));
        r.rec.entries[1].sent = 100;
        r.rec.entries[1].failed = 4;
        let t = text(&r);
        assert!(
            t.contains(
                "entries:     2 from mix.txt, round-robin; the measurement's counts and \
                 corrected latency per entry"
            ),
            "{t}"
        );
        let row_a = t.lines().find(|l| l.contains("GET /a")).expect("row a");
        assert!(
            row_a.contains("75.0% (75.0%)") && row_a.contains("2.0"),
            "{row_a}"
        );
        let row_b = t.lines().find(|l| l.contains("POST /b")).expect("row b");
        assert!(
            row_b.contains("25.0% (25.0%)") && row_b.contains("   4  "),
            "{row_b}"
        );
        assert!(
            row_b.trim_end().ends_with('-'),
            "no latency without replies: {row_b}"
        );
        assert!(!t.contains("before an entry was chosen"));
        r.rec.censored.unsent = 7;
        assert!(text(&r).contains("and 7 requests fell due unsent, before an entry was chosen"));
    }

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
        assert!(t.contains("requests: sent 1,010 = completed 1,003 + failed 2 + in flight 5\n"));
        assert!(!t.contains("BOOKS DO NOT BALANCE"));
        assert!(
            t.contains("connect:     p50 100us  p99 300us  max 300us  (of 4 after the warm-up; 4 connected of 5 attempted in the whole run)"),
            "{t}"
        );
        assert!(t.contains("statuses:    200: 998  503: 2\n"));
        assert!(t.contains("non-2xx/3xx: 2 of "), "{t}");
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

    /// Issue 17, item 4: the phases block, p50/p90/p99/max and count per phase; no TLS
    /// row until a handshake is timed.
    #[test]
    fn test_text_phases_block_and_tls_only_when_timed() {
        let mut r = open();
        let t = text(&r);
        assert!(
            t.contains("phases           p50       p90       p99       max      count\n"),
            "{t}"
        );
        assert!(
            t.contains("  ttfb         600us     600us    1.20ms    3.50ms      1,000\n"),
            "{t}"
        );
        assert!(t.contains("  connect      100us     300us     300us     300us          4\n"));
        assert!(t.contains("  transfer     200us"));
        assert!(!t.contains("  tls "));
        crate::record::record_us(&mut r.rec.phases.tls_handshake, 2_000);
        assert!(
            text(&r).contains("  tls         2.00ms    2.00ms    2.00ms    2.00ms          1\n")
        );
        // Nothing timed at all: no block.
        r.rec.phases = Default::default();
        assert!(!text(&r).contains("phases"));
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
            ["latency", "from", "send"],
            "one title, not `latency latency`"
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
        assert!(t.contains("requests: sent 1,011 = completed 1,003 + failed 2 + in flight 5\n"));
        assert!(t.contains("WARNING: THE BOOKS DO NOT BALANCE: sent 1,011 != 1,010"));
    }

    #[test]
    fn test_text_and_json_warn_when_the_server_disagrees_with_the_books() {
        let mut r = open();
        // 1,003 answered by the server for 1,010 sent and 1,003 completed: consistent.
        assert!(r.server_gap().is_none());
        assert!(!text(&r).contains("WARNING: the server"));
        // A server that counted more requests than were sent.
        r.server_stats.as_mut().unwrap()["requests"] = 2020.into();
        let t = text(&r);
        assert!(
            t.contains("WARNING: the server counted 2,020 requests but loadgen sent 1,010"),
            "{t}"
        );
        assert_eq!(
            crate::report::json(&r)["warnings"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        // Replies beyond what the server answered.
        r.server_stats.as_mut().unwrap()["requests"] = 500.into();
        assert!(text(&r).contains("some replies belong to no request"));
    }

    #[test]
    fn test_text_warns_when_behind_schedule() {
        let mut r = open();
        // 4 connections at 500 req/s: 8 ms between requests of a connection; a p99 lag of
        // 5 ms is over both 1 ms and 10% of that.
        r.rec.send_lag = hist(&[(5000, 100)]);
        assert_eq!(r.behind_schedule(), Some(true));
        let t = text(&r);
        assert!(t.contains("WARNING: rate missed: "), "{t}");
        assert!(t.contains("(p99 send lag 5.00ms)"), "{t}");
        assert!(t.contains("         cause: "), "{t}");
        assert!(!t.contains("schedule:    kept"));
    }

    #[test]
    fn test_port_knee_suggests_source_addresses() {
        let mut r = open();
        r.ports.ports = Some(28_232);
        r.load.connections = 19_000;
        r.connect_phase = Some(std::time::Duration::from_secs(12));
        let w = r.port_knee().expect("past half the range");
        assert!(w.contains("pass half the 28,232 ephemeral ports"), "{w}");
        assert!(w.contains("opening them took 12.0 s"), "{w}");
        assert!(w.contains("--source 127.0.0.1-127.0.0.3"), "{w}");
        let t = text(&r);
        assert!(
            t.contains("WARNING: 19,000 connections from one source"),
            "{t}"
        );
        r.ports.sources = 4;
        assert!(r.port_knee().is_none(), "already several sources");
        r.ports.sources = 0;
        r.load.connections = 14_000;
        assert!(r.port_knee().is_none(), "below half the range");
    }

    #[test]
    fn test_a_few_unsent_at_the_end_are_not_a_missed_rate() {
        let mut r = open();
        assert!(r.schedule().unwrap().kept);
        // 500/s at a mean raw latency near 0.9 ms: about 0.45 in flight, so up to 2
        // may fall due behind them at the end (1 more than 0.1% of the 1,000 due).
        r.rec.censored.unsent = 2;
        assert!(r.schedule().unwrap().kept);
        // One more: the rate was missed.
        r.rec.censored.unsent += 1;
        let sc = r.schedule().unwrap();
        assert!(!sc.kept, "{} unsent", sc.unsent);
        assert!(text(&r).contains("WARNING: rate missed: "));
        // A short step at a low rate (a search's): 250/s for 2 s at 5 ms, 500 due.
        // 0.1% of them is 0, but one left behind a reply at the end is the boundary.
        r.load.rate = Some(250.0);
        r.rec.raw = crate::report::fixtures::hist(&[(5000, 500)]);
        r.rec.measured = 500;
        r.rec.censored.unsent = 1;
        assert!(r.schedule().unwrap().kept, "one unsent of 500 at the end");
        r.rec.censored.unsent = 4;
        assert!(!r.schedule().unwrap().kept);
    }

    #[test]
    fn test_censored_line_says_how_many_unsent_were_the_run_s_end() {
        let mut r = open();
        r.rec.censored.unsent = 3;
        r.rec.censored.at_end = 1;
        let t = text(&r);
        assert!(
            t.contains("unsent 3, 1 of them at the run's end, not errors)"),
            "{t}"
        );
        r.rec.censored.at_end = 0;
        assert!(text(&r).contains("unsent 3), oldest"));
    }

    #[test]
    fn test_rate_missed_names_its_cause() {
        // 60,000 req/s asked, 500 achieved, 4 connections at a mean latency near 0.9 ms:
        // Little's law wants about 52 in flight.
        let mut r = open();
        r.load.rate = Some(60_000.0);
        let sc = r.schedule().unwrap();
        assert!(!sc.kept);
        assert_eq!(sc.achieved_rps, 500.0);
        let cause = sc.cause.unwrap();
        assert!(cause.starts_with("too few connections"), "{cause}");
        assert!(
            cause.contains("Little's law") && cause.contains("use about -c "),
            "{cause}"
        );
        let t = text(&r);
        assert!(
            t.contains("WARNING: rate missed: 60,000 req/s asked, 500 req/s achieved (1%)"),
            "{t}"
        );
        // The generator at 97% of its two threads: its own CPU is the cause.
        r.cpu.user_s = 3.9;
        let cause = r.schedule().unwrap().cause.unwrap();
        assert!(
            cause.starts_with("the generator's own CPU (98% of its 2 threads)"),
            "{cause}"
        );
        // Requests that fell due unsent miss the schedule even at the rate.
        let mut r = open();
        r.rec.censored.unsent = 3;
        assert!(!r.schedule().unwrap().kept);
        assert_eq!(crate::report::json(&r)["schedule"]["unsent"], 3);
        assert_eq!(crate::report::json(&r)["behind_schedule"], true);
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

    #[test]
    fn test_text_tls_lines_say_unverified() {
        let t = text(&super::super::fixtures::over_tls(false));
        assert!(t.contains("tls:         TLSv1.3 TLS13_AES_128_GCM_SHA256 X25519, ALPN http/1.1; certificate CN=localhost (UNVERIFIED (--insecure))"), "{t}");
        assert!(
            t.contains("handshakes:  3 full, 97 resumed, 0 failed"),
            "{t}"
        );
        assert!(!text(&super::super::fixtures::closed()).contains("handshakes:"));
    }
}
