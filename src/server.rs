//! The readyloop server: a reactor, its listeners, the built-in protocols, signals and
//! periodic stats. The `readyloop` binary turns its flags into a [`ServerConfig`], runs
//! a [`Server`] and prints its start-up and stop lines; loadgen embeds the same server
//! when it is given no target.

use crate::admin::{self, AdminInfo, Published};
use crate::conn_id::ConnId;
use crate::limits::{self, NofileLimit};
use crate::protocol::{
    Cx, Discard, Echo, Http, HttpConfig, HttpCounters, Protocol, Source, Step, Verdict,
};
use crate::reactor::{Config, Handle, Host, ListenerId, Reactor, SourceId};
use crate::stats::Stats;
use crate::tls::{self, OverTls, ServerOptions, Tls, TlsContext, TlsStats};
use crate::ListenOptions;
use mio::event::Event;
use mio::Interest;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The built-in protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ProtoKind {
    /// Minimal HTTP/1.1 (keep-alive, pipelining, `/`, `/bytes/N`).
    #[default]
    Http,
    /// Every byte back.
    Echo,
    /// Read and drop.
    Discard,
    /// Stream bytes to the client until it closes.
    Source,
}

impl ProtoKind {
    /// Parse `http`, `echo`, `discard` or `source`.
    pub fn parse(s: &str) -> Result<ProtoKind, String> {
        match s {
            "http" => Ok(ProtoKind::Http),
            "echo" => Ok(ProtoKind::Echo),
            "discard" => Ok(ProtoKind::Discard),
            "source" => Ok(ProtoKind::Source),
            _ => Err(format!(
                "unknown protocol '{s}' (use http, echo, discard or source)"
            )),
        }
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ProtoKind::Http => "http",
            ProtoKind::Echo => "echo",
            ProtoKind::Discard => "discard",
            ProtoKind::Source => "source",
        }
    }
}

/// One of the built-in protocols, inline (no box: it lives in the slab slot).
#[derive(Debug)]
pub enum AnyProto {
    /// See [`Http`].
    Http(Http),
    /// See [`Echo`].
    Echo(Echo),
    /// See [`Discard`].
    Discard(Discard),
    /// See [`Source`].
    Source(Source),
}

macro_rules! each {
    ($self:ident, $p:ident => $e:expr) => {
        match $self {
            AnyProto::Http($p) => $e,
            AnyProto::Echo($p) => $e,
            AnyProto::Discard($p) => $e,
            AnyProto::Source($p) => $e,
        }
    };
}

/// Calls the inner protocol's method, lending HTTP the server's counters and the
/// others (whose context is `()`) a unit.
macro_rules! each_cx {
    ($self:ident, $cx:ident, $p:ident, $c:ident => $e:expr) => {
        match $self {
            AnyProto::Http($p) => {
                let $c = &mut *$cx;
                $e
            }
            AnyProto::Echo($p) => {
                let mut unit = ();
                let $c = &mut $cx.with(&mut unit);
                $e
            }
            AnyProto::Discard($p) => {
                let mut unit = ();
                let $c = &mut $cx.with(&mut unit);
                $e
            }
            AnyProto::Source($p) => {
                let mut unit = ();
                let $c = &mut $cx.with(&mut unit);
                $e
            }
        }
    };
}

impl Protocol for AnyProto {
    /// The server's counters: only HTTP counts requests and protocol errors.
    type Context = HttpCounters;

    #[inline]
    fn on_input(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        budget: usize,
        cx: &mut Cx<HttpCounters>,
    ) -> Step {
        each_cx!(self, cx, p, c => p.on_input(input, out, budget, c))
    }
    fn on_eof(&mut self, out: &mut Vec<u8>, cx: &mut Cx<HttpCounters>) -> Verdict {
        each_cx!(self, cx, p, c => p.on_eof(out, c))
    }
    fn on_connected(&mut self, out: &mut Vec<u8>, cx: &mut Cx<HttpCounters>) -> Verdict {
        each_cx!(self, cx, p, c => p.on_connected(out, c))
    }
    #[inline]
    fn wants_drained(&self) -> bool {
        each!(self, p => p.wants_drained())
    }
    fn on_drained(
        &mut self,
        out: &mut Vec<u8>,
        budget: usize,
        cx: &mut Cx<HttpCounters>,
    ) -> Verdict {
        each_cx!(self, cx, p, c => p.on_drained(out, budget, c))
    }
    #[inline]
    fn awaits_input(&self) -> bool {
        each!(self, p => p.awaits_input())
    }
    #[inline]
    fn poll_at(&self, ctx: &HttpCounters) -> Option<Instant> {
        match self {
            AnyProto::Http(p) => p.poll_at(ctx),
            AnyProto::Echo(p) => p.poll_at(&()),
            AnyProto::Discard(p) => p.poll_at(&()),
            AnyProto::Source(p) => p.poll_at(&()),
        }
    }
    fn on_timer(&mut self, out: &mut Vec<u8>, cx: &mut Cx<HttpCounters>) -> Verdict {
        each_cx!(self, cx, p, c => p.on_timer(out, c))
    }
}

impl OverTls for AnyProto {}

/// What every connection of the server runs: a built-in protocol, over TLS on a
/// `tls://` listener and over the bare connection on the others.
pub type ServerProto = Tls<AnyProto>;

/// The server's shared state: the HTTP counters inside the TLS layer's context.
pub type ServerContext = TlsContext<HttpCounters>;

/// Everything the server needs to start.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Addresses to listen on (IPv4 and IPv6).
    pub listen: Vec<SocketAddr>,
    /// Addresses whose listeners speak TLS (`--listen tls://ADDR`), the same protocol
    /// inside; they need [`ServerConfig::tls`].
    pub listen_tls: Vec<SocketAddr>,
    /// The certificate, key, versions and ALPN of the TLS listeners (ALPN `http/1.1`
    /// is added for HTTP). Re-read on SIGHUP when `handle_signals` is on.
    pub tls: Option<ServerOptions>,
    /// The protocol spoken on every listener.
    pub proto: ProtoKind,
    /// Socket options of the listeners.
    pub listen_opts: ListenOptions,
    /// Reactor settings (limits, timeouts, `max_conns`).
    pub reactor: Config,
    /// HTTP settings (`max_head` follows `reactor.limits.max_input`).
    pub http: HttpConfig,
    /// Print a line of counters to stderr this often.
    pub stats_interval: Option<Duration>,
    /// Stats lines as JSON objects instead of text.
    pub json: bool,
    /// Stop gracefully on SIGINT/SIGTERM.
    pub handle_signals: bool,
    /// Serve statistics as JSON over HTTP on this address (see [`crate::admin`]); the
    /// bound address comes from [`Server::admin_addr`].
    pub admin: Option<SocketAddr>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 7878))],
            listen_tls: Vec::new(),
            tls: None,
            proto: ProtoKind::Http,
            listen_opts: ListenOptions::default(),
            reactor: Config::default(),
            http: HttpConfig::default(),
            stats_interval: None,
            json: false,
            handle_signals: false,
            admin: None,
        }
    }
}

/// The HTTP answer to a connection over `max_conns`.
pub const HTTP_503: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 20\r\nConnection: close\r\n\r\nToo many connections";

/// Bind the TLS listeners, with the configuration they serve.
fn bind_tls(
    reactor: &mut Reactor<ServerProto>,
    cfg: &ServerConfig,
) -> io::Result<(Option<TlsServing>, Vec<SocketAddr>)> {
    if cfg.listen_tls.is_empty() {
        return Ok((None, Vec::new()));
    }
    let Some(mut options) = cfg.tls.clone() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a tls:// listener needs a certificate and its key (--tls-cert FILE --tls-key FILE)",
        ));
    };
    if cfg.proto == ProtoKind::Http && options.alpn.is_empty() {
        options.alpn = vec![b"http/1.1".to_vec()];
    }
    let config = tls::server_config(&options)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.0))?;
    let mut listeners = Vec::new();
    let mut addrs = Vec::new();
    for a in &cfg.listen_tls {
        let id = reactor
            .listen(*a, &cfg.listen_opts)
            .map_err(|e| io::Error::new(e.kind(), format!("tls://{a}: {e}")))?;
        addrs.push(reactor.local_addr(id)?);
        listeners.push(id);
    }
    let serving = TlsServing {
        options,
        config: Arc::new(config),
        listeners,
    };
    Ok((Some(serving), addrs))
}

/// The bound addresses as `--listen` takes them: plain ones bare, TLS ones `tls://`.
fn listen_names(plain: &[SocketAddr], tls: &[SocketAddr]) -> Vec<String> {
    let tls = tls.iter().map(|a| format!("tls://{a}"));
    plain.iter().map(|a| a.to_string()).chain(tls).collect()
}

/// SIGINT and SIGTERM (shutdown) and SIGHUP (reload), as a source of the reactor.
fn register_signals(
    reactor: &mut Reactor<ServerProto>,
) -> io::Result<(signal_hook_mio::v1_0::Signals, SourceId)> {
    let mut s = signal_hook_mio::v1_0::Signals::new([libc::SIGINT, libc::SIGTERM, libc::SIGHUP])?;
    let id = reactor.register(&mut s, Interest::READABLE)?;
    Ok((s, id))
}

/// The admin thread on `a`, its errors naming the address.
fn start_admin(
    a: SocketAddr,
    h: Handle,
    info: AdminInfo,
) -> io::Result<(SocketAddr, JoinHandle<()>)> {
    admin::spawn(a, h, info).map_err(|e| io::Error::new(e.kind(), format!("admin {a}: {e}")))
}

/// SIGHUP: re-read the certificate and key, and say what came of it.
fn reload(tls: Option<&mut TlsServing>, json: bool) {
    let res = match tls {
        Some(t) => t.reload(),
        None => Err("nothing to reload (no tls:// listener)".to_string()),
    };
    let (ok, msg) = match res {
        Ok(m) => (true, m),
        Err(m) => (false, m),
    };
    if json {
        eprintln!(
            "{}",
            serde_json::json!({"event": "reload", "signal": libc::SIGHUP, "ok": ok, "message": msg})
        );
    } else {
        eprintln!("readyloop: SIGHUP: {msg}");
    }
}

/// A bound, not yet running server.
///
/// ```
/// use readyloop::server::{Server, ServerConfig, ProtoKind};
/// let cfg = ServerConfig {
///     listen: vec!["127.0.0.1:0".parse().unwrap()],
///     proto: ProtoKind::Echo,
///     ..ServerConfig::default()
/// };
/// let server = Server::bind(cfg).unwrap();
/// let addr = server.local_addrs()[0];
/// let handle = server.handle();
/// let t = std::thread::spawn(move || server.run());
/// let _ = std::net::TcpStream::connect(addr).unwrap();
/// handle.shutdown();
/// let stats = t.join().unwrap().unwrap();
/// assert!(stats.conns.accepted <= 1);
/// ```
pub struct Server {
    reactor: Reactor<ServerProto>,
    host: ServerHost,
    addrs: Vec<SocketAddr>,
    tls_addrs: Vec<SocketAddr>,
    /// The admin listener's bound address and thread.
    admin: Option<(SocketAddr, JoinHandle<()>)>,
}

struct ServerHost {
    /// The reactor's HTTP counters as of the last turn's end, for the admin thread.
    published: Arc<Published>,
    proto: ProtoKind,
    http: HttpConfig,
    stats_interval: Option<Duration>,
    json: bool,
    signals: Option<(signal_hook_mio::v1_0::Signals, SourceId)>,
    started: Instant,
    /// The signal that forced the exit (a second SIGINT/SIGTERM during shutdown).
    forced_by: Option<i32>,
    /// The TLS listeners and what they serve.
    tls: Option<TlsServing>,
}

/// The TLS listeners' configuration: where it came from (re-read on SIGHUP) and the
/// one new connections get.
struct TlsServing {
    options: ServerOptions,
    config: Arc<rustls::ServerConfig>,
    listeners: Vec<ListenerId>,
}

impl TlsServing {
    /// Read the certificate and key again: new connections get the new ones; on any
    /// error the old ones stay. The line to log.
    fn reload(&mut self) -> Result<String, String> {
        match tls::server_config(&self.options) {
            Ok(cfg) => {
                self.config = Arc::new(cfg);
                Ok(format!(
                    "certificate reloaded from {}",
                    self.options.cert.display()
                ))
            }
            Err(e) => Err(format!("reload refused, the old certificate stays: {e}")),
        }
    }
}

/// The server's counters: the reactor's connection counters and what its protocols
/// counted.
#[derive(Clone, Debug, Default)]
pub struct ServerStats {
    /// The reactor's counters (`shutdown_cut`: connections the shutdown deadline cut
    /// with output pending).
    pub conns: Stats,
    /// Requests answered and protocol errors (HTTP only; zero for the other
    /// protocols).
    pub http: HttpCounters,
    /// TLS handshakes done and failed (zero without TLS listeners).
    pub tls: TlsStats,
}

impl ServerStats {
    /// The counters as one JSON object: the reactor's ([`Stats::to_json`]) with
    /// `requests` and `protocol_errors` beside them.
    pub fn to_json(&self) -> serde_json::Value {
        let mut j = self.conns.to_json();
        admin::add_http_counters(&mut j, self.http);
        j["tls"] = admin::tls_json(&self.tls);
        j
    }

    /// One human line: the reactor's, with the request count after the connection
    /// counts.
    pub fn line(&self) -> String {
        let t = &self.tls;
        if t.full + t.resumed + t.failed_total() == 0 {
            return self.conns.line_with(&[("requests", self.http.requests)]);
        }
        self.conns.line_with(&[
            ("requests", self.http.requests),
            ("tls_full", t.full),
            ("tls_resumed", t.resumed),
            ("tls_failed", t.failed_total()),
        ])
    }
}

/// How a server's run ended.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The final counters.
    pub stats: ServerStats,
    /// A second SIGINT/SIGTERM arrived during the graceful shutdown and closed every
    /// connection at once: its number.
    pub forced_by: Option<i32>,
}

const TIMER_STATS: u64 = 1;

impl Host<ServerProto> for ServerHost {
    fn accept(
        &mut self,
        r: &mut Reactor<ServerProto>,
        _id: ConnId,
        l: ListenerId,
        _peer: SocketAddr,
    ) -> Option<ServerProto> {
        let app = match self.proto {
            ProtoKind::Http => AnyProto::Http(Http::new(self.http)),
            ProtoKind::Echo => AnyProto::Echo(Default::default()),
            ProtoKind::Discard => AnyProto::Discard(Default::default()),
            ProtoKind::Source => AnyProto::Source(Default::default()),
        };
        match &self.tls {
            // rustls refuses a new connection only for a configuration it cannot use,
            // which server_config() already checked: no connection is then better
            // than a plain one on a TLS port.
            Some(t) if t.listeners.contains(&l) => Tls::server(t.config.clone(), app, r.now()).ok(),
            _ => Some(Tls::plain(app)),
        }
    }

    fn source_ready(&mut self, r: &mut Reactor<ServerProto>, id: SourceId, _ev: &Event) {
        let Some((signals, sid)) = self.signals.as_mut() else {
            return;
        };
        if *sid != id {
            return;
        }
        for sig in signals.pending() {
            if sig == libc::SIGHUP {
                reload(self.tls.as_mut(), self.json);
            } else if (sig == libc::SIGINT || sig == libc::SIGTERM) && r.is_shutting_down() {
                // The operator (or Kubernetes after its grace period) insists: close
                // everything now.
                if self.json {
                    eprintln!(
                        "{}",
                        serde_json::json!({"event": "forced_stop", "signal": sig})
                    );
                } else {
                    eprintln!("readyloop: second signal {sig}: closing all connections now");
                }
                self.forced_by = Some(sig);
                r.shutdown_now();
            } else if sig == libc::SIGINT || sig == libc::SIGTERM {
                if self.json {
                    eprintln!(
                        "{}",
                        serde_json::json!({"event": "shutdown", "signal": sig})
                    );
                } else {
                    eprintln!(
                        "readyloop: signal {sig}: shutting down (open connections flush first)"
                    );
                }
                r.shutdown();
            }
        }
    }

    fn closed(
        &mut self,
        r: &mut Reactor<ServerProto>,
        _id: ConnId,
        p: ServerProto,
        reason: crate::stats::CloseReason,
        _errno: Option<i32>,
    ) {
        // Every handshake ends counted: one a timeout or a reset cut too.
        p.count_close(reason, &mut r.context_mut().stats);
    }

    fn timer(&mut self, r: &mut Reactor<ServerProto>, key: u64) {
        if key != TIMER_STATS {
            return;
        }
        let s = ServerStats {
            conns: r.stats(),
            http: r.context().inner,
            tls: r.context().stats,
        };
        if self.json {
            let mut j = s.to_json();
            j["uptime_s"] = self.started.elapsed().as_secs_f64().into();
            eprintln!("{j}");
        } else {
            eprintln!("readyloop: {}", s.line());
        }
        if let Some(d) = self.stats_interval {
            r.set_timer(r.now() + d, TIMER_STATS);
        }
    }

    fn after_turn(&mut self, r: &mut Reactor<ServerProto>) {
        self.published.store(&r.context().inner, &r.context().stats);
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addrs", &self.addrs)
            .field("admin", &self.admin.as_ref().map(|(a, _)| a))
            .field("reactor", &self.reactor)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Bind every listen address. Fails on the first that cannot be bound.
    pub fn bind(mut cfg: ServerConfig) -> io::Result<Server> {
        if cfg.proto == ProtoKind::Http && cfg.reactor.reject_message.is_empty() {
            cfg.reactor.reject_message = HTTP_503;
        }
        cfg.http.max_head = cfg.reactor.limits.max_input;
        let mut reactor: Reactor<ServerProto> = Reactor::new(cfg.reactor.clone())?;
        let mut addrs = Vec::new();
        for a in &cfg.listen {
            let id = reactor
                .listen(*a, &cfg.listen_opts)
                .map_err(|e| io::Error::new(e.kind(), format!("{a}: {e}")))?;
            addrs.push(reactor.local_addr(id)?);
        }
        reactor.context_mut().max_plain = cfg.reactor.limits.max_input.saturating_add(16 * 1024);
        let (tls, tls_addrs) = bind_tls(&mut reactor, &cfg)?;
        let signals = if cfg.handle_signals {
            Some(register_signals(&mut reactor)?)
        } else {
            None
        };
        if let Some(d) = cfg.stats_interval {
            reactor.set_timer(Instant::now() + d, TIMER_STATS);
        }
        let started = Instant::now();
        let published = Arc::new(Published::default());
        // Last, so no later failure can leave the thread behind (and if this fails, the
        // reactor dropped on return takes the listeners with it).
        let admin = match cfg.admin {
            Some(a) => {
                let listen = listen_names(&addrs, &tls_addrs);
                let info = AdminInfo {
                    counters: published.clone(),
                    listen,
                    proto: cfg.proto.name().to_string(),
                    version: env!("CARGO_PKG_VERSION").to_string(),
                    started,
                };
                Some(start_admin(a, reactor.handle(), info)?)
            }
            None => None,
        };
        Ok(Server {
            reactor,
            host: ServerHost {
                published,
                proto: cfg.proto,
                http: cfg.http,
                stats_interval: cfg.stats_interval,
                json: cfg.json,
                signals,
                started,
                forced_by: None,
                tls,
            },
            addrs,
            tls_addrs,
            admin,
        })
    }

    /// The admin listener's bound address (port 0 resolved), if one was configured.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|(a, _)| *a)
    }

    /// The bound addresses (ports resolved), in `listen` order.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The bound addresses of the TLS listeners (ports resolved), in `listen_tls` order.
    pub fn tls_addrs(&self) -> &[SocketAddr] {
        &self.tls_addrs
    }

    /// A handle to stop the server from another thread.
    pub fn handle(&self) -> Handle {
        self.reactor.handle()
    }

    /// Reserve slab room for `n` connections.
    pub fn reserve(&mut self, n: usize) {
        self.reactor.reserve(n);
    }

    /// Serve until shut down; returns the final counters, after the admin thread (if
    /// any) has ended.
    pub fn run(self) -> io::Result<ServerStats> {
        self.run_outcome().map(|o| o.stats)
    }

    /// Like [`Server::run`], also telling whether a second signal forced the exit.
    pub fn run_outcome(mut self) -> io::Result<Outcome> {
        let res = self.reactor.run(&mut self.host);
        self.stop_admin();
        res?;
        Ok(Outcome {
            stats: ServerStats {
                conns: self.reactor.stats(),
                http: self.reactor.context().inner,
                tls: self.reactor.context().stats,
            },
            forced_by: self.host.forced_by,
        })
    }

    /// Tell the admin thread the reactor is done and wait for it: it notices within
    /// `admin::POLL_INTERVAL`, or after the request it is serving (bounded by
    /// `admin::REQUEST_TIMEOUT`).
    fn stop_admin(&mut self) {
        self.reactor.close_snapshots();
        if let Some((_, t)) = self.admin.take() {
            // A panic on that thread has nothing left to clean up; the server's result
            // stands.
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A server bound but never run leaves no thread behind either.
        self.stop_admin();
    }
}

/// The start-up facts the server prints: the fd limit it got and what that allows.
#[derive(Clone, Copy, Debug)]
pub struct Capacity {
    /// RLIMIT_NOFILE before and after raising.
    pub nofile: NofileLimit,
    /// Descriptors open (numbered below the soft limit) when last counted: by
    /// [`capacity`], those the process was launched with; after [`Capacity::recount`],
    /// the server's own too.
    pub open_fds: Option<u64>,
    /// Descriptors open when [`capacity`] counted them, before the server opened any:
    /// stdio and whatever the parent left open.
    pub open_fds_at_launch: Option<u64>,
    /// Connections that fit: soft limit minus `open_fds`.
    pub connections: Option<u64>,
    /// `net.core.somaxconn`: the kernel's cap on any listen backlog.
    pub somaxconn: Option<u64>,
}

impl Capacity {
    /// Count the open descriptors again, and the room they leave, once the server is
    /// bound: its poller, waker, listeners, signal pipe, admin listener and spare
    /// descriptors are open then and take room that connections cannot have.
    pub fn recount(&mut self) {
        self.open_fds = limits::open_fds_below(self.nofile.soft);
        self.connections = self.open_fds.map(|n| self.nofile.soft.saturating_sub(n));
    }
}

/// Raise the fd limit and work out the connection capacity, from the same
/// [`limits::Report`] that `loadgen limits` prints.
pub fn capacity() -> io::Result<Capacity> {
    let r = limits::Report::read();
    if r.nofile_hard == 0 {
        return Err(io::Error::other("getrlimit(RLIMIT_NOFILE) failed"));
    }
    Ok(Capacity {
        nofile: NofileLimit {
            soft_before: r.nofile_soft_before,
            soft: r.nofile_soft,
            hard: r.nofile_hard,
        },
        open_fds: r.open_fds,
        open_fds_at_launch: r.open_fds,
        connections: r.fd_room(),
        somaxconn: r.somaxconn,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_anyproto_delegates_every_method() {
        // poll_at was hard-coded to None while on_timer delegated: a protocol with a
        // timer of its own behind AnyProto would never have been woken.
        for p in [
            AnyProto::Http(Http::default()),
            AnyProto::Echo(Echo),
            AnyProto::Discard(Discard),
            AnyProto::Source(Source::default()),
        ] {
            let r = &p;
            let inner: (Option<Instant>, bool, bool) = each!(r, q => (q.poll_at(&Default::default()), q.wants_drained(), q.awaits_input()));
            assert_eq!(
                (
                    p.poll_at(&HttpCounters::default()),
                    p.wants_drained(),
                    p.awaits_input()
                ),
                inner,
                "{p:?}"
            );
        }
    }

    #[test]
    fn test_anyproto_stays_small() {
        // Inline in every connection's slot: see docs/architecture.md, memory.
        let n = std::mem::size_of::<AnyProto>();
        assert!(n <= 40, "AnyProto is {n} bytes");
    }
}
