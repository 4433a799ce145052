//! A chat room: every line one member sends goes to all the others.
//!
//! A protocol cannot write to other connections (it only sees its own bytes), so it
//! leaves each line in the room's outbox, the context all members share; the host,
//! which holds the reactor, delivers the outbox at the end of every turn with
//! [`Reactor::send`]. The member list comes from the ids [`Host::accept`] is given and
//! [`Host::closed`] takes back; those two tell the room themselves.
//!
//! ```sh
//! cargo run --example chat             # listens on 127.0.0.1:7003
//! nc 127.0.0.1 7003                    # in two terminals: type in one, read in the other
//! ```
//!
//! A member that stops reading is not allowed to make the server buffer without end:
//! `send` queues under the reactor's output limit (`ConnLimits::max_output`), over it
//! the member is closed, and the minimum-rate clock closes one that reads too slowly.

use readyloop::protocol::{Cx, Protocol, Step, Verdict};
use readyloop::{CloseReason, Config, ConnId, Host, ListenOptions, ListenerId, Reactor};
use std::io::Write;
use std::net::SocketAddr;

/// Longest line relayed, newline included; a longer one closes its sender.
const MAX_LINE: usize = 1024;

/// What all members share: lines waiting to go out, with their sender.
#[derive(Default)]
struct Room {
    outbox: Vec<(ConnId, Vec<u8>)>,
}

/// One member: its name, given by the host when it joined.
struct Member {
    name: u64,
}

impl Protocol for Member {
    type Context = Room;

    fn on_input(
        &mut self,
        input: &[u8],
        _out: &mut Vec<u8>,
        _budget: usize,
        cx: &mut Cx<Room>,
    ) -> Step {
        let mut used = 0;
        while let Some(nl) = input[used..].iter().position(|&b| b == b'\n') {
            let mut msg = format!("member {}: ", self.name).into_bytes();
            msg.extend_from_slice(&input[used..used + nl + 1]);
            // `cx.id()` is this connection: the host skips it when delivering.
            cx.ctx.outbox.push((cx.id(), msg));
            used += nl + 1;
        }
        if input.len() - used >= MAX_LINE {
            return Step {
                consumed: input.len(),
                verdict: Verdict::Close,
            };
        }
        Step::cont(used)
    }
}

/// The host: names members, keeps the member list, delivers the outbox.
#[derive(Default)]
struct Chat {
    members: Vec<ConnId>,
    joined: u64,
}

impl Host<Member> for Chat {
    fn accept(
        &mut self,
        r: &mut Reactor<Member>,
        id: ConnId,
        _l: ListenerId,
        _peer: SocketAddr,
    ) -> Option<Member> {
        self.joined += 1;
        let name = self.joined;
        // The host holds the reactor, so it tells the others itself.
        self.tell_all(r, id, format!("* member {name} joined\n").as_bytes());
        self.members.push(id);
        Some(Member { name })
    }

    fn closed(
        &mut self,
        r: &mut Reactor<Member>,
        id: ConnId,
        m: Member,
        _why: CloseReason,
        _e: Option<i32>,
    ) {
        self.members.retain(|&x| x != id);
        self.tell_all(r, id, format!("* member {} left\n", m.name).as_bytes());
    }

    fn after_turn(&mut self, r: &mut Reactor<Member>) {
        let mut outbox = std::mem::take(&mut r.context_mut().outbox);
        for (from, msg) in &outbox {
            self.tell_all(r, *from, msg);
        }
        // Give the (emptied) allocation back for the next turn.
        outbox.clear();
        r.context_mut().outbox = outbox;
    }
}

impl Chat {
    /// Queue `msg` to every member but `from`.
    fn tell_all(&self, r: &mut Reactor<Member>, from: ConnId, msg: &[u8]) {
        for &to in &self.members {
            if to != from {
                // False for a member closed this turn: its `closed` comes next.
                r.send(to, msg);
            }
        }
    }
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7003".into());
    let addr = addr.parse().map_err(|e| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{addr}: {e}"))
    })?;
    let mut reactor: Reactor<Member> = Reactor::new(Config::default())?;
    let listener = reactor.listen(addr, &ListenOptions::default())?;
    println!("chat listening on {}", reactor.local_addr(listener)?);
    std::io::stdout().flush()?;
    reactor.run(&mut Chat::default())
}
