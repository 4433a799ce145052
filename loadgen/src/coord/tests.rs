//! Both state machines against each other, sans I/O: the handshake and its refusals,
//! the clock estimate against a fake offset, the bounds, and what travels on the wire.

use super::auth::Token;
use super::clock::Clock;
use super::coordinator_side::{self as cs, CoordinatorSide, Terms};
use super::link::Outbox;
use super::member_side::{self as ms, MemberSide, MemberTerms};
use super::wire::{encode, Msg, RefuseCode, WireError};
use super::PINGS;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "correct horse battery staple";
const PLAN: [u8; 32] = [0xab; 32];
const NONCE: [u8; 16] = [0x5a; 16];
/// The member's clock is ahead of the coordinator's by 1.5 s.
const MEMBER_AHEAD: i64 = 1_500_000_000;

/// One true time for both sides, in ns.
struct World {
    now: AtomicI64,
    base: Instant,
}

/// A side's view of the world: its clock is off by `offset`.
struct View<'a> {
    world: &'a World,
    offset: i64,
}

impl Clock for View<'_> {
    fn mono(&self) -> Instant {
        self.world.base + Duration::from_nanos(self.world.now.load(Ordering::SeqCst) as u64)
    }

    fn unix_ns(&self) -> i64 {
        1_700_000_000_000_000_000 + self.world.now.load(Ordering::SeqCst) + self.offset
    }
}

impl World {
    fn new() -> World {
        World {
            now: AtomicI64::new(0),
            base: Instant::now(),
        }
    }

    fn advance(&self, ns: i64) {
        self.now.fetch_add(ns, Ordering::SeqCst);
    }

    fn coordinator(&self) -> View<'_> {
        View {
            world: self,
            offset: 0,
        }
    }

    fn member(&self) -> View<'_> {
        View {
            world: self,
            offset: MEMBER_AHEAD,
        }
    }
}

fn terms(token: Option<&str>) -> Arc<Terms> {
    Arc::new(Terms {
        segments: 3,
        plan_hash: PLAN,
        version: "0.1.0".into(),
        token: token.and_then(Token::new),
        nonce: NONCE,
        pings: PINGS,
        max_result: 1 << 20,
    })
}

fn member_terms(token: Option<&str>) -> MemberTerms {
    MemberTerms {
        index: 1,
        segments: 3,
        plan_hash: PLAN,
        version: "0.1.0".into(),
        token: token.and_then(Token::new),
    }
}

/// A coordinator's and a member's end, and every byte either sent.
struct Pair<'w> {
    world: &'w World,
    c: CoordinatorSide,
    m: MemberSide,
    wire: Vec<u8>,
    /// One-way transit, coordinator to member and back, ns.
    there: i64,
    back: i64,
}

#[derive(Debug, Default)]
struct Seen {
    c: Vec<cs::Event>,
    m: Vec<ms::Event>,
    c_fault: Option<cs::Fault>,
    m_fault: Option<ms::Fault>,
}

impl<'w> Pair<'w> {
    fn new(world: &'w World, c_token: Option<&str>, m: MemberTerms) -> Pair<'w> {
        Pair {
            world,
            c: CoordinatorSide::new(terms(c_token), [1; 32], &world.coordinator()),
            m: MemberSide::new(m, [2; 32], &world.member()),
            wire: Vec::new(),
            there: 3_000_000,
            back: 1_000_000,
        }
    }

    /// Deliver everything queued, both ways, until both sides are quiet; the
    /// coordinator admits whoever authenticates.
    fn run(&mut self) -> Seen {
        let mut seen = Seen::default();
        for _ in 0..100 {
            let to_m: Vec<u8> = self.c.take_outbox().iter().flat_map(encode).collect();
            let to_c: Vec<u8> = self.m.take_outbox().iter().flat_map(encode).collect();
            if to_m.is_empty() && to_c.is_empty() {
                break;
            }
            self.wire.extend_from_slice(&to_m);
            self.wire.extend_from_slice(&to_c);
            if !to_m.is_empty() && seen.m_fault.is_none() {
                self.world.advance(self.there);
                match self.m.feed(&to_m, &self.world.member()) {
                    Ok(ev) => seen.m.extend(ev),
                    Err(f) => seen.m_fault = Some(f),
                }
            }
            if !to_c.is_empty() && seen.c_fault.is_none() {
                self.world.advance(self.back);
                match self.c.feed(&to_c, &self.world.coordinator()) {
                    Ok(ev) => {
                        for e in ev {
                            if matches!(e, cs::Event::Authenticated { .. }) {
                                self.c.admit();
                            }
                            seen.c.push(e);
                        }
                    }
                    Err(f) => seen.c_fault = Some(f),
                }
            }
        }
        seen
    }
}

#[test]
fn test_a_full_run_between_the_two_machines() {
    let world = World::new();
    let mut p = Pair::new(&world, Some(TOKEN), member_terms(Some(TOKEN)));
    let seen = p.run();
    assert_eq!(seen.c, vec![cs::Event::Authenticated { index: 1 }]);
    assert_eq!(
        seen.m,
        vec![ms::Event::Welcomed {
            nonce: NONCE,
            authenticated: true
        }]
    );
    assert!(p.m.ready());
    let seen = p.run();
    let [cs::Event::Synced(est)] = seen.c[..] else {
        panic!("{seen:?}")
    };
    assert!(p.c.start(1_700_000_010_000_000_000));
    let seen = p.run();
    let [ms::Event::Start(plan)] = seen.m[..] else {
        panic!("{seen:?}")
    };
    assert_eq!(plan.offset_ns, est.offset_ns);
    p.c.stop();
    assert!(p.m.started(world.member().unix_ns()));
    let seen = p.run();
    assert_eq!(seen.m, vec![ms::Event::Stop]);
    assert!(matches!(seen.c[..], [cs::Event::Started(_)]));
    assert!(p.m.result(b"{\"requests\":10}".to_vec()));
    let seen = p.run();
    assert_eq!(seen.m, vec![ms::Event::Done]);
    assert!(matches!(&seen.c[..], [cs::Event::Result(r)] if r == b"{\"requests\":10}"));
    assert!(p.m.is_over());
}

#[test]
fn test_the_offset_estimate_holds_an_injected_offset_within_its_bound() {
    for (there, back) in [(3_000_000, 1_000_000), (50_000, 50_000), (200, 9_000_000)] {
        let world = World::new();
        let mut p = Pair::new(&world, None, member_terms(None));
        p.there = there;
        p.back = back;
        p.run();
        p.m.ready();
        let seen = p.run();
        let [cs::Event::Synced(est)] = seen.c[..] else {
            panic!("{seen:?}")
        };
        assert_eq!(est.delay_ns, there + back);
        let error = (est.offset_ns - MEMBER_AHEAD).abs();
        assert!(error <= est.bound_ns(), "{est:?}: off by {error}");
        assert_eq!(error, (there - back).abs() / 2);
    }
}

#[test]
fn test_the_token_never_travels_in_any_byte() {
    let world = World::new();
    let mut p = Pair::new(&world, Some(TOKEN), member_terms(Some(TOKEN)));
    p.run();
    p.m.ready();
    p.run();
    p.c.start(0);
    p.run();
    p.m.started(1);
    p.m.result(b"result".to_vec());
    p.run();
    assert!(p.m.is_over());
    let tok = TOKEN.as_bytes();
    assert!(p.wire.len() > 200);
    assert!(!p.wire.windows(tok.len()).any(|w| w == tok));
    // Nor any 8 bytes of it.
    assert!(!tok.windows(8).any(|t| p.wire.windows(8).any(|w| w == t)));
}

#[test]
fn test_a_wrong_token_is_refused() {
    let world = World::new();
    let mut p = Pair::new(&world, Some(TOKEN), member_terms(Some("guess")));
    let seen = p.run();
    assert_eq!(seen.c, vec![cs::Event::Refused(RefuseCode::Token)]);
    assert!(
        matches!(&seen.m[..], [ms::Event::Refused(RefuseCode::Token, r)] if r == "wrong token")
    );
}

#[test]
fn test_a_token_on_one_side_only_is_refused() {
    for (c, m) in [(Some(TOKEN), None), (None, Some(TOKEN))] {
        let world = World::new();
        let seen = Pair::new(&world, c, member_terms(m)).run();
        assert_eq!(
            seen.c,
            vec![cs::Event::Refused(RefuseCode::Token)],
            "{c:?} {m:?}"
        );
    }
}

#[test]
fn test_no_token_on_both_sides_is_admitted_unauthenticated() {
    let world = World::new();
    let seen = Pair::new(&world, None, member_terms(None)).run();
    assert!(matches!(
        seen.m[..],
        [ms::Event::Welcomed {
            authenticated: false,
            ..
        }]
    ));
}

#[test]
fn test_another_run_is_refused_with_its_reason() {
    type Change = fn(&mut MemberTerms);
    let cases: [(Change, RefuseCode, &str); 5] = [
        (|t| t.plan_hash = [0; 32], RefuseCode::Plan, "another plan"),
        (|t| t.segments = 4, RefuseCode::Plan, "a run of 4 segments"),
        (
            |t| t.version = "0.2.0".into(),
            RefuseCode::Version,
            "loadgen 0.2.0",
        ),
        (|t| t.index = 0, RefuseCode::Index, "segment index 0"),
        (|t| t.index = 3, RefuseCode::Index, "segment index 3"),
    ];
    for (change, code, says) in cases {
        let world = World::new();
        let mut t = member_terms(Some(TOKEN));
        change(&mut t);
        let seen = Pair::new(&world, Some(TOKEN), t).run();
        assert_eq!(seen.c, vec![cs::Event::Refused(code)]);
        let [ms::Event::Refused(got, reason)] = &seen.m[..] else {
            panic!("{seen:?}")
        };
        assert_eq!(*got, code);
        assert!(reason.starts_with(says), "{reason}");
    }
}

#[test]
fn test_a_replayed_auth_is_refused() {
    let world = World::new();
    let clock = world.coordinator();
    let mut p = Pair::new(&world, Some(TOKEN), member_terms(Some(TOKEN)));
    p.run();
    // The AUTH that worked, sent again to a connection whose challenge differs.
    let mut d = super::wire::Decoder::new();
    d.push(&p.wire);
    let mut frames = Vec::new();
    while let Ok(Some(m)) = d.next_msg() {
        frames.push(m);
    }
    let hello = frames.iter().find(|m| matches!(m, Msg::Hello(_))).cloned();
    let auth = frames
        .iter()
        .find(|m| matches!(m, Msg::Auth { .. }))
        .cloned();
    let mut other = CoordinatorSide::new(terms(Some(TOKEN)), [9; 32], &clock);
    let bytes: Vec<u8> = [hello, auth].iter().flatten().flat_map(encode).collect();
    assert_eq!(
        other.feed(&bytes, &clock),
        Ok(vec![cs::Event::Refused(RefuseCode::Token)])
    );
}

#[test]
fn test_a_coordinator_without_the_token_is_found_out() {
    let world = World::new();
    let clock = world.member();
    let mut m = MemberSide::new(member_terms(Some(TOKEN)), [2; 32], &clock);
    let challenge = encode(&Msg::Challenge {
        challenge: [7; 32],
        token: true,
    });
    assert_eq!(m.feed(&challenge, &clock), Ok(vec![]));
    let welcome = encode(&Msg::Welcome {
        proof: Some([0; 32]),
        nonce: NONCE,
    });
    assert_eq!(m.feed(&welcome, &clock), Err(ms::Fault::Impostor));
}

#[test]
fn test_a_start_of_another_nonce_is_refused() {
    let world = World::new();
    let mut p = Pair::new(&world, None, member_terms(None));
    p.run();
    p.m.ready();
    p.run();
    let start = encode(&Msg::Start {
        at_unix_ns: 0,
        nonce: [0; 16],
        offset_ns: 0,
        delay_ns: 0,
    });
    assert_eq!(
        p.m.feed(&start, &world.member()),
        Err(ms::Fault::NonceChanged)
    );
}

#[test]
fn test_messages_out_of_order_are_faults() {
    let world = World::new();
    let clock = world.coordinator();
    let mut c = CoordinatorSide::new(terms(None), [1; 32], &clock);
    assert!(matches!(
        c.feed(&encode(&Msg::Ready), &clock),
        Err(cs::Fault::Unexpected {
            got: "READY",
            expected: "HELLO"
        })
    ));
    let mut p = Pair::new(&world, None, member_terms(None));
    p.run();
    // A PONG that answers no PING.
    let pong = encode(&Msg::Pong {
        seq: 0,
        t1: 0,
        t2: 0,
    });
    assert!(matches!(
        p.c.feed(&pong, &clock),
        Err(cs::Fault::Unexpected { .. })
    ));
}

#[test]
fn test_a_result_before_the_start_is_refused_at_its_header() {
    let world = World::new();
    let clock = world.coordinator();
    let mut p = Pair::new(&world, None, member_terms(None));
    p.run();
    let result = encode(&Msg::Result(vec![0; 1000]));
    assert!(matches!(
        p.c.feed(&result[..super::wire::HEADER], &clock),
        Err(cs::Fault::Wire(WireError::Length { .. }))
    ));
}

#[test]
fn test_a_heartbeat_flood_is_a_fault() {
    let world = World::new();
    let clock = world.coordinator();
    let mut p = Pair::new(&world, None, member_terms(None));
    p.run();
    let flood: Vec<u8> = (0..100).flat_map(|_| encode(&Msg::Heartbeat)).collect();
    assert_eq!(p.c.feed(&flood, &clock), Err(cs::Fault::Flood));
    let mut p = Pair::new(&world, None, member_terms(None));
    p.run();
    assert_eq!(p.m.feed(&flood, &world.member()), Err(ms::Fault::Flood));
}

#[test]
fn test_an_abort_before_the_start_reaches_the_member() {
    let world = World::new();
    let mut p = Pair::new(&world, None, member_terms(None));
    p.run();
    p.m.ready();
    p.run();
    p.c.abort("segment 2 never connected within 60s");
    let seen = p.run();
    assert_eq!(
        seen.m,
        vec![ms::Event::Aborted(
            "segment 2 never connected within 60s".into()
        )]
    );
    assert!(p.m.is_over());
}

#[test]
fn test_calls_out_of_order_are_refused_by_the_member() {
    let world = World::new();
    let mut p = Pair::new(&world, None, member_terms(None));
    assert!(!p.m.ready(), "before WELCOME");
    p.run();
    assert!(!p.m.result(vec![]), "before START");
    assert!(!p.m.started(0), "before START");
    assert!(p.m.ready());
    assert!(!p.m.ready(), "twice");
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    /// One message of every kind, some of them right for a phase.
    fn kinds() -> Vec<Msg> {
        vec![
            Msg::Hello(super::super::wire::Hello {
                protocol: super::super::PROTOCOL,
                version: "0.1.0".into(),
                plan_hash: PLAN,
                index: 1,
                segments: 3,
                token: false,
            }),
            Msg::Challenge {
                challenge: [3; 32],
                token: false,
            },
            Msg::Auth {
                challenge: [4; 32],
                proof: None,
            },
            Msg::Welcome {
                proof: None,
                nonce: NONCE,
            },
            Msg::Refuse {
                code: RefuseCode::Late,
                reason: "late".into(),
            },
            Msg::Ready,
            Msg::Ping { seq: 0, t0: 1 },
            Msg::Pong {
                seq: 0,
                t1: 2,
                t2: 3,
            },
            Msg::Start {
                at_unix_ns: 5,
                nonce: NONCE,
                offset_ns: 0,
                delay_ns: 1,
            },
            Msg::Abort {
                reason: "off".into(),
            },
            Msg::Stop,
            Msg::Heartbeat,
            Msg::Started { unix_ns: 6 },
            Msg::Result(vec![1, 2, 3]),
            Msg::Done,
            Msg::Fail {
                reason: "no".into(),
            },
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        /// Any sequence of well-formed messages, in any order, in any split: both
        /// machines answer or fault, never panic, and queue a bounded number of messages.
        #[test]
        fn test_any_message_sequence_never_panics(picks in proptest::collection::vec(0usize..16, 0..40), split in 1usize..64) {
            let world = World::new();
            let (cc, mc) = (world.coordinator(), world.member());
            let all = kinds();
            let bytes: Vec<u8> = picks.iter().flat_map(|i| encode(&all[*i])).collect();
            let mut c = CoordinatorSide::new(terms(None), [1; 32], &cc);
            let mut m = MemberSide::new(member_terms(None), [2; 32], &mc);
            let (mut c_ok, mut m_ok) = (true, true);
            for chunk in bytes.chunks(split) {
                if c_ok {
                    match c.feed(chunk, &cc) {
                        Ok(ev) => {
                            if ev.iter().any(|e| matches!(e, cs::Event::Authenticated { .. })) {
                                c.admit();
                            }
                        }
                        Err(_) => c_ok = false,
                    }
                }
                if m_ok {
                    m_ok = m.feed(chunk, &mc).is_ok();
                }
                world.advance(1_000_000);
            }
            prop_assert!(c.take_outbox().len() <= 2 * picks.len() + 2);
            prop_assert!(m.take_outbox().len() <= 2 * picks.len() + 2);
        }
    }
}
