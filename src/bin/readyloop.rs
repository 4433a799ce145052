//! `readyloop`: the server. Parse flags, start a [`Server`], map the result to an exit
//! code: 0 after a clean shutdown; 1 a runtime failure such as a port in use; 2 bad
//! usage; 3 when the shutdown timeout cut connections with output still pending; 128 + N
//! when a second signal N forced the exit (as shells report a process killed by N).

use clap::Parser;
use readyloop::server::{self, ProtoKind, Server, ServerConfig};
use readyloop::units::{nonzero, parse_duration, parse_size};
use readyloop::{Config, ConnLimits, ListenOptions};
use std::net::SocketAddr;
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
#[derive(Parser, Debug)]
#[command(name = "readyloop", version, about, verbatim_doc_comment)]
struct Cli {
    /// Address to listen on (repeatable; IPv4 or IPv6 like [::1]:7878)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7878")]
    listen: Vec<SocketAddr>,

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

/// The start-up line's descriptor count, saying what it counts: `16 fds open once
/// started (5 at launch, 11 the server's own)`. `/stats` counts differently (see
/// `fds_open` there): while it serves, its spares freed and the request's socket open.
fn fds_open(cap: &server::Capacity) -> String {
    match (cap.open_fds, cap.open_fds_at_launch) {
        (Some(now), Some(launch)) => format!(
            "{now} fds open once started ({launch} at launch, {} the server's own)",
            now.saturating_sub(launch)
        ),
        (Some(now), None) => format!("{now} fds open once started"),
        (None, _) => "? fds open (/proc/self/fd unreadable)".to_string(),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return readyloop::units::usage_exit("readyloop", e),
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("readyloop: {e}");
            ExitCode::from(1)
        }
    }
}

/// Serve until shut down. Exit codes: 0 after a clean shutdown; 3 when the shutdown
/// timeout cut connections with output still pending; 128 + N when a second signal N
/// forced the exit (as shells report a process killed by N).
fn run(cli: Cli) -> std::io::Result<ExitCode> {
    // Before anything is opened: raising the fd limit is for everything after it.
    let mut cap = server::capacity()?;
    let limits = ConnLimits {
        max_input: cli.max_input.max(1),
        max_output: cli.max_output.max(1),
        idle_timeout: nonzero(cli.idle_timeout),
        header_timeout: nonzero(cli.header_timeout),
        min_rate: cli.min_rate as u64,
        min_rate_window: cli.min_rate_window,
        ..ConnLimits::default()
    };
    let cfg = ServerConfig {
        listen: cli.listen,
        proto: cli.proto,
        listen_opts: ListenOptions {
            backlog: cli.backlog,
            reuseport: cli.reuseport,
            rcvbuf: cli.rcvbuf,
            sndbuf: cli.sndbuf,
            nodelay: cli.nodelay,
        },
        reactor: Config {
            limits,
            max_conns: cli.max_conns,
            shutdown_timeout: cli.shutdown_timeout,
            shed_after: nonzero(cli.shed_after),
            ..Config::default()
        },
        stats_interval: nonzero(cli.stats_interval),
        json: cli.json,
        handle_signals: true,
        admin: cli.admin,
        ..ServerConfig::default()
    };
    let proto = cfg.proto;
    let mut srv = Server::bind(cfg)?;
    // The room left once the server's own descriptors are open, which is what
    // connections get.
    cap.recount();
    if let Some(n) = cap.connections {
        srv.reserve(n.min(1 << 20) as usize);
    }
    let addrs: Vec<String> = srv.local_addrs().iter().map(|a| a.to_string()).collect();
    let admin_addr = srv.admin_addr();
    let conns = cap
        .connections
        .map_or("unknown".to_string(), |n| n.to_string());
    if cli.json {
        println!(
            "{}",
            serde_json::json!({
                "event": "listening",
                "version": env!("CARGO_PKG_VERSION"),
                "listen": addrs,
                "proto": proto.name(),
                "pid": std::process::id(),
                "nofile_soft": cap.nofile.soft,
                "nofile_soft_before": cap.nofile.soft_before,
                "nofile_hard": cap.nofile.hard,
                // Once started (the server's own included), and at launch.
                "open_fds": cap.open_fds,
                "open_fds_at_launch": cap.open_fds_at_launch,
                "capacity": cap.connections,
                "somaxconn": cap.somaxconn,
                "max_conns": cli.max_conns,
                // The address, as `loadgen probe --server-stats` takes it.
                "admin": admin_addr.map(|a| a.to_string()),
            })
        );
    } else {
        println!(
            "readyloop {} listening on {} ({})",
            env!("CARGO_PKG_VERSION"),
            addrs.join(", "),
            proto.name()
        );
        let raised = if cap.nofile.soft_before < cap.nofile.soft {
            format!(" (raised from {})", cap.nofile.soft_before)
        } else {
            String::new()
        };
        let cap_note = match cli.max_conns {
            Some(m) => format!("; --max-conns {m}"),
            None => String::new(),
        };
        println!(
            "fd limit {}{raised}, hard {}; {}: room for {conns} connections{cap_note}",
            cap.nofile.soft,
            cap.nofile.hard,
            fds_open(&cap),
        );
        if let Some(m) = cap.somaxconn {
            if cli.backlog as u64 > m {
                println!("  listen backlog {} is capped at net.core.somaxconn = {m} (sysctl -w net.core.somaxconn=N)", cli.backlog);
            }
        }
        if cap.nofile.soft == cap.nofile.hard {
            println!("  (to hold more: raise the hard limit, e.g. `ulimit -Hn 1048576` as root or LimitNOFILE= in systemd; fs.nr_open caps it)");
        }
        if let Some(a) = admin_addr {
            println!("admin: http://{a}/stats");
        }
    }
    let outcome = srv.run_outcome()?;
    let stats = &outcome.stats;
    if cli.json {
        let mut j = stats.to_json();
        j["event"] = "stopped".into();
        j["forced_by_signal"] = outcome.forced_by.into();
        eprintln!("{j}");
    } else {
        eprintln!("readyloop: stopped: {}", stats.line());
    }
    if let Some(sig) = outcome.forced_by {
        return Ok(ExitCode::from((128 + sig).clamp(0, 255) as u8));
    }
    if stats.conns.shutdown_cut > 0 {
        let n = stats.conns.shutdown_cut;
        let s = if n == 1 { "" } else { "s" };
        eprintln!(
            "readyloop: {n} connection{s} cut with output pending after --shutdown-timeout {}",
            format_args!("{:?}", cli.shutdown_timeout)
        );
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}
