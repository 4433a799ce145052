//! The machine-readable report ([`json()`], written by [`write_json`]) and its schema
//! version ([`JSON_SCHEMA`]).
//!
//! The schema is documented field by field in `docs/loadgen-json.md`; a test here walks
//! the JSON and fails on any field that page does not mention.
//!
//! The document is its [`SECTIONS`] merged: each section builds an object of its own
//! top-level fields, with the same name as its section of the text report (`text.rs`),
//! so a new part of a run is one new function here too. One `json!` for the whole
//! document had reached the macro's recursion limit. The keys print sorted
//! (serde_json's map), whatever the order of the sections.

use super::{encode_histogram, sorted_errors};
use crate::phases::Phase;
use crate::result::{Mode, RunResult};
use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};
use std::io::{self, Write};

/// Version of the JSON schema written by [`json()`]; bumped only when a field is removed
/// or changes meaning (new fields may appear without a bump).
pub const JSON_SCHEMA: u64 = 2;

/// One section of the JSON report: an object of top-level fields, no two sections
/// sharing one.
type Section = fn(&RunResult) -> Value;

/// The sections of the JSON report, in the order of the text report's.
const SECTIONS: &[Section] = &[
    header,
    latency,
    phases,
    connects,
    statuses,
    mix,
    stages,
    errors,
    books,
    schedule,
    cpu,
    server,
    super::segments::json_fields,
    warnings,
    thresholds,
];

/// The machine-readable report. The schema is documented field by field in
/// `docs/loadgen-json.md`; it is stable (see [`JSON_SCHEMA`]).
pub fn json(r: &RunResult) -> Value {
    let mut doc = Map::new();
    for section in SECTIONS {
        if let Value::Object(fields) = section(r) {
            doc.extend(fields);
        }
    }
    Value::Object(doc)
}

/// Writes [`json()`] pretty-printed, with a trailing newline so the file is a proper text
/// file (and `cat` leaves the prompt on its own line).
pub fn write_json<W: Write>(r: &RunResult, w: &mut W) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, &json(r))?;
    w.write_all(b"\n")
}

/// Summary of one microsecond histogram: percentiles, max, mean, stdev, count.
/// Every field but `count` is `null` when the histogram is empty: an empty histogram
/// reports 0 for everything, which would read as "zero latency".
pub(crate) fn hist_json(h: &Histogram<u64>) -> Value {
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

/// What was run, what was measured, an interrupt, the throughput and the bytes.
fn header(r: &RunResult) -> Value {
    let mode = match r.mode() {
        Mode::Closed => json!({ "kind": "closed" }),
        Mode::Open { rate } => json!({ "kind": "open", "rate": rate }),
    };
    let rec = &r.rec;
    json!({
        "schema": JSON_SCHEMA,
        "version": env!("CARGO_PKG_VERSION"),
        "target": r.target,
        "embedded": r.embedded(),
        "proto": r.proto(),
        "mode": mode,
        "connections": r.load.connections,
        "max_connections": r.load.max_connections,
        "connections_peak": r.connections_peak,
        "threads": r.load.threads(),
        "per_conn": r.load.per_conn,
        "pipeline": r.load.pipeline,
        "requests_asked": r.load.requests,
        "warmup_s": r.load.warmup.as_secs_f64(),
        "duration_s": r.duration.as_secs_f64(),
        "interrupted": r.interrupted.map(|i| json!({
            "signal": i.signal,
            "name": readyloop::stats::signal_name(i.signal),
            "planned_s": i.planned.as_secs_f64(),
            "warmup_ran_s": i.warmup_ran.as_secs_f64(),
        })),
        "throughput_rps": r.throughput(),
        "bytes": {
            "sent": rec.bytes_sent,
            "received": rec.bytes_received,
            "received_measured": rec.bytes_received_measured,
        },
    })
}

/// The latency summaries, corrected and raw, and the whole histograms (long: so that
/// saved runs can be plotted and compared at any percentile, `loadgen report`).
fn latency(r: &RunResult) -> Value {
    let rec = &r.rec;
    json!({
        "latency_us": {
            "corrected": hist_json(&rec.corrected),
            "raw": hist_json(&rec.raw),
            // Nothing measured: the summaries above are of censored requests only.
            "censored_only": rec.censored_only(),
        },
        "histograms": {
            "corrected": encode_histogram(&rec.corrected),
            "raw": encode_histogram(&rec.raw),
        },
    })
}

/// Every phase timed apart ([`crate::phases`]): a summary of each and its whole
/// histogram. The TLS handshake is `null` when none was timed (plain connections), not
/// an empty summary that would pass for a measurement.
fn phases(r: &RunResult) -> Value {
    let p = &r.rec.phases;
    let mut fields = Map::new();
    let mut whole = Map::new();
    for phase in Phase::ALL {
        let h = p.get(phase);
        let (summary, text) = if p.present(phase) {
            (hist_json(h), json!(encode_histogram(h)))
        } else {
            (Value::Null, Value::Null)
        };
        fields.insert(format!("{}_us", phase.key()), summary);
        whole.insert(phase.key().to_string(), text);
    }
    fields.insert("histograms".to_string(), Value::Object(whole));
    json!({ "phases": fields })
}

/// Connects counted over the run, their times after the warm-up, and how long opening
/// the connections took.
fn connects(r: &RunResult) -> Value {
    let rec = &r.rec;
    json!({
        "connects": { "ok": rec.connects_ok, "tried": rec.connects_tried },
        "addresses": r.spread.connects.iter()
            .map(|(a, n)| json!({ "addr": a.to_string(), "connects_tried": n }))
            .collect::<Vec<_>>(),
        "connect_to": r.spread.via,
        "tls": r.tls,
        "connect_phase_s": r.connect_phase.map(|d| d.as_secs_f64()),
        "connect_us": hist_json(&rec.connect),
    })
}

/// HTTP statuses by code, and how many were neither 2xx nor 3xx.
fn statuses(r: &RunResult) -> Value {
    let mut statuses = Map::new();
    let mut st = r.rec.statuses.clone();
    st.sort_unstable();
    for (code, n) in st {
        statuses.insert(code.to_string(), n.into());
    }
    json!({
        "statuses": statuses,
        "non_2xx_3xx": r.rec.non_2xx_3xx(),
    })
}

/// `--targets`: the file, the order, and a row per entry (`null` without a mix).
fn mix(r: &RunResult) -> Value {
    let mix = r.mix.as_ref().map(|d| {
        let per_entry: Vec<Value> = r
            .entry_rows()
            .iter()
            .enumerate()
            .map(|(i, e)| mix_row(r, i, e))
            .collect();
        json!({
            "file": d.file,
            "order": d.order.name(),
            "seed": d.seed,
            "entries": d.entries,
            "tracked": crate::mix::TRACKED,
            "per_entry": per_entry,
        })
    });
    json!({ "mix": mix })
}

/// Entry `i` of the mix: its row and its latency summaries.
fn mix_row(r: &RunResult, i: usize, e: &crate::mix::EntryRow) -> Value {
    let st = r.rec.entries.get(i).cloned().unwrap_or_default();
    let mut statuses = Map::new();
    for (code, n) in &e.statuses {
        statuses.insert(code.to_string(), (*n).into());
    }
    json!({
        "label": e.label,
        "weight": e.weight,
        "share_asked": e.share_asked,
        "share_sent": e.share_sent,
        "sent": e.sent,
        "measured": e.measured,
        "failed": e.failed,
        "non_2xx_3xx": e.non_2xx_3xx,
        "statuses": statuses,
        "corrected_us": hist_json(&st.corrected),
        "raw_us": hist_json(&st.raw),
    })
}

/// `--stages`: each stage's target against what was achieved (`null` without stages).
fn stages(r: &RunResult) -> Value {
    let stages = r.load.stages.as_ref().map(|_| {
        r.stage_rows()
            .iter()
            .map(|st| {
                json!({
                    "start_s": st.start_s,
                    "duration_s": st.duration_s,
                    "target_kind": if r.load.stages_closed { "connections" } else { "rate" },
                    "from": st.from_rps,
                    "to": st.to_rps,
                    "target": st.target_rps(),
                    "achieved_rps": st.achieved_rps(),
                    "completed": st.completed,
                    "measured_s": st.measured_s,
                })
            })
            .collect::<Vec<_>>()
    });
    json!({ "stages": stages })
}

/// The error table in a stable order, and what the server answered where a reply was
/// due (`null` when nothing did).
fn errors(r: &RunResult) -> Value {
    let errors: Vec<Value> = sorted_errors(&r.rec.errors)
        .iter()
        .map(|e| json!({ "class": e.class.name(), "detail": e.detail, "count": e.count }))
        .collect();
    let answered = r.rec.answered_instead().map(|a| {
        json!({
            "looks_like": a.looks().name(),
            "sample": crate::answer::escape(a.bytes()),
            "more": a.more(),
            "offset": a.offset(),
            "line": a.line(&r.proto()),
        })
    });
    json!({ "errors": errors, "answered": answered })
}

/// The books (every request sent is completed, failed or in flight) and the censored
/// requests.
fn books(r: &RunResult) -> Value {
    let rec = &r.rec;
    json!({
        "requests": {
            "sent": rec.sent,
            "completed": rec.completed,
            "measured": rec.measured,
            "failed": rec.failed,
            "in_flight_end": rec.in_flight_end,
            "failed_counted": rec.failed_counted,
            "books_balance": rec.books_balance(),
        },
        "censored": {
            "total": rec.censored.total(),
            "timed_out": rec.censored.timed_out,
            "unfinished": rec.censored.unfinished,
            "unsent": rec.censored.unsent,
            "unsent_at_end": rec.censored.at_end,
            "oldest_us": rec.censored.oldest_us,
        },
    })
}

/// Open loop: the send lag and whether the schedule was kept (`null` in closed loop).
fn schedule(r: &RunResult) -> Value {
    let send_lag = match r.mode() {
        Mode::Open { .. } => hist_json(&r.rec.send_lag),
        Mode::Closed => Value::Null,
    };
    json!({
        "send_lag_us": send_lag,
        "behind_schedule": r.schedule().map(|sc| !sc.kept),
        "schedule": r.schedule().map(|sc| json!({
            "target_rps": sc.target_rps,
            "achieved_rps": sc.achieved_rps,
            "unsent": sc.unsent,
            "kept": sc.kept,
            "cause": sc.cause,
        })),
    })
}

/// loadgen's own CPU.
fn cpu(r: &RunResult) -> Value {
    json!({
        "cpu": {
            "user_s": r.cpu.user_s,
            "sys_s": r.cpu.sys_s,
            "us_per_request": r.cpu_us_per_request(),
        },
    })
}

/// The server's own counters as it published them (its schema, not ours).
fn server(r: &RunResult) -> Value {
    json!({ "server": r.server_stats.clone() })
}

/// What puts the figures in doubt.
fn warnings(r: &RunResult) -> Value {
    json!({ "warnings": r.warnings() })
}

/// The `--slo` thresholds with what was measured, whether all passed, and an abort.
fn thresholds(r: &RunResult) -> Value {
    let thresholds: Vec<Value> = r
        .thresholds
        .iter()
        .map(|v| {
            json!({
                "expr": v.threshold.expr,
                "limit": v.threshold.limit,
                "measured": v.measured,
                "measured_text": v.measured_text(),
                "pass": v.pass,
            })
        })
        .collect();
    json!({
        "thresholds": thresholds,
        "thresholds_pass": r.thresholds_pass(),
        "aborted": r.aborted.as_ref().map(|a| json!({
            "after_s": a.after.as_secs_f64(),
            "failed": a.failed.iter().map(|v| v.threshold.expr.clone()).collect::<Vec<_>>(),
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::new_histogram;
    use crate::report::fixtures::{closed, open};

    /// Issue 15, item 6j: docs/loadgen-json.md says what `--json` does, as its help
    /// does: it writes FILE, and stdout only for `-` (before: "`loadgen run --json`
    /// prints one JSON object per run").
    #[test]
    fn test_the_json_doc_says_it_writes_a_file_unless_dash() {
        let doc = include_str!("../../../docs/loadgen-json.md");
        let intro = doc.split("\n## ").next().unwrap_or_default();
        assert!(!intro.contains("--json` prints"), "{intro}");
        assert!(
            intro.contains("`loadgen run --json FILE` writes"),
            "{intro}"
        );
        assert!(intro.contains("`--json -`"), "{intro}");
    }

    #[test]
    fn test_json_open_loop_fields() {
        let r = open();
        let j = json(&r);
        assert_eq!(j["schema"], 2);
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
        assert_eq!(j["non_2xx_3xx"], 2);
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
        // The whole histograms, decodable to the very counts.
        for (key, h) in [("corrected", &r.rec.corrected), ("raw", &r.rec.raw)] {
            let text = j["histograms"][key].as_str().expect("a string");
            assert_eq!(&crate::report::decode_histogram(text).expect("decodes"), h);
        }
    }

    /// Issue 17, item 4: a summary and the whole histogram of every phase; the TLS
    /// handshake `null` until one is timed.
    #[test]
    fn test_json_phases_and_tls_null_when_not_timed() {
        let mut r = open();
        let j = json(&r);
        let p = &j["phases"];
        assert_eq!(p["ttfb_us"]["count"], 1000);
        assert_eq!(p["ttfb_us"]["p50"], 600);
        assert_eq!(p["transfer_us"]["max"], 500);
        assert_eq!(p["connect_us"]["count"], 4);
        assert_eq!(p["tls_handshake_us"], Value::Null);
        assert_eq!(p["histograms"]["tls_handshake"], Value::Null);
        let text = p["histograms"]["ttfb"].as_str().expect("a string");
        let back = crate::report::decode_histogram(text).expect("decodes");
        assert_eq!(back, r.rec.phases.ttfb);
        crate::record::record_us(&mut r.rec.phases.tls_handshake, 2_000);
        let j = json(&r);
        assert_eq!(j["phases"]["tls_handshake_us"]["count"], 1);
        assert!(j["phases"]["histograms"]["tls_handshake"].is_string());
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

    /// The document is its sections merged: each one an object, no field in two of them
    /// (the second would silently replace the first), and no field but theirs.
    #[test]
    fn test_json_sections_are_objects_with_fields_of_their_own() {
        let r = open();
        let mut fields = std::collections::BTreeSet::new();
        for section in SECTIONS {
            let v = section(&r);
            for k in v.as_object().expect("an object").keys() {
                assert!(fields.insert(k.clone()), "{k} in two sections");
            }
        }
        let doc = json(&r);
        let keys: std::collections::BTreeSet<String> = doc
            .as_object()
            .expect("an object")
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys, fields);
    }

    /// Every field the JSON carries is described in the schema doc, so the two cannot
    /// drift apart silently.
    #[test]
    fn test_json_fields_are_documented() {
        let doc = include_str!("../../../docs/loadgen-json.md");
        fn walk(prefix: &str, v: &Value, out: &mut Vec<String>) {
            if let Value::Object(m) = v {
                for (k, x) in m {
                    // Status codes are data, not schema.
                    if prefix.ends_with("statuses") || prefix == "server" {
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
        // With thresholds judged and an abort, so those fields are walked too.
        let mut r = open();
        r.thresholds = crate::slo::Slo::parse("p99<5ms,rps>1")
            .unwrap()
            .check(&r.figures());
        r.aborted = Some(crate::result::Aborted {
            after: std::time::Duration::from_secs(10),
            failed: r.thresholds[..1].to_vec(),
        });
        // With a mix, so its fields are walked too.
        let mut mix = crate::mix::Mix {
            entries: Vec::new(),
            order: crate::mix::Order::RoundRobin,
            seed: 1,
        };
        mix.entries.push(crate::mix::Entry {
            label: "GET /a".into(),
            weight: 1,
            bytes: b"GET /a HTTP/1.1\r\n\r\n".to_vec(),
            head: false,
        });
        r.mix = Some(mix.describe("mix.txt"));
        r.rec.entries = vec![Default::default()];
        r.rec.entries[0].reply(1000, 900, Some(200));
        // With what a server answered instead of a reply, so its fields are walked too.
        r.rec.answered = Some(crate::answer::Sample::of(b"+OK\r\n", 0, &[]));
        let j = json(&r);
        walk("", &j, &mut paths);
        for e in j["mix"]["per_entry"].as_array().expect("array") {
            walk("mix.per_entry[]", e, &mut paths);
        }
        for e in j["errors"].as_array().expect("array") {
            walk("errors[]", e, &mut paths);
        }
        for t in j["thresholds"].as_array().expect("array") {
            walk("thresholds[]", t, &mut paths);
        }
        // A segment's and a merge's fields (issue 18).
        let (part, merged) = super::super::fixtures::split();
        walk("", &json(&part), &mut paths);
        let m = json(&merged);
        walk("", &m, &mut paths);
        for row in m["segments"].as_array().expect("array") {
            walk("segments[]", row, &mut paths);
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

    #[test]
    fn test_json_tls_object() {
        let j = json(&super::super::fixtures::over_tls(false));
        assert_eq!(j["tls"]["peer"]["verified"], false);
        assert_eq!(j["tls"]["resumed"], 97);
        assert_eq!(j["tls"]["peer"]["alpn"], "http/1.1");
        assert!(json(&super::super::fixtures::closed())["tls"].is_null());
    }
}
