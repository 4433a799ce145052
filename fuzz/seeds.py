#!/usr/bin/env python3
"""Writes the checked-in seed corpora, fuzz/corpus/TARGET/NAME, in the input layouts
that fuzz/src/lib.rs decodes. Run from anywhere: python3 fuzz/seeds.py"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def cuts(cs):
    return b"".join(struct.pack("<H", c) for c in cs)


def http(max_head, in_budget, drain, eof, cs, body):
    """max_head byte (<200: 16 + 16*b, else 65536), on_input budget byte (255: none,
    else 32*b), drain byte (budget index | calls index << 3), flags (eof | cuts << 1)."""
    return bytes([max_head, in_budget, drain, (1 if eof else 0) | (len(cs) << 1)]) + cuts(cs) + body


GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
pad = lambda n: b"GET / HTTP/1.1\r\nX-Pad: " + b"p" * n + b"\r\n\r\n"

write("http_server", "get", http(255, 255, 6, False, [], GET))
write("http_server", "pipelined_mixed", http(255, 0, 1 | 1 << 3, True, [7, 40, 41],
      GET + b"GET /bytes/20000 HTTP/1.1\r\n\r\n" + b"HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
      + b"GET /nope HTTP/1.1\r\n\r\n" + GET))
write("http_server", "post_expect_body_split", http(255, 255, 6, False, [62],
      b"POST /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n"))
write("http_server", "close_then_more", http(255, 1, 5, False, [20],
      b"GET /bytes/5 HTTP/1.1\r\nConnection: close\r\n\r\n" + GET))
write("http_server", "long_head_nul", http(70, 255, 6, False, [1100],
      GET + pad(1200)[:1150] + b"\0" + b"p" * 60))
write("http_server", "long_head_ok_trickled", http(150, 255, 6, False, [1030, 1500, 2000],
      pad(2100) + GET))
write("http_server", "chunked_501", http(255, 255, 6, True, [],
      b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"))
write("http_server", "too_many_headers", http(255, 255, 6, False, [300],
      b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(40)) + b"\r\n"))


def frame(head, eof, responses, cs, extra, body):
    """flags (head | eof << 1 | (responses-1) << 2), cut count, cuts, extra, body."""
    return bytes([(1 if head else 0) | (2 if eof else 0) | ((responses - 1) << 2), len(cs)]) + cuts(cs) + extra + body


write("frame_http", "content_length", frame(False, False, 2, [10, 40],
      b"", b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!" * 2))
write("frame_http", "chunked_trailers", frame(False, False, 1, [50, 55],
      b"", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5;x=y\r\nhello\r\n1A\r\n"
      + b"abcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Sum: 1\r\n\r\n"))
write("frame_http", "continue_then_204", frame(False, False, 1, [25],
      b"", b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n"))
write("frame_http", "head_request", frame(True, False, 2, [],
      b"", b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n" * 2))
write("frame_http", "until_close_http10", frame(False, True, 1, [20],
      b"", b"HTTP/1.0 200 OK\r\nServer: old\r\n\r\nall of this until close"))
write("frame_http", "bad_header_split", frame(False, True, 1, [12],
      b"", b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n"))

req = b"PING 1234567890\r\n"
write("frame_echo", "echo_twice", frame(False, False, 2, [3, 20], bytes([len(req)]) + req, req * 2))
write("frame_echo", "mismatch", frame(False, True, 1, [5], bytes([len(req)]) + req, req[:7] + b"X" + req[8:]))
write("frame_echo", "partial_eof", frame(False, True, 1, [2], bytes([len(req)]) + req, req[:9]))

write("frame_line", "lines", frame(False, False, 4, [3, 9], b"", b"+OK hello\r\n\nsecond\npartial"))
write("frame_line", "eof_mid_line", frame(False, True, 1, [1], b"", b"no newline"))

write("frame_fixed", "fixed16_twice", frame(False, False, 2, [5, 17], struct.pack("<H", 15), b"0123456789abcdef" * 2))
write("frame_fixed", "fixed1_eof", frame(False, True, 1, [], struct.pack("<H", 0), b""))
write("frame_fixed", "fixed4k_short", frame(False, True, 1, [100], struct.pack("<H", 4095), b"x" * 300))

for name, v in [
    ("simple", b"+OK\r\n-ERR unknown command 'FOO'\r\n:1000\r\n$5\r\nhello\r\n"),
    ("nested", b"*3\r\n$3\r\nfoo\r\n:1\r\n*2\r\n+a\r\n$-1\r\n"),
    ("resp3", b"%2\r\n+k1\r\n:1\r\n+k2\r\n*1\r\n#f\r\n~2\r\n+a\r\n+b\r\n=7\r\ntxt:abc\r\n"),
    ("attribute", b"|1\r\n+key\r\n+val\r\n$2\r\nhi\r\n_\r\n,3.14\r\n(349289032840923850\r\n"),
    ("nulls_and_empty", b"$-1\r\n*-1\r\n$0\r\n\r\n*0\r\n>1\r\n!3\r\nerr\r\n"),
    ("bad_blob", b"$3\r\nabcd\r\n"),
]:
    write("frame_resp", name, frame(False, True, 4, [1, 6, 7], b"", v))


def request(method, host, path, url, headers, body):
    return b"\n".join([method, host, path, url] + headers) + b"\n\n" + body


write("request", "get", request(b"GET", b"127.0.0.1:7878", b"/", b"http://127.0.0.1:7878/", [], b""))
write("request", "post_body", request(b"POST", b"h:80", b"/up?x=1", b"http://example.com/bytes/1024?x=1#frag",
      [b"Content-Type: text/plain", b"X-Two:  a b \t"], b"hello"))
write("request", "own_host_length", request(b"PUT", b"h:80", b"/", b"http://[::1]:8080/x",
      [b"host: other", b"Content-Length: 5"], b"hello"))
write("request", "length_mismatch", request(b"POST", b"h:80", b"/", b"https://a/",
      [b"Content-Length: 3"], b"hello"))
write("request", "chunked", request(b"POST", b"h:80", b"*", b"http://h?q=1",
      [b"Transfer-Encoding: chunked"], b"0\r\n\r\n"))
write("request", "bad_bits", request(b"G ET", b"h\x7f", b"/a b", b"http://u:p@h:0/",
      [b"NoColon", b"X: a\x01b"], b""))


def tls(eof, handshake, budget, drain, max_plain, cs, body):
    """flags (eof | handshake << 1 | budget index << 2 | drain calls index << 5),
    max_plain byte (255: 80 KiB), cut count, cuts, then the bytes (or, after a
    handshake, ops: op < 0x80 that many raw bytes, else (op & 0x7f) * 8 + 1 sealed)."""
    flags = (1 if eof else 0) | (2 if handshake else 0) | (budget << 2) | (drain << 5)
    return bytes([flags, max_plain, len(cs)]) + cuts(cs) + body


def ext(kind, data):
    return struct.pack(">HH", kind, len(data)) + data


def vec16(data):
    return struct.pack(">H", len(data)) + data


def client_hello():
    """A TLS 1.3 ClientHello for "localhost" (x25519, ECDSA/RSA-PSS, ALPN http/1.1),
    with fixed random, session id and key share, so the seed never changes."""
    name = b"localhost"
    exts = b"".join([
        ext(0, vec16(b"\x00" + vec16(name))),                       # server_name
        ext(10, vec16(b"\x00\x1d\x00\x17")),                         # groups: x25519, P-256
        ext(13, vec16(b"\x04\x03\x08\x04\x04\x01")),                 # signature algorithms
        ext(16, vec16(b"\x08http/1.1")),                             # ALPN
        ext(43, b"\x04\x03\x04\x03\x03"),                            # versions: 1.3, 1.2
        ext(45, b"\x01\x01"),                                        # psk modes
        ext(51, vec16(b"\x00\x1d" + vec16(bytes(range(9, 41))))),    # key share
    ])
    body = (b"\x03\x03" + bytes(range(32)) + b"\x20" + bytes(range(32, 64))
            + vec16(b"\x13\x01\x13\x02\xc0\x2b\xc0\x2f") + b"\x01\x00" + vec16(exts))
    msg = b"\x01" + struct.pack(">I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack(">H", len(msg)) + msg


HELLO = client_hello()
write("tls_server", "client_hello", tls(False, False, 7, 3, 255, [], HELLO))
write("tls_server", "client_hello_split", tls(True, False, 3, 0, 255, [3, 5, 60], HELLO))
write("tls_server", "http_not_tls", tls(False, False, 7, 3, 255, [], GET))
write("tls_server", "two_hellos", tls(True, False, 4, 1, 255, [len(HELLO)], HELLO + HELLO))
write("tls_server", "sealed_echo", tls(False, True, 7, 3, 255, [], b"\x85" + b"e" * 41 + b"\xff" + b"f" * 1017))
write("tls_server", "sealed_small_budget_eof", tls(True, True, 0, 1, 4, [20], b"\xa0" + b"g" * 257))
write("tls_server", "sealed_then_raw", tls(False, True, 3, 3, 255, [9], b"\x81" + b"h" * 9 + b"\x07\x17\x03\x03\x00\x02ab"))

# The `distributed` target: a kind byte (0 the coordination decoder, 1 a result file,
# 2 an interval log), a cut count (& 7) and cuts (u16 LE), then the bytes.
def frame(t, payload):
    return b"rc" + bytes([1, t]) + struct.pack(">I", len(payload)) + payload


def text(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


hello = frame(1, struct.pack(">H", 1) + text("0.1.0") + b"\x07" * 32 + struct.pack(">II", 1, 3) + b"\x01")
ready = frame(6, b"")
ping = frame(7, struct.pack(">Iq", 1, 1_700_000_000_000_000_000))
heartbeat = frame(12, b"")
write("distributed", "hello_ready", bytes([0, 2]) + cuts([3, 9]) + hello + ready + heartbeat)
write("distributed", "ping_cut", bytes([0, 1]) + cuts([5]) + ping + frame(99, b"x"))
write("distributed", "result", bytes([1, 0]) + b'{"format":"loadgen-result","version":1,"loadgen":"0.1.0","part":null}')
write("distributed", "log", bytes([2, 0]) + b"#[StartTime: 1700000000.000 (seconds since epoch)]\n"
      b"0.000,1.000,0.000,HISTFAAAACl4nJNpmSzMwMDAxQABzFCaEUzOmNZg/wEi0NzIyMTMZLWxsZmpmRkAUAYFjw==\n")

# The `dns_reply` target (layout in fuzz/src/lib.rs). Replies captured from Debian's
# dnsmasq 2.90 serving loadgen/tests/dns_codec.rs's records (a.test A 10.1.2.3;
# big.test TXT, four 250-byte strings), printed by that file's ignored test
# `capture_seed_replies`; big.test's 1,053-byte reply is rebuilt from its parts.
DNS = {
    "a_noerror": bytes.fromhex("513a85800001000100000000016104746573740000010001c00c000100010000000000040a010203"),
    "nope_nxdomain_edns": bytes.fromhex("547c81830001000000000001046e6f7065047465737400000100010000291000000080000000"),
    "big_tc": bytes.fromhex("5622878000010000000000000362696704746573740000100001"),
    "big_edns": bytes.fromhex("576d858000010001000000010362696704746573740000100001c00c001000010000000003ec")
    + b"".join(bytes([250]) + c * 250 for c in [b"a", b"b", b"c", b"d"])
    + bytes.fromhex("0000291000000080000000"),
    "a_aaaa_nodata": bytes.fromhex("5b66818000010000000000000161047465737400001c0001"),
    # dnsmasq's answer to a query without a question: REFUSED, no question.
    "refused_no_question": bytes.fromhex("123581850000000000000000"),
}
DNS_NAMES = ["a.test", "nope.test", "big.test", "."]


def dns_reply(msg, qname, qtype, flags=0, id=None):
    """flags (bit 1: the message's ID, bit 2: the message's question), ID (LE), type
    (LE), name index into DNS_NAMES, then the message."""
    id = struct.unpack(">H", msg[:2])[0] if id is None else id
    return bytes([flags]) + struct.pack("<HH", id, qtype) + bytes([DNS_NAMES.index(qname)]) + msg


for name, qname, qtype in [
    ("a_noerror", "a.test", 1),
    ("nope_nxdomain_edns", "nope.test", 1),
    ("big_tc", "big.test", 16),
    ("big_edns", "big.test", 16),
    ("a_aaaa_nodata", "a.test", 28),
    ("refused_no_question", "a.test", 1),
]:
    write("dns_reply", name, dns_reply(DNS[name], qname, qtype))
write("dns_reply", "own_question", dns_reply(DNS["nope_nxdomain_edns"], "a.test", 1, flags=6, id=0))
write("dns_reply", "wrong_id", dns_reply(DNS["a_noerror"], "a.test", 1, id=1))
write("dns_reply", "wrong_type", dns_reply(DNS["a_noerror"], "a.test", 28))
write("dns_reply", "cut_short", dns_reply(DNS["big_edns"][:600], "big.test", 16))


def dns_stream(bound, cs, body):
    """flags 1 (the splitter), bound (LE, 0: 65535), cut count, cuts, then the stream."""
    return bytes([1]) + struct.pack("<H", bound) + bytes([len(cs)]) + cuts(cs) + body


def framed(msg):
    return struct.pack(">H", len(msg)) + msg


write("dns_reply", "tcp_two_replies", dns_stream(0, [1, 40, 3], framed(DNS["a_noerror"]) + framed(DNS["big_edns"])))
write("dns_reply", "tcp_over_bound", dns_stream(512, [2], framed(DNS["a_noerror"]) + framed(DNS["big_edns"])))
write("dns_reply", "tcp_zero_length", dns_stream(0, [1], framed(DNS["a_aaaa_nodata"]) + b"\x00\x00" + framed(DNS["a_noerror"])))
