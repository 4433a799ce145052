//! `loadgen probe`: open connections at a fixed rate until something stops it, hold
//! them, and name the limit that stopped it.
//!
//! What stops a new connection, and how it shows here:
//!
//! | limit | how it shows | stop reason |
//! |---|---|---|
//! | this process's descriptors | `socket()` fails with EMFILE | [`Stop::Descriptors`] |
//! | the system's descriptors | ENFILE | [`Stop::Descriptors`] |
//! | ephemeral ports of one (source, destination) | `connect()` fails with EADDRNOTAVAIL | [`Stop::Ports`] |
//! | a `--source` that is not this machine's (not a limit) | its `bind()` fails with EADDRNOTAVAIL, before any connect; refused before the ramp | [`Stop::SourceNotLocal`] |
//! | nothing listening / backlog overflow with abort | ECONNREFUSED | [`Stop::Refused`] |
//! | backlog full, SYNs dropped | connect times out, no errno | [`Stop::ConnectTimeout`] |
//! | the server's cap | established, then closed by the server | [`Stop::ServerClosed`] |
//! | the fd limit of readyloop (it sheds) | established, then closed by the server: readyloop accepts what it cannot keep through a spare descriptor and closes it (HTTP: after a 503) | [`Stop::ServerClosed`] |
//! | the fd limit of a server that pauses accepting | established but queued, never accepted, until the accept queue is full; then SYNs dropped: connect timeouts | [`Stop::ConnectTimeout`] |
//! | socket memory | ENOBUFS / ENOMEM | [`Stop::Memory`] |
//! | TLS: the server cuts the handshake (its cap, its fd limit) | closed or reset before the handshake is done | [`Stop::ServerClosed`] |
//! | TLS: the server does not speak it, or the certificate is refused | the handshake fails (counted `tls_` and its reason) | [`Stop::Handshake`] |
//! | TLS: the server never answers the handshake (queued, never accepted) | no handshake within `--connect-timeout` | [`Stop::HandshakeTimeout`] |
//!
//! The two fd-limit rows are the same limit seen through two kinds of server. A server
//! that stops calling `accept()` at its limit leaves the connections that arrive
//! established from the client's side while they sit in its accept queue, never
//! accepted: the probe counts them held until the queue is full and connects time out.
//! `--verify` (an echo of one byte, or a GET to an HTTP server: the queued ones are too
//! slow to answer) and the server's own count (`--server-stats`) tell accepted from
//! queued.
//!
//! The files, in the order a run goes through them:
//!
//! | module | holds |
//! |---|---|
//! | [`cmd`] | [`run`]: the `probe` subcommand, the embedded server child |
//! | [`options`] | [`ProbeOptions`], and the share of them one process probes with |
//! | [`sources`] | `--source` parsing, the check that each is this machine's ([`check_sources`]), per-source counts ([`SourceCount`]) |
//! | [`predict`] | the limit expected before the ramp ([`Prediction`]) |
//! | [`observe`] | the server's `/stats`, sockstat and slab, before and during the hold ([`Snapshot`]) |
//! | [`tls`] | a TLS target's configuration ([`ProbeTls`]) and the handshakes counted |
//! | [`verify`] | what `--verify` sends and takes for an answer ([`VerifyProto`]), chosen to suit the server and tried once before the ramp |
//! | [`ramp`] | the held connections, the ramp host, `--verify`, [`Probe`], [`ProbeResult`], [`Stop`] |
//! | [`procs`] | `--procs` children (they die with the parent), their READY / GO / RESULT / EXIT lines, [`merge`] |
//! | `serde_fmt` | how a [`ProbeResult`]'s ramp duration and connect histogram are written on a `RESULT` line (below both `ramp` and `procs`) |
//! | [`timeline`] | the connect rate over the ramp and its knee |
//! | [`raise`] | [`how_to_raise`]: what to change for the limit that stopped it |
//! | [`findings`] | [`ProbeReport`], what the probe found: built once, printed as JSON or as text |

pub(crate) mod cmd;
pub(crate) mod findings;
pub(crate) mod observe;
pub(crate) mod options;
mod own_memory;
pub(crate) mod predict;
pub(crate) mod procs;
pub(crate) mod raise;
pub(crate) mod ramp;
mod reaped;
mod serde_fmt;
pub(crate) mod sources;
pub(crate) mod timeline;
pub(crate) mod tls;
pub(crate) mod verify;

pub(crate) use cmd::run;
pub(crate) use options::ProbeOptions;
pub(crate) use sources::{check_sources, parse_source_list, SourceList};
pub(crate) use tls::ProbeTls;
pub(crate) use verify::VerifyProto;
