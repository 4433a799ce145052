//! End-to-end: one run split over segments (`--segment I/N`), each a process of its
//! own against one server on loopback, then `loadgen merge` of their `--result` files.
//! The merge holds exactly what the segments measured and the server saw. Every run is
//! bounded (a few seconds); the server thread ends with the test.

use loadgen::result::RunResult;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::Ordering;
use std::time::Duration;

#[path = "common/split_run.rs"]
mod split_run;
use split_run::{counting_server, stderr};

fn loadgen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_loadgen"))
}

/// A folder of its own for a test's files.
fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lg-seg-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Run the `n` segments of `args` at once, each writing `dir/seg-I.json`; their
/// outputs, in order.
fn run_segments(dir: &Path, n: usize, args: &[&str]) -> Vec<Output> {
    let children: Vec<_> = (0..n)
        .map(|i| {
            loadgen()
                .args(args)
                .args(["--segment", &format!("{i}/{n}")])
                .arg("--result")
                .arg(dir.join(format!("seg-{i}.json")))
                .output()
        })
        .collect::<Vec<_>>();
    children.into_iter().map(|c| c.unwrap()).collect()
}

/// The same, started together (each in a thread of its own).
fn run_segments_together(dir: &Path, n: usize, args: &[&str]) -> Vec<Output> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let (args, file) = (args.clone(), dir.join(format!("seg-{i}.json")));
            std::thread::spawn(move || {
                loadgen()
                    .args(&args)
                    .args(["--segment", &format!("{i}/{n}")])
                    .arg("--result")
                    .arg(file)
                    .output()
                    .unwrap()
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

fn read_result(p: &Path) -> RunResult {
    loadgen::result_file::read(&std::fs::read(p).unwrap()).unwrap()
}

fn merge(files: &[PathBuf], extra: &[&str]) -> Output {
    loadgen()
        .arg("merge")
        .args(files)
        .args(extra)
        .output()
        .unwrap()
}

fn seg_files(dir: &Path, n: usize) -> Vec<PathBuf> {
    (0..n).map(|i| dir.join(format!("seg-{i}.json"))).collect()
}

/// Issue 18, items 1, 2 and 5: `-n 900` split exactly over 3 segments in open loop;
/// the merge counts what the segments measured and the server saw, and its histograms
/// (whole run, each second) are the segments' added bucket for bucket.
#[test]
fn test_three_segments_merge_exactly_to_what_the_server_saw() {
    let (srv, seen) = counting_server();
    let d = dir("exact");
    let url = format!("http://{}/", srv.addr);
    let args = [
        "run",
        &url,
        "-c",
        "6",
        "-R",
        "600",
        "-n",
        "900",
        "--timeout",
        "5s",
    ];
    for o in run_segments_together(&d, 3, &args) {
        assert!(o.status.success(), "{}", stderr(&o));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains("run:         segment "), "{text}");
    }
    let segs: Vec<RunResult> = seg_files(&d, 3).iter().map(|p| read_result(p)).collect();
    let shares: Vec<u64> = segs.iter().map(|r| r.rec.measured).collect();
    assert_eq!(shares, [300, 300, 300], "-n split exactly");
    assert_eq!(
        segs.iter().map(|r| r.load.connections).collect::<Vec<_>>(),
        [2, 2, 2]
    );
    let log = d.join("merged.hlog");
    let out = merge(
        &seg_files(&d, 3),
        &[
            "--json",
            "-",
            "--slo",
            "p99<2s",
            "--log",
            log.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["requests"]["measured"], 900);
    assert_eq!(seen.load(Ordering::Relaxed), 900, "the server's count");
    assert_eq!(j["thresholds"][0]["pass"], true, "judged on the merge");
    assert_eq!(j["segments"].as_array().unwrap().len(), 3);
    assert_eq!(j["run"]["plan"].as_str().unwrap().len(), 64);
    // Bucket for bucket: the whole run's corrected histogram and each second's.
    let mut want = loadgen::record::new_histogram();
    for r in &segs {
        want.add(&r.rec.corrected).unwrap();
    }
    let text = j["histograms"]["corrected"].as_str().unwrap();
    assert_eq!(loadgen::report::decode_histogram(text).unwrap(), want);
    let logged = loadgen::report::read_interval_log(&std::fs::read(&log).unwrap()).unwrap();
    for (k, iv) in logged.iter().enumerate() {
        let mut second = loadgen::record::new_histogram();
        for r in &segs {
            if let Some(s) = r.intervals.get(k) {
                second.add(s.corrected.histogram()).unwrap();
            }
        }
        assert_eq!(iv.histogram, second, "second {k}");
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// Closed loop: the connections split, the remainder to the first segments; a
/// segment missing from the merge is named, and the exit code is 4.
#[test]
fn test_closed_loop_splits_connections_and_a_missing_segment_fails_the_merge() {
    let (srv, _) = counting_server();
    let d = dir("closed");
    let url = format!("http://{}/", srv.addr);
    let args = ["run", &url, "-c", "5", "-d", "1s", "--warmup", "200ms"];
    for o in run_segments(&d, 2, &args) {
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let conns: Vec<usize> = seg_files(&d, 2)
        .iter()
        .map(|p| read_result(p).load.connections)
        .collect();
    assert_eq!(conns, [3, 2]);
    let out = merge(&seg_files(&d, 2), &["--json", "-"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["connections"], 5);
    let out = merge(&seg_files(&d, 2)[1..], &[]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("segment(s) 0 of 2 missing"),
        "{}",
        stderr(&out)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("0/2        LOST"));
    let _ = std::fs::remove_dir_all(&d);
}

/// Files of another plan, a segment twice, and a file that is not a result are
/// refused (exit 2), each with its reason.
#[test]
fn test_merge_refuses_what_is_not_one_run() {
    let (srv, _) = counting_server();
    let d = dir("refuse");
    let url = format!("http://{}/", srv.addr);
    let base = ["run", &url, "-c", "2", "-n", "20"];
    for o in run_segments(&d, 2, &base) {
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let other = d.join("other");
    std::fs::create_dir_all(&other).unwrap();
    for o in run_segments(&other, 2, &["run", &url, "-c", "2", "-n", "22"]) {
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let mine = seg_files(&d, 2);
    let theirs = seg_files(&other, 2);
    let cases: [(Vec<PathBuf>, &str); 3] = [
        (vec![mine[0].clone(), theirs[1].clone()], "another plan"),
        (
            vec![mine[1].clone(), mine[1].clone()],
            "segment 1/2 given twice",
        ),
        (
            vec![mine[0].clone(), PathBuf::from("Cargo.toml")],
            "not a loadgen result",
        ),
    ];
    for (files, why) in cases {
        let out = merge(&files, &[]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(why), "{why}: {}", stderr(&out));
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// What cannot be split is refused before anything runs, with a reason.
#[test]
fn test_segments_that_cannot_be_are_refused() {
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "search",
                "http://127.0.0.1:9/",
                "--slo",
                "p99<5ms",
                "--segment",
                "0/2",
            ],
            "a search cannot be split",
        ),
        (
            &["run", "http://127.0.0.1:9/", "-c", "2", "--segment", "0/3"],
            "give -c 3",
        ),
        (&["run", "--segment", "0/2"], "needs a TARGET"),
        (
            &["run", "http://127.0.0.1:9/", "--segment", "2/2"],
            "0 <= I < N",
        ),
    ];
    for (args, why) in cases {
        let out = loadgen().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(why), "{why}: {}", stderr(&out));
    }
}

/// `--start-at`: segments started apart begin measuring together, at the instant
/// given; their run's nonce is that instant, so the merge sees one run; a segment
/// whose start has passed fails with exit 4.
#[test]
fn test_start_at_makes_segments_begin_together() {
    let (srv, _) = counting_server();
    let d = dir("start-at");
    let url = format!("http://{}/", srv.addr);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let at = (now_ms + 2500).to_string();
    let args = [
        "run",
        &url,
        "-c",
        "4",
        "-R",
        "200",
        "-d",
        "1s",
        "--warmup",
        "500ms",
        "--start-at",
        &at,
    ];
    // Started 700 ms apart.
    let spawn = |i: usize| {
        loadgen()
            .args(args)
            .args(["--segment", &format!("{i}/2"), "--result"])
            .arg(d.join(format!("seg-{i}.json")))
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let first = spawn(0);
    std::thread::sleep(Duration::from_millis(700));
    let second = spawn(1);
    for mut c in [first, second] {
        assert!(c.wait().unwrap().success());
    }
    let starts: Vec<f64> = seg_files(&d, 2)
        .iter()
        .map(|p| read_result(p).started_unix_s.unwrap())
        .collect();
    for s in &starts {
        let late_ms = s * 1000.0 - (now_ms + 2500) as f64;
        assert!(
            (0.0..50.0).contains(&late_ms),
            "began {late_ms:.1} ms after --start-at"
        );
    }
    let out = merge(&seg_files(&d, 2), &["--json", "-"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("apart"), "{}", stderr(&out));
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["run"]["nonce"], format!("t{}", now_ms + 2500));
    // A start already passed.
    let past = (now_ms - 1000).to_string();
    let out = loadgen()
        .args([
            "run",
            &url,
            "-c",
            "2",
            "-d",
            "1s",
            "--segment",
            "0/2",
            "--start-at",
            &past,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the start passed"),
        "{}",
        stderr(&out)
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// A request mix keeps its shares over the union of the segments: round robin by
/// weight, and random from one `--seed` (each segment's workers their own sequence).
#[test]
fn test_a_mix_keeps_its_shares_over_the_segments() {
    let (srv, seen) = counting_server();
    let d = dir("mix");
    let t = d.join("targets.txt");
    let base = format!("http://{}", srv.addr);
    std::fs::write(&t, format!("GET {base}/a weight=3\n\nGET {base}/b\n")).unwrap();
    for order in [
        &["--order", "round-robin"][..],
        &["--order", "random", "--seed", "9"],
    ] {
        let mut args = vec![
            "run",
            "--targets",
            t.to_str().unwrap(),
            "-c",
            "4",
            "-n",
            "4000",
        ];
        args.extend_from_slice(order);
        for o in run_segments_together(&d, 2, &args) {
            assert!(o.status.success(), "{}", stderr(&o));
        }
        let out = merge(&seg_files(&d, 2), &["--json", "-"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let j: Value = serde_json::from_slice(&out.stdout).unwrap();
        let rows = j["mix"]["per_entry"].as_array().unwrap();
        let sent: Vec<u64> = rows.iter().map(|r| r["sent"].as_u64().unwrap()).collect();
        assert_eq!(sent.iter().sum::<u64>(), 4000, "{order:?}");
        let share = sent[0] as f64 / 4000.0;
        assert!((share - 0.75).abs() < 0.03, "{order:?}: /a had {share}");
        let per_segment: u64 = seg_files(&d, 2)
            .iter()
            .map(|p| read_result(p).rec.entries[0].sent)
            .sum();
        assert_eq!(per_segment, sent[0], "the merge is the segments' sum");
    }
    assert_eq!(seen.load(Ordering::Relaxed), 8000);
    let _ = std::fs::remove_dir_all(&d);
}
