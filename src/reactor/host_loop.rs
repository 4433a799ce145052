//! Driving the reactor from a loop the host owns (calloop, tokio's `AsyncFd`, a hand-written
//! `poll(2)` over several descriptors): the reactor's epoll descriptor to wait on, and when
//! it next needs a turn.

use super::Reactor;
use crate::protocol::Protocol;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

impl<P: Protocol> Reactor<P> {
    /// When the reactor next needs [`Reactor::turn`] even if its descriptor
    /// ([`AsRawFd::as_raw_fd`]) stays quiet: now if work is left over from the last turn
    /// (a budget ran out, a listener is still ready, the last poll took a full batch of
    /// events and more may wait), else its earliest timer; `None` when it has no timer
    /// at all.
    ///
    /// A host that owns its loop waits until the descriptor is readable or this time
    /// comes, then calls `turn(host, Some(Duration::ZERO))`. Waiting edge-triggered (a
    /// `mio::Poll` of the host's, tokio's `AsyncFd`) is safe too: whenever events may
    /// be left that would raise no new edge, this says now.
    ///
    /// ```
    /// use readyloop::{protocol::Echo, Config, Reactor};
    /// use std::os::fd::AsRawFd;
    /// let r: Reactor<Echo> = Reactor::new(Config::default())?;
    /// assert!(r.as_raw_fd() >= 0);
    /// assert_eq!(r.poll_at(), None); // no connection, no timer
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn poll_at(&self) -> Option<Instant> {
        if self.has_leftovers() || self.events_full {
            return Some(Instant::now());
        }
        self.sh
            .timers
            .next_deadline()
            .map(|ns| self.sh.start + Duration::from_nanos(ns))
    }
}

/// The epoll descriptor: readable when the reactor has events to handle (its waker
/// and, with `Config::precise_timers`, its timerfd included).
impl<P: Protocol> AsRawFd for Reactor<P> {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.poll.as_raw_fd()
    }
}
