//! What the TLS layer counts, for every connection of a reactor: handshakes full and
//! resumed, their time, and the failures by reason.

use rustls::{CertificateError, Error};
use std::time::Duration;

/// Why a handshake failed: the reasons an operator acts on differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Not TLS, or TLS broken: garbage instead of a ClientHello, a record that does not
    /// decode or decrypt.
    Malformed,
    /// Nothing in common: no shared version, cipher suite, group or ALPN protocol.
    Incompatible,
    /// The peer sent an alert: it refused our certificate, or something else of ours.
    PeerAlert,
    /// The peer's certificate was refused (or missing where one is required).
    BadCertificate,
    /// The peer closed the connection before the handshake finished.
    Eof,
    /// The handshake did not finish in time (the header clock, or the idle one).
    Timeout,
    /// Anything else.
    Other,
}

impl Failure {
    /// Every reason, in the order of [`TlsStats::failed`].
    pub const ALL: [Failure; 7] = [
        Failure::Malformed,
        Failure::Incompatible,
        Failure::PeerAlert,
        Failure::BadCertificate,
        Failure::Eof,
        Failure::Timeout,
        Failure::Other,
    ];

    /// The reason a rustls error stands for.
    pub fn of(e: &Error) -> Failure {
        match e {
            Error::InvalidMessage(_)
            | Error::InappropriateMessage { .. }
            | Error::InappropriateHandshakeMessage { .. }
            | Error::DecryptError
            | Error::PeerMisbehaved(_) => Failure::Malformed,
            Error::PeerIncompatible(_) | Error::NoApplicationProtocol => Failure::Incompatible,
            Error::AlertReceived(_) => Failure::PeerAlert,
            Error::InvalidCertificate(_)
            | Error::NoCertificatesPresented
            | Error::UnsupportedNameType
            | Error::InvalidCertRevocationList(_) => Failure::BadCertificate,
            _ => Failure::Other,
        }
    }

    /// Its name in stats lines and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Failure::Malformed => "malformed",
            Failure::Incompatible => "incompatible",
            Failure::PeerAlert => "peer_alert",
            Failure::BadCertificate => "bad_certificate",
            Failure::Eof => "eof",
            Failure::Timeout => "timeout",
            Failure::Other => "other",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One line naming a verification failure the way a person reads it: `unknown issuer`,
/// `expired`, `wrong name` and the others rustls tells apart.
pub fn describe(e: &Error) -> String {
    match e {
        Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => "certificate verify failed: unknown issuer".into(),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "certificate verify failed: expired".into()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "certificate verify failed: not valid yet".into()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "certificate verify failed: wrong name (not valid for the server name)".into()
            }
            CertificateError::Revoked => "certificate verify failed: revoked".into(),
            CertificateError::BadSignature => "certificate verify failed: bad signature".into(),
            CertificateError::Other(o) if format!("{o:?}").contains("CaUsedAsEndEntity") => {
                "certificate verify failed: a CA certificate (CA:TRUE) serves as the server's own"
                    .into()
            }
            other => format!("certificate verify failed: {other:?}"),
        },
        other => other.to_string(),
    }
}

/// The TLS counters of one reactor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TlsStats {
    /// Handshakes completed in full.
    pub full: u64,
    /// Handshakes completed by resuming an earlier session.
    pub resumed: u64,
    /// Handshakes failed, by [`Failure`] (index: its place in [`Failure::ALL`]).
    pub failed: [u64; 7],
    /// Time of the completed handshakes, in microseconds, summed: from the connection's
    /// start (accepted, or connected) to the handshake's end.
    pub handshake_us: u64,
    /// The longest of them, in microseconds.
    pub handshake_max_us: u64,
    /// Connections closed for a bad record after their handshake (a record that does
    /// not decrypt, a protocol violation): answered with an alert, like a failed
    /// handshake.
    pub broken: u64,
}

impl TlsStats {
    /// Count a completed handshake that took `took`.
    pub fn record_done(&mut self, resumed: bool, took: Duration) {
        if resumed {
            self.resumed += 1;
        } else {
            self.full += 1;
        }
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.handshake_us = self.handshake_us.saturating_add(us);
        self.handshake_max_us = self.handshake_max_us.max(us);
    }

    /// Count a failed handshake.
    pub fn record_failed(&mut self, why: Failure) {
        self.failed[why.index()] += 1;
    }

    /// Handshakes failed for `why`.
    pub fn failed_for(&self, why: Failure) -> u64 {
        self.failed[why.index()]
    }

    /// Handshakes failed, all reasons.
    pub fn failed_total(&self) -> u64 {
        self.failed.iter().sum()
    }

    /// Mean time of a completed handshake; `None` before the first.
    pub fn mean(&self) -> Option<Duration> {
        let n = self.full + self.resumed;
        (n > 0).then(|| Duration::from_micros(self.handshake_us / n))
    }

    /// Add another reactor's counters (several workers).
    pub fn add(&mut self, o: &TlsStats) {
        self.full += o.full;
        self.resumed += o.resumed;
        for (a, b) in self.failed.iter_mut().zip(o.failed) {
            *a += b;
        }
        self.handshake_us = self.handshake_us.saturating_add(o.handshake_us);
        self.handshake_max_us = self.handshake_max_us.max(o.handshake_max_us);
        self.broken += o.broken;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::{AlertDescription, InvalidMessage, PeerIncompatible};

    #[test]
    fn test_errors_map_to_the_reasons_an_operator_tells_apart() {
        let cases = [
            (
                Error::InvalidMessage(InvalidMessage::InvalidContentType),
                Failure::Malformed,
            ),
            (
                Error::PeerIncompatible(PeerIncompatible::NoCipherSuitesInCommon),
                Failure::Incompatible,
            ),
            (
                Error::AlertReceived(AlertDescription::UnknownCA),
                Failure::PeerAlert,
            ),
            (
                Error::InvalidCertificate(CertificateError::Expired),
                Failure::BadCertificate,
            ),
            (Error::NoCertificatesPresented, Failure::BadCertificate),
            (Error::HandshakeNotComplete, Failure::Other),
        ];
        for (e, want) in cases {
            assert_eq!(Failure::of(&e), want, "{e:?}");
        }
    }

    #[test]
    fn test_verification_failures_are_named() {
        let d = |c| describe(&Error::InvalidCertificate(c));
        assert!(d(CertificateError::UnknownIssuer).ends_with("unknown issuer"));
        assert!(d(CertificateError::Expired).ends_with("expired"));
        assert!(d(CertificateError::NotValidForName).contains("wrong name"));
    }

    #[test]
    fn test_counts_and_mean() {
        let mut s = TlsStats::default();
        assert_eq!(s.mean(), None);
        s.record_done(false, Duration::from_micros(300));
        s.record_done(true, Duration::from_micros(100));
        s.record_failed(Failure::Eof);
        let mut t = TlsStats::default();
        t.add(&s);
        t.add(&s);
        assert_eq!((t.full, t.resumed, t.failed_for(Failure::Eof)), (2, 2, 2));
        assert_eq!(t.failed_total(), 2);
        assert_eq!(t.mean(), Some(Duration::from_micros(200)));
        assert_eq!(t.handshake_max_us, 300);
    }
}
