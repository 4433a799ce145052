//! readyloop: a hand-rolled, single-threaded, readiness-polling reactor on mio.
//!
//! Listeners and connections live in one [`Reactor`]; each connection is an explicit
//! state machine driving a sans-IO [`protocol::Protocol`]. UDP sockets are served in
//! the same turn, each by a sans-IO [`udp::Datagrams`] service. The same reactor
//! serves (the `readyloop` server) and connects out (the `loadgen` clients).
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
//! A tutorial that builds a service step by step (a line protocol, state shared
//! through the protocol context, timers, broadcast to other connections, a loop the
//! host owns), the whole API on one page, and these promises: `docs/embedding.md`.
//! Complete programs: `examples/echo.rs` (the smallest server), `examples/kv.rs` (a
//! key-value store, shared state), `examples/chat.rs` (broadcast) and
//! `examples/host_loop.rs` (the reactor inside the host's own loop, stopped on Ctrl-C
//! from another thread); `cargo run --example kv`.
//!
//! # Features
//!
//! - `server` (default): the `readyloop` server ([`server`]), its admin endpoint, the
//!   socket-limits report, CLI helpers, and stats as JSON; brings clap, serde,
//!   serde_json and signal-hook. Implies `http`.
//! - `http`: the built-in HTTP/1.1 protocol (`protocol::http`), on httparse.
//! - `tls`: the TLS layer ([`tls`]) on rustls (ring), under any protocol, for accepted
//!   and outbound connections. Implied by `server`.
//!
//! An embedder of the reactor alone turns both off (`default-features = false`) and
//! depends on mio, slab, socket2, nix and libc only.
//!
//! # Platform
//!
//! **Linux only**: precise timers use a timerfd, the limits report reads `/proc`, and
//! outbound connections from a source address use `IP_BIND_ADDRESS_NO_PORT`. Building
//! for another OS stops with a compile error.
//!
//! # What the reactor promises
//!
//! - **Bounded work per event.** A connection event makes at most 16 reads, 16
//!   protocol calls and 32 KiB of protocol output ([`protocol::Protocol::on_input`]
//!   gets an output budget); past that the connection gets its next slice in the next
//!   turn, after the others. The timer pass runs only what was due when it began, so a
//!   turn always returns.
//! - **Bounded memory per connection.** An idle connection holds no heap buffer; input
//!   and output are capped ([`ConnLimits`]); input waiting behind output pauses reading
//!   (backpressure); the timer heap holds at most `2 x live + 64` reminders between
//!   turns.
//! - **Edge-triggered discipline, in one place** (`conn.rs`): read until `WouldBlock` or
//!   a short read (unless the peer's FIN was signalled), write until `WouldBlock` or a
//!   short write, retry `Interrupted`, treat readiness as a hint. Sockets are
//!   registered once for both directions.
//! - **What runs when in a turn**: poll; each event (connections, listeners, the
//!   waker's commands, host sources); last turn's leftovers; due timers (connection
//!   deadlines, accept retries, host timers via [`Host::timer`]); closed connections
//!   freed ([`Host::closed`]); [`Host::after_turn`]; housekeeping.
//! - **Panics.** The reactor does not catch them: a panic in a protocol or host
//!   callback unwinds out of [`Reactor::turn`] / [`Reactor::run`], and the reactor is
//!   then in no state to go on; drop it (its sockets close with it). Nothing in the
//!   reactor itself panics on input from the network, the OS or the user.
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]

#[cfg(not(target_os = "linux"))]
compile_error!("readyloop runs on Linux only (timerfd, /proc, IP_BIND_ADDRESS_NO_PORT)");

// docs/embedding.md's code blocks run as doctests (`cargo test --doc`), so the
// tutorial cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../docs/embedding.md")]
struct EmbeddingGuide;

#[cfg(feature = "server")]
pub mod admin;
mod buffer;
mod conn;
mod conn_id;
#[cfg(feature = "server")]
pub mod limits;
mod listener;
pub mod protocol;
mod reactor;
mod reject;
#[cfg(feature = "server")]
pub mod server;
pub mod stats;
mod timer;
#[cfg(feature = "tls")]
pub mod tls;
mod turns;
pub mod udp;
#[cfg(feature = "server")]
pub mod units;

pub use conn::ConnLimits;
pub use conn_id::ConnId;
pub use listener::ListenOptions;
/// mio, whose types ([`mio::Interest`], [`mio::event::Event`], [`mio::event::Source`]) are
/// in this crate's API.
pub use mio;
pub use reactor::{
    Config, ConnectOptions, Handle, Host, LimitsId, ListenerId, Reactor, ServeWith, Snapshot,
    SourceId, TimerId,
};
pub use stats::{CloseReason, Stats};
