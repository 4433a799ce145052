//! The one error type of loadgen, and the exit code each kind maps to.

use std::fmt;

/// Why loadgen could not do what it was asked.
#[derive(Debug)]
pub enum Error {
    /// Bad flags or arguments (exit code 2).
    Usage(String),
    /// The target could not be reached before the run (exit code 1).
    Target(String),
    /// An I/O error while running or writing a report (exit code 1).
    Io(String, std::io::Error),
    /// A run split over segments is not whole: a segment missed the start, never
    /// joined, or was lost (exit code 4).
    NotWhole(String),
}

impl Error {
    /// The process exit code for this error.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            Error::Target(_) | Error::Io(..) => 1,
            Error::NotWhole(_) => 4,
        }
    }

    /// Wrap an I/O error with what was being done.
    pub fn io(what: impl Into<String>, e: std::io::Error) -> Error {
        Error::Io(what.into(), e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) | Error::Target(m) | Error::NotWhole(m) => f.write_str(m),
            Error::Io(what, e) => write!(f, "{what}: {e}"),
        }
    }
}

impl std::error::Error for Error {}
