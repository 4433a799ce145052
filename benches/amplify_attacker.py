#!/usr/bin/env python3
"""amplify_attacker.py - the "output amplification" client used by benches/amplification.py.

    python3 benches/amplify_attacker.py PORT [--conns 4] [--dur 12] [--write-kb 60] [--path /bytes/16384]

Opens --conns connections to 127.0.0.1:PORT and on each, for --dur seconds, writes --write-kb
KB blocks of back-to-back pipelined "GET PATH HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n" requests as fast as the
socket takes them: a few dozen bytes in, PATH's N bytes out per request. It reads and discards
whatever comes back, so the server's output keeps draining and the writes keep going. A
connection the server closes is opened again (counted). Prints one JSON line at the end:
bytes written and read, connections opened and closed by the server. Loopback only.
"""
import argparse, errno, json, selectors, socket, sys, time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--dur", type=float, default=12.0)
    ap.add_argument("--write-kb", type=int, default=60)
    ap.add_argument("--path", default="/bytes/16384")
    a = ap.parse_args()
    req = f"GET {a.path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    block = req * (a.write_kb * 1024 // len(req))
    sink = bytearray(1 << 22)
    sel = selectors.DefaultSelector()
    st = {"conns": a.conns, "write_bytes": len(block), "requests_per_write": len(block) // len(req),
          "written": 0, "read": 0, "opened": 0, "closed_by_server": 0, "connect_errors": 0}

    def open_one():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", a.port))
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            st["connect_errors"] += 1
            return
        st["opened"] += 1
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, {"off": 0})

    def drop(s):
        sel.unregister(s)
        s.close()
        st["closed_by_server"] += 1

    for _ in range(a.conns):
        open_one()
    end = time.monotonic() + a.dur
    while time.monotonic() < end:
        for key, ev in sel.select(timeout=0.05):
            s, d = key.fileobj, key.data
            if ev & selectors.EVENT_READ:
                try:
                    n = s.recv_into(sink)
                except (BlockingIOError, InterruptedError):
                    n = -1
                except OSError:
                    n = 0
                if n == 0:
                    drop(s)
                    continue
                if n > 0:
                    st["read"] += n
            if ev & selectors.EVENT_WRITE:
                try:
                    n = s.send(memoryview(block)[d["off"]:])
                    d["off"] = (d["off"] + n) % len(block)
                    st["written"] += n
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError as e:
                    if e.errno not in (errno.EAGAIN,):
                        drop(s)
        missing = a.conns - len(sel.get_map())
        for _ in range(missing):
            if time.monotonic() < end:
                open_one()
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    print(json.dumps(st), flush=True)


if __name__ == "__main__":
    sys.exit(main())
