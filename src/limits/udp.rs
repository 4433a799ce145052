//! UDP in the limits report: the kernel's UDP counters (`/proc/net/snmp`, `/proc/net/snmp6`)
//! and the drops of each socket (`/proc/net/udp`, `/proc/net/udp6`), parsed from text and
//! read; and the report's UDP rows (buffer sizes, UDP memory, the counters).
//!
//! A datagram the kernel drops never reaches the program: these files are the only place
//! it shows. The drops of one socket ([`udp_socket_drops`]) can be read at any time, unlike
//! `SO_RXQ_OVFL`, which arrives only with the next datagram. Every counter belongs to the
//! network namespace of the process that reads it.

use super::{bytes, Amount, Entry, Report};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};

/// The UDP counters of one family in this network namespace, since it was made: IPv4's
/// from the `Udp:` lines of `/proc/net/snmp`, IPv6's from the `Udp6*` lines of
/// `/proc/net/snmp6`. A counter this kernel does not have (or that does not parse) is
/// `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct UdpCounters {
    /// `InDatagrams`: datagrams delivered to a socket.
    pub in_datagrams: Option<u64>,
    /// `NoPorts`: datagrams to a port no socket was bound to (answered with ICMP port
    /// unreachable).
    pub no_ports: Option<u64>,
    /// `InErrors`: datagrams received but not delivered; includes `RcvbufErrors`,
    /// `InCsumErrors` and `MemErrors`.
    pub in_errors: Option<u64>,
    /// `OutDatagrams`: datagrams sent.
    pub out_datagrams: Option<u64>,
    /// `RcvbufErrors`: dropped because the receiving socket's buffer was full.
    pub rcvbuf_errors: Option<u64>,
    /// `SndbufErrors`: not sent for want of send buffer memory (ENOBUFS, EAGAIN).
    pub sndbuf_errors: Option<u64>,
    /// `InCsumErrors`: dropped for a bad checksum.
    pub in_csum_errors: Option<u64>,
    /// `MemErrors`: dropped because UDP memory (`net.ipv4.udp_mem`) was exhausted
    /// (kernels from 4.20).
    pub mem_errors: Option<u64>,
}

impl UdpCounters {
    /// Set the counter the kernel calls `name` (without the `Udp`/`Udp6` prefix); other
    /// names are ignored.
    fn set(&mut self, name: &str, value: Option<u64>) {
        let slot = match name {
            "InDatagrams" => &mut self.in_datagrams,
            "NoPorts" => &mut self.no_ports,
            "InErrors" => &mut self.in_errors,
            "OutDatagrams" => &mut self.out_datagrams,
            "RcvbufErrors" => &mut self.rcvbuf_errors,
            "SndbufErrors" => &mut self.sndbuf_errors,
            "InCsumErrors" => &mut self.in_csum_errors,
            "MemErrors" => &mut self.mem_errors,
            _ => return,
        };
        *slot = value;
    }
}

/// Parse the text of `/proc/net/snmp`: its `Udp:` section, a line of names then a line of
/// values (`Udp: InDatagrams NoPorts ...` / `Udp: 236 0 ...`; `UdpLite:` is another
/// protocol and is not read). `None` without both lines.
pub fn parse_snmp_udp(text: &str) -> Option<UdpCounters> {
    let mut lines = text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(prefix, _)| *prefix == "Udp")
        .map(|(_, rest)| rest);
    let (names, values) = (lines.next()?, lines.next()?);
    let mut c = UdpCounters::default();
    for (name, value) in names.split_whitespace().zip(values.split_whitespace()) {
        c.set(name, value.parse().ok());
    }
    Some(c)
}

/// Parse the text of `/proc/net/snmp6`: one `Name value` per line; the `Udp6*` lines are
/// kept (`UdpLite6*` are not). `None` when there is no `Udp6` line at all.
pub fn parse_snmp6_udp(text: &str) -> Option<UdpCounters> {
    let mut c = UdpCounters::default();
    let mut any = false;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(key), Some(value)) = (words.next(), words.next()) else {
            continue;
        };
        if let Some(name) = key.strip_prefix("Udp6") {
            c.set(name, value.parse().ok());
            any = true;
        }
    }
    any.then_some(c)
}

/// The IPv4 UDP counters of this network namespace, read now (`/proc/net/snmp`).
pub fn udp_counters() -> Option<UdpCounters> {
    std::fs::read_to_string("/proc/net/snmp")
        .ok()
        .as_deref()
        .and_then(parse_snmp_udp)
}

/// The IPv6 UDP counters of this network namespace, read now (`/proc/net/snmp6`; absent
/// when IPv6 is disabled).
pub fn udp6_counters() -> Option<UdpCounters> {
    std::fs::read_to_string("/proc/net/snmp6")
        .ok()
        .as_deref()
        .and_then(parse_snmp6_udp)
}

/// One row of `/proc/net/udp` or `/proc/net/udp6`: one UDP socket of this network
/// namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct UdpSocketRow {
    /// The address and port it is bound to (`0.0.0.0` or `::` when bound to every
    /// address).
    pub local: SocketAddr,
    /// The peer it is connected to; `0.0.0.0:0` or `[::]:0` when not connected.
    pub remote: SocketAddr,
    /// Bytes queued to send.
    pub tx_queue: u64,
    /// Bytes of received datagrams not yet read (as the kernel charges them, overhead
    /// included).
    pub rx_queue: u64,
    /// The socket's inode ([`socket_inode`] of its descriptor).
    pub inode: u64,
    /// Datagrams the kernel dropped for this socket since it was made: its receive
    /// buffer was full, or UDP memory ran out.
    pub drops: u64,
}

/// An address as `/proc/net/udp*` writes it: `0100007F:B1F8`. The address is the kernel's
/// 32-bit words, each printed as a native-endian number in hex (one word for IPv4, four
/// for IPv6), so the bytes of each word come back with `to_ne_bytes`; the port is a
/// plain hex number.
fn parse_hex_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let hex = ip.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(hex, 16).ok()?.to_ne_bytes())
    };
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut b = [0u8; 16];
            for (i, chunk) in b.chunks_exact_mut(4).enumerate() {
                chunk.copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// One line of `/proc/net/udp*`:
/// `sl local remote st tx_queue:rx_queue tr:tm retrnsmt uid timeout inode ref pointer drops`
/// (`drops` the last column). `None` for the header and anything else that does not parse.
fn parse_udp_row(line: &str) -> Option<UdpSocketRow> {
    let cols: Vec<&str> = line.split_whitespace().collect();
    if cols.len() < 13 {
        return None;
    }
    let (tx, rx) = cols[4].split_once(':')?;
    Some(UdpSocketRow {
        local: parse_hex_addr(cols[1])?,
        remote: parse_hex_addr(cols[2])?,
        tx_queue: u64::from_str_radix(tx, 16).ok()?,
        rx_queue: u64::from_str_radix(rx, 16).ok()?,
        inode: cols[9].parse().ok()?,
        drops: cols.last()?.parse().ok()?,
    })
}

/// Parse the text of `/proc/net/udp` or `/proc/net/udp6`: a row per socket; the header
/// and lines that do not parse are skipped.
pub fn parse_proc_net_udp(text: &str) -> Vec<UdpSocketRow> {
    text.lines().filter_map(parse_udp_row).collect()
}

/// The UDP sockets of this network namespace, IPv4 (`/proc/net/udp`) or IPv6
/// (`/proc/net/udp6`), read now. `None` if the file cannot be read.
pub fn udp_sockets(ipv6: bool) -> Option<Vec<UdpSocketRow>> {
    let path = if ipv6 {
        "/proc/net/udp6"
    } else {
        "/proc/net/udp"
    };
    std::fs::read_to_string(path)
        .ok()
        .map(|t| parse_proc_net_udp(&t))
}

/// The kernel's drops of the sockets bound to `local` (address and port, as the socket's
/// `local_addr()` gives it; an IPv6 address looks in `/proc/net/udp6`, including
/// dual-stack sockets that take IPv4 too), read now. Several sockets share an address
/// with SO_REUSEPORT: their drops are summed (one socket's alone:
/// [`udp_socket_drops_by_inode`]). `None` if no socket is bound there or the file cannot
/// be read.
pub fn udp_socket_drops(local: SocketAddr) -> Option<u64> {
    let rows = udp_sockets(local.is_ipv6())?;
    let same = |r: &&UdpSocketRow| r.local.ip() == local.ip() && r.local.port() == local.port();
    rows.iter()
        .filter(same)
        .map(|r| r.drops)
        .reduce(u64::saturating_add)
}

/// The kernel's drops of the one UDP socket with this inode (IPv4 or IPv6), read now;
/// `None` if there is none or the files cannot be read.
pub fn udp_socket_drops_by_inode(inode: u64) -> Option<u64> {
    [false, true]
        .into_iter()
        .filter_map(udp_sockets)
        .flatten()
        .find(|r| r.inode == inode)
        .map(|r| r.drops)
}

/// The inode of a socket's descriptor: the `inode` column of `/proc/net/udp*` (and
/// `/proc/net/tcp*`). `None` if the descriptor is not a socket or cannot be examined.
pub fn socket_inode(fd: impl AsFd) -> Option<u64> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let raw = fd.as_fd().as_raw_fd();
    // stat() follows the /proc/self/fd link to the socket's own inode.
    let m = std::fs::metadata(format!("/proc/self/fd/{raw}")).ok()?;
    m.file_type().is_socket().then(|| m.ino())
}

/// The three numbers of a `min pressure max` sysctl in pages as bytes, `a/b/c unit` when
/// they share a unit ("2.2/2.9/4.4 GiB"), else each with its own.
fn pages_as_bytes(r: &Report, pages: [u64; 3]) -> Option<String> {
    let b: Vec<String> = pages
        .iter()
        .map(|&p| r.pages_to_bytes(p).map(bytes))
        .collect::<Option<_>>()?;
    let units: Vec<&str> = b.iter().filter_map(|s| s.split(' ').nth(1)).collect();
    if units.windows(2).all(|w| w[0] == w[1]) {
        let nums: Vec<&str> = b.iter().filter_map(|s| s.split(' ').next()).collect();
        Some(format!(
            "{} {}",
            nums.join("/"),
            units.first().unwrap_or(&"")
        ))
    } else {
        Some(b.join("/"))
    }
}

/// A byte-count sysctl as the table shows it: "212992 (208.0 KiB)".
fn bytes_text(n: Option<u64>) -> Option<String> {
    n.map(|b| format!("{b} ({})", bytes(b)))
}

/// `sysctl -w KEY=2*N`, or `sysctl -w KEY=N` when the value is unknown.
fn double(key: &str, n: Option<u64>) -> String {
    match n {
        Some(v) => format!("sysctl -w {key}={}", v.saturating_mul(2).max(1)),
        None => format!("sysctl -w {key}=N"),
    }
}

/// One counter row: its names, where it is read, what it counts and what to do.
struct CounterRow {
    /// Row names for IPv4 and IPv6.
    names: [&'static str; 2],
    /// The counter of a family.
    get: fn(&UdpCounters) -> Option<u64>,
    /// What it counts.
    caps: &'static str,
    /// What to do about it.
    raise: &'static str,
    /// The traffic it is set beside in the table, named: delivered (InDatagrams) or
    /// sent (OutDatagrams).
    beside: (&'static str, fn(&UdpCounters) -> Option<u64>),
}

/// The drop counters shown, in this order, for IPv4 then IPv6.
const COUNTER_ROWS: [CounterRow; 4] = [
    CounterRow {
        names: ["Udp RcvbufErrors", "Udp6 RcvbufErrors"],
        get: |c| c.rcvbuf_errors,
        caps: "datagrams dropped because the receiving socket's buffer was full: the \
               receiver did not read fast enough (on loopback, the usual loss). Each socket's \
               share is the drops column of /proc/net/udp and udp6",
        raise: "a larger SO_RCVBUF on the receiving socket (up to net.core.rmem_max), or read \
                faster: batches (recvmmsg), more sockets with SO_REUSEPORT",
        beside: ("delivered", |c| c.in_datagrams),
    },
    CounterRow {
        names: ["Udp SndbufErrors", "Udp6 SndbufErrors"],
        get: |c| c.sndbuf_errors,
        caps: "datagrams not sent for want of send buffer memory (the sender saw ENOBUFS or \
               EAGAIN)",
        raise: "a larger SO_SNDBUF (up to net.core.wmem_max), or send at a lower rate",
        beside: ("sent", |c| c.out_datagrams),
    },
    CounterRow {
        names: ["Udp InErrors", "Udp6 InErrors"],
        get: |c| c.in_errors,
        caps: "datagrams received but not delivered: RcvbufErrors, UDP memory exhausted \
               (MemErrors, net.ipv4.udp_mem), bad checksums (InCsumErrors), malformed",
        raise: "see RcvbufErrors and net.ipv4.udp_mem; bad checksums come from the path",
        beside: ("delivered", |c| c.in_datagrams),
    },
    CounterRow {
        names: ["Udp NoPorts", "Udp6 NoPorts"],
        get: |c| c.no_ports,
        caps: "datagrams to a port no socket was bound to (answered with ICMP port \
               unreachable): a server not started or gone, or replies that arrived after \
               the client closed its socket",
        raise: "not a limit: start the server first, keep a client's sockets open until its \
                last reply or timeout",
        beside: ("delivered", |c| c.in_datagrams),
    },
];

impl Report {
    /// UDP: buffer sizes (every socket's, UDP's least), UDP memory, then the kernel's
    /// UDP drop counters of each family.
    pub(super) fn udp_entries(&self) -> Vec<Entry> {
        let mut rows = Vec::with_capacity(7 + 2 * COUNTER_ROWS.len());
        rows.extend(self.socket_buffer_entries());
        rows.extend(self.udp_buffer_entries());
        rows.extend(self.udp_counter_entries());
        rows
    }

    /// `net.core.{r,w}mem_{default,max}`: a new socket's buffers, and the most a program
    /// may ask for.
    fn socket_buffer_entries(&self) -> [Entry; 4] {
        let entry = |name, n: Option<u64>, source, caps, raise| Entry {
            name,
            value: Amount::of(n),
            unit: Some("bytes"),
            text: bytes_text(n),
            source,
            caps,
            raise,
        };
        [
            entry(
                "net.core.rmem_default",
                self.rmem_default,
                "/proc/sys/net/core/rmem_default",
                "the receive buffer of a socket that does not set SO_RCVBUF, UDP's included: \
                 datagrams arriving while it is full are dropped (RcvbufErrors). Each is \
                 charged with the kernel's overhead (on Linux 6.18, 212,992 bytes hold 256 \
                 datagrams of 64 bytes)",
                format!(
                    "set SO_RCVBUF on the socket (up to net.core.rmem_max), or for every new \
                     socket: {}",
                    double("net.core.rmem_default", self.rmem_default)
                ),
            ),
            entry(
                "net.core.rmem_max",
                self.rmem_max,
                "/proc/sys/net/core/rmem_max",
                "the largest SO_RCVBUF a program may set (the kernel doubles the value asked \
                 for, for its overhead, and caps the request here; SO_RCVBUFFORCE with \
                 CAP_NET_ADMIN goes beyond)",
                double("net.core.rmem_max", self.rmem_max),
            ),
            entry(
                "net.core.wmem_default",
                self.wmem_default,
                "/proc/sys/net/core/wmem_default",
                "the send buffer of a socket that does not set SO_SNDBUF: datagrams not yet \
                 handed to the device; a full one blocks a sender, or gives EAGAIN/ENOBUFS \
                 (SndbufErrors)",
                format!(
                    "set SO_SNDBUF on the socket (up to net.core.wmem_max), or for every new \
                     socket: {}",
                    double("net.core.wmem_default", self.wmem_default)
                ),
            ),
            entry(
                "net.core.wmem_max",
                self.wmem_max,
                "/proc/sys/net/core/wmem_max",
                "the largest SO_SNDBUF a program may set (doubled and capped as rmem_max; \
                 SO_SNDBUFFORCE goes beyond)",
                double("net.core.wmem_max", self.wmem_max),
            ),
        ]
    }

    /// `net.ipv4.udp_mem` (all UDP buffers together) and the least each UDP socket keeps.
    fn udp_buffer_entries(&self) -> [Entry; 3] {
        let udp_mem = Entry {
            name: "net.ipv4.udp_mem",
            value: self
                .udp_mem
                .map_or(Amount::Unknown, |m| Amount::Numbers(m.to_vec())),
            unit: Some("pages"),
            text: self.udp_mem.map(|m| {
                let mut s = format!("{} {} {} pages", m[0], m[1], m[2]);
                if let Some(b) = pages_as_bytes(self, m) {
                    s += &format!(" ({b})");
                }
                if let Some(used) = self.sockstat.and_then(|s| s.udp_mem_pages) {
                    s += &format!("; {used} in use now");
                }
                s
            }),
            source: "/proc/sys/net/ipv4/udp_mem, /proc/net/sockstat",
            caps: "memory of all UDP socket buffers together, IPv4 and IPv6, in pages (min, \
                   pressure, max): over max, datagrams are dropped (MemErrors, and the \
                   socket's drops) even with room in their socket's own buffer",
            raise: match self.udp_mem {
                Some([a, b, c]) => format!(
                    "sysctl -w net.ipv4.udp_mem='{} {} {}'",
                    a.saturating_mul(2),
                    b.saturating_mul(2),
                    c.saturating_mul(2)
                ),
                None => "sysctl -w net.ipv4.udp_mem='MIN PRESSURE MAX' (pages)".into(),
            },
        };
        let min = |name, n: Option<u64>, source, caps, key| Entry {
            name,
            value: Amount::of(n),
            unit: Some("bytes"),
            text: bytes_text(n),
            source,
            caps,
            raise: double(key, n),
        };
        [
            udp_mem,
            min(
                "net.ipv4.udp_rmem_min",
                self.udp_rmem_min,
                "/proc/sys/net/ipv4/udp_rmem_min",
                "receive buffer every UDP socket may use even when UDP memory is past \
                 udp_mem's pressure",
                "net.ipv4.udp_rmem_min",
            ),
            min(
                "net.ipv4.udp_wmem_min",
                self.udp_wmem_min,
                "/proc/sys/net/ipv4/udp_wmem_min",
                "send buffer every UDP socket may use even when UDP memory is past udp_mem's \
                 pressure",
                "net.ipv4.udp_wmem_min",
            ),
        ]
    }

    /// The drop counters of [`COUNTER_ROWS`], IPv4 (`/proc/net/snmp`) then IPv6
    /// (`/proc/net/snmp6`), each with the datagrams delivered (or sent) beside it.
    fn udp_counter_entries(&self) -> Vec<Entry> {
        let families = [
            (self.udp, "/proc/net/snmp (Udp:)"),
            (self.udp6, "/proc/net/snmp6 (Udp6*)"),
        ];
        let mut rows = Vec::with_capacity(families.len() * COUNTER_ROWS.len());
        for (family, (counters, source)) in families.into_iter().enumerate() {
            for row in &COUNTER_ROWS {
                let n = counters.and_then(|c| (row.get)(&c));
                let (label, get_beside) = row.beside;
                let beside = counters.and_then(|c| get_beside(&c));
                rows.push(Entry {
                    name: row.names[family],
                    value: Amount::of(n),
                    unit: None,
                    text: n.map(|n| match beside {
                        Some(b) => format!("{n} ({b} {label})"),
                        None => n.to_string(),
                    }),
                    source,
                    caps: row.caps,
                    raise: row.raise.into(),
                });
            }
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::time::{Duration, Instant};

    /// /proc/net/snmp as this machine wrote it (kernel 6.18), shortened to the UDP lines
    /// and one other section.
    const SNMP: &str = "Ip: Forwarding DefaultTTL InReceives\n\
        Ip: 1 64 1234\n\
        Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n\
        Udp: 236 3 7 239 5 1 2 0 0\n\
        UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n\
        UdpLite: 9 9 9 9 9 9 9 9 9\n";

    #[test]
    fn test_parse_snmp_udp_takes_udp_not_udplite() {
        assert_eq!(
            parse_snmp_udp(SNMP),
            Some(UdpCounters {
                in_datagrams: Some(236),
                no_ports: Some(3),
                in_errors: Some(7),
                out_datagrams: Some(239),
                rcvbuf_errors: Some(5),
                sndbuf_errors: Some(1),
                in_csum_errors: Some(2),
                mem_errors: Some(0),
            })
        );
    }

    #[test]
    fn test_parse_snmp_udp_old_kernel_short_and_garbled() {
        // A 3.x kernel: no InCsumErrors, IgnoredMulti, MemErrors.
        let old = "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n\
                   Udp: 10 0 1 12 1 0\n";
        let c = parse_snmp_udp(old).expect("both lines");
        assert_eq!((c.in_datagrams, c.rcvbuf_errors), (Some(10), Some(1)));
        assert_eq!((c.in_csum_errors, c.mem_errors), (None, None));
        // A value that is not a number stays unknown; a missing values line is no section.
        let bad = parse_snmp_udp("Udp: InDatagrams NoPorts\nUdp: x 4\n").expect("parsed");
        assert_eq!((bad.in_datagrams, bad.no_ports), (None, Some(4)));
        assert_eq!(parse_snmp_udp("Udp: InDatagrams NoPorts\n"), None);
        assert_eq!(parse_snmp_udp("UdpLite: InDatagrams\nUdpLite: 1\n"), None);
        assert_eq!(parse_snmp_udp(""), None);
    }

    #[test]
    fn test_parse_snmp6_udp() {
        let text = "Ip6InReceives                   \t12\n\
                    Udp6InDatagrams                 \t40\n\
                    Udp6NoPorts                     \t1\n\
                    Udp6InErrors                    \t6\n\
                    Udp6OutDatagrams                \t41\n\
                    Udp6RcvbufErrors                \t6\n\
                    Udp6SndbufErrors                \t0\n\
                    Udp6InCsumErrors                \t0\n\
                    Udp6IgnoredMulti                \t0\n\
                    Udp6MemErrors                   \t0\n\
                    UdpLite6InDatagrams             \t99\n\
                    UdpLite6RcvbufErrors            \t99\n";
        let c = parse_snmp6_udp(text).expect("Udp6 lines");
        assert_eq!(
            c,
            UdpCounters {
                in_datagrams: Some(40),
                no_ports: Some(1),
                in_errors: Some(6),
                out_datagrams: Some(41),
                rcvbuf_errors: Some(6),
                sndbuf_errors: Some(0),
                in_csum_errors: Some(0),
                mem_errors: Some(0),
            }
        );
        assert_eq!(
            parse_snmp6_udp("Ip6InReceives 1\nUdpLite6InDatagrams 2\n"),
            None
        );
    }

    #[test]
    fn test_counters_readers_match_the_files() {
        // Counters move under other tests' traffic; only their presence is stable.
        let c = udp_counters().expect("/proc/net/snmp has a Udp section");
        assert!(c.in_datagrams.is_some() && c.rcvbuf_errors.is_some());
        if std::path::Path::new("/proc/net/snmp6").exists() {
            assert!(udp6_counters().is_some_and(|c| c.rcvbuf_errors.is_some()));
        }
    }

    /// /proc/net/udp and udp6 as an x86-64 machine wrote them (little-endian words):
    /// 127.0.0.1:45560 unconnected with 2496 bytes queued, 127.0.0.1:52331 connected to
    /// it with 17 drops, [::1]:33307, [::]:53423, and [2001:db8::1:2]:53 hand-made.
    const UDP4: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            \n\
         7267: 0100007F:B1F8 00000000:0000 07 00000000:000009C0 00:00000000 00000000     0        0 18368180 2 00000000758f66dd 0      \n\
        14038: 0100007F:CC6B 0100007F:B1F8 01 00000000:00000000 00:00000000 00000000     0        0 18368183 2 0000000089872694 17     \n";
    const UDP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
        11398: 00000000000000000000000001000000:821B 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 18368181 2 000000003b62801f 0\n\
        15130: 00000000000000000000000000000000:D0AF 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 18368182 2 000000008d8ceae5 3\n\
          100: B80D0120000000000000000002000100:0035 0000000000000000FFFF00000100007F:1F90 01 00000010:00000020 00:00000000 00000000     0        0 42 2 0000000000000000 4294967296\n";

    #[test]
    #[cfg(target_endian = "little")]
    fn test_parse_proc_net_udp_ipv4_fixture() {
        let rows = parse_proc_net_udp(UDP4);
        assert_eq!(rows.len(), 2, "the header is skipped");
        assert_eq!(
            rows[0],
            UdpSocketRow {
                local: "127.0.0.1:45560".parse().unwrap(),
                remote: "0.0.0.0:0".parse().unwrap(),
                tx_queue: 0,
                rx_queue: 2496,
                inode: 18368180,
                drops: 0,
            }
        );
        assert_eq!(rows[1].local, "127.0.0.1:52331".parse().unwrap());
        assert_eq!(rows[1].remote, "127.0.0.1:45560".parse().unwrap());
        assert_eq!(rows[1].drops, 17);
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn test_parse_proc_net_udp_ipv6_byte_order() {
        let rows = parse_proc_net_udp(UDP6);
        assert_eq!(rows.len(), 3);
        // ::1 is written 00000000 00000000 00000000 01000000: the last word's bytes
        // 00 00 00 01 print as 0x01000000 on a little-endian machine.
        assert_eq!(rows[0].local, "[::1]:33307".parse().unwrap());
        assert_eq!((rows[0].inode, rows[0].drops), (18368181, 0));
        assert_eq!(rows[1].local, "[::]:53423".parse().unwrap());
        assert_eq!(rows[1].drops, 3);
        // 2001:0db8:: — bytes 20 01 0d b8 — prints as B80D0120; a v4-mapped peer.
        assert_eq!(rows[2].local, "[2001:db8::1:2]:53".parse().unwrap());
        assert_eq!(rows[2].remote, "[::ffff:127.0.0.1]:8080".parse().unwrap());
        assert_eq!((rows[2].tx_queue, rows[2].rx_queue), (16, 32));
        assert_eq!(rows[2].drops, 1 << 32, "drops is a 64-bit count");
    }

    #[test]
    fn test_parse_hex_addr_rejects_malformed() {
        for bad in [
            "",
            "0100007F",
            "0100007F:",
            "0100007F:10000",
            "0100007:0035",
            "0100007G:0035",
            "000000000000000000000000010000:0035",
            "00000000000000000000000001000000FF:0035",
        ] {
            assert_eq!(parse_hex_addr(bad), None, "{bad:?}");
        }
        assert!(parse_udp_row("  1: 0100007F:0035 00000000:0000 07 0:0").is_none());
        assert!(parse_proc_net_udp("garbage\n\n").is_empty());
    }

    /// The row of a socket bound here, found in the live file by address and by inode.
    fn live_row(s: &UdpSocket) -> UdpSocketRow {
        let local = s.local_addr().unwrap();
        let ino = socket_inode(s).expect("a socket has an inode");
        let rows = udp_sockets(local.is_ipv6()).expect("/proc/net/udp* readable");
        let row = rows
            .into_iter()
            .find(|r| r.local == local)
            .unwrap_or_else(|| panic!("{local} not in /proc/net/udp*"));
        assert_eq!(row.inode, ino, "{local}: the row's inode is the socket's");
        row
    }

    #[test]
    fn test_live_rows_of_own_sockets_ipv4_and_ipv6() {
        let v4 = UdpSocket::bind("127.0.0.1:0").unwrap();
        let row = live_row(&v4);
        assert_eq!(row.drops, 0);
        assert_eq!(udp_socket_drops(v4.local_addr().unwrap()), Some(0));
        assert_eq!(udp_socket_drops_by_inode(row.inode), Some(0));
        // Connected: the row carries the peer.
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.connect(v4.local_addr().unwrap()).unwrap();
        assert_eq!(live_row(&c).remote, v4.local_addr().unwrap());
        if let Ok(v6) = UdpSocket::bind("[::1]:0") {
            let row = live_row(&v6);
            assert!(row.local.is_ipv6() && row.drops == 0);
            assert_eq!(udp_socket_drops(v6.local_addr().unwrap()), Some(0));
            assert_eq!(udp_socket_drops_by_inode(row.inode), Some(0));
        }
        // Closed: gone.
        let (addr, ino) = (v4.local_addr().unwrap(), row.inode);
        drop((v4, c));
        assert_eq!(udp_socket_drops(addr), None);
        assert_eq!(udp_socket_drops_by_inode(ino), None, "no stale row");
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        assert_eq!(socket_inode(&file), None, "a file is not a socket");
    }

    /// A receiver of the smallest buffer that never reads, 500 datagrams sent to it from
    /// loopback: the kernel keeps a handful and drops the rest, and the socket's row says
    /// how many.
    fn flood_unread(bind: &str) -> Option<(UdpSocket, u64)> {
        let rx = socket2::Socket::new(
            if bind.starts_with('[') {
                socket2::Domain::IPV6
            } else {
                socket2::Domain::IPV4
            },
            socket2::Type::DGRAM,
            None,
        )
        .ok()?;
        rx.set_recv_buffer_size(1).ok()?; // the kernel's minimum (2,304 bytes here)
        rx.bind(&bind.parse::<SocketAddr>().ok()?.into()).ok()?;
        let rx: UdpSocket = rx.into();
        let to = rx.local_addr().ok()?;
        let tx = UdpSocket::bind(SocketAddr::new(to.ip(), 0)).ok()?;
        let sent = (0..500)
            .filter(|_| tx.send_to(&[7u8; 64], to).is_ok())
            .count();
        assert_eq!(sent, 500, "loopback sends do not fail");
        Some((rx, 500))
    }

    #[test]
    fn test_flood_of_an_unread_socket_shows_its_drops() {
        for bind in ["127.0.0.1:0", "[::1]:0"] {
            let Some((rx, sent)) = flood_unread(bind) else {
                assert!(bind.starts_with('['), "IPv4 loopback always works");
                continue; // no IPv6 here
            };
            let local = rx.local_addr().unwrap();
            // Loopback delivers within the send call; allow a moment anyway.
            let deadline = Instant::now() + Duration::from_secs(2);
            let mut drops = udp_socket_drops(local).unwrap_or(0);
            while drops == 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
                drops = udp_socket_drops(local).unwrap_or(0);
            }
            let row = live_row(&rx);
            assert_eq!(row.drops, drops);
            assert!(
                drops > 400 && drops < sent,
                "{bind}: {drops} of {sent} dropped"
            );
            assert!(row.rx_queue > 0, "{bind}: what was kept waits to be read");
            assert_eq!(udp_socket_drops_by_inode(row.inode), Some(drops));
            // What was kept plus what was dropped is what was sent.
            rx.set_nonblocking(true).unwrap();
            let mut buf = [0u8; 128];
            let kept = (0..sent).take_while(|_| rx.recv(&mut buf).is_ok()).count() as u64;
            assert_eq!(kept + drops, sent, "{bind}: kept {kept}, dropped {drops}");
        }
    }

    /// A report with the UDP fields of this machine, no I/O.
    fn udp_sample() -> Report {
        Report {
            rmem_default: Some(212992),
            rmem_max: Some(4194304),
            wmem_default: Some(212992),
            wmem_max: Some(4194304),
            udp_mem: Some([575814, 767755, 1151628]),
            udp_rmem_min: Some(4096),
            udp_wmem_min: Some(4096),
            udp: parse_snmp_udp(SNMP),
            udp6: None,
            ..super::super::tests::sample()
        }
    }

    #[test]
    fn test_udp_entries_text_and_raise() {
        let e = udp_sample().entries();
        let find = |name: &str| {
            e.iter()
                .find(|x| x.name == name)
                .unwrap_or_else(|| panic!("entry {name}"))
        };
        assert_eq!(
            find("net.core.rmem_max").text.as_deref(),
            Some("4194304 (4.0 MiB)")
        );
        assert_eq!(
            find("net.core.rmem_max").raise,
            "sysctl -w net.core.rmem_max=8388608"
        );
        assert_eq!(find("net.core.wmem_default").unit, Some("bytes"));
        let mem = find("net.ipv4.udp_mem");
        assert_eq!(
            mem.text.as_deref(),
            Some("575814 767755 1151628 pages (2.2/2.9/4.4 GiB); 0 in use now")
        );
        assert_eq!(mem.value, Amount::Numbers(vec![575814, 767755, 1151628]));
        assert!(mem
            .raise
            .contains("net.ipv4.udp_mem='1151628 1535510 2303256'"));
        assert_eq!(
            find("net.ipv4.udp_rmem_min").text.as_deref(),
            Some("4096 (4.0 KiB)")
        );
        let rcv = find("Udp RcvbufErrors");
        assert_eq!(rcv.value, Amount::Number(5));
        assert_eq!(rcv.text.as_deref(), Some("5 (236 delivered)"));
        assert_eq!(
            find("Udp SndbufErrors").text.as_deref(),
            Some("1 (239 sent)")
        );
        assert!(rcv.source.contains("/proc/net/snmp"));
        assert_eq!(find("Udp NoPorts").value, Amount::Number(3));
        assert_eq!(find("Udp6 RcvbufErrors").value, Amount::Unknown);
        assert_eq!(find("Udp6 RcvbufErrors").text, None);
    }

    #[test]
    fn test_pages_as_bytes_mixed_units() {
        let r = udp_sample();
        assert_eq!(
            pages_as_bytes(&r, [1, 2, 1 << 20]).as_deref(),
            Some("4.0 KiB/8.0 KiB/4.0 GiB")
        );
        let no_page = Report {
            page_size: 0,
            ..udp_sample()
        };
        assert_eq!(pages_as_bytes(&no_page, [1, 2, 3]), None);
    }
}
