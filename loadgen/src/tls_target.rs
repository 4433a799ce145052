//! How a run reaches a TLS target: the client configuration every connection shares
//! (one session cache, so reconnects resume), the name it sends and checks, and
//! whether the certificate is verified at all.

use readyloop::tls::rustls::pki_types::ServerName;
use readyloop::tls::rustls::ClientConfig;
use readyloop::tls::{client_config, ClientOptions, Roots, Versions};
use std::path::PathBuf;
use std::sync::Arc;

/// The TLS side of a run's aim.
#[derive(Clone, Debug)]
pub struct TlsTarget {
    /// Shared by every connection of every worker (rustls's session cache is in it).
    pub config: Arc<ClientConfig>,
    /// SNI and the name the certificate must hold.
    pub server_name: ServerName<'static>,
    /// False with `--insecure`.
    pub verified: bool,
    /// Sessions are resumed on reconnect (false with `--no-resume`).
    pub resume: bool,
}

/// What the flags ask of TLS, before files are read.
#[derive(Clone, Debug, Default)]
pub struct TlsWish {
    /// `--cacert`.
    pub cacert: Option<PathBuf>,
    /// `--insecure`.
    pub insecure: bool,
    /// `--sni`, else the target's host.
    pub sni: Option<String>,
    /// `--cert` and `--key`.
    pub identity: Option<(PathBuf, PathBuf)>,
    /// `--tls-version`.
    pub versions: Versions,
    /// Not `--no-resume`.
    pub resume: bool,
    /// ALPN offered (`http/1.1` for HTTP).
    pub alpn: Vec<Vec<u8>>,
    /// TLS 1.3 tickets to keep for resumption: enough for every connection of the run
    /// to reconnect at once (0: the library's default).
    pub tickets: usize,
}

impl TlsTarget {
    /// Read the files and build the configuration for `host` (the target's host, the
    /// name SNI carries unless `--sni` says otherwise). One line on any error.
    pub fn new(w: &TlsWish, host: &str) -> Result<TlsTarget, String> {
        let roots = match (&w.cacert, w.insecure) {
            (_, true) => Roots::Insecure,
            (Some(f), false) => Roots::File(f.clone()),
            (None, false) => Roots::System,
        };
        let opts = ClientOptions {
            roots,
            identity: w.identity.clone(),
            versions: w.versions,
            alpn: w.alpn.clone(),
            resume: w.resume,
            tickets: w.tickets,
        };
        let config = client_config(&opts).map_err(|e| e.0)?;
        let name = w.sni.as_deref().unwrap_or(host);
        // A bracketed IPv6 host is an IP address for the certificate's check.
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        let server_name = ServerName::try_from(bare.to_string())
            .map_err(|e| format!("{name:?} is not a server name for TLS: {e}"))?;
        Ok(TlsTarget {
            config: Arc::new(config),
            server_name,
            verified: !w.insecure,
            resume: w.resume,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_names_and_addresses_make_server_names() {
        let w = TlsWish {
            insecure: true,
            resume: true,
            ..TlsWish::default()
        };
        let t = TlsTarget::new(&w, "example.org").unwrap();
        assert_eq!(t.server_name.to_str(), "example.org");
        assert!(!t.verified);
        let t = TlsTarget::new(&w, "[::1]").unwrap();
        assert!(matches!(t.server_name, ServerName::IpAddress(_)));
        let sni = TlsWish {
            sni: Some("other.test".into()),
            ..w.clone()
        };
        assert_eq!(
            TlsTarget::new(&sni, "127.0.0.1")
                .unwrap()
                .server_name
                .to_str(),
            "other.test"
        );
        assert!(TlsTarget::new(&w, "bad name!").is_err());
    }

    #[test]
    fn test_a_missing_ca_file_is_one_line_naming_it() {
        let w = TlsWish {
            cacert: Some("/nonexistent/ca.pem".into()),
            ..TlsWish::default()
        };
        let e = TlsTarget::new(&w, "localhost").unwrap_err();
        assert!(
            e.contains("/nonexistent/ca.pem") && !e.contains('\n'),
            "{e}"
        );
    }
}
