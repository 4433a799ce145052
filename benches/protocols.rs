//! Micro-benchmarks of the sans-IO protocols: parse-and-answer cost without sockets.
//!
//! Every benchmark reuses one output `Vec` (cleared each iteration), as the reactor
//! reuses a connection's queue, so the figures exclude allocation.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use readyloop::protocol::{Cx, Echo, Http, HttpConfig, HttpCounters, Protocol};
use std::time::Instant;

/// The request the load generator sends, so the numbers match the end-to-end runs.
const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:7878\r\n\r\n";

fn http(c: &mut Criterion) {
    let mut g = c.benchmark_group("http");
    let mut counters = HttpCounters::default();
    let mut cx = Cx::new(Instant::now(), &mut counters);

    g.throughput(Throughput::Elements(1));
    g.bench_function("single_get", |b| {
        let mut http = Http::new(HttpConfig::default());
        let mut out = Vec::with_capacity(4096);
        b.iter(|| {
            out.clear();
            let step = http.on_input(black_box(GET), &mut out, usize::MAX, &mut cx);
            black_box((step, out.len()))
        })
    });

    let batch = GET.repeat(16);
    g.throughput(Throughput::Elements(16));
    g.bench_function("pipelined_16_get", |b| {
        let mut http = Http::new(HttpConfig::default());
        let mut out = Vec::with_capacity(4096);
        b.iter(|| {
            out.clear();
            let step = http.on_input(black_box(&batch), &mut out, usize::MAX, &mut cx);
            black_box((step, out.len()))
        })
    });
    g.finish();
}

fn echo(c: &mut Criterion) {
    let mut g = c.benchmark_group("echo");
    let mut cx = Cx::unit(Instant::now());
    let data = vec![0x5au8; 4096];
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("echo_4k", |b| {
        let mut echo = Echo;
        let mut out = Vec::with_capacity(data.len());
        b.iter(|| {
            out.clear();
            let step = echo.on_input(black_box(&data), &mut out, usize::MAX, &mut cx);
            black_box((step, out.len()))
        })
    });
    g.finish();
}

criterion_group!(benches, http, echo);
criterion_main!(benches);
