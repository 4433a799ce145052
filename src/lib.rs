//! readyloop: a hand-rolled, single-threaded, readiness-polling reactor on mio.
//!
//! Listeners and connections live in one [`Reactor`]; each connection is an explicit
//! state machine driving a sans-IO [`protocol::Protocol`]. The same reactor serves
//! (the `readyloop` server) and connects out (the `loadgen` clients).
//!
//! An echo server on an ephemeral port, stopped from another thread:
//!
//! ```
//! use readyloop::{protocol::Echo, Config, ListenOptions, Reactor, ServeWith};
//! use std::io::{Read, Write};
//!
//! let mut reactor: Reactor<Echo> = Reactor::new(Config::default())?;
//! let id = reactor.listen("127.0.0.1:0".parse().unwrap(), &ListenOptions::default())?;
//! let addr = reactor.local_addr(id)?;
//! let handle = reactor.handle();
//! let server = std::thread::spawn(move || reactor.run(&mut ServeWith(Echo::default)));
//!
//! let mut client = std::net::TcpStream::connect(addr)?;
//! client.write_all(b"ping")?;
//! let mut buf = [0u8; 4];
//! client.read_exact(&mut buf)?;
//! assert_eq!(&buf, b"ping");
//!
//! handle.shutdown();
//! server.join().unwrap()?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Features
//!
//! - `server` (default): the `readyloop` server ([`server`]), its admin endpoint, the
//!   socket-limits report, CLI helpers, and stats as JSON; brings clap, serde,
//!   serde_json and signal-hook. Implies `http`.
//! - `http`: the built-in HTTP/1.1 protocol (`protocol::http`), on httparse.
//!
//! An embedder of the reactor alone turns both off (`default-features = false`) and
//! depends on mio, slab, socket2, nix and libc only.
#![deny(missing_docs)]

#[cfg(feature = "server")]
pub mod admin;
pub mod buffer;
mod conn;
#[cfg(feature = "server")]
pub mod limits;
pub mod listener;
pub mod protocol;
mod reactor;
mod reject;
#[cfg(feature = "server")]
pub mod server;
pub mod stats;
pub mod timer;
mod turns;
#[cfg(feature = "server")]
pub mod units;

pub use conn::{Limits, State};
pub use listener::ListenOptions;
pub use reactor::{
    Config, ConnId, ConnectOptions, Handle, Host, ListenerId, Reactor, ServeWith, Snapshot,
    SourceId,
};
pub use stats::{CloseReason, Stats};
