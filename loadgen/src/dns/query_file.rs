//! dnsperf's query-file format: one query a line, `NAME TYPE`.
//!
//! As dnsperf reads it (its `datafile.c` and `dns.c`): fields separated by spaces or
//! tabs; the name in text form, absolute whether or not it ends with a dot (see
//! [`super::name`] for escapes); the type a mnemonic or `TYPEnnn`
//! ([`super::qtype::QType::from_text`]), required; an empty line, or one whose first
//! byte is `;`, skipped. Where loadgen differs it is stricter or says more, never
//! reads a line otherwise:
//!
//! - a line of spaces and tabs only is skipped too, as is a `;` after leading blanks,
//!   and a `\r` before the `\n` is dropped (files written on Windows);
//! - after the type, only a `;` comment may follow (dnsperf ignores any further
//!   field; here a third field is more likely a mistake than a comment);
//! - the types no single reply answers are refused: 0, OPT, TSIG, IXFR and AXFR;
//! - bounds: at most [`MAX_QUERIES`] queries and lines of at most [`MAX_LINE`] bytes.
//!
//! A file is read whole before the run, into one buffer of wire-form names (a
//! query costs its name's wire length plus 8 bytes), and an error names the line.

use super::name::{self, NameError};
use super::qtype::QType;
use super::query::Question;
use std::fmt;
use std::io::{BufRead, Read};
use std::path::Path;

/// Most queries a file may hold (dnsperf-style files of more: split, or sample).
pub const MAX_QUERIES: usize = 1_000_000;

/// Longest line, in bytes, its newline excluded: room for a 255-byte name escaped
/// throughout (`\DDD` per byte) and a type.
pub const MAX_LINE: usize = 1100;

/// How much of a bad field an error quotes.
const QUOTE: usize = 40;

/// What is wrong with one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineError {
    /// Longer than [`MAX_LINE`] bytes.
    TooLong,
    /// A name and no type.
    NoType,
    /// The name is not a valid domain name (the name, quoted, and why).
    BadName(String, NameError),
    /// Not a type mnemonic nor `TYPEnnn` (the field, quoted).
    BadType(String),
    /// A type no single reply answers.
    RefusedType(QType),
    /// A third field that is not a `;` comment (quoted).
    ExtraField(String),
    /// The query past [`MAX_QUERIES`].
    TooManyQueries,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::TooLong => write!(f, "longer than {MAX_LINE} bytes"),
            LineError::NoType => write!(f, "no query type (a line is NAME TYPE)"),
            LineError::BadName(n, e) => write!(f, "bad name {n}: {e}"),
            LineError::BadType(t) => write!(
                f,
                "unknown query type {t} (a mnemonic such as A, AAAA, MX, or TYPEnnn)"
            ),
            LineError::RefusedType(t) => {
                write!(f, "query type {t} is refused: no single reply answers it")
            }
            LineError::ExtraField(x) => {
                write!(f, "unexpected {x} after the type (a comment starts with ;)")
            }
            LineError::TooManyQueries => write!(f, "more than {MAX_QUERIES} queries"),
        }
    }
}

/// Why a query file cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryFileError {
    /// A line is wrong (numbered from 1).
    Line {
        /// The line number, from 1.
        line: usize,
        /// What is wrong with it.
        what: LineError,
    },
    /// No query in the file (only blank or comment lines, or nothing).
    NoQueries,
    /// The file could not be read.
    Io(String),
}

impl fmt::Display for QueryFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryFileError::Line { line, what } => write!(f, "line {line}: {what}"),
            QueryFileError::NoQueries => write!(f, "no queries (only blank or ; lines)"),
            QueryFileError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for QueryFileError {}

/// One query of the file: where its name is in the buffer, and its type.
#[derive(Clone, Copy, Debug)]
struct Entry {
    start: u32,
    len: u8,
    qtype: QType,
}

/// The queries of a file, in order.
#[derive(Clone, Debug, Default)]
pub struct QueryFile {
    names: Vec<u8>,
    entries: Vec<Entry>,
}

impl QueryFile {
    /// Reads the file at `path`.
    pub fn read(path: &Path) -> Result<QueryFile, QueryFileError> {
        let f = std::fs::File::open(path)
            .map_err(|e| QueryFileError::Io(format!("{}: {e}", path.display())))?;
        QueryFile::from_reader(std::io::BufReader::new(f))
    }

    /// Parses a whole file held in memory.
    ///
    /// ```
    /// use loadgen::dns::query_file::QueryFile;
    /// let f = QueryFile::parse(b"; queries\nwww.example.com A\n\nexample.com. MX ; mail\n").unwrap();
    /// assert_eq!(f.len(), 2);
    /// assert_eq!(f.get(1).unwrap().to_string(), "example.com. MX");
    /// let e = QueryFile::parse(b"a.test A\nb.test BOGUS\n").unwrap_err();
    /// assert!(e.to_string().starts_with("line 2: unknown query type \"BOGUS\""));
    /// ```
    pub fn parse(bytes: &[u8]) -> Result<QueryFile, QueryFileError> {
        QueryFile::from_reader(bytes)
    }

    /// Reads queries from `r` to its end.
    pub fn from_reader(mut r: impl BufRead) -> Result<QueryFile, QueryFileError> {
        let mut file = QueryFile::default();
        let mut line = Vec::with_capacity(MAX_LINE + 2);
        for number in 1.. {
            line.clear();
            // One byte past the longest line and its "\r\n" tells a long line apart.
            let n = r
                .by_ref()
                .take(MAX_LINE as u64 + 3)
                .read_until(b'\n', &mut line)
                .map_err(|e| QueryFileError::Io(e.to_string()))?;
            if n == 0 {
                break;
            }
            file.add_line(&line)
                .map_err(|what| QueryFileError::Line { line: number, what })?;
        }
        if file.is_empty() {
            return Err(QueryFileError::NoQueries);
        }
        Ok(file)
    }

    /// Parses one line (its newline included, if any) and keeps its query.
    fn add_line(&mut self, raw: &[u8]) -> Result<(), LineError> {
        let text = strip_eol(raw).ok_or(LineError::TooLong)?;
        let Some((name, qtype)) = split_line(text)? else {
            return Ok(());
        };
        if self.entries.len() >= MAX_QUERIES {
            return Err(LineError::TooManyQueries);
        }
        let qtype = parse_type(qtype)?;
        let start = self.names.len();
        if let Err(e) = name::parse_text(name, &mut self.names) {
            self.names.truncate(start);
            return Err(LineError::BadName(quote(name), e));
        }
        // Names are at most 255 bytes and the file at most 1,000,000 of them.
        self.entries.push(Entry {
            start: start as u32,
            len: (self.names.len() - start) as u8,
            qtype,
        });
        Ok(())
    }

    /// Queries in the file.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is none (never, for a file [`QueryFile::parse`] accepted).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The `i`th query, from 0.
    pub fn get(&self, i: usize) -> Option<Question<'_>> {
        let e = self.entries.get(i)?;
        let start = e.start as usize;
        let name = self.names.get(start..start + usize::from(e.len))?;
        Some(Question::from_checked_wire(name, e.qtype))
    }

    /// The queries in file order.
    pub fn iter(&self) -> impl Iterator<Item = Question<'_>> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

/// The line without its `\n` and a `\r` before it; `None` if it is too long.
fn strip_eol(raw: &[u8]) -> Option<&[u8]> {
    let text = raw.strip_suffix(b"\n").unwrap_or(raw);
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    (text.len() <= MAX_LINE).then_some(text)
}

/// A query line's name and type fields, unparsed.
type Fields<'a> = (&'a [u8], &'a [u8]);

/// The name and type fields of a line; `None` for a blank or comment line.
fn split_line(text: &[u8]) -> Result<Option<Fields<'_>>, LineError> {
    let mut fields = text
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|f| !f.is_empty());
    let Some(name) = fields.next().filter(|n| !n.starts_with(b";")) else {
        return Ok(None);
    };
    let qtype = fields.next().ok_or(LineError::NoType)?;
    match fields.next() {
        Some(x) if !x.starts_with(b";") => Err(LineError::ExtraField(quote(x))),
        _ => Ok(Some((name, qtype))),
    }
}

/// The type field, parsed and allowed.
fn parse_type(field: &[u8]) -> Result<QType, LineError> {
    let t = std::str::from_utf8(field)
        .ok()
        .and_then(QType::from_text)
        .ok_or_else(|| LineError::BadType(quote(field)))?;
    match t {
        QType(0) | QType::OPT | QType::TSIG | QType::IXFR | QType::AXFR => {
            Err(LineError::RefusedType(t))
        }
        t => Ok(t),
    }
}

/// A field for an error message: quoted, escaped, its first [`QUOTE`] bytes.
fn quote(field: &[u8]) -> String {
    let shown = String::from_utf8_lossy(&field[..field.len().min(QUOTE)]);
    let more = if field.len() > QUOTE { "..." } else { "" };
    format!("{shown:?}{more}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lines(f: &QueryFile) -> Vec<String> {
        f.iter().map(|q| q.to_string()).collect()
    }

    #[test]
    fn accepted_forms() {
        let text = b"; a comment\n\
            a.test A\n\
            \n\
            \t  \n\
            B.Test.\tAAAA\r\n\
            \x20 ;indented comment\n\
            c.test  type65   ; trailing comment\n\
            . NS\n\
            weird\\.label\\032x.test TYPE4242\n\
            last.test txt";
        let f = QueryFile::parse(text).unwrap();
        assert_eq!(
            lines(&f),
            [
                "a.test. A",
                "B.Test. AAAA",
                "c.test. HTTPS",
                ". NS",
                "weird\\.label\\032x.test. TYPE4242",
                "last.test. TXT"
            ]
        );
        assert!(f.get(6).is_none());
    }

    fn err(text: &[u8]) -> (usize, LineError) {
        match QueryFile::parse(text).unwrap_err() {
            QueryFileError::Line { line, what } => (line, what),
            e => panic!("{e}"),
        }
    }

    #[test]
    fn refused_lines_are_numbered() {
        assert_eq!(err(b"a A\nb\n"), (2, LineError::NoType));
        assert_eq!(err(b"a A\n\n;x\nb Q\n").0, 4);
        assert!(matches!(
            err(b"a..b A\n"),
            (1, LineError::BadName(_, NameError::EmptyLabel))
        ));
        assert_eq!(err(b"a A B\n"), (1, LineError::ExtraField("\"B\"".into())));
        assert_eq!(err(b"a AXFR\n"), (1, LineError::RefusedType(QType::AXFR)));
        assert_eq!(err(b"a TYPE41\n"), (1, LineError::RefusedType(QType::OPT)));
        assert_eq!(err(b"a TYPE0\n"), (1, LineError::RefusedType(QType(0))));
        assert_eq!(
            err(b"a \xff\n"),
            (1, LineError::BadType("\"\u{fffd}\"".into()))
        );
        let long = format!("a A\n{} A\n", "x".repeat(MAX_LINE));
        assert_eq!(err(long.as_bytes()), (2, LineError::TooLong));
        let label = "x".repeat(64);
        assert!(matches!(
            err(format!("{label} A").as_bytes()),
            (1, LineError::BadName(_, NameError::LabelTooLong))
        ));
        assert_eq!(
            QueryFile::parse(b"").unwrap_err(),
            QueryFileError::NoQueries
        );
        assert_eq!(
            QueryFile::parse(b";\n\n").unwrap_err(),
            QueryFileError::NoQueries
        );
        // One line each, the field quoted and cut.
        let e = QueryFile::parse(format!("{} A\n", "y.".repeat(200)).as_bytes()).unwrap_err();
        let s = e.to_string();
        assert!(
            s.starts_with("line 1: bad name \"y.y.") && s.contains("\"...: longer than 255"),
            "{s}"
        );
        assert!(!s.contains('\n'));
    }

    #[test]
    fn longest_line_fits() {
        // A 255-byte name escaped throughout: 3 labels of 63 and one of 62 bytes.
        let esc = |n: usize| "\\120".repeat(n);
        let name = format!("{}.{}.{}.{}.", esc(63), esc(63), esc(63), esc(61));
        let line = format!("{name} NSEC3PARAM\r\n");
        assert!(line.len() - 2 <= MAX_LINE, "{}", line.len());
        let f = QueryFile::parse(line.as_bytes()).unwrap();
        assert_eq!(f.get(0).unwrap().name_wire().len(), 255);
    }

    #[test]
    fn too_many_queries() {
        let mut text = Vec::with_capacity(MAX_QUERIES * 4 + 4);
        for _ in 0..MAX_QUERIES {
            text.extend_from_slice(b"a A\n");
        }
        assert_eq!(QueryFile::parse(&text).unwrap().len(), MAX_QUERIES);
        text.extend_from_slice(b"; fine\na A\n");
        assert_eq!(err(&text), (MAX_QUERIES + 2, LineError::TooManyQueries));
    }

    #[test]
    fn reads_a_file() {
        let dir = std::env::temp_dir().join(format!("rl-dns-qf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("q.txt");
        std::fs::write(&p, "a.test A\nb.test MX\n").unwrap();
        let got = QueryFile::read(&p).map(|f| lines(&f));
        let missing = QueryFile::read(&dir.join("none"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(got.unwrap(), ["a.test. A", "b.test. MX"]);
        assert!(matches!(missing, Err(QueryFileError::Io(_))));
    }

    proptest! {
        #[test]
        fn never_panics(text in prop::collection::vec(any::<u8>(), 0..2000)) {
            if let Ok(f) = QueryFile::parse(&text) {
                prop_assert!(!f.is_empty());
                for q in f.iter() {
                    prop_assert_eq!(name::wire_len(q.name_wire()), Ok(q.name_wire().len()));
                }
            }
        }

        #[test]
        fn printed_queries_read_back(lines in prop::collection::vec("[a-zA-Z0-9.\\\\-]{1,30} (A|MX|TYPE[0-9]{1,5}|txt)", 1..20)) {
            let text = lines.join("\n");
            if let Ok(f) = QueryFile::parse(text.as_bytes()) {
                let printed: Vec<String> = f.iter().map(|q| q.to_string()).collect();
                let again = QueryFile::parse(printed.join("\n").as_bytes()).unwrap();
                prop_assert_eq!(again.iter().collect::<Vec<_>>(), f.iter().collect::<Vec<_>>());
            }
        }
    }
}
