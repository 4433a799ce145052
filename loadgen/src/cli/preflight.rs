//! The preflight connect: one connection to the target before anything starts.
//!
//! A run or a probe against an address where nothing answers would otherwise start its
//! workers and report a wall of connect errors; one blocking connect first fails fast
//! with one clear line (exit 1) and a hint at the likely cause. A target of several
//! addresses passes once one of them answers: the others' failures show in the run's
//! errors, as they would if those servers went away during it.

use crate::error::Error;
use std::net::SocketAddr;
use std::time::Duration;

/// Connect to `addrs` in turn, each within `timeout`, until one answers (and close
/// again); when none does, the error names the first and what probably went wrong.
pub(super) fn preflight(addrs: &[SocketAddr], timeout: Duration) -> Result<(), Error> {
    let mut first = None;
    for &addr in addrs {
        match connect_once(addr, timeout) {
            Ok(()) => return Ok(()),
            Err(e) => {
                first.get_or_insert(e);
            }
        }
    }
    let more = match addrs.len() {
        0 | 1 => String::new(),
        n => format!("; nor did the other {} addresses answer", n - 1),
    };
    let first = first.unwrap_or_else(|| "no address to connect to".to_string());
    Err(Error::Target(format!("{first}{more}")))
}

/// Connect to `addr` once and close again; the error says why not.
fn connect_once(addr: SocketAddr, timeout: Duration) -> Result<(), String> {
    match std::net::TcpStream::connect_timeout(&addr, timeout.max(Duration::from_millis(1))) {
        Ok(s) => {
            // Close with RST: a FIN would leave this port in TIME_WAIT toward the target,
            // one port fewer for a probe of the port range.
            let _ = nix::sys::socket::setsockopt(
                &s,
                nix::sys::socket::sockopt::Linger,
                &libc::linger {
                    l_onoff: 1,
                    l_linger: 0,
                },
            );
            Ok(())
        }
        Err(e) => {
            let hint = match e.kind() {
                std::io::ErrorKind::ConnectionRefused => " (nothing listening there?)",
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                    " (no answer: backlog full or host unreachable?)"
                }
                _ => "",
            };
            Err(format!("cannot connect to {addr}: {e}{hint}"))
        }
    }
}
