//! The live progress line ([`progress_line`]) redrawn on the terminal once a second
//! while a run is going.
//!
//! Unlike the final report its fields have fixed widths, so the line keeps its length and
//! its columns while the caller redraws it in place with `\r`.

use crate::fmt::{fmt_rate, fmt_us, group};
use std::time::Duration;

/// The live progress line printed while a run is going, e.g.
/// `[ 3.0s/10.0s]   142,311 req/s  p99 1.21ms  errors 0`.
///
/// `rps` is the recent throughput, `p99_us` the recent corrected p99 in microseconds
/// (`None` before any response), `errors` the running error total. The fields have fixed
/// widths up to 9,999,999 req/s so the line can be redrawn in place with `\r`.
pub fn progress_line(
    elapsed: Duration,
    total: Duration,
    rps: f64,
    p99_us: Option<u64>,
    errors: u64,
) -> String {
    let p99 = match p99_us {
        Some(v) => fmt_us(v as f64),
        None => "-".to_string(),
    };
    format!(
        "[{:>4.1}s/{:.1}s]  {:>9} req/s  p99 {:>7}  errors {}",
        elapsed.as_secs_f64(),
        total.as_secs_f64(),
        fmt_rate(rps),
        p99,
        group(errors)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_progress_line_shape() {
        let l = progress_line(
            Duration::from_secs(3),
            Duration::from_secs(10),
            142_311.4,
            Some(1210),
            0,
        );
        assert_eq!(l, "[ 3.0s/10.0s]    142,311 req/s  p99  1.21ms  errors 0");
        let l = progress_line(
            Duration::from_millis(12_340),
            Duration::from_secs(60),
            2.5,
            None,
            12_345,
        );
        assert_eq!(
            l,
            "[12.3s/60.0s]       2.50 req/s  p99       -  errors 12,345"
        );
    }

    #[test]
    fn test_progress_line_keeps_its_width_while_numbers_change() {
        let a = progress_line(
            Duration::from_secs(1),
            Duration::from_secs(10),
            99_000.0,
            Some(900),
            0,
        );
        let b = progress_line(
            Duration::from_secs(9),
            Duration::from_secs(10),
            1_250_000.0,
            Some(45_000),
            0,
        );
        assert_eq!(a.len(), b.len());
    }
}
