//! The engine driven straight, as the tests of its behaviour need: a [`Spec`] is the
//! run's [`Load`] (set field by field as a test wants, through `Deref`) and its [`Aim`].
#![allow(dead_code)] // each test binary uses a different subset

use loadgen::engine;
use loadgen::framing::Framing;
use loadgen::load::{Aim, Load};
use loadgen::record::Recorder;
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

/// A run for the engine: what it puts on the target, and the target.
pub struct Spec {
    pub load: Load,
    pub aim: Aim,
}

impl Deref for Spec {
    type Target = Load;
    fn deref(&self) -> &Load {
        &self.load
    }
}

impl DerefMut for Spec {
    fn deref_mut(&mut self) -> &mut Load {
        &mut self.load
    }
}

/// 4 connections on 2 threads, closed loop, 800 ms after a 200 ms warm-up, sending
/// `request` to `addr`.
pub fn spec(addr: SocketAddr, framing: Framing, request: Vec<u8>) -> Spec {
    let aim = Aim::new(addr, &framing, request, false, None);
    let load = Load {
        connections: 4,
        max_connections: None,
        threads: 2,
        connect_rate: None,
        rate: None,
        duration: Duration::from_millis(800),
        warmup: Duration::from_millis(200),
        framing,
        per_conn: None,
        requests: None,
        pipeline: 1,
        stages: None,
        stages_closed: false,
        timeout: None,
        connect_timeout: Duration::from_secs(3),
        sources: Vec::new(),
        nodelay: true,
        segment: None,
    };
    Spec { load, aim }
}

/// Run `spec` to its end; the workers' numbers, merged.
pub fn run(spec: &Spec) -> Recorder {
    let (workers, _intervals) =
        engine::run(&spec.load, &spec.aim, (None, Box::new(|| Ok(None))), |_| {
            engine::TickAction::Continue
        })
        .expect("run completes");
    let mut rec = Recorder::default();
    for w in &workers {
        rec.merge(&w.rec);
    }
    rec
}
