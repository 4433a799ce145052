//! `readyloop`: the server, as flags -> plan -> run. The flags ([`Args`], clap) become a
//! [`Plan`] once, before anything opens; [`run`] binds a [`Server`] from it, prints the
//! start-up lines, serves, and maps the outcome to an exit code: 0 after a clean
//! shutdown; 1 a runtime failure such as a port in use; 2 bad usage; 3 when the shutdown
//! timeout cut connections with output still pending; 128 + N when a second signal N
//! forced the exit (as shells report a process killed by N).

use clap::Parser;
use readyloop::server::{self, Capacity, Outcome, ProtoKind, Server, ServerConfig};
use readyloop::tls::{ServerOptions, Versions};
use readyloop::units::{nonzero, parse_duration, parse_size};
use readyloop::{Config, ConnLimits, ListenOptions};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// A single-threaded epoll server: echo, discard, source, and minimal HTTP/1.1.
///
/// One thread, one mio reactor, edge-triggered; connections are explicit state machines
/// with bounded buffers. Stop it with Ctrl-C or SIGTERM: it stops accepting, lets
/// responses in flight finish (up to --shutdown-timeout) and exits 0.
///
/// Examples:
///   readyloop                                   # HTTP on 127.0.0.1:7878
///   readyloop --proto echo --listen [::1]:9000 --listen 127.0.0.1:9000
///   readyloop --max-conns 10000 --stats-interval 1s
///   readyloop --admin 127.0.0.1:9901             # curl http://127.0.0.1:9901/stats
///   curl http://127.0.0.1:7878/bytes/1048576 | wc -c
///   readyloop --listen tls://127.0.0.1:8443 --listen 127.0.0.1:8080 \
///             --tls-cert cert.pem --tls-key key.pem  # HTTPS and HTTP side by side
///   kill -HUP $(pidof readyloop)                # re-read the certificate and key
#[derive(Parser, Debug)]
#[command(name = "readyloop", version, about, verbatim_doc_comment)]
struct Args {
    /// Address to listen on (repeatable; IPv4 or IPv6 like [::1]:7878); tls://ADDR
    /// serves TLS there (needs --tls-cert and --tls-key)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7878", value_parser = parse_listen)]
    listen: Vec<Listen>,

    /// Certificate chain for tls:// listeners, PEM, leaf first (re-read on SIGHUP)
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,

    /// Private key of --tls-cert, PEM (re-read on SIGHUP)
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,

    /// TLS versions accepted: 1.2, 1.3 or both
    #[arg(long, value_name = "V", default_value = "both", value_parser = Versions::parse)]
    tls_version: Versions,

    /// Protocol: http (GET / and GET /bytes/N), echo, discard, source (streams bytes)
    #[arg(long, value_name = "PROTO", default_value = "http", value_parser = ProtoKind::parse)]
    proto: ProtoKind,

    /// listen() backlog; the kernel caps it at net.core.somaxconn
    #[arg(long, value_name = "N", default_value_t = 4096)]
    backlog: i32,

    /// Set SO_REUSEPORT so several readyloop processes can share the port
    #[arg(long)]
    reuseport: bool,

    /// Set TCP_NODELAY on accepted connections
    #[arg(long)]
    nodelay: bool,

    /// SO_RCVBUF of the listener (inherited by connections), e.g. 256K
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    rcvbuf: Option<usize>,

    /// SO_SNDBUF of the listener (inherited by connections), e.g. 1M
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    sndbuf: Option<usize>,

    /// Most open connections; further ones are accepted and closed (HTTP: 503 first)
    #[arg(long, value_name = "N")]
    max_conns: Option<usize>,

    /// Close connections idle this long (0 = never)
    #[arg(long, value_name = "DUR", default_value = "60s", value_parser = parse_duration)]
    idle_timeout: Duration,

    /// Close connections whose request stays incomplete this long (0 = never)
    #[arg(long, value_name = "DUR", default_value = "10s", value_parser = parse_duration)]
    header_timeout: Duration,

    /// Most unused input kept per connection; HTTP answers 431 beyond it
    #[arg(long, value_name = "BYTES", default_value = "64K", value_parser = parse_size)]
    max_input: usize,

    /// Most unsent output per connection; a peer that does not read is closed beyond it
    #[arg(long, value_name = "BYTES", default_value = "4M", value_parser = parse_size)]
    max_output: usize,

    /// Print one line of counters to stderr this often (0 = off)
    #[arg(long, value_name = "DUR", default_value = "0", value_parser = parse_duration)]
    stats_interval: Duration,

    /// At the fd limit, after this long with no descriptor freed, answer queued
    /// connections (HTTP 503) and close them at once instead of leaving them queued
    /// (0 = never)
    #[arg(long, value_name = "DUR", default_value = "100ms", value_parser = parse_duration)]
    shed_after: Duration,

    /// Close connections whose output drains, or whose request body arrives, slower
    /// than this many bytes per second over --min-rate-window (0 = no minimum)
    #[arg(long, value_name = "BYTES", default_value = "1K", value_parser = parse_size)]
    min_rate: usize,

    /// The window --min-rate is judged over
    #[arg(long, value_name = "DUR", default_value = "10s", value_parser = parse_duration)]
    min_rate_window: Duration,

    /// On SIGINT/SIGTERM, wait this long for responses in flight before closing all
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = parse_duration)]
    shutdown_timeout: Duration,

    /// Start-up and stats lines as JSON objects (one per line)
    #[arg(long)]
    json: bool,

    /// Serve statistics as JSON on http://ADDR/stats (e.g. 127.0.0.1:0 for any port;
    /// each process sharing a port with --reuseport needs its own)
    #[arg(long, value_name = "ADDR")]
    admin: Option<SocketAddr>,
}

/// One `--listen`: the transport is part of the address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Listen {
    /// `ADDR` (or `tcp://ADDR`).
    Plain(SocketAddr),
    /// `tls://ADDR`.
    Tls(SocketAddr),
}

fn parse_listen(s: &str) -> Result<Listen, String> {
    let (tls, addr) = match s.split_once("://") {
        None => (false, s),
        Some(("tcp", a)) => (false, a),
        Some(("tls", a)) => (true, a),
        Some((scheme, _)) => {
            return Err(format!(
                "unknown transport '{scheme}://' (use tls://ADDR, or ADDR for plain TCP)"
            ))
        }
    };
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| format!("{addr}: {e} (IP:PORT, IPv6 as [::1]:PORT)"))?;
    Ok(if tls {
        Listen::Tls(addr)
    } else {
        Listen::Plain(addr)
    })
}

/// The server to run, settled once from the flags: the configuration the [`Server`] is
/// bound with, which the start-up and exit lines read too.
///
/// Clap has checked every flag's syntax; what it cannot do is give values their meaning
/// (a zero duration means "off", input and output bounds are at least one byte) or
/// check flags against each other: a tls:// listener without a certificate and key is
/// refused here, as bad usage.
#[derive(Debug)]
struct Plan {
    /// Listeners, protocol, limits, signals, stats lines, admin address.
    server: ServerConfig,
}

impl Plan {
    fn from_args(args: Args) -> Result<Plan, String> {
        let limits = ConnLimits {
            max_input: args.max_input.max(1),
            max_output: args.max_output.max(1),
            idle_timeout: nonzero(args.idle_timeout),
            header_timeout: nonzero(args.header_timeout),
            min_rate: args.min_rate as u64,
            min_rate_window: args.min_rate_window,
            ..ConnLimits::default()
        };
        let plain = args.listen.iter().filter_map(|l| match l {
            Listen::Plain(a) => Some(*a),
            Listen::Tls(_) => None,
        });
        let tls = args.listen.iter().filter_map(|l| match l {
            Listen::Tls(a) => Some(*a),
            Listen::Plain(_) => None,
        });
        let listen_tls: Vec<SocketAddr> = tls.collect();
        let tls = match (args.tls_cert, args.tls_key) {
            (Some(cert), Some(key)) => {
                let mut o = ServerOptions::new(cert, key);
                o.versions = args.tls_version;
                Some(o)
            }
            (None, None) if listen_tls.is_empty() => None,
            (None, None) => {
                return Err("a tls:// listener needs --tls-cert FILE and --tls-key FILE".into())
            }
            _ => return Err("--tls-cert and --tls-key go together".into()),
        };
        let server = ServerConfig {
            listen: plain.collect(),
            listen_tls,
            tls,
            proto: args.proto,
            listen_opts: ListenOptions {
                backlog: args.backlog,
                reuseport: args.reuseport,
                rcvbuf: args.rcvbuf,
                sndbuf: args.sndbuf,
                nodelay: args.nodelay,
            },
            reactor: Config {
                limits,
                max_conns: args.max_conns,
                shutdown_timeout: args.shutdown_timeout,
                shed_after: nonzero(args.shed_after),
                ..Config::default()
            },
            stats_interval: nonzero(args.stats_interval),
            json: args.json,
            handle_signals: true,
            admin: args.admin,
            ..ServerConfig::default()
        };
        Ok(Plan { server })
    }
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => return readyloop::units::usage_exit("readyloop", e),
    };
    let plan = match Plan::from_args(args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("readyloop: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&plan) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("readyloop: {e}");
            ExitCode::from(1)
        }
    }
}

/// Serve until shut down; the exit code as the module's doc lists it (an `Err` is 1).
fn run(plan: &Plan) -> std::io::Result<ExitCode> {
    // Before anything is opened: raising the fd limit is for everything after it.
    let mut cap = server::capacity()?;
    let mut srv = Server::bind(plan.server.clone())?;
    // The room left once the server's own descriptors are open, which is what
    // connections get.
    cap.recount();
    if let Some(n) = cap.connections {
        srv.reserve(n.min(1 << 20) as usize);
    }
    if plan.server.json {
        println!("{}", listening_json(plan, &srv, &cap));
    } else {
        print_listening(plan, &srv, &cap);
    }
    let outcome = srv.run_outcome()?;
    Ok(stopped(plan, &outcome))
}

/// The JSON start-up line: the `listening` event.
fn listening_json(plan: &Plan, srv: &Server, cap: &Capacity) -> serde_json::Value {
    let addrs = listen_names(srv);
    serde_json::json!({
        "event": "listening",
        "version": env!("CARGO_PKG_VERSION"),
        "listen": addrs,
        "proto": plan.server.proto.name(),
        "pid": std::process::id(),
        "nofile_soft": cap.nofile.soft,
        "nofile_soft_before": cap.nofile.soft_before,
        "nofile_hard": cap.nofile.hard,
        // Once started (the server's own included), and at launch.
        "open_fds": cap.open_fds,
        "open_fds_at_launch": cap.open_fds_at_launch,
        "capacity": cap.connections,
        "somaxconn": cap.somaxconn,
        "max_conns": plan.server.reactor.max_conns,
        // The address, as `loadgen probe --server-stats` takes it.
        "admin": srv.admin_addr().map(|a| a.to_string()),
    })
}

/// The bound addresses as `--listen` takes them: plain ones bare, TLS ones `tls://`.
fn listen_names(srv: &Server) -> Vec<String> {
    let plain = srv.local_addrs().iter().map(|a| a.to_string());
    let tls = srv.tls_addrs().iter().map(|a| format!("tls://{a}"));
    plain.chain(tls).collect()
}

/// The text start-up lines: where it listens, the fd limit and the room it leaves, what
/// caps the backlog or the limit, the admin address.
fn print_listening(plan: &Plan, srv: &Server, cap: &Capacity) {
    let addrs = listen_names(srv);
    println!(
        "readyloop {} listening on {} ({})",
        env!("CARGO_PKG_VERSION"),
        addrs.join(", "),
        plan.server.proto.name()
    );
    let raised = if cap.nofile.soft_before < cap.nofile.soft {
        format!(" (raised from {})", cap.nofile.soft_before)
    } else {
        String::new()
    };
    let conns = cap
        .connections
        .map_or("unknown".to_string(), |n| n.to_string());
    let cap_note = match plan.server.reactor.max_conns {
        Some(m) => format!("; --max-conns {m}"),
        None => String::new(),
    };
    println!(
        "fd limit {}{raised}, hard {}; {}: room for {conns} connections{cap_note}",
        cap.nofile.soft,
        cap.nofile.hard,
        fds_open(cap),
    );
    let backlog = plan.server.listen_opts.backlog;
    if let Some(m) = cap.somaxconn {
        if backlog as u64 > m {
            println!("  listen backlog {backlog} is capped at net.core.somaxconn = {m} (sysctl -w net.core.somaxconn=N)");
        }
    }
    if cap.nofile.soft == cap.nofile.hard {
        println!("  (to hold more: raise the hard limit, e.g. `ulimit -Hn 1048576` as root or LimitNOFILE= in systemd; fs.nr_open caps it)");
    }
    if let Some(a) = srv.admin_addr() {
        println!("admin: http://{a}/stats");
    }
}

/// The stop line, and the exit code: 128 + N when a second signal N forced the exit, 3
/// when the shutdown timeout cut connections with output pending, else 0.
fn stopped(plan: &Plan, outcome: &Outcome) -> ExitCode {
    let stats = &outcome.stats;
    if plan.server.json {
        let mut j = stats.to_json();
        j["event"] = "stopped".into();
        j["forced_by_signal"] = outcome.forced_by.into();
        eprintln!("{j}");
    } else {
        eprintln!("readyloop: stopped: {}", stats.line());
    }
    if let Some(sig) = outcome.forced_by {
        return ExitCode::from((128 + sig).clamp(0, 255) as u8);
    }
    if stats.conns.shutdown_cut > 0 {
        let n = stats.conns.shutdown_cut;
        let s = if n == 1 { "" } else { "s" };
        eprintln!(
            "readyloop: {n} connection{s} cut with output pending after --shutdown-timeout {}",
            format_args!("{:?}", plan.server.reactor.shutdown_timeout)
        );
        return ExitCode::from(3);
    }
    ExitCode::SUCCESS
}

/// The start-up line's descriptor count, saying what it counts: `16 fds open once
/// started (5 at launch, 11 the server's own)`. `/stats` counts differently (see
/// `fds_open` there): while it serves, its spares freed and the request's socket open.
fn fds_open(cap: &Capacity) -> String {
    match (cap.open_fds, cap.open_fds_at_launch) {
        (Some(now), Some(launch)) => format!(
            "{now} fds open once started ({launch} at launch, {} the server's own)",
            now.saturating_sub(launch)
        ),
        (Some(now), None) => format!("{now} fds open once started"),
        (None, _) => "? fds open (/proc/self/fd unreadable)".to_string(),
    }
}
