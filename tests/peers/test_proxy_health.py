#!/usr/bin/python3
"""wsgate --mode proxy: health of upstream servers, through the real proxy.

  test_proxy_health.py WSGATE_BINARY BACKEND [CASE-FILTER...]

Upstreams: ident_upstream.py processes (python3-websockets; the first
message names the server's port; GET /healthz is 503 while a flag file
exists), ports nobody listens on. One proxy, one loop, --admin-listen:
  /hc -> U1 U2 U3, active checks every 0.3 s (timeout 0.2, rise 2, fall 2)
  /pv -> a dead port and U4, passive only (--upstream-max-fails 2,
         --upstream-fail-timeout 1.5)
  /alldown -> a dead port, active checks (fall 1)
--upstream-slow-start 4 for every pool (long enough to see on a loaded machine).
"""

import asyncio
import re
import shutil
import sys
import tempfile
import time
import urllib.request
from collections import Counter

import wsraw
from proxy_upstreams import IdentUpstream, open_ident
from wsgate_proc import Server, free_port
from wsraw import check, eq

if len(sys.argv) < 3:
    print("usage: test_proxy_health.py WSGATE_BINARY BACKEND", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(2)
BIN, BACKEND = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
suite = wsraw.Suite("proxy_health")

INTERVAL, TIMEOUT, RISE, FALL = 0.3, 0.2, 2, 2
FAIL_TIMEOUT, SLOW_START = 1.5, 4.0
# Checks start every INTERVAL: FALL failures take at most FALL intervals
# plus a timeout; what is left is slack for a machine shared with builds.
DOWN_WITHIN = FALL * INTERVAL + TIMEOUT + 1.0
UP_WITHIN = RISE * INTERVAL + TIMEOUT + 1.0
DOWN_DIR = tempfile.mkdtemp(prefix="wsgate-health.")


def run(coro):
    return asyncio.run(coro)


async def open_one(path):
    return await open_ident(state["port"], path)


async def open_many(path, n):
    return [await open_one(path) for _ in range(n)]


async def echo_all(held, what):
    for i, (ws, port) in enumerate(held):
        await ws.send(f"still there {i}")
        eq(await asyncio.wait_for(ws.recv(), 5), f"still there {i}", f"{what} ({port})")


def metrics():
    with urllib.request.urlopen(f"http://127.0.0.1:{state['admin']}/metrics", timeout=5) as r:
        return r.read().decode()


def metric(name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    m = re.search(re.escape(f"{name}{{{want}}}") + r" (\S+)", metrics())
    check(m is not None, f"{name}{{{want}}} in /metrics")
    return float(m.group(1))


def server(port):
    return f"127.0.0.1:{port}"


def wait_log(pattern, within, what):
    proxy = state["proxy"]
    before = len(re.findall(pattern, proxy.log()))
    t0 = time.monotonic()
    proxy.wait_for(lambda t: len(re.findall(pattern, t)) > before, within, what)
    return time.monotonic() - t0


def check_fails_and_comes_back():
    """A server whose check fails goes down within FALL checks; its open
    connections keep working, new ones go elsewhere; passing again brings it
    back with slow start."""
    u1, u2, u3 = state["hc"]

    async def phase_one():
        held = await open_many("/hc", 6)
        eq(sorted(Counter(p for _, p in held).values()), [2, 2, 2], "6 spread over 3")
        u3.set_failing(True)
        took = await asyncio.to_thread(
            wait_log, rf"pool hc server {server(u3.port)} down: {FALL} health checks failed", DOWN_WITHIN,
            "the down line")
        print(f"     failing check: down after {took:.2f} s "
              f"(fall {FALL} x interval {INTERVAL} s)", flush=True)
        eq(metric("wsgate_upstream_up", pool="hc", server=server(u3.port)), 0.0, "up gauge")
        fresh = await open_many("/hc", 12)
        got = Counter(p for _, p in fresh)
        eq(got[u3.port], 0, f"no new connection to the down server ({dict(got)})")
        await echo_all(held, "open connections left alone, the down server's too")
        check(metric("wsgate_upstream_health_checks_total", pool="hc", server=server(u3.port),
                     result="failed") >= FALL, "failed checks counted")
        held += fresh

        u3.set_failing(False)
        took = await asyncio.to_thread(
            wait_log, rf"pool hc server {server(u3.port)} up: {RISE} health checks passed",
            UP_WITHIN, "the up line")
        print(f"     passing again: up after {took:.2f} s", flush=True)
        w = metric("wsgate_upstream_weight", pool="hc", server=server(u3.port))
        check(0 < w < 1, f"slow start: weight {w} just after coming up")
        ramp = await open_many("/hc", 12)
        during = Counter(p for _, p in ramp)
        await asyncio.sleep(SLOW_START + 0.2)
        eq(metric("wsgate_upstream_weight", pool="hc", server=server(u3.port)), 1.0,
           "full weight once slow start is over")
        after_ramp = await open_many("/hc", 30)
        after = Counter(p for _, p in after_ramp)
        print(f"     12 connections during slow start: {dict(during)}; 30 after: {dict(after)}",
              flush=True)
        check(during[u3.port] < min(during[u1.port], during[u2.port]),
              f"fewer to the server in slow start ({dict(during)})")
        check(after[u3.port] >= 8, f"its share once slow start is over ({dict(after)})")
        for ws, _ in held + ramp + after_ramp:
            await ws.close()
    run(phase_one())


def killed_and_restarted():
    """An upstream killed: down within the thresholds (connect refused), no
    new connection goes there, the others' connections undisturbed; started
    again: back up."""
    u1, u2, u3 = state["hc"]

    async def go():
        held = await open_many("/hc", 6)
        others = [(ws, p) for ws, p in held if p != u2.port]
        u2.stop()
        took = await asyncio.to_thread(
            wait_log, rf"pool hc server {server(u2.port)} down: {FALL} health checks failed in a "
            r"row \(last: Connection refused\)", DOWN_WITHIN, "the down line")
        print(f"     killed: down after {took:.2f} s", flush=True)
        fresh = await open_many("/hc", 10)
        got = Counter(p for _, p in fresh)
        eq(got[u2.port], 0, f"none to the killed server ({dict(got)})")
        eq(metric("wsgate_upstream_failures_total", pool="hc", server=server(u2.port),
                  kind="connect"), 0.0, "no client connection tried it")
        await echo_all(others, "connections to the other servers undisturbed")
        u2.start()
        took = await asyncio.to_thread(
            wait_log, rf"pool hc server {server(u2.port)} up", UP_WITHIN, "the up line")
        print(f"     restarted: up after {took:.2f} s", flush=True)
        await asyncio.sleep(SLOW_START + 0.2)
        back = await open_many("/hc", 9)
        check(Counter(p for _, p in back)[u2.port] >= 2, "new connections reach it again")
        for ws, _ in held + fresh + back:
            await ws.close()
    run(go())


def passive_failures():
    """Pool pv: a dead port and U4, no active check. Two connect failures in
    a row take the dead one out (every client still served, by U4); then it
    is not tried for --upstream-fail-timeout; then it is back."""
    dead = state["pv_dead"]

    async def go():
        batch = await open_many("/pv", 8)
        eq({p for _, p in batch}, {state["u4"].port}, "every client served by the live server")
        for ws, _ in batch:
            await ws.close()
    t0 = time.monotonic()
    run(go())
    state["proxy"].wait_for(
        lambda t: f"pool pv server {server(dead)} out: 2 connect/handshake failures in a row "
                  "(last: connect Connection refused)" in t, 2, "the out line")
    eq(metric("wsgate_upstream_failures_total", pool="pv", server=server(dead), kind="connect"),
       2.0, "tried twice, then not any more")
    eq(metric("wsgate_upstream_up", pool="pv", server=server(dead)), 0.0, "up gauge")
    run(go())
    eq(metric("wsgate_upstream_failures_total", pool="pv", server=server(dead), kind="connect"),
       2.0, "not tried while out")
    time.sleep(max(0.0, FAIL_TIMEOUT + 0.1 - (time.monotonic() - t0)))
    state["proxy"].wait_for(lambda t: f"pool pv server {server(dead)} back after" in t, 2,
                            "the back line")
    w = metric("wsgate_upstream_weight", pool="pv", server=server(dead))
    check(0 < w < 1, f"back with slow start: weight {w}")
    time.sleep(SLOW_START)
    run(go())
    check(metric("wsgate_upstream_failures_total", pool="pv", server=server(dead),
                 kind="connect") > 2.0, "tried again once the time out passed")


def all_down_503():
    state["proxy"].wait_for(lambda t: "pool alldown server" in t and "down: 1 health checks" in t,
                            DOWN_WITHIN, "the down line")
    with wsraw.Conn(state["port"]) as c:
        c.send(wsraw.build_upgrade("/alldown/x"))
        head = c.read_http_head()
        try:
            while True:
                c._fill(2.0)
        except (wsraw.Closed, wsraw.Failure):
            pass
        body = c.pending()
    status = head.split(b"\r\n", 1)[0].decode()
    check(status.startswith("HTTP/1.1 503"), f"status: {status!r}")
    reason = b"no server up in pool alldown (1 down by health check, 0 out after failures)"
    check(reason in body, f"the reason in the body: {body!r}")
    state["proxy"].wait_for(lambda t: "pool alldown: no server up in pool alldown" in t
                            and ": 503" in t, 2, "the 503 log line")


state = {}
upstreams = []
proxy = None
try:
    hc = [IdentUpstream(free_port(), down_dir=DOWN_DIR) for _ in range(3)]
    u4 = IdentUpstream(free_port(), down_dir=DOWN_DIR)
    upstreams += hc + [u4]
    state["hc"], state["u4"] = hc, u4
    state["pv_dead"], alldown_dead = free_port(), free_port()
    state["port"], state["admin"] = free_port(), free_port()
    check_spec = f"interval={INTERVAL},timeout={TIMEOUT},rise={RISE},fall={FALL}"
    args = ["--mode", "proxy", "--threads", "1", "--backend", BACKEND,
            "--listen", f"127.0.0.1:{state['port']}", "--admin-listen",
            f"127.0.0.1:{state['admin']}", "--upstream-connect-timeout", "1",
            "--close-timeout", "1", "--upstream-max-fails", "2",
            "--upstream-fail-timeout", str(FAIL_TIMEOUT), "--upstream-slow-start", str(SLOW_START)]
    args += [x for u in hc for x in ("--upstream", f"hc=127.0.0.1:{u.port}")]
    args += ["--route", "/hc=hc", "--health-check", f"hc={check_spec}"]
    args += ["--upstream", f"pv=127.0.0.1:{state['pv_dead']}", "--upstream",
             f"pv=127.0.0.1:{u4.port}", "--route", "/pv=pv"]
    args += ["--upstream", f"alldown=127.0.0.1:{alldown_dead}", "--route", "/alldown=alldown",
             "--health-check", f"alldown=interval={INTERVAL},timeout={TIMEOUT},fall=1"]
    proxy = state["proxy"] = Server(BIN, args)

    suite.run("a failing check: down, open connections left alone, back with slow start",
              check_fails_and_comes_back)
    suite.run("an upstream killed and restarted: down, avoided, up again", killed_and_restarted)
    suite.run("passive: connect failures in a row take a server out for a while",
              passive_failures)
    suite.run("every server down: 503 with the reason, one log line", all_down_503)
    rc = proxy.terminate(10)
    suite.run("SIGTERM with checks running: exit 0", lambda: eq(rc, 0, "exit status"))
finally:
    if proxy is not None:
        proxy.stop()
    for u in upstreams:
        u.stop()
    shutil.rmtree(DOWN_DIR, ignore_errors=True)
suite.finish()
