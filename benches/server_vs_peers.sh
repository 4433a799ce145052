#!/usr/bin/env bash
# server_vs_peers.sh - readyloop beside the C reference server and nginx, same run.
# Uses the peer scripts of ../shared/peers (bench_http.sh, conn_memory.sh): servers on
# CPU 0, wrk / the connection holder on CPU 1, runs interleaved, loopback only.
#   RUNS=3 DUR=10 benches/server_vs_peers.sh          # ~8 minutes
# Results: target/bench-results/{http,memory}/summary.md
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PEERS="$ROOT/../shared/peers"
[ -d "$PEERS" ] || { echo "needs ../shared/peers beside the repo" >&2; exit 2; }
# The peers' setup installs wrk, nginx, ... (apt) when missing; it also writes into
# ../shared/peers, which may be read-only, so only run it when something is missing.
if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then bash "$PEERS/setup.sh"; fi
cargo build --release --manifest-path "$ROOT/Cargo.toml" --bin readyloop
BIN="$ROOT/target/release/readyloop"
export PEERS_RESULTS="$ROOT/target/bench-results"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
start() {  # port args... -> PID in $!
    taskset -c 0 "$BIN" --listen "127.0.0.1:$1" "${@:2}" >/dev/null 2>&1 &
    pids+=($!)
    for _ in $(seq 50); do ss -Hltn "sport = :$1" | grep -q LISTEN && return 0; sleep 0.1; done
    echo "readyloop did not start on $1" >&2; exit 1
}
start 18090 --idle-timeout 0; http_pid=$!
RUNS="${RUNS:-3}" DUR="${DUR:-10}" MODES="${MODES:-c50 c50p16}" TARGETS="${TARGETS:-chttp nginx}" \
    EXTRA_TARGETS="readyloop=18090=$http_pid" bash "$PEERS/bench_http.sh"
# Idle memory: echo with no timeout (no timer entry) and http with the default 60 s idle
# timeout (one timer entry per connection).
start 17010 --proto echo --idle-timeout 0; echo_pid=$!
start 17011 --proto http; http2_pid=$!
N="${N:-10000}" SERVERS="${SERVERS:-echo chttp nginx}" \
    EXTRA_TARGETS="readyloop_echo=17010=$echo_pid readyloop_http=17011=$http2_pid" bash "$PEERS/conn_memory.sh"
