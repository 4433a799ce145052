//! HTTP/1.x response framing ([`Framing::Http`](super::Framing::Http)): the head,
//! then a body delimited by Content-Length, chunked encoding, or the peer's close, or
//! no body at all (a `HEAD` request, 101, 204, 304).
//!
//! The head is the one piece of a response the framer needs whole, so it is parsed
//! here with httparse only once its blank line has arrived; interim 1xx heads are
//! skipped. Bodies and chunk data are consumed as they arrive.

use super::{crlf, take, FrameError, Framer, Progress, State, MAX_HEAD, MAX_HEADERS};
use httparse::{Header, ParserConfig, Status};
use memchr::memchr;
// The header scan and `trim` are the server's: one reading of `Connection`,
// `Content-Length`, `Transfer-Encoding` and HTTP's whitespace for both sides.
use readyloop::protocol::http::{scan_headers, trim, HeaderScan, TransferEncoding};
use std::mem::MaybeUninit;

impl Framer {
    /// One step of HTTP at the start of `rest`.
    pub(super) fn step_http(&mut self, rest: &[u8]) -> Result<Progress, FrameError> {
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
        let fields = info.fields;
        // 1.1 defaults to keep-alive, 1.0 to close; `close` wins over `keep-alive`.
        self.close = fields.close || (info.http10 && !fields.keep_alive);
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
        match fields.transfer_encoding {
            TransferEncoding::Chunked => {
                self.state = State::HttpChunkSize;
                return Ok(Progress::More(n));
            }
            TransferEncoding::Other => {
                self.state = State::HttpUntilClose;
                self.close = true;
                return Ok(Progress::More(n));
            }
            // No field, or none naming a coding: the length or the close decides.
            TransferEncoding::Absent | TransferEncoding::Empty => {}
        }
        if fields.bad_length {
            return Err(FrameError::Malformed("content-length"));
        }
        match fields.length {
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
}

/// What the head said that framing needs.
#[derive(Clone, Copy, Debug)]
struct HeadInfo {
    code: u16,
    http10: bool,
    /// The fields that tell the connection and the body's end ([`HeaderScan`]).
    fields: HeaderScan,
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
    let info = HeadInfo {
        // Complete means both were parsed; the defaults are never used.
        code: resp.code.unwrap_or(0),
        http10: resp.version == Some(0),
        fields: scan_headers(resp.headers),
    };
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

#[cfg(test)]
mod tests {
    use super::super::test_support::{
        assert_progressive, assert_splits, drive, expecting, feed_err, http, text, MB,
    };
    use super::super::{FrameError, Framing, MAX_HEAD, MAX_HEADERS};

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
    fn test_http_head_te_naming_no_coding_leaves_the_length() {
        // A Transfer-Encoding field that names no coding says nothing: Content-Length
        // frames the body (the server, reading requests with the same scan, answers
        // any such field 501).
        let resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: \r\nContent-Length: 3\r\n\r\nabc";
        assert_splits(
            &Framing::Http,
            false,
            b"",
            resp,
            http(200, false, resp.len()),
        );
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
}
