//! `--targets FILE`: a run's request mix, read and checked before anything starts.
//!
//! The file is parsed by [`crate::mix::targets`]; here it meets the rest of the run:
//! without a TARGET its first URL is the target (a file of paths alone goes to the
//! embedded server), every URL must name that target (all requests share the run's
//! connections: a URL of another name is the target when it resolves to the same
//! addresses, through the same `--connect-to` rules; order aside, since a resolver may
//! rotate them), `-H` headers join every entry that does not set the same one, and
//! each entry is built once now with a stand-in `Host` so a bad one is refused with
//! exit 2, naming its line. The real requests are built by [`MixParts::build`] once
//! the target's address is known (the embedded server's `Host` is its address).

use super::args::RunArgs;
use super::connect_to::ConnectTo;
use super::target::Target;
use crate::addrs::Addrs;
use crate::error::Error;
use crate::mix::targets::{self, Parsed, Where};
use crate::mix::{Entry, Mix, Order};
use crate::request;
use std::net::SocketAddr;

/// A checked targets file: its entries and how they are chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MixParts {
    /// The file as typed (for the report).
    pub(super) file: String,
    /// In file order.
    entries: Vec<Parsed>,
    /// `-H`, added to every entry that does not set the same header.
    headers: Vec<String>,
    /// `--order`.
    order: Order,
    /// `--seed`.
    seed: u64,
}

impl MixParts {
    /// The targets file of `a`, read and parsed (`None` without `--targets`).
    pub(super) fn read(a: &RunArgs) -> Result<Option<MixParts>, Error> {
        let Some(path) = &a.req.targets else {
            return Ok(None);
        };
        let shown = path.display().to_string();
        if a.req.seed.is_some() && a.req.order != Order::Random {
            return Err(Error::Usage(
                "--seed is for --order random (round robin has no randomness to seed)".into(),
            ));
        }
        let entries =
            targets::read(path).map_err(|e| Error::Usage(format!("--targets {shown}: {e}")))?;
        Ok(Some(MixParts {
            file: shown,
            entries,
            headers: a.req.headers.clone(),
            order: a.req.order,
            seed: a.req.seed.unwrap_or(1),
        }))
    }

    /// The target its first URL names, as a TARGET would be typed (`None`: paths only).
    pub(super) fn first_url(&self) -> Option<String> {
        self.entries.iter().find_map(|e| match &e.place {
            Where::Url(u) => Some(format!("http://{}/", u.host_header())),
            Where::Path(_) => None,
        })
    }

    /// Every URL names `target` (reached through the rules `to`).
    pub(super) fn check_target(&self, target: &Target, to: &ConnectTo) -> Result<(), Error> {
        // Each name is resolved once, however many entries name it.
        let mut seen: Vec<(String, Addrs)> = Vec::new();
        for e in &self.entries {
            let Where::Url(u) = &e.place else { continue };
            let at =
                |m: String| Error::Usage(format!("--targets {} line {}: {m}", self.file, e.line));
            let Target::Given {
                addrs,
                host,
                port,
                label,
                tls,
                ..
            } = target
            else {
                // A URL always makes the target given; kept for the type's sake.
                return Err(at(format!("{} needs a TARGET", e.written)));
            };
            if u.tls != *tls {
                // Every connection of a run speaks one transport.
                return Err(at(format!(
                    "{}: http and https cannot mix in one run (the target is {label})",
                    e.written
                )));
            }
            // The target's own name needs no second lookup (whose answer may differ).
            if u.port == *port && u.host.eq_ignore_ascii_case(host) {
                continue;
            }
            let hh = u.host_header();
            let a = match seen.iter().find(|(h, _)| *h == hh) {
                Some((_, a)) => a.clone(),
                None => {
                    let a = to.route(&u.host, u.port).map_err(at)?.addrs;
                    seen.push((hh.clone(), a.clone()));
                    a
                }
            };
            if !same_set(&a, addrs) {
                return Err(at(format!(
                    "{} is not the run's target {label} ({addrs}): every request goes over the \
                     same connections, so a mix has one target",
                    e.written
                )));
            }
        }
        Ok(())
    }

    /// Every entry builds into a request.
    pub(super) fn check(&self) -> Result<(), Error> {
        // Built once with a stand-in Host: the address never holds a character the
        // builder refuses, so an entry that builds now builds later.
        self.build("127.0.0.1:0").map(|_| ())
    }

    /// The mix, each path entry sent with `Host: host_header` (a URL entry names its own).
    pub(super) fn build(&self, host_header: &str) -> Result<Mix, Error> {
        let mut entries = Vec::with_capacity(self.entries.len());
        for e in &self.entries {
            let host = match &e.place {
                Where::Url(u) => u.host_header(),
                Where::Path(_) => host_header.to_string(),
            };
            let mut headers = e.headers.clone();
            let name = |h: &str| {
                h.split_once(':')
                    .map(|(n, _)| n.trim().to_ascii_lowercase())
            };
            for g in &self.headers {
                if !e.headers.iter().any(|h| name(h) == name(g)) {
                    headers.push(g.clone());
                }
            }
            let bytes = request::http_request(&e.method, &host, e.path(), &headers, &e.body)
                .map_err(|m| {
                    Error::Usage(format!("--targets {} line {}: {m}", self.file, e.line))
                })?;
            entries.push(Entry {
                label: e.label(),
                weight: e.weight,
                head: e.method.eq_ignore_ascii_case("HEAD"),
                bytes,
            });
        }
        Ok(Mix {
            entries,
            order: self.order,
            seed: self.seed,
        })
    }

    /// The mix for the target at `addr`: paths go with its `Host` (the embedded server's
    /// address, or what the TARGET says).
    pub(super) fn build_for(&self, target: &Target, addr: SocketAddr) -> Result<Mix, Error> {
        match target {
            Target::Given { host_header, .. } => self.build(host_header),
            Target::Embedded { .. } => self.build(&addr.to_string()),
        }
    }
}

/// Whether `a` and `b` hold the same addresses, in any order.
fn same_set(a: &Addrs, b: &Addrs) -> bool {
    a.len() == b.len() && a.as_slice().iter().all(|x| b.as_slice().contains(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file `text`, checked against the target `host`:`port` at `addrs`, through
    /// the rules `to`.
    fn check(text: &str, target: (&str, u16, &[&str]), to: &[&str]) -> Result<(), Error> {
        let entries = targets::parse(text, &mut |_| Ok(Vec::new())).unwrap();
        let parts = MixParts {
            file: "t.txt".into(),
            entries,
            headers: Vec::new(),
            order: Order::RoundRobin,
            seed: 1,
        };
        let (host, port, addrs) = target;
        let addrs = Addrs::new(addrs.iter().map(|a| a.parse().unwrap())).unwrap();
        let t = Target::Given {
            addrs,
            host: host.into(),
            port,
            via: None,
            label: format!("http://{host}:{port}/"),
            host_header: format!("{host}:{port}"),
            path: "/".into(),
            tls: false,
        };
        let to: Vec<String> = to.iter().map(|s| s.to_string()).collect();
        parts.check_target(&t, &ConnectTo::parse(&to).unwrap())
    }

    /// Issue 17, item 5: the target's own name is the target, whatever its addresses
    /// (no second lookup); another name is the target when it resolves to the same
    /// addresses, in any order, through the same --connect-to rules.
    #[test]
    fn test_urls_are_the_target_when_they_reach_the_same_addresses() {
        let both = ("both.test", 8080, &["127.0.0.1:8080", "[::1]:8080"][..]);
        assert!(check("GET http://BOTH.test:8080/a\n", both, &[]).is_ok());
        // One of the target's two addresses is not the target: half its requests would
        // go to the other.
        let Err(Error::Usage(m)) = check("GET /a\n\nGET http://127.0.0.1:8080/b\n", both, &[])
        else {
            panic!("taken");
        };
        assert!(m.starts_with("--targets t.txt line 3: http://127.0.0.1:8080/b is not the run's target http://both.test:8080/ (127.0.0.1:8080, [::1]:8080)"), "{m}");
        // Another name, sent by the same rule to the same address.
        let api = ("api.example", 80, &["127.0.0.1:9"][..]);
        let rule = [":80:127.0.0.1:9"];
        assert!(check("GET http://web.example/x\n", api, &rule).is_ok());
        let m = check("GET http://127.0.0.1:81/x\n", api, &rule).unwrap_err();
        assert!(m.to_string().contains("is not the run's target"), "{m}");
        // One transport per run: an https entry for an http target is refused.
        let m = check("GET https://api.example:80/x\n", api, &rule).unwrap_err();
        assert!(m.to_string().contains("http and https cannot mix"), "{m}");
        // The same addresses in another order are the same target.
        assert!(same_set(
            &Addrs::new([
                "127.0.0.1:1".parse().unwrap(),
                "127.0.0.2:1".parse().unwrap()
            ])
            .unwrap(),
            &Addrs::new([
                "127.0.0.2:1".parse().unwrap(),
                "127.0.0.1:1".parse().unwrap()
            ])
            .unwrap(),
        ));
    }
}
