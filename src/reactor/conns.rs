//! Connections: inserting accepted and outbound sockets, the host's handles on them,
//! driving them on readiness, closing and freeing them.

use super::{Host, LimitsId, Reactor, SPECIAL};
use crate::conn::{Conn, ConnLimits, Profile, State};
use crate::conn_id::ConnId;
use crate::protocol::Protocol;
use crate::stats::CloseReason;
use mio::net::TcpStream;
use mio::{Interest, Token};
use socket2::{Domain, Socket, Type};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

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
        if let Err(e) = self.refuse_inside_accept() {
            return Err((e, proto));
        }
        if let Err(e) = stream.set_nonblocking(true) {
            return Err((e, proto));
        }
        // Data that arrived before: epoll reports a socket's current readiness when it
        // is registered, so the first turn reads it.
        let gen = self.fresh_gen();
        self.insert_open(TcpStream::from_std(stream), gen, 0, proto)
    }

    /// Inside [`Host::accept`] the slot of the connection being accepted is promised to
    /// it (its [`ConnId`] is already the host's), so no other connection may take it.
    fn refuse_inside_accept(&self) -> io::Result<()> {
        if self.accepting.is_some() {
            return Err(io::Error::other(
                "cannot open a connection from inside Host::accept (its slot is reserved \
                 for the connection being accepted): open it from a timer or after_turn",
            ));
        }
        Ok(())
    }

    /// A generation no live connection or timer has.
    pub(super) fn fresh_gen(&mut self) -> u32 {
        self.next_gen = self.next_gen.wrapping_add(1);
        self.next_gen
    }

    /// Insert a connected socket (accepted or adopted) in the open state, on the idle
    /// clock of limit profile `profile`.
    pub(super) fn insert_open(
        &mut self,
        sock: TcpStream,
        gen: u32,
        profile: u8,
        proto: P,
    ) -> Result<ConnId, (io::Error, P)> {
        let id = self.insert(sock, gen, State::Open, proto)?;
        if let Some(c) = self.conns.get_mut(id.key) {
            c.set_profile(&mut self.sh, id.key, profile);
        }
        Ok(id)
    }

    /// Insert a socket as a new connection and register it, edge-triggered, for both
    /// directions once: no re-registration is ever needed afterwards.
    pub(super) fn insert(
        &mut self,
        mut sock: TcpStream,
        gen: u32,
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
        if let Err(e) = self.refuse_inside_accept() {
            return Err((e, proto));
        }
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
        let gen = self.fresh_gen();
        let id = self.insert(sock, gen, State::Connecting, proto)?;
        if let Some(c) = self.conns.get_mut(id.key) {
            c.set_profile(&mut self.sh, id.key, 0);
        }
        Ok(id)
    }

    /// Register another set of per-connection limits (a profile), for
    /// [`Reactor::set_limits`]: slow clients on one listener, trusted peers with
    /// bigger buffers. A connection keeps only a one-byte index into them, so its slot
    /// does not grow. Up to 31 besides the reactor's own `Config::limits`.
    ///
    /// ```
    /// use readyloop::{protocol::Echo, Config, ConnLimits, Reactor};
    /// use std::time::Duration;
    ///
    /// let mut r: Reactor<Echo> = Reactor::new(Config::default()).unwrap();
    /// let patient = r
    ///     .add_limits(ConnLimits {
    ///         idle_timeout: Some(Duration::from_secs(3600)),
    ///         ..ConnLimits::default()
    ///     })
    ///     .unwrap();
    /// assert_ne!(patient, readyloop::LimitsId::DEFAULT);
    /// ```
    pub fn add_limits(&mut self, limits: ConnLimits) -> io::Result<LimitsId> {
        let n = self.sh.profiles.len();
        if n >= crate::conn::MAX_PROFILES {
            return Err(io::Error::other(format!(
                "at most {} limit profiles besides the default",
                crate::conn::MAX_PROFILES - 1
            )));
        }
        self.sh.profiles.push(Profile::of(&limits));
        Ok(LimitsId(n as u8))
    }

    /// Apply a limit profile to a connection (also from inside [`Host::accept`], to the
    /// connection being accepted). The clock of its current state restarts under the
    /// new limits. Returns false if the id is stale or the profile unknown.
    pub fn set_limits(&mut self, id: ConnId, limits: LimitsId) -> bool {
        if usize::from(limits.0) >= self.sh.profiles.len() {
            return false;
        }
        if let Some((accepting, profile)) = self.accepting.as_mut() {
            if *accepting == id {
                *profile = limits.0;
                return true;
            }
        }
        match self.conns.get_mut(id.key) {
            Some(c) if c.gen == id.gen && c.state() != State::Closed => {
                c.set_profile(&mut self.sh, id.key, limits.0);
                true
            }
            _ => false,
        }
    }

    /// Close a connection now (counted as [`CloseReason::Host`]). Returns false if the
    /// id is stale.
    pub fn close(&mut self, id: ConnId) -> bool {
        match self.conns.get(id.key) {
            Some(c) if c.gen == id.gen && c.state() != State::Closed => {
                self.close_conn(id.key, CloseReason::Host);
                true
            }
            _ => false,
        }
    }

    /// Every live connection's protocol, with the shared context beside them so each
    /// can report into it (loadgen counts the requests still in flight when a run
    /// ends).
    ///
    /// ```
    /// use readyloop::{protocol::Echo, Config, Reactor};
    /// let mut r: Reactor<Echo> = Reactor::new(Config::default()).unwrap();
    /// let (protocols, _ctx) = r.protocols_mut();
    /// assert_eq!(protocols.count(), 0);
    /// ```
    pub fn protocols_mut(
        &mut self,
    ) -> (impl Iterator<Item = (ConnId, &mut P)> + '_, &mut P::Context) {
        let it = self
            .conns
            .iter_mut()
            .filter(|(_, c)| c.state() != State::Closed)
            .map(|(key, c)| (ConnId { key, gen: c.gen }, &mut c.proto));
        (it, &mut self.sh.ctx)
    }

    /// Ask every live connection's protocol for its [`Protocol::poll_at`] again. The
    /// reactor asks after every call into a protocol; a host that changed the shared
    /// context those times depend on (loadgen starts its clients' schedules this way)
    /// calls this so the new times take effect without waiting for an event.
    pub fn rearm_timers(&mut self) {
        for (key, c) in self.conns.iter_mut() {
            if c.state() != State::Closed {
                c.refresh_deadline(&mut self.sh, key);
            }
        }
    }

    /// Write `data` on a live connection from the host (behind any queued output, under
    /// the same output limits). Returns false if the id is stale or the connection is
    /// not open; a write error closes the connection as usual.
    pub fn send(&mut self, id: ConnId, data: &[u8]) -> bool {
        let Some(c) = self.conns.get_mut(id.key) else {
            return false;
        };
        if c.gen != id.gen || c.state() != State::Open {
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
            Some(c) if c.gen == id.gen && c.state() != State::Closed => Some(&mut c.proto),
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
        if c.state() == State::Closed {
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
        if c.state() == State::Closed {
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
