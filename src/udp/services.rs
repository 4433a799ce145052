//! The built-in protocols as datagram services: an echo sends each datagram back to
//! its sender; a discard keeps nothing.

use super::{Datagram, Datagrams, DgCx, Outbox};
use crate::protocol::{Discard, Echo};

impl<C> Datagrams<C> for Echo {
    fn on_datagram(&mut self, dg: Datagram<'_>, out: &mut Outbox, _: &mut DgCx<'_, C>) {
        out.send(dg.peer, dg.data);
    }
}

impl<C> Datagrams<C> for Discard {
    fn on_datagram(&mut self, _: Datagram<'_>, _: &mut Outbox, _: &mut DgCx<'_, C>) {}
}
