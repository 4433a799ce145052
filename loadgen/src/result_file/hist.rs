//! Histograms in a result file: HdrHistogram's compressed encoding (V2 deflate, base64,
//! as an interval log line holds), read back into loadgen's own layout or refused.

use crate::report::{decode_histogram, encode_histogram};
use crate::tally::new_histogram;
use hdrhistogram::Histogram;

/// `h` encoded; an empty histogram is an empty string.
pub(super) fn put(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        return String::new();
    }
    encode_histogram(h).unwrap_or_default()
}

/// The histogram `text` holds, in the layout of `empty` (loadgen's: 1 us to 1 h at 3
/// significant digits, or a mix entry's 2): the values of another layout (another
/// tool's, or a wider range) are refused, since adding them would lose some.
pub(super) fn get(text: &str, empty: Histogram<u64>, what: &str) -> Result<Histogram<u64>, String> {
    let mut h = empty;
    if text.is_empty() {
        return Ok(h);
    }
    let read = decode_histogram(text).map_err(|e| format!("{what}: {e}"))?;
    if read.sigfig() != h.sigfig() || read.low() != h.low() || read.high() > h.high() {
        return Err(format!(
            "{what}: a histogram of {} significant digits from {} to {}, where loadgen \
             keeps {} from {} to {}",
            read.sigfig(),
            read.low(),
            read.high(),
            h.sigfig(),
            h.low(),
            h.high()
        ));
    }
    h.add(&read).map_err(|e| format!("{what}: {e:?}"))?;
    Ok(h)
}

/// A latency histogram of the run's layout from `text`.
pub(super) fn latency(text: &str, what: &str) -> Result<Histogram<u64>, String> {
    get(text, new_histogram(), what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tally::MAX_US;

    #[test]
    fn test_round_trip_is_exact_and_foreign_layouts_are_refused() {
        let mut h = new_histogram();
        for v in [1, 7, 1000, 123_456, MAX_US] {
            h.record_n(v, v % 7 + 1).unwrap();
        }
        let back = latency(&put(&h), "x").unwrap();
        assert_eq!(back, h);
        assert!(latency(&put(&new_histogram()), "x").unwrap().is_empty());
        let two_digits = Histogram::<u64>::new_with_bounds(1, MAX_US, 2).unwrap();
        let mut other = two_digits.clone();
        other.record(5).unwrap();
        let e = latency(&put(&other), "corrected").unwrap_err();
        assert!(
            e.starts_with("corrected: a histogram of 2 significant"),
            "{e}"
        );
        assert!(latency("HISTnonsense", "raw")
            .unwrap_err()
            .starts_with("raw: "));
    }
}
