#!/usr/bin/python3
"""Idle handling and backpressure (server contract, "Idle" and
"Backpressure").

Idle, against the instance started with --idle-timeout WSGATE_IDLE_SHORT
(port WSGATE_PORT_IDLE): a silent client gets a ping at about half the idle
timeout and a close 1001 at the idle timeout; a client that answers pings
with pongs stays open; any received byte resets the clock.

Backpressure, against the main instance (WSGATE_PID is the server process):
a client that sends much more than it reads must stall (the server stops
reading) instead of growing the server's memory without bound, and every
echo still arrives intact once the client reads."""

import os
import threading
import time

import wsraw
from wsraw import OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, Conn, check, close_payload, eq, frame

suite = wsraw.Suite("timeouts")
IDLE_PORT = int(os.environ.get("WSGATE_PORT_IDLE", "0"))
IDLE = float(os.environ.get("WSGATE_IDLE_SHORT", "2"))
PID = int(os.environ.get("WSGATE_PID", "0"))
SLACK = 0.6  # timer granularity and a loaded machine


def silent_client():
    with Conn(port=IDLE_PORT, timeout=IDLE + 3) as c:
        c.handshake()
        t0 = time.monotonic()
        f = c.read_frame()
        t_ping = time.monotonic() - t0
        eq(f.opcode, OP_PING, f"first frame from the server ({f!r})")
        check(IDLE / 2 - SLACK <= t_ping <= IDLE / 2 + SLACK,
              f"idle ping after {t_ping:.2f}s, want ~{IDLE / 2}s")
        f = c.read_frame()
        t_close = time.monotonic() - t0
        eq((f.opcode, f.close_code()), (OP_CLOSE, 1001), f"idle close ({f!r})")
        check(IDLE - SLACK <= t_close <= IDLE + SLACK,
              f"idle close after {t_close:.2f}s, want ~{IDLE}s")
        c.send(frame(OP_CLOSE, close_payload(1001)))
        c.expect_eof(wsraw.CLOSE_TIMEOUT + 2)


def pong_keeps_alive():
    with Conn(port=IDLE_PORT, timeout=IDLE + 3) as c:
        c.handshake()
        t0 = time.monotonic()
        pings = 0
        while time.monotonic() - t0 < IDLE * 2.5:
            c.sock.settimeout(IDLE + 3)
            f = c.read_frame()
            check(f.opcode == OP_PING, f"got {f!r} while answering pings")
            pings += 1
            c.send(frame(OP_PONG, f.payload))
        check(pings >= 3, f"only {pings} pings in {IDLE * 2.5}s")
        c.echo(OP_TEXT, "still open after answering pings")
        c.send(frame(OP_CLOSE, close_payload(1000)))
        c.expect_close(1000, reply=False, strict=True)


def traffic_keeps_alive():
    # A message every IDLE/3 seconds: never idle, so no ping and no close.
    with Conn(port=IDLE_PORT) as c:
        c.handshake()
        t0 = time.monotonic()
        while time.monotonic() - t0 < IDLE * 2:
            c.echo(OP_BINARY, b"tick")
            time.sleep(IDLE / 3)
        c.send(frame(OP_CLOSE, close_payload(1000)))
        c.expect_close(1000, reply=False, strict=True)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise wsraw.Failure("no VmRSS")


def backpressure():
    check(PID > 0, "WSGATE_PID not set")
    msg = os.urandom(1 << 20)
    total = 48  # 48 MiB offered while not reading
    fr = frame(OP_BINARY, msg)
    with Conn(timeout=20) as c:
        c.handshake()
        c.echo(OP_BINARY, b"warm up")
        base = rss_kib(PID)
        sent = [0]

        def sender():
            try:
                for _ in range(total):
                    c.sock.sendall(fr)
                    sent[0] += 1
            except OSError:
                pass

        t = threading.Thread(target=sender, daemon=True)
        t.start()
        # Without reading, the sender must stall well before all is sent.
        time.sleep(2.0)
        stalled_at = sent[0]
        grown = (rss_kib(PID) - base) // 1024
        check(stalled_at < total, f"server read all {total} MiB without the client reading")
        check(grown < 40, f"server RSS grew {grown} MiB while the client did not read")
        # Now read: every echo intact and in order, and the sender finishes.
        for k in range(total):
            op, got = c.read_message()
            if (op, got) != (OP_BINARY, msg):
                raise wsraw.Failure(f"echo {k} differs after backpressure")
        t.join(10)
        eq(sent[0], total, "messages sent")
        print(f"     sender stalled after {stalled_at} MiB; server RSS +{grown} MiB", flush=True)
        c.send(frame(OP_CLOSE, close_payload(1000)))
        c.expect_close(1000, reply=False, strict=True)


if IDLE_PORT:
    threads = []
    # The idle cases wait on timers; run them side by side to keep the suite short.
    results = {}

    def bg(name, fn):
        def run():
            try:
                fn()
                results[name] = None
            except Exception as e:  # noqa: BLE001
                results[name] = e
        th = threading.Thread(target=run, daemon=True)
        th.start()
        threads.append((name, th))

    bg("silent client: ping at idle/2, close 1001 at idle", silent_client)
    bg("answering pings keeps the connection open", pong_keeps_alive)
    bg("traffic keeps the connection open", traffic_keeps_alive)
    for name, th in threads:
        th.join(IDLE * 4 + 10)

        def report(name=name):
            if name not in results:
                raise wsraw.Failure("did not finish")
            if results[name] is not None:
                raise results[name]
        suite.run(name, report)
suite.run("backpressure: a client that does not read stalls, echoes intact", backpressure)
suite.run("server still serves a new client", wsraw.fresh_echo)
suite.finish()
