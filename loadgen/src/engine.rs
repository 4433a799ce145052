//! Worker threads, each running its own readyloop [`Reactor`] whose outbound
//! connections are the clients.
//!
//! A worker keeps its share of the connections open (reopening any that close, paced
//! by `--connect-rate`), sends its share of the open-loop rate, snapshots a corrected
//! histogram each second for the interval log and the progress line, and stops itself
//! at the end of the run, counting what is still in flight.

use crate::client::{Client, Phase, Plan, Shared};
use crate::framing::Framing;
use crate::interrupt::{self, Interrupt};
use crate::record::{new_histogram, ErrorClass, Recorder};
use crate::result::{CpuTime, Interval};
use crate::schedule::{Clock, Profile, Rate, Schedule, Share};
use hdrhistogram::Histogram;
use readyloop::{CloseReason, Config, ConnId, ConnLimits, ConnectOptions, Host, Reactor};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::atomic::AtomicU64;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Everything a run needs to know about its load.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    /// Where to connect.
    pub target: SocketAddr,
    /// Connections kept open, over all workers.
    pub connections: usize,
    /// Open loop: add connections, up to this many over all workers, when the rate
    /// times the mean latency needs more than are open (k6's maxVUs); `None`: never.
    pub max_connections: Option<usize>,
    /// Worker threads.
    pub threads: usize,
    /// New connections per second over all workers (`None`: as fast as possible).
    pub connect_rate: Option<f64>,
    /// Total requests per second (open loop); `None`: closed loop.
    pub rate: Option<f64>,
    /// Measured time.
    pub duration: Duration,
    /// Discarded time before measuring.
    pub warmup: Duration,
    /// The request bytes.
    pub request: Vec<u8>,
    /// The request is an HTTP HEAD.
    pub head: bool,
    /// `--targets`: a mix of requests chosen per write (then `request` is unused).
    pub mix: Option<Arc<crate::mix::Mix>>,
    /// How replies end.
    pub framing: Framing,
    /// Close and reopen each connection after this many replies.
    pub per_conn: Option<u64>,
    /// `-n`: send exactly this many requests after the warm-up, then end the run once
    /// they are answered (or failed); `duration` still caps it.
    pub requests: Option<u64>,
    /// Writes of the request each connection may have in flight (`--pipeline`, >= 1).
    pub pipeline: usize,
    /// `--stages`: the open-loop rate over time (then `rate` is its average).
    pub stages: Option<Arc<Profile>>,
    /// `--stages ... --closed`: the number of connections over time, closed loop
    /// (`connections` is then its peak).
    pub conn_stages: Option<Arc<Profile>>,
    /// Response timeout.
    pub timeout: Option<Duration>,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Source addresses to bind, round robin (`IP_BIND_ADDRESS_NO_PORT`).
    pub sources: Vec<IpAddr>,
    /// Set TCP_NODELAY on client sockets.
    pub nodelay: bool,
    /// Stops the workers early on SIGINT/SIGTERM (`None`: only the clock ends the run).
    pub interrupt: Option<Arc<Interrupt>>,
}

/// A per-second report from one worker.
#[derive(Debug)]
pub struct Tick {
    /// Worker index.
    pub worker: usize,
    /// Interval index since the start of measurement (0-based).
    pub index: usize,
    /// Corrected latencies of this interval.
    pub corrected: Histogram<u64>,
    /// Replies completed in this interval (all, warm-up included when index is None).
    pub completed: u64,
    /// Raw latencies of this interval.
    pub raw: Histogram<u64>,
    /// Errors so far (cumulative).
    pub errors: u64,
    /// The worker's books so far (cumulative): what live `--slo` checks judge.
    pub totals: Totals,
    /// Wall-clock time (seconds since the epoch) when the worker's measurement began
    /// (`None` before): what the streamed interval log's StartTime is, as
    /// [`WorkerResult::measure_start_unix_s`] is the end-of-run one.
    pub measure_start_unix_s: Option<f64>,
}

/// One worker's cumulative counts, sent with each [`Tick`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Responses measured.
    pub measured: u64,
    /// Requests failed.
    pub failed: u64,
    /// Error replies (RESP `-ERR`).
    pub error_replies: u64,
    /// HTTP responses outside 2xx/3xx.
    pub non2xx: u64,
}

impl Totals {
    fn of(rec: &Recorder) -> Totals {
        Totals {
            measured: rec.measured,
            failed: rec.failed,
            error_replies: rec.errors_of(ErrorClass::RespError),
            non2xx: rec.non_2xx_3xx(),
        }
    }
}

/// What one worker hands back.
#[derive(Debug)]
pub struct WorkerResult {
    /// Its numbers.
    pub rec: Recorder,
    /// Its thread's CPU time during measurement.
    pub cpu: CpuTime,
    /// How long it measured: the duration, or less when the run was interrupted.
    pub measured: Duration,
    /// Wall-clock time (seconds since the epoch) when its measurement began, read
    /// then (not derived afterwards): the interval log's StartTime.
    pub measure_start_unix_s: Option<f64>,
    /// How long its connect phase took: from its start to the run's start (`None`:
    /// the run never started, e.g. interrupted while connecting).
    pub connect_phase: Option<Duration>,
    /// The most connections it had open at once, sampled every 100 ms while
    /// `--max-connections` may add some, and at the end.
    pub peak_open: usize,
    /// How much of the warm-up ran: all of it once the measurement began, less when the
    /// run ended in it (interrupted), zero when the run never started.
    pub warmup_ran: Duration,
}

/// Retry connecting after a failed connect (backoff).
const TIMER_CONNECT: u64 = 1;
/// The next paced connect (`--connect-rate`): a key of its own, so pacing and the
/// retry backoff never clear each other's flag.
const TIMER_PACE: u64 = 5;
const TIMER_TICK: u64 = 2;
const TIMER_END: u64 = 3;
const TIMER_MEASURE: u64 = 4;
/// Closed-loop stages: bring the connections to the current target.
const TIMER_STAGE: u64 = 6;
/// How often the connection target of closed-loop stages is followed.
const STAGE_STEP: Duration = Duration::from_millis(20);
/// `--max-connections`: look whether more connections are needed.
const TIMER_GROW: u64 = 7;
/// How often: often enough to follow a ramp, seldom enough that each look sees replies.
const GROW_STEP: Duration = Duration::from_millis(100);
/// Connections open beyond rate x mean latency: Little's law gives the mean in flight,
/// and the requests arrive unevenly around it.
const GROW_HEADROOM: f64 = 1.25;
/// The most backlog requests handed over one by one when connections are added.
const MAX_HANDED: u64 = 1 << 20;

/// How long to wait before reopening after a failed connect or a protocol failure,
/// doubling to a second: never spin on a target that refuses, or that accepts every
/// connection and answers in another protocol.
const RETRY_MIN: Duration = Duration::from_millis(10);
const RETRY_MAX: Duration = Duration::from_secs(1);

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
enum Failure {
    /// A connect failed (refused, timed out, no port or descriptor).
    Connect,
    /// A connection failed in a way that says the server speaks another protocol
    /// ([`Client::protocol_failure`]).
    Protocol,
}

/// One slot = one of the connections a worker keeps; it carries its open-loop schedule
/// across reconnects so connect time is part of the next request's corrected latency.
struct Pending {
    /// Open loop: the slot's timeline. `None`: closed loop.
    schedule: Option<Schedule>,
}

struct Worker {
    index: usize,
    spec: Rc<LoadSpec>,
    opts: ConnectOptions,
    /// Slots waiting to (re)connect.
    pending: VecDeque<Pending>,
    /// One connect per this interval at most (`--connect-rate`), else `None`.
    connect_every: Option<Duration>,
    next_connect: Instant,
    /// After failed connects; starts over once a connect completes.
    connect_backoff: Backoff,
    /// After protocol failures; starts over once a reply completes (a connect proves
    /// nothing: a server of another protocol accepts every one).
    protocol_backoff: Backoff,
    /// A retry timer is set (one for both backoffs: it reopens every waiting slot).
    retry_armed: bool,
    /// A pacing timer is set (one at a time, however many slots wait).
    pace_armed: bool,
    source_rr: usize,
    tx: mpsc::Sender<Tick>,
    tick_index: usize,
    interval_start: u64,
    measure_start: Instant,
    end: Instant,
    ended: bool,
    cpu_start: Option<CpuTime>,
    cpu: CpuTime,
    /// When the run ended for this worker (the end timer, or an interrupt).
    ended_at: Option<Instant>,
    /// Wall-clock seconds since the epoch when measurement began.
    measure_start_unix_s: Option<f64>,
    /// The connect phase: the slots it opens before the run starts, and the connects
    /// that failed meanwhile (a slot that failed also counts as tried).
    initial: u64,
    connect_failures: u64,
    /// Told once, when every initial slot connected or failed: (worker, when).
    ready: Option<mpsc::Sender<usize>>,
    /// The instant all START offsets are measured from (shared by every worker).
    base: Instant,
    /// When this worker began connecting, and when the run started (START).
    created: Instant,
    started: Option<Instant>,
    /// Where the provisional timelines were anchored (moved to the real start).
    provisional: Instant,
    /// Open-loop slots dealt so far (`--max-connections` adds to them).
    slots: usize,
    /// `--max-connections`: this worker's share of the most.
    max_slots: usize,
    /// (replies, their raw latencies summed) at the last look, for the mean since.
    grow_seen: (u64, u64),
    /// The most connections seen open at once (sampled at each look and at the end).
    peak_open: usize,
}

impl Worker {
    fn open_pending(&mut self, r: &mut Reactor<Client>) {
        let now = r.now();
        while let Some(p) = self.pending.front() {
            if self.ended || now >= self.end {
                return;
            }
            if let Some(every) = self.connect_every {
                if now < self.next_connect {
                    if !self.pace_armed {
                        self.pace_armed = true;
                        r.set_timer(self.next_connect, TIMER_PACE);
                    }
                    return;
                }
                self.next_connect = self
                    .next_connect
                    .max(now - every.min(Duration::from_millis(50)))
                    + every;
            }
            let schedule = p.schedule.clone();
            if !self.spec.sources.is_empty() {
                self.opts.source =
                    Some(self.spec.sources[self.source_rr % self.spec.sources.len()]);
                self.source_rr += 1;
            }
            let sh = r.context_mut();
            let client = Client::new(&sh.plan, now, schedule);
            sh.rec.connects_tried += 1;
            match r.connect(self.spec.target, &self.opts, client) {
                Ok(_) => {
                    // Not a success yet: on loopback a refusal comes after connect()
                    // returned EINPROGRESS. The backoff restarts only once a connect
                    // completed (see `arm_retry`).
                    self.pending.pop_front();
                }
                Err((e, _client)) => {
                    // No socket or no port: count it, leave the slot pending, retry
                    // later with backoff (and never in a tight loop).
                    let errno = e.raw_os_error();
                    let class = match errno {
                        Some(libc::EMFILE | libc::ENFILE) => ErrorClass::Descriptors,
                        Some(libc::ECONNREFUSED) => ErrorClass::ConnectRefused,
                        _ => ErrorClass::Connect,
                    };
                    r.context_mut().rec.error(class, &errno_detail(errno));
                    self.arm_retry(r, Failure::Connect);
                    return;
                }
            }
        }
    }

    /// Reopen the waiting slots after a backoff for `why` (if no retry is set yet).
    fn arm_retry(&mut self, r: &mut Reactor<Client>, why: Failure) {
        // The target is back once a connect completed since the last failed connect,
        // or a reply since the last protocol failure: the backoff starts over.
        let rec = &r.context().rec;
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

    /// Closed-loop stages: open slots while fewer than this worker's share of the
    /// target are live; above it, drop waiting slots, then retire connections (each
    /// closes after its reply in flight, and its slot is not reopened).
    fn follow_stages(&mut self, r: &mut Reactor<Client>) {
        let (Some(p), Some(t0)) = (self.spec.conn_stages.clone(), self.started) else {
            return;
        };
        if self.ended {
            return;
        }
        let t = r.now().saturating_duration_since(t0).as_secs_f64();
        let total = p.rate_at(t.min(p.duration() - 1e-9)).round() as usize;
        let want = share(total, self.spec.threads, self.index);
        let open = |c: &Client| c.phase() != Phase::Finished && !c.retiring();
        let live = r.protocols_mut().0.filter(|(_, c)| open(c)).count() + self.pending.len();
        if live < want {
            for _ in live..want {
                self.pending.push_back(Pending { schedule: None });
            }
            if !self.retry_armed {
                self.open_pending(r);
            }
        } else if live > want {
            let mut surplus = live - want;
            while surplus > 0 && self.pending.pop_back().is_some() {
                surplus -= 1;
            }
            let (clients, _) = r.protocols_mut();
            for (_, c) in clients.filter(|(_, c)| open(c)).take(surplus) {
                c.retire();
            }
        }
        r.set_timer(r.now() + STAGE_STEP, TIMER_STAGE);
    }

    /// `--max-connections`: add slots when this worker's rate times the mean latency
    /// since the last look (the oldest request's age, if none came back) needs more
    /// than it has, with [`GROW_HEADROOM`], at most doubling at each look. The requests
    /// not yet due are dealt again over all slots, the new ones included; a new slot's
    /// first requests wait for its connect, and that wait is in their corrected latency.
    fn grow(&mut self, r: &mut Reactor<Client>) {
        let Some(t0) = self.started else {
            return;
        };
        if self.ended || self.slots >= self.max_slots || r.context().plan.budget_spent() {
            // Nothing to add (or -n sent its N: a new connection would send nothing).
            return;
        }
        r.set_timer(r.now() + GROW_STEP, TIMER_GROW);
        self.sample_open(r);
        let now = r.now();
        let rec = &r.context().rec;
        let (n, sum) = (rec.completed, rec.raw_sum_us);
        let (dn, ds) = (n - self.grow_seen.0, sum.saturating_sub(self.grow_seen.1));
        self.grow_seen = (n, sum);
        let depth = r.context().plan.depth as f64;
        let (clients, _) = r.protocols_mut();
        let mut oldest: Option<Instant> = None;
        let mut template = None;
        let mut held = 0;
        for (_, c) in clients {
            if let Some(at) = c.oldest_sent_at() {
                oldest = Some(oldest.map_or(at, |o: Instant| o.min(at)));
            }
            if let Some(s) = c.schedule_mut() {
                held += 1;
                template.get_or_insert_with(|| s.clone());
            }
        }
        for p in &self.pending {
            if let Some(s) = &p.schedule {
                held += 1;
                template.get_or_insert_with(|| s.clone());
            }
        }
        let Some(template) = template else {
            return;
        };
        if held != self.slots {
            // A slot is between its close and its reopening: look again next time.
            return;
        }
        let latency_s = if dn > 0 {
            ds as f64 / dn as f64 / 1e6
        } else {
            oldest.map_or(0.0, |o| now.saturating_duration_since(o).as_secs_f64())
        };
        let t = now.saturating_duration_since(t0).as_secs_f64();
        let rate = self.rate_at(t);
        let need = (rate * latency_s * GROW_HEADROOM / depth).ceil() as usize;
        if need <= self.slots {
            return;
        }
        // At least an eighth more each time (so a long ramp deals again a few dozen
        // times, not once per connection), at most twice as many.
        let want = need
            .max(self.slots + (self.slots / 8).max(1))
            .min(self.slots * 2 + 1)
            .min(self.max_slots);
        let Some(cut) = template.cut_at(now) else {
            return;
        };
        // No lower than any request already taken: the clock's count of what is due
        // and its due times agree only to the nanosecond.
        let (clients, _) = r.protocols_mut();
        let floor = clients
            .filter_map(|(_, c)| c.schedule_mut().map(|s| s.taken_floor()))
            .chain(
                self.pending
                    .iter()
                    .filter_map(|p| p.schedule.as_ref().map(Schedule::taken_floor)),
            )
            .max()
            .unwrap_or(0);
        let cut = cut.max(floor);
        // Every slot gives up what it had not taken: the requests not yet due, dealt
        // again over all the slots, and its backlog (fallen due while it was busy),
        // shared out among them all, so the new connections take it on too. A backlog
        // too big to hand over one by one stays where it is.
        let (clients, _) = r.protocols_mut();
        let backlog: u64 = clients
            .filter_map(|(_, c)| c.schedule_mut().map(|s| s.unsent_by(now)))
            .sum::<u64>()
            + self
                .pending
                .iter()
                .filter_map(|p| p.schedule.as_ref().map(|s| s.unsent_by(now)))
                .sum::<u64>();
        let keep = backlog > MAX_HANDED;
        let mut owed: Vec<u64> = Vec::new();
        let (clients, _) = r.protocols_mut();
        for (_, c) in clients {
            if let Some(s) = c.schedule_mut() {
                owed.extend(s.give_up_from(cut, keep));
            }
        }
        for p in self.pending.iter_mut() {
            if let Some(s) = p.schedule.as_mut() {
                owed.extend(s.give_up_from(cut, keep));
            }
        }
        owed.sort_unstable();
        let mut parts: Vec<Vec<u64>> = vec![Vec::new(); want];
        for (i, m) in owed.into_iter().enumerate() {
            parts[i % want].push(m);
        }
        let mut parts = parts.into_iter();
        let mut k = 0u64;
        let (clients, _) = r.protocols_mut();
        for (_, c) in clients {
            if let Some(s) = c.schedule_mut() {
                s.deal_again(parts.next().unwrap_or_default(), cut, k, want as u64);
                k += 1;
            }
        }
        for p in self.pending.iter_mut() {
            if let Some(s) = p.schedule.as_mut() {
                s.deal_again(parts.next().unwrap_or_default(), cut, k, want as u64);
                k += 1;
            }
        }
        for j in self.slots..want {
            let schedule = template.joining().map(|mut s| {
                s.deal_again(parts.next().unwrap_or_default(), cut, j as u64, want as u64);
                s
            });
            self.pending.push_back(Pending { schedule });
        }
        self.slots = want;
        if !self.retry_armed {
            self.open_pending(r);
        }
        // The dealt timelines changed: the clients' wake-ups with them.
        r.rearm_timers();
    }

    /// Note how many connections are open now (the most is reported).
    fn sample_open(&mut self, r: &mut Reactor<Client>) {
        let (clients, _) = r.protocols_mut();
        let open = clients
            .filter(|(_, c)| !matches!(c.phase(), Phase::Connecting | Phase::Finished))
            .count();
        self.peak_open = self.peak_open.max(open);
    }

    /// This worker's part of the open-loop rate `t` s after the start.
    fn rate_at(&self, t: f64) -> f64 {
        let whole = match (&self.spec.stages, self.spec.rate) {
            (Some(p), _) => p.rate_at(t.min(p.duration() - 1e-9)),
            (None, Some(r)) => r,
            (None, None) => 0.0,
        };
        whole * self.initial_share()
    }

    /// This worker's share of the run's requests: its initial slots' share.
    fn initial_share(&self) -> f64 {
        share(self.spec.connections, self.spec.threads, self.index) as f64
            / self.spec.connections.max(1) as f64
    }

    fn tick(&mut self, r: &mut Reactor<Client>) {
        let rec = &mut r.context_mut().rec;
        let corrected = std::mem::replace(&mut rec.interval, new_histogram());
        let raw = std::mem::replace(&mut rec.interval_raw, new_histogram());
        let completed = rec.completed - self.interval_start;
        self.interval_start = rec.completed;
        let errors = rec.error_total();
        let _ = self.tx.send(Tick {
            worker: self.index,
            index: self.tick_index,
            corrected,
            raw,
            completed,
            errors,
            totals: Totals::of(rec),
            measure_start_unix_s: self.measure_start_unix_s,
        });
        self.tick_index += 1;
        let next = self.measure_start + Duration::from_secs(self.tick_index as u64 + 1);
        if next <= self.end {
            r.set_timer(next, TIMER_TICK);
        }
    }

    /// The run starts at `t0`: the warm-up and the measurement are timed from it,
    /// every timeline moves to it, and every client is woken for it.
    fn start(&mut self, r: &mut Reactor<Client>, t0: Instant) {
        self.started = Some(t0);
        self.measure_start = t0 + self.spec.warmup;
        self.end = self.measure_start + self.spec.duration;
        let shift = t0.saturating_duration_since(self.provisional);
        let sh = r.context_mut();
        sh.plan.start = Some(t0);
        sh.plan.record_from = self.measure_start;
        sh.plan.end = self.end;
        let (clients, _) = r.protocols_mut();
        for (_, c) in clients {
            if let Some(s) = c.schedule_mut() {
                s.shift(shift);
            }
        }
        for p in self.pending.iter_mut() {
            if let Some(s) = p.schedule.as_mut() {
                s.shift(shift);
            }
        }
        r.set_timer(self.end, TIMER_END);
        r.set_timer(self.measure_start, TIMER_MEASURE);
        if self.spec.conn_stages.is_some() {
            self.follow_stages(r);
        }
        if self.max_slots > self.slots {
            r.set_timer(t0 + GROW_STEP, TIMER_GROW);
        }
        // The clients' wake-up times depend on the plan just changed.
        r.rearm_timers();
    }

    /// What was recorded since the last second was reported (censored at the run's
    /// end, in `finish` or by a close in the same turn) joins that second, so the
    /// intervals hold every latency the run's histogram does.
    fn tick_late(&mut self, r: &mut Reactor<Client>) {
        if self.tick_index == 0 {
            return;
        }
        let rec = &mut r.context_mut().rec;
        if rec.interval.is_empty() {
            return;
        }
        let corrected = std::mem::replace(&mut rec.interval, new_histogram());
        let raw = std::mem::replace(&mut rec.interval_raw, new_histogram());
        let errors = rec.error_total();
        let _ = self.tx.send(Tick {
            worker: self.index,
            index: self.tick_index - 1,
            corrected,
            raw,
            completed: 0,
            errors,
            totals: Totals::of(rec),
            measure_start_unix_s: self.measure_start_unix_s,
        });
    }

    fn finish(&mut self, r: &mut Reactor<Client>) {
        if self.ended {
            return;
        }
        self.ended = true;
        self.ended_at = Some(r.now());
        self.sample_open(r);
        let now = r.now();
        let (clients, sh) = r.protocols_mut();
        for (_, c) in clients {
            c.on_run_end(sh, now);
        }
        // Slots waiting to reconnect owe the requests that fell due meanwhile.
        let (from, due_by) = (sh.plan.record_from, now.min(sh.plan.end));
        let spent = sh.plan.budget_spent(); // -n: nothing is owed once N went out
        for p in self.pending.iter_mut().filter(|_| !spent) {
            if let Some(s) = p.schedule.as_mut() {
                sh.rec.censor_unsent(s, from, due_by);
            }
        }
        // A last partial interval, if the run did not end on a second boundary (after
        // the censoring above, so the interval log has those requests too). If the
        // last whole second was already reported, what was censored since joins it.
        if self.measure_start + Duration::from_secs(self.tick_index as u64) < self.end {
            self.tick(r);
        } else {
            self.tick_late(r);
        }
        let now_cpu = thread_cpu();
        if let Some(start) = self.cpu_start {
            self.cpu = CpuTime {
                user_s: now_cpu.user_s - start.user_s,
                sys_s: now_cpu.sys_s - start.sys_s,
            };
        }
        r.stop();
    }
}

fn errno_detail(errno: Option<i32>) -> String {
    errno.map_or_else(|| "unknown".to_string(), readyloop::stats::errno_name)
}

/// Map a reactor close to an error class (for closes the client did not decide).
fn close_class(reason: CloseReason, errno: Option<i32>) -> Option<(ErrorClass, String)> {
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

impl Host<Client> for Worker {
    fn closed(
        &mut self,
        r: &mut Reactor<Client>,
        _id: ConnId,
        mut c: Client,
        reason: CloseReason,
        errno: Option<i32>,
    ) {
        if c.phase() != Phase::Finished
            || matches!(
                reason,
                CloseReason::ConnectFailed | CloseReason::ConnectTimeout
            )
        {
            let now = r.now();
            c.on_closed(r.context_mut(), now, close_class(reason, errno));
        }
        if self.ended {
            // Closed in the turn the run ended, after `finish` looked at the open
            // connections: its slot still owes the requests that fell due unsent.
            if let (Some(mut s), Some(end)) = (c.into_schedule(), self.ended_at) {
                let sh = r.context_mut();
                let due_by = end.min(sh.plan.end);
                sh.rec.censor_unsent(&mut s, sh.plan.record_from, due_by);
            }
            return;
        }
        let failed_connect = matches!(
            reason,
            CloseReason::ConnectFailed | CloseReason::ConnectTimeout
        );
        // Before the close is accounted for below: the client knows how it ended.
        let protocol_failure = c.protocol_failure();
        if c.retiring() {
            // Closed-loop stages retired it: the slot is not reopened.
            return;
        }
        if self.started.is_some() && r.context().plan.budget_spent() {
            // -n: all N requests went out; a slot has nothing left to send.
            return;
        }
        if failed_connect && self.started.is_none() {
            self.connect_failures += 1;
        }
        // Reopen the slot, keeping its schedule (open loop) so the reconnect's cost shows
        // in the corrected latency of the next request.
        let now = r.now();
        let skip_to = self.measure_start.min(now);
        let started = self.started.is_some();
        let schedule = c.into_schedule().map(|mut s| {
            // Due times that passed during the warm-up while reconnecting are not owed
            // to the measurement; the timeline keeps its phase. (Before the start the
            // timeline is provisional: it moves to the start as it is.)
            if started {
                s.skip_to(skip_to);
            }
            s
        });
        self.pending.push_back(Pending { schedule });
        if failed_connect {
            self.arm_retry(r, Failure::Connect);
        } else if protocol_failure {
            // A server that fails every connection at once would otherwise take
            // thousands a second (19,000 against an echo server).
            self.arm_retry(r, Failure::Protocol);
        } else if !self.retry_armed {
            self.open_pending(r);
        }
    }

    fn timer(&mut self, r: &mut Reactor<Client>, key: u64) {
        match key {
            TIMER_PACE => {
                self.pace_armed = false;
                if !self.retry_armed {
                    self.open_pending(r);
                }
            }
            TIMER_CONNECT => {
                self.retry_armed = false;
                self.open_pending(r);
            }
            TIMER_MEASURE => {
                // Nothing is recorded before `record_from`, so the interval histogram is
                // empty here; resetting it would drop replies this turn already recorded.
                self.cpu_start = Some(thread_cpu());
                self.measure_start_unix_s = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()
                    .map(|d| d.as_secs_f64());
                self.interval_start = r.context().rec.completed;
                r.set_timer(self.measure_start + Duration::from_secs(1), TIMER_TICK);
            }
            TIMER_TICK => self.tick(r),
            TIMER_STAGE => self.follow_stages(r),
            TIMER_GROW => self.grow(r),
            TIMER_END => self.finish(r),
            _ => {}
        }
    }

    fn posted(&mut self, r: &mut Reactor<Client>, value: u64) {
        if value == interrupt::STOP {
            // Interrupted: end the run now, exactly as the end timer would.
            self.finish(r);
        } else if self.started.is_none() && !self.ended {
            self.start(r, self.base + Duration::from_nanos(value));
        }
    }

    fn after_turn(&mut self, r: &mut Reactor<Client>) {
        // -n: the budget is spent and every request of this worker answered or failed.
        if self.started.is_some() && !self.ended {
            let sh = r.context();
            let rec = &sh.rec;
            let outstanding = rec
                .sent
                .saturating_sub(rec.completed + rec.failed + rec.in_flight_end);
            if sh.plan.budget_spent() && outstanding == 0 {
                self.finish(r);
                return;
            }
        }
        // The connect phase ends for this worker once every initial slot connected
        // or failed: say so (once) to the thread that starts the run.
        if self.started.is_none() && self.ready.is_some() {
            let done = r.context().rec.connects_ok + self.connect_failures;
            if done >= self.initial {
                if let Some(tx) = self.ready.take() {
                    let _ = tx.send(self.index);
                }
            }
        }
    }
}

/// This thread's CPU time so far.
pub fn thread_cpu() -> CpuTime {
    // RUSAGE_THREAD: only this worker, not the embedded server's thread.
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a rusage into the pointer; zeroed is a valid rusage.
    let ok = unsafe { libc::getrusage(libc::RUSAGE_THREAD, ru.as_mut_ptr()) } == 0;
    if !ok {
        return CpuTime::default();
    }
    // SAFETY: initialised by getrusage (or zeroed).
    let ru = unsafe { ru.assume_init() };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    CpuTime {
        user_s: tv(ru.ru_utime),
        sys_s: tv(ru.ru_stime),
    }
}

/// Split `total` into `parts` nearly equal shares.
pub fn share(total: usize, parts: usize, i: usize) -> usize {
    total / parts + usize::from(i < total % parts)
}

/// Run one worker to the end. `first_index` is the global index of its first
/// connection (open-loop start times are staggered over all connections).
#[allow(clippy::too_many_arguments)]
fn run_worker(
    index: usize,
    spec: Rc<LoadSpec>,
    conns: usize,
    first_index: usize,
    base: Instant,
    tx: mpsc::Sender<Tick>,
    hello: mpsc::Sender<(usize, readyloop::Handle)>,
    ready: mpsc::Sender<usize>,
    budget: Option<Arc<AtomicU64>>,
) -> std::io::Result<WorkerResult> {
    // The connections are opened first; the run's start (and with it the warm-up,
    // the measurement and every timeline) comes from `run` once all are open. Until
    // then the timelines are anchored here and nothing is sent or measured.
    let start = Instant::now();
    let far = start + Duration::from_secs(100 * 365 * 86_400);
    let measure_start = far;
    let end = far;
    // Open loop: each connection sends every `connections / rate`; connection j starts
    // j / rate after the start so the sends of all connections interleave evenly.
    let interval = spec
        .rate
        .map(|r| Duration::from_secs_f64(spec.connections as f64 / r.max(1e-9)));
    let plan = Plan {
        request: spec.request.clone(),
        // A request that cannot be split (the plan refuses it before the run) is sent
        // as one request.
        pipeline: crate::request::pipeline(&spec.framing, &spec.request)
            .unwrap_or_else(|_| vec![spec.head]),
        framing: spec.framing.clone(),
        mix: spec.mix.clone(),
        interval,
        depth: spec.pipeline.max(1),
        profile: spec.stages.clone().or_else(|| spec.conn_stages.clone()),
        budget,
        per_conn: spec.per_conn,
        timeout: spec.timeout,
        start: None,
        record_from: measure_start,
        end,
    };
    let limits = ConnLimits {
        idle_timeout: None,
        header_timeout: None,
        connect_timeout: Some(spec.connect_timeout),
        linger_timeout: Duration::from_millis(100),
        // A client judges the server by its own --timeout, not by transfer rate.
        min_rate: 0,
        ..ConnLimits::default()
    };
    // Microsecond timers: epoll's millisecond timeout would make every open-loop send
    // up to 1 ms late, and that lag would land in the corrected latencies.
    let mut r: Reactor<Client> = Reactor::with_context(
        Config {
            limits,
            precise_timers: true,
            ..Config::default()
        },
        Shared {
            plan,
            rec: Recorder {
                entries: spec
                    .mix
                    .as_ref()
                    .map_or_else(Vec::new, |m| vec![Default::default(); m.buckets()]),
                ..Recorder::default()
            },
            picker: spec.mix.as_ref().map(|m| m.picker(index)),
        },
    )?;
    r.reserve(conns);
    // Closed-loop stages open what the first instant asks (0 for a ramp from 0); the
    // rest follow the target during the run.
    let initial = match &spec.conn_stages {
        Some(p) => share(p.rate_at(0.0).round() as usize, spec.threads, index),
        None => conns,
    };
    let pending = (0..initial)
        .map(|j| {
            // Connection j's timeline starts j / rate after the start so the sends of all
            // connections interleave evenly.
            let schedule = match (spec.rate, interval) {
                // Slots that can grow: the worker deals its share itself.
                (Some(rate), Some(_)) if spec.max_connections.is_some() => {
                    let clock = match &spec.stages {
                        Some(p) => Clock::Profile(p.clone()),
                        None => Clock::Rate(rate),
                    };
                    let share = Share {
                        first: first_index as u64,
                        width: conns as u64,
                        total: spec.connections as u64,
                    };
                    Some(Schedule::dealt(start, clock, share, j as u64, conns as u64))
                }
                // The run's requests go to the slots in turn, due as the rate's integral.
                (Some(_), Some(_)) if spec.stages.is_some() => spec.stages.clone().map(|p| {
                    Schedule::profiled(start, p, (first_index + j) as u64, spec.connections as u64)
                }),
                (Some(rate), Some(iv)) => {
                    let phase =
                        start + Duration::from_secs_f64((first_index + j) as f64 / rate.max(1e-9));
                    Some(Schedule::new(phase, Rate::every(iv)))
                }
                _ => None,
            };
            Pending { schedule }
        })
        .collect();
    let connect_every = spec
        .connect_rate
        .map(|cr| Duration::from_secs_f64(spec.threads as f64 / cr.max(1e-9)));
    let opts = ConnectOptions {
        bind_no_port: true,
        nodelay: spec.nodelay,
        ..ConnectOptions::default()
    };
    let mut w = Worker {
        index,
        spec: spec.clone(),
        opts,
        pending,
        connect_every,
        next_connect: start,
        connect_backoff: Backoff::new(),
        protocol_backoff: Backoff::new(),
        retry_armed: false,
        pace_armed: false,
        source_rr: index,
        tx,
        tick_index: 0,
        interval_start: 0,
        measure_start,
        end,
        ended: false,
        cpu_start: None,
        cpu: CpuTime::default(),
        ended_at: None,
        measure_start_unix_s: None,
        initial: initial as u64,
        connect_failures: 0,
        ready: Some(ready),
        base,
        created: start,
        started: None,
        provisional: start,
        slots: initial,
        max_slots: match (spec.max_connections, spec.rate) {
            (Some(m), Some(_)) => share(m, spec.threads, index).max(initial),
            _ => initial,
        },
        grow_seen: (0, 0),
        peak_open: 0,
    };
    if let Some(i) = &spec.interrupt {
        i.register(r.handle());
    }
    let _ = hello.send((index, r.handle()));
    w.open_pending(&mut r);
    if initial == 0 {
        // Nothing to open first (closed-loop stages from 0): ready now, not after a turn
        // that no event would start.
        if let Some(tx) = w.ready.take() {
            let _ = tx.send(index);
        }
    }
    r.run(&mut w)?;
    // Closes in the run's last turn may have censored requests after `finish` reported
    // the last second.
    w.tick_late(&mut r);
    let measure_start = w.measure_start;
    let end = w.end;
    let rec = std::mem::take(&mut r.context_mut().rec);
    let measured = w
        .ended_at
        .unwrap_or(end)
        .min(end)
        .saturating_duration_since(measure_start);
    Ok(WorkerResult {
        rec,
        cpu: w.cpu,
        measured,
        measure_start_unix_s: w.measure_start_unix_s,
        connect_phase: w.started.map(|t| t.saturating_duration_since(w.created)),
        peak_open: w.peak_open,
        warmup_ran: w.started.map_or(Duration::ZERO, |t0| {
            w.ended_at
                .unwrap_or(end)
                .min(measure_start)
                .saturating_duration_since(t0)
        }),
    })
}

/// What the caller of [`run`] wants after a per-second report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TickAction {
    /// Go on.
    Continue,
    /// End the run now (`--abort-on-fail`): every worker stops as at an interrupt.
    Stop,
}

/// The connect phase: wait (bounded) until every worker has opened its connections,
/// then start them all at one instant, so the warm-up and the measurement never
/// include the time connect() took (at the even-port knee, seconds). Returns the
/// workers' handles.
fn start_when_connected(
    spec: &LoadSpec,
    threads: usize,
    base: Instant,
    hello: &mpsc::Receiver<(usize, readyloop::Handle)>,
    ready: &mpsc::Receiver<usize>,
) -> Vec<readyloop::Handle> {
    let mut handles = Vec::new();
    let hello_by = Instant::now() + Duration::from_secs(5);
    while handles.len() < threads {
        let left = hello_by.saturating_duration_since(Instant::now());
        match hello.recv_timeout(left) {
            Ok((_, h)) => handles.push(h),
            Err(_) => break, // a worker failed to start: its error comes from join
        }
    }
    // However slow the connects, the run starts: after the connect timeout, plus the
    // pacing of --connect-rate, plus a margin.
    let paced = spec.connect_rate.map_or(Duration::ZERO, |cr| {
        Duration::from_secs_f64(spec.connections as f64 / cr.max(1e-9))
    });
    let ready_by = Instant::now() + spec.connect_timeout + paced + Duration::from_secs(5);
    let mut n = 0;
    while n < handles.len() {
        let left = ready_by.saturating_duration_since(Instant::now());
        match ready.recv_timeout(left) {
            Ok(_) => n += 1,
            Err(_) => break,
        }
    }
    // A few ms ahead, so every worker has the start before it comes.
    let t0 = Instant::now() + Duration::from_millis(5);
    let offset = t0
        .saturating_duration_since(base)
        .as_nanos()
        .min(u128::from(u64::MAX - 1)) as u64;
    for h in &handles {
        h.post(offset);
    }
    handles
}

/// Start the workers; call `on_tick` on this thread for each per-second report (when it
/// returns [`TickAction::Stop`], every worker ends its run at once, as at an interrupt);
/// return the workers' results and the merged per-second intervals.
pub fn run(
    spec: &LoadSpec,
    mut on_tick: impl FnMut(&Tick) -> TickAction,
) -> std::io::Result<(Vec<WorkerResult>, Vec<Interval>)> {
    let threads = spec.threads.clamp(1, spec.connections.max(1));
    let base = Instant::now();
    let (tx, rx) = mpsc::channel();
    let (hello_tx, hello_rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    let mut handles = Vec::new();
    let mut first = 0;
    // -n: one budget for every worker, so exactly N go out however the load splits.
    let budget = spec.requests.map(|n| Arc::new(AtomicU64::new(n)));
    for i in 0..threads {
        let conns = share(spec.connections, threads, i);
        let spec = LoadSpec {
            threads,
            ..spec.clone()
        };
        let tx = tx.clone();
        let (hello, ready) = (hello_tx.clone(), ready_tx.clone());
        let first_index = first;
        let budget = budget.clone();
        first += conns;
        let h = std::thread::Builder::new()
            .name(format!("loadgen-{i}"))
            .spawn(move || {
                run_worker(
                    i,
                    Rc::new(spec),
                    conns,
                    first_index,
                    base,
                    tx,
                    hello,
                    ready,
                    budget,
                )
            })?;
        handles.push(h);
    }
    drop(tx);
    drop((hello_tx, ready_tx));
    let workers = start_when_connected(spec, threads, base, &hello_rx, &ready_rx);
    let mut store = crate::intervals::IntervalStore::new(threads);
    for t in rx {
        if on_tick(&t) == TickAction::Stop {
            for h in &workers {
                h.post(interrupt::STOP);
            }
        }
        store.add(t.index, &t.corrected);
    }
    let mut results = Vec::new();
    for h in handles {
        match h.join() {
            Ok(r) => results.push(r?),
            Err(_) => return Err(std::io::Error::other("a worker thread panicked")),
        }
    }
    // The last interval may be shorter than a second (the run's end, or an interrupt).
    let measured = results
        .iter()
        .map(|w: &WorkerResult| w.measured)
        .max()
        .unwrap_or(spec.duration);
    let mut intervals: Vec<Interval> = store
        .finish()
        .into_iter()
        .enumerate()
        .map(|(k, corrected)| Interval {
            start: Duration::from_secs(k as u64),
            length: Duration::from_secs(1),
            corrected,
        })
        .collect();
    intervals.retain(|iv| iv.start < measured || iv.start.is_zero());
    if let Some(last) = intervals.last_mut() {
        let rest = measured.saturating_sub(last.start);
        last.length = rest.min(Duration::from_secs(1));
    }
    Ok((results, intervals))
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
}
