//! Encoding a query: the header (an ID, RD set as dnsperf sets it), one question of
//! class IN, and optionally EDNS0's OPT record (RFC 6891) with the UDP payload size
//! and the DO bit.

use super::header::{Header, HEADER_LEN, OPCODE_QUERY};
use super::name::{self, Name};
use super::qtype::QType;
use std::fmt;

/// The class of every question loadgen asks: IN.
pub const CLASS_IN: u16 = 1;

/// The smallest EDNS UDP payload size that means anything: RFC 6891 6.2.5 has
/// smaller values treated as 512.
pub const MIN_EDNS_SIZE: u16 = 512;

/// Bytes an OPT record without options adds to a query.
pub const OPT_LEN: usize = 11;

/// One question: a name (valid wire form) and a type; the class is IN.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Question<'a> {
    name: &'a [u8],
    qtype: QType,
}

impl<'a> Question<'a> {
    /// The question `name`, `qtype`, class IN.
    pub fn new(name: &'a Name, qtype: QType) -> Question<'a> {
        Question {
            name: name.as_wire(),
            qtype,
        }
    }

    /// From a wire name the caller has checked (a query file's).
    pub(crate) fn from_checked_wire(name: &'a [u8], qtype: QType) -> Question<'a> {
        debug_assert_eq!(name::wire_len(name), Ok(name.len()));
        Question { name, qtype }
    }

    /// The name, in wire form.
    pub fn name_wire(&self) -> &'a [u8] {
        self.name
    }

    /// The type asked for.
    pub fn qtype(&self) -> QType {
        self.qtype
    }

    /// Bytes of this question on the wire: name, type, class.
    pub fn wire_len(&self) -> usize {
        self.name.len() + 4
    }
}

impl fmt::Display for Question<'_> {
    /// `name. TYPE`, as a query file line reads.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        name::write_text(self.name, f)?;
        write!(f, " {}", self.qtype)
    }
}

impl fmt::Debug for Question<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Question({self})")
    }
}

/// EDNS0 in a query: an OPT record (RFC 6891), version 0, without options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edns {
    /// The largest UDP reply the client accepts (`--edns SIZE`); see
    /// [`MIN_EDNS_SIZE`].
    pub udp_size: u16,
    /// DNSSEC OK: the DO bit, asking for DNSSEC records (RFC 3225).
    pub dnssec_ok: bool,
}

/// How queries are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryOptions {
    /// Recursion desired (dnsperf sets it; so does the default here).
    pub recursion_desired: bool,
    /// An OPT record, or none (then replies over UDP are at most 512 bytes).
    pub edns: Option<Edns>,
}

impl Default for QueryOptions {
    fn default() -> QueryOptions {
        QueryOptions {
            recursion_desired: true,
            edns: None,
        }
    }
}

impl QueryOptions {
    /// Bytes of a query of `q` with these options.
    pub fn query_len(&self, q: &Question<'_>) -> usize {
        HEADER_LEN + q.wire_len() + if self.edns.is_some() { OPT_LEN } else { 0 }
    }
}

/// Appends the query `q` with identifier `id` to `out`; it is
/// [`QueryOptions::query_len`] bytes long, at most 12 + 259 + 11 = 282.
///
/// ```
/// use loadgen::dns::{name::Name, qtype::QType, query::{encode_query, Question, QueryOptions}};
/// let name = Name::from_text("a.test").unwrap();
/// let mut out = Vec::new();
/// encode_query(&mut out, 0x1234, &Question::new(&name, QType::A), &QueryOptions::default());
/// assert_eq!(out, b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x04test\x00\x00\x01\x00\x01");
/// ```
pub fn encode_query(out: &mut Vec<u8>, id: u16, q: &Question<'_>, opts: &QueryOptions) {
    out.reserve(opts.query_len(q));
    let header = Header {
        id,
        opcode: OPCODE_QUERY,
        rd: opts.recursion_desired,
        qdcount: 1,
        arcount: u16::from(opts.edns.is_some()),
        ..Header::default()
    };
    out.extend_from_slice(&header.to_bytes());
    out.extend_from_slice(q.name);
    out.extend_from_slice(&q.qtype.0.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    if let Some(e) = opts.edns {
        write_opt(out, e);
    }
}

/// An OPT record: root name, type 41, class = UDP size, TTL = extended RCODE 0,
/// version 0, flags (DO), no options.
fn write_opt(out: &mut Vec<u8>, e: Edns) {
    out.push(0);
    out.extend_from_slice(&QType::OPT.0.to_be_bytes());
    out.extend_from_slice(&e.udp_size.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    let flags: u16 = if e.dnssec_ok { 0x8000 } else { 0 };
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_edns_and_do() {
        let name = Name::from_text("big.test.").unwrap();
        let q = Question::new(&name, QType::TXT);
        let opts = QueryOptions {
            recursion_desired: false,
            edns: Some(Edns {
                udp_size: 4096,
                dnssec_ok: true,
            }),
        };
        let mut out = vec![0xaa]; // appended after what is there
        encode_query(&mut out, 1, &q, &opts);
        let msg = &out[1..];
        assert_eq!(msg.len(), opts.query_len(&q));
        let h = Header::parse(msg).unwrap();
        assert!(!h.qr && !h.rd);
        assert_eq!((h.id, h.qdcount, h.arcount), (1, 1, 1));
        assert_eq!(
            &msg[HEADER_LEN..],
            b"\x03big\x04test\x00\x00\x10\x00\x01\x00\x00\x29\x10\x00\x00\x00\x80\x00\x00\x00"
        );
        assert_eq!(q.to_string(), "big.test. TXT");
    }
}
