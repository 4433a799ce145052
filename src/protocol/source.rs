//! The source protocol: streams a verifiable byte pattern until the client closes.
//!
//! The pattern is shared with HTTP `/bytes/N`, so a client checks either stream the
//! same way: byte `i` of the stream is `PATTERN[i % PATTERN.len()]`.

use super::{Cx, Protocol, Step, Verdict};

/// Length of [`PATTERN`]. A power of two so that a wrapping `u64` stream offset stays
/// continuous (2^64 is a multiple of it) and `%` is a mask.
pub const PATTERN_LEN: usize = 4096;

/// The most [`Source::on_drained`] appends in one call, whatever budget it is given,
/// so that one generous budget cannot balloon the connection's output queue.
pub const MAX_CHUNK: usize = 256 * 1024;

/// The repeating stream pattern: 64 lines of 63 printable ASCII characters and a
/// newline. Printable so that a stream dumped to a terminal is readable; each line is
/// the previous one rotated by one character so that a client that lost or duplicated
/// bytes sees a mismatch quickly (the period within a line is 94, not 64).
pub static PATTERN: [u8; PATTERN_LEN] = build_pattern();

const fn build_pattern() -> [u8; PATTERN_LEN] {
    let mut p = [0u8; PATTERN_LEN];
    let mut i = 0;
    while i < PATTERN_LEN {
        let line = i / 64;
        let col = i % 64;
        p[i] = if col == 63 {
            b'\n'
        } else {
            b'!' + ((line + col) % 94) as u8
        };
        i += 1;
    }
    p
}

/// Appends `n` bytes of the stream pattern to `out`, starting at stream position
/// `offset` (so byte `k` appended is `PATTERN[(offset + k) % PATTERN_LEN]`).
///
/// Copies whole slices of [`PATTERN`] rather than pushing byte by byte: filling a
/// large `/bytes/N` body is a handful of `memcpy`s.
pub fn fill_pattern(out: &mut Vec<u8>, offset: u64, n: usize) {
    out.reserve(n);
    // The cast cannot truncate: the value is below PATTERN_LEN.
    let mut start = (offset % PATTERN_LEN as u64) as usize;
    let mut left = n;
    while left > 0 {
        let take = left.min(PATTERN_LEN - start);
        out.extend_from_slice(&PATTERN[start..start + take]);
        left -= take;
        start = 0;
    }
}

/// Streams the [`PATTERN`] for as long as the socket takes it; input is dropped.
///
/// Only the stream position is kept, so the stream continues exactly where the last
/// `on_drained` stopped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Source {
    /// Stream position of the next byte to produce.
    offset: u64,
}

impl Source {
    /// A source at stream position 0.
    pub fn new() -> Source {
        Source::default()
    }

    /// How many bytes have been produced so far (wrapping at 2^64).
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

impl Protocol for Source {
    type Context = ();

    /// Whatever the client sends is consumed and ignored: a source only talks.
    fn on_input(
        &mut self,
        input: &[u8],
        _out: &mut Vec<u8>,
        _budget: usize,
        _cx: &mut Cx<()>,
    ) -> Step {
        Step::cont(input.len())
    }

    /// The stream has no end, so there is nothing worth flushing once the client is
    /// gone: close now.
    fn on_eof(&mut self, _out: &mut Vec<u8>, _cx: &mut Cx<()>) -> Verdict {
        Verdict::Close
    }

    fn wants_drained(&self) -> bool {
        true
    }

    /// Appends `budget` bytes, clamped to `1..=MAX_CHUNK`: at least one so that a zero
    /// budget still makes progress, at most `MAX_CHUNK` to bound the queue.
    fn on_drained(&mut self, out: &mut Vec<u8>, budget: usize, _cx: &mut Cx<()>) -> Verdict {
        let n = budget.clamp(1, MAX_CHUNK);
        fill_pattern(out, self.offset, n);
        // Wrapping keeps the pattern continuous because PATTERN_LEN divides 2^64.
        self.offset = self.offset.wrapping_add(n as u64);
        Verdict::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// The stream as a client should see it, computed byte by byte (the slow,
    /// obviously right way) to check the fast slice-copying fill against.
    fn expected(offset: u64, n: usize) -> Vec<u8> {
        (0..n as u64)
            .map(|k| PATTERN[((offset + k) % PATTERN_LEN as u64) as usize])
            .collect()
    }

    /// Simulates the reactor draining a source with the given budgets in turn.
    #[track_caller]
    fn drain(src: &mut Source, budgets: &[usize]) -> Vec<u8> {
        let mut cx = Cx::unit(Instant::now());
        let mut out = Vec::new();
        for &b in budgets {
            assert!(src.wants_drained());
            let before = out.len();
            assert_eq!(src.on_drained(&mut out, b, &mut cx), Verdict::Continue);
            assert_eq!(out.len() - before, b.clamp(1, MAX_CHUNK), "budget {b}");
        }
        out
    }

    #[test]
    fn test_pattern_bytes_are_printable_lines() {
        assert!(PATTERN
            .iter()
            .all(|&b| b == b'\n' || (b'!'..=b'~').contains(&b)));
        assert_eq!(
            PATTERN.iter().filter(|&&b| b == b'\n').count(),
            PATTERN_LEN / 64
        );
        assert_eq!(&PATTERN[..3], b"!\"#");
        assert_eq!(PATTERN[63], b'\n');
        // The second line starts one character later than the first.
        assert_eq!(PATTERN[64], b'"');
    }

    #[test]
    fn test_fill_any_offset_matches_definition() {
        for &offset in &[0u64, 1, 63, 4095, 4096, 4097, 10_000, u64::MAX - 5] {
            for &n in &[0usize, 1, 2, 4095, 4096, 4097, 9000] {
                let mut out = vec![7u8; 3];
                fill_pattern(&mut out, offset, n);
                assert_eq!(&out[..3], &[7, 7, 7], "must append, not overwrite");
                let want: Vec<u8> = (0..n as u64)
                    .map(|k| PATTERN[(offset.wrapping_add(k) % PATTERN_LEN as u64) as usize])
                    .collect();
                assert_eq!(&out[3..], &want[..], "offset {offset} n {n}");
            }
        }
    }

    #[test]
    fn test_streaming_drained_continues_pattern() {
        let mut src = Source::new();
        let budgets = [1, 5, 4090, 4096, 0, 7, 70_000];
        let out = drain(&mut src, &budgets);
        let total: usize = budgets.iter().map(|b| b.clamp(&1, &MAX_CHUNK)).sum();
        assert_eq!(out.len(), total);
        assert_eq!(out, expected(0, total));
        assert_eq!(src.offset(), total as u64);
    }

    #[test]
    fn test_streaming_drained_huge_budget_clamped() {
        let mut src = Source::new();
        let out = drain(&mut src, &[usize::MAX, 3]);
        assert_eq!(out.len(), MAX_CHUNK + 3);
        assert_eq!(out, expected(0, MAX_CHUNK + 3));
    }

    #[test]
    fn test_streaming_offset_wraps_continuously() {
        let mut src = Source {
            offset: u64::MAX - 2,
        };
        let out = drain(&mut src, &[2, 3]);
        // u64::MAX - 2 is PATTERN_LEN - 3 modulo PATTERN_LEN; the stream runs on into 0.
        let mut want = PATTERN[PATTERN_LEN - 3..].to_vec();
        want.extend_from_slice(&PATTERN[..2]);
        assert_eq!(out, want);
        assert_eq!(src.offset(), 2);
    }

    #[test]
    fn test_streaming_input_dropped() {
        let mut src = Source::new();
        let mut cx = Cx::unit(Instant::now());
        let mut out = Vec::new();
        let step = src.on_input(b"GET / HTTP/1.1\r\n\r\n", &mut out, usize::MAX, &mut cx);
        assert_eq!(step, Step::cont(18));
        assert!(out.is_empty(), "input must not produce output");
        assert_eq!(src.offset(), 0, "input must not move the stream");
    }

    #[test]
    fn test_streaming_eof_closes_now() {
        let mut src = Source::new();
        let mut cx = Cx::unit(Instant::now());
        assert_eq!(src.on_eof(&mut Vec::new(), &mut cx), Verdict::Close);
    }

    #[test]
    fn test_streaming_size_is_offset_only() {
        assert_eq!(std::mem::size_of::<Source>(), 8);
    }
}
