//! readyloop: a hand-rolled single-threaded readiness reactor on mio.
#![deny(missing_docs)]

pub mod protocol;
