//! The 12-byte message header (RFC 1035 4.1.1, with AD and CD of RFC 4035).

/// Bytes of a header.
pub const HEADER_LEN: usize = 12;

/// The QUERY opcode, the only one loadgen sends.
pub const OPCODE_QUERY: u8 = 0;

const QR: u16 = 0x8000;
const AA: u16 = 0x0400;
const TC: u16 = 0x0200;
const RD: u16 = 0x0100;
const RA: u16 = 0x0080;
const AD: u16 = 0x0020;
const CD: u16 = 0x0010;

/// A message header, decoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// The query's identifier, echoed in its reply.
    pub id: u16,
    /// A reply (true) or a query.
    pub qr: bool,
    /// The kind of query, 4 bits (0: QUERY).
    pub opcode: u8,
    /// Authoritative answer.
    pub aa: bool,
    /// Truncated: the reply did not fit (in 512 bytes, or the EDNS size given).
    pub tc: bool,
    /// Recursion desired.
    pub rd: bool,
    /// Recursion available.
    pub ra: bool,
    /// Authentic data (DNSSEC).
    pub ad: bool,
    /// Checking disabled (DNSSEC).
    pub cd: bool,
    /// The header's 4 bits of the response code (see [`super::rcode::Rcode`]).
    pub rcode: u8,
    /// Entries in the question section.
    pub qdcount: u16,
    /// Records in the answer section.
    pub ancount: u16,
    /// Records in the authority section.
    pub nscount: u16,
    /// Records in the additional section.
    pub arcount: u16,
}

impl Header {
    /// Decodes the first 12 bytes of `msg`; `None` if it is shorter.
    pub fn parse(msg: &[u8]) -> Option<Header> {
        let h: &[u8; HEADER_LEN] = msg.get(..HEADER_LEN)?.try_into().ok()?;
        let u = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
        let flags = u(2);
        Some(Header {
            id: u(0),
            qr: flags & QR != 0,
            opcode: ((flags >> 11) & 0x0f) as u8,
            aa: flags & AA != 0,
            tc: flags & TC != 0,
            rd: flags & RD != 0,
            ra: flags & RA != 0,
            ad: flags & AD != 0,
            cd: flags & CD != 0,
            rcode: (flags & 0x0f) as u8,
            qdcount: u(4),
            ancount: u(6),
            nscount: u(8),
            arcount: u(10),
        })
    }

    /// The 12 bytes of this header (`opcode` and `rcode` keep their low 4 bits).
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let bit = |on: bool, b: u16| if on { b } else { 0 };
        let flags = bit(self.qr, QR)
            | u16::from(self.opcode & 0x0f) << 11
            | bit(self.aa, AA)
            | bit(self.tc, TC)
            | bit(self.rd, RD)
            | bit(self.ra, RA)
            | bit(self.ad, AD)
            | bit(self.cd, CD)
            | u16::from(self.rcode & 0x0f);
        let mut out = [0u8; HEADER_LEN];
        for (i, v) in [
            self.id,
            flags,
            self.qdcount,
            self.ancount,
            self.nscount,
            self.arcount,
        ]
        .into_iter()
        .enumerate()
        {
            out[2 * i..2 * i + 2].copy_from_slice(&v.to_be_bytes());
        }
        out
    }
}

/// The ID of a message (its first two bytes), to find the query a reply answers
/// before decoding it; `None` if it is shorter than a header.
pub fn peek_id(msg: &[u8]) -> Option<u16> {
    Header::parse(msg).map(|h| h.id)
}

/// Writes `id` into an encoded message (a query made once, sent with many IDs).
/// Does nothing to a message shorter than two bytes.
pub fn set_id(msg: &mut [u8], id: u16) {
    if let Some(b) = msg.get_mut(..2) {
        b.copy_from_slice(&id.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_bytes() {
        // A reply: QR, RD, RA, NXDOMAIN; one question, one authority record.
        let msg = b"\xbe\xef\x81\x83\x00\x01\x00\x00\x00\x01\x00\x00";
        let h = Header::parse(msg).unwrap();
        assert_eq!(h.id, 0xbeef);
        assert!(h.qr && h.rd && h.ra && !h.aa && !h.tc);
        assert_eq!((h.opcode, h.rcode), (0, 3));
        assert_eq!((h.qdcount, h.ancount, h.nscount, h.arcount), (1, 0, 1, 0));
        assert_eq!(&h.to_bytes(), msg);
        assert_eq!(Header::parse(&msg[..11]), None);
        assert_eq!(peek_id(msg), Some(0xbeef));
        let mut m = *msg;
        set_id(&mut m, 7);
        assert_eq!(peek_id(&m), Some(7));
        set_id(&mut [0u8][..], 1);
    }

    proptest! {
        #[test]
        fn round_trip(bytes in prop::array::uniform12(any::<u8>())) {
            // Every header decodes, and encodes back to itself except the Z bit.
            let h = Header::parse(&bytes).unwrap();
            let mut want = bytes;
            want[3] &= !0x40;
            prop_assert_eq!(h.to_bytes(), want);
        }
    }
}
