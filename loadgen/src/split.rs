//! A run split over segments, as its results say it: a segment's place in its run
//! ([`Part`]), and what a merge of the segments adds ([`Merged`]).

use crate::load::Load;
use crate::run_id::RunId;
use crate::segment::Segment;

/// On a segment's result: which share of which run it measured.
#[derive(Clone, Debug)]
pub struct Part {
    /// The share.
    pub segment: Segment,
    /// The run it belongs to.
    pub run: RunId,
    /// The whole run's load (the result's own `load` is this segment's part of it).
    pub whole: Load,
    /// The coordinator's estimate of this segment's clock offset to its own, and its
    /// uncertainty (half the round trip): how far this segment's start may be from the
    /// others'. `None` without a coordinator.
    pub skew: Option<Skew>,
}

impl Part {
    /// `segment 1/3 of run 3fa2c1d0e4b5a697-5f1e`: what every output of a segment says.
    pub fn describe(&self) -> String {
        format!("segment {} of run {}", self.segment, self.run)
    }
}

/// Why a segment's run cannot be part of its run's merge (it missed the common start,
/// its coordinator refused it or went away): carried through the engine's I/O error so
/// that the command can tell it from an I/O failure (exit 4, not 1).
#[derive(Debug)]
pub struct NotWhole(pub String);

impl std::fmt::Display for NotWhole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotWhole {}

impl NotWhole {
    /// `why` as the engine's error.
    pub fn io(why: impl Into<String>) -> std::io::Error {
        std::io::Error::other(NotWhole(why.into()))
    }
}

/// A segment's clock against the coordinator's, as NTP estimates it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Skew {
    /// The segment's clock minus the coordinator's, seconds.
    pub offset_s: f64,
    /// The bound on the error of that estimate (half the best round trip), seconds.
    pub bound_s: f64,
}

/// On a merged result: the run, and each segment's own figures beside the merge.
#[derive(Clone, Debug)]
pub struct Merged {
    /// The run the segments belong to.
    pub run: RunId,
    /// A row per segment, by index; a lost segment has `lost` set.
    pub segments: Vec<SegmentRow>,
    /// Each merged segment's own seconds (the CSV's and the interval log's rows per
    /// segment), by index.
    pub intervals: Vec<(Segment, Vec<crate::intervals::Interval>)>,
}

/// One segment's figures in a merged report.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentRow {
    /// The share.
    pub segment: Segment,
    /// Replies measured.
    pub measured: u64,
    /// Replies per second over the segment's measured time.
    pub achieved_rps: f64,
    /// Corrected latency percentiles, us: p50, p99, p99.9 (`None` when nothing was
    /// measured).
    pub p50_us: Option<u64>,
    /// See `p50_us`.
    pub p99_us: Option<u64>,
    /// See `p50_us`.
    pub p99_9_us: Option<u64>,
    /// Errors of every class.
    pub errors: u64,
    /// When it began measuring, seconds since the epoch on its own clock.
    pub started_unix_s: Option<f64>,
    /// Its clock against the coordinator's (`None` without one).
    pub skew: Option<Skew>,
    /// Why it is missing from the merge (it never sent a result, or its file was not
    /// given); `None` when it is in.
    pub lost: Option<String>,
}
