//! The smallest complete server on the reactor: a protocol that sends every byte back,
//! a listener, and the loop.
//!
//! ```sh
//! cargo run --example echo                  # listens on 127.0.0.1:7001
//! cargo run --example echo -- 127.0.0.1:0   # any free port (printed)
//! printf 'hello\n' | nc -q1 127.0.0.1 7001
//! ```
//!
//! Ctrl-C ends it.

use readyloop::protocol::{Cx, Protocol, Step};
use readyloop::{Config, ListenOptions, Reactor, ServeWith};
use std::io::Write;

/// A sans-IO protocol: fed bytes, it appends its answer to `out` and says how much of
/// the input it used. It never sees the socket.
struct Echo;

impl Protocol for Echo {
    /// Echo needs nothing shared between connections.
    type Context = ();

    fn on_input(&mut self, input: &[u8], out: &mut Vec<u8>, budget: usize, _: &mut Cx<()>) -> Step {
        // Take no more than the output budget (but at least one byte): the rest stays
        // with the reactor and is offered again once the peer has read the answer.
        let n = input.len().min(budget.max(1));
        out.extend_from_slice(&input[..n]);
        Step::cont(n)
    }
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7001".into());
    let addr = addr.parse().map_err(|e| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{addr}: {e}"))
    })?;
    let mut reactor: Reactor<Echo> = Reactor::new(Config::default())?;
    let listener = reactor.listen(addr, &ListenOptions::default())?;
    println!("echo listening on {}", reactor.local_addr(listener)?);
    std::io::stdout().flush()?;
    // Every accepted connection gets a fresh `Echo`.
    reactor.run(&mut ServeWith(|| Echo))
}
