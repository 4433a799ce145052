//! Accepting: the accept loop with its budget, the pause and retry at the descriptor
//! limit, turning connections away (rejecting, shedding).

use super::{dur_ns, Host, ListenerId, Reactor, REJECT_BASE, TK_LISTENER, TK_REJECT};
use crate::conn_id::ConnId;
use crate::listener::{self, AcceptPause, ListenOptions};
use crate::protocol::Protocol;
use crate::reject::{self, Lingerer};
use crate::stats::CloseReason;
use crate::timer::Nanos;
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Token};
use std::io;
use std::net::SocketAddr;

pub(super) struct Listener {
    pub(super) sock: TcpListener,
    pub(super) opts: ListenOptions,
    pub(super) pause: AcceptPause,
    /// The accept budget ran out with connections still queued.
    pub(super) more: bool,
    /// When the pending accept-retry timer fires, if one is pending: at most one per
    /// listener, or every failed accept would add a timer that re-arms itself.
    pub(super) retry_at: Option<Nanos>,
    /// When the current pause at the descriptor limit began.
    pub(super) paused_at: Option<Nanos>,
    /// Accepting was put off because another thread held the descriptor gate: the
    /// retry timer accepts even though the listener is not paused.
    pub(super) deferred: bool,
}

impl<P: Protocol> Reactor<P> {
    /// Accept from listener `idx` until `WouldBlock`, the descriptor limit, or the
    /// accept budget (then the listener is "still ready" and accepts again next turn).
    pub(super) fn accept<H: Host<P>>(&mut self, idx: usize, host: &mut H) {
        let budget = self.cfg.accept_budget.max(1);
        // Accept only while no other thread is using spare descriptors (see
        // reject::FD_GATE); otherwise come back in a millisecond.
        let Some(_gate) = reject::gate_shared() else {
            if let Some(Some(l)) = self.listeners.get_mut(idx) {
                l.deferred = true;
            }
            let at = self.sh.now_ns.saturating_add(1_000_000);
            self.arm_retry(idx, at);
            return;
        };
        if let Some(Some(l)) = self.listeners.get_mut(idx) {
            l.deferred = false;
        }
        for _ in 0..budget {
            let Some(Some(l)) = self.listeners.get_mut(idx) else {
                return;
            };
            let (sock, peer) = match l.sock.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    l.more = false;
                    l.pause.resume();
                    l.paused_at = None;
                    return;
                }
                Err(e) if listener::is_resource_limit(&e) => {
                    self.at_limit(idx, &e);
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // ECONNABORTED, EPERM (firewall), EPROTO: that connection is gone,
                    // the next may be fine.
                    if let Some(errno) = e.raw_os_error() {
                        self.sh.stats.count_errno(errno);
                    }
                    continue;
                }
            };
            l.pause.resume();
            l.paused_at = None;
            let nodelay = l.opts.nodelay;
            self.take_accepted(idx, sock, peer, nodelay, host);
        }
        // Budget spent with connections possibly still queued: continue next turn.
        if let Some(Some(l)) = self.listeners.get_mut(idx) {
            l.more = true;
        }
    }

    /// Accept failed for lack of descriptors or memory: the queued connections will
    /// raise no new edge, so pause and retry from a timer (and whenever a connection
    /// closes); at the descriptor limit for `shed_after`, shed the queue.
    fn at_limit(&mut self, idx: usize, e: &io::Error) {
        let Some(Some(l)) = self.listeners.get_mut(idx) else {
            return;
        };
        if !l.pause.is_paused() {
            self.sh.stats.accept_pauses += 1;
        }
        let mut wait = l.pause.hit_limit();
        l.more = true;
        let now = self.sh.now_ns;
        let since = *l.paused_at.get_or_insert(now);
        if let Some(errno) = e.raw_os_error() {
            self.sh.stats.count_errno(errno);
        }
        let fds = matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE));
        if let (Some(d), true) = (self.cfg.shed_after, fds) {
            // While shedding, retry at the shed delay, not the growing backoff: clients
            // beyond the limit keep arriving.
            wait = wait.min(d);
            if now.saturating_sub(since) >= dur_ns(d) {
                self.shed(idx);
            }
        }
        self.arm_retry(idx, now.saturating_add(dur_ns(wait)));
    }

    /// A connection was accepted: over the cap or refused by the host it is turned
    /// away, else it joins the slab on the idle clock.
    fn take_accepted<H: Host<P>>(
        &mut self,
        idx: usize,
        sock: TcpStream,
        peer: SocketAddr,
        nodelay: bool,
        host: &mut H,
    ) {
        self.sh.stats.accepted += 1;
        if self.cfg.max_conns.is_some_and(|m| self.active() >= m) {
            self.reject(sock);
            return;
        }
        // The id the connection will have: the slab's next free slot (nothing else can
        // take it while the host decides: connect and adopt refuse inside accept, and
        // slots are freed only at the end of a turn) and a fresh generation.
        let id = ConnId {
            key: self.conns.vacant_key(),
            gen: self.fresh_gen(),
        };
        self.accepting = Some((id, 0));
        let proto = host.accept(self, id, ListenerId(idx), peer);
        let profile = self.accepting.take().map_or(0, |(_, p)| p);
        let Some(proto) = proto else {
            self.reject(sock);
            return;
        };
        if nodelay {
            let _ = sock.set_nodelay(true);
        }
        if let Err((e, _)) = self.insert_open(sock, id.gen, profile, proto) {
            if let Some(errno) = e.raw_os_error() {
                self.sh.stats.count_errno(errno);
            }
            self.sh.stats.count_close(CloseReason::Error);
        }
    }

    /// Make sure listener `idx` retries accepting by `at` (one pending retry each).
    pub(super) fn arm_retry(&mut self, idx: usize, at: Nanos) {
        let Some(Some(l)) = self.listeners.get_mut(idx) else {
            return;
        };
        let tkey = TK_LISTENER | idx as u64;
        match l.retry_at {
            None => self.sh.timers.schedule(at, tkey),
            Some(t) if at < t => self.sh.timers.replace(at, tkey),
            Some(_) => return,
        }
        l.retry_at = Some(at);
    }

    /// Turn a connection away (over `max_conns`, or refused by the host): answer it,
    /// then let it linger so the answer is read before the close (see [`reject`]).
    pub(super) fn reject(&mut self, mut sock: TcpStream) {
        self.sh.stats.rejected += 1;
        self.sh.stats.count_close(CloseReason::Rejected);
        reject::answer(&mut sock, self.cfg.reject_message);
        if !self.rejects.has_room() || sock.shutdown(std::net::Shutdown::Write).is_err() {
            self.sh.stats.rejected_unlingered += 1;
            return; // dropping closes it
        }
        let entry = self.rejects.slots.vacant_entry();
        let idx = entry.key();
        if self
            .poll
            .registry()
            .register(&mut sock, Token(REJECT_BASE + idx), Interest::READABLE)
            .is_err()
        {
            self.sh.stats.rejected_unlingered += 1;
            return;
        }
        let until = self.sh.now_ns.saturating_add(dur_ns(reject::LINGER));
        entry.insert(Lingerer { sock, until });
        self.sh.timers.schedule(until, TK_REJECT | idx as u64);
    }

    /// A lingering rejected connection is readable: drop its input; close at its EOF.
    pub(super) fn reject_ready(&mut self, idx: usize) {
        let Some(l) = self.rejects.slots.get_mut(idx) else {
            return;
        };
        if reject::drain(&mut l.sock, &mut self.sh.scratch) {
            let mut l = self.rejects.slots.remove(idx);
            let _ = self.poll.registry().deregister(&mut l.sock);
        }
    }

    /// At the descriptor limit: accept up to the accept budget through the spare
    /// descriptor, answer each and close it at once (see [`reject`]).
    pub(super) fn shed(&mut self, idx: usize) {
        for _ in 0..self.cfg.accept_budget.max(1) {
            let Some(Some(l)) = self.listeners.get_mut(idx) else {
                return;
            };
            if !self.reserve.release() {
                break;
            }
            match l.sock.accept() {
                Ok((mut sock, _)) => {
                    // What the client sent is read first, so the close is a FIN, not
                    // a reset that could destroy the answer.
                    reject::drain(&mut sock, &mut self.sh.scratch);
                    reject::answer(&mut sock, self.cfg.reject_message);
                    let _ = sock.shutdown(std::net::Shutdown::Write);
                    drop(sock);
                    self.sh.stats.accepted += 1;
                    self.sh.stats.shed += 1;
                    self.sh.stats.count_close(CloseReason::Shed);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    l.more = false;
                    self.reserve.refill();
                    break;
                }
                Err(e) => {
                    if let Some(errno) = e.raw_os_error() {
                        self.sh.stats.count_errno(errno);
                    }
                }
            }
            self.reserve.refill();
            if !self.reserve.is_held() {
                break; // someone else took the descriptor: try again next time
            }
        }
    }
}
