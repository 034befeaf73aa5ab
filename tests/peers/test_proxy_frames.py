#!/usr/bin/python3
"""wsgate --mode proxy with --route PREFIX=POOL,relay=frames: wsgate terminates
WebSocket on both sides.

  test_proxy_frames.py WSGATE_BINARY BACKEND [CASE-FILTER...]

Upstreams: a wsgate echo server (/w), a python3-websockets echo server (/p,
also /p/flood and /p/sink for backpressure), a Node `ws` echo server (/n),
and a raw recorder in this process (/rec/...) that keeps every frame it
receives (masking key and unmasked payload) and, by path, echoes, dies,
closes with 4001, pings, fragments, refuses (403) or answers a wrong accept.
Clients: python3-websockets, Node's `ws` (proxy_node_client.mjs), raw sockets
(wsraw) for the violations, each of which must get its close code from
wsgate and never reach the upstream.
"""

import asyncio
import os
import socket
import struct
import subprocess
import sys
import threading
import time

import websockets

import wsraw
import proxy_flood
import wsload_runner
from proxy_flood import FLOOD_TOTAL, Flood
from wsgate_proc import Server, free_port, rss_kib
from wsraw import check, eq

if len(sys.argv) < 3:
    print("usage: test_proxy_frames.py WSGATE_BINARY BACKEND", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(2)
BIN, BACKEND = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
HERE = os.path.dirname(os.path.abspath(__file__))
suite = wsraw.Suite("proxy_frames")
WSLOAD = wsload_runner.wsload_path(BIN)

MAX_MESSAGE = 2 << 20  # --max-message-bytes of the proxy
MAX_QUEUED = 256 << 10  # --max-queued-bytes of the proxy
IDLE_TIMEOUT = 3  # the second proxy's --idle-timeout (a loaded machine answers pings late)
DRAIN = 1.5  # and its --drain-timeout
MARK = b"EVIL"  # in every violating frame: must never reach an upstream


# ---- the recording upstream ----

class Recorded:
    """One connection the recorder accepted."""

    def __init__(self, path, headers):
        self.path, self.headers = path, headers
        self.frames = []  # (opcode, fin, key or None, payload unmasked)
        self.raw = bytearray()
        self.closed = threading.Event()


class Recorder:
    """A raw WebSocket server (RFC 6455 §4.2) on its own thread."""

    def __init__(self):
        self.port = free_port()
        self.conns = {}
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self._run, daemon=True).start()
        check(self.ready.wait(10), "recorder did not start")

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())

    async def _serve(self):
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", self.port)
        self.ready.set()
        await asyncio.Event().wait()

    def get(self, path, timeout=3):
        deadline = time.monotonic() + timeout
        while path not in self.conns and time.monotonic() < deadline:
            time.sleep(0.01)
        check(path in self.conns, f"the upstream got a connection for {path}")
        return self.conns[path]

    @staticmethod
    def _frame(op, payload=b"", fin=True):
        return wsraw.frame(op, payload, fin=fin, mask=False)

    async def _conn(self, reader, writer):
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except Exception:
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        path = lines[0].split(" ")[1]
        headers = [tuple(x.strip() for x in l.split(":", 1)) for l in lines[1:] if ":" in l]
        rec = Recorded(path, headers)
        self.conns[path] = rec
        key = next((v for k, v in headers if k.lower() == "sec-websocket-key"), "")
        if path.startswith("/rec/refuse"):
            body = b"refused by upstream\n"
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
            await writer.drain()
            writer.close()
            rec.closed.set()
            return
        accept = wsraw.accept_key("not the key" if path.startswith("/rec/badaccept") else key)
        writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        if path.startswith("/rec/ping"):
            writer.write(self._frame(wsraw.OP_PING, b"hb"))
        await writer.drain()
        message, op = [], None
        try:
            while True:
                h = await reader.readexactly(2)
                rec.raw += h
                n = h[1] & 0x7F
                ext = b""
                if n == 126:
                    ext = await reader.readexactly(2)
                    n = struct.unpack("!H", ext)[0]
                elif n == 127:
                    ext = await reader.readexactly(8)
                    n = struct.unpack("!Q", ext)[0]
                key4 = await reader.readexactly(4) if h[1] & 0x80 else None
                data = await reader.readexactly(n)
                rec.raw += ext + (key4 or b"") + data
                payload = wsraw.mask_bytes(data, key4) if key4 else data
                fop, fin = h[0] & 0xF, bool(h[0] & 0x80)
                rec.frames.append((fop, fin, key4, payload))
                if fop == wsraw.OP_CLOSE:
                    writer.write(self._frame(wsraw.OP_CLOSE, payload[:2]))
                    await writer.drain()
                    break
                if fop >= 8:
                    continue
                if fop != wsraw.OP_CONT:
                    op = fop
                message.append(payload)
                if not fin:
                    continue
                whole, message = b"".join(message), []
                if path.startswith("/rec/die"):
                    break  # FIN, no close frame
                if path.startswith("/rec/close") or path.startswith("/rec/restart"):
                    code, why = (1012, "restarting") if "restart" in path else (4001, "bye")
                    writer.write(self._frame(wsraw.OP_CLOSE, wsraw.close_payload(code, why)))
                    await writer.drain()
                    continue
                if path.startswith("/rec/frag"):
                    third = max(1, len(whole) // 3)
                    writer.write(self._frame(op, whole[:third], fin=False) +
                                 self._frame(wsraw.OP_PING, b"mid") +
                                 self._frame(wsraw.OP_CONT, whole[third:2 * third], fin=False) +
                                 self._frame(wsraw.OP_CONT, whole[2 * third:]))
                else:
                    writer.write(self._frame(op, whole))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            rec.closed.set()


class PythonUpstream:
    """python3-websockets echo server; /p/flood floods, /p/sink does not read."""

    def __init__(self):
        self.port = free_port()
        self.flood = Flood()
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self._run, daemon=True).start()
        check(self.ready.wait(10), "python upstream did not start")

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())

    async def _serve(self):
        await websockets.serve(self._handle, "127.0.0.1", self.port, compression=None,
                               max_size=None, max_queue=4, close_timeout=1)
        self.ready.set()
        await asyncio.Event().wait()

    async def _handle(self, ws, path):
        if path.startswith("/p/flood"):
            await self.flood.send(ws)
            return
        if path.startswith("/p/sink"):
            await proxy_flood.sink(ws)
            return
        async for m in ws:
            await ws.send(m)


def run(coro):
    return asyncio.run(coro)


def url(path):
    return f"ws://127.0.0.1:{state['port']}{path}"


def url2(path):
    return f"ws://127.0.0.1:{state['port2']}{path}"


def raw_client(path, extra=()):
    c = wsraw.Conn(state["port"])
    c.handshake(path, extra=extra)
    return c


def upstream_frames_masked(rec):
    """Every frame the upstream got is masked (RFC 6455 §5.3), a fresh key each."""
    keys = [k for _, _, k, _ in rec.frames]
    check(all(k is not None for k in keys), f"every frame upstream is masked ({rec.frames!r})")
    check(len(set(keys)) == len(keys) or len(keys) < 2, "a fresh masking key per frame")


# ---- cases ----

PAYLOADS = ("hello", "é" * 5000, b"", os.urandom(1), os.urandom(65536), b"a" * 65536,
            os.urandom(1 << 20), "x" * 200000)


def python_echoes(prefix):
    def case():
        async def go():
            for deflate in (None, "deflate"):
                async with websockets.connect(url(prefix + "/echo"), compression=deflate,
                                              max_size=None) as ws:
                    ext = ws.response_headers.get("Sec-WebSocket-Extensions", "")
                    eq("permessage-deflate" in ext, deflate is not None,
                       f"permessage-deflate negotiated with the client ({ext!r})")
                    for payload in PAYLOADS:
                        await ws.send(payload)
                        eq(await ws.recv(), payload, f"echo of {len(payload)} bytes")
                    # A fragmented message (python sends each piece as a frame).
                    await ws.send(iter([b"frag", b"mented", os.urandom(70000)]))
                    got = await ws.recv()
                    eq(len(got), 10 + 70000, "fragmented message echoed whole")
                    await ws.ping(b"edge")
    return case


def node_echoes(prefix):
    def case():
        p = subprocess.run(["node", os.path.join(HERE, "proxy_node_client.mjs"),
                            str(state["port"]), prefix + "/node"],
                           capture_output=True, text=True, timeout=60)
        print("\n".join("     " + l for l in p.stdout.strip().splitlines()), flush=True)
        eq(p.returncode, 0, f"node client ({p.stderr.strip()[-300:]})")
    return case


def pipelined_large_messages():
    """64 KiB messages sent back to back: the upstream's frames (the echo's
    re-framed pieces) straddle receive buffers at every offset, headers
    ending a buffer included (a stale decoder headroom there once had the
    relay write a frame header before the buffer: corrupt echoes, then a crash)."""
    c = raw_client("/w/pipelined")
    try:
        payloads = [os.urandom(65536) for _ in range(24)]
        sender = c.send_in_background(b"".join(wsraw.frame(wsraw.OP_BINARY, p) for p in payloads))
        for i, p in enumerate(payloads):
            eq(c.read_message(), (wsraw.OP_BINARY, p), f"message {i}")
        sender.join(10)
        for size in (8190, 16380, 16384, 16388, 32768, 100000):
            for _ in range(3):
                p = os.urandom(size)
                c.send(wsraw.frame(wsraw.OP_BINARY, p))
                eq(c.read_message(), (wsraw.OP_BINARY, p), f"{size} bytes")
    finally:
        c.close()


def wsload_large_messages():
    """wsload (C++, fast enough to hit every buffer alignment): 10 connections of
    64 KiB echoes through the relay, every byte verified. Before the decoder's
    headroom fix: data_mismatch / unexpected_close at once, then a segfault."""
    p = subprocess.run([WSLOAD, "--url", url("/w/wsload"), "-c", "10", "-s", "65536", "-t", "1"],
                       capture_output=True, text=True, timeout=60)
    out = p.stdout + p.stderr
    line = next((l.strip() for l in out.splitlines() if "errors:" in l), "")
    eq(line, "errors: none", f"wsload ({out.strip()[-300:]!r})")
    check(" 0 msg/s" not in out, "messages were echoed")
    check(state["proxy"].proc.poll() is None, "the proxy is alive")


def upstream_handshake_per_hop():
    """Our own key upstream, no extension offered, the client's deflate kept at the edge."""
    async def go():
        async with websockets.connect(url("/rec/echo/hop"), compression="deflate") as ws:
            ext = ws.response_headers.get("Sec-WebSocket-Extensions", "")
            check("permessage-deflate" in ext, f"client side compressed ({ext!r})")
            await ws.send("through")
            eq(await ws.recv(), "through", "echo")
    run(go())
    rec = state["rec"].get("/rec/echo/hop")
    names = [k.lower() for k, _ in rec.headers]
    check("sec-websocket-extensions" not in names, f"no extension offered upstream ({names})")
    eq(names.count("sec-websocket-key"), 1, "one Sec-WebSocket-Key")
    check("x-forwarded-for" in names and "forwarded" in names, "forwarding headers")
    upstream_frames_masked(rec)


def fragments_and_pings():
    """Client fragments relayed frame by frame; client pings answered at the edge."""
    c = raw_client("/rec/echo/frag")
    try:
        c.send(wsraw.frame(wsraw.OP_TEXT, "one-", fin=False) + wsraw.frame(wsraw.OP_PING, "p1") +
               wsraw.frame(wsraw.OP_CONT, "two-", fin=False) + wsraw.frame(wsraw.OP_CONT, "three"))
        f = c.read_frame()
        eq((f.opcode, f.payload), (wsraw.OP_PONG, b"p1"), "pong from the edge")
        eq(c.read_message(), (wsraw.OP_TEXT, b"one-two-three"), "fragmented message echoed")
        c.send(wsraw.frame(wsraw.OP_CLOSE, wsraw.close_payload(1000)))
        c.expect_close(1000, reply=False)
    finally:
        c.close()
    rec = state["rec"].get("/rec/echo/frag")
    rec.closed.wait(3)
    ops = [(op, fin, p) for op, fin, _, p in rec.frames]
    eq(ops[:3], [(wsraw.OP_TEXT, False, b"one-"), (wsraw.OP_CONT, False, b"two-"),
                 (wsraw.OP_CONT, True, b"three")], "fragments relayed as they came, no ping")
    eq(ops[3][0], wsraw.OP_CLOSE, "then the close")
    upstream_frames_masked(rec)


def upstream_fragments_and_ping():
    """The upstream pings (answered here, masked) and fragments its answer."""
    c = raw_client("/rec/ping/frag")
    try:
        payload = os.urandom(3000)
        c.send(wsraw.frame(wsraw.OP_BINARY, payload))
        eq(c.read_message(), (wsraw.OP_BINARY, payload), "echo, no ping relayed")
    finally:
        c.close()
    rec = state["rec"].get("/rec/ping/frag")
    check(rec.closed.wait(3), "upstream closed after the client left")
    pongs = [p for op, _, _, p in rec.frames if op == wsraw.OP_PONG]
    eq(pongs, [b"hb"], "the upstream's ping answered by wsgate")
    c2 = raw_client("/rec/frag/x")
    try:
        c2.send(wsraw.frame(wsraw.OP_TEXT, "abcdefghi"))
        eq(c2.read_message(), (wsraw.OP_TEXT, b"abcdefghi"), "upstream fragments reassembled")
    finally:
        c2.close()


def close_codes_both_ways():
    c = raw_client("/rec/close/x")
    try:
        c.send(wsraw.frame(wsraw.OP_TEXT, "bye?"))
        f = c.expect_close(4001)
        eq(f.payload[2:], b"bye", "the upstream's reason")
    finally:
        c.close()
    c = raw_client("/rec/restart/x")
    try:  # IANA: 1012 (service restart) is a server's code: relayed, not a violation
        c.send(wsraw.frame(wsraw.OP_TEXT, "restart?"))
        f = c.expect_close(1012)
        eq(f.payload[2:], b"restarting", "the upstream's reason")
    finally:
        c.close()
    c = raw_client("/rec/echo/closeup")
    try:
        c.send(wsraw.frame(wsraw.OP_CLOSE, wsraw.close_payload(4002, "later")))
        c.expect_close(4002, reply=False)
    finally:
        c.close()
    rec = state["rec"].get("/rec/echo/closeup")
    check(rec.closed.wait(3), "upstream closed")
    eq([(op, p) for op, _, _, p in rec.frames], [(wsraw.OP_CLOSE, b"\x0f\xa2later")],
       "the client's close code and reason upstream")


def upstream_dies_1014():
    c = raw_client("/rec/die/x")
    try:
        c.send(wsraw.frame(wsraw.OP_TEXT, "last words"))
        t0 = time.monotonic()
        f = c.expect_close(1014)
        check(time.monotonic() - t0 < 1.0, "promptly")
    finally:
        c.close()

    async def go():  # a python client sees the same
        async with websockets.connect(url("/rec/die/py")) as ws:
            await ws.send("x")
            try:
                await asyncio.wait_for(ws.recv(), 5)
            except websockets.ConnectionClosed as e:
                return e.rcvd.code if e.rcvd else None
    eq(run(go()), 1014, "python client: close 1014")


def upstream_refuses():
    with wsraw.Conn(state["port"]) as c:
        c.send(wsraw.build_upgrade("/rec/refuse/x"))
        head = c.read_http_head()
        check(head.startswith(b"HTTP/1.1 403"), f"the upstream's status: {head[:40]!r}")
        body = b""
        try:
            while True:
                c._fill(2.0)
        except (wsraw.Closed, wsraw.Failure):
            body = c.pending()
        check(b"refused by upstream" in body, f"and its body: {body!r}")


def upstream_bad_accept():
    with wsraw.Conn(state["port"]) as c:
        c.send(wsraw.build_upgrade("/rec/badaccept/x"))
        head = c.read_http_head()
        check(head.startswith(b"HTTP/1.1 502"), f"a 101 for another key: {head[:40]!r}")
    state["proxy"].wait_for(lambda t: "Sec-WebSocket-Accept" in t, 2, "the log line")


VIOLATIONS = [
    ("unmasked frame", wsraw.frame(wsraw.OP_TEXT, MARK + b" unmasked", mask=False), 1002),
    ("invalid UTF-8", wsraw.frame(wsraw.OP_TEXT, MARK + b" \xc3\x28"), 1007),
    ("message over --max-message-bytes", wsraw.frame(wsraw.OP_BINARY, MARK * (MAX_MESSAGE // 4 + 1)), 1009),
    ("close code 1005 on the wire", wsraw.frame(wsraw.OP_CLOSE, wsraw.close_payload(1005, MARK)), 1002),
    ("close code 999", wsraw.frame(wsraw.OP_CLOSE, wsraw.close_payload(999, MARK)), 1002),
    ("fragmented ping", wsraw.frame(wsraw.OP_PING, MARK, fin=False), 1002),
    ("ping over 125 bytes", wsraw.frame(wsraw.OP_PING, MARK * 40), 1002),
    ("reserved opcode 0x3", wsraw.frame(0x3, MARK), 1002),
    ("reserved opcode 0xB", wsraw.frame(0xB, MARK), 1002),
    ("RSV2 set", wsraw.frame(wsraw.OP_TEXT, MARK, rsv=2), 1002),
    ("RSV1 without permessage-deflate", wsraw.frame(wsraw.OP_TEXT, MARK, rsv=4), 1002),
    ("continuation without a message", wsraw.frame(wsraw.OP_CONT, MARK), 1002),
    ("new message inside a fragmented one",
     wsraw.frame(wsraw.OP_TEXT, "part", fin=False) + wsraw.frame(wsraw.OP_TEXT, MARK), 1002),
]


def violation(i, data, code):
    def case():
        path = f"/rec/echo/violation{i}"
        c = raw_client(path)
        try:
            c.echo(wsraw.OP_TEXT, f"fine {i}")  # the connection works up to the violation
            c.send(data)
            c.expect_close(code, reply=False, strict=True)
        finally:
            c.close()
        rec = state["rec"].get(path)
        check(rec.closed.wait(3), "the upstream connection was closed")
        check(MARK not in b"".join(p for _, _, _, p in rec.frames),
              f"no byte of the violation upstream: {rec.frames!r}")
        check(MARK not in rec.raw, "not even masked bytes equal to it")
        eq(rec.frames[0][3], f"fine {i}".encode(), "the message before it went up")
        last = rec.frames[-1]
        eq((last[0], last[3][:2]), (wsraw.OP_CLOSE, struct.pack("!H", 1001)),
           "the upstream got close 1001")
        upstream_frames_masked(rec)
    return case


def slow_client_stalls_upstream():
    rss_before = proxy_rss_kib()
    flood = state["py"].flood
    flood.reset()
    c, key = proxy_flood.raw_upgrade(state["port"], "/p/flood", socket.SO_RCVBUF, 10)
    try:
        stalled_at = proxy_flood.wait_for_stall(flood)
        rss = proxy_rss_kib()
        proxy_flood.check_growth(rss_before, rss)
        wsraw.check_101(c.read_http_head(), key)
        for seq in range(FLOOD_TOTAL // proxy_flood.FLOOD_MESSAGE):
            # Relayed piece by piece as received: a message may come in several frames.
            eq(c.read_message(), (wsraw.OP_BINARY, proxy_flood.flood_payload(seq)),
               f"message {seq}")
        check(flood.done.wait(5), "the upstream finished")
        print(f"     stalled upstream had sent {stalled_at >> 10} KiB; proxy RSS {rss} KiB",
              flush=True)
    finally:
        c.close()


def slow_upstream_stalls_client():
    rss_before = proxy_rss_kib()
    # a loaded machine (9 agents on 2 cores) can take seconds
    c, key = proxy_flood.raw_upgrade(state["port"], "/p/sink", socket.SO_SNDBUF, 10)
    try:
        wsraw.check_101(c.read_http_head(), key)
        sent = proxy_flood.send_until_stalled(c)
        rss = proxy_rss_kib()
        proxy_flood.check_growth(rss_before, rss)
        print(f"     stalled client had sent {sent >> 10} KiB; proxy RSS {rss} KiB", flush=True)
    finally:
        c.close()


def keepalive_pings():
    """--upstream-ping-interval keeps an idle proxied connection past --idle-timeout."""
    async def go():
        async with websockets.connect(url2("/rec/echo/keep"), ping_interval=None) as ws:
            await ws.send("before")
            eq(await ws.recv(), "before", "echo")
            await asyncio.sleep(IDLE_TIMEOUT + 1.5)  # idle past --idle-timeout
            await ws.send("after")
            eq(await ws.recv(), "after", "still relayed after an idle spell")
    run(go())
    rec = state["rec"].get("/rec/echo/keep")
    pings = [k for op, _, k, _ in rec.frames if op == wsraw.OP_PING]
    check(len(pings) >= 3, f"keepalive pings upstream ({len(pings)} in {IDLE_TIMEOUT + 1.5}s)")
    upstream_frames_masked(rec)


def drain_on_sigterm():
    """SIGTERM: no new connections; established ones go on for --drain-timeout,
    then frames relays get 1001 both ways and tunnels are closed (TCP)."""
    proxy = state["proxy2"]
    result = {}

    async def frames_client(opened, t0):
        async with websockets.connect(url2("/rec/echo/drain"), ping_interval=None) as ws:
            await ws.send("one")
            eq(await ws.recv(), "one", "echo before SIGTERM")
            opened.set()
            await t0.wait()
            await asyncio.sleep(DRAIN / 3)
            await ws.send("two")
            eq(await ws.recv(), "two", "echo during the drain")
            try:
                await asyncio.wait_for(ws.recv(), DRAIN + 3)
            except websockets.ConnectionClosed as e:
                result["frames"] = (e.rcvd.code if e.rcvd else None, time.monotonic())

    tunnel = wsraw.Conn(state["port2"])
    tunnel.handshake("/t/drain")
    tunnel.echo(wsraw.OP_TEXT, "tunnel one")

    async def go():
        opened, t0 = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(frames_client(opened, t0))
        await opened.wait()
        start = time.monotonic()
        proxy.proc.send_signal(15)
        t0.set()
        await asyncio.sleep(0.2)
        try:  # no new connections
            async with websockets.connect(url2("/rec/echo/late"), open_timeout=1):
                raise wsraw.Failure("a connection accepted after SIGTERM")
        except (OSError, asyncio.TimeoutError, websockets.InvalidHandshake):
            pass
        tunnel.echo(wsraw.OP_TEXT, "tunnel two")  # during the drain
        await task
        return start
    start = run(go())
    code, at = result.get("frames", (None, None))
    eq(code, 1001, "frames client: close 1001 after the drain")
    took = at - start
    check(DRAIN - 0.15 <= took < DRAIN + 1.5, f"after --drain-timeout {DRAIN}s: {took:.2f}s")
    tunnel.expect_eof(3)
    check(time.monotonic() - start < DRAIN + 2.5, "tunnel closed (TCP) after the drain")
    rec = state["rec"].get("/rec/echo/drain")
    check(rec.closed.wait(3), "upstream closed")
    last = rec.frames[-1]
    eq((last[0], last[3][:2]), (wsraw.OP_CLOSE, struct.pack("!H", 1001)), "upstream got 1001")
    check("/rec/echo/late" not in state["rec"].conns, "the late client never went upstream")
    eq(proxy.proc.wait(10), 0, "exit status 0")


def proxy_rss_kib():
    return rss_kib(state["proxy"].pid)

state = {}
servers = []
node = None
try:
    echo_port = free_port()
    servers.append(Server(BIN, ["--listen", f"127.0.0.1:{echo_port}", "--threads", "1",
                                "--backend", BACKEND]))
    node_port = free_port()
    node = subprocess.Popen(["node", os.path.join(HERE, "node_ws_echo_server.mjs"),
                             str(node_port)], stdout=subprocess.PIPE, text=True)
    check(node.stdout.readline().strip() == "listening", "node upstream started")
    state["rec"] = Recorder()
    state["py"] = PythonUpstream()
    state["port"] = free_port()
    args = ["--mode", "proxy", "--listen", f"127.0.0.1:{state['port']}", "--threads", "1",
            "--backend", BACKEND, "--max-message-bytes", str(MAX_MESSAGE),
            "--max-queued-bytes", str(MAX_QUEUED), "--close-timeout", "1",
            "--upstream", f"w=127.0.0.1:{echo_port}", "--upstream", f"n=127.0.0.1:{node_port}",
            "--upstream", f"p=127.0.0.1:{state['py'].port}",
            "--upstream", f"rec=127.0.0.1:{state['rec'].port}",
            "--route", "/w=w,relay=frames", "--route", "/n=n,relay=frames",
            "--route", "/p=p,relay=frames", "--route", "/rec=rec,relay=frames"]
    state["proxy"] = Server(BIN, args)
    servers.append(state["proxy"])

    for prefix, name in (("/w", "wsgate echo"), ("/p", "python3-websockets"), ("/n", "Node ws")):
        suite.run(f"python3-websockets client -> {name} upstream: byte-exact echoes, "
                  "plain and deflate at the edge", python_echoes(prefix))
        suite.run(f"Node ws client -> {name} upstream", node_echoes(prefix))
    suite.run("64 KiB messages back to back and odd sizes, byte-exact (wsgate echo upstream)",
              pipelined_large_messages)
    if wsload_runner.available(WSLOAD):
        suite.run("wsload: 10 x 64 KiB echoes through the relay, byte-checked",
                  wsload_large_messages)
    else:
        suite.skip("wsload: 10 x 64 KiB echoes through the relay", f"no {WSLOAD}")
    suite.run("upstream handshake: own key, no extension offered, frames masked",
              upstream_handshake_per_hop)
    suite.run("client fragments relayed frame by frame, client ping answered at the edge",
              fragments_and_pings)
    suite.run("upstream ping answered at the edge, upstream fragments reassembled",
              upstream_fragments_and_ping)
    suite.run("close code and reason relayed both ways", close_codes_both_ways)
    suite.run("upstream dies: client gets 1014", upstream_dies_1014)
    suite.run("upstream refuses the upgrade: its status and body go back", upstream_refuses)
    suite.run("upstream 101 with a wrong accept: 502", upstream_bad_accept)
    for i, (name, data, code) in enumerate(VIOLATIONS):
        suite.run(f"violation never reaches the upstream: {name} -> {code}",
                  violation(i, data, code))
    suite.run("backpressure: a client that does not read stalls its upstream",
              slow_client_stalls_upstream)
    suite.run("backpressure: an upstream that does not read stalls its client",
              slow_upstream_stalls_client)
    rc = state["proxy"].terminate(10)
    suite.run("SIGTERM: exit 0", lambda: eq(rc, 0, "exit status"))

    state["port2"] = free_port()
    state["proxy2"] = Server(BIN, [
        "--mode", "proxy", "--listen", f"127.0.0.1:{state['port2']}", "--threads", "1",
        "--backend", BACKEND, "--close-timeout", "1", "--idle-timeout", str(IDLE_TIMEOUT),
        "--upstream-ping-interval", "0.4", "--drain-timeout", str(DRAIN),
        "--upstream", f"w=127.0.0.1:{echo_port}", "--upstream", f"rec=127.0.0.1:{state['rec'].port}",
        "--route", "/t=w", "--route", "/rec=rec,relay=frames"])
    servers.append(state["proxy2"])
    suite.run("--upstream-ping-interval keeps an idle relay past --idle-timeout", keepalive_pings)
    suite.run("SIGTERM: --drain-timeout, then 1001 both ways (frames), TCP closed (tunnel), "
              "exit 0", drain_on_sigterm)
finally:
    for s in servers:
        s.stop()
    if node is not None:
        node.terminate()
        node.wait(5)
suite.finish()
