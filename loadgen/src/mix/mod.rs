//! Request mixes: several requests sent over the same connections, chosen per write
//! in turn or at random, with latency and statuses kept per entry.
//!
//! A mix comes from a targets file (`--targets`, see [`targets`]): one HTTP request
//! per entry, with an optional weight. [`Picker`] chooses the entry of each write:
//! round robin (weighted by stride scheduling, so weights 3 and 1 give exactly 3 of
//! one for each of the other in every 4 picks) or weighted random from a seed.
//! [`EntryStats`] keeps each entry's numbers; the first [`TRACKED`] entries are kept
//! one by one and the rest together as "other", so a file of 100,000 URLs costs 65
//! histograms, not 100,000.

pub mod pick;
pub mod stats;
pub mod targets;

pub use pick::{Order, Picker};
pub use stats::EntryStats;

/// Entries whose numbers are kept one by one; the rest are counted together.
pub const TRACKED: usize = 64;

/// One request of a mix, ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// How reports name it: `METHOD TARGET` as the file gives them.
    pub label: String,
    /// Its share: picked `weight` times for every `w` of an entry of weight `w`.
    pub weight: u32,
    /// The request bytes.
    pub bytes: Vec<u8>,
    /// An HTTP HEAD request (its replies carry no body).
    pub head: bool,
}

/// The requests of a run and how they are chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mix {
    /// In file order (never empty).
    pub entries: Vec<Entry>,
    /// Round robin or random.
    pub order: Order,
    /// The random order's seed (each worker mixes in its index).
    pub seed: u64,
}

impl Mix {
    /// Where entry `i`'s numbers are kept: its own slot for the first [`TRACKED`],
    /// the shared "other" slot ([`TRACKED`]) after.
    ///
    /// ```
    /// assert_eq!(loadgen::mix::Mix::bucket(3), 3);
    /// assert_eq!(loadgen::mix::Mix::bucket(500), loadgen::mix::TRACKED);
    /// ```
    pub fn bucket(i: usize) -> usize {
        i.min(TRACKED)
    }

    /// How many stats slots the mix needs: one per entry up to [`TRACKED`], and one
    /// for "other" when there are more.
    pub(crate) fn buckets(&self) -> usize {
        if self.entries.len() > TRACKED {
            TRACKED + 1
        } else {
            self.entries.len()
        }
    }

    /// The labels of the stats slots ("other (N entries)" last when there is one).
    pub fn bucket_labels(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .entries
            .iter()
            .take(TRACKED)
            .map(|e| e.label.clone())
            .collect();
        if self.entries.len() > TRACKED {
            v.push(format!("other ({} entries)", self.entries.len() - TRACKED));
        }
        v
    }

    /// The weights of the stats slots ("other": the sum of its entries').
    pub fn bucket_weights(&self) -> Vec<u64> {
        let mut v: Vec<u64> = vec![0; self.buckets()];
        for (i, e) in self.entries.iter().enumerate() {
            v[Mix::bucket(i)] += u64::from(e.weight);
        }
        v
    }

    /// The picker of worker `worker`.
    pub(crate) fn picker(&self, worker: usize) -> Picker {
        let weights: Vec<u32> = self.entries.iter().map(|e| e.weight).collect();
        Picker::new(&weights, self.order, self.seed, worker as u64)
    }
}

/// What a report says of a run's mix, beside the numbers: where it came from and how
/// its entries were chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Described {
    /// The targets file as typed.
    pub file: String,
    /// Round robin or random.
    pub order: Order,
    /// The random order's seed.
    pub seed: u64,
    /// Entries in the file.
    pub entries: usize,
    /// The stats slots' labels ([`Mix::bucket_labels`]).
    pub labels: Vec<String>,
    /// The stats slots' weights ([`Mix::bucket_weights`]).
    pub weights: Vec<u64>,
}

impl Mix {
    /// The mix as a report names it, read from `file`.
    pub fn describe(&self, file: &str) -> Described {
        Described {
            file: file.to_string(),
            order: self.order,
            seed: self.seed,
            entries: self.entries.len(),
            labels: self.bucket_labels(),
            weights: self.bucket_weights(),
        }
    }
}

/// One row of the per-entry table: an entry (or "other") and what its requests did.
#[derive(Clone, Debug, PartialEq)]
pub struct EntryRow {
    /// `METHOD URL-or-PATH`, or "other (N entries)".
    pub label: String,
    /// Its weight (other: the sum).
    pub weight: u64,
    /// The share of the writes its weight asks for (0..1).
    pub share_asked: f64,
    /// The share of the writes it got (0..1).
    pub share_sent: f64,
    /// Writes (warm-up included).
    pub sent: u64,
    /// Replies measured.
    pub measured: u64,
    /// Failed requests (sent in the measurement).
    pub failed: u64,
    /// HTTP responses outside 2xx/3xx.
    pub non_2xx_3xx: u64,
    /// Statuses: (code, count).
    pub statuses: Vec<(u16, u64)>,
    /// Corrected latency, us: p50, p90, p99, p99.9, max (0 when none).
    pub corrected_us: [u64; 5],
    /// Raw latency, us: the same percentiles.
    pub raw_us: [u64; 5],
}

/// The percentiles of an entry's histogram, us (p50, p90, p99, p99.9, max).
fn percentiles(h: &hdrhistogram::Histogram<u64>) -> [u64; 5] {
    if h.is_empty() {
        return [0; 5];
    }
    let q = |p: f64| h.value_at_quantile(p);
    [q(0.5), q(0.9), q(0.99), q(0.999), h.max()]
}

/// The per-entry rows of a run whose mix is `d` and whose entries did `stats`.
pub fn rows(d: &Described, stats: &[EntryStats]) -> Vec<EntryRow> {
    let total_w: u64 = d.weights.iter().sum::<u64>().max(1);
    let total_sent: u64 = stats.iter().map(|s| s.sent).sum::<u64>().max(1);
    d.labels
        .iter()
        .zip(&d.weights)
        .enumerate()
        .map(|(i, (label, &weight))| {
            let s = stats.get(i).cloned().unwrap_or_default();
            EntryRow {
                label: label.clone(),
                weight,
                share_asked: weight as f64 / total_w as f64,
                share_sent: s.sent as f64 / total_sent as f64,
                sent: s.sent,
                measured: s.measured,
                failed: s.failed,
                non_2xx_3xx: s.non_2xx_3xx(),
                corrected_us: percentiles(&s.corrected),
                raw_us: percentiles(&s.raw),
                statuses: s.statuses,
            }
        })
        .collect()
}
