//! The result document's fields: a [`RunResult`] field for field, histograms encoded.

use super::load_doc::LoadDoc;
use super::rec_doc::RecDoc;
use super::{hist, FORMAT, VERSION};
use crate::intervals::Compact;
use crate::result::{Aborted, CpuTime, Interrupted, Interval, PortFacts, RunResult};
use crate::run_id::RunId;
use crate::segment::Segment;
use crate::split::{Part, Skew};
use crate::tls_peer::{TlsPeer, TlsRun};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;

/// What is read first: which format and version the rest is.
#[derive(Deserialize)]
pub(super) struct Head {
    // Any JSON in these, so that a document of another kind (a JSON report, whose
    // `version` is a string) is told apart by its format, not by a type error.
    #[serde(default)]
    format: serde_json::Value,
    #[serde(default)]
    version: serde_json::Value,
    #[serde(default)]
    loadgen: serde_json::Value,
}

impl Head {
    /// Refuse another format, or another version of this one.
    pub(super) fn check(&self) -> Result<(), String> {
        let format = self.format.as_str().unwrap_or("");
        if format != FORMAT {
            return Err(format!(
                "not a loadgen result (its format is '{format}', not '{FORMAT}')"
            ));
        }
        if self.version.as_u64() != Some(VERSION) {
            return Err(format!(
                "a loadgen result of version {} (loadgen {}); this loadgen reads version \
                 {VERSION}",
                self.version,
                self.loadgen.as_str().unwrap_or("?")
            ));
        }
        Ok(())
    }
}

/// The whole document.
#[derive(Serialize, Deserialize)]
pub(super) struct Doc {
    format: String,
    version: u64,
    loadgen: String,
    /// `--segment`: the share, the run, the whole run's load.
    part: Option<PartDoc>,
    target: String,
    load: LoadDoc,
    connections_peak: usize,
    duration_ns: u64,
    interrupted: Option<InterruptedDoc>,
    rec: RecDoc,
    intervals: Vec<IntervalDoc>,
    cpu_user_s: f64,
    cpu_sys_s: f64,
    server_stats: Option<serde_json::Value>,
    ports: PortFacts,
    started_unix_s: Option<f64>,
    connect_phase_ns: Option<u64>,
    aborted_after_ns: Option<u64>,
    mix: Option<MixDoc>,
    spread: Vec<(SocketAddr, u64)>,
    via: Option<String>,
    tls: Option<TlsDoc>,
}

#[derive(Serialize, Deserialize)]
struct PartDoc {
    segment: String,
    plan: String,
    nonce: Option<String>,
    whole: LoadDoc,
    skew: Option<(f64, f64)>,
}

#[derive(Serialize, Deserialize)]
struct InterruptedDoc {
    signal: i32,
    planned_ns: u64,
    warmup_ran_ns: u64,
}

#[derive(Serialize, Deserialize)]
struct IntervalDoc {
    start_ns: u64,
    length_ns: u64,
    corrected: String,
}

#[derive(Serialize, Deserialize)]
struct MixDoc {
    file: String,
    order: String,
    seed: u64,
    entries: usize,
    labels: Vec<String>,
    weights: Vec<u64>,
}

#[derive(Serialize, Deserialize)]
struct TlsDoc {
    peer: TlsPeer,
    resume: bool,
    full: u64,
    resumed: u64,
    failed: Vec<(String, u64)>,
}

fn ns(d: Duration) -> u64 {
    d.as_nanos().min(u128::from(u64::MAX)) as u64
}

impl From<&RunResult> for Doc {
    fn from(r: &RunResult) -> Doc {
        Doc {
            format: FORMAT.into(),
            version: VERSION,
            loadgen: env!("CARGO_PKG_VERSION").into(),
            part: r.part.as_ref().map(|p| PartDoc {
                segment: p.segment.to_string(),
                plan: p.run.plan.clone(),
                nonce: p.run.nonce.clone(),
                whole: LoadDoc::from(&p.whole),
                skew: p.skew.map(|s| (s.offset_s, s.bound_s)),
            }),
            target: r.target.clone(),
            load: LoadDoc::from(&r.load),
            connections_peak: r.connections_peak,
            duration_ns: ns(r.duration),
            interrupted: r.interrupted.map(|i| InterruptedDoc {
                signal: i.signal,
                planned_ns: ns(i.planned),
                warmup_ran_ns: ns(i.warmup_ran),
            }),
            rec: RecDoc::from(&r.rec),
            intervals: r.intervals.iter().map(IntervalDoc::from).collect(),
            cpu_user_s: r.cpu.user_s,
            cpu_sys_s: r.cpu.sys_s,
            server_stats: r.server_stats.clone(),
            ports: r.ports,
            started_unix_s: r.started_unix_s,
            connect_phase_ns: r.connect_phase.map(ns),
            aborted_after_ns: r.aborted.as_ref().map(|a| ns(a.after)),
            mix: r.mix.as_ref().map(|m| MixDoc {
                file: m.file.clone(),
                order: m.order.name().into(),
                seed: m.seed,
                entries: m.entries,
                labels: m.labels.clone(),
                weights: m.weights.clone(),
            }),
            spread: r.spread.connects.clone(),
            via: r.spread.via.clone(),
            tls: r.tls.as_ref().map(|t| TlsDoc {
                peer: t.peer.clone(),
                resume: t.resume,
                full: t.full,
                resumed: t.resumed,
                failed: t.failed.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            }),
        }
    }
}

impl From<&Interval> for IntervalDoc {
    fn from(i: &Interval) -> IntervalDoc {
        IntervalDoc {
            start_ns: ns(i.start),
            length_ns: ns(i.length),
            corrected: hist::put(&i.corrected.histogram()),
        }
    }
}

impl Doc {
    /// The result back (no thresholds: whoever reads it judges them).
    pub(super) fn result(&self) -> Result<RunResult, String> {
        let d = Duration::from_nanos;
        Ok(RunResult {
            target: self.target.clone(),
            load: self.load.load()?,
            connections_peak: self.connections_peak,
            duration: d(self.duration_ns),
            interrupted: self.interrupted.as_ref().map(|i| Interrupted {
                signal: i.signal,
                planned: d(i.planned_ns),
                warmup_ran: d(i.warmup_ran_ns),
            }),
            rec: self.rec.recorder()?,
            intervals: self.intervals()?,
            cpu: CpuTime {
                user_s: self.cpu_user_s,
                sys_s: self.cpu_sys_s,
            },
            server_stats: self.server_stats.clone(),
            ports: self.ports,
            started_unix_s: self.started_unix_s,
            connect_phase: self.connect_phase_ns.map(d),
            thresholds: Vec::new(),
            aborted: self.aborted_after_ns.map(|n| Aborted {
                after: d(n),
                failed: Vec::new(),
            }),
            mix: self.mix.as_ref().map(MixDoc::described).transpose()?,
            spread: crate::addrs::Spread {
                connects: self.spread.clone(),
                via: self.via.clone(),
            },
            tls: self.tls.as_ref().map(TlsDoc::run),
            part: self.part.as_ref().map(PartDoc::part).transpose()?,
            merged: None,
        })
    }

    fn intervals(&self) -> Result<Vec<Interval>, String> {
        self.intervals
            .iter()
            .enumerate()
            .map(|(k, i)| {
                let h = hist::latency(&i.corrected, &format!("intervals[{k}]"))?;
                Ok(Interval {
                    start: Duration::from_nanos(i.start_ns),
                    length: Duration::from_nanos(i.length_ns),
                    corrected: Compact::new(&h),
                })
            })
            .collect()
    }
}

impl PartDoc {
    fn part(&self) -> Result<Part, String> {
        Ok(Part {
            segment: Segment::parse(&self.segment)?,
            run: RunId {
                plan: self.plan.clone(),
                nonce: self.nonce.clone(),
            },
            whole: self.whole.load()?,
            skew: self
                .skew
                .map(|(offset_s, bound_s)| Skew { offset_s, bound_s }),
        })
    }
}

impl MixDoc {
    fn described(&self) -> Result<crate::mix::Described, String> {
        Ok(crate::mix::Described {
            file: self.file.clone(),
            order: self.order.parse()?,
            seed: self.seed,
            entries: self.entries,
            labels: self.labels.clone(),
            weights: self.weights.clone(),
        })
    }
}

impl TlsDoc {
    /// The TLS of the run; a failure reason this loadgen does not know is kept as
    /// `other`.
    fn run(&self) -> TlsRun {
        let mut failed = std::collections::BTreeMap::new();
        for (why, n) in &self.failed {
            let name = readyloop::tls::Failure::ALL
                .iter()
                .map(|f| f.name())
                .find(|name| name == why)
                .unwrap_or("other");
            *failed.entry(name).or_insert(0) += n;
        }
        TlsRun {
            peer: self.peer.clone(),
            resume: self.resume,
            full: self.full,
            resumed: self.resumed,
            failed,
        }
    }
}
