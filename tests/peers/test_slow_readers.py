#!/usr/bin/python3
"""Slow readers do not hurt anyone else (server contract, "Backpressure").

  test_slow_readers.py WSGATE_BINARY BACKEND [CASE-FILTER...]

test_timeouts.py checks one non-reading client stalls and gets its echoes
intact; this suite checks isolation, on an instance of its own with
--max-queued-bytes Q: 10 clients send 64 KiB messages as fast as they can and
never read, until every one of them is stuck (the server stopped reading
them); meanwhile 50 normal clients keep exchanging echoes. While the slow
ones are stuck, every normal echo must come back in under a second, and the
server's RSS (sampled all along) must stay under
  base + 10 × (Q + one receive buffer + one output chunk) + receive ring + slack
where base is its RSS with all 60 clients connected (the io_uring receive ring,
threads × --recv-buffers × --recv-buffer-bytes, is not touched yet then). Then the slow clients
vanish (RST with unread data), a new client is served, SIGTERM → exit 0.
"""

import asyncio
import os
import socket
import sys
import threading
import time

import wsraw
from wsgate_proc import Server, free_port, rss_kib
from wsraw import OP_BINARY, OP_CLOSE, OP_TEXT, Conn, check, close_payload, eq, frame

if len(sys.argv) < 3:
    print("usage: test_slow_readers.py WSGATE_BINARY BACKEND", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(2)
BIN, BACKEND = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
suite = wsraw.Suite("slow_readers")

N_SLOW, N_NORMAL = 10, 50
MAX_QUEUED = 1 << 20  # --max-queued-bytes
THREADS = 2
RECV_BUFFERS = 128  # --recv-buffers: io_uring's provided ring per loop, touched as data flows
RECV_BUFFER = 16 << 10  # --recv-buffer-bytes, also one piece read past the cap
OUT_CHUNK = 16 << 10  # the output queue's large chunk
SLACK_KIB = 6 << 10  # allocator and thread-stack noise on top of the base
SLOW_MESSAGE = 64 << 10
SLOW_LIMIT = 48 << 20  # far more than socket buffers + queue: never all accepted
STUCK_AFTER = 1.5  # seconds without send progress = stuck
FILL_TIMEOUT = 40.0
STUCK_PHASE = 3.0  # seconds of normal traffic measured while all slow ones are stuck
MAX_LATENCY = 1.0
# The base is measured before heavy traffic has touched the receive ring's
# pages, so the whole ring counts on top of it.
RING_KIB = THREADS * RECV_BUFFERS * RECV_BUFFER // 1024
BOUND_KIB = 10 * (MAX_QUEUED + RECV_BUFFER + OUT_CHUNK) // 1024 + RING_KIB + SLACK_KIB

state = {}


class SlowClient:
    def __init__(self, port, i):
        self.sock = socket.socket()
        # A small receive buffer so the server's queue, not the kernel, holds the echo.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        self.sock.settimeout(5)
        self.sock.connect(("127.0.0.1", port))
        self.c = Conn.__new__(Conn)
        self.c.sock, self.c.buf, self.c.pos, self.c.port = self.sock, bytearray(), 0, port
        self.c.handshake()
        self.c.echo(OP_TEXT, f"slow client {i} warm-up")
        self.sent = 0
        self.stuck = False
        self.error = None
        self.frame = frame(OP_BINARY, os.urandom(SLOW_MESSAGE))

    def run(self):
        self.sock.settimeout(STUCK_AFTER)
        try:
            while self.sent < SLOW_LIMIT:
                view = memoryview(self.frame)
                while view:
                    n = self.sock.send(view)
                    view = view[n:]
                    self.sent += n
        except socket.timeout:
            self.stuck = True
        except OSError as e:
            self.error = e


def rss_sampler(pid, stop, out):
    while not stop.is_set():
        try:
            out.append(rss_kib(pid))
        except (OSError, wsraw.Failure):
            return
        time.sleep(0.05)


async def normal_client(port, i, phase, latencies):
    r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
    try:
        key = wsraw.new_key()
        w.write(wsraw.build_upgrade("/", key, f"127.0.0.1:{port}"))
        wsraw.check_101(await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10), key)
        phase["ready"] += 1
        k = 0
        while not phase["done"]:
            msg = f"normal {i} #{k} ".encode() * (1 + (i + k) % 40)
            t0 = time.monotonic()
            w.write(frame(OP_TEXT, msg))
            head = await asyncio.wait_for(r.readexactly(2), 10)
            n = head[1] & 0x7F
            if n == 126:
                n = int.from_bytes(await r.readexactly(2), "big")
            body = await asyncio.wait_for(r.readexactly(n), 10)
            dt = time.monotonic() - t0
            eq((head[0], body), (0x81, msg), f"normal client {i} echo {k}")
            latencies[phase["name"]].append(dt)
            k += 1
            await asyncio.sleep(0.02)
        w.write(frame(OP_CLOSE, close_payload(1000)))
        h = await asyncio.wait_for(r.readexactly(4), 10)
        eq(h, bytes([0x88, 2]) + close_payload(1000), f"normal client {i} close reply")
    finally:
        w.close()


async def normal_traffic(port, slow, latencies):
    phase = {"name": "filling", "done": False, "ready": 0}
    tasks = [asyncio.create_task(normal_client(port, i, phase, latencies))
             for i in range(N_NORMAL)]
    while phase["ready"] < N_NORMAL and not any(t.done() for t in tasks):
        await asyncio.sleep(0.05)
    state["base"] = rss_kib(state["pid"])
    for s in slow:
        threading.Thread(target=s.run, daemon=True).start()
    deadline = time.monotonic() + FILL_TIMEOUT
    while not all(s.stuck or s.error for s in slow) and time.monotonic() < deadline:
        if any(t.done() for t in tasks):
            break
        await asyncio.sleep(0.1)
    state["filled_after"] = FILL_TIMEOUT - (deadline - time.monotonic())
    if all(s.stuck for s in slow):
        phase["name"] = "stuck"
        await asyncio.sleep(STUCK_PHASE)
    phase["done"] = True
    res = await asyncio.gather(*tasks, return_exceptions=True)
    return [e for e in res if isinstance(e, BaseException)]


def isolation():
    port = free_port()
    flags = ["--listen", f"127.0.0.1:{port}", "--backend", BACKEND, "--threads", str(THREADS),
             "--max-queued-bytes", str(MAX_QUEUED), "--recv-buffers", str(RECV_BUFFERS),
             "--recv-buffer-bytes", str(RECV_BUFFER), "--close-timeout", "2",
             "--handshake-timeout", "5", "--idle-timeout", "60"]
    srv = Server(BIN, flags)
    state["srv"] = srv
    state["pid"] = srv.pid
    slow = [SlowClient(port, i) for i in range(N_SLOW)]
    state["slow"] = slow
    stop, samples = threading.Event(), []
    sampler = threading.Thread(target=rss_sampler, args=(srv.pid, stop, samples), daemon=True)
    sampler.start()
    latencies = {"filling": [], "stuck": []}
    try:
        errors = asyncio.run(normal_traffic(port, slow, latencies))
    finally:
        stop.set()
        sampler.join(2)
    base = state["base"]
    peak = max(samples) if samples else rss_kib(srv.pid)
    sent = [s.sent >> 20 for s in slow]
    fill = latencies["filling"]
    stuck = latencies["stuck"]
    print(f"     slow clients stuck after {state['filled_after']:.1f}s having sent {sent} MiB; "
          f"RSS base {base >> 10} MiB, peak {peak >> 10} MiB (bound base + {BOUND_KIB >> 10} MiB)",
          flush=True)
    print(f"     normal echoes: {len(fill)} while filling (max {max(fill, default=0):.3f}s), "
          f"{len(stuck)} while stuck (max {max(stuck, default=0):.3f}s)", flush=True)
    check(not errors, f"{len(errors)} normal clients failed; first: {errors[:1]!r}")
    bad = [s.error for s in slow if s.error]
    check(not bad, f"slow clients' connections failed: {bad[:2]!r}")
    check(all(s.stuck for s in slow),
          f"not every slow client got stuck within {FILL_TIMEOUT}s: sent {sent} MiB")
    check(all(s.sent < SLOW_LIMIT for s in slow), "the server read everything a slow client sent")
    check(len(stuck) >= N_NORMAL, f"only {len(stuck)} echoes while the slow clients were stuck")
    check(max(stuck) < MAX_LATENCY,
          f"slowest normal echo while the slow clients were stuck: {max(stuck):.3f}s")
    check(peak - base < BOUND_KIB,
          f"server RSS grew {(peak - base) >> 10} MiB (base {base >> 10} MiB), bound "
          f"{BOUND_KIB >> 10} MiB")


def after_slow_clients_vanish():
    srv = state.get("srv")
    check(srv is not None, "no server from the previous case")
    for s in state.get("slow", []):
        s.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.sock.close()  # RST: unread echoes in its receive buffer
    time.sleep(0.3)
    check(srv.proc.poll() is None, f"server exited ({srv.proc.returncode})")
    wsraw.fresh_echo(port=int(srv.args[1].rsplit(":", 1)[1]))
    eq(srv.terminate(wsraw.CLOSE_TIMEOUT + 5), 0, "exit status after SIGTERM")


try:
    suite.run(f"{N_SLOW} non-reading clients stuck, {N_NORMAL} normal echoes < {MAX_LATENCY}s, "
              f"RSS bounded by 10 x --max-queued-bytes", isolation)
    suite.run("slow clients reset: server serves a new client, SIGTERM exit 0",
              after_slow_clients_vanish)
finally:
    for s in state.get("slow", []):
        s.sock.close()
    if "srv" in state:
        state["srv"].stop()
suite.finish()
