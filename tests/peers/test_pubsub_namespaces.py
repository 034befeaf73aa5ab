#!/usr/bin/python3
"""Channel namespaces (Centrifugo's "Channels and namespaces", "Channel
permission model") over raw sockets and the HTTP API, on both engines:

  test_pubsub_namespaces.py WSGATE_BINARY BACKEND [CASE-FILTER...]

Each engine gets an instance of its own, configured by a file of
[[namespace]] tables (the memory engine, and --engine redis with a
redis-server of the suite's own when one is installed, else those cases are
skipped and counted):

  default (no ':'):  history off, client publish off (wsgate's top-level keys)
  open:   history 3, presence, everything allowed, anonymous too
  subs:   history 10 for 2 s, users only; publish and history for subscribers
  ro:     anonymous may subscribe, nothing else (presence off)

  grow:   anonymous may subscribe, history off

then a reload (POST /admin/reload) that removes `ro`, adds `late`, shrinks
`open`'s history to 1 and turns `grow`'s on, with subscribers of `ro` and
`grow` kept across it.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import wsraw
from pubsub_client import Api, PubsubConn, hs256_token, wait_until
from wsgate_proc import Server, free_port
from wsraw import check, eq

if len(sys.argv) < 3:
    print("usage: test_pubsub_namespaces.py WSGATE_BINARY BACKEND", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(2)
BIN, BACKEND = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
suite = wsraw.Suite("pubsub_namespaces")

KEY = "ns-key"
SECRET = "ns-secret"
SUBS_TTL = 2

BASE = f"""mode = "pubsub"
api-key = "{KEY}"
token-hmac-secret = "{SECRET}"
"""

NAMESPACES = f"""
[[namespace]]
name = "open"
history_size = 3
history_ttl = "5m"
presence = true
allow_subscribe_for_client = true
allow_subscribe_for_anonymous = true
allow_publish_for_client = true
allow_publish_for_anonymous = true
allow_history_for_client = true
allow_history_for_anonymous = true
allow_presence_for_client = true
allow_presence_for_anonymous = true

[[namespace]]
name = "subs"
history_size = 10
history_ttl = {SUBS_TTL}
allow_subscribe_for_client = true
allow_publish_for_subscriber = true
allow_history_for_subscriber = true

[[namespace]]
name = "ro"
allow_subscribe_for_client = true
allow_subscribe_for_anonymous = true

[[namespace]]
name = "grow"
allow_subscribe_for_client = true
allow_subscribe_for_anonymous = true
"""

RELOADED = NAMESPACES.replace('history_size = 3\n', 'history_size = 1\n').replace(
    'name = "grow"\n', 'name = "grow"\nhistory_size = 5\n').replace(
    """
[[namespace]]
name = "ro"
allow_subscribe_for_client = true
allow_subscribe_for_anonymous = true
""", """
[[namespace]]
name = "late"
allow_subscribe_for_client = true
allow_subscribe_for_anonymous = true
""")


class Redis:
    """A redis-server of the suite's own, ended by PID."""

    def __init__(self):
        self.port = free_port()
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
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class Instance:
    def __init__(self, engine_flags):
        fd, self.path = tempfile.mkstemp(prefix="wsgate-ns.", suffix=".toml")
        os.close(fd)
        self.write(BASE + NAMESPACES)
        self.port, self.admin = free_port(), free_port()
        self.srv = Server(BIN, ["--config", self.path, "--listen", f"127.0.0.1:{self.port}",
                                "--admin-listen", f"127.0.0.1:{self.admin}", "--backend",
                                BACKEND, "--threads", "2", "--close-timeout", "2"]
                          + list(engine_flags))
        self.api = Api(self.port, KEY)
        self.redis = "redis" in engine_flags

    def write(self, text):
        with open(self.path + ".new", "w") as f:
            f.write(text)
        os.replace(self.path + ".new", self.path)

    def reload(self, text):
        self.write(text)
        req = urllib.request.Request(f"http://127.0.0.1:{self.admin}/admin/reload", method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            answer = json.loads(r.read())
        eq(answer.get("restart_needed"), [], "nothing needs a restart")
        eq(answer.get("applied"), ["namespace"], "applied")
        # Every loop adopts the snapshot between two events: wait for both.
        want = answer["generation"]

        def adopted():
            with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/metrics", timeout=5) as r:
                lines = [l for l in r.read().decode().splitlines()
                         if l.startswith("wsgate_settings_generation{")]
            return len(lines) == 2 and all(float(l.split()[-1]) == want for l in lines)

        wait_until(adopted, 5, f"every loop at settings generation {want}")

    def client(self, user=None):
        c = PubsubConn(self.port)
        c.connect(hs256_token(SECRET, {"sub": user}) if user else None)
        return c

    def stop(self):
        self.srv.stop()
        os.unlink(self.path)


def api_error(inst, method, body):
    r = inst.api.call(method, body)
    check("error" in r, f"/api/{method} {body}: want an error, got {r}")
    return r["error"]["code"]


# -- cases ------------------------------------------------------------------------------

def unknown_namespace_is_102(inst):
    c = inst.client("alice")
    try:
        for method, params in (("subscribe", {"channel": "nope:x"}),
                               ("publish", {"channel": "nope:x", "data": {}}),
                               ("history", {"channel": "nope:x", "limit": -1}),
                               ("presence_stats", {"channel": "nope:x"}),
                               ("subscribe", {"channel": "ope:x"})):
            err = c.error(method, params, 102)
            eq(err.get("message"), "unknown channel", f"{method} message")
        # The default namespace and a configured one are served on the same connection.
        eq(c.subscribe("lobby").get("recoverable", False), False, "default namespace: no history")
        eq(c.subscribe("open:x").get("recoverable"), True, "open: recoverable")
        # The HTTP API: 102 in Centrifugo's error object, HTTP 200.
        eq(api_error(inst, "publish", {"channel": "nope:x", "data": 1}), 102, "api publish")
        eq(api_error(inst, "history", {"channel": "nope:x"}), 102, "api history")
        eq(api_error(inst, "presence_stats", {"channel": "nope:x"}), 102, "api presence_stats")
        r = inst.api.result("broadcast", {"channels": ["nope:a", "open:b"], "data": 1})["responses"]
        eq(r[0], {"error": {"code": 102, "message": "unknown channel"}}, "broadcast: unknown")
        check("result" in r[1], f"broadcast: open:b published: {r[1]}")
    finally:
        c.close()


def publish_rights_per_namespace(inst):
    alice, bob, anon = inst.client("alice"), inst.client("bob"), inst.client()
    try:
        # Default namespace: --allow-client-publish is off; ro: nobody may.
        alice.error("publish", {"channel": "lobby", "data": 1}, 103)
        anon.subscribe("ro:x")
        anon.error("publish", {"channel": "ro:x", "data": 1}, 103)
        # open: anyone, anonymous too, subscribed or not.
        anon.subscribe("open:pub")
        eq(alice.ok("publish", {"channel": "open:pub", "data": {"by": "alice"}}), {}, "open publish")
        eq(anon.push(kind="pub")["pub"]["data"], {"by": "alice"}, "open: delivered")
        eq(anon.ok("publish", {"channel": "open:pub", "data": {"by": "anon"}}), {}, "anonymous publish")
        eq(anon.push(kind="pub")["pub"]["data"], {"by": "anon"}, "open: anonymous delivered")
        # subs: a subscriber may, another client may not.
        alice.subscribe("subs:room")
        bob.error("publish", {"channel": "subs:room", "data": 1}, 103)
        eq(alice.ok("publish", {"channel": "subs:room", "data": {"n": 1}}), {}, "subscriber publish")
        p = alice.push(kind="pub")
        eq((p["channel"], p["pub"]["data"], p["pub"]["info"]["user"]), ("subs:room", {"n": 1}, "alice"),
           "subs: delivered with the publisher's info")
        bob.subscribe("subs:room")
        eq(bob.ok("publish", {"channel": "subs:room", "data": {"n": 2}}), {}, "bob once subscribed")
        eq(alice.push(kind="pub")["pub"]["data"], {"n": 2}, "alice gets bob's")
        # The API has every right, in every namespace.
        check("offset" in inst.api.publish("subs:room", {"n": 3}), "api publish in subs")
        eq(alice.push(kind="pub")["pub"]["data"], {"n": 3}, "alice gets the API's")
        eq(inst.api.publish("ro:x", {"api": 1}), {}, "api publish in ro (history off: {})")
        eq(anon.push(kind="pub")["pub"]["data"], {"api": 1}, "ro: API publication delivered")
    finally:
        for c in (alice, bob, anon):
            c.close()


def history_size_per_namespace(inst):
    for i in range(1, 6):
        inst.api.publish("open:h", {"i": i})
        inst.api.publish("subs:h", {"i": i})
    r = inst.api.result("history", {"channel": "open:h", "limit": -1})
    eq([p["offset"] for p in r["publications"]], [3, 4, 5], "open keeps its last 3")
    eq(r["offset"], 5, "open top")
    r = inst.api.result("history", {"channel": "subs:h", "limit": -1})
    eq([p["data"]["i"] for p in r["publications"]], [1, 2, 3, 4, 5], "subs keeps all 5 (size 10)")
    eq(api_error(inst, "history", {"channel": "lobby"}), 108, "default namespace: history off")
    eq(api_error(inst, "history", {"channel": "ro:x"}), 108, "ro: history off")
    c, anon = inst.client("carol"), inst.client()
    try:
        h = c.ok("history", {"channel": "open:h", "limit": -1})
        eq([p["offset"] for p in h["publications"]], [3, 4, 5], "client history of open")
        eq(anon.ok("history", {"channel": "open:h", "limit": -1})["offset"], 5, "anonymous history of open")
        c.error("history", {"channel": "subs:h", "limit": -1}, 103)  # not a subscriber
        c.subscribe("subs:h")
        eq(len(c.ok("history", {"channel": "subs:h", "limit": -1})["publications"]), 5,
           "subscriber history of subs")
        c.error("history", {"channel": "lobby"}, 108)
        # Recovery follows the namespace's history: open's stream holds 3..5.
        sub = c.ok("subscribe", {"channel": "open:h", "recover": True, "offset": 2, "epoch": h["epoch"]})
        eq((sub.get("recovered"), [p["offset"] for p in sub.get("publications", [])]), (True, [3, 4, 5]),
           "recovered from open's history")
    finally:
        c.close()
        anon.close()


def history_ttl_per_namespace(inst):
    inst.api.publish("subs:ttl", {"i": 1})
    inst.api.publish("open:ttl", {"i": 1})
    eq(len(inst.api.result("history", {"channel": "subs:ttl", "limit": -1})["publications"]), 1,
       "subs:ttl holds its publication")
    time.sleep(SUBS_TTL + 1.2)
    r = inst.api.result("history", {"channel": "subs:ttl", "limit": -1})
    # Memory: a stream with no subscriber and nothing in history is gone
    # (docs/pubsub.md), so it starts again at 0; Redis keeps its position.
    eq((r["publications"], r["offset"]), ([], 1 if inst.redis else 0),
       f"subs: gone after {SUBS_TTL} s")
    eq(len(inst.api.result("history", {"channel": "open:ttl", "limit": -1})["publications"]), 1,
       "open (5 min) still holds its")


def presence_per_namespace(inst):
    alice, anon = inst.client("alice"), inst.client()
    try:
        alice.subscribe("open:p")
        anon.subscribe("ro:p")
        eq(alice.ok("presence_stats", {"channel": "open:p"}), {"num_clients": 1, "num_users": 1},
           "open: presence on")
        anon.error("presence_stats", {"channel": "ro:p"}, 108)
        alice.subscribe("subs:p")
        alice.error("presence_stats", {"channel": "subs:p"}, 108)
        eq(api_error(inst, "presence_stats", {"channel": "ro:p"}), 108, "api presence_stats in ro")
        eq(alice.ok("presence_stats", {"channel": "lobby"})["num_clients"], 0, "default: presence on")
    finally:
        alice.close()
        anon.close()


def anonymous_refused(inst):
    anon, dave = inst.client(), inst.client("dave")
    try:
        anon.error("subscribe", {"channel": "subs:x"}, 103)
        anon.error("publish", {"channel": "subs:x", "data": 1}, 103)
        anon.error("history", {"channel": "subs:x"}, 103)
        eq(dave.subscribe("subs:x").get("recoverable"), True, "a user subscribes to subs")
        # ro admits anonymous subscribers; open everything; the default namespace too.
        anon.subscribe("ro:x")
        anon.subscribe("open:x")
        anon.subscribe("lobby")
    finally:
        anon.close()
        dave.close()


def reload_changes_namespaces_live(inst):
    keep = inst.client()  # subscribed to ro:kept across the reload
    other = inst.client("erin")
    grower = inst.client()  # subscribed to grow:x, whose history is turned on
    try:
        keep.subscribe("ro:kept")
        grower.subscribe("grow:x")
        inst.api.publish("grow:x", {"i": 0})
        eq(grower.push(kind="pub")["pub"], {"data": {"i": 0}}, "grow: no history, no offset")
        other.error("subscribe", {"channel": "late:x"}, 102)
        for i in range(1, 4):
            inst.api.publish("open:shrink", {"i": i})
        eq(len(inst.api.result("history", {"channel": "open:shrink", "limit": -1})["publications"]), 3,
           "open holds 3 before")
        inst.reload(BASE + RELOADED)
        # The new namespace exists, the removed one does not, on old and new connections.
        eq(other.subscribe("late:x").get("recoverable", False), False, "late: subscribed")
        other.error("subscribe", {"channel": "ro:y"}, 102)
        fresh = inst.client()
        try:
            fresh.error("subscribe", {"channel": "ro:kept"}, 102)
            fresh.subscribe("late:y")
        finally:
            fresh.close()
        eq(api_error(inst, "publish", {"channel": "ro:kept", "data": 1}), 102, "api publish to ro")
        # open's history shrank at once: the newest one remains.
        r = inst.api.result("history", {"channel": "open:shrink", "limit": -1})
        eq([p["data"]["i"] for p in r["publications"]], [3], "open holds 1 after")
        inst.api.publish("open:shrink", {"i": 4})
        r = inst.api.result("history", {"channel": "open:shrink", "limit": -1})
        eq(([p["data"]["i"] for p in r["publications"]], r["offset"]), ([4], 4), "and 1 after a publish")
        # grow's history went from off to 5 under a subscriber. Memory: the
        # home counted every publication, so its subscriber goes on (now with
        # offsets). Redis: Redis's stream numbers them afresh, which the
        # subscriber's position cannot follow: closed 3010, it subscribes again.
        if inst.redis:
            grower.expect_disconnect(3010)
            grower.close()
            grower = inst.client()
            eq(grower.subscribe("grow:x").get("recoverable"), True, "grow: subscribed again")
        for i in range(1, 4):
            inst.api.publish("grow:x", {"i": i})
        got = [grower.push(kind="pub")["pub"] for _ in range(3)]
        eq([p["data"]["i"] for p in got], [1, 2, 3], "grow: every publication after the reload")
        offsets = [p.get("offset") for p in got]
        check(offsets[0] is not None and offsets == list(range(offsets[0], offsets[0] + 3)),
              f"grow: offsets one by one: {offsets}")
        r = inst.api.result("history", {"channel": "grow:x", "limit": -1})
        eq([p["offset"] for p in r["publications"]], offsets, "grow: history holds them")
        # The subscriber of the removed namespace stays connected (as in Centrifugo).
        eq(keep.ok("presence_stats", {"channel": "open:x"})["num_clients"] >= 0, True, "kept answers")
        eq(keep.ok("unsubscribe", {"channel": "ro:kept"}), {}, "kept unsubscribes")
        keep.error("subscribe", {"channel": "ro:kept"}, 102)
        # And back.
        inst.reload(BASE + NAMESPACES)
        eq(plain_keys(keep.subscribe("ro:kept")), {}, "ro back after the second reload")
        other.error("subscribe", {"channel": "late:z"}, 102)
    finally:
        keep.close()
        other.close()
        grower.close()


def plain_keys(result):
    return {k: v for k, v in result.items() if k not in ("publications",)}


CASES = [
    ("unknown namespace: 102 for subscribe, publish, history, presence_stats and the API", unknown_namespace_is_102),
    ("publish: 103 where not allowed, allowed in open (anonymous) and for subs' subscribers", publish_rights_per_namespace),
    ("history size per namespace (open 3, subs 10, default and ro off: 108)", history_size_per_namespace),
    ("history TTL per namespace (subs 2 s, open 5 min)", history_ttl_per_namespace),
    ("presence off: 108 (client and API), on in open and the default namespace", presence_per_namespace),
    ("anonymous clients refused in subs (103), admitted in ro and open", anonymous_refused),
    ("reload: ro removed (kept subscriber stays), late added, open's history shrinks at once", reload_changes_namespaces_live),
]


def run_all(label, engine_flags):
    inst = Instance(engine_flags)
    try:
        for name, fn in CASES:
            suite.run(f"{label}: {name}", fn, inst)
        inst.srv.terminate(10)
        suite.run(f"{label}: SIGTERM -> exit 0", lambda: eq(inst.srv.returncode, 0, "exit status"))
    finally:
        inst.stop()


def main():
    run_all("memory", [])
    if shutil.which("redis-server") is None:
        for name, _ in CASES:
            suite.skip(f"redis: {name}", "redis-server not installed")
    else:
        redis = Redis()
        try:
            run_all("redis", ["--engine", "redis", "--redis", f"127.0.0.1:{redis.port}"])
        finally:
            redis.kill()
    suite.finish()


main()
