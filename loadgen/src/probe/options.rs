//! The options of `loadgen probe` once the CLI has parsed them, and how they become
//! the [`ProbeSpec`] of one probe process (with `--procs N`, each of N processes gets
//! its share of the rate and of `--max`).

use super::ramp::ProbeSpec;
use super::tls::ProbeTls;
use super::verify::VerifyProto;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The highest `--connect-rate` accepted, connections per second over all processes.
/// Far above what one machine manages (a connect costs a few microseconds of system
/// time, and each probe process opens at most 256 per millisecond tick), and far below
/// where the ramp's arithmetic loses meaning.
pub(crate) const MAX_CONNECT_RATE: f64 = 1e6;

/// Options of `loadgen probe` after parsing.
#[derive(Clone, Debug)]
pub(crate) struct ProbeOptions {
    /// Target, or `None` for a readyloop echo server in a child process.
    pub target: Option<SocketAddr>,
    /// TLS to the target (`tls://` or `https://`), or none.
    pub tls: Option<ProbeTls>,
    /// New connections per second, over all processes (`--connect-rate`, at most
    /// [`MAX_CONNECT_RATE`]).
    pub spec_rate: f64,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Stop after this many (over all processes).
    pub max: Option<u64>,
    /// Hold time.
    pub hold: Duration,
    /// Check every held connection still answers, at the end.
    pub verify: bool,
    /// What the check speaks (`--proto`); `None`: as the server's stats say, else echo
    /// ([`super::verify::choose`]).
    pub verify_proto: Option<VerifyProto>,
    /// Source addresses.
    pub sources: Vec<IpAddr>,
    /// Processes.
    pub procs: usize,
    /// The server's admin address.
    pub server_stats: Option<SocketAddr>,
    /// Ramp bound.
    pub max_time: Duration,
    /// JSON output: file or "-".
    pub json: Option<String>,
    /// Run as a child of `--procs` (READY / GO / RESULT lines).
    pub child: bool,
}

/// The spec of one of `share` processes toward `target`: the rate is split evenly and
/// `--max` rounded up, so the processes together reach it.
pub(super) fn spec_of(o: &ProbeOptions, target: SocketAddr, share: usize) -> ProbeSpec {
    ProbeSpec {
        target,
        connect_rate: o.spec_rate / share as f64,
        connect_timeout: o.connect_timeout,
        max: o.max.map(|m| m.div_ceil(share as u64)),
        hold: o.hold,
        verify: o.verify,
        verify_proto: o.verify_proto.unwrap_or_default(),
        verify_timeout: Duration::from_secs(3),
        sources: o.sources.clone(),
        max_time: o.max_time,
        server_closes_to_stop: 10,
        tls: o.tls.clone(),
    }
}
