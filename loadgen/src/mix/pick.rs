//! Which entry of a mix each write sends.
//!
//! Round robin is deterministic: equal weights cycle through the entries in file
//! order; unequal weights use stride scheduling (each entry advances by 1/weight and
//! the one furthest behind goes next), which spreads an entry's turns evenly instead of
//! sending them in a burst and gives exact shares over every whole cycle, in
//! O(log entries) per pick. Random draws each write from the weights with a
//! splitmix64 generator: written out here rather than taken from a crate so that a
//! seed gives the same sequence in every version of loadgen.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// How entries are chosen (`--order`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Order {
    /// In turn, weighted (`round-robin`).
    #[default]
    RoundRobin,
    /// At random, weighted, from `--seed` (`random`).
    Random,
}

impl Order {
    /// Its name as the flag takes it.
    pub fn name(self) -> &'static str {
        match self {
            Order::RoundRobin => "round-robin",
            Order::Random => "random",
        }
    }
}

impl std::str::FromStr for Order {
    type Err = String;
    fn from_str(s: &str) -> Result<Order, String> {
        match s {
            "round-robin" | "rr" => Ok(Order::RoundRobin),
            "random" => Ok(Order::Random),
            _ => Err(format!("{s:?}: expected round-robin or random")),
        }
    }
}

/// One worker's chooser.
#[derive(Clone, Debug)]
pub enum Picker {
    /// Equal weights, in turn.
    Cycle {
        /// The next entry.
        next: usize,
        /// How many there are.
        len: usize,
    },
    /// Unequal weights, in turn (stride scheduling).
    Stride {
        /// (pass, entry): the smallest pass goes next, ties in file order.
        heap: BinaryHeap<Reverse<(u128, usize)>>,
        /// Each entry's step: 2^64 / weight.
        strides: Vec<u128>,
    },
    /// Weighted random.
    Random {
        /// splitmix64 state.
        state: u64,
        /// Running sums of the weights.
        cumulative: Vec<u64>,
    },
}

/// splitmix64's step (Steele, Lea and Flood): full period, good enough to pick URLs.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Picker {
    /// A chooser over entries of these `weights` (each >= 1, at least one), for
    /// worker `worker` (random: each worker draws its own sequence from the seed).
    ///
    /// ```
    /// use loadgen::mix::{Order, Picker};
    /// let mut p = Picker::new(&[3, 1], Order::RoundRobin, 0, 0);
    /// let picks: Vec<usize> = (0..8).map(|_| p.pick()).collect();
    /// assert_eq!(picks.iter().filter(|&&i| i == 0).count(), 6);
    /// ```
    pub fn new(weights: &[u32], order: Order, seed: u64, worker: u64) -> Picker {
        let len = weights.len().max(1);
        match order {
            // Worker i starts at entry i, so that a short run with many threads does
            // not send every worker's first entry first.
            Order::RoundRobin if weights.windows(2).all(|w| w[0] == w[1]) => Picker::Cycle {
                next: (worker % len as u64) as usize,
                len,
            },
            Order::RoundRobin => {
                let strides: Vec<u128> = weights
                    .iter()
                    .map(|&w| (1u128 << 64) / u128::from(w.max(1)))
                    .collect();
                // Each starts half a step in, so the first cycle is as even as the rest.
                let heap = strides
                    .iter()
                    .enumerate()
                    .map(|(i, &s)| Reverse((s / 2, i)))
                    .collect();
                Picker::Stride { heap, strides }
            }
            Order::Random => {
                let mut sum = 0u64;
                let cumulative = weights
                    .iter()
                    .map(|&w| {
                        sum += u64::from(w.max(1));
                        sum
                    })
                    .collect();
                // Each worker's stream: the seed moved by the worker's index, then one
                // step so that seeds 0, 1, 2... do not start side by side.
                let mut state = seed ^ worker.wrapping_mul(0xD1B5_4A32_D192_ED03);
                splitmix64(&mut state);
                Picker::Random { state, cumulative }
            }
        }
    }

    /// The entry of the next write.
    pub fn pick(&mut self) -> usize {
        match self {
            Picker::Cycle { next, len } => {
                let i = *next;
                *next = (i + 1) % *len;
                i
            }
            Picker::Stride { heap, strides } => {
                let Some(Reverse((pass, i))) = heap.pop() else {
                    return 0; // never empty: built with an entry for each weight
                };
                heap.push(Reverse((pass + strides[i], i)));
                i
            }
            Picker::Random { state, cumulative } => {
                let total = cumulative.last().copied().unwrap_or(1);
                // The top 64 bits of x * total: uniform over 0..total without a modulo's
                // bias toward small values.
                let x = splitmix64(state);
                let r = ((u128::from(x) * u128::from(total)) >> 64) as u64;
                cumulative.partition_point(|&c| c <= r)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(p: &mut Picker, n: usize, k: usize) -> Vec<usize> {
        let mut c = vec![0; k];
        for _ in 0..n {
            c[p.pick()] += 1;
        }
        c
    }

    #[test]
    fn test_equal_weights_cycle_in_file_order() {
        let mut p = Picker::new(&[1, 1, 1], Order::RoundRobin, 0, 0);
        let v: Vec<usize> = (0..7).map(|_| p.pick()).collect();
        assert_eq!(v, [0, 1, 2, 0, 1, 2, 0]);
        // Another worker starts elsewhere in the cycle, and keeps its order.
        let mut q = Picker::new(&[1, 1, 1], Order::RoundRobin, 0, 1);
        let w: Vec<usize> = (0..3).map(|_| q.pick()).collect();
        assert_ne!(w[0], 0);
        assert_eq!(w[1], (w[0] + 1) % 3);
    }

    #[test]
    fn test_weighted_round_robin_is_exact_over_each_cycle_and_spread() {
        let mut p = Picker::new(&[5, 2, 1], Order::RoundRobin, 0, 0);
        for _ in 0..100 {
            assert_eq!(counts(&mut p, 8, 3), [5, 2, 1]);
        }
        // Spread: the weight-5 entry never goes 5 times in a row.
        let mut p = Picker::new(&[5, 2, 1], Order::RoundRobin, 0, 0);
        let v: Vec<usize> = (0..80).map(|_| p.pick()).collect();
        let longest = v
            .chunk_by(|a, b| a == b)
            .map(<[usize]>::len)
            .max()
            .unwrap_or(0);
        assert!(longest <= 3, "{v:?}");
    }

    #[test]
    fn test_random_follows_the_weights_and_the_seed() {
        let mut p = Picker::new(&[3, 1], Order::Random, 7, 0);
        let c = counts(&mut p, 40_000, 2);
        let share = c[0] as f64 / 40_000.0;
        assert!((share - 0.75).abs() < 0.01, "{c:?}");
        let seq = |seed, worker| {
            let mut p = Picker::new(&[1, 1, 1, 1], Order::Random, seed, worker);
            (0..32).map(|_| p.pick()).collect::<Vec<_>>()
        };
        assert_eq!(seq(7, 0), seq(7, 0), "same seed, same sequence");
        assert_ne!(seq(7, 0), seq(8, 0), "another seed, another sequence");
        assert_ne!(seq(7, 0), seq(7, 1), "each worker its own stream");
        // Every entry is drawn, the last included (no off-by-one at the top).
        let c = counts(
            &mut Picker::new(&[1, 1, 1, 1], Order::Random, 1, 0),
            4000,
            4,
        );
        assert!(c.iter().all(|&n| n > 800), "{c:?}");
    }

    #[test]
    fn test_order_names_parse() {
        assert_eq!("random".parse::<Order>(), Ok(Order::Random));
        assert_eq!("round-robin".parse::<Order>(), Ok(Order::RoundRobin));
        assert!("zigzag".parse::<Order>().is_err());
    }
}
