"""Backpressure through the proxy, as the proxy suites check it.

An upstream that floods its client as fast as the proxy lets it (Flood) or
reads nothing (sink); a raw client that reads nothing, or writes until it
can write no more. What the stalled side gets through sits mostly in kernel
socket buffers (tcp_rmem allows 32 MiB per socket here, autotuned), which
the proxy does not own: the checks are a stall short of the whole flood and
the proxy's RSS growth (PROXY_GROWTH_KIB).
"""

import asyncio
import os
import socket
import threading
import time

import wsraw
from wsraw import check, eq

FLOOD_MESSAGE = 64 << 10
FLOOD_TOTAL = 48 << 20
PROXY_GROWTH_KIB = 8 << 10
SMALL_SOCKET_BUFFER = 64 << 10  # so what the proxy holds is what counts


def flood_payload(seq):
    """Message `seq` of a flood: its number, repeated."""
    return seq.to_bytes(8, "big") * (FLOOD_MESSAGE // 8)


class Flood:
    """What a flooding upstream sent (shared by its connections), and when it
    finished."""

    def __init__(self):
        self.sent = 0
        self.done = threading.Event()

    def reset(self):
        self.sent = 0
        self.done.clear()

    async def send(self, ws):
        """Sends FLOOD_TOTAL bytes of flood_payload messages, then waits for the close."""
        ws.transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_SOCKET_BUFFER)
        seq = 0
        try:
            while self.sent < FLOOD_TOTAL:
                await ws.send(flood_payload(seq))
                seq += 1
                self.sent += FLOOD_MESSAGE
        finally:
            self.done.set()
        await ws.wait_closed()


async def sink(ws):
    """Reads nothing for a while: websockets stops reading its socket once
    max_queue messages wait, so the proxy's sends to it stall."""
    ws.transport.get_extra_info("socket").setsockopt(
        socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_SOCKET_BUFFER)
    await asyncio.sleep(4)


def raw_upgrade(port, path, small_buffer, timeout):
    """A raw client with a small `small_buffer` (SO_RCVBUF or SO_SNDBUF) that
    sent its upgrade for `path`; returns (its wsraw.Conn, the key)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, small_buffer, SMALL_SOCKET_BUFFER)
    s.connect(("127.0.0.1", port))
    s.settimeout(timeout)
    c = wsraw.Conn.__new__(wsraw.Conn)
    c.sock, c.buf, c.pos = s, bytearray(), 0
    key = wsraw.new_key()
    s.sendall(wsraw.build_upgrade(path, key=key))
    return c, key


def wait_for_stall(flood):
    """The client reads nothing: the flood stops short of its end. Returns
    what it had sent."""
    time.sleep(2.0)
    stalled_at = flood.sent
    time.sleep(1.0)
    eq(flood.sent, stalled_at, "the upstream is stalled (bytes it could send)")
    check(stalled_at < FLOOD_TOTAL,
          f"while the client does not read, the upstream could send only "
          f"{stalled_at >> 10} KiB of {FLOOD_TOTAL >> 10} KiB")
    return stalled_at


def send_until_stalled(c):
    """Writes flood-sized frames until a second passes without progress;
    the upstream reads nothing, so that is short of FLOOD_TOTAL. Returns the
    bytes written."""
    message = wsraw.frame(wsraw.OP_BINARY, os.urandom(FLOOD_MESSAGE))
    c.sock.setblocking(False)
    sent, last_progress = 0, time.monotonic()
    while sent < FLOOD_TOTAL and time.monotonic() - last_progress < 1.0:
        try:
            sent += c.sock.send(message[sent % len(message):])
            last_progress = time.monotonic()
        except BlockingIOError:
            time.sleep(0.01)
    check(sent < FLOOD_TOTAL,
          f"while the upstream does not read, the client could send only {sent >> 10} KiB "
          f"of {FLOOD_TOTAL >> 10} KiB")
    return sent


def check_growth(rss_before, rss_now):
    growth = rss_now - rss_before
    check(growth < PROXY_GROWTH_KIB, f"the proxy grew {growth} KiB while stalled")
    return growth
