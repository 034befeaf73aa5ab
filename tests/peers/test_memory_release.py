#!/usr/bin/python3
"""Memory goes back to the OS after an attack (server contract, "Bounded memory").

  test_memory_release.py WSGATE_BINARY BACKEND [CASE-FILTER...]

On an instance of its own (--memory-release-delay 1, so the case takes
seconds, not the default 5 s): N_ATTACK clients upgrade, send 64 KiB
messages and never read, until the server stops reading every one of them
(each holds about --max-queued-bytes of echoes). The server's RSS at that
peak must be well above its base (else the case proves nothing). Then the
clients vanish (RST with unread data) and, once the release delay has
passed, the server's RSS must be back under
  base + receive ring (io_uring: threads x --recv-buffers x --recv-buffer-bytes,
  touched by the attack and not malloc'd) + slack.
A new client is then served, and SIGTERM gives exit 0.
"""

import os
import select
import socket
import struct
import sys
import time

import wsraw
from wsgate_proc import Server, free_port, rss_kib
from wsraw import OP_BINARY, OP_CLOSE, OP_TEXT, Conn, check, close_payload, eq, frame

if len(sys.argv) < 3:
    print("usage: test_memory_release.py WSGATE_BINARY BACKEND", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(2)
BIN, BACKEND = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
suite = wsraw.Suite("memory_release")

N_ATTACK = 100
THREADS = 2
MAX_QUEUED = 1 << 20  # --max-queued-bytes
RECV_BUFFERS = 128  # --recv-buffers
RECV_BUFFER = 16 << 10  # --recv-buffer-bytes
RELEASE_DELAY = 1.0  # --memory-release-delay
MESSAGE = 64 << 10
SEND_LIMIT = 32 << 20  # per client: far more than the queue and socket buffers hold
STUCK_AFTER = 2.0  # seconds without send progress from any client = all stuck
FILL_TIMEOUT = 60.0
RING_KIB = THREADS * RECV_BUFFERS * RECV_BUFFER // 1024
SLACK_KIB = 8 << 10  # allocator residue, page tables
ALLOWED_KIB = RING_KIB + SLACK_KIB
MIN_GROWTH_KIB = N_ATTACK * MAX_QUEUED // 1024 // 2  # the attack must have held memory


def connect_attackers(port):
    """N_ATTACK upgraded non-blocking sockets, the frame they send, and their progress."""
    socks = []
    for _ in range(N_ATTACK):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        # A small receive buffer so the server's queue, not the kernel, holds the echoes.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        key = wsraw.new_key()
        s.sendall(wsraw.build_upgrade("/", key, f"127.0.0.1:{port}"))
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            check(chunk, "connection closed during the upgrade")
            head += chunk
        wsraw.check_101(head[:head.index(b"\r\n\r\n") + 4], key)
        s.setblocking(False)
        socks.append(s)
    data = frame(OP_BINARY, os.urandom(MESSAGE))
    offset = {s: 0 for s in socks}
    sent = {s: 0 for s in socks}
    return socks, data, offset, sent


def flood(pid, socks, data, offset, sent):
    """Sends without reading until no client makes progress; returns (peak RSS, bytes sent)."""
    start = last_progress = time.monotonic()
    peak = 0
    while time.monotonic() - last_progress < STUCK_AFTER:
        check(time.monotonic() - start < FILL_TIMEOUT, f"clients still sending after {FILL_TIMEOUT}s")
        _, writable, _ = select.select([], [s for s in socks if sent[s] < SEND_LIMIT], [], 0.2)
        for s in writable:
            try:
                n = s.send(memoryview(data)[offset[s]:])
            except BlockingIOError:
                continue
            offset[s] = (offset[s] + n) % len(data)
            sent[s] += n
            last_progress = time.monotonic()
        peak = max(peak, rss_kib(pid))
    return max(peak, rss_kib(pid)), sum(sent.values())


def released_after_attack():
    port = free_port()
    flags = ["--listen", f"127.0.0.1:{port}", "--backend", BACKEND, "--threads", str(THREADS),
             "--max-queued-bytes", str(MAX_QUEUED), "--recv-buffers", str(RECV_BUFFERS),
             "--recv-buffer-bytes", str(RECV_BUFFER), "--memory-release-delay",
             str(RELEASE_DELAY), "--close-timeout", "2", "--idle-timeout", "60"]
    with Server(BIN, flags) as srv:
        base = rss_kib(srv.pid)
        socks, data, offset, sent = connect_attackers(port)
        try:
            peak, total = flood(srv.pid, socks, data, offset, sent)
        finally:
            for s in socks:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()  # RST: unread echoes in its receive buffer
        gone = time.monotonic()
        # The release comes RELEASE_DELAY after the loops saw the clients go:
        # measure a second after that, and poll a little longer if need be.
        time.sleep(RELEASE_DELAY + 1)
        after = rss_kib(srv.pid)
        while time.monotonic() - gone < RELEASE_DELAY + 3 and after - base >= ALLOWED_KIB:
            time.sleep(0.1)
            after = rss_kib(srv.pid)
        print(f"     {N_ATTACK} clients sent {total >> 20} MiB; RSS base {base >> 10} MiB, peak "
              f"{peak >> 10} MiB, {time.monotonic() - gone:.1f}s after they left {after >> 10} MiB "
              f"(bound base + {ALLOWED_KIB >> 10} MiB)", flush=True)
        check(peak - base >= MIN_GROWTH_KIB,
              f"the attack grew RSS by only {(peak - base) >> 10} MiB: the case proves nothing")
        check(after - base < ALLOWED_KIB,
              f"RSS {after >> 10} MiB {RELEASE_DELAY + 3:.0f}s after the clients left (base "
              f"{base >> 10} MiB, peak {peak >> 10} MiB)")
        with Conn(port=port) as c:
            c.handshake()
            c.echo(OP_TEXT, "after the memory went back")
            c.send(frame(OP_CLOSE, close_payload(1000)))
            c.expect_close(1000, reply=False, strict=True)
        eq(srv.terminate(wsraw.CLOSE_TIMEOUT + 5), 0, "exit status after SIGTERM")


suite.run(f"{N_ATTACK} non-reading clients leave: RSS back near base after "
          f"--memory-release-delay {RELEASE_DELAY:g}", released_after_attack)
suite.finish()
