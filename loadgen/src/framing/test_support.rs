//! The simulated caller the framers' unit tests share: it feeds pieces the way the
//! client does (leftover joined with the next read, consumed prefix dropped) and
//! checks the framer's contract on every call, plus shorthands for the expected
//! responses and errors.

use super::{FrameError, Framer, Framing, Response};

/// What a simulated caller saw.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Outcome {
    /// The response, `None` if the pieces ended first, or the error.
    pub(super) result: Result<Option<Response>, FrameError>,
    /// Bytes left with the caller: unconsumed input, then any pieces not fed.
    pub(super) leftover: Vec<u8>,
    /// Largest leftover held between feeds while the response was incomplete.
    pub(super) max_leftover: usize,
}

/// Simulates the caller: each piece is joined to the leftover and fed once; the
/// consumed prefix is dropped. Stops feeding at the first response or error;
/// later pieces just accumulate in the leftover. Checks that `consumed` stays in
/// bounds and that a response's `bytes` is what was consumed for it.
#[track_caller]
pub(super) fn drive<'a>(
    framer: &mut Framer,
    pieces: impl IntoIterator<Item = &'a [u8]>,
    request: &[u8],
) -> Outcome {
    let mut leftover = Vec::new();
    let mut max_leftover = 0;
    let mut consumed_total = 0u64;
    let mut result = Ok(None);
    for piece in pieces {
        leftover.extend_from_slice(piece);
        if !matches!(result, Ok(None)) {
            continue;
        }
        match framer.feed(&leftover, request) {
            Ok(feed) => {
                assert!(feed.consumed <= leftover.len(), "consumed past the input");
                leftover.drain(..feed.consumed);
                consumed_total += feed.consumed as u64;
                if let Some(resp) = feed.done {
                    assert_eq!(resp.bytes, consumed_total, "bytes = consumed");
                    assert!(!framer.in_progress(), "idle after a response");
                    result = Ok(Some(resp));
                } else {
                    max_leftover = max_leftover.max(leftover.len());
                }
            }
            Err(e) => {
                assert!(!framer.in_progress(), "idle after an error");
                result = Err(e);
            }
        }
    }
    Outcome {
        result,
        leftover,
        max_leftover,
    }
}

/// A framer for `framing` expecting a response.
#[track_caller]
pub(super) fn expecting(framing: &Framing, head: bool) -> Framer {
    let mut f = Framer::new(framing);
    f.expect(head);
    f
}

/// Bytes of a next response that arrive glued to the one under test.
const NEXT: &[u8] = b"NEXT\r\n";

/// Asserts that `response` followed by [`NEXT`], fed whole, split in two at every
/// byte boundary, and byte by byte, always gives `want` and leaves exactly
/// [`NEXT`] with the caller. Returns the response.
#[track_caller]
pub(super) fn assert_splits(
    framing: &Framing,
    head: bool,
    request: &[u8],
    response: &[u8],
    want: Response,
) -> Response {
    assert_eq!(want.bytes, response.len() as u64, "test expectation");
    let input = [response, NEXT].concat();
    let expected = Outcome {
        result: Ok(Some(want)),
        leftover: NEXT.to_vec(),
        max_leftover: 0,
    };
    for i in 0..=input.len() {
        let mut f = expecting(framing, head);
        let mut got = drive(&mut f, [&input[..i], &input[i..]], request);
        got.max_leftover = 0;
        assert_eq!(got, expected, "split at byte {i}");
    }
    let mut f = expecting(framing, head);
    let mut got = drive(&mut f, input.chunks(1), request);
    got.max_leftover = 0;
    assert_eq!(got, expected, "byte by byte");
    want
}

/// The response framing alone (no HTTP status, no close).
pub(super) fn plain(bytes: usize) -> Response {
    Response {
        status: None,
        close: false,
        bytes: bytes as u64,
        error: None,
    }
}

/// An HTTP response summary.
pub(super) fn http(status: u16, close: bool, bytes: usize) -> Response {
    Response {
        status: Some(status),
        close,
        bytes: bytes as u64,
        error: None,
    }
}

/// Feeds `input` whole to a fresh framer and returns the error.
#[track_caller]
pub(super) fn feed_err(framing: &Framing, head: bool, input: &[u8]) -> FrameError {
    let mut f = expecting(framing, head);
    match drive(&mut f, [input], b"").result {
        Err(e) => e,
        other => panic!("expected an error for {:?}, got {other:?}", text(input)),
    }
}

/// Bytes as text for assertion messages.
pub(super) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Feeds `response` in 16 KiB pieces and asserts it completes with the caller
/// never holding more than a few bytes (the bound is 64 KiB; a progressive framer
/// keeps at most an incomplete line).
#[track_caller]
pub(super) fn assert_progressive(
    framing: &Framing,
    request: &[u8],
    response: &[u8],
    want: Response,
) {
    let mut f = expecting(framing, false);
    let out = drive(&mut f, response.chunks(16 * 1024), request);
    assert_eq!(out.result, Ok(Some(want)), "{framing:?}");
    assert!(out.leftover.is_empty());
    assert!(out.max_leftover <= 64 * 1024, "held {}", out.max_leftover);
    assert!(out.max_leftover < 64, "held {} bytes", out.max_leftover);
}

/// A mebibyte: the size of the big responses.
pub(super) const MB: usize = 1 << 20;
