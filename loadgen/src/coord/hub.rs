//! The coordinator's shared state: one slot per member index, the run's phase, and
//! the waits of `gather` and `collect` on them. Connection threads report into it;
//! the coordinator's calls read it. Lock order: a connection's `Peer`, then the hub,
//! never the other way round.

use super::clock::Estimate;
use super::coordinator_side::CoordinatorSide;
use super::counters::Tally;
use super::error::Error;
use super::link::Peer;
use super::wire::RefuseCode;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A member's connection as the coordinator's calls reach it.
pub(crate) type CoordPeer = Arc<Mutex<Peer<CoordinatorSide>>>;

/// Why a member's result is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lost {
    /// Its connection ended during the run (why).
    Disconnected(String),
    /// Nothing arrived before the collection's deadline.
    Deadline,
    /// The member said it failed (its reason).
    Failed(String),
}

impl fmt::Display for Lost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lost::Disconnected(why) => write!(f, "lost mid-run: {why}"),
            Lost::Deadline => f.write_str("sent no result before the deadline"),
            Lost::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

/// One member's end of the run, as `collect` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collected {
    /// The member's segment index.
    pub index: u32,
    /// Its result's bytes, or why there are none.
    pub outcome: Result<Vec<u8>, Lost>,
    /// When it said it started measuring, minus the planned start, on the
    /// coordinator's clock through the offset estimate (ns); `None` if it did not say.
    pub started_skew_ns: Option<i64>,
}

#[derive(Debug, Default)]
struct Slot {
    conn: Option<(u64, CoordPeer)>,
    ever: bool,
    synced: Option<Estimate>,
    started_ns: Option<i64>,
    result: Option<Vec<u8>>,
    lost: Option<Lost>,
}

impl Slot {
    fn settled(&self) -> bool {
        self.result.is_some() || self.lost.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Gathering,
    Started { at_unix_ns: i64 },
    Aborted(String),
}

#[derive(Debug)]
struct State {
    phase: Phase,
    slots: Vec<Slot>,
    handshakes: usize,
    failed: Option<(u32, String)>,
}

/// The coordinator's shared state.
#[derive(Debug)]
pub(crate) struct Hub {
    state: Mutex<State>,
    changed: Condvar,
    /// Connections refused or closed, by reason.
    pub tally: Tally,
    /// Set when the coordinator is dropped: every thread ends.
    pub shutdown: AtomicBool,
    max_handshakes: usize,
}

impl Hub {
    /// A hub for `segments` (members are 1..segments).
    pub fn new(segments: u32, max_handshakes: usize) -> Hub {
        let members = segments.saturating_sub(1) as usize;
        Hub {
            state: Mutex::new(State {
                phase: Phase::Gathering,
                slots: (0..members).map(|_| Slot::default()).collect(),
                handshakes: 0,
                failed: None,
            }),
            changed: Condvar::new(),
            tally: Tally::default(),
            shutdown: AtomicBool::new(false),
            max_handshakes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn slot(st: &mut State, index: u32) -> Option<&mut Slot> {
        st.slots.get_mut((index as usize).checked_sub(1)?)
    }

    /// Whether the coordinator is shutting down.
    pub fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }

    /// A connection begins its handshake; false if too many are.
    pub fn enter_handshake(&self) -> bool {
        let mut st = self.lock();
        if st.handshakes >= self.max_handshakes {
            return false;
        }
        st.handshakes += 1;
        true
    }

    /// A connection's handshake ended (admitted or not).
    pub fn leave_handshake(&self) {
        let mut st = self.lock();
        st.handshakes = st.handshakes.saturating_sub(1);
    }

    /// Give `index` to connection `id`, or say why not.
    pub fn claim(&self, index: u32, id: u64, peer: CoordPeer) -> Result<(), (RefuseCode, String)> {
        let mut st = self.lock();
        match &st.phase {
            Phase::Gathering => {}
            Phase::Started { .. } => {
                return Err((
                    RefuseCode::Late,
                    "the run has started: a segment cannot join it late".into(),
                ))
            }
            Phase::Aborted(_) => return Err((RefuseCode::Late, "the run was called off".into())),
        }
        let Some(slot) = Hub::slot(&mut st, index) else {
            return Err((
                RefuseCode::Index,
                format!("segment index {index} out of range"),
            ));
        };
        if slot.conn.is_some() {
            return Err((
                RefuseCode::Taken,
                format!("segment {index} is already connected"),
            ));
        }
        slot.conn = Some((id, peer));
        slot.ever = true;
        self.changed.notify_all();
        Ok(())
    }

    /// Run `f` on `index`'s slot if connection `id` still holds it, then wake waiters.
    fn update(&self, index: u32, id: u64, f: impl FnOnce(&mut Slot, &Phase)) {
        let mut st = self.lock();
        let phase = st.phase.clone();
        if let Some(slot) = Hub::slot(&mut st, index) {
            if slot.conn.as_ref().is_some_and(|(i, _)| *i == id) {
                f(slot, &phase);
            }
        }
        self.changed.notify_all();
    }

    /// The member is ready and its clock estimated.
    pub fn synced(&self, index: u32, id: u64, e: Estimate) {
        self.update(index, id, |s, _| s.synced = Some(e));
    }

    /// The member started measuring at `unix_ns` (its clock).
    pub fn started(&self, index: u32, id: u64, unix_ns: i64) {
        self.update(index, id, |s, _| s.started_ns = Some(unix_ns));
    }

    /// The member's result.
    pub fn result(&self, index: u32, id: u64, bytes: Vec<u8>) {
        self.update(index, id, |s, _| {
            if !s.settled() {
                s.result = Some(bytes);
            }
        });
    }

    /// The member failed: before the start, the gather fails; after, it is lost.
    pub fn failed(&self, index: u32, id: u64, reason: String) {
        let mut gathering = false;
        self.update(index, id, |s, phase| {
            gathering = *phase == Phase::Gathering;
            if !s.settled() {
                s.lost = Some(Lost::Failed(reason.clone()));
            }
        });
        if gathering {
            self.lock().failed.get_or_insert((index, reason));
            self.changed.notify_all();
        }
    }

    /// Connection `id` of `index` ended (`why`). Before the start its slot is free
    /// again (a restarted pod may take it); after, a member without a result is lost.
    pub fn left(&self, index: u32, id: u64, why: String) {
        let mut st = self.lock();
        let started = matches!(st.phase, Phase::Started { .. });
        if let Some(slot) = Hub::slot(&mut st, index) {
            if slot.conn.as_ref().is_some_and(|(i, _)| *i == id) {
                if started {
                    if !slot.settled() {
                        slot.lost = Some(Lost::Disconnected(why));
                    }
                } else {
                    slot.conn = None;
                    slot.synced = None;
                }
            }
        }
        self.changed.notify_all();
    }

    /// The reason the run was called off, if it was.
    pub fn aborted(&self) -> Option<String> {
        match &self.lock().phase {
            Phase::Aborted(r) => Some(r.clone()),
            _ => None,
        }
    }

    /// Wait until every member is synced (Ok), one failed, or `deadline`: then the
    /// error names who is missing.
    pub fn wait_gathered(&self, deadline: Instant, wait: Duration) -> Result<(), Error> {
        let mut st = self.lock();
        loop {
            if let Some((index, reason)) = st.failed.clone() {
                return Err(Error::SegmentFailed { index, reason });
            }
            if st.slots.iter().all(|s| s.synced.is_some()) {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline || self.is_shutdown() {
                return Err(missing(&st, wait));
            }
            let left = (deadline - now).min(Duration::from_millis(200));
            st = self
                .changed
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The clock estimates of every member, if all are synced, in index order.
    pub fn estimates(&self) -> Result<Vec<(u32, Estimate)>, Error> {
        let st = self.lock();
        let all: Option<Vec<(u32, Estimate)>> = st
            .slots
            .iter()
            .enumerate()
            .map(|(i, s)| s.synced.map(|e| (i as u32 + 1, e)))
            .collect();
        all.ok_or_else(|| missing(&st, Duration::ZERO))
    }

    /// Enter the run at `at_unix_ns` if still gathering with every member synced: the
    /// members' connections, to send START to.
    pub fn begin(&self, at_unix_ns: i64) -> Result<Vec<CoordPeer>, Error> {
        let mut st = self.lock();
        if let Phase::Aborted(r) = &st.phase {
            return Err(Error::Aborted(r.clone()));
        }
        if st.phase != Phase::Gathering {
            return Err(Error::Order("the start was already sent"));
        }
        if !st.slots.iter().all(|s| s.synced.is_some()) {
            return Err(missing(&st, Duration::ZERO));
        }
        st.phase = Phase::Started { at_unix_ns };
        Ok(st
            .slots
            .iter()
            .filter_map(|s| s.conn.as_ref().map(|c| c.1.clone()))
            .collect())
    }

    /// Call the run off if it has not started: the connections to send ABORT to.
    pub fn abort(&self, reason: &str) -> Vec<CoordPeer> {
        let mut st = self.lock();
        if st.phase == Phase::Gathering {
            st.phase = Phase::Aborted(reason.to_owned());
        }
        self.changed.notify_all();
        Hub::peers(&st)
    }

    /// Whether the run has started.
    pub fn is_started(&self) -> bool {
        matches!(self.lock().phase, Phase::Started { .. })
    }

    /// Every member's connection.
    pub fn connections(&self) -> Vec<CoordPeer> {
        Hub::peers(&self.lock())
    }

    fn peers(st: &State) -> Vec<CoordPeer> {
        st.slots
            .iter()
            .filter_map(|s| s.conn.as_ref().map(|c| c.1.clone()))
            .collect()
    }

    /// Wait until every member sent its result or was lost, or until `deadline`; then
    /// each member's outcome, in index order. The results are moved out: a second call
    /// finds them gone (`Lost::Deadline`).
    pub fn collect(&self, deadline: Instant) -> Vec<Collected> {
        let mut st = self.lock();
        while !st.slots.iter().all(Slot::settled) && !self.is_shutdown() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let left = (deadline - now).min(Duration::from_millis(200));
            st = self
                .changed
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        let at = match st.phase {
            Phase::Started { at_unix_ns } => Some(at_unix_ns),
            _ => None,
        };
        st.slots
            .iter_mut()
            .enumerate()
            .map(|(i, s)| outcome(i as u32 + 1, s, at))
            .collect()
    }
}

/// A member's outcome; its result is moved out.
fn outcome(index: u32, s: &mut Slot, at: Option<i64>) -> Collected {
    let outcome = match (s.result.take(), s.lost.clone()) {
        (Some(bytes), _) => Ok(bytes),
        (None, Some(lost)) => Err(lost),
        (None, None) => Err(Lost::Deadline),
    };
    let started_skew_ns = match (s.started_ns, s.synced, at) {
        (Some(t), Some(e), Some(at)) => Some(t.saturating_sub(e.offset_ns).saturating_sub(at)),
        _ => None,
    };
    Collected {
        index,
        outcome,
        started_skew_ns,
    }
}

/// The error naming who never connected and who connected but is not ready.
fn missing(st: &State, wait: Duration) -> Error {
    let mut never_connected = Vec::new();
    let mut not_ready = Vec::new();
    for (i, s) in st.slots.iter().enumerate() {
        let index = i as u32 + 1;
        if s.synced.is_some() {
            continue;
        }
        if s.conn.is_some() || s.ever {
            not_ready.push(index);
        } else {
            never_connected.push(index);
        }
    }
    Error::Missing {
        never_connected,
        not_ready,
        wait,
    }
}
