//! Embedding the reactor in a tool of your own: a protocol of its own (an upper-casing
//! line service), a source of its own (a UDP socket that counts datagrams), a timer of
//! its own (a report every 200 ms), and a stop from another thread.
//!
//! ```sh
//! cargo run --example embed
//! ```
//!
//! It talks to itself on 127.0.0.1 for about a second and exits.

use mio::net::UdpSocket;
use mio::Interest;
use readyloop::protocol::{Cx, Protocol, Step, Verdict};
use readyloop::{CloseReason, Config, ConnId, Host, ListenOptions, ListenerId, Reactor, SourceId};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Sans-IO: each complete line comes back upper-cased; a partial line waits.
struct Upper;

impl Protocol for Upper {
    fn on_input(&mut self, input: &[u8], out: &mut Vec<u8>, _budget: usize, _cx: &mut Cx) -> Step {
        let mut used = 0;
        while let Some(n) = input[used..].iter().position(|&b| b == b'\n') {
            out.extend(input[used..used + n + 1].iter().map(u8::to_ascii_uppercase));
            used += n + 1;
        }
        Step::cont(used)
    }

    fn on_eof(&mut self, _out: &mut Vec<u8>, _cx: &mut Cx) -> Verdict {
        Verdict::CloseAfterFlush
    }
}

/// The host: hands out protocols, owns the UDP socket, reports on a timer.
struct Tool {
    udp: UdpSocket,
    udp_id: Option<SourceId>,
    datagrams: u64,
    closed: u64,
}

const REPORT: u64 = 1;

impl Host<Upper> for Tool {
    fn accept(&mut self, _l: ListenerId, _peer: SocketAddr) -> Option<Upper> {
        Some(Upper)
    }

    fn closed(
        &mut self,
        _r: &mut Reactor<Upper>,
        _id: ConnId,
        _p: Upper,
        _why: CloseReason,
        _e: Option<i32>,
    ) {
        self.closed += 1;
    }

    fn source_ready(&mut self, _r: &mut Reactor<Upper>, id: SourceId, _ev: &mio::event::Event) {
        if Some(id) != self.udp_id {
            return;
        }
        // Edge-triggered: drain until WouldBlock.
        let mut buf = [0u8; 1500];
        while self.udp.recv_from(&mut buf).is_ok() {
            self.datagrams += 1;
        }
    }

    fn timer(&mut self, r: &mut Reactor<Upper>, key: u64) {
        if key == REPORT {
            let s = r.snapshot().stats;
            println!(
                "tool: {} tcp connections active, {} bytes answered so far, {} datagrams",
                s.active, s.bytes_out, self.datagrams
            );
            r.set_timer(r.now() + Duration::from_millis(200), REPORT);
        }
    }
}

fn main() -> std::io::Result<()> {
    let mut reactor: Reactor<Upper> = Reactor::new(Config::default())?;
    let tcp = reactor.listen("127.0.0.1:0".parse().unwrap(), &ListenOptions::default())?;
    let tcp_addr = reactor.local_addr(tcp)?;
    let mut tool = Tool {
        udp: UdpSocket::bind("127.0.0.1:0".parse().unwrap())?,
        udp_id: None,
        datagrams: 0,
        closed: 0,
    };
    let udp_addr = tool.udp.local_addr()?;
    tool.udp_id = Some(reactor.register(&mut tool.udp, Interest::READABLE)?);
    reactor.set_timer(Instant::now() + Duration::from_millis(200), REPORT);
    let handle = reactor.handle();

    // Another thread plays the user: TCP lines, UDP datagrams, then a graceful stop.
    let user = std::thread::spawn(move || -> std::io::Result<()> {
        let mut s = TcpStream::connect(tcp_addr)?;
        let mut r = BufReader::new(s.try_clone()?);
        let udp = std::net::UdpSocket::bind("127.0.0.1:0")?;
        for i in 0..5 {
            writeln!(s, "hello number {i}")?;
            let mut line = String::new();
            r.read_line(&mut line)?;
            print!("user got: {line}");
            udp.send_to(b"ping", udp_addr)?;
            std::thread::sleep(Duration::from_millis(150));
        }
        drop(s);
        handle.shutdown();
        Ok(())
    });

    reactor.run(&mut tool)?;
    user.join().expect("user thread")?;
    println!(
        "tool: done: {} datagrams, {} connections closed",
        tool.datagrams, tool.closed
    );
    Ok(())
}
