#!/usr/bin/python3
"""wsgate --mode proxy: routes and upstream pools changed by a reload
(POST /admin/reload), without a restart and without touching the
connections already relaying.

  test_proxy_reload.py WSGATE_BINARY BACKEND [CASE-FILTER...]

Upstreams: five ident_upstream.py processes U1..U5 (python3-websockets; the
first message on each connection names the server's port, then it echoes),
shared by every case. Each case starts its own proxy (two loops,
--config FILE, --admin-listen), rewrites the file and reloads:
  - a pool and a route added, an old route pointed elsewhere: the new path
    reaches the new upstream, new connections on the old path go where it
    points now, connections opened before keep relaying to where they were;
  - a server removed from a pool: its connections keep echoing (drain), new
    ones go to the others, the remaining server's live count carries over;
  - consistent hashing (hash:query:k) with one server removed, one added
    and another --hash-balance-factor: every key of a server that stayed
    stays on it unless the new server took it;
  - health and load carry over: a server down by its check stays down
    across a reload, least-conn counts the connections opened before it;
  - a bad route (an unknown pool) or a bad value: 422, one log line, and the
    routing in force (itself changed by a reload before) stays;
  - --upstream-connect-timeout lowered by a reload: the next connect to a
    server that never answers gets 504 after the new timeout.
"""

import asyncio
import os
import shutil
import sys
import tempfile
import time

from prometheus_client.parser import text_string_to_metric_families

import wsraw
from proxy_upstreams import IdentUpstream, full_listener, open_ident
from reload_fixture import Instance
from wsgate_proc import free_port
from wsraw import check, eq

if len(sys.argv) < 3:
    print("usage: test_proxy_reload.py WSGATE_BINARY BACKEND", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(2)
BIN, BACKEND = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
suite = wsraw.Suite("proxy_reload")
DOWN_DIR = tempfile.mkdtemp(prefix="wsgate-proxy-reload.")
U = {}  # 1..5 -> IdentUpstream


def addr(n):
    return f"127.0.0.1:{U[n].port}"


def toml(upstreams, routes, balances=(), checks=(), extra=""):
    """A proxy configuration: upstreams as (pool, n) pairs."""
    def array(items):
        return "[" + ", ".join(f'"{i}"' for i in items) + "]"
    text = 'mode = "proxy"\nupstream-slow-start = 0\n'
    text += "upstream = " + array(f"{pool}={addr(n)}" for pool, n in upstreams) + "\n"
    text += "route = " + array(routes) + "\n"
    if balances:
        text += "balance = " + array(balances) + "\n"
    if checks:
        text += "health-check = " + array(checks) + "\n"
    return text + extra


def proxy(text):
    return Instance(BIN, BACKEND, text, flags=["--upstream-connect-timeout", "1"])


def run(coro):
    return asyncio.run(coro)


async def echo_all(held, what):
    for i, (ws, port) in enumerate(held):
        await ws.send(f"{what} {i}")
        eq(await asyncio.wait_for(ws.recv(), 5), f"{what} {i}", f"{what}: echo via {port}")


async def open_many(inst, path, n):
    return [await open_ident(inst.port, path) for _ in range(n)]


async def close_all(held):
    await asyncio.gather(*(ws.close() for ws, _ in held))


def upstream_metric(inst, name, pool, n):
    """The sample of `name` for pool POOL, server Un; None when not listed."""
    _, _, text = inst.request("/metrics")
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels.get("pool") == pool and \
                    s.labels.get("server") == addr(n):
                return s.value
    return None


def expect_404(inst, path):
    wsraw.expect_http_error(wsraw.build_upgrade(path), 404, port=inst.port)


def add_pool_and_route():
    before = toml([("a", 1)], ["/a=a"])
    with proxy(before) as inst:
        expect_404(inst, "/new/x")

        async def go():
            old = await open_many(inst, "/a/old", 3)
            eq({p for _, p in old}, {U[1].port}, "/a before the reload")
            # A pool and a route added, and /a pointed at the new pool.
            inst.file.write(toml([("a", 1), ("n", 5)], ["/a=n", "/new=n"]))
            answer = await asyncio.to_thread(inst.reload, 200)
            eq(sorted(answer["applied"][:2]), ["route", "upstream"], f"applied {answer}")
            eq(answer["restart_needed"], [], "restart_needed")
            line = answer["applied"][2]
            check(line.startswith("proxy routes: ") and "+pool n" in line and
                  "+route /new=n" in line and "-route /a=a" in line, f"change line {line!r}")
            fresh = await open_many(inst, "/new/x", 2) + await open_many(inst, "/a/again", 2)
            eq({p for _, p in fresh}, {U[5].port}, "/new and /a after the reload")
            await echo_all(old, "opened before the reload, through the old route")
            await close_all(old + fresh)
        run(go())
        inst.wait_generation(2)
        inst.srv.wait_for(lambda log: "wsgate: reloaded (settings generation 2): applied "
                          "upstream, route, proxy routes: " in log, 2, "the reload's log line")
        # Both tables freed by then (the sanitizer build's leak check fails the exit).
        eq(inst.srv.terminate(10), 0, "exit status after SIGTERM")


def remove_server_drains():
    with proxy(toml([("b", 2), ("b", 3)], ["/b=b"])) as inst:
        async def go():
            # Each loop has its own round-robin position: 4 connections over
            # two loops put at least one on each server.
            held = await open_many(inst, "/b", 4)
            on_u2 = sum(1 for _, p in held if p == U[2].port)
            check(1 <= on_u2 <= 3, f"round robin over U2 and U3 ({[p for _, p in held]})")
            inst.file.write(toml([("b", 2)], ["/b=b"]))
            answer = await asyncio.to_thread(inst.reload, 200)
            check(any(f"-server b {addr(3)}" in a for a in answer["applied"]), f"applied {answer}")
            fresh = await open_many(inst, "/b", 6)
            eq({p for _, p in fresh}, {U[2].port}, "new connections: the server left")
            await echo_all(held, "paired before the removal")
            eq(upstream_metric(inst, "wsgate_upstream_connections", "b", 2), on_u2 + 6.0,
               f"U2's live count carried over ({on_u2} before + 6)")
            eq(upstream_metric(inst, "wsgate_upstream_connections", "b", 3), None,
               "the removed server is no longer listed")
            await close_all(held + fresh)
        run(go())
        eq(inst.srv.terminate(10), 0, "exit status after SIGTERM")


KEYS = 48


async def homes(inst):
    out = {}
    for k in range(KEYS):
        ws, port = await open_ident(inst.port, f"/h/x?k=key{k}")
        out[k] = port
        await ws.close()
    return out


def hash_keys_stay():
    servers = [("h", n) for n in (1, 2, 3, 4)]
    balance = ["h=hash:query:k"]
    with proxy(toml(servers, ["/h=h"], balance, extra="hash-balance-factor = 100\n")) as inst:
        before = run(homes(inst))
        check(len(set(before.values())) >= 3, f"{KEYS} keys spread ({set(before.values())})")
        # U4 removed, U5 added, another balance factor.
        inst.file.write(toml([("h", n) for n in (1, 2, 3, 5)], ["/h=h"], balance,
                             extra="hash-balance-factor = 50\n"))
        answer = inst.reload(200)
        eq(sorted(answer["applied"][:2]), ["hash-balance-factor", "upstream"], f"{answer}")
        after = run(homes(inst))
        moved_to_new = 0
        for k in range(KEYS):
            if before[k] == U[4].port:
                check(after[k] != U[4].port, f"key{k} left the removed server")
            elif after[k] != before[k]:
                eq(after[k], U[5].port, f"key{k} of a server that stayed: moved only to the new one")
                moved_to_new += 1
        stayed = sum(1 for k in range(KEYS) if before[k] == after[k])
        print(f"     {stayed}/{KEYS} keys stayed, {moved_to_new} moved to the added server, "
              f"{sum(1 for v in before.values() if v == U[4].port)} left the removed one",
              flush=True)
        check(moved_to_new < KEYS // 2, f"the added server took {moved_to_new} of {KEYS}")
        eq(run(homes(inst)), after, "the same keys again")


def health_and_load_carry_over():
    check_spec = "hc=interval=0.3,timeout=0.25,rise=2,fall=2"
    before = toml([("hc", 1), ("hc", 2), ("lc", 3)], ["/hc=hc", "/lc=lc"], ["lc=least-conn"],
                  [check_spec])
    try:
        with proxy(before) as inst:
            U[1].set_failing(True)
            inst.srv.wait_for(lambda log: f"pool hc server {addr(1)} down" in log, 5,
                              "U1 down by its check")

            async def go():
                lc_old = await open_many(inst, "/lc", 3)
                eq({p for _, p in lc_old}, {U[3].port}, "least-conn pool of one")
                # U4 joins lc; a route is added (the table changes for every pool).
                inst.file.write(toml([("hc", 1), ("hc", 2), ("lc", 3), ("lc", 4)],
                                     ["/hc=hc", "/lc=lc", "/more=lc"], ["lc=least-conn"],
                                     [check_spec]))
                await asyncio.to_thread(inst.reload, 200)
                t0 = time.monotonic()
                hc = await open_many(inst, "/hc", 6)
                took = time.monotonic() - t0
                eq({p for _, p in hc}, {U[2].port},
                   f"U1 still down after the reload (6 connections in {took:.2f} s)")
                eq(upstream_metric(inst, "wsgate_upstream_up", "hc", 1), 0.0, "U1's up gauge")
                # U3 holds 3 from before: least-conn fills U4 up to them first.
                lc_new = await open_many(inst, "/lc", 3)
                eq([p for _, p in lc_new], [U[4].port] * 3,
                   "least-conn counts the connections opened before the reload")
                await echo_all(lc_old + hc, "across the reload")
                await close_all(lc_old + lc_new + hc)
            run(go())
            U[1].set_failing(False)
            inst.srv.wait_for(lambda log: f"pool hc server {addr(1)} up" in log, 5,
                              "U1 up again once its check passes")
    finally:
        if os.path.exists(os.path.join(DOWN_DIR, f"{U[1].port}.down")):
            U[1].set_failing(False)


def bad_file_changes_nothing():
    with proxy(toml([("a", 1)], ["/a=a"])) as inst:
        inst.file.write(toml([("a", 1), ("n", 5)], ["/a=a", "/new=n"]))
        inst.reload(200)
        inst.wait_generation(2)
        # A route to a pool no upstream names: the whole file is refused.
        inst.file.write(toml([("a", 2)], ["/a=a", "/zzz=nopool"]))
        answer = inst.reload(422)
        eq(answer["ok"], False, "ok")
        check("/zzz=nopool: no --upstream nopool" in answer["error"], f"error {answer['error']!r}")
        # A malformed route: named by file, line and column.
        inst.file.write(toml([("a", 2)], ["/a=a", "no-slash=a"]))
        answer = inst.reload(422)
        check(answer["error"].startswith(f"{inst.file.path}:") and "route" in answer["error"],
              f"error {answer['error']!r}")
        eq(inst.generations(), {"0": 2.0, "1": 2.0}, "generation after the bad files")

        async def go():
            got = await open_many(inst, "/a", 2) + await open_many(inst, "/new", 2)
            eq([p for _, p in got], [U[1].port] * 2 + [U[5].port] * 2,
               "the routing of the last good reload")
            await close_all(got)
        run(go())
        expect_404(inst, "/zzz")
        eq(inst.srv.log().count("wsgate: reload failed, nothing changed: "), 2,
           "one log line per bad file")


def timed_out_upgrade(inst, path):
    """An upgrade through the proxy: (status line, seconds to the answer)."""
    t0 = time.monotonic()
    with wsraw.Conn(inst.port) as c:
        c.send(wsraw.build_upgrade(path))
        head = c.read_http_head()
    return head.split(b"\r\n", 1)[0].decode(), time.monotonic() - t0


def connect_timeout_live():
    lst, fillers = full_listener()  # SYNs dropped: every connect times out
    slow = (f'mode = "proxy"\nupstream = ["slow=127.0.0.1:{lst.getsockname()[1]}"]\n'
            'route = ["/s=slow"]\n')
    try:
        with Instance(BIN, BACKEND, slow + "upstream-connect-timeout = 2\n") as inst:
            status, took = timed_out_upgrade(inst, "/s/a")
            check(status.startswith("HTTP/1.1 504") and took >= 1.9,
                  f"{status!r} after {took:.2f}s")
            inst.file.write(slow + "upstream-connect-timeout = 0.3\n")
            answer = inst.reload(200)
            eq(answer["applied"], ["upstream-connect-timeout"],
               f"applied (restart_needed {answer['restart_needed']})")
            inst.wait_generation(2)
            status, took = timed_out_upgrade(inst, "/s/b")
            check(status.startswith("HTTP/1.1 504") and 0.25 <= took < 1.2,
                  f"{status!r} after {took:.2f}s, want about 0.3s")
    finally:
        lst.close()
        for s in fillers:
            s.close()


try:
    for n in range(1, 6):
        U[n] = IdentUpstream(free_port(), down_dir=DOWN_DIR)
    suite.run("a pool and a route added, /a pointed elsewhere: old connections keep relaying",
              add_pool_and_route)
    suite.run("a server removed from a pool: its pairings drain, new ones elsewhere, counts kept",
              remove_server_drains)
    suite.run("hash: a server removed, one added, factor changed: other keys stay put",
              hash_keys_stay)
    suite.run("health verdict and least-conn counts carry over a reload",
              health_and_load_carry_over)
    suite.run("bad route or value: 422, one log line, the routing in force stays",
              bad_file_changes_nothing)
    suite.run("--upstream-connect-timeout lowered live: the next connect times out sooner",
              connect_timeout_live)
finally:
    for u in U.values():
        u.stop()
    shutil.rmtree(DOWN_DIR, ignore_errors=True)
suite.finish()
