//! Every phase of a request timed apart, each in its own histogram, as k6 splits
//! `http_req_duration` into `http_req_connecting`, `http_req_tls_handshaking`,
//! `http_req_waiting` and `http_req_receiving` (issue 17, item 4).
//!
//! Per connection:
//! - **connect**: from `connect()` issued to the socket connected;
//! - **TLS handshake**: from connected to the handshake done. Recorded only through
//!   `Client::on_handshake_done` (`client.rs`), which the TLS layer calls; with plain
//!   connections it stays empty and the reports leave it out (JSON: `null`).
//!
//! Per request (per reply, with `--pipeline` or a `--request` pipeline too):
//! - **ttfb** (waiting): from the write that carried the request (its raw latency's
//!   start) to the read that brought the first byte of its reply;
//! - **transfer** (receiving): from that read to the read that completed the reply.
//!
//! "The read" is the reactor turn that offered the bytes to the client (the time every
//! latency of that turn is taken at). Replies are answered in order, so the first byte
//! of reply k is the first byte offered after reply k-1 ended: in the same read when
//! both were in it (pipelining), and then reply k's transfer starts when reply k-1's
//! ends. Its ttfb includes the time its reply waited behind the replies before it
//! (head-of-line blocking is waiting, as in k6). For every reply,
//! `ttfb + transfer = raw latency` exactly, before the histograms round them.
//!
//! What is kept is four histograms per worker, merged like the latencies: nothing per
//! request.

use crate::tally::{new_histogram, record_us};
use hdrhistogram::Histogram;

/// One phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// From `connect()` to connected.
    Connect,
    /// From connected to the TLS handshake done.
    TlsHandshake,
    /// From the request's write to the first byte of its reply.
    Ttfb,
    /// From the first byte of a reply to its last.
    Transfer,
}

impl Phase {
    /// Every phase, in the order of a connection's and a request's life.
    pub const ALL: [Phase; 4] = [
        Phase::Connect,
        Phase::TlsHandshake,
        Phase::Ttfb,
        Phase::Transfer,
    ];

    /// Its name in JSON keys and file names.
    pub fn key(self) -> &'static str {
        match self {
            Phase::Connect => "connect",
            Phase::TlsHandshake => "tls_handshake",
            Phase::Ttfb => "ttfb",
            Phase::Transfer => "transfer",
        }
    }

    /// Its label in the text and HTML reports.
    pub fn label(self) -> &'static str {
        match self {
            Phase::Connect => "connect",
            Phase::TlsHandshake => "tls",
            Phase::Ttfb => "ttfb",
            Phase::Transfer => "transfer",
        }
    }

    /// What it times, for people.
    pub fn meaning(self) -> &'static str {
        match self {
            Phase::Connect => "connect() to connected, per connection",
            Phase::TlsHandshake => "connected to TLS handshake done, per connection",
            Phase::Ttfb => "request sent to the first byte of its reply (waiting)",
            Phase::Transfer => "first byte of a reply to its last (receiving)",
        }
    }
}

/// The phase histograms of one worker (or of the whole run, once merged), in
/// microseconds, with the latencies' bounds (1 us to 1 hour, 3 significant digits).
#[derive(Clone, Debug)]
pub struct Phases {
    /// Per connection established outside the warm-up: `connect()` to connected.
    pub connect: Histogram<u64>,
    /// Per TLS handshake completed outside the warm-up: connected to handshake done.
    /// Empty for plain connections.
    pub tls_handshake: Histogram<u64>,
    /// Per measured reply: its request's write to its first byte.
    pub ttfb: Histogram<u64>,
    /// Per measured reply: its first byte to its last.
    pub transfer: Histogram<u64>,
}

impl Default for Phases {
    fn default() -> Self {
        Phases {
            connect: new_histogram(),
            tls_handshake: new_histogram(),
            ttfb: new_histogram(),
            transfer: new_histogram(),
        }
    }
}

impl Phases {
    /// The histogram of `p`.
    pub fn get(&self, p: Phase) -> &Histogram<u64> {
        match p {
            Phase::Connect => &self.connect,
            Phase::TlsHandshake => &self.tls_handshake,
            Phase::Ttfb => &self.ttfb,
            Phase::Transfer => &self.transfer,
        }
    }

    /// Record `us` microseconds of phase `p`.
    pub fn record(&mut self, p: Phase, us: u64) {
        let h = match p {
            Phase::Connect => &mut self.connect,
            Phase::TlsHandshake => &mut self.tls_handshake,
            Phase::Ttfb => &mut self.ttfb,
            Phase::Transfer => &mut self.transfer,
        };
        record_us(h, us);
    }

    /// Whether the run timed `p` at all. The TLS handshake is absent when none was
    /// recorded (plain connections): the reports then leave it out rather than show
    /// an empty histogram as if it were a measurement. The other phases are always
    /// timed, so an empty one is shown empty (nothing measured).
    pub fn present(&self, p: Phase) -> bool {
        p != Phase::TlsHandshake || !self.tls_handshake.is_empty()
    }

    /// The phases the reports show, with their histograms.
    pub fn shown(&self) -> impl Iterator<Item = (Phase, &Histogram<u64>)> {
        Phase::ALL
            .into_iter()
            .filter(|&p| self.present(p))
            .map(|p| (p, self.get(p)))
    }

    /// Add another worker's phases (exact: HdrHistogram's `add`, never an average).
    pub fn merge(&mut self, o: &Phases) {
        // Same bounds everywhere, so `add` cannot fail.
        let _ = self.connect.add(&o.connect);
        let _ = self.tls_handshake.add(&o.tls_handshake);
        let _ = self.ttfb.add(&o.ttfb);
        let _ = self.transfer.add(&o.transfer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_tls_is_shown_only_once_recorded() {
        let mut p = Phases::default();
        let shown: Vec<Phase> = p.shown().map(|(k, _)| k).collect();
        assert_eq!(shown, [Phase::Connect, Phase::Ttfb, Phase::Transfer]);
        p.record(Phase::TlsHandshake, 900);
        assert_eq!(p.shown().count(), 4);
        assert_eq!(p.get(Phase::TlsHandshake).len(), 1);
    }

    #[test]
    fn test_merge_adds_every_phase() {
        let mut a = Phases::default();
        let mut b = Phases::default();
        for p in Phase::ALL {
            a.record(p, 10);
            b.record(p, 20);
            b.record(p, 30);
        }
        a.merge(&b);
        for p in Phase::ALL {
            assert_eq!(a.get(p).len(), 3, "{}", p.key());
            assert_eq!(a.get(p).max(), 30, "{}", p.key());
        }
    }
}
