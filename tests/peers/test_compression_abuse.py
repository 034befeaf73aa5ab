#!/usr/bin/python3
"""Hostile permessage-deflate peers (RFC 7692 §8.2 leaves decompression
abuse to the implementation) cost bounded work and bounded memory.

  test_compression_abuse.py WSGATE_BINARY BACKEND [CASE-FILTER...]

Each case starts a wsgate instance of its own (--threads 1, so every
connection shares one loop) and stops it by PID:
  bombs:    N_BOMBS connections each send a 64 MiB-of-zeros bomb (~65 KB
            on the wire, ~1030:1) at once while a plain canary connection
            keeps echoing; every bomb must get 1008 (ratio over
            --deflate-max-ratio), the server's CPU per bomb must stay
            small and the canary's echoes keep coming within
            MAX_CANARY_STALL (the loop yields after each turn's inflate
            budget, so the bombs take turns with everyone else).
  padding:  N_PAD connections each send 32 KiB of data followed by empty
            BFINAL deflate blocks (each restarts zlib's stream and copies
            its 32 KiB window twice); every one must get 1008 at once.
  budget:   --deflate-max-streams STREAMS; N_HOLD connections each send the
            first fragment of a compressed message and hold it; those past
            the budget get 1013, the server's RSS stays within the budget's
            worth of zlib memory, the refusals are logged with their count,
            and the admitted ones finish their messages and get them back.
"""

import os
import re
import select
import struct
import sys
import threading
import time
import zlib

import wsraw
from wsgate_proc import Server, free_port, rss_kib
from wsraw import OP_BINARY, OP_CLOSE, OP_CONT, OP_TEXT, Conn, check, close_payload, eq, frame

if len(sys.argv) < 3:
    print("usage: test_compression_abuse.py WSGATE_BINARY BACKEND", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(2)
BIN, BACKEND = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
suite = wsraw.Suite("compression_abuse")

RSV1 = 4  # wsraw.frame's rsv argument: RSV1 is the highest of the three bits
TRAILER = b"\x00\x00\xff\xff"
TICKS = os.sysconf("SC_CLK_TCK")

# The full size (500 x 1 GiB bombs; 2000 held messages) is run by
# hand with these environment variables set.
N_BOMBS = int(os.environ.get("WSGATE_ABUSE_BOMBS", "200"))
BOMB_INFLATED = int(os.environ.get("WSGATE_ABUSE_BOMB_BYTES", str(64 << 20)))
MAX_CPU_PER_BOMB = 0.012  # seconds; before: ~0.023 (16 MiB inflated + echoed each)
N_PAD = 6
PAD_BLOCKS = 128 << 10  # 256 KB of 2-byte empty BFINAL blocks per message
MAX_CPU_PER_PAD = 0.02  # main: ~0.35 s each (1.4 s per MB)
# The refusals alone cost ~0.3 s of CPU: without yielding after each turn's
# inflate budget the canary waits for all of them (seconds on a loaded
# machine), with it a few milliseconds (up to ~0.1 s measured on a machine
# with a load average of 10 on 2 cores).
MAX_CANARY_STALL = 0.25
STREAMS = int(os.environ.get("WSGATE_ABUSE_STREAMS", "40"))  # --deflate-max-streams
N_HOLD = int(os.environ.get("WSGATE_ABUSE_HOLD", "300"))
STREAM_KIB = 300  # one zlib stream at the defaults, rounded up (deflate ~260 KiB)
RSS_SLACK_KIB = 12 << 10


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def start(extra=()):
    port = free_port()
    srv = Server(BIN, ["--listen", f"127.0.0.1:{port}", "--backend", BACKEND, "--threads", "1",
                       "--close-timeout", "2", "--idle-timeout", "300"] + list(extra))
    return srv, port


def raw_deflate(data, flush_trailer=False):
    co = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    out = co.compress(data) + co.flush(zlib.Z_SYNC_FLUSH)
    return out if flush_trailer else out[:-4]


class DeflateConn:
    """A raw client that negotiated permessage-deflate (no context takeover
    either way, the server's default) and accepts RSV1 on server frames."""

    def __init__(self, port, timeout=10.0):
        self.c = Conn(port=port, timeout=timeout)
        key = wsraw.new_key()
        self.c.send(wsraw.build_upgrade("/", key, f"127.0.0.1:{port}",
                                        ("Sec-WebSocket-Extensions: permessage-deflate",)))
        head = self.c.read_http_head().decode("latin-1")
        check(head.startswith("HTTP/1.1 101"), f"upgrade refused: {head[:40]!r}")
        check("permessage-deflate" in head, "permessage-deflate not negotiated")
        self.skipped = []  # data frames close_code() read past, for read_message()

    def read_frame(self):
        c = self.c
        h = c.recv_exact(2)
        n = h[1] & 0x7F
        if n == 126:
            n = struct.unpack("!H", c.recv_exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", c.recv_exact(8))[0]
        return bool(h[0] & 0x80), (h[0] >> 4) & 7, h[0] & 0xF, c.recv_exact(n)

    def _complete_frame(self):
        """The next whole frame already received, consumed; None if it has
        not all arrived (nothing is consumed then)."""
        c = self.c
        buf, pos = c.buf, c.pos
        if len(buf) - pos < 2:
            return None
        n, head = buf[pos + 1] & 0x7F, 2
        if n == 126:
            if len(buf) - pos < 4:
                return None
            n, head = struct.unpack("!H", buf[pos + 2:pos + 4])[0], 4
        elif n == 127:
            if len(buf) - pos < 10:
                return None
            n, head = struct.unpack("!Q", buf[pos + 2:pos + 10])[0], 10
        if len(buf) - pos < head + n:
            return None
        b0 = buf[pos]
        c.pos = pos + head + n
        return bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, bytes(buf[pos + head:pos + head + n])

    def close_code(self, timeout):
        """Skips echoed data up to the server's close frame; returns its code
        (None: no close within `timeout`). A frame cut by the timeout stays
        buffered for read_message()."""
        deadline = time.monotonic() + timeout
        while True:
            f = self._complete_frame()
            if f is not None:
                fin, rsv, op, data = f
                if op == OP_CLOSE:
                    return struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
                self.skipped.append(f)
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                self.c._fill(left)
            except (wsraw.Failure, wsraw.Closed, OSError):
                return None

    def read_message(self):
        """One echoed message, inflated if its first frame had RSV1."""
        parts, compressed = [], None
        while True:
            fin, rsv, op, data = self.skipped.pop(0) if self.skipped else self.read_frame()
            check(op != OP_CLOSE, f"close {data[:2].hex()} instead of the echo")
            if op >= 8:
                continue  # an idle ping (full-size runs outlast half the idle timeout)
            if compressed is None:
                compressed = bool(rsv & RSV1)
            parts.append(data)
            if fin:
                break
        body = b"".join(parts)
        if compressed:
            body = zlib.decompressobj(-15).decompress(body + TRAILER)
        return body, compressed

    def close(self):
        self.c.close()


class Canary(threading.Thread):
    """A plain client echoing a small message every 10 ms, timing each."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.c = Conn(port=port, timeout=30)
        self.c.handshake()
        self.stop = threading.Event()
        self.latencies = []
        self.error = None

    def run(self):
        try:
            k = 0
            while not self.stop.is_set():
                msg = f"canary {k} ".encode() * 10
                t0 = time.monotonic()
                self.c.echo(OP_TEXT, msg)
                self.latencies.append(time.monotonic() - t0)
                k += 1
                time.sleep(0.01)
        except Exception as e:  # noqa: BLE001 - reported by the case
            self.error = e

    def finish(self):
        self.stop.set()
        self.join(40)
        self.c.close()
        check(self.error is None, f"canary failed: {self.error!r}")
        check(self.latencies, "canary got no echo")
        return max(self.latencies), len(self.latencies)


def flood(payload_frame, count, name, max_cpu_each):
    """`count` connections send `payload_frame` at once while a canary
    echoes; each must be refused with 1008. Returns the numbers."""
    srv, port = start()
    canary = None
    conns = []
    try:
        canary = Canary(port)
        canary.start()
        time.sleep(0.2)
        conns = [DeflateConn(port) for _ in range(count)]
        cpu0 = cpu_seconds(srv.pid)
        t0 = time.monotonic()
        for d in conns:
            d.c.send(payload_frame)
        deadline = time.monotonic() + 30
        codes = [d.close_code(max(0.1, deadline - time.monotonic())) for d in conns]
        elapsed = time.monotonic() - t0
        cpu = cpu_seconds(srv.pid) - cpu0
        stall, echoes = canary.finish()
        canary = None
        print(f"     {count} {name}: codes {sorted(set(map(str, codes)))}, server CPU {cpu:.2f} s "
              f"({cpu / count * 1000:.1f} ms each), {elapsed:.2f} s wall, canary {echoes} echoes, "
              f"slowest {stall * 1000:.0f} ms", flush=True)
        eq(codes, [1008] * count, f"close codes of the {name}")
        check(cpu / count < max_cpu_each,
              f"server CPU {cpu / count * 1000:.1f} ms per {name[:-1]}, bound "
              f"{max_cpu_each * 1000:.0f} ms")
        check(stall < MAX_CANARY_STALL, f"canary echo took {stall:.2f} s")
        # Closes are rate-limited per code and loop: the lines written
        # and the counts of their "(suppressed K similar lines)" summaries
        # add up to the closes (a summary comes when its second is over).
        def logged(log):
            lines = len(re.findall(r"wsgate: closed fd \d+: 1008 ", log))
            held = sum(int(k) for k in
                       re.findall(r"wsgate: close 1008: \(suppressed (\d+) similar", log))
            return lines, held
        try:
            log = srv.wait_for(lambda log: sum(logged(log)) >= count, 3, "the close lines")
        except wsraw.Failure:
            log = srv.log()
        lines, held = logged(log)
        check(lines <= 5 * (int(elapsed) + 2), f"{lines} lines 'closed fd N: 1008 ...'")
        eq(lines + held, count, f"closes in the log ({lines} lines + {held} suppressed)")
        wsraw.fresh_echo(port=port)
        eq(srv.terminate(wsraw.CLOSE_TIMEOUT + 5), 0, "exit status after SIGTERM")
    finally:
        if canary is not None:
            canary.stop.set()
        for d in conns:
            d.close()
        srv.stop()


def bombs():
    bomb = raw_deflate(b"\0" * BOMB_INFLATED)
    flood(frame(OP_BINARY, bomb, rsv=RSV1), N_BOMBS, "bombs", MAX_CPU_PER_BOMB)


def padding():
    # 32 KiB of data fill the window; the sync flush leaves the stream
    # byte-aligned, then each 03 00 is an empty fixed-Huffman block with
    # BFINAL set (RFC 1951 §3.2.3, §3.2.6).
    message = raw_deflate(b"\0" * 32768, flush_trailer=True) + b"\x03\x00" * PAD_BLOCKS
    flood(frame(OP_BINARY, message, rsv=RSV1), N_PAD, "padded messages", MAX_CPU_PER_PAD)


def budget():
    srv, port = start(["--deflate-max-streams", str(STREAMS)])
    conns = []
    try:
        plain = b"".join(b'{"id":%d,"sym":"BTC-USD","px":%d.25},' % (i * 7919, i % 997)
                         for i in range(2000))
        # Two fragments of one compressed message (RFC 7692 §6.1: RSV1 on the
        # first only), cut inside the compressed data.
        packed = raw_deflate(plain)
        first, rest = packed[:len(packed) // 2], packed[len(packed) // 2:]
        conns = [DeflateConn(port) for _ in range(N_HOLD)]
        time.sleep(0.3)
        base = rss_kib(srv.pid)
        for d in conns:
            d.c.send(frame(OP_TEXT, first, fin=False, rsv=RSV1))
        time.sleep(1.0)
        peak = rss_kib(srv.pid)
        # Held messages are being echoed, refused ones got a close: only
        # connections with something to read need a look.
        poller = select.poll()  # not select(): descriptors may pass FD_SETSIZE
        for d in conns:
            poller.register(d.c.sock, select.POLLIN)
        time.sleep(0.5)
        readable = {fd for fd, _ in poller.poll(0)}
        refused, held = [], []
        for d in conns:
            code = d.close_code(0.1) if d.c.sock.fileno() in readable else None
            (held if code is None else refused).append((d, code))
        codes = sorted(set(code for _, code in refused))
        grew = peak - base
        print(f"     {N_HOLD} connections mid-message, --deflate-max-streams {STREAMS}: "
              f"{len(held)} held, {len(refused)} refused {codes}; server RSS +{grew >> 10} MiB "
              f"(base {base >> 10} MiB)", flush=True)
        eq(codes, [1013], "close codes past the budget")
        check(len(held) <= STREAMS, f"{len(held)} messages held with {STREAMS} streams")
        check(len(held) >= STREAMS // 2, f"only {len(held)} messages admitted")
        bound = STREAMS * STREAM_KIB + RSS_SLACK_KIB
        check(grew < bound, f"server RSS grew {grew >> 10} MiB, bound {bound >> 10} MiB")
        for d, _ in refused:
            d.c.send(frame(OP_CLOSE, close_payload(1013)))
        # The admitted ones finish and get their whole message back.
        for d, _ in held:
            d.c.send(frame(OP_CONT, rest, fin=True))
        for d, _ in held:
            d.c.sock.settimeout(10)
            body, _ = d.read_message()
            eq(body, plain, "echo of a held message")
        # Their streams are back: a new compressed message is served.
        d = DeflateConn(port)
        conns.append(d)
        d.c.send(frame(OP_TEXT, packed, rsv=RSV1))
        eq(d.read_message()[0], plain, "echo after the budget freed up")
        eq(srv.terminate(wsraw.CLOSE_TIMEOUT + 5), 0, "exit status after SIGTERM")
        counts = [int(n) for n in re.findall(r"refused (\d+) compressed messages? with 1013",
                                              srv.log())]
        eq(sum(counts), len(refused), f"refusals counted in the log ({counts})")
    finally:
        for d in conns:
            d.close()
        srv.stop()


suite.run(f"{N_BOMBS} 64 MiB bombs at once -> 1008 each, bounded CPU, canary served", bombs)
suite.run(f"{N_PAD} messages padded with {PAD_BLOCKS} empty BFINAL blocks -> 1008 at once", padding)
suite.run(f"{N_HOLD} held compressed messages, {STREAMS} streams: rest 1013, RSS bounded", budget)
suite.finish()
