//! The TLS side of a probe (`tls://HOST:PORT` or `https://...`): the client
//! configuration every held connection shares ([`ProbeTls`]), and the handshakes
//! counted ([`Handshakes`]), which a `--procs` child sends on its `RESULT` line and the
//! parent adds up.
//!
//! Over TLS a connection counts as established once its handshake is done (the layer
//! tells the held connection only then), so the count held is of connections that
//! could carry data, and the connect time is TCP plus the handshake.

use crate::tls_target::TlsTarget;
use readyloop::tls::{Failure, TlsStats};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// How a probe speaks TLS to its target.
#[derive(Clone, Debug)]
pub(crate) struct ProbeTls {
    /// The configuration (one session cache for every connection) and the server name.
    pub target: Arc<TlsTarget>,
    /// The scheme typed, `tls` or `https`: a `--procs` child is given the same, and
    /// so offers the same ALPN.
    pub scheme: &'static str,
    /// The TLS flags for a `--procs` child: those typed, with `--sni` naming the server
    /// name (the child is given the address, not the host name).
    pub child_flags: Vec<String>,
}

impl ProbeTls {
    /// `verified`, or `UNVERIFIED` with `--insecure`, as the run's report says it.
    pub fn verdict(&self) -> &'static str {
        if self.target.verified {
            "verified"
        } else {
            "UNVERIFIED"
        }
    }
}

/// The handshakes of a probe: done in full, resumed, failed by reason.
///
/// In the report's JSON (`tls.handshakes`) and on a child's `RESULT` line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Handshakes {
    /// Completed in full.
    pub full: u64,
    /// Completed by resuming an earlier session.
    pub resumed: u64,
    /// Failed, every reason.
    pub failed: u64,
    /// Failed, by reason (`malformed`, `incompatible`, `peer_alert`, `bad_certificate`,
    /// `eof`, `timeout`, `other`): every reason, 0 included.
    pub failed_by: BTreeMap<String, u64>,
}

impl Handshakes {
    /// The counts of one reactor's TLS layer.
    pub fn of(s: &TlsStats) -> Handshakes {
        Handshakes {
            full: s.full,
            resumed: s.resumed,
            failed: s.failed_total(),
            failed_by: Failure::ALL
                .iter()
                .map(|f| (f.name().to_string(), s.failed_for(*f)))
                .collect(),
        }
    }

    /// Add another process's counts.
    pub fn add(&mut self, o: &Handshakes) {
        self.full += o.full;
        self.resumed += o.resumed;
        self.failed += o.failed;
        for (k, v) in &o.failed_by {
            *self.failed_by.entry(k.clone()).or_insert(0) += v;
        }
    }

    /// `N full, N resumed, N failed (eof 3, timeout 1)`: the reasons with a count only.
    pub fn line(&self) -> String {
        use crate::fmt::group;
        let why: Vec<String> = self
            .failed_by
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k} {}", group(*n)))
            .collect();
        let why = if why.is_empty() {
            String::new()
        } else {
            format!(" ({})", why.join(", "))
        };
        format!(
            "{} full, {} resumed, {} failed{why}",
            group(self.full),
            group(self.resumed),
            group(self.failed)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn test_counts_of_a_layer_add_up_and_name_their_reasons() {
        let mut s = TlsStats::default();
        s.record_done(false, Duration::from_millis(1));
        s.record_done(true, Duration::from_millis(1));
        s.record_failed(Failure::Eof);
        let one = Handshakes::of(&s);
        assert_eq!((one.full, one.resumed, one.failed), (1, 1, 1));
        assert_eq!(
            one.failed_by.len(),
            Failure::ALL.len(),
            "every reason, 0 too"
        );
        let mut two = one.clone();
        two.add(&one);
        assert_eq!((two.full, two.resumed, two.failed), (2, 2, 2));
        assert_eq!(two.failed_by["eof"], 2);
        assert_eq!(two.line(), "2 full, 2 resumed, 2 failed (eof 2)");
        assert_eq!(
            Handshakes::of(&TlsStats::default()).line(),
            "0 full, 0 resumed, 0 failed"
        );
    }
}
