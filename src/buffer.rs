//! Pooled byte buffers: a connection owns a buffer only while it has leftovers.
//!
//! Reads land in the reactor's one scratch buffer; a connection takes a buffer from the
//! pool only to keep what could not be used yet (a partial request, unsent output) and
//! gives it back as soon as it is empty. So an idle connection holds no heap buffer, and
//! a busy server reuses a handful of buffers instead of allocating per request.

/// A growable byte buffer with a read position, boxed so a connection's handle to it is
/// one pointer wide.
#[derive(Debug, Default)]
pub struct Buf {
    data: Vec<u8>,
    pos: usize,
}

impl Buf {
    /// The bytes not yet consumed.
    pub fn as_slice(&self) -> &[u8] {
        &self.data[self.pos..]
    }

    /// The bytes not yet consumed, to be worked on in place.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.data[self.pos..]
    }

    /// Number of bytes not yet consumed.
    pub fn len(&self) -> usize {
        self.data.len() - self.pos
    }

    /// Whether nothing is left.
    pub fn is_empty(&self) -> bool {
        self.pos == self.data.len()
    }

    /// Append bytes at the end.
    pub fn extend(&mut self, bytes: &[u8]) {
        // Compact before growing so a buffer that is written and drained in turns does
        // not creep upward in size.
        if self.pos > 0 && self.data.len() + bytes.len() > self.data.capacity() {
            self.data.drain(..self.pos);
            self.pos = 0;
        }
        self.data.extend_from_slice(bytes);
    }

    /// Mark `n` bytes from the front as consumed.
    pub fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.data.len());
        if self.pos == self.data.len() {
            self.data.clear();
            self.pos = 0;
        }
    }

    /// Drop all content, keeping the allocation.
    pub fn clear(&mut self) {
        self.data.clear();
        self.pos = 0;
    }

    /// Capacity of the underlying allocation.
    pub fn capacity(&self) -> usize {
        self.data.capacity()
    }
}

/// A free list of [`Buf`]s.
///
/// Bounded twice: it keeps at most `max_pooled` buffers, and a returned buffer larger
/// than `max_keep` bytes is freed rather than pooled, so one burst (a client that
/// pipelined a megabyte) does not pin that memory for good.
#[derive(Debug)]
pub struct BufPool {
    // Boxed on purpose: connections hold `Option<Box<Buf>>` (one pointer), and the pool
    // hands the same boxes back and forth so reuse allocates nothing.
    #[allow(clippy::vec_box)]
    free: Vec<Box<Buf>>,
    max_pooled: usize,
    max_keep: usize,
    /// Buffers handed out and not yet returned.
    in_use: usize,
}

impl BufPool {
    /// A pool keeping at most `max_pooled` free buffers of at most `max_keep` bytes each.
    pub fn new(max_pooled: usize, max_keep: usize) -> BufPool {
        BufPool {
            free: Vec::with_capacity(max_pooled),
            max_pooled,
            max_keep,
            in_use: 0,
        }
    }

    /// An empty buffer, from the free list if one is there.
    pub fn take(&mut self) -> Box<Buf> {
        self.in_use += 1;
        self.free.pop().unwrap_or_default()
    }

    /// Give a buffer back (its content is dropped).
    pub fn give(&mut self, mut buf: Box<Buf>) {
        self.in_use = self.in_use.saturating_sub(1);
        if self.free.len() < self.max_pooled && buf.capacity() <= self.max_keep {
            buf.clear();
            self.free.push(buf);
        }
    }

    /// Buffers currently lent to connections.
    pub fn in_use(&self) -> usize {
        self.in_use
    }

    /// Buffers waiting in the free list.
    pub fn pooled(&self) -> usize {
        self.free.len()
    }

    /// Bytes of capacity held by the free list.
    pub fn pooled_bytes(&self) -> usize {
        self.free.iter().map(|b| b.capacity()).sum()
    }
}

impl Default for BufPool {
    fn default() -> Self {
        BufPool::new(256, 256 * 1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_buf_consume_all_resets() {
        let mut b = Buf::default();
        b.extend(b"hello world");
        b.consume(6);
        assert_eq!(b.as_slice(), b"world");
        b.consume(5);
        assert!(b.is_empty());
        assert_eq!(b.pos, 0);
    }

    #[test]
    fn test_buf_compacts_before_growing() {
        let mut b = Buf::default();
        b.extend(&[1u8; 100]);
        let cap = b.capacity();
        b.consume(90);
        b.extend(&[2u8; 50]); // fits after compaction: no growth
        assert_eq!(b.len(), 60);
        assert!(b.capacity() <= cap.max(60));
        assert_eq!(&b.as_slice()[..10], &[1u8; 10]);
        assert_eq!(&b.as_slice()[10..], &[2u8; 50]);
    }

    #[test]
    fn test_pool_reuses_and_bounds() {
        let mut p = BufPool::new(1, 1024);
        let mut a = p.take();
        a.extend(b"x");
        let cap = a.capacity();
        p.give(a);
        assert_eq!(p.pooled(), 1);
        let b = p.take();
        assert!(b.is_empty() && b.capacity() == cap, "reused and cleared");
        let mut big = p.take();
        big.extend(&[0u8; 4096]);
        p.give(b);
        p.give(big); // over max_pooled and over max_keep: freed
        assert_eq!(p.pooled(), 1);
        assert_eq!(p.in_use(), 0);
    }
}
