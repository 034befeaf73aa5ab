#!/usr/bin/python3
"""wsgate --mode proxy: how a pool picks its server (--balance), through the
real proxy to upstreams that say who they are.

  test_proxy_balance.py WSGATE_BINARY BACKEND [CASE-FILTER...]

Upstreams: four python3-websockets servers (ident_upstream.py, processes of
their own; the first message on each connection names the server's port).
Two proxies in front of them:
  A (two loops; --hash-balance-factor 100, so no key is ever moved for load):
    /room -> hash:query:room   /user -> hash:header:X-User
    /sid  -> hash:cookie:sid   /ip   -> hash:ip        (all four servers)
    /lc   -> least-conn over the first two servers
  B (one loop; default factor 1.25): /room -> hash:query:room over all four.
"""

import asyncio
import math
import sys
from collections import Counter

import wsraw
from proxy_upstreams import IdentUpstream, open_ident
from wsgate_proc import Server, free_port
from wsraw import check, eq

if len(sys.argv) < 3:
    print("usage: test_proxy_balance.py WSGATE_BINARY BACKEND", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(2)
BIN, BACKEND = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
suite = wsraw.Suite("proxy_balance")


async def close_all(sockets):
    await asyncio.gather(*(ws.close() for ws in sockets))


def run(coro):
    return asyncio.run(coro)


def room_affinity():
    """Every socket of a room lands on one upstream, while all are open."""
    async def go():
        sockets, where = [], {}
        for i in range(4):  # interleaved: room 0..11, four times
            for room in range(12):
                ws, port = await open_ident(state["a"], f"/room/chat?user={i}&room=r{room}")
                sockets.append(ws)
                where.setdefault(room, set()).add(port)
        await close_all(sockets)
        return where
    where = run(go())
    for room, ports in where.items():
        eq(len(ports), 1, f"upstreams of room r{room} ({sorted(ports)})")
    used = {next(iter(p)) for p in where.values()}
    check(len(used) >= 2, f"12 rooms spread over the upstreams ({sorted(used)})")
    state["room_home"] = {room: next(iter(p)) for room, p in where.items()}

    async def again():
        out = {}
        for room in range(12):
            ws, port = await open_ident(state["a"], f"/room/other?room=r{room}")
            out[room] = port
            await ws.close()
        return out
    eq(run(again()), state["room_home"], "the same rooms again, after all closed")


def header_cookie_ip_keys():
    async def go():
        got = {"user": Counter(), "sid": Counter(), "users": set(), "ip": Counter()}
        for _ in range(5):
            ws, port = await open_ident(state["a"], "/user", [("X-User", "alice")])
            got["user"][port] += 1
            await ws.close()
            ws, port = await open_ident(state["a"], "/sid",
                                      [("Cookie", "theme=dark; sid=abc123; x=1")])
            got["sid"][port] += 1
            await ws.close()
            ws, port = await open_ident(state["a"], "/ip")
            got["ip"][port] += 1
            await ws.close()
        for u in range(20):
            ws, port = await open_ident(state["a"], "/user", [("X-User", f"user{u}")])
            got["users"].add(port)
            await ws.close()
        return got
    got = run(go())
    eq(len(got["user"]), 1, f"X-User alice: one upstream ({dict(got['user'])})")
    eq(len(got["sid"]), 1, f"cookie sid=abc123: one upstream ({dict(got['sid'])})")
    eq(len(got["ip"]), 1, f"hash:ip from 127.0.0.1: one upstream ({dict(got['ip'])})")
    check(len(got["users"]) >= 2, f"20 users spread ({sorted(got['users'])})")
    state["ip_home"] = next(iter(got["ip"]))


def missing_key_falls_back_to_address():
    """No room parameter, header or cookie: hashed on the client address, so
    the server is the one hash:ip picks over the same servers."""
    async def go():
        ports = set()
        for path, headers in (("/room/x", ()), ("/room/x?other=1", ()), ("/user", ()),
                              ("/sid", [("Cookie", "theme=dark")])):
            ws, port = await open_ident(state["a"], path, headers)
            ports.add(port)
            await ws.close()
        return ports
    if "ip_home" not in state:
        header_cookie_ip_keys()
    eq(run(go()), {state["ip_home"]}, "the client address's server")


def bounded_load():
    """40 sockets of one room held open through proxy B (c = 1.25, four
    servers): none holds more than ceil(1.25 x 40 / 4) = 13, the room's own
    server the most."""
    async def go():
        sockets, count, order = [], Counter(), []
        for i in range(40):
            ws, port = await open_ident(state["b"], f"/room?room=hot&n={i}")
            sockets.append(ws)
            count[port] += 1
            order.append(port)
            bound = math.ceil(1.25 * (i + 1) / 4)
            check(count[port] <= bound,
                  f"socket {i + 1}: {count[port]} on {port}, over ceil(1.25 x avg) = {bound}")
        await close_all(sockets)
        return count, order
    count, order = run(go())
    print(f"     40 sockets of one room: {dict(count)}", flush=True)
    check(max(count.values()) <= 13, f"max per upstream ({dict(count)})")
    eq(len(count), 4, f"spread over every upstream ({dict(count)})")
    eq(count[order[0]], max(count.values()), "the room's own server holds the most")


def least_conn():
    """Pool lc (two servers): after the two connections on one server close,
    the next two both go there (round robin would alternate)."""
    async def go():
        held = [await open_ident(state["a"], "/lc") for _ in range(4)]
        eq(sorted(Counter(p for _, p in held).values()), [2, 2], "four spread two and two")
        first = held[0][1]
        await close_all([ws for ws, p in held if p == first])
        await asyncio.sleep(1.0)  # the proxy sees the closes
        more = [await open_ident(state["a"], "/lc") for _ in range(2)]
        eq([p for _, p in more], [first, first], "both to the server with fewer")
        await close_all([ws for ws, p in held if p != first] + [ws for ws, _ in more])
    run(go())


state = {}
upstreams = []
servers = []
try:
    for _ in range(4):
        upstreams.append(IdentUpstream(free_port()))
    ports = [u.port for u in upstreams]
    state["a"], state["b"] = free_port(), free_port()
    common = ["--mode", "proxy", "--threads", "1", "--backend", BACKEND,
              "--upstream-connect-timeout", "1", "--close-timeout", "1"]
    # Two loops: connections land on either, counted once for both.
    a = common + ["--listen", f"127.0.0.1:{state['a']}", "--hash-balance-factor", "100",
                  "--threads", "2"]
    for pool in ("room", "user", "sid", "ip"):
        a += [x for p in ports for x in ("--upstream", f"{pool}=127.0.0.1:{p}")]
        a += ["--route", f"/{pool}={pool}"]
    a += ["--balance", "room=hash:query:room", "--balance", "user=hash:header:X-User",
          "--balance", "sid=hash:cookie:sid", "--balance", "ip=hash:ip"]
    a += ["--upstream", f"lc=127.0.0.1:{ports[0]}", "--upstream", f"lc=127.0.0.1:{ports[1]}",
          "--route", "/lc=lc", "--balance", "lc=least-conn"]
    servers.append(Server(BIN, a))
    b = common + ["--listen", f"127.0.0.1:{state['b']}", "--route", "/room=room",
                  "--balance", "room=hash:query:room"]
    b += [x for p in ports for x in ("--upstream", f"room=127.0.0.1:{p}")]
    servers.append(Server(BIN, b))

    suite.run("hash:query:room: all sockets of a room on one upstream", room_affinity)
    suite.run("hash:header, hash:cookie, hash:ip: one key, one upstream", header_cookie_ip_keys)
    suite.run("key missing: the client address is hashed", missing_key_falls_back_to_address)
    suite.run("bounded load: one hot room spread, none over ceil(1.25 x avg)", bounded_load)
    suite.run("least-conn: the server with fewer connections", least_conn)
    for s in servers:
        rc = s.terminate(10)
        suite.run("SIGTERM: exit 0", lambda: eq(rc, 0, "exit status"))
finally:
    for s in servers:
        s.stop()
    for u in upstreams:
        u.stop()
suite.finish()
