//! What a long run keeps in memory for its per-second histograms (issue 10, item 8),
//! in compressed time: a day of seconds fed to loadgen's `IntervalStore` as fast as
//! they can be made, each a realistic busy second (10,000 latencies, log-normal-ish
//! around 300 us with a tail to 50 ms). The peer, in the same run, is what loadgen kept
//! before: one full histogram per second, measured over an hour and scaled.
//!
//! `cargo bench -p loadgen --bench long_run_memory [-- SECONDS]` prints the RSS growth
//! and the bytes held for both. RSS is read from /proc/self/status.

use hdrhistogram::Histogram;
use loadgen::intervals::IntervalStore;
use loadgen::record::{new_histogram, record_us};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// A busy second: `n` latencies from a cheap deterministic generator.
fn second(seed: u64, n: usize) -> Histogram<u64> {
    let mut h = new_histogram();
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for _ in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Mostly 100-600 us, one in a hundred up to 50 ms.
        let v = if x % 100 == 0 {
            1_000 + (x >> 20) % 49_000
        } else {
            100 + (x >> 20) % 500
        };
        record_us(&mut h, v);
    }
    h
}

fn main() {
    let secs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(86_400);
    let per_second = 10_000;

    // The peer: full histograms, an hour's worth (or less), scaled to `secs`.
    let peer_secs = secs.min(3_600);
    let before = rss_kib();
    let mut full: Vec<Histogram<u64>> = Vec::with_capacity(peer_secs);
    for s in 0..peer_secs {
        full.push(second(s as u64, 100)); // the size does not depend on the count
    }
    let peer_kib = rss_kib().saturating_sub(before);
    let peer_scaled_mib = peer_kib as f64 * secs as f64 / peer_secs as f64 / 1024.0;
    drop(full);

    let before = rss_kib();
    let t0 = std::time::Instant::now();
    let mut store = IntervalStore::new(1);
    for s in 0..secs {
        store.add(s, &second(s as u64 + 1_000_000, per_second));
    }
    let held = store.bytes();
    let kept = store.finish();
    let grown_kib = rss_kib().saturating_sub(before);
    println!(
        "{secs} seconds of {per_second} latencies each, made in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    println!(
        "compressed (now): {:.1} MiB held, RSS grew {:.1} MiB ({:.0} bytes per second of run)",
        held as f64 / 1048576.0,
        grown_kib as f64 / 1024.0,
        held as f64 / secs as f64
    );
    println!(
        "full histograms (before): RSS grew {:.1} MiB over {peer_secs} s, {:.0} MiB scaled to {secs} s",
        peer_kib as f64 / 1024.0,
        peer_scaled_mib
    );
    println!(
        "ratio: {:.4} (compressed / full)",
        grown_kib as f64 / 1024.0 / peer_scaled_mib.max(1e-9)
    );
    assert_eq!(kept.len(), secs);
}
