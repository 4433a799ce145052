//! The invariants of readyloop's HTTP server protocol under any split of its input and
//! any output budgets, checked through the `Protocol` trait alone.
//!
//! One definition for two callers: the `http_server` fuzz target and the property
//! tests in `tests/split_invariance.rs` (which include this file by path), so the
//! fuzzer and `cargo test` check exactly the same thing.
//!
//! [`drive`] simulates the reactor like `drive_full` in `src/protocol/http.rs`; [`check`]
//! runs one input whole (one read, no budgets) and as the given reads with the given
//! budgets, and compares. The two runs must agree on the output, the verdict, the
//! leftover and the request and error counts, except in the ways the protocol
//! documents (see `RESCAN_FROM` in `src/protocol/http.rs`):
//!
//! - an `Expect: 100-continue` interim response is sent only when the request's body
//!   is not in the same read as its head, so it depends on the split (it is ignored
//!   in the comparison; a split run never sends fewer);
//! - a malformed head longer than `max_head` may be answered 431 instead of 400: 431
//!   when a read ends after the head has passed `max_head` but before its malformed
//!   byte was parsed;
//! - a partial head at least `RESCAN_FROM` long, offered again, is not re-parsed until
//!   the new bytes could end it: its malformed byte is answered only when such bytes
//!   come (400), when the head passes `max_head` (431, as above), or not before the
//!   input ends.
//!
//! A third run, whole with one request per call, must equal the whole run exactly; it
//! says where the rejected head starts.

use readyloop::protocol::http::CONTINUE;
use readyloop::protocol::{Cx, Http, HttpConfig, HttpCounters, Protocol, Verdict};
use std::time::Instant;

/// The protocol's own threshold (public so this check cannot drift from it).
pub use readyloop::protocol::http::RESCAN_FROM;

/// How one connection is driven.
#[derive(Clone, Copy, Debug)]
pub struct Params {
    /// The protocol's limits.
    pub cfg: HttpConfig,
    /// The `budget` of every `on_input` call.
    pub in_budget: usize,
    /// The `budget` of every `on_drained` call.
    pub drain_budget: usize,
    /// How many `on_drained` calls run before the leftover is offered again.
    pub drain_calls: usize,
    /// End with `on_eof`.
    pub eof: bool,
    /// Stop once this much output is produced (a `/bytes/N` with a huge N never ends).
    pub cap: usize,
}

/// Everything the simulated reactor saw on one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// All output, in order.
    pub out: Vec<u8>,
    /// The first verdict other than `Continue`, or `Continue`.
    pub verdict: Verdict,
    /// Input never consumed.
    pub leftover: Vec<u8>,
    /// Requests the protocol counted.
    pub requests: u64,
    /// Protocol errors it counted.
    pub errors: u64,
    /// The output reached `Params::cap` and the run was cut short.
    pub capped: bool,
    /// Input offset of the last long partial head (at least `RESCAN_FROM` bytes kept
    /// at a wait for more input) that was offered again with more bytes and still
    /// neither answered nor rejected: the skip of `RESCAN_FROM`.
    pub skipped_at: Option<usize>,
    /// Input offsets where the `on_input` call that first counted an error started,
    /// and where the bytes it was offered ended.
    pub error_at: Option<(usize, usize)>,
}

/// Simulates the reactor on `reads` (the bytes of successive reads): each read is
/// joined to the leftover and offered to `on_input`; while the protocol wants it,
/// `on_drained` runs (in the open state and after a closing verdict alike), at most
/// `drain_calls` times before the leftover is offered again; the leftover is offered
/// again as long as that makes progress. While a body streams and nothing is left
/// over, the next read arrives between drains (at most one read is then kept, as the
/// reactor pauses reading behind pending input). Stops offering input at the first
/// closing verdict. With `eof`, ends with `on_eof`, and drains what still streams.
///
/// Checks on the way: `consumed <= input.len()`; the leftover after a call is at most
/// `max_head` plus the last read; when waiting for more input without streaming it
/// is at most `max_head`.
pub fn drive(p: &Params, reads: &[&[u8]]) -> Result<Run, String> {
    let mut sim = Sim {
        http: Http::new(p.cfg),
        now: Instant::now(),
        counters: HttpCounters::default(),
        out: Vec::new(),
        leftover: Vec::new(),
        verdict: Verdict::Continue,
        base: 0,
        kept_long: false,
        skipped_at: None,
        error_at: None,
        capped: false,
    };
    for read in reads {
        if !sim.pump(p, read)? {
            break;
        }
    }
    // No more reads: finish what streams (offering the leftover between drains).
    if sim.verdict == Verdict::Continue && !sim.capped && sim.http.wants_drained() {
        sim.pump(p, b"")?;
    }
    if p.eof && sim.verdict == Verdict::Continue && !sim.capped {
        sim.verdict = sim
            .http
            .on_eof(&mut sim.out, &mut Cx::new(sim.now, &mut sim.counters));
    }
    // A body still streaming after a closing verdict is finished while flushing.
    while !sim.capped && sim.verdict == Verdict::CloseAfterFlush && sim.http.wants_drained() {
        sim.http.on_drained(
            &mut sim.out,
            p.drain_budget,
            &mut Cx::new(sim.now, &mut sim.counters),
        );
        sim.capped = sim.out.len() > p.cap;
    }
    Ok(Run {
        out: sim.out,
        verdict: sim.verdict,
        leftover: sim.leftover,
        requests: sim.counters.requests,
        errors: sim.counters.protocol_errors,
        capped: sim.capped,
        skipped_at: sim.skipped_at,
        error_at: sim.error_at,
    })
}

/// The simulated reactor's state for one connection.
struct Sim {
    http: Http,
    now: Instant,
    counters: HttpCounters,
    out: Vec<u8>,
    leftover: Vec<u8>,
    verdict: Verdict,
    /// Input offset of `leftover[0]`.
    base: usize,
    /// The last wait for more input kept at least `RESCAN_FROM` bytes.
    kept_long: bool,
    skipped_at: Option<usize>,
    error_at: Option<(usize, usize)>,
    capped: bool,
}

impl Sim {
    /// One read arrives. Returns whether more input may be offered.
    fn pump(&mut self, p: &Params, read: &[u8]) -> Result<bool, String> {
        self.leftover.extend_from_slice(read);
        loop {
            let drained = self.drain(p, p.drain_calls.max(1));
            if self.capped || self.verdict != Verdict::Continue {
                return Ok(false);
            }
            if self.leftover.is_empty() {
                if self.http.wants_drained() && read.is_empty() {
                    // The end of the reads: stream the rest.
                    continue;
                }
                // The next read may arrive while a body streams.
                return Ok(true);
            }
            let errors_before = self.counters.protocol_errors;
            let step = self.http.on_input(
                &self.leftover,
                &mut self.out,
                p.in_budget,
                &mut Cx::new(self.now, &mut self.counters),
            );
            if step.consumed > self.leftover.len() {
                return Err(format!(
                    "consumed {} of {} bytes",
                    step.consumed,
                    self.leftover.len()
                ));
            }
            let offered_end = self.base + self.leftover.len();
            if self.counters.protocol_errors > errors_before && self.error_at.is_none() {
                self.error_at = Some((self.base, offered_end));
            }
            if std::mem::take(&mut self.kept_long)
                && step.consumed == 0
                && self.counters.protocol_errors == errors_before
                && !read.is_empty()
            {
                self.skipped_at = Some(self.base);
            }
            self.leftover.drain(..step.consumed);
            self.base += step.consumed;
            if self.leftover.len() > p.cfg.max_head + read.len() {
                return Err(format!(
                    "kept {} bytes, over max_head {} + one read of {}",
                    self.leftover.len(),
                    p.cfg.max_head,
                    read.len()
                ));
            }
            self.verdict = step.verdict;
            if step.verdict == Verdict::Close {
                return Ok(false);
            }
            if self.out.len() > p.cap {
                self.capped = true;
                return Ok(false);
            }
            if step.consumed == 0 && !drained && !self.http.wants_drained() {
                // Waiting for more input: only a partial head may be kept.
                if self.leftover.len() > p.cfg.max_head {
                    return Err(format!(
                        "waits for more input holding {} bytes, over max_head {}",
                        self.leftover.len(),
                        p.cfg.max_head
                    ));
                }
                self.kept_long = self.leftover.len() >= RESCAN_FROM;
                return Ok(true);
            }
        }
    }

    /// Up to `calls` drains while the protocol wants them. Returns whether any ran.
    fn drain(&mut self, p: &Params, calls: usize) -> bool {
        let mut ran = false;
        for _ in 0..calls {
            if self.verdict == Verdict::Close || !self.http.wants_drained() {
                break;
            }
            ran = true;
            let v = self.http.on_drained(
                &mut self.out,
                p.drain_budget,
                &mut Cx::new(self.now, &mut self.counters),
            );
            if v != Verdict::Continue && self.verdict == Verdict::Continue {
                self.verdict = v;
            }
            if self.out.len() > p.cap {
                self.capped = true;
                break;
            }
        }
        ran
    }
}

/// Cuts `input` at `cuts` (clamped, sorted, any order and repeats allowed) into reads.
pub fn split<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(input.len())).collect();
    cuts.sort_unstable();
    let mut reads = Vec::with_capacity(cuts.len() + 1);
    let mut last = 0;
    for c in cuts.into_iter().chain([input.len()]) {
        reads.push(&input[last..c]);
        last = c;
    }
    reads
}

/// The error page the protocol sends for `input` (its whole output), found by asking
/// it rather than copying its text here.
fn page_for(cfg: HttpConfig, input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut counters = HttpCounters::default();
    let mut cx = Cx::new(Instant::now(), &mut counters);
    Http::new(cfg).on_input(input, &mut out, usize::MAX, &mut cx);
    assert_eq!(counters.protocol_errors, 1, "the probe input is an error");
    out
}

/// The 400 and 431 pages.
fn pages() -> (Vec<u8>, Vec<u8>) {
    let bad = page_for(HttpConfig::default(), b"\0\r\n\r\n");
    let large = page_for(HttpConfig { max_head: 1 }, b"GET / HTTP/1.1\r\n");
    (bad, large)
}

/// `out` without its `100 Continue` interim responses, and how many there were. No
/// other output holds those bytes (the `/bytes/N` pattern has no CR).
fn strip_continue(out: &[u8]) -> (Vec<u8>, usize) {
    let mut v = Vec::with_capacity(out.len());
    let mut n = 0;
    let mut i = 0;
    while i < out.len() {
        if out[i..].starts_with(CONTINUE) {
            n += 1;
            i += CONTINUE.len();
        } else {
            v.push(out[i]);
            i += 1;
        }
    }
    (v, n)
}

fn text(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    if s.len() > 600 {
        format!("{}...{}", &s[..300], &s[s.len() - 300..])
    } else {
        s.into_owned()
    }
}

/// Runs `input` whole (one read, unlimited budgets) and as the reads cut at `cuts`
/// with `p`'s budgets, and checks the invariants (see the module docs). Returns the
/// split run.
pub fn check(p: &Params, input: &[u8], cuts: &[usize]) -> Result<Run, String> {
    let whole_p = Params {
        in_budget: usize::MAX,
        drain_budget: 65536,
        drain_calls: usize::MAX,
        ..*p
    };
    let whole = drive(&whole_p, &[input]).map_err(|e| format!("whole: {e}"))?;
    // Whole again, one request per call: where the head that was rejected starts.
    let one_p = Params {
        in_budget: 0,
        ..whole_p
    };
    let one = drive(&one_p, &[input]).map_err(|e| format!("whole, budget 0: {e}"))?;
    // The split run may send a little more (interim responses, a longer error page).
    let split_p = Params {
        cap: p.cap + 64 * 1024,
        ..*p
    };
    let reads = split(input, cuts);
    let run = drive(&split_p, &reads).map_err(|e| format!("split: {e}"))?;
    if whole.capped {
        // Cut short at different points: only the checks in `drive` apply.
        return Ok(run);
    }
    let observable = |r: &Run| {
        (
            r.out.clone(),
            r.verdict,
            r.leftover.clone(),
            r.requests,
            r.errors,
        )
    };
    if observable(&one) != observable(&whole) {
        return Err(format!(
            "one request per call differs from one call for all, in one read:\n{}",
            describe(&whole, &one)
        ));
    }
    let report = |why: &str| {
        format!(
            "split at {cuts:?} (in_budget {}, drain_budget {} x {}, eof {}, max_head {}) \
             differs from whole: {why}\n{}",
            p.in_budget,
            p.drain_budget,
            p.drain_calls,
            p.eof,
            p.cfg.max_head,
            describe(&whole, &run)
        )
    };
    if run.capped {
        return Err(report("the split run produced far more output"));
    }
    let (w, w_continue) = Seen::of(&whole);
    let (s, s_continue) = Seen::of(&run);
    if s_continue < w_continue {
        return Err(report("fewer 100 Continue"));
    }
    let same_rest = (whole.verdict, &whole.leftover, whole.requests, whole.errors)
        == (run.verdict, &run.leftover, run.requests, run.errors);
    if w.out == s.out && same_rest {
        return Ok(run);
    }
    let head_at = one.error_at.map(|(at, _)| at);
    match head_exception(p, input, &w, &s, head_at) {
        Ok(()) => Ok(run),
        Err(why) => Err(report(&why)),
    }
}

/// Both runs, for failure messages.
fn describe(whole: &Run, run: &Run) -> String {
    format!(
        "whole: {:?} req {} err {} left {:?}\n{}\n\
         split: {:?} req {} err {} left {:?} skipped_at {:?} error_at {:?}\n{}",
        whole.verdict,
        whole.requests,
        whole.errors,
        text(&whole.leftover),
        text(&whole.out),
        run.verdict,
        run.requests,
        run.errors,
        text(&run.leftover),
        run.skipped_at,
        run.error_at,
        text(&run.out),
    )
}

/// A run and its output with the `100 Continue` interim responses taken out
/// ([`strip_continue`]), as [`check`] and [`head_exception`] compare them.
struct Seen<'a> {
    run: &'a Run,
    out: Vec<u8>,
}

impl<'a> Seen<'a> {
    /// `run` as seen, and how many `100 Continue` were taken out of its output.
    fn of(run: &'a Run) -> (Seen<'a>, usize) {
        let (out, n) = strip_continue(&run.out);
        (Seen { run, out }, n)
    }
}

/// `Ok` if the difference between the `whole` and the `split` run is one of the two
/// documented for a rejected head starting at input offset `head_at` (see the module
/// docs).
fn head_exception(
    p: &Params,
    input: &[u8],
    whole: &Seen<'_>,
    split: &Seen<'_>,
    head_at: Option<usize>,
) -> Result<(), String> {
    let (whole, w_out, run, s_out) = (whole.run, &whole.out[..], split.run, &split.out[..]);
    let (bad, large) = pages();
    // The whole run ends by rejecting a head.
    let page = [&bad, &large]
        .into_iter()
        .find(|pg| w_out.ends_with(pg))
        .filter(|_| whole.errors > 0 && whole.verdict == Verdict::CloseAfterFlush)
        .ok_or("the whole run does not end rejecting a head")?;
    let head_at = head_at.ok_or("no rejected head found")?;
    let before = &w_out[..w_out.len() - page.len()];
    if run.requests != whole.requests {
        return Err("request counts differ".into());
    }
    // 431 instead of 400: the head was longer than max_head in the read that
    // rejected it, which did not yet parse the malformed byte.
    if *page == bad && s_out.strip_prefix(before) == Some(&large[..]) {
        let (_, offered_end) = run.error_at.ok_or("431 without an error counted")?;
        return if run.errors == whole.errors
            && run.verdict == whole.verdict
            && run.leftover.is_empty()
            && offered_end.saturating_sub(head_at) > p.cfg.max_head
        {
            Ok(())
        } else {
            Err("431 instead of 400 for a head within max_head".into())
        };
    }
    // Not answered: a long partial head offered again was not re-parsed, and the
    // input ended before bytes that could end it (or pass max_head) arrived.
    if s_out == before {
        let waiting = if p.eof {
            Verdict::CloseAfterFlush
        } else {
            Verdict::Continue
        };
        return if run.errors + 1 == whole.errors
            && run.verdict == waiting
            && run.leftover == input[head_at.min(input.len())..]
            && run.leftover.len() >= RESCAN_FROM
            && run.skipped_at == Some(head_at)
        {
            Ok(())
        } else {
            Err("left unanswered, but not a long head skipped to the end".into())
        };
    }
    Err("outputs differ beyond the error page".into())
}
