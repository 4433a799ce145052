//! This process's own memory, read as the probe holds connections: the client side of
//! memory per held connection. Below both the ramp (which reads it) and the rest of the
//! probe's observations, so neither imports the other.

/// This process's anonymous resident memory (`RssAnon` of `/proc/self/status`: heap and
/// stacks, not the binary's pages, which fault in as code runs for the first time),
/// read through a file opened once: at its own descriptor limit the probe can still
/// read it, with no descriptor to spare.
#[derive(Debug)]
pub(crate) struct OwnMemory(Option<std::fs::File>);

impl OwnMemory {
    /// Open `/proc/self/status` (`None` inside where there is no procfs: then every
    /// reading is `None`).
    pub fn open() -> OwnMemory {
        OwnMemory(std::fs::File::open("/proc/self/status").ok())
    }

    /// `RssAnon` now, bytes.
    pub fn anon_bytes(&self) -> Option<u64> {
        use std::os::unix::fs::FileExt;
        let f = self.0.as_ref()?;
        // procfs makes the text anew on a read from offset 0; it is a few KiB.
        let mut buf = [0u8; 8192];
        let n = f.read_at(&mut buf, 0).ok()?;
        rss_anon(&String::from_utf8_lossy(&buf[..n]))
    }
}

/// `RssAnon:   1234 kB` of a `/proc/PID/status` text, in bytes.
fn rss_anon(status: &str) -> Option<u64> {
    let v = status.lines().find_map(|l| l.strip_prefix("RssAnon:"))?;
    let mut it = v.split_whitespace();
    let kb: u64 = it.next()?.parse().ok()?;
    match it.next() {
        Some("kB") => kb.checked_mul(1024),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_rss_anon_is_read_in_bytes() {
        let text =
            "Name:\tloadgen\nVmRSS:\t    9000 kB\nRssAnon:\t    2048 kB\nRssFile:\t 100 kB\n";
        assert_eq!(rss_anon(text), Some(2048 * 1024));
        assert_eq!(rss_anon("VmRSS: 1 kB\n"), None);
        assert_eq!(rss_anon("RssAnon: 12 pages\n"), None);
    }

    #[test]
    fn test_own_memory_is_read_again_through_one_file() {
        let m = OwnMemory::open();
        if m.0.is_none() {
            eprintln!("skipping: no /proc/self/status here");
            return;
        }
        // 128 MiB touched: the second reading through the same file sees it. Other
        // tests of this binary allocate and free at the same time (CI once saw the
        // process's RssAnon fall by 12 MiB across the allocation), so one of three
        // tries must see it, each by at least 64 MiB.
        let mut seen = Vec::new();
        for _ in 0..3 {
            let before = m.anon_bytes().expect("RssAnon");
            assert!(before > 0);
            let big = vec![1u8; 128 << 20];
            std::hint::black_box(&big);
            let after = m.anon_bytes().expect("RssAnon");
            drop(big);
            if after >= before + (64 << 20) {
                return;
            }
            seen.push((before, after));
        }
        panic!("RssAnon never rose by 64 MiB across a 128 MiB allocation: {seen:?}");
    }
}
