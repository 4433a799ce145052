//! rustls configurations from what an operator has: PEM files, a choice of versions,
//! ALPN, the system's roots. Every failure is one line naming the file and the cause.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::crypto::{ring, verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A configuration that could not be built: one line, naming the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfigError(pub String);

impl fmt::Display for TlsConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsConfigError {}

/// Which TLS versions to offer or accept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Versions {
    /// TLS 1.2 and 1.3 (the default).
    #[default]
    Both,
    /// TLS 1.2 only.
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

impl Versions {
    /// `1.2`, `1.3`, or `both`.
    pub fn parse(s: &str) -> Result<Versions, String> {
        match s {
            "1.2" => Ok(Versions::Tls12),
            "1.3" => Ok(Versions::Tls13),
            "both" | "1.2+" => Ok(Versions::Both),
            _ => Err(format!("unknown TLS version '{s}' (use 1.2 or 1.3)")),
        }
    }

    fn list(self) -> &'static [&'static rustls::SupportedProtocolVersion] {
        static TLS12: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS12];
        static TLS13: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
        match self {
            Versions::Both => rustls::DEFAULT_VERSIONS,
            Versions::Tls12 => &TLS12,
            Versions::Tls13 => &TLS13,
        }
    }
}

/// ring's provider. rustls 0.23.48 deprecates it for lacking post-quantum key exchange
/// (X25519MLKEM768, which aws-lc-rs has): ring builds with a C compiler alone, and
/// Debian's OpenSSL 3.0 (nginx, curl, wrk in the tests and benchmarks) offers none
/// either, so both sides of every comparison here exchange keys the same way.
///
/// Key exchange X25519 first, then P-256: ring's default list starts with P-384, which a
/// client then offers its key share for and every server takes (measured: 60% of the
/// server's handshake time in P-384 arithmetic, 2.5x the handshake of X25519 peers).
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    use ring::kx_group::{SECP256R1, SECP384R1, X25519};
    let mut p = ring::default_provider();
    p.kx_groups = vec![X25519, SECP256R1, SECP384R1];
    Arc::new(p)
}

/// What a TLS listener needs.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// The certificate chain, PEM, leaf first.
    pub cert: PathBuf,
    /// Its private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// ALPN protocols offered, in preference order (`http/1.1` for HTTP; empty: none).
    pub alpn: Vec<Vec<u8>>,
    /// Versions accepted.
    pub versions: Versions,
}

impl ServerOptions {
    /// The certificate in `cert` and key in `key`, TLS 1.2 and 1.3, no ALPN.
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> ServerOptions {
        ServerOptions {
            cert: cert.into(),
            key: key.into(),
            alpn: Vec::new(),
            versions: Versions::Both,
        }
    }
}

/// The certificates in a PEM file (at least one).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let err = |e: &dyn fmt::Display| TlsConfigError(format!("{}: {e}", path.display()));
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(&e))?;
    if certs.is_empty() {
        return Err(err(
            &"no certificate in it (a PEM file with BEGIN CERTIFICATE)",
        ));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| TlsConfigError(format!("{}: {e}", path.display())))
}

/// A server configuration: the chain and key read and checked against each other,
/// session tickets on (stateless resumption, TLS 1.2 and 1.3) beside the default
/// session cache, early data off.
pub fn server_config(o: &ServerOptions) -> Result<ServerConfig, TlsConfigError> {
    let certs = load_certs(&o.cert)?;
    let key = load_key(&o.key)?;
    let mut cfg = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(o.versions.list())
        .map_err(|e| TlsConfigError(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            TlsConfigError(format!("{} and {}: {e}", o.cert.display(), o.key.display()))
        })?;
    cfg.alpn_protocols = o.alpn.clone();
    cfg.ticketer = ring::Ticketer::new().map_err(|e| TlsConfigError(e.to_string()))?;
    Ok(cfg)
}

/// Where a client's trusted roots come from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Roots {
    /// The system's certificate store (`/etc/ssl/certs`, or `SSL_CERT_FILE`).
    #[default]
    System,
    /// The certificates in a PEM file (`--cacert`).
    File(PathBuf),
    /// None: every certificate is accepted (`--insecure`). Signatures are still
    /// checked, so the handshake is real; who is at the other end is not.
    Insecure,
}

/// What an outbound TLS connection needs besides the server's name.
#[derive(Clone, Debug, Default)]
pub struct ClientOptions {
    /// Trusted roots.
    pub roots: Roots,
    /// A client certificate chain and its key (PEM), for servers that ask for one.
    pub identity: Option<(PathBuf, PathBuf)>,
    /// Versions offered.
    pub versions: Versions,
    /// ALPN protocols offered, in preference order.
    pub alpn: Vec<Vec<u8>>,
    /// Resume earlier sessions on reconnect (tickets or IDs, as the server offers).
    /// Off: every connection pays a full handshake.
    pub resume: bool,
    /// TLS 1.3 tickets kept per server for resumption: as many as connections may
    /// reconnect at once (each ticket is used once). 0: 256.
    pub tickets: usize,
}

/// A client configuration from `o`.
pub fn client_config(o: &ClientOptions) -> Result<ClientConfig, TlsConfigError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(o.versions.list())
        .map_err(|e| TlsConfigError(e.to_string()))?;
    let builder = match &o.roots {
        Roots::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider()))),
        roots => builder.with_root_certificates(root_store(roots)?),
    };
    let mut cfg = match &o.identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(load_certs(cert)?, load_key(key)?)
            .map_err(|e| {
                TlsConfigError(format!("{} and {}: {e}", cert.display(), key.display()))
            })?,
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = o.alpn.clone();
    cfg.resumption = if o.resume {
        let n = if o.tickets == 0 { 256 } else { o.tickets };
        Resumption::store(Arc::new(super::tickets::Tickets::new(n)))
    } else {
        Resumption::disabled()
    };
    Ok(cfg)
}

fn root_store(roots: &Roots) -> Result<RootCertStore, TlsConfigError> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::File(path) => {
            for c in load_certs(path)? {
                store
                    .add(c)
                    .map_err(|e| TlsConfigError(format!("{}: {e}", path.display())))?;
            }
        }
        Roots::System => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(TlsConfigError(
                    "no trusted root certificates found on this system (install ca-certificates, or give --cacert FILE)"
                        .into(),
                ));
            }
        }
        Roots::Insecure => {}
    }
    Ok(store)
}

/// `--insecure`: any certificate for any name, signatures still checked.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_key_exchange_prefers_x25519_then_p256() {
        // ring's default list starts with P-384, which every server then takes.
        let names: Vec<_> = provider().kx_groups.iter().map(|g| g.name()).collect();
        assert_eq!(
            names,
            [
                rustls::NamedGroup::X25519,
                rustls::NamedGroup::secp256r1,
                rustls::NamedGroup::secp384r1
            ]
        );
    }
}
