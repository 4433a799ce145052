//! Sans-IO protocols: they are fed bytes and return bytes and a verdict.
//!
//! A protocol never sees a socket. The reactor reads into its scratch buffer, hands the
//! bytes (joined with any leftover of an earlier read) to [`Protocol::on_input`], writes
//! whatever the protocol appended to `out`, and keeps only what neither side could use
//! yet. That split is what lets every protocol here be tested byte by byte without a
//! socket, and fuzzed.
//!
//! ```
//! use readyloop::protocol::{Cx, Echo, Protocol, Verdict};
//! use std::time::Instant;
//!
//! let mut echo = Echo::default();
//! let mut out = Vec::new();
//! let mut cx = Cx::new(Instant::now());
//! let step = echo.on_input(b"hello", &mut out, usize::MAX, &mut cx);
//! assert_eq!(step.consumed, 5);
//! assert_eq!(step.verdict, Verdict::Continue);
//! assert_eq!(out, b"hello");
//! ```

use std::time::Instant;

mod discard;
mod echo;
#[cfg(feature = "http")]
pub mod http;
mod source;

pub use discard::Discard;
pub use echo::Echo;
#[cfg(feature = "http")]
pub use http::{Http, HttpConfig};
pub use source::{fill_pattern, Source, PATTERN};

/// What a protocol wants done with its connection after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Keep the connection open.
    Continue,
    /// Send everything queued, then shut down writing and close (a response with
    /// `Connection: close`, an error page, the end of a half-closed echo). A producer
    /// ([`Protocol::wants_drained`]) is still fed until it is done; no further input is
    /// offered.
    CloseAfterFlush,
    /// Close now, dropping queued output (a protocol error with nothing to say).
    Close,
}

/// What [`Protocol::on_input`] did with the bytes it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// How many bytes from the front of `input` were used. The rest is kept by the
    /// reactor and offered again, joined with the next bytes that arrive.
    pub consumed: usize,
    /// What to do with the connection.
    pub verdict: Verdict,
}

impl Step {
    /// `consumed` bytes used, keep going.
    pub fn cont(consumed: usize) -> Step {
        Step {
            consumed,
            verdict: Verdict::Continue,
        }
    }
}

/// Per-call context: the time of this reactor turn and counters the protocol may bump.
///
/// Time is passed in rather than read from the clock so that protocols stay
/// deterministic under test.
#[derive(Debug)]
pub struct Cx {
    /// The time of this reactor turn.
    pub now: Instant,
    /// Requests (or other protocol units) completed; added to the reactor's stats.
    pub requests: u64,
    /// Malformed input answered with an error; added to the reactor's stats.
    pub protocol_errors: u64,
}

impl Cx {
    /// A context at time `now` with zeroed counters.
    pub fn new(now: Instant) -> Cx {
        Cx {
            now,
            requests: 0,
            protocol_errors: 0,
        }
    }
}

/// A sans-IO protocol driven by the reactor, one instance per connection.
///
/// Keep the state small: it lives inline in the connection's slab slot, so every byte
/// here is paid by every idle connection.
pub trait Protocol {
    /// Bytes arrived. Use a prefix of `input`, append any reply to `out`, and say how
    /// much was used. Returning `consumed < input.len()` keeps the rest for later (a
    /// partial request); the reactor bounds how much it will keep (`max_input`).
    ///
    /// Append about `budget` bytes at most: stop after the unit (request) that reaches
    /// it and leave the rest of `input` unconsumed. The reactor writes what was
    /// appended and offers the rest again once the peer has taken it, so a peer that
    /// pipelines thousands of requests in one write cannot make one call produce
    /// megabytes (and hold up every other connection while it does). A protocol should
    /// use at least one unit per call even when `budget` is small, so it always
    /// progresses.
    fn on_input(&mut self, input: &[u8], out: &mut Vec<u8>, budget: usize, cx: &mut Cx) -> Step;

    /// The peer shut down its writing side (read returned 0). The default finishes
    /// sending what is queued and then closes.
    fn on_eof(&mut self, _out: &mut Vec<u8>, _cx: &mut Cx) -> Verdict {
        Verdict::CloseAfterFlush
    }

    /// An outbound connection finished connecting (loadgen's clients start here).
    fn on_connected(&mut self, _out: &mut Vec<u8>, _cx: &mut Cx) -> Verdict {
        Verdict::Continue
    }

    /// Whether the protocol has more output to produce once the queue drains (a
    /// streaming body, the `source` protocol). While true, the reactor calls
    /// [`Protocol::on_drained`] each time the connection's output queue is empty and
    /// the socket can take more, and stops offering new input to `on_input` only if
    /// the protocol keeps returning `consumed == 0`.
    fn wants_drained(&self) -> bool {
        false
    }

    /// The output queue is empty and the socket is writable: produce more. Append at
    /// most about `budget` bytes; the reactor calls again while the socket accepts them.
    fn on_drained(&mut self, _out: &mut Vec<u8>, _budget: usize, _cx: &mut Cx) -> Verdict {
        Verdict::Continue
    }

    /// Whether the protocol is inside a unit of input whose rest it waits for (an HTTP
    /// request body being read). While true, the rest must arrive at the reactor's
    /// minimum rate (`ConnLimits::min_rate`) or the connection is closed as too slow.
    fn awaits_input(&self) -> bool {
        false
    }

    /// When the protocol next wants [`Protocol::on_timer`] called (an open-loop send
    /// schedule). `None`: no timer.
    fn poll_at(&self) -> Option<Instant> {
        None
    }

    /// The time given by [`Protocol::poll_at`] has come.
    fn on_timer(&mut self, _out: &mut Vec<u8>, _cx: &mut Cx) -> Verdict {
        Verdict::Continue
    }
}
