//! The phases a client times (`crate::phases`), fed bytes sans-IO: the first byte of
//! each reply split from its last at every cut of the input, with pipelining, the
//! warm-up, and the TLS layer's seam.

use super::tests::{client, ms};
use super::*;
use crate::phases::Phase as P;
use crate::tally::new_histogram;
use hdrhistogram::Histogram;

/// Connected at `t0` with `depth` requests sent at once (closed loop).
#[track_caller]
fn pipelined(t0: Instant, depth: usize) -> (Client, Shared) {
    let (_, mut sh) = client(t0, None, None);
    sh.plan.depth = depth;
    let mut c = Client::new(&sh.plan, t0, None);
    c.on_connected(&mut Vec::new(), &mut Cx::new(t0, &mut sh));
    (c, sh)
}

/// Offer `bytes` at `now` after what the reactor kept unconsumed; returns what it
/// keeps for the next call.
#[track_caller]
fn offer(c: &mut Client, sh: &mut Shared, kept: &[u8], bytes: &[u8], now: Instant) -> Vec<u8> {
    let mut input = kept.to_vec();
    input.extend_from_slice(bytes);
    let step = c.on_input(&input, &mut Vec::new(), usize::MAX, &mut Cx::new(now, sh));
    assert_eq!(step.verdict, Verdict::Continue);
    input[step.consumed..].to_vec()
}

/// How many values of `h` are `v` microseconds (at the histogram's precision; 0 is
/// recorded as 1).
fn at(h: &Histogram<u64>, v: u64) -> u64 {
    h.count_at(v.max(1))
}

#[test]
fn test_awaiting_reply_split_times_ttfb_and_transfer_apart() {
    let t0 = Instant::now();
    let reply = b"a longer line of reply\n";
    for cut in 1..reply.len() {
        let (mut c, mut sh) = pipelined(t0, 1);
        let kept = offer(&mut c, &mut sh, &[], &reply[..cut], t0 + ms(3));
        offer(&mut c, &mut sh, &kept, &reply[cut..], t0 + ms(10));
        let p = &sh.rec.phases;
        assert_eq!(at(&p.ttfb, 3_000), 1, "cut {cut}: first byte at 3 ms");
        assert_eq!(at(&p.transfer, 7_000), 1, "cut {cut}: last byte 7 ms later");
        assert_eq!(at(&sh.rec.raw, 10_000), 1, "cut {cut}: raw unchanged");
    }
}

/// `--pipeline 3`: three replies over two reads, cut at every byte. A reply's first
/// byte is the first one offered after the reply before it ended: in the same read
/// when both were in it.
#[test]
fn test_pipelined_replies_split_at_every_byte() {
    let t0 = Instant::now();
    let (t1, t2) = (t0 + ms(1), t0 + ms(3));
    let replies = b"a\nbb\nccc\n";
    // Each reply's first byte and end, as offsets in `replies`.
    let spans = [(0, 2), (2, 5), (5, 9)];
    for cut in 1..replies.len() {
        let (mut c, mut sh) = pipelined(t0, 3);
        let kept = offer(&mut c, &mut sh, &[], &replies[..cut], t1);
        offer(&mut c, &mut sh, &kept, &replies[cut..], t2);
        let read_at = |offset: usize| if offset < cut { t1 } else { t2 };
        let mut ttfb = new_histogram();
        let mut transfer = new_histogram();
        for (first, end) in spans {
            let (f, e) = (read_at(first), read_at(end - 1));
            record_us(&mut ttfb, us(f - t0));
            record_us(&mut transfer, us(e - f));
        }
        let p = &sh.rec.phases;
        assert_eq!(p.ttfb, ttfb, "cut {cut}");
        assert_eq!(p.transfer, transfer, "cut {cut}");
        assert_eq!((p.ttfb.len(), sh.rec.raw.len(), sh.rec.measured), (3, 3, 3));
    }
}

#[test]
fn test_reply_ended_by_close_transfers_until_the_close() {
    let t0 = Instant::now();
    let (_, mut sh) = client(t0, None, None);
    sh.plan.framing = Framing::Http;
    let mut c = Client::new(&sh.plan, t0, None);
    c.on_connected(&mut Vec::new(), &mut Cx::new(t0, &mut sh));
    let head = b"HTTP/1.1 200 OK\r\n\r\nbody";
    offer(&mut c, &mut sh, &[], head, t0 + ms(2));
    c.on_eof(&mut Vec::new(), &mut Cx::new(t0 + ms(6), &mut sh));
    let p = &sh.rec.phases;
    assert_eq!(sh.rec.measured, 1);
    assert_eq!((at(&p.ttfb, 2_000), at(&p.transfer, 4_000)), (1, 1));
}

#[test]
fn test_warmup_phases_are_discarded_and_the_connect_phase_kept() {
    let t0 = Instant::now();
    let (_, mut sh) = client(t0, None, None);
    // Measuring from 50 ms: the warm-up is 0..50 ms.
    sh.plan.record_from = t0 + ms(50);
    let mut c = Client::new(&sh.plan, t0, None);
    c.on_handshake_done(&mut sh, t0 + ms(2), ms(1));
    c.on_connected(&mut Vec::new(), &mut Cx::new(t0 + ms(2), &mut sh));
    offer(&mut c, &mut sh, &[], b"ok\n", t0 + ms(3));
    let p = &sh.rec.phases;
    assert!(p.connect.is_empty() && p.tls_handshake.is_empty() && p.ttfb.is_empty());
    // The next reply comes after the warm-up: timed.
    offer(&mut c, &mut sh, &[], b"ok\n", t0 + ms(60));
    assert_eq!(
        (sh.rec.phases.ttfb.len(), sh.rec.phases.transfer.len()),
        (1, 1)
    );
    // Connected before the run's start (the connect phase): timed, not the warm-up.
    sh.plan.start = None;
    let mut c = Client::new(&sh.plan, t0, None);
    c.on_connected(&mut Vec::new(), &mut Cx::new(t0 + ms(4), &mut sh));
    assert_eq!(at(&sh.rec.phases.connect, 4_000), 1);
    assert!(sh.rec.connect.is_empty(), "connect_us keeps its meaning");
}

/// The seam the TLS layer calls: told at the handshake's end how long it took since the
/// TCP connect, the client times both phases apart; `on_connected` (which the layer
/// calls right after) does not time the connect again.
#[test]
fn test_handshake_done_times_the_tls_phase() {
    let t0 = Instant::now();
    let (_, mut sh) = client(t0, None, None);
    let mut c = Client::new(&sh.plan, t0, None);
    assert!(!sh.rec.phases.present(P::TlsHandshake));
    c.on_handshake_done(&mut sh, t0 + ms(4), ms(3));
    c.on_connected(&mut Vec::new(), &mut Cx::new(t0 + ms(4), &mut sh));
    let p = &sh.rec.phases;
    assert_eq!(at(&p.tls_handshake, 3_000), 1);
    assert_eq!(at(&p.connect, 1_000), 1);
    assert_eq!(p.connect.len(), 1, "the connect timed once");
    assert_eq!(sh.rec.connects_ok, 1);
    assert!(p.present(P::TlsHandshake));
}
