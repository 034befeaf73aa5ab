#!/usr/bin/python3
"""wsgate --mode proxy (tunnel relay) against real upstreams and clients.

  test_proxy.py WSGATE_BINARY BACKEND [CASE-FILTER...]

Starts its own instances: three wsgate echo servers (E1, E2; E3 is killed
mid-connection), two python3-websockets upstreams in this process (HA, HB:
each answers with its name, the request headers it got and the subprotocol
it chose; /refuse gets 403; /flood sends as fast as the tunnel lets it;
/wait records when its client went away), a listener whose accept queue is
full (connects to it time out) and a port nobody listens on, then
`wsgate --mode proxy` in front of them:
  /echo, /node -> echo (E1, E2)      /hdr, /refuse, /flood -> hdr (HA, HB)
  /mixed -> the dead port, then E1   /dead -> the dead port only
  /slow -> the full listener         /kill -> E3        /v6 -> an echo on [::1]
  (no route: 404; the proxy listens on 127.0.0.1 and [::1])
Clients: python3-websockets, Node's `ws` (proxy_node_client.mjs), raw sockets.
"""

import asyncio
import http
import json
import os
import socket
import subprocess
import sys
import threading
import time

import websockets

import wsraw
import proxy_flood
from proxy_flood import FLOOD_TOTAL, Flood
from proxy_upstreams import full_listener
from wsgate_proc import Server, free_port, rss_kib
from wsraw import check, eq

if len(sys.argv) < 3:
    print("usage: test_proxy.py WSGATE_BINARY BACKEND", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(2)
BIN, BACKEND = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
HERE = os.path.dirname(os.path.abspath(__file__))
suite = wsraw.Suite("proxy")

CONNECT_TIMEOUT = 0.5  # --upstream-connect-timeout
MAX_QUEUED = 256 << 10  # --max-queued-bytes of the proxy
N_MANY = 1000


class PythonUpstreams:
    """HA and HB: python3-websockets servers on a thread of their own."""

    def __init__(self):
        self.ports = {"HA": free_port(), "HB": free_port()}
        self.flood = Flood()
        self.wait_closed_at = None
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        check(self.ready.wait(10), "python upstreams did not start")

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())

    async def _serve(self):
        self.stop = asyncio.Event()
        servers = []
        for name, port in self.ports.items():
            servers.append(await websockets.serve(
                self._handler(name), "127.0.0.1", port, process_request=self._refuse,
                subprotocols=["superchat"], compression=None, max_size=None, max_queue=4,
                close_timeout=1))
        self.ready.set()
        await self.stop.wait()
        for s in servers:
            s.close()
            await s.wait_closed()

    @staticmethod
    async def _refuse(path, headers):
        if path.startswith("/refuse"):
            return http.HTTPStatus.FORBIDDEN, [("Content-Type", "text/plain")], b"refused by upstream\n"
        return None

    def _handler(self, name):
        async def handle(ws, path):
            if path.startswith("/flood"):
                await self.flood.send(ws)
                return
            if path.startswith("/hdr/sink"):
                await proxy_flood.sink(ws)
                return
            await ws.send(json.dumps({"name": name, "path": path,
                                      "headers": list(ws.request_headers.raw_items()),
                                      "subprotocol": ws.subprotocol}))
            if path.startswith("/hdr/wait"):
                await ws.wait_closed()
                self.wait_closed_at = time.monotonic()
                return
            async for m in ws:
                await ws.send(m)
        return handle

    def close(self):
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(5)


def run(coro):
    return asyncio.run(coro)


def url(path):
    return f"ws://127.0.0.1:{state['port']}{path}"


def raw_response(path, extra=()):
    """Sends an upgrade request through the proxy; returns (status line, head, body)."""
    with wsraw.Conn(state["port"]) as c:
        c.send(wsraw.build_upgrade(path, extra=extra))
        head = c.read_http_head()
        try:
            while True:
                c._fill(2.0)
        except (wsraw.Closed, wsraw.Failure):  # EOF (or a timeout) ends the body
            pass
        return head.split(b"\r\n", 1)[0].decode(), head, c.pending()


# ---- cases ----

def python_echoes():
    async def go():
        for deflate in (None, "deflate"):
            async with websockets.connect(url("/echo/py"), compression=deflate,
                                          max_size=None) as ws:
                ext = ws.response_headers.get("Sec-WebSocket-Extensions", "")
                eq("permessage-deflate" in ext, deflate is not None,
                   f"permessage-deflate negotiated end to end ({ext!r})")
                for payload in ("hello", "é" * 5000, b"", os.urandom(1), os.urandom(65536),
                                b"a" * 65536, os.urandom(1 << 20)):
                    await ws.send(payload)
                    eq(await ws.recv(), payload, f"echo of {len(payload)} bytes")
    run(go())


def node_echoes():
    p = subprocess.run(["node", os.path.join(HERE, "proxy_node_client.mjs"), str(state["port"])],
                       capture_output=True, text=True, timeout=30)
    print("\n".join("     " + l for l in p.stdout.strip().splitlines()), flush=True)
    eq(p.returncode, 0, f"node client ({p.stderr.strip()[-300:]})")


def many_connections():
    async def one(i, opened, go):
        async with websockets.connect(url(f"/echo/{i}"), compression=None,
                                      open_timeout=20) as ws:
            opened.append(i)
            await go.wait()
            payload = i.to_bytes(4, "big") + os.urandom(100 + i % 200)
            await ws.send(payload)
            eq(await ws.recv(), payload, f"echo on connection {i}")
            return True

    async def go():
        opened, start = [], asyncio.Event()
        tasks = [asyncio.create_task(one(i, opened, start)) for i in range(N_MANY)]
        while len(opened) < N_MANY and not any(t.done() for t in tasks):
            await asyncio.sleep(0.05)
        eq(len(opened), N_MANY, "proxied connections open at once")
        start.set()
        results = await asyncio.gather(*tasks)
        eq(sum(results), N_MANY, "connections echoed byte for byte")
    run(go())


def forwarded_headers():
    async def go():
        async with websockets.connect(url("/hdr/x?y=1"), subprotocols=["chat", "superchat"],
                                      extra_headers=[("X-Forwarded-For", "203.0.113.9")]) as ws:
            info = json.loads(await ws.recv())
            eq(ws.subprotocol, "superchat", "the subprotocol the upstream chose")
            return info
    info = run(go())
    headers = {}
    for k, v in info["headers"]:
        headers.setdefault(k.lower(), []).append(v)
    port = state["port"]
    eq(info["path"], "/hdr/x?y=1", "path and query as sent")
    eq(headers.get("x-forwarded-for"), ["203.0.113.9, 127.0.0.1"], "X-Forwarded-For")
    eq(headers.get("x-forwarded-proto"), ["http"], "X-Forwarded-Proto")
    eq(headers.get("forwarded"), [f'for=127.0.0.1;proto=http;host="127.0.0.1:{port}"'],
       "Forwarded (RFC 7239)")
    eq(headers.get("host"), [f"127.0.0.1:{port}"], "Host kept")
    eq(headers.get("sec-websocket-protocol"), ["chat, superchat"], "Sec-WebSocket-Protocol kept")
    check("sec-websocket-key" in headers, "Sec-WebSocket-Key kept")


def round_robin():
    names = []

    async def go():
        for _ in range(6):
            async with websockets.connect(url("/hdr/rr")) as ws:
                names.append(json.loads(await ws.recv())["name"])
    run(go())
    eq(sorted(names), ["HA"] * 3 + ["HB"] * 3, f"spread over the pool ({names})")
    check(all(names[i] != names[i + 1] for i in range(5)), f"alternating ({names})")


def upstream_refuses():
    status, head, body = raw_response("/refuse/x")
    check(status.startswith("HTTP/1.1 403"), f"the upstream's status passed back: {status!r}")
    check(b"refused by upstream" in body, f"and its body: {body!r}")


def no_route_404():
    status, _, _ = raw_response("/nowhere")
    check(status.startswith("HTTP/1.1 404"), f"no route: {status!r}")


def next_server_after_refused():
    async def go():
        for i in range(4):
            async with websockets.connect(url(f"/mixed/{i}")) as ws:
                await ws.send(f"m{i}")
                eq(await ws.recv(), f"m{i}", "echo from the pool's live server")
    run(go())


def all_refused_502():
    before = state["proxy"].log().count("pool dead:")
    t0 = time.monotonic()
    status, _, _ = raw_response("/dead/x")
    check(status.startswith("HTTP/1.1 502"), f"connect refused: {status!r}")
    check(time.monotonic() - t0 < 2, "answered at once")
    log = state["proxy"].wait_for(lambda t: t.count("pool dead:") > before, 2, "the 502 log line")
    line = [l for l in log.splitlines() if "pool dead:" in l][-1]
    check("502" in line and "refused" in line, f"log line: {line!r}")


def refusals_flood_throttled():
    """40 clients at a dead pool: 40 answers 502, at most a few log lines."""
    time.sleep(1.1)  # the previous line's interval is over
    before = state["proxy"].log().count("pool dead:")
    for _ in range(40):
        status, _, _ = raw_response("/dead/flood")
        check(status.startswith("HTTP/1.1 502"), f"502 each: {status!r}")
    lines = state["proxy"].log().count("pool dead:") - before
    check(1 <= lines <= 3, f"{lines} log lines for 40 refusals within a second or two")


def timeout_504():
    before = state["proxy"].log().count("pool slow:")
    t0 = time.monotonic()
    status, _, _ = raw_response("/slow/x")
    took = time.monotonic() - t0
    check(status.startswith("HTTP/1.1 504"), f"connect timeout: {status!r}")
    check(CONNECT_TIMEOUT - 0.05 <= took < CONNECT_TIMEOUT + 1.0,
          f"after --upstream-connect-timeout {CONNECT_TIMEOUT}s: {took:.2f}s")
    log = state["proxy"].wait_for(lambda t: t.count("pool slow:") > before, 2, "the 504 log line")
    line = [l for l in log.splitlines() if "pool slow:" in l][-1]
    check("504" in line, f"log line: {line!r}")


def upstream_killed():
    async def go():
        async with websockets.connect(url("/kill/x"), close_timeout=1) as ws:
            await ws.send("before")
            eq(await ws.recv(), "before", "echo before the kill")
            state["e3"].kill()
            t0 = time.monotonic()
            try:
                await asyncio.wait_for(ws.recv(), 5)
                raise wsraw.Failure("a message after the upstream died")
            except websockets.ConnectionClosed:
                pass
            took = time.monotonic() - t0
            check(took < 1.0, f"client closed promptly ({took:.2f}s)")
    run(go())


def client_gone():
    ups = state["py"]
    ups.wait_closed_at = None

    async def go():
        ws = await websockets.connect(url("/hdr/wait"))
        await ws.recv()
        t0 = time.monotonic()
        ws.transport.abort()  # the client vanishes (RST)
        return t0
    t0 = run(go())
    deadline = time.monotonic() + 3
    while ups.wait_closed_at is None and time.monotonic() < deadline:
        time.sleep(0.02)
    check(ups.wait_closed_at is not None, "the upstream connection was closed")
    check(ups.wait_closed_at - t0 < 1.0, f"promptly ({ups.wait_closed_at - t0:.2f}s)")


def backpressure():
    """A client that does not read stops the proxy reading its upstream."""
    flood = state["py"].flood
    flood.reset()
    rss_before = rss_kib(state["proxy"].pid)
    c, _ = proxy_flood.raw_upgrade(state["port"], "/flood/x", socket.SO_RCVBUF, 10)
    try:
        stalled_at = proxy_flood.wait_for_stall(flood)
        growth = proxy_flood.check_growth(rss_before, rss_kib(state["proxy"].pid))
        # Now read it all: every message arrives, in order, unchanged.
        head = c.read_http_head()
        check(head.startswith(b"HTTP/1.1 101"), "101 through the tunnel")
        for seq in range(FLOOD_TOTAL // proxy_flood.FLOOD_MESSAGE):
            f = c.read_frame()
            eq(f.payload, proxy_flood.flood_payload(seq), f"flood message {seq}")
        check(flood.done.wait(5), "the upstream finished")
        print(f"     stalled upstream had sent {stalled_at >> 10} KiB, proxy grew {growth} KiB "
              f"(--max-queued-bytes {MAX_QUEUED >> 10} KiB)", flush=True)
    finally:
        c.close()


def slow_upstream():
    """An upstream that does not read stops the proxy reading its client."""
    rss_before = rss_kib(state["proxy"].pid)
    c, _ = proxy_flood.raw_upgrade(state["port"], "/hdr/sink", socket.SO_SNDBUF, 5)
    try:
        check(c.read_http_head().startswith(b"HTTP/1.1 101"), "101 through the tunnel")
        sent = proxy_flood.send_until_stalled(c)
        growth = proxy_flood.check_growth(rss_before, rss_kib(state["proxy"].pid))
        print(f"     stalled client had sent {sent >> 10} KiB; proxy grew {growth} KiB", flush=True)
    finally:
        c.close()


def ipv6_both_sides():
    """An IPv6 client through the proxy to an IPv6 upstream."""
    async def go():
        async with websockets.connect(f"ws://[::1]:{state['port']}/v6/x") as ws:
            await ws.send("over IPv6")
            eq(await ws.recv(), "over IPv6", "echo from the [::1] upstream")
        async with websockets.connect(f"ws://[::1]:{state['port']}/hdr/v6") as ws:
            return json.loads(await ws.recv())
    info = run(go())
    headers = {k.lower(): v for k, v in info["headers"]}
    eq(headers.get("x-forwarded-for"), "::1", "X-Forwarded-For of an IPv6 client")
    check(headers.get("forwarded", "").startswith('for="[::1]";proto=http'),
          f"Forwarded quotes an IPv6 node (RFC 7239 §6): {headers.get('forwarded')!r}")


state = {}
servers = []
lst = None
fillers = []
try:
    echo_ports = [free_port() for _ in range(3)]
    for p in echo_ports:
        servers.append(Server(BIN, ["--listen", f"127.0.0.1:{p}", "--threads", "1",
                                    "--backend", BACKEND]))
    v6_port = free_port((socket.AF_INET6,))
    servers.append(Server(BIN, ["--listen", f"[::1]:{v6_port}", "--threads", "1",
                                "--backend", BACKEND]))
    state["e3"] = servers[2]
    state["py"] = PythonUpstreams()
    lst, fillers = full_listener()
    dead = free_port()
    hp = state["py"].ports
    state["port"] = free_port((socket.AF_INET, socket.AF_INET6))
    args = ["--mode", "proxy", "--listen", f"127.0.0.1:{state['port']}",
            "--listen", f"[::1]:{state['port']}", "--threads", "1",
            "--backend", BACKEND, "--upstream-connect-timeout", str(CONNECT_TIMEOUT),
            "--max-queued-bytes", str(MAX_QUEUED), "--close-timeout", "1",
            "--upstream", f"echo=127.0.0.1:{echo_ports[0]}",
            "--upstream", f"echo=127.0.0.1:{echo_ports[1]}",
            "--upstream", f"hdr=127.0.0.1:{hp['HA']}", "--upstream", f"hdr=127.0.0.1:{hp['HB']}",
            "--upstream", f"mixed=127.0.0.1:{dead}", "--upstream", f"mixed=127.0.0.1:{echo_ports[0]}",
            "--upstream", f"dead=127.0.0.1:{dead}",
            "--upstream", f"slow=127.0.0.1:{lst.getsockname()[1]}",
            "--upstream", f"kill=127.0.0.1:{echo_ports[2]}", "--upstream", f"v6=[::1]:{v6_port}",
            "--route", "/echo=echo", "--route", "/node=echo", "--route", "/hdr=hdr",
            "--route", "/refuse=hdr", "--route", "/flood=hdr", "--route", "/mixed=mixed",
            "--route", "/dead=dead", "--route", "/slow=slow", "--route", "/kill=kill",
            "--route", "/v6=v6"]
    state["proxy"] = Server(BIN, args, wait_lines=2)
    servers.append(state["proxy"])

    suite.run("python3-websockets echoes, plain and permessage-deflate", python_echoes)
    suite.run("node ws echoes, plain and permessage-deflate", node_echoes)
    suite.run(f"{N_MANY} proxied connections byte-checked", many_connections)
    suite.run("X-Forwarded-For, X-Forwarded-Proto, Forwarded, Host, subprotocol",
              forwarded_headers)
    suite.run("round robin over the pool", round_robin)
    suite.run("upstream refuses the upgrade: its status goes back", upstream_refuses)
    suite.run("no route: 404", no_route_404)
    suite.run("connect refused: the pool's next server", next_server_after_refused)
    suite.run("every server refused: 502 and one log line", all_refused_502)
    suite.run("a flood of 502s: log lines throttled", refusals_flood_throttled)
    suite.run("connect timeout: 504 and one log line", timeout_504)
    suite.run("upstream killed: client closed promptly", upstream_killed)
    suite.run("client gone: upstream closed promptly", client_gone)
    suite.run("backpressure: a client that does not read stalls its upstream", backpressure)
    suite.run("backpressure: an upstream that does not read stalls its client", slow_upstream)
    suite.run("IPv6 client and IPv6 upstream", ipv6_both_sides)
    rc = state["proxy"].terminate(10)
    suite.run("SIGTERM: exit 0", lambda: eq(rc, 0, "exit status"))
finally:
    for s in servers:
        s.stop()
    if "py" in state:
        state["py"].close()
    for f in fillers:
        f.close()
    if lst is not None:
        lst.close()
suite.finish()
