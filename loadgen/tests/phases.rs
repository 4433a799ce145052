//! End-to-end: every phase timed apart (issue 17, item 4) in a real run against the
//! embedded server, on 127.0.0.1: the JSON's phase histograms hold as many values as
//! there were connections and measured replies, the text report shows the block, the
//! `.hgrm` of each phase is written beside `--hgrm`'s, and no TLS phase appears on
//! plain connections. Each run is bounded by `-d` (a second or two).

#[path = "common/run_json.rs"]
mod run_json;

use run_json::run_json;
use serde_json::Value;
use std::process::Command;

fn count(j: &Value, path: &[&str]) -> u64 {
    let v = path.iter().fold(j, |v, k| &v[*k]);
    v.as_u64()
        .unwrap_or_else(|| panic!("{path:?} is not a count: {v}"))
}

/// "Total count" of a `.hgrm` file's footer.
fn hgrm_total(p: &std::path::Path) -> u64 {
    let text = std::fs::read_to_string(p).unwrap();
    let tail = text
        .split("Total count    = ")
        .nth(1)
        .unwrap_or_else(|| panic!("no total in {}", p.display()));
    tail.split(']').next().unwrap().trim().parse().unwrap()
}

#[test]
fn test_phases_count_every_connection_and_measured_reply() {
    // Pipelined, so replies share reads; no warm-up, so every connect is timed.
    let j = run_json(&[
        "-d",
        "1s",
        "--warmup",
        "0",
        "-c",
        "4",
        "-t",
        "2",
        "--pipeline",
        "3",
    ]);
    let p = &j["phases"];
    assert_eq!(
        count(p, &["connect_us", "count"]),
        count(&j, &["connects", "ok"])
    );
    let measured = count(&j, &["requests", "measured"]);
    assert!(measured > 0, "{j}");
    assert_eq!(count(p, &["ttfb_us", "count"]), measured);
    assert_eq!(count(p, &["transfer_us", "count"]), measured);
    assert_eq!(count(&j, &["latency_us", "raw", "count"]), measured);
    // Plain connections: no TLS handshake, and no zeros pretending to be one.
    assert_eq!(p["tls_handshake_us"], Value::Null);
    assert_eq!(p["histograms"]["tls_handshake"], Value::Null);
    assert!(p["histograms"]["ttfb"].is_string());
    // A reply's first byte comes no later than its last: ttfb within the raw latency.
    let raw_max = count(&j, &["latency_us", "raw", "max"]);
    assert!(count(p, &["ttfb_us", "max"]) <= raw_max, "{p}");
}

/// With a warm-up and a new connection every 5 requests, the connects of the warm-up
/// are left out: the phase holds the connect phase's connections (before the warm-up)
/// and those after it, which `connect_us` alone holds.
#[test]
fn test_phases_leave_out_the_warm_up_connects() {
    let j = run_json(&[
        "-d",
        "1s",
        "--warmup",
        "300ms",
        "-c",
        "2",
        "-t",
        "1",
        "--per-conn",
        "5",
    ]);
    let after_warmup = count(&j, &["connect_us", "count"]);
    let phase = count(&j, &["phases", "connect_us", "count"]);
    assert_eq!(phase, after_warmup + 2, "{j}");
    assert!(
        phase < count(&j, &["connects", "ok"]),
        "warm-up connects counted"
    );
    let measured = count(&j, &["requests", "measured"]);
    assert_eq!(count(&j, &["phases", "ttfb_us", "count"]), measured);
}

#[test]
fn test_text_shows_phases_and_hgrm_writes_one_per_phase() {
    let d = std::env::temp_dir().join(format!("loadgen-phases-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let (hgrm, json) = (d.join("lat.hgrm"), d.join("run.json"));
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["-d", "1s", "--warmup", "0", "-c", "2", "-t", "1", "--hgrm"])
        .arg(&hgrm)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let block = text
        .split("\nphases ")
        .nth(1)
        .unwrap_or_else(|| panic!("no phases block: {text}"));
    let rows: Vec<&str> = block.lines().take_while(|l| !l.is_empty()).collect();
    let labels: Vec<&str> = rows[1..]
        .iter()
        .filter_map(|r| r.split_whitespace().next())
        .collect();
    assert_eq!(labels, ["connect", "ttfb", "transfer"], "{text}");
    assert!(rows[0].contains("p50") && rows[0].contains("max"), "{text}");
    let j: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let measured = count(&j, &["requests", "measured"]);
    for (phase, want) in [
        ("connect", count(&j, &["connects", "ok"])),
        ("ttfb", measured),
        ("transfer", measured),
    ] {
        assert_eq!(
            hgrm_total(&d.join(format!("lat.{phase}.hgrm"))),
            want,
            "{phase}"
        );
    }
    assert!(hgrm.exists());
    assert!(!d.join("lat.tls_handshake.hgrm").exists());
    // No temporary left behind by the phase that was not written.
    let left: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let _ = std::fs::remove_dir_all(&d);
}
