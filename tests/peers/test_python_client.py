#!/usr/bin/python3
"""Echo through a real client library: Debian's python3-websockets (10.x,
legacy asyncio client API). Sizes around every length-encoding boundary
(RFC 6455 §5.2), fragmented sends, multi-byte UTF-8, ping payloads, close
codes echoed back (§5.5.1), and many messages in flight."""

import asyncio
import hashlib
import os
import sys
import time

import websockets

HOST = os.environ.get("WSGATE_HOST", "127.0.0.1")
PORT = int(os.environ.get("WSGATE_PORT", "8080"))
URI = f"ws://{HOST}:{PORT}/"
MAX = 16 << 20
CASE_TIMEOUT = 30

passed = 0
failed = 0


def connect():
    # No compression offer: the echo must be byte-exact on the wire too.
    return websockets.connect(URI, max_size=MAX + 1024, compression=None, ping_interval=None,
                              max_queue=None, open_timeout=5, close_timeout=5)


def want(cond, what):
    if not cond:
        raise AssertionError(what)


def digest(b):
    return f"{len(b)} bytes sha1 {hashlib.sha1(b).hexdigest()[:12]}"


async def echo_one(ws, msg):
    await ws.send(msg)
    got = await ws.recv()
    want(type(got) is type(msg), f"echo type {type(got).__name__} for {type(msg).__name__}")
    if got != msg:
        a = msg.encode() if isinstance(msg, str) else msg
        b = got.encode() if isinstance(got, str) else got
        raise AssertionError(f"echo differs: sent {digest(a)}, got {digest(b)}")


async def close_clean(ws, code=1000):
    await ws.close(code)
    want(ws.close_rcvd is not None, "no close frame received from server")
    want(ws.close_rcvd.code == code, f"server close code {ws.close_rcvd.code}, want {code}")
    want(ws.close_rcvd.reason == "", f"server close reason {ws.close_rcvd.reason!r}, want none")


async def sizes(kind):
    lengths = [0, 1, 125, 126, 127, 65535, 65536, 1 << 20, 16 << 20]
    async with connect() as ws:
        for n in lengths:
            if kind == "text":
                # ASCII with some 2- and 3-byte characters, cut to exactly n bytes.
                unit = "abcdefgh" * 6 + "é☃"  # 48 + 2 + 3 = 53 bytes
                s = (unit * (n // 53 + 1)).encode()[:n]
                while True:
                    try:
                        msg = s.decode()
                        break
                    except UnicodeDecodeError:
                        s = s[:-1] + b"x"
                want(len(msg.encode()) == n, "text size setup")
            else:
                msg = os.urandom(n) if n <= (1 << 20) else (os.urandom(1 << 16) * 256)
            await echo_one(ws, msg)
        await close_clean(ws)


async def fragmented():
    async with connect() as ws:
        async def pieces(parts):
            for p in parts:
                yield p

        text = ["héllo ", "wörld ", "", "— ☃ ", "𝄞 中文", "x" * 70000]
        await ws.send(pieces(text))
        got = await ws.recv()
        want(got == "".join(text), "fragmented text echo differs")
        blobs = [os.urandom(n) for n in (1, 0, 125, 126, 65536, 3)]
        await ws.send(pieces(blobs))
        got = await ws.recv()
        want(got == b"".join(blobs), "fragmented binary echo differs")
        # 1000 one-byte fragments.
        await ws.send(pieces([bytes([i & 0xFF]) for i in range(1000)]))
        got = await ws.recv()
        want(got == bytes(i & 0xFF for i in range(1000)), "1000-fragment echo differs")
        await close_clean(ws)


async def utf8():
    samples = ["héllo wörld — ☃ 𝄞 中文", "\u0080\u07ff\u0800\uffff\U00010000\U0010ffff",
               "Ελληνικά русский עברית العربية हिन्दी 日本語 한국어 🎉🚀", "\ufeffBOM", "nul\x00inside"]
    async with connect() as ws:
        for s in samples:
            await echo_one(ws, s)
        await close_clean(ws)


async def pings():
    async with connect() as ws:
        for payload in (b"", b"x", os.urandom(125), "ping ☃".encode(), bytes(range(125))):
            # The waiter resolves only when a pong with this exact payload arrives.
            waiter = await ws.ping(payload)
            await asyncio.wait_for(waiter, 5)
        # Several outstanding pings answered in order.
        waiters = [await ws.ping(f"p{i}".encode()) for i in range(20)]
        await asyncio.wait_for(asyncio.gather(*waiters), 5)
        # The connection still echoes after pings.
        await echo_one(ws, "after pings")
        await close_clean(ws)


async def close_code(code):
    async with connect() as ws:
        await echo_one(ws, "before close")
        await close_clean(ws, code)


async def in_flight():
    n = 2000
    async with connect() as ws:
        msgs = []
        for i in range(n):
            msgs.append(f"msg {i} ☃" * (i % 7) if i % 2 else os.urandom(i % 300))

        async def sender():
            for m in msgs:
                await ws.send(m)

        async def receiver():
            for i, m in enumerate(msgs):
                got = await ws.recv()
                if got != m:
                    raise AssertionError(f"message {i} of {n} differs or out of order")

        await asyncio.gather(sender(), receiver())
        await close_clean(ws)


async def big_in_flight():
    # Several 1 MiB messages queued before reading any echo (backpressure path).
    async with connect() as ws:
        msgs = [os.urandom(1 << 20) for _ in range(8)]

        async def sender():
            for m in msgs:
                await ws.send(m)

        async def receiver():
            for i, m in enumerate(msgs):
                got = await ws.recv()
                want(got == m, f"1 MiB message {i} differs")

        await asyncio.gather(sender(), receiver())
        await close_clean(ws)


async def run(name, coro):
    global passed, failed
    t0 = time.monotonic()
    try:
        await asyncio.wait_for(coro, CASE_TIMEOUT)
    except Exception as e:  # noqa: BLE001 - any failure of the case
        failed += 1
        print(f"FAIL python {name}: {type(e).__name__}: {e}", flush=True)
        return
    passed += 1
    print(f"ok   python {name} ({time.monotonic() - t0:.1f}s)", flush=True)


async def main():
    print(f"python3-websockets {websockets.__version__} against {URI}", flush=True)
    await run("text sizes 0..16MiB", sizes("text"))
    await run("binary sizes 0..16MiB", sizes("binary"))
    await run("fragmented sends", fragmented())
    await run("multi-byte UTF-8", utf8())
    await run("ping payloads", pings())
    for code in (1000, 3000, 4999):
        await run(f"close {code} echoed", close_code(code))
    await run("2000 messages in flight", in_flight())
    await run("8 x 1 MiB in flight", big_in_flight())
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(0 if failed == 0 else 1)


asyncio.run(main())
