//! A minimal HTTP/1.1 (and 1.0) server protocol.
//!
//! Routes: `GET /` (and `HEAD /`) answers `Hello, World!`; `GET /bytes/N` streams N
//! bytes of the [`source`](super::Source) pattern. Everything else gets a small error
//! page. Requests are parsed with `httparse`; pipelined requests are answered in order
//! in one batch, request bodies (`Content-Length` only) are read and dropped.
//!
//! The hot path — a keep-alive `GET /` — appends one precomputed byte string and
//! allocates nothing.

pub use super::http_headers::{parse_u64, scan_headers, trim, HeaderScan, TransferEncoding};
use super::source::MAX_CHUNK;
use super::source::{fill_pattern, PATTERN_LEN};
use super::{Cx, Protocol, Step, Verdict};
use httparse::{Header, Request, Status};
use std::mem::MaybeUninit;

/// Most headers a request may carry; more is answered with 431. They are parsed into
/// an array on the stack, so this bounds stack use, not heap.
pub const MAX_HEADERS: usize = 32;

/// How much of a `/bytes/N` body is produced right away with the headers; the rest is
/// produced lazily by [`Protocol::on_drained`] so a huge N never sits in memory.
pub const FIRST_CHUNK: usize = 16 * 1024;

/// The answer to a keep-alive HTTP/1.1 `GET /`, byte for byte what the C reference
/// server sends, so that benchmarks compare like with like.
pub const HELLO: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!";

/// The answer to `GET /` that closes the connection.
pub const HELLO_CLOSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 13\r\n\r\nHello, World!";

/// The answer to an HTTP/1.0 `GET /` that asked for keep-alive (1.0 needs it said).
pub const HELLO_KEEP_ALIVE: &[u8] =
    b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 13\r\n\r\nHello, World!";

/// The interim response sent to a client that sent `Expect: 100-continue` and waits
/// for it before sending the body.
///
/// Sent only when no byte of the body came in the same read as the head (a client
/// that sent the body at once is not waiting), so whether it appears depends on how
/// the input was split: the one part of the output, besides the error page of a bad
/// long head (see `RESCAN_FROM`), that does.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Length of the `Hello, World!` body, cut off the `HELLO*` strings to answer `HEAD`.
const HELLO_BODY_LEN: usize = 13;

/// A partial head at least this long is re-parsed only once new bytes could have
/// ended it. Below it, re-parsing on every call is cheaper than the check and keeps
/// error answers independent of how the bytes were split; above it, re-parsing a
/// head that trickles in byte by byte would cost O(n^2) (seconds of CPU per
/// slow client at a 64 KiB `max_head`).
///
/// The price: the answer to a malformed head may depend on how its bytes were split
/// into reads (everything else is split-invariant, `100 Continue` aside, see
/// [`CONTINUE`]). Precisely, and nothing more (the `http_server` fuzz target and
/// `tests/split_invariance.rs` check exactly this):
///
/// - A malformed head longer than `max_head` gets 431 instead of 400 when a read
///   ends after the head has passed `max_head` but before its malformed byte was
///   parsed; a read holding both gets 400. (Whichever limit is hit first wins; with
///   the default `max_head` such a head is necessarily longer than this constant.)
/// - A partial head at least `RESCAN_FROM` long, offered again, is not re-parsed
///   until the new bytes hold a blank line that could end it, so a malformed byte in
///   it is answered only then (400), when the head passes `max_head` (431), or not
///   at all if the peer stops sending (the header timeout or the peer's close ends
///   the connection, with no error page).
///
/// Either way the connection is closed and nothing after the bad head is answered.
pub const RESCAN_FROM: usize = 1024;

/// What the HTTP protocol counts, in the context all its connections share
/// ([`Protocol::Context`]): the server adds these to its stats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpCounters {
    /// Requests answered (an error page for a malformed head is not one).
    pub requests: u64,
    /// Malformed requests answered with an error and a close.
    pub protocol_errors: u64,
}

/// Limits of the HTTP protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpConfig {
    /// Longest request head (request line and headers, with the blank line) accepted;
    /// a longer one is answered with 431 and the connection closed.
    pub max_head: usize,
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig { max_head: 65536 }
    }
}

/// Server side of HTTP/1.x for one connection.
///
/// Between requests only three counters and a flag are kept (32 bytes): the reactor
/// holds any partial request, so the protocol needs no buffer of its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Http {
    /// `/bytes/N` body bytes still to produce in `on_drained`. While non-zero, later
    /// pipelined requests wait so that responses stay in order.
    body_left: u64,
    /// Where the next body byte falls in the pattern (stream position modulo
    /// `PATTERN_LEN`): the pattern repeats, so the full u64 position is not needed,
    /// and the bytes saved pay for `seen`.
    body_phase: u16,
    /// Request body bytes still to read and drop before the next request starts.
    discard_left: u64,
    /// `HttpConfig::max_head`, narrowed so the struct stays at 32 bytes; a limit
    /// beyond 4 GiB would be clamped, far past any sensible head size.
    max_head: u32,
    /// Length of the partial head left unconsumed by the last call, when it was at
    /// least `RESCAN_FROM` long (else 0): those bytes hold no end of head, so the
    /// next call parses only if the new bytes might end it.
    seen: u32,
    /// A response said `Connection: close` (or the client half-closed): ignore all
    /// further input and close once the last body byte is out.
    closing: bool,
}

impl Http {
    /// A connection in its initial state with the given limits.
    pub fn new(cfg: HttpConfig) -> Http {
        Http {
            body_left: 0,
            body_phase: 0,
            discard_left: 0,
            max_head: u32::try_from(cfg.max_head).unwrap_or(u32::MAX),
            seen: 0,
            closing: false,
        }
    }

    /// The verdict once closing: close after flushing, at once. A `/bytes/N` body still
    /// streaming is fed in the reactor's Flushing state (`wants_drained` stays true
    /// until its last byte), so no input is offered any more.
    fn closing_verdict(&self) -> Verdict {
        Verdict::CloseAfterFlush
    }

    /// Marks the connection closing and swallows the whole input: nothing after a
    /// closing response may be answered, and keeping it would only waste the buffer.
    fn close_step(&mut self, input: &[u8]) -> Step {
        self.closing = true;
        Step {
            consumed: input.len(),
            verdict: self.closing_verdict(),
        }
    }

    /// Answers a request whose head could not be accepted (malformed, too large):
    /// there is no trustworthy framing left, so the connection must close.
    fn reject(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        cx: &mut Cx<HttpCounters>,
        e: ErrorPage,
    ) -> Step {
        cx.ctx.protocol_errors += 1;
        e.write(out, Conn::Close, false);
        self.close_step(input)
    }

    /// Answers one parsed request. Returns the request's body length if the
    /// connection stays open, `None` if it is now closing.
    fn answer(
        &mut self,
        req: &Request<'_, '_>,
        body_present: bool,
        out: &mut Vec<u8>,
        cx: &mut Cx<HttpCounters>,
    ) -> Option<u64> {
        let info = scan_headers(req.headers);
        let http11 = req.version == Some(1);
        // 1.1 defaults to keep-alive, 1.0 to close; `close` wins over `keep-alive`.
        let conn = if info.close || !(http11 || info.keep_alive) {
            Conn::Close
        } else if http11 {
            Conn::KeepAlive11
        } else {
            Conn::KeepAlive10
        };
        if info.bad_length {
            // Without a trustworthy length the next request's start is unknown.
            cx.ctx.protocol_errors += 1;
            BAD_REQUEST.write(out, Conn::Close, false);
            self.closing = true;
            return None;
        }
        if info.transfer_encoding != TransferEncoding::Absent {
            // Transfer-coded bodies (chunked or any other) are not parsed, so the
            // framing is unknown: close. Any field counts, even one naming no coding.
            cx.ctx.requests += 1;
            NOT_IMPLEMENTED.write(out, Conn::Close, false);
            self.closing = true;
            return None;
        }
        let body_len = info.length.unwrap_or(0);
        // Only a waiting client needs the nudge; 1.0 clients do not know 100.
        if info.expect_continue && http11 && body_len > 0 && !body_present {
            out.extend_from_slice(CONTINUE);
        }
        cx.ctx.requests += 1;
        let method = req.method.unwrap_or("");
        let head_only = method == "HEAD";
        let route = route(req.path.unwrap_or(""));
        match route {
            Route::NotFound => NOT_FOUND.write(out, conn, head_only),
            _ if !(head_only || method == "GET") => METHOD_NOT_ALLOWED.write(out, conn, false),
            Route::Hello => {
                let full = match conn {
                    Conn::KeepAlive11 => HELLO,
                    Conn::KeepAlive10 => HELLO_KEEP_ALIVE,
                    Conn::Close => HELLO_CLOSE,
                };
                let end = if head_only {
                    full.len() - HELLO_BODY_LEN
                } else {
                    full.len()
                };
                out.extend_from_slice(&full[..end]);
            }
            Route::Bytes(None) => BAD_BYTES.write(out, conn, head_only),
            Route::Bytes(Some(n)) => {
                out.extend_from_slice(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n",
                );
                out.extend_from_slice(conn.header());
                write_content_length(out, n);
                if !head_only {
                    // `first` fits in usize: it is at most FIRST_CHUNK.
                    let first = n.min(FIRST_CHUNK as u64);
                    fill_pattern(out, 0, first as usize);
                    self.body_phase = phase_after(0, first);
                    self.body_left = n - first;
                }
            }
        }
        if conn == Conn::Close {
            self.closing = true;
            return None;
        }
        Some(body_len)
    }

    /// The head starting at `input[pos..]` is incomplete: reject it if it is already
    /// too long, else leave it for the reactor to join with more bytes.
    fn wait_for_head(
        &mut self,
        input: &[u8],
        pos: usize,
        out: &mut Vec<u8>,
        cx: &mut Cx<HttpCounters>,
    ) -> Step {
        let len = input.len() - pos;
        if len > self.max_head as usize {
            return self.reject(input, out, cx, TOO_LARGE);
        }
        if len >= RESCAN_FROM {
            // Fits: len <= max_head, a u32.
            self.seen = len as u32;
        }
        Step::cont(pos)
    }

    /// Drops up to `discard_left` bytes from the front of `input`; returns how many.
    fn discard(&mut self, input: &[u8]) -> usize {
        // The min is at most input.len(), so the cast back to usize is lossless.
        let n = self.discard_left.min(input.len() as u64) as usize;
        self.discard_left -= n as u64;
        n
    }
}

impl Default for Http {
    fn default() -> Http {
        Http::new(HttpConfig::default())
    }
}

impl Protocol for Http {
    type Context = HttpCounters;

    fn on_input(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        budget: usize,
        cx: &mut Cx<HttpCounters>,
    ) -> Step {
        if self.closing {
            return self.close_step(input);
        }
        // A body left over from the last call comes before any new request.
        let mut pos = self.discard(input);
        if self.discard_left > 0 {
            return Step::cont(pos);
        }
        // One header array for the whole batch, left uninitialised: zeroing 32
        // headers per request would cost more than parsing a small one.
        let mut headers = [MaybeUninit::<Header<'_>>::uninit(); MAX_HEADERS];
        // While a body streams, later requests wait (consumed stops here) so that
        // their answers cannot overtake it; the reactor re-offers them after draining.
        // Output appended by this call; answering stops once it reaches `budget` (the
        // rest stays unconsumed and is offered again when the peer has read this).
        let out_start = out.len();
        while self.body_left == 0 && pos < input.len() {
            if pos > 0 && out.len() - out_start >= budget {
                break;
            }
            let rest = &input[pos..];
            // Only the first request of a call can be the re-offered partial head
            // (the reactor drops the consumed prefix), hence `take`.
            let seen = std::mem::take(&mut self.seen) as usize;
            if seen > 0 && !head_may_end(rest, seen) {
                return self.wait_for_head(input, pos, out, cx);
            }
            let mut req = Request::new(&mut []);
            let head_len = match req.parse_with_uninit_headers(rest, &mut headers) {
                Ok(Status::Complete(n)) => n,
                Ok(Status::Partial) => return self.wait_for_head(input, pos, out, cx),
                Err(httparse::Error::TooManyHeaders) => {
                    return self.reject(input, out, cx, TOO_LARGE);
                }
                Err(_) => return self.reject(input, out, cx, BAD_REQUEST),
            };
            if head_len > self.max_head as usize {
                return self.reject(input, out, cx, TOO_LARGE);
            }
            let body_present = rest.len() > head_len;
            let Some(body_len) = self.answer(&req, body_present, out, cx) else {
                return self.close_step(input);
            };
            pos += head_len;
            self.discard_left = body_len;
            pos += self.discard(&input[pos..]);
        }
        Step::cont(pos)
    }

    /// Whatever was complete has been answered already. If a body is still streaming
    /// the client (which only half-closed) still wants it: finish it, then close.
    fn on_eof(&mut self, _out: &mut Vec<u8>, _cx: &mut Cx<HttpCounters>) -> Verdict {
        self.closing = true;
        self.closing_verdict()
    }

    fn wants_drained(&self) -> bool {
        self.body_left > 0
    }

    /// A request body is being read (and dropped): it must keep arriving.
    fn awaits_input(&self) -> bool {
        self.discard_left > 0
    }

    fn on_drained(
        &mut self,
        out: &mut Vec<u8>,
        budget: usize,
        _cx: &mut Cx<HttpCounters>,
    ) -> Verdict {
        if self.body_left > 0 {
            // At least one byte so a zero budget still progresses; at most MAX_CHUNK
            // so a huge budget cannot balloon the queue. Fits usize: <= MAX_CHUNK.
            let n = (budget.clamp(1, MAX_CHUNK) as u64).min(self.body_left);
            fill_pattern(out, u64::from(self.body_phase), n as usize);
            self.body_phase = phase_after(self.body_phase, n);
            self.body_left -= n;
        }
        if self.closing {
            self.closing_verdict()
        } else {
            Verdict::Continue
        }
    }
}

/// How the response treats the connection; decides the `Connection` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Conn {
    /// HTTP/1.1 keep-alive: the default, so no header.
    KeepAlive11,
    /// HTTP/1.0 keep-alive: must be confirmed with a header.
    KeepAlive10,
    /// Close after this response.
    Close,
}

impl Conn {
    fn header(self) -> &'static [u8] {
        match self {
            Conn::KeepAlive11 => b"",
            Conn::KeepAlive10 => b"Connection: keep-alive\r\n",
            Conn::Close => b"Connection: close\r\n",
        }
    }
}

/// A small text response: status line, extra headers (each ending in CRLF), body.
#[derive(Clone, Copy)]
struct ErrorPage {
    status: &'static [u8],
    extra: &'static [u8],
    body: &'static [u8],
}

impl ErrorPage {
    /// Off the hot path, so assembled from pieces rather than precomputed per variant.
    fn write(self, out: &mut Vec<u8>, conn: Conn, head_only: bool) {
        out.extend_from_slice(self.status);
        out.extend_from_slice(b"Content-Type: text/plain\r\n");
        out.extend_from_slice(self.extra);
        out.extend_from_slice(conn.header());
        write_content_length(out, self.body.len() as u64);
        if !head_only {
            out.extend_from_slice(self.body);
        }
    }
}

const BAD_REQUEST: ErrorPage = ErrorPage {
    status: b"HTTP/1.1 400 Bad Request\r\n",
    extra: b"",
    body: b"Bad Request\n",
};
const BAD_BYTES: ErrorPage = ErrorPage {
    status: b"HTTP/1.1 400 Bad Request\r\n",
    extra: b"",
    body: b"Bad Request: /bytes/N wants N as a decimal u64\n",
};
const NOT_FOUND: ErrorPage = ErrorPage {
    status: b"HTTP/1.1 404 Not Found\r\n",
    extra: b"",
    body: b"Not Found\n",
};
const METHOD_NOT_ALLOWED: ErrorPage = ErrorPage {
    status: b"HTTP/1.1 405 Method Not Allowed\r\n",
    extra: b"Allow: GET, HEAD\r\n",
    body: b"Method Not Allowed\n",
};
const TOO_LARGE: ErrorPage = ErrorPage {
    status: b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
    extra: b"",
    body: b"Request Header Fields Too Large\n",
};
const NOT_IMPLEMENTED: ErrorPage = ErrorPage {
    status: b"HTTP/1.1 501 Not Implemented\r\n",
    extra: b"",
    body: b"Not Implemented: Transfer-Encoding\n",
};

/// The pattern phase `n` bytes after `phase`.
fn phase_after(phase: u16, n: u64) -> u16 {
    // The result is below PATTERN_LEN (4096), so it fits u16.
    ((u64::from(phase) + n % PATTERN_LEN as u64) % PATTERN_LEN as u64) as u16
}

/// Whether `head`, whose first `seen` bytes were already known to hold no end of
/// head, may now contain one: a LF followed by LF or CRLF (httparse accepts bare LF
/// line ends) ending past `seen`. Only the new bytes and the two before are scanned.
fn head_may_end(head: &[u8], seen: usize) -> bool {
    let from = seen.saturating_sub(2);
    let Some(tail) = head.get(from..) else {
        // Shorter than before: not the head we saw; let httparse decide.
        return true;
    };
    memchr::memchr_iter(b'\n', tail)
        .any(|i| matches!(tail.get(i + 1..), Some([b'\n', ..] | [b'\r', b'\n', ..])))
}

/// Appends `Content-Length: n` and the blank line that ends the head.
fn write_content_length(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(b"Content-Length: ");
    // Digits by hand, least significant first into the tail of a buffer: no
    // formatting machinery, no allocation. 20 digits hold any u64.
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
    out.extend_from_slice(b"\r\n\r\n");
}

/// The resources the server knows.
enum Route {
    /// `/`
    Hello,
    /// `/bytes/N`; `None` when N is not a decimal u64.
    Bytes(Option<u64>),
    /// Anything else.
    NotFound,
}

fn route(target: &str) -> Route {
    if target == "/" {
        return Route::Hello;
    }
    // The query does not select a resource here; ignore it.
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    if path == "/" {
        Route::Hello
    } else if let Some(n) = path.strip_prefix("/bytes/") {
        Route::Bytes(parse_u64(n.as_bytes()))
    } else {
        Route::NotFound
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::time::Instant;

    /// Everything the simulated reactor saw on one connection.
    #[derive(Debug, PartialEq, Eq)]
    struct Run {
        out: Vec<u8>,
        /// The first verdict other than `Continue`, or `Continue` if none came.
        verdict: Verdict,
        /// Input never consumed (a partial request).
        leftover: Vec<u8>,
        requests: u64,
        errors: u64,
    }

    /// Simulates the reactor: each chunk is joined to the leftover and offered to
    /// `on_input` with an output budget of `in_budget`; while the protocol wants it,
    /// `on_drained` runs with `budget` (in the open state and, after a closing verdict,
    /// in the flushing state alike); the leftover is re-offered as long as that makes
    /// progress. Stops offering input at the first closing verdict, as the reactor
    /// stops reading then. With `eof`, ends with `on_eof` (and drains whatever is still
    /// streaming).
    #[track_caller]
    fn drive_full(
        cfg: HttpConfig,
        chunks: &[&[u8]],
        in_budget: usize,
        budget: usize,
        eof: bool,
    ) -> Run {
        let mut http = Http::new(cfg);
        let mut counters = HttpCounters::default();
        let mut cx = Cx::new(Instant::now(), &mut counters);
        let mut out = Vec::new();
        let mut leftover = Vec::new();
        let mut verdict = Verdict::Continue;
        'feed: for chunk in chunks {
            leftover.extend_from_slice(chunk);
            loop {
                let step = http.on_input(&leftover, &mut out, in_budget, &mut cx);
                assert!(step.consumed <= leftover.len(), "consumed past the input");
                leftover.drain(..step.consumed);
                verdict = step.verdict;
                let mut drained = false;
                while verdict != Verdict::Close && http.wants_drained() {
                    drained = true;
                    let v = http.on_drained(&mut out, budget, &mut cx);
                    if v != Verdict::Continue {
                        verdict = v;
                    }
                }
                if verdict != Verdict::Continue {
                    break 'feed;
                }
                if leftover.is_empty() || (step.consumed == 0 && !drained) {
                    break;
                }
            }
        }
        if eof && verdict == Verdict::Continue {
            verdict = http.on_eof(&mut out, &mut cx);
            while verdict == Verdict::Continue && http.wants_drained() {
                verdict = http.on_drained(&mut out, budget, &mut cx);
            }
        }
        Run {
            out,
            verdict,
            leftover,
            requests: cx.ctx.requests,
            errors: cx.ctx.protocol_errors,
        }
    }

    /// [`drive_full`] with no output budget for `on_input`.
    #[track_caller]
    fn drive_with(cfg: HttpConfig, chunks: &[&[u8]], budget: usize, eof: bool) -> Run {
        drive_full(cfg, chunks, usize::MAX, budget, eof)
    }

    /// [`drive_with`] with default limits, a 64 KiB budget and no eof.
    #[track_caller]
    fn drive(chunks: &[&[u8]]) -> Run {
        drive_with(HttpConfig::default(), chunks, 65536, false)
    }

    /// Asserts that feeding `input` split in two at every byte boundary, and one byte
    /// at a time, gives exactly the run of the unsplit input.
    #[track_caller]
    fn assert_split_invariant(cfg: HttpConfig, input: &[u8]) -> Run {
        let whole = drive_with(cfg, &[input], 65536, false);
        for i in 0..=input.len() {
            let split = drive_with(cfg, &[&input[..i], &input[i..]], 65536, false);
            assert_eq!(split, whole, "split at byte {i}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(drive_with(cfg, &bytes, 65536, false), whole, "byte by byte");
        whole
    }

    /// The full expected `/bytes/N` response with the given `Connection` header.
    #[track_caller]
    fn bytes_response(n: u64, conn: &str) -> Vec<u8> {
        let mut v = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n{conn}Content-Length: {n}\r\n\r\n"
        )
        .into_bytes();
        fill_pattern(&mut v, 0, usize::try_from(n).expect("test sizes fit usize"));
        v
    }

    /// Asserts that `run` ended with exactly one error page of `status`, closing.
    #[track_caller]
    fn assert_error_close(run: &Run, before: &[u8], status: &str) {
        assert!(
            run.out.starts_with(before),
            "earlier responses kept: {:?}",
            text(&run.out)
        );
        let page = text(&run.out[before.len()..]);
        assert!(
            page.starts_with(&format!("HTTP/1.1 {status}\r\n")),
            "got {page:?}"
        );
        assert!(page.contains("\r\nConnection: close\r\n"), "got {page:?}");
        assert_content_length_ok(&run.out[before.len()..]);
        assert_eq!(run.verdict, Verdict::CloseAfterFlush);
        assert!(run.leftover.is_empty(), "input after an error is swallowed");
    }

    /// Asserts that a single response's Content-Length matches its body.
    #[track_caller]
    fn assert_content_length_ok(resp: &[u8]) {
        let s = text(resp);
        let (head, body) = s.split_once("\r\n\r\n").expect("a complete head");
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .expect("a Content-Length header")
            .parse()
            .expect("a decimal length");
        assert_eq!(body.len(), len, "response {s:?}");
    }

    fn text(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:7878\r\n\r\n";

    #[test]
    fn test_idle_get_exact_reference_response() {
        let run = drive(&[GET]);
        assert_eq!(
            run.out,
            b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!"
        );
        assert_eq!(run.verdict, Verdict::Continue);
        assert!(run.leftover.is_empty());
        assert_eq!((run.requests, run.errors), (1, 0));
    }

    #[test]
    fn test_idle_get_query_ignored() {
        assert_eq!(drive(&[b"GET /?a=b HTTP/1.1\r\n\r\n"]).out, HELLO);
    }

    #[test]
    fn test_input_budget_stops_after_the_request_that_reaches_it() {
        // ~2,000 pipelined /bytes/16384 in one write ask for ~32 MiB: one call answers
        // only until its budget is reached, and leaves the rest unconsumed.
        let req = b"GET /bytes/16384 HTTP/1.1\r\nHost: x\r\n\r\n";
        let input = req.repeat(60_000 / req.len());
        let mut http = Http::default();
        let mut counters = HttpCounters::default();
        let mut cx = Cx::new(Instant::now(), &mut counters);
        let mut out = Vec::new();
        let step = http.on_input(&input, &mut out, 64 * 1024, &mut cx);
        assert_eq!(step.verdict, Verdict::Continue);
        assert_eq!(step.consumed, 4 * req.len(), "four answers reach 64 KiB");
        assert!(out.len() < 64 * 1024 + 16384 + 200, "{} bytes", out.len());
        assert_eq!(cx.ctx.requests, 4);
        // A zero budget still answers one request: every call progresses.
        let mut out = Vec::new();
        let step = http.on_input(&input[step.consumed..], &mut out, 0, &mut cx);
        assert_eq!(step.consumed, req.len());
    }

    #[test]
    fn test_input_budget_keeps_output_identical() {
        let mut input = Vec::new();
        for i in 0..40 {
            input.extend_from_slice(
                format!("GET /bytes/{} HTTP/1.1\r\nHost: x\r\n\r\n", i * 997).as_bytes(),
            );
            input.extend_from_slice(GET);
        }
        input.extend_from_slice(b"GET /bytes/10 HTTP/1.1\r\nConnection: close\r\n\r\n");
        let whole = drive_full(HttpConfig::default(), &[&input], usize::MAX, 65536, false);
        assert_eq!(whole.verdict, Verdict::CloseAfterFlush);
        assert_eq!(whole.requests, 81);
        for in_budget in [0, 1, 100, 5000, 65536] {
            for budget in [1, 4096, 65536] {
                let run = drive_full(HttpConfig::default(), &[&input], in_budget, budget, false);
                assert_eq!(run, whole, "in_budget {in_budget} budget {budget}");
            }
        }
    }

    #[test]
    fn test_idle_pipelined_16_answered_in_order() {
        let input = GET.repeat(16);
        let mut http = Http::default();
        let mut counters = HttpCounters::default();
        let mut cx = Cx::new(Instant::now(), &mut counters);
        let mut out = Vec::new();
        let step = http.on_input(&input, &mut out, usize::MAX, &mut cx);
        assert_eq!(
            step,
            Step::cont(input.len()),
            "one call answers the whole batch"
        );
        assert_eq!(out, HELLO.repeat(16));
        assert_eq!(cx.ctx.requests, 16);
    }

    #[test]
    fn test_idle_pipelined_mixed_answered_in_order() {
        let paths = ["/", "/nope", "/bytes/3", "/", "/bytes/x"];
        let mut input = Vec::new();
        let mut want = Vec::new();
        for i in 0..16 {
            let p = paths[i % paths.len()];
            input.extend_from_slice(format!("GET {p} HTTP/1.1\r\n\r\n").as_bytes());
            let one = drive(&[format!("GET {p} HTTP/1.1\r\n\r\n").as_bytes()]);
            assert_eq!(one.requests, 1);
            want.extend_from_slice(&one.out);
        }
        let run = drive(&[&input]);
        assert_eq!(text(&run.out), text(&want));
        assert_eq!(run.requests, 16);
        assert_eq!(run.verdict, Verdict::Continue);
    }

    #[test]
    fn test_idle_split_every_boundary_identical() {
        let mut input = Vec::new();
        input.extend_from_slice(GET);
        input.extend_from_slice(b"POST /upload HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
        input.extend_from_slice(b"HEAD / HTTP/1.1\r\n\r\n");
        input.extend_from_slice(b"GET /bytes/20000 HTTP/1.1\r\n\r\n");
        input.extend_from_slice(b"DELETE / HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz");
        input.extend_from_slice(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        input.extend_from_slice(b"\r\nGET /missing HTTP/1.1\r\n\r\n");
        input.extend_from_slice(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
        input.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        let run = assert_split_invariant(HttpConfig::default(), &input);
        assert_eq!(run.requests, 8, "the request after close is not answered");
        assert_eq!(run.verdict, Verdict::CloseAfterFlush);
        assert!(run.out.ends_with(HELLO_CLOSE));
    }

    #[test]
    fn test_idle_split_every_boundary_errors_identical() {
        let cases: [&[u8]; 4] = [
            b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nBad Header\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
        ];
        for input in cases {
            let run = assert_split_invariant(HttpConfig { max_head: 60 }, input);
            assert_eq!(run.verdict, Verdict::CloseAfterFlush, "{:?}", text(input));
            assert!(run.out.starts_with(HELLO), "{:?}", text(input));
        }
    }

    #[test]
    fn test_idle_http10_default_closes() {
        let run = drive(&[b"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n"]);
        assert_eq!(run.out, HELLO_CLOSE);
        assert_eq!(run.verdict, Verdict::CloseAfterFlush);
        assert_eq!(run.requests, 1);
    }

    #[test]
    fn test_idle_http10_keep_alive_kept() {
        let req = b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
        let run = drive(&[&req.repeat(2)]);
        assert_eq!(run.out, HELLO_KEEP_ALIVE.repeat(2));
        assert_eq!(run.verdict, Verdict::Continue);
        assert_eq!(run.requests, 2);
    }

    #[test]
    fn test_idle_connection_close_stops_answering() {
        let input = b"GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n";
        let mut http = Http::default();
        let mut counters = HttpCounters::default();
        let mut cx = Cx::new(Instant::now(), &mut counters);
        let mut out = Vec::new();
        let step = http.on_input(input, &mut out, usize::MAX, &mut cx);
        assert_eq!(
            step,
            Step {
                consumed: input.len(),
                verdict: Verdict::CloseAfterFlush
            }
        );
        assert_eq!(out, HELLO_CLOSE);
        // Anything arriving later is swallowed too, never answered.
        let step = http.on_input(GET, &mut out, usize::MAX, &mut cx);
        assert_eq!(
            step,
            Step {
                consumed: GET.len(),
                verdict: Verdict::CloseAfterFlush
            }
        );
        assert_eq!(out, HELLO_CLOSE);
        assert_eq!(cx.ctx.requests, 1);
    }

    #[test]
    fn test_idle_connection_token_list_matched() {
        let close = drive(&[b"GET / HTTP/1.1\r\nConnection: keep-alive ,\tCLOSE \r\n\r\n"]);
        assert_eq!(close.out, HELLO_CLOSE);
        // A token merely containing "close" is not `close`.
        let open = drive(&[b"GET / HTTP/1.1\r\nConnection: closed, upgrade\r\n\r\n"]);
        assert_eq!(open.out, HELLO);
        assert_eq!(open.verdict, Verdict::Continue);
    }

    #[test]
    fn test_idle_head_root_no_body() {
        let run = drive(&[b"HEAD / HTTP/1.1\r\n\r\n"]);
        assert_eq!(run.out, b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n");
        assert_eq!(run.verdict, Verdict::Continue);
    }

    #[test]
    fn test_idle_head_bytes_no_body_no_stream() {
        let mut input = b"HEAD /bytes/1000000 HTTP/1.1\r\n\r\n".to_vec();
        input.extend_from_slice(GET);
        let run = drive(&[&input]);
        let mut want = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
            Content-Length: 1000000\r\n\r\n"
            .to_vec();
        want.extend_from_slice(HELLO);
        assert_eq!(text(&run.out), text(&want));
    }

    #[test]
    fn test_idle_unknown_path_404_keeps_alive() {
        let mut input = b"GET /nope HTTP/1.1\r\n\r\n".to_vec();
        input.extend_from_slice(GET);
        let run = drive(&[&input]);
        let page = &run.out[..run.out.len() - HELLO.len()];
        assert!(text(page).starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(!text(page).contains("Connection"));
        assert_content_length_ok(page);
        assert!(run.out.ends_with(HELLO));
        assert_eq!(
            (run.requests, run.errors, run.verdict),
            (2, 0, Verdict::Continue)
        );
    }

    #[test]
    fn test_idle_other_method_405_keeps_alive() {
        for req in [
            &b"PUT / HTTP/1.1\r\n\r\n"[..],
            b"DELETE /bytes/5 HTTP/1.1\r\n\r\n",
        ] {
            let mut input = req.to_vec();
            input.extend_from_slice(GET);
            let run = drive(&[&input]);
            let page = &run.out[..run.out.len() - HELLO.len()];
            assert!(text(page).starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
            assert!(text(page).contains("\r\nAllow: GET, HEAD\r\n"));
            assert_content_length_ok(page);
            assert!(run.out.ends_with(HELLO));
            assert_eq!(run.verdict, Verdict::Continue);
        }
    }

    #[test]
    fn test_idle_bad_bytes_count_400_keeps_alive() {
        for path in [
            "/bytes/",
            "/bytes/12a",
            "/bytes/-1",
            "/bytes/18446744073709551616",
        ] {
            let mut input = format!("GET {path} HTTP/1.1\r\n\r\n").into_bytes();
            input.extend_from_slice(GET);
            let run = drive(&[&input]);
            let page = &run.out[..run.out.len() - HELLO.len()];
            assert!(
                text(page).starts_with("HTTP/1.1 400 Bad Request\r\n"),
                "{path}"
            );
            assert_content_length_ok(page);
            assert!(run.out.ends_with(HELLO), "{path}");
            assert_eq!(run.verdict, Verdict::Continue, "{path}");
        }
    }

    #[test]
    fn test_streaming_bytes_sizes_then_pipelined_get() {
        for n in [0u64, 1, 16384, 16385, 1_000_000] {
            let mut input = format!("GET /bytes/{n} HTTP/1.1\r\n\r\n").into_bytes();
            input.extend_from_slice(GET);
            for budget in [1000, 65536] {
                let run = drive_with(HttpConfig::default(), &[&input], budget, false);
                let mut want = bytes_response(n, "");
                want.extend_from_slice(HELLO);
                assert_eq!(run.out.len(), want.len(), "n {n}");
                assert!(run.out == want, "n {n}: body differs from the pattern");
                assert_eq!(run.requests, 2);
                assert_eq!(run.verdict, Verdict::Continue);
            }
        }
    }

    #[test]
    fn test_streaming_first_chunk_only_then_lazy() {
        let input = b"GET /bytes/1000000 HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n";
        let first_len = input.len() - 18;
        let mut http = Http::default();
        let mut counters = HttpCounters::default();
        let mut cx = Cx::new(Instant::now(), &mut counters);
        let mut out = Vec::new();
        let step = http.on_input(input, &mut out, usize::MAX, &mut cx);
        assert_eq!(step, Step::cont(first_len), "the pipelined GET must wait");
        let head_len = bytes_response(1_000_000, "").len() - 1_000_000;
        assert_eq!(out.len(), head_len + FIRST_CHUNK);
        assert!(http.wants_drained());
        // Re-offered while streaming: still not answered.
        let step = http.on_input(&input[first_len..], &mut out, usize::MAX, &mut cx);
        assert_eq!(step, Step::cont(0));
        assert_eq!(out.len(), head_len + FIRST_CHUNK);
        let v = http.on_drained(&mut out, 0, &mut cx);
        assert_eq!(v, Verdict::Continue);
        assert_eq!(
            out.len(),
            head_len + FIRST_CHUNK + 1,
            "zero budget still progresses"
        );
        assert_eq!(cx.ctx.requests, 1);
    }

    #[test]
    fn test_streaming_close_flushes_at_once_and_streams() {
        let input = b"GET /bytes/100000 HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n";
        let mut http = Http::default();
        let mut counters = HttpCounters::default();
        let mut cx = Cx::new(Instant::now(), &mut counters);
        let mut out = Vec::new();
        let step = http.on_input(input, &mut out, usize::MAX, &mut cx);
        // The close is said at once, so the body streams in the reactor's Flushing
        // state (no further input offered); the producer still has the rest to give.
        assert_eq!(
            step,
            Step {
                consumed: input.len(),
                verdict: Verdict::CloseAfterFlush
            }
        );
        assert!(http.wants_drained(), "the body is still to come");
        let mut last = Verdict::Continue;
        while http.wants_drained() {
            last = http.on_drained(&mut out, 30000, &mut cx);
        }
        assert_eq!(last, Verdict::CloseAfterFlush);
        assert_eq!(out, bytes_response(100_000, "Connection: close\r\n"));
        assert_eq!(cx.ctx.requests, 1);
    }

    #[test]
    fn test_streaming_eof_finishes_body_then_closes() {
        let run = drive_with(
            HttpConfig::default(),
            &[b"GET /bytes/50000 HTTP/1.1\r\n\r\n"],
            1 << 20,
            true,
        );
        assert_eq!(run.out, bytes_response(50_000, ""));
        assert_eq!(run.verdict, Verdict::CloseAfterFlush);
    }

    #[test]
    fn test_idle_eof_closes_after_flush() {
        let run = drive_with(HttpConfig::default(), &[GET, b"GET / HT"], 65536, true);
        assert_eq!(run.out, HELLO);
        assert_eq!(run.verdict, Verdict::CloseAfterFlush);
        assert_eq!(run.leftover, b"GET / HT");
    }

    #[test]
    fn test_discarding_post_body_split_then_get() {
        let chunks: [&[u8]; 4] = [
            b"POST /upload HTTP/1.1\r\nContent-Length: 10\r\n\r\nab",
            b"cdef",
            b"ghij",
            GET,
        ];
        let run = drive(&chunks);
        let page = &run.out[..run.out.len() - HELLO.len()];
        assert!(text(page).starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(run.out.ends_with(HELLO));
        assert!(run.leftover.is_empty());
        assert_eq!((run.requests, run.verdict), (2, Verdict::Continue));
        // Body bytes that look like a request must not be answered.
        let sneaky = b"POST / HTTP/1.1\r\nContent-Length: 18\r\n\r\nGET / HTTP/1.1\r\n\r\n";
        let run = drive(&[&sneaky[..45], &sneaky[45..]]);
        assert!(text(&run.out).starts_with("HTTP/1.1 405 "));
        assert_eq!(run.requests, 1);
    }

    #[test]
    fn test_discarding_body_consumed_as_it_arrives() {
        let mut http = Http::default();
        let mut counters = HttpCounters::default();
        let mut cx = Cx::new(Instant::now(), &mut counters);
        let mut out = Vec::new();
        let head = b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n";
        assert_eq!(
            http.on_input(head, &mut out, usize::MAX, &mut cx),
            Step::cont(head.len())
        );
        // Part of the body: consumed entirely, not kept by the reactor.
        assert_eq!(
            http.on_input(&[b'x'; 60], &mut out, usize::MAX, &mut cx),
            Step::cont(60)
        );
        let mut rest = vec![b'y'; 40];
        rest.extend_from_slice(GET);
        let before = out.len();
        assert_eq!(
            http.on_input(&rest, &mut out, usize::MAX, &mut cx),
            Step::cont(rest.len())
        );
        assert_eq!(&out[before..], HELLO);
    }

    #[test]
    fn test_idle_identical_duplicate_length_accepted() {
        let input = b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nokGET / HTTP/1.1\r\n\r\n";
        let run = drive(&[input]);
        assert!(run.out.ends_with(HELLO));
        assert_eq!((run.requests, run.errors), (2, 0));
    }

    #[test]
    fn test_idle_expect_continue_sent_before_body() {
        let head = b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n";
        let mut http = Http::default();
        let mut counters = HttpCounters::default();
        let mut cx = Cx::new(Instant::now(), &mut counters);
        let mut out = Vec::new();
        assert_eq!(
            http.on_input(head, &mut out, usize::MAX, &mut cx),
            Step::cont(head.len())
        );
        assert!(out.starts_with(CONTINUE));
        assert!(text(&out[CONTINUE.len()..]).starts_with("HTTP/1.1 405 "));
        assert_eq!(
            out.windows(CONTINUE.len())
                .filter(|w| *w == CONTINUE)
                .count(),
            1
        );
        let before = out.len();
        assert_eq!(
            http.on_input(b"body", &mut out, usize::MAX, &mut cx),
            Step::cont(4)
        );
        assert_eq!(out.len(), before, "no second 100 Continue");
        // Body already here, or HTTP/1.0, or no body: no interim response.
        for req in [
            &b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nbody"[..],
            b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
            b"GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
        ] {
            let run = drive(&[req]);
            assert!(!run.out.starts_with(b"HTTP/1.1 100"), "{:?}", text(req));
        }
    }

    #[test]
    fn test_idle_chunked_body_501_closes() {
        let input = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        let run = drive(&[input]);
        assert_error_close(&run, b"", "501 Not Implemented");
        assert_eq!((run.requests, run.errors), (1, 0));
    }

    #[test]
    fn test_idle_any_transfer_encoding_field_501_closes() {
        // The server parses no transfer coding, so any field closes with 501: another
        // coding, and one naming none (loadgen's framing reads those differently from
        // the same scan_headers).
        for te in ["gzip", "", " , "] {
            let input = format!("POST / HTTP/1.1\r\nTransfer-Encoding: {te}\r\n\r\nhello");
            let run = drive(&[input.as_bytes()]);
            assert_error_close(&run, b"", "501 Not Implemented");
            assert_eq!((run.requests, run.errors), (1, 0), "{te:?}");
        }
    }

    #[test]
    fn test_idle_malformed_400_closes() {
        let cases: [&[u8]; 9] = [
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
            b"GET\r\n\r\n",
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET / HTTP/1.1 extra\r\n\r\n",
            b"GET / HTTP/1.1\r\nNoColonHere\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n",
            b"GET /\0 HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx",
        ];
        for case in cases {
            let mut input = GET.to_vec();
            input.extend_from_slice(case);
            input.extend_from_slice(GET);
            let run = drive(&[&input]);
            assert_error_close(&run, HELLO, "400 Bad Request");
            assert_eq!((run.requests, run.errors), (1, 1), "{:?}", text(case));
        }
        for cl in ["abc", "-1", "+1", "", "99999999999999999999999", "0x10"] {
            let input = format!("POST / HTTP/1.1\r\nContent-Length: {cl}\r\n\r\n");
            let run = drive(&[input.as_bytes()]);
            assert_error_close(&run, b"", "400 Bad Request");
            assert_eq!(run.errors, 1, "{cl:?}");
        }
    }

    #[test]
    fn test_idle_head_over_max_head_431() {
        let cfg = HttpConfig { max_head: 100 };
        // "GET / HTTP/1.1\r\nX: " is 19 bytes, the value and final CRLFs add n + 4.
        let head = |len: usize| format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(len - 23));
        let exact = head(100);
        assert_eq!(exact.len(), 100);
        let run = drive_with(cfg, &[exact.as_bytes()], 65536, false);
        assert_eq!(run.out, HELLO, "a head of exactly max_head is fine");
        let over = head(101);
        let run = drive_with(cfg, &[over.as_bytes()], 65536, false);
        assert_error_close(&run, b"", "431 Request Header Fields Too Large");
        assert_eq!(run.errors, 1);
        // A partial head is rejected as soon as it passes the limit, not kept forever.
        let partial = "GET / HTTP/1.1\r\nX: ".to_string() + &"a".repeat(82);
        assert_eq!(partial.len(), 101);
        let run = drive_with(cfg, &[&partial.as_bytes()[..100]], 65536, false);
        assert_eq!(
            (run.out.len(), run.leftover.len()),
            (0, 100),
            "100 bytes may wait"
        );
        let run = drive_with(cfg, &[partial.as_bytes()], 65536, false);
        assert_error_close(&run, b"", "431 Request Header Fields Too Large");
    }

    /// A valid head of exactly `len` bytes, long through one `X-Pad` header.
    #[track_caller]
    fn padded_head(len: usize) -> Vec<u8> {
        // "GET / HTTP/1.1\r\nX-Pad: " is 23 bytes, the final CRLFs 4.
        let head = format!("GET / HTTP/1.1\r\nX-Pad: {}\r\n\r\n", "p".repeat(len - 27));
        assert_eq!(head.len(), len);
        head.into_bytes()
    }

    #[test]
    fn test_partial_long_head_split_every_boundary_identical() {
        // Past RESCAN_FROM, so the split runs take the no-re-parse path.
        let mut input = GET.to_vec();
        input.extend_from_slice(&padded_head(RESCAN_FROM * 2 + 7));
        input.extend_from_slice(GET);
        let run = assert_split_invariant(HttpConfig::default(), &input);
        assert_eq!(run.out, HELLO.repeat(3));
        assert!(run.leftover.is_empty());
    }

    #[test]
    fn test_partial_long_head_trickled_answered_once_complete() {
        // 60 KB one byte per read: re-parsing the whole head each time would be
        // ~1.8 G parser steps here; only the new bytes are looked at.
        let mut input = padded_head(60_000);
        input.extend_from_slice(GET);
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        let run = drive(&bytes);
        assert_eq!(run.out, HELLO.repeat(2));
        assert_eq!((run.requests, run.errors), (2, 0));
        assert!(run.leftover.is_empty());
    }

    #[test]
    fn test_partial_long_head_error_waits_for_possible_end() {
        let head = padded_head(RESCAN_FROM + 100);
        // Everything but the final CRLF CRLF: partial, kept.
        let partial = &head[..head.len() - 4];
        let mut http = Http::default();
        let mut counters = HttpCounters::default();
        let mut cx = Cx::new(Instant::now(), &mut counters);
        let mut out = Vec::new();
        assert_eq!(
            http.on_input(partial, &mut out, usize::MAX, &mut cx),
            Step::cont(0)
        );
        // A NUL that cannot end the head is not parsed yet (the documented trade-off
        // for long heads) ...
        let mut input = partial.to_vec();
        input.push(0);
        assert_eq!(
            http.on_input(&input, &mut out, usize::MAX, &mut cx),
            Step::cont(0)
        );
        assert!(out.is_empty());
        // ... but as soon as the head could have ended, it is, and rejected.
        input.extend_from_slice(b"\r\n\r\n");
        let step = http.on_input(&input, &mut out, usize::MAX, &mut cx);
        assert_eq!(step.verdict, Verdict::CloseAfterFlush);
        assert!(text(&out).starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert_eq!(cx.ctx.protocol_errors, 1);
        // A short head is re-parsed every time: the same NUL is rejected at once.
        let run = drive(&[b"GET / HTTP/1.1\r\nX: a", b"\0"]);
        assert_error_close(&run, b"", "400 Bad Request");
    }

    #[test]
    fn test_partial_long_head_over_max_head_431_without_end() {
        // The skip path still enforces the limit.
        let cfg = HttpConfig {
            max_head: RESCAN_FROM + 50,
        };
        let head = padded_head(RESCAN_FROM + 200);
        let partial = &head[..head.len() - 4];
        let run = drive_with(
            cfg,
            &[&partial[..RESCAN_FROM + 10], &partial[RESCAN_FROM + 10..]],
            65536,
            false,
        );
        assert_error_close(&run, b"", "431 Request Header Fields Too Large");
        assert_eq!(run.errors, 1);
    }

    #[test]
    fn test_partial_long_bad_head_answer_depends_on_split() {
        // A valid request, then a long head with a NUL 1200 bytes in, never ended.
        let mut input = GET.to_vec();
        let at = input.len();
        input.extend_from_slice(&padded_head(RESCAN_FROM + 176)[..RESCAN_FROM + 172]);
        input.push(0);
        input.extend_from_slice(&[b'p'; 100]);
        let cfg = HttpConfig::default();
        let whole = drive_with(cfg, &[&input], 65536, false);
        assert_error_close(&whole, HELLO, "400 Bad Request");
        // Cut past RESCAN_FROM, before the NUL: the NUL cannot end the head, so the
        // kept head is not re-parsed and nothing is answered yet.
        let (a, b) = input.split_at(at + RESCAN_FROM + 10);
        let run = drive_with(cfg, &[a, b], 65536, false);
        assert_eq!((run.out.as_slice(), run.errors), (HELLO, 0));
        assert_eq!(
            (run.verdict, run.leftover.as_slice()),
            (Verdict::Continue, &input[at..])
        );
        // With eof the connection closes, still without an error page.
        let run = drive_with(cfg, &[a, b], 65536, true);
        assert_eq!(
            (run.out.as_slice(), run.verdict),
            (HELLO, Verdict::CloseAfterFlush)
        );
        // A blank line arrives: now it is parsed, and answered as unsplit.
        let run = drive_with(cfg, &[a, b, b"\r\n\r\n"], 65536, false);
        assert_error_close(&run, HELLO, "400 Bad Request");
        // The head passes max_head first: 431.
        let small = HttpConfig {
            max_head: RESCAN_FROM + 150,
        };
        let run = drive_with(small, &[a, b], 65536, false);
        assert_error_close(&run, HELLO, "431 Request Header Fields Too Large");
        assert_error_close(
            &drive_with(small, &[&input], 65536, false),
            HELLO,
            "400 Bad Request",
        );
    }

    #[test]
    fn test_bad_head_over_max_head_431_or_400_by_split() {
        // Found by the http_server fuzz target: with a small max_head the first read
        // passes it before the malformed byte arrives (431), while the same bytes in
        // one read are parsed up to that byte (400). Short of RESCAN_FROM either way.
        let cfg = HttpConfig { max_head: 32 };
        let mut input = b"GET / HTTP/1.1\r\nX-Pad: ".to_vec();
        input.extend_from_slice(&[b'p'; 40]);
        input.push(0);
        assert_error_close(
            &drive_with(cfg, &[&input], 65536, false),
            b"",
            "400 Bad Request",
        );
        let (a, b) = input.split_at(50);
        let run = drive_with(cfg, &[a, b], 65536, false);
        assert_error_close(&run, b"", "431 Request Header Fields Too Large");
        assert_eq!(run.errors, 1);
        // Within max_head the split never matters.
        let cfg = HttpConfig { max_head: 100 };
        for i in 0..=input.len() {
            let run = drive_with(cfg, &[&input[..i], &input[i..]], 65536, false);
            assert_error_close(&run, b"", "400 Bad Request");
        }
    }

    #[test]
    fn test_head_may_end_only_on_new_blank_line() {
        let old = b"GET / HTTP/1.1\r\nA: b\r\n";
        assert!(!head_may_end(old, old.len()));
        for tail in [&b"\r\n"[..], b"\n", b"X: y\r\n\r\n", b"X: y\n\n"] {
            let mut h = old.to_vec();
            h.extend_from_slice(tail);
            assert!(head_may_end(&h, old.len()), "{:?}", text(tail));
        }
        for tail in [&b"\r"[..], b"X: y\r\n", b"\0"] {
            let mut h = old.to_vec();
            h.extend_from_slice(tail);
            assert!(!head_may_end(&h, old.len()), "{:?}", text(tail));
        }
        // A blank line wholly inside the old bytes is not new.
        assert!(!head_may_end(b"\r\n\r\nGET", 7));
        assert!(head_may_end(b"ab", 5), "a shrunk head is re-parsed");
    }

    #[test]
    fn test_streaming_phase_wraps_with_pattern() {
        assert_eq!(phase_after(0, 0), 0);
        assert_eq!(phase_after(4095, 1), 0);
        assert_eq!(phase_after(4000, 200), 104);
        assert_eq!(
            phase_after(10, u64::MAX),
            ((10 + u64::MAX % 4096) % 4096) as u16
        );
    }

    #[test]
    fn test_idle_too_many_headers_431() {
        let many = |n: usize| {
            let mut s = "GET / HTTP/1.1\r\n".to_string();
            for i in 0..n {
                s += &format!("X-H{i}: v\r\n");
            }
            s + "\r\n"
        };
        assert_eq!(drive(&[many(MAX_HEADERS).as_bytes()]).out, HELLO);
        let run = drive(&[many(MAX_HEADERS + 1).as_bytes()]);
        assert_error_close(&run, b"", "431 Request Header Fields Too Large");
        assert_eq!(run.errors, 1);
    }

    #[test]
    fn test_any_random_input_no_panic_consumes_or_closes() {
        let mut rng = StdRng::seed_from_u64(0x5eed_1234);
        let cfg = HttpConfig { max_head: 512 };
        let seeds: [&[u8]; 4] = [
            GET,
            b"POST /x HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc",
            b"GET /bytes/300 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            b"HEAD / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        ];
        for round in 0..4000 {
            let input: Vec<u8> =
                if round % 2 == 0 {
                    let len = rng.gen_range(0..1024);
                    (0..len).map(|_| rng.gen()).collect()
                } else {
                    // Valid requests with a few bytes flipped reach deeper states.
                    let mut v = seeds.iter().cycle().skip(round % 4).take(5).fold(
                        Vec::new(),
                        |mut acc, s| {
                            acc.extend_from_slice(s);
                            acc
                        },
                    );
                    for _ in 0..rng.gen_range(0..4) {
                        let i = rng.gen_range(0..v.len());
                        v[i] = rng.gen();
                    }
                    v
                };
            let cut = rng.gen_range(0..=input.len());
            let run = drive_with(cfg, &[&input[..cut], &input[cut..]], 700, true);
            assert_ne!(
                run.verdict,
                Verdict::Continue,
                "eof always ends the connection"
            );
            assert!(
                run.leftover.len() <= cfg.max_head,
                "round {round}: kept {} bytes unanswered",
                run.leftover.len()
            );
            if run.verdict == Verdict::CloseAfterFlush && run.errors > 0 {
                assert!(text(&run.out).contains("Connection: close\r\n"));
            }
        }
    }

    #[test]
    fn test_sizes_fit_slot_budget() {
        let sizes = [
            ("Echo", std::mem::size_of::<super::super::Echo>()),
            ("Discard", std::mem::size_of::<super::super::Discard>()),
            ("Source", std::mem::size_of::<super::super::Source>()),
            ("Http", std::mem::size_of::<Http>()),
        ];
        println!("protocol state sizes: {sizes:?}");
        assert_eq!(sizes[0].1, 0);
        assert_eq!(sizes[1].1, 0);
        assert_eq!(sizes[2].1, 8);
        assert!(sizes[3].1 <= 32, "Http is {} bytes", sizes[3].1);
    }
}
