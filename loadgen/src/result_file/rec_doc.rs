//! A run's counters and histograms in a result file: every field of [`Recorder`] that
//! a report reads, each histogram whole.

use super::hist;
use crate::answer::{Looks, Sample};
use crate::mix::stats::entry_histogram;
use crate::mix::EntryStats;
use crate::phases::Phases;
use crate::record::{Censored, ErrorCount, Recorder};
use serde::{Deserialize, Serialize};

/// [`Recorder`] as the file holds it (the per-second snapshots, `interval` and
/// `interval_raw`, are the result's intervals instead).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(super) struct RecDoc {
    corrected: String,
    raw: String,
    connect: String,
    send_lag: String,
    phase_connect: String,
    phase_tls_handshake: String,
    phase_ttfb: String,
    phase_transfer: String,
    sent: u64,
    completed: u64,
    measured: u64,
    failed: u64,
    failed_counted: u64,
    stage_done: Vec<u64>,
    in_flight_end: u64,
    bytes_sent: u64,
    bytes_received: u64,
    bytes_received_measured: u64,
    raw_sum_us: u64,
    connects_ok: u64,
    connects_tried: u64,
    statuses: Vec<(u16, u64)>,
    errors: Vec<ErrorCount>,
    censored: CensoredDoc,
    entries: Vec<EntryDoc>,
    answered: Option<SampleDoc>,
}

/// [`Censored`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
struct CensoredDoc {
    timed_out: u64,
    unfinished: u64,
    unsent: u64,
    at_end: u64,
    oldest_us: u64,
}

/// One mix entry's [`EntryStats`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
struct EntryDoc {
    sent: u64,
    measured: u64,
    failed: u64,
    corrected: String,
    raw: String,
    statuses: Vec<(u16, u64)>,
}

/// [`Sample`]: the bytes as hex.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
struct SampleDoc {
    hex: String,
    more: bool,
    offset: u64,
    looks: String,
}

impl From<&Recorder> for RecDoc {
    fn from(r: &Recorder) -> RecDoc {
        let c = &r.censored;
        RecDoc {
            corrected: hist::put(&r.corrected),
            raw: hist::put(&r.raw),
            connect: hist::put(&r.connect),
            send_lag: hist::put(&r.send_lag),
            phase_connect: hist::put(&r.phases.connect),
            phase_tls_handshake: hist::put(&r.phases.tls_handshake),
            phase_ttfb: hist::put(&r.phases.ttfb),
            phase_transfer: hist::put(&r.phases.transfer),
            sent: r.sent,
            completed: r.completed,
            measured: r.measured,
            failed: r.failed,
            failed_counted: r.failed_counted,
            stage_done: r.stage_done.clone(),
            in_flight_end: r.in_flight_end,
            bytes_sent: r.bytes_sent,
            bytes_received: r.bytes_received,
            bytes_received_measured: r.bytes_received_measured,
            raw_sum_us: r.raw_sum_us,
            connects_ok: r.connects_ok,
            connects_tried: r.connects_tried,
            statuses: r.statuses.clone(),
            errors: r.errors.clone(),
            censored: CensoredDoc {
                timed_out: c.timed_out,
                unfinished: c.unfinished,
                unsent: c.unsent,
                at_end: c.at_end,
                oldest_us: c.oldest_us,
            },
            entries: r.entries.iter().map(EntryDoc::from).collect(),
            answered: r.answered.as_ref().map(|s| SampleDoc {
                hex: crate::run_id::hex(s.bytes()),
                more: s.more(),
                offset: s.offset(),
                looks: s.looks().name().to_string(),
            }),
        }
    }
}

impl From<&EntryStats> for EntryDoc {
    fn from(e: &EntryStats) -> EntryDoc {
        EntryDoc {
            sent: e.sent,
            measured: e.measured,
            failed: e.failed,
            corrected: hist::put(&e.corrected),
            raw: hist::put(&e.raw),
            statuses: e.statuses.clone(),
        }
    }
}

impl RecDoc {
    /// The recorder back; a histogram that does not decode, or is not of loadgen's
    /// layout, is an error naming it.
    pub(super) fn recorder(&self) -> Result<Recorder, String> {
        let h = hist::latency;
        let c = &self.censored;
        Ok(Recorder {
            corrected: h(&self.corrected, "corrected")?,
            raw: h(&self.raw, "raw")?,
            connect: h(&self.connect, "connect")?,
            send_lag: h(&self.send_lag, "send_lag")?,
            phases: Phases {
                connect: h(&self.phase_connect, "phase_connect")?,
                tls_handshake: h(&self.phase_tls_handshake, "phase_tls_handshake")?,
                ttfb: h(&self.phase_ttfb, "phase_ttfb")?,
                transfer: h(&self.phase_transfer, "phase_transfer")?,
            },
            sent: self.sent,
            completed: self.completed,
            measured: self.measured,
            failed: self.failed,
            failed_counted: self.failed_counted,
            stage_done: self.stage_done.clone(),
            in_flight_end: self.in_flight_end,
            bytes_sent: self.bytes_sent,
            bytes_received: self.bytes_received,
            bytes_received_measured: self.bytes_received_measured,
            raw_sum_us: self.raw_sum_us,
            connects_ok: self.connects_ok,
            connects_tried: self.connects_tried,
            statuses: self.statuses.clone(),
            errors: self.errors.clone(),
            censored: Censored {
                timed_out: c.timed_out,
                unfinished: c.unfinished,
                unsent: c.unsent,
                at_end: c.at_end,
                oldest_us: c.oldest_us,
            },
            entries: self
                .entries
                .iter()
                .enumerate()
                .map(|(i, e)| e.stats(i))
                .collect::<Result<_, _>>()?,
            answered: self.answered.as_ref().map(SampleDoc::sample).transpose()?,
            ..Recorder::default()
        })
    }
}

impl EntryDoc {
    fn stats(&self, i: usize) -> Result<EntryStats, String> {
        let what = |h: &str| format!("entries[{i}].{h}");
        Ok(EntryStats {
            sent: self.sent,
            measured: self.measured,
            failed: self.failed,
            corrected: hist::get(&self.corrected, entry_histogram(), &what("corrected"))?,
            raw: hist::get(&self.raw, entry_histogram(), &what("raw"))?,
            statuses: self.statuses.clone(),
        })
    }
}

impl SampleDoc {
    fn sample(&self) -> Result<Sample, String> {
        let bad = || format!("answered: '{}' is not hex", self.hex);
        if self.hex.len() % 2 != 0 || self.hex.len() > 2 * crate::answer::SAMPLE_BYTES {
            return Err(bad());
        }
        let bytes = (0..self.hex.len())
            .step_by(2)
            .map(|i| {
                self.hex
                    .get(i..i + 2)
                    .and_then(|b| u8::from_str_radix(b, 16).ok())
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(bad)?;
        let looks = Looks::ALL
            .into_iter()
            .find(|l| l.name() == self.looks)
            .ok_or_else(|| format!("answered.looks: unknown '{}'", self.looks))?;
        Ok(Sample::restore(&bytes, self.more, self.offset, looks))
    }
}
