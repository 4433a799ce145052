//! End-to-end tests of the server's TLS listeners (issue 17): `tls://` against
//! third-party clients (curl, `openssl s_client`, wrk, Python's `ssl`), a plain and a TLS
//! listener side by side, a flood of unfinished handshakes under the header timeout,
//! garbage instead of a ClientHello, SIGHUP reloading the certificate, and the usage
//! error of a `tls://` listener without one.
//!
//! The certificates are made here with rcgen (a CA and leaves it signs, for "localhost"
//! and 127.0.0.1) in a temporary folder each test removes. The tests that need no tool
//! talk TLS with rustls's own (buffered) client, a different code path from the server's
//! unbuffered one.
//!
//! Needs openssl, curl, wrk and python3 (`.ci/run` installs them): without one, the tests
//! that use it skip and say so, unless READYLOOP_REQUIRE_TOOLS=1.

mod util;

use readyloop::server::{ProtoKind, Server, ServerConfig, ServerStats};
use readyloop::tls::rustls;
use readyloop::tls::{client_config, ClientOptions, Failure, Roots, ServerOptions};
use readyloop::CloseReason;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;
use util::*;

const T: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------
// Certificates

/// A CA and a server certificate it signed, as PEM files in a folder of the test's own
/// (removed on drop): `ca.pem`, `cert.pem`, `key.pem`.
struct Pki {
    dir: PathBuf,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    /// The DER of the leaf now in `cert.pem`.
    leaf: Vec<u8>,
}

impl Pki {
    fn new(tag: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("rl-tls-server-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "readyloop test CA");
        ca.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
        let mut pki = Pki {
            dir,
            issuer: rcgen::Issuer::new(ca, ca_key),
            leaf: Vec::new(),
        };
        pki.write_leaf(1, "readyloop first");
        pki
    }

    /// Sign a new leaf for "localhost" and 127.0.0.1 (serial `serial`, CN `cn`) and write
    /// it and its new key over `cert.pem` and `key.pem`.
    fn write_leaf(&mut self, serial: u8, cn: &str) {
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let mut p = rcgen::CertificateParams::new(names).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
        p.serial_number = Some(rcgen::SerialNumber::from_slice(&[serial]));
        p.use_authority_key_identifier_extension = true;
        p.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        std::fs::write(self.cert(), cert.pem()).unwrap();
        std::fs::write(self.key(), key.serialize_pem()).unwrap();
        self.leaf = cert.der().to_vec();
    }

    fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    fn cert(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }

    fn key(&self) -> PathBuf {
        self.dir.join("key.pem")
    }

    fn options(&self) -> ServerOptions {
        ServerOptions::new(self.cert(), self.key())
    }

    /// The flags that give the binary a TLS listener with this certificate.
    fn flags(&self) -> Vec<String> {
        let path = |p: PathBuf| p.to_str().unwrap().to_string();
        vec![
            "--listen".into(),
            "tls://127.0.0.1:0".into(),
            "--tls-cert".into(),
            path(self.cert()),
            "--tls-key".into(),
            path(self.key()),
        ]
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------------------
// Servers

/// An in-process server with a plain listener (`srv.addr`) and a TLS one (the second
/// value), both speaking `proto`.
fn start_tls(
    pki: &Pki,
    proto: ProtoKind,
    adjust: impl FnOnce(&mut ServerConfig),
) -> (TestServer, SocketAddr) {
    let mut cfg = config(proto);
    cfg.listen_tls = vec!["127.0.0.1:0".parse().unwrap()];
    cfg.tls = Some(pki.options());
    adjust(&mut cfg);
    let server = Server::bind(cfg).expect("bind the TLS test server");
    let addr = server.local_addrs()[0];
    let tls = server.tls_addrs()[0];
    assert!(addr.ip().is_loopback() && tls.ip().is_loopback());
    let handle = server.handle();
    let join = std::thread::Builder::new()
        .name("readyloop-server".into())
        .spawn(move || server.run())
        .expect("spawn server thread");
    let srv = TestServer {
        addr,
        handle,
        join: Some(join),
    };
    (srv, tls)
}

/// The `tls://` address on the binary's listening line (`readyloop X listening on
/// 127.0.0.1:P, tls://127.0.0.1:Q (http)`).
fn bin_tls_addr(srv: &BinServer) -> SocketAddr {
    let out = srv.stdout.lock().unwrap().clone();
    let first = out.lines().next().unwrap_or("");
    let at = first
        .find("tls://")
        .unwrap_or_else(|| panic!("no tls:// address in {first:?}"));
    let rest = &first[at + "tls://".len()..];
    let end = rest.find([',', ' ']).unwrap_or(rest.len());
    rest[..end]
        .parse()
        .unwrap_or_else(|e| panic!("{rest:?}: {e}"))
}

/// The binary's admin address, from its `admin: http://ADDR/stats` line.
fn bin_admin_addr(srv: &BinServer) -> SocketAddr {
    wait_for(T, "the admin line on stdout", || {
        let out = srv.stdout.lock().unwrap().clone();
        let line = out.lines().find_map(|l| l.strip_prefix("admin: http://"))?;
        line.strip_suffix("/stats")?.parse().ok()
    })
}

/// `GET /stats` of an admin listener, as JSON; `None` when the reactor was too busy to
/// answer within the admin's snapshot timeout (503).
fn try_admin_stats(admin: SocketAddr) -> Option<serde_json::Value> {
    let mut c = HttpConn::connect(admin);
    let r = c.request(&get("/stats", ""));
    if r.head.status == 503 {
        return None;
    }
    assert_eq!(r.head.status, 200);
    Some(serde_json::from_slice(&r.body).expect("/stats is JSON"))
}

fn num(v: &serde_json::Value, path: &[&str]) -> u64 {
    let mut at = v;
    for k in path {
        at = &at[*k];
    }
    at.as_u64()
        .unwrap_or_else(|| panic!("{path:?} is not a number in {v}"))
}

// ---------------------------------------------------------------------------------------
// Clients

/// Whether `tool` can be run; without it the test skips and says so, or fails under
/// READYLOOP_REQUIRE_TOOLS=1. `check` is a command line that must succeed (`python3 -c
/// 'import ssl'`).
fn have(tool: &str, check: &[&str]) -> bool {
    let ok = Command::new(check[0])
        .args(&check[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return true;
    }
    assert!(
        std::env::var("READYLOOP_REQUIRE_TOOLS").as_deref() != Ok("1"),
        "READYLOOP_REQUIRE_TOOLS=1 but {tool} is missing"
    );
    eprintln!("skipping: {tool} is not installed (apt-get install {tool})");
    false
}

fn have_openssl() -> bool {
    have("openssl", &["openssl", "version"])
}

fn have_curl() -> bool {
    have("curl", &["curl", "--version"])
}

fn have_wrk() -> bool {
    // wrk has no --version that exits 0; -v prints it and exits 1.
    have("wrk", &["sh", "-c", "command -v wrk"])
}

fn have_python_ssl() -> bool {
    have("python3", &["python3", "-c", "import ssl"])
}

/// What a tool run printed.
struct Ran {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Run `prog args` with `stdin` written to it, bounded by `T`; always waited on.
fn run_tool(prog: &str, args: &[&str], stdin: &[u8]) -> Ran {
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {prog}: {e}"));
    let mut input = child.stdin.take().unwrap();
    let bytes = stdin.to_vec();
    // Dropped at the end of the thread: the tool sees its stdin end.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&bytes);
    });
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            String::from_utf8_lossy(&v).into_owned()
        })
    };
    let out = reader(Box::new(child.stdout.take().unwrap()));
    let err = reader(Box::new(child.stderr.take().unwrap()));
    let status = wait_child(&mut child, T);
    let _ = writer.join();
    let stdout = out.join().unwrap();
    let stderr = err.join().unwrap();
    let status = status.unwrap_or_else(|| {
        panic!("{prog} {args:?} did not exit within {T:?}; stdout {stdout:?} stderr {stderr:?}")
    });
    Ran {
        status,
        stdout,
        stderr,
    }
}

/// rustls's client trusting the test's CA (no resumption: every handshake is full and
/// shows the certificate).
fn rustls_client(pki: &Pki) -> Arc<rustls::ClientConfig> {
    let o = ClientOptions {
        roots: Roots::File(pki.ca()),
        ..Default::default()
    };
    Arc::new(client_config(&o).expect("client config"))
}

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// Connect to `addr` as "localhost" and finish the handshake (verified against the CA).
fn rustls_connect(cfg: &Arc<rustls::ClientConfig>, addr: SocketAddr) -> TlsStream {
    let name = "localhost".try_into().unwrap();
    let conn = rustls::ClientConnection::new(cfg.clone(), name).unwrap();
    let mut s = rustls::StreamOwned::new(conn, connect(addr));
    for _ in 0..100 {
        if !s.conn.is_handshaking() {
            return s;
        }
        s.conn
            .complete_io(&mut s.sock)
            .unwrap_or_else(|e| panic!("TLS handshake with {addr}: {e}"));
    }
    panic!("the handshake with {addr} did not finish in 100 exchanges");
}

/// The leaf certificate (DER) a new connection to `addr` is served.
fn served_leaf(cfg: &Arc<rustls::ClientConfig>, addr: SocketAddr) -> Vec<u8> {
    let s = rustls_connect(cfg, addr);
    let certs = s
        .conn
        .peer_certificates()
        .expect("the server's certificates");
    certs[0].to_vec()
}

/// `GET /` with `Connection: close` over TLS: the whole answer, up to the server's
/// close_notify (an end without one is an error in rustls, and fails here).
fn rustls_get(cfg: &Arc<rustls::ClientConfig>, addr: SocketAddr) -> Vec<u8> {
    let mut s = rustls_connect(cfg, addr);
    s.write_all(&get("/", "Connection: close\r\n")).unwrap();
    let mut body = Vec::new();
    s.read_to_end(&mut body)
        .unwrap_or_else(|e| panic!("read to close_notify from {addr}: {e}"));
    body
}

/// `HELLO` with `Connection: close`: what `GET /` with that header gets.
fn hello_close() -> Vec<u8> {
    let body = b"Hello, World!";
    let mut v = format!(
        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v
}

/// Python's `ssl` client: verifies against `ca` as "localhost", offers the ALPN
/// protocols given (comma-separated, or none), sends `payload` (escaped bytes) and reads
/// `want` bytes back (0: until the close). Prints the version and ALPN, then the bytes.
const PY_CLIENT: &str = r#"
import socket, ssl, sys
port, ca, alpn, payload, want = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
ctx = ssl.create_default_context(cafile=ca)
if alpn:
    ctx.set_alpn_protocols(alpn.split(","))
data = b""
with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        head = "%s %s" % (s.version(), s.selected_alpn_protocol())
        s.sendall(payload.encode().decode("unicode_escape").encode("latin-1"))
        while want == 0 or len(data) < want:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            if len(data) > 1 << 20:
                break
sys.stdout.write(head + "\n")
sys.stdout.buffer.write(data)
"#;

/// Run [`PY_CLIENT`]; its first line and the bytes it read.
fn python_tls(
    pki: &Pki,
    addr: SocketAddr,
    alpn: &str,
    payload: &str,
    want: usize,
) -> (String, String) {
    let port = addr.port().to_string();
    let ca = pki.ca();
    let want = want.to_string();
    let args = [
        "-c",
        PY_CLIENT,
        &port,
        ca.to_str().unwrap(),
        alpn,
        payload,
        &want,
    ];
    let r = run_tool("python3", &args, b"");
    assert!(r.status.success(), "python ssl client failed: {}", r.stderr);
    let (head, rest) = r.stdout.split_once('\n').unwrap();
    (head.to_string(), rest.to_string())
}

fn shutdown_checked(srv: TestServer) -> ServerStats {
    let stats = srv.shutdown();
    assert_stats_consistent(&stats);
    stats
}

// ---------------------------------------------------------------------------------------
// 1. Third-party clients

#[test]
fn curl_verifies_the_certificate_and_gets_the_page() {
    if !have_curl() {
        return;
    }
    let pki = Pki::new("curl");
    let (srv, tls) = start_tls(&pki, ProtoKind::Http, |_| {});
    let port = tls.port();
    let ca = pki.ca();
    let resolve = format!("localhost:{port}:127.0.0.1");
    let by_name = format!("https://localhost:{port}/");
    let by_ip = format!("https://127.0.0.1:{port}/");
    for url in [&by_name, &by_ip] {
        let args = [
            "-sS",
            "--max-time",
            "10",
            "--cacert",
            ca.to_str().unwrap(),
            "--resolve",
            &resolve,
            "-w",
            "\n%{http_version} %{ssl_verify_result}",
            url,
        ];
        let r = run_tool("curl", &args, b"");
        assert!(r.status.success(), "curl {url}: {}", r.stderr);
        assert_eq!(r.stdout, "Hello, World!\n1.1 0", "curl {url}");
    }
    // Without the CA the certificate cannot be verified: curl refuses it (exit 60) and
    // tells the server with an alert.
    let r = run_tool("curl", &["-sS", "--max-time", "10", &by_ip], b"");
    assert_eq!(
        r.status.code(),
        Some(60),
        "curl without --cacert: {}",
        r.stderr
    );
    let stats = shutdown_checked(srv);
    assert_eq!(stats.http.requests, 2, "{}", stats.line());
    assert_eq!(stats.tls.full, 2, "{:?}", stats.tls);
    assert_eq!(
        stats.tls.failed_for(Failure::PeerAlert),
        1,
        "{:?}",
        stats.tls
    );
}

#[test]
fn openssl_s_client_verifies_and_resumes_on_tls12_and_tls13() {
    if !have_openssl() {
        return;
    }
    let pki = Pki::new("s-client");
    let (srv, tls) = start_tls(&pki, ProtoKind::Http, |_| {});
    let connect_to = tls.to_string();
    let ca = pki.ca();
    let request = get("/", "Connection: close\r\n");
    for (flag, version) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let sess = pki.dir.join(format!("session{flag}.pem"));
        let sess = sess.to_str().unwrap();
        let s_client = |keep: &str, file: &str| {
            let args = [
                "s_client",
                "-connect",
                &connect_to,
                "-servername",
                "localhost",
                "-CAfile",
                ca.to_str().unwrap(),
                "-verify_return_error",
                flag,
                keep,
                file,
                "-ign_eof",
            ];
            let r = run_tool("openssl", &args, &request);
            assert!(
                r.status.success(),
                "s_client {flag} {keep}: {}{}",
                r.stdout,
                r.stderr
            );
            assert!(
                r.stdout.contains("Verify return code: 0 (ok)"),
                "{flag} {keep}: {}",
                r.stdout
            );
            assert!(
                r.stdout.contains("Hello, World!"),
                "{flag} {keep}: {}",
                r.stdout
            );
            r.stdout
        };
        let first = s_client("-sess_out", sess);
        assert!(
            first.contains(&format!("New, {version}")),
            "{flag}: {first}"
        );
        let second = s_client("-sess_in", sess);
        assert!(
            second.contains(&format!("Reused, {version}")),
            "{flag}: the second connection resumes: {second}"
        );
    }
    let stats = shutdown_checked(srv);
    assert_eq!(
        (stats.tls.full, stats.tls.resumed),
        (2, 2),
        "{:?}",
        stats.tls
    );
    assert_eq!(stats.tls.failed_total(), 0, "{:?}", stats.tls);
    assert_eq!(stats.http.requests, 4);
}

#[test]
fn wrk_over_https_gets_answers_without_socket_errors() {
    if !have_wrk() {
        return;
    }
    let pki = Pki::new("wrk");
    let (srv, tls) = start_tls(&pki, ProtoKind::Http, |_| {});
    let url = format!("https://127.0.0.1:{}/", tls.port());
    let r = run_tool(
        "wrk",
        &["-t1", "-c10", "-d1s", "--timeout", "5s", &url],
        b"",
    );
    assert!(r.status.success(), "wrk: {}{}", r.stdout, r.stderr);
    let requests: u64 = r
        .stdout
        .lines()
        .find_map(|l| l.trim().split_once(" requests in ")?.0.parse().ok())
        .unwrap_or_else(|| panic!("no request count in wrk's output: {}", r.stdout));
    assert!(requests > 0, "{}", r.stdout);
    assert!(!r.stdout.contains("Socket errors"), "{}", r.stdout);
    assert!(!r.stdout.contains("Non-2xx"), "{}", r.stdout);
    let stats = shutdown_checked(srv);
    assert!(
        stats.http.requests >= requests,
        "{} < {requests}",
        stats.http.requests
    );
    assert!(
        stats.tls.full >= 10,
        "one handshake per connection: {:?}",
        stats.tls
    );
    // wrk connects once and closes before it starts (its check that the target is
    // there): that connection sent nothing, and is counted as a handshake ended by EOF.
    // Nothing else failed.
    let eof = stats.tls.failed_for(Failure::Eof);
    assert_eq!(stats.tls.failed_total(), eof, "{:?}", stats.tls);
    assert!(eof <= 1, "{:?}", stats.tls);
}

#[test]
fn python_ssl_verifies_and_negotiates_alpn_http11() {
    if !have_python_ssl() {
        return;
    }
    let pki = Pki::new("python");
    let (srv, tls) = start_tls(&pki, ProtoKind::Http, |_| {});
    let req = r"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let (head, body) = python_tls(&pki, tls, "http/1.1", req, 0);
    assert_eq!(head, "TLSv1.3 http/1.1");
    assert_eq!(body.as_bytes(), hello_close());
    let stats = shutdown_checked(srv);
    assert_eq!((stats.tls.full, stats.http.requests), (1, 1));
}

// ---------------------------------------------------------------------------------------
// 2. Plain and TLS side by side

#[test]
fn plain_and_tls_listeners_side_by_side_http() {
    let pki = Pki::new("side-http");
    let (srv, tls) = start_tls(&pki, ProtoKind::Http, |_| {});
    let client = rustls_client(&pki);
    for _ in 0..2 {
        let mut c = HttpConn::connect(srv.addr);
        assert_eq!(c.request(&get("/", "")).raw(), HELLO);
        assert_eq!(rustls_get(&client, tls), hello_close());
    }
    // TLS bytes on the plain port are not TLS there: HTTP answers them 400.
    let mut c = HttpConn::connect(srv.addr);
    let hello = client_hello(&pki);
    c.send(&hello);
    assert_eq!(c.read_head().unwrap().status, 400);
    let stats = shutdown_checked(srv);
    assert_eq!(stats.tls.full, 2, "{:?}", stats.tls);
    assert_eq!(stats.http.requests, 4, "{}", stats.line());
    assert_eq!(stats.tls.failed_total(), 0);
}

#[test]
fn plain_and_tls_listeners_side_by_side_echo() {
    if !have_python_ssl() {
        return;
    }
    let pki = Pki::new("side-echo");
    let (srv, tls) = start_tls(&pki, ProtoKind::Echo, |_| {});
    let mut plain = connect(srv.addr);
    echo_roundtrip(&mut plain, b"plain echo");
    // 40 KB: more than a record, echoed in full.
    let payload = "over tls ".repeat(4500);
    let (head, back) = python_tls(&pki, tls, "", &payload, payload.len());
    assert_eq!(head, "TLSv1.3 None", "echo offers no ALPN");
    assert!(
        back == payload,
        "echo over TLS returned {} bytes",
        back.len()
    );
    echo_roundtrip(&mut plain, b"still plain");
    drop(plain);
    let stats = shutdown_checked(srv);
    assert_eq!(stats.tls.full, 1, "{:?}", stats.tls);
}

// ---------------------------------------------------------------------------------------
// 3. A flood of unfinished handshakes

/// A ClientHello as rustls sends it, for the test's CA and "localhost".
fn client_hello(pki: &Pki) -> Vec<u8> {
    let cfg = rustls_client(pki);
    let mut c = rustls::ClientConnection::new(cfg, "localhost".try_into().unwrap()).unwrap();
    let mut hello = Vec::new();
    c.write_tls(&mut hello).unwrap();
    assert_eq!(hello[0], 0x16, "a handshake record");
    hello
}

/// VmRSS of process `pid`, in bytes.
fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS in /proc/PID/status");
    kb * 1024
}

/// Flood connections: most send half a ClientHello and wait; every `FULL_EVERY`th sends
/// a whole one, which the server answers (a key exchange and a signature: a few
/// milliseconds each in a debug build) and then waits for a Finished that never comes.
const FLOOD: usize = 3000;
const FULL_EVERY: usize = 10;

/// Most resident memory (VmRSS of the server process) a held flood connection may add.
/// Measured on the debug build: 2,500 bytes each for this mix (2,300 with half
/// ClientHellos only, 4,250 with whole ones only: the handshake's state once the server
/// has answered); the bound is 3x the mix.
const FLOOD_RSS_PER_CONN: u64 = 7_500;

#[test]
fn handshake_flood_times_out_while_real_clients_are_served() {
    // The test process holds FLOOD sockets and the server FLOOD more, within ulimit -n.
    let room = nofile_soft().saturating_sub(open_fds() as u64);
    assert!(
        room > FLOOD as u64 + 500,
        "ulimit -n {} is too low for {FLOOD} connections",
        nofile_soft()
    );
    let pki = Pki::new("flood");
    let flags = pki.flags();
    let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
    args.extend(["--header-timeout", "5s", "--admin", "127.0.0.1:0"]);
    let mut srv = spawn_bin(&args);
    let tls = bin_tls_addr(&srv);
    let admin = bin_admin_addr(&srv);
    let client = rustls_client(&pki);
    // Warm: one full handshake and request, so what the first one allocates is in.
    assert_eq!(rustls_get(&client, tls), hello_close());
    let before = rss_of(srv.pid());

    let hello = client_hello(&pki);
    let half = &hello[..hello.len() / 2];
    let base_in = num(&try_admin_stats(admin).unwrap(), &["stats", "bytes_in"]);
    let started = std::time::Instant::now();
    let mut flood = Vec::with_capacity(FLOOD);
    let mut sent = 0u64;
    for i in 0..FLOOD {
        let mut s = connect(tls);
        let bytes = if i % FULL_EVERY == 0 {
            &hello[..]
        } else {
            half
        };
        s.write_all(bytes).unwrap();
        sent += bytes.len() as u64;
        flood.push(s);
    }
    // Held: every flood connection accepted and its bytes read.
    let held = wait_for(T, "the flood accepted and read", || {
        let j = try_admin_stats(admin)?;
        let read = num(&j, &["stats", "bytes_in"]) - base_in;
        (read >= sent).then(|| num(&j, &["stats", "active"]))
    });
    let during = rss_of(srv.pid());
    eprintln!("flood: read in {:?}", started.elapsed());
    // Fewer held (the header timeout already at work on a slow machine) only makes the
    // figure per connection larger: the allocator keeps what the closed ones used.
    assert!(
        held > FLOOD as u64 / 2,
        "only {held} of {FLOOD} held at once"
    );
    let per_conn = during.saturating_sub(before) / held;
    eprintln!(
        "flood: {held} held, VmRSS {before} -> {during} bytes, {per_conn} bytes per connection"
    );

    // A real client is served meanwhile.
    assert_eq!(rustls_get(&client, tls), hello_close());

    // The header timeout closes every flood connection.
    let j = wait_for(T, "the flood closed by the header timeout", || {
        let j = try_admin_stats(admin)?;
        (num(&j, &["stats", "closed", "header_timeout"]) >= FLOOD as u64).then_some(j)
    });
    assert_eq!(
        num(&j, &["stats", "closed", "header_timeout"]),
        FLOOD as u64,
        "{j}"
    );
    assert_eq!(num(&j, &["stats", "active"]), 0, "{j}");
    assert_eq!(num(&j, &["stats", "tls", "handshakes_full"]), 2, "{j}");
    eprintln!("flood: tls {}", j["stats"]["tls"]);
    // Each flood socket sees the close.
    for s in &mut flood {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        read_to_end_or_reset(s, 1 << 20).expect("the server closed the flood connection");
    }
    let after = rss_of(srv.pid());
    eprintln!("flood: VmRSS after the close {after} bytes");
    assert!(
        per_conn <= FLOOD_RSS_PER_CONN,
        "{per_conn} bytes of VmRSS per held handshake (bound {FLOOD_RSS_PER_CONN})"
    );
    drop(flood);
    srv.signal(libc::SIGTERM);
    let st = srv.wait_exit(T).expect("exit after SIGTERM");
    assert_eq!(st.code(), Some(0), "{}", srv.stderr_text());
}

// ---------------------------------------------------------------------------------------
// 4. Garbage instead of a ClientHello

#[test]
fn garbage_instead_of_a_client_hello_gets_an_alert_and_is_counted() {
    let pki = Pki::new("garbage");
    let (srv, tls) = start_tls(&pki, ProtoKind::Http, |c| {
        c.admin = Some("127.0.0.1:0".parse().unwrap());
    });
    let mut s = connect(tls);
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let (back, _reset) = read_to_end_or_reset(&mut s, 1 << 16).expect("an alert, then the close");
    // An alert record: type 21, version 3.x, two bytes: fatal (2) and a description.
    assert_eq!(back.first(), Some(&0x15), "{back:?}");
    assert_eq!(back.len(), 7, "one alert record and nothing else: {back:?}");
    assert_eq!(
        (back[1], back[3], back[4], back[5]),
        (3, 0, 2, 2),
        "{back:?}"
    );
    let stats = shutdown_checked(srv);
    assert_eq!(
        stats.tls.failed_for(Failure::Malformed),
        1,
        "{:?}",
        stats.tls
    );
    assert_eq!(stats.tls.failed_total(), 1, "{:?}", stats.tls);
    assert_eq!(stats.http.requests, 0, "the garbage never reached HTTP");
}

#[test]
fn garbage_is_counted_in_the_admin_json() {
    let pki = Pki::new("garbage-admin");
    let flags = pki.flags();
    let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
    args.extend(["--admin", "127.0.0.1:0"]);
    let mut srv = spawn_bin(&args);
    let tls = bin_tls_addr(&srv);
    let admin = bin_admin_addr(&srv);
    let mut s = connect(tls);
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let (back, _reset) = read_to_end_or_reset(&mut s, 1 << 16).expect("an alert, then the close");
    assert_eq!(back.first(), Some(&0x15), "{back:?}");
    let j = wait_for(T, "the failure in /stats", || {
        let j = try_admin_stats(admin)?;
        (num(&j, &["stats", "tls", "handshakes_failed", "malformed"]) > 0).then_some(j)
    });
    assert_eq!(
        num(&j, &["stats", "tls", "handshakes_failed", "malformed"]),
        1,
        "{j}"
    );
    assert_eq!(num(&j, &["stats", "tls", "handshakes_full"]), 0, "{j}");
    srv.signal(libc::SIGTERM);
    let st = srv.wait_exit(T).expect("exit after SIGTERM");
    assert_eq!(st.code(), Some(0), "{}", srv.stderr_text());
}

// ---------------------------------------------------------------------------------------
// 5. SIGHUP

#[test]
fn sighup_reloads_the_certificate_and_refuses_a_broken_one() {
    let mut pki = Pki::new("sighup");
    let flags = pki.flags();
    let args: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut srv = spawn_bin(&args);
    let tls = bin_tls_addr(&srv);
    let client = rustls_client(&pki);
    let first = pki.leaf.clone();
    assert!(
        served_leaf(&client, tls) == first,
        "the first certificate is served"
    );

    pki.write_leaf(2, "readyloop second");
    let second = pki.leaf.clone();
    assert!(second != first);
    srv.signal(libc::SIGHUP);
    let reloaded = format!(
        "readyloop: SIGHUP: certificate reloaded from {}",
        pki.cert().display()
    );
    wait_until(T, "the reload line", || {
        srv.stderr_text().contains(&reloaded)
    });
    assert!(
        served_leaf(&client, tls) == second,
        "a new connection gets the new certificate"
    );

    std::fs::write(pki.cert(), "not a certificate\n").unwrap();
    srv.signal(libc::SIGHUP);
    let refused = "readyloop: SIGHUP: reload refused, the old certificate stays: ";
    let line = wait_for(T, "the refusal line", || {
        srv.stderr_text()
            .lines()
            .find(|l| l.starts_with(refused))
            .map(str::to_string)
    });
    assert!(
        line.contains(pki.cert().to_str().unwrap()),
        "the refusal names the file: {line}"
    );
    assert!(
        served_leaf(&client, tls) == second,
        "the second certificate stays"
    );
    assert!(srv.child.try_wait().unwrap().is_none(), "still serving");
    srv.signal(libc::SIGTERM);
    let st = srv.wait_exit(T).expect("exit after SIGTERM");
    assert_eq!(st.code(), Some(0), "{}", srv.stderr_text());
}

// ---------------------------------------------------------------------------------------
// 6. Usage

#[test]
fn tls_listener_without_a_certificate_exits_2_with_one_line() {
    for (args, says) in [
        (&["--listen", "tls://127.0.0.1:0"][..], "--tls-cert"),
        (
            &["--listen", "tls://127.0.0.1:0", "--tls-cert", "cert.pem"][..],
            "go together",
        ),
    ] {
        let (st, out, err) = run_bin(args, T);
        assert_eq!(st.code(), Some(2), "{args:?}: {err:?}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line, got {err:?}");
        assert!(
            err.starts_with("readyloop: ") && err.contains(says),
            "{args:?}: {err:?}"
        );
        assert!(out.is_empty(), "{args:?}: {out:?}");
    }
}

#[test]
fn missing_certificate_file_exits_1_naming_it() {
    let pki = Pki::new("missing");
    let gone = pki.dir.join("nope.pem");
    let gone = gone.to_str().unwrap();
    let key = pki.key();
    let args = [
        "--listen",
        "tls://127.0.0.1:0",
        "--tls-cert",
        gone,
        "--tls-key",
        key.to_str().unwrap(),
    ];
    let (st, out, err) = run_bin(&args, T);
    assert_eq!(st.code(), Some(1), "{err:?}");
    assert_eq!(err.lines().count(), 1, "one line, got {err:?}");
    assert!(err.contains(gone), "names the file: {err:?}");
    assert!(!out.contains("listening"), "{out:?}");
}

// ---------------------------------------------------------------------------------------
// Found by these tests, each failing before its fix

/// Every TLS connection's handshake ends as done or failed: one that the header timeout
/// cut is a failed handshake too, as one the peer closed is (`eof`).
#[test]
fn handshake_cut_by_the_header_timeout_is_counted_as_failed() {
    let pki = Pki::new("timeout-count");
    let (srv, tls) = start_tls(&pki, ProtoKind::Http, |c| {
        c.reactor.limits.header_timeout = Some(Duration::from_millis(200));
    });
    let hello = client_hello(&pki);
    let mut s = connect(tls);
    s.write_all(&hello[..hello.len() / 2]).unwrap();
    read_to_end_or_reset(&mut s, 1 << 16).expect("closed by the header timeout");
    let stats = shutdown_checked(srv);
    assert_eq!(
        stats.conns.closed(CloseReason::HeaderTimeout),
        1,
        "{}",
        stats.line()
    );
    assert_eq!(
        stats.tls.full + stats.tls.resumed + stats.tls.failed_total(),
        1,
        "the handshake is accounted for: {:?}",
        stats.tls
    );
}

/// A connection whose handshake is done waits on the idle clock, not on the header
/// clock its handshake ran on. Found by the TLS probe: the header deadline stayed, so
/// held connections were closed `--header-timeout` after their accept, counted as idle
/// timeouts.
#[test]
fn after_the_handshake_the_idle_clock_runs_not_the_header_clock() {
    let pki = Pki::new("clock");
    let (srv, tls) = start_tls(&pki, ProtoKind::Http, |c| {
        c.reactor.limits.header_timeout = Some(Duration::from_millis(300));
        c.reactor.limits.idle_timeout = Some(Duration::from_secs(30));
    });
    let cfg = rustls_client(&pki);
    let mut s = rustls_connect(&cfg, tls);
    // Well past the header timeout, well within the idle one.
    std::thread::sleep(Duration::from_millis(900));
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).expect("an answer, not a close");
    assert_eq!(&buf, b"HTTP/1.1 200");
    drop(s);
    // The same without TLS: a request that came in two pieces ran the header clock;
    // once answered, the connection waits on the idle clock.
    let mut p = connect(srv.addr);
    p.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    p.write_all(b"Host: x\r\n\r\n").unwrap();
    p.read_exact(&mut buf).expect("the first answer");
    let mut rest = [0u8; 40]; // the 52-byte answer: "Hello, World!" and its head
    p.read_exact(&mut rest).expect("the rest of it");
    std::thread::sleep(Duration::from_millis(900));
    p.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    p.read_exact(&mut buf)
        .expect("a second answer, not a close");
    assert_eq!(&buf, b"HTTP/1.1 200");
    drop(p);
    let stats = shutdown_checked(srv);
    assert_eq!(
        stats.conns.closed(CloseReason::IdleTimeout),
        0,
        "{}",
        stats.line()
    );
    assert_eq!(
        stats.conns.closed(CloseReason::HeaderTimeout),
        0,
        "{}",
        stats.line()
    );
}

/// The admin's `/stats` lists where the server listens: its `tls://` listeners too.
#[test]
fn admin_lists_the_tls_listeners() {
    let pki = Pki::new("admin-listen");
    let flags = pki.flags();
    let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
    args.extend(["--admin", "127.0.0.1:0"]);
    let srv = spawn_bin(&args);
    let tls = bin_tls_addr(&srv);
    let admin = bin_admin_addr(&srv);
    let j = wait_for(T, "/stats", || try_admin_stats(admin));
    let listen: Vec<&str> = j["listen"]
        .as_array()
        .expect("listen is a list")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        listen.contains(&srv.addr.to_string().as_str()),
        "{listen:?}"
    );
    assert!(
        listen.contains(&format!("tls://{tls}").as_str()),
        "{listen:?}"
    );
}

/// Echo over TLS: what a client sends before its close_notify is all echoed before the
/// server's. 256 KiB is far more than one event's output budget (32 KiB), so the layer
/// holds decrypted input back while the close_notify behind it is already read.
#[test]
fn echo_over_tls_answers_everything_before_the_close_notify() {
    let pki = Pki::new("echo-close");
    let (srv, tls) = start_tls(&pki, ProtoKind::Echo, |_| {});
    let data: Vec<u8> = (0..256 * 1024u32).map(|i| (i % 251) as u8).collect();
    let mut s = rustls_connect(&rustls_client(&pki), tls);
    // Every record and the close_notify made first, written by another thread while
    // this one reads (the echo would fill the socket buffers of a single-threaded
    // client).
    let mut wire = Vec::new();
    for chunk in data.chunks(16 * 1024) {
        s.conn.writer().write_all(chunk).unwrap();
        while s.conn.wants_write() {
            s.conn.write_tls(&mut wire).unwrap();
        }
    }
    s.conn.send_close_notify();
    while s.conn.wants_write() {
        s.conn.write_tls(&mut wire).unwrap();
    }
    let mut w = s.sock.try_clone().unwrap();
    let writer = std::thread::spawn(move || w.write_all(&wire));
    let mut back = Vec::new();
    let end = s.read_to_end(&mut back);
    writer.join().unwrap().expect("the records written");
    end.unwrap_or_else(|e| panic!("after {} of {} bytes: {e}", back.len(), data.len()));
    assert_eq!(
        back.len(),
        data.len(),
        "echoed before the server's close_notify"
    );
    assert!(back == data);
    drop(srv);
}
