//! loadgen: a load generator and socket-limit prober on the readyloop reactor.
//!
//! Each worker thread runs its own [`readyloop::Reactor`] whose outbound connections are
//! the clients (`client::Client`, a sans-IO state machine); replies are framed by
//! [`framing::Framer`] and latencies recorded in per-worker HdrHistograms
//! ([`record::Recorder`]), merged at the end into a [`result::RunResult`] that the
//! [`report`] functions format.

pub mod addrs;
pub mod answer;
pub mod cli;
pub(crate) mod client;
pub mod coord;
pub mod dns;
pub mod engine;
pub mod error;
pub mod fd_room;
pub mod fmt;
pub mod framing;
pub mod interrupt;
pub mod intervals;
pub mod load;
pub mod merge;
pub mod mix;
pub mod phases;
pub(crate) mod probe;
pub mod record;
pub mod report;
pub mod request;
pub mod result;
pub mod result_file;
pub mod run_id;
pub mod schedule;
pub mod search;
pub mod segment;
pub mod slo;
pub mod split;
pub mod staged;
pub mod tally;
pub mod tls_peer;
pub mod tls_target;

pub use error::Error;
