//! End-to-end HTTP/1.1 tests: keep-alive, pipelining, HTTP/1.0, `Connection: close`,
//! `/bytes/N`, and the error answers (400, 431).

mod util;

use readyloop::server::ProtoKind;
use readyloop::CloseReason;
use util::*;

#[test]
fn keep_alive_several_requests_on_one_connection() {
    let srv = start_proto(ProtoKind::Http);
    let mut c = HttpConn::connect(srv.addr);
    for i in 0..10 {
        let r = c.request(&get("/", ""));
        assert_eq!(r.raw(), HELLO, "response {i} on the kept-alive connection");
    }
    assert_eq!(c.buffered(), 0);
    drop(c);
    let stats = srv.shutdown();
    assert_stats_consistent(&stats);
    assert_eq!(stats.conns.accepted, 1, "one connection for all requests");
    assert_eq!(stats.http.requests, 10, "{}", stats.line());
}

#[test]
fn bytes_endpoint_lengths_on_keep_alive() {
    let srv = start_proto(ProtoKind::Http);
    let mut c = HttpConn::connect(srv.addr);
    for n in [0usize, 1, 13, 4096, 65_537, 1 << 20, 5_000_001] {
        let r = c.request(&get(&format!("/bytes/{n}"), ""));
        assert_eq!(r.head.status, 200, "/bytes/{n}: {:?}", r.head);
        assert_eq!(r.head.content_length(), Some(n), "/bytes/{n}: {:?}", r.head);
        assert_eq!(r.body.len(), n);
        assert_pattern(&r.body);
    }
    // Still alive after the large bodies.
    assert_eq!(c.request(&get("/", "")).raw(), HELLO);
    drop(c);
    let stats = srv.shutdown();
    assert_stats_consistent(&stats);
}

#[test]
fn sixteen_pipelined_requests_in_one_write_answered_in_order() {
    let srv = start_proto(ProtoKind::Http);
    let mut c = HttpConn::connect(srv.addr);
    // Distinct body sizes make the order visible.
    let size = |i: usize| if i % 4 == 3 { None } else { Some(i * 1000 + 7) };
    let mut batch = Vec::new();
    for i in 0..16 {
        match size(i) {
            Some(n) => batch.extend(get(&format!("/bytes/{n}"), "")),
            None => batch.extend(get("/", "")),
        }
    }
    c.send(&batch); // ONE write
    for i in 0..16 {
        let r = c
            .read_response()
            .unwrap_or_else(|e| panic!("response {i} of 16: {e}"));
        match size(i) {
            Some(n) => {
                assert_eq!(r.head.status, 200, "response {i}: {:?}", r.head);
                assert_eq!(r.body.len(), n, "response {i} out of order or wrong");
                assert_pattern(&r.body);
            }
            None => assert_eq!(r.raw(), HELLO, "response {i} out of order or wrong"),
        }
    }
    // Exactly 16: the next response on the wire answers the next request.
    let last = c.request(&get("/", "Connection: close\r\n"));
    assert_eq!(last.head.status, 200);
    assert_eq!(
        last.body, b"Hello, World!",
        "a 17th response to 16 requests"
    );
    c.expect_closed();
    drop(c);
    let stats = srv.shutdown();
    assert_stats_consistent(&stats);
    assert_eq!(stats.http.requests, 17, "{}", stats.line());
}

#[test]
fn sixteen_pipelined_hello_requests_exact_bytes() {
    let srv = start_proto(ProtoKind::Http);
    let mut c = HttpConn::connect(srv.addr);
    let batch: Vec<u8> = (0..16).flat_map(|_| get("/", "")).collect();
    c.send(&batch);
    for i in 0..16 {
        let r = c
            .read_response()
            .unwrap_or_else(|e| panic!("response {i}: {e}"));
        assert_eq!(r.raw(), HELLO, "response {i}");
    }
    assert_eq!(c.buffered(), 0, "more than 16 responses");
    c.shutdown_write();
    c.expect_closed();
    drop(c);
    let stats = srv.shutdown();
    assert_stats_consistent(&stats);
    assert_eq!(stats.http.requests, 16);
}

#[test]
fn http_1_0_gets_response_then_close() {
    let srv = start_proto(ProtoKind::Http);
    let mut c = HttpConn::connect(srv.addr);
    c.send(b"GET / HTTP/1.0\r\n\r\n");
    let r = c.read_response().expect("HTTP/1.0 response");
    assert_eq!(r.head.status, 200, "{:?}", r.head);
    assert_eq!(r.body, b"Hello, World!");
    c.expect_closed();
    drop(c);
    let stats = srv.shutdown();
    assert_stats_consistent(&stats);
    assert_eq!(stats.http.requests, 1);
}

#[test]
fn http_1_0_keep_alive_stays_open() {
    let srv = start_proto(ProtoKind::Http);
    let mut c = HttpConn::connect(srv.addr);
    for i in 0..3 {
        c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let r = c
            .read_response()
            .unwrap_or_else(|e| panic!("HTTP/1.0 keep-alive response {i}: {e}"));
        assert_eq!(r.head.status, 200);
        assert_eq!(r.body, b"Hello, World!");
    }
    drop(c);
    let stats = srv.shutdown();
    assert_stats_consistent(&stats);
    assert_eq!(stats.conns.accepted, 1);
    assert_eq!(stats.http.requests, 3);
}

#[test]
fn connection_close_is_honoured() {
    let srv = start_proto(ProtoKind::Http);
    let mut c = HttpConn::connect(srv.addr);
    assert_eq!(c.request(&get("/", "")).raw(), HELLO);
    let r = c.request(&get("/", "Connection: close\r\n"));
    assert_eq!(r.head.status, 200);
    assert_eq!(r.body, b"Hello, World!");
    c.expect_closed();
    drop(c);

    // With a streamed body, too: all of it, then the close.
    let mut c = HttpConn::connect(srv.addr);
    let r = c.request(&get("/bytes/300000", "Connection: close\r\n"));
    assert_eq!(r.head.status, 200, "{:?}", r.head);
    assert_eq!(r.body.len(), 300_000);
    assert_pattern(&r.body);
    c.expect_closed();
    drop(c);

    let stats = srv.shutdown();
    assert_stats_consistent(&stats);
    assert!(
        stats.conns.closed(CloseReason::Done) + stats.conns.closed(CloseReason::Peer) == 2,
        "{}",
        stats.line()
    );
}

#[test]
fn malformed_request_gets_400_and_close() {
    let srv = start_proto(ProtoKind::Http);
    let mut c = HttpConn::connect(srv.addr);
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\nthis is not a header\r\n\r\n");
    let r = c.read_response().expect("a 400 response");
    assert_eq!(r.head.status, 400, "{:?}", r.head);
    assert!(
        r.head.says_close(),
        "400 carries Connection: close: {:?}",
        r.head
    );
    c.expect_closed();
    drop(c);
    let stats = srv.shutdown();
    assert_stats_consistent(&stats);
    assert!(stats.http.protocol_errors >= 1, "{}", stats.line());
}

#[test]
fn oversized_head_gets_431() {
    let mut cfg = config(ProtoKind::Http);
    cfg.reactor.limits.max_input = 4096;
    let srv = start(cfg);
    let mut c = HttpConn::connect(srv.addr);
    let req = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(8000)
    );
    c.send(req.as_bytes());
    let r = c.read_response().expect("a 431 response");
    assert_eq!(r.head.status, 431, "{:?}", r.head);
    let (_, _) = read_to_end_or_reset(&mut c.stream, 1 << 20).expect("closed after 431");
    drop(c);
    // A normal request on a new connection still works.
    let mut d = HttpConn::connect(srv.addr);
    assert_eq!(d.request(&get("/", "")).raw(), HELLO);
    drop(d);
    let stats = srv.shutdown();
    assert_stats_consistent(&stats);
}

#[test]
fn pipelined_bodies_larger_than_the_first_chunk_all_complete() {
    // The second body starts only when the first is done, and its first chunk goes out
    // whole: it must still be fed without waiting for a WRITABLE edge.
    let srv = start_proto(ProtoKind::Http);
    let mut c = HttpConn::connect(srv.addr);
    let sizes = [20_000usize, 20_000, 100_000, 20_000, 1_000];
    let mut batch = Vec::new();
    for n in sizes {
        batch.extend(get(&format!("/bytes/{n}"), ""));
    }
    batch.extend(get("/", ""));
    c.send(&batch);
    for (i, n) in sizes.iter().enumerate() {
        let r = c
            .read_response()
            .unwrap_or_else(|e| panic!("response {i}: {e}"));
        assert_eq!(r.body.len(), *n, "response {i}");
        assert_pattern(&r.body);
    }
    assert_eq!(c.read_response().expect("the last GET /").raw(), HELLO);
    drop(c);
    let stats = srv.shutdown();
    assert_stats_consistent(&stats);
}

#[test]
fn head_over_default_max_input_gets_431_not_a_reset() {
    // Default limits: 64 KiB of input, 64 KiB read buffer, 64 KiB max head.
    let srv = start_proto(ProtoKind::Http);
    for filler in [65_536usize, 70_000] {
        let mut c = HttpConn::connect(srv.addr);
        let req = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(filler)
        );
        c.send(req.as_bytes());
        let r = c
            .read_response()
            .unwrap_or_else(|e| panic!("a 431 for a {filler}-byte header: {e}"));
        assert_eq!(r.head.status, 431, "{:?}", r.head);
    }
    let stats = srv.shutdown();
    assert_stats_consistent(&stats);
    assert_eq!(
        stats.conns.closed(CloseReason::InputOverflow),
        0,
        "{}",
        stats.line()
    );
}

#[test]
fn header_timeout_does_not_cut_a_download_with_a_request_waiting_behind_it() {
    let mut cfg = config(ProtoKind::Http);
    cfg.reactor.limits.header_timeout = Some(std::time::Duration::from_millis(300));
    let srv = start(cfg);
    let mut c = HttpConn::connect(srv.addr);
    // A 4 MB body read slowly for ~1 s, with a complete request pipelined behind it.
    let mut batch = get("/bytes/4000000", "");
    batch.extend(get("/", ""));
    c.send(&batch);
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let r = c
        .read_response()
        .expect("the whole body despite the 300 ms header timeout");
    assert_eq!(r.body.len(), 4_000_000);
    assert_eq!(
        c.read_response().expect("then the pipelined GET /").raw(),
        HELLO
    );
    drop(c);
    let stats = srv.shutdown();
    assert_stats_consistent(&stats);
    assert_eq!(
        stats.conns.closed(CloseReason::HeaderTimeout),
        0,
        "{}",
        stats.line()
    );
}
