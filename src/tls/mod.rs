//! TLS under any protocol (feature `tls`): a sans-IO layer on rustls's unbuffered API.
//!
//! [`Tls<P>`] is itself a [`Protocol`](crate::protocol::Protocol): the reactor hands it
//! the peer's bytes, it works through the records where they lie (decrypting in place
//! in the reactor's own input buffer), hands the plaintext to `P`, and encrypts what `P`
//! writes straight into the reactor's output. There is no second event loop and no
//! buffer of rustls's own: an idle TLS connection holds the rustls state and nothing
//! else. The same type runs plain connections ([`Tls::plain`]), so one reactor serves a
//! TLS and a plain listener side by side.
//!
//! A TLS echo server and a client, both on one reactor's types, talking in memory (no
//! socket: the layer is sans-IO):
//!
//! ```
//! use readyloop::protocol::{Cx, Echo, Protocol};
//! use readyloop::tls::{self, Tls, TlsContext};
//! use std::sync::Arc;
//! use std::time::Instant;
//!
//! // A self-signed certificate for "localhost", as PEM files (tests make their own).
//! let dir = std::env::temp_dir().join(format!("readyloop-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
//! std::fs::write(dir.join("cert.pem"), cert.cert.pem())?;
//! std::fs::write(dir.join("key.pem"), cert.signing_key.serialize_pem())?;
//!
//! let server_cfg = tls::server_config(&tls::ServerOptions::new(dir.join("cert.pem"), dir.join("key.pem")))?;
//! let client_cfg = tls::client_config(&tls::ClientOptions {
//!     roots: tls::Roots::File(dir.join("cert.pem")),
//!     ..Default::default()
//! })?;
//! let now = Instant::now();
//! let mut server = Tls::server(Arc::new(server_cfg), Echo, now)?;
//! let name = "localhost".try_into()?;
//! let mut client = Tls::client(Arc::new(client_cfg), name, Echo, now)?;
//! let (mut sctx, mut cctx) = (TlsContext::new(()), TlsContext::new(()));
//!
//! // The client speaks first; then bytes go back and forth until both are done.
//! let mut to_server = Vec::new();
//! client.on_connected(&mut to_server, &mut Cx::new(now, &mut cctx));
//! for _ in 0..4 {
//!     let mut to_client = Vec::new();
//!     server.on_input(&to_server, &mut to_client, 1 << 16, &mut Cx::new(now, &mut sctx));
//!     to_server.clear();
//!     client.on_input(&to_client, &mut to_server, 1 << 16, &mut Cx::new(now, &mut cctx));
//! }
//! assert!(server.is_established() && client.is_established());
//! assert_eq!(sctx.stats.full, 1);
//! std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What it bounds, and how a reactor's limits apply, is on [`Tls`]; what it counts on
//! [`TlsStats`].

mod config;
mod layer;
mod session;
mod stats;
mod tickets;

pub use config::{
    client_config, load_certs, server_config, ClientOptions, Roots, ServerOptions, TlsConfigError,
    Versions,
};
pub use layer::{Handshake, OverTls, Tls, TlsContext};
/// The rustls this layer runs on, for its configuration types.
pub use rustls;
pub use stats::{describe, Failure, TlsStats};
