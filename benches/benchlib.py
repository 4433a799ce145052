"""benchlib.py - what the benchmark drivers in benches/ share (import it, don't run it).

Everything a run needs is in benches/: the reference peers' sources (peers/), the nginx
config, the wrk script, the connection holder. Builds go to target/ (never into the source
tree), results to target/bench-results/<bench>-<date>/.

Rules every driver keeps: traffic to 127.0.0.1 only; servers pinned to CPU 0 and clients to
CPU 1; every server runs under `timeout` and every client is killed past its own deadline;
a watchdog (SIGALRM) bounds the whole run; on exit (normal, error, SIGINT/SIGTERM, watchdog)
exactly the processes this run started are stopped and waited for, never anything by name.
"""
import atexit, datetime, json, os, re, shutil, signal, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHES = os.path.join(ROOT, "benches")
PEERS_SRC = os.path.join(BENCHES, "peers")
PEERS_OUT = os.path.join(ROOT, "target", "bench-peers")
# cargo's output: CARGO_TARGET_DIR when set (cargo build puts the binaries there), else target/.
RELEASE = os.path.join(os.path.abspath(os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")), "release")
SERVER_CPU = os.environ.get("SERVER_CPU", "0")
CLIENT_CPU = os.environ.get("CLIENT_CPU", "1")
HZ = os.sysconf("SC_CLK_TCK")

# Ports of the servers the drivers start (loopback only).
PORTS = {"readyloop": 18090, "c_epoll_http": 18081, "hyper": 18085, "nginx": 18080,
         "readyloop_base": 18091, "c_udp_echo": 18083}


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def env_int(name, default):
    v = os.environ.get(name)
    return int(v) if v not in (None, "") else default


# --- process bookkeeping -------------------------------------------------------------------

_started = []  # Popen objects this run started, in order


class Watchdog(Exception):
    pass


def _on_signal(signum, _frame):
    if signum == signal.SIGALRM:
        raise Watchdog("watchdog: time budget exceeded, stopping")
    raise SystemExit(128 + signum)


def install(budget_s):
    """Cleanup on exit and on SIGINT/SIGTERM; a watchdog of budget_s seconds for the whole run."""
    atexit.register(stop_all)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM, signal.SIGHUP):
        signal.signal(s, _on_signal)
    signal.alarm(max(1, int(budget_s)))
    global _deadline
    _deadline = time.monotonic() + budget_s
    log(f"watchdog: the whole run is bounded to {int(budget_s)} s")


_deadline = None


def alarm_left():
    """Seconds left before the watchdog fires (servers' `timeout` is set a little beyond)."""
    return max(60, int(_deadline - time.monotonic())) if _deadline else 3600


def stop(p, grace=10):
    """SIGTERM one process we started, wait for it (SIGKILL after `grace` s). A server's
    `timeout` wrapper forwards the SIGTERM to the server; if the wrapper has to be killed
    (SIGKILL is not forwarded), the server PIDs looked up at start are killed too."""
    if p.poll() is None:
        try:
            p.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            for pid in getattr(p, "inner_pids", []):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            p.kill()
            p.wait()
    if p in _started:
        _started.remove(p)


def stop_all():
    signal.alarm(0)
    for p in reversed(list(_started)):
        try:
            stop(p)
        except Exception as e:  # keep stopping the others
            log(f"stopping {p.args[:3]}: {e}")


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


# --- /proc readers -------------------------------------------------------------------------

def cpu_ticks(pid):
    """utime+stime of a process (all its threads), clock ticks; works on a zombie too."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def slab_kb():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Slab:"):
                return int(line.split()[1])
    return 0


def cpu_busy_ticks():
    """Per CPU: (busy, total) ticks from /proc/stat, busy = all but idle and iowait."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, *v = line.split()
                v = list(map(int, v[:8]))
                out[name[3:]] = (sum(v) - v[3] - v[4], sum(v))
    return out


def others_pct(before, after, own_cpu_s, wall_s):
    """CPU % used on the server's and the client's CPUs by everything else (the machine's other
    work, plus interrupts not charged to either process), summed over both CPUs (max 200)."""
    busy = sum((after[c][0] - before[c][0]) for c in (SERVER_CPU, CLIENT_CPU) if c in after and c in before)
    return max(0.0, 100 * (busy / HZ - own_cpu_s) / wall_s)


def listening(port):
    r = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, timeout=10)
    return "LISTEN" in r.stdout


def established(port):
    r = subprocess.run(["ss", "-Htn", "state", "established", f"( sport = :{port} )"], capture_output=True,
                       text=True, timeout=30)
    return len([x for x in r.stdout.splitlines() if x.strip()])


# --- servers -------------------------------------------------------------------------------

class Server:
    """A server this run started: `popen` is its `timeout` wrapper, `pid` the process that
    holds the connections (nginx: the worker)."""

    def __init__(self, name, port, popen, pid):
        self.name, self.port, self.popen, self.pid = name, port, popen, pid

    def stop(self):
        stop(self.popen)


def start_server(name, cmd, port, logdir, budget_s, worker=False):
    """Start cmd pinned to SERVER_CPU under `timeout budget_s`, wait until it listens on port.
    worker=True: the serving process is the child of the started one (nginx master -> worker)."""
    if listening(port):
        sys.exit(f"port {port} is already in use (needed for {name}); stop whatever listens there")
    os.makedirs(logdir, exist_ok=True)
    out = open(os.path.join(logdir, f"{name}.log"), "ab")
    full = ["timeout", "-k", "5", str(int(budget_s)), "taskset", "-c", SERVER_CPU] + cmd
    p = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, close_fds=True)
    out.close()
    _started.append(p)
    p.inner_pids = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if p.poll() is not None:
            sys.exit(f"{name} exited at start (code {p.returncode}); see {logdir}/{name}.log")
        kids = children(p.pid)
        if kids and listening(port):
            pid = kids[0]
            p.inner_pids = [pid]
            if worker:
                w = []
                for _ in range(100):
                    w = children(pid)
                    if w:
                        break
                    time.sleep(0.05)
                if not w:
                    sys.exit(f"{name}: no worker process found")
                pid = w[0]
                p.inner_pids.append(pid)
            log(f"{name}: pid {pid} on 127.0.0.1:{port} (cpu {SERVER_CPU})")
            return Server(name, port, p, pid)
        time.sleep(0.05)
    sys.exit(f"{name} did not listen on 127.0.0.1:{port} within 20 s; see {logdir}/{name}.log")


def nginx_cmd(rundir):
    """nginx with benches/nginx.conf, its pid file, logs and temp dirs under rundir."""
    prefix = os.path.join(rundir, "nginx")
    os.makedirs(os.path.join(prefix, "tmp"), exist_ok=True)
    return ["nginx", "-p", prefix + "/", "-e", os.path.join(prefix, "error.log"),
            "-c", os.path.join(BENCHES, "nginx.conf")]


def server_cmds(rundir, names):
    """Command line of each HTTP target (built by build_*)."""
    cmds = {
        "readyloop": [os.path.join(RELEASE, "readyloop"), "--listen", f"127.0.0.1:{PORTS['readyloop']}",
                      "--idle-timeout", "0"],
        "c_epoll_http": [os.path.join(PEERS_OUT, "c_epoll_http"), str(PORTS["c_epoll_http"])],
        "hyper": [os.path.join(PEERS_OUT, "hyper", "release", "hyper_peer"), str(PORTS["hyper"])],
        "nginx": nginx_cmd(rundir),
    }
    # Another readyloop build in the same interleaved run (before/after a change):
    # BASE_BIN=/path/to/readyloop TARGETS="readyloop readyloop_base ...".
    base = os.environ.get("BASE_BIN")
    if base:
        cmds["readyloop_base"] = [base, "--listen", f"127.0.0.1:{PORTS['readyloop_base']}",
                                  "--idle-timeout", "0"]
    elif "readyloop_base" in names:
        sys.exit("target readyloop_base needs BASE_BIN=/path/to/another/readyloop")
    return {n: cmds[n] for n in names}


# --- builds and tools ----------------------------------------------------------------------

def run(cmd, timeout, **kw):
    log("$ " + " ".join(cmd))
    r = subprocess.run(cmd, timeout=timeout, **kw)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}")
    return r


def ensure_tools(need=("wrk", "nginx")):
    if all(shutil.which(t) for t in need):
        return
    run(["bash", os.path.join(BENCHES, "setup.sh")], timeout=1800)
    for t in need:
        if not shutil.which(t):
            sys.exit(f"{t} is still missing after benches/setup.sh")


def build_readyloop(bins=("readyloop",)):
    if os.environ.get("BUILD", "1") == "0":
        log(f"BUILD=0: using the binaries already in {RELEASE}")
        return
    cmd = ["cargo", "build", "--release", "--manifest-path", os.path.join(ROOT, "Cargo.toml")]
    for b in bins:
        cmd += ["--bin", b]
    run(cmd, timeout=3600)


def build_c():
    os.makedirs(PEERS_OUT, exist_ok=True)
    src, out = os.path.join(PEERS_SRC, "c_epoll_http.c"), os.path.join(PEERS_OUT, "c_epoll_http")
    if not os.path.exists(out) or os.path.getmtime(src) > os.path.getmtime(out):
        run(["cc", "-O2", "-Wall", "-o", out, src], timeout=300)
    return out


def build_c_udp_echo():
    """The C UDP echo peer (recvmmsg/sendmmsg), built warning-free: `c_udp_echo [-r] [-R N] [-S N]
    [ADDR [PORT]]`; check it with benches/peers/check_udp_echo.py."""
    os.makedirs(PEERS_OUT, exist_ok=True)
    src, out = os.path.join(PEERS_SRC, "c_udp_echo.c"), os.path.join(PEERS_OUT, "c_udp_echo")
    if not os.path.exists(out) or os.path.getmtime(src) > os.path.getmtime(out):
        run(["gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", out, src], timeout=300)
    return out


def build_hyper():
    run(["cargo", "build", "--release", "--manifest-path", os.path.join(PEERS_SRC, "hyper", "Cargo.toml"),
         "--target-dir", os.path.join(PEERS_OUT, "hyper")], timeout=3600)


def check_answers(server, strict):
    """benches/peers/check_http.py against a started server: refuse to measure a wrong one."""
    cmd = [sys.executable, os.path.join(PEERS_SRC, "check_http.py"), str(server.port)] + (["--strict"] if strict else [])
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        sys.exit(f"{server.name} does not answer as expected:\n{r.stdout}{r.stderr}")
    log(f"{server.name}: answers checked ({'byte-exact' if strict else 'status and body'})")


def machine_facts():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    def ver(cmd):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (r.stdout + r.stderr).strip().splitlines()[:1]
    facts = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "kernel": os.uname().release, "cpu": cpu, "nproc": os.cpu_count(),
        "git": subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"], capture_output=True,
                              text=True).stdout.strip(),
        "loadavg": open("/proc/loadavg").read().split()[:3],
    }
    for tool, cmd in (("wrk", ["wrk", "-v"]), ("nginx", ["nginx", "-v"])):
        if shutil.which(tool):
            facts[tool] = " ".join(ver(cmd))
    return facts


# --- clients -------------------------------------------------------------------------------

def run_client(cmd, timeout_s, outfile):
    """Run cmd pinned to CLIENT_CPU, stdout+stderr to outfile, killed past timeout_s.
    Returns (output, rc, cpu_s, wall_s): cpu_s is utime+stime from the client's own
    /proc/PID/stat, read when it has exited (a zombie, not yet reaped)."""
    with open(outfile, "wb") as out:
        t0 = time.monotonic()
        p = subprocess.Popen(["taskset", "-c", CLIENT_CPU] + cmd, stdin=subprocess.DEVNULL, stdout=out,
                             stderr=subprocess.STDOUT, close_fds=True)
        _started.append(p)
        killed = False
        while True:
            r = os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
            if r is not None:
                break
            if time.monotonic() - t0 > timeout_s and not killed:
                log(f"client past its {timeout_s} s deadline, killing: {' '.join(cmd[:3])}")
                p.kill()
                killed = True
            time.sleep(0.01)
        wall = time.monotonic() - t0
        cpu = cpu_ticks(p.pid) / HZ
        p.wait()
        _started.remove(p)
    with open(outfile, errors="replace") as f:
        text = f.read()
    return text, (-9 if killed else p.returncode), cpu, wall


def _us(v, unit):
    return float(v) * {"us": 1, "ms": 1e3, "s": 1e6}[unit]


def parse_wrk(text):
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    total = re.search(r"(\d+) requests in", text)
    lat = {k: _us(v, u) for k, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)}
    lat = {k: (v or None) for k, v in lat.items()}  # wrk sometimes prints 0.00us for a percentile
    se = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return {
        "rps": float(rps.group(1)) if rps else None,
        "requests": int(total.group(1)) if total else 0,
        "p50_us": lat.get("50"), "p99_us": lat.get("99"),
        "errors": sum(map(int, se.groups())) if se else 0,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
    }


# --- results -------------------------------------------------------------------------------

def results_dir(bench):
    d = os.path.join(ROOT, "target", "bench-results", f"{bench}-{time.strftime('%Y%m%d-%H%M%S')}")
    os.makedirs(os.path.join(d, "raw"), exist_ok=True)
    latest = os.path.join(ROOT, "target", "bench-results", f"{bench}-latest")
    try:
        if os.path.islink(latest):
            os.remove(latest)
        os.symlink(os.path.basename(d), latest)
    except OSError:
        pass
    return d


def fmt(x, digits=0):
    if x is None:
        return "n/a"
    if digits == 0:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def med_range(vals, digits=0):
    """'median [min-max]' of the numbers in vals (None skipped)."""
    v = [x for x in vals if x is not None]
    if not v:
        return "n/a"
    m = statistics.median(v)
    if len(v) == 1:
        return fmt(m, digits)
    return f"{fmt(m, digits)} [{fmt(min(v), digits)}-{fmt(max(v), digits)}]"


def median(vals):
    v = [x for x in vals if x is not None]
    return statistics.median(v) if v else None


def write_json_lines(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def write_summary(out, lines):
    """Write the summary (markdown lines) to OUT/summary.md and print it with where the raw results are."""
    text = "\n".join(lines)
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(text + "\n")
    print(text)
    print(f"(raw results: {out})")


def run_main(main):
    """Run a driver's main; a watchdog expiry ends it with its message (exit 1)."""
    try:
        main()
    except Watchdog as e:
        sys.exit(str(e))
