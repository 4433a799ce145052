//! `loadgen probe`: [`run`] predicts the limit, starts the embedded echo server when
//! no target is given, runs the probe in this process or in `--procs` children, and
//! prints the text report, or writes the JSON with `--json FILE` (to stdout with `--json -`).
//!
//! The embedded server runs in a child process (`loadgen __serve`), never in this one:
//! sharing a descriptor table would halve what both can hold. Like the `--procs`
//! children it dies with this process, also when this one is killed with -9.
//!
//! Everything goes to stdout through fallible writes: a closed stdout (`| head -1`) is
//! an error (exit 1), not a panic.

use super::findings::{ProbeReport, ReportInputs};
use super::observe::{take_spares, Observed, Snapshot};
use super::options::{spec_of, ProbeOptions};
use super::predict::{predict, Prediction};
use super::procs::{run_child, run_parent};
use super::ramp::Probe;
use super::reaped::{die_with_parent, Reaped};
use super::verify::{check, choose};
use crate::error::Error;
use crate::fmt::{group, plural};
use readyloop::limits::Report;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

/// Run `loadgen probe`. Call it from the main thread: the children it starts die when
/// the thread that started them does (`PR_SET_PDEATHSIG`, set by `reaped.rs`).
pub fn run(mut o: ProbeOptions) -> Result<(), Error> {
    if o.child {
        return run_child(&o);
    }
    let limits = Report::read();
    let (at, server_child) = start_target(&o)?;
    let before = Snapshot::take(at.admin);
    if o.verify {
        // Before anything is printed: verify in a protocol the server does not speak
        // would call every held connection too slow to answer.
        let proto = choose(o.verify_proto, before.server.as_ref()).map_err(Error::Usage)?;
        // The trial exchange is plain TCP: over TLS it would send its request into a
        // handshake. The preflight handshake showed the server speaks TLS.
        if o.tls.is_none() {
            check(at.target, proto, o.connect_timeout).map_err(Error::Usage)?;
        }
        o.verify_proto = Some(proto);
    }
    let procs = o.procs.max(1);
    let sources = o.sources.len().max(1) as u64;
    let prediction = predict(&limits, procs, sources, before.server.as_ref(), o.max);
    if o.json.as_deref() != Some("-") {
        write_stdout(&head(&o, &at, procs, sources, prediction.as_ref()))?;
    }

    let started = Instant::now();
    let observed = if procs == 1 {
        probe_here(&o, at.target, at.admin)?
    } else {
        run_parent(&o, at.target, procs, at.admin)?
    };
    let elapsed = started.elapsed();
    drop(server_child);

    let out = ProbeReport::build(&ReportInputs {
        options: &o,
        target: at.target,
        embedded: at.embedded,
        limits: &limits,
        prediction: prediction.as_ref(),
        before: &before,
        observed: &observed,
        elapsed,
    });
    write_report(&o, &out)
}

/// Where the probe connects, and where the server's stats are read.
struct Target {
    /// The address probed.
    target: SocketAddr,
    /// The server's admin listener: `--server-stats`, or the embedded server's.
    admin: Option<SocketAddr>,
    /// It is the embedded echo server.
    embedded: bool,
}

/// The target given, or the embedded server started now; dropping the [`Reaped`]
/// stops the latter (it holds nothing for a target given).
fn start_target(o: &ProbeOptions) -> Result<(Target, Reaped), Error> {
    if let Some(target) = o.target {
        let at = Target {
            target,
            admin: o.server_stats,
            embedded: false,
        };
        return Ok((at, Reaped(None)));
    }
    let (child, target, admin) = spawn_embedded()?;
    let at = Target {
        target,
        admin: o.server_stats.or(admin),
        embedded: true,
    };
    Ok((at, Reaped(Some(child))))
}

/// The lines printed before the ramp: what is probed, from how many processes and
/// source addresses, at what rate, and the limit expected.
fn head(
    o: &ProbeOptions,
    at: &Target,
    procs: usize,
    sources: u64,
    prediction: Option<&Prediction>,
) -> String {
    let mut head = format!(
        "probe: {}{}{} from {}, {}, at {} connections/s\n",
        at.target,
        match &o.tls {
            Some(t) => format!(
                " over TLS ({}, {})",
                t.target.server_name.to_str(),
                t.verdict()
            ),
            None => String::new(),
        },
        if at.embedded {
            " (embedded readyloop echo server, own process)"
        } else {
            ""
        },
        plural(procs as u64, "process", "processes"),
        plural(sources, "source address", "source addresses"),
        group(o.spec_rate.max(0.0).round() as u64)
    );
    if let Some(p) = prediction {
        head += &format!(
            "predicted: about {} connections, limited by {}\n",
            group(p.connections),
            p.limited_by
        );
    }
    head
}

/// The probe in this process alone (no `--procs`): ramp, read the snapshot while every
/// connection is held, then hold and verify.
fn probe_here(
    o: &ProbeOptions,
    target: SocketAddr,
    admin: Option<SocketAddr>,
) -> Result<Observed, Error> {
    let spec = spec_of(o, target, 1);
    let mut spares = take_spares();
    let mut p = Probe::new(spec).map_err(|e| Error::io("probe", e))?;
    p.ramp().map_err(|e| Error::io("probe ramp", e))?;
    let held_at_once = p.open();
    // At our own fd limit, reading the server's stats and /proc needs descriptors:
    // give back the spares kept for this moment.
    spares.clear();
    let during = Snapshot::take(admin);
    let result = p
        .hold_and_verify()
        .map_err(|e| Error::io("probe hold", e))?;
    let stops = vec![result.stop.clone()];
    Ok(Observed {
        result,
        held_at_once,
        during,
        stops,
    })
}

/// The report where `--json` sends it: JSON alone to stdout (`-`), or JSON to the file
/// and the text to stdout, or (without `--json`) the text.
fn write_report(o: &ProbeOptions, out: &ProbeReport) -> Result<(), Error> {
    match o.json.as_deref() {
        Some("-") => write_stdout(&(out.to_json() + "\n")),
        Some(path) => {
            std::fs::write(path, out.to_json() + "\n")
                .map_err(|e| Error::io(format!("--json {path}"), e))?;
            write_stdout(&out.text())
        }
        None => write_stdout(&out.text()),
    }
}

/// Write `text` to stdout and flush: a closed stdout is an error to report (exit 1),
/// where `print!` would panic.
fn write_stdout(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("writing the probe report to stdout", e))
}

/// Spawn the embedded server as a child process (its own descriptor table: sharing ours
/// would halve what both can hold). Returns the child, its listen and admin addresses.
fn spawn_embedded() -> Result<(Child, SocketAddr, Option<SocketAddr>), Error> {
    let exe = std::env::current_exe().map_err(|e| Error::io("finding loadgen's own path", e))?;
    let mut cmd = Command::new(exe);
    die_with_parent(&mut cmd);
    let mut child = cmd
        .arg("__serve")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        // Its start-up and shutdown lines would interleave with the report.
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::io("starting the embedded server", e))?;
    let out = child
        .stdout
        .take()
        .ok_or_else(|| Error::Target("embedded server: no stdout".into()))?;
    let mut line = String::new();
    let _ = BufReader::new(out).read_line(&mut line);
    let v: Value = match serde_json::from_str(line.trim()) {
        Ok(v) => v,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::Target(format!(
                "embedded server did not start: '{}'",
                line.trim()
            )));
        }
    };
    let listen = v["listen"].as_str().and_then(|s| s.parse().ok());
    let admin = v["admin"].as_str().and_then(|s| s.parse().ok());
    match listen {
        Some(l) => Ok((child, l, admin)),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err(Error::Target("embedded server: no listen address".into()))
        }
    }
}
