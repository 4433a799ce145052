#!/usr/bin/env bash
# setup.sh - install what the benchmarks need, only when missing (Debian/Ubuntu, apt-get):
# wrk, nginx, redis-server (+ a C compiler, iproute2 for ss, util-linux for taskset, python3).
# Installs run under a policy-rc.d that forbids services from starting (the one in place, if
# any, is put back afterwards), and any stock nginx / redis-server instance that started
# anyway is stopped: the benchmarks run their own instances, with their own configs.
#   benches/setup.sh            # idempotent; prints "setup: all present" when nothing is missing
set -euo pipefail
declare -A CMD=([wrk]=wrk [nginx]=nginx [redis-server]=redis-server [gcc]=cc [iproute2]=ss
                [util-linux]=taskset [python3]=python3)
missing=()
for pkg in "${!CMD[@]}"; do command -v "${CMD[$pkg]}" >/dev/null 2>&1 || missing+=("$pkg"); done
if [ ${#missing[@]} -eq 0 ]; then echo "setup: all present (wrk, nginx, redis-server, cc, ss, taskset, python3)"; exit 0; fi
[ "$(id -u)" = 0 ] || { echo "setup: missing ${missing[*]}; run as root (apt-get)" >&2; exit 1; }
echo "setup: installing ${missing[*]}"

POLICY=/usr/sbin/policy-rc.d
BACKUP=""
restore_policy() {
    if [ -n "$BACKUP" ]; then mv -f "$BACKUP" "$POLICY"; else rm -f "$POLICY"; fi
}
if [ -e "$POLICY" ]; then BACKUP="$(mktemp /tmp/policy-rc.d.XXXXXX)"; cp -p "$POLICY" "$BACKUP"; fi
trap restore_policy EXIT
printf '#!/bin/sh\n# benches/setup.sh: no service may start during this install\nexit 101\n' > "$POLICY"
chmod 755 "$POLICY"

timeout 600 apt-get update -q
DEBIAN_FRONTEND=noninteractive timeout 1200 apt-get install -y -q --no-install-recommends "${missing[@]}"

# If something started a stock service anyway, stop it (the port 80 / 6379 instances are not ours).
for svc in nginx redis-server; do
    if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
done
echo "setup: done"
