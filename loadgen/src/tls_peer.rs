//! What the target's TLS said: the negotiated version, cipher suite and ALPN, and its
//! certificate's subject, issuer and expiry; with the run's handshakes, full and
//! resumed, as the report shows them.

use readyloop::tls::rustls::pki_types::CertificateDer;
use readyloop::tls::rustls::CommonState;
use readyloop::tls::{Failure, TlsStats};
use serde::Serialize;

/// A run's TLS: the target's side and the handshakes the run's connections made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TlsRun {
    /// What the preflight handshake found.
    pub peer: TlsPeer,
    /// Sessions were resumed on reconnect (not `--no-resume`).
    pub resume: bool,
    /// Handshakes completed in full.
    pub full: u64,
    /// Handshakes completed by resuming a session.
    pub resumed: u64,
    /// Handshakes failed, by reason (`malformed`, `incompatible`, `peer_alert`,
    /// `bad_certificate`, `eof`, `other`; only those that happened).
    pub failed: std::collections::BTreeMap<&'static str, u64>,
}

impl TlsRun {
    /// The peer, and the workers' counters added up.
    pub fn new(peer: TlsPeer, resume: bool, stats: &TlsStats) -> TlsRun {
        let failed = Failure::ALL
            .iter()
            .filter(|f| stats.failed_for(**f) > 0)
            .map(|f| (f.name(), stats.failed_for(*f)))
            .collect();
        TlsRun {
            peer,
            resume,
            full: stats.full,
            resumed: stats.resumed,
            failed,
        }
    }

    /// The handshakes in a line: `handshakes: 10 full, 990 resumed, 0 failed`.
    pub fn handshakes_line(&self) -> String {
        let failed: u64 = self.failed.values().sum();
        let mut s = format!(
            "{} full, {} resumed, {failed} failed",
            self.full, self.resumed
        );
        for (why, n) in &self.failed {
            s.push_str(&format!(" ({why} {n})"));
        }
        if !self.resume {
            s.push_str("; --no-resume: every connection a full handshake");
        }
        s
    }
}

/// The target's side of a TLS connection, read once (the preflight handshake).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TlsPeer {
    /// `TLSv1.3` or `TLSv1.2`.
    pub version: String,
    /// The cipher suite, as IANA names it (`TLS13_AES_256_GCM_SHA384`).
    pub cipher: String,
    /// The ALPN protocol agreed (`http/1.1`), if any.
    pub alpn: Option<String>,
    /// The key exchange group (`X25519`, `secp256r1`).
    pub kx: String,
    /// The leaf certificate's subject (`CN=localhost`).
    pub subject: String,
    /// Its issuer.
    pub issuer: String,
    /// When it expires, `YYYY-MM-DD HH:MM:SS UTC`.
    pub not_after: String,
    /// Whole days from now until then (negative once expired).
    pub days_left: i64,
    /// The certificate was verified (false with `--insecure`: anyone could be there).
    pub verified: bool,
}

impl TlsPeer {
    /// Read what `state` negotiated and the leaf certificate it holds.
    pub fn of(state: &CommonState, verified: bool) -> TlsPeer {
        let version = state
            .protocol_version()
            .map_or_else(String::new, |v| version_name(u16::from(v)));
        let cipher = state
            .negotiated_cipher_suite()
            .map_or_else(String::new, |s| format!("{:?}", s.suite()));
        let alpn = state
            .alpn_protocol()
            .map(|a| String::from_utf8_lossy(a).into_owned());
        let kx = state
            .negotiated_key_exchange_group()
            .map_or_else(String::new, |g| format!("{:?}", g.name()));
        let mut peer = TlsPeer {
            version,
            cipher,
            alpn,
            kx,
            verified,
            ..TlsPeer::default()
        };
        if let Some(leaf) = state.peer_certificates().and_then(|c| c.first()) {
            peer.read_certificate(leaf);
        }
        peer
    }

    fn read_certificate(&mut self, der: &CertificateDer<'_>) {
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(der.as_ref()) else {
            self.subject = "(a certificate x509-parser cannot read)".into();
            return;
        };
        self.subject = cert.subject().to_string();
        self.issuer = cert.issuer().to_string();
        let end = cert.validity().not_after;
        self.not_after = crate::fmt::fmt_unix_utc(end.timestamp() as f64);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.days_left = (end.timestamp() - now).div_euclid(86_400);
    }

    /// One line for the text report.
    pub fn line(&self) -> String {
        let alpn = self.alpn.as_deref().unwrap_or("none");
        let trust = if self.verified {
            "verified"
        } else {
            "UNVERIFIED (--insecure)"
        };
        format!(
            "{} {} {}, ALPN {alpn}; certificate {} ({trust}), expires {} ({} days)",
            self.version, self.cipher, self.kx, self.subject, self.not_after, self.days_left
        )
    }
}

fn version_name(v: u16) -> String {
    match v {
        0x0304 => "TLSv1.3".into(),
        0x0303 => "TLSv1.2".into(),
        other => format!("TLS 0x{other:04x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_a_certificate_is_read_for_subject_and_expiry() {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "test server");
        params.not_after = rcgen::date_time_ymd(2031, 5, 17);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let mut peer = TlsPeer::default();
        peer.read_certificate(cert.der());
        assert_eq!(peer.subject, "CN=test server");
        assert!(
            peer.not_after.starts_with("2031-05-17"),
            "{}",
            peer.not_after
        );
        assert!(peer.days_left > 365, "{}", peer.days_left);
        peer.verified = false;
        assert!(peer.line().contains("UNVERIFIED"));
    }

    #[test]
    fn test_garbage_is_named_not_fatal() {
        let mut peer = TlsPeer::default();
        peer.read_certificate(&CertificateDer::from(vec![1u8, 2, 3]));
        assert!(peer.subject.contains("cannot read"));
    }
}
