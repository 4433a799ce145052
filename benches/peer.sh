#!/usr/bin/env bash
# peer.sh - run one benchmark peer in the foreground, pinned to CPU 0, on its usual loopback port,
# for manual measurements (loadgen against nginx, redis, ...). Ctrl-C stops it; it stops by
# itself after SECONDS (default 600). Builds or installs it first when needed.
#   benches/peer.sh readyloop     # :18090  readyloop --idle-timeout 0
#   benches/peer.sh c_epoll_http  # :18081  benches/peers/c_epoll_http.c
#   benches/peer.sh c_udp_echo    # :18083  benches/peers/c_udp_echo.c (UDP)
#   benches/peer.sh hyper         # :18085  benches/peers/hyper
#   benches/peer.sh nginx         # :18080  benches/nginx.conf, one worker
#   benches/peer.sh redis         # :16379  redis-server, no persistence
#   benches/peer.sh nginx 60      # stop after 60 s
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
NAME="${1:-}"; SECONDS_MAX="${2:-600}"
OUT="$ROOT/target/bench-peers"
RUN="$OUT/run/$NAME"
CPU="${SERVER_CPU:-0}"
mkdir -p "$RUN"
need() { command -v "$1" >/dev/null 2>&1 || bash "$ROOT/benches/setup.sh"; }
case "$NAME" in
    readyloop)
        cargo build --release --manifest-path "$ROOT/Cargo.toml" --bin readyloop
        CMD=("$ROOT/target/release/readyloop" --listen 127.0.0.1:18090 --idle-timeout 0) ;;
    c_epoll_http)
        cc -O2 -Wall -o "$OUT/c_epoll_http" "$ROOT/benches/peers/c_epoll_http.c"
        CMD=("$OUT/c_epoll_http" 18081) ;;
    c_udp_echo)
        gcc -O2 -Wall -Wextra -Werror -o "$OUT/c_udp_echo" "$ROOT/benches/peers/c_udp_echo.c"
        CMD=("$OUT/c_udp_echo" 127.0.0.1 18083) ;;
    hyper)
        cargo build --release --manifest-path "$ROOT/benches/peers/hyper/Cargo.toml" --target-dir "$OUT/hyper"
        CMD=("$OUT/hyper/release/hyper_peer" 18085) ;;
    nginx)
        need nginx; mkdir -p "$RUN/tmp"
        CMD=(nginx -p "$RUN/" -e "$RUN/error.log" -c "$ROOT/benches/nginx.conf") ;;
    redis)
        need redis-server
        CMD=(redis-server --bind 127.0.0.1 --port 16379 --protected-mode yes --daemonize no --save ""
             --appendonly no --maxclients 19000 --tcp-backlog 4096 --dir "$RUN" --logfile "$RUN/redis.log") ;;
    *) echo "usage: benches/peer.sh readyloop|c_epoll_http|c_udp_echo|hyper|nginx|redis [SECONDS=600]" >&2; exit 2 ;;
esac
echo "peer.sh: ${CMD[*]} (cpu $CPU, at most ${SECONDS_MAX} s)" >&2
# exec: Ctrl-C and SIGTERM reach timeout, which passes them on to the server.
exec timeout -k 5 "$SECONDS_MAX" taskset -c "$CPU" "${CMD[@]}"
