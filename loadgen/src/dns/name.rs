//! Domain names: the text form of a query file to the wire form (RFC 1035 3.1), the
//! wire form back to text, and a bounded reader of (possibly compressed) names in a
//! message that compares them with a query's name, case-insensitively, without
//! allocating.
//!
//! Text: labels separated by `.`, a trailing `.` optional (every name is absolute;
//! there is no origin to append), `.` alone the root. Within a label `\DDD` (three
//! decimal digits, at most 255) is that byte and `\X` is X itself (`\.` a dot inside a
//! label); control bytes, space and DEL must be escaped. International names are not
//! converted: write them as their `xn--` form.

use std::fmt;

/// Most bytes of a label (RFC 1035 2.3.4).
pub const MAX_LABEL: usize = 63;
/// Most bytes of a name on the wire, length bytes and the root's zero included.
pub const MAX_NAME: usize = 255;
/// Most compression pointers followed in one name. Pointers must also point strictly
/// backwards, which alone guarantees the walk ends; this is a second, cheaper bound.
pub const MAX_POINTERS: usize = 64;

/// Why a name is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameError {
    /// Nothing where a name should be.
    Empty,
    /// An empty label: two dots in a row, or a leading dot before other labels.
    EmptyLabel,
    /// A label longer than [`MAX_LABEL`] bytes.
    LabelTooLong,
    /// More than [`MAX_NAME`] bytes on the wire.
    TooLong,
    /// A `\` escape that is not `\DDD` (at most 255) or `\X`, or one at the end.
    BadEscape,
    /// A control byte, space or DEL not escaped (the byte).
    BadByte(u8),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => write!(f, "empty name"),
            NameError::EmptyLabel => write!(f, "empty label (two dots in a row?)"),
            NameError::LabelTooLong => write!(f, "a label is longer than {MAX_LABEL} bytes"),
            NameError::TooLong => write!(f, "longer than {MAX_NAME} bytes on the wire"),
            NameError::BadEscape => write!(f, "bad escape (\\DDD up to 255, or \\X)"),
            NameError::BadByte(b) => write!(f, "byte 0x{b:02x} must be escaped as \\{b:03}"),
        }
    }
}

impl std::error::Error for NameError {}

/// A valid domain name in wire form (labels with their length bytes, then 0).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Name(Box<[u8]>);

impl Name {
    /// The root name, `.`.
    pub fn root() -> Name {
        Name(Box::new([0]))
    }

    /// Parses the text form (see the module docs).
    ///
    /// ```
    /// use loadgen::dns::name::Name;
    /// let n = Name::from_text("www.Example.com").unwrap();
    /// assert_eq!(n.as_wire(), b"\x03www\x07Example\x03com\x00");
    /// assert_eq!(n.to_string(), "www.Example.com.");
    /// assert_eq!(Name::from_text("a\\.b.").unwrap().as_wire(), b"\x03a.b\x00");
    /// assert!(Name::from_text("a..b").is_err());
    /// ```
    pub fn from_text(text: &str) -> Result<Name, NameError> {
        let mut wire = Vec::with_capacity(text.len() + 2);
        parse_text(text.as_bytes(), &mut wire)?;
        Ok(Name(wire.into_boxed_slice()))
    }

    /// Takes an uncompressed wire-form name, checked: every label 1..=63 bytes, a
    /// terminating zero as the last byte, at most [`MAX_NAME`] bytes.
    pub fn from_wire(wire: &[u8]) -> Result<Name, NameError> {
        if wire_len(wire)? != wire.len() {
            return Err(NameError::TooLong);
        }
        Ok(Name(wire.into()))
    }

    /// The wire form.
    pub fn as_wire(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Name {
    /// The text form, absolute (a trailing dot), escaped so that
    /// [`Name::from_text`] reads it back as the same name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_text(&self.0, f)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

/// The length of the valid uncompressed wire name at the start of `wire`.
pub(crate) fn wire_len(wire: &[u8]) -> Result<usize, NameError> {
    let mut at = 0;
    loop {
        let Some(&len) = wire.get(at) else {
            return Err(NameError::Empty);
        };
        let len = usize::from(len);
        if len == 0 {
            return Ok(at + 1);
        }
        if len > MAX_LABEL {
            return Err(NameError::LabelTooLong);
        }
        at += 1 + len;
        if at + 1 > MAX_NAME {
            return Err(NameError::TooLong);
        }
    }
}

/// Writes a wire name (valid, as [`wire_len`] checks) as text.
pub(crate) fn write_text(wire: &[u8], f: &mut impl fmt::Write) -> fmt::Result {
    let mut labels = Labels { wire, at: 0 };
    let mut any = false;
    for label in &mut labels {
        any = true;
        for &b in label {
            match b {
                b'.' | b'\\' => write!(f, "\\{}", char::from(b))?,
                0x21..=0x7e => f.write_char(char::from(b))?,
                _ => write!(f, "\\{b:03}")?,
            }
        }
        f.write_char('.')?;
    }
    if !any {
        f.write_char('.')?;
    }
    Ok(())
}

/// The labels of a valid uncompressed wire name.
struct Labels<'a> {
    wire: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let len = usize::from(*self.wire.get(self.at)?);
        if len == 0 {
            return None;
        }
        let label = self.wire.get(self.at + 1..self.at + 1 + len)?;
        self.at += 1 + len;
        Some(label)
    }
}

/// Appends the wire form of the text name `text` to `out`; on error `out` may hold a
/// part of it (the caller truncates).
pub(crate) fn parse_text(text: &[u8], out: &mut Vec<u8>) -> Result<(), NameError> {
    if text.is_empty() {
        return Err(NameError::Empty);
    }
    let start = out.len();
    if text == b"." {
        out.push(0);
        return Ok(());
    }
    let mut rest = text;
    while !rest.is_empty() {
        let len_at = out.len();
        out.push(0);
        rest = parse_label(rest, out)?;
        let len = out.len() - len_at - 1;
        if len == 0 {
            return Err(NameError::EmptyLabel);
        }
        if len > MAX_LABEL {
            return Err(NameError::LabelTooLong);
        }
        // Every label is at most 63 bytes, checked above.
        out[len_at] = len as u8;
        if out.len() - start + 1 > MAX_NAME {
            return Err(NameError::TooLong);
        }
    }
    out.push(0);
    Ok(())
}

/// Appends one label's bytes (unescaped) to `out`; returns the text after it and its
/// dot. Stops early (the caller finds the label too long) past 63 bytes.
fn parse_label<'t>(mut text: &'t [u8], out: &mut Vec<u8>) -> Result<&'t [u8], NameError> {
    let mut n = 0;
    while let Some((&b, rest)) = text.split_first() {
        text = rest;
        let byte = match b {
            b'.' => return Ok(text),
            b'\\' => {
                let (byte, rest) = unescape(text)?;
                text = rest;
                byte
            }
            0..=0x20 | 0x7f => return Err(NameError::BadByte(b)),
            _ => b,
        };
        out.push(byte);
        n += 1;
        if n > MAX_LABEL {
            return Err(NameError::LabelTooLong);
        }
    }
    Ok(text)
}

/// The byte an escape stands for (`text` is what follows the backslash) and the rest.
fn unescape(text: &[u8]) -> Result<(u8, &[u8]), NameError> {
    match text {
        [a, b, c, rest @ ..] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            let v = u32::from(a - b'0') * 100 + u32::from(b - b'0') * 10 + u32::from(c - b'0');
            let v = u8::try_from(v).map_err(|_| NameError::BadEscape)?;
            Ok((v, rest))
        }
        [d, ..] if d.is_ascii_digit() => Err(NameError::BadEscape),
        [x, rest @ ..] => Ok((*x, rest)),
        [] => Err(NameError::BadEscape),
    }
}

/// Why a name in a message cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireNameError {
    /// The message ends inside the name.
    Truncated,
    /// A label type other than a length (0b00) or a pointer (0b11).
    BadLabelType,
    /// A pointer that does not point strictly backwards, or too many of them.
    BadPointer,
    /// More than [`MAX_NAME`] bytes once decompressed.
    TooLong,
}

/// Reads the name at `at` in the message `msg`, following compression pointers, and
/// compares it with the uncompressed wire name `want`, ignoring ASCII case (RFC 4343).
/// Returns whether they are equal and the offset just past the name where it stands
/// (past its first pointer, if any). Never allocates; at most [`MAX_NAME`] bytes read
/// and [`MAX_POINTERS`] pointers followed.
pub(crate) fn read_eq(
    msg: &[u8],
    mut at: usize,
    want: &[u8],
) -> Result<(bool, usize), WireNameError> {
    let mut end = None;
    let mut equal = true;
    let mut got = 0; // decompressed bytes so far
    let mut pointers = 0;
    loop {
        let len = *msg.get(at).ok_or(WireNameError::Truncated)?;
        match len & 0xc0 {
            0x00 => {}
            0xc0 => {
                let low = *msg.get(at + 1).ok_or(WireNameError::Truncated)?;
                let target = usize::from(len & 0x3f) << 8 | usize::from(low);
                pointers += 1;
                if target >= at || pointers > MAX_POINTERS {
                    return Err(WireNameError::BadPointer);
                }
                end.get_or_insert(at + 2);
                at = target;
                continue;
            }
            _ => return Err(WireNameError::BadLabelType),
        }
        let n = usize::from(len);
        let label = msg.get(at..at + 1 + n).ok_or(WireNameError::Truncated)?;
        if got + label.len() > MAX_NAME {
            return Err(WireNameError::TooLong);
        }
        let theirs = want.get(got..got + label.len());
        equal = equal && theirs.is_some_and(|t| t.eq_ignore_ascii_case(label));
        got += label.len();
        at += label.len();
        if n == 0 {
            return Ok((equal && got == want.len(), end.unwrap_or(at)));
        }
    }
}

/// Skips the name at `at` without following pointers: the offset just past it.
pub(crate) fn skip(msg: &[u8], mut at: usize) -> Result<usize, WireNameError> {
    let start = at;
    loop {
        let len = *msg.get(at).ok_or(WireNameError::Truncated)?;
        match len & 0xc0 {
            0x00 if len == 0 => return Ok(at + 1),
            0x00 => at += 1 + usize::from(len),
            0xc0 => {
                return if at + 2 <= msg.len() {
                    Ok(at + 2)
                } else {
                    Err(WireNameError::Truncated)
                }
            }
            _ => return Err(WireNameError::BadLabelType),
        }
        if at - start >= MAX_NAME {
            return Err(WireNameError::TooLong);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn text_forms() {
        assert_eq!(Name::from_text(".").unwrap().as_wire(), b"\x00");
        assert_eq!(
            Name::from_text("a").unwrap(),
            Name::from_text("a.").unwrap()
        );
        assert_eq!(
            Name::from_text("\\000\\255\\\\x.y").unwrap().as_wire(),
            b"\x04\x00\xff\\x\x01y\x00"
        );
        assert_eq!(Name::from_text("").unwrap_err(), NameError::Empty);
        assert_eq!(Name::from_text(".a").unwrap_err(), NameError::EmptyLabel);
        assert_eq!(Name::from_text("a..").unwrap_err(), NameError::EmptyLabel);
        assert_eq!(Name::from_text("a\\256").unwrap_err(), NameError::BadEscape);
        assert_eq!(Name::from_text("a\\25").unwrap_err(), NameError::BadEscape);
        assert_eq!(Name::from_text("a\\").unwrap_err(), NameError::BadEscape);
        assert_eq!(
            Name::from_text("a b").unwrap_err(),
            NameError::BadByte(b' ')
        );
        assert_eq!(Name::root().to_string(), ".");
        assert_eq!(
            Name::from_text("a\\.b\\\\c.\\007").unwrap().to_string(),
            "a\\.b\\\\c.\\007."
        );
    }

    #[test]
    fn length_limits() {
        let l63 = "x".repeat(63);
        assert!(Name::from_text(&l63).is_ok());
        assert_eq!(
            Name::from_text(&"x".repeat(64)).unwrap_err(),
            NameError::LabelTooLong
        );
        // Four 63-byte labels: 4 * 64 + 1 = 257 bytes on the wire.
        let four = [l63.as_str(); 4].join(".");
        assert_eq!(Name::from_text(&four).unwrap_err(), NameError::TooLong);
        // 3 * 64 + 62 + 1 = 255: the longest.
        let longest = format!("{l63}.{l63}.{l63}.{}", "x".repeat(61));
        assert_eq!(Name::from_text(&longest).unwrap().as_wire().len(), 255);
        let over = format!("{l63}.{l63}.{l63}.{}", "x".repeat(62));
        assert_eq!(Name::from_text(&over).unwrap_err(), NameError::TooLong);
        assert!(Name::from_wire(b"\x01a\x00").is_ok());
        assert!(Name::from_wire(b"\x01a\x00\x00").is_err());
        assert!(Name::from_wire(b"\x02a\x00").is_err());
        assert!(Name::from_wire(b"\x40aaaa").is_err());
    }

    #[test]
    fn compressed_names_compare() {
        let want = Name::from_text("www.example.com").unwrap();
        // Header-sized filler, "example.com" at 12, then "WWW" + pointer to 12.
        let mut msg = vec![0u8; 12];
        msg.extend_from_slice(b"\x07example\x03com\x00");
        let at = msg.len();
        msg.extend_from_slice(b"\x03WWW\xc0\x0c");
        assert_eq!(read_eq(&msg, at, want.as_wire()), Ok((true, msg.len())));
        assert_eq!(skip(&msg, at), Ok(msg.len()));
        let other = Name::from_text("www.example.org").unwrap();
        assert_eq!(read_eq(&msg, at, other.as_wire()), Ok((false, msg.len())));
        // A pointer to itself, and a forward pointer.
        let mut lp = vec![0u8; 12];
        lp.extend_from_slice(b"\xc0\x0c");
        assert_eq!(
            read_eq(&lp, 12, want.as_wire()),
            Err(WireNameError::BadPointer)
        );
        let fwd = b"\xc0\x02\x00";
        assert_eq!(
            read_eq(fwd, 0, want.as_wire()),
            Err(WireNameError::BadPointer)
        );
        assert_eq!(
            read_eq(b"\x80", 0, b"\x00"),
            Err(WireNameError::BadLabelType)
        );
        assert_eq!(
            read_eq(b"\x03ab", 0, b"\x00"),
            Err(WireNameError::Truncated)
        );
    }

    #[test]
    fn decompressed_length_is_bounded() {
        // A chain of backward pointers each adding a 63-byte label: past 255 bytes.
        let mut msg = vec![0u8];
        let mut prev = 0usize;
        for _ in 0..6 {
            let at = msg.len();
            msg.push(63);
            msg.extend_from_slice(&[b'a'; 63]);
            msg.push(0xc0 | (prev >> 8) as u8);
            msg.push(prev as u8);
            prev = at;
        }
        assert_eq!(read_eq(&msg, prev, b"\x00"), Err(WireNameError::TooLong));
    }

    /// A text label: any bytes, escaped where needed, as `write_text` would not.
    fn label() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 1..=63)
    }

    proptest! {
        #[test]
        fn text_round_trip(labels in prop::collection::vec(label(), 0..6)) {
            let mut wire = Vec::new();
            for l in &labels {
                wire.push(l.len() as u8);
                wire.extend_from_slice(l);
            }
            wire.push(0);
            prop_assume!(wire.len() <= MAX_NAME);
            let name = Name::from_wire(&wire).unwrap();
            let back = Name::from_text(&name.to_string()).unwrap();
            prop_assert_eq!(back, name);
        }

        #[test]
        fn reading_never_panics(msg in prop::collection::vec(any::<u8>(), 0..300), at in 0usize..300) {
            let _ = read_eq(&msg, at, b"\x01a\x00");
            let _ = skip(&msg, at);
        }

        #[test]
        fn parse_never_panics(text in ".{0,300}") {
            if let Ok(n) = Name::from_text(&text) {
                prop_assert!(n.as_wire().len() <= MAX_NAME);
                prop_assert_eq!(wire_len(n.as_wire()), Ok(n.as_wire().len()));
            }
        }
    }
}
