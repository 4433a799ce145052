//! End-to-end: loadgen over TLS (issue 17), the binary against two servers it did not
//! write: readyloop's TLS listener (in-process, so that its own handshake counters can
//! be compared with loadgen's) and Debian's nginx (`ssl`, its session cache read back
//! through `$ssl_session_reused` in its access log, client certificates, and the
//! stream module in front of a plain echo server for a `tls://` target).
//!
//! Covered, against each server: a keep-alive HTTPS run and what its reports say of
//! the peer; `--per-conn 1` with and without resumption under TLS 1.2 and 1.3, counted
//! on both sides; every verification failure the preflight names (unknown issuer,
//! expired, wrong name, an `--sni` that is not the certificate's), and `--insecure`
//! running anyway with every report saying UNVERIFIED; a `tls://` echo target; and
//! against nginx, mTLS with and without a client certificate.
//!
//! The certificates are made here with rcgen (`common/pki.rs`) in a folder removed
//! afterwards. Traffic stays on 127.0.0.1 and nothing is looked up: the targets are IP
//! literals with `--sni localhost`, or `localhost` routed by `--connect-to`. Every run
//! is bounded (`-d` or `-n`) and waited on; nginx is killed and waited on by a guard.
//! Without nginx its tests skip and say so, unless READYLOOP_REQUIRE_TOOLS=1.

use readyloop::server::{ProtoKind, Server, ServerConfig, ServerStats};
use readyloop::tls::ServerOptions;
use readyloop::{Config, ConnLimits};
use serde_json::Value;
use std::io::Read;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "common/pki.rs"]
mod pki;
use pki::{Pki, CA_CN, SERVER_CN};

#[path = "common/nginx.rs"]
mod nginx;
use nginx::{have_nginx, https_conf, stream_module, Nginx};

/// The longest any loadgen run here may take before it is killed (and the test fails).
const RUN_LIMIT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------
// loadgen, run to its end

/// What a loadgen run printed, and how it exited.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Ran {
    /// The JSON report on stdout (`--json -`), the run having succeeded.
    #[track_caller]
    fn json(&self) -> Value {
        assert_eq!(self.code, Some(0), "loadgen failed: {}", self.stderr);
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{e}: not JSON on stdout: {}", self.stdout))
    }

    /// The text report on stdout, the run having succeeded.
    #[track_caller]
    fn text(&self) -> &str {
        assert_eq!(self.code, Some(0), "loadgen failed: {}", self.stderr);
        &self.stdout
    }

    /// The one line a refused run printed: exit 1, nothing on stdout.
    #[track_caller]
    fn refusal(&self) -> &str {
        assert_eq!(
            self.code,
            Some(1),
            "want exit 1; stdout {} stderr {}",
            self.stdout,
            self.stderr
        );
        assert_eq!(self.stdout, "", "a refused run prints no report");
        let line = self.stderr.trim_end();
        assert!(
            !line.is_empty() && !line.contains('\n'),
            "want one line on stderr: {:?}",
            self.stderr
        );
        line
    }
}

/// Run the loadgen binary with `args` to its end (killed, and the test failed, after
/// `RUN_LIMIT`).
fn loadgen(args: &[&str]) -> Ran {
    let mut child = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + RUN_LIMIT;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    let Some(status) = status else {
        panic!("loadgen {args:?} ran over {RUN_LIMIT:?}: {stdout} {stderr}");
    };
    Ran {
        code: status.code(),
        stdout,
        stderr,
    }
}

/// A number at `path` in `v`.
#[track_caller]
fn num(v: &Value, path: &[&str]) -> u64 {
    let mut at = v;
    for k in path {
        at = &at[*k];
    }
    at.as_u64()
        .unwrap_or_else(|| panic!("{path:?} is not a number in {}", v["tls"]))
}

/// A run that went cleanly: replies, no errors, no failures, no TLS handshake failed,
/// every status 200 (HTTP).
#[track_caller]
fn assert_clean(j: &Value, http: bool) {
    assert!(
        num(j, &["requests", "completed"]) > 0,
        "no replies: {}",
        j["requests"]
    );
    assert_eq!(j["errors"], Value::Array(Vec::new()), "errors");
    assert_eq!(num(j, &["requests", "failed"]), 0, "{}", j["requests"]);
    assert_eq!(j["tls"]["failed"], serde_json::json!({}), "{}", j["tls"]);
    if http {
        let measured = num(j, &["requests", "measured"]);
        assert_eq!(j["statuses"], serde_json::json!({ "200": measured }));
        assert_eq!(num(j, &["non_2xx_3xx"]), 0);
    }
}

/// The peer's side as the JSON report gives it, verified, with the test's `server`
/// certificate.
#[track_caller]
fn assert_peer(j: &Value, version: &str, alpn: Option<&str>) {
    let p = &j["tls"]["peer"];
    assert_eq!(p["version"], version, "{p}");
    let suite = p["cipher"].as_str().unwrap_or("");
    let family = if version == "TLSv1.3" {
        "TLS13_"
    } else {
        "TLS_ECDHE_ECDSA_WITH_"
    };
    assert!(
        suite.starts_with(family),
        "cipher {suite:?} under {version}"
    );
    assert_eq!(p["alpn"], alpn.map_or(Value::Null, |a| a.into()), "{p}");
    // X25519 first: ring's own order put P-384 first, 2.5x the handshake's cost.
    assert_eq!(p["kx"], "X25519", "{p}");
    assert_eq!(p["subject"], format!("CN={SERVER_CN}"), "{p}");
    assert_eq!(p["issuer"], format!("CN={CA_CN}"), "{p}");
    assert_eq!(p["verified"], true, "{p}");
}

// ---------------------------------------------------------------------------------------
// readyloop's TLS listener, in-process

/// A readyloop server with a TLS listener serving the leaf `leaf` of `pki` (`server`,
/// `expired`, `wrong`), stopped on drop.
struct TlsServer {
    /// The TLS listener's address.
    addr: SocketAddr,
    handle: readyloop::Handle,
    join: Option<std::thread::JoinHandle<std::io::Result<ServerStats>>>,
}

impl TlsServer {
    fn start(pki: &Pki, leaf: &str, proto: ProtoKind) -> TlsServer {
        let limits = ConnLimits {
            idle_timeout: None,
            header_timeout: None,
            ..ConnLimits::default()
        };
        let cfg = ServerConfig {
            listen: vec!["127.0.0.1:0".parse().unwrap()],
            listen_tls: vec!["127.0.0.1:0".parse().unwrap()],
            tls: Some(ServerOptions::new(
                pki.path(&format!("{leaf}.pem")),
                pki.path(&format!("{leaf}.key")),
            )),
            proto,
            reactor: Config {
                limits,
                ..Config::default()
            },
            ..ServerConfig::default()
        };
        let server = Server::bind(cfg).expect("bind the TLS server");
        let addr = server.tls_addrs()[0];
        let handle = server.handle();
        let join = Some(std::thread::spawn(move || server.run()));
        TlsServer { addr, handle, join }
    }

    /// A plain readyloop server (no TLS) speaking `proto`.
    fn plain(proto: ProtoKind) -> TlsServer {
        let cfg = ServerConfig {
            listen: vec!["127.0.0.1:0".parse().unwrap()],
            proto,
            ..ServerConfig::default()
        };
        let server = Server::bind(cfg).expect("bind the plain server");
        let addr = server.local_addrs()[0];
        let handle = server.handle();
        let join = Some(std::thread::spawn(move || server.run()));
        TlsServer { addr, handle, join }
    }

    /// `https://127.0.0.1:P/`.
    fn url(&self) -> String {
        format!("https://{}/", self.addr)
    }

    /// Shut down gracefully; its counters.
    fn stop(mut self) -> ServerStats {
        self.handle.shutdown();
        self.join.take().unwrap().join().unwrap().unwrap()
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        if let Some(j) = self.join.take() {
            self.handle.stop();
            let _ = j.join();
        }
    }
}

/// A1: a keep-alive HTTPS run: the peer as the reports give it (text and JSON), one
/// handshake per connection, the handshake phase timed, 200s and nothing else; the
/// server counted the same handshakes and the preflight's.
#[test]
fn keep_alive_https_against_readyloop() {
    let pki = Pki::new("a1");
    let srv = TlsServer::start(&pki, "server", ProtoKind::Http);
    let port = srv.addr.port();
    let url = format!("https://localhost:{port}/");
    let to = format!("localhost:{port}:127.0.0.1:{port}");
    let ca = pki.s("ca.pem");
    let args = [
        &url,
        "--connect-to",
        &to,
        "--cacert",
        &ca,
        "-d",
        "1s",
        "-c",
        "4",
    ];

    let mut json_args = args.to_vec();
    json_args.extend(["--json", "-"]);
    let j = loadgen(&json_args).json();
    assert_clean(&j, true);
    assert_peer(&j, "TLSv1.3", Some("http/1.1"));
    let (full, resumed) = (num(&j, &["tls", "full"]), num(&j, &["tls", "resumed"]));
    assert!(full >= 1, "{}", j["tls"]);
    assert_eq!(j["tls"]["resume"], true);
    // Every connection made exactly one handshake.
    assert_eq!(full + resumed, num(&j, &["connects", "ok"]), "{}", j["tls"]);
    assert!(
        num(&j, &["phases", "tls_handshake_us", "count"]) >= 1,
        "{}",
        j["phases"]
    );

    let text = loadgen(&args);
    let out = text.text();
    let tls = out
        .lines()
        .find(|l| l.starts_with("tls:"))
        .unwrap_or_else(|| panic!("no tls: line in\n{out}"));
    for want in [
        "TLSv1.3",
        "ALPN http/1.1",
        &format!("CN={SERVER_CN}"),
        "(verified)",
    ] {
        assert!(tls.contains(want), "{want:?} not in {tls:?}");
    }
    let hs = out
        .lines()
        .find(|l| l.starts_with("handshakes:"))
        .unwrap_or_else(|| panic!("no handshakes: line in\n{out}"));
    assert!(
        hs.contains(" full, ") && hs.ends_with(" resumed, 0 failed"),
        "{hs:?}"
    );

    let stats = srv.stop();
    // Two runs' handshakes and their two preflights, all complete.
    let text_full: u64 = hs.split_whitespace().nth(1).unwrap().parse().unwrap();
    let text_resumed: u64 = hs.split_whitespace().nth(3).unwrap().parse().unwrap();
    assert_eq!(
        stats.tls.full + stats.tls.resumed,
        full + resumed + text_full + text_resumed + 2,
        "server {:?}",
        stats.tls
    );
}

/// A2: `--per-conn 1` with one connection and `-n 30`: a handshake per request, resumed
/// after the first; the server counts the same resumptions, and one full handshake
/// more (the preflight, which keeps no session). With `--no-resume`: none resumed on
/// either side.
fn resumption_against_readyloop(version: &str, name: &str) {
    let pki = Pki::new(&format!("a2-{version}"));
    let ca = pki.s("ca.pem");
    for resume in [true, false] {
        let srv = TlsServer::start(&pki, "server", ProtoKind::Http);
        let url = srv.url();
        let mut args = vec![&*url, "--cacert", &ca, "--sni", "localhost"];
        args.extend([
            "--tls-version",
            version,
            "--per-conn",
            "1",
            "-c",
            "1",
            "-n",
            "30",
        ]);
        args.extend(["--json", "-"]);
        if !resume {
            args.push("--no-resume");
        }
        let j = loadgen(&args).json();
        let stats = srv.stop();
        assert_clean(&j, true);
        assert_peer(&j, name, Some("http/1.1"));
        assert_eq!(num(&j, &["requests", "completed"]), 30);
        let (full, resumed) = (num(&j, &["tls", "full"]), num(&j, &["tls", "resumed"]));
        assert_eq!(
            full + resumed,
            30,
            "one handshake per request: {}",
            j["tls"]
        );
        assert_eq!(j["tls"]["resume"], resume);
        if resume {
            assert!(resumed > 0, "nothing resumed: {}", j["tls"]);
        } else {
            assert_eq!(resumed, 0, "resumed with --no-resume: {}", j["tls"]);
        }
        assert_eq!(stats.tls.resumed, resumed, "server {:?}", stats.tls);
        assert_eq!(stats.tls.full, full + 1, "server {:?}", stats.tls);
    }
}

#[test]
fn per_conn_resumption_tls12_against_readyloop() {
    resumption_against_readyloop("1.2", "TLSv1.2");
}

#[test]
fn per_conn_resumption_tls13_against_readyloop() {
    resumption_against_readyloop("1.3", "TLSv1.3");
}

/// Resumption with many connections reconnecting at once: after the first handshake
/// of each connection, nearly every one resumes. rustls's own session store keeps 8
/// tickets per server, so at -c 50 half the handshakes were full (5,448 of 10,846
/// resumed, measured by benches/tls_vs_nginx.py); loadgen keeps two a connection.
#[test]
fn per_conn_resumption_with_many_connections_against_readyloop() {
    let pki = Pki::new("a2-many");
    let ca = pki.s("ca.pem");
    let srv = TlsServer::start(&pki, "server", ProtoKind::Http);
    let url = srv.url();
    let args = [
        &*url,
        "--cacert",
        &ca,
        "--sni",
        "localhost",
        "--per-conn",
        "1",
        "-c",
        "50",
        "-n",
        "1000",
        "--json",
        "-",
    ];
    let j = loadgen(&args).json();
    let stats = srv.stop();
    assert_clean(&j, true);
    let (full, resumed) = (num(&j, &["tls", "full"]), num(&j, &["tls", "resumed"]));
    // The first handshake of each of the 50 slots finds no ticket; the rest find one
    // (each handshake leaves two), but for a few that overtake the tickets in flight.
    assert!(full + resumed >= 1000, "{}", j["tls"]);
    assert!(full <= 100, "too many full handshakes: {}", j["tls"]);
    assert_eq!(stats.tls.resumed, resumed, "server {:?}", stats.tls);
}

/// A3 and B3: every verification failure is one line naming it, exit 1, and no run
/// (`url(leaf)` is the target serving that leaf of `pki`): no `--cacert` (unknown
/// issuer), the expired certificate, the one for another name, and `--sni` naming
/// another host than the certificate's.
fn verification_failures(pki: &Pki, url: impl Fn(&str) -> String) {
    let ca = pki.s("ca.pem");
    let cases: [(&str, Vec<&str>, &str); 4] = [
        ("server", vec!["--sni", "localhost"], "unknown issuer"),
        (
            "expired",
            vec!["--cacert", &ca, "--sni", "localhost"],
            "expired",
        ),
        (
            "wrong",
            vec!["--cacert", &ca, "--sni", "localhost"],
            "wrong name",
        ),
        (
            "server",
            vec!["--cacert", &ca, "--sni", "other.example"],
            "wrong name",
        ),
    ];
    for (leaf, flags, cause) in cases {
        let target = url(leaf);
        let mut args = vec![&*target, "-d", "1s", "-c", "2"];
        args.extend(&flags);
        let ran = loadgen(&args);
        let line = ran.refusal();
        assert!(
            line.contains(&format!("certificate verify failed: {cause}")),
            "{leaf} with {flags:?}: want {cause:?} in {line:?}"
        );
        if flags.contains(&"other.example") {
            assert!(
                line.contains("(other.example)") && line.contains("--sni"),
                "{line:?}"
            );
        }
    }
}

#[test]
fn verification_failures_against_readyloop() {
    let pki = Pki::new("a3");
    let servers: Vec<(&str, TlsServer)> = ["server", "expired", "wrong"]
        .into_iter()
        .map(|leaf| (leaf, TlsServer::start(&pki, leaf, ProtoKind::Http)))
        .collect();
    verification_failures(&pki, |leaf| {
        servers.iter().find(|(l, _)| *l == leaf).unwrap().1.url()
    });
    for (leaf, srv) in servers {
        let stats = srv.stop();
        assert_eq!(
            stats.http.requests, 0,
            "{leaf}: a request was sent after the refusal"
        );
    }
}

/// A3: `--insecure` against the expired certificate runs, and the text and JSON
/// reports say UNVERIFIED.
#[test]
fn insecure_against_an_expired_certificate_says_unverified() {
    let pki = Pki::new("a3k");
    let srv = TlsServer::start(&pki, "expired", ProtoKind::Http);
    let url = srv.url();
    let args = [
        &*url,
        "--insecure",
        "-d",
        "1s",
        "-c",
        "2",
        "--warmup",
        "200ms",
    ];
    let mut json_args = args.to_vec();
    json_args.extend(["--json", "-"]);
    let j = loadgen(&json_args).json();
    assert_clean(&j, true);
    assert_eq!(j["tls"]["peer"]["verified"], false, "{}", j["tls"]);
    assert_eq!(j["tls"]["peer"]["subject"], "CN=loadgen expired");
    assert!(
        j["tls"]["peer"]["days_left"].as_i64().unwrap() < 0,
        "{}",
        j["tls"]
    );
    let text = loadgen(&args);
    let tls = text
        .text()
        .lines()
        .find(|l| l.starts_with("tls:"))
        .unwrap_or_else(|| panic!("no tls: line in\n{}", text.stdout))
        .to_string();
    assert!(tls.contains("UNVERIFIED (--insecure)"), "{tls:?}");
    assert!(
        tls.contains("CN=loadgen expired") && tls.contains("2021-01-01"),
        "{tls:?}"
    );
}

/// A3: the HTML report of an `--insecure` run says UNVERIFIED too.
#[test]
fn insecure_html_report_says_unverified() {
    let pki = Pki::new("a3h");
    let srv = TlsServer::start(&pki, "expired", ProtoKind::Http);
    let url = srv.url();
    let html = pki.s("run.html");
    let args = [
        &*url, "-k", "-d", "1s", "-c", "2", "--warmup", "200ms", "--html", &html,
    ];
    loadgen(&args).text();
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("UNVERIFIED"),
        "the HTML report does not say UNVERIFIED"
    );
}

/// A4: a `tls://` target with echo framing against readyloop's echo over TLS: replies
/// counted, no errors, no ALPN (none is offered for echo).
#[test]
fn tls_echo_target_against_readyloop() {
    let pki = Pki::new("a4");
    let srv = TlsServer::start(&pki, "server", ProtoKind::Echo);
    let target = format!("tls://{}", srv.addr);
    let ca = pki.s("ca.pem");
    let args = [
        &*target,
        "--proto",
        "echo",
        "--cacert",
        &ca,
        "--sni",
        "localhost",
        "-d",
        "1s",
        "-c",
        "2",
        "--warmup",
        "200ms",
        "--json",
        "-",
    ];
    let j = loadgen(&args).json();
    let stats = srv.stop();
    assert_clean(&j, false);
    assert_peer(&j, "TLSv1.3", None);
    assert_eq!(j["proto"], "echo");
    assert!(
        stats.tls.full >= 2,
        "the preflight's and the run's: {:?}",
        stats.tls
    );
    assert!(stats.conns.bytes_in > 0, "{:?}", stats.conns);
}

/// Found by these tests: a run against a TLS server leaves a failed handshake (`eof`)
/// in the server's counters: the plain preflight connect (`cli/preflight.rs`, closed
/// with a reset) comes before the TLS preflight, and to a TLS listener it is a
/// connection that ended before its ClientHello. The TLS preflight alone would tell
/// an address where nothing listens as well. Here: one run, and the server's count of
/// failed handshakes.
#[test]
fn a_run_leaves_no_failed_handshake_on_the_server() {
    let pki = Pki::new("bug-pre");
    let srv = TlsServer::start(&pki, "server", ProtoKind::Http);
    let url = srv.url();
    let ca = pki.s("ca.pem");
    let args = [
        &*url,
        "--cacert",
        &ca,
        "--sni",
        "localhost",
        "-c",
        "2",
        "-n",
        "100",
        "--json",
        "-",
    ];
    let j = loadgen(&args).json();
    let stats = srv.stop();
    assert_clean(&j, true);
    assert_eq!(stats.tls.failed_total(), 0, "server {:?}", stats.tls);
}

/// Found by these tests: `-n N --per-conn 1` with several connections opens
/// connections after the N are sent, which make a handshake (or are cut in one) and
/// send nothing: more handshakes than requests on both sides, and on the server
/// failed handshakes (`eof`) the load generator caused. Not TLS's own: over plain TCP
/// to an echo server the same run makes 41 connects for 40 requests, but over TLS each
/// costs a handshake. Three runs, as it is a race (at the end of each run, the
/// connections other than the last request's).
#[test]
#[ignore = "bug: -n with --per-conn 1 reopens connections after the N requests are sent: handshakes without a request"]
fn n_with_per_conn_opens_no_connection_past_the_budget() {
    let pki = Pki::new("bug-n");
    let ca = pki.s("ca.pem");
    for _ in 0..3 {
        let srv = TlsServer::start(&pki, "server", ProtoKind::Http);
        let url = srv.url();
        let args = [
            &*url,
            "--cacert",
            &ca,
            "--sni",
            "localhost",
            "--per-conn",
            "1",
            "-c",
            "4",
            "-n",
            "40",
            "--json",
            "-",
        ];
        let j = loadgen(&args).json();
        let stats = srv.stop();
        assert_eq!(num(&j, &["requests", "completed"]), 40);
        assert_eq!(num(&j, &["connects", "tried"]), 40, "{}", j["connects"]);
        let (full, resumed) = (num(&j, &["tls", "full"]), num(&j, &["tls", "resumed"]));
        assert_eq!(full + resumed, 40, "{}", j["tls"]);
        assert_eq!(
            stats.tls.full + stats.tls.resumed,
            41,
            "server {:?}",
            stats.tls
        );
    }
}

// ---------------------------------------------------------------------------------------
// nginx

/// nginx serving `return 200 "ok"` with the `server` leaf and `extra` in its server
/// block.
fn nginx_https(tag: &str, pki: &Pki, extra: &str) -> Nginx {
    let (cert, key) = (pki.path("server.pem"), pki.path("server.key"));
    Nginx::start(tag, "", 1, |dir, ports| {
        https_conf(dir, &[(ports[0], cert.clone(), key.clone(), extra)])
    })
}

fn nginx_url(ngx: &Nginx, i: usize) -> String {
    format!("https://127.0.0.1:{}/", ngx.ports[i])
}

/// B1: a keep-alive run against nginx: 200s, nothing else, every request in nginx's
/// log.
#[test]
fn keep_alive_https_against_nginx() {
    if !have_nginx() {
        return;
    }
    let pki = Pki::new("b1");
    let ngx = nginx_https("b1", &pki, "");
    let url = nginx_url(&ngx, 0);
    let ca = pki.s("ca.pem");
    let args = [
        &*url,
        "--cacert",
        &ca,
        "--sni",
        "localhost",
        "-d",
        "1s",
        "-c",
        "4",
        "--json",
        "-",
    ];
    let j = loadgen(&args).json();
    assert_clean(&j, true);
    assert_peer(&j, "TLSv1.3", Some("http/1.1"));
    assert!(num(&j, &["tls", "full"]) >= 1, "{}", j["tls"]);
    // Every request loadgen completed is in nginx's log (those of the warm-up too).
    let done = num(&j, &["requests", "completed"]) as usize;
    let lines = ngx.access_lines(done);
    let ok = lines
        .iter()
        .filter(|l| l.split(' ').nth(2) == Some("200"))
        .count();
    assert!(
        ok >= done,
        "nginx logged {ok} 200s, loadgen completed {done}"
    );
}

/// B2: `--per-conn 1`, one connection, `-n 30`: a handshake per request, each in
/// nginx's access log with `$ssl_session_reused` ("r" resumed, "." full). The
/// preflight's handshake sends no request, so it is in no line: the lines are exactly
/// the run's handshakes, the "r" ones its resumed, the "." ones its full.
fn resumption_against_nginx(version: &str, name: &str) {
    if !have_nginx() {
        return;
    }
    let pki = Pki::new(&format!("b2-{version}"));
    let ngx = nginx_https(&format!("b2-{version}"), &pki, "");
    let url = nginx_url(&ngx, 0);
    let ca = pki.s("ca.pem");
    for resume in [true, false] {
        ngx.clear_access_log();
        let mut args = vec![&*url, "--cacert", &ca, "--sni", "localhost"];
        args.extend([
            "--tls-version",
            version,
            "--per-conn",
            "1",
            "-c",
            "1",
            "-n",
            "30",
        ]);
        args.extend(["--json", "-"]);
        if !resume {
            args.push("--no-resume");
        }
        let j = loadgen(&args).json();
        assert_clean(&j, true);
        assert_peer(&j, name, Some("http/1.1"));
        let (full, resumed) = (num(&j, &["tls", "full"]), num(&j, &["tls", "resumed"]));
        assert_eq!(num(&j, &["requests", "completed"]), 30);
        assert_eq!(
            full + resumed,
            30,
            "one handshake per request: {}",
            j["tls"]
        );
        let lines = ngx.access_lines(30);
        assert_eq!(lines.len(), 30, "nginx's log: {lines:?}");
        let by = |mark: &str| {
            lines
                .iter()
                .filter(|l| l.split(' ').next() == Some(mark))
                .count()
        };
        assert!(
            lines.iter().all(|l| l.contains(&format!(" {name} 200 "))),
            "{lines:?}"
        );
        assert_eq!(
            by("r") as u64,
            resumed,
            "nginx's resumed vs loadgen's: {}",
            j["tls"]
        );
        assert_eq!(
            by(".") as u64,
            full,
            "nginx's full vs loadgen's: {}",
            j["tls"]
        );
        if resume {
            assert!(resumed > 0, "nothing resumed: {}", j["tls"]);
        } else {
            assert_eq!(resumed, 0, "resumed with --no-resume: {}", j["tls"]);
        }
    }
}

#[test]
fn per_conn_resumption_tls12_against_nginx() {
    resumption_against_nginx("1.2", "TLSv1.2");
}

#[test]
fn per_conn_resumption_tls13_against_nginx() {
    resumption_against_nginx("1.3", "TLSv1.3");
}

/// B3: the verification failures against nginx serving each certificate (one nginx,
/// a server block per certificate), and `--insecure` running against the expired one.
#[test]
fn verification_failures_against_nginx() {
    if !have_nginx() {
        return;
    }
    let pki = Pki::new("b3");
    let leaves = ["server", "expired", "wrong"];
    let ngx = Nginx::start("b3", "", leaves.len(), |dir, ports| {
        let servers: Vec<_> = leaves
            .iter()
            .zip(ports)
            .map(|(leaf, port)| {
                let (c, k) = (
                    pki.path(&format!("{leaf}.pem")),
                    pki.path(&format!("{leaf}.key")),
                );
                (*port, c, k, "")
            })
            .collect();
        https_conf(dir, &servers)
    });
    let url = |leaf: &str| nginx_url(&ngx, leaves.iter().position(|l| *l == leaf).unwrap());
    verification_failures(&pki, url);
    // No refused run sent a request.
    assert_eq!(ngx.access_lines(0), Vec::<String>::new());

    let expired = url("expired");
    let args = [
        &*expired, "-k", "-d", "1s", "-c", "2", "--warmup", "200ms", "--json", "-",
    ];
    let j = loadgen(&args).json();
    assert_clean(&j, true);
    assert_eq!(j["tls"]["peer"]["verified"], false, "{}", j["tls"]);
    assert_eq!(j["tls"]["peer"]["subject"], "CN=loadgen expired");
}

/// B4: nginx asks for a client certificate. With `--cert`/`--key` (signed by the CA it
/// trusts) every answer is a 200 and nginx logs SUCCESS; without, nginx completes the
/// handshake and answers 400 (No required SSL certificate was sent): loadgen counts
/// status 400 as non-2xx, no TLS error.
#[test]
fn mtls_against_nginx() {
    if !have_nginx() {
        return;
    }
    let pki = Pki::new("b4");
    let verify = format!(
        "ssl_verify_client on; ssl_client_certificate {};",
        pki.path("ca.pem").display()
    );
    let ngx = nginx_https("b4", &pki, &verify);
    let url = nginx_url(&ngx, 0);
    let (ca, cert, key) = (pki.s("ca.pem"), pki.s("client.pem"), pki.s("client.key"));
    let base = [
        &*url,
        "--cacert",
        &ca,
        "--sni",
        "localhost",
        "-d",
        "1s",
        "-c",
        "2",
    ];
    let with = [
        &base[..],
        &["--warmup", "200ms", "--cert", &cert, "--key", &key],
    ]
    .concat();
    let j = loadgen(&[&with[..], &["--json", "-"]].concat()).json();
    assert_clean(&j, true);
    let done = num(&j, &["requests", "completed"]) as usize;
    let lines = ngx.access_lines(done);
    assert!(
        lines.len() >= done && lines.iter().all(|l| l.ends_with(" 200 SUCCESS")),
        "nginx's log: {:?}",
        &lines[..lines.len().min(5)]
    );

    ngx.clear_access_log();
    let without = [&base[..], &["--warmup", "200ms", "--json", "-"]].concat();
    let j = loadgen(&without).json();
    let measured = num(&j, &["requests", "measured"]);
    assert!(measured > 0, "{}", j["requests"]);
    assert_eq!(j["statuses"], serde_json::json!({ "400": measured }));
    assert_eq!(num(&j, &["non_2xx_3xx"]), measured);
    assert_eq!(j["errors"], Value::Array(Vec::new()), "errors");
    assert_eq!(j["tls"]["failed"], serde_json::json!({}), "{}", j["tls"]);
    let lines = ngx.access_lines(1);
    assert!(
        !lines.is_empty() && lines.iter().all(|l| l.ends_with(" 400 NONE")),
        "nginx's log: {:?}",
        &lines[..lines.len().min(5)]
    );
}

/// B5: a `tls://` echo target through nginx's stream module (TLS ended there), proxied
/// to a plain readyloop echo server.
#[test]
fn tls_echo_target_through_nginx_stream() {
    if !have_nginx() {
        return;
    }
    let Some(load) = stream_module() else {
        return;
    };
    let pki = Pki::new("b5");
    let echo = TlsServer::plain(ProtoKind::Echo);
    let upstream = echo.addr;
    let (cert, key) = (pki.path("server.pem"), pki.path("server.key"));
    let ngx = Nginx::start("b5", &load, 1, |_dir, ports| {
        format!(
            "stream {{ server {{ listen 127.0.0.1:{} ssl; ssl_certificate {}; ssl_certificate_key {}; ssl_protocols TLSv1.2 TLSv1.3; proxy_pass {upstream}; }} }}",
            ports[0],
            cert.display(),
            key.display()
        )
    });
    let target = format!("tls://127.0.0.1:{}", ngx.ports[0]);
    let ca = pki.s("ca.pem");
    let args = [
        &*target,
        "--proto",
        "echo",
        "--cacert",
        &ca,
        "--sni",
        "localhost",
        "-d",
        "1s",
        "-c",
        "2",
        "--warmup",
        "200ms",
        "--json",
        "-",
    ];
    let j = loadgen(&args).json();
    assert_clean(&j, false);
    assert_peer(&j, "TLSv1.3", None);
    drop(ngx);
    let stats = echo.stop();
    // The echoes came from the server behind nginx.
    assert!(
        stats.conns.accepted >= 2 && stats.conns.bytes_out > 0,
        "the echo server behind nginx: {:?}",
        stats.conns
    );
}
