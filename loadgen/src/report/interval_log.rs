//! The HdrHistogram interval log: [`write_interval_log`] writes one compressed corrected
//! histogram per interval of the run, for HdrHistogram's log tools; [`read_interval_log`]
//! reads such a log back (loadgen's, or any HdrHistogram writer's), for `loadgen report`.
//!
//! hdrhistogram's log writer does the encoding and the time headers; this file picks the
//! comments and adds the column legend, which that writer cannot, so the file has the
//! shape Java's `HistogramLogWriter` gives it. The writer and the reader live together
//! because each is the other's test.

use super::decode_histogram;
use crate::result::RunResult;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, LogIteratorError,
};
use hdrhistogram::serialization::V2DeflateSerializer;
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
pub fn write_interval_log<W: Write>(r: &RunResult, w: &mut W, start_unix_s: f64) -> io::Result<()> {
    let start = Duration::try_from_secs_f64(start_unix_s)
        .map(|d| UNIX_EPOCH + d)
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("start time {start_unix_s}: {e}"),
            )
        })?;
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
                r.target.replace(['\n', '\r'], " "),
                r.proto
            ))
            .with_start_time(start)
            .with_base_time(start);
        // Dropped at once: it only writes the header lines.
        header.begin_log_with(w, &mut serializer)?;
    }
    // The legend line is not a comment, so the builder cannot write it; Java writes it
    // after the time headers, and both Java's reader and hdrhistogram's iterator skip it.
    writeln!(
        w,
        "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
    )?;
    let mut log = IntervalLogWriterBuilder::new()
        .with_max_value_divisor(1000.0)
        .begin_log_with(w, &mut serializer)?;
    for iv in &r.intervals {
        log.write_histogram(&iv.corrected.histogram(), iv.start, iv.length, None)
            .map_err(|e| io::Error::other(e.to_string()))?;
    }
    Ok(())
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
/// ```
/// assert!(loadgen::report::read_interval_log(b"#[a comment]\n").unwrap().is_empty());
/// assert!(loadgen::report::read_interval_log(b"{\"schema\": 2}").is_err());
/// ```
pub fn read_interval_log(bytes: &[u8]) -> Result<Vec<LoggedInterval>, String> {
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
    fn test_interval_log_rejects_a_bad_start_time() {
        let mut buf = Vec::new();
        let e = write_interval_log(&open(), &mut buf, f64::NAN).expect_err("NaN start");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(write_interval_log(&open(), &mut buf, -1.0).is_err());
    }
}
