//! What a run sends on every connection, each time: the request bytes.
//!
//! `--request` or `--request-file` give the bytes exactly; otherwise they are built for
//! the framing: an HTTP request from `--method`, `-H`, `--body` and the target's host
//! and path, or a payload of `--size` bytes for echo, line and fixed. RESP has no
//! default request. Every part is checked before anything starts (exit 2).
//!
//! One case cannot be finished then: an HTTP request to the embedded server, whose
//! `Host` header is the server's address, known only once it listens. That request is
//! kept as its parts, checked now by building it once with a stand-in address, and
//! built for real by [`Request::into_bytes`] when the address is known.

use super::args::RunArgs;
use super::target::Target;
use super::targets_file::MixParts;
use crate::error::Error;
use crate::framing::Framing;
use crate::request;
use std::net::SocketAddr;
use std::sync::Arc;

/// A request built: its bytes (empty with a mix), or the mix.
type Built = (Vec<u8>, Option<Arc<crate::mix::Mix>>);

/// The request of a run, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Request {
    /// The exact bytes (never empty).
    Bytes(Vec<u8>),
    /// An HTTP request to the embedded server: everything but its `Host` header.
    HttpToEmbedded(HttpParts),
    /// `--targets`: a mix of HTTP requests, built once the address is known.
    Mix(MixParts),
}

/// An HTTP request without its `Host` header: the flags that build it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HttpParts {
    /// `--method`.
    pub(super) method: String,
    /// The request target (always `/` for the embedded server).
    pub(super) path: String,
    /// `-H`, in order.
    pub(super) headers: Vec<String>,
    /// `--body`, unescaped.
    pub(super) body: Vec<u8>,
}

impl HttpParts {
    /// The request with `Host: host_header` (unless `-H` gives one).
    fn build(&self, host_header: &str) -> Result<Vec<u8>, Error> {
        request::http_request(
            &self.method,
            host_header,
            &self.path,
            &self.headers,
            &self.body,
        )
        .map_err(Error::Usage)
    }
}

/// Stands in for the embedded server's address while its request is checked. The
/// `Host` value is the only part of the request that depends on the address, and an
/// address never holds a character `http_request` refuses, so the check is the same.
const EMBEDDED_STAND_IN: &str = "127.0.0.1:0";

impl Request {
    /// The request `a` asks for, for `framing` to `target`.
    pub(super) fn from_args(
        a: &RunArgs,
        framing: &Framing,
        target: &Target,
        mix: Option<MixParts>,
    ) -> Result<Request, Error> {
        if let Some(m) = mix {
            // clap refuses --request, --body, --method and --size beside --targets, and
            // the plan anything but HTTP.
            m.check()?;
            return Ok(Request::Mix(m));
        }
        if a.req.request.is_some() || a.req.request_file.is_some() {
            // These build a request; with the exact bytes given they would be dropped.
            let dropped = [
                (a.req.body.is_some(), "--body"),
                (!a.req.headers.is_empty(), "--header"),
                (a.req.size.is_some(), "--size"),
            ];
            if let Some((_, flag)) = dropped.iter().find(|(given, _)| *given) {
                let exact = if a.req.request.is_some() {
                    "--request"
                } else {
                    "--request-file"
                };
                return Err(Error::Usage(format!(
                    "{flag} builds a request, but {exact} gives the exact bytes: put it in them"
                )));
            }
        }
        let request = if let Some(r) = &a.req.request {
            Request::Bytes(
                request::unescape(r).map_err(|e| Error::Usage(format!("--request: {e}")))?,
            )
        } else if let Some(p) = &a.req.request_file {
            Request::Bytes(
                std::fs::read(p)
                    .map_err(|e| Error::io(format!("--request-file {}", p.display()), e))?,
            )
        } else {
            built(a, framing, target)?
        };
        if let Request::Bytes(b) = &request {
            if b.is_empty() {
                return Err(Error::Usage("the request is empty".into()));
            }
            // A request holding several (a pipeline) must split into whole requests,
            // one reply expected for each: refused now, not miscounted later.
            if a.req.request.is_some() || a.req.request_file.is_some() {
                let flag = if a.req.request.is_some() {
                    "--request"
                } else {
                    "--request-file"
                };
                let k = request::pipeline(framing, b)
                    .map_err(|e| Error::Usage(format!("{flag}: {e}")))?
                    .len();
                // The framer expects at most MAX_PIPELINE replies at once.
                let max = crate::framing::MAX_PIPELINE;
                if k * a.req.pipeline > max {
                    return Err(Error::Usage(format!(
                        "{flag} holds {k} requests; with --pipeline {} that is {} in flight, \
                         at most {max} can be",
                        a.req.pipeline,
                        k * a.req.pipeline
                    )));
                }
                if let Some(n) = a.requests {
                    if n % k as u64 != 0 {
                        return Err(Error::Usage(format!(
                            "-n {n}: {flag} holds {k} requests, sent together: -n must be a multiple of {k}"
                        )));
                    }
                }
            }
        }
        Ok(request)
    }

    /// Whether it is an HTTP HEAD request, whose replies have no body whatever their
    /// headers say (the framing must know).
    pub(super) fn is_head(&self, framing: &Framing) -> bool {
        let starts_head = |b: &[u8]| b.starts_with(b"HEAD ");
        *framing == Framing::Http
            && match self {
                Request::Bytes(b) => starts_head(b),
                // The address does not change the request line.
                Request::HttpToEmbedded(p) => {
                    p.build(EMBEDDED_STAND_IN).is_ok_and(|b| starts_head(&b))
                }
                // Each entry knows its own.
                Request::Mix(_) => false,
            }
    }

    /// What to send to `target` at `addr` (the embedded server's address once it
    /// listens; a given target's is already in the bytes): the one request's bytes, or
    /// none and the mix.
    pub(super) fn into_built(self, target: &Target, addr: SocketAddr) -> Result<Built, Error> {
        match self {
            Request::Bytes(b) => Ok((b, None)),
            Request::HttpToEmbedded(p) => p.build(&addr.to_string()).map(|b| (b, None)),
            Request::Mix(m) => Ok((Vec::new(), Some(Arc::new(m.build_for(target, addr)?)))),
        }
    }
}

/// The request built for `framing` when no exact bytes are given.
fn built(a: &RunArgs, framing: &Framing, target: &Target) -> Result<Request, Error> {
    match framing {
        Framing::Http => {
            let body = match &a.req.body {
                Some(b) => {
                    request::unescape(b).map_err(|e| Error::Usage(format!("--body: {e}")))?
                }
                None => Vec::new(),
            };
            let path = match target {
                Target::Given { path, .. } => path.clone(),
                Target::Embedded { .. } => "/".to_string(),
            };
            let parts = HttpParts {
                method: a.req.method.clone(),
                path,
                headers: a.req.headers.clone(),
                body,
            };
            match target {
                Target::Given { host_header, .. } => Ok(Request::Bytes(parts.build(host_header)?)),
                Target::Embedded { .. } => {
                    // Refused now if it is bad; built for real once the server listens.
                    parts.build(EMBEDDED_STAND_IN)?;
                    Ok(Request::HttpToEmbedded(parts))
                }
            }
        }
        Framing::Echo => Ok(Request::Bytes(payload(size(a, None)?, false))),
        Framing::Line => Ok(Request::Bytes(payload(size(a, None)?, true))),
        // The reply is N bytes, and an echo-style server answers with what it got: the
        // payload is N bytes too, or the run would wait for a reply that never comes.
        Framing::Fixed(n) => Ok(Request::Bytes(payload(size(a, Some(*n))?, false))),
        Framing::Resp => Err(Error::Usage(
            "--proto resp needs --request (e.g. --request 'PING\\r\\n')".into(),
        )),
    }
}

/// The payload size: `--size`, else 64 (or N for `fixed:N`). Zero, or a size that is
/// not fixed:N's, is refused rather than quietly changed.
fn size(a: &RunArgs, fixed: Option<usize>) -> Result<usize, Error> {
    match (a.req.size, fixed) {
        (Some(0), _) => Err(Error::Usage(
            "--size must be at least 1 (a request of no bytes gets no reply)".into(),
        )),
        (Some(s), Some(n)) if s != n => Err(Error::Usage(format!(
            "--size {s} differs from --proto fixed:{n}: the payload is the {n} bytes the reply \
             will be; drop --size"
        ))),
        (Some(s), _) => Ok(s),
        (None, Some(n)) => Ok(n),
        (None, None) => Ok(64),
    }
}

/// A payload of `n` bytes that echo servers return unchanged: printable, varied.
fn payload(n: usize, line: bool) -> Vec<u8> {
    let mut v: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
    if line {
        if let Some(last) = v.last_mut() {
            *last = b'\n';
        } else {
            v.push(b'\n');
        }
    }
    v
}
