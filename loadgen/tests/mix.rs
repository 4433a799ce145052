//! End-to-end: `--targets` request mixes against a server that records what it got.
//! Every run is bounded (a second or two) and every server thread ends with the test.

use serde_json::Value;
use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[path = "common/blocking_http.rs"]
mod blocking_http;
use blocking_http::BlockingHttp;
#[path = "common/run_json.rs"]
mod run_json;
use run_json::run_json;

/// What the recording server saw: per path, the requests and the headers and bodies.
#[derive(Default)]
struct Seen {
    by_path: HashMap<String, u64>,
    /// (path, lowercased header lines, body) of every request.
    requests: Vec<(String, Vec<String>, Vec<u8>)>,
}

/// A server that records every request: `/slow` answers after 20 ms, `/hang` never,
/// `/missing` with 404, every other path with 200.
struct Recording {
    srv: BlockingHttp,
    seen: Arc<Mutex<Seen>>,
}

impl Recording {
    fn start() -> Recording {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let log = seen.clone();
        let srv = BlockingHttp::start(Arc::new(move |r: &blocking_http::Request| {
            {
                let mut g = log.lock().unwrap();
                *g.by_path.entry(r.path.clone()).or_default() += 1;
                g.requests
                    .push((r.path.clone(), r.headers.clone(), r.body.clone()));
            }
            match r.path.as_str() {
                "/slow" => Some((Duration::from_millis(20), "200 OK")),
                "/hang" => None,
                "/missing" => Some((Duration::ZERO, "404 Not Found")),
                _ => Some((Duration::ZERO, "200 OK")),
            }
        }));
        Recording { srv, seen }
    }
}

fn loadgen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_loadgen"))
}

/// A folder of its own for a test's files.
fn dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("lg-mix-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn entry<'a>(j: &'a Value, label: &str) -> &'a Value {
    j["mix"]["per_entry"]
        .as_array()
        .expect("per_entry")
        .iter()
        .find(|e| e["label"] == label)
        .unwrap_or_else(|| panic!("no entry {label}"))
}

#[test]
fn test_mix_shares_headers_statuses_and_latency_per_entry() {
    let srv = Recording::start();
    let d = dir("shares");
    std::fs::write(d.join("body.json"), b"{\"a\":1}").unwrap();
    let t = d.join("targets.txt");
    let url = format!("http://{}/fast", srv.srv.addr);
    std::fs::write(
        &t,
        format!(
            "# three entries\nGET {url} weight=3\n\nGET /slow\n\nPOST /missing\nX-Entry: 1\n\
             Content-Type: application/json\n@body.json\n"
        ),
    )
    .unwrap();
    let target = format!("http://{}/", srv.srv.addr);
    let j = run_json(&[
        &target,
        "--targets",
        t.to_str().unwrap(),
        "-H",
        "X-Run: 7",
        "-c",
        "4",
        "-t",
        "1",
        "-d",
        "1500ms",
        "--warmup",
        "200ms",
    ]);
    srv.srv.stop.store(true, Ordering::Relaxed);
    let seen = srv.seen.lock().unwrap();

    let fast = entry(&j, &format!("GET {url}"));
    let slow = entry(&j, "GET /slow");
    let missing = entry(&j, "POST /missing");
    // Round robin, weighted: one worker, so each cycle of 5 writes is 3, 1, 1.
    let sent: Vec<u64> = [fast, slow, missing]
        .iter()
        .map(|e| e["sent"].as_u64().unwrap())
        .collect();
    let total: u64 = sent.iter().sum();
    assert!(total > 100, "{sent:?}");
    assert!(sent[0].abs_diff(3 * sent[1]) <= 3, "{sent:?}");
    assert!(sent[1].abs_diff(sent[2]) <= 1, "{sent:?}");
    assert!((fast["share_asked"].as_f64().unwrap() - 0.6).abs() < 1e-9);
    // The server got what each entry sent (up to the 4 in flight at the end).
    for (path, n) in [
        ("/fast", sent[0]),
        ("/slow", sent[1]),
        ("/missing", sent[2]),
    ] {
        let got = seen.by_path.get(path).copied().unwrap_or(0);
        assert!(
            got <= n && got + 4 >= n,
            "{path}: server {got}, loadgen {n}"
        );
    }
    // -H joins every entry; an entry's own headers and body go with it only.
    for (path, headers, body) in &seen.requests {
        assert!(
            headers.iter().any(|h| h == "x-run: 7"),
            "{path}: {headers:?}"
        );
        let own = headers.iter().any(|h| h == "x-entry: 1");
        assert_eq!(own, path == "/missing", "{path}: {headers:?}");
        if path == "/missing" {
            assert_eq!(body, b"{\"a\":1}");
        } else {
            assert!(body.is_empty());
        }
    }
    // Statuses and failures per entry.
    assert_eq!(missing["non_2xx_3xx"], missing["measured"]);
    assert!(
        missing["statuses"]["404"].as_u64().unwrap() > 0,
        "{missing}"
    );
    assert_eq!(fast["non_2xx_3xx"], 0);
    assert_eq!(fast["statuses"]["200"], fast["measured"]);
    for e in [fast, slow, missing] {
        assert_eq!(e["failed"], 0);
    }
    // Latency per entry: /slow waits 20 ms at the server, /fast does not. (Both are
    // in the run's histogram; only the per-entry split tells them apart.)
    let p50 = |e: &Value| e["corrected_us"]["p50"].as_u64().unwrap();
    assert!(p50(slow) >= 20_000, "slow p50 {}", p50(slow));
    assert!(p50(fast) < 20_000, "fast p50 {}", p50(fast));
    // The entries' measured replies are the run's.
    let measured: u64 = [fast, slow, missing]
        .iter()
        .map(|e| e["measured"].as_u64().unwrap())
        .sum();
    assert_eq!(measured, j["requests"]["measured"].as_u64().unwrap());
    assert_eq!(j["mix"]["order"], "round-robin");
    std::fs::remove_dir_all(&d).unwrap();
}

/// Each entry counts its failures where the run counts its timeouts: in the
/// measurement, by when they were seen. A request sent in the warm-up that times out
/// after it is the run's timeout and its entry's failure (it was the run's only).
#[test]
fn test_mix_failures_per_entry_add_up_to_the_run_s() {
    let srv = Recording::start();
    let d = dir("failures");
    let t = d.join("t.txt");
    std::fs::write(&t, "GET /hang\nGET /fast\n").unwrap();
    let target = format!("http://{}/", srv.srv.addr);
    let j = run_json(&[
        &target,
        "--targets",
        t.to_str().unwrap(),
        "--timeout",
        "300ms",
        "-R",
        "20",
        "-c",
        "2",
        "-t",
        "1",
        "-d",
        "1500ms",
        "--warmup",
        "100ms",
    ]);
    let hang = entry(&j, "GET /hang");
    let fast = entry(&j, "GET /fast");
    let timed_out = j["censored"]["timed_out"].as_u64().unwrap();
    // The first /hang went out at the start, in the warm-up, and timed out after it.
    assert!(timed_out >= 2, "{timed_out}");
    assert_eq!(hang["failed"].as_u64(), Some(timed_out), "{hang}");
    assert_eq!(hang["measured"], 0);
    assert_eq!(fast["failed"], 0, "{fast}");
    // Its censored requests are in its corrected histogram, as in the run's.
    let count = |e: &Value| e["corrected_us"]["count"].as_u64().unwrap();
    let unfinished = j["censored"]["unfinished"].as_u64().unwrap();
    assert!(
        (timed_out..=timed_out + unfinished).contains(&count(hang)),
        "{hang}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn test_mix_random_order_follows_the_weights() {
    let d = dir("random");
    let t = d.join("t.txt");
    std::fs::write(&t, "GET /a\nGET /b weight=3\n").unwrap();
    // No TARGET and paths only: the embedded server.
    let j = run_json(&[
        "--targets",
        t.to_str().unwrap(),
        "--order",
        "random",
        "--seed",
        "5",
        "-c",
        "2",
        "-d",
        "1s",
        "--warmup",
        "0s",
    ]);
    assert_eq!(j["embedded"], true);
    assert_eq!(
        (j["mix"]["order"].as_str(), j["mix"]["seed"].as_u64()),
        (Some("random"), Some(5))
    );
    let b = entry(&j, "GET /b");
    let a = entry(&j, "GET /a");
    let n = a["sent"].as_u64().unwrap() + b["sent"].as_u64().unwrap();
    assert!(n > 1000, "{n}");
    let share = b["share_sent"].as_f64().unwrap();
    assert!((share - 0.75).abs() < 0.03, "share of /b {share} of {n}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn test_mix_beyond_64_entries_counts_the_rest_as_other() {
    let d = dir("other");
    let t = d.join("t.txt");
    let text: String = (0..70).map(|i| format!("GET /p{i}\n")).collect();
    std::fs::write(&t, text).unwrap();
    let j = run_json(&[
        "--targets",
        t.to_str().unwrap(),
        "-c",
        "2",
        "-t",
        "1",
        "-n",
        "1400",
    ]);
    let rows = j["mix"]["per_entry"].as_array().unwrap();
    assert_eq!(rows.len(), 65);
    assert_eq!(j["mix"]["entries"], 70);
    assert_eq!(rows[64]["label"], "other (6 entries)");
    assert_eq!(rows[64]["weight"], 6);
    // -n 1400 over 70 entries in turn: 20 each, so "other" has 120.
    assert_eq!(rows[64]["measured"], 120);
    assert!(rows[..64].iter().all(|r| r["measured"] == 20), "{rows:?}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn test_mix_without_a_target_goes_to_its_first_url() {
    let srv = Recording::start();
    let d = dir("first-url");
    let t = d.join("t.txt");
    std::fs::write(&t, format!("GET /a\nGET http://{}/b\n", srv.srv.addr)).unwrap();
    let j = run_json(&["--targets", t.to_str().unwrap(), "-c", "1", "-n", "10"]);
    assert_eq!(j["embedded"], false);
    assert_eq!(j["target"], format!("http://{}/", srv.srv.addr));
    srv.srv.stop.store(true, Ordering::Relaxed);
    let seen = srv.seen.lock().unwrap();
    assert_eq!(seen.by_path.get("/a"), Some(&5));
    assert_eq!(seen.by_path.get("/b"), Some(&5));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn test_bad_targets_files_are_refused_before_the_run() {
    let d = dir("bad");
    let other = d.join("other.txt");
    std::fs::write(&other, "GET /a\nGET http://127.0.0.1:1/b\n").unwrap();
    let bad_line = d.join("bad.txt");
    std::fs::write(&bad_line, "GET /a\nX-A: 1\n@nothere.json\n").unwrap();
    let o = other.to_str().unwrap();
    let b = bad_line.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["http://127.0.0.1:9/", "--targets", o],
            "line 2: http://127.0.0.1:1/b is not the run's target",
        ),
        (vec!["--targets", b], "line 3: @nothere.json"),
        (
            vec!["--targets", "/nonexistent/t.txt"],
            "--targets /nonexistent/t.txt",
        ),
        (
            vec!["--targets", o, "--proto", "echo"],
            "--targets holds HTTP requests",
        ),
        (vec!["--targets", o, "--body", "x"], "cannot be used with"),
        (vec!["--order", "random"], "--targets"),
        (
            vec!["--targets", o, "--seed", "3"],
            "--seed is for --order random",
        ),
    ];
    for (args, want) in cases {
        let out = loadgen().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    std::fs::remove_dir_all(&d).unwrap();
}
