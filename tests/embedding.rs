//! What hosts that embed the reactor need: driving it from their own loop, changing a
//! source's interest, adopting a socket connected elsewhere.

use readyloop::mio::net::UdpSocket;
use readyloop::mio::{event::Event, Interest};
use readyloop::protocol::{Cx, Echo, Step};
use readyloop::{
    CloseReason, Config, ConnId, ConnLimits, Host, LimitsId, ListenOptions, ListenerId, Reactor,
    ServeWith, SourceId,
};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Wait (bounded) until `fd` is readable or `until` passes, as a host's own loop would.
fn wait_readable(fd: i32, until: Option<Instant>, cap: Duration) {
    let wait = until.map_or(cap, |t| {
        t.saturating_duration_since(Instant::now()).min(cap)
    });
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd on the stack, its descriptor open for the call.
    unsafe { libc::poll(&mut pfd, 1, wait.as_millis() as libc::c_int) };
}

#[test]
fn host_owned_loop_drives_turns_from_the_epoll_fd_and_poll_at() {
    let mut cfg = Config::default();
    cfg.limits.idle_timeout = Some(Duration::from_millis(300));
    let mut r: Reactor<Echo> = Reactor::new(cfg).unwrap();
    let l = r
        .listen("127.0.0.1:0".parse().unwrap(), &ListenOptions::default())
        .unwrap();
    let addr = r.local_addr(l).unwrap();
    let mut host = ServeWith(|| Echo);
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"ping").unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    // The host's loop: wait on the reactor's descriptor (or its poll_at), then one
    // non-blocking turn. The echo comes back without the reactor ever blocking.
    while got.len() < 4 && Instant::now() < deadline {
        wait_readable(r.as_raw_fd(), r.poll_at(), Duration::from_millis(100));
        r.turn(&mut host, Some(Duration::ZERO)).unwrap();
        c.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 16];
        if let Ok(n) = c.read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        c.set_nonblocking(false).unwrap();
    }
    assert_eq!(got, b"ping");
    // With a connection on a 300 ms idle timeout, poll_at names that deadline, and the
    // host's loop closes it on time without any event.
    let at = r.poll_at().expect("the idle deadline");
    assert!(at > Instant::now() && at < Instant::now() + Duration::from_millis(400));
    while r.active() > 0 && Instant::now() < deadline {
        wait_readable(r.as_raw_fd(), r.poll_at(), Duration::from_millis(100));
        r.turn(&mut host, Some(Duration::ZERO)).unwrap();
    }
    assert_eq!(r.active(), 0, "closed by its idle timeout");
}

/// A host with one UDP source that counts readable and writable events.
struct Udp {
    id: Option<SourceId>,
    readable: u32,
    writable: u32,
}

impl Host<Echo> for Udp {
    fn source_ready(&mut self, _r: &mut Reactor<Echo>, id: SourceId, ev: &Event) {
        assert_eq!(Some(id), self.id);
        self.readable += u32::from(ev.is_readable());
        self.writable += u32::from(ev.is_writable());
    }
}

#[test]
fn reregister_changes_a_host_sources_interest() {
    let mut r: Reactor<Echo> = Reactor::new(Config::default()).unwrap();
    let mut sock = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let id = r.register(&mut sock, Interest::READABLE).unwrap();
    let mut host = Udp {
        id: Some(id),
        readable: 0,
        writable: 0,
    };
    r.turn(&mut host, Some(Duration::from_millis(20))).unwrap();
    assert_eq!(host.writable, 0, "not asked for");
    r.reregister(&mut sock, id, Interest::READABLE | Interest::WRITABLE)
        .unwrap();
    r.turn(&mut host, Some(Duration::from_millis(200))).unwrap();
    assert_eq!(host.writable, 1, "an idle UDP socket is writable at once");
    let stale = SourceId(id.0 + 1);
    assert!(r.reregister(&mut sock, stale, Interest::READABLE).is_err());
}

#[test]
fn adopt_takes_over_a_connected_std_stream() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let (accepted, _) = listener.accept().unwrap();
    // Bytes that arrive before the reactor takes the socket are not lost.
    client.write_all(b"early").unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let mut r: Reactor<Echo> = Reactor::new(Config::default()).unwrap();
    let id = r.adopt(accepted, Echo).map_err(|(e, _)| e).unwrap();
    assert!(r.protocol_mut(id).is_some());
    let mut host = ServeWith(|| Echo);
    let t = std::thread::spawn(move || {
        let mut buf = [0u8; 5];
        client.read_exact(&mut buf).map(|_| buf)
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while !t.is_finished() && Instant::now() < deadline {
        r.turn(&mut host, Some(Duration::from_millis(10))).unwrap();
    }
    assert_eq!(&t.join().unwrap().unwrap(), b"early");
}

/// A host that records the timer keys it is called with.
#[derive(Default)]
struct Timers {
    fired: Vec<u64>,
}

impl Host<Echo> for Timers {
    fn timer(&mut self, _r: &mut Reactor<Echo>, key: u64) {
        self.fired.push(key);
    }
}

#[test]
fn cancelled_timers_never_fire_and_keys_are_the_hosts_whole() {
    let mut r: Reactor<Echo> = Reactor::new(Config::default()).unwrap();
    let now = Instant::now();
    let soon = now + Duration::from_millis(30);
    let keep = r.set_timer(soon, u64::MAX); // the top bits are the host's too
    let mut cancelled = Vec::new();
    for k in 0..1000 {
        cancelled.push(r.set_timer(soon, k));
    }
    for id in &cancelled {
        assert!(r.cancel_timer(*id));
    }
    assert_ne!(keep, cancelled[0]);
    let mut host = Timers::default();
    let deadline = now + Duration::from_secs(5);
    while host.fired.is_empty() && Instant::now() < deadline {
        r.turn(&mut host, Some(Duration::from_millis(50))).unwrap();
    }
    r.turn(&mut host, Some(Duration::from_millis(50))).unwrap();
    assert_eq!(host.fired, vec![u64::MAX], "only the timer not cancelled");
    assert!(!r.cancel_timer(keep), "a fired timer cannot be cancelled");
    // The 1,000 cancelled reminders did not stay in the heap.
    let snap = r.snapshot();
    assert!(
        snap.timers <= 2 * snap.timers_live + 64,
        "{} reminders",
        snap.timers
    );
}

/// A host that stops the loop when it is posted `STOP`, counting the other posts.
struct Posted {
    values: Vec<u64>,
}

const STOP: u64 = u64::MAX;

impl Host<Echo> for Posted {
    fn posted(&mut self, r: &mut Reactor<Echo>, value: u64) {
        self.values.push(value);
        if value == STOP {
            r.stop();
        }
    }
}

#[test]
fn post_wakes_a_blocked_loop_and_coalesces() {
    let mut r: Reactor<Echo> = Reactor::new(Config::default()).unwrap();
    let h = r.handle();
    let poster = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        for _ in 0..1000 {
            h.post(1); // coalesces while undelivered
        }
        h.post(STOP);
    });
    let mut host = Posted { values: Vec::new() };
    let started = Instant::now();
    // No timers, no sockets: only the posts can end this run.
    r.run(&mut host).unwrap();
    poster.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(host.values.last(), Some(&STOP));
    let ones = host.values.iter().filter(|&&v| v == 1).count();
    assert!((1..=1000).contains(&ones), "delivered {ones} times");

    // Posted 1,000 times before the loop turns: delivered once.
    let h = r.handle();
    for _ in 0..1000 {
        h.post(1);
    }
    host.values.clear();
    r.turn(&mut host, Some(Duration::from_secs(1))).unwrap();
    assert_eq!(host.values, [1]);
}

/// Notes, in the shared context, the id each call of its protocol is made for.
struct Tagged;

impl readyloop::protocol::Protocol for Tagged {
    type Context = Vec<ConnId>;

    fn on_input(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        _budget: usize,
        cx: &mut Cx<Vec<ConnId>>,
    ) -> Step {
        cx.ctx.push(cx.id());
        out.extend_from_slice(input);
        Step::cont(input.len())
    }
}

/// Records the ids `accept` and `closed` are given, and what `connect` says inside
/// `accept`; gives connections from `short_listener` the `short` limit profile.
#[derive(Default)]
struct Ids {
    accepted: Vec<ConnId>,
    closed: Vec<(ConnId, CloseReason)>,
    connect_inside_accept: Option<String>,
    short: Option<(ListenerId, LimitsId)>,
}

impl Host<Tagged> for Ids {
    fn accept(
        &mut self,
        r: &mut Reactor<Tagged>,
        id: ConnId,
        l: ListenerId,
        peer: std::net::SocketAddr,
    ) -> Option<Tagged> {
        self.accepted.push(id);
        if self.connect_inside_accept.is_none() {
            let e = r
                .connect(peer, &Default::default(), Tagged)
                .map(|_| ())
                .map_err(|(e, _)| e.to_string());
            self.connect_inside_accept = Some(format!("{e:?}"));
        }
        if let Some((short_l, short)) = self.short {
            if short_l == l {
                assert!(
                    r.set_limits(id, short),
                    "the id being accepted takes a profile"
                );
            }
        }
        Some(Tagged)
    }

    fn closed(
        &mut self,
        _r: &mut Reactor<Tagged>,
        id: ConnId,
        _p: Tagged,
        why: CloseReason,
        _e: Option<i32>,
    ) {
        self.closed.push((id, why));
    }
}

fn turn_until(
    r: &mut Reactor<Tagged>,
    host: &mut Ids,
    mut done: impl FnMut(&Reactor<Tagged>, &Ids) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done(r, host) && Instant::now() < deadline {
        r.turn(host, Some(Duration::from_millis(10))).unwrap();
    }
}

#[test]
fn accept_gets_the_id_the_protocol_and_closed_see() {
    let mut r: Reactor<Tagged> = Reactor::new(Config::default()).unwrap();
    let l = r
        .listen("127.0.0.1:0".parse().unwrap(), &ListenOptions::default())
        .unwrap();
    let addr = r.local_addr(l).unwrap();
    let mut host = Ids::default();
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"x").unwrap();
    turn_until(&mut r, &mut host, |r, _| !r.context().is_empty());
    assert_eq!(host.accepted.len(), 1);
    let id = host.accepted[0];
    assert_eq!(r.context(), &vec![id], "the protocol learns its own id");
    // The id works at once: the host can write to the connection with it.
    assert!(r.send(id, b"!"));
    let mut buf = [0u8; 2];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"x!");
    drop(c);
    turn_until(&mut r, &mut host, |_, h| !h.closed.is_empty());
    assert_eq!(host.closed, vec![(id, CloseReason::Peer)]);
    let said = host.connect_inside_accept.unwrap_or_default();
    assert!(
        said.contains("Host::accept"),
        "connect inside accept: {said}"
    );
    assert_eq!(r.active(), 0, "the refused connect left nothing behind");
}

#[test]
fn limit_profiles_apply_per_connection_without_growing_the_slot() {
    let mut r: Reactor<Tagged> = Reactor::new(Config::default()).unwrap();
    let short = r
        .add_limits(ConnLimits {
            idle_timeout: Some(Duration::from_millis(150)),
            ..ConnLimits::default()
        })
        .unwrap();
    // A connection keeps its profile in 5 bits: 31 profiles besides the default.
    for _ in 0..30 {
        r.add_limits(ConnLimits::default()).unwrap();
    }
    assert!(
        r.add_limits(ConnLimits::default()).is_err(),
        "a 33rd profile"
    );
    let opts = ListenOptions::default();
    let normal_l = r.listen("127.0.0.1:0".parse().unwrap(), &opts).unwrap();
    let short_l = r.listen("127.0.0.1:0".parse().unwrap(), &opts).unwrap();
    let mut host = Ids {
        short: Some((short_l, short)),
        connect_inside_accept: Some(String::new()),
        ..Ids::default()
    };
    let _normal = TcpStream::connect(r.local_addr(normal_l).unwrap()).unwrap();
    let _short = TcpStream::connect(r.local_addr(short_l).unwrap()).unwrap();
    turn_until(&mut r, &mut host, |_, h| h.accepted.len() == 2);
    let started = Instant::now();
    turn_until(&mut r, &mut host, |_, h| !h.closed.is_empty());
    let waited = started.elapsed();
    assert_eq!(
        host.closed.len(),
        1,
        "only the short-profile connection closed"
    );
    assert_eq!(host.closed[0].1, CloseReason::IdleTimeout);
    assert!(waited < Duration::from_secs(2), "closed after {waited:?}");
    assert_eq!(r.active(), 1);
    // A live connection can change profile: the default one now gets the short clock.
    let normal = host
        .accepted
        .iter()
        .copied()
        .find(|id| host.closed[0].0 != *id)
        .unwrap();
    assert!(r.set_limits(normal, short));
    turn_until(&mut r, &mut host, |r, _| r.active() == 0);
    assert_eq!(host.closed.len(), 2);
    assert_eq!(host.closed[1], (normal, CloseReason::IdleTimeout));
    assert!(
        !r.set_limits(normal, short),
        "a closed connection's id is stale"
    );
}

#[test]
fn edge_triggered_host_loop_gets_every_event_of_a_full_batch() {
    use readyloop::mio::unix::SourceFd;
    use readyloop::mio::{Events, Poll, Token};
    // A small event buffer, and more ready connections than it holds.
    let cfg = Config {
        event_capacity: 16,
        ..Config::default()
    };
    let mut r: Reactor<Echo> = Reactor::new(cfg).unwrap();
    let l = r
        .listen("127.0.0.1:0".parse().unwrap(), &ListenOptions::default())
        .unwrap();
    let addr = r.local_addr(l).unwrap();
    let mut host = ServeWith(|| Echo);
    let mut clients: Vec<TcpStream> = (0..64).map(|_| TcpStream::connect(addr).unwrap()).collect();
    // The host's own poll watches the reactor's descriptor edge-triggered (mio's way).
    let mut outer = Poll::new().unwrap();
    outer
        .registry()
        .register(&mut SourceFd(&r.as_raw_fd()), Token(0), Interest::READABLE)
        .unwrap();
    let mut events = Events::with_capacity(8);
    // As a real host: sleep until an edge or the reactor's poll_at (capped at 2 s so
    // a missed edge shows as a long sleep instead of a hung test). Returns whether the
    // wait ran into the cap with nothing to wake it.
    let mut host_turn = |r: &mut Reactor<Echo>, events: &mut Events| -> bool {
        let cap = Duration::from_secs(2);
        let timeout = r.poll_at().map_or(cap, |t| {
            t.saturating_duration_since(Instant::now()).min(cap)
        });
        let slept = Instant::now();
        outer.poll(events, Some(timeout)).unwrap();
        let stalled = events.is_empty() && slept.elapsed() >= cap;
        r.turn(&mut host, Some(Duration::ZERO)).unwrap();
        stalled
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while r.active() < clients.len() && Instant::now() < deadline {
        host_turn(&mut r, &mut events);
    }
    assert_eq!(r.active(), clients.len());
    // Every client writes at once: 64 readable sockets for a 16-event buffer.
    for c in clients.iter_mut() {
        c.write_all(b"ping").unwrap();
        c.set_nonblocking(true).unwrap();
    }
    std::thread::sleep(Duration::from_millis(50));
    let mut answered = vec![false; clients.len()];
    let mut stalls = 0;
    for _ in 0..20 {
        // A loop that slept on an edge that never comes (the reactor's epoll still
        // holding ready events after a full batch) stalls here until the cap.
        stalls += u32::from(host_turn(&mut r, &mut events));
        for (c, done) in clients.iter_mut().zip(answered.iter_mut()) {
            let mut buf = [0u8; 4];
            if !*done && c.read(&mut buf).is_ok_and(|n| n == 4) {
                *done = true;
            }
        }
        if answered.iter().all(|&d| d) {
            break;
        }
    }
    let n = answered.iter().filter(|&&d| d).count();
    assert_eq!(n, clients.len(), "answered {n} of 64");
    assert_eq!(stalls, 0, "host waits that no edge or deadline ended");
}

/// Wants `on_timer` at the instant its shared context holds; counts the calls there.
struct WakeAt;

impl readyloop::protocol::Protocol for WakeAt {
    type Context = (Option<Instant>, u32);

    fn on_input(
        &mut self,
        input: &[u8],
        _out: &mut Vec<u8>,
        _budget: usize,
        _cx: &mut Cx<Self::Context>,
    ) -> Step {
        Step::cont(input.len())
    }
    fn poll_at(&self, ctx: &Self::Context) -> Option<Instant> {
        ctx.0
    }
    fn on_timer(
        &mut self,
        _out: &mut Vec<u8>,
        cx: &mut Cx<Self::Context>,
    ) -> readyloop::protocol::Verdict {
        cx.ctx.0 = None;
        cx.ctx.1 += 1;
        readyloop::protocol::Verdict::Continue
    }
}

#[test]
fn rearm_timers_applies_a_poll_at_the_host_changed_in_the_context() {
    let mut r: Reactor<WakeAt> = Reactor::new(Config::default()).unwrap();
    let l = r
        .listen("127.0.0.1:0".parse().unwrap(), &ListenOptions::default())
        .unwrap();
    let _c = TcpStream::connect(r.local_addr(l).unwrap()).unwrap();
    let mut host = ServeWith(|| WakeAt);
    let deadline = Instant::now() + Duration::from_secs(5);
    while r.active() == 0 && Instant::now() < deadline {
        r.turn(&mut host, Some(Duration::from_millis(10))).unwrap();
    }
    // The host moves the shared wake-up time; without a re-arm no event asks again.
    r.context_mut().0 = Some(Instant::now() + Duration::from_millis(20));
    r.rearm_timers();
    while r.context().1 == 0 && Instant::now() < deadline {
        r.turn(&mut host, Some(Duration::from_millis(50))).unwrap();
    }
    assert_eq!(r.context().1, 1, "on_timer ran at the new time");
}
