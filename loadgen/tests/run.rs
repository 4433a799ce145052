//! End-to-end: loadgen's engine against real servers on 127.0.0.1, and the binary's
//! outputs. Every run is bounded (about a second) and every server is shut down.

use loadgen::framing::Framing;
use loadgen::record::{ErrorClass, Recorder};
use readyloop::protocol::{Cx, Protocol, Step, Verdict};
use readyloop::server::{ProtoKind, Server, ServerConfig};
use readyloop::{Config, ConnLimits, ListenOptions, Reactor, ServeWith};
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

#[path = "common/netns.rs"]
mod netns;

#[path = "common/engine_spec.rs"]
mod engine_spec;
use engine_spec::{run, spec};

struct TestServer {
    addr: SocketAddr,
    handle: readyloop::Handle,
    thread: Option<std::thread::JoinHandle<std::io::Result<readyloop::server::ServerStats>>>,
}

impl TestServer {
    fn start(proto: ProtoKind) -> TestServer {
        let limits = ConnLimits {
            idle_timeout: None,
            header_timeout: None,
            ..ConnLimits::default()
        };
        let cfg = ServerConfig {
            listen: vec!["127.0.0.1:0".parse().unwrap()],
            proto,
            reactor: Config {
                limits,
                ..Config::default()
            },
            ..ServerConfig::default()
        };
        let server = Server::bind(cfg).unwrap();
        let addr = server.local_addrs()[0];
        let handle = server.handle();
        let thread = Some(std::thread::spawn(move || server.run()));
        TestServer {
            addr,
            handle,
            thread,
        }
    }

    fn stop(mut self) -> readyloop::server::ServerStats {
        self.handle.shutdown();
        self.thread.take().unwrap().join().unwrap().unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.handle.stop();
            let _ = t.join();
        }
    }
}

/// A reactor of the test's own serving on `listen` in a thread, with `host`.
struct Served {
    addr: SocketAddr,
    handle: readyloop::Handle,
    thread: std::thread::JoinHandle<std::io::Result<()>>,
}

fn serve<P, H>(mut r: Reactor<P>, listen: &str, mut host: H) -> Served
where
    P: Protocol + Send + 'static,
    P::Context: Send,
    H: readyloop::Host<P> + Send + 'static,
{
    let id = r
        .listen(listen.parse().unwrap(), &ListenOptions::default())
        .unwrap();
    let addr = r.local_addr(id).unwrap();
    let handle = r.handle();
    let thread = std::thread::spawn(move || r.run(&mut host));
    Served {
        addr,
        handle,
        thread,
    }
}

impl Served {
    /// Stop it and check it ran without an error.
    fn stop(self) {
        self.handle.stop();
        self.thread.join().unwrap().unwrap();
    }
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

#[track_caller]
fn assert_clean(rec: &Recorder, server: &readyloop::server::ServerStats) {
    assert!(
        rec.books_balance(),
        "sent {} != completed {} + failed {} + in flight {}",
        rec.sent,
        rec.completed,
        rec.failed,
        rec.in_flight_end
    );
    assert_eq!(rec.error_total(), 0, "errors: {:?}", rec.errors);
    assert!(rec.completed > 50, "only {} replies", rec.completed);
    assert!(rec.measured > 0 && rec.measured <= rec.completed);
    // Every measured reply is in the histogram, and so is every request censored (in
    // flight at the end: closed loop, one per connection at most).
    assert!(rec.censored.unfinished <= rec.in_flight_end);
    assert_eq!(
        rec.corrected.len(),
        rec.measured + rec.censored.total(),
        "every measured reply and censored request is in the histogram"
    );
    // The server answered every reply we counted, and at most the ones still in flight more.
    assert!(
        server.http.requests >= rec.completed
            && server.http.requests <= rec.completed + rec.in_flight_end,
        "server answered {} for {} completed + {} in flight",
        server.http.requests,
        rec.completed,
        rec.in_flight_end
    );
}

#[test]
fn test_closed_loop_http_books_balance() {
    let srv = TestServer::start(ProtoKind::Http);
    let rec = run(&spec(srv.addr, Framing::Http, GET.to_vec()));
    let stats = srv.stop();
    assert_clean(&rec, &stats);
    assert_eq!(rec.statuses, vec![(200, rec.measured)]);
    assert_eq!(rec.connects_ok, 4);
}

#[test]
fn test_closed_loop_echo_line_fixed() {
    let srv = TestServer::start(ProtoKind::Echo);
    for (framing, req) in [
        (Framing::Echo, vec![b'x'; 1000]),
        (Framing::Line, b"hello line\n".to_vec()),
        (Framing::Fixed(64), vec![b'z'; 64]),
    ] {
        let rec = run(&spec(srv.addr, framing.clone(), req.clone()));
        assert!(rec.books_balance(), "{framing:?}");
        assert_eq!(rec.error_total(), 0, "{framing:?}: {:?}", rec.errors);
        assert!(rec.completed > 50, "{framing:?}: {}", rec.completed);
        assert_eq!(
            rec.bytes_received,
            rec.completed * req.len() as u64,
            "{framing:?}"
        );
    }
    let _ = srv.stop();
}

#[test]
fn test_open_loop_sends_on_schedule() {
    let srv = TestServer::start(ProtoKind::Http);
    let mut s = spec(srv.addr, Framing::Http, GET.to_vec());
    s.rate = Some(500.0);
    s.duration = Duration::from_secs(1);
    let rec = run(&s);
    let stats = srv.stop();
    assert_clean(&rec, &stats);
    // 500/s for 1.2 s in all (warm-up included) is 600 sends; the schedule is computed,
    // so only the tail can be missing. Generous bounds: CI machines are shared.
    assert!((450..=610).contains(&rec.sent), "sent {}", rec.sent);
    assert!(!rec.send_lag.is_empty(), "open loop records its send lag");
}

#[test]
fn test_per_conn_reconnects_and_records_connect_time() {
    let srv = TestServer::start(ProtoKind::Http);
    let mut s = spec(srv.addr, Framing::Http, GET.to_vec());
    s.per_conn = Some(5);
    let rec = run(&s);
    let stats = srv.stop();
    assert_clean(&rec, &stats);
    // Every 5 replies a connection is replaced.
    assert!(
        rec.connects_ok >= rec.completed / 5,
        "{} connects for {} replies",
        rec.connects_ok,
        rec.completed
    );
    assert!(!rec.connect.is_empty());
}

#[test]
fn test_framing_mismatch_counted_as_error_not_success() {
    // An HTTP client against an echo server: the "response" is our own request.
    let srv = TestServer::start(ProtoKind::Echo);
    let mut s = spec(srv.addr, Framing::Http, GET.to_vec());
    s.duration = Duration::from_millis(300);
    s.warmup = Duration::ZERO;
    let rec = run(&s);
    let _ = srv.stop();
    assert!(rec.books_balance());
    assert_eq!(rec.completed, 0, "nothing may count as a success");
    assert!(rec.errors_of(ErrorClass::Framing) > 0, "{:?}", rec.errors);
}

/// A protocol that answers each line with "ok\n", but stalls the whole reactor for
/// 300 ms once, at its `stall_at`-th request: a server-wide pause like a GC.
struct Staller {
    seen: u64,
}

static STALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static SEEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Protocol for Staller {
    type Context = ();

    fn on_input(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        _budget: usize,
        _cx: &mut Cx<()>,
    ) -> Step {
        let mut used = 0;
        while let Some(i) = input[used..].iter().position(|&b| b == b'\n') {
            used += i + 1;
            self.seen += 1;
            let n = SEEN.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // After about 1 s of load at 1000/s: stall once.
            if n == 1000 && !STALLED.swap(true, std::sync::atomic::Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(300));
            }
            out.extend_from_slice(b"ok\n");
        }
        Step::cont(used)
    }
    fn on_eof(&mut self, _out: &mut Vec<u8>, _cx: &mut Cx<()>) -> Verdict {
        Verdict::Close
    }
}

#[test]
fn test_coordinated_omission_corrected_sees_stall_raw_does_not() {
    let served = serve(
        Reactor::new(Config::default()).unwrap(),
        "127.0.0.1:0",
        ServeWith(|| Staller { seen: 0 }),
    );
    let addr = served.addr;

    let mut s = spec(addr, Framing::Line, b"ping\n".to_vec());
    s.connections = 10;
    s.threads = 1;
    s.rate = Some(1000.0);
    s.warmup = Duration::ZERO;
    s.duration = Duration::from_secs(2);
    let started = Instant::now();
    let rec = run(&s);
    served.stop();
    assert!(
        STALLED.load(std::sync::atomic::Ordering::SeqCst),
        "the server stalled once"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(rec.books_balance());
    assert_eq!(rec.error_total(), 0, "{:?}", rec.errors);
    let corrected_p99 = rec.corrected.value_at_quantile(0.99);
    let raw_p99 = rec.raw.value_at_quantile(0.99);
    // ~300 requests fall due during the 300 ms stall (15% of 2000): corrected latency
    // sees them waiting; raw sees only the 10 that were in flight (0.5%).
    assert!(
        corrected_p99 >= 100_000,
        "corrected p99 {corrected_p99} us should show the 300 ms stall"
    );
    assert!(raw_p99 < 50_000, "raw p99 {raw_p99} us should stay small");
    assert!(
        rec.raw.max() >= 250_000,
        "the requests in flight during the stall waited ~300 ms raw"
    );
}

fn loadgen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_loadgen"))
}

#[test]
fn test_binary_json_and_files_round_trip() {
    let dir = std::env::temp_dir().join(format!("loadgen-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (hgrm, log, svg) = (dir.join("l.hgrm"), dir.join("l.hlog"), dir.join("l.svg"));
    let spawned = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let out = loadgen()
        .args([
            "-d", "1s", "--warmup", "200ms", "-c", "4", "-t", "1", "--json", "-",
        ])
        .arg("--hgrm")
        .arg(&hgrm)
        .arg("--log")
        .arg(&log)
        .arg("--plot")
        .arg(&svg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(j["embedded"], true);
    assert_eq!(j["proto"], "http");
    assert_eq!(j["requests"]["books_balance"], true);
    let measured = j["requests"]["measured"].as_u64().unwrap();
    assert!(measured > 0);
    assert_eq!(
        j["latency_us"]["corrected"]["count"].as_u64(),
        Some(measured + j["censored"]["total"].as_u64().unwrap())
    );
    assert!(j["server"]["requests"].as_u64().unwrap() >= measured);

    let h = std::fs::read_to_string(&hgrm).unwrap();
    let rows = loadgen::report::parse_hgrm(&h).unwrap();
    let censored = j["censored"]["total"].as_u64().unwrap();
    assert_eq!(
        rows.last().map(|r| r.2),
        Some(measured + censored),
        ".hgrm total count = measured + censored"
    );

    // The log's StartTime is when measurement began: after the 200 ms warm-up, well
    // before the end.
    let text = std::fs::read_to_string(&log).unwrap();
    let st: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("#[StartTime: "))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("a StartTime line");
    assert!(
        st >= spawned + 0.2 - 0.05 && st <= spawned + 0.2 + 0.6,
        "StartTime {st} for a run spawned at {spawned}"
    );

    // The interval log reads back with the hdrhistogram crate; its counts add up.
    use base64::Engine as _;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use hdrhistogram::serialization::Deserializer;
    let bytes = std::fs::read(&log).unwrap();
    let mut total = 0u64;
    let mut n = 0;
    for e in IntervalLogIterator::new(&bytes) {
        if let LogEntry::Interval(ih) = e.unwrap() {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(ih.encoded_histogram().trim())
                .unwrap();
            let hist: hdrhistogram::Histogram<u64> = Deserializer::new()
                .deserialize(&mut std::io::Cursor::new(decoded))
                .unwrap();
            total += hist.len();
            n += 1;
        }
    }
    assert!(n >= 1);
    assert_eq!(
        total,
        measured + censored,
        "interval histograms add up to the measured and censored count"
    );
    let svg_text = std::fs::read_to_string(&svg).unwrap();
    assert!(svg_text.contains("<svg"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn test_binary_errors_exit_codes() {
    // Bad flag: exit 2, one line.
    let out = loadgen().arg("--connections").arg("lots").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim().lines().count(),
        1
    );
    // Nothing listening: exit 1 with a clear line.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let out = loadgen()
        .arg(format!("127.0.0.1:{port}"))
        .args(["--proto", "echo", "-d", "1s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot connect"), "{err}");
    // resp without a target is a usage error.
    let out = loadgen().args(["--proto", "resp"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Answers each `PING\r\n` with a RESP simple string, `+PONG\r\n`: enough Redis for framing.
struct MiniRedis;

impl Protocol for MiniRedis {
    type Context = ();

    fn on_input(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        _budget: usize,
        _cx: &mut Cx<()>,
    ) -> Step {
        let mut used = 0;
        while input.len() - used >= 6 {
            if &input[used..used + 6] != b"PING\r\n" {
                return Step {
                    consumed: input.len(),
                    verdict: Verdict::Close,
                };
            }
            out.extend_from_slice(b"+PONG\r\n");
            used += 6;
        }
        Step::cont(used)
    }
}

#[test]
fn test_resp_framing_against_a_resp_server() {
    let served = serve(
        Reactor::new(Config::default()).unwrap(),
        "127.0.0.1:0",
        ServeWith(|| MiniRedis),
    );
    let addr = served.addr;
    let rec = run(&spec(addr, Framing::Resp, b"PING\r\n".to_vec()));
    served.stop();
    assert!(rec.books_balance());
    assert_eq!(rec.error_total(), 0, "{:?}", rec.errors);
    assert!(rec.completed > 50);
    assert_eq!(rec.bytes_received, rec.completed * 7);
}

/// An HTTP server that notes when each connection is accepted.
struct AcceptClock(std::sync::Arc<std::sync::Mutex<Vec<Instant>>>);

impl readyloop::Host<readyloop::protocol::Http> for AcceptClock {
    fn accept(
        &mut self,
        _r: &mut readyloop::Reactor<readyloop::protocol::Http>,
        _id: readyloop::ConnId,
        _l: readyloop::ListenerId,
        _p: SocketAddr,
    ) -> Option<readyloop::protocol::Http> {
        self.0.lock().unwrap().push(Instant::now());
        Some(readyloop::protocol::Http::new(Default::default()))
    }
}

#[test]
fn test_connect_rate_paces_new_connections() {
    let times = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let served = serve(
        Reactor::new(Config::default()).unwrap(),
        "127.0.0.1:0",
        AcceptClock(times.clone()),
    );
    let addr = served.addr;

    let mut s = spec(addr, Framing::Http, GET.to_vec());
    // 20 connections at 40/s over 2 threads: the last may open only ~0.5 s after the first.
    s.connections = 20;
    s.connect_rate = Some(40.0);
    s.warmup = Duration::ZERO;
    s.duration = Duration::from_millis(1500);
    let rec = run(&s);
    served.stop();
    assert!(rec.books_balance());
    assert_eq!(rec.error_total(), 0, "{:?}", rec.errors);
    assert_eq!(rec.connects_ok, 20);
    let times = times.lock().unwrap();
    // The preflight check of the binary is not used here: exactly our 20 connections.
    assert_eq!(times.len(), 20);
    let spread = *times.last().unwrap() - times[0];
    // Unpaced, 20 loopback connects take a millisecond or two. A slow machine can only
    // spread them further, so this lower bound cannot fail by noise.
    assert!(
        spread >= Duration::from_millis(400),
        "accepts spread over {spread:?}"
    );
}

/// Issue 9, item 9: IPv6 URLs work, schemes are case-insensitive, other schemes are
/// named, https says TLS is not supported; all usage errors exit 2.
#[test]
fn test_url_forms() {
    // An HTTP server on the IPv6 loopback.
    let served = serve(
        Reactor::new(Config::default()).unwrap(),
        "[::1]:0",
        ServeWith(readyloop::protocol::Http::default),
    );
    let port = served.addr.port();
    for url in [
        format!("http://[::1]:{port}/"),
        format!("HTTP://[::1]:{port}/"),
        format!("Http://[::1]:{port}"),
    ] {
        let out = loadgen()
            .args([
                url.as_str(),
                "-c",
                "1",
                "-d",
                "300ms",
                "--warmup",
                "0",
                "--json",
                "-",
            ])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{url}: {}{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        let j: serde_json::Value = serde_json::from_str(&stdout).expect("JSON report");
        assert!(
            j["requests"]["completed"].as_u64().unwrap_or(0) > 0,
            "{url}: {stdout}"
        );
    }
    served.stop();
    for (url, says) in [
        ("ftp://127.0.0.1:1/", "unsupported scheme \"ftp\""),
        ("FTP://127.0.0.1:1/", "unsupported scheme \"FTP\""),
        ("gopher://127.0.0.1:1/", "expected http or https"),
    ] {
        let out = loadgen().args([url, "-d", "1s"]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{url}: {err}");
        assert!(err.contains(says), "{url}: {err}");
        assert!(!err.contains("brackets"), "{url}: {err}");
    }
    // https is a URL like http, over TLS (issue 17): taken, then nothing listens there.
    for url in ["https://127.0.0.1:1/", "HTTPS://127.0.0.1:1/"] {
        let out = loadgen().args([url, "-d", "1s"]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{url}: {err}");
        assert!(
            err.contains("cannot connect to 127.0.0.1:1"),
            "{url}: {err}"
        );
    }
    // A URL with a framing that is not HTTP is a usage error that says so.
    let out = loadgen()
        .args(["http://127.0.0.1:1/", "--proto", "echo", "-d", "1s"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--proto http"), "{err}");
}

/// Issue 9, item 8: a bad output path fails before the run (exit 2, nothing written,
/// no temporaries left); good paths are written whole at the end.
#[test]
fn test_output_paths_checked_before_the_run() {
    let dir = std::env::temp_dir().join(format!("loadgen-outputs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let hgrm = dir.join("lat.hgrm");
    let started = Instant::now();
    let out = loadgen()
        .args(["-d", "30s", "--json", "/nonexistent/dir/x.json", "--hgrm"])
        .arg(&hgrm)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--json /nonexistent/dir/x.json"), "{err}");
    assert!(out.stdout.is_empty(), "no report: the run never started");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "it ran the 30 s test first"
    );
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
    // The interval log, written as the run goes, is staged like the others: a bad path
    // after it refuses the run and leaves nothing of it.
    let out = loadgen()
        .args(["-d", "30s", "--log"])
        .arg(dir.join("lat.hlog"))
        .args(["--csv", "/nonexistent/dir/x.csv"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--csv /nonexistent/dir/x.csv"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "files left behind: {left:?}");

    // Good paths: written at the end, no temporaries beside them.
    let json = dir.join("r.json");
    let out = loadgen()
        .args(["-c", "2", "-d", "300ms", "--warmup", "0", "--json"])
        .arg(&json)
        .arg("--hgrm")
        .arg(&hgrm)
        .arg("--log")
        .arg(dir.join("lat.hlog"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).expect("the JSON file");
    assert!(j["requests"]["completed"].as_u64().unwrap_or(0) > 0);
    assert!(std::fs::read_to_string(&hgrm).unwrap().contains("#[Mean"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // Beside the .hgrm, one per phase timed (no TLS handshake on plain connections).
    assert_eq!(
        names,
        [
            "lat.connect.hgrm",
            "lat.hgrm",
            "lat.hlog",
            "lat.transfer.hgrm",
            "lat.ttfb.hgrm",
            "r.json"
        ]
    );
    assert!(
        !loadgen::report::read_interval_log(&std::fs::read(dir.join("lat.hlog")).unwrap())
            .unwrap()
            .is_empty()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 9, item 5: more connections than descriptors is refused before the run, with
/// the numbers and the fix (before: it ran with fewer, or with none, and exited 0).
#[test]
fn test_connections_beyond_the_descriptor_room_refused() {
    // The child raises its soft limit to the hard one; one more than that cannot fit.
    let hard = readyloop::limits::raise_nofile().expect("getrlimit").hard;
    let c = (hard + 1).to_string();
    for args in [
        vec!["-c", c.as_str(), "-d", "30s"], // the embedded server: 2 per connection
        vec![
            "127.0.0.1:9",
            "--proto",
            "echo",
            "-c",
            c.as_str(),
            "-d",
            "30s",
        ],
    ] {
        let started = Instant::now();
        let out = loadgen().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("descriptors") && err.contains("or fewer"),
            "{err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(out.stdout.is_empty());
        assert!(started.elapsed() < Duration::from_secs(20), "it ran first");
    }
}

/// Issue 9, item 7: SIGINT or SIGTERM stops the run, prints the report of what was
/// measured, writes every requested file, and exits 128 + the signal (before: exit 130
/// with no report and no files).
#[test]
fn test_interrupted_run_still_reports_and_writes_its_files() {
    let dir = std::env::temp_dir().join(format!("loadgen-int-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (sig, name) in [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM")] {
        let json = dir.join(format!("{name}.json"));
        let hgrm = dir.join(format!("{name}.hgrm"));
        let mut child = loadgen()
            .args(["-c", "4", "-d", "20s", "--warmup", "0", "--json"])
            .arg(&json)
            .arg("--hgrm")
            .arg(&hgrm)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe { libc::kill(child.id() as libc::pid_t, sig) };
        let started = Instant::now();
        let out = loop {
            if let Some(_st) = child.try_wait().unwrap() {
                break child.wait_with_output().unwrap();
            }
            if started.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{name}: still running 10 s after the signal");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(128 + sig),
            "{name}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains(&format!("INTERRUPTED: by {name}")), "{text}");
        let j: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&json).expect("the JSON file")).unwrap();
        assert_eq!(j["interrupted"]["signal"], sig);
        assert_eq!(j["interrupted"]["planned_s"], 20.0);
        let d = j["duration_s"].as_f64().unwrap();
        assert!(d > 0.5 && d < 10.0, "{name}: measured {d} s");
        assert!(j["requests"]["completed"].as_u64().unwrap_or(0) > 0);
        assert_eq!(j["requests"]["books_balance"], true, "{j}");
        assert!(std::fs::read_to_string(&hgrm).unwrap().contains("#[Mean"));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 15, item 6g: a mistyped flag, a subcommand's too, keeps clap's "did you mean"
/// in the one line of a usage error (exit 2).
#[test]
fn test_mistyped_flag_gets_the_suggestion_in_one_line() {
    for (args, want) in [
        (
            &["--duraton", "2s"][..],
            "loadgen: unexpected argument '--duraton' found; did you mean '--duration'? (see --help)\n",
        ),
        (
            &["limits", "--jsn"][..],
            "loadgen: unexpected argument '--jsn' found; did you mean '--json'? (see --help)\n",
        ),
    ] {
        let out = loadgen().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), want, "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

/// Issue 15, item 6d: Ctrl-C in the warm-up says the warm-up was cut and nothing was
/// measured (before: "0.0s measured after 30.0s warm-up", as if the warm-up had run).
#[test]
fn test_interrupted_warmup_says_nothing_was_measured() {
    let json = std::env::temp_dir().join(format!("loadgen-int-warmup-{}.json", std::process::id()));
    let mut child = loadgen()
        .args([
            "-R", "100", "-c", "2", "-d", "5s", "--warmup", "30s", "--json",
        ])
        .arg(&json)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: kill(2) on our own child, not yet reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let started = Instant::now();
    let out = loop {
        if child.try_wait().unwrap().is_some() {
            break child.wait_with_output().unwrap();
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running 10 s after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(128 + libc::SIGINT), "{text}");
    assert!(!text.contains("measured after"), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("duration:"))
        .unwrap_or_else(|| panic!("no duration line: {text}"));
    let ran: f64 = line
        .strip_prefix("duration:    nothing measured: the warm-up was interrupted after ")
        .and_then(|rest| rest.strip_suffix("s of its 30.0s"))
        .and_then(|secs| secs.parse().ok())
        .unwrap_or_else(|| panic!("{line:?}"));
    assert!((0.5..=5.0).contains(&ran), "{line}");
    assert!(
        text.contains("INTERRUPTED: by SIGINT in the warm-up: nothing was measured"),
        "{text}"
    );
    let j: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("the JSON file")).unwrap();
    let _ = std::fs::remove_file(&json);
    assert_eq!(j["duration_s"], 0.0);
    let warmup_ran = j["interrupted"]["warmup_ran_s"].as_f64().unwrap_or(-1.0);
    assert!(
        (warmup_ran - ran).abs() < 0.06,
        "{warmup_ran} against {ran}"
    );
}

/// Answers every line twice, in one write: a server whose replies outnumber the
/// requests.
struct Twice;

impl Protocol for Twice {
    type Context = ();

    fn on_input(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        _budget: usize,
        _cx: &mut Cx<()>,
    ) -> Step {
        let mut used = 0;
        while let Some(i) = input[used..].iter().position(|&b| b == b'\n') {
            used += i + 1;
            out.extend_from_slice(b"ok\nok\n");
        }
        Step::cont(used)
    }
}

/// Issue 9, item 1: bytes read before the request they would answer was written are
/// `unsolicited`, never completions (before: a server answering twice looked like a
/// fast one, "errors: none").
#[test]
fn test_replies_beyond_the_requests_are_unsolicited() {
    let served = serve(
        Reactor::new(Config::default()).unwrap(),
        "127.0.0.1:0",
        ServeWith(|| Twice),
    );
    let addr = served.addr;
    let mut s = spec(addr, Framing::Line, b"ping\n".to_vec());
    s.duration = Duration::from_millis(500);
    let rec = run(&s);
    served.stop();
    assert!(rec.books_balance(), "{rec:?}");
    assert!(
        rec.errors_of(ErrorClass::Unsolicited) > 0,
        "errors: {:?}",
        rec.errors
    );
    // Every completion answers a request that was sent: at most one per request.
    assert!(
        rec.completed <= rec.sent,
        "{} replies for {} requests",
        rec.completed,
        rec.sent
    );
}

/// Issue 9, item 1: a `--request` holding several requests is sent as a pipeline and
/// every request is counted (before: two pipelined GETs counted as one request each
/// answered twice; the server counted far more requests than loadgen sent).
#[test]
fn test_pipelined_request_counts_every_request() {
    let two = "GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nGET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n";
    let out = loadgen()
        .args([
            "-c",
            "2",
            "-d",
            "500ms",
            "--warmup",
            "0",
            "--json",
            "-",
            "--request",
            two,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let req = &j["requests"];
    let sent = req["sent"].as_u64().unwrap();
    let completed = req["completed"].as_u64().unwrap();
    let in_flight = req["in_flight_end"].as_u64().unwrap();
    assert_eq!(req["books_balance"], true, "{req}");
    assert!(
        j["errors"].as_array().unwrap().is_empty(),
        "{}",
        j["errors"]
    );
    assert_eq!(sent % 2, 0, "requests go out two by two: {sent}");
    assert!(completed > 0);
    let server = j["server"]["requests"]
        .as_u64()
        .expect("the embedded server's count");
    assert!(
        server + in_flight >= sent && server <= sent,
        "the server answered {server} of {sent} sent ({in_flight} in flight)"
    );
    // A line pipeline against the embedded echo server: two replies per send.
    let out = loadgen()
        .args([
            "--proto", "line", "-c", "1", "-d", "300ms", "--warmup", "0", "--json", "-",
        ])
        .args(["--request", "SET k v\\nGET k\\n"])
        .output()
        .unwrap();
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let req = &j["requests"];
    assert_eq!(req["books_balance"], true, "{req}");
    assert!(
        j["errors"].as_array().unwrap().is_empty(),
        "{}",
        j["errors"]
    );
    assert_eq!(req["sent"].as_u64().unwrap() % 2, 0, "{req}");
}

/// Answers every `PING\r\n` with a RESP error.
struct ErrRedis;

impl Protocol for ErrRedis {
    type Context = ();

    fn on_input(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        _budget: usize,
        _cx: &mut Cx<()>,
    ) -> Step {
        let n = input.len() / 6 * 6;
        for _ in 0..n / 6 {
            out.extend_from_slice(b"-NOAUTH Authentication required.\r\n");
        }
        Step::cont(n)
    }
}

/// Issue 9, item 2: RESP error replies and HTTP statuses other than 2xx/3xx are
/// failures the report shows (before: `-ERR` counted as success, "errors: none"; 404s
/// only in the status table).
#[test]
fn test_protocol_level_failures_are_visible() {
    let served = serve(
        Reactor::new(Config::default()).unwrap(),
        "127.0.0.1:0",
        ServeWith(|| ErrRedis),
    );
    let addr = served.addr;
    let mut s = spec(addr, Framing::Resp, b"PING\r\n".to_vec());
    s.duration = Duration::from_millis(300);
    let rec = run(&s);
    served.stop();
    assert!(rec.books_balance());
    assert!(rec.completed > 0);
    let e = rec
        .errors
        .iter()
        .find(|e| e.class == ErrorClass::RespError)
        .expect("resp_error counted");
    assert_eq!(e.detail, "NOAUTH");
    assert_eq!(e.count, rec.completed, "every reply was an error");

    // HTTP 404s: a summary line and a JSON field.
    let served = serve(
        Reactor::new(Config::default()).unwrap(),
        "127.0.0.1:0",
        ServeWith(readyloop::protocol::Http::default),
    );
    let url = format!("http://{}/nope", served.addr);
    let json = std::env::temp_dir().join(format!("loadgen-404-{}.json", std::process::id()));
    let out = loadgen()
        .args([
            url.as_str(),
            "-c",
            "1",
            "-d",
            "300ms",
            "--warmup",
            "0",
            "--json",
        ])
        .arg(&json)
        .output()
        .unwrap();
    served.stop();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("non-2xx/3xx: "), "{text}");
    let j: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let _ = std::fs::remove_file(&json);
    assert!(j["non_2xx_3xx"].as_u64().unwrap() > 0, "{}", j["statuses"]);
    assert_eq!(j["non_2xx_3xx"], j["statuses"]["404"]);
}

/// Answers lines until the instant in its context, then reads and never answers: a
/// server that hangs.
struct HangsAt;

impl Protocol for HangsAt {
    type Context = Instant;

    fn on_input(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        _budget: usize,
        cx: &mut Cx<Instant>,
    ) -> Step {
        if cx.now < *cx.ctx {
            let lines = input.iter().filter(|&&b| b == b'\n').count();
            for _ in 0..lines {
                out.extend_from_slice(b"ok\n");
            }
        }
        Step::cont(input.len())
    }
}

/// Issue 9, item 3: a server that stalls for the last 3 s of a 6 s open-loop run shows
/// a corrected p99 of at least 2 s: requests that time out, are unfinished at the end
/// or fell due unsent enter the corrected histogram at their age (before: they were
/// left out, the p99 looked like the first 3 s, and "errors: none").
#[test]
fn test_a_hung_server_shows_in_the_corrected_latencies() {
    let start = Instant::now();
    let served = serve(
        Reactor::with_context(Config::default(), start + Duration::from_secs(3)).unwrap(),
        "127.0.0.1:0",
        ServeWith(|| HangsAt),
    );
    let addr = served.addr;
    let mut s = spec(addr, Framing::Line, b"ping\n".to_vec());
    s.rate = Some(200.0);
    s.warmup = Duration::ZERO;
    s.duration = Duration::from_secs(6);
    s.timeout = Some(Duration::from_secs(2)); // the default of the command line
    let rec = run(&s);
    served.stop();
    let p99 = rec.corrected.value_at_quantile(0.99);
    // Printed for the record (`cargo test -- --nocapture`): the figure the issue asks for.
    eprintln!(
        "stall in the last 3 s of 6: corrected p99 {p99} us, raw p99 {} us, censored {:?}",
        rec.raw.value_at_quantile(0.99),
        rec.censored
    );
    assert!(p99 >= 2_000_000, "corrected p99 {p99} us");
    let c = &rec.censored;
    assert!(c.total() > 0 && c.unsent > 0, "{c:?}");
    assert!(c.oldest_us >= 2_000_000, "{c:?}");
    assert!(rec.books_balance(), "{rec:?}");
    assert_eq!(
        c.timed_out,
        rec.errors_of(ErrorClass::Timeout),
        "every timed-out request is censored once"
    );
}

/// Issue 9, item 4: a rate that was not reached is reported as missed, with the
/// achieved rate, the unsent count and a cause (before: "schedule: kept",
/// `behind_schedule: false` at two thirds of the rate).
#[test]
fn test_missed_rate_is_reported_with_its_cause() {
    // Two connections cannot carry a million requests a second on loopback.
    let out = loadgen()
        .args([
            "-R", "1000000", "-c", "2", "-t", "1", "-d", "1s", "--warmup", "0", "--json", "-",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let sc = &j["schedule"];
    assert_eq!(sc["kept"], false, "{sc}");
    assert_eq!(j["behind_schedule"], true);
    assert!(sc["achieved_rps"].as_f64().unwrap() < 0.95 * 1e6, "{sc}");
    assert!(sc["unsent"].as_u64().unwrap() > 0, "{sc}");
    let cause = sc["cause"].as_str().unwrap();
    assert!(
        cause.starts_with("too few connections") || cause.starts_with("the generator's own CPU"),
        "{cause}"
    );
}

/// Issue 9, item 10: a run that measured nothing exits 1 (after writing its report);
/// the report is not silent about it (before: "errors: none", exit 0 against a server
/// that never answered).
#[test]
fn test_nothing_measured_exits_1() {
    // A listener that never accepts: the kernel completes the handshakes, requests are
    // sent, nothing ever answers.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let out = loadgen()
        .args([
            addr.as_str(),
            "--proto",
            "echo",
            "-c",
            "2",
            "-d",
            "500ms",
            "--warmup",
            "0",
        ])
        .args(["--timeout", "0", "--json", "-"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("nothing was measured"), "{err}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the report");
    assert_eq!(j["requests"]["measured"], 0);
    // The requests stuck at the end are in the corrected latencies, censored.
    assert_eq!(j["censored"]["unfinished"], 2, "{}", j["censored"]);
    drop(l);
}

/// Issue 9, item 13: the embedded server's counts are the run's own (before: the
/// preflight connect made `accepted 51` for `-c 50`), and the threads reported are the
/// threads that ran.
#[test]
fn test_embedded_server_counts_only_the_runs_connections() {
    let out = loadgen()
        .args([
            "-c", "3", "-t", "8", "-d", "300ms", "--warmup", "0", "--json", "-",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(j["server"]["accepted"], 3, "{}", j["server"]);
    assert_eq!(j["threads"], 3, "no more workers than connections");
}

/// Issue 9, item 12: with a connection per request, ports run out through TIME_WAIT;
/// the report names it with the numbers and the fixes (before: `connect EADDRNOTAVAIL`
/// in the error table, unexplained).
#[test]
fn test_time_wait_exhaustion_is_explained() {
    let Some(ns) = netns::netns_or_skip("tw") else {
        return;
    };
    assert!(ns.sysctl("net/ipv4/ip_local_port_range", "40000 40099"));
    let out = ns
        .loadgen(&[
            "--per-conn",
            "1",
            "-c",
            "4",
            "-d",
            "2s",
            "--warmup",
            "0",
            "--json",
            "-",
        ])
        .output()
        .unwrap();
    let j: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert!(
        j["errors"].to_string().contains("EADDRNOTAVAIL"),
        "{}",
        j["errors"]
    );
    let w = j["warnings"].to_string();
    assert!(w.contains("out of ephemeral ports"), "{w}");
    assert!(w.contains("about 100 ports x 1 source address"), "{w}");
    assert!(w.contains("tcp_tw_reuse_delay"), "{w}");
    // The rate is the cap the warning names (100 ports / 1 s), within a factor of two.
    let rps = j["throughput_rps"].as_f64().unwrap();
    assert!(rps < 250.0, "{rps} req/s with 100 ports");
    // The fix it names: four source addresses, four port ranges.
    let out = ns
        .loadgen(&[
            "--per-conn",
            "1",
            "-c",
            "4",
            "-d",
            "2s",
            "--warmup",
            "0",
            "--json",
            "-",
        ])
        .args(["--source", "127.0.0.1-127.0.0.4"])
        .output()
        .unwrap();
    let j4: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let rps4 = j4["throughput_rps"].as_f64().unwrap();
    assert!(
        rps4 > 2.0 * rps,
        "{rps4} req/s from 4 sources, {rps} from 1"
    );
}

/// Issue 9, item 6: connections are opened before the warm-up clock starts, and the
/// report says how long that took (before: the connect phase ate the measurement;
/// `-c 19000 -d 2s` ran 14 s and measured nothing).
#[test]
fn test_connect_phase_comes_before_the_measurement() {
    // Paced to 10 connects/s, ten connections take about 0.9 s to open: longer than
    // the whole measured period. Before, the clock ran while they opened: the run
    // ended with about half of them open.
    let began = Instant::now();
    let out = loadgen()
        .args([
            "-c",
            "10",
            "-t",
            "1",
            "--connect-rate",
            "10",
            "-d",
            "500ms",
            "--warmup",
            "0",
        ])
        .args(["--json", "-"])
        .output()
        .unwrap();
    let elapsed = began.elapsed().as_secs_f64();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(j["connects"]["ok"], 10, "{}", j["connects"]);
    let phase = j["connect_phase_s"].as_f64().expect("connect_phase_s");
    assert!(phase >= 0.8, "ten connects paced at 10/s took {phase} s");
    assert_eq!(j["duration_s"], 0.5);
    // The measurement came after the connect phase, not inside it.
    assert!(
        elapsed >= phase + 0.5,
        "the command took {elapsed} s for a {phase} s connect phase and 0.5 s measured"
    );
    // Every connection was open for the whole measurement: the requests measured
    // span the full half second.
    let measured = j["requests"]["measured"].as_u64().unwrap();
    assert!(measured > 100, "{measured} measured");
    assert_eq!(j["requests"]["books_balance"], true);
}

/// Issue 9, item 5, under a lowered RLIMIT_NOFILE (256): `-c 300` cannot fit, `-c 100`
/// (200 descriptors with the embedded server) can.
#[test]
fn test_connections_refused_under_a_lowered_descriptor_limit() {
    use std::os::unix::process::CommandExt;
    let lowered = |c: &mut Command| {
        // SAFETY: setrlimit in the child between fork and exec: async-signal-safe.
        unsafe {
            c.pre_exec(|| {
                let lim = libc::rlimit {
                    rlim_cur: 256,
                    rlim_max: 256,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    };
    let mut c = loadgen();
    c.args(["-c", "300", "-d", "300ms", "--warmup", "0"]);
    lowered(&mut c);
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("RLIMIT_NOFILE 256"), "{err}");
    let mut c = loadgen();
    c.args([
        "-c", "100", "-t", "1", "-d", "300ms", "--warmup", "0", "--json", "-",
    ]);
    lowered(&mut c);
    let out = c.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        j["connects"]["ok"], 100,
        "all of them, none silently missing"
    );
}

/// A server that closes every connection right after accepting it: every request is
/// an error, nothing is measured, exit 1 (never "errors: none").
#[test]
fn test_a_server_closing_after_accept_is_all_errors() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    l.set_nonblocking(true).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s2 = stop.clone();
    let t = std::thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(10);
        while !s2.load(std::sync::atomic::Ordering::SeqCst) && Instant::now() < until {
            match l.accept() {
                Ok((c, _)) => drop(c),
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    });
    let out = loadgen()
        .args([
            addr.as_str(),
            "--proto",
            "echo",
            "-c",
            "2",
            "-d",
            "500ms",
            "--warmup",
            "0",
        ])
        .args(["--json", "-"])
        .output()
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    t.join().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the report");
    assert_eq!(j["requests"]["measured"], 0);
    assert!(
        !j["errors"].as_array().unwrap().is_empty(),
        "errors: {}",
        j["errors"]
    );
    assert_eq!(j["requests"]["books_balance"], true, "{}", j["requests"]);
}

/// Issue 9, item 13: connect pacing and the retry backoff have timers of their own.
/// Before, a pacing timer cleared the backoff's flag, so a refusing target was retried
/// at the pacing rate (about a thousand times a second here) instead of backing off;
/// and the backoff restarted at every `connect()` that returned EINPROGRESS, so on
/// loopback, where a refusal arrives after the call returns, it never grew.
#[test]
fn test_pacing_does_not_defeat_the_connect_backoff() {
    // A port nobody listens on: every connect is refused.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut s = spec(addr, Framing::Http, GET.to_vec());
    s.connections = 2;
    s.threads = 1;
    s.connect_rate = Some(1000.0);
    s.warmup = Duration::ZERO;
    s.duration = Duration::from_secs(1);
    let rec = run(&s);
    assert_eq!(rec.connects_ok, 0);
    // The backoff doubles from 10 ms to 1 s: 10+20+...+640 ms is 1.27 s, so the connect
    // phase and a one-second run hold about ten attempts. Paced at 1000/s they would
    // be hundreds.
    assert!(
        (2..=30).contains(&rec.connects_tried),
        "{} connects tried against a refusing target in about a second",
        rec.connects_tried
    );
}

/// Holds line requests until `depth` of them are in, then answers them all: a client
/// that keeps fewer in flight than `depth` waits for ever (and times out), one that
/// keeps more shows in `most`, the largest number of requests the server held at once.
struct Batch {
    depth: usize,
    most: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Protocol for Batch {
    type Context = ();

    fn on_input(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        _budget: usize,
        _cx: &mut Cx<()>,
    ) -> Step {
        let held = input.iter().filter(|&&b| b == b'\n').count();
        self.most
            .fetch_max(held, std::sync::atomic::Ordering::SeqCst);
        if held < self.depth {
            return Step::cont(0); // keep them; the reactor offers them again with more
        }
        let used = input.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        for _ in 0..held {
            out.extend_from_slice(b"ok\n");
        }
        Step::cont(used)
    }
}

/// Issue 10, item 2: `--pipeline D` keeps exactly D requests in flight per connection
/// (the server counts them), answered in order, and the books balance.
#[test]
fn test_pipeline_depth_is_honoured_at_the_server() {
    for depth in [1, 8, 16] {
        let most = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let m = most.clone();
        let served = serve(
            Reactor::new(Config::default()).unwrap(),
            "127.0.0.1:0",
            ServeWith(move || Batch {
                depth,
                most: m.clone(),
            }),
        );
        let mut s = spec(served.addr, Framing::Line, b"ping\n".to_vec());
        s.pipeline = depth;
        s.connections = 3;
        s.duration = Duration::from_millis(500);
        s.timeout = Some(Duration::from_secs(2));
        let rec = run(&s);
        served.stop();
        assert!(rec.books_balance(), "depth {depth}: {rec:?}");
        assert_eq!(rec.error_total(), 0, "depth {depth}: {:?}", rec.errors);
        assert!(
            rec.measured > 100,
            "depth {depth}: {} measured",
            rec.measured
        );
        assert_eq!(
            most.load(std::sync::atomic::Ordering::SeqCst),
            depth,
            "the server held at most this many of one connection's requests"
        );
    }
}

/// Issue 10, item 1: `-n N` sends exactly N requests after the warm-up, closed or
/// open loop, and the run ends once they are answered; with `-d` too, whichever
/// comes first.
#[test]
fn test_requests_n_is_exact() {
    let json = |args: &[&str]| -> serde_json::Value {
        let out = loadgen().args(args).args(["--json", "-"]).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON")
    };
    // Closed loop over two threads, pipelined too: exactly 777 requests, all answered,
    // and the server saw 777.
    for extra in [&[][..], &["--pipeline", "4"]] {
        let j = json(&[&["-n", "777", "-c", "7", "-t", "2"][..], extra].concat());
        let req = &j["requests"];
        assert_eq!(req["sent"], 777, "{extra:?}: {req}");
        assert_eq!(req["completed"], 777, "{req}");
        assert_eq!(req["measured"], 777, "{req}");
        assert_eq!(req["failed"], 0, "{req}");
        assert_eq!(j["server"]["requests"], 777, "{}", j["server"]);
    }
    // Open loop: 300 at 1,000/s take about 0.3 s, not the default 10 s.
    let began = Instant::now();
    let j = json(&["-n", "300", "-R", "1000", "-c", "5", "-t", "1"]);
    assert_eq!(j["requests"]["sent"], 300, "{}", j["requests"]);
    assert_eq!(j["requests"]["measured"], 300);
    let d = j["duration_s"].as_f64().unwrap();
    assert!((0.25..1.5).contains(&d), "300 at 1000/s took {d} s");
    assert!(began.elapsed() < Duration::from_secs(5));
    // -d first: the run stops at 300 ms, far short of the count.
    let j = json(&["-n", "100M", "-d", "300ms", "-c", "2", "-t", "1"]);
    let sent = j["requests"]["sent"].as_u64().unwrap();
    assert!(sent > 0 && sent < 100_000_000, "{sent}");
    assert_eq!(j["duration_s"], 0.3);
}

/// Issue 10, item 5: `--slo` thresholds are judged at the end, each printed with its
/// measured value; any failure exits 99; `--abort-on-fail` stops the run at the first
/// failure after `--abort-delay`; a bad threshold is a usage error (2).
#[test]
fn test_thresholds_pass_fail_and_abort() {
    let go = |args: &[&str]| {
        let out = loadgen()
            .args(["-c", "4", "-t", "1", "--warmup", "0"])
            .args(args)
            .args(["--json", "-"])
            .output()
            .unwrap();
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        (
            out.status.code(),
            j,
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let html = std::env::temp_dir().join(format!("loadgen-slo-{}.html", std::process::id()));
    let (code, j, err) = go(&[
        "-d",
        "500ms",
        "--slo",
        "p99<10s,errors<1%,rps>1",
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    // The HTML report shows each threshold with its value and verdict.
    let page = std::fs::read_to_string(&html).unwrap();
    std::fs::remove_file(&html).unwrap();
    assert!(
        page.contains("<tr><td>p99&lt;10s</td>") && page.contains("class=\"pass\">PASS"),
        "{page}"
    );
    assert_eq!(j["thresholds_pass"], true);
    let t = j["thresholds"].as_array().unwrap();
    assert_eq!(t.len(), 3);
    assert!(t.iter().all(|v| v["pass"] == true), "{t:?}");
    assert!(t[2]["measured"].as_f64().unwrap() > 1.0);

    // No loopback request takes under a microsecond: fails, exit 99, the rest passes.
    let (code, j, err) = go(&["-d", "500ms", "--slo", "p99<1us,errors<1%"]);
    assert_eq!(code, Some(99), "{err}");
    assert!(err.contains("thresholds failed"), "{err}");
    assert_eq!(j["thresholds_pass"], false);
    assert_eq!(j["thresholds"][0]["pass"], false);
    assert_eq!(j["thresholds"][1]["pass"], true);
    assert_eq!(j["aborted"], serde_json::Value::Null);

    // Aborted after 1 s of a 20 s run.
    let began = Instant::now();
    let (code, j, err) = go(&[
        "-d",
        "20s",
        "--slo",
        "p99<1us",
        "--abort-on-fail",
        "--abort-delay",
        "1s",
    ]);
    assert_eq!(code, Some(99), "{err}");
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(j["aborted"]["after_s"], 1.0, "{}", j["aborted"]);
    assert_eq!(j["aborted"]["failed"][0], "p99<1us");
    assert!(j["duration_s"].as_f64().unwrap() < 5.0);

    // The text report prints each threshold with its value.
    let out = loadgen()
        .args([
            "-c",
            "2",
            "-t",
            "1",
            "-d",
            "300ms",
            "--slo",
            "p99<1us,rps>1",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("thresholds:  1 of 2 FAILED"), "{text}");
    assert!(text.contains("  FAIL p99<1us  measured"), "{text}");
    assert!(text.contains("  pass rps>1"), "{text}");

    // Usage first: a bad threshold is exit 2 before anything runs.
    let (code, _, err) = go(&["--slo", "p99<5"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("needs a unit"), "{err}");
    let (code, _, err) = go(&["--abort-on-fail"]);
    assert_eq!(code, Some(2), "{err}");
}

/// Issue 10, item 4: `--stages` ramps the open-loop rate linearly from stage to stage;
/// the rate achieved in each stage is within 5% of its target, the run lasts the
/// stages' sum, and the report has a row per stage.
#[test]
fn test_stages_are_followed() {
    let out = loadgen()
        .args(["--stages", "1s:1000,1s:1000,1s:2000", "-c", "20", "-t", "1"])
        .args(["--json", "-"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(j["duration_s"], 3.0);
    assert_eq!(j["warmup_s"], 0.0);
    let stages = j["stages"].as_array().expect("stages");
    assert_eq!(stages.len(), 3);
    for (st, want) in stages.iter().zip([500.0, 1000.0, 1500.0]) {
        assert_eq!(st["target"], want, "{st}");
        assert_eq!(st["target_kind"], "rate");
        let got = st["achieved_rps"].as_f64().unwrap();
        assert!(
            (got - want).abs() <= 0.05 * want,
            "stage {st}: achieved {got}/s for a target of {want}/s"
        );
    }
    // 500 + 1000 + 1500 requests were due over the run.
    let sent = j["requests"]["sent"].as_u64().unwrap();
    assert!((2900..=3001).contains(&sent), "{sent} sent");
    assert_eq!(j["mode"]["rate"], 1000.0, "the mean rate");
    // Usage: the stages set the rate and the duration.
    let out = loadgen()
        .args(["--stages", "1s:100", "-R", "100"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = loadgen().args(["--stages", "1s:0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Answers each line 10 ms after it arrives (a timer per connection): a closed-loop
/// connection carries 100 requests a second, so the rate measures the connections.
#[derive(Default)]
struct TenMs {
    due: std::collections::VecDeque<Instant>,
}

impl Protocol for TenMs {
    type Context = ();

    fn on_input(
        &mut self,
        input: &[u8],
        _out: &mut Vec<u8>,
        _budget: usize,
        cx: &mut Cx<()>,
    ) -> Step {
        let used = input.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        for _ in input[..used].iter().filter(|&&b| b == b'\n') {
            self.due.push_back(cx.now + Duration::from_millis(10));
        }
        Step::cont(used)
    }

    fn poll_at(&self, _: &()) -> Option<Instant> {
        self.due.front().copied()
    }

    fn on_timer(&mut self, out: &mut Vec<u8>, cx: &mut Cx<()>) -> Verdict {
        while self.due.front().is_some_and(|&t| t <= cx.now) {
            self.due.pop_front();
            out.extend_from_slice(b"ok\n");
        }
        Verdict::Continue
    }
}

/// Issue 10, item 4, closed loop: `--stages ... --closed` targets connections; they
/// open as the target rises and close after their reply as it falls. Against a server
/// that takes 10 ms per request, each stage's rate is 100/s per connection of its mean
/// target.
#[test]
fn test_closed_loop_stages_follow_the_connection_target() {
    let served = serve(
        Reactor::new(Config {
            precise_timers: true,
            ..Config::default()
        })
        .unwrap(),
        "127.0.0.1:0",
        ServeWith(TenMs::default),
    );
    let mut s = spec(served.addr, Framing::Line, b"ping\n".to_vec());
    let p = loadgen::schedule::Profile::new(&[
        (Duration::from_secs(1), 10.0),
        (Duration::from_secs(1), 10.0),
        (Duration::from_secs(1), 0.0),
    ]);
    s.stages = Some(std::sync::Arc::new(p));
    s.stages_closed = true;
    s.connections = 10;
    s.threads = 2;
    s.warmup = Duration::ZERO;
    s.duration = Duration::from_secs(3);
    let rec = run(&s);
    served.stop();
    assert!(rec.books_balance(), "{rec:?}");
    assert_eq!(rec.error_total(), 0, "{:?}", rec.errors);
    assert_eq!(rec.connects_ok, 10, "the peak, each opened once");
    // Mean targets 5, 10 and 5 connections: about 500, 1000 and 500 per second.
    let done = &rec.stage_done;
    eprintln!("closed-loop stages: {done:?} replies for about [500, 1000, 500]");
    assert_eq!(done.len(), 3, "{done:?}");
    for (got, want) in done.iter().zip([500.0, 1000.0, 500.0]) {
        let got = *got as f64;
        assert!(
            (got - want).abs() <= 0.15 * want,
            "stage replies {done:?}: {got} for about {want}"
        );
    }
}
