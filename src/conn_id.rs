//! [`ConnId`], the name of one connection: held by the reactor, the connection and the
//! sans-IO protocols alike, so it lives below all three and none of them imports
//! another for it.

/// Identifies a connection: its slab slot and the slot's generation, so a stale id
/// never names a newer connection in the same slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnId {
    /// Slab slot (also the connection's mio token).
    pub(crate) key: usize,
    /// Generation of the slot.
    pub(crate) gen: u32,
}

impl ConnId {
    /// The id of a protocol driven outside any reactor ([`crate::protocol::Cx::new`]):
    /// it names no connection, so `send` and `close` with it fail.
    pub const DETACHED: ConnId = ConnId {
        key: usize::MAX,
        gen: u32::MAX,
    };
}
