//! End-to-end: the report files of a real run (`--html`, `--csv`, `--json`, `--log`,
//! `--plot-log`) against the embedded server, and `loadgen report` over the files such
//! runs wrote. Every run is about two seconds, to 127.0.0.1 only, and waited on
//! (`Command::output`).

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
    assert_eq!(cmp.len(), 7);
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
