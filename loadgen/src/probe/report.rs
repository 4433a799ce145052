//! The probe's report: one typed [`ProbeReport`], built once from what was measured
//! ([`ProbeReport::build`]), serialized by serde for `--json` ([`ProbeReport::to_json`])
//! and printed as text ([`ProbeReport::text`]), so both outputs show the same figures.
//!
//! The JSON field names and nesting are a contract (scripts and the tests read them);
//! the text is for people and adds the reasons behind a knee in the connect rate.

use super::observe::{Observed, Snapshot};
use super::options::ProbeOptions;
use super::predict::Prediction;
use super::raise::how_to_raise;
use super::ramp::Stop;
use super::sources::SourceCount;
use super::timeline::{knee, rate_timeline};
use readyloop::limits::Report;
use serde::Serialize;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;

/// The report of one `loadgen probe` run (all processes together).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProbeReport {
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
    /// Why the ramp stopped.
    pub stop: Stop,
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
    /// Connect rate per half second of the ramp: (seconds from start, connections/s).
    pub rate_per_s: Vec<(f64, f64)>,
    /// A knee in the connect rate, if there was one ([`knee`]).
    pub knee: Option<Knee>,
    /// Connections the server closed.
    pub closed_by_server: ClosedByServer,
    /// The `--verify` echoes.
    pub verify: Verify,
    /// Errors seen (errno name, count).
    pub errors: Vec<(String, u64)>,
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
pub struct PredictionCheck {
    /// Connections predicted.
    pub connections: u64,
    /// The limit that predicted them.
    pub limited_by: String,
    /// Held at once within the tolerance of [`Prediction::held`].
    pub held: bool,
}

/// Connect-time percentiles, us; `None` when nothing connected.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConnectTimes {
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
pub struct Knee {
    /// Over the first fifth.
    pub first_rate: f64,
    /// Over the last fifth.
    pub last_rate: f64,
}

/// Connections the server closed, by phase.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClosedByServer {
    /// During the ramp.
    pub ramp: u64,
    /// During the hold.
    pub hold: u64,
}

/// The `--verify` counts; both `None` without `--verify`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Verify {
    /// Held connections that echoed.
    pub alive: Option<u64>,
    /// Held connections that did not.
    pub dead: Option<u64>,
}

/// The server's `/stats` before the ramp and during the hold.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServerView {
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
    /// RSS growth per connection it accepted, bytes.
    pub user_bytes_per_connection: Option<f64>,
    /// Held at once but not accepted: waiting in its accept queue.
    pub queued_not_accepted: u64,
}

/// `/proc/net/sockstat` and the slab before the ramp and during the hold.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KernelView {
    /// TCP buffer memory before, pages.
    pub tcp_mem_pages_before: Option<u64>,
    /// TCP buffer memory during the hold, pages.
    pub tcp_mem_pages_during: Option<u64>,
    /// TCP sockets in use during the hold.
    pub tcp_inuse_during: Option<u64>,
    /// TCP buffer memory growth per connection held at once, bytes.
    pub tcp_mem_bytes_per_connection: Option<f64>,
    /// Slab growth per connection held at once, bytes (both ends on loopback).
    pub slab_bytes_per_connection: Option<f64>,
}

/// What a report is built from.
#[derive(Clone, Copy, Debug)]
pub struct ReportInputs<'a> {
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
                dead: r.verified_dead,
            },
            errors: r.errors.clone(),
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

    /// The text report.
    pub fn text(&self) -> String {
        let mut s = String::new();
        s += &format!(
            "held:       {} connections at once ({} established in {:.1} s, {} attempted)\n",
            self.held_at_once, self.established, self.ramp_s, self.attempted
        );
        s += &format!("stopped by: {}\n", self.stop_description);
        s += &format!("  to raise: {}\n", self.how_to_raise);
        if let Some(p) = &self.prediction {
            s += &format!(
                "prediction: {} ({} predicted, limited by {})\n",
                if p.held { "held" } else { "did NOT hold" },
                p.connections,
                p.limited_by
            );
        }
        let c = &self.connect_us;
        s += &format!(
            "connect:    p50 {}  p99 {}  max {}  ({} connects)\n",
            fmt_opt_us(c.p50),
            fmt_opt_us(c.p99),
            fmt_opt_us(c.max),
            c.count
        );
        let rates: Vec<String> = self
            .rate_per_s
            .iter()
            .take(24)
            .map(|(t, v)| format!("{t:.1}s {v:.0}/s"))
            .collect();
        if !rates.is_empty() {
            s += &format!("rate:       {}\n", rates.join(" | "));
        }
        if let Some(k) = &self.knee {
            let timeouts = self.errors.iter().any(|(e, _)| e == "timeout");
            let why = if timeouts || self.stop == Stop::ConnectTimeout {
                "connects were timing out: the server's accept queue was full and SYNs were dropped"
            } else if !self.sources_given {
                "without --source, connect() takes the even ephemeral ports first and searches the odd ones \
                 much more slowly once they run out; with --source and IP_BIND_ADDRESS_NO_PORT the search is per 4-tuple"
            } else {
                "the connect() calls themselves got slower (see the connect times)"
            };
            s += &format!(
                "knee:       the connect rate fell from {:.0}/s to {:.0}/s: {why}\n",
                k.first_rate, k.last_rate
            );
        }
        s += &format!(
            "closed by the server: {} during the ramp, {} during the {:.1} s hold\n",
            self.closed_by_server.ramp,
            self.closed_by_server.hold,
            self.hold.as_secs_f64()
        );
        if let (Some(a), Some(d)) = (self.verify.alive, self.verify.dead) {
            s += &format!(
                "verify:     {a} answered, {d} did not (queued and never accepted, or dead)\n"
            );
        }
        if let Some(srv) = &self.server {
            s += &format!(
                "server:     {} active while holding (accepted), {} queued and never accepted; user-space {} bytes per held connection\n",
                srv.active_during,
                srv.queued_not_accepted,
                fmt_opt_bytes(srv.user_bytes_per_connection)
            );
        }
        if let Some(k) = &self.kernel {
            s += &format!(
                "kernel:     per held connection: {} bytes of TCP buffer memory (sockstat mem), {} bytes of slab (both ends, /proc/meminfo)\n",
                fmt_opt_bytes(k.tcp_mem_bytes_per_connection),
                fmt_opt_bytes(k.slab_bytes_per_connection)
            );
        }
        if self.sources.len() > 1 || self.sources.iter().any(|x| x.exhausted) {
            let list: Vec<String> = self
                .sources
                .iter()
                .map(|x| {
                    format!(
                        "{} {}{}",
                        x.source,
                        x.established,
                        if x.exhausted { " (exhausted)" } else { "" }
                    )
                })
                .collect();
            s += &format!("sources:    {}\n", list.join(", "));
        }
        if !self.errors.is_empty() {
            let list: Vec<String> = self
                .errors
                .iter()
                .map(|(e, c)| format!("{e} {c}"))
                .collect();
            s += &format!("errors:     {}\n", list.join(", "));
        }
        s
    }
}

/// The server's view: only when its stats were read both before and during the hold.
fn server_view(before: &Snapshot, during: &Snapshot, held_at_once: u64) -> Option<ServerView> {
    let (b, d) = (before.server.as_ref()?, during.server.as_ref()?);
    let active = |v: &Value| v["active"].as_u64().unwrap_or(0);
    let rss = |v: &Value| v["rss_bytes"].as_u64().unwrap_or(0);
    let dn = active(d).saturating_sub(active(b));
    Some(ServerView {
        active_before: active(b),
        active_during: active(d),
        accepted_during: d["stats"]["accepted"].as_u64(),
        fds_open_during: d["fds_open"].as_u64(),
        rss_before: rss(b),
        rss_during: rss(d),
        // A server at its fd limit may fail to read its own RSS (0): unknown then.
        user_bytes_per_connection: (dn > 0 && rss(b) > 0 && rss(d) > 0)
            .then(|| (rss(d) as f64 - rss(b) as f64) / dn as f64),
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
    let pages = d.tcp_mem_pages.unwrap_or(0) as i64 - b.tcp_mem_pages.unwrap_or(0) as i64;
    Some(KernelView {
        tcp_mem_pages_before: b.tcp_mem_pages,
        tcp_mem_pages_during: d.tcp_mem_pages,
        tcp_inuse_during: d.tcp_inuse,
        tcp_mem_bytes_per_connection: (held_at_once > 0)
            .then(|| pages as f64 * limits.page_size as f64 / held_at_once as f64),
        slab_bytes_per_connection: match (before.slab, during.slab) {
            (Some(b), Some(d)) if held_at_once > 0 => {
                Some((d as f64 - b as f64) / held_at_once as f64)
            }
            _ => None,
        },
    })
}

/// A connect time, or `-` when nothing connected.
fn fmt_opt_us(v: Option<u64>) -> String {
    v.map_or("-".to_string(), |u| crate::report::fmt_us(u as f64))
}

/// Bytes per connection, whole, or `unknown`.
fn fmt_opt_bytes(v: Option<f64>) -> String {
    v.map_or("unknown".into(), |b| format!("{b:.0}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ProbeReport {
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
            server: Some(ServerView {
                active_before: 0,
                active_during: 200,
                accepted_during: Some(200),
                fds_open_during: Some(213),
                rss_before: 7372800,
                rss_during: 7393280,
                user_bytes_per_connection: Some(102.4),
                queued_not_accepted: 0,
            }),
            kernel: Some(KernelView {
                tcp_mem_pages_before: Some(387),
                tcp_mem_pages_during: Some(387),
                tcp_inuse_during: Some(403),
                tcp_mem_bytes_per_connection: Some(0.0),
                slab_bytes_per_connection: None,
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
        let expected = "attempted closed_by_server closed_by_server.hold closed_by_server.ramp \
             connect_rate connect_us connect_us.count connect_us.max connect_us.p50 connect_us.p90 \
             connect_us.p99 elapsed_s embedded errors established held_at_once held_end how_to_raise \
             kernel kernel.slab_bytes_per_connection kernel.tcp_inuse_during \
             kernel.tcp_mem_bytes_per_connection kernel.tcp_mem_pages_before kernel.tcp_mem_pages_during \
             knee prediction prediction.connections prediction.held prediction.limited_by procs ramp_s \
             rate_per_s server server.accepted_during server.active_before server.active_during \
             server.fds_open_during server.queued_not_accepted server.rss_before server.rss_during \
             server.user_bytes_per_connection sources stop stop.errno stop.kind stop_description \
             target verify verify.alive verify.dead";
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
        assert!(t.contains("user-space 102 bytes per held connection\n"));
        assert!(t.contains("0 bytes of TCP buffer memory (sockstat mem), unknown bytes of slab"));
        assert!(!t.contains("sources:"), "one source, not exhausted");
        assert!(t.ends_with("errors:     EMFILE 1\n"));
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
            .contains("fell from 30000/s to 1500/s: without --source"));
        r.sources_given = true;
        assert!(r
            .text()
            .contains("the connect() calls themselves got slower"));
        r.errors.push(("timeout".into(), 3));
        assert!(r.text().contains("connects were timing out"));
    }
}
