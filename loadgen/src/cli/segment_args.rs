//! The flags of a run split over several processes (`run` only: `search` decides each
//! step from the one before, which one process must do).

use crate::segment::Segment;
use clap::Args;
use std::time::Duration;

/// Which share of a run this process runs, and where its mergeable result goes.
#[derive(Args, Debug, Clone, Default)]
pub(super) struct SegmentArgs {
    /// Run the I-th of N shares of the run these flags describe (0 <= I < N): the
    /// connections, -n and --max-connections split over the N, the open-loop schedule
    /// dealt so that the N together send exactly what one process would. Merge the N
    /// --result files with `loadgen merge` (docs/distributed.md)
    #[arg(long, value_name = "I/N", value_parser = Segment::parse, help_heading = "Distributed")]
    pub(super) segment: Option<Segment>,

    /// Write the result in the mergeable format (every histogram, per second too, with
    /// the books: docs/loadgen-result.md) to FILE ('-' = stdout, replacing the text
    /// report)
    #[arg(
        long,
        value_name = "FILE",
        requires = "segment",
        help_heading = "Distributed"
    )]
    pub(super) result: Option<String>,

    /// Begin measuring at TIME (the warm-up before it), for segments started without a
    /// coordinator: RFC 3339 (2026-12-08T14:00:00Z) or Unix milliseconds. A segment
    /// whose connections are open only after TIME fails (exit 4)
    #[arg(long, value_name = "TIME", value_parser = super::start_at::parse, help_heading = "Distributed")]
    pub(super) start_at: Option<std::time::SystemTime>,

    /// Start the segments together through a coordinator at HOST:PORT: segment 0 listens
    /// on PORT (every address) and the others join it (retrying the name and the
    /// connection until --wait-segments); it starts them at one instant, collects their
    /// results, and prints the merged report, judged once (docs/distributed.md)
    #[arg(
        long,
        value_name = "HOST:PORT",
        requires = "segment",
        conflicts_with = "start_at",
        help_heading = "Distributed"
    )]
    pub(super) coordinator: Option<String>,

    /// The segments' shared secret, proved by HMAC challenge-response, never sent
    /// (better: the environment variable LOADGEN_TOKEN, which `ps` does not show)
    #[arg(
        long,
        value_name = "TOKEN",
        requires = "coordinator",
        help_heading = "Distributed"
    )]
    pub(super) token: Option<String>,

    /// How long the coordinator waits for every segment, and a segment for the
    /// coordinator (a pod's name resolves late)
    #[arg(long, value_name = "DUR", default_value = "60s", value_parser = readyloop::units::parse_duration, help_heading = "Distributed")]
    pub(super) wait_segments: std::time::Duration,
}

impl SegmentArgs {
    /// `--coordinator` with its `--token` and `--wait-segments`, if given.
    pub(super) fn coordination(&self) -> Option<Coordination> {
        self.coordinator.clone().map(|addr| Coordination {
            addr,
            token: self.token.clone(),
            wait: self.wait_segments,
        })
    }
}

/// `--coordinator`, `--token`, `--wait-segments`, as the plan holds them.
#[derive(Clone, Debug)]
pub(super) struct Coordination {
    /// HOST:PORT: segment 0 listens on PORT, the others connect to it.
    pub(super) addr: String,
    /// `--token` (else `LOADGEN_TOKEN`).
    pub(super) token: Option<String>,
    /// `--wait-segments`.
    pub(super) wait: Duration,
}
