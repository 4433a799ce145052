//! readyloop's HTTP answers checked by third-party HTTP/1.1 code: h11 (as a client:
//! framing, keep-alive, connection reuse) and httplint (its response linter), both
//! from PyPI, driven by `tests/conformance/h11_httplint.py`.
//!
//! This file starts the servers in-process on 127.0.0.1:0, runs the script (bounded:
//! killed after [`SCRIPT_TIMEOUT`]), and asserts on the JSON it prints: statuses,
//! bodies, connection reuse, and that httplint found nothing at its "bad" level. The
//! lint notes are printed (`cargo test --test http_conformance -- --nocapture`).
//!
//! Without `python3`, h11 or httplint the test is skipped, unless
//! `READYLOOP_REQUIRE_PY=1` (CI) makes that a failure.

mod util;

use readyloop::protocol::{fill_pattern, PATTERN};
use readyloop::server::ProtoKind;
use serde_json::Value;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;
use util::*;

/// Longest the Python side may run before it is killed.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(30);

/// `/bytes/N` size requested.
const BYTES_N: usize = 100_000;

/// `reactor.limits.max_input` (and so the max head) of the 431 server.
const SMALL_MAX_INPUT: usize = 4096;

/// Size of the one padding header sent to the 431 server.
const BIG_HEADER: usize = 6000;

/// httplint notes at the "bad" level that are accepted, as (exchange, summary), each
/// with the reason. None so far.
const ALLOWED_BAD: &[(&str, &str)] = &[];

fn script_path() -> String {
    format!(
        "{}/tests/conformance/h11_httplint.py",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The pattern bytes `offset..offset + n` of a `/bytes/N` body.
fn pattern_at(offset: usize, n: usize) -> Vec<u8> {
    let mut v = Vec::new();
    fill_pattern(&mut v, offset as u64, n);
    v
}

/// Whether python3 with h11 and httplint is usable (bounded).
fn python_ready() -> Result<(), String> {
    let child = Command::new("python3")
        .args(["-c", "import h11, httplint"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let mut child = child.map_err(|e| format!("python3 not runnable: {e}"))?;
    match wait_child(&mut child, Duration::from_secs(20)) {
        Some(st) if st.success() => Ok(()),
        Some(st) => Err(format!("`import h11, httplint` failed ({st})")),
        None => Err("`import h11, httplint` did not finish in 20 s".into()),
    }
}

/// Run the script to completion (bounded), returning its stdout, or panicking with
/// its exit status and stderr.
fn run_script(args: &[String]) -> String {
    let mut child = Command::new("python3")
        .arg(script_path())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python3");
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    // wait_child kills and reaps the child on timeout, which closes the pipes.
    let status = wait_child(&mut child, SCRIPT_TIMEOUT);
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    match status {
        Some(st) if st.success() => stdout,
        Some(st) => panic!("{} exited with {st}; stderr:\n{stderr}", script_path()),
        None => panic!(
            "{} killed after {SCRIPT_TIMEOUT:?}; stderr:\n{stderr}",
            script_path()
        ),
    }
}

/// One request/response as the script reports it.
struct Exchange<'a>(&'a Value);

impl Exchange<'_> {
    fn name(&self) -> &str {
        self.0["name"].as_str().unwrap_or("?")
    }
    fn status(&self) -> Option<u64> {
        self.0["status"].as_u64()
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.0["headers"].as_array()?.iter().find_map(|h| {
            let n = h[0].as_str()?;
            n.eq_ignore_ascii_case(name)
                .then(|| h[1].as_str())
                .flatten()
        })
    }
    fn body_len(&self) -> Option<u64> {
        self.0["body_len"].as_u64()
    }
    fn body_hex(&self) -> Option<&str> {
        self.0["body_hex"].as_str()
    }
    fn str(&self, key: &str) -> Option<&str> {
        self.0[key].as_str()
    }
    fn reusable(&self) -> bool {
        self.0["reusable"].as_bool() == Some(true)
    }
    /// Every lint note and subnote as (level, summary).
    fn lint(&self) -> Vec<(String, String)> {
        fn walk(notes: &Value, depth: usize, out: &mut Vec<(String, String)>) {
            for n in notes.as_array().into_iter().flatten() {
                let level = n["level"].as_str().unwrap_or("?").to_string();
                let summary = n["summary"].as_str().unwrap_or("?");
                out.push((level, format!("{}{summary}", "  ".repeat(depth))));
                walk(&n["subnotes"], depth + 1, out);
            }
        }
        let mut out = Vec::new();
        walk(&self.0["lint"], 0, &mut out);
        out
    }
}

#[test]
fn h11_and_httplint_accept_every_response() {
    if let Err(why) = python_ready() {
        if std::env::var("READYLOOP_REQUIRE_PY").as_deref() == Ok("1") {
            panic!("READYLOOP_REQUIRE_PY=1 but {why} (pip install h11 httplint)");
        }
        println!("skipped: h11/httplint not installed (pip install h11 httplint): {why}");
        return;
    }

    let main_srv = start(config(ProtoKind::Http));
    let mut small_cfg = config(ProtoKind::Http);
    small_cfg.reactor.limits.max_input = SMALL_MAX_INPUT;
    let small_srv = start(small_cfg);
    let mut busy_cfg = config(ProtoKind::Http);
    busy_cfg.reactor.max_conns = Some(1);
    let busy_srv = start(busy_cfg);

    let args = vec![
        "--addr".to_string(),
        main_srv.addr.to_string(),
        "--small-addr".into(),
        small_srv.addr.to_string(),
        "--busy-addr".into(),
        busy_srv.addr.to_string(),
        "--pattern-hex".into(),
        hex(&PATTERN),
        "--bytes-n".into(),
        BYTES_N.to_string(),
        "--big-header".into(),
        BIG_HEADER.to_string(),
    ];
    let stdout = run_script(&args);
    let doc: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("script output is not JSON ({e}):\n{stdout}"));
    println!(
        "python {}, h11 {}, httplint {}",
        doc["python"].as_str().unwrap_or("?"),
        doc["h11"].as_str().unwrap_or("?"),
        doc["httplint"].as_str().unwrap_or("?")
    );
    let all: Vec<Exchange<'_>> = doc["exchanges"]
        .as_array()
        .expect("exchanges array")
        .iter()
        .map(Exchange)
        .collect();

    // Print everything first, so a failing assertion below still shows the picture.
    for x in &all {
        println!(
            "[{}] {} {} {} -> {:?} {} body {:?}, reusable {}, closed {:?}, error {:?}",
            x.str("conn").unwrap_or("?"),
            x.name(),
            x.str("method").unwrap_or("?"),
            x.str("target").unwrap_or("?"),
            x.status(),
            x.str("reason").unwrap_or(""),
            x.body_len(),
            x.reusable(),
            x.str("closed"),
            x.str("error"),
        );
        for (level, summary) in x.lint() {
            println!("    lint [{level}] {summary}");
        }
    }

    let names: Vec<&str> = all.iter().map(|x| x.name()).collect();
    let expected_names = [
        "get-1",
        "get-2",
        "get-3",
        "head",
        "bytes",
        "head-bytes",
        "post",
        "after-post",
        "not-found",
        "after-404",
        "too-large",
        "held",
        "over-limit",
    ];
    assert_eq!(names, expected_names, "the script's exchanges");
    let x = |name: &str| all.iter().find(|x| x.name() == name).unwrap();

    // h11 parsed every response completely, without protocol errors.
    let errors: Vec<String> = all
        .iter()
        .filter_map(|x| Some(format!("{}: {}", x.name(), x.str("error")?)))
        .collect();
    assert!(errors.is_empty(), "failed exchanges: {errors:#?}");

    let hello = hex(b"Hello, World!");
    for name in ["get-1", "get-2", "get-3", "after-post", "after-404", "held"] {
        let r = x(name);
        assert_eq!(r.status(), Some(200), "{name}");
        assert_eq!(r.body_hex(), Some(hello.as_str()), "{name}");
        assert_eq!(r.header("content-length"), Some("13"), "{name}");
    }

    // Every exchange on the main connection left it reusable (h11: both sides DONE).
    for name in &expected_names[..10] {
        assert!(x(name).reusable(), "{name}: connection not reusable");
    }

    // HEAD: no body, the Content-Length of the GET.
    let head = x("head");
    assert_eq!(head.status(), Some(200));
    assert_eq!(head.body_len(), Some(0));
    assert_eq!(
        head.header("content-length"),
        x("get-1").header("content-length")
    );
    let head_bytes = x("head-bytes");
    assert_eq!(head_bytes.status(), Some(200));
    assert_eq!(head_bytes.body_len(), Some(0));
    assert_eq!(
        head_bytes.header("content-length"),
        x("bytes").header("content-length")
    );

    // /bytes/N: length and pattern, checked against readyloop's own fill_pattern.
    let bytes = x("bytes");
    let n_text = BYTES_N.to_string();
    assert_eq!(bytes.status(), Some(200));
    assert_eq!(bytes.header("content-length"), Some(n_text.as_str()));
    assert_eq!(bytes.body_len(), Some(BYTES_N as u64));
    assert_eq!(
        bytes.0["pattern_ok"].as_bool(),
        Some(true),
        "body != pattern"
    );
    assert_eq!(
        bytes.str("body_head_hex"),
        Some(hex(&pattern_at(0, 64)).as_str())
    );
    assert_eq!(
        bytes.str("body_tail_hex"),
        Some(hex(&pattern_at(BYTES_N - 64, 64)).as_str())
    );

    // POST /: 405 with Allow, its body skipped (the next answer is to the next request).
    let post = x("post");
    assert_eq!(post.status(), Some(405));
    assert_eq!(post.header("allow"), Some("GET, HEAD"));

    assert_eq!(x("not-found").status(), Some(404));

    // The closing answers: complete, Connection: close, then the connection ends.
    for (name, status) in [("too-large", 431), ("over-limit", 503)] {
        let r = x(name);
        assert_eq!(r.status(), Some(status), "{name}");
        assert_eq!(r.header("connection"), Some("close"), "{name}");
        assert_eq!(r.str("their_state"), Some("MUST_CLOSE"), "{name}");
        assert!(
            matches!(r.str("closed"), Some("eof" | "reset")),
            "{name}: after the response: {:?}",
            r.str("closed")
        );
    }
    assert_eq!(
        x("over-limit").body_hex(),
        Some(hex(b"Too many connections").as_str())
    );

    // httplint: nothing at the "bad" level, except what is explicitly allowed above.
    let mut bad = Vec::new();
    for r in &all {
        for (level, summary) in r.lint() {
            let summary = summary.trim_start().to_string();
            if level == "bad" && !ALLOWED_BAD.contains(&(r.name(), summary.as_str())) {
                bad.push(format!("{}: {summary}", r.name()));
            }
        }
    }
    assert!(bad.is_empty(), "httplint found problems: {bad:#?}");

    for srv in [main_srv, small_srv, busy_srv] {
        let stats = srv.shutdown();
        assert_stats_consistent(&stats);
    }
}
