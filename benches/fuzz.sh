#!/usr/bin/env bash
# The fuzz targets, run longer than CI does: `bash benches/fuzz.sh [SECONDS]`, each
# target for SECONDS (default 300, or $FUZZ_SECONDS), one after the other; TARGETS="a
# b" picks some. The working corpora grow in fuzz/target/corpus/ and are kept between
# runs, so each run starts where the last stopped. A crash stops the run non-zero with
# its reproducer in fuzz/target/artifacts/TARGET/. Needs a nightly toolchain (skipped,
# exit 0, without one); see fuzz/run.sh.
set -euo pipefail
secs=${1:-${FUZZ_SECONDS:-300}}
exec bash "$(dirname "$0")/../fuzz/run.sh" "$secs"
