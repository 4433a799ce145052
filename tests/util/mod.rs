//! Shared helpers of the end-to-end tests: an in-process server on a thread, the real
//! binary as a child process, bounded polling, and a small HTTP/1.1 response reader.
//!
//! Every blocking operation here has a timeout; every child is killed and waited on.
#![allow(dead_code)] // each test binary uses a different subset

use readyloop::server::ServerStats;
use readyloop::server::{ProtoKind, Server, ServerConfig};
use readyloop::Handle;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Timeout of every blocking socket operation in the tests.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Poll `cond` every few milliseconds until it holds; panic with `what` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Like [`wait_until`] but the condition yields a value.
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Descriptors open in this process, counted from `/proc/self/fd`.
pub fn open_fds() -> usize {
    count_fds("/proc/self/fd")
}

/// Descriptors open in process `pid`.
pub fn open_fds_of(pid: u32) -> usize {
    count_fds(&format!("/proc/{pid}/fd"))
}

fn count_fds(dir: &str) -> usize {
    let entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {dir}: {e}"))
        .collect();
    // When counting our own table, read_dir holds one descriptor itself.
    if dir == "/proc/self/fd" {
        entries.len().saturating_sub(1)
    } else {
        entries.len()
    }
}

/// The soft RLIMIT_NOFILE of this process.
pub fn nofile_soft() -> u64 {
    let (soft, _hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .expect("getrlimit");
    soft
}

/// Connect with a timeout and set read/write timeouts on the stream.
pub fn connect(addr: SocketAddr) -> TcpStream {
    try_connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"))
}

/// Connect with a timeout and set read/write timeouts; errors are returned.
pub fn try_connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(s)
}

/// Write `msg` and read exactly as many bytes back; assert they are equal.
pub fn echo_roundtrip(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(msg).expect("echo write");
    let mut back = vec![0u8; msg.len()];
    s.read_exact(&mut back).expect("echo read");
    assert!(back == msg, "echo returned different bytes");
}

/// Read until EOF (bounded by `limit` bytes and the socket's read timeout). Returns the
/// bytes read before EOF. A reset counts as the end too and is reported in the `bool`.
pub fn read_to_end_or_reset(s: &mut TcpStream, limit: usize) -> io::Result<(Vec<u8>, bool)> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok((out, false)),
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.len() > limit {
                    return Err(io::Error::other(format!(
                        "more than {limit} bytes before EOF"
                    )));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok((out, true)),
            Err(e) => return Err(e),
        }
    }
}

/// Assert the peer has closed: the next read returns EOF (0) or a reset, within the
/// socket's read timeout, and nothing else arrives first.
pub fn expect_closed(s: &mut TcpStream) {
    let (extra, _reset) = read_to_end_or_reset(s, 1 << 20)
        .unwrap_or_else(|e| panic!("expected the server to close the connection: {e}"));
    assert!(
        extra.is_empty(),
        "expected EOF, got {} more bytes: {:?}",
        extra.len(),
        String::from_utf8_lossy(&extra[..extra.len().min(200)])
    );
}

// ---------------------------------------------------------------------------------------
// In-process server

/// A [`ServerConfig`] on 127.0.0.1:0 speaking `proto`, no signals, no stats lines.
pub fn config(proto: ProtoKind) -> ServerConfig {
    ServerConfig {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        proto,
        handle_signals: false,
        stats_interval: None,
        ..ServerConfig::default()
    }
}

/// A server running on its own thread.
pub struct TestServer {
    pub addr: SocketAddr,
    pub handle: Handle,
    pub join: Option<JoinHandle<io::Result<ServerStats>>>,
}

/// Bind `cfg` and run it on a thread.
pub fn start(cfg: ServerConfig) -> TestServer {
    let server = Server::bind(cfg).expect("bind test server");
    let addr = server.local_addrs()[0];
    assert!(addr.ip().is_loopback(), "tests listen on loopback only");
    let handle = server.handle();
    let join = std::thread::Builder::new()
        .name("readyloop-server".into())
        .spawn(move || server.run())
        .expect("spawn server thread");
    TestServer {
        addr,
        handle,
        join: Some(join),
    }
}

/// Start a server with `proto` and default settings.
pub fn start_proto(proto: ProtoKind) -> TestServer {
    start(config(proto))
}

/// Bind `cfg` with an admin listener on 127.0.0.1:0 and run it on a thread; also
/// returns the admin address.
pub fn start_with_admin(mut cfg: ServerConfig) -> (TestServer, SocketAddr) {
    cfg.admin = Some("127.0.0.1:0".parse().unwrap());
    let server = Server::bind(cfg).expect("bind test server");
    let addr = server.local_addrs()[0];
    let admin = server
        .admin_addr()
        .expect("admin address of a server with admin");
    assert!(
        addr.ip().is_loopback() && admin.ip().is_loopback(),
        "tests listen on loopback only"
    );
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
    (srv, admin)
}

impl TestServer {
    /// Whether the server thread has returned.
    pub fn is_finished(&self) -> bool {
        match &self.join {
            Some(j) => j.is_finished(),
            None => true,
        }
    }

    /// Wait (bounded) for the server thread to return and give its final stats. Panics
    /// if it does not return in time, panicked, or returned an error.
    pub fn join_within(&mut self, timeout: Duration) -> ServerStats {
        let j = self.join.take().expect("server already joined");
        let deadline = Instant::now() + timeout;
        while !j.is_finished() {
            if Instant::now() >= deadline {
                // Put it back so Drop can stop it.
                self.join = Some(j);
                panic!("server thread did not return within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        match j.join() {
            Ok(Ok(stats)) => stats,
            Ok(Err(e)) => panic!("server returned an error: {e}"),
            Err(_) => panic!("server thread panicked"),
        }
    }

    /// Graceful shutdown, then join (bounded). Returns the final stats.
    pub fn shutdown(mut self) -> ServerStats {
        self.handle.shutdown();
        self.join_within(Duration::from_secs(10))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(j) = self.join.take() {
            self.handle.stop();
            let deadline = Instant::now() + Duration::from_secs(5);
            while !j.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if j.is_finished() {
                let _ = j.join();
            }
        }
    }
}

/// The invariant of the stats after a completed shutdown: nothing open, and every
/// accepted connection closed under exactly one reason.
pub fn assert_stats_consistent(stats: &ServerStats) {
    assert_eq!(
        stats.conns.active,
        0,
        "connections left open: {}",
        stats.line()
    );
    assert_eq!(
        stats.conns.accepted,
        stats.conns.closed_total(),
        "accepted != closed + active: {}",
        stats.line()
    );
}

// ---------------------------------------------------------------------------------------
// The real binary

/// Path of the server binary built by cargo for the tests.
pub fn bin_path() -> &'static str {
    env!("CARGO_BIN_EXE_readyloop")
}

/// Run the binary to completion with `args` (bounded); returns status, stdout, stderr.
pub fn run_bin(args: &[&str], timeout: Duration) -> (ExitStatus, String, String) {
    let mut child = Command::new(bin_path())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn readyloop");
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let status = wait_child(&mut child, timeout)
        .unwrap_or_else(|| panic!("readyloop {args:?} did not exit within {timeout:?}"));
    let stdout = finish_drain(out);
    let stderr = finish_drain(err);
    (status, stdout, stderr)
}

/// Wait for `child` to exit within `timeout`; on timeout kill it, reap it, and return
/// `None`.
pub fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return Some(st),
            Ok(None) => {}
            Err(e) => panic!("try_wait: {e}"),
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

type Drained = (JoinHandle<()>, Arc<Mutex<String>>);

fn drain<R: Read + Send + 'static>(r: R) -> Drained {
    let text = Arc::new(Mutex::new(String::new()));
    let t = text.clone();
    let h = std::thread::spawn(move || {
        let mut r = BufReader::new(r);
        let mut line = String::new();
        while matches!(r.read_line(&mut line), Ok(n) if n > 0) {
            t.lock().unwrap().push_str(&line);
            line.clear();
        }
    });
    (h, text)
}

fn finish_drain(d: Drained) -> String {
    let _ = d.0.join();
    let s = d.1.lock().unwrap().clone();
    s
}

/// A running `readyloop` child. Dropping it sends SIGTERM, then SIGKILL if needed, and
/// always waits for it.
pub struct BinServer {
    pub child: Child,
    pub addr: SocketAddr,
    pub proto: String,
    /// Everything printed on stdout (the first line included).
    pub stdout: Arc<Mutex<String>>,
    /// Everything printed on stderr so far.
    pub stderr: Arc<Mutex<String>>,
    threads: Vec<JoinHandle<()>>,
}

/// Start the binary with `--listen 127.0.0.1:0` plus `args` and wait (bounded) for its
/// first stdout line `readyloop X listening on ADDR (proto)`.
pub fn spawn_bin(args: &[&str]) -> BinServer {
    spawn_bin_with(args, |_| {})
}

/// Like [`spawn_bin`], letting the caller adjust the `Command` first (e.g. `pre_exec`).
pub fn spawn_bin_with(args: &[&str], adjust: impl FnOnce(&mut Command)) -> BinServer {
    let mut cmd = Command::new(bin_path());
    cmd.arg("--listen")
        .arg("127.0.0.1:0")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    adjust(&mut cmd);
    let mut child = cmd.spawn().expect("spawn readyloop");
    let stdout_pipe: ChildStdout = child.stdout.take().unwrap();
    let stderr_pipe: ChildStderr = child.stderr.take().unwrap();

    let stdout = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = mpsc::channel::<String>();
    let out = stdout.clone();
    let t_out = std::thread::spawn(move || {
        let mut r = BufReader::new(stdout_pipe);
        let mut line = String::new();
        let mut first = true;
        while matches!(r.read_line(&mut line), Ok(n) if n > 0) {
            out.lock().unwrap().push_str(&line);
            if first {
                let _ = tx.send(line.clone());
                first = false;
            }
            line.clear();
        }
    });
    let (t_err, stderr) = drain(stderr_pipe);

    let mut guard = BinServer {
        child,
        addr: "127.0.0.1:0".parse().unwrap(),
        proto: String::new(),
        stdout,
        stderr,
        threads: vec![t_out, t_err],
    };
    let first = match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(l) => l,
        Err(_) => {
            let st = wait_child(&mut guard.child, Duration::from_millis(500));
            panic!(
                "readyloop printed no first line (exit {st:?}); stderr: {}",
                guard.stderr.lock().unwrap()
            );
        }
    };
    let (addr, proto) = parse_listening_line(&first)
        .unwrap_or_else(|| panic!("unexpected first line from readyloop: {first:?}"));
    assert!(addr.ip().is_loopback());
    guard.addr = addr;
    guard.proto = proto;
    guard
}

/// Parse `readyloop X listening on ADDR (proto)` (first address only).
pub fn parse_listening_line(line: &str) -> Option<(SocketAddr, String)> {
    let rest = line.trim_end().strip_prefix("readyloop ")?;
    let (_version, rest) = rest.split_once(" listening on ")?;
    let (addrs, proto) = rest.rsplit_once(" (")?;
    let proto = proto.strip_suffix(')')?;
    let addr = addrs.split(", ").next()?.parse().ok()?;
    Some((addr, proto.to_string()))
}

impl BinServer {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send a signal to the child.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own, not yet reaped, child.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill({}, {sig})", self.child.id());
    }

    /// Wait (bounded) for the child to exit; `None` if it had to be killed.
    ///
    /// On exit it also joins the pipe readers, so `stderr_text` afterwards holds
    /// everything the child wrote: the exit can be seen before the reader thread has
    /// copied the last lines, and a check on the final line would then race.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let st = wait_child(&mut self.child, timeout);
        // The child is reaped either way (wait_child kills on timeout), so its ends of
        // the pipes are closed and the readers reach end of file.
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        st
    }

    /// The stderr text so far.
    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for BinServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) on our own child, which has not been reaped yet.
            unsafe {
                libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
            }
            if wait_child(&mut self.child, Duration::from_secs(3)).is_none() {
                // wait_child already killed and reaped it.
            }
        }
        let _ = self.child.wait();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------
// HTTP

/// `GET path` as HTTP/1.1 with extra header lines (each ending in `\r\n`).
pub fn get(path: &str, extra: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n").into_bytes()
}

/// The exact answer to `GET /`.
pub const HELLO: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!";

/// A response head.
#[derive(Debug, Clone)]
pub struct Head {
    pub status: u16,
    pub version: String,
    pub headers: Vec<(String, String)>,
    /// The head exactly as received, blank line included.
    pub raw: Vec<u8>,
}

impl Head {
    /// Value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn content_length(&self) -> Option<usize> {
        self.header("content-length")
            .and_then(|v| v.trim().parse().ok())
    }

    /// Whether `Connection: close` is present.
    pub fn says_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("close"))
    }
}

/// A full response (body read by Content-Length).
#[derive(Debug, Clone)]
pub struct Response {
    pub head: Head,
    pub body: Vec<u8>,
}

impl Response {
    /// Head and body exactly as received.
    pub fn raw(&self) -> Vec<u8> {
        let mut v = self.head.raw.clone();
        v.extend_from_slice(&self.body);
        v
    }
}

/// An HTTP client connection with a read-ahead buffer, so pipelined responses can be
/// split exactly.
pub struct HttpConn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl HttpConn {
    pub fn connect(addr: SocketAddr) -> HttpConn {
        HttpConn::new(connect(addr))
    }

    pub fn new(stream: TcpStream) -> HttpConn {
        HttpConn {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, req: &[u8]) {
        self.stream.write_all(req).expect("send request");
    }

    /// Read more bytes into the buffer; `Ok(0)` at EOF.
    fn fill(&mut self) -> io::Result<usize> {
        let mut tmp = [0u8; 64 * 1024];
        loop {
            match self.stream.read(&mut tmp) {
                Ok(n) => {
                    self.buf.extend_from_slice(&tmp[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Read one response head (bounded at 64 KiB).
    pub fn read_head(&mut self) -> io::Result<Head> {
        loop {
            if let Some(p) = find(&self.buf, b"\r\n\r\n") {
                let raw: Vec<u8> = self.buf.drain(..p + 4).collect();
                return parse_head(raw);
            }
            if self.buf.len() > 64 * 1024 {
                return Err(io::Error::other("response head over 64 KiB"));
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "EOF inside a response head after {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ),
                ));
            }
        }
    }

    /// Read `n` body bytes, handing each piece to `f` (nothing is kept).
    pub fn read_body_with(&mut self, n: usize, mut f: impl FnMut(&[u8])) -> io::Result<()> {
        let mut left = n;
        while left > 0 {
            if self.buf.is_empty() && self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("EOF with {left} of {n} body bytes missing"),
                ));
            }
            let take = left.min(self.buf.len());
            f(&self.buf[..take]);
            self.buf.drain(..take);
            left -= take;
        }
        Ok(())
    }

    /// Read one full response (requires Content-Length).
    pub fn read_response(&mut self) -> io::Result<Response> {
        let head = self.read_head()?;
        let n = head
            .content_length()
            .ok_or_else(|| io::Error::other(format!("no Content-Length in {head:?}")))?;
        let mut body = Vec::with_capacity(n.min(1 << 20));
        self.read_body_with(n, |b| body.extend_from_slice(b))?;
        Ok(Response { head, body })
    }

    /// Send a request and read its response.
    pub fn request(&mut self, req: &[u8]) -> Response {
        self.send(req);
        self.read_response().expect("read response")
    }

    /// Assert the server closed: no buffered bytes, and the next read is EOF or reset.
    pub fn expect_closed(&mut self) {
        assert!(
            self.buf.is_empty(),
            "unexpected bytes after the response: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        expect_closed(&mut self.stream);
    }

    /// Bytes already read but not consumed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(raw: Vec<u8>) -> io::Result<Head> {
    let text = std::str::from_utf8(&raw)
        .map_err(|_| io::Error::other("response head is not UTF-8"))?
        .to_string();
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("").to_string();
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {status_line:?}")))?;
    if !version.starts_with("HTTP/1.") {
        return Err(io::Error::other(format!("bad status line {status_line:?}")));
    }
    let mut headers = Vec::new();
    for l in lines.filter(|l| !l.is_empty()) {
        let (n, v) = l
            .split_once(':')
            .ok_or_else(|| io::Error::other(format!("bad header line {l:?}")))?;
        headers.push((n.to_string(), v.trim().to_string()));
    }
    Ok(Head {
        status,
        version,
        headers,
        raw,
    })
}

// ---------------------------------------------------------------------------------------
// The `/bytes/N` and `source` stream pattern

/// Checks a stream piece by piece against `readyloop::protocol::fill_pattern`.
#[derive(Default)]
pub struct PatternCheck {
    /// Stream position of the next byte.
    pub offset: u64,
    expect: Vec<u8>,
}

impl PatternCheck {
    /// Check the next `piece` of the stream; panics at the first wrong byte.
    pub fn feed(&mut self, piece: &[u8]) {
        self.expect.clear();
        readyloop::protocol::fill_pattern(&mut self.expect, self.offset, piece.len());
        if self.expect.as_slice() != piece {
            let at = piece
                .iter()
                .zip(&self.expect)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            panic!(
                "stream differs from the pattern at byte {}",
                self.offset + at as u64
            );
        }
        self.offset += piece.len() as u64;
    }
}

/// Assert `body` is the first `body.len()` bytes of the pattern.
pub fn assert_pattern(body: &[u8]) {
    PatternCheck::default().feed(body);
}
