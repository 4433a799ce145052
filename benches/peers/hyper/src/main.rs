//! hyper_peer - the HTTP server a Rust user would most likely pick, as a reference for
//! readyloop's benchmarks: hyper 1.x, HTTP/1.1 only, on tokio's current_thread runtime (one
//! thread, like readyloop). `pipeline_flush(true)` makes hyper write the answers to a batch of
//! pipelined requests together. Every request gets `200 OK` with the body `Hello, World!`
//! (`Content-Length: 13`, plus the `Date` header hyper always adds); keep-alive, HTTP/1.0 and
//! `Connection: close` as hyper handles them.
//!
//! Usage: `hyper_peer [PORT=18085]` (listens on 127.0.0.1 only)
use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;

const BODY: &[u8] = b"Hello, World!";

async fn hello(_req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(BODY))))
}

fn main() {
    let port = match std::env::args().nth(1) {
        None => 18085,
        Some(p) => p.parse::<u16>().unwrap_or_else(|_| {
            eprintln!("usage: hyper_peer [PORT]");
            std::process::exit(2)
        }),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let sock = tokio::net::TcpSocket::new_v4().expect("socket");
        sock.set_reuseaddr(true).expect("SO_REUSEADDR");
        if let Err(e) = sock.bind(([127, 0, 0, 1], port).into()) {
            eprintln!("hyper_peer: bind 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
        let listener = sock.listen(4096).expect("listen");
        eprintln!("hyper_peer on 127.0.0.1:{port} pid {}", std::process::id());
        loop {
            let stream = match listener.accept().await {
                Ok((s, _)) => s,
                Err(_) => {
                    // EMFILE and the like: back off a little rather than spin.
                    tokio::task::yield_now().await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .pipeline_flush(true)
                    .serve_connection(TokioIo::new(stream), service_fn(hello))
                    .await;
            });
        }
    });
}
