//! Addresses as users give them (issue 17, item 5): a host name's addresses all take
//! connections, round robin by connection slot; `--connect-to` sends them elsewhere
//! while the URL's host stays in `Host`; a targets file's URLs resolve the same way.
//!
//! Every server here listens on loopback (127.0.0.1 and ::1); a name with two addresses
//! comes from an `/etc/hosts` of the test's own (`common/hosts.rs`), never from DNS.
//! Every run is bounded: a few hundred milliseconds, a few connections.

use loadgen::addrs::Addrs;
use loadgen::engine;
use loadgen::framing::Framing;
use readyloop::server::{ProtoKind, Server, ServerConfig};
use readyloop::{Config, ConnLimits};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[path = "common/engine_spec.rs"]
mod engine_spec;
use engine_spec::spec;

#[path = "common/blocking_http.rs"]
mod blocking_http;
use blocking_http::BlockingHttp;

#[path = "common/hosts.rs"]
mod hosts;

/// A readyloop HTTP server on `listen`, in a thread, stopped (and its accepted
/// connections counted) by [`Srv::stop`].
struct Srv {
    addr: SocketAddr,
    handle: readyloop::Handle,
    thread: Option<std::thread::JoinHandle<std::io::Result<readyloop::server::ServerStats>>>,
}

impl Srv {
    /// `None` when `listen` cannot be bound (no IPv6 loopback, a port taken).
    fn start(listen: SocketAddr) -> Option<Srv> {
        let limits = ConnLimits {
            idle_timeout: None,
            header_timeout: None,
            ..ConnLimits::default()
        };
        let cfg = ServerConfig {
            listen: vec![listen],
            proto: ProtoKind::Http,
            reactor: Config {
                limits,
                ..Config::default()
            },
            ..ServerConfig::default()
        };
        let server = Server::bind(cfg).ok()?;
        let addr = server.local_addrs()[0];
        let handle = server.handle();
        let thread = Some(std::thread::spawn(move || server.run()));
        Some(Srv {
            addr,
            handle,
            thread,
        })
    }

    /// Stop it; the connections it accepted.
    fn stop(mut self) -> u64 {
        // Connects still in the backlog when the run ended are accepted meanwhile.
        std::thread::sleep(Duration::from_millis(50));
        self.handle.shutdown();
        let t = self.thread.take().expect("running");
        t.join().expect("no panic").expect("served").conns.accepted
    }
}

impl Drop for Srv {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.handle.stop();
            let _ = t.join();
        }
    }
}

/// Two servers on one port, 127.0.0.1:P and [::1]:P (a name with both addresses then
/// needs one port); `None` without IPv6 loopback or a port free in both families.
fn pair() -> Option<(Srv, Srv)> {
    for _ in 0..20 {
        let v4 = Srv::start("127.0.0.1:0".parse().ok()?)?;
        let v6 = SocketAddr::new("::1".parse().ok()?, v4.addr.port());
        if let Some(v6) = Srv::start(v6) {
            return Some((v4, v6));
        }
    }
    eprintln!("skipping: no IPv6 loopback, or no port free on both 127.0.0.1 and ::1");
    None
}

/// The engine, given two addresses, opens connection i to address i mod 2, and a
/// connection reopened (`--per-conn`) goes back to its slot's address: the spread
/// stays even, and the counts per address are the servers' own.
#[test]
fn test_the_engine_spreads_the_slots_round_robin_and_reconnects_where_they_were() {
    let Some((a, b)) = pair() else { return };
    let two = Addrs::new([a.addr, b.addr]).expect("two");
    let req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    let mut s = spec(a.addr, Framing::Http, req);
    s.aim = loadgen::load::Aim::new(two, &Framing::Http, s.aim.request.clone(), false, None);
    (s.connections, s.threads) = (4, 2);
    s.duration = Duration::from_millis(300);
    s.warmup = Duration::ZERO;
    let (workers, _) = engine::run(&s.load, &s.aim, (None, Box::new(|| Ok(None))), |_| {
        engine::TickAction::Continue
    })
    .expect("run completes");
    let per: Vec<u64> = (0..2)
        .map(|i| workers.iter().map(|w| w.connects_by_addr[i]).sum())
        .collect();
    assert_eq!(per, [2, 2], "4 slots over 2 addresses, each opened once");
    assert_eq!((a.stop(), b.stop()), (2, 2), "as each server saw it");

    // A new connection per request, one server 20 ms slow: every slot reconnects over
    // and over, each time to its own address, so the fast server's slots reconnect far
    // more often. (Reconnects dealt round robin by count would come out even.)
    let slow = BlockingHttp::start(Arc::new(|_: &blocking_http::Request| {
        Some((Duration::from_millis(20), "200 OK"))
    }));
    let Some(fast) = Srv::start("127.0.0.1:0".parse().expect("an address")) else {
        panic!("cannot bind 127.0.0.1");
    };
    s.aim.addrs = Addrs::new([fast.addr, slow.addr]).expect("two");
    s.per_conn = Some(1);
    let (workers, _) = engine::run(&s.load, &s.aim, (None, Box::new(|| Ok(None))), |_| {
        engine::TickAction::Continue
    })
    .expect("run completes");
    let per: Vec<u64> = (0..2)
        .map(|i| workers.iter().map(|w| w.connects_by_addr[i]).sum())
        .collect();
    let tried: u64 = workers.iter().map(|w| w.rec.connects_tried).sum();
    assert_eq!(per.iter().sum::<u64>(), tried, "every connect counted once");
    assert!(per[1] >= 4, "the slow server's slots reconnected: {per:?}");
    assert!(per[0] > 3 * per[1], "each slot kept its address: {per:?}");
    let seen = fast.stop();
    // A connect in flight at the end may be cut before the server accepts it.
    assert!(
        seen <= per[0] && seen + 4 >= per[0],
        "server {seen}, loadgen {per:?}"
    );
    let slow_seen = slow.accepted.load(std::sync::atomic::Ordering::Relaxed) as u64;
    assert!(
        slow_seen <= per[1] && slow_seen + 4 >= per[1],
        "{slow_seen}, {per:?}"
    );
}

/// A file of the test's own for `/etc/hosts`: `both.test` is 127.0.0.1 and ::1.
fn both_hosts(tag: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("loadgen-hosts-{tag}-{}", std::process::id()));
    std::fs::write(
        &p,
        "127.0.0.1 localhost\n127.0.0.1 both.test\n::1 both.test\n",
    )
    .expect("write hosts");
    p
}

/// The report of a finished run: its JSON (from `--json FILE`) and its text (stdout).
fn finished(mut c: Command, json: &std::path::Path) -> (serde_json::Value, String) {
    let out = c.output().expect("loadgen runs");
    assert!(
        out.status.success(),
        "{:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = std::fs::read(json).expect("the JSON report");
    let _ = std::fs::remove_file(json);
    (
        serde_json::from_slice(&doc).expect("JSON"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The `addresses` of a JSON report as (address, connects tried), sorted.
fn addresses(j: &serde_json::Value) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = j["addresses"]
        .as_array()
        .expect("an array")
        .iter()
        .map(|a| {
            let addr = a["addr"].as_str().expect("a string").to_string();
            (addr, a["connects_tried"].as_u64().expect("a count"))
        })
        .collect();
    v.sort();
    v
}

/// A name with two addresses (127.0.0.1 and ::1): the run connects to both, half the
/// connections each, and the reports name them.
#[test]
fn test_a_name_with_two_addresses_gets_the_connections_spread_over_both() {
    let Some((a, b)) = pair() else { return };
    let port = a.addr.port();
    let hosts = both_hosts("spread");
    let json = std::env::temp_dir().join(format!("loadgen-spread-{}.json", std::process::id()));
    let url = format!("http://both.test:{port}/");
    let args = [&url, "-c", "4", "-t", "2", "-d", "300ms", "--warmup", "0"];
    let json_arg = ["--json", json.to_str().expect("utf-8")];
    let all: Vec<&str> = args.iter().copied().chain(json_arg).collect();
    let Some(c) = hosts::loadgen_with_hosts(&hosts, &all) else {
        return;
    };
    let (j, text) = finished(c, &json);
    let _ = std::fs::remove_file(&hosts);
    let want = [
        (format!("127.0.0.1:{port}"), 2),
        (format!("[::1]:{port}"), 2),
    ];
    assert_eq!(addresses(&j), want, "{j}");
    assert_eq!(j["connect_to"], serde_json::Value::Null);
    assert!(
        text.contains("addresses:   2 (") && text.contains("), connections spread round-robin"),
        "{text}"
    );
    assert!(text.contains(&format!("2 to 127.0.0.1:{port}")), "{text}");
    // Each served its 2 (the first address also took the preflight connect).
    let (na, nb) = (a.stop(), b.stop());
    assert!(na >= 2 && nb >= 2 && na + nb <= 5, "{na} + {nb}");
}

/// `--targets`: the file's URL names the target, which resolves as a TARGET does (all
/// its addresses); the mix's requests go over connections to both.
#[test]
fn test_a_targets_file_s_host_resolves_to_all_its_addresses() {
    let Some((a, b)) = pair() else { return };
    let port = a.addr.port();
    let hosts = both_hosts("targets");
    let dir = std::env::temp_dir();
    let file = dir.join(format!("loadgen-both-targets-{}.txt", std::process::id()));
    let body = format!("GET http://both.test:{port}/a\n\nGET /b\n");
    std::fs::write(&file, body).expect("write the targets file");
    let json = dir.join(format!("loadgen-targets-{}.json", std::process::id()));
    let args = [
        "--targets",
        file.to_str().expect("utf-8"),
        "-c",
        "2",
        "-t",
        "1",
        "-d",
        "300ms",
        "--warmup",
        "0",
        "--json",
        json.to_str().expect("utf-8"),
    ];
    let Some(c) = hosts::loadgen_with_hosts(&hosts, &args) else {
        return;
    };
    let (j, _) = finished(c, &json);
    let _ = std::fs::remove_file(&hosts);
    let _ = std::fs::remove_file(&file);
    let want = [
        (format!("127.0.0.1:{port}"), 1),
        (format!("[::1]:{port}"), 1),
    ];
    assert_eq!(addresses(&j), want, "{j}");
    assert_eq!(j["mix"]["per_entry"].as_array().map(Vec::len), Some(2));
    let (na, nb) = (a.stop(), b.stop());
    assert!(na >= 1 && nb >= 1, "{na}, {nb}");
}

/// `--connect-to`: the connections go to ADDR:PORT, the URL's host goes in `Host`, and
/// the reports say which rule sent them there.
#[test]
fn test_connect_to_sends_the_connections_elsewhere_and_keeps_the_host() {
    let hosts_seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = hosts_seen.clone();
    let server = BlockingHttp::start(Arc::new(move |r: &blocking_http::Request| {
        if let Some(h) = r.headers.iter().find(|h| h.starts_with("host:")) {
            seen.lock().expect("not poisoned").push(h.clone());
        }
        Some((Duration::ZERO, "200 OK"))
    }));
    let rule = format!("api.example:80:127.0.0.1:{}", server.addr.port());
    let json = std::env::temp_dir().join(format!("loadgen-connect-to-{}.json", std::process::id()));
    let mut c = Command::new(env!("CARGO_BIN_EXE_loadgen"));
    c.args(["http://api.example/x", "--connect-to", &rule]);
    c.args([
        "-c", "2", "-t", "1", "-d", "300ms", "--warmup", "0", "--json",
    ]);
    c.arg(&json);
    let (j, text) = finished(c, &json);
    let to = server.addr.to_string();
    assert_eq!(addresses(&j), [(to.clone(), 2)], "{j}");
    assert_eq!(j["connect_to"], rule.as_str());
    assert_eq!(j["target"], "http://api.example/x");
    assert!(
        text.contains(&format!("address:     {to} (--connect-to {rule})")),
        "{text}"
    );
    let hosts = hosts_seen.lock().expect("not poisoned");
    assert!(!hosts.is_empty(), "requests arrived");
    assert!(
        hosts.iter().all(|h| h == "host: api.example:80"),
        "{hosts:?}"
    );
}

/// A bad `--connect-to`, or one that matches no target: one line, exit 2, before
/// anything is sent anywhere.
#[test]
fn test_a_bad_connect_to_is_a_usage_error() {
    for (args, says) in [
        (
            [
                "http://api.example/",
                "--connect-to",
                "api.example:80:127.0.0.1",
            ],
            "loadgen: --connect-to \"api.example:80:127.0.0.1\": missing ':'",
        ),
        (
            [
                "http://api.example/",
                "--connect-to",
                "web.example:80:127.0.0.1:1",
            ],
            "loadgen: --connect-to: no rule matches the target api.example:80",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
            .args(args)
            .args(["-d", "100ms"])
            .output()
            .expect("loadgen runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with(says), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    }
}
