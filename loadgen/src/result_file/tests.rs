//! A result read back is the result written: every field, every histogram.

use super::*;
use crate::answer::Sample;
use crate::report::fixtures::{closed, hist, open, over_tls};
use crate::run_id::RunId;
use crate::segment::Segment;
use crate::split::{Part, Skew};

/// `r` with a mix, a sample of a bad answer, stages, an interrupt, a segment: every
/// optional part of a result filled.
fn everything() -> RunResult {
    let mut r = over_tls(true);
    let mut e = crate::mix::EntryStats::default();
    e.reply(1500, 1200, Some(200));
    e.reply(90_000, 80_000, Some(503));
    e.censor(2_000_000, 3);
    r.rec.entries = vec![e.clone(), crate::mix::EntryStats::default(), e];
    r.mix = Some(crate::mix::Described {
        file: "mix.txt".into(),
        order: crate::mix::Order::Random,
        seed: 7,
        entries: 3,
        labels: vec!["GET /a".into(), "GET /b".into(), "POST /c".into()],
        weights: vec![3, 1, 1],
    });
    r.rec.answered = Some(Sample::of(
        b"SSH-2.0-OpenSSH\r\n",
        0,
        &[b"GET / HTTP/1.1\r\n"],
    ));
    r.rec.stage_done = vec![10, 20];
    r.rec.phases.ttfb = hist(&[(300, 5), (900, 1)]);
    r.rec.send_lag = hist(&[(2, 100), (40, 3)]);
    r.load.stages = Some(std::sync::Arc::new(crate::schedule::Profile::new(&[
        (std::time::Duration::from_secs(1), 100.0),
        (std::time::Duration::from_millis(1500), 40.0),
    ])));
    r.load.segment = Some(Segment { index: 1, count: 3 });
    r.interrupted = Some(crate::result::Interrupted {
        signal: 15,
        planned: std::time::Duration::from_secs(10),
        warmup_ran: std::time::Duration::from_secs(1),
    });
    r.part = Some(Part {
        segment: Segment { index: 1, count: 3 },
        run: RunId::new([9; 32], Some("abc".into())),
        whole: crate::load::Load {
            segment: None,
            ..r.load.clone()
        },
        skew: Some(Skew {
            offset_s: -0.25,
            bound_s: 0.0004,
        }),
    });
    r
}

fn round_trip(r: &RunResult) -> RunResult {
    let mut bytes = Vec::new();
    write(r, &mut bytes).unwrap();
    read(&bytes).unwrap()
}

#[test]
fn test_a_result_reads_back_field_for_field() {
    for r in [open(), closed(), everything()] {
        let back = round_trip(&r);
        // The document holds every field: equal documents are equal results.
        assert_eq!(to_value(&back), to_value(&r));
        assert_eq!(back.rec.corrected, r.rec.corrected);
        assert_eq!(back.rec.phases.ttfb, r.rec.phases.ttfb);
        for (a, b) in back.intervals.iter().zip(&r.intervals) {
            assert_eq!(a.corrected.histogram(), b.corrected.histogram());
        }
        // And the reports say the same of it (thresholds aside: a merge judges them).
        assert_eq!(crate::report::json(&back), crate::report::json(&r));
    }
    let back = round_trip(&everything());
    assert_eq!(back.rec.entries[0].corrected.len(), 5);
    assert_eq!(
        back.part.map(|p| (p.segment, p.run.nonce)),
        Some((Segment { index: 1, count: 3 }, Some("abc".into())))
    );
}

#[test]
fn test_other_formats_and_versions_are_refused_with_a_reason() {
    let mut v = to_value(&open());
    v["version"] = (VERSION + 1).into();
    let e = read(v.to_string().as_bytes()).unwrap_err();
    assert!(
        e.contains("version 2") && e.contains("reads version 1"),
        "{e}"
    );
    let report = crate::report::json(&open()).to_string();
    let e = read(report.as_bytes()).unwrap_err();
    assert!(
        e.contains("its format is ''"),
        "a JSON report is not a result: {e}"
    );
    assert!(read(b"\x00garbage")
        .unwrap_err()
        .starts_with("not a loadgen result"));
    let mut v = to_value(&open());
    v["rec"]["corrected"] = "HISTFAAAnot".into();
    assert!(read(v.to_string().as_bytes())
        .unwrap_err()
        .starts_with("corrected: "));
}
