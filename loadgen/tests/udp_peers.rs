//! The misbehaving UDP test servers of `common/udp_peers.rs`, checked with plain std
//! sockets as the client: numbered datagrams sent, exactly which come back (once, twice,
//! in which order, how late) and the peers' own counts. Loopback only; every wait is
//! bounded.

#[path = "common/udp_peers.rs"]
mod udp_peers;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};
use udp_peers::{
    garbage_datagrams, garbage_sender, Behaviour, Garbage, Tally, UdpPeer, GARBAGE_KINDS, HOLD_MAX,
    V4, V6,
};

/// Time after the last expected echo during which nothing more may arrive: longer than
/// [`HOLD_MAX`], so a held datagram would show.
const QUIET: Duration = Duration::from_millis(300);
/// Longest wait for the echoes of one burst.
const PATIENCE: Duration = Duration::from_secs(5);

/// A client socket on `ip`: a 1 MiB receive buffer (what the kernel grants), short reads.
fn client(ip: IpAddr) -> UdpSocket {
    let c = UdpSocket::bind(SocketAddr::new(ip, 0)).expect("client socket");
    nix::sys::socket::setsockopt(&c, nix::sys::socket::sockopt::RcvBuf, &(1usize << 20))
        .expect("SO_RCVBUF");
    c.set_read_timeout(Some(Duration::from_millis(10)))
        .expect("timeout");
    c
}

/// A client on ::1, or `None` (and a note) where IPv6 loopback is missing.
fn client_v6() -> Option<UdpSocket> {
    if UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("skipping the IPv6 part: no ::1 here");
        return None;
    }
    Some(client(V6))
}

/// Datagram number `n`: its number (4 bytes, big-endian), then 60 bytes that depend on it.
fn numbered(n: u32) -> Vec<u8> {
    let mut d = n.to_be_bytes().to_vec();
    d.extend((0..60u32).map(|i| (n.wrapping_mul(31).wrapping_add(i) & 0xff) as u8));
    d
}

/// Sends datagrams `from..=to` to `peer`, each numbered, and when each left.
fn send_numbered(c: &UdpSocket, peer: SocketAddr, from: u32, to: u32) -> HashMap<u32, Instant> {
    (from..=to)
        .map(|n| {
            c.send_to(&numbered(n), peer).expect("loopback send");
            (n, Instant::now())
        })
        .collect()
}

/// One echo received: its number and when it came.
#[derive(Clone, Copy, Debug)]
struct Echo {
    n: u32,
    at: Instant,
}

/// Reads echoes until `want` have come (or [`PATIENCE`] passed), then for [`QUIET`]
/// more: everything that came, in order. Each must be a numbered datagram, unchanged,
/// from `peer`.
fn collect(c: &UdpSocket, peer: SocketAddr, want: usize) -> Vec<Echo> {
    let mut got = Vec::with_capacity(want);
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + PATIENCE;
    let mut quiet_until: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if quiet_until.is_some_and(|q| now >= q) || now >= deadline {
            return got;
        }
        if let Ok((len, from)) = c.recv_from(&mut buf) {
            assert_eq!(from, peer, "an echo from elsewhere");
            let n = u32::from_be_bytes(buf[..4].try_into().expect("4 bytes"));
            assert_eq!(&buf[..len], &numbered(n)[..], "echo {n} changed");
            got.push(Echo {
                n,
                at: Instant::now(),
            });
        }
        if got.len() >= want && quiet_until.is_none() {
            quiet_until = Some(Instant::now() + QUIET);
        }
    }
}

fn numbers(echoes: &[Echo]) -> Vec<u32> {
    echoes.iter().map(|e| e.n).collect()
}

#[test]
fn test_echo_returns_every_datagram_in_order_v4_and_v6() {
    let mut clients = vec![(client(V4), V4)];
    clients.extend(client_v6().map(|c| (c, V6)));
    for (c, ip) in clients {
        let peer = UdpPeer::echo(ip);
        send_numbered(&c, peer.addr, 1, 100);
        let got = collect(&c, peer.addr, 100);
        assert_eq!(numbers(&got), (1..=100).collect::<Vec<_>>(), "{ip}");
        assert_eq!(
            peer.tally(),
            Tally {
                received: 100,
                sent: 100,
                ..Tally::default()
            }
        );
    }
}

#[test]
fn test_drop_every_10th_of_10000_exactly_1000() {
    let c = client(V4);
    let peer = UdpPeer::dropping(V4, 10);
    let mut back = Vec::with_capacity(9000);
    // Bursts of 100, each read back before the next: no buffer on the way overflows.
    for burst in 0..100u32 {
        let first = burst * 100 + 1;
        send_numbered(&c, peer.addr, first, first + 99);
        let got = read_burst(&c, 90);
        assert_eq!(got.len(), 90, "burst {burst}");
        back.extend(got);
    }
    let want: Vec<u32> = (1..=10_000).filter(|n| n % 10 != 0).collect();
    assert_eq!(back, want, "all but the multiples of 10, in order");
    let t = peer.wait_for(PATIENCE, |t| t.received == 10_000);
    assert_eq!(peer.kernel_drops(), Some(0), "every drop is the peer's own");
    assert_eq!(
        t,
        Tally {
            received: 10_000,
            sent: 9_000,
            dropped: 1_000,
            ..Tally::default()
        }
    );
}

/// Reads `want` echoes' numbers (or fewer, after [`PATIENCE`]), without a quiet wait.
fn read_burst(c: &UdpSocket, want: usize) -> Vec<u32> {
    let mut got = Vec::with_capacity(want);
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + PATIENCE;
    while got.len() < want && Instant::now() < deadline {
        if let Ok((len, _)) = c.recv_from(&mut buf) {
            if len >= 4 {
                got.push(u32::from_be_bytes(buf[..4].try_into().expect("4 bytes")));
            }
        }
    }
    got
}

#[test]
fn test_drop_every_10th_over_ipv6() {
    let Some(c) = client_v6() else {
        return;
    };
    let peer = UdpPeer::dropping(V6, 10);
    send_numbered(&c, peer.addr, 1, 100);
    let got = collect(&c, peer.addr, 90);
    let want: Vec<u32> = (1..=100).filter(|n| n % 10 != 0).collect();
    assert_eq!(numbers(&got), want);
    assert_eq!((peer.tally().dropped, peer.tally().sent), (10, 90));
}

#[test]
fn test_duplicate_every_10th_comes_back_twice() {
    let c = client(V4);
    let peer = UdpPeer::duplicating(V4, 10);
    send_numbered(&c, peer.addr, 1, 100);
    let got = collect(&c, peer.addr, 110);
    assert_eq!(got.len(), 110);
    let mut times: HashMap<u32, usize> = HashMap::new();
    for e in &got {
        *times.entry(e.n).or_default() += 1;
    }
    for n in 1..=100 {
        let want = if n % 10 == 0 { 2 } else { 1 };
        assert_eq!(times.get(&n), Some(&want), "datagram {n}");
    }
    // The copy follows its original at once.
    let twice: Vec<u32> = numbers(&got)
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    assert_eq!(twice, (1..=10).map(|i| i * 10).collect::<Vec<_>>());
    assert_eq!(
        peer.tally(),
        Tally {
            received: 100,
            sent: 110,
            duplicated: 10,
            ..Tally::default()
        }
    );
}

#[test]
fn test_reorder_every_10th_comes_after_the_next() {
    let c = client(V4);
    let peer = UdpPeer::reordering(V4, 10);
    send_numbered(&c, peer.addr, 1, 100);
    let got = collect(&c, peer.addr, 100);
    // 1..9, 11, 10, 12..19, 21, 20, ... 91, 90, 92..99, then 100 alone (no next came).
    let mut want = Vec::new();
    for n in 1..=100u32 {
        match n % 10 {
            0 if n < 100 => {}
            1 if n > 1 => want.extend([n, n - 1]),
            _ => want.push(n),
        }
    }
    assert_eq!(numbers(&got), want);
    // The last held one waited HOLD_MAX for a next datagram.
    let last = got.last().expect("echoes");
    let before = got[got.len() - 2];
    assert!(last.at.duration_since(before.at) >= HOLD_MAX - Duration::from_millis(5));
    assert_eq!(
        peer.tally(),
        Tally {
            received: 100,
            sent: 100,
            reordered: 9,
            ..Tally::default()
        }
    );
}

#[test]
fn test_late_every_10th_after_its_delay() {
    let delay = Duration::from_millis(400);
    let c = client(V4);
    let peer = UdpPeer::late(V4, 10, delay);
    let sent = send_numbered(&c, peer.addr, 1, 100);
    let got = collect(&c, peer.addr, 100);
    assert_eq!(got.len(), 100);
    for e in &got {
        let rtt = e.at.duration_since(sent[&e.n]);
        if e.n % 10 == 0 {
            assert!(
                rtt >= delay,
                "{}: back after {rtt:?}, before {delay:?}",
                e.n
            );
        } else {
            assert!(rtt < delay, "{}: back after {rtt:?}, not on time", e.n);
        }
    }
    // The 90 on time first, then the 10 late ones in their order.
    let late: Vec<u32> = numbers(&got[90..]).to_vec();
    assert_eq!(late, (1..=10).map(|i| i * 10).collect::<Vec<_>>());
    assert_eq!(
        peer.tally(),
        Tally {
            received: 100,
            sent: 100,
            delayed: 10,
            ..Tally::default()
        }
    );
}

#[test]
fn test_delay_all_keeps_order_and_delay() {
    let delay = Duration::from_millis(200);
    let c = client(V4);
    let peer = UdpPeer::delayed(V4, delay);
    assert_eq!(peer.behaviour, Behaviour::DelayAll(delay));
    let sent = send_numbered(&c, peer.addr, 1, 20);
    let got = collect(&c, peer.addr, 20);
    assert_eq!(numbers(&got), (1..=20).collect::<Vec<_>>());
    for e in &got {
        let rtt = e.at.duration_since(sent[&e.n]);
        assert!(rtt >= delay, "{}: back after {rtt:?}", e.n);
    }
    let t = peer.tally();
    assert_eq!((t.received, t.sent, t.delayed), (20, 20, 20));
}

#[test]
fn test_peer_stops_and_joins_on_drop() {
    let peer = UdpPeer::late(V4, 1, Duration::from_secs(60));
    let c = client(V4);
    send_numbered(&c, peer.addr, 1, 3);
    let t = peer.wait_for(PATIENCE, |t| t.delayed == 3);
    assert_eq!((t.received, t.delayed, t.sent), (3, 3, 0));
    let addr = peer.addr;
    let started = Instant::now();
    drop(peer); // three datagrams still queued for a minute: the stop does not wait for them
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // Its port is free again.
    assert!(UdpSocket::bind(addr).is_ok());
}

#[test]
#[should_panic(expected = "every 0th")]
fn test_every_0th_is_refused() {
    let _ = UdpPeer::dropping(V4, 0);
}

#[test]
fn test_garbage_is_deterministic_and_of_every_kind() {
    let a = garbage_datagrams(100, 7, false);
    assert_eq!(a, garbage_datagrams(100, 7, false), "same seed, same bytes");
    assert_ne!(
        a,
        garbage_datagrams(100, 8, false),
        "another seed, other bytes"
    );
    for kind in GARBAGE_KINDS {
        let of: Vec<&Vec<u8>> = a
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, d)| d)
            .collect();
        assert_eq!(of.len(), 20, "{kind:?}");
        let ok = |d: &&Vec<u8>| match kind {
            Garbage::Empty => d.is_empty(),
            Garbage::Short => (1..=15).contains(&d.len()),
            Garbage::Oversized => d.len() == 65_507,
            Garbage::Random => (16..=1472).contains(&d.len()),
            Garbage::Foreign => d.len() >= 20,
        };
        assert!(of.iter().all(ok), "{kind:?}");
    }
    let v6 = garbage_datagrams(5, 7, true);
    assert_eq!(v6[2].1.len(), 65_527, "the IPv6 maximum");
    // Foreign ones are recognisably other protocols.
    let foreign: Vec<&Vec<u8>> = a
        .iter()
        .filter(|(k, _)| *k == Garbage::Foreign)
        .map(|(_, d)| d)
        .collect();
    let dns = foreign
        .iter()
        .any(|d| d.windows(8).any(|w| w == b"\x07example"));
    let http = foreign.iter().any(|d| d.starts_with(b"GET / HTTP/1.1"));
    let stun = foreign
        .iter()
        .any(|d| d.len() == 20 && d[4..8] == [0x21, 0x12, 0xa4, 0x42]);
    let ntp = foreign.iter().any(|d| d.len() == 48 && d[0] == 0x1b);
    assert!(
        dns && http && stun && ntp,
        "dns {dns} http {http} stun {stun} ntp {ntp}"
    );
}

/// Reads datagrams' lengths on `rx` until `want` came or 5 s passed.
fn read_lengths(rx: UdpSocket, want: usize) -> Vec<usize> {
    let mut buf = vec![0u8; 65_536];
    let mut lens = Vec::with_capacity(want);
    let deadline = Instant::now() + PATIENCE;
    while lens.len() < want && Instant::now() < deadline {
        if let Ok((len, _)) = rx.recv_from(&mut buf) {
            lens.push(len);
        }
    }
    lens
}

#[test]
fn test_garbage_sender_reaches_a_plain_socket_v4_and_v6() {
    let mut receivers = vec![client(V4)];
    receivers.extend(client_v6());
    for rx in receivers {
        let to = rx.local_addr().expect("bound");
        let reader = std::thread::spawn(move || read_lengths(rx, 25));
        let sent = garbage_sender(to, 25, 42);
        let got = reader.join().expect("reader");
        assert_eq!(sent.errors, 0, "{to}");
        assert_eq!(sent.datagrams, 25);
        assert_eq!(sent.by_kind, [5; 5]);
        assert_eq!(sent.bytes, sent.lengths.iter().sum::<usize>() as u64);
        assert_eq!(got, sent.lengths, "{to}: every datagram, in order, whole");
    }
}

#[test]
fn test_garbage_to_each_peer_is_counted_never_fatal() {
    let behaviours = [
        Behaviour::Echo,
        Behaviour::DropEvery(3),
        Behaviour::DuplicateEvery(2),
        Behaviour::ReorderEvery(4),
        Behaviour::LateEvery(5, Duration::from_millis(10)),
    ];
    for b in behaviours {
        let peer = UdpPeer::start(V4, b);
        let sent = garbage_sender(peer.addr, 50, 9);
        assert_eq!(sent.datagrams, 50);
        let t = peer.wait_for(PATIENCE, |t| t.received == 50);
        assert_eq!(t.received, 50, "{b:?}: {t:?}");
        assert_eq!(peer.kernel_drops(), Some(0), "{b:?}");
        // The peer still takes numbered datagrams afterwards (and the echo answers).
        let c = client(V4);
        send_numbered(&c, peer.addr, 1, 1);
        if b == Behaviour::Echo {
            assert_eq!(read_burst(&c, 1), vec![1]);
        }
        let t = peer.wait_for(PATIENCE, |t| t.received == 51);
        assert!(t.received == 51 && t.recv_errors == 0, "{b:?}: {t:?}");
    }
}
