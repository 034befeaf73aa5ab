#!/usr/bin/python3
"""wsgate --engine redis: three nodes as one channel space through a real
redis-server, and what happens to every subscriber's sequence when Redis
fails (docs/redis-engine.md).

  test_redis_engine.py WSGATE_BINARY BACKEND [CASE-FILTER...]

Starts its own redis-server (free loopback port, no persistence; killed,
frozen and restarted by PID) and three nodes on distinct loopback addresses:
A 127.0.0.1, B 127.0.0.2, C 127.0.0.3 (C with --redis-health-strict off).
Publishers use A's HTTP API; subscribers are raw Centrifugo clients on B and
C. Each sequence is checked for gap, duplicate and order: a subscriber's
offsets go up by one from where it started, or the subscriber is closed
with 3010 (insufficient state) - never a silent gap.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import wsraw
from pubsub_client import PubsubConn, ServerClosed, hs256_token, wait_until
from wsgate_proc import Server, free_port
from wsraw import Failure, check, eq

if len(sys.argv) < 3:
    print("usage: test_redis_engine.py WSGATE_BINARY BACKEND", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(2)
BIN, BACKEND = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
suite = wsraw.Suite("redis_engine")

KEY = "k"
SECRET = "redis-engine-secret"
COMMAND_TIMEOUT = 0.5  # --redis-command-timeout
HOSTS = {"A": "127.0.0.1", "B": "127.0.0.2", "C": "127.0.0.3"}


class Redis:
    """A redis-server of the suite's own, handled by PID."""

    def __init__(self):
        self.port = free_port()
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        wait_until(lambda: self.cli("PING") == "PONG", 5, "redis-server answering")

    def cli(self, *args):
        r = subprocess.run(["redis-cli", "-p", str(self.port)] + list(args), capture_output=True,
                           text=True, timeout=5)
        return r.stdout.strip()

    def kill(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)  # a stopped one dies too
            self.proc.wait()

    def freeze(self):
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self):
        os.kill(self.proc.pid, signal.SIGCONT)


class Node:
    def __init__(self, name, redis_port, extra=()):
        self.name, self.host = name, HOSTS[name]
        self.port, self.admin = free_port(), free_port()
        self.flags = ["--mode", "pubsub", "--backend", BACKEND, "--threads", "2",
                      "--listen", f"{self.host}:{self.port}", "--admin-listen",
                      f"{self.host}:{self.admin}", "--close-timeout", "2", "--api-key", KEY,
                      "--token-hmac-secret", SECRET,
                      "--history-size", "1000", "--engine", "redis", "--redis",
                      f"127.0.0.1:{redis_port}", "--redis-command-timeout",
                      str(COMMAND_TIMEOUT)] + list(extra)
        self.start()

    def start(self):
        self.srv = Server(BIN, self.flags)

    def http(self, path, body=None, port=None):
        url = f"http://{self.host}:{port or self.port}{path}"
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method="POST" if data else "GET")
        req.add_header("X-API-Key", KEY)
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def publish(self, channel, data):
        return self.http("/api/publish", {"channel": channel, "data": data})

    def healthz(self):
        return self.http("/healthz", port=self.admin)

    def metric(self, name):
        _, text = self.http("/metrics", port=self.admin)
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise Failure(f"{self.name}: no metric {name}")

    def client(self, user=None):
        saved = wsraw.HOST
        wsraw.HOST = self.host
        try:
            c = PubsubConn(self.port)
        finally:
            wsraw.HOST = saved
        c.connect(None if user is None else hs256_token(SECRET, {"sub": user}))
        return c


class Sequence:
    """One subscriber's publications of one channel: offsets must go up by
    one from `start`, and carry the publisher's counter `i` in the same order."""

    def __init__(self, conn, channel, start=0, epoch=None):
        self.conn, self.channel, self.top, self.epoch = conn, channel, start, epoch
        self.got = []
        self.closed = None

    def take(self, pubs):
        for p in pubs:
            check("offset" in p, f"{self.channel}: publication without offset: {p}")
            eq(p["offset"], self.top + 1, f"{self.channel}: next offset (gap or duplicate)")
            self.top = p["offset"]
            self.got.append(p["data"]["i"])

    def read(self, want_top, timeout=10):
        """Reads pushes until the offset reaches want_top (or the close)."""
        deadline = time.monotonic() + timeout
        while self.top < want_top:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure(f"{self.channel}: at offset {self.top}, want {want_top}")
            try:
                push = self.conn.push(left, kind="pub")
            except ServerClosed as e:
                self.closed = e.code
                return
            eq(push["channel"], self.channel, "push channel")
            self.take([push["pub"]])

    def ordered(self):
        check(self.got == sorted(self.got) and len(set(self.got)) == len(self.got),
              f"{self.channel}: publications out of order or repeated: {self.got[:20]}")


def subscribe(conn, channel, **kw):
    r = conn.subscribe(channel, **kw)
    seq = Sequence(conn, channel, r.get("offset", 0), r.get("epoch"))
    return seq, r


def publish_range(node, channel, first, n):
    """Publishes i = first..first+n-1; returns the statuses."""
    return [node.publish(channel, {"i": i})[0] for i in range(first, first + n)]


# ---- cases ----

def three_nodes_one_channel_space(A, B, C, redis):
    subs = []
    for node in (B, C, B):
        for ch in ("news", "sport"):
            subs.append(subscribe(node.client(), ch)[0])
    # One Redis subscription per channel per node (B's two clients share one).
    eq(redis.cli("PUBSUB", "NUMSUB", "wsgate.p.news").split()[-1], "2", "Redis subscribers")
    for i in range(40):
        for ch in ("news", "sport"):
            status, body = A.publish(ch, {"i": i})
            eq(status, 200, f"publish {body}")
            eq(json.loads(body)["result"]["offset"], i + 1, "offset assigned in Redis")
    for s in subs:
        s.read(40)
        eq(s.got, list(range(40)), f"{s.channel} sequence")
        s.conn.close()
    # The last subscriber of a node left: its home unsubscribed.
    wait_until(lambda: redis.cli("PUBSUB", "NUMSUB", "wsgate.p.news").split()[-1] == "0", 5,
               "UNSUBSCRIBE once the clients left")


def info_reports_every_node(A, B, C, redis):
    conns = [B.client(), B.client(), C.client()]
    for c in conns:
        c.subscribe("info-room")

    def nodes():
        status, body = A.http("/api/info", {})
        eq(status, 200, f"/api/info ({body})")
        return json.loads(body)["result"]["nodes"]

    # Heartbeats every second, each carrying its node's counts.
    wait_until(lambda: sorted(n["num_clients"] for n in nodes()) == [0, 1, 2], 5,
               "info with every node's clients (heartbeats in Redis)")
    got = nodes()
    eq(len({n["uid"] for n in got}), 3, f"three distinct nodes: {got}")
    eq(sum(n["num_subs"] for n in got), 3, "subscriptions over the cluster")
    for c in conns:
        c.close()


def presence_counts_the_cluster(A, B, C, redis):
    # u1 on B and C, u2 on B, u3 on C: 4 clients, 3 distinct users.
    on_b = [B.client("u1"), B.client("u2")]
    on_c = [C.client("u1"), C.client("u3")]
    for c in on_b + on_c:
        c.subscribe("room")
    asker = A.client("u9")  # on A, not subscribed: A has no part of its own

    def by_client():
        return asker.ok("presence_stats", {"channel": "room"})

    def by_api():
        status, body = A.http("/api/presence_stats", {"channel": "room"})
        eq(status, 200, f"/api/presence_stats ({body})")
        return json.loads(body)["result"]

    want = {"num_clients": 4, "num_users": 3}
    # Each node writes its part with its heartbeat (every second).
    wait_until(lambda: by_client() == want, 5, "presence_stats on A: B's and C's subscribers")
    eq(by_api(), want, "/api/presence_stats on A: the cluster")

    def room_clients():
        status, body = A.http("/api/channels", {})
        eq(status, 200, f"/api/channels ({body})")
        return json.loads(body)["result"]["channels"].get("room", {}).get("num_clients")

    wait_until(lambda: room_clients() == 4, 3, "/api/channels on A: the cluster's subscribers")
    # A's own subscriber counts too (from A itself, not from Redis).
    mine = A.client("u2")
    mine.subscribe("room")
    eq(by_client(), {"num_clients": 5, "num_users": 3}, "A's subscriber added at once")
    mine.close()
    # C killed: its entries vanish with its heartbeat (TTL 5 s).
    os.kill(C.srv.pid, signal.SIGKILL)
    C.srv.proc.wait()
    t0 = time.monotonic()
    wait_until(lambda: by_api() == {"num_clients": 2, "num_users": 2}, 8,
               "C's part gone after the TTL")
    check(time.monotonic() - t0 < 7, "gone within the TTL")
    eq(by_client(), {"num_clients": 2, "num_users": 2}, "client presence_stats after C died")
    eq(room_clients(), 2, "/api/channels after C died")
    # A client leaving B is seen at B's next heartbeat, not the TTL.
    on_b[1].close()
    wait_until(lambda: by_client() == {"num_clients": 1, "num_users": 1}, 3,
               "B's part updated by its next heartbeat")
    for c in on_b + [asker]:
        c.close()
    C.start()
    wait_until(lambda: C.healthz()[0] == 200, 10, "C healthy again")


def history_api_reads_redis_on_any_node(A, B, C, redis):
    # Nobody subscribes: no node has seen these, Redis's stream has them.
    publish_range(A, "archive", 0, 12)

    def history(node, **body):
        status, text = node.http("/api/history", dict(channel="archive", **body))
        eq(status, 200, f"/api/history ({text})")
        return json.loads(text)

    r = history(C, limit=-1)["result"]
    eq(r["offset"], 12, "top from Redis")
    eq([p["data"]["i"] for p in r["publications"]], list(range(12)), "all, oldest first")
    eq([p["offset"] for p in r["publications"]], list(range(1, 13)), "offsets")
    r2 = history(B, limit=3, reverse=True)["result"]
    eq([p["offset"] for p in r2["publications"]], [12, 11, 10], "newest 3, reversed")
    r3 = history(B, limit=2, since={"offset": 5, "epoch": r["epoch"]})["result"]
    eq([p["offset"] for p in r3["publications"]], [6, 7], "2 after offset 5")
    err = history(C, limit=1, since={"offset": 5, "epoch": "nope"})
    eq(err.get("error", {}).get("code"), 112, f"another epoch: unrecoverable position ({err})")


def killed_node_clients_recover_elsewhere(A, B, C, redis):
    conn = B.client()
    seq, r = subscribe(conn, "orders")
    publish_range(A, "orders", 0, 10)
    seq.read(10)
    os.kill(B.srv.pid, signal.SIGKILL)
    B.srv.proc.wait()
    publish_range(A, "orders", 10, 15)
    # The client reconnects to C and recovers from Redis's stream.
    other = C.client()
    r2 = other.subscribe("orders", recover=True, offset=seq.top, epoch=seq.epoch)
    check(r2.get("recovered") is True, f"recovered on C: {r2}")
    seq2 = Sequence(other, "orders", seq.top)
    seq2.take(r2.get("publications", []))
    eq(seq.got + seq2.got, list(range(25)), "sequence across the node's death")
    publish_range(A, "orders", 25, 5)
    seq2.read(30)
    eq(seq2.got[-5:], list(range(25, 30)), "live after recovery")
    other.close()
    B.start()
    wait_until(lambda: B.healthz()[0] == 200, 10, "B healthy again")


def lost_subscriptions_are_filled_from_history(A, B, C, redis):
    seqs = [subscribe(n.client(), "feed")[0] for n in (B, C)]
    before = sum(n.metric("wsgate_redis_gap_recovered_total") for n in (B, C))
    for round_ in range(5):
        # Subscriber connections only: publishes go on while B and C resubscribe.
        redis.cli("CLIENT", "KILL", "TYPE", "pubsub")
        publish_range(A, "feed", round_ * 40, 40)
    for s in seqs:
        s.read(200, timeout=15)
        check(s.closed is None, f"closed {s.closed}")
        eq(s.got, list(range(200)), "feed sequence")
        s.conn.close()
    after = sum(n.metric("wsgate_redis_gap_recovered_total") for n in (B, C))
    check(after > before, f"no publication was recovered from history ({before} -> {after}): "
          "the case did not make a gap")


def redis_killed_and_restarted(A, B, C, redis):
    subs = [subscribe(n.client(), "live")[0] for n in (B, C)]
    publish_range(A, "live", 0, 20)
    for s in subs:
        s.read(20)
    redis.kill()
    wait_until(lambda: A.healthz()[0] == 503, 5, "A's /healthz 503 while Redis is down")
    status, body = A.healthz()
    check("redis" in body, f"/healthz says why: {body!r}")
    eq(C.healthz()[0], 200, "C (--redis-health-strict off) stays 200")
    t0 = time.monotonic()
    status, body = A.publish("live", {"i": 20})
    eq(status, 503, f"publish while Redis is down ({body})")
    eq(json.loads(body)["error"]["code"], 108, "error code not available")
    check(time.monotonic() - t0 < 0.5, "publish failed fast")
    check(A.metric("wsgate_redis_publish_failed_total") >= 1, "publish failures counted")
    # Clients stay connected meanwhile: commands are answered locally.
    for s in subs:
        s.conn.ok("presence_stats", {"channel": "live"})
    before = sum(n.metric("wsgate_redis_insufficient_state_total") for n in (B, C))
    redis.start()  # empty: the streams are gone
    wait_until(lambda: all(n.healthz()[0] == 200 for n in (A, B)), 10, "healthy again")
    # The stream came back with another epoch: subscribers are told (3010),
    # not left waiting on offsets that will never come.
    for s in subs:
        s.read(10 ** 9, timeout=5)
        eq(s.closed, 3010, "close code after Redis lost the stream")
    after = sum(n.metric("wsgate_redis_insufficient_state_total") for n in (B, C))
    check(after >= before + 2, f"insufficient state counted ({before} -> {after})")
    # And they recover as the SDK would: recover -> recovered false, new epoch.
    conn = B.client()
    r = conn.subscribe("live", recover=True, offset=subs[0].top, epoch=subs[0].epoch)
    check(not r.get("recovered") and r.get("epoch") != subs[0].epoch, f"resubscribe: {r}")
    seq = Sequence(conn, "live", r["offset"], r["epoch"])
    publish_range(A, "live", 100, 5)
    seq.read(r["offset"] + 5)
    eq(seq.got, list(range(100, 105)), "delivery after the restart")
    conn.close()


def redis_frozen(A, B, C, redis):
    seqs = [subscribe(n.client(), "frozen")[0] for n in (B, C)]
    publish_range(A, "frozen", 0, 10)
    redis.freeze()
    try:
        t0 = time.monotonic()
        statuses = []
        while time.monotonic() - t0 < 5:
            s0 = time.monotonic()
            status, _ = A.publish("frozen", {"i": 10 + len(statuses)})
            statuses.append(status)
            check(time.monotonic() - s0 < COMMAND_TIMEOUT + 1.0,
                  f"a publish took {time.monotonic() - s0:.1f}s while Redis was frozen")
            time.sleep(0.1)
        check(503 in statuses, f"no publish failed while frozen: {statuses}")
        eq(A.healthz()[0], 503, "A's /healthz while Redis is frozen")
    finally:
        redis.thaw()
    wait_until(lambda: all(n.healthz()[0] == 200 for n in (A, B)), 10, "healthy after SIGCONT")
    n_ok = statuses.count(200)
    status, body = A.publish("frozen", {"i": 10 + len(statuses)})
    eq(status, 200, f"publish after SIGCONT ({body})")
    top = json.loads(body)["result"]["offset"]
    # A publish that timed out may still run once Redis wakes (its bytes were
    # in the socket): its outcome is unknown to the publisher, but every
    # subscriber sees the stream as Redis has it - in order, no gap.
    for s in seqs:
        s.read(top, timeout=10)
        check(s.closed is None, f"closed {s.closed}")
        s.ordered()
        check(len(s.got) >= 10 + n_ok + 1, f"delivered {len(s.got)} < published {10 + n_ok + 1}")
        s.conn.close()


def main():
    if shutil.which("redis-server") is None:
        suite.skip("all", "redis-server not installed")
        suite.finish()
    redis = Redis()
    redis.start()
    nodes = []
    try:
        A = Node("A", redis.port)
        B = Node("B", redis.port)
        C = Node("C", redis.port, ["--redis-health-strict", "off"])
        nodes = [A, B, C]
        wait_until(lambda: all(n.healthz()[0] == 200 for n in nodes), 10, "nodes healthy")
        for name, fn in [
            ("three nodes: subscribers on B and C get A's publications in order", three_nodes_one_channel_space),
            ("/api/info on A lists the three nodes with their clients (heartbeats)", info_reports_every_node),
            ("presence_stats (client, API) and channels on A count B's and C's subscribers; a killed node's part expires", presence_counts_the_cluster),
            ("history API on B and C reads Redis's stream (limit, reverse, since, epoch)", history_api_reads_redis_on_any_node),
            ("a killed node's client recovers on another node (recovered: true)", killed_node_clients_recover_elsewhere),
            ("subscriber links killed 5x mid-stream: the gap is filled from history", lost_subscriptions_are_filled_from_history),
            ("Redis SIGKILLed and restarted: 503 fast, /healthz 503, then 3010, never a silent gap", redis_killed_and_restarted),
            ("Redis frozen 5 s: publishes fail within the command timeout, then resume in order", redis_frozen),
        ]:
            suite.run(name, fn, A, B, C, redis)
        for n in nodes:
            n.srv.terminate(10)
            eq(n.srv.returncode, 0, f"{n.name} exit status after SIGTERM")
    finally:
        for n in nodes:
            n.srv.stop()
        redis.kill()
    suite.finish()


main()
