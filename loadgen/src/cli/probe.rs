//! `loadgen probe`: its flags checked and handed to [`crate::probe`].
//!
//! The probe itself (ramp, hold, report, `--procs` children) is the library's
//! `probe` module; this is only what the command line adds: the checks clap cannot make
//! (a bounded `--connect-rate`, `--source` addresses of this machine), the preflight
//! connect, and the descriptor limit raised before the ramp.

use super::args::ProbeArgs;
use super::preflight::preflight;
use crate::error::Error;
use crate::request;

/// Check `a`, then run the probe it asks for.
pub(super) fn probe(a: ProbeArgs) -> Result<(), Error> {
    if !(a.connect_rate.is_finite() && a.connect_rate > 0.0) {
        return Err(Error::Usage(format!(
            "--connect-rate must be a positive number, not {}",
            a.connect_rate
        )));
    }
    if a.connect_rate > crate::probe::options::MAX_CONNECT_RATE {
        return Err(Error::Usage(format!(
            "--connect-rate must be at most {} connections per second, not {}",
            crate::probe::options::MAX_CONNECT_RATE,
            a.connect_rate
        )));
    }
    if a.procs == 0 || a.procs > 64 {
        return Err(Error::Usage("--procs must be 1 to 64".into()));
    }
    let sources = a.source.map(|s| s.0).unwrap_or_default();
    // Before anything starts: a source address that is not this machine's fails every
    // bind with EADDRNOTAVAIL, the errno connect() gives when ports run out. The ramp
    // tells the two apart as well, but only once the server and the ramp are under way.
    crate::probe::check_sources(&sources).map_err(Error::Usage)?;
    let target = match &a.target {
        Some(t) => Some(request::parse_target(t).map_err(Error::Usage)?),
        None => None,
    };
    if let Some(t) = target {
        // A child of --procs: its parent made the preflight connect already.
        if !a.child {
            preflight(&[t], a.connect_timeout)?;
        }
    }
    let _ = readyloop::limits::raise_nofile();
    crate::probe::run(crate::probe::ProbeOptions {
        target,
        spec_rate: a.connect_rate,
        connect_timeout: a.connect_timeout,
        max: a.max,
        hold: a.hold,
        verify: a.verify,
        verify_proto: a.proto,
        sources,
        procs: a.procs,
        server_stats: a.server_stats,
        max_time: a.max_time,
        json: a.json,
        child: a.child,
    })
}
