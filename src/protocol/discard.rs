//! The discard protocol: every byte received is dropped.

use super::{Cx, Protocol, Step, Verdict};

/// Reads and drops everything; never writes. Useful to measure pure receive cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Discard;

impl Protocol for Discard {
    type Context = ();

    fn on_input(
        &mut self,
        input: &[u8],
        _out: &mut Vec<u8>,
        _budget: usize,
        _cx: &mut Cx<()>,
    ) -> Step {
        Step::cont(input.len())
    }

    /// Nothing is ever queued, but flushing keeps the close orderly (FIN, not RST).
    fn on_eof(&mut self, _out: &mut Vec<u8>, _cx: &mut Cx<()>) -> Verdict {
        Verdict::CloseAfterFlush
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// Simulates the reactor over `chunks`; returns (output, leftover).
    #[track_caller]
    fn drive(p: &mut Discard, chunks: &[&[u8]]) -> (Vec<u8>, Vec<u8>) {
        let mut cx = Cx::unit(Instant::now());
        let mut out = Vec::new();
        let mut leftover = Vec::new();
        for chunk in chunks {
            leftover.extend_from_slice(chunk);
            let step = p.on_input(&leftover, &mut out, usize::MAX, &mut cx);
            assert!(step.consumed <= leftover.len(), "consumed past the input");
            assert_eq!(step.verdict, Verdict::Continue);
            leftover.drain(..step.consumed);
        }
        (out, leftover)
    }

    #[test]
    fn test_open_input_consumed_without_output() {
        let (out, rest) = drive(&mut Discard, &[b"abc", b"", b"defgh"]);
        assert!(out.is_empty());
        assert!(rest.is_empty());
    }

    #[test]
    fn test_open_split_input_all_consumed() {
        let input = [0xAAu8; 300];
        for i in 0..=input.len() {
            let (out, rest) = drive(&mut Discard, &[&input[..i], &input[i..]]);
            assert!(out.is_empty(), "split at {i}");
            assert!(rest.is_empty(), "split at {i}");
        }
    }

    #[test]
    fn test_open_eof_closes_after_flush() {
        let mut cx = Cx::unit(Instant::now());
        let mut out = Vec::new();
        assert_eq!(Discard.on_eof(&mut out, &mut cx), Verdict::CloseAfterFlush);
        assert!(out.is_empty());
    }

    #[test]
    fn test_open_size_is_zero() {
        assert_eq!(std::mem::size_of::<Discard>(), 0);
    }
}
