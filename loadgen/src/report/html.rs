//! The HTML report of a run ([`html`], [`write_html`]): one self-contained file with the
//! summary, the latency plots, the run over time, errors, statuses, thresholds, the
//! command line and the machine; and the page every HTML report shares (its CSS, the
//! escaping, the linear/log switch), which the comparison page uses too.
//!
//! Self-contained means a file that can be mailed or archived and opened anywhere,
//! years later, offline: the CSS is inline, the plots are inline SVG, there is no script,
//! and a Content-Security-Policy forbids loading anything at all. Every text that comes
//! from the user or the network (the target, the command line, error details) is
//! escaped.
//!
//! The page is its `SECTIONS`, one function each, named as the text and JSON reports'
//! sections; the summary table is the rows of several of them (`SUMMARY`).

use super::machine::Machine;
use super::svg::{svg_string, LatencyAxis};
use super::timeline::{p99_svg, throughput_svg};
use super::{
    interrupted_by, latency_cell, latency_rows, measured_span, rate_missed, sorted_errors,
    PHASE_COLUMNS,
};
use crate::fmt::{fmt_rate, fmt_secs, fmt_unix_utc, fmt_us, group, plural};
use crate::result::{Mode, RunResult};
use std::fmt::Write as _;
use std::io::{self, Write};

/// What the HTML report shows that a [`RunResult`] does not hold: how loadgen was
/// invoked, the machine, and the thresholds checked against the run.
#[derive(Clone, Debug, Default)]
pub struct HtmlContext {
    /// The command line, as a shell would take it back.
    pub command_line: String,
    /// The machine the run ran on.
    pub machine: Machine,
    /// The thresholds checked against this run, in the order given; empty when none
    /// were given (the report says so).
    pub thresholds: Vec<ThresholdRow>,
}

/// One threshold and how the run fared against it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThresholdRow {
    /// The threshold as given (`p99 < 5ms`).
    pub expr: String,
    /// What the run measured for it (`3.21ms`).
    pub measured: String,
    /// Whether the run passed it.
    pub pass: bool,
}

/// `s` safe as HTML text and inside a quoted attribute: `& < > " '` escaped.
pub(super) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The CSS of every HTML report. The linear/log switch is two radio buttons and
/// sibling selectors: no script.
const CSS: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#222;background:#fff;\
max-width:1000px;margin:0 auto;padding:12px 24px 40px;line-height:1.4}\
h1{font-size:1.5em;margin:.4em 0 .1em}\
h2{font-size:1.15em;margin:1.6em 0 .5em;padding-bottom:3px;border-bottom:1px solid #ddd}\
p.sub{color:#555;margin:0 0 1em}\
table{border-collapse:collapse;margin:.4em 0}\
th,td{padding:3px 12px 3px 0;border-bottom:1px solid #eee;text-align:left;vertical-align:top}\
th{font-weight:600;color:#444;white-space:nowrap}\
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;padding-left:12px}\
.warn{color:#b00000;font-weight:600}\
.pass{color:#087a08;font-weight:600}.fail{color:#b00000;font-weight:600}\
.muted{color:#666}\
pre{background:#f5f5f5;padding:8px 10px;white-space:pre-wrap;word-break:break-all;border-radius:3px}\
svg{max-width:100%;height:auto;display:block}section svg{width:100%}\
.scale label{margin-right:1.2em;cursor:pointer}\
.scale .plot.log{display:none}\
.scale input.log:checked~.plot.lin{display:none}\
.scale input.log:checked~.plot.log{display:block}\
footer{margin-top:2em;color:#777;font-size:.9em}";

/// A whole page: `title` and `body` (already HTML), with the CSS, and a policy that no
/// browser will fetch anything for it.
pub(super) fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\
         <footer>written by loadgen {}</footer>\n</body>\n</html>\n",
        escape(title),
        env!("CARGO_PKG_VERSION")
    )
}

/// Two plots of the same data, linear and log latency axis, with a switch between them
/// (linear shown first). `name` keeps the radio buttons of different switches apart.
pub(super) fn scale_switch(name: &str, linear_svg: &str, log_svg: &str) -> String {
    format!(
        "<div class=\"scale\">\n\
         <input type=\"radio\" name=\"{name}\" id=\"{name}-lin\" checked>\
         <label for=\"{name}-lin\">linear latency axis</label>\n\
         <input type=\"radio\" name=\"{name}\" id=\"{name}-log\" class=\"log\">\
         <label for=\"{name}-log\">log latency axis</label>\n\
         <div class=\"plot lin\">\n{linear_svg}</div>\n<div class=\"plot log\">\n{log_svg}</div>\n</div>\n"
    )
}

/// A two-column table of (name, value) rows, both escaped.
fn facts_table(rows: &[(&str, String)]) -> String {
    let mut s = String::from("<table>\n");
    for (k, v) in rows {
        let _ = writeln!(s, "<tr><th>{}</th><td>{}</td></tr>", escape(k), escape(v));
    }
    s.push_str("</table>\n");
    s
}

/// One section of the page: its markup appended to `b`. The error is the plots'
/// (plotters failing to draw, which it does not into a String); writing into a String
/// cannot fail.
type Section = fn(&RunResult, &HtmlContext, &mut String) -> io::Result<()>;

/// The sections of the page, in order. Those of a run have the names of the text and
/// JSON reports' sections; the summary table gathers several of them ([`SUMMARY`]).
const SECTIONS: &[Section] = &[
    title, summary, latency, phases, tls, timeline, errors, statuses, mix, segments, thresholds,
    command, machine,
];

/// Some rows of the summary table, the (name, value) pairs of one section.
type Rows = fn(&RunResult, &mut Vec<(&'static str, String)>);

/// The summary table's rows, by section, in order.
const SUMMARY: &[Rows] = &[header, books, schedule, connects, cpu];

/// The HTML report of `r` with `ctx`: one self-contained page (see the module doc).
/// The error is the plots': plotters failing to draw (it does not, into a String).
///
/// ```
/// # use loadgen::report::{html, HtmlContext, Machine};
/// # fn check(r: &loadgen::result::RunResult) -> std::io::Result<()> {
/// let ctx = HtmlContext {
///     command_line: "loadgen -d 10s --html run.html".into(),
///     machine: Machine::read(),
///     thresholds: vec![],
/// };
/// let page = html(r, &ctx)?;
/// assert!(page.contains("no thresholds given"));
/// # Ok(()) }
/// ```
pub fn html(r: &RunResult, ctx: &HtmlContext) -> io::Result<String> {
    let mut b = String::new();
    for section in SECTIONS {
        section(r, ctx, &mut b)?;
    }
    Ok(page(&format!("loadgen: {}", r.target), &b))
}

/// Writes [`html`] to `w`.
pub fn write_html<W: Write>(r: &RunResult, ctx: &HtmlContext, w: &mut W) -> io::Result<()> {
    w.write_all(html(r, ctx)?.as_bytes())
}

/// The heading: the target, how long was measured and when the run started.
fn title(r: &RunResult, _: &HtmlContext, b: &mut String) -> io::Result<()> {
    let when = r
        .started_unix_s
        .map(|t| format!(", started {}", fmt_unix_utc(t)))
        .unwrap_or_default();
    let _ = writeln!(b, "<h1>loadgen: {}</h1>", escape(&r.target));
    let _ = writeln!(
        b,
        "<p class=\"sub\">{} measured{}</p>",
        escape(&fmt_secs(r.duration)),
        escape(&when)
    );
    Ok(())
}

/// The summary table ([`SUMMARY`]'s rows), then the warnings.
fn summary(r: &RunResult, _: &HtmlContext, b: &mut String) -> io::Result<()> {
    let mut rows = Vec::new();
    for section in SUMMARY {
        section(r, &mut rows);
    }
    let _ = writeln!(
        b,
        "<section id=\"summary\">\n<h2>Summary</h2>\n{}",
        facts_table(&rows)
    );
    warnings(r, b);
    b.push_str("</section>\n");
    Ok(())
}

/// What was run, what was measured, and the throughput.
fn header(r: &RunResult, rows: &mut Vec<(&'static str, String)>) {
    let embedded = if r.embedded() {
        " (embedded readyloop server)"
    } else {
        ""
    };
    rows.push(("target", format!("{}{embedded}", r.target)));
    if let Some(run) = super::segments::identity_line(r) {
        rows.push(("run", run));
    }
    rows.push(("proto", r.proto().clone()));
    rows.push(("mode", super::pacing(r)));
    rows.push(("connections", super::connections_line(r)));
    rows.push(("threads", group(r.load.threads() as u64)));
    rows.push((
        "duration",
        if r.stopped_before_measuring().is_some() {
            measured_span(r)
        } else {
            format!("{} (discarded)", measured_span(r))
        },
    ));
    rows.push(("throughput", super::throughput_line(r)));
}

/// The books, the responses measured and the censored requests.
fn books(r: &RunResult, rows: &mut Vec<(&'static str, String)>) {
    let rec = &r.rec;
    rows.push(("requests", super::books_line(rec)));
    rows.push((
        "measured",
        format!(
            "{} after the warm-up",
            plural(rec.measured, "response", "responses")
        ),
    ));
    rows.push(("censored", super::censored_line(&rec.censored)));
}

/// Open loop: whether the schedule was kept.
fn schedule(r: &RunResult, rows: &mut Vec<(&'static str, String)>) {
    if let Some(sc) = r.schedule() {
        rows.push((
            "schedule",
            format!(
                "{}: {} req/s asked, {} achieved",
                if sc.kept { "kept" } else { "missed" },
                fmt_rate(sc.target_rps),
                fmt_rate(sc.achieved_rps)
            ),
        ));
    }
}

/// How long opening the connections took.
fn connects(r: &RunResult, rows: &mut Vec<(&'static str, String)>) {
    if let Some(d) = r.connect_phase {
        rows.push((
            "connecting",
            format!("{} before the warm-up (not measured)", fmt_secs(d)),
        ));
    }
}

/// loadgen's own CPU per request.
fn cpu(r: &RunResult, rows: &mut Vec<(&'static str, String)>) {
    rows.push(("loadgen CPU", super::cpu_line(r)));
}

/// Loud, as in the text report: each of these puts the numbers of the summary in doubt.
fn warnings(r: &RunResult, b: &mut String) {
    let rec = &r.rec;
    let mut warnings = Vec::new();
    if let Some(i) = r.interrupted {
        warnings.push(format!("INTERRUPTED {}", interrupted_by(r, i)));
    }
    if !rec.books_balance() {
        warnings.push(format!(
            "THE BOOKS DO NOT BALANCE: sent {} != {} accounted for; loadgen lost or double-counted \
             requests (a loadgen bug): do not trust this run",
            rec.sent,
            rec.completed as u128 + rec.failed as u128 + rec.in_flight_end as u128
        ));
    }
    warnings.extend(rate_missed(r));
    warnings.extend(r.warnings());
    for w in warnings {
        let _ = writeln!(b, "<p class=\"warn\">WARNING: {}</p>", escape(&w));
    }
}

/// The percentile table (two columns in open loop, one in closed loop) and the
/// latency-by-percentile plot, linear and log.
fn latency(r: &RunResult, _: &HtmlContext, b: &mut String) -> io::Result<()> {
    let rec = &r.rec;
    b.push_str("<section id=\"latency\">\n<h2>Latency by percentile</h2>\n");
    if rec.corrected.is_empty() && rec.raw.is_empty() {
        b.push_str("<p>no responses measured</p>\n");
    } else if let Some(line) = super::censored_only(rec) {
        let _ = writeln!(
            b,
            "<p class=\"warn\">{} (the plot draws them)</p>",
            escape(&line)
        );
    } else {
        latency_table(r, b);
    }
    b.push_str(&scale_switch(
        "latency-axis",
        &svg_string(r, LatencyAxis::Linear)?,
        &svg_string(r, LatencyAxis::Log)?,
    ));
    b.push_str("</section>\n");
    Ok(())
}

/// The percentile table: corrected, and raw beside it in open loop.
fn latency_table(r: &RunResult, b: &mut String) {
    let rec = &r.rec;
    let open = matches!(r.mode(), Mode::Open { .. });
    b.push_str("<table>\n<tr><th></th>");
    if open {
        b.push_str("<th class=\"n\">corrected (from schedule)</th><th class=\"n\">raw (from send)</th></tr>\n");
    } else {
        b.push_str("<th class=\"n\">from send</th></tr>\n");
    }
    for (label, q) in latency_rows() {
        let _ = write!(
            b,
            "<tr><th>{label}</th><td class=\"n\">{}</td>",
            latency_cell(&rec.corrected, q)
        );
        if open {
            let _ = write!(b, "<td class=\"n\">{}</td>", latency_cell(&rec.raw, q));
        }
        b.push_str("</tr>\n");
    }
    let _ = write!(
        b,
        "<tr><th>count</th><td class=\"n\">{}</td>",
        group(rec.corrected.len())
    );
    if open {
        let _ = write!(b, "<td class=\"n\">{}</td>", group(rec.raw.len()));
    }
    b.push_str("</tr>\n</table>\n");
}

/// Every phase timed apart ([`crate::phases`]): a row each, p50, p90, p99, max and
/// count, and what it times; the TLS handshake only when one was timed.
fn phases(r: &RunResult, _: &HtmlContext, b: &mut String) -> io::Result<()> {
    let p = &r.rec.phases;
    b.push_str("<section id=\"phases\">\n<h2>Phases</h2>\n<table>\n<tr><th></th>");
    for (label, _) in PHASE_COLUMNS {
        let _ = write!(b, "<th class=\"n\">{label}</th>");
    }
    b.push_str("<th class=\"n\">count</th><th>from, to</th></tr>\n");
    for (phase, h) in p.shown() {
        let _ = write!(b, "<tr><th>{}</th>", phase.label());
        for (_, q) in PHASE_COLUMNS {
            let _ = write!(b, "<td class=\"n\">{}</td>", latency_cell(h, q));
        }
        let _ = writeln!(
            b,
            "<td class=\"n\">{}</td><td>{}</td></tr>",
            group(h.len()),
            escape(phase.meaning())
        );
    }
    b.push_str("</table>\n</section>\n");
    Ok(())
}

/// Over TLS: what was negotiated, the certificate (UNVERIFIED in bold with
/// `--insecure`), the handshakes full, resumed and failed.
fn tls(r: &RunResult, _: &HtmlContext, b: &mut String) -> io::Result<()> {
    let Some(t) = &r.tls else {
        return Ok(());
    };
    let p = &t.peer;
    b.push_str("<section id=\"tls\">\n<h2>TLS</h2>\n<table>\n");
    let mut row = |k: &str, v: &str| {
        let _ = writeln!(b, "<tr><th>{k}</th><td>{v}</td></tr>");
    };
    row("version", &escape(&p.version));
    row("cipher suite", &escape(&p.cipher));
    row("key exchange", &escape(&p.kx));
    row("ALPN", &escape(p.alpn.as_deref().unwrap_or("none")));
    row("certificate", &escape(&p.subject));
    row("issuer", &escape(&p.issuer));
    row(
        "expires",
        &escape(&format!("{} ({} days)", p.not_after, p.days_left)),
    );
    let trust = if p.verified {
        "verified".to_string()
    } else {
        "<strong>UNVERIFIED</strong> (--insecure: anyone could be at the other end)".to_string()
    };
    row("verification", &trust);
    row("handshakes", &escape(&t.handshakes_line()));
    b.push_str("</table>\n</section>\n");
    Ok(())
}

/// Throughput and p99 per second, from the interval log's intervals.
fn timeline(r: &RunResult, _: &HtmlContext, b: &mut String) -> io::Result<()> {
    let _ = writeln!(
        b,
        "<section id=\"timeline\">\n<h2>Over time</h2>\n\
         <p class=\"muted\">One point per interval of the interval log: the latencies recorded \
         in it (responses plus requests censored in it) per second, and their corrected p99.</p>\n\
         {}{}</section>",
        throughput_svg(r)?,
        p99_svg(r)?
    );
    Ok(())
}

/// The error table (details escaped: they may come from the network), and what the
/// server answered where a reply was due.
fn errors(r: &RunResult, _: &HtmlContext, b: &mut String) -> io::Result<()> {
    b.push_str("<section id=\"errors\">\n<h2>Errors</h2>\n");
    let errors = sorted_errors(&r.rec.errors);
    if errors.is_empty() {
        b.push_str("<p>none</p>\n");
    } else {
        let _ = writeln!(
            b,
            "<p>{} in all (whole run, warm-up included)</p>\n<table>\n\
             <tr><th>class</th><th>detail</th><th class=\"n\">count</th></tr>",
            group(r.rec.error_total())
        );
        for e in &errors {
            let _ = writeln!(
                b,
                "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
                e.class.name(),
                escape(&e.detail),
                group(e.count)
            );
        }
        b.push_str("</table>\n");
    }
    if let Some(a) = r.rec.answered_instead() {
        // The server's bytes, escaped to text by the sample, and again for HTML.
        let _ = writeln!(
            b,
            "<p class=\"warn\">answered: {}</p>",
            escape(&a.line(&r.proto()))
        );
    }
    b.push_str("</section>\n");
    Ok(())
}

/// HTTP statuses by code with their share, those neither 2xx nor 3xx marked.
fn statuses(r: &RunResult, _: &HtmlContext, b: &mut String) -> io::Result<()> {
    b.push_str("<section id=\"statuses\">\n<h2>Statuses</h2>\n");
    let mut st = r.rec.statuses.clone();
    st.sort_unstable();
    if st.is_empty() {
        let what = if r.proto() == "http" {
            "none measured"
        } else {
            "none: statuses are HTTP's"
        };
        let _ = writeln!(b, "<p>{what}</p>");
    } else {
        let total: u64 = st.iter().map(|(_, n)| n).sum();
        b.push_str("<table>\n<tr><th>status</th><th class=\"n\">count</th><th class=\"n\">share</th></tr>\n");
        for (code, n) in &st {
            let class = if (200..400).contains(code) {
                ""
            } else {
                " class=\"warn\""
            };
            let _ = writeln!(
                b,
                "<tr><td{class}>{code}</td><td class=\"n\">{}</td><td class=\"n\">{:.2}%</td></tr>",
                group(*n),
                100.0 * *n as f64 / total.max(1) as f64
            );
        }
        b.push_str("</table>\n");
        let bad = r.rec.non_2xx_3xx();
        if bad > 0 {
            let _ = writeln!(
                b,
                "<p class=\"warn\">non-2xx/3xx: {} of {} measured</p>",
                group(bad),
                plural(r.rec.measured, "response", "responses")
            );
        }
    }
    b.push_str("</section>\n");
    Ok(())
}

/// A merge: a row per segment (nothing for another report).
fn segments(r: &RunResult, _: &HtmlContext, b: &mut String) -> io::Result<()> {
    if let Some(rows) = super::segments::html_rows(r) {
        b.push_str("<section id=\"segments\">\n<h2>Segments</h2>\n<table>\n");
        b.push_str(
            "<tr><th>segment</th><th class=\"n\">measured</th><th class=\"n\">achieved</th>\
             <th class=\"n\">p50</th><th class=\"n\">p99</th><th class=\"n\">p99.9</th>\
             <th class=\"n\">errors</th><th>clock vs segment 0</th></tr>\n",
        );
        for cells in rows {
            b.push_str("<tr>");
            if let [seg, lost] = cells.as_slice() {
                let _ = write!(
                    b,
                    "<td>{}</td><td colspan=\"7\" class=\"warn\">{}</td>",
                    escape(seg),
                    escape(lost)
                );
            }
            for (k, c) in cells.iter().enumerate().filter(|_| cells.len() > 2) {
                let class = if (1..7).contains(&k) {
                    " class=\"n\""
                } else {
                    ""
                };
                let _ = write!(b, "<td{class}>{}</td>", escape(c));
            }
            b.push_str("</tr>\n");
        }
        b.push_str("</table>\n</section>\n");
    }
    Ok(())
}

/// `--targets`: a row per entry (nothing without a mix). Labels come from the user's
/// file: escaped.
fn mix(r: &RunResult, _: &HtmlContext, b: &mut String) -> io::Result<()> {
    let Some(d) = &r.mix else {
        return Ok(());
    };
    let _ = writeln!(
        b,
        "<section id=\"entries\">\n<h2>Entries</h2>\n<p>{} from {}, {} order</p>",
        plural(d.entries as u64, "entry", "entries"),
        escape(&d.file),
        d.order.name()
    );
    b.push_str(
        "<table>\n<tr><th>#</th><th>entry</th><th class=\"n\">weight</th><th class=\"n\">share</th>\
         <th class=\"n\">asked</th><th class=\"n\">measured</th><th class=\"n\">failed</th>\
         <th class=\"n\">non-2xx/3xx</th><th class=\"n\">p50</th><th class=\"n\">p99</th>\
         <th class=\"n\">max</th></tr>\n",
    );
    for (i, e) in r.entry_rows().iter().enumerate() {
        mix_row(i + 1, e, b);
    }
    b.push_str("</table>\n</section>\n");
    Ok(())
}

/// Entry `n` of the mix, failures and bad statuses marked.
fn mix_row(n: usize, e: &crate::mix::EntryRow, b: &mut String) {
    let lat = |v: u64| {
        if e.corrected_us == [0; 5] {
            "-".to_string()
        } else {
            escape(&fmt_us(v as f64))
        }
    };
    let warn = |n: u64| {
        if n > 0 {
            " class=\"n warn\""
        } else {
            " class=\"n\""
        }
    };
    let _ = writeln!(
        b,
        "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1}%</td>\
         <td class=\"n\">{:.1}%</td><td class=\"n\">{}</td><td{}>{}</td><td{}>{}</td>\
         <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
        n,
        escape(&e.label),
        group(e.weight),
        100.0 * e.share_sent,
        100.0 * e.share_asked,
        group(e.measured),
        warn(e.failed),
        group(e.failed),
        warn(e.non_2xx_3xx),
        group(e.non_2xx_3xx),
        lat(e.corrected_us[0]),
        lat(e.corrected_us[2]),
        lat(e.corrected_us[4]),
    );
}

/// The thresholds checked against the run ([`HtmlContext::thresholds`]), or that none
/// were given.
fn thresholds(_: &RunResult, ctx: &HtmlContext, b: &mut String) -> io::Result<()> {
    b.push_str("<section id=\"thresholds\">\n<h2>Thresholds</h2>\n");
    if ctx.thresholds.is_empty() {
        b.push_str("<p>no thresholds given</p>\n");
    } else {
        b.push_str(
            "<table>\n<tr><th>threshold</th><th class=\"n\">measured</th><th>result</th></tr>\n",
        );
        for t in &ctx.thresholds {
            let (class, word) = if t.pass {
                ("pass", "PASS")
            } else {
                ("fail", "FAIL")
            };
            let _ = writeln!(
                b,
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"{class}\">{word}</td></tr>",
                escape(&t.expr),
                escape(&t.measured)
            );
        }
        b.push_str("</table>\n");
    }
    b.push_str("</section>\n");
    Ok(())
}

/// How loadgen was invoked (escaped: it is the user's).
fn command(_: &RunResult, ctx: &HtmlContext, b: &mut String) -> io::Result<()> {
    let _ = writeln!(
        b,
        "<section id=\"command\">\n<h2>Command line</h2>\n<pre>{}</pre>\n</section>",
        escape(&ctx.command_line)
    );
    Ok(())
}

/// The machine the run ran on.
fn machine(_: &RunResult, ctx: &HtmlContext, b: &mut String) -> io::Result<()> {
    let _ = writeln!(
        b,
        "<section id=\"machine\">\n<h2>Machine</h2>\n{}</section>",
        facts_table(&ctx.machine.rows())
    );
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::record::{ErrorClass, Recorder};
    use crate::report::fixtures::{closed, hist, open};

    /// Every `src=` and `href=` value in the tags of `page`, in any case and quoting.
    /// Only inside tags: text is escaped, so a `<` always opens a tag and `src=` in
    /// text (an error detail, say) is no link.
    pub(in crate::report) fn links(page: &str) -> Vec<String> {
        let mut out = Vec::new();
        for tag in page.split('<').skip(1).filter_map(|t| t.split('>').next()) {
            let lower = tag.to_ascii_lowercase();
            for attr in ["src=", "href="] {
                let mut from = 0;
                while let Some(i) = lower[from..].find(attr) {
                    let start = from + i + attr.len();
                    // An attribute name starts the tag's text or follows a space.
                    let at_name =
                        lower[..from + i].ends_with(|c: char| c.is_whitespace() || c == ':');
                    let rest = &tag[start..];
                    let value = match rest.chars().next() {
                        Some(q @ ('"' | '\'')) => rest[1..].split(q).next().unwrap_or(""),
                        _ => rest.split(char::is_whitespace).next().unwrap_or(""),
                    };
                    if at_name {
                        out.push(value.to_string());
                    }
                    from = start;
                }
            }
        }
        out
    }

    /// The checks every self-contained page must pass: nothing fetched from anywhere.
    pub(in crate::report) fn assert_self_contained(page: &str) {
        for l in links(page) {
            let l = l.trim().to_ascii_lowercase();
            assert!(
                !(l.starts_with("http:") || l.starts_with("https:") || l.starts_with("//")),
                "external link {l:?}"
            );
        }
        let lower = page.to_ascii_lowercase();
        assert!(!lower.contains("<script"), "no script at all");
        assert!(!lower.contains("<link"), "no linked stylesheet");
        assert!(!lower.contains("@import"), "no imported stylesheet");
        assert!(!lower.contains("url("), "no CSS url()");
        assert!(lower.contains("content-security-policy"));
    }

    fn ctx() -> HtmlContext {
        HtmlContext {
            command_line: "loadgen -R 500 -c 4 --html 'a b.html'".into(),
            machine: Machine {
                kernel: Some("Linux 6.1.0-test".into()),
                arch: "x86_64".into(),
                cores: Some(2),
                nofile: Some((1024, 4096)),
                port_range: Some((32768, 60999)),
                ..Machine::default()
            },
            thresholds: vec![],
        }
    }

    #[test]
    fn test_links_finds_every_attribute() {
        let p = "<a href=\"http://x\">src=no</a><img SRC='https://y'><img src=z.png><use xlink:href=\"#a\">";
        assert_eq!(links(p), ["http://x", "https://y", "z.png", "#a"]);
    }

    #[test]
    fn test_escape() {
        assert_eq!(
            escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("plain 1.00ms"), "plain 1.00ms");
    }

    #[test]
    fn test_html_has_every_section_and_is_self_contained() {
        let page = html(&open(), &ctx()).expect("html");
        assert!(page.starts_with("<!DOCTYPE html>"));
        for id in [
            "summary",
            "latency",
            "phases",
            "timeline",
            "errors",
            "statuses",
            "thresholds",
            "command",
            "machine",
        ] {
            assert!(
                page.contains(&format!("<section id=\"{id}\">")),
                "no section {id}"
            );
        }
        assert_self_contained(&page);
        // Latency linear and log, throughput and p99 over time.
        assert_eq!(page.matches("<svg").count(), 4);
        assert!(page.contains("latency (ms, log scale)"));
        assert!(page.contains("throughput per second"));
        assert!(page.contains("p99 latency per second"));
    }

    /// Issue 17, item 4: a row per phase timed; the TLS handshake only once timed.
    #[test]
    fn test_html_phases_have_a_row_each_and_tls_only_when_timed() {
        let mut r = open();
        let page = html(&r, &ctx()).expect("html");
        assert!(
            page.contains("<tr><th>ttfb</th><td class=\"n\">600us</td>"),
            "{page}"
        );
        assert!(page.contains("<tr><th>connect</th>"));
        assert!(page.contains("<tr><th>transfer</th>"));
        assert!(!page.contains("<tr><th>tls</th>"));
        crate::record::record_us(&mut r.rec.phases.tls_handshake, 2_000);
        let page = html(&r, &ctx()).expect("html");
        assert!(page.contains("<tr><th>tls</th><td class=\"n\">2.00ms</td>"));
    }

    /// Issue 15, item 6: counts grouped in the page's summary as in the text.
    #[test]
    fn test_html_summary_groups_connections_and_threads() {
        let mut r = open();
        (r.load.connections, r.load.threads) = (15_000, 1_200);
        let page = html(&r, &ctx()).expect("html");
        assert!(
            page.contains("<th>connections</th><td>15,000</td>"),
            "{page}"
        );
        assert!(page.contains("<th>threads</th><td>1,200</td>"));
    }

    #[test]
    fn test_html_summary_holds_the_run() {
        let page = html(&open(), &ctx()).expect("html");
        for want in [
            "<th>target</th><td>http://127.0.0.1:7878/ (embedded readyloop server)</td>",
            "<th>proto</th><td>http</td>",
            "<th>mode</th><td>open loop at 500 req/s</td>",
            "<th>connections</th><td>4</td>",
            "<th>threads</th><td>2</td>",
            "<th>duration</th><td>2.0s measured after 1.0s warm-up (discarded)</td>",
            "<th>throughput</th><td>500 req/s, 1.00 MB/s received</td>",
            "<th>requests</th><td>sent 1,010 = completed 1,003 + failed 2 + in flight 5</td>",
            "<th>censored</th><td>0 (timed out 0, unfinished 0, unsent 0)",
            "<th>schedule</th><td>kept: 500 req/s asked, 500 achieved</td>",
            // The fixture started at 1,700,000,000 s.
            "2.0s measured, started 2023-11-14 22:13:20 UTC",
        ] {
            assert!(page.contains(want), "no {want:?} in the page");
        }
        // Latency table: both columns in open loop; p50 corrected 1 ms, raw 800 us.
        assert!(page.contains(
            "<tr><th>p50</th><td class=\"n\">1.00ms</td><td class=\"n\">800us</td></tr>"
        ));
        assert!(page.contains(
            "<tr><th>max</th><td class=\"n\">50.0ms</td><td class=\"n\">4.00ms</td></tr>"
        ));
        assert!(!page.contains("WARNING"), "the fixture is clean");
        // Closed loop: one column.
        let closed_page = html(&closed(), &ctx()).expect("html");
        assert!(closed_page.contains("<th class=\"n\">from send</th></tr>"));
        assert!(!closed_page.contains("raw (from send)</th>"));
    }

    #[test]
    fn test_html_tables_errors_statuses_machine_command() {
        let page = html(&open(), &ctx()).expect("html");
        assert!(page.contains(
            "<tr><td>connect_refused</td><td>ECONNREFUSED</td><td class=\"n\">1</td></tr>"
        ));
        assert!(page.contains("<tr><td>timeout</td><td>timeout</td><td class=\"n\">2</td></tr>"));
        assert!(page
            .contains("<tr><td>200</td><td class=\"n\">998</td><td class=\"n\">99.80%</td></tr>"));
        assert!(page.contains("<tr><td class=\"warn\">503</td><td class=\"n\">2</td>"));
        assert!(page.contains("non-2xx/3xx: 2 of 1,000 responses measured"));
        assert!(page.contains("<pre>loadgen -R 500 -c 4 --html &#39;a b.html&#39;</pre>"));
        assert!(page.contains("<tr><th>kernel</th><td>Linux 6.1.0-test</td></tr>"));
        assert!(page.contains("<tr><th>RLIMIT_NOFILE (soft / hard)</th><td>1024 / 4096</td></tr>"));
        assert!(page
            .contains("<tr><th>ip_local_port_range</th><td>32768-60999 (28,232 ports)</td></tr>"));
        let mut r = closed();
        r.rec = Recorder::default();
        let empty = html(&r, &ctx()).expect("html");
        assert!(empty.contains("<h2>Errors</h2>\n<p>none</p>"));
        assert!(empty.contains("<h2>Statuses</h2>\n<p>none measured</p>"));
        assert!(empty.contains("<p>no responses measured</p>"));
        assert!(empty.contains("no data"));
    }

    #[test]
    fn test_html_thresholds_empty_and_given() {
        let page = html(&open(), &ctx()).expect("html");
        assert!(page.contains("<h2>Thresholds</h2>\n<p>no thresholds given</p>"));
        let mut c = ctx();
        c.thresholds = vec![
            ThresholdRow {
                expr: "p99 < 5ms".into(),
                measured: "2.00ms".into(),
                pass: true,
            },
            ThresholdRow {
                expr: "errors < 1".into(),
                measured: "3".into(),
                pass: false,
            },
        ];
        let page = html(&open(), &c).expect("html");
        assert!(!page.contains("no thresholds given"));
        assert!(page.contains(
            "<tr><td>p99 &lt; 5ms</td><td class=\"n\">2.00ms</td><td class=\"pass\">PASS</td></tr>"
        ));
        assert!(page.contains(
            "<tr><td>errors &lt; 1</td><td class=\"n\">3</td><td class=\"fail\">FAIL</td></tr>"
        ));
    }

    #[test]
    fn test_html_escapes_what_comes_from_the_user_and_the_network() {
        let mut r = open();
        r.target = "http://x/<script>alert(1)</script>".into();
        r.rec
            .error(ErrorClass::Framing, "<img src=http://evil/x.png>");
        let mut c = ctx();
        c.command_line = "loadgen '</pre><script>alert(2)</script>'".into();
        let page = html(&r, &c).expect("html");
        assert!(
            !page.contains("<script>alert"),
            "unescaped markup in the page"
        );
        assert!(!page.contains("<img src"), "unescaped markup in the page");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("&lt;img src=http://evil/x.png&gt;"));
        assert!(page.contains("&lt;/pre&gt;&lt;script&gt;alert(2)"));
        assert_self_contained(&page);
    }

    #[test]
    fn test_html_entries_of_a_mix_escaped() {
        let mut r = open();
        assert!(!html(&r, &ctx()).expect("html").contains("id=\"entries\""));
        let mix = crate::mix::Mix {
            entries: vec![crate::mix::Entry {
                label: "GET /<b>x</b>".into(),
                weight: 2,
                bytes: b"GET / HTTP/1.1\r\n\r\n".to_vec(),
                head: false,
            }],
            order: crate::mix::Order::Random,
            seed: 3,
        };
        r.mix = Some(mix.describe("t<1>.txt"));
        r.rec.entries = vec![Default::default()];
        r.rec.entries[0].sent = 10;
        r.rec.entries[0].reply(1500, 1000, Some(500));
        let page = html(&r, &ctx()).expect("html");
        assert!(page.contains("<h2>Entries</h2>"));
        assert!(page.contains("GET /&lt;b&gt;x&lt;/b&gt;"), "label escaped");
        assert!(page.contains("t&lt;1&gt;.txt"), "file escaped");
        assert!(page.contains("random order"));
        // The 500 shows as a warning cell.
        assert!(page.contains("<td class=\"n warn\">1</td>"));
        assert_self_contained(&page);
    }

    #[test]
    fn test_html_warns_when_the_run_is_doubtful() {
        let mut r = open();
        r.rec.send_lag = hist(&[(5000, 100)]);
        r.rec.sent += 1;
        let page = html(&r, &ctx()).expect("html");
        assert!(page.contains("<p class=\"warn\">WARNING: rate missed: 500 req/s asked"));
        assert!(page.contains("<p class=\"warn\">WARNING: THE BOOKS DO NOT BALANCE"));
        assert!(page.contains("<th>schedule</th><td>missed:"));
    }

    #[test]
    fn test_write_html_writes_the_page() {
        let mut out = Vec::new();
        write_html(&open(), &ctx(), &mut out).expect("write to Vec");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            html(&open(), &ctx()).expect("html")
        );
    }

    #[test]
    fn test_html_tls_section_says_unverified() {
        let page = html(&super::super::fixtures::over_tls(false), &ctx()).expect("html");
        assert!(page.contains("<section id=\"tls\">"));
        assert!(page.contains("<strong>UNVERIFIED</strong>"));
        assert!(page.contains("3 full, 97 resumed, 0 failed"));
        let page = html(&super::super::fixtures::over_tls(true), &ctx()).expect("html");
        assert!(page.contains("verified") && !page.contains("UNVERIFIED"));
        assert!(!html(&open(), &ctx()).expect("html").contains("id=\"tls\""));
    }
}
