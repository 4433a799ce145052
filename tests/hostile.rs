//! Hostile peers: each test here reproduces a way one client could break the promise
//! that per-connection work and memory are bounded, and that one connection cannot hold
//! up the others. Each was written to fail before its fix (see the items).

mod util;

use readyloop::protocol::{Cx, Protocol, Step, Verdict};
use readyloop::server::ProtoKind;
use readyloop::{Config, ListenOptions, Reactor, ServeWith};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use util::HttpConn;

/// Item 1: one write of ~60 KB of pipelined `GET /bytes/16384` asks for ~32 MiB of
/// responses. Answered inline in one call, that overflowed `max_output` (4 MiB) and cut
/// a client that did nothing wrong; answered within an output budget, the rest of the
/// input waits (reading paused) until the client has read what went before.
#[test]
fn test_pipelined_bytes_flood_answered_in_full() {
    let srv = util::start_proto(ProtoKind::Http);
    let req = b"GET /bytes/16384 HTTP/1.1\r\nHost: x\r\n\r\n";
    let count = 60_000 / req.len();
    let mut c = HttpConn::connect(srv.addr);
    c.stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // Write from another thread: the server stops reading while its answers wait, so a
    // single-threaded client that writes everything before reading could deadlock on a
    // small socket buffer.
    let mut w = c.stream.try_clone().unwrap();
    let batch = req.repeat(count);
    let writer = std::thread::spawn(move || w.write_all(&batch));
    let mut check = util::PatternCheck::default();
    for i in 0..count {
        let head = c
            .read_head()
            .unwrap_or_else(|e| panic!("response {i} of {count}: {e}"));
        assert_eq!(head.status, 200, "response {i}");
        assert_eq!(head.content_length(), Some(16384));
        check = util::PatternCheck::default();
        c.read_body_with(16384, |b| check.feed(b))
            .unwrap_or_else(|e| panic!("body {i} of {count}: {e}"));
    }
    assert_eq!(check.offset, 16384);
    writer.join().unwrap().expect("all requests written");
    let stats = srv.shutdown();
    assert_eq!(stats.http.requests, count as u64);
    assert_eq!(
        stats.conns.closed(readyloop::CloseReason::OutputOverflow),
        0,
        "{}",
        stats.line()
    );
}

/// Item 1: the reactor's turn times are measured (max and p99 in the stats).
#[test]
fn test_turn_times_in_stats() {
    let srv = util::start_proto(ProtoKind::Http);
    let mut c = HttpConn::connect(srv.addr);
    for _ in 0..10 {
        assert_eq!(c.request(util::get("/", "").as_slice()).head.status, 200);
    }
    let snap = srv
        .handle
        .snapshot(Duration::from_secs(2))
        .expect("snapshot");
    let turns = &snap.stats.turns;
    assert!(turns.count() >= 10, "turns counted: {}", turns.count());
    assert!(turns.max_ns() > 0);
    assert!(turns.percentile_ns(99.0) <= turns.max_ns().next_power_of_two());
    let j = snap.stats.to_json();
    assert!(
        j["turn_max_us"].is_number() && j["turn_p99_us"].is_number(),
        "{j}"
    );
}

/// A protocol whose timer is always due: `poll_at` stays in the past after `on_timer`.
struct AlwaysDue {
    calls: Arc<AtomicU64>,
}

impl Protocol for AlwaysDue {
    type Context = ();

    fn on_input(&mut self, input: &[u8], _out: &mut Vec<u8>, _b: usize, _cx: &mut Cx<()>) -> Step {
        Step::cont(input.len())
    }
    fn poll_at(&self, _: &()) -> Option<Instant> {
        Some(Instant::now() - Duration::from_secs(1))
    }
    fn on_timer(&mut self, _out: &mut Vec<u8>, _cx: &mut Cx<()>) -> Verdict {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Verdict::Continue
    }
}

/// Item 2: a deadline that is due again after its callback runs waits for the next turn
/// (which then polls with a zero timeout) instead of looping inside this one forever.
#[test]
fn test_due_again_timer_runs_once_per_turn() {
    let calls = Arc::new(AtomicU64::new(0));
    let (tx, rx) = std::sync::mpsc::channel();
    let c2 = calls.clone();
    let t = std::thread::spawn(move || -> std::io::Result<u64> {
        let mut r: Reactor<AlwaysDue> = Reactor::new(Config::default())?;
        let l = r.listen("127.0.0.1:0".parse().unwrap(), &ListenOptions::default())?;
        tx.send(r.local_addr(l)?).unwrap();
        let mut host = ServeWith(move || AlwaysDue { calls: c2.clone() });
        // Until the connection is in, then 50 turns: each must return.
        let mut turns = 0;
        while r.active() == 0 && turns < 10_000 {
            r.turn(&mut host, Some(Duration::from_millis(10)))?;
            turns += 1;
        }
        let polls_before = r.snapshot().stats.polls;
        for _ in 0..50 {
            r.turn(&mut host, Some(Duration::from_secs(1)))?;
        }
        Ok(r.snapshot().stats.polls - polls_before)
    });
    let addr = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let _client = TcpStream::connect(addr).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !t.is_finished() {
        assert!(
            Instant::now() < deadline,
            "the reactor's turns did not return: {} on_timer calls so far",
            calls.load(Ordering::Relaxed)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let polls = t.join().unwrap().unwrap();
    let n = calls.load(Ordering::Relaxed);
    assert!(n >= 40, "the due timer ran on (almost) every turn: {n}");
    // Turns before the 50 counted ones (while the connection came in) add a few calls.
    assert!(
        n <= polls + 10,
        "at most one on_timer per turn: {n} calls in {polls} turns"
    );
}

/// Item 3: with the header timeout off (`--header-timeout 0`), a partial request falls
/// back to the idle timeout instead of being held forever.
#[test]
fn test_header_timeout_off_falls_back_to_idle() {
    let mut cfg = util::config(ProtoKind::Http);
    cfg.reactor.limits.header_timeout = None;
    cfg.reactor.limits.idle_timeout = Some(Duration::from_millis(300));
    let srv = util::start(cfg);
    let mut s = util::connect(srv.addr);
    s.write_all(b"GET / HTT").unwrap();
    let started = Instant::now();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 64];
    let got = s.read(&mut buf);
    assert!(
        matches!(got, Ok(0)) || got.is_err() && started.elapsed() < Duration::from_secs(4),
        "the partial request was held: {got:?} after {:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "closed only after {:?}",
        started.elapsed()
    );
    let stats = srv.shutdown();
    assert_eq!(
        stats.conns.closed(readyloop::CloseReason::IdleTimeout),
        1,
        "{}",
        stats.line()
    );
}

/// A producer that asks to close after flushing at once and still streams `left` bytes
/// in small chunks.
struct CloseWhileStreaming {
    left: usize,
}

impl Protocol for CloseWhileStreaming {
    type Context = ();

    fn on_input(&mut self, input: &[u8], _out: &mut Vec<u8>, _b: usize, _cx: &mut Cx<()>) -> Step {
        Step::cont(input.len())
    }
    fn on_connected(&mut self, _out: &mut Vec<u8>, _cx: &mut Cx<()>) -> Verdict {
        Verdict::CloseAfterFlush
    }
    fn wants_drained(&self) -> bool {
        self.left > 0
    }
    fn on_drained(&mut self, out: &mut Vec<u8>, budget: usize, _cx: &mut Cx<()>) -> Verdict {
        let n = budget.clamp(1, 16 * 1024).min(self.left);
        out.resize(out.len() + n, b'x');
        self.left -= n;
        Verdict::CloseAfterFlush
    }
}

/// Item 4: a producer behind `CloseAfterFlush` keeps its connection while it makes
/// progress; the idle clock restarts with every byte the slow reader takes.
#[test]
fn test_flushing_producer_not_cut_while_progressing() {
    let total = 2 * 1024 * 1024;
    let mut cfg = Config::default();
    cfg.limits.idle_timeout = Some(Duration::from_millis(300));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut r: Reactor<CloseWhileStreaming> = Reactor::new(cfg).unwrap();
    let handle = r.handle();
    // The reactor connects out to a plain listener: `on_connected` starts the stream.
    let t = std::thread::spawn(move || -> std::io::Result<readyloop::Stats> {
        let opts = readyloop::ConnectOptions {
            rcvbuf: None,
            sndbuf: Some(16 * 1024),
            ..Default::default()
        };
        if r.connect(addr, &opts, CloseWhileStreaming { left: total })
            .is_err()
        {
            return Err(std::io::Error::other("connect"));
        }
        let mut host = ServeWith(|| CloseWhileStreaming { left: 0 });
        let deadline = Instant::now() + Duration::from_secs(30);
        while (r.active() > 0 || r.snapshot().stats.connected == 0) && Instant::now() < deadline {
            r.turn(&mut host, Some(Duration::from_millis(50)))?;
        }
        Ok(r.snapshot().stats)
    });
    let (mut s, _) = listener.accept().unwrap();
    s.set_recv_buffer_size_compat(16 * 1024);
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // Read slowly but steadily: 16 KiB every 25 ms (~640 KiB/s), so the stream takes
    // about 3 s, ten times the idle timeout.
    let mut got = 0;
    let mut buf = vec![0u8; 16 * 1024];
    let started = Instant::now();
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => panic!("after {got} bytes: {e}"),
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert_eq!(
        got,
        total,
        "cut after {got} of {total} bytes in {:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() > Duration::from_millis(600),
        "the read was slow"
    );
    let stats = t.join().unwrap().unwrap();
    assert_eq!(
        stats.closed(readyloop::CloseReason::IdleTimeout),
        0,
        "{}",
        stats.line()
    );
    drop(handle);
}

/// Item 4: `/bytes/N` with `Connection: close` streams in Flushing and is not cut by the
/// idle timeout while a slow reader keeps taking it.
#[test]
fn test_bytes_with_close_streams_to_slow_reader() {
    let mut cfg = util::config(ProtoKind::Http);
    cfg.reactor.limits.idle_timeout = Some(Duration::from_millis(300));
    let srv = util::start(cfg);
    let s = util::connect(srv.addr);
    s.set_recv_buffer_size_compat(16 * 1024);
    let mut c = HttpConn::new(s);
    let n = 2 * 1024 * 1024;
    c.send(format!("GET /bytes/{n} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes());
    let head = c.read_head().unwrap();
    assert!(head.says_close());
    let mut check = util::PatternCheck::default();
    let mut pieces = 0;
    c.read_body_with(n, |b| {
        check.feed(b);
        pieces += 1;
        if pieces % 4 == 0 {
            std::thread::sleep(Duration::from_millis(25));
        }
    })
    .expect("the whole body");
    assert_eq!(check.offset, n as u64);
    c.expect_closed();
    let stats = srv.shutdown();
    assert_eq!(
        stats.conns.closed(readyloop::CloseReason::IdleTimeout),
        0,
        "{}",
        stats.line()
    );
}

/// `SO_RCVBUF` on a std stream (socket2 through a borrowed fd): a small receive window
/// makes "the client reads slowly" real within a short test.
trait RecvBuf {
    fn set_recv_buffer_size_compat(&self, n: usize);
}

impl RecvBuf for TcpStream {
    fn set_recv_buffer_size_compat(&self, n: usize) {
        socket2::SockRef::from(self)
            .set_recv_buffer_size(n)
            .expect("SO_RCVBUF");
    }
}

/// Item 5: reminders of closed connections do not pile up in the timer heap: after
/// 3,000 short connections on a 60 s idle timeout it holds at most
/// `2 x live + 64` entries (it held one per connection until its deadline).
#[test]
fn test_timer_heap_bounded_after_short_connections() {
    let srv = util::start_proto(ProtoKind::Http);
    for _ in 0..3000 {
        let mut c = HttpConn::connect(srv.addr);
        assert_eq!(
            c.request(&util::get("/", "Connection: close\r\n"))
                .head
                .status,
            200
        );
    }
    util::wait_until(Duration::from_secs(10), "all closed", || {
        srv.handle
            .snapshot(Duration::from_secs(1))
            .is_some_and(|s| s.active == 0)
    });
    // One more turn for the end-of-turn compaction to have run after the last close.
    let _ = util::connect(srv.addr);
    std::thread::sleep(Duration::from_millis(50));
    let snap = srv.handle.snapshot(Duration::from_secs(2)).unwrap();
    assert!(
        snap.timers <= 2 * snap.timers_live + 64,
        "{} reminders for {} live",
        snap.timers,
        snap.timers_live
    );
    assert!(snap.timers_live <= 2, "live: {}", snap.timers_live);
}

/// A protocol that answers the peer's EOF with `Verdict::Close`.
struct CloseOnEof;

impl Protocol for CloseOnEof {
    type Context = ();

    fn on_input(&mut self, input: &[u8], _out: &mut Vec<u8>, _b: usize, _cx: &mut Cx<()>) -> Step {
        Step::cont(input.len())
    }
    fn on_eof(&mut self, _out: &mut Vec<u8>, _cx: &mut Cx<()>) -> Verdict {
        Verdict::Close
    }
}

/// Item 7: `Verdict::Close` is a protocol close whichever callback says it (it was
/// counted as `Peer` from `on_eof` and as `Protocol` elsewhere).
#[test]
fn test_close_verdict_from_eof_counts_as_protocol() {
    let mut r: Reactor<CloseOnEof> = Reactor::new(Config::default()).unwrap();
    let l = r
        .listen("127.0.0.1:0".parse().unwrap(), &ListenOptions::default())
        .unwrap();
    let addr = r.local_addr(l).unwrap();
    let c = TcpStream::connect(addr).unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut host = ServeWith(|| CloseOnEof);
    let deadline = Instant::now() + Duration::from_secs(5);
    while r.snapshot().stats.closed_total() == 0 && Instant::now() < deadline {
        r.turn(&mut host, Some(Duration::from_millis(20))).unwrap();
    }
    let stats = r.snapshot().stats;
    assert_eq!(
        stats.closed(readyloop::CloseReason::Protocol),
        1,
        "{}",
        stats.line()
    );
    assert_eq!(stats.closed(readyloop::CloseReason::Peer), 0);
}

/// Item 11: a reader that takes a byte now and then is closed as too slow once its
/// output waits longer than the rate window allows; a steady reader is not.
#[test]
fn test_slow_reader_closed_as_slow_peer() {
    let mut cfg = util::config(ProtoKind::Http);
    cfg.reactor.limits.min_rate = 1024;
    cfg.reactor.limits.min_rate_window = Duration::from_millis(500);
    let srv = util::start(cfg);
    // The slow one: 100 bytes every 200 ms = 500 B/s, under the 1 KiB/s minimum.
    let s = util::connect(srv.addr);
    s.set_recv_buffer_size_compat(4096);
    let mut slow = HttpConn::new(s);
    slow.send(&util::get("/bytes/100000000", ""));
    let mut got = 0usize;
    let mut buf = [0u8; 100];
    let started = Instant::now();
    // Read slowly until the server has given up on it (bounded).
    while started.elapsed() < Duration::from_secs(10) {
        let closed = srv
            .handle
            .snapshot(Duration::from_secs(1))
            .is_some_and(|s| s.stats.closed(readyloop::CloseReason::SlowPeer) == 1);
        if closed {
            break;
        }
        if let Ok(n) = slow.stream.read(&mut buf) {
            got += n;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a 500 B/s reader held its slot for 10 s ({got} bytes read)"
    );
    // The close was a reset: the megabytes queued in the kernel for it were dropped,
    // so what is left to read is what had reached its own receive buffer.
    slow.stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let (rest, _reset) = util::read_to_end_or_reset(&mut slow.stream, 1 << 20).unwrap();
    assert!(rest.len() < 64 * 1024, "{} bytes still came", rest.len());
    // A steady reader of a shorter download is fine.
    let mut ok = HttpConn::connect(srv.addr);
    ok.send(&util::get("/bytes/3000000", ""));
    let head = ok.read_head().unwrap();
    let mut check = util::PatternCheck::default();
    ok.read_body_with(head.content_length().unwrap(), |b| {
        check.feed(b);
        std::thread::sleep(Duration::from_micros(200));
    })
    .expect("a steady reader gets the whole body");
    let stats = srv.shutdown();
    assert_eq!(
        stats.conns.closed(readyloop::CloseReason::SlowPeer),
        1,
        "{}",
        stats.line()
    );
}

/// Item 11: a request body trickling in slower than the minimum rate closes the
/// connection (it ran on the idle clock, which every byte restarted).
#[test]
fn test_slow_body_closed_as_slow_peer() {
    let mut cfg = util::config(ProtoKind::Http);
    cfg.reactor.limits.min_rate = 1024;
    cfg.reactor.limits.min_rate_window = Duration::from_millis(500);
    let srv = util::start(cfg);
    let mut s = util::connect(srv.addr);
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    let mut closed = false;
    while started.elapsed() < Duration::from_secs(10) {
        if s.write_all(&[b'x'; 10]).is_err() {
            closed = true;
            break;
        }
        // 10 bytes every 100 ms = 100 B/s.
        std::thread::sleep(Duration::from_millis(100));
        s.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
        let mut b = [0u8; 256];
        if matches!(s.read(&mut b), Ok(0)) {
            closed = true;
            break;
        }
    }
    assert!(closed, "a 100 B/s body held the connection for 10 s");
    let stats = srv.shutdown();
    assert_eq!(
        stats.conns.closed(readyloop::CloseReason::SlowPeer),
        1,
        "{}",
        stats.line()
    );
}
