//! What the tests of a run split over segments share: a server that counts the
//! requests it reads, and the merged report cut out of segment 0's stdout.
#![allow(dead_code)] // each test binary uses a different subset

#[path = "blocking_http.rs"]
pub mod blocking_http;

use blocking_http::BlockingHttp;
use std::process::Output;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The line before the merged report on segment 0's stdout.
pub const BEGIN: &str = "--- loadgen merged report begin ---";
/// The line after it.
pub const END: &str = "--- loadgen merged report end ---";

/// A server that answers 200 at once and counts the requests it read.
pub fn counting_server() -> (BlockingHttp, Arc<AtomicU64>) {
    let n = Arc::new(AtomicU64::new(0));
    let seen = n.clone();
    let srv = BlockingHttp::start(Arc::new(move |_: &blocking_http::Request| {
        seen.fetch_add(1, Ordering::Relaxed);
        Some((Duration::ZERO, "200 OK"))
    }));
    (srv, n)
}

/// The merged report (`--json -`) between the markers of segment 0's stdout.
pub fn merged_json(o: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&o.stdout);
    let (_, rest) = text.split_once(BEGIN).expect("the begin marker");
    let (json, _) = rest.split_once(END).expect("the end marker");
    serde_json::from_str(json).expect("JSON between the markers")
}

/// A process's stderr, as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
