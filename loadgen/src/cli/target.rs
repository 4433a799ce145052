//! Where a run's load goes: a server named by TARGET, or the embedded server.
//!
//! TARGET is a URL (`http://HOST:PORT/PATH` or `https://...`, for `--proto http` only),
//! `HOST:PORT`, or `tls://HOST:PORT` (any framing over TLS: the transport is part of the
//! address); none means the embedded server, which must speak the chosen framing. All of it is
//! resolved before anything starts, so that a bad address or a protocol the embedded
//! server does not speak is refused with exit 2, not found out mid-run. A host name
//! resolves to all its addresses (the connections spread over them), or, with a
//! `--connect-to` rule for it, to the rule's.

use super::connect_to::ConnectTo;
use crate::addrs::Addrs;
use crate::error::Error;
use crate::framing::Framing;
use crate::request;
use readyloop::server::ProtoKind;
use std::net::SocketAddr;

/// Where the load goes, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    /// A server named on the command line.
    Given {
        /// Its addresses: every one its host resolves to, or its `--connect-to`'s.
        addrs: Addrs,
        /// The host as named (IPv6 without brackets) and the port: what the
        /// `--connect-to` rules match, and the server name TLS would send.
        host: String,
        port: u16,
        /// The `--connect-to` value that chose `addrs`, as typed.
        via: Option<String>,
        /// TARGET as typed: what the report calls it.
        label: String,
        /// What an HTTP request to it says in `Host`: the URL's authority, or
        /// HOST:PORT as typed.
        host_header: String,
        /// The request target of an HTTP request: the URL's path, else `/`.
        path: String,
        /// The transport is TLS: an `https://` URL, or `tls://HOST:PORT`.
        tls: bool,
    },
    /// No TARGET: the embedded server, started by the run, speaking `proto`.
    Embedded {
        /// The readyloop protocol that answers the run's framing.
        proto: ProtoKind,
    },
}

impl Target {
    /// Resolve TARGET (`None`: the embedded server) for `framing`, through the
    /// `--connect-to` rules `to`; `proto` is the `--proto` flag as typed, for the
    /// message of a URL given to another protocol.
    pub(super) fn resolve(
        target: Option<&str>,
        proto: &str,
        framing: &Framing,
        to: &ConnectTo,
    ) -> Result<Target, Error> {
        let Some(t) = target else {
            if !to.is_empty() {
                return Err(Error::Usage(
                    "--connect-to is for a TARGET; without one the embedded server is measured"
                        .into(),
                ));
            }
            return Ok(Target::Embedded {
                proto: server_proto(framing)?,
            });
        };
        // The transport is part of the address: tls://HOST:PORT is any framing over TLS.
        let (tls_prefix, bare) = match t.get(..6) {
            Some(p) if p.eq_ignore_ascii_case("tls://") => (true, &t[6..]),
            _ => (false, t),
        };
        // Anything else with a scheme is a URL: the parser names a wrong scheme (any
        // case) itself, and an IPv6 host keeps its brackets.
        let (host, port, host_header, path, tls) = if tls_prefix {
            let (host, port) = request::split_target(bare).map_err(Error::Usage)?;
            (
                host.to_string(),
                port,
                bare.to_string(),
                "/".to_string(),
                true,
            )
        } else if t.contains("://") {
            let url = request::parse_url(t).map_err(Error::Usage)?;
            if *framing != Framing::Http {
                return Err(Error::Usage(format!(
                    "{t}: a URL is for --proto http; give HOST:PORT for --proto {proto}"
                )));
            }
            (
                url.host.clone(),
                url.port,
                url.host_header(),
                url.path,
                url.tls,
            )
        } else {
            let (host, port) = request::split_target(t).map_err(Error::Usage)?;
            (
                host.to_string(),
                port,
                t.to_string(),
                "/".to_string(),
                false,
            )
        };
        to.check_used(&host, port)?;
        let route = to.route(&host, port).map_err(Error::Usage)?;
        Ok(Target::Given {
            addrs: route.addrs,
            host,
            port,
            via: route.via,
            label: t.to_string(),
            host_header,
            path,
            tls,
        })
    }
}

/// The embedded server: which readyloop protocol answers a framing.
fn server_proto(f: &Framing) -> Result<ProtoKind, Error> {
    match f {
        Framing::Http => Ok(ProtoKind::Http),
        Framing::Echo | Framing::Line | Framing::Fixed(_) => Ok(ProtoKind::Echo),
        Framing::Resp => Err(Error::Usage(
            "--proto resp needs a TARGET (e.g. a redis-server at 127.0.0.1:6379); the embedded server does not speak RESP"
                .into(),
        )),
    }
}

/// How the report names the embedded server listening on `addr`: as a URL for HTTP,
/// as its address otherwise (as a TARGET for the same load would be typed).
pub(super) fn embedded_label(framing: &Framing, addr: SocketAddr) -> String {
    match framing {
        Framing::Http => format!("http://{addr}/"),
        _ => addr.to_string(),
    }
}
