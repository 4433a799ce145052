//! The coordination channel of a distributed run (issue 18, point 3): segment 0, the
//! [`Coordinator`], admits segments 1..N−1, the [`Member`]s; starts them together at
//! one instant; stops them on a signal; and collects their results.
//!
//! # Use
//!
//! Coordinator (segment 0): [`Coordinator::bind`], then [`Coordinator::gather`] (every
//! member admitted, READY and its clock estimated, or an error naming the missing
//! segments; the connected ones are told to abort), then, once its own connections
//! are open, [`Coordinator::start`] ([`StartInfo`]: the instant, the run's identity and
//! each member's clock offset and start-skew bound). [`Coordinator::stop_all`] on
//! SIGINT or SIGTERM; [`Coordinator::collect`] for the results ([`Collected`]: bytes,
//! or [`Lost`]); [`Coordinator::counters`] for the connections refused.
//!
//! Member: [`Member::join`] (retrying name resolution and connection until
//! [`Settings::wait`]; a refusal is final but for `busy` and an index already
//! connected, which a restarted pod meets until its old connection is found dead), then, connections open, [`Member::ready`] blocks until START
//! and returns this process's start instant; [`Member::stop_flag`] is raised by STOP
//! (or the coordinator's loss); [`Member::report_started`] and
//! [`Member::send_result`] at the end.
//!
//! Every error is an [`Error`] whose `Display` is one line for a user.
//!
//! # The wire
//!
//! TCP, framed: an 8-byte header (`rc`, frame version 1, message type, u32 payload
//! length) and the payload, at most 4 KiB except RESULT's (at most
//! [`Settings::max_result`], 64 MiB by default, accepted only after START). Garbage (bad
//! magic, version, type, length, or a malformed payload) closes the connection at
//! once and is counted; a header announcing too long a payload is refused before its
//! payload is read. See [`wire`] for the layout of each message.
//!
//! | type | message | from | carries |
//! |---|---|---|---|
//! | 1 | HELLO | member | protocol version, loadgen version, plan hash, index, N, has a token |
//! | 2 | CHALLENGE | coordinator | 32 random bytes, has a token |
//! | 3 | AUTH | member | its own 32 random bytes, its proof (HMAC) |
//! | 4 | WELCOME | coordinator | its proof (HMAC), the run's nonce |
//! | 5 | REFUSE | coordinator | a code and a one-line reason; then close |
//! | 6 | READY | member | (connections open) |
//! | 7 | PING | coordinator | sequence, t0 |
//! | 8 | PONG | member | sequence, t1, t2 |
//! | 9 | START | coordinator | start instant (Unix ns, coordinator's clock), nonce, the member's offset and delay |
//! | 10 | ABORT | coordinator | a reason: no start |
//! | 11 | STOP | coordinator | (end the run now, send the result) |
//! | 12 | HEARTBEAT | both | (every second once admitted) |
//! | 13 | STARTED | member | when it actually started, Unix ns on its clock |
//! | 14 | RESULT | member | the segment's result, opaque bytes |
//! | 15 | DONE | coordinator | (the result arrived) |
//! | 16 | FAIL | member | a reason: it cannot go on |
//!
//! # Sequence
//!
//! ```text
//! member                          coordinator
//! HELLO ----------------------->  checks version, plan hash, N, index range, token on both sides
//!       <-----------------------  CHALLENGE cc            (or REFUSE reason, close)
//! AUTH cm, HMAC(member, cc, cm) >  verifies; index free and not started?
//!       <-----------------------  WELCOME HMAC(coordinator, cc, cm, nonce), nonce
//!                                                         (or REFUSE wrong token / taken / late)
//!   ... the member opens its connections; HEARTBEATs both ways ...
//! READY ----------------------->
//!       <-----------------------  PING t0   } 8 round trips: the clock offset
//! PONG t1 t2 ------------------>            }
//!   ... every member synced, the coordinator's own process ready ...
//!       <-----------------------  START at, nonce, offset, delay   (or ABORT reason)
//! STARTED t ------------------->  (optional: the realised skew)
//!       <-----------------------  STOP                (optional: SIGINT on the coordinator)
//! RESULT bytes ---------------->
//!       <-----------------------  DONE
//! ```
//!
//! Bounds: every phase accepts a fixed set of messages, each once (PONGs only in
//! answer to a PING, at most 8); HEARTBEATs, the one repeated message, at most 16 plus
//! 10 a second. Deadlines ([`Timeouts`]): a connection must be admitted within the
//! handshake deadline (10 s) and each frame must be whole within 5 s of its first byte
//! (plus 1 s per MiB), so a peer dribbling bytes (slowloris) is closed and counted
//! `slow`; an admitted peer silent for 15 s is gone. At most
//! [`Settings::max_handshakes`] connections are in their handshake at once (one thread
//! each); more are refused `busy` at once, and members retry them. Counters by reason:
//! [`Counters`].
//!
//! # Why an HMAC challenge-response
//!
//! The token must never travel in clear, and seeing one run's traffic must not let
//! anyone join another connection. Each side draws 32 random bytes (ring's
//! `SystemRandom`) and the other answers with HMAC-SHA256(token, transcript): a domain
//! label, the role (member or coordinator, so a proof cannot be reflected back), the
//! protocol version, plan hash, index, N and both challenges; the coordinator's proof
//! also covers the nonce. The member proves first; the coordinator verifies in constant
//! time (ring's `hmac::verify`), refuses a wrong token and counts it, and only then
//! proves itself, so a member knows it talks to a holder of the token and that the
//! nonce is the coordinator's. A replayed AUTH fails (the challenge is new), and the
//! token cannot be found offline from a transcript but by guessing it: a token should
//! be long and random (a Kubernetes Secret from `head -c 32 /dev/urandom | base64`).
//! What it does not give: confidentiality, or integrity after the handshake (an
//! attacker on the path could inject a STOP); the channel is meant for a cluster's
//! network, with the Job's pods behind a NetworkPolicy. Without a token on both sides
//! the handshake goes through unauthenticated, and [`StartInfo::authenticated`],
//! [`Coordinator::authenticated`] and [`Member::authenticated`] say so for a warning.
//! A token on one side only is refused.
//!
//! # The run's identity
//!
//! The coordinator draws a 16-byte nonce at [`Coordinator::bind`]; a run is its plan
//! hash and that nonce ([`RunId`]). Members learn it in WELCOME (and again in START),
//! so every output of a run carries it and a file of another run, even of the same
//! plan yesterday, is refused at the merge.
//!
//! # Clocks and the start skew
//!
//! After READY, the coordinator measures each member's clock offset as NTP does (see
//! [`clock`]): of 8 round trips, the one of least delay gives offset
//! `((t1 − t0) + (t2 − t3)) / 2` and delay `(t3 − t0) − (t2 − t1)`, and the true offset
//! is within ± delay/2 however asymmetric the path. START carries the start instant on
//! the coordinator's clock, at least 200 ms and four round trips ahead, and each
//! member's offset; the member adds it and waits for that instant on its own clock. So
//! its start differs from the coordinator's by at most half the delay (the
//! [`MemberClock::skew_bound_ns`] reported per member: tens of microseconds on one
//! data-centre network), plus the drift of the clocks between the measure and the
//! start (under a millisecond a minute for an undisciplined quartz clock, far less under
//! NTP), plus how late each process acts on its timer. A member that reports when it
//! actually started (STARTED) gives the coordinator its realised skew,
//! [`Collected::started_skew_ns`]. A clock stepped (not slewed) between the measure
//! and the start moves that member's start by the step: run NTP in slew mode.
//!
//! What skew does to merged figures: a member that starts δ late (or early) shifts its
//! whole schedule by δ. Latencies are unaffected (each is measured on one clock); the
//! union's offered rate ramps up over δ at the start and down over δ at the end, and
//! per-second intervals aligned on the start instant put up to δ of that member's
//! requests in the neighbouring second. With a skew bound far under a second, only the
//! first and last intervals feel it.

mod auth;
mod budget;
pub mod clock;
mod coordinator;
mod coordinator_side;
mod counters;
mod error;
mod hub;
mod link;
mod member;
mod member_side;
mod settings;
pub mod wire;

#[cfg(test)]
mod tests;

pub use auth::{Token, TOKEN_ENV};
pub use clock::{unix_ns, Estimate};
pub use coordinator::Coordinator;
pub use counters::Counters;
pub use error::Error;
pub use hub::{Collected, Lost};
pub use member::Member;
pub use settings::{
    hex, MemberClock, RunId, Settings, StartInfo, Timeouts, DEFAULT_MAX_RESULT, DEFAULT_WAIT,
    MIN_LEAD,
};
pub use wire::RefuseCode;

pub(crate) use settings::short_hex;

/// The coordination protocol's version, in HELLO.
pub const PROTOCOL: u16 = 1;

/// Clock round trips per member before the start.
pub const PINGS: u32 = 8;
