//! What a datagram service queues to send, in one buffer.

use std::net::SocketAddr;
use std::ops::Range;

/// Datagrams to send: their bytes in one buffer, each with its destination. The
/// reactor empties it after every batch.
#[derive(Debug, Default)]
pub struct Outbox {
    bytes: Vec<u8>,
    items: Vec<(SocketAddr, Range<usize>)>,
}

impl Outbox {
    /// Queue `data` for `to`.
    pub fn send(&mut self, to: SocketAddr, data: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(data);
        self.items.push((to, start..self.bytes.len()));
    }

    /// Queue a datagram for `to` written by `write` into the buffer (no copy).
    pub fn send_with(&mut self, to: SocketAddr, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.bytes.len();
        write(&mut self.bytes);
        self.items.push((to, start..self.bytes.len()));
    }

    /// Datagrams queued.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether none is queued.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Datagram `i`: its destination and bytes.
    pub(crate) fn get(&self, i: usize) -> Option<(SocketAddr, &[u8])> {
        let (to, r) = self.items.get(i)?;
        Some((*to, self.bytes.get(r.clone())?))
    }

    /// Empty it, keeping its allocation (bounded: one batch's worth is kept).
    pub(crate) fn clear(&mut self) {
        self.items.clear();
        self.bytes.clear();
        if self.bytes.capacity() > 4 << 20 {
            self.bytes = Vec::new();
        }
    }
}
