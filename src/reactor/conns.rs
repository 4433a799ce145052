//! Connections: inserting accepted and outbound sockets, the host's handles on them,
//! driving them on readiness, closing and freeing them.

use super::*;

/// Options of an outbound connection.
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    /// Bind to this source address first (port chosen by the kernel).
    pub source: Option<IpAddr>,
    /// With `source`: set `IP_BIND_ADDRESS_NO_PORT`, so the port is picked at connect
    /// time per 4-tuple instead of reserved at bind time for every destination.
    pub bind_no_port: bool,
    /// Set `TCP_NODELAY`.
    pub nodelay: bool,
    /// `SO_RCVBUF`.
    pub rcvbuf: Option<usize>,
    /// `SO_SNDBUF`.
    pub sndbuf: Option<usize>,
    /// Close with RST instead of FIN (`SO_LINGER` 0): leaves no TIME_WAIT behind.
    pub linger_zero: bool,
}

impl<P: Protocol> Reactor<P> {
    /// Take over a connected `std::net::TcpStream` (made nonblocking here), driven by
    /// `proto` as an accepted connection: on the idle clock, its close reported to
    /// [`Host::closed`]. An error hands the protocol back.
    pub fn adopt(
        &mut self,
        stream: std::net::TcpStream,
        proto: P,
    ) -> Result<ConnId, (io::Error, P)> {
        if let Err(e) = stream.set_nonblocking(true) {
            return Err((e, proto));
        }
        // Data that arrived before: epoll reports a socket's current readiness when it
        // is registered, so the first turn reads it.
        self.insert_open(TcpStream::from_std(stream), proto)
    }

    /// Insert a connected socket (accepted or adopted) in the open state, on the idle
    /// clock.
    pub(super) fn insert_open(
        &mut self,
        sock: TcpStream,
        proto: P,
    ) -> Result<ConnId, (io::Error, P)> {
        let id = self.insert(sock, State::Open, proto)?;
        if let Some(c) = self.conns.get_mut(id.key) {
            c.timeout_at = self
                .sh
                .now_ns
                .saturating_add(self.sh.limits.idle_timeout.map_or(u64::MAX, dur_ns));
            c.refresh_deadline(&mut self.sh, id.key);
        }
        Ok(id)
    }

    /// Insert a socket as a new connection and register it, edge-triggered, for both
    /// directions once: no re-registration is ever needed afterwards.
    pub(super) fn insert(
        &mut self,
        mut sock: TcpStream,
        state: State,
        proto: P,
    ) -> Result<ConnId, (io::Error, P)> {
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        if key >= SPECIAL {
            return Err((
                io::Error::new(io::ErrorKind::OutOfMemory, "too many connections"),
                proto,
            ));
        }
        if let Err(e) = self.poll.registry().register(
            &mut sock,
            Token(key),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            return Err((e, proto));
        }
        self.next_gen = self.next_gen.wrapping_add(1);
        let gen = self.next_gen;
        entry.insert(Conn::new(sock, gen, state, proto));
        self.sh.stats.active = self.conns.len() as u64;
        let active = (self.conns.len() - self.closing.len()) as u64;
        self.sh.stats.peak_active = self.sh.stats.peak_active.max(active);
        Ok(ConnId { key, gen })
    }

    /// Open an outbound connection to `addr` driven by `proto`. The connect is
    /// nonblocking: [`Protocol::on_connected`] runs when it completes, and a failure or
    /// timeout closes it with [`CloseReason::ConnectFailed`] /
    /// [`CloseReason::ConnectTimeout`] (see [`Host::closed`]). An error here (no
    /// descriptors, no ports: EMFILE, EADDRNOTAVAIL) hands the protocol back.
    pub fn connect(
        &mut self,
        addr: SocketAddr,
        opts: &ConnectOptions,
        proto: P,
    ) -> Result<ConnId, (io::Error, P)> {
        let sock = match open_outbound(addr, opts) {
            Ok(s) => s,
            Err(e) => {
                if let Some(errno) = e.raw_os_error() {
                    self.sh.stats.count_errno(errno);
                }
                return Err((e, proto));
            }
        };
        self.sh.stats.connects_started += 1;
        let id = self.insert(sock, State::Connecting, proto)?;
        let timeout = self.sh.limits.connect_timeout;
        if let Some(c) = self.conns.get_mut(id.key) {
            c.timeout_at = timeout.map_or(crate::timer::NEVER, |d| {
                self.sh
                    .now_ns
                    .saturating_add(d.as_nanos().min(u64::MAX as u128 / 2) as u64)
            });
            c.refresh_deadline(&mut self.sh, id.key);
        }
        Ok(id)
    }

    /// Close a connection now (counted as [`CloseReason::Host`]). Returns false if the
    /// id is stale.
    pub fn close(&mut self, id: ConnId) -> bool {
        match self.conns.get(id.key) {
            Some(c) if c.gen == id.gen && c.state != State::Closed => {
                self.close_conn(id.key, CloseReason::Host);
                true
            }
            _ => false,
        }
    }

    /// Every live connection's protocol (e.g. to account for requests in flight when a
    /// run ends).
    pub fn protocols_mut(&mut self) -> impl Iterator<Item = (ConnId, &mut P)> + '_ {
        self.conns
            .iter_mut()
            .filter(|(_, c)| c.state != State::Closed)
            .map(|(key, c)| (ConnId { key, gen: c.gen }, &mut c.proto))
    }

    /// Write `data` on a live connection from the host (behind any queued output, under
    /// the same output limits). Returns false if the id is stale or the connection is
    /// not open; a write error closes the connection as usual.
    pub fn send(&mut self, id: ConnId, data: &[u8]) -> bool {
        let Some(c) = self.conns.get_mut(id.key) else {
            return false;
        };
        if c.gen != id.gen || c.state != State::Open {
            return false;
        }
        self.sh.last_errno = None;
        if let Err(reason) = c.send(&mut self.sh, id.key, data) {
            self.close_conn(id.key, reason);
        }
        true
    }

    /// The protocol of a live connection.
    pub fn protocol_mut(&mut self, id: ConnId) -> Option<&mut P> {
        match self.conns.get_mut(id.key) {
            Some(c) if c.gen == id.gen && c.state != State::Closed => Some(&mut c.proto),
            _ => None,
        }
    }

    pub(super) fn conn_ready(&mut self, key: usize, readable: bool, writable: bool, hup: bool) {
        self.sh.last_errno = None;
        // A fresh clock per connection event (one vDSO call, ~20 ns): a batch of events
        // takes a while to handle, and a load generator timing replies with the time
        // the batch started would be wrong by up to the whole batch.
        self.update_now();
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        if c.state == State::Closed {
            return; // closed earlier in this batch: the event is stale
        }
        if let Err(reason) = c.on_ready(&mut self.sh, key, readable, writable, hup) {
            self.close_conn(key, reason);
        }
    }

    pub(super) fn close_conn(&mut self, key: usize, reason: CloseReason) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        if c.state == State::Closed {
            return;
        }
        c.set_state(State::Closed);
        if reason == CloseReason::SlowPeer {
            // Reset rather than FIN: a peer too slow to read would otherwise keep what
            // sits in the kernel's send buffer (megabytes) queued for it long after the
            // close (nginx's reset_timedout_connection).
            let _ = socket2::SockRef::from(&c.sock).set_linger(Some(Duration::ZERO));
        }
        c.release(&mut self.sh.pool, &mut self.sh.timers);
        let _ = self.poll.registry().deregister(&mut c.sock);
        self.sh.stats.count_close(reason);
        let errno = self.sh.last_errno.take();
        self.closing.push((key, reason, errno));
        self.closed_any = true;
    }

    pub(super) fn free_closed<H: Host<P>>(&mut self, host: &mut H) {
        while !self.closing.is_empty() {
            let batch = std::mem::take(&mut self.closing);
            for (key, reason, errno) in batch {
                if let Some(c) = self.conns.try_remove(key) {
                    let id = ConnId { key, gen: c.gen };
                    drop(c.sock); // the descriptor is free from here on
                    host.closed(self, id, c.proto, reason, errno);
                }
            }
        }
        self.sh.stats.active = self.active() as u64;
    }
}

fn open_outbound(addr: SocketAddr, opts: &ConnectOptions) -> io::Result<TcpStream> {
    let sock = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        None,
    )?;
    if let Some(src) = opts.source {
        if opts.bind_no_port && src.is_ipv4() {
            nix::sys::socket::setsockopt(
                &sock,
                nix::sys::socket::sockopt::IpBindAddressNoPort,
                &true,
            )?;
        }
        sock.bind(&SocketAddr::new(src, 0).into())?;
    }
    if opts.nodelay {
        sock.set_tcp_nodelay(true)?;
    }
    if let Some(n) = opts.rcvbuf {
        sock.set_recv_buffer_size(n)?;
    }
    if let Some(n) = opts.sndbuf {
        sock.set_send_buffer_size(n)?;
    }
    if opts.linger_zero {
        sock.set_linger(Some(Duration::ZERO))?;
    }
    match sock.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(sock.into()))
}
