//! End-to-end tests of the in-process server: echo correctness and scale, half-close,
//! resets, the output cap, timeouts, `max_conns`, and graceful shutdown.

mod util;

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use readyloop::server::ProtoKind;
use readyloop::CloseReason;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};
use util::*;

/// Send `data` from a writer thread while reading the echo on this one, so payloads
/// larger than the socket buffers cannot deadlock. Returns the echoed bytes.
fn echo_concurrently(s: &TcpStream, data: Vec<u8>) -> Vec<u8> {
    let mut w = s.try_clone().expect("clone stream");
    let len = data.len();
    let writer = std::thread::spawn(move || w.write_all(&data));
    let mut back = vec![0u8; len];
    let mut r = s;
    r.read_exact(&mut back)
        .unwrap_or_else(|e| panic!("reading {len} echoed bytes: {e}"));
    writer
        .join()
        .expect("writer thread")
        .expect("writing the payload");
    back
}

#[test]
fn echo_payloads_1_byte_to_8_mib_byte_for_byte() {
    let srv = start_proto(ProtoKind::Echo);
    let mut rng = StdRng::seed_from_u64(0x5eed_ec40);
    let sizes = [1usize, 2, 100, 4095, 4096, 65537, 1 << 20, 8 << 20];
    let mut total = 0u64;
    for &size in &sizes {
        let mut data = vec![0u8; size];
        rng.fill_bytes(&mut data);
        let s = connect(srv.addr);
        let back = echo_concurrently(&s, data.clone());
        if back != data {
            let at = back.iter().zip(&data).position(|(a, b)| a != b);
            panic!("echo of {size} bytes differs, first at {at:?}");
        }
        total += size as u64;
        // Nothing more than the payload comes back: after a half-close the server
        // flushes (nothing left) and closes.
        s.shutdown(Shutdown::Write).unwrap();
        let mut s = s;
        expect_closed(&mut s);
    }
    let stats = srv.shutdown();
    assert_stats_consistent(&stats);
    assert_eq!(stats.conns.accepted, sizes.len() as u64);
    assert!(
        stats.conns.bytes_in >= total && stats.conns.bytes_out >= total,
        "{}",
        stats.line()
    );
}

#[test]
fn echo_many_payloads_on_one_connection() {
    let srv = start_proto(ProtoKind::Echo);
    let mut rng = StdRng::seed_from_u64(7);
    let s = connect(srv.addr);
    for i in 0..50 {
        let n = rng.gen_range(1..200_000);
        let mut data = vec![0u8; n];
        rng.fill_bytes(&mut data);
        let back = echo_concurrently(&s, data.clone());
        assert!(back == data, "message {i} of {n} bytes differs");
    }
    drop(s);
    let stats = srv.shutdown();
    assert_stats_consistent(&stats);
}

#[test]
fn thousand_concurrent_echo_clients() {
    const WANT: usize = 1000;
    // Each client costs two descriptors here (ours and the in-process server's).
    let soft = nofile_soft() as usize;
    let open = open_fds();
    let room = soft.saturating_sub(open + 200) / 2;
    let n = WANT.min(room);
    if n < WANT {
        println!(
            "note: RLIMIT_NOFILE soft {soft} with {open} fds open leaves room for {n} clients, \
             not {WANT}: scaled down"
        );
    }
    assert!(n >= 50, "fd limit {soft} too low for a meaningful test");

    let srv = start_proto(ProtoKind::Echo);
    let started = Instant::now();
    let mut clients: Vec<TcpStream> = (0..n).map(|_| connect(srv.addr)).collect();
    // All connected and open at once; now each sends a distinct message...
    let msg = |i: usize| format!("client {i:04} says {}\n", "x".repeat(i % 97)).into_bytes();
    for (i, c) in clients.iter_mut().enumerate() {
        c.write_all(&msg(i)).expect("write");
    }
    // ...and gets exactly its own back.
    for (i, c) in clients.iter_mut().enumerate() {
        let want = msg(i);
        let mut got = vec![0u8; want.len()];
        c.read_exact(&mut got)
            .unwrap_or_else(|e| panic!("client {i}: {e}"));
        assert_eq!(got, want, "client {i} got another client's bytes");
    }
    // A second round, in reverse order, on the same connections.
    for (i, c) in clients.iter_mut().enumerate().rev() {
        echo_roundtrip(c, format!("again {i}").as_bytes());
    }
    println!("{n} clients served in {:?}", started.elapsed());
    drop(clients);
    let stats = srv.shutdown();
    assert_stats_consistent(&stats);
    assert_eq!(stats.conns.accepted, n as u64);
    assert!(
        stats.conns.peak_active >= n as u64,
        "all {n} clients were open at once, peak_active={}",
        stats.conns.peak_active
    );
}

#[test]
fn half_close_still_gets_all_echo_then_eof() {
    let srv = start_proto(ProtoKind::Echo);
    let mut rng = StdRng::seed_from_u64(0x4a1f);
    let mut data = vec![0u8; 3 * 1024 * 1024 + 17];
    rng.fill_bytes(&mut data);
    let s = connect(srv.addr);
    let mut w = s.try_clone().unwrap();
    let payload = data.clone();
    let writer = std::thread::spawn(move || {
        w.write_all(&payload)?;
        w.shutdown(Shutdown::Write)
    });
    let mut r = s;
    let (back, reset) = read_to_end_or_reset(&mut r, 8 << 20).expect("read echo to EOF");
    writer.join().unwrap().expect("write + shutdown(Write)");
    assert!(!reset, "the server reset a half-closed connection");
    assert_eq!(back.len(), data.len(), "echo length after half-close");
    assert!(back == data, "echo bytes differ after half-close");
    let stats = srv.shutdown();
    assert_stats_consistent(&stats);
    assert_eq!(stats.conns.closed(CloseReason::Peer), 1, "{}", stats.line());
}

/// Close `s` with SO_LINGER 0: the kernel sends RST instead of FIN.
fn close_with_rst(s: TcpStream) {
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER 0");
    drop(s);
}

#[test]
fn client_rst_mid_http_response_server_keeps_serving() {
    let srv = start_proto(ProtoKind::Http);
    let mut big = HttpConn::connect(srv.addr);
    big.send(&get("/bytes/50000000", ""));
    let head = big.read_head().expect("head of /bytes/50000000");
    assert_eq!(head.status, 200, "{head:?}");
    assert_eq!(head.content_length(), Some(50_000_000), "{head:?}");
    let mut check = PatternCheck::default();
    big.read_body_with(256 * 1024, |b| check.feed(b))
        .expect("first 256 KiB of the body");

    // Another client is served while the big response is stuck behind a full socket.
    let mut other = HttpConn::connect(srv.addr);
    assert_eq!(other.request(&get("/", "")).raw(), HELLO);

    close_with_rst(big.stream);

    // And after the reset.
    assert_eq!(other.request(&get("/", "")).raw(), HELLO);
    let mut third = HttpConn::connect(srv.addr);
    assert_eq!(third.request(&get("/", "")).raw(), HELLO);
    drop(other);
    drop(third);

    let stats = srv.shutdown(); // panics if the thread panicked or returned Err
    assert_stats_consistent(&stats);
    assert!(
        stats.conns.closed(CloseReason::Reset) + stats.conns.closed(CloseReason::Error) >= 1,
        "the reset connection is counted as reset/error: {}",
        stats.line()
    );
    assert!(
        stats.conns.errno_count(libc::ECONNRESET) + stats.conns.errno_count(libc::EPIPE) >= 1,
        "ECONNRESET or EPIPE counted: {}",
        stats.line()
    );
    assert!(stats.http.requests >= 4, "{}", stats.line());
}

#[test]
fn client_rst_on_source_stream_server_keeps_serving() {
    let srv = start_proto(ProtoKind::Source);
    let mut a = connect(srv.addr);
    let mut buf = vec![0u8; 64 * 1024];
    let mut check = PatternCheck::default();
    while check.offset < 256 * 1024 {
        let n = a.read(&mut buf).expect("read from source");
        assert!(n > 0, "source closed early");
        check.feed(&buf[..n]);
    }
    close_with_rst(a);

    // A second source client still streams.
    let mut b = connect(srv.addr);
    let mut check = PatternCheck::default();
    while check.offset < 1024 * 1024 {
        let n = b.read(&mut buf).expect("read from second source client");
        assert!(n > 0, "source closed early");
        check.feed(&buf[..n]);
    }
    close_with_rst(b);

    // The server is alive and accepting: a third client gets bytes too.
    let mut c = connect(srv.addr);
    let n = c.read(&mut buf).expect("third client");
    assert!(n > 0);
    drop(c);

    let stats = srv.shutdown();
    assert_stats_consistent(&stats);
    assert!(
        stats.conns.closed(CloseReason::Reset) + stats.conns.closed(CloseReason::Error) >= 2,
        "both RST closes counted as reset/error: {}",
        stats.line()
    );
}

/// A client that floods an echo server and never reads: its echo waits behind output
/// the socket will not take, so the server stops reading it (backpressure: its memory
/// stays at one output budget, far under the cap) and, as the output does not drain at
/// the minimum rate, closes it as a slow peer. Others are served throughout.
#[test]
fn non_reading_client_is_paused_then_closed_as_slow_others_served() {
    let mut cfg = config(ProtoKind::Echo);
    cfg.reactor.limits.max_output = 64 * 1024;
    cfg.reactor.limits.min_rate_window = Duration::from_millis(500);
    let srv = start(cfg);

    let bad = connect(srv.addr);
    bad.set_nonblocking(true).unwrap();
    let mut good = connect(srv.addr);
    echo_roundtrip(&mut good, b"before");

    let chunk = vec![0xabu8; 64 * 1024];
    let mut written = 0usize;
    let mut last_progress = Instant::now();
    let started = Instant::now();
    let mut checked_during = false;
    let mut write_error = None;
    let mut w = &bad;
    while written < 64 << 20 && started.elapsed() < Duration::from_secs(20) {
        match w.write(&chunk) {
            Ok(n) => {
                written += n;
                last_progress = Instant::now();
                if !checked_during && written >= 1 << 20 {
                    // The well-behaved client is served while the bad one floods.
                    echo_roundtrip(&mut good, b"during");
                    checked_during = true;
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if last_progress.elapsed() > Duration::from_secs(2) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                write_error = Some(e);
                break;
            }
        }
    }
    println!("bad client wrote {written} bytes; write error: {write_error:?}");
    match &write_error {
        Some(e) => assert!(
            matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
            "unexpected write error {e}"
        ),
        None => {
            // Writes stalled: the server must have closed; the read side shows it.
            bad.set_nonblocking(false).unwrap();
            let mut r = &bad;
            let mut buf = vec![0u8; 256 * 1024];
            let mut read = 0usize;
            loop {
                match r.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        read += n;
                        assert!(read <= 80 << 20, "server never closed the flooding client");
                    }
                    Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => panic!(
                        "server did not close a client that stopped reading ({written} bytes written): {e}"
                    ),
                }
            }
        }
    }
    assert!(
        written < 64 << 20,
        "wrote 64 MiB without the server closing"
    );
    echo_roundtrip(&mut good, b"after");
    drop(good);
    drop(bad);
    let stats = srv.shutdown();
    assert_stats_consistent(&stats);
    assert_eq!(
        stats.conns.closed(CloseReason::SlowPeer),
        1,
        "{}",
        stats.line()
    );
    assert_eq!(
        stats.conns.closed(CloseReason::OutputOverflow),
        0,
        "backpressure, not overflow: {}",
        stats.line()
    );
}

#[test]
fn idle_timeout_closes_idle_connection() {
    let mut cfg = config(ProtoKind::Echo);
    cfg.reactor.limits.idle_timeout = Some(Duration::from_millis(300));
    let srv = start(cfg);
    let mut s = connect(srv.addr);
    echo_roundtrip(&mut s, b"hi");
    let t0 = Instant::now();
    expect_closed(&mut s); // read timeout 5 s bounds this
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "closed after {waited:?}, before the 300 ms idle timeout"
    );
    assert!(
        waited < Duration::from_secs(3),
        "closed only after {waited:?}"
    );
    let stats = srv.shutdown();
    assert_stats_consistent(&stats);
    assert_eq!(
        stats.conns.closed(CloseReason::IdleTimeout),
        1,
        "{}",
        stats.line()
    );
}

#[test]
fn active_connection_is_not_closed_by_idle_timeout() {
    let mut cfg = config(ProtoKind::Echo);
    cfg.reactor.limits.idle_timeout = Some(Duration::from_millis(300));
    let srv = start(cfg);
    let mut s = connect(srv.addr);
    let t0 = Instant::now();
    // Activity every 100 ms for 1.2 s: four idle timeouts long.
    for i in 0..12 {
        echo_roundtrip(&mut s, format!("tick {i}").as_bytes());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(t0.elapsed() >= Duration::from_millis(1200));
    echo_roundtrip(&mut s, b"still open");
    // Now idle: it does close.
    expect_closed(&mut s);
    let stats = srv.shutdown();
    assert_stats_consistent(&stats);
    assert_eq!(
        stats.conns.closed(CloseReason::IdleTimeout),
        1,
        "{}",
        stats.line()
    );
}

#[test]
fn header_timeout_closes_partial_request() {
    let mut cfg = config(ProtoKind::Http);
    cfg.reactor.limits.header_timeout = Some(Duration::from_millis(300));
    cfg.reactor.limits.idle_timeout = Some(Duration::from_secs(30));
    let srv = start(cfg);
    let mut s = connect(srv.addr);
    s.write_all(b"GET / HTTP/1.1\r\nHost").unwrap();
    let t0 = Instant::now();
    // The server may say 408 first; it must then close.
    let (_said, _reset) = read_to_end_or_reset(&mut s, 4096)
        .unwrap_or_else(|e| panic!("partial request not closed by the header timeout: {e}"));
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "closed after {waited:?}, before the header timeout"
    );
    assert!(
        waited < Duration::from_secs(3),
        "closed only after {waited:?}"
    );
    let stats = srv.shutdown();
    assert_stats_consistent(&stats);
    assert_eq!(
        stats.conns.closed(CloseReason::HeaderTimeout),
        1,
        "{}",
        stats.line()
    );
}

#[test]
fn header_timeout_is_not_reset_by_trickled_bytes() {
    let mut cfg = config(ProtoKind::Http);
    cfg.reactor.limits.header_timeout = Some(Duration::from_millis(400));
    cfg.reactor.limits.idle_timeout = Some(Duration::from_secs(30));
    let srv = start(cfg);
    let mut s = connect(srv.addr);
    let t0 = Instant::now();
    let mut closed_at = None;
    // Slowloris: a header byte every 50 ms, never finishing. Bounded: 60 bytes (3 s).
    for b in b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter() {
        if s.write_all(&[*b]).is_err() {
            closed_at = Some(t0.elapsed());
            break;
        }
        s.set_nonblocking(true).unwrap();
        let mut one = [0u8; 1];
        let r = s.read(&mut one);
        s.set_nonblocking(false).unwrap();
        match r {
            Ok(0) => {
                closed_at = Some(t0.elapsed());
                break;
            }
            Ok(_) => {} // an error page (408) may precede the close
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => {
                closed_at = Some(t0.elapsed());
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let closed_at = closed_at.expect("a trickling partial request is closed by the header timeout");
    assert!(
        closed_at >= Duration::from_millis(350) && closed_at < Duration::from_millis(2500),
        "closed after {closed_at:?} (header timeout 400 ms)"
    );
    let stats = srv.shutdown();
    assert_stats_consistent(&stats);
    assert_eq!(
        stats.conns.closed(CloseReason::HeaderTimeout),
        1,
        "{}",
        stats.line()
    );
}

#[test]
fn max_conns_rejects_with_503_and_recovers() {
    let mut cfg = config(ProtoKind::Http);
    cfg.reactor.max_conns = Some(5);
    let srv = start(cfg);
    let mut held: Vec<HttpConn> = (0..5).map(|_| HttpConn::connect(srv.addr)).collect();
    for c in held.iter_mut() {
        assert_eq!(c.request(&get("/", "")).raw(), HELLO);
    }

    // The sixth: 503, then closed.
    let mut sixth = HttpConn::connect(srv.addr);
    let resp = sixth
        .read_response()
        .expect("a 503 for the connection over max_conns");
    assert_eq!(resp.head.status, 503, "{:?}", resp.head);
    sixth.expect_closed();

    // The held ones still work.
    for c in held.iter_mut() {
        assert_eq!(c.request(&get("/", "")).raw(), HELLO);
    }

    // Close one; a new connection is accepted and served (poll: the server has to see
    // the close first).
    drop(held.remove(0));
    let mut attempts = 0;
    let mut fresh = wait_for(Duration::from_secs(5), "a slot freed by a close", || {
        attempts += 1;
        let mut c = HttpConn::connect(srv.addr);
        c.send(&get("/", ""));
        // A rejected attempt reads a 503 (or a reset if our request raced the close).
        let r = c.read_response().ok()?;
        (r.head.status == 200).then_some((c, r))
    });
    assert_eq!(fresh.1.raw(), HELLO);
    assert_eq!(fresh.0.request(&get("/", "")).raw(), HELLO);
    drop(fresh);
    drop(held);
    let stats = srv.shutdown();
    assert_stats_consistent(&stats);
    assert!(stats.conns.rejected >= 1, "{}", stats.line());
    assert_eq!(stats.conns.rejected, attempts as u64, "{}", stats.line()); // 6th + failed retries
    assert_eq!(
        stats.conns.closed(CloseReason::Rejected),
        stats.conns.rejected
    );
    assert!(stats.conns.peak_active <= 5, "{}", stats.line());
}

#[test]
fn graceful_shutdown_finishes_response_in_flight() {
    const N: usize = 20_000_000;
    let mut cfg = config(ProtoKind::Http);
    cfg.reactor.shutdown_timeout = Duration::from_secs(20);
    let mut srv = start(cfg);
    let addr = srv.addr;

    // An idle keep-alive connection: closed at once by the shutdown.
    let mut idle = HttpConn::connect(addr);
    assert_eq!(idle.request(&get("/", "")).raw(), HELLO);

    let mut c = HttpConn::connect(addr);
    c.send(&get(&format!("/bytes/{N}"), ""));
    let head = c.read_head().expect("head");
    assert_eq!(head.status, 200, "{head:?}");
    assert_eq!(head.content_length(), Some(N), "{head:?}");
    // Read slowly for a while.
    let mut check = PatternCheck::default();
    for _ in 0..5 {
        c.read_body_with(64 * 1024, |b| check.feed(b))
            .expect("the start of the body");
        std::thread::sleep(Duration::from_millis(20));
    }

    srv.handle.shutdown();
    // The listener goes away; the idle connection is closed.
    wait_until(Duration::from_secs(5), "the listener to close", || {
        try_connect(addr).is_err()
    });
    idle.expect_closed();
    assert!(
        !srv.is_finished(),
        "the server returned with a response in flight"
    );

    let got = check.offset as usize;
    c.read_body_with(N - got, |b| check.feed(b))
        .unwrap_or_else(|e| panic!("body cut after {} of {N} bytes: {e}", check.offset));
    assert_eq!(check.offset, N as u64); // every byte checked against the pattern
    c.expect_closed();

    let stats = srv.join_within(Duration::from_secs(10));
    assert_stats_consistent(&stats);
    assert!(stats.conns.bytes_out >= N as u64, "{}", stats.line());
    assert!(
        stats.conns.closed(CloseReason::Shutdown) >= 1,
        "{}",
        stats.line()
    );
}

#[test]
fn graceful_shutdown_with_nothing_open_returns_promptly() {
    let srv = start_proto(ProtoKind::Http);
    let mut c = HttpConn::connect(srv.addr);
    assert_eq!(c.request(&get("/", "")).raw(), HELLO);
    drop(c);
    let t0 = Instant::now();
    let stats = srv.shutdown();
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    assert_stats_consistent(&stats);
    assert_eq!(stats.http.requests, 1);
}
