//! A target's addresses: every one its host name resolves to, and which of them a
//! connection goes to.
//!
//! A name with several addresses (A and AAAA records, a Kubernetes headless Service's
//! pods) is a set of servers behind one name; connecting to the first alone would load
//! one of them and leave the rest idle. So a name resolves to all its addresses, in the
//! resolver's order without repeats, and the run's connections are spread over them
//! round robin by connection slot ([`Addrs::for_slot`]): a slot that reconnects goes
//! back to the same address, so the spread stays even however often connections close.
//! What a run did with them is its [`Spread`], which the reports print.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

/// One or more addresses, in order, without repeats: never empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addrs(Arc<[SocketAddr]>);

impl Addrs {
    /// `addrs` in order, repeats dropped (the first kept); `None` when empty.
    ///
    /// ```
    /// use loadgen::addrs::Addrs;
    /// let a: std::net::SocketAddr = "127.0.0.1:80".parse().unwrap();
    /// let b: std::net::SocketAddr = "[::1]:80".parse().unwrap();
    /// assert_eq!(Addrs::new(vec![b, a, b]).unwrap().as_slice(), [b, a]);
    /// assert!(Addrs::new(Vec::new()).is_none());
    /// ```
    pub fn new(addrs: impl IntoIterator<Item = SocketAddr>) -> Option<Addrs> {
        let mut kept: Vec<SocketAddr> = Vec::new();
        for a in addrs {
            if !kept.contains(&a) {
                kept.push(a);
            }
        }
        (!kept.is_empty()).then(|| Addrs(kept.into()))
    }

    /// The addresses, in order.
    pub fn as_slice(&self) -> &[SocketAddr] {
        &self.0
    }

    /// How many (at least 1).
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The first address (the only one of a literal IP).
    pub fn first(&self) -> SocketAddr {
        self.0[0]
    }

    /// Where connection slot `slot` connects: address `slot mod len`, so slots spread
    /// round robin and a slot keeps its address across reconnects.
    ///
    /// ```
    /// use loadgen::addrs::Addrs;
    /// let two = Addrs::new(["127.0.0.1:80".parse().unwrap(), "[::1]:80".parse().unwrap()]).unwrap();
    /// let to: Vec<String> = (0..3).map(|i| two.for_slot(i).to_string()).collect();
    /// assert_eq!(to, ["127.0.0.1:80", "[::1]:80", "127.0.0.1:80"]);
    /// ```
    pub fn for_slot(&self, slot: usize) -> SocketAddr {
        self.0[slot % self.0.len()]
    }

    /// Resolve `host` (a name, or an IP literal, IPv6 without brackets) with `port`:
    /// every address, in the resolver's order, without repeats. A literal is itself,
    /// one address, with no lookup.
    pub(crate) fn resolve(host: &str, port: u16) -> Result<Addrs, String> {
        let found = (host, port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {host:?}: {e}"))?;
        Addrs::new(found).ok_or_else(|| format!("{host:?} resolved to no address"))
    }
}

/// Where a run's connections went: each address with the connects tried to it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Spread {
    /// Each address, in the order the slots were dealt to them, and the connects tried
    /// to it over the whole run (reconnects included).
    pub connects: Vec<(SocketAddr, u64)>,
    /// `--connect-to`: the value that sent the connections there, as typed.
    pub via: Option<String>,
}

impl Spread {
    /// `addrs` with the connects each worker tried to them (in `addrs`' order), summed.
    pub(crate) fn of<'a>(addrs: &Addrs, workers: impl IntoIterator<Item = &'a [u64]>) -> Spread {
        let mut connects: Vec<(SocketAddr, u64)> =
            addrs.as_slice().iter().map(|&a| (a, 0)).collect();
        for w in workers {
            for (sum, n) in connects.iter_mut().zip(w) {
                sum.1 += n;
            }
        }
        Spread {
            connects,
            via: None,
        }
    }

    /// The text report's lines: where the connections went when the target had several
    /// addresses or `--connect-to` chose them; none otherwise (one address of the
    /// target's own says nothing the `target:` line does not).
    pub(crate) fn lines(&self) -> Vec<String> {
        let via = self
            .via
            .as_ref()
            .map_or(String::new(), |v| format!(" (--connect-to {v})"));
        match self.connects.as_slice() {
            [] => Vec::new(),
            [(a, _)] if self.via.is_some() => vec![format!("address:     {a}{via}")],
            [_] => Vec::new(),
            many => {
                let list: Vec<String> = many.iter().map(|(a, _)| a.to_string()).collect();
                let each: Vec<String> = many
                    .iter()
                    .map(|(a, n)| format!("{} to {a}", crate::fmt::group(*n)))
                    .collect();
                vec![
                    format!(
                        "addresses:   {} ({}), connections spread round-robin{via}",
                        many.len(),
                        list.join(", ")
                    ),
                    format!("             connects tried: {}", each.join(", ")),
                ]
            }
        }
    }
}

impl From<SocketAddr> for Addrs {
    fn from(a: SocketAddr) -> Addrs {
        Addrs(Arc::new([a]))
    }
}

/// The addresses as a list: `127.0.0.1:8080, [::1]:8080`.
impl fmt::Display for Addrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn test_repeats_are_dropped_in_resolver_order() {
        let (a, b, c) = (addr("10.0.0.2:80"), addr("10.0.0.1:80"), addr("[::1]:80"));
        let got = Addrs::new([a, b, a, c, b]).unwrap();
        assert_eq!(got.as_slice(), [a, b, c], "first seen first, not sorted");
        assert_eq!(got.len(), 3);
        assert_eq!(got.to_string(), "10.0.0.2:80, 10.0.0.1:80, [::1]:80");
    }

    #[test]
    fn test_slots_spread_round_robin_and_keep_their_address() {
        let three = Addrs::new([
            addr("10.0.0.1:80"),
            addr("10.0.0.2:80"),
            addr("10.0.0.3:80"),
        ])
        .unwrap();
        let mut per = [0usize; 3];
        for slot in 0..100 {
            let to = three.for_slot(slot);
            per[three.as_slice().iter().position(|a| *a == to).unwrap()] += 1;
            assert_eq!(three.for_slot(slot), to, "a reconnect goes where it went");
        }
        assert_eq!(per, [34, 33, 33], "even, within one");
        let one = Addrs::from(addr("127.0.0.1:1"));
        assert!((0..5).all(|s| one.for_slot(s) == addr("127.0.0.1:1")));
    }

    #[test]
    fn test_the_spread_sums_the_workers_and_is_printed_only_when_it_says_something() {
        let two = Addrs::new([addr("127.0.0.1:8080"), addr("[::1]:8080")]).unwrap();
        let mut s = Spread::of(&two, [&[3u64, 2][..], &[2, 3][..]]);
        assert_eq!(
            s.connects,
            [(addr("127.0.0.1:8080"), 5), (addr("[::1]:8080"), 5)]
        );
        assert_eq!(
            s.lines(),
            [
                "addresses:   2 (127.0.0.1:8080, [::1]:8080), connections spread round-robin",
                "             connects tried: 5 to 127.0.0.1:8080, 5 to [::1]:8080",
            ]
        );
        s.via = Some("a:80:localhost:8080".into());
        assert!(s.lines()[0].ends_with("round-robin (--connect-to a:80:localhost:8080)"));
        let mut one = Spread::of(&Addrs::from(addr("127.0.0.1:1")), [&[7u64][..]]);
        assert!(
            one.lines().is_empty(),
            "the target's own one address: nothing"
        );
        one.via = Some("a:80:127.0.0.1:1".into());
        assert_eq!(
            one.lines(),
            ["address:     127.0.0.1:1 (--connect-to a:80:127.0.0.1:1)"]
        );
    }

    #[test]
    fn test_a_literal_resolves_to_itself_alone() {
        let v6 = Addrs::resolve("::1", 8080).unwrap();
        assert_eq!(v6.as_slice(), [addr("[::1]:8080")]);
        let v4 = Addrs::resolve("127.0.0.1", 1).unwrap();
        assert_eq!((v4.len(), v4.first()), (1, addr("127.0.0.1:1")));
    }
}
