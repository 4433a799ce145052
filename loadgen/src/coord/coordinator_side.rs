//! The coordinator's end of one member connection, sans I/O: fed the bytes that
//! arrived, it returns what happened ([`Event`]) and queues the messages to send
//! ([`CoordinatorSide::take_outbox`]). The shell (`coordinator.rs`) owns the socket,
//! the deadlines and the run's shared state; this file owns the order of messages.

use super::auth::{self, Role, Token, Transcript};
use super::budget::Budget;
use super::clock::{Clock, Estimate, Filter, Sample};
use super::link::{Outbox, Partial};
use super::wire::{Decoder, Hello, Msg, RefuseCode, WireError};
use super::{short_hex, PROTOCOL};
use std::sync::Arc;

/// What every connection of a coordinator checks members against.
#[derive(Debug)]
pub(crate) struct Terms {
    /// N, segments of the run.
    pub segments: u32,
    /// The plan's hash.
    pub plan_hash: [u8; 32],
    /// This loadgen's version.
    pub version: String,
    /// The shared token, if any.
    pub token: Option<Token>,
    /// The run's nonce.
    pub nonce: [u8; 16],
    /// Clock round trips per member.
    pub pings: u32,
    /// The largest RESULT accepted.
    pub max_result: usize,
}

/// Where the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Hello,
    Auth,
    /// Authenticated; the shell decides whether the index is free.
    Admission,
    /// Admitted; waiting for READY.
    Ready,
    /// Clock round trips.
    Syncing,
    /// Ready and synced; waiting for the start.
    Synced,
    /// START sent: the member measures.
    Running,
    /// RESULT or FAIL arrived.
    Finished,
    /// Refused or aborted: nothing more is read.
    Closed,
}

/// What a member's bytes meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// Refused at HELLO or AUTH (the REFUSE is queued); close after sending it.
    Refused(RefuseCode),
    /// The member proved the token (or neither side has one): admit it or refuse it.
    Authenticated {
        /// Its segment index.
        index: u32,
    },
    /// READY, and the clock round trips are done.
    Synced(Estimate),
    /// The member started measuring at this Unix time (ns) on its own clock.
    Started(i64),
    /// The member's result.
    Result(Vec<u8>),
    /// The member gave up, with its reason.
    Failed(String),
}

/// Why the connection must be closed: the member broke the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Bytes that are not a message.
    Wire(WireError),
    /// A message out of place.
    Unexpected {
        /// The message's name.
        got: &'static str,
        /// What was expected.
        expected: &'static str,
    },
    /// Heartbeats beyond their rate.
    Flood,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Wire(e) => e.fmt(f),
            Fault::Unexpected { got, expected } => {
                write!(f, "sent {got} where {expected} was expected")
            }
            Fault::Flood => f.write_str("sent heartbeats beyond their rate"),
        }
    }
}

/// The coordinator's end of one connection.
#[derive(Debug)]
pub(crate) struct CoordinatorSide {
    terms: Arc<Terms>,
    phase: Phase,
    decoder: Decoder,
    challenge: [u8; 32],
    hello: Option<Hello>,
    member_challenge: [u8; 32],
    filter: Filter,
    ping: Option<(u32, i64)>,
    budget: Budget,
    started: bool,
    stopped: bool,
    outbox: Vec<Msg>,
}

impl CoordinatorSide {
    /// A connection that just opened, that will challenge with `challenge`.
    pub fn new(terms: Arc<Terms>, challenge: [u8; 32], clock: &dyn Clock) -> CoordinatorSide {
        CoordinatorSide {
            terms,
            phase: Phase::Hello,
            decoder: Decoder::new(),
            challenge,
            hello: None,
            member_challenge: [0; 32],
            filter: Filter::default(),
            ping: None,
            budget: Budget::new(clock.mono()),
            started: false,
            stopped: false,
            outbox: Vec::new(),
        }
    }

    /// The member's index, once it said HELLO.
    pub fn index(&self) -> Option<u32> {
        self.hello.as_ref().map(|h| h.index)
    }

    /// Take the bytes that arrived: the events they make, in order, or the fault that
    /// closes the connection.
    pub fn feed(&mut self, bytes: &[u8], clock: &dyn Clock) -> Result<Vec<Event>, Fault> {
        self.decoder.push(bytes);
        let mut events = Vec::new();
        while self.phase != Phase::Closed {
            let Some(msg) = self.decoder.next_msg().map_err(Fault::Wire)? else {
                break;
            };
            if let Some(e) = self.on_msg(msg, clock)? {
                events.push(e);
            }
        }
        Ok(events)
    }

    fn on_msg(&mut self, msg: Msg, clock: &dyn Clock) -> Result<Option<Event>, Fault> {
        match (self.phase, msg) {
            (Phase::Hello, Msg::Hello(h)) => Ok(self.on_hello(h)),
            (Phase::Auth, Msg::Auth { challenge, proof }) => {
                Ok(Some(self.on_auth(challenge, proof)))
            }
            (p, Msg::Heartbeat) if self.after_admission(p) => {
                if self.budget.spend(clock.mono()) {
                    Ok(None)
                } else {
                    Err(Fault::Flood)
                }
            }
            (p, Msg::Fail { reason }) if self.after_admission(p) => {
                self.phase = Phase::Finished;
                Ok(Some(Event::Failed(reason)))
            }
            (Phase::Ready, Msg::Ready) => {
                self.phase = Phase::Syncing;
                self.ping(clock);
                Ok(None)
            }
            (Phase::Syncing, Msg::Pong { seq, t1, t2 }) => self.on_pong(seq, t1, t2, clock),
            (Phase::Running, Msg::Started { unix_ns }) if !self.started => {
                self.started = true;
                Ok(Some(Event::Started(unix_ns)))
            }
            (Phase::Running, Msg::Result(bytes)) => {
                self.phase = Phase::Finished;
                self.outbox.push(Msg::Done);
                Ok(Some(Event::Result(bytes)))
            }
            (p, m) => Err(Fault::Unexpected {
                got: m.name(),
                expected: expected(p),
            }),
        }
    }

    fn after_admission(&self, p: Phase) -> bool {
        matches!(
            p,
            Phase::Ready | Phase::Syncing | Phase::Synced | Phase::Running | Phase::Finished
        )
    }

    fn on_hello(&mut self, h: Hello) -> Option<Event> {
        let verdict = self.check_hello(&h);
        self.hello = Some(h);
        if let Err((code, reason)) = verdict {
            self.refuse(code, &reason);
            return Some(Event::Refused(code));
        }
        self.phase = Phase::Auth;
        self.outbox.push(Msg::Challenge {
            challenge: self.challenge,
            token: self.terms.token.is_some(),
        });
        None
    }

    /// Whether a HELLO belongs to this run, else the refusal.
    fn check_hello(&self, h: &Hello) -> Result<(), (RefuseCode, String)> {
        let t = &self.terms;
        let fail = |code, s: String| Err((code, s));
        if h.protocol != PROTOCOL {
            return fail(
                RefuseCode::Version,
                format!(
                    "coordination protocol {}, the coordinator speaks {PROTOCOL}",
                    h.protocol
                ),
            );
        }
        if h.version != t.version {
            return fail(
                RefuseCode::Version,
                format!("loadgen {}, the coordinator runs loadgen {}: every segment must run the same version", h.version, t.version),
            );
        }
        if h.segments != t.segments {
            return fail(
                RefuseCode::Plan,
                format!(
                    "a run of {} segments, the coordinator's has {}",
                    h.segments, t.segments
                ),
            );
        }
        if h.plan_hash != t.plan_hash {
            return fail(
                RefuseCode::Plan,
                format!("another plan (hash {}, the coordinator's {}): every segment must be given the same run", short_hex(&h.plan_hash), short_hex(&t.plan_hash)),
            );
        }
        if h.index == 0 || h.index >= t.segments {
            return fail(
                RefuseCode::Index,
                format!(
                    "segment index {} is not a member's (1 to {})",
                    h.index,
                    t.segments - 1
                ),
            );
        }
        match (h.token, t.token.is_some()) {
            (false, true) => fail(
                RefuseCode::Token,
                "no token, and the coordinator requires one (--token or LOADGEN_TOKEN)".into(),
            ),
            (true, false) => fail(
                RefuseCode::Token,
                "a token, and the coordinator has none: give both the same token, or neither"
                    .into(),
            ),
            _ => Ok(()),
        }
    }

    fn transcript(&self) -> Option<Transcript> {
        let h = self.hello.as_ref()?;
        Some(Transcript {
            protocol: PROTOCOL,
            plan_hash: h.plan_hash,
            index: h.index,
            segments: h.segments,
            coordinator_challenge: self.challenge,
            member_challenge: self.member_challenge,
        })
    }

    fn on_auth(&mut self, challenge: [u8; 32], proof: Option<[u8; 32]>) -> Event {
        self.member_challenge = challenge;
        let good = match (&self.terms.token, proof, self.transcript()) {
            (None, None, Some(_)) => true,
            (Some(tok), Some(p), Some(t)) => auth::verify(tok, Role::Member, &t, &[], &p),
            _ => false,
        };
        if !good {
            self.refuse(RefuseCode::Token, "wrong token");
            return Event::Refused(RefuseCode::Token);
        }
        self.phase = Phase::Admission;
        Event::Authenticated {
            index: self.index().unwrap_or(0),
        }
    }

    /// Admit the authenticated member: WELCOME, with the coordinator's proof.
    pub fn admit(&mut self) {
        if self.phase != Phase::Admission {
            return;
        }
        let nonce = self.terms.nonce;
        let proof = match (&self.terms.token, self.transcript()) {
            (Some(tok), Some(t)) => Some(auth::prove(tok, Role::Coordinator, &t, &nonce)),
            _ => None,
        };
        self.outbox.push(Msg::Welcome { proof, nonce });
        self.phase = Phase::Ready;
    }

    /// Refuse the member: REFUSE, then nothing more.
    pub fn refuse(&mut self, code: RefuseCode, reason: &str) {
        self.outbox.push(Msg::Refuse {
            code,
            reason: reason.to_owned(),
        });
        self.phase = Phase::Closed;
    }

    fn ping(&mut self, clock: &dyn Clock) {
        let seq = self.filter.seen();
        let t0 = clock.unix_ns();
        self.ping = Some((seq, t0));
        self.outbox.push(Msg::Ping { seq, t0 });
    }

    fn on_pong(
        &mut self,
        seq: u32,
        t1: i64,
        t2: i64,
        clock: &dyn Clock,
    ) -> Result<Option<Event>, Fault> {
        let t3 = clock.unix_ns();
        let Some((want, t0)) = self.ping.take().filter(|(s, _)| *s == seq) else {
            return Err(Fault::Unexpected {
                got: "PONG",
                expected: "the PONG of the last PING",
            });
        };
        debug_assert_eq!(want, seq);
        self.filter.add(Sample { t0, t1, t2, t3 });
        if self.filter.seen() < self.terms.pings.max(1) {
            self.ping(clock);
            return Ok(None);
        }
        self.phase = Phase::Synced;
        // Every sample had a clock stepped backwards: an estimate of no bound.
        let e = self.filter.estimate().unwrap_or(Estimate {
            offset_ns: 0,
            delay_ns: i64::MAX,
        });
        Ok(Some(Event::Synced(e)))
    }

    /// The clock estimate, once synced.
    pub fn estimate(&self) -> Option<Estimate> {
        self.filter.estimate()
    }

    /// Send START for `at_unix_ns` (coordinator's clock); false if the member is not
    /// synced.
    pub fn start(&mut self, at_unix_ns: i64) -> bool {
        if self.phase != Phase::Synced {
            return false;
        }
        let e = self.estimate().unwrap_or(Estimate {
            offset_ns: 0,
            delay_ns: i64::MAX,
        });
        self.outbox.push(Msg::Start {
            at_unix_ns,
            nonce: self.terms.nonce,
            offset_ns: e.offset_ns,
            delay_ns: e.delay_ns,
        });
        self.decoder.set_max_result(self.terms.max_result);
        self.phase = Phase::Running;
        true
    }

    /// Send ABORT before the start; nothing more is read.
    pub fn abort(&mut self, reason: &str) {
        if matches!(self.phase, Phase::Ready | Phase::Syncing | Phase::Synced) {
            self.outbox.push(Msg::Abort {
                reason: reason.to_owned(),
            });
            self.phase = Phase::Closed;
        }
    }

    /// Send STOP during the run (once).
    pub fn stop(&mut self) {
        if self.phase == Phase::Running && !self.stopped {
            self.stopped = true;
            self.outbox.push(Msg::Stop);
        }
    }

    /// Queue a heartbeat, if the member was admitted and is still in the run.
    pub fn heartbeat(&mut self) {
        if self.after_admission(self.phase) {
            self.outbox.push(Msg::Heartbeat);
        }
    }
}

fn expected(p: Phase) -> &'static str {
    match p {
        Phase::Hello => "HELLO",
        Phase::Auth => "AUTH",
        Phase::Admission => "nothing (admission pending)",
        Phase::Ready => "READY",
        Phase::Syncing => "PONG",
        Phase::Synced => "nothing before START",
        Phase::Running => "STARTED or RESULT",
        Phase::Finished => "nothing after RESULT",
        Phase::Closed => "nothing (closed)",
    }
}

impl Outbox for CoordinatorSide {
    fn take_outbox(&mut self) -> Vec<Msg> {
        std::mem::take(&mut self.outbox)
    }

    fn partial(&self) -> Partial {
        Partial::of(&self.decoder)
    }
}
