//! Source addresses: the `--source` list (a range, a CIDR block or a comma list), the
//! check that each is an address of this machine ([`check_sources`], before the ramp:
//! one that is not fails its bind with EADDRNOTAVAIL, which is not a port running
//! out), and the per-source counts a probe keeps (connections established from each,
//! and whether its ephemeral ports ran out).
//!
//! A probe spreads its connects over the sources round robin because ports run out per
//! (source, destination): every extra source address is another port range.

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

/// Bind a fresh TCP socket to `addr` (port 0) and close it: `Err` with the bind's
/// error when `addr` cannot be a source address here. EADDRNOTAVAIL means it is on
/// none of this machine's interfaces. IPv4 binds with `IP_BIND_ADDRESS_NO_PORT`, as the
/// probe's own connects do, so no ephemeral port is taken even for a moment, and an
/// EADDRNOTAVAIL can only be the address's.
pub(crate) fn check_bindable(addr: IpAddr) -> std::io::Result<()> {
    use nix::sys::socket::{
        bind, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn,
        SockaddrIn6,
    };
    let family = match addr {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    let fd = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    match addr {
        IpAddr::V4(a) => {
            setsockopt(&fd, sockopt::IpBindAddressNoPort, &true)?;
            bind(fd.as_raw_fd(), &SockaddrIn::from(SocketAddrV4::new(a, 0)))?;
        }
        IpAddr::V6(a) => bind(
            fd.as_raw_fd(),
            &SockaddrIn6::from(SocketAddrV6::new(a, 0, 0, 0)),
        )?,
    }
    Ok(())
}

/// [`check_bindable`] for every address of a `--source` list: the first that cannot be
/// bound, in words that name it (EADDRNOTAVAIL: not an address of this machine).
pub(crate) fn check_sources(sources: &[IpAddr]) -> Result<(), String> {
    for &a in sources {
        match check_bindable(a) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => {
                return Err(format!(
                    "--source {a}: not an address of this machine (bind: EADDRNOTAVAIL); \
                     `ip -brief address` lists them, and all of 127.0.0.0/8 is loopback"
                ))
            }
            Err(e) => return Err(format!("--source {a}: cannot bind it: {e}")),
        }
    }
    Ok(())
}

/// Parse `127.0.0.1-127.0.0.8`, `127.0.0.0/29` or a comma list into addresses (ranges
/// and blocks are IPv4, a single address may be IPv6). Whether each is an address of
/// this machine is [`check_bindable`]'s question, asked before the ramp.
pub(crate) fn parse_sources(s: &str) -> Result<Vec<IpAddr>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some((a, b)) = part.split_once('-') {
            let a: Ipv4Addr = a
                .trim()
                .parse()
                .map_err(|_| format!("bad address '{a}' in '{part}'"))?;
            let b: Ipv4Addr = b
                .trim()
                .parse()
                .map_err(|_| format!("bad address '{b}' in '{part}'"))?;
            let (a, b) = (u32::from(a), u32::from(b));
            if b < a || b - a > 65535 {
                return Err(format!(
                    "bad range '{part}' (at most 65536 addresses, low to high)"
                ));
            }
            out.extend((a..=b).map(|i| IpAddr::V4(Ipv4Addr::from(i))));
        } else if let Some((a, len)) = part.split_once('/') {
            let a: Ipv4Addr = a
                .parse()
                .map_err(|_| format!("bad address '{a}' in '{part}'"))?;
            let len: u32 = len
                .parse()
                .map_err(|_| format!("bad prefix length in '{part}'"))?;
            if !(16..=32).contains(&len) {
                return Err(format!("prefix /{len} in '{part}': use /16 to /32"));
            }
            let base = u32::from(a) & (u32::MAX << (32 - len));
            let n = 1u32 << (32 - len);
            // Skip the network and broadcast addresses of real subnets (/31 and /32 have none).
            let (lo, hi) = if n > 2 {
                (base + 1, base + n - 2)
            } else {
                (base, base + n - 1)
            };
            out.extend((lo..=hi).map(|i| IpAddr::V4(Ipv4Addr::from(i))));
        } else {
            out.push(part.parse().map_err(|_| format!("bad address '{part}'"))?);
        }
    }
    if out.is_empty() {
        return Err("no source address given".into());
    }
    Ok(out)
}

/// A parsed `--source` list (a newtype so clap treats it as one value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SourceList(pub Vec<IpAddr>);

/// [`parse_sources`] for clap.
pub(crate) fn parse_source_list(s: &str) -> Result<SourceList, String> {
    parse_sources(s).map(SourceList)
}

/// Per source address: how many connections it held, and whether its ports ran out.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct SourceCount {
    /// The address (`"default"` when the kernel chose).
    pub source: String,
    /// Connections established from it.
    pub established: u64,
    /// It hit EADDRNOTAVAIL.
    pub exhausted: bool,
}

/// One zeroed count per source, in the order given; a single `"default"` when no
/// source was given (the kernel picks the address).
pub(crate) fn counts_for(sources: &[IpAddr]) -> Vec<SourceCount> {
    if sources.is_empty() {
        vec![SourceCount {
            source: "default".into(),
            ..SourceCount::default()
        }]
    } else {
        sources
            .iter()
            .map(|s| SourceCount {
                source: s.to_string(),
                ..SourceCount::default()
            })
            .collect()
    }
}

/// Add one process's counts into `into`, matching by address: connections add up, a
/// source is exhausted when any process exhausted it. New addresses are appended, so
/// the order is that of first appearance.
pub(crate) fn add_counts(into: &mut Vec<SourceCount>, from: &[SourceCount]) {
    for s in from {
        match into.iter_mut().find(|x| x.source == s.source) {
            Some(x) => {
                x.established += s.established;
                x.exhausted |= s.exhausted;
            }
            None => into.push(s.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_sources_ranges_cidr_lists() {
        assert_eq!(parse_sources("127.0.0.1-127.0.0.4").unwrap().len(), 4);
        let c = parse_sources("127.0.0.0/29").unwrap();
        assert_eq!(
            c.first().map(|a| a.to_string()).as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(c.len(), 6, "network and broadcast skipped");
        assert_eq!(parse_sources("127.0.0.5/32").unwrap().len(), 1);
        assert_eq!(parse_sources("127.0.0.1,127.0.0.2").unwrap().len(), 2);
        assert!(parse_sources("127.0.0.9-127.0.0.1").is_err());
        assert!(parse_sources("nope").is_err());
        assert!(parse_sources("10.0.0.0/8").is_err());
    }
}
