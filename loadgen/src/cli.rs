//! The command line: `loadgen [run] [TARGET] ...`.

use crate::engine::{self, LoadSpec, Tick};
use crate::error::Error;
use crate::framing::Framing;
use crate::interrupt::Interrupt;
use crate::outputs::{self, Staged};
use crate::plan;
use crate::record::Recorder;
use crate::report;
use crate::request;
use crate::result::{CpuTime, Interrupted, Mode, RunResult};
use clap::{Args, Parser, Subcommand};
use readyloop::server::{ProtoKind, Server, ServerConfig};
use readyloop::units::{nonzero, parse_duration};
use readyloop::{Config, ConnLimits};
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// A load generator on the readyloop reactor: honest latency (open loop with
/// coordinated-omission correction, as wrk2), any simple TCP protocol.
///
/// With no TARGET it starts an embedded readyloop server on 127.0.0.1 and measures that,
/// so `loadgen` alone shows the whole thing.
///
/// Examples:
///   loadgen                                          # embedded server, HTTP, 10 s
///   loadgen http://127.0.0.1:8080/ -c 100 -d 30s     # closed loop against a server
///   loadgen http://127.0.0.1:8080/ -R 20000 -c 50    # open loop at 20k req/s, corrected
///   loadgen 127.0.0.1:6379 --proto resp --request 'PING\r\n'
///   loadgen 127.0.0.1:9000 --proto echo --size 1024 --per-conn 1   # new connection per request
///   loadgen --json - --hgrm lat.hgrm --log lat.hlog --plot lat.svg
#[derive(Parser, Debug)]
#[command(
    name = "loadgen",
    version,
    about,
    verbatim_doc_comment,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    run: RunArgs,
}

// Parsed once per run: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Cmd {
    /// Generate load and report latency (the default command)
    Run(RunArgs),
    /// Open connections until a limit stops it, hold them, and name that limit
    Probe(ProbeArgs),
    /// Every limit that caps connections here: value, source, how to raise it
    Limits {
        /// JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// (internal) the embedded server of `probe`, in its own process
    #[command(name = "__serve", hide = true)]
    Serve {
        /// Listen address
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Connection cap
        #[arg(long)]
        max_conns: Option<usize>,
        /// Admin listener address
        #[arg(long, default_value = "127.0.0.1:0")]
        admin: SocketAddr,
    },
}

/// `loadgen probe`: how many connections can be held, and what stops it.
///
/// Examples:
///   loadgen probe                                   # embedded echo server in its own process
///   loadgen probe 127.0.0.1:7878 --server-stats 127.0.0.1:7879 --verify
///   loadgen probe 127.0.0.1:9000 --source 127.0.0.1-127.0.0.8 --procs 2 --hold 5s --verify
#[derive(Args, Debug, Clone)]
#[command(verbatim_doc_comment)]
struct ProbeArgs {
    /// HOST:PORT of the server to hold connections to (none: an embedded echo server)
    target: Option<String>,

    /// New connections per second (all processes)
    #[arg(long, default_value_t = 5000.0, value_name = "N")]
    connect_rate: f64,

    /// Give up on one connect after this long (a timeout means SYNs were dropped)
    #[arg(long, default_value = "3s", value_parser = parse_duration, value_name = "DUR")]
    connect_timeout: Duration,

    /// Stop after this many connections (default: until something stops it)
    #[arg(long, value_name = "N")]
    max: Option<u64>,

    /// Keep the connections open this long after the ramp, counting those the server closes
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DUR")]
    hold: Duration,

    /// At the end, check every held connection still answers (echo of one byte)
    #[arg(long)]
    verify: bool,

    /// Source addresses, round robin: 127.0.0.1-127.0.0.8, 127.0.0.0/29 or a comma list
    #[arg(long, value_name = "ADDRS", value_parser = crate::probe::parse_source_list)]
    source: Option<crate::probe::SourceList>,

    /// Spread the connections over N processes (each has its own descriptor table)
    #[arg(long, default_value_t = 1, value_name = "N")]
    procs: usize,

    /// The server's admin address (readyloop --admin): its view before and during the hold
    #[arg(long, value_name = "ADDR")]
    server_stats: Option<SocketAddr>,

    /// Upper bound on the ramp
    #[arg(long, default_value = "120s", value_parser = parse_duration, value_name = "DUR")]
    max_time: Duration,

    /// Write the report as JSON to FILE ('-' = stdout, replacing the text)
    #[arg(long, value_name = "FILE")]
    json: Option<String>,

    /// (internal) run as one of --procs' children
    #[arg(long, hide = true)]
    child: bool,
}

#[derive(Args, Debug, Clone)]
struct RunArgs {
    /// HOST:PORT, or for --proto http a URL http://HOST:PORT/PATH (none: embedded server)
    target: Option<String>,

    /// Connections to keep open
    #[arg(short = 'c', long, default_value_t = 50, value_name = "N")]
    connections: usize,

    /// How long to measure (after the warm-up)
    #[arg(short = 'd', long, default_value = "10s", value_parser = parse_duration, value_name = "DUR")]
    duration: Duration,

    /// Worker threads, each with its own reactor [default: cores, or cores-1 with the embedded server]
    #[arg(short = 't', long, value_name = "N")]
    threads: Option<usize>,

    /// Run this long before measuring; its results are discarded
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DUR")]
    warmup: Duration,

    /// Open new connections at most this fast (per second, all threads)
    #[arg(long, value_name = "N")]
    connect_rate: Option<f64>,

    /// Open loop: total requests per second; latency is corrected for coordinated omission
    #[arg(short = 'R', long, value_name = "N")]
    rate: Option<f64>,

    /// Close and reopen each connection after N requests (new-connections test)
    #[arg(long, value_name = "N")]
    per_conn: Option<u64>,

    /// Protocol / framing: http, echo, line, fixed:N, resp
    #[arg(long, default_value = "http", value_name = "PROTO")]
    proto: String,

    /// Payload bytes for echo, line and fixed:N when no --request is given
    #[arg(long, default_value_t = 64, value_name = "BYTES")]
    size: usize,

    /// HTTP method
    #[arg(short = 'm', long, default_value = "GET")]
    method: String,

    /// HTTP header "Name: value" (repeatable)
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,

    /// HTTP request body (escapes as in --request)
    #[arg(long, value_name = "STRING")]
    body: Option<String>,

    /// The exact request bytes, with escapes \r \n \t \0 \\ \xNN (replaces the built request)
    #[arg(long, value_name = "STRING", conflicts_with = "request_file")]
    request: Option<String>,

    /// Read the exact request bytes from a file
    #[arg(long, value_name = "FILE")]
    request_file: Option<PathBuf>,

    /// A response not complete after this long is an error (0 = no timeout)
    #[arg(long, default_value = "0", value_parser = parse_duration, value_name = "DUR")]
    timeout: Duration,

    /// Give up on a connect after this long
    #[arg(long, default_value = "3s", value_parser = parse_duration, value_name = "DUR")]
    connect_timeout: Duration,

    /// Leave Nagle's algorithm on (TCP_NODELAY is set by default)
    #[arg(long)]
    no_nodelay: bool,

    /// Write the report as JSON to FILE ('-' = stdout, replacing the text report)
    #[arg(long, value_name = "FILE")]
    json: Option<String>,

    /// Write the corrected latency distribution as an HdrHistogram .hgrm file
    #[arg(long, value_name = "FILE")]
    hgrm: Option<PathBuf>,

    /// Write an HdrHistogram interval log (one histogram per second)
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,

    /// Plot latency by percentile (corrected and raw) as SVG
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
}

/// Parse the process arguments and run; the exit code says how it went.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return readyloop::units::usage_exit("loadgen", e),
    };
    let result = match cli.cmd {
        Some(Cmd::Run(a)) => run(a),
        None => run(cli.run),
        Some(Cmd::Probe(p)) => probe(p).map(|()| ExitCode::SUCCESS),
        Some(Cmd::Limits { json }) => crate::limits_cmd::run(json)
            .map(|()| ExitCode::SUCCESS)
            .map_err(|e| Error::io("writing the limits report", e)),
        Some(Cmd::Serve {
            listen,
            max_conns,
            admin,
        }) => serve(listen, max_conns, admin).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// The embedded server: which readyloop protocol answers a framing.
fn server_proto(f: &Framing) -> Result<ProtoKind, Error> {
    match f {
        Framing::Http => Ok(ProtoKind::Http),
        Framing::Echo | Framing::Line | Framing::Fixed(_) => Ok(ProtoKind::Echo),
        Framing::Resp => Err(Error::Usage(
            "--proto resp needs a TARGET (e.g. a redis-server at 127.0.0.1:6379); the embedded server does not speak RESP"
                .into(),
        )),
    }
}

/// A payload of `n` bytes that echo servers return unchanged: printable, varied.
fn payload(n: usize, line: bool) -> Vec<u8> {
    let mut v: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
    if line {
        if let Some(last) = v.last_mut() {
            *last = b'\n';
        } else {
            v.push(b'\n');
        }
    }
    v
}

struct Embedded {
    handle: readyloop::Handle,
    thread: std::thread::JoinHandle<std::io::Result<readyloop::server::ServerStats>>,
}

fn start_embedded(proto: ProtoKind) -> Result<(SocketAddr, Embedded), Error> {
    let limits = ConnLimits {
        idle_timeout: None,
        header_timeout: None,
        ..ConnLimits::default()
    };
    let cfg = ServerConfig {
        listen: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
        proto,
        reactor: Config {
            limits,
            ..Config::default()
        },
        ..ServerConfig::default()
    };
    let server = Server::bind(cfg).map_err(|e| Error::io("starting the embedded server", e))?;
    let addr = server.local_addrs()[0];
    let handle = server.handle();
    let thread = std::thread::Builder::new()
        .name("readyloop-server".into())
        .spawn(move || server.run())
        .map_err(|e| Error::io("starting the embedded server thread", e))?;
    Ok((addr, Embedded { handle, thread }))
}

fn run(a: RunArgs) -> Result<ExitCode, Error> {
    if a.connections == 0 {
        return Err(Error::Usage("--connections must be at least 1".into()));
    }
    if a.duration.is_zero() {
        return Err(Error::Usage("--duration must be more than 0".into()));
    }
    if let Some(r) = a.rate {
        if !(r.is_finite() && r > 0.0) {
            return Err(Error::Usage(format!(
                "--rate must be a positive number, not {r}"
            )));
        }
    }
    if let Some(r) = a.connect_rate {
        if !(r.is_finite() && r > 0.0) {
            return Err(Error::Usage(format!(
                "--connect-rate must be a positive number, not {r}"
            )));
        }
    }
    if a.per_conn == Some(0) {
        return Err(Error::Usage("--per-conn must be at least 1".into()));
    }
    // Every output file is checked (and its temporary created) before anything runs.
    let mut outputs = Outputs::stage(&a)?;
    // Before any thread starts, so that every thread inherits the blocked signals.
    let interrupt = Interrupt::install().map_err(|e| Error::io("handling signals", e))?;
    let framing = Framing::parse(&a.proto).map_err(Error::Usage)?;
    // Raise the fd limit: every connection is a descriptor. Then refuse, before
    // anything starts, connections that cannot all have one.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let will_embed = a.target.is_none();
    let threads = a.threads.unwrap_or(if will_embed {
        cores.saturating_sub(1).max(1)
    } else {
        cores
    });
    if threads == 0 {
        return Err(Error::Usage("--threads must be at least 1".into()));
    }
    let limits = readyloop::limits::Report::read();
    if let Some(free) = limits.fd_room() {
        let room = plan::FdRoom {
            free,
            soft: limits.nofile_soft,
            hard: limits.nofile_hard,
        };
        plan::check_fds(a.connections, threads.min(a.connections), will_embed, room)
            .map_err(Error::Usage)?;
    }

    // Target: a URL for http, HOST:PORT otherwise, or the embedded server.
    let mut embedded = None;
    let (addr, target_label, host_header, path) = match (&a.target, &framing) {
        // Anything with a scheme is a URL: the parser names a wrong scheme (any case)
        // itself, and an IPv6 host keeps its brackets.
        (Some(t), f) if t.contains("://") => {
            let url = request::parse_url(t).map_err(Error::Usage)?;
            if *f != Framing::Http {
                return Err(Error::Usage(format!(
                    "{t}: a URL is for --proto http; give HOST:PORT for --proto {}",
                    a.proto
                )));
            }
            let addr = url.socket_addr().map_err(Error::Usage)?;
            (addr, t.clone(), url.host_header(), url.path.clone())
        }
        (Some(t), _) => {
            let addr = request::parse_target(t).map_err(Error::Usage)?;
            (addr, t.clone(), t.clone(), "/".to_string())
        }
        (None, f) => {
            let (addr, e) = start_embedded(server_proto(f)?)?;
            embedded = Some(e);
            let label = match f {
                Framing::Http => format!("http://{addr}/"),
                _ => addr.to_string(),
            };
            (addr, label, addr.to_string(), "/".to_string())
        }
    };

    // The request bytes.
    let request = if let Some(r) = &a.request {
        request::unescape(r).map_err(|e| Error::Usage(format!("--request: {e}")))?
    } else if let Some(p) = &a.request_file {
        std::fs::read(p).map_err(|e| Error::io(format!("--request-file {}", p.display()), e))?
    } else {
        match &framing {
            Framing::Http => {
                let body = match &a.body {
                    Some(b) => {
                        request::unescape(b).map_err(|e| Error::Usage(format!("--body: {e}")))?
                    }
                    None => Vec::new(),
                };
                request::http_request(&a.method, &host_header, &path, &a.headers, &body)
                    .map_err(Error::Usage)?
            }
            Framing::Echo | Framing::Fixed(_) => payload(a.size.max(1), false),
            Framing::Line => payload(a.size.max(1), true),
            Framing::Resp => {
                return Err(Error::Usage(
                    "--proto resp needs --request (e.g. --request 'PING\\r\\n')".into(),
                ));
            }
        }
    };
    if request.is_empty() {
        return Err(Error::Usage("the request is empty".into()));
    }
    let head = framing == Framing::Http && request.starts_with(b"HEAD ");

    // Fail fast, with one clear line, when nothing answers.
    preflight(addr, a.connect_timeout)?;

    let spec = LoadSpec {
        target: addr,
        connections: a.connections,
        threads,
        connect_rate: a.connect_rate,
        rate: a.rate,
        duration: a.duration,
        warmup: a.warmup,
        request,
        head,
        framing: framing.clone(),
        per_conn: a.per_conn,
        timeout: nonzero(a.timeout),
        connect_timeout: a.connect_timeout,
        sources: Vec::new(),
        nodelay: !a.no_nodelay,
        interrupt: Some(interrupt.clone()),
    };

    let tty = std::io::stderr().is_terminal();
    let total = a.duration;
    let mut done_errors = 0;
    let mut last_index = usize::MAX;
    let mut acc = crate::record::new_histogram();
    let mut acc_done = 0u64;
    let mut seen = 0usize;
    let on_tick = |t: &Tick| {
        done_errors = done_errors.max(t.errors);
        if !tty {
            return;
        }
        // Merge the workers' reports of one second, print when all are in.
        if t.index != last_index {
            last_index = t.index;
            acc.reset();
            acc_done = 0;
            seen = 0;
        }
        let _ = acc.add(&t.corrected);
        acc_done += t.completed;
        seen += 1;
        if seen == threads {
            let elapsed = Duration::from_secs(t.index as u64 + 1).min(total);
            let p99 = (!acc.is_empty()).then(|| acc.value_at_quantile(0.99));
            eprint!(
                "\r{}\x1b[K",
                report::progress_line(elapsed, total, acc_done as f64, p99, done_errors)
            );
        }
    };
    let (workers, intervals) =
        engine::run(&spec, on_tick).map_err(|e| Error::io("running the load", e))?;
    let signal = interrupt.signal();
    let measured = workers
        .iter()
        .map(|w| w.measured)
        .max()
        .unwrap_or(a.duration);
    if tty {
        eprint!("\r\x1b[K");
    }
    let mut rec = Recorder::default();
    let mut cpu = CpuTime::default();
    for w in &workers {
        rec.merge(&w.rec);
        cpu.user_s += w.cpu.user_s;
        cpu.sys_s += w.cpu.sys_s;
    }
    let server_stats = match embedded {
        Some(e) => {
            e.handle.shutdown();
            match e.thread.join() {
                Ok(Ok(s)) => Some(s.to_json()),
                Ok(Err(err)) => return Err(Error::io("embedded server", err)),
                Err(_) => {
                    return Err(Error::Io(
                        "embedded server".into(),
                        std::io::Error::other("thread panicked"),
                    ))
                }
            }
        }
        None => None,
    };
    let result = RunResult {
        target: target_label,
        embedded: server_stats.is_some(),
        proto: framing.name(),
        mode: match a.rate {
            Some(rate) => Mode::Open { rate },
            None => Mode::Closed,
        },
        connections: a.connections,
        threads,
        per_conn: a.per_conn,
        warmup: a.warmup,
        duration: if signal != 0 { measured } else { a.duration },
        interrupted: (signal != 0).then_some(Interrupted {
            signal,
            planned: a.duration,
        }),
        rec,
        intervals,
        cpu,
        server_stats,
    };
    write_reports(&a, &result, &mut outputs)?;
    Ok(if signal != 0 {
        // Interrupted, report written: 128 + the signal, as a shell expects.
        ExitCode::from((128 + signal).clamp(0, 255) as u8)
    } else {
        ExitCode::SUCCESS
    })
}

fn probe(a: ProbeArgs) -> Result<(), Error> {
    if !(a.connect_rate.is_finite() && a.connect_rate > 0.0) {
        return Err(Error::Usage(format!(
            "--connect-rate must be a positive number, not {}",
            a.connect_rate
        )));
    }
    if a.procs == 0 || a.procs > 64 {
        return Err(Error::Usage("--procs must be 1 to 64".into()));
    }
    let target = match &a.target {
        Some(t) => Some(request::parse_target(t).map_err(Error::Usage)?),
        None => None,
    };
    if let Some(t) = target {
        if !a.child {
            preflight(t, a.connect_timeout)?;
        }
    }
    let _ = readyloop::limits::raise_nofile();
    crate::probe::run(crate::probe::ProbeOptions {
        target,
        spec_rate: a.connect_rate,
        connect_timeout: a.connect_timeout,
        max: a.max,
        hold: a.hold,
        verify: a.verify,
        sources: a.source.map(|s| s.0).unwrap_or_default(),
        procs: a.procs,
        server_stats: a.server_stats,
        max_time: a.max_time,
        json: a.json,
        child: a.child,
    })
}

/// The embedded server of `probe`: a readyloop echo server with its admin listener, in
/// this (child) process; prints its addresses as one JSON line, serves until SIGTERM.
fn serve(listen: SocketAddr, max_conns: Option<usize>, admin: SocketAddr) -> Result<(), Error> {
    let _ = readyloop::limits::raise_nofile();
    let limits = ConnLimits {
        idle_timeout: None,
        header_timeout: None,
        ..ConnLimits::default()
    };
    let cfg = ServerConfig {
        listen: vec![listen],
        proto: ProtoKind::Echo,
        reactor: Config {
            limits,
            max_conns,
            ..Config::default()
        },
        admin: Some(admin),
        handle_signals: true,
        ..ServerConfig::default()
    };
    let mut server = Server::bind(cfg).map_err(|e| Error::io("embedded server", e))?;
    if let Ok(cap) = readyloop::server::capacity() {
        server.reserve(cap.connections.unwrap_or(0).min(1 << 20) as usize);
    }
    let line = serde_json::json!({
        "listen": server.local_addrs()[0].to_string(),
        "admin": server.admin_addr().map(|a| a.to_string()),
    });
    println!("{line}");
    let _ = std::io::stdout().flush();
    server.run().map_err(|e| Error::io("embedded server", e))?;
    Ok(())
}

fn preflight(addr: SocketAddr, timeout: Duration) -> Result<(), Error> {
    match std::net::TcpStream::connect_timeout(&addr, timeout.max(Duration::from_millis(1))) {
        Ok(s) => {
            // Close with RST: a FIN would leave this port in TIME_WAIT toward the target,
            // one port fewer for a probe of the port range.
            let _ = nix::sys::socket::setsockopt(
                &s,
                nix::sys::socket::sockopt::Linger,
                &libc::linger {
                    l_onoff: 1,
                    l_linger: 0,
                },
            );
            Ok(())
        }
        Err(e) => {
            let hint = match e.kind() {
                std::io::ErrorKind::ConnectionRefused => " (nothing listening there?)",
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                    " (no answer: backlog full or host unreachable?)"
                }
                _ => "",
            };
            Err(Error::Target(format!(
                "cannot connect to {addr}: {e}{hint}"
            )))
        }
    }
}

/// The output files of one `run`, staged before it (see [`crate::outputs`]).
struct Outputs {
    json: Option<Staged>,
    hgrm: Option<Staged>,
    log: Option<Staged>,
    plot: Option<Staged>,
}

impl Outputs {
    fn stage(a: &RunArgs) -> Result<Outputs, Error> {
        let json = match a.json.as_deref() {
            Some("-") | None => None,
            Some(p) => Some(outputs::stage("--json", Path::new(p))?),
        };
        Ok(Outputs {
            json,
            hgrm: a
                .hgrm
                .as_deref()
                .map(|p| outputs::stage("--hgrm", p))
                .transpose()?,
            log: a
                .log
                .as_deref()
                .map(|p| outputs::stage("--log", p))
                .transpose()?,
            plot: a
                .plot
                .as_deref()
                .map(|p| outputs::stage("--plot", p))
                .transpose()?,
        })
    }
}

fn write_reports(a: &RunArgs, r: &RunResult, o: &mut Outputs) -> Result<(), Error> {
    let json_to_stdout = a.json.as_deref() == Some("-");
    if !json_to_stdout {
        let mut out = std::io::stdout().lock();
        out.write_all(report::text(r).as_bytes())
            .map_err(|e| Error::io("writing the report", e))?;
    }
    if json_to_stdout {
        report::write_json(r, &mut std::io::stdout().lock())
            .map_err(|e| Error::io("writing JSON", e))?;
    }
    // Each file is written into its temporary, then renamed into place; one that
    // fails does not stop the others, and its temporary is removed.
    let mut first_err = None;
    let mut write = |s: &mut Option<Staged>, f: &dyn Fn(&Staged) -> Result<(), Error>| {
        if let Some(st) = s.as_mut() {
            if let Err(e) = f(st).and_then(|()| st.commit()) {
                first_err.get_or_insert(e);
            }
        }
    };
    write(&mut o.json, &|st| {
        report::write_json(r, &mut st.file()?).map_err(|e| st.error(e))
    });
    write(&mut o.hgrm, &|st| {
        report::write_hgrm(&r.rec.corrected, &mut st.file()?, 1000.0).map_err(|e| st.error(e))
    });
    write(&mut o.log, &|st| {
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
            - r.duration.as_secs_f64();
        report::write_interval_log(r, &mut st.file()?, start).map_err(|e| st.error(e))
    });
    write(&mut o.plot, &|st| {
        report::write_svg(r, st.path()).map_err(|e| st.error(e))
    });
    first_err.map_or(Ok(()), Err)
}
