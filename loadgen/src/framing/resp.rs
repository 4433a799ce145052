//! Redis RESP framing ([`Framing::Resp`](super::Framing::Resp)): one top-level RESP2
//! value, or most of RESP3 (null, boolean, double, big number, blob error, verbatim
//! string, map, set, push, attribute), nested aggregates included.
//!
//! Aggregates are not recursed into: the framer counts the values still pending
//! (`Framer::pending`), so nesting costs no stack. Free text and blobs are consumed as
//! they arrive; only a length or integer line is needed whole.

use super::{crlf, take, FrameError, Framer, Progress, State};
use memchr::memchr;
// `parse_u64` is the server's: one definition of a decimal length for both sides.
use readyloop::protocol::http::parse_u64;

impl Framer {
    /// One step of RESP at the start of `rest`.
    pub(super) fn step_resp(&mut self, rest: &[u8]) -> Result<Progress, FrameError> {
        match self.state {
            State::RespType => {
                let Some(&kind) = rest.first() else {
                    return Ok(Progress::Need(0));
                };
                if std::mem::take(&mut self.resp_top) && (kind == b'-' || kind == b'!') {
                    // A top-level error reply: keep its first word as it streams.
                    self.error = Some(super::ErrorWord::default());
                    self.error_open = true;
                }
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
            State::RespText { cr } => {
                self.collect_error_word(rest);
                self.resp_text(cr, rest)
            }
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
                self.collect_error_word(&rest[..k]);
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

    /// Free text (`+`, `-`, `,`, `(`) up to its CRLF, consumed as it arrives; `cr`:
    /// the last byte seen was a CR.
    fn resp_text(&mut self, cr: bool, rest: &[u8]) -> Result<Progress, FrameError> {
        match memchr(b'\n', rest) {
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
        }
    }

    /// While a top-level error's first word is arriving, take its bytes from `piece`.
    fn collect_error_word(&mut self, piece: &[u8]) {
        if !self.error_open {
            return;
        }
        if let Some(w) = self.error.as_mut() {
            for &b in piece {
                if !w.push(b) {
                    self.error_open = false;
                    return;
                }
            }
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
    use super::super::test_support::{
        assert_progressive, assert_splits, drive, expecting, plain, text, MB,
    };
    use super::super::{ErrorWord, FrameError, Framing, MAX_HEAD};

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
            let mut want = plain(resp.len());
            if resp[0] == b'-' {
                want.error = Some(word("ERR"));
            }
            assert_splits(&Framing::Resp, false, b"", resp, want);
        }
    }

    fn word(w: &str) -> ErrorWord {
        let mut e = ErrorWord::default();
        for &b in w.as_bytes() {
            assert!(e.push(b));
        }
        e
    }

    #[test]
    fn test_resp_error_reply_is_a_response_with_its_first_word() {
        let mut f = expecting(&Framing::Resp, false);
        let feed = f.feed(b"-ERR wrong\r\n+OK\r\n", b"").unwrap();
        assert_eq!(feed.consumed, 12);
        let mut want = plain(12);
        want.error = Some(word("ERR"));
        assert_eq!(feed.done, Some(want));
        // The word arrives split across reads; a RESP3 blob error; an error nested in
        // an array (EXEC's results) is the array's business, not a failed request.
        let mut f = expecting(&Framing::Resp, false);
        assert_eq!(f.feed(b"-WRONG", b"").unwrap().done, None);
        let done = f.feed(b"TYPE Operation\r\n", b"").unwrap().done.unwrap();
        assert_eq!(
            done.error.map(|w| w.as_string()),
            Some("WRONGTYPE".to_string())
        );
        let mut f = expecting(&Framing::Resp, false);
        let done = f.feed(b"!9\r\nSYNTAX no\r\n", b"").unwrap().done.unwrap();
        assert_eq!(
            done.error.map(|w| w.as_string()),
            Some("SYNTAX".to_string())
        );
        let mut f = expecting(&Framing::Resp, false);
        let done = f.feed(b"*1\r\n-ERR x\r\n", b"").unwrap().done.unwrap();
        assert_eq!(done.error, None);
        // The next reply starts clean.
        let mut f = expecting(&Framing::Resp, false);
        f.feed(b"-ERR x\r\n", b"").unwrap();
        f.expect(false);
        assert_eq!(f.feed(b"+OK\r\n", b"").unwrap().done, Some(plain(5)));
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

    #[test]
    fn test_resp_bulk_1mb_progressive() {
        let mut resp = format!("*2\r\n${MB}\r\n").into_bytes();
        resp.resize(resp.len() + MB, b'x');
        resp.extend_from_slice(b"\r\n+OK\r\n");
        assert_progressive(&Framing::Resp, b"", &resp, plain(resp.len()));
    }
}
