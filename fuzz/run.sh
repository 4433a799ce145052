#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 15): `bash fuzz/run.sh [SECONDS]`.
#
# Needs a nightly toolchain (`cargo +nightly`); without one it prints "fuzz skipped:
# no nightly" and exits 0. Installs cargo-fuzz (`cargo install cargo-fuzz --locked`)
# when nightly is there but cargo-fuzz is not. Exits non-zero on the first crash,
# leaving the reproducer in fuzz/target/artifacts/TARGET/ (replay it with
# `cargo +nightly fuzz run TARGET PATH`). Everything it writes stays in fuzz/target/
# (gitignored): the build, the working corpora (seeded from the checked-in
# fuzz/corpus/TARGET/, which is only read) and the artifacts.
#
# TARGETS="http_server request" limits the run to those targets.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
case "$secs" in
'' | *[!0-9]*)
    echo "usage: $0 [SECONDS]" >&2
    exit 2
    ;;
esac

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz skipped: no nightly"
    exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

targets=${TARGETS:-$(cargo +nightly fuzz list --fuzz-dir fuzz)}
work=$PWD/fuzz/target

echo "== fuzz build"
start=$(date +%s)
# Debug assertions on: overflow checks and debug_assert! catch more.
cargo +nightly fuzz build --fuzz-dir fuzz --debug-assertions
echo "built in $(($(date +%s) - start)) s"

mkdir -p "$work/logs"
for t in $targets; do
    echo "== fuzz $t (${secs} s)"
    mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
    log=$work/logs/$t.log
    # The first corpus directory receives new inputs; the seeds are only read.
    if cargo +nightly fuzz run --fuzz-dir fuzz --debug-assertions "$t" \
        "$work/corpus/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$work/artifacts/$t/" -print_final_stats=1 >"$log" 2>&1; then
        grep -E '^#[0-9]+.*(DONE|INITED)|^stat::(number_of_executed_units|peak_rss_mb)' "$log" || true
    else
        tail -n 60 "$log" >&2
        echo "fuzz $t FAILED; log $log; reproducer in $work/artifacts/$t/:" >&2
        ls -l "$work/artifacts/$t/" >&2
        exit 1
    fi
done
echo "fuzz ok: $(echo $targets | wc -w) targets, ${secs} s each"
