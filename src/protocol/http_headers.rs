//! HTTP/1.x header fields as both ends read them: the whitespace around a value, a
//! decimal number, and the one scan of a message's headers for what decides its
//! connection and the end of its body. The server ([`super::http`]) reads requests with
//! it and loadgen's framing reads responses with it, so the two cannot drift apart.
//! Re-exported from `protocol::http`, which is its public path.

use httparse::Header;

/// What a message's `Transfer-Encoding` fields say (several fields form one list).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TransferEncoding {
    /// No `Transfer-Encoding` field.
    #[default]
    Absent,
    /// Fields present, none naming a coding (empty values, commas only).
    Empty,
    /// The last coding named is `chunked`.
    Chunked,
    /// The last coding named is another (`gzip`, ...): a body not chunked last, whose
    /// end only the close can tell.
    Other,
}

/// What a message's headers say about its connection and the end of its body: the
/// `Connection`, `Content-Length`, `Transfer-Encoding` and `Expect` fields, nothing else.
///
/// ```
/// use readyloop::protocol::http::{scan_headers, TransferEncoding};
///
/// let mut headers = [httparse::EMPTY_HEADER; 8];
/// let mut resp = httparse::Response::new(&mut headers);
/// resp.parse(b"HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 5\r\n\r\n")
///     .unwrap();
/// let scan = scan_headers(resp.headers);
/// assert!(scan.close && scan.keep_alive);
/// assert_eq!(scan.length, Some(5));
/// assert_eq!(scan.transfer_encoding, TransferEncoding::Absent);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeaderScan {
    /// A `Connection` field named `close` (which wins over `keep-alive`).
    pub close: bool,
    /// A `Connection` field named `keep-alive` (what HTTP/1.0 needs to keep it open).
    pub keep_alive: bool,
    /// The `Content-Length`: the first valid value. Look at `bad_length` first.
    pub length: Option<u64>,
    /// A `Content-Length` that is not a plain decimal number, or lengths that differ:
    /// where the body ends is unknown. The same length repeated is allowed (RFC 9110
    /// 8.6).
    pub bad_length: bool,
    /// The `Transfer-Encoding` fields: the last coding named, or whether there were any.
    pub transfer_encoding: TransferEncoding,
    /// The last `Expect` field is `100-continue` (a request whose client waits for
    /// `100 Continue` before sending the body).
    pub expect_continue: bool,
}

/// Looks at `Connection`, `Content-Length`, `Transfer-Encoding` and `Expect` only, in
/// headers parsed by httparse. Names are compared by length first, which rules out
/// almost every other header (Host, User-Agent, ...) with one integer compare.
pub fn scan_headers(headers: &[Header<'_>]) -> HeaderScan {
    let mut scan = HeaderScan::default();
    for h in headers {
        let name = h.name.as_bytes();
        match name.len() {
            10 if name.eq_ignore_ascii_case(b"connection") => {
                for token in h.value.split(|&b| b == b',') {
                    let token = trim(token);
                    if token.eq_ignore_ascii_case(b"close") {
                        scan.close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        scan.keep_alive = true;
                    }
                }
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                // Differing lengths are a smuggling attempt or a broken peer.
                match parse_u64(trim(h.value)) {
                    Some(v) if scan.length.unwrap_or(v) == v => scan.length = Some(v),
                    _ => scan.bad_length = true,
                }
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                // The last coding named decides; a field naming none leaves what an
                // earlier one said.
                let last = h
                    .value
                    .split(|&b| b == b',')
                    .map(trim)
                    .rfind(|t| !t.is_empty());
                scan.transfer_encoding = match last {
                    Some(t) if t.eq_ignore_ascii_case(b"chunked") => TransferEncoding::Chunked,
                    Some(_) => TransferEncoding::Other,
                    None if scan.transfer_encoding == TransferEncoding::Absent => {
                        TransferEncoding::Empty
                    }
                    None => scan.transfer_encoding,
                };
            }
            6 if name.eq_ignore_ascii_case(b"expect") => {
                scan.expect_continue = trim(h.value).eq_ignore_ascii_case(b"100-continue");
            }
            _ => {}
        }
    }
    scan
}

/// Strips the optional whitespace (space, tab) HTTP allows around values and tokens.
pub fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// A plain decimal u64: digits only, at least one, no sign, no overflow.
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(d))
    })
}

#[cfg(test)]
mod tests {
    use super::{parse_u64, scan_headers, trim, HeaderScan, TransferEncoding};
    use httparse::Header;

    #[track_caller]
    fn scan(fields: &[(&str, &str)]) -> HeaderScan {
        let headers: Vec<Header<'_>> = fields
            .iter()
            .map(|&(name, value)| Header {
                name,
                value: value.as_bytes(),
            })
            .collect();
        scan_headers(&headers)
    }

    #[test]
    fn test_scan_connection_tokens_any_case_and_spacing() {
        let s = scan(&[
            ("connection", " Keep-Alive ,\tUpgrade"),
            ("CONNECTION", "CLOSE"),
        ]);
        assert!(s.close && s.keep_alive);
        assert_eq!(scan(&[]), HeaderScan::default());
        assert!(!scan(&[("Connection", "closed, keep-alives")]).close);
    }

    #[test]
    fn test_scan_content_length_repeated_same_or_differing() {
        let s = scan(&[("Content-Length", " 5 "), ("content-length", "5")]);
        assert_eq!((s.length, s.bad_length), (Some(5), false));
        let s = scan(&[("Content-Length", "5"), ("Content-Length", "6")]);
        assert_eq!((s.length, s.bad_length), (Some(5), true));
        for bad in ["", "+5", "5 5", "0x5", "18446744073709551616"] {
            assert!(scan(&[("Content-Length", bad)]).bad_length, "{bad:?}");
        }
    }

    #[test]
    fn test_scan_transfer_encoding_last_coding_decides() {
        let te = |fields: &[(&str, &str)]| scan(fields).transfer_encoding;
        assert_eq!(te(&[]), TransferEncoding::Absent);
        assert_eq!(te(&[("Transfer-Encoding", " , ")]), TransferEncoding::Empty);
        assert_eq!(
            te(&[("Transfer-Encoding", "gzip, Chunked ,")]),
            TransferEncoding::Chunked
        );
        assert_eq!(
            te(&[("Transfer-Encoding", "chunked, gzip")]),
            TransferEncoding::Other
        );
        // A later field naming nothing leaves the earlier one's coding.
        assert_eq!(
            te(&[("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "")]),
            TransferEncoding::Chunked
        );
        assert_eq!(
            te(&[
                ("Transfer-Encoding", "chunked"),
                ("transfer-encoding", "br")
            ]),
            TransferEncoding::Other
        );
    }

    #[test]
    fn test_scan_expect_continue_last_field_wins() {
        assert!(scan(&[("Expect", " 100-Continue ")]).expect_continue);
        assert!(!scan(&[("Expect", "100-continue"), ("Expect", "x")]).expect_continue);
    }

    #[test]
    fn test_trim_and_parse_u64() {
        assert_eq!(trim(b" \t a b\t "), b"a b");
        assert_eq!(trim(b"  "), b"");
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"-1"), None);
    }
}
