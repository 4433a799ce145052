#!/usr/bin/env python3
"""hold_conns.py - open N idle TCP connections to 127.0.0.1:PORT and hold them.

    python3 benches/hold_conns.py PORT N [--hold 60] [--deadline 60]

Raises its soft descriptor limit to the hard one, connects one socket after another (each
connect with a 3 s timeout) until N are open, the first error, or --deadline seconds; then
prints one line
    READY opened=K error=none|ENAME connect_s=S
and holds the sockets, sending nothing, until SIGTERM/SIGINT or --hold seconds. It closes
them with RST (SO_LINGER 0) so no TIME_WAIT is left to eat the ephemeral ports of the next
run, and prints RELEASED K. Loopback only.
"""
import argparse, errno, resource, signal, socket, struct, sys, time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("n", type=int)
    ap.add_argument("--hold", type=float, default=60.0)
    ap.add_argument("--deadline", type=float, default=60.0)
    a = ap.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    stop = []
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: stop.append(1))

    socks, err = [], "none"
    t0 = time.monotonic()
    while len(socks) < a.n and not stop:
        if time.monotonic() - t0 > a.deadline:
            err = "deadline"
            break
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.settimeout(3)
            s.connect(("127.0.0.1", a.port))
        except OSError as e:
            s.close()
            err = "TIMEOUT" if isinstance(e, socket.timeout) else errno.errorcode.get(e.errno or 0, str(e))
            break
        socks.append(s)
    print(f"READY opened={len(socks)} error={err} connect_s={time.monotonic() - t0:.2f}", flush=True)
    t1 = time.monotonic()
    while not stop and time.monotonic() - t1 < a.hold:
        time.sleep(0.05)
    for s in socks:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    print(f"RELEASED {len(socks)}", flush=True)


if __name__ == "__main__":
    main()
