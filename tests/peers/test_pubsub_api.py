#!/usr/bin/python3
"""The HTTP server API of wsgate --mode pubsub (Centrifugo's server API over
HTTP: POST /api/<method>, X-API-Key), with curl and urllib.

  test_pubsub_api.py WSGATE_BINARY BACKEND [CASE-FILTER...]

Three instances of its own:
  api:    --api-key KEY --history-size 10 --token-hmac-secret SECRET
          --max-request-bytes 4096
  nohist: --api-key KEY (history off)
  nokey:  no --api-key (every /api/* is 404)
Every method is called and its answer checked; what it does is checked from
the client side too (publications arrive byte for byte, unsubscribe and
disconnect by user reach token-authenticated clients, and no one else).
"""

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import wsraw
from pubsub_client import Api, hs256_token, open_connected, start, wait_until
from wsraw import check, eq

if len(sys.argv) < 3:
    print("usage: test_pubsub_api.py WSGATE_BINARY BACKEND", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(2)
BIN, BACKEND = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
suite = wsraw.Suite("pubsub_api")

KEY = "test-api-key-1"
SECRET = "api-suite-secret"
MAX_REQUEST = 4096
HISTORY = 10
BAD_REQUEST_BODY = {"error": {"code": 107, "message": "bad request"}}

servers = {}


def token(user):
    return hs256_token(SECRET, {"sub": user, "exp": int(time.time()) + 3600})


def curl(port, method, body, key=KEY, extra=()):
    """POST with curl; returns (status, body bytes)."""
    args = ["curl", "-sS", "--max-time", "5", "-o", "-", "-w", "\n%{http_code}", "-X", "POST",
            "-H", "Content-Type: application/json"]
    if key is not None:
        args += ["-H", f"X-API-Key: {key}"]
    args += list(extra)
    if body is not None:
        args += ["--data-binary", body if isinstance(body, str) else json.dumps(body)]
    args.append(f"http://127.0.0.1:{port}/api/{method}")
    out = subprocess.run(args, capture_output=True, timeout=10)
    check(out.returncode == 0, f"curl failed: {out.stderr.decode(errors='replace')}")
    body, _, status = out.stdout.rpartition(b"\n")
    return int(status), body


def port(name):
    return servers[name][1]


def api(name="api"):
    return Api(port(name), KEY)


# -- auth and HTTP-level refusals ---------------------------------------------

def publish_with_curl():
    st, body = curl(port("api"), "publish", {"channel": "curl", "data": {"n": 1}})
    eq(st, 200, "status")
    r = json.loads(body)
    check(set(r) == {"result"}, f"publish answer {r}")
    eq(r["result"].get("offset"), 1, "first offset of a channel")
    epoch = r["result"].get("epoch")
    check(isinstance(epoch, str) and epoch, f"epoch {epoch!r}")
    st, body = curl(port("api"), "publish", {"channel": "curl", "data": {"n": 2}})
    eq(st, 200, "status")
    eq(json.loads(body)["result"], {"offset": 2, "epoch": epoch}, "second publish")


def authorization_apikey_header():
    st, body = curl(port("api"), "publish", {"channel": "authz", "data": 1}, key=None,
                    extra=["-H", f"Authorization: apikey {KEY}"])
    eq(st, 200, f"status with Authorization: apikey (body {body!r})")
    eq(json.loads(body)["result"]["offset"], 1, "offset")


def missing_or_wrong_key_401():
    for key in (None, "", "wrong-key", KEY + "x", KEY[:-1]):
        st, body = curl(port("api"), "publish", {"channel": "k", "data": 1}, key=key)
        eq(st, 401, f"status with key {key!r}")
    st, _ = curl(port("api"), "publish", {"channel": "k", "data": 1}, key=None,
                 extra=["-H", "Authorization: apikey wrong"])
    eq(st, 401, "status with a wrong Authorization: apikey")
    # Nothing was published by the refused requests.
    eq(api().publish("k", 1)["offset"], 1, "first accepted publish")


def no_api_key_configured_404():
    for method in ("publish", "info", "channels"):
        st, _ = curl(port("nokey"), method, {"channel": "x", "data": 1})
        eq(st, 404, f"/api/{method} without --api-key")
    # The client side still works there.
    with open_connected(port("nokey")) as c:
        c.subscribe("x")


def not_post_405():
    for m in ("GET", "PUT", "DELETE"):
        req = urllib.request.Request(f"http://127.0.0.1:{port('api')}/api/info", method=m,
                                     data=b"{}" if m == "PUT" else None, headers={"X-API-Key": KEY})
        try:
            urllib.request.urlopen(req, timeout=5)
            raise wsraw.Failure(f"{m} /api/info answered 2xx")
        except urllib.error.HTTPError as e:
            eq(e.code, 405, f"{m} /api/info")
            eq(e.headers.get("Allow"), "POST", f"{m} /api/info: Allow (RFC 9110 §15.5.6)")


def unknown_method_404():
    st, _ = curl(port("api"), "no_such_method", {})
    eq(st, 404, "status")


def body_over_limit_413():
    big = json.dumps({"channel": "big", "data": "x" * MAX_REQUEST})
    st, _ = curl(port("api"), "publish", big)
    eq(st, 413, f"{len(big)}-byte body over --max-request-bytes {MAX_REQUEST}")
    # Just under the limit is accepted.
    fits = json.dumps({"channel": "big", "data": "x" * (MAX_REQUEST - 40)})
    check(len(fits) <= MAX_REQUEST, "test setup")
    st, body = curl(port("api"), "publish", fits)
    eq(st, 200, f"{len(fits)}-byte body (answer {body[:80]!r})")


def bad_json_400():
    cases = [
        ("publish", b"{\"channel\":\"a\",\"data\":"),   # truncated
        ("publish", b"not json"),
        ("publish", b"[1,2]"),                           # not an object
        ("publish", b"{\"data\":1}"),                    # no channel
        ("publish", b"{\"channel\":\"a\"}"),             # no data
        ("publish", b"{\"channel\":5,\"data\":1}"),      # channel not a string
        ("broadcast", b"{\"channels\":\"a\",\"data\":1}"),
        ("history", b"{}"),
        ("presence_stats", b"{}"),
        ("disconnect", b"{}"),
        ("publish", b""),
    ]
    for method, body in cases:
        st, got = api().raw(method, body)
        eq(st, 400, f"/api/{method} {body!r}")
        try:
            parsed = json.loads(got)
        except ValueError:
            raise wsraw.Failure(f"400 body is not JSON: {got!r}")
        eq(parsed, BAD_REQUEST_BODY, f"400 body for {body!r}")


def invalid_channel_107():
    for ch in ("with space", "x" * 256, "tab\there", "caf\u00e9"):
        r = api().call("publish", {"channel": ch, "data": 1})
        check("error" in r, f"publish to {ch[:20]!r}: {r}")
        eq(r["error"].get("code"), 107, f"error code for {ch[:20]!r}")


def keep_alive_two_requests():
    """Two requests on one TCP connection (HTTP/1.1 persistent, RFC 9112 §9.3)."""
    c = wsraw.Conn(port=port("api"))
    try:
        for i in (1, 2):
            body = json.dumps({"channel": "ka", "data": {"i": i}}).encode()
            c.send(b"POST /api/publish HTTP/1.1\r\nHost: x\r\nX-API-Key: " + KEY.encode()
                   + b"\r\nContent-Type: application/json\r\nContent-Length: "
                   + str(len(body)).encode() + b"\r\n\r\n" + body)
            st, hdrs, got = wsraw.read_http_response(c)
            eq(st, 200, f"request {i} status")
            eq(json.loads(got)["result"]["offset"], i, f"request {i} offset")
            check(hdrs.get("connection", "").lower() != "close", f"request {i}: Connection: close")
        # Both requests in one segment, answered in order.
        reqs = b""
        for i in (3, 4):
            body = json.dumps({"channel": "ka", "data": {"i": i}}).encode()
            reqs += (b"POST /api/publish HTTP/1.1\r\nHost: x\r\nX-API-Key: " + KEY.encode()
                     + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        c.send(reqs)
        for i in (3, 4):
            st, _, got = wsraw.read_http_response(c)
            eq(st, 200, f"pipelined request {i} status")
            eq(json.loads(got)["result"]["offset"], i, f"pipelined request {i} offset")
    finally:
        c.close()


# -- methods ------------------------------------------------------------------

def publish_reaches_subscribers_byte_for_byte():
    subs = [open_connected(port("api")) for _ in range(3)]
    try:
        for s in subs:
            s.subscribe("bytes")
        # Unusual but valid JSON: whitespace, escapes, unicode, nesting, big numbers.
        datas = ['{"a" : [1,2 , "\\u00e9\\n"] ,"b":{"c":null}}', '"plain string"', '12345678901234567890',
                 '[true,false,null]', '{"emoji":"\U0001F600","q":"\\"quoted\\""}']
        for i, d in enumerate(datas, 1):
            body = b'{"channel":"bytes","data":' + d.encode() + b"}"
            st, raw = api().raw("publish", body)
            eq(st, 200, f"publish {d!r}")
            eq(json.loads(raw)["result"]["offset"], i, "offset")
        for s in subs:
            for i, d in enumerate(datas, 1):
                p = s.push(kind="pub")
                eq(p.get("channel"), "bytes", "push channel")
                eq(p["pub"].get("offset"), i, "push offset")
                eq(p["pub"].get("data"), json.loads(d), "push data")
            # The data's bytes are passed through, never re-encoded.
            raw = b"\n".join(s.raw_messages)
            for d in datas:
                check(b'"data":' + d.encode() in raw, f"data bytes {d!r} not passed through")
    finally:
        for s in subs:
            s.close()


def large_publication():
    """A publication of ~900 KB (under the default --max-request-bytes of
    1 MiB) reaches two subscribers whole, in a frame with a 64-bit length."""
    subs = [open_connected(port("nohist")) for _ in range(2)]
    try:
        for s in subs:
            s.subscribe("large")
        blob = "".join(chr(0x41 + (i * 7919) % 26) for i in range(900_000))
        st, raw = api("nohist").raw("publish", {"channel": "large", "data": {"blob": blob}})
        eq(st, 200, f"publish status ({raw[:80]!r})")
        for s in subs:
            p = s.push(kind="pub", timeout=10)
            check(p["pub"]["data"] == {"blob": blob}, "large publication differs")
    finally:
        for s in subs:
            s.close()


def publish_with_history_off():
    # As Centrifugo: without history a channel's stream does not outlive its
    # subscribers, so a publisher gets no position: an empty result.
    eq(api("nohist").publish("h0", {"x": 1}), {}, "result with history off")
    eq(api("nohist").publish("h0", {"x": 2}), {}, "second result with history off")


def broadcast():
    a, b = open_connected(port("api")), open_connected(port("api"))
    try:
        a.subscribe("bc-a")
        b.subscribe("bc-b")
        api().publish("bc-b", "first")
        r = api().result("broadcast", {"channels": ["bc-a", "bc-b"], "data": {"all": True}})
        resp = r.get("responses")
        check(isinstance(resp, list) and len(resp) == 2, f"responses {r}")
        eq(resp[0]["result"]["offset"], 1, "bc-a offset")
        eq(resp[1]["result"]["offset"], 2, "bc-b offset")
        for c, ch, off in ((a, "bc-a", 1), (b, "bc-b", 1), (b, "bc-b", 2)):
            p = c.push(kind="pub")
            eq((p["channel"], p["pub"]["offset"]), (ch, off), "push")
        eq(p["pub"]["data"], {"all": True}, "broadcast data")
        # One bad channel: its own error, the others still published.
        r = api().result("broadcast", {"channels": ["bc-a", "bad channel"], "data": 2})
        eq(r["responses"][0]["result"]["offset"], 2, "bc-a offset")
        eq(r["responses"][1].get("error", {}).get("code"), 107, "bad channel's error")
        eq(a.push(kind="pub")["pub"]["offset"], 2, "bc-a got the second broadcast")
    finally:
        a.close()
        b.close()


def history():
    ch = "hist"
    epoch = None
    for i in range(1, 15):
        r = api().publish(ch, {"i": i})
        epoch = epoch or r["epoch"]
        eq(r["epoch"], epoch, "epoch stays")
    h = api().result("history", {"channel": ch, "limit": 100})
    pubs = h.get("publications")
    eq([p["offset"] for p in pubs], list(range(15 - HISTORY, 15)), "history keeps the last --history-size")
    eq([p["data"]["i"] for p in pubs], list(range(15 - HISTORY, 15)), "history data")
    eq((h.get("offset"), h.get("epoch")), (14, epoch), "stream top")
    h = api().result("history", {"channel": ch, "limit": 3})
    eq([p["offset"] for p in h["publications"]], [5, 6, 7], "limit 3 from the start")
    h = api().result("history", {"channel": ch, "limit": 3, "reverse": True})
    eq([p["offset"] for p in h["publications"]], [14, 13, 12], "reverse")
    h = api().result("history", {"channel": ch, "limit": 100, "since": {"offset": 10, "epoch": epoch}})
    eq([p["offset"] for p in h["publications"]], [11, 12, 13, 14], "since offset 10")
    h = api().result("history", {"channel": ch, "limit": 0})
    eq(h.get("publications", []), [], "limit 0: only the position")
    eq(h.get("offset"), 14, "limit 0 top offset")
    h = api().result("history", {"channel": "never-published", "limit": 10})
    eq(h.get("publications", []), [], "empty channel")
    r = api("nohist").call("history", {"channel": ch, "limit": 10})
    eq(r.get("error", {}).get("code"), 108, f"history with history off: {r}")


def presence_stats():
    clients = [open_connected(port("api"), token(u)) for u in ("alice", "alice", "bob")]
    try:
        for c in clients:
            c.subscribe("room")
        eq(api().result("presence_stats", {"channel": "room"}), {"num_clients": 3, "num_users": 2},
           "presence stats")
        clients[2].ok("unsubscribe", {"channel": "room"})
        eq(api().result("presence_stats", {"channel": "room"}), {"num_clients": 2, "num_users": 1},
           "after bob unsubscribed")
        eq(api().result("presence_stats", {"channel": "empty-room"}), {"num_clients": 0, "num_users": 0},
           "no subscribers")
    finally:
        for c in clients:
            c.close()


def unsubscribe_by_user():
    alice1, alice2, bob = (open_connected(port("api"), token(u)) for u in ("alice", "alice", "bob"))
    try:
        for c in (alice1, alice2, bob):
            c.subscribe("unsub")
            c.subscribe("other")
        eq(api().result("unsubscribe", {"channel": "unsub", "user": "alice"}), {}, "result")
        for c in (alice1, alice2):
            p = c.push(kind="unsubscribe")
            eq(p.get("channel"), "unsub", "unsubscribe push channel")
            check(isinstance(p["unsubscribe"].get("code"), int), f"unsubscribe push {p}")
        api().publish("unsub", "after")
        api().publish("other", "other")
        eq(bob.push(kind="pub")["pub"]["data"], "after", "bob still subscribed")
        for c in (alice1, alice2):
            p = c.push(kind="pub")
            eq((p["channel"], p["pub"]["data"]), ("other", "other"), "alice gets only the other channel")
        eq(api().result("presence_stats", {"channel": "unsub"})["num_clients"], 1, "num_clients")
        # A user with no connection: still a result.
        eq(api().result("unsubscribe", {"channel": "unsub", "user": "nobody"}), {}, "nobody")
    finally:
        for c in (alice1, alice2, bob):
            c.close()


def disconnect_by_user():
    alice1, alice2, bob = (open_connected(port("api"), token(u)) for u in ("alice", "alice", "bob"))
    try:
        bob.subscribe("dc")
        eq(api().result("disconnect", {"user": "alice"}), {}, "result")
        for c in (alice1, alice2):
            c.expect_disconnect(3503)
        api().publish("dc", "bob still here")
        eq(bob.push(kind="pub")["pub"]["data"], "bob still here", "bob served")
    finally:
        for c in (alice1, alice2, bob):
            c.close()


def one_client_of_a_user():
    """unsubscribe and disconnect with `client` reach that connection only; a
    disconnect may carry its own code and reason."""
    a1, a2 = (open_connected(port("api"), token("fay")) for _ in range(2))
    try:
        ids = [c.connect_result["client"] for c in (a1, a2)]
        for c in (a1, a2):
            c.subscribe("one")
        eq(api().result("unsubscribe", {"channel": "one", "user": "fay", "client": ids[0]}), {}, "result")
        eq(a1.push(kind="unsubscribe")["channel"], "one", "a1 unsubscribed")
        api().publish("one", "still")
        eq(a2.push(kind="pub")["pub"]["data"], "still", "a2 still subscribed")
        eq(api().result("disconnect", {"user": "fay", "client": ids[1],
                                       "disconnect": {"code": 4501, "reason": "bye"}}), {}, "result")
        eq(a2.expect_disconnect(4501), "bye", "a2's close reason")
        eq(a1.ok("presence_stats", {"channel": "one"})["num_clients"], 0, "a1 still connected")
    finally:
        a1.close()
        a2.close()


def channels_and_info():
    cs = [open_connected(port("nohist")) for _ in range(3)]
    try:
        cs[0].subscribe("ch-one")
        cs[1].subscribe("ch-one")
        cs[2].subscribe("ch-two")
        cs[2].subscribe("ch-one")
        r = api("nohist").result("channels", {})
        chans = r.get("channels")
        check(isinstance(chans, dict), f"channels {r}")
        eq(chans.get("ch-one"), {"num_clients": 3}, "ch-one")
        eq(chans.get("ch-two"), {"num_clients": 1}, "ch-two")
        info = api("nohist").result("info", {})
        nodes = info.get("nodes")
        check(isinstance(nodes, list) and len(nodes) == 1, f"info {info}")
        n = nodes[0]
        for k in ("uid", "name", "version", "num_clients", "num_users", "num_channels", "num_subs",
                  "uptime"):
            check(k in n, f"info node has no {k}: {n}")
        eq(n["num_clients"], 3, "num_clients")
        eq(n["num_channels"], 2, "num_channels")
        eq(n["num_subs"], 4, "num_subs")
        cs[2].close()
        wait_until(lambda: api("nohist").result("info", {})["nodes"][0]["num_clients"] == 2, 3,
                   "num_clients back to 2")
        chans = api("nohist").result("channels", {})["channels"]
        check("ch-two" not in chans, f"ch-two without subscribers still listed: {chans}")
        eq(chans.get("ch-one"), {"num_clients": 2}, "ch-one after a client left")
    finally:
        for c in cs:
            c.close()


def server_alive_after():
    for name in servers:
        srv = servers[name][0]
        check(srv.proc.poll() is None, f"{name} exited")
    with open_connected(port("api")) as c:
        c.subscribe("last")
        api().publish("last", "bye")
        eq(c.push(kind="pub")["pub"]["data"], "bye", "still serving")


try:
    servers["api"] = start(BIN, BACKEND, ["--api-key", KEY, "--history-size", str(HISTORY),
                                          "--token-hmac-secret", SECRET,
                                          "--max-request-bytes", str(MAX_REQUEST)])
    servers["nohist"] = start(BIN, BACKEND, ["--api-key", KEY])
    servers["nokey"] = start(BIN, BACKEND, [])
except wsraw.Failure as e:
    print(f"FAIL pubsub_api start: {e}")
    for s, _ in servers.values():
        s.stop()
    print("0 passed, 1 failed")
    sys.exit(1)

try:
    suite.run("publish with curl: offsets 1, 2, one epoch", publish_with_curl)
    suite.run("Authorization: apikey KEY accepted", authorization_apikey_header)
    suite.run("missing or wrong key -> 401", missing_or_wrong_key_401)
    suite.run("no --api-key -> 404", no_api_key_configured_404)
    suite.run("not POST -> 405", not_post_405)
    suite.run("unknown method -> 404", unknown_method_404)
    suite.run("body over --max-request-bytes -> 413", body_over_limit_413)
    suite.run("bad JSON / missing field -> 400 with the error body", bad_json_400)
    suite.run("invalid channel -> error 107", invalid_channel_107)
    suite.run("keep-alive: requests on one connection", keep_alive_two_requests)
    suite.run("publish reaches subscribers byte for byte", publish_reaches_subscribers_byte_for_byte)
    suite.run("a 900 KB publication reaches subscribers whole", large_publication)
    suite.run("publish with history off: empty result", publish_with_history_off)
    suite.run("broadcast", broadcast)
    suite.run("history: limit, reverse, since; 108 when off", history)
    suite.run("presence_stats counts clients and users", presence_stats)
    suite.run("unsubscribe by user", unsubscribe_by_user)
    suite.run("disconnect by user -> 3503", disconnect_by_user)
    suite.run("unsubscribe/disconnect of one client; disconnect code and reason", one_client_of_a_user)
    suite.run("channels and info", channels_and_info)
    suite.run("servers alive and serving", server_alive_after)
    for name, (srv, _) in servers.items():
        def stops(srv=srv):
            eq(srv.terminate(10), 0, "exit status after SIGTERM")
        suite.run(f"{name}: SIGTERM -> exit 0", stops)
finally:
    for srv, _ in servers.values():
        srv.stop()
suite.finish()
