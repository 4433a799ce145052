//! One turn of the loop: wait, dispatch, leftovers, timers, free, tidy.

use super::{
    Host, Reactor, SourceId, LISTENER_BASE, REJECT_BASE, SHRINK_OUT_FACTOR, SOURCE_BASE, SPECIAL,
    TIMERFD, TK_CONN, TK_KIND, TK_LISTENER, TK_REJECT, TK_SHUTDOWN, UDP_BASE, WAKER,
};
use crate::conn::{flag, State};
use crate::protocol::Protocol;
use crate::reject;
use mio::Events;
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{Expiration, TimerSetTimeFlags};
use std::io;
use std::time::{Duration, Instant};

impl<P: Protocol> Reactor<P> {
    /// One turn: wait for events at most `timeout` (and no longer than the next timer),
    /// handle them, give the connections left over from last turn their next slice, run
    /// due timers, free closed connections, tidy.
    pub fn turn<H: Host<P>>(&mut self, host: &mut H, timeout: Option<Duration>) -> io::Result<()> {
        self.wait(timeout)?;
        let began = self.sh.now;
        let again = self.take_leftovers();
        let udp_again = self.take_udp_leftovers();
        self.dispatch(host);
        self.run_leftovers(again, host);
        self.run_udp_leftovers(udp_again);
        self.run_timers(host);
        self.free_closed(host);
        if self.closed_any {
            // A descriptor was freed: a paused listener may accept again right now.
            self.closed_any = false;
            for idx in 0..self.listeners.len() {
                if matches!(&self.listeners[idx], Some(l) if l.pause.is_paused()) {
                    self.accept(idx, host);
                }
            }
            self.free_closed(host);
        }
        self.commands();
        self.deliver_posts(host);
        host.after_turn(self);
        self.free_closed(host);
        self.tidy();
        let took = began.elapsed();
        self.sh
            .stats
            .turns
            .record(took.as_nanos().min(u64::MAX as u128) as u64);
        Ok(())
    }

    /// Step 1: poll, with a zero timeout if work is left over, else until the caller's
    /// limit or the earliest timer; `Interrupted` is retried.
    fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.update_now();
        let mut wait = if self.has_leftovers() {
            Some(Duration::ZERO)
        } else {
            timeout
        };
        if let (Some(next), Some((tfd, armed))) =
            (self.sh.timers.next_deadline(), self.timerfd.as_mut())
        {
            if next > self.sh.now_ns && wait != Some(Duration::ZERO) {
                if *armed != Some(next) {
                    let d = Duration::from_nanos(next - self.sh.now_ns);
                    tfd.set(
                        Expiration::OneShot(TimeSpec::from_duration(d)),
                        TimerSetTimeFlags::empty(),
                    )
                    .map_err(io::Error::from)?;
                    *armed = Some(next);
                }
                // The timerfd wakes us on time; epoll's own timeout is left to the
                // caller's limit.
            } else if next <= self.sh.now_ns {
                wait = Some(Duration::ZERO);
            }
        } else if let Some(next) = self.sh.timers.next_deadline() {
            let until = Duration::from_nanos(next.saturating_sub(self.sh.now_ns));
            // A timer due in under a microsecond is waited for as 1 us. Either way the
            // wait stays nonzero, and mio rounds a nonzero timeout up to whole
            // milliseconds (epoll's unit): the poll sleeps instead of spinning, and the
            // timer fires up to 1 ms late (`Config::precise_timers` avoids that).
            let until = until.max(Duration::from_micros(if until.is_zero() { 0 } else { 1 }));
            wait = Some(wait.map_or(until, |w| w.min(until)));
        }
        loop {
            match self.poll.poll(&mut self.events, wait) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        self.sh.stats.polls += 1;
        self.update_now();
        Ok(())
    }

    /// Work left over from the last turn: a connection whose budget ran out, a listener
    /// still ready. The next turn must not wait for events.
    pub(super) fn has_leftovers(&self) -> bool {
        !self.sh.requeue.is_empty()
            || !self.udp_requeue.is_empty()
            || self
                .listeners
                .iter()
                .flatten()
                .any(|l| l.more && !l.pause.is_paused())
    }

    /// The connections whose budget ran out last turn get their next slice after this
    /// turn's events; clearing their flag lets an event of this turn re-queue them.
    fn take_leftovers(&mut self) -> Vec<(usize, u32)> {
        let again = std::mem::take(&mut self.sh.requeue);
        for &(key, gen) in &again {
            if let Some(c) = self.conns.get_mut(key) {
                if c.gen == gen {
                    c.flags &= !flag::REQUEUED;
                }
            }
        }
        again
    }

    /// Step 2: each event to its owner, by token range.
    fn dispatch<H: Host<P>>(&mut self, host: &mut H) {
        // Take the events out so handlers can have &mut self; put them back after.
        let events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        let mut n = 0;
        for ev in events.iter() {
            n += 1;
            let token = ev.token();
            let err = ev.is_error();
            let hup = ev.is_read_closed() || err;
            if token.0 < SPECIAL {
                self.conn_ready(
                    token.0,
                    ev.is_readable() || err,
                    ev.is_writable() || err,
                    hup,
                );
            } else if token == WAKER {
                self.commands();
            } else if token == TIMERFD {
                // Fired: one-shot, and re-arming resets it; no read needed.
                if let Some((_, armed)) = self.timerfd.as_mut() {
                    *armed = None;
                }
            } else if (REJECT_BASE..TIMERFD.0).contains(&token.0) {
                self.reject_ready(token.0 - REJECT_BASE);
            } else if token.0 >= UDP_BASE {
                self.udp_ready(
                    token.0 - UDP_BASE,
                    ev.is_readable() || err,
                    ev.is_writable() || err,
                );
            } else if token.0 >= SOURCE_BASE {
                let id = SourceId(token.0 - SOURCE_BASE);
                if self.sources.contains(id.0) {
                    host.source_ready(self, id, ev);
                }
            } else {
                self.accept(token.0 - LISTENER_BASE, host);
            }
        }
        // A full batch may have left events in the kernel's ready list: a host waiting
        // on the epoll descriptor edge-triggered would get no new edge for them (counted
        // here, in the one pass over the events, rather than in a pass of its own).
        self.events_full = n >= events.capacity();
        self.events = events;
    }

    /// Step 3: work left over from the last turn's budgets, one slice each per turn. A
    /// connection an event of this turn already drove and re-queued waits for the next
    /// turn (its flag is set again); one that finished is driven for nothing. Listeners
    /// whose accept budget ran out accept again.
    fn run_leftovers<H: Host<P>>(&mut self, again: Vec<(usize, u32)>, host: &mut H) {
        for &(key, gen) in &again {
            if self
                .conns
                .get(key)
                .is_some_and(|c| c.gen == gen && c.flags & flag::REQUEUED == 0)
            {
                self.conn_ready(key, false, false, false);
            }
        }
        // Keep the larger allocation for the next turn's list.
        if self.sh.requeue.capacity() < again.capacity() {
            let mut again = again;
            again.clear();
            again.append(&mut self.sh.requeue);
            self.sh.requeue = again;
        }
        for idx in 0..self.listeners.len() {
            if matches!(&self.listeners[idx], Some(l) if l.more && !l.pause.is_paused()) {
                self.accept(idx, host);
            }
        }
    }

    /// End-of-turn housekeeping that keeps memory bounded: drop stale timer reminders
    /// once they outnumber the live ones, and give back the output buffer's capacity
    /// after a burst grew it.
    pub(super) fn tidy(&mut self) {
        if self.sh.timers.needs_compaction() {
            let conns = &self.conns;
            let listeners = &self.listeners;
            let shutdown_at = self.shutdown_at;
            let rejects = &self.rejects;
            let host_timers = &self.host_timers;
            self.sh.timers.compact(|at, key| match key & TK_KIND {
                TK_CONN => conns
                    .get(key as usize)
                    .is_some_and(|c| c.state() != State::Closed && c.deadline.scheduled() == at),
                TK_LISTENER => matches!(
                    listeners.get((key & !TK_KIND) as usize),
                    Some(Some(l)) if l.retry_at == Some(at)
                ),
                TK_SHUTDOWN => shutdown_at == Some(at),
                TK_REJECT => rejects
                    .slots
                    .get((key & !TK_KIND) as usize)
                    .is_some_and(|l| l.until == at),
                _ => host_timers
                    .get((key & !TK_KIND) as usize)
                    .is_some_and(|t| t.at == at),
            });
        }
        if self.cfg.shed_after.is_some() && !self.reserve.is_held() {
            // Opening a descriptor, like accepting one, waits its turn at the gate.
            if let Some(_gate) = reject::gate_shared() {
                self.reserve.refill();
            }
        }
        let keep = self.cfg.read_buffer.max(512);
        if self.sh.out.capacity() > SHRINK_OUT_FACTOR * keep {
            self.sh.out = Vec::with_capacity(keep);
        }
    }

    pub(super) fn update_now(&mut self) {
        self.sh.now = Instant::now();
        self.sh.now_ns = self.sh.ns_of(self.sh.now);
    }
}
