#!/usr/bin/python3
"""permessage-deflate (RFC 7692) over raw sockets, covering what
Autobahn|Testsuite sections 12 and 13 check: many message sizes x
fragmentations x negotiated parameters (server/client no_context_takeover,
window bits for both sides, with and without values). Compressed frames are
built here with Python's zlib (raw deflate, trailing 00 00 ff ff stripped,
§7.2.1); echoes are inflated here with the agreed server window, so a server
that used a larger window than agreed, or kept its context after promising
not to, fails. Plus the failure cases (1002 / 1007 / 1009), declined offers,
and a decompression bomb that must be stopped without the server's RSS
growing.

Servers (from run_peers.sh): main (defaults: no context takeover on both
sides), takeover (--deflate-no-context-takeover none), nodeflate
(--deflate off), small (--max-message-bytes 65536)."""

import json
import os
import random
import re
import time
import zlib

import wsraw
from wsraw import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_TEXT, Conn, accept_key, check,
                   close_payload, eq, frame, new_key)

suite = wsraw.Suite("deflate")
PORT = wsraw.PORT
PORT_TAKEOVER = int(os.environ.get("WSGATE_PORT_TAKEOVER", "0"))
PORT_NODEFLATE = int(os.environ.get("WSGATE_PORT_NODEFLATE", "0"))
PORT_SMALL = wsraw.PORT_SMALL
MIN_BYTES = int(os.environ.get("WSGATE_DEFLATE_MIN_BYTES", "128"))
TRAILER = b"\x00\x00\xff\xff"
RSV1 = 4  # wsraw.frame's rsv argument: RSV1 is the highest of the three bits

# What the server is configured with (run_peers.sh): main resets both
# windows after every message, takeover keeps them.
SERVERS = {"main": (PORT, True, True), "takeover": (PORT_TAKEOVER, False, False)}


def expected_response(params, server_nct, client_nct):
    """The Sec-WebSocket-Extensions value RFC 7692 §7.1 gives for an offer
    (dict name -> value or None) against a server with 15-bit windows."""
    snct = "server_no_context_takeover" in params or server_nct
    cnct = "client_no_context_takeover" in params or client_nct
    out = "permessage-deflate"
    if snct:
        out += "; server_no_context_takeover"
    if cnct:
        out += "; client_no_context_takeover"
    if "server_max_window_bits" in params:
        out += f"; server_max_window_bits={params['server_max_window_bits']}"
    cbits = params.get("client_max_window_bits")
    if cbits is not None and int(cbits) < 15:
        out += f"; client_max_window_bits={cbits}"
    return out


def offer_text(params):
    return "permessage-deflate" + "".join(
        f"; {k}" + ("" if v is None else f"={v}") for k, v in params.items())


def upgrade(port, offer):
    """Connects and upgrades with `offer` (header value or None); returns
    (conn, Sec-WebSocket-Extensions value or None)."""
    c = Conn(port=port)
    key = new_key()
    extra = () if offer is None else (f"Sec-WebSocket-Extensions: {offer}",)
    c.send(wsraw.build_upgrade("/", key, f"{wsraw.HOST}:{port}", extra))
    head = c.read_http_head().decode("latin-1")
    lines = head[:-4].split("\r\n")
    eq(lines[0], "HTTP/1.1 101 Switching Protocols", "status line")
    hdrs = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        check(name.lower() not in hdrs, f"duplicate header {name}")
        hdrs[name.lower()] = value.strip()
    eq(hdrs.get("sec-websocket-accept"), accept_key(key), "accept key")
    return c, hdrs.get("sec-websocket-extensions")


def read_frame(c):
    """A server frame; RSV1 allowed (checked by the caller), RSV2/3 not."""
    h = c.recv_exact(2)
    fin, rsv, op = bool(h[0] & 0x80), (h[0] >> 4) & 7, h[0] & 0xF
    check(not h[1] & 0x80, "server frame masked")
    check(rsv in (0, RSV1), f"server frame RSV bits {rsv}")
    n = h[1] & 0x7F
    if n == 126:
        n = int.from_bytes(c.recv_exact(2), "big")
    elif n == 127:
        n = int.from_bytes(c.recv_exact(8), "big")
    return fin, rsv, op, c.recv_exact(n)


def read_message(c):
    """(opcode, compressed?, payload as sent on the wire) of one message;
    RSV1 only on its first frame (§6.1)."""
    frames = []
    while True:
        fin, rsv, op, payload = read_frame(c)
        check(op < 8, f"unexpected control frame {op:#x} {payload[:40]!r}")
        frames.append((rsv, op, payload))
        if fin:
            break
    eq(frames[0][1] in (OP_TEXT, OP_BINARY), True, "first frame opcode")
    for rsv, op, _ in frames[1:]:
        eq(op, OP_CONT, "continuation opcode")
        eq(rsv, 0, "RSV1 on a continuation frame")
    return frames[0][1], frames[0][0] == RSV1, b"".join(p for _, _, p in frames)


class Peer:
    """One negotiated connection with its agreed parameters and the client's
    compressor / the decompressor for the server's messages."""

    def __init__(self, port, offer_params, server_nct, client_nct, offer=None):
        self.c, ext = upgrade(port, offer or offer_text(offer_params))
        eq(ext, expected_response(offer_params, server_nct, client_nct), "negotiated extension")
        agreed = dict(re.findall(r"(\w+)(?:=(\d+))?", ext.split(";", 1)[1])) if ";" in ext else {}
        self.client_nct = "client_no_context_takeover" in agreed
        self.server_nct = "server_no_context_takeover" in agreed
        # zlib cannot compress raw deflate with an 8-bit window; zlib-based
        # clients (Chromium) use 9 when 8 was agreed, and so does this test.
        self.client_bits = max(9, int(agreed.get("client_max_window_bits") or 15))
        self.server_bits = int(agreed.get("server_max_window_bits") or 15)
        self.comp = None
        self.decomp = None

    def compress(self, data):
        if self.comp is None or self.client_nct:
            self.comp = zlib.compressobj(6, zlib.DEFLATED, -self.client_bits, 8)
        out = self.comp.compress(data) + self.comp.flush(zlib.Z_SYNC_FLUSH)
        check(out.endswith(TRAILER), "zlib sync flush trailer")
        return out[:-4]

    def inflate(self, payload):
        # The agreed server window: a larger distance is "invalid distance too far back".
        if self.decomp is None or self.server_nct:
            self.decomp = zlib.decompressobj(-self.server_bits)
        return self.decomp.decompress(payload + TRAILER)

    def send(self, op, data, piece=None, compressed=True):
        wire = self.compress(data) if compressed else data
        piece = piece or max(1, len(wire))
        parts = [wire[i:i + piece] for i in range(0, len(wire), piece)] or [b""]
        out = b"".join(
            frame(op if i == 0 else OP_CONT, p, fin=i == len(parts) - 1,
                  rsv=RSV1 if i == 0 and compressed else 0) for i, p in enumerate(parts))
        return self.c.send_in_background(out)

    def echo(self, op, data, piece=None, compressed=True):
        t = self.send(op, data, piece, compressed)
        got_op, got_compressed, payload = read_message(self.c)
        t.join()
        eq(got_op, op, "echo opcode")
        eq(got_compressed, len(data) >= MIN_BYTES,
           f"echo of {len(data)} bytes compressed (min {MIN_BYTES})")
        got = self.inflate(payload) if got_compressed else payload
        if got != data:
            raise wsraw.Failure(f"echo differs: {len(data)} bytes sent, {len(got)} back")

    def close(self):
        self.c.send(frame(OP_CLOSE, close_payload(1000)))
        self.c.expect_close(1000, reply=False)
        self.c.close()


def json_like(n, seed):
    rnd = random.Random(seed)
    parts = []
    size = 0
    while size < n:
        s = json.dumps({"id": rnd.randint(0, 10**9), "user": f"user{rnd.randint(0, 999)}",
                        "price": round(rnd.uniform(1, 1000), 2), "tags": ["a", "bc", "déf"],
                        "text": "ümlaut ☃ " * rnd.randint(0, 3)})
        parts.append(s)
        size += len(s.encode())
    b = ",".join(parts).encode()[:n]
    while True:  # cut to n bytes on a code-point boundary (pad with ASCII)
        try:
            b.decode()
            return b
        except UnicodeDecodeError:
            b = b[:-1] + b"x"


SIZES = [16, 64, 127, 128, 129, 1000, 4096, 16384, 65535, 65536, 131072, 131073]


def matrix_case(server, offer_params, sizes, pieces):
    port, snct, cnct = SERVERS[server]

    def case():
        p = Peer(port, offer_params, snct, cnct)
        for i, n in enumerate(sizes):
            for piece in pieces:
                text = json_like(n, n * 31 + i)
                p.echo(OP_TEXT, text, piece)
                p.echo(OP_TEXT, text, piece)  # again: context takeover pays off here
                p.echo(OP_BINARY, random.Random(n).randbytes(n), piece)
        p.echo(OP_BINARY, json_like(3000, 7), compressed=False)  # plain on a negotiated connection
        p.echo(OP_TEXT, json_like(50, 8), compressed=False)
        p.close()

    return case


def offers():
    yield {}
    yield {"client_max_window_bits": None}
    yield {"server_no_context_takeover": None}
    yield {"client_no_context_takeover": None}
    yield {"server_no_context_takeover": None, "client_no_context_takeover": None}
    for b in range(9, 16):
        yield {"server_max_window_bits": b}
    for b in range(8, 16):
        yield {"client_max_window_bits": b}
    yield {"server_max_window_bits": 9, "client_max_window_bits": 9}
    yield {"server_no_context_takeover": None, "client_no_context_takeover": None,
           "server_max_window_bits": 12, "client_max_window_bits": 10}


def run_matrix():
    full = [None, 1000, 4093]
    for server in ("main", "takeover"):
        for params in offers():
            name = f"{server} [{offer_text(params)}]"
            # The whole size range for the plain parameters, a cut-down one per window size.
            if any(k.endswith("window_bits") and v is not None for k, v in params.items()):
                suite.run(name, matrix_case(server, params, [16, 200, 5000, 70000], [None, 777]))
            else:
                suite.run(name, matrix_case(server, params, SIZES, full))
    suite.run("main: tiny frames (1 byte each) of a compressed message",
              matrix_case("main", {}, [300, 2000], [1]))
    suite.run("takeover: tiny frames (1 byte each) of a compressed message",
              matrix_case("takeover", {}, [300], [1, 3]))


# ---- negotiation: declined offers never fail the handshake (§5.1) ----

def declined(offer, port=PORT, then_accept=False):
    def case():
        if then_accept:
            p = Peer(port, {}, True, True, offer=offer + ", permessage-deflate")
            p.echo(OP_TEXT, json_like(500, 1))
            p.close()
            return
        c, ext = upgrade(port, offer)
        eq(ext, None, "extension header for a declined offer")
        c.echo(OP_TEXT, json_like(500, 1))  # plain echo: wsraw rejects RSV bits
        c.send(frame(OP_CLOSE, close_payload(1000)))
        c.expect_close(1000, reply=False)
        c.close()

    return case


def run_declined():
    bad = ["permessage-deflate; foo", "permessage-deflate; foo=1",
           "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
           "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
           "permessage-deflate; server_max_window_bits=16",
           "permessage-deflate; server_max_window_bits=08",
           "permessage-deflate; server_max_window_bits",
           "permessage-deflate; server_max_window_bits=8",
           "permessage-deflate; client_max_window_bits=7",
           "permessage-deflate; client_no_context_takeover=1",
           "x-webkit-deflate-frame"]
    for offer in bad:
        suite.run(f"declined alone: {offer}", declined(offer))
        suite.run(f"declined, next offer accepted: {offer}", declined(offer, then_accept=True))
    suite.run("--deflate off: offer declined", declined("permessage-deflate; client_max_window_bits",
                                                         port=PORT_NODEFLATE))


# ---- failures ----

def expect_fail(port, offer, send, code, within=2.0):
    def case():
        if offer is None:
            c = Conn(port=port)
            c.handshake()
            p = None
        else:
            p = Peer(port, {}, *SERVERS["main"][1:]) if port == PORT else None
            if p is None:
                c, ext = upgrade(port, offer)
                check(ext is not None and ext.startswith("permessage-deflate"), f"negotiated {ext}")
            else:
                c = p.c
        t0 = time.monotonic()
        send(c, p)
        c.expect_close(code, timeout=within)
        check(time.monotonic() - t0 < within, "close came too late")
        c.close()
        wsraw.fresh_echo(port)

    return case


def raw_deflate(data, bits=15):
    co = zlib.compressobj(9, zlib.DEFLATED, -bits, 9)
    return (co.compress(data) + co.flush(zlib.Z_SYNC_FLUSH))[:-4]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def bomb_case(port, pid_env, inflated, code):
    def case():
        pid = os.environ.get(pid_env, "")
        check(pid, f"{pid_env} not set")
        c, ext = upgrade(port, "permessage-deflate")
        check(ext is not None, "deflate negotiated")
        payload = raw_deflate(b"\0" * inflated)
        before = rss_kb(pid)
        t0 = time.monotonic()
        c.send(frame(OP_BINARY, payload, rsv=RSV1))
        # Echoed pieces (compressed, RSV1) may come first: up to the limit.
        while True:
            fin, rsv, op, data = read_frame(c)
            if op == OP_CLOSE:
                break
        dt = time.monotonic() - t0
        eq(int.from_bytes(data[:2], "big"), code, "close code")
        c.send(frame(OP_CLOSE, data[:2]))
        c.expect_eof(2.0)
        grew = rss_kb(pid) - before
        print(f"     bomb: {len(payload)} B inflating to {inflated} B -> {code} in {dt * 1000:.0f} ms,"
              f" server RSS +{grew} KiB", flush=True)
        check(dt < 1.0, f"{code} after {dt:.2f}s")
        check(grew < 4096, f"server RSS grew {grew} KiB")
        c.close()
        wsraw.fresh_echo(port)

    return case


def run_failures():
    offer = "permessage-deflate"

    def rsv1_continuation(c, p):
        data = p.compress(json_like(400, 3))
        c.send(frame(OP_TEXT, data[:10], fin=False, rsv=RSV1)
               + frame(OP_CONT, data[10:], rsv=RSV1))

    def rsv1_ping(c, p):
        c.send(frame(OP_PING, b"hi", rsv=RSV1))

    def rsv1_plain(c, p):
        c.send(frame(OP_TEXT, raw_deflate(b"hello"), rsv=RSV1))

    def corrupt(c, p):
        c.send(frame(OP_BINARY, b"\x07\x00\x00\x00", rsv=RSV1))  # BTYPE 11: reserved

    def corrupt_after_data(c, p):
        good = raw_deflate(os.urandom(3000))
        c.send(frame(OP_BINARY, good[:-50] + b"\xff" * 50, rsv=RSV1))

    def bad_utf8(c, p):
        c.send(frame(OP_TEXT, raw_deflate(b"valid so far \xc3\x28 then not"), rsv=RSV1))

    def cut_code_point(c, p):
        c.send(frame(OP_TEXT, raw_deflate("abc☃".encode()[:-1]), rsv=RSV1))

    def bad_utf8_late(c, p):
        # Invalid only after 40 KB of valid inflated text, across fragments.
        data = raw_deflate(b"a" * 40000 + b"\xed\xa0\x80")
        c.send(frame(OP_TEXT, data[:5], fin=False, rsv=RSV1) + frame(OP_CONT, data[5:]))

    suite.run("RSV1 on a continuation frame -> 1002", expect_fail(PORT, offer, rsv1_continuation, 1002))
    suite.run("RSV1 on a ping -> 1002", expect_fail(PORT, offer, rsv1_ping, 1002))
    suite.run("RSV1 without negotiation -> 1002", expect_fail(PORT, None, rsv1_plain, 1002))
    suite.run("RSV1 on a --deflate off server -> 1002",
              expect_fail(PORT_NODEFLATE, None, rsv1_plain, 1002))
    suite.run("corrupt deflate data (reserved block type) -> 1007",
              expect_fail(PORT, offer, corrupt, 1007))
    suite.run("corrupt deflate data after valid blocks -> 1007",
              expect_fail(PORT, offer, corrupt_after_data, 1007))
    suite.run("invalid UTF-8 after inflating -> 1007", expect_fail(PORT, offer, bad_utf8, 1007))
    suite.run("text ending inside a code point after inflating -> 1007",
              expect_fail(PORT, offer, cut_code_point, 1007))
    suite.run("invalid UTF-8 40 KB into an inflated fragmented text -> 1007",
              expect_fail(PORT, offer, bad_utf8_late, 1007))
    suite.run("bomb: ~10 KB inflating to 10 MB on a 64 KiB-limit server -> 1009",
              bomb_case(PORT_SMALL, "WSGATE_PID_SMALL", 10 << 20, 1009))
    # ~1030:1 is over --deflate-max-ratio (256): refused by policy once the
    # message has cost 1 MiB, long before the 16 MiB size limit.
    suite.run("bomb: ~100 KB inflating to 100 MB on the 16 MiB-limit server -> 1008 (ratio)",
              bomb_case(PORT, "WSGATE_PID", 100 << 20, 1008))
    suite.run("small server: 64 KiB inflated echoes, 64 KiB + 1 -> 1009",
              small_limit_case())


def small_limit_case():
    def case():
        limit = wsraw.SMALL_MAX_MESSAGE
        p = Peer(PORT_SMALL, {}, True, True)
        p.echo(OP_BINARY, b"z" * limit)
        p.echo(OP_TEXT, json_like(limit, 5), 1000)
        t = p.send(OP_BINARY, b"z" * (limit + 1))
        p.c.expect_close(1009)
        t.join()
        p.c.close()

    return case


run_matrix()
run_declined()
run_failures()
suite.finish()
