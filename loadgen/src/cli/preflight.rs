//! The preflight connect: one connection to the target before anything starts.
//!
//! A run or a probe against an address where nothing answers would otherwise start its
//! workers and report a wall of connect errors; one blocking connect first fails fast
//! with one clear line (exit 1) and a hint at the likely cause.

use crate::error::Error;
use std::net::SocketAddr;
use std::time::Duration;

/// Connect to `addr` once, within `timeout`, and close again; an error names the
/// address and what probably went wrong.
pub(super) fn preflight(addr: SocketAddr, timeout: Duration) -> Result<(), Error> {
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
            Err(Error::Target(format!(
                "cannot connect to {addr}: {e}{hint}"
            )))
        }
    }
}
