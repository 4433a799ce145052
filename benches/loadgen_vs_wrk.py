#!/usr/bin/env python3
"""loadgen_vs_wrk.py - loadgen and wrk as load generators, side by side, same servers, same run.

    python3 benches/loadgen_vs_wrk.py [--runs 3] [--dur 10] [--conns 50]   # defaults: about 2.5 minutes
    python3 benches/loadgen_vs_wrk.py --runs 2 --dur 3                     # quick check: under a minute
    python3 benches/loadgen_vs_wrk.py --pipeline 16 --runs 5 --dur 8       # 16 requests in flight per connection
    python3 benches/loadgen_vs_wrk.py --pipeline 16 --syscalls 4           # + system calls per request, counted

Servers: the C reference (benches/peers/c_epoll_http.c, :18081) and readyloop --idle-timeout 0
(:18090), pinned to CPU 0; the tool on CPU 1. In each round every server gets wrk then loadgen,
so drift hits both tools alike:
    wrk -t1 -cC -dDs --latency URL
    loadgen run URL -t1 -cC -dDs --warmup 1s --json -
Per run: requests/s, p50 (wrk's; loadgen's corrected p50, closed loop so the same as raw), the
tool's CPU per request (utime+stime of the tool's process from its /proc/PID/stat at exit,
over every reply it got, loadgen's warm-up included), the tool's CPU % and the server's.
--pipeline D (D > 1): the same runs with D requests in flight per connection, answered in order:
    wrk -t1 -cC -dDs --latency -s benches/pipeline.lua URL -- D   (D requests per write; each response counted)
    loadgen run URL -t1 -cC -dDs --warmup 1s --pipeline D --json -
wrk then writes D requests at once and the next D only when all D are answered; loadgen sends D at once
and one more per reply (those a read's replies free go out in one write). wrk's latency is per batch (from its write to the batch's last response),
loadgen's per request: in this mode the p50 column compares different things.
--syscalls SECONDS: after the measured rounds, one more run of each tool against each server, that long,
under `perf stat -e raw_syscalls:sys_enter,...` (needs perf), not in the medians: the tool's system calls
per reply, all and by kind (reads, writes, epoll). A pipelining client needs far fewer than 2.
wrk installed by benches/setup.sh when missing; readyloop and loadgen built with cargo
(BUILD=0 skips). BASE_LOADGEN=/path/to/another/loadgen adds that build as a third tool in
every round (before/after a change, same run). Results: target/bench-results/loadgen_vs_wrk-<date>/
(loadgen_vs_wrk_pD-<date>/ with --pipeline D).
"""
import argparse, json, os, shutil, sys, time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

SERVERS = ["c_epoll_http", "readyloop"]


PIPELINE_LUA = os.path.join(B.BENCHES, "pipeline.lua")


def wrk_cmd(port, conns, dur, depth):
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{dur}s", "--latency"]
    if depth > 1:
        cmd += ["-s", PIPELINE_LUA]
    cmd.append(f"http://127.0.0.1:{port}/")
    return cmd + (["--", str(depth)] if depth > 1 else [])


def loadgen_cmd(binary, port, conns, dur, depth):
    return ([binary, "run", f"http://127.0.0.1:{port}/", "-t1", f"-c{conns}", f"-d{dur}s", "--warmup", "1s"]
            + (["--pipeline", str(depth)] if depth > 1 else []) + ["--json", "-"])


def run_wrk(out, name, r, port, conns, dur, depth=1):
    text, rc, cpu, wall = B.run_client(wrk_cmd(port, conns, dur, depth), dur + 20,
                                       os.path.join(out, "raw", f"{name}_wrk_r{r}.txt"))
    w = B.parse_wrk(text)
    return {"rps": w["rps"], "p50_us": w["p50_us"], "replies": w["requests"], "rc": rc, "tool_cpu_s": cpu,
            "tool_cpu_pct": 100 * cpu / wall, "errors": w["errors"] + w["non2xx"], "wall_s": wall}


def run_loadgen(out, name, r, port, conns, dur, depth=1, binary=None, label="loadgen"):
    binary = binary or os.path.join(B.RELEASE, "loadgen")
    text, rc, cpu, wall = B.run_client(loadgen_cmd(binary, port, conns, dur, depth),
                                       dur + 25, os.path.join(out, "raw", f"{name}_{label}_r{r}.json"))
    try:
        j = json.loads(text[text.index("{"):])
    except ValueError:
        return {"rps": None, "p50_us": None, "replies": 0, "rc": rc or 1, "tool_cpu_s": cpu,
                "tool_cpu_pct": 100 * cpu / wall, "errors": -1, "wall_s": wall}
    return {"rps": j["throughput_rps"], "p50_us": j["latency_us"]["corrected"]["p50"],
            "replies": j["requests"]["completed"], "rc": rc, "tool_cpu_s": cpu, "tool_cpu_pct": 100 * cpu / wall,
            "errors": sum(e["count"] for e in j["errors"]), "wall_s": wall,
            "pipeline": j.get("pipeline"), "self_us_per_req": (j.get("cpu") or {}).get("us_per_request")}


# System calls counted per tool run (--syscalls): perf's tracepoints, by kind.
SYSCALL_KINDS = {
    "reads": ("read", "readv", "recvfrom", "recvmsg"),
    "writes": ("write", "writev", "sendto", "sendmsg"),
    "epoll": ("epoll_wait", "epoll_pwait", "epoll_pwait2", "epoll_ctl"),
}


def count_syscalls(out, name, tool, cmd, dur, replies_of):
    """Run cmd under `perf stat` (pinned like the measured runs) and return its system calls per
    reply: all, and reads / writes / epoll. replies_of(text) -> replies the tool counted."""
    events = ["raw_syscalls:sys_enter"] + [f"syscalls:sys_enter_{c}" for k in SYSCALL_KINDS.values() for c in k]
    pfile = os.path.join(out, "raw", f"{name}_{tool}_syscalls.perf")
    text, rc, _, wall = B.run_client(["perf", "stat", "-x,", "-o", pfile, "-e", ",".join(events), "--"] + cmd,
                                     dur + 25, os.path.join(out, "raw", f"{name}_{tool}_syscalls.txt"))
    counts = {}
    with open(pfile) as f:
        for line in f:
            v = line.strip().split(",")
            if len(v) > 2 and v[0].isdigit():
                counts[v[2].split(":")[-1].replace("sys_enter_", "")] = int(v[0])
    replies = replies_of(text)
    res = {"server": name, "tool": tool, "rc": rc, "wall_s": wall, "replies": replies, "counts": counts}
    if replies:
        res["all_per_req"] = counts.get("sys_enter", 0) / replies
        for k, calls in SYSCALL_KINDS.items():
            res[f"{k}_per_req"] = sum(counts.get(c, 0) for c in calls) / replies
    return res


def wrk_replies(text):
    return B.parse_wrk(text)["requests"]


def loadgen_replies(text):
    try:
        return json.loads(text[text.index("{"):])["requests"]["completed"]
    except (ValueError, KeyError):
        return 0


def per_round(rows, server, other):
    """' (per round: median [min-max])' of loadgen's CPU per request over `other`'s, round by round."""
    by = {(x["tool"], x["run"]): x["tool_us_per_req"] for x in rows if x["server"] == server}
    q = [by[("loadgen", r)] / by[(other, r)] for (t, r) in by
         if t == other and by[(t, r)] and by.get(("loadgen", r))]
    return f" (per round: {B.med_range(q, 2)})" if len(q) > 1 else ""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dur", type=int, default=10)
    ap.add_argument("--conns", type=int, default=50)
    ap.add_argument("--pipeline", type=int, default=1, metavar="D",
                    help="requests in flight per connection: loadgen --pipeline D, wrk -s benches/pipeline.lua -- D")
    ap.add_argument("--syscalls", type=int, default=0, metavar="SECONDS",
                    help="then one run per server and tool of SECONDS under perf stat: system calls per reply")
    a = ap.parse_args()
    if a.pipeline < 1:
        sys.exit("--pipeline must be >= 1")
    if a.syscalls and not shutil.which("perf"):
        sys.exit("--syscalls needs perf (Debian: apt-get install linux-perf)")
    B.ensure_tools(("wrk",))
    B.build_readyloop(("readyloop", "loadgen"))
    B.build_c()
    tools = [("wrk", run_wrk), ("loadgen", run_loadgen)]
    base = os.environ.get("BASE_LOADGEN")
    if base:
        tools.append(("loadgen_base", lambda out, n, r, port, conns, dur, depth:
                      run_loadgen(out, n, r, port, conns, dur, depth, binary=base, label="loadgen_base")))
    B.install(90 + (a.runs * (a.dur + 30) + (a.syscalls + 30 if a.syscalls else 0)) * len(SERVERS) * len(tools))
    out = B.results_dir("loadgen_vs_wrk" + (f"_p{a.pipeline}" if a.pipeline > 1 else ""))
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
                res = fn(out, n, r, s.port, a.conns, a.dur, a.pipeline)
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
    sysc = []
    if a.syscalls:
        for n in SERVERS:
            for tool, _ in tools:
                binary = base if tool == "loadgen_base" else os.path.join(B.RELEASE, "loadgen")
                cmd = (wrk_cmd(servers[n].port, a.conns, a.syscalls, a.pipeline) if tool == "wrk" else
                       loadgen_cmd(binary, servers[n].port, a.conns, a.syscalls, a.pipeline))
                res = count_syscalls(out, n, tool, cmd, a.syscalls, wrk_replies if tool == "wrk" else loadgen_replies)
                sysc.append(res)
                B.log(f"{n:13} {tool:8} syscalls: {B.fmt(res.get('all_per_req'), 3)} per reply (reads "
                      f"{B.fmt(res.get('reads_per_req'), 3)}, writes {B.fmt(res.get('writes_per_req'), 3)}, epoll "
                      f"{B.fmt(res.get('epoll_per_req'), 3)}) over {res['replies']:,} replies")
                time.sleep(1)
    for s in servers.values():
        s.stop()
    B.write_json_lines(os.path.join(out, "runs.jsonl"), rows)
    if sysc:
        B.write_json_lines(os.path.join(out, "syscalls.jsonl"), sysc)

    facts = B.machine_facts()
    piped = a.pipeline > 1
    flags = (f" --pipeline {a.pipeline}" if piped else "") + (f" --syscalls {a.syscalls}" if a.syscalls else "")
    lines = ["# loadgen vs wrk" + (f", pipelined {a.pipeline} deep" if piped else ""), "",
             "    " + " ".join(f"{k}={v}" for k, v in facts.items()),
             f"    command: {'BASE_LOADGEN=' + base + ' ' if base else ''}python3 benches/loadgen_vs_wrk.py --runs {a.runs} --dur {a.dur} --conns {a.conns}{flags}", "",
             f"-t1 -c{a.conns}, {a.runs} runs x {a.dur} s per server and tool, interleaved; servers on cpu{B.SERVER_CPU}, "
             f"tools on cpu{B.CLIENT_CPU}. Medians [min-max]."
             + (f" Pipelined: wrk -s benches/pipeline.lua -- {a.pipeline} (each response counted as a request), "
                f"loadgen --pipeline {a.pipeline}; p50 is per batch for wrk, per request for loadgen." if piped else ""), "",
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
            lines.append(f"| {n} | loadgen/wrk | {lg / w:.2f}x | | {lc / wc:.2f}x{per_round(rows, n, 'wrk')} | | | | |")
        bc = B.median(x["tool_us_per_req"] for x in rows if x["server"] == n and x["tool"] == "loadgen_base")
        if lc and bc:
            lines.append(f"| {n} | loadgen/loadgen_base | | | {lc / bc:.2f}x{per_round(rows, n, 'loadgen_base')} | | | | |")
    lines += ["", "tool CPU per request: the tool's utime+stime (its /proc/PID/stat at exit) over the replies it got "
              "(loadgen: warm-up included). A tool near 100% CPU set the pace; a server near 100% did. others % = CPU time on "
              "cpu0+cpu1 used by neither (the machine's other work, interrupts), out of 200: over 50, the run was disturbed. "
              "Per round: loadgen's figure over the other tool's in the same round (back to back on the same server), "
              "median [min-max] over the rounds."]
    disturbed = [x for x in rows if x["others_pct"] > 50]
    if disturbed:
        quiet = [x for x in rows if x["others_pct"] <= 50]
        lines += ["", f"Disturbed runs (others over 50%): {len(disturbed)} of {len(rows)}. The undisturbed runs alone:", ""]
        lines += ["| server | tool | runs | req/s | tool CPU per request, us | others % |", "|---|---|---|---|---|---|"]
        for n in SERVERS:
            for tool, _ in tools:
                sel = [x for x in quiet if x["server"] == n and x["tool"] == tool]
                lines.append(f"| {n} | {tool} | {len(sel)} | {B.med_range([x['rps'] for x in sel])} | "
                             f"{B.med_range([x['tool_us_per_req'] for x in sel], 2)} | "
                             f"{B.fmt(B.median(x['others_pct'] for x in sel))} |")
    if sysc:
        lines += ["", f"System calls per reply ({a.syscalls} s per server and tool under perf stat, after the measured rounds, "
                  "not in the medians; loadgen: warm-up included):", "",
                  "| server | tool | replies | all | reads | writes | epoll |", "|---|---|---|---|---|---|---|"]
        for x in sysc:
            lines.append(f"| {x['server']} | {x['tool']} | {x['replies']:,} | {B.fmt(x.get('all_per_req'), 3)} | "
                         f"{B.fmt(x.get('reads_per_req'), 3)} | {B.fmt(x.get('writes_per_req'), 3)} | "
                         f"{B.fmt(x.get('epoll_per_req'), 3)} |")
    B.write_summary(out, lines)


if __name__ == "__main__":
    B.run_main(main)
