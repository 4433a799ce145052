//! UDP sockets in the reactor: binding, the readiness of one, its leftovers, the
//! host's sends and reads of its state (the sockets themselves are `crate::udp`).

use super::{Reactor, UDP_BASE};
use crate::protocol::Protocol;
use crate::udp::socket::{self, Drained, UdpSock};
use crate::udp::{Datagrams, Outbox, UdpId, UdpOptions, UdpStats};
use mio::{Interest, Token};
use std::any::Any;
use std::io;
use std::net::SocketAddr;

/// The receive area and outbox every UDP socket of a reactor shares.
#[derive(Debug)]
pub(crate) struct UdpIo {
    batch: crate::udp::RecvBatch,
    out: Outbox,
}

impl<P: Protocol> Reactor<P> {
    /// Bind a UDP socket on `addr` served by `service` (an IPv6 address: IPv6 only).
    /// Its bound address (port 0 resolved) comes from [`Reactor::udp_local_addr`].
    pub fn bind_udp(
        &mut self,
        addr: SocketAddr,
        opts: &UdpOptions,
        service: Box<dyn Datagrams<P::Context>>,
    ) -> io::Result<UdpId> {
        let mut sock = socket::bind(addr, opts)?;
        let entry = self.udp.vacant_entry();
        let key = entry.key();
        // Both directions once, edge-triggered: writable only matters while a send
        // queue waits.
        self.poll.registry().register(
            &mut sock,
            Token(UDP_BASE + key),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        entry.insert(UdpSock {
            sock,
            service,
            opts: opts.clone(),
            queue: Default::default(),
            stats: UdpStats::default(),
            requeued: false,
        });
        let (n, size) = (opts.batch.max(1), opts.max_datagram.clamp(1, 65_535));
        if !self
            .udp_io
            .as_ref()
            .is_some_and(|io| io.batch.fits(n, size))
        {
            let (n, size) = self.udp_io.as_ref().map_or((n, size), |io| {
                (
                    io.batch.capacity().0.max(n),
                    io.batch.capacity().1.max(size),
                )
            });
            self.udp_io = Some(UdpIo {
                batch: crate::udp::RecvBatch::new(n, size),
                out: Outbox::default(),
            });
        }
        Ok(UdpId(key))
    }

    /// The address a UDP socket is bound to.
    pub fn udp_local_addr(&self, id: UdpId) -> io::Result<SocketAddr> {
        self.udp
            .get(id.0)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such UDP socket"))?
            .sock
            .local_addr()
    }

    /// A UDP socket's counters.
    pub fn udp_stats(&self, id: UdpId) -> Option<UdpStats> {
        self.udp.get(id.0).map(|s| s.stats)
    }

    /// Datagrams waiting in a UDP socket's send queue.
    pub fn udp_queued(&self, id: UdpId) -> Option<usize> {
        self.udp.get(id.0).map(|s| s.queue.len())
    }

    /// A UDP socket's service, as its type (`None`: no such socket, or another type).
    pub fn udp_service<T: Datagrams<P::Context>>(&self, id: UdpId) -> Option<&T> {
        let s: &dyn Any = &*self.udp.get(id.0)?.service;
        s.downcast_ref::<T>()
    }

    /// A UDP socket's service, to change (a load generator reads its books, or sets
    /// what it sends next).
    pub fn udp_service_mut<T: Datagrams<P::Context>>(&mut self, id: UdpId) -> Option<&mut T> {
        let s: &mut dyn Any = &mut *self.udp.get_mut(id.0)?.service;
        s.downcast_mut::<T>()
    }

    /// Send `data` to `to` from a UDP socket (a client's request, on its schedule):
    /// now, or after what waits in its send queue. `false` when it was dropped (the
    /// queue full, or an error: counted in its [`UdpStats`]) or there is no such socket.
    pub fn send_to(&mut self, id: UdpId, to: SocketAddr, data: &[u8]) -> bool {
        self.udp.get_mut(id.0).is_some_and(|s| s.send_one(to, data))
    }

    /// Close a UDP socket; its service is handed back.
    pub fn close_udp(&mut self, id: UdpId) -> Option<Box<dyn Datagrams<P::Context>>> {
        if !self.udp.contains(id.0) {
            return None;
        }
        let mut s = self.udp.remove(id.0);
        let _ = self.poll.registry().deregister(&mut s.sock);
        self.udp_requeue.retain(|&k| k != id.0);
        Some(s.service)
    }

    /// A UDP socket's readiness (or its leftover slice): send what waits if writable,
    /// then drain it.
    pub(super) fn udp_ready(&mut self, key: usize, readable: bool, writable: bool) {
        self.update_now();
        let (now, ctx) = (self.sh.now, &mut self.sh.ctx);
        let (Some(s), Some(io)) = (self.udp.get_mut(key), self.udp_io.as_mut()) else {
            return;
        };
        if writable && !s.queue.is_empty() {
            s.flush_queue();
        }
        if !readable {
            return;
        }
        let drained = s.drain(UdpId(key), (&mut io.batch, &mut io.out), (now, ctx));
        if drained == Drained::More && !s.requeued {
            s.requeued = true;
            self.udp_requeue.push(key);
        }
    }

    /// The UDP sockets whose budget ran out last turn; clearing their flag lets an
    /// event of this turn re-queue them.
    pub(super) fn take_udp_leftovers(&mut self) -> Vec<usize> {
        let again = std::mem::take(&mut self.udp_requeue);
        for &key in &again {
            if let Some(s) = self.udp.get_mut(key) {
                s.requeued = false;
            }
        }
        again
    }

    /// Their next slice, after this turn's events; one an event of this turn already
    /// drove (and re-queued) waits for the next turn.
    pub(super) fn run_udp_leftovers(&mut self, again: Vec<usize>) {
        for key in again {
            if self.udp.get(key).is_some_and(|s| !s.requeued) {
                self.udp_ready(key, true, false);
            }
        }
    }
}
