#!/usr/bin/python3
"""wsgate's log lines: --log-format text|json, --log-level, request ids, rate limits.

  test_logs.py WSGATE_BINARY BACKEND [CASE-FILTER...]

Starts wsgate instances of its own (echo mode, one loop) and checks that
with --log-format json every stderr line is a JSON object with ts, level and
msg; that a handshake refusal, a protocol-violation close and a limit close
each carry their connection's request id ("conn") on every line about that
connection, the same on its lines and different between connections; that
--log-format text keeps the "wsgate: ..." lines and ends a connection's
lines with "(conn L.S.G)"; that --log-level filters (debug lines only at
debug, refusals gone at error); that a hostile flood of bad handshakes and
protocol violations gives at most a few lines a second plus "(suppressed K
similar lines ...)" summaries whose counts add up, and that
wsgate_log_lines_suppressed_total says the same; and that a log level
changed in the --config file takes effect on SIGHUP (wsgate_reloads_total
counts it) while check-config lists log-level as live and log-format as
needing a restart.
"""

import json
import os
import re
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

import wsraw
from wsgate_proc import Server, free_port, run_flags
from wsraw import OP_CLOSE, OP_TEXT, Conn, check, close_payload, eq, frame

if len(sys.argv) < 3:
    print("usage: test_logs.py WSGATE_BINARY BACKEND", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(2)
BIN, BACKEND = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
suite = wsraw.Suite("logs")

LINES_PER_WINDOW = 5  # io::kLimitedLinesPerWindow
REQUEST_ID = r"\d+\.\d+\.\d+"


class Instance:
    """One wsgate (one loop) with an admin listener; stderr parsed by the test."""

    def __init__(self, flags, json_lines=False):
        self.port = free_port()
        self.admin = free_port()
        self.json = json_lines
        args = ["--listen", f"127.0.0.1:{self.port}", "--backend", BACKEND, "--threads", "1",
                "--admin-listen", f"127.0.0.1:{self.admin}", "--close-timeout", "1"]
        self.srv = Server(BIN, args + list(flags), wait_lines=0)
        # The listening line is an info line: not there at --log-level error.
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.admin), timeout=1).close()
                break
            except OSError:
                check(self.srv.proc.poll() is None, f"wsgate exited: {self.srv.log()[-300:]!r}")
                check(time.monotonic() < deadline, "wsgate not listening within 10 s")
                time.sleep(0.05)

    def lines(self):
        text = self.srv.log()
        check(text == "" or text.endswith("\n"), f"log ends inside a line: {text[-200:]!r}")
        return text.splitlines()

    def records(self):
        """Every line as JSON (a line that is not is a failure)."""
        out = []
        for line in self.lines():
            try:
                rec = json.loads(line)
            except ValueError as e:
                raise wsraw.Failure(f"not a JSON line ({e}): {line!r}")
            check(isinstance(rec, dict), f"not a JSON object: {line!r}")
            for key in ("ts", "level", "msg"):
                check(key in rec, f"no {key!r} in {line!r}")
            check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", rec["ts"]),
                  f"ts {rec['ts']!r}")
            check(rec["level"] in ("error", "warn", "info", "debug"), f"level in {line!r}")
            out.append(rec)
        return out

    def wait(self, pred, what, timeout=5):
        return self.srv.wait_for(pred, timeout, what)

    def metrics(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/metrics", timeout=10) as r:
            text = r.read().decode()
        found = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                found[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return found

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.srv.stop()


def refused_400(port, target="/"):
    """An upgrade without Sec-WebSocket-Key: 400 (RFC 6455 §4.2.1)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                break
            head += chunk
        check(head.startswith(b"HTTP/1.1 400 "), f"answer {head[:40]!r}")


def protocol_violation(port):
    """RSV bits without an extension that defines them: close 1002 (RFC 6455 §5.2)."""
    with Conn(port=port) as c:
        c.handshake()
        c.send(frame(OP_TEXT, b"x", rsv=2))
        c.expect_close(1002, reply=False)


def over_message_rate(port, burst):
    """More messages than --max-messages-per-second allows: close 1008."""
    with Conn(port=port) as c:
        c.handshake()
        for i in range(burst + 10):
            try:
                c.send(frame(OP_TEXT, b"m"))
            except OSError:
                break
        c.expect_close(1008, reply=False)


def new_records(inst, before):
    recs = inst.records()
    return recs[before:], len(recs)


def json_lines_and_request_ids():
    burst = 3
    with Instance(["--log-format", "json", "--log-level", "debug", "--trace",
                   "--max-messages-per-second", "1", "--message-burst", str(burst)],
                  json_lines=True) as inst:
        _, seen = new_records(inst, 0)
        ids = {}
        # Each phase's lines (accept to release) are about one connection.
        phases = [("refusal", lambda: refused_400(inst.port, '/a"b\\c'), "refused"),
                  ("violation", lambda: protocol_violation(inst.port), "close"),
                  ("limit", lambda: over_message_rate(inst.port, burst), "message_rate")]
        for name, act, event in phases:
            act()
            inst.wait(lambda log: log.count('"event":"released"') >= len(ids) + 1,
                      f"the {name} connection's release line")
            recs, seen = new_records(inst, seen)
            about = [r for r in recs if "conn" in r]
            events = [r.get("event") for r in about]
            for want in ("accepted", event, "released"):
                check(want in events, f"{name}: no {want!r} line in {recs}")
            conns = {r["conn"] for r in about}
            eq(len(conns), 1, f"{name}: request ids on its lines {recs}")
            ids[name] = conns.pop()
            check(re.fullmatch(REQUEST_ID, ids[name]), f"request id {ids[name]!r}")
            if name == "refusal":
                r = next(r for r in about if r.get("event") == "refused")
                eq((r["status"], r["level"]), (400, "info"), f"refusal line {r}")
                # The trace of the request head: quotes and backslashes escaped
                # (json.loads gave them back).
                tr = [r for r in about if r.get("event") == "trace"]
                check(any('GET /a"b\\c HTTP/1.1' in r["msg"] for r in tr), f"trace lines {tr}")
            if name == "violation":
                r = next(r for r in about if r.get("event") == "close")
                eq((r["code"], r["reason"], r["level"]), (1002, "protocol error", "info"),
                   f"close line {r}")
            if name == "limit":
                r = next(r for r in about if r.get("event") == "message_rate")
                check("max-messages-per-second" in r["msg"], f"limit line {r}")
        eq(len(set(ids.values())), 3, f"request ids differ between connections: {ids}")
        eq(inst.srv.terminate(wsraw.CLOSE_TIMEOUT + 5), 0, "exit status after SIGTERM")
        check(any(r["msg"] == "SIGTERM, shutting down" for r in inst.records()),
              "the shutdown line is JSON too")


def text_lines():
    with Instance(["--log-format", "text"]) as inst:
        refused_400(inst.port)
        protocol_violation(inst.port)
        log = inst.wait(lambda log: "closed fd" in log and "refused fd" in log, "both lines")
        r = re.search(r"^wsgate: refused fd \d+: 400 .* \(conn (" + REQUEST_ID + r")\)$", log,
                      re.M)
        check(r, f"refusal line in {log!r}")
        c = re.search(r"^wsgate: closed fd \d+: 1002 protocol error \(conn (" + REQUEST_ID
                      + r")\)$", log, re.M)
        check(c, f"close line in {log!r}")
        check(r.group(1) != c.group(1), "two connections, two request ids")
        check(re.search(r"^wsgate: listening on 127\.0\.0\.1:\d+ \(", log, re.M),
              "start-up lines unchanged")
        check(not any(l.startswith("{") for l in log.splitlines()), "no JSON in text mode")


def level_filtering():
    for level, want_debug, want_refusal in (("info", False, True), ("debug", True, True),
                                            ("error", False, False)):
        with Instance(["--log-format", "json", "--log-level", level], json_lines=True) as inst:
            refused_400(inst.port)
            protocol_violation(inst.port)
            with Conn(port=inst.port) as c:  # an ordinary connection, closed by the client
                c.handshake()
                c.echo(OP_TEXT, "hello")
                c.send(frame(OP_CLOSE, close_payload(1000)))
                c.expect_close(1000, reply=False)
            time.sleep(0.3)
            recs = inst.records()
            levels = {r["level"] for r in recs}
            events = {r.get("event") for r in recs}
            eq("debug" in levels, want_debug, f"--log-level {level}: debug lines in {levels}")
            eq("accepted" in events, want_debug, f"--log-level {level}: accepted lines")
            eq("refused" in events, want_refusal, f"--log-level {level}: refusal lines")
            eq("close" in events, want_refusal, f"--log-level {level}: close lines")
            if level == "error":
                eq(recs, [], "--log-level error: no line at all here")


def flood_is_rate_limited():
    with Instance(["--log-format", "text"]) as inst:
        n_threads, per_thread = 4, 60
        errors = []

        def flood():
            try:
                for i in range(per_thread):
                    if i % 2 == 0:
                        refused_400(inst.port)
                    else:
                        protocol_violation(inst.port)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        t0 = time.monotonic()
        threads = [threading.Thread(target=flood) for _ in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.monotonic() - t0
        eq(errors, [], "flood answers")
        n = n_threads * per_thread // 2  # of each kind
        # Summaries are written once their window is over.
        time.sleep(1.5)
        lines = inst.lines()
        full_closes = [l for l in lines if re.match(r"wsgate: closed fd \d+: 1002 ", l)]
        held_closes = sum(int(m.group(1)) for l in lines
                          for m in [re.match(r"wsgate: close 1002: \(suppressed (\d+) similar "
                                             r"lines in the last [\d.]+ s\)$", l)] if m)
        full_refusals = [l for l in lines if re.match(r"wsgate: refused fd \d+: 400 ", l)]
        held_refusals = sum(int(m.group(1)) for l in lines
                            for m in [re.match(r"wsgate: refused (\d+) more with 400 ", l)] if m)
        windows = int(seconds) + 2
        print(f"     {n} refusals and {n} violations in {seconds:.1f}s: {len(full_refusals)} + "
              f"{held_refusals} suppressed, {len(full_closes)} + {held_closes} suppressed; "
              f"{len(lines)} lines in all", flush=True)
        eq(len(full_closes) + held_closes, n, "closes counted (lines + suppressed)")
        eq(len(full_refusals) + held_refusals, n, "refusals counted (lines + suppressed)")
        check(len(full_closes) <= LINES_PER_WINDOW * windows,
              f"{len(full_closes)} close lines in {seconds:.1f}s")
        check(len(full_refusals) <= windows, f"{len(full_refusals)} refusal lines")
        check(held_closes > 0, "some closes were suppressed")
        check(len(lines) <= 2 * (LINES_PER_WINDOW + 2) * windows + 10,
              f"{len(lines)} lines for {2 * n} events")
        got = inst.metrics()[("wsgate_log_lines_suppressed_total", ())]
        eq(got, held_closes + held_refusals, "wsgate_log_lines_suppressed_total")


def reload_changes_the_level():
    fd, path = tempfile.mkstemp(prefix="wsgate-logs.", suffix=".toml")
    os.close(fd)

    def write(text):
        with open(path + ".new", "w") as f:
            f.write(text)
        os.replace(path + ".new", path)

    try:
        write('log-level = "info"\nlog-format = "json"\n')
        with Instance(["--config", path], json_lines=True) as inst:
            protocol_violation(inst.port)
            time.sleep(0.2)
            check(not any(r["level"] == "debug" for r in inst.records()), "no debug line yet")
            write('log-level = "debug"\nlog-format = "json"\n')
            os.kill(inst.srv.pid, signal.SIGHUP)
            inst.wait(lambda log: "reloaded (settings generation 2): applied log-level" in log,
                      "the reload line")
            protocol_violation(inst.port)
            inst.wait(lambda log: '"event":"released"' in log, "a debug line after the reload")
            m = inst.metrics()
            eq(m[("wsgate_reloads_total", (("result", "ok"),))], 1, "reloads ok")
            eq(m[("wsgate_reloads_total", (("result", "failed"),))], 0, "reloads failed")
            # A format change needs a restart: reported, not applied.
            write('log-level = "info"\nlog-format = "text"\n')
            os.kill(inst.srv.pid, signal.SIGHUP)
            inst.wait(lambda log: "log-format: needs a restart" in log, "the restart note")
            write('log-level = "loud"\n')
            os.kill(inst.srv.pid, signal.SIGHUP)
            inst.wait(lambda log: "reload failed, nothing changed" in log, "the failure line")
            m = inst.metrics()
            eq(m[("wsgate_reloads_total", (("result", "ok"),))], 2, "reloads ok")
            eq(m[("wsgate_reloads_total", (("result", "failed"),))], 1, "reloads failed")
            before = len(inst.records())
            protocol_violation(inst.port)
            time.sleep(0.3)
            after = inst.records()[before:]
            check(after and not any(r["level"] == "debug" for r in after),
                  f"back at info, still JSON: {after}")
        write('trace = false\n')
        rc, out, err = run_flags(BIN, ["check-config", path])
        eq(rc, 0, f"check-config (stderr {err!r})")
        live = next(l for l in out.splitlines() if l.startswith("# live on reload"))
        restart = next(l for l in out.splitlines() if l.startswith("# need a restart"))
        check(" log-level" in live and " log-format" not in live, f"live list {live!r}")
        check(" log-format" in restart, f"restart list {restart!r}")
        check('log-level = "info"' in out and 'log-format = "text"' in out, "printed defaults")
    finally:
        os.unlink(path)


def process_metrics():
    t0 = time.time()
    with Instance([]) as inst:
        m = inst.metrics()
        start = m[("process_start_time_seconds", ())]
        check(t0 - 5 < start < time.time() + 1, f"process_start_time_seconds {start} vs {t0}")
        check(m[("process_open_fds", ())] > 3, "process_open_fds")
        check(m[("process_resident_memory_bytes", ())] > 1 << 20, "process_resident_memory_bytes")
        eq(m[("wsgate_log_lines_suppressed_total", ())], 0, "nothing suppressed yet")


try:
    suite.run("--log-format json: every line an object; one request id per connection on its "
              "refusal, protocol-violation and limit lines", json_lines_and_request_ids)
    suite.run("--log-format text: 'wsgate: ...' lines ending with (conn L.S.G)", text_lines)
    suite.run("--log-level info/debug/error filters", level_filtering)
    suite.run("a flood of bad handshakes and violations: a few lines a second, summaries add "
              "up, wsgate_log_lines_suppressed_total agrees", flood_is_rate_limited)
    suite.run("SIGHUP changes log-level live; log-format needs a restart; reloads counted",
              reload_changes_the_level)
    suite.run("process_start_time_seconds, open fds, RSS", process_metrics)
finally:
    suite.finish()
