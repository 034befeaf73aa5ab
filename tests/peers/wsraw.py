"""Raw-socket WebSocket helpers shared by the peer suites (RFC 6455).

Frames are built byte by byte so tests can send anything, including what a
real client library refuses to send. Server frames are parsed strictly: a
server frame that is masked or has RSV bits set is itself a failure (§5.1).

Configuration comes from the environment (set by run_peers.sh):
  WSGATE_HOST, WSGATE_PORT             main instance
  WSGATE_PORT_SMALL                    second instance (small limits)
  WSGATE_SMALL_MAX_MESSAGE             its --max-message-bytes
  WSGATE_SMALL_MAX_CONN                its --max-connections
  WSGATE_HANDSHAKE_TIMEOUT, WSGATE_CLOSE_TIMEOUT, WSGATE_IDLE_TIMEOUT
"""

import base64
import hashlib
import os
import socket
import struct
import sys
import time
import traceback

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA

HOST = os.environ.get("WSGATE_HOST", "127.0.0.1")
PORT = int(os.environ.get("WSGATE_PORT", "8080"))
PORT_SMALL = int(os.environ.get("WSGATE_PORT_SMALL", "0"))
SMALL_MAX_MESSAGE = int(os.environ.get("WSGATE_SMALL_MAX_MESSAGE", "65536"))
SMALL_MAX_CONN = int(os.environ.get("WSGATE_SMALL_MAX_CONN", "50"))
HANDSHAKE_TIMEOUT = float(os.environ.get("WSGATE_HANDSHAKE_TIMEOUT", "2"))
CLOSE_TIMEOUT = float(os.environ.get("WSGATE_CLOSE_TIMEOUT", "2"))
IDLE_TIMEOUT = float(os.environ.get("WSGATE_IDLE_TIMEOUT", "30"))

# How long a test waits for any single expected byte from the server.
IO_TIMEOUT = 5.0

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")


class Failure(AssertionError):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def eq(got, want, what):
    if got != want:
        g, w = _short(got), _short(want)
        raise Failure(f"{what}: got {g}, want {w}")


def _short(v):
    if isinstance(v, (bytes, bytearray)) and len(v) > 48:
        return f"<{len(v)} bytes {bytes(v[:24])!r}...>"
    if isinstance(v, str) and len(v) > 48:
        return f"<{len(v)} chars {v[:24]!r}...>"
    return repr(v)


def accept_key(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2 step 5.4)."""
    if isinstance(key, str):
        key = key.encode()
    return base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()


def new_key():
    return base64.b64encode(os.urandom(16)).decode()


def mask_bytes(payload, key):
    if not payload:
        return b""
    n = len(payload)
    reps = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(reps, "little")).to_bytes(
        n, "little"
    )


def frame(opcode, payload=b"", fin=True, rsv=0, mask=True, mask_key=None, length=None,
          len_form=None):
    """One frame (§5.2). `length` overrides the encoded payload length,
    `len_form` forces the 7/16/64-bit length encoding ('7', '16', '64')."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)
    mbit = 0x80 if mask else 0
    if len_form is None:
        len_form = "7" if n <= 125 else ("16" if n <= 0xFFFF else "64")
    if len_form == "7":
        head = bytes([b0, mbit | n])
    elif len_form == "16":
        head = bytes([b0, mbit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, mbit | 127]) + struct.pack("!Q", n)
    if mask:
        key = mask_key if mask_key is not None else os.urandom(4)
        return head + key + mask_bytes(payload, key)
    return head + payload


def close_payload(code=None, reason=b""):
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack("!H", code) + reason


class Frame:
    __slots__ = ("fin", "rsv", "opcode", "payload")

    def __init__(self, fin, rsv, opcode, payload):
        self.fin, self.rsv, self.opcode, self.payload = fin, rsv, opcode, payload

    def __repr__(self):
        return f"Frame(op={self.opcode:#x} fin={self.fin} rsv={self.rsv} {_short(self.payload)})"

    def close_code(self):
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None


class Closed(Exception):
    """The server closed TCP."""


def build_upgrade(path="/", key=None, host=None, extra=(), version="13", method="GET",
                  http="HTTP/1.1"):
    host = host or f"{HOST}:{PORT}"
    lines = [f"{method} {path} {http}", f"Host: {host}", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {key or new_key()}"]
    if version is not None:
        lines.append(f"Sec-WebSocket-Version: {version}")
    lines.extend(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Conn:
    """A client TCP connection speaking raw WebSocket."""

    def __init__(self, port=None, host=None, timeout=IO_TIMEOUT):
        self.sock = socket.create_connection((host or HOST, port or PORT), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(timeout)
        self.buf = bytearray()  # received bytes; those before self.pos are consumed
        self.pos = 0
        self.port = port or PORT

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def send_pieces(self, data, piece, delay=0.0):
        for i in range(0, len(data), piece):
            self.sock.sendall(data[i:i + piece])
            if delay:
                time.sleep(delay)

    def pending(self):
        """Received bytes not consumed yet."""
        return bytes(self.buf[self.pos:])

    def _fill(self, timeout=None):
        if self.pos:
            del self.buf[:self.pos]
            self.pos = 0
        if timeout is not None:
            self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            raise Failure("timed out waiting for the server")
        except ConnectionResetError:
            raise Closed("connection reset")
        if not chunk:
            raise Closed("EOF")
        self.buf += chunk

    def recv_exact(self, n):
        while len(self.buf) - self.pos < n:
            self._fill()
        out = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return out

    def read_http_head(self, limit=65536):
        """Bytes up to and including the first CRLFCRLF."""
        while True:
            i = self.buf.find(b"\r\n\r\n", self.pos)
            if i >= 0:
                out = bytes(self.buf[self.pos:i + 4])
                self.pos = i + 4
                return out
            check(len(self.buf) - self.pos < limit, "HTTP head too long")
            self._fill()

    def handshake(self, path="/", key=None, extra=()):
        """Upgrades and checks the 101 (§4.2.2) strictly; returns its bytes."""
        key = key or new_key()
        self.send(build_upgrade(path, key, f"{HOST}:{self.port}", extra))
        head = self.read_http_head()
        check_101(head, key)
        return head

    def read_frame(self):
        h = self.recv_exact(2)
        fin = bool(h[0] & 0x80)
        rsv = (h[0] >> 4) & 7
        op = h[0] & 0xF
        check(not (h[1] & 0x80), f"server frame is masked (op {op:#x}) — RFC 6455 §5.1")
        check(rsv == 0, f"server frame has RSV bits {rsv}")
        n = h[1] & 0x7F
        if n == 126:
            n = struct.unpack("!H", self.recv_exact(2))[0]
            check(n >= 126, f"server used non-minimal 16-bit length {n}")
        elif n == 127:
            n = struct.unpack("!Q", self.recv_exact(8))[0]
            check(n > 0xFFFF and n < (1 << 63), f"server used bad 64-bit length {n}")
        if op >= 8:
            check(fin and n <= 125, f"server sent bad control frame op {op:#x} len {n}")
        return Frame(fin, rsv, op, self.recv_exact(n))

    def read_message(self, allow_pongs=False):
        """Reassembles one data message; returns (opcode, bytes). Control
        frames other than (optionally) pongs are a failure."""
        op = None
        parts = []
        while True:
            f = self.read_frame()
            if f.opcode == OP_PONG and allow_pongs:
                continue
            if f.opcode >= 8:
                raise Failure(f"unexpected control frame {f!r}"
                              + (f" code {f.close_code()}" if f.opcode == OP_CLOSE else ""))
            if op is None:
                check(f.opcode in (OP_TEXT, OP_BINARY), f"message starts with {f!r}")
                op = f.opcode
            else:
                check(f.opcode == OP_CONT, f"server interleaved {f!r} in a message")
            parts.append(f.payload)
            if f.fin:
                return op, b"".join(parts)

    def send_in_background(self, data, piece=None):
        """Sends from a thread so the caller can read the echo meanwhile (a
        streaming echo server stops reading when its output is not read)."""
        import threading

        def run():
            try:
                if piece:
                    self.send_pieces(data, piece)
                else:
                    self.sock.sendall(data)
            except OSError as e:
                self.send_error = e

        self.send_error = None
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def send_msg(self, opcode, payload, **kw):
        self.send(frame(opcode, payload, **kw))

    def echo(self, opcode, payload):
        """Sends one message and checks the echo is the same opcode and bytes."""
        if isinstance(payload, str):
            payload = payload.encode()
        self.send_msg(opcode, payload)
        op, got = self.read_message()
        eq(op, opcode, "echo opcode")
        eq(got, payload, "echo payload")

    def expect_close(self, code, reply=True, timeout=IO_TIMEOUT, strict=False):
        """Reads frames until the server's close; checks its code (None =
        empty payload), the reason's UTF-8, then completes the closing
        handshake and checks the server closes TCP. Data frames before the
        close are skipped (the server may still be echoing) unless `strict`:
        then only frames of a message that never completes (FIN=0, the server
        may stream an echo before the failure) may precede the close."""
        deadline = time.monotonic() + timeout
        while True:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                f = self.read_frame()
            except Closed as e:
                raise Failure(f"TCP closed ({e}) without a close frame, want close {code}")
            if f.opcode == OP_CLOSE:
                break
            check(not strict or (f.opcode in (OP_TEXT, OP_BINARY, OP_CONT) and not f.fin),
                  f"got {f!r} where only a close {code} was expected")
        self.sock.settimeout(IO_TIMEOUT)
        got = f.close_code()
        if code is None:
            eq(f.payload, b"", "close payload")
        else:
            eq(got, code, "close code")
        try:
            f.payload[2:].decode("utf-8")
        except UnicodeDecodeError:
            raise Failure(f"server close reason is not UTF-8: {f.payload[2:]!r}")
        if reply:
            try:
                self.send(frame(OP_CLOSE, close_payload(got)))
            except OSError:
                pass
        self.expect_eof(CLOSE_TIMEOUT + 2)
        return f

    def expect_eof(self, timeout):
        """The server closes TCP within `timeout` seconds, sending nothing more."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                raise Failure(f"data after close: {chunk[:32]!r}")
        except ConnectionResetError:
            pass
        except socket.timeout:
            raise Failure(f"server did not close TCP within {timeout}s")
        eq(self.pending(), b"", "bytes after the close frame")


def check_101(head, key, extensions=None):
    """The 101 response (§4.2.2 step 5): exact status line, the required
    headers with exact values, the right accept key, no subprotocol and
    exactly `extensions` as Sec-WebSocket-Extensions (None: absent)."""
    text = head.decode("latin-1")
    check(text.endswith("\r\n\r\n"), "101 does not end with CRLFCRLF")
    lines = text[:-4].split("\r\n")
    eq(lines[0], "HTTP/1.1 101 Switching Protocols", "101 status line")
    hdrs = {}
    for line in lines[1:]:
        check(":" in line, f"bad header line {line!r}")
        name, _, value = line.partition(":")
        check(name == name.strip() and name, f"bad header name {name!r}")
        lname = name.lower()
        check(lname not in hdrs, f"duplicate header {name}")
        hdrs[lname] = value.strip(" \t")
    eq(hdrs.get("upgrade", "").lower(), "websocket", "Upgrade header")
    check("upgrade" in [t.strip().lower() for t in hdrs.get("connection", "").split(",")],
          f"Connection header {hdrs.get('connection')!r}")
    eq(hdrs.get("sec-websocket-accept"), accept_key(key), "Sec-WebSocket-Accept")
    check(f"\r\nSec-WebSocket-Accept: {accept_key(key)}\r\n".lower() in text.lower(),
          "accept header bytes")
    eq(hdrs.get("sec-websocket-extensions"), extensions, "Sec-WebSocket-Extensions")
    check("sec-websocket-protocol" not in hdrs, "server chose a subprotocol")
    return hdrs


def http_exchange(raw, port=None, timeout=IO_TIMEOUT, read_body=True):
    """Sends raw request bytes, returns (status, headers dict, body, conn).
    The body is read per Content-Length."""
    c = Conn(port=port, timeout=timeout)
    c.send(raw)
    status, hdrs, body = read_http_response(c, read_body)
    return status, hdrs, body, c


def read_http_response(c, read_body=True):
    head = c.read_http_head().decode("latin-1")
    lines = head[:-4].split("\r\n")
    parts = lines[0].split(" ", 2)
    check(len(parts) >= 2 and parts[0] == "HTTP/1.1", f"bad status line {lines[0]!r}")
    status = int(parts[1])
    hdrs = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        hdrs[name.strip().lower()] = value.strip()
    body = b""
    if read_body and "content-length" in hdrs:
        body = c.recv_exact(int(hdrs["content-length"]))
    return status, hdrs, body


def expect_http_error(raw, status, port=None, timeout=IO_TIMEOUT, send=None):
    """Sends `raw` and expects a complete HTTP response with `status`, then
    TCP close (contract: each refusal is a full response then close)."""
    c = Conn(port=port, timeout=timeout)
    try:
        if send:
            send(c)
        else:
            c.send(raw)
        try:
            got, hdrs, body = read_http_response(c)
        except Closed:
            raise Failure(f"TCP closed without a response, want {status}")
        eq(got, status, "HTTP status")
        c.expect_eof(timeout)
        return hdrs, body
    finally:
        c.close()


def fresh_echo(port=None):
    """A new normal client still gets an echo (the server keeps serving)."""
    with Conn(port=port) as c:
        c.handshake()
        c.echo(OP_TEXT, "still alive")
        c.send(frame(OP_CLOSE, close_payload(1000)))
        c.expect_close(1000, reply=False)


class Suite:
    """Minimal runner: each case is a function; failures are reported with
    the reason; the last line is `N passed, N failed`."""

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.only = sys.argv[1:]

    def run(self, name, fn, *args):
        if self.only and not any(o in name for o in self.only):
            return
        t0 = time.monotonic()
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001 - a test failure of any kind
            self.failed += 1
            detail = str(e) if isinstance(e, (Failure, Closed)) else traceback.format_exc(limit=3)
            print(f"FAIL {self.name} {name}: {type(e).__name__}: {detail}", flush=True)
            return
        self.passed += 1
        dt = time.monotonic() - t0
        print(f"ok   {self.name} {name}" + (f" ({dt:.1f}s)" if dt > 1 else ""), flush=True)

    def skip(self, name, reason):
        """A case not run, said so and counted (shown as `, N skipped`)."""
        if self.only and not any(o in name for o in self.only):
            return
        self.skipped += 1
        print(f"skip {self.name} {name}: {reason}", flush=True)

    def finish(self):
        skipped = f", {self.skipped} skipped" if self.skipped else ""
        print(f"{self.passed} passed, {self.failed} failed{skipped}", flush=True)
        sys.exit(0 if self.failed == 0 else 1)
