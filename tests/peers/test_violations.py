#!/usr/bin/python3
"""Protocol violations and HTTP edge cases over raw sockets, each asserting
the exact close code (RFC 6455 §7.4.1, as the server contract maps them) or
HTTP status, and that a fresh client still gets an echo afterwards."""

import os
import re
import select
import time

import wsraw
from wsraw import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, Conn, check,
                   close_payload, eq, expect_http_error, frame, fresh_echo)

suite = wsraw.Suite("violations")
PORT, SMALL = wsraw.PORT, wsraw.PORT_SMALL
HOST = f"{wsraw.HOST}:{PORT}"


def violation(send_bytes, code, fail_fast=None, port=None):
    """Upgrades, sends `send_bytes` (bytes, or a function of the Conn),
    expects a close frame with `code` (within `fail_fast` s if given), then
    completes the close and checks a new client still gets an echo."""

    def case():
        with Conn(port=port) as c:
            c.handshake()
            t0 = time.monotonic()
            if callable(send_bytes):
                send_bytes(c)
            else:
                c.send(send_bytes)
            c.expect_close(code, timeout=fail_fast or wsraw.IO_TIMEOUT)
            if fail_fast:
                check(time.monotonic() - t0 < fail_fast, "close came too late")
        fresh_echo(port)

    return case


def text_then(bad):
    """A good echo first (the connection works), then `bad`."""

    def send(c):
        c.echo(OP_TEXT, "good first")
        c.send(bad)

    return send


# --- framing errors → 1002 -------------------------------------------------
suite.run("unmasked text frame -> 1002", violation(frame(OP_TEXT, b"hi", mask=False), 1002))
suite.run("unmasked close frame -> 1002",
          violation(frame(OP_CLOSE, close_payload(1000), mask=False), 1002))
for op in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF):
    suite.run(f"reserved opcode {op:#x} -> 1002", violation(text_then(frame(op, b"x")), 1002))
for bit in (4, 2, 1):
    suite.run(f"RSV{ {4: 1, 2: 2, 1: 3}[bit] } on text -> 1002",
              violation(frame(OP_TEXT, b"x", rsv=bit), 1002))
suite.run("RSV1 on ping -> 1002", violation(frame(OP_PING, b"x", rsv=4), 1002))
suite.run("ping 126 bytes -> 1002", violation(frame(OP_PING, bytes(126)), 1002))
suite.run("close 126 bytes -> 1002",
          violation(frame(OP_CLOSE, close_payload(1000, b"r" * 124)), 1002))
suite.run("pong 126 bytes -> 1002", violation(frame(OP_PONG, bytes(126)), 1002))
suite.run("ping 200 bytes (16-bit length) -> 1002",
          violation(frame(OP_PING, bytes(200), len_form="16"), 1002))
suite.run("fragmented ping (FIN=0) -> 1002", violation(frame(OP_PING, b"x", fin=False), 1002))
suite.run("fragmented close (FIN=0) -> 1002",
          violation(frame(OP_CLOSE, close_payload(1000), fin=False), 1002))
suite.run("continuation without start -> 1002", violation(frame(OP_CONT, b"x"), 1002))
suite.run("continuation FIN=0 without start -> 1002",
          violation(frame(OP_CONT, b"x", fin=False), 1002))
suite.run("text inside fragmented text -> 1002",
          violation(frame(OP_TEXT, b"a", fin=False) + frame(OP_TEXT, b"b"), 1002))
suite.run("binary inside fragmented binary -> 1002",
          violation(frame(OP_BINARY, b"a", fin=False) + frame(OP_BINARY, b"b", fin=False), 1002))
suite.run("continuation after a finished message -> 1002",
          violation(frame(OP_TEXT, b"a", fin=False) + frame(OP_CONT, b"b") + frame(OP_CONT, b"c"),
                    1002))


def top_bit_length(c):
    c.send(bytes([0x82, 0x80 | 127]) + (1 << 63 | 5).to_bytes(8, "big") + os.urandom(4))


suite.run("64-bit length with top bit set -> 1002", violation(top_bit_length, 1002))



def bytes_after_failure(c):
    # The failing header (continuation without start) in one write, then the
    # rest of its payload one byte per write: the bytes that arrive while the
    # server is closing must not make it drop its queued close frame.
    fr = frame(OP_CONT, b"non-continuation payload", fin=False)
    c.send(fr[:6])
    for i in range(6, len(fr)):
        try:
            c.send(fr[i:i + 1])
        except OSError:
            break


for attempt in range(1, 6):
    suite.run(f"bytes after a failing frame keep the close frame ({attempt}/5) -> 1002",
              violation(bytes_after_failure, 1002))

# --- close codes (§7.4) ------------------------------------------------------
for code in (0, 999, 1004, 1005, 1006, 1012, 1015, 1016, 1100, 2000, 2999, 5000, 65535):
    suite.run(f"close code {code} -> 1002", violation(frame(OP_CLOSE, close_payload(code)), 1002))
suite.run("close payload of 1 byte -> 1002", violation(frame(OP_CLOSE, b"\x03"), 1002))

# --- UTF-8 (§8.1) → 1007 -------------------------------------------------------
suite.run("invalid UTF-8 text frame -> 1007",
          violation(frame(OP_TEXT, b"hello \xff world"), 1007))
suite.run("truncated UTF-8 at end of text message -> 1007",
          violation(frame(OP_TEXT, "ab€".encode()[:-1]), 1007))
suite.run("surrogate in text -> 1007", violation(frame(OP_TEXT, b"\xed\xa0\x80"), 1007))
# Fail fast: the invalid byte is in a first fragment with FIN=0 and nothing
# more is sent; the close must come anyway, well before any timeout.
suite.run("invalid UTF-8 in first fragment (FIN=0, nothing more) -> 1007 fast",
          violation(frame(OP_TEXT, b"ok so far \xc0\xaf", fin=False), 1007, fail_fast=1.5))
suite.run("invalid UTF-8 mid-frame, rest of frame never sent -> 1007 fast",
          violation(lambda c: c.send(frame(OP_TEXT, b"abc\xf8" + b"x" * 1000)[:-990]), 1007,
                    fail_fast=1.5))
suite.run("invalid UTF-8 in a continuation -> 1007",
          violation(frame(OP_TEXT, b"good", fin=False) + frame(OP_CONT, b"\x80", fin=False),
                    1007, fail_fast=1.5))
suite.run("code point split over fragments, then invalid -> 1007",
          violation(frame(OP_TEXT, b"\xe2\x82", fin=False) + frame(OP_CONT, b"\x28"), 1007))
suite.run("invalid UTF-8 in close reason -> 1007",
          violation(frame(OP_CLOSE, close_payload(1000, b"bad \xff reason")), 1007))

# --- size limit (--max-message-bytes on the small instance) → 1009 -----------
MAXB = wsraw.SMALL_MAX_MESSAGE


def over_limit_header_only(c):
    # Only the header: the limit must be enforced before the payload arrives.
    c.send(frame(OP_BINARY, b"", length=MAXB + 1))


def over_limit_fragments(c):
    half = MAXB // 2 + 1
    c.send(frame(OP_BINARY, bytes(half), fin=False))
    c.send(frame(OP_CONT, b"", length=half))  # header only again


def at_limit():
    with Conn(port=SMALL) as c:
        c.handshake()
        c.echo(OP_BINARY, os.urandom(MAXB))
        c.echo(OP_TEXT, b"t" * MAXB)


suite.run(f"message of exactly {MAXB} bytes echoed (small instance)", at_limit)
suite.run(f"frame header announcing {MAXB + 1} bytes -> 1009 before payload",
          violation(over_limit_header_only, 1009, fail_fast=1.5, port=SMALL))
suite.run("fragments adding up over the limit -> 1009 before payload",
          violation(over_limit_fragments, 1009, fail_fast=1.5, port=SMALL))
suite.run("64-bit length of 16 GiB on main instance -> 1009 before payload",
          violation(lambda c: c.send(frame(OP_BINARY, b"", length=16 << 30)), 1009,
                    fail_fast=1.5))

# --- handshake ---------------------------------------------------------------
CHROMIUM = open(os.path.join(wsraw.DATA_DIR, "chromium-156-upgrade-request.bin"), "rb").read()
CHROMIUM_KEY = "EibSFDGYNGf4NOFS0ZrIaw=="
# wsgate's default answer to Chromium's "permessage-deflate; client_max_window_bits".
CHROMIUM_EXTENSIONS = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"


def upgrade_in_pieces(splits, delay):
    """Sends the Chromium request cut at `splits`; checks the 101 and an echo."""
    c = Conn()
    try:
        last = 0
        for s in list(splits) + [len(CHROMIUM)]:
            c.send(CHROMIUM[last:s])
            last = s
            if delay:
                time.sleep(delay)
        head = c.read_http_head()
        wsraw.check_101(head, CHROMIUM_KEY, CHROMIUM_EXTENSIONS)
        eq(c.pending(), b"", "bytes after the 101")
        return c, head
    except BaseException:
        c.close()
        raise


def chromium_byte_by_byte():
    c, head = upgrade_in_pieces(range(1, len(CHROMIUM)), 0.0005)
    with c:
        c.echo(OP_TEXT, "after a byte-by-byte handshake")


def chromium_each_split():
    # Every single cut position, with a short pause so the server sees two reads.
    for i in range(1, len(CHROMIUM)):
        c, _ = upgrade_in_pieces([i], 0.0002)
        c.close()
    fresh_echo()


def exact_101():
    # The response is checked byte for byte for a fixed key (RFC 6455 §1.3 example).
    with Conn() as c:
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        c.send(wsraw.build_upgrade("/chat", key, HOST))
        head = c.read_http_head()
        hdrs = wsraw.check_101(head, key)
        eq(hdrs["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "RFC example accept")
        check(b"\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in head,
              f"accept header bytes in {head!r}")
        check(head.endswith(b"\r\n\r\n") and b"\r\n\r\n" not in head[:-4], "single CRLFCRLF")
        c.echo(OP_TEXT, "ok")


def handshake_with_frame():
    # The first frame in the same segment as the request (in-place parsing).
    with Conn() as c:
        key = wsraw.new_key()
        c.send(wsraw.build_upgrade("/", key, HOST) + frame(OP_TEXT, b"pipelined"))
        wsraw.check_101(c.read_http_head(), key)
        eq(c.read_message(), (OP_TEXT, b"pipelined"), "pipelined frame echo")


suite.run("101 exact for the RFC 6455 example key", exact_101)
suite.run("Chromium request one byte per send", chromium_byte_by_byte)
suite.run("Chromium request split at each position", chromium_each_split)
suite.run("request and first frame in one segment", handshake_with_frame)


def http_error(raw, status, port=None, check_headers=None):
    def case():
        hdrs, body = expect_http_error(raw, status, port=port)
        if check_headers:
            check_headers(hdrs, body)
        fresh_echo(port)

    return case


def upgrade_lines(*lines, method="GET", http="HTTP/1.1"):
    return (f"{method} / {http}\r\n" + "".join(line + "\r\n" for line in lines) + "\r\n").encode()


KEY = "x3JJHMbDL1EzLkh9GBhXDw=="
H, U, C, K, V = (f"Host: {HOST}", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {KEY}", "Sec-WebSocket-Version: 13")

suite.run("header block over 8 KiB -> 431",
          http_error(upgrade_lines(H, U, C, K, V, "X-Big: " + "a" * 9000), 431))
suite.run("65 headers -> 431",
          http_error(upgrade_lines(H, U, C, K, V, *[f"X-H{i}: v" for i in range(60)]), 431))


def sixty_four_headers():
    with Conn() as c:
        c.send(upgrade_lines(H, U, C, K, V, *[f"X-H{i}: v" for i in range(59)]))
        wsraw.check_101(c.read_http_head(), KEY)


suite.run("64 headers -> 101", sixty_four_headers)


def version_header(hdrs, body):
    eq(hdrs.get("sec-websocket-version"), "13", "426 Sec-WebSocket-Version")


suite.run("Sec-WebSocket-Version: 8 -> 426 with Sec-WebSocket-Version: 13",
          http_error(upgrade_lines(H, U, C, K, "Sec-WebSocket-Version: 8"), 426, None,
                     version_header))
suite.run("missing Sec-WebSocket-Key -> 400", http_error(upgrade_lines(H, U, C, V), 400))
suite.run("Sec-WebSocket-Key not 16 bytes -> 400",
          http_error(upgrade_lines(H, U, C, "Sec-WebSocket-Key: c2hvcnQ=", V), 400))
suite.run("missing Host -> 400", http_error(upgrade_lines(U, C, K, V), 400))
suite.run("Upgrade: h2c with key -> 400", http_error(upgrade_lines(H, "Upgrade: h2c", C, K, V), 400))
# Allow names the methods that would succeed for that request: an upgrade only with GET
# (RFC 6455 §4.1), a plain request to an endpoint also with HEAD (post_healthz below).
suite.run("POST upgrade -> 405 with Allow: GET",
          http_error(upgrade_lines(H, U, C, K, V, method="POST"), 405,
                     check_headers=lambda h, b: eq(h.get("allow"), "GET", "405 Allow header")))


def head_upgrade():
    # RFC 9110 §9.3.2: the 405 to a HEAD has no content, whatever its Content-Length says.
    c = Conn()
    try:
        c.send(upgrade_lines(H, U, C, K, V, method="HEAD"))
        status, hdrs, _ = wsraw.read_http_response(c, read_body=False)
        eq(status, 405, "HTTP status")
        eq(hdrs.get("allow"), "GET", "405 Allow header")
        eq(bytes(c.buf[c.pos:]), b"", "bytes after the 405 head")
        c.expect_eof(wsraw.IO_TIMEOUT)  # fails on any later byte
    finally:
        c.close()
    fresh_echo()


suite.run("HEAD upgrade -> 405 with Allow: GET and no body", head_upgrade)
suite.run("HTTP/1.0 upgrade -> 400", http_error(upgrade_lines(H, U, C, K, V, http="HTTP/1.0"), 400))
suite.run("HTTP/2.0 upgrade -> 505", http_error(upgrade_lines(H, U, C, K, V, http="HTTP/2.0"), 505))
suite.run("garbage request line -> 400", http_error(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\r\n\r\n",
                                                    400))


def slow_loris():
    # A byte every 0.4 s never completes the request: 408 after --handshake-timeout.
    hs = wsraw.HANDSHAKE_TIMEOUT
    with Conn(timeout=hs + 3) as c:
        t0 = time.monotonic()
        req = upgrade_lines(H, U, C, K, V)
        for b in req[:int(hs / 0.4) + 4]:
            try:
                c.send(bytes([b]))
            except OSError:
                break
            if select.select([c.sock], [], [], 0.4)[0]:
                break  # the server answered
        status, _, _ = wsraw.read_http_response(c)
        dt = time.monotonic() - t0
        eq(status, 408, "slow-loris status")
        check(hs - 0.3 <= dt <= hs + 1.5, f"408 after {dt:.2f}s, want ~{hs}s")
        c.expect_eof(2)
    fresh_echo()


def silent_connection():
    # Nothing sent at all: 408 or a plain close, at --handshake-timeout.
    hs = wsraw.HANDSHAKE_TIMEOUT
    with Conn(timeout=hs + 3) as c:
        t0 = time.monotonic()
        try:
            c._fill()
            head = c.pending()
            check(head.startswith(b"HTTP/1.1 408 "), f"silent connection got {head[:40]!r}")
            c.pos = len(c.buf)
            c.expect_eof(2)
        except wsraw.Closed:
            pass
        dt = time.monotonic() - t0
        check(hs - 0.3 <= dt <= hs + 1.5, f"closed after {dt:.2f}s, want ~{hs}s")


suite.run("slow-loris handshake -> 408 at --handshake-timeout", slow_loris)
suite.run("silent connection closed at --handshake-timeout", silent_connection)


# --- plain HTTP ----------------------------------------------------------------
def get(path, method="GET", extra=""):
    return f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\n{extra}\r\n".encode()


def demo_page():
    status, hdrs, body, c = wsraw.http_exchange(get("/"))
    c.close()
    eq(status, 200, "GET / status")
    eq(hdrs.get("content-type"), "text/html; charset=utf-8", "GET / content-type")
    for name in ("status", "msg", "send", "log"):
        check(re.search(rb"""id=["']?%s["' >]""" % name.encode(), body),
              f"demo page lacks id {name}")
    check(b"new WebSocket" in body, "demo page does not open a WebSocket")


def healthz_keepalive_head():
    c = Conn()
    with c:
        # Keep-alive: GET, HEAD, GET on one connection; HEAD has no body.
        c.send(get("/healthz"))
        status, hdrs, body = wsraw.read_http_response(c)
        eq((status, body), (200, b"ok\n"), "GET /healthz")
        check(hdrs.get("content-type", "").startswith("text/plain"), f"content-type {hdrs}")
        c.send(get("/healthz", "HEAD"))
        status, hhdrs, _ = wsraw.read_http_response(c, read_body=False)
        eq(status, 200, "HEAD /healthz")
        eq(hhdrs.get("content-length"), hdrs.get("content-length"), "HEAD content-length")
        c.send(get("/", "HEAD"))
        status, _, _ = wsraw.read_http_response(c, read_body=False)
        eq(status, 200, "HEAD /")
        c.send(get("/healthz", extra="Connection: close\r\n"))
        status, _, body = wsraw.read_http_response(c)
        eq((status, body), (200, b"ok\n"), "GET /healthz after HEADs (no stray body bytes)")
        c.expect_eof(2)


def not_found():
    hdrs, _ = expect_http_error(get("/nope", extra="Connection: close\r\n"), 404)


def post_healthz():
    hdrs, _ = expect_http_error(
        get("/healthz", "POST", "Content-Length: 0\r\nConnection: close\r\n"), 405)
    eq(hdrs.get("allow"), "GET, HEAD", "405 Allow header")


def body_keepalive():
    # A Content-Length body is read exactly (RFC 9112 §6.3), so the same
    # connection carries the next request (§9.3).
    with Conn() as c:
        c.send(get("/healthz", "POST", "Content-Length: 11\r\n") + b"hello world")
        status, _, _ = wsraw.read_http_response(c)
        eq(status, 405, "POST /healthz with a body")
        c.send(get("/healthz", "POST", "Content-Length: 3\r\n") + b"abc" + get("/healthz"))
        status, _, _ = wsraw.read_http_response(c)
        eq(status, 405, "pipelined POST with a body")
        status, _, body = wsraw.read_http_response(c)
        eq((status, body), (200, b"ok\n"), "GET after bodies on the same connection")


def body_framing_refused():
    cases = [
        ("Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n", 411),
        ("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"hello", 400),
        ("Content-Length: 5\r\nContent-Length: 5\r\n", b"hello", 400),
        ("Content-Length: 5x\r\n", b"hello", 400),
        ("Content-Length: 1048577\r\n", b"", 413),  # --max-request-bytes default 1 MiB
    ]
    for extra, body, status in cases:
        expect_http_error(get("/healthz", "POST", extra) + body, status)


suite.run("GET / -> 200 demo page", demo_page)
suite.run("request bodies keep the connection alive", body_keepalive)
suite.run("chunked 411, ambiguous Content-Length 400, too large 413", body_framing_refused)
suite.run("/healthz keep-alive, HEAD, Connection: close", healthz_keepalive_head)
suite.run("GET /nope -> 404", not_found)
suite.run("POST /healthz -> 405 with Allow", post_healthz)


# --- connection limit (small instance) ------------------------------------------
def max_connections():
    n = wsraw.SMALL_MAX_CONN
    conns = []
    try:
        for i in range(n):
            c = Conn(port=SMALL)
            conns.append(c)
            c.handshake()
        for i, c in enumerate(conns):
            c.echo(OP_BINARY, i.to_bytes(2, "big"))
        hdrs, _ = expect_http_error(wsraw.build_upgrade("/", None, HOST), 503, port=SMALL)
        # Freeing one slot lets a new client in.
        c = conns.pop()
        c.send(frame(OP_CLOSE, close_payload(1000)))
        c.expect_close(1000, reply=False)
        c.close()
        deadline = time.monotonic() + 3
        while True:
            try:
                fresh_echo(SMALL)
                break
            except (wsraw.Failure, wsraw.Closed, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        for c in conns:
            c.close()


suite.run(f"connection {wsraw.SMALL_MAX_CONN + 1} -> 503, slot freed -> 101", max_connections)
suite.finish()
