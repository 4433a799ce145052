//! The HdrHistogram interval log ([`write_interval_log`]): one compressed corrected
//! histogram per interval of the run, for HdrHistogram's log tools.
//!
//! hdrhistogram's log writer does the encoding and the time headers; this file picks the
//! comments and adds the column legend, which that writer cannot, so the file has the
//! shape Java's `HistogramLogWriter` gives it.

use crate::result::RunResult;
use hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder;
use hdrhistogram::serialization::V2DeflateSerializer;
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
        log.write_histogram(&iv.corrected, iv.start, iv.length, None)
            .map_err(|e| io::Error::other(e.to_string()))?;
    }
    Ok(())
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
            assert!((max - want.corrected.max() as f64 / 1000.0).abs() < 0.0005);
            let h: Histogram<u64> = de.deserialize(&mut &bytes[..]).expect("histogram decodes");
            assert_eq!(h.len(), want.corrected.len());
            assert_eq!(h.max(), want.corrected.max());
            assert_eq!(
                h.value_at_quantile(0.5),
                want.corrected.value_at_quantile(0.5)
            );
        }
    }

    #[test]
    fn test_interval_log_rejects_a_bad_start_time() {
        let mut buf = Vec::new();
        let e = write_interval_log(&open(), &mut buf, f64::NAN).expect_err("NaN start");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(write_interval_log(&open(), &mut buf, -1.0).is_err());
    }
}
