#!/usr/bin/python3
"""Many simultaneous connections: 2,000 clients (asyncio, raw frames from
wsraw) all upgraded and held open at once, then each exchanges several
messages of different kinds and sizes concurrently, every byte checked,
then all close cleanly (1000 → 1000). Bounded in time."""

import asyncio
import hashlib
import os
import struct
import sys
import time

import wsraw
from wsraw import OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, close_payload, frame

N = int(os.environ.get("WSGATE_CONCURRENT", "2000"))
MESSAGES = 6
PHASE_TIMEOUT = 60
suite = wsraw.Suite("concurrency")


async def read_frame(r):
    h = await r.readexactly(2)
    if h[1] & 0x80 or h[0] & 0x70:
        raise wsraw.Failure("server frame masked or RSV set")
    n = h[1] & 0x7F
    if n == 126:
        n = struct.unpack("!H", await r.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await r.readexactly(8))[0]
    return h[0] & 0x80, h[0] & 0xF, await r.readexactly(n)


async def read_message(r):
    op, parts = None, []
    while True:
        fin, o, payload = await read_frame(r)
        if o >= 8:
            return o, payload
        op = o if op is None else op
        parts.append(payload)
        if fin:
            return op, b"".join(parts)


def messages_for(i):
    """Deterministic per-connection messages: text with multi-byte UTF-8,
    binary of sizes crossing the 7/16/64-bit length forms, a ping."""
    seed = hashlib.sha256(i.to_bytes(4, "big")).digest()
    return [
        (OP_TEXT, f"conn {i} héllo ☃ 𝄞".encode()),
        (OP_BINARY, seed * (1 + i % 5)),
        (OP_PING, seed[:8]),
        (OP_TEXT, ("x" * (i % 300)).encode()),
        (OP_BINARY, (seed * 2048)[:126 + (i * 37) % 70000]),
        (OP_BINARY, b""),
    ][:MESSAGES]


class Client:
    def __init__(self, i):
        self.i = i
        self.r = self.w = None


async def open_client(c, sem):
    async with sem:
        c.r, c.w = await asyncio.open_connection(wsraw.HOST, wsraw.PORT)
        key = wsraw.new_key()
        c.w.write(wsraw.build_upgrade("/", key, f"{wsraw.HOST}:{wsraw.PORT}"))
        head = await c.r.readuntil(b"\r\n\r\n")
        wsraw.check_101(head, key)


async def exchange(c):
    msgs = messages_for(c.i)
    for op, payload in msgs:
        c.w.write(frame(op, payload))
    await c.w.drain()
    # Data echoes in order; the pong may overtake them (control frames are
    # not queued behind data, RFC 6455 §5.4).
    data = [(op, p) for op, p in msgs if op != OP_PING]
    pongs = [p for op, p in msgs if op == OP_PING]
    got_data, got_pongs = [], []
    while len(got_data) < len(data) or len(got_pongs) < len(pongs):
        op, payload = await read_message(c.r)
        if op == OP_PONG:
            got_pongs.append(payload)
        else:
            got_data.append((op, payload))
            k = len(got_data) - 1
            if k >= len(data) or got_data[k] != data[k]:
                want = data[k] if k < len(data) else (None, b"")
                raise wsraw.Failure(f"conn {c.i} message {k}: got op {op} {len(payload)} bytes, "
                                    f"want op {want[0]} {len(want[1])} bytes")
    if got_pongs != pongs:
        raise wsraw.Failure(f"conn {c.i}: pongs {got_pongs!r}, want {pongs!r}")


async def close_client(c):
    c.w.write(frame(OP_CLOSE, close_payload(1000)))
    await c.w.drain()
    fin, op, payload = await read_frame(c.r)
    if op != OP_CLOSE or payload != close_payload(1000):
        raise wsraw.Failure(f"conn {c.i}: close reply op {op} payload {payload!r}")
    rest = await c.r.read()
    if rest:
        raise wsraw.Failure(f"conn {c.i}: bytes after close {rest[:16]!r}")
    c.w.close()


async def phase(name, coros):
    t0 = time.monotonic()
    results = await asyncio.wait_for(asyncio.gather(*coros, return_exceptions=True),
                                     PHASE_TIMEOUT)
    errors = [r for r in results if isinstance(r, BaseException)]
    print(f"     {name}: {len(results) - len(errors)}/{len(results)} ok in "
          f"{time.monotonic() - t0:.1f}s", flush=True)
    if errors:
        kinds = {}
        for e in errors:
            kinds.setdefault(f"{type(e).__name__}: {e}"[:120], 0)
            kinds[f"{type(e).__name__}: {e}"[:120]] += 1
        raise wsraw.Failure(f"{name}: {len(errors)} failed; " +
                            "; ".join(f"{n}x {k}" for k, n in list(kinds.items())[:3]))


async def main():
    clients = [Client(i) for i in range(N)]
    sem = asyncio.Semaphore(200)
    state = {"opened": False, "exchanged": False}

    async def run(name, fn):
        try:
            await fn()
        except Exception as e:  # noqa: BLE001
            suite.failed += 1
            print(f"FAIL concurrency {name}: {type(e).__name__}: {e}", flush=True)
            return False
        suite.passed += 1
        print(f"ok   concurrency {name}", flush=True)
        return True

    try:
        if await run(f"{N} connections upgraded and held open",
                     lambda: phase("upgrade", [open_client(c, sem) for c in clients])):
            if await run(f"{N} x {MESSAGES} messages echoed concurrently, every byte checked",
                         lambda: phase("exchange", [exchange(c) for c in clients])):
                await run(f"{N} clean closes", lambda: phase("close", [close_client(c)
                                                                      for c in clients]))
    finally:
        for c in clients:
            if c.w is not None:
                c.w.close()
    suite.run("server still serves a new client", wsraw.fresh_echo)


asyncio.run(main())
suite.finish()
