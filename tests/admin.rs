//! End-to-end tests of the admin listener (`--admin`, `GET /stats`): the numbers follow
//! the connections held, bad requests do not stop it, shutdown ends its thread promptly,
//! and the binary prints and serves it.
//!
//! The tests in this file run one at a time (`serial()`): `fds_open` counts the whole
//! test process, so another test opening or closing sockets at the same moment would
//! blur the counts checked here.

mod util;

use readyloop::protocol::Echo;
use readyloop::server::{ProtoKind, Server};
use readyloop::{Config, ListenOptions, Reactor, ServeWith};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use util::*;

const T: Duration = Duration::from_secs(10);

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    // A failed test poisons the lock; the others should still run.
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// `GET /stats`: asserts 200, JSON content type and the close; returns the document.
fn stats(admin: SocketAddr) -> Value {
    let mut c = HttpConn::connect(admin);
    let r = c.request(&get("/stats", ""));
    assert_eq!(
        r.head.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&r.raw())
    );
    assert_eq!(r.head.header("content-type"), Some("application/json"));
    assert!(r.head.says_close(), "{:?}", r.head);
    c.expect_closed();
    serde_json::from_slice(&r.body).unwrap_or_else(|e| {
        panic!(
            "/stats is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&r.body)
        )
    })
}

fn u(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a number in {v}"))
}

/// Send raw bytes and read whatever comes back until EOF or reset (bounded).
fn raw_exchange(admin: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = connect(admin);
    // The server may answer and close before all of a large request is written.
    let _ = s.write_all(bytes);
    read_to_end_or_reset(&mut s, 1 << 20)
        .map(|(b, _)| b)
        .unwrap_or_default()
}

#[test]
fn stats_follow_held_connections() {
    let _g = serial();
    let (srv, admin) = start_with_admin(config(ProtoKind::Echo));
    let before = stats(admin);
    assert_eq!(u(&before, "active"), 0, "{before}");
    assert_eq!(u(&before["stats"], "accepted"), 0, "{before}");
    let fds0 = u(&before, "fds_open");

    let mut held: Vec<TcpStream> = (0..25).map(|_| connect(srv.addr)).collect();
    for (i, s) in held.iter_mut().enumerate() {
        echo_roundtrip(s, format!("conn {i}").as_bytes());
    }
    let during = wait_for(T, "active == 25 in /stats", || {
        let j = stats(admin);
        (u(&j, "active") == 25).then_some(j)
    });
    assert!(
        u(&during, "fds_open") >= fds0 + 25,
        "fds_open {} -> {} with 25 connections held",
        fds0,
        u(&during, "fds_open")
    );
    assert!(u(&during, "rss_bytes") > 0, "{during}");
    assert!(u(&during, "rss_anon_bytes") > 0, "{during}");
    assert_eq!(u(&during["stats"], "accepted"), 25, "{during}");
    assert_eq!(u(&during["stats"], "active"), 25, "{during}");
    assert!(u(&during["stats"], "peak_active") >= 25, "{during}");
    assert!(u(&during, "slab_capacity") >= 25, "{during}");
    // Idle echo connections own no buffer; each has an idle-timeout reminder.
    assert_eq!(u(&during, "buffers_in_use"), 0, "{during}");
    assert!(u(&during, "timers") >= 25, "{during}");
    assert_eq!(u(&during, "pid"), u64::from(std::process::id()));
    assert_eq!(during["proto"], "echo");
    assert_eq!(during["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(during["listen"][0], srv.addr.to_string());
    assert_eq!(during["admin"], admin.to_string());
    assert_eq!(during["shutting_down"], false);
    assert!(u(&during, "nofile_soft") >= 64 && u(&during, "nofile_hard") >= 64);
    assert!(during["uptime_s"].as_f64().is_some_and(|t| t >= 0.0));

    held.clear();
    let after = wait_for(T, "active == 0 in /stats after closing", || {
        let j = stats(admin);
        (u(&j, "active") == 0).then_some(j)
    });
    assert_eq!(u(&after["stats"]["closed"], "peer"), 25, "{after}");
    assert!(u(&after, "fds_open") < u(&during, "fds_open"), "{after}");

    let st = srv.shutdown();
    assert_stats_consistent(&st);
    assert_eq!(st.conns.accepted, 25);
}

#[test]
fn index_404_405_and_head() {
    let _g = serial();
    let (srv, admin) = start_with_admin(config(ProtoKind::Http));

    let mut c = HttpConn::connect(admin);
    let r = c.request(&get("/", ""));
    assert_eq!(r.head.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains("/stats"));
    c.expect_closed();

    for path in ["/nope", "/stats/", "/statsx", "//stats"] {
        let mut c = HttpConn::connect(admin);
        let r = c.request(&get(path, ""));
        assert_eq!(r.head.status, 404, "{path}");
        c.expect_closed();
    }

    let mut c = HttpConn::connect(admin);
    let r = c.request(b"POST /stats HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r.head.status, 405);
    assert_eq!(r.head.header("allow"), Some("GET, HEAD"));

    // HEAD: the head with the body's length, no body.
    let raw = raw_exchange(admin, b"HEAD /stats HTTP/1.1\r\nHost: x\r\n\r\n");
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text:?}");
    assert!(text.ends_with("\r\n\r\n"), "no body after HEAD: {text:?}");

    // A query string is ignored; HTTP/1.0 is answered too.
    let raw = raw_exchange(admin, b"GET /stats?pretty=1 HTTP/1.0\r\n\r\n");
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text:?}");
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let j: Value = serde_json::from_str(body).expect("JSON body");
    assert_eq!(j["proto"], "http");

    // The server's own counters (kept in its protocol context, not in the reactor's
    // stats) reach /stats: three requests answered, one malformed.
    let mut c = HttpConn::connect(srv.addr);
    for _ in 0..3 {
        assert_eq!(c.request(&get("/", "")).head.status, 200);
    }
    let mut bad = connect(srv.addr);
    bad.write_all(b"\0bad\r\n\r\n").unwrap();
    let _ = read_to_end_or_reset(&mut bad, 4096);
    // Published at the end of the reactor's turn: wait for it.
    wait_until(T, "requests in /stats", || {
        let st = &stats(admin)["stats"];
        st["requests"] == 3 && st["protocol_errors"] == 1
    });
    drop(c);
    let st = srv.shutdown();
    assert_eq!((st.http.requests, st.http.protocol_errors), (3, 1));
}

#[test]
fn bad_requests_are_refused_and_it_keeps_serving() {
    let _g = serial();
    let (srv, admin) = start_with_admin(config(ProtoKind::Echo));
    let oversize = format!(
        "GET /stats HTTP/1.1\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(8 * 1024)
    );
    let many_headers = format!("GET /stats HTTP/1.1\r\n{}\r\n", "X-H: 1\r\n".repeat(100));
    let cases: [(&str, Vec<u8>); 6] = [
        ("garbage", b"\x00\x01\x02garbage\xff\r\n\r\n".to_vec()),
        ("no HTTP version", b"GET /stats\r\n\r\n".to_vec()),
        (
            "bad header line",
            b"GET /stats HTTP/1.1\r\nno colon\r\n\r\n".to_vec(),
        ),
        ("oversize head", oversize.into_bytes()),
        ("too many headers", many_headers.into_bytes()),
        ("binary junk", (0..=255u8).cycle().take(3000).collect()),
    ];
    for (what, bytes) in &cases {
        let raw = raw_exchange(admin, bytes);
        let text = String::from_utf8_lossy(&raw);
        assert!(
            raw.is_empty() || text.starts_with("HTTP/1.1 4"),
            "{what}: expected a 4xx or a close, got {text:?}"
        );
        // Still serving after each.
        assert_eq!(u(&stats(admin), "active"), 0, "after {what}");
    }

    // A client that connects and says nothing holds the one admin thread at most
    // REQUEST_TIMEOUT (2 s), then gets 408; the next request is answered after it.
    let mut silent = connect(admin);
    let t0 = Instant::now();
    let j = stats(admin);
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "a silent client held the admin thread {:?}",
        t0.elapsed()
    );
    assert_eq!(u(&j, "active"), 0);
    let (resp, _) = read_to_end_or_reset(&mut silent, 4096).expect("408 or close");
    let text = String::from_utf8_lossy(&resp);
    assert!(
        resp.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text:?}"
    );

    // A client that sends half a request and hangs up costs nothing.
    drop(raw_exchange_half(admin));
    // The reactor never saw any of it.
    let mut s = connect(srv.addr);
    echo_roundtrip(&mut s, b"still echoing");
    drop(s);
    let st = srv.shutdown();
    assert_stats_consistent(&st);
    assert_eq!(
        st.conns.accepted, 1,
        "admin traffic is not counted as connections"
    );
}

fn raw_exchange_half(admin: SocketAddr) -> TcpStream {
    let mut s = connect(admin);
    s.write_all(b"GET /sta").expect("write half a request");
    s
}

#[test]
fn shutdown_with_admin_running_returns_promptly() {
    let _g = serial();
    let (srv, admin) = start_with_admin(config(ProtoKind::Echo));
    let held: Vec<TcpStream> = (0..5).map(|_| connect(srv.addr)).collect();
    wait_until(T, "5 active", || u(&stats(admin), "active") == 5);
    let t0 = Instant::now();
    let st = srv.shutdown();
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
    assert_stats_consistent(&st);
    // The admin thread has ended (run returns only after joining it): its port is closed.
    assert!(
        TcpStream::connect_timeout(&admin, Duration::from_secs(2)).is_err(),
        "the admin listener still accepts after the server returned"
    );
    drop(held);

    // Also with a client in the middle of an admin request: bounded by the request
    // timeout.
    let (srv, admin) = start_with_admin(config(ProtoKind::Echo));
    let _half = raw_exchange_half(admin);
    std::thread::sleep(Duration::from_millis(100)); // let the admin thread pick it up
    let t0 = Instant::now();
    srv.shutdown();
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
}

#[test]
fn server_dropped_without_running_ends_admin_thread() {
    let _g = serial();
    let mut cfg = config(ProtoKind::Echo);
    cfg.admin = Some("127.0.0.1:0".parse().unwrap());
    let server = Server::bind(cfg).expect("bind");
    let admin = server.admin_addr().expect("admin address");
    // Before run: the reactor is not turning, so no snapshot; the thread answers 503.
    let mut c = HttpConn::connect(admin);
    let r = c.request(&get("/stats", ""));
    assert_eq!(
        r.head.status,
        503,
        "{:?}",
        String::from_utf8_lossy(&r.raw())
    );
    let t0 = Instant::now();
    drop(server);
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "drop took {:?}",
        t0.elapsed()
    );
    assert!(TcpStream::connect_timeout(&admin, Duration::from_secs(2)).is_err());
}

#[test]
fn admin_address_in_use_fails_bind() {
    let _g = serial();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let mut cfg = config(ProtoKind::Echo);
    cfg.admin = Some(addr);
    match Server::bind(cfg) {
        Ok(_) => panic!("admin on a taken port must fail"),
        Err(e) => assert!(
            e.to_string().contains(&addr.to_string()),
            "the error names the address: {e}"
        ),
    }
}

#[test]
fn handle_snapshot_and_closed_reactor() {
    let _g = serial();
    let mut r: Reactor<Echo> = Reactor::new(Config::default()).expect("reactor");
    let id = r
        .listen("127.0.0.1:0".parse().unwrap(), &ListenOptions::default())
        .expect("listen");
    let addr = r.local_addr(id).expect("addr");
    let handle = r.handle();
    assert!(!handle.is_closed());
    let t = std::thread::spawn(move || r.run(&mut ServeWith(Echo::default)));

    let mut c = connect(addr);
    echo_roundtrip(&mut c, b"x");
    let snap = handle
        .snapshot(Duration::from_secs(5))
        .expect("a running reactor answers");
    assert_eq!(snap.active, 1);
    assert_eq!(snap.stats.accepted, 1);
    assert!(!snap.shutting_down);
    // Several threads at once all get an answer.
    let askers: Vec<_> = (0..4)
        .map(|_| {
            let h = handle.clone();
            std::thread::spawn(move || h.snapshot(Duration::from_secs(5)).map(|s| s.active))
        })
        .collect();
    for a in askers {
        assert_eq!(a.join().expect("asker"), Some(1));
    }
    let j = serde_json::to_value(&snap).expect("serialize");
    assert_eq!(j["stats"]["accepted"], 1);
    assert_eq!(j["active"], 1);

    handle.stop();
    t.join().expect("reactor thread").expect("run");
    // The reactor was dropped with its thread: no answer, and no waiting for one.
    assert!(handle.is_closed());
    let t0 = Instant::now();
    assert!(handle.snapshot(Duration::from_secs(5)).is_none());
    assert!(
        t0.elapsed() < Duration::from_millis(500),
        "{:?}",
        t0.elapsed()
    );
}

/// Issue 15, item 6f: the start-up line counts the descriptors open once the server is
/// up, its own (poller, listeners, admin and their spares) with those it was launched
/// with, and says so: `/proc/PID/fd` holds as many at rest, and `/stats`, which counts
/// while it serves (the admin's spares freed, the request's socket open), that many
/// less the spares plus one (before: "5 fds open" at start-up, counted before the
/// server opened any, and 13 in `/stats`).
#[test]
fn startup_line_counts_the_descriptors_open_once_started() {
    let _g = serial();
    let mut srv = spawn_bin(&["--proto", "echo", "--admin", "127.0.0.1:0"]);
    // The admin line is the last of the start-up lines.
    let out = wait_for(T, "the admin line on stdout", || {
        let out = srv.stdout.lock().unwrap().clone();
        out.contains("admin: http://").then_some(out)
    });
    let line = out
        .lines()
        .find(|l| l.starts_with("fd limit "))
        .unwrap_or_else(|| panic!("no fd limit line: {out:?}"));
    // "fd limit S, hard H; N fds open once started (L at launch, K the server's own): ..."
    let count = |after: &str, before: &str| -> u64 {
        line.split_once(after)
            .and_then(|(_, rest)| rest.split_once(before))
            .and_then(|(n, _)| n.parse().ok())
            .unwrap_or_else(|| panic!("no '{after}N{before}' in {line:?}"))
    };
    let open = count("; ", " fds open once started (");
    let launch = count(" once started (", " at launch, ");
    let own = count(" at launch, ", " the server's own)");
    assert_eq!(open, launch + own, "{line}");
    assert!(own >= 4, "poller, waker, listener, admin at least: {line}");
    assert_eq!(open_fds_of(srv.pid()) as u64, open, "at rest: {line}");
    let admin: SocketAddr = out
        .lines()
        .find_map(|l| l.strip_prefix("admin: http://")?.strip_suffix("/stats"))
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no admin address in {out:?}"));
    let j = stats(admin);
    assert_eq!(
        u(&j, "fds_open"),
        open - u(&j, "admin_spares") + 1,
        "{line}\n{j}"
    );
    srv.signal(libc::SIGTERM);
    let st = srv.wait_exit(T).expect("exit after SIGTERM");
    assert_eq!(st.code(), Some(0), "stderr: {}", srv.stderr_text());
}

#[test]
fn binary_prints_admin_url_and_serves_it() {
    let _g = serial();
    let mut srv = spawn_bin(&["--proto", "echo", "--admin", "127.0.0.1:0"]);
    let line = wait_for(T, "the admin line on stdout", || {
        let out = srv.stdout.lock().unwrap().clone();
        out.lines()
            .find_map(|l| l.strip_prefix("admin: ").map(str::to_string))
    });
    let admin: SocketAddr = line
        .strip_prefix("http://")
        .and_then(|r| r.strip_suffix("/stats"))
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("admin line is not http://ADDR/stats: {line:?}"));
    assert!(admin.ip().is_loopback());

    let held: Vec<TcpStream> = (0..3).map(|_| connect(srv.addr)).collect();
    let j = wait_for(T, "active == 3", || {
        let j = stats(admin);
        (u(&j, "active") == 3).then_some(j)
    });
    assert_eq!(u(&j, "pid"), u64::from(srv.pid()));
    assert_eq!(j["listen"][0], srv.addr.to_string());
    // The child raised its soft limit to the hard one at start-up.
    assert_eq!(u(&j, "nofile_soft"), u(&j, "nofile_hard"));
    assert!(u(&j, "fds_open") >= 3 + 3, "{j}");
    drop(held);

    srv.signal(libc::SIGTERM);
    let st = srv.wait_exit(T).expect("exit after SIGTERM");
    assert_eq!(st.code(), Some(0), "stderr: {}", srv.stderr_text());
}

/// A child killed and reaped on drop, so a failed assertion leaves no process behind.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

#[test]
fn binary_json_listening_event_has_admin() {
    let _g = serial();
    let child = Command::new(bin_path())
        .args([
            "--json",
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn readyloop");
    let mut child = Reaped(child);
    let out = child.0.stdout.take().expect("stdout pipe");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(out).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(T).expect("the listening event within 10 s");
    let ev: Value = serde_json::from_str(&line).expect("JSON listening event");
    assert_eq!(ev["event"], "listening");
    let admin: SocketAddr = ev["admin"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no admin address in {ev}"));
    let j = stats(admin);
    assert_eq!(u(&j, "pid"), u64::from(child.0.id()));
    assert_eq!(j["proto"], "http");

    // SAFETY: kill(2) on our own child, not yet reaped.
    assert_eq!(
        unsafe { libc::kill(child.0.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    let st = wait_child(&mut child.0, T).expect("exit after SIGTERM");
    assert_eq!(st.code(), Some(0));
    let _ = reader.join();
}
