//! loadgen: a load generator and socket-limit prober on the readyloop reactor.
//!
//! Each worker thread runs its own [`readyloop::Reactor`] whose outbound connections are
//! the clients; responses are framed by sans-IO framers and latencies recorded in
//! per-worker HdrHistograms, merged at the end.

pub mod framing;
pub mod record;
pub mod report;
pub mod request;
pub mod result;
