//! Worker threads, each running its own readyloop [`Reactor`](readyloop::Reactor) whose
//! outbound connections are the clients.
//!
//! A worker keeps its share of the connections open (reopening any that close, paced
//! by `--connect-rate`), sends its share of the open-loop rate, snapshots a corrected
//! histogram each second for the interval log and the progress line, and stops itself
//! at the end of the run, counting what is still in flight.
//!
//! The rooms, one concept each:
//! - `mod.rs` (here): [`run`], the threads, the connect phase that starts them all at
//!   one instant, and the per-second reports merged into intervals;
//! - `setup.rs`: one worker's reactor, its clients' shared plan and initial slots;
//! - `worker.rs`: the worker's state and the reactor's host callbacks;
//! - `connect.rs`: slots waiting to (re)connect: pacing, backoff, error classes;
//! - `grow.rs`: `--max-connections`, when and how many connections to add;
//! - `stages.rs`: closed-loop stages, following the connection target;
//! - `ticks.rs`: the per-second reports and what a worker hands back;
//! - `times.rs`: a worker's instants and its timers' keys.
//!
//! `worker.rs` is the only room that knows the whole worker: each room below it owns
//! its part (`Slots`, `Growth`, `Ticker`, `Times`) and is handed what else it needs.
//!
//! The engine reads the run's [`Load`] and [`Aim`] as the plan made them.

mod conn;
mod connect;
mod grow;
mod setup;
mod stages;
mod ticks;
mod times;
mod worker;

use crate::interrupt::{self, Interrupt};
use crate::intervals::Compact;
use crate::load::{Aim, Load};
use crate::result::Interval;
use setup::{Links, Seat};
use std::sync::atomic::AtomicU64;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

pub use setup::share;
pub use ticks::{Tick, Totals, WorkerResult};

/// What the caller of [`run`] wants after a per-second report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TickAction {
    /// Go on.
    Continue,
    /// End the run now (`--abort-on-fail`): every worker stops as at an interrupt.
    Stop,
}

/// When measurement begins, asked once every worker has opened its connections:
/// `Ok(None)` at once (after a few ms); `Ok(Some(instant))` at that instant, the
/// warm-up before it (a split run's common start: its coordinator's, or
/// `--start-at`'s). An error stops every worker before anything is measured, and
/// [`run`] returns it.
pub type Gate<'a> = Box<dyn FnOnce() -> std::io::Result<Option<Instant>> + 'a>;

/// Start the workers, putting `load` on `aim` (stopped early by `interrupt`, if any),
/// measuring from when `gate` says; call `on_tick` on this thread for each per-second
/// report (when it returns [`TickAction::Stop`], every worker ends its run at once, as
/// at an interrupt); return the workers' results and the merged per-second intervals.
pub fn run(
    load: &Load,
    aim: &Aim,
    (interrupt, gate): (Option<&Arc<Interrupt>>, Gate<'_>),
    mut on_tick: impl FnMut(&Tick) -> TickAction,
) -> std::io::Result<(Vec<WorkerResult>, Vec<Interval>)> {
    let threads = load.threads();
    let base = Instant::now();
    let (tick_tx, tick_rx) = mpsc::channel();
    let (hello_tx, hello_rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    let (load, aim) = (Arc::new(load.clone()), Arc::new(aim.clone()));
    // -n: one budget for every worker, so exactly N go out however the load splits.
    // With a segment, its share of N.
    let budget = load
        .requests
        .map(|n| Arc::new(AtomicU64::new(load.own_requests(n))));
    let mut joins = Vec::new();
    for (index, conns, first) in places(&load) {
        let seat = Seat {
            index,
            conns,
            first_index: first,
            base,
            load: load.clone(),
            aim: aim.clone(),
            budget: budget.clone(),
            interrupt: interrupt.cloned(),
        };
        let links = Links {
            hello: hello_tx.clone(),
            ready: ready_tx.clone(),
            ticks: tick_tx.clone(),
        };
        let h = std::thread::Builder::new()
            .name(format!("loadgen-{index}"))
            .spawn(move || worker::run_worker(seat, links))?;
        joins.push(h);
    }
    drop((tick_tx, hello_tx, ready_tx));
    let (workers, gated) = start_when_connected(&load, base, (&hello_rx, &ready_rx), gate);
    let mut store = crate::intervals::IntervalStore::new(threads);
    for t in tick_rx {
        if on_tick(&t) == TickAction::Stop {
            for h in &workers {
                h.post(interrupt::STOP);
            }
        }
        store.add(t.index, &t.corrected);
    }
    let mut results = Vec::new();
    for h in joins {
        match h.join() {
            Ok(r) => results.push(r?),
            Err(_) => return Err(std::io::Error::other("a worker thread panicked")),
        }
    }
    gated?;
    let measured = results
        .iter()
        .map(|w: &WorkerResult| w.measured)
        .max()
        .unwrap_or(load.duration);
    Ok((results, intervals(store.finish(), measured)))
}

/// Each worker's place: (its index, its connections, the run-wide index of its first).
/// Slots are numbered over the whole run: a segment's begin where the one before it
/// ends, so that its timelines are the ones those slots have in one process.
fn places(load: &Load) -> Vec<(usize, usize, usize)> {
    let threads = load.threads();
    let mut first = load.first_slot();
    (0..threads)
        .map(|index| {
            let conns = share(load.own_connections(), threads, index);
            first += conns;
            (index, conns, first - conns)
        })
        .collect()
}

/// The merged seconds as intervals; the last may be shorter than a second (the run's
/// end, or an interrupt), and none starts after what was measured.
fn intervals(seconds: Vec<Compact>, measured: Duration) -> Vec<Interval> {
    let mut intervals: Vec<Interval> = seconds
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
    intervals
}

/// The connect phase: wait (bounded) until every worker has opened its connections,
/// then start them all at one instant (the `gate`'s, or a few ms from now), so the
/// warm-up and the measurement never include the time connect() took (at the
/// even-port knee, seconds). Returns the workers' handles, and the gate's error (every
/// worker was then stopped).
fn start_when_connected(
    load: &Load,
    base: Instant,
    (hello, ready): (
        &mpsc::Receiver<(usize, readyloop::Handle)>,
        &mpsc::Receiver<()>,
    ),
    gate: Gate<'_>,
) -> (Vec<readyloop::Handle>, std::io::Result<()>) {
    let mut handles = Vec::new();
    let hello_by = Instant::now() + Duration::from_secs(5);
    while handles.len() < load.threads() {
        let left = hello_by.saturating_duration_since(Instant::now());
        match hello.recv_timeout(left) {
            Ok((_, h)) => handles.push(h),
            Err(_) => break, // a worker failed to start: its error comes from join
        }
    }
    // However slow the connects, the run starts: after the connect timeout, plus the
    // pacing of --connect-rate, plus a margin.
    let paced = load.connect_rate.map_or(Duration::ZERO, |cr| {
        Duration::from_secs_f64(load.connections as f64 / cr.max(1e-9))
    });
    let ready_by = Instant::now() + load.connect_timeout + paced + Duration::from_secs(5);
    let mut n = 0;
    while n < handles.len() {
        let left = ready_by.saturating_duration_since(Instant::now());
        match ready.recv_timeout(left) {
            Ok(()) => n += 1,
            Err(_) => break,
        }
    }
    let t0 = match gate() {
        // The warm-up before the common start: every segment's timelines then have
        // the same origin, so together they are one process's.
        Ok(Some(measure)) => measure.checked_sub(load.warmup).unwrap_or(measure),
        // A few ms ahead, so every worker has the start before it comes.
        Ok(None) => Instant::now() + Duration::from_millis(5),
        Err(e) => {
            for h in &handles {
                h.post(interrupt::STOP);
            }
            return (handles, Err(e));
        }
    };
    let offset = t0
        .saturating_duration_since(base)
        .as_nanos()
        .min(u128::from(u64::MAX - 1)) as u64;
    for h in &handles {
        h.post(offset);
    }
    (handles, Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{new_histogram, record_us};
    use setup::Seat;

    #[test]
    fn test_shares_add_up_and_differ_by_one_at_most() {
        for (total, parts) in [(10, 3), (2, 4), (50, 1), (0, 2), (19_999, 7)] {
            let s: Vec<usize> = (0..parts).map(|i| share(total, parts, i)).collect();
            assert_eq!(s.iter().sum::<usize>(), total);
            assert!(
                s.iter().max().unwrap() - s.iter().min().unwrap() <= 1,
                "{s:?}"
            );
        }
    }

    fn load(rate: f64) -> Load {
        Load {
            connections: 10,
            max_connections: None,
            threads: 3,
            connect_rate: None,
            rate: Some(rate),
            duration: Duration::from_secs(1),
            warmup: Duration::ZERO,
            framing: crate::framing::Framing::Line,
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
        }
    }

    /// Every request `load` puts on its timelines in the first `until`: (due time
    /// from the start, run-wide slot), sorted.
    fn due_times(load: &Load, t0: Instant, until: Duration) -> Vec<(Duration, usize)> {
        let addr: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
        let aim = Arc::new(Aim::new(addr, &load.framing, b"x\n".to_vec(), false, None));
        let mut out = Vec::new();
        for (index, conns, first) in places(load) {
            let seat = Seat {
                index,
                conns,
                first_index: first,
                base: t0,
                load: Arc::new(load.clone()),
                aim: aim.clone(),
                budget: None,
                interrupt: None,
            };
            for j in 0..conns {
                let mut s = seat.schedule(t0, j).expect("open loop");
                while s.next_due() < t0 + until {
                    out.push((s.take() - t0, first + j));
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn test_segments_together_send_the_one_process_schedule_request_for_request() {
        use crate::schedule::Profile;
        use crate::segment::Segment;
        let ramp = Arc::new(Profile::new(&[
            (Duration::from_millis(300), 2000.0),
            (Duration::from_millis(700), 500.0),
        ]));
        let plans = [
            load(1000.0),
            Load {
                stages: Some(ramp),
                ..load(1250.0)
            },
            Load {
                max_connections: Some(40),
                ..load(700.0)
            },
        ];
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        for whole in plans {
            let one = due_times(&whole, t0, second);
            assert!(one.len() >= 700, "{} requests", one.len());
            for n in [1, 2, 3, 4, 10] {
                let mut union = Vec::new();
                for index in 0..n {
                    let seg = Load {
                        segment: Some(Segment { index, count: n }),
                        // Another machine: another number of workers.
                        threads: 2,
                        ..whole.clone()
                    };
                    union.extend(due_times(&seg, t0, second));
                }
                union.sort();
                assert_eq!(union, one, "{n} segments of {:?}", whole.rate);
            }
        }
    }

    #[test]
    fn test_intervals_end_with_what_was_measured() {
        let second = || {
            let mut h = new_histogram();
            record_us(&mut h, 100);
            Compact::from(h)
        };
        let iv = intervals(
            vec![second(), second(), second()],
            Duration::from_millis(2500),
        );
        let lengths: Vec<Duration> = iv.iter().map(|i| i.length).collect();
        assert_eq!(lengths, [1000, 1000, 500].map(Duration::from_millis));
        // A third second reported after a run measured 2 s is not kept.
        let iv = intervals(vec![second(), second(), second()], Duration::from_secs(2));
        assert_eq!(iv.len(), 2);
        // Nothing measured (interrupted at once): the first interval stays, empty.
        let iv = intervals(vec![second()], Duration::ZERO);
        assert_eq!((iv.len(), iv[0].length), (1, Duration::ZERO));
    }
}
