//! Split invariance of readyloop's sans-IO protocols, as property tests: whatever the
//! reads the input arrives in and whatever the output budgets, a protocol answers the
//! same (HTTP's two documented exceptions aside: see `fuzz/src/http_check.rs`).
//!
//! The HTTP invariant is defined once, in `fuzz/src/http_check.rs`, and shared with the
//! `http_server` fuzz target; here proptest feeds it request-shaped input.

#[allow(dead_code)]
#[path = "../fuzz/src/http_check.rs"]
mod http_check;

use http_check::{check, drive, split, Params, RESCAN_FROM};
use proptest::prelude::*;
use proptest::sample::{select, Index};
use readyloop::protocol::http::{CONTINUE, HELLO};
use readyloop::protocol::{fill_pattern, Cx, Discard, Echo, HttpConfig, Protocol, Source};
use readyloop::protocol::{Step, Verdict};
use std::time::Instant;

/// A request head padded to about `n` bytes with one `X-Pad` header.
fn padded(n: usize) -> String {
    format!("GET / HTTP/1.1\r\nX-Pad: {}\r\n\r\n", "p".repeat(n))
}

/// One piece of a client's byte stream: mostly whole requests, some broken.
fn fragment() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => Just(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        2 => (0u32..40_000).prop_map(|n| format!("GET /bytes/{n} HTTP/1.1\r\n\r\n").into_bytes()),
        1 => Just(b"HEAD /bytes/99 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".to_vec()),
        1 => Just(b"GET /nope?x HTTP/1.1\r\n\r\n".to_vec()),
        2 => (0usize..40, any::<bool>()).prop_map(|(n, expect)| {
            let e = if expect { "Expect: 100-continue\r\n" } else { "" };
            let body = "GET / HTTP/1.1\r\n\r\n".repeat(3);
            format!("POST /up HTTP/1.1\r\n{e}Content-Length: {n}\r\n\r\n{}", &body[..n])
                .into_bytes()
        }),
        1 => Just(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n".to_vec()),
        1 => Just(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec()),
        1 => Just(b"GET / HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n".to_vec()),
        1 => Just(b"\r\n".to_vec()),
        2 => (RESCAN_FROM - 200..RESCAN_FROM * 3).prop_map(|n| padded(n).into_bytes()),
        1 => Just(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n".to_vec()),
        1 => Just(b"\0".to_vec()),
        1 => prop::collection::vec(any::<u8>(), 1..8),
    ]
}

/// A byte stream: a few fragments, maybe cut short (a partial request at the end).
fn stream() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(fragment(), 1..7),
        any::<Index>(),
        any::<bool>(),
    )
        .prop_map(|(parts, cut, truncate)| {
            let mut v = parts.concat();
            if truncate {
                v.truncate(cut.index(v.len() + 1));
            }
            v
        })
}

fn params() -> impl Strategy<Value = Params> {
    (
        select(vec![64usize, 512, 1100, 2048, 65536]),
        select(vec![0usize, 1, 100, 5000, usize::MAX]),
        select(vec![0usize, 1, 100, 4096, 65536]),
        select(vec![1usize, 2, usize::MAX]),
        any::<bool>(),
    )
        .prop_map(
            |(max_head, in_budget, drain_budget, drain_calls, eof)| Params {
                cfg: HttpConfig { max_head },
                in_budget,
                drain_budget,
                drain_calls,
                eof,
                cap: 256 * 1024,
            },
        )
}

fn cuts() -> impl Strategy<Value = Vec<Index>> {
    prop::collection::vec(any::<Index>(), 0..6)
}

fn at(cuts: &[Index], len: usize) -> Vec<usize> {
    cuts.iter().map(|c| c.index(len + 1)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn test_http_any_split_and_budget_same_answers(
        input in stream(),
        p in params(),
        cuts in cuts(),
    ) {
        let cuts = at(&cuts, input.len());
        if let Err(e) = check(&p, &input, &cuts) {
            return Err(TestCaseError::fail(e));
        }
    }

    #[test]
    fn test_echo_any_split_and_budget_echoes_all(
        input in prop::collection::vec(any::<u8>(), 0..2000),
        cuts in cuts(),
        budget in select(vec![0usize, 1, 7, 512, usize::MAX]),
    ) {
        let (out, left, verdict) = pump(&mut Echo, &input, &at(&cuts, input.len()), budget);
        prop_assert_eq!(out, input);
        prop_assert!(left.is_empty());
        prop_assert_eq!(verdict, Verdict::Continue);
    }

    #[test]
    fn test_discard_any_split_consumes_all_says_nothing(
        input in prop::collection::vec(any::<u8>(), 0..2000),
        cuts in cuts(),
        budget in select(vec![0usize, 1, usize::MAX]),
    ) {
        let (out, left, verdict) = pump(&mut Discard, &input, &at(&cuts, input.len()), budget);
        prop_assert!(out.is_empty());
        prop_assert!(left.is_empty());
        prop_assert_eq!(verdict, Verdict::Continue);
    }

    #[test]
    fn test_source_any_reads_and_drain_budgets_one_stream(
        input in prop::collection::vec(any::<u8>(), 0..500),
        cuts in cuts(),
        budgets in prop::collection::vec(select(vec![0usize, 1, 100, 4095, 4097, 70_000]), 1..40),
    ) {
        let mut src = Source::new();
        let mut cx = Cx::unit(Instant::now());
        let mut out = Vec::new();
        let reads = split(&input, &at(&cuts, input.len()));
        let mut budgets = budgets.iter().cycle();
        for read in &reads {
            // Input is dropped, never answered.
            let before = out.len();
            prop_assert_eq!(src.on_input(read, &mut out, 0, &mut cx), Step::cont(read.len()));
            prop_assert_eq!(out.len(), before);
            for _ in 0..3 {
                prop_assert!(src.wants_drained());
                let budget = *budgets.next().unwrap();
                let before = out.len();
                prop_assert_eq!(src.on_drained(&mut out, budget, &mut cx), Verdict::Continue);
                let n = out.len() - before;
                prop_assert!(n >= 1 && n <= budget.max(1), "{} bytes for budget {}", n, budget);
            }
        }
        // However the budgets fell, the bytes are one continuous pattern.
        let mut want = Vec::new();
        fill_pattern(&mut want, 0, out.len());
        prop_assert!(out == want, "the stream is not the pattern");
        prop_assert_eq!(src.offset(), out.len() as u64);
    }
}

/// Feeds `input` to `proto` as the reads cut at `cuts`, re-offering the leftover while
/// it makes progress; returns (output, leftover, last verdict).
fn pump<P: Protocol<Context = ()>>(
    proto: &mut P,
    input: &[u8],
    cuts: &[usize],
    budget: usize,
) -> (Vec<u8>, Vec<u8>, Verdict) {
    let mut cx = Cx::unit(Instant::now());
    let mut out = Vec::new();
    let mut left = Vec::new();
    let mut verdict = Verdict::Continue;
    for read in split(input, cuts) {
        left.extend_from_slice(read);
        while !left.is_empty() {
            let step = proto.on_input(&left, &mut out, budget, &mut cx);
            assert!(step.consumed <= left.len(), "consumed past the input");
            left.drain(..step.consumed);
            verdict = step.verdict;
            if step.consumed == 0 || verdict != Verdict::Continue {
                break;
            }
        }
    }
    (out, left, verdict)
}

// ---- The documented exceptions, pinned down by example ----

fn whole_params(max_head: usize, eof: bool) -> Params {
    Params {
        cfg: HttpConfig { max_head },
        in_budget: usize::MAX,
        drain_budget: 65536,
        drain_calls: usize::MAX,
        eof,
        cap: 1 << 20,
    }
}

#[test]
fn test_http_long_partial_bad_head_400_later_431_or_unanswered() {
    // A valid request, then a long head with a NUL after its first 1100 bytes.
    let mut input = b"GET / HTTP/1.1\r\n\r\n".to_vec();
    let head_at = input.len();
    input.extend_from_slice(padded(1100).as_bytes());
    input.truncate(input.len() - 4);
    input.push(0);
    input.extend_from_slice(&[b'p'; 200]);
    let whole = drive(&whole_params(65536, false), &[&input]).unwrap();
    assert!(whole.out.starts_with(HELLO));
    assert!(String::from_utf8_lossy(&whole.out[HELLO.len()..]).starts_with("HTTP/1.1 400 "));
    // Cut before the NUL, past RESCAN_FROM: the NUL cannot end the head, so it is not
    // parsed yet and the request waits, unanswered, for bytes that could end it.
    let cut = [head_at + RESCAN_FROM + 10];
    let p = whole_params(65536, false);
    let run = drive(&p, &split(&input, &cut)).unwrap();
    assert_eq!((run.out.as_slice(), run.errors), (HELLO, 0));
    assert_eq!(run.leftover, &input[head_at..]);
    assert!(check(&p, &input, &cut).is_ok());
    // The same with a max_head the rest passes: 431 instead of 400.
    let p = whole_params(1200, false);
    let run = drive(&p, &split(&input, &cut)).unwrap();
    assert!(String::from_utf8_lossy(&run.out[HELLO.len()..]).starts_with("HTTP/1.1 431 "));
    assert_eq!(run.errors, 1);
    assert!(check(&p, &input, &cut).is_ok());
    // A short head is always re-parsed: no exception.
    let short = b"GET / HTTP/1.1\r\nX: a\0bc".to_vec();
    for c in 0..=short.len() {
        let run = drive(&whole_params(65536, false), &split(&short, &[c])).unwrap();
        assert_eq!(run.errors, 1, "cut at {c}");
    }
}

#[test]
fn test_http_expect_continue_depends_on_body_in_same_read() {
    let input = b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok";
    let p = whole_params(65536, false);
    let whole = drive(&p, &[input]).unwrap();
    assert!(
        !whole.out.starts_with(CONTINUE),
        "the body came with the head"
    );
    let run = drive(&p, &split(input, &[input.len() - 2])).unwrap();
    assert!(run.out.starts_with(CONTINUE), "the client waits for it");
    assert_eq!(&run.out[CONTINUE.len()..], whole.out.as_slice());
    assert!(check(&p, input, &[input.len() - 2]).is_ok());
}
