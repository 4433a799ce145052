//! HdrHistogram's compressed-histogram text ([`encode_histogram`],
//! [`decode_histogram`]): a V2 deflate-compressed histogram in standard base64, the
//! encoding of every line of an interval log, which every HdrHistogram implementation
//! (Java, Go, Python, Rust) decodes.
//!
//! The JSON report carries its whole histograms in this encoding, and `loadgen report`
//! reads them back from JSON files and interval logs: one encoding, one pair of
//! functions, each the other's test.

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

/// `h` as HdrHistogram's compressed-histogram text (V2 deflate, base64); `None` if it
/// cannot be serialized (counts beyond what the format holds, never for loadgen's
/// histograms).
pub fn encode_histogram(h: &Histogram<u64>) -> Option<String> {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new().serialize(h, &mut bytes).ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Decodes HdrHistogram's compressed-histogram text (V2, deflated or not); the error
/// says whether the base64 or the histogram was bad.
///
/// ```
/// use loadgen::report::{decode_histogram, encode_histogram};
/// let mut h = loadgen::record::new_histogram();
/// h.record_n(1000, 3).unwrap();
/// let back = decode_histogram(&encode_histogram(&h).unwrap()).unwrap();
/// assert_eq!(back.len(), 3);
/// assert!(decode_histogram("not base64!").is_err());
/// ```
pub fn decode_histogram(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("not base64: {e}"))?;
    Deserializer::new()
        .deserialize(&mut std::io::Cursor::new(bytes))
        .map_err(|e| format!("not an HdrHistogram: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::open;

    #[test]
    fn test_round_trip_keeps_every_count() {
        let h = open().rec.corrected;
        let text = encode_histogram(&h).expect("encodes");
        // V2 deflate's cookie, base64: every HdrHistogram reader recognises it.
        assert!(text.starts_with("HISTFAAA"), "{text}");
        let back = decode_histogram(&text).expect("decodes");
        assert_eq!(back, h);
        assert_eq!(back.value_at_quantile(0.999), h.value_at_quantile(0.999));
    }

    #[test]
    fn test_decode_names_what_is_wrong() {
        assert!(decode_histogram("%%%")
            .expect_err("bad")
            .starts_with("not base64"));
        let junk = base64::engine::general_purpose::STANDARD.encode(b"hello world");
        assert!(decode_histogram(&junk)
            .expect_err("bad")
            .starts_with("not an HdrHistogram"));
    }
}
