//! DNS over TCP and TLS (RFC 1035 4.2.2, RFC 7766, RFC 7858): each message preceded
//! by its length, two bytes big endian.
//!
//! [`split`] finds the first whole message in a buffer the caller keeps (the
//! reactor's way: the caller drops what was consumed and re-offers the rest with the
//! next bytes read); [`Splitter`] keeps the buffer itself and is fed chunks as they
//! arrive. Either yields the same messages whatever the chunking. A declared length of
//! 0 (no message is empty: a header alone is 12 bytes) or above the bound is an error
//! as soon as its two bytes are in, before anything is buffered for it.

use std::fmt;

/// Bytes of the length prefix.
pub const PREFIX_LEN: usize = 2;

/// The largest message the prefix can declare.
pub const MAX_MESSAGE: usize = u16::MAX as usize;

/// Why the stream's framing is lost (the connection should be closed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FramingError {
    /// A declared length of zero.
    Empty,
    /// A declared length above the bound (the length).
    TooLong(usize),
}

impl FramingError {
    /// A short snake_case name for error tables.
    pub fn kind(&self) -> &'static str {
        match self {
            FramingError::Empty => "empty_message",
            FramingError::TooLong(_) => "message_too_long",
        }
    }
}

impl fmt::Display for FramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FramingError::Empty => write!(f, "a DNS message declared 0 bytes long"),
            FramingError::TooLong(n) => {
                write!(f, "a DNS message declared {n} bytes long, above the bound")
            }
        }
    }
}

impl std::error::Error for FramingError {}

/// The first whole message at the start of `buf` and the bytes it took with its
/// prefix; `Ok(None)` when more bytes are needed. Messages longer than `max` bytes
/// (at most [`MAX_MESSAGE`]) are refused.
///
/// ```
/// use loadgen::dns::framing::split;
/// assert_eq!(split(b"\x00\x03abcd", 512), Ok(Some((&b"abc"[..], 5))));
/// assert_eq!(split(b"\x00\x03ab", 512), Ok(None));
/// assert!(split(b"\x00\x00", 512).is_err());
/// ```
pub fn split(buf: &[u8], max: usize) -> Result<Option<(&[u8], usize)>, FramingError> {
    let Some(&[hi, lo]) = buf.get(..PREFIX_LEN) else {
        return Ok(None);
    };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    if len == 0 {
        return Err(FramingError::Empty);
    }
    if len > max {
        return Err(FramingError::TooLong(len));
    }
    Ok(buf
        .get(PREFIX_LEN..PREFIX_LEN + len)
        .map(|m| (m, PREFIX_LEN + len)))
}

/// Appends `msg` with its prefix to `out`; a message empty or longer than
/// [`MAX_MESSAGE`] is refused (`out` unchanged).
pub fn frame_into(out: &mut Vec<u8>, msg: &[u8]) -> Result<(), FramingError> {
    let len = u16::try_from(msg.len()).map_err(|_| FramingError::TooLong(msg.len()))?;
    if len == 0 {
        return Err(FramingError::Empty);
    }
    out.reserve(PREFIX_LEN + msg.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(msg);
    Ok(())
}

/// A length-prefixed message stream, fed chunks of any size; keeps what it was fed
/// until the messages in it are taken. It holds at most one partial message (up to
/// the bound) plus whatever the last chunk brought.
#[derive(Debug)]
pub struct Splitter {
    buf: Vec<u8>,
    /// Bytes of `buf` already taken.
    start: usize,
    max: usize,
    failed: Option<FramingError>,
}

impl Splitter {
    /// A splitter refusing messages above `max` bytes (at most [`MAX_MESSAGE`]).
    pub fn new(max: usize) -> Splitter {
        Splitter {
            buf: Vec::new(),
            start: 0,
            max: max.min(MAX_MESSAGE),
            failed: None,
        }
    }

    /// Adds bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole message, `Ok(None)` until one is in; after an error, that
    /// error again (the stream cannot be resynchronized).
    pub fn next_message(&mut self) -> Result<Option<&[u8]>, FramingError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let rest = self.buf.get(self.start..).unwrap_or_default();
        match split(rest, self.max) {
            Ok(Some((_, took))) => {
                let from = self.start + PREFIX_LEN;
                self.start += took;
                Ok(self.buf.get(from..self.start))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                self.failed = Some(e);
                Err(e)
            }
        }
    }

    /// Bytes fed and not yet taken as messages (a partial message at the end).
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every message (then the error, if one) the splitter yields for `chunks`.
    fn run(chunks: &[&[u8]], max: usize) -> (Vec<Vec<u8>>, Option<FramingError>) {
        let mut s = Splitter::new(max);
        let mut out = Vec::new();
        for c in chunks {
            s.push(c);
            loop {
                match s.next_message() {
                    Ok(Some(m)) => out.push(m.to_vec()),
                    Ok(None) => break,
                    Err(e) => return (out, Some(e)),
                }
            }
        }
        (out, None)
    }

    /// The same through `split` on a buffer the caller keeps.
    fn run_split(chunks: &[&[u8]], max: usize) -> (Vec<Vec<u8>>, Option<FramingError>) {
        let mut kept = Vec::new();
        let mut out = Vec::new();
        for c in chunks {
            kept.extend_from_slice(c);
            loop {
                match split(&kept, max) {
                    Ok(Some((m, took))) => {
                        out.push(m.to_vec());
                        kept.drain(..took);
                    }
                    Ok(None) => break,
                    Err(e) => return (out, Some(e)),
                }
            }
        }
        (out, None)
    }

    #[test]
    fn errors_at_the_prefix() {
        assert_eq!(run(&[b"\x00"], 512), (vec![], None));
        assert_eq!(
            run(&[b"\x00", b"\x00"], 512),
            (vec![], Some(FramingError::Empty))
        );
        assert_eq!(
            run(&[b"\x00\x01x\x02\x01"], 512),
            (vec![b"x".to_vec()], Some(FramingError::TooLong(513)))
        );
        let mut s = Splitter::new(512);
        s.push(b"\x00\x00");
        assert!(s.next_message().is_err());
        s.push(b"\x00\x01x");
        assert_eq!(s.next_message(), Err(FramingError::Empty));
        let mut out = Vec::new();
        assert_eq!(frame_into(&mut out, b""), Err(FramingError::Empty));
        assert!(frame_into(&mut out, &vec![0; 65536]).is_err());
        assert!(out.is_empty());
        frame_into(&mut out, &vec![7; 65535]).unwrap();
        assert_eq!(run(&[&out], MAX_MESSAGE).0, vec![vec![7; 65535]]);
        assert_eq!(Splitter::new(usize::MAX).max, MAX_MESSAGE);
    }

    #[test]
    fn pending_bytes() {
        let mut s = Splitter::new(100);
        s.push(b"\x00\x02ab\x00\x03c");
        assert_eq!(s.next_message(), Ok(Some(&b"ab"[..])));
        assert_eq!(s.next_message(), Ok(None));
        assert_eq!(s.pending(), 3);
        s.push(b"de");
        assert_eq!(s.next_message(), Ok(Some(&b"cde"[..])));
        assert_eq!(s.pending(), 0);
    }

    fn stream() -> impl Strategy<Value = Vec<u8>> {
        // Mostly well-framed messages, sometimes a raw byte run (bad lengths too).
        prop::collection::vec(
            prop_oneof![
                4 => prop::collection::vec(any::<u8>(), 1..300).prop_map(|m| {
                    let mut o = Vec::new();
                    frame_into(&mut o, &m).unwrap();
                    o
                }),
                1 => prop::collection::vec(any::<u8>(), 0..4),
            ],
            0..12,
        )
        .prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn same_messages_whatever_the_chunking(
            s in stream(),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..20),
            max in prop_oneof![Just(MAX_MESSAGE), 1usize..400],
        ) {
            let whole = run(&[&s], max);
            let mut at: Vec<usize> = cuts.iter().map(|i| i.index(s.len() + 1)).collect();
            at.sort_unstable();
            let mut pieces = Vec::new();
            let mut from = 0;
            for c in at {
                pieces.push(&s[from..c]);
                from = c;
            }
            pieces.push(&s[from..]);
            prop_assert_eq!(&run(&pieces, max), &whole);
            prop_assert_eq!(&run_split(&pieces, max), &whole);
            // Byte by byte.
            let bytes: Vec<&[u8]> = s.chunks(1).collect();
            prop_assert_eq!(&run(&bytes, max), &whole);
        }

        #[test]
        fn framed_messages_come_back(msgs in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..200), 0..10)) {
            let mut s = Vec::new();
            for m in &msgs {
                frame_into(&mut s, m).unwrap();
            }
            prop_assert_eq!(run(&[&s], MAX_MESSAGE), (msgs, None));
        }
    }
}
