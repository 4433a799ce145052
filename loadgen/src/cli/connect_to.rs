//! `--connect-to HOST:PORT:ADDR:PORT` (curl's flag): where the connections go for a
//! target, while the target's own host stays in the `Host` header (and TLS's name).
//!
//! curl's rules: a target whose host and port match HOST:PORT connects to ADDR:PORT
//! instead; an empty HOST or PORT matches any, an empty ADDR or PORT keeps the
//! target's own; hosts compare without regard to case, IPv6 in brackets; the first
//! rule that matches is the one used. ADDR may be a name: it resolves to all its
//! addresses, as a target's name does. One thing more than curl: rules given that match
//! no target are refused, since the load would otherwise go to the real host.

use crate::addrs::Addrs;
use crate::error::Error;
use std::net::Ipv6Addr;

/// One rule, as parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    /// The host to match, lowercase, IPv6 without brackets; `None`: any.
    host: Option<String>,
    /// The port to match; `None`: any.
    port: Option<u16>,
    /// Where to connect instead (IPv6 without brackets); `None`: the target's host.
    addr: Option<String>,
    /// The port to connect to; `None`: the target's port.
    to_port: Option<u16>,
}

/// Every `--connect-to` rule, in the order given (the first that matches is used).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct ConnectTo(Vec<(String, Rule)>);

/// Where a target's connections go: its addresses, and the rule that chose them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Route {
    /// The addresses to connect to, in the resolver's order.
    pub(super) addrs: Addrs,
    /// The `--connect-to` value that sent them there, as typed (`None`: the target's own).
    pub(super) via: Option<String>,
}

impl ConnectTo {
    /// The flag's values, each checked: a bad one is a usage error (exit 2) naming it.
    pub(super) fn parse(values: &[String]) -> Result<ConnectTo, Error> {
        let mut rules = Vec::with_capacity(values.len());
        for v in values {
            let rule = Rule::parse(v).map_err(|m| {
                Error::Usage(format!(
                    "--connect-to {v:?}: {m} (expected HOST:PORT:ADDR:PORT, as \
                     example.com:80:127.0.0.1:8080)"
                ))
            })?;
            rules.push((v.clone(), rule));
        }
        Ok(ConnectTo(rules))
    }

    /// Whether no rule was given.
    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Where connections to `host`:`port` go: the first matching rule's address (all
    /// of a name's) and port, else the host's own addresses.
    pub(super) fn route(&self, host: &str, port: u16) -> Result<Route, String> {
        let found = self.0.iter().find(|(_, r)| r.matches(host, port));
        let Some((written, rule)) = found else {
            return Ok(Route {
                addrs: Addrs::resolve(host, port)?,
                via: None,
            });
        };
        let (to_host, to_port) = rule.to(host, port);
        let addrs = Addrs::resolve(to_host, to_port)
            .map_err(|m| format!("--connect-to {written:?}: {m}"))?;
        Ok(Route {
            addrs,
            via: Some(written.clone()),
        })
    }

    /// The run's target is `host`:`port`: refuse rules given that none of which
    /// matches it (the load would go to the real host, not where the rules say).
    pub(super) fn check_used(&self, host: &str, port: u16) -> Result<(), Error> {
        if self.is_empty() || self.0.iter().any(|(_, r)| r.matches(host, port)) {
            return Ok(());
        }
        let shown = crate::request::host_port(host, port);
        Err(Error::Usage(format!(
            "--connect-to: no rule matches the target {shown} (a rule's HOST:PORT is the \
             target's, empty for any)"
        )))
    }
}

impl Rule {
    /// `HOST:PORT:ADDR:PORT`, each part possibly empty, IPv6 in brackets.
    fn parse(s: &str) -> Result<Rule, String> {
        let (host, rest) = host_part(s)?;
        let (port, rest) = rest
            .split_once(':')
            .ok_or("missing ':' after the first PORT")?;
        let (addr, to_port) = host_part(rest)?;
        if to_port.contains(':') {
            return Err("too many ':' (an IPv6 address goes in brackets)".into());
        }
        Ok(Rule {
            host: host.map(|h| h.to_ascii_lowercase()),
            port: port_part(port)?,
            addr,
            to_port: port_part(to_port)?,
        })
    }

    /// Whether a target at `host`:`port` is this rule's.
    fn matches(&self, host: &str, port: u16) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.host
            .as_ref()
            .is_none_or(|h| h.eq_ignore_ascii_case(host))
            && self.port.is_none_or(|p| p == port)
    }

    /// Where a matching target at `host`:`port` connects.
    fn to<'a>(&'a self, host: &'a str, port: u16) -> (&'a str, u16) {
        (
            self.addr.as_deref().unwrap_or(host),
            self.to_port.unwrap_or(port),
        )
    }
}

/// A host, or `[IPv6]`, up to the next `:`, which it takes; `None` when empty.
fn host_part(s: &str) -> Result<(Option<String>, &str), String> {
    if let Some(bracketed) = s.strip_prefix('[') {
        let (v6, after) = bracketed
            .split_once(']')
            .ok_or_else(|| format!("'[' without ']' in {s:?}"))?;
        if v6.parse::<Ipv6Addr>().is_err() {
            return Err(format!("{v6:?} is not an IPv6 address"));
        }
        let rest = after
            .strip_prefix(':')
            .ok_or_else(|| format!("expected ':' after [{v6}]"))?;
        return Ok((Some(v6.to_string()), rest));
    }
    let (host, rest) = s
        .split_once(':')
        .ok_or_else(|| format!("missing ':' after {s:?}"))?;
    // What a DNS name or an IPv4 address holds: nothing a resolver would take for
    // something else.
    let ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_');
    if !host.bytes().all(ok) {
        return Err(format!("{host:?} is not a host name or address"));
    }
    Ok(((!host.is_empty()).then(|| host.to_string()), rest))
}

/// A port 1..=65535; `None` when empty.
fn port_part(p: &str) -> Result<Option<u16>, String> {
    if p.is_empty() {
        return Ok(None);
    }
    match p.parse::<u16>() {
        Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(n)),
        _ => Err(format!("bad port {p:?}: expected 1..=65535")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn rule(s: &str) -> Rule {
        Rule::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[track_caller]
    fn rules(v: &[&str]) -> ConnectTo {
        let v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        ConnectTo::parse(&v).unwrap()
    }

    #[test]
    fn test_a_rule_parses_its_four_parts() {
        let r = rule("example.com:80:127.0.0.1:8080");
        assert_eq!(r.host.as_deref(), Some("example.com"));
        assert_eq!((r.port, r.to_port), (Some(80), Some(8080)));
        assert_eq!(r.addr.as_deref(), Some("127.0.0.1"));
        let v6 = rule("[::1]:443:[fe80::1]:8443");
        assert_eq!(
            (v6.host.as_deref(), v6.addr.as_deref()),
            (Some("::1"), Some("fe80::1"))
        );
        let any = rule("::localhost:");
        assert_eq!((any.host, any.port, any.to_port), (None, None, None));
        assert_eq!(
            rule("Example.COM:80::9").host.as_deref(),
            Some("example.com")
        );
    }

    #[test]
    fn test_a_bad_rule_is_one_usage_line_naming_it() {
        for (bad, says) in [
            ("example.com:80:127.0.0.1", "missing ':'"),
            ("example.com:80", "missing ':'"),
            ("a:80:::1:8080", "too many ':'"),
            ("a:http:b:80", "bad port \"http\""),
            ("a:80:b:0", "bad port \"0\""),
            ("a:80:b:65536", "bad port"),
            ("[::1:80:b:80", "'[' without ']'"),
            ("[nope]:80:b:80", "not an IPv6 address"),
            ("a b:80:c:80", "not a host name"),
        ] {
            let Err(Error::Usage(m)) = ConnectTo::parse(&[bad.to_string()]) else {
                panic!("{bad} was taken");
            };
            assert!(m.contains(says), "{bad}: {m}");
            assert!(m.starts_with(&format!("--connect-to {bad:?}: ")), "{m}");
            assert!(!m.contains('\n'), "{m}");
        }
    }

    #[test]
    fn test_empty_parts_match_any_and_keep_the_target_s_own() {
        let r = rule(":80:127.0.0.1:");
        assert!(r.matches("anything.example", 80) && !r.matches("x", 81));
        assert_eq!(r.to("x", 80), ("127.0.0.1", 80));
        let r = rule("api.example::[::1]:9000");
        assert!(r.matches("API.example", 1) && r.matches("api.example", 65535));
        assert!(!r.matches("web.example", 80));
        assert_eq!(r.to("api.example", 80), ("::1", 9000));
        assert!(rule("[::1]:80::81").matches("[::1]", 80), "brackets or not");
    }

    #[test]
    fn test_the_first_matching_rule_routes_the_target() {
        let c = rules(&[
            "a.example:80:127.0.0.2:1",
            ":80:127.0.0.3:2",
            ":80:127.0.0.4:3",
        ]);
        let r = c.route("b.example", 80).unwrap();
        assert_eq!(r.addrs.as_slice(), ["127.0.0.3:2".parse().unwrap()]);
        assert_eq!(r.via.as_deref(), Some(":80:127.0.0.3:2"));
        let r = c.route("a.example", 80).unwrap();
        assert_eq!(r.addrs.first(), "127.0.0.2:1".parse().unwrap());
        // No rule for it: its own address, no lookup for a literal.
        let r = c.route("127.0.0.1", 81).unwrap();
        assert_eq!(
            (r.addrs.first(), r.via),
            ("127.0.0.1:81".parse().unwrap(), None)
        );
    }

    #[test]
    fn test_rules_that_match_no_target_are_refused() {
        let c = rules(&["a.example:80:127.0.0.1:1"]);
        assert!(c.check_used("a.example", 80).is_ok());
        let Err(Error::Usage(m)) = c.check_used("b.example", 80) else {
            panic!("taken");
        };
        assert!(m.contains("no rule matches the target b.example:80"), "{m}");
        assert!(ConnectTo::default().check_used("b.example", 80).is_ok());
    }
}
