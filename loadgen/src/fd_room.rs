//! Checks of a run's plan against this machine, made before anything starts: a run
//! that cannot have what it asks for is refused with the numbers and the fix (exit 2),
//! instead of quietly running with less.

use crate::fmt::group;

/// Descriptors a run needs beside its connections: per worker thread its reactor's
/// epoll, waker and timer descriptors (3, rounded up to 4), and a fixed slack for the
/// process itself (stdio, the embedded server's listener and poller, `/proc` reads).
const PER_THREAD_FDS: u64 = 4;
const SLACK_FDS: u64 = 32;

/// The descriptors `connections` clients need on `threads` workers: one each, two when
/// the embedded server runs in this process (it holds the other end of every one).
pub(crate) fn fds_needed(connections: usize, threads: usize, embedded: bool) -> u64 {
    let per_conn = if embedded { 2 } else { 1 };
    (connections as u64)
        .saturating_mul(per_conn)
        .saturating_add((threads as u64).saturating_mul(PER_THREAD_FDS))
        .saturating_add(SLACK_FDS)
}

/// The descriptor limit as this process has it: free room, soft and hard limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdRoom {
    /// Descriptors free below the soft limit now.
    pub free: u64,
    /// RLIMIT_NOFILE, soft (already raised to the hard limit).
    pub soft: u64,
    /// RLIMIT_NOFILE, hard.
    pub hard: u64,
}

/// Refuse `connections` when they cannot all have a descriptor: the message names the
/// need, the room, and what to do about it.
///
/// ```
/// use loadgen::fd_room::{check_fds, FdRoom};
/// let room = FdRoom { free: 19_995, soft: 20_000, hard: 20_000 };
/// assert!(check_fds(10_000, 2, false, room).is_ok());
/// let e = check_fds(30_000, 2, false, room).unwrap_err();
/// assert!(e.contains("30,040 descriptors") && e.contains("19,995"), "{e}");
/// // With the embedded server in this process, each connection costs two.
/// assert!(check_fds(12_000, 1, true, room).is_err());
/// ```
pub fn check_fds(
    connections: usize,
    threads: usize,
    embedded: bool,
    room: FdRoom,
) -> Result<(), String> {
    let need = fds_needed(connections, threads, embedded);
    if need <= room.free {
        return Ok(());
    }
    let fit = max_connections(threads, embedded, room.free);
    let why = if embedded {
        " (the embedded server runs in this process: 2 per connection)"
    } else {
        ""
    };
    let raise = if room.soft < room.hard {
        format!("raise the soft limit (ulimit -n {})", room.hard)
    } else {
        format!(
            "raise the hard limit (now {}: limits.conf, systemd LimitNOFILE, or `ulimit -Hn` as root)",
            group(room.hard)
        )
    };
    let split = if embedded {
        ", or run the server as its own process (`readyloop`) and give loadgen its address"
    } else {
        ", or split the load over several loadgen processes"
    };
    Err(format!(
        "-c {} needs {} descriptors{why}, but only {} are free under RLIMIT_NOFILE {} \
         (see `loadgen limits`): use -c {} or fewer, {raise}{split}",
        group(connections as u64),
        group(need),
        group(room.free),
        group(room.soft),
        group(fit as u64),
    ))
}

/// The most connections that fit in `free` descriptors.
fn max_connections(threads: usize, embedded: bool, free: u64) -> usize {
    let fixed = fds_needed(0, threads, embedded);
    let per = if embedded { 2 } else { 1 };
    (free.saturating_sub(fixed) / per) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOM: FdRoom = FdRoom {
        free: 19_995,
        soft: 20_000,
        hard: 20_000,
    };

    #[test]
    fn test_fits_and_refuses_with_the_numbers() {
        assert!(check_fds(19_900, 2, false, ROOM).is_ok());
        let e = check_fds(30_000, 2, false, ROOM).unwrap_err();
        assert!(e.contains("-c 30,000 needs 30,040 descriptors"), "{e}");
        assert!(e.contains("use -c 19,955 or fewer"), "{e}");
        assert!(e.contains("raise the hard limit"), "{e}");
        // What it offers fits exactly.
        assert!(check_fds(19_955, 2, false, ROOM).is_ok());
        assert!(check_fds(19_956, 2, false, ROOM).is_err());
    }

    #[test]
    fn test_embedded_server_counts_twice() {
        let e = check_fds(12_000, 1, true, ROOM).unwrap_err();
        assert!(e.contains("2 per connection"), "{e}");
        assert!(e.contains("use -c 9,979 or fewer"), "{e}");
        assert!(check_fds(9_979, 1, true, ROOM).is_ok());
    }

    #[test]
    fn test_soft_below_hard_says_ulimit() {
        let room = FdRoom {
            free: 1000,
            soft: 1024,
            hard: 65_536,
        };
        let e = check_fds(5000, 1, false, room).unwrap_err();
        assert!(e.contains("ulimit -n 65536"), "{e}");
    }
}
