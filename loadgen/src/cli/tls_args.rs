//! The TLS flags of `run`, `search` and `probe`, curl's names where curl has one. They matter
//! only for a target whose address says TLS (`https://`, `tls://`).

use super::target::Target;
use crate::error::Error;
use crate::framing::Framing;
use crate::tls_target::{TlsTarget, TlsWish};
use clap::Args;
use readyloop::tls::Versions;
use std::path::PathBuf;
use std::sync::Arc;

/// How loadgen speaks TLS to an `https://` or `tls://` target.
#[derive(Args, Debug, Clone, Default)]
pub(super) struct TlsArgs {
    /// Trust the CA certificates in FILE (PEM) instead of the system's store
    #[arg(long, value_name = "FILE", help_heading = "TLS")]
    pub(super) cacert: Option<PathBuf>,

    /// Accept any certificate for any name (every report then says UNVERIFIED)
    #[arg(long, short = 'k', help_heading = "TLS")]
    pub(super) insecure: bool,

    /// The server name sent in SNI and checked in the certificate (default: the
    /// target's host; an IP address is checked as an IP)
    #[arg(long, value_name = "NAME", help_heading = "TLS")]
    pub(super) sni: Option<String>,

    /// A client certificate chain (PEM) for servers that ask for one; needs --key
    #[arg(long, value_name = "FILE", requires = "key", help_heading = "TLS")]
    pub(super) cert: Option<PathBuf>,

    /// The private key of --cert (PEM)
    #[arg(long, value_name = "FILE", requires = "cert", help_heading = "TLS")]
    pub(super) key: Option<PathBuf>,

    /// Offer only this TLS version: 1.2 or 1.3 (default: both)
    #[arg(long, value_name = "V", value_parser = Versions::parse, help_heading = "TLS")]
    pub(super) tls_version: Option<Versions>,

    /// A full handshake on every connection: no session resumption on reconnect (with
    /// --per-conn 1, a full handshake per request)
    #[arg(long, help_heading = "TLS")]
    pub(super) no_resume: bool,
}

impl TlsArgs {
    /// The TLS side of a run to `target` over at most `connections`: `None` for plain
    /// TCP (where a TLS flag is refused, exit 2, rather than ignored), else the
    /// configuration, its files read.
    pub(super) fn plan(
        &self,
        target: &Target,
        framing: &Framing,
        connections: usize,
    ) -> Result<Option<Arc<TlsTarget>>, Error> {
        let host = match target {
            Target::Given {
                tls: true, host, ..
            } => host,
            _ => return self.refuse().map(|()| None),
        };
        let wish = TlsWish {
            cacert: self.cacert.clone(),
            insecure: self.insecure,
            sni: self.sni.clone(),
            identity: self.cert.clone().zip(self.key.clone()),
            versions: self.tls_version.unwrap_or_default(),
            resume: !self.no_resume,
            alpn: match framing {
                Framing::Http => vec![b"http/1.1".to_vec()],
                _ => Vec::new(),
            },
            // Two a connection (servers send one or two per handshake), so that every
            // connection reconnecting at once finds one.
            tickets: connections.saturating_mul(2).max(64),
        };
        TlsTarget::new(&wish, host)
            .map(|t| Some(Arc::new(t)))
            .map_err(Error::Usage)
    }

    /// These flags as a command line, for a `probe --procs` child: `--sni` names
    /// `server_name`, the name the parent resolved (the child is given an address).
    pub(super) fn child_flags(&self, server_name: &str) -> Vec<String> {
        let mut v = vec!["--sni".to_string(), server_name.to_string()];
        let path = |p: &PathBuf| p.to_string_lossy().into_owned();
        if let Some(f) = &self.cacert {
            v.extend(["--cacert".to_string(), path(f)]);
        }
        if self.insecure {
            v.push("--insecure".into());
        }
        if let (Some(c), Some(k)) = (&self.cert, &self.key) {
            v.extend(["--cert".into(), path(c), "--key".into(), path(k)]);
        }
        match self.tls_version {
            Some(Versions::Tls12) => v.extend(["--tls-version".into(), "1.2".into()]),
            Some(Versions::Tls13) => v.extend(["--tls-version".into(), "1.3".into()]),
            Some(Versions::Both) | None => {}
        }
        if self.no_resume {
            v.push("--no-resume".into());
        }
        v
    }

    /// For a target without TLS: an error if any TLS flag was given (exit 2), rather
    /// than the flag ignored.
    pub(super) fn refuse(&self) -> Result<(), Error> {
        if self.any() {
            return Err(Error::Usage(
                "--cacert, --insecure, --sni, --cert, --key, --tls-version and --no-resume are for an https:// or tls:// target"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Whether any TLS flag was given (refused for a target without TLS).
    fn any(&self) -> bool {
        self.cacert.is_some()
            || self.insecure
            || self.sni.is_some()
            || self.cert.is_some()
            || self.tls_version.is_some()
            || self.no_resume
    }
}
