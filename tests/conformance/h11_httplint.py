#!/usr/bin/env python3
"""Talks HTTP/1.1 to readyloop servers through third-party code and prints one JSON
document on stdout.

Requests are produced and responses parsed by h11 (as a client, so its framing rules
decide where each response ends and whether the connection may be reused); every
response is then run through httplint's response linter. The Rust test
tests/http_conformance.rs starts the servers, runs this script and asserts on the JSON.

Only plain blocking sockets to 127.0.0.1, each with a timeout. An exchange that fails
(h11 protocol error, reset, timeout) is recorded with its error, and the rest of that
connection's exchanges are skipped; the script itself still exits 0 with its JSON.

Usage:
  h11_httplint.py --addr HOST:PORT --small-addr HOST:PORT --busy-addr HOST:PORT
                  --pattern-hex HEX [--big-header N]

  --addr         a default HTTP server
  --small-addr   a server with a small max head (reactor.limits.max_input), for 431
  --busy-addr    a server with max_conns = 1, for 503
  --pattern-hex  one period of the /bytes/N pattern, hex (readyloop's PATTERN)
"""

import argparse
import json
import socket
import sys
import time

import h11
import httplint
from httplint import HttpRequestLinter, HttpResponseLinter

TIMEOUT = 5.0
USER_AGENT = "readyloop-conformance (h11 %s, httplint %s)" % (
    h11.__version__,
    httplint.__version__,
)


def parse_addr(text):
    host, _, port = text.rpartition(":")
    if host != "127.0.0.1":
        raise SystemExit("only 127.0.0.1 is allowed, got %r" % text)
    return host, int(port)


def note_json(note):
    return {
        "level": note.level.value,
        "category": note.category.name,
        "subject": note.subject,
        "summary": str(note.summary),
        "subnotes": [note_json(n) for n in note.subnotes],
    }


class Client:
    """One TCP connection driven by an h11 client state machine."""

    def __init__(self, addr, name):
        self.addr = addr
        self.name = name
        self.sock = socket.create_connection(addr, timeout=TIMEOUT)
        self.sock.settimeout(TIMEOUT)
        self.conn = h11.Connection(our_role=h11.CLIENT)
        self.broken = None  # why later exchanges on this connection are skipped

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _next_event(self):
        while True:
            ev = self.conn.next_event()
            if ev is not h11.NEED_DATA:
                return ev
            data = self.sock.recv(65536)
            self.conn.receive_data(data)  # b"" at EOF: h11 decides if that is fine

    def exchange(self, label, method, target, headers=(), body=b"", pattern=None):
        """Send one request and read its response; returns a JSON-able record."""
        rec = {
            "conn": self.name,
            "name": label,
            "method": method,
            "target": target,
            "status": None,
            "reason": None,
            "http_version": None,
            "headers": [],
            "body_len": None,
            "body_hex": None,
            "body_head_hex": None,
            "body_tail_hex": None,
            "pattern_ok": None,
            "informational": [],
            "their_state": None,
            "reusable": False,
            "closed": None,
            "error": None,
            "lint": [],
        }
        if self.broken is not None:
            rec["error"] = "skipped: connection unusable after %s" % self.broken
            return rec
        req_headers = [
            ("Host", "%s:%d" % self.addr),
            ("User-Agent", USER_AGENT),
        ] + list(headers)
        if body:
            req_headers.append(("Content-Length", str(len(body))))
        start = time.time()
        req_lint = HttpRequestLinter(start_time=start)
        req_lint.process_request_topline(method.encode(), target.encode(), b"HTTP/1.1")
        req_lint.process_headers([(n.encode(), v.encode()) for n, v in req_headers])
        try:
            wire = self.conn.send(h11.Request(method=method, target=target, headers=req_headers))
            if body:
                wire += self.conn.send(h11.Data(data=body))
            wire += self.conn.send(h11.EndOfMessage())
            self.sock.sendall(wire)

            ev = self._next_event()
            while isinstance(ev, h11.InformationalResponse):
                rec["informational"].append(ev.status_code)
                ev = self._next_event()
            if not isinstance(ev, h11.Response):
                raise RuntimeError("expected a response, got %r" % (ev,))
            rec["status"] = ev.status_code
            rec["reason"] = ev.reason.decode("latin-1")
            rec["http_version"] = ev.http_version.decode("latin-1")
            raw_headers = [(bytes(n), bytes(v)) for n, v in ev.headers.raw_items()]
            rec["headers"] = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in raw_headers]

            resp_lint = HttpResponseLinter(start_time=time.time(), _related=req_lint)
            resp_lint.is_head_response = method == "HEAD"
            resp_lint.process_response_topline(
                b"HTTP/" + ev.http_version, str(ev.status_code).encode(), ev.reason
            )
            resp_lint.process_headers(raw_headers)

            chunks = []
            while True:
                ev = self._next_event()
                if isinstance(ev, h11.Data):
                    chunks.append(bytes(ev.data))
                    resp_lint.feed_content(bytes(ev.data))
                elif isinstance(ev, h11.EndOfMessage):
                    break
                else:
                    raise RuntimeError("expected body data or its end, got %r" % (ev,))
            resp_lint.finish_content(True)
            rec["lint"] = [note_json(n) for n in resp_lint.notes]

            data = b"".join(chunks)
            rec["body_len"] = len(data)
            if len(data) <= 1024:
                rec["body_hex"] = data.hex()
            rec["body_head_hex"] = data[:64].hex()
            rec["body_tail_hex"] = data[-64:].hex()
            if pattern is not None:
                reps = len(data) // len(pattern) + 1
                rec["pattern_ok"] = data == (pattern * reps)[: len(data)]

            rec["their_state"] = self.conn.their_state.__name__
            if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
                self.conn.start_next_cycle()
                rec["reusable"] = True
            else:
                self.broken = "%s (%s)" % (label, rec["their_state"])
                rec["closed"] = self._expect_close()
        except Exception as e:  # recorded for the Rust side, which fails on it
            rec["error"] = "%s: %s" % (type(e).__name__, e)
            self.broken = label
        return rec

    def _expect_close(self):
        """After a response that ends the connection: how it ended, via h11."""
        try:
            ev = self._next_event()
        except ConnectionResetError:
            return "reset"
        except socket.timeout:
            return "timeout (still open)"
        except h11.RemoteProtocolError as e:
            return "bytes after the last response: %s" % e
        if isinstance(ev, h11.ConnectionClosed):
            return "eof"
        return "unexpected event %r" % (ev,)


def run_conn(addr, name, steps):
    out = []
    try:
        c = Client(addr, name)
    except OSError as e:
        return [{"conn": name, "name": name + ": connect", "error": "connect: %s" % e}], None
    for step in steps:
        out.append(c.exchange(**step))
    return out, c


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--addr", required=True)
    p.add_argument("--small-addr", required=True)
    p.add_argument("--busy-addr", required=True)
    p.add_argument("--pattern-hex", required=True)
    p.add_argument("--bytes-n", type=int, default=100000)
    p.add_argument("--big-header", type=int, default=6000)
    a = p.parse_args()
    addr, small, busy = parse_addr(a.addr), parse_addr(a.small_addr), parse_addr(a.busy_addr)
    pattern = bytes.fromhex(a.pattern_hex)
    n = a.bytes_n

    exchanges = []

    # Keep-alive, HEAD, /bytes/N, a POST body consumed, 404: all on one connection.
    steps = [
        dict(label="get-1", method="GET", target="/"),
        dict(label="get-2", method="GET", target="/"),
        dict(label="get-3", method="GET", target="/"),
        dict(label="head", method="HEAD", target="/"),
        dict(label="bytes", method="GET", target="/bytes/%d" % n, pattern=pattern),
        dict(label="head-bytes", method="HEAD", target="/bytes/%d" % n),
        dict(
            label="post",
            method="POST",
            target="/",
            headers=[("Content-Type", "text/plain")],
            # Looks like a request: answering it would show the body was not skipped.
            body=b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n" + b"x" * 2000,
        ),
        dict(label="after-post", method="GET", target="/"),
        dict(label="not-found", method="GET", target="/nope"),
        dict(label="after-404", method="GET", target="/"),
    ]
    recs, c = run_conn(addr, "main", steps)
    exchanges += recs
    if c:
        c.close()

    # A head larger than the small server's limit: 431, then closed.
    big = [("X-Pad", "p" * a.big_header)]
    recs, c = run_conn(small, "small", [dict(label="too-large", method="GET", target="/", headers=big)])
    exchanges += recs
    if c:
        c.close()

    # max_conns = 1: hold one served connection open, a second one gets 503.
    recs, held = run_conn(busy, "held", [dict(label="held", method="GET", target="/")])
    exchanges += recs
    recs, c = run_conn(busy, "over", [dict(label="over-limit", method="GET", target="/")])
    exchanges += recs
    if c:
        c.close()
    if held:
        held.close()

    doc = {
        "python": sys.version.split()[0],
        "h11": h11.__version__,
        "httplint": httplint.__version__,
        "exchanges": exchanges,
    }
    json.dump(doc, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
