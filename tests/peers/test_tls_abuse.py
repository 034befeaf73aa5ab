#!/usr/bin/python3
"""Hostile TLS peers, on an instance of this suite's own.

  test_tls_abuse.py WSGATE_BINARY BACKEND [CASE-FILTER...]

- flood: 8 raw TLS clients (python ssl over a socket with a small receive
  buffer) send 64 KiB echo requests as fast as they can and never read, until
  every one is stuck (the server stopped reading them). Meanwhile a
  well-behaved wss client keeps echoing, each echo back within a second. The
  server's RSS (sampled all along) must grow by less than
    8 x (--max-queued-bytes + two receives' plaintext) + receive ring + slack:
  the output cap counts the connection's encrypted records as well as its
  plaintext, so records encrypted ahead of a stuck socket are no extra.
  The stuck clients are then closed by the idle timeout (close 1001 counted
  in /metrics as sent) and their descriptors are gone (/proc/PID/fd).
- stalls, each closed by --handshake-timeout with the one TLS failure line,
  descriptors back to where they were: a ClientHello cut in the middle, and
  a record header claiming 16 KiB of handshake followed by 100 bytes.
"""

import asyncio
import os
import re
import socket
import ssl
import sys
import threading
import time
import urllib.request

import websockets

import wsraw
from tls_certs import TestPki
from wsgate_proc import Server, free_port, rss_kib
from wsraw import OP_BINARY, check, eq, frame

if len(sys.argv) < 3:
    print("usage: test_tls_abuse.py WSGATE_BINARY BACKEND", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(2)
BIN, BACKEND = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
suite = wsraw.Suite("tls_abuse")

pki = TestPki()
LEAF, LEAF_KEY = pki.leaf("localhost", ["DNS:localhost", "IP:127.0.0.1"], "ec")
TLS_PORT, ADMIN_PORT = free_port(), free_port()

N_FLOOD = 8
MAX_QUEUED = 32 << 10  # --max-queued-bytes
FLOOD_MESSAGE = 64 << 10
FLOOD_LIMIT = 64 << 20  # far more than socket buffers + queue: never all accepted
STUCK_AFTER = 1.5  # seconds without send progress = stuck
FILL_TIMEOUT = 40.0
IDLE = 5  # --idle-timeout: closes the stuck ones after the measurement
PLAIN_PER_RECEIVE = 64 << 10  # plaintext handed to the loop from one receive at most
RECV_BUFFERS = 128  # --recv-buffers: io_uring's provided ring, touched as data flows
RECV_BUFFER = 16 << 10  # --recv-buffer-bytes (the default)
RING_KIB = RECV_BUFFERS * RECV_BUFFER // 1024
SLACK_KIB = 3 << 10  # allocator and thread-stack noise
BOUND_KIB = N_FLOOD * (MAX_QUEUED + 2 * PLAIN_PER_RECEIVE) // 1024 + RING_KIB + SLACK_KIB
HANDSHAKE_TIMEOUT = 1

FLAGS = ["--backend", BACKEND, "--threads", "1", "--handshake-timeout", str(HANDSHAKE_TIMEOUT),
         "--close-timeout", "1", "--idle-timeout", str(IDLE),
         "--max-queued-bytes", str(MAX_QUEUED), "--recv-buffers", str(RECV_BUFFERS),
         "--recv-buffer-bytes", str(RECV_BUFFER),
         "--listen", f"127.0.0.1:{TLS_PORT},tls", "--admin-listen", f"127.0.0.1:{ADMIN_PORT}",
         "--tls-cert", LEAF, "--tls-key", LEAF_KEY]


def client_context():
    return ssl.create_default_context(cafile=pki.ca)


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_fds(pid, want, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        n = fd_count(pid)
        if n <= want:
            return
        if time.monotonic() > deadline:
            raise wsraw.Failure(f"{what}: {n} descriptors open, want {want}")
        time.sleep(0.1)


def metric(name, labels):
    with urllib.request.urlopen(f"http://127.0.0.1:{ADMIN_PORT}/metrics", timeout=5) as r:
        text = r.read().decode()
    m = re.search(r"^" + re.escape(name + labels) + r" (\d+)$", text, re.M)
    return int(m.group(1)) if m else 0


def failure_lines(srv, reason):
    return len(re.findall(r"^wsgate: TLS fd \d+ closed: " + re.escape(reason), srv.log(), re.M))


class Flooder:
    """A wss client that sends and never reads."""

    def __init__(self, i):
        raw = socket.socket()
        # A small receive buffer so the server's queue, not the kernel, holds the echo.
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        raw.settimeout(5)
        raw.connect(("127.0.0.1", TLS_PORT))
        self.sock = client_context().wrap_socket(raw, server_hostname="localhost")
        key = wsraw.new_key()
        self.sock.sendall(wsraw.build_upgrade("/", key, f"localhost:{TLS_PORT}"))
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            check(chunk, f"flooder {i}: closed during the upgrade")
            head += chunk
        wsraw.check_101(head[:head.index(b"\r\n\r\n") + 4], key)
        self.frame = frame(OP_BINARY, os.urandom(FLOOD_MESSAGE))
        self.sent = 0
        self.stuck = False
        self.error = None

    def run(self):
        self.sock.settimeout(STUCK_AFTER)
        try:
            while self.sent < FLOOD_LIMIT:
                self.sock.sendall(self.frame)
                self.sent += len(self.frame)
        except (socket.timeout, ssl.SSLWantWriteError):
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


async def good_client(stop, latencies):
    async with websockets.connect(f"wss://localhost:{TLS_PORT}/", ssl=client_context(),
                                  open_timeout=10, ping_interval=None, max_size=None,
                                  compression=None) as ws:
        k = 0
        while not stop.is_set():
            msg = f"good #{k} ".encode() * 50
            t0 = time.monotonic()
            await ws.send(msg)
            eq(await asyncio.wait_for(ws.recv(), 10), msg, f"good client echo {k}")
            latencies.append(time.monotonic() - t0)
            k += 1
            await asyncio.sleep(0.05)


def flood(srv):
    fds_before = fd_count(srv.pid)
    closes_before = metric("wsgate_close_codes_sent_total", '{code="1001"}')
    # The good client first: the base RSS includes its session.
    stop_good = threading.Event()
    latencies = []
    loop = asyncio.new_event_loop()
    good = threading.Thread(target=lambda: loop.run_until_complete(good_client(stop_good,
                                                                               latencies)))
    good.start()
    deadline = time.monotonic() + 10
    while not latencies and time.monotonic() < deadline:
        time.sleep(0.05)
    check(latencies, "the good client echoes before the flood")
    flooders = [Flooder(i) for i in range(N_FLOOD)]
    time.sleep(0.3)
    base = rss_kib(srv.pid)
    samples, stop = [], threading.Event()
    sampler = threading.Thread(target=rss_sampler, args=(srv.pid, stop, samples))
    sampler.start()
    threads = [threading.Thread(target=f.run) for f in flooders]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(FILL_TIMEOUT)
        check(not any(t.is_alive() for t in threads), f"flooders still sending after "
              f"{FILL_TIMEOUT}s")
        for i, f in enumerate(flooders):
            check(f.error is None, f"flooder {i}: {f.error}")
            check(f.stuck, f"flooder {i} sent all {FLOOD_LIMIT >> 20} MiB: never stopped")
        n_before = len(latencies)
        time.sleep(2)  # the flooders are stuck: the good client still echoes
        check(len(latencies) - n_before >= 10,
              f"the good client echoed {len(latencies) - n_before} times in 2 s")
        worst = max(latencies[n_before:])
        check(worst < 1.0, f"good client echo took {worst:.2f}s while the flooders were stuck")
    finally:
        stop.set()
        sampler.join()
        stop_good.set()
        good.join(15)
    peak = max(samples)
    sent_mib = sum(f.sent for f in flooders) / (1 << 20)
    print(f"    RSS base {base} KiB, peak {peak} KiB (+{peak - base} KiB, bound {BOUND_KIB} KiB); "
          f"flooders got {sent_mib:.1f} MiB through before they stalled", flush=True)
    check(peak - base < BOUND_KIB, f"RSS grew {peak - base} KiB under the flood, bound "
          f"{BOUND_KIB} KiB")
    # The stuck flooders send nothing more: the idle timeout closes them
    # (close 1001, which they never read; then the close timeout).
    wait_fds(srv.pid, fds_before, IDLE + 6, "after the idle timeout")
    eq(metric("wsgate_close_codes_sent_total", '{code="1001"}') - closes_before, N_FLOOD,
       "close 1001 sent to each flooder")
    for f in flooders:
        f.sock.close()


def stalled(srv, first_bytes, what):
    time.sleep(1.1)  # failure lines are throttled to one a second per loop
    reason = "TLS handshake not completed in time"
    before = failure_lines(srv, reason)
    fds_before = fd_count(srv.pid)
    with socket.create_connection(("127.0.0.1", TLS_PORT), timeout=5) as s:
        s.sendall(first_bytes)
        t = time.monotonic()
        s.settimeout(HANDSHAKE_TIMEOUT + 4)
        try:
            while s.recv(65536):
                pass
        except ConnectionResetError:
            pass
        took = time.monotonic() - t
    check(HANDSHAKE_TIMEOUT - 0.2 <= took <= HANDSHAKE_TIMEOUT + 1.5,
          f"{what}: closed after the {HANDSHAKE_TIMEOUT} s handshake timeout (took {took:.2f} s)")
    srv.wait_for(lambda _: failure_lines(srv, reason) > before, 3, f"a '{reason}' line")
    time.sleep(0.2)
    eq(failure_lines(srv, reason), before + 1, f"{what}: log lines for '{reason}'")
    wait_fds(srv.pid, fds_before, 2, what)


def client_hello():
    """A real ClientHello (python's ssl)."""
    obj = client_context().wrap_bio(ssl.MemoryBIO(), out := ssl.MemoryBIO(),
                                    server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    check(len(hello) > 100, "a ClientHello")
    return hello


def half_client_hello(srv):
    hello = client_hello()
    stalled(srv, hello[:len(hello) // 2], "half a ClientHello")


def record_claiming_16k(srv):
    # RFC 8446 §5.1: content type handshake (22), legacy version 3.1, length
    # 16384 (the largest plaintext record), then 100 bytes of it.
    header = bytes([22, 3, 1, 0x40, 0x00])
    stalled(srv, header + client_hello()[5:105], "a 16 KiB record header and 100 bytes")


with Server(BIN, FLAGS, wait_lines=1) as srv:
    suite.run("flood: 8 TLS senders that never read, RSS bounded, a good client echoes", flood,
              srv)
    suite.run("stall: half a ClientHello closed by the handshake timeout", half_client_hello,
              srv)
    suite.run("stall: 16 KiB record header then silence closed by the handshake timeout",
              record_claiming_16k, srv)
    rc = srv.terminate(10)
    suite.run("SIGTERM: exit 0", lambda: eq(rc, 0, "exit status"))
pki.remove()
suite.finish()
