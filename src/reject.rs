//! Connections turned away: over `max_conns`, refused by the host, or shed at the
//! descriptor limit.
//!
//! Closing a socket whose input was never read makes Linux send RST instead of FIN,
//! and a reset that reaches the client before it has read the answer (the 503) destroys
//! that answer. So a rejected connection is answered, shut down for writing, and kept
//! for up to [`LINGER`] while its input is read and dropped, then closed: the client
//! reads the 503 and sees a clean end. At most [`MAX_LINGERING`] linger at a time (each
//! holds a descriptor); beyond that they close at once and are counted apart
//! (`Stats::rejected_unlingered`).
//!
//! Shedding works at the descriptor limit, where no descriptor is left to linger with:
//! the reactor keeps one spare descriptor, frees it to accept one queued connection,
//! reads what the client already sent, answers and closes it (FIN, since nothing is
//! left unread), and takes the spare back. See [`Reserve`].

use crate::timer::Nanos;
use mio::net::TcpStream;
use slab::Slab;
use std::fs::File;
use std::io::{self, Read, Write};
#[cfg(any(feature = "server", test))]
use std::sync::RwLockWriteGuard;
use std::sync::{RwLock, RwLockReadGuard};
use std::time::Duration;

/// Longest a rejected connection lingers.
pub const LINGER: Duration = Duration::from_millis(200);
/// Most rejected connections lingering at once.
pub const MAX_LINGERING: usize = 64;
/// Reads (of the scratch buffer's size) per readiness event of a lingering connection.
const READS_PER_EVENT: usize = 4;

/// One lingering rejected connection.
pub(crate) struct Lingerer {
    pub(crate) sock: TcpStream,
    /// When it is closed whatever happens.
    pub(crate) until: Nanos,
}

/// The set of lingering rejected connections.
#[derive(Default)]
pub(crate) struct Rejects {
    pub(crate) slots: Slab<Lingerer>,
}

impl Rejects {
    /// Room for one more lingerer.
    pub(crate) fn has_room(&self) -> bool {
        self.slots.len() < MAX_LINGERING
    }
}

/// Write `msg` (best effort: a fresh socket's send buffer takes a small answer whole).
pub(crate) fn answer(sock: &mut TcpStream, msg: &[u8]) {
    if !msg.is_empty() {
        let _ = sock.write(msg);
    }
}

/// Read and drop what the peer has sent, up to a bound. `Ok(true)`: the peer closed
/// (or the socket failed) and it can be closed now; `Ok(false)`: nothing more for now.
pub(crate) fn drain(sock: &mut TcpStream, scratch: &mut [u8]) -> bool {
    for _ in 0..READS_PER_EVENT {
        match sock.read(scratch) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
    false
}

/// Serialises descriptor use between the reactors of a process and the threads that
/// free spare descriptors to use them (the admin endpoint at the fd limit).
///
/// A descriptor freed by one thread goes to whichever thread asks next, and a reactor
/// retrying `accept` at the fd limit asks often: without this, the admin thread's
/// spare was taken by the reactor in the moment it was freed, `/stats` timed out, and
/// the spare was not always taken back. Reactors take the gate shared around each
/// accept burst (uncontended: about 20 ns); a thread about to free and reuse spares
/// takes it exclusively, and while it holds it no reactor accepts (they retry 1 ms
/// later). Process-wide, because descriptors are.
pub(crate) static FD_GATE: RwLock<()> = RwLock::new(());

/// The gate, shared, or `None` while a spare user holds it.
pub(crate) fn gate_shared() -> Option<RwLockReadGuard<'static, ()>> {
    match FD_GATE.try_read() {
        Ok(g) => Some(g),
        Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => None,
    }
}

/// The gate, exclusively (waits for the reactors' accept bursts to end).
#[cfg(any(feature = "server", test))]
pub(crate) fn gate_exclusive() -> RwLockWriteGuard<'static, ()> {
    FD_GATE.write().unwrap_or_else(|e| e.into_inner())
}

/// A spare descriptor held for the moment the process has none.
#[derive(Debug, Default)]
pub(crate) struct Reserve {
    spare: Option<File>,
}

impl Reserve {
    /// Hold a spare if none is held (fails quietly at the limit: retried later).
    pub(crate) fn refill(&mut self) {
        if self.spare.is_none() {
            self.spare = File::open("/dev/null").ok();
        }
    }

    /// Free the spare so the next descriptor the process opens can take its place.
    /// Returns false if none was held.
    pub(crate) fn release(&mut self) -> bool {
        self.spare.take().is_some()
    }

    /// Whether a spare is held.
    pub(crate) fn is_held(&self) -> bool {
        self.spare.is_some()
    }
}
