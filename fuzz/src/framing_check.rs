//! The invariants of loadgen's response framers (`loadgen::framing`) under any split
//! of the bytes read.
//!
//! One definition for two callers: the `frame_*` fuzz targets and the property tests
//! in `loadgen/tests/split_invariance.rs` (which include this file by path).
//!
//! [`drive`] simulates the client: every read is joined to the leftover and fed; after
//! a complete response the next request is "sent" ([`Framer::expect`]) and the rest is
//! fed at once, up to `max_responses`. [`check`] compares a whole run (one read) with
//! a split one: they must agree on the responses, the error, what `on_eof` says and
//! the bytes left over, except for the documented HTTP one: a malformed head that is
//! still partial when a read ends is searched on line by line and parsed only once
//! its blank line arrives (so as not to re-parse it on every read), so the split run
//! may report its error later, not at all if the input ends first (`Truncated` at
//! eof), or as `TooLarge` if the head passes `MAX_HEAD` first.

use loadgen::framing::{Feed, FrameError, Framer, Framing, Response, MAX_HEAD};

/// What the simulated client saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The responses completed, in order.
    pub responses: Vec<Response>,
    /// The error that stopped the run, if any.
    pub error: Option<FrameError>,
    /// What `on_eof` said, if it was called (asked for, and no error or response cap
    /// ended the run first).
    pub eof: Option<Result<Option<Response>, FrameError>>,
    /// Bytes left with the client: unconsumed input, then any reads not fed (none
    /// after an error, which closes the connection).
    pub leftover: Vec<u8>,
}

/// How a run is driven.
#[derive(Clone, Copy, Debug)]
pub struct Params<'a> {
    pub framing: &'a Framing,
    /// The requests are HTTP `HEAD`.
    pub head: bool,
    /// The request sent (echo compares the reply with it).
    pub request: &'a [u8],
    /// Stop after this many responses (at least 1).
    pub max_responses: usize,
    /// Call `on_eof` after the last read.
    pub eof: bool,
}

/// Simulates the client over `reads`. Checks on the way: `consumed <= input.len()`,
/// a response's `bytes` is what was consumed for it, the framer is idle after a
/// response or an error, it keeps at most `MAX_HEAD` bytes unconsumed (none for
/// echo, line and fixed, which consume as bytes arrive), and only HTTP responses
/// carry a status or a close.
pub fn drive(p: &Params<'_>, reads: &[&[u8]]) -> Result<Outcome, String> {
    let mut c = Client::new(p);
    for read in reads {
        c.out.leftover.extend_from_slice(read);
        c.feed_leftover()?;
    }
    c.finish()
}

/// The simulated client of one [`drive`].
struct Client<'a> {
    p: Params<'a>,
    f: Framer,
    out: Outcome,
    /// Bytes consumed for the response in progress.
    consumed: u64,
    /// An error, a close or `max_responses` ended the run: nothing more is fed.
    stopped: bool,
}

impl<'a> Client<'a> {
    /// A client that has sent its first request.
    fn new(p: &Params<'a>) -> Client<'a> {
        let mut f = Framer::new(p.framing);
        f.expect(p.head);
        Client {
            p: *p,
            f,
            out: Outcome {
                responses: Vec::new(),
                error: None,
                eof: None,
                leftover: Vec::new(),
            },
            consumed: 0,
            stopped: false,
        }
    }

    /// Feed what the client holds until the framer wants more bytes or the run stops.
    fn feed_leftover(&mut self) -> Result<(), String> {
        while !self.stopped && !self.out.leftover.is_empty() {
            match self.f.feed(&self.out.leftover, self.p.request) {
                Ok(feed) => {
                    if !self.took(feed)? {
                        break;
                    }
                }
                Err(e) => {
                    if self.f.in_progress() {
                        return Err(format!("in progress after error {e:?}"));
                    }
                    self.out.error = Some(e);
                    self.stopped = true;
                }
            }
        }
        Ok(())
    }

    /// One successful feed: drop what it consumed and take the response it completed,
    /// if any. `Ok(true)`: feed the rest at once; `Ok(false)`: wait for the next read.
    fn took(&mut self, feed: Feed) -> Result<bool, String> {
        if feed.consumed > self.out.leftover.len() {
            return Err(format!(
                "consumed {} of {} bytes",
                feed.consumed,
                self.out.leftover.len()
            ));
        }
        self.out.leftover.drain(..feed.consumed);
        self.consumed += feed.consumed as u64;
        let Some(resp) = feed.done else {
            self.check_kept()?;
            return Ok(false);
        };
        if self.f.in_progress() {
            return Err("in progress after a response".into());
        }
        check_response(&resp, self.consumed, self.http())?;
        self.consumed = 0;
        self.out.responses.push(resp);
        if self.out.responses.len() >= self.p.max_responses.max(1) || resp.close {
            self.stopped = true;
            return Ok(true);
        }
        self.f.expect(self.p.head);
        // A zero-byte response (echo of nothing): the client stops here too.
        Ok(feed.consumed != 0)
    }

    /// A framer waiting for more keeps at most `MAX_HEAD` bytes unconsumed, and none
    /// for the framings that consume as bytes arrive.
    fn check_kept(&self) -> Result<(), String> {
        let kept = self.out.leftover.len();
        if kept > MAX_HEAD {
            return Err(format!("keeps {kept} bytes"));
        }
        let progressive = matches!(
            self.p.framing,
            Framing::Echo | Framing::Line | Framing::Fixed(_)
        );
        if progressive && kept != 0 {
            return Err(format!("{:?} keeps {kept} bytes", self.p.framing));
        }
        Ok(())
    }

    /// After the last read: drop the leftover after an error, call `on_eof` if asked
    /// and the run did not stop, and check what it says.
    fn finish(mut self) -> Result<Outcome, String> {
        if self.out.error.is_some() {
            // The client closes the connection on an error: what was left is dropped,
            // and how much of it an error leaves unconsumed is not specified.
            self.out.leftover.clear();
        }
        if self.p.eof && !self.stopped {
            let r = self.f.on_eof();
            if let Ok(Some(resp)) = &r {
                check_response(resp, self.consumed, self.http())?;
                if !resp.close {
                    return Err(format!("a response ended by close without close: {resp:?}"));
                }
            }
            if self.f.in_progress() {
                return Err("in progress after eof".into());
            }
            self.out.eof = Some(r);
        }
        Ok(self.out)
    }

    fn http(&self) -> bool {
        *self.p.framing == Framing::Http
    }
}

/// A response's `bytes` is what was `consumed` for it, and only HTTP responses (all of
/// them) carry a status, and only they a close.
fn check_response(r: &Response, consumed: u64, http: bool) -> Result<(), String> {
    if r.bytes != consumed {
        return Err(format!(
            "response says {} bytes, {consumed} consumed",
            r.bytes
        ));
    }
    if !http && (r.status.is_some() || r.close) {
        return Err(format!("non-HTTP response with status or close: {r:?}"));
    }
    if http && r.status.is_none() {
        return Err(format!("HTTP response without status: {r:?}"));
    }
    Ok(())
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

/// Whether an HTTP head starting at the start of `buf` may have ended in it: after
/// any leading blank lines (which httparse skips), a complete line that is empty or
/// a lone CR.
fn head_may_have_ended(buf: &[u8]) -> bool {
    let mut lines = buf.split(|&b| b == b'\n');
    // The last piece is not a complete line.
    let complete = buf.iter().filter(|&&b| b == b'\n').count();
    let mut started = false;
    for line in lines.by_ref().take(complete) {
        let blank = line.is_empty() || line == b"\r";
        if blank && started {
            return true;
        }
        started |= !blank;
    }
    false
}

fn text(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    if s.len() > 600 {
        format!("{}...{}", &s[..300], &s[s.len() - 300..])
    } else {
        s.into_owned()
    }
}

/// Runs `input` whole and cut at `cuts`, and checks the invariants (see the module
/// docs). Returns the split run.
pub fn check(p: &Params<'_>, input: &[u8], cuts: &[usize]) -> Result<Outcome, String> {
    if *p.framing == Framing::Echo && p.request.is_empty() {
        // Never sent (an empty request is a usage error in loadgen); its echo is
        // complete before any byte arrives, so the reads decide how many there are.
        return drive(p, &[input]);
    }
    let whole = drive(p, &[input]).map_err(|e| format!("whole: {e}"))?;
    let run = drive(p, &split(input, cuts)).map_err(|e| format!("split at {cuts:?}: {e}"))?;
    if run == whole || late_head_error(p, &whole, &run) {
        return Ok(run);
    }
    Err(format!(
        "{:?} head {} split at {cuts:?} differs from whole:\n whole: {:?} error {:?} eof {:?} left {:?}\n split: {:?} error {:?} eof {:?} left {:?}\n input {:?}",
        p.framing,
        p.head,
        whole.responses,
        whole.error,
        whole.eof,
        text(&whole.leftover),
        run.responses,
        run.error,
        run.eof,
        text(&run.leftover),
        text(input),
    ))
}

/// The documented difference: the whole run rejected a partial HTTP head at once; the
/// split run, having already searched part of it, waits for its end.
fn late_head_error(p: &Params<'_>, whole: &Outcome, run: &Outcome) -> bool {
    let head_error = matches!(
        whole.error,
        Some(
            FrameError::Malformed("http version" | "http status line" | "http header")
                | FrameError::TooLarge
        )
    );
    if *p.framing != Framing::Http || !head_error || run.responses != whole.responses {
        return false;
    }
    match run.error {
        Some(FrameError::TooLarge) => true,
        None => {
            !head_may_have_ended(&run.leftover)
                && matches!(run.eof, None | Some(Err(FrameError::Truncated)))
                && !run.leftover.is_empty()
        }
        Some(_) => false,
    }
}
