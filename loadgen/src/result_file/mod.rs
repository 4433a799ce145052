//! The mergeable result (`--result FILE`): everything a report draws from, kept whole,
//! so that the results of a run's segments add up to the run's without loss.
//!
//! The JSON report carries summaries (percentiles of most histograms, the per-second
//! intervals as counts); a result file carries every histogram in HdrHistogram's
//! compressed encoding: the run's corrected and raw latencies, each second's corrected
//! histogram, every mix entry's, connect time, send lag and each phase (connect, TLS
//! handshake, time to first byte, transfer), with the books (requests sent, measured,
//! failed, censored), the errors, the statuses, the TLS handshakes and the load as
//! planned. [`read`] gives back the [`RunResult`] that [`write()`] was given (but its
//! thresholds, which a merge judges anew), so a merged result is reported by the same
//! functions as a run's.
//!
//! The format is `docs/loadgen-result.md`, versioned by [`VERSION`]: a reader refuses
//! another version rather than misread it.

mod doc;
mod hist;
mod load_doc;
mod rec_doc;

use crate::result::RunResult;
use std::io::{self, Write};

/// The format's name, the document's `format` field.
pub const FORMAT: &str = "loadgen-result";

/// The format's version, the document's `version` field; bumped on any change a reader
/// of the previous version would misread.
pub const VERSION: u64 = 1;

/// The most bytes [`read`] accepts: a result of a long run with a large mix stays far
/// below (a second's histogram is a few KiB; a day of seconds, some hundred MiB would
/// be a misuse of the format rather than a result).
pub const MAX_BYTES: usize = 256 << 20;

/// `r` as the result document (JSON).
pub fn to_value(r: &RunResult) -> serde_json::Value {
    serde_json::to_value(doc::Doc::from(r)).unwrap_or(serde_json::Value::Null)
}

/// Write `r` as a result document, one line of JSON and a newline (a result is for
/// machines; `jq .` reads it for people).
pub fn write<W: Write>(r: &RunResult, w: &mut W) -> io::Result<()> {
    serde_json::to_writer(&mut *w, &doc::Doc::from(r))?;
    w.write_all(b"\n")
}

/// The result a document holds; the error says what is wrong with it (not JSON,
/// another format or version, a histogram that does not decode).
pub fn read(bytes: &[u8]) -> Result<RunResult, String> {
    if bytes.len() > MAX_BYTES {
        return Err(format!(
            "{} bytes: more than a result file holds ({MAX_BYTES} at most)",
            bytes.len()
        ));
    }
    let head: doc::Head =
        serde_json::from_slice(bytes).map_err(|e| format!("not a loadgen result: {e}"))?;
    head.check()?;
    let d: doc::Doc =
        serde_json::from_slice(bytes).map_err(|e| format!("a malformed loadgen result: {e}"))?;
    d.result()
}

#[cfg(test)]
mod tests;
