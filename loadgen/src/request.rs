//! Building requests: escapes in payload arguments, `http://` URLs, HTTP/1.1 requests
//! and `HOST:PORT` targets.
//!
//! All of this runs once per run, before any connection, so it favours clear errors
//! over speed. Every request is built once and re-sent as the same bytes.

use crate::framing::{Framer, Framing, MAX_PIPELINE};
use readyloop::protocol::http::{parse_u64, trim};
use std::net::{Ipv6Addr, SocketAddr, ToSocketAddrs};

/// Turns `\r`, `\n`, `\t`, `\0`, `\\` and `\xNN` escapes into bytes; every other
/// character stands for its UTF-8 bytes. A bad escape is an error naming it.
///
/// ```
/// use loadgen::request::unescape;
/// assert_eq!(unescape(r"PING\r\n").unwrap(), b"PING\r\n");
/// assert_eq!(unescape(r"\xff\x00").unwrap(), [0xff, 0]);
/// assert!(unescape(r"\q").unwrap_err().contains(r"\q"));
/// ```
pub fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let byte = match chars.next() {
            Some('r') => b'\r',
            Some('n') => b'\n',
            Some('t') => b'\t',
            Some('0') => 0,
            Some('\\') => b'\\',
            Some('x') => {
                let hi = chars.next();
                let lo = chars.next();
                match (
                    hi.and_then(|h| h.to_digit(16)),
                    lo.and_then(|l| l.to_digit(16)),
                ) {
                    // Two hex digits are at most 0xff.
                    (Some(h), Some(l)) => (h * 16 + l) as u8,
                    _ => {
                        let got: String = hi.into_iter().chain(lo).collect();
                        return Err(format!("bad escape \"\\x{got}\": \\x needs two hex digits"));
                    }
                }
            }
            Some(other) => {
                return Err(format!(
                    "bad escape \"\\{other}\" (known: \\r \\n \\t \\0 \\\\ \\xNN)"
                ))
            }
            None => return Err("a lone \"\\\" ends the string (write \\\\)".to_string()),
        };
        out.push(byte);
    }
    Ok(out)
}

/// A parsed `http://` or `https://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// `https`: HTTP over TLS.
    pub tls: bool,
    /// Host name or address, IPv6 without its brackets (`::1`).
    pub host: String,
    /// Port, 80 (443 for https) unless given.
    pub port: u16,
    /// Path and query, starting with `/`; `/` unless given. Fragments are dropped:
    /// they are never sent.
    pub path: String,
}

impl Url {
    /// The `Host` header value: `host:port`, IPv6 in brackets (`[::1]:8080`).
    ///
    /// ```
    /// use loadgen::request::parse_url;
    /// assert_eq!(parse_url("http://[::1]:8080/").unwrap().host_header(), "[::1]:8080");
    /// assert_eq!(parse_url("http://example.com").unwrap().host_header(), "example.com:80");
    /// ```
    pub fn host_header(&self) -> String {
        host_port(&self.host, self.port)
    }
}

/// `host:port`, an IPv6 host in brackets (`[::1]:8080`).
pub(crate) fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Parses `http://HOST[:PORT][/PATH]` and `https://...`: default port 80 (443), default
/// path `/`, IPv6 hosts in brackets (`http://[::1]:8080/x`). Other schemes are
/// refused, as are user info and characters that cannot go into a request line.
///
/// ```
/// use loadgen::request::{parse_url, Url};
/// let u = parse_url("http://127.0.0.1:8080/bytes/1024?x=1").unwrap();
/// assert_eq!((u.host.as_str(), u.port, u.path.as_str()), ("127.0.0.1", 8080, "/bytes/1024?x=1"));
/// let s = parse_url("https://example.org/").unwrap();
/// assert_eq!((s.tls, s.port), (true, 443));
/// assert!(parse_url("ftp://a/").is_err());
/// ```
pub fn parse_url(s: &str) -> Result<Url, String> {
    let Some((scheme, rest)) = s.split_once("://") else {
        return Err(format!(
            "{s:?} is not a URL: expected http://HOST[:PORT][/PATH]"
        ));
    };
    let tls = scheme.eq_ignore_ascii_case("https");
    if !tls && !scheme.eq_ignore_ascii_case("http") {
        return Err(format!(
            "unsupported scheme {scheme:?}: expected http or https"
        ));
    }
    // The fragment is the client's business, never sent.
    let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let path = match path {
        "" => "/".to_string(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_string(),
    };
    // The path goes verbatim into the request line: whitespace or a control byte
    // would break it (or smuggle a header).
    if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(format!(
            "path {path:?} contains whitespace or control characters (percent-encode them)"
        ));
    }
    if authority.contains('@') {
        return Err("user info (user@host) is not supported".to_string());
    }
    let (host, port) = split_host_port(authority, Some(if tls { 443 } else { 80 }))?;
    Ok(Url {
        tls,
        host: host.to_string(),
        port,
        path,
    })
}

/// Splits `host[:port]` or `[v6][:port]` and checks the host. `default`: the port when
/// none is given; `None` makes the port required.
fn split_host_port(s: &str, default: Option<u16>) -> Result<(&str, u16), String> {
    let (host, port) = if let Some(bracketed) = s.strip_prefix('[') {
        let Some((v6, after)) = bracketed.split_once(']') else {
            return Err(format!("{s:?}: '[' without ']'"));
        };
        if v6.parse::<Ipv6Addr>().is_err() {
            return Err(format!("{v6:?} is not an IPv6 address"));
        }
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| format!("{s:?}: expected ':' after ']'"))?,
            ),
        };
        (v6, port)
    } else {
        if s.matches(':').count() > 1 {
            return Err(format!(
                "{s:?}: IPv6 addresses need brackets, as in [::1]:8080"
            ));
        }
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return Err(format!("{s:?}: empty host"));
    }
    // A name goes into the Host header: keep to what DNS names and IPv4 use, so a
    // stray CR/LF or space cannot end up in the request.
    if !s.starts_with('[')
        && !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return Err(format!("{host:?} is not a valid host name"));
    }
    let port = match (port, default) {
        (Some(p), _) => parse_port(p)?,
        (None, Some(d)) => d,
        (None, None) => return Err(format!("{s:?}: missing port (HOST:PORT)")),
    };
    Ok((host, port))
}

/// A decimal TCP port, 1..=65535.
fn parse_port(p: &str) -> Result<u16, String> {
    // `u16::from_str` accepts a leading '+'; a port is digits only.
    match p.parse::<u16>() {
        Ok(0) => Err("port 0 cannot be connected to".to_string()),
        Ok(n) if p.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(format!("bad port {p:?}: expected 1..=65535")),
    }
}

/// Whether `b` is a control character that may not appear in a field value (RFC 9110
/// 5.5: everything below space but tab, and DEL).
fn is_ctl(b: u8) -> bool {
    (b < b' ' && b != b'\t') || b == 0x7f
}

/// Whether `b` may appear in a method or header name (RFC 9110 `tchar`).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Builds an HTTP/1.1 request: `METHOD PATH HTTP/1.1`, `Host` (`host_header`, trimmed),
/// then `headers` (each `"Name: value"`, rewritten as `Name: value` with the value
/// trimmed), then `Content-Length` when `body` is not empty, the blank line and `body`.
///
/// A header name must be a token followed by `:`; a control character in a value or
/// in `host_header` (CR, LF, NUL, DEL, anything but tab) is an error, as is a method
/// that is not a token or a path that is empty or holds whitespace or control
/// characters: whatever is built parses back as exactly this request. Like curl, a
/// `Host` header in `headers` replaces the default one, and a `Content-Length` or
/// `Transfer-Encoding` header there suppresses the automatic `Content-Length` (the
/// body is then sent as given). A `Content-Length` there must be the body's length
/// (else the server would take the rest of the body for a next request, or wait for
/// bytes that never come), and may not come with `Transfer-Encoding` (RFC 9112 6.2).
///
/// ```
/// use loadgen::request::http_request;
/// let req = http_request("POST", "h:80", "/x", &["X-A: 1".to_string()], b"hi").unwrap();
/// assert_eq!(req, b"POST /x HTTP/1.1\r\nHost: h:80\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nhi");
/// assert!(http_request("GET", "h:80", "/", &["NoColon".to_string()], b"").is_err());
/// let wrong = ["Content-Length: 3".to_string()];
/// assert!(http_request("POST", "h:80", "/", &wrong, b"hi").unwrap_err().contains("2 bytes"));
/// ```
pub fn http_request(
    method: &str,
    host_header: &str,
    path: &str,
    headers: &[String],
    body: &[u8],
) -> Result<Vec<u8>, String> {
    if method.is_empty() || !method.bytes().all(is_tchar) {
        return Err(format!(
            "bad method {method:?}: expected a token such as GET"
        ));
    }
    if path.is_empty() || path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(format!(
            "bad request target {path:?}: non-empty, without whitespace or control characters"
        ));
    }
    // Trimmed like the other values: a parser drops the whitespace around a value, so
    // only the trimmed one would reach the server.
    let host_header = host_header.trim_matches([' ', '\t']);
    if host_header.bytes().any(is_ctl) {
        return Err(format!(
            "Host {host_header:?} contains a control character (CR or LF, NUL, ...)"
        ));
    }
    let mut fields: Vec<(&str, &str)> = Vec::with_capacity(headers.len());
    for h in headers {
        let Some((name, value)) = h.split_once(':') else {
            return Err(format!(
                "header {h:?} has no ':' (expected \"Name: value\")"
            ));
        };
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(format!(
                "header {h:?}: bad name {name:?} (a token, no spaces, before ':')"
            ));
        }
        // CR or LF would end the field early and let the rest pose as a new header;
        // other control characters are refused by servers (and httparse).
        if value.bytes().any(is_ctl) {
            return Err(format!(
                "header {h:?}: value contains CR, LF or another control character"
            ));
        }
        fields.push((name, value.trim_matches([' ', '\t'])));
    }
    let has = |n: &str| fields.iter().any(|(name, _)| name.eq_ignore_ascii_case(n));
    let own_host = has("host");
    let own_te = has("transfer-encoding");
    let mut own_cl = false;
    for (name, value) in &fields {
        if !name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        own_cl = true;
        if parse_u64(value.as_bytes()) != Some(body.len() as u64) {
            return Err(format!(
                "header \"{name}: {value}\" does not match the body, which is {} bytes \
                 (leave Content-Length out: it is added)",
                body.len()
            ));
        }
    }
    if own_cl && own_te {
        return Err(
            "Content-Length and Transfer-Encoding together: a request may carry only one"
                .to_string(),
        );
    }
    let own_length = own_cl || own_te;

    let mut out = Vec::with_capacity(64 + path.len() + host_header.len() + body.len());
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !own_host {
        out.extend_from_slice(b"Host: ");
        out.extend_from_slice(host_header.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in &fields {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() && !own_length {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    Ok(out)
}

/// A `HOST:PORT` target (`[v6]:PORT`) split and checked, not resolved: the host
/// (IPv6 without brackets) and the port.
pub(crate) fn split_target(s: &str) -> Result<(&str, u16), String> {
    split_host_port(s, None)
}

/// Resolves a `HOST:PORT` target (`127.0.0.1:7878`, `[::1]:7878`, `localhost:7878`)
/// to its first address.
///
/// ```
/// use loadgen::request::parse_target;
/// assert_eq!(parse_target("[::1]:8080").unwrap().to_string(), "[::1]:8080");
/// assert!(parse_target("127.0.0.1").is_err());
/// ```
pub fn parse_target(s: &str) -> Result<SocketAddr, String> {
    let (host, port) = split_target(s)?;
    let mut addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {s:?}: {e}"))?;
    addrs
        .next()
        .ok_or_else(|| format!("{s:?} resolved to no address"))
}

/// The requests one `--request` holds, in order, as their HEAD flags: the replies a
/// connection must get for it. Lines for `line` (a last line without its newline is
/// a request too), RESP values (arrays or inline commands) for `resp`, HTTP request
/// heads (and their `Content-Length` bodies) for `http`; one for `echo` and `fixed`,
/// whose reply is the request as a whole. More than [`MAX_PIPELINE`] requests, or an
/// HTTP request that does not parse, is an error.
///
/// ```
/// use loadgen::framing::Framing;
/// use loadgen::request::pipeline;
/// assert_eq!(pipeline(&Framing::Line, b"SET k v\nGET k\n").unwrap().len(), 2);
/// let two = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nHEAD / HTTP/1.1\r\nHost: x\r\n\r\n";
/// assert_eq!(pipeline(&Framing::Http, two).unwrap(), [false, true]);
/// assert_eq!(pipeline(&Framing::Resp, b"PING\r\n*1\r\n$4\r\nPING\r\n").unwrap().len(), 2);
/// ```
pub fn pipeline(framing: &Framing, request: &[u8]) -> Result<Vec<bool>, String> {
    let n_or_err = |heads: Vec<bool>| {
        if heads.len() > MAX_PIPELINE {
            Err(format!(
                "the request holds {} requests; at most {MAX_PIPELINE} can be pipelined",
                heads.len()
            ))
        } else {
            Ok(heads)
        }
    };
    match framing {
        Framing::Echo | Framing::Fixed(_) => Ok(vec![false]),
        Framing::Line => {
            let lines = request.split_inclusive(|&b| b == b'\n').count().max(1);
            n_or_err(vec![false; lines.min(MAX_PIPELINE + 1)])
        }
        Framing::Resp => {
            // A client's commands are RESP values too: frame them as replies would be.
            let mut f = Framer::new(&Framing::Resp);
            let mut heads = Vec::new();
            let mut rest = request;
            while !rest.is_empty() && heads.len() <= MAX_PIPELINE {
                let used = if rest[0] == b'*' {
                    f.expect(false);
                    let feed = f
                        .feed(rest, rest)
                        .map_err(|e| format!("the request is not RESP: {e}"))?;
                    if feed.done.is_none() {
                        return Err("the request ends inside a RESP command".to_string());
                    }
                    feed.consumed
                } else {
                    // An inline command: one line (Redis accepts these too).
                    rest.iter()
                        .position(|&b| b == b'\n')
                        .map_or(rest.len(), |i| i + 1)
                };
                heads.push(false);
                rest = &rest[used..];
            }
            if heads.is_empty() {
                return Err("the request is empty".to_string());
            }
            n_or_err(heads)
        }
        Framing::Http => {
            let mut heads = Vec::new();
            let mut rest = request;
            while !rest.is_empty() && heads.len() <= MAX_PIPELINE {
                let mut hdrs = [httparse::EMPTY_HEADER; 64];
                let mut req = httparse::Request::new(&mut hdrs);
                let head_len = match req.parse(rest) {
                    Ok(httparse::Status::Complete(n)) => n,
                    Ok(httparse::Status::Partial) => {
                        return Err("the request ends inside an HTTP head".to_string())
                    }
                    Err(e) => return Err(format!("the request is not HTTP: {e}")),
                };
                let body = req
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .map(|h| parse_u64(trim(h.value)))
                    .unwrap_or(Some(0))
                    .ok_or("a request's Content-Length is not a number")?;
                heads.push(req.method == Some("HEAD"));
                let end = (head_len as u64)
                    .checked_add(body)
                    .filter(|&e| e <= rest.len() as u64)
                    .ok_or("a request's body is shorter than its Content-Length")?;
                rest = &rest[end as usize..];
            }
            if heads.is_empty() {
                return Err("the request is empty".to_string());
            }
            n_or_err(heads)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts that `f(input)` fails with a message containing `needle`.
    #[track_caller]
    fn assert_err<T: std::fmt::Debug>(got: Result<T, String>, needle: &str) {
        match got {
            Err(e) => assert!(e.contains(needle), "error {e:?} lacks {needle:?}"),
            Ok(v) => panic!("expected an error containing {needle:?}, got {v:?}"),
        }
    }

    #[track_caller]
    fn url(s: &str) -> Url {
        parse_url(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[track_caller]
    fn request(method: &str, path: &str, headers: &[&str], body: &[u8]) -> Result<String, String> {
        let headers: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
        http_request(method, "h:80", path, &headers, body)
            .map(|r| String::from_utf8(r).expect("test requests are text"))
    }

    #[test]
    fn test_unescape_all_escapes() {
        assert_eq!(
            unescape(r"a\r\n\t\0\\\x41\xfF\x00z").unwrap(),
            b"a\r\n\t\0\\A\xff\x00z"
        );
        assert_eq!(unescape("").unwrap(), b"");
        assert_eq!(unescape("plain text").unwrap(), b"plain text");
    }

    #[test]
    fn test_unescape_unicode_passes_through() {
        assert_eq!(unescape(r"é\n").unwrap(), "é\n".as_bytes());
    }

    #[test]
    fn test_unescape_bad_escape_named() {
        assert_err(unescape(r"ab\q"), r#""\q""#);
        assert_err(unescape(r"\é"), r#""\é""#);
        assert_err(unescape(r"\x4"), r#""\x4""#);
        assert_err(unescape(r"\xg0"), r#""\xg0""#);
        assert_err(unescape(r"\x"), r#""\x""#);
        assert_err(unescape("end\\"), "lone");
    }

    #[test]
    fn test_parse_url_defaults() {
        assert_eq!(
            url("http://example.com"),
            Url {
                tls: false,
                host: "example.com".into(),
                port: 80,
                path: "/".into()
            }
        );
        assert_eq!(url("HTTP://a.b/").port, 80);
    }

    #[test]
    fn test_parse_url_port_and_path() {
        let u = url("http://127.0.0.1:7878/bytes/1024?x=1&y=2#frag");
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 7878, "/bytes/1024?x=1&y=2")
        );
        assert_eq!(url("http://h:8080").path, "/");
        assert_eq!(url("http://h?q=1").path, "/?q=1");
    }

    #[test]
    fn test_parse_url_ipv6() {
        let u = url("http://[::1]:8080/x");
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("::1", 8080, "/x")
        );
        assert_eq!(u.host_header(), "[::1]:8080");
        let u = url("http://[2001:db8::2]");
        assert_eq!((u.host.as_str(), u.port), ("2001:db8::2", 80));
    }

    #[test]
    fn test_parse_url_bad_rejected() {
        assert_eq!(url("HTTPS://example.com/").port, 443);
        assert!(url("https://example.com:8443/").tls);
        assert_err(parse_url("ftp://example.com/"), "expected http or https");
        assert_err(parse_url("ftp://example.com/"), "unsupported scheme");
        assert_err(parse_url("example.com:80"), "not a URL");
        assert_err(parse_url("http://"), "empty host");
        assert_err(parse_url("http://:80/"), "empty host");
        assert_err(parse_url("http://h:0/"), "port 0");
        assert_err(parse_url("http://h:70000/"), "bad port");
        assert_err(parse_url("http://h:+80/"), "bad port");
        assert_err(parse_url("http://h:/"), "bad port");
        assert_err(parse_url("http://::1:80/"), "brackets");
        assert_err(parse_url("http://[::1/"), "without ']'");
        assert_err(parse_url("http://[nope]:80/"), "not an IPv6");
        assert_err(parse_url("http://[::1]x/"), "after ']'");
        assert_err(parse_url("http://u:p@h/"), "user info");
        assert_err(parse_url("http://h/a b"), "whitespace");
        assert_err(parse_url("http://h/a\r\nX: y"), "whitespace");
        assert_err(parse_url("http://h\r\nX: y/"), "not a valid host");
    }

    #[test]
    fn test_host_header_forms() {
        assert_eq!(
            url("http://localhost:7878/").host_header(),
            "localhost:7878"
        );
        assert_eq!(url("http://10.0.0.1/").host_header(), "10.0.0.1:80");
        assert_eq!(url("http://[fe80::1]:1/").host_header(), "[fe80::1]:1");
    }

    #[test]
    fn test_http_request_exact_bytes() {
        assert_eq!(
            request("GET", "/", &[], b"").unwrap(),
            "GET / HTTP/1.1\r\nHost: h:80\r\n\r\n"
        );
        assert_eq!(
            request("GET", "/x?y=1", &["Accept:*/*", "X-Two:  a b \t"], b"").unwrap(),
            "GET /x?y=1 HTTP/1.1\r\nHost: h:80\r\nAccept: */*\r\nX-Two: a b\r\n\r\n"
        );
    }

    #[test]
    fn test_http_request_content_length_added() {
        assert_eq!(
            request("POST", "/up", &["Content-Type: text/plain"], b"hello").unwrap(),
            "POST /up HTTP/1.1\r\nHost: h:80\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
        );
        // An empty body gets no Content-Length.
        assert!(!request("POST", "/", &[], b"")
            .unwrap()
            .contains("Content-Length"));
    }

    #[test]
    fn test_http_request_own_host_and_length_win() {
        let r = request("POST", "/", &["host: other", "Content-Length: 5"], b"hello").unwrap();
        assert_eq!(
            r,
            "POST / HTTP/1.1\r\nhost: other\r\nContent-Length: 5\r\n\r\nhello"
        );
        let r = request("POST", "/", &["Transfer-Encoding: chunked"], b"0\r\n\r\n").unwrap();
        assert!(!r.contains("Content-Length"), "{r:?}");
    }

    #[test]
    fn test_http_request_bad_headers_rejected() {
        assert_err(request("GET", "/", &["NoColon"], b""), "no ':'");
        assert_err(request("GET", "/", &[": v"], b""), "bad name");
        assert_err(request("GET", "/", &["Bad Name: v"], b""), "bad name");
        assert_err(request("GET", "/", &["X\r\nY: v"], b""), "bad name");
        assert_err(request("GET", "/", &["X: a\r\nInjected: 1"], b""), "CR, LF");
        assert_err(request("GET", "/", &["X: a\n"], b""), "CR, LF");
        assert_err(request("G ET", "/", &[], b""), "bad method");
        assert_err(request("", "/", &[], b""), "bad method");
        assert_err(request("GET", "", &[], b""), "bad request target");
        assert_err(request("GET", "/a b", &[], b""), "bad request target");
        assert_err(http_request("GET", "h\r\nX: y", "/", &[], b""), "CR or LF");
    }

    #[test]
    fn test_http_request_own_length_must_match_body() {
        // Equal, however written: sent as given.
        for cl in [
            "Content-Length: 5",
            "content-length:05",
            "Content-Length:\t5 ",
        ] {
            let r = request("POST", "/", &[cl], b"hello").unwrap();
            assert_eq!(r.matches("ontent-").count(), 1, "{r:?}");
        }
        assert!(request("POST", "/", &["Content-Length: 0"], b"").is_ok());
        // Different, or not a number: refused on one line, naming the body length.
        for (cl, body) in [
            ("Content-Length: 3", &b"hello"[..]),
            ("Content-Length: 6", b"hello"),
            ("Content-Length: 5", b""),
            ("Content-Length: 1", b""),
            ("Content-Length: -5", b"hello"),
            ("Content-Length: 5x", b"hello"),
            ("Content-Length: ", b"hello"),
            ("Content-Length: 99999999999999999999999", b"hello"),
        ] {
            let e = request("POST", "/", &[cl], body).unwrap_err();
            assert!(e.contains(&format!("{} bytes", body.len())), "{cl:?}: {e}");
            assert!(!e.contains('\n'), "{e:?}");
        }
        // Repeated: every one must match.
        assert_err(
            request(
                "POST",
                "/",
                &["Content-Length: 5", "Content-Length: 4"],
                b"hello",
            ),
            "does not match",
        );
        assert_err(
            request(
                "POST",
                "/",
                &["Transfer-Encoding: chunked", "Content-Length: 5"],
                b"0\r\n\r\n",
            ),
            "together",
        );
    }

    #[test]
    fn test_http_request_host_trimmed_like_other_values() {
        // Found by the request fuzz target: "Host: \tx" reads back as "x".
        assert_eq!(
            http_request("GET", "\t h:80 ", "/", &[], b"").unwrap(),
            b"GET / HTTP/1.1\r\nHost: h:80\r\n\r\n"
        );
    }

    #[test]
    fn test_http_request_control_characters_rejected() {
        // Anything httparse (and servers) would refuse is refused here first.
        for bad in ["X: a\x01b", "X: \x7f", "X: a\x1bb", "X: \x00"] {
            assert_err(request("GET", "/", &[bad], b""), "control character");
        }
        assert!(request("GET", "/", &["X: a\tb \u{e9}"], b"").is_ok());
        assert_err(
            http_request("GET", "h\x7f", "/", &[], b""),
            "control character",
        );
        assert_err(request("GET", "/\x7f", &[], b""), "bad request target");
    }

    #[test]
    fn test_parse_target_forms() {
        assert_eq!(
            parse_target("127.0.0.1:7878").unwrap().to_string(),
            "127.0.0.1:7878"
        );
        assert_eq!(
            parse_target("[::1]:7878").unwrap().to_string(),
            "[::1]:7878"
        );
        let local = parse_target("localhost:7878").unwrap();
        assert!(local.ip().is_loopback(), "{local}");
        assert_eq!(local.port(), 7878);
    }

    #[test]
    fn test_parse_target_bad_rejected() {
        assert_err(parse_target("127.0.0.1"), "missing port");
        assert_err(parse_target("127.0.0.1:"), "bad port");
        assert_err(parse_target("127.0.0.1:0"), "port 0");
        assert_err(parse_target("127.0.0.1:65536"), "bad port");
        assert_err(parse_target(":80"), "empty host");
        assert_err(parse_target("::1:80"), "brackets");
        assert_err(parse_target("[::1]"), "missing port");
        assert_err(parse_target("http://h:80"), "brackets");
        assert_err(parse_target("bad host:80"), "not a valid host");
    }
}
