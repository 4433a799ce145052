//! Decoding a reply, header first and bounded, against the query it answers.
//!
//! [`decode_reply`] reads the header, checks that the message is a reply to a QUERY
//! with the query's ID, checks its question against the query's (the name compared
//! case-insensitively through compression pointers, the type, class IN), then walks
//! every record's framing (name, type, class, TTL, RDATA length) to find the OPT
//! record of the additional section, whose upper 8 bits of RCODE extend the header's
//! 4. Record contents are not read. Nothing is allocated, whatever the counts say:
//! each record takes at least 11 bytes, so a message of N bytes ends the walk within
//! N / 11 records, and a short one is an error, not a wait.

use super::header::{Header, HEADER_LEN, OPCODE_QUERY};
use super::name::{self, WireNameError};
use super::qtype::QType;
use super::query::{Question, CLASS_IN};
use super::rcode::Rcode;
use std::fmt;

/// The fixed part of a record after its name: type, class, TTL, RDATA length.
const RR_FIXED: usize = 10;

/// A reply that answers the query, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The header as sent.
    pub header: Header,
    /// The response code: the header's 4 bits, extended by the OPT record's 8 when
    /// there is one (so BADVERS and BADCOOKIE are told apart from NOERROR).
    pub rcode: Rcode,
    /// The server's OPT record, if it sent one.
    pub edns: Option<ReplyEdns>,
    /// Whether the reply repeats the question (and it matched). A reply without a
    /// question is accepted only with an error RCODE or TC set (servers answer a
    /// query they cannot parse with FORMERR and no question).
    pub question_echoed: bool,
    /// The records could not all be walked because TC is set and the message ends
    /// inside one: what followed was cut (the OPT record may be among it).
    pub cut: bool,
}

/// The OPT record of a reply (RFC 6891 6.1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyEdns {
    /// The largest UDP message the server accepts.
    pub udp_size: u16,
    /// The upper 8 bits of the extended RCODE.
    pub ext_rcode: u8,
    /// The EDNS version the server speaks.
    pub version: u8,
    /// The DO bit.
    pub dnssec_ok: bool,
}

/// Why a message is not an acceptable reply to the query. Every variant is a
/// message the caller counts as malformed or foreign; none is a panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyError {
    /// Shorter than a header (the length).
    Short(usize),
    /// The QR bit is clear: a query, not a reply.
    NotReply,
    /// Another ID than the query's (the reply's).
    IdMismatch(u16),
    /// Another opcode than QUERY (the reply's).
    OpcodeMismatch(u8),
    /// A question count other than 1 (or 0 with an error RCODE or TC).
    QuestionCount(u16),
    /// The question is not the query's: another name, type or class.
    QuestionMismatch,
    /// A name that cannot be read.
    Name(WireNameError),
    /// The message ends inside a section (and TC is not set, or it ends in the
    /// question).
    Truncated,
    /// An OPT record where none may be: outside the additional section, with a
    /// name other than the root, or a second one.
    BadOpt(&'static str),
    /// Bytes after the last record (how many).
    TrailingBytes(usize),
}

impl ReplyError {
    /// A short snake_case name for error tables.
    pub fn kind(&self) -> &'static str {
        match self {
            ReplyError::Short(_) => "short",
            ReplyError::NotReply => "not_reply",
            ReplyError::IdMismatch(_) => "id_mismatch",
            ReplyError::OpcodeMismatch(_) => "opcode_mismatch",
            ReplyError::QuestionCount(_) => "question_count",
            ReplyError::QuestionMismatch => "question_mismatch",
            ReplyError::Name(_) => "bad_name",
            ReplyError::Truncated => "truncated",
            ReplyError::BadOpt(_) => "bad_opt",
            ReplyError::TrailingBytes(_) => "trailing_bytes",
        }
    }
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::Short(n) => write!(f, "{n} bytes, shorter than a DNS header"),
            ReplyError::NotReply => write!(f, "a query (QR clear), not a reply"),
            ReplyError::IdMismatch(id) => write!(f, "reply ID {id} is not the query's"),
            ReplyError::OpcodeMismatch(op) => write!(f, "reply opcode {op}, not QUERY"),
            ReplyError::QuestionCount(n) => write!(f, "{n} questions in the reply"),
            ReplyError::QuestionMismatch => write!(f, "the reply's question is not the query's"),
            ReplyError::Name(e) => write!(f, "unreadable name: {e:?}"),
            ReplyError::Truncated => write!(f, "the message ends inside a record"),
            ReplyError::BadOpt(why) => write!(f, "bad OPT record: {why}"),
            ReplyError::TrailingBytes(n) => write!(f, "{n} bytes after the last record"),
        }
    }
}

impl std::error::Error for ReplyError {}

impl From<WireNameError> for ReplyError {
    fn from(e: WireNameError) -> ReplyError {
        match e {
            WireNameError::Truncated => ReplyError::Truncated,
            e => ReplyError::Name(e),
        }
    }
}

/// Decodes `msg` as the reply to the query with identifier `id` and question `q`.
///
/// ```
/// use loadgen::dns::{name::Name, qtype::QType, query::Question, rcode::Rcode};
/// use loadgen::dns::reply::decode_reply;
/// let name = Name::from_text("nope.test").unwrap();
/// let q = Question::new(&name, QType::A);
/// // An NXDOMAIN reply, its question in another case.
/// let msg = b"\x00\x07\x81\x83\x00\x01\x00\x00\x00\x00\x00\x00\x04NOPE\x04test\x00\x00\x01\x00\x01";
/// let r = decode_reply(msg, 7, &q).unwrap();
/// assert_eq!(r.rcode, Rcode::NXDOMAIN);
/// assert!(r.question_echoed && !r.header.tc);
/// assert!(decode_reply(msg, 8, &q).is_err());
/// ```
pub fn decode_reply(msg: &[u8], id: u16, q: &Question<'_>) -> Result<Reply, ReplyError> {
    let header = check_header(msg, id)?;
    let mut at = HEADER_LEN;
    let question_echoed = header.qdcount == 1;
    if question_echoed {
        at = check_question(msg, at, q)?;
    }
    let walk = walk_records(msg, at, &header);
    let (edns, cut) = match walk {
        Ok(edns) => (edns, false),
        Err(ReplyError::Truncated) if header.tc => (None, true),
        Err(e) => return Err(e),
    };
    let ext = edns.map_or(0, |e| e.ext_rcode);
    Ok(Reply {
        header,
        rcode: Rcode::extended(header.rcode, ext),
        edns,
        question_echoed,
        cut,
    })
}

/// The header, if it is a reply to a QUERY with this ID and a question count that
/// can be.
fn check_header(msg: &[u8], id: u16) -> Result<Header, ReplyError> {
    let h = Header::parse(msg).ok_or(ReplyError::Short(msg.len()))?;
    if !h.qr {
        return Err(ReplyError::NotReply);
    }
    if h.id != id {
        return Err(ReplyError::IdMismatch(h.id));
    }
    if h.opcode != OPCODE_QUERY {
        return Err(ReplyError::OpcodeMismatch(h.opcode));
    }
    let questionless_ok = h.rcode != 0 || h.tc;
    match h.qdcount {
        1 => Ok(h),
        0 if questionless_ok => Ok(h),
        n => Err(ReplyError::QuestionCount(n)),
    }
}

/// Checks the question at `at` against `q`; the offset after it.
fn check_question(msg: &[u8], at: usize, q: &Question<'_>) -> Result<usize, ReplyError> {
    let (same_name, at) = name::read_eq(msg, at, q.name_wire())?;
    let fixed = msg.get(at..at + 4).ok_or(ReplyError::Truncated)?;
    let qtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    let class = u16::from_be_bytes([fixed[2], fixed[3]]);
    if !same_name || QType(qtype) != q.qtype() || class != CLASS_IN {
        return Err(ReplyError::QuestionMismatch);
    }
    Ok(at + 4)
}

/// Walks the answer, authority and additional records from `at`: the OPT record,
/// if any. Each record takes at least 11 bytes, so this ends within `msg.len() / 11`
/// records whatever the counts.
fn walk_records(msg: &[u8], mut at: usize, h: &Header) -> Result<Option<ReplyEdns>, ReplyError> {
    let before_additional = u32::from(h.ancount) + u32::from(h.nscount);
    let total = before_additional + u32::from(h.arcount);
    let mut edns = None;
    for i in 0..total {
        let rr = record(msg, at)?;
        at = rr.end;
        if rr.rtype != QType::OPT.0 {
            continue;
        }
        if i < before_additional {
            return Err(ReplyError::BadOpt("outside the additional section"));
        }
        if edns.is_some() {
            return Err(ReplyError::BadOpt("a second OPT record"));
        }
        if !rr.root_name {
            return Err(ReplyError::BadOpt("its name is not the root"));
        }
        edns = Some(rr.opt());
    }
    match msg.len() - at {
        0 => Ok(edns),
        extra => Err(ReplyError::TrailingBytes(extra)),
    }
}

/// A record's framing.
struct Record {
    /// Its name is the root (a single zero byte).
    root_name: bool,
    rtype: u16,
    class: u16,
    ttl: u32,
    /// The offset just past the record.
    end: usize,
}

impl Record {
    /// This record read as OPT: class is the UDP size, TTL the extended RCODE,
    /// version and flags.
    fn opt(&self) -> ReplyEdns {
        let [ext_rcode, version, flags, _] = self.ttl.to_be_bytes();
        ReplyEdns {
            udp_size: self.class,
            ext_rcode,
            version,
            dnssec_ok: flags & 0x80 != 0,
        }
    }
}

/// The record at `at`.
fn record(msg: &[u8], at: usize) -> Result<Record, ReplyError> {
    let name_end = name::skip(msg, at)?;
    let f = msg
        .get(name_end..name_end + RR_FIXED)
        .ok_or(ReplyError::Truncated)?;
    let rdlen = usize::from(u16::from_be_bytes([f[8], f[9]]));
    let end = name_end + RR_FIXED + rdlen;
    if end > msg.len() {
        return Err(ReplyError::Truncated);
    }
    Ok(Record {
        root_name: name_end == at + 1,
        rtype: u16::from_be_bytes([f[0], f[1]]),
        class: u16::from_be_bytes([f[2], f[3]]),
        ttl: u32::from_be_bytes([f[4], f[5], f[6], f[7]]),
        end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::name::Name;
    use crate::dns::query::{encode_query, Edns, QueryOptions};
    use proptest::prelude::*;

    /// A reply to `encode_query(id, q)`: the query with QR set, `rcode`, and the
    /// records `rrs` (already encoded) counted as `(an, ns, ar)`.
    fn reply(id: u16, q: &Question<'_>, rcode: u8, counts: (u16, u16, u16), rrs: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        encode_query(&mut m, id, q, &QueryOptions::default());
        let mut h = Header::parse(&m).unwrap();
        h.qr = true;
        h.ra = true;
        h.rcode = rcode;
        (h.ancount, h.nscount, h.arcount) = counts;
        m[..HEADER_LEN].copy_from_slice(&h.to_bytes());
        m.extend_from_slice(rrs);
        m
    }

    /// An A record for the name at offset 12 (a pointer to the question's).
    const A_RR: &[u8] = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x0a\x01\x02\x03";

    /// An OPT record: size 1232, the given extended RCODE, DO set.
    fn opt(ext: u8) -> Vec<u8> {
        vec![0, 0, 41, 0x04, 0xd0, ext, 0, 0x80, 0, 0, 0]
    }

    fn name() -> Name {
        Name::from_text("a.test").unwrap()
    }

    #[test]
    fn noerror_with_answer_and_opt() {
        let n = name();
        let q = Question::new(&n, QType::A);
        let mut rrs = A_RR.to_vec();
        rrs.extend_from_slice(&opt(0));
        let r = decode_reply(&reply(9, &q, 0, (1, 0, 1), &rrs), 9, &q).unwrap();
        assert_eq!(r.rcode, Rcode::NOERROR);
        assert_eq!(r.header.ancount, 1);
        assert_eq!(
            r.edns,
            Some(ReplyEdns {
                udp_size: 1232,
                ext_rcode: 0,
                version: 0,
                dnssec_ok: true
            })
        );
        assert!(r.question_echoed && !r.cut);
    }

    #[test]
    fn extended_rcode() {
        let n = name();
        let q = Question::new(&n, QType::A);
        let r = decode_reply(&reply(1, &q, 0, (0, 0, 1), &opt(1)), 1, &q).unwrap();
        assert_eq!(r.rcode, Rcode::BADVERS);
        assert_eq!(r.rcode.to_string(), "BADVERS");
        let r = decode_reply(&reply(1, &q, 7, (0, 0, 1), &opt(1)), 1, &q).unwrap();
        assert_eq!(r.rcode, Rcode::BADCOOKIE);
    }

    #[test]
    fn refusals() {
        let n = name();
        let q = Question::new(&n, QType::A);
        let ok = reply(5, &q, 0, (1, 0, 0), A_RR);
        assert!(decode_reply(&ok, 5, &q).is_ok());
        assert_eq!(decode_reply(&ok[..11], 5, &q), Err(ReplyError::Short(11)));
        assert_eq!(decode_reply(&ok, 6, &q), Err(ReplyError::IdMismatch(5)));
        let mut query = ok.clone();
        query[2] &= 0x7f;
        assert_eq!(decode_reply(&query, 5, &q), Err(ReplyError::NotReply));
        let mut op = ok.clone();
        op[2] |= 0x28; // opcode 5 (UPDATE)
        assert_eq!(decode_reply(&op, 5, &q), Err(ReplyError::OpcodeMismatch(5)));
        let aaaa = Question::new(&n, QType::AAAA);
        assert_eq!(
            decode_reply(&ok, 5, &aaaa),
            Err(ReplyError::QuestionMismatch)
        );
        let other = Name::from_text("b.test").unwrap();
        let qb = Question::new(&other, QType::A);
        assert_eq!(decode_reply(&ok, 5, &qb), Err(ReplyError::QuestionMismatch));
        let mut chaos = ok.clone();
        chaos[12 + n.as_wire().len() + 3] = 3; // class CH
        assert_eq!(
            decode_reply(&chaos, 5, &q),
            Err(ReplyError::QuestionMismatch)
        );
        assert_eq!(
            decode_reply(&ok[..ok.len() - 1], 5, &q),
            Err(ReplyError::Truncated)
        );
        let mut trailing = ok.clone();
        trailing.push(0);
        assert_eq!(
            decode_reply(&trailing, 5, &q),
            Err(ReplyError::TrailingBytes(1))
        );
        // Counts that promise more than is there.
        let liar = reply(5, &q, 0, (65535, 65535, 65535), A_RR);
        assert_eq!(decode_reply(&liar, 5, &q), Err(ReplyError::Truncated));
        // Two questions; none with NOERROR.
        let mut two = ok.clone();
        two[5] = 2;
        assert_eq!(decode_reply(&two, 5, &q), Err(ReplyError::QuestionCount(2)));
    }

    #[test]
    fn opt_placement() {
        let n = name();
        let q = Question::new(&n, QType::A);
        let in_answer = reply(1, &q, 0, (1, 0, 0), &opt(0));
        assert!(matches!(
            decode_reply(&in_answer, 1, &q),
            Err(ReplyError::BadOpt(_))
        ));
        let mut two = opt(0);
        two.extend_from_slice(&opt(0));
        let twice = reply(1, &q, 0, (0, 0, 2), &two);
        assert!(matches!(
            decode_reply(&twice, 1, &q),
            Err(ReplyError::BadOpt(_))
        ));
        let mut named = b"\x01x\x00".to_vec();
        named.extend_from_slice(&opt(0)[1..]);
        let named = reply(1, &q, 0, (0, 0, 1), &named);
        assert!(matches!(
            decode_reply(&named, 1, &q),
            Err(ReplyError::BadOpt(_))
        ));
    }

    #[test]
    fn questionless_and_truncated() {
        let n = name();
        let q = Question::new(&n, QType::A);
        // FORMERR without a question: accepted, the question not echoed.
        let mut h = Header {
            id: 3,
            qr: true,
            rcode: 1,
            ..Header::default()
        };
        let r = decode_reply(&h.to_bytes(), 3, &q).unwrap();
        assert!(!r.question_echoed);
        assert_eq!(r.rcode, Rcode::FORMERR);
        h.rcode = 0;
        assert_eq!(
            decode_reply(&h.to_bytes(), 3, &q),
            Err(ReplyError::QuestionCount(0))
        );
        // TC set, the counts promising records that were cut: accepted, cut.
        let mut cut = reply(3, &q, 0, (2, 0, 0), A_RR);
        cut[2] |= 0x02;
        let r = decode_reply(&cut, 3, &q).unwrap();
        assert!(r.header.tc && r.cut);
    }

    #[test]
    fn compressed_question() {
        // A question whose name points back into the header: a backward pointer
        // is followed, and what it reads there is not the query's name.
        let n = name();
        let q = Question::new(&n, QType::A);
        let mut m = reply(1, &q, 0, (0, 0, 0), &[]);
        m.truncate(HEADER_LEN);
        m.extend_from_slice(b"\xc0\x00\x00\x01\x00\x01");
        assert!(decode_reply(&m, 1, &q).is_err());
    }

    fn question_strategy() -> impl Strategy<Value = (Vec<Vec<u8>>, u16)> {
        (
            prop::collection::vec(prop::collection::vec(any::<u8>(), 1..20), 0..5),
            any::<u16>(),
        )
    }

    fn make_name(labels: &[Vec<u8>]) -> Name {
        let mut w = Vec::new();
        for l in labels {
            w.push(l.len() as u8);
            w.extend_from_slice(l);
        }
        w.push(0);
        Name::from_wire(&w).unwrap()
    }

    proptest! {
        #[test]
        fn encode_then_decode((labels, t) in question_strategy(), id: u16, edns: Option<(u16, bool)>, rcode in 0u8..16, ext: u8) {
            let n = make_name(&labels);
            let q = Question::new(&n, QType(t));
            let opts = QueryOptions {
                recursion_desired: true,
                edns: edns.map(|(udp_size, dnssec_ok)| Edns { udp_size, dnssec_ok }),
            };
            let mut m = Vec::new();
            encode_query(&mut m, id, &q, &opts);
            prop_assert_eq!(m.len(), opts.query_len(&q));
            // The query itself is refused (QR clear)...
            prop_assert_eq!(decode_reply(&m, id, &q), Err(ReplyError::NotReply));
            // ...and is accepted with QR set, its RCODE extended by its OPT.
            m[2] |= 0x80;
            m[3] |= rcode;
            if opts.edns.is_some() {
                let at = m.len() - 6;
                m[at] = ext;
            }
            let r = decode_reply(&m, id, &q).unwrap();
            let want_ext = if opts.edns.is_some() { ext } else { 0 };
            prop_assert_eq!(r.rcode, Rcode::extended(rcode, want_ext));
            prop_assert_eq!(r.edns.map(|e| (e.udp_size, e.dnssec_ok)), edns);
            prop_assert!(r.question_echoed);
        }

        #[test]
        fn never_panics(msg in prop::collection::vec(any::<u8>(), 0..600), id: u16) {
            let n = name();
            let q = Question::new(&n, QType::A);
            if let Ok(r) = decode_reply(&msg, id, &q) {
                prop_assert_eq!(r.header.id, id);
            }
        }

        #[test]
        fn mutated_replies_never_panic(flips in prop::collection::vec((0usize..64, any::<u8>()), 1..6), cut in 0usize..64) {
            let n = name();
            let q = Question::new(&n, QType::A);
            let mut rrs = A_RR.to_vec();
            rrs.extend_from_slice(&opt(0));
            let mut m = reply(2, &q, 0, (1, 0, 1), &rrs);
            for (i, b) in flips {
                if let Some(x) = m.get_mut(i) {
                    *x = b;
                }
            }
            m.truncate(m.len().saturating_sub(cut));
            let _ = decode_reply(&m, 2, &q);
        }
    }
}
