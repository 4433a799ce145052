#!/usr/bin/env python3
"""distributed_netns.py - issue 18's acceptance run: one open-loop run split over three stand-in
hosts, merged by its coordinator, against the same run from one process, on the same server.

    python3 benches/distributed_netns.py                 # --runs 3 --dur 10: about 2 minutes
    python3 benches/distributed_netns.py --runs 1 --dur 3

The hosts are network namespaces made by this script (removed at its end, also on failure): a server
namespace with a bridge at 10.219.0.1 and three generator namespaces at 10.219.0.10-12 on it, through
veth pairs; the generators find the coordinator by the name lg-0.lg (each namespace's own /etc/hosts,
as a pod finds segment 0 through a headless Service). Nothing outside them is a target. The server is
`loadgen __serve --http` (readyloop's HTTP server, one reactor thread) at 10.219.0.1:8080.

1. One process's capacity against that server: `loadgen run URL -c 64 -t 1 -d DURs` (closed loop) from
   the first generator: its throughput, C.
2. Then, in each round, in turn: `loadgen run URL -R C/2 -c 64 -t 1 -d DURs` from one process (first
   generator), and the same flags as three segments, one per generator, `--segment I/3 --coordinator
   lg-0.lg:7070`, LOADGEN_TOKEN set. Per run: achieved rate, p50/p99/p99.9 (corrected), and for the
   split run each segment's figures and start skew (the coordinator's bound, and the spread of the
   segments' recorded starts).
The medians of the rounds and the ratio merged/one are printed; the acceptance asks the merged achieved
rate to be within +-5% of one process's. Needs root (ip netns) and a release build of loadgen
(cargo build --release -p loadgen; BUILD=0 skips building). Results: target/bench-results/
distributed_netns-<date>/ (runs.jsonl, summary.md).
"""
import argparse
import json
import os
import pathlib
import shutil
import signal
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
NET = "10.219.0"
SERVER = f"{NET}.1"


def sh(*args, check=True, **kw):
    return subprocess.run(list(args), check=check, **kw)


class Lab:
    """The namespaces, the bridge, the server; torn down by close()."""

    def __init__(self, loadgen):
        self.loadgen = loadgen
        tag = os.getpid() % 100000
        self.srv = f"lgd-srv-{tag}"
        self.gens = [f"lgd-g{i}-{tag}" for i in range(3)]
        self.server = None
        self.made = []
        for ns in [self.srv] + self.gens:
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", self.srv, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.srv, "addr", "add", f"{SERVER}/24", "dev", "br0")
        sh("ip", "-n", self.srv, "link", "set", "br0", "up")
        for i, g in enumerate(self.gens):
            a, b = f"vg{tag}{i}", f"vs{tag}{i}"
            sh("ip", "link", "add", a, "netns", g, "type", "veth", "peer", "name", b, "netns", self.srv)
            sh("ip", "-n", self.srv, "link", "set", b, "master", "br0", "up")
            sh("ip", "-n", g, "addr", "add", f"{NET}.1{i}/24", "dev", a)
            sh("ip", "-n", g, "link", "set", a, "up")
            etc = pathlib.Path("/etc/netns") / g
            etc.mkdir(parents=True, exist_ok=True)
            (etc / "hosts").write_text(f"127.0.0.1 localhost\n{NET}.10 lg-0.lg\n")
        self.server = subprocess.Popen(
            ["ip", "netns", "exec", self.srv, loadgen, "__serve", "--http",
             "--listen", f"{SERVER}:8080", "--admin", f"{SERVER}:8081"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.server.stdout.readline()
        assert "8080" in line, line

    def loadgen_in(self, i, args, env=None):
        return subprocess.Popen(["ip", "netns", "exec", self.gens[i], self.loadgen] + args,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)

    def close(self):
        if self.server:
            self.server.send_signal(signal.SIGTERM)
            self.server.wait()
        for g in self.gens:
            shutil.rmtree(pathlib.Path("/etc/netns") / g, ignore_errors=True)
        for ns in self.made:
            sh("ip", "netns", "del", ns, check=False)


def run_one(lab, args):
    p = lab.loadgen_in(0, args + ["--json", "-"])
    out, err = p.communicate(timeout=300)
    if p.returncode != 0:
        sys.exit(f"one process: exit {p.returncode}: {err}")
    return json.loads(out)


def run_split(lab, args):
    env = dict(os.environ, LOADGEN_TOKEN="distributed-netns-" + str(os.getpid()))
    kids = [lab.loadgen_in(i, args + ["--json", "-", "--segment", f"{i}/3",
                                      "--coordinator", "lg-0.lg:7070"], env)
            for i in (2, 1, 0)]
    outs = [k.communicate(timeout=300) for k in kids]
    for k, (out, err) in zip(kids, outs):
        if k.returncode != 0:
            sys.exit(f"segment: exit {k.returncode}: {err}")
    text = outs[2][0]
    merged = text.split("--- loadgen merged report begin ---", 1)[1].split(
        "--- loadgen merged report end ---", 1)[0]
    return json.loads(merged)


def figures(j):
    lat = j["latency_us"]["corrected"]
    return {"rps": j["throughput_rps"], "p50_us": lat["p50"], "p99_us": lat["p99"],
            "p99_9_us": lat["p99_9"], "measured": j["requests"]["measured"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dur", type=int, default=10)
    ap.add_argument("--conns", type=int, default=64)
    a = ap.parse_args()
    if os.environ.get("BUILD", "1") != "0":
        sh("cargo", "build", "--release", "-q", "-p", "loadgen", cwd=ROOT)
    loadgen = str(ROOT / "target/release/loadgen")
    out_dir = ROOT / "target/bench-results" / time.strftime("distributed_netns-%Y%m%d-%H%M%S")
    out_dir.mkdir(parents=True, exist_ok=True)
    lab = Lab(loadgen)
    rows = []
    try:
        url = f"http://{SERVER}:8080/"
        base = [url, "-c", str(a.conns), "-t", "1", "-d", f"{a.dur}s", "--warmup", "1s"]
        cap = run_one(lab, ["run"] + base)["throughput_rps"]
        rate = cap / 2
        print(f"one process's capacity (closed loop, {a.conns} connections): {cap:,.0f} req/s;"
              f" the runs offer {rate:,.0f} req/s")
        for r in range(a.runs):
            args = ["run"] + base + ["-R", f"{rate:.0f}"]
            one = figures(run_one(lab, args))
            m = run_split(lab, args)
            split = figures(m)
            segs = m["segments"]
            starts = [s["started_unix_s"] for s in segs]
            split["start_spread_ms"] = (max(starts) - min(starts)) * 1e3
            split["skew_bound_us"] = [round(s["skew"]["bound_s"] * 1e6, 1) for s in segs]
            split["skew_offset_us"] = [round(s["skew"]["offset_s"] * 1e6, 1) for s in segs]
            split["segments"] = [{k: s[k] for k in ("index", "measured", "achieved_rps", "p50_us",
                                                     "p99_us", "p99_9_us")} for s in segs]
            row = {"round": r, "offered": rate, "one": one, "split": split}
            rows.append(row)
            print(json.dumps(row))
    finally:
        lab.close()
    with open(out_dir / "runs.jsonl", "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    med = lambda side, k: statistics.median(r[side][k] for r in rows)
    lines = [f"# distributed_netns: {len(rows)} rounds of {a.dur} s, offered {rate:,.0f} req/s "
             f"(half of one process's {cap:,.0f})", "",
             "| | achieved req/s | p50 us | p99 us | p99.9 us |", "|---|---|---|---|---|"]
    for side, name in (("one", "one process"), ("split", "3 segments, merged")):
        lines.append(f"| {name} | {med(side, 'rps'):,.0f} | {med(side, 'p50_us')} | "
                     f"{med(side, 'p99_us')} | {med(side, 'p99_9_us')} |")
    ratio = med("split", "rps") / med("one", "rps")
    lines += ["", f"merged / one process, achieved rate: {ratio:.4f} (acceptance: 0.95 to 1.05)",
              f"segments' recorded starts apart, median: {med('split', 'start_spread_ms'):.3f} ms"]
    (out_dir / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"results: {out_dir}")


if __name__ == "__main__":
    main()
