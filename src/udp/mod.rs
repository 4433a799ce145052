//! UDP sockets beside listeners and connections, served in the same turn.
//!
//! A socket bound with [`crate::Reactor::bind_udp`] carries a sans-IO service, a
//! [`Datagrams`]: fed one datagram with its peer and the protocol context, it queues
//! the datagrams to send in an [`Outbox`]. The reactor drains a ready socket with
//! `recvmmsg` in batches until `WouldBlock` or its budget ([`UdpOptions::budget`];
//! past it the socket gets its next slice after the others, as a connection does), and
//! sends what the service queued with `sendmmsg`. When the socket would block, the rest
//! waits in a bounded send queue ([`UdpOptions::max_queue`]); what does not fit is
//! dropped and counted. Every error is counted ([`UdpStats`]), none is fatal: a UDP
//! socket never closes by itself.
//!
//! A reactor that binds no UDP socket pays for none: its connections' slots are as
//! they were, and its type names no UDP service (the services are boxed per socket).
//!
//! ```
//! use readyloop::udp::{Datagram, Datagrams, DgCx, Outbox, UdpOptions};
//! use readyloop::{protocol::Echo, Config, Reactor};
//! use std::net::UdpSocket;
//!
//! let mut r: Reactor<Echo> = Reactor::new(Config::default())?;
//! let id = r.bind_udp("127.0.0.1:0".parse().unwrap(), &UdpOptions::default(), Box::new(Echo::default()))?;
//! let addr = r.udp_local_addr(id)?;
//! let client = UdpSocket::bind("127.0.0.1:0")?;
//! client.send_to(b"ping", addr)?;
//! let mut host = readyloop::ServeWith(Echo::default);
//! let mut buf = [0u8; 16];
//! client.set_read_timeout(Some(std::time::Duration::from_millis(10)))?;
//! let n = loop {
//!     r.turn(&mut host, Some(std::time::Duration::from_millis(10)))?;
//!     if let Ok((n, _)) = client.recv_from(&mut buf) { break n; }
//! };
//! assert_eq!(&buf[..n], b"ping");
//! assert_eq!(r.udp_stats(id).map(|s| s.datagrams_in), Some(1));
//! # Ok::<(), std::io::Error>(())
//! ```

mod batch;
pub(crate) use batch::RecvBatch;
mod outbox;
mod services;
pub(crate) mod socket;
mod stats;

pub use outbox::Outbox;
pub use stats::UdpStats;

use std::any::Any;
use std::net::SocketAddr;
use std::time::Instant;

/// Identifies a UDP socket of one reactor ([`crate::Reactor::bind_udp`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UdpId(pub usize);

/// One datagram received.
#[derive(Clone, Copy, Debug)]
pub struct Datagram<'a> {
    /// Its bytes (at most [`UdpOptions::max_datagram`]).
    pub data: &'a [u8],
    /// Who sent it.
    pub peer: SocketAddr,
    /// It was longer than [`UdpOptions::max_datagram`]: `data` is its beginning only
    /// (counted in [`UdpStats::truncated`]).
    pub truncated: bool,
}

/// Per-call context: the time of this turn, the socket, and the state the reactor's
/// protocols share ([`crate::protocol::Protocol::Context`]).
#[derive(Debug)]
pub struct DgCx<'a, C> {
    /// The time of this batch.
    pub now: Instant,
    /// The socket the datagram came to.
    pub socket: UdpId,
    /// The reactor's shared state.
    pub ctx: &'a mut C,
}

/// A sans-IO datagram service: fed one datagram at a time, it queues what to send.
///
/// It never sees the socket: what it queues in `out` goes out after the batch, to the
/// peers it names (its own peer, or any other). It is `Any`, so its owner can reach
/// its state again ([`crate::Reactor::udp_service_mut`]), and `Send`, so the reactor
/// that holds it can move to another thread.
pub trait Datagrams<C>: Any + Send {
    /// One datagram arrived.
    fn on_datagram(&mut self, dg: Datagram<'_>, out: &mut Outbox, cx: &mut DgCx<'_, C>);
}

/// Socket options of a UDP socket, and its bounds.
#[derive(Clone, Debug)]
pub struct UdpOptions {
    /// `SO_REUSEPORT`: several processes or reactors share the port; the kernel spreads
    /// the datagrams between them by their source.
    pub reuseport: bool,
    /// `SO_RCVBUF`: what the kernel queues for this socket before it drops (its drops
    /// are the `drops` column of `/proc/net/udp`).
    pub rcvbuf: Option<usize>,
    /// `SO_SNDBUF`.
    pub sndbuf: Option<usize>,
    /// The largest datagram read whole; a longer one is truncated and counted. 65,535
    /// by default (every UDP datagram).
    pub max_datagram: usize,
    /// Datagrams taken from the kernel per `recvmmsg`.
    pub batch: usize,
    /// Datagrams read per readiness event before other sockets and connections get a
    /// turn.
    pub budget: usize,
    /// Datagrams waiting in the send queue at most (the socket would block); more are
    /// dropped and counted.
    pub max_queue: usize,
}

impl Default for UdpOptions {
    fn default() -> Self {
        UdpOptions {
            reuseport: false,
            rcvbuf: None,
            sndbuf: None,
            max_datagram: 65_535,
            batch: 32,
            budget: 256,
            max_queue: 1024,
        }
    }
}
