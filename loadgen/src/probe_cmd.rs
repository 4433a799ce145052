//! The `loadgen probe` command: prediction, one or several probe processes, the
//! server's view, and the report.

use crate::error::Error;
use crate::probe::{knee, rate_timeline, Probe, ProbeResult, ProbeSpec, SourceCount, Stop};
use crate::record::new_histogram;
use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;
use readyloop::limits::Report;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Options of `loadgen probe` after parsing.
#[derive(Clone, Debug)]
pub struct ProbeOptions {
    /// Target, or `None` for a readyloop echo server in a child process.
    pub target: Option<SocketAddr>,
    /// The probe itself.
    pub spec_rate: f64,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Stop after this many (over all processes).
    pub max: Option<u64>,
    /// Hold time.
    pub hold: Duration,
    /// Verify by echo.
    pub verify: bool,
    /// Source addresses.
    pub sources: Vec<IpAddr>,
    /// Processes.
    pub procs: usize,
    /// The server's admin address.
    pub server_stats: Option<SocketAddr>,
    /// Ramp bound.
    pub max_time: Duration,
    /// JSON output: file or "-".
    pub json: Option<String>,
    /// Run as a child of `--procs` (READY / GO / RESULT lines).
    pub child: bool,
}

/// Parse `127.0.0.1-127.0.0.8`, `127.0.0.0/29` or a comma list into addresses. Only
/// loopback addresses are accepted: the probe is for this machine.
pub fn parse_sources(s: &str) -> Result<Vec<IpAddr>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some((a, b)) = part.split_once('-') {
            let a: Ipv4Addr = a
                .trim()
                .parse()
                .map_err(|_| format!("bad address '{a}' in '{part}'"))?;
            let b: Ipv4Addr = b
                .trim()
                .parse()
                .map_err(|_| format!("bad address '{b}' in '{part}'"))?;
            let (a, b) = (u32::from(a), u32::from(b));
            if b < a || b - a > 65535 {
                return Err(format!(
                    "bad range '{part}' (at most 65536 addresses, low to high)"
                ));
            }
            out.extend((a..=b).map(|i| IpAddr::V4(Ipv4Addr::from(i))));
        } else if let Some((a, len)) = part.split_once('/') {
            let a: Ipv4Addr = a
                .parse()
                .map_err(|_| format!("bad address '{a}' in '{part}'"))?;
            let len: u32 = len
                .parse()
                .map_err(|_| format!("bad prefix length in '{part}'"))?;
            if !(16..=32).contains(&len) {
                return Err(format!("prefix /{len} in '{part}': use /16 to /32"));
            }
            let base = u32::from(a) & (u32::MAX << (32 - len));
            let n = 1u32 << (32 - len);
            // Skip the network and broadcast addresses of real subnets (/31 and /32 have none).
            let (lo, hi) = if n > 2 {
                (base + 1, base + n - 2)
            } else {
                (base, base + n - 1)
            };
            out.extend((lo..=hi).map(|i| IpAddr::V4(Ipv4Addr::from(i))));
        } else {
            out.push(part.parse().map_err(|_| format!("bad address '{part}'"))?);
        }
    }
    if out.is_empty() {
        return Err("no source address given".into());
    }
    Ok(out)
}

/// A parsed `--source` list (a newtype so clap treats it as one value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceList(pub Vec<IpAddr>);

/// [`parse_sources`] for clap.
pub fn parse_source_list(s: &str) -> Result<SourceList, String> {
    parse_sources(s).map(SourceList)
}

/// GET http://ADDR/stats from a readyloop admin listener.
pub fn fetch_stats(addr: SocketAddr) -> Result<Value, String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("{addr}: {e}"))?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
    s.write_all(b"GET /stats HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    s.take(4 << 20)
        .read_to_end(&mut buf)
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&buf);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .ok_or("no HTTP response")?;
    serde_json::from_str(body).map_err(|e| format!("stats JSON: {e}"))
}

/// Descriptors kept back during the ramp, released to read the results (a socket to the
/// admin listener, /proc files) when the probe itself is at its fd limit.
const SPARE_FDS: usize = 4;

fn take_spares() -> Vec<std::fs::File> {
    (0..SPARE_FDS)
        .filter_map(|_| std::fs::File::open("/dev/null").ok())
        .collect()
}

/// Kernel slab memory in bytes (`Slab:` of /proc/meminfo): socket structures of both
/// ends, files, epoll items. Noisy, but at thousands of connections the delta is clear.
fn slab_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("Slab:"))?;
    line.split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()
        .map(|kb| kb * 1024)
}

fn hist_b64(h: &Histogram<u64>) -> String {
    let mut v = Vec::new();
    // Serializing into a Vec cannot fail for a valid histogram.
    let _ = V2Serializer::new().serialize(h, &mut v);
    base64::engine::general_purpose::STANDARD.encode(v)
}

fn hist_from_b64(s: &str) -> Option<Histogram<u64>> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    Deserializer::new()
        .deserialize(&mut std::io::Cursor::new(bytes))
        .ok()
}

fn result_json(r: &ProbeResult) -> Value {
    json!({
        "established": r.established,
        "attempted": r.attempted,
        "closed_by_server_ramp": r.closed_by_server_ramp,
        "closed_by_server_hold": r.closed_by_server_hold,
        "held_end": r.held_end,
        "peak_held": r.peak_held,
        "verified_alive": r.verified_alive,
        "verified_dead": r.verified_dead,
        "stop": r.stop,
        "ramp_s": r.ramp.as_secs_f64(),
        "connect_hist": hist_b64(&r.connect),
        "timeline": r.timeline,
        "sources": r.sources,
        "errors": r.errors,
    })
}

fn result_from_json(v: &Value) -> Option<ProbeResult> {
    Some(ProbeResult {
        established: v["established"].as_u64()?,
        attempted: v["attempted"].as_u64()?,
        closed_by_server_ramp: v["closed_by_server_ramp"].as_u64()?,
        closed_by_server_hold: v["closed_by_server_hold"].as_u64()?,
        held_end: v["held_end"].as_u64()?,
        peak_held: v["peak_held"].as_u64()?,
        verified_alive: v["verified_alive"].as_u64(),
        verified_dead: v["verified_dead"].as_u64(),
        stop: stop_from_json(&v["stop"]),
        ramp: Duration::from_secs_f64(v["ramp_s"].as_f64()?),
        connect: hist_from_b64(v["connect_hist"].as_str()?)?,
        timeline: v["timeline"]
            .as_array()?
            .iter()
            .filter_map(Value::as_u64)
            .collect(),
        sources: v["sources"]
            .as_array()?
            .iter()
            .map(|s| SourceCount {
                source: s["source"].as_str().unwrap_or("?").to_string(),
                established: s["established"].as_u64().unwrap_or(0),
                exhausted: s["exhausted"].as_bool().unwrap_or(false),
            })
            .collect(),
        errors: v["errors"]
            .as_array()?
            .iter()
            .filter_map(|e| Some((e[0].as_str()?.to_string(), e[1].as_u64()?)))
            .collect(),
    })
}

fn stop_from_json(v: &Value) -> Stop {
    let errno = || v["errno"].as_str().unwrap_or("unknown").to_string();
    match v["kind"].as_str() {
        Some("max") => Stop::Max,
        Some("descriptors") => Stop::Descriptors { errno: errno() },
        Some("ports") => Stop::Ports,
        Some("refused") => Stop::Refused,
        Some("connect_timeout") => Stop::ConnectTimeout,
        Some("server_closed") => Stop::ServerClosed,
        Some("memory") => Stop::Memory { errno: errno() },
        Some("time_limit") => Stop::TimeLimit,
        _ => Stop::Other { errno: errno() },
    }
}

/// Merge several processes' results (sum counts, merge histograms, add timelines).
pub fn merge(results: &[ProbeResult]) -> Option<ProbeResult> {
    let first = results.first()?;
    let mut m = first.clone();
    m.connect = new_histogram();
    m.timeline.clear();
    m.sources.clear();
    m.errors.clear();
    m.established = 0;
    m.attempted = 0;
    m.closed_by_server_ramp = 0;
    m.closed_by_server_hold = 0;
    m.held_end = 0;
    m.peak_held = 0;
    m.verified_alive = first.verified_alive.map(|_| 0);
    m.verified_dead = first.verified_dead.map(|_| 0);
    for r in results {
        m.established += r.established;
        m.attempted += r.attempted;
        m.closed_by_server_ramp += r.closed_by_server_ramp;
        m.closed_by_server_hold += r.closed_by_server_hold;
        m.held_end += r.held_end;
        m.peak_held += r.peak_held;
        m.verified_alive = m.verified_alive.zip(r.verified_alive).map(|(a, b)| a + b);
        m.verified_dead = m.verified_dead.zip(r.verified_dead).map(|(a, b)| a + b);
        m.ramp = m.ramp.max(r.ramp);
        let _ = m.connect.add(&r.connect);
        if m.timeline.len() < r.timeline.len() {
            m.timeline.resize(r.timeline.len(), 0);
        }
        for (a, b) in m.timeline.iter_mut().zip(&r.timeline) {
            *a += b;
        }
        for s in &r.sources {
            match m.sources.iter_mut().find(|x| x.source == s.source) {
                Some(x) => {
                    x.established += s.established;
                    x.exhausted |= s.exhausted;
                }
                None => m.sources.push(s.clone()),
            }
        }
        for (e, n) in &r.errors {
            match m.errors.iter_mut().find(|(x, _)| x == e) {
                Some((_, c)) => *c += n,
                None => m.errors.push((e.clone(), *n)),
            }
        }
    }
    Some(m)
}

/// How to move the limit that stopped the probe, with this machine's values.
pub fn how_to_raise(stop: &Stop, rep: &Report, procs: usize) -> String {
    let range = rep
        .port_range
        .map_or("unknown".to_string(), |(lo, hi)| format!("{lo}-{hi}"));
    let ports = rep.ports().map_or("unknown".to_string(), |n| n.to_string());
    match stop {
        Stop::Descriptors { errno } if errno == "ENFILE" => format!(
            "raise the system-wide limit: sysctl -w fs.file-max=N (now {}, {} in use)",
            rep.file_max.map_or("unknown".into(), |v| v.to_string()),
            rep.files_in_use.map_or("unknown".into(), |v| v.to_string())
        ),
        Stop::Descriptors { .. } => format!(
            "the soft limit is already raised to the hard limit ({}); raising the hard limit needs root \
             (ulimit -Hn N, systemd LimitNOFILE=, /etc/security/limits.conf), up to fs.nr_open ({}); \
             or spread the connections over processes: --procs {}",
            rep.nofile_hard,
            rep.nr_open.map_or("unknown".into(), |v| v.to_string()),
            procs.max(1) * 2
        ),
        Stop::Ports => format!(
            "ports run out per (source address, destination address, destination port): widen \
             net.ipv4.ip_local_port_range (now {range}, {ports} ports), add source addresses \
             (--source 127.0.0.1-127.0.0.8: all of 127.0.0.0/8 is loopback), or connect to more \
             destination ports"
        ),
        Stop::Refused => "start the server, or give it a larger listen backlog (listen(backlog), \
             net.core.somaxconn) and make it accept faster"
            .to_string(),
        Stop::ConnectTimeout => format!(
            "the server is not accepting: its accept queue (net.core.somaxconn = {}, \
             tcp_max_syn_backlog = {}) is full, usually because the server is at its fd limit; \
             raise the server's RLIMIT_NOFILE, or run more server processes (readyloop --reuseport)",
            rep.somaxconn.map_or("unknown".into(), |v| v.to_string()),
            rep.tcp_max_syn_backlog.map_or("unknown".into(), |v| v.to_string())
        ),
        Stop::ServerClosed => "raise the server's connection cap (readyloop --max-conns, nginx \
             worker_connections, redis maxclients) or its fd limit; or add server processes \
             (readyloop --reuseport)"
            .to_string(),
        Stop::Memory { .. } => format!(
            "raise net.ipv4.tcp_mem (pages: {}) or add RAM; measure bytes per connection with --server-stats",
            rep.tcp_mem.map_or("unknown".into(), |m| format!("{} {} {}", m[0], m[1], m[2]))
        ),
        Stop::Max => "not a limit: --max was reached".to_string(),
        Stop::TimeLimit => "not a limit: raise --max-time or --connect-rate".to_string(),
        Stop::Other { .. } => "see the errno".to_string(),
    }
}

/// Spawn the embedded server as a child process (its own descriptor table: sharing ours
/// would halve what both can hold). Returns the child, its listen and admin addresses.
fn spawn_embedded() -> Result<(Child, SocketAddr, Option<SocketAddr>), Error> {
    let exe = std::env::current_exe().map_err(|e| Error::io("finding loadgen's own path", e))?;
    let mut child = Command::new(exe)
        .arg("__serve")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        // Its start-up and shutdown lines would interleave with the report.
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::io("starting the embedded server", e))?;
    let out = child
        .stdout
        .take()
        .ok_or_else(|| Error::Target("embedded server: no stdout".into()))?;
    let mut line = String::new();
    let _ = BufReader::new(out).read_line(&mut line);
    let v: Value = match serde_json::from_str(line.trim()) {
        Ok(v) => v,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::Target(format!(
                "embedded server did not start: '{}'",
                line.trim()
            )));
        }
    };
    let listen = v["listen"].as_str().and_then(|s| s.parse().ok());
    let admin = v["admin"].as_str().and_then(|s| s.parse().ok());
    match listen {
        Some(l) => Ok((child, l, admin)),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err(Error::Target("embedded server: no listen address".into()))
        }
    }
}

/// Kill and reap a child (never leave orphans).
struct Reaped(Option<Child>);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            // SIGTERM first so a readyloop child shuts down cleanly.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                match c.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    _ => {
                        let _ = c.kill();
                        let _ = c.wait();
                        break;
                    }
                }
            }
        }
    }
}

fn spec_of(o: &ProbeOptions, target: SocketAddr, share: usize) -> ProbeSpec {
    ProbeSpec {
        target,
        connect_rate: o.spec_rate / share as f64,
        connect_timeout: o.connect_timeout,
        max: o.max.map(|m| m.div_ceil(share as u64)),
        hold: o.hold,
        verify: o.verify,
        verify_timeout: Duration::from_secs(3),
        sources: o.sources.clone(),
        max_time: o.max_time,
        server_closes_to_stop: 10,
    }
}

/// What was seen while every connection was held: the result, the count held at once,
/// the server's stats, /proc/net/sockstat and kernel slab bytes.
type Observed = (
    ProbeResult,
    u64,
    Option<Value>,
    Option<readyloop::limits::Sockstat>,
    Option<u64>,
);

/// Run `loadgen probe`.
pub fn run(o: ProbeOptions) -> Result<(), Error> {
    if o.child {
        return run_child(&o);
    }
    let report = Report::read();
    let mut server_child = Reaped(None);
    let (target, admin) = match o.target {
        Some(t) => (t, o.server_stats),
        None => {
            let (c, l, a) = spawn_embedded()?;
            server_child.0 = Some(c);
            (l, o.server_stats.or(a))
        }
    };
    let embedded = server_child.0.is_some();
    let srv_before = admin.and_then(|a| fetch_stats(a).ok());
    let sock_before = readyloop::limits::sockstat();
    let slab_before = slab_bytes();
    let procs = o.procs.max(1);
    let sources = o.sources.len().max(1) as u64;

    // Prediction: descriptors of each probe process, ports per source toward one
    // destination, and the server's own descriptor room when it tells us.
    let mut predicted: Vec<(u64, String)> = Vec::new();
    if let Some(room) = report.fd_room() {
        // A few descriptors go to the reactor itself (epoll, waker) and to the spares
        // kept for reading the results at the limit.
        let own = 2 + SPARE_FDS as u64;
        predicted.push((
            room.saturating_sub(own) * procs as u64,
            format!("{procs} x this process's fd limit"),
        ));
    }
    if let Some(p) = report.ports() {
        predicted.push((
            p * sources,
            format!("ephemeral ports ({p}) x {sources} source address(es)"),
        ));
    }
    if let Some(s) = &srv_before {
        if let (Some(soft), Some(open)) = (s["nofile_soft"].as_u64(), s["fds_open"].as_u64()) {
            predicted.push((soft.saturating_sub(open), "the server's fd limit".into()));
        }
    }
    if let Some(m) = o.max {
        predicted.push((m, "--max".into()));
    }
    let prediction = predicted.iter().min_by_key(|p| p.0).cloned();
    if o.json.as_deref() != Some("-") {
        println!(
            "probe: {target}{} from {procs} process(es), {} source address(es), at {} connections/s",
            if embedded { " (embedded readyloop echo server, own process)" } else { "" },
            sources,
            o.spec_rate
        );
        if let Some((n, what)) = &prediction {
            println!("predicted: about {n} connections, limited by {what}");
        }
    }

    let started = Instant::now();
    let result = if procs == 1 {
        let spec = spec_of(&o, target, 1);
        let mut spares = take_spares();
        let mut p = Probe::new(spec).map_err(|e| Error::io("probe", e))?;
        p.ramp().map_err(|e| Error::io("probe ramp", e))?;
        let held_at_once = p.open();
        // At our own fd limit, reading the server's stats and /proc needs descriptors:
        // give back the spares kept for this moment.
        spares.clear();
        let srv_during = admin.and_then(|a| fetch_stats(a).ok());
        let sock_during = readyloop::limits::sockstat();
        let slab_during = slab_bytes();
        let r = p
            .hold_and_verify()
            .map_err(|e| Error::io("probe hold", e))?;
        (r, held_at_once, srv_during, sock_during, slab_during)
    } else {
        run_parent(&o, target, procs, admin)?
    };
    let (r, held_at_once, srv_during, sock_during, slab_during) = result;
    let elapsed = started.elapsed();
    drop(server_child);

    let out = report_json(
        &o,
        target,
        embedded,
        &report,
        &prediction,
        &r,
        held_at_once,
        (&srv_before, &srv_during),
        (sock_before, sock_during),
        (slab_before, slab_during),
        elapsed,
    );
    match o.json.as_deref() {
        Some("-") => println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default()),
        Some(path) => {
            std::fs::write(
                path,
                serde_json::to_string_pretty(&out).unwrap_or_default() + "\n",
            )
            .map_err(|e| Error::io(format!("--json {path}"), e))?;
            print!("{}", text(&o, &report, &out, &r));
        }
        None => print!("{}", text(&o, &report, &out, &r)),
    }
    Ok(())
}

/// `--procs N`: N children ramp at once; when all have settled they hold together.
fn run_parent(
    o: &ProbeOptions,
    target: SocketAddr,
    procs: usize,
    admin: Option<SocketAddr>,
) -> Result<Observed, Error> {
    let exe = std::env::current_exe().map_err(|e| Error::io("finding loadgen's own path", e))?;
    let mut kids = Vec::new();
    for _ in 0..procs {
        let spec = spec_of(o, target, procs);
        let mut cmd = Command::new(&exe);
        cmd.arg("probe")
            .arg(target.to_string())
            .arg("--child")
            .args(["--connect-rate", &spec.connect_rate.to_string()])
            .args([
                "--connect-timeout",
                &format!("{}ms", spec.connect_timeout.as_millis()),
            ])
            .args(["--hold", &format!("{}ms", spec.hold.as_millis())])
            .args(["--max-time", &format!("{}ms", spec.max_time.as_millis())]);
        if let Some(m) = spec.max {
            cmd.args(["--max", &m.to_string()]);
        }
        if spec.verify {
            cmd.arg("--verify");
        }
        if !o.sources.is_empty() {
            let list: Vec<String> = o.sources.iter().map(|s| s.to_string()).collect();
            cmd.args(["--source", &list.join(",")]);
        }
        let child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Error::io("starting a probe process", e))?;
        kids.push(Reaped(Some(child)));
    }
    let mut readers = Vec::new();
    let mut held_at_once = 0;
    for k in kids.iter_mut() {
        let Some(c) = k.0.as_mut() else { continue };
        let Some(out) = c.stdout.take() else { continue };
        let mut rd = BufReader::new(out);
        let mut line = String::new();
        let _ = rd.read_line(&mut line);
        held_at_once += line
            .trim()
            .strip_prefix("READY ")
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        readers.push(rd);
    }
    // Everyone is holding now: this is the "at once" moment.
    let srv_during = admin.and_then(|a| fetch_stats(a).ok());
    let sock_during = readyloop::limits::sockstat();
    let slab_during = slab_bytes();
    for k in kids.iter_mut() {
        if let Some(stdin) = k.0.as_mut().and_then(|c| c.stdin.as_mut()) {
            let _ = stdin.write_all(b"GO\n");
            let _ = stdin.flush();
        }
    }
    let mut results = Vec::new();
    for rd in readers.iter_mut() {
        let mut line = String::new();
        let _ = rd.read_line(&mut line);
        if let Some(j) = line.trim().strip_prefix("RESULT ") {
            if let Some(r) = serde_json::from_str::<Value>(j)
                .ok()
                .as_ref()
                .and_then(result_from_json)
            {
                results.push(r);
            }
        }
    }
    for k in kids.iter_mut() {
        if let Some(stdin) = k.0.as_mut().and_then(|c| c.stdin.as_mut()) {
            let _ = stdin.write_all(b"EXIT\n");
            let _ = stdin.flush();
        }
    }
    for k in kids.iter_mut() {
        if let Some(mut c) = k.0.take() {
            let _ = c.wait();
        }
    }
    if results.len() != procs {
        return Err(Error::Target(format!(
            "only {} of {procs} probe processes reported",
            results.len()
        )));
    }
    let merged = merge(&results).ok_or_else(|| Error::Target("no probe results".into()))?;
    Ok((merged, held_at_once, srv_during, sock_during, slab_during))
}

/// The child side of `--procs`: ramp, say READY n, wait for GO, hold, say RESULT,
/// wait for EXIT.
fn run_child(o: &ProbeOptions) -> Result<(), Error> {
    let _ = readyloop::limits::raise_nofile();
    let target = o
        .target
        .ok_or_else(|| Error::Usage("--child needs a target".into()))?;
    let mut p = Probe::new(spec_of(o, target, 1)).map_err(|e| Error::io("probe", e))?;
    p.ramp().map_err(|e| Error::io("probe ramp", e))?;
    println!("READY {}", p.open());
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    let r = p
        .hold_and_verify()
        .map_err(|e| Error::io("probe hold", e))?;
    println!("RESULT {}", result_json(&r));
    let _ = std::io::stdout().flush();
    // Hold on until the parent has every result: closing now would free the server's
    // descriptors and let it accept another child's queued connections while that child
    // is still verifying, which would count them alive.
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn report_json(
    o: &ProbeOptions,
    target: SocketAddr,
    embedded: bool,
    rep: &Report,
    prediction: &Option<(u64, String)>,
    r: &ProbeResult,
    held_at_once: u64,
    srv: (&Option<Value>, &Option<Value>),
    sock: (
        Option<readyloop::limits::Sockstat>,
        Option<readyloop::limits::Sockstat>,
    ),
    slab: (Option<u64>, Option<u64>),
    elapsed: Duration,
) -> Value {
    let q = |p: f64| (!r.connect.is_empty()).then(|| r.connect.value_at_quantile(p));
    let server = match srv {
        (Some(b), Some(d)) => {
            let active = |v: &Value| v["active"].as_u64().unwrap_or(0);
            let rss = |v: &Value| v["rss_bytes"].as_u64().unwrap_or(0);
            let dn = active(d).saturating_sub(active(b));
            json!({
                "active_before": active(b),
                "active_during": active(d),
                "accepted_during": d["stats"]["accepted"].as_u64(),
                "fds_open_during": d["fds_open"].as_u64(),
                "rss_before": rss(b),
                "rss_during": rss(d),
                // A server at its fd limit may fail to read its own RSS (0): unknown then.
                "user_bytes_per_connection": (dn > 0 && rss(b) > 0 && rss(d) > 0)
                    .then(|| (rss(d) as f64 - rss(b) as f64) / dn as f64),
                "queued_not_accepted": held_at_once.saturating_sub(dn),
            })
        }
        _ => Value::Null,
    };
    let kernel = match sock {
        (Some(b), Some(d)) => {
            let pages = d.tcp_mem_pages.unwrap_or(0) as i64 - b.tcp_mem_pages.unwrap_or(0) as i64;
            json!({
                "tcp_mem_pages_before": b.tcp_mem_pages,
                "tcp_mem_pages_during": d.tcp_mem_pages,
                "tcp_inuse_during": d.tcp_inuse,
                "tcp_mem_bytes_per_connection": (held_at_once > 0)
                    .then(|| pages as f64 * rep.page_size as f64 / held_at_once as f64),
                "slab_bytes_per_connection": match slab {
                    (Some(b), Some(d)) if held_at_once > 0 => Some((d as f64 - b as f64) / held_at_once as f64),
                    _ => None,
                },
            })
        }
        _ => Value::Null,
    };
    let held_ok = prediction.as_ref().map(|(n, _)| {
        // "Held" when within 1% (or 10 connections) of the prediction.
        let tol = (*n / 100).max(10);
        held_at_once + tol >= *n && held_at_once <= *n + tol
    });
    json!({
        "target": target.to_string(),
        "embedded": embedded,
        "procs": o.procs.max(1),
        "connect_rate": o.spec_rate,
        "sources": r.sources,
        "prediction": prediction.as_ref().map(|(n, w)| json!({"connections": n, "limited_by": w, "held": held_ok})),
        "held_at_once": held_at_once,
        "established": r.established,
        "attempted": r.attempted,
        "held_end": r.held_end,
        "stop": r.stop,
        "stop_description": r.stop.describe(),
        "how_to_raise": how_to_raise(&r.stop, rep, o.procs),
        "ramp_s": r.ramp.as_secs_f64(),
        "elapsed_s": elapsed.as_secs_f64(),
        "connect_us": {"p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": (!r.connect.is_empty()).then(|| r.connect.max()), "count": r.connect.len()},
        "rate_per_s": rate_timeline(&r.timeline, 5).iter().map(|(t, v)| json!([t, v])).collect::<Vec<_>>(),
        "knee": knee(&r.timeline).map(|(f, l)| json!({"first_rate": f, "last_rate": l})),
        "closed_by_server": {"ramp": r.closed_by_server_ramp, "hold": r.closed_by_server_hold},
        "verify": {"alive": r.verified_alive, "dead": r.verified_dead},
        "errors": r.errors,
        "server": server,
        "kernel": kernel,
    })
}

fn text(o: &ProbeOptions, _rep: &Report, j: &Value, r: &ProbeResult) -> String {
    let mut s = String::new();
    let n = |v: &Value| v.as_u64().map_or("unknown".to_string(), |x| x.to_string());
    s += &format!(
        "held:       {} connections at once ({} established in {:.1} s, {} attempted)\n",
        n(&j["held_at_once"]),
        r.established,
        r.ramp.as_secs_f64(),
        r.attempted
    );
    s += &format!(
        "stopped by: {}\n",
        j["stop_description"].as_str().unwrap_or("?")
    );
    s += &format!(
        "  to raise: {}\n",
        j["how_to_raise"].as_str().unwrap_or("?")
    );
    if let Some(p) = j["prediction"].as_object() {
        let held = p.get("held").and_then(Value::as_bool).unwrap_or(false);
        s += &format!(
            "prediction: {} ({} predicted, limited by {})\n",
            if held { "held" } else { "did NOT hold" },
            p.get("connections").map(n).unwrap_or_default(),
            p.get("limited_by").and_then(Value::as_str).unwrap_or("?")
        );
    }
    let c = &j["connect_us"];
    s += &format!(
        "connect:    p50 {}  p99 {}  max {}  ({} connects)\n",
        fmt_opt_us(&c["p50"]),
        fmt_opt_us(&c["p99"]),
        fmt_opt_us(&c["max"]),
        n(&c["count"])
    );
    let rates: Vec<String> = rate_timeline(&r.timeline, 5)
        .iter()
        .take(24)
        .map(|(t, v)| format!("{t:.1}s {v:.0}/s"))
        .collect();
    if !rates.is_empty() {
        s += &format!("rate:       {}\n", rates.join(" | "));
    }
    if let Some((f, l)) = knee(&r.timeline) {
        let timeouts = r.errors.iter().any(|(e, _)| e == "timeout");
        let why = if timeouts || r.stop == Stop::ConnectTimeout {
            "connects were timing out: the server's accept queue was full and SYNs were dropped"
        } else if o.sources.is_empty() {
            "without --source, connect() takes the even ephemeral ports first and searches the odd ones \
             much more slowly once they run out; with --source and IP_BIND_ADDRESS_NO_PORT the search is per 4-tuple"
        } else {
            "the connect() calls themselves got slower (see the connect times)"
        };
        s += &format!("knee:       the connect rate fell from {f:.0}/s to {l:.0}/s: {why}\n");
    }
    s += &format!(
        "closed by the server: {} during the ramp, {} during the {:.1} s hold\n",
        r.closed_by_server_ramp,
        r.closed_by_server_hold,
        o.hold.as_secs_f64()
    );
    if let (Some(a), Some(d)) = (r.verified_alive, r.verified_dead) {
        s += &format!(
            "verify:     {a} answered, {d} did not (queued and never accepted, or dead)\n"
        );
    }
    if let Some(srv) = j["server"].as_object() {
        s += &format!(
            "server:     {} active while holding (accepted), {} queued and never accepted; user-space {} bytes per held connection\n",
            srv.get("active_during").map(n).unwrap_or_default(),
            srv.get("queued_not_accepted").map(n).unwrap_or_default(),
            srv.get("user_bytes_per_connection").and_then(Value::as_f64).map_or("unknown".into(), |b| format!("{b:.0}"))
        );
    }
    if let Some(k) = j["kernel"].as_object() {
        let f = |key: &str| {
            k.get(key)
                .and_then(Value::as_f64)
                .map_or("unknown".into(), |b| format!("{b:.0}"))
        };
        s += &format!(
            "kernel:     per held connection: {} bytes of TCP buffer memory (sockstat mem), {} bytes of slab (both ends, /proc/meminfo)\n",
            f("tcp_mem_bytes_per_connection"),
            f("slab_bytes_per_connection")
        );
    }
    if r.sources.len() > 1 || r.sources.iter().any(|x| x.exhausted) {
        let list: Vec<String> = r
            .sources
            .iter()
            .map(|x| {
                format!(
                    "{} {}{}",
                    x.source,
                    x.established,
                    if x.exhausted { " (exhausted)" } else { "" }
                )
            })
            .collect();
        s += &format!("sources:    {}\n", list.join(", "));
    }
    if !r.errors.is_empty() {
        let list: Vec<String> = r.errors.iter().map(|(e, c)| format!("{e} {c}")).collect();
        s += &format!("errors:     {}\n", list.join(", "));
    }
    s
}

fn fmt_opt_us(v: &Value) -> String {
    v.as_u64()
        .map_or("-".to_string(), |u| crate::report::fmt_us(u as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_sources_ranges_cidr_lists() {
        assert_eq!(parse_sources("127.0.0.1-127.0.0.4").unwrap().len(), 4);
        let c = parse_sources("127.0.0.0/29").unwrap();
        assert_eq!(
            c.first().map(|a| a.to_string()).as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(c.len(), 6, "network and broadcast skipped");
        assert_eq!(parse_sources("127.0.0.5/32").unwrap().len(), 1);
        assert_eq!(parse_sources("127.0.0.1,127.0.0.2").unwrap().len(), 2);
        assert!(parse_sources("127.0.0.9-127.0.0.1").is_err());
        assert!(parse_sources("nope").is_err());
        assert!(parse_sources("10.0.0.0/8").is_err());
    }

    #[test]
    fn test_result_json_round_trip() {
        let mut h = new_histogram();
        h.record(42).unwrap();
        let r = ProbeResult {
            established: 5,
            attempted: 6,
            closed_by_server_ramp: 1,
            closed_by_server_hold: 0,
            held_end: 4,
            peak_held: 5,
            verified_alive: Some(4),
            verified_dead: Some(0),
            stop: Stop::Descriptors {
                errno: "EMFILE".into(),
            },
            ramp: Duration::from_millis(1500),
            connect: h,
            timeline: vec![1, 2, 2],
            sources: vec![SourceCount {
                source: "127.0.0.1".into(),
                established: 5,
                exhausted: false,
            }],
            errors: vec![("EMFILE".into(), 1)],
        };
        let back = result_from_json(&result_json(&r)).expect("parses");
        assert_eq!(back.established, 5);
        assert_eq!(back.stop, r.stop);
        assert_eq!(back.connect.len(), 1);
        assert_eq!(back.timeline, r.timeline);
        assert_eq!(back.errors, r.errors);
        let m = merge(&[r.clone(), back]).unwrap();
        assert_eq!(m.established, 10);
        assert_eq!(m.connect.len(), 2);
        assert_eq!(m.sources[0].established, 10);
        assert_eq!(m.timeline, vec![2, 4, 4]);
    }
}
