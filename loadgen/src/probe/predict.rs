//! The prediction made before the ramp: the smallest of the limits known up front
//! (this process's descriptors, ephemeral ports per source, the server's own
//! descriptor room, `--max`). The report says whether it held.

use super::observe::SPARE_FDS;
use readyloop::limits::Report;
use serde_json::Value;

/// How many connections should be held at once, and the limit that says so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Prediction {
    /// Connections.
    pub connections: u64,
    /// The limit, in words (`"--max"`, `"the server's fd limit"`, ...).
    pub limited_by: String,
}

impl Prediction {
    /// "Held" when the count held at once is within 1% of the prediction, either side,
    /// or within a floor of 10 connections that is never more than a tenth of the
    /// prediction: a fixed floor of 10 would call 0 held of 10 predicted "held".
    pub fn held(&self, held_at_once: u64) -> bool {
        let n = self.connections;
        let tol = (n / 100).max((n / 10).min(10));
        held_at_once.saturating_add(tol) >= n && held_at_once <= n.saturating_add(tol)
    }
}

/// Predict from this machine's limits (`limits`), the number of processes and of
/// source addresses, the server's stats before the ramp (`server`) and `--max`.
pub(crate) fn predict(
    limits: &Report,
    procs: usize,
    sources: u64,
    server: Option<&Value>,
    max: Option<u64>,
) -> Option<Prediction> {
    let mut predicted: Vec<(u64, String)> = Vec::new();
    if let Some(room) = limits.fd_room() {
        // A few descriptors go to the reactor itself (epoll, waker) and to the spares
        // kept for reading the results at the limit.
        let own = 2 + SPARE_FDS as u64;
        predicted.push((
            room.saturating_sub(own) * procs as u64,
            format!("{procs} x this process's fd limit"),
        ));
    }
    if let Some(p) = limits.ports() {
        predicted.push((
            p * sources,
            format!("ephemeral ports ({p}) x {sources} source address(es)"),
        ));
    }
    if let Some(s) = server {
        if let (Some(soft), Some(open)) = (s["nofile_soft"].as_u64(), s["fds_open"].as_u64()) {
            predicted.push((soft.saturating_sub(open), "the server's fd limit".into()));
        }
    }
    if let Some(m) = max {
        predicted.push((m, "--max".into()));
    }
    // Of equal minimums the first (in the order above) names the limit.
    predicted
        .into_iter()
        .min_by_key(|p| p.0)
        .map(|(connections, limited_by)| Prediction {
            connections,
            limited_by,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_held_within_one_percent_or_ten() {
        let p = Prediction {
            connections: 2000,
            limited_by: "--max".into(),
        };
        assert!(p.held(2000) && p.held(1980) && p.held(2020));
        assert!(!p.held(1979) && !p.held(2021));
        let small = Prediction {
            connections: 100,
            limited_by: "--max".into(),
        };
        assert!(small.held(90) && !small.held(89));
    }

    #[test]
    fn test_held_small_predictions_are_not_swamped_by_the_floor() {
        let p = |connections| Prediction {
            connections,
            limited_by: "--max".into(),
        };
        // The report once said "held" for 0 held of 10 predicted.
        assert!(!p(10).held(0));
        assert!(!p(10).held(5) && !p(10).held(20));
        assert!(p(10).held(10) && p(10).held(9) && p(10).held(11));
        assert!(p(1).held(1) && !p(1).held(0) && !p(1).held(2));
        assert!(p(0).held(0) && !p(0).held(1));
        assert!(!p(50).held(40) && p(50).held(45));
    }
}
