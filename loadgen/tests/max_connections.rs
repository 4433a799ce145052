//! End-to-end: `--max-connections` adds connections to an open-loop run when the rate
//! times the latency needs more than `-c`, against a server whose every reply takes
//! 10 ms (a sleep per request, a thread per connection: its capacity grows with the
//! connections, as a real server's would). Every run is bounded (a few seconds).

use serde_json::Value;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

#[path = "common/blocking_http.rs"]
mod blocking_http;
use blocking_http::BlockingHttp;
#[path = "common/run_json.rs"]
mod run_json;
use run_json::run_json;

/// The reply delay.
const DELAY: Duration = Duration::from_millis(10);

/// Every reply 10 ms after its request.
fn slow() -> BlockingHttp {
    BlockingHttp::start(Arc::new(|_: &blocking_http::Request| {
        Some((DELAY, "200 OK"))
    }))
}

fn achieved(j: &Value) -> f64 {
    j["requests"]["measured"].as_f64().unwrap() / j["duration_s"].as_f64().unwrap()
}

/// 1,000 req/s at 10 ms each needs about 10 connections in flight (Little's law): 2
/// cannot carry it (200/s), and with --max-connections the run adds what it needs.
#[test]
fn test_open_loop_adds_connections_up_to_the_most() {
    let srv = slow();
    let target = format!("http://{}/", srv.addr);
    let base = [
        target.as_str(),
        "-R",
        "1000",
        "-c",
        "2",
        "-t",
        "1",
        "-d",
        "3s",
        "--warmup",
        "1s",
    ];
    // Without it: two connections, a fifth of the rate.
    let fixed = run_json(&base);
    assert_eq!(fixed["connections_peak"], 2);
    assert!(achieved(&fixed) < 400.0, "{}", achieved(&fixed));

    let mut grow = base.to_vec();
    grow.extend(["--max-connections", "100"]);
    let j = run_json(&grow);
    let peak = j["connections_peak"].as_u64().unwrap();
    assert_eq!(j["max_connections"], 100);
    // 1,000/s x ~10 ms x 1.25 headroom: about 13; a few more while latency settles.
    assert!((10..=40).contains(&peak), "peak {peak}");
    let rate = achieved(&j);
    assert!((950.0..=1050.0).contains(&rate), "achieved {rate}/s");
    // The connections were added in the warm-up: the measured corrected p99 is the
    // server's 10 ms and some, not the backlog of a rate that was missed.
    let p99 = j["latency_us"]["corrected"]["p99"].as_u64().unwrap();
    assert!(p99 < 100_000, "corrected p99 {p99} us");
    assert!(srv.accepted.load(Ordering::Relaxed) as u64 >= 2 + 2 + peak - 2);

    // Capped: at most 5, so the rate is missed, and the report says so.
    let mut capped = base.to_vec();
    capped.extend(["--max-connections", "5"]);
    let j = run_json(&capped);
    assert_eq!(j["connections_peak"], 5);
    assert!(achieved(&j) < 600.0, "{}", achieved(&j));
}

/// Stages: the connections follow the ramp up (never down: k6 keeps its VUs too).
#[test]
fn test_stages_add_connections_as_the_rate_rises() {
    let srv = slow();
    let target = format!("http://{}/", srv.addr);
    let j = run_json(&[
        target.as_str(),
        "--stages",
        "1s:200,2s:1500",
        "-c",
        "1",
        "-t",
        "1",
        "--max-connections",
        "200",
    ]);
    let peak = j["connections_peak"].as_u64().unwrap();
    // At the end: 1,500/s x 10 ms x 1.25: about 19.
    assert!((12..=60).contains(&peak), "peak {peak}");
    for st in j["stages"].as_array().unwrap() {
        let (t, a) = (
            st["target"].as_f64().unwrap(),
            st["achieved_rps"].as_f64().unwrap(),
        );
        assert!(
            (a - t).abs() / t < 0.05,
            "stage target {t}/s achieved {a}/s"
        );
    }
}

#[test]
fn test_max_connections_is_for_open_loop() {
    for (args, want) in [
        (vec!["-c", "4", "--max-connections", "8"], "open-loop run"),
        (
            vec!["-R", "100", "-c", "10", "--max-connections", "8"],
            "below -c 10",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}
