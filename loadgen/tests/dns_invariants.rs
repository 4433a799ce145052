//! The DNS reply decoder's and TCP splitter's invariants (`fuzz/src/dns_check.rs`,
//! shared with the `dns_reply` fuzz target) as property tests, fed replies captured
//! from dnsmasq (the fuzz seeds') with bytes changed, cut or appended, and streams of
//! them framed for TCP and cut anywhere.

#[allow(dead_code)]
#[path = "../../fuzz/src/dns_check.rs"]
mod dns_check;

use loadgen::dns::framing::{frame_into, MAX_MESSAGE};
use loadgen::dns::name::Name;
use loadgen::dns::qtype::QType;
use loadgen::dns::query::Question;
use loadgen::dns::reply::decode_reply;
use proptest::prelude::*;
use proptest::sample::{select, Index};

/// `a.test` A from dnsmasq: NOERROR, one answer by a compression pointer.
const A_NOERROR: &str =
    "513a85800001000100000000016104746573740000010001c00c000100010000000000040a010203";
/// `nope.test` A with EDNS and DO: NXDOMAIN, an OPT record.
const NOPE_NXDOMAIN_EDNS: &str =
    "547c81830001000000000001046e6f7065047465737400000100010000291000000080000000";
/// `big.test` TXT over UDP without EDNS: TC, no records.
const BIG_TC: &str = "5622878000010000000000000362696704746573740000100001";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The captured replies and their questions.
fn captured() -> Vec<(Vec<u8>, &'static str, QType)> {
    vec![
        (hex(A_NOERROR), "a.test", QType::A),
        (hex(NOPE_NXDOMAIN_EDNS), "nope.test", QType::A),
        (hex(BIG_TC), "big.test", QType::TXT),
    ]
}

#[test]
fn captured_replies_decode() {
    for (msg, name, t) in captured() {
        let n = Name::from_text(name).unwrap();
        let q = Question::new(&n, t);
        let id = u16::from_be_bytes([msg[0], msg[1]]);
        decode_reply(&msg, id, &q).unwrap_or_else(|e| panic!("{name}: {e}"));
        dns_check::check_reply(&msg, id, &q).unwrap();
    }
}

#[derive(Clone, Debug)]
enum Change {
    Set(Index, u8),
    Cut(Index),
    Append(Vec<u8>),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        6 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Change::Set(i, b)),
        1 => any::<Index>().prop_map(Change::Cut),
        1 => prop::collection::vec(any::<u8>(), 1..24).prop_map(Change::Append),
    ]
}

fn apply(msg: &mut Vec<u8>, c: &Change) {
    match c {
        Change::Set(i, b) if !msg.is_empty() => {
            let at = i.index(msg.len());
            msg[at] = *b;
        }
        Change::Set(..) => {}
        Change::Cut(i) => msg.truncate(i.index(msg.len() + 1)),
        Change::Append(b) => msg.extend_from_slice(b),
    }
}

proptest! {
    #[test]
    fn changed_replies_keep_the_invariants(
        which in 0usize..3,
        changes in prop::collection::vec(change(), 0..5),
        other_id in any::<Option<u16>>(),
        name in select(vec!["a.test", "A.TEST", "nope.test", "big.test", "."]),
        t in select(vec![QType::A, QType::TXT, QType::AAAA]),
    ) {
        let (mut msg, _, _) = captured().swap_remove(which);
        for c in &changes {
            apply(&mut msg, c);
        }
        let n = Name::from_text(name).unwrap();
        let id = other_id.unwrap_or_else(|| u16::from_be_bytes([msg.first().copied().unwrap_or(0), msg.get(1).copied().unwrap_or(0)]));
        dns_check::check_reply(&msg, id, &Question::new(&n, t)).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn streams_split_the_same_way_whatever_the_cuts(
        order in prop::collection::vec(0usize..3, 0..6),
        garbage in prop::collection::vec(any::<u8>(), 0..4),
        cuts in prop::collection::vec(0usize..80, 0..10),
        max in select(vec![MAX_MESSAGE, 40, 12]),
    ) {
        let all = captured();
        let mut stream = Vec::new();
        for i in order {
            frame_into(&mut stream, &all[i].0).unwrap();
        }
        stream.extend_from_slice(&garbage);
        dns_check::split_check(&stream, &cuts, max).map_err(TestCaseError::fail)?;
    }
}
