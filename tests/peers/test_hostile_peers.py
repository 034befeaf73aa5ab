#!/usr/bin/python3
"""Peers that send and never read cannot take a loop's memory from the others.

  test_hostile_peers.py WSGATE_BINARY BACKEND [CASE-FILTER...]

Each case starts an instance of its own with one loop (--threads 1):

- ring: N clients (WSGATE_HOSTILE_CLIENTS, default 24) send 64 KiB binary
  messages as fast as they can and never read, against a 64-buffer receive
  ring (--recv-buffers 64), until every one is stuck. Zero-copy echo lends
  receive buffers to their output queues; without a per-loop budget they
  hold the whole ring and nobody else on the loop is read. While they are
  stuck, a canary client that was connected before must get every echo
  within CANARY_MAX_MS, and new clients must still upgrade and echo.
  By hand, the issue's scale: WSGATE_HOSTILE_CLIENTS=1000
  WSGATE_HOSTILE_RING=1024 (ulimit -n must allow it).
"""

import os
import selectors
import socket
import statistics
import sys
import time

import wsraw
from wsgate_proc import Server, free_port, rss_kib
from wsraw import OP_BINARY, OP_CLOSE, OP_TEXT, Conn, check, close_payload, frame

if len(sys.argv) < 3:
    print("usage: test_hostile_peers.py WSGATE_BINARY BACKEND", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(2)
BIN, BACKEND = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
suite = wsraw.Suite("hostile_peers")

N_HOSTILE = int(os.environ.get("WSGATE_HOSTILE_CLIENTS", "24"))
RING = int(os.environ.get("WSGATE_HOSTILE_RING", "64"))  # --recv-buffers
MAX_QUEUED = 256 << 10  # --max-queued-bytes: small, so the stuck clients cost little memory
MESSAGE = 64 << 10
SEND_LIMIT = 16 << 20  # per hostile client: far more than socket buffers + queue
STUCK_AFTER = 1.0  # seconds without send progress = stuck
FILL_TIMEOUT = 30.0
CANARY_ECHOES = 50
CANARY_GAP = 0.02
CANARY_MAX_MS = 50.0
NEW_CLIENTS = 5


def start(extra):
    port = free_port()
    flags = ["--listen", f"127.0.0.1:{port}", "--backend", BACKEND, "--threads", "1",
             "--max-queued-bytes", str(MAX_QUEUED), "--close-timeout", "2",
             "--handshake-timeout", "10", "--idle-timeout", "120"] + extra
    return Server(BIN, flags), port


def open_ws(port, rcvbuf=None):
    """An upgraded raw connection; a small receive buffer makes a non-reader
    stall sooner (its echoes pile up in the server, not in the kernel)."""
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, rcvbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    c = Conn.__new__(Conn)
    c.sock, c.buf, c.pos, c.port = s, bytearray(), 0, port
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.handshake()
    return c


def flood_until_stuck(conns, payload_frame):
    """Sends payload_frame over and over on every connection (never reading)
    until none has made progress for STUCK_AFTER s. Returns (seconds, bytes
    sent per connection)."""
    sel = selectors.DefaultSelector()
    sent = {}
    last = {}
    now = time.monotonic()
    for c in conns:
        c.sock.setblocking(False)
        sel.register(c.sock, selectors.EVENT_WRITE, c)
        sent[c] = 0
        last[c] = now
    t0 = now
    view = memoryview(payload_frame)
    active = set(conns)
    while active and time.monotonic() - t0 < FILL_TIMEOUT:
        for key, _ in sel.select(timeout=0.1):
            c = key.data
            off = sent[c] % len(payload_frame)
            try:
                n = c.sock.send(view[off:])
            except BlockingIOError:
                continue
            sent[c] += n
            last[c] = time.monotonic()
            if sent[c] >= SEND_LIMIT:
                sel.unregister(c.sock)
                active.discard(c)
        now = time.monotonic()
        for c in list(active):
            if now - last[c] > STUCK_AFTER:
                sel.unregister(c.sock)
                active.discard(c)
    sel.close()
    return time.monotonic() - t0, [sent[c] for c in conns]


def canary_latencies(canary):
    out = []
    for k in range(CANARY_ECHOES):
        msg = f"canary {k}".encode()
        t0 = time.monotonic()
        canary.send(frame(OP_TEXT, msg))
        op, got = canary.read_message()
        out.append((time.monotonic() - t0) * 1000)
        check(op == OP_TEXT and got == msg, f"canary echo {k} wrong: {got[:40]!r}")
        time.sleep(CANARY_GAP)
    return out


def reset_all(conns):
    for c in conns:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()


def ring_starvation():
    srv, port = start(["--recv-buffers", str(RING)])
    hostile = []
    try:
        canary = open_ws(port)
        canary.echo(OP_TEXT, "canary warm-up")
        for _ in range(N_HOSTILE):
            hostile.append(open_ws(port, rcvbuf=16 << 10))
        secs, sent = flood_until_stuck(hostile, frame(OP_BINARY, os.urandom(MESSAGE)))
        stuck = sum(1 for n in sent if n < SEND_LIMIT)
        print(f"     {N_HOSTILE} non-reading clients stuck after {secs:.1f}s, sent "
              f"{min(sent) >> 10}..{max(sent) >> 10} KiB each; server RSS "
              f"{rss_kib(srv.pid) >> 10} MiB", flush=True)
        check(stuck == N_HOSTILE, f"only {stuck} of {N_HOSTILE} clients got stuck")
        canary.sock.settimeout(5)
        lat = canary_latencies(canary)
        lat_sorted = sorted(lat)
        print(f"     canary echo ms: median {statistics.median(lat):.1f}, "
              f"p95 {lat_sorted[int(0.95 * len(lat)) - 1]:.1f}, max {max(lat):.1f}", flush=True)
        check(max(lat) < CANARY_MAX_MS,
              f"canary echo took {max(lat):.1f} ms (limit {CANARY_MAX_MS} ms)")
        for i in range(NEW_CLIENTS):
            t0 = time.monotonic()
            with Conn(port=port, timeout=2) as c:
                c.handshake()
                c.echo(OP_TEXT, f"new client {i}")
                c.send(frame(OP_CLOSE, close_payload(1000)))
            check(time.monotonic() - t0 < 1.0, f"new client {i} took {time.monotonic() - t0:.2f}s")
        reset_all(hostile)
        hostile = []
        canary.echo(OP_TEXT, "canary after the flood")
        check(srv.terminate(wsraw.CLOSE_TIMEOUT + 5) == 0, "exit status after SIGTERM")
    finally:
        reset_all(hostile)
        srv.stop()


suite.run(f"{N_HOSTILE} non-readers with 64 KiB messages vs a {RING}-buffer ring: canary "
          f"echoes < {CANARY_MAX_MS:.0f} ms, new clients upgrade", ring_starvation)
suite.finish()
