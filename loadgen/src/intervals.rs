//! The per-second histograms of a run, kept small: a long run holds one per second, and
//! a full histogram (1 us to 1 h at 3 significant digits) is ~184 KiB, 0.66 GB an hour.
//! So each second is merged over the workers in a full histogram only until every
//! worker has reported it, then kept as HdrHistogram's V2 deflate encoding (what an
//! interval log line holds, before base64): a few hundred bytes to a few KiB.
//! `benches/long_run_memory.rs` measures what a 24-hour run keeps.

use crate::record::new_histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::time::Duration;

/// One interval of the interval log (one second by default).
#[derive(Clone, Debug)]
pub struct Interval {
    /// Start, relative to the start of measurement (after warm-up).
    pub start: Duration,
    /// Length of the interval.
    pub length: Duration,
    /// Corrected latencies of responses completed in this interval, us (compressed:
    /// `corrected.histogram()` for the histogram).
    pub corrected: Compact,
}

/// One second's corrected histogram, compressed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Compact {
    bytes: Vec<u8>,
    count: u64,
}

impl Compact {
    /// `h`, compressed (an empty histogram stays empty: no bytes).
    ///
    /// ```
    /// use loadgen::intervals::Compact;
    /// let mut h = loadgen::record::new_histogram();
    /// for v in 1..=1000 { h.record(v).unwrap(); }
    /// let c = Compact::new(&h);
    /// assert_eq!(c.len(), 1000);
    /// assert!(c.encoded_len() < 4096, "{} bytes", c.encoded_len());
    /// assert_eq!(c.histogram(), h);
    /// ```
    pub fn new(h: &Histogram<u64>) -> Compact {
        if h.is_empty() {
            return Compact::default();
        }
        let mut bytes = Vec::new();
        // Loadgen's histograms always serialize (counts fit the format); should one not,
        // it is kept uncompressed-free of data rather than lost silently: count stays.
        let _ = V2DeflateSerializer::new().serialize(h, &mut bytes);
        Compact {
            bytes,
            count: h.len(),
        }
    }

    /// Latencies recorded in it.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes kept.
    pub fn encoded_len(&self) -> usize {
        self.bytes.len()
    }

    /// The histogram back, whole.
    pub fn histogram(&self) -> Histogram<u64> {
        if self.bytes.is_empty() {
            return new_histogram();
        }
        Deserializer::new()
            .deserialize(&mut &self.bytes[..])
            .unwrap_or_else(|_| new_histogram())
    }
}

impl From<Histogram<u64>> for Compact {
    fn from(h: Histogram<u64>) -> Compact {
        Compact::new(&h)
    }
}

/// Seconds being merged over the workers: a second is complete once every worker has
/// reported it. [`IntervalStore`] keeps what completes; the streamed interval log
/// (`--log`) writes it out at once.
#[derive(Debug)]
pub struct Merge {
    workers: usize,
    /// Seconds still open: the merge so far and how many workers reported.
    open: BTreeMap<usize, (Histogram<u64>, usize)>,
}

impl Merge {
    /// A merge of `workers` reports per second.
    pub fn new(workers: usize) -> Merge {
        Merge {
            workers: workers.max(1),
            open: BTreeMap::new(),
        }
    }

    /// One worker's histogram of second `index`; the merged second when this was the
    /// last report it waited for. (The caller decides what a report for a second that
    /// already completed means: this would start it anew.)
    ///
    /// ```
    /// use loadgen::intervals::Merge;
    /// let mut h = loadgen::record::new_histogram();
    /// h.record(100).unwrap();
    /// let mut m = Merge::new(2);
    /// assert!(m.add(0, &h).is_none(), "one worker of two");
    /// assert_eq!(m.add(0, &h).map(|s| s.len()), Some(2));
    /// assert_eq!(m.len(), 0);
    /// ```
    pub fn add(&mut self, index: usize, h: &Histogram<u64>) -> Option<Histogram<u64>> {
        let entry = self
            .open
            .entry(index)
            .or_insert_with(|| (new_histogram(), 0));
        let _ = entry.0.add(h);
        entry.1 += 1;
        if entry.1 >= self.workers {
            return self.open.remove(&index).map(|(h, _)| h);
        }
        None
    }

    /// Whether second `index` has some reports but not all.
    pub(crate) fn is_open(&self, index: usize) -> bool {
        self.open.contains_key(&index)
    }

    /// Seconds open.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// Whether no second is open.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// The open seconds as merged so far, in order; none is left open.
    pub(crate) fn take_open(&mut self) -> impl Iterator<Item = (usize, Histogram<u64>)> {
        std::mem::take(&mut self.open)
            .into_iter()
            .map(|(i, (h, _))| (i, h))
    }
}

/// The seconds of a run as the workers report them: merged while open, compressed once
/// every worker has reported.
#[derive(Debug)]
pub struct IntervalStore {
    open: Merge,
    done: Vec<Compact>,
}

impl IntervalStore {
    /// A store for `workers` reports per second.
    pub fn new(workers: usize) -> IntervalStore {
        IntervalStore {
            open: Merge::new(workers),
            done: Vec::new(),
        }
    }

    /// One worker's histogram of second `index`.
    pub fn add(&mut self, index: usize, h: &Histogram<u64>) {
        if index < self.done.len() && !self.open.is_open(index) {
            // A late addition to a closed second (the run's end censors into the last
            // one): reopen it, rare.
            let mut back = self.done[index].histogram();
            let _ = back.add(h);
            self.done[index] = Compact::new(&back);
            return;
        }
        if let Some(h) = self.open.add(index, h) {
            self.close(index, &h);
        }
    }

    fn close(&mut self, index: usize, h: &Histogram<u64>) {
        if self.done.len() <= index {
            self.done.resize(index + 1, Compact::default());
        }
        self.done[index] = Compact::new(h);
    }

    /// Bytes held: the compressed seconds and the open ones.
    pub fn bytes(&self) -> usize {
        self.done.iter().map(|c| c.encoded_len()).sum::<usize>()
            + self.open.len() * std::mem::size_of::<u64>() * 7000
    }

    /// Every second, in order (open ones compressed now).
    pub fn finish(mut self) -> Vec<Compact> {
        let open: Vec<_> = self.open.take_open().collect();
        for (i, h) in open {
            self.close(i, &h);
        }
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::record_us;

    fn hist(values: &[u64]) -> Histogram<u64> {
        let mut h = new_histogram();
        for &v in values {
            record_us(&mut h, v);
        }
        h
    }

    #[test]
    fn test_seconds_merge_over_workers_then_compress() {
        let mut s = IntervalStore::new(2);
        s.add(0, &hist(&[100, 200]));
        assert_eq!(s.open.len(), 1, "waits for the second worker");
        s.add(0, &hist(&[300]));
        assert!(s.open.is_empty());
        s.add(1, &hist(&[50]));
        // A late addition to second 0 joins it.
        s.add(0, &hist(&[400]));
        let out = s.finish();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].len(), 4);
        assert_eq!(out[0].histogram().max(), hist(&[400]).max());
        assert_eq!(out[1].len(), 1, "an open second is kept at the end");
    }

    #[test]
    fn test_compressed_is_small_and_exact() {
        // A busy second: 50,000 latencies spread over 50 us .. 50 ms.
        let mut h = new_histogram();
        let mut x: u64 = 12345;
        for _ in 0..50_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            record_us(&mut h, 50 + (x >> 33) % 50_000);
        }
        let c = Compact::new(&h);
        assert_eq!(c.histogram(), h);
        assert!(c.encoded_len() < 40_000, "{} bytes", c.encoded_len());
        assert!(Compact::new(&new_histogram()).is_empty());
    }
}
