#!/usr/bin/python3
"""permessage-deflate through a real client library: Debian's
python3-websockets 10.4 (compression='deflate' is its default; its offer is
"permessage-deflate; client_max_window_bits"). Echo with compression on,
sizes 0 .. 16 MiB, fragmented sends, text and binary, against the default
server (no context takeover on both sides) and one keeping context, with
the library's default offer and with client_no_context_takeover /
server_max_window_bits offers. The negotiated header is asserted exactly,
and the library's own view of the agreement too."""

import asyncio
import hashlib
import json
import os
import random
import sys
import time

import websockets
from websockets.extensions.permessage_deflate import (ClientPerMessageDeflateFactory,
                                                      PerMessageDeflate)

HOST = os.environ.get("WSGATE_HOST", "127.0.0.1")
PORT = int(os.environ.get("WSGATE_PORT", "8080"))
PORT_TAKEOVER = int(os.environ.get("WSGATE_PORT_TAKEOVER", "0"))
MAX = 16 << 20
CASE_TIMEOUT = 40

passed = 0
failed = 0


def want(cond, what):
    if not cond:
        raise AssertionError(what)


def connect(port, factory=None):
    # compression=None with an explicit factory (else the default one).
    kw = dict(max_size=MAX + 1024, ping_interval=None, max_queue=None, open_timeout=5,
              close_timeout=5)
    if factory is None:
        return websockets.connect(f"ws://{HOST}:{port}/", compression="deflate", **kw)
    return websockets.connect(f"ws://{HOST}:{port}/", compression=None, extensions=[factory],
                              **kw)


def json_text(n, seed=1):
    rnd = random.Random(seed)
    out = []
    size = 0
    while size < n:
        s = json.dumps({"id": rnd.randint(0, 10**9), "sym": rnd.choice(["BTC", "ETH", "SOL"]),
                        "px": round(rnd.uniform(1, 1e5), 2), "note": "ü☃"})
        out.append(s)
        size += len(s.encode())
    b = ",".join(out).encode()[:n]
    while True:
        try:
            return b.decode()
        except UnicodeDecodeError:
            b = b[:-1] + b"x"


async def echo(ws, msg):
    await ws.send(msg)
    got = await ws.recv()
    want(type(got) is type(msg), f"echo type {type(got).__name__}")
    if got != msg:
        a = msg.encode() if isinstance(msg, str) else msg
        b = got.encode() if isinstance(got, str) else got
        raise AssertionError(f"echo differs: sent {len(a)} B {hashlib.sha1(a).hexdigest()[:10]},"
                             f" got {len(b)} B {hashlib.sha1(b).hexdigest()[:10]}")


def check_agreement(ws, header, snct, cnct, sbits=15, cbits=15):
    got = ws.response_headers.get("Sec-WebSocket-Extensions")
    want(got == header, f"negotiated {got!r}, want {header!r}")
    ext = [e for e in ws.extensions if isinstance(e, PerMessageDeflate)]
    want(len(ext) == 1, f"library extensions {ws.extensions}")
    e = ext[0]
    # The library's names from the client's side: remote = server.
    want(e.remote_no_context_takeover == snct, "server_no_context_takeover in library")
    want(e.local_no_context_takeover == cnct, "client_no_context_takeover in library")
    want(e.remote_max_window_bits == sbits, f"server window {e.remote_max_window_bits}")
    want(e.local_max_window_bits == cbits, f"client window {e.local_max_window_bits}")


DEFAULT_MAIN = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"


async def sizes_case(port, header, snct, cnct, factory=None):
    lengths = [0, 1, 125, 126, 127, 128, 4096, 65535, 65536, 1 << 20, 16 << 20]
    async with connect(port, factory) as ws:
        check_agreement(ws, header, snct, cnct)
        for n in lengths:
            await echo(ws, json_text(n, n))
            await echo(ws, json_text(n, n))  # the same again: context takeover
            # Random bytes grow a little when compressed; the server also caps
            # the compressed size at --max-message-bytes, so stay under it.
            b = os.urandom(min(n, 8 << 20))
            await echo(ws, b)
        await ws.close()
        want(ws.close_rcvd is not None and ws.close_rcvd.code == 1000, "clean close")


async def fragmented_case(port):
    async with connect(port) as ws:
        text = json_text(300000, 3)

        async def pieces(s, step):
            for i in range(0, len(s), step):
                yield s[i:i + step]

        for step in (1000, 65536, 100000):
            await ws.send(pieces(text, step))
            got = await ws.recv()
            want(got == text, f"fragmented text ({step}) echo differs")
            data = os.urandom(200000)
            await ws.send(pieces(data, step))
            got = await ws.recv()
            want(got == data, f"fragmented binary ({step}) echo differs")
        await ws.close()


async def offer_case(port, factory, header, snct, cnct, sbits=15, cbits=15):
    async with connect(port, factory) as ws:
        check_agreement(ws, header, snct, cnct, sbits, cbits)
        for n in (10, 200, 5000, 70000, 300000):
            await echo(ws, json_text(n, n))
            await echo(ws, json_text(n, n))
            await echo(ws, os.urandom(n))
        await ws.close()


async def many_small_case(port):
    # 2000 small JSON messages in flight, compressed both ways.
    async with connect(port) as ws:
        msgs = [json_text(200 + i % 300, i) for i in range(2000)]
        for m in msgs:
            await ws.send(m)
        for m in msgs:
            got = await ws.recv()
            want(got == m, "pipelined echo differs")
        await ws.close()


async def run(name, coro):
    global passed, failed
    t0 = time.monotonic()
    try:
        await asyncio.wait_for(coro, CASE_TIMEOUT)
    except Exception as e:  # noqa: BLE001
        failed += 1
        print(f"FAIL deflate_python {name}: {type(e).__name__}: {e}", flush=True)
        return
    passed += 1
    print(f"ok   deflate_python {name} ({time.monotonic() - t0:.1f}s)", flush=True)


async def main():
    print(f"websockets {websockets.__version__}", flush=True)
    F = ClientPerMessageDeflateFactory
    await run("default offer, main server: sizes 0..16 MiB",
              sizes_case(PORT, DEFAULT_MAIN, True, True))
    await run("default offer, takeover server: sizes 0..16 MiB",
              sizes_case(PORT_TAKEOVER, "permessage-deflate", False, False))
    await run("fragmented sends (main)", fragmented_case(PORT))
    await run("fragmented sends (takeover)", fragmented_case(PORT_TAKEOVER))
    await run("offer client_no_context_takeover (takeover server)",
              offer_case(PORT_TAKEOVER, F(client_no_context_takeover=True),
                         "permessage-deflate; client_no_context_takeover", False, True))
    await run("offer server_no_context_takeover (takeover server)",
              offer_case(PORT_TAKEOVER, F(server_no_context_takeover=True),
                         "permessage-deflate; server_no_context_takeover", True, False))
    for bits in (9, 12):
        await run(f"offer server_max_window_bits={bits} (takeover server)",
                  offer_case(PORT_TAKEOVER, F(server_max_window_bits=bits),
                             f"permessage-deflate; server_max_window_bits={bits}", False, False,
                             sbits=bits))
        await run(f"offer client_max_window_bits={bits} (takeover server)",
                  offer_case(PORT_TAKEOVER, F(client_max_window_bits=bits),
                             f"permessage-deflate; client_max_window_bits={bits}", False, False,
                             cbits=bits))
    await run("offer server_max_window_bits=10, client_max_window_bits=11 (main server)",
              offer_case(PORT, F(server_max_window_bits=10, client_max_window_bits=11),
                         DEFAULT_MAIN + "; server_max_window_bits=10; client_max_window_bits=11",
                         True, True, sbits=10, cbits=11))
    await run("2000 pipelined small JSON messages (main)", many_small_case(PORT))
    await run("2000 pipelined small JSON messages (takeover)", many_small_case(PORT_TAKEOVER))
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)


asyncio.run(main())
