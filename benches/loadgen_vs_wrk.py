#!/usr/bin/env python3
"""loadgen_vs_wrk.py - loadgen and wrk side by side, same targets, same run.

Servers (the C reference c_epoll_http from ../shared/peers and readyloop --proto http)
are pinned to CPU 0, the load generator to CPU 1. Runs are interleaved so drift hits
both tools alike. For each run: requests/s, p50, and the load generator's own CPU per
request (user+sys of the child, from rusage), so "faster" can be told from "cheaper".

    python3 benches/loadgen_vs_wrk.py [--runs 3] [--dur 10] [--conns 50]

Needs: wrk, gcc (for the C server), a release build (cargo build --release).
Only loopback is used; every child is bounded by a timeout and reaped.
"""
import argparse, json, os, re, resource, signal, subprocess, sys, time, statistics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(ROOT, "..", "shared", "peers")
BIN = os.path.join(ROOT, "target", "release")


def spawn_server(cmd, port):
    p = subprocess.Popen(["taskset", "-c", "0"] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         close_fds=True)
    for _ in range(100):
        if subprocess.run(["bash", "-c", f"ss -Hltn 'sport = :{port}' | grep -q LISTEN"]).returncode == 0:
            return p
        time.sleep(0.1)
    p.kill(); p.wait()
    sys.exit(f"server {cmd[0]} did not listen on {port}")


def timed(cmd, timeout):
    """Run cmd pinned to CPU 1; return (stdout, cpu seconds of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(["taskset", "-c", "1"] + cmd, capture_output=True, text=True, timeout=timeout)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if out.returncode != 0:
        sys.exit(f"{cmd[0]} failed: {out.stderr.strip()}")
    return out.stdout, cpu


def proc_cpu_s(pid):
    """utime+stime of a process, seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def us(v, u):
    return float(v) * {"us": 1, "ms": 1e3, "s": 1e6}[u]


def run_wrk(port, conns, dur):
    out, cpu = timed(["wrk", "-t1", f"-c{conns}", f"-d{dur}s", "--latency", f"http://127.0.0.1:{port}/"], dur + 30)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    errs = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50_us": us(*p50.groups()), "cpu_us_per_req": cpu * 1e6 / max(total, 1),
            "errors": errs.group(1) if errs else "0"}


def run_loadgen(port, conns, dur):
    # Warm-up 1 s (discarded), then dur s measured: the same measured time as wrk.
    out, cpu = timed([os.path.join(BIN, "loadgen"), "run", f"http://127.0.0.1:{port}/", "-t1", f"-c{conns}",
                      f"-d{dur}s", "--warmup", "1s", "--json", "-"], dur + 30)
    j = json.loads(out)
    total = j["requests"]["completed"]
    return {"rps": j["throughput_rps"], "p50_us": j["latency_us"]["corrected"]["p50"],
            # whole-process CPU over warm-up + run, per reply of the whole run
            "cpu_us_per_req": cpu * 1e6 / max(total, 1),
            "errors": sum(e["count"] for e in j["errors"])}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dur", type=int, default=10)
    ap.add_argument("--conns", type=int, default=50)
    a = ap.parse_args()
    os.makedirs("/tmp/peers-run/bin", exist_ok=True)
    chttp = "/tmp/peers-run/bin/c_epoll_http"
    subprocess.run(["gcc", "-O2", "-Wall", "-o", chttp, os.path.join(PEERS, "c_epoll_http.c")], check=True)
    servers = {
        "c_epoll_http": spawn_server([chttp, "18081"], 18081),
        "readyloop": spawn_server([os.path.join(BIN, "readyloop"), "--listen", "127.0.0.1:18090",
                                   "--idle-timeout", "0"], 18090),
    }
    ports = {"c_epoll_http": 18081, "readyloop": 18090}
    rows = []
    try:
        for r in range(a.runs):
            for name in servers:
                for tool, fn in (("wrk", run_wrk), ("loadgen", run_loadgen)):
                    c0, t0 = proc_cpu_s(servers[name].pid), time.monotonic()
                    res = fn(ports[name], a.conns, a.dur)
                    # Server busy % over the tool's whole run: near 100 means the server,
                    # not the load generator, set the pace.
                    res["server_cpu_pct"] = 100 * (proc_cpu_s(servers[name].pid) - c0) / (time.monotonic() - t0)
                    res.update(run=r + 1, server=name, tool=tool)
                    rows.append(res)
                    print(json.dumps(res), flush=True)
                    time.sleep(1)
    finally:
        for p in servers.values():
            p.send_signal(signal.SIGTERM)
        for p in servers.values():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill(); p.wait()
    print(f"\n| server | tool | req/s median | p50 us median | tool CPU us/request median | server CPU % median | errors |")
    print("|---|---|---|---|---|---|---|")
    for name in servers:
        for tool in ("wrk", "loadgen"):
            sel = [x for x in rows if x["server"] == name and x["tool"] == tool]
            med = lambda k: statistics.median(x[k] for x in sel)
            print(f"| {name} | {tool} | {med('rps'):,.0f} | {med('p50_us'):.0f} | {med('cpu_us_per_req'):.2f} | "
                  f"{med('server_cpu_pct'):.0f} | {','.join(str(x['errors']) for x in sel)} |")
        w = statistics.median(x["rps"] for x in rows if x["server"] == name and x["tool"] == "wrk")
        l = statistics.median(x["rps"] for x in rows if x["server"] == name and x["tool"] == "loadgen")
        print(f"| {name} | loadgen/wrk | {l / w:.2f}x | | | | |")


if __name__ == "__main__":
    main()
