#!/usr/bin/env python3
"""loadgen_vs_wrk.py - loadgen and wrk as load generators, side by side, same servers, same run.

    python3 benches/loadgen_vs_wrk.py [--runs 3] [--dur 10] [--conns 50]   # defaults: about 2.5 minutes
    python3 benches/loadgen_vs_wrk.py --runs 2 --dur 3                     # quick check: under a minute

Servers: the C reference (benches/peers/c_epoll_http.c, :18081) and readyloop --idle-timeout 0
(:18090), pinned to CPU 0; the tool on CPU 1. In each round every server gets wrk then loadgen,
so drift hits both tools alike:
    wrk -t1 -cC -dDs --latency URL
    loadgen run URL -t1 -cC -dDs --warmup 1s --json -
Per run: requests/s, p50 (wrk's; loadgen's corrected p50, closed loop so the same as raw), the
tool's CPU per request (utime+stime of the tool's process from its /proc/PID/stat at exit,
over every reply it got, loadgen's warm-up included), the tool's CPU % and the server's.
wrk installed by benches/setup.sh when missing; readyloop and loadgen built with cargo
(BUILD=0 skips). BASE_LOADGEN=/path/to/another/loadgen adds that build as a third tool in
every round (before/after a change, same run). Results: target/bench-results/loadgen_vs_wrk-<date>/.
"""
import argparse, json, os, sys, time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

SERVERS = ["c_epoll_http", "readyloop"]


def run_wrk(out, name, r, port, conns, dur):
    text, rc, cpu, wall = B.run_client(["wrk", "-t1", f"-c{conns}", f"-d{dur}s", "--latency",
                                        f"http://127.0.0.1:{port}/"], dur + 20,
                                       os.path.join(out, "raw", f"{name}_wrk_r{r}.txt"))
    w = B.parse_wrk(text)
    return {"rps": w["rps"], "p50_us": w["p50_us"], "replies": w["requests"], "rc": rc, "tool_cpu_s": cpu,
            "tool_cpu_pct": 100 * cpu / wall, "errors": w["errors"] + w["non2xx"], "wall_s": wall}


def run_loadgen(out, name, r, port, conns, dur, binary=None, label="loadgen"):
    binary = binary or os.path.join(B.RELEASE, "loadgen")
    text, rc, cpu, wall = B.run_client([binary, "run", f"http://127.0.0.1:{port}/",
                                        "-t1", f"-c{conns}", f"-d{dur}s", "--warmup", "1s", "--json", "-"],
                                       dur + 25, os.path.join(out, "raw", f"{name}_{label}_r{r}.json"))
    try:
        j = json.loads(text[text.index("{"):])
    except ValueError:
        return {"rps": None, "p50_us": None, "replies": 0, "rc": rc or 1, "tool_cpu_s": cpu,
                "tool_cpu_pct": 100 * cpu / wall, "errors": -1, "wall_s": wall}
    return {"rps": j["throughput_rps"], "p50_us": j["latency_us"]["corrected"]["p50"],
            "replies": j["requests"]["completed"], "rc": rc, "tool_cpu_s": cpu, "tool_cpu_pct": 100 * cpu / wall,
            "errors": sum(e["count"] for e in j["errors"]), "wall_s": wall}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dur", type=int, default=10)
    ap.add_argument("--conns", type=int, default=50)
    a = ap.parse_args()
    B.ensure_tools(("wrk",))
    B.build_readyloop(("readyloop", "loadgen"))
    B.build_c()
    tools = [("wrk", run_wrk), ("loadgen", run_loadgen)]
    base = os.environ.get("BASE_LOADGEN")
    if base:
        tools.append(("loadgen_base", lambda out, n, r, port, conns, dur:
                      run_loadgen(out, n, r, port, conns, dur, binary=base, label="loadgen_base")))
    B.install(90 + a.runs * len(SERVERS) * len(tools) * (a.dur + 30))
    out = B.results_dir("loadgen_vs_wrk")
    B.log(f"results in {out}")
    cmds = B.server_cmds(out, SERVERS)
    servers = {}
    for n in SERVERS:
        servers[n] = B.start_server(n, cmds[n], B.PORTS[n], out, budget_s=B.alarm_left() + 30)
        B.check_answers(servers[n], strict=True)
    rows = []
    for r in range(1, a.runs + 1):
        for n in SERVERS:
            for tool, fn in tools:
                s = servers[n]
                k0, c0 = B.cpu_ticks(s.pid), B.cpu_busy_ticks()
                res = fn(out, n, r, s.port, a.conns, a.dur)
                srv_cpu, c1 = (B.cpu_ticks(s.pid) - k0) / B.HZ, B.cpu_busy_ticks()
                # Server busy % over the tool's whole run: near 100 means the server set the pace.
                res["server_cpu_pct"] = 100 * srv_cpu / res["wall_s"]
                res["others_pct"] = B.others_pct(c0, c1, srv_cpu + res["tool_cpu_s"], res["wall_s"])
                res["tool_us_per_req"] = res["tool_cpu_s"] * 1e6 / res["replies"] if res["replies"] else None
                res.update(run=r, server=n, tool=tool)
                rows.append(res)
                B.log(f"{n:13} {tool:8} run {r}: {B.fmt(res['rps'])} req/s, p50 {B.fmt(res['p50_us'])} us, "
                      f"tool {B.fmt(res['tool_us_per_req'], 2)} us/req at {res['tool_cpu_pct']:.0f}%, "
                      f"server {res['server_cpu_pct']:.0f}%, others {res['others_pct']:.0f}%" + (f", errors {res['errors']}" if res["errors"] else ""))
                time.sleep(1)
    for s in servers.values():
        s.stop()
    B.write_json_lines(os.path.join(out, "runs.jsonl"), rows)

    facts = B.machine_facts()
    lines = ["# loadgen vs wrk", "", "    " + " ".join(f"{k}={v}" for k, v in facts.items()),
             f"    command: {'BASE_LOADGEN=' + base + ' ' if base else ''}python3 benches/loadgen_vs_wrk.py --runs {a.runs} --dur {a.dur} --conns {a.conns}", "",
             f"-t1 -c{a.conns}, {a.runs} runs x {a.dur} s per server and tool, interleaved; servers on cpu{B.SERVER_CPU}, "
             f"tools on cpu{B.CLIENT_CPU}. Medians [min-max].", "",
             "| server | tool | req/s | p50 us | tool CPU per request, us | tool CPU % | server CPU % | others % | errors |",
             "|---|---|---|---|---|---|---|---|---|"]
    for n in SERVERS:
        for tool, _ in tools:
            sel = [x for x in rows if x["server"] == n and x["tool"] == tool]
            lines.append(f"| {n} | {tool} | {B.med_range([x['rps'] for x in sel])} | "
                         f"{B.fmt(B.median(x['p50_us'] for x in sel))} | "
                         f"{B.med_range([x['tool_us_per_req'] for x in sel], 2)} | "
                         f"{B.fmt(B.median(x['tool_cpu_pct'] for x in sel))} | "
                         f"{B.fmt(B.median(x['server_cpu_pct'] for x in sel))} | "
                         f"{B.fmt(B.median(x['others_pct'] for x in sel))} | "
                         f"{','.join(str(x['errors']) for x in sel)} |")
        w = B.median(x["rps"] for x in rows if x["server"] == n and x["tool"] == "wrk")
        lg = B.median(x["rps"] for x in rows if x["server"] == n and x["tool"] == "loadgen")
        wc = B.median(x["tool_us_per_req"] for x in rows if x["server"] == n and x["tool"] == "wrk")
        lc = B.median(x["tool_us_per_req"] for x in rows if x["server"] == n and x["tool"] == "loadgen")
        if w and lg and wc and lc:
            lines.append(f"| {n} | loadgen/wrk | {lg / w:.2f}x | | {lc / wc:.2f}x | | | | |")
        bc = B.median(x["tool_us_per_req"] for x in rows if x["server"] == n and x["tool"] == "loadgen_base")
        if lc and bc:
            lines.append(f"| {n} | loadgen/loadgen_base | | | {lc / bc:.2f}x | | | | |")
    lines += ["", "tool CPU per request: the tool's utime+stime (its /proc/PID/stat at exit) over the replies it got "
              "(loadgen: warm-up included). A tool near 100% CPU set the pace; a server near 100% did. others % = CPU time on "
              "cpu0+cpu1 used by neither (the machine's other work, interrupts), out of 200: over 50, the run was disturbed."]
    B.write_summary(out, lines)


if __name__ == "__main__":
    B.run_main(main)
