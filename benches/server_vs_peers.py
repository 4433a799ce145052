#!/usr/bin/env python3
"""server_vs_peers.py - readyloop beside reference HTTP servers, in one interleaved run.

    python3 benches/server_vs_peers.py                  # RUNS=5 DUR=10: about 10 minutes
    RUNS=2 DUR=3 python3 benches/server_vs_peers.py     # quick check: about 2 minutes
    python3 benches/server_vs_peers.py --only http      # or --only memory

Everything comes from benches/: it installs wrk and nginx when missing (setup.sh), builds
readyloop (cargo build --release --bin readyloop), the C reference (peers/c_epoll_http.c, cc -O2)
and the hyper peer (peers/hyper, its own Cargo project) into target/.

HTTP part. Targets (TARGETS, default all four, 127.0.0.1 only):
  readyloop     :18090  readyloop --idle-timeout 0
  c_epoll_http  :18081  benches/peers/c_epoll_http.c, one epoll loop in C
  hyper         :18085  benches/peers/hyper, hyper 1.x on tokio current_thread, pipeline_flush
  nginx         :18080  benches/nginx.conf, one worker
  readyloop_base :18091 another readyloop build, BASE_BIN=PATH (not in the default list): before/after
Modes (MODES): c50 = wrk -t1 -c50; c50p16 = the same with 16 pipelined requests per write
(benches/pipeline.lua). Servers pinned to CPU 0, wrk to CPU 1. RUNS rounds of DUR seconds; in
each round every mode and every server once, in turn, so drift hits all alike. Per run:
requests/s (wrk), server CPU per request (utime+stime delta of the serving process from
/proc/PID/stat over the wrk run, divided by wrk's request count), the server's and wrk's CPU %
(wrk's own /proc/PID/stat). A row whose median wrk CPU is over 90% is generator-bound: there
requests/s measures wrk, and the server's CPU per request is the figure to compare.

Memory part (MEM_SERVERS, N=10000): per server, VmRSS of the serving process before and
while benches/hold_conns.py holds N idle connections; (after - before) / N. Servers:
readyloop --proto echo --idle-timeout 0, readyloop --proto http (default 60 s idle timeout:
one timer entry per connection), the C reference, nginx (the worker).

Results: target/bench-results/server_vs_peers-<date>/ (runs.jsonl, memory.jsonl, raw/ wrk
outputs, summary.md); server-vs-peers-latest links to the last. BUILD=0 skips the builds.
"""
import argparse, os, select, subprocess, sys, time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

ALL_TARGETS = ["readyloop", "c_epoll_http", "hyper", "nginx", "readyloop_base"]
ALL_MEM = ["readyloop_echo", "readyloop_http", "c_epoll_http", "nginx"]
STRICT = {"readyloop", "c_epoll_http", "readyloop_base"}  # byte-exact answer expected


def parse_mode(m):
    conns, _, depth = m[1:].partition("p")
    return int(conns), (int(depth) if depth else 0)


def wrk_cmd(port, mode, dur):
    conns, depth = parse_mode(mode)
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{dur}s", "--latency"]
    if depth:
        cmd += ["-s", os.path.join(B.BENCHES, "pipeline.lua")]
    cmd.append(f"http://127.0.0.1:{port}/")
    if depth:
        cmd += ["--", str(depth)]
    return cmd


def http_part(out, runs, dur, modes, targets):
    cmds = B.server_cmds(out, targets)
    servers = {}
    for t in targets:
        servers[t] = B.start_server(t, cmds[t], B.PORTS[t], out, budget_s=B.alarm_left() + 30,
                                    worker=(t == "nginx"))
        B.check_answers(servers[t], strict=t in STRICT)
    for t in targets:  # warm-up, not recorded
        B.run_client(["wrk", "-t1", "-c50", "-d1s", f"http://127.0.0.1:{B.PORTS[t]}/"], 20,
                     os.path.join(out, "raw", f"warmup_{t}.txt"))
    rows = []
    for r in range(1, runs + 1):
        for m in modes:
            for t in targets:
                s = servers[t]
                raw = os.path.join(out, "raw", f"{t}_{m}_r{r}.txt")
                k0, c0 = B.cpu_ticks(s.pid), B.cpu_busy_ticks()
                text, rc, wrk_cpu, wall = B.run_client(wrk_cmd(s.port, m, dur), dur + 20, raw)
                srv_cpu, c1 = (B.cpu_ticks(s.pid) - k0) / B.HZ, B.cpu_busy_ticks()
                w = B.parse_wrk(text)
                row = dict(server=t, mode=m, run=r, rc=rc, wall_s=round(wall, 3), **w,
                           server_cpu_s=srv_cpu, server_cpu_pct=100 * srv_cpu / wall,
                           server_us_per_req=(srv_cpu * 1e6 / w["requests"]) if w["requests"] else None,
                           wrk_cpu_pct=100 * wrk_cpu / wall,
                           others_pct=B.others_pct(c0, c1, srv_cpu + wrk_cpu, wall))
                rows.append(row)
                B.log(f"{t:13} {m:7} run {r}: {B.fmt(w['rps'])} req/s, server {row['server_cpu_pct']:.0f}% "
                      f"{B.fmt(row['server_us_per_req'], 2)} us/req, wrk {row['wrk_cpu_pct']:.0f}%, "
                      f"others {row['others_pct']:.0f}%"
                      + (f", errors {w['errors']} non-2xx {w['non2xx']}" if w["errors"] or w["non2xx"] else "")
                      + (f", wrk exit {rc}" if rc else ""))
                time.sleep(1)
    for s in servers.values():
        s.stop()
    B.write_json_lines(os.path.join(out, "runs.jsonl"), rows)
    return rows


def http_table(rows, modes, targets, runs, dur):
    lines = [f"HTTP keep-alive, wrk -t1, {runs} runs x {dur} s per server and mode, interleaved; servers on "
             f"cpu{B.SERVER_CPU}, wrk on cpu{B.CLIENT_CPU}. Medians [min-max].", "",
             "| server | mode | req/s | server CPU per request, us | vs C ref | server CPU % | wrk CPU % "
             "| p50 us | others % | note |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for m in modes:
        ref = B.median(x["server_us_per_req"] for x in rows if x["server"] == "c_epoll_http" and x["mode"] == m)
        for t in targets:
            sel = [x for x in rows if x["server"] == t and x["mode"] == m]
            if not sel:
                continue
            upr = B.median(x["server_us_per_req"] for x in sel)
            wrk = B.median(x["wrk_cpu_pct"] for x in sel)
            notes = []
            if wrk is not None and wrk > 90:
                notes.append("generator-bound")
            disturbed = sum(1 for x in sel if x["others_pct"] > 50)
            if disturbed:
                notes.append(f"{disturbed}/{len(sel)} runs disturbed")
            bad = sum(1 for x in sel if x["errors"] or x["non2xx"] or x["rc"] or not x["rps"])
            if bad:
                notes.append(f"{bad} runs with errors")
            ratio = f"{upr / ref:.2f}x" if ref and upr else "n/a"
            lines.append(
                f"| {t} | {m} | {B.med_range([x['rps'] for x in sel])} | "
                f"{B.med_range([x['server_us_per_req'] for x in sel], 2)} | {ratio} | "
                f"{B.fmt(B.median(x['server_cpu_pct'] for x in sel))} | {B.fmt(wrk)} | "
                f"{B.fmt(B.median(x['p50_us'] for x in sel))} | {B.fmt(B.median(x['others_pct'] for x in sel))} | "
                f"{', '.join(notes)} |")
    lines += ["", "server CPU per request = utime+stime of the server over the wrk run / wrk's requests; "
              "generator-bound = wrk above 90% of its core (then req/s is wrk's limit, not the server's). "
              "p50 is wrk's (per batch when pipelined). others % = CPU time on cpu0+cpu1 not used by the "
              "server or wrk (other work on the machine, interrupts), out of 200; a run is disturbed when it is over 50 (the machine's other work took CPU time the "
              "server or wrk wanted)."]
    return lines


def read_line(p, timeout_s):
    end = time.monotonic() + timeout_s
    buf = b""
    while time.monotonic() < end:
        r, _, _ = select.select([p.stdout], [], [], 0.2)
        if r:
            c = os.read(p.stdout.fileno(), 4096)
            if not c:
                break
            buf += c
            if b"\n" in buf:
                return buf.decode(errors="replace").splitlines()[0]
        elif p.poll() is not None:
            break
    return buf.decode(errors="replace")


def memory_part(out, n, names):
    rl = os.path.join(B.RELEASE, "readyloop")
    spec = {
        "readyloop_echo": ([rl, "--proto", "echo", "--listen", "127.0.0.1:17010", "--idle-timeout", "0"], 17010, False),
        "readyloop_http": ([rl, "--proto", "http", "--listen", "127.0.0.1:17011"], 17011, False),
        "c_epoll_http": ([os.path.join(B.PEERS_OUT, "c_epoll_http"), "18081"], 18081, False),
        "nginx": (B.nginx_cmd(out), 18080, True),
    }
    rows = []
    for name in names:
        cmd, port, worker = spec[name]
        s = B.start_server(name, cmd, port, out, budget_s=B.alarm_left() + 30, worker=worker)
        time.sleep(1)
        r0, slab0 = B.rss_kb(s.pid), B.slab_kb()
        holder = subprocess.Popen(["taskset", "-c", B.CLIENT_CPU, sys.executable,
                                   os.path.join(B.BENCHES, "hold_conns.py"), str(port), str(n),
                                   "--hold", "90", "--deadline", "60"],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, close_fds=True)
        B._started.append(holder)
        ready = read_line(holder, 75)
        time.sleep(2)  # let the server accept and settle
        r1, slab1, est = B.rss_kb(s.pid), B.slab_kb(), B.established(port)
        B.stop(holder)
        time.sleep(1)
        r2 = B.rss_kb(s.pid)
        s.stop()
        opened = int(ready.split("opened=")[1].split()[0]) if "opened=" in ready else 0
        row = dict(server=name, n=n, opened=opened, established_server_side=est, rss_before_kb=r0,
                   rss_holding_kb=r1, rss_released_kb=r2,
                   bytes_per_conn=round((r1 - r0) * 1024 / opened) if opened else None,
                   slab_delta_kb=slab1 - slab0,
                   slab_bytes_per_conn=round((slab1 - slab0) * 1024 / opened) if opened else None,
                   holder=ready.strip())
        rows.append(row)
        B.log(f"{name}: {ready.strip()}; RSS {r0} -> {r1} kB: {row['bytes_per_conn']} B per connection")
        time.sleep(1)
    B.write_json_lines(os.path.join(out, "memory.jsonl"), rows)
    return rows


def memory_table(rows, n):
    lines = [f"Memory per idle connection: N = {n} held by benches/hold_conns.py; VmRSS of the serving process.", "",
             "| server | opened | established (server side) | RSS before kB | RSS holding kB | user bytes / connection "
             "| kernel Slab delta / connection (both ends, machine-wide) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['server']} | {r['opened']} | {r['established_server_side']} | {r['rss_before_kb']} | "
                     f"{r['rss_holding_kb']} | {B.fmt(r['bytes_per_conn'])} | {B.fmt(r['slab_bytes_per_conn'])} |")
    lines += ["", "readyloop_echo: --proto echo --idle-timeout 0; readyloop_http: --proto http with the default 60 s "
              "idle timeout. The Slab delta is machine-wide (other processes' allocations land in it too)."]
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["http", "memory"])
    a = ap.parse_args()
    runs, dur, n = B.env_int("RUNS", 5), B.env_int("DUR", 10), B.env_int("N", 10000)
    modes = os.environ.get("MODES", "c50 c50p16").split()
    targets = os.environ.get("TARGETS", " ".join(ALL_TARGETS[:4])).split()
    mem = os.environ.get("MEM_SERVERS", " ".join(ALL_MEM)).split()
    for t in targets:
        if t not in ALL_TARGETS:
            sys.exit(f"unknown target {t} (known: {' '.join(ALL_TARGETS)})")
    for t in mem:
        if t not in ALL_MEM:
            sys.exit(f"unknown memory server {t} (known: {' '.join(ALL_MEM)})")
    parts = [a.only] if a.only else ["http", "memory"]

    B.ensure_tools(("wrk", "nginx") if "http" in parts else ("nginx",))
    B.build_readyloop()
    B.build_c()
    if "http" in parts and "hyper" in targets:
        B.build_hyper()
    budget = 60
    if "http" in parts:
        budget += len(targets) * (25 + len(modes) * runs * (dur + 25))
    if "memory" in parts:
        budget += len(mem) * 150
    B.install(budget)
    out = B.results_dir("server_vs_peers")
    B.log(f"results in {out}")
    facts = B.machine_facts()
    summary = ["# readyloop vs peers", "", "    " + " ".join(f"{k}={v}" for k, v in facts.items()),
               f"    command: RUNS={runs} DUR={dur} MODES='{' '.join(modes)}' TARGETS='{' '.join(targets)}' N={n} "
               f"python3 benches/server_vs_peers.py" + (f" --only {a.only}" if a.only else ""), ""]
    if "http" in parts:
        rows = http_part(out, runs, dur, modes, targets)
        summary += http_table(rows, modes, targets, runs, dur) + [""]
    if "memory" in parts:
        summary += memory_table(memory_part(out, n, mem), n) + [""]
    B.write_summary(out, summary)


if __name__ == "__main__":
    B.run_main(main)
