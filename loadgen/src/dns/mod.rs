//! DNS for `--proto dns`: a sans-IO core that makes queries, reads replies, keeps the
//! IDs in flight and frames messages over TCP, for the engine to drive over UDP, TCP
//! and TLS. Nothing here does I/O but [`query_file::QueryFile::read`].
//!
//! One concept a file:
//!
//! | file | what |
//! |---|---|
//! | [`query_file`] | dnsperf's query files, `NAME TYPE` a line |
//! | [`name`] | domain names: text to wire form and back, compressed names read |
//! | [`qtype`] | query types by mnemonic or `TYPEnnn` |
//! | [`header`] | the 12-byte header; [`header::peek_id`], [`header::set_id`] |
//! | [`query`] | encoding a query, with EDNS0 (`--edns SIZE`, the DO bit) |
//! | [`reply`] | decoding a reply against its query |
//! | [`rcode`] | response codes and their names, the report's statuses |
//! | [`ids`] | the queries in flight on a socket, by random ID |
//! | [`framing`] | the 2-byte length prefix of DNS over TCP and TLS |
//!
//! # A socket's loop
//!
//! ```
//! use loadgen::dns::{header, ids::InFlight, query::{encode_query, QueryOptions}};
//! use loadgen::dns::{query_file::QueryFile, reply::decode_reply};
//! use std::time::{Duration, Instant};
//!
//! let queries = QueryFile::parse(b"a.test A\nnope.test AAAA\n").unwrap();
//! let mut flight = InFlight::new(100, 0x5eed);
//! let opts = QueryOptions::default();
//! let now = Instant::now();
//!
//! // Send: an ID, the query encoded with it (over TCP, framing::frame_into).
//! let id = flight.insert(1, now, now).unwrap();
//! let mut datagram = Vec::new();
//! encode_query(&mut datagram, id, &queries.get(1).unwrap(), &opts);
//!
//! // A reply arrives (here, the query turned into one).
//! let mut reply = datagram.clone();
//! reply[2] |= 0x80; // QR
//! reply[3] |= 3; // NXDOMAIN
//! let Some(sent) = header::peek_id(&reply).and_then(|id| flight.get(id)).copied() else {
//!     unreachable!("an ID not in flight: unsolicited, or late after expiry");
//! };
//! match decode_reply(&reply, sent.id, &queries.get(sent.query).unwrap()) {
//!     Ok(r) => {
//!         flight.take(sent.id);
//!         assert_eq!(r.rcode.to_string(), "NXDOMAIN"); // the status counted
//!     }
//!     // Counted as malformed; the query stays in flight: a forged or broken
//!     // reply does not answer it, its real reply or its timeout will.
//!     Err(e) => panic!("counted as malformed: {e}"),
//! }
//!
//! // Timeouts: whatever was sent 2 s ago or more is lost.
//! assert_eq!(flight.expire(now + Duration::from_secs(3), Duration::from_secs(2)).count(), 0);
//! ```
//!
//! # What is parsed, what is refused, the bounds
//!
//! A reply is read header first. It must be a reply (QR set) to a QUERY with the
//! query's ID, and hold the query's question (one entry; its name compared
//! case-insensitively, RFC 4343, through compression pointers; the type; class IN),
//! or, only with an error RCODE or TC set, no question. Then every record's framing is
//! walked (not its contents) to find the additional section's OPT record, whose 8
//! bits extend the RCODE (BADVERS, BADCOOKIE); an OPT elsewhere, a second one, or one
//! not named the root is refused. A message that ends inside a record is refused
//! unless TC is set (a truncated UDP reply may be cut anywhere; it is then marked
//! `cut`), and bytes after the last record are refused. Every refusal is a typed
//! error, counted by the caller as a malformed reply; none panics.
//!
//! Bounds, because replies are hostile input: nothing is allocated while decoding,
//! whatever the counts claim (each record takes at least 11 bytes, so a message of N
//! bytes ends the walk within N / 11 records); a name is at most 255 bytes once
//! decompressed, and its pointers must point strictly backwards (which alone ends
//! every walk) and number at most 64. Over TCP, a declared length of 0 or over the
//! caller's bound is refused as soon as its two bytes are in. Query files hold at
//! most 1,000,000 queries of lines up to 1,100 bytes. A socket has at most 65,536
//! queries in flight (every ID), and its bookkeeping grows with the most in flight at
//! once.
//!
//! Why by hand and not a DNS crate: the subset is small (one question out, a header,
//! a question and record framing in), a crate such as hickory-proto would add its
//! dependency tree to every build for it, and its message parser builds every record
//! (allocating as it goes) where a load generator needs the header, the question and
//! one OPT. The code here is small enough to fuzz whole (`fuzz/` target `dns_reply`).

pub mod framing;
pub mod header;
pub mod ids;
pub mod name;
pub mod qtype;
pub mod query;
pub mod query_file;
pub mod rcode;
pub mod reply;
