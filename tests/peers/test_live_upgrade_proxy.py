#!/usr/bin/python3
"""Live upgrade of a reverse proxy (--mode proxy): every pairing (the
client's socket and its upstream's) moves to the new process whole, in
tunnel and in frames relay; neither the client nor the upstream sees
anything.

  test_live_upgrade_proxy.py WSGATE_BINARY BACKEND [CASE-FILTER...]

Upstreams: node_echo_upstream.mjs (Node `ws`), which counts the WebSocket
connections it accepted and saw end (GET /stats), so a reconnect or a
close behind the proxy shows. The proxy (upgrade_proc.Gateway) reads its
pools and routes from a --config file: /t tunnel to pool `tun`, /f frames
to pool `frm`; a case rewrites the file between two upgrades (pools and
servers in another order) to show that a pairing is counted against its
server by name, not by position.

WSGATE_UPGRADE_PROXY_PAIRINGS (default 200) sets the load case's pairings
(half tunnel, half frames); the by-hand run for docs/live-upgrade.md uses
1000.
"""

import json
import os
import re
import signal
import tempfile
import subprocess
import sys
import threading
import time
import urllib.request

import upgrade_proc
import wsraw
from upgrade_proc import upgrade_twice_under_load, wait_exit
from wsgate_proc import free_port
from wsraw import OP_BINARY, OP_TEXT, Conn, check, eq, frame

if len(sys.argv) < 3:
    print("usage: test_live_upgrade_proxy.py WSGATE_BINARY BACKEND", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(2)
BIN, BACKEND = os.path.abspath(sys.argv[1]), sys.argv[2]
del sys.argv[1:3]
suite = wsraw.Suite("live_upgrade_proxy")
HERE = os.path.dirname(os.path.abspath(__file__))
WSLOAD = os.path.join(os.path.dirname(BIN), "..", "..", "bench", "wsload")
LOAD_PAIRINGS = int(os.environ.get("WSGATE_UPGRADE_PROXY_PAIRINGS", "200"))


class NodeUpstream:
    """node_echo_upstream.mjs on a port of its own, stopped by its PID."""

    def __init__(self):
        self.port = free_port()
        self.name = f"127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(["node", os.path.join(HERE, "node_echo_upstream.mjs"),
                                      str(self.port)], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                     text=True, cwd=HERE)
        line = self.proc.stdout.readline()
        check(line.strip() == "ready", f"node_echo_upstream did not start ({line!r})")

    def stats(self):
        with urllib.request.urlopen(f"http://{self.name}/stats", timeout=5) as r:
            return json.load(r)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


class Proxy:
    """Upstreams U1 (pool tun), U2 (pool frm) and U3 (pool tun, added by
    reorder() in front of U1), and the proxy in front of them."""

    def __init__(self, extra=()):
        self.ups = [NodeUpstream() for _ in range(3)]
        self.gw = None
        try:
            self.config = os.path.join(tempfile.gettempdir(),
                                       f"wsgate-upgrade-proxy.{os.getpid()}.{self.ups[0].port}.toml")
            self.write_config([f"tun={self.ups[0].name}", f"frm={self.ups[1].name}"])
            self.gw = upgrade_proc.Gateway(BIN, BACKEND, ["--config", self.config,
                                                          "--idle-timeout", "60"] + list(extra),
                                           admin=True)
        except BaseException:
            self.stop()
            raise

    def write_config(self, upstreams):
        with open(self.config + ".new", "w") as f:
            f.write('mode = "proxy"\n')
            f.write("upstream = [" + ", ".join(f'"{u}"' for u in upstreams) + "]\n")
            f.write('route = ["/t=tun", "/f=frm,relay=frames"]\n')
        os.rename(self.config + ".new", self.config)

    def reorder(self):
        """Pools in the other order, and U3 before U1 in pool tun: a
        pairing counted by position would land on the wrong server."""
        self.write_config([f"frm={self.ups[1].name}", f"tun={self.ups[2].name}",
                           f"tun={self.ups[0].name}"])

    def upstream_connections(self):
        """{(pool, server): n} from the proxy's /metrics."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.gw.admin_port}/metrics",
                                    timeout=5) as r:
            text = r.read().decode()
        out = {}
        for labels, value in re.findall(r"^wsgate_upstream_connections\{([^}]*)\} (\S+)$", text,
                                        re.M):
            d = dict(re.findall(r'(\w+)="([^"]*)"', labels))
            out[(d["pool"], d["server"])] = int(float(value))
        return out

    def stop(self):
        if self.gw is not None:
            if os.environ.get("WSGATE_UPGRADE_PROXY_LOG"):
                print(self.gw.log()[-4000:], flush=True)
            self.gw.stop()
        for u in self.ups:
            u.stop()
        if os.path.exists(self.config):
            os.unlink(self.config)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


DEFLATE_OFFER = ("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                 "client_no_context_takeover")
TAKEOVER_OFFER = "Sec-WebSocket-Extensions: permessage-deflate"


def connect(proxy, path, extra=()):
    """A WebSocket through the proxy (the 101 is the upstream's for /t,
    wsgate's for /f); its 101 head is kept in c.head."""
    c = Conn(port=proxy.gw.port, timeout=10)
    key = wsraw.new_key()
    c.send(wsraw.build_upgrade(path, key, f"127.0.0.1:{proxy.gw.port}", extra))
    head = c.read_http_head()
    check(head.startswith(b"HTTP/1.1 101"), f"{path}: {head[:80]!r}")
    check(wsraw.accept_key(key).encode() in head, f"{path}: accept value in {head!r}")
    c.head = head
    return c


class Sequencer(threading.Thread):
    """Sends numbered messages with up to `window` in flight and checks each
    echo comes back exactly once, in order; any close, error or mismatch is
    kept in self.error."""

    def __init__(self, conn, name, window=4):
        super().__init__(daemon=True)
        self.conn, self.name, self.window = conn, name, window
        self.sent = self.echoed = 0
        self.stopping = threading.Event()
        self.error = None

    def run(self):
        try:
            while not self.stopping.is_set() or self.echoed < self.sent:
                while self.sent - self.echoed < self.window and not self.stopping.is_set():
                    op = OP_TEXT if self.sent % 2 else OP_BINARY
                    self.conn.send(frame(op, f"{self.name} {self.sent}".encode() * 3))
                    self.sent += 1
                op, got = self.conn.read_message()
                want = f"{self.name} {self.echoed}".encode() * 3
                if got != want or op != (OP_TEXT if self.echoed % 2 else OP_BINARY):
                    raise wsraw.Failure(f"{self.name}: echo {self.echoed} is {got[:40]!r}")
                self.echoed += 1
                time.sleep(0.002)
        except Exception as e:  # noqa: BLE001 - reported by the case
            self.error = f"{self.name} after {self.echoed}/{self.sent}: {type(e).__name__}: {e}"

    def finish(self):
        self.stopping.set()
        self.join(20)
        check(not self.is_alive(), f"{self.name} did not finish")
        return self.error


def expect_counts(proxy, want, what):
    """The proxy's wsgate_upstream_connections reach `want` (a pairing's
    count lands once it is adopted)."""
    deadline = time.monotonic() + 5
    while True:
        got = {k: v for k, v in proxy.upstream_connections().items() if k in want}
        if got == want or time.monotonic() > deadline:
            eq(got, want, what)
            return


# ---- cases ----

def pairings_carry_on():
    """N tunnel and N frames clients exchange numbered messages without a
    pause across two upgrades (SIGUSR2, then POST /admin/upgrade, the pools
    and servers reordered in between): every echo once and in order, no
    close on either side, no reconnect at the upstreams, and each new
    process counts the pairings against the right server."""
    n = 6
    with Proxy() as proxy:
        u1, u2, u3 = proxy.ups
        clients = [connect(proxy, "/t/x") for _ in range(n)] + \
                  [connect(proxy, "/f/x") for _ in range(n)]
        runners = [Sequencer(c, f"{'tf'[i // n]}{i}") for i, c in enumerate(clients)]
        for r in runners:
            r.start()
        time.sleep(0.5)
        expect_counts(proxy, {("tun", u1.name): n, ("frm", u2.name): n}, "before")
        eq(proxy.gw.upgrade("signal"), 4 * n, "connections (2 per pairing) taken by upgrade 1")
        expect_counts(proxy, {("tun", u1.name): n, ("frm", u2.name): n}, "after upgrade 1")
        mid = [r.echoed for r in runners]
        time.sleep(0.5)
        proxy.reorder()
        eq(proxy.gw.upgrade("post"), 4 * n, "connections taken by upgrade 2")
        expect_counts(proxy, {("tun", u1.name): n, ("tun", u3.name): 0, ("frm", u2.name): n},
                      "after upgrade 2, pools and servers reordered")
        time.sleep(0.5)
        errors = [e for e in (r.finish() for r in runners) if e]
        eq(errors, [], "client errors")
        for r, before in zip(runners, mid):
            check(r.echoed > before, f"{r.name} echoed after the first upgrade ({before} -> {r.echoed})")
        for u, want in ((u1, n), (u2, n), (u3, 0)):
            eq(u.stats(), {"opened": want, "closed": 0, "open": want},
               f"upstream {u.name}: connections seen")
        total = sum(r.echoed for r in runners)
        print(f"     {2 * n} clients, {total} messages echoed in order across 2 upgrades",
              flush=True)
        for c in clients:
            c.close()


def half_frame_moves_once_complete():
    """A frames client that sent half a frame: its pairing moves once the
    frame is complete (the rest sent after the upgrade began). A tunnel
    client in the same state moves at once (bytes are bytes to a tunnel):
    both get their echo whole."""
    with Proxy() as proxy:
        u1, u2, _ = proxy.ups
        tun, frm = connect(proxy, "/t/half"), connect(proxy, "/f/half")
        payload = bytes(range(256)) * 16
        whole = frame(OP_BINARY, payload)
        for c in (tun, frm):
            c.echo(OP_TEXT, "before")
            c.send(whole[:1500])
        os.kill(proxy.gw.pid, signal.SIGUSR2)
        time.sleep(0.4)
        for c in (tun, frm):
            c.send(whole[1500:])
            eq(c.read_message(), (OP_BINARY, payload), "the message split across the upgrade")
        text = proxy.gw.wait_for(lambda log: " took " in log, 20, "the handover")
        new = int(re.findall(r"upgrade: started \S+ as process (\d+)", text)[-1])
        proxy.gw.pids.append(new)
        eq(wait_exit(proxy.gw.pid, 10), 0, "the old process's exit status")
        proxy.gw.pid = new
        check(f"process {new} took 4 connections" in proxy.gw.log(),
              f"both pairings taken: {proxy.gw.log()[-400:]!r}")
        for c in (tun, frm):
            c.echo(OP_TEXT, "after")
        for u in (u1, u2):
            eq(u.stats(), {"opened": 1, "closed": 0, "open": 1}, f"upstream {u.name}")
        expect_counts(proxy, {("tun", u1.name): 1, ("frm", u2.name): 1}, "counted")
        tun.close()
        frm.close()


def stuck_mid_frame_closed_both_sides():
    """--upgrade-timeout 1: a frames pairing whose client stops inside a
    frame is closed after it on both sides (1001 to the client, the
    upstream's connection ended); a quiet pairing beside it moves."""
    with Proxy(("--upgrade-timeout", "1")) as proxy:
        u1, u2, _ = proxy.ups
        stuck, fine = connect(proxy, "/f/stuck"), connect(proxy, "/t/fine")
        stuck.echo(OP_TEXT, "before")
        stuck.send(frame(OP_TEXT, b"x" * 1000)[:300])
        t0 = time.monotonic()
        eq(proxy.gw.upgrade(), 2, "connections taken (the quiet pairing)")
        stuck.expect_close(1001)
        check(time.monotonic() - t0 < 6, "closed within the timeout and the close timeout")
        check("closed with 1001" in proxy.gw.log(), "the old process counted it")
        deadline = time.monotonic() + 5
        while u2.stats()["closed"] != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        eq(u2.stats(), {"opened": 1, "closed": 1, "open": 0}, "the stuck pairing's upstream")
        fine.echo(OP_TEXT, "moved")
        eq(u1.stats(), {"opened": 1, "closed": 0, "open": 1}, "the quiet pairing's upstream")
        fine.close()


def frames_deflate_context():
    """Frames relay, permessage-deflate on the client hop: an agreement
    without context takeover moves exactly; one keeping a context
    (--deflate-no-context-takeover none) cannot, and is closed at once on
    both sides (1001 to the client, the upstream's connection ended)."""
    with Proxy(("--deflate-no-context-takeover", "none")) as proxy:
        _, u2, _ = proxy.ups
        moving = connect(proxy, "/f/deflate", (DEFLATE_OFFER,))
        kept = connect(proxy, "/f/takeover", (TAKEOVER_OFFER,))
        check(b"client_no_context_takeover" in moving.head, f"no takeover agreed: {moving.head!r}")
        check(b"permessage-deflate" in kept.head and b"no_context_takeover" not in kept.head,
              f"context takeover agreed: {kept.head!r}")
        for c in (moving, kept):
            c.echo(OP_TEXT, "before")
        eq(proxy.gw.upgrade(), 2, "connections taken (the pairing without a context)")
        kept.expect_close(1001)
        moving.echo(OP_TEXT, "after")
        moving.echo(OP_BINARY, b"after, binary")
        deadline = time.monotonic() + 5
        while u2.stats()["closed"] != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        eq(u2.stats(), {"opened": 2, "closed": 1, "open": 1}, "upstream: the kept one's ended")
        moving.close()


def under_load_twice():
    """wsload echo clients through the proxy (half tunnel, half frames with
    permessage-deflate on the client hop), every echoed byte checked, upgraded twice: no close, no error, no
    reconnect at the upstreams; descriptors and RSS of each process and the
    hand-over times recorded."""
    if not os.path.exists(WSLOAD):
        raise wsraw.Failure(f"no {WSLOAD}: build bench/wsload")
    n = LOAD_PAIRINGS
    duration = 10 if n <= 400 else 20
    with Proxy() as proxy:
        gw = proxy.gw
        u1, u2, _ = proxy.ups
        runs = []
        # The frames half compresses on the client hop (no context takeover).
        deflate = ["--deflate-params", "server_no_context_takeover; client_no_context_takeover",
                   "--payload-kind", "json", "-s", "300"]
        for name, path, extra in (("tunnel", "/t/load", []), ("frames", "/f/load", deflate)):
            out = os.path.join(gw.dir, f"{name}.json")
            cmd = [WSLOAD, "--url", f"ws://127.0.0.1:{gw.port}{path}", "-c", str(n // 2), "-t",
                   str(duration), "--warmup", "0.5", "--json", out, "--no-progress",
                   "--connect-timeout", "30"] + extra
            runs.append((name, out, subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                                     stderr=subprocess.PIPE)))
        stats = upgrade_twice_under_load(gw, 2 * n, 2 * n,
                                         what=lambda taken: f"{taken // 2} pairings")
        expect_counts(proxy, {("tun", u1.name): n // 2, ("frm", u2.name): n // 2}, "counted")
        for name, out, p in runs:
            try:
                _, err = p.communicate(timeout=duration + 60)
            except subprocess.TimeoutExpired:
                p.kill()
                raise wsraw.Failure(f"wsload {name} did not finish")
            with open(out) as f:
                r = json.load(f)
            eq(r["errors_total"], 0, f"wsload {name} errors {r['errors']}")
            eq(r["up_at_end"], n // 2, f"wsload {name} connections up at the end")
            check(r["messages"] > 0, f"wsload {name} echoed messages")
            stats.append(f"wsload {name}: {r['up_at_end']}/{r['connections']} up at the end, "
                         f"{r['messages']} messages echoed and checked, errors 0")
        for u in (u1, u2):
            s = u.stats()
            eq(s["opened"], n // 2, f"upstream {u.name}: connections opened (no reconnect)")
        for s in stats:
            print(f"     {s}", flush=True)


suite.run("pairings carry on through two upgrades (tunnel and frames)", pairings_carry_on)
suite.run("half a frame: the pairing moves once it is complete", half_frame_moves_once_complete)
suite.run("stuck mid-frame: closed on both sides after --upgrade-timeout",
          stuck_mid_frame_closed_both_sides)
suite.run("frames, deflate on the client hop: context takeover closed, none moves",
          frames_deflate_context)
suite.run(f"under load: {LOAD_PAIRINGS} pairings, two upgrades", under_load_twice)
suite.finish()
