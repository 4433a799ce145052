//! The load a run puts on its target, checked: what the engine reads.
//!
//! [`Load`] is built once, from the flags, by the command's plan (`cli/run_plan.rs`,
//! which refuses what cannot run) and read by the engine as it is, not copied into a
//! second plan; `search` makes each step's by [`Load::step`]. [`Aim`] is the part
//! known only once the target listens: its addresses and the bytes sent to it.

use crate::addrs::Addrs;
use crate::framing::Framing;
use crate::mix::Mix;
use crate::schedule::Profile;
use crate::segment::Segment;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// The shape of a run's load: connections, rate, time, and how each connection talks.
#[derive(Clone, Debug)]
pub struct Load {
    /// Connections kept open, over all workers (at least 1); with closed-loop stages
    /// their peak target.
    pub connections: usize,
    /// Open loop: add connections, up to this many over all workers, when the rate
    /// times the mean latency needs more than are open (k6's maxVUs); `None`: never.
    pub max_connections: Option<usize>,
    /// Worker threads, as asked (see [`Load::threads`]).
    pub threads: usize,
    /// New connections per second over all workers (`None`: as fast as possible).
    pub connect_rate: Option<f64>,
    /// Total requests per second (open loop); `None`: closed loop. With open-loop
    /// stages, their mean over the measured time.
    pub rate: Option<f64>,
    /// Measured time.
    pub duration: Duration,
    /// Discarded time before measuring.
    pub warmup: Duration,
    /// How replies end.
    pub framing: Framing,
    /// Close and reopen each connection after this many replies.
    pub per_conn: Option<u64>,
    /// `-n`: send exactly this many requests after the warm-up, then end the run once
    /// they are answered (or failed); `duration` still caps it.
    pub requests: Option<u64>,
    /// Writes of the request each connection may have in flight (`--pipeline`, >= 1).
    pub pipeline: usize,
    /// `--stages`: the open-loop rate over time, or with `stages_closed` the number of
    /// connections over time.
    pub stages: Option<Arc<Profile>>,
    /// `--closed`: the stages' targets are connections (closed loop).
    pub stages_closed: bool,
    /// Response timeout.
    pub timeout: Option<Duration>,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Source addresses to bind, round robin (`IP_BIND_ADDRESS_NO_PORT`).
    pub sources: Vec<IpAddr>,
    /// Set TCP_NODELAY on client sockets.
    pub nodelay: bool,
    /// `--segment I/N`: this process runs the I-th share of the run this load
    /// describes (every count above is the whole run's); `None`: all of it.
    pub segment: Option<Segment>,
}

impl Load {
    /// Worker threads: as asked, never fewer than 1 nor more than the connections (a
    /// worker without one would idle, and the report would claim threads that did no
    /// work).
    pub fn threads(&self) -> usize {
        self.threads.clamp(1, self.own_connections().max(1))
    }

    /// This process's share of `total` (connections, requests, a connection target):
    /// all of it without a segment.
    pub fn own(&self, total: usize) -> usize {
        self.segment.map_or(total, |s| s.share(total))
    }

    /// The connections this process keeps open: its segment's share.
    pub fn own_connections(&self) -> usize {
        self.own(self.connections)
    }

    /// The run-wide index of this process's first connection slot (0 without a
    /// segment): open-loop sends are staggered over the whole run's slots.
    pub fn first_slot(&self) -> usize {
        self.segment.map_or(0, |s| s.first(self.connections))
    }

    /// This process's part of the run's rates: its connections over the run's (a
    /// slot's timeline is the same in every process, so the rate splits as they do).
    pub fn fraction(&self) -> f64 {
        match self.segment {
            Some(_) => self.own_connections() as f64 / self.connections.max(1) as f64,
            None => 1.0,
        }
    }

    /// The load this process puts on the target, as its reports tell it: with a
    /// segment, its share ([`Load::part_of`]); the whole run's without.
    pub fn own_part(&self) -> Load {
        match self.segment {
            Some(s) => self.part_of(&[s]),
            None => self.clone(),
        }
    }

    /// The load `segments` of this run put on the target together (one segment's, or
    /// what a merge with segments missing covers): their shares of the connections, of
    /// the rate (and the stages), of `-n`, of `--max-connections` and of
    /// `--connect-rate`. Its own `segment` is `None`: it is not split further.
    pub fn part_of(&self, segments: &[Segment]) -> Load {
        let sum = |total: usize| segments.iter().map(|s| s.share(total)).sum::<usize>();
        let connections = sum(self.connections);
        let f = connections as f64 / self.connections.max(1) as f64;
        Load {
            connections,
            max_connections: self.max_connections.map(sum),
            connect_rate: self.connect_rate.map(|r| r * f),
            rate: self.rate.map(|r| r * f),
            requests: self
                .requests
                .map(|n| segments.iter().map(|s| s.share_u64(n)).sum()),
            stages: self.stages.as_ref().map(|p| Arc::new(p.scaled(f))),
            segment: None,
            ..self.clone()
        }
    }

    /// This process's part of `-n`'s `n`.
    pub fn own_requests(&self, n: u64) -> u64 {
        self.segment.map_or(n, |s| s.share_u64(n))
    }

    /// Open-loop stages: the rate over time.
    pub(crate) fn rate_stages(&self) -> Option<&Arc<Profile>> {
        self.stages.as_ref().filter(|_| !self.stages_closed)
    }

    /// Closed-loop stages: the connections over time.
    pub(crate) fn conn_stages(&self) -> Option<&Arc<Profile>> {
        self.stages.as_ref().filter(|_| self.stages_closed)
    }

    /// One step of a search: this load at `rate` (open loop, no stages) over
    /// `connections`; the threads as asked (they run as [`Load::threads`] allows).
    pub fn step(&self, rate: f64, connections: usize) -> Load {
        Load {
            rate: Some(rate),
            connections,
            stages: None,
            stages_closed: false,
            max_connections: None,
            requests: None,
            ..self.clone()
        }
    }
}

/// What goes on the wire, and where: known once the target listens (the embedded
/// server's address is in its HTTP request's `Host`).
#[derive(Clone, Debug)]
pub struct Aim {
    /// Where to connect: every address of the target (or of its `--connect-to`), the
    /// connections spread over them by slot ([`Aim::addr_for`]).
    pub addrs: Addrs,
    /// The target's host as the user named it (IPv6 without brackets), whatever
    /// address the connections go to: what TLS would send as its server name.
    pub server_name: String,
    /// The request bytes (empty with a mix).
    pub request: Vec<u8>,
    /// The requests those bytes hold, in order, each `true` when it is an HTTP HEAD
    /// (its reply has no body): one reply is expected for each.
    pub pipeline: Vec<bool>,
    /// `--targets`: a mix of requests chosen per write (then `request` is unused).
    pub mix: Option<Arc<Mix>>,
    /// TLS (`https://`, `tls://`): the configuration every connection shares; `None`
    /// for plain TCP.
    pub tls: Option<Arc<crate::tls_target::TlsTarget>>,
}

impl Aim {
    /// The aim for `request` to `addrs` (one address, or several): its pipeline worked
    /// out once, here. A request that cannot be split (the plan refuses it before the
    /// run) is sent as one request, a HEAD when `head`. The server name is the first
    /// address's IP until the plan names the host.
    pub fn new(
        addrs: impl Into<Addrs>,
        framing: &Framing,
        request: Vec<u8>,
        head: bool,
        mix: Option<Arc<Mix>>,
    ) -> Aim {
        let addrs = addrs.into();
        let pipeline = crate::request::pipeline(framing, &request).unwrap_or_else(|_| vec![head]);
        Aim {
            server_name: addrs.first().ip().to_string(),
            addrs,
            request,
            pipeline,
            mix,
            tls: None,
        }
    }

    /// Where connection slot `slot` (counted over the whole run) connects: the
    /// addresses in turn, the same one for every reconnect of the slot.
    pub fn addr_for(&self, slot: usize) -> SocketAddr {
        self.addrs.for_slot(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load() -> Load {
        Load {
            connections: 50,
            max_connections: Some(500),
            threads: 4,
            connect_rate: None,
            rate: None,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(1),
            framing: Framing::Http,
            per_conn: None,
            requests: Some(1000),
            pipeline: 1,
            stages: Some(Arc::new(Profile::new(&[(Duration::from_secs(2), 5.0)]))),
            stages_closed: true,
            timeout: None,
            connect_timeout: Duration::from_secs(3),
            sources: Vec::new(),
            nodelay: true,
            segment: None,
        }
    }

    #[test]
    fn test_stages_are_the_rate_s_or_the_connections_and_threads_fit() {
        let mut l = load();
        assert!(l.conn_stages().is_some() && l.rate_stages().is_none());
        l.stages_closed = false;
        assert!(l.conn_stages().is_none() && l.rate_stages().is_some());
        assert_eq!(l.threads(), 4);
        l.connections = 2;
        assert_eq!(l.threads(), 2, "no more workers than connections");
        l.threads = 0;
        assert_eq!(l.threads(), 1);
    }

    #[test]
    fn test_a_search_step_is_open_loop_at_its_rate() {
        let s = load().step(2000.0, 3);
        assert_eq!((s.rate, s.connections, s.threads()), (Some(2000.0), 3, 3));
        assert_eq!(
            s.step(4000.0, 50).threads(),
            4,
            "the threads asked, not the last step's"
        );
        assert!(s.stages.is_none() && s.requests.is_none() && s.max_connections.is_none());
        assert_eq!(
            s.warmup,
            Duration::from_secs(1),
            "the rest is the search's own"
        );
    }

    #[test]
    fn test_the_aim_knows_its_pipeline() {
        let a = "127.0.0.1:1".parse().unwrap();
        let two = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nHEAD / HTTP/1.1\r\nHost: x\r\n\r\n";
        let aim = Aim::new(a, &Framing::Http, two.to_vec(), false, None);
        assert_eq!(aim.pipeline, [false, true]);
        // Not whole requests: sent as one.
        let aim = Aim::new(a, &Framing::Http, b"HEAD / HT".to_vec(), true, None);
        assert_eq!(aim.pipeline, [true]);
        assert_eq!(
            (aim.addr_for(7), aim.server_name.as_str()),
            (a, "127.0.0.1")
        );
    }

    #[test]
    fn test_the_aim_spreads_slots_over_its_addresses() {
        let (a, b): (SocketAddr, SocketAddr) =
            ("127.0.0.1:1".parse().unwrap(), "[::1]:1".parse().unwrap());
        let two = Addrs::new([a, b]).unwrap();
        let aim = Aim::new(two, &Framing::Line, b"x\n".to_vec(), false, None);
        let to: Vec<SocketAddr> = (0..4).map(|s| aim.addr_for(s)).collect();
        assert_eq!(to, [a, b, a, b]);
    }
}
