//! A run's identity, the same in every segment of it and in every file it writes: the
//! hash of its plan, and a nonce drawn once for the run (by the coordinator, or taken
//! from `--start-at`), so that a segment or a file of another run (yesterday's, with
//! the same flags) is refused at the merge.

use crate::load::Load;
use std::fmt;

/// Which run a result belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RunId {
    /// SHA-256 of the plan ([`plan_hash`]), hex.
    pub plan: String,
    /// Drawn once for the run; `None` when the segments were started without a
    /// coordinator or a `--start-at` (their files can then be told apart from another
    /// run's only by the plan).
    pub nonce: Option<String>,
}

impl RunId {
    /// The identity of a run of `plan_hash` with `nonce`.
    pub fn new(plan: [u8; 32], nonce: Option<String>) -> RunId {
        RunId {
            plan: hex(&plan),
            nonce,
        }
    }
}

impl fmt::Display for RunId {
    /// Short: the plan hash's first 16 hex digits, then the nonce.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plan = self.plan.get(..16).unwrap_or(&self.plan);
        match &self.nonce {
            Some(n) => write!(f, "{plan}-{n}"),
            None => write!(f, "{plan}"),
        }
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The plan's hash: what every segment of one run must agree on, whatever machine it
/// runs on. The target as typed, the request bytes, and the load without what may
/// differ from machine to machine and is not part of what the target sees as a whole:
/// the worker threads (the cores), the source addresses (the host's own) and the
/// segment's index.
pub fn plan_hash(target: &str, load: &Load, request: &[u8], mix: Option<&str>) -> [u8; 32] {
    let whole = Load {
        threads: 0,
        sources: Vec::new(),
        segment: load
            .segment
            .map(|s| crate::segment::Segment { index: 0, ..s }),
        ..load.clone()
    };
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [
        b"loadgen plan v1".as_slice(),
        env!("CARGO_PKG_VERSION").as_bytes(),
        target.as_bytes(),
        format!("{whole:?}").as_bytes(),
        request,
        mix.unwrap_or("").as_bytes(),
    ] {
        // Each part's length first: no two different plans concatenate alike.
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::Segment;

    fn load() -> Load {
        crate::report::fixtures::open().load
    }

    #[test]
    fn test_segments_of_one_plan_agree_and_another_plan_differs() {
        let seg = |index| {
            let mut l = load();
            l.segment = Some(Segment { index, count: 3 });
            l
        };
        let mut on_other_host = seg(2);
        on_other_host.threads = 64;
        on_other_host.sources = vec!["10.0.0.2".parse().unwrap()];
        let h0 = plan_hash("t", &seg(0), b"GET", None);
        assert_eq!(h0, plan_hash("t", &on_other_host, b"GET", None));
        let mut faster = seg(0);
        faster.rate = Some(1.0 + faster.rate.unwrap_or(0.0));
        for other in [
            plan_hash("t", &faster, b"GET", None),
            plan_hash("u", &seg(0), b"GET", None),
            plan_hash("t", &seg(0), b"PUT", None),
            plan_hash("t", &seg(0), b"GET", Some("mix")),
            plan_hash("t", &load(), b"GET", None),
        ] {
            assert_ne!(h0, other);
        }
    }

    #[test]
    fn test_identity_prints_short() {
        let id = RunId::new([0xab; 32], Some("42".into()));
        assert_eq!(id.plan.len(), 64);
        assert_eq!(id.to_string(), "abababababababab-42");
    }
}
