//! `loadgen probe`: its flags checked and handed to [`crate::probe`].
//!
//! The probe itself (ramp, hold, report, `--procs` children) is the library's
//! `probe` module; this is only what the command line adds: the checks clap cannot make
//! (a bounded `--connect-rate`, `--source` addresses of this machine), the target and
//! its transport (`HOST:PORT`, or `tls://HOST:PORT` and `https://HOST:PORT` over TLS,
//! with run's TLS flags), the preflight connect (over TLS, a handshake), and the
//! descriptor limit raised before the ramp.

use super::args::ProbeArgs;
use super::connect_to::ConnectTo;
use super::preflight::preflight;
use super::target::Target;
use super::tls_preflight::tls_preflight;
use crate::error::Error;
use crate::framing::Framing;
use crate::probe::ProbeTls;
use crate::request;
use std::net::SocketAddr;

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
    let sources = a.source.clone().map(|s| s.0).unwrap_or_default();
    // Before anything starts: a source address that is not this machine's fails every
    // bind with EADDRNOTAVAIL, the errno connect() gives when ports run out. The ramp
    // tells the two apart as well, but only once the server and the ramp are under way.
    crate::probe::check_sources(&sources).map_err(Error::Usage)?;
    let (target, tls) = probe_target(&a)?;
    // A child of --procs: its parent made the preflight connect already.
    if let (Some(t), false) = (target, a.child) {
        match &tls {
            // The handshake as the ramp's will be: a certificate that does not verify is
            // one line naming why, not a ramp stopped by its first connection.
            Some(p) => drop(tls_preflight(&[t], &p.target, a.connect_timeout)?),
            None => preflight(&[t], a.connect_timeout)?,
        }
    }
    let _ = readyloop::limits::raise_nofile();
    crate::probe::run(crate::probe::ProbeOptions {
        target,
        tls,
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

/// The address probed (`None`: the embedded server) and how TLS is spoken to it.
///
/// `HOST:PORT` is plain TCP, resolved as it always was (its first address). A target
/// with a scheme names its transport: `tls://HOST:PORT` and `https://HOST[:PORT]`
/// are TLS (https offers ALPN `http/1.1`), `http://` is plain. A TLS flag for a plain
/// target, or the embedded server (plain), is refused (exit 2).
fn probe_target(a: &ProbeArgs) -> Result<(Option<SocketAddr>, Option<ProbeTls>), Error> {
    let Some(t) = a.target.as_deref() else {
        a.tls.refuse()?;
        return Ok((None, None));
    };
    if !t.contains("://") {
        a.tls.refuse()?;
        return Ok((Some(request::parse_target(t).map_err(Error::Usage)?), None));
    }
    let url = !t.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("tls://"));
    let framing = if url { Framing::Http } else { Framing::Echo };
    let resolved = Target::resolve(Some(t), "echo", &framing, &ConnectTo::default())?;
    let Target::Given { addrs, .. } = &resolved else {
        return Err(Error::Usage(format!("{t}: no address")));
    };
    let addr = addrs.first();
    // A held connection reconnects rarely: a modest ticket store does.
    let tls = a.tls.plan(&resolved, &framing, 256)?.map(|target| {
        let child_flags = a.tls.child_flags(&target.server_name.to_str());
        ProbeTls {
            target,
            scheme: if url { "https" } else { "tls" },
            child_flags,
        }
    });
    Ok((Some(addr), tls))
}
