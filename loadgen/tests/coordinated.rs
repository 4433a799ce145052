//! End-to-end: `--coordinator` over loopback. Segment 0 starts the others at one
//! instant, collects their results, merges them and judges once; what is not one
//! whole run (a segment missing, lost, of another run, a wrong token) fails it with
//! exit 4, named. Every run is bounded (seconds); every child is waited for.

use serde_json::Value;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

#[path = "common/split_run.rs"]
mod split_run;
use split_run::{counting_server, merged_json, stderr};

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Segment `seg` of `args`, through the coordinator at `port`, with `token`.
fn segment(args: &[&str], seg: &str, port: u16, token: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .args([
            "--segment",
            seg,
            "--coordinator",
            &format!("127.0.0.1:{port}"),
        ])
        .env("LOADGEN_TOKEN", token)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Issue 18, items 3 and 4: three segments start at the coordinator's instant (each
/// row has its clock against segment 0's), segment 0 merges what they measured (the
/// server's count), and judges --slo once: its exit code is the run's, the others' 0.
#[test]
fn test_segment_0_starts_merges_and_judges_once() {
    let (srv, seen) = counting_server();
    let url = format!("http://{}/", srv.addr);
    let port = free_port();
    let args = [
        "run",
        &url,
        "-c",
        "6",
        "-R",
        "600",
        "-n",
        "900",
        "--json",
        "-",
        "--slo",
        "p99<10s,p50<1us",
    ];
    let kids: Vec<Child> = ["2/3", "1/3", "0/3"]
        .iter()
        .map(|s| segment(&args, s, port, "t0ken"))
        .collect();
    let outs: Vec<Output> = kids
        .into_iter()
        .map(|k| k.wait_with_output().unwrap())
        .collect();
    let (coord, members) = (&outs[2], &outs[..2]);
    for m in members {
        assert_eq!(
            m.status.code(),
            Some(0),
            "a member leaves --slo to the merge: {}",
            stderr(m)
        );
        let j: Value = serde_json::from_slice(&m.stdout).unwrap();
        assert_eq!(j["requests"]["measured"], 300);
        assert!(j["segment"]["skew"]["bound_s"].as_f64().unwrap() < 0.01);
    }
    assert_eq!(coord.status.code(), Some(99), "{}", stderr(coord));
    let j = merged_json(coord);
    assert_eq!(j["requests"]["measured"], 900);
    assert_eq!(seen.load(Ordering::Relaxed), 900, "the server's count");
    let verdicts: Vec<bool> = j["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["pass"].as_bool().unwrap())
        .collect();
    assert_eq!(verdicts, [true, false], "judged on the merge");
    let rows = j["segments"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for r in rows {
        assert_eq!(r["measured"], 300, "{r}");
        assert!(r["skew"]["bound_s"].as_f64().is_some(), "{r}");
    }
    // They began together: their own clocks agree within a few ms (one machine).
    let starts: Vec<f64> = rows
        .iter()
        .map(|r| r["started_unix_s"].as_f64().unwrap())
        .collect();
    let spread = starts.iter().cloned().fold(f64::MIN, f64::max)
        - starts.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread < 0.02, "started {spread:.4}s apart");
    assert_eq!(j["run"]["nonce"].as_str().unwrap().len(), 32);
}

/// A segment that never comes is named after --wait-segments; the others are told to
/// abort; nothing is measured (the server sees no request).
#[test]
fn test_a_missing_segment_fails_the_run_before_it_measures() {
    let (srv, seen) = counting_server();
    let url = format!("http://{}/", srv.addr);
    let port = free_port();
    let args = [
        "run",
        &url,
        "-c",
        "3",
        "-R",
        "100",
        "-d",
        "2s",
        "--wait-segments",
        "2s",
    ];
    let kids: Vec<Child> = ["1/3", "0/3"]
        .iter()
        .map(|s| segment(&args, s, port, "t"))
        .collect();
    let outs: Vec<Output> = kids
        .into_iter()
        .map(|k| k.wait_with_output().unwrap())
        .collect();
    for o in &outs {
        assert_eq!(o.status.code(), Some(4), "{}", stderr(o));
    }
    let e = stderr(&outs[1]);
    assert!(e.contains("segment 2") && e.contains("never"), "{e}");
    assert_eq!(seen.load(Ordering::Relaxed), 0, "nothing measured");
}

/// The coordinator's port refuses a wrong token, a segment of another plan and
/// garbage, counts each, and the run it waits for still fails as not whole.
#[test]
fn test_the_coordinator_refuses_what_is_not_its_run() {
    let (srv, _) = counting_server();
    let url = format!("http://{}/", srv.addr);
    let port = free_port();
    let args = [
        "run",
        &url,
        "-c",
        "2",
        "-R",
        "100",
        "-d",
        "1s",
        "--wait-segments",
        "3s",
    ];
    let coord = segment(&args, "0/2", port, "right");
    std::thread::sleep(Duration::from_millis(500));
    let wrong_token = segment(&args, "1/2", port, "wrong")
        .wait_with_output()
        .unwrap();
    let other = [
        "run",
        &url,
        "-c",
        "2",
        "-R",
        "101",
        "-d",
        "1s",
        "--wait-segments",
        "3s",
    ];
    let other_plan = segment(&other, "1/2", port, "right")
        .wait_with_output()
        .unwrap();
    {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        std::thread::sleep(Duration::from_millis(200));
    }
    let coord = coord.wait_with_output().unwrap();
    assert_eq!(wrong_token.status.code(), Some(4));
    assert!(
        stderr(&wrong_token).contains("token"),
        "{}",
        stderr(&wrong_token)
    );
    assert_eq!(other_plan.status.code(), Some(4));
    assert!(
        stderr(&other_plan).contains("plan"),
        "{}",
        stderr(&other_plan)
    );
    assert_eq!(coord.status.code(), Some(4), "{}", stderr(&coord));
    let e = stderr(&coord);
    assert!(
        e.contains("garbage 1") && e.contains("bad token 1") && e.contains("another run 1"),
        "{e}"
    );
}

/// A segment killed mid-run is named lost; the merge reports what the others measured
/// and the run exits 4. SIGINT on the coordinator stops every segment, and what they
/// measured is still merged (exit 130).
#[test]
fn test_lost_segments_and_a_signal_on_the_coordinator() {
    let (srv, _) = counting_server();
    let url = format!("http://{}/", srv.addr);
    let port = free_port();
    let args = [
        "run", &url, "-c", "3", "-R", "150", "-d", "4s", "--warmup", "0s", "--json", "-",
    ];
    let mut kids: Vec<Child> = ["2/3", "1/3", "0/3"]
        .iter()
        .map(|s| segment(&args, s, port, "t"))
        .collect();
    std::thread::sleep(Duration::from_millis(2500));
    kids[0].kill().unwrap();
    let outs: Vec<Output> = kids
        .into_iter()
        .map(|k| k.wait_with_output().unwrap())
        .collect();
    let coord = &outs[2];
    assert_eq!(coord.status.code(), Some(4), "{}", stderr(coord));
    let j = merged_json(coord);
    let rows = j["segments"].as_array().unwrap();
    assert!(
        rows[2]["lost"].as_str().unwrap().contains("lost mid-run"),
        "{}",
        rows[2]
    );
    let others: u64 = rows[..2]
        .iter()
        .map(|r| r["measured"].as_u64().unwrap())
        .sum();
    assert_eq!(j["requests"]["measured"].as_u64().unwrap(), others);
    assert!(
        stderr(coord).contains("segment(s) 2 of 3 missing"),
        "{}",
        stderr(coord)
    );

    let port = free_port();
    let long = [
        "run", &url, "-c", "3", "-R", "150", "-d", "30s", "--warmup", "0s", "--json", "-",
    ];
    let kids: Vec<Child> = ["2/3", "1/3", "0/3"]
        .iter()
        .map(|s| segment(&long, s, port, "t"))
        .collect();
    std::thread::sleep(Duration::from_millis(2500));
    let pid = kids[2].id() as i32;
    unsafe { libc::kill(pid, libc::SIGINT) };
    let t = std::time::Instant::now();
    let outs: Vec<Output> = kids
        .into_iter()
        .map(|k| k.wait_with_output().unwrap())
        .collect();
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "every segment stopped"
    );
    assert_eq!(outs[2].status.code(), Some(130), "{}", stderr(&outs[2]));
    let j = merged_json(&outs[2]);
    assert!(j["duration_s"].as_f64().unwrap() < 10.0);
    for (row, m) in j["segments"].as_array().unwrap()[1..]
        .iter()
        .zip(&outs[..2])
    {
        assert_eq!(m.status.code(), Some(0), "{}", stderr(m));
        let mine: Value = serde_json::from_slice(&m.stdout).unwrap();
        assert_eq!(row["measured"], mine["requests"]["measured"]);
        assert!(row["measured"].as_u64().unwrap() > 100, "{row}");
    }
}
