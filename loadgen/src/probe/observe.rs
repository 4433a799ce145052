//! What is read around the hold, outside the probe itself: the server's `/stats`
//! (`--server-stats`), `/proc/net/sockstat` and the kernel's slab bytes, once before
//! the ramp and once while every connection is held; the report turns the two
//! [`Snapshot`]s into per-connection costs.

use super::ramp::ProbeResult;
use readyloop::limits::Sockstat;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// GET http://ADDR/stats from a readyloop admin listener.
pub(crate) fn fetch_stats(addr: SocketAddr) -> Result<Value, String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("{addr}: {e}"))?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
    s.write_all(b"GET /stats HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    s.take(4 << 20)
        .read_to_end(&mut buf)
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&buf);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .ok_or("no HTTP response")?;
    serde_json::from_str(body).map_err(|e| format!("stats JSON: {e}"))
}

/// Descriptors kept back during the ramp, released to read the results (a socket to the
/// admin listener, /proc files) when the probe itself is at its fd limit.
pub(super) const SPARE_FDS: usize = 4;

/// Hold [`SPARE_FDS`] descriptors (of `/dev/null`); dropping them gives them back.
pub(super) fn take_spares() -> Vec<std::fs::File> {
    (0..SPARE_FDS)
        .filter_map(|_| std::fs::File::open("/dev/null").ok())
        .collect()
}

/// Kernel slab memory in bytes (`Slab:` of /proc/meminfo): socket structures of both
/// ends, files, epoll items. Noisy, but at thousands of connections the delta is clear.
fn slab_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("Slab:"))?;
    line.split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()
        .map(|kb| kb * 1024)
}

/// The server's stats, the socket counts and the slab bytes, read at one moment.
#[derive(Clone, Debug, Default)]
pub(crate) struct Snapshot {
    /// The server's `/stats` JSON, when it has an admin listener and answered.
    pub server: Option<Value>,
    /// `/proc/net/sockstat`.
    pub sockstat: Option<Sockstat>,
    /// Kernel slab memory, bytes.
    pub slab: Option<u64>,
}

impl Snapshot {
    /// Read all three now (the server's only when `admin` is known).
    pub fn take(admin: Option<SocketAddr>) -> Snapshot {
        Snapshot {
            server: admin.and_then(|a| fetch_stats(a).ok()),
            sockstat: readyloop::limits::sockstat(),
            slab: slab_bytes(),
        }
    }
}

/// What was seen while every connection was held: the result, the count held at once,
/// and the snapshot taken at that moment.
#[derive(Debug)]
pub(crate) struct Observed {
    /// The probe's result (merged over processes with `--procs`).
    pub result: ProbeResult,
    /// Connections open when the ramp ended (summed over processes): held at once.
    pub held_at_once: u64,
    /// Read while they were held.
    pub during: Snapshot,
    /// Each process's own stop, in the order they were started (one entry without
    /// `--procs`); `result.stop` is the one that names the limit.
    pub stops: Vec<super::ramp::Stop>,
}
