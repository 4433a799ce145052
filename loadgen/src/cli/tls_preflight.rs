//! The preflight handshake: one TLS connection to the target before anything starts,
//! so that a certificate that does not verify is one line naming why (unknown issuer,
//! expired, wrong name) and exit 1, not a run of failed connections; and what was
//! negotiated, with the certificate, goes in the report.

use crate::error::Error;
use crate::tls_peer::TlsPeer;
use crate::tls_target::TlsTarget;
use readyloop::tls::rustls::{CertificateError, ClientConnection, Error as TlsError};
use readyloop::tls::{describe, rustls};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// Handshake with the first of `addrs` that takes a connection, as the run will, within
/// `timeout` each, and close with a close_notify. The session is not kept: the run's
/// first connections pay a full handshake, as they would without this.
pub(super) fn tls_preflight(
    addrs: &[SocketAddr],
    t: &TlsTarget,
    timeout: Duration,
) -> Result<TlsPeer, Error> {
    let mut last = None;
    for &addr in addrs {
        match handshake(addr, t, timeout) {
            Err(Error::Target(e)) if e.contains(REFUSED) => last = Some(Error::Target(e)),
            other => return other,
        }
    }
    Err(last.unwrap_or_else(|| Error::Target("no address to connect to".into())))
}

/// What a connect that nothing answered says, so the next address is tried.
const REFUSED: &str = "cannot connect";

/// One handshake with `addr`.
fn handshake(addr: SocketAddr, t: &TlsTarget, timeout: Duration) -> Result<TlsPeer, Error> {
    let mut cfg = (*t.config).clone();
    cfg.resumption = rustls::client::Resumption::disabled();
    let what = |e: &dyn std::fmt::Display| {
        Error::Target(format!("TLS to {addr} ({}): {e}", t.server_name.to_str()))
    };
    let mut conn =
        ClientConnection::new(Arc::new(cfg), t.server_name.clone()).map_err(|e| what(&e))?;
    let timeout = timeout.max(Duration::from_millis(1));
    let mut sock = TcpStream::connect_timeout(&addr, timeout).map_err(|e| {
        Error::Target(format!(
            "{REFUSED} to {addr}: {e} (nothing listening there?)"
        ))
    })?;
    sock.set_read_timeout(Some(timeout)).map_err(|e| what(&e))?;
    sock.set_write_timeout(Some(timeout))
        .map_err(|e| what(&e))?;
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut sock) {
            return Err(what(&cause(&e, t)));
        }
    }
    let peer = TlsPeer::of(&conn, t.verified);
    conn.send_close_notify();
    let _ = conn.write_tls(&mut sock);
    let _ = sock.flush();
    // Read what the server may still say (a session ticket), so our close is a FIN,
    // not a reset that discards our close_notify.
    let _ = sock.set_read_timeout(Some(Duration::from_millis(50)));
    let _ = sock.read(&mut [0u8; 4096]);
    Ok(peer)
}

/// The line for a failed handshake: verification failures named as a person says
/// them, with the flag that changes the verdict.
fn cause(e: &std::io::Error, t: &TlsTarget) -> String {
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<TlsError>());
    match tls {
        Some(err @ TlsError::InvalidCertificate(c)) => format!("{}{}", describe(err), hint(c, t)),
        Some(err) => describe(err),
        None => e.to_string(),
    }
}

/// The flag that changes a verification verdict, as the line's tail.
fn hint(c: &CertificateError, t: &TlsTarget) -> &'static str {
    if !t.verified {
        return "";
    }
    match c {
        CertificateError::UnknownIssuer => {
            " (trust its CA with --cacert FILE, or --insecure to not check)"
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            " (the name checked is the target's host, or --sni NAME; --insecure to not check)"
        }
        _ => " (--insecure to not check)",
    }
}
