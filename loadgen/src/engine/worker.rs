//! The worker: its state, grouped by what each part is for, and the reactor's host
//! callbacks, which hand each event to the room that handles it.

use super::conn::{clients, shared, shared_mut, Conn};
use super::connect::{close_class, Failure, Pending, Slots};
use super::grow::{rate_at, Growth, GROW_STEP};
use super::setup::{Links, Seat};
use super::stages::{follow_stages, target};
use super::ticks::{thread_cpu, Ticker, WorkerResult};
use super::times::{
    Times, TIMER_CONNECT, TIMER_END, TIMER_GROW, TIMER_MEASURE, TIMER_PACE, TIMER_STAGE, TIMER_TICK,
};
use crate::client::{Client, Phase};
use crate::interrupt;
use crate::load::Load;
use readyloop::{CloseReason, ConnId, Host, Reactor};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// The connect phase: the slots opened before the run starts, the connects that failed
/// meanwhile (a slot that failed also counts as tried), and whom to tell once each
/// initial slot connected or failed.
pub(super) struct Startup {
    pub(super) initial: u64,
    pub(super) connect_failures: u64,
    pub(super) ready: Option<mpsc::Sender<()>>,
}

impl Startup {
    /// Tell the thread that starts the run (once) that this worker's connect phase is over.
    pub(super) fn tell_ready(&mut self) {
        if let Some(tx) = self.ready.take() {
            let _ = tx.send(());
        }
    }
}

/// One worker thread's state.
pub(super) struct Worker {
    pub(super) index: usize,
    pub(super) load: Arc<Load>,
    pub(super) times: Times,
    pub(super) slots: Slots,
    pub(super) startup: Startup,
    pub(super) growth: Growth,
    pub(super) ticker: Ticker,
}

/// Run one worker to the end.
pub(super) fn run_worker(seat: Seat, links: Links) -> std::io::Result<WorkerResult> {
    let created = Instant::now();
    let mut r = seat.reactor(created)?;
    let initial = seat.initial();
    let pending = (0..initial)
        .map(|j| Pending {
            slot: j,
            schedule: seat.schedule(created, j),
        })
        .collect();
    let far = shared(&r).plan.end;
    let mut w = Worker {
        index: seat.index,
        load: seat.load.clone(),
        times: Times {
            base: seat.base,
            created,
            started: None,
            measure_start: far,
            end: far,
            ended_at: None,
        },
        slots: Slots::new(&seat, pending, created),
        startup: Startup {
            initial: initial as u64,
            connect_failures: 0,
            ready: Some(links.ready),
        },
        growth: Growth::new(initial, seat.max_slots(initial)),
        ticker: Ticker::new(links.ticks),
    };
    if let Some(i) = &seat.interrupt {
        i.register(r.handle());
    }
    let _ = links.hello.send((seat.index, r.handle()));
    w.open_pending(&mut r);
    if initial == 0 {
        // Nothing to open first (closed-loop stages from 0): ready now, not after a turn
        // that no event would start.
        w.startup.tell_ready();
    }
    r.run(&mut w)?;
    // Closes in the run's last turn may have censored requests after `finish` reported
    // the last second.
    w.ticker.tick_late(&mut r, w.index);
    let rec = std::mem::take(&mut shared_mut(&mut r).rec);
    let mut result = w.ticker.result(rec, &w.times, w.growth.peak_open);
    result.connects_by_addr = std::mem::take(&mut w.slots.connects_by_addr);
    result.tls = r.context().stats;
    Ok(result)
}

impl Worker {
    /// The run starts at `t0`: the warm-up and the measurement are timed from it,
    /// every timeline moves to it, and every client is woken for it.
    fn start(&mut self, r: &mut Reactor<Conn>, t0: Instant) {
        let t = &mut self.times;
        t.started = Some(t0);
        t.measure_start = t0 + self.load.warmup;
        t.end = t.measure_start + self.load.duration;
        let shift = t0.saturating_duration_since(t.created);
        let sh = shared_mut(r);
        sh.plan.start = Some(t0);
        sh.plan.record_from = t.measure_start;
        sh.plan.end = t.end;
        let (clients, _) = clients(r);
        for (_, c) in clients {
            if let Some(s) = c.schedule_mut() {
                s.shift(shift);
            }
        }
        for s in self.slots.schedules_mut() {
            s.shift(shift);
        }
        r.set_timer(t.end, TIMER_END);
        r.set_timer(t.measure_start, TIMER_MEASURE);
        if self.load.conn_stages().is_some() {
            self.follow_stages(r);
        }
        if self.growth.can_grow() {
            r.set_timer(t0 + GROW_STEP, TIMER_GROW);
        }
        // The clients' wake-up times depend on the plan just changed.
        r.rearm_timers();
    }

    /// A connection closed: count how, and reopen its slot unless the run is over for
    /// it (see [`Worker::reopen`]).
    fn on_close(
        &mut self,
        r: &mut Reactor<Conn>,
        (id, mut c): (ConnId, Client),
        reason: CloseReason,
        errno: Option<i32>,
    ) {
        let slot = self.slots.release(id);
        let failed_connect = matches!(
            reason,
            CloseReason::ConnectFailed | CloseReason::ConnectTimeout
        );
        if c.phase() != Phase::Finished || failed_connect {
            let now = r.now();
            c.on_closed(shared_mut(r), now, close_class(reason, errno));
        }
        if let Some(end) = self.times.ended_at {
            // Closed in the turn the run ended, after `finish` looked at the open
            // connections: its slot still owes the requests that fell due unsent.
            if let Some(mut s) = c.into_schedule() {
                let sh = shared_mut(r);
                let due_by = end.min(sh.plan.end);
                sh.rec.censor_unsent(&mut s, sh.plan.record_from, due_by);
            }
            return;
        }
        // Before the close is accounted for below: the client knows how it ended.
        let protocol_failure = c.protocol_failure();
        if c.retiring() {
            // Closed-loop stages retired it: the slot is not reopened.
            return;
        }
        if self.times.started.is_some() && shared(r).plan.budget_spent() {
            // -n: all N requests went out; a slot has nothing left to send.
            return;
        }
        if failed_connect && self.times.started.is_none() {
            self.startup.connect_failures += 1;
        }
        self.reopen(r, slot, c);
        if failed_connect {
            self.slots.arm_retry(r, Failure::Connect);
        } else if protocol_failure {
            // A server that fails every connection at once would otherwise take
            // thousands a second (19,000 against an echo server).
            self.slots.arm_retry(r, Failure::Protocol);
        } else {
            self.slots.open_unless_retrying(r, self.times.open_until());
        }
    }

    /// Put a closed connection's slot back among those waiting, keeping its schedule
    /// (open loop) so the reconnect's cost shows in the corrected latency of the next
    /// request, and its number, so it reconnects to the same address.
    fn reopen(&mut self, r: &mut Reactor<Conn>, slot: usize, c: Client) {
        let skip_to = self.times.measure_start.min(r.now());
        let started = self.times.started.is_some();
        let schedule = c.into_schedule().map(|mut s| {
            // Due times that passed during the warm-up while reconnecting are not owed
            // to the measurement; the timeline keeps its phase. (Before the start the
            // timeline is provisional: it moves to the start as it is.)
            if started {
                s.skip_to(skip_to);
            }
            s
        });
        self.slots.pending.push_back(Pending { slot, schedule });
    }

    /// The warm-up is over: the measurement's CPU time and wall-clock start are taken.
    fn begin_measuring(&mut self, r: &mut Reactor<Conn>) {
        // Nothing is recorded before `record_from`, so the interval histogram is empty
        // here; resetting it would drop replies this turn already recorded.
        self.ticker.cpu_start = Some(thread_cpu());
        self.ticker.measure_start_unix_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs_f64());
        self.ticker.interval_start = shared(r).rec.completed;
        r.set_timer(
            self.times.measure_start + Duration::from_secs(1),
            TIMER_TICK,
        );
    }

    /// Open the waiting slots while the run is on.
    fn open_pending(&mut self, r: &mut Reactor<Conn>) {
        self.slots.open_pending(r, self.times.open_until());
    }

    /// Closed-loop stages: bring the connections to this worker's share of the target.
    fn follow_stages(&mut self, r: &mut Reactor<Conn>) {
        let (Some(p), Some(t0)) = (self.load.conn_stages(), self.times.started) else {
            return;
        };
        let t = r.now().saturating_duration_since(t0).as_secs_f64();
        let load = &self.load;
        let want = target(p, t, (load.threads(), self.index), |n| load.own(n));
        follow_stages(r, &mut self.slots, want, self.times.open_until());
    }

    /// `--max-connections`: add connections if this worker's rate now needs them.
    fn grow(&mut self, r: &mut Reactor<Conn>) {
        let Some(t0) = self.times.started else {
            return;
        };
        let t = r.now().saturating_duration_since(t0).as_secs_f64();
        let rate = rate_at(&self.load, self.index, t);
        self.growth
            .grow(r, &mut self.slots, rate, self.times.open_until());
    }

    /// The run is over for this worker (its end, an interrupt, `-n` done): count what
    /// is still in flight and owed, report the last second, stop the reactor.
    fn finish(&mut self, r: &mut Reactor<Conn>) {
        if self.times.ended() {
            return;
        }
        let now = r.now();
        self.times.ended_at = Some(now);
        self.growth.sample_open(r);
        let (clients, sh) = clients(r);
        for (_, c) in clients {
            c.on_run_end(sh, now);
        }
        // Slots waiting to reconnect owe the requests that fell due meanwhile (-n:
        // nothing is owed once N went out).
        let (from, due_by) = (sh.plan.record_from, now.min(sh.plan.end));
        if !sh.plan.budget_spent() {
            for s in self.slots.schedules_mut() {
                sh.rec.censor_unsent(s, from, due_by);
            }
        }
        // After the censoring above, so the interval log has those requests too.
        self.ticker.last(r, self.index, &self.times);
        self.ticker.stop_cpu();
        r.stop();
    }

    /// -n: the budget is spent and every request of this worker answered or failed.
    fn all_answered(&self, r: &Reactor<Conn>) -> bool {
        let sh = shared(r);
        let rec = &sh.rec;
        let outstanding = rec
            .sent
            .saturating_sub(rec.completed + rec.failed + rec.in_flight_end);
        sh.plan.budget_spent() && outstanding == 0
    }
}

impl Host<Conn> for Worker {
    fn closed(
        &mut self,
        r: &mut Reactor<Conn>,
        id: ConnId,
        c: Conn,
        reason: CloseReason,
        errno: Option<i32>,
    ) {
        // A handshake a timeout or a reset cut is counted as failed, by that cause.
        c.count_close(reason, &mut r.context_mut().stats);
        self.on_close(r, (id, c.into_inner()), reason, errno);
    }

    fn timer(&mut self, r: &mut Reactor<Conn>, key: u64) {
        match key {
            TIMER_PACE => {
                self.slots.pace_armed = false;
                if !self.slots.retry_armed {
                    self.open_pending(r);
                }
            }
            TIMER_CONNECT => {
                self.slots.retry_armed = false;
                self.open_pending(r);
            }
            TIMER_MEASURE => self.begin_measuring(r),
            TIMER_TICK => self.ticker.tick(r, self.index, &self.times),
            TIMER_STAGE => self.follow_stages(r),
            TIMER_GROW => self.grow(r),
            TIMER_END => self.finish(r),
            _ => {}
        }
    }

    fn posted(&mut self, r: &mut Reactor<Conn>, value: u64) {
        if value == interrupt::STOP {
            // Interrupted: end the run now, exactly as the end timer would.
            self.finish(r);
        } else if self.times.started.is_none() && !self.times.ended() {
            self.start(r, self.times.base + Duration::from_nanos(value));
        }
    }

    fn after_turn(&mut self, r: &mut Reactor<Conn>) {
        if self.times.started.is_some() && !self.times.ended() && self.all_answered(r) {
            self.finish(r);
            return;
        }
        // The connect phase ends for this worker once every initial slot connected
        // or failed: say so (once) to the thread that starts the run.
        if self.times.started.is_none() && self.startup.ready.is_some() {
            let done = shared(r).rec.connects_ok + self.startup.connect_failures;
            if done >= self.startup.initial {
                self.startup.tell_ready();
            }
        }
    }
}
