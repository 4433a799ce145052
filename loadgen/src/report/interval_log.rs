//! The HdrHistogram interval log: [`write_interval_log`] writes one compressed corrected
//! histogram per interval of the run, for HdrHistogram's log tools; [`read_interval_log`]
//! reads such a log back (loadgen's, or any HdrHistogram writer's), for `loadgen report`.
//!
//! hdrhistogram's log writer does the encoding and the time headers; this file picks the
//! comments and adds the column legend, which that writer cannot, so the file has the
//! shape Java's `HistogramLogWriter` gives it. The writer and the reader live together
//! because each is the other's test.

use super::decode_histogram;
use crate::fmt::fmt_target;
use crate::result::{RunResult, StageTargets};
use base64::Engine as _;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, LogIteratorError,
};
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use std::io::{self, Write};
use std::time::{Duration, UNIX_EPOCH};

/// Writes the per-interval corrected histograms as a standard HdrHistogram interval log
/// (format 1.3, V2 deflate-compressed histograms, as Java's `HistogramLogWriter` writes
/// and `HistogramLogAnalyzer` / `HistogramLogProcessor` read).
///
/// `start_unix_s` is the wall-clock time (seconds since the epoch) when measurement
/// began, i.e. the end of the warm-up; it is written as both `StartTime` and `BaseTime`,
/// so each interval's timestamp is its `start` offset from that moment. Histogram values
/// stay in microseconds; the human-only `Interval_Max` column is in milliseconds.
///
/// With `--stages`, each interval is preceded by a comment with the mean target over it,
/// `#[target 1000 req/s at 12.000 s]` (`connections` in closed loop; `at` the interval's
/// timestamp), which readers skip as every `#` line; not a `Tag=`, which would make each
/// target a histogram stream of its own for them.
///
/// `loadgen run --log` streams the same bytes as the run goes (`cli/log_stream.rs`):
/// both are made by the same two functions, one for the header and one per interval.
pub fn write_interval_log<W: Write>(r: &RunResult, w: &mut W, start_unix_s: f64) -> io::Result<()> {
    let run = super::segments::identity_line(r);
    w.write_all(&interval_log_header(
        &r.target,
        &r.proto(),
        run.as_deref(),
        start_unix_s,
    )?)?;
    write_intervals(w, &r.intervals, r.stage_targets().as_ref())?;
    if let Some(m) = &r.merged {
        write_segments(w, &m.intervals)?;
    }
    Ok(())
}

/// A merge's per-segment seconds, after the run's: each segment's its own stream,
/// tagged `segment-I` as HdrHistogram's logs tag a stream (readers that ignore tags
/// read the untagged lines, the run's).
fn write_segments<W: Write>(
    w: &mut W,
    segments: &[(crate::segment::Segment, Vec<crate::result::Interval>)],
) -> io::Result<()> {
    let mut serializer = V2DeflateSerializer::new();
    for (seg, intervals) in segments {
        for iv in intervals {
            let mut line = Vec::new();
            interval_log_lines(
                &mut line,
                &mut serializer,
                iv.start,
                iv.length,
                &iv.corrected.histogram(),
                None,
            )?;
            write!(w, "Tag=segment-{},", seg.index)?;
            w.write_all(&line)?;
        }
    }
    Ok(())
}

/// The lines of `intervals`, each with its target comment under stages: the body of
/// the log after its header (the end-of-run writer's, and the stream's at its end).
pub(crate) fn write_intervals<W: Write>(
    w: &mut W,
    intervals: &[crate::result::Interval],
    targets: Option<&StageTargets>,
) -> io::Result<()> {
    let mut serializer = V2DeflateSerializer::new();
    let mut buf = Vec::new();
    for iv in intervals {
        buf.clear();
        interval_log_lines(
            &mut buf,
            &mut serializer,
            iv.start,
            iv.length,
            &iv.corrected.histogram(),
            targets,
        )?;
        w.write_all(&buf)?;
    }
    Ok(())
}

/// The header of the interval log of a run of `target` over `proto` whose measurement
/// began at `start_unix_s`: the comments (with `run`, a split run's identity line),
/// the time headers and the legend line.
pub(crate) fn interval_log_header(
    target: &str,
    proto: &str,
    run: Option<&str>,
    start_unix_s: f64,
) -> io::Result<Vec<u8>> {
    let start = Duration::try_from_secs_f64(start_unix_s)
        .map(|d| UNIX_EPOCH + d)
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("start time {start_unix_s}: {e}"),
            )
        })?;
    let mut w = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    {
        let mut header = IntervalLogWriterBuilder::new();
        header
            .add_comment(&format!(
                "[Logged with loadgen {}]",
                env!("CARGO_PKG_VERSION")
            ))
            .add_comment("[Histogram log format version 1.3]")
            .add_comment(&format!(
                "[corrected latency of {} ({}), values in microseconds, Interval_Max in milliseconds]",
                target.replace(['\n', '\r'], " "),
                proto
            ));
        if let Some(run) = run {
            header.add_comment(&format!("[Run: {run}]"));
        }
        header.with_start_time(start).with_base_time(start);
        // Dropped at once: it only writes the header lines.
        header.begin_log_with(&mut w, &mut serializer)?;
    }
    // The legend line is not a comment, so the builder cannot write it; Java writes it
    // after the time headers, and both Java's reader and hdrhistogram's iterator skip it.
    writeln!(
        w,
        "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
    )?;
    // hdrhistogram's writer notes the divisor of Interval_Max when it begins, here.
    IntervalLogWriterBuilder::new()
        .with_max_value_divisor(MAX_DIVISOR)
        .begin_log_with(&mut w, &mut serializer)?;
    Ok(w)
}

/// Interval_Max is in milliseconds, the histograms in microseconds.
const MAX_DIVISOR: f64 = 1000.0;

/// Appends to `out` the lines of one interval: with `targets` (`--stages`), the comment
/// with its mean target, then its histogram line.
pub(crate) fn interval_log_lines(
    out: &mut Vec<u8>,
    serializer: &mut V2DeflateSerializer,
    start: Duration,
    length: Duration,
    h: &Histogram<u64>,
    targets: Option<&StageTargets>,
) -> io::Result<()> {
    if let Some(t) = targets {
        writeln!(
            out,
            "#[target {} {} at {:.3} s]",
            fmt_target(t.mean(start, length)),
            t.unit(),
            start.as_secs_f64()
        )?;
    }
    // The line as hdrhistogram's `IntervalLogWriter::write_histogram` writes it (that
    // writer cannot be kept between the seconds of a stream, and a new one would note
    // the divisor again each time): start, length, max, the encoded histogram.
    let mut encoded = Vec::new();
    serializer
        .serialize(h, &mut encoded)
        .map_err(|e| io::Error::other(format!("encoding an interval's histogram: {e:?}")))?;
    writeln!(
        out,
        "{:.3},{:.3},{:.3},{}",
        start.as_secs_f64(),
        length.as_secs_f64(),
        h.max() as f64 / MAX_DIVISOR,
        base64::engine::general_purpose::STANDARD.encode(&encoded)
    )
}

/// One interval read back from an interval log.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedInterval {
    /// Its timestamp as written: from the log's `BaseTime` when it has one (loadgen's
    /// logs: from the start of measurement).
    pub start: Duration,
    /// Its length.
    pub length: Duration,
    /// The latencies recorded in it (loadgen's: corrected, microseconds).
    pub histogram: Histogram<u64>,
}

/// Reads every interval of an HdrHistogram interval log (format 1.x, as
/// [`write_interval_log`] and Java's `HistogramLogWriter` write it), in file order;
/// comments, the legend line and the time headers are skipped. A log without intervals
/// reads as none. The error names the line that is not part of an interval log, or the
/// interval whose histogram does not decode.
///
/// A last line without its newline that does not read, after lines that do, is left
/// out: it is the one a writer is still writing (`loadgen run --log` streams its log;
/// `tail`, a copy or a reader can catch it mid-line) or was writing when it was killed.
/// One that reads is kept, as from a log made by hand without the last newline.
///
/// ```
/// assert!(loadgen::report::read_interval_log(b"#[a comment]\n").unwrap().is_empty());
/// assert!(loadgen::report::read_interval_log(b"{\"schema\": 2}").is_err());
/// assert!(loadgen::report::read_interval_log(b"{\n\"schema\": 2}").is_err());
/// ```
pub fn read_interval_log(bytes: &[u8]) -> Result<Vec<LoggedInterval>, String> {
    if bytes.is_empty() || bytes.ends_with(b"\n") {
        return read_lines(bytes);
    }
    let mut ended = bytes.to_vec();
    ended.push(b'\n');
    read_lines(&ended).or_else(|e| match bytes.iter().rposition(|&b| b == b'\n') {
        // Only after whole lines that read: one line of anything else is no log.
        Some(i) => read_lines(&bytes[..=i]).map_err(|_| e),
        None => Err(e),
    })
}

/// [`read_interval_log`] of a log whose every line ends in a newline.
fn read_lines(bytes: &[u8]) -> Result<Vec<LoggedInterval>, String> {
    let line_of = |offset: usize| {
        bytes[..offset.min(bytes.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    };
    let mut out = Vec::new();
    for entry in IntervalLogIterator::new(bytes) {
        match entry {
            // A tagged line is a stream of its own (a merge's segment): the run is the
            // untagged one.
            Ok(LogEntry::Interval(iv)) if iv.tag().is_some() => {}
            Ok(LogEntry::Interval(iv)) => {
                let histogram = decode_histogram(iv.encoded_histogram())
                    .map_err(|e| format!("interval {}: {e}", out.len() + 1))?;
                out.push(LoggedInterval {
                    start: iv.start_timestamp(),
                    length: iv.duration(),
                    histogram,
                });
            }
            Ok(LogEntry::StartTime(_) | LogEntry::BaseTime(_)) => {}
            Err(LogIteratorError::ParseError { offset }) => {
                return Err(format!(
                    "line {}: not a line of an HdrHistogram interval log",
                    line_of(offset)
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::open;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::Histogram;

    /// Standard base64 (with padding), enough to decode interval-log histograms: the
    /// hdrhistogram crate does not re-export its base64 dependency.
    fn b64decode(s: &str) -> Vec<u8> {
        let val = |c: u8| -> u32 {
            match c {
                b'A'..=b'Z' => u32::from(c - b'A'),
                b'a'..=b'z' => u32::from(c - b'a') + 26,
                b'0'..=b'9' => u32::from(c - b'0') + 52,
                b'+' => 62,
                b'/' => 63,
                _ => panic!("not base64: {c}"),
            }
        };
        let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
        let mut out = Vec::new();
        for chunk in bytes.chunks(4) {
            let mut acc = 0u32;
            for (i, &c) in chunk.iter().enumerate() {
                acc |= val(c) << (18 - 6 * i);
            }
            let n = chunk.len() * 6 / 8;
            for i in 0..n {
                out.push((acc >> (16 - 8 * i)) as u8);
            }
        }
        out
    }

    #[test]
    fn test_interval_log_round_trip() {
        let r = open();
        let start = 1_700_000_000.25;
        let mut buf = Vec::new();
        write_interval_log(&r, &mut buf, start).expect("write to Vec");
        let text = String::from_utf8(buf.clone()).expect("utf-8");
        assert!(text.starts_with("#[Logged with loadgen "));
        assert!(text.contains("#[StartTime: 1700000000.250 (seconds since epoch)]\n"));
        assert!(text.contains("#[BaseTime: 1700000000.250 (seconds since epoch)]\n"));
        assert!(text.contains("\"StartTimestamp\",\"Interval_Length\""));

        let mut start_times = Vec::new();
        let mut base_times = Vec::new();
        let mut intervals = Vec::new();
        for e in IntervalLogIterator::new(&buf) {
            match e.expect("log parses") {
                LogEntry::StartTime(t) => start_times.push(t),
                LogEntry::BaseTime(t) => base_times.push(t),
                LogEntry::Interval(iv) => intervals.push((
                    iv.start_timestamp(),
                    iv.duration(),
                    iv.max(),
                    b64decode(iv.encoded_histogram()),
                )),
            }
        }
        assert_eq!(start_times, vec![Duration::from_millis(1_700_000_000_250)]);
        assert_eq!(base_times, start_times);
        assert_eq!(intervals.len(), r.intervals.len());
        let mut de = Deserializer::new();
        for ((ts, len, max, bytes), want) in intervals.iter().zip(&r.intervals) {
            assert_eq!(*ts, want.start);
            assert_eq!(*len, want.length);
            // Max is printed in ms with three decimals.
            assert!((max - want.corrected.histogram().max() as f64 / 1000.0).abs() < 0.0005);
            let h: Histogram<u64> = de.deserialize(&mut &bytes[..]).expect("histogram decodes");
            assert_eq!(h.len(), want.corrected.len());
            assert_eq!(h.max(), want.corrected.histogram().max());
            assert_eq!(
                h.value_at_quantile(0.5),
                want.corrected.histogram().value_at_quantile(0.5)
            );
        }
    }

    #[test]
    fn test_read_interval_log_reads_back_what_was_written() {
        let r = open();
        let mut buf = Vec::new();
        write_interval_log(&r, &mut buf, 1_700_000_000.0).expect("write to Vec");
        let back = read_interval_log(&buf).expect("reads");
        assert_eq!(back.len(), r.intervals.len());
        for (got, want) in back.iter().zip(&r.intervals) {
            assert_eq!(got.start, want.start);
            assert_eq!(got.length, want.length);
            // The very histogram: every count in every bucket.
            assert_eq!(got.histogram, want.corrected.histogram());
        }
    }

    #[test]
    fn test_read_interval_log_names_the_bad_line_and_interval() {
        let mut buf = Vec::new();
        write_interval_log(&open(), &mut buf, 1_700_000_000.0).expect("write to Vec");
        let text = String::from_utf8(buf).expect("utf-8");
        let lines = text.lines().count();
        let junk = format!("{text}this is not a log line\n");
        let e = read_interval_log(junk.as_bytes()).expect_err("junk");
        assert_eq!(
            e,
            format!(
                "line {}: not a line of an HdrHistogram interval log",
                lines + 1
            )
        );
        // A well-formed line whose histogram is not one.
        let bad = format!("{text}2.000,1.000,1.000,SGVsbG8gd29ybGQ=\n");
        let e = read_interval_log(bad.as_bytes()).expect_err("bad histogram");
        assert!(e.starts_with("interval 3: not an HdrHistogram"), "{e}");
        assert_eq!(read_interval_log(b""), Ok(vec![]));
    }

    #[test]
    fn test_a_last_line_cut_short_is_left_out_one_without_its_newline_kept() {
        let mut buf = Vec::new();
        write_interval_log(&open(), &mut buf, 1_700_000_000.0).expect("write to Vec");
        let all = read_interval_log(&buf).expect("reads");
        assert_eq!(all.len(), 2);
        // The last newline missing: the interval is whole, and kept.
        assert_eq!(read_interval_log(&buf[..buf.len() - 1]), Ok(all.clone()));
        // Cut inside the last histogram (a log being written, or its writer killed),
        // or inside its timestamps: the first interval only.
        let last_line = buf[..buf.len() - 1]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        for cut in [buf.len() - 20, last_line + 3] {
            let back = read_interval_log(&buf[..cut]).expect("reads what is whole");
            assert_eq!(back, all[..1], "cut at {cut}");
        }
        // A bad line before the last is still an error.
        let text = String::from_utf8(buf).expect("utf-8");
        let bad = text.replacen("\"StartTimestamp\"", "junk", 1);
        assert!(read_interval_log(&bad.as_bytes()[..bad.len() - 20]).is_err());
    }

    #[test]
    fn test_stages_put_a_target_comment_before_each_interval_and_it_reads_back() {
        let mut r = open();
        r.load.stages = Some(std::sync::Arc::new(crate::schedule::Profile::new(&[
            (Duration::from_secs(1), 10.0),
            (Duration::from_secs(1), 10.0),
        ])));
        r.load.stages_closed = true;
        r.load.warmup = Duration::ZERO;
        let mut buf = Vec::new();
        write_interval_log(&r, &mut buf, 1_700_000_000.0).expect("write to Vec");
        let text = String::from_utf8(buf.clone()).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        let at = |s: &str| lines.iter().position(|l| l.starts_with(s));
        // Each comment right before its interval's line; up the ramp 0 to 10, then 10.
        let first = at("#[target 5 connections at 0.000 s]").expect(&text);
        assert!(lines[first + 1].starts_with("0.000,1.000,"), "{text}");
        let second = at("#[target 10 connections at 1.000 s]").expect(&text);
        assert!(lines[second + 1].starts_with("1.000,1.000,"), "{text}");
        assert!(!text.contains("Tag="));
        let back = read_interval_log(&buf).expect("reads");
        assert_eq!(back.len(), r.intervals.len());
        assert_eq!(back[1].histogram, r.intervals[1].corrected.histogram());
        // Without stages, no comment.
        let mut plain = Vec::new();
        write_interval_log(&open(), &mut plain, 1_700_000_000.0).expect("write to Vec");
        assert!(!String::from_utf8_lossy(&plain).contains("#[target"));
    }

    #[test]
    fn test_interval_log_rejects_a_bad_start_time() {
        let mut buf = Vec::new();
        let e = write_interval_log(&open(), &mut buf, f64::NAN).expect_err("NaN start");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(write_interval_log(&open(), &mut buf, -1.0).is_err());
    }
}
