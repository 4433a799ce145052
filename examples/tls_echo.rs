//! A TLS echo server: the reactor's `Tls` layer under the `Echo` protocol, the
//! certificate and key read from PEM files.
//!
//! ```sh
//! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
//!     -keyout key.pem -out cert.pem -subj /CN=localhost -addext subjectAltName=DNS:localhost
//! cargo run --example tls_echo -- 127.0.0.1:7443 cert.pem key.pem
//! openssl s_client -quiet -connect 127.0.0.1:7443 -CAfile cert.pem -servername localhost
//! ```
//!
//! Ctrl-C ends it.

use readyloop::protocol::Echo;
use readyloop::tls::{self, Tls};
use readyloop::{Config, ConnId, Host, ListenOptions, ListenerId, Reactor};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

/// Each accepted connection starts a TLS session with the one configuration.
struct TlsEcho(Arc<tls::rustls::ServerConfig>);

impl Host<Tls<Echo>> for TlsEcho {
    fn accept(
        &mut self,
        r: &mut Reactor<Tls<Echo>>,
        _id: ConnId,
        _l: ListenerId,
        _peer: SocketAddr,
    ) -> Option<Tls<Echo>> {
        // `None` refuses the connection: rustls only fails here on a configuration it
        // cannot use, which server_config() has checked already.
        Tls::server(self.0.clone(), Echo, r.now()).ok()
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(cert), Some(key)) = (args.next(), args.next(), args.next()) else {
        eprintln!("usage: tls_echo ADDR CERT.pem KEY.pem");
        std::process::exit(2);
    };
    let addr: SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    let config = tls::server_config(&tls::ServerOptions::new(cert, key))?;
    let mut reactor: Reactor<Tls<Echo>> = Reactor::new(Config::default())?;
    let listener = reactor.listen(addr, &ListenOptions::default())?;
    println!("tls_echo listening on {}", reactor.local_addr(listener)?);
    std::io::stdout().flush()?;
    reactor.run(&mut TlsEcho(Arc::new(config)))?;
    Ok(())
}
