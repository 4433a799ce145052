//! The per-second reports a worker sends while the run goes on, the CPU time of its
//! measurement, and what it hands back at the end.

use super::conn::{shared_mut, Conn};
use super::times::{Times, TIMER_TICK};
use crate::record::{new_histogram, ErrorClass, Recorder};
use crate::result::CpuTime;
use hdrhistogram::Histogram;
use readyloop::Reactor;
use std::sync::mpsc;
use std::time::Duration;

/// A per-second report from one worker.
#[derive(Debug)]
pub struct Tick {
    /// Worker index.
    pub worker: usize,
    /// Interval index since the start of measurement (0-based).
    pub index: usize,
    /// Corrected latencies of this interval.
    pub corrected: Histogram<u64>,
    /// Replies completed in this interval.
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
    /// Connects it tried to each of the target's addresses, in the aim's order.
    pub connects_by_addr: Vec<u64>,
    /// Its TLS handshakes (all zero over plain TCP).
    pub tls: readyloop::tls::TlsStats,
}

/// This thread's CPU time so far.
pub(crate) fn thread_cpu() -> CpuTime {
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

/// A worker's side of the per-second reports and of its measurement's CPU time.
pub(super) struct Ticker {
    tx: mpsc::Sender<Tick>,
    /// The next second to report (0-based).
    index: usize,
    /// Replies completed when the second being measured began.
    pub(super) interval_start: u64,
    /// CPU time when the measurement began, and spent in it once the run ended.
    pub(super) cpu_start: Option<CpuTime>,
    cpu: CpuTime,
    /// Wall-clock seconds since the epoch when the measurement began.
    pub(super) measure_start_unix_s: Option<f64>,
}

impl Ticker {
    pub(super) fn new(tx: mpsc::Sender<Tick>) -> Ticker {
        Ticker {
            tx,
            index: 0,
            interval_start: 0,
            cpu_start: None,
            cpu: CpuTime::default(),
            measure_start_unix_s: None,
        }
    }
}

/// How long a worker measured: from the warm-up's end to the run's end for it (the
/// end timer, or earlier when interrupted).
fn measured(t: &Times) -> Duration {
    t.ended_at
        .unwrap_or(t.end)
        .min(t.end)
        .saturating_duration_since(t.measure_start)
}

/// How much of the warm-up ran: none before the start, all once measuring began.
fn warmup_ran(t: &Times) -> Duration {
    t.started.map_or(Duration::ZERO, |t0| {
        t.ended_at
            .unwrap_or(t.end)
            .min(t.measure_start)
            .saturating_duration_since(t0)
    })
}

impl Ticker {
    /// Send second `index` of worker `worker`: what `rec` recorded since the last report.
    fn send(&self, worker: usize, index: usize, rec: &mut Recorder, completed: u64) {
        let corrected = std::mem::replace(&mut rec.interval, new_histogram());
        let raw = std::mem::replace(&mut rec.interval_raw, new_histogram());
        let _ = self.tx.send(Tick {
            worker,
            index,
            corrected,
            raw,
            completed,
            errors: rec.error_total(),
            totals: Totals::of(rec),
            measure_start_unix_s: self.measure_start_unix_s,
        });
    }

    /// Report the second just over for worker `worker`, and set the timer for the next
    /// one if it is in the run.
    pub(super) fn tick(&mut self, r: &mut Reactor<Conn>, worker: usize, t: &Times) {
        let rec = &mut shared_mut(r).rec;
        let completed = rec.completed - self.interval_start;
        self.interval_start = rec.completed;
        self.send(worker, self.index, rec, completed);
        self.index += 1;
        let next = t.measure_start + Duration::from_secs(self.index as u64 + 1);
        if next <= t.end {
            r.set_timer(next, TIMER_TICK);
        }
    }

    /// What was recorded since the last second was reported (censored at the run's
    /// end, or by a close in the same turn) joins that second, so the intervals hold
    /// every latency the run's histogram does.
    pub(super) fn tick_late(&mut self, r: &mut Reactor<Conn>, worker: usize) {
        if self.index == 0 {
            return;
        }
        let rec = &mut shared_mut(r).rec;
        if rec.interval.is_empty() {
            return;
        }
        self.send(worker, self.index - 1, rec, 0);
    }

    /// The run ended: report its last partial second, if it did not end on a second
    /// boundary; or if the last whole second was already reported, what was censored
    /// since joins it.
    pub(super) fn last(&mut self, r: &mut Reactor<Conn>, worker: usize, t: &Times) {
        let reported = Duration::from_secs(self.index as u64);
        if t.measure_start + reported < t.end {
            self.tick(r, worker, t);
        } else {
            self.tick_late(r, worker);
        }
    }

    /// The measurement's CPU time is taken (the run ended).
    pub(super) fn stop_cpu(&mut self) {
        if let Some(start) = self.cpu_start {
            let now_cpu = thread_cpu();
            self.cpu = CpuTime {
                user_s: now_cpu.user_s - start.user_s,
                sys_s: now_cpu.sys_s - start.sys_s,
            };
        }
    }

    /// The worker's result: what its reactor recorded, and how its run went by `t`.
    pub(super) fn result(&self, rec: Recorder, t: &Times, peak_open: usize) -> WorkerResult {
        WorkerResult {
            rec,
            cpu: self.cpu,
            measured: measured(t),
            measure_start_unix_s: self.measure_start_unix_s,
            connect_phase: t.started.map(|s| s.saturating_duration_since(t.created)),
            peak_open,
            warmup_ran: warmup_ran(t),
            connects_by_addr: Vec::new(),
            tls: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn times(ended_after_ms: Option<u64>, started: bool) -> Times {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        Times {
            base: t0,
            created: t0,
            started: started.then_some(t0),
            measure_start: t0 + ms(1000),
            end: t0 + ms(3000),
            ended_at: ended_after_ms.map(|m| t0 + ms(m)),
        }
    }

    #[test]
    fn test_measured_and_warm_up_follow_where_the_run_ended() {
        let ms = Duration::from_millis;
        // Ended by its end timer (a little late): 2 s measured after 1 s of warm-up.
        let t = times(Some(3004), true);
        assert_eq!((measured(&t), warmup_ran(&t)), (ms(2000), ms(1000)));
        // Interrupted in the warm-up: nothing measured, 400 ms of warm-up.
        let t = times(Some(400), true);
        assert_eq!((measured(&t), warmup_ran(&t)), (ms(0), ms(400)));
        // Interrupted while connecting: no warm-up ran.
        let t = times(Some(400), false);
        assert_eq!(warmup_ran(&t), ms(0));
        // Interrupted half-way: 1.5 s measured.
        assert_eq!(measured(&times(Some(2500), true)), ms(1500));
    }
}
