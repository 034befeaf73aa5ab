#!/usr/bin/python3
"""The 101 answer to a real browser's upgrade request, byte for byte.

tests/data/chromium-156-upgrade-request.bin is the exact request headless
Chromium 156 sends (it offers `permessage-deflate; client_max_window_bits`).
Sent as-is to the main instance, the response must be exactly

  HTTP/1.1 101 Switching Protocols␍␊Upgrade: websocket␍␊Connection: Upgrade␍␊
  Sec-WebSocket-Accept: <RFC 6455 §4.2.2 key>␍␊[Sec-WebSocket-Extensions: X␍␊]␍␊

where the extension line is either absent (offer declined) or a valid
RFC 7692 §7.1 answer to that offer; then nothing until the client sends a
frame, whose echo comes back. The same request split into two TCP segments at
every position (connections in parallel) must get the same 101 bytes, and so
must the request sent one byte per segment.
"""

import asyncio
import os
import re
import socket
import time
import zlib

import wsraw
from wsraw import OP_CLOSE, OP_TEXT, Conn, check, close_payload, eq, frame

suite = wsraw.Suite("handshake_bytes")
REQUEST_PATH = os.path.join(wsraw.DATA_DIR, "chromium-156-upgrade-request.bin")
with open(REQUEST_PATH, "rb") as f:
    REQUEST = f.read()
KEY = re.search(rb"\r\nSec-WebSocket-Key: ([^\r]+)\r\n", REQUEST).group(1).decode()
SEGMENT_GAP = 0.03  # long enough for the first segment to be read on its own
PARALLEL = 64
QUIET = 0.3  # how long "nothing after the 101" is watched


def deflate_answer_ok(value):
    """RFC 7692 §7.1: the answer to `permessage-deflate; client_max_window_bits`
    is one permessage-deflate element; parameters from §7.1.1/7.1.2 only, each
    at most once; window bits values 8..15, client_max_window_bits with a
    value (allowed because the offer carried it)."""
    check("," not in value, f"more than one extension answered: {value!r}")
    parts = [p.strip(" \t") for p in value.split(";")]
    eq(parts[0], "permessage-deflate", "extension name")
    seen = set()
    for p in parts[1:]:
        name, eqs, v = p.partition("=")
        name = name.strip(" \t")
        v = v.strip(" \t").strip('"')
        check(name not in seen, f"parameter {name} twice in {value!r}")
        seen.add(name)
        if name in ("server_no_context_takeover", "client_no_context_takeover"):
            check(not eqs, f"{name} has a value in {value!r}")
        elif name in ("server_max_window_bits", "client_max_window_bits"):
            check(eqs and re.fullmatch(r"[1-9][0-9]?", v) and 8 <= int(v) <= 15,
                  f"{name} value in {value!r}")
        else:
            raise wsraw.Failure(f"unknown parameter {name!r} in {value!r}")


def expected_101(head):
    """Checks `head` against the exact form; returns the extension value or None."""
    prefix = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              f"Sec-WebSocket-Accept: {wsraw.accept_key(KEY)}\r\n").encode()
    eq(head[:len(prefix)], prefix, "101 up to the accept line")
    rest = head[len(prefix):]
    if rest == b"\r\n":
        return None
    m = re.fullmatch(rb"Sec-WebSocket-Extensions: ([\x21-\x7e][\x20-\x7e]*)\r\n\r\n", rest)
    check(m, f"after the accept line: {rest!r}, want the empty line or one extension line")
    value = m.group(1).decode()
    deflate_answer_ok(value)
    return value


def read_echo(c, deflate):
    """One data message; with permessage-deflate agreed, RSV1 marks a
    compressed message (RFC 7692 §6), inflated with the 00 00 ff ff tail."""
    h = c.recv_exact(2)
    check(not (h[1] & 0x80), "server frame masked")
    rsv = (h[0] >> 4) & 7
    check(rsv in ((0, 4) if deflate else (0,)), f"RSV bits {rsv} in the echo")
    check(h[0] & 0x80, "echo of a small message is fragmented")
    n = h[1] & 0x7F
    check(n <= 125, "echo of a small message uses an extended length")
    payload = c.recv_exact(n)
    if rsv == 4:
        payload = zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")
    return h[0] & 0xF, payload


def chromium_request_as_is():
    with Conn() as c:
        c.send(REQUEST)
        head = c.read_http_head()
        ext = expected_101(head)
        print(f"     extension answer: {ext!r}", flush=True)
        eq(c.pending(), b"", "bytes after the 101 in the same read")
        c.sock.settimeout(QUIET)
        try:
            extra = c.sock.recv(4096)
            raise wsraw.Failure(f"server sent {extra[:32]!r} before any client frame")
        except socket.timeout:
            pass
        c.sock.settimeout(wsraw.IO_TIMEOUT)
        msg = "from Chromium's handshake ☃".encode()
        c.send(frame(OP_TEXT, msg))
        eq(read_echo(c, ext is not None), (OP_TEXT, msg), "echo after the 101")
        c.send(frame(OP_CLOSE, close_payload(1000)))
        f = c.read_frame()
        eq((f.opcode, f.payload), (OP_CLOSE, close_payload(1000)), "close reply")
        c.expect_eof(wsraw.CLOSE_TIMEOUT + 2)
        return head


def reference_101():
    with Conn() as c:
        c.send(REQUEST)
        return c.read_http_head()


async def split_once(at, want, sem):
    async with sem:
        r, w = await asyncio.wait_for(asyncio.open_connection(wsraw.HOST, wsraw.PORT), 10)
        try:
            sock = w.get_extra_info("socket")
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            w.write(REQUEST[:at])
            await w.drain()
            await asyncio.sleep(SEGMENT_GAP)
            w.write(REQUEST[at:])
            await w.drain()
            head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
            if head != want:
                raise wsraw.Failure(f"split at {at}: got {head!r}")
        finally:
            w.close()


async def all_splits(want):
    sem = asyncio.Semaphore(PARALLEL)
    res = await asyncio.gather(*[split_once(at, want, sem) for at in range(1, len(REQUEST))],
                               return_exceptions=True)
    bad = [(at, e) for at, e in zip(range(1, len(REQUEST)), res) if isinstance(e, BaseException)]
    check(not bad, f"{len(bad)} of {len(REQUEST) - 1} splits failed; first: {bad[:2]!r}")


def every_split_position():
    want = reference_101()
    expected_101(want)
    t0 = time.monotonic()
    asyncio.run(all_splits(want))
    print(f"     {len(REQUEST) - 1} split positions in {time.monotonic() - t0:.1f}s", flush=True)


def byte_per_segment():
    want = reference_101()
    with Conn() as c:
        for i in range(len(REQUEST)):
            c.send(REQUEST[i:i + 1])
            time.sleep(0.001)
        eq(c.read_http_head(), want, "101 for the request sent a byte at a time")
        eq(c.pending(), b"", "bytes after the 101")
        c.send(frame(OP_TEXT, b"trickled"))
        eq(read_echo(c, b"Extensions" in want), (OP_TEXT, b"trickled"), "echo")
        c.send(frame(OP_CLOSE, close_payload(1000)))
        f = c.read_frame()
        eq((f.opcode, f.payload), (OP_CLOSE, close_payload(1000)), "close reply")
        c.expect_eof(wsraw.CLOSE_TIMEOUT + 2)


suite.run("Chromium 156 request as-is: exact 101 bytes, quiet until a frame, echo",
          chromium_request_as_is)
suite.run("request split into 2 segments at every position: same 101", every_split_position)
suite.run("request one byte per segment: same 101", byte_per_segment)
suite.run("server still serves a new client", wsraw.fresh_echo)
suite.finish()
