//! The coordination channel's frames and messages: encoding, and a decoder fed
//! arbitrary bytes that returns messages or a [`WireError`], never panics.
//!
//! A frame is an 8-byte header, `b"rc"`, the frame version ([`FRAME_VERSION`]), the
//! message type, the payload length (u32, big endian), then the payload. Integers are
//! big endian; a text is a u16 length and UTF-8 without control characters; a payload
//! must be consumed exactly. Every payload is at most [`MAX_PAYLOAD`] bytes except a
//! RESULT's, whose bound the decoder is told ([`Decoder::set_max_result`]; 0, so no
//! RESULT at all, until the run has started). The header is checked as soon as its 8
//! bytes are in, so a garbage length is refused before anything is buffered for it.

use std::fmt;

/// The first two bytes of every frame.
pub const MAGIC: [u8; 2] = *b"rc";
/// The frame layout's version, third byte of every frame.
pub const FRAME_VERSION: u8 = 1;
/// The header's length: magic, version, type, payload length.
pub const HEADER: usize = 8;
/// The largest payload of every message but RESULT.
pub const MAX_PAYLOAD: usize = 4096;
/// The longest loadgen version string a HELLO carries.
pub const MAX_VERSION: usize = 64;
/// The longest reason (REFUSE, ABORT, FAIL), in bytes.
pub const MAX_REASON: usize = 512;

/// Why a member is refused: the REFUSE message's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefuseCode {
    /// Another protocol or loadgen version.
    Version = 1,
    /// Another plan: plan hash or number of segments.
    Plan = 2,
    /// Segment index 0 (the coordinator's) or out of range.
    Index = 3,
    /// Wrong token, or a token on one side only.
    Token = 4,
    /// Another connection holds this segment index.
    Taken = 5,
    /// The start was already sent.
    Late = 6,
    /// Too many connections in their handshake.
    Busy = 7,
}

impl RefuseCode {
    fn from_u8(b: u8) -> Option<RefuseCode> {
        use RefuseCode::*;
        [Version, Plan, Index, Token, Taken, Late, Busy]
            .into_iter()
            .find(|c| *c as u8 == b)
    }
}

/// A member's HELLO: who it is and which run it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// The coordination protocol's version ([`super::PROTOCOL`]).
    pub protocol: u16,
    /// The member's loadgen version.
    pub version: String,
    /// The hash of the run's plan.
    pub plan_hash: [u8; 32],
    /// The member's segment index, 1..segments.
    pub index: u32,
    /// The number of segments of the run, N.
    pub segments: u32,
    /// Whether the member has a token.
    pub token: bool,
}

/// One message of the channel (see the table in [`super`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// Member: who it is.
    Hello(Hello),
    /// Coordinator: its challenge, and whether it has a token.
    Challenge {
        /// 32 random bytes.
        challenge: [u8; 32],
        /// Whether the coordinator has a token.
        token: bool,
    },
    /// Member: its answer to the challenge, and its own challenge.
    Auth {
        /// 32 random bytes the coordinator must answer.
        challenge: [u8; 32],
        /// HMAC proof of the token; none without a token.
        proof: Option<[u8; 32]>,
    },
    /// Coordinator: admitted; its answer to the member's challenge and the run's nonce.
    Welcome {
        /// HMAC proof of the token; none without a token.
        proof: Option<[u8; 32]>,
        /// The run's nonce.
        nonce: [u8; 16],
    },
    /// Coordinator: refused, then the connection is closed.
    Refuse {
        /// Why, as a code.
        code: RefuseCode,
        /// Why, as one line for a user.
        reason: String,
    },
    /// Member: its connections are open.
    Ready,
    /// Coordinator: a clock round trip, t0 on its clock.
    Ping {
        /// The round trip's number.
        seq: u32,
        /// The coordinator's Unix time (ns) when it sent this.
        t0: i64,
    },
    /// Member: the answer, with its receive and send times.
    Pong {
        /// The PING's number.
        seq: u32,
        /// The member's Unix time (ns) when the PING arrived.
        t1: i64,
        /// The member's Unix time (ns) when it sent this.
        t2: i64,
    },
    /// Coordinator: start measuring at this instant.
    Start {
        /// The start, as Unix time (ns) on the coordinator's clock.
        at_unix_ns: i64,
        /// The run's nonce, as in WELCOME.
        nonce: [u8; 16],
        /// The member's clock minus the coordinator's, estimated (ns).
        offset_ns: i64,
        /// The round-trip delay of the estimate's sample (ns).
        delay_ns: i64,
    },
    /// Coordinator: no start; the run is called off.
    Abort {
        /// Why, as one line.
        reason: String,
    },
    /// Coordinator: end the run now and send your result.
    Stop,
    /// Either side: still here.
    Heartbeat,
    /// Member: when it started measuring, Unix time (ns) on its clock.
    Started {
        /// Unix time in ns.
        unix_ns: i64,
    },
    /// Member: its segment's result, opaque bytes.
    Result(Vec<u8>),
    /// Coordinator: the RESULT arrived.
    Done,
    /// Member: it cannot go on (for example its connections would not open).
    Fail {
        /// Why, as one line.
        reason: String,
    },
}

/// Why bytes were not a message. The connection is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// The first two bytes are not [`MAGIC`].
    Magic,
    /// A frame version this build does not read.
    Version(u8),
    /// An unknown message type.
    Type(u8),
    /// A payload longer than this message's bound.
    Length {
        /// The message type.
        ty: u8,
        /// The declared length.
        len: usize,
        /// Its bound.
        max: usize,
    },
    /// A payload that does not decode as its type.
    Malformed {
        /// The message type.
        ty: u8,
        /// What was wrong.
        why: &'static str,
    },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Magic => f.write_str("not a loadgen coordination frame (bad magic)"),
            WireError::Version(v) => {
                write!(f, "frame version {v}, this build reads {FRAME_VERSION}")
            }
            WireError::Type(t) => write!(f, "unknown message type {t}"),
            WireError::Length { ty, len, max } => {
                write!(f, "message type {ty} of {len} bytes, at most {max} allowed")
            }
            WireError::Malformed { ty, why } => write!(f, "message type {ty} malformed: {why}"),
        }
    }
}

impl std::error::Error for WireError {}

mod ty {
    pub const HELLO: u8 = 1;
    pub const CHALLENGE: u8 = 2;
    pub const AUTH: u8 = 3;
    pub const WELCOME: u8 = 4;
    pub const REFUSE: u8 = 5;
    pub const READY: u8 = 6;
    pub const PING: u8 = 7;
    pub const PONG: u8 = 8;
    pub const START: u8 = 9;
    pub const ABORT: u8 = 10;
    pub const STOP: u8 = 11;
    pub const HEARTBEAT: u8 = 12;
    pub const STARTED: u8 = 13;
    pub const RESULT: u8 = 14;
    pub const DONE: u8 = 15;
    pub const FAIL: u8 = 16;
    pub const LAST: u8 = 16;
}

impl Msg {
    /// The message's type byte.
    pub fn type_byte(&self) -> u8 {
        match self {
            Msg::Hello(_) => ty::HELLO,
            Msg::Challenge { .. } => ty::CHALLENGE,
            Msg::Auth { .. } => ty::AUTH,
            Msg::Welcome { .. } => ty::WELCOME,
            Msg::Refuse { .. } => ty::REFUSE,
            Msg::Ready => ty::READY,
            Msg::Ping { .. } => ty::PING,
            Msg::Pong { .. } => ty::PONG,
            Msg::Start { .. } => ty::START,
            Msg::Abort { .. } => ty::ABORT,
            Msg::Stop => ty::STOP,
            Msg::Heartbeat => ty::HEARTBEAT,
            Msg::Started { .. } => ty::STARTED,
            Msg::Result(_) => ty::RESULT,
            Msg::Done => ty::DONE,
            Msg::Fail { .. } => ty::FAIL,
        }
    }

    /// The message's name, for errors.
    pub fn name(&self) -> &'static str {
        const NAMES: [&str; ty::LAST as usize] = [
            "HELLO",
            "CHALLENGE",
            "AUTH",
            "WELCOME",
            "REFUSE",
            "READY",
            "PING",
            "PONG",
            "START",
            "ABORT",
            "STOP",
            "HEARTBEAT",
            "STARTED",
            "RESULT",
            "DONE",
            "FAIL",
        ];
        NAMES[self.type_byte() as usize - 1]
    }
}

/// The frame of `msg`: header and payload. Texts longer than their bound are cut (at a
/// character boundary) so that what is encoded always decodes.
pub fn encode(msg: &Msg) -> Vec<u8> {
    let mut p = Vec::new();
    payload(msg, &mut p);
    let mut out = Vec::with_capacity(HEADER + p.len());
    out.extend_from_slice(&MAGIC);
    out.push(FRAME_VERSION);
    out.push(msg.type_byte());
    out.extend_from_slice(&(p.len() as u32).to_be_bytes());
    out.extend_from_slice(&p);
    out
}

fn payload(msg: &Msg, p: &mut Vec<u8>) {
    match msg {
        Msg::Hello(h) => {
            p.extend_from_slice(&h.protocol.to_be_bytes());
            put_text(p, &h.version, MAX_VERSION);
            p.extend_from_slice(&h.plan_hash);
            p.extend_from_slice(&h.index.to_be_bytes());
            p.extend_from_slice(&h.segments.to_be_bytes());
            p.push(h.token as u8);
        }
        Msg::Challenge { challenge, token } => {
            p.extend_from_slice(challenge);
            p.push(*token as u8);
        }
        Msg::Auth { challenge, proof } => {
            p.extend_from_slice(challenge);
            put_proof(p, proof);
        }
        Msg::Welcome { proof, nonce } => {
            put_proof(p, proof);
            p.extend_from_slice(nonce);
        }
        Msg::Refuse { code, reason } => {
            p.push(*code as u8);
            put_text(p, reason, MAX_REASON);
        }
        Msg::Ping { seq, t0 } => {
            p.extend_from_slice(&seq.to_be_bytes());
            p.extend_from_slice(&t0.to_be_bytes());
        }
        Msg::Pong { seq, t1, t2 } => {
            p.extend_from_slice(&seq.to_be_bytes());
            p.extend_from_slice(&t1.to_be_bytes());
            p.extend_from_slice(&t2.to_be_bytes());
        }
        Msg::Start {
            at_unix_ns,
            nonce,
            offset_ns,
            delay_ns,
        } => {
            p.extend_from_slice(&at_unix_ns.to_be_bytes());
            p.extend_from_slice(nonce);
            p.extend_from_slice(&offset_ns.to_be_bytes());
            p.extend_from_slice(&delay_ns.to_be_bytes());
        }
        Msg::Abort { reason } | Msg::Fail { reason } => put_text(p, reason, MAX_REASON),
        Msg::Started { unix_ns } => p.extend_from_slice(&unix_ns.to_be_bytes()),
        Msg::Result(bytes) => p.extend_from_slice(bytes),
        Msg::Ready | Msg::Stop | Msg::Heartbeat | Msg::Done => {}
    }
}

fn put_proof(p: &mut Vec<u8>, proof: &Option<[u8; 32]>) {
    match proof {
        Some(tag) => {
            p.push(32);
            p.extend_from_slice(tag);
        }
        None => p.push(0),
    }
}

/// Put `s` as a u16 length and UTF-8, control characters replaced by spaces and cut
/// to `max` bytes at a character boundary.
fn put_text(p: &mut Vec<u8>, s: &str, max: usize) {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut end = clean.len().min(max);
    while !clean.is_char_boundary(end) {
        end -= 1;
    }
    p.extend_from_slice(&(end as u16).to_be_bytes());
    p.extend_from_slice(&clean.as_bytes()[..end]);
}

/// Reassembles frames from bytes as they arrive.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    max_result: usize,
    frames: u64,
}

impl Decoder {
    /// A decoder that accepts no RESULT yet.
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Accept RESULT payloads of up to `max` bytes from now on.
    pub fn set_max_result(&mut self, max: usize) {
        self.max_result = max;
    }

    /// Append received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered that are not yet a whole message (0: between frames).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Whole frames decoded so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The payload length of the frame being received, once its header is in.
    pub fn pending_payload(&self) -> usize {
        if self.buf.len() < HEADER {
            return 0;
        }
        u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize
    }

    /// The next whole message, `Ok(None)` if more bytes are needed. After an error the
    /// connection is to be closed: the decoder's state is then meaningless.
    pub fn next_msg(&mut self) -> Result<Option<Msg>, WireError> {
        let Some(&first) = self.buf.first() else {
            return Ok(None);
        };
        if first != MAGIC[0] || self.buf.get(1).is_some_and(|b| *b != MAGIC[1]) {
            return Err(WireError::Magic);
        }
        if let Some(&v) = self.buf.get(2) {
            if v != FRAME_VERSION {
                return Err(WireError::Version(v));
            }
        }
        if let Some(&t) = self.buf.get(3) {
            if t == 0 || t > ty::LAST {
                return Err(WireError::Type(t));
            }
        }
        if self.buf.len() < HEADER {
            return Ok(None);
        }
        let t = self.buf[3];
        let len = self.pending_payload();
        let max = if t == ty::RESULT {
            self.max_result
        } else {
            MAX_PAYLOAD
        };
        if len > max {
            return Err(WireError::Length { ty: t, len, max });
        }
        if self.buf.len() < HEADER + len {
            return Ok(None);
        }
        let msg = decode_payload(t, &self.buf[HEADER..HEADER + len])?;
        self.buf.drain(..HEADER + len);
        self.frames += 1;
        Ok(Some(msg))
    }
}

/// Decode the payload of a message of type `t`.
fn decode_payload(t: u8, p: &[u8]) -> Result<Msg, WireError> {
    let mut c = Cursor { p, at: 0, ty: t };
    let msg = match t {
        ty::HELLO => Msg::Hello(Hello {
            protocol: c.u16()?,
            version: c.text(MAX_VERSION)?,
            plan_hash: c.array()?,
            index: c.u32()?,
            segments: c.u32()?,
            token: c.flag()?,
        }),
        ty::CHALLENGE => Msg::Challenge {
            challenge: c.array()?,
            token: c.flag()?,
        },
        ty::AUTH => Msg::Auth {
            challenge: c.array()?,
            proof: c.proof()?,
        },
        ty::WELCOME => Msg::Welcome {
            proof: c.proof()?,
            nonce: c.array()?,
        },
        ty::REFUSE => Msg::Refuse {
            code: RefuseCode::from_u8(c.u8()?).ok_or(c.bad("unknown refusal code"))?,
            reason: c.text(MAX_REASON)?,
        },
        ty::PING => Msg::Ping {
            seq: c.u32()?,
            t0: c.i64()?,
        },
        ty::PONG => Msg::Pong {
            seq: c.u32()?,
            t1: c.i64()?,
            t2: c.i64()?,
        },
        ty::START => Msg::Start {
            at_unix_ns: c.i64()?,
            nonce: c.array()?,
            offset_ns: c.i64()?,
            delay_ns: c.i64()?,
        },
        ty::ABORT => Msg::Abort {
            reason: c.text(MAX_REASON)?,
        },
        ty::FAIL => Msg::Fail {
            reason: c.text(MAX_REASON)?,
        },
        ty::STARTED => Msg::Started { unix_ns: c.i64()? },
        ty::RESULT => {
            c.at = p.len();
            Msg::Result(p.to_vec())
        }
        ty::READY => Msg::Ready,
        ty::STOP => Msg::Stop,
        ty::HEARTBEAT => Msg::Heartbeat,
        ty::DONE => Msg::Done,
        other => return Err(WireError::Type(other)),
    };
    if c.at != p.len() {
        return Err(c.bad("trailing bytes"));
    }
    Ok(msg)
}

/// Reads a payload's fields in order, every read checked against its end.
struct Cursor<'a> {
    p: &'a [u8],
    at: usize,
    ty: u8,
}

impl Cursor<'_> {
    fn bad(&self, why: &'static str) -> WireError {
        WireError::Malformed { ty: self.ty, why }
    }

    fn take(&mut self, n: usize) -> Result<&[u8], WireError> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.p.len());
        let end = end.ok_or(self.bad("too short"))?;
        let s = &self.p[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }

    fn flag(&mut self) -> Result<bool, WireError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.bad("a flag that is neither 0 nor 1")),
        }
    }

    fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, WireError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    fn proof(&mut self) -> Result<Option<[u8; 32]>, WireError> {
        match self.u8()? {
            0 => Ok(None),
            32 => Ok(Some(self.array()?)),
            _ => Err(self.bad("a proof that is neither empty nor 32 bytes")),
        }
    }

    fn text(&mut self, max: usize) -> Result<String, WireError> {
        let n = self.u16()? as usize;
        if n > max {
            return Err(self.bad("text too long"));
        }
        let bad = self.bad("text not UTF-8");
        let control = self.bad("control character in text");
        let s = std::str::from_utf8(self.take(n)?).map_err(|_| bad)?;
        if s.chars().any(char::is_control) {
            return Err(control);
        }
        Ok(s.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all_kinds() -> Vec<Msg> {
        vec![
            Msg::Hello(Hello {
                protocol: 1,
                version: "0.1.0".into(),
                plan_hash: [7; 32],
                index: 3,
                segments: 4,
                token: true,
            }),
            Msg::Challenge {
                challenge: [1; 32],
                token: false,
            },
            Msg::Auth {
                challenge: [2; 32],
                proof: Some([3; 32]),
            },
            Msg::Auth {
                challenge: [2; 32],
                proof: None,
            },
            Msg::Welcome {
                proof: Some([4; 32]),
                nonce: [5; 16],
            },
            Msg::Refuse {
                code: RefuseCode::Late,
                reason: "the start was sent".into(),
            },
            Msg::Ready,
            Msg::Ping { seq: 9, t0: -5 },
            Msg::Pong {
                seq: 9,
                t1: 1,
                t2: i64::MAX,
            },
            Msg::Start {
                at_unix_ns: 1_700_000_000_000_000_000,
                nonce: [6; 16],
                offset_ns: -1_500_000_000,
                delay_ns: 200_000,
            },
            Msg::Abort {
                reason: "segment 2 never connected".into(),
            },
            Msg::Stop,
            Msg::Heartbeat,
            Msg::Started { unix_ns: 42 },
            Msg::Result(b"{\"count\":1}".to_vec()),
            Msg::Done,
            Msg::Fail {
                reason: "connections would not open".into(),
            },
        ]
    }

    fn decode_all(bytes: &[u8], max_result: usize) -> Result<Vec<Msg>, WireError> {
        let mut d = Decoder::new();
        d.set_max_result(max_result);
        d.push(bytes);
        let mut out = Vec::new();
        while let Some(m) = d.next_msg()? {
            out.push(m);
        }
        Ok(out)
    }

    #[test]
    fn test_every_message_round_trips_and_names_itself() {
        let msgs = all_kinds();
        let bytes: Vec<u8> = msgs.iter().flat_map(encode).collect();
        assert_eq!(decode_all(&bytes, 1024).unwrap(), msgs);
        assert_eq!(msgs[0].name(), "HELLO");
        assert_eq!(msgs[msgs.len() - 1].name(), "FAIL");
    }

    #[test]
    fn test_a_frame_in_single_bytes_decodes_once_whole() {
        let frame = encode(&Msg::Ping { seq: 1, t0: 2 });
        let mut d = Decoder::new();
        for b in &frame[..frame.len() - 1] {
            d.push(&[*b]);
            assert_eq!(d.next_msg(), Ok(None));
        }
        assert_eq!(d.pending_payload(), 12);
        d.push(&frame[frame.len() - 1..]);
        assert_eq!(d.next_msg(), Ok(Some(Msg::Ping { seq: 1, t0: 2 })));
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn test_garbage_is_refused_at_its_first_wrong_byte() {
        assert_eq!(decode_all(b"GET / HTTP/1.1\r\n", 0), Err(WireError::Magic));
        assert_eq!(decode_all(b"r", 0), Ok(vec![]));
        assert_eq!(decode_all(b"rx", 0), Err(WireError::Magic));
        assert_eq!(decode_all(b"rc\x09", 0), Err(WireError::Version(9)));
        assert_eq!(decode_all(b"rc\x01\x00", 0), Err(WireError::Type(0)));
        assert_eq!(decode_all(b"rc\x01\x63", 0), Err(WireError::Type(99)));
    }

    #[test]
    fn test_a_long_length_is_refused_before_its_payload() {
        let huge = [b'r', b'c', 1, 12, 0xff, 0xff, 0xff, 0xff];
        assert!(matches!(
            decode_all(&huge, 0),
            Err(WireError::Length { ty: 12, .. })
        ));
        let result = encode(&Msg::Result(vec![0; 100]));
        assert!(matches!(
            decode_all(&result, 0),
            Err(WireError::Length { ty: 14, max: 0, .. })
        ));
        assert_eq!(decode_all(&result, 100).unwrap().len(), 1);
    }

    #[test]
    fn test_malformed_payloads_are_refused() {
        let mut ready = encode(&Msg::Ready);
        ready[7] = 1;
        ready.push(0);
        assert!(matches!(
            decode_all(&ready, 0),
            Err(WireError::Malformed {
                why: "trailing bytes",
                ..
            })
        ));
        let mut refuse = encode(&Msg::Refuse {
            code: RefuseCode::Busy,
            reason: "x".into(),
        });
        refuse[HEADER] = 200;
        assert!(decode_all(&refuse, 0).is_err());
        let mut abort = encode(&Msg::Abort {
            reason: "ab".into(),
        });
        abort[HEADER + 2] = b'\n';
        assert!(matches!(
            decode_all(&abort, 0),
            Err(WireError::Malformed { .. })
        ));
    }

    #[test]
    fn test_texts_are_cut_and_cleaned_so_they_always_decode() {
        let long = format!("{}é\nend", "a".repeat(MAX_REASON - 1));
        let msgs = decode_all(&encode(&Msg::Abort { reason: long }), 0).unwrap();
        let Msg::Abort { reason } = &msgs[0] else {
            panic!("{msgs:?}")
        };
        assert_eq!(reason.len(), MAX_REASON - 1);
        let msgs = decode_all(
            &encode(&Msg::Fail {
                reason: "a\nb".into(),
            }),
            0,
        )
        .unwrap();
        assert_eq!(
            msgs[0],
            Msg::Fail {
                reason: "a b".into()
            }
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn test_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), split in 0usize..600) {
            let mut d = Decoder::new();
            d.set_max_result(256);
            let cut = split.min(bytes.len());
            for part in [&bytes[..cut], &bytes[cut..]] {
                d.push(part);
                for _ in 0..bytes.len() + 1 {
                    match d.next_msg() {
                        Ok(Some(_)) => continue,
                        Ok(None) | Err(_) => break,
                    }
                }
            }
        }

        #[test]
        fn test_a_valid_header_with_arbitrary_payload_never_panics(t in 1u8..=16, payload in proptest::collection::vec(any::<u8>(), 0..120)) {
            let mut frame = vec![b'r', b'c', 1, t];
            frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            frame.extend_from_slice(&payload);
            let mut d = Decoder::new();
            d.set_max_result(1024);
            d.push(&frame);
            if let Ok(Some(m)) = d.next_msg() {
                prop_assert_eq!(encode(&m), frame);
            }
        }
    }
}
