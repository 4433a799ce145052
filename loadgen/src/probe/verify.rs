//! What `--verify` says on each held connection and what counts as its answer, in the
//! protocol of the server probed: one byte and its echo for an echo server (the
//! embedded one), `GET /` and a response for an HTTP server (`readyloop`'s default).
//!
//! The protocol is `--proto` when given, else the one the server's own stats name
//! (`--server-stats`: readyloop's `/stats` has `proto`), else echo ([`choose`]). Before
//! the ramp one connection tries the exchange ([`check`]): a server that does not
//! answer it is refused up front, naming why, instead of every held connection being
//! reported "too slow to answer" after the ramp (an HTTP server sent one byte waits
//! for the rest of a request and says nothing).

use serde_json::Value;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The byte an echo verify sends, and expects back.
pub(crate) const VERIFY_BYTE: u8 = b'v';

/// The protocol `--verify` speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum VerifyProto {
    /// One byte, answered by its echo.
    #[default]
    Echo,
    /// `GET / HTTP/1.1`, answered by a response (any status: the server is there).
    Http,
}

impl VerifyProto {
    /// Its name as `--proto` takes it.
    pub fn name(self) -> &'static str {
        match self {
            VerifyProto::Echo => "echo",
            VerifyProto::Http => "http",
        }
    }

    /// What is sent on each held connection toward `target`.
    pub fn request(self, target: SocketAddr) -> Vec<u8> {
        match self {
            VerifyProto::Echo => vec![VERIFY_BYTE],
            VerifyProto::Http => format!("GET / HTTP/1.1\r\nHost: {target}\r\n\r\n").into_bytes(),
        }
    }

    /// Whether `input`, read after the request went out, is the answer. For HTTP the
    /// first bytes of any response are: a server speaks only when asked.
    pub(crate) fn is_answer(self, input: &[u8]) -> bool {
        match self {
            VerifyProto::Echo => input.contains(&VERIFY_BYTE),
            VerifyProto::Http => !input.is_empty(),
        }
    }
}

impl std::str::FromStr for VerifyProto {
    type Err = String;
    fn from_str(s: &str) -> Result<VerifyProto, String> {
        match s {
            "echo" => Ok(VerifyProto::Echo),
            "http" => Ok(VerifyProto::Http),
            _ => Err(format!("{s:?}: --verify speaks echo or http")),
        }
    }
}

/// The protocol verify speaks: `flag` (`--proto`), else the one `stats` (the server's
/// `/stats`) name, else echo. A server whose stats name another protocol is refused:
/// verify has nothing it could send it.
pub(crate) fn choose(
    flag: Option<VerifyProto>,
    stats: Option<&Value>,
) -> Result<VerifyProto, String> {
    if let Some(p) = flag {
        return Ok(p);
    }
    match stats.and_then(|s| s["proto"].as_str()) {
        None => Ok(VerifyProto::Echo),
        Some(named) => named.parse().map_err(|_| {
            format!(
                "--verify: the server's stats say it speaks {named}; --verify speaks echo or http \
                 (leave --verify out to count held connections only)"
            )
        }),
    }
}

/// Try the verify exchange on one connection to `target` before the ramp; `Err` is the
/// one line that says why verify cannot work there. A connect that fails is not this
/// check's to judge (the ramp reports it). The connection ends with a reset, as the
/// probe's own do: a graceful close would leave its port in TIME_WAIT, one port fewer
/// for a probe that may be measuring how many there are.
pub fn check(target: SocketAddr, proto: VerifyProto, timeout: Duration) -> Result<(), String> {
    let Ok(mut s) = TcpStream::connect_timeout(&target, timeout) else {
        return Ok(());
    };
    let reset = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let _ = nix::sys::socket::setsockopt(&s, nix::sys::socket::sockopt::Linger, &reset);
    if s.write_all(&proto.request(target)).is_err() {
        return Ok(()); // closed before it could be asked: the ramp will see why
    }
    let (got, closed) = read_until(&mut s, timeout, |b| proto.is_answer(b));
    if proto.is_answer(&got) {
        return Ok(());
    }
    let how = if closed {
        "it closed the connection".to_string()
    } else {
        format!("nothing came in {}", crate::fmt::fmt_secs(timeout))
    };
    Err(match proto {
        VerifyProto::Echo if got.starts_with(b"HTTP/") => format!(
            "--verify: {target} answered one byte with HTTP, not its echo: give --proto http"
        ),
        VerifyProto::Echo => format!(
            "--verify: {target} did not echo one byte ({how}): --verify checks each held \
             connection by an echo, as the embedded server's; for an HTTP server give --proto http"
        ),
        VerifyProto::Http => format!(
            "--verify --proto http: {target} did not answer GET / with a response ({how}); \
             for an echo server give --proto echo"
        ),
    })
}

/// Read from `s` until `done` holds for what came, the peer closes, or `timeout`
/// passes; returns what came and whether the peer closed.
fn read_until(
    s: &mut TcpStream,
    timeout: Duration,
    done: impl Fn(&[u8]) -> bool,
) -> (Vec<u8>, bool) {
    let until = Instant::now() + timeout;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        // A zero timeout would mean "block for ever" to set_read_timeout.
        if left.is_zero() || s.set_read_timeout(Some(left)).is_err() {
            return (got, false);
        }
        match s.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                // Bounded: a server that streams without end is still not an answer.
                if done(&got) || got.len() > 64 * 1024 {
                    return (got, false);
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return (got, false)
            }
            Err(_) => return (got, true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_choose_takes_the_flag_then_the_servers_stats_then_echo() {
        let http = serde_json::json!({"proto": "http"});
        let resp = serde_json::json!({"proto": "resp"});
        assert_eq!(
            choose(Some(VerifyProto::Echo), Some(&http)),
            Ok(VerifyProto::Echo)
        );
        assert_eq!(choose(None, Some(&http)), Ok(VerifyProto::Http));
        assert_eq!(choose(None, None), Ok(VerifyProto::Echo));
        assert_eq!(
            choose(None, Some(&serde_json::json!({}))),
            Ok(VerifyProto::Echo)
        );
        let e = choose(None, Some(&resp)).expect_err("resp");
        assert!(e.contains("speaks resp"), "{e}");
    }

    #[test]
    fn test_answers() {
        assert!(VerifyProto::Echo.is_answer(b"v"));
        assert!(!VerifyProto::Echo.is_answer(b"HTTP/1.1 400"));
        assert!(VerifyProto::Http.is_answer(b"HTTP/1.1 200 OK\r\n"));
        let t = SocketAddr::from(([127, 0, 0, 1], 80));
        assert_eq!(VerifyProto::Echo.request(t), b"v");
        assert!(VerifyProto::Http
            .request(t)
            .starts_with(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:80\r\n"));
    }
}
