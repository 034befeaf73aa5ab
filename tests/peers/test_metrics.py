#!/usr/bin/python3
"""GET /metrics, /healthz and /readyz on --admin-listen.

  test_metrics.py WSGATE_BINARY BACKEND [CASE-FILTER...]

Starts wsgate instances of its own with --admin-listen (echo mode, and
--mode pubsub with --api-key), scrapes /metrics and parses it with
prometheus_client's parser (Debian's python3-prometheus-client, a real
parser: a malformed exposition raises), then generates traffic and checks
that the counters move by exactly what was sent: N connections -> the
websocket gauge is N, K messages -> messages_received_total{kind="text"}
+= K, refused handshakes -> their status counter, publications ->
publications and deliveries. /readyz is 200 while serving and 503 once
SIGTERM has begun the drain (a client that never answers the close keeps
the server draining for --close-timeout).
"""

import os
import socket
import sys
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

import pubsub_client
import wsraw
from pubsub_client import Api, open_connected
from wsgate_proc import Server, free_port
from wsraw import OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, Conn, check, close_payload, eq, frame

if len(sys.argv) < 3:
    print("usage: test_metrics.py WSGATE_BINARY BACKEND", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(2)
BIN, BACKEND = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
suite = wsraw.Suite("metrics")

THREADS = 2
CLOSE_TIMEOUT = 2
MAX_QUEUED = 64 << 10  # --max-queued-bytes: small, so backpressure is quick to reach
API_KEY = "metrics-test-key"


class Instance:
    """A wsgate with --admin-listen; stopped by PID."""

    def __init__(self, flags=()):
        self.port = free_port()
        self.admin = free_port()
        self.srv = Server(BIN, ["--listen", f"127.0.0.1:{self.port}", "--admin-listen",
                                f"127.0.0.1:{self.admin}", "--backend", BACKEND, "--threads",
                                str(THREADS), "--close-timeout", str(CLOSE_TIMEOUT),
                                "--max-queued-bytes", str(MAX_QUEUED)] + list(flags))

    def get(self, path, method="GET"):
        """(status, content type, body text) from the admin listener."""
        req = urllib.request.Request(f"http://127.0.0.1:{self.admin}{path}", method=method)
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, r.headers.get("Content-Type"), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type"), e.read().decode()

    def scrape(self):
        """{(sample name, sorted label pairs): value} from a parsed scrape."""
        status, ctype, text = self.get("/metrics")
        eq(status, 200, "/metrics status")
        check(ctype.startswith("text/plain; version=0.0.4"), f"content type {ctype!r}")
        samples = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return samples

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.srv.stop()


def val(samples, name, **labels):
    key = (name, tuple(sorted(labels.items())))
    check(key in samples, f"no sample {name}{labels}")
    return samples[key]


def wait_value(inst, name, want, what, timeout=5.0, **labels):
    """Scrapes until the sample equals want (gauges published at a loop's turn end)."""
    deadline = time.monotonic() + timeout
    while True:
        got = val(inst.scrape(), name, **labels)
        if got == want:
            return
        if time.monotonic() > deadline:
            raise wsraw.Failure(f"{what}: {name}{labels} is {got}, want {want}")
        time.sleep(0.05)


def format_parses():
    with Instance() as inst:
        status, _, text = inst.get("/metrics")
        eq(status, 200, "/metrics status")
        families = list(text_string_to_metric_families(text))
        check(len(families) >= 15, f"only {len(families)} families")
        # Every family has HELP and TYPE; counters end in _total (0.0.4 convention).
        types = {}
        helps = set()
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ", 3)
                types[name] = kind
            elif line.startswith("# HELP "):
                helps.add(line.split(" ", 3)[2])
        eq(set(types), helps, "families with HELP vs with TYPE")
        for name, kind in types.items():
            if kind == "counter":
                check(name.endswith("_total"), f"counter {name} does not end in _total")
        samples = inst.scrape()
        for loop in range(THREADS):
            eq(val(samples, "wsgate_loop_info", loop=str(loop), backend=BACKEND), 1.0,
               f"loop {loop} info with backend {BACKEND}")
        check(val(samples, "process_resident_memory_bytes") > 1 << 20, "RSS above 1 MiB")
        check(val(samples, "process_open_fds") >= 4, "open fds counted")
        # Started within the last minute (the suite starts one instance per case).
        started = val(samples, "process_start_time_seconds")
        check(time.time() - 60 < started <= time.time() + 1, f"process_start_time_seconds {started}")
        eq(types.get("process_start_time_seconds"), "gauge", "process_start_time_seconds type")
        eq(val(samples, "wsgate_reloads_total", result="ok"), 0, "no reload yet")
        eq(val(samples, "wsgate_reloads_total", result="failed"), 0, "no failed reload yet")
        eq(val(samples, "wsgate_log_lines_suppressed_total"), 0, "no log line suppressed yet")
        eq(val(samples, "wsgate_ready"), 1.0, "wsgate_ready")
        # The turn histogram: cumulative buckets ending with +Inf == _count.
        for loop in range(THREADS):
            buckets = sorted(((float(dict(k[1])["le"]), v) for k, v in samples.items()
                              if k[0] == "wsgate_loop_turn_duration_seconds_bucket"
                              and dict(k[1])["loop"] == str(loop)))
            check(len(buckets) == 14 and buckets[-1][0] == float("inf"), f"buckets {buckets}")
            counts = [v for _, v in buckets]
            eq(counts, sorted(counts), f"loop {loop} buckets cumulative")
            eq(counts[-1], val(samples, "wsgate_loop_turn_duration_seconds_count",
                               loop=str(loop)), "+Inf bucket == _count")
        # Other paths and methods on the admin port.
        eq(inst.get("/healthz")[::2], (200, "ok\n"), "/healthz")
        eq(inst.get("/readyz")[::2], (200, "ready\n"), "/readyz")
        eq(inst.get("/nope")[0], 404, "unknown path")
        eq(inst.get("/metrics", method="POST")[0], 405, "POST /metrics")


def connections_counted():
    n = 20
    with Instance() as inst:
        before = inst.scrape()
        conns = []
        try:
            for _ in range(n):
                c = Conn(port=inst.port)
                c.handshake()
                conns.append(c)
            wait_value(inst, "wsgate_connections", float(n), f"{n} open", state="websocket")
            after = inst.scrape()
            eq(val(after, "wsgate_connections_accepted_total")
               - val(before, "wsgate_connections_accepted_total"), float(n), "accepted")
            eq(val(after, "wsgate_handshakes_total", status="101")
               - val(before, "wsgate_handshakes_total", status="101"), float(n), "101s")
            eq(val(after, "wsgate_connections", state="handshaking"), 0.0, "handshaking")
            for c in conns:
                c.send(frame(OP_CLOSE, close_payload(1000)))
                c.expect_close(1000, reply=False)
        finally:
            for c in conns:
                c.close()
        wait_value(inst, "wsgate_connections", 0.0, "all gone", state="websocket")
        wait_value(inst, "wsgate_connections", 0.0, "none closing", state="closing")
        end = inst.scrape()
        eq(val(end, "wsgate_close_codes_received_total", code="1000")
           - val(before, "wsgate_close_codes_received_total", code="1000"), float(n),
           "close 1000 received")
        eq(val(end, "wsgate_close_codes_sent_total", code="1000")
           - val(before, "wsgate_close_codes_sent_total", code="1000"), float(n),
           "close 1000 sent (echoed)")


def listeners_counted():
    """Two --listen addresses: connections counted by the one they came in on."""
    second = free_port()
    with Instance(["--listen", f"127.0.0.1:{second}"]) as inst:
        first = f"127.0.0.1:{inst.port}"
        conns = []
        try:
            for port, n in ((inst.port, 3), (second, 2)):
                for _ in range(n):
                    c = Conn(port=port)
                    c.handshake()
                    conns.append(c)
            wait_value(inst, "wsgate_connections", 5.0, "5 open", state="websocket")
            s = inst.scrape()
            eq(val(s, "wsgate_listener_connections", listener=first), 3.0, f"open on {first}")
            eq(val(s, "wsgate_listener_connections", listener=f"127.0.0.1:{second}"), 2.0,
               f"open on :{second}")
            eq(val(s, "wsgate_listener_accepted_total", listener=first), 3.0, "accepted on first")
            eq(val(s, "wsgate_listener_accepted_total", listener=f"127.0.0.1:{second}"), 2.0,
               "accepted on second")
            eq(val(s, "wsgate_listener_connections", listener="outbound"), 0.0, "no outbound")
        finally:
            for c in conns:
                c.close()
        wait_value(inst, "wsgate_listener_connections", 0.0, "first empty", listener=first)


def proxy_outbound_counted():
    """--mode proxy: the upstream connection counts as 'outbound', the client's
    on its listener."""
    echo_port = free_port()
    echo = Server(BIN, ["--listen", f"127.0.0.1:{echo_port}", "--backend", BACKEND, "--threads",
                        "1"])
    try:
        with Instance(["--mode", "proxy", "--upstream", f"a=127.0.0.1:{echo_port}", "--route",
                       "/=a"]) as inst:
            with Conn(port=inst.port) as c:
                c.handshake()
                c.echo(OP_TEXT, "through the proxy")
                s = inst.scrape()
                eq(val(s, "wsgate_listener_connections", listener="outbound"), 1.0, "outbound")
                eq(val(s, "wsgate_listener_accepted_total", listener="outbound"), 1.0,
                   "outbound opened")
                eq(val(s, "wsgate_listener_connections", listener=f"127.0.0.1:{inst.port}"), 1.0,
                   "the client on its listener")
                c.send(frame(OP_CLOSE, close_payload(1000)))
                c.expect_close(1000, reply=False)
            wait_value(inst, "wsgate_listener_connections", 0.0, "upstream gone",
                       listener="outbound")
    finally:
        echo.stop()


def messages_counted():
    k = 50
    payload = "0123456789"
    with Instance() as inst:
        before = inst.scrape()
        with Conn(port=inst.port) as c:
            c.handshake()
            for i in range(k):
                c.echo(OP_TEXT, payload)
            c.send(frame(OP_PING, b"abc"))
            f = c.read_frame()
            eq((f.opcode, f.payload), (OP_PONG, b"abc"), "pong")
            after = inst.scrape()
            c.send(frame(OP_CLOSE, close_payload(1000)))
            c.expect_close(1000, reply=False)
        closed = inst.scrape()

        def d(name, **labels):
            return val(after, name, **labels) - val(before, name, **labels)

        def d_close(name, **labels):
            return val(closed, name, **labels) - val(after, name, **labels)

        eq(d("wsgate_messages_received_total", kind="text"), float(k), "text messages in")
        eq(d("wsgate_message_bytes_received_total", kind="text"), float(k * len(payload)),
           "text bytes in")
        eq(d("wsgate_messages_sent_total", kind="text"), float(k), "text messages out")
        eq(d("wsgate_message_bytes_sent_total", kind="text"), float(k * len(payload)),
           "text bytes out")
        eq(d("wsgate_messages_received_total", kind="binary"), 0.0, "binary in")
        # Control frames by opcode.
        eq(d("wsgate_messages_received_total", kind="ping"), 1.0, "ping in")
        eq(d("wsgate_messages_sent_total", kind="pong"), 1.0, "pong out")
        eq(d("wsgate_message_bytes_received_total", kind="ping"), 3.0, "ping bytes")
        eq(d("wsgate_message_bytes_sent_total", kind="pong"), 3.0, "pong bytes")
        eq(d("wsgate_messages_received_total", kind="pong"), 0.0, "pong in")
        eq(d("wsgate_messages_sent_total", kind="ping"), 0.0, "ping out")
        eq(d("wsgate_messages_received_total", kind="close"), 0.0, "no close yet")
        eq(d_close("wsgate_messages_received_total", kind="close"), 1.0, "close in")
        eq(d_close("wsgate_message_bytes_received_total", kind="close"), 2.0, "close bytes in")
        eq(d_close("wsgate_messages_sent_total", kind="close"), 1.0, "close out")


def refusals_counted():
    with Instance() as inst:
        before = inst.scrape()
        wsraw.expect_http_error(wsraw.build_upgrade(key=wsraw.new_key(), version="8",
                                                    host=f"127.0.0.1:{inst.port}"),
                                426, port=inst.port)
        wsraw.expect_http_error(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
                                400, port=inst.port)
        wsraw.expect_http_error(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
                                400, port=inst.port)
        after = inst.scrape()
        eq(val(after, "wsgate_handshakes_total", status="426")
           - before.get(("wsgate_handshakes_total", (("status", "426"),)), 0.0), 1.0, "426")
        eq(val(after, "wsgate_handshakes_total", status="400")
           - before.get(("wsgate_handshakes_total", (("status", "400"),)), 0.0), 2.0, "400")
        eq(val(after, "wsgate_handshakes_total", status="101")
           - val(before, "wsgate_handshakes_total", status="101"), 0.0, "no 101")


def backpressure_counted():
    """A client that sends and never reads: reading pauses at the output cap."""
    message = frame(wsraw.OP_BINARY, os.urandom(16 << 10))
    with Instance() as inst:
        before = inst.scrape()
        c = Conn(port=inst.port)
        s = c.sock
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 10)
        try:
            c.handshake()
            s.setblocking(False)
            sent, stuck_since = 0, None
            while sent < (32 << 20):  # bounded: far more than queue + socket buffers
                try:
                    # Whole frames: a partial send is continued, not restarted.
                    sent += s.send(message[sent % len(message):])
                    stuck_since = None
                except BlockingIOError:
                    stuck_since = stuck_since or time.monotonic()
                    if time.monotonic() - stuck_since > 1.0:
                        break
                    time.sleep(0.01)
            check(stuck_since is not None, f"the server kept reading: {sent >> 20} MiB never read back")
            after = inst.scrape()
            eq(val(after, "wsgate_connections", state="websocket"), 1.0, "still open")
            print(f"     sent {sent >> 10} KiB before the server stopped reading; parked "
                  f"{val(after, 'wsgate_parked_input_bytes'):.0f} bytes", flush=True)
            check(val(after, "wsgate_backpressure_pauses_total")
                  > val(before, "wsgate_backpressure_pauses_total"), "no backpressure pause")
        finally:
            s.close()


def pubsub_counted():
    subscribers = 2
    publications = 3
    with Instance(["--mode", "pubsub", "--api-key", API_KEY]) as inst:
        before = inst.scrape()
        eq(val(before, "wsgate_pubsub_clients"), 0.0, "no clients yet")
        conns = [open_connected(inst.port) for _ in range(subscribers)]
        try:
            for c in conns:
                c.subscribe("news")
            wait_value(inst, "wsgate_pubsub_clients", float(subscribers), "clients")
            eq(val(inst.scrape(), "wsgate_pubsub_subscriptions"), float(subscribers),
               "subscriptions")
            api = Api(inst.port, API_KEY)
            for i in range(publications):
                api.publish("news", {"n": i})
            for c in conns:
                for _ in range(publications):
                    c.push(kind="pub")
            after = inst.scrape()
            eq(val(after, "wsgate_pubsub_publications_total")
               - val(before, "wsgate_pubsub_publications_total"), float(publications),
               "publications")
            eq(val(after, "wsgate_pubsub_deliveries_total")
               - val(before, "wsgate_pubsub_deliveries_total"),
               float(publications * subscribers), "deliveries")
            check(val(after, "wsgate_pubsub_channels") >= 1, "a channel alive")
            eq(val(after, "wsgate_connections", state="websocket"), float(subscribers),
               "websocket connections")
        finally:
            for c in conns:
                c.close()
        wait_value(inst, "wsgate_pubsub_subscriptions", 0.0, "subscriptions after the clients left")
        wait_value(inst, "wsgate_pubsub_clients", 0.0, "clients after they left")


def admin_port_not_shared():
    """A second wsgate cannot take the same admin address (no SO_REUSEPORT):
    scrapes must not land on either of two processes."""
    with Instance() as inst:
        other = Server(BIN, ["--listen", f"127.0.0.1:{free_port()}", "--admin-listen",
                             f"127.0.0.1:{inst.admin}", "--backend", BACKEND, "--threads", "1"],
                       wait_lines=0)
        try:
            status = other.proc.wait(10)
            eq(status, 1, "exit status of the second process")
            check("Address already in use" in other.log(), f"log: {other.log()[-200:]!r}")
        finally:
            other.stop()
        eq(inst.get("/readyz")[0], 200, "the first still answers")


def ready_then_draining():
    """/readyz 503 from SIGTERM until exit, while a client holds the drain."""
    with Instance() as inst:
        eq(inst.get("/readyz")[0], 200, "/readyz while serving")
        c = Conn(port=inst.port)
        try:
            c.handshake()
            wait_value(inst, "wsgate_connections", 1.0, "one open", state="websocket")
            inst.srv.proc.send_signal(15)
            deadline = time.monotonic() + CLOSE_TIMEOUT / 2
            while True:
                status = inst.get("/readyz")[0]
                if status == 503:
                    break
                check(time.monotonic() < deadline, f"/readyz still {status} after SIGTERM")
                time.sleep(0.02)
            check(inst.srv.proc.poll() is None, "the server was draining when /readyz said 503")
            eq(val(inst.scrape(), "wsgate_ready"), 0.0, "wsgate_ready while draining")
            eq(inst.get("/healthz")[0], 200, "/healthz while draining (still alive)")
        finally:
            c.close()
        eq(inst.srv.terminate(CLOSE_TIMEOUT + 5), 0, "exit status")


suite.run("the exposition parses (prometheus_client), HELP+TYPE per family, counters end in "
          "_total, loop info names the backend, histogram cumulative; /healthz /readyz 404 405",
          format_parses)
suite.run("20 WebSocket connections: gauge 20, accepted +20, 101 +20; close 1000 counted both "
          "ways, gauges back to 0", connections_counted)
suite.run("two listeners: 3 and 2 connections counted by address, then 0", listeners_counted)
suite.run("proxy: the upstream connection counted as outbound, then 0", proxy_outbound_counted)
suite.run("50 text messages echoed: messages and bytes in/out +50 / +500; ping, pong and close "
          "counted by opcode",
          messages_counted)
suite.run("refused handshakes counted by status (426 once, 400 twice)", refusals_counted)
suite.run("a client that never reads: backpressure pauses counted", backpressure_counted)
suite.run("pubsub: 3 publications to 2 subscribers: publications +3, deliveries +6, clients and "
          "subscriptions 2, then 0",
          pubsub_counted)
suite.run("a second process cannot bind the same --admin-listen address (exit 1)",
          admin_port_not_shared)
suite.run("/readyz 200 while serving, 503 once SIGTERM began the drain; /healthz still 200",
          ready_then_draining)
suite.finish()
