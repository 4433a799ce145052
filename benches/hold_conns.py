#!/usr/bin/env python3
"""hold_conns.py - open N idle TCP connections to 127.0.0.1:PORT and hold them.

    python3 benches/hold_conns.py PORT N [--hold 60] [--deadline 60] [--get] [--tls CAFILE]

Raises its soft descriptor limit to the hard one, connects one socket after another (each
connect with a 3 s timeout) until N are open, the first error, or --deadline seconds; then
prints one line
    READY opened=K error=none|ENAME connect_s=S
and holds the sockets, sending nothing, until SIGTERM/SIGINT or --hold seconds. It closes
them with RST (SO_LINGER 0) so no TIME_WAIT is left to eat the ephemeral ports of the next
run, and prints RELEASED K. Loopback only.

--get: on each connection, one `GET / HTTP/1.1` and its whole response (Content-Length
framed) before the next connect, so the server has served a request on every held one.
--tls CAFILE: each connection is TLS (Python's ssl, the certificate checked against CAFILE
for 127.0.0.1), the handshake completed before the next connect (with --get, the request
goes over TLS). A failed handshake or request stops the ramp as a connect error does.
"""
import argparse, errno, resource, signal, socket, ssl, struct, sys, time

GET = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def read_response(s):
    """Read one Content-Length framed 200 response; raise OSError on EOF or another status."""
    buf = b""
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            if not buf.startswith(b"HTTP/1.1 200"):
                raise OSError(errno.EPROTO, "not a 200")
            cl = 0
            for line in buf[:end].split(b"\r\n")[1:]:
                if line.lower().startswith(b"content-length:"):
                    cl = int(line.split(b":", 1)[1])
            while len(buf) < end + 4 + cl:
                c = s.recv(4096)
                if not c:
                    raise OSError(errno.ECONNRESET, "EOF in the body")
                buf += c
            return
        c = s.recv(4096)
        if not c:
            raise OSError(errno.ECONNRESET, "EOF before the answer")
        buf += c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("n", type=int)
    ap.add_argument("--hold", type=float, default=60.0)
    ap.add_argument("--deadline", type=float, default=60.0)
    ap.add_argument("--get", action="store_true", help="one GET / and its response on each connection")
    ap.add_argument("--tls", metavar="CAFILE", help="TLS on each connection, trusting CAFILE")
    a = ap.parse_args()
    ctx = ssl.create_default_context(cafile=a.tls) if a.tls else None
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
            if ctx:
                s = ctx.wrap_socket(s, server_hostname="127.0.0.1")
            if a.get:
                s.sendall(GET)
                read_response(s)
        except (OSError, ssl.SSLError) as e:
            s.close()
            err = ("TIMEOUT" if isinstance(e, socket.timeout) else
                   f"SSL:{e.reason}" if isinstance(e, ssl.SSLError) else
                   errno.errorcode.get(e.errno or 0, str(e)))
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
