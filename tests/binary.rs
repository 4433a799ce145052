//! End-to-end tests of the `readyloop` binary: flags, exit codes, the start-up line,
//! serving, and SIGTERM.

mod util;

use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;
use util::*;

const T: Duration = Duration::from_secs(10);

#[test]
fn version_exits_0() {
    let (st, out, err) = run_bin(&["--version"], T);
    assert_eq!(st.code(), Some(0), "stderr: {err}");
    assert!(
        out.contains(env!("CARGO_PKG_VERSION")),
        "--version prints the version: {out:?}"
    );
}

#[test]
fn help_exits_0_and_mentions_listen() {
    let (st, out, err) = run_bin(&["--help"], T);
    assert_eq!(st.code(), Some(0), "stderr: {err}");
    assert!(out.contains("--listen"), "--help mentions --listen: {out}");
    assert!(out.contains("--proto"), "--help mentions --proto: {out}");
}

#[test]
fn bad_flag_exits_2_with_one_line() {
    for args in [
        &["--no-such-flag"][..],
        &["--proto", "gopher"][..],
        &["--max-input", "4X"][..],
        &["--listen", "not-an-address"][..],
    ] {
        let (st, out, err) = run_bin(args, T);
        assert_eq!(st.code(), Some(2), "{args:?}: stderr {err:?}");
        assert_eq!(
            err.lines().count(),
            1,
            "{args:?}: exactly one line on stderr, got {err:?}"
        );
        assert!(err.ends_with('\n'));
        assert!(out.is_empty(), "{args:?}: nothing on stdout, got {out:?}");
    }
}

/// Issue 15, item 6g: a mistyped flag keeps clap's "did you mean" in the one line.
#[test]
fn mistyped_flag_gets_the_suggestion_in_one_line() {
    let (st, out, err) = run_bin(&["--max-con", "5"], T);
    assert_eq!(st.code(), Some(2), "stderr {err:?}");
    assert_eq!(
        err,
        "readyloop: unexpected argument '--max-con' found; did you mean '--max-conns'? (see --help)\n"
    );
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn port_in_use_exits_1_with_message() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (st, out, err) = run_bin(&["--listen", &addr], T);
    assert_eq!(st.code(), Some(1), "stdout {out:?} stderr {err:?}");
    assert!(!err.trim().is_empty(), "a message on stderr");
    assert!(
        err.contains(&addr),
        "the message names the address {addr}: {err:?}"
    );
    assert!(
        !out.contains("listening"),
        "no listening line when the bind failed: {out:?}"
    );
    drop(taken);
}

#[test]
fn serves_http_and_sigterm_exits_0() {
    let mut srv = spawn_bin(&[]);
    assert_eq!(srv.proto, "http");
    let mut c = HttpConn::connect(srv.addr);
    assert_eq!(c.request(&get("/", "")).raw(), HELLO);
    srv.signal(libc::SIGTERM);
    let st = srv.wait_exit(T).expect("exit after SIGTERM");
    assert_eq!(st.code(), Some(0), "stderr: {}", srv.stderr_text());
    // The kept-alive, idle connection was closed by the shutdown.
    c.expect_closed();
}

#[test]
fn sigint_exits_0_too() {
    let mut srv = spawn_bin(&["--proto", "echo"]);
    assert_eq!(srv.proto, "echo");
    let mut s = connect(srv.addr);
    echo_roundtrip(&mut s, b"ping over the binary");
    srv.signal(libc::SIGINT);
    let st = srv.wait_exit(T).expect("exit after SIGINT");
    assert_eq!(st.code(), Some(0), "stderr: {}", srv.stderr_text());
}

#[test]
fn sigterm_finishes_response_in_flight_then_exits_0() {
    const N: usize = 20_000_000;
    let mut srv = spawn_bin(&["--shutdown-timeout", "20s"]);
    let mut c = HttpConn::connect(srv.addr);
    c.send(&get(&format!("/bytes/{N}"), ""));
    let head = c.read_head().expect("head");
    assert_eq!(head.status, 200, "{head:?}");
    assert_eq!(head.content_length(), Some(N), "{head:?}");
    let mut check = PatternCheck::default();
    c.read_body_with(512 * 1024, |b| check.feed(b))
        .expect("the start of the body");

    srv.signal(libc::SIGTERM);
    wait_until(T, "the shutdown notice on stderr", || {
        srv.stderr_text().contains("shutting down")
    });
    assert!(
        srv.child.try_wait().unwrap().is_none(),
        "exited with a response in flight"
    );
    let got = check.offset as usize;
    c.read_body_with(N - got, |b| check.feed(b))
        .unwrap_or_else(|e| panic!("body cut after {} of {N}: {e}", check.offset));
    assert_eq!(check.offset, N as u64);
    c.expect_closed();
    let st = srv.wait_exit(T).expect("exit after the response");
    assert_eq!(st.code(), Some(0), "stderr: {}", srv.stderr_text());
}

#[test]
fn startup_lines_and_stats_interval() {
    let mut srv = spawn_bin(&["--proto", "discard", "--stats-interval", "100ms"]);
    assert_eq!(srv.proto, "discard");
    let mut s = connect(srv.addr);
    s.write_all(&[7u8; 10_000]).unwrap();
    wait_until(T, "a stats line counting the bytes", || {
        srv.stderr_text()
            .lines()
            .any(|l| l.contains("accepted=1") && l.contains("in=10000B"))
    });
    let out = srv.stdout.lock().unwrap().clone();
    assert!(out.contains("fd limit"), "capacity line: {out:?}");
    drop(s);
    srv.signal(libc::SIGTERM);
    let st = srv.wait_exit(T).expect("exit");
    assert_eq!(st.code(), Some(0));
    assert!(
        srv.stderr_text().contains("stopped:"),
        "final stats line: {}",
        srv.stderr_text()
    );
}

/// Item 10: a second SIGTERM during a graceful shutdown closes everything at once and
/// exits 128 + the signal, as a supervisor that escalates expects.
#[test]
fn second_signal_forces_exit_128_plus_signal() {
    let mut srv = spawn_bin(&["--shutdown-timeout", "60s"]);
    let mut c = HttpConn::connect(srv.addr);
    // A response far larger than the socket buffers, not read: the shutdown waits.
    c.send(&get("/bytes/200000000", ""));
    let head = c.read_head().expect("head");
    assert_eq!(head.status, 200);
    srv.signal(libc::SIGTERM);
    wait_until(T, "the shutdown notice on stderr", || {
        srv.stderr_text().contains("shutting down")
    });
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        srv.child.try_wait().unwrap().is_none(),
        "exited with a response in flight"
    );
    srv.signal(libc::SIGTERM);
    let st = srv.wait_exit(T).expect("exit after the second signal");
    assert_eq!(
        st.code(),
        Some(128 + libc::SIGTERM),
        "stderr: {}",
        srv.stderr_text()
    );
    assert!(
        srv.stderr_text().contains("second signal"),
        "says why: {}",
        srv.stderr_text()
    );
}

/// Item 10: when `--shutdown-timeout` cuts connections with output pending, the server
/// says how many and exits 3.
#[test]
fn shutdown_timeout_cutting_output_exits_3() {
    let mut srv = spawn_bin(&["--shutdown-timeout", "300ms"]);
    let mut c = HttpConn::connect(srv.addr);
    c.send(&get("/bytes/200000000", ""));
    let head = c.read_head().expect("head");
    assert_eq!(head.status, 200);
    srv.signal(libc::SIGTERM);
    let st = srv.wait_exit(T).expect("exit after the shutdown timeout");
    assert_eq!(st.code(), Some(3), "stderr: {}", srv.stderr_text());
    assert!(
        srv.stderr_text().contains("1 connection cut"),
        "says how many: {}",
        srv.stderr_text()
    );
    drop(c);
}
