//! A UDP service beside a TCP one, on one reactor and one port: TCP echoes what it is
//! sent; UDP echoes every datagram to its sender, and answers a datagram that says
//! `stats` with what both have counted in the context they share.
//!
//! ```sh
//! cargo run --example udp_echo                  # 127.0.0.1:7002, TCP and UDP
//! printf 'hello' | nc -q1 127.0.0.1 7002        # TCP: hello
//! printf 'hi' | nc -u -w1 127.0.0.1 7002        # UDP: hi
//! printf 'stats' | nc -u -w1 127.0.0.1 7002     # UDP: tcp_bytes=5 datagrams=2
//! ```
//!
//! Ctrl-C ends it.

use readyloop::protocol::{Cx, Protocol, Step};
use readyloop::udp::{Datagram, Datagrams, DgCx, Outbox, UdpOptions};
use readyloop::{Config, ListenOptions, Reactor, ServeWith};
use std::io::Write;

/// What the TCP connections and the UDP socket count together: the protocols'
/// shared context, lent to both.
#[derive(Default)]
struct Counts {
    tcp_bytes: u64,
    datagrams: u64,
}

/// TCP: every byte back, counted.
struct Echo;

impl Protocol for Echo {
    type Context = Counts;

    fn on_input(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        budget: usize,
        cx: &mut Cx<Counts>,
    ) -> Step {
        let n = input.len().min(budget.max(1));
        out.extend_from_slice(&input[..n]);
        cx.ctx.tcp_bytes += n as u64;
        Step::cont(n)
    }
}

/// UDP: each datagram back to its sender, but `stats`, answered with the counts.
struct UdpEcho;

impl Datagrams<Counts> for UdpEcho {
    fn on_datagram(&mut self, dg: Datagram<'_>, out: &mut Outbox, cx: &mut DgCx<'_, Counts>) {
        if dg.data == b"stats" {
            let c = &cx.ctx;
            let line = format!("tcp_bytes={} datagrams={}", c.tcp_bytes, c.datagrams);
            out.send(dg.peer, line.as_bytes());
            return;
        }
        cx.ctx.datagrams += 1;
        out.send(dg.peer, dg.data);
    }
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7002".into());
    let addr = addr.parse().map_err(|e| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{addr}: {e}"))
    })?;
    let mut reactor: Reactor<Echo> = Reactor::new(Config::default())?;
    let listener = reactor.listen(addr, &ListenOptions::default())?;
    let tcp = reactor.local_addr(listener)?;
    // The same port over UDP (port 0 asked: the one TCP got).
    let udp = reactor.bind_udp(tcp, &UdpOptions::default(), Box::new(UdpEcho))?;
    println!(
        "udp_echo listening on {tcp} (TCP) and {} (UDP)",
        reactor.udp_local_addr(udp)?
    );
    std::io::stdout().flush()?;
    reactor.run(&mut ServeWith(|| Echo))
}
