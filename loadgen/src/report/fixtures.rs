//! Run results and histograms built by hand, shared by the tests of every report format
//! (compiled for tests only).
//!
//! One fixture for all formats, so every format is checked against the same run and a
//! change to the fixture shows up in all of them at once.

use crate::load::Load;
use crate::record::{new_histogram, ErrorClass, Recorder};
use crate::result::{CpuTime, Interval, Mode, RunResult};
use hdrhistogram::Histogram;
use serde_json::json;
use std::time::Duration;

/// A microsecond histogram with `count` samples at each `value`.
pub(crate) fn hist(values: &[(u64, u64)]) -> Histogram<u64> {
    let mut h = new_histogram();
    for &(v, n) in values {
        h.record_n(v, n).expect("test values are in range");
    }
    h
}

/// 1..=n us, once each: every percentile is known in closed form.
pub(crate) fn uniform(n: u64) -> Histogram<u64> {
    let mut h = new_histogram();
    for v in 1..=n {
        h.record(v).expect("in range");
    }
    h
}

/// The fixtures' load: 4 connections on 2 threads, HTTP, a 1 s warm-up, at `mode`'s rate.
fn load(mode: Mode) -> Load {
    Load {
        connections: 4,
        max_connections: None,
        threads: 2,
        connect_rate: None,
        rate: match mode {
            Mode::Open { rate } => Some(rate),
            Mode::Closed => None,
        },
        duration: Duration::from_secs(2),
        warmup: Duration::from_secs(1),
        framing: crate::framing::Framing::Http,
        per_conn: None,
        requests: None,
        pipeline: 1,
        stages: None,
        stages_closed: false,
        timeout: Some(Duration::from_secs(2)),
        connect_timeout: Duration::from_secs(3),
        sources: Vec::new(),
        nodelay: true,
        segment: None,
    }
}

fn result(mode: Mode) -> RunResult {
    let mut rec = Recorder::default();
    rec.corrected = hist(&[(1000, 900), (2000, 90), (10_000, 9), (50_000, 1)]);
    rec.raw = match mode {
        Mode::Closed => rec.corrected.clone(),
        Mode::Open { .. } => hist(&[(800, 900), (1500, 99), (4000, 1)]),
    };
    rec.connect = hist(&[(100, 3), (300, 1)]);
    // The phases: the 4 connections' connects; a ttfb and a transfer per response
    // measured, adding up to about the raw latency; no TLS.
    rec.phases.connect = hist(&[(100, 3), (300, 1)]);
    rec.phases.ttfb = hist(&[(600, 900), (1200, 99), (3500, 1)]);
    rec.phases.transfer = hist(&[(200, 900), (300, 99), (500, 1)]);
    if let Mode::Open { .. } = mode {
        rec.send_lag = hist(&[(5, 990), (50, 10)]);
    }
    rec.sent = 1010;
    rec.completed = 1003;
    rec.measured = 1000;
    rec.failed = 2;
    rec.in_flight_end = 5;
    rec.bytes_sent = 50_000;
    rec.bytes_received = 2_006_000;
    rec.bytes_received_measured = 2_000_000;
    rec.connects_ok = 4;
    rec.connects_tried = 5;
    rec.statuses = vec![(200, 998), (503, 2)];
    rec.error(ErrorClass::Timeout, "timeout");
    rec.error(ErrorClass::ConnectRefused, "ECONNREFUSED");
    rec.error(ErrorClass::Timeout, "timeout");
    RunResult {
        target: "http://127.0.0.1:7878/".to_string(),
        load: load(mode),
        duration: Duration::from_secs(2),
        interrupted: None,
        rec,
        intervals: vec![
            Interval {
                start: Duration::ZERO,
                length: Duration::from_secs(1),
                corrected: hist(&[(1000, 500), (2000, 40)]).into(),
            },
            Interval {
                start: Duration::from_millis(1000),
                length: Duration::from_millis(1000),
                corrected: hist(&[(1000, 400), (2000, 50), (50_000, 1)]).into(),
            },
        ],
        cpu: CpuTime {
            user_s: 0.03,
            sys_s: 0.01,
        },
        started_unix_s: Some(1_700_000_000.0),
        ports: Default::default(),
        connect_phase: Some(Duration::from_millis(3)),
        thresholds: Vec::new(),
        aborted: None,
        mix: None,
        spread: crate::addrs::Spread {
            connects: vec![(([127, 0, 0, 1], 7878).into(), 5)],
            via: None,
        },
        connections_peak: 4,
        tls: None,
        part: None,
        merged: None,
        server_stats: Some(json!({
            "active": 4, "peak_active": 5, "accepted": 5, "rejected": 0, "requests": 1003
        })),
    }
}

pub(crate) fn open() -> RunResult {
    result(Mode::Open { rate: 500.0 })
}

pub(crate) fn closed() -> RunResult {
    let mut r = result(Mode::Closed);
    r.server_stats = None;
    r
}

pub(crate) fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("loadgen-report-{}-{name}", std::process::id()))
}

/// A run over TLS: `verified` false as with `--insecure`.
pub(crate) fn over_tls(verified: bool) -> RunResult {
    let mut r = closed();
    let stats = readyloop::tls::TlsStats {
        full: 3,
        resumed: 97,
        ..Default::default()
    };
    let peer = crate::tls_peer::TlsPeer {
        version: "TLSv1.3".into(),
        cipher: "TLS13_AES_128_GCM_SHA256".into(),
        kx: "X25519".into(),
        alpn: Some("http/1.1".into()),
        subject: "CN=localhost".into(),
        issuer: "CN=test-ca".into(),
        not_after: "2031-05-17 00:00:00 UTC".into(),
        days_left: 1500,
        verified,
    };
    r.tls = Some(crate::tls_peer::TlsRun::new(peer, true, &stats));
    r
}

/// A segment's result (1/2 of a run, with a clock skew) and a merge of two segments,
/// the second lost: every field a split run adds.
pub(crate) fn split() -> (RunResult, RunResult) {
    use crate::segment::Segment;
    use crate::split::{Merged, Part, SegmentRow, Skew};
    let run = crate::run_id::RunId::new([7; 32], Some("5eed".into()));
    let skew = Some(Skew {
        offset_s: 0.012,
        bound_s: 0.0003,
    });
    let mut part = open();
    part.part = Some(Part {
        segment: Segment { index: 1, count: 2 },
        run: run.clone(),
        whole: part.load.clone(),
        skew,
    });
    let row = |index, lost: Option<&str>| SegmentRow {
        segment: Segment { index, count: 2 },
        measured: 10,
        achieved_rps: 5.0,
        p50_us: Some(1000),
        p99_us: Some(2000),
        p99_9_us: Some(2000),
        errors: 0,
        started_unix_s: Some(1_700_000_000.0),
        skew,
        lost: lost.map(str::to_string),
    };
    let mut merged = open();
    merged.merged = Some(Merged {
        run,
        segments: vec![row(0, None), row(1, Some("its connection dropped"))],
        intervals: Vec::new(),
    });
    (part, merged)
}
