#!/usr/bin/python3
"""The Centrifugo client protocol of wsgate --mode pubsub over raw sockets:
what a real SDK never sends, each answered with the documented error reply
or disconnect code (docs/centrifugo-protocol.md), while a canary client
keeps being served throughout.

  test_pubsub_protocol.py WSGATE_BINARY BACKEND [CASE-FILTER...]

Instances of its own:
  main:  --allow-client-publish --max-channels-per-connection 4
         --max-message-bytes 65536 (history off)
  ping:  --ping-interval 1 (client publish off)
  auth:  --allow-anonymous off --token-hmac-secret SECRET
  limits: --max-channels 3
  slow:  --allow-client-publish --max-queued-bytes 65536 --close-timeout 10
No case needs the HTTP API (test_pubsub_api.py has those). The canary (on
main) is subscribed to a channel; after every case it answers a
presence_stats and receives a publication made by another client.
"""

import json
import os
import sys
import time

import wsraw
from pubsub_client import PubsubConn, ServerClosed, hs256_token, open_connected, plain, start, wait_until
from wsraw import OP_CONT, OP_TEXT, Failure, check, eq, frame

if len(sys.argv) < 3:
    print("usage: test_pubsub_protocol.py WSGATE_BINARY BACKEND", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(2)
BIN, BACKEND = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
suite = wsraw.Suite("pubsub_protocol")

SECRET = "protocol-secret"
MAX_PER_CONN = 4
MAX_MESSAGE = 65536
SLOW_QUEUE = 65536
NODE_CHANNELS = 3
PING = 1

servers = {}
canary = {}


def port(name="main"):
    return servers[name][1]


def fresh(name="main", **kw):
    return PubsubConn(port(name), **kw)


def connected(name="main", **kw):
    return open_connected(port(name), **kw)


def canary_served():
    """The canary answers and receives a publication (run after every case)."""
    c = canary["conn"]
    canary["n"] += 1
    eq(c.ok("presence_stats", {"channel": "canary"}), {"num_clients": 1, "num_users": 1},
       "canary presence_stats")
    eq(canary["pub"].ok("publish", {"channel": "canary", "data": {"n": canary["n"]}}), {}, "publish")
    p = c.push(kind="pub")
    eq((p["channel"], p["pub"]["data"]), ("canary", {"n": canary["n"]}), "canary publication")


def case(name, fn):
    """Runs a case, then checks the canary as a case of its own."""
    suite.run(name, fn)
    if "conn" in canary or not suite.only:  # a case filter may have left the canary out
        suite.run(f"  canary served after: {name}", canary_served)


# -- connect --------------------------------------------------------------------

def connect_reply_shape():
    c = fresh()
    try:
        r = c.connect()
        check(isinstance(r.get("client"), str) and r["client"], f"client id: {r}")
        check(isinstance(r.get("version"), str) and r["version"].startswith("wsgate"), f"version: {r}")
        eq(r.get("ping"), 25, "default ping interval")
        eq(r.get("pong"), True, "pong")
        check("expires" not in r, f"anonymous connect expires: {r}")
        # A second connect on the same connection is a bad request (centrifuge: 3501).
        c.send_cmds({"connect": {}})
        c.expect_disconnect(3501)
    finally:
        c.close()


def commands_before_connect():
    for cmd in ({"subscribe": {"channel": "a"}}, {"publish": {"channel": "a", "data": 1}},
                {"presence_stats": {"channel": "a"}}, {"history": {"channel": "a"}},
                {"rpc": {"method": "m", "data": 1}}, {"unsubscribe": {"channel": "a"}}):
        c = fresh()
        try:
            c.send_cmds(cmd)
            c.expect_disconnect(3501)
        finally:
            c.close()


def malformed_json():
    for payload in (b'{"id":1,"connect":', b"not json", b"[1,2]", b'{"id":1,"connect":{}}x',
                    b'{"id":1,"connect":{"name":"a\xff"}}', b'"string"'):
        c = fresh()
        try:
            c.send_text(payload)
            # Invalid UTF-8 in a text message fails the WebSocket layer first (RFC 6455 §8.1).
            c.expect_disconnect(1007 if b"\xff" in payload else 3501)
        finally:
            c.close()
    # The same after connect.
    c = connected()
    try:
        c.send_text(b'{"id":2,"subscribe":{"channel":"a"}')
        c.expect_disconnect(3501)
    finally:
        c.close()


def unknown_or_incomplete_commands():
    for cmd in ({"id": 2, "frobnicate": {}},           # unknown method
                {"id": 2},                              # no request at all
                {"subscribe": {"channel": "a"}},        # no id
                {"id": 2, "subscribe": {}},             # no channel
                {"id": 2, "subscribe": {"channel": ""}},  # empty channel
                {"id": 2, "subscribe": {"channel": 5}},   # wrong type
                {"id": 2, "publish": {"channel": "a"}},   # no data
                {"id": 2, "subscribe": {"channel": "a"}, "unsubscribe": {"channel": "a"}}):
        c = connected()
        try:
            c.send_text(json.dumps(cmd))
            c.expect_disconnect(3501)
        finally:
            c.close()


def oversize_message():
    c = connected()
    try:
        big = json.dumps({"id": 2, "publish": {"channel": "a", "data": "x" * MAX_MESSAGE}})
        c.send_text(big)
        c.expect_disconnect(1009)
    finally:
        c.close()
    # Just under --max-message-bytes is a command like any other.
    c = connected()
    try:
        data = "x" * (MAX_MESSAGE - 100)
        c.subscribe("a")
        eq(c.ok("publish", {"channel": "a", "data": data}), {}, "publish just under the limit")
        eq(c.push(kind="pub")["pub"]["data"], data, "the publication")
    finally:
        c.close()


# -- subscribe --------------------------------------------------------------------

def channel_names():
    c = connected()
    try:
        for ch in ("x" * 256, "with space", "tab\tch", "nl\nch", "caf\u00e9", "del\x7f", "\x01"):
            c.error("subscribe", {"channel": ch}, 107)
        c.error("subscribe", {"channel": "$private"}, 103)
        c.error("subscribe", {"channel": "room#alice"}, 103)  # user-limited, not this (anonymous) user
        ok255 = "y" * 255
        eq(plain(c.subscribe(ok255)), {}, "255-byte channel")
        # An empty namespace part is the default namespace (a configured
        # namespace is needed for anything before the ':', else 102).
        eq(plain(c.subscribe(":name_-=@.,;!~*()[]{}|/\\'\"`^?<>&%+")), {}, "printable ASCII channel")
        c.error("subscribe", {"channel": "ns:name"}, 102)
        c.error("subscribe", {"channel": ok255}, 105)
        eq(c.ok("unsubscribe", {"channel": ok255}), {}, "unsubscribe")
        eq(c.ok("unsubscribe", {"channel": ok255}), {}, "unsubscribe again: still a result")
        eq(c.ok("unsubscribe", {"channel": "never"}), {}, "unsubscribe of a channel never subscribed")
    finally:
        c.close()


def too_many_subscriptions():
    c = connected()
    try:
        for i in range(MAX_PER_CONN):
            c.subscribe(f"many-{i}")
        c.error("subscribe", {"channel": "many-x"}, 106)
        c.ok("unsubscribe", {"channel": "many-0"})
        c.subscribe("many-x")
        c.error("subscribe", {"channel": "many-y"}, 106)
        # The connection is still fine: the refused subscribe left nothing behind.
        eq(c.ok("presence_stats", {"channel": "many-y"})["num_clients"], 0, "refused channel")
        eq(c.ok("presence_stats", {"channel": "many-x"})["num_clients"], 1, "accepted channel")
    finally:
        c.close()


def node_channel_limit():
    """--max-channels bounds the channels (streams) of the node: past it a
    subscribe gets 106, whichever connection asks; a channel nobody needs any
    more gives its place back."""
    a, b = connected("limits"), connected("limits")
    try:
        for i in range(NODE_CHANNELS):
            a.subscribe(f"node-{i}")
        b.error("subscribe", {"channel": "node-x"}, 106)
        a.error("subscribe", {"channel": "node-y"}, 106)
        a.ok("unsubscribe", {"channel": "node-0"})
        wait_until(lambda: "error" not in b.call("subscribe", {"channel": "node-x"}), 2,
                   "a subscribe after a channel was given back")
    finally:
        a.close()
        b.close()


def existing_channel_at_node_limit():
    """At the node's --max-channels, a channel that exists takes no new place:
    clients on every loop can still subscribe to it (eight connections, so
    both loops are among them with odds 1 - 2^-7)."""
    a = connected("limits")
    others = []
    try:
        # The previous case's channels are given back once its closed
        # connections' unsubscribes reach the channels' home loops: under
        # load that may still be under way.
        for i in range(NODE_CHANNELS):
            wait_until(lambda: "error" not in a.call("subscribe", {"channel": f"full-{i}"}), 3,
                       f"subscribe full-{i} once the previous case's channels are given back")
        for _ in range(8):
            c = connected("limits")
            others.append(c)
            r = c.call("subscribe", {"channel": "full-0"})
            check("error" not in r, f"subscribe to an existing channel at the node limit: {r}")
    finally:
        a.close()
        for c in others:
            c.close()


def subscribe_then_unsubscribe_answered():
    """A subscribe and an unsubscribe of the same channel in one message (the
    unsubscribe arrives before the channel's home answered): both get their
    reply, on channels homed on either loop."""
    c = connected()
    try:
        for i in range(8):
            ids = c.send_cmds({"subscribe": {"channel": f"subunsub-{i}"}},
                              {"unsubscribe": {"channel": f"subunsub-{i}"}})
            for cid, method in zip(ids, ("subscribe", "unsubscribe")):
                r = c.reply(cid, timeout=2)
                check("error" not in r and method in r, f"subunsub-{i}: {method} reply {r}")
    finally:
        c.close()


def subscribe_unsubscribe_flood():
    """500 subscribe/unsubscribe pairs in one message, then 200 messages of
    them: every command answered, in order, and nothing left subscribed."""
    c = connected()
    try:
        cmds = []
        for i in range(500):
            cmds.append({"subscribe": {"channel": f"flood-{i % 3}"}})
            cmds.append({"unsubscribe": {"channel": f"flood-{i % 3}"}})
        ids = c.send_cmds(*cmds)
        for cid, cmd in zip(ids, cmds):
            r = c.reply(cid)
            method = next(iter(cmd))
            eq((r.get("id"), plain(r.get(method))), (cid, {}), f"reply to {method} {cid}: {r}")
        for _ in range(200):
            c.send_cmds({"subscribe": {"channel": "flood-m"}}, {"unsubscribe": {"channel": "flood-m"}})
        for cid in range(ids[-1] + 1, c.next_id):
            check("error" not in c.reply(cid), f"command {cid} refused")
        for ch in ("flood-0", "flood-1", "flood-2", "flood-m"):
            eq(c.ok("presence_stats", {"channel": ch})["num_clients"], 0, f"{ch} left subscribed")
        # Still within the per-connection limit, all of it available.
        for i in range(MAX_PER_CONN):
            c.subscribe(f"after-flood-{i}")
    finally:
        c.close()


def concurrent_floods():
    """40 connections (on both loops) at once, each 100 subscribe/unsubscribe
    pairs over 6 shared channels in one message while a publisher publishes
    to them: every command answered, no error, nothing left subscribed, and
    a final subscriber of each channel gets the next publication."""
    import threading
    conns = [connected() for _ in range(40)]
    publisher = connected()
    errors = []

    def flood(c, k):
        try:
            cmds = []
            for i in range(100):
                ch = f"cflood-{(i + k) % 6}"
                cmds += [{"subscribe": {"channel": ch}}, {"unsubscribe": {"channel": ch}}]
            ids = c.send_cmds(*cmds)
            for cid, cmd in zip(ids, cmds):
                r = c.reply(cid, timeout=10)
                method = next(iter(cmd))
                if "error" in r or method not in r:
                    errors.append(f"conn {k} command {cid} {method}: {r}")
                    return
        except Exception as e:  # noqa: BLE001 - reported as the case's failure
            errors.append(f"conn {k}: {type(e).__name__}: {e}")

    try:
        threads = [threading.Thread(target=flood, args=(c, k)) for k, c in enumerate(conns)]
        for t in threads:
            t.start()
        for n in range(60):
            publisher.ok("publish", {"channel": f"cflood-{n % 6}", "data": n})
        for t in threads:
            t.join(20)
        check(not errors, "; ".join(errors[:3]))
        for i in range(6):
            eq(publisher.ok("presence_stats", {"channel": f"cflood-{i}"}), {"num_clients": 0, "num_users": 0},
               f"cflood-{i} after the floods")
        # Whatever the floods' subscribers got was a subscription's stream: the
        # channels still work for a new subscriber.
        for i in range(6):
            conns[i].lines.clear()
            conns[i].subscribe(f"cflood-{i}")
            publisher.ok("publish", {"channel": f"cflood-{i}", "data": "after"})
            eq(conns[i].push(kind="pub")["pub"]["data"], "after", f"cflood-{i} after the floods")
    finally:
        publisher.close()
        for c in conns:
            c.close()


# -- framing ---------------------------------------------------------------------

def several_commands_per_frame():
    c = fresh()
    try:
        # connect and subscribe in one message, before the connect reply (as the SDK does).
        text = b'{"connect":{"name":"js"},"id":1}\n{"subscribe":{"channel":"batch"},"id":2}\n\n' \
               b'{"presence_stats":{"channel":"batch"},"id":3}\n'
        c.send_text(text)
        check("connect" in c.reply(1), "connect reply")
        eq(plain(c.reply(2).get("subscribe")), {}, "subscribe reply")
        check("presence_stats" in c.reply(3), "presence_stats reply")
    finally:
        c.close()


def commands_of_a_message_in_order():
    """Centrifugo handles a client's commands one after the other: a
    presence_stats behind a subscribe in the same message counts the new
    subscriber, on channels homed on either loop."""
    c = connected()
    try:
        for i in range(8):
            ch = f"inorder-{i}"
            ids = c.send_cmds({"subscribe": {"channel": ch}}, {"presence_stats": {"channel": ch}})
            check("subscribe" in c.reply(ids[0]), "subscribe reply")
            eq(c.reply(ids[1]).get("presence_stats"), {"num_clients": 1, "num_users": 1},
               f"{ch}: presence_stats right after the subscribe")
            ids = c.send_cmds({"unsubscribe": {"channel": ch}}, {"presence_stats": {"channel": ch}})
            c.reply(ids[0])
            eq(c.reply(ids[1]).get("presence_stats"), {"num_clients": 0, "num_users": 0},
               f"{ch}: presence_stats right after the unsubscribe")
    finally:
        c.close()


def connect_and_subscribe_batched_every_home():
    """What the SDK sends on every (re)connect with subscriptions: connect and
    subscribe in one message. Sixteen channel names, so channels homed on
    either loop (XXH3 % loops) are among them: both replies every time."""
    for i in range(16):
        c = fresh()
        try:
            ch = f"home-{i}"
            c.send_text(f'{{"connect":{{"name":"js"}},"id":1}}\n{{"subscribe":{{"channel":"{ch}"}},"id":2}}')
            r = c.reply(1, timeout=2)
            check("connect" in r, f"{ch}: connect reply {r}")
            eq(plain(c.reply(2, timeout=2).get("subscribe")), {}, f"{ch}: subscribe reply")
        finally:
            c.close()


def commands_split_across_frames():
    """One message fragmented (RFC 6455 §5.4) with cuts inside commands and
    inside a UTF-8 character; the hub joins the fragments first."""
    c = fresh()
    try:
        text = ('{"connect":{"name":"frag"},"id":1}\n{"subscribe":{"channel":"frag"},"id":2}\n'
                '{"rpc":{"method":"caf\u00e9","data":[1]},"id":3}\n'
                '{"presence_stats":{"channel":"frag"},"id":4}').encode()
        cuts = [5, 31, 40, 62, text.index("\u00e9".encode()) + 1, len(text) - 3]
        pieces = [text[a:b] for a, b in zip([0] + cuts, cuts + [len(text)])]
        for i, p in enumerate(pieces):
            op = OP_TEXT if i == 0 else OP_CONT
            c.send(frame(op, p, fin=i == len(pieces) - 1))
            time.sleep(0.02)
        check("connect" in c.reply(1), "connect reply")
        eq(plain(c.reply(2).get("subscribe")), {}, "subscribe reply")
        eq(c.reply(3).get("error", {}).get("code"), 104, "rpc error")
        check("presence_stats" in c.reply(4), "presence_stats reply")
        # Every byte its own TCP segment, several commands per message.
        c.next_id = 5
        msg = frame(OP_TEXT, b'{"presence_stats":{"channel":"frag"},"id":5}\n'
                             b'{"unsubscribe":{"channel":"frag"},"id":6}')
        c.send_pieces(msg, 1)
        eq(c.reply(5)["presence_stats"]["num_clients"], 1, "stats")
        eq(c.reply(6), {"id": 6, "unsubscribe": {}}, "unsubscribe")
    finally:
        c.close()


# -- other commands ---------------------------------------------------------------

def send_and_rpc():
    c = connected()
    try:
        c.send_cmds({"send": {"data": {"hello": 1}}})
        c.error("rpc", {"method": "sum", "data": [1, 2]}, 104)
        eq(c.ok("presence_stats", {"channel": "x"})["num_clients"], 0, "served after send")
        eq(c.lines, [], "lines besides the replies (send must not be answered)")
    finally:
        c.close()


def publish_refused_without_flag():
    c = connected("ping")  # an instance without --allow-client-publish
    other = connected("ping")
    try:
        c.subscribe("nopub")
        other.subscribe("nopub")
        c.error("publish", {"channel": "nopub", "data": {"x": 1}}, 103)
        other.error("publish", {"channel": "nopub", "data": {"x": 2}}, 103)
        # Nothing was published: no subscriber gets anything.
        for s in (c, other):
            s._read_until(0.3)
            eq([x for x in s.lines if "push" in x], [], "pushes after refused publishes")
    finally:
        c.close()
        other.close()


def history_off_108():
    c = connected()
    try:
        c.subscribe("nohist")
        c.error("history", {"channel": "nohist", "limit": 10}, 108)
        r = c.subscribe("nohist2")
        check("recoverable" not in r or r["recoverable"] is False, f"recoverable with history off: {r}")
        # Recovery asked where history is off: subscribed, but never recovered.
        r = c.subscribe("nohist3", recover=True, offset=3, epoch="abc")
        check(not r.get("recovered"), f"recovered with history off: {r}")
    finally:
        c.close()


# -- ping/pong ---------------------------------------------------------------------

def server_pings_and_no_pong():
    good = connected("ping")
    bad = connected("ping", auto_pong=False)
    try:
        t0 = time.monotonic()
        # The answering client stays connected over several pings.
        while time.monotonic() - t0 < 3.5 * PING:
            try:
                good.read_lines(0.2)
            except Failure:
                pass
        check(good.pings >= 2, f"{good.pings} pings in {3.5 * PING}s with --ping-interval {PING}")
        eq(good.ok("presence_stats", {"channel": "p"})["num_clients"], 0, "answering client served")
        # The silent one got pings too and is closed 3012.
        bad.expect_disconnect(3012, timeout=1)  # already queued by now
        check(bad.pings >= 1, "the silent client got no ping before its close")
    finally:
        good.close()
        bad.close()


def ping_interval_in_connect_reply():
    c = fresh("ping")
    try:
        eq(c.connect().get("ping"), PING, "ping in the connect reply")
    finally:
        c.close()


# -- auth ----------------------------------------------------------------------

def auth_cases():
    now = int(time.time())
    c = fresh("auth")
    try:
        c.send_cmds({"connect": {"name": "anon"}})
        c.expect_disconnect(3500)
    finally:
        c.close()
    for tok in (hs256_token("other-secret", {"sub": "u"}),
                hs256_token(SECRET, {"sub": "u"}, header={"alg": "none", "typ": "JWT"}),
                hs256_token(SECRET, {"sub": "u"}, header={"alg": "HS512", "typ": "JWT"}),
                "not.a.token", hs256_token(SECRET, {"sub": "u"})[:-2]):
        c = fresh("auth")
        try:
            c.send_cmds({"connect": {"token": tok}})
            c.expect_disconnect(3500)
        finally:
            c.close()
    c = fresh("auth")
    try:
        c.error("connect", {"token": hs256_token(SECRET, {"sub": "u", "exp": now - 10})}, 109)
    finally:
        c.close()
    c = fresh("auth")
    try:
        r = c.connect(hs256_token(SECRET, {"sub": "carol", "exp": now + 600}))
        eq(r.get("expires"), True, "expires with exp")
        check(isinstance(r.get("ttl"), int) and 590 <= r["ttl"] <= 600, f"ttl {r.get('ttl')}")
        c.subscribe("auth-ch")
        eq(c.ok("presence_stats", {"channel": "auth-ch"}), {"num_clients": 1, "num_users": 1}, "stats")
        # User-limited channels (name#u1,u2) admit the listed users only.
        c.subscribe("room#dave,carol")
        c.error("subscribe", {"channel": "room#dave,erin"}, 103)
    finally:
        c.close()


def refresh_after_expiry_within_grace():
    """centrifuge-js sends its refresh exactly `ttl` seconds after the connect
    reply, so a server must not close the moment the token expires: Centrifugo
    waits client_expired_close_delay (25 s by default) for the refresh. A
    refresh 1.5 s after expiry keeps the connection."""
    c = fresh("auth")
    try:
        r = c.connect(hs256_token(SECRET, {"sub": "gwen", "exp": int(time.time()) + 2}))
        t0 = time.monotonic()
        deadline = t0 + r["ttl"] + 1.5
        try:
            while time.monotonic() < deadline:
                c._read_until(max(0.05, deadline - time.monotonic()))
        except ServerClosed as e:
            raise Failure(f"closed {e.code} {e.reason!r} {time.monotonic() - t0:.1f} s after a connect "
                          f"with ttl {r['ttl']}, before the refresh")
        fresh_token = hs256_token(SECRET, {"sub": "gwen", "exp": int(time.time()) + 600})
        r = c.ok("refresh", {"token": fresh_token})
        eq(r.get("expires"), True, "refresh result expires")
    finally:
        c.close()


# -- slow consumer ---------------------------------------------------------------

def slow_consumer_3008():
    """A subscriber that stops reading is closed 3008 once its queue passes
    --max-queued-bytes; a reading subscriber of the same channel gets every
    publication; what the slow one got before its close is a gap-free prefix."""
    publisher = connected("slow")
    slow = connected("slow", rcvbuf=4096)
    fast = connected("slow")
    try:
        slow.subscribe("firehose")
        fast.subscribe("firehose")
        # The kernel's send buffer for the slow one may grow to tcp_wmem's
        # maximum (4 MiB by default) before the server's own queue fills:
        # publish until the server let the slow one go (it stops counting in
        # presence_stats when its close is sent), at most 40 MB; the slow one
        # then reads within --close-timeout, so the close frame reaches it.
        # The fast one reads each publication before the next is made: it is
        # never more than one behind (16 KB, under the 64 KiB cap even before
        # the kernel's buffers have grown).
        data = "z" * 16000
        total = 0
        while total < 2500:
            try:
                for _ in range(10):
                    total += 1
                    eq(publisher.ok("publish", {"channel": "firehose", "data": {"n": total, "pad": data}}),
                       {}, "publish")
                    eq(fast.push(kind="pub")["pub"]["data"]["n"], total, "fast subscriber's publication")
            except ServerClosed as e:
                raise Failure(f"publication {total}: the publisher or the fast subscriber was closed: {e}")
            if fast.ok("presence_stats", {"channel": "firehose"})["num_clients"] == 1:
                break
        check(total < 2500, f"the slow subscriber still subscribed after {total} x 16 KB")
        got = []
        try:
            while True:
                got.append(slow.push(kind="pub", timeout=5)["pub"]["data"]["n"])
        except ServerClosed as e:
            eq((e.code, e.reason), (3008, "slow"), "slow subscriber's close")
        eq(got, list(range(1, len(got) + 1)), "what the slow subscriber got before its close")
        check(len(got) < total, "the slow subscriber got everything (not slow?)")
        # The others go on: a new publication reaches the fast one.
        publisher.ok("publish", {"channel": "firehose", "data": {"n": total + 1}})
        eq(fast.push(kind="pub")["pub"]["data"]["n"], total + 1, "fast subscriber after the drop")
        print(f"     slow subscriber: {len(got)} of {total} publications of 16 KB, then 3008", flush=True)
    finally:
        publisher.close()
        slow.close()
        fast.close()


def closed_clients_leave_their_channels():
    """A client whose connection is over is no subscriber: presence_stats stops
    counting it within a second, whichever way it ended (on the instance with
    --close-timeout 10, so waiting for that timer would show)."""
    obs = connected("slow")
    try:
        def ends_by_close_frame(c):
            c.send(frame(wsraw.OP_CLOSE, wsraw.close_payload(1000)))
            c.expect_close(1000, reply=False)

        def ends_by_server_close(c):
            c.send_cmds({"connect": {}})  # a second connect: 3501
            c.expect_disconnect(3501)

        def ends_by_tcp_drop(c):
            c.close()

        for i, end in enumerate((ends_by_close_frame, ends_by_server_close, ends_by_tcp_drop)):
            ch = f"leave-{i}"
            c = connected("slow")
            try:
                c.subscribe(ch)
                eq(obs.ok("presence_stats", {"channel": ch})["num_clients"], 1, "subscribed")
                end(c)
                wait_until(lambda: obs.ok("presence_stats", {"channel": ch})["num_clients"] == 0, 1.0,
                           f"{end.__name__}: presence_stats back to 0")
            finally:
                c.close()
    finally:
        obs.close()


def drops_racing_shutdown():
    """300 subscribers (4 channels each, homed on both loops) drop their
    connections and SIGTERM comes right behind: the server still exits 0 —
    under LeakSanitizer that means nothing a loop posted to another during
    the shutdown was left behind. Three instances, one after the other."""
    for attempt in range(3):
        srv, p = start(BIN, BACKEND, [])
        conns = []
        try:
            for i in range(300):
                c = open_connected(p)
                conns.append(c)
                c.send_cmds(*({"subscribe": {"channel": f"sd-{(i + k) % 20}"}} for k in range(4)))
            for c in conns:
                for cid in range(2, 6):
                    c.reply(cid)
            for c in conns:
                c.close()
            rc = srv.terminate(15)
            if rc != 0:
                lines = srv.log().splitlines()
                where = [ln.strip() for ln in lines if "pubsub::HubApp::" in ln][:2]
                where += [ln.strip() for ln in lines if "SUMMARY" in ln]
                raise Failure(f"attempt {attempt + 1}: exit status {rc}: {where or lines[-3:]}")
        finally:
            for c in conns:
                c.close()
            srv.stop()


def start_servers():
    servers["main"] = start(BIN, BACKEND, ["--allow-client-publish", "--max-channels-per-connection",
                                           str(MAX_PER_CONN), "--max-message-bytes", str(MAX_MESSAGE)])
    servers["ping"] = start(BIN, BACKEND, ["--ping-interval", str(PING)])
    servers["auth"] = start(BIN, BACKEND, ["--allow-anonymous", "off", "--token-hmac-secret", SECRET])
    servers["limits"] = start(BIN, BACKEND, ["--max-channels", str(NODE_CHANNELS)])
    servers["slow"] = start(BIN, BACKEND, ["--allow-client-publish", "--max-queued-bytes",
                                           str(SLOW_QUEUE), "--close-timeout", "10"])


try:
    start_servers()
except Failure as e:
    print(f"FAIL pubsub_protocol start: {e}")
    for s, _ in servers.values():
        s.stop()
    print("0 passed, 1 failed")
    sys.exit(1)

try:
    def canary_up():
        c = connected()
        c.subscribe("canary")
        canary["conn"], canary["n"] = c, 0
        canary["pub"] = connected()
        canary_served()
    suite.run("canary connects and subscribes", canary_up)
    case("connect reply: client, version, ping, pong; second connect -> 3501", connect_reply_shape)
    case("commands before connect -> 3501", commands_before_connect)
    case("malformed JSON -> 3501 (invalid UTF-8 -> 1007)", malformed_json)
    case("unknown method, no id, no channel, wrong types -> 3501", unknown_or_incomplete_commands)
    case("message over --max-message-bytes -> 1009", oversize_message)
    case("channel names: 107, $private 103, already subscribed 105", channel_names)
    case("too many subscriptions -> 106", too_many_subscriptions)
    case("--max-channels on the node -> 106", node_channel_limit)
    case("at --max-channels an existing channel can still be subscribed from any loop",
         existing_channel_at_node_limit)
    case("subscribe+unsubscribe in one message: both answered", subscribe_then_unsubscribe_answered)
    case("subscribe/unsubscribe flood", subscribe_unsubscribe_flood)
    case("40 connections flood subscribe/unsubscribe while publications flow", concurrent_floods)
    case("several commands per message, connect+subscribe batched", several_commands_per_frame)
    case("commands of one message take effect in order (presence after subscribe)",
         commands_of_a_message_in_order)
    case("connect+subscribe in one message, channels on every home: both answered",
         connect_and_subscribe_batched_every_home)
    case("commands split across frames and segments", commands_split_across_frames)
    case("send ignored, rpc -> 104", send_and_rpc)
    case("publish without --allow-client-publish -> 103", publish_refused_without_flag)
    case("history with history off -> 108", history_off_108)
    case("ping interval in the connect reply", ping_interval_in_connect_reply)
    case("server pings; no pong -> 3012", server_pings_and_no_pong)
    case("auth: anonymous off 3500, bad token 3500, expired 109", auth_cases)
    case("token refreshed 1.5 s after it expired: connection kept", refresh_after_expiry_within_grace)
    case("slow consumer -> 3008, others unaffected", slow_consumer_3008)
    case("closed clients leave their channels at once", closed_clients_leave_their_channels)
    suite.run("subscribers dropping as SIGTERM comes: exit 0", drops_racing_shutdown)
    for k in ("conn", "pub"):
        if k in canary:
            canary.pop(k).close()
    for name, (srv, _) in servers.items():
        def stops(srv=srv):
            eq(srv.terminate(10), 0, "exit status after SIGTERM")
        suite.run(f"{name}: SIGTERM -> exit 0", stops)
finally:
    for k in ("conn", "pub"):
        if k in canary:
            canary[k].close()
    for srv, _ in servers.values():
        srv.stop()
suite.finish()
