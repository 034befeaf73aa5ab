#!/usr/bin/python3
"""wsgate --mode proxy: routes by Host, upstreams given by name and as IPv6
literals, subprotocols and Host forwarded, and a Node `ws` server upstream
for python3-websockets and Node `ws` clients.

  test_proxy_routing.py WSGATE_BINARY BACKEND [CASE-FILTER...]

Upstreams: ident_upstream.py (python3-websockets; the first message names
the server's port and the request headers it got) on 127.0.0.1 (U1, U2), on
"localhost" (U3) and on ::1 (U4); node_echo_upstream.mjs (N). Routes:
  a.example/ -> U1     a.example/v6 -> U4 ([::1]:PORT)     / -> U2 (fallback)
  /byname -> U3 (localhost:PORT)      /node -> N
"""

import asyncio
import json
import os
import socket
import subprocess
import sys

import websockets

import wsraw
from proxy_upstreams import IdentUpstream, node_echo
from wsgate_proc import Server, free_port
from wsraw import eq

if len(sys.argv) < 3:
    print("usage: test_proxy_routing.py WSGATE_BINARY BACKEND", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(2)
BIN, BACKEND = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
HERE = os.path.dirname(os.path.abspath(__file__))
suite = wsraw.Suite("proxy_routing")


def ident(host, port):
    return IdentUpstream(port, host)


async def via_host(host, path, **kw):
    """Connects to the proxy on 127.0.0.1 with `Host: HOST:PORT`; returns
    (the upstream's report, the subprotocol the client got)."""
    sock = socket.create_connection(("127.0.0.1", state["port"]))
    async with websockets.connect(f"ws://{host}:{state['port']}{path}", sock=sock,
                                  compression=None, open_timeout=10, **kw) as ws:
        return json.loads(await ws.recv()), ws.subprotocol


def headers_of(info):
    out = {}
    for k, v in info["headers"]:
        out.setdefault(k.lower(), []).append(v)
    return out


def host_routes():
    async def go():
        a, _ = await via_host("a.example", "/chat")
        upper, _ = await via_host("A.EXAMPLE", "/chat")
        b, _ = await via_host("b.example", "/chat")
        plain, _ = await via_host("127.0.0.1", "/chat")
        v6, _ = await via_host("a.example", "/v6/room")
        return a, upper, b, plain, v6
    a, upper, b, plain, v6 = asyncio.run(go())
    eq(a["port"], state["u1"], "Host a.example: its route")
    eq(upper["port"], state["u1"], "Host compared without case")
    eq(b["port"], state["u2"], "another Host: the host-less route")
    eq(plain["port"], state["u2"], "an address as Host: the host-less route")
    eq(v6["port"], state["u4"], "longest prefix within the host: /v6 to the [::1] upstream")
    port = state["port"]
    eq(headers_of(a).get("host"), [f"a.example:{port}"], "the original Host forwarded")
    eq(headers_of(v6).get("host"), [f"a.example:{port}"], "Host kept toward an IPv6 upstream")


def subprotocols():
    async def go():
        offered, chosen = await via_host("a.example", "/sub", subprotocols=["chat", "superchat"])
        none, nothing = await via_host("a.example", "/sub")
        return offered, chosen, none, nothing
    offered, chosen, none, nothing = asyncio.run(go())
    eq(headers_of(offered).get("sec-websocket-protocol"), ["chat, superchat"],
       "the client's subprotocols forwarded")
    eq(offered["subprotocol"], "superchat", "the upstream's choice")
    eq(chosen, "superchat", "the client gets the upstream's choice")
    eq(headers_of(none).get("sec-websocket-protocol"), None, "none offered, none forwarded")
    eq(nothing, None, "and none chosen")


def upstream_by_name():
    info, _ = asyncio.run(via_host("127.0.0.1", "/byname/x"))
    eq(info["port"], state["u3"], "localhost:PORT resolved at start-up")


def python_client_node_upstream():
    async def go():
        for deflate in (None, "deflate"):
            async with websockets.connect(f"ws://127.0.0.1:{state['port']}/node/py",
                                          compression=deflate, max_size=None) as ws:
                ext = ws.response_headers.get("Sec-WebSocket-Extensions", "")
                eq("permessage-deflate" in ext, deflate is not None,
                   f"permessage-deflate with Node's ws, end to end ({ext!r})")
                for payload in ("hello node", "é" * 5000, b"", os.urandom(70000),
                                b"z" * 65536):
                    await ws.send(payload)
                    eq(await ws.recv(), payload, f"echo of {len(payload)} bytes")
    asyncio.run(go())


def node_client_node_upstream():
    p = subprocess.run(["node", os.path.join(HERE, "proxy_node_client.mjs"), str(state["port"]),
                        "/node/js"], capture_output=True, text=True, timeout=30, cwd=HERE)
    print("\n".join("     " + l for l in p.stdout.strip().splitlines()), flush=True)
    eq(p.returncode, 0, f"node client ({p.stderr.strip()[-300:]})")


state = {}
upstreams = []
proxy = None
try:
    state["u1"], state["u2"], state["u3"] = free_port(), free_port(), free_port()
    state["u4"] = free_port((socket.AF_INET6,))
    node_port = free_port()
    upstreams.append(ident("127.0.0.1", state["u1"]))
    upstreams.append(ident("127.0.0.1", state["u2"]))
    upstreams.append(ident("localhost", state["u3"]))
    upstreams.append(ident("::1", state["u4"]))
    upstreams.append(node_echo(node_port))
    state["port"] = free_port()
    args = ["--mode", "proxy", "--threads", "1", "--backend", BACKEND,
            "--listen", f"127.0.0.1:{state['port']}", "--close-timeout", "1",
            "--upstream", f"ha=127.0.0.1:{state['u1']}", "--upstream", f"hb=127.0.0.1:{state['u2']}",
            "--upstream", f"byname=localhost:{state['u3']}",
            "--upstream", f"v6=[::1]:{state['u4']}", "--upstream", f"node=127.0.0.1:{node_port}",
            "--route", "a.example/=ha", "--route", "A.example/v6=v6", "--route", "/=hb",
            "--route", "/byname=byname", "--route", "/node=node"]
    proxy = Server(BIN, args)

    suite.run("routes by Host: the host's longest prefix, host-less as fallback", host_routes)
    suite.run("subprotocols forwarded, the upstream's choice returned", subprotocols)
    suite.run("an upstream given by name (localhost:PORT)", upstream_by_name)
    suite.run("python3-websockets client, Node ws upstream, plain and deflate",
              python_client_node_upstream)
    suite.run("Node ws client, Node ws upstream, plain and deflate", node_client_node_upstream)
    rc = proxy.terminate(10)
    suite.run("SIGTERM: exit 0", lambda: eq(rc, 0, "exit status"))
finally:
    if proxy is not None:
        proxy.stop()
    for u in upstreams:
        u.stop()
suite.finish()
