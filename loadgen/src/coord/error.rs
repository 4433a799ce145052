//! The coordination channel's errors, each a one-line message for a user.

use super::wire::RefuseCode;
use std::fmt;
use std::time::Duration;

/// Why coordinating the segments failed.
#[derive(Debug)]
pub enum Error {
    /// The coordinator could not listen.
    Bind {
        /// The address asked for.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The system's random generator failed (no nonce or challenge could be drawn).
    Random,
    /// A member could not reach the coordinator before its deadline.
    Unreachable {
        /// The coordinator's address as given.
        addr: String,
        /// How long it tried.
        wait: Duration,
        /// The last failure (name resolution or connection).
        last: String,
    },
    /// The coordinator refused this member.
    Refused {
        /// Why, as a code.
        code: RefuseCode,
        /// Why, in the coordinator's words.
        reason: String,
    },
    /// The peer broke the protocol, sent garbage, did not prove the token, or fell
    /// silent; said in one line.
    Protocol(String),
    /// Segments missing when the coordinator's wait ended: nothing is measured.
    Missing {
        /// Indices that never authenticated.
        never_connected: Vec<u32>,
        /// Indices connected but not ready (or that left before the start).
        not_ready: Vec<u32>,
        /// The wait that ended.
        wait: Duration,
    },
    /// A member said it failed before the start.
    SegmentFailed {
        /// Its index.
        index: u32,
        /// Its reason.
        reason: String,
    },
    /// The coordinator called the run off before the start.
    Aborted(String),
    /// The coordinator vanished (connection closed, or silent past the deadline).
    CoordinatorGone(String),
    /// An I/O error on this side.
    Io {
        /// What was being done.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// A call out of order (for example `ready` twice).
    Order(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Bind { addr, source } => {
                write!(f, "coordinator: cannot listen on {addr}: {source}")
            }
            Error::Random => f.write_str("coordinator: the system's random generator failed"),
            Error::Unreachable { addr, wait, last } => write!(
                f,
                "the coordinator at {addr} could not be reached within {}: {last}",
                secs(*wait)
            ),
            Error::Refused { reason, .. } => {
                write!(f, "the coordinator refused this segment: {reason}")
            }
            Error::Protocol(m) => f.write_str(m),
            Error::Missing {
                never_connected,
                not_ready,
                wait,
            } => missing(f, never_connected, not_ready, *wait),
            Error::SegmentFailed { index, reason } => write!(f, "segment {index} failed: {reason}"),
            Error::Aborted(r) => write!(f, "the coordinator called the run off: {r}"),
            Error::CoordinatorGone(r) => write!(f, "the coordinator is gone: {r}"),
            Error::Io { what, source } => write!(f, "{what}: {source}"),
            Error::Order(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

/// "segments 2 and 5 never connected within 60s; segment 3 was not ready".
fn missing(
    f: &mut fmt::Formatter<'_>,
    never: &[u32],
    not_ready: &[u32],
    wait: Duration,
) -> fmt::Result {
    let w = secs(wait);
    match (never.is_empty(), not_ready.is_empty()) {
        (false, true) => write!(f, "{} never connected within {w}", segments(never)),
        (true, false) => write!(f, "{} not ready within {w}", segments(not_ready)),
        (false, false) => write!(
            f,
            "{} never connected and {} not ready within {w}",
            segments(never),
            segments(not_ready)
        ),
        (true, true) => write!(f, "segments missing within {w}"),
    }
}

/// "segment 2", "segments 2 and 5", "segments 1, 2 and 5".
pub fn segments(ix: &[u32]) -> String {
    match ix {
        [] => "no segment".into(),
        [one] => format!("segment {one}"),
        [init @ .., last] => {
            let init: Vec<String> = init.iter().map(u32::to_string).collect();
            format!("segments {} and {last}", init.join(", "))
        }
    }
}

/// "60s", "1.5s".
fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_missing_segments_are_named_in_one_line() {
        let e = Error::Missing {
            never_connected: vec![2, 5],
            not_ready: vec![],
            wait: Duration::from_secs(60),
        };
        assert_eq!(e.to_string(), "segments 2 and 5 never connected within 60s");
        let e = Error::Missing {
            never_connected: vec![1],
            not_ready: vec![2, 3, 4],
            wait: Duration::from_millis(1500),
        };
        assert_eq!(
            e.to_string(),
            "segment 1 never connected and segments 2, 3 and 4 not ready within 1.5s"
        );
    }
}
