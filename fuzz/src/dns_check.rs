//! The invariants of loadgen's DNS reply decoder and TCP framing (`loadgen::dns`).
//!
//! One definition for two callers: the `dns_reply` fuzz target and the property tests
//! in `loadgen/tests/dns_invariants.rs` (which include this file by path).
//!
//! [`check_reply`]: whatever the bytes, decoding never panics, and a reply it accepts
//! answers the query: the query's ID, QR set, opcode QUERY; and either the question
//! (one entry whose name, read here by a decoder of its own, equals the query's
//! ignoring ASCII case, with its type and class IN) or no question with an error
//! RCODE or TC; its RCODE the header's extended by the OPT record's. [`split_check`]:
//! the TCP splitter yields the same messages, then the same error, whether the bytes
//! come at once, cut anywhere, or through `split` on a buffer the caller keeps.

use loadgen::dns::framing::{split, Splitter};
use loadgen::dns::header::Header;
use loadgen::dns::qtype::QType;
use loadgen::dns::query::Question;
use loadgen::dns::rcode::Rcode;
use loadgen::dns::reply::decode_reply;

/// The name at `at` in `msg`, decompressed, lowercased, in wire form, and the offset
/// after it; `None` when it cannot be read. Written apart from loadgen's reader: any
/// pointer target, at most 128 jumps.
pub fn read_name(msg: &[u8], mut at: usize) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut end = None;
    for _ in 0..128 {
        let len = *msg.get(at)?;
        if len >= 0xc0 {
            let target = usize::from(len & 0x3f) << 8 | usize::from(*msg.get(at + 1)?);
            end.get_or_insert(at + 2);
            at = target;
            continue;
        }
        if len > 63 {
            return None;
        }
        let label = msg.get(at..at + 1 + usize::from(len))?;
        out.extend(label.iter().map(u8::to_ascii_lowercase));
        if out.len() > 255 {
            return None;
        }
        at += label.len();
        if len == 0 {
            return Some((out, end.unwrap_or(at)));
        }
    }
    None
}

/// The question at offset 12 of `msg`: its name (lowercased wire form) and type, if
/// it reads.
pub fn question_of(msg: &[u8]) -> Option<(Vec<u8>, u16)> {
    let (name, at) = read_name(msg, 12)?;
    let t = msg.get(at..at + 2)?;
    Some((name, u16::from_be_bytes([t[0], t[1]])))
}

/// Decodes `msg` against the query `id`, `q`; checks what an accepted reply must be.
pub fn check_reply(msg: &[u8], id: u16, q: &Question<'_>) -> Result<(), String> {
    let Ok(r) = decode_reply(msg, id, q) else {
        return Ok(());
    };
    let h = Header::parse(msg).ok_or("accepted a message shorter than a header")?;
    if r.header != h {
        return Err(format!("header {:?}, the bytes say {h:?}", r.header));
    }
    if h.id != id || !h.qr || h.opcode != 0 {
        return Err(format!(
            "accepted id {} qr {} opcode {}",
            h.id, h.qr, h.opcode
        ));
    }
    let ext = r.edns.map_or(0, |e| e.ext_rcode);
    if r.rcode != Rcode::extended(h.rcode, ext) {
        return Err(format!("rcode {:?} from {} and {ext}", r.rcode, h.rcode));
    }
    if !r.question_echoed {
        return match h.qdcount == 0 && (h.rcode != 0 || h.tc) {
            true => Ok(()),
            false => Err(format!("no question accepted with {h:?}")),
        };
    }
    let (name, at) = read_name(msg, 12).ok_or("accepted a question that does not read")?;
    let want: Vec<u8> = q.name_wire().iter().map(u8::to_ascii_lowercase).collect();
    let tc = msg.get(at..at + 4).ok_or("accepted a cut question")?;
    let (t, c) = (
        u16::from_be_bytes([tc[0], tc[1]]),
        u16::from_be_bytes([tc[2], tc[3]]),
    );
    if h.qdcount != 1 || name != want || QType(t) != q.qtype() || c != 1 {
        return Err(format!(
            "accepted question {name:?} {t} {c} (count {}) for {q}",
            h.qdcount
        ));
    }
    Ok(())
}

/// Messages, then the error if one, that a [`Splitter`] yields for `pieces` fed in
/// turn.
pub fn split_all(pieces: &[&[u8]], max: usize) -> (Vec<Vec<u8>>, Option<String>) {
    let mut s = Splitter::new(max);
    let mut out = Vec::new();
    for p in pieces {
        s.push(p);
        loop {
            match s.next_message() {
                Ok(Some(m)) => out.push(m.to_vec()),
                Ok(None) => break,
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }
    (out, None)
}

/// The same through `split` on a buffer kept as a caller would.
fn split_kept(pieces: &[&[u8]], max: usize) -> (Vec<Vec<u8>>, Option<String>) {
    let mut kept = Vec::new();
    let mut out = Vec::new();
    for p in pieces {
        kept.extend_from_slice(p);
        loop {
            match split(&kept, max) {
                Ok(Some((m, took))) => {
                    out.push(m.to_vec());
                    kept.drain(..took);
                }
                Ok(None) => break,
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }
    (out, None)
}

/// `input` cut at `cuts` (offsets from the previous cut, clamped), in pieces.
pub fn pieces<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut at = 0usize;
    for &c in cuts {
        let c = at.saturating_add(c).min(input.len());
        out.push(&input[at..c]);
        at = c;
    }
    out.push(&input[at..]);
    out
}

/// The splitter's split invariance over `input` cut at `cuts`.
pub fn split_check(input: &[u8], cuts: &[usize], max: usize) -> Result<(), String> {
    let whole = split_all(&[input], max);
    let cut = pieces(input, cuts);
    let got = split_all(&cut, max);
    if got != whole {
        return Err(format!("cut at {cuts:?}: {got:?}, whole: {whole:?}"));
    }
    let kept = split_kept(&cut, max);
    if kept != whole {
        return Err(format!(
            "split() cut at {cuts:?}: {kept:?}, whole: {whole:?}"
        ));
    }
    Ok(())
}
