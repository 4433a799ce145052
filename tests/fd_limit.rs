//! The server at its descriptor limit, with the default load shedding and the admin
//! endpoint: clients beyond the limit are answered at once (item 9), `/stats` answers
//! in every exhaustion episode and the admin's spare descriptors come back (item 8).
//! Also rejected connections over `--max-conns` read their 503 whole (item 6).

mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};
use util::*;

/// Start the binary with RLIMIT_NOFILE `limit` (soft = hard) and `args`.
fn spawn_limited(limit: u64, args: &[&str]) -> BinServer {
    spawn_bin_with(args, move |cmd| {
        // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child
        // between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: limit as libc::rlim_t,
                    rlim_max: limit as libc::rlim_t,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    })
}

/// What a client beyond the limit got: the whole 503, the close, or nothing yet.
fn read_all_within(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, Option<ErrorKind>) {
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return (got, None),
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.starts_with(b"HTTP/1.1 200") && got.ends_with(b"Hello, World!") {
                    return (got, None); // served, and kept alive
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return (got, Some(e.kind())),
        }
    }
    (got, Some(ErrorKind::TimedOut))
}

fn admin_stats(
    admin: std::net::SocketAddr,
    timeout: Duration,
) -> Option<(Duration, serde_json::Value)> {
    let started = Instant::now();
    let mut s = TcpStream::connect_timeout(&admin, timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.write_all(b"GET /stats HTTP/1.1\r\nHost: x\r\n\r\n")
        .ok()?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).ok()?;
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&resp);
    let body = text.split_once("\r\n\r\n")?.1;
    Some((took, serde_json::from_str(body).ok()?))
}

/// Item 9: at the fd limit, queued clients are shed: each gets the 503 and a clean close
/// soon after the pause began, instead of waiting in the backlog for a connect timeout.
#[test]
fn fd_limit_sheds_queued_clients_with_503() {
    let mut srv = spawn_limited(64, &["--idle-timeout", "0", "--shed-after", "100ms"]);
    let mut held = Vec::new();
    let mut extra = Vec::new();
    // Enough to exhaust the 64 descriptors, plus 40 beyond.
    for i in 0..100 {
        let mut c = connect(srv.addr);
        c.write_all(&get("/", "")).unwrap();
        if i < 40 {
            held.push(c);
        } else {
            extra.push(c);
        }
    }
    let started = Instant::now();
    let mut shed = 0;
    let mut served = 0;
    for c in extra.iter_mut() {
        let (got, err) = read_all_within(c, Duration::from_secs(5));
        let text = String::from_utf8_lossy(&got);
        if text.starts_with("HTTP/1.1 503") {
            assert!(text.contains("Connection: close"), "{text}");
            assert!(
                text.ends_with("Too many connections"),
                "the whole 503: {text:?}"
            );
            assert_eq!(err, None, "a clean close after the 503, not {err:?}");
            shed += 1;
        } else if text.starts_with("HTTP/1.1 200") {
            served += 1; // accepted normally before the limit was reached
        } else {
            panic!(
                "client got {text:?} ({err:?}) after {:?}",
                started.elapsed()
            );
        }
    }
    assert!(
        shed > 0,
        "some clients beyond the limit were shed (served {served})"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "they learned within seconds, not a connect timeout: {:?}",
        started.elapsed()
    );
    // The held ones are still served.
    for c in held.iter_mut().take(5) {
        c.write_all(&get("/", "")).unwrap();
    }
    drop(held);
    srv.signal(libc::SIGTERM);
    let st = srv.wait_exit(Duration::from_secs(10)).expect("exit");
    assert_eq!(st.code(), Some(0), "{}", srv.stderr_text());
    let err = srv.stderr_text();
    let line = err.lines().find(|l| l.contains("stopped:")).unwrap_or("");
    assert!(
        line.contains(&format!("shed={shed}")),
        "stats count the shed: {line}"
    );
}

/// Item 8: in 20 exhaustion episodes `/stats` answers every time (well inside its 3 s
/// client timeout; the figure is printed) and the admin's spares are back after each.
#[test]
fn admin_answers_in_every_exhaustion_episode() {
    // With the queued clients shed (the default) and with them left queued: the gate,
    // not the shedding, is what keeps the spares for the admin thread.
    exhaustion_episodes("100ms");
    exhaustion_episodes("0");
}

fn exhaustion_episodes(shed_after: &str) {
    let mut srv = spawn_limited(
        256,
        &[
            "--idle-timeout",
            "0",
            "--admin",
            "127.0.0.1:0",
            "--proto",
            "echo",
            "--shed-after",
            shed_after,
        ],
    );
    let admin: std::net::SocketAddr = wait_for(Duration::from_secs(5), "the admin line", || {
        let out = srv.stdout.lock().unwrap().clone();
        out.lines()
            .find_map(|l| l.strip_prefix("admin: http://"))
            .and_then(|a| a.strip_suffix("/stats"))
            .and_then(|a| a.parse().ok())
    });
    let mut worst = Duration::ZERO;
    for episode in 0..20 {
        // Exhaust: far more clients than descriptors (the rest queue, or are shed).
        let clients: Vec<TcpStream> = (0..2000)
            .filter_map(|_| try_connect(srv.addr).ok())
            .collect();
        std::thread::sleep(Duration::from_millis(30));
        let (took, j) = admin_stats(admin, Duration::from_secs(3))
            .unwrap_or_else(|| panic!("episode {episode}: /stats did not answer within 3 s"));
        worst = worst.max(took);
        assert!(
            j["active"].as_u64().unwrap_or(0) > 200,
            "episode {episode}: the server is at its limit: {j}"
        );
        drop(clients);
        // The spares are back: the next request finds them all held.
        let (took, j) = admin_stats(admin, Duration::from_secs(3))
            .unwrap_or_else(|| panic!("episode {episode}: /stats after release"));
        worst = worst.max(took);
        assert_eq!(j["admin_spares"], 4, "episode {episode}: spares back: {j}");
    }
    eprintln!("slowest /stats over 20 exhaustion episodes (--shed-after {shed_after}): {worst:?}");
    assert!(worst < Duration::from_secs(1), "slowest /stats {worst:?}");
    srv.signal(libc::SIGTERM);
    let st = srv.wait_exit(Duration::from_secs(10)).expect("exit");
    assert_eq!(st.code(), Some(0));
}

/// Item 6: a connection over `--max-conns` that sent a large request before reading
/// gets the whole 503 and a clean close, not a reset (its input is read and dropped
/// while it lingers instead of being left unread at the close).
#[test]
fn max_conns_rejection_lingers_so_the_503_is_read() {
    let mut srv = spawn_bin(&["--max-conns", "1"]);
    let _held = connect(srv.addr);
    std::thread::sleep(Duration::from_millis(50));
    let mut resets = 0;
    for _ in 0..10 {
        let mut c = connect(srv.addr);
        c.write_all(&get("/", "")).unwrap();
        // The server has turned it away by now. A client that writes again before
        // reading (a pipelining one, or one sending a body) must not get EPIPE or a
        // reset: the rejected connection is lingering, reading and dropping.
        std::thread::sleep(Duration::from_millis(50));
        if c.write_all(&get("/", "").repeat(100)).is_err() {
            resets += 1;
            continue;
        }
        let (got, err) = read_all_within(&mut c, Duration::from_secs(3));
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 503"), "{text:?} {err:?}");
        if err.is_some() || !text.ends_with("Too many connections") {
            resets += 1;
        }
    }
    assert_eq!(resets, 0, "rejections ended in a reset or a cut 503");
    srv.signal(libc::SIGTERM);
    let st = srv.wait_exit(Duration::from_secs(10)).expect("exit");
    assert_eq!(st.code(), Some(0));
}
