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
//! let mut cx = Cx::unit(Instant::now());
//! let step = echo.on_input(b"hello", &mut out, usize::MAX, &mut cx);
//! assert_eq!(step.consumed, 5);
//! assert_eq!(step.verdict, Verdict::Continue);
//! assert_eq!(out, b"hello");
//! ```

use crate::conn_id::ConnId;
use std::time::Instant;

mod discard;
mod echo;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "http")]
mod http_headers;
mod source;

pub use discard::Discard;
pub use echo::Echo;
#[cfg(feature = "http")]
pub use http::{Http, HttpConfig, HttpCounters};
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

/// Per-call context: the time of this reactor turn, the connection's id, and the
/// state the host gave the reactor for all its connections to share.
///
/// Time is passed in rather than read from the clock so that protocols stay
/// deterministic under test. The shared state (`ctx`, of the protocol's
/// [`Protocol::Context`] type) is how connections reach what is not theirs: a
/// key-value store's map, a chat room's outbox, a load generator's recorder. It lives in
/// the reactor ([`crate::Reactor::context_mut`]) and is lent to one protocol call at a
/// time, so no `Rc<RefCell<..>>` is needed.
///
/// ```
/// use readyloop::protocol::Cx;
/// use std::time::Instant;
///
/// let mut seen = 0u64;
/// let cx = Cx::new(Instant::now(), &mut seen);
/// *cx.ctx += 1;
/// assert_eq!(seen, 1);
/// ```
#[derive(Debug)]
pub struct Cx<'a, C> {
    /// The time of this reactor turn.
    pub now: Instant,
    /// The state shared by every connection of the reactor.
    pub ctx: &'a mut C,
    id: ConnId,
}

impl Cx<'static, ()> {
    /// A detached context for a protocol whose context is `()` (tests, fuzzing).
    ///
    /// ```
    /// use readyloop::protocol::{Cx, Echo, Protocol};
    /// let mut out = Vec::new();
    /// Echo.on_input(b"hi", &mut out, usize::MAX, &mut Cx::unit(std::time::Instant::now()));
    /// assert_eq!(out, b"hi");
    /// ```
    pub fn unit(now: Instant) -> Cx<'static, ()> {
        // A box of a zero-sized value allocates nothing, so leaking it costs nothing.
        Cx::new(now, Box::leak(Box::new(())))
    }
}

impl<'a, C> Cx<'a, C> {
    /// A context at time `now` lending `ctx`, for a protocol driven outside a reactor
    /// (tests, fuzzing): its [`Cx::id`] is [`ConnId::DETACHED`].
    pub fn new(now: Instant, ctx: &'a mut C) -> Cx<'a, C> {
        Cx {
            now,
            ctx,
            id: ConnId::DETACHED,
        }
    }

    pub(crate) fn of(now: Instant, id: ConnId, ctx: &'a mut C) -> Cx<'a, C> {
        Cx { now, ctx, id }
    }

    /// The connection this call is about: the id [`crate::Reactor::send`] and
    /// [`crate::Reactor::close`] take, and [`crate::Host::closed`] reports.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// The same call with a part of the shared state (or another state altogether)
    /// lent instead: how a protocol that wraps others gives each the context it
    /// expects.
    ///
    /// ```
    /// use readyloop::protocol::{Cx, Echo, Protocol};
    /// use std::time::Instant;
    ///
    /// struct Mine { echoed: u64 }
    /// let mut mine = Mine { echoed: 0 };
    /// let mut cx = Cx::new(Instant::now(), &mut mine);
    /// let mut out = Vec::new();
    /// // Echo's context is `()`: lend it one for the inner call.
    /// let step = Echo.on_input(b"hi", &mut out, usize::MAX, &mut cx.with(&mut ()));
    /// cx.ctx.echoed += step.consumed as u64;
    /// assert_eq!(mine.echoed, 2);
    /// ```
    pub fn with<'b, D>(&self, ctx: &'b mut D) -> Cx<'b, D> {
        Cx {
            now: self.now,
            ctx,
            id: self.id,
        }
    }
}

/// A sans-IO protocol driven by the reactor, one instance per connection.
///
/// Keep the state small: it lives inline in the connection's slab slot, so every byte
/// here is paid by every idle connection.
pub trait Protocol {
    /// The state all connections of a reactor share, lent to every call through
    /// [`Cx::ctx`]: `()` for a protocol that needs none. Owned (`'static`): the
    /// reactor's UDP services ([`crate::udp::Datagrams`]) are reached again by type.
    type Context: 'static;

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
    fn on_input(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        budget: usize,
        cx: &mut Cx<Self::Context>,
    ) -> Step;

    /// [`Protocol::on_input`] with the bytes lent mutably: what the reactor calls. A
    /// protocol that transforms its input where it lies overrides this one (the TLS
    /// layer decrypts records in place); the bytes it leaves unconsumed are kept as it
    /// left them and offered again, so a partial record it has already worked on stays
    /// worked on. Everything else keeps the default, which lends them read-only.
    #[inline]
    fn on_input_mut(
        &mut self,
        input: &mut [u8],
        out: &mut Vec<u8>,
        budget: usize,
        cx: &mut Cx<Self::Context>,
    ) -> Step {
        self.on_input(input, out, budget, cx)
    }

    /// The peer shut down its writing side (read returned 0). The default finishes
    /// sending what is queued and then closes.
    fn on_eof(&mut self, _out: &mut Vec<u8>, _cx: &mut Cx<Self::Context>) -> Verdict {
        Verdict::CloseAfterFlush
    }

    /// An outbound connection finished connecting (loadgen's clients start here).
    fn on_connected(&mut self, _out: &mut Vec<u8>, _cx: &mut Cx<Self::Context>) -> Verdict {
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
    fn on_drained(
        &mut self,
        _out: &mut Vec<u8>,
        _budget: usize,
        _cx: &mut Cx<Self::Context>,
    ) -> Verdict {
        Verdict::Continue
    }

    /// Whether the protocol is inside a unit of input whose rest it waits for (an HTTP
    /// request body being read). While true, the rest must arrive at the reactor's
    /// minimum rate (`ConnLimits::min_rate`) or the connection is closed as too slow.
    fn awaits_input(&self) -> bool {
        false
    }

    /// Whether the protocol itself holds the start of a unit whose rest it waits for
    /// (a TLS handshake under way, a request decrypted only in part). While true and
    /// nothing is queued to send, the header clock runs (`ConnLimits::header_timeout`),
    /// as it does for a partial request the reactor holds: a peer that opens a TLS
    /// connection and never finishes its handshake is closed on it.
    fn mid_unit(&self) -> bool {
        false
    }

    /// When the protocol next wants [`Protocol::on_timer`] called (an open-loop send
    /// schedule). `None`: no timer. Asked after every call that may have changed it;
    /// `ctx` is the shared context (a schedule kept there, not in every slot).
    fn poll_at(&self, _ctx: &Self::Context) -> Option<Instant> {
        None
    }

    /// The time given by [`Protocol::poll_at`] has come.
    fn on_timer(&mut self, _out: &mut Vec<u8>, _cx: &mut Cx<Self::Context>) -> Verdict {
        Verdict::Continue
    }
}
