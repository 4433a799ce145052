//! The targets file of `--targets`: vegeta's HTTP format, with an optional weight.
//!
//! ```text
//! # A comment: the whole line.
//! GET http://127.0.0.1:8080/items?id=1
//! X-Account: 42
//!
//! POST /orders weight=3
//! Content-Type: application/json
//! @order.json
//! ```
//!
//! An entry is a request line, `METHOD URL-or-PATH`, optionally followed by
//! `weight=N` (1 to 1,000,000; 1 if absent), then its header lines (`Name: value`) and
//! optionally a body line, `@FILE`, the body read from FILE (relative to the targets
//! file's folder). Blank lines between entries are optional: a line whose first word
//! has no colon starts the next entry. A URL must name the run's target (every request
//! goes over the same connections); a path goes to it.
//!
//! Parsing is pure: [`parse`] is given the file's text and a reader of body files, so
//! it is tested without touching the disk.

use crate::request::{parse_url, Url};

/// Entries a file may hold (each is kept in memory as the request bytes).
pub(crate) const MAX_ENTRIES: usize = 100_000;
/// The largest targets file read.
pub(crate) const MAX_FILE_BYTES: u64 = 64 << 20;
/// The largest body file read.
pub(crate) const MAX_BODY_BYTES: u64 = 16 << 20;
/// The most body bytes of all entries together (an entry's body is its own copy, so
/// 1,000 entries naming one 1 MiB file are 1,000 MiB): the mix is held in memory.
pub(crate) const MAX_MIX_BODY_BYTES: u64 = 64 << 20;
/// The largest weight.
pub(crate) const MAX_WEIGHT: u32 = 1_000_000;

/// Where an entry's request goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Where {
    /// A path (`/x?y`): to the run's target.
    Path(String),
    /// A whole URL: it must name the run's target.
    Url(Url),
}

/// One entry as the file gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// Its request line's number (1-based), for messages.
    pub line: usize,
    /// The method.
    pub method: String,
    /// The URL or path as written (for the label).
    pub written: String,
    /// Where it goes.
    pub place: Where,
    /// `Name: value` lines, in order.
    pub headers: Vec<String>,
    /// The `@FILE` body (empty without one).
    pub body: Vec<u8>,
    /// `weight=N` (1 without).
    pub weight: u32,
}

impl Parsed {
    /// The request target: the path, or the URL's path.
    pub fn path(&self) -> &str {
        match &self.place {
            Where::Path(p) => p,
            Where::Url(u) => &u.path,
        }
    }

    /// How reports name the entry: `METHOD URL-or-PATH`.
    pub fn label(&self) -> String {
        format!("{} {}", self.method, self.written)
    }
}

/// A header line: a name (a token, no whitespace) right before a colon.
fn is_header(line: &str) -> bool {
    match line.split_once(':') {
        Some((name, _)) => !name.is_empty() && !name.contains([' ', '\t']),
        None => false,
    }
}

/// Parse a targets file's `text`; `read_body(name)` reads an `@FILE` body.
///
/// ```
/// use loadgen::mix::targets::{parse, Where};
/// let text = "GET /a\n\nPOST /b weight=3\nContent-Type: text/plain\n@b.txt\n";
/// let got = parse(text, &mut |name| Ok(format!("body of {name}").into_bytes())).unwrap();
/// assert_eq!(got.len(), 2);
/// assert_eq!((got[1].weight, got[1].body.as_slice()), (3, &b"body of b.txt"[..]));
/// assert_eq!(got[1].headers, ["Content-Type: text/plain"]);
/// assert!(parse("/a\n", &mut |_| Ok(vec![])).unwrap_err().contains("line 1"));
/// ```
pub fn parse(
    text: &str,
    read_body: &mut dyn FnMut(&str) -> Result<Vec<u8>, String>,
) -> Result<Vec<Parsed>, String> {
    let mut entries = Entries::default();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim_end_matches('\r');
        entries
            .take(n, line, read_body)
            .map_err(|msg| format!("line {n}: {msg}"))?;
    }
    if entries.out.is_empty() {
        return Err("no request in it (expected lines such as GET /index.html)".into());
    }
    Ok(entries.out)
}

/// The entries read so far, and whether the last one takes more lines.
#[derive(Default)]
struct Entries {
    out: Vec<Parsed>,
    /// The entry being read has had its body line: nothing more may follow it.
    has_body: bool,
    /// The last entry still takes headers and a body (no blank line since its request
    /// line).
    open: bool,
}

impl Entries {
    /// Take line `n` of the file (its `\r` cut). An error says what is wrong with the
    /// line; [`parse`] adds its number.
    fn take(
        &mut self,
        n: usize,
        line: &str,
        read_body: &mut dyn FnMut(&str) -> Result<Vec<u8>, String>,
    ) -> Result<(), String> {
        if line.trim().is_empty() {
            // A blank line ends the entry (nothing but a request line may follow).
            self.has_body = false;
            self.open = false;
            return Ok(());
        }
        if line.starts_with('#') {
            return Ok(());
        }
        if let Some(name) = line.strip_prefix('@') {
            return self.body(name, read_body);
        }
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            // Else it would pass for a header named "http".
            return Err(format!(
                "{line:?}: a URL without its method (expected e.g. GET {line})"
            ));
        }
        if is_header(line) {
            return self.header(line);
        }
        self.request(n, line)
    }

    /// The entry a header or body line belongs to: the last one, unless a blank line
    /// has closed it.
    fn current(&mut self) -> Option<&mut Parsed> {
        self.out.last_mut().filter(|_| self.open)
    }

    /// A body line, `@FILE` (`name` is what follows the `@`).
    fn body(
        &mut self,
        name: &str,
        read_body: &mut dyn FnMut(&str) -> Result<Vec<u8>, String>,
    ) -> Result<(), String> {
        let has_body = self.has_body;
        let Some(e) = self.current() else {
            return Err("a body (@FILE) without its request line before it".into());
        };
        if has_body || !e.body.is_empty() {
            return Err(format!("a second body for the entry of line {}", e.line));
        }
        let name = name.trim();
        if name.is_empty() {
            return Err("@ without a file name".into());
        }
        e.body = read_body(name).map_err(|m| format!("@{name}: {m}"))?;
        self.has_body = true;
        Ok(())
    }

    /// A header line, `Name: value`.
    fn header(&mut self, line: &str) -> Result<(), String> {
        let has_body = self.has_body;
        let Some(e) = self.current() else {
            return Err(format!(
                "{line:?}: a header without its request line before it (expected METHOD URL)"
            ));
        };
        if has_body {
            return Err(format!(
                "{line:?}: a header after the body line of the entry of line {}",
                e.line
            ));
        }
        e.headers.push(line.to_string());
        Ok(())
    }

    /// A request line, `METHOD URL-or-PATH [weight=N]`, line `n`: a new entry.
    fn request(&mut self, n: usize, line: &str) -> Result<(), String> {
        self.has_body = false;
        self.open = true;
        if self.out.len() >= MAX_ENTRIES {
            return Err(format!("more than {MAX_ENTRIES} entries"));
        }
        let mut words = line.split_whitespace();
        let (Some(method), Some(written)) = (words.next(), words.next()) else {
            return Err(format!(
                "{line:?}: expected METHOD URL-or-PATH [weight=N] (e.g. GET /index.html)"
            ));
        };
        let weight = weight_of(words)?;
        let place = place_of(written)?;
        self.out.push(Parsed {
            line: n,
            method: method.to_string(),
            written: written.to_string(),
            place,
            headers: Vec::new(),
            body: Vec::new(),
            weight,
        });
        Ok(())
    }
}

/// The weight the `words` after a request line's URL give: at most one `weight=N`,
/// N from 1 to [`MAX_WEIGHT`]; 1 without.
fn weight_of<'a>(words: impl Iterator<Item = &'a str>) -> Result<u32, String> {
    let mut weight = None;
    for w in words {
        let Some(v) = w.strip_prefix("weight=") else {
            return Err(format!("{w:?}: expected weight=N after the URL"));
        };
        if weight.is_some() {
            return Err(format!("{w:?}: a second weight"));
        }
        // Digits only: parse() would take "+5".
        let digits = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
        weight = match v.parse::<u32>() {
            Ok(k) if digits && (1..=MAX_WEIGHT).contains(&k) => Some(k),
            _ => {
                return Err(format!(
                    "weight={v}: expected a whole number from 1 to {MAX_WEIGHT}"
                ))
            }
        };
    }
    Ok(weight.unwrap_or(1))
}

/// Where a request line's URL-or-PATH sends it.
fn place_of(written: &str) -> Result<Where, String> {
    if written.starts_with('/') {
        Ok(Where::Path(written.to_string()))
    } else if written.contains("://") {
        Ok(Where::Url(parse_url(written)?))
    } else {
        Err(format!(
            "{written:?}: expected a URL (http://HOST:PORT/PATH) or a path (/PATH)"
        ))
    }
}

/// Read at most `max` bytes of the file at `path`: more is refused, whatever its
/// metadata says (a FIFO or a device reports a length of 0 and may never end).
fn read_capped(path: &std::path::Path, max: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut v = Vec::new();
    f.take(max + 1)
        .read_to_end(&mut v)
        .map_err(|e| e.to_string())?;
    if v.len() as u64 > max {
        return Err(format!("more than {} MiB", max >> 20));
    }
    Ok(v)
}

/// Read and parse the targets file at `path`: bodies relative to its folder, each
/// body file read once however many entries name it.
pub fn read(path: &std::path::Path) -> Result<Vec<Parsed>, String> {
    let bytes = read_capped(path, MAX_FILE_BYTES)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        format!(
            "not UTF-8 text (a bad byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })?;
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    let mut cache: std::collections::HashMap<String, Vec<u8>> = Default::default();
    let mut total = 0u64;
    parse(&text, &mut |name| {
        let b = match cache.get(name) {
            Some(b) => b.clone(),
            None => {
                let b = read_capped(&dir.join(name), MAX_BODY_BYTES)?;
                cache.insert(name.to_string(), b.clone());
                b
            }
        };
        total += b.len() as u64;
        if total > MAX_MIX_BODY_BYTES {
            return Err(format!(
                "the bodies of the entries so far come to more than {} MiB, the most a mix holds",
                MAX_MIX_BODY_BYTES >> 20
            ));
        }
        Ok(b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_body(_: &str) -> Result<Vec<u8>, String> {
        Ok(b"B".to_vec())
    }

    #[test]
    fn test_vegeta_style_entries_parse() {
        let text = "# a mix\r\nGET http://127.0.0.1:8080/a?x=1\r\nX-A: 1\r\nX-B: two words\r\n\r\n\
                    HEAD /b weight=2\nPOST /c\n@c.json\nDELETE /d\n";
        let got = parse(text, &mut no_body).unwrap();
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].method, "GET");
        assert_eq!(got[0].path(), "/a?x=1");
        assert!(matches!(&got[0].place, Where::Url(u) if u.port == 8080));
        assert_eq!(got[0].headers, ["X-A: 1", "X-B: two words"]);
        assert_eq!((got[1].weight, got[1].line), (2, 6));
        assert_eq!(got[1].label(), "HEAD /b");
        assert_eq!(got[2].body, b"B");
        // No blank line needed before the next request line.
        assert_eq!(got[3].method, "DELETE");
        assert!(got[3].body.is_empty());
    }

    #[test]
    fn test_bad_files_name_the_line() {
        let cases = [
            ("", "no request"),
            ("# only a comment\n", "no request"),
            ("X-A: 1\nGET /\n", "line 1"),
            ("@body\n", "line 1"),
            ("GET /\n@a\n@b\n", "line 3: a second body"),
            ("GET /\n@a\nX-A: 1\n", "line 3"),
            ("GET /\n\nX-A: 1\n", "line 3: \"X-A: 1\": a header without"),
            ("GET /\n\n@a\n", "line 3: a body"),
            ("GET\n", "line 1: \"GET\": expected METHOD"),
            ("GET / weight=0\n", "weight=0"),
            ("GET / weight=2000000\n", "weight=2000000"),
            ("GET / extra\n", "\"extra\""),
            ("GET / weight=2 weight=3\n", "a second weight"),
            ("GET / weight=+5\n", "weight=+5"),
            ("GET a.html\n", "expected a URL"),
            ("GET /\n@\n", "without a file name"),
            (
                "http://a/x\n",
                "line 1: \"http://a/x\": a URL without its method",
            ),
        ];
        for (text, want) in cases {
            let e = parse(text, &mut no_body).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
        }
        let e = parse("GET /\n@missing\n", &mut |_| Err("No such file".into())).unwrap_err();
        assert_eq!(e, "line 2: @missing: No such file");
    }

    #[test]
    fn test_entries_are_capped() {
        let text = "GET /\n".repeat(MAX_ENTRIES + 1);
        let e = parse(&text, &mut no_body).unwrap_err();
        assert!(e.contains("more than 100000 entries"), "{e}");
    }

    #[test]
    fn test_read_refuses_endless_and_binary_files() {
        // /dev/zero says it is 0 bytes long and never ends.
        let e = read(std::path::Path::new("/dev/zero")).unwrap_err();
        assert!(e.contains("more than 64 MiB") || e.contains("UTF-8"), "{e}");
        let dir = std::env::temp_dir().join(format!("lg-targets-bin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let t = dir.join("t.txt");
        std::fs::write(&t, b"GET /\xff\n").unwrap();
        assert!(read(&t).unwrap_err().contains("not UTF-8 text"));
        // A body from a device is capped too.
        std::fs::write(&t, "POST /\n@/dev/zero\n").unwrap();
        assert!(read(&t).unwrap_err().contains("more than 16 MiB"));
        // And all the bodies together: 5 entries of one 16 MiB file are 80 MiB.
        std::fs::write(dir.join("big"), vec![b'x'; 16 << 20]).unwrap();
        std::fs::write(&t, "POST /\n@big\n".repeat(5)).unwrap();
        let e = read(&t).unwrap_err();
        assert!(
            e.starts_with("line 10: @big: the bodies") && e.contains("64 MiB"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_read_takes_bodies_beside_the_file_once() {
        let dir = std::env::temp_dir().join(format!("lg-targets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("b.json"), b"{\"k\":1}").unwrap();
        let t = dir.join("t.txt");
        std::fs::write(&t, "POST /a\n@b.json\n\nPOST /b\n@b.json\n").unwrap();
        let got = read(&t).unwrap();
        assert_eq!(got[0].body, b"{\"k\":1}");
        assert_eq!(got[1].body, got[0].body);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
