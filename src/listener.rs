//! Listening sockets built with socket2, and the accept pause/resume bookkeeping.
//!
//! The accept loop itself lives in the reactor (it needs the slab); this module holds
//! what a listener is and the rule for backing off when descriptors run out.

use mio::net::TcpListener;
use socket2::{Domain, Protocol as SockProto, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// Socket options of a listener, all optional: `None` leaves the kernel default.
#[derive(Clone, Debug)]
pub struct ListenOptions {
    /// `listen()` backlog (the kernel caps it at `net.core.somaxconn`).
    pub backlog: i32,
    /// `SO_REUSEPORT`: several processes or reactors may share the port; the kernel
    /// spreads new connections between them.
    pub reuseport: bool,
    /// `SO_RCVBUF` (inherited by accepted sockets).
    pub rcvbuf: Option<usize>,
    /// `SO_SNDBUF` (inherited by accepted sockets).
    pub sndbuf: Option<usize>,
    /// Set `TCP_NODELAY` on every accepted socket (one extra syscall per accept).
    pub nodelay: bool,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            backlog: 4096,
            reuseport: false,
            rcvbuf: None,
            sndbuf: None,
            nodelay: false,
        }
    }
}

/// Build a nonblocking listening socket on `addr` with `opts`.
///
/// `SO_REUSEADDR` is always set so a restarted server binds despite TIME_WAIT; an IPv6
/// address listens on IPv6 only, so `[::]` and `0.0.0.0` can be listened on side by side.
pub fn bind(addr: SocketAddr, opts: &ListenOptions) -> io::Result<TcpListener> {
    let sock = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        Some(SockProto::TCP),
    )?;
    sock.set_reuse_address(true)?;
    if opts.reuseport {
        sock.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    if let Some(n) = opts.rcvbuf {
        sock.set_recv_buffer_size(n)?;
    }
    if let Some(n) = opts.sndbuf {
        sock.set_send_buffer_size(n)?;
    }
    sock.bind(&addr.into())?;
    sock.listen(opts.backlog)?;
    Ok(TcpListener::from_std(sock.into()))
}

/// The first delay before retrying accept after running out of descriptors.
pub const BACKOFF_MIN: Duration = Duration::from_millis(10);
/// The longest delay between accept retries.
pub const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Accept pause state of one listener.
///
/// After EMFILE the kernel keeps completing handshakes into the backlog, then drops
/// SYNs; no new readiness edge ever comes. So a paused listener is retried from a timer
/// (10 ms doubling to 1 s) and at once whenever a connection closes, never left waiting
/// for an event that will not come, and never spun on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AcceptPause {
    backoff: Option<Duration>,
}

impl AcceptPause {
    /// Whether accepting is paused.
    pub fn is_paused(&self) -> bool {
        self.backoff.is_some()
    }

    /// Accept failed for lack of descriptors or memory: pause, and return how long to
    /// wait before the next try.
    pub fn hit_limit(&mut self) -> Duration {
        let next = match self.backoff {
            None => BACKOFF_MIN,
            Some(d) => (d * 2).min(BACKOFF_MAX),
        };
        self.backoff = Some(next);
        next
    }

    /// Accept worked again: forget the backoff.
    pub fn resume(&mut self) {
        self.backoff = None;
    }
}

/// Whether an accept error means "out of descriptors or memory" (pause and retry later)
/// rather than a problem with one connection (skip it and go on).
pub fn is_resource_limit(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_backoff_doubles_to_cap_and_resets() {
        let mut p = AcceptPause::default();
        assert!(!p.is_paused());
        let seq: Vec<u64> = (0..9).map(|_| p.hit_limit().as_millis() as u64).collect();
        assert_eq!(seq, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        assert!(p.is_paused());
        p.resume();
        assert!(!p.is_paused());
        assert_eq!(p.hit_limit(), BACKOFF_MIN);
    }

    #[test]
    fn test_resource_errors_classified() {
        assert!(is_resource_limit(&io::Error::from_raw_os_error(
            libc::EMFILE
        )));
        assert!(is_resource_limit(&io::Error::from_raw_os_error(
            libc::ENFILE
        )));
        assert!(!is_resource_limit(&io::Error::from_raw_os_error(
            libc::ECONNABORTED
        )));
    }

    #[test]
    fn test_bind_ipv4_and_ipv6_same_port() {
        let a = bind("127.0.0.1:0".parse().unwrap(), &ListenOptions::default()).unwrap();
        let port = a.local_addr().unwrap().port();
        // [::1] may be missing in some sandboxes; only assert when it is configured.
        if let Ok(b) = bind(
            SocketAddr::from(([0u16, 0, 0, 0, 0, 0, 0, 1], port)),
            &ListenOptions::default(),
        ) {
            assert_eq!(b.local_addr().unwrap().port(), port);
        }
    }
}
