//! One UDP socket of the reactor: the socket, its service, its send queue, its
//! counters; draining it and flushing what its service queued.

use super::batch::{self, RecvBatch};
use super::{Datagram, Datagrams, DgCx, Outbox, UdpId, UdpOptions, UdpStats};
use socket2::{Domain, Protocol as SockProto, Socket, Type};
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Instant;

/// A bound UDP socket and what serves it.
pub(crate) struct UdpSock<C> {
    pub(crate) sock: mio::net::UdpSocket,
    pub(crate) service: Box<dyn Datagrams<C>>,
    pub(crate) opts: UdpOptions,
    /// Datagrams that would have blocked: sent first when the socket is writable.
    pub(crate) queue: VecDeque<(SocketAddr, Vec<u8>)>,
    pub(crate) stats: UdpStats,
    /// Waiting for its next slice (its budget ran out with datagrams left).
    pub(crate) requeued: bool,
}

impl<C> std::fmt::Debug for UdpSock<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpSock")
            .field("sock", &self.sock)
            .field("queued", &self.queue.len())
            .field("stats", &self.stats)
            .finish()
    }
}

/// A nonblocking UDP socket on `addr` with `opts` (an IPv6 address: IPv6 only, so
/// `[::]` and `0.0.0.0` can be bound side by side, as listeners are).
pub(crate) fn bind(addr: SocketAddr, opts: &UdpOptions) -> io::Result<mio::net::UdpSocket> {
    let sock = Socket::new(
        Domain::for_address(addr),
        Type::DGRAM.nonblocking().cloexec(),
        Some(SockProto::UDP),
    )?;
    if opts.reuseport {
        sock.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    if let Some(n) = opts.rcvbuf {
        sock.set_recv_buffer_size(n)?;
    }
    if let Some(n) = opts.sndbuf {
        sock.set_send_buffer_size(n)?;
    }
    sock.bind(&addr.into())?;
    Ok(mio::net::UdpSocket::from_std(sock.into()))
}

/// What one slice of work on a socket found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Drained {
    /// The kernel has no more datagrams for it.
    Empty,
    /// Its budget ran out first: serve it again after the others.
    More,
}

impl<C: 'static> UdpSock<C> {
    /// Read batches until `WouldBlock` or the budget, each datagram to the service,
    /// what it queued sent after each batch.
    pub(crate) fn drain(
        &mut self,
        id: UdpId,
        io: (&mut RecvBatch, &mut Outbox),
        (now, ctx): (Instant, &mut C),
    ) -> Drained {
        let (batch, out) = io;
        let fd = self.sock.as_raw_fd();
        let mut left = self.opts.budget.max(1);
        while left > 0 {
            let n = match batch.recv(fd, self.opts.batch.min(left), self.opts.max_datagram) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Drained::Empty,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // An error queued on the socket (ICMP unreachable for an earlier
                    // send): counted, and the socket goes on.
                    self.count_recv_error(&e);
                    left -= 1;
                    continue;
                }
            };
            left = left.saturating_sub(n.max(1));
            let mut cx = DgCx {
                now,
                socket: id,
                ctx: &mut *ctx,
            };
            for i in 0..n {
                let Some((data, Some(peer), truncated)) = batch.get(i) else {
                    continue;
                };
                self.stats.datagrams_in += 1;
                self.stats.bytes_in += data.len() as u64;
                self.stats.truncated += u64::from(truncated);
                let dg = Datagram {
                    data,
                    peer,
                    truncated,
                };
                self.service.on_datagram(dg, out, &mut cx);
            }
            self.send_outbox(out);
        }
        Drained::More
    }

    fn count_recv_error(&mut self, e: &io::Error) {
        self.stats.recv_errors += 1;
        self.stats.last_errno = e.raw_os_error();
    }

    /// Send what `out` holds (after the queue, which goes first), queueing what would
    /// block; `out` is emptied.
    pub(crate) fn send_outbox(&mut self, out: &mut Outbox) {
        if out.is_empty() {
            return;
        }
        self.flush_queue();
        let mut from = 0;
        if self.queue.is_empty() {
            from = self.send_from(out, 0);
        }
        for i in from..out.len() {
            if let Some((to, data)) = out.get(i) {
                self.enqueue(to, data);
            }
        }
        out.clear();
    }

    /// `sendmmsg` the outbox from datagram `i` on, in chunks; where it stopped
    /// (would block: the rest is queued by the caller).
    fn send_from(&mut self, out: &Outbox, mut i: usize) -> usize {
        let fd = self.sock.as_raw_fd();
        while i < out.len() {
            let chunk: Vec<(SocketAddr, &[u8])> = (i..out.len().min(i + 64))
                .filter_map(|k| out.get(k))
                .collect();
            match batch::send(fd, &chunk) {
                Ok(n) => {
                    for (_, d) in &chunk[..n] {
                        self.count_sent(d.len());
                    }
                    i += n.max(1).min(chunk.len());
                    if n == 0 {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // The first of the chunk failed (too large, unreachable): dropped.
                    self.stats.send_errors += 1;
                    self.stats.last_errno = e.raw_os_error();
                    i += 1;
                }
            }
        }
        i
    }

    fn count_sent(&mut self, len: usize) {
        self.stats.datagrams_out += 1;
        self.stats.bytes_out += len as u64;
    }

    /// Queue one datagram that would block now; over the bound it is dropped.
    pub(crate) fn enqueue(&mut self, to: SocketAddr, data: &[u8]) {
        if self.queue.len() >= self.opts.max_queue {
            self.stats.send_queue_drops += 1;
            return;
        }
        self.queue.push_back((to, data.to_vec()));
        self.stats.send_queue_peak = self.stats.send_queue_peak.max(self.queue.len() as u64);
    }

    /// Send the queue's datagrams in order until it is empty or the socket would block.
    pub(crate) fn flush_queue(&mut self) {
        let fd = self.sock.as_raw_fd();
        while !self.queue.is_empty() {
            let chunk: Vec<(SocketAddr, &[u8])> = self
                .queue
                .iter()
                .take(64)
                .map(|(a, d)| (*a, &d[..]))
                .collect();
            let sent = match batch::send(fd, &chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.stats.send_errors += 1;
                    self.stats.last_errno = e.raw_os_error();
                    self.queue.pop_front();
                    continue;
                }
            };
            if sent == 0 {
                return;
            }
            for _ in 0..sent {
                if let Some((_, d)) = self.queue.pop_front() {
                    self.count_sent(d.len());
                }
            }
        }
    }

    /// A host's datagram: sent now if nothing waits before it, else queued (or
    /// dropped over the bound). Whether it was sent or queued.
    pub(crate) fn send_one(&mut self, to: SocketAddr, data: &[u8]) -> bool {
        self.flush_queue();
        if self.queue.is_empty() {
            match batch::send(self.sock.as_raw_fd(), &[(to, data)]) {
                Ok(1) => {
                    self.count_sent(data.len());
                    return true;
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    self.stats.send_errors += 1;
                    self.stats.last_errno = e.raw_os_error();
                    return false;
                }
            }
        }
        let drops = self.stats.send_queue_drops;
        self.enqueue(to, data);
        self.stats.send_queue_drops == drops
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Discard;

    fn sock(max_queue: usize) -> UdpSock<()> {
        let opts = UdpOptions {
            max_queue,
            ..UdpOptions::default()
        };
        UdpSock {
            sock: bind("127.0.0.1:0".parse().unwrap(), &opts).unwrap(),
            service: Box::new(Discard),
            opts,
            queue: VecDeque::new(),
            stats: UdpStats::default(),
            requeued: false,
        }
    }

    #[test]
    fn test_the_send_queue_is_bounded_and_flushed_in_order() {
        let mut s = sock(2);
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = peer.local_addr().unwrap();
        for i in 0..3u8 {
            s.enqueue(to, &[i]);
        }
        assert_eq!(s.queue.len(), 2);
        assert_eq!((s.stats.send_queue_drops, s.stats.send_queue_peak), (1, 2));
        // A host's send waits behind the queue: it goes out after the two queued.
        assert!(s.send_one(to, &[9]));
        assert!(s.queue.is_empty());
        assert_eq!(s.stats.datagrams_out, 3);
        peer.set_read_timeout(Some(std::time::Duration::from_secs(1)))
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4];
        for _ in 0..3 {
            let (n, _) = peer.recv_from(&mut buf).unwrap();
            got.push(buf[..n].to_vec());
        }
        assert_eq!(got, [vec![0], vec![1], vec![9]]);
    }
}
