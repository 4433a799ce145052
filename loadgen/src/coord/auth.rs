//! The shared token and the HMAC-SHA256 proofs of it, and the random bytes the
//! channel draws (challenges, the run's nonce).
//!
//! Neither side ever sends the token: each proves it knows the token by the HMAC of a
//! transcript that holds a challenge the *other* side drew just before, so a proof
//! seen on the wire is worth nothing for another connection (no replay), and a role
//! label so a coordinator's proof cannot be reflected as a member's. The transcript
//! also binds the plan hash, the segment index and N, and the coordinator's proof binds
//! the run's nonce, so a member knows the nonce came from a holder of the token.

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use std::fmt;

/// The domain label that starts every transcript.
const DOMAIN: &[u8] = b"loadgen coordination proof v1";

/// The environment variable [`Token::from_flag_or_env`] reads.
pub const TOKEN_ENV: &str = "LOADGEN_TOKEN";

/// The shared secret of a run. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(Vec<u8>);

impl Token {
    /// A token of these bytes; `None` for no bytes (no token).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Option<Token> {
        let bytes = bytes.into();
        (!bytes.is_empty()).then_some(Token(bytes))
    }

    /// The token of `--token` if given, else of the environment variable
    /// [`TOKEN_ENV`] if set and not empty, else none.
    pub fn from_flag_or_env(flag: Option<&str>) -> Option<Token> {
        if let Some(t) = flag {
            return Token::new(t.as_bytes());
        }
        std::env::var_os(TOKEN_ENV).and_then(|v| Token::new(v.into_encoded_bytes()))
    }

    /// The token's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Which side proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The member answers the coordinator's challenge.
    Member = 1,
    /// The coordinator answers the member's challenge.
    Coordinator = 2,
}

/// What a proof covers: everything both sides know of this connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Transcript {
    /// The protocol version both speak.
    pub protocol: u16,
    /// The run's plan hash.
    pub plan_hash: [u8; 32],
    /// The member's segment index.
    pub index: u32,
    /// The number of segments.
    pub segments: u32,
    /// The coordinator's challenge.
    pub coordinator_challenge: [u8; 32],
    /// The member's challenge.
    pub member_challenge: [u8; 32],
}

impl Transcript {
    /// The bytes the HMAC covers for `role`, then `extra` (the nonce, for the
    /// coordinator). Every field has a fixed length, so the layout is unambiguous.
    fn message(&self, role: Role, extra: &[u8]) -> Vec<u8> {
        let mut m = Vec::with_capacity(DOMAIN.len() + 120);
        m.extend_from_slice(DOMAIN);
        m.push(role as u8);
        m.extend_from_slice(&self.protocol.to_be_bytes());
        m.extend_from_slice(&self.plan_hash);
        m.extend_from_slice(&self.index.to_be_bytes());
        m.extend_from_slice(&self.segments.to_be_bytes());
        m.extend_from_slice(&self.coordinator_challenge);
        m.extend_from_slice(&self.member_challenge);
        m.extend_from_slice(extra);
        m
    }
}

/// The proof that `role` knows `token`: HMAC-SHA256(token, transcript, extra).
pub(crate) fn prove(token: &Token, role: Role, t: &Transcript, extra: &[u8]) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, token.bytes());
    let tag = hmac::sign(&key, &t.message(role, extra));
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// Whether `proof` is `role`'s proof of `token`, compared in constant time.
pub(crate) fn verify(
    token: &Token,
    role: Role,
    t: &Transcript,
    extra: &[u8],
    proof: &[u8],
) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, token.bytes());
    hmac::verify(&key, &t.message(role, extra), proof).is_ok()
}

/// The operating system's random bytes could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomFailed;

/// `N` bytes from the system's secure generator.
pub(crate) fn random<const N: usize>(rng: &SystemRandom) -> Result<[u8; N], RandomFailed> {
    let mut out = [0u8; N];
    rng.fill(&mut out).map_err(|_| RandomFailed)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transcript() -> Transcript {
        Transcript {
            protocol: 1,
            plan_hash: [9; 32],
            index: 2,
            segments: 3,
            coordinator_challenge: [1; 32],
            member_challenge: [2; 32],
        }
    }

    #[test]
    fn test_a_proof_verifies_with_the_same_token_only() {
        let t = transcript();
        let good = Token::new("s3cret").unwrap();
        let bad = Token::new("s3cres").unwrap();
        let p = prove(&good, Role::Member, &t, &[]);
        assert!(verify(&good, Role::Member, &t, &[], &p));
        assert!(!verify(&bad, Role::Member, &t, &[], &p));
        assert!(!verify(&good, Role::Member, &t, &[], &p[..31]));
    }

    #[test]
    fn test_a_proof_is_bound_to_role_challenges_index_and_extra() {
        let tok = Token::new("s3cret").unwrap();
        let t = transcript();
        let p = prove(&tok, Role::Member, &t, &[]);
        assert!(!verify(&tok, Role::Coordinator, &t, &[], &p), "reflected");
        let mut other = t;
        other.coordinator_challenge[0] ^= 1;
        assert!(!verify(&tok, Role::Member, &other, &[], &p), "replayed");
        let mut other = t;
        other.index = 1;
        assert!(!verify(&tok, Role::Member, &other, &[], &p));
        let c = prove(&tok, Role::Coordinator, &t, &[5; 16]);
        assert!(
            !verify(&tok, Role::Coordinator, &t, &[6; 16], &c),
            "nonce changed"
        );
    }

    #[test]
    fn test_no_bytes_is_no_token_and_debug_hides_it() {
        assert!(Token::new("").is_none());
        let t = Token::new("hunter2").unwrap();
        assert!(!format!("{t:?}").contains("hunter2"));
        assert_eq!(Token::from_flag_or_env(Some("x")), Token::new("x"));
    }

    #[test]
    fn test_random_draws_differ() {
        let rng = SystemRandom::new();
        let a: [u8; 32] = random(&rng).unwrap();
        let b: [u8; 32] = random(&rng).unwrap();
        assert_ne!(a, b);
    }
}
