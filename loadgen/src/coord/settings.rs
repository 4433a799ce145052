//! What both roles are given: the run's terms, the token, and the deadlines.

use super::auth::Token;
use super::clock::Estimate;
use std::fmt;
use std::time::{Duration, Instant};

/// How long a member keeps trying to reach the coordinator, and how long the
/// coordinator waits for every member (`--wait-segments`).
pub const DEFAULT_WAIT: Duration = Duration::from_secs(60);
/// The largest RESULT the coordinator accepts by default: 64 MiB.
pub const DEFAULT_MAX_RESULT: usize = 64 << 20;
/// The least time between START and the start instant.
pub const MIN_LEAD: Duration = Duration::from_millis(200);

/// The deadlines of the channel. The defaults suit a cluster; tests shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From a connection's accept to its admission (HELLO, AUTH, WELCOME): a peer
    /// slower than this is closed and counted `slow`. Default 10 s.
    pub handshake: Duration,
    /// From a frame's first byte to its last, plus 1 s per MiB of payload. Default 5 s.
    pub frame: Duration,
    /// Nothing received for this long: the peer is gone. Default 15 s.
    pub silence: Duration,
    /// Both sides send a HEARTBEAT this often once admitted (at least every 200 ms).
    /// Default 1 s.
    pub heartbeat: Duration,
    /// One write's bound. Default 10 s.
    pub write: Duration,
    /// How long a member that said READY waits for START or ABORT (the coordinator
    /// also waits for its own process to be ready). Default 5 min.
    pub start: Duration,
    /// How long a member waits for DONE after its RESULT. Default 60 s.
    pub done: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            handshake: Duration::from_secs(10),
            frame: Duration::from_secs(5),
            silence: Duration::from_secs(15),
            heartbeat: Duration::from_secs(1),
            write: Duration::from_secs(10),
            start: Duration::from_secs(300),
            done: Duration::from_secs(60),
        }
    }
}

/// What a coordinator or a member is given. Both sides of a run must agree on
/// `segments`, `plan_hash`, `version` and whether there is a `token` (and its bytes).
#[derive(Debug, Clone)]
pub struct Settings {
    /// N, the run's segments; segment 0 is the coordinator.
    pub segments: u32,
    /// The hash of the run's plan (the caller's: flags that shape the load).
    pub plan_hash: [u8; 32],
    /// The shared secret, if any (`--token` or `LOADGEN_TOKEN`).
    pub token: Option<Token>,
    /// `--wait-segments`: a member's time to join, the coordinator's to gather.
    pub wait: Duration,
    /// The largest RESULT the coordinator accepts.
    pub max_result: usize,
    /// The loadgen version both sides must run.
    pub version: String,
    /// The deadlines.
    pub timeouts: Timeouts,
    /// The coordinator's bound on connections in their handshake at once.
    pub max_handshakes: usize,
}

impl Settings {
    /// The settings of a run of `segments` with this plan and token, and defaults.
    pub fn new(segments: u32, plan_hash: [u8; 32], token: Option<Token>) -> Settings {
        Settings {
            segments,
            plan_hash,
            token,
            wait: DEFAULT_WAIT,
            max_result: DEFAULT_MAX_RESULT,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            timeouts: Timeouts::default(),
            max_handshakes: 32,
        }
    }
}

/// A run's identity: the plan's hash and the coordinator's nonce. It goes in every
/// output of the run, so that the merge refuses a file of another run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RunId {
    /// The plan's hash.
    pub plan_hash: [u8; 32],
    /// The nonce the coordinator drew at startup.
    pub nonce: [u8; 16],
}

impl fmt::Display for RunId {
    /// `<plan hash hex>-<nonce hex>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", hex(&self.plan_hash), hex(&self.nonce))
    }
}

/// Lowercase hex of `b`.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The first 8 hex digits of `b` and an ellipsis, for messages.
pub(crate) fn short_hex(b: &[u8]) -> String {
    format!("{}…", hex(&b[..b.len().min(4)]))
}

/// One member's clock as the coordinator estimated it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberClock {
    /// The member's segment index.
    pub index: u32,
    /// Its offset and the delay it was measured with.
    pub estimate: Estimate,
    /// The bound of its start skew, ns: its start is the coordinator's within
    /// ± this (half the delay), plus what its process takes to act on time.
    pub skew_bound_ns: i64,
}

/// When this process starts measuring, and what the run's start was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartInfo {
    /// This process's monotonic instant of the start (in the past if START arrived
    /// late: start at once).
    pub at: Instant,
    /// The start as Unix time (ns) on this process's clock.
    pub unix_ns: i64,
    /// The start as Unix time (ns) on the coordinator's clock.
    pub coordinator_unix_ns: i64,
    /// The run's identity.
    pub run: RunId,
    /// Whether the peers proved the token (false: no token on either side).
    pub authenticated: bool,
    /// The coordinator: every member's clock; a member: its own.
    pub clocks: Vec<MemberClock>,
}
