//! The blocking I/O shell shared by both ends: reading bytes with a deadline, the
//! frame deadline that closes a slow peer, and sending what a state machine queued.

use super::wire::{encode, Decoder, Msg};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

/// A frame must arrive at this rate at least, on top of the frame deadline, so a
/// large RESULT has the time it needs and no more.
pub const MIN_RATE: u64 = 1 << 20;

/// The largest read at once.
const CHUNK: usize = 64 * 1024;

/// A state machine's queue of messages to send, and its decoder's progress.
pub(crate) trait Outbox {
    /// The messages to send, in order.
    fn take_outbox(&mut self) -> Vec<Msg>;
    /// Where the frame being received is.
    fn partial(&self) -> Partial;
}

/// Where a decoder is in the frame it is receiving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Partial {
    /// Bytes buffered of a frame not yet whole.
    pub buffered: usize,
    /// That frame's payload length, once its header is in.
    pub payload: usize,
    /// Whole frames decoded so far.
    pub frames: u64,
}

impl Partial {
    /// The progress of `d`.
    pub fn of(d: &Decoder) -> Partial {
        Partial {
            buffered: d.buffered(),
            payload: d.pending_payload(),
            frames: d.frames(),
        }
    }
}

/// What a read brought.
#[derive(Debug)]
pub(crate) enum Got<'a> {
    /// Bytes.
    Bytes(&'a [u8]),
    /// Nothing within the wait.
    Idle,
    /// The peer closed the connection.
    Eof,
}

/// The read half of a connection, with the times its deadlines count from.
#[derive(Debug)]
pub(crate) struct Inbound {
    stream: TcpStream,
    buf: Vec<u8>,
    last_rx: Instant,
    frame_since: Option<(Instant, u64)>,
}

impl Inbound {
    /// Read from `stream` (a clone of the connection's socket).
    pub fn new(stream: TcpStream) -> Inbound {
        Inbound {
            stream,
            buf: vec![0; CHUNK],
            last_rx: Instant::now(),
            frame_since: None,
        }
    }

    /// Wait at most `wait` for bytes.
    pub fn read(&mut self, wait: Duration) -> std::io::Result<Got<'_>> {
        self.stream
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
        match self.stream.read(&mut self.buf) {
            Ok(0) => Ok(Got::Eof),
            Ok(n) => {
                self.last_rx = Instant::now();
                Ok(Got::Bytes(&self.buf[..n]))
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                Ok(Got::Idle)
            }
            Err(e) => Err(e),
        }
    }

    /// How long since the last byte arrived.
    pub fn silent_for(&self) -> Duration {
        self.last_rx.elapsed()
    }

    /// Whether the frame being received is past its deadline: `frame` from its first
    /// byte, plus its payload at [`MIN_RATE`]. Call after each feed.
    pub fn too_slow(&mut self, p: Partial, frame: Duration) -> bool {
        if p.buffered == 0 {
            self.frame_since = None;
            return false;
        }
        let since = match self.frame_since {
            Some((t, frames)) if frames == p.frames => t,
            _ => {
                let now = Instant::now();
                self.frame_since = Some((now, p.frames));
                now
            }
        };
        let room = frame.saturating_add(Duration::from_secs(p.payload as u64 / MIN_RATE));
        since.elapsed() > room
    }

    /// Close both directions (the write half's clone too).
    pub fn close(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// A state machine and the write half of its connection, locked together so that
/// what the machine queues is sent in order whichever thread drove it.
#[derive(Debug)]
pub(crate) struct Peer<M> {
    /// The state machine.
    pub machine: M,
    writer: TcpStream,
}

impl<M: Outbox> Peer<M> {
    /// `machine` over `writer`, whose writes wait at most `write_timeout`.
    pub fn new(machine: M, writer: TcpStream, write_timeout: Duration) -> std::io::Result<Peer<M>> {
        writer.set_write_timeout(Some(write_timeout))?;
        Ok(Peer { machine, writer })
    }

    /// Send everything the machine queued.
    pub fn flush(&mut self) -> std::io::Result<()> {
        for m in self.machine.take_outbox() {
            self.writer.write_all(&encode(&m))?;
        }
        self.writer.flush()
    }

    /// Close the connection both ways.
    pub fn close(&self) {
        let _ = self.writer.shutdown(Shutdown::Both);
    }
}
