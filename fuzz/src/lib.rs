//! Fuzz targets of readyloop and loadgen: the invariants (in the `*_check` modules,
//! shared with the property tests) and the decoding of fuzzer input into them.
//!
//! Input layouts (the seeds in `corpus/` follow them):
//!
//! - `http_server`: `max_head` byte, `on_input` budget byte, drain byte, flags byte
//!   (bit 0: eof; bits 1..=4: how many cuts), the cuts (u16 LE each), then the bytes
//!   the client sends. See [`http_server`].
//! - `frame_*`: flags byte (bit 0: HEAD request, bit 1: eof, bits 2..=3: responses
//!   expected - 1), cut count byte (low 4 bits), the cuts (u16 LE each); for echo a
//!   length byte and that many request bytes, for fixed a u16 N; then the bytes the
//!   server sends. See [`framing`].
//! - `tls_server`: flags byte (bit 0: eof; bit 1: a real handshake first, the rest then
//!   ops; bits 2..=4: the budget; bits 5..=6: drain calls), `max_plain` byte, cut count
//!   byte (low 4 bits), the cuts (u16 LE each), then the bytes (or ops). See
//!   [`tls_server`] and [`tls_check`].
//! - `request`: text lines: method, Host value, path, URL, header lines up to an empty
//!   line, then the body. See [`request`].
//! - `dns_reply`: flags byte (bit 0: the TCP splitter, else the reply decoder). For
//!   the decoder: bit 1, the query's ID is the message's own; bit 2, the query's
//!   question is the message's own when it reads; then the ID (u16 LE), the type
//!   (u16 LE), a name byte (below 0x80: one of [`DNS_NAMES`]; else that many bytes
//!   & 0x7f follow, a wire-form name, `a.test` if it is not one), then the message.
//!   For the splitter: the bound (u16 LE, 0 for 65535), cut count byte (low 4 bits),
//!   the cuts (u16 LE each), then the stream. See [`dns_reply`] and [`dns_check`].

pub mod dns_check;
pub mod framing_check;
pub mod http_check;
pub mod request_check;
pub mod tls_check;

use loadgen::dns::query::Question;
use loadgen::dns::{framing::MAX_MESSAGE, header::peek_id, name::Name, qtype::QType};
use loadgen::framing::Framing;
use readyloop::protocol::HttpConfig;

/// Reads fuzzer input front to back; past the end every number is 0.
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { data }
    }

    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from(self.u8()) | (u16::from(self.u8()) << 8)
    }

    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.data.split_at(n.min(self.data.len()));
        self.data = b;
        a
    }

    pub fn rest(self) -> &'a [u8] {
        self.data
    }
}

/// Output the HTTP runs stop at (a `/bytes/N` of any N must end).
pub const HTTP_CAP: usize = 256 * 1024;

/// The `http_server` target: decodes the parameters and checks the protocol.
pub fn http_server(data: &[u8]) {
    let mut r = Reader::new(data);
    let b = r.u8();
    // 16..=3200 crosses RESCAN_FROM (1024); the default exercises the long path.
    let max_head = if b < 200 {
        16 + usize::from(b) * 16
    } else {
        65536
    };
    let b = r.u8();
    let in_budget = if b == 255 {
        usize::MAX
    } else {
        usize::from(b) * 32
    };
    let b = r.u8();
    let drain_budget = [0, 1, 7, 100, 1000, 4096, 16384, 65536][usize::from(b & 7)];
    let drain_calls = [1, 2, 3, usize::MAX][usize::from((b >> 3) & 3)];
    let flags = r.u8();
    let cuts: Vec<usize> = (0..(flags >> 1) & 15)
        .map(|_| usize::from(r.u16()))
        .collect();
    let input = r.rest();
    let p = http_check::Params {
        cfg: HttpConfig { max_head },
        in_budget,
        drain_budget,
        drain_calls,
        eof: flags & 1 == 1,
        cap: HTTP_CAP,
    };
    if let Err(e) = http_check::check(&p, input, &cuts) {
        panic!("{e}");
    }
}

/// Which framer a `frame_*` target drives.
#[derive(Clone, Copy, Debug)]
pub enum FramerKind {
    Http,
    Echo,
    Line,
    Fixed,
    Resp,
}

/// The `frame_*` targets: decodes the parameters and checks the framer.
pub fn framing(kind: FramerKind, data: &[u8]) {
    let mut r = Reader::new(data);
    let flags = r.u8();
    let ncuts = r.u8() & 15;
    let cuts: Vec<usize> = (0..ncuts).map(|_| usize::from(r.u16())).collect();
    let mut request: &[u8] = b"";
    let framing = match kind {
        FramerKind::Http => Framing::Http,
        FramerKind::Echo => {
            let n = usize::from(r.u8());
            request = r.bytes(n);
            Framing::Echo
        }
        FramerKind::Line => Framing::Line,
        FramerKind::Fixed => Framing::Fixed(1 + usize::from(r.u16() % 4096)),
        FramerKind::Resp => Framing::Resp,
    };
    let input = r.rest();
    let p = framing_check::Params {
        framing: &framing,
        head: flags & 1 == 1,
        request,
        max_responses: 1 + usize::from((flags >> 2) & 3),
        eof: flags & 2 == 2,
    };
    if let Err(e) = framing_check::check(&p, input, &cuts) {
        panic!("{e}");
    }
}

/// The `request` target: URL parsing and request building.
pub fn request(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.split('\n');
    let method = lines.next().unwrap_or("");
    let host = lines.next().unwrap_or("");
    let path = lines.next().unwrap_or("");
    let url = lines.next().unwrap_or("");
    let headers: Vec<String> = lines.map(str::to_string).collect();
    if let Err(e) = request_check::check_request(method, host, path, &headers, body.as_bytes()) {
        panic!("{e}");
    }
    if let Err(e) = request_check::check_url(url, &headers, body.as_bytes()) {
        panic!("{e}");
    }
    // The escapes of --request and --body: an error, never a panic.
    let _ = loadgen::request::unescape(&text);
}

/// The `tls_server` target: decodes the parameters and checks the TLS layer.
pub fn tls_server(data: &[u8]) {
    let mut r = Reader::new(data);
    let flags = r.u8();
    let budget = [1, 7, 100, 1000, 4096, 16384, 32768, 65536][usize::from((flags >> 2) & 7)];
    let drain_calls = [1, 2, 3, usize::MAX][usize::from((flags >> 5) & 3)];
    let b = r.u8();
    // 256 B to 80 KiB (the server's own: 64 KiB input limit + one record).
    let max_plain = if b == 255 {
        80 * 1024
    } else {
        256 + usize::from(b) * 256
    };
    let ncuts = r.u8() & 15;
    let cuts: Vec<usize> = (0..ncuts).map(|_| usize::from(r.u16())).collect();
    let p = tls_check::Params {
        budget,
        drain_calls,
        max_plain,
        eof: flags & 1 == 1,
        handshake: flags & 2 == 2,
    };
    if let Err(e) = tls_check::check(&p, r.rest(), &cuts) {
        panic!("{e}");
    }
}

/// The `distributed` target: what a split run reads from others. The coordination
/// channel's decoder (bytes from any peer on the coordinator's port, before and after
/// its handshake) must say the same whether the bytes come at once or cut anywhere,
/// and stop at its first error; a result file (`loadgen merge`, a member's RESULT) and
/// an interval log are read or refused, never a panic.
pub fn distributed(data: &[u8]) {
    let mut r = Reader::new(data);
    let kind = r.u8();
    let ncuts = r.u8() & 7;
    let cuts: Vec<usize> = (0..ncuts).map(|_| usize::from(r.u16())).collect();
    let rest = r.rest();
    match kind % 3 {
        0 => {
            let whole = decode_all(&[rest]);
            let mut pieces = Vec::new();
            let mut at = 0;
            for c in cuts {
                let c = (at + c).min(rest.len());
                pieces.push(&rest[at..c]);
                at = c;
            }
            pieces.push(&rest[at..]);
            assert_eq!(decode_all(&pieces), whole, "a cut changed what was decoded");
        }
        1 => {
            let _ = loadgen::result_file::read(rest);
        }
        _ => {
            let _ = loadgen::report::read_interval_log(rest);
        }
    }
}

/// Every message (or the first error) the decoder finds in `pieces`, fed in turn.
fn decode_all(
    pieces: &[&[u8]],
) -> Vec<Result<loadgen::coord::wire::Msg, loadgen::coord::wire::WireError>> {
    let mut d = loadgen::coord::wire::Decoder::new();
    // A result is large; any size up to this is accepted after the start.
    d.set_max_result(1 << 16);
    let mut out = Vec::new();
    for p in pieces {
        d.push(p);
        loop {
            match d.next_msg() {
                Ok(Some(m)) => out.push(Ok(m)),
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e));
                    return out;
                }
            }
        }
    }
    out
}

/// The names a `dns_reply` input picks from by index.
pub const DNS_NAMES: [&str; 4] = ["a.test", "nope.test", "big.test", "."];

/// The `dns_reply` target: the reply decoder against a query, or the TCP splitter's
/// split invariance.
pub fn dns_reply(data: &[u8]) {
    let mut r = Reader::new(data);
    let flags = r.u8();
    if flags & 1 == 1 {
        let max = match usize::from(r.u16()) {
            0 => MAX_MESSAGE,
            m => m,
        };
        let ncuts = r.u8() & 15;
        let cuts: Vec<usize> = (0..ncuts).map(|_| usize::from(r.u16())).collect();
        if let Err(e) = dns_check::split_check(r.rest(), &cuts, max) {
            panic!("{e}");
        }
        return;
    }
    let id = r.u16();
    let qtype = QType(r.u16());
    let sel = r.u8();
    let given = if sel >= 0x80 {
        Name::from_wire(r.bytes(usize::from(sel & 0x7f))).ok()
    } else {
        Name::from_text(DNS_NAMES[usize::from(sel) % DNS_NAMES.len()]).ok()
    };
    let msg = r.rest();
    let id = match flags & 2 {
        0 => id,
        _ => peek_id(msg).unwrap_or(id),
    };
    let own = match flags & 4 {
        0 => None,
        _ => dns_check::question_of(msg)
            .and_then(|(n, t)| Name::from_wire(&n).ok().map(|n| (n, QType(t)))),
    };
    let fallback = Name::from_text("a.test").expect("a valid name");
    let (name, qtype) = match &own {
        Some((n, t)) => (n, *t),
        None => (given.as_ref().unwrap_or(&fallback), qtype),
    };
    if let Err(e) = dns_check::check_reply(msg, id, &Question::new(name, qtype)) {
        panic!("{e}");
    }
}
