//! `--coordinator HOST:PORT`: a split run started together, merged and judged once.
//!
//! Segment 0 binds the port before its connections open, so the others can join while
//! it connects; every other segment joins before opening its own (a segment of another
//! run is refused before it loads the target). Once a process's connections are open,
//! the engine's gate asks its [`Role`] for the start: segment 0 waits for every segment
//! to say READY, then sends the start instant (its warm-up ahead); the others wait for
//! it. After the run each segment sends its result; segment 0 merges them with its
//! own ([`crate::merge`]), judges `--slo` once and prints the merged report between
//! [`BEGIN`] and [`END`], so a script can cut it out of a pod's log.

use super::run_plan::RunPlan;
use crate::coord::{Coordinator, Member, Settings, StartInfo, Token};
use crate::engine::Gate;
use crate::error::Error;
use crate::result::RunResult;
use crate::split::{NotWhole, Skew};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// The line before the merged report on segment 0's stdout.
pub(super) const BEGIN: &str = "--- loadgen merged report begin ---";
/// The line after it.
pub(super) const END: &str = "--- loadgen merged report end ---";

/// This process's part in the coordination.
pub(super) enum Role {
    /// Not coordinated (one process, or `--start-at`).
    Alone,
    /// Segment 0.
    Coordinator(Box<Coordinator>, Option<StartInfo>),
    /// Segments 1..N-1.
    Member(Box<Member>, Option<StartInfo>),
}

impl Role {
    /// Bind (segment 0) or join (the others), as `plan` says, for a run whose plan
    /// hashes to `hash`. A member that cannot join, or is refused, is an error that
    /// fails the run as not whole (exit 4).
    pub(super) fn take_up(plan: &RunPlan, hash: [u8; 32]) -> Result<Role, Error> {
        let (Some(c), Some(seg)) = (&plan.coordination, plan.load.segment) else {
            return Ok(Role::Alone);
        };
        let token = Token::from_flag_or_env(c.token.as_deref());
        let mut settings = Settings::new(seg.count as u32, hash, token);
        settings.wait = c.wait;
        if seg.index == 0 {
            let port = port_of(&c.addr)?;
            let coordinator = Coordinator::bind(("0.0.0.0", port), settings)
                .map_err(|e| Error::Target(format!("--coordinator: {e}")))?;
            if !coordinator.authenticated() {
                eprintln!("loadgen: warning: no --token (nor LOADGEN_TOKEN): any process that reaches port {port} can join this run");
            }
            return Ok(Role::Coordinator(Box::new(coordinator), None));
        }
        let member = Member::join(&c.addr, seg.index as u32, &settings)
            .map_err(|e| Error::NotWhole(format!("segment {seg}: {e}")))?;
        Ok(Role::Member(Box::new(member), None))
    }

    /// The run's nonce (hex), once coordinated.
    pub(super) fn nonce(&self) -> Option<String> {
        let run = match self {
            Role::Alone => return None,
            Role::Coordinator(c, _) => c.run_id(),
            Role::Member(m, _) => m.run_id(),
        };
        Some(crate::run_id::hex(&run.nonce))
    }

    /// Raised when the coordinator says STOP (or is gone): the member's run ends.
    pub(super) fn stop_flag(&self) -> Option<Arc<AtomicBool>> {
        match self {
            Role::Member(m, _) => Some(m.stop_flag()),
            _ => None,
        }
    }

    /// The engine's gate: the common start, `warmup` after which measurement begins.
    pub(super) fn gate(&mut self, warmup: Duration) -> Option<Gate<'_>> {
        match self {
            Role::Alone => None,
            Role::Coordinator(c, info) => Some(Box::new(move || {
                c.gather().map_err(|e| NotWhole::io(e.to_string()))?;
                // Far enough ahead that every segment warms up after it hears.
                let lead = warmup + crate::coord::MIN_LEAD + Duration::from_millis(100);
                let started = c.start(lead).map_err(|e| NotWhole::io(e.to_string()))?;
                let at = started.at;
                *info = Some(started);
                Ok(Some(at))
            })),
            Role::Member(m, info) => Some(Box::new(move || {
                let started = m.ready().map_err(|e| NotWhole::io(e.to_string()))?;
                let at = started.at;
                *info = Some(started);
                Ok(Some(at))
            })),
        }
    }

    /// This segment's clock against the coordinator's, as the start said.
    pub(super) fn skew(&self) -> Option<Skew> {
        let (Role::Member(_, Some(info)) | Role::Coordinator(_, Some(info))) = self else {
            return None;
        };
        match self {
            Role::Coordinator(..) => Some(Skew {
                offset_s: 0.0,
                bound_s: 0.0,
            }),
            _ => info.clocks.first().map(skew_of),
        }
    }
}

impl Role {
    /// Segment 0: what its port refused, one line for stderr (`None`: nothing, or not
    /// the coordinator).
    pub(super) fn refused_line(&self) -> Option<String> {
        let Role::Coordinator(c, _) = self else {
            return None;
        };
        let n = c.counters();
        let parts: Vec<String> = [
            ("garbage", n.garbage),
            ("bad token", n.bad_token),
            ("another run", n.wrong_run),
            ("index taken", n.duplicate),
            ("late", n.late),
            ("slow", n.slow),
            ("busy", n.busy),
            ("closed before a hello", n.abandoned),
        ]
        .iter()
        .filter(|(_, k)| *k > 0)
        .map(|(why, k)| format!("{why} {k}"))
        .collect();
        (!parts.is_empty()).then(|| {
            format!(
                "the coordinator's port refused or closed {} connection(s): {}",
                n.total(),
                parts.join(", ")
            )
        })
    }
}

/// A member's clock as the coordinator estimated it.
fn skew_of(c: &crate::coord::MemberClock) -> Skew {
    Skew {
        offset_s: c.estimate.offset_ns as f64 / 1e9,
        bound_s: c.skew_bound_ns as f64 / 1e9,
    }
}

/// The PORT of HOST:PORT (`[v6]:PORT` too).
fn port_of(addr: &str) -> Result<u16, Error> {
    addr.rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .ok_or_else(|| Error::Usage(format!("--coordinator '{addr}': expected HOST:PORT")))
}

/// Segment 0 after its own run: stop the others if a signal stopped it, collect their
/// results (a member that never sends one is lost), and merge them with `own`.
pub(super) fn merge_run(
    c: &Coordinator,
    info: Option<&StartInfo>,
    own: RunResult,
    (signal, wait): (bool, Duration),
) -> Result<crate::merge::Merge, Error> {
    if signal {
        c.stop_all();
    }
    let mut results = vec![own];
    let mut lost = Vec::new();
    for got in c.collect(wait) {
        let index = got.index as usize;
        match got.outcome.map(|bytes| crate::result_file::read(&bytes)) {
            Ok(Ok(mut r)) => {
                if let (Some(p), Some(clock)) = (
                    r.part.as_mut(),
                    info.and_then(|i| i.clocks.iter().find(|k| k.index == got.index)),
                ) {
                    p.skew = Some(skew_of(clock));
                }
                results.push(r);
            }
            Ok(Err(e)) => lost.push((index, format!("its result did not read: {e}"))),
            Err(why) => lost.push((index, why.to_string())),
        }
    }
    crate::merge::merge(results, &lost).map_err(Error::NotWhole)
}

/// A member after its run: say when it began measuring, then send its result; the
/// coordinator's loss (or refusal of it) fails the run as not whole.
pub(super) fn send(member: &mut Member, r: &RunResult) -> Result<(), Error> {
    let not_whole = |e: crate::coord::Error| {
        Error::NotWhole(format!("sending the result to the coordinator: {e}"))
    };
    if let Some(s) = r.started_unix_s {
        let at = std::time::UNIX_EPOCH + Duration::from_secs_f64(s.max(0.0));
        member.report_started(at).map_err(not_whole)?;
    }
    let mut bytes = Vec::new();
    crate::result_file::write(r, &mut bytes).map_err(|e| Error::io("encoding the result", e))?;
    member.send_result(bytes).map_err(not_whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_the_port_is_what_follows_the_last_colon() {
        assert_eq!(port_of("loadgen-0.loadgen:7070").unwrap(), 7070);
        assert_eq!(port_of("[::1]:9").unwrap(), 9);
        assert!(port_of("loadgen-0").is_err());
        assert!(port_of("host:http").is_err());
    }
}
