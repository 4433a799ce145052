//! The coordination channel over real sockets on 127.0.0.1: a coordinator and its
//! members in threads of this process, with short deadlines.

use loadgen::coord::{
    Collected, Coordinator, Error, Lost, Member, RefuseCode, Settings, StartInfo, Timeouts, Token,
};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

const TOKEN: &str = "a-long-random-token-from-a-secret";
const PLAN: [u8; 32] = [0x42; 32];

fn settings(n: u32, token: Option<&str>) -> Settings {
    let mut s = Settings::new(n, PLAN, token.and_then(Token::new));
    s.wait = Duration::from_secs(3);
    s.timeouts = Timeouts {
        handshake: Duration::from_millis(1500),
        frame: Duration::from_millis(1000),
        silence: Duration::from_secs(3),
        heartbeat: Duration::from_millis(200),
        write: Duration::from_secs(2),
        start: Duration::from_secs(10),
        done: Duration::from_secs(5),
    };
    s
}

fn coordinator(n: u32) -> Coordinator {
    Coordinator::bind("127.0.0.1:0", settings(n, Some(TOKEN))).unwrap()
}

fn addr(c: &Coordinator) -> String {
    c.local_addr().to_string()
}

/// A member that joins, says READY, and returns its start with itself.
fn ready_member(
    addr: String,
    index: u32,
    s: Settings,
) -> JoinHandle<Result<(Member, StartInfo), Error>> {
    thread::spawn(move || {
        let mut m = Member::join(&addr, index, &s)?;
        let start = m.ready()?;
        Ok((m, start))
    })
}

fn result_of(index: u32) -> Vec<u8> {
    format!("{{\"segment\":{index},\"requests\":1000}}").into_bytes()
}

#[test]
fn test_three_members_and_the_coordinator_start_together() {
    let c = coordinator(4);
    let members: Vec<_> = (1..=3)
        .map(|i| ready_member(addr(&c), i, settings(4, Some(TOKEN))))
        .collect();
    c.gather().unwrap();
    let start = c.start(Duration::from_millis(200)).unwrap();
    assert!(start.authenticated);
    assert_eq!(start.clocks.len(), 3);
    for clock in &start.clocks {
        // One host, one clock: the estimate is close to 0 and its bound small.
        assert!(
            clock.estimate.offset_ns.abs() <= clock.skew_bound_ns + 1_000_000,
            "{clock:?}"
        );
        assert!(clock.skew_bound_ns < 50_000_000, "{clock:?}");
    }
    for (i, h) in members.into_iter().enumerate() {
        let (mut m, s) = h.join().unwrap().unwrap();
        assert_eq!(s.run, start.run);
        assert_eq!(s.coordinator_unix_ns, start.unix_ns);
        let apart = if s.at > start.at {
            s.at - start.at
        } else {
            start.at - s.at
        };
        // One process, one clock: the two instants differ by the offset's error
        // (within its bound) and the time between two clock reads.
        let bound = Duration::from_nanos(s.clocks[0].skew_bound_ns as u64);
        assert!(
            apart <= bound + Duration::from_millis(5),
            "member {} starts {apart:?} apart, bound {bound:?}",
            i + 1
        );
        assert!(s.at > Instant::now() - Duration::from_secs(1));
        m.report_started(SystemTime::now()).unwrap();
        m.send_result(result_of(i as u32 + 1)).unwrap();
    }
    let got = c.collect(Duration::from_secs(5));
    assert_eq!(got.len(), 3);
    for Collected {
        index,
        outcome,
        started_skew_ns,
    } in got
    {
        assert_eq!(outcome, Ok(result_of(index)));
        assert!(
            started_skew_ns.is_some_and(|s| s.abs() < 5_000_000_000),
            "{started_skew_ns:?}"
        );
    }
    assert_eq!(c.counters().total(), 0, "{:?}", c.counters());
}

#[test]
fn test_a_wrong_token_is_refused_and_counted() {
    let c = coordinator(2);
    let e = Member::join(&addr(&c), 1, &settings(2, Some("a-guess")))
        .err()
        .unwrap();
    assert!(
        matches!(
            e,
            Error::Refused {
                code: RefuseCode::Token,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "the coordinator refused this segment: wrong token"
    );
    let e = Member::join(&addr(&c), 1, &settings(2, None))
        .err()
        .unwrap();
    assert!(
        matches!(
            e,
            Error::Refused {
                code: RefuseCode::Token,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(c.counters().bad_token, 2);
}

#[test]
fn test_another_plan_is_refused_and_counted() {
    let c = coordinator(2);
    let mut s = settings(2, Some(TOKEN));
    s.plan_hash = [7; 32];
    let e = Member::join(&addr(&c), 1, &s).err().unwrap();
    assert!(
        matches!(
            e,
            Error::Refused {
                code: RefuseCode::Plan,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("another plan"), "{e}");
    assert_eq!(c.counters().wrong_run, 1);
}

#[test]
fn test_a_duplicate_index_is_refused_and_counted() {
    let c = coordinator(3);
    let first = Member::join(&addr(&c), 1, &settings(3, Some(TOKEN))).unwrap();
    let mut s = settings(3, Some(TOKEN));
    s.wait = Duration::from_millis(500);
    let e = Member::join(&addr(&c), 1, &s).err().unwrap();
    assert_eq!(
        e.to_string(),
        "the coordinator refused this segment: segment 1 is already connected"
    );
    assert!(c.counters().duplicate >= 1);
    drop(first);
}

#[test]
fn test_a_restarted_member_takes_its_index_once_the_old_connection_is_gone() {
    let c = coordinator(2);
    let old = Member::join(&addr(&c), 1, &settings(2, Some(TOKEN))).unwrap();
    let again = ready_member(addr(&c), 1, settings(2, Some(TOKEN)));
    thread::sleep(Duration::from_millis(300));
    drop(old);
    c.gather().unwrap();
    c.start(Duration::from_millis(200)).unwrap();
    assert!(again.join().unwrap().is_ok());
    assert!(c.counters().duplicate >= 1);
}

#[test]
fn test_a_member_after_the_start_is_refused_as_late() {
    let c = coordinator(2);
    let m = ready_member(addr(&c), 1, settings(2, Some(TOKEN)));
    c.gather().unwrap();
    c.start(Duration::from_millis(200)).unwrap();
    let (_m, _) = m.join().unwrap().unwrap();
    let e = Member::join(&addr(&c), 1, &settings(2, Some(TOKEN)))
        .err()
        .unwrap();
    assert!(
        matches!(
            e,
            Error::Refused {
                code: RefuseCode::Late,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(c.counters().late, 1);
}

#[test]
fn test_missing_members_are_named_and_the_others_aborted() {
    let mut s = settings(4, Some(TOKEN));
    s.wait = Duration::from_secs(1);
    let c = Coordinator::bind("127.0.0.1:0", s).unwrap();
    let m = ready_member(addr(&c), 1, settings(4, Some(TOKEN)));
    let t = Instant::now();
    let e = c.gather().err().unwrap();
    assert!(t.elapsed() < Duration::from_secs(3));
    assert_eq!(e.to_string(), "segments 2 and 3 never connected within 1s");
    let e = m.join().unwrap().err().unwrap();
    assert_eq!(
        e.to_string(),
        "the coordinator called the run off: segments 2 and 3 never connected within 1s"
    );
    assert!(c.start(Duration::ZERO).is_err(), "no start after the abort");
}

/// Send `bytes` to `addr` at `gap` between bytes; how long until the coordinator closed.
fn dribble(addr: SocketAddr, bytes: Vec<u8>, gap: Duration) -> JoinHandle<Option<Duration>> {
    thread::spawn(move || {
        let t = Instant::now();
        let mut s = TcpStream::connect(addr).ok()?;
        for b in bytes {
            if s.write_all(&[b]).is_err() {
                return Some(t.elapsed());
            }
            thread::sleep(gap);
            if t.elapsed() > Duration::from_secs(8) {
                return None;
            }
        }
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
        Some(t.elapsed())
    })
}

#[test]
fn test_garbage_and_a_slow_peer_are_closed_and_counted_while_a_run_completes() {
    let c = coordinator(2);
    let a = c.local_addr();
    let mut garbage = TcpStream::connect(a).unwrap();
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let slow = dribble(
        a,
        b"rc\x01\x01\x00\x00\x00\x40 a valid HELLO header, then a byte a second".to_vec(),
        Duration::from_secs(1),
    );
    let probe = TcpStream::connect(a).unwrap();
    probe.shutdown(Shutdown::Both).unwrap();
    let m = ready_member(addr(&c), 1, settings(2, Some(TOKEN)));
    c.gather().unwrap();
    c.start(Duration::from_millis(200)).unwrap();
    let (mut m, _) = m.join().unwrap().unwrap();
    m.send_result(result_of(1)).unwrap();
    assert_eq!(
        c.collect(Duration::from_secs(5))[0].outcome,
        Ok(result_of(1))
    );
    let mut sink = Vec::new();
    garbage
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(
        garbage.read_to_end(&mut sink).unwrap_or(0),
        0,
        "closed without an answer"
    );
    let closed = slow.join().unwrap().expect("the slow peer was closed");
    assert!(closed < Duration::from_secs(4), "{closed:?}");
    let n = c.counters();
    assert_eq!((n.garbage, n.slow, n.abandoned), (1, 1, 1), "{n:?}");
}

#[test]
fn test_stop_reaches_the_members_which_still_send_their_results() {
    let c = coordinator(3);
    let members: Vec<_> = (1..=2)
        .map(|i| ready_member(addr(&c), i, settings(3, Some(TOKEN))))
        .collect();
    c.gather().unwrap();
    c.start(Duration::from_millis(200)).unwrap();
    let members: Vec<_> = members
        .into_iter()
        .map(|h| h.join().unwrap().unwrap().0)
        .collect();
    assert!(members
        .iter()
        .all(|m| !m.stop_flag().load(Ordering::SeqCst)));
    c.stop_all();
    for (i, mut m) in members.into_iter().enumerate() {
        let flag = m.stop_flag();
        let t = Instant::now();
        while !flag.load(Ordering::SeqCst) && t.elapsed() < Duration::from_secs(2) {
            thread::sleep(Duration::from_millis(5));
        }
        assert!(
            flag.load(Ordering::SeqCst),
            "member {} heard no STOP",
            i + 1
        );
        assert!(m.coordinator_gone().is_none());
        m.send_result(result_of(i as u32 + 1)).unwrap();
    }
    let got = c.collect(Duration::from_secs(5));
    assert!(got.iter().all(|r| r.outcome.is_ok()), "{got:?}");
}

#[test]
fn test_a_member_lost_mid_run_is_named() {
    let c = coordinator(3);
    let members: Vec<_> = (1..=2)
        .map(|i| ready_member(addr(&c), i, settings(3, Some(TOKEN))))
        .collect();
    c.gather().unwrap();
    c.start(Duration::from_millis(200)).unwrap();
    let mut members: Vec<_> = members
        .into_iter()
        .map(|h| h.join().unwrap().unwrap().0)
        .collect();
    drop(members.pop()); // segment 2 dies: its connection closes
    members[0].send_result(result_of(1)).unwrap();
    let got = c.collect(Duration::from_secs(3));
    assert_eq!(got[0].outcome, Ok(result_of(1)));
    assert_eq!(got[1].index, 2);
    assert!(
        matches!(&got[1].outcome, Err(Lost::Disconnected(_))),
        "{got:?}"
    );
}

#[test]
fn test_a_silent_member_is_named_at_the_collection_deadline() {
    let c = coordinator(2);
    let m = ready_member(addr(&c), 1, settings(2, Some(TOKEN)));
    c.gather().unwrap();
    c.start(Duration::from_millis(200)).unwrap();
    let _m = m.join().unwrap().unwrap();
    let t = Instant::now();
    let got = c.collect(Duration::from_millis(500));
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(got[0].outcome, Err(Lost::Deadline));
}

#[test]
fn test_a_member_notices_the_coordinator_vanish() {
    let c = coordinator(2);
    let m = ready_member(addr(&c), 1, settings(2, Some(TOKEN)));
    c.gather().unwrap();
    c.start(Duration::from_millis(200)).unwrap();
    let (mut m, _) = m.join().unwrap().unwrap();
    drop(c);
    let flag = m.stop_flag();
    let t = Instant::now();
    while !flag.load(Ordering::SeqCst) && t.elapsed() < Duration::from_secs(5) {
        thread::sleep(Duration::from_millis(10));
    }
    assert!(m.coordinator_gone().is_some());
    let e = m.send_result(result_of(1)).err().unwrap();
    assert!(matches!(e, Error::CoordinatorGone(_)), "{e}");
}

#[test]
fn test_a_member_retries_until_the_coordinator_listens() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let a = format!("127.0.0.1:{port}");
    let m = ready_member(a.clone(), 1, settings(2, Some(TOKEN)));
    thread::sleep(Duration::from_millis(400));
    let c = Coordinator::bind(a.as_str(), settings(2, Some(TOKEN))).unwrap();
    c.gather().unwrap();
    c.start(Duration::from_millis(200)).unwrap();
    assert!(m.join().unwrap().is_ok());
}

#[test]
fn test_an_unreachable_coordinator_is_an_error_at_the_deadline() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut s = settings(2, None);
    s.wait = Duration::from_millis(600);
    let t = Instant::now();
    let e = Member::join(&format!("127.0.0.1:{port}"), 1, &s)
        .err()
        .unwrap();
    assert!(t.elapsed() < Duration::from_secs(2));
    assert!(
        e.to_string().starts_with(&format!(
            "the coordinator at 127.0.0.1:{port} could not be reached within 0.6s"
        )),
        "{e}"
    );
}

#[test]
fn test_without_tokens_the_run_is_unauthenticated() {
    let c = Coordinator::bind("127.0.0.1:0", settings(2, None)).unwrap();
    assert!(!c.authenticated());
    let m = ready_member(addr(&c), 1, settings(2, None));
    c.gather().unwrap();
    assert!(!c.start(Duration::from_millis(200)).unwrap().authenticated);
    let (m, s) = m.join().unwrap().unwrap();
    assert!(!m.authenticated() && !s.authenticated);
}

/// A proxy from a fresh port to `to` that records every byte both ways.
fn recording_proxy(to: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<u8>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let at = l.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rec = seen.clone();
    thread::spawn(move || {
        let Ok((client, _)) = l.accept() else { return };
        let server = TcpStream::connect(to).unwrap();
        let pipes = [
            (client.try_clone().unwrap(), server.try_clone().unwrap()),
            (server, client),
        ];
        for (mut from, mut into) in pipes {
            let rec = rec.clone();
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = from.read(&mut buf) {
                    if n == 0 || into.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    rec.lock().unwrap().extend_from_slice(&buf[..n]);
                }
                let _ = into.shutdown(Shutdown::Write);
            });
        }
    });
    (at, seen)
}

#[test]
fn test_the_token_never_appears_on_the_wire() {
    let c = coordinator(2);
    let (proxy, seen) = recording_proxy(c.local_addr());
    let m = ready_member(proxy.to_string(), 1, settings(2, Some(TOKEN)));
    c.gather().unwrap();
    c.start(Duration::from_millis(200)).unwrap();
    let (mut m, _) = m.join().unwrap().unwrap();
    m.report_started(SystemTime::now()).unwrap();
    m.send_result(result_of(1)).unwrap();
    assert!(c.collect(Duration::from_secs(5))[0].outcome.is_ok());
    let wire = seen.lock().unwrap().clone();
    assert!(wire.len() > 300, "{} bytes recorded", wire.len());
    let tok = TOKEN.as_bytes();
    assert!(!wire.windows(tok.len()).any(|w| w == tok));
    assert!(
        !tok.windows(6).any(|t| wire.windows(6).any(|w| w == t)),
        "a piece of the token"
    );
}

#[test]
fn test_a_member_not_yet_ready_learns_of_the_abort() {
    let mut s = settings(3, Some(TOKEN));
    s.wait = Duration::from_secs(1);
    let c = Coordinator::bind("127.0.0.1:0", s).unwrap();
    let mut m = Member::join(&addr(&c), 1, &settings(3, Some(TOKEN))).unwrap();
    let e = c.gather().err().unwrap();
    assert_eq!(
        e.to_string(),
        "segment 2 never connected and segment 1 not ready within 1s"
    );
    thread::sleep(Duration::from_millis(300));
    let e = m.ready().err().unwrap();
    assert!(matches!(e, Error::Aborted(_)), "{e}");
}

#[test]
fn test_a_member_that_fails_before_the_start_fails_the_gather() {
    let c = coordinator(3);
    let m = Member::join(&addr(&c), 2, &settings(3, Some(TOKEN))).unwrap();
    m.fail("its connections would not open: EMFILE");
    let e = c.gather().err().unwrap();
    assert_eq!(
        e.to_string(),
        "segment 2 failed: its connections would not open: EMFILE"
    );
}

#[test]
fn test_a_busy_coordinator_is_retried_until_it_has_room() {
    let mut s = settings(2, Some(TOKEN));
    s.max_handshakes = 1;
    let c = Coordinator::bind("127.0.0.1:0", s).unwrap();
    let _squatter = TcpStream::connect(c.local_addr()).unwrap();
    thread::sleep(Duration::from_millis(100));
    let m = ready_member(addr(&c), 1, settings(2, Some(TOKEN)));
    c.gather().unwrap();
    c.start(Duration::from_millis(200)).unwrap();
    assert!(m.join().unwrap().is_ok());
    let n = c.counters();
    assert!(n.busy >= 1 && n.slow == 1, "{n:?}");
}
