//! What a worker's reactor runs on each connection: a [`Client`] over TLS (an
//! `https://` or `tls://` target) or over the bare connection, and the ways to reach
//! the clients and their shared state through the TLS layer's context.

use crate::client::{Client, Shared};
use readyloop::tls::Tls;
use readyloop::{ConnId, Reactor};

/// One connection of a worker.
pub(crate) type Conn = Tls<Client>;

/// The worker's shared state (plan and recorder).
pub(super) fn shared(r: &Reactor<Conn>) -> &Shared {
    &r.context().inner
}

/// The worker's shared state, to change.
pub(super) fn shared_mut(r: &mut Reactor<Conn>) -> &mut Shared {
    &mut r.context_mut().inner
}

/// Every open connection's client, and the shared state beside them.
pub(super) fn clients(
    r: &mut Reactor<Conn>,
) -> (
    impl Iterator<Item = (ConnId, &mut Client)> + '_,
    &mut Shared,
) {
    let (it, ctx) = r.protocols_mut();
    (it.map(|(id, c)| (id, c.inner_mut())), &mut ctx.inner)
}
