//! The invariants of loadgen's URL parser and request builder (`loadgen::request`).
//!
//! One definition for two callers: the `request` fuzz target and the property tests in
//! `loadgen/tests/split_invariance.rs` (which include this file by path).
//!
//! [`check_request`] decides on its own, from RFC 9110/9112 and what httparse accepts,
//! whether the builder must accept its arguments, and checks that it does exactly
//! then; an accepted request must parse back (httparse) as exactly one request with
//! the method, path and headers given, in order, preceded by `Host` unless one was
//! given and followed by `Content-Length` when there is a body and no framing header.
//! [`check_url`] checks that a parsed URL builds such a request and prints back as
//! itself.

use loadgen::request::{http_request, parse_url};

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A field value byte (RFC 9110 5.5: VCHAR, obs-text, SP, HTAB).
fn is_value_byte(b: u8) -> bool {
    b == b'\t' || (b' '..=0x7e).contains(&b) || b >= 0x80
}

/// The body length a Content-Length value states, if it is a valid one.
fn length_of(v: &str) -> Option<u64> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

/// The header fields the builder must send for `headers`, or why it must refuse.
fn expected(
    method: &str,
    host: &str,
    path: &str,
    headers: &[String],
    body: &[u8],
) -> Result<Vec<(String, String)>, &'static str> {
    if method.is_empty() || !method.bytes().all(is_tchar) {
        return Err("method");
    }
    // httparse's request-target: visible ASCII and obs-text.
    if path.is_empty() || !path.bytes().all(|b| b > b' ' && b != 0x7f) {
        return Err("path");
    }
    if !host.bytes().all(is_value_byte) {
        return Err("host");
    }
    let mut fields = Vec::new();
    for h in headers {
        let (name, value) = h.split_once(':').ok_or("no colon")?;
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err("name");
        }
        if !value.bytes().all(is_value_byte) {
            return Err("value");
        }
        fields.push((
            name.to_string(),
            value.trim_matches([' ', '\t']).to_string(),
        ));
    }
    fn named<'a>(
        fields: &'a [(String, String)],
        n: &'a str,
    ) -> impl Iterator<Item = &'a (String, String)> {
        fields
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(n))
    }
    let te = named(&fields, "transfer-encoding").count() > 0;
    let mut cl = false;
    for (_, v) in named(&fields, "content-length") {
        cl = true;
        if length_of(v) != Some(body.len() as u64) {
            return Err("content-length differs from the body");
        }
    }
    if cl && te {
        return Err("content-length with transfer-encoding");
    }
    if named(&fields, "host").count() == 0 {
        fields.insert(
            0,
            (
                "Host".to_string(),
                host.trim_matches([' ', '\t']).to_string(),
            ),
        );
    }
    if !body.is_empty() && !cl && !te {
        fields.push(("Content-Length".to_string(), body.len().to_string()));
    }
    Ok(fields)
}

/// Builds a request from these arguments and checks it (see the module docs).
pub fn check_request(
    method: &str,
    host: &str,
    path: &str,
    headers: &[String],
    body: &[u8],
) -> Result<(), String> {
    let want = expected(method, host, path, headers, body);
    let got = http_request(method, host, path, headers, body);
    let args = format!(
        "{method:?} {host:?} {path:?} {headers:?} body {:?}",
        String::from_utf8_lossy(body)
    );
    let req = match (want, got) {
        (Err(why), Ok(req)) => {
            return Err(format!(
                "accepted ({why} should be refused) {args}: {:?}",
                String::from_utf8_lossy(&req)
            ))
        }
        (Ok(_), Err(e)) => return Err(format!("refused {args}: {e}")),
        (Err(_), Err(e)) => {
            // A usage error: one line, as the CLI prints it.
            return if e.contains(['\n', '\r']) || e.is_empty() {
                Err(format!("error is not one line: {e:?}"))
            } else {
                Ok(())
            };
        }
        (Ok(fields), Ok(req)) => (fields, req),
    };
    let (fields, req) = req;
    let mut storage = vec![httparse::EMPTY_HEADER; fields.len() + 1];
    let mut parsed = httparse::Request::new(&mut storage);
    let n = match parsed.parse(&req) {
        Ok(httparse::Status::Complete(n)) => n,
        other => {
            return Err(format!(
                "{args}: built {:?}, which httparse reads as {other:?}",
                String::from_utf8_lossy(&req)
            ))
        }
    };
    let same = parsed.method == Some(method)
        && parsed.path == Some(path)
        && parsed.version == Some(1)
        && parsed.headers.len() == fields.len()
        && parsed
            .headers
            .iter()
            .zip(&fields)
            .all(|(h, (name, value))| h.name == name && h.value == value.as_bytes());
    if !same {
        return Err(format!(
            "{args}: built {:?}, parsed back as {parsed:?}, want headers {fields:?}",
            String::from_utf8_lossy(&req)
        ));
    }
    // Exactly one request: the body is what follows the head, and its length is what
    // the head says (a chunked body is the user's to frame).
    let te = fields
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding"));
    let stated = fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| length_of(v))
        .unwrap_or(0);
    if &req[n..] != body || (!te && stated != body.len() as u64) {
        return Err(format!(
            "{args}: built {:?}: not one request with this body",
            String::from_utf8_lossy(&req)
        ));
    }
    Ok(())
}

/// Parses `s` as a URL; if it is one, checks that it builds a valid request with
/// `headers` and `body` and prints back as itself.
pub fn check_url(s: &str, headers: &[String], body: &[u8]) -> Result<(), String> {
    let url = match parse_url(s) {
        Ok(u) => u,
        Err(e) => {
            return if e.contains(['\n', '\r']) || e.is_empty() {
                Err(format!("error is not one line: {e:?}"))
            } else {
                Ok(())
            }
        }
    };
    if !url.path.starts_with('/') || url.port == 0 || url.host.is_empty() {
        return Err(format!("{s:?} parsed as {url:?}"));
    }
    let host = url.host_header();
    // A URL's parts always make a request line and a Host field.
    if expected("GET", &host, &url.path, &[], b"").is_err() {
        return Err(format!(
            "{s:?} parsed as {url:?}: not a valid request line or Host"
        ));
    }
    check_request("GET", &host, &url.path, headers, body)?;
    let scheme = if url.tls { "https" } else { "http" };
    let again = format!("{scheme}://{host}{}", url.path);
    match parse_url(&again) {
        Ok(u) if u == url => Ok(()),
        other => Err(format!(
            "{s:?} parsed as {url:?}, printed as {again:?}, which parses as {other:?}"
        )),
    }
}

/// A URL printed from parts, for generators: `http://HOST[:PORT]PATH`.
pub fn url_text(host: &str, port: Option<u16>, path: &str) -> String {
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    match port {
        Some(p) => format!("http://{host}:{p}{path}"),
        None => format!("http://{host}{path}"),
    }
}
