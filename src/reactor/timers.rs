//! The timer pass: connection deadlines, accept retries, lingering rejections, the
//! shutdown deadline and the host's timers.

use super::*;

impl<P: Protocol> Reactor<P> {
    /// Call [`Host::timer`] with `key` at `at`. Keys are the host's, 56 bits wide: the
    /// top 8 bits are masked off (the reactor uses them for its own timer kinds), so
    /// `key` and `key | 1 << 60` name the same timer.
    pub fn set_timer(&mut self, at: Instant, key: u64) {
        let ns = self.sh.ns_of(at);
        self.sh.timers.schedule(ns, TK_HOST | (key & !TK_KIND));
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
                    if c.state == State::Closed {
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
                    self.sh.timers.forget();
                    host.timer(self, key & !TK_KIND)
                }
            }
        }
        due.clear();
        self.due = due;
    }
}
