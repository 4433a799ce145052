#!/usr/bin/env python3
"""check_http.py - check that an HTTP server on 127.0.0.1:PORT answers as the benchmarks assume.

    python3 benches/peers/check_http.py PORT [--strict]

Keep-alive GET / must be answered with a 200 and the body "Hello, World!"; with --strict
(readyloop, the C reference) byte for byte with
    HTTP/1.1 200 OK\\r\\nContent-Length: 13\\r\\n\\r\\nHello, World!
Checked: one request; 16 pipelined in one write (16 answers, in order); a head cut into
1-byte writes; "Connection: close" (answer, then EOF); HTTP/1.0 (answer, then EOF); HTTP/1.0
with "Connection: keep-alive" (connection stays open). Exit 0 when all pass, 1 otherwise.
Loopback only; every socket operation has a timeout.
"""
import socket, sys, time

EXACT = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!"
GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def conn(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_answers(s, n):
    """Read n complete responses (Content-Length framed); return (list of bytes, leftover)."""
    buf, out = b"", []
    while len(out) < n:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            head = buf[:end + 4]
            cl = 0
            for line in head.split(b"\r\n")[1:]:
                if line.lower().startswith(b"content-length:"):
                    cl = int(line.split(b":", 1)[1])
            if len(buf) >= end + 4 + cl:
                out.append(buf[:end + 4 + cl])
                buf = buf[end + 4 + cl:]
                continue
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return out, buf


def eof_follows(s):
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, socket.timeout):
        return False


def main():
    port, strict = int(sys.argv[1]), "--strict" in sys.argv[2:]
    ok_answer = (lambda a: a == EXACT) if strict else \
        (lambda a: a.startswith(b"HTTP/1.1 200") and a.endswith(b"\r\n\r\nHello, World!"))
    fails = []

    def check(name, cond):
        print(f"  {'ok  ' if cond else 'FAIL'} {name}")
        if not cond:
            fails.append(name)

    s = conn(port)
    s.sendall(GET)
    a, _ = read_answers(s, 1)
    check("GET / keep-alive answer" + (" (byte-exact)" if strict else ""), len(a) == 1 and ok_answer(a[0]))
    s.sendall(GET * 16)
    a, _ = read_answers(s, 16)
    check("16 pipelined in one write", len(a) == 16 and all(map(ok_answer, a)))
    for b in GET:
        s.sendall(bytes([b]))
        time.sleep(0.001)
    a, _ = read_answers(s, 1)
    check("head cut into 1-byte writes", len(a) == 1 and ok_answer(a[0]))
    s.close()

    s = conn(port)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    a, _ = read_answers(s, 1)
    check("Connection: close answered, then EOF", len(a) == 1 and b"200 OK" in a[0] and eof_follows(s))
    s.close()

    s = conn(port)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    a, _ = read_answers(s, 1)
    check("HTTP/1.0 answered, then EOF", len(a) == 1 and b"200 OK" in a[0] and eof_follows(s))
    s.close()

    s = conn(port)
    s.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" * 2)
    a, _ = read_answers(s, 2)
    check("HTTP/1.0 keep-alive: both answered", len(a) == 2 and all(b"200 OK" in x for x in a))
    s.settimeout(0.3)
    try:
        still_open = s.recv(1) != b""
    except socket.timeout:
        still_open = True
    except ConnectionResetError:
        still_open = False
    check("HTTP/1.0 keep-alive: connection stays open", still_open)
    s.close()
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
