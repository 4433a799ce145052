//! `loadgen __serve` (hidden): the embedded server of `probe`, in its own process.
//!
//! A probe measures how many connections one process can hold; with the server in the
//! same process both ends would share one descriptor table and halve the answer. So
//! `probe` without a target starts this subcommand as a child and reads its addresses
//! from the one JSON line it prints. With `--http` it serves HTTP: the stand-in hosts'
//! server of the distributed tests and `benches/distributed_netns.py`, whose request
//! count its admin listener gives.

use crate::error::Error;
use readyloop::server::{ProtoKind, Server, ServerConfig};
use readyloop::{Config, ConnLimits, ListenOptions};
use std::io::Write;
use std::net::SocketAddr;

/// The embedded server of `probe`: a readyloop echo (or, `http`, HTTP) server with its
/// admin listener, in this (child) process; prints its addresses as one JSON line, serves until SIGTERM.
pub(super) fn serve(
    listen: SocketAddr,
    max_conns: Option<usize>,
    admin: SocketAddr,
    (reuseport, http): (bool, bool),
) -> Result<(), Error> {
    let _ = readyloop::limits::raise_nofile();
    let limits = ConnLimits {
        idle_timeout: None,
        header_timeout: None,
        ..ConnLimits::default()
    };
    let cfg = ServerConfig {
        listen: vec![listen],
        proto: if http {
            ProtoKind::Http
        } else {
            ProtoKind::Echo
        },
        listen_opts: ListenOptions {
            reuseport,
            ..ListenOptions::default()
        },
        reactor: Config {
            limits,
            max_conns,
            ..Config::default()
        },
        admin: Some(admin),
        handle_signals: true,
        ..ServerConfig::default()
    };
    let mut server = Server::bind(cfg).map_err(|e| Error::io("embedded server", e))?;
    if let Ok(cap) = readyloop::server::capacity() {
        server.reserve(cap.connections.unwrap_or(0).min(1 << 20) as usize);
    }
    let line = serde_json::json!({
        "listen": server.local_addrs()[0].to_string(),
        "admin": server.admin_addr().map(|a| a.to_string()),
    });
    println!("{line}");
    let _ = std::io::stdout().flush();
    server.run().map_err(|e| Error::io("embedded server", e))?;
    Ok(())
}
