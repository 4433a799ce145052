//! The echo protocol: every byte received is sent back.

use super::{Cx, Protocol, Step, Verdict};

/// Sends back every byte it receives, unchanged and in order.
///
/// Zero-sized: echo has no state beyond what the reactor already keeps (the output
/// queue), so an idle echo connection costs nothing here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Echo;

impl Protocol for Echo {
    type Context = ();

    fn on_input(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        budget: usize,
        _cx: &mut Cx<()>,
    ) -> Step {
        // At least one byte, so a zero budget still progresses.
        let n = input.len().min(budget.max(1));
        out.extend_from_slice(&input[..n]);
        Step::cont(n)
    }

    /// Half-close: the client has stopped sending but still expects the echo of
    /// everything it sent, so flush before closing rather than dropping the queue.
    fn on_eof(&mut self, _out: &mut Vec<u8>, _cx: &mut Cx<()>) -> Verdict {
        Verdict::CloseAfterFlush
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// Simulates the reactor: feeds each chunk joined with the leftover, collects the
    /// output, and returns it with the leftover that was never consumed.
    #[track_caller]
    fn drive(echo: &mut Echo, chunks: &[&[u8]]) -> (Vec<u8>, Vec<u8>) {
        let mut cx = Cx::unit(Instant::now());
        let mut out = Vec::new();
        let mut leftover = Vec::new();
        for chunk in chunks {
            leftover.extend_from_slice(chunk);
            let step = echo.on_input(&leftover, &mut out, usize::MAX, &mut cx);
            assert!(step.consumed <= leftover.len(), "consumed past the input");
            assert_eq!(step.verdict, Verdict::Continue);
            leftover.drain(..step.consumed);
        }
        (out, leftover)
    }

    #[test]
    fn test_open_input_echoed_whole() {
        let (out, rest) = drive(&mut Echo, &[b"hello, world"]);
        assert_eq!(out, b"hello, world");
        assert!(rest.is_empty());
    }

    #[test]
    fn test_open_split_input_identical_to_unsplit() {
        let input: Vec<u8> = (0..=255u8).cycle().take(700).collect();
        let (whole, _) = drive(&mut Echo, &[&input]);
        for i in 0..=input.len() {
            let (out, rest) = drive(&mut Echo, &[&input[..i], &input[i..]]);
            assert_eq!(out, whole, "split at {i}");
            assert!(rest.is_empty(), "split at {i}");
        }
    }

    #[test]
    fn test_open_empty_input_consumes_nothing() {
        let mut cx = Cx::unit(Instant::now());
        let mut out = Vec::new();
        let step = Echo.on_input(b"", &mut out, usize::MAX, &mut cx);
        assert_eq!(step, Step::cont(0));
        assert!(out.is_empty());
    }

    #[test]
    fn test_open_eof_flushes_then_closes() {
        let mut cx = Cx::unit(Instant::now());
        let mut out = Vec::new();
        Echo.on_input(b"last words", &mut out, usize::MAX, &mut cx);
        assert_eq!(Echo.on_eof(&mut out, &mut cx), Verdict::CloseAfterFlush);
        assert_eq!(out, b"last words", "eof must not drop queued echo");
    }

    #[test]
    fn test_open_size_is_zero() {
        assert_eq!(std::mem::size_of::<Echo>(), 0);
    }
}
