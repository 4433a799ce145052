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

// `trim` and `parse_u64` are the server's: one definition of HTTP's whitespace and
// of a Content-Length number for both sides.
use httparse::{Header, ParserConfig, Status};
use memchr::memchr;
use readyloop::protocol::http::{parse_u64, trim};
use std::fmt;
use std::mem::MaybeUninit;

/// Longest HTTP head (status line, headers, blank line), and longest line a framer
/// needs whole (chunk size, trailer, RESP length). Longer is [`FrameError::TooLarge`].
/// It matches the caller's bound on leftovers, so a piece the framer waits for always
/// fits in what the caller keeps.
pub const MAX_HEAD: usize = 64 * 1024;

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

/// Client-side framer for one connection: one response expected at a time.
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
        }
    }

    /// A request was sent: expect its response. `head`: the request was HTTP `HEAD`,
    /// so the response has no body. Any response in progress is abandoned: one
    /// response is expected at a time (no pipelining).
    pub fn expect(&mut self, head: bool) {
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
    }

    /// Feeds bytes read. `input` must start with the bytes the previous call left
    /// unconsumed (the framer remembers how far it searched them). `request` is the
    /// request just sent: [`Framing::Echo`] compares the reply against it, and it must
    /// be the same on every call for one response.
    ///
    /// Stops right after one complete response. Bytes while no response is expected
    /// are [`FrameError::Unexpected`]. After an error the framer is idle.
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
            Kind::Line => Ok(match memchr(b'\n', input) {
                Some(p) => Progress::Done(p + 1),
                None => Progress::Need(input.len()),
            }),
            Kind::Fixed(n) => {
                // bytes <= n always (at most `left` is consumed); saturate anyway.
                let left = n.saturating_sub(self.bytes);
                // The min is at most input.len(), so the cast back is lossless.
                let k = left.min(input.len() as u64) as usize;
                Ok(if k as u64 == left {
                    Progress::Done(k)
                } else {
                    Progress::Need(k)
                })
            }
            Kind::Http => self.run(input, Framer::step_http),
            Kind::Resp => self.run(input, Framer::step_resp),
        };
        match step {
            Ok(Progress::Done(n)) => {
                let resp = Response {
                    status: self.status,
                    close: self.close,
                    bytes: self.bytes + n as u64,
                };
                self.state = State::Idle;
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
                self.state = State::Idle;
                Err(e)
            }
        }
    }

    /// The peer closed. Completes a response that ends at close (an HTTP body
    /// without length); else [`FrameError::Truncated`] if a response was in
    /// progress, `Ok(None)` if none was (even if one was expected: the caller knows
    /// whether a request was outstanding). The framer is idle afterwards.
    pub fn on_eof(&mut self) -> Result<Option<Response>, FrameError> {
        let state = std::mem::replace(&mut self.state, State::Idle);
        match state {
            State::HttpUntilClose => Ok(Some(Response {
                status: self.status,
                close: true,
                bytes: self.bytes,
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

    /// Compares the input with the part of the request not yet echoed.
    fn feed_echo(&mut self, input: &[u8], request: &[u8]) -> Result<Progress, FrameError> {
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

    /// One step of HTTP at the start of `rest`.
    fn step_http(&mut self, rest: &[u8]) -> Result<Progress, FrameError> {
        match self.state {
            State::HttpHead => self.http_head(rest),
            State::HttpBody { left } => {
                let k = take(left, rest);
                if k as u64 == left {
                    Ok(Progress::Done(k))
                } else {
                    self.state = State::HttpBody {
                        left: left - k as u64,
                    };
                    Ok(Progress::Need(k))
                }
            }
            State::HttpChunkSize => {
                let Some(p) = self.line(rest)? else {
                    return Ok(Progress::Need(0));
                };
                let line = &rest[..p];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let size = parse_chunk_size(line).ok_or(FrameError::Malformed("chunk size"))?;
                self.state = if size == 0 {
                    State::HttpTrailer
                } else {
                    State::HttpChunkData { left: size }
                };
                Ok(Progress::More(p + 1))
            }
            State::HttpChunkData { left } => {
                let k = take(left, rest);
                if k as u64 == left {
                    self.state = State::HttpChunkEnd { cr: false };
                    Ok(Progress::More(k))
                } else {
                    self.state = State::HttpChunkData {
                        left: left - k as u64,
                    };
                    Ok(Progress::Need(k))
                }
            }
            State::HttpChunkEnd { cr } => {
                match crlf(cr, rest, "chunk data not followed by CRLF")? {
                    (n, true) => {
                        self.state = State::HttpChunkSize;
                        Ok(Progress::More(n))
                    }
                    (n, false) => {
                        self.state = State::HttpChunkEnd { cr: cr || n > 0 };
                        Ok(Progress::Need(n))
                    }
                }
            }
            State::HttpTrailer => {
                let Some(p) = self.line(rest)? else {
                    return Ok(Progress::Need(0));
                };
                // Trailer fields are not used; only the empty line that ends them is.
                if p == 0 || (p == 1 && rest.first() == Some(&b'\r')) {
                    Ok(Progress::Done(p + 1))
                } else {
                    Ok(Progress::More(p + 1))
                }
            }
            State::HttpUntilClose => Ok(Progress::Need(rest.len())),
            _ => Err(FrameError::Malformed("framer state")),
        }
    }

    /// Looks for a complete head at the start of `rest` and decides how the body is
    /// framed.
    ///
    /// The one place where the result depends on how the bytes were split into reads:
    /// a head that is still partial when a read ends is searched line by line from
    /// then on and handed to httparse only once its blank line arrives, so a malformed
    /// byte in it is reported then, as [`FrameError::TooLarge`] if the head passes
    /// [`MAX_HEAD`] first, or not at all if the peer closes first
    /// ([`FrameError::Truncated`]); in one read with it, it is reported at once. The
    /// connection is closed either way. (`fuzz/src/framing_check.rs` checks that this
    /// is the only difference.)
    fn http_head(&mut self, rest: &[u8]) -> Result<Progress, FrameError> {
        if self.scan == 0 {
            // The common case: the whole head arrived at once, and httparse alone
            // looks at it once.
            if let Some((n, info)) = parse_head(rest)? {
                return self.after_head(n, info);
            }
        }
        // A partial head: find its end line by line, resuming where the last call
        // stopped, and hand it to httparse only once it is whole. Re-parsing the
        // whole head on every arrival would be quadratic in the number of pieces.
        loop {
            let from = self.scan.min(rest.len());
            let Some(i) = memchr(b'\n', &rest[from..]) else {
                self.scan = rest.len();
                if rest.len() > MAX_HEAD {
                    return Err(FrameError::TooLarge);
                }
                return Ok(Progress::Need(0));
            };
            let p = from + i;
            self.scan = p + 1;
            let line = rest.get(self.line_start..p).unwrap_or(&[]);
            if line.is_empty() || line == b"\r" {
                // Leading blank lines, which httparse skips, also land here; it then
                // says Partial and the search goes on.
                if let Some((n, info)) = parse_head(&rest[..=p])? {
                    return self.after_head(n, info);
                }
            }
            self.line_start = p + 1;
        }
    }

    /// A head of `n` bytes was parsed: skip it if interim, else set up the body.
    fn after_head(&mut self, n: usize, info: HeadInfo) -> Result<Progress, FrameError> {
        if n > MAX_HEAD {
            return Err(FrameError::TooLarge);
        }
        self.scan = 0;
        self.line_start = 0;
        let code = info.code;
        if (100..200).contains(&code) && code != 101 {
            // Interim (100 Continue, 103 Early Hints): the final head follows.
            return Ok(Progress::More(n));
        }
        self.status = Some(code);
        // 1.1 defaults to keep-alive, 1.0 to close; `close` wins over `keep-alive`.
        self.close = info.close || (info.http10 && !info.keep_alive);
        if code == 101 {
            // The connection now speaks another protocol: nothing more to frame here.
            self.close = true;
            return Ok(Progress::Done(n));
        }
        if self.head || code == 204 || code == 304 {
            return Ok(Progress::Done(n));
        }
        // RFC 9112 6.3: Transfer-Encoding overrides Content-Length; a final encoding
        // other than chunked (or none) leaves only the close to end the body.
        match info.te {
            Te::Chunked => {
                self.state = State::HttpChunkSize;
                return Ok(Progress::More(n));
            }
            Te::Other => {
                self.state = State::HttpUntilClose;
                self.close = true;
                return Ok(Progress::More(n));
            }
            Te::None => {}
        }
        if info.bad_length {
            return Err(FrameError::Malformed("content-length"));
        }
        match info.length {
            Some(0) => Ok(Progress::Done(n)),
            Some(len) => {
                self.state = State::HttpBody { left: len };
                Ok(Progress::More(n))
            }
            None => {
                self.state = State::HttpUntilClose;
                self.close = true;
                Ok(Progress::More(n))
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

    /// One step of RESP at the start of `rest`.
    fn step_resp(&mut self, rest: &[u8]) -> Result<Progress, FrameError> {
        match self.state {
            State::RespType => {
                let Some(&kind) = rest.first() else {
                    return Ok(Progress::Need(0));
                };
                self.state = match kind {
                    // Free text: consumed progressively, however long.
                    b'+' | b'-' | b',' | b'(' => State::RespText { cr: false },
                    b':' | b'$' | b'*' | b'_' | b'#' | b'%' | b'~' | b'>' | b'|' | b'!' | b'=' => {
                        State::RespHeader { kind }
                    }
                    _ => return Err(FrameError::Malformed("resp type byte")),
                };
                Ok(Progress::More(1))
            }
            State::RespText { cr } => match memchr(b'\n', rest) {
                Some(p) => {
                    let before = if p == 0 { cr } else { rest[p - 1] == b'\r' };
                    if !before {
                        return Err(FrameError::Malformed("resp line not ended by CRLF"));
                    }
                    Ok(self.resp_value_done(p + 1))
                }
                None => {
                    let cr = rest.last().map_or(cr, |&b| b == b'\r');
                    self.state = State::RespText { cr };
                    Ok(Progress::Need(rest.len()))
                }
            },
            State::RespHeader { kind } => {
                let Some(p) = self.line(rest)? else {
                    return Ok(Progress::Need(0));
                };
                let line = rest[..p]
                    .strip_suffix(b"\r")
                    .ok_or(FrameError::Malformed("resp line not ended by CRLF"))?;
                self.resp_header(kind, line, p + 1)
            }
            State::RespBlob { left } => {
                let k = take(left, rest);
                if k as u64 == left {
                    self.state = State::RespBlobEnd { cr: false };
                    Ok(Progress::More(k))
                } else {
                    self.state = State::RespBlob {
                        left: left - k as u64,
                    };
                    Ok(Progress::Need(k))
                }
            }
            State::RespBlobEnd { cr } => match crlf(cr, rest, "resp blob not followed by CRLF")? {
                (n, true) => Ok(self.resp_value_done(n)),
                (n, false) => {
                    self.state = State::RespBlobEnd { cr: cr || n > 0 };
                    Ok(Progress::Need(n))
                }
            },
            _ => Err(FrameError::Malformed("framer state")),
        }
    }

    /// A whole RESP line after the type byte `kind`; `n` bytes with its CRLF.
    fn resp_header(&mut self, kind: u8, line: &[u8], n: usize) -> Result<Progress, FrameError> {
        match kind {
            b':' => {
                parse_i64(line).ok_or(FrameError::Malformed("resp integer"))?;
                Ok(self.resp_value_done(n))
            }
            b'_' if line.is_empty() => Ok(self.resp_value_done(n)),
            b'_' => Err(FrameError::Malformed("resp null")),
            b'#' if line == b"t" || line == b"f" => Ok(self.resp_value_done(n)),
            b'#' => Err(FrameError::Malformed("resp boolean")),
            b'$' | b'!' | b'=' => match parse_i64(line) {
                // RESP2 null bulk string.
                Some(-1) if kind == b'$' => Ok(self.resp_value_done(n)),
                Some(0) => {
                    self.state = State::RespBlobEnd { cr: false };
                    Ok(Progress::More(n))
                }
                Some(len) if len > 0 => {
                    self.state = State::RespBlob { left: len as u64 };
                    Ok(Progress::More(n))
                }
                _ => Err(FrameError::Malformed("resp length")),
            },
            _ => {
                // Aggregates: `*` array, `~` set, `>` push hold n values; `%` map and
                // `|` attribute hold n pairs. An attribute annotates the value that
                // follows it, so that value is still pending after it.
                let count = match parse_i64(line) {
                    Some(-1) if kind == b'*' => return Ok(self.resp_value_done(n)),
                    Some(c) if c >= 0 => c as u64,
                    _ => return Err(FrameError::Malformed("resp length")),
                };
                let values = if kind == b'%' || kind == b'|' {
                    count.checked_mul(2)
                } else {
                    Some(count)
                };
                let own = u64::from(kind != b'|');
                // pending >= 1 here: a value was being read.
                self.pending = values
                    .and_then(|v| (self.pending - own).checked_add(v))
                    .ok_or(FrameError::Malformed("resp length"))?;
                if self.pending == 0 {
                    return Ok(Progress::Done(n));
                }
                self.state = State::RespType;
                Ok(Progress::More(n))
            }
        }
    }

    /// A RESP value ended with these `n` bytes: the response is done if it was the
    /// last one pending.
    fn resp_value_done(&mut self, n: usize) -> Progress {
        self.pending = self.pending.saturating_sub(1);
        if self.pending == 0 {
            Progress::Done(n)
        } else {
            self.state = State::RespType;
            Progress::More(n)
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

/// How the response's body is transfer-encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Te {
    None,
    Chunked,
    /// An encoding list not ending in `chunked`: the body ends at close.
    Other,
}

/// What the head said that framing needs.
#[derive(Clone, Copy, Debug)]
struct HeadInfo {
    code: u16,
    http10: bool,
    close: bool,
    keep_alive: bool,
    length: Option<u64>,
    bad_length: bool,
    te: Te,
}

/// Parses a head at the start of `buf`: `Some((length, info))` when complete,
/// `None` when partial.
fn parse_head(buf: &[u8]) -> Result<Option<(usize, HeadInfo)>, FrameError> {
    // Left uninitialised: zeroing 64 headers per response would cost more than
    // parsing a small head.
    let mut headers = [MaybeUninit::<Header<'_>>::uninit(); MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let n = match ParserConfig::default().parse_response_with_uninit_headers(
        &mut resp,
        buf,
        &mut headers,
    ) {
        Ok(Status::Complete(n)) => n,
        Ok(Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(FrameError::TooLarge),
        Err(httparse::Error::Version) => return Err(FrameError::Malformed("http version")),
        Err(httparse::Error::Status) => return Err(FrameError::Malformed("http status line")),
        Err(_) => return Err(FrameError::Malformed("http header")),
    };
    let mut info = HeadInfo {
        // Complete means both were parsed; the defaults are never used.
        code: resp.code.unwrap_or(0),
        http10: resp.version == Some(0),
        close: false,
        keep_alive: false,
        length: None,
        bad_length: false,
        te: Te::None,
    };
    for h in resp.headers.iter() {
        let name = h.name.as_bytes();
        // Compare lengths first: one integer compare rules out almost every header.
        match name.len() {
            10 if name.eq_ignore_ascii_case(b"connection") => {
                for token in h.value.split(|&b| b == b',') {
                    let token = trim(token);
                    if token.eq_ignore_ascii_case(b"close") {
                        info.close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        info.keep_alive = true;
                    }
                }
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                // The same length repeated is allowed (RFC 9110 8.6); differing
                // lengths leave the end of the body unknown.
                match parse_u64(trim(h.value)) {
                    Some(v) if info.length.unwrap_or(v) == v => info.length = Some(v),
                    _ => info.bad_length = true,
                }
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                // Several fields form one list: the last non-empty token decides.
                if let Some(last) = h
                    .value
                    .split(|&b| b == b',')
                    .map(trim)
                    .rfind(|t| !t.is_empty())
                {
                    info.te = if last.eq_ignore_ascii_case(b"chunked") {
                        Te::Chunked
                    } else {
                        Te::Other
                    };
                }
            }
            _ => {}
        }
    }
    Ok(Some((n, info)))
}

/// A chunk-size line without its line end: hex digits, then optional whitespace and
/// `;extensions`, which are ignored.
fn parse_chunk_size(line: &[u8]) -> Option<u64> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return None;
    }
    let (hex, rest) = line.split_at(digits);
    let rest = trim(rest);
    if !(rest.is_empty() || rest.first() == Some(&b';')) {
        return None;
    }
    hex.iter().try_fold(0u64, |acc, &b| {
        // is_ascii_hexdigit above guarantees to_digit succeeds.
        let d = (b as char).to_digit(16)?;
        acc.checked_mul(16)?.checked_add(u64::from(d))
    })
}

/// A decimal i64 as RESP writes it: an optional `-` (or `+`), then digits.
fn parse_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, s),
    };
    let v = i64::try_from(parse_u64(digits)?).ok();
    match (neg, v) {
        (false, v) => v,
        (true, Some(v)) => Some(-v),
        // i64::MIN has no positive counterpart; accept it for `:` integers.
        (true, None) if digits == b"9223372036854775808" => Some(i64::MIN),
        (true, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// What a simulated caller saw.
    #[derive(Debug, PartialEq, Eq)]
    struct Outcome {
        /// The response, `None` if the pieces ended first, or the error.
        result: Result<Option<Response>, FrameError>,
        /// Bytes left with the caller: unconsumed input, then any pieces not fed.
        leftover: Vec<u8>,
        /// Largest leftover held between feeds while the response was incomplete.
        max_leftover: usize,
    }

    /// Simulates the caller: each piece is joined to the leftover and fed once; the
    /// consumed prefix is dropped. Stops feeding at the first response or error;
    /// later pieces just accumulate in the leftover. Checks that `consumed` stays in
    /// bounds and that a response's `bytes` is what was consumed for it.
    #[track_caller]
    fn drive<'a>(
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
    fn expecting(framing: &Framing, head: bool) -> Framer {
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
    fn assert_splits(
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
    fn plain(bytes: usize) -> Response {
        Response {
            status: None,
            close: false,
            bytes: bytes as u64,
        }
    }

    /// An HTTP response summary.
    fn http(status: u16, close: bool, bytes: usize) -> Response {
        Response {
            status: Some(status),
            close,
            bytes: bytes as u64,
        }
    }

    /// Feeds `input` whole to a fresh framer and returns the error.
    #[track_caller]
    fn feed_err(framing: &Framing, head: bool, input: &[u8]) -> FrameError {
        let mut f = expecting(framing, head);
        match drive(&mut f, [input], b"").result {
            Err(e) => e,
            other => panic!("expected an error for {:?}, got {other:?}", text(input)),
        }
    }

    fn text(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

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
    fn test_in_progress_expect_abandons() {
        let mut f = expecting(&Framing::Fixed(4), false);
        assert_eq!(f.feed(b"ab", b"").unwrap().consumed, 2);
        assert!(f.in_progress());
        f.expect(false);
        assert!(!f.in_progress());
        assert_eq!(f.feed(b"abcd", b"").unwrap().done, Some(plain(4)));
    }

    // ---- Echo, line, fixed ----

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

    // ---- HTTP ----

    const HELLO: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!";

    #[test]
    fn test_http_head_content_length_split_anywhere() {
        assert_splits(
            &Framing::Http,
            false,
            b"",
            HELLO,
            http(200, false, HELLO.len()),
        );
    }

    #[test]
    fn test_http_head_chunked_extensions_trailers_split_anywhere() {
        let resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
            5;name=value;x\r\nhello\r\n\
            1A \t; ext=\"q\"\r\nabcdefghijklmnopqrstuvwxyz\r\n\
            0\r\nExpires: never\r\nX-Sum: 42\r\n\r\n";
        assert_splits(
            &Framing::Http,
            false,
            b"",
            resp,
            http(200, false, resp.len()),
        );
        let bare = b"HTTP/1.1 404 Not Found\r\ntransfer-encoding: CHUNKED\r\n\r\n0\r\n\r\n";
        assert_splits(
            &Framing::Http,
            false,
            b"",
            bare,
            http(404, false, bare.len()),
        );
    }

    #[test]
    fn test_http_head_continue_then_200_split_anywhere() {
        let resp = [
            &b"HTTP/1.1 100 Continue\r\n\r\n"[..],
            b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
            HELLO,
        ]
        .concat();
        // The interim heads count in the response's bytes.
        assert_splits(
            &Framing::Http,
            false,
            b"",
            &resp,
            http(200, false, resp.len()),
        );
    }

    #[test]
    fn test_http_head_request_head_no_body() {
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n";
        assert_splits(
            &Framing::Http,
            true,
            b"",
            resp,
            http(200, false, resp.len()),
        );
        // The same head for a GET waits for its body.
        let mut f = expecting(&Framing::Http, false);
        assert_eq!(drive(&mut f, [&resp[..]], b"").result, Ok(None));
    }

    #[test]
    fn test_http_head_204_304_no_body() {
        for code in [204u16, 304] {
            let resp = format!("HTTP/1.1 {code} X\r\nContent-Length: 99\r\n\r\n");
            let resp = resp.as_bytes();
            assert_splits(
                &Framing::Http,
                false,
                b"",
                resp,
                http(code, false, resp.len()),
            );
        }
    }

    #[test]
    fn test_http_head_101_complete_and_close() {
        let resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n";
        assert_splits(
            &Framing::Http,
            false,
            b"",
            resp,
            http(101, true, resp.len()),
        );
    }

    #[test]
    fn test_http_head_close_and_http10() {
        let cases: [(&[u8], bool); 5] = [
            (
                b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
                true,
            ),
            (
                b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\nok",
                true,
            ),
            (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", true),
            (
                b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
                false,
            ),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false),
        ];
        for (resp, close) in cases {
            assert_splits(
                &Framing::Http,
                false,
                b"",
                resp,
                http(200, close, resp.len()),
            );
        }
    }

    #[test]
    fn test_http_head_repeated_equal_length_ok() {
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length:  2 \r\n\r\nok";
        assert_splits(
            &Framing::Http,
            false,
            b"",
            resp,
            http(200, false, resp.len()),
        );
    }

    #[test]
    fn test_http_body_until_close_eof_completes() {
        let resp = b"HTTP/1.1 200 OK\r\nServer: old\r\n\r\nall of this until close";
        for split in 0..=resp.len() {
            let mut f = expecting(&Framing::Http, false);
            let out = drive(&mut f, [&resp[..split], &resp[split..]], b"");
            assert_eq!(out.result, Ok(None), "split {split}");
            assert!(out.leftover.is_empty(), "the body is consumed as it comes");
            assert_eq!(
                f.on_eof(),
                Ok(Some(http(200, true, resp.len()))),
                "split {split}"
            );
            assert_eq!(f.on_eof(), Ok(None), "idle afterwards");
        }
    }

    #[test]
    fn test_http_head_non_chunked_te_until_close() {
        // Transfer-Encoding wins over Content-Length; not ending in chunked means
        // the body ends at close.
        let resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 1\r\n\r\nabc";
        let mut f = expecting(&Framing::Http, false);
        let out = drive(&mut f, [&resp[..]], b"");
        assert_eq!(out.result, Ok(None));
        assert_eq!(f.on_eof(), Ok(Some(http(200, true, resp.len()))));
    }

    #[test]
    fn test_http_head_partial_refeed_same_result() {
        // The caller may offer the same leftover again: the remembered scan position
        // must not make the framer skip or misplace anything.
        let mut f = expecting(&Framing::Http, false);
        let part = &HELLO[..20];
        for _ in 0..3 {
            assert_eq!(f.feed(part, b"").unwrap().consumed, 0);
        }
        let feed = f.feed(HELLO, b"").unwrap();
        assert_eq!(feed.consumed, HELLO.len());
        assert_eq!(feed.done, Some(http(200, false, HELLO.len())));
    }

    #[test]
    fn test_http_head_leading_blank_lines_skipped() {
        let resp = [&b"\r\n"[..], HELLO].concat();
        assert_splits(
            &Framing::Http,
            false,
            b"",
            &resp,
            http(200, false, resp.len()),
        );
    }

    #[test]
    fn test_http_head_malformed_errors() {
        let cases: [(&[u8], FrameError); 8] = [
            (
                b"HTTX/1.1 200 OK\r\n\r\n",
                FrameError::Malformed("http version"),
            ),
            (
                b"HTTP/1.1 2x0 OK\r\n\r\n",
                FrameError::Malformed("http status line"),
            ),
            (
                b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
                FrameError::Malformed("http header"),
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
                FrameError::Malformed("content-length"),
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                FrameError::Malformed("content-length"),
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
                FrameError::Malformed("content-length"),
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
                FrameError::Malformed("content-length"),
            ),
            (
                b"SSH-2.0-OpenSSH\r\n\r\n",
                FrameError::Malformed("http version"),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                feed_err(&Framing::Http, false, input),
                want,
                "{:?}",
                text(input)
            );
            // Byte by byte, the error is the same.
            let mut f = expecting(&Framing::Http, false);
            assert_eq!(
                drive(&mut f, input.chunks(1), b"").result,
                Err(want),
                "{:?}",
                text(input)
            );
        }
    }

    #[test]
    fn test_http_head_partial_malformed_reported_once_head_ends() {
        // In one read the bad byte is seen at once; once part of the head was
        // searched, only when the blank line comes (or at eof, as truncation).
        let input = b"HTTP/1.1 200 OK\r\nX: a\0b";
        let bad = FrameError::Malformed("http header");
        assert_eq!(feed_err(&Framing::Http, false, input), bad);
        let mut f = expecting(&Framing::Http, false);
        let out = drive(&mut f, [&input[..10], &input[10..]], b"");
        assert_eq!(out.result, Ok(None));
        assert_eq!(f.on_eof(), Err(FrameError::Truncated));
        let mut f = expecting(&Framing::Http, false);
        let out = drive(&mut f, [&input[..10], &input[10..], b"\r\n\r\n"], b"");
        assert_eq!(out.result, Err(bad));
    }

    #[test]
    fn test_http_chunk_malformed_errors() {
        let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        let cases = [
            ("zz\r\n", "chunk size"),
            ("\r\n", "chunk size"),
            ("5 x\r\nhello\r\n", "chunk size"),
            ("11111111111111111\r\n", "chunk size"),
            ("5\r\nhelloXX", "chunk data not followed by CRLF"),
            ("5\r\nhello\rX", "chunk data not followed by CRLF"),
        ];
        for (body, what) in cases {
            let input = format!("{head}{body}");
            for split in 0..=input.len() {
                let mut f = expecting(&Framing::Http, false);
                let b = input.as_bytes();
                let got = drive(&mut f, [&b[..split], &b[split..]], b"").result;
                assert_eq!(
                    got,
                    Err(FrameError::Malformed(what)),
                    "{input:?} split {split}"
                );
            }
        }
    }

    #[test]
    fn test_http_head_too_large() {
        let mut big = b"HTTP/1.1 200 OK\r\n".to_vec();
        while big.len() <= MAX_HEAD {
            big.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        // Fed in pieces like a caller would: the error comes once the unfinished head
        // passes the limit, not later.
        let mut f = expecting(&Framing::Http, false);
        let out = drive(&mut f, big.chunks(4096), b"");
        assert_eq!(out.result, Err(FrameError::TooLarge));
        assert!(out.max_leftover <= MAX_HEAD);
        // A complete head over the limit in one piece.
        big.extend_from_slice(b"\r\n");
        assert_eq!(feed_err(&Framing::Http, false, &big), FrameError::TooLarge);
        // Too many headers.
        let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(feed_err(&Framing::Http, false, &many), FrameError::TooLarge);
    }

    #[test]
    fn test_http_chunk_size_line_too_large() {
        let mut input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;".to_vec();
        input.resize(input.len() + MAX_HEAD + 10, b'e');
        let mut f = expecting(&Framing::Http, false);
        assert_eq!(
            drive(&mut f, input.chunks(16 * 1024), b"").result,
            Err(FrameError::TooLarge)
        );
    }

    // ---- RESP ----

    #[test]
    fn test_resp_values_split_anywhere() {
        let cases: [&[u8]; 19] = [
            b"+OK\r\n",
            b"-ERR unknown command 'FOO'\r\n",
            b":1000\r\n",
            b":-42\r\n",
            b"$5\r\nhello\r\n",
            b"$0\r\n\r\n",
            b"$-1\r\n",
            b"$4\r\na\r\nb\r\n",
            b"*-1\r\n",
            b"*0\r\n",
            b"*3\r\n$3\r\nfoo\r\n:1\r\n*2\r\n+a\r\n$-1\r\n",
            b"_\r\n",
            b"#t\r\n",
            b",3.14\r\n",
            b"(3492890328409238509324850943850943825024385\r\n",
            b"%2\r\n+k1\r\n:1\r\n+k2\r\n*1\r\n#f\r\n",
            b"~2\r\n+a\r\n+b\r\n",
            b"=7\r\ntxt:abc\r\n",
            b"|1\r\n+key\r\n+val\r\n$2\r\nhi\r\n",
        ];
        for resp in cases {
            assert_splits(&Framing::Resp, false, b"", resp, plain(resp.len()));
        }
    }

    #[test]
    fn test_resp_error_reply_is_a_response() {
        let mut f = expecting(&Framing::Resp, false);
        let feed = f.feed(b"-ERR wrong\r\n+OK\r\n", b"").unwrap();
        assert_eq!(feed.consumed, 12);
        assert_eq!(feed.done, Some(plain(12)));
    }

    #[test]
    fn test_resp_malformed_errors() {
        let cases: [(&[u8], &str); 14] = [
            (b"?what\r\n", "resp type byte"),
            (b"*1\r\n?\r\n", "resp type byte"),
            (b"+OK\n", "resp line not ended by CRLF"),
            (b":12\n", "resp line not ended by CRLF"),
            (b":12a\r\n", "resp integer"),
            (b":\r\n", "resp integer"),
            (b"$-2\r\n", "resp length"),
            (b"$x\r\n", "resp length"),
            (b"!-1\r\n", "resp length"),
            (b"*-2\r\n", "resp length"),
            (
                b"*9223372036854775807\r\n%9223372036854775807\r\n",
                "resp length",
            ),
            (b"$3\r\nabcd\r\n", "resp blob not followed by CRLF"),
            (b"#x\r\n", "resp boolean"),
            (b"_x\r\n", "resp null"),
        ];
        for (input, what) in cases {
            for split in 0..=input.len() {
                let mut f = expecting(&Framing::Resp, false);
                let got = drive(&mut f, [&input[..split], &input[split..]], b"").result;
                assert_eq!(
                    got,
                    Err(FrameError::Malformed(what)),
                    "{:?} split {split}",
                    text(input)
                );
            }
        }
    }

    #[test]
    fn test_resp_header_line_too_large() {
        let mut input = b"$".to_vec();
        input.resize(MAX_HEAD + 10, b'1');
        let mut f = expecting(&Framing::Resp, false);
        assert_eq!(
            drive(&mut f, input.chunks(16 * 1024), b"").result,
            Err(FrameError::TooLarge)
        );
    }

    // ---- Big responses: consumed progressively ----

    /// Feeds `response` in 16 KiB pieces and asserts it completes with the caller
    /// never holding more than a few bytes (the bound is 64 KiB; a progressive framer
    /// keeps at most an incomplete line).
    #[track_caller]
    fn assert_progressive(framing: &Framing, request: &[u8], response: &[u8], want: Response) {
        let mut f = expecting(framing, false);
        let out = drive(&mut f, response.chunks(16 * 1024), request);
        assert_eq!(out.result, Ok(Some(want)), "{framing:?}");
        assert!(out.leftover.is_empty());
        assert!(out.max_leftover <= 64 * 1024, "held {}", out.max_leftover);
        assert!(out.max_leftover < 64, "held {} bytes", out.max_leftover);
    }

    const MB: usize = 1 << 20;

    #[test]
    fn test_http_body_1mb_progressive() {
        let mut resp = format!("HTTP/1.1 200 OK\r\nContent-Length: {MB}\r\n\r\n").into_bytes();
        resp.resize(resp.len() + MB, b'x');
        assert_progressive(&Framing::Http, b"", &resp, http(200, false, resp.len()));
    }

    #[test]
    fn test_http_chunk_1mb_progressive() {
        let mut resp =
            format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{MB:x}\r\n").into_bytes();
        resp.resize(resp.len() + MB, b'x');
        resp.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_progressive(&Framing::Http, b"", &resp, http(200, false, resp.len()));
    }

    #[test]
    fn test_resp_bulk_1mb_progressive() {
        let mut resp = format!("*2\r\n${MB}\r\n").into_bytes();
        resp.resize(resp.len() + MB, b'x');
        resp.extend_from_slice(b"\r\n+OK\r\n");
        assert_progressive(&Framing::Resp, b"", &resp, plain(resp.len()));
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

    #[test]
    fn test_http_body_10mb_head_split_progressive() {
        // The head split across pieces, then a body far beyond any buffer.
        let n = 10 * MB;
        let mut resp = format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n").into_bytes();
        resp.resize(resp.len() + n, b'y');
        let mut f = expecting(&Framing::Http, false);
        let (a, b) = resp.split_at(20);
        let out = drive(&mut f, std::iter::once(a).chain(b.chunks(16 * 1024)), b"");
        assert_eq!(out.result, Ok(Some(http(200, false, resp.len()))));
        assert!(out.max_leftover <= 20);
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
