//! Slots waiting to (re)connect: opened in turn, paced by `--connect-rate`, from the
//! `--source` addresses in turn, each slot to its own address of the target's (the
//! slots spread round robin over them, a slot keeping its address across reconnects),
//! and after a failure only after a backoff; and how a close the client did not decide
//! is counted.

use super::conn::{shared, shared_mut, Conn};
use super::setup::Seat;
use super::times::{TIMER_CONNECT, TIMER_PACE};
use crate::addrs::Addrs;
use crate::client::Client;
use crate::record::ErrorClass;
use crate::schedule::Schedule;
use crate::tls_target::TlsTarget;
use readyloop::tls::Tls;
use readyloop::{CloseReason, ConnId, ConnectOptions, Reactor};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long to wait before reopening after a failed connect or a protocol failure,
/// doubling to a second: never spin on a target that refuses, or that accepts every
/// connection and answers in another protocol.
const RETRY_MIN: Duration = Duration::from_millis(10);
const RETRY_MAX: Duration = Duration::from_secs(1);

/// The most a paced connect may catch up after a late wake-up: a stall of the loop
/// does not turn into a burst of connects.
const PACE_CATCH_UP: Duration = Duration::from_millis(50);

/// One slot = one of the connections a worker keeps; it carries its open-loop schedule
/// across reconnects so connect time is part of the next request's corrected latency,
/// and its number across reconnects so it goes back to the same address.
pub(super) struct Pending {
    /// The slot's number in its worker (0, 1, ...: see [`Slots::addr_index`]).
    pub(super) slot: usize,
    /// Open loop: the slot's timeline. `None`: closed loop.
    pub(super) schedule: Option<Schedule>,
}

/// The slots waiting to (re)connect and how they may.
pub(super) struct Slots {
    /// Slots waiting to (re)connect, in order.
    pub(super) pending: VecDeque<Pending>,
    /// Where they connect: slot `j` to `addrs.for_slot(first_slot + j)`.
    addrs: Addrs,
    /// TLS over each connection, or none.
    tls: Option<Arc<TlsTarget>>,
    /// The run-wide number of this worker's slot 0 (the worker's first connection).
    first_slot: usize,
    /// The number a slot added during the run gets (growth, closed-loop stages).
    next_slot: usize,
    /// The slot of each open or connecting connection, to reopen it where it was.
    slot_of: HashMap<ConnId, usize>,
    /// Connects tried to each of `addrs`, in their order.
    pub(super) connects_by_addr: Vec<u64>,
    opts: ConnectOptions,
    /// One connect per this interval at most (`--connect-rate`), else `None`.
    connect_every: Option<Duration>,
    next_connect: Instant,
    /// After failed connects; starts over once a connect completes.
    connect_backoff: Backoff,
    /// After protocol failures; starts over once a reply completes (a connect proves
    /// nothing: a server of another protocol accepts every one).
    protocol_backoff: Backoff,
    /// A retry timer is set (one for both backoffs: it reopens every waiting slot).
    pub(super) retry_armed: bool,
    /// A pacing timer is set (one at a time, however many slots wait).
    pub(super) pace_armed: bool,
    /// `--source` addresses, and the next one, round robin (each worker starts at its
    /// index).
    sources: Vec<IpAddr>,
    source_rr: usize,
}

impl Slots {
    /// `seat`'s slots, `pending` first (numbered from 0 up), paced from `now`.
    pub(super) fn new(seat: &Seat, pending: VecDeque<Pending>, now: Instant) -> Slots {
        let addrs = seat.aim.addrs.clone();
        let tls = seat.aim.tls.clone();
        Slots {
            next_slot: pending.len(),
            pending,
            connects_by_addr: vec![0; addrs.len()],
            addrs,
            tls,
            first_slot: seat.first_index,
            slot_of: HashMap::new(),
            opts: ConnectOptions {
                bind_no_port: true,
                nodelay: seat.load.nodelay,
                ..ConnectOptions::default()
            },
            connect_every: seat.connect_every(),
            next_connect: now,
            connect_backoff: Backoff::new(),
            protocol_backoff: Backoff::new(),
            retry_armed: false,
            pace_armed: false,
            sources: seat.load.sources.clone(),
            source_rr: seat.index,
        }
    }

    /// A new slot, waiting to connect with `schedule`: numbered after every slot so
    /// far, so added slots carry on the round robin over the addresses.
    pub(super) fn push_new(&mut self, schedule: Option<Schedule>) {
        let slot = self.next_slot;
        self.next_slot += 1;
        self.pending.push_back(Pending { slot, schedule });
    }

    /// The slot connection `id` held, now that it closed (0 for an id never seen,
    /// which cannot happen: every connect records its slot).
    pub(super) fn release(&mut self, id: ConnId) -> usize {
        self.slot_of.remove(&id).unwrap_or(0)
    }

    /// Which of the addresses slot `slot` connects to: the slots of all workers are
    /// numbered over the run (this worker's from `first_slot`), so the run's initial
    /// connection `i` goes to address `i mod n`; slots added during the run go on from
    /// the worker's last.
    fn addr_index(&self, slot: usize) -> usize {
        (self.first_slot + slot) % self.addrs.len()
    }

    /// `client` over TLS (a session from the shared configuration, so a reconnect
    /// resumes), or over the bare connection. `None`: rustls refused a session.
    fn wrap(&self, client: Client, now: Instant) -> Option<Conn> {
        match &self.tls {
            None => Some(Tls::plain(client)),
            Some(t) => Tls::client(t.config.clone(), t.server_name.clone(), client, now).ok(),
        }
    }

    /// The waiting slots' open-loop timelines.
    pub(super) fn schedules_mut(&mut self) -> impl Iterator<Item = &mut Schedule> {
        self.pending.iter_mut().filter_map(|p| p.schedule.as_mut())
    }

    /// Open the waiting slots, in order, as pacing allows, while the run is on (until
    /// `until`; `None`: it ended); a connect that fails at once (no descriptor, no port)
    /// leaves its slot waiting and arms a retry.
    pub(super) fn open_pending(&mut self, r: &mut Reactor<Conn>, until: Option<Instant>) {
        let now = r.now();
        while let Some(p) = self.pending.front() {
            if until.is_none_or(|end| now >= end) {
                return;
            }
            if let Some(every) = self.connect_every {
                match next_paced(self.next_connect, now, every) {
                    Ok(next) => self.next_connect = next,
                    Err(at) => {
                        if !self.pace_armed {
                            self.pace_armed = true;
                            r.set_timer(at, TIMER_PACE);
                        }
                        return;
                    }
                }
            }
            let (schedule, slot) = (p.schedule.clone(), p.slot);
            let to = self.addr_index(slot);
            if !self.sources.is_empty() {
                self.opts.source = Some(self.sources[self.source_rr % self.sources.len()]);
                self.source_rr += 1;
            }
            let sh = shared_mut(r);
            let client = Client::new(&sh.plan, now, schedule);
            let Some(conn) = self.wrap(client, now) else {
                // rustls refused a session: only a configuration it cannot use does.
                shared_mut(r)
                    .rec
                    .error(ErrorClass::Connect, "TLS: no session could be made");
                self.arm_retry(r, Failure::Connect);
                return;
            };
            let sh = shared_mut(r);
            sh.rec.connects_tried += 1;
            self.connects_by_addr[to] += 1;
            match r.connect(self.addrs.as_slice()[to], &self.opts, conn) {
                // Not a success yet: on loopback a refusal comes after connect()
                // returned EINPROGRESS. The backoff restarts only once a connect
                // completed (see `arm_retry`).
                Ok(id) => {
                    self.slot_of.insert(id, slot);
                    self.pending.pop_front();
                }
                Err((e, _client)) => {
                    // No socket or no port: count it, leave the slot pending, retry
                    // later with backoff (and never in a tight loop).
                    let errno = e.raw_os_error();
                    shared_mut(r)
                        .rec
                        .error(connect_error_class(errno), &errno_detail(errno));
                    self.arm_retry(r, Failure::Connect);
                    return;
                }
            }
        }
    }

    /// Reopen the waiting slots after a backoff for `why` (if no retry is set yet).
    pub(super) fn arm_retry(&mut self, r: &mut Reactor<Conn>, why: Failure) {
        // The target is back once a connect completed since the last failed connect,
        // or a reply since the last protocol failure: the backoff starts over.
        let rec = &shared(r).rec;
        let backoff = match why {
            Failure::Connect => {
                self.connect_backoff.seen(rec.connects_ok);
                &mut self.connect_backoff
            }
            Failure::Protocol => {
                self.protocol_backoff.seen(rec.completed);
                &mut self.protocol_backoff
            }
        };
        if !self.retry_armed {
            self.retry_armed = true;
            let wait = backoff.next();
            r.set_timer(r.now() + wait, TIMER_CONNECT);
        }
    }

    /// Open the waiting slots now, unless a retry is set (they wait for it).
    pub(super) fn open_unless_retrying(&mut self, r: &mut Reactor<Conn>, until: Option<Instant>) {
        if !self.retry_armed {
            self.open_pending(r, until);
        }
    }
}

/// `--connect-rate`: whether a connect may go at `now` given the next paced instant
/// `next`: `Ok(the one after)`, or `Err(when to come back)`. After a late wake-up the
/// pace catches up by at most [`PACE_CATCH_UP`].
fn next_paced(next: Instant, now: Instant, every: Duration) -> Result<Instant, Instant> {
    if now < next {
        return Err(next);
    }
    Ok(next.max(now - every.min(PACE_CATCH_UP)) + every)
}

/// A worker's wait before reopening its waiting slots after a failure: [`RETRY_MIN`],
/// twice as long at each retry armed, at most [`RETRY_MAX`]. It starts over only once
/// the target shows it is back: a counter of successes (`progress`, which only grows)
/// moved since it last started over. Pure, so its rule is tested without sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Backoff {
    wait: Duration,
    /// `progress` when it last started over.
    mark: u64,
}

impl Backoff {
    const fn new() -> Backoff {
        Backoff {
            wait: RETRY_MIN,
            mark: 0,
        }
    }

    /// A failure was seen with `progress` successes so far: start over if some came
    /// since the last time.
    fn seen(&mut self, progress: u64) {
        if progress != self.mark {
            self.mark = progress;
            self.wait = RETRY_MIN;
        }
    }

    /// The wait of a retry armed now; the next one waits twice as long.
    fn next(&mut self) -> Duration {
        let w = self.wait;
        self.wait = (w * 2).min(RETRY_MAX);
        w
    }
}

/// What a slot waits to reopen after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Failure {
    /// A connect failed (refused, timed out, no port or descriptor).
    Connect,
    /// A connection failed in a way that says the server speaks another protocol
    /// ([`Client::protocol_failure`]).
    Protocol,
}

fn errno_detail(errno: Option<i32>) -> String {
    errno.map_or_else(|| "unknown".to_string(), readyloop::stats::errno_name)
}

/// The class of a `connect()` that failed at once.
fn connect_error_class(errno: Option<i32>) -> ErrorClass {
    match errno {
        Some(libc::EMFILE | libc::ENFILE) => ErrorClass::Descriptors,
        Some(libc::ECONNREFUSED) => ErrorClass::ConnectRefused,
        _ => ErrorClass::Connect,
    }
}

/// Map a reactor close to an error class (for closes the client did not decide).
pub(super) fn close_class(reason: CloseReason, errno: Option<i32>) -> Option<(ErrorClass, String)> {
    let detail = errno_detail(errno);
    match reason {
        CloseReason::ConnectFailed => Some(match errno {
            Some(libc::ECONNREFUSED) => (ErrorClass::ConnectRefused, detail),
            _ => (ErrorClass::Connect, detail),
        }),
        CloseReason::ConnectTimeout => Some((ErrorClass::ConnectTimeout, "timeout".into())),
        CloseReason::Reset => Some((ErrorClass::Reset, detail)),
        CloseReason::Error => Some((ErrorClass::Io, detail)),
        CloseReason::InputOverflow => Some((ErrorClass::Framing, "too_large".into())),
        CloseReason::OutputOverflow => Some((ErrorClass::Io, "output_overflow".into())),
        CloseReason::Peer => Some((ErrorClass::Closed, "eof".into())),
        CloseReason::IdleTimeout | CloseReason::HeaderTimeout => {
            Some((ErrorClass::Timeout, "idle".into()))
        }
        CloseReason::SlowPeer => Some((ErrorClass::Timeout, "slow_peer".into())),
        CloseReason::Done
        | CloseReason::Protocol
        | CloseReason::Rejected
        | CloseReason::Shed
        | CloseReason::Shutdown
        | CloseReason::Host => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_backoff_doubles_to_a_second_and_starts_over_only_on_progress() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new();
        let mut waits = Vec::new();
        for _ in 0..9 {
            b.seen(0); // failures, and no success in between
            waits.push(b.next());
        }
        assert_eq!(
            waits,
            [10, 20, 40, 80, 160, 320, 640, 1000, 1000].map(ms),
            "doubling from 10 ms, at most a second"
        );
        // A success since: the next failure waits the least again.
        b.seen(1);
        assert_eq!(b.next(), ms(10));
        b.seen(1);
        assert_eq!(b.next(), ms(20), "no new success: it grows on");
    }

    #[test]
    fn test_pacing_waits_and_catches_up_only_a_little() {
        let ms = Duration::from_millis;
        let t0 = Instant::now();
        let every = ms(10);
        assert_eq!(next_paced(t0 + ms(10), t0 + ms(5), every), Err(t0 + ms(10)));
        assert_eq!(next_paced(t0, t0, every), Ok(t0 + ms(10)));
        // Woken 300 ms late: the next connect is not due at once over and over.
        assert_eq!(next_paced(t0, t0 + ms(300), every), Ok(t0 + ms(300)));
        // A long interval catches up at most 50 ms.
        let late = next_paced(t0, t0 + ms(1000), ms(200));
        assert_eq!(late, Ok(t0 + ms(1150)));
    }

    #[test]
    fn test_failures_are_classed_by_their_errno() {
        assert_eq!(
            connect_error_class(Some(libc::EMFILE)),
            ErrorClass::Descriptors
        );
        assert_eq!(
            connect_error_class(Some(libc::ECONNREFUSED)),
            ErrorClass::ConnectRefused
        );
        assert_eq!(connect_error_class(None), ErrorClass::Connect);
        let refused = close_class(CloseReason::ConnectFailed, Some(libc::ECONNREFUSED));
        assert_eq!(refused.map(|c| c.0), Some(ErrorClass::ConnectRefused));
        assert_eq!(
            close_class(CloseReason::Peer, None),
            Some((ErrorClass::Closed, "eof".to_string()))
        );
        assert_eq!(close_class(CloseReason::Done, None), None);
    }
}
