//! Response codes, the statuses of a DNS report: the header's 4 bits, extended to 12
//! by the upper 8 bits an OPT record carries (RFC 6891 6.1.3).
//!
//! Names as IANA's "DNS RCODEs" registry gives them. Code 16 is BADVERS in a header
//! extended by OPT and BADSIG in a TSIG record's error field; a reply's status comes
//! from its header and OPT only, so 16 is named BADVERS here. A code without a name
//! is written `RCODE<n>`.

use std::fmt;

/// A response code, 0..=4095.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rcode(pub u16);

impl Rcode {
    /// No error.
    pub const NOERROR: Rcode = Rcode(0);
    /// The server could not interpret the query.
    pub const FORMERR: Rcode = Rcode(1);
    /// The server failed to process the query.
    pub const SERVFAIL: Rcode = Rcode(2);
    /// The name does not exist.
    pub const NXDOMAIN: Rcode = Rcode(3);
    /// The server does not implement the kind of query.
    pub const NOTIMP: Rcode = Rcode(4);
    /// The server refuses, by policy.
    pub const REFUSED: Rcode = Rcode(5);
    /// EDNS version not supported (OPT's extended RCODE 1 over a header RCODE 0).
    pub const BADVERS: Rcode = Rcode(16);
    /// A bad or missing server cookie (RFC 7873).
    pub const BADCOOKIE: Rcode = Rcode(23);

    /// The 12-bit code from the header's 4 bits and OPT's extended 8 bits.
    ///
    /// ```
    /// use loadgen::dns::rcode::Rcode;
    /// assert_eq!(Rcode::extended(0, 1), Rcode::BADVERS);
    /// assert_eq!(Rcode::extended(3, 0).to_string(), "NXDOMAIN");
    /// assert_eq!(Rcode(12).to_string(), "RCODE12");
    /// ```
    pub fn extended(header: u8, ext: u8) -> Rcode {
        Rcode(u16::from(ext) << 4 | u16::from(header & 0x0f))
    }

    /// The registered name, if this code has one.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "NOERROR",
            1 => "FORMERR",
            2 => "SERVFAIL",
            3 => "NXDOMAIN",
            4 => "NOTIMP",
            5 => "REFUSED",
            6 => "YXDOMAIN",
            7 => "YXRRSET",
            8 => "NXRRSET",
            9 => "NOTAUTH",
            10 => "NOTZONE",
            11 => "DSOTYPENI",
            16 => "BADVERS",
            17 => "BADKEY",
            18 => "BADTIME",
            19 => "BADMODE",
            20 => "BADNAME",
            21 => "BADALG",
            22 => "BADTRUNC",
            23 => "BADCOOKIE",
            _ => return None,
        })
    }

    /// Whether the server answered without error (NOERROR).
    pub fn is_ok(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Rcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "RCODE{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let want = [
            "NOERROR",
            "FORMERR",
            "SERVFAIL",
            "NXDOMAIN",
            "NOTIMP",
            "REFUSED",
            "YXDOMAIN",
            "YXRRSET",
            "NXRRSET",
            "NOTAUTH",
            "NOTZONE",
            "DSOTYPENI",
        ];
        for (i, n) in want.iter().enumerate() {
            assert_eq!(Rcode(i as u16).to_string(), *n);
        }
        for i in 12..16 {
            assert_eq!(Rcode(i).to_string(), format!("RCODE{i}"));
        }
        assert_eq!(Rcode::extended(0, 1).to_string(), "BADVERS");
        assert_eq!(Rcode::extended(7, 1), Rcode::BADCOOKIE);
        assert_eq!(Rcode::extended(0xff, 0xff), Rcode(4095));
        assert_eq!(Rcode(4095).to_string(), "RCODE4095");
        assert!(Rcode::NOERROR.is_ok() && !Rcode::SERVFAIL.is_ok());
    }
}
