#!/usr/bin/env python3
"""amplification.py - what an "output amplification" attack does to readyloop's HTTP server.

    python3 benches/amplification.py                          # the current build; about 40 s
    python3 benches/amplification.py --bin /tmp/old/target/release/readyloop   # any other build

The attack: --attackers (4) connections each write 60 KB blocks of pipelined
"GET /bytes/16384 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n" back to back (about 38 bytes in, 16 KiB out per
request) and read and discard what comes back so they can keep writing
(benches/amplify_attacker.py, for the victim's warm-up + --dur + 1 s). Meanwhile a victim
measures the server at a modest fixed rate, open loop, so a stall shows in its corrected latency:
    loadgen http://127.0.0.1:PORT/ -R 2000 -c 10 -d 10s --json FILE
The victim runs first alone (the baseline), then under attack. Reported: the server's VmRSS
(/proc/PID/status) before, at its peak during the attack, at the end of it, and after the
attackers are gone; the victim's corrected p99 / p99.9 / max with and without the attack (and
its send lag p99, the generator's own lateness); the server's longest reactor turn and p99 turn
from its admin endpoint (GET /stats: stats.turn_max_us, stats.turn_p99_us; "n/a" on a build
without them) after the baseline and after the attack.

The server (started as BIN --listen 127.0.0.1:PORT --admin 127.0.0.1:APORT, otherwise its
defaults) runs on CPU 0, victim and attacker on CPU 1, the attacker as SCHED_IDLE (chrt --idle)
so the victim gets that CPU first; the victim's send lag and loadgen's behind_schedule verdict are
reported, since a generator late on its own schedule inflates the corrected latency. --bin defaults to target/release/readyloop, built with cargo unless BUILD=0;
--loadgen to target/release/loadgen (built likewise). Results:
target/bench-results/amplification-<date>/ (victim JSON, attacker line, summary.md).
"""
import argparse, json, os, subprocess, sys, threading, time, urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402


def admin_stats(port):
    """(stats object, error string): GET /stats of the admin endpoint."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as r:
            return json.loads(r.read()), None
    except Exception as e:  # noqa: BLE001 - any failure is reported, not fatal
        return None, str(e)


def turns(j):
    s = (j or {}).get("stats", {})
    return s.get("turn_max_us"), s.get("turn_p99_us")


def victim(lg, port, a, out, tag):
    jf = os.path.join(out, f"victim_{tag}.json")
    cmd = [lg, f"http://127.0.0.1:{port}/", "-R", str(a.rate), "-c", str(a.conns), "-t", "1", "-d", f"{a.dur}s",
           "--warmup", f"{a.warmup}s", "--json", jf]
    text, rc, cpu, wall = B.run_client(cmd, a.dur + 30, os.path.join(out, "raw", f"victim_{tag}.txt"))
    try:
        with open(jf) as f:
            j = json.load(f)
    except (OSError, ValueError):
        B.log(f"victim ({tag}) wrote no JSON (exit {rc}); see raw/victim_{tag}.txt")
        return {"rc": rc}
    c = j["latency_us"]["corrected"]
    lag = (j.get("send_lag_us") or {}).get("p99")
    st = j.get("statuses", {})
    return {"rc": rc, "p50": c["p50"], "p99": c["p99"], "p99_9": c["p99_9"], "max": c["max"],
            "raw_p99": j["latency_us"]["raw"]["p99"], "rps": j["throughput_rps"], "send_lag_p99": lag,
            "behind_schedule": j.get("behind_schedule"), "errors": sum(e["count"] for e in j["errors"]),
            "non200": sum(v for k, v in st.items() if k != "200"), "measured": j["requests"]["measured"],
            "connect_max": j["connect_us"]["max"], "connects_measured": j["connect_us"]["count"]}


def mib(kb):
    return f"{kb / 1024:.1f} MiB" if kb is not None else "n/a"


def us(v):
    return "n/a" if v is None else f"{v:,.0f} us"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", help="readyloop binary to attack (default: target/release/readyloop, built)")
    ap.add_argument("--loadgen", help="loadgen binary for the victim (default: target/release/loadgen, built)")
    ap.add_argument("--attackers", type=int, default=4)
    ap.add_argument("--write-kb", type=int, default=60)
    ap.add_argument("--path", default="/bytes/16384")
    ap.add_argument("--dur", type=int, default=10, help="victim's measured seconds (after its 1 s warm-up)")
    ap.add_argument("--warmup", type=int, default=1, help="victim's warm-up seconds (loadgen's default 1; with 0 "
                    "its connects are measured too)")
    ap.add_argument("--rate", type=int, default=2000)
    ap.add_argument("--conns", type=int, default=10)
    ap.add_argument("--port", type=int, default=18095)
    ap.add_argument("--admin-port", type=int, default=18096)
    a = ap.parse_args()

    want = [] if a.bin else ["readyloop"]
    want += [] if a.loadgen else ["loadgen"]
    if want:
        B.build_readyloop(tuple(want))
    binary = os.path.abspath(a.bin or os.path.join(B.RELEASE, "readyloop"))
    lg = os.path.abspath(a.loadgen or os.path.join(B.RELEASE, "loadgen"))
    for p in (binary, lg):
        if not os.access(p, os.X_OK):
            sys.exit(f"not an executable: {p}")
    attack_dur = a.dur + a.warmup + 1  # the victim's warm-up + measured time + 1 s
    B.install(60 + 2 * (a.dur + 30) + attack_dur + 30)
    out = B.results_dir("amplification")
    B.log(f"results in {out}")

    srv = B.start_server("readyloop", [binary, "--listen", f"127.0.0.1:{a.port}", "--admin",
                                       f"127.0.0.1:{a.admin_port}"], a.port, out, budget_s=B.alarm_left() + 30)
    for _ in range(50):
        j0, err = admin_stats(a.admin_port)
        if j0:
            break
        time.sleep(0.1)
    if not j0:
        sys.exit(f"admin endpoint 127.0.0.1:{a.admin_port} does not answer: {err}")
    time.sleep(0.5)
    rss_start = B.rss_kb(srv.pid)

    B.log(f"baseline: victim alone, {a.rate}/s over {a.conns} connections for {a.dur} s")
    base = victim(lg, a.port, a, out, "baseline")
    j_base, _ = admin_stats(a.admin_port)
    rss_before = B.rss_kb(srv.pid)

    B.log(f"attack: {a.attackers} connections x {a.write_kb} KB writes of GET {a.path} for {attack_dur} s, "
          "victim again")
    attacker = subprocess.Popen(["taskset", "-c", B.CLIENT_CPU, "chrt", "--idle", "0", sys.executable,
                                 os.path.join(B.BENCHES, "amplify_attacker.py"), str(a.port), "--conns",
                                 str(a.attackers), "--dur", str(attack_dur), "--write-kb", str(a.write_kb),
                                 "--path", a.path],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                close_fds=True)
    B._started.append(attacker)
    time.sleep(0.5)  # the attack is in force before the victim starts
    peak = [B.rss_kb(srv.pid)]
    sampling = threading.Event()

    def sample():
        while not sampling.is_set():
            try:
                peak.append(B.rss_kb(srv.pid))
            except OSError:
                return
            sampling.wait(0.1)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    hit = victim(lg, a.port, a, out, "attack")
    j_att, err_att = admin_stats(a.admin_port)
    rss_end = B.rss_kb(srv.pid)
    try:
        att_out, _ = attacker.communicate(timeout=attack_dur + 30)
    except subprocess.TimeoutExpired:
        B.stop(attacker)
        att_out = b""
    if attacker in B._started:
        B._started.remove(attacker)
    sampling.set()
    th.join(1)
    time.sleep(1)
    rss_after = B.rss_kb(srv.pid)
    j_after, _ = admin_stats(a.admin_port)
    srv.stop()
    att = att_out.decode(errors="replace").strip().splitlines()
    att_line = att[-1] if att else ""
    try:
        att_j = json.loads(att_line)
    except ValueError:
        att_j = {}

    peak += [rss_end, rss_after]  # the largest seen, during the attack and 1 s after it
    tb, ta = turns(j_base), turns(j_att)
    s_after = (j_after or j_att or {}).get("stats", {})
    res = {"bin": binary, "loadgen": lg, "attackers": a.attackers, "write_kb": a.write_kb, "path": a.path,
           "rss_kb": {"start": rss_start, "before_attack": rss_before, "peak_during": max(peak),
                      "end_of_attack": rss_end, "after_release": rss_after},
           "victim_baseline": base, "victim_attack": hit, "attacker": att_j,
           "turns_after_baseline": {"max_us": tb[0], "p99_us": tb[1]},
           "turns_after_attack": {"max_us": ta[0], "p99_us": ta[1]}, "admin_error_after_attack": err_att,
           "server_closed": s_after.get("closed"), "server_requests": s_after.get("requests"),
           "server_bytes_out": s_after.get("bytes_out")}
    with open(os.path.join(out, "result.json"), "w") as f:
        json.dump(res, f, indent=1)

    growth = max(peak) - rss_before
    closed = {k: v for k, v in (s_after.get("closed") or {}).items() if v}
    lines = ["# Output amplification", "",
             "    " + " ".join(f"{k}={v}" for k, v in B.machine_facts().items()),
             f"    command: python3 benches/amplification.py" + (f" --bin {a.bin}" if a.bin else "")
             + f" --attackers {a.attackers} --dur {a.dur} --warmup {a.warmup} --rate {a.rate} --conns {a.conns}",
             f"    server: {binary} (modified {time.strftime('%Y-%m-%d %H:%M', time.localtime(os.path.getmtime(binary)))}; "
             "git= above is this repository's HEAD at run time, not necessarily the binary's)", "",
             f"Attack: {a.attackers} connections, {a.write_kb} KB writes of pipelined GET {a.path} "
             f"({att_j.get('requests_per_write', '?')} requests per write) for {attack_dur} s; "
             f"victim: loadgen -R {a.rate} -c {a.conns} -d {a.dur}s --warmup {a.warmup}s (open loop, corrected latency).", "",
             "| | no attack | under attack |", "|---|---|---|",
             f"| victim corrected p99 | {us(base.get('p99'))} | {us(hit.get('p99'))} |",
             f"| victim corrected p99.9 / max | {us(base.get('p99_9'))} / {us(base.get('max'))} | "
             f"{us(hit.get('p99_9'))} / {us(hit.get('max'))} |",
             f"| victim p50 | {us(base.get('p50'))} | {us(hit.get('p50'))} |",
             f"| victim req/s (errors, non-200) | {B.fmt(base.get('rps'))} ({base.get('errors')}, {base.get('non200')}) | "
             f"{B.fmt(hit.get('rps'))} ({hit.get('errors')}, {hit.get('non200')}) |",
             f"| victim raw p99 (from the actual send) | {us(base.get('raw_p99'))} | {us(hit.get('raw_p99'))} |",
             f"| victim send lag p99 (generator's own), behind schedule | {us(base.get('send_lag_p99'))}, "
             f"{base.get('behind_schedule')} | {us(hit.get('send_lag_p99'))}, {hit.get('behind_schedule')} |",
             f"| server turn max / p99 (admin, cumulative) | {us(tb[0])} / {us(tb[1])} | {us(ta[0])} / {us(ta[1])} |",
             f"| server VmRSS | {mib(rss_before)} | peak {mib(max(peak))}, end of victim run {mib(rss_end)} |", "",
             f"Server RSS growth under attack: {growth / 1024:+.1f} MiB (peak {mib(max(peak))} against {mib(rss_before)} "
             f"before; {mib(rss_after)} 1 s after the attackers left; {mib(rss_start)} at start).",
             f"Attacker: wrote {att_j.get('written', 0) / 1e6:.1f} MB, read {att_j.get('read', 0) / 1e6:.1f} MB, "
             f"{att_j.get('opened', '?')} connections opened, {att_j.get('closed_by_server', '?')} closed by the server.",
             f"Server closes by reason: {closed or '{}'}" + (f"; admin after the attack: {err_att}" if err_att else ""),
             "turn figures are cumulative since the server started (after the baseline: the baseline alone)."]
    if ta[0] is None:
        lines.append("turn figures n/a: this build's /stats has no stats.turn_max_us / stats.turn_p99_us.")
    B.write_summary(out, lines)


if __name__ == "__main__":
    B.run_main(main)
