//! The coordinator's count of the connections it refused or closed, by reason.

use super::wire::RefuseCode;
use std::sync::atomic::{AtomicU64, Ordering};

/// Connections the coordinator refused or closed, by reason (a snapshot).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Bytes that were not the protocol, or messages out of order.
    pub garbage: u64,
    /// A wrong token, or a token on one side only.
    pub bad_token: u64,
    /// Another run: plan hash, N, version, or an index out of range.
    pub wrong_run: u64,
    /// An index another connection holds.
    pub duplicate: u64,
    /// Arrived after the start was sent.
    pub late: u64,
    /// Too slow: handshake or frame past its deadline, or silent.
    pub slow: u64,
    /// Refused at once: too many connections in their handshake.
    pub busy: u64,
    /// Closed by the peer before its HELLO was whole (a port probe).
    pub abandoned: u64,
}

impl Counters {
    /// Every refused or closed connection.
    pub fn total(&self) -> u64 {
        self.garbage
            + self.bad_token
            + self.wrong_run
            + self.duplicate
            + self.late
            + self.slow
            + self.busy
            + self.abandoned
    }
}

/// Why a connection was refused or closed before it was a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    Garbage,
    BadToken,
    WrongRun,
    Duplicate,
    Late,
    Slow,
    Busy,
    Abandoned,
}

impl From<RefuseCode> for Reason {
    fn from(c: RefuseCode) -> Reason {
        match c {
            RefuseCode::Version | RefuseCode::Plan | RefuseCode::Index => Reason::WrongRun,
            RefuseCode::Token => Reason::BadToken,
            RefuseCode::Taken => Reason::Duplicate,
            RefuseCode::Late => Reason::Late,
            RefuseCode::Busy => Reason::Busy,
        }
    }
}

/// The live counters, shared by the coordinator's threads.
#[derive(Debug, Default)]
pub(crate) struct Tally([AtomicU64; 8]);

impl Tally {
    /// Count one connection refused or closed for `r`.
    pub fn count(&self, r: Reason) {
        self.0[r as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now.
    pub fn snapshot(&self) -> Counters {
        let g = |r: Reason| self.0[r as usize].load(Ordering::Relaxed);
        Counters {
            garbage: g(Reason::Garbage),
            bad_token: g(Reason::BadToken),
            wrong_run: g(Reason::WrongRun),
            duplicate: g(Reason::Duplicate),
            late: g(Reason::Late),
            slow: g(Reason::Slow),
            busy: g(Reason::Busy),
            abandoned: g(Reason::Abandoned),
        }
    }
}
