//! Numbers and counts as loadgen prints them: latencies with an adaptive unit
//! ([`fmt_us`]), counts with thousands separators ([`group`], [`whole`]) and their noun
//! ([`plural`]), rates ([`fmt_rate`]), durations ([`fmt_secs`]), `--stages` targets
//! ([`fmt_target`]) and wall-clock times ([`fmt_unix_utc`]).
//!
//! A room of its own, below everything that prints: the reports, but also the run's
//! result (`result.rs`, whose warnings are sentences), the thresholds (`slo.rs`), the
//! plan's refusals, the probe and the search. It imports nothing of loadgen's, so any
//! of them may use it without a circle (these lived in `report/` once, and `result.rs`
//! and `slo.rs`, which `report/` reads, imported them back from there).

use std::time::Duration;

/// Formats a duration given in microseconds with an adaptive unit (`us`, `ms` or `s`)
/// and three significant digits: `7.00us`, `45.0us`, `812us`, `1.21ms`, `12.3ms`,
/// `2.50s`, `3600s`. Three digits are what a latency report can honestly claim: the
/// histograms keep three significant digits.
///
/// Non-finite input prints as `n/a`; negative input keeps its sign.
pub fn fmt_us(us: f64) -> String {
    if !us.is_finite() {
        return "n/a".to_string();
    }
    if us == 0.0 {
        return "0us".to_string();
    }
    let sign = if us < 0.0 { "-" } else { "" };
    let a = us.abs();
    // Choose the unit on the value *as it will be rounded*, so 999.7 us prints as
    // `1.00ms` and never as `1000us`.
    let (v, unit) = if a < 999.5 {
        (a, "us")
    } else if a < 999_500.0 {
        (a / 1e3, "ms")
    } else {
        (a / 1e6, "s")
    };
    let decimals = if v < 9.995 {
        2
    } else if v < 99.95 {
        1
    } else {
        0
    };
    format!("{sign}{v:.decimals$}{unit}")
}

/// `1234567` -> `1,234,567`: thousands are what people read in request counts.
///
/// ```
/// assert_eq!(loadgen::fmt::group(1234567), "1,234,567");
/// assert_eq!(loadgen::fmt::group(999), "999");
/// ```
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `n` and its noun, agreeing, `n` grouped: `1 request`, `0 requests`, `1,024 requests`.
///
/// ```
/// assert_eq!(loadgen::fmt::plural(1, "reply", "replies"), "1 reply");
/// assert_eq!(loadgen::fmt::plural(1024, "reply", "replies"), "1,024 replies");
/// ```
pub fn plural(n: u64, one: &str, many: &str) -> String {
    let noun = if n == 1 { one } else { many };
    format!("{} {noun}", group(n))
}

/// A rate or a mean count to the unit, grouped: `10,000`; negative or not a number
/// is 0 (a figure that cannot be below zero).
///
/// ```
/// assert_eq!(loadgen::fmt::whole(9_999.5), "10,000");
/// assert_eq!(loadgen::fmt::whole(-3.0), "0");
/// ```
pub fn whole(v: f64) -> String {
    group(v.max(0.0).round() as u64)
}

/// A rate in requests per second: grouped whole numbers when large (the fraction is noise
/// there), two decimals when small (a rate of 2.5 req/s must not print as 3).
///
/// ```
/// assert_eq!(loadgen::fmt::fmt_rate(10_000.4), "10,000");
/// assert_eq!(loadgen::fmt::fmt_rate(2.5), "2.50");
/// ```
pub fn fmt_rate(rps: f64) -> String {
    if !rps.is_finite() || rps < 0.0 {
        "n/a".to_string()
    } else if rps >= 100.0 {
        group(rps.round() as u64)
    } else {
        format!("{rps:.2}")
    }
}

/// Seconds with one decimal, the resolution that matters for durations of a run.
///
/// ```
/// assert_eq!(loadgen::fmt::fmt_secs(std::time::Duration::from_millis(2500)), "2.5s");
/// ```
pub fn fmt_secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// A `--stages` target as the interval log's comments and the CSV's target column print
/// it: to a tenth, without a trailing `.0` (a mean over a ramp is rarely whole).
///
/// ```
/// assert_eq!(loadgen::fmt::fmt_target(1000.0), "1000");
/// assert_eq!(loadgen::fmt::fmt_target(1937.5), "1937.5");
/// assert_eq!(loadgen::fmt::fmt_target(2.04), "2");
/// ```
pub fn fmt_target(v: f64) -> String {
    let s = format!("{v:.1}");
    match s.strip_suffix(".0") {
        Some(whole) => whole.to_string(),
        None => s,
    }
}

/// A wall-clock time in seconds since the epoch as `2023-11-14 22:13:20 UTC`: UTC, so
/// that a report reads the same wherever it is opened, and no time-zone database is
/// needed. Times before the epoch or not finite print as `n/a`.
///
/// ```
/// assert_eq!(loadgen::fmt::fmt_unix_utc(1_700_000_000.0), "2023-11-14 22:13:20 UTC");
/// ```
pub fn fmt_unix_utc(unix_s: f64) -> String {
    if !unix_s.is_finite() || unix_s < 0.0 {
        return "n/a".to_string();
    }
    let secs = unix_s.floor() as u64;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Days to a civil date (Howard Hinnant's `civil_from_days`), for days >= 0.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_fmt_us_adapts_units_at_three_significant_digits() {
        assert_eq!(fmt_us(0.0), "0us");
        assert_eq!(fmt_us(7.0), "7.00us");
        assert_eq!(fmt_us(45.0), "45.0us");
        assert_eq!(fmt_us(812.0), "812us");
        assert_eq!(fmt_us(1210.0), "1.21ms");
        assert_eq!(fmt_us(12_345.0), "12.3ms");
        assert_eq!(fmt_us(123_456.0), "123ms");
        assert_eq!(fmt_us(2_500_000.0), "2.50s");
        assert_eq!(fmt_us(3_600_000_000.0), "3600s");
        assert_eq!(fmt_us(-1500.0), "-1.50ms");
        assert_eq!(fmt_us(f64::NAN), "n/a");
    }

    #[test]
    fn test_fmt_us_never_prints_a_thousand_of_a_unit() {
        // Rounding must move to the next unit rather than print 1000us or 1000ms.
        assert_eq!(fmt_us(999.7), "1.00ms");
        assert_eq!(fmt_us(999_600.0), "1.00s");
        assert_eq!(fmt_us(999.4), "999us");
        assert_eq!(fmt_us(9.996), "10.0us");
    }

    #[test]
    fn test_group_and_rate() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(fmt_rate(99.5), "99.50");
        assert_eq!(fmt_rate(10_000.4), "10,000");
    }

    #[test]
    fn test_fmt_unix_utc() {
        assert_eq!(fmt_unix_utc(0.0), "1970-01-01 00:00:00 UTC");
        assert_eq!(fmt_unix_utc(1_700_000_000.9), "2023-11-14 22:13:20 UTC");
        // A leap day, and the last second of a year.
        assert_eq!(fmt_unix_utc(951_782_400.0), "2000-02-29 00:00:00 UTC");
        assert_eq!(fmt_unix_utc(1_735_689_599.0), "2024-12-31 23:59:59 UTC");
        assert_eq!(fmt_unix_utc(-1.0), "n/a");
        assert_eq!(fmt_unix_utc(f64::NAN), "n/a");
    }
}
