//! Where a run's load goes: a server named by TARGET, or the embedded server.
//!
//! TARGET is a URL (`http://HOST:PORT/PATH`, for `--proto http` only) or `HOST:PORT`;
//! none means the embedded server, which must speak the chosen framing. All of it is
//! resolved before anything starts, so that a bad address or a protocol the embedded
//! server does not speak is refused with exit 2, not found out mid-run.

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
        /// Its address (a host name resolved to its first address).
        addr: SocketAddr,
        /// TARGET as typed: what the report calls it.
        label: String,
        /// What an HTTP request to it says in `Host`: the URL's authority, or
        /// HOST:PORT as typed.
        host_header: String,
        /// The request target of an HTTP request: the URL's path, else `/`.
        path: String,
    },
    /// No TARGET: the embedded server, started by the run, speaking `proto`.
    Embedded {
        /// The readyloop protocol that answers the run's framing.
        proto: ProtoKind,
    },
}

impl Target {
    /// Resolve TARGET (`None`: the embedded server) for `framing`; `proto` is the
    /// `--proto` flag as typed, for the message of a URL given to another protocol.
    pub(super) fn resolve(
        target: Option<&str>,
        proto: &str,
        framing: &Framing,
    ) -> Result<Target, Error> {
        match target {
            // Anything with a scheme is a URL: the parser names a wrong scheme (any case)
            // itself, and an IPv6 host keeps its brackets.
            Some(t) if t.contains("://") => {
                let url = request::parse_url(t).map_err(Error::Usage)?;
                if *framing != Framing::Http {
                    return Err(Error::Usage(format!(
                        "{t}: a URL is for --proto http; give HOST:PORT for --proto {proto}"
                    )));
                }
                let addr = url.socket_addr().map_err(Error::Usage)?;
                Ok(Target::Given {
                    addr,
                    label: t.to_string(),
                    host_header: url.host_header(),
                    path: url.path.clone(),
                })
            }
            Some(t) => {
                let addr = request::parse_target(t).map_err(Error::Usage)?;
                Ok(Target::Given {
                    addr,
                    label: t.to_string(),
                    host_header: t.to_string(),
                    path: "/".to_string(),
                })
            }
            None => Ok(Target::Embedded {
                proto: server_proto(framing)?,
            }),
        }
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
