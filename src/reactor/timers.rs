//! The timer pass: connection deadlines, accept retries, lingering rejections, the
//! shutdown deadline and the host's timers.

use super::{
    Host, HostTimer, Reactor, TimerId, TK_CONN, TK_HOST, TK_KIND, TK_LISTENER, TK_REJECT,
    TK_SHUTDOWN,
};
use crate::conn::State;
use crate::protocol::Protocol;
use std::time::Instant;

impl<P: Protocol> Reactor<P> {
    /// Call [`Host::timer`] with `key` (any value: it is the host's) at `at`. The id
    /// cancels it ([`Reactor::cancel_timer`], Redis's `aeDeleteTimeEvent`).
    ///
    /// ```
    /// use readyloop::{protocol::Echo, Config, Reactor};
    /// use std::time::{Duration, Instant};
    /// let mut r: Reactor<Echo> = Reactor::new(Config::default())?;
    /// let id = r.set_timer(Instant::now() + Duration::from_secs(60), u64::MAX);
    /// assert!(r.poll_at().is_some());
    /// assert!(r.cancel_timer(id));
    /// assert!(!r.cancel_timer(id), "already gone");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_timer(&mut self, at: Instant, key: u64) -> TimerId {
        let at = self.sh.ns_of(at);
        let gen = self.fresh_gen();
        let slot = self.host_timers.insert(HostTimer { at, key, gen });
        self.sh.timers.schedule(at, TK_HOST | slot as u64);
        TimerId { slot, gen }
    }

    /// Cancel a timer set with [`Reactor::set_timer`]. Returns false if it already
    /// fired or was cancelled.
    pub fn cancel_timer(&mut self, id: TimerId) -> bool {
        match self.host_timers.get(id.slot) {
            Some(t) if t.gen == id.gen => {
                self.host_timers.remove(id.slot);
                self.sh.timers.forget(); // its reminder is stale now
                true
            }
            _ => false,
        }
    }

    /// Run the reminders due now. Only those due when the pass begins: a callback whose
    /// deadline is due again at once (a protocol whose `poll_at` stays in the past) is
    /// reminded on the next turn, which then polls with a zero timeout, instead of
    /// keeping this turn from ever returning.
    pub(super) fn run_timers<H: Host<P>>(&mut self, host: &mut H) {
        let mut due = std::mem::take(&mut self.due);
        let now = self.sh.now_ns;
        while let Some(e) = self.sh.timers.pop_expired(now) {
            due.push(e);
        }
        for &(at, key) in &due {
            match key & TK_KIND {
                TK_CONN => {
                    let k = key as usize;
                    let Some(c) = self.conns.get_mut(k) else {
                        continue;
                    };
                    if c.state() == State::Closed {
                        continue;
                    }
                    self.sh.last_errno = None;
                    if let Err(reason) = c.on_timer(&mut self.sh, k, at) {
                        self.close_conn(k, reason);
                    }
                }
                TK_LISTENER => {
                    let idx = (key & !TK_KIND) as usize;
                    let Some(Some(l)) = self.listeners.get_mut(idx) else {
                        continue;
                    };
                    if l.retry_at != Some(at) {
                        continue; // superseded by an earlier retry
                    }
                    l.retry_at = None;
                    self.sh.timers.forget();
                    if l.pause.is_paused() || l.deferred {
                        self.accept(idx, host);
                    }
                }
                TK_SHUTDOWN => {
                    if self.shutdown_at != Some(at) {
                        continue;
                    }
                    self.sh.timers.forget();
                    self.cut_all();
                }
                TK_REJECT => {
                    let idx = (key & !TK_KIND) as usize;
                    if self.rejects.slots.get(idx).is_some_and(|l| l.until == at) {
                        self.sh.timers.forget();
                        let mut l = self.rejects.slots.remove(idx);
                        let _ = self.poll.registry().deregister(&mut l.sock);
                    }
                }
                _ => {
                    let slot = (key & !TK_KIND) as usize;
                    if self.host_timers.get(slot).is_some_and(|t| t.at == at) {
                        let t = self.host_timers.remove(slot);
                        self.sh.timers.forget();
                        host.timer(self, t.key);
                    }
                }
            }
        }
        due.clear();
        self.due = due;
    }
}
