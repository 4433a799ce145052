//! Where a response ends: sans-IO framers for the client side.
//!
//! The client sends one request, calls [`Framer::expect`], then offers every byte it
//! reads to [`Framer::feed`] until a response is complete. A framer keeps only a few
//! counters: the caller (the reactor) holds any bytes the framer did not consume and
//! re-offers them, joined with the next bytes read. A framer leaves unconsumed only a
//! piece it must see whole and that is bounded (an HTTP head, a chunk-size line, a RESP
//! length line, each at most [`MAX_HEAD`] bytes); bodies, echoes and lines are consumed
//! as they arrive, so a 10 MB body never sits in the caller's buffer.
//!
//! Steady state allocates nothing, and a piece left unconsumed is not scanned again
//! from its start when it is re-offered: the framer remembers how far it looked.
//!
//! One [`Framer`] type serves every framing: [`Framer::feed`] dispatches on a `Copy`
//! kind (no trait object, no heap) and its state is one enum over all families. This
//! file holds the public types, that dispatch, and the helpers several framings share
//! (a resumable line search, a progressive body take, a split-tolerant CRLF). Each
//! family's steps are an `impl Framer` block in a file of its own: `simple.rs` (echo,
//! line, fixed size), `http.rs` (HTTP/1.x responses) and `resp.rs` (Redis
//! RESP2/RESP3); `test_support.rs` is the simulated caller their unit tests share.

use memchr::memchr;
use std::fmt;

mod http;
mod resp;
mod simple;
#[cfg(test)]
mod test_support;

use simple::feed_line;

/// Longest HTTP head (status line, headers, blank line), and longest line a framer
/// needs whole (chunk size, trailer, RESP length). Longer is [`FrameError::TooLarge`].
/// It matches the caller's bound on leftovers, so a piece the framer waits for always
/// fits in what the caller keeps.
pub const MAX_HEAD: usize = 64 * 1024;

/// Most responses one framer can expect at once (requests pipelined on a connection).
pub const MAX_PIPELINE: usize = 64;

/// Most headers an HTTP response may carry; more is [`FrameError::TooLarge`]. They are
/// parsed into an array on the stack, so this bounds stack use (2 KiB), not heap.
pub const MAX_HEADERS: usize = 64;

/// How the responses of a target are delimited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Framing {
    /// The response is the request, echoed byte for byte.
    Echo,
    /// An HTTP/1.x response (Content-Length, chunked, or until close).
    Http,
    /// A line: everything up to and including the first `\n`.
    Line,
    /// Exactly this many bytes.
    Fixed(usize),
    /// One Redis (RESP2, and most of RESP3) value, nested aggregates included.
    Resp,
}

impl Framing {
    /// Parses a framing name: `echo`, `http`, `line`, `fixed:N` (N > 0) or `resp`.
    ///
    /// ```
    /// use loadgen::framing::Framing;
    /// assert_eq!(Framing::parse("fixed:64"), Ok(Framing::Fixed(64)));
    /// assert_eq!(Framing::parse("http").map(|f| f.name()), Ok("http".to_string()));
    /// assert!(Framing::parse("fixed:0").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Framing, String> {
        match s {
            "echo" => Ok(Framing::Echo),
            "http" => Ok(Framing::Http),
            "line" => Ok(Framing::Line),
            "resp" => Ok(Framing::Resp),
            _ => {
                let Some(n) = s.strip_prefix("fixed:") else {
                    return Err(format!(
                        "unknown framing {s:?} (expected echo, http, line, fixed:N or resp)"
                    ));
                };
                match n.parse::<usize>() {
                    // A zero-byte response would complete without reading anything,
                    // which measures nothing.
                    Ok(0) => Err("fixed:N needs N > 0".to_string()),
                    // `parse` accepts a leading '+'; the name would not round-trip.
                    Ok(n) if !s.contains('+') => Ok(Framing::Fixed(n)),
                    _ => Err(format!(
                        "fixed:N wants N as a decimal byte count, got {n:?}"
                    )),
                }
            }
        }
    }

    /// The name [`Framing::parse`] accepts for this framing, e.g. `"fixed:64"`.
    pub fn name(&self) -> String {
        match self {
            Framing::Echo => "echo".to_string(),
            Framing::Http => "http".to_string(),
            Framing::Line => "line".to_string(),
            Framing::Fixed(n) => format!("fixed:{n}"),
            Framing::Resp => "resp".to_string(),
        }
    }
}

/// A complete response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status code of the final response; `None` for other framings.
    pub status: Option<u16>,
    /// The server will close the connection after this response (HTTP
    /// `Connection: close`, HTTP/1.0 without keep-alive, a body that ends at close,
    /// `101 Switching Protocols`); always `false` for other framings.
    pub close: bool,
    /// Bytes of the response, everything consumed for it (HTTP interim `1xx`
    /// responses included).
    pub bytes: u64,
    /// A RESP error reply (`-ERR ...`, a RESP3 blob error `!`) at the top level: its
    /// first word (`ERR`, `WRONGTYPE`), so failures the server reports are counted as
    /// such; `None` for every other reply and framing.
    pub error: Option<ErrorWord>,
}

/// The first word of an error reply, inline (at most 15 bytes kept).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct ErrorWord {
    bytes: [u8; 15],
    len: u8,
}

impl ErrorWord {
    /// Keep `b` if it still belongs to the first word; false once the word ended.
    fn push(&mut self, b: u8) -> bool {
        if b == b' ' || b == b'\r' || b == b'\n' {
            return false;
        }
        if usize::from(self.len) < self.bytes.len() {
            self.bytes[usize::from(self.len)] = b;
            self.len += 1;
        }
        true
    }

    /// The word, lossily as text (`ERR`).
    pub(crate) fn as_string(&self) -> String {
        String::from_utf8_lossy(&self.bytes[..usize::from(self.len)]).into_owned()
    }
}

impl fmt::Debug for ErrorWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ErrorWord({:?})", self.as_string())
    }
}

/// Why the bytes read are not a valid response. After an error the framer is idle;
/// the connection's framing is lost, so the caller should close it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The bytes break the protocol; the text says which part.
    Malformed(&'static str),
    /// An echo differs from the request at this byte offset.
    EchoMismatch {
        /// Offset of the first differing byte, from the start of the response.
        offset: u64,
    },
    /// An HTTP head, or a line that must be read whole, exceeds [`MAX_HEAD`], or an
    /// HTTP response has more than [`MAX_HEADERS`] headers.
    TooLarge,
    /// Bytes arrived while no response was expected.
    Unexpected,
    /// The peer closed the connection in the middle of a response.
    Truncated,
}

impl FrameError {
    /// A short snake_case name for error tables: `malformed`, `echo_mismatch`,
    /// `too_large`, `unexpected`, `truncated`.
    pub fn kind(&self) -> &'static str {
        match self {
            FrameError::Malformed(_) => "malformed",
            FrameError::EchoMismatch { .. } => "echo_mismatch",
            FrameError::TooLarge => "too_large",
            FrameError::Unexpected => "unexpected",
            FrameError::Truncated => "truncated",
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Malformed(what) => write!(f, "malformed response: {what}"),
            FrameError::EchoMismatch { offset } => {
                write!(f, "echo differs from the request at byte {offset}")
            }
            FrameError::TooLarge => write!(
                f,
                "response head or line over {MAX_HEAD} bytes, or over {MAX_HEADERS} headers"
            ),
            FrameError::Unexpected => write!(f, "bytes received with no request outstanding"),
            FrameError::Truncated => write!(f, "connection closed in the middle of a response"),
        }
    }
}

impl std::error::Error for FrameError {}

/// The result of one [`Framer::feed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Feed {
    /// Bytes of the input that belong to the response and are done with; the caller
    /// drops them and keeps the rest (a partial piece, or the start of what follows).
    pub consumed: usize,
    /// The response, if this call completed it; it ends at `consumed`.
    pub done: Option<Response>,
}

/// The framing, reduced to what the hot path needs: `Copy`, no heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Echo,
    Http,
    Line,
    Fixed(u64),
    Resp,
}

/// Where in a response the framer is. Echo, line and fixed progress is `Framer::bytes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No response expected.
    Idle,
    Echo,
    Line,
    Fixed,
    /// Waiting for a whole HTTP head (a final one, or an interim 1xx).
    HttpHead,
    /// Content-Length body bytes still to come.
    HttpBody {
        left: u64,
    },
    /// Waiting for a whole chunk-size line.
    HttpChunkSize,
    /// Chunk data still to come.
    HttpChunkData {
        left: u64,
    },
    /// The CRLF after chunk data; `cr`: its `\r` was consumed already.
    HttpChunkEnd {
        cr: bool,
    },
    /// Waiting for a whole trailer line; an empty one ends the response.
    HttpTrailer,
    /// A body without length: everything until the peer closes.
    HttpUntilClose,
    /// The type byte of the next RESP value.
    RespType,
    /// The text of a `+`, `-`, `,` or `(` value, up to its CRLF; `cr`: the last byte
    /// consumed was `\r`.
    RespText {
        cr: bool,
    },
    /// Waiting for the rest of a line that must be parsed whole (a length, count,
    /// integer, ...) after the type byte `kind`.
    RespHeader {
        kind: u8,
    },
    /// Blob (`$`, `!`, `=`) bytes still to come.
    RespBlob {
        left: u64,
    },
    /// The CRLF after blob bytes.
    RespBlobEnd {
        cr: bool,
    },
}

/// What one step of the HTTP or RESP machine did with the rest of the input.
enum Progress {
    /// Consumed this many bytes and changed state; run the next step.
    More(usize),
    /// Consumed this many bytes; the rest is incomplete, wait for more input.
    Need(usize),
    /// Consumed this many bytes, which end the response.
    Done(usize),
}

/// Client-side framer for one connection: responses come in the order the requests
/// went out, so the framer keeps a FIFO of the responses it expects (each with its own
/// HEAD flag, up to [`MAX_PIPELINE`]) and frames them one after the other.
///
/// ```
/// use loadgen::framing::{Framer, Framing};
/// let mut f = Framer::new(&Framing::Http);
/// let request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
/// f.expect(false);
/// let part = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel";
/// let feed = f.feed(part, request).unwrap();
/// assert_eq!((feed.consumed, feed.done), (part.len(), None));
/// // The rest of the body and the start of a next response arrive together.
/// let feed = f.feed(b"loHTTP", request).unwrap();
/// assert_eq!(feed.consumed, 2);
/// let resp = feed.done.unwrap();
/// assert_eq!((resp.status, resp.bytes), (Some(200), part.len() as u64 + 2));
/// ```
#[derive(Clone, Debug)]
pub struct Framer {
    kind: Kind,
    state: State,
    /// Bytes consumed for the current response.
    bytes: u64,
    /// Some input was offered for the current response (consumed or held by the
    /// caller): the peer closing now truncates it.
    seen: bool,
    /// The request was HEAD: the response has no body whatever its headers say.
    head: bool,
    /// Bytes of the pending piece (head or line, from its start) already searched,
    /// so that a re-offered piece is not searched again.
    scan: usize,
    /// Start of the current line in a pending HTTP head, relative to the head start.
    line_start: usize,
    /// Final HTTP status.
    status: Option<u16>,
    /// The connection closes after this response.
    close: bool,
    /// RESP values still needed to complete the top-level one.
    pending: u64,
    /// RESP: the next type byte is the reply's first (its top level).
    resp_top: bool,
    /// RESP: a top-level error reply's first word, while it is read and after.
    error: Option<ErrorWord>,
    /// RESP: the first word of `error` is still arriving.
    error_open: bool,
    /// Responses expected after the current one, oldest in bit 0: a set bit is a HEAD
    /// request. `queued` of them; a `u64` keeps the FIFO inline and bounded.
    queued_heads: u64,
    queued: u8,
}

impl Framer {
    /// A framer for `framing`, expecting nothing yet.
    pub fn new(framing: &Framing) -> Framer {
        let kind = match *framing {
            Framing::Echo => Kind::Echo,
            Framing::Http => Kind::Http,
            Framing::Line => Kind::Line,
            // usize is at most 64 bits on every supported target.
            Framing::Fixed(n) => Kind::Fixed(n as u64),
            Framing::Resp => Kind::Resp,
        };
        Framer {
            kind,
            state: State::Idle,
            bytes: 0,
            seen: false,
            head: false,
            scan: 0,
            line_start: 0,
            status: None,
            close: false,
            pending: 0,
            resp_top: false,
            error: None,
            error_open: false,
            queued_heads: 0,
            queued: 0,
        }
    }

    /// A request was sent: expect its response, after the ones already expected.
    /// `head`: the request was HTTP `HEAD`, so its response has no body. Returns false
    /// (and expects nothing) when [`MAX_PIPELINE`] responses are already expected.
    pub fn expect(&mut self, head: bool) -> bool {
        if self.state == State::Idle {
            self.begin(head);
            return true;
        }
        if usize::from(self.queued) + 1 >= MAX_PIPELINE {
            return false;
        }
        self.queued_heads |= u64::from(head) << self.queued;
        self.queued += 1;
        true
    }

    /// Responses expected and not yet complete (the one in progress included).
    pub fn expected(&self) -> usize {
        if self.state == State::Idle {
            0
        } else {
            1 + usize::from(self.queued)
        }
    }

    /// Start framing the next response.
    fn begin(&mut self, head: bool) {
        self.state = match self.kind {
            Kind::Echo => State::Echo,
            Kind::Http => State::HttpHead,
            Kind::Line => State::Line,
            Kind::Fixed(_) => State::Fixed,
            Kind::Resp => State::RespType,
        };
        self.bytes = 0;
        self.seen = false;
        self.head = head;
        self.scan = 0;
        self.line_start = 0;
        self.status = None;
        self.close = false;
        self.pending = 1;
        self.resp_top = true;
        self.error = None;
        self.error_open = false;
    }

    /// The current response is done: the next expected one starts, if any.
    fn next_expected(&mut self) {
        if self.queued == 0 {
            self.state = State::Idle;
            return;
        }
        let head = self.queued_heads & 1 == 1;
        self.queued_heads >>= 1;
        self.queued -= 1;
        self.begin(head);
    }

    /// Feeds bytes read. `input` must start with the bytes the previous call left
    /// unconsumed (the framer remembers how far it searched them). `request` is the
    /// request just sent: [`Framing::Echo`] compares the reply against it, and it must
    /// be the same on every call for one response.
    ///
    /// Stops right after one complete response (the next expected one, if any, is
    /// then in progress). Bytes while no response is expected are
    /// [`FrameError::Unexpected`]. After an error the framer is idle and expects
    /// nothing.
    pub fn feed(&mut self, input: &[u8], request: &[u8]) -> Result<Feed, FrameError> {
        if self.state == State::Idle {
            return if input.is_empty() {
                Ok(Feed {
                    consumed: 0,
                    done: None,
                })
            } else {
                Err(FrameError::Unexpected)
            };
        }
        if !input.is_empty() {
            self.seen = true;
        }
        let step = match self.kind {
            Kind::Echo => self.feed_echo(input, request),
            Kind::Line => Ok(feed_line(input)),
            Kind::Fixed(n) => Ok(self.feed_fixed(n, input)),
            Kind::Http => self.run(input, Framer::step_http),
            Kind::Resp => self.run(input, Framer::step_resp),
        };
        match step {
            Ok(Progress::Done(n)) => {
                let resp = Response {
                    status: self.status,
                    close: self.close,
                    bytes: self.bytes + n as u64,
                    error: self.error,
                };
                self.next_expected();
                Ok(Feed {
                    consumed: n,
                    done: Some(resp),
                })
            }
            Ok(Progress::Need(n) | Progress::More(n)) => {
                self.bytes += n as u64;
                Ok(Feed {
                    consumed: n,
                    done: None,
                })
            }
            Err(e) => {
                self.abandon();
                Err(e)
            }
        }
    }

    /// Expect nothing any more (an error, the connection closing).
    fn abandon(&mut self) {
        self.state = State::Idle;
        self.queued = 0;
        self.queued_heads = 0;
    }

    /// The peer closed. Completes a response that ends at close (an HTTP body
    /// without length); else [`FrameError::Truncated`] if a response was in
    /// progress, `Ok(None)` if none was (even if one was expected: the caller knows
    /// whether a request was outstanding). The framer is idle afterwards.
    pub fn on_eof(&mut self) -> Result<Option<Response>, FrameError> {
        let state = std::mem::replace(&mut self.state, State::Idle);
        self.queued = 0;
        self.queued_heads = 0;
        match state {
            State::HttpUntilClose => Ok(Some(Response {
                status: self.status,
                close: true,
                bytes: self.bytes,
                error: None,
            })),
            State::Idle => Ok(None),
            _ if self.seen => Err(FrameError::Truncated),
            _ => Ok(None),
        }
    }

    /// Whether a response is in progress: expected, and some of it seen.
    pub fn in_progress(&self) -> bool {
        self.state != State::Idle && self.seen
    }

    /// Runs `step` over the input until it needs more or the response is done.
    /// Generic rather than a fn pointer so that each step machine is inlined here.
    fn run<F>(&mut self, input: &[u8], step: F) -> Result<Progress, FrameError>
    where
        F: Fn(&mut Framer, &[u8]) -> Result<Progress, FrameError>,
    {
        let mut pos = 0;
        loop {
            // Steps never report more than they were given, so pos <= input.len().
            let rest = input.get(pos..).unwrap_or(&[]);
            match step(self, rest)? {
                Progress::More(n) => pos += n,
                Progress::Need(n) => return Ok(Progress::Need(pos + n)),
                Progress::Done(n) => return Ok(Progress::Done(pos + n)),
            }
        }
    }

    /// Finds the `\n` ending the line at the start of `rest`, resuming the search
    /// where the last call stopped. `None`: not there yet (or Err if the line is
    /// already too long to wait for).
    fn line(&mut self, rest: &[u8]) -> Result<Option<usize>, FrameError> {
        let from = self.scan.min(rest.len());
        match memchr(b'\n', &rest[from..]) {
            Some(i) => {
                self.scan = 0;
                Ok(Some(from + i))
            }
            None if rest.len() > MAX_HEAD => Err(FrameError::TooLarge),
            None => {
                self.scan = rest.len();
                Ok(None)
            }
        }
    }
}

/// How many of `left` body bytes `rest` holds.
fn take(left: u64, rest: &[u8]) -> usize {
    // The min is at most rest.len(), so the cast back to usize is lossless.
    left.min(rest.len() as u64) as usize
}

/// Matches a CRLF at the start of `rest`, byte by byte so a split between `\r` and
/// `\n` leaves nothing to re-offer. `cr`: the `\r` was consumed already. Returns the
/// bytes consumed and whether the CRLF is complete.
fn crlf(cr: bool, rest: &[u8], what: &'static str) -> Result<(usize, bool), FrameError> {
    let mut i = 0;
    if !cr {
        match rest.first() {
            None => return Ok((0, false)),
            Some(b'\r') => i = 1,
            Some(_) => return Err(FrameError::Malformed(what)),
        }
    }
    match rest.get(i) {
        None => Ok((i, false)),
        Some(b'\n') => Ok((i + 1, true)),
        Some(_) => Err(FrameError::Malformed(what)),
    }
}

#[cfg(test)]
mod tests {
    //! Behaviour common to every framing: names, errors, idle and eof handling, and
    //! random input through all of them. Each family's own cases are in its file.

    use super::test_support::{drive, expecting, plain, text};
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    // ---- Framing names ----

    #[test]
    fn test_parse_names_round_trip() {
        for f in [
            Framing::Echo,
            Framing::Http,
            Framing::Line,
            Framing::Fixed(64),
            Framing::Resp,
        ] {
            assert_eq!(Framing::parse(&f.name()), Ok(f.clone()), "{f:?}");
        }
        assert_eq!(Framing::Fixed(64).name(), "fixed:64");
    }

    #[test]
    fn test_parse_bad_names_rejected() {
        for bad in [
            "", "HTTP", "fixed", "fixed:", "fixed:0", "fixed:-1", "fixed:+5", "fixed:x", "tcp",
        ] {
            assert!(Framing::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn test_error_kind_and_display() {
        let cases = [
            (
                FrameError::Malformed("chunk size"),
                "malformed",
                "chunk size",
            ),
            (
                FrameError::EchoMismatch { offset: 7 },
                "echo_mismatch",
                "byte 7",
            ),
            (FrameError::TooLarge, "too_large", "65536"),
            (FrameError::Unexpected, "unexpected", "no request"),
            (FrameError::Truncated, "truncated", "closed"),
        ];
        for (e, kind, shown) in cases {
            assert_eq!(e.kind(), kind);
            assert!(e.to_string().contains(shown), "{e}");
        }
    }

    // ---- Idle, expect, eof ----

    #[test]
    fn test_idle_bytes_unexpected() {
        let mut f = Framer::new(&Framing::Http);
        assert_eq!(
            f.feed(b"HTTP/1.1 200 OK\r\n", b""),
            Err(FrameError::Unexpected)
        );
        assert_eq!(
            f.feed(b"", b""),
            Ok(Feed {
                consumed: 0,
                done: None
            }),
            "no bytes, no error"
        );
        assert!(!f.in_progress());
    }

    #[test]
    fn test_done_next_bytes_unexpected() {
        let mut f = expecting(&Framing::Line, false);
        let feed = f.feed(b"a\nb\n", b"").unwrap();
        assert_eq!(feed.consumed, 2);
        assert_eq!(feed.done, Some(plain(2)));
        assert_eq!(f.feed(b"b\n", b""), Err(FrameError::Unexpected));
        f.expect(false);
        assert_eq!(f.feed(b"b\n", b"").unwrap().done, Some(plain(2)));
    }

    #[test]
    fn test_idle_eof_none() {
        let mut f = Framer::new(&Framing::Resp);
        assert_eq!(f.on_eof(), Ok(None));
    }

    #[test]
    fn test_expecting_eof_before_any_byte_none() {
        for framing in [
            Framing::Echo,
            Framing::Http,
            Framing::Line,
            Framing::Fixed(3),
            Framing::Resp,
        ] {
            let mut f = expecting(&framing, false);
            assert!(!f.in_progress());
            assert_eq!(f.on_eof(), Ok(None), "{framing:?}");
            assert_eq!(
                f.feed(b"x", b"x"),
                Err(FrameError::Unexpected),
                "idle after eof"
            );
        }
    }

    #[test]
    fn test_partial_eof_truncated() {
        let cases: [(Framing, &[u8]); 9] = [
            (Framing::Echo, b"hel"),
            (Framing::Line, b"no newline"),
            (Framing::Fixed(10), b"12345"),
            // A partial head the framer left unconsumed still counts as seen.
            (Framing::Http, b"HTTP/1.1 200 OK\r\nConte"),
            (
                Framing::Http,
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab",
            ),
            (
                Framing::Http,
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            ),
            (Framing::Resp, b"+OK"),
            (Framing::Resp, b"$5\r\nab"),
            (Framing::Resp, b"*2\r\n:1\r\n"),
        ];
        for (framing, input) in cases {
            let mut f = expecting(&framing, false);
            let out = drive(&mut f, [input], b"hello");
            assert_eq!(out.result, Ok(None), "{framing:?} {:?}", text(input));
            assert!(f.in_progress());
            assert_eq!(f.on_eof(), Err(FrameError::Truncated), "{framing:?}");
            assert!(!f.in_progress());
        }
    }

    #[test]
    fn test_expect_queues_behind_the_response_in_progress() {
        let mut f = expecting(&Framing::Fixed(4), false);
        assert_eq!(f.feed(b"ab", b"").unwrap().consumed, 2);
        assert!(f.in_progress());
        // A second request (pipelined): its response comes after the first one.
        assert!(f.expect(false));
        assert_eq!(f.expected(), 2);
        assert_eq!(f.feed(b"cdef", b"").unwrap().done, Some(plain(4)));
        assert_eq!(f.expected(), 1, "the first is done, the second begins");
        assert!(!f.in_progress(), "nothing of the second seen yet");
        assert_eq!(f.feed(b"efgh", b"").unwrap().done, Some(plain(4)));
        assert_eq!(f.expected(), 0);
        assert_eq!(f.feed(b"x", b""), Err(FrameError::Unexpected));
    }

    #[test]
    fn test_pipeline_of_http_heads_with_their_own_head_flags() {
        let mut f = Framer::new(&Framing::Http);
        assert!(f.expect(false));
        assert!(f.expect(true)); // a HEAD: its Content-Length announces no body
        assert!(f.expect(false));
        let two = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
        let mut all = Vec::new();
        all.extend_from_slice(two);
        all.extend_from_slice(head);
        all.extend_from_slice(two);
        let mut at = 0;
        let mut sizes = Vec::new();
        while at < all.len() {
            let feed = f.feed(&all[at..], b"").unwrap();
            at += feed.consumed;
            sizes.push(feed.done.expect("whole responses").bytes as usize);
        }
        assert_eq!(sizes, [two.len(), head.len(), two.len()]);
        // The FIFO is bounded.
        let mut f = Framer::new(&Framing::Line);
        let taken = (0..MAX_PIPELINE + 5).filter(|_| f.expect(false)).count();
        assert_eq!(taken, MAX_PIPELINE);
    }

    // ---- Robustness ----

    /// Fragments that steer random input into the deeper states of each framer.
    const FRAGMENTS: &[&[u8]] = &[
        b"HTTP/1.1 ",
        b"HTTP/1.0 ",
        b"200 OK",
        b"100 Continue",
        b"204 N",
        b"\r\n",
        b"\n",
        b"\r",
        b"Content-Length: ",
        b"Transfer-Encoding: chunked",
        b"Connection: close",
        b": ",
        b"0",
        b"5",
        b"ff",
        b";x=y",
        b"-1",
        b"$",
        b"*",
        b":",
        b"+",
        b"-",
        b"%",
        b"~",
        b"|",
        b"_",
        b"#",
        b",",
        b"(",
        b"!",
        b"=",
        b"2",
        b"hello",
    ];

    #[test]
    fn test_random_bytes_never_panic() {
        let mut rng = StdRng::seed_from_u64(0x5eed_f4a3);
        let framings = [
            Framing::Echo,
            Framing::Http,
            Framing::Line,
            Framing::Fixed(7),
            Framing::Resp,
        ];
        let mut outcomes = [0u32; 3];
        for round in 0..20_000 {
            let mut input = Vec::new();
            let parts = rng.gen_range(0..24);
            for _ in 0..parts {
                if rng.gen_bool(0.7) {
                    input.extend_from_slice(FRAGMENTS[rng.gen_range(0..FRAGMENTS.len())]);
                } else {
                    let n = rng.gen_range(1..8);
                    input.extend((0..n).map(|_| rng.gen::<u8>()));
                }
            }
            // Random cut points: 0..4 splits anywhere.
            let mut cuts: Vec<usize> = (0..rng.gen_range(0..4))
                .map(|_| rng.gen_range(0..=input.len()))
                .collect();
            cuts.sort_unstable();
            let mut pieces = Vec::new();
            let mut last = 0;
            for c in cuts.into_iter().chain([input.len()]) {
                pieces.push(&input[last..c]);
                last = c;
            }
            let framing = &framings[round % framings.len()];
            let mut f = expecting(framing, rng.gen_bool(0.1));
            let request = &input[..input.len() / 2];
            let out = drive(&mut f, pieces, request);
            let slot = match out.result {
                Ok(Some(_)) => 0,
                Ok(None) => {
                    // An unfinished response ends one way or the other at close.
                    match f.on_eof() {
                        Ok(Some(r)) => assert!(r.close && r.status.is_some()),
                        Ok(None) => assert!(input.is_empty()),
                        Err(e) => assert_eq!(e, FrameError::Truncated),
                    }
                    1
                }
                Err(_) => 2,
            };
            outcomes[slot] += 1;
        }
        // The generator reaches every outcome, so the test exercises real paths.
        assert!(outcomes.iter().all(|&n| n > 500), "outcomes {outcomes:?}");
    }
}
