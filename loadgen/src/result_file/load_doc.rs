//! A run's load in a result file: every field of [`Load`], durations in nanoseconds so
//! they read back exactly.

use crate::framing::Framing;
use crate::load::Load;
use crate::schedule::Profile;
use crate::segment::Segment;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// [`Load`] as the file holds it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(super) struct LoadDoc {
    connections: usize,
    max_connections: Option<usize>,
    threads: usize,
    connect_rate: Option<f64>,
    rate: Option<f64>,
    duration_ns: u64,
    warmup_ns: u64,
    proto: String,
    per_conn: Option<u64>,
    requests: Option<u64>,
    pipeline: usize,
    /// `--stages` as (duration ns, target) pairs.
    stages: Option<Vec<(u64, f64)>>,
    stages_closed: bool,
    timeout_ns: Option<u64>,
    connect_timeout_ns: u64,
    sources: Vec<IpAddr>,
    nodelay: bool,
    /// `I/N`.
    segment: Option<String>,
}

fn ns(d: Duration) -> u64 {
    d.as_nanos().min(u128::from(u64::MAX)) as u64
}

impl From<&Load> for LoadDoc {
    fn from(l: &Load) -> LoadDoc {
        LoadDoc {
            connections: l.connections,
            max_connections: l.max_connections,
            threads: l.threads,
            connect_rate: l.connect_rate,
            rate: l.rate,
            duration_ns: ns(l.duration),
            warmup_ns: ns(l.warmup),
            proto: l.framing.name(),
            per_conn: l.per_conn,
            requests: l.requests,
            pipeline: l.pipeline,
            stages: l.stages.as_ref().map(|p| {
                p.stages()
                    .map(|(_, d, _, to)| (ns(Duration::from_secs_f64(d)), to))
                    .collect()
            }),
            stages_closed: l.stages_closed,
            timeout_ns: l.timeout.map(ns),
            connect_timeout_ns: ns(l.connect_timeout),
            sources: l.sources.clone(),
            nodelay: l.nodelay,
            segment: l.segment.map(|s| s.to_string()),
        }
    }
}

impl LoadDoc {
    /// The load back; an unknown protocol or a bad segment is an error.
    pub(super) fn load(&self) -> Result<Load, String> {
        let d = Duration::from_nanos;
        Ok(Load {
            connections: self.connections,
            max_connections: self.max_connections,
            threads: self.threads,
            connect_rate: self.connect_rate,
            rate: self.rate,
            duration: d(self.duration_ns),
            warmup: d(self.warmup_ns),
            framing: Framing::parse(&self.proto).map_err(|e| format!("load.proto: {e}"))?,
            per_conn: self.per_conn,
            requests: self.requests,
            pipeline: self.pipeline,
            stages: self.stages.as_ref().map(|s| {
                let stages: Vec<(Duration, f64)> = s.iter().map(|&(n, t)| (d(n), t)).collect();
                Arc::new(Profile::new(&stages))
            }),
            stages_closed: self.stages_closed,
            timeout: self.timeout_ns.map(d),
            connect_timeout: d(self.connect_timeout_ns),
            sources: self.sources.clone(),
            nodelay: self.nodelay,
            segment: self.segment.as_deref().map(Segment::parse).transpose()?,
        })
    }
}
