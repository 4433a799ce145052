//! Issue 15, item 3: a target that speaks another protocol. HTTP against an echo
//! server made it accept about 19,000 connections a second, each failing its first
//! reply; HTTP against Redis printed a latency table over censored requests beside
//! 0 req/s. The report must say what the server answered instead, reconnects must
//! back off after repeated protocol failures, and a latency table that only censored
//! requests stand behind must say so. Loopback only; every run is bounded (a few
//! seconds) and every server stops by itself.

use loadgen::framing::Framing;
use loadgen::record::ErrorClass;
use readyloop::server::{ProtoKind, Server, ServerConfig, ServerStats};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "common/engine_spec.rs"]
mod engine_spec;
use engine_spec::{run, spec};

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/// The readyloop library's echo server in a thread; `stop` returns its counters.
struct Echo {
    addr: SocketAddr,
    handle: readyloop::Handle,
    thread: std::thread::JoinHandle<std::io::Result<ServerStats>>,
}

impl Echo {
    fn start() -> Echo {
        let cfg = ServerConfig {
            listen: vec!["127.0.0.1:0".parse().expect("an address")],
            proto: ProtoKind::Echo,
            ..ServerConfig::default()
        };
        let server = Server::bind(cfg).expect("bind 127.0.0.1:0");
        let addr = server.local_addrs()[0];
        let handle = server.handle();
        let thread = std::thread::spawn(move || server.run());
        Echo {
            addr,
            handle,
            thread,
        }
    }

    fn stop(self) -> ServerStats {
        self.handle.shutdown();
        self.thread
            .join()
            .expect("the server thread")
            .expect("the server ran")
    }
}

/// A Redis look-alike that answers whatever it reads with `-ERR unknown command` and
/// closes (Redis closes a connection that sends `Host:`), one connection at a time,
/// until stopped or for at most 20 s. Counts the connections it accepted.
struct FakeResp {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeResp {
    fn start() -> FakeResp {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("its address");
        l.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (s, n) = (stop.clone(), accepted.clone());
        let thread = std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(20);
            while !s.load(Ordering::SeqCst) && Instant::now() < until {
                let Ok((mut c, _)) = l.accept() else {
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                };
                n.fetch_add(1, Ordering::SeqCst);
                let _ = c.set_nonblocking(false);
                let _ = c.set_read_timeout(Some(Duration::from_millis(200)));
                let mut buf = [0u8; 4096];
                if matches!(c.read(&mut buf), Ok(k) if k > 0) {
                    let _ = c.write_all(b"-ERR unknown command\r\n");
                }
            }
        });
        FakeResp {
            addr,
            stop,
            accepted,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeResp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The loadgen binary against `addr` with `args`: (its text report, its JSON report).
fn loadgen(tag: &str, addr: SocketAddr, args: &[&str]) -> (String, serde_json::Value) {
    let dir = std::env::temp_dir().join(format!("lg-mismatch-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let json = dir.join("run.json");
    let url = format!("http://{addr}/");
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg(&url)
        .args(args)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("loadgen runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let bytes = std::fs::read(&json).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}): {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let _ = std::fs::remove_dir_all(&dir);
    (text, serde_json::from_slice(&bytes).expect("a JSON report"))
}

/// No row of a percentile table: nothing measured, so there is none to show.
#[track_caller]
fn assert_no_latency_table(text: &str, j: &serde_json::Value) {
    assert_eq!(j["requests"]["measured"], 0, "{text}");
    assert!(
        !text.lines().any(|l| l.trim_start().starts_with("p50 ")),
        "a latency table with nothing measured:\n{text}"
    );
    let count = j["latency_us"]["corrected"]["count"].as_u64().unwrap_or(0);
    assert_eq!(
        j["latency_us"]["censored_only"],
        count > 0,
        "{}",
        j["latency_us"]
    );
}

#[test]
fn test_http_against_an_echo_server_says_it_echoes() {
    let echo = Echo::start();
    let addr = echo.addr;
    let (text, j) = loadgen(
        "echo",
        addr,
        &["-c", "2", "-t", "1", "-d", "500ms", "--warmup", "0"],
    );
    let _ = echo.stop();
    let line = text
        .lines()
        .find(|l| l.starts_with("answered:"))
        .unwrap_or_else(|| panic!("no answered: line\n{text}"));
    assert!(
        line.contains(&format!("\"GET / HTTP/1.1\\r\\nHost: {addr}"))
            && line.contains("an echo server"),
        "{line}"
    );
    assert_eq!(j["answered"]["looks_like"], "echo", "{}", j["answered"]);
    assert_eq!(j["answered"]["offset"], 0);
    assert_eq!(j["answered"]["line"], line["answered:".len()..].trim());
    assert_no_latency_table(&text, &j);
}

#[test]
fn test_http_against_a_resp_server_says_redis() {
    let resp = FakeResp::start();
    let (text, j) = loadgen(
        "resp",
        resp.addr,
        &["-c", "2", "-t", "1", "-d", "500ms", "--warmup", "0"],
    );
    let line = text
        .lines()
        .find(|l| l.starts_with("answered:"))
        .unwrap_or_else(|| panic!("no answered: line\n{text}"));
    assert!(
        line.contains("\"-ERR unknown command\\r\\n\"") && line.contains("Redis (RESP)"),
        "{line}"
    );
    assert_eq!(j["answered"]["looks_like"], "resp", "{}", j["answered"]);
    assert_no_latency_table(&text, &j);
    // Backed off: far fewer than the thousands of a tight loop (a preflight connect,
    // 2 connections, and a few waves of reconnects in half a second).
    let n = resp.accepted.load(Ordering::SeqCst);
    assert!(n <= 40, "the fake Redis accepted {n} connections in 0.5 s");
}

/// The waves of reconnects a slot can make within `run` after its connection failed
/// at the start: the backoff waits 10 ms, doubling to 1 s, and never starts over while
/// no valid reply completes.
fn waves_within(run: Duration) -> u64 {
    let (mut at, mut wait, mut n) = (Duration::ZERO, Duration::from_millis(10), 0);
    loop {
        at += wait;
        if at > run {
            return n;
        }
        n += 1;
        wait = (wait * 2).min(Duration::from_secs(1));
    }
}

#[test]
fn test_protocol_failures_back_off_reconnects() {
    let echo = Echo::start();
    let d = Duration::from_secs(2);
    let mut spec = spec(echo.addr, Framing::Http, GET.to_vec());
    spec.connections = 10;
    spec.duration = d;
    spec.warmup = Duration::ZERO;
    let rec = run(&spec);
    let accepted = echo.stop().conns.accepted;
    assert!(rec.books_balance());
    assert_eq!(rec.completed, 0);
    assert!(rec.errors_of(ErrorClass::Framing) > 0, "{:?}", rec.errors);
    // Each slot opens once, then once per wave of the backoff: 10 x (1 + 7) = 80 in
    // 2 s. Without a backoff the server accepted thousands a second.
    let bound = 10 * (1 + waves_within(d));
    eprintln!("accepted {accepted} connections in {d:?} (bound {bound})");
    assert!(
        accepted <= bound,
        "the echo server accepted {accepted} connections in {d:?}: more than {bound}"
    );
}
