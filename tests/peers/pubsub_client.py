"""The Centrifugo JSON client protocol over raw sockets, and wsgate --mode
pubsub instances, shared by the pub/sub suites (test_pubsub_*.py).

Commands go out as text messages of newline-separated JSON objects; replies
and pushes come back the same way (docs/centrifugo-protocol.md, "Framing").
A PubsubConn answers the server's pings (`{}`) by itself unless told not to,
keeps pushes apart from replies and hands replies out by command id.
"""

import base64
import hashlib
import hmac
import json
import socket
import time
import urllib.error
import urllib.request

import wsraw
from wsgate_proc import Server, free_port
from wsraw import OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, Failure, check, eq, frame

ENDPOINT = "/connection/websocket"
IO = 5.0


def start(binary, backend, flags=(), threads=2):
    """A wsgate --mode pubsub instance of the suite's own; returns (server, port)."""
    port = free_port()
    srv = Server(binary, ["--mode", "pubsub", "--listen", f"127.0.0.1:{port}", "--backend",
                          backend, "--threads", str(threads), "--close-timeout", "2"]
                 + list(flags))
    return srv, port


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def hs256_token(secret, claims, header=None):
    """A JWS compact token (RFC 7515 §7.1) signed with HMAC-SHA256."""
    head = b64url(json.dumps(header or {"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    signing_input = f"{head}.{body}".encode()
    sig = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(sig)}"


class ServerClosed(Exception):
    """The server sent a close frame (code, reason) where a reply was expected."""

    def __init__(self, code, reason):
        super().__init__(f"server closed {code} {reason!r}")
        self.code, self.reason = code, reason


class PubsubConn(wsraw.Conn):
    """One client connection on /connection/websocket."""

    def __init__(self, port, auto_pong=True, rcvbuf=None, timeout=IO):
        if rcvbuf is None:
            super().__init__(port=port, timeout=timeout)
        else:
            # A small receive buffer set before connect (the window is fixed then),
            # so the server's queue, not the kernel, holds what this client does not read.
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            s.settimeout(timeout)
            s.connect((wsraw.HOST, port))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock, self.buf, self.pos, self.port = s, bytearray(), 0, port
        self.auto_pong = auto_pong
        self.lines = []  # parsed replies/pushes received and not handed out yet
        self.raw_messages = []  # every text message received, as bytes
        self.pings = 0
        self.next_id = 1
        self.handshake(ENDPOINT)

    # -- sending -------------------------------------------------------------

    def send_text(self, payload, **kw):
        if isinstance(payload, str):
            payload = payload.encode()
        self.send(frame(OP_TEXT, payload, **kw))

    def send_cmds(self, *cmds):
        """Commands (dicts, given ids where missing) in one message; returns their ids."""
        ids = []
        for c in cmds:
            if "id" not in c and "send" not in c and c:
                c["id"] = self.next_id
                self.next_id += 1
            ids.append(c.get("id"))
        self.send_text("\n".join(json.dumps(c, separators=(",", ":")) for c in cmds))
        return ids

    # -- receiving -----------------------------------------------------------

    def read_lines(self, timeout=IO):
        """Reads one text message; queues its lines (pings answered, not queued)."""
        self.sock.settimeout(timeout)
        while True:
            f = self.read_frame()
            if f.opcode == OP_PING:
                self.send(frame(OP_PONG, f.payload))
                continue
            if f.opcode == OP_PONG:
                continue
            if f.opcode == OP_CLOSE:
                code = f.close_code()
                reason = f.payload[2:].decode("utf-8", "replace")
                try:
                    self.send(frame(OP_CLOSE, f.payload[:2]))
                except OSError:
                    pass
                raise ServerClosed(code, reason)
            check(f.opcode == OP_TEXT, f"server sent {f!r}, want a text message")
            parts = [f.payload]
            while not f.fin:
                f = self.read_frame()
                check(f.opcode == OP_CONT, f"server interleaved {f!r}")
                parts.append(f.payload)
            msg = b"".join(parts)
            self.raw_messages.append(msg)
            for line in msg.split(b"\n"):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError:
                    raise Failure(f"server sent a line that is not JSON: {line[:80]!r}")
                if obj == {}:
                    self.pings += 1
                    if self.auto_pong:
                        self.send_text("{}")
                    continue
                self.lines.append(obj)
            return

    def _read_until(self, timeout):
        """read_lines; False when nothing came within `timeout`."""
        try:
            self.read_lines(timeout)
            return True
        except Failure as e:
            if "timed out" in str(e):
                return False
            raise

    def reply(self, cid, timeout=IO):
        """The reply to command `cid`; pushes read meanwhile stay queued."""
        deadline = time.monotonic() + timeout
        while True:
            for i, obj in enumerate(self.lines):
                if obj.get("id") == cid:
                    del self.lines[i]
                    return obj
            left = deadline - time.monotonic()
            if left <= 0 or not self._read_until(left):
                raise Failure(f"no reply to command {cid} within {timeout}s; "
                              f"got meanwhile {self.lines[:3]}")

    def push(self, timeout=IO, kind=None):
        """The next push (optionally of one kind: pub, unsubscribe, ...)."""
        deadline = time.monotonic() + timeout
        while True:
            for i, obj in enumerate(self.lines):
                if "push" in obj and (kind is None or kind in obj["push"]):
                    del self.lines[i]
                    return obj["push"]
            left = deadline - time.monotonic()
            if left <= 0 or not self._read_until(left):
                raise Failure(f"no {kind or ''} push within {timeout}s; got meanwhile {self.lines[:3]}")

    def call(self, method, params, timeout=IO):
        """One command; returns its reply (result or error) as a dict."""
        (cid,) = self.send_cmds({method: params})
        return self.reply(cid, timeout)

    def ok(self, method, params, timeout=IO):
        """One command that must succeed; returns its result."""
        r = self.call(method, params, timeout)
        check("error" not in r, f"{method} {params}: error {r.get('error')}")
        check(method in r, f"{method} reply has no result: {r}")
        return r[method]

    def error(self, method, params, code, timeout=IO):
        r = self.call(method, params, timeout)
        check("error" in r, f"{method} {params}: want error {code}, got {r}")
        eq(r["error"].get("code"), code, f"{method} error code")
        return r["error"]

    def connect(self, token=None, timeout=IO):
        params = {"name": "pytest"}
        if token is not None:
            params["token"] = token
        self.connect_result = self.ok("connect", params, timeout)
        return self.connect_result

    def subscribe(self, channel, **kw):
        return self.ok("subscribe", dict(channel=channel, **kw))

    def expect_disconnect(self, code, timeout=IO):
        """Reads until the server's close frame; checks its code; then the
        server closes TCP. Replies/pushes before it are allowed (kept)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure(f"no close {code} within {timeout}s")
            try:
                self.read_lines(left)
            except ServerClosed as e:
                eq(e.code, code, f"close code (reason {e.reason!r})")
                self.expect_eof(wsraw.CLOSE_TIMEOUT + 2)
                return e.reason
            except wsraw.Closed as e:
                raise Failure(f"TCP closed ({e}) without a close frame, want close {code}")


def plain(result):
    """A subscribe result without an empty `publications` list: wsgate's reply
    writer always writes the list, Centrifugo omits it when empty, and the
    SDK reads both the same (`result.publications || []`)."""
    if isinstance(result, dict) and result.get("publications") == []:
        result = {k: v for k, v in result.items() if k != "publications"}
    return result


def open_connected(port, token=None, **kw):
    c = PubsubConn(port, **kw)
    c.connect(token)
    return c


class Api:
    """The HTTP server API through urllib (one request per connection)."""

    def __init__(self, port, key):
        self.port, self.key = port, key

    def raw(self, method, body, key=None, headers=None, http_method="POST"):
        """Returns (status, body bytes)."""
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/api/{method}", data=data,
                                     method=http_method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        k = self.key if key is None else key
        if k:
            req.add_header("X-API-Key", k)
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        try:
            with urllib.request.urlopen(req, timeout=IO) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def call(self, method, body):
        status, raw = self.raw(method, body)
        eq(status, 200, f"/api/{method} status (body {raw[:120]!r})")
        return json.loads(raw)

    def result(self, method, body):
        r = self.call(method, body)
        check("result" in r, f"/api/{method} {body}: no result in {r}")
        return r["result"]

    def publish(self, channel, data):
        return self.result("publish", {"channel": channel, "data": data})


def wait_until(pred, timeout, what, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Failure(f"{what} not within {timeout}s")
        time.sleep(step)
