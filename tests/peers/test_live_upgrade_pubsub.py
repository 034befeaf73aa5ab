#!/usr/bin/python3
"""Live upgrade of a pub/sub gateway: subscribed clients move to the new
process with their subscriptions, and the channels' streams (epoch, offsets,
history) move with them, so a client sees nothing: every publication once,
in order, offsets contiguous, no disconnect, the same epoch after.

  test_live_upgrade_pubsub.py WSGATE_BINARY BACKEND [CASE-FILTER...]

Subscribers are raw protocol clients (pubsub_client.py) and npm's
`centrifuge` SDK (upgrade_sdk_client.mjs); a publisher publishes sequenced
messages through the HTTP API throughout two upgrades (SIGUSR2, then POST
/admin/upgrade). WSGATE_UPGRADE_PUBSUB_CONNECTIONS (default 1000) sets the
load case's size (wsload --mode pubsub); the by-hand run for
docs/live-upgrade.md uses 10000.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import upgrade_proc
import wsraw
from pubsub_client import Api, PubsubConn, ServerClosed
from upgrade_proc import upgrade_twice_under_load
from wsgate_proc import free_port
from wsraw import check, eq

if len(sys.argv) < 3:
    print("usage: test_live_upgrade_pubsub.py WSGATE_BINARY BACKEND", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(2)
BIN, BACKEND = os.path.abspath(sys.argv[1]), sys.argv[2]
del sys.argv[1:3]
suite = wsraw.Suite("live_upgrade_pubsub")
HERE = os.path.dirname(os.path.abspath(__file__))
WSLOAD = os.path.join(os.path.dirname(BIN), "..", "..", "bench", "wsload")
LOAD_CONNECTIONS = int(os.environ.get("WSGATE_UPGRADE_PUBSUB_CONNECTIONS", "1000"))
KEY = "upgrade-key"
CHANNELS = ["news", "sport", "chat-a", "chat-b", "chat-c"]
PUBSUB = ["--mode", "pubsub", "--api-key", KEY, "--history-size", "5000", "--history-ttl", "600"]


def Gateway(extra=(), admin=False):
    return upgrade_proc.Gateway(BIN, BACKEND, extra, admin)


class Subscriber:
    """A raw protocol client subscribed to some channels; a thread reads its
    pushes (answering pings) and records (offset, seq) per channel."""

    def __init__(self, port, channels):
        self.conn = PubsubConn(port)
        self.conn.connect()
        self.client_id = self.conn.connect_result["client"]
        self.start = {}
        for ch in channels:
            r = self.conn.subscribe(ch)
            self.start[ch] = (r.get("epoch", ""), r.get("offset", 0))
        self.got = {ch: [] for ch in channels}
        self.errors = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self):
        while not self.stop.is_set():
            try:
                self.conn.read_lines(0.2)
            except wsraw.Failure as e:
                if "timed out" in str(e):
                    continue
                self.errors.append(repr(e))
                return
            except (ServerClosed, OSError) as e:
                self.errors.append(repr(e))
                return
            while self.conn.lines:
                obj = self.conn.lines.pop(0)
                pub = obj.get("push", {}).get("pub")
                if pub is None:
                    self.errors.append(f"unexpected {obj}")
                    continue
                ch = obj["push"]["channel"]
                self.got[ch].append((pub.get("offset", 0), pub["data"]["seq"]))

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.conn.close()


class SdkClient:
    """upgrade_sdk_client.mjs: the centrifuge SDK's events as JSON lines."""

    def __init__(self, port, channels):
        self.proc = subprocess.Popen(["node", os.path.join(HERE, "upgrade_sdk_client.mjs"),
                                      str(port)] + channels, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=HERE)
        self.events = []
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while sum(e["event"] == "subscribed" for e in list(self.events)) < len(channels):
            if time.monotonic() > deadline:
                raise wsraw.Failure(f"SDK not subscribed: {self.events[-5:]}")
            time.sleep(0.05)

    def read(self):
        for line in self.proc.stdout:
            self.events.append(json.loads(line))

    def pubs(self, channel):
        return [(e["offset"], e["seq"]) for e in list(self.events)
                if e["event"] == "pub" and e["channel"] == channel]

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.thread.join(5)


class Publisher:
    """Publishes {"seq": n} round robin over the channels through the HTTP
    API (a new connection per request) until stopped; every answer recorded."""

    def __init__(self, port, channels, per_second=150):
        self.api = Api(port, KEY)
        self.channels = channels
        self.interval = 1.0 / per_second
        self.published = {ch: [] for ch in channels}  # (offset, epoch, seq)
        self.errors = []
        self.stop = threading.Event()
        self.seq = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def publish_one(self):
        ch = self.channels[self.seq % len(self.channels)]
        try:
            r = self.api.publish(ch, {"seq": self.seq})
            self.published[ch].append((r["offset"], r["epoch"], self.seq))
        except Exception as e:  # noqa: BLE001 - every failure is a finding
            self.errors.append(f"seq {self.seq}: {e!r}")
        self.seq += 1

    def run(self):
        while not self.stop.is_set():
            self.publish_one()
            time.sleep(self.interval)

    def finish(self):
        self.stop.set()
        self.thread.join(15)


def check_stream(who, got, start, published, channel):
    """`got` is every publication after `start` (the subscribe position), once,
    in order, with the publisher's seq for each offset."""
    epoch, offset = start
    by_offset = {o: s for o, _, s in published}
    top = max(by_offset)
    want = [(o, by_offset[o]) for o in range(offset + 1, top + 1) if o in by_offset]
    eq(len(want), top - offset, f"{who} {channel}: the publisher saw every offset")
    if got != want:
        seen = [o for o, _ in got]
        dups = len(seen) - len(set(seen))
        missing = sorted(set(range(offset + 1, top + 1)) - set(seen))
        raise wsraw.Failure(f"{who} {channel}: {len(got)} publications, want {len(want)} "
                            f"({offset + 1}..{top}); {dups} duplicated, missing {missing[:10]}, "
                            f"first wrong {next((g, w) for g, w in zip(got + [None] * len(want), want) if g != w)}")
    return len(got)


class RedisServer:
    """A redis-server of the suite's own (free loopback port, no
    persistence), ended by PID."""

    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while subprocess.run(["redis-cli", "-p", str(self.port), "PING"], capture_output=True,
                             text=True).stdout.strip() != "PONG":
            if time.monotonic() > deadline:
                raise wsraw.Failure("redis-server not answering")
            time.sleep(0.05)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def subscribers_carry_on(engine):
    """Raw clients and an SDK client subscribed to five channels, a publisher
    publishing throughout two upgrades: every client gets every publication
    once, in order, offsets contiguous; no disconnect; the same epochs. With
    --engine redis the streams stay in Redis and only subscriptions move."""
    if engine == "redis":
        with RedisServer() as redis:
            carry_on(PUBSUB + ["--engine", "redis", "--redis", f"127.0.0.1:{redis.port}"],
                     streams_move=False)
    else:
        carry_on(PUBSUB, streams_move=True)


def carry_on(flags, streams_move):
    with Gateway(flags, admin=True) as gw:
        api = Api(gw.port, KEY)
        # Streams with a past: a few publications before anyone subscribes.
        for i, ch in enumerate(CHANNELS * 3):
            api.publish(ch, {"seq": -1 - i})
        epochs = {ch: api.result("history", {"channel": ch, "limit": 0})["epoch"]
                  for ch in CHANNELS}
        subs = [Subscriber(gw.port, [CHANNELS[i % 5], CHANNELS[(i + 2) % 5]]) for i in range(30)]
        sdk = SdkClient(gw.port, ["news", "chat-b"])
        sdk_start = {e["channel"]: (e["epoch"], e["offset"]) for e in sdk.events
                     if e["event"] == "subscribed"}
        sdk_setup = len(sdk.events)
        pub = Publisher(gw.port, CHANNELS)
        pub.seq = 0
        pub.thread.start()
        time.sleep(1.0)
        eq(gw.upgrade("signal"), 31, "connections taken by the second process")
        time.sleep(1.0)
        eq(gw.upgrade("post"), 31, "connections taken by the third process")
        time.sleep(1.0)
        pub.finish()
        eq(pub.errors, [], "publish errors")
        tops = {ch: max(o for o, _, _ in pub.published[ch]) for ch in CHANNELS}
        for ch in CHANNELS:
            eq({e for _, e, _ in pub.published[ch]}, {epochs[ch]}, f"{ch}: one epoch throughout")

        def all_in():
            return all(s.got[ch] and s.got[ch][-1][0] >= tops[ch] for s in subs for ch in s.got) \
                and all(sdk.pubs(ch) and sdk.pubs(ch)[-1][0] >= tops[ch] for ch in sdk_start)
        deadline = time.monotonic() + 10
        while not all_in() and time.monotonic() < deadline:
            time.sleep(0.05)
        checked = 0
        for i, s in enumerate(subs):
            eq(s.errors, [], f"client {i} errors")
            for ch in s.got:
                eq(s.start[ch][0], epochs[ch], f"client {i} {ch} epoch")
                checked += check_stream(f"client {i}", s.got[ch], s.start[ch], pub.published[ch], ch)
        for ch, start in sdk_start.items():
            eq(start[0], epochs[ch], f"SDK {ch} epoch")
            checked += check_stream("SDK", sdk.pubs(ch), start, pub.published[ch], ch)
        bad = [e for e in sdk.events[sdk_setup:] if e["event"] in
               ("disconnected", "connecting", "unsubscribed", "subscribing", "error", "sub_error")]
        eq(bad, [], "SDK events after it subscribed other than publications")
        # After two upgrades: the same streams (epoch, top, history).
        for ch in CHANNELS:
            h = api.result("history", {"channel": ch, "limit": -1})
            eq((h["epoch"], h["offset"]), (epochs[ch], tops[ch]), f"{ch} history position")
            eq(len(h["publications"]), tops[ch], f"{ch} history length")
        # A client that was away recovers across the upgrades.
        with PubsubConn(gw.port) as late:
            late.connect()
            r = late.subscribe("sport", recover=True, epoch=epochs["sport"], offset=3)
            check(r.get("recovered") is True, f"recovered after the upgrades: {r}")
            eq(len(r["publications"]), tops["sport"] - 3, "publications recovered")
        # The moved clients still command: their client id is the one they got.
        subs[0].stop.set()
        subs[0].thread.join(5)
        r = subs[0].conn.ok("presence_stats", {"channel": CHANNELS[0]})
        check(r["num_clients"] >= 1, f"presence after the upgrades: {r}")
        log = gw.log()
        streams = sum(int(n) for n in re.findall(r"took (\d+) channel streams", log))
        eq(streams, 2 * len(CHANNELS) if streams_move else 0, "streams taken in two upgrades")
        print(f"     {checked} publications checked over {len(subs)} raw clients and the SDK; "
              f"{pub.seq} published through two upgrades", flush=True)
        for s in subs:
            s.close()
        sdk.close()


def handed_over_publications(log):
    """Publications of history the last upgrade's loops handed over."""
    return sum(int(p) for p in re.findall(
        r"hands over \d+ channel streams \((\d+) publications", log)[-2:])


def under_load_twice():
    """wsload --mode pubsub: subscribers on 20 channels (2 each) and 4
    publishers publishing as clients (they move too), upgraded twice in a
    row: nothing lost, duplicated or reordered, every offset +1, no error;
    descriptors and RSS of each process recorded."""
    if not os.path.exists(WSLOAD):
        raise wsraw.Failure(f"no {WSLOAD}: build bench/wsload")
    n = LOAD_CONNECTIONS
    publishers = 4
    duration = 10 if n <= 2000 else 30
    with Gateway(PUBSUB + ["--allow-client-publish", "--idle-timeout", "60"], admin=True) as gw:
        out = os.path.join(gw.dir, "wsload.json")
        cmd = [WSLOAD, "--mode", "pubsub", "--url",
               f"ws://127.0.0.1:{gw.port}/connection/websocket", "-c", str(n), "-s", "64",
               "-d", "2", "--publishers", str(publishers), "--channels", "20",
               "--subscriptions", "2", "--publish-via", "ws", "-t", str(duration), "--warmup",
               "0.5", "--json", out, "--no-progress", "--connect-timeout", "30"]
        load = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        stats = upgrade_twice_under_load(
            gw, n + publishers, n + publishers, vias=("signal", "post"),
            extra=lambda log: f"; {handed_over_publications(log)} publications of history "
                              "handed over")
        try:
            _, err = load.communicate(timeout=duration + 60)
        except subprocess.TimeoutExpired:
            load.kill()
            raise wsraw.Failure("wsload did not finish")
        eq(load.returncode, 0, f"wsload exit status; stderr {err[-400:]!r}")
        with open(out) as f:
            d = json.load(f)
        p = d["pubsub"]
        eq(p["subscriptions_up"], 2 * n, "subscriptions up at the end")
        for key in ("lost", "duplicates", "reordered", "offset_errors", "publish_errors"):
            eq(p[key], 0, key)
        check(p["offsets_checked"] > 0, "no offset was checked")
        eq(d["errors_total"], 0, f"wsload errors {d['errors']}")
        stats.append(f"wsload: {n} subscribers x 2 channels, {p['publications']} publications, "
                     f"{p['deliveries']} deliveries, {p['offsets_checked']} offsets checked, "
                     f"0 lost/duplicated/reordered, errors 0")
        for s in stats:
            print(f"     {s}", flush=True)


def held_until_the_old_streams_come():
    """A new process (here against a stand-in for the old one on the
    handover socket) holds API publishes until the old process's streams
    have come: none is answered before; once the old process says done
    without sending any, each is answered in order against a new stream."""
    import socket
    import struct
    import urllib.request
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(64)
    lsock.setblocking(False)  # as the old process's listeners are
    port = lsock.getsockname()[1]
    d = tempfile.mkdtemp(prefix="wsgate-upgrade.")
    p = None
    try:
        env = dict(os.environ, WSGATE_HANDOVER_FD=str(theirs.fileno()))
        with open(os.path.join(d, "stderr.log"), "wb") as err:
            p = subprocess.Popen([BIN, "--listen", f"127.0.0.1:{port}", "--backend", BACKEND,
                                  "--threads", "1"] + PUBSUB, stdout=err, stderr=err,
                                 stdin=subprocess.DEVNULL, env=env, pass_fds=(theirs.fileno(),))
        theirs.close()
        ours.settimeout(10)
        header = struct.Struct("<IHHII")
        magic, version, kind, _, _ = header.unpack(ours.recv(65536)[:16])
        eq((magic, kind), (0x55475357, 1), "hello")
        ours.sendmsg([header.pack(magic, version, 2, 1, 1) + struct.pack("<HHB3x", 0, 0, 0)],
                     [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", lsock.fileno()))])
        eq(header.unpack(ours.recv(65536)[:16])[2], 3, "ready")
        answers = []

        def publish(seq):
            req = urllib.request.Request(f"http://127.0.0.1:{port}/api/publish", method="POST",
                                         data=json.dumps({"channel": "news",
                                                          "data": {"seq": seq}}).encode())
            req.add_header("X-API-Key", KEY)
            with urllib.request.urlopen(req, timeout=10) as r:
                answers.append((seq, json.loads(r.read())["result"]["offset"]))

        threads = [threading.Thread(target=publish, args=(i,)) for i in range(3)]
        for i, t in enumerate(threads):
            t.start()
            time.sleep(0.1)
        time.sleep(0.7)
        eq(answers, [], "publishes answered before the old streams came")
        ours.send(header.pack(magic, version, 5, 0, 0))  # done: no connection, no state
        eq(header.unpack(ours.recv(65536)[:16])[2], 6, "taken")
        for t in threads:
            t.join(10)
        eq(sorted(answers), [(0, 1), (1, 2), (2, 3)], "answered in order in a new stream")
        with open(os.path.join(d, "stderr.log"), "rb") as f:
            log = f.read().decode()
        check("took 0 channel streams (0 publications); answering 3 held requests" in log,
              f"the held requests in the log: {log[-600:]!r}")
    finally:
        if p is not None and p.poll() is None:
            p.terminate()
            p.wait(10)
        ours.close()
        lsock.close()
        shutil.rmtree(d, ignore_errors=True)


suite.run("subscribers carry on through two upgrades (memory engine)", subscribers_carry_on,
          "memory")
if shutil.which("redis-server") is None:
    suite.skip("subscribers carry on through two upgrades (--engine redis)",
               "redis-server not installed")
else:
    suite.run("subscribers carry on through two upgrades (--engine redis)", subscribers_carry_on,
              "redis")
suite.run("the new process holds publishes until the old streams come",
          held_until_the_old_streams_come)
suite.run(f"under load: {LOAD_CONNECTIONS} subscribers, two upgrades", under_load_twice)
suite.finish()
