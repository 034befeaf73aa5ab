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
  WSGATE_HOSTILE_RING=1024 (ulimit -n must allow it; WSGATE_HOSTILE_FILL_TIMEOUT
  raises the 30 s allowed for them all to get stuck). Run once: io_uring
  before the lending budget, canary got no echo (timed out); after, 1000
  stuck in 6.2 s, canary max 0.4 ms; epoll max 5.1 ms.
- http: N clients (WSGATE_HTTP_CLIENTS, default 50) pipeline `GET /` (a
  1.3 KB page each) and never read; the server's RSS, sampled all along,
  must grow by at most N x (--max-queued-bytes + one response + the input
  parked per connection) + the receive ring + slack.
- deflate: N clients (WSGATE_DEFLATE_CLIENTS, default 10) send compressed
  messages the server must inflate and re-compress, and never read: the
  same bound plus each connection's zlib streams.
The parked input a connection may hold is what was delivered to it in the
turn it went over the cap: on epoll one read; on io_uring one armed receive,
which ends after 256 KiB on kernels with recv_total_limit (6.17), else up to
the ring or the socket's receive buffer (see parked_buffers).
"""

import os
import random
import selectors
import socket
import statistics
import sys
import threading
import time
import zlib

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
FILL_TIMEOUT = float(os.environ.get("WSGATE_HOSTILE_FILL_TIMEOUT", "30"))
CANARY_ECHOES = 50
CANARY_GAP = 0.02
CANARY_MAX_MS = 50.0
NEW_CLIENTS = 5
N_HTTP = int(os.environ.get("WSGATE_HTTP_CLIENTS", "50"))
N_DEFLATE = int(os.environ.get("WSGATE_DEFLATE_CLIENTS", "10"))
RECV_BUFFER = 16 << 10  # --recv-buffer-bytes (default)
DEFAULT_RING = 1024  # --recv-buffers (default), touched as data flows
RESPONSE = 2 << 10  # one demo-page response with its head
ZLIB_KIB = 400  # one connection's inflater + deflater while a message is in progress
SLACK_KIB = 12 << 10  # allocator and chunk-cache noise on top of the base


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


def rss_sampler(pid, stop, out):
    while not stop.is_set():
        try:
            out.append(rss_kib(pid))
        except (OSError, wsraw.Failure):
            return
        time.sleep(0.02)


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
        # A few may still be draining when the flood stops (seen under load); 20 of
        # 24 stuck readers already hold far more than the ring on the old code.
        check(stuck >= N_HOSTILE - 4, f"only {stuck} of {N_HOSTILE} clients got stuck")
        canary.sock.settimeout(5)
        lat = canary_latencies(canary)
        lat_sorted = sorted(lat)
        print(f"     canary echo ms: median {statistics.median(lat):.1f}, "
              f"p95 {lat_sorted[int(0.95 * len(lat)) - 1]:.1f}, max {max(lat):.1f}", flush=True)
        # Starvation shows as no echo at all (the 5 s timeout) or every echo
        # late; one echo delayed by the scheduler on a loaded 2-vCPU machine
        # (85 ms seen once on epoll with p95 10 ms) is not it: 90% of the
        # echoes within the limit, none beyond ten times it.
        p90 = lat_sorted[int(0.9 * len(lat)) - 1]
        check(p90 < CANARY_MAX_MS and max(lat) < 10 * CANARY_MAX_MS,
              f"canary echo p90 {p90:.1f} ms, max {max(lat):.1f} ms (limits {CANARY_MAX_MS} "
              f"and {10 * CANARY_MAX_MS} ms)")
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


def parked_buffers(srv):
    """Receive buffers of input one connection may have parked: one read on
    epoll; on io_uring one armed receive's worth (256 KiB + one buffer) when
    the kernel limits a receive's total (recv_total_limit, 6.17), else up
    to what the socket held (allowed: 64 buffers)."""
    if BACKEND != "io_uring":
        return 1
    limited = "missing:" in srv.log() and "recv_total_limit" not in srv.log().split("missing:")[1]
    return 17 if limited else 64


def rss_bounded_flood(name, n, extra_per_conn_kib, connect, stream_bytes):
    """Starts an instance with the default ring, connects n clients with
    connect(port), floods them with stream_bytes (never reading) while
    sampling RSS, and checks the growth against the bound."""
    srv, port = start([])
    conns = []
    try:
        for _ in range(n):
            conns.append(connect(port))
        base = rss_kib(srv.pid)
        stop, samples = threading.Event(), []
        sampler = threading.Thread(target=rss_sampler, args=(srv.pid, stop, samples), daemon=True)
        sampler.start()
        try:
            secs, sent = flood_until_stuck(conns, stream_bytes)
            time.sleep(0.3)
        finally:
            stop.set()
            sampler.join(2)
        peak = max(samples + [rss_kib(srv.pid)])
        per_conn = (MAX_QUEUED + RESPONSE + parked_buffers(srv) * RECV_BUFFER) // 1024 \
            + extra_per_conn_kib
        ring_kib = DEFAULT_RING * RECV_BUFFER // 1024 if BACKEND == "io_uring" else 0
        bound = n * per_conn + ring_kib + SLACK_KIB
        print(f"     {name}: {n} non-readers stuck after {secs:.1f}s having sent "
              f"{sum(sent) >> 20} MiB; RSS base {base >> 10} MiB, peak {peak >> 10} MiB "
              f"(+{(peak - base) >> 10} MiB; bound +{bound >> 10} MiB)", flush=True)
        stuck = sum(1 for x in sent if x < SEND_LIMIT)
        check(stuck == n, f"only {stuck} of {n} clients got stuck")
        check(peak - base <= bound,
              f"server RSS grew {(peak - base) >> 10} MiB, bound {bound >> 10} MiB")
        reset_all(conns)
        conns = []
        time.sleep(0.2)
        wsraw.fresh_echo(port=port)
        check(srv.terminate(wsraw.CLOSE_TIMEOUT + 5) == 0, "exit status after SIGTERM")
    finally:
        reset_all(conns)
        srv.stop()


def raw_client(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 << 10)
    s.connect(("127.0.0.1", port))
    c = Conn.__new__(Conn)
    c.sock, c.buf, c.pos, c.port = s, bytearray(), 0, port
    return c


def pipelined_http():
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    rss_bounded_flood("pipelined GET /", N_HTTP, 0, raw_client, request * 2000)


DEFLATE_OFFER = "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover"


def deflate_client(port):
    c = raw_client(port)
    c.sock.settimeout(10)
    key = wsraw.new_key()
    c.send(wsraw.build_upgrade("/", key, f"127.0.0.1:{port}", [DEFLATE_OFFER]))
    head = c.read_http_head()
    check(b" 101 " in head and b"permessage-deflate" in head, f"no deflate agreed: {head!r}")
    return c


def compressed_message(size):
    """A text message of words (compresses ~3:1), compressed per RFC 7692 §7.2.1."""
    rnd = random.Random(size)
    words = [bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(2, 9)))
             for _ in range(2000)]
    text = b" ".join(rnd.choice(words) for _ in range(size // 6))[:size]
    z = zlib.compressobj(wbits=-15)
    body = z.compress(text) + z.flush(zlib.Z_SYNC_FLUSH)
    return frame(OP_TEXT, body[:-4], rsv=4)


def compressed_echo():
    rss_bounded_flood("compressed echo", N_DEFLATE, ZLIB_KIB, deflate_client,
                      compressed_message(256 << 10) * 8)


suite.run(f"{N_HOSTILE} non-readers with 64 KiB messages vs a {RING}-buffer ring: canary "
          f"echoes < {CANARY_MAX_MS:.0f} ms, new clients upgrade", ring_starvation)
suite.run(f"{N_HTTP} clients pipelining GET / and never reading: RSS bounded by the cap",
          pipelined_http)
suite.run(f"{N_DEFLATE} clients sending compressed messages and never reading: RSS bounded "
          f"by the cap", compressed_echo)
suite.finish()
