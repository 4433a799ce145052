//! `--start-at TIME`: a split run's common start without a coordinator (N shells, N
//! hosts, a CI matrix): every segment opens its connections, warms up, and begins
//! measuring at TIME on its own clock (so their clocks must agree: NTP, or
//! docs/distributed.md on skew).

use crate::engine::Gate;
use crate::split::NotWhole;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// `TIME`: RFC 3339 (`2026-12-08T14:00:00Z`, `...+01:00`, fractions of a second) or
/// milliseconds since the Unix epoch (`1796738400000`).
///
/// ```text
/// 2026-12-08T14:00:00.250Z  ->  1796738400.250 s since the epoch
/// ```
pub(super) fn parse(s: &str) -> Result<SystemTime, String> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        let ms: u64 = t
            .parse()
            .map_err(|_| format!("--start-at '{s}': too large"))?;
        return Ok(UNIX_EPOCH + Duration::from_millis(ms));
    }
    let when = time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
        .map_err(|e| {
            format!(
                "--start-at '{s}': expected RFC 3339 (2026-12-08T14:00:00Z) or Unix \
                 milliseconds ({e})"
            )
        })?;
    let ns = when.unix_timestamp_nanos();
    let ns = u64::try_from(ns).map_err(|_| format!("--start-at '{s}': before 1970"))?;
    Ok(UNIX_EPOCH + Duration::from_nanos(ns))
}

/// The run's nonce from its start: every segment started by one `--start-at` shares
/// it, and a run started at another time has another.
pub(super) fn nonce(at: SystemTime) -> String {
    let ms = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    format!("t{ms}")
}

/// The engine's gate: at once without `at`; else `at` as an instant of this process's
/// clock, or an error when it has passed by the time the connections are open (this
/// segment would measure seconds the others have already measured).
pub(super) fn gate<'a>(at: Option<SystemTime>) -> Gate<'a> {
    Box::new(move || {
        let Some(at) = at else { return Ok(None) };
        match at.duration_since(SystemTime::now()) {
            Ok(ahead) => Ok(Some(Instant::now() + ahead)),
            Err(e) => Err(NotWhole::io(format!(
                "--start-at: the start passed {:.3}s before this segment's connections \
                 were open: it would measure seconds the others already measured \
                 (start later, or fewer connections per segment)",
                e.duration().as_secs_f64()
            ))),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_rfc_3339_and_unix_ms_name_the_same_instant() {
        let ms = UNIX_EPOCH + Duration::from_millis(1_796_738_400_250);
        assert_eq!(parse("1796738400250"), Ok(ms));
        assert_eq!(parse("2026-12-08T14:00:00.250Z"), Ok(ms));
        assert_eq!(parse("2026-12-08T15:00:00.250+01:00"), Ok(ms));
        for bad in ["", "tomorrow", "2026-12-08 14:00", "2026-13-08T14:00:00Z"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(nonce(ms), "t1796738400250");
    }

    #[test]
    fn test_a_start_in_the_past_is_refused_and_one_ahead_is_kept() {
        assert!(gate(None)().unwrap().is_none());
        let ahead = gate(Some(SystemTime::now() + Duration::from_secs(5)))()
            .unwrap()
            .unwrap();
        let d = ahead.duration_since(Instant::now());
        assert!(
            d > Duration::from_secs(4) && d <= Duration::from_secs(5),
            "{d:?}"
        );
        let e = gate(Some(SystemTime::now() - Duration::from_secs(2)))().unwrap_err();
        assert!(e.to_string().contains("the start passed 2."), "{e}");
        assert!(e.get_ref().is_some_and(|x| x.is::<NotWhole>()));
    }
}
