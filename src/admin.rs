//! The admin listener: the server's statistics as JSON over HTTP (`GET /stats`).
//!
//! It runs on its own small thread with blocking std sockets, not in the reactor:
//! admin traffic is a request now and then, and keeping it apart means a reactor that is
//! busy, or a listener paused at the descriptor limit, does not stop the statistics from
//! being read. The thread asks the reactor for a [`Snapshot`](crate::Snapshot) through its [`Handle`]
//! (the reactor answers between events; nothing is added to its hot path) and adds what
//! any thread can read about the process: descriptors open, RSS, the fd limit.
//!
//! `fds_open` counts every descriptor of the process while the request is served: the
//! server's own (poller, waker, listeners, signal pipe, this listener), its connections
//! and this request's socket, but not the 4 spare descriptors the thread frees to serve
//! (`admin_spares` says how many it held). At rest the process holds `fds_open - 1 +
//! admin_spares`: what readyloop's start-up line counts as "fds open once started".
//!
//! One connection at a time, one request per connection (`Connection: close`); a request
//! is bounded to [`MAX_REQUEST`] bytes and [`REQUEST_TIMEOUT`]. The thread ends when the
//! reactor will answer no more ([`Handle::is_closed`]), noticed within [`POLL_INTERVAL`].
//!
//! ```
//! use readyloop::server::{ProtoKind, Server, ServerConfig};
//! use std::io::{Read, Write};
//! let cfg = ServerConfig {
//!     listen: vec!["127.0.0.1:0".parse().unwrap()],
//!     admin: Some("127.0.0.1:0".parse().unwrap()),
//!     proto: ProtoKind::Echo,
//!     ..ServerConfig::default()
//! };
//! let server = Server::bind(cfg)?;
//! let admin = server.admin_addr().expect("admin configured");
//! let handle = server.handle();
//! let t = std::thread::spawn(move || server.run());
//!
//! let mut c = std::net::TcpStream::connect(admin)?;
//! c.write_all(b"GET /stats HTTP/1.1\r\nHost: x\r\n\r\n")?;
//! let mut resp = String::new();
//! c.read_to_string(&mut resp)?;
//! assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"));
//! assert!(resp.contains("\"fds_open\""));
//!
//! handle.shutdown();
//! t.join().unwrap()?;
//! # Ok::<(), std::io::Error>(())
//! ```

use crate::limits;
use crate::protocol::HttpCounters;
use crate::reactor::Handle;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the idle admin thread checks whether the reactor is gone, and how long it
/// backs off after an accept error (EMFILE: the connection stays queued, so retrying at
/// once would spin).
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Most bytes read of one request (line and headers); more is answered with 431.
pub const MAX_REQUEST: usize = 4096;

/// Longest time one request may take to arrive, and one response to be written: the
/// thread serves one connection at a time, so a silent client must not hold it long.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// How long `GET /stats` waits for the reactor's snapshot before answering 503.
pub const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(1);

/// After the response, how long to read and drop what the client still sends before
/// closing (closing with unread input makes Linux send RST, which can destroy the
/// response in flight).
const LINGER: Duration = Duration::from_millis(250);

/// The facts `GET /stats` reports beside the snapshot.
#[derive(Clone, Debug)]
pub(crate) struct AdminInfo {
    /// The server's own counters (requests), as of the reactor's last turn.
    pub counters: Arc<Published>,
    /// The server's bound listen addresses, as `--listen` takes them (`tls://` for the
    /// TLS listeners).
    pub listen: Vec<String>,
    /// The protocol it speaks (`http`, `echo`, ...).
    pub proto: String,
    /// The server's version.
    pub version: String,
    /// When the server started (for `uptime_s`).
    pub started: Instant,
}

/// The server's own counters, copied from the reactor's context at the end of every
/// turn so the admin thread can read them (two relaxed stores a turn). The admin owns
/// the type: it is what this thread reads; the server only writes it.
#[derive(Debug, Default)]
pub(crate) struct Published {
    requests: AtomicU64,
    protocol_errors: AtomicU64,
    tls: std::sync::Mutex<crate::tls::TlsStats>,
}

impl Published {
    /// Publish the counters as of this turn's end (the server's `Host::after_turn`).
    pub(crate) fn store(&self, c: &HttpCounters, tls: &crate::tls::TlsStats) {
        self.requests.store(c.requests, Ordering::Relaxed);
        self.protocol_errors
            .store(c.protocol_errors, Ordering::Relaxed);
        // Held only for a copy, by the reactor and the admin thread; a poisoned lock
        // (a panic while copying) still holds a whole value.
        match self.tls.lock() {
            Ok(mut t) => *t = *tls,
            Err(p) => *p.into_inner() = *tls,
        }
    }

    /// Add the counters to a stats JSON object (the admin's `/stats`).
    pub(crate) fn add_to(&self, j: &mut serde_json::Value) {
        add_http_counters(
            j,
            HttpCounters {
                requests: self.requests.load(Ordering::Relaxed),
                protocol_errors: self.protocol_errors.load(Ordering::Relaxed),
            },
        );
        let tls = match self.tls.lock() {
            Ok(t) => *t,
            Err(p) => *p.into_inner(),
        };
        j["tls"] = tls_json(&tls);
    }
}

/// Add the server's request counters to a stats JSON object, beside the reactor's:
/// `requests` and `protocol_errors`. One shape for `/stats` and for the server's own
/// stats lines (`ServerStats::to_json`).
pub(crate) fn add_http_counters(j: &mut serde_json::Value, http: HttpCounters) {
    if let serde_json::Value::Object(m) = j {
        m.insert("requests".into(), http.requests.into());
        m.insert("protocol_errors".into(), http.protocol_errors.into());
    }
}

/// The TLS counters as JSON: handshakes by kind, failures by reason, their time.
pub(crate) fn tls_json(t: &crate::tls::TlsStats) -> serde_json::Value {
    let failed: serde_json::Map<String, serde_json::Value> = crate::tls::Failure::ALL
        .iter()
        .map(|f| (f.name().to_string(), t.failed_for(*f).into()))
        .collect();
    serde_json::json!({
        "handshakes_full": t.full,
        "handshakes_resumed": t.resumed,
        "handshakes_failed": failed,
        "handshake_mean_us": t.mean().map(|d| d.as_micros() as u64),
        "handshake_max_us": t.handshake_max_us,
        "broken_after_handshake": t.broken,
    })
}

/// Bind `addr` and serve the admin endpoints on a new thread (`readyloop-admin`).
///
/// Returns the bound address (port 0 resolved) and the thread, which ends on its own
/// once `handle`'s reactor is done ([`Handle::is_closed`]): join it after that.
pub(crate) fn spawn(
    addr: SocketAddr,
    handle: Handle,
    info: AdminInfo,
) -> io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr)?;
    // Nonblocking so the thread can look at the reactor every POLL_INTERVAL instead of
    // sitting in accept() forever.
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    // Taken here, not on the thread: once the server is bound every descriptor of its
    // own is open, so the start-up line's count is not racing the thread.
    let mut spares = Vec::with_capacity(SPARE_FDS);
    take_spares(&mut spares);
    let join = std::thread::Builder::new()
        .name("readyloop-admin".into())
        .spawn(move || serve(listener, spares, &handle, &info, bound))?;
    Ok((bound, join))
}

/// Descriptors the admin thread keeps in reserve: a server at its fd limit is exactly
/// when its statistics matter, so the admin closes these to accept and answer (the
/// socket, /proc/self/fd, /proc/self/status), then takes them back.
const SPARE_FDS: usize = 4;

fn take_spares(spares: &mut Vec<std::fs::File>) {
    while spares.len() < SPARE_FDS {
        match std::fs::File::open("/dev/null") {
            Ok(f) => spares.push(f),
            Err(_) => break, // still at the limit: try again after the next request
        }
    }
}

fn serve(
    listener: TcpListener,
    mut spares: Vec<std::fs::File>,
    handle: &Handle,
    info: &AdminInfo,
    bound: SocketAddr,
) {
    while !handle.is_closed() {
        wait_readable(&listener, POLL_INTERVAL);
        // A request is served holding the process's descriptor gate, with the spares
        // freed: the reactor does not accept meanwhile, so the descriptors this thread
        // frees are the ones it gets (the socket, /proc/self/fd, /proc/self/status), and
        // it takes all its spares back before any reactor accepts again. Without the
        // gate the reactor's accept retries took them first.
        let accepted = match listener.accept() {
            Ok(x) => Some(x.0),
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.kind() == io::ErrorKind::Interrupted =>
            {
                continue
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => None,
            // ENOMEM, ECONNABORTED: the thread must outlive them all.
            Err(_) => {
                std::thread::sleep(POLL_INTERVAL);
                continue;
            }
        };
        let gate = crate::reject::gate_exclusive();
        let held = spares.len();
        spares.clear();
        let stream = match accepted {
            Some(s) => Some(s),
            None => listener.accept().ok().map(|x| x.0),
        };
        if let Some(stream) = stream {
            serve_conn(stream, handle, info, bound, held);
        }
        take_spares(&mut spares);
        drop(gate);
        if stream_missing(held, &spares) {
            // Still at the limit without spares: let descriptors free before retrying.
            std::thread::sleep(POLL_INTERVAL);
        }
    }
}

/// No spare could be taken back (the process is at its limit and had none).
fn stream_missing(held: usize, spares: &[std::fs::File]) -> bool {
    held == 0 && spares.is_empty()
}

/// Wait until the listener has a connection or `timeout` passes. Any outcome (ready,
/// timeout, EINTR, error) is followed by a nonblocking accept that tells which it was.
fn wait_readable(listener: &TcpListener, timeout: Duration) {
    let mut pfd = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: `pfd` is one valid pollfd living across the call, and its descriptor stays
    // open (the listener is borrowed) until poll returns.
    let _ = unsafe { libc::poll(&mut pfd, 1, ms) };
}

/// A parsed request: only what routing needs.
struct Request {
    method: String,
    path: String,
}

/// Why no request could be read.
enum ReadError {
    /// Not HTTP: 400.
    Bad,
    /// Over [`MAX_REQUEST`] or too many headers: 431.
    TooLarge,
    /// No complete request within [`REQUEST_TIMEOUT`]: 408.
    Timeout,
    /// The client closed or the socket failed: nobody to answer.
    Gone,
}

fn serve_conn(
    mut s: TcpStream,
    handle: &Handle,
    info: &AdminInfo,
    bound: SocketAddr,
    spares: usize,
) {
    // Linux does not pass O_NONBLOCK from the listener to accepted sockets, but do not
    // rely on it: the reads below need blocking with timeouts.
    if s.set_nonblocking(false).is_err() || s.set_write_timeout(Some(REQUEST_TIMEOUT)).is_err() {
        return;
    }
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    let (resp, head_only) = match read_request(&mut s, deadline) {
        Ok(req) => (
            route(&req, handle, info, bound, spares),
            req.method == "HEAD",
        ),
        Err(ReadError::Bad) => (Response::text(400, "Bad Request", "bad request\n"), false),
        Err(ReadError::TooLarge) => (
            Response::text(
                431,
                "Request Header Fields Too Large",
                "request too large\n",
            ),
            false,
        ),
        Err(ReadError::Timeout) => (
            Response::text(408, "Request Timeout", "request timeout\n"),
            false,
        ),
        Err(ReadError::Gone) => return,
    };
    if s.write_all(&resp.to_bytes(head_only)).is_err() {
        return;
    }
    linger_close(s);
}

fn read_request(s: &mut TcpStream, deadline: Instant) -> Result<Request, ReadError> {
    let mut buf = [0u8; MAX_REQUEST];
    let mut len = 0;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf[..len]) {
            Ok(httparse::Status::Complete(_)) => {
                return match (req.method, req.path) {
                    (Some(m), Some(p)) => Ok(Request {
                        method: m.to_string(),
                        path: p.to_string(),
                    }),
                    _ => Err(ReadError::Bad),
                };
            }
            Ok(httparse::Status::Partial) => {}
            Err(httparse::Error::TooManyHeaders) => return Err(ReadError::TooLarge),
            Err(_) => return Err(ReadError::Bad),
        }
        if len == buf.len() {
            return Err(ReadError::TooLarge);
        }
        // The timeout shrinks with every read, so a client dribbling a byte at a time
        // still gets REQUEST_TIMEOUT in total, not per byte.
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ReadError::Timeout);
        }
        if s.set_read_timeout(Some(left)).is_err() {
            return Err(ReadError::Gone);
        }
        match s.read(&mut buf[len..]) {
            Ok(0) => return Err(ReadError::Gone),
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut =>
            {
                return Err(ReadError::Timeout)
            }
            Err(_) => return Err(ReadError::Gone),
        }
    }
}

/// Half-close, then read and drop what the client still sends (bounded in time and
/// bytes) so the close does not turn into a reset that eats the response.
fn linger_close(mut s: TcpStream) {
    if s.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER;
    let mut sink = [0u8; 1024];
    let mut dropped = 0usize;
    while dropped < 64 * 1024 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || s.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match s.read(&mut sink) {
            Ok(0) => return,
            Ok(n) => dropped += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

struct Response {
    status: u16,
    reason: &'static str,
    content_type: &'static str,
    extra: &'static str,
    body: Vec<u8>,
}

impl Response {
    fn text(status: u16, reason: &'static str, body: &str) -> Response {
        Response {
            status,
            reason,
            content_type: "text/plain; charset=utf-8",
            extra: "",
            body: body.as_bytes().to_vec(),
        }
    }

    fn json(status: u16, reason: &'static str, v: &serde_json::Value) -> Response {
        let mut body = v.to_string().into_bytes();
        body.push(b'\n');
        Response {
            status,
            reason,
            content_type: "application/json",
            extra: "",
            body,
        }
    }

    fn to_bytes(&self, head_only: bool) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n{}\r\n",
            self.status,
            self.reason,
            self.content_type,
            self.body.len(),
            self.extra
        )
        .into_bytes();
        if !head_only {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

const INDEX: &str = "readyloop admin\n\nGET /stats  JSON: connections, descriptors, RSS, buffer pool, timers, counters\n";

fn route(
    req: &Request,
    handle: &Handle,
    info: &AdminInfo,
    bound: SocketAddr,
    spares: usize,
) -> Response {
    if req.method != "GET" && req.method != "HEAD" {
        let mut r = Response::text(405, "Method Not Allowed", "use GET\n");
        r.extra = "Allow: GET, HEAD\r\n";
        return r;
    }
    let path = req.path.split('?').next().unwrap_or("");
    match path {
        "/" => Response::text(200, "OK", INDEX),
        "/stats" => stats(handle, info, bound, spares),
        _ => Response::text(404, "Not Found", "not found; see GET /\n"),
    }
}

fn stats(handle: &Handle, info: &AdminInfo, bound: SocketAddr, spares: usize) -> Response {
    let asked = Instant::now();
    let snap = handle.snapshot(SNAPSHOT_TIMEOUT);
    let waited = asked.elapsed();
    let mut doc = match snap.as_ref().map(serde_json::to_value) {
        Some(Ok(serde_json::Value::Object(m))) => m,
        Some(_) => {
            return Response::json(
                500,
                "Internal Server Error",
                &serde_json::json!({"error": "snapshot not serializable"}),
            )
        }
        None => serde_json::Map::new(),
    };
    if let Some(st) = doc.get_mut("stats") {
        info.counters.add_to(st);
    }
    let (nofile_soft, nofile_hard) =
        match nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE) {
            Ok((s, h)) => (Some(s), Some(h)),
            Err(_) => (None, None),
        };
    let mem = read_memory();
    let process = serde_json::json!({
        "pid": std::process::id(),
        "version": info.version,
        "proto": info.proto,
        "listen": info.listen,
        "admin": bound.to_string(),
        "uptime_s": info.started.elapsed().as_secs_f64(),
        // The whole process while serving: the server's own descriptors and its
        // connections, this request's socket, and not the spares freed to serve it (see
        // the module's doc).
        "fds_open": limits::open_fds(),
        "nofile_soft": nofile_soft,
        "nofile_hard": nofile_hard,
        "rss_bytes": mem.rss,
        "rss_anon_bytes": mem.rss_anon,
        "snapshot_wait_us": waited.as_micros() as u64,
        // Spare descriptors this thread held when the request came (it frees them to
        // serve at the fd limit and takes them back after): SPARE_FDS when all is well.
        "admin_spares": spares,
    });
    if let serde_json::Value::Object(p) = process {
        doc.extend(p);
    }
    if snap.is_some() {
        Response::json(200, "OK", &serde_json::Value::Object(doc))
    } else {
        let why = if handle.is_closed() {
            "the reactor has stopped"
        } else {
            "the reactor did not answer in time"
        };
        doc.insert("error".into(), why.into());
        Response::json(503, "Service Unavailable", &serde_json::Value::Object(doc))
    }
}

/// Resident memory of this process, from `/proc/self/status`.
#[derive(Default)]
struct Memory {
    /// `VmRSS`: all resident pages.
    rss: Option<u64>,
    /// `RssAnon`: resident anonymous pages, i.e. heap and stacks without the binary's
    /// file-backed pages: what connections cost in user space.
    rss_anon: Option<u64>,
}

fn read_memory() -> Memory {
    let Ok(text) = std::fs::read_to_string("/proc/self/status") else {
        return Memory::default();
    };
    let mut m = Memory::default();
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("VmRSS:") {
            m.rss = parse_kb(v);
        } else if let Some(v) = line.strip_prefix("RssAnon:") {
            m.rss_anon = parse_kb(v);
        }
    }
    m
}

/// `"   1234 kB"` -> 1234 * 1024.
fn parse_kb(v: &str) -> Option<u64> {
    let mut it = v.split_whitespace();
    let n: u64 = it.next()?.parse().ok()?;
    match it.next() {
        Some("kB") | None => n.checked_mul(1024),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_parse_kb() {
        assert_eq!(parse_kb("\t  1234 kB"), Some(1234 * 1024));
        assert_eq!(parse_kb(" x kB"), None);
        assert_eq!(parse_kb(""), None);
        assert_eq!(parse_kb(" 1 MB"), None);
    }

    #[test]
    fn test_read_memory_sees_rss() {
        let m = read_memory();
        assert!(m.rss.is_some_and(|n| n > 0));
        assert!(m.rss_anon.is_some_and(|n| n > 0));
    }

    #[test]
    fn test_route_without_reactor() {
        let reactor: crate::Reactor<crate::protocol::Echo> =
            crate::Reactor::new(crate::Config::default()).unwrap();
        let handle = reactor.handle();
        drop(reactor);
        let info = AdminInfo {
            counters: Arc::default(),
            listen: vec![],
            proto: "echo".into(),
            version: "0".into(),
            started: Instant::now(),
        };
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let get = |method: &str, path: &str| {
            route(
                &Request {
                    method: method.into(),
                    path: path.into(),
                },
                &handle,
                &info,
                addr,
                SPARE_FDS,
            )
        };
        assert_eq!(get("GET", "/").status, 200);
        assert_eq!(get("GET", "/nope").status, 404);
        assert_eq!(get("POST", "/stats").status, 405);
        let r = get("GET", "/stats?x=1");
        assert_eq!(r.status, 503, "a dropped reactor answers no snapshot");
        let j: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(j["error"], "the reactor has stopped");
        assert!(j["fds_open"].as_u64().is_some());
    }
}
