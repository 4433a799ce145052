//! Issue 18, item 5: `loadgen merge --units` of interval logs written by another
//! HdrHistogram implementation (Python's `hdrh`): the merge equals the union that
//! library computes, bucket for bucket; what such logs lack is refused.

use std::path::{Path, PathBuf};
use std::process::Command;

fn loadgen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_loadgen"))
}

/// Whether python3 can import `hdrh`: required when `READYLOOP_REQUIRE_PY=1` (CI).
fn python_hdrh() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import hdrh.log"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("READYLOOP_REQUIRE_PY").is_none(),
            "READYLOOP_REQUIRE_PY is set but python3 cannot import hdrh"
        );
        eprintln!("skipped: python3 cannot import hdrh (pip install hdrhistogram)");
    }
    ok
}

/// Python writes three interval logs (microseconds; five intervals each, of other
/// latencies in each file) into `dir`, and prints the union it computes itself:
/// count, p50, p99, p99.9, max, and the union's encoding.
const WRITE_LOGS: &str = r##"
import sys, random
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogWriter
d = sys.argv[1]
rnd = random.Random(18)
union = HdrHistogram(1, 3600 * 1000 * 1000, 3)
for f in range(3):
    with open(f"{d}/py-{f}.hlog", "w") as out:
        w = HistogramLogWriter(out)
        # hdrh's output_start_time() fails (a datetime bug): the line Java writes.
        out.write("#[StartTime: 1700000000.000 (seconds since epoch)]\n")
        w.output_legend()
        for k in range(5):
            h = HdrHistogram(1, 3600 * 1000 * 1000, 3)
            for _ in range(400 + 100 * f):
                h.record_value(int(rnd.lognormvariate(6 + f, 1.0)) + 1)
            w.output_interval_histogram(h, k, k + 1)
            union.add(h)
print(union.get_total_count(), union.get_value_at_percentile(50),
      union.get_value_at_percentile(99), union.get_value_at_percentile(99.9),
      union.get_max_value())
print(union.encode().decode())
"##;

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lg-mlogs-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn logs(d: &Path) -> Vec<PathBuf> {
    (0..3).map(|f| d.join(format!("py-{f}.hlog"))).collect()
}

#[test]
fn test_python_interval_logs_merge_to_the_union_python_computes() {
    if !python_hdrh() {
        return;
    }
    let d = dir("union");
    let py = Command::new("python3")
        .args(["-c", WRITE_LOGS])
        .arg(&d)
        .output()
        .unwrap();
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    let text = String::from_utf8(py.stdout).unwrap();
    let mut lines = text.lines();
    let figures: Vec<u64> = lines
        .next()
        .unwrap()
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    let union = loadgen::report::decode_histogram(lines.next().unwrap()).unwrap();

    let out = loadgen()
        .arg("merge")
        .args(logs(&d))
        .args(["--units", "us", "--json", "-", "--slo", "p99<1h"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("no run identity"), "{stderr}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let merged = loadgen::report::decode_histogram(j["histogram"].as_str().unwrap()).unwrap();
    assert_eq!(merged.len(), union.len());
    let buckets = |h: &hdrhistogram::Histogram<u64>| -> Vec<(u64, u64)> {
        h.iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect()
    };
    assert_eq!(buckets(&merged), buckets(&union), "bucket for bucket");
    let l = &j["latency_us"];
    let ours =
        [&j["count"], &l["p50"], &l["p99"], &l["p99_9"], &l["max"]].map(|v| v.as_u64().unwrap());
    assert_eq!(
        ours.to_vec(),
        figures,
        "count, p50, p99, p99.9, max as Python's"
    );
    assert_eq!(j["files"].as_array().unwrap().len(), 3);
    assert_eq!(j["thresholds"][0]["pass"], true);

    // Milliseconds: the same latencies a thousand times larger.
    let out = loadgen()
        .arg("merge")
        .args(logs(&d))
        .args(["--units", "ms", "--json", "-"])
        .output()
        .unwrap();
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let p50 = j["latency_us"]["p50"].as_u64().unwrap();
    assert!(p50.abs_diff(figures[1] * 1000) <= figures[1], "{p50}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn test_what_interval_logs_lack_is_refused() {
    if !python_hdrh() {
        return;
    }
    let d = dir("lack");
    let py = Command::new("python3")
        .args(["-c", WRITE_LOGS])
        .arg(&d)
        .output()
        .unwrap();
    assert!(py.status.success());
    let cases: [(&[&str], &str); 4] = [
        (&["--units", "us", "--slo", "errors<1%"], "no errors"),
        (
            &["--units", "us", "--slo", "raw.p99<1s"],
            "no raw latencies",
        ),
        (
            &["--units", "us", "--csv", "x.csv"],
            "--csv with interval logs",
        ),
        (&[], "give --units"),
    ];
    for (args, why) in cases {
        let out = loadgen()
            .arg("merge")
            .args(logs(&d))
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(why), "{why}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&d);
}
