//! What the probe found: one typed [`ProbeReport`], built once from what was measured
//! ([`ProbeReport::build`]), serialized by serde for `--json` ([`ProbeReport::to_json`])
//! and printed as text ([`ProbeReport::text`]), so both outputs show the same figures.
//! (The run reports are `loadgen::report`; this file is the probe's alone.)
//!
//! The JSON field names and nesting are a contract (scripts and the tests read them);
//! the text is for people and adds the reasons behind a knee in the connect rate. The
//! text is a list of lines (`LINES`), one function each, so a new figure is one new
//! function.
//!
//! A per-connection memory figure is a difference of two readings of the whole machine
//! divided by the connections held: it is printed only when it measures something.
//! With fewer than [`MIN_HELD_TO_MEASURE`] connections, or a difference the rest of the
//! machine's noise outweighs (it went down), the report says so ([`NotMeasured`])
//! instead of printing a negative or zero figure.

use super::observe::{Observed, Snapshot};
use super::options::ProbeOptions;
use super::predict::Prediction;
use super::raise::how_to_raise;
use super::ramp::Stop;
use super::sources::SourceCount;
use super::timeline::{knee, rate_timeline};
use super::tls::Handshakes;
use crate::fmt::{fmt_us, group, whole};
use readyloop::limits::Report;
use serde::Serialize;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;

/// The report of one `loadgen probe` run (all processes together).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct ProbeReport {
    /// The address probed.
    pub target: String,
    /// The target is the embedded echo server.
    pub embedded: bool,
    /// Probe processes.
    pub procs: usize,
    /// `--connect-rate`, connections per second over all processes.
    pub connect_rate: f64,
    /// Per source address.
    pub sources: Vec<SourceCount>,
    /// The prediction made before the ramp and whether it held.
    pub prediction: Option<PredictionCheck>,
    /// Connections open at once when every process had finished its ramp.
    pub held_at_once: u64,
    /// Connections established during the ramp.
    pub established: u64,
    /// Connect attempts.
    pub attempted: u64,
    /// Connections open when the hold ended.
    pub held_end: u64,
    /// Why the ramp stopped (with `--procs`, the first process's stop that names a
    /// limit, see [`super::merge`]).
    pub stop: Stop,
    /// Each process's own stop, in the order they were started (one without `--procs`).
    pub process_stops: Vec<Stop>,
    /// [`Stop::describe`].
    pub stop_description: String,
    /// [`how_to_raise`] for this stop on this machine.
    pub how_to_raise: String,
    /// Ramp duration, seconds.
    pub ramp_s: f64,
    /// Whole run (ramp, hold, verify), seconds.
    pub elapsed_s: f64,
    /// Connect times, us.
    pub connect_us: ConnectTimes,
    /// Connect rate per half second of the ramp: (seconds from start, connections/s);
    /// the last 100 ms, cut short by the stop, is left out ([`rate_timeline`]).
    pub rate_per_s: Vec<(f64, f64)>,
    /// A knee in the connect rate, if there was one ([`knee`]).
    pub knee: Option<Knee>,
    /// Connections the server closed.
    pub closed_by_server: ClosedByServer,
    /// The `--verify` echoes.
    pub verify: Verify,
    /// Errors seen (errno name, count).
    pub errors: Vec<(String, u64)>,
    /// Over TLS (`tls://`, `https://`): the server name, the certificate's verdict and
    /// the handshakes; `None` for a plain target.
    pub tls: Option<TlsView>,
    /// This loadgen's own memory while holding (all its probe processes), when it could
    /// read it.
    pub client: Option<ClientView>,
    /// The server's own view, when its stats were read before and during the hold.
    pub server: Option<ServerView>,
    /// The kernel's view, when `/proc/net/sockstat` was read before and during the hold.
    pub kernel: Option<KernelView>,
    /// `--hold` (text only: not in the JSON).
    #[serde(skip)]
    pub hold: Duration,
    /// `--source` was given (text only: not in the JSON). Without it the kernel's port
    /// search explains a knee.
    #[serde(skip)]
    pub sources_given: bool,
}

/// A [`Prediction`] and whether the count held at once matched it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct PredictionCheck {
    /// Connections predicted.
    pub connections: u64,
    /// The limit that predicted them.
    pub limited_by: String,
    /// Held at once within the tolerance of [`Prediction::held`].
    pub held: bool,
}

/// Connect-time percentiles, us; `None` when nothing connected.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub(crate) struct ConnectTimes {
    /// Median.
    pub p50: Option<u64>,
    /// 90th percentile.
    pub p90: Option<u64>,
    /// 99th percentile.
    pub p99: Option<u64>,
    /// Slowest.
    pub max: Option<u64>,
    /// Connects recorded.
    pub count: u64,
}

/// The connect rate over the first and the last fifths of the ramp, connections/s.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Knee {
    /// Over the first fifth.
    pub first_rate: f64,
    /// Over the last fifth.
    pub last_rate: f64,
}

/// Connections the server closed, by phase.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub(crate) struct ClosedByServer {
    /// During the ramp.
    pub ramp: u64,
    /// During the hold.
    pub hold: u64,
}

/// The `--verify` counts; all `None` without `--verify`. `alive + too_slow + dead` is
/// every connection a verify request went out on; with `closed_before`, every
/// connection held at once.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub(crate) struct Verify {
    /// Held connections that answered before the deadline.
    pub alive: Option<u64>,
    /// Held connections that had not answered by the deadline: queued and never
    /// accepted, or a slow server (with those answered late).
    pub too_slow: Option<u64>,
    /// Of the too slow, those whose answer came after the deadline.
    pub answered_late: Option<u64>,
    /// Held connections closed or reset before they answered.
    pub dead: Option<u64>,
    /// The deadline, seconds after the last verify request went out (it grows with the
    /// number of connections).
    pub window_s: Option<f64>,
    /// Connections held at once that closed during the hold, before the verify
    /// ([`closed_before_verify`]).
    pub closed_before: Option<u64>,
}

/// Of `held_at_once` connections, those the verify did not find open (closed during
/// the hold: by the server, as the closed-by-server count says), given what it found:
/// `answered`, `too_slow` and `dead`. Saturates: connects that completed after the
/// ramp (held later, not at once) can make the verify find more.
pub(crate) fn closed_before_verify(
    held_at_once: u64,
    answered: u64,
    too_slow: u64,
    dead: u64,
) -> u64 {
    held_at_once.saturating_sub(answered + too_slow + dead)
}

/// Fewer connections held than this, and a per-connection memory figure is not
/// reported: the slab, RSS and socket pages of the whole machine move by more than
/// that many connections cost (the report once said "0 bytes of slab" for 50).
pub(crate) const MIN_HELD_TO_MEASURE: u64 = 1000;

/// Why a per-connection memory figure is not reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum NotMeasured {
    /// Fewer than [`MIN_HELD_TO_MEASURE`] connections held.
    TooFewConnections,
    /// The reading went down while the connections were held (or, for the slab, which
    /// every socket adds to, did not move): whatever they cost is below the noise of
    /// the rest of the machine.
    TooSmall,
}

/// The TLS side of a probe over TLS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct TlsView {
    /// The name sent in SNI and checked in the certificate.
    pub server_name: String,
    /// The certificate was verified (false with `--insecure`).
    pub verified: bool,
    /// Handshakes done and failed, over every probe process. A connection counts as
    /// established once its handshake is done.
    pub handshakes: Handshakes,
}

/// This loadgen's anonymous RSS (`RssAnon`: heap and stacks) before the ramp and once
/// every connection was held, summed over its probe processes: what a held connection
/// costs the client in user space (over TLS, with the TLS state).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct ClientView {
    /// Before the ramp, bytes.
    pub rss_anon_before: u64,
    /// When the ramp had settled, every connection held, bytes.
    pub rss_anon_held: u64,
    /// Growth per connection held at once, bytes; `None` when not measured.
    pub user_bytes_per_connection: Option<f64>,
    /// Why `user_bytes_per_connection` was not measured.
    pub user_bytes_not_measured: Option<NotMeasured>,
}

/// The server's `/stats` before the ramp and during the hold.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct ServerView {
    /// Its active connections before.
    pub active_before: u64,
    /// Its active connections during the hold: those it accepted.
    pub active_during: u64,
    /// Its accepted count during the hold.
    pub accepted_during: Option<u64>,
    /// Its open descriptors during the hold.
    pub fds_open_during: Option<u64>,
    /// Its RSS before, bytes (0: it could not read it).
    pub rss_before: u64,
    /// Its RSS during the hold, bytes (0: it could not read it).
    pub rss_during: u64,
    /// RSS growth per connection it accepted, bytes; `None` when unknown or not
    /// measured.
    pub user_bytes_per_connection: Option<f64>,
    /// Why `user_bytes_per_connection` was not measured, when its readings exist.
    pub user_bytes_not_measured: Option<NotMeasured>,
    /// Held at once but not accepted: waiting in its accept queue.
    pub queued_not_accepted: u64,
}

/// `/proc/net/sockstat` and the slab before the ramp and during the hold.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct KernelView {
    /// TCP buffer memory before, pages.
    pub tcp_mem_pages_before: Option<u64>,
    /// TCP buffer memory during the hold, pages.
    pub tcp_mem_pages_during: Option<u64>,
    /// TCP sockets in use during the hold.
    pub tcp_inuse_during: Option<u64>,
    /// TCP buffer memory growth per connection held at once, bytes; `None` when
    /// unknown or not measured.
    pub tcp_mem_bytes_per_connection: Option<f64>,
    /// Why `tcp_mem_bytes_per_connection` was not measured, when its readings exist.
    pub tcp_mem_not_measured: Option<NotMeasured>,
    /// Slab growth per connection held at once, bytes (both ends on loopback); `None`
    /// when unknown or not measured.
    pub slab_bytes_per_connection: Option<f64>,
    /// Why `slab_bytes_per_connection` was not measured, when its readings exist.
    pub slab_not_measured: Option<NotMeasured>,
}

/// Bytes per connection from a reading `before` and `during` the hold of `held`
/// connections, or why that is no measurement. `zero_is_noise`: a reading every
/// connection must add to (the slab), for which no growth is noise too.
fn per_connection(
    before: u64,
    during: u64,
    held: u64,
    zero_is_noise: bool,
) -> Result<f64, NotMeasured> {
    if held < MIN_HELD_TO_MEASURE {
        return Err(NotMeasured::TooFewConnections);
    }
    if during < before || (zero_is_noise && during == before) {
        return Err(NotMeasured::TooSmall);
    }
    Ok((during - before) as f64 / held as f64)
}

/// [`per_connection`] as the report's pair of fields: `(None, None)` without readings.
fn split(m: Option<Result<f64, NotMeasured>>) -> (Option<f64>, Option<NotMeasured>) {
    match m {
        Some(Ok(b)) => (Some(b), None),
        Some(Err(why)) => (None, Some(why)),
        None => (None, None),
    }
}

/// What a report is built from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReportInputs<'a> {
    /// The command's options.
    pub options: &'a ProbeOptions,
    /// The address probed.
    pub target: SocketAddr,
    /// It is the embedded echo server.
    pub embedded: bool,
    /// This machine's limits.
    pub limits: &'a Report,
    /// The prediction made before the ramp.
    pub prediction: Option<&'a Prediction>,
    /// Read before the ramp.
    pub before: &'a Snapshot,
    /// The result and what was read while every connection was held.
    pub observed: &'a Observed,
    /// The whole run.
    pub elapsed: Duration,
}

impl ProbeReport {
    /// Build the report: every figure both outputs show is computed here.
    pub fn build(i: &ReportInputs) -> ProbeReport {
        let o = i.options;
        let r = &i.observed.result;
        let held_at_once = i.observed.held_at_once;
        let q = |p: f64| (!r.connect.is_empty()).then(|| r.connect.value_at_quantile(p));
        ProbeReport {
            target: i.target.to_string(),
            embedded: i.embedded,
            procs: o.procs.max(1),
            connect_rate: o.spec_rate,
            sources: r.sources.clone(),
            prediction: i.prediction.map(|p| PredictionCheck {
                connections: p.connections,
                limited_by: p.limited_by.clone(),
                held: p.held(held_at_once),
            }),
            held_at_once,
            established: r.established,
            attempted: r.attempted,
            held_end: r.held_end,
            stop: r.stop.clone(),
            process_stops: i.observed.stops.clone(),
            stop_description: r.stop.describe(),
            how_to_raise: how_to_raise(&r.stop, i.limits, o.procs),
            ramp_s: r.ramp.as_secs_f64(),
            elapsed_s: i.elapsed.as_secs_f64(),
            connect_us: ConnectTimes {
                p50: q(0.5),
                p90: q(0.9),
                p99: q(0.99),
                max: (!r.connect.is_empty()).then(|| r.connect.max()),
                count: r.connect.len(),
            },
            rate_per_s: rate_timeline(&r.timeline, 5),
            knee: knee(&r.timeline).map(|(first_rate, last_rate)| Knee {
                first_rate,
                last_rate,
            }),
            closed_by_server: ClosedByServer {
                ramp: r.closed_by_server_ramp,
                hold: r.closed_by_server_hold,
            },
            verify: Verify {
                alive: r.verified_alive,
                too_slow: r.verified_too_slow,
                answered_late: r.verified_late,
                dead: r.verified_dead,
                window_s: r.verify_window_s,
                closed_before: r.verified_alive.map(|a| {
                    closed_before_verify(
                        held_at_once,
                        a,
                        r.verified_too_slow.unwrap_or(0),
                        r.verified_dead.unwrap_or(0),
                    )
                }),
            },
            errors: r.errors.clone(),
            tls: o.tls.as_ref().map(|t| TlsView {
                server_name: t.target.server_name.to_str().into_owned(),
                verified: t.target.verified,
                handshakes: r.handshakes.clone().unwrap_or_default(),
            }),
            client: client_view(r.rss_anon_before, r.rss_anon_held, held_at_once),
            server: server_view(i.before, &i.observed.during, held_at_once),
            kernel: kernel_view(i.before, &i.observed.during, held_at_once, i.limits),
            hold: o.hold,
            sources_given: !o.sources.is_empty(),
        }
    }

    /// The pretty JSON of `--json` (no trailing newline).
    pub fn to_json(&self) -> String {
        // Through a `Value`, whose map keeps its keys sorted: the order this JSON has
        // always had. Straight from the struct the keys would come in field order, and
        // an internally tagged `stop` would put its `kind` first.
        serde_json::to_value(self)
            .and_then(|v| serde_json::to_string_pretty(&v))
            .unwrap_or_default()
    }

    /// The text report: its lines (`LINES`, one function each) in order.
    pub fn text(&self) -> String {
        LINES.iter().map(|line| line(self)).collect()
    }
}

/// A line of the probe's text report (or a few, or none when it does not apply), with
/// its newline.
type Line = fn(&ProbeReport) -> String;

/// The lines of the probe's text report, in the order they print.
const LINES: &[Line] = &[
    ProbeReport::held_line,
    ProbeReport::stop_line,
    ProbeReport::prediction_line,
    ProbeReport::tls_line,
    ProbeReport::connect_line,
    ProbeReport::rate_line,
    ProbeReport::knee_line,
    ProbeReport::closed_line,
    ProbeReport::verify_line,
    ProbeReport::client_line,
    ProbeReport::server_line,
    ProbeReport::kernel_line,
    ProbeReport::sources_line,
    ProbeReport::errors_line,
];

impl ProbeReport {
    /// `held:`, the count held at once, established and attempted.
    fn held_line(&self) -> String {
        format!(
            "held:       {} connections at once ({} established in {:.1} s, {} attempted)\n",
            group(self.held_at_once),
            group(self.established),
            self.ramp_s,
            group(self.attempted)
        )
    }

    /// `stopped by:`, each process's stop with `--procs`, and how to raise the limit.
    fn stop_line(&self) -> String {
        let mut s = format!("stopped by: {}\n", self.stop_description);
        if self.process_stops.len() > 1 {
            for (i, st) in self.process_stops.iter().enumerate() {
                s += &format!("  process {}: {}\n", i + 1, st.describe());
            }
        }
        s += &format!("  to raise: {}\n", self.how_to_raise);
        s
    }

    /// `prediction:` and whether it held (empty without one).
    fn prediction_line(&self) -> String {
        let Some(p) = &self.prediction else {
            return String::new();
        };
        format!(
            "prediction: {} ({} predicted, limited by {})\n",
            if p.held { "held" } else { "did NOT hold" },
            group(p.connections),
            p.limited_by
        )
    }

    /// `tls:`, the server name, the certificate's verdict and the handshakes (empty
    /// for a plain target).
    fn tls_line(&self) -> String {
        let Some(t) = &self.tls else {
            return String::new();
        };
        format!(
            "tls:        {}, {}; handshakes: {}\n",
            t.server_name,
            if t.verified { "verified" } else { "UNVERIFIED" },
            t.handshakes.line()
        )
    }

    /// `connect:`, the connect times (over TLS, to the handshake's end).
    fn connect_line(&self) -> String {
        let c = &self.connect_us;
        format!(
            "connect:    p50 {}  p99 {}  max {}  ({} connects{})\n",
            fmt_opt_us(c.p50),
            fmt_opt_us(c.p99),
            fmt_opt_us(c.max),
            group(c.count),
            if self.tls.is_some() {
                ", TCP and TLS handshake"
            } else {
                ""
            }
        )
    }

    /// `client:`, this loadgen's own memory per held connection (empty when it could
    /// not read it).
    fn client_line(&self) -> String {
        let Some(c) = &self.client else {
            return String::new();
        };
        let what = match (c.user_bytes_per_connection, c.user_bytes_not_measured) {
            (Some(b), _) => format!("user-space {} bytes per held connection", whole(b)),
            (None, Some(why)) => format!(
                "user-space memory per held connection {}",
                fmt_not_measured(why, self.held_at_once)
            ),
            (None, None) => "user-space unknown bytes per held connection".to_string(),
        };
        format!(
            "client:     {what}{} (this loadgen's anonymous RSS, {} while holding)\n",
            if self.tls.is_some() {
                ", TLS state included"
            } else {
                ""
            },
            fmt_mib(c.rss_anon_held)
        )
    }

    /// `rate:`, the connect rate over the first 24 half seconds (empty without any).
    fn rate_line(&self) -> String {
        let rates: Vec<String> = self
            .rate_per_s
            .iter()
            .take(24)
            .map(|(t, v)| format!("{t:.1}s {}/s", whole(*v)))
            .collect();
        if rates.is_empty() {
            return String::new();
        }
        format!("rate:       {}\n", rates.join(" | "))
    }

    /// `closed by the server:` during the ramp and during the hold.
    fn closed_line(&self) -> String {
        format!(
            "closed by the server: {} during the ramp, {} during the {:.1} s hold\n",
            group(self.closed_by_server.ramp),
            group(self.closed_by_server.hold),
            self.hold.as_secs_f64()
        )
    }

    /// `server:`, what the server accepted and its memory per connection (empty
    /// without its stats).
    fn server_line(&self) -> String {
        let Some(srv) = &self.server else {
            return String::new();
        };
        let accepted = srv.active_during.saturating_sub(srv.active_before);
        let user = match (srv.user_bytes_per_connection, srv.user_bytes_not_measured) {
            (Some(b), _) => format!("user-space {} bytes per held connection", whole(b)),
            (None, Some(why)) => format!(
                "user-space memory per held connection {}",
                fmt_not_measured(why, accepted)
            ),
            (None, None) => "user-space unknown bytes per held connection".to_string(),
        };
        format!(
            "server:     {} active while holding (accepted), {} queued and never accepted; {user}\n",
            group(srv.active_during),
            group(srv.queued_not_accepted),
        )
    }

    /// `kernel:`, its memory per connection held (empty without sockstat).
    fn kernel_line(&self) -> String {
        let Some(k) = &self.kernel else {
            return String::new();
        };
        format!(
            "kernel:     per held connection: {}, {}\n",
            fmt_mem(
                k.tcp_mem_bytes_per_connection,
                k.tcp_mem_not_measured,
                "TCP buffer memory (sockstat mem)",
                self.held_at_once
            ),
            fmt_mem(
                k.slab_bytes_per_connection,
                k.slab_not_measured,
                "slab (both ends, /proc/meminfo)",
                self.held_at_once
            ),
        )
    }

    /// `sources:`, the count per source address (only with several, or one exhausted).
    fn sources_line(&self) -> String {
        if self.sources.len() <= 1 && !self.sources.iter().any(|x| x.exhausted) {
            return String::new();
        }
        let list: Vec<String> = self
            .sources
            .iter()
            .map(|x| {
                format!(
                    "{} {}{}",
                    x.source,
                    group(x.established),
                    if x.exhausted { " (exhausted)" } else { "" }
                )
            })
            .collect();
        format!("sources:    {}\n", list.join(", "))
    }

    /// `errors:`, by errno (empty without any).
    fn errors_line(&self) -> String {
        if self.errors.is_empty() {
            return String::new();
        }
        let list: Vec<String> = self
            .errors
            .iter()
            .map(|(e, c)| format!("{e} {}", group(*c)))
            .collect();
        format!("errors:     {}\n", list.join(", "))
    }

    /// The `knee:` line (empty without a knee): the connect rate's fall and its likely
    /// cause.
    fn knee_line(&self) -> String {
        let Some(k) = &self.knee else {
            return String::new();
        };
        let timeouts = self.errors.iter().any(|(e, _)| e == "timeout");
        let why = if timeouts || self.stop == Stop::ConnectTimeout {
            "connects were timing out: the server's accept queue was full and SYNs were dropped"
        } else if !self.sources_given {
            "without --source, connect() takes the even ephemeral ports first and searches the odd ones \
             much more slowly once they run out; with --source and IP_BIND_ADDRESS_NO_PORT the search is per 4-tuple"
        } else {
            "the connect() calls themselves got slower (see the connect times)"
        };
        format!(
            "knee:       the connect rate fell from {}/s to {}/s: {why}\n",
            whole(k.first_rate),
            whole(k.last_rate)
        )
    }

    /// The `verify:` line (empty without `--verify`): what became of every connection
    /// held at once, so its figures add up to the count held; the time is the
    /// deadline the answers had, not how long the verify took.
    fn verify_line(&self) -> String {
        let v = &self.verify;
        let (Some(a), Some(d)) = (v.alive, v.dead) else {
            return String::new();
        };
        let slow = v.too_slow.unwrap_or(0);
        let why = if slow > 0 {
            format!(
                " (queued and never accepted, or a slow server; {} answered after the deadline)",
                group(v.answered_late.unwrap_or(0))
            )
        } else {
            String::new()
        };
        let closed = closed_before_verify(self.held_at_once, a, slow, d);
        let closed = if closed > 0 {
            format!(
                ", {} closed during the hold, before the verify",
                group(closed)
            )
        } else {
            String::new()
        };
        format!(
            "verify:     of the {} held: {} answered before a {:.1} s deadline, {} too slow to answer{why}, \
             {} dead (closed or reset){closed}\n",
            group(self.held_at_once.max(a + slow + d)),
            group(a),
            v.window_s.unwrap_or(0.0),
            group(slow),
            group(d),
        )
    }
}

/// The client's view: only when its memory was read both before and while holding.
fn client_view(before: Option<u64>, held: Option<u64>, held_at_once: u64) -> Option<ClientView> {
    let (b, h) = (before?, held?);
    let (user_bytes_per_connection, user_bytes_not_measured) =
        split(Some(per_connection(b, h, held_at_once, false)));
    Some(ClientView {
        rss_anon_before: b,
        rss_anon_held: h,
        user_bytes_per_connection,
        user_bytes_not_measured,
    })
}

/// The server's view: only when its stats were read both before and during the hold.
fn server_view(before: &Snapshot, during: &Snapshot, held_at_once: u64) -> Option<ServerView> {
    let (b, d) = (before.server.as_ref()?, during.server.as_ref()?);
    let active = |v: &Value| v["active"].as_u64().unwrap_or(0);
    let rss = |v: &Value| v["rss_bytes"].as_u64().unwrap_or(0);
    let dn = active(d).saturating_sub(active(b));
    // A server at its fd limit may fail to read its own RSS (0): unknown then.
    let (user_bytes_per_connection, user_bytes_not_measured) =
        split((rss(b) > 0 && rss(d) > 0).then(|| per_connection(rss(b), rss(d), dn, false)));
    Some(ServerView {
        active_before: active(b),
        active_during: active(d),
        accepted_during: d["stats"]["accepted"].as_u64(),
        fds_open_during: d["fds_open"].as_u64(),
        rss_before: rss(b),
        rss_during: rss(d),
        user_bytes_per_connection,
        user_bytes_not_measured,
        queued_not_accepted: held_at_once.saturating_sub(dn),
    })
}

/// The kernel's view: only when sockstat was read both before and during the hold.
fn kernel_view(
    before: &Snapshot,
    during: &Snapshot,
    held_at_once: u64,
    limits: &Report,
) -> Option<KernelView> {
    let (b, d) = (before.sockstat?, during.sockstat?);
    let page = limits.page_size;
    // Sockstat counts whole pages: an exact count, so no growth is a real 0 (idle
    // sockets hold no buffer pages), unlike the slab's.
    let (tcp_mem_bytes_per_connection, tcp_mem_not_measured) =
        split(b.tcp_mem_pages.zip(d.tcp_mem_pages).map(|(pb, pd)| {
            per_connection(
                pb.saturating_mul(page),
                pd.saturating_mul(page),
                held_at_once,
                false,
            )
        }));
    let (slab_bytes_per_connection, slab_not_measured) = split(
        before
            .slab
            .zip(during.slab)
            .map(|(sb, sd)| per_connection(sb, sd, held_at_once, true)),
    );
    Some(KernelView {
        tcp_mem_pages_before: b.tcp_mem_pages,
        tcp_mem_pages_during: d.tcp_mem_pages,
        tcp_inuse_during: d.tcp_inuse,
        tcp_mem_bytes_per_connection,
        tcp_mem_not_measured,
        slab_bytes_per_connection,
        slab_not_measured,
    })
}

/// Bytes as MiB with one decimal.
fn fmt_mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}

/// A connect time, or `-` when nothing connected.
fn fmt_opt_us(v: Option<u64>) -> String {
    v.map_or("-".to_string(), |u| fmt_us(u as f64))
}

/// Why a figure over `n` connections is not given, in words.
fn fmt_not_measured(why: NotMeasured, n: u64) -> String {
    match why {
        NotMeasured::TooSmall => "too small to measure".to_string(),
        NotMeasured::TooFewConnections => format!(
            "too few connections to measure ({} held, at least {} needed)",
            group(n),
            group(MIN_HELD_TO_MEASURE)
        ),
    }
}

/// "N bytes of WHAT", or why WHAT was not measured, or "unknown bytes of WHAT".
fn fmt_mem(bytes: Option<f64>, why: Option<NotMeasured>, what: &str, n: u64) -> String {
    match (bytes, why) {
        (Some(b), _) => format!("{} bytes of {what}", whole(b)),
        (None, Some(why)) => format!("{what} {}", fmt_not_measured(why, n)),
        (None, None) => format!("unknown bytes of {what}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ProbeReport {
        // 200 held: below MIN_HELD_TO_MEASURE, the client figure says so.
        ProbeReport {
            target: "127.0.0.1:7000".into(),
            embedded: true,
            procs: 1,
            connect_rate: 5000.0,
            sources: vec![SourceCount {
                source: "default".into(),
                established: 200,
                exhausted: false,
            }],
            prediction: Some(PredictionCheck {
                connections: 200,
                limited_by: "--max".into(),
                held: true,
            }),
            held_at_once: 200,
            established: 200,
            attempted: 200,
            held_end: 200,
            stop: Stop::Descriptors {
                errno: "EMFILE".into(),
            },
            process_stops: vec![Stop::Descriptors {
                errno: "EMFILE".into(),
            }],
            stop_description: "EMFILE: this process's descriptor limit (RLIMIT_NOFILE)".into(),
            how_to_raise: "raise it".into(),
            ramp_s: 0.04,
            elapsed_s: 0.05,
            connect_us: ConnectTimes {
                p50: Some(367),
                p90: Some(465),
                p99: Some(1835),
                max: Some(1839),
                count: 200,
            },
            rate_per_s: vec![(0.0, 2000.0)],
            knee: None,
            closed_by_server: ClosedByServer { ramp: 0, hold: 1 },
            verify: Verify::default(),
            errors: vec![("EMFILE".into(), 1)],
            tls: None,
            client: client_view(Some(1 << 20), Some((1 << 20) + 200 * 150), 200),
            server: Some(ServerView {
                active_before: 0,
                active_during: 200,
                accepted_during: Some(200),
                fds_open_during: Some(213),
                rss_before: 7372800,
                rss_during: 7393280,
                user_bytes_per_connection: Some(102.4),
                user_bytes_not_measured: None,
                queued_not_accepted: 0,
            }),
            kernel: Some(KernelView {
                tcp_mem_pages_before: Some(387),
                tcp_mem_pages_during: Some(387),
                tcp_inuse_during: Some(403),
                tcp_mem_bytes_per_connection: Some(0.0),
                tcp_mem_not_measured: None,
                slab_bytes_per_connection: None,
                slab_not_measured: None,
            }),
            hold: Duration::from_millis(100),
            sources_given: false,
        }
    }

    /// Every key of a JSON value, as paths (`server.rss_before`), in document order.
    fn key_paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
        if let Value::Object(m) = v {
            for (k, x) in m {
                let p = format!("{prefix}{k}");
                out.push(p.clone());
                key_paths(x, &format!("{p}."), out);
            }
        }
    }

    #[test]
    fn test_json_keeps_the_field_names_nesting_and_sorted_order() {
        let text = sample().to_json();
        let v: Value = serde_json::from_str(&text).unwrap();
        let mut keys = Vec::new();
        key_paths(&v, "", &mut keys);
        let expected = "attempted client client.rss_anon_before client.rss_anon_held \
             client.user_bytes_not_measured client.user_bytes_per_connection \
             closed_by_server closed_by_server.hold closed_by_server.ramp \
             connect_rate connect_us connect_us.count connect_us.max connect_us.p50 connect_us.p90 \
             connect_us.p99 elapsed_s embedded errors established held_at_once held_end how_to_raise \
             kernel kernel.slab_bytes_per_connection kernel.slab_not_measured kernel.tcp_inuse_during \
             kernel.tcp_mem_bytes_per_connection kernel.tcp_mem_not_measured kernel.tcp_mem_pages_before \
             kernel.tcp_mem_pages_during \
             knee prediction prediction.connections prediction.held prediction.limited_by process_stops \
             procs ramp_s \
             rate_per_s server server.accepted_during server.active_before server.active_during \
             server.fds_open_during server.queued_not_accepted server.rss_before server.rss_during \
             server.user_bytes_not_measured server.user_bytes_per_connection sources stop stop.errno \
             stop.kind stop_description \
             target tls verify verify.alive verify.answered_late verify.closed_before verify.dead \
             verify.too_slow verify.window_s";
        assert_eq!(keys.join(" "), expected);
        // The text order too: `stop` prints its errno before its kind, as it always did.
        let errno = text.find("\"errno\"").unwrap();
        assert!(errno < text.find("\"kind\"").unwrap(), "{text}");
        assert!(text.contains("\"rate_per_s\": [\n    [\n      0.0,\n      2000.0\n    ]\n  ]"));
        assert!(!text.contains("hold\": 0.1") && !text.contains("sources_given"));
    }

    #[test]
    fn test_text_from_the_typed_report() {
        let t = sample().text();
        assert!(t.starts_with(
            "held:       200 connections at once (200 established in 0.0 s, 200 attempted)\n"
        ));
        assert!(t.contains("prediction: held (200 predicted, limited by --max)\n"));
        assert!(t.contains("connect:    p50 367us  p99 1.83ms  max 1.84ms  (200 connects)\n"));
        assert!(t.contains("closed by the server: 0 during the ramp, 1 during the 0.1 s hold\n"));
        assert!(!t.contains("verify:"), "no --verify, no verify line");
        let mut v = sample();
        v.verify = Verify {
            alive: Some(190),
            too_slow: Some(8),
            answered_late: Some(3),
            dead: Some(2),
            window_s: Some(3.1),
            closed_before: Some(0),
        };
        assert!(v.text().contains(
            "verify:     of the 200 held: 190 answered before a 3.1 s deadline, 8 too slow to answer \
             (queued and never accepted, or a slow server; 3 answered after the deadline), 2 dead \
             (closed or reset)\n"
        ));
        v.process_stops = vec![Stop::Max, v.stop.clone()];
        assert!(v.text().contains(
            "stopped by: EMFILE: this process's descriptor limit (RLIMIT_NOFILE)\n  \
             process 1: reached --max\n  process 2: EMFILE: this process's descriptor limit (RLIMIT_NOFILE)\n"
        ));
        assert!(t.contains("user-space 102 bytes per held connection\n"));
        assert!(t.contains("0 bytes of TCP buffer memory (sockstat mem), unknown bytes of slab"));
        assert!(!t.contains("sources:"), "one source, not exhausted");
        assert!(t.ends_with("errors:     EMFILE 1\n"));
    }

    /// Issue 15, item 5: the verify line accounts for every connection held (here 4
    /// the server closed during the hold, before the verify: they were missing from
    /// it), and its time reads as the deadline it is, not as the time verify took.
    #[test]
    fn test_verify_figures_add_up_to_what_was_held() {
        let mut r = sample();
        r.held_at_once = 19_988;
        r.established = 19_988;
        r.held_end = 19_984;
        r.closed_by_server = ClosedByServer { ramp: 0, hold: 4 };
        r.verify = Verify {
            alive: Some(19_984),
            too_slow: Some(0),
            answered_late: Some(0),
            dead: Some(0),
            window_s: Some(13.0),
            ..Verify::default()
        };
        let line = line_of(&r, "verify:");
        assert_eq!(
            line,
            "verify:     of the 19,988 held: 19,984 answered before a 13.0 s deadline, 0 too slow to \
             answer, 0 dead (closed or reset), 4 closed during the hold, before the verify"
        );
    }

    #[test]
    fn test_tls_and_client_lines() {
        let mut r = sample();
        assert!(!r.text().contains("tls:"), "plain: no tls line");
        assert!(r.text().contains(
            "client:     user-space memory per held connection too few connections to measure (200 held"
        ));
        r.held_at_once = 2000;
        r.client = client_view(Some(1 << 20), Some((1 << 20) + 2000 * 4420), 2000);
        let mut h = Handshakes::of(&readyloop::tls::TlsStats::default());
        h.full = 1990;
        h.resumed = 10;
        r.tls = Some(TlsView {
            server_name: "localhost".into(),
            verified: true,
            handshakes: h,
        });
        let t = r.text();
        assert!(
            t.contains(
                "tls:        localhost, verified; handshakes: 1,990 full, 10 resumed, 0 failed\n"
            ),
            "{t}"
        );
        assert!(t.contains("(200 connects, TCP and TLS handshake)"), "{t}");
        assert!(
            t.contains(
                "client:     user-space 4,420 bytes per held connection, TLS state included"
            ),
            "{t}"
        );
        let j: Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(j["tls"]["handshakes"]["full"], 1990);
        assert_eq!(j["tls"]["handshakes"]["failed_by"]["eof"], 0);
        assert_eq!(j["client"]["user_bytes_per_connection"], 4420.0);
    }

    #[test]
    fn test_text_explains_a_knee() {
        let mut r = sample();
        r.knee = Some(Knee {
            first_rate: 30000.0,
            last_rate: 1500.0,
        });
        assert!(r
            .text()
            .contains("fell from 30,000/s to 1,500/s: without --source"));
        r.sources_given = true;
        assert!(r
            .text()
            .contains("the connect() calls themselves got slower"));
        r.errors.push(("timeout".into(), 3));
        assert!(r.text().contains("connects were timing out"));
    }

    /// Issue 15, item 6: every count of the text report with thousands separators, as
    /// the run's report (`held: 19988 connections` was printed raw).
    #[test]
    fn test_text_groups_every_count() {
        let mut r = sample();
        (r.held_at_once, r.established, r.attempted) = (19_988, 19_988, 19_989);
        r.connect_us.count = 19_989;
        r.rate_per_s = vec![(0.0, 4_997.0)];
        r.knee = Some(Knee {
            first_rate: 4_997.0,
            last_rate: 1_195.0,
        });
        r.closed_by_server = ClosedByServer {
            ramp: 1_000,
            hold: 2_000,
        };
        r.verify = Verify {
            alive: Some(12_000),
            too_slow: Some(3_000),
            answered_late: Some(1_500),
            dead: Some(1_988),
            window_s: Some(13.0),
            ..Verify::default()
        };
        r.errors = vec![("EMFILE".into(), 12_345)];
        let t = r.text();
        let raw: Vec<&str> = t
            .split(|c: char| !c.is_ascii_digit() && c != ',' && c != '.')
            .filter(|w| w.len() >= 4 && w.chars().all(|c| c.is_ascii_digit()))
            .collect();
        assert!(raw.is_empty(), "ungrouped {raw:?} in\n{t}");
        assert!(t.contains("held:       19,988 connections at once (19,988 established"));
        assert!(t.contains("errors:     EMFILE 12,345"));
    }

    /// The `kernel:` or `server:` line of a text report.
    fn line_of(r: &ProbeReport, prefix: &str) -> String {
        let t = r.text();
        t.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no '{prefix}' line in {t}"))
            .to_string()
    }

    fn snapshot(tcp_mem_pages: u64, slab: u64, rss: u64, active: u64) -> Snapshot {
        Snapshot {
            server: Some(serde_json::json!({"active": active, "rss_bytes": rss})),
            sockstat: Some(readyloop::limits::Sockstat {
                tcp_mem_pages: Some(tcp_mem_pages),
                ..Default::default()
            }),
            slab: Some(slab),
        }
    }

    #[test]
    fn test_memory_figures_are_never_negative_and_too_few_connections_say_so() {
        let limits = Report::read();
        // 5000 held; meanwhile other sockets gave back 10 pages, the slab shrank and so
        // did the server's RSS: every difference is negative.
        let (b, d) = (
            snapshot(300, 500 << 20, 8 << 20, 0),
            snapshot(290, 499 << 20, 7 << 20, 5000),
        );
        let mut r = sample();
        r.held_at_once = 5000;
        r.kernel = kernel_view(&b, &d, 5000, &limits);
        r.server = server_view(&b, &d, 5000);
        let negative = |l: &str| l.contains(" -") || l.contains("(-");
        let k = line_of(&r, "kernel:");
        assert!(!negative(&k), "{k}");
        assert!(
            k.contains("TCP buffer memory (sockstat mem) too small to measure"),
            "{k}"
        );
        assert!(
            k.contains("slab (both ends, /proc/meminfo) too small to measure"),
            "{k}"
        );
        let s = line_of(&r, "server:");
        assert!(!negative(&s), "{s}");
        assert!(
            s.contains("user-space memory per held connection too small to measure"),
            "{s}"
        );
        let j: Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(j["kernel"]["tcp_mem_bytes_per_connection"], Value::Null);
        assert_eq!(j["kernel"]["slab_bytes_per_connection"], Value::Null);
        assert_eq!(j["server"]["user_bytes_per_connection"], Value::Null);

        // 50 held, nothing moved: 0 would be a guess, not a measurement.
        let (b, d) = (
            snapshot(300, 500 << 20, 8 << 20, 0),
            snapshot(300, 500 << 20, 8 << 20, 50),
        );
        r.held_at_once = 50;
        r.kernel = kernel_view(&b, &d, 50, &limits);
        r.server = server_view(&b, &d, 50);
        let k = line_of(&r, "kernel:");
        assert!(!k.contains(" 0 bytes"), "{k}");
        assert!(
            k.contains("slab (both ends, /proc/meminfo) too few connections to measure (50 held"),
            "{k}"
        );
        let s = line_of(&r, "server:");
        assert!(s.contains("too few connections to measure (50 held"), "{s}");
        let j: Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(j["kernel"]["slab_bytes_per_connection"], Value::Null);

        // Enough connections and a real growth: the figure.
        let (b, d) = (
            snapshot(300, 500 << 20, 8 << 20, 0),
            snapshot(300, (500 << 20) + 5000 * 9400, (8 << 20) + 5000 * 88, 5000),
        );
        r.held_at_once = 5000;
        r.kernel = kernel_view(&b, &d, 5000, &limits);
        r.server = server_view(&b, &d, 5000);
        let k = line_of(&r, "kernel:");
        assert!(
            k.contains("0 bytes of TCP buffer memory (sockstat mem), 9,400 bytes of slab"),
            "{k}"
        );
        assert!(
            line_of(&r, "server:").contains("user-space 88 bytes per held connection"),
            "{}",
            line_of(&r, "server:")
        );
    }
}
