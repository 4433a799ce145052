//! How a [`ProbeResult`]'s two fields that serde cannot write as they are go on the
//! `RESULT` line of a `--procs` child: its ramp duration as seconds ([`secs_f64`]) and
//! its connect-time histogram as base64 of HdrHistogram's V2 encoding
//! ([`hist_base64`]).
//!
//! A room of their own, below both `ramp.rs` (whose [`ProbeResult`] names them in its
//! serde attributes) and `procs.rs` (which reads and writes the lines), and importing
//! neither, so the two never import each other.
//!
//! [`ProbeResult`]: super::ProbeResult

/// [`ProbeResult::ramp`] on the `RESULT` line: seconds, as a float.
///
/// [`ProbeResult::ramp`]: super::ProbeResult::ramp
pub(super) mod secs_f64 {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// Write the duration in seconds.
    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    /// Read seconds back into a duration.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

/// [`ProbeResult::connect`] on the `RESULT` line: the histogram in HdrHistogram's V2
/// encoding, base64, so the parent merges exact histograms rather than percentiles.
///
/// [`ProbeResult::connect`]: super::ProbeResult::connect
pub(super) mod hist_base64 {
    use base64::Engine as _;
    use hdrhistogram::serialization::{Serializer as _, V2Serializer};
    use hdrhistogram::Histogram;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Write the histogram as base64 of its V2 encoding.
    pub(crate) fn serialize<S: Serializer>(h: &Histogram<u64>, s: S) -> Result<S::Ok, S::Error> {
        let mut v = Vec::new();
        // Serializing into a Vec cannot fail for a valid histogram.
        let _ = V2Serializer::new().serialize(h, &mut v);
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    /// Read a histogram back from base64 of its V2 encoding.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Histogram<u64>, D::Error> {
        use serde::de::Error as _;
        let text = String::deserialize(d)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(D::Error::custom)?;
        hdrhistogram::serialization::Deserializer::new()
            .deserialize(&mut std::io::Cursor::new(bytes))
            .map_err(D::Error::custom)
    }
}
