//! What the embedding program gives the reactor (the [`Host`]) and the ids the reactor
//! hands out.

use super::Reactor;
use crate::conn_id::ConnId;
use crate::protocol::Protocol;
use crate::stats::CloseReason;
use mio::event::Event;
use std::net::SocketAddr;

/// Identifies a host timer set with [`Reactor::set_timer`], to cancel it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId {
    pub(crate) slot: usize,
    pub(crate) gen: u32,
}

/// Identifies a set of per-connection limits registered with
/// [`Reactor::add_limits`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LimitsId(pub(crate) u8);

impl LimitsId {
    /// The reactor's own limits (`Config::limits`), which every connection starts with.
    pub const DEFAULT: LimitsId = LimitsId(0);
}

/// Identifies a listener of one reactor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListenerId(pub usize);

/// Identifies a source the host registered with [`Reactor::register`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SourceId(pub usize);

/// What the embedding program does with the reactor's events. Every method has a
/// default, so a host implements only what it needs.
pub trait Host<P: Protocol> {
    /// A listener accepted a connection from `peer`: the protocol to drive it, or
    /// `None` to close it at once (counted as rejected).
    ///
    /// `id` is the connection's id if it is taken: keep it to [`Reactor::send`] to it
    /// later (a chat room's member list), or give it a limit profile now with
    /// [`Reactor::set_limits`]. Its slot is reserved for it meanwhile, so
    /// [`Reactor::connect`] and [`Reactor::adopt`] fail inside this call: open other
    /// connections from a timer or [`Host::after_turn`].
    fn accept(
        &mut self,
        _reactor: &mut Reactor<P>,
        _id: ConnId,
        _listener: ListenerId,
        _peer: SocketAddr,
    ) -> Option<P> {
        None
    }

    /// A connection closed; its protocol is handed back (loadgen reads its results).
    /// `errno` is the socket error behind `reason`, when there was one.
    fn closed(
        &mut self,
        _reactor: &mut Reactor<P>,
        _id: ConnId,
        _proto: P,
        _reason: CloseReason,
        _errno: Option<i32>,
    ) {
    }

    /// A source registered with [`Reactor::register`] is ready.
    fn source_ready(&mut self, _reactor: &mut Reactor<P>, _id: SourceId, _event: &Event) {}

    /// A timer set with [`Reactor::set_timer`] is due.
    fn timer(&mut self, _reactor: &mut Reactor<P>, _key: u64) {}

    /// Another thread called [`Handle::post`](crate::Handle::post) with `value` (once
    /// per value, however often it was posted before this call).
    fn posted(&mut self, _reactor: &mut Reactor<P>, _value: u64) {}

    /// The end of every turn (Redis's "before sleep").
    fn after_turn(&mut self, _reactor: &mut Reactor<P>) {}
}

/// A host for a plain server: every accepted connection gets `make()`.
///
/// ```
/// use readyloop::{protocol::Echo, Reactor, Config, ServeWith};
/// let mut r: Reactor<Echo> = Reactor::new(Config::default()).unwrap();
/// let mut host = ServeWith(Echo::default);
/// r.turn(&mut host, Some(std::time::Duration::ZERO)).unwrap();
/// ```
pub struct ServeWith<F>(pub F);

impl<F> std::fmt::Debug for ServeWith<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServeWith(..)")
    }
}

impl<P: Protocol, F: FnMut() -> P> Host<P> for ServeWith<F> {
    fn accept(
        &mut self,
        _reactor: &mut Reactor<P>,
        _id: ConnId,
        _listener: ListenerId,
        _peer: SocketAddr,
    ) -> Option<P> {
        Some((self.0)())
    }
}
