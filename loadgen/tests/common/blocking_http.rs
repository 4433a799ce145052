//! A plain blocking HTTP/1.1 server for tests, a thread per connection: each request
//! (its path, lowercased header lines and body) goes to a handler that says how long to
//! wait and what status to answer, or not to answer at all. Its capacity grows with the
//! connections, as a real server's would; a sleep, not CPU, makes it slow. Stopped and
//! joined on drop.
#![allow(dead_code)] // each test binary uses a different part

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// One request as the server read it.
pub struct Request {
    /// The request target.
    pub path: String,
    /// The header lines, lowercased.
    pub headers: Vec<String>,
    /// The body (by Content-Length).
    pub body: Vec<u8>,
}

/// What to do with a request: wait this long, then answer with this status line
/// (`"200 OK"`) and a 2-byte body; `None`: never answer.
pub type Handler = dyn Fn(&Request) -> Option<(Duration, &'static str)> + Send + Sync;

pub struct BlockingHttp {
    pub addr: SocketAddr,
    pub stop: Arc<AtomicBool>,
    /// Connections accepted.
    pub accepted: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Reads requests off `s` and answers them as `handler` says, until the stop.
fn serve_conn(mut s: TcpStream, handler: Arc<Handler>, stop: Arc<AtomicBool>) {
    let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 16384];
    while !stop.load(Ordering::Relaxed) {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let mut lines = head.split("\r\n");
            let line = lines.next().unwrap_or("").to_string();
            let headers: Vec<String> = lines.map(str::to_ascii_lowercase).collect();
            let len: usize = headers
                .iter()
                .find_map(|h| h.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let body = buf[end + 4..end + 4 + len].to_vec();
                buf.drain(..end + 4 + len);
                let path = line.split(' ').nth(1).unwrap_or("").to_string();
                let req = Request {
                    path,
                    headers,
                    body,
                };
                let Some((delay, status)) = handler(&req) else {
                    continue; // never answered
                };
                std::thread::sleep(delay);
                let reply = format!("HTTP/1.1 {status}\r\nContent-Length: 2\r\n\r\nok");
                if s.write_all(reply.as_bytes()).is_err() {
                    return;
                }
                continue;
            }
            // The body is still coming.
        }
        match s.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return,
        }
    }
}

impl BlockingHttp {
    /// Listening on 127.0.0.1, a free port.
    pub fn start(handler: Arc<Handler>) -> BlockingHttp {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        l.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (stop2, accepted2) = (stop.clone(), accepted.clone());
        let thread = std::thread::spawn(move || {
            let mut conns = Vec::new();
            while !stop2.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((s, _)) => {
                        accepted2.fetch_add(1, Ordering::Relaxed);
                        let _ = s.set_nonblocking(false);
                        let _ = s.set_nodelay(true);
                        let (h, stop) = (handler.clone(), stop2.clone());
                        conns.push(std::thread::spawn(move || serve_conn(s, h, stop)));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
            for c in conns {
                let _ = c.join();
            }
        });
        BlockingHttp {
            addr,
            stop,
            accepted,
            thread: Some(thread),
        }
    }
}

impl Drop for BlockingHttp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
