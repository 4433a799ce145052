//! The prediction made before the ramp: the smallest of the limits known up front
//! (this process's descriptors, ephemeral ports per source, the server's own
//! descriptor room, `--max`). The report says whether it held.

use super::observe::SPARE_FDS;
use readyloop::limits::Report;
use serde_json::Value;

/// How many connections should be held at once, and the limit that says so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prediction {
    /// Connections.
    pub connections: u64,
    /// The limit, in words (`"--max"`, `"the server's fd limit"`, ...).
    pub limited_by: String,
}

impl Prediction {
    /// "Held" when the count held at once is within 1% (or 10 connections) of the
    /// prediction, either side.
    pub fn held(&self, held_at_once: u64) -> bool {
        let n = self.connections;
        let tol = (n / 100).max(10);
        held_at_once + tol >= n && held_at_once <= n + tol
    }
}

/// Predict from this machine's limits (`limits`), the number of processes and of
/// source addresses, the server's stats before the ramp (`server`) and `--max`.
pub fn predict(
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
}
