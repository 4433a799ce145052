//! UDP sockets in the reactor (issue 19, item 1): served beside TCP in the same turn,
//! drained in batches within a budget, replies sent in batches, every bound counted.
//! Loopback only; every loop bounded.

use readyloop::protocol::{Cx, Echo, Protocol, Step};
use readyloop::udp::{Datagram, Datagrams, DgCx, Outbox, UdpOptions};
use readyloop::{Config, ListenOptions, Reactor, ServeWith};
use std::io::{Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

fn reactor() -> Reactor<Echo> {
    Reactor::new(Config::default()).unwrap()
}

/// Turn until `done` or a few seconds pass.
fn turn_until(r: &mut Reactor<Echo>, mut done: impl FnMut(&mut Reactor<Echo>) -> bool) {
    let mut host = ServeWith(Echo::default);
    let until = Instant::now() + Duration::from_secs(5);
    while !done(r) {
        assert!(Instant::now() < until, "timed out");
        r.turn(&mut host, Some(Duration::from_millis(5))).unwrap();
    }
}

fn client(to: SocketAddr) -> UdpSocket {
    let bind = if to.is_ipv6() {
        "[::1]:0"
    } else {
        "127.0.0.1:0"
    };
    let c = UdpSocket::bind(bind).unwrap();
    c.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
    c
}

/// 10,000 datagrams echoed, each exactly once, over IPv4 and IPv6: a client sends
/// a window of 64 at a time and reads their echoes back while the reactor turns.
#[test]
fn test_ten_thousand_datagrams_are_echoed_over_ipv4_and_ipv6() {
    for bind in ["127.0.0.1:0", "[::1]:0"] {
        let mut r = reactor();
        let id = r
            .bind_udp(
                bind.parse().unwrap(),
                &UdpOptions::default(),
                Box::new(Echo),
            )
            .unwrap();
        let to = r.udp_local_addr(id).unwrap();
        let c = client(to);
        let mut seen = vec![false; 10_000];
        let (mut next, mut got) = (0u32, 0usize);
        let mut buf = [0u8; 64];
        turn_until(&mut r, |_| {
            while next < 10_000 && (next as usize) < got + 64 {
                c.send_to(&next.to_be_bytes(), to).unwrap();
                next += 1;
            }
            while let Ok((n, from)) = c.recv_from(&mut buf) {
                assert_eq!((n, from), (4, to));
                let k = u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize;
                assert!(!seen[k], "datagram {k} twice");
                seen[k] = true;
                got += 1;
            }
            got == 10_000
        });
        let s = r.udp_stats(id).unwrap();
        assert_eq!((s.datagrams_in, s.datagrams_out), (10_000, 10_000));
        assert_eq!((s.bytes_in, s.bytes_out), (40_000, 40_000));
        assert_eq!((s.truncated, s.send_queue_drops, s.send_errors), (0, 0, 0));
    }
}

/// A socket flooded past its budget is served in slices: one turn reads at most the
/// budget, and a TCP connection of the same reactor is answered in that same turn.
#[test]
fn test_a_flooded_socket_yields_to_tcp_after_its_budget() {
    let mut r = reactor();
    let opts = UdpOptions {
        budget: 100,
        batch: 10,
        rcvbuf: Some(1 << 20),
        ..UdpOptions::default()
    };
    let id = r
        .bind_udp("127.0.0.1:0".parse().unwrap(), &opts, Box::new(Echo))
        .unwrap();
    let to = r.udp_local_addr(id).unwrap();
    let lid = r
        .listen("127.0.0.1:0".parse().unwrap(), &ListenOptions::default())
        .unwrap();
    let tcp_addr = r.local_addr(lid).unwrap();
    let mut tcp = std::net::TcpStream::connect(tcp_addr).unwrap();
    let mut host = ServeWith(Echo::default);
    // Accept the TCP connection first.
    for _ in 0..20 {
        r.turn(&mut host, Some(Duration::from_millis(5))).unwrap();
    }
    let c = client(to);
    for i in 0..1000u32 {
        c.send_to(&i.to_be_bytes(), to).unwrap();
    }
    tcp.write_all(b"tcp").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    r.turn(&mut host, Some(Duration::from_millis(5))).unwrap();
    let after_one = r.udp_stats(id).unwrap().datagrams_in;
    assert_eq!(after_one, 100, "one turn reads the budget, no more");
    tcp.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut buf = [0u8; 3];
    tcp.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"tcp", "TCP answered in the same turn");
    // The rest in the next slices, without waiting for a new event.
    turn_until(&mut r, |r| r.udp_stats(id).unwrap().datagrams_in == 1000);
}

/// A datagram longer than `max_datagram` is cut and counted; one too large to send
/// is a counted error, not a failure of the socket.
#[test]
fn test_truncated_and_unsendable_datagrams_are_counted() {
    let mut r = reactor();
    let opts = UdpOptions {
        max_datagram: 100,
        ..UdpOptions::default()
    };
    let id = r
        .bind_udp("127.0.0.1:0".parse().unwrap(), &opts, Box::new(Echo))
        .unwrap();
    let to = r.udp_local_addr(id).unwrap();
    let c = client(to);
    c.send_to(&[7u8; 300], to).unwrap();
    let mut buf = [0u8; 512];
    let mut echoed = 0;
    turn_until(&mut r, |_| {
        if let Ok((n, _)) = c.recv_from(&mut buf) {
            echoed = n;
        }
        echoed > 0
    });
    assert_eq!(echoed, 100);
    assert_eq!(r.udp_stats(id).unwrap().truncated, 1);
    // Over IPv4's largest datagram: EMSGSIZE, counted.
    assert!(!r.send_to(id, c.local_addr().unwrap(), &vec![0u8; 70_000]));
    let s = r.udp_stats(id).unwrap();
    assert_eq!(s.send_errors, 1);
    assert_eq!(s.last_errno, Some(libc_emsgsize()));
    // And the socket goes on.
    assert!(r.send_to(id, c.local_addr().unwrap(), b"still here"));
}

fn libc_emsgsize() -> i32 {
    90 // EMSGSIZE on Linux
}

/// A service of the host's own: it shares the protocols' context, replies to another
/// peer than the sender, and is reached again by its type.
#[test]
fn test_a_service_shares_the_context_and_is_reached_by_type() {
    struct Count;
    impl Protocol for Count {
        type Context = u64;
        fn on_input(&mut self, i: &[u8], _: &mut Vec<u8>, _: usize, _: &mut Cx<u64>) -> Step {
            Step::cont(i.len())
        }
    }
    /// Forwards every datagram to `to`, counting them in itself and in the context.
    struct Forward {
        to: SocketAddr,
        n: u32,
    }
    impl Datagrams<u64> for Forward {
        fn on_datagram(&mut self, dg: Datagram<'_>, out: &mut Outbox, cx: &mut DgCx<'_, u64>) {
            self.n += 1;
            *cx.ctx += dg.data.len() as u64;
            out.send(self.to, dg.data);
        }
    }
    let mut r: Reactor<Count> = Reactor::with_context(Config::default(), 0).unwrap();
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    sink.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let fwd = Forward {
        to: sink.local_addr().unwrap(),
        n: 0,
    };
    let id = r
        .bind_udp(
            "127.0.0.1:0".parse().unwrap(),
            &UdpOptions::default(),
            Box::new(fwd),
        )
        .unwrap();
    let to = r.udp_local_addr(id).unwrap();
    let c = client(to);
    c.send_to(b"abc", to).unwrap();
    let mut host = ServeWith(|| Count);
    let until = Instant::now() + Duration::from_secs(5);
    while r.udp_service::<Forward>(id).map(|f| f.n) != Some(1) {
        assert!(Instant::now() < until);
        r.turn(&mut host, Some(Duration::from_millis(5))).unwrap();
    }
    let mut buf = [0u8; 8];
    let (n, from) = sink.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"abc"[..], to));
    assert_eq!(*r.context(), 3);
    assert!(r.udp_service::<Echo>(id).is_none(), "another type: none");
    r.udp_service_mut::<Forward>(id).unwrap().n = 10;
    assert!(r.close_udp(id).is_some());
    assert!(r.udp_stats(id).is_none() && r.close_udp(id).is_none());
}
