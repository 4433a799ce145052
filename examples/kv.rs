//! An in-memory key-value server with its own line protocol: the map is the state all
//! connections share, lent to each protocol call through the context (no
//! `Rc<RefCell<..>>` anywhere).
//!
//! ```sh
//! cargo run --example kv                  # listens on 127.0.0.1:7002
//! printf 'SET greeting hello\nGET greeting\nDEL greeting\nGET greeting\n' | nc -q1 127.0.0.1 7002
//! OK
//! VALUE hello
//! OK
//! NONE
//! ```
//!
//! Commands: `SET key value`, `GET key`, `DEL key`, `LEN`. A line longer than
//! `MAX_LINE` or a store of `MAX_KEYS` keys gets an `ERR`: every per-connection and
//! per-server cost stays bounded.

use readyloop::protocol::{Cx, Protocol, Step, Verdict};
use readyloop::{Config, ListenOptions, Reactor, ServeWith};
use std::collections::HashMap;
use std::io::Write;

/// Longest command line, newline included.
const MAX_LINE: usize = 4096;
/// Most keys the store holds.
const MAX_KEYS: usize = 100_000;

/// The shared state: every connection's protocol gets `&mut Store` on each call.
#[derive(Default)]
struct Store {
    map: HashMap<Vec<u8>, Vec<u8>>,
}

/// One connection: stateless between lines (the map is not its own).
struct Kv;

impl Protocol for Kv {
    type Context = Store;

    fn on_input(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        budget: usize,
        cx: &mut Cx<Store>,
    ) -> Step {
        let start = out.len();
        let mut used = 0;
        while let Some(nl) = input[used..].iter().position(|&b| b == b'\n') {
            let line = &input[used..used + nl];
            used += nl + 1;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            answer(line, &mut cx.ctx.map, out);
            // Stop after the answer that reaches the budget: the rest of the input
            // waits until the peer has read what was said.
            if out.len() - start >= budget {
                return Step::cont(used);
            }
        }
        if input.len() - used >= MAX_LINE {
            out.extend_from_slice(b"ERR line too long\n");
            return Step {
                consumed: input.len(),
                verdict: Verdict::CloseAfterFlush,
            };
        }
        // A partial line stays with the reactor and comes back with the next bytes.
        Step::cont(used)
    }
}

/// Run one command against the map, appending its answer.
fn answer(line: &[u8], map: &mut HashMap<Vec<u8>, Vec<u8>>, out: &mut Vec<u8>) {
    let mut words = line.splitn(3, |&b| b == b' ');
    let cmd = words.next().unwrap_or_default();
    match (cmd, words.next(), words.next()) {
        (b"SET", Some(k), Some(v)) => {
            if map.len() >= MAX_KEYS && !map.contains_key(k) {
                out.extend_from_slice(b"ERR store full\n");
            } else {
                map.insert(k.to_vec(), v.to_vec());
                out.extend_from_slice(b"OK\n");
            }
        }
        (b"GET", Some(k), None) => match map.get(k) {
            Some(v) => {
                out.extend_from_slice(b"VALUE ");
                out.extend_from_slice(v);
                out.push(b'\n');
            }
            None => out.extend_from_slice(b"NONE\n"),
        },
        (b"DEL", Some(k), None) => {
            map.remove(k);
            out.extend_from_slice(b"OK\n");
        }
        (b"LEN", None, None) => out.extend_from_slice(format!("LEN {}\n", map.len()).as_bytes()),
        _ => out.extend_from_slice(b"ERR unknown command\n"),
    }
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7002".into());
    let addr = addr.parse().map_err(|e| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{addr}: {e}"))
    })?;
    // `Reactor::new` starts from `Store::default()`; `Reactor::with_context` takes one
    // made elsewhere (loaded from a file, say).
    let mut reactor: Reactor<Kv> = Reactor::new(Config::default())?;
    let listener = reactor.listen(addr, &ListenOptions::default())?;
    println!("kv listening on {}", reactor.local_addr(listener)?);
    std::io::stdout().flush()?;
    reactor.run(&mut ServeWith(|| Kv))
}
