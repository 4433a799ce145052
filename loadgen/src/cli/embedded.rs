//! The embedded server of `run`: a readyloop server on 127.0.0.1, in this process.
//!
//! `loadgen` with no TARGET measures this server, so that the command alone shows the
//! whole thing. It runs on its own thread beside the workers; at the end it is stopped
//! and its counters join the report (the server's view of the same run).

use crate::error::Error;
use readyloop::server::{ProtoKind, Server, ServerConfig, ServerStats};
use readyloop::{Config, ConnLimits};
use std::net::SocketAddr;
use std::thread::JoinHandle;

/// The running embedded server: how to stop it, and the thread that serves.
pub(super) struct Embedded {
    handle: readyloop::Handle,
    thread: JoinHandle<std::io::Result<ServerStats>>,
}

impl Embedded {
    /// Bind a server speaking `proto` on a free port of 127.0.0.1 and start serving;
    /// returns the address it listens on.
    pub(super) fn start(proto: ProtoKind) -> Result<(SocketAddr, Embedded), Error> {
        // No idle or header timeout: the load decides when a connection is done; one
        // it leaves quiet (a slow --rate) must not be closed under the measurement.
        let limits = ConnLimits {
            idle_timeout: None,
            header_timeout: None,
            ..ConnLimits::default()
        };
        let cfg = ServerConfig {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
            proto,
            reactor: Config {
                limits,
                ..Config::default()
            },
            ..ServerConfig::default()
        };
        let server = Server::bind(cfg).map_err(|e| Error::io("starting the embedded server", e))?;
        let addr = server.local_addrs()[0];
        let handle = server.handle();
        let thread = std::thread::Builder::new()
            .name("readyloop-server".into())
            .spawn(move || server.run())
            .map_err(|e| Error::io("starting the embedded server thread", e))?;
        Ok((addr, Embedded { handle, thread }))
    }

    /// Stop the server and wait for it; its counters as the report's `server` JSON.
    pub(super) fn stop(self) -> Result<serde_json::Value, Error> {
        self.handle.shutdown();
        match self.thread.join() {
            Ok(Ok(s)) => Ok(s.to_json()),
            Ok(Err(err)) => Err(Error::io("embedded server", err)),
            Err(_) => Err(Error::Io(
                "embedded server".into(),
                std::io::Error::other("thread panicked"),
            )),
        }
    }
}
