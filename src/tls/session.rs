//! One rustls connection, server or client, driven through the unbuffered API: records
//! are worked on where they lie in the reactor's input, and what goes out is encoded
//! straight into the reactor's output. rustls keeps no buffer of its own for either.

use rustls::client::UnbufferedClientConnection;
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, InsufficientSizeError};
use rustls::{CommonState, Error};

/// The rustls state of one connection, for either side.
pub(crate) enum Session {
    /// An accepted connection.
    Server(UnbufferedServerConnection),
    /// An outbound connection.
    Client(UnbufferedClientConnection),
}

/// The same code for both sides: their `process_tls_records` are two methods of
/// distinct types, whose results share one generic type.
macro_rules! either {
    ($s:expr, $c:ident => $e:expr) => {
        match $s {
            Session::Server($c) => $e,
            Session::Client($c) => $e,
        }
    };
}

/// Where a connection stands after its records were worked through.
#[derive(Debug)]
pub(crate) enum Stand {
    /// The handshake waits for more of the peer's bytes.
    NeedInput,
    /// Application data may be sent.
    Established,
    /// The peer sent close_notify: nothing more will come from it (reported once).
    PeerClosed,
    /// Both sides sent close_notify.
    Closed,
    /// The peer broke the protocol or failed verification; any alert for it is in `out`.
    Failed(Error),
}

/// What [`Session::read`] did.
#[derive(Debug)]
pub(crate) struct Pass {
    /// Bytes of the input used up (the rest is kept as rustls left it).
    pub(crate) used: usize,
    /// Where the connection now stands.
    pub(crate) stand: Stand,
}

/// Steps one read may take: each step uses a record or encodes a handshake message, so
/// this is far above any honest input; it only stops a bug from spinning.
const MAX_STEPS: usize = 4096;

/// What one state asked of the loop.
enum Next {
    Again,
    Stop(Stand),
}

impl Session {
    /// Work through the records in `input`: handshake messages are answered into `out`
    /// and application data appended to `plain`. Once `plain` holds `room` bytes no more
    /// records are opened: the rest stays in `input` for later.
    pub(crate) fn read(
        &mut self,
        input: &mut [u8],
        out: &mut Vec<u8>,
        plain: &mut Vec<u8>,
        room: usize,
    ) -> Pass {
        let mut used = 0;
        for _ in 0..MAX_STEPS {
            let end = if plain.len() >= room {
                used
            } else {
                input.len()
            };
            let (discard, next) = either!(self, c => {
                let st = c.process_tls_records(&mut input[used..end]);
                let discard = st.discard;
                match st.state {
                    Ok(state) => {
                        let (more, next) = handle(state, out, plain);
                        (discard + more, next)
                    }
                    Err(e) => (discard, Next::Stop(Stand::Failed(e))),
                }
            });
            used = (used + discard).min(input.len());
            if let Next::Stop(stand) = next {
                if let Stand::Failed(_) = stand {
                    self.flush_alert(&mut input[used..], out);
                }
                return Pass { used, stand };
            }
        }
        Pass {
            used,
            stand: Stand::Failed(Error::General("TLS: no progress".into())),
        }
    }

    /// Encrypt `data` into `out`, then a close_notify if `close`. Fails when the
    /// connection cannot send application data (not established, or closed).
    ///
    /// `incoming` is the peer's bytes not yet used, as [`Session::read`] left them:
    /// rustls must see them again on every call (a handshake message split over
    /// records is joined where it lies, and rustls keeps its place in it), and any
    /// complete record among them is decrypted here into `plain`.
    pub(crate) fn write(
        &mut self,
        incoming: &mut Vec<u8>,
        plain: &mut Vec<u8>,
        data: &[u8],
        close: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        for _ in 0..MAX_STEPS {
            let (discard, done) = either!(self, c => {
                let st = c.process_tls_records(incoming);
                let discard = st.discard;
                let done = match st.state? {
                    ConnectionState::WriteTraffic(mut w) => {
                        if !data.is_empty() {
                            encode(out, |b| w.encrypt(data, b), encrypt_need)?;
                        }
                        if close {
                            encode(out, |b| w.queue_close_notify(b), encrypt_need)?;
                        }
                        Ok((0, true))
                    }
                    state @ (ConnectionState::ReadTraffic(_)
                    | ConnectionState::EncodeTlsData(_)
                    | ConnectionState::TransmitTlsData(_)) => match handle(state, out, plain) {
                        (more, Next::Again) => Ok((more, false)),
                        (_, Next::Stop(Stand::Failed(e))) => Err(e),
                        (_, Next::Stop(other)) => Err(cannot_send(&other)),
                    },
                    other => Err(Error::General(format!("TLS: cannot send in state {other:?}"))),
                };
                done.map(|(more, done)| (discard + more, done))
            })?;
            incoming.drain(..discard.min(incoming.len()));
            if done {
                return Ok(());
            }
        }
        Err(Error::General("TLS: no progress".into()))
    }

    /// After a failure, the alert rustls queued for the peer, into `out`. `rest`: the
    /// unused input, which rustls must see again.
    fn flush_alert(&mut self, rest: &mut [u8], out: &mut Vec<u8>) {
        // Only while something is queued: with nothing queued rustls would read `rest`
        // again, fail again, and queue a second fatal alert (which it asserts against).
        for _ in 0..4 {
            if !self.common().wants_write() {
                return;
            }
            let more = either!(self, c => match c.process_tls_records(rest).state {
                Ok(ConnectionState::EncodeTlsData(mut e)) => {
                    encode(out, |b| e.encode(b), encode_need).is_ok()
                }
                _ => false,
            });
            if !more {
                return;
            }
        }
    }

    /// What rustls knows of the connection (negotiated version, suite, ALPN, peer).
    pub(crate) fn common(&self) -> &CommonState {
        either!(self, c => c)
    }
}

/// Act on one state of [`Session::read`]: how many more bytes to discard (those of
/// application-data records) and whether to go on.
fn handle<Data>(
    state: ConnectionState<'_, '_, Data>,
    out: &mut Vec<u8>,
    plain: &mut Vec<u8>,
) -> (usize, Next) {
    match state {
        ConnectionState::ReadTraffic(mut r) => {
            let mut discard = 0;
            while let Some(rec) = r.next_record() {
                match rec {
                    Ok(rec) => {
                        discard += rec.discard;
                        plain.extend_from_slice(rec.payload);
                    }
                    Err(e) => return (discard, Next::Stop(Stand::Failed(e))),
                }
            }
            (discard, Next::Again)
        }
        ConnectionState::EncodeTlsData(mut e) => match encode(out, |b| e.encode(b), encode_need) {
            Ok(()) => (0, Next::Again),
            Err(e) => (0, Next::Stop(Stand::Failed(e))),
        },
        ConnectionState::TransmitTlsData(t) => {
            // The bytes are in `out`, which the reactor sends before anything written
            // later: as good as sent.
            t.done();
            (0, Next::Again)
        }
        ConnectionState::BlockedHandshake => (0, Next::Stop(Stand::NeedInput)),
        ConnectionState::WriteTraffic(_) => (0, Next::Stop(Stand::Established)),
        ConnectionState::PeerClosed => (0, Next::Stop(Stand::PeerClosed)),
        ConnectionState::Closed => (0, Next::Stop(Stand::Closed)),
        // Early data is never accepted (the server configs here leave it off).
        other => (
            0,
            Next::Stop(Stand::Failed(Error::General(format!(
                "TLS: unexpected state {other:?}"
            )))),
        ),
    }
}

fn cannot_send(stand: &Stand) -> Error {
    Error::General(format!("TLS: cannot send, {stand:?}"))
}

fn encode_need(e: &EncodeError) -> Option<usize> {
    match e {
        EncodeError::InsufficientSize(InsufficientSizeError { required_size }) => {
            Some(*required_size)
        }
        _ => None,
    }
}

fn encrypt_need(e: &EncryptError) -> Option<usize> {
    match e {
        EncryptError::InsufficientSize(InsufficientSizeError { required_size }) => {
            Some(*required_size)
        }
        _ => None,
    }
}

/// Append what `f` writes to `out`: asked first with no room, which only tells the
/// size (rustls leaves the buffer alone then), so `out` grows once, by exactly that.
fn encode<E: std::fmt::Display>(
    out: &mut Vec<u8>,
    mut f: impl FnMut(&mut [u8]) -> Result<usize, E>,
    need: impl Fn(&E) -> Option<usize>,
) -> Result<(), Error> {
    let start = out.len();
    let size = match f(&mut []) {
        Ok(_) => return Ok(()),
        Err(e) => need(&e).ok_or_else(|| Error::General(format!("TLS: {e}")))?,
    };
    out.resize(start + size, 0);
    match f(&mut out[start..]) {
        Ok(n) => {
            out.truncate(start + n);
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(Error::General(format!("TLS: {e}")))
        }
    }
}
