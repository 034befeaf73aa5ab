#!/usr/bin/python3
"""Reloading the configuration of a running wsgate (SIGHUP, POST /admin/reload).

  test_reload.py WSGATE_BINARY BACKEND [CASE-FILTER...]

Starts wsgate instances of its own with --config FILE (echo mode), holds
connections open across reloads and checks that none is dropped, that the
new values take effect on old and new connections (a lower
--max-message-bytes closes a larger message 1009 on a connection opened
before the reload; a lower --max-connections refuses newcomers with 503
without touching the established ones), that a bad file changes nothing and
says why (422 with file:line:col, one log line), that a change needing a
restart is reported and not applied, that SIGHUP does the same as the admin
POST, and that with --workers the parent passes SIGHUP to every worker.
Every loop's settings generation is read from /metrics with
prometheus_client's parser.
"""

import os
import signal
import sys
import time

import pubsub_client
import reload_fixture
import wsraw
from reload_fixture import ConfigFile
from wsgate_proc import run_flags
from wsraw import OP_CLOSE, OP_TEXT, Conn, check, close_payload, eq, frame

if len(sys.argv) < 3:
    print("usage: test_reload.py WSGATE_BINARY BACKEND", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(2)
BIN, BACKEND = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
suite = wsraw.Suite("reload")

THREADS = 2
HELD = 40  # connections held open across every reload


def instance(toml, flags=(), admin=True):
    return reload_fixture.Instance(BIN, BACKEND, toml, flags, admin, THREADS)


def open_held(port, n):
    conns = []
    for i in range(n):
        c = Conn(port=port)
        c.handshake()
        c.echo(OP_TEXT, f"hello {i}")
        conns.append(c)
    return conns


def all_echo(conns, what):
    for i, c in enumerate(conns):
        try:
            c.echo(OP_TEXT, f"{what} {i}")
        except Exception as e:  # noqa: BLE001
            raise wsraw.Failure(f"held connection {i} after {what}: {e}") from e


def close_all(conns):
    for c in conns:
        c.send(frame(OP_CLOSE, close_payload(1000)))
        c.expect_close(1000, reply=False)
        c.close()


def too_big_is_1009(port, size, conn=None):
    c = conn or Conn(port=port)
    try:
        if conn is None:
            c.handshake()
        c.send_msg(OP_TEXT, b"x" * size)
        c.expect_close(1009)
    finally:
        c.close()


def fits(port, size):
    with Conn(port=port) as c:
        c.handshake()
        c.echo(OP_TEXT, b"y" * size)


BASE = "max-message-bytes = 65536\nidle-timeout = 30\n"


def live_limits_under_connections():
    with instance(BASE) as inst:
        held = open_held(inst.port, HELD)
        victim = held.pop()
        fits(inst.port, 4000)
        eq(inst.generations(), {"0": 1.0, "1": 1.0}, "start-up generation")
        # A live change and one that needs a restart (the deflate level: it
        # is part of what connections agreed at their upgrade).
        inst.file.write("max-message-bytes = 1000\nidle-timeout = 30\ndeflate-level = 6\n")
        answer = inst.reload(200)
        eq(answer["ok"], True, "reload ok")
        eq(answer["generation"], 2, "generation")
        eq(answer["applied"], ["max-message-bytes"], "applied")
        eq(len(answer["restart_needed"]), 1, f"restart_needed {answer['restart_needed']}")
        check(answer["restart_needed"][0].startswith("deflate-level: "),
              f"restart_needed {answer['restart_needed']}")
        inst.wait_generation(2)
        all_echo(held, "after reload")
        # The new limit on a connection opened before the reload, and on a new one.
        too_big_is_1009(inst.port, 2000, victim)
        too_big_is_1009(inst.port, 2000)
        fits(inst.port, 900)
        inst.srv.wait_for(lambda log: "wsgate: reloaded (settings generation 2): applied "
                          "max-message-bytes; not applied, need a restart: deflate-level" in log,
                          2, "the reload's log line")
        close_all(held)


def bad_file_changes_nothing():
    with instance(BASE) as inst:
        held = open_held(inst.port, 10)
        inst.file.write("max-message-bytes = 1000\nidle-timeout = 30\nmax-queue-bytes = 5\n")
        answer = inst.reload(422)
        eq(answer["ok"], False, "ok")
        want = f"{inst.file.path}:3:1: unknown key 'max-queue-bytes' (did you mean " \
               "'max-queued-bytes'?)"
        eq(answer["error"], want, "error")
        inst.file.write("max-message-bytes = 1000\nidle-timeout = \"soon\"\n")
        answer = inst.reload(422)
        check(answer["error"].startswith(f"{inst.file.path}:2:16: idle-timeout: expected a "
                                         "number of seconds"), f"error {answer['error']!r}")
        eq(inst.generations(), {"0": 1.0, "1": 1.0}, "generation after bad files")
        fits(inst.port, 4000)  # the old limit still holds
        all_echo(held, "after bad files")
        log = inst.srv.log()
        eq(log.count("wsgate: reload failed, nothing changed: "), 2, "failure log lines")
        check(f"reload failed, nothing changed: {want}\n" in log, "failure line names the spot")
        close_all(held)


def sighup_reloads():
    with instance(BASE) as inst:
        held = open_held(inst.port, 10)
        inst.file.write("max-message-bytes = 1000\nidle-timeout = 30\n")
        os.kill(inst.srv.pid, signal.SIGHUP)
        inst.wait_generation(2)
        too_big_is_1009(inst.port, 2000)
        inst.file.write(BASE)
        os.kill(inst.srv.pid, signal.SIGHUP)
        inst.wait_generation(3)
        fits(inst.port, 4000)
        all_echo(held, "after two SIGHUPs")
        inst.srv.wait_for(lambda log: "wsgate: reloaded (settings generation 3): applied "
                          "max-message-bytes" in log, 2, "the second reload's log line")
        close_all(held)


def lower_max_connections():
    with instance(BASE + "max-connections = 1000\n") as inst:
        held = open_held(inst.port, 20)
        inst.file.write(BASE + "max-connections = 22\n")
        eq(inst.reload(200)["applied"], ["max-connections"], "applied")
        inst.wait_generation(2)
        extra = open_held(inst.port, 2)  # 22 in all
        wsraw.expect_http_error(wsraw.build_upgrade(), 503, port=inst.port)
        all_echo(held + extra, "at the lowered limit")
        # Above the start-up value: reported, not applied.
        inst.file.write(BASE + "max-connections = 5000\n")
        answer = inst.reload(200)
        eq(answer["applied"], [], "applied above the start-up value")
        check("above the start-up value 1000" in answer["restart_needed"][0],
              f"restart_needed {answer['restart_needed']}")
        wsraw.expect_http_error(wsraw.build_upgrade(), 503, port=inst.port)
        close_all(held + extra)


def reload_method():
    with instance(BASE) as inst:
        status, headers, _ = inst.request("/admin/reload")
        eq(status, 405, "GET /admin/reload")
        eq(headers.get("Allow"), "POST", "Allow")
        eq(inst.request("/metrics", "POST")[0], 405, "POST /metrics")
        eq(inst.generations(), {"0": 1.0, "1": 1.0}, "a GET reloads nothing")


def workers_pass_sighup_on():
    with instance(BASE, flags=["--workers", "2", "--threads", "1"], admin=False) as inst:
        held = open_held(inst.port, 10)
        inst.file.write("max-message-bytes = 1000\nidle-timeout = 30\n")
        os.kill(inst.srv.pid, signal.SIGHUP)
        inst.srv.wait_for(lambda log: log.count("wsgate: reloaded (settings generation 2)") == 2,
                          5, "both workers' reload lines")
        check("SIGHUP, passed to every worker" in inst.srv.log(), "parent's SIGHUP line")
        # New connections land on either worker (SO_REUSEPORT): every one
        # runs the new limit.
        for _ in range(8):
            too_big_is_1009(inst.port, 2000)
        all_echo(held, "after SIGHUP to the workers")
        eq(len(inst.srv.children()), 2, "workers still running")
        close_all(held)


def pubsub_rights_live():
    # allow-client-publish, max-channels-per-connection and api-key change
    # for a client connected before the reload (its loop adopted the hub's
    # new part); so does history-size (each home loop gives its streams
    # the new limits when it adopts the snapshot).
    base = "allow-client-publish = false\nmax-channels-per-connection = 1\napi-key = \"one\"\n"
    with instance(base, flags=["--mode", "pubsub"]) as inst:
        c = pubsub_client.open_connected(inst.port)
        c.error("publish", {"channel": "room", "data": {"x": 1}}, 103)
        c.subscribe("a")
        c.error("subscribe", {"channel": "b"}, 106)  # limit exceeded
        eq(pubsub_client.Api(inst.port, "one").raw("info", {})[0], 200, "API with the old key")
        inst.file.write("allow-client-publish = true\nmax-channels-per-connection = 2\n"
                        "api-key = \"two\"\nhistory-size = 10\n")
        answer = inst.reload(200)
        eq(sorted(answer["applied"]), ["allow-client-publish", "api-key", "history-size",
                                       "max-channels-per-connection"], "applied")
        eq(answer["restart_needed"], [], "restart needed")
        inst.wait_generation(2)
        c.ok("publish", {"channel": "room", "data": {"x": 2}})
        h = c.ok("history", {"channel": "room", "limit": -1})
        eq([p["data"] for p in h["publications"]], [{"x": 2}], "history kept after the reload")
        c.subscribe("b")
        eq(pubsub_client.Api(inst.port, "one").raw("info", {})[0], 401, "API with the old key")
        eq(pubsub_client.Api(inst.port, "two").raw("info", {})[0], 200, "API with the new key")
        c.close()


def upgrade_status(port):
    """An upgrade from 127.0.0.1: (status, Retry-After or None); a 101 is closed at once."""
    c = Conn(port=port)
    try:
        c.send(wsraw.build_upgrade())
        head = c.read_http_head().decode("latin-1")
    finally:
        c.close()
    lines = head.split("\r\n")
    status = int(lines[0].split()[1])
    retry = [l.split(":", 1)[1].strip() for l in lines[1:] if l.lower().startswith("retry-after:")]
    return status, retry[0] if retry else None


def per_ip_limits_live():
    # Started without per-address limits: the connections open before a
    # reload sets one count against it (the table counts them all along).
    with instance(BASE) as inst:
        held = open_held(inst.port, 4)
        inst.file.write(BASE + "max-connections-per-ip = 5\n")
        eq(inst.reload(200)["applied"], ["max-connections-per-ip"], "applied")
        inst.wait_generation(2)
        held += open_held(inst.port, 1)  # the fifth from 127.0.0.1
        eq(upgrade_status(inst.port), (429, "1"), "the sixth, over the reloaded limit")
        all_echo(held, "at the reloaded per-address limit")
        # Lowered below what is open: every open connection stays, newcomers 429.
        inst.file.write(BASE + "max-connections-per-ip = 2\n")
        eq(inst.reload(200)["applied"], ["max-connections-per-ip"], "applied (lowered)")
        eq(upgrade_status(inst.port)[0], 429, "over the lowered limit")
        all_echo(held, "above the lowered limit")
        close_all(held[:3])  # 2 left open: still at the limit
        time.sleep(0.2)
        eq(upgrade_status(inst.port)[0], 429, "2 open, limit 2")
        close_all(held[3:4])
        deadline = time.monotonic() + 3
        while upgrade_status(inst.port)[0] != 101:
            check(time.monotonic() < deadline, "a newcomer once under the limit")
            time.sleep(0.05)
        # A connection rate set by a reload (burst 1): the second at once is 429.
        inst.file.write(BASE + "connection-rate-per-ip = 1\nconnection-burst-per-ip = 1\n")
        answer = inst.reload(200)
        eq(sorted(answer["applied"]), ["connection-burst-per-ip", "connection-rate-per-ip",
                                       "max-connections-per-ip"], "applied (rate, no cap)")
        first = upgrade_status(inst.port)[0]
        eq((first, upgrade_status(inst.port)[0]), (101, 429), "rate 1/s, burst 1")
        all_echo(held[4:], "after the rate reload")
        close_all(held[4:])


def flood(conn, n, size=2, want_close=None):
    """Sends n text messages of `size` bytes at once and reads their echoes;
    with want_close (the reason of a 1008), reads until that close instead:
    returns the echoes before it and the seconds it took."""
    t0 = time.monotonic()
    conn.send_in_background(b"".join(frame(OP_TEXT, b"%d" % (i % 10) * size) for i in range(n)))
    echoes = 0
    while True:
        f = conn.read_frame()
        if f.opcode == OP_CLOSE:
            check(want_close is not None, f"close {f.close_code()} after {echoes} echoes")
            eq((f.close_code(), f.payload[2:].decode()), (1008, want_close), "close")
            return echoes, time.monotonic() - t0
        echoes += 1 if f.fin else 0
        if want_close is None and echoes == n:
            return echoes, time.monotonic() - t0


def rates_live():
    # Open connections, a high message rate at start-up.
    with instance(BASE + "max-messages-per-second = 10000\n") as inst:
        flooder, quiet = open_held(inst.port, 2)
        flood(flooder, 100)
        inst.file.write(BASE + "max-messages-per-second = 20\nmax-bytes-per-second = 100000\n")
        answer = inst.reload(200)
        eq(sorted(answer["applied"]), ["max-bytes-per-second", "max-messages-per-second"],
           f"applied (restart_needed {answer['restart_needed']})")
        inst.wait_generation(2)
        # The connection opened before the reload gets the new budget: the
        # burst (one second's worth, 20) and the refill while it floods.
        echoes, took = flood(flooder, 300, want_close="message rate limit exceeded")
        check(20 <= echoes <= 20 + 20 * took + 1, f"{echoes} echoes in {took:.3f}s")
        flooder.close()
        for i in range(5):  # 10 a second: under the lowered rate
            quiet.echo(OP_TEXT, f"quiet {i}")
            time.sleep(0.1)
        with Conn(port=inst.port) as c:  # 3 x 60,000 bytes: over 100,000 a second
            c.handshake()
            flood(c, 3, size=60_000, want_close="byte rate limit exceeded")
        # Both back off (0): new and old connections send at any rate.
        inst.file.write(BASE)
        answer = inst.reload(200)
        eq(sorted(answer["applied"]), ["max-bytes-per-second", "max-messages-per-second"],
           "applied (limits off)")
        inst.wait_generation(3)
        with Conn(port=inst.port) as c:
            c.handshake()
            eq(flood(c, 300)[0], 300, "echoes on a new connection")
        eq(flood(quiet, 300)[0], 300, "echoes on the quiet connection")
        eq(flood(quiet, 3, size=60_000)[0], 3, "large echoes on the quiet connection")
        close_all([quiet])
        inst.srv.wait_for(lambda log: "over --max-messages-per-second" in log, 2,
                          "the message rate close's log line")


def check_config_lists_live_keys():
    f = ConfigFile(BASE)
    try:
        rc, out, err = run_flags(BIN, ["check-config", f.path])
        eq(rc, 0, f"check-config status ({err!r})")
        live = [line for line in out.splitlines() if line.startswith("# live on reload")]
        eq(len(live), 1, "live line")
        check(" max-message-bytes" in live[0] and " threads" not in live[0], live[0])
        for key in ("max-connections-per-ip", "connection-rate-per-ip", "ipv6-prefix-length",
                    "max-messages-per-second", "max-bytes-per-second",
                    "upstream-connect-timeout", "upstream-ping-interval"):
            check(f" {key}" in live[0], f"{key} live: {live[0]}")
        check(any(line.startswith("# need a restart:") and " threads" in line
                  for line in out.splitlines()), "restart line")
        g = ConfigFile(out)  # the output, comments included, loads again
        try:
            rc, out2, err = run_flags(BIN, ["check-config", g.path])
            eq(rc, 0, f"check-config of the output ({err!r})")
        finally:
            g.remove()
    finally:
        f.remove()


suite.run("live limits under 40 connections (none dropped, old and new connections)",
          live_limits_under_connections)
suite.run("bad file changes nothing (422, file:line:col, one log line each)",
          bad_file_changes_nothing)
suite.run("SIGHUP reloads twice", sighup_reloads)
suite.run("lower max-connections: newcomers 503, established kept", lower_max_connections)
suite.run("GET /admin/reload 405", reload_method)
suite.run("--workers: SIGHUP passed to every worker", workers_pass_sighup_on)
suite.run("pub/sub: publish right, channel limit, API key, history-size live",
          pubsub_rights_live)
suite.run("per-address limits live: counts of open connections kept, newcomers 429",
          per_ip_limits_live)
suite.run("message and byte rates live: an open flooder closed 1008, the quiet one kept; off again",
          rates_live)
suite.run("check-config lists live and restart keys", check_config_lists_live_keys)
suite.finish()
