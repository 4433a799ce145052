//! `--targets FILE`: a run's request mix, read and checked before anything starts.
//!
//! The file is parsed by [`crate::mix::targets`]; here it meets the rest of the run:
//! without a TARGET its first URL is the target (a file of paths alone goes to the
//! embedded server), every URL must name that target (all requests share the run's
//! connections), `-H` headers join every entry that does not set the same one, and
//! each entry is built once now with a stand-in `Host` so a bad one is refused with
//! exit 2, naming its line. The real requests are built by [`MixParts::build`] once
//! the target's address is known (the embedded server's `Host` is its address).

use super::args::RunArgs;
use super::target::Target;
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

    /// Every URL names `target`, and every entry builds into a request.
    pub(super) fn check(&self, target: &Target) -> Result<(), Error> {
        let mut seen: Vec<(String, SocketAddr)> = Vec::new();
        for e in &self.entries {
            let Where::Url(u) = &e.place else { continue };
            let at =
                |m: String| Error::Usage(format!("--targets {} line {}: {m}", self.file, e.line));
            let Target::Given { addr, label, .. } = target else {
                // A URL always makes the target given; kept for the type's sake.
                return Err(at(format!("{} needs a TARGET", e.written)));
            };
            let hh = u.host_header();
            let a = match seen.iter().find(|(h, _)| *h == hh) {
                Some((_, a)) => *a,
                None => {
                    let a = u.socket_addr().map_err(at)?;
                    seen.push((hh.clone(), a));
                    a
                }
            };
            if a != *addr {
                return Err(at(format!(
                    "{} is not the run's target {label} ({addr}): every request goes over the \
                     same connections, so a mix has one target",
                    e.written
                )));
            }
        }
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
