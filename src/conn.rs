//! One connection: its socket, its state machine, its lazy buffers, and the I/O that
//! drives its [`Protocol`].
//!
//! The edge-triggered rules live here, once:
//! - read until `WouldBlock`, or until a read returns fewer bytes than asked (the
//!   stream's queue is then drained and new data raises a new edge), unless the event
//!   said the peer closed: then read on to see the 0;
//! - write until `WouldBlock` or a short write (the send buffer is full: an edge comes
//!   when it has room);
//! - `Interrupted` is retried; readiness is a hint and the syscall's answer decides.

use crate::buffer::{Buf, BufPool};
use crate::conn_id::ConnId;
use crate::protocol::{Cx, Protocol, Verdict};
use crate::stats::{CloseReason, Stats};
use crate::timer::{Deadline, Nanos, Timers, NEVER};
use mio::net::TcpStream;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

/// Where a connection is in its life. Every change goes through one `set_state`, which
/// checks the transition in debug builds (`pub(crate)`: the reactor's `conns.rs` calls it
/// to mark a connection `Closed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    /// Outbound: `connect()` issued, waiting for WRITABLE and an empty `SO_ERROR`.
    Connecting,
    /// Reading and writing; the peer may have shut down its side (see `PEER_EOF`).
    Open,
    /// The protocol asked to close after flushing: no more input is used, queued output
    /// is being sent.
    Flushing,
    /// Output sent and our side shut down; input is read and dropped until the peer
    /// closes or the linger timeout passes, so unread input does not turn our close into
    /// a reset that destroys the response in flight.
    Lingering,
    /// Closed; the slot is freed at the end of the event batch.
    Closed,
}

/// Per-connection flags (one byte).
pub(crate) mod flag {
    /// The peer shut down its writing side (read returned 0).
    pub const PEER_EOF: u8 = 1;
    /// The socket can take more bytes (no `WouldBlock` since the last WRITABLE edge).
    pub const WRITABLE: u8 = 2;
    /// Reading is paused (output above the high-water mark, or input full while the
    /// protocol is busy); data may be waiting in the kernel.
    pub const READ_PAUSED: u8 = 4;
    /// A read may find data: no `WouldBlock` or short read since the last edge.
    pub const READ_PENDING: u8 = 8;
    /// The peer's FIN (or an error) was signalled: read on to the 0, no short-read stop.
    pub const HUP: u8 = 32;
    /// The header clock runs: a request from the client is incomplete.
    pub const HEADER: u8 = 64;
    /// The rate clock runs: output waits for the peer, or a body is arriving.
    pub const RATE: u8 = 128;
    /// Queued in the reactor's "ready again" list (a budget ran out).
    pub const REQUEUED: u8 = 16;
}

/// The bits of `Conn::tag` that hold the state.
const STATE_MASK: u8 = 0b111;
/// Limit profiles a reactor can hold (5 bits of `Conn::tag`).
pub(crate) const MAX_PROFILES: usize = 32;

/// One connection in the reactor's slab.
pub(crate) struct Conn<P> {
    pub(crate) sock: TcpStream,
    /// Generation of this slot, so a stale [`crate::ConnId`] never names a newer connection.
    pub(crate) gen: u32,
    /// The [`State`] in the low 3 bits, the limit profile in the high 5 (one byte
    /// for both keeps the slot within 64 bytes): read through `state()` and
    /// `profile()`.
    tag: u8,
    pub(crate) flags: u8,
    /// Bytes moved (read or written) since the rate clock's window began, saturating:
    /// the window is sized so that at most `u16::MAX` bytes must move in it (see
    /// [`RateClock`]), which keeps the slot within its 64 bytes.
    pub(crate) progress: u16,
    /// Unused input (a partial request); `None` while there is none.
    pub(crate) input: Option<Box<Buf>>,
    /// Unsent output; `None` while there is none.
    pub(crate) output: Option<Box<Buf>>,
    /// When the idle, header, rate, connect or linger clock of the current state runs out.
    pub(crate) timeout_at: Nanos,
    /// The timer bookkeeping for `min(timeout_at, proto.poll_at())`.
    pub(crate) deadline: Deadline,
    pub(crate) proto: P,
}

/// ConnLimits and timeouts applied to every connection of a reactor.
#[derive(Clone, Debug)]
pub struct ConnLimits {
    /// Most bytes of unused input kept per connection.
    pub max_input: usize,
    /// Most bytes of unsent output kept per connection; over it the connection is closed.
    pub max_output: usize,
    /// Above this much unsent output the connection is not read until it drains.
    pub output_high_water: usize,
    /// Close connections with no activity for this long.
    pub idle_timeout: Option<Duration>,
    /// Close connections whose request stays incomplete this long. `None` falls back to
    /// the idle timeout (a partial request is never held forever).
    pub header_timeout: Option<Duration>,
    /// How long a closing connection keeps reading and dropping input after shutting
    /// down its side.
    pub linger_timeout: Duration,
    /// Outbound connects not complete after this long fail with `ConnectTimeout`.
    pub connect_timeout: Option<Duration>,
    /// Slowest transfer tolerated, in bytes per second (0: no minimum): while output
    /// waits for the peer to read it, or a request body is arriving
    /// ([`Protocol::awaits_input`]), fewer than `min_rate x min_rate_window` bytes
    /// moved in a window closes the connection as [`CloseReason::SlowPeer`]. Without
    /// it a peer reading a byte now and then holds its slot, and up to `max_output` of
    /// queued output, forever (nginx's `send_timeout` and `client_body_timeout`).
    pub min_rate: u64,
    /// The window over which `min_rate` is judged. Shortened when `min_rate` would ask
    /// for more than 65,535 bytes in it (a per-connection counter's range): at
    /// 100 KiB/s the window is 0.64 s.
    pub min_rate_window: Duration,
}

/// The rate clock's window and what must move in it, derived once from [`ConnLimits`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RateClock {
    /// Window length; `None` without a minimum rate.
    pub(crate) window: Option<Duration>,
    /// Bytes that must move in one window.
    pub(crate) need: u16,
}

impl RateClock {
    pub(crate) fn of(l: &ConnLimits) -> RateClock {
        if l.min_rate == 0 || l.min_rate_window.is_zero() {
            return RateClock {
                window: None,
                need: 0,
            };
        }
        let max_window = Duration::from_secs_f64(f64::from(u16::MAX) / l.min_rate as f64);
        let window = l.min_rate_window.min(max_window);
        let need = (l.min_rate as f64 * window.as_secs_f64()).ceil() as u64;
        RateClock {
            window: Some(window.max(Duration::from_millis(1))),
            need: u16::try_from(need).unwrap_or(u16::MAX).max(1),
        }
    }
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            max_input: 64 * 1024,
            max_output: 4 * 1024 * 1024,
            output_high_water: 1024 * 1024,
            idle_timeout: Some(Duration::from_secs(60)),
            header_timeout: Some(Duration::from_secs(10)),
            linger_timeout: Duration::from_secs(2),
            connect_timeout: Some(Duration::from_secs(3)),
            min_rate: 1024,
            min_rate_window: Duration::from_secs(10),
        }
    }
}

/// How many reads one connection gets per event before others get their turn.
const READS_PER_EVENT: u32 = 16;
/// How many protocol calls (`on_input` re-offers, `on_drained` productions) one
/// connection gets per event.
const CALLS_PER_EVENT: u32 = 16;
/// How much a producer is asked for at a time, and the output budget of one
/// `on_input` call.
const PRODUCE_CHUNK: usize = 64 * 1024;
/// Most protocol output one connection event may produce. Past it the connection is
/// looked at again next turn, after every other ready connection: this is what keeps
/// a turn short when one peer asks for megabytes (pipelined `/bytes/N`). Measured
/// (benches/amplification.py, 4 attackers): 256 KiB gave turns of 5 ms at p99 and a
/// victim's p99 of 40-290 ms, 64 KiB 0.2-0.4 ms and 4-5 ms, 32 KiB 0.13-0.23 ms and
/// 2.4-4.8 ms; a 4 GB download costs the same server CPU either way.
pub(crate) const EVENT_BUDGET: usize = 32 * 1024;

/// Everything connection handling needs from the reactor besides the slab.
pub(crate) struct Shared<C> {
    /// The host's state shared by every connection ([`Protocol::Context`]).
    pub(crate) ctx: C,
    /// Limit profiles, by a connection's `profile`; 0 is the reactor's `Config::limits`.
    pub(crate) profiles: Vec<Profile>,
    /// The one read buffer of the reactor.
    pub(crate) scratch: Vec<u8>,
    /// Where protocols append output before it is written.
    pub(crate) out: Vec<u8>,
    pub(crate) pool: BufPool,
    pub(crate) timers: Timers,
    pub(crate) stats: Stats,
    pub(crate) now: Instant,
    pub(crate) start: Instant,
    pub(crate) now_ns: Nanos,
    /// Connections that must be looked at again next turn (a budget ran out), with
    /// their generation so a slot freed and reused meanwhile is not driven spuriously.
    pub(crate) requeue: Vec<(usize, u32)>,
    /// Graceful shutdown in progress: close connections as soon as they are idle.
    pub(crate) draining: bool,
    /// The errno behind the close being decided now (picked up by the reactor).
    pub(crate) last_errno: Option<i32>,
    /// Protocol output the current connection event may still produce.
    pub(crate) budget: usize,
}

/// One set of per-connection limits and the rate clock derived from it.
pub(crate) struct Profile {
    pub(crate) limits: ConnLimits,
    pub(crate) rate: RateClock,
}

impl Profile {
    pub(crate) fn of(limits: &ConnLimits) -> Profile {
        let mut limits = limits.clone();
        limits.output_high_water = limits.output_high_water.min(limits.max_output);
        Profile {
            rate: RateClock::of(&limits),
            limits,
        }
    }
}

impl<C> Shared<C> {
    /// The limits of profile `p` (always a registered one: only the reactor sets it).
    pub(crate) fn limits(&self, p: u8) -> &ConnLimits {
        &self.profiles[usize::from(p)].limits
    }

    fn rate(&self, p: u8) -> RateClock {
        self.profiles[usize::from(p)].rate
    }

    pub(crate) fn ns_of(&self, t: Instant) -> Nanos {
        t.saturating_duration_since(self.start)
            .as_nanos()
            .min(u64::MAX as u128 - 1) as Nanos
    }

    /// `now + d`, or `NEVER` without a duration.
    fn after(&self, d: Option<Duration>) -> Nanos {
        d.map_or(NEVER, |d| self.now_ns.saturating_add(dur_ns(d)))
    }

    /// Take `produced` bytes off the event's output budget.
    fn spend(&mut self, produced: usize) {
        self.budget = self.budget.saturating_sub(produced);
    }
}

fn dur_ns(d: Duration) -> Nanos {
    d.as_nanos().min(u64::MAX as u128 / 2) as Nanos
}

fn io_close_reason(e: &io::Error) -> CloseReason {
    match e.raw_os_error() {
        Some(libc::ECONNRESET | libc::EPIPE | libc::ECONNABORTED) => CloseReason::Reset,
        _ => CloseReason::Error,
    }
}

/// The context of one protocol call. A macro, not a method: it borrows only `sh.ctx`,
/// so `sh.out` can be lent to the same call.
macro_rules! cx {
    ($sh:ident, $conn:ident, $key:expr) => {
        Cx::of(
            $sh.now,
            ConnId {
                key: $key,
                gen: $conn.gen,
            },
            &mut $sh.ctx,
        )
    };
}

/// Result of driving a connection: `Err` carries why it must close now.
pub(crate) type Drive = Result<(), CloseReason>;

impl<P: Protocol> Conn<P> {
    pub(crate) fn new(sock: TcpStream, gen: u32, state: State, proto: P) -> Conn<P> {
        Conn {
            sock,
            gen,
            tag: state as u8,
            flags: flag::WRITABLE,
            progress: 0,
            input: None,
            output: None,
            timeout_at: NEVER,
            deadline: Deadline::default(),
            proto,
        }
    }

    /// The one place a state changes, so every transition can be checked.
    pub(crate) fn set_state(&mut self, to: State) {
        debug_assert!(
            matches!(
                (self.state(), to),
                (State::Connecting, State::Open)
                    | (State::Open, State::Flushing)
                    | (State::Flushing, State::Lingering)
                    | (_, State::Closed)
            ),
            "bad transition {:?} => {:?}",
            self.state(),
            to
        );
        self.tag = (self.tag & !STATE_MASK) | to as u8;
    }

    /// Where the connection is in its life.
    #[inline]
    pub(crate) fn state(&self) -> State {
        match self.tag & STATE_MASK {
            0 => State::Connecting,
            1 => State::Open,
            2 => State::Flushing,
            3 => State::Lingering,
            _ => State::Closed,
        }
    }

    /// Which of the reactor's limit profiles applies (0: the reactor's own limits).
    #[inline]
    pub(crate) fn profile(&self) -> u8 {
        self.tag >> 3
    }

    fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }

    fn output_len(&self) -> usize {
        self.output.as_ref().map_or(0, |b| b.len())
    }

    fn input_len(&self) -> usize {
        self.input.as_ref().map_or(0, |b| b.len())
    }

    /// Output waits for the peer to take it: queued bytes, or a producer with more to
    /// come. Input behind it is not offered until it is gone.
    fn output_pending(&self) -> bool {
        self.output.is_some() || self.proto.wants_drained()
    }

    /// Nothing in flight: no partial input, no unsent output, nothing to produce.
    pub(crate) fn is_idle(&self) -> bool {
        self.state() == State::Open
            && self.input.is_none()
            && self.output.is_none()
            && !self.proto.wants_drained()
    }

    /// Give the buffers back to the pool and drop the timer (on close).
    pub(crate) fn release(&mut self, pool: &mut BufPool, timers: &mut Timers) {
        if let Some(b) = self.input.take() {
            pool.give(b);
        }
        if let Some(b) = self.output.take() {
            pool.give(b);
        }
        self.deadline.cancel(timers);
    }

    /// The socket became ready (or a budget ran out earlier and we are back).
    pub(crate) fn on_ready(
        &mut self,
        sh: &mut Shared<P::Context>,
        key: usize,
        readable: bool,
        writable: bool,
        hup: bool,
    ) -> Drive {
        self.flags &= !flag::REQUEUED;
        sh.budget = EVENT_BUDGET;
        if self.state() == State::Connecting {
            if !(writable || hup) {
                return Ok(());
            }
            self.finish_connect(sh, key)?;
            if self.state() == State::Connecting {
                return Ok(()); // spurious wake-up
            }
            // Connected: go on as for any ready socket (read what may have arrived,
            // arm the protocol's timer).
            return self.drive(sh, key);
        }
        if writable {
            self.flags |= flag::WRITABLE;
        }
        if readable || hup {
            self.flags |= flag::READ_PENDING;
        }
        if hup {
            self.flags |= flag::HUP;
        }
        self.drive(sh, key)
    }

    /// Write what is queued, produce more, read: the body of every event.
    fn drive(&mut self, sh: &mut Shared<P::Context>, key: usize) -> Drive {
        if self.has(flag::WRITABLE) && self.output.is_some() {
            self.flush(sh)?;
        }
        if self.output.is_none() {
            self.after_drain(sh, key)?;
        }
        if self.has(flag::READ_PENDING)
            && !self.has(flag::READ_PAUSED)
            && self.state() != State::Closed
        {
            self.read_loop(sh, key)?;
            // Input may have started a producer (`/bytes/N`) whose first chunk went out
            // whole: the socket stays writable, so no WRITABLE edge will come to ask for
            // more. Feed it now.
            if self.output.is_none() && self.state() != State::Closed && self.proto.wants_drained()
            {
                self.after_drain(sh, key)?;
            }
        }
        if sh.draining && self.is_idle() {
            return Err(CloseReason::Shutdown);
        }
        self.update_clock(sh);
        self.refresh_deadline(sh, key);
        Ok(())
    }

    /// The output queue is empty: feed a producer, offer the input that waited behind
    /// the output, finish a close, lift backpressure.
    fn after_drain(&mut self, sh: &mut Shared<P::Context>, key: usize) -> Drive {
        let mut calls = 0;
        // Each pass feeds the producer while the socket takes it; when the producer is
        // done, the input waiting behind it is offered, which may start the next
        // producer (a second pipelined `/bytes/N`): feed that one too, now, because its
        // first chunk may have gone out whole and no WRITABLE edge will come for it.
        loop {
            if !matches!(self.state(), State::Open | State::Flushing) {
                return Ok(());
            }
            while self.proto.wants_drained() && self.has(flag::WRITABLE) && self.output.is_none() {
                if calls == CALLS_PER_EVENT || sh.budget == 0 {
                    self.requeue(sh, key);
                    return Ok(());
                }
                calls += 1;
                let chunk = PRODUCE_CHUNK
                    .min((sh.limits(self.profile()).max_output / 2).max(1))
                    .min(sh.budget);
                let mut cx = cx!(sh, self, key);
                let v = self.proto.on_drained(&mut sh.out, chunk, &mut cx);
                let produced = sh.out.len();
                sh.spend(produced);
                self.queue_output(sh)?;
                self.apply(sh, v)?;
                if produced == 0 {
                    break;
                }
            }
            if self.output_pending() {
                break;
            }
            if self.state() == State::Flushing {
                return self.finish_flush(sh);
            }
            if self.input.is_none() {
                break;
            }
            // Output gone, producer done: the input that waited behind them is offered
            // again (pipelined requests held back by the output budget).
            self.offer(sh, key, 0)?;
            let next_producer = self.proto.wants_drained()
                && self.has(flag::WRITABLE)
                && self.output.is_none()
                && !self.has(flag::REQUEUED);
            if !next_producer {
                break;
            }
        }
        self.update_pause(sh);
        Ok(())
    }

    /// Pause reading while output waits above the high-water mark or input waits behind
    /// output (backpressure: the kernel's queue, then the peer, hold the rest); resume
    /// when neither holds. Only an open connection pauses: a closing one reads to see
    /// the peer's FIN.
    fn update_pause(&mut self, sh: &Shared<P::Context>) {
        let pause = self.state() == State::Open
            && (self.output_len() > sh.limits(self.profile()).output_high_water
                || (self.input.is_some() && self.output_pending()));
        if pause {
            self.flags |= flag::READ_PAUSED;
        } else {
            self.flags &= !flag::READ_PAUSED;
        }
    }

    fn read_loop(&mut self, sh: &mut Shared<P::Context>, key: usize) -> Drive {
        let mut reads = 0;
        loop {
            if self.has(flag::READ_PAUSED) || self.state() == State::Closed {
                return Ok(());
            }
            if reads == READS_PER_EVENT || sh.budget == 0 {
                self.requeue(sh, key);
                return Ok(());
            }
            reads += 1;
            sh.stats.reads += 1;
            match self.sock.read(&mut sh.scratch) {
                Ok(0) => {
                    self.flags &= !flag::READ_PENDING;
                    return self.on_eof(sh, key);
                }
                Ok(n) => {
                    sh.stats.bytes_in += n as u64;
                    self.progress = self
                        .progress
                        .saturating_add(n.min(u16::MAX as usize) as u16);
                    match self.state() {
                        State::Open if !self.has(flag::PEER_EOF) => self.offer(sh, key, n)?,
                        _ => {} // closing: input is read only to be dropped
                    }
                    if n < sh.scratch.len() && !self.has(flag::HUP) {
                        // Short read: the queue is drained; new data raises a new edge.
                        self.flags &= !flag::READ_PENDING;
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.flags &= !flag::READ_PENDING;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.fail(sh, &e)),
            }
        }
    }

    /// Hand `n` new bytes from the scratch buffer (joined with any leftover) to the
    /// protocol, and offer what is left again while it makes progress, the output goes
    /// out whole and the event's budget lasts. `n == 0` re-offers the leftover alone.
    fn offer(&mut self, sh: &mut Shared<P::Context>, key: usize, n: usize) -> Drive {
        if let Some(buf) = self.input.as_mut() {
            buf.extend(&sh.scratch[..n]);
        }
        let mut calls = 0;
        let mut used_any = false;
        loop {
            calls += 1;
            let budget = sh.budget.min(PRODUCE_CHUNK);
            let mut cx = cx!(sh, self, key);
            let step = match self.input.as_mut() {
                Some(buf) => {
                    let step =
                        self.proto
                            .on_input_mut(buf.as_mut_slice(), &mut sh.out, budget, &mut cx);
                    buf.consume(step.consumed);
                    step
                }
                None => {
                    let step =
                        self.proto
                            .on_input_mut(&mut sh.scratch[..n], &mut sh.out, budget, &mut cx);
                    if step.consumed < n {
                        let mut buf = sh.pool.take();
                        buf.extend(&sh.scratch[step.consumed.min(n)..n]);
                        self.input = Some(buf);
                    }
                    step
                }
            };
            let (consumed, verdict) = (step.consumed, step.verdict);
            used_any |= consumed > 0;
            if self.input.as_ref().is_some_and(|b| b.is_empty()) {
                if let Some(b) = self.input.take() {
                    sh.pool.give(b);
                }
            }
            let produced = sh.out.len();
            sh.spend(produced);
            self.queue_output(sh)?;
            self.apply(sh, verdict)?;
            if self.state() != State::Open || self.input.is_none() {
                break;
            }
            // Complete requests may be left that the output budget held back: offer
            // them now if what was answered went out whole (the peer is reading), else
            // once it has (after_drain).
            if consumed == 0 || self.output_pending() {
                break;
            }
            if calls == CALLS_PER_EVENT || sh.budget == 0 {
                self.requeue(sh, key);
                break;
            }
        }
        if used_any && self.has(flag::HEADER) {
            // A request completed: the next one gets a header clock of its own, and until
            // one starts the idle clock runs again (update_clock sees no change of clock
            // from here, so it must be set now, or the header deadline would stay).
            self.flags &= !flag::HEADER;
            self.timeout_at = sh.after(sh.limits(self.profile()).idle_timeout);
        }
        if self.state() != State::Open {
            return Ok(());
        }
        self.update_pause(sh);
        if self.input_len() > sh.limits(self.profile()).max_input && !self.has(flag::READ_PAUSED) {
            // Strictly more: a protocol with a limit of its own at max_input (HTTP's
            // 431) gets to see the input that crosses it and answer first. Input that
            // waits behind output is backpressure, not overflow: reading is paused.
            return Err(CloseReason::InputOverflow);
        }
        Ok(())
    }

    /// Which clock `timeout_at` runs on now, and restart it if that changed:
    /// - the rate clock while output waits for the peer or a body arrives
    ///   ([`ConnLimits::min_rate`]; `RATE`);
    /// - the header clock while a partial request waits for its own bytes (`HEADER`),
    ///   which new bytes do not reset (slowloris);
    /// - otherwise the idle clock, which activity restarts ([`Conn::touch`]).
    ///
    /// Connecting and lingering connections keep the timeout set on entering them.
    fn update_clock(&mut self, sh: &Shared<P::Context>) {
        if !matches!(self.state(), State::Open | State::Flushing) {
            return;
        }
        let open = self.state() == State::Open;
        let rate = sh.rate(self.profile()).window.is_some()
            && (self.output_pending() || (open && self.proto.awaits_input()));
        let want = if rate {
            flag::RATE
        } else if open && (self.input.is_some() || self.proto.mid_unit()) && !self.output_pending()
        {
            flag::HEADER
        } else {
            0
        };
        if self.flags & (flag::RATE | flag::HEADER) == want {
            return;
        }
        self.flags = (self.flags & !(flag::RATE | flag::HEADER)) | want;
        self.timeout_at = match want {
            flag::RATE => {
                self.progress = 0;
                sh.after(sh.rate(self.profile()).window)
            }
            flag::HEADER => sh.after(
                sh.limits(self.profile())
                    .header_timeout
                    .or(sh.limits(self.profile()).idle_timeout),
            ),
            _ => sh.after(sh.limits(self.profile()).idle_timeout),
        };
    }

    /// Switch to limit profile `p` and restart the clock of the current state under
    /// its limits.
    pub(crate) fn set_profile(&mut self, sh: &mut Shared<P::Context>, key: usize, p: u8) {
        debug_assert!(usize::from(p) < MAX_PROFILES);
        self.tag = (self.tag & STATE_MASK) | (p << 3);
        match self.state() {
            State::Connecting => {
                self.timeout_at = sh.after(sh.limits(p).connect_timeout);
            }
            State::Open | State::Flushing => {
                self.flags &= !(flag::RATE | flag::HEADER);
                self.progress = 0;
                self.timeout_at = sh.after(sh.limits(p).idle_timeout);
                self.update_clock(sh);
            }
            State::Lingering | State::Closed => {}
        }
        self.refresh_deadline(sh, key);
    }

    /// Some activity happened: restart the idle clock, if that is the one running.
    fn touch(&mut self, sh: &Shared<P::Context>) {
        if !self.has(flag::HEADER | flag::RATE)
            && matches!(self.state(), State::Open | State::Flushing)
        {
            self.timeout_at = sh.after(sh.limits(self.profile()).idle_timeout);
        }
    }

    /// Write the protocol's fresh output (in `sh.out`) or queue it behind what waits.
    fn queue_output(&mut self, sh: &mut Shared<P::Context>) -> Drive {
        if sh.out.is_empty() {
            return Ok(());
        }
        if self.state() == State::Closed {
            sh.out.clear();
            return Ok(());
        }
        let res = match self.output.as_mut() {
            Some(buf) => {
                buf.extend(&sh.out);
                sh.out.clear();
                if self.has(flag::WRITABLE) {
                    self.flush(sh)
                } else {
                    Ok(())
                }
            }
            None => {
                let mut off = 0;
                let mut res = Ok(());
                if self.has(flag::WRITABLE) {
                    match write_some(&mut self.sock, &sh.out, &mut sh.stats) {
                        Ok((n, full)) => {
                            off = n;
                            if full {
                                self.flags &= !flag::WRITABLE;
                            }
                        }
                        Err(e) => res = Err(self.fail(sh, &e)),
                    }
                }
                if res.is_ok() && off < sh.out.len() {
                    let mut buf = sh.pool.take();
                    buf.extend(&sh.out[off..]);
                    self.output = Some(buf);
                }
                sh.out.clear();
                if off > 0 {
                    self.progress = self
                        .progress
                        .saturating_add(off.min(u16::MAX as usize) as u16);
                    self.touch(sh);
                }
                res
            }
        };
        res?;
        self.check_output(sh)
    }

    /// Send queued output until it is gone or the socket is full.
    fn flush(&mut self, sh: &mut Shared<P::Context>) -> Drive {
        let Some(buf) = self.output.as_mut() else {
            return Ok(());
        };
        match write_some(&mut self.sock, buf.as_slice(), &mut sh.stats) {
            Ok((n, full)) => {
                buf.consume(n);
                if full {
                    self.flags &= !flag::WRITABLE;
                }
                if buf.is_empty() {
                    if let Some(b) = self.output.take() {
                        sh.pool.give(b);
                    }
                }
                if n > 0 {
                    self.progress = self
                        .progress
                        .saturating_add(n.min(u16::MAX as usize) as u16);
                    self.touch(sh);
                }
                self.check_output(sh)
            }
            Err(e) => Err(self.fail(sh, &e)),
        }
    }

    /// Enforce the output cap and the high-water mark.
    fn check_output(&mut self, sh: &mut Shared<P::Context>) -> Drive {
        let pending = self.output_len();
        if pending > sh.limits(self.profile()).max_output {
            return Err(CloseReason::OutputOverflow);
        }
        if pending > sh.limits(self.profile()).output_high_water && self.state() == State::Open {
            self.flags |= flag::READ_PAUSED;
        }
        Ok(())
    }

    /// Act on a protocol's verdict. `Close` is always [`CloseReason::Protocol`],
    /// whichever callback said it.
    fn apply(&mut self, sh: &mut Shared<P::Context>, v: Verdict) -> Drive {
        match v {
            Verdict::Continue => Ok(()),
            Verdict::Close => Err(CloseReason::Protocol),
            Verdict::CloseAfterFlush => {
                if self.state() == State::Open {
                    self.set_state(State::Flushing);
                    // Input that arrives from now on is dropped; nothing else is answered,
                    // and it is read (not paused) so the peer's FIN is seen.
                    if let Some(b) = self.input.take() {
                        sh.pool.give(b);
                    }
                    self.flags &= !(flag::READ_PAUSED | flag::HEADER | flag::RATE);
                    self.timeout_at = sh.after(sh.limits(self.profile()).idle_timeout);
                    if self.output.is_none() && !self.proto.wants_drained() {
                        return self.finish_flush(sh);
                    }
                }
                Ok(())
            }
        }
    }

    /// Output of a closing connection is all sent: close, or shut down and linger.
    fn finish_flush(&mut self, sh: &mut Shared<P::Context>) -> Drive {
        if self.has(flag::PEER_EOF) {
            return Err(CloseReason::Peer);
        }
        if let Err(e) = self.sock.shutdown(std::net::Shutdown::Write) {
            return Err(self.fail(sh, &e));
        }
        self.set_state(State::Lingering);
        self.flags &= !(flag::HEADER | flag::RATE);
        self.timeout_at = sh
            .now_ns
            .saturating_add(dur_ns(sh.limits(self.profile()).linger_timeout));
        // Read (and drop) until the peer's FIN, whatever paused reading before.
        self.flags &= !flag::READ_PAUSED;
        self.flags |= flag::READ_PENDING; // the peer may already have closed
        Ok(())
    }

    fn on_eof(&mut self, sh: &mut Shared<P::Context>, key: usize) -> Drive {
        let first = !self.has(flag::PEER_EOF);
        self.flags |= flag::PEER_EOF;
        match self.state() {
            State::Lingering => Err(CloseReason::Done),
            State::Flushing => {
                if self.output.is_none() && !self.proto.wants_drained() {
                    Err(CloseReason::Peer)
                } else {
                    Ok(())
                }
            }
            State::Open if first => {
                let mut cx = cx!(sh, self, key);
                let v = self.proto.on_eof(&mut sh.out, &mut cx);
                self.queue_output(sh)?;
                if v == Verdict::CloseAfterFlush
                    && self.output.is_none()
                    && !self.proto.wants_drained()
                {
                    // Nothing left to say to a peer that has gone quiet: it closed.
                    return Err(CloseReason::Peer);
                }
                self.apply(sh, v)
            }
            _ => Ok(()),
        }
    }

    fn finish_connect(&mut self, sh: &mut Shared<P::Context>, key: usize) -> Drive {
        match self.sock.take_error() {
            Ok(None) => {}
            Ok(Some(e)) | Err(e) => {
                if let Some(errno) = e.raw_os_error() {
                    sh.stats.count_errno(errno);
                    sh.last_errno = Some(errno);
                }
                return Err(CloseReason::ConnectFailed);
            }
        }
        match self.sock.peer_addr() {
            Ok(_) => {}
            // Spurious wake-up: not connected yet, wait for the next edge.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(()),
            Err(e) => {
                if let Some(errno) = e.raw_os_error() {
                    sh.stats.count_errno(errno);
                    sh.last_errno = Some(errno);
                }
                return Err(CloseReason::ConnectFailed);
            }
        }
        self.set_state(State::Open);
        sh.stats.connected += 1;
        self.flags |= flag::WRITABLE | flag::READ_PENDING;
        self.timeout_at = NEVER;
        self.touch(sh);
        let mut cx = cx!(sh, self, key);
        let v = self.proto.on_connected(&mut sh.out, &mut cx);
        let produced = sh.out.len();
        sh.spend(produced);
        self.queue_output(sh)?;
        self.apply(sh, v)?;
        Ok(())
    }

    /// A timer reminder for this connection fired.
    pub(crate) fn on_timer(&mut self, sh: &mut Shared<P::Context>, key: usize, at: Nanos) -> Drive {
        if !self
            .deadline
            .fire(at, sh.now_ns, key as u64, &mut sh.timers)
        {
            return Ok(());
        }
        sh.budget = EVENT_BUDGET;
        if self.timeout_at <= sh.now_ns && self.state() == State::Connecting {
            // The deadline says "too late", but the kernel may have finished the
            // handshake while this loop was busy and its WRITABLE event is still
            // queued: ask the socket before calling it a timeout.
            self.finish_connect(sh, key)?;
            if self.state() == State::Connecting {
                return Err(CloseReason::ConnectTimeout);
            }
            return self.drive(sh, key);
        }
        if self.timeout_at <= sh.now_ns {
            match self.state() {
                State::Connecting => return Err(CloseReason::ConnectTimeout),
                State::Lingering => return Err(CloseReason::Done),
                _ if self.has(flag::RATE) => {
                    // The window is over: enough moved, or the peer is too slow.
                    if self.progress < sh.rate(self.profile()).need {
                        return Err(CloseReason::SlowPeer);
                    }
                    self.progress = 0;
                    self.timeout_at = sh.after(sh.rate(self.profile()).window);
                }
                State::Open
                    if self.has(flag::HEADER)
                        && sh.limits(self.profile()).header_timeout.is_some() =>
                {
                    return Err(CloseReason::HeaderTimeout)
                }
                _ => return Err(CloseReason::IdleTimeout),
            }
        }
        if self.state() == State::Open && self.proto.poll_at(&sh.ctx).is_some_and(|t| t <= sh.now) {
            let mut cx = cx!(sh, self, key);
            let v = self.proto.on_timer(&mut sh.out, &mut cx);
            let produced = sh.out.len();
            sh.spend(produced);
            self.queue_output(sh)?;
            self.apply(sh, v)?;
        }
        self.update_clock(sh);
        self.refresh_deadline(sh, key);
        Ok(())
    }

    /// Put `min(timeout, protocol's poll_at)` in the timer heap (cheap when unchanged).
    /// A protocol whose `poll_at` is still due after `on_timer` is reminded on the next
    /// turn: the reactor runs only the reminders due when its timer pass began.
    pub(crate) fn refresh_deadline(&mut self, sh: &mut Shared<P::Context>, key: usize) {
        let mut want = self.timeout_at;
        if self.state() == State::Open {
            if let Some(t) = self.proto.poll_at(&sh.ctx) {
                want = want.min(sh.ns_of(t));
            }
        }
        if want != self.deadline.get() {
            self.deadline.set(want, key as u64, &mut sh.timers);
        }
    }

    /// The host writes `data` on this connection (queued behind any pending output).
    pub(crate) fn send(&mut self, sh: &mut Shared<P::Context>, key: usize, data: &[u8]) -> Drive {
        if !matches!(self.state(), State::Open) {
            return Ok(());
        }
        sh.out.extend_from_slice(data);
        self.queue_output(sh)?;
        self.update_clock(sh);
        self.refresh_deadline(sh, key);
        Ok(())
    }

    /// Look at this connection again next turn without waiting for an edge.
    fn requeue(&mut self, sh: &mut Shared<P::Context>, key: usize) {
        if !self.has(flag::REQUEUED) {
            self.flags |= flag::REQUEUED;
            sh.requeue.push((key, self.gen));
        }
    }

    /// A socket error: count its errno, pick the close reason.
    fn fail(&mut self, sh: &mut Shared<P::Context>, e: &io::Error) -> CloseReason {
        if let Some(errno) = e.raw_os_error() {
            sh.stats.count_errno(errno);
            sh.last_errno = Some(errno);
        }
        io_close_reason(e)
    }

    /// Start closing from outside (graceful shutdown): idle connections close now,
    /// busy ones when their output is gone.
    pub(crate) fn begin_shutdown(&mut self) -> Drive {
        if self.is_idle() || self.state() == State::Connecting {
            return Err(CloseReason::Shutdown);
        }
        Ok(())
    }

    /// Whether a close now would cut a response in flight (unsent output, a producer
    /// with more to come): what a shutdown deadline reports.
    pub(crate) fn has_pending_output(&self) -> bool {
        matches!(self.state(), State::Open | State::Flushing) && self.output_pending()
    }
}

/// Write as much of `data` as the socket takes. Returns bytes written and whether the
/// socket is now full (`WouldBlock` or a short write: wait for the next WRITABLE edge).
fn write_some(sock: &mut TcpStream, data: &[u8], stats: &mut Stats) -> io::Result<(usize, bool)> {
    let mut off = 0;
    while off < data.len() {
        stats.writes += 1;
        match sock.write(&data[off..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                off += n;
                stats.bytes_out += n as u64;
                if off < data.len() {
                    // Short write: the send buffer is full, an edge will say when not.
                    return Ok((off, true));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((off, true)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((off, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Echo;

    #[test]
    fn test_conn_slot_stays_small() {
        // Every idle connection pays for its slot: keep it within a cache line and a half.
        let size = std::mem::size_of::<Conn<Echo>>();
        assert!(size <= 64, "Conn<Echo> is {size} bytes");
        #[cfg(feature = "server")]
        {
            let any = std::mem::size_of::<Conn<crate::server::AnyProto>>();
            let entry = std::mem::size_of::<slab::Slab<Conn<crate::server::AnyProto>>>();
            eprintln!("Conn<AnyProto> {any} bytes, Slab header {entry}");
            assert!(any <= 104, "Conn<AnyProto> is {any} bytes");
        }
    }
}
