#!/usr/bin/env python3
"""public_items.py - the public surface of the workspace's crates, counted from rustdoc's JSON.

    python3 benches/public_items.py            # needs a nightly toolchain (rustdoc JSON is unstable)

For each crate (readyloop, loadgen): the items rustdoc documents as public, by kind
(functions and methods, struct fields, structs, enums, constants, modules, re-exports...).
Items of crate-private modules and pub(crate) items are not counted. Used for issue 16's
before/after figures (docs/architecture.md).
"""
import collections, json, os, subprocess, sys

sys.dont_write_bytecode = True
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.path.join(ROOT, "target", "public-items")


def count(krate):
    subprocess.run(
        ["cargo", "+nightly", "rustdoc", "-q", "-p", krate, "--lib", "--",
         "-Z", "unstable-options", "--output-format", "json"],
        cwd=ROOT, check=True, env=dict(os.environ, CARGO_TARGET_DIR=TARGET))
    doc = json.load(open(os.path.join(TARGET, "doc", f"{krate}.json")))
    kinds = collections.Counter()
    for item in doc["index"].values():
        if item.get("crate_id") != 0 or item.get("visibility") != "public":
            continue
        inner = item.get("inner") or {}
        kinds[next(iter(inner), "?") if isinstance(inner, dict) else "?"] += 1
    return kinds


for krate in ("readyloop", "loadgen"):
    k = count(krate)
    print(f"{krate}: {sum(k.values())} public items ("
          + ", ".join(f"{n} {kind}" for kind, n in k.most_common()) + ")")
