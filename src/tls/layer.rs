//! [`Tls`]: a protocol that runs another protocol over TLS, or over nothing.

use super::session::{Session, Stand};
use super::stats::{Failure, TlsStats};
use crate::protocol::{Cx, Protocol, Step, Verdict};
use rustls::client::UnbufferedClientConnection;
use rustls::pki_types::ServerName;
use rustls::server::UnbufferedServerConnection;
use rustls::{ClientConfig, CommonState, HandshakeKind, ServerConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The shared state of a reactor whose connections run [`Tls`]: the wrapped protocol's
/// own context, the TLS counters, and one plaintext buffer for every connection.
#[derive(Debug)]
pub struct TlsContext<C> {
    /// The wrapped protocol's context, lent to it on every call.
    pub inner: C,
    /// Handshakes done and failed, on every connection of the reactor.
    pub stats: TlsStats,
    /// Most plaintext a connection keeps decrypted but not yet used by its protocol (a
    /// partial request); past it the connection is closed. Set it one record (16 KiB)
    /// above the protocol's own limit, so that the protocol sees input that crosses its
    /// limit and answers it first (HTTP's 431).
    pub max_plain: usize,
    /// What the protocol writes, before it is encrypted: one buffer for the reactor.
    scratch: Vec<u8>,
}

impl<C> TlsContext<C> {
    /// A context around `inner`, with `max_plain` at 80 KiB (the reactor's default
    /// input limit and one record).
    pub fn new(inner: C) -> TlsContext<C> {
        TlsContext {
            inner,
            stats: TlsStats::default(),
            max_plain: 80 * 1024,
            scratch: Vec::new(),
        }
    }
}

impl<C: Default> Default for TlsContext<C> {
    fn default() -> Self {
        TlsContext::new(C::default())
    }
}

/// A handshake that just completed, as the protocol over it is told.
pub struct Handshake<'a> {
    /// An earlier session was resumed (no certificate sent, no key exchange paid in full).
    pub resumed: bool,
    /// From the connection's start (accepted, or connected) to the handshake's end.
    pub took: Duration,
    /// What rustls knows of the connection: version, cipher suite, ALPN, the peer's
    /// certificates.
    pub state: &'a CommonState,
}

impl std::fmt::Debug for Handshake<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handshake")
            .field("resumed", &self.resumed)
            .field("took", &self.took)
            .field("version", &self.state.protocol_version())
            .finish_non_exhaustive()
    }
}

/// A protocol that can run over [`Tls`]: told when the handshake is done or has failed.
/// Both have defaults that do nothing, so `impl OverTls for MyProtocol {}` is enough.
pub trait OverTls: Protocol {
    /// The handshake completed; on an outbound connection,
    /// [`Protocol::on_connected`] follows at once.
    fn on_handshake(&mut self, _done: &Handshake<'_>, _cx: &mut Cx<Self::Context>) {}

    /// The handshake failed (the connection is closing): verification, a malformed
    /// record, the peer's alert. [`super::describe`] names it in a line.
    fn on_handshake_failed(&mut self, _err: &rustls::Error, _cx: &mut Cx<Self::Context>) {}
}

/// Per-connection TLS state, boxed so that a plain connection beside it pays one
/// pointer.
struct Layer {
    session: Session,
    /// The peer's bytes rustls has not used up yet (a partial record, or records held
    /// back while the protocol catches up), as rustls left them: it must see them again
    /// on its next call. Empty, and unallocated, when idle.
    incoming: Vec<u8>,
    /// Decrypted input the protocol has not used yet (empty, and unallocated, when idle).
    pending: Vec<u8>,
    /// When the connection started: the handshake's time is measured from it.
    started: Instant,
    flags: u8,
}

/// The largest TLS record on the wire: its 5-byte header and up to 2^14 + 2048 bytes
/// (TLS 1.2's ciphertext bound, above TLS 1.3's 2^14 + 256).
const MAX_RECORD: usize = 5 + 16_384 + 2_048;

/// `Layer::flags`.
mod flag {
    /// The handshake completed.
    pub const ESTABLISHED: u8 = 1;
    /// Input waits because the output budget (or the room for plaintext) ran out:
    /// offer it when the output drains.
    pub const STALLED: u8 = 2;
    /// The protocol asked to close: send close_notify after its last output.
    pub const CLOSING: u8 = 4;
    /// close_notify was sent.
    pub const SENT_CLOSE: u8 = 8;
    /// The connection failed (counted once): anything more from the peer is dropped.
    pub const FAILED: u8 = 16;
    /// The peer's end of data (close_notify, or a FIN) came while decrypted input still
    /// waited for the output budget: the protocol is told once that input is used.
    pub const ENDED: u8 = 32;
}

/// A protocol `P` over TLS (or, built with [`Tls::plain`], over the bare connection, so
/// that plain and TLS listeners share one reactor). Sans-IO like every protocol here:
/// fed the peer's records, it returns records to send and a verdict.
///
/// What it bounds: decrypted input waiting for the protocol
/// ([`TlsContext::max_plain`]); records stay undecrypted in the reactor's input while
/// the protocol's output budget is spent; handshake work happens only as the peer's
/// bytes arrive, and an unfinished handshake runs on the header clock
/// ([`Protocol::mid_unit`]). A malformed record is answered with an alert and a close,
/// and counted ([`TlsStats::failed`]).
pub struct Tls<P> {
    inner: P,
    tls: Option<Box<Layer>>,
}

impl<P: std::fmt::Debug> std::fmt::Debug for Tls<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("inner", &self.inner)
            .field("tls", &self.tls.as_ref().map(|l| l.flags))
            .finish()
    }
}

impl<P> Tls<P> {
    /// `inner` on a connection without TLS.
    pub fn plain(inner: P) -> Tls<P> {
        Tls { inner, tls: None }
    }

    /// `inner` on an accepted connection, the handshake to come; `now`: when it was
    /// accepted.
    pub fn server(
        config: Arc<ServerConfig>,
        inner: P,
        now: Instant,
    ) -> Result<Tls<P>, rustls::Error> {
        let session = Session::Server(UnbufferedServerConnection::new(config)?);
        Ok(Tls::with(session, inner, now))
    }

    /// `inner` on an outbound connection to `name` (the SNI sent and the name the
    /// certificate must hold). The handshake starts once the connection is made, and
    /// its time is counted from then.
    pub fn client(
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
        inner: P,
        now: Instant,
    ) -> Result<Tls<P>, rustls::Error> {
        let session = Session::Client(UnbufferedClientConnection::new(config, name)?);
        Ok(Tls::with(session, inner, now))
    }

    fn with(session: Session, inner: P, now: Instant) -> Tls<P> {
        Tls {
            inner,
            tls: Some(Box::new(Layer {
                session,
                incoming: Vec::new(),
                pending: Vec::new(),
                started: now,
                flags: 0,
            })),
        }
    }

    /// The protocol inside.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// The protocol inside, to change.
    pub fn inner_mut(&mut self) -> &mut P {
        &mut self.inner
    }

    /// The protocol inside, the TLS state dropped (a closed connection's, handed to
    /// [`crate::Host::closed`]).
    pub fn into_inner(self) -> P {
        self.inner
    }

    /// Whether this connection runs TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Whether the handshake completed (always false without TLS).
    pub fn is_established(&self) -> bool {
        self.tls
            .as_ref()
            .is_some_and(|l| l.flags & flag::ESTABLISHED != 0)
    }

    /// The connection closed (as [`crate::Host::closed`] hears): a handshake cut short
    /// by something the layer did not see (a timeout, a reset, the host) is counted in
    /// `stats` as failed, by what cut it. Call it from `Host::closed` so that every
    /// handshake ends counted as done or failed; the readyloop server does.
    pub fn count_close(&self, reason: crate::CloseReason, stats: &mut TlsStats) {
        use crate::CloseReason as R;
        let Some(l) = self.tls.as_deref() else {
            return;
        };
        if l.flags & (flag::ESTABLISHED | flag::FAILED) != 0 {
            return;
        }
        let why = match reason {
            R::HeaderTimeout | R::IdleTimeout | R::SlowPeer => Failure::Timeout,
            R::Peer | R::Reset | R::Done => Failure::Eof,
            // A shutdown cut it: the server's doing, not the handshake's.
            R::Shutdown => return,
            _ => Failure::Other,
        };
        stats.record_failed(why);
    }

    /// What rustls knows of the connection, without TLS `None`.
    pub fn tls_state(&self) -> Option<&CommonState> {
        self.tls.as_ref().map(|l| l.session.common())
    }
}

/// The parts of a call: the layer, the inner protocol's context, the counters and the
/// plaintext buffer, borrowed apart.
macro_rules! parts {
    ($cx:ident => $icx:ident, $stats:ident, $scratch:ident, $max:ident) => {
        let (now, id) = ($cx.now, $cx.id());
        let TlsContext {
            inner: ictx,
            stats: $stats,
            scratch: $scratch,
            max_plain,
        } = &mut *$cx.ctx;
        let $max = *max_plain;
        let mut $icx = Cx::of(now, id, ictx);
        $scratch.clear();
    };
}

impl<P: OverTls> Protocol for Tls<P> {
    type Context = TlsContext<P::Context>;

    fn on_input(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        budget: usize,
        cx: &mut Cx<Self::Context>,
    ) -> Step {
        // The reactor calls on_input_mut; this is for callers with read-only bytes
        // (tests), which pay a copy.
        let mut copy = input.to_vec();
        self.on_input_mut(&mut copy, out, budget, cx)
    }

    fn on_input_mut(
        &mut self,
        input: &mut [u8],
        out: &mut Vec<u8>,
        budget: usize,
        cx: &mut Cx<Self::Context>,
    ) -> Step {
        parts!(cx => icx, stats, scratch, max_plain);
        let Some(layer) = self.tls.as_deref_mut() else {
            return self.inner.on_input_mut(input, out, budget, &mut icx);
        };
        let mut a = Advance {
            inner: &mut self.inner,
            stats,
            scratch,
            max_plain,
            icx: &mut icx,
        };
        a.run(layer, input, out, budget)
    }

    fn on_eof(&mut self, out: &mut Vec<u8>, cx: &mut Cx<Self::Context>) -> Verdict {
        parts!(cx => icx, stats, scratch, _max);
        let Some(layer) = self.tls.as_deref_mut() else {
            return self.inner.on_eof(out, &mut icx);
        };
        if layer.flags & flag::ESTABLISHED == 0 {
            layer.flags |= flag::FAILED;
            stats.record_failed(Failure::Eof);
            let e = rustls::Error::General("the peer closed during the handshake".into());
            self.inner.on_handshake_failed(&e, &mut icx);
            return Verdict::Close;
        }
        if layer.flags & flag::STALLED != 0 {
            // Decrypted input still waits for the output budget: the protocol hears of
            // the end once it has had all of it (on drain).
            layer.flags |= flag::ENDED;
            return Verdict::Continue;
        }
        let v = self.inner.on_eof(scratch, &mut icx);
        send(layer, &self.inner, scratch, v, out)
    }

    fn on_connected(&mut self, out: &mut Vec<u8>, cx: &mut Cx<Self::Context>) -> Verdict {
        parts!(cx => icx, stats, _scratch, max_plain);
        let Some(layer) = self.tls.as_deref_mut() else {
            return self.inner.on_connected(out, &mut icx);
        };
        // The handshake's clock starts with the connection, not with connect().
        layer.started = icx.now;
        let pass = layer
            .session
            .read(&mut [], out, &mut layer.pending, max_plain);
        match pass.stand {
            Stand::Failed(e) => {
                fail(layer, &mut self.inner, &e, stats, &mut icx);
                Verdict::CloseAfterFlush
            }
            _ => Verdict::Continue,
        }
    }

    fn wants_drained(&self) -> bool {
        match self.tls.as_deref() {
            None => self.inner.wants_drained(),
            Some(l) => {
                l.flags & flag::STALLED != 0
                    || (l.flags & flag::ESTABLISHED != 0 && self.inner.wants_drained())
            }
        }
    }

    fn on_drained(
        &mut self,
        out: &mut Vec<u8>,
        budget: usize,
        cx: &mut Cx<Self::Context>,
    ) -> Verdict {
        parts!(cx => icx, stats, scratch, max_plain);
        let Some(layer) = self.tls.as_deref_mut() else {
            return self.inner.on_drained(out, budget, &mut icx);
        };
        if layer.flags & flag::STALLED != 0 {
            let mut a = Advance {
                inner: &mut self.inner,
                stats,
                scratch,
                max_plain,
                icx: &mut icx,
            };
            return a.run(layer, &mut [], out, budget).verdict;
        }
        let v = if layer.flags & flag::ESTABLISHED != 0 && self.inner.wants_drained() {
            self.inner.on_drained(scratch, budget, &mut icx)
        } else {
            Verdict::Continue
        };
        send(layer, &self.inner, scratch, v, out)
    }

    fn awaits_input(&self) -> bool {
        self.live().is_some_and(|p| p.awaits_input())
    }

    fn mid_unit(&self) -> bool {
        match self.tls.as_deref() {
            None => self.inner.mid_unit(),
            Some(l) => {
                l.flags & flag::ESTABLISHED == 0 || !l.pending.is_empty() || self.inner.mid_unit()
            }
        }
    }

    fn poll_at(&self, ctx: &Self::Context) -> Option<Instant> {
        self.live().and_then(|p| p.poll_at(&ctx.inner))
    }

    fn on_timer(&mut self, out: &mut Vec<u8>, cx: &mut Cx<Self::Context>) -> Verdict {
        parts!(cx => icx, _stats, scratch, _max);
        let Some(layer) = self.tls.as_deref_mut() else {
            return self.inner.on_timer(out, &mut icx);
        };
        if layer.flags & flag::ESTABLISHED == 0 {
            return Verdict::Continue;
        }
        let v = self.inner.on_timer(scratch, &mut icx);
        send(layer, &self.inner, scratch, v, out)
    }
}

impl<P> Tls<P> {
    /// The protocol, if it may talk: no TLS, or the handshake done. Until then it is not
    /// asked for timers or input clocks, as a connection still connecting is not.
    fn live(&self) -> Option<&P> {
        match self.tls.as_deref() {
            Some(l) if l.flags & flag::ESTABLISHED == 0 => None,
            _ => Some(&self.inner),
        }
    }
}

/// One step of a TLS connection: the peer's records read, the protocol fed, its output
/// encrypted. The parts of the call it needs, borrowed apart.
struct Advance<'a, 'c, P: Protocol> {
    inner: &'a mut P,
    stats: &'a mut TlsStats,
    scratch: &'a mut Vec<u8>,
    max_plain: usize,
    icx: &'a mut Cx<'c, P::Context>,
}

impl<P: OverTls> Advance<'_, '_, P> {
    /// `input`: new bytes from the peer (empty when called on drain, to go on with what
    /// is kept).
    fn run(
        &mut self,
        layer: &mut Layer,
        input: &mut [u8],
        out: &mut Vec<u8>,
        budget: usize,
    ) -> Step {
        let all = Step {
            consumed: input.len(),
            verdict: Verdict::CloseAfterFlush,
        };
        // Set again below if input still waits; an early return (a failure, the end)
        // must not leave it set, or the reactor would ask for the drain forever.
        layer.flags &= !flag::STALLED;
        if layer.flags & flag::FAILED != 0 {
            return all;
        }
        let (consumed, stand, held_back) = layer.read(input, out, self.max_plain);
        let mut verdict = match stand {
            Stand::Failed(e) => {
                fail(layer, self.inner, &e, self.stats, self.icx);
                return all;
            }
            Stand::Closed => return all,
            Stand::NeedInput => return Step::cont(consumed),
            Stand::Established if layer.session.common().is_handshaking() => {
                return Step::cont(consumed);
            }
            Stand::Established | Stand::PeerClosed => Verdict::Continue,
        };
        if layer.flags & flag::ESTABLISHED == 0 {
            verdict = establish(layer, self.inner, self.stats, self.scratch, self.icx);
        }
        if verdict == Verdict::Continue {
            verdict = feed(layer, self.inner, self.scratch, budget, self.icx);
        }
        if layer.pending.len() >= self.max_plain {
            // The room was there and the protocol used none of it: a unit too big.
            verdict = Verdict::Close;
        } else if held_back {
            layer.flags |= flag::STALLED;
        }
        if matches!(stand, Stand::PeerClosed) {
            // close_notify: the peer's end of data, as a FIN is without TLS.
            layer.flags |= flag::ENDED;
        }
        if layer.flags & (flag::ENDED | flag::STALLED) == flag::ENDED
            && verdict == Verdict::Continue
        {
            // Only once everything before the end has reached the protocol.
            layer.flags &= !flag::ENDED;
            verdict = self.inner.on_eof(self.scratch, self.icx);
        }
        Step {
            consumed,
            verdict: send(layer, self.inner, self.scratch, verdict, out),
        }
    }
}

impl Layer {
    /// Read the peer's records: in place in `input` when nothing is kept from before,
    /// else after what is kept. What rustls leaves unused is kept (up to `room` bytes;
    /// more stays unconsumed, in the reactor's input, under its limit). How much of
    /// `input` was taken, where the connection stands, and whether records were left
    /// unread for want of room (to be read once the protocol has used the plaintext).
    fn read(&mut self, input: &mut [u8], out: &mut Vec<u8>, room: usize) -> (usize, Stand, bool) {
        // Room for one whole record at least, whatever `room` says: a partial record
        // that could never complete would only wait for the reactor's input limit.
        let cap = room.max(MAX_RECORD);
        let taken;
        let stand;
        if self.incoming.is_empty() {
            let pass = self.session.read(input, out, &mut self.pending, room);
            let keep = (input.len() - pass.used).min(cap);
            self.incoming
                .extend_from_slice(&input[pass.used..pass.used + keep]);
            taken = pass.used + keep;
            stand = pass.stand;
        } else {
            let keep = input.len().min(cap.saturating_sub(self.incoming.len()));
            self.incoming.extend_from_slice(&input[..keep]);
            let pass = self
                .session
                .read(&mut self.incoming, out, &mut self.pending, room);
            self.incoming.drain(..pass.used);
            taken = keep;
            stand = pass.stand;
        }
        if self.incoming.is_empty() {
            self.incoming = Vec::new();
        }
        // Decryption stopped at the room: records may wait in `incoming`.
        let held_back = self.pending.len() >= room;
        (taken, stand, held_back)
    }
}

/// The handshake just completed: count it, tell the protocol, and on an outbound
/// connection let it start (its first request goes out in the same write).
fn establish<P: OverTls>(
    layer: &mut Layer,
    inner: &mut P,
    stats: &mut TlsStats,
    scratch: &mut Vec<u8>,
    icx: &mut Cx<P::Context>,
) -> Verdict {
    layer.flags |= flag::ESTABLISHED;
    let common = layer.session.common();
    let resumed = common.handshake_kind() == Some(HandshakeKind::Resumed);
    let took = icx.now.saturating_duration_since(layer.started);
    stats.record_done(resumed, took);
    let done = Handshake {
        resumed,
        took,
        state: common,
    };
    inner.on_handshake(&done, icx);
    match layer.session {
        Session::Client(_) => inner.on_connected(scratch, icx),
        Session::Server(_) => Verdict::Continue,
    }
}

/// Offer the pending plaintext to the protocol while it uses some and its output stays
/// within `budget`; what the budget holds back waits for the output to drain.
fn feed<P: Protocol>(
    layer: &mut Layer,
    inner: &mut P,
    scratch: &mut Vec<u8>,
    budget: usize,
    icx: &mut Cx<P::Context>,
) -> Verdict {
    layer.flags &= !flag::STALLED;
    let mut verdict = Verdict::Continue;
    while !layer.pending.is_empty() {
        if scratch.len() >= budget {
            layer.flags |= flag::STALLED;
            break;
        }
        let room = budget - scratch.len();
        let step = inner.on_input_mut(&mut layer.pending, scratch, room, icx);
        let used = step.consumed.min(layer.pending.len());
        layer.pending.drain(..used);
        verdict = step.verdict;
        if verdict != Verdict::Continue || used == 0 {
            break;
        }
    }
    if layer.pending.is_empty() {
        // An idle connection keeps no buffer.
        layer.pending = Vec::new();
    }
    verdict
}

/// Encrypt what the protocol wrote into `out`, with a close_notify once it asked to
/// close and has nothing more to produce. The verdict to give the reactor.
fn send<P: Protocol>(
    layer: &mut Layer,
    inner: &P,
    scratch: &mut Vec<u8>,
    verdict: Verdict,
    out: &mut Vec<u8>,
) -> Verdict {
    if verdict == Verdict::Close {
        scratch.clear();
        return Verdict::Close;
    }
    if verdict == Verdict::CloseAfterFlush {
        // The protocol is done: input still waiting is dropped, as the reactor drops
        // what comes after a close.
        layer.flags = (layer.flags | flag::CLOSING) & !flag::STALLED;
        layer.pending = Vec::new();
    }
    let close =
        layer.flags & (flag::CLOSING | flag::SENT_CLOSE) == flag::CLOSING && !inner.wants_drained();
    if scratch.is_empty() && !close {
        return verdict;
    }
    let sent = layer
        .session
        .write(&mut layer.incoming, &mut layer.pending, scratch, close, out);
    if layer.incoming.is_empty() {
        layer.incoming = Vec::new();
    }
    scratch.clear();
    match sent {
        Ok(()) if close => {
            layer.flags |= flag::SENT_CLOSE;
            verdict
        }
        Ok(()) => verdict,
        // Nothing can be sent any more (the connection is closed): what the protocol
        // wrote cannot reach the peer.
        Err(_) => Verdict::Close,
    }
}

/// A failed handshake (or a broken record after it): counted, the protocol told.
fn fail<P: OverTls>(
    layer: &mut Layer,
    inner: &mut P,
    e: &rustls::Error,
    stats: &mut TlsStats,
    icx: &mut Cx<P::Context>,
) {
    layer.flags |= flag::FAILED;
    if layer.flags & flag::ESTABLISHED == 0 {
        stats.record_failed(Failure::of(e));
        inner.on_handshake_failed(e, icx);
    } else {
        stats.broken += 1;
    }
    layer.pending = Vec::new();
}

impl OverTls for crate::protocol::Echo {}
impl OverTls for crate::protocol::Discard {}
impl OverTls for crate::protocol::Source {}
#[cfg(feature = "http")]
impl OverTls for crate::protocol::Http {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Echo;
    use crate::tls::{client_config, server_config, ClientOptions, Roots, ServerOptions, Versions};
    use std::path::PathBuf;

    /// A CA, a server certificate for "localhost" signed by it, as PEM files.
    struct Pki {
        dir: PathBuf,
    }

    impl Pki {
        fn new(tag: &str) -> Pki {
            let dir = std::env::temp_dir().join(format!("rl-tls-{tag}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            let ca_key = rcgen::KeyPair::generate().unwrap();
            let ca = ca_params.self_signed(&ca_key).unwrap();
            let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
            let key = rcgen::KeyPair::generate().unwrap();
            let issuer = rcgen::Issuer::new(ca_params, ca_key);
            let cert = params.signed_by(&key, &issuer).unwrap();
            std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
            std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
            std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
            Pki { dir }
        }

        fn server(&self, versions: Versions) -> Arc<ServerConfig> {
            let mut o = ServerOptions::new(self.dir.join("cert.pem"), self.dir.join("key.pem"));
            o.versions = versions;
            Arc::new(server_config(&o).unwrap())
        }

        fn client(&self, versions: Versions, resume: bool) -> Arc<ClientConfig> {
            let o = ClientOptions {
                roots: Roots::File(self.dir.join("ca.pem")),
                versions,
                resume,
                ..Default::default()
            };
            Arc::new(client_config(&o).unwrap())
        }
    }

    impl Drop for Pki {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// Echo, remembering what the TLS layer told it.
    #[derive(Default)]
    struct Told {
        echo: Echo,
        handshakes: Vec<bool>,
        failed: Vec<String>,
        eof: bool,
        close_after: Option<usize>,
        seen: usize,
    }

    impl Protocol for Told {
        type Context = ();
        fn on_input(
            &mut self,
            input: &[u8],
            out: &mut Vec<u8>,
            budget: usize,
            cx: &mut Cx<()>,
        ) -> Step {
            let mut step = self.echo.on_input(input, out, budget, cx);
            self.seen += step.consumed;
            if self.close_after.is_some_and(|n| self.seen >= n) {
                step.verdict = Verdict::CloseAfterFlush;
            }
            step
        }
        fn on_eof(&mut self, _out: &mut Vec<u8>, _cx: &mut Cx<()>) -> Verdict {
            self.eof = true;
            Verdict::CloseAfterFlush
        }
    }

    impl OverTls for Told {
        fn on_handshake(&mut self, done: &Handshake<'_>, _cx: &mut Cx<()>) {
            self.handshakes.push(done.resumed);
        }
        fn on_handshake_failed(&mut self, err: &rustls::Error, _cx: &mut Cx<()>) {
            self.failed.push(crate::tls::describe(err));
        }
    }

    /// One side, driven as the reactor drives a connection: what it leaves unconsumed is
    /// kept (as it left it) and offered again with the next bytes.
    struct End {
        p: Tls<Told>,
        ctx: TlsContext<()>,
        inbox: Vec<u8>,
        verdict: Verdict,
        budget: usize,
    }

    impl End {
        fn new(p: Tls<Told>) -> End {
            End {
                p,
                ctx: TlsContext::new(()),
                inbox: Vec::new(),
                verdict: Verdict::Continue,
                budget: 1 << 16,
            }
        }

        fn connect(&mut self) -> Vec<u8> {
            let mut out = Vec::new();
            let now = Instant::now();
            self.verdict = self
                .p
                .on_connected(&mut out, &mut Cx::new(now, &mut self.ctx));
            out
        }

        fn deliver(&mut self, bytes: &[u8]) -> Vec<u8> {
            self.inbox.extend_from_slice(bytes);
            let mut out = Vec::new();
            for _ in 0..1000 {
                let now = Instant::now();
                let mut cx = Cx::new(now, &mut self.ctx);
                let step = self
                    .p
                    .on_input_mut(&mut self.inbox, &mut out, self.budget, &mut cx);
                self.inbox.drain(..step.consumed);
                self.note(step.verdict);
                while self.p.wants_drained() && self.verdict != Verdict::Close {
                    let mut cx = Cx::new(now, &mut self.ctx);
                    let v = self.p.on_drained(&mut out, self.budget, &mut cx);
                    self.note(v);
                }
                if step.consumed == 0 || self.inbox.is_empty() || self.verdict != Verdict::Continue
                {
                    break;
                }
            }
            out
        }

        fn note(&mut self, v: Verdict) {
            if v != Verdict::Continue && self.verdict != Verdict::Close {
                self.verdict = v;
            }
        }
    }

    /// Encrypt `data` as the connection's own next record (as if its protocol wrote it).
    fn seal(
        p: &mut Tls<Told>,
        data: &[u8],
        close: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), rustls::Error> {
        let l = p.tls.as_deref_mut().unwrap();
        l.session
            .write(&mut l.incoming, &mut l.pending, data, close, out)
    }

    fn pair(pki: &Pki, server: Versions, client: Arc<ClientConfig>) -> (End, End) {
        let now = Instant::now();
        let s = Tls::server(pki.server(server), Told::default(), now).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let c = Tls::client(client, name, Told::default(), now).unwrap();
        (End::new(s), End::new(c))
    }

    /// A TLS 1.3 pair of `pki`'s, its handshake done.
    fn established(pki: &Pki) -> (End, End) {
        let (mut s, mut c) = pair(pki, Versions::Tls13, pki.client(Versions::Tls13, true));
        let hello = c.connect();
        converse(&mut s, &mut c, hello);
        assert!(s.p.is_established() && c.p.is_established());
        (s, c)
    }

    /// Pass bytes back and forth until neither side has anything to say.
    fn converse(s: &mut End, c: &mut End, mut to_server: Vec<u8>) {
        for _ in 0..20 {
            let to_client = s.deliver(&to_server);
            to_server = c.deliver(&to_client);
            if to_server.is_empty() && to_client.is_empty() {
                return;
            }
        }
    }

    #[test]
    fn test_handshake_then_echo_both_versions() {
        let pki = Pki::new("echo");
        for v in [Versions::Tls12, Versions::Tls13] {
            let (mut s, mut c) = pair(&pki, v, pki.client(v, true));
            assert!(
                s.p.mid_unit(),
                "a handshake under way runs on the header clock"
            );
            let hello = c.connect();
            converse(&mut s, &mut c, hello);
            assert!(s.p.is_established() && c.p.is_established(), "{v:?}");
            assert!(!s.p.mid_unit());
            assert_eq!((s.ctx.stats.full, c.ctx.stats.full), (1, 1));
            assert_eq!(c.p.inner().handshakes, vec![false]);
            // The client's echo sends nothing by itself: write through the layer.
            let mut rec = Vec::new();
            seal(&mut c.p, b"ping", false, &mut rec).unwrap();
            let back = s.deliver(&rec);
            assert!(
                !back.is_empty() && !back.windows(4).any(|w| w == b"ping"),
                "encrypted"
            );
            // The client echoes what it gets too: its reply is the server's echo again.
            let again = c.deliver(&back);
            let _ = s.deliver(&again);
            assert_eq!(s.p.inner().seen, 8, "{v:?}: ping, then ping back");
        }
    }

    #[test]
    fn test_bytes_one_at_a_time_still_make_a_handshake() {
        let pki = Pki::new("split");
        let (mut s, mut c) = pair(&pki, Versions::Both, pki.client(Versions::Both, true));
        let mut to_server = c.connect();
        for _ in 0..20 {
            let mut to_client = Vec::new();
            for b in &to_server {
                to_client.extend(s.deliver(std::slice::from_ref(b)));
            }
            to_server.clear();
            for b in &to_client {
                to_server.extend(c.deliver(std::slice::from_ref(b)));
            }
            if to_server.is_empty() && to_client.is_empty() {
                break;
            }
        }
        assert!(s.p.is_established() && c.p.is_established());
        assert_eq!(s.verdict, Verdict::Continue);
    }

    #[test]
    fn test_resumption_is_counted_as_resumed() {
        let pki = Pki::new("resume");
        for v in [Versions::Tls12, Versions::Tls13] {
            let client = pki.client(v, true);
            let server = pki.server(v);
            let mut kinds = Vec::new();
            for _ in 0..2 {
                let now = Instant::now();
                let mut s = End::new(Tls::server(server.clone(), Told::default(), now).unwrap());
                let name = ServerName::try_from("localhost").unwrap();
                let mut c =
                    End::new(Tls::client(client.clone(), name, Told::default(), now).unwrap());
                let hello = c.connect();
                converse(&mut s, &mut c, hello);
                kinds.extend(c.p.inner().handshakes.clone());
                assert_eq!(s.ctx.stats.full + s.ctx.stats.resumed, 1);
            }
            assert_eq!(kinds, vec![false, true], "{v:?}: full, then resumed");
            // Without resumption both are full.
            let client = pki.client(v, false);
            let mut kinds = Vec::new();
            for _ in 0..2 {
                let now = Instant::now();
                let mut s = End::new(Tls::server(server.clone(), Told::default(), now).unwrap());
                let name = ServerName::try_from("localhost").unwrap();
                let mut c =
                    End::new(Tls::client(client.clone(), name, Told::default(), now).unwrap());
                let hello = c.connect();
                converse(&mut s, &mut c, hello);
                kinds.extend(c.p.inner().handshakes.clone());
            }
            assert_eq!(kinds, vec![false, false], "{v:?}: --no-resume");
        }
    }

    #[test]
    fn test_garbage_instead_of_a_client_hello_gets_an_alert_and_a_count() {
        let pki = Pki::new("garbage");
        let (mut s, _c) = pair(&pki, Versions::Both, pki.client(Versions::Both, true));
        let out = s.deliver(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(s.verdict, Verdict::CloseAfterFlush);
        assert_eq!(out.first(), Some(&0x15), "an alert record: {out:?}");
        assert_eq!(s.ctx.stats.failed_for(Failure::Malformed), 1);
        assert_eq!(s.p.inner().failed.len(), 1);
    }

    #[test]
    fn test_a_certificate_for_another_name_is_refused_and_named() {
        let pki = Pki::new("name");
        let now = Instant::now();
        let mut s =
            End::new(Tls::server(pki.server(Versions::Both), Told::default(), now).unwrap());
        let name = ServerName::try_from("example.org").unwrap();
        let client = pki.client(Versions::Both, true);
        let mut c = End::new(Tls::client(client, name, Told::default(), now).unwrap());
        let hello = c.connect();
        converse(&mut s, &mut c, hello);
        assert!(!c.p.is_established());
        assert_eq!(c.verdict, Verdict::CloseAfterFlush);
        assert_eq!(c.ctx.stats.failed_for(Failure::BadCertificate), 1);
        assert!(
            c.p.inner().failed[0].contains("wrong name"),
            "{:?}",
            c.p.inner().failed
        );
        // The server hears the client's alert.
        assert_eq!(s.ctx.stats.failed_for(Failure::PeerAlert), 1);
    }

    #[test]
    fn test_close_notify_is_sent_and_honoured() {
        let pki = Pki::new("close");
        let (mut s, mut c) = established(&pki);
        // The server's protocol closes after 4 bytes: its echo, then close_notify.
        s.p.inner_mut().close_after = Some(4);
        let mut rec = Vec::new();
        seal(&mut c.p, b"bye!", false, &mut rec).unwrap();
        let back = s.deliver(&rec);
        assert_eq!(s.verdict, Verdict::CloseAfterFlush);
        // The client reads the echo, then the close_notify: its protocol gets the end
        // of data and closes too, with a close_notify of its own.
        let last = c.deliver(&back);
        assert!(
            c.p.inner().eof,
            "close_notify reached the protocol as its end of input"
        );
        assert_eq!(c.verdict, Verdict::CloseAfterFlush);
        assert!(!last.is_empty(), "the client's close_notify");
    }

    #[test]
    fn test_output_beyond_the_budget_waits_for_the_drain() {
        let pki = Pki::new("budget");
        let (mut s, mut c) = established(&pki);
        s.budget = 1000;
        let data = vec![7u8; 12_000];
        let mut rec = Vec::new();
        seal(&mut c.p, &data, false, &mut rec).unwrap();
        // One call may produce about the budget; the rest comes from on_drained, and
        // every byte is echoed in the end.
        let mut out = Vec::new();
        let mut cx = Cx::new(Instant::now(), &mut s.ctx);
        let step = s.p.on_input_mut(&mut rec.clone(), &mut out, 1000, &mut cx);
        assert_eq!(step.consumed, rec.len());
        assert!(out.len() < 3000, "{} bytes out of one call", out.len());
        assert!(s.p.wants_drained(), "the rest waits for the drain");
        let mut drained = 0;
        while s.p.wants_drained() {
            let mut cx = Cx::new(Instant::now(), &mut s.ctx);
            let v = s.p.on_drained(&mut out, 1000, &mut cx);
            assert_eq!(v, Verdict::Continue);
            drained += 1;
            assert!(drained < 100);
        }
        assert_eq!(s.p.inner().seen, 12_000);
        assert!(
            s.p.tls.as_deref().unwrap().pending.capacity() == 0,
            "idle holds no buffer"
        );
    }

    #[test]
    fn test_a_failure_while_input_waits_leaves_no_drain_wanted() {
        // Found by fuzzing: the layer stalled on the output budget, then a broken record
        // failed it; the stall stayed set and the reactor would have asked for the drain
        // forever.
        let pki = Pki::new("stall-fail");
        let (mut s, mut c) = established(&pki);
        let mut rec = Vec::new();
        seal(&mut c.p, &[5u8; 6000], false, &mut rec).unwrap();
        let mut out = Vec::new();
        let mut cx = Cx::new(Instant::now(), &mut s.ctx);
        s.p.on_input_mut(&mut rec, &mut out, 100, &mut cx);
        assert!(s.p.wants_drained(), "stalled on the budget");
        let mut garbage = vec![0x17, 0x03, 0x03, 0x00, 0x20];
        garbage.extend([0xAA; 32]);
        let step = s.p.on_input_mut(&mut garbage, &mut out, 100, &mut cx);
        assert_eq!(step.verdict, Verdict::CloseAfterFlush);
        assert!(
            !s.p.wants_drained(),
            "a failed connection wants no more drains"
        );
    }

    #[test]
    fn test_the_end_of_input_waits_for_the_input_before_it() {
        // Found by tests/tls_server.rs: a close_notify read while decrypted input still
        // waited for the output budget reached Echo first, and the rest was never echoed.
        let pki = Pki::new("end-waits");
        let (mut s, mut c) = established(&pki);
        let mut rec = Vec::new();
        seal(&mut c.p, &[9u8; 5000], true, &mut rec).unwrap();
        let mut out = Vec::new();
        let mut cx = Cx::new(Instant::now(), &mut s.ctx);
        let step = s.p.on_input_mut(&mut rec, &mut out, 1000, &mut cx);
        assert_eq!(
            step.verdict,
            Verdict::Continue,
            "not closed while input waits"
        );
        let mut v = Verdict::Continue;
        for _ in 0..100 {
            if !s.p.wants_drained() {
                break;
            }
            v = s.p.on_drained(&mut out, 1000, &mut cx);
        }
        assert_eq!(
            s.p.inner().seen,
            5000,
            "every byte before the end reached Echo"
        );
        assert_eq!(v, Verdict::CloseAfterFlush, "then the end");
    }

    #[test]
    fn test_plaintext_past_the_limit_closes() {
        struct Never;
        impl Protocol for Never {
            type Context = ();
            fn on_input(
                &mut self,
                _i: &[u8],
                _o: &mut Vec<u8>,
                _b: usize,
                _cx: &mut Cx<()>,
            ) -> Step {
                Step::cont(0)
            }
        }
        impl OverTls for Never {}
        let pki = Pki::new("limit");
        let now = Instant::now();
        let mut s = Tls::server(pki.server(Versions::Tls13), Never, now).unwrap();
        let mut sctx = TlsContext::new(());
        sctx.max_plain = 4096;
        let (_s, mut c) = pair(&pki, Versions::Tls13, pki.client(Versions::Tls13, true));
        let mut to_server = c.connect();
        let mut verdict = Verdict::Continue;
        for _ in 0..6 {
            let mut to_client = Vec::new();
            let step = s.on_input_mut(
                &mut to_server.clone(),
                &mut to_client,
                1 << 16,
                &mut Cx::new(now, &mut sctx),
            );
            verdict = step.verdict;
            to_server = c.deliver(&to_client);
            if s.is_established() && to_server.is_empty() {
                break;
            }
        }
        assert!(s.is_established());
        let mut rec = Vec::new();
        seal(&mut c.p, &[1u8; 8000], false, &mut rec).unwrap();
        let step = s.on_input_mut(
            &mut rec,
            &mut Vec::new(),
            1 << 16,
            &mut Cx::new(now, &mut sctx),
        );
        assert_eq!((verdict, step.verdict), (Verdict::Continue, Verdict::Close));
    }

    #[test]
    fn test_a_record_in_pieces_completes_whatever_the_plaintext_room() {
        // With max_plain under a record's size, the part of a record kept to wait for
        // its rest was cut to max_plain, and the record could never complete.
        let pki = Pki::new("pieces");
        let (mut s, mut c) = established(&pki);
        s.ctx.max_plain = 256;
        let mut rec = Vec::new();
        seal(&mut c.p, &[3u8; 16_000], false, &mut rec).unwrap();
        let half = rec.len() / 2;
        s.deliver(&rec[..half]);
        s.deliver(&rec[half..]);
        assert_eq!(s.p.inner().seen, 16_000);
        assert_eq!(s.verdict, Verdict::Continue);
    }

    #[test]
    fn test_plain_passes_through() {
        let mut p = Tls::plain(Told::default());
        let mut ctx = TlsContext::new(());
        let mut out = Vec::new();
        let step = p.on_input(
            b"abc",
            &mut out,
            100,
            &mut Cx::new(Instant::now(), &mut ctx),
        );
        assert_eq!((step.consumed, out.as_slice()), (3, &b"abc"[..]));
        assert!(!p.is_tls() && !p.mid_unit());
    }
}
