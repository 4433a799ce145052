#!/usr/bin/env bash
# Build loadgen's container image FROM scratch with buildah, reaching no registry:
# a static (musl) loadgen, stripped, and a CA bundle (see Containerfile).
#
#   loadgen/deploy/build-image.sh [IMAGE]      # default localhost/loadgen:VERSION
#
# Needs: buildah; rustup's x86_64-unknown-linux-musl target and musl-gcc (Debian's
# musl-tools) to build the binary, unless LOADGEN_MUSL_BIN names one already built
# (CI builds it once, before its tests); binutils (strip, readelf); a CA bundle at
# /etc/ssl/certs/ca-certificates.crt (Debian's ca-certificates), or CA_BUNDLE=FILE.
# Prints the image's name, id and size last.
set -euo pipefail
cd "$(dirname "$0")/../.."

target=x86_64-unknown-linux-musl
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' loadgen/Cargo.toml | head -n 1)
image=${1:-localhost/loadgen:${version}}
ca=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

die() { echo "build-image.sh: $*" >&2; exit 1; }
command -v buildah >/dev/null || die "buildah is not installed (apt-get install buildah)"
[ -s "$ca" ] || die "no CA bundle at $ca (apt-get install ca-certificates, or CA_BUNDLE=FILE)"

bin=${LOADGEN_MUSL_BIN:-}
if [ -z "$bin" ]; then
    command -v musl-gcc >/dev/null || die "musl-gcc is not installed (apt-get install musl-tools)"
    # ring's C and assembly are built by musl-gcc, whose libc is musl's.
    CC_x86_64_unknown_linux_musl=musl-gcc \
        cargo build --release --locked --target "$target" -p loadgen
    bin=$(cargo metadata --format-version 1 --no-deps \
        | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/$target/release/loadgen
fi
[ -x "$bin" ] || die "no loadgen binary at $bin"
# A dynamically linked binary would fail in the pod with a bare "no such file or
# directory" (its loader is not in the image): refuse it here instead.
if readelf -l "$bin" | grep -q 'INTERP'; then
    die "$bin is dynamically linked (it asks for a program interpreter): build for $target"
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
strip -o "$ctx/loadgen" "$bin"
cp "$ca" "$ctx/ca-certificates.crt"
# --timestamp 0: the image's dates are fixed, so the same inputs give the same digest.
# --isolation chroot: buildah then needs no OCI runtime here (the Containerfile has no
# RUN step today, one added later would run in a chroot).
buildah bud --quiet --isolation chroot --timestamp 0 \
    --build-arg "VERSION=$version" \
    -f loadgen/deploy/Containerfile -t "$image" "$ctx" >/dev/null

id=$(buildah images --noheading --no-trunc --format '{{.ID}}' "$image" | head -n 1)
echo "image: $image"
echo "id: $id"
echo "binary: $(stat -c %s "$ctx/loadgen") bytes (stripped), CA bundle: $(stat -c %s "$ctx/ca-certificates.crt") bytes"
echo "size: $(buildah images --noheading --format '{{.Size}}' "$image" | head -n 1)"
