//! Debian's dnsmasq, started by a test as an authoritative-only DNS server on a free
//! loopback port (UDP and TCP), serving the records it is given on its command line
//! and nothing else: no /etc/hosts, no resolv.conf, no upstream, no configuration
//! file, and `--local=/test/` so that any other name under `test` is NXDOMAIN. It
//! runs in the foreground as one process (`--no-daemon`: no fork, TCP queries served
//! in-process, no pid file, no change of user), is ready once it answers a query, and
//! is killed and waited on when the guard drops, a failed test included; its log
//! folder is removed then.
//!
//! Without dnsmasq the tests that need it skip and say so, unless
//! READYLOOP_REQUIRE_TOOLS=1 (`apt-get install dnsmasq-base`: the program alone,
//! without the system service of the `dnsmasq` package; Debian puts it in /usr/sbin).
#![allow(dead_code)] // each test binary uses a different subset

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long dnsmasq may take to answer its first query.
const START: Duration = Duration::from_secs(10);

/// The dnsmasq program: on PATH, or Debian's /usr/sbin (not on a user's PATH).
fn program() -> Option<&'static str> {
    ["dnsmasq", "/usr/sbin/dnsmasq"].into_iter().find(|p| {
        Command::new(p)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Whether dnsmasq can be run here: `false` (and a note) when it is missing, a
/// failure under READYLOOP_REQUIRE_TOOLS=1.
pub fn have_dnsmasq() -> bool {
    if program().is_some() {
        return true;
    }
    assert!(
        std::env::var("READYLOOP_REQUIRE_TOOLS").as_deref() != Ok("1"),
        "READYLOOP_REQUIRE_TOOLS=1 but dnsmasq is missing (apt-get install dnsmasq-base)"
    );
    eprintln!("skipping: dnsmasq is not installed (apt-get install dnsmasq-base)");
    false
}

/// A running dnsmasq; killed, waited on and its folder removed on drop.
pub struct Dnsmasq {
    child: Child,
    dir: PathBuf,
    /// Where it answers, over UDP and TCP.
    pub addr: SocketAddr,
}

/// A port free on 127.0.0.1 for both UDP and TCP now (dnsmasq binds it a moment
/// later: a start that finds it taken is retried with another).
fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl Dnsmasq {
    /// Starts dnsmasq with `records` (its own options: `--host-record=...`,
    /// `--txt-record=...`), waits until it answers `probe` (a query, already
    /// encoded) over UDP.
    pub fn start(tag: &str, records: &[String], probe: &[u8]) -> Dnsmasq {
        let prog = program().expect("have_dnsmasq() first");
        let mut dir = std::env::temp_dir().join(format!("rl-dnsmasq-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for attempt in 0.. {
            let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let child = Command::new(prog)
                .args([
                    "--no-daemon",
                    "--conf-file=/dev/null",
                    "--log-facility=-",
                    "--no-resolv",
                    "--no-hosts",
                    "--no-poll",
                    "--bind-interfaces",
                    "--listen-address=127.0.0.1",
                    "--local=/test/",
                    "--edns-packet-max=4096",
                ])
                .arg(format!("--port={}", addr.port()))
                .args(records)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.join("stderr")).unwrap())
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {prog}: {e}"));
            let mut d = Dnsmasq { child, dir, addr };
            match d.wait_answering(probe) {
                Ok(()) => return d,
                Err(why) if why.contains("Address already in use") && attempt < 5 => {
                    // Another process took the port in between: again, with another.
                    d.stop();
                    dir = std::mem::take(&mut d.dir);
                }
                Err(why) => panic!("dnsmasq did not start: {why}"),
            }
        }
        unreachable!()
    }

    /// Until a UDP query gets a reply; its stderr when it exits first.
    fn wait_answering(&mut self, probe: &[u8]) -> Result<(), String> {
        let deadline = Instant::now() + START;
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut buf = [0u8; 4096];
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Err(format!("exited {st}: {}", self.logs()));
            }
            // Refused (nothing bound yet) and timeouts alike: try again.
            if sock.send_to(probe, self.addr).is_ok() && sock.recv(&mut buf).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("no answer after {START:?}: {}", self.logs()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What it wrote to stderr, for a failure message.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        self.stop();
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
