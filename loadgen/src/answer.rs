//! What a server answered instead of a reply of the chosen protocol: a bounded sample
//! of its bytes and the protocol they look like, so a run against a target that speaks
//! another protocol says so in one line instead of only `framing malformed 42,461`.
//!
//! Sans-IO and pure: the client hands over the bytes that failed framing (or none,
//! when the server closed before sending a byte); [`Sample::of`] keeps at most
//! [`SAMPLE_BYTES`] of them and classifies them once ([`looks_like`]). A worker keeps
//! one sample and the run one of its workers' ([`Sample::better`]): memory is a few
//! dozen bytes per worker whatever the number of failures.

use std::fmt::Write as _;

/// Bytes a sample keeps: enough for a status line, a RESP error or a banner.
pub const SAMPLE_BYTES: usize = 48;

/// The protocol a server's bytes look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Looks {
    /// Our own request sent back.
    Echo,
    /// An HTTP/1.x response (`HTTP/`).
    Http,
    /// A Redis (RESP) reply (`+`, `-`, `:`, `$`, `*`).
    Resp,
    /// A TLS record (handshake or alert): a TLS port spoken to in plain text.
    Tls,
    /// An SSH banner (`SSH-`).
    Ssh,
    /// None of these.
    Unknown,
    /// No byte: the server closed (or reset) the connection before sending one.
    Nothing,
}

impl Looks {
    /// Every kind, for reading a name back.
    pub const ALL: [Looks; 7] = [
        Looks::Echo,
        Looks::Http,
        Looks::Resp,
        Looks::Tls,
        Looks::Ssh,
        Looks::Unknown,
        Looks::Nothing,
    ];

    /// Its name in the JSON report: `echo`, `http`, `resp`, `tls`, `ssh`, `unknown`,
    /// `nothing`.
    pub fn name(self) -> &'static str {
        match self {
            Looks::Echo => "echo",
            Looks::Http => "http",
            Looks::Resp => "resp",
            Looks::Tls => "tls",
            Looks::Ssh => "ssh",
            Looks::Unknown => "unknown",
            Looks::Nothing => "nothing",
        }
    }

    /// What the reports say it looks like.
    pub fn describe(self) -> &'static str {
        match self {
            Looks::Echo => "an echo server (our own request sent back)",
            Looks::Http => "an HTTP server",
            Looks::Resp => "Redis (RESP)",
            Looks::Tls => "TLS (a TLS port spoken to in plain text)",
            Looks::Ssh => "an SSH server",
            Looks::Unknown => "no protocol loadgen knows",
            Looks::Nothing => "nothing",
        }
    }
}

/// The protocol `bytes` (what a server sent where a reply was due) look like, given
/// the `requests` this client sends (an echo is one of them sent back). Checked in
/// this order: nothing, an echo (before RESP: a RESP request echoed starts with `*`),
/// HTTP, TLS, SSH, RESP, else unknown.
///
/// ```
/// use loadgen::answer::{looks_like, Looks};
/// let get: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
/// assert_eq!(looks_like(get, &[get]), Looks::Echo);
/// assert_eq!(looks_like(b"-ERR unknown command\r\n", &[get]), Looks::Resp);
/// assert_eq!(looks_like(b"HTTP/1.1 400 Bad Request\r\n", &[b"PING\r\n"]), Looks::Http);
/// ```
pub fn looks_like(bytes: &[u8], requests: &[&[u8]]) -> Looks {
    if bytes.is_empty() {
        return Looks::Nothing;
    }
    // A server that echoes may send a request back in pieces, or several pipelined:
    // either is a prefix of the other.
    if requests
        .iter()
        .any(|r| !r.is_empty() && (r.starts_with(bytes) || bytes.starts_with(r)))
    {
        return Looks::Echo;
    }
    if bytes.starts_with(b"HTTP/") {
        return Looks::Http;
    }
    // A TLS record: content type 20..=23 (alert 21, handshake 22), version 3.x.
    if bytes.len() >= 2 && (0x14..=0x17).contains(&bytes[0]) && bytes[1] == 0x03 {
        return Looks::Tls;
    }
    if bytes.starts_with(b"SSH-") {
        return Looks::Ssh;
    }
    if resp_reply(bytes) {
        return Looks::Resp;
    }
    Looks::Unknown
}

/// A RESP2 reply's first bytes: a simple string or error (`+`, `-`), or an integer,
/// bulk string or array (`:`, `$`, `*`) followed by a number (`$-1` is a null).
fn resp_reply(bytes: &[u8]) -> bool {
    match bytes {
        [b'+' | b'-', ..] => true,
        [b':' | b'$' | b'*', b'-', d, ..] | [b':' | b'$' | b'*', d, ..] => d.is_ascii_digit(),
        _ => false,
    }
}

/// `bytes` as one line of text: printable ASCII as it is, `\r`, `\n`, `\t`, `\\` and
/// `\"` escaped, every other byte as `\xNN` (so no byte can break the line or a
/// terminal).
///
/// ```
/// assert_eq!(loadgen::answer::escape(b"OK\r\n\"\x16\x03"), r#"OK\r\n\"\x16\x03"#);
/// ```
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            0x20..=0x7e => s.push(char::from(b)),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s
}

/// What a server sent where a reply was due: its first [`SAMPLE_BYTES`] from there,
/// where that was in the connection's input, and what they look like. `Copy` and
/// inline: a worker's recorder holds one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    bytes: [u8; SAMPLE_BYTES],
    len: u8,
    /// More bytes followed the ones kept.
    more: bool,
    /// Bytes the connection had read before the sample (0: the first the server sent).
    offset: u64,
    looks: Looks,
}

impl Sample {
    /// A sample of `bytes` (what the server sent from `offset` on in a connection's
    /// input; only the first [`SAMPLE_BYTES`] are kept), classified against the
    /// `requests` the client sends. Empty `bytes`: the server sent nothing at all.
    pub fn of(bytes: &[u8], offset: u64, requests: &[&[u8]]) -> Sample {
        let n = bytes.len().min(SAMPLE_BYTES);
        let mut kept = [0u8; SAMPLE_BYTES];
        kept[..n].copy_from_slice(&bytes[..n]);
        Sample {
            bytes: kept,
            // n <= SAMPLE_BYTES, which fits a u8.
            len: n as u8,
            more: bytes.len() > n,
            offset,
            looks: looks_like(&bytes[..n], requests),
        }
    }

    /// A sample read back (from a result file): `bytes` (at most [`SAMPLE_BYTES`]
    /// kept), whether more followed, at `offset`, looking like `looks`.
    pub(crate) fn restore(bytes: &[u8], more: bool, offset: u64, looks: Looks) -> Sample {
        let n = bytes.len().min(SAMPLE_BYTES);
        let mut kept = [0u8; SAMPLE_BYTES];
        kept[..n].copy_from_slice(&bytes[..n]);
        Sample {
            bytes: kept,
            // n <= SAMPLE_BYTES, which fits a u8.
            len: n as u8,
            more: more || bytes.len() > n,
            offset,
            looks,
        }
    }

    /// The bytes kept.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Whether more bytes followed the ones kept.
    pub fn more(&self) -> bool {
        self.more
    }

    /// Bytes the connection had read before the sample (0: its first bytes).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// What the bytes look like.
    pub(crate) fn looks(&self) -> Looks {
        self.looks
    }

    /// How much a sample of `len` bytes at `offset` tells: some bytes over none, and
    /// a connection's first bytes (what the server says first) over later ones.
    pub(crate) fn rank(len: usize, offset: u64) -> u8 {
        match (len, offset) {
            (0, _) => 0,
            (_, 0) => 2,
            _ => 1,
        }
    }

    /// Whether a sample of `len` bytes at `offset` would tell more than `kept`.
    pub(crate) fn improves(kept: Option<&Sample>, len: usize, offset: u64) -> bool {
        kept.is_none_or(|k| Sample::rank(len, offset) > Sample::rank(k.bytes().len(), k.offset))
    }

    /// The one of `a` and `b` that tells more (`a` when they tell as much): how the
    /// workers' samples merge, in worker order.
    pub fn better(a: Option<Sample>, b: Option<Sample>) -> Option<Sample> {
        match (a, b) {
            (Some(x), Some(y)) if Sample::improves(Some(&x), y.bytes().len(), y.offset) => b,
            (None, _) => b,
            _ => a,
        }
    }

    /// The one line the reports print, for a run whose protocol is `proto`:
    /// `"-ERR unknown command\r\n" (its first bytes, where --proto http expects a
    /// reply): looks like Redis (RESP)`.
    pub fn line(&self, proto: &str) -> String {
        if self.looks == Looks::Nothing {
            return format!(
                "nothing: the server closed the connection before sending a byte, where \
                 --proto {proto} expects a reply"
            );
        }
        let at = if self.offset == 0 {
            "its first bytes".to_string()
        } else {
            format!("from byte {} of what it sent", self.offset)
        };
        format!(
            "\"{}\"{} ({at}, where --proto {proto} expects a reply): looks like {}",
            escape(self.bytes()),
            if self.more { "..." } else { "" },
            self.looks.describe()
        )
    }
}

impl std::fmt::Debug for Sample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Sample(\"{}\"{} at {}: {})",
            escape(self.bytes()),
            if self.more { "..." } else { "" },
            self.offset,
            self.looks.name()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:7878\r\n\r\n";

    #[test]
    fn test_each_protocol_is_recognised() {
        let ours: &[&[u8]] = &[GET];
        let cases: &[(&[u8], Looks)] = &[
            (b"", Looks::Nothing),
            (GET, Looks::Echo),
            (&GET[..5], Looks::Echo), // an echo that arrived in pieces
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                Looks::Http,
            ),
            (b"HTTP/1.0 400 Bad Request\r\n", Looks::Http),
            (b"-ERR unknown command 'GET'\r\n", Looks::Resp),
            (b"+PONG\r\n", Looks::Resp),
            (b":1000\r\n", Looks::Resp),
            (b"$-1\r\n", Looks::Resp),
            (b"*2\r\n$1\r\na\r\n", Looks::Resp),
            (b"\x16\x03\x03\x00\x7a\x02", Looks::Tls),
            (b"\x15\x03\x01\x00\x02\x02\x46", Looks::Tls),
            (b"SSH-2.0-OpenSSH_9.6\r\n", Looks::Ssh),
            (b"220 smtp.example ESMTP\r\n", Looks::Unknown),
            (b"$x", Looks::Unknown),
            (b"*", Looks::Unknown),
            (b"\x00\x00\x12\x04\x00", Looks::Unknown),
        ];
        for &(bytes, want) in cases {
            assert_eq!(looks_like(bytes, ours), want, "{}", escape(bytes));
        }
    }

    #[test]
    fn test_an_echo_of_a_resp_request_is_an_echo_not_redis() {
        let ping: &[u8] = b"*1\r\n$4\r\nPING\r\n";
        assert_eq!(looks_like(ping, &[ping]), Looks::Echo);
        // Pipelined requests echoed: ours is a prefix of what came back.
        assert_eq!(looks_like(&ping.repeat(3), &[ping]), Looks::Echo);
        assert_eq!(looks_like(ping, &[GET]), Looks::Resp);
        // A mix: any of its requests echoed.
        assert_eq!(looks_like(ping, &[GET, ping]), Looks::Echo);
        assert_eq!(looks_like(ping, &[b"".as_slice()]), Looks::Resp);
    }

    #[test]
    fn test_escape_keeps_one_line_and_every_byte_visible() {
        let all: Vec<u8> = (0..=255).collect();
        let e = escape(&all);
        assert!(e.chars().all(|c| (' '..='~').contains(&c)), "{e}");
        assert!(e.contains(r"\x00") && e.contains(r"\xff") && e.contains(r"\x7f"));
        assert!(e.contains(r"\t\n") && e.contains(r#"\""#) && e.contains(r"\\"));
        assert_eq!(escape(b"GET / HTTP/1.1\r\n"), r"GET / HTTP/1.1\r\n");
    }

    #[test]
    fn test_a_sample_is_bounded_and_says_what_it_looks_like() {
        let long = [GET, GET].concat();
        let s = Sample::of(&long, 0, &[GET]);
        assert_eq!(s.bytes(), &long[..SAMPLE_BYTES]);
        assert!(s.more());
        assert_eq!(s.looks(), Looks::Echo);
        assert_eq!(
            s.line("http"),
            r#""GET / HTTP/1.1\r\nHost: 127.0.0.1:7878\r\n\r\nGET / HT"... (its first bytes, where --proto http expects a reply): looks like an echo server (our own request sent back)"#
        );
        let r = Sample::of(b"-ERR unknown command\r\n", 0, &[GET]);
        assert!(!r.more());
        assert_eq!(
            r.line("http"),
            r#""-ERR unknown command\r\n" (its first bytes, where --proto http expects a reply): looks like Redis (RESP)"#
        );
        let later = Sample::of(b"garbage", 1234, &[GET]);
        assert!(later
            .line("resp")
            .contains("(from byte 1234 of what it sent,"));
        let none = Sample::of(b"", 0, &[GET]);
        assert_eq!(none.looks(), Looks::Nothing);
        assert!(none
            .line("http")
            .starts_with("nothing: the server closed the connection before sending a byte"));
    }

    #[test]
    fn test_the_sample_that_tells_most_is_kept() {
        let none = Sample::of(b"", 0, &[GET]);
        let later = Sample::of(b"xyz", 10, &[GET]);
        let first = Sample::of(b"-ERR x\r\n", 0, &[GET]);
        let other = Sample::of(b"+OK\r\n", 0, &[GET]);
        assert_eq!(Sample::better(None, Some(none)), Some(none));
        assert_eq!(Sample::better(Some(none), Some(later)), Some(later));
        assert_eq!(Sample::better(Some(later), Some(first)), Some(first));
        assert_eq!(Sample::better(Some(first), Some(later)), Some(first));
        assert_eq!(Sample::better(Some(first), None), Some(first));
        // As good: the first kept (worker order), so merging is deterministic.
        assert_eq!(Sample::better(Some(first), Some(other)), Some(first));
        assert!(Sample::improves(None, 0, 0));
        assert!(!Sample::improves(Some(&first), 5, 0));
        assert!(Sample::improves(Some(&later), 5, 0));
    }
}
