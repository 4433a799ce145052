//! `--procs N`: N child processes of `loadgen probe --child` ramp at once, each with
//! its own descriptor table, and hold together; their results are merged.
//!
//! The control protocol is text lines on the child's stdin and stdout, in this order:
//!
//! | from | line | meaning |
//! |---|---|---|
//! | child | `READY n` | the ramp is over, `n` connections are open |
//! | parent | `GO` | every child is ready (the parent has read the "at once" figures): hold and verify |
//! | child | `RESULT {json}` | its [`ProbeResult`], as one line of JSON |
//! | parent | `EXIT` | every result is in: close the connections and exit |
//!
//! The child waits for `EXIT` rather than exiting after `RESULT`: closing its
//! connections early would free the server's descriptors while another child is still
//! verifying (see `run_child`).
//!
//! The children die with the parent: the kernel kills each when the parent goes
//! (`PR_SET_PDEATHSIG`, see `die_with_parent` in `reaped.rs`), and a child that finds
//! its control pipe at EOF, or its stdout broken, stops at once rather than hold
//! connections for nobody.
//!
//! Each child's stop reason is kept ([`Observed::stops`]); the merged result's
//! [`ProbeResult::stop`] is the first child's that names a limit ([`merge`]).

use super::observe::{Observed, Snapshot};
use super::options::{spec_of, ProbeOptions};
use super::ramp::{Probe, ProbeResult, Stop};
use super::reaped::{die_with_parent, Reaped};
use super::sources::add_counts;
use crate::error::Error;
use crate::record::new_histogram;
use serde::Deserialize;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{ChildStdout, Command, Stdio};

/// `--procs N`: N children ramp at once; when all have settled they hold together.
///
/// Call it from the main thread: the children's death signal is tied to the thread
/// that spawns them ([`die_with_parent`]).
pub(super) fn run_parent(
    o: &ProbeOptions,
    target: SocketAddr,
    procs: usize,
    admin: Option<SocketAddr>,
) -> Result<Observed, Error> {
    let mut kids = spawn_children(o, target, procs)?;
    let (mut readers, held_at_once) = read_ready(&mut kids);
    // Everyone is holding now: this is the "at once" moment.
    let during = Snapshot::take(admin);
    tell_all(&mut kids, b"GO\n");
    let results = read_results(&mut readers);
    tell_all(&mut kids, b"EXIT\n");
    for k in kids.iter_mut() {
        if let Some(mut c) = k.0.take() {
            let _ = c.wait();
        }
    }
    if results.len() != procs {
        return Err(Error::Target(format!(
            "only {} of {procs} probe processes reported",
            results.len()
        )));
    }
    let stops = results.iter().map(|r| r.stop.clone()).collect();
    let result = merge(&results).ok_or_else(|| Error::Target("no probe results".into()))?;
    Ok(Observed {
        result,
        held_at_once,
        during,
        stops,
    })
}

/// Start the `procs` children, their stdin and stdout piped to us. On an error the
/// ones already started are stopped (dropping a [`Reaped`] does).
fn spawn_children(
    o: &ProbeOptions,
    target: SocketAddr,
    procs: usize,
) -> Result<Vec<Reaped>, Error> {
    let exe = std::env::current_exe().map_err(|e| Error::io("finding loadgen's own path", e))?;
    let mut kids = Vec::new();
    for _ in 0..procs {
        let mut cmd = child_command(&exe, o, target, procs);
        die_with_parent(&mut cmd);
        let child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Error::io("starting a probe process", e))?;
        kids.push(Reaped(Some(child)));
    }
    Ok(kids)
}

/// Wait for every child's `READY n`: a reader of each one's stdout, and the
/// connections they hold together (a child that says something else counts 0).
fn read_ready(kids: &mut [Reaped]) -> (Vec<BufReader<ChildStdout>>, u64) {
    let mut readers = Vec::new();
    let mut held_at_once = 0;
    for k in kids.iter_mut() {
        let Some(c) = k.0.as_mut() else { continue };
        let Some(out) = c.stdout.take() else { continue };
        let mut rd = BufReader::new(out);
        let mut line = String::new();
        let _ = rd.read_line(&mut line);
        held_at_once += line
            .trim()
            .strip_prefix("READY ")
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        readers.push(rd);
    }
    (readers, held_at_once)
}

/// Send a control line to every child still running. A child that is gone is no error
/// here: its missing `RESULT` is.
fn tell_all(kids: &mut [Reaped], line: &[u8]) {
    for k in kids.iter_mut() {
        if let Some(stdin) = k.0.as_mut().and_then(|c| c.stdin.as_mut()) {
            let _ = stdin.write_all(line);
            let _ = stdin.flush();
        }
    }
}

/// The result on each child's `RESULT` line, in order; a child that sent none, or a
/// line that does not parse, leaves no entry.
fn read_results(readers: &mut [BufReader<ChildStdout>]) -> Vec<ProbeResult> {
    let mut results = Vec::new();
    for rd in readers.iter_mut() {
        let mut line = String::new();
        let _ = rd.read_line(&mut line);
        if let Some(j) = line.trim().strip_prefix("RESULT ") {
            if let Some(r) = serde_json::from_str::<Value>(j)
                .ok()
                .as_ref()
                .and_then(result_from_json)
            {
                results.push(r);
            }
        }
    }
    results
}

/// The command line of one of `procs` children: `probe TARGET --child` with its share
/// of the rate and of `--max` spelled out, so the child needs no other input. Over TLS
/// the target keeps its scheme (`tls://ADDR`, `https://ADDR`) and the TLS flags follow,
/// `--sni` naming the server name the parent resolved.
fn child_command(exe: &Path, o: &ProbeOptions, target: SocketAddr, procs: usize) -> Command {
    let spec = spec_of(o, target, procs);
    let mut cmd = Command::new(exe);
    let addr = match &o.tls {
        Some(t) => format!("{}://{target}", t.scheme),
        None => target.to_string(),
    };
    cmd.arg("probe")
        .arg(addr)
        .arg("--child")
        .args(["--connect-rate", &spec.connect_rate.to_string()])
        .args([
            "--connect-timeout",
            &format!("{}ms", spec.connect_timeout.as_millis()),
        ])
        .args(["--hold", &format!("{}ms", spec.hold.as_millis())])
        .args(["--max-time", &format!("{}ms", spec.max_time.as_millis())]);
    if let Some(m) = spec.max {
        cmd.args(["--max", &m.to_string()]);
    }
    if spec.verify {
        // The protocol the parent chose (and tried): the child must not choose again.
        cmd.arg("--verify")
            .args(["--proto", spec.verify_proto.name()]);
    }
    if !o.sources.is_empty() {
        let list: Vec<String> = o.sources.iter().map(|s| s.to_string()).collect();
        cmd.args(["--source", &list.join(",")]);
    }
    if let Some(t) = &o.tls {
        cmd.args(&t.child_flags);
    }
    cmd
}

/// The child side of `--procs`: ramp, say READY n, wait for GO, hold, say RESULT,
/// wait for EXIT. EOF on stdin (the control pipe) or a broken stdout means the parent
/// is gone: stop now, an error rather than a panic.
pub(super) fn run_child(o: &ProbeOptions) -> Result<(), Error> {
    let _ = readyloop::limits::raise_nofile();
    let target = o
        .target
        .ok_or_else(|| Error::Usage("--child needs a target".into()))?;
    let mut p = Probe::new(spec_of(o, target, 1)).map_err(|e| Error::io("probe", e))?;
    p.ramp().map_err(|e| Error::io("probe ramp", e))?;
    let mut control = std::io::stdin().lock();
    say(&format!("READY {}", p.open()))?;
    if read_control(&mut control)? != "GO" {
        return Err(Error::Target(
            "probe --child: no GO from the parent: stopping".into(),
        ));
    }
    let r = p
        .hold_and_verify()
        .map_err(|e| Error::io("probe hold", e))?;
    say(&format!("RESULT {}", result_json(&r)))?;
    // Hold on until the parent has every result: closing now would free the server's
    // descriptors and let it accept another child's queued connections while that child
    // is still verifying, which would count them alive. EOF ends the wait too.
    let _ = read_control(&mut control);
    Ok(())
}

/// One line to the parent on stdout, flushed. A broken pipe is an error (the parent is
/// gone), never a panic as `println!` would make it.
fn say(line: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("probe --child: writing to the parent", e))
}

/// The next control line from the parent, trimmed; EOF (the parent closed the pipe or
/// died) is an error: stop now.
fn read_control(control: &mut impl BufRead) -> Result<String, Error> {
    let mut line = String::new();
    // A line longer than this is no control line: do not buffer it whole.
    match control.take(256).read_line(&mut line) {
        Ok(0) => Err(Error::Target(
            "probe --child: the control pipe closed (the parent is gone): stopping".into(),
        )),
        Ok(_) => Ok(line.trim().to_string()),
        Err(e) => Err(Error::io("probe --child: reading the control pipe", e)),
    }
}

/// The JSON of a `RESULT` line.
fn result_json(r: &ProbeResult) -> Value {
    // Only a map with non-string keys could fail to serialize: a ProbeResult has none.
    serde_json::to_value(r).unwrap_or(Value::Null)
}

/// A `RESULT` line's JSON back into a result; `None` when it is not one.
fn result_from_json(v: &Value) -> Option<ProbeResult> {
    ProbeResult::deserialize(v).ok()
}

/// Merge several processes' results (sum counts and memory readings, merge histograms,
/// add timelines).
///
/// The merged stop is the first that names a limit ([`Stop::is_limit`]): one child at
/// its `--max` share says nothing about the limit another one hit. Without any, `--max`
/// before the time limit.
pub fn merge(results: &[ProbeResult]) -> Option<ProbeResult> {
    let first = results.first()?;
    let mut m = first.clone();
    m.stop = results
        .iter()
        .map(|r| &r.stop)
        .find(|s| s.is_limit())
        .or_else(|| results.iter().map(|r| &r.stop).find(|s| **s == Stop::Max))
        .unwrap_or(&first.stop)
        .clone();
    m.connect = new_histogram();
    m.timeline.clear();
    m.sources.clear();
    m.errors.clear();
    m.established = 0;
    m.attempted = 0;
    m.closed_by_server_ramp = 0;
    m.closed_by_server_hold = 0;
    m.held_end = 0;
    m.peak_held = 0;
    m.verified_alive = first.verified_alive.map(|_| 0);
    m.verified_too_slow = first.verified_too_slow.map(|_| 0);
    m.verified_late = first.verified_late.map(|_| 0);
    m.verified_dead = first.verified_dead.map(|_| 0);
    m.handshakes = None;
    m.rss_anon_before = Some(0);
    m.rss_anon_held = Some(0);
    for r in results {
        m.established += r.established;
        m.attempted += r.attempted;
        m.closed_by_server_ramp += r.closed_by_server_ramp;
        m.closed_by_server_hold += r.closed_by_server_hold;
        m.held_end += r.held_end;
        m.peak_held += r.peak_held;
        m.verified_alive = m.verified_alive.zip(r.verified_alive).map(|(a, b)| a + b);
        m.verified_too_slow = m
            .verified_too_slow
            .zip(r.verified_too_slow)
            .map(|(a, b)| a + b);
        m.verified_late = m.verified_late.zip(r.verified_late).map(|(a, b)| a + b);
        m.verified_dead = m.verified_dead.zip(r.verified_dead).map(|(a, b)| a + b);
        m.verify_window_s = match (m.verify_window_s, r.verify_window_s) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        m.ramp = m.ramp.max(r.ramp);
        let _ = m.connect.add(&r.connect);
        if m.timeline.len() < r.timeline.len() {
            m.timeline.resize(r.timeline.len(), 0);
        }
        for (a, b) in m.timeline.iter_mut().zip(&r.timeline) {
            *a += b;
        }
        add_counts(&mut m.sources, &r.sources);
        if let Some(h) = &r.handshakes {
            m.handshakes.get_or_insert_with(Default::default).add(h);
        }
        // A process that could not read its memory leaves the sum unknown.
        m.rss_anon_before = m.rss_anon_before.zip(r.rss_anon_before).map(|(a, b)| a + b);
        m.rss_anon_held = m.rss_anon_held.zip(r.rss_anon_held).map(|(a, b)| a + b);
        for (e, n) in &r.errors {
            match m.errors.iter_mut().find(|(x, _)| x == e) {
                Some((_, c)) => *c += n,
                None => m.errors.push((e.clone(), *n)),
            }
        }
    }
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::sources::SourceCount;
    use std::time::Duration;

    #[test]
    fn test_result_json_round_trip() {
        let mut h = new_histogram();
        h.record(42).unwrap();
        let r = ProbeResult {
            established: 5,
            attempted: 6,
            closed_by_server_ramp: 1,
            closed_by_server_hold: 0,
            held_end: 4,
            peak_held: 5,
            verified_alive: Some(4),
            verified_too_slow: Some(0),
            verified_late: Some(0),
            verified_dead: Some(0),
            verify_window_s: Some(3.0),
            stop: Stop::Descriptors {
                errno: "EMFILE".into(),
            },
            ramp: Duration::from_millis(1500),
            connect: h,
            timeline: vec![1, 2, 2],
            sources: vec![SourceCount {
                source: "127.0.0.1".into(),
                established: 5,
                exhausted: false,
            }],
            errors: vec![("EMFILE".into(), 1)],
            handshakes: Some(crate::probe::tls::Handshakes {
                full: 4,
                resumed: 1,
                failed: 1,
                failed_by: [("eof".to_string(), 1)].into_iter().collect(),
            }),
            rss_anon_before: Some(1000),
            rss_anon_held: Some(5000),
        };
        let back = result_from_json(&result_json(&r)).expect("parses");
        assert_eq!(back.established, 5);
        assert_eq!(back.stop, r.stop);
        assert_eq!(back.connect.len(), 1);
        assert_eq!(back.timeline, r.timeline);
        assert_eq!(back.errors, r.errors);
        let m = merge(&[r.clone(), back]).unwrap();
        assert_eq!(m.established, 10);
        assert_eq!(m.connect.len(), 2);
        assert_eq!(m.sources[0].established, 10);
        assert_eq!(m.timeline, vec![2, 4, 4]);
        let h = m.handshakes.expect("handshakes merged");
        assert_eq!((h.full, h.resumed, h.failed), (8, 2, 2));
        assert_eq!(h.failed_by["eof"], 2);
        assert_eq!(
            (m.rss_anon_before, m.rss_anon_held),
            (Some(2000), Some(10_000))
        );
    }

    #[test]
    fn test_a_tls_child_gets_the_scheme_and_the_flags() {
        use crate::probe::tls::ProbeTls;
        use crate::tls_target::{TlsTarget, TlsWish};
        let wish = TlsWish {
            insecure: true,
            resume: true,
            ..TlsWish::default()
        };
        let target = TlsTarget::new(&wish, "localhost").expect("config");
        let o = ProbeOptions {
            target: None,
            tls: Some(ProbeTls {
                target: std::sync::Arc::new(target),
                scheme: "https",
                child_flags: vec!["--sni".into(), "localhost".into(), "--insecure".into()],
            }),
            spec_rate: 1000.0,
            connect_timeout: Duration::from_secs(3),
            max: Some(10),
            hold: Duration::ZERO,
            verify: false,
            verify_proto: None,
            sources: vec![],
            procs: 2,
            server_stats: None,
            max_time: Duration::from_secs(10),
            json: None,
            child: false,
        };
        let addr: SocketAddr = "127.0.0.1:8443".parse().unwrap();
        let cmd = child_command(Path::new("loadgen"), &o, addr, 2);
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(args[..3], ["probe", "https://127.0.0.1:8443", "--child"]);
        assert!(args.ends_with(&["--sni".into(), "localhost".into(), "--insecure".into()]));
    }

    #[test]
    fn test_merge_names_the_limit_a_child_hit_not_the_first_childs_stop() {
        let r = |stop: Stop| ProbeResult {
            established: 1,
            attempted: 1,
            closed_by_server_ramp: 0,
            closed_by_server_hold: 0,
            held_end: 1,
            peak_held: 1,
            verified_alive: None,
            verified_too_slow: None,
            verified_late: None,
            verified_dead: None,
            verify_window_s: None,
            stop,
            ramp: Duration::from_millis(10),
            connect: new_histogram(),
            timeline: vec![1],
            sources: vec![],
            errors: vec![],
            handshakes: None,
            rss_anon_before: None,
            rss_anon_held: None,
        };
        let emfile = Stop::Descriptors {
            errno: "EMFILE".into(),
        };
        let m = merge(&[r(Stop::Max), r(emfile.clone()), r(Stop::TimeLimit)]).unwrap();
        assert_eq!(m.stop, emfile, "a limit, not the first child's --max");
        let m = merge(&[r(Stop::TimeLimit), r(Stop::Max)]).unwrap();
        assert_eq!(m.stop, Stop::Max, "no limit: --max before the time limit");
    }
}
