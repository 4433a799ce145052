#!/usr/bin/env python3
"""tls_vs_nginx.py - readyloop's TLS (rustls, ring) beside nginx's (OpenSSL), in one interleaved run.

    python3 benches/tls_vs_nginx.py                     # --runs 5 --dur 5: about 12 minutes
    python3 benches/tls_vs_nginx.py --runs 2 --dur 2    # quick check: about 3 minutes
    python3 benches/tls_vs_nginx.py --only memory       # or --only load

Both servers get the same certificate, made by this run with openssl in RUN/tls/: a CA and a
leaf (ECDSA P-256, SAN IP:127.0.0.1), and answer GET / with 200 "Hello, World!":
  readyloop  tls://127.0.0.1:18490  readyloop --listen tls://... --tls-cert leaf.pem --tls-key leaf.key
                                    --idle-timeout 0 (session tickets on, TLS 1.2 and 1.3)
  nginx      127.0.0.1:18480 ssl    benches/nginx-tls.conf, one worker, ssl_session_cache shared:SSL:10m,
                                    ssl_session_tickets on, keepalive_requests 1000000
Servers pinned to CPU 0, every client to CPU 1. In each round every case below runs once against
each server, the servers in turn (readyloop, nginx, readyloop, nginx, ...), so drift hits both alike:
  ka_c50      loadgen https://... --cacert ca.pem -t1 -c50 -dDs --warmup 1s --json -     (keep-alive)
  ka_c50_wrk  wrk -t1 -c50 -dDs --latency https://...                                  (keep-alive)
  ka_c50p16   the loadgen line with --pipeline 16                                         (keep-alive)
  hs_full     the loadgen line with --per-conn 1 --no-resume: a full handshake per request
  hs_resumed  the loadgen line with --per-conn 1: a resumed handshake per request (TLS 1.3 tickets)
  stime_new   openssl s_time -connect ... -CAfile ca.pem -new -time D -www /  (one thread, a full
              handshake + GET / HTTP/1.0 per connection)
  stime_reuse the same with -reuse (every connection resumes the first one's session)
Per run: the server's CPU (utime+stime of its serving process, nginx: the worker, from /proc/PID/stat
over the client's whole run) divided by the requests (keep-alive) or the connections (handshakes)
the client counted over its whole run; the client's own CPU (its /proc/PID/stat at exit) likewise;
requests or handshakes per second (loadgen's measured rate, wrk's, s_time's connections over the
wall time of its process). Which handshakes happened is checked, not assumed: loadgen's tls.full and
tls.resumed, s_time's per-connection marks ('*' new, 'r' reused). "others %" as in the other drivers.

Memory part (--n N, default 2000): per server, VmRSS of the serving process before and while
benches/hold_conns.py holds N idle connections, each after a completed handshake and one GET / (--tls
CAFILE --get); (after - before) / N. Servers: readyloop TLS, readyloop plain (the same binary and
flags on a plain listener, :18491), nginx TLS.

Needs wrk, nginx (benches/setup.sh installs them when missing) and the openssl CLI (not installed
here: apt-get install openssl). Builds readyloop and loadgen (BUILD=0 skips). Results:
target/bench-results/tls_vs_nginx-<date>/ (runs.jsonl, memory.jsonl, raw/, tls/ with the certificates
and nginx's config, summary.md); tls_vs_nginx-latest links to the last.
"""
import argparse, json, os, re, shutil, ssl, socket, subprocess, sys, time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402
from server_vs_peers import read_line  # noqa: E402

SERVERS = ["readyloop", "nginx"]
PORTS = {"readyloop": 18490, "readyloop_plain": 18491, "nginx": 18480}
CASES = ["ka_c50", "ka_c50_wrk", "ka_c50p16", "hs_full", "hs_resumed", "stime_new", "stime_reuse"]
HANDSHAKE_CASES = {"hs_full", "hs_resumed", "stime_new", "stime_reuse"}
CONNS = 50


def make_certs(d):
    """A CA and a leaf for 127.0.0.1, both ECDSA P-256, in d (ca.pem, leaf.pem, leaf.key)."""
    os.makedirs(d, exist_ok=True)
    p = lambda f: os.path.join(d, f)  # noqa: E731
    with open(p("leaf.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")
    q = dict(timeout=60, capture_output=True)
    B.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", p("ca.key")], **q)
    B.run(["openssl", "req", "-x509", "-new", "-key", p("ca.key"), "-sha256", "-days", "30",
           "-subj", "/CN=readyloop bench CA", "-out", p("ca.pem")], **q)
    B.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", p("leaf.key")], **q)
    B.run(["openssl", "req", "-new", "-key", p("leaf.key"), "-subj", "/CN=127.0.0.1", "-out", p("leaf.csr")], **q)
    B.run(["openssl", "x509", "-req", "-in", p("leaf.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
           "-CAcreateserial", "-days", "30", "-sha256", "-extfile", p("leaf.ext"), "-out", p("leaf.pem")], **q)
    shutil.copy(os.path.join(B.BENCHES, "nginx-tls.conf"), p("nginx-tls.conf"))
    return d


def server_cmds(out, tls):
    rl = os.path.join(B.RELEASE, "readyloop")
    cert = ["--tls-cert", os.path.join(tls, "leaf.pem"), "--tls-key", os.path.join(tls, "leaf.key")]
    prefix = os.path.join(out, "nginx")
    os.makedirs(os.path.join(prefix, "tmp"), exist_ok=True)
    return {
        "readyloop": [rl, "--listen", f"tls://127.0.0.1:{PORTS['readyloop']}", "--idle-timeout", "0"] + cert,
        "readyloop_plain": [rl, "--listen", f"127.0.0.1:{PORTS['readyloop_plain']}", "--idle-timeout", "0"],
        "nginx": ["nginx", "-p", prefix + "/", "-e", os.path.join(prefix, "error.log"),
                  "-c", os.path.join(tls, "nginx-tls.conf")],
    }


def check_answer(name, port, ca):
    """One GET / over TLS (the certificate checked against ca): a 200 with "Hello, World!".
    Returns the response's size in bytes (head + body)."""
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            buf = b""
            while not buf.endswith(b"Hello, World!"):
                c = s.recv(4096)
                if not c or len(buf) > 4096:
                    break
                buf += c
            version, cipher = s.version(), s.cipher()[0]
    if not buf.startswith(b"HTTP/1.1 200") or not buf.endswith(b"\r\n\r\nHello, World!"):
        sys.exit(f"{name} does not answer GET / over TLS as expected: {buf[:200]!r}")
    B.log(f"{name}: answers over TLS checked ({len(buf)} bytes, {version}, {cipher} with Python's ssl)")
    return len(buf)


# --- the clients ---------------------------------------------------------------------------

def client_cmd(case, port, ca, dur):
    url = f"https://127.0.0.1:{port}/"
    lg = [os.path.join(B.RELEASE, "loadgen"), "run", url, "--cacert", ca, "-t1", f"-c{CONNS}", f"-d{dur}s",
          "--warmup", "1s", "--json", "-"]
    stime = ["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-CAfile", ca, "-time", str(dur), "-www", "/"]
    return {
        "ka_c50": lg,
        "ka_c50_wrk": ["wrk", "-t1", f"-c{CONNS}", f"-d{dur}s", "--latency", url],
        "ka_c50p16": lg + ["--pipeline", "16"],
        "hs_full": lg + ["--per-conn", "1", "--no-resume"],
        "hs_resumed": lg + ["--per-conn", "1"],
        "stime_new": stime + ["-new"],
        "stime_reuse": stime + ["-reuse"],
    }[case]


def parse_loadgen(text):
    try:
        j = json.loads(text[text.index("{"):])
    except ValueError:
        return None
    tls = j.get("tls") or {}
    peer = tls.get("peer") or {}
    return {"rate": j["throughput_rps"], "count": j["requests"]["completed"],
            "errors": sum(e["count"] for e in j["errors"]) + j.get("non_2xx_3xx", 0),
            "full": tls.get("full"), "resumed": tls.get("resumed"),
            "failed": sum((tls.get("failed") or {}).values()) if isinstance(tls.get("failed"), dict) else None,
            "version": peer.get("version"), "cipher": peer.get("cipher"),
            "self_us_per_req": (j.get("cpu") or {}).get("us_per_request"),
            "p50_us": j["latency_us"]["corrected"]["p50"]}


def parse_stime(text, wall):
    """openssl s_time: 'N connections in X real seconds' (X whole seconds, so the rate is taken over
    the process's own wall time) and one mark per connection: 'r' reused, anything else new."""
    m = re.search(r"(\d+) connections in \d+ real seconds", text)
    n = int(m.group(1)) if m else 0
    marks = "".join(l for l in text.splitlines() if re.fullmatch(r"[*r123t]+", l.strip() or "-"))
    reused = marks.count("r")
    return {"rate": n / wall if wall else None, "count": n, "errors": 0 if m else 1,
            "full": len(marks) - reused, "resumed": reused, "failed": None}


def run_case(out, case, server, r, ca, dur):
    cmd = client_cmd(case, PORTS[server], ca, dur)
    raw = os.path.join(out, "raw", f"{server}_{case}_r{r}.txt")
    k0, c0 = B.cpu_ticks(server_pids[server]), B.cpu_busy_ticks()
    text, rc, cli_cpu, wall = B.run_client(cmd, dur + 25, raw)
    srv_cpu, c1 = (B.cpu_ticks(server_pids[server]) - k0) / B.HZ, B.cpu_busy_ticks()
    if case == "ka_c50_wrk":
        w = B.parse_wrk(text)
        res = {"rate": w["rps"], "count": w["requests"], "errors": w["errors"] + w["non2xx"], "p50_us": w["p50_us"]}
    elif case.startswith("stime"):
        res = parse_stime(text, wall)
    else:
        res = parse_loadgen(text) or {"rate": None, "count": 0, "errors": -1}
    n = res["count"]
    res.update(case=case, server=server, run=r, rc=rc, wall_s=round(wall, 3), server_cpu_s=srv_cpu,
               server_cpu_pct=100 * srv_cpu / wall, client_cpu_s=cli_cpu, client_cpu_pct=100 * cli_cpu / wall,
               server_us_per=srv_cpu * 1e6 / n if n else None, client_us_per=cli_cpu * 1e6 / n if n else None,
               others_pct=B.others_pct(c0, c1, srv_cpu + cli_cpu, wall))
    kinds = f", full {res.get('full')} resumed {res.get('resumed')}" if case in HANDSHAKE_CASES else ""
    B.log(f"{server:9} {case:11} run {r}: {B.fmt(res['rate'])}/s, server {res['server_cpu_pct']:.0f}% "
          f"{B.fmt(res['server_us_per'], 2)} us each, client {res['client_cpu_pct']:.0f}% "
          f"{B.fmt(res['client_us_per'], 2)} us each, others {res['others_pct']:.0f}%{kinds}"
          + (f", errors {res['errors']}" if res["errors"] else "") + (f", exit {rc}" if rc else ""))
    return res


server_pids = {}


def load_part(out, tls, runs, dur, cases):
    ca = os.path.join(tls, "ca.pem")
    cmds = server_cmds(out, tls)
    servers, sizes = {}, {}
    for s in SERVERS:
        servers[s] = B.start_server(s, cmds[s], PORTS[s], out, budget_s=B.alarm_left() + 30, worker=(s == "nginx"))
        server_pids[s] = servers[s].pid
        sizes[s] = check_answer(s, PORTS[s], ca)
    for s in SERVERS:  # warm-up, not recorded
        B.run_client(client_cmd("ka_c50", PORTS[s], ca, 1), 30, os.path.join(out, "raw", f"warmup_{s}.txt"))
    rows = []
    for r in range(1, runs + 1):
        for case in cases:
            for s in SERVERS:
                rows.append(run_case(out, case, s, r, ca, dur))
                time.sleep(1)
    for s in servers.values():
        s.stop()
    B.write_json_lines(os.path.join(out, "runs.jsonl"), rows)
    return rows, sizes


# --- memory --------------------------------------------------------------------------------

def memory_part(out, tls, n):
    ca = os.path.join(tls, "ca.pem")
    cmds = server_cmds(out, tls)
    rows = []
    for name, use_tls in (("readyloop", True), ("readyloop_plain", False), ("nginx", True)):
        port = PORTS[name]
        s = B.start_server(name, cmds[name], port, out, budget_s=B.alarm_left() + 30, worker=(name == "nginx"))
        time.sleep(1)
        r0 = B.rss_kb(s.pid)
        holder = subprocess.Popen(["taskset", "-c", B.CLIENT_CPU, sys.executable,
                                   os.path.join(B.BENCHES, "hold_conns.py"), str(port), str(n), "--get",
                                   "--hold", "60", "--deadline", "45"] + (["--tls", ca] if use_tls else []),
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, close_fds=True)
        B._started.append(holder)
        ready = read_line(holder, 55)
        time.sleep(2)  # let the server settle
        r1, est = B.rss_kb(s.pid), B.established(port)
        B.stop(holder)
        time.sleep(1)
        r2 = B.rss_kb(s.pid)
        s.stop()
        opened = int(ready.split("opened=")[1].split()[0]) if "opened=" in ready else 0
        row = dict(server=name, tls=use_tls, n=n, opened=opened, established_server_side=est, rss_before_kb=r0,
                   rss_holding_kb=r1, rss_released_kb=r2,
                   bytes_per_conn=round((r1 - r0) * 1024 / opened) if opened else None, holder=ready.strip())
        rows.append(row)
        B.log(f"{name}: {ready.strip()}; RSS {r0} -> {r1} kB (released: {r2}): {row['bytes_per_conn']} B per connection")
        time.sleep(1)
    B.write_json_lines(os.path.join(out, "memory.jsonl"), rows)
    return rows


# --- the summary ---------------------------------------------------------------------------

def sel(rows, case, server):
    return [x for x in rows if x["case"] == case and x["server"] == server]


def per_round(rows, case, field):
    """readyloop's field over nginx's, round by round: 'median [min-max]'."""
    by = {(x["server"], x["run"]): x[field] for x in rows if x["case"] == case}
    q = [by[("readyloop", r)] / by[("nginx", r)] for (s, r) in by
         if s == "nginx" and by[(s, r)] and by.get(("readyloop", r))]
    return B.med_range(q, 2)


def notes(xs, gen_field="client_cpu_pct"):
    n = []
    g = B.median(x[gen_field] for x in xs)
    if g is not None and g > 90:
        n.append("generator-bound")
    d = sum(1 for x in xs if x["others_pct"] > 50)
    if d:
        n.append(f"{d}/{len(xs)} runs disturbed")
    bad = sum(1 for x in xs if x["errors"] or x["rc"] or not x["rate"])
    if bad:
        n.append(f"{bad} runs with errors")
    return ", ".join(n)


def load_tables(rows, cases, runs, dur, sizes):
    v = next((x for x in rows if x.get("version")), {})
    lines = [f"{runs} runs x {dur} s per server and case, interleaved (readyloop, nginx in turn); servers on "
             f"cpu{B.SERVER_CPU}, clients on cpu{B.CLIENT_CPU}; {v.get('version')} {v.get('cipher')} (loadgen's "
             f"view), ECDSA P-256 certificate. Answers to GET /: readyloop {sizes.get('readyloop')} bytes, nginx "
             f"{sizes.get('nginx')} bytes (its Server, Date, Content-Type and Connection headers). Medians [min-max]; "
             "readyloop/nginx is the ratio round by round.", ""]
    ka = [c for c in ("ka_c50", "ka_c50_wrk", "ka_c50p16") if c in cases]
    if ka:
        lines += ["Keep-alive HTTPS: server CPU per request", "",
                  "| case | server | req/s | server CPU per request, us | readyloop/nginx | server CPU % "
                  "| generator CPU % | others % | note |", "|---|---|---|---|---|---|---|---|---|"]
        for c in ka:
            for s in SERVERS:
                xs = sel(rows, c, s)
                lines.append(f"| {c} | {s} | {B.med_range([x['rate'] for x in xs])} | "
                             f"{B.med_range([x['server_us_per'] for x in xs], 2)} | "
                             f"{per_round(rows, c, 'server_us_per') if s == 'readyloop' else ''} | "
                             f"{B.fmt(B.median(x['server_cpu_pct'] for x in xs))} | "
                             f"{B.fmt(B.median(x['client_cpu_pct'] for x in xs))} | "
                             f"{B.fmt(B.median(x['others_pct'] for x in xs))} | {notes(xs)} |")
        lines.append("")
    hs = [c for c in ("hs_full", "hs_resumed", "stime_new", "stime_reuse") if c in cases]
    if hs:
        lines += ["Handshakes (a new connection, its handshake and one GET / each)", "",
                  "| case | server | handshakes/s | server CPU per handshake, us | = per core, /s | readyloop/nginx "
                  "(CPU) | server CPU % | client CPU % | client CPU per handshake, us | full / resumed (all runs) "
                  "| others % | note |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for c in hs:
            for s in SERVERS:
                xs = sel(rows, c, s)
                us = B.median(x["server_us_per"] for x in xs)
                full = sum(x.get("full") or 0 for x in xs)
                res = sum(x.get("resumed") or 0 for x in xs)
                lines.append(f"| {c} | {s} | {B.med_range([x['rate'] for x in xs])} | "
                             f"{B.med_range([x['server_us_per'] for x in xs], 1)} | {B.fmt(1e6 / us if us else None)} | "
                             f"{per_round(rows, c, 'server_us_per') if s == 'readyloop' else ''} | "
                             f"{B.fmt(B.median(x['server_cpu_pct'] for x in xs))} | "
                             f"{B.fmt(B.median(x['client_cpu_pct'] for x in xs))} | "
                             f"{B.med_range([x['client_us_per'] for x in xs], 1)} | {full:,} / {res:,} | "
                             f"{B.fmt(B.median(x['others_pct'] for x in xs))} | {notes(xs)} |")
        lines.append("")
    if "ka_c50" in cases and "ka_c50_wrk" in cases:
        lines += ["Generator CPU per request over HTTPS, -t1 -c50 keep-alive (the ka_c50 and ka_c50_wrk runs above)", "",
                  "| server | tool | req/s | tool CPU per request, us | tool CPU % | loadgen/wrk |",
                  "|---|---|---|---|---|---|"]
        for s in SERVERS:
            for c, tool in (("ka_c50_wrk", "wrk"), ("ka_c50", "loadgen")):
                xs = sel(rows, c, s)
                ratio = ""
                if tool == "loadgen":
                    by = {(x["case"], x["run"]): x["client_us_per"] for x in rows if x["server"] == s}
                    q = [by[("ka_c50", r)] / by[("ka_c50_wrk", r)] for (cc, r) in by
                         if cc == "ka_c50_wrk" and by[(cc, r)] and by.get(("ka_c50", r))]
                    ratio = B.med_range(q, 2)
                lines.append(f"| {s} | {tool} | {B.med_range([x['rate'] for x in xs])} | "
                             f"{B.med_range([x['client_us_per'] for x in xs], 2)} | "
                             f"{B.fmt(B.median(x['client_cpu_pct'] for x in xs))} | {ratio} |")
        lines.append("")
    lines += ["Server CPU = utime+stime of the serving process (nginx: its worker) over the client's whole run, "
              "divided by what the client counted over its whole run (loadgen: requests completed, warm-up "
              "included; wrk: its requests; s_time: its connections). Client CPU likewise from the client's own "
              "/proc/PID/stat. Per core = 1e6 / server CPU per handshake: the handshakes one core would do at "
              "100%. generator-bound = the client above 90% of its core (then the rate is the client's, and CPU "
              "per request or handshake is the figure to compare). others % = CPU time on cpu0+cpu1 used by "
              "neither (other work, interrupts), out of 200; over 50 a run is disturbed."]
    return lines


def memory_table(rows, n):
    lines = [f"Memory per idle connection: N = {n} held by benches/hold_conns.py --get (each after its handshake "
             "and one GET /); VmRSS of the serving process.", "",
             "| server | opened | established (server side) | RSS before kB | RSS holding kB | RSS released kB "
             "| bytes / connection |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['server']}{' (TLS)' if r['tls'] else ' (plain)'} | {r['opened']} | "
                     f"{r['established_server_side']} | {r['rss_before_kb']} | {r['rss_holding_kb']} | "
                     f"{r['rss_released_kb']} | {B.fmt(r['bytes_per_conn'])} |")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dur", type=int, default=5)
    ap.add_argument("--n", type=int, default=2000, help="idle connections held in the memory part")
    ap.add_argument("--cases", default=" ".join(CASES), help=f"cases of the load part (default: {' '.join(CASES)})")
    ap.add_argument("--only", choices=["load", "memory"])
    a = ap.parse_args()
    cases = a.cases.split()
    for c in cases:
        if c not in CASES:
            sys.exit(f"unknown case {c} (known: {' '.join(CASES)})")
    parts = [a.only] if a.only else ["load", "memory"]
    if not shutil.which("openssl"):
        sys.exit("the openssl CLI is missing (it makes the certificates and runs s_time): apt-get install openssl")
    B.ensure_tools(("wrk", "nginx"))
    B.build_readyloop(("readyloop", "loadgen"))
    budget = 90
    if "load" in parts:
        budget += len(SERVERS) * (40 + len(cases) * a.runs * (a.dur + 30))
    if "memory" in parts:
        budget += 3 * 130
    B.install(budget)
    out = B.results_dir("tls_vs_nginx")
    B.log(f"results in {out}")
    tls = make_certs(os.path.join(out, "tls"))
    facts = B.machine_facts()
    facts["openssl"] = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()
    summary = ["# readyloop TLS vs nginx TLS", "", "    " + " ".join(f"{k}={v}" for k, v in facts.items()),
               f"    command: python3 benches/tls_vs_nginx.py --runs {a.runs} --dur {a.dur} --n {a.n}"
               + (f" --cases '{a.cases}'" if cases != CASES else "") + (f" --only {a.only}" if a.only else ""), ""]
    if "load" in parts:
        rows, sizes = load_part(out, tls, a.runs, a.dur, cases)
        summary += load_tables(rows, cases, a.runs, a.dur, sizes) + [""]
    if "memory" in parts:
        summary += memory_table(memory_part(out, tls, a.n), a.n) + [""]
    B.write_summary(out, summary)


if __name__ == "__main__":
    B.run_main(main)
