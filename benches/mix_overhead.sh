#!/bin/bash
# What a request mix (--targets) costs the generator: loadgen's CPU per request with one
# request, a mix of 4 weighted entries, and a mix of 100 (64 kept one by one, the rest as
# "other"), interleaved round by round against the same readyloop server. Server on
# CPU 0, loadgen on CPU 1, 127.0.0.1 only; every run bounded (-d 4s after a 1 s warm-up).
#
#   cargo build --release -p loadgen -p readyloop && bash benches/mix_overhead.sh [ROUNDS]
#
# Prints "round kind us_per_request req_per_s" lines, then the medians and the per-round
# ratios to the plain run (docs/benchmarks.md).
set -euo pipefail
rounds=${1:-7}
root=$(cd "$(dirname "$0")/.." && pwd)
bin="${CARGO_TARGET_DIR:-$root/target}/release"
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$work"' EXIT
printf 'GET / weight=3\nGET /a\nPOST /b\nContent-Type: text/plain\n@body.txt\nHEAD /\n' >"$work/four.txt"
printf 'hello world\n' >"$work/body.txt"
for i in $(seq 0 99); do echo "GET /p$i"; done >"$work/hundred.txt"
port=$((20000 + RANDOM % 20000))
taskset -c 0 "$bin/readyloop" --listen "127.0.0.1:$port" --proto http >/dev/null 2>&1 &
server=$!
sleep 0.5
for round in $(seq 1 "$rounds"); do
  for kind in plain four hundred; do
    extra=()
    [ "$kind" != plain ] && extra=(--targets "$work/$kind.txt")
    taskset -c 1 "$bin/loadgen" "http://127.0.0.1:$port/" -c 50 -t 1 -d 4s --warmup 1s \
      "${extra[@]}" --json - 2>/dev/null |
      python3 -c "import json,sys; j=json.load(sys.stdin); print('$round $kind', j['cpu']['us_per_request'], round(j['requests']['measured']/j['duration_s']))"
  done
done | tee "$work/rows.txt"
python3 - "$work/rows.txt" <<'PY'
import statistics as st, sys
d = {}
for line in open(sys.argv[1]):
    r, k, c, rps = line.split()
    d.setdefault(k, {})[int(r)] = (float(c), int(rps))
for k, v in d.items():
    cs = [c for c, _ in v.values()]
    print(f"{k}: median {st.median(cs):.2f} us/request [{min(cs):.2f}-{max(cs):.2f}], "
          f"median {st.median(r for _, r in v.values()):.0f} req/s")
for k in ("four", "hundred"):
    ratios = [d[k][r][0] / d["plain"][r][0] for r in d[k] if r in d["plain"]]
    print(f"{k} / plain, round by round: median {st.median(ratios):.2f} [{min(ratios):.2f}-{max(ratios):.2f}]")
PY
