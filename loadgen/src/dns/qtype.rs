//! Query types: mnemonics (case-insensitive, as in zone files and dnsperf's query
//! files) and the generic `TYPEnnn` form of RFC 3597.

use std::fmt;

/// A query type (QTYPE), any 16-bit value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QType(pub u16);

/// The mnemonics known by name; any other type is written `TYPEnnn`.
const NAMES: &[(&str, u16)] = &[
    ("A", 1),
    ("NS", 2),
    ("CNAME", 5),
    ("SOA", 6),
    ("NULL", 10),
    ("WKS", 11),
    ("PTR", 12),
    ("HINFO", 13),
    ("MINFO", 14),
    ("MX", 15),
    ("TXT", 16),
    ("RP", 17),
    ("AFSDB", 18),
    ("SIG", 24),
    ("KEY", 25),
    ("AAAA", 28),
    ("LOC", 29),
    ("SRV", 33),
    ("NAPTR", 35),
    ("KX", 36),
    ("CERT", 37),
    ("DNAME", 39),
    ("OPT", 41),
    ("APL", 42),
    ("DS", 43),
    ("SSHFP", 44),
    ("IPSECKEY", 45),
    ("RRSIG", 46),
    ("NSEC", 47),
    ("DNSKEY", 48),
    ("DHCID", 49),
    ("NSEC3", 50),
    ("NSEC3PARAM", 51),
    ("TLSA", 52),
    ("SMIMEA", 53),
    ("HIP", 55),
    ("CDS", 59),
    ("CDNSKEY", 60),
    ("OPENPGPKEY", 61),
    ("CSYNC", 62),
    ("ZONEMD", 63),
    ("SVCB", 64),
    ("HTTPS", 65),
    ("SPF", 99),
    ("EUI48", 108),
    ("EUI64", 109),
    ("TKEY", 249),
    ("TSIG", 250),
    ("IXFR", 251),
    ("AXFR", 252),
    ("MAILB", 253),
    ("MAILA", 254),
    ("ANY", 255),
    ("URI", 256),
    ("CAA", 257),
];

impl QType {
    /// A: an IPv4 address.
    pub const A: QType = QType(1);
    /// NS: a name server.
    pub const NS: QType = QType(2);
    /// CNAME: a canonical name.
    pub const CNAME: QType = QType(5);
    /// SOA: start of authority.
    pub const SOA: QType = QType(6);
    /// PTR: a pointer (reverse lookups).
    pub const PTR: QType = QType(12);
    /// MX: a mail exchanger.
    pub const MX: QType = QType(15);
    /// TXT: text strings.
    pub const TXT: QType = QType(16);
    /// AAAA: an IPv6 address.
    pub const AAAA: QType = QType(28);
    /// SRV: a service location.
    pub const SRV: QType = QType(33);
    /// OPT: EDNS0's pseudo-record (RFC 6891), never a question.
    pub const OPT: QType = QType(41);
    /// DS: a delegation signer.
    pub const DS: QType = QType(43);
    /// DNSKEY: a zone's public key.
    pub const DNSKEY: QType = QType(48);
    /// SVCB: service binding.
    pub const SVCB: QType = QType(64);
    /// HTTPS: service binding for HTTPS.
    pub const HTTPS: QType = QType(65);
    /// TSIG: a transaction signature, never a question.
    pub const TSIG: QType = QType(250);
    /// IXFR: incremental zone transfer.
    pub const IXFR: QType = QType(251);
    /// AXFR: full zone transfer.
    pub const AXFR: QType = QType(252);
    /// ANY: every type (RFC 8482 lets servers answer it minimally).
    pub const ANY: QType = QType(255);
    /// CAA: certification authority authorization.
    pub const CAA: QType = QType(257);

    /// Parses a mnemonic (`A`, `aaaa`, `HTTPS`...) or `TYPEnnn` (nnn decimal, at most
    /// 65535), case-insensitively.
    ///
    /// ```
    /// use loadgen::dns::qtype::QType;
    /// assert_eq!(QType::from_text("aaaa"), Some(QType::AAAA));
    /// assert_eq!(QType::from_text("TYPE65"), Some(QType::HTTPS));
    /// assert_eq!(QType::from_text("TYPE65536"), None);
    /// assert_eq!(QType(65).to_string(), "HTTPS");
    /// assert_eq!(QType(4242).to_string(), "TYPE4242");
    /// ```
    pub fn from_text(text: &str) -> Option<QType> {
        if let Some(&(_, v)) = NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(text)) {
            return Some(QType(v));
        }
        let digits = text.get(..4).filter(|p| p.eq_ignore_ascii_case("TYPE"))?;
        let digits = &text[digits.len()..];
        if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse::<u16>().ok().map(QType)
    }

    /// The mnemonic, if this type has one here.
    pub fn mnemonic(self) -> Option<&'static str> {
        NAMES.iter().find(|(_, v)| *v == self.0).map(|(n, _)| *n)
    }
}

impl fmt::Display for QType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mnemonic() {
            Some(n) => f.write_str(n),
            None => write!(f, "TYPE{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn mnemonics() {
        for (name, v) in [
            ("A", 1),
            ("AAAA", 28),
            ("NS", 2),
            ("CNAME", 5),
            ("SOA", 6),
            ("PTR", 12),
            ("MX", 15),
            ("TXT", 16),
            ("SRV", 33),
            ("DS", 43),
            ("DNSKEY", 48),
            ("CAA", 257),
            ("HTTPS", 65),
            ("SVCB", 64),
            ("ANY", 255),
        ] {
            assert_eq!(QType::from_text(name), Some(QType(v)), "{name}");
            assert_eq!(QType::from_text(&name.to_lowercase()), Some(QType(v)));
            assert_eq!(QType(v).to_string(), name);
        }
        assert_eq!(QType::from_text("type1"), Some(QType::A));
        assert_eq!(QType::from_text("TYPE0"), Some(QType(0)));
        assert_eq!(QType::from_text("TYPE00001"), Some(QType(1)));
        for bad in [
            "",
            "TYPE",
            "TYPE-1",
            "TYPE+1",
            "TYPE000001",
            "TYPE1x",
            "AA",
            "Ä",
        ] {
            assert_eq!(QType::from_text(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn display_round_trips(v in any::<u16>()) {
            prop_assert_eq!(QType::from_text(&QType(v).to_string()), Some(QType(v)));
        }

        #[test]
        fn parse_never_panics(s in ".{0,12}") {
            let _ = QType::from_text(&s);
        }
    }
}
