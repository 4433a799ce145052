//! A finished run: everything the reports need, and nothing they must compute from
//! sockets. Reports are functions over this (see `report/`), testable without a run.

use crate::fmt::{group, plural};
use crate::load::Load;
use crate::record::Recorder;
use std::time::Duration;

/// How requests were paced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// Next request on each reply.
    Closed,
    /// Open loop at a fixed total rate (requests per second), wrk2-style.
    Open {
        /// Total requests per second over all connections.
        rate: f64,
    },
}

pub use crate::intervals::Interval;

/// CPU time this process used while measuring.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuTime {
    /// User time, seconds.
    pub user_s: f64,
    /// System time, seconds.
    pub sys_s: f64,
}

/// What decides how fast new connections can reuse ports: read from `/proc/sys`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortFacts {
    /// Ephemeral ports (`net.ipv4.ip_local_port_range`, hi - lo + 1).
    pub ports: Option<u64>,
    /// `net.ipv4.tcp_tw_reuse` (0 off, 1 on, 2 loopback only).
    pub tw_reuse: Option<u64>,
    /// `net.ipv4.tcp_tw_reuse_delay` in ms (`None`: the kernel has none; 1 s fixed).
    pub tw_reuse_delay_ms: Option<u64>,
    /// Source addresses the run used (`--source`; 0: the kernel's choice, one).
    pub sources: usize,
}

/// An open-loop run's rate: asked for, achieved, and why they differ.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    /// The rate asked for (`-R`), requests per second.
    pub target_rps: f64,
    /// Measured replies per second.
    pub achieved_rps: f64,
    /// Requests that fell due in the measured period and were never sent.
    pub unsent: u64,
    /// Within 5% of the target, nothing unsent, no send lag of the generator's own.
    pub kept: bool,
    /// When not kept: the likely cause and what to do.
    pub cause: Option<String>,
}

/// A run stopped early by SIGINT or SIGTERM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interrupted {
    /// The signal's number (2: SIGINT, 15: SIGTERM).
    pub signal: i32,
    /// The measured time that was asked for.
    pub planned: Duration,
    /// How much of the warm-up had run when the signal came: all of it when the signal
    /// came in the measurement.
    pub warmup_ran: Duration,
}

/// Where a signal stopped a run before it measured anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BeforeMeasuring {
    /// While the connections were being opened, before the warm-up began.
    Connecting,
    /// In the warm-up, after this much of it.
    Warmup(Duration),
}

/// A finished `loadgen run`: the load as planned beside what was measured.
#[derive(Clone, Debug)]
pub struct RunResult {
    /// What was targeted: `127.0.0.1:7878` or `http://127.0.0.1:7878/`.
    pub target: String,
    /// The load, as the plan made it: connections (at the start, with
    /// `--max-connections`), threads, rate or stages, warm-up, pipeline, `-n`, framing.
    pub load: Load,
    /// Connections the run had at its end: `load.connections`, or more when
    /// `--max-connections` added some.
    pub connections_peak: usize,
    /// Measured time (after warm-up): as planned, or less when interrupted.
    pub duration: Duration,
    /// The run was stopped early by a signal (its figures cover `duration`).
    pub interrupted: Option<Interrupted>,
    /// Merged counters and histograms.
    pub rec: Recorder,
    /// Per-second corrected histograms, in order.
    pub intervals: Vec<Interval>,
    /// CPU time of this process during measurement.
    pub cpu: CpuTime,
    /// The embedded server's counters as JSON, when it ran.
    pub server_stats: Option<serde_json::Value>,
    /// The port and TIME_WAIT settings of this machine, read before the run (to
    /// explain running out of ports).
    pub ports: PortFacts,
    /// Wall-clock time (seconds since the epoch) when measurement began, if it did.
    pub started_unix_s: Option<f64>,
    /// How long opening the connections took, before the warm-up began (`None`: the
    /// run never got past it).
    pub connect_phase: Option<Duration>,
    /// `--slo`: every threshold judged on the whole run (empty without `--slo`).
    pub thresholds: Vec<crate::slo::Verdict>,
    /// `--abort-on-fail` stopped the run early.
    pub aborted: Option<Aborted>,
    /// `--targets`: the mix (its entries' numbers are in `rec.entries`).
    pub mix: Option<crate::mix::Described>,
    /// The addresses the connections went to, and how many connects each took.
    pub spread: crate::addrs::Spread,
    /// TLS (`https://`, `tls://`): what was negotiated, the certificate, the
    /// handshakes; `None` over plain TCP.
    pub tls: Option<crate::tls_peer::TlsRun>,
    /// `--segment`: which share of which run this is (its `load` is the share);
    /// `None` for a run in one process, and for a merge.
    pub part: Option<crate::split::Part>,
    /// A merge of segments (the coordinator's, or `loadgen merge`): the run and a row
    /// per segment.
    pub merged: Option<crate::split::Merged>,
}

/// `--stages`: the target in effect over the run's intervals (the interval log's target
/// comments, the CSV's target column).
#[derive(Clone, Debug, PartialEq)]
pub struct StageTargets {
    /// The stages: a rate, or connections when `closed`.
    pub profile: std::sync::Arc<crate::schedule::Profile>,
    /// The warm-up: intervals count from its end, the stages from the run's start.
    pub warmup: Duration,
    /// The targets are connections (closed loop), not requests per second.
    pub closed: bool,
}

impl StageTargets {
    /// The mean target over the interval `start..start + length` of the measurement
    /// (the stages' integral over it, divided by its length; at `start` when it has no
    /// length): what the interval's count per second is to be held against, where the
    /// target at one instant would be off by half a ramp's change in the interval. Past
    /// the last stage the target is 0. Closed loop: the mean of the connection target
    /// as the stages ramp it (the workers follow it rounded, every 20 ms).
    ///
    /// ```
    /// use loadgen::result::StageTargets;
    /// use loadgen::schedule::Profile;
    /// use std::{sync::Arc, time::Duration};
    /// let s = |n| Duration::from_secs(n);
    /// let t = StageTargets {
    ///     profile: Arc::new(Profile::new(&[(s(2), 1000.0), (s(2), 1000.0)])),
    ///     warmup: s(1),
    ///     closed: false,
    /// };
    /// assert_eq!(t.mean(s(0), s(1)), 750.0); // 500 to 1000 req/s, 1..2 s into the run
    /// assert_eq!(t.mean(s(1), s(1)), 1000.0);
    /// assert_eq!(t.mean(s(3), s(1)), 0.0); // past the stages
    /// ```
    pub fn mean(&self, start: Duration, length: Duration) -> f64 {
        let p = &self.profile;
        let t0 = (self.warmup + start).as_secs_f64();
        let len = length.as_secs_f64();
        let v = if len > 0.0 {
            (p.integral(t0 + len) - p.integral(t0)) / len
        } else {
            p.rate_at(t0)
        };
        // Rounding can leave a hair below 0 where the target is 0.
        if v > 0.0 {
            v
        } else {
            0.0
        }
    }

    /// The target's unit as the reports print it: `req/s`, or `connections`.
    pub fn unit(&self) -> &'static str {
        if self.closed {
            "connections"
        } else {
            "req/s"
        }
    }
}

/// One `--stages` stage as run: its target and what was achieved.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct StageRow {
    /// Seconds from the run's start (warm-up included) to the stage's start.
    pub start_s: f64,
    /// Its duration, seconds.
    pub duration_s: f64,
    /// Its rate at the start and at the end (a linear ramp between).
    pub from_rps: f64,
    /// See `from_rps`.
    pub to_rps: f64,
    /// Responses measured in the stage.
    pub completed: u64,
    /// The part of the stage that was measured (after the warm-up), seconds.
    pub measured_s: f64,
}

impl StageRow {
    /// The target: the stage's mean rate over its measured part.
    pub fn target_rps(&self) -> f64 {
        (self.from_rps + self.to_rps) / 2.0
    }

    /// Responses per second over the measured part (0 when none of it was).
    pub fn achieved_rps(&self) -> f64 {
        if self.measured_s > 0.0 {
            self.completed as f64 / self.measured_s
        } else {
            0.0
        }
    }
}

impl RunResult {
    /// Pacing: open loop at the load's rate (with stages, their mean over the
    /// measured time), or closed loop.
    pub fn mode(&self) -> Mode {
        self.load
            .rate
            .map_or(Mode::Closed, |rate| Mode::Open { rate })
    }

    /// Whether the target was the embedded readyloop server: its counters are here.
    pub fn embedded(&self) -> bool {
        self.server_stats.is_some()
    }

    /// Protocol / framing name (`http`, `echo`, `line`, `fixed:64`, `resp`).
    pub fn proto(&self) -> String {
        self.load.framing.name()
    }

    /// `--targets`: a row per entry of the mix (empty without one).
    pub(crate) fn entry_rows(&self) -> Vec<crate::mix::EntryRow> {
        self.mix
            .as_ref()
            .map_or_else(Vec::new, |d| crate::mix::rows(d, &self.rec.entries))
    }

    /// `--stages`: the targets over the intervals (`None` without stages).
    pub(crate) fn stage_targets(&self) -> Option<StageTargets> {
        self.load.stages.as_ref().map(|p| StageTargets {
            profile: p.clone(),
            warmup: self.load.warmup,
            closed: self.load.stages_closed,
        })
    }

    /// `--stages` in open loop: the highest rate the stages ask for after the warm-up
    /// (their first part), as `mode`'s rate is their mean there. `None` without stages
    /// or when their targets are connections.
    pub(crate) fn stage_peak_rps(&self) -> Option<f64> {
        let p = self
            .load
            .stages
            .as_ref()
            .filter(|_| !self.load.stages_closed)?;
        let from = self.load.warmup.as_secs_f64();
        // Each stage is linear: its highest point in the measured part is at one end.
        let peak = p
            .stages()
            .filter(|&(s, d, ..)| s + d > from)
            .map(|(s, d, a, b)| {
                let at_start = a + (b - a) * (from.max(s) - s) / d.max(1e-12);
                at_start.max(b)
            })
            .fold(0.0, f64::max);
        Some(peak)
    }

    /// `--stages`: a row per stage.
    pub(crate) fn stage_rows(&self) -> Vec<StageRow> {
        let Some(p) = &self.load.stages else {
            return Vec::new();
        };
        let (from, to) = (
            self.load.warmup.as_secs_f64(),
            (self.load.warmup + self.duration).as_secs_f64(),
        );
        p.stages()
            .enumerate()
            .map(|(i, (s, d, a, b))| StageRow {
                start_s: s,
                duration_s: d,
                from_rps: a,
                to_rps: b,
                completed: self.rec.stage_done.get(i).copied().unwrap_or(0),
                measured_s: ((s + d).min(to) - s.max(from)).max(0.0),
            })
            .collect()
    }
}

/// A run stopped early by `--abort-on-fail`.
#[derive(Clone, Debug)]
pub struct Aborted {
    /// After how much measured time.
    pub after: Duration,
    /// The thresholds that had failed then, judged on the data so far.
    pub failed: Vec<crate::slo::Verdict>,
}

impl RunResult {
    /// Where a signal stopped this run before its measurement began (`None`: not
    /// interrupted, or interrupted in the measurement): nothing was measured then, and
    /// the reports say so rather than "0.0s measured after the warm-up".
    pub(crate) fn stopped_before_measuring(&self) -> Option<BeforeMeasuring> {
        let i = self.interrupted?;
        if self.connect_phase.is_none() {
            Some(BeforeMeasuring::Connecting)
        } else if i.warmup_ran < self.load.warmup {
            Some(BeforeMeasuring::Warmup(i.warmup_ran))
        } else {
            None
        }
    }

    /// Whether every `--slo` threshold held (true without `--slo`).
    pub fn thresholds_pass(&self) -> bool {
        self.aborted.is_none() && self.thresholds.iter().all(|v| v.pass)
    }
}

impl RunResult {
    /// A warning when the server's own request count (embedded HTTP server) disagrees
    /// with the books: it must lie between the replies loadgen counted and the
    /// requests it sent. More than sent: the server answered requests loadgen never
    /// sent, or counts differently; fewer than completed: loadgen counted replies that
    /// belong to no request.
    ///
    /// ```
    /// # use loadgen::result::RunResult;
    /// # fn check(r: &RunResult) { let _ = r.server_gap(); }
    /// ```
    pub fn server_gap(&self) -> Option<String> {
        if self.proto() != "http" {
            return None; // only the HTTP server counts requests
        }
        let server = self.server_stats.as_ref()?.get("requests")?.as_u64()?;
        let (sent, completed) = (self.rec.sent, self.rec.completed);
        if server > sent {
            Some(format!(
                "the server counted {} but loadgen sent {}: it answered requests loadgen did \
                 not send, or counts them differently",
                plural(server, "request", "requests"),
                group(sent)
            ))
        } else if server < completed {
            Some(format!(
                "loadgen counted {} but the server answered {}: some replies belong to no \
                 request",
                plural(completed, "reply", "replies"),
                plural(server, "request", "requests")
            ))
        } else {
            None
        }
    }

    /// Everything the report itself flags as doubtful or limiting, one sentence each:
    /// the server's count against the books, ports exhausted by TIME_WAIT.
    pub fn warnings(&self) -> Vec<String> {
        self.server_gap()
            .into_iter()
            .chain(self.time_wait())
            .chain(self.port_knee())
            .collect()
    }

    /// Many connections toward one destination from one source address: past half the
    /// ephemeral range, connect() searches longer and longer for a free port (the
    /// even-port knee: Linux hands out even ports to connect() first), so opening them
    /// slows; more source addresses avoid it.
    pub(crate) fn port_knee(&self) -> Option<String> {
        let ports = self.ports.ports?;
        if self.ports.sources > 1 || (self.load.connections as u64) <= ports / 2 {
            return None;
        }
        let took = self
            .connect_phase
            .map(|d| format!(" (opening them took {:.1} s)", d.as_secs_f64()))
            .unwrap_or_default();
        let need = (self.load.connections as u64).div_ceil((ports / 2).max(1)) + 1;
        Some(format!(
            "{} from one source address {} half the {} ephemeral {}, where connect() \
             slows{took}: use --source 127.0.0.1-127.0.0.{need} (each address is another port \
             range)",
            plural(self.load.connections as u64, "connection", "connections"),
            if self.load.connections == 1 {
                "passes"
            } else {
                "pass"
            },
            group(ports),
            if ports == 1 { "port" } else { "ports" }
        ))
    }

    /// Connects failed with EADDRNOTAVAIL: out of ephemeral ports, which with a
    /// connection per request means TIME_WAIT: the numbers and the fixes.
    pub(crate) fn time_wait(&self) -> Option<String> {
        let n: u64 = self
            .rec
            .errors
            .iter()
            .filter(|e| e.detail == "EADDRNOTAVAIL")
            .map(|e| e.count)
            .sum();
        if n == 0 {
            return None;
        }
        let p = self.ports;
        let delay_ms = p.tw_reuse_delay_ms.unwrap_or(1000).max(1);
        let sources = p.sources.max(1) as u64;
        let cap = p.ports.map(|ports| ports * sources * 1000 / delay_ms);
        let reuse = match p.tw_reuse {
            Some(0) => "tcp_tw_reuse is off, so a port stays unusable for 60 s (TIME_WAIT)",
            Some(2) => "tcp_tw_reuse=2 reuses TIME_WAIT ports toward loopback only",
            _ => "tcp_tw_reuse lets connect() take a TIME_WAIT port again",
        };
        let mut msg = format!(
            "out of ephemeral ports: {} failed with EADDRNOTAVAIL. Each connection this side \
             closes leaves its port in TIME_WAIT; {reuse}",
            plural(n, "connect", "connects")
        );
        if p.tw_reuse != Some(0) {
            msg.push_str(&format!(" after tcp_tw_reuse_delay ({delay_ms} ms)"));
        }
        if let (Some(ports), Some(cap)) = (p.ports, cap) {
            msg.push_str(&format!(
                ", so about {} x {sources} source address{} / {delay_ms} ms = {} new \
                 connections/s can be made toward one destination",
                plural(ports, "port", "ports"),
                if sources == 1 { "" } else { "es" },
                group(cap)
            ));
        }
        msg.push_str(
            ". Fixes: keep connections open (drop --per-conn), more source addresses \
             (--source 127.0.0.2-127.0.0.9), a wider net.ipv4.ip_local_port_range, \
             net.ipv4.tcp_tw_reuse=1, and where the kernel has it a lower \
             net.ipv4.tcp_tw_reuse_delay (see `loadgen limits`)",
        );
        Some(msg)
    }

    /// Measured responses per second.
    pub fn throughput(&self) -> f64 {
        let s = self.duration.as_secs_f64();
        if s > 0.0 {
            self.rec.measured as f64 / s
        } else {
            0.0
        }
    }

    /// The figures `--slo` thresholds are judged on, from the whole run.
    pub fn figures(&self) -> crate::slo::Figures<'_> {
        let rec = &self.rec;
        crate::slo::Figures {
            corrected: &rec.corrected,
            raw: &rec.raw,
            measured: rec.measured,
            failed: rec.failed,
            unsent: rec.censored.unsent,
            unsent_at_end: rec.censored.at_end,
            unfinished: rec.censored.unfinished,
            error_replies: rec.errors_of(crate::record::ErrorClass::RespError),
            non2xx: rec.non_2xx_3xx(),
            seconds: self.duration.as_secs_f64(),
        }
    }

    /// CPU microseconds this process spent per measured response.
    pub(crate) fn cpu_us_per_request(&self) -> Option<f64> {
        (self.rec.measured > 0)
            .then(|| (self.cpu.user_s + self.cpu.sys_s) * 1e6 / self.rec.measured as f64)
    }

    /// Open loop: the rate asked for against the rate achieved, and why they differ.
    /// `None` in closed loop.
    pub fn schedule(&self) -> Option<Schedule> {
        let Mode::Open { rate } = self.mode() else {
            return None;
        };
        let achieved = self.throughput();
        let unsent = self.rec.censored.unsent;
        let lagging = self.behind_schedule() == Some(true);
        // Missed: 5% under the target, the generator late, or more requests due never
        // sent than the run's end explains. A few unsent at the end are the boundary,
        // not a miss: a connection whose reply is still outstanding when the run ends
        // owes the request that fell due behind it, and about rate x mean latency
        // requests are in flight at any instant (Little's law), so as many, and one
        // for rounding, may fall due behind them in the last moment; never more than
        // 1% of the requests due, and 0.1% always. (All are in "censored" either way.)
        let due = rate * self.duration.as_secs_f64();
        let mean_s = if self.rec.raw.is_empty() {
            0.0
        } else {
            self.rec.raw.mean() / 1e6
        };
        let boundary = ((rate * mean_s).ceil() + 1.0).min((due * 0.01).floor());
        let unsent_ok = unsent as f64 <= (due * 0.001).floor().max(boundary);
        let kept = achieved >= 0.95 * rate && unsent_ok && !lagging;
        let cause = (!kept).then(|| self.cause_behind(rate));
        Some(Schedule {
            target_rps: rate,
            achieved_rps: achieved,
            unsent,
            kept,
            cause,
        })
    }

    /// Why an open-loop run missed its rate: the generator's own CPU, or too few
    /// connections for the latency (Little's law: R x L requests must be in flight).
    fn cause_behind(&self, rate: f64) -> String {
        let secs = self.duration.as_secs_f64();
        let cpu_pct = if secs > 0.0 && self.load.threads() > 0 {
            100.0 * (self.cpu.user_s + self.cpu.sys_s) / (secs * self.load.threads() as f64)
        } else {
            0.0
        };
        // The service time a connection is busy per request: the raw latency.
        let mean_s = if self.rec.raw.is_empty() {
            0.0
        } else {
            self.rec.raw.mean() / 1e6
        };
        let needed = rate * mean_s; // requests in flight to sustain the rate
        if cpu_pct >= 90.0 {
            format!(
                "the generator's own CPU ({cpu_pct:.0}% of its {} thread{}): use more threads (-t) or a lower rate",
                self.load.threads(),
                if self.load.threads() == 1 { "" } else { "s" }
            )
        } else if needed > 0.0 && (self.connections_peak as f64) < needed * 1.2 {
            // The flag values stay ungrouped: they are to be typed as they are.
            let advice = match self.load.max_connections {
                Some(m) if self.connections_peak >= m => format!(
                    "all {} of --max-connections were open: use about --max-connections {:.0}",
                    group(m as u64),
                    (needed * 1.5).ceil()
                ),
                _ => format!(
                    "use about -c {:.0} (or --max-connections to add them as needed)",
                    (needed * 1.5).ceil()
                ),
            };
            format!(
                "too few connections: at a mean latency of {:.2} ms, {} req/s needs {} \
                 in flight (Little's law) and each connection carries one; {advice}",
                mean_s * 1e3,
                group(rate.round() as u64),
                plural(needed.round() as u64, "request", "requests"),
            )
        } else {
            format!(
                "neither the generator's CPU ({cpu_pct:.0}%) nor the connections ({} for about {} \
                 in flight) explain it: the server or the network set the pace (see the latencies)",
                group(self.load.connections as u64),
                group(needed.round() as u64)
            )
        }
    }

    /// Open loop: whether the generator itself fell behind its schedule (its p99
    /// send lag over 1 ms or 10% of the interval between requests of a connection).
    pub fn behind_schedule(&self) -> Option<bool> {
        match self.mode() {
            Mode::Closed => None,
            Mode::Open { rate } => {
                if self.rec.send_lag.is_empty() {
                    return Some(false);
                }
                let per_conn_interval_us = self.load.connections as f64 / rate * 1e6;
                let p99 = self.rec.send_lag.value_at_quantile(0.99) as f64;
                Some(p99 > 1000f64.max(per_conn_interval_us * 0.1))
            }
        }
    }
}
