//! One worker's beginning: its reactor, the plan its clients share, and the slots it
//! opens first with their open-loop timelines.
//!
//! The connections are opened first; the run's start (and with it the warm-up, the
//! measurement and every timeline) comes from [`super::run`] once all are open. Until
//! then the timelines are anchored at the worker's creation and nothing is sent or
//! measured.

use super::conn::Conn;
use super::ticks::Tick;
use crate::client::{Plan, Shared};
use crate::interrupt::Interrupt;
use crate::load::{Aim, Load};
use crate::record::Recorder;
use crate::schedule::{Clock, Rate, Schedule, Share};
use readyloop::tls::TlsContext;
use readyloop::{Config, ConnLimits, Reactor};
use std::sync::atomic::AtomicU64;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// A worker's place in the run: which share of the connections is its, and what it
/// shares with the others.
pub(super) struct Seat {
    /// Its index among the workers.
    pub(super) index: usize,
    /// Its share of the connections.
    pub(super) conns: usize,
    /// The run-wide index of its first connection (open-loop sends are staggered over
    /// all connections).
    pub(super) first_index: usize,
    /// The instant every worker's start offset is measured from.
    pub(super) base: Instant,
    /// The run's load and aim.
    pub(super) load: Arc<Load>,
    pub(super) aim: Arc<Aim>,
    /// `-n`: the budget all workers take from.
    pub(super) budget: Option<Arc<AtomicU64>>,
    /// Stops the run early on SIGINT/SIGTERM.
    pub(super) interrupt: Option<Arc<Interrupt>>,
}

/// Split `total` into `parts` nearly equal shares; share `i`.
///
/// ```
/// assert_eq!((0..3).map(|i| loadgen::engine::share(10, 3, i)).collect::<Vec<_>>(), [4, 3, 3]);
/// ```
pub fn share(total: usize, parts: usize, i: usize) -> usize {
    total / parts + usize::from(i < total % parts)
}

/// The channels a worker reports on: its handle once its reactor is up, that its
/// connect phase is over, and a [`Tick`] each second.
pub(super) struct Links {
    pub(super) hello: mpsc::Sender<(usize, readyloop::Handle)>,
    pub(super) ready: mpsc::Sender<()>,
    pub(super) ticks: mpsc::Sender<Tick>,
}

/// So far away that nothing is due before the run's start moves it.
const FAR: Duration = Duration::from_secs(100 * 365 * 86_400);

impl Seat {
    /// Open loop: the interval between two requests of one connection
    /// (`connections / rate`); `None` in closed loop.
    pub(super) fn interval(&self) -> Option<Duration> {
        let l = &self.load;
        l.rate
            .map(|r| Duration::from_secs_f64(l.connections as f64 / r.max(1e-9)))
    }

    /// The clients' shared plan, provisional until the run starts at an instant far
    /// after `created`.
    fn client_plan(&self, created: Instant) -> Plan {
        let (l, aim) = (&self.load, &self.aim);
        Plan {
            request: aim.request.clone(),
            pipeline: aim.pipeline.clone(),
            framing: l.framing.clone(),
            mix: aim.mix.clone(),
            interval: self.interval(),
            depth: l.pipeline.max(1),
            profile: l.stages.clone(),
            budget: self.budget.clone(),
            per_conn: l.per_conn,
            timeout: l.timeout,
            start: None,
            record_from: created + FAR,
            end: created + FAR,
        }
    }

    /// The worker's reactor, its clients' plan and recorder in its context.
    pub(super) fn reactor(&self, created: Instant) -> std::io::Result<Reactor<Conn>> {
        let limits = ConnLimits {
            idle_timeout: None,
            header_timeout: None,
            connect_timeout: Some(self.load.connect_timeout),
            linger_timeout: Duration::from_millis(100),
            // A client judges the server by its own --timeout, not by transfer rate.
            min_rate: 0,
            ..ConnLimits::default()
        };
        let mix = self.aim.mix.as_ref();
        let shared = Shared {
            plan: self.client_plan(created),
            rec: Recorder {
                entries: mix.map_or_else(Vec::new, |m| vec![Default::default(); m.buckets()]),
                ..Recorder::default()
            },
            picker: mix.map(|m| m.picker(self.picker_id())),
        };
        // Microsecond timers: epoll's millisecond timeout would make every open-loop
        // send up to 1 ms late, and that lag would land in the corrected latencies.
        let config = Config {
            limits,
            precise_timers: true,
            ..Config::default()
        };
        let mut r = Reactor::with_context(config, TlsContext::new(shared))?;
        r.reserve(self.conns);
        Ok(r)
    }

    /// The slots opened first: its share of the connections, or with closed-loop stages
    /// its share of what the first instant asks (0 for a ramp from 0; the rest follow
    /// the target during the run).
    pub(super) fn initial(&self) -> usize {
        match self.load.conn_stages() {
            Some(p) => share(
                self.load.own(p.rate_at(0.0).round() as usize),
                self.load.threads(),
                self.index,
            ),
            None => self.conns,
        }
    }

    /// `--max-connections`: this worker's share of the most, never below what it opens.
    pub(super) fn max_slots(&self, initial: usize) -> usize {
        match (self.load.max_connections, self.load.rate) {
            (Some(m), Some(_)) => {
                share(self.load.own(m), self.load.threads(), self.index).max(initial)
            }
            _ => initial,
        }
    }

    /// Slot `j`'s open-loop timeline, anchored at `start` (`None` in closed loop).
    /// Connection j starts j / rate after the start so the sends of all connections
    /// interleave evenly.
    pub(super) fn schedule(&self, start: Instant, j: usize) -> Option<Schedule> {
        let l = &self.load;
        let (rate, interval) = (l.rate?, self.interval()?);
        let global = (self.first_index + j) as u64;
        if l.max_connections.is_some() {
            // Slots that can grow: the worker deals its share itself.
            let clock = match l.rate_stages() {
                Some(p) => Clock::Profile(p.clone()),
                None => Clock::Rate(rate),
            };
            let share = Share {
                first: self.first_index as u64,
                width: self.conns as u64,
                total: l.connections as u64,
            };
            return Some(Schedule::dealt(
                start,
                clock,
                share,
                j as u64,
                self.conns as u64,
            ));
        }
        if let Some(p) = l.rate_stages() {
            // The run's requests go to the slots in turn, due as the rate's integral.
            return Some(Schedule::profiled(
                start,
                p.clone(),
                global,
                l.connections as u64,
            ));
        }
        let phase = start + Duration::from_secs_f64(global as f64 / rate.max(1e-9));
        Some(Schedule::new(phase, Rate::every(interval)))
    }

    /// The worker's number for its mix picker: unique over the whole run, so each
    /// segment's workers draw their own sequences from the one `--seed`.
    fn picker_id(&self) -> usize {
        // Far more workers than a process runs fit below one segment's step.
        let segment = self.load.segment.map_or(0, |s| s.index);
        segment.wrapping_mul(1 << 20).wrapping_add(self.index)
    }

    /// One connect per this interval at most (`--connect-rate` over all workers).
    pub(super) fn connect_every(&self) -> Option<Duration> {
        let l = &self.load;
        // A segment's part of the rate: its share of the connections'.
        l.connect_rate
            .map(|cr| Duration::from_secs_f64(l.threads() as f64 / (cr * l.fraction()).max(1e-9)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::Framing;
    use crate::schedule::Profile;

    fn seat(rate: Option<f64>, index: usize) -> Seat {
        let load = Load {
            connections: 10,
            max_connections: None,
            threads: 3,
            connect_rate: Some(600.0),
            rate,
            duration: Duration::from_secs(1),
            warmup: Duration::ZERO,
            framing: Framing::Line,
            per_conn: None,
            requests: None,
            pipeline: 1,
            stages: None,
            stages_closed: false,
            timeout: None,
            connect_timeout: Duration::from_secs(1),
            sources: Vec::new(),
            nodelay: true,
            segment: None,
        };
        let conns = share(10, 3, index);
        let first_index = (0..index).map(|i| share(10, 3, i)).sum();
        let aim = Aim::new(
            "127.0.0.1:1".parse::<std::net::SocketAddr>().unwrap(),
            &Framing::Line,
            b"x\n".to_vec(),
            false,
            None,
        );
        Seat {
            index,
            conns,
            first_index,
            base: Instant::now(),
            load: Arc::new(load),
            aim: Arc::new(aim),
            budget: None,
            interrupt: None,
        }
    }

    #[test]
    fn test_open_loop_slots_interleave_over_every_connection() {
        // 1,000/s over 10 connections: each sends every 10 ms; worker 1 holds
        // connections 4, 5 and 6, starting 4, 5 and 6 ms after the start.
        let s = seat(Some(1000.0), 1);
        assert_eq!(s.interval(), Some(Duration::from_millis(10)));
        let t0 = Instant::now();
        let first: Vec<Duration> = (0..s.conns)
            .map(|j| s.schedule(t0, j).unwrap().next_due() - t0)
            .collect();
        assert_eq!(first, [4, 5, 6].map(Duration::from_millis));
        assert!(
            seat(None, 0).schedule(t0, 0).is_none(),
            "closed loop: no timeline"
        );
        // 600 connects/s over 3 workers: one every 5 ms each.
        assert_eq!(s.connect_every(), Some(Duration::from_millis(5)));
    }

    #[test]
    fn test_each_segment_s_workers_draw_their_own_mix_sequence() {
        use crate::segment::Segment;
        let mut ids = std::collections::HashSet::new();
        for segment in [None, Some(Segment { index: 1, count: 2 })] {
            for index in 0..3 {
                let mut s = seat(Some(100.0), index);
                Arc::get_mut(&mut s.load).unwrap().segment = segment;
                assert!(ids.insert(s.picker_id()), "worker {index} of {segment:?}");
            }
        }
        let mix = crate::mix::Mix {
            entries: (0..2)
                .map(|i| crate::mix::Entry {
                    label: format!("GET /{i}"),
                    weight: 1,
                    bytes: Vec::new(),
                    head: false,
                })
                .collect(),
            order: crate::mix::Order::Random,
            seed: 9,
        };
        let draw = |id| {
            let mut p = mix.picker(id);
            (0..64).map(|_| p.pick()).collect::<Vec<_>>()
        };
        assert_ne!(
            draw(0),
            draw(1 << 20),
            "segment 1's worker 0 is not segment 0's"
        );
    }

    #[test]
    fn test_closed_stages_open_what_the_first_instant_asks() {
        let mut s = seat(None, 0);
        let ramp = Profile::new(&[(Duration::from_secs(2), 9.0)]);
        Arc::get_mut(&mut s.load).unwrap().stages = Some(Arc::new(ramp));
        Arc::get_mut(&mut s.load).unwrap().stages_closed = true;
        assert_eq!(s.initial(), 0, "a ramp from 0 opens nothing first");
        assert_eq!(s.max_slots(0), 0, "closed loop never grows");
        let s = seat(Some(100.0), 0);
        assert_eq!(s.initial(), 4);
    }
}
