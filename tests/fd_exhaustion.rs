//! The server out of descriptors: the binary runs with RLIMIT_NOFILE 64 (soft and hard),
//! more clients connect than it can hold, and it must keep serving the ones it has,
//! not spin while the rest wait in the backlog, and accept again when descriptors free.

mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};
use util::*;

const LIMIT: u64 = 64;
const CLIENTS: usize = 120;

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = f[14 - 3].parse().unwrap();
    let stime: u64 = f[15 - 3].parse().unwrap();
    utime + stime
}

/// Open descriptors of `pid` numbered below [`LIMIT`].
fn fds_below_limit(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read the child's fd table")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .filter(|&fd| fd < LIMIT)
        .count()
}

fn nofile_of(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files line")
        .to_string();
    let f: Vec<&str> = line.split_whitespace().collect();
    (f[3].to_string(), f[4].to_string())
}

/// Non-blocking check for an echo of `want` on `s`; accumulates partial reads in `got`.
/// Returns true once all of `want` has arrived.
fn poll_echo(s: &mut TcpStream, want: &[u8], got: &mut Vec<u8>) -> bool {
    if got.len() >= want.len() {
        return true;
    }
    let mut buf = [0u8; 256];
    loop {
        match s.read(&mut buf) {
            Ok(0) => panic!("server closed a waiting connection"),
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                assert!(want.starts_with(got), "wrong echo bytes");
                if got.len() == want.len() {
                    return true;
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("read: {e}"),
        }
    }
}

struct Client {
    s: TcpStream,
    msg: Vec<u8>,
    got: Vec<u8>,
}

#[test]
fn fd_exhaustion_pauses_accept_without_spinning_and_resumes() {
    let mut srv = spawn_bin_with(
        &[
            "--proto",
            "echo",
            "--idle-timeout",
            "0",
            "--stats-interval",
            "200ms",
            // This test is about pausing: the queued clients must stay queued.
            "--shed-after",
            "0",
        ],
        |cmd| {
            // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child
            // between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    let lim = libc::rlimit {
                        rlim_cur: LIMIT as libc::rlim_t,
                        rlim_max: LIMIT as libc::rlim_t,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        },
    );
    let pid = srv.pid();
    assert_eq!(
        nofile_of(pid),
        (LIMIT.to_string(), LIMIT.to_string()),
        "child runs with soft = hard = {LIMIT}"
    );
    // RLIMIT_NOFILE bounds descriptor *numbers*: only those below the limit take room
    // (a descriptor inherited above it, as test harnesses leave, does not).
    let base = fds_below_limit(pid);
    println!(
        "server pid {pid}: {base} descriptors below {LIMIT} open before any client ({} in all)",
        open_fds_of(pid)
    );
    assert!((base as u64) < LIMIT - 10, "{base} fds open at start");

    // Connect far more clients than fit; each sends a distinct message at once.
    let mut clients: Vec<Client> = (0..CLIENTS)
        .map(|i| {
            let mut s = connect(srv.addr);
            let msg = format!("client {i} of {CLIENTS}\n").into_bytes();
            s.write_all(&msg).unwrap();
            s.set_nonblocking(true).unwrap();
            Client {
                s,
                msg,
                got: Vec::new(),
            }
        })
        .collect();

    // The server's table fills up.
    wait_until(
        Duration::from_secs(5),
        "the server's fd table to fill",
        || fds_below_limit(pid) as u64 >= LIMIT,
    );
    let capacity = LIMIT as usize - base;
    // Exactly the accepted ones answer; the rest wait in the backlog.
    let served = |clients: &mut Vec<Client>| {
        clients
            .iter_mut()
            .map(|c| poll_echo(&mut c.s, &c.msg, &mut c.got) as usize)
            .sum::<usize>()
    };
    wait_until(
        Duration::from_secs(5),
        "every accepted client to get its echo",
        || served(&mut clients) >= capacity,
    );
    assert_eq!(
        served(&mut clients),
        capacity,
        "served = descriptors the server had free"
    );
    println!("{capacity} clients served, {} waiting", CLIENTS - capacity);
    wait_until(
        Duration::from_secs(5),
        "an accept pause in the stats",
        || {
            srv.stderr_text().lines().any(|l| {
                l.split_whitespace()
                    .any(|w| w.strip_prefix("accept_pauses=").is_some_and(|n| n != "0"))
            })
        },
    );

    // (1) The accepted connections still echo.
    let served_idx: Vec<usize> = (0..CLIENTS)
        .filter(|&i| clients[i].got.len() == clients[i].msg.len())
        .collect();
    for &i in &served_idx {
        let c = &mut clients[i];
        c.s.set_nonblocking(false).unwrap();
        echo_roundtrip(&mut c.s, format!("still here {i}").as_bytes());
        c.s.set_nonblocking(true).unwrap();
    }

    // (2) No spinning while clients wait in the backlog.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    assert!(hz > 0.0);
    let t0 = Instant::now();
    let c0 = cpu_ticks(pid);
    std::thread::sleep(Duration::from_millis(1000));
    let c1 = cpu_ticks(pid);
    let secs = t0.elapsed().as_secs_f64();
    let share = (c1 - c0) as f64 / hz / secs;
    println!(
        "server CPU while full: {} ticks in {secs:.2} s = {:.1}% of a core",
        c1 - c0,
        share * 100.0
    );
    assert!(
        share < 0.20,
        "server spins while out of descriptors: {:.1}% of a core",
        share * 100.0
    );
    assert_eq!(fds_below_limit(pid) as u64, LIMIT, "still full");

    // (3) Close 10 served connections: 10 waiting ones are accepted and served.
    let waiting_before: Vec<usize> = (0..CLIENTS)
        .filter(|&i| clients[i].got.len() < clients[i].msg.len())
        .collect();
    assert_eq!(waiting_before.len(), CLIENTS - capacity);
    let mut closed = 0;
    for &i in served_idx.iter().take(10) {
        // Replace the stream with a dummy by shutting it and dropping the client's
        // socket: the server sees EOF and frees the descriptor.
        let c = &mut clients[i];
        c.s.shutdown(std::net::Shutdown::Both).unwrap();
        closed += 1;
    }
    assert_eq!(closed, 10);
    let t_free = Instant::now();
    wait_until(
        Duration::from_secs(5),
        "10 clients from the backlog to be served",
        || {
            waiting_before
                .iter()
                .filter(|&&i| {
                    let c = &mut clients[i];
                    poll_echo(&mut c.s, &c.msg, &mut c.got)
                })
                .count()
                >= 10
        },
    );
    println!(
        "10 backlog clients served {:?} after closing 10",
        t_free.elapsed()
    );
    let newly: Vec<usize> = waiting_before
        .iter()
        .copied()
        .filter(|&i| clients[i].got.len() == clients[i].msg.len())
        .collect();
    assert_eq!(newly.len(), 10, "exactly the freed slots were filled");
    for &i in &newly {
        let c = &mut clients[i];
        c.s.set_nonblocking(false).unwrap();
        echo_roundtrip(&mut c.s, b"served after the pause");
    }
    let stderr = srv.stderr_text();
    assert!(
        stderr.contains("EMFILE="),
        "EMFILE counted in the stats lines: {stderr}"
    );

    // (4) Churn at the limit: 40 times, a served client leaves and a new one queues.
    // Each close makes the server retry accept; the retries must not pile up into
    // timers that keep firing (one pending retry per listener, backing off to 1 s).
    let mut extra = Vec::new();
    for &i in served_idx.iter().skip(10).take(40) {
        let _ = clients[i].s.shutdown(std::net::Shutdown::Both);
        extra.push(connect(srv.addr));
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let emfile = |text: &str| -> u64 {
        text.lines()
            .rev()
            .find_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("EMFILE=")))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let e0 = emfile(&srv.stderr_text());
    std::thread::sleep(Duration::from_millis(2000));
    let e1 = emfile(&srv.stderr_text());
    println!(
        "failed accepts (EMFILE) over 2 s at rest after churn: {}",
        e1 - e0
    );
    assert!(
        e1 - e0 <= 10,
        "accept retries pile up: {} EMFILE in 2 s at rest",
        e1 - e0
    );
    drop(extra);

    drop(clients);
    srv.signal(libc::SIGTERM);
    let st = srv.wait_exit(Duration::from_secs(10)).expect("exit");
    assert_eq!(st.code(), Some(0), "stderr: {}", srv.stderr_text());
}
