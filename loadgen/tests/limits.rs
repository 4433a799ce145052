//! `loadgen limits --json` values equal what /proc/sys and getrlimit say. The binary's
//! CLI wiring is tested elsewhere; here the library's JSON (`Report::read().to_json()`,
//! and `cli::limits::json` which the command prints) is compared with reads made
//! independently of `readyloop::limits`: std::fs for /proc, libc for getrlimit/sysconf.
//! In a network namespace of its own, a flood of an unread UDP socket shows in the
//! readers of the kernel's drops (per socket and system-wide) and in `loadgen limits`.

#[path = "common/netns.rs"]
mod netns;

use loadgen::cli::limits as limits_cmd;
use readyloop::limits::{
    socket_inode, udp6_counters, udp_counters, udp_socket_drops, udp_socket_drops_by_inode, Report,
    UdpCounters,
};
use serde_json::{json, Value};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The numbers in /proc/sys/`path`, parsed here without the library; `None` if the
/// file is absent or unreadable (a container may hide some), which the report must
/// then show as `null`.
fn proc_sys(path: &str) -> Option<Vec<u64>> {
    let text = std::fs::read_to_string(format!("/proc/sys/{path}")).ok()?;
    text.split_whitespace().map(|w| w.parse().ok()).collect()
}

/// A one-number sysctl as the JSON the report should hold for it.
fn scalar(path: &str) -> Value {
    match proc_sys(path).as_deref() {
        Some([n]) => json!(n),
        _ => Value::Null,
    }
}

/// getrlimit(RLIMIT_NOFILE) straight from libc: (soft, hard).
fn getrlimit_nofile() -> (u64, u64) {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into a valid, owned struct.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) };
    assert_eq!(rc, 0, "getrlimit(RLIMIT_NOFILE) failed");
    (rl.rlim_cur, rl.rlim_max)
}

#[test]
fn test_json_values_equal_proc_sys_and_getrlimit() {
    let j = Report::read().to_json();
    // read() raised the soft limit; getrlimit now must say exactly what the report says.
    let (soft, hard) = getrlimit_nofile();
    assert_eq!(j["nofile_soft"], json!(soft));
    assert_eq!(j["nofile_hard"], json!(hard));
    assert!(j["nofile_soft_before"].as_u64().is_some_and(|b| b <= soft));

    for (field, path) in [
        ("nr_open", "fs/nr_open"),
        ("file_max", "fs/file-max"),
        ("somaxconn", "net/core/somaxconn"),
        ("tcp_max_syn_backlog", "net/ipv4/tcp_max_syn_backlog"),
        ("tcp_tw_reuse", "net/ipv4/tcp_tw_reuse"),
        ("tcp_fin_timeout", "net/ipv4/tcp_fin_timeout"),
        ("tcp_max_tw_buckets", "net/ipv4/tcp_max_tw_buckets"),
        ("rmem_default", "net/core/rmem_default"),
        ("rmem_max", "net/core/rmem_max"),
        ("wmem_default", "net/core/wmem_default"),
        ("wmem_max", "net/core/wmem_max"),
        ("udp_rmem_min", "net/ipv4/udp_rmem_min"),
        ("udp_wmem_min", "net/ipv4/udp_wmem_min"),
    ] {
        assert_eq!(j[field], scalar(path), "{field} vs /proc/sys/{path}");
    }
    let range = match proc_sys("net/ipv4/ip_local_port_range").as_deref() {
        Some([lo, hi]) => json!([lo, hi]),
        _ => Value::Null,
    };
    assert_eq!(j["port_range"], range, "port_range");
    let tcp_mem = match proc_sys("net/ipv4/tcp_mem").as_deref() {
        Some(v @ [_, _, _]) => json!(v),
        _ => Value::Null,
    };
    assert_eq!(j["tcp_mem"], tcp_mem, "tcp_mem");
    let udp_mem = match proc_sys("net/ipv4/udp_mem").as_deref() {
        Some(v @ [_, _, _]) => json!(v),
        _ => Value::Null,
    };
    assert_eq!(j["udp_mem"], udp_mem, "udp_mem");

    // SAFETY: sysconf takes no pointers.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    assert_eq!(j["page_size"], json!(page));
}

/// Issue 15, item 6i: an entry's `value` is the number read, as a JSON number (numbers
/// for a range or a triple, a string only where the value is not a number), the same
/// as the report's field and /proc; the table's wording is its `text` (before: every
/// value was its text, `"20000"`, `"32768-60999 (28232 ports)"`).
#[test]
fn test_entries_show_the_same_values() {
    let r = Report::read();
    let j = r.to_json();
    let field = |name: &str, key: &str| -> Value {
        j["entries"]
            .as_array()
            .and_then(|a| a.iter().find(|e| e["name"] == name))
            .map(|e| e[key].clone())
            .unwrap_or_else(|| panic!("no entry {name}"))
    };
    let entry = |name: &str| field(name, "value");
    let (soft, hard) = getrlimit_nofile();
    assert_eq!(entry("RLIMIT_NOFILE (soft)"), json!(soft));
    assert_eq!(entry("RLIMIT_NOFILE (hard)"), json!(hard));
    assert!(field("RLIMIT_NOFILE (soft)", "text")
        .as_str()
        .is_some_and(|v| v.starts_with(&soft.to_string())));
    assert_eq!(entry("open descriptors (this process)"), j["open_fds"]);
    match proc_sys("fs/nr_open").as_deref() {
        Some([n]) => assert_eq!(entry("fs.nr_open"), json!(n)),
        _ => assert!(entry("fs.nr_open").is_null(), "unreadable shows unknown"),
    }
    match proc_sys("net/ipv4/ip_local_port_range").as_deref() {
        Some([lo, hi]) => {
            assert_eq!(entry("net.ipv4.ip_local_port_range"), json!([lo, hi]));
            assert_eq!(
                field("net.ipv4.ip_local_port_range", "text"),
                json!(format!("{lo}-{hi} ({} ports)", hi - lo + 1))
            );
        }
        _ => assert!(entry("net.ipv4.ip_local_port_range").is_null()),
    }
    match proc_sys("net/core/somaxconn").as_deref() {
        Some([n]) => assert_eq!(entry("net.core.somaxconn"), json!(n)),
        _ => assert!(entry("net.core.somaxconn").is_null()),
    }
    match proc_sys("net/ipv4/tcp_mem").as_deref() {
        Some(v @ [_, _, _]) => {
            assert_eq!(entry("net.ipv4.tcp_mem"), json!(v));
            assert_eq!(field("net.ipv4.tcp_mem", "unit"), json!("pages"));
        }
        _ => assert!(entry("net.ipv4.tcp_mem").is_null()),
    }
    for (name, path) in [
        ("net.core.rmem_default", "net/core/rmem_default"),
        ("net.core.rmem_max", "net/core/rmem_max"),
        ("net.core.wmem_default", "net/core/wmem_default"),
        ("net.core.wmem_max", "net/core/wmem_max"),
        ("net.ipv4.udp_rmem_min", "net/ipv4/udp_rmem_min"),
        ("net.ipv4.udp_wmem_min", "net/ipv4/udp_wmem_min"),
    ] {
        assert_eq!(entry(name), scalar(path), "{name}");
        assert_eq!(field(name, "unit"), json!("bytes"), "{name}");
    }
    match proc_sys("net/ipv4/udp_mem").as_deref() {
        Some(v @ [_, _, _]) => {
            assert_eq!(entry("net.ipv4.udp_mem"), json!(v));
            assert_eq!(field("net.ipv4.udp_mem", "unit"), json!("pages"));
            assert!(field("net.ipv4.udp_mem", "text")
                .as_str()
                .is_some_and(|t| t.contains(" GiB") || t.contains(" MiB")));
        }
        _ => assert!(entry("net.ipv4.udp_mem").is_null()),
    }
    for name in [
        "Udp RcvbufErrors",
        "Udp InErrors",
        "Udp NoPorts",
        "Udp SndbufErrors",
    ] {
        assert!(
            entry(name).is_u64(),
            "{name}: /proc/net/snmp is readable here"
        );
    }
    // No entry's value is a string of digits.
    for e in j["entries"].as_array().into_iter().flatten() {
        if let Some(v) = e["value"].as_str() {
            assert!(
                v.parse::<f64>().is_err() && !v.starts_with(|c: char| c.is_ascii_digit()),
                "{e}"
            );
        }
    }
}

#[test]
fn test_command_json_prediction_is_the_smaller_limit() {
    let r = Report::read();
    let j = limits_cmd::json(&r);
    let p = &j["prediction"];
    match (r.fd_room(), r.ports()) {
        (Some(fds), Some(ports)) => {
            let (n, by) = if fds <= ports {
                (fds, "fd limit")
            } else {
                (ports, "ephemeral ports")
            };
            assert_eq!(p["connections"], json!(n));
            assert_eq!(p["limited_by"], json!(by));
            // The room is the soft limit less what is open: below the soft limit.
            assert!(fds < r.nofile_soft);
        }
        _ => assert!(p["connections"].is_null()),
    }
    // The text report carries the same sentence.
    let t = limits_cmd::text(&r);
    if let Some(n) = p["connections"].as_u64() {
        assert!(
            t.contains(&format!("can hold about {n} connections here")),
            "{t}"
        );
    }
}

/// `RcvbufErrors` of `/proc/net/snmp`'s `Udp:` lines, parsed here without the library.
fn snmp_rcvbuf_errors() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = text.lines().filter(|l| l.starts_with("Udp: "));
    let (names, values) = (udp.next()?, udp.next()?);
    let i = names.split_whitespace().position(|w| w == "RcvbufErrors")?;
    values.split_whitespace().nth(i)?.parse().ok()
}

#[test]
fn test_udp_counters_between_two_reads_of_proc_net_snmp() {
    // Other tests and programs move the counter: the report's value lies between a read
    // of the file before and one after.
    let before = snmp_rcvbuf_errors().expect("/proc/net/snmp");
    let j = Report::read().to_json();
    let after = snmp_rcvbuf_errors().expect("/proc/net/snmp");
    let got = j["udp"]["rcvbuf_errors"].as_u64().expect("a number");
    assert!(
        before <= got && got <= after,
        "{before} <= {got} <= {after}"
    );
}

/// Set for the copy of this test binary that runs inside the namespace.
const INNER: &str = "LOADGEN_TEST_UDP_DROPS_INNER";

/// Runs this test binary's `netns_inner_udp_flood` in `ns` (60 s at most: killed and
/// waited for past it); its exit status and output.
fn run_inner(ns: &netns::Netns) -> (bool, String) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.0])
        .arg(exe)
        .args(["--exact", "netns_inner_udp_flood", "--include-ignored"])
        .args(["--nocapture", "--test-threads=1"])
        .env(INNER, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ip netns exec");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        match child.try_wait().expect("waiting for the inner test") {
            Some(s) => break Some(s),
            None if Instant::now() > deadline => break None,
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    if status.is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("the inner test's output");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (status.is_some_and(|s| s.success()), text)
}

/// The drop figures the inner test printed for a family: `UDPDROPS v4 sent=.. dropped=..`
/// (the harness may print its `test ... ` prefix on the same line).
fn figures(text: &str, family: &str) -> Option<(u64, u64)> {
    let marker = format!("UDPDROPS {family} ");
    let line = text.lines().find_map(|l| Some(&l[l.find(&marker)?..]))?;
    let num = |key: &str| -> Option<u64> {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))?
            .parse()
            .ok()
    };
    Some((num("sent=")?, num("dropped=")?))
}

/// Issue 19, point 5: a UDP receiver with the smallest receive buffer, never read, flooded
/// from loopback in a namespace of its own (no other UDP there, so the counters start at
/// 0 and move only for this): its row in /proc/net/udp (udp6) shows the drops, and
/// RcvbufErrors rises by exactly as many, through readyloop::limits' readers; then
/// `loadgen limits --json`, run in the same namespace, shows them.
#[test]
fn test_netns_udp_drops_of_an_unread_socket_show_in_the_readers() {
    let Some(ns) = netns::netns_or_skip("udpdrops") else {
        return;
    };
    let (ok, text) = run_inner(&ns);
    assert!(ok, "the inner test failed:\n{text}");
    let (sent, dropped) = figures(&text, "v4").unwrap_or_else(|| panic!("no v4 line:\n{text}"));
    assert!(dropped > 0 && dropped < sent, "{text}");
    let v6 = figures(&text, "v6");
    eprintln!(
        "{}",
        text.lines()
            .filter(|l| l.contains("UDPDROPS"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    let out = ns
        .loadgen(&["limits", "--json"])
        .stdin(Stdio::null())
        .output()
        .expect("loadgen limits in the namespace");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: Value = serde_json::from_slice(&out.stdout).expect("limits JSON");
    assert_eq!(j["udp"]["rcvbuf_errors"], json!(dropped), "{:#}", j["udp"]);
    assert_eq!(j["udp"]["out_datagrams"], json!(sent), "{:#}", j["udp"]);
    let entry = j["entries"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["name"] == "Udp RcvbufErrors"))
        .cloned()
        .expect("the Udp RcvbufErrors row");
    assert_eq!(entry["value"], json!(dropped));
    if let Some((_, dropped6)) = v6 {
        assert_eq!(
            j["udp6"]["rcvbuf_errors"],
            json!(dropped6),
            "{:#}",
            j["udp6"]
        );
    }
}

/// Datagrams sent to each unread receiver.
const FLOOD: u64 = 1000;

/// A receiver on `ip` with the smallest receive buffer (the kernel's minimum, 2,304
/// bytes here: two datagrams of 64 bytes fit), [`FLOOD`] datagrams sent to it from
/// another socket on `ip`; then read until empty. Returns (dropped, kept), after checking
/// the socket's drops by address and by inode agree and add up with what was kept.
fn flood_unread(ip: &str) -> Option<(u64, u64)> {
    let rx = UdpSocket::bind(SocketAddr::new(ip.parse().ok()?, 0)).ok()?;
    nix::sys::socket::setsockopt(&rx, nix::sys::socket::sockopt::RcvBuf, &1usize)
        .expect("SO_RCVBUF");
    let to = rx.local_addr().expect("bound");
    let tx = UdpSocket::bind(SocketAddr::new(to.ip(), 0)).expect("sender");
    for _ in 0..FLOOD {
        tx.send_to(&[0x5a; 64], to).expect("loopback send");
    }
    // Loopback delivers within send_to; the drops are counted by then.
    let dropped = udp_socket_drops(to).expect("the receiver's row");
    let inode = socket_inode(&rx).expect("a socket's inode");
    assert_eq!(udp_socket_drops_by_inode(inode), Some(dropped), "{to}");
    rx.set_nonblocking(true).expect("nonblocking");
    let mut buf = [0u8; 128];
    let kept = (0..FLOOD).take_while(|_| rx.recv(&mut buf).is_ok()).count() as u64;
    assert_eq!(
        kept + dropped,
        FLOOD,
        "{to}: kept {kept}, dropped {dropped}"
    );
    assert!(
        dropped > 0,
        "{to}: a 2 KiB buffer cannot hold {FLOOD} datagrams"
    );
    Some((dropped, kept))
}

/// The counters' change from `a` to `b`, field by field that matters here.
fn delta(a: UdpCounters, b: UdpCounters) -> [Option<u64>; 4] {
    let d = |x: Option<u64>, y: Option<u64>| y?.checked_sub(x?);
    [
        d(a.rcvbuf_errors, b.rcvbuf_errors),
        d(a.in_errors, b.in_errors),
        d(a.in_datagrams, b.in_datagrams),
        d(a.out_datagrams, b.out_datagrams),
    ]
}

/// Runs only inside the namespace of the test above (started by it, `INNER` set): there
/// is no other UDP traffic there, so every counter moves by exactly this test's datagrams.
#[test]
#[ignore = "runs inside a network namespace, started by test_netns_udp_drops_of_an_unread_socket_show_in_the_readers"]
fn netns_inner_udp_flood() {
    if std::env::var(INNER).as_deref() != Ok("1") {
        return;
    }
    let before = udp_counters().expect("/proc/net/snmp");
    let (dropped, kept) = flood_unread("127.0.0.1").expect("IPv4 loopback");
    let after = udp_counters().expect("/proc/net/snmp");
    // RcvbufErrors and InErrors count the drops; InDatagrams counts what was read;
    // OutDatagrams what was sent.
    assert_eq!(
        delta(before, after),
        [Some(dropped), Some(dropped), Some(kept), Some(FLOOD)],
        "{before:?} -> {after:?}"
    );
    println!("UDPDROPS v4 sent={FLOOD} dropped={dropped} kept={kept}");
    let before6 = udp6_counters();
    match (before6, flood_unread("::1")) {
        (Some(b), Some((dropped6, kept6))) => {
            let a = udp6_counters().expect("/proc/net/snmp6");
            assert_eq!(
                delta(b, a),
                [Some(dropped6), Some(dropped6), Some(kept6), Some(FLOOD)],
                "{b:?} -> {a:?}"
            );
            println!("UDPDROPS v6 sent={FLOOD} dropped={dropped6} kept={kept6}");
        }
        _ => println!("UDPDROPS no IPv6 in the namespace"),
    }
}
