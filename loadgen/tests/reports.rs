//! End-to-end: the report files of a real run (`--html`, `--csv`, `--json`, `--log`,
//! `--plot-log`) against the embedded server, the interval log as it is streamed (read
//! mid-run, after SIGTERM and SIGKILL) and its `--stages` targets, and `loadgen report`
//! over the files such runs wrote. Every run takes a few seconds, to 127.0.0.1 only, and
//! is waited on (bounded).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn loadgen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_loadgen"))
}

/// A directory of this test's own, emptied.
fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("loadgen-reports-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[track_caller]
fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}, stderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A two-second closed-loop run against the embedded server, with `extra` flags.
fn run(extra: &[&std::ffi::OsStr]) -> Output {
    loadgen()
        .args(["-d", "2s", "--warmup", "0", "-c", "4", "-t", "1"])
        .args(extra)
        .output()
        .unwrap()
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

#[test]
fn test_run_writes_html_csv_json_and_log_that_agree() {
    let d = dir("run");
    let (html, csv, json, log, svg) = (
        d.join("run.html"),
        d.join("run.csv"),
        d.join("run.json"),
        d.join("run.hlog"),
        d.join("run.svg"),
    );
    let out = run(&[
        "--html".as_ref(),
        html.as_os_str(),
        "--csv".as_ref(),
        csv.as_os_str(),
        "--json".as_ref(),
        json.as_os_str(),
        "--log".as_ref(),
        log.as_os_str(),
        "--plot".as_ref(),
        svg.as_os_str(),
        "--plot-log".as_ref(),
    ]);
    ok(&out);
    let j = read_json(&json);
    let target = j["target"].as_str().unwrap();
    let counted = j["latency_us"]["corrected"]["count"].as_u64().unwrap();
    assert!(counted > 0);

    // The HTML page: every section, the run's own numbers, nothing external.
    let page = std::fs::read_to_string(&html).unwrap();
    for id in [
        "summary",
        "latency",
        "timeline",
        "errors",
        "statuses",
        "thresholds",
        "command",
        "machine",
    ] {
        assert!(page.contains(&format!("<section id=\"{id}\">")), "no {id}");
    }
    assert!(page.contains(&format!(
        "<th>target</th><td>{target} (embedded readyloop server)"
    )));
    assert!(page.contains(&format!(
        "sent {}",
        group(j["requests"]["sent"].as_u64().unwrap())
    )));
    assert!(page.contains("no thresholds given"));
    assert!(
        page.matches("<svg").count() >= 4,
        "latency x2, throughput, p99"
    );
    assert!(page.contains(" --csv "), "the command line is shown");
    assert!(page.contains("<th>kernel</th><td>Linux "));
    let lower = page.to_ascii_lowercase();
    for attr in [
        "src=\"http",
        "href=\"http",
        "src='http",
        "href='http",
        "<script",
        "<link",
    ] {
        assert!(!lower.contains(attr), "{attr} in the page");
    }

    // The CSV: the header, one row per second, and its counts add up to the JSON's.
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("start_s,length_s,count,rps,p50_us,p90_us,p99_us,p999_us,max_us")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert!((2..=3).contains(&rows.len()), "{text}");
    assert!(rows.iter().all(|r| r.len() == 9), "{text}");
    let total: u64 = rows.iter().map(|r| r[2].parse::<u64>().unwrap()).sum();
    assert_eq!(total, counted, "CSV counts = corrected count\n{text}");
    for r in &rows {
        let max: u64 = r[8].parse().unwrap();
        let p50: u64 = r[4].parse().unwrap();
        assert!(p50 <= max, "{r:?}");
    }

    // The JSON carries the whole histogram, which reads back to its own count.
    let h =
        loadgen::report::decode_histogram(j["histograms"]["corrected"].as_str().unwrap()).unwrap();
    assert_eq!(h.len(), counted);
    assert_eq!(
        Some(h.max()),
        j["latency_us"]["corrected"]["max"].as_u64(),
        "the histogram is the summary's"
    );

    // --plot-log: the log latency axis, and the caption with the count.
    let s = std::fs::read_to_string(&svg).unwrap();
    assert!(s.contains("latency (ms, log scale)"));
    assert!(s.contains(&format!(
        "{} latencies recorded (corrected)",
        group(counted)
    )));
    let _ = std::fs::remove_dir_all(&d);
}

/// Counts as the reports print them.
use loadgen::report::group;

#[test]
fn test_report_compares_saved_runs() {
    let d = dir("compare");
    let (a_json, a_log, b_json) = (d.join("a.json"), d.join("a.hlog"), d.join("b.json"));
    ok(&run(&[
        "--json".as_ref(),
        a_json.as_os_str(),
        "--log".as_ref(),
        a_log.as_os_str(),
    ]));
    ok(&run(&["--json".as_ref(), b_json.as_os_str()]));
    let a = read_json(&a_json);

    // One table: a row per run, named by file.
    let out = loadgen()
        .arg("report")
        .args([&a_json, &b_json, &a_log])
        .output()
        .unwrap();
    let t = ok(&out);
    let lines: Vec<&str> = t.lines().collect();
    assert!(
        lines[0].starts_with("run") && lines[0].contains("p99.9"),
        "{t}"
    );
    assert!(lines[1].starts_with("a.json  json"), "{t}");
    assert!(lines[2].starts_with("b.json  json"), "{t}");
    assert!(
        lines[3].starts_with("a.hlog  hlog") && lines[3].ends_with("n/a"),
        "{t}"
    );
    assert!(!t.contains("B vs A"));

    // A against B, as JSON: one run each, so every verdict is "spread unknown".
    let out = loadgen()
        .arg("report")
        .arg(&a_json)
        .arg("--vs")
        .arg(&b_json)
        .args(["--json", "-"])
        .output()
        .unwrap();
    let j: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    let runs = j["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["file"], "a.json");
    assert_eq!(runs[0]["side"], "A");
    assert_eq!(
        runs[0]["p99_us"].as_f64(),
        a["latency_us"]["corrected"]["p99"].as_f64()
    );
    assert_eq!(runs[0]["throughput_rps"], a["throughput_rps"]);
    let cmp = j["comparison"].as_array().unwrap();
    // The seven of every run, then the phases these JSON reports hold (no TLS: plain).
    let names: Vec<&str> = cmp.iter().filter_map(|m| m["metric"].as_str()).collect();
    assert_eq!(
        names[7..],
        [
            "connect_p99_us",
            "ttfb_p50_us",
            "ttfb_p99_us",
            "transfer_p99_us"
        ],
        "{names:?}"
    );
    assert!(
        cmp.iter().all(|m| m["verdict"] == "spread_unknown"),
        "{cmp:?}"
    );

    // The interval log's percentiles are the JSON's: the same corrected histogram.
    let out = loadgen()
        .arg("report")
        .arg(&a_log)
        .args(["--json", "-"])
        .output()
        .unwrap();
    let l: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    let from_log = &l["runs"][0];
    assert_eq!(from_log["kind"], "hlog");
    assert_eq!(from_log["errors"], serde_json::Value::Null);
    for (k, jk) in [("p50_us", "p50"), ("p99_us", "p99"), ("max_us", "max")] {
        assert_eq!(
            from_log[k].as_f64(),
            a["latency_us"]["corrected"][jk].as_f64(),
            "{k}"
        );
    }

    // Two runs a side, and the files: HTML page and plot.
    let (html, svg) = (d.join("cmp.html"), d.join("cmp.svg"));
    let out = loadgen()
        .arg("report")
        .args([&a_json, &a_log])
        .arg("--vs")
        .args([&b_json, &b_json])
        .arg("--html")
        .arg(&html)
        .arg("--plot")
        .arg(&svg)
        .output()
        .unwrap();
    let t = ok(&out);
    assert!(t.contains("B vs A: 2 runs against 2 runs"), "{t}");
    // Errors: only the JSON run of side A has them, so A's spread is unknown, and the
    // note under the table says what that means.
    let errors = t.lines().rev().find(|l| l.starts_with("errors ")).unwrap();
    assert!(
        errors.starts_with("errors") && errors.ends_with("spread unknown: one run on a side"),
        "{t}"
    );
    assert!(t.contains("(spread unknown: with one run on a side"), "{t}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<section id=\"comparison\">"));
    assert!(page.contains("<td>a.hlog</td><td>A</td><td>hlog</td>"));
    assert_eq!(page.matches("<svg").count(), 2);
    let plot = std::fs::read_to_string(&svg).unwrap();
    assert!(plot.contains("A: a.json (max ") && plot.contains("B: b.json (max "));
    assert!(!plot.contains("log scale"));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn test_report_refuses_bad_files_naming_them() {
    let d = dir("bad");
    let write = |name: &str, body: &str| {
        let p = d.join(name);
        std::fs::write(&p, body).unwrap();
        p
    };
    // The least a JSON report must hold for `report`.
    let good = write(
        "good.json",
        r#"{"schema": 2, "throughput_rps": 10.0, "errors": [],
            "latency_us": {"corrected": {"p50": 1, "p90": 2, "p99": 3, "p99_9": 4, "p99_99": 5, "max": 6}}}"#,
    );
    let out = loadgen().arg("report").arg(&good).output().unwrap();
    let t = ok(&out);
    assert!(
        t.contains("good.json  json     10.00/s  1.00us  2.00us  3.00us  4.00us  6.00us       0"),
        "{t}"
    );
    let cases: Vec<(PathBuf, &str)> = vec![
        (d.join("missing.json"), "cannot read it"),
        (write("empty.json", "\n"), "empty file"),
        (
            write("junk.txt", "hello world\n"),
            "neither a loadgen JSON report nor an HdrHistogram interval log",
        ),
        (write("broken.json", "{\"schema\": 2,"), "not JSON"),
        (
            write("old.json", "{\"schema\": 1}"),
            "schema 1, but this loadgen reads schema 2",
        ),
        (
            write("other.json", "{\"name\": \"x\"}"),
            "not a loadgen report",
        ),
        (d.clone(), "cannot read it"),
    ];
    for (path, why) in cases {
        let html = d.join("out.html");
        let out = loadgen()
            .arg("report")
            .arg(&path)
            .arg("--html")
            .arg(&html)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {err}", path.display());
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(
            err.contains(&path.display().to_string()) && err.contains(why),
            "{}: {err}",
            path.display()
        );
        assert!(out.stdout.is_empty(), "no report for a bad file");
        assert!(!html.exists(), "nothing written for a bad file");
    }
    // A bad file on side B is refused the same way.
    let out = loadgen()
        .arg("report")
        .arg(&good)
        .arg("--vs")
        .arg(d.join("nope.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.json: cannot read it"));
    // Flags: --plot-log needs --plot, report needs a file, the plot must be .svg.
    for args in [
        vec!["report", "x.json", "--plot-log"],
        vec!["report"],
        vec!["report", "x.json", "--plot", "x.png"],
        vec!["--plot-log"],
    ] {
        let out = loadgen().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    // No temporaries left beside the outputs.
    let left: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let _ = std::fs::remove_dir_all(&d);
}

/// The intervals of the interval log at `p` now.
fn read_log(p: &Path) -> Vec<loadgen::report::LoggedInterval> {
    let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    loadgen::report::read_interval_log(&bytes).unwrap()
}

/// The CSV's rows, each split in its cells, under its header.
fn read_csv(p: &Path) -> (String, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(p).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default().to_string();
    let rows = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    (header, rows)
}

/// The log's intervals are the CSV's rows (which the end of the run writes from the
/// intervals it kept): start, length, count and every percentile, so the streamed log
/// holds the very histograms the end-of-run writer would have written.
#[track_caller]
fn log_is_the_csv(log: &[loadgen::report::LoggedInterval], rows: &[Vec<String>]) {
    assert_eq!(log.len(), rows.len(), "intervals against CSV rows");
    for (iv, row) in log.iter().zip(rows) {
        let h = &iv.histogram;
        let mut cells = vec![
            format!("{:.3}", iv.start.as_secs_f64()),
            format!("{:.3}", iv.length.as_secs_f64()),
            h.len().to_string(),
        ];
        if !h.is_empty() {
            let q = |q: f64| h.value_at_quantile(q).to_string();
            cells.push(row[3].clone()); // rps: count / length, as the CSV rounds it
            cells.extend([q(0.5), q(0.9), q(0.99), q(0.999), h.max().to_string()]);
        }
        assert_eq!(&row[..cells.len()], &cells[..], "{row:?}");
    }
}

/// Spawn loadgen with `args`, its output piped.
fn spawn(args: &[&std::ffi::OsStr]) -> std::process::Child {
    loadgen()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Wait for `child` (at most 15 s: then it is killed and the test fails).
fn wait(mut child: std::process::Child) -> Output {
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(15) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("loadgen still running after 15 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn signal(child: &std::process::Child, sig: i32) {
    // SAFETY: kill(2) on our own child, not yet reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, sig) };
}

/// The names of the files in `d`, sorted.
fn names(d: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Issue 10, item 8: `--log` is written as the run goes: mid-run FILE holds the
/// seconds complete so far (the other files come at the end), and at the end it holds
/// what the end-of-run writer would have: the CSV's intervals, to every percentile.
#[test]
fn test_log_is_streamed_during_the_run_and_ends_as_the_run_s_intervals() {
    let d = dir("stream");
    let (log, csv, json) = (d.join("run.hlog"), d.join("run.csv"), d.join("run.json"));
    let started = std::time::Instant::now();
    let child = spawn(&[
        "-d".as_ref(),
        "4s".as_ref(),
        "--warmup".as_ref(),
        "0".as_ref(),
        "-c".as_ref(),
        "4".as_ref(),
        "-t".as_ref(),
        "2".as_ref(),
        "--log".as_ref(),
        log.as_os_str(),
        "--csv".as_ref(),
        csv.as_os_str(),
        "--json".as_ref(),
        json.as_os_str(),
    ]);
    std::thread::sleep(std::time::Duration::from_millis(2500).saturating_sub(started.elapsed()));
    let mid = read_log(&log);
    let running = started.elapsed();
    assert!(
        running < std::time::Duration::from_millis(3800),
        "read {running:?} after the start: too late to be mid-run"
    );
    assert!(
        (1..=3).contains(&mid.len()),
        "{} intervals after 2.5 s",
        mid.len()
    );
    for (k, iv) in mid.iter().enumerate() {
        assert_eq!(iv.start, std::time::Duration::from_secs(k as u64));
        assert_eq!(iv.length, std::time::Duration::from_secs(1));
        assert!(!iv.histogram.is_empty(), "second {k} has latencies");
    }
    assert!(
        !csv.exists() && !json.exists(),
        "the other files come at the end"
    );
    let out = wait(child);
    ok(&out);

    let end = read_log(&log);
    let (_, rows) = read_csv(&csv);
    log_is_the_csv(&end, &rows);
    assert_eq!(end.len(), 4, "four seconds");
    let total: u64 = end.iter().map(|iv| iv.histogram.len()).sum();
    let j = read_json(&json);
    assert_eq!(
        Some(total),
        j["latency_us"]["corrected"]["count"].as_u64(),
        "the log's counts are the run's"
    );
    // The seconds streamed mid-run stand (but the last second, which the run's end
    // may add its censored requests to).
    assert_eq!(end[0].histogram, mid[0].histogram);
    assert_eq!(
        names(&d),
        ["run.csv", "run.hlog", "run.json"],
        "no temporary left"
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// Issue 10, item 8: a run stopped by SIGTERM finishes its log (the last, partial
/// interval too: it is the CSV's, and its counts the JSON's); one killed (SIGKILL)
/// leaves FILE with every second complete by then, readable, under its own name.
#[test]
fn test_interrupted_and_killed_runs_leave_a_log_that_reads_back() {
    let d = dir("interrupt");
    let (log, csv, json) = (d.join("term.hlog"), d.join("term.csv"), d.join("term.json"));
    let killed = d.join("killed").join("kill.hlog");
    std::fs::create_dir_all(killed.parent().unwrap()).unwrap();
    let args = |log: &Path| -> Vec<std::ffi::OsString> {
        ["-d", "20s", "--warmup", "0", "-c", "4", "-t", "1", "--log"]
            .iter()
            .map(Into::into)
            .chain([log.as_os_str().to_owned()])
            .collect()
    };
    let mut term_args = args(&log);
    term_args.extend(["--csv".into(), csv.clone().into_os_string()]);
    term_args.extend(["--json".into(), json.clone().into_os_string()]);
    let term = loadgen()
        .args(&term_args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let kill = loadgen()
        .args(args(&killed))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2300));
    signal(&term, libc::SIGTERM);
    signal(&kill, libc::SIGKILL);
    let out = wait(term);
    let _ = wait(kill);
    assert_eq!(
        out.status.code(),
        Some(128 + libc::SIGTERM),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let end = read_log(&log);
    let (_, rows) = read_csv(&csv);
    log_is_the_csv(&end, &rows);
    let j = read_json(&json);
    let total: u64 = end.iter().map(|iv| iv.histogram.len()).sum();
    assert_eq!(Some(total), j["latency_us"]["corrected"]["count"].as_u64());
    let spanned: f64 = end.iter().map(|iv| iv.length.as_secs_f64()).sum();
    let measured = j["duration_s"].as_f64().unwrap();
    assert!(
        (spanned - measured).abs() < 0.002 && measured < 5.0,
        "the intervals span {spanned} s of the {measured} s measured"
    );

    // Killed: no end, no finish; what was streamed is there, whole seconds only.
    let kept = read_log(&killed);
    assert!(
        !kept.is_empty(),
        "a killed run's log holds its complete seconds"
    );
    for (k, iv) in kept.iter().enumerate() {
        assert_eq!(iv.start, std::time::Duration::from_secs(k as u64));
        assert_eq!(iv.length, std::time::Duration::from_secs(1));
        assert!(!iv.histogram.is_empty());
    }
    assert_eq!(
        names(killed.parent().unwrap()),
        ["kill.hlog"],
        "under its own name"
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// Whether python3 can import the `hdrhistogram` package (`hdrh`): required when
/// `READYLOOP_REQUIRE_PY=1` (CI), else the Python check is skipped.
fn python_hdrh() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import hdrh.log"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("READYLOOP_REQUIRE_PY").is_none(),
            "READYLOOP_REQUIRE_PY is set but python3 cannot import hdrh \
             (pip install hdrhistogram)"
        );
        eprintln!("skipped: the Python hdrhistogram reader (python3 cannot import hdrh)");
    }
    ok
}

/// The Python `hdrhistogram` package's log reader over `log`: (intervals, latencies).
fn python_reads(log: &Path) -> (usize, u64) {
    let script = "import sys\n\
        from hdrh.histogram import HdrHistogram\n\
        from hdrh.log import HistogramLogReader\n\
        r = HistogramLogReader(sys.argv[1], HdrHistogram(1, 3600 * 1000 * 1000, 3))\n\
        n = total = 0\n\
        while True:\n\
        \x20   h = r.get_next_interval_histogram()\n\
        \x20   if h is None:\n\
        \x20       break\n\
        \x20   n += 1\n\
        \x20   total += h.get_total_count()\n\
        print(n, total)\n";
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(log)
        .output()
        .unwrap();
    let text = ok(&out);
    let mut it = text.split_whitespace().map(|v| v.parse::<u64>().unwrap());
    (it.next().unwrap_or(0) as usize, it.next().unwrap_or(0))
}

/// Issue 10, item 4: with `--stages` each interval of the log is preceded by a comment
/// with its mean target (the warm-up's offset applied: intervals count from its end,
/// the stages from the run's start), the CSV has the same in a last column, and the
/// log still reads: loadgen's reader, `loadgen report`, and Python's hdrhistogram.
#[test]
fn test_stages_put_the_target_in_the_log_and_the_csv() {
    let d = dir("targets");
    let (open_log, open_csv, open_json) = (d.join("o.hlog"), d.join("o.csv"), d.join("o.json"));
    let (closed_log, closed_csv) = (d.join("c.hlog"), d.join("c.csv"));
    // Up to 2000/s in a second, 2000 for a second, down to 1000 in a second; measured
    // from 0.5 s in, to the stages' end. 0.5..1.5 s: 750 + 1000 requests due;
    // 1.5..2.5 s: 1000 + 875; 2.5..3.0 s (half a second): 625, a mean of 1250/s.
    let open = spawn(&[
        "--stages".as_ref(),
        "1s:2000,1s:2000,1s:1000".as_ref(),
        "--warmup".as_ref(),
        "500ms".as_ref(),
        "-c".as_ref(),
        "20".as_ref(),
        "-t".as_ref(),
        "1".as_ref(),
        "--log".as_ref(),
        open_log.as_os_str(),
        "--csv".as_ref(),
        open_csv.as_os_str(),
        "--json".as_ref(),
        open_json.as_os_str(),
    ]);
    // Closed loop: up to 4 connections in a second, then 4: means 2 and 4.
    let closed = spawn(&[
        "--stages".as_ref(),
        "1s:4,1s:4".as_ref(),
        "--closed".as_ref(),
        "-t".as_ref(),
        "1".as_ref(),
        "--log".as_ref(),
        closed_log.as_os_str(),
        "--csv".as_ref(),
        closed_csv.as_os_str(),
    ]);
    ok(&wait(open));
    ok(&wait(closed));

    let comments = |p: &Path| -> Vec<String> {
        let text = std::fs::read_to_string(p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut out = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            if l.starts_with("#[target ") {
                // Right before its interval's line, whose timestamp it names.
                let at = l.rsplit(" at ").next().unwrap().trim_end_matches(" s]");
                assert!(lines[i + 1].starts_with(&format!("{at},")), "{text}");
                out.push(l.to_string());
            }
        }
        assert!(!text.contains("Tag="), "{text}");
        out
    };
    assert_eq!(
        comments(&open_log),
        [
            "#[target 1750 req/s at 0.000 s]",
            "#[target 1875 req/s at 1.000 s]",
            "#[target 1250 req/s at 2.000 s]"
        ]
    );
    assert_eq!(
        comments(&closed_log),
        [
            "#[target 2 connections at 0.000 s]",
            "#[target 4 connections at 1.000 s]"
        ]
    );
    let target_column = |p: &Path, name: &str| -> Vec<String> {
        let (header, rows) = read_csv(p);
        assert_eq!(header, format!("{},{name}", loadgen::report::CSV_HEADER));
        rows.iter().map(|r| r[9].clone()).collect()
    };
    assert_eq!(
        target_column(&open_csv, "target_rps"),
        ["1750", "1875", "1250"]
    );
    assert_eq!(target_column(&closed_csv, "target_connections"), ["2", "4"]);

    // The readers skip the comments: loadgen's own, `loadgen report`, Python's.
    let intervals = read_log(&open_log);
    let (_, rows) = read_csv(&open_csv);
    log_is_the_csv(&intervals, &rows);
    let total: u64 = intervals.iter().map(|iv| iv.histogram.len()).sum();
    let j = read_json(&open_json);
    assert_eq!(Some(total), j["latency_us"]["corrected"]["count"].as_u64());
    let out = loadgen()
        .arg("report")
        .arg(&open_log)
        .args(["--json", "-"])
        .output()
        .unwrap();
    let r: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(r["runs"][0]["kind"], "hlog");
    assert_eq!(
        r["runs"][0]["max_us"].as_f64(),
        j["latency_us"]["corrected"]["max"].as_f64()
    );
    if python_hdrh() {
        assert_eq!(python_reads(&open_log), (3, total), "Python's reader");
        assert_eq!(python_reads(&closed_log).0, 2, "Python's reader");
    }
    let _ = std::fs::remove_dir_all(&d);
}
