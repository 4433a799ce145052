//! The examples run: each is started as the binary `cargo test` builds, on a free
//! port, and spoken to as its docs say. An example that stops compiling, or stops doing
//! what its docs promise, fails here.

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;
use util::{wait_child, IO_TIMEOUT};

/// An example's binary: `cargo test` builds examples next to the test binaries'
/// `deps` directory.
fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    dir.join("examples").join(name)
}

/// A running example, killed and waited on when dropped.
struct Example {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
    addr: SocketAddr,
}

impl Example {
    /// Start `name` on a free port and read the address from its first line
    /// (`NAME listening on ADDR ...`).
    fn start(name: &str) -> Example {
        Example::start_with(name, &[])
    }

    /// Start `name` on a free port with `more` arguments after the address.
    fn start_with(name: &str, more: &[&std::ffi::OsStr]) -> Example {
        let path = example_path(name);
        let mut child = Command::new(&path)
            .arg("127.0.0.1:0")
            .args(more)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        out.read_line(&mut line).expect("first line");
        let addr = line
            .split(" listening on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("{name}: unexpected first line {line:?}"));
        Example { child, out, addr }
    }

    fn connect(&self) -> (TcpStream, BufReader<TcpStream>) {
        let s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let r = BufReader::new(s.try_clone().unwrap());
        (s, r)
    }

    /// Send SIGINT (Ctrl-C) and wait for the exit.
    fn interrupt(&mut self) -> Option<ExitStatus> {
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        wait_child(&mut self.child, Duration::from_secs(10))
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn line(r: &mut BufReader<TcpStream>) -> String {
    let mut l = String::new();
    r.read_line(&mut l).expect("a line");
    l
}

#[test]
fn echo_example_sends_every_byte_back() {
    let ex = Example::start("echo");
    let (mut s, _) = ex.connect();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let writer = {
        let mut s = s.try_clone().unwrap();
        let data = data.clone();
        std::thread::spawn(move || s.write_all(&data))
    };
    let mut got = vec![0u8; data.len()];
    s.read_exact(&mut got).expect("the echo");
    writer.join().unwrap().unwrap();
    assert!(got == data, "the echo differs");
}

#[test]
fn kv_example_shares_its_store_between_connections() {
    let ex = Example::start("kv");
    let (mut a, mut ra) = ex.connect();
    let (mut b, mut rb) = ex.connect();
    a.write_all(b"SET greeting hello world\n").unwrap();
    assert_eq!(line(&mut ra), "OK\n");
    // Another connection sees it: the map is the reactor's shared context.
    b.write_all(b"GET greeting\nLEN\n").unwrap();
    assert_eq!(line(&mut rb), "VALUE hello world\n");
    assert_eq!(line(&mut rb), "LEN 1\n");
    // A command split over two writes is answered once it is whole.
    b.write_all(b"DEL gre").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    b.write_all(b"eting\r\nGET greeting\nBOGUS\n").unwrap();
    assert_eq!(line(&mut rb), "OK\n");
    assert_eq!(line(&mut rb), "NONE\n");
    assert_eq!(line(&mut rb), "ERR unknown command\n");
    // A line past the limit is refused and the connection closed.
    a.write_all(&[b'x'; 5000]).unwrap();
    assert_eq!(line(&mut ra), "ERR line too long\n");
    let mut rest = Vec::new();
    let _ = ra.read_to_end(&mut rest);
    assert!(rest.is_empty(), "closed after the error");
}

#[test]
fn chat_example_broadcasts_to_the_others_only() {
    let ex = Example::start("chat");
    let (mut a, mut ra) = ex.connect();
    let (_b, mut rb) = ex.connect();
    // A learns that B joined; B hears nothing of its own join.
    assert_eq!(line(&mut ra), "* member 2 joined\n");
    let (_c, mut rc) = ex.connect();
    assert_eq!(line(&mut ra), "* member 3 joined\n");
    assert_eq!(line(&mut rb), "* member 3 joined\n");
    a.write_all(b"hello room\n").unwrap();
    assert_eq!(line(&mut rb), "member 1: hello room\n");
    assert_eq!(line(&mut rc), "member 1: hello room\n");
    let mut b = _b;
    b.write_all(b"hi a\n").unwrap();
    // A's next line is B's: its own line never came back to it.
    assert_eq!(line(&mut ra), "member 2: hi a\n");
    assert_eq!(line(&mut rc), "member 2: hi a\n");
    a.shutdown(std::net::Shutdown::Both).unwrap();
    assert_eq!(line(&mut rb), "* member 1 left\n");
    assert_eq!(line(&mut rc), "* member 1 left\n");
}

#[test]
fn host_loop_example_serves_tcp_and_its_own_udp_and_stops_on_ctrl_c() {
    let mut ex = Example::start("host_loop");
    let (mut s, mut r) = ex.connect();
    s.write_all(b"hello\n").unwrap();
    assert_eq!(line(&mut r), "HELLO\n");
    // The host's own source, answered from the host's own loop.
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    udp.send_to(b"stats", ex.addr).unwrap();
    let mut buf = [0u8; 2048];
    let n = udp.recv(&mut buf).expect("the stats datagram");
    let stats = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(stats.starts_with("active=1 accepted=1 "), "{stats}");
    // Ctrl-C: a graceful shutdown from the signal thread; the open client is closed
    // as idle, the loop ends and reports.
    let st = ex.interrupt().expect("exits after SIGINT");
    assert_eq!(st.code(), Some(0));
    let mut last = String::new();
    ex.out.read_to_string(&mut last).unwrap();
    assert!(last.contains("host_loop stopped: "), "{last:?}");
    assert!(last.contains("(1 datagrams)"), "{last:?}");
    let mut rest = Vec::new();
    let _ = r.read_to_end(&mut rest);
    assert!(rest.is_empty());
}

#[test]
fn udp_echo_example_serves_tcp_and_udp_sharing_their_counts() {
    let ex = Example::start("udp_echo");
    let (mut s, _) = ex.connect();
    s.write_all(b"hello").unwrap();
    let mut got = [0u8; 5];
    s.read_exact(&mut got).expect("the TCP echo");
    assert_eq!(&got, b"hello");
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut buf = [0u8; 128];
    for d in [&b"hi"[..], b"there"] {
        udp.send_to(d, ex.addr).unwrap();
        let n = udp.recv(&mut buf).expect("the UDP echo");
        assert_eq!(&buf[..n], d);
    }
    udp.send_to(b"stats", ex.addr).unwrap();
    let n = udp.recv(&mut buf).expect("the counts");
    assert_eq!(&buf[..n], b"tcp_bytes=5 datagrams=2");
}

#[test]
fn tls_echo_example_echoes_over_tls() {
    use readyloop::tls::{self, rustls};
    use std::sync::Arc;
    let dir = std::env::temp_dir().join(format!("rl-ex-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let ex = Example::start_with("tls_echo", &[cert.as_os_str(), key.as_os_str()]);
    let cfg = tls::client_config(&tls::ClientOptions {
        roots: tls::Roots::File(cert.clone()),
        ..Default::default()
    })
    .unwrap();
    let name = "localhost".try_into().unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(cfg), name).unwrap();
    let (mut sock, _) = ex.connect();
    let mut stream = rustls::Stream::new(&mut conn, &mut sock);
    let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    stream.write_all(&data).unwrap();
    let mut got = vec![0u8; data.len()];
    stream.read_exact(&mut got).expect("the echo, decrypted");
    assert!(got == data, "the echo differs");
    std::fs::remove_dir_all(&dir).unwrap();
}
