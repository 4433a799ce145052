//! The queries in flight on one socket, by 16-bit ID.
//!
//! [`InFlight::insert`] gives a query a free ID and remembers its index, send instant
//! and due instant; [`InFlight::take`] finds it again when its reply comes, in any
//! order (a `None` is a reply to no query in flight: unsolicited, or late after it
//! expired); [`InFlight::expire`] hands back, oldest first, the ones sent a timeout
//! ago or more, for the caller to count as lost.
//!
//! IDs are not sequential: they walk a keyed permutation of the 65,536 values (a
//! 4-round Feistel network, keys from splitmix64 of the seed, new keys every 65,536
//! IDs), as resolvers randomize IDs so that a reply cannot be forged by guessing the
//! next. An ID still in flight when the walk comes back to it is skipped. Each
//! operation is O(1) (insert amortized: a skip costs one probe and needs a query in
//! flight for 65,536 inserts), and memory grows with the most queries in flight at
//! once, never past the cap.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

/// Most IDs one socket can have in flight: all of them.
pub const MAX_IN_FLIGHT: usize = 1 << 16;

/// No slot: the end of a list.
const NIL: u32 = u32::MAX;

/// A query in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sent {
    /// Its ID.
    pub id: u16,
    /// The caller's index of the query (its line in the query file, say).
    pub query: usize,
    /// When it was sent.
    pub sent: Instant,
    /// When it was due (open loop: its place in the schedule; else its send instant).
    pub due: Instant,
}

/// A slab entry: a query in flight, linked in send order; or a free slot.
#[derive(Clone, Copy, Debug)]
struct Slot {
    sent: Sent,
    prev: u32,
    next: u32,
}

/// The queries in flight on one socket, by ID.
#[derive(Debug)]
pub struct InFlight {
    cap: usize,
    slots: Vec<Slot>,
    by_id: HashMap<u16, u32, BuildHasherDefault<IdHasher>>,
    /// Oldest and newest in flight.
    head: u32,
    tail: u32,
    /// Free slots, linked through `next`.
    free: u32,
    ids: IdWalk,
}

impl InFlight {
    /// Room for `cap` queries in flight (clamped to 1..=[`MAX_IN_FLIGHT`]), IDs
    /// drawn from `seed` (give each socket its own).
    pub fn new(cap: usize, seed: u64) -> InFlight {
        InFlight {
            cap: cap.clamp(1, MAX_IN_FLIGHT),
            slots: Vec::new(),
            by_id: HashMap::default(),
            head: NIL,
            tail: NIL,
            free: NIL,
            ids: IdWalk::new(seed),
        }
    }

    /// Queries in flight.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether none is in flight.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The most there can be in flight.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Whether the cap is reached ([`InFlight::insert`] would return `None`).
    pub fn is_full(&self) -> bool {
        self.len() >= self.cap
    }

    /// Puts query `query`, sent at `sent` and due at `due`, in flight: its ID, or
    /// `None` when the cap is reached. Send instants are expected in the order of
    /// the inserts ([`InFlight::expire`] hands back in insert order).
    pub fn insert(&mut self, query: usize, sent: Instant, due: Instant) -> Option<u16> {
        if self.is_full() {
            return None;
        }
        let id = self.free_id()?;
        let slot = self.alloc(Slot {
            sent: Sent {
                id,
                query,
                sent,
                due,
            },
            prev: self.tail,
            next: NIL,
        });
        match self.tail {
            NIL => self.head = slot,
            t => self.slot_mut(t).next = slot,
        }
        self.tail = slot;
        self.by_id.insert(id, slot);
        Some(id)
    }

    /// The query in flight with this ID, left in flight.
    pub fn get(&self, id: u16) -> Option<&Sent> {
        let &s = self.by_id.get(&id)?;
        self.slots.get(s as usize).map(|slot| &slot.sent)
    }

    /// Takes the query with this ID out of flight (its reply came, or its send
    /// failed); `None` when no query with this ID is in flight.
    pub fn take(&mut self, id: u16) -> Option<Sent> {
        let s = self.by_id.remove(&id)?;
        Some(self.unlink(s))
    }

    /// The oldest query in flight (the next to expire).
    pub fn oldest(&self) -> Option<&Sent> {
        self.slots.get(self.head as usize).map(|s| &s.sent)
    }

    /// Takes out of flight, oldest first, every query sent `timeout` or longer
    /// before `now`. Lazy: what the iterator is not asked for stays in flight.
    pub fn expire(&mut self, now: Instant, timeout: Duration) -> Expired<'_> {
        Expired {
            flight: self,
            now,
            timeout,
        }
    }

    /// A free ID: the next in the walk not in flight. Some exists, as fewer than
    /// 65,536 are in flight; within two keys' walks every value comes up.
    fn free_id(&mut self) -> Option<u16> {
        (0..2 * MAX_IN_FLIGHT)
            .map(|_| self.ids.next_id())
            .find(|id| !self.by_id.contains_key(id))
    }

    fn alloc(&mut self, slot: Slot) -> u32 {
        match self.free {
            NIL => {
                // At most `cap` (<= 65,536) slots: the index fits.
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
            f => {
                self.free = self.slot_mut(f).next;
                *self.slot_mut(f) = slot;
                f
            }
        }
    }

    /// Unlinks slot `s` (already out of `by_id`) and frees it.
    fn unlink(&mut self, s: u32) -> Sent {
        let Slot { sent, prev, next } = *self.slot_mut(s);
        match prev {
            NIL => self.head = next,
            p => self.slot_mut(p).next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.slot_mut(n).prev = prev,
        }
        let free = self.free;
        let slot = self.slot_mut(s);
        slot.next = free;
        slot.prev = NIL;
        self.free = s;
        sent
    }

    /// The slot at `s`, an index this structure made (in range by construction).
    fn slot_mut(&mut self, s: u32) -> &mut Slot {
        &mut self.slots[s as usize]
    }
}

/// The queries [`InFlight::expire`] takes out, oldest first.
pub struct Expired<'a> {
    flight: &'a mut InFlight,
    now: Instant,
    timeout: Duration,
}

impl Iterator for Expired<'_> {
    type Item = Sent;

    fn next(&mut self) -> Option<Sent> {
        let oldest = *self.flight.oldest()?;
        if self.now.saturating_duration_since(oldest.sent) < self.timeout {
            return None;
        }
        let s = self.flight.by_id.remove(&oldest.id)?;
        Some(self.flight.unlink(s))
    }
}

/// The walk of IDs: a keyed permutation of the 16-bit values, rekeyed each time it
/// has given all of them.
#[derive(Debug)]
struct IdWalk {
    state: u64,
    keys: [u64; 4],
    step: u32,
}

impl IdWalk {
    fn new(seed: u64) -> IdWalk {
        let mut w = IdWalk {
            state: seed,
            keys: [0; 4],
            step: 0,
        };
        w.rekey();
        w
    }

    fn rekey(&mut self) {
        for k in &mut self.keys {
            *k = splitmix64(&mut self.state);
        }
        self.step = 0;
    }

    fn next_id(&mut self) -> u16 {
        if self.step == 1 << 16 {
            self.rekey();
        }
        // `step` < 65,536 here.
        let x = self.step as u16;
        self.step += 1;
        feistel(x, &self.keys)
    }
}

/// A bijection of the 16-bit values: four Feistel rounds over the two bytes.
fn feistel(x: u16, keys: &[u64; 4]) -> u16 {
    let [mut l, mut r] = x.to_be_bytes();
    for &k in keys {
        let f = (mix(k ^ u64::from(r)) >> 56) as u8;
        (l, r) = (r, l ^ f);
    }
    u16::from_be_bytes([l, r])
}

/// splitmix64: the next value of the sequence at `state`.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    mix(*state)
}

/// splitmix64's finalizer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Hashes an ID (already spread by the walk) with one multiply, for the map.
#[derive(Default, Debug)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0 << 8 | u64::from(b);
        }
    }

    fn write_u16(&mut self, v: u16) {
        self.0 = u64::from(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, HashSet};

    fn t0() -> Instant {
        Instant::now()
    }

    #[test]
    fn out_of_order_and_unsolicited() {
        let start = t0();
        let mut f = InFlight::new(8, 42);
        let ids: Vec<u16> = (0..8).map(|q| f.insert(q, start, start).unwrap()).collect();
        assert!(f.is_full());
        assert_eq!(f.insert(8, start, start), None);
        for (q, &id) in ids.iter().enumerate().rev() {
            assert_eq!(f.get(id).map(|s| s.query), Some(q));
            assert_eq!(f.take(id).map(|s| s.query), Some(q));
            assert_eq!(f.take(id), None, "a second reply is unsolicited");
        }
        assert!(f.is_empty());
        assert!(f.oldest().is_none());
    }

    #[test]
    fn expire_oldest_first() {
        let start = t0();
        let ms = Duration::from_millis;
        let mut f = InFlight::new(100, 1);
        let ids: Vec<u16> = (0..10)
            .map(|q| f.insert(q, start + ms(q as u64), start).unwrap())
            .collect();
        f.take(ids[1]);
        f.take(ids[4]);
        // At 105 ms with a 100 ms timeout: sent at 0..=5 are out, 1 and 4 answered.
        let gone: Vec<usize> = f
            .expire(start + ms(105), ms(100))
            .map(|s| s.query)
            .collect();
        assert_eq!(gone, [0, 2, 3, 5]);
        assert_eq!(f.len(), 4);
        assert_eq!(f.oldest().map(|s| s.query), Some(6));
        // Lazy: take one, the rest stays.
        assert_eq!(
            f.expire(start + ms(200), ms(0)).next().map(|s| s.query),
            Some(6)
        );
        assert_eq!(f.len(), 3);
        // A reply after expiry is not in flight.
        assert_eq!(f.take(ids[0]), None);
    }

    #[test]
    fn ids_are_a_permutation_not_a_sequence() {
        let start = t0();
        let mut f = InFlight::new(1, 7);
        let mut seen = HashSet::new();
        let mut steps_of_one = 0;
        let mut prev = None;
        for q in 0..MAX_IN_FLIGHT {
            let id = f.insert(q, start, start).unwrap();
            f.take(id).unwrap();
            assert!(seen.insert(id), "id {id} twice within one walk");
            if prev.map(|p: u16| p.wrapping_add(1)) == Some(id) {
                steps_of_one += 1;
            }
            prev = Some(id);
        }
        assert_eq!(seen.len(), MAX_IN_FLIGHT);
        assert!(steps_of_one < 100, "{steps_of_one} sequential steps");
        // Another seed, another order.
        let mut g = InFlight::new(1, 8);
        let mut h = InFlight::new(1, 7);
        let a: Vec<u16> = (0..16).filter_map(|q| take_one(&mut g, q, start)).collect();
        let b: Vec<u16> = (0..16).filter_map(|q| take_one(&mut h, q, start)).collect();
        assert_ne!(a, b);
    }

    fn take_one(f: &mut InFlight, q: usize, at: Instant) -> Option<u16> {
        let id = f.insert(q, at, at)?;
        f.take(id).map(|s| s.id)
    }

    #[test]
    fn full_cap_of_every_id() {
        let start = t0();
        let mut f = InFlight::new(usize::MAX, 3);
        assert_eq!(f.cap(), MAX_IN_FLIGHT);
        let mut seen = HashSet::new();
        for q in 0..MAX_IN_FLIGHT {
            assert!(seen.insert(f.insert(q, start, start).unwrap()));
        }
        assert_eq!(f.insert(0, start, start), None);
        // Free one in the middle: the next insert finds exactly that one.
        let some = *seen.iter().nth(1000).unwrap();
        f.take(some).unwrap();
        assert_eq!(f.insert(1, start, start), Some(some));
        assert_eq!(f.slots.len(), MAX_IN_FLIGHT);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u8),
        Take(u16),
        TakeNth(u8),
        Expire(u8, u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => any::<u8>().prop_map(Op::Insert),
            1 => any::<u16>().prop_map(Op::Take),
            3 => any::<u8>().prop_map(Op::TakeNth),
            1 => (any::<u8>(), any::<u8>()).prop_map(|(n, t)| Op::Expire(n, t)),
        ]
    }

    proptest! {
        /// Against a model: a map from ID to (query, send time) and the send order.
        #[test]
        fn matches_a_model(cap in 1usize..40, seed: u64, ops in prop::collection::vec(op(), 0..300)) {
            let start = t0();
            let at = |ms: u64| start + Duration::from_millis(ms);
            let mut f = InFlight::new(cap, seed);
            let mut model: BTreeMap<u64, (u16, usize)> = BTreeMap::new(); // by send order
            let mut clock = 0u64;
            for (q, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Insert(dt) => {
                        clock += u64::from(dt);
                        match f.insert(q, at(clock), at(clock)) {
                            Some(id) => {
                                prop_assert!(model.len() < cap);
                                prop_assert!(model.values().all(|&(i, _)| i != id));
                                model.insert(clock * 1000 + q as u64, (id, q));
                            }
                            None => prop_assert_eq!(model.len(), cap),
                        }
                    }
                    Op::Take(id) => {
                        let key = model.iter().find(|(_, &(i, _))| i == id).map(|(k, _)| *k);
                        let got = f.take(id).map(|s| s.query);
                        prop_assert_eq!(got, key.and_then(|k| model.remove(&k)).map(|(_, q)| q));
                    }
                    Op::TakeNth(n) => {
                        if let Some((&k, &(id, q))) = model.iter().nth(usize::from(n) % model.len().max(1)) {
                            prop_assert_eq!(f.take(id).map(|s| s.query), Some(q));
                            model.remove(&k);
                        }
                    }
                    Op::Expire(n, timeout) => {
                        let timeout = u64::from(timeout);
                        let got: Vec<usize> = f
                            .expire(at(clock), Duration::from_millis(timeout))
                            .take(usize::from(n % 8))
                            .map(|s| s.query)
                            .collect();
                        let want: Vec<(u64, usize)> = model
                            .iter()
                            .filter(|(k, _)| clock - *k / 1000 >= timeout)
                            .take(usize::from(n % 8))
                            .map(|(k, &(_, q))| (*k, q))
                            .collect();
                        prop_assert_eq!(&got, &want.iter().map(|w| w.1).collect::<Vec<_>>());
                        for (k, _) in want {
                            model.remove(&k);
                        }
                    }
                }
                prop_assert_eq!(f.len(), model.len());
                prop_assert_eq!(f.oldest().map(|s| s.query), model.values().next().map(|v| v.1));
                prop_assert!(f.slots.len() <= cap);
            }
        }
    }
}
