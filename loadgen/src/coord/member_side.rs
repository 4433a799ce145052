//! A member's end of its connection to the coordinator, sans I/O: fed the bytes that
//! arrived, it returns what happened ([`Event`]) and queues the messages to send. The
//! shell (`member.rs`) owns the socket, the deadlines and the threads.

use super::auth::{self, Role, Token, Transcript};
use super::budget::Budget;
use super::clock::Clock;
use super::link::{Outbox, Partial};
use super::wire::{Decoder, Hello, Msg, RefuseCode, WireError};
use super::PROTOCOL;

/// The most PINGs a member answers (the coordinator sends [`super::PINGS`]).
const MAX_PINGS: u32 = 64;

/// Who the member is.
#[derive(Debug, Clone)]
pub(crate) struct MemberTerms {
    /// Its segment index, 1..segments.
    pub index: u32,
    /// N.
    pub segments: u32,
    /// The plan's hash.
    pub plan_hash: [u8; 32],
    /// Its loadgen version.
    pub version: String,
    /// The shared token, if any.
    pub token: Option<Token>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// HELLO sent, waiting for CHALLENGE.
    Challenge,
    /// AUTH sent, waiting for WELCOME.
    Welcome,
    /// Admitted; the caller opens its connections.
    Joined,
    /// READY sent: round trips, then START.
    Ready,
    /// START received: measuring.
    Running,
    /// RESULT sent, waiting for DONE.
    ResultSent,
    /// DONE received, or refused, aborted, failed: over.
    Over,
}

/// The start, as the coordinator sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StartPlan {
    /// The start, Unix ns on the coordinator's clock.
    pub at_unix_ns: i64,
    /// This member's clock minus the coordinator's, ns.
    pub offset_ns: i64,
    /// The round-trip delay of that estimate, ns.
    pub delay_ns: i64,
}

/// What the coordinator's bytes meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// Admitted to the run of this nonce; `authenticated` false without a token.
    Welcomed {
        /// The run's nonce.
        nonce: [u8; 16],
        /// Whether both sides proved the token.
        authenticated: bool,
    },
    /// Refused, with the coordinator's code and reason.
    Refused(RefuseCode, String),
    /// The start.
    Start(StartPlan),
    /// No start: the run is called off.
    Aborted(String),
    /// End the run early and send the result.
    Stop,
    /// The result arrived.
    Done,
}

/// Why the member closes the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Bytes that are not a message.
    Wire(WireError),
    /// A message out of place.
    Unexpected {
        /// The message's name.
        got: &'static str,
        /// The member's phase.
        phase: &'static str,
    },
    /// Heartbeats or PINGs beyond their bound.
    Flood,
    /// The coordinator did not prove the token.
    Impostor,
    /// One side has a token, the other not.
    TokenConfig,
    /// START named another nonce than WELCOME.
    NonceChanged,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Wire(e) => write!(f, "the coordinator sent garbage: {e}"),
            Fault::Unexpected { got, phase } => write!(f, "the coordinator sent {got} {phase}"),
            Fault::Flood => f.write_str("the coordinator sent messages beyond their bound"),
            Fault::Impostor => f.write_str("the coordinator did not prove the token: another token, or not the coordinator"),
            Fault::TokenConfig => f.write_str("the coordinator and this segment disagree on having a token: give both the same token, or neither"),
            Fault::NonceChanged => f.write_str("the coordinator's START names another run than its WELCOME"),
        }
    }
}

/// A member's end of the connection.
#[derive(Debug)]
pub(crate) struct MemberSide {
    terms: MemberTerms,
    phase: Phase,
    decoder: Decoder,
    challenge: [u8; 32],
    coordinator_challenge: [u8; 32],
    nonce: Option<[u8; 16]>,
    pings: u32,
    stopped: bool,
    started: bool,
    budget: Budget,
    outbox: Vec<Msg>,
}

impl MemberSide {
    /// A member that challenges with `challenge`; HELLO is queued.
    pub fn new(terms: MemberTerms, challenge: [u8; 32], clock: &dyn Clock) -> MemberSide {
        let hello = Msg::Hello(Hello {
            protocol: PROTOCOL,
            version: terms.version.clone(),
            plan_hash: terms.plan_hash,
            index: terms.index,
            segments: terms.segments,
            token: terms.token.is_some(),
        });
        MemberSide {
            terms,
            phase: Phase::Challenge,
            decoder: Decoder::new(),
            challenge,
            coordinator_challenge: [0; 32],
            nonce: None,
            pings: 0,
            stopped: false,
            started: false,
            budget: Budget::new(clock.mono()),
            outbox: vec![hello],
        }
    }

    /// Whether the run is over for this connection (DONE, refusal, abort, failure).
    pub fn is_over(&self) -> bool {
        self.phase == Phase::Over
    }

    /// Take the bytes that arrived: the events they make, or the fault that closes the
    /// connection.
    pub fn feed(&mut self, bytes: &[u8], clock: &dyn Clock) -> Result<Vec<Event>, Fault> {
        self.decoder.push(bytes);
        let mut events = Vec::new();
        while self.phase != Phase::Over {
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
        let joined = !matches!(self.phase, Phase::Challenge | Phase::Welcome);
        match (self.phase, msg) {
            (Phase::Challenge, Msg::Challenge { challenge, token }) => {
                self.on_challenge(challenge, token)
            }
            (Phase::Welcome, Msg::Welcome { proof, nonce }) => self.on_welcome(proof, nonce),
            (Phase::Challenge | Phase::Welcome, Msg::Refuse { code, reason }) => {
                self.phase = Phase::Over;
                Ok(Some(Event::Refused(code, reason)))
            }
            (_, Msg::Heartbeat) if joined => match self.budget.spend(clock.mono()) {
                true => Ok(None),
                false => Err(Fault::Flood),
            },
            (Phase::Joined | Phase::Ready, Msg::Abort { reason }) => {
                self.phase = Phase::Over;
                Ok(Some(Event::Aborted(reason)))
            }
            (Phase::Ready, Msg::Ping { seq, .. }) => self.on_ping(seq, clock),
            (
                Phase::Ready,
                Msg::Start {
                    at_unix_ns,
                    nonce,
                    offset_ns,
                    delay_ns,
                },
            ) => {
                if Some(nonce) != self.nonce {
                    return Err(Fault::NonceChanged);
                }
                self.phase = Phase::Running;
                Ok(Some(Event::Start(StartPlan {
                    at_unix_ns,
                    offset_ns,
                    delay_ns,
                })))
            }
            (Phase::Running | Phase::ResultSent, Msg::Stop) if !self.stopped => {
                self.stopped = true;
                Ok(Some(Event::Stop))
            }
            (Phase::ResultSent, Msg::Done) => {
                self.phase = Phase::Over;
                Ok(Some(Event::Done))
            }
            (p, m) => Err(Fault::Unexpected {
                got: m.name(),
                phase: phase_name(p),
            }),
        }
    }

    fn transcript(&self) -> Transcript {
        Transcript {
            protocol: PROTOCOL,
            plan_hash: self.terms.plan_hash,
            index: self.terms.index,
            segments: self.terms.segments,
            coordinator_challenge: self.coordinator_challenge,
            member_challenge: self.challenge,
        }
    }

    fn on_challenge(&mut self, challenge: [u8; 32], token: bool) -> Result<Option<Event>, Fault> {
        if token != self.terms.token.is_some() {
            return Err(Fault::TokenConfig);
        }
        self.coordinator_challenge = challenge;
        let t = self.transcript();
        let proof = self
            .terms
            .token
            .as_ref()
            .map(|tok| auth::prove(tok, Role::Member, &t, &[]));
        self.outbox.push(Msg::Auth {
            challenge: self.challenge,
            proof,
        });
        self.phase = Phase::Welcome;
        Ok(None)
    }

    fn on_welcome(
        &mut self,
        proof: Option<[u8; 32]>,
        nonce: [u8; 16],
    ) -> Result<Option<Event>, Fault> {
        let t = self.transcript();
        let good = match (&self.terms.token, proof) {
            (None, None) => true,
            (Some(tok), Some(p)) => auth::verify(tok, Role::Coordinator, &t, &nonce, &p),
            _ => false,
        };
        if !good {
            return Err(Fault::Impostor);
        }
        self.nonce = Some(nonce);
        self.phase = Phase::Joined;
        Ok(Some(Event::Welcomed {
            nonce,
            authenticated: self.terms.token.is_some(),
        }))
    }

    fn on_ping(&mut self, seq: u32, clock: &dyn Clock) -> Result<Option<Event>, Fault> {
        let t1 = clock.unix_ns();
        self.pings += 1;
        if self.pings > MAX_PINGS {
            return Err(Fault::Flood);
        }
        self.outbox.push(Msg::Pong {
            seq,
            t1,
            t2: clock.unix_ns(),
        });
        Ok(None)
    }

    /// The connections are open: READY. False unless just admitted.
    pub fn ready(&mut self) -> bool {
        if self.phase != Phase::Joined {
            return false;
        }
        self.outbox.push(Msg::Ready);
        self.phase = Phase::Ready;
        true
    }

    /// Measuring started at `unix_ns` on this member's clock: STARTED (once, while
    /// running).
    pub fn started(&mut self, unix_ns: i64) -> bool {
        if self.phase != Phase::Running || self.started {
            return false;
        }
        self.started = true;
        self.outbox.push(Msg::Started { unix_ns });
        true
    }

    /// The segment's result: RESULT. False unless running.
    pub fn result(&mut self, bytes: Vec<u8>) -> bool {
        if self.phase != Phase::Running {
            return false;
        }
        self.outbox.push(Msg::Result(bytes));
        self.phase = Phase::ResultSent;
        true
    }

    /// This member gives up: FAIL, then over.
    pub fn fail(&mut self, reason: &str) {
        if !matches!(self.phase, Phase::Challenge | Phase::Welcome | Phase::Over) {
            self.outbox.push(Msg::Fail {
                reason: reason.to_owned(),
            });
        }
        self.phase = Phase::Over;
    }

    /// Queue a heartbeat, once admitted and until over.
    pub fn heartbeat(&mut self) {
        if !matches!(self.phase, Phase::Challenge | Phase::Welcome | Phase::Over) {
            self.outbox.push(Msg::Heartbeat);
        }
    }
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Challenge => "in answer to HELLO",
        Phase::Welcome => "in answer to AUTH",
        Phase::Joined => "before READY",
        Phase::Ready => "before START",
        Phase::Running => "during the run",
        Phase::ResultSent => "after RESULT",
        Phase::Over => "after the end",
    }
}

impl Outbox for MemberSide {
    fn take_outbox(&mut self) -> Vec<Msg> {
        std::mem::take(&mut self.outbox)
    }

    fn partial(&self) -> Partial {
        Partial::of(&self.decoder)
    }
}
