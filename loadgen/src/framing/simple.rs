//! The simple framings: [`Framing::Echo`](super::Framing::Echo),
//! [`Framing::Line`](super::Framing::Line) and [`Framing::Fixed`](super::Framing::Fixed).
//!
//! None of them needs a piece whole, so each consumes every byte offered that belongs
//! to the response and the caller never holds any of it; progress is just
//! `Framer::bytes`. They are stateless steps rather than a state machine, and sit
//! apart from HTTP and RESP, which need [`Framer::run`]'s step loop.

use super::{FrameError, Framer, Progress};
use memchr::memchr;

impl Framer {
    /// Compares the input with the part of the request not yet echoed.
    pub(super) fn feed_echo(
        &mut self,
        input: &[u8],
        request: &[u8],
    ) -> Result<Progress, FrameError> {
        // A request that shrank between calls (a caller bug) just ends the echo.
        let echoed = usize::try_from(self.bytes).unwrap_or(usize::MAX);
        let want = request.get(echoed..).unwrap_or(&[]);
        let n = want.len().min(input.len());
        let (got, want_n) = (&input[..n], &want[..n]);
        // One memcmp in the common case; the byte loop only runs to locate a mismatch.
        if got != want_n {
            let i = got
                .iter()
                .zip(want_n)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            return Err(FrameError::EchoMismatch {
                offset: self.bytes + i as u64,
            });
        }
        Ok(if n == want.len() {
            Progress::Done(n)
        } else {
            Progress::Need(n)
        })
    }

    /// Takes what the input holds of the `n` bytes of a fixed-size response.
    pub(super) fn feed_fixed(&self, n: u64, input: &[u8]) -> Progress {
        // bytes <= n always (at most `left` is consumed); saturate anyway.
        let left = n.saturating_sub(self.bytes);
        // The min is at most input.len(), so the cast back is lossless.
        let k = left.min(input.len() as u64) as usize;
        if k as u64 == left {
            Progress::Done(k)
        } else {
            Progress::Need(k)
        }
    }
}

/// A line response: done at the first `\n`, else everything offered is part of it.
pub(super) fn feed_line(input: &[u8]) -> Progress {
    match memchr(b'\n', input) {
        Some(p) => Progress::Done(p + 1),
        None => Progress::Need(input.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{
        assert_progressive, assert_splits, drive, expecting, plain, MB,
    };
    use super::super::{FrameError, Framing};

    #[test]
    fn test_echo_split_anywhere() {
        let req = b"PING 1234567890\r\n";
        assert_splits(&Framing::Echo, false, req, req, plain(req.len()));
    }

    #[test]
    fn test_echo_mismatch_offset() {
        let req = b"0123456789";
        for split in 0..=10 {
            let mut f = expecting(&Framing::Echo, false);
            let got = drive(
                &mut f,
                [&b"0123456X89"[..split], &b"0123456X89"[split..]],
                req,
            );
            assert_eq!(
                got.result,
                Err(FrameError::EchoMismatch { offset: 7 }),
                "split {split}"
            );
        }
    }

    #[test]
    fn test_line_split_anywhere() {
        assert_splits(&Framing::Line, false, b"", b"+OK hello\r\n", plain(11));
        assert_splits(&Framing::Line, false, b"", b"\n", plain(1));
    }

    #[test]
    fn test_fixed_split_anywhere() {
        assert_splits(
            &Framing::Fixed(16),
            false,
            b"",
            b"0123456789abcdef",
            plain(16),
        );
        assert_splits(&Framing::Fixed(1), false, b"", b"z", plain(1));
    }

    #[test]
    fn test_echo_line_fixed_1mb_progressive() {
        let mut big = vec![b'x'; MB];
        assert_progressive(&Framing::Echo, &big, &big, plain(MB));
        assert_progressive(&Framing::Fixed(MB), b"", &big, plain(MB));
        big.push(b'\n');
        assert_progressive(&Framing::Line, b"", &big, plain(MB + 1));
        let mut text = b"+".to_vec();
        text.resize(MB, b't');
        text.extend_from_slice(b"\r\n");
        assert_progressive(&Framing::Resp, b"", &text, plain(MB + 2));
    }
}
