//! The reactor inside a loop the host owns, beside sources of the host's own, and
//! stopped from another thread on Ctrl-C.
//!
//! The host here is a small tool with two faces: TCP clients get each line back
//! upper-cased (served by the reactor), and a UDP socket (served by the host itself,
//! not registered with the reactor) answers any datagram with the reactor's counters.
//! The host's own `mio::Poll` waits on both the UDP socket and the reactor's epoll
//! descriptor, with the reactor's next deadline as timeout, and gives the reactor a
//! non-blocking turn whenever it may have work. This is how the reactor fits into
//! calloop, tokio's `AsyncFd` or any event loop that is not its own.
//!
//! ```sh
//! cargo run --example host_loop              # TCP and UDP on 127.0.0.1:7004
//! printf 'hello\n' | nc -q1 127.0.0.1 7004   # HELLO
//! echo stats | nc -u -w1 127.0.0.1 7004      # active=0 accepted=1 ...
//! ```
//!
//! Ctrl-C (or SIGTERM) starts a graceful shutdown from a signal thread through the
//! reactor's [`Handle`]: listeners close, open connections finish, the loop ends and
//! prints its final counters.

use readyloop::mio::net::UdpSocket;
use readyloop::mio::unix::SourceFd;
use readyloop::mio::{Events, Interest, Poll, Token};
use readyloop::protocol::{Cx, Protocol, Step, Verdict};
use readyloop::{Config, Handle, ListenOptions, Reactor, ServeWith};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Each complete line comes back upper-cased; a partial line waits for its end.
struct Upper;

impl Protocol for Upper {
    type Context = ();

    fn on_input(&mut self, input: &[u8], out: &mut Vec<u8>, budget: usize, _: &mut Cx<()>) -> Step {
        let start = out.len();
        let mut used = 0;
        while let Some(n) = input[used..].iter().position(|&b| b == b'\n') {
            out.extend(input[used..used + n + 1].iter().map(u8::to_ascii_uppercase));
            used += n + 1;
            if out.len() - start >= budget {
                break;
            }
        }
        if input.len() - used > 4096 {
            return Step {
                consumed: input.len(),
                verdict: Verdict::Close,
            };
        }
        Step::cont(used)
    }
}

const REACTOR: Token = Token(0);
const UDP: Token = Token(1);

fn main() -> io::Result<()> {
    let addr: SocketAddr = match std::env::args().nth(1) {
        Some(a) => a
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{a}: {e}")))?,
        None => SocketAddr::from(([127, 0, 0, 1], 7004)),
    };
    let mut reactor: Reactor<Upper> = Reactor::new(Config::default())?;
    let listener = reactor.listen(addr, &ListenOptions::default())?;
    let tcp_addr = reactor.local_addr(listener)?;
    // The host's own source, on the same port number over UDP.
    let mut udp = UdpSocket::bind(tcp_addr)?;
    println!(
        "host_loop listening on {tcp_addr} (tcp) and {} (udp)",
        udp.local_addr()?
    );
    io::stdout().flush()?;

    stop_on_signals(reactor.handle())?;

    // The host's loop: its own poll, watching its UDP socket and the reactor.
    let mut poll = Poll::new()?;
    poll.registry().register(
        &mut SourceFd(&reactor.as_raw_fd()),
        REACTOR,
        Interest::READABLE,
    )?;
    poll.registry()
        .register(&mut udp, UDP, Interest::READABLE)?;
    let mut events = Events::with_capacity(64);
    let mut host = ServeWith(|| Upper);
    let mut datagrams = 0u64;
    while !reactor.is_done() {
        // Sleep until the reactor's descriptor or the UDP socket is ready, or the
        // reactor's next deadline (an idle timeout, a timer) comes.
        let timeout = reactor
            .poll_at()
            .map(|t| t.saturating_duration_since(Instant::now()));
        match poll.poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for ev in events.iter() {
            if ev.token() == UDP {
                // Edge-triggered: read until WouldBlock.
                let mut buf = [0u8; 512];
                while let Ok((_, from)) = udp.recv_from(&mut buf) {
                    datagrams += 1;
                    let line = format!("{}\n", reactor.snapshot().stats.line());
                    let _ = udp.send_to(line.as_bytes(), from);
                }
            }
        }
        // One turn that never blocks: the waiting was done above.
        reactor.turn(&mut host, Some(Duration::ZERO))?;
    }
    println!(
        "host_loop stopped: {} ({datagrams} datagrams)",
        reactor.snapshot().stats.line()
    );
    Ok(())
}

/// A thread that waits for SIGINT or SIGTERM and asks the reactor to shut down through
/// its [`Handle`], the one part of the reactor that may be used from another thread.
fn stop_on_signals(handle: Handle) -> io::Result<()> {
    let mut set = nix::sys::signal::SigSet::empty();
    set.add(nix::sys::signal::Signal::SIGINT);
    set.add(nix::sys::signal::Signal::SIGTERM);
    // Blocked here, before any other thread exists, so every thread inherits the
    // mask and only the waiting thread below ever takes the signal.
    set.thread_block().map_err(io::Error::from)?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Ok(sig) = set.wait() {
                eprintln!("host_loop: {sig}: shutting down");
                handle.shutdown();
            }
        })?;
    Ok(())
}
