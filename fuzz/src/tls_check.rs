//! The TLS layer's input path under any bytes, any split and any budget: a `Tls<Echo>`
//! server fed as the reactor feeds it (`on_input_mut` with what it left unconsumed kept
//! and offered again, `on_drained` while it wants it, `on_eof` at the end).
//!
//! Two ways in: bytes from the first one (a peer that is no TLS client, or a broken
//! one: ClientHello parsing, records, alerts), or bytes after a real handshake with
//! rustls's own client in memory (records the client sealed, with raw bytes between
//! them: decryption in place, plaintext held back for the protocol, budgets, drains).
//!
//! Checked: no panic; `consumed <= offered`; each call's output within its budget and
//! one handshake flight; `on_drained` ends; and, after a handshake with nothing but
//! sealed records sent, the client reads back exactly what it sent (echo), with or
//! without an end of input after them.

use readyloop::protocol::{Cx, Echo, Protocol, Verdict};
use readyloop::tls::rustls::{ClientConfig, ClientConnection, ServerConfig};
use readyloop::tls::{self, Tls, TlsContext};
use std::io::{Read, Write};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// How one connection is driven.
#[derive(Clone, Copy, Debug)]
pub struct Params {
    /// The `budget` of every `on_input_mut` and `on_drained` call.
    pub budget: usize,
    /// How many `on_drained` calls run before the leftover is offered again.
    pub drain_calls: usize,
    /// `TlsContext::max_plain`.
    pub max_plain: usize,
    /// End with `on_eof`.
    pub eof: bool,
    /// Complete a handshake with a real client first; `input` is then ops (see [`ops`]).
    pub handshake: bool,
}

/// Output one call may add beyond its budget: a handshake flight (the certificate is a
/// few hundred bytes), record overhead, an alert.
const SLACK: usize = 16 * 1024;

/// The reactor closes a connection whose unconsumed input passes its limit (64 KiB);
/// this run stops there too.
const MAX_INPUT: usize = 64 * 1024;

/// A self-signed certificate for "localhost" (made once per process with rcgen), the
/// server's configuration from it as the server builds one, and a client's trusting it.
fn configs() -> &'static (Arc<ServerConfig>, Arc<ClientConfig>) {
    static CONFIGS: OnceLock<(Arc<ServerConfig>, Arc<ClientConfig>)> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("rl-fuzz-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        std::fs::write(dir.join("cert.pem"), cert.cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
        let so = tls::ServerOptions::new(dir.join("cert.pem"), dir.join("key.pem"));
        let server = tls::server_config(&so).unwrap();
        let co = tls::ClientOptions {
            roots: tls::Roots::File(dir.join("cert.pem")),
            ..Default::default()
        };
        let client = tls::client_config(&co).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        (Arc::new(server), Arc::new(client))
    })
}

/// The server side, driven as the reactor drives a connection.
struct Server {
    p: Tls<Echo>,
    ctx: TlsContext<()>,
    inbox: Vec<u8>,
    verdict: Verdict,
    out: Vec<u8>,
}

impl Server {
    fn note(&mut self, v: Verdict) {
        if v != Verdict::Continue && self.verdict != Verdict::Close {
            self.verdict = v;
        }
    }

    /// `on_drained` while wanted, at most `calls` times; false if it never stops.
    fn drain(&mut self, p: &Params, calls: usize) -> Result<(), String> {
        let mut n = 0;
        while self.p.wants_drained() && self.verdict != Verdict::Close {
            if n == calls {
                return Ok(());
            }
            n += 1;
            let before = self.out.len();
            let mut cx = Cx::new(Instant::now(), &mut self.ctx);
            let v = self.p.on_drained(&mut self.out, p.budget, &mut cx);
            self.note(v);
            bounded(before, self.out.len(), p.budget, "on_drained")?;
        }
        Ok(())
    }

    /// One read arrives: offered (with what was left) until the layer takes no more.
    fn read(&mut self, p: &Params, bytes: &[u8]) -> Result<(), String> {
        self.inbox.extend_from_slice(bytes);
        for _ in 0..64 {
            if self.verdict != Verdict::Continue || self.inbox.is_empty() {
                break;
            }
            let before = self.out.len();
            let offered = self.inbox.len();
            let mut cx = Cx::new(Instant::now(), &mut self.ctx);
            let step = self
                .p
                .on_input_mut(&mut self.inbox, &mut self.out, p.budget, &mut cx);
            if step.consumed > offered {
                return Err(format!("consumed {} of {offered} bytes", step.consumed));
            }
            bounded(before, self.out.len(), p.budget, "on_input_mut")?;
            self.inbox.drain(..step.consumed);
            self.note(step.verdict);
            // Poked as the reactor does between calls: never a panic.
            let _ = (self.p.mid_unit(), self.p.awaits_input());
            let _ = self.p.poll_at(&self.ctx);
            self.drain(p, p.drain_calls)?;
            if step.consumed == 0 {
                break;
            }
        }
        if self.inbox.len() > MAX_INPUT {
            // InputOverflow in the reactor.
            self.verdict = Verdict::Close;
        }
        Ok(())
    }

    /// No more reads: the end of input if asked, then what is still to produce.
    fn finish(&mut self, p: &Params) -> Result<(), String> {
        if p.eof && self.verdict == Verdict::Continue {
            let mut cx = Cx::new(Instant::now(), &mut self.ctx);
            let v = self.p.on_eof(&mut self.out, &mut cx);
            self.note(v);
        }
        // The output drains: everything held back comes out, in a bounded number of
        // calls (the input is at most a few KiB: a call makes one byte at least).
        self.drain(p, 1 << 16)?;
        if self.verdict != Verdict::Close && self.p.wants_drained() {
            return Err("on_drained still wanted after 65536 calls".into());
        }
        Ok(())
    }
}

fn bounded(before: usize, after: usize, budget: usize, what: &str) -> Result<(), String> {
    let added = after.saturating_sub(before);
    if added > budget.saturating_add(SLACK) {
        return Err(format!(
            "{what} wrote {added} bytes on a budget of {budget}"
        ));
    }
    Ok(())
}

/// Cut `wire` at `cuts` (offsets, taken in order, clamped): the reads.
fn split<'a>(wire: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut reads = Vec::new();
    let mut at = 0;
    for &c in cuts {
        let c = c.min(wire.len());
        if c > at {
            reads.push(&wire[at..c]);
            at = c;
        }
    }
    reads.push(&wire[at..]);
    reads
}

/// The handshake with rustls's client in memory; the client, ready to send.
fn handshake(s: &mut Server, p: &Params) -> Result<ClientConnection, String> {
    let (_, client_cfg) = configs();
    let mut c = ClientConnection::new(client_cfg.clone(), "localhost".try_into().unwrap())
        .map_err(|e| e.to_string())?;
    for _ in 0..20 {
        let mut to_server = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut to_server).map_err(|e| e.to_string())?;
        }
        s.read(p, &to_server)?;
        s.drain(p, 1 << 16)?;
        deliver(&mut c, &mut s.out, &mut Vec::new())?;
        if !c.is_handshaking() && !c.wants_write() {
            break;
        }
    }
    if !s.p.is_established() || c.is_handshaking() {
        return Err(format!("no handshake (verdict {:?})", s.verdict));
    }
    Ok(c)
}

/// Hand the server's output to the client and process it (all of it, or up to where
/// the client takes no more: after the server's close_notify); the plaintext it
/// yields is appended to `plain`.
fn deliver(c: &mut ClientConnection, out: &mut Vec<u8>, plain: &mut Vec<u8>) -> Result<(), String> {
    let mut rd: &[u8] = out;
    while !rd.is_empty() {
        let n = c.read_tls(&mut rd).map_err(|e| e.to_string())?;
        c.process_new_packets().map_err(|e| e.to_string())?;
        match c.reader().read_to_end(plain) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(format!("the client's read: {e}")),
        }
        if n == 0 {
            break;
        }
    }
    out.clear();
    Ok(())
}

/// The post-handshake ops in `input`: an op byte, then its bytes. Op `< 0x80`: that
/// many raw bytes on the wire; `>= 0x80`: `(op & 0x7f) * 8 + 1` bytes written through
/// the client, sealed as records. The wire, and the plaintext sealed.
fn ops(c: &mut ClientConnection, input: &[u8]) -> Result<(Vec<u8>, Vec<u8>, bool), String> {
    let (mut wire, mut sealed, mut raw) = (Vec::new(), Vec::new(), false);
    let mut rest = input;
    while let Some((&op, tail)) = rest.split_first() {
        let n = if op < 0x80 {
            usize::from(op)
        } else {
            usize::from(op & 0x7f) * 8 + 1
        };
        let (bytes, tail) = tail.split_at(n.min(tail.len()));
        rest = tail;
        if op < 0x80 {
            wire.extend_from_slice(bytes);
            raw |= !bytes.is_empty();
        } else {
            c.writer().write_all(bytes).map_err(|e| e.to_string())?;
            sealed.extend_from_slice(bytes);
            while c.wants_write() {
                c.write_tls(&mut wire).map_err(|e| e.to_string())?;
            }
        }
    }
    Ok((wire, sealed, raw))
}

/// Runs one connection; `Err` says which invariant broke.
pub fn check(p: &Params, input: &[u8], cuts: &[usize]) -> Result<(), String> {
    let (server_cfg, _) = configs();
    let p_tls = Tls::server(server_cfg.clone(), Echo, Instant::now()).map_err(|e| e.to_string())?;
    let mut ctx = TlsContext::new(());
    ctx.max_plain = p.max_plain;
    let mut s = Server {
        p: p_tls,
        ctx,
        inbox: Vec::new(),
        verdict: Verdict::Continue,
        out: Vec::new(),
    };
    if !p.handshake {
        let mut total = 0;
        for read in split(input, cuts) {
            s.read(p, read)?;
            total += s.out.len();
            s.out.clear();
            if s.verdict != Verdict::Continue {
                break;
            }
        }
        s.finish(p)?;
        total += s.out.len();
        // No handshake can complete (the fuzzer cannot make the client's Finished): at
        // most a flight after each of two ClientHellos (a HelloRetryRequest) and alerts.
        if total > 2 * SLACK {
            return Err(format!("{total} bytes out before any handshake"));
        }
        return Ok(());
    }
    let mut c = handshake(&mut s, p)?;
    let (wire, sealed, raw) = ops(&mut c, input)?;
    let mut echoed = Vec::new();
    for read in split(&wire, cuts) {
        s.read(p, read)?;
        if s.verdict != Verdict::Continue {
            break;
        }
    }
    s.finish(p)?;
    if raw || s.verdict == Verdict::Close {
        // Broken records, or a close at once: whatever came back, nothing more to check.
        return Ok(());
    }
    deliver(&mut c, &mut s.out, &mut echoed)?;
    // With an end of input too: the layer tells the protocol of the end only once the
    // input before it has all reached the protocol.
    if echoed != sealed {
        return Err(format!(
            "sent {} bytes sealed, echoed {} (verdict {:?}, max_plain {}, budget {})",
            sealed.len(),
            echoed.len(),
            s.verdict,
            p.max_plain,
            p.budget
        ));
    }
    Ok(())
}
