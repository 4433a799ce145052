//! loadgen's DNS codec (`loadgen::dns`) against a real DNS server it did not write:
//! Debian's dnsmasq, started here on a free loopback port (`common/dnsmasq.rs`), and
//! against a tiny server of the test's own that answers a batch in reverse order.
//!
//! With plain std sockets and the codec: NOERROR for a name dnsmasq serves and
//! NXDOMAIN for one it does not, over UDP and over TCP (length-prefixed, queries
//! pipelined on one connection); a reply too big for 512 bytes comes back over UDP
//! with TC set without EDNS, whole with `--edns 4096`, and whole over TCP; many
//! queries in flight at once on one socket, each reply matched to its query by ID;
//! and a server that answers a batch last first, every reply still matched.
//!
//! Traffic stays on 127.0.0.1. dnsmasq is killed and waited on by its guard; the
//! reverse-order server's thread is joined. Without dnsmasq its tests skip and say
//! so, unless READYLOOP_REQUIRE_TOOLS=1.

#[path = "common/dnsmasq.rs"]
mod dnsmasq;

use dnsmasq::{have_dnsmasq, Dnsmasq};
use loadgen::dns::framing::{frame_into, Splitter, MAX_MESSAGE};
use loadgen::dns::header::{peek_id, Header};
use loadgen::dns::ids::InFlight;
use loadgen::dns::name::Name;
use loadgen::dns::qtype::QType;
use loadgen::dns::query::{encode_query, Edns, QueryOptions, Question};
use loadgen::dns::rcode::Rcode;
use loadgen::dns::reply::{decode_reply, Reply};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// How long any one reply may take.
const WAIT: Duration = Duration::from_secs(5);

/// The address dnsmasq serves for `a.test`.
const A_TEST: [u8; 4] = [10, 1, 2, 3];

/// dnsmasq's records: `a.test` A, and `big.test` TXT of four 250-byte strings (a
/// reply of about 1,050 bytes: over 512, under dnsmasq's EDNS maximum).
fn records() -> Vec<String> {
    let strings: Vec<String> = (b'a'..=b'd')
        .map(|c| String::from(char::from(c)).repeat(250))
        .collect();
    vec![
        "--host-record=a.test,10.1.2.3".to_string(),
        format!("--txt-record=big.test,{}", strings.join(",")),
    ]
}

fn name(text: &str) -> Name {
    Name::from_text(text).unwrap()
}

fn query(id: u16, q: &Question<'_>, opts: &QueryOptions) -> Vec<u8> {
    let mut out = Vec::new();
    encode_query(&mut out, id, q, opts);
    out
}

/// dnsmasq, ready; `None` (and a note) when it is not installed.
fn dnsmasq(tag: &str) -> Option<Dnsmasq> {
    if !have_dnsmasq() {
        return None;
    }
    let a = name("a.test");
    let probe = query(1, &Question::new(&a, QType::A), &QueryOptions::default());
    Some(Dnsmasq::start(tag, &records(), &probe))
}

/// A seed for IDs that differs from run to run.
fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    t.as_nanos() as u64 ^ u64::from(std::process::id()) << 32
}

/// A UDP socket on loopback, connected to `to`.
fn udp_to(to: SocketAddr) -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.connect(to).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s
}

/// Asks `q` over UDP; the reply's bytes and decoding.
fn ask_udp(to: SocketAddr, q: &Question<'_>, opts: &QueryOptions) -> (Vec<u8>, Reply) {
    let s = udp_to(to);
    let id = (seed() >> 7) as u16;
    s.send(&query(id, q, opts)).unwrap();
    let mut buf = vec![0u8; 65536];
    let n = s
        .recv(&mut buf)
        .unwrap_or_else(|e| panic!("no reply to {q}: {e}"));
    buf.truncate(n);
    let r = decode_reply(&buf, id, q).unwrap_or_else(|e| panic!("reply to {q}: {e}"));
    (buf, r)
}

/// Asks every question over one TCP connection, all written before any reply is
/// read; the replies' bytes and decodings, in the questions' order (matched by ID).
fn ask_tcp(to: SocketAddr, qs: &[Question<'_>], opts: &QueryOptions) -> Vec<(Vec<u8>, Reply)> {
    let mut conn = TcpStream::connect(to).unwrap();
    conn.set_read_timeout(Some(WAIT)).unwrap();
    let mut flight = InFlight::new(qs.len(), seed());
    let now = Instant::now();
    let mut out = Vec::new();
    for (i, q) in qs.iter().enumerate() {
        let id = flight.insert(i, now, now).unwrap();
        frame_into(&mut out, &query(id, q, opts)).unwrap();
    }
    conn.write_all(&out).unwrap();
    let mut got: Vec<Option<(Vec<u8>, Reply)>> = vec![None; qs.len()];
    let mut split = Splitter::new(MAX_MESSAGE);
    let mut buf = [0u8; 4096];
    while !flight.is_empty() {
        let n = conn.read(&mut buf).unwrap();
        assert!(n > 0, "dnsmasq closed the connection early");
        split.push(&buf[..n]);
        while let Some(msg) = split.next_message().unwrap() {
            let sent = flight
                .take(peek_id(msg).unwrap())
                .expect("a reply to no query");
            let r = decode_reply(msg, sent.id, &qs[sent.query]).unwrap();
            got[sent.query] = Some((msg.to_vec(), r));
        }
    }
    got.into_iter().map(Option::unwrap).collect()
}

/// Whether `msg` holds these bytes somewhere (an A record's address).
fn holds(msg: &[u8], bytes: &[u8]) -> bool {
    msg.windows(bytes.len()).any(|w| w == bytes)
}

#[test]
fn noerror_and_nxdomain_over_udp() {
    let Some(d) = dnsmasq("udp") else { return };
    let (a, nope) = (name("A.Test"), name("nope.test."));
    let (msg, r) = ask_udp(
        d.addr,
        &Question::new(&a, QType::A),
        &QueryOptions::default(),
    );
    assert_eq!(r.rcode, Rcode::NOERROR, "{}", d.logs());
    assert!(r.question_echoed && !r.header.tc && r.header.aa);
    assert_eq!(r.header.ancount, 1);
    assert!(holds(&msg, &A_TEST));
    let (_, r) = ask_udp(
        d.addr,
        &Question::new(&nope, QType::A),
        &QueryOptions::default(),
    );
    assert_eq!(r.rcode, Rcode::NXDOMAIN);
    assert_eq!(r.rcode.to_string(), "NXDOMAIN");
    assert_eq!(r.header.ancount, 0);
}

#[test]
fn noerror_and_nxdomain_over_tcp() {
    let Some(d) = dnsmasq("tcp") else { return };
    let (a, nope) = (name("a.test"), name("nope.test"));
    let qs = [
        Question::new(&a, QType::A),
        Question::new(&nope, QType::A),
        Question::new(&a, QType::A),
        Question::new(&nope, QType::MX),
    ];
    let got = ask_tcp(d.addr, &qs, &QueryOptions::default());
    let rcodes: Vec<Rcode> = got.iter().map(|(_, r)| r.rcode).collect();
    assert_eq!(
        rcodes,
        [
            Rcode::NOERROR,
            Rcode::NXDOMAIN,
            Rcode::NOERROR,
            Rcode::NXDOMAIN
        ]
    );
    assert!(holds(&got[0].0, &A_TEST) && holds(&got[2].0, &A_TEST));
}

#[test]
fn too_big_for_512_is_truncated_over_udp_whole_with_edns_and_over_tcp() {
    let Some(d) = dnsmasq("tc") else { return };
    let big = name("big.test");
    let q = Question::new(&big, QType::TXT);
    let plain = QueryOptions::default();
    let (msg, r) = ask_udp(d.addr, &q, &plain);
    assert!(r.header.tc, "TC not set on a {}-byte reply", msg.len());
    assert!(msg.len() <= 512);
    assert!(r.edns.is_none());

    let edns = QueryOptions {
        edns: Some(Edns {
            udp_size: 4096,
            dnssec_ok: false,
        }),
        ..plain
    };
    let (msg, r) = ask_udp(d.addr, &q, &edns);
    assert!(!r.header.tc && !r.cut);
    assert!(msg.len() > 1000, "{} bytes", msg.len());
    assert_eq!(r.rcode, Rcode::NOERROR);
    assert!(r.edns.is_some(), "dnsmasq answers EDNS with EDNS");
    assert!(holds(&msg, &[b'd'; 250]));

    let got = ask_tcp(d.addr, &[q], &plain);
    let (msg, r) = &got[0];
    assert!(!r.header.tc && msg.len() > 1000);
    assert!(holds(msg, &[b'a'; 250]) && holds(msg, &[b'd'; 250]));
}

#[test]
fn dnssec_ok_and_edns_size_are_sent() {
    let Some(d) = dnsmasq("do") else { return };
    let a = name("a.test");
    let opts = QueryOptions {
        edns: Some(Edns {
            udp_size: 1232,
            dnssec_ok: true,
        }),
        ..QueryOptions::default()
    };
    let (_, r) = ask_udp(d.addr, &Question::new(&a, QType::A), &opts);
    assert_eq!(r.rcode, Rcode::NOERROR);
    let e = r.edns.expect("an OPT record in the reply");
    assert_eq!((e.version, e.ext_rcode), (0, 0));
    assert!(e.udp_size >= 512);
}

#[test]
fn many_in_flight_on_one_socket_matched_by_id() {
    let Some(d) = dnsmasq("inflight") else { return };
    let (a, nope, big) = (name("a.test"), name("nope.test"), name("big.test"));
    let kinds = [
        (Question::new(&a, QType::A), Rcode::NOERROR),
        (Question::new(&nope, QType::A), Rcode::NXDOMAIN),
        (Question::new(&a, QType::AAAA), Rcode::NOERROR),
        (Question::new(&big, QType::TXT), Rcode::NOERROR),
    ];
    // 200 queries, 32 in flight at a time (a burst of all 200 could overflow a
    // small receive buffer, which is not what this tests).
    let (n, window) = (200, 32);
    let s = udp_to(d.addr);
    let mut flight = InFlight::new(window, seed());
    let now = Instant::now();
    let mut next = 0;
    let mut buf = vec![0u8; 65536];
    let (mut tc, mut most) = (0, 0);
    while next < n || !flight.is_empty() {
        while next < n && !flight.is_full() {
            let id = flight.insert(next, now, now).unwrap();
            let q = &kinds[next % kinds.len()].0;
            s.send(&query(id, q, &QueryOptions::default())).unwrap();
            next += 1;
        }
        most = most.max(flight.len());
        let len = s
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("{} replies missing: {e}; {}", flight.len(), d.logs()));
        let msg = &buf[..len];
        let sent = flight
            .take(peek_id(msg).unwrap())
            .expect("a reply to no query");
        let (q, want) = &kinds[sent.query % kinds.len()];
        let r = decode_reply(msg, sent.id, q).unwrap();
        assert_eq!(r.rcode, *want, "{q}");
        tc += usize::from(r.header.tc);
    }
    assert_eq!(most, window);
    assert_eq!(
        tc,
        n / kinds.len(),
        "every big.test reply, and only those, truncated"
    );
}

/// A server of the test's own: reads `n` queries, then answers them last first
/// (NOERROR, no records: the query with QR and RA set).
fn reverse_server(n: usize) -> (SocketAddr, std::thread::JoinHandle<()>) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let addr = s.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        let mut batch = Vec::new();
        let mut buf = [0u8; 512];
        while batch.len() < n {
            let (len, from) = s.recv_from(&mut buf).unwrap();
            batch.push((buf[..len].to_vec(), from));
        }
        for (mut msg, from) in batch.into_iter().rev() {
            let mut h = Header::parse(&msg).unwrap();
            h.qr = true;
            h.ra = true;
            msg[..12].copy_from_slice(&h.to_bytes());
            s.send_to(&msg, from).unwrap();
        }
    });
    (addr, t)
}

#[test]
fn replies_in_reverse_order_all_matched() {
    let n = 64;
    let (addr, server) = reverse_server(n);
    let names: Vec<Name> = (0..n).map(|i| name(&format!("q{i}.example"))).collect();
    let s = udp_to(addr);
    let mut flight = InFlight::new(n, seed());
    let now = Instant::now();
    let mut sent_ids = Vec::new();
    for (i, nm) in names.iter().enumerate() {
        let id = flight.insert(i, now, now).unwrap();
        sent_ids.push(id);
        s.send(&query(
            id,
            &Question::new(nm, QType::A),
            &QueryOptions::default(),
        ))
        .unwrap();
    }
    let mut buf = [0u8; 512];
    let mut order = Vec::new();
    while order.len() < n {
        let len = s.recv(&mut buf).unwrap();
        let msg = &buf[..len];
        let sent = flight
            .take(peek_id(msg).unwrap())
            .expect("a reply to no query");
        let r = decode_reply(msg, sent.id, &Question::new(&names[sent.query], QType::A)).unwrap();
        assert_eq!(r.rcode, Rcode::NOERROR);
        order.push(sent.query);
    }
    server.join().unwrap();
    assert!(flight.is_empty());
    assert_eq!(
        order,
        (0..n).rev().collect::<Vec<_>>(),
        "the server answered last first"
    );
    // The IDs were not sequential.
    let steps = sent_ids
        .windows(2)
        .filter(|w| w[1] == w[0].wrapping_add(1))
        .count();
    assert!(steps < n / 4, "{sent_ids:?}");
    // A reply matched to another query's question is refused.
    let mut msg = query(
        sent_ids[0],
        &Question::new(&names[0], QType::A),
        &QueryOptions::default(),
    );
    msg[2] |= 0x80;
    let other = Question::new(&names[1], QType::A);
    assert!(decode_reply(&msg, sent_ids[0], &other).is_err());
}

/// The replies the `dns_reply` fuzz target's seeds were captured from (`fuzz/seeds.py`;
/// `cargo test -p loadgen --test dns_codec -- --nocapture capture_seed_replies` prints
/// them as hex), each what its name says: NOERROR, NXDOMAIN with EDNS, TC without EDNS,
/// whole with it, NODATA.
#[test]
fn capture_seed_replies() {
    let Some(d) = dnsmasq("seeds") else { return };
    let (a, nope, big) = (name("a.test"), name("nope.test"), name("big.test"));
    let edns = QueryOptions {
        edns: Some(Edns {
            udp_size: 4096,
            dnssec_ok: true,
        }),
        ..QueryOptions::default()
    };
    let plain = QueryOptions::default();
    for (tag, q, opts, rcode, tc) in [
        (
            "a_noerror",
            Question::new(&a, QType::A),
            plain,
            "NOERROR",
            false,
        ),
        (
            "nope_nxdomain_edns",
            Question::new(&nope, QType::A),
            edns,
            "NXDOMAIN",
            false,
        ),
        (
            "big_tc",
            Question::new(&big, QType::TXT),
            plain,
            "NOERROR",
            true,
        ),
        (
            "big_edns",
            Question::new(&big, QType::TXT),
            edns,
            "NOERROR",
            false,
        ),
        (
            "a_aaaa_nodata",
            Question::new(&a, QType::AAAA),
            plain,
            "NOERROR",
            false,
        ),
    ] {
        let (msg, reply) = ask_udp(d.addr, &q, &opts);
        assert_eq!(
            (reply.rcode.to_string().as_str(), reply.header.tc),
            (rcode, tc),
            "{tag}"
        );
        let hex: String = msg.iter().map(|b| format!("{b:02x}")).collect();
        println!("{tag} {} {} {hex}", q.qtype().0, q);
    }
}
