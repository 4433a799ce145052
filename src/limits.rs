//! What caps connections here: the descriptor limit of this process, read and raised.
//!
//! Shared by the server's start-up line and loadgen. Values that cannot be read are
//! `None`, never guessed.

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// The RLIMIT_NOFILE of this process, before and after raising the soft limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NofileLimit {
    /// Soft limit found at start.
    pub soft_before: u64,
    /// Soft limit now (after trying to raise it to `hard`).
    pub soft: u64,
    /// Hard limit (raising it needs privilege and is capped by `fs.nr_open`).
    pub hard: u64,
}

/// Raise the soft RLIMIT_NOFILE to the hard limit, as Redis and nginx do, and report
/// what we got. Failure to raise leaves the soft limit as it was.
pub fn raise_nofile() -> std::io::Result<NofileLimit> {
    let (soft_before, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(std::io::Error::from)?;
    let soft = if soft_before < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        hard
    } else {
        soft_before
    };
    Ok(NofileLimit {
        soft_before,
        soft,
        hard,
    })
}

/// Descriptors open in this process now, counted from `/proc/self/fd` (a parent can
/// leave some open, so 3 is not a safe assumption). `None` if it cannot be read.
pub fn open_fds() -> Option<u64> {
    let dir = std::fs::read_dir("/proc/self/fd").ok()?;
    // read_dir itself holds one descriptor while it runs: do not count it.
    Some((dir.count() as u64).saturating_sub(1))
}

/// Descriptors open in this process whose number is below `limit`. RLIMIT_NOFILE caps
/// descriptor *numbers*, so an inherited fd numbered above the limit takes no room.
pub fn open_fds_below(limit: u64) -> Option<u64> {
    let dir = std::fs::read_dir("/proc/self/fd").ok()?;
    let n = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .filter(|&fd| fd < limit)
        .count() as u64;
    // read_dir's own descriptor was counted (it is a low number): not ours to keep.
    Some(n.saturating_sub(1))
}

/// How many more connections this process can hold: descriptor numbers below the soft
/// limit that are not in use.
pub fn connection_capacity(limit: &NofileLimit) -> Option<u64> {
    open_fds_below(limit.soft).map(|open| limit.soft.saturating_sub(open))
}

/// Read one value from `/proc/sys`, e.g. `"net/core/somaxconn"`.
pub fn sysctl(path: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/sys/{path}"))
        .ok()
        .map(|s| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_raise_nofile_reaches_hard() {
        let l = raise_nofile().expect("getrlimit works on Linux");
        assert_eq!(l.soft, l.hard, "soft is raised to hard when allowed");
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!((soft, hard), (l.soft, l.hard));
    }

    #[test]
    fn test_open_fds_sees_held_descriptors() {
        // Other tests run in parallel threads and open files too, so only a lower bound
        // is exact: the 50 files held here must all be counted.
        let held: Vec<_> = (0..50)
            .map(|_| std::fs::File::open("/proc/self/stat").unwrap())
            .collect();
        let n = open_fds().expect("/proc/self/fd is readable on Linux");
        assert!(n >= 50, "counted {n} with 50 held");
        drop(held);
    }
}
