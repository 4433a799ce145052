//! The machine a run ran on ([`Machine`]), for the HTML report: the facts that change
//! what a load test can measure (kernel, cores, descriptors, ports), read cheaply from
//! `/proc` and `getrlimit`.
//!
//! Parsers take a file's text so they are tested on literal samples; [`Machine::read`]
//! only reads. A fact that cannot be read is `None`, never guessed.

use nix::sys::resource::{getrlimit, Resource};

/// Facts about this machine, read when the report is written (after the run, so the
/// descriptor limit is the one loadgen ran with: it raises its soft limit to the hard).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Machine {
    /// The kernel: `/proc/sys/kernel/ostype` and `osrelease` (`Linux 6.1.0-18-amd64`).
    pub kernel: Option<String>,
    /// The CPU architecture loadgen was built for (`x86_64`).
    pub arch: String,
    /// Cores this process may run on (`available_parallelism`: affinity and cgroup
    /// quotas included).
    pub cores: Option<usize>,
    /// The CPU's model name, from `/proc/cpuinfo`.
    pub cpu_model: Option<String>,
    /// `MemTotal` from `/proc/meminfo`, in KiB.
    pub mem_total_kib: Option<u64>,
    /// RLIMIT_NOFILE (soft, hard) of this process.
    pub nofile: Option<(u64, u64)>,
    /// `net.ipv4.ip_local_port_range` (low, high).
    pub port_range: Option<(u16, u16)>,
    /// `net.core.somaxconn`, the cap on every listen backlog.
    pub somaxconn: Option<u64>,
    /// `net.ipv4.tcp_tw_reuse` (0 off, 1 on, 2 loopback only).
    pub tcp_tw_reuse: Option<u64>,
}

impl Machine {
    /// Read every fact now.
    ///
    /// ```
    /// let m = loadgen::report::Machine::read();
    /// assert!(!m.arch.is_empty());
    /// assert!(m.rows().iter().any(|(name, _)| *name == "kernel"));
    /// ```
    pub fn read() -> Machine {
        let sysctl = readyloop::limits::sysctl;
        let read = |p: &str| std::fs::read_to_string(p).ok();
        let kernel = match (sysctl("kernel/ostype"), sysctl("kernel/osrelease")) {
            (Some(t), Some(r)) => Some(format!("{t} {r}")),
            (None, Some(r)) => Some(r),
            _ => None,
        };
        Machine {
            kernel,
            arch: std::env::consts::ARCH.to_string(),
            cores: std::thread::available_parallelism().ok().map(|n| n.get()),
            cpu_model: read("/proc/cpuinfo").as_deref().and_then(parse_cpu_model),
            mem_total_kib: read("/proc/meminfo")
                .as_deref()
                .and_then(parse_mem_total_kib),
            nofile: getrlimit(Resource::RLIMIT_NOFILE).ok(),
            port_range: sysctl("net/ipv4/ip_local_port_range")
                .as_deref()
                .and_then(parse_port_range),
            somaxconn: sysctl("net/core/somaxconn").and_then(|v| v.parse().ok()),
            tcp_tw_reuse: sysctl("net/ipv4/tcp_tw_reuse").and_then(|v| v.parse().ok()),
        }
    }

    /// The facts as (name, value) rows, in the order the report shows them; unknown
    /// values read `unknown`.
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        let or = |v: Option<String>| v.unwrap_or_else(|| "unknown".to_string());
        vec![
            ("kernel", or(self.kernel.clone())),
            ("architecture", self.arch.clone()),
            ("cores", or(self.cores.map(|n| n.to_string()))),
            ("CPU", or(self.cpu_model.clone())),
            (
                "memory",
                or(self
                    .mem_total_kib
                    .map(|k| format!("{:.1} GiB", k as f64 / (1024.0 * 1024.0)))),
            ),
            (
                "RLIMIT_NOFILE (soft / hard)",
                or(self.nofile.map(|(s, h)| format!("{s} / {h}"))),
            ),
            (
                "ip_local_port_range",
                or(self.port_range.map(|(lo, hi)| {
                    let ports = u64::from(hi.saturating_sub(lo)) + 1;
                    format!("{lo}-{hi} ({})", crate::fmt::plural(ports, "port", "ports"))
                })),
            ),
            ("somaxconn", or(self.somaxconn.map(|v| v.to_string()))),
            ("tcp_tw_reuse", or(self.tcp_tw_reuse.map(|v| v.to_string()))),
        ]
    }
}

/// The first `model name` of `/proc/cpuinfo` (x86), else its `Model` or `Hardware` line
/// (some ARM kernels name the board there).
fn parse_cpu_model(text: &str) -> Option<String> {
    let field = |key: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key && !v.trim().is_empty()).then(|| v.trim().to_string())
        })
    };
    field("model name")
        .or_else(|| field("Model"))
        .or_else(|| field("Hardware"))
}

/// `MemTotal:  16318712 kB` of `/proc/meminfo`, in KiB.
fn parse_mem_total_kib(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `32768\t60999` (`ip_local_port_range`) as (low, high).
fn parse_port_range(text: &str) -> Option<(u16, u16)> {
    let mut it = text.split_whitespace().map(str::parse::<u16>);
    let (lo, hi) = (it.next()?.ok()?, it.next()?.ok()?);
    (it.next().is_none() && lo <= hi).then_some((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_parse_cpu_model() {
        let x86 = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\nmodel name\t: other\n";
        assert_eq!(
            parse_cpu_model(x86).as_deref(),
            Some("Intel(R) Xeon(R) CPU @ 2.20GHz")
        );
        let arm =
            "processor\t: 0\nBogoMIPS\t: 108.00\n\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n";
        assert_eq!(
            parse_cpu_model(arm).as_deref(),
            Some("Raspberry Pi 4 Model B Rev 1.4")
        );
        assert_eq!(parse_cpu_model("processor : 0\nmodel name :   \n"), None);
    }

    #[test]
    fn test_parse_mem_total_and_port_range() {
        let meminfo = "MemTotal:       16318712 kB\nMemFree:         1234 kB\n";
        assert_eq!(parse_mem_total_kib(meminfo), Some(16_318_712));
        assert_eq!(parse_mem_total_kib("MemFree: 1 kB\n"), None);
        assert_eq!(parse_port_range("32768\t60999\n"), Some((32768, 60999)));
        assert_eq!(parse_port_range("60999 32768"), None);
        assert_eq!(parse_port_range("1 2 3"), None);
        assert_eq!(parse_port_range("x 2"), None);
    }

    #[test]
    fn test_rows_name_every_fact_and_say_unknown() {
        let m = Machine {
            kernel: Some("Linux 6.1.0".into()),
            arch: "x86_64".into(),
            cores: Some(2),
            cpu_model: None,
            mem_total_kib: Some(2 * 1024 * 1024),
            nofile: Some((1024, 524_288)),
            port_range: Some((32768, 60999)),
            somaxconn: Some(4096),
            tcp_tw_reuse: None,
        };
        let rows = m.rows();
        let get = |name: &str| {
            rows.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
                .unwrap_or_else(|| panic!("no row {name}"))
        };
        assert_eq!(get("kernel"), "Linux 6.1.0");
        assert_eq!(get("cores"), "2");
        assert_eq!(get("CPU"), "unknown");
        assert_eq!(get("memory"), "2.0 GiB");
        assert_eq!(get("RLIMIT_NOFILE (soft / hard)"), "1024 / 524288");
        assert_eq!(get("ip_local_port_range"), "32768-60999 (28,232 ports)");
        assert_eq!(get("tcp_tw_reuse"), "unknown");
    }

    #[test]
    fn test_read_on_linux_finds_the_kernel_and_limits() {
        // This crate runs on Linux only (mio, /proc): these facts are always there.
        let m = Machine::read();
        assert!(
            m.kernel.as_deref().is_some_and(|k| k.starts_with("Linux ")),
            "{m:?}"
        );
        assert!(m.cores.is_some_and(|n| n >= 1));
        let (soft, hard) = m.nofile.expect("getrlimit");
        assert!(soft <= hard);
    }
}
