#!/usr/bin/env python3
"""check_udp_echo.py - check that a UDP echo server gives back every datagram, byte for byte.

    python3 benches/peers/check_udp_echo.py [--bin PATH]     # start the C peer and check it
    python3 benches/peers/check_udp_echo.py HOST PORT        # check a running echo server

With --bin (default target/bench-peers/c_udp_echo, built first from c_udp_echo.c with
gcc -O2 -Wall -Wextra -Werror when missing or older than its source), the peer is started three
times on a free loopback port: on 127.0.0.1, on ::1, and on 127.0.0.1 with -r -R 1048576 -S 1048576.
Each time 1,000 datagrams of 64 bytes and 1,000 of 1,400 bytes, each numbered and filled from its
number, are sent in bursts of 32; every echo must come back once, from the server's address, equal
to what was sent. Then SIGTERM: the peer must exit 0 and count 2,000 datagrams in and out, the
bytes of both sizes, and nothing dropped. Against HOST PORT only the echoes are checked.
Exit 0 when all pass, 1 otherwise. Loopback only; every socket operation and wait has a timeout,
and every peer started is stopped and waited for, also on failure.
"""
import os, re, select, signal, socket, struct, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_BIN = os.path.join(ROOT, "target", "bench-peers", "c_udp_echo")
SIZES = (64, 1400)
PER_SIZE = 1000
BURST = 32
TIMEOUT_S = 2.0


def payload(n, size):
    """Datagram n of this size: its number, then bytes that depend on it (a swap shows)."""
    head = struct.pack("!I", n)
    fill = bytes((n * 7 + i) & 0xFF for i in range(size - len(head)))
    return head + fill


def build(binary):
    src = os.path.join(HERE, "c_udp_echo.c")
    if os.path.exists(binary) and os.path.getmtime(binary) >= os.path.getmtime(src):
        return
    os.makedirs(os.path.dirname(binary), exist_ok=True)
    subprocess.run(["gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", binary, src], check=True, timeout=120)


def exchange(addr, family, fails):
    """Send every datagram to addr in bursts; return how many came back right."""
    good = 0
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(TIMEOUT_S)
        s.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        for size in SIZES:
            for start in range(0, PER_SIZE, BURST):
                want = {n: payload(n, size) for n in range(start, min(start + BURST, PER_SIZE))}
                for d in want.values():
                    s.sendto(d, addr)
                got = read_burst(s, addr, want, fails)
                good += got
    return good


def read_burst(s, addr, want, fails):
    """Read one burst's echoes: each once, equal to what was sent, from addr."""
    left, got = dict(want), 0
    for _ in range(len(want)):
        try:
            data, src = s.recvfrom(65536)
        except socket.timeout:
            fails.append(f"{len(left)} echoes missing after {TIMEOUT_S} s (first {min(left)})")
            return got
        n = struct.unpack("!I", data[:4])[0] if len(data) >= 4 else -1
        if src[:2] != addr[:2]:
            fails.append(f"echo from {src}, not {addr}")
        elif left.pop(n, None) != data:
            fails.append(f"echo {n} ({len(data)} bytes) unexpected, changed or twice")
        else:
            got += 1
    return got


def start_peer(binary, args):
    p = subprocess.Popen([binary] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready, _, _ = select.select([p.stdout], [], [], 5)  # it prints at once, or exits
    line = p.stdout.readline() if ready else ""
    m = re.match(r"listening on \[?([^\]]+?)\]?:(\d+)$", line.strip())
    if not m:
        stop_peer(p)
        raise RuntimeError(f"{binary} {args}: no 'listening on' line, got {line!r}")
    return p, (m.group(1), int(m.group(2)))


def stop_peer(p):
    """SIGTERM, wait (kill past 5 s); (exit code, stdout rest, stderr)."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    try:
        out, err = p.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate(timeout=5)
    return p.returncode, out, err


def check_counters(code, out, fails):
    counts = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", out))
    n = PER_SIZE * len(SIZES)
    want = {"in_datagrams": n, "out_datagrams": n, "in_bytes": PER_SIZE * sum(SIZES),
            "out_bytes": PER_SIZE * sum(SIZES), "dropped": 0, "truncated": 0, "recv_errors": 0}
    if code != 0:
        fails.append(f"exit code {code} after SIGTERM")
    for k, v in want.items():
        if counts.get(k) != v:
            fails.append(f"{k} = {counts.get(k)}, want {v}")
    return counts


def check_peer(binary, host, args):
    fails = []
    p, (h, port) = start_peer(binary, [*args, host, "0"])
    try:
        family = socket.AF_INET6 if ":" in h else socket.AF_INET
        good = exchange((h, port), family, fails)
    finally:
        code, out, err = stop_peer(p)
    counts = check_counters(code, out, fails)
    label = f"c_udp_echo {' '.join(args + [host])}".replace("  ", " ")
    print(f"  {'ok  ' if not fails else 'FAIL'} {label}: {good}/{PER_SIZE * len(SIZES)} echoes right; "
          f"in {counts.get('in_datagrams')} out {counts.get('out_datagrams')} dropped {counts.get('dropped')}; "
          f"{err.strip().splitlines()[0] if err.strip() else ''}")
    for f in fails[:10]:
        print(f"       {f}")
    return not fails


def main():
    argv = sys.argv[1:]
    if len(argv) == 2 and not argv[0].startswith("-"):
        host, port = argv[0], int(argv[1])
        fails = []
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        good = exchange((host, port), family, fails)
        print(f"  {'ok  ' if not fails else 'FAIL'} {host} {port}: {good}/{PER_SIZE * len(SIZES)} echoes right")
        for f in fails[:10]:
            print(f"       {f}")
        return 0 if not fails else 1
    binary = argv[argv.index("--bin") + 1] if "--bin" in argv else DEFAULT_BIN
    if binary == DEFAULT_BIN:
        build(binary)
    t0 = time.monotonic()
    results = [check_peer(binary, "127.0.0.1", []), check_peer(binary, "::1", []),
               check_peer(binary, "127.0.0.1", ["-r", "-R", "1048576", "-S", "1048576"])]
    print(f"check_udp_echo: {sum(results)}/{len(results)} passed in {time.monotonic() - t0:.1f} s")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
