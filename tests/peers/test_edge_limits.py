#!/usr/bin/python3
"""Admission at the edge: each limit holds against an abuser while
well-behaved clients on the same machine connect and echo as usual.

  test_edge_limits.py WSGATE_BINARY BACKEND [CASE-FILTER...]

Each case starts an instance of its own with --admin-listen and reads the
refusals it counted from GET /metrics (prometheus_client's parser):

- origin: --allow-origin exact and wildcard patterns, per listener and per
  path prefix (most specific scope decides): allowed
  origins (and requests without Origin) upgrade; others get 403 before the
  upgrade, one throttled log line per second, counted by limit.
- per-address connections: --max-connections-per-ip holds one address's
  open connections at the limit (429 with Retry-After) while other
  addresses connect and echo; closing one lets the next in.
- per-address connection rate: --connection-rate-per-ip with a burst
  admits the burst then 429 with Retry-After, refills at the rate; other
  addresses are unaffected; a sweep of 2,000 distinct addresses (one
  connection each) is admitted with bounded server memory.
- message and byte rates: a connection sending faster than
  --max-messages-per-second / --max-bytes-per-second (after its burst) is
  closed 1008 with the reason, pings count as messages; connections under
  the rates on the same server echo every message throughout.
- head limits: --max-request-head-bytes and --max-request-headers give 431
  one byte / one field past them, and not at them.
"""

import os
import re
import signal
import socket
import struct
import tempfile
import sys
import threading
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

import wsraw
from wsgate_proc import Server, free_port, rss_kib
from wsraw import OP_BINARY, OP_CLOSE, OP_PING, OP_TEXT, check, close_payload, eq, frame

if len(sys.argv) < 3:
    print("usage: test_edge_limits.py WSGATE_BINARY BACKEND", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(2)
BIN, BACKEND = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
suite = wsraw.Suite("edge_limits")

THREADS = 2
IO = 5.0
WORK = tempfile.mkdtemp(prefix="wsgate-edge-limits.")


class Instance:
    """A wsgate with an admin listener; ports[i] is its i-th --listen port."""

    def __init__(self, flags, listeners=1):
        self.ports = [free_port() for _ in range(listeners)]
        self.admin = free_port()
        args = []
        for p in self.ports:
            args += ["--listen", f"127.0.0.1:{p}"]
        args += ["--admin-listen", f"127.0.0.1:{self.admin}", "--backend", BACKEND, "--threads",
                 str(THREADS), "--close-timeout", "2", "--idle-timeout", "60"]
        self.srv = Server(BIN, args + [f.format(**self.names()) for f in flags],
                          wait_lines=listeners)
        self.port = self.ports[0]

    def names(self):
        return {f"listen{i}": f"127.0.0.1:{p}" for i, p in enumerate(self.ports)}

    def scrape(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/metrics", timeout=5) as r:
            text = r.read().decode()
        samples = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return samples

    def refusals(self, limit):
        return self.scrape()[("wsgate_limit_refusals_total", (("limit", limit),))]

    def status_count(self, status):
        return self.scrape().get(("wsgate_handshakes_total", (("status", str(status)),)), 0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.srv.stop()


def upgrade_status(port, extra=(), src=None, want_headers=False, path="/"):
    """The status of an upgrade request's answer (101 or the refusal), and
    the open connection when it is 101."""
    sock = socket.socket()
    if src:
        sock.bind((src, 0))
    sock.settimeout(IO)
    sock.connect(("127.0.0.1", port))
    c = wsraw.Conn.__new__(wsraw.Conn)
    c.sock, c.buf, c.pos, c.port = sock, bytearray(), 0, port
    key = wsraw.new_key()
    c.send(wsraw.build_upgrade(path, key, f"127.0.0.1:{port}", extra=extra))
    status, hdrs, _ = wsraw.read_http_response(c, read_body=False)
    if status != 101:
        if status >= 400:
            # A refusal: its body, then the server's FIN.
            c.recv_exact(int(hdrs.get("content-length", "0")))
            c.expect_eof(IO)
        c.close()
        return (status, hdrs, None) if want_headers else (status, None)
    return (status, hdrs, c) if want_headers else (status, c)


def echo_and_close(c, text):
    c.echo(OP_TEXT, text)
    c.send(frame(OP_CLOSE, close_payload(1000)))
    c.expect_close(1000, reply=False)
    c.close()


def well_behaved(port, n, tag, src="127.0.0.1", origin=None):
    """n clients that connect, upgrade, echo and close: all must succeed."""
    extra = [f"Origin: {origin}"] if origin else []
    for i in range(n):
        status, c = upgrade_status(port, extra, src)
        eq(status, 101, f"{tag}: well-behaved client {i}")
        echo_and_close(c, f"{tag} {i}")


def origin_allow_list():
    flags = ["--allow-origin", "https://app.example.com", "--allow-origin", "*.example.org",
             "--allow-origin", "{listen1}=http://localhost:3000",
             "--allow-origin", "/admin=https://admin.example.com"]
    with Instance(flags, listeners=2) as inst:
        p0, p1 = inst.ports
        allowed = ["https://app.example.com", "HTTPS://APP.Example.com", "https://a.example.org",
                   "http://x.y.example.org"]
        refused = ["https://evil.example.com", "https://app.example.com:8443",
                   "http://app.example.com", "https://example.org", "https://app.example.com.evil",
                   "null", "https://app.example.com/path", "http://localhost:3000"]
        for o in allowed:
            status, c = upgrade_status(p0, [f"Origin: {o}"])
            eq(status, 101, f"Origin {o} on the first listener")
            echo_and_close(c, o)
        for o in refused:
            eq(upgrade_status(p0, [f"Origin: {o}"])[0], 403, f"Origin {o} on the first listener")
        eq(upgrade_status(p0)[0], 101, "no Origin (not a browser)")
        eq(upgrade_status(p0, ["Origin: https://app.example.com",
                               "Origin: https://evil.example.com"])[0], 403, "two Origin lines")
        # The second listener's own list replaces the global one there.
        status, c = upgrade_status(p1, ["Origin: http://localhost:3000"])
        eq(status, 101, "the second listener's own origin")
        echo_and_close(c, "localhost")
        eq(upgrade_status(p1, ["Origin: http://localhost:3001"])[0], 403, "other port")
        eq(upgrade_status(p1, ["Origin: https://app.example.com"])[0], 403,
           "a global origin on the listener with a list of its own")
        # A path prefix (a proxy route, say) decides for the paths under it.
        for p in (p0, p1):
            status, c = upgrade_status(p, ["Origin: https://admin.example.com"],
                                       path="/admin/room?x=1")
            eq(status, 101, "the admin origin under /admin")
            echo_and_close(c, "admin")
            eq(upgrade_status(p, ["Origin: https://app.example.com"], path="/admin")[0], 403,
               "a global origin under /admin")
        eq(upgrade_status(p0, ["Origin: https://admin.example.com"], path="/chat")[0], 403,
           "the admin origin elsewhere")
        n_refused = len(refused) + 2 + 1 + 2 + 1
        eq(inst.refusals("origin"), n_refused, "wsgate_limit_refusals_total{limit=origin}")
        eq(inst.status_count(403), n_refused, "wsgate_handshakes_total{status=403}")

        # A flood of bad origins from one thread, well-behaved clients from
        # another at the same time: every one of them upgrades and echoes.
        n_flood = 300
        errors = []

        def flood():
            try:
                for i in range(n_flood):
                    st = upgrade_status(p0, [f"Origin: https://evil{i}.test"])[0]
                    if st != 403:
                        errors.append(st)
            except Exception as e:  # noqa: BLE001
                errors.append(e)
        t0 = time.monotonic()
        t = threading.Thread(target=flood)
        t.start()
        well_behaved(p0, 20, "during the origin flood", origin="https://b.example.org")
        t.join()
        seconds = time.monotonic() - t0
        eq(errors, [], "flood answers other than 403")
        eq(inst.refusals("origin"), n_refused + n_flood, "origin refusals after the flood")
        eq(inst.srv.terminate(wsraw.CLOSE_TIMEOUT + 5), 0, "exit status after SIGTERM")
        lines = [l for l in inst.srv.log().splitlines() if re.match(r"wsgate: refused .*403", l)]
        bound = 2 * THREADS * (int(seconds) + 3)
        print(f"     {n_refused + n_flood} refusals with 403 in {seconds:.1f}s: {len(lines)} log "
              f"lines (bound {bound})", flush=True)
        check(1 <= len(lines) <= bound, f"{len(lines)} log lines for the 403s, bound {bound}")
        check(all("origin not allowed" in l for l in lines), "403 lines name the reason")


def retry_after(port, src):
    """Upgrade from src expecting 429: returns its Retry-After seconds."""
    status, hdrs, _ = upgrade_status(port, src=src, want_headers=True)
    eq(status, 429, f"upgrade from {src}")
    check("retry-after" in hdrs, f"429 without Retry-After: {hdrs}")
    return int(hdrs["retry-after"])


def per_ip_connections():
    cap = 5
    with Instance(["--max-connections-per-ip", str(cap)]) as inst:
        held = []
        try:
            for i in range(cap):
                status, c = upgrade_status(inst.port, src="127.0.0.2")
                eq(status, 101, f"connection {i} of the capped address")
                held.append(c)
            for _ in range(20):
                eq(retry_after(inst.port, "127.0.0.2"), 1, "Retry-After")
            # Meanwhile every other address is served, and 127.0.0.1 too.
            for i in range(10):
                well_behaved(inst.port, 2, f"address 127.0.0.{3 + i}", src=f"127.0.0.{3 + i}")
            well_behaved(inst.port, 10, "127.0.0.1")
            for c in held:
                c.echo(OP_TEXT, "held connections still echo")
            # One closes: the address may open one more, not two.
            echo_and_close(held.pop(), "bye")
            deadline = time.monotonic() + IO
            while True:
                status, c = upgrade_status(inst.port, src="127.0.0.2")
                if status == 101:
                    held.append(c)
                    break
                check(time.monotonic() < deadline, "the freed place was never given back")
                time.sleep(0.05)
            eq(upgrade_status(inst.port, src="127.0.0.2")[0], 429, "over the cap again")
        finally:
            for c in held:
                c.close()
        got = inst.refusals("ip_connections")
        check(got >= 21, f"wsgate_limit_refusals_total{{limit=ip_connections}} {got}, want >= 21")
        eq(inst.refusals("ip_connection_rate"), 0, "rate refusals")


def per_ip_rate():
    rate, burst = 5, 10
    with Instance(["--connection-rate-per-ip", str(rate), "--connection-burst-per-ip",
                   str(burst)]) as inst:
        results = []
        errors = []

        def steady():
            try:
                for i in range(8):
                    well_behaved(inst.port, 1, "steady client", src=f"127.0.0.{20 + i}")
                    time.sleep(0.1)
            except Exception as e:  # noqa: BLE001
                errors.append(e)
        t = threading.Thread(target=steady)
        t.start()
        t0 = time.monotonic()
        for _ in range(40):
            status, hdrs, c = upgrade_status(inst.port, src="127.0.0.2", want_headers=True)
            results.append((status, hdrs.get("retry-after")))
            if c:
                echo_and_close(c, "within the burst")
        spent = time.monotonic() - t0
        t.join()
        eq(errors, [], "steady clients from other addresses")
        admitted = sum(1 for st, _ in results if st == 101)
        refused = [ra for st, ra in results if st == 429]
        print(f"     --connection-rate-per-ip {rate} burst {burst}: 40 connections in "
              f"{spent:.2f}s from one address, {admitted} admitted, {len(refused)} got 429 "
              f"(Retry-After {sorted(set(refused))})", flush=True)
        check(burst <= admitted <= burst + rate * spent + 1, f"{admitted} admitted")
        eq(admitted + len(refused), 40, "every connection answered 101 or 429")
        check(all(ra is not None and int(ra) >= 1 for ra in refused), "Retry-After on each 429")
        eq(inst.refusals("ip_connection_rate"), len(refused), "rate refusals counted")
        time.sleep(1.0 / rate + 0.1)
        status, c = upgrade_status(inst.port, src="127.0.0.2")
        eq(status, 101, "a token back after 1/rate seconds")
        echo_and_close(c, "refilled")


def sweep(port, n, net):
    """One upgrade from each of n distinct addresses 127.<net>.x.y, closed
    at once (RST): {status: count}."""
    statuses = {}
    for i in range(n):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.bind((f"127.{net}.{i // 250}.{i % 250 + 1}", 0))
        s.settimeout(IO)
        s.connect(("127.0.0.1", port))
        s.sendall(wsraw.build_upgrade("/", None, f"127.0.0.1:{port}"))
        st = s.recv(4096)[9:12].decode()
        statuses[st] = statuses.get(st, 0) + 1
        s.close()
    return statuses


def distinct_address_sweep():
    n = 2000
    # Few receive buffers, so the io_uring ring is all touched by the warm-up
    # and what grows after it is per-address state: the tables' pages as
    # addresses land on them, never more than the tables (the rate table is
    # 64 Ki entries of 24 bytes, the open-connection table 16 bytes per slot
    # of 2 x (--max-connections + refusal slots)).
    with Instance(["--connection-rate-per-ip", "1", "--max-connections-per-ip", "1",
                   "--recv-buffers", "64", "--max-connections", "1000"]) as inst:
        for i in range(3):
            well_behaved(inst.port, 1, "before the sweep", src=f"127.0.0.{1 + i}")
        eq(sweep(inst.port, 500, 3), {"101": 500}, "warm-up answers")
        rss0 = rss_kib(inst.srv.pid)
        statuses = sweep(inst.port, n, 1)
        rss1 = rss_kib(inst.srv.pid)
        statuses2 = sweep(inst.port, n, 2)
        rss2 = rss_kib(inst.srv.pid)
        for i in range(3):
            well_behaved(inst.port, 1, "after the sweep", src=f"127.0.0.{4 + i}")
        print(f"     2 x {n} distinct addresses, one connection each: answers {statuses}, "
              f"{statuses2}; server RSS {rss0} -> {rss1} -> {rss2} KiB", flush=True)
        eq(statuses, {"101": n}, "answers")
        eq(statuses2, {"101": n}, "answers of the second sweep")
        tables_kib = (65536 * 24 + 16 * 8192) // 1024
        check(rss2 - rss0 <= tables_kib + 512, f"RSS grew {rss2 - rss0} KiB, tables {tables_kib}")
        check(rss2 - rss1 <= 512, f"the second {n} addresses added {rss2 - rss1} KiB")


def idle_tables_cost_nothing():
    """The per-address and per-connection tables are sized for every
    connection (--max-connections 100000) but are zero pages until used:
    an instance with every limit on is as small as one without (with
    calloc under mimalloc they were memset at start: +8.6 MB)."""
    plain = Instance([])
    try:
        with Instance(["--max-connections-per-ip", "5", "--connection-rate-per-ip", "5",
                       "--max-messages-per-second", "10", "--max-bytes-per-second", "1000"]) as lim:
            a, b = rss_kib(plain.srv.pid), rss_kib(lim.srv.pid)
            print(f"     RSS at start: no limits {a} KiB, every limit on {b} KiB", flush=True)
            check(b - a < 2048, f"limits cost {b - a} KiB at start")
    finally:
        plain.srv.stop()


def flood_until_closed(port, make_frame, n, want_reason):
    """Opens a connection, sends n frames at once and reads until the
    server's close: returns how many echoed messages came before it (closed 1008
    with want_reason, else a failure) and the seconds from the upgrade to
    the close (a bucket refills meanwhile)."""
    status, c = upgrade_status(port)
    eq(status, 101, "abuser's upgrade")
    t0 = time.monotonic()
    try:
        c.send_in_background(b"".join(make_frame(i) for i in range(n)))
        echoes = 0
        while True:
            f = c.read_frame()
            if f.opcode == OP_CLOSE:
                eq(f.close_code(), 1008, "abuser's close code")
                eq(f.payload[2:].decode(), want_reason, "close reason")
                return echoes, time.monotonic() - t0
            echoes += 1 if f.fin else 0
            c.echoed_bytes = getattr(c, "echoed_bytes", 0) + len(f.payload)
    finally:
        c.close()


def steady_client(port, rate, seconds, size, results, i):
    """Sends `rate` messages of `size` bytes per second for `seconds`, each
    echoed before the next: appends the number echoed, or the error."""
    try:
        status, c = upgrade_status(port)
        eq(status, 101, "steady client's upgrade")
        n = int(rate * seconds)
        t0 = time.monotonic()
        for k in range(n):
            c.echo(OP_BINARY, bytes([k % 256]) * size)
            delay = t0 + (k + 1) / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        c.send(frame(OP_CLOSE, close_payload(1000)))
        c.expect_close(1000, reply=False)
        c.close()
        results[i] = n
    except Exception as e:  # noqa: BLE001
        results[i] = e


def with_steady_clients(port, n, rate, seconds, size, abuse):
    """Runs n steady clients while abuse() runs; all must finish clean."""
    results = [None] * n
    threads = [threading.Thread(target=steady_client, args=(port, rate, seconds, size, results, i))
               for i in range(n)]
    for t in threads:
        t.start()
    out = abuse()
    for t in threads:
        t.join()
    want = int(rate * seconds)
    eq(results, [want] * n, "messages echoed to the well-behaved clients")
    return out


def message_rate():
    rate, burst = 50, 20
    with Instance(["--max-messages-per-second", str(rate), "--message-burst", str(burst)]) as inst:
        def abuse():
            echoes, t = flood_until_closed(inst.port, lambda i: frame(OP_TEXT, b"m%d" % i), 2000,
                                           "message rate limit exceeded")
            # The burst, plus at most what the rate refilled while they arrived.
            check(burst <= echoes <= burst + rate * t + 1, f"{echoes} echoes in {t:.3f}s")
            pings, t = flood_until_closed(inst.port, lambda i: frame(OP_PING, b"p"), 2000,
                                          "message rate limit exceeded")
            check(burst <= pings <= burst + rate * t + 1, f"{pings} pongs in {t:.3f}s")
            return echoes, pings
        echoes, pings = with_steady_clients(inst.port, 3, rate / 2, 2.0, 10, abuse)
        print(f"     --max-messages-per-second {rate} --message-burst {burst}: abuser got "
              f"{echoes} echoes, ping flooder {pings} pongs, then 1008", flush=True)
        eq(inst.refusals("message_rate"), 2, "wsgate_limit_refusals_total{limit=message_rate}")
        eq(inst.refusals("byte_rate"), 0, "byte_rate refusals")
        eq(inst.scrape()[("wsgate_close_codes_sent_total", (("code", "1008"),))], 2,
           "close 1008 sent")
        eq(inst.srv.terminate(wsraw.CLOSE_TIMEOUT + 5), 0, "exit status after SIGTERM")
        lines = [l for l in inst.srv.log().splitlines() if "max-messages-per-second" in l]
        check(1 <= len(lines) <= 2, f"log lines for the closes: {lines}")
        # The counts in the lines add up (the last one is written at shutdown).
        eq(sum(int(re.search(r"closed (\d+) connection", l).group(1)) for l in lines), 2,
           f"connections counted in the log lines {lines}")


def byte_rate():
    rate, size = 200_000, 16_000
    with Instance(["--max-bytes-per-second", str(rate)]) as inst:
        def abuse():
            return flood_until_closed(inst.port, lambda i: frame(OP_BINARY, b"x" * size), 100,
                                      "byte rate limit exceeded")
        # Well-behaved: 4 clients at a quarter of the rate each (a limit per connection).
        echoes, t = with_steady_clients(inst.port, 4, 12, 2.0, rate // 4 // 12, abuse)
        # The burst (one second's worth), plus the refill while they arrived.
        check(rate // size - 1 <= echoes and echoes * size <= rate + rate * t,
              f"{echoes} echoes of {size} bytes in {t:.3f}s")
        print(f"     --max-bytes-per-second {rate}: abuser sending {size}-byte messages got "
              f"{echoes} echoes, then 1008", flush=True)
        eq(inst.refusals("byte_rate"), 1, "wsgate_limit_refusals_total{limit=byte_rate}")
        eq(inst.refusals("message_rate"), 0, "message_rate refusals")


def origin_reload():
    """--allow-origin and the head limits are live: SIGHUP with a changed
    --config file applies them to the next upgrade, open connections stay."""
    path = os.path.join(WORK, "gate.toml")
    with open(path, "w") as f:
        f.write('allow-origin = ["https://a.test"]\nmax-request-headers = 64\n')
    with Instance(["--config", path]) as inst:
        eq(upgrade_status(inst.port, ["Origin: https://b.test"])[0], 403, "b.test before")
        status, kept = upgrade_status(inst.port, ["Origin: https://a.test"])
        eq(status, 101, "a.test before")
        with open(path, "w") as f:
            f.write('allow-origin = ["https://b.test"]\nmax-request-headers = 8\n')
        os.kill(inst.srv.pid, signal.SIGHUP)
        inst.srv.wait_for(lambda log: "applied allow-origin, max-request-headers" in log, IO,
                          "the reload line")
        status, c = upgrade_status(inst.port, ["Origin: https://b.test"])
        eq(status, 101, "b.test after the reload")
        echo_and_close(c, "b.test")
        eq(upgrade_status(inst.port, ["Origin: https://a.test"])[0], 403, "a.test after")
        eq(upgrade_status(inst.port, ["Origin: https://b.test"] + [f"X-{i}: v" for i in range(4)])[0],
           431, "9 fields over the reloaded --max-request-headers 8")
        echo_and_close(kept, "the connection upgraded before the reload")


def proxy_route_origin():
    upstream = Instance([])
    try:
        flags = ["--mode", "proxy", "--upstream", f"pool=127.0.0.1:{upstream.port}",
                 "--route", "/chat=pool", "--route", "/=pool",
                 "--allow-origin", "/chat=https://chat.example.com"]
        with Instance(flags) as proxy:
            status, c = upgrade_status(proxy.port, ["Origin: https://chat.example.com"],
                                       path="/chat/1")
            eq(status, 101, "the route's origin through the proxy")
            echo_and_close(c, "relayed")
            eq(upgrade_status(proxy.port, ["Origin: https://evil.test"], path="/chat/1")[0], 403,
               "another origin on the route")
            status, c = upgrade_status(proxy.port, ["Origin: https://evil.test"], path="/other")
            eq(status, 101, "another route has no list")
            echo_and_close(c, "other route")
            eq(proxy.refusals("origin"), 1, "origin refusals at the proxy")
            eq(upstream.refusals("origin"), 0, "nothing refused reached the upstream")
    finally:
        upstream.srv.stop()


def head_limits():
    head_bytes, headers = 1024, 12
    with Instance(["--max-request-head-bytes", str(head_bytes), "--max-request-headers",
                   str(headers)]) as inst:
        base = wsraw.build_upgrade("/", None, f"127.0.0.1:{inst.port}")  # 5 fields
        pad_line = len("X-Pad: \r\n")

        def padded(total):
            """An upgrade head of exactly `total` bytes."""
            return base[:-2] + b"X-Pad: " + b"a" * (total - len(base) - pad_line) + b"\r\n\r\n"

        def fields(n):
            return wsraw.build_upgrade("/", None, f"127.0.0.1:{inst.port}",
                                       extra=[f"X-F{i}: v" for i in range(n - 5)])

        for raw, want, what in [(padded(head_bytes), 101, "a head of exactly the limit"),
                                (padded(head_bytes + 1), 431, "one byte over"),
                                (fields(headers), 101, "exactly the field limit"),
                                (fields(headers + 1), 431, "one field over")]:
            c = wsraw.Conn(port=inst.port)
            try:
                c.send(raw)
                status, _, _ = wsraw.read_http_response(c, read_body=False)
                eq(status, want, what)
            finally:
                c.close()
        well_behaved(inst.port, 5, "after the 431s")
        eq(inst.status_count(431), 2, "wsgate_handshakes_total{status=431}")


suite.run("--allow-origin: exact, wildcard, per listener, per path prefix; others 403 before the upgrade, "
          "counted, log throttled; well-behaved clients served during a flood", origin_allow_list)
suite.run("--allow-origin and head limits reloaded live on SIGHUP; open connections stay",
          origin_reload)
suite.run("--allow-origin /PREFIX= on a proxy route: 403 at the proxy, other routes open",
          proxy_route_origin)
suite.run("--max-connections-per-ip: 429 with Retry-After at the limit, other addresses "
          "served, a closed connection frees its place", per_ip_connections)
suite.run("--connection-rate-per-ip: burst then 429 with Retry-After, refill at the rate, "
          "other addresses unaffected", per_ip_rate)
suite.run("2,000 distinct addresses: all admitted, bounded server memory", distinct_address_sweep)
suite.run("per-address and per-connection tables cost nothing at start", idle_tables_cost_nothing)
suite.run("--max-messages-per-second: a flood (and a ping flood) closed 1008 after the burst, "
          "steady clients under the rate unaffected", message_rate)
suite.run("--max-bytes-per-second: a byte flood closed 1008, steady clients unaffected",
          byte_rate)
suite.run("--max-request-head-bytes / --max-request-headers: 431 one past the limit, not at it",
          head_limits)
suite.finish()
