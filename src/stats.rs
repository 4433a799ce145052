//! Counters and gauges of one reactor, and the snapshot embedders read.

use std::fmt;

pub use crate::turns::TurnTimes;

/// Why a connection was closed. Every close is counted under exactly one reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "server", derive(serde::Serialize))]
#[cfg_attr(feature = "server", serde(rename_all = "snake_case"))]
pub enum CloseReason {
    /// The peer closed (read returned 0) and nothing was left to send.
    Peer,
    /// The protocol asked to close after flushing (`Connection: close`, an error page).
    Done,
    /// The protocol asked to close at once (`Verdict::Close`).
    Protocol,
    /// No activity for the idle timeout.
    IdleTimeout,
    /// A request stayed incomplete for longer than the header timeout.
    HeaderTimeout,
    /// The peer did not read and queued output went over `max_output`.
    OutputOverflow,
    /// Buffered input went over `max_input` without the protocol using it.
    InputOverflow,
    /// The peer reset the connection (ECONNRESET, EPIPE).
    Reset,
    /// Another socket error (its errno is counted in [`Stats::errors`]).
    Error,
    /// Over `max_conns`: accepted, answered (the reject message) and closed.
    Rejected,
    /// Accepted through the reserve descriptor at the descriptor limit, answered and
    /// closed at once (load shedding).
    Shed,
    /// Output drained, or a request body arrived, slower than `ConnLimits::min_rate`.
    SlowPeer,
    /// An outbound connect failed (refused, unreachable; errno counted).
    ConnectFailed,
    /// An outbound connect did not complete within its timeout.
    ConnectTimeout,
    /// Graceful shutdown closed it (idle, or its flush deadline passed).
    Shutdown,
    /// The host closed it through the API.
    Host,
}

impl CloseReason {
    /// All reasons, in a stable order (for reports).
    pub const ALL: [CloseReason; 16] = [
        CloseReason::Peer,
        CloseReason::Done,
        CloseReason::Protocol,
        CloseReason::IdleTimeout,
        CloseReason::HeaderTimeout,
        CloseReason::OutputOverflow,
        CloseReason::InputOverflow,
        CloseReason::Reset,
        CloseReason::Error,
        CloseReason::Rejected,
        CloseReason::Shed,
        CloseReason::SlowPeer,
        CloseReason::ConnectFailed,
        CloseReason::ConnectTimeout,
        CloseReason::Shutdown,
        CloseReason::Host,
    ];

    /// A short snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            CloseReason::Peer => "peer",
            CloseReason::Done => "done",
            CloseReason::Protocol => "protocol",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::HeaderTimeout => "header_timeout",
            CloseReason::OutputOverflow => "output_overflow",
            CloseReason::InputOverflow => "input_overflow",
            CloseReason::Reset => "reset",
            CloseReason::Error => "error",
            CloseReason::Rejected => "rejected",
            CloseReason::Shed => "shed",
            CloseReason::SlowPeer => "slow_peer",
            CloseReason::ConnectFailed => "connect_failed",
            CloseReason::ConnectTimeout => "connect_timeout",
            CloseReason::Shutdown => "shutdown",
            CloseReason::Host => "host",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Counters of one reactor. Plain integers: the reactor is single-threaded, and a
/// snapshot is a copy.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Connections accepted from listeners (including those rejected over the cap).
    pub accepted: u64,
    /// Accepted connections turned away because of `max_conns` (or by the host).
    pub rejected: u64,
    /// Of `rejected`, those closed at once because the lingering set was full (their
    /// answer may be lost to a reset), not after lingering.
    pub rejected_unlingered: u64,
    /// Connections accepted at the descriptor limit through the reserve descriptor,
    /// answered and closed at once (load shedding).
    pub shed: u64,
    /// Outbound connections that completed their handshake.
    pub connected: u64,
    /// Outbound connects started.
    pub connects_started: u64,
    /// Connections open now.
    pub active: u64,
    /// Highest `active` seen.
    pub peak_active: u64,
    /// Bytes read from connections.
    pub bytes_in: u64,
    /// Bytes written to connections.
    pub bytes_out: u64,
    /// Times accepting was paused because the process or system ran out of descriptors
    /// (EMFILE/ENFILE) or memory.
    pub accept_pauses: u64,
    /// `read` calls made.
    pub reads: u64,
    /// `write` calls made.
    pub writes: u64,
    /// `poll` wake-ups.
    pub polls: u64,
    /// Connections a graceful shutdown's deadline cut with output still unsent or a
    /// producer unfinished.
    pub shutdown_cut: u64,
    /// How long turns took (from `poll` returning to the end of the turn).
    pub turns: TurnTimes,
    closed: [u64; CloseReason::ALL.len()],
    errors: Vec<(i32, u64)>,
}

impl Stats {
    /// Count one closed connection.
    pub fn count_close(&mut self, reason: CloseReason) {
        self.closed[reason.index()] += 1;
    }

    /// Connections closed for `reason`.
    pub fn closed(&self, reason: CloseReason) -> u64 {
        self.closed[reason.index()]
    }

    /// Connections closed, all reasons.
    pub fn closed_total(&self) -> u64 {
        self.closed.iter().sum()
    }

    /// Count one error with its errno.
    pub fn count_errno(&mut self, errno: i32) {
        // A handful of distinct errnos at most: a linear scan beats a map here.
        match self.errors.iter_mut().find(|(e, _)| *e == errno) {
            Some((_, n)) => *n += 1,
            None => self.errors.push((errno, 1)),
        }
    }

    /// Errors by errno: `(errno, count)`.
    pub fn errors(&self) -> &[(i32, u64)] {
        &self.errors
    }

    /// Count of one errno.
    pub fn errno_count(&self, errno: i32) -> u64 {
        self.errors
            .iter()
            .find(|(e, _)| *e == errno)
            .map_or(0, |(_, n)| *n)
    }

    /// Add another reactor's counters (gauges are summed too: `active` of two reactors
    /// is their total).
    pub fn merge(&mut self, o: &Stats) {
        self.accepted += o.accepted;
        self.rejected += o.rejected;
        self.rejected_unlingered += o.rejected_unlingered;
        self.shed += o.shed;
        self.connected += o.connected;
        self.connects_started += o.connects_started;
        self.active += o.active;
        self.peak_active += o.peak_active;
        self.bytes_in += o.bytes_in;
        self.bytes_out += o.bytes_out;
        self.accept_pauses += o.accept_pauses;
        self.reads += o.reads;
        self.writes += o.writes;
        self.polls += o.polls;
        self.turns.merge(&o.turns);
        self.shutdown_cut += o.shutdown_cut;
        for (a, b) in self.closed.iter_mut().zip(o.closed.iter()) {
            *a += b;
        }
        for &(e, n) in &o.errors {
            match self.errors.iter_mut().find(|(x, _)| *x == e) {
                Some((_, m)) => *m += n,
                None => self.errors.push((e, n)),
            }
        }
    }

    /// The counters as a JSON value (errno names as keys, e.g. `"EMFILE"`).
    #[cfg(feature = "server")]
    pub fn to_json(&self) -> serde_json::Value {
        let closed: serde_json::Map<String, serde_json::Value> = CloseReason::ALL
            .iter()
            .map(|r| (r.name().to_string(), self.closed(*r).into()))
            .collect();
        let errors: serde_json::Map<String, serde_json::Value> = self
            .errors
            .iter()
            .map(|&(e, n)| (errno_name(e), n.into()))
            .collect();
        serde_json::json!({
            "accepted": self.accepted,
            "rejected": self.rejected,
            "rejected_unlingered": self.rejected_unlingered,
            "shed": self.shed,
            "connects_started": self.connects_started,
            "connected": self.connected,
            "active": self.active,
            "peak_active": self.peak_active,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "accept_pauses": self.accept_pauses,
            "reads": self.reads,
            "writes": self.writes,
            "polls": self.polls,
            "shutdown_cut": self.shutdown_cut,
            "turns": self.turns.count(),
            "turn_max_us": self.turns.max_ns() as f64 / 1e3,
            "turn_p99_us": self.turns.percentile_ns(99.0) as f64 / 1e3,
            "closed": closed,
            "errors": errors,
        })
    }

    /// One human line of the main counters (the server's `--stats-interval` line).
    pub fn line(&self) -> String {
        self.line_with(&[])
    }

    /// [`Stats::line`] with the host's own counters (`name=value`) after the
    /// connection counts: the server adds its request counts here.
    pub fn line_with(&self, host: &[(&str, u64)]) -> String {
        let mut s = format!(
            "active={} accepted={} rejected={} shed={}",
            self.active, self.accepted, self.rejected, self.shed,
        );
        for (name, n) in host {
            s.push_str(&format!(" {name}={n}"));
        }
        s.push_str(&format!(
            " in={}B out={}B accept_pauses={} turn_max={}us turn_p99={}us closed={}",
            self.bytes_in,
            self.bytes_out,
            self.accept_pauses,
            self.turns.max_ns() / 1000,
            self.turns.percentile_ns(99.0) / 1000,
            self.closed_total()
        ));
        for r in CloseReason::ALL {
            let n = self.closed(r);
            if n > 0 {
                s.push_str(&format!(" {}={}", r.name(), n));
            }
        }
        for &(e, n) in &self.errors {
            s.push_str(&format!(" {}={}", errno_name(e), n));
        }
        s
    }
}

/// The symbolic name of a signal (`"SIGINT"`), or `signal N` if unknown.
///
/// ```
/// assert_eq!(readyloop::stats::signal_name(2), "SIGINT");
/// assert_eq!(readyloop::stats::signal_name(999), "signal 999");
/// ```
pub fn signal_name(sig: i32) -> String {
    match nix::sys::signal::Signal::try_from(sig) {
        Ok(s) => s.as_str().to_string(),
        Err(_) => format!("signal {sig}"),
    }
}

/// The symbolic name of an errno (`"EMFILE"`), or its number if unknown.
pub fn errno_name(errno: i32) -> String {
    let e = nix::errno::Errno::from_raw(errno);
    if e == nix::errno::Errno::UnknownErrno {
        format!("errno{errno}")
    } else {
        format!("{e:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_errno_names() {
        assert_eq!(errno_name(libc::EMFILE), "EMFILE");
        assert_eq!(errno_name(libc::EADDRNOTAVAIL), "EADDRNOTAVAIL");
    }

    #[test]
    fn test_merge_and_json() {
        let mut a = Stats::default();
        a.count_close(CloseReason::Peer);
        a.count_errno(libc::EMFILE);
        let mut b = Stats::default();
        b.count_close(CloseReason::Peer);
        b.count_errno(libc::EMFILE);
        b.count_errno(libc::ECONNRESET);
        b.bytes_in = 5;
        a.merge(&b);
        assert_eq!(a.closed(CloseReason::Peer), 2);
        assert_eq!(a.errno_count(libc::EMFILE), 2);
        let j = a.to_json();
        assert_eq!(j["closed"]["peer"], 2);
        assert_eq!(j["errors"]["ECONNRESET"], 1);
        assert_eq!(j["bytes_in"], 5);
        assert_eq!(
            a.line_with(&[("requests", 7)])
                .split(' ')
                .take(5)
                .collect::<Vec<_>>(),
            [
                "active=0",
                "accepted=0",
                "rejected=0",
                "shed=0",
                "requests=7"
            ]
        );
    }
}
