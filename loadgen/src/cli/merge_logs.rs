//! `loadgen merge --units U LOGS...`: HdrHistogram interval logs written by other tools
//! (Java's `HistogramLogWriter`, Python's `hdrh`, wrk2's), merged as segments are:
//! their histograms added bucket for bucket, never percentiles averaged.
//!
//! Such a log holds latencies and nothing else: no unit (`--units` gives it), no run
//! identity (a warning says nothing checks the logs are of one run), no errors, no
//! statuses, no raw latencies; thresholds that need those are refused, and so are the
//! report files that need a run's books (`--csv`, `--html`, `--plot`).

use super::args::MergeArgs;
use crate::error::Error;
use crate::report::{decode_histogram, encode_histogram, hist_json, LoggedInterval};
use crate::slo::Metric;
use crate::tally::{new_histogram, MAX_US};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// One log, read and converted to microseconds.
struct Log {
    file: PathBuf,
    /// Its intervals' histograms, in order.
    seconds: Vec<(LoggedInterval, Histogram<u64>)>,
    /// All of them added.
    whole: Histogram<u64>,
}

/// Merge the logs `a` names, their values `units` microseconds each.
pub(super) fn merge_logs(a: &MergeArgs, units: f64) -> Result<ExitCode, Error> {
    refuse_what_logs_lack(a)?;
    let logs = a
        .files
        .iter()
        .map(|f| read_log(f, units))
        .collect::<Result<Vec<_>, _>>()?;
    eprintln!(
        "loadgen: warning: interval logs carry no run identity: nothing checks that \
         they are of one run, nor that they began together"
    );
    let mut whole = new_histogram();
    let mut seconds: Vec<(f64, Histogram<u64>)> = Vec::new();
    for log in &logs {
        let _ = whole.add(&log.whole);
        // The k-th interval of each log into the merge's k-th: each log counts its
        // intervals from its own start.
        for (k, (iv, h)) in log.seconds.iter().enumerate() {
            if seconds.len() <= k {
                seconds.push((0.0, new_histogram()));
            }
            seconds[k].0 = seconds[k].0.max(iv.length.as_secs_f64());
            let _ = seconds[k].1.add(h);
        }
    }
    let span: f64 = seconds.iter().map(|s| s.0).sum();
    let verdicts = a.slo.as_ref().map(|slo| {
        let empty = new_histogram();
        slo.check(&crate::slo::Figures {
            corrected: &whole,
            raw: &empty,
            measured: whole.len(),
            failed: 0,
            unsent: 0,
            unsent_at_end: 0,
            unfinished: 0,
            error_replies: 0,
            non2xx: 0,
            seconds: span,
        })
    });
    let doc = document(&logs, &whole, span, units, verdicts.as_deref());
    write_outputs(a, &doc, &whole, &seconds)?;
    Ok(exit_code(&whole, verdicts.as_deref()))
}

/// `--slo` metrics and report files that need what an interval log does not hold.
fn refuse_what_logs_lack(a: &MergeArgs) -> Result<(), Error> {
    for t in a.slo.iter().flat_map(|s| &s.thresholds) {
        let lacking = match t.metric {
            Metric::Errors => Some("errors"),
            Metric::Non2xx => Some("statuses"),
            Metric::Quantile { raw: true, .. } | Metric::Mean { raw: true } => {
                Some("raw latencies")
            }
            _ => None,
        };
        if let Some(what) = lacking {
            return Err(Error::Usage(format!(
                "--slo {}: interval logs hold latencies only, no {what}",
                t.expr
            )));
        }
    }
    let o = &a.out;
    for (flag, given) in [
        ("--csv", o.csv.is_some()),
        ("--html", o.html.is_some()),
        ("--plot", o.plot.is_some()),
    ] {
        if given {
            return Err(Error::Usage(format!(
                "{flag} with interval logs: that report needs a run's books; \
                 --json, --hgrm and --log work"
            )));
        }
    }
    Ok(())
}

/// `path`, an interval log, its values scaled to microseconds.
fn read_log(path: &PathBuf, units: f64) -> Result<Log, Error> {
    let bad = |why: String| Error::Usage(format!("{}: {why}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let intervals = crate::report::read_interval_log(&bytes).map_err(bad)?;
    if intervals.is_empty() {
        return Err(bad("no interval in it".into()));
    }
    let mut whole = new_histogram();
    let seconds = intervals
        .into_iter()
        .map(|iv| {
            let h = to_us(&iv.histogram, units);
            let _ = whole.add(&h);
            (iv, h)
        })
        .collect();
    Ok(Log {
        file: path.clone(),
        seconds,
        whole,
    })
}

/// `h`'s values times `units`, in loadgen's layout (1 us to 1 h, 3 significant
/// digits): each bucket moved whole, at its highest equivalent value, so a histogram
/// of that layout in microseconds is copied bucket for bucket.
fn to_us(h: &Histogram<u64>, units: f64) -> Histogram<u64> {
    let mut out = new_histogram();
    for v in h.iter_recorded() {
        let us = (v.value_iterated_to() as f64 * units).round();
        let us = if us.is_finite() { us as u64 } else { MAX_US };
        let _ = out.record_n(us.clamp(1, MAX_US), v.count_at_value());
    }
    out
}

/// The merge's JSON document (docs/loadgen-json.md, "merge of interval logs").
fn document(
    logs: &[Log],
    whole: &Histogram<u64>,
    span: f64,
    units: f64,
    verdicts: Option<&[crate::slo::Verdict]>,
) -> Value {
    let files: Vec<Value> = logs
        .iter()
        .map(|l| {
            json!({
                "file": l.file.display().to_string(),
                "intervals": l.seconds.len(),
                "latency_us": hist_json(&l.whole),
            })
        })
        .collect();
    json!({
        "kind": "interval_logs",
        "version": env!("CARGO_PKG_VERSION"),
        "units_us": units,
        "files": files,
        "span_s": span,
        "count": whole.len(),
        "rate": if span > 0.0 { whole.len() as f64 / span } else { 0.0 },
        "latency_us": hist_json(whole),
        "histogram": encode_histogram(whole),
        "thresholds": verdicts.unwrap_or_default().iter().map(|v| json!({
            "expr": v.threshold.expr,
            "measured": v.measured,
            "pass": v.pass,
        })).collect::<Vec<_>>(),
    })
}

/// The text summary, or the JSON on stdout; the files.
fn write_outputs(
    a: &MergeArgs,
    doc: &Value,
    whole: &Histogram<u64>,
    seconds: &[(f64, Histogram<u64>)],
) -> Result<(), Error> {
    let pretty = serde_json::to_string_pretty(doc).unwrap_or_default() + "\n";
    let io = |what: &'static str| move |e| Error::io(what, e);
    match a.out.json.as_deref() {
        Some("-") => print!("{pretty}"),
        other => {
            print!("{}", text(doc));
            if let Some(p) = other {
                std::fs::write(p, &pretty).map_err(io("writing --json"))?;
            }
        }
    }
    if let Some(p) = &a.out.hgrm {
        let mut f = std::fs::File::create(p).map_err(io("writing --hgrm"))?;
        crate::report::write_hgrm(whole, &mut f, 1000.0).map_err(io("writing --hgrm"))?;
    }
    if let Some(p) = &a.out.log {
        let mut f = std::fs::File::create(p).map_err(io("writing --log"))?;
        write_log(&mut f, seconds).map_err(io("writing --log"))?;
    }
    Ok(())
}

/// The merged seconds as an interval log, from 0.
fn write_log<W: Write>(w: &mut W, seconds: &[(f64, Histogram<u64>)]) -> std::io::Result<()> {
    let header = crate::report::interval_log_header("merged interval logs", "-", None, 0.0)?;
    w.write_all(&header)?;
    let mut serializer = hdrhistogram::serialization::V2DeflateSerializer::new();
    let mut start = 0.0;
    for (len, h) in seconds {
        let mut buf = Vec::new();
        crate::report::interval_log_lines(
            &mut buf,
            &mut serializer,
            std::time::Duration::from_secs_f64(start),
            std::time::Duration::from_secs_f64(*len),
            h,
            None,
        )?;
        w.write_all(&buf)?;
        start += len;
    }
    Ok(())
}

/// The summary for people.
fn text(doc: &Value) -> String {
    let mut s = format!(
        "merged:      {} interval logs, {} latencies over {:.1}s\n",
        doc["files"].as_array().map_or(0, Vec::len),
        doc["count"],
        doc["span_s"].as_f64().unwrap_or(0.0)
    );
    let h = doc["histogram"]
        .as_str()
        .and_then(|t| decode_histogram(t).ok())
        .unwrap_or_else(new_histogram);
    for (name, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999)] {
        s += &format!(
            "  {name:<6} {:>12}\n",
            crate::fmt::fmt_us(h.value_at_quantile(q) as f64)
        );
    }
    s += &format!(
        "  {:<6} {:>12}\n",
        "max",
        crate::fmt::fmt_us(h.max() as f64)
    );
    for f in doc["files"].as_array().into_iter().flatten() {
        s += &format!(
            "  {}: {} latencies, p99 {}\n",
            f["file"].as_str().unwrap_or(""),
            f["latency_us"]["count"],
            f["latency_us"]["p99"]
        );
    }
    for t in doc["thresholds"].as_array().into_iter().flatten() {
        let pass = if t["pass"] == true { "pass" } else { "FAIL" };
        s += &format!(
            "  {pass} {} measured {}\n",
            t["expr"].as_str().unwrap_or(""),
            t["measured"]
        );
    }
    s
}

/// 1 when nothing was merged, 99 when a threshold failed, else 0.
fn exit_code(whole: &Histogram<u64>, verdicts: Option<&[crate::slo::Verdict]>) -> ExitCode {
    let pass = verdicts.is_none_or(|v| v.iter().all(|v| v.pass));
    super::exit::exit_code(0, whole.len(), pass)
}
