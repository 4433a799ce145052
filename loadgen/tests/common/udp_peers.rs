//! UDP servers that misbehave on purpose, for loadgen's end-to-end tests over UDP: an echo,
//! and echoes that drop, duplicate, reorder or delay every Nth datagram, or delay them all
//! ([`UdpPeer`], [`Behaviour`]); and a sender of garbage ([`garbage_sender`]).
//!
//! Each peer is a std `UdpSocket` bound to port 0 of a loopback address, served by one
//! thread of its own, counting what it did in atomics the test reads at any time
//! ([`UdpPeer::tally`]), so a test can assert "exactly 1,000 of 10,000 dropped". "Every
//! Nth" counts the datagrams the peer received, from every sender together, from 1: with
//! N = 10 the 10th, 20th, ... are the ones treated. The thread wakes at least every
//! [`TICK`] to see its stop flag, lives [`MAX_LIFE`] at most, and is stopped and joined
//! when the peer is dropped (datagrams still held or delayed then are not sent).
#![allow(dead_code)] // each test binary uses a different part

use rand::{Rng, RngCore, SeedableRng};
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// IPv4 loopback, to bind a peer on.
pub const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// IPv6 loopback, to bind a peer on.
pub const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
/// Longest a peer's thread sleeps in `recv_from` before it looks at its stop flag and its
/// queues again.
pub const TICK: Duration = Duration::from_millis(20);
/// A peer's thread ends by itself after this long, stopped or not.
pub const MAX_LIFE: Duration = Duration::from_secs(300);
/// A datagram [`Behaviour::ReorderEvery`] holds is sent alone when no other datagram
/// comes within this long (the last of a stream has no next one).
pub const HOLD_MAX: Duration = Duration::from_millis(200);
/// Datagrams waiting for their delay at most; beyond it a datagram is dropped (and
/// counted so).
pub const QUEUE_MAX: usize = 65_536;
/// SO_RCVBUF a peer asks for (the kernel caps it at net.core.rmem_max): room for bursts,
/// so that the only drops are the ones the peer means ([`UdpPeer::kernel_drops`]).
pub const PEER_RCVBUF: usize = 4 << 20;

/// What a peer does with the datagrams it receives. N must be at least 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Sends every datagram back to its sender at once.
    Echo,
    /// Echoes all but every Nth, which is dropped (`dropped`).
    DropEvery(u64),
    /// Echoes every datagram; every Nth twice (`duplicated` counts the second copies).
    DuplicateEvery(u64),
    /// Holds every Nth and sends it right after the next datagram's echo (`reordered`
    /// counts those pairs); a held one whose next does not come within [`HOLD_MAX`] is
    /// sent alone. The datagram after a held one is never held itself (N = 1 holds every
    /// other one).
    ReorderEvery(u64),
    /// Echoes every Nth after the delay (`delayed`), the others at once.
    LateEvery(u64, Duration),
    /// Echoes every datagram after the delay (`delayed` counts them all); order is kept.
    DelayAll(Duration),
}

/// What a peer did so far, as atomics its thread updates.
#[derive(Debug, Default)]
pub struct Counts {
    /// Datagrams received.
    pub received: AtomicU64,
    /// Datagrams sent (echoes, second copies included).
    pub sent: AtomicU64,
    /// Datagrams not echoed on purpose (or because the delay queue was full).
    pub dropped: AtomicU64,
    /// Second copies sent.
    pub duplicated: AtomicU64,
    /// Held datagrams sent after the next one.
    pub reordered: AtomicU64,
    /// Datagrams put in the delay queue.
    pub delayed: AtomicU64,
    /// `send_to` failures.
    pub send_errors: AtomicU64,
    /// `recv_from` failures other than its timeout.
    pub recv_errors: AtomicU64,
}

/// [`Counts`] read at one moment, to compare with `assert_eq!`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub received: u64,
    pub sent: u64,
    pub dropped: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub delayed: u64,
    pub send_errors: u64,
    pub recv_errors: u64,
}

impl Counts {
    /// Every counter, read now.
    pub fn tally(&self) -> Tally {
        let get = |a: &AtomicU64| a.load(Ordering::SeqCst);
        Tally {
            received: get(&self.received),
            sent: get(&self.sent),
            dropped: get(&self.dropped),
            duplicated: get(&self.duplicated),
            reordered: get(&self.reordered),
            delayed: get(&self.delayed),
            send_errors: get(&self.send_errors),
            recv_errors: get(&self.recv_errors),
        }
    }
}

fn bump(a: &AtomicU64) {
    a.fetch_add(1, Ordering::SeqCst);
}

/// A running peer: its address, its counts; stopped and joined on drop.
pub struct UdpPeer {
    /// Where it listens (`127.0.0.1:PORT` or `[::1]:PORT`).
    pub addr: SocketAddr,
    /// What it did so far.
    pub counts: Arc<Counts>,
    /// What it does.
    pub behaviour: Behaviour,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl UdpPeer {
    /// A peer bound to port 0 of `ip`, serving in a thread of its own. Panics if it
    /// cannot bind or if N is 0 (a test's mistake).
    pub fn start(ip: IpAddr, behaviour: Behaviour) -> UdpPeer {
        let n = match behaviour {
            Behaviour::DropEvery(n)
            | Behaviour::DuplicateEvery(n)
            | Behaviour::ReorderEvery(n)
            | Behaviour::LateEvery(n, _) => n,
            Behaviour::Echo | Behaviour::DelayAll(_) => 1,
        };
        assert!(n > 0, "{behaviour:?}: every 0th datagram means nothing");
        let sock = UdpSocket::bind(SocketAddr::new(ip, 0)).expect("bind a UDP peer");
        nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::RcvBuf, &PEER_RCVBUF)
            .expect("SO_RCVBUF");
        let addr = sock.local_addr().expect("its address");
        let counts = Arc::new(Counts::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (counts.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name(format!("udp-peer-{}", addr.port()))
            .spawn(move || serve(sock, behaviour, &c, &s))
            .expect("spawn the peer's thread");
        UdpPeer {
            addr,
            counts,
            behaviour,
            stop,
            thread: Some(thread),
        }
    }

    /// An echo on `ip`.
    pub fn echo(ip: IpAddr) -> UdpPeer {
        UdpPeer::start(ip, Behaviour::Echo)
    }

    /// An echo on `ip` that drops every `n`th datagram.
    pub fn dropping(ip: IpAddr, n: u64) -> UdpPeer {
        UdpPeer::start(ip, Behaviour::DropEvery(n))
    }

    /// An echo on `ip` that sends every `n`th datagram twice.
    pub fn duplicating(ip: IpAddr, n: u64) -> UdpPeer {
        UdpPeer::start(ip, Behaviour::DuplicateEvery(n))
    }

    /// An echo on `ip` that sends every `n`th datagram after the next one.
    pub fn reordering(ip: IpAddr, n: u64) -> UdpPeer {
        UdpPeer::start(ip, Behaviour::ReorderEvery(n))
    }

    /// An echo on `ip` that answers every `n`th datagram `delay` late.
    pub fn late(ip: IpAddr, n: u64, delay: Duration) -> UdpPeer {
        UdpPeer::start(ip, Behaviour::LateEvery(n, delay))
    }

    /// An echo on `ip` that answers every datagram after `delay`.
    pub fn delayed(ip: IpAddr, delay: Duration) -> UdpPeer {
        UdpPeer::start(ip, Behaviour::DelayAll(delay))
    }

    /// Its counters, read now.
    pub fn tally(&self) -> Tally {
        self.counts.tally()
    }

    /// Datagrams the kernel dropped before the peer could read them (its receive buffer
    /// was full): the `drops` of its row in `/proc/net/udp` (`udp6`), read now.
    pub fn kernel_drops(&self) -> Option<u64> {
        readyloop::limits::udp_socket_drops(self.addr)
    }

    /// Polls the counters every 5 ms until `done` holds or `within` has passed; the last
    /// tally read either way (the test asserts on it).
    pub fn wait_for(&self, within: Duration, done: impl Fn(&Tally) -> bool) -> Tally {
        let deadline = Instant::now() + within;
        loop {
            let t = self.tally();
            if done(&t) || Instant::now() >= deadline {
                return t;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for UdpPeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A datagram waiting to be sent: when, what, to whom.
struct Pending {
    due: Instant,
    data: Vec<u8>,
    to: SocketAddr,
}

/// A peer's thread state: its socket, its counts, the datagrams it holds back.
struct Peer<'a> {
    sock: UdpSocket,
    behaviour: Behaviour,
    counts: &'a Counts,
    /// Datagrams received so far (the number of the current one).
    seen: u64,
    /// The datagram [`Behaviour::ReorderEvery`] holds, and since when.
    held: Option<(Vec<u8>, SocketAddr, Instant)>,
    /// Delayed datagrams, in due order (one delay per peer: arrival order is due order).
    queue: VecDeque<Pending>,
}

impl Peer<'_> {
    fn send(&self, data: &[u8], to: SocketAddr) {
        match self.sock.send_to(data, to) {
            Ok(_) => bump(&self.counts.sent),
            Err(_) => bump(&self.counts.send_errors),
        }
    }

    fn delay(&mut self, data: &[u8], to: SocketAddr, by: Duration) {
        if self.queue.len() >= QUEUE_MAX {
            bump(&self.counts.dropped);
            return;
        }
        self.queue.push_back(Pending {
            due: Instant::now() + by,
            data: data.to_vec(),
            to,
        });
        bump(&self.counts.delayed);
    }

    /// One datagram received: echo it, or not, as the behaviour says.
    fn on_datagram(&mut self, data: &[u8], from: SocketAddr) {
        bump(&self.counts.received);
        self.seen += 1;
        let nth = |n: u64| self.seen % n == 0;
        match self.behaviour {
            Behaviour::Echo => self.send(data, from),
            Behaviour::DropEvery(n) if nth(n) => bump(&self.counts.dropped),
            Behaviour::DropEvery(_) => self.send(data, from),
            Behaviour::DuplicateEvery(n) => {
                self.send(data, from);
                if nth(n) {
                    self.send(data, from);
                    bump(&self.counts.duplicated);
                }
            }
            Behaviour::ReorderEvery(n) => self.reorder(data, from, nth(n)),
            Behaviour::LateEvery(n, d) if nth(n) => self.delay(data, from, d),
            Behaviour::LateEvery(..) => self.send(data, from),
            Behaviour::DelayAll(d) => self.delay(data, from, d),
        }
    }

    /// ReorderEvery: the datagram after a held one goes first, then the held one.
    fn reorder(&mut self, data: &[u8], from: SocketAddr, nth: bool) {
        if let Some((h, to, _)) = self.held.take() {
            self.send(data, from);
            self.send(&h, to);
            bump(&self.counts.reordered);
        } else if nth {
            self.held = Some((data.to_vec(), from, Instant::now()));
        } else {
            self.send(data, from);
        }
    }

    /// Send what is due: delayed datagrams whose time came, a held one past [`HOLD_MAX`].
    fn flush_due(&mut self, now: Instant) {
        for _ in 0..QUEUE_MAX {
            match self.queue.front() {
                Some(p) if p.due <= now => {}
                _ => break,
            }
            if let Some(p) = self.queue.pop_front() {
                self.send(&p.data, p.to);
            }
        }
        if self
            .held
            .as_ref()
            .is_some_and(|(_, _, since)| now.duration_since(*since) >= HOLD_MAX)
        {
            if let Some((h, to, _)) = self.held.take() {
                self.send(&h, to);
            }
        }
    }

    /// How long `recv_from` may wait: until the next due datagram, at most [`TICK`].
    fn wait(&self, now: Instant) -> Duration {
        let mut w = TICK;
        if let Some(p) = self.queue.front() {
            w = w.min(p.due.saturating_duration_since(now));
        }
        if let Some((_, _, since)) = &self.held {
            w = w.min((*since + HOLD_MAX).saturating_duration_since(now));
        }
        // A zero timeout means "block forever" to set_read_timeout.
        w.max(Duration::from_millis(1))
    }
}

/// The peer's thread: receive, act, send what is due, until the stop or [`MAX_LIFE`].
fn serve(sock: UdpSocket, behaviour: Behaviour, counts: &Counts, stop: &AtomicBool) {
    let started = Instant::now();
    let mut p = Peer {
        sock,
        behaviour,
        counts,
        seen: 0,
        held: None,
        queue: VecDeque::new(),
    };
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::SeqCst) && started.elapsed() < MAX_LIFE {
        let now = Instant::now();
        p.flush_due(now);
        let _ = p.sock.set_read_timeout(Some(p.wait(now)));
        match p.sock.recv_from(&mut buf) {
            Ok((n, from)) => p.on_datagram(&buf[..n], from),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                bump(&p.counts.recv_errors);
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

/// The kinds of garbage [`garbage_sender`] sends, in turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Garbage {
    /// No bytes at all.
    Empty,
    /// 1 to 15 random bytes: shorter than a sequence number and a timestamp.
    Short,
    /// The largest datagram the family carries (65,507 bytes over IPv4, 65,527 over IPv6),
    /// random: far more than any header or reply a receiver expects (truncated by a
    /// buffer sized for those).
    Oversized,
    /// 16 to 1,472 random bytes.
    Random,
    /// A datagram of another protocol, in turn: a DNS query, an NTP request, a STUN
    /// binding request, an HTTP request.
    Foreign,
}

/// The five kinds, in the order [`garbage_datagrams`] takes them.
pub const GARBAGE_KINDS: [Garbage; 5] = [
    Garbage::Empty,
    Garbage::Short,
    Garbage::Oversized,
    Garbage::Random,
    Garbage::Foreign,
];

/// What [`garbage_sender`] sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GarbageSent {
    /// Datagrams sent, by kind, in [`GARBAGE_KINDS`]' order.
    pub by_kind: [u64; 5],
    /// Datagrams sent in all.
    pub datagrams: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Sends that failed.
    pub errors: u64,
    /// The lengths sent, in order (a receiver can compare).
    pub lengths: Vec<usize>,
}

/// A datagram of another protocol, `which` of four in turn.
fn foreign(rng: &mut impl Rng, which: usize) -> Vec<u8> {
    let id: [u8; 2] = rng.gen();
    match which % 4 {
        // DNS: ID, RD, one question: example.com A IN.
        0 => [
            &id[..],
            &[1, 0, 0, 1, 0, 0, 0, 0, 0, 0],
            b"\x07example\x03com\x00",
            &[0, 1, 0, 1],
        ]
        .concat(),
        // NTP v3 client request: 48 bytes, LI 0, VN 3, mode 3.
        1 => [&[0x1b][..], &[0u8; 47]].concat(),
        // STUN binding request: type, length 0, magic cookie, 12-byte transaction ID.
        2 => {
            let mut tid = [0u8; 12];
            rng.fill_bytes(&mut tid);
            [&[0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42][..], &tid].concat()
        }
        _ => b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
    }
}

/// `n` datagrams of garbage for a receiver of `ipv6` or not, kinds in turn
/// ([`GARBAGE_KINDS`]), bytes from `seed`: the same seed gives the same datagrams.
pub fn garbage_datagrams(n: usize, seed: u64, ipv6: bool) -> Vec<(Garbage, Vec<u8>)> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let max = if ipv6 { 65_527 } else { 65_507 };
    fn random(rng: &mut impl RngCore, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        rng.fill_bytes(&mut v);
        v
    }
    (0..n)
        .map(|i| {
            let kind = GARBAGE_KINDS[i % GARBAGE_KINDS.len()];
            let data = match kind {
                Garbage::Empty => Vec::new(),
                Garbage::Short => {
                    let len = rng.gen_range(1..=15);
                    random(&mut rng, len)
                }
                Garbage::Oversized => random(&mut rng, max),
                Garbage::Random => {
                    let len = rng.gen_range(16..=1472);
                    random(&mut rng, len)
                }
                Garbage::Foreign => foreign(&mut rng, i / GARBAGE_KINDS.len()),
            };
            (kind, data)
        })
        .collect()
}

/// Sends `n` datagrams of garbage ([`garbage_datagrams`]) to `to` from a socket of its
/// own (a source the receiver never talked to), bound to loopback when `to` is on it.
/// Sends are blocking and one at a time; what the receiver drops is its own business.
pub fn garbage_sender(to: SocketAddr, n: usize, seed: u64) -> GarbageSent {
    let ip = match (to.ip().is_loopback(), to.is_ipv6()) {
        (true, true) => V6,
        (true, false) => V4,
        (false, true) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        (false, false) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    };
    let sock = UdpSocket::bind(SocketAddr::new(ip, 0)).expect("bind the garbage sender");
    let mut sent = GarbageSent::default();
    for (kind, data) in garbage_datagrams(n, seed, to.is_ipv6()) {
        match sock.send_to(&data, to) {
            Ok(len) => {
                let k = GARBAGE_KINDS.iter().position(|&g| g == kind).unwrap_or(0);
                sent.by_kind[k] += 1;
                sent.datagrams += 1;
                sent.bytes += len as u64;
                sent.lengths.push(len);
            }
            Err(_) => sent.errors += 1,
        }
    }
    sent
}
