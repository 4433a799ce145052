//! What caps connections here: the descriptor limit of this process, read and raised,
//! and every other limit on TCP connections and UDP sockets, read and explained
//! ([`Report`]); the kernel's UDP drop counters, system-wide and per socket ([`udp`]).
//!
//! Shared by the server's start-up line and stats, and loadgen (`loadgen limits`). Parsers
//! take the text of a file (`parse_*`) so they are tested on literal samples; readers only
//! read. Values that cannot be read are `None`, never guessed.

use nix::sys::resource::{getrlimit, setrlimit, Resource};

pub mod udp;
pub use udp::{
    parse_proc_net_udp, parse_snmp6_udp, parse_snmp_udp, socket_inode, udp6_counters, udp_counters,
    udp_socket_drops, udp_socket_drops_by_inode, udp_sockets, UdpCounters, UdpSocketRow,
};

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

/// Read one `/proc/sys` value as an unsigned number (`None` if unreadable or not one).
fn sysctl_u64(path: &str) -> Option<u64> {
    sysctl(path)?.parse().ok()
}

/// `/proc/net/sockstat`: the socket counts of this network namespace, read now.
///
/// Only the `sockets:`, `TCP:` and `UDP:` lines are kept. `tcp_inuse` and `udp_inuse`
/// count IPv4 sockets only (IPv6 ones are in `/proc/net/sockstat6`); `tcp_orphan`,
/// `tcp_tw`, `tcp_alloc`, `tcp_mem_pages` and `udp_mem_pages` cover both families,
/// because the kernel keeps one counter for them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Sockstat {
    /// `sockets: used`: sockets of every family in use.
    pub sockets_used: Option<u64>,
    /// `TCP: inuse`: IPv4 TCP sockets in use (listening and connected).
    pub tcp_inuse: Option<u64>,
    /// `TCP: orphan`: closed by their process, still finishing in the kernel.
    pub tcp_orphan: Option<u64>,
    /// `TCP: tw`: connections in TIME_WAIT.
    pub tcp_tw: Option<u64>,
    /// `TCP: alloc`: TCP sockets allocated (including those not yet or no longer in use).
    pub tcp_alloc: Option<u64>,
    /// `TCP: mem`: pages of TCP buffer memory in use, the figure `net.ipv4.tcp_mem` caps.
    pub tcp_mem_pages: Option<u64>,
    /// `UDP: inuse`: IPv4 UDP sockets in use.
    pub udp_inuse: Option<u64>,
    /// `UDP: mem`: pages of UDP buffer memory in use, the figure `net.ipv4.udp_mem` caps.
    pub udp_mem_pages: Option<u64>,
}

/// Parse the text of `/proc/net/sockstat`. Fields missing or not numbers stay `None`.
pub fn parse_sockstat(text: &str) -> Sockstat {
    let mut s = Sockstat::default();
    for line in text.lines() {
        let Some((prefix, rest)) = line.split_once(':') else {
            continue;
        };
        // The rest of a line is `key value` pairs: "inuse 103 orphan 0 tw 100 ...".
        let words: Vec<&str> = rest.split_whitespace().collect();
        let get = |key: &str| {
            words
                .chunks(2)
                .find(|pair| pair[0] == key)
                .and_then(|pair| pair.get(1)?.parse::<u64>().ok())
        };
        match prefix.trim() {
            "sockets" => s.sockets_used = get("used"),
            "TCP" => {
                s.tcp_inuse = get("inuse");
                s.tcp_orphan = get("orphan");
                s.tcp_tw = get("tw");
                s.tcp_alloc = get("alloc");
                s.tcp_mem_pages = get("mem");
            }
            "UDP" => {
                s.udp_inuse = get("inuse");
                s.udp_mem_pages = get("mem");
            }
            _ => {}
        }
    }
    s
}

/// Read `/proc/net/sockstat` (the counts of this process's network namespace).
pub fn sockstat() -> Option<Sockstat> {
    std::fs::read_to_string("/proc/net/sockstat")
        .ok()
        .map(|t| parse_sockstat(&t))
}

/// `net.ipv4.ip_local_port_range`: two numbers, low and high ("32768\t60999").
fn parse_port_range(text: &str) -> Option<(u16, u16)> {
    let mut it = text.split_whitespace().map(|w| w.parse::<u16>().ok());
    match (it.next()??, it.next()??, it.next()) {
        (lo, hi, None) => Some((lo, hi)),
        _ => None,
    }
}

/// `net.ipv4.tcp_mem` or `udp_mem`: exactly three numbers of pages (min, pressure, max).
fn parse_mem_pages(text: &str) -> Option<[u64; 3]> {
    let v: Vec<u64> = text
        .split_whitespace()
        .map(|w| w.parse().ok())
        .collect::<Option<_>>()?;
    v.try_into().ok()
}

/// `fs.file-nr`: "allocated  free(always 0 since 2.6)  max"; the first is files open now.
fn parse_file_nr(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

/// `MemAvailable` of `/proc/meminfo`, in bytes. The kernel writes it in kB (KiB); any
/// other unit is not understood and gives `None`.
fn parse_mem_available(text: &str) -> Option<u64> {
    let line = text.lines().find_map(|l| l.strip_prefix("MemAvailable:"))?;
    let mut words = line.split_whitespace();
    let n: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => n.checked_mul(1024),
        _ => None,
    }
}

/// The page size, for `tcp_mem`, `udp_mem` and `sockstat` which count pages. 0 if sysconf fails,
/// which it cannot for `_SC_PAGESIZE` on Linux (the value comes from the ELF auxv).
fn page_size() -> u64 {
    // SAFETY: sysconf reads a configuration value; it has no memory arguments.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(n).unwrap_or(0)
}

/// Everything that caps connections and UDP sockets here, read now.
///
/// Each field is one source read once; `None` means it could not be read (no `/proc`,
/// a sysctl hidden in this container, an unparsable value), never a default.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    /// Soft RLIMIT_NOFILE now, after raising it to the hard limit when allowed.
    pub nofile_soft: u64,
    /// Hard RLIMIT_NOFILE.
    pub nofile_hard: u64,
    /// Soft RLIMIT_NOFILE found before raising it.
    pub nofile_soft_before: u64,
    /// Descriptors numbered below the soft limit that are open now ([`open_fds_below`]).
    pub open_fds: Option<u64>,
    /// `fs.nr_open`: the largest hard RLIMIT_NOFILE a process can be given.
    pub nr_open: Option<u64>,
    /// `fs.file-max`: open files system-wide (ENFILE beyond it).
    pub file_max: Option<u64>,
    /// First field of `fs.file-nr`: files open system-wide now.
    pub files_in_use: Option<u64>,
    /// `net.ipv4.ip_local_port_range`: the ephemeral ports, low and high, inclusive.
    pub port_range: Option<(u16, u16)>,
    /// `net.core.somaxconn`: the cap on a `listen()` backlog.
    pub somaxconn: Option<u64>,
    /// `net.ipv4.tcp_max_syn_backlog`.
    pub tcp_max_syn_backlog: Option<u64>,
    /// `net.ipv4.tcp_tw_reuse`: 0 off, 1 on, 2 loopback only.
    pub tcp_tw_reuse: Option<u64>,
    /// `net.ipv4.tcp_tw_reuse_delay` (ms, kernels from 6.8): how long a TIME_WAIT port
    /// waits before `tcp_tw_reuse` lets connect() take it again. `None` where the
    /// kernel has no such setting (the delay is then 1 s, fixed).
    pub tcp_tw_reuse_delay_ms: Option<u64>,
    /// `net.ipv4.tcp_fin_timeout`, seconds (FIN-WAIT-2, not TIME_WAIT).
    pub tcp_fin_timeout: Option<u64>,
    /// `net.ipv4.tcp_max_tw_buckets`: TIME_WAIT sockets kept at most.
    pub tcp_max_tw_buckets: Option<u64>,
    /// `net.ipv4.tcp_mem`: min, pressure, max, in pages.
    pub tcp_mem: Option<[u64; 3]>,
    /// `/proc/net/sockstat`: TIME_WAIT count is `tcp_tw`, TCP memory in use `tcp_mem_pages`.
    pub sockstat: Option<Sockstat>,
    /// `sysconf(_SC_PAGESIZE)` in bytes (0 if it could not be read; it cannot fail on Linux).
    pub page_size: u64,
    /// `MemAvailable` of `/proc/meminfo`, bytes.
    pub mem_available: Option<u64>,
    /// `net.core.rmem_default`: the receive buffer of a socket that does not set
    /// SO_RCVBUF, bytes.
    pub rmem_default: Option<u64>,
    /// `net.core.rmem_max`: the largest SO_RCVBUF a program may set, bytes.
    pub rmem_max: Option<u64>,
    /// `net.core.wmem_default`: the send buffer of a socket that does not set SO_SNDBUF,
    /// bytes.
    pub wmem_default: Option<u64>,
    /// `net.core.wmem_max`: the largest SO_SNDBUF a program may set, bytes.
    pub wmem_max: Option<u64>,
    /// `net.ipv4.udp_mem`: min, pressure, max, in pages (IPv4 and IPv6 together).
    pub udp_mem: Option<[u64; 3]>,
    /// `net.ipv4.udp_rmem_min`: receive buffer a UDP socket keeps under memory
    /// pressure, bytes.
    pub udp_rmem_min: Option<u64>,
    /// `net.ipv4.udp_wmem_min`: send buffer a UDP socket keeps under memory pressure,
    /// bytes.
    pub udp_wmem_min: Option<u64>,
    /// The IPv4 UDP counters, `/proc/net/snmp` ([`udp_counters`]).
    pub udp: Option<UdpCounters>,
    /// The IPv6 UDP counters, `/proc/net/snmp6` ([`udp6_counters`]).
    pub udp6: Option<UdpCounters>,
}

/// One limit, named and explained: a row of the text report and of the JSON `entries`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Entry {
    /// The limit's name, e.g. `"RLIMIT_NOFILE (soft)"`, `"fs.nr_open"`.
    pub name: &'static str,
    /// The value read, for machines: numbers as numbers (see [`Amount`]).
    pub value: Amount,
    /// The unit of `value` when it is not a plain count: `"ms"`, `"s"`, `"pages"`,
    /// `"bytes"`.
    pub unit: Option<&'static str>,
    /// The value as the table shows it, with what explains it (`"32768-60999 (28232
    /// ports)"`); `None` = unknown.
    pub text: Option<String>,
    /// Where it was read, e.g. `"/proc/sys/fs/nr_open"`.
    pub source: &'static str,
    /// What it limits.
    pub caps: &'static str,
    /// How to raise it, with concrete commands.
    pub raise: String,
}

/// An [`Entry`]'s value for machines: in JSON a number, an array of numbers, a string
/// only where the value is not a number, or `null` when it could not be read.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum Amount {
    /// Could not be read: `null`.
    Unknown,
    /// One number.
    Number(u64),
    /// Several: a range's ends `[lo, hi]`, `tcp_mem`'s `[min, pressure, max]`.
    Numbers(Vec<u64>),
    /// Not a number: `"unlimited"` (RLIM_INFINITY).
    Word(&'static str),
}

impl Amount {
    /// `Number(n)`, or `Unknown` for `None`.
    fn of(n: Option<u64>) -> Amount {
        n.map_or(Amount::Unknown, Amount::Number)
    }

    /// An rlimit: `Word("unlimited")` for RLIM_INFINITY, else its number.
    fn rlimit(v: u64) -> Amount {
        if v == libc::RLIM_INFINITY {
            Amount::Word("unlimited")
        } else {
            Amount::Number(v)
        }
    }
}

/// The kernel's default `fs.nr_open` (1024 * 1024): the usual ceiling for a hard limit.
const DEFAULT_NR_OPEN: u64 = 1 << 20;

impl Report {
    /// Raise RLIMIT_NOFILE soft to hard ([`raise_nofile`]) and read everything.
    ///
    /// `getrlimit(RLIMIT_NOFILE)` fails only for a bad pointer or resource, which cannot
    /// happen; were it to fail anyway, the three `nofile_*` fields are 0.
    pub fn read() -> Report {
        let nofile = raise_nofile().unwrap_or(NofileLimit {
            soft_before: 0,
            soft: 0,
            hard: 0,
        });
        Report {
            nofile_soft: nofile.soft,
            nofile_hard: nofile.hard,
            nofile_soft_before: nofile.soft_before,
            open_fds: open_fds_below(nofile.soft),
            nr_open: sysctl_u64("fs/nr_open"),
            file_max: sysctl_u64("fs/file-max"),
            files_in_use: sysctl("fs/file-nr").as_deref().and_then(parse_file_nr),
            port_range: sysctl("net/ipv4/ip_local_port_range")
                .as_deref()
                .and_then(parse_port_range),
            somaxconn: sysctl_u64("net/core/somaxconn"),
            tcp_max_syn_backlog: sysctl_u64("net/ipv4/tcp_max_syn_backlog"),
            tcp_tw_reuse: sysctl_u64("net/ipv4/tcp_tw_reuse"),
            tcp_tw_reuse_delay_ms: sysctl_u64("net/ipv4/tcp_tw_reuse_delay"),
            tcp_fin_timeout: sysctl_u64("net/ipv4/tcp_fin_timeout"),
            tcp_max_tw_buckets: sysctl_u64("net/ipv4/tcp_max_tw_buckets"),
            tcp_mem: sysctl("net/ipv4/tcp_mem")
                .as_deref()
                .and_then(parse_mem_pages),
            sockstat: sockstat(),
            page_size: page_size(),
            mem_available: std::fs::read_to_string("/proc/meminfo")
                .ok()
                .as_deref()
                .and_then(parse_mem_available),
            rmem_default: sysctl_u64("net/core/rmem_default"),
            rmem_max: sysctl_u64("net/core/rmem_max"),
            wmem_default: sysctl_u64("net/core/wmem_default"),
            wmem_max: sysctl_u64("net/core/wmem_max"),
            udp_mem: sysctl("net/ipv4/udp_mem")
                .as_deref()
                .and_then(parse_mem_pages),
            udp_rmem_min: sysctl_u64("net/ipv4/udp_rmem_min"),
            udp_wmem_min: sysctl_u64("net/ipv4/udp_wmem_min"),
            udp: udp_counters(),
            udp6: udp6_counters(),
        }
    }

    /// Ports in the ephemeral range (hi - lo + 1); `None` if unknown or inverted.
    pub fn ports(&self) -> Option<u64> {
        let (lo, hi) = self.port_range?;
        Some(u64::from(hi.checked_sub(lo)?) + 1)
    }

    /// Descriptor room for new connections: soft limit - open descriptors below it.
    pub fn fd_room(&self) -> Option<u64> {
        Some(self.nofile_soft.saturating_sub(self.open_fds?))
    }

    /// Bytes of `pages` pages; `None` when the page size is unknown (0).
    fn pages_to_bytes(&self, pages: u64) -> Option<u64> {
        (self.page_size > 0).then(|| pages.saturating_mul(self.page_size))
    }

    /// One row per limit, for the text report and JSON, in the order a connection
    /// meets them: this process's descriptors, the system's files, ports, the listen
    /// queues, TIME_WAIT, memory (one function per family below); then UDP: socket
    /// buffers, UDP memory and the kernel's UDP drop counters.
    pub fn entries(&self) -> Vec<Entry> {
        let mut rows = Vec::with_capacity(32);
        rows.extend(self.descriptor_entries());
        rows.push(self.file_max_entry());
        rows.push(self.port_range_entry());
        rows.extend(self.listen_queue_entries());
        rows.extend(self.time_wait_entries());
        rows.extend(self.memory_entries());
        rows.extend(self.udp_entries());
        rows
    }

    /// This process's descriptors: the soft and hard RLIMIT_NOFILE, those open, and
    /// `fs.nr_open`, the ceiling of the hard limit.
    fn descriptor_entries(&self) -> [Entry; 4] {
        let soft = self.nofile_soft;
        let hard = self.nofile_hard;
        // A hard-limit target the kernel would accept: fs.nr_open when it is above the
        // current hard limit, else fs.nr_open itself must go up first.
        let (hard_target, hard_note) = match self.nr_open {
            Some(n) if n > hard => (n, ""),
            Some(_) => (hard.saturating_mul(2), ", after raising fs.nr_open"),
            None => (DEFAULT_NR_OPEN.max(hard.saturating_mul(2)), ""),
        };
        [
            Entry {
                name: "RLIMIT_NOFILE (soft)",
                value: Amount::rlimit(soft),
                unit: None,
                text: Some(if self.nofile_soft_before == soft {
                    rlim(soft)
                } else {
                    format!(
                        "{} (raised from {})",
                        rlim(soft),
                        rlim(self.nofile_soft_before)
                    )
                }),
                source: "getrlimit(RLIMIT_NOFILE)",
                caps: "descriptors of this process: each connection is one (EMFILE); it caps \
                       descriptor numbers, so connections fit below it",
                raise: if soft < hard {
                    format!(
                        "ulimit -n {} (soft up to hard, no privilege needed; readyloop and \
                         loadgen do this at start)",
                        rlim(hard)
                    )
                } else {
                    format!(
                        "already at the hard limit ({}): raise the hard limit",
                        rlim(hard)
                    )
                },
            },
            Entry {
                name: "RLIMIT_NOFILE (hard)",
                value: Amount::rlimit(hard),
                unit: None,
                text: Some(rlim(hard)),
                source: "getrlimit(RLIMIT_NOFILE)",
                caps: "the ceiling of the soft limit; it can never exceed fs.nr_open",
                raise: format!(
                    "needs privilege (CAP_SYS_RESOURCE; root in a container may lack it): as \
                     root `ulimit -Hn {hard_target}`{hard_note}; systemd services: \
                     LimitNOFILE={hard_target}; login sessions: `* hard nofile {hard_target}` \
                     in /etc/security/limits.conf"
                ),
            },
            Entry {
                name: "open descriptors (this process)",
                value: Amount::of(self.open_fds),
                unit: None,
                text: self.open_fds.map(|n| match self.fd_room() {
                    Some(room) => format!("{n} ({room} left for connections)"),
                    None => n.to_string(),
                }),
                source: "/proc/self/fd (numbers below the soft limit)",
                caps: "descriptors already taken: room for connections = soft limit - these",
                raise: "close descriptors the parent left open, or raise the soft limit".into(),
            },
            Entry {
                name: "fs.nr_open",
                value: Amount::of(self.nr_open),
                unit: None,
                text: self.nr_open.map(|n| n.to_string()),
                source: "/proc/sys/fs/nr_open",
                caps: "the largest hard RLIMIT_NOFILE any process can be given (EPERM above \
                       it, even for root); kernel default 1048576",
                raise: format!(
                    "sysctl -w fs.nr_open={}",
                    self.nr_open
                        .map_or(2 * DEFAULT_NR_OPEN, |n| n.saturating_mul(2))
                ),
            },
        ]
    }

    /// The system's files: `fs.file-max`, every process together.
    fn file_max_entry(&self) -> Entry {
        Entry {
            name: "fs.file-max",
            value: Amount::of(self.file_max),
            unit: None,
            text: self.file_max.map(|m| match self.files_in_use {
                Some(u) => format!("{m} ({u} open now)"),
                None => m.to_string(),
            }),
            source: "/proc/sys/fs/file-max, /proc/sys/fs/file-nr",
            caps: "open files in the whole system, every process together (ENFILE when \
                   reached; processes with CAP_SYS_ADMIN may go beyond it)",
            raise: match self.file_max {
                Some(m) => format!("sysctl -w fs.file-max={}", m.saturating_mul(2)),
                None => "sysctl -w fs.file-max=N".into(),
            },
        }
    }

    /// Ports: the ephemeral range outgoing connections take their source port from.
    fn port_range_entry(&self) -> Entry {
        let ports = self.ports();
        Entry {
            name: "net.ipv4.ip_local_port_range",
            value: self.port_range.map_or(Amount::Unknown, |(lo, hi)| {
                Amount::Numbers(vec![lo.into(), hi.into()])
            }),
            unit: None,
            text: self.port_range.map(|(lo, hi)| match ports {
                Some(p) => format!("{lo}-{hi} ({p} ports)"),
                None => format!("{lo}-{hi} (inverted: no ports)"),
            }),
            source: "/proc/sys/net/ipv4/ip_local_port_range",
            caps: "ephemeral source ports of outgoing connections (default 32768-60999: \
                   28,232 ports). A TCP connection is identified by its 4-tuple (source \
                   address, source port, destination address, destination port), so the \
                   ports run out per (source address, destination address, destination \
                   port): connect() then fails with EADDRNOTAVAIL. A listening port is not \
                   capped by this: it holds one connection per distinct peer address and \
                   port, far more connections than there are ports",
            raise: match self.port_range {
                Some((lo, hi)) if lo <= 1024 && hi == u16::MAX => {
                    "the range is already as wide as 16-bit port numbers allow: add source \
                     addresses (loadgen probe --source 127.0.0.1-127.0.0.8), or more \
                     destination ports"
                        .into()
                }
                _ => "sysctl -w net.ipv4.ip_local_port_range='1024 65535' (64,512 ports; a \
                      port number has 16 bits), or add source addresses (loadgen probe \
                      --source 127.0.0.1-127.0.0.8), or more destination ports"
                    .into(),
            },
        }
    }

    /// The listen queues: connections the kernel completed that wait to be accepted, and
    /// half-open ones.
    fn listen_queue_entries(&self) -> [Entry; 2] {
        [
            Entry {
                name: "net.core.somaxconn",
                value: Amount::of(self.somaxconn),
                unit: None,
                text: self.somaxconn.map(|n| n.to_string()),
                source: "/proc/sys/net/core/somaxconn",
                caps: "the largest listen() backlog: connections completed by the kernel but \
                       not yet accepted. When a listener's backlog is full, SYNs are dropped and \
                       connects retry, then time out; it caps bursts of new connections, not \
                       how many are held",
                raise: "sysctl -w net.core.somaxconn=65535, and pass a backlog that large to \
                        listen() (readyloop --backlog 65535)"
                    .into(),
            },
            Entry {
                name: "net.ipv4.tcp_max_syn_backlog",
                value: Amount::of(self.tcp_max_syn_backlog),
                unit: None,
                text: self.tcp_max_syn_backlog.map(|n| n.to_string()),
                source: "/proc/sys/net/ipv4/tcp_max_syn_backlog",
                caps: "half-open connections (SYN received, handshake not finished): with \
                       net.ipv4.tcp_syncookies=0, a listener drops SYNs from unknown peers once \
                       its SYN queue passes 3/4 of this; the SYN queue is also capped by the \
                       listen backlog, and with syncookies on (the default) overflow is \
                       answered with cookies instead",
                raise: "sysctl -w net.ipv4.tcp_max_syn_backlog=65535".into(),
            },
        ]
    }

    /// TIME_WAIT: reusing ports in it, how soon, FIN-WAIT-2 (often mistaken for it), and
    /// how many sockets it may hold.
    fn time_wait_entries(&self) -> [Entry; 4] {
        let tw_now = self.sockstat.and_then(|s| s.tcp_tw);
        [
            Entry {
                name: "net.ipv4.tcp_tw_reuse",
                value: Amount::of(self.tcp_tw_reuse),
                unit: None,
                text: self.tcp_tw_reuse.map(|n| {
                    let meaning = match n {
                        0 => "off",
                        1 => "on",
                        2 => "loopback only",
                        _ => "not a known setting",
                    };
                    format!("{n} ({meaning})")
                }),
                source: "/proc/sys/net/ipv4/tcp_tw_reuse",
                caps: "whether connect() may reuse a source port whose previous connection to \
                       the same destination is still in TIME_WAIT (0 off, 1 on, 2 loopback \
                       only: the default); without it, a port whose connection this side closed \
                       first stays unusable toward that destination for 60 s (TIME_WAIT)",
                raise: "sysctl -w net.ipv4.tcp_tw_reuse=1 (client side; needs TCP timestamps, \
                        on by default)"
                    .into(),
            },
            Entry {
                name: "net.ipv4.tcp_tw_reuse_delay",
                value: Amount::of(self.tcp_tw_reuse_delay_ms),
                unit: Some("ms"),
                text: self.tcp_tw_reuse_delay_ms.map(|ms| format!("{ms} ms")),
                source: "/proc/sys/net/ipv4/tcp_tw_reuse_delay",
                caps: "how soon tcp_tw_reuse may take a TIME_WAIT port again: with a connection \
                       per request (loadgen --per-conn 1) new connections per second toward \
                       one destination are capped near ports / this delay (100 ports at 1 s: \
                       100/s). Absent before Linux 6.8, where the delay is 1 s",
                raise: "sysctl -w net.ipv4.tcp_tw_reuse_delay=100 (ms; or keep connections \
                        open, or add source addresses)"
                    .into(),
            },
            Entry {
                name: "net.ipv4.tcp_fin_timeout",
                value: Amount::of(self.tcp_fin_timeout),
                unit: Some("s"),
                text: self.tcp_fin_timeout.map(|s| format!("{s} s")),
                source: "/proc/sys/net/ipv4/tcp_fin_timeout",
                caps: "how long a closed connection waits in FIN-WAIT-2 for the peer's FIN. \
                       It is NOT the TIME_WAIT duration: that is fixed at 60 s in Linux \
                       (TCP_TIMEWAIT_LEN) and no sysctl changes it",
                raise: "sysctl -w net.ipv4.tcp_fin_timeout=15 (shortens FIN-WAIT-2 only; for \
                        TIME_WAIT use tcp_tw_reuse or more ports)"
                    .into(),
            },
            Entry {
                name: "net.ipv4.tcp_max_tw_buckets",
                value: Amount::of(self.tcp_max_tw_buckets),
                unit: None,
                text: self.tcp_max_tw_buckets.map(|n| match tw_now {
                    Some(tw) => format!("{n} ({tw} in TIME_WAIT now)"),
                    None => n.to_string(),
                }),
                source: "/proc/sys/net/ipv4/tcp_max_tw_buckets, /proc/net/sockstat",
                caps: "TIME_WAIT sockets kept at once; beyond it, closing connections skip \
                       TIME_WAIT (destroyed at once; the kernel logs 'time wait bucket table \
                       overflow')",
                raise: format!(
                    "sysctl -w net.ipv4.tcp_max_tw_buckets={}",
                    self.tcp_max_tw_buckets
                        .map_or(262_144, |n| n.saturating_mul(2))
                ),
            },
        ]
    }

    /// Memory: TCP socket buffers together, and what the system has available.
    fn memory_entries(&self) -> [Entry; 2] {
        [
            Entry {
                name: "net.ipv4.tcp_mem",
                value: self
                    .tcp_mem
                    .map_or(Amount::Unknown, |m| Amount::Numbers(m.to_vec())),
                unit: Some("pages"),
                text: self.tcp_mem.map(|[min, pressure, max]| {
                    let mut s = format!("{min} {pressure} {max} pages");
                    // Bytes of the max only: the figure that refuses memory; the line
                    // must stay short enough for one terminal row.
                    if let Some(m) = self.pages_to_bytes(max) {
                        s += &format!(" (max {})", bytes(m));
                    }
                    if let Some(used) = self.sockstat.and_then(|s| s.tcp_mem_pages) {
                        s += &format!("; {used} in use now");
                    }
                    s
                }),
                source: "/proc/sys/net/ipv4/tcp_mem, /proc/net/sockstat",
                caps: "memory of all TCP socket buffers together, in pages (min, pressure, \
                       max): above pressure the kernel shrinks buffers; over max it refuses \
                       socket memory (ENOBUFS, or segments dropped)",
                raise: match self.tcp_mem {
                    Some([a, b, c]) => format!(
                        "sysctl -w net.ipv4.tcp_mem='{} {} {}'",
                        a.saturating_mul(2),
                        b.saturating_mul(2),
                        c.saturating_mul(2)
                    ),
                    None => "sysctl -w net.ipv4.tcp_mem='MIN PRESSURE MAX' (pages)".into(),
                },
            },
            Entry {
                name: "MemAvailable",
                value: Amount::of(self.mem_available),
                unit: Some("bytes"),
                text: self.mem_available.map(bytes),
                source: "/proc/meminfo",
                caps: "memory for connections: an idle TCP connection costs a few KB of kernel \
                       memory per socket, plus the application's own state per connection",
                raise: "add memory, or keep fewer bytes in socket buffers \
                        (net.ipv4.tcp_rmem, net.ipv4.tcp_wmem)"
                    .into(),
            },
        ]
    }

    /// The JSON form: an object with every field of [`Report`] under its Rust name
    /// (numbers; `null` = unknown; `port_range` is `[lo, hi]`, `tcp_mem` and `udp_mem`
    /// `[min, pressure, max]` in pages, `sockstat` an object of [`Sockstat`]'s fields,
    /// `udp` and `udp6` objects of [`UdpCounters`]'s fields, `page_size`,
    /// `mem_available` and the `rmem`/`wmem` sysctls in bytes), plus `"entries"`: the rows of [`Report::entries`] as
    /// objects `{name, value, unit, text, source, caps, raise}`: `value` a number, an
    /// array of numbers, `"unlimited"` or `null` ([`Amount`]), `unit` a string or `null`,
    /// `text` the table's string or `null` (docs/loadgen-json.md, "limits").
    pub fn to_json(&self) -> serde_json::Value {
        // Serializing plain numbers, strings and arrays cannot fail; `null` would stand
        // for the impossible error rather than a panic.
        let mut v = serde_json::to_value(self).unwrap_or_default();
        v["entries"] = serde_json::to_value(self.entries()).unwrap_or_default();
        v
    }
}

/// Ceiling predicted for a probe from ONE process to ONE destination address:port:
/// `min(fd_room, ports * sources)` and which of those binds (`"fd limit"` on a tie).
///
/// `sources` is the number of source addresses used round robin (1 = the default
/// route's); 0 gives `None`, as does an unknown descriptor room or port range. The
/// system-wide limits (fs.file-max, tcp_mem, memory) are not in the minimum; a server in
/// the same process takes a second descriptor per connection, halving the fd room.
pub fn predict(report: &Report, sources: u64) -> Option<(u64, &'static str)> {
    if sources == 0 {
        return None;
    }
    let fds = report.fd_room()?;
    let ports = report.ports()?.saturating_mul(sources);
    Some(if fds <= ports {
        (fds, "fd limit")
    } else {
        (ports, "ephemeral ports")
    })
}

/// An rlimit value: RLIM_INFINITY is "unlimited".
fn rlim(v: u64) -> String {
    if v == libc::RLIM_INFINITY {
        "unlimited".into()
    } else {
        v.to_string()
    }
}

/// Bytes in binary units, one decimal: "1.1 GiB".
fn bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
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

    /// /proc/net/sockstat as this machine wrote it.
    const SOCKSTAT: &str = "sockets: used 114\n\
        TCP: inuse 103 orphan 0 tw 100 alloc 103 mem 4\n\
        UDP: inuse 0 mem 0\n\
        UDPLITE: inuse 0\n\
        RAW: inuse 0\n\
        FRAG: inuse 0 memory 0\n";

    #[test]
    fn test_parse_sockstat_sample() {
        assert_eq!(
            parse_sockstat(SOCKSTAT),
            Sockstat {
                sockets_used: Some(114),
                tcp_inuse: Some(103),
                tcp_orphan: Some(0),
                tcp_tw: Some(100),
                tcp_alloc: Some(103),
                tcp_mem_pages: Some(4),
                udp_inuse: Some(0),
                udp_mem_pages: Some(0),
            }
        );
    }

    #[test]
    fn test_parse_sockstat_missing_and_garbled_fields_are_none() {
        // UDP's "mem" must not be taken for TCP's; a garbled number stays unknown.
        let s = parse_sockstat("UDP: inuse 3 mem 9\nTCP: inuse x orphan 2 tw\n");
        assert_eq!(
            s,
            Sockstat {
                tcp_orphan: Some(2),
                udp_inuse: Some(3),
                udp_mem_pages: Some(9),
                ..Sockstat::default()
            }
        );
        assert_eq!(parse_sockstat(""), Sockstat::default());
    }

    #[test]
    fn test_parse_port_range() {
        assert_eq!(parse_port_range("32768\t60999\n"), Some((32768, 60999)));
        assert_eq!(parse_port_range("1024 65535"), Some((1024, 65535)));
        assert_eq!(parse_port_range("32768"), None);
        assert_eq!(parse_port_range("1 2 3"), None);
        assert_eq!(parse_port_range("1024 70000"), None, "not a 16-bit port");
    }

    #[test]
    fn test_parse_mem_pages_file_nr_meminfo() {
        assert_eq!(
            parse_mem_pages("287901\t383868\t575802\n"),
            Some([287901, 383868, 575802])
        );
        assert_eq!(parse_mem_pages("1 2"), None);
        assert_eq!(parse_mem_pages("1 2 x"), None);
        assert_eq!(parse_file_nr("377\t0\t2466177\n"), Some(377));
        assert_eq!(parse_file_nr(""), None);
        let meminfo = "MemTotal:       32780604 kB\n\
                       MemFree:         1234567 kB\n\
                       MemAvailable:   24210984 kB\n\
                       Buffers:          123456 kB\n";
        assert_eq!(parse_mem_available(meminfo), Some(24210984 * 1024));
        assert_eq!(parse_mem_available("MemTotal: 1 kB\n"), None);
        assert_eq!(
            parse_mem_available("MemAvailable: 5 MB\n"),
            None,
            "unknown unit"
        );
    }

    /// A report with this machine's values, no I/O.
    pub(super) fn sample() -> Report {
        Report {
            nofile_soft: 20000,
            nofile_hard: 20000,
            nofile_soft_before: 20000,
            open_fds: Some(10),
            nr_open: Some(1048576),
            file_max: Some(2466177),
            files_in_use: Some(377),
            port_range: Some((32768, 60999)),
            somaxconn: Some(4096),
            tcp_max_syn_backlog: Some(2048),
            tcp_tw_reuse: Some(2),
            tcp_tw_reuse_delay_ms: Some(1000),
            tcp_fin_timeout: Some(60),
            tcp_max_tw_buckets: Some(131072),
            tcp_mem: Some([287901, 383868, 575802]),
            sockstat: Some(parse_sockstat(SOCKSTAT)),
            page_size: 4096,
            mem_available: Some(24210984 * 1024),
            rmem_default: Some(212992),
            rmem_max: Some(4194304),
            wmem_default: Some(212992),
            wmem_max: Some(4194304),
            udp_mem: Some([575814, 767755, 1151628]),
            udp_rmem_min: Some(4096),
            udp_wmem_min: Some(4096),
            udp: Some(UdpCounters {
                in_datagrams: Some(236),
                rcvbuf_errors: Some(0),
                ..UdpCounters::default()
            }),
            udp6: Some(UdpCounters {
                in_datagrams: Some(0),
                rcvbuf_errors: Some(0),
                ..UdpCounters::default()
            }),
        }
    }

    #[test]
    fn test_ports_and_fd_room() {
        let r = sample();
        assert_eq!(
            r.ports(),
            Some(28232),
            "the default range holds 28,232 ports"
        );
        assert_eq!(r.fd_room(), Some(19990));
        let unknown = Report {
            port_range: None,
            open_fds: None,
            ..sample()
        };
        assert_eq!((unknown.ports(), unknown.fd_room()), (None, None));
        let inverted = Report {
            port_range: Some((2000, 1000)),
            ..sample()
        };
        assert_eq!(inverted.ports(), None);
        let one = Report {
            port_range: Some((5000, 5000)),
            ..sample()
        };
        assert_eq!(one.ports(), Some(1));
    }

    #[test]
    fn test_predict_names_the_binding_limit() {
        let r = sample();
        // 19,990 descriptors against 28,232 ports: descriptors bind.
        assert_eq!(predict(&r, 1), Some((19990, "fd limit")));
        let big = Report {
            nofile_soft: 1 << 20,
            ..sample()
        };
        assert_eq!(predict(&big, 1), Some((28232, "ephemeral ports")));
        assert_eq!(predict(&big, 8), Some((8 * 28232, "ephemeral ports")));
        assert_eq!(predict(&big, 0), None);
        let unknown = Report {
            open_fds: None,
            ..sample()
        };
        assert_eq!(predict(&unknown, 1), None, "unknown room: no guess");
    }

    #[test]
    fn test_entries_values_and_unknowns() {
        let e = sample().entries();
        let value = |name: &str| {
            e.iter()
                .find(|x| x.name == name)
                .unwrap_or_else(|| panic!("entry {name}"))
                .text
                .clone()
        };
        assert_eq!(value("RLIMIT_NOFILE (soft)").as_deref(), Some("20000"));
        assert_eq!(value("fs.nr_open").as_deref(), Some("1048576"));
        assert_eq!(
            value("net.ipv4.ip_local_port_range").as_deref(),
            Some("32768-60999 (28232 ports)")
        );
        assert_eq!(
            value("net.ipv4.tcp_tw_reuse").as_deref(),
            Some("2 (loopback only)")
        );
        assert_eq!(
            value("net.ipv4.tcp_mem").as_deref(),
            Some("287901 383868 575802 pages (max 2.2 GiB); 4 in use now")
        );
        let names: std::collections::HashSet<_> = e.iter().map(|x| x.name).collect();
        assert_eq!(names.len(), e.len(), "names are unique");
        for x in &e {
            assert!(
                !x.caps.is_empty() && !x.raise.is_empty(),
                "{} explained",
                x.name
            );
        }

        let blank = Report {
            open_fds: None,
            nr_open: None,
            file_max: None,
            files_in_use: None,
            port_range: None,
            somaxconn: None,
            tcp_max_syn_backlog: None,
            tcp_tw_reuse: None,
            tcp_tw_reuse_delay_ms: None,
            tcp_fin_timeout: None,
            tcp_max_tw_buckets: None,
            tcp_mem: None,
            sockstat: None,
            mem_available: None,
            rmem_default: None,
            rmem_max: None,
            wmem_default: None,
            wmem_max: None,
            udp_mem: None,
            udp_rmem_min: None,
            udp_wmem_min: None,
            udp: None,
            udp6: None,
            ..sample()
        };
        let unknown: Vec<_> = blank
            .entries()
            .into_iter()
            .filter(|x| x.text.is_none())
            .map(|x| x.name)
            .collect();
        assert_eq!(
            unknown.len(),
            e.len() - 2,
            "all but the two rlimit rows: {unknown:?}"
        );
    }

    #[test]
    fn test_raise_texts_are_concrete() {
        let e = sample().entries();
        let raise = |name: &str| {
            e.iter()
                .find(|x| x.name == name)
                .map(|x| x.raise.clone())
                .unwrap_or_default()
        };
        // Soft already at hard: the advice is the hard limit, up to fs.nr_open.
        assert!(raise("RLIMIT_NOFILE (soft)").contains("already at the hard limit (20000)"));
        assert!(raise("RLIMIT_NOFILE (hard)").contains("ulimit -Hn 1048576"));
        assert!(raise("RLIMIT_NOFILE (hard)").contains("LimitNOFILE=1048576"));
        assert!(raise("fs.nr_open").contains("sysctl -w fs.nr_open=2097152"));
        assert!(raise("net.ipv4.ip_local_port_range")
            .contains("sysctl -w net.ipv4.ip_local_port_range='1024 65535'"));
        let low = Report {
            nofile_soft: 1024,
            nofile_soft_before: 1024,
            ..sample()
        };
        let soft = &low.entries()[0];
        assert_eq!(soft.name, "RLIMIT_NOFILE (soft)");
        assert!(soft.raise.starts_with("ulimit -n 20000"), "{}", soft.raise);
        let fin = e.iter().find(|x| x.name == "net.ipv4.tcp_fin_timeout");
        assert!(fin.is_some_and(|x| x.caps.contains("NOT the TIME_WAIT duration")));
    }

    #[test]
    fn test_to_json_has_fields_and_entries() {
        let r = sample();
        let j = r.to_json();
        assert_eq!(j["nofile_soft"], 20000);
        assert_eq!(j["port_range"], serde_json::json!([32768, 60999]));
        assert_eq!(j["tcp_mem"], serde_json::json!([287901, 383868, 575802]));
        assert_eq!(j["sockstat"]["tcp_tw"], 100);
        assert_eq!(j["mem_available"], 24210984u64 * 1024);
        assert_eq!(
            j["entries"].as_array().map(Vec::len),
            Some(r.entries().len())
        );
        let entry = |j: &serde_json::Value, name: &str| {
            j["entries"]
                .as_array()
                .and_then(|a| a.iter().find(|e| e["name"] == name).cloned())
                .unwrap_or_else(|| panic!("entry {name}"))
        };
        // Numbers as numbers; the table's wording beside them.
        let soft = entry(&j, "RLIMIT_NOFILE (soft)");
        assert_eq!(soft["value"], 20000);
        assert_eq!(soft["text"], "20000");
        assert!(soft["unit"].is_null());
        let ports = entry(&j, "net.ipv4.ip_local_port_range");
        assert_eq!(ports["value"], serde_json::json!([32768, 60999]));
        assert_eq!(ports["text"], "32768-60999 (28232 ports)");
        let delay = entry(&j, "net.ipv4.tcp_tw_reuse_delay");
        assert_eq!(
            (&delay["value"], &delay["unit"]),
            (&1000.into(), &"ms".into())
        );
        let mem = entry(&j, "MemAvailable");
        assert_eq!(mem["value"], 24210984u64 * 1024);
        assert_eq!(mem["unit"], "bytes");
        let unlimited = Report {
            nofile_hard: libc::RLIM_INFINITY,
            ..sample()
        };
        assert_eq!(
            entry(&unlimited.to_json(), "RLIMIT_NOFILE (hard)")["value"],
            "unlimited"
        );
        let blank = Report {
            nr_open: None,
            ..sample()
        };
        let bj = blank.to_json();
        assert!(bj["nr_open"].is_null());
        let nr_open = entry(&bj, "fs.nr_open");
        assert!(nr_open["value"].is_null() && nr_open["text"].is_null());
    }

    #[test]
    fn test_bytes_and_rlim_formatting() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(24210984 * 1024), "23.1 GiB");
        assert_eq!(rlim(libc::RLIM_INFINITY), "unlimited");
        assert_eq!(rlim(1024), "1024");
    }

    #[test]
    fn test_read_matches_proc() {
        let r = Report::read();
        assert_eq!(r.nofile_soft, r.nofile_hard, "read() raises soft to hard");
        assert_eq!(r.nr_open, sysctl_u64("fs/nr_open"));
        assert!(r.page_size > 0);
        assert!(r.fd_room().is_some_and(|room| room < r.nofile_soft));
    }
}
